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

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "pg_steward.h"

#define RECORDER_MAX_ARGS		32
#define RECORDER_ERRMSG_LEN		1024
#define RECORDER_LOCK_TIMEOUT	"5s"

typedef enum RecorderState
{
	RECORDER_PENDING = 0,
	RECORDER_DONE,
	RECORDER_FAILED
} RecorderState;

typedef struct RecorderShared
{
	int			state;			/* RecorderState, set by the worker */
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

	extra.dbid = MyDatabaseId;
	extra.roleid = GetSessionUserId();
	steward_bgworker_init(&worker, "steward_recorder_main", "pg_steward recorder",
						  BGW_NEVER_RESTART, &extra, sizeof(extra));
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward recorder for PID %d", MyProcPid);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		dsm_detach(seg);
		*errmsg_out = pstrdup("no background worker slot is free (see max_worker_processes)");
		return false;
	}

	status = WaitForBackgroundWorkerShutdown(handle);
	if (status == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("postmaster exited while pg_steward's recorder was running")));

	pg_read_barrier();
	ok = (shared->state == RECORDER_DONE);
	if (!ok)
		*errmsg_out = (shared->state == RECORDER_FAILED)
			? pstrdup(shared->errmsg)
			: pstrdup("the recorder exited before it could commit (see the server log)");
	dsm_detach(seg);
	return ok;
}

/*
 * Entry point of the recorder worker.
 */
void
steward_recorder_main(Datum main_arg)
{
	dsm_segment *seg;
	RecorderShared *shared;
	RecorderExtra extra;
	const char *args[RECORDER_MAX_ARGS];
	const char *sql;

	steward_bgworker_begin(&extra, sizeof(extra), false);
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);			/* the caller has gone away */
	shared = dsm_segment_address(seg);

	steward_bgworker_connect(extra.dbid, extra.roleid, "pg_steward recorder");
	SetConfigOption("lock_timeout", RECORDER_LOCK_TIMEOUT,
					PGC_USERSET, PGC_S_SESSION);

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

		pg_write_barrier();
		shared->state = RECORDER_DONE;
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
		PG_RE_THROW();
	}
	PG_END_TRY();

	dsm_detach(seg);
	proc_exit(0);
}
