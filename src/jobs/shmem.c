/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory of the jobs area: the request queue, the job slots and
 *	  the launcher's latch.  Exists only when pg_steward is preloaded.
 *
 * A request asks the launcher to start a job worker for (database, login
 * role, job).  A slot is a running job worker, owned by the launcher; the
 * worker writes its pid and, when it ends the job cleanly, clean_exit.  A
 * worker that vanished without clean_exit (FATAL, terminated) makes the
 * launcher request its job again, so it resumes from its checkpoint.
 *
 * Backends never write requests directly from SQL: steward_jobs_request_
 * at_commit() queues them until the transaction commits, so a worker never
 * looks for a job that is not visible yet.  Likewise steward_jobs_wake_at_
 * commit() sets a worker's latch once a pause or cancel is visible.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

#define STEWARD_MAX_REQUESTS 256

typedef struct JobRequest
{
	Oid			dbid;
	Oid			roleid;
	int64		job_id;
} JobRequest;

typedef struct JobSlot
{
	bool		in_use;
	Oid			dbid;
	Oid			roleid;
	int64		job_id;
	int			pid;
	bool		clean_exit;
} JobSlot;

typedef struct StewardJobsShared
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	int			nrequests;
	JobRequest	requests[STEWARD_MAX_REQUESTS];
	int			nslots;
	JobSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} StewardJobsShared;

static StewardJobsShared *shared = NULL;

/* actions waiting for the current transaction to commit */
typedef struct PendingAction
{
	bool		is_wake;
	int			pid;
	Oid			roleid;
	int64		job_id;
} PendingAction;

static List *pending_actions = NIL;
static bool xact_callback_registered = false;

static Size
jobs_shmem_size(void)
{
	return add_size(offsetof(StewardJobsShared, slots),
					mul_size(sizeof(JobSlot), max_worker_processes));
}

void
steward_jobs_shmem_request(void)
{
	RequestAddinShmemSpace(jobs_shmem_size());
}

void
steward_jobs_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pg_steward jobs", jobs_shmem_size(), &found);
	if (!found)
	{
		memset(shared, 0, jobs_shmem_size());
		SpinLockInit(&shared->mutex);
		shared->nslots = max_worker_processes;
	}
	LWLockRelease(AddinShmemInitLock);
}

bool
steward_jobs_preloaded(void)
{
	return shared != NULL;
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

void
steward_jobs_push_request(Oid dbid, Oid roleid, int64 job_id)
{
	bool		added = false;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nrequests; i++)
		if (shared->requests[i].dbid == dbid && shared->requests[i].job_id == job_id)
		{
			added = true;		/* already there */
			break;
		}
	if (!added && shared->nrequests < STEWARD_MAX_REQUESTS)
	{
		shared->requests[shared->nrequests].dbid = dbid;
		shared->requests[shared->nrequests].roleid = roleid;
		shared->requests[shared->nrequests].job_id = job_id;
		shared->nrequests++;
		added = true;
	}
	SpinLockRelease(&shared->mutex);

	if (!added)
		ereport(WARNING,
				(errmsg("pg_steward's job request queue is full; job %lld stays queued",
						(long long) job_id),
				 errhint("It starts after the next server restart, or with CALL job_run(%lld).",
						 (long long) job_id)));
	if (shared->launcher_latch)
		SetLatch(shared->launcher_latch);
}

/* Take the oldest request (launcher only). */
bool
steward_jobs_pop_request(Oid *dbid, Oid *roleid, int64 *job_id)
{
	bool		found = false;

	SpinLockAcquire(&shared->mutex);
	if (shared->nrequests > 0)
	{
		*dbid = shared->requests[0].dbid;
		*roleid = shared->requests[0].roleid;
		*job_id = shared->requests[0].job_id;
		memmove(&shared->requests[0], &shared->requests[1],
				sizeof(JobRequest) * (shared->nrequests - 1));
		shared->nrequests--;
		found = true;
	}
	SpinLockRelease(&shared->mutex);
	return found;
}

/* ----------------------------------------------------------------
 * Slots (written by the launcher; pid and clean_exit by the worker)
 * ----------------------------------------------------------------
 */

int
steward_jobs_nslots(void)
{
	return shared ? shared->nslots : 0;
}

/*
 * Reserve a slot for a job, unless pg_steward.max_jobs slots are in use or
 * the job already has one.  Returns the slot, or -1.
 */
int
steward_jobs_reserve_slot(Oid dbid, Oid roleid, int64 job_id)
{
	int			used = 0;
	int			freeslot = -1;
	int			limit = Min(steward_max_jobs, shared->nslots);

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots; i++)
	{
		JobSlot    *s = &shared->slots[i];

		if (s->in_use)
		{
			used++;
			if (s->dbid == dbid && s->job_id == job_id)
			{
				SpinLockRelease(&shared->mutex);
				return -2;		/* already running */
			}
		}
		else if (freeslot < 0)
			freeslot = i;
	}
	if (used >= limit || freeslot < 0)
		freeslot = -1;
	else
	{
		JobSlot    *s = &shared->slots[freeslot];

		s->in_use = true;
		s->dbid = dbid;
		s->roleid = roleid;
		s->job_id = job_id;
		s->pid = 0;
		s->clean_exit = false;
	}
	SpinLockRelease(&shared->mutex);
	return freeslot;
}

void
steward_jobs_release_slot(int slot)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].in_use = false;
	SpinLockRelease(&shared->mutex);
}

void
steward_jobs_set_slot_pid(int slot, int pid, bool clean_exit)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].pid = pid;
	shared->slots[slot].clean_exit = clean_exit;
	SpinLockRelease(&shared->mutex);
}

bool
steward_jobs_get_slot(int slot, Oid *dbid, Oid *roleid, int64 *job_id,
					  int *pid, bool *clean_exit)
{
	bool		in_use;

	SpinLockAcquire(&shared->mutex);
	in_use = shared->slots[slot].in_use;
	*dbid = shared->slots[slot].dbid;
	*roleid = shared->slots[slot].roleid;
	*job_id = shared->slots[slot].job_id;
	*pid = shared->slots[slot].pid;
	*clean_exit = shared->slots[slot].clean_exit;
	SpinLockRelease(&shared->mutex);
	return in_use;
}

/* ----------------------------------------------------------------
 * The launcher's latch
 * ----------------------------------------------------------------
 */

void
steward_jobs_set_launcher(void)
{
	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = &MyProc->procLatch;
	SpinLockRelease(&shared->mutex);
}

Latch *
steward_jobs_launcher_latch(void)
{
	return shared ? shared->launcher_latch : NULL;
}

/* ----------------------------------------------------------------
 * Actions at commit
 * ----------------------------------------------------------------
 */

static void
jobs_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (pending_actions == NIL)
		return;
	if (event == XACT_EVENT_COMMIT)
	{
		foreach(lc, pending_actions)
		{
			PendingAction *a = (PendingAction *) lfirst(lc);

			if (a->is_wake)
			{
				PGPROC	   *proc = BackendPidGetProc(a->pid);

				if (proc != NULL)
					SetLatch(&proc->procLatch);
			}
			else
				steward_jobs_push_request(MyDatabaseId, a->roleid, a->job_id);
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
		RegisterXactCallback(jobs_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

void
steward_jobs_request_at_commit(Oid roleid, int64 job_id)
{
	PendingAction a = {false, 0, roleid, job_id};

	if (shared == NULL)
		return;
	add_pending(&a);
}

void
steward_jobs_wake_at_commit(int pid)
{
	PendingAction a = {true, pid, InvalidOid, 0};

	if (pid > 0)
		add_pending(&a);
}
