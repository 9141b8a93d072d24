/*-------------------------------------------------------------------------
 *
 * recorder.c
 *	  The recorder: commits bookkeeping rows in a transaction of its own.
 *
 * PostgreSQL has no autonomous transactions, yet two migration records
 * must outlive the caller's transaction: the in_progress marker written
 * before a migration runs (so a crash mid-migration leaves a trace) and
 * the failure record written after it failed (the caller's transaction is
 * about to roll back with the error).  The recorder is a dynamic
 * background worker that connects to the caller's database as the
 * caller's session user, runs exactly one fixed bookkeeping statement
 * (as the steward owner, see spi_util.c), commits, reports back through a
 * small dynamic shared memory segment and exits.  The caller waits for it.
 *
 * It needs no shared_preload_libraries entry, only a free background
 * worker slot (max_worker_processes).  It waits at most
 * RECORDER_LOCK_TIMEOUT for a row lock, so a lock held by the waiting
 * caller turns into an error instead of a hang.
 *
 * Shared segment layout: a RecorderShared header, then the SQL string and
 * the argument strings, each NUL-terminated, at the recorded offsets.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "pg_steward.h"

#define RECORDER_MAX_ARGS		32
#define RECORDER_ERRMSG_LEN		1024
#define RECORDER_LOCK_TIMEOUT	"5s"
#define RECORDER_POOL_SIZE		4
#define RECORDER_IDLE_MS		1000
#define RECORDER_POLL_MS		100
#define RECORDER_SLOT_WAIT_MS	2000	/* waiting for a free worker slot */
#define RECORDER_RETRY_MS		20

typedef enum RecorderState
{
	RECORDER_PENDING = 0,
	RECORDER_DONE,
	RECORDER_FAILED
} RecorderState;

typedef struct RecorderShared
{
	int			state;			/* RecorderState, set by the worker */
	int			requester;		/* pgprocno of the waiting caller */
	int			nargs;
	Size		sql_off;
	Size		arg_off[RECORDER_MAX_ARGS];
	bool		arg_null[RECORDER_MAX_ARGS];
	char		errmsg[RECORDER_ERRMSG_LEN];
	char		data[FLEXIBLE_ARRAY_MEMBER];
} RecorderShared;

typedef struct RecorderExtra
{
	Oid			dbid;
	Oid			roleid;
} RecorderExtra;

/* A slot of the recorder pool: a recorder waiting for, or running, a request. */
typedef enum RecorderSlotState
{
	SLOT_FREE = 0,
	SLOT_IDLE,					/* waiting for a request */
	SLOT_BUSY,					/* request handed over, not answered yet */
	SLOT_RETIRE					/* asked to exit: a requester needs its slot */
} RecorderSlotState;

typedef struct RecorderSlot
{
	int			state;			/* RecorderSlotState */
	Oid			dbid;
	Oid			roleid;
	int			pid;
	int			procno;			/* the recorder's pgprocno, for its latch */
	dsm_handle	request;		/* while SLOT_BUSY */
} RecorderSlot;

typedef struct RecorderPool
{
	slock_t		mutex;
	RecorderSlot slots[RECORDER_POOL_SIZE];
} RecorderPool;

static RecorderPool *pool = NULL;

/* in a recorder: its slot in the pool, -1 while it has none */
static int	my_slot = -1;

void
steward_recorder_shmem_request(void)
{
	RequestAddinShmemSpace(sizeof(RecorderPool));
}

void
steward_recorder_shmem_startup(void)
{
	pool = steward_shmem_init("pg_steward recorder pool", sizeof(RecorderPool),
							  offsetof(RecorderPool, mutex), NULL);
}

/*
 * Hand the request seg to an idle recorder of this database and session
 * user; returns its slot, or -1 when there is none.
 */
static int
hand_to_idle_recorder(dsm_segment *seg, int *pid_out)
{
	int			found = -1;
	int			procno = -1;
	Oid			roleid = GetSessionUserId();

	if (pool == NULL)
		return -1;
	SpinLockAcquire(&pool->mutex);
	for (int i = 0; i < RECORDER_POOL_SIZE; i++)
	{
		RecorderSlot *slot = &pool->slots[i];

		if (slot->state == SLOT_IDLE && slot->dbid == MyDatabaseId && slot->roleid == roleid)
		{
			slot->state = SLOT_BUSY;
			slot->request = dsm_segment_handle(seg);
			procno = slot->procno;
			*pid_out = slot->pid;
			found = i;
			break;
		}
	}
	SpinLockRelease(&pool->mutex);
	if (found >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
	return found;
}

/*
 * Ask the idle recorders of the pool to exit now (those of this database
 * and role would have been handed the request): a requester that found no
 * free worker slot needs theirs.  Returns how many were asked.
 */
static int
retire_idle_recorders(void)
{
	int			procnos[RECORDER_POOL_SIZE];
	int			n = 0;

	if (pool == NULL)
		return 0;
	SpinLockAcquire(&pool->mutex);
	for (int i = 0; i < RECORDER_POOL_SIZE; i++)
		if (pool->slots[i].state == SLOT_IDLE)
		{
			pool->slots[i].state = SLOT_RETIRE;
			procnos[n++] = pool->slots[i].procno;
		}
	SpinLockRelease(&pool->mutex);
	for (int i = 0; i < n; i++)
		SetLatch(&ProcGlobal->allProcs[procnos[i]].procLatch);
	return n;
}

/*
 * Register the recorder worker; without a free slot, ask the idle
 * recorders to give theirs up and try again for up to
 * RECORDER_SLOT_WAIT_MS (a slot held for a moment, by a recorder that is
 * exiting or a parallel query, comes free).
 */
static bool
register_recorder(BackgroundWorker *worker, BackgroundWorkerHandle **handle)
{
	if (RegisterDynamicBackgroundWorker(worker, handle))
		return true;
	(void) retire_idle_recorders();
	for (int waited = 0; waited < RECORDER_SLOT_WAIT_MS; waited += RECORDER_RETRY_MS)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 RECORDER_RETRY_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (RegisterDynamicBackgroundWorker(worker, handle))
			return true;
	}
	return false;
}

/* Is the recorder with pid still in slot i (busy or idle)? */
static bool
pooled_recorder_alive(int i, int pid)
{
	bool		alive;

	SpinLockAcquire(&pool->mutex);
	alive = (pool->slots[i].state != SLOT_FREE && pool->slots[i].pid == pid);
	SpinLockRelease(&pool->mutex);
	return alive && kill(pid, 0) == 0;
}

/* Copy a string with its NUL into the data area; returns the next offset. */
static Size
put_string(RecorderShared *shared, Size off, const char *s)
{
	Size		len = strlen(s) + 1;

	memcpy(shared->data + off, s, len);
	return off + len;
}

/*
 * Run one bookkeeping statement in a transaction of its own and wait for
 * it to commit.  Returns true on success; otherwise false with a message
 * in *errmsg_out.
 */
bool
steward_record_autonomous(const char *sql, int nargs, const char *const *args,
						  char **errmsg_out)
{
	Size		size;
	Size		off;
	dsm_segment *seg;
	RecorderShared *shared;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	RecorderExtra extra;
	BgwHandleStatus status;
	bool		ok;
	int			slot;
	int			slot_pid = 0;

	if (nargs > RECORDER_MAX_ARGS)
		elog(ERROR, "too many recorder arguments: %d", nargs);

	size = offsetof(RecorderShared, data) + strlen(sql) + 1;
	for (int i = 0; i < nargs; i++)
		if (args[i])
			size += strlen(args[i]) + 1;

	seg = dsm_create(size, 0);
	shared = dsm_segment_address(seg);
	memset(shared, 0, offsetof(RecorderShared, data));
	shared->state = RECORDER_PENDING;
	shared->nargs = nargs;

	shared->sql_off = 0;
	off = put_string(shared, 0, sql);
	for (int i = 0; i < nargs; i++)
	{
		shared->arg_null[i] = (args[i] == NULL);
		if (args[i])
		{
			shared->arg_off[i] = off;
			off = put_string(shared, off, args[i]);
		}
	}

	shared->requester = MyProc->pgprocno;

	/* a recorder of the pool, or a new one */
	slot = hand_to_idle_recorder(seg, &slot_pid);
	if (slot < 0)
	{
		extra.dbid = MyDatabaseId;
		extra.roleid = GetSessionUserId();
		steward_bgworker_init(&worker, "steward_recorder_main", "pg_steward recorder",
							  BGW_NEVER_RESTART, &extra, sizeof(extra));
		snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward recorder for PID %d", MyProcPid);
		worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
		worker.bgw_notify_pid = MyProcPid;

		if (!register_recorder(&worker, &handle))
		{
			dsm_detach(seg);
			*errmsg_out = pstrdup("no background worker slot is free (see max_worker_processes)");
			return false;
		}
	}

	/*
	 * Wait for the answer, or for the recorder to be gone (a new worker
	 * notifies its exit; a pooled one is looked at every RECORDER_POLL_MS).
	 */
	for (;;)
	{
		pid_t		pid;

		pg_read_barrier();
		if (shared->state != RECORDER_PENDING)
			break;
		if (slot < 0)
		{
			status = GetBackgroundWorkerPid(handle, &pid);
			if (status == BGWH_STOPPED)
				break;
			if (status == BGWH_POSTMASTER_DIED)
				ereport(FATAL,
						(errcode(ERRCODE_ADMIN_SHUTDOWN),
						 errmsg("postmaster exited while pg_steward's recorder was running")));
		}
		else if (!pooled_recorder_alive(slot, slot_pid))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 RECORDER_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	pg_read_barrier();
	ok = (shared->state == RECORDER_DONE);
	if (!ok)
		*errmsg_out = (shared->state == RECORDER_FAILED)
			? pstrdup(shared->errmsg)
			: pstrdup("the recorder exited before it could commit (see the server log)");
	dsm_detach(seg);
	return ok;
}

/* In a recorder leaving: its slot is free again. */
static void
leave_pool(int code, Datum arg)
{
	if (pool == NULL || my_slot < 0)
		return;
	SpinLockAcquire(&pool->mutex);
	if (pool->slots[my_slot].pid == MyProcPid)
		pool->slots[my_slot].state = SLOT_FREE;
	SpinLockRelease(&pool->mutex);
	my_slot = -1;
}

/* In a recorder: answer the request in seg, then wake its caller. */
static void
answer(dsm_segment *seg)
{
	RecorderShared *shared = dsm_segment_address(seg);
	const char *args[RECORDER_MAX_ARGS];
	const char *sql;
	int			requester = shared->requester;

	sql = shared->data + shared->sql_off;
	for (int i = 0; i < shared->nargs; i++)
		args[i] = shared->arg_null[i] ? NULL : shared->data + shared->arg_off[i];

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, sql);

		steward_exec_as_owner(sql, shared->nargs, args);

		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		strlcpy(shared->errmsg, edata->message ? edata->message : "unknown error",
				RECORDER_ERRMSG_LEN);
		pg_write_barrier();
		shared->state = RECORDER_FAILED;
		SetLatch(&ProcGlobal->allProcs[requester].procLatch);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* idle again before the caller can ask for the next record */
	if (my_slot >= 0)
	{
		SpinLockAcquire(&pool->mutex);
		pool->slots[my_slot].state = SLOT_IDLE;
		SpinLockRelease(&pool->mutex);
	}
	pg_write_barrier();
	shared->state = RECORDER_DONE;
	SetLatch(&ProcGlobal->allProcs[requester].procLatch);
}

/* In a recorder: take a free slot of the pool (false: none is free). */
static bool
join_pool(Oid dbid, Oid roleid)
{
	if (pool == NULL)
		return false;
	SpinLockAcquire(&pool->mutex);
	for (int i = 0; i < RECORDER_POOL_SIZE; i++)
	{
		RecorderSlot *slot = &pool->slots[i];

		if (slot->state == SLOT_FREE)
		{
			slot->state = SLOT_BUSY;	/* idle once it has answered */
			slot->dbid = dbid;
			slot->roleid = roleid;
			slot->pid = MyProcPid;
			slot->procno = MyProc->pgprocno;
			slot->request = 0;
			my_slot = i;
			break;
		}
	}
	SpinLockRelease(&pool->mutex);
	if (my_slot >= 0)
		before_shmem_exit(leave_pool, (Datum) 0);
	return my_slot >= 0;
}

/*
 * Entry point of the recorder worker: answer the request it was started
 * for, then, in the pool, the next ones until it has been idle for
 * RECORDER_IDLE_MS.
 */
void
steward_recorder_main(Datum main_arg)
{
	dsm_segment *seg;
	RecorderExtra extra;
	TimestampTz idle_since;

	steward_bgworker_begin(&extra, sizeof(extra), false);
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);			/* the caller has gone away */

	steward_bgworker_connect(extra.dbid, extra.roleid, "pg_steward recorder");
	SetConfigOption("lock_timeout", RECORDER_LOCK_TIMEOUT,
					PGC_USERSET, PGC_S_SESSION);

	(void) join_pool(extra.dbid, extra.roleid);
	answer(seg);
	dsm_detach(seg);
	if (my_slot < 0)
		proc_exit(0);

	idle_since = GetCurrentTimestamp();
	for (;;)
	{
		dsm_handle request = 0;
		long		left = RECORDER_IDLE_MS;

		SpinLockAcquire(&pool->mutex);
		if (pool->slots[my_slot].state == SLOT_BUSY)
			request = pool->slots[my_slot].request;
		else if (pool->slots[my_slot].state == SLOT_RETIRE)
		{
			/* a requester needs this worker slot: leave the pool and exit */
			pool->slots[my_slot].state = SLOT_FREE;
			SpinLockRelease(&pool->mutex);
			my_slot = -1;
			break;
		}
		else
		{
			left = RECORDER_IDLE_MS -
				TimestampDifferenceMilliseconds(idle_since, GetCurrentTimestamp());
			if (left <= 0)
			{
				/* nobody asked in time: leave the pool and exit */
				pool->slots[my_slot].state = SLOT_FREE;
				SpinLockRelease(&pool->mutex);
				my_slot = -1;
				break;
			}
		}
		SpinLockRelease(&pool->mutex);

		if (request != 0)
		{
			seg = dsm_attach(request);
			if (seg == NULL)
			{
				/* the caller has gone away: idle again */
				SpinLockAcquire(&pool->mutex);
				pool->slots[my_slot].state = SLOT_IDLE;
				SpinLockRelease(&pool->mutex);
			}
			else
			{
				answer(seg);
				dsm_detach(seg);
			}
			idle_since = GetCurrentTimestamp();
			continue;
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}
