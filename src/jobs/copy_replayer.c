/*-------------------------------------------------------------------------
 *
 * copy_replayer.c
 *	  copy_table's replayer: a second process that replays the change log
 *	  while the job's worker copies (the copy phase), so that the two run
 *	  side by side instead of one after the other.
 *
 * Words:
 *	  cursor  the last key of the copy's last committed batch (NULL: none
 *			  yet); the keys up to it are in the target;
 *	  claim	  the last key of the batch being copied now, published before
 *			  that batch reads the source; equal to the cursor between
 *			  batches.
 * The job worker creates a small dynamic shared memory segment holding
 * both (as text) and starts the replayer, a dynamic background worker
 * that connects as the job's login role.  Each of the replayer's
 * transactions takes the oldest log entries first, then reads cursor and
 * claim, and (copy.c, steward_copy_replayer_batch) replays the keys up to
 * the cursor and above the frozen bound, logs again those up to the claim
 * (the batch in flight may have read their rows before the change) and
 * drops the others: the batch that copies them reads the source after
 * the claim that covers them was published, so after the change it was
 * logged for.
 *
 * Only one process replays at a time: while the replayer may be running,
 * the worker replays nothing; it stops the replayer (and waits for its
 * exit) when the copy phase ends, when a key is too long to publish, and
 * when the worker exits for any reason.  A replayer that ends on its own
 * (an error, a refused login, no free worker slot) leaves the log to the
 * worker, which replays as it does without one.  Each replayer
 * transaction runs as a batch does (steward_job_call_as_owner), checks
 * the job's state, hold and owner first, and commits its replays with
 * the removal of their entries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/spin.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

#define REPLAYER_KEY_MAX	1024	/* longest key text published */
#define REPLAYER_IDLE_MS	100		/* the log had fewer than REPLAYER_ENTRIES:
										 * look again after (each transaction has a
										 * fixed cost: it reads the log's head) */
#define REPLAYER_HOLD_MS	1000	/* the job holds: look again after */
#define REPLAYER_ENTRIES	10000	/* log entries per transaction */

typedef struct ReplayerShared
{
	slock_t		mutex;
	bool		cursor_null;
	bool		claim_null;
	char		cursor[REPLAYER_KEY_MAX + 1];
	char		claim[REPLAYER_KEY_MAX + 1];
	char		upper[REPLAYER_KEY_MAX + 1];	/* the frozen bound (set once) */
} ReplayerShared;

/* The worker's side: one replayer at a time, for this process's job. */
static dsm_segment *seg = NULL;
static ReplayerShared *shared = NULL;
static BackgroundWorkerHandle *handle = NULL;
static bool exit_hook = false;
static bool started = false;	/* once per process: one job, one replayer */

/* The replayer's side: its segment, while it runs. */
static ReplayerShared *mine = NULL;

/* ----------------------------------------------------------------
 * The job worker's side
 * ----------------------------------------------------------------
 */

/* Stop the replayer and wait until it has exited; detach the segment. */
void
steward_replayer_stop(void)
{
	if (handle != NULL)
	{
		HOLD_INTERRUPTS();
		TerminateBackgroundWorker(handle);
		(void) WaitForBackgroundWorkerShutdown(handle);
		RESUME_INTERRUPTS();
		pfree(handle);
		handle = NULL;
	}
	if (seg != NULL)
	{
		dsm_detach(seg);
		seg = NULL;
		shared = NULL;
	}
}

static void
replayer_at_exit(int code, Datum arg)
{
	steward_replayer_stop();
}

/*
 * Start the replayer for this job (the job worker only, once), at the
 * start of a copy batch, before it reads anything, and once the frozen
 * bound has committed (copy.c): job->current_key is the committed cursor,
 * published as cursor and claim.  Without a free worker slot the worker
 * replays alone.
 */
void
steward_replayer_start(StewardJob *job)
{
	BackgroundWorker worker;
	StewardWorkerExtra extra;
	MemoryContext oldcxt;

	if (!job->in_worker || started)
		return;
	started = true;
	if (!steward_copy_replayer)
		return;
	if (job->upper_key == NULL || strlen(job->upper_key) > REPLAYER_KEY_MAX ||
		(job->current_key && strlen(job->current_key) > REPLAYER_KEY_MAX))
		return;
	if (!exit_hook)
	{
		before_shmem_exit(replayer_at_exit, (Datum) 0);
		exit_hook = true;
	}
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	seg = dsm_create(sizeof(ReplayerShared), 0);
	dsm_pin_mapping(seg);
	shared = dsm_segment_address(seg);
	SpinLockInit(&shared->mutex);
	strlcpy(shared->upper, job->upper_key, sizeof(shared->upper));
	shared->cursor_null = shared->claim_null = (job->current_key == NULL);
	if (job->current_key)
	{
		strlcpy(shared->cursor, job->current_key, sizeof(shared->cursor));
		strlcpy(shared->claim, job->current_key, sizeof(shared->claim));
	}

	extra.dbid = MyDatabaseId;
	extra.roleid = job->login_role;
	extra.job_id = job->id;
	extra.slot = -1;
	extra.login_refused = false;
	steward_bgworker_init(&worker, "steward_copy_replayer_main", "pg_steward copy replayer",
						  BGW_NEVER_RESTART, &extra, sizeof(extra));
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward copy replayer for job %lld", (long long) job->id);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		handle = NULL;
		dsm_detach(seg);
		seg = NULL;
		shared = NULL;
	}
	MemoryContextSwitchTo(oldcxt);
}

/*
 * May the replayer be running?  While it may, the worker replays nothing.
 * One that has exited is forgotten: the worker replays from then on.
 */
bool
steward_replayer_active(void)
{
	pid_t		pid;

	if (handle == NULL)
		return false;
	if (GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED)
	{
		steward_replayer_stop();
		return false;
	}
	return true;
}

/*
 * Publish the committed cursor and the claim of the batch about to read
 * the source (before it reads).  A key too long to publish stops the
 * replayer (false): the worker replays alone from then on.
 */
bool
steward_replayer_publish(const char *cursor, const char *claim)
{
	if (!steward_replayer_active())
		return false;
	if ((cursor && strlen(cursor) > REPLAYER_KEY_MAX) || (claim && strlen(claim) > REPLAYER_KEY_MAX))
	{
		steward_replayer_stop();
		return false;
	}
	SpinLockAcquire(&shared->mutex);
	shared->cursor_null = (cursor == NULL);
	if (cursor)
		strlcpy(shared->cursor, cursor, sizeof(shared->cursor));
	shared->claim_null = (claim == NULL);
	if (claim)
		strlcpy(shared->claim, claim, sizeof(shared->claim));
	SpinLockRelease(&shared->mutex);
	return true;
}

/* ----------------------------------------------------------------
 * The replayer's side
 * ----------------------------------------------------------------
 */

/*
 * Cursor and claim as published now (NULL: none), and the frozen bound
 * (which the job's row may not show yet: it commits with the run's first
 * batch), in the caller's context.
 */
void
steward_replayer_bounds(char **cursor, char **claim, char **upper)
{
	char		c[REPLAYER_KEY_MAX + 1];
	char		k[REPLAYER_KEY_MAX + 1];
	bool		cnull;
	bool		knull;

	Assert(mine != NULL);
	SpinLockAcquire(&mine->mutex);
	cnull = mine->cursor_null;
	knull = mine->claim_null;
	memcpy(c, mine->cursor, sizeof(c));
	memcpy(k, mine->claim, sizeof(k));
	SpinLockRelease(&mine->mutex);
	*cursor = cnull ? NULL : pstrdup(c);
	*claim = knull ? NULL : pstrdup(k);
	*upper = pstrdup(mine->upper);	/* never written after the start */
}

/* One transaction's work, as the owner (steward_job_call_as_owner). */
static void
replayer_step(StewardJob *job, void *arg)
{
	*(int64 *) arg = steward_copy_replayer_batch(job, REPLAYER_ENTRIES);
}

/* The job's state and hold reason, read in the current transaction. */
static bool
job_runs(StewardJob *job, bool *held)
{
	const char *args[] = {psprintf(INT64_FORMAT, job->id)};
	char	  **row;
	int			ncols;

	row = steward_query_row_as_owner("SELECT state, hold_reason FROM steward.jobs "
									 " WHERE id OPERATOR(pg_catalog.=) $1::bigint",
									 1, args, &ncols);
	if (row == NULL || row[0] == NULL || strcmp(row[0], "running") != 0)
		return false;
	*held = (row[1] != NULL);
	return true;
}

void
steward_copy_replayer_main(Datum arg)
{
	StewardWorkerExtra extra;
	dsm_segment *myseg;
	StewardJob *job;
	MemoryContext loopcxt;

	steward_bgworker_begin(&extra, sizeof(extra), false);
	steward_bgworker_connect(extra.dbid, extra.roleid,
							 psprintf("pg_steward copy replayer %lld", (long long) extra.job_id));
	myseg = dsm_attach(DatumGetUInt32(arg));
	if (myseg == NULL)
		proc_exit(0);			/* the worker is gone already */
	mine = dsm_segment_address(myseg);

	job = MemoryContextAllocZero(TopMemoryContext, sizeof(StewardJob));
	job->in_worker = true;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(TopMemoryContext);
	if (steward_job_load(job, extra.job_id) == NULL)
		proc_exit(0);
	PopActiveSnapshot();
	CommitTransactionCommand();

	loopcxt = AllocSetContextCreate(TopMemoryContext, "pg_steward copy replayer", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int64		taken = 0;
		bool		held = false;
		bool		ok = true;
		int			wait_ms;
		char	   *refusal;
		ErrorData  *edata = NULL;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(loopcxt);
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		MemoryContextSwitchTo(loopcxt);
		pgstat_report_activity(STATE_RUNNING, "pg_steward copy replayer: replaying the change log");

		if (!job_runs(job, &held))
			break;
		refusal = steward_job_refusal(job);
		if (refusal != NULL)
		{
			ereport(LOG,
					(errmsg("copy replayer of job %lld stops: %s", (long long) job->id, refusal)));
			break;
		}
		if (!held)
			ok = steward_job_call_as_owner(job, replayer_step, &taken, &edata);
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		if (!ok)
		{
			/* the worker replays from now on, and meets the error itself */
			ereport(LOG,
					(errmsg("copy replayer of job %lld stops: %s", (long long) job->id, edata->message)));
			proc_exit(0);
		}
		/*
		 * A short log: wait, so that the next transaction has more to do.
		 * The job's pause between batches applies between these too.
		 */
		if (held)
			wait_ms = REPLAYER_HOLD_MS;
		else if (taken < REPLAYER_ENTRIES)
			wait_ms = Max(REPLAYER_IDLE_MS, job->pause_ms);
		else
			wait_ms = job->pause_ms;
		if (wait_ms > 0)
			(void) steward_sleep_ms(wait_ms, true);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	proc_exit(0);
}
