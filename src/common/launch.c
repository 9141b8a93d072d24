/*-------------------------------------------------------------------------
 *
 * launch.c
 *	  What the launcher is asked to start: typed requests in shared memory,
 *	  the launcher's latch, and requests and wake-ups sent at commit.
 *	  Exists only when pg_steward is preloaded.
 *
 * Words:
 *	  request	 (kind, database, login role, job id): "start this worker".
 *				 A STEWARD_LAUNCH_JOB request starts a job worker for a job
 *				 (src/jobs), a STEWARD_LAUNCH_SEALER request the audit sealer
 *				 of a database (src/audit; its job id is 0 and its role
 *				 none).  The launcher (src/jobs/launcher.c) takes them in
 *				 order.
 *	  launcher	 the one process that takes requests; it sets its latch
 *				 here, and every new request sets it.
 *
 * The requests live here, below the areas, so that an area can ask for a
 * worker without knowing the area that starts it.
 *
 * Backends never write requests directly from SQL: steward_launch_at_
 * commit() queues them until the transaction commits, so a worker never
 * looks for a job that is not visible yet.  Likewise steward_wake_at_
 * commit() sets a worker's latch once a pause or cancel is visible, and
 * steward_jobs_changed_at_commit() wakes the sessions waiting in job_wait
 * once a job's new state is visible (the jobs-changed condition variable;
 * a waiter also looks again after a timeout, so a wake-up is only ever
 * early, never needed).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "pg_steward.h"

#define STEWARD_MAX_REQUESTS 256

typedef struct LaunchRequest
{
	StewardLaunchKind kind;
	Oid			dbid;
	Oid			roleid;
	int64		job_id;
} LaunchRequest;

typedef struct StewardLaunchShared
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	ConditionVariable jobs_changed; /* a job's state changed (committed) */
	int			nrequests;
	LaunchRequest requests[STEWARD_MAX_REQUESTS];
} StewardLaunchShared;

static StewardLaunchShared *shared = NULL;

/* actions waiting for the current transaction to commit */
typedef enum PendingKind
{
	PENDING_LAUNCH,				/* a request: kind, roleid, job_id */
	PENDING_WAKE,				/* set the latch of pid */
	PENDING_JOBS_CHANGED		/* broadcast jobs_changed */
} PendingKind;

typedef struct PendingAction
{
	PendingKind what;
	int			pid;
	StewardLaunchKind kind;
	Oid			roleid;
	int64		job_id;
} PendingAction;

static List *pending_actions = NIL;
static bool xact_callback_registered = false;

void
steward_launch_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(StewardLaunchShared)));
}

void
steward_launch_shmem_startup(void)
{
	bool		created;

	shared = steward_shmem_init("pg_steward launch requests", sizeof(StewardLaunchShared),
								offsetof(StewardLaunchShared, mutex), &created);
	if (created)
		ConditionVariableInit(&shared->jobs_changed);
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

void
steward_launch_request(StewardLaunchKind kind, Oid dbid, Oid roleid, int64 job_id)
{
	bool		added = false;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nrequests; i++)
		if (shared->requests[i].kind == kind && shared->requests[i].dbid == dbid &&
			shared->requests[i].job_id == job_id)
		{
			added = true;		/* already there */
			break;
		}
	if (!added && shared->nrequests < STEWARD_MAX_REQUESTS)
	{
		shared->requests[shared->nrequests].kind = kind;
		shared->requests[shared->nrequests].dbid = dbid;
		shared->requests[shared->nrequests].roleid = roleid;
		shared->requests[shared->nrequests].job_id = job_id;
		shared->nrequests++;
		added = true;
	}
	SpinLockRelease(&shared->mutex);

	if (!added && kind == STEWARD_LAUNCH_JOB)
		ereport(WARNING,
				(errmsg("pg_steward's job request queue is full; job %lld stays queued",
						(long long) job_id),
				 errhint("It starts after the next server restart, or with CALL job_run(%lld).",
						 (long long) job_id)));
	else if (!added)
		ereport(WARNING,
				(errmsg("pg_steward's job request queue is full; the sealer of database %u does not start now",
						dbid),
				 errhint("The next transaction that appends to the ledger asks again; audit_seal() seals meanwhile.")));
	if (shared->launcher_latch)
		SetLatch(shared->launcher_latch);
}

/*
 * Put back a request the launcher took but cannot start yet (no free job
 * slot or worker process): at the front, so that the order is kept, and
 * without setting the launcher's latch, which would only wake it to try
 * again at once.  A worker that ends wakes it (bgw_notify_pid), and so does
 * its naptime.  Launcher only.
 */
void
steward_launch_requeue(StewardLaunchKind kind, Oid dbid, Oid roleid, int64 job_id)
{
	bool		added = false;

	SpinLockAcquire(&shared->mutex);
	if (shared->nrequests < STEWARD_MAX_REQUESTS)
	{
		memmove(&shared->requests[1], &shared->requests[0],
				sizeof(LaunchRequest) * shared->nrequests);
		shared->requests[0].kind = kind;
		shared->requests[0].dbid = dbid;
		shared->requests[0].roleid = roleid;
		shared->requests[0].job_id = job_id;
		shared->nrequests++;
		added = true;
	}
	SpinLockRelease(&shared->mutex);
	if (!added)
		ereport(WARNING,
				(errmsg("pg_steward's job request queue is full; a request for database %u is dropped",
						dbid),
				 errhint("A job starts after the next server restart, or with CALL job_run(%lld).",
						 (long long) job_id)));
}

/* Take the oldest request (launcher only). */
bool
steward_launch_next(StewardLaunchKind *kind, Oid *dbid, Oid *roleid, int64 *job_id)
{
	bool		found = false;

	SpinLockAcquire(&shared->mutex);
	if (shared->nrequests > 0)
	{
		*kind = shared->requests[0].kind;
		*dbid = shared->requests[0].dbid;
		*roleid = shared->requests[0].roleid;
		*job_id = shared->requests[0].job_id;
		memmove(&shared->requests[0], &shared->requests[1],
				sizeof(LaunchRequest) * (shared->nrequests - 1));
		shared->nrequests--;
		found = true;
	}
	SpinLockRelease(&shared->mutex);
	return found;
}

/* ----------------------------------------------------------------
 * The launcher's latch
 * ----------------------------------------------------------------
 */

void
steward_launch_set_launcher(void)
{
	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = &MyProc->procLatch;
	SpinLockRelease(&shared->mutex);
}

/* ----------------------------------------------------------------
 * Actions at commit
 * ----------------------------------------------------------------
 */

static void
launch_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (pending_actions == NIL)
		return;
	if (event == XACT_EVENT_COMMIT)
	{
		foreach(lc, pending_actions)
		{
			PendingAction *a = (PendingAction *) lfirst(lc);

			if (a->what == PENDING_WAKE)
			{
				PGPROC	   *proc = BackendPidGetProc(a->pid);

				if (proc != NULL)
					SetLatch(&proc->procLatch);
			}
			else if (a->what == PENDING_JOBS_CHANGED)
				ConditionVariableBroadcast(&shared->jobs_changed);
			else
				steward_launch_request(a->kind, MyDatabaseId, a->roleid, a->job_id);
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		list_free_deep(pending_actions);
		pending_actions = NIL;
	}
}

static void
add_pending(PendingAction *a)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	PendingAction *copy = palloc(sizeof(PendingAction));

	*copy = *a;
	pending_actions = lappend(pending_actions, copy);
	MemoryContextSwitchTo(old);
	if (!xact_callback_registered)
	{
		RegisterXactCallback(launch_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

/* Request a worker in this database once the transaction commits. */
void
steward_launch_at_commit(StewardLaunchKind kind, Oid roleid, int64 job_id)
{
	PendingAction a = {PENDING_LAUNCH, 0, kind, roleid, job_id};

	if (shared == NULL)
		return;
	add_pending(&a);
}

/* Set the latch of process pid once the transaction commits. */
void
steward_wake_at_commit(int pid)
{
	PendingAction a = {PENDING_WAKE, pid, STEWARD_LAUNCH_JOB, InvalidOid, 0};

	if (pid > 0)
		add_pending(&a);
}

/*
 * Wake the sessions waiting for a job (job_wait, job_await) once the
 * transaction commits: it changed a job's state.  Once per transaction.
 */
void
steward_jobs_changed_at_commit(void)
{
	PendingAction a = {PENDING_JOBS_CHANGED, 0, STEWARD_LAUNCH_JOB, InvalidOid, 0};
	ListCell   *lc;

	if (shared == NULL)
		return;
	foreach(lc, pending_actions)
		if (((PendingAction *) lfirst(lc))->what == PENDING_JOBS_CHANGED)
			return;
	add_pending(&a);
}

/*
 * A waiter for a job's state: steward_jobs_changed_prepare() before it
 * reads the state, so that a change committed after that read wakes
 * steward_jobs_changed_sleep(), which otherwise returns after ms (as a
 * plain sleep does without the preloaded library); then
 * steward_jobs_changed_done().  An error in between needs nothing: the
 * transaction's abort ends the wait.
 */
void
steward_jobs_changed_prepare(void)
{
	if (shared != NULL)
		ConditionVariablePrepareToSleep(&shared->jobs_changed);
}

void
steward_jobs_changed_sleep(int ms)
{
	if (shared != NULL)
		(void) ConditionVariableTimedSleep(&shared->jobs_changed, ms, PG_WAIT_EXTENSION);
	else
		(void) steward_sleep_ms(ms, false);
}

void
steward_jobs_changed_done(void)
{
	if (shared != NULL)
		ConditionVariableCancelSleep();
}
