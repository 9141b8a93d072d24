/*-------------------------------------------------------------------------
 *
 * run.c
 *	  Runs a job batch by batch: claiming, identity, timeouts, retries,
 *	  adaptive batch size, health gate, pause and cancel, checkpoints.
 *
 * The same engine serves the job worker (in_worker) and job_run in a
 * session.  steward_job_execute claims the job (claim_job: its row, its
 * lock, its tables' locks), starts it (start_job: fails a job that cannot
 * run, finishes a cancel, marks it running), then runs its kind's own
 * execute or its batches (run_batches).  Every batch is one transaction:
 *	  1. read the job's state: paused or cancelling ends the run here, a
 *		 refusal fails it (before_batch);
 *	  2. the health gate: while replication lag is above the job's limit,
 *		 the job holds (hold_reason says why) instead of failing;
 *	  3. the batch runs in a subtransaction, as the job's owner role under
 *		 SECURITY_RESTRICTED_OPERATION, with the job's pinned search_path,
 *		 lock_timeout and statement timer;
 *	  4. the checkpoint (progress, last key) is written and the transaction
 *		 commits: batch and checkpoint are durable together.
 * A lock timeout retries the batch with backoff, pg_steward.lock_retries
 * times; a statement timeout halves the batch and retries; any other error
 * fails the job and is recorded (retry_batch).  The batch size adapts towards the
 * job's target batch time.
 *
 * Two session-level advisory locks (pg_locks: locktype advisory, objsubid 3
 * for the job, 4 for a table) make sure a job runs once, and that no two
 * jobs write the same table at once.  They die with their process, so a
 * crashed run leaves no lock behind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

#define STEWARD_REL_LOCK_CLASS	0x53545752	/* "STWR" */
#define HOLD_RECHECK_MS			1000
#define STEWARD_JOB_MAX_ATTEMPTS 10

/* ----------------------------------------------------------------
 * Locks
 * ----------------------------------------------------------------
 */

static void
job_locktag(LOCKTAG *tag, int64 id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (id >> 32), (uint32) id, 3);
}

static void
rel_locktag(LOCKTAG *tag, Oid relid)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, STEWARD_REL_LOCK_CLASS, relid, 4);
}

static bool
try_session_lock(LOCKTAG *tag)
{
	return LockAcquire(tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
}

bool
steward_job_try_lock(int64 job_id, bool session)
{
	LOCKTAG		tag;

	job_locktag(&tag, job_id);
	return LockAcquire(&tag, ExclusiveLock, session, true) != LOCKACQUIRE_NOT_AVAIL;
}

void
steward_job_unlock(int64 job_id)
{
	LOCKTAG		tag;

	job_locktag(&tag, job_id);
	LockRelease(&tag, ExclusiveLock, true);
}

static bool
lock_relations(StewardJob *job)
{
	LOCKTAG		tag;

	if (OidIsValid(job->relid))
	{
		rel_locktag(&tag, job->relid);
		if (!try_session_lock(&tag))
			return false;
	}
	if (OidIsValid(job->source))
	{
		rel_locktag(&tag, job->source);
		if (!try_session_lock(&tag))
		{
			if (OidIsValid(job->relid))
			{
				rel_locktag(&tag, job->relid);
				LockRelease(&tag, ExclusiveLock, true);
			}
			return false;
		}
	}
	return true;
}

static void
unlock_relations(StewardJob *job)
{
	LOCKTAG		tag;

	if (OidIsValid(job->relid))
	{
		rel_locktag(&tag, job->relid);
		LockRelease(&tag, ExclusiveLock, true);
	}
	if (OidIsValid(job->source))
	{
		rel_locktag(&tag, job->source);
		LockRelease(&tag, ExclusiveLock, true);
	}
}

/* ----------------------------------------------------------------
 * Transactions: the worker drives them itself, job_run through SPI
 * ----------------------------------------------------------------
 */

static void
txn_begin(StewardJob *job)
{
	if (job->in_worker)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
	}
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
txn_commit(StewardJob *job)
{
	PopActiveSnapshot();
	if (job->in_worker)
		CommitTransactionCommand();
	else
		SPI_commit();
}

/* ----------------------------------------------------------------
 * Arguments
 * ----------------------------------------------------------------
 */

static JsonbValue *
job_arg(StewardJob *job, const char *key, JsonbValue *buf)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&job->args->root, key, strlen(key), buf);

	return (v == NULL || v->type == jbvNull) ? NULL : v;
}

const char *
steward_job_arg_text(StewardJob *job, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = job_arg(job, key, &buf);

	if (v == NULL)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	if (v->type == jbvBool)
		return v->val.boolean ? "true" : "false";
	elog(ERROR, "job argument \"%s\" has an unexpected type", key);
	return NULL;
}

int64
steward_job_arg_int(StewardJob *job, const char *key, int64 dflt)
{
	const char *s = steward_job_arg_text(job, key);

	return s ? strtoll(s, NULL, 10) : dflt;
}

/* ----------------------------------------------------------------
 * The job row
 * ----------------------------------------------------------------
 */

static char *
i64(int64 v)
{
	return psprintf(INT64_FORMAT, v);
}

/* the columns of load_job's query, in its order */
typedef enum JobColumn
{
	JC_KIND,
	JC_RELATION,
	JC_SOURCE,
	JC_OWNER_ROLE,
	JC_SEARCH_PATH,
	JC_MIGRATION_VERSION,
	JC_ARGS,
	JC_STATE,
	JC_ROWS_DONE,
	JC_ROWS_ESTIMATE,
	JC_CURRENT_KEY,
	JC_UPPER_KEY,
	JC_BATCHES,
	JC_BATCH_SIZE,
	JC_RATE,
	JC_PHASE,
	JC_STARTED,
	JC_ATTEMPTS,
	JC_MAX_BATCH_MS,
	JC_SAME_CLUSTER,
	JC_OWNER_NAME,
	JC_LOGIN_ROLE,
	JC_NUMBER_OF_COLUMNS
} JobColumn;

/*
 * Load the job and, with lock, lock its row until the claiming
 * transaction ends, so a job_pause or job_cancel issued meanwhile is not
 * overwritten; returns its state, or NULL when there is no such job.
 */
static char *
load_job(StewardJob *job, int64 id, bool lock)
{
	const char *args[] = {i64(id)};
	char	  **row;
	int			ncols;

	row = steward_query_row_as_owner(psprintf(
		"SELECT kind, relation::oid::text, source::oid::text, owner_role::text, search_path, "
		"       migration_version, args::text, state, rows_done::text, rows_estimate::text, "
		"       current_key, upper_key, batches::text, batch_size::text, "
		"       coalesce(rate, 0)::text, phase, (started_at IS NOT NULL)::text, attempts::text, "
		"       coalesce(max_batch_ms, 0)::text, "
		"       (args->>'system_identifier' IS NULL OR args->>'system_identifier' = "
		"        (SELECT system_identifier::text FROM pg_catalog.pg_control_system()))::text, owner_name, "
		"       login_role::text "
		"  FROM steward.jobs WHERE id OPERATOR(pg_catalog.=) $1::bigint%s",
		lock ? " FOR UPDATE" : ""),
		1, args, &ncols);
	if (row == NULL)
		return NULL;
	Assert(ncols == JC_NUMBER_OF_COLUMNS);

	job->id = id;
	job->kind = row[JC_KIND];
	job->relid = row[JC_RELATION] ? (Oid) strtoul(row[JC_RELATION], NULL, 10) : InvalidOid;
	job->source = row[JC_SOURCE] ? (Oid) strtoul(row[JC_SOURCE], NULL, 10) : InvalidOid;
	job->owner = (Oid) strtoul(row[JC_OWNER_ROLE], NULL, 10);
	job->search_path = row[JC_SEARCH_PATH];
	job->migration_version = row[JC_MIGRATION_VERSION];
	job->args = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(row[JC_ARGS])));
	job->rows_done = strtoll(row[JC_ROWS_DONE], NULL, 10);
	job->rows_estimate = row[JC_ROWS_ESTIMATE] ? strtoll(row[JC_ROWS_ESTIMATE], NULL, 10) : -1;
	job->current_key = row[JC_CURRENT_KEY];
	job->upper_key = row[JC_UPPER_KEY];
	job->batches = strtoll(row[JC_BATCHES], NULL, 10);
	job->batch_size = row[JC_BATCH_SIZE] ? atoi(row[JC_BATCH_SIZE]) : 0;
	job->rate = strtod(row[JC_RATE], NULL);
	job->phase = row[JC_PHASE];
	job->resumed = (strcmp(row[JC_STARTED], "true") == 0);
	job->attempts = atoi(row[JC_ATTEMPTS]);
	job->max_batch_ms = strtod(row[JC_MAX_BATCH_MS], NULL);

	/* see steward_job_execute: submitted in this cluster, so its OIDs hold */
	job->owner_ok = strcmp(row[JC_SAME_CLUSTER], "true") == 0;
	job->owner_name = row[JC_OWNER_NAME];
	job->login_role = (Oid) strtoul(row[JC_LOGIN_ROLE], NULL, 10);

	job->lock_timeout_ms = (int) steward_job_arg_int(job, "lock_timeout_ms", steward_lock_timeout_ms);
	job->statement_timeout_ms = (int) steward_job_arg_int(job, "statement_timeout_ms",
														  steward_batch_statement_timeout_ms);
	job->target_batch_ms = (int) steward_job_arg_int(job, "target_batch_ms", 0);
	job->pause_ms = (int) steward_job_arg_int(job, "pause_ms", 0);
	job->max_lag_ms = (int) steward_job_arg_int(job, "max_lag_ms", steward_max_replication_lag_ms);
	job->min_batch = (int) steward_job_arg_int(job, "min_batch", 100);
	job->max_batch = (int) steward_job_arg_int(job, "max_batch", 1000000);
	if (job->batch_size <= 0)
		job->batch_size = (int) steward_job_arg_int(job, "batch_size", 10000);
	return row[JC_STATE];
}

/*
 * The job's row as load_job reads it, without locking it: for a process
 * that helps a running job (copy_replayer.c).  Returns its state, or NULL.
 */
char *
steward_job_load(StewardJob *job, int64 id)
{
	return load_job(job, id, false);
}

char *
steward_job_state(int64 id)
{
	const char *args[] = {i64(id)};
	bool		isnull;

	return steward_query_text_as_owner("SELECT state FROM steward.jobs WHERE id OPERATOR(pg_catalog.=) $1::bigint",
									   1, args, &isnull);
}

void
steward_job_save_progress(StewardJob *job)
{
	const char *args[] = {
		i64(job->id), i64(job->rows_done),
		job->rows_estimate >= 0 ? i64(job->rows_estimate) : NULL,
		job->current_key, job->upper_key, i64(job->batches),
		psprintf("%d", job->batch_size), psprintf("%.3f", job->rate), job->phase,
		psprintf("%.3f", job->max_batch_ms)
	};

	steward_exec_as_owner(
		"UPDATE steward.jobs SET rows_done = $2::bigint, rows_estimate = $3::bigint, "
		"       current_key = $4, upper_key = $5, batches = $6::bigint, "
		"       batch_size = $7::integer, rate = $8::float8, phase = $9, max_batch_ms = $10::float8, "
		"       hold_reason = NULL, updated_at = clock_timestamp() "
		" WHERE id OPERATOR(pg_catalog.=) $1::bigint",
		lengthof(args), args);
}

void
steward_job_set_state(StewardJob *job, const char *state, ErrorData *edata)
{
	bool		ended = (strcmp(state, JOB_FAILED) == 0 || strcmp(state, JOB_SUCCEEDED) == 0 ||
						 strcmp(state, JOB_CANCELLED) == 0);
	const char *args[] = {
		i64(job->id), state,
		edata ? edata->message : NULL,
		edata ? unpack_sql_state(edata->sqlerrcode) : NULL,
		ended ? "true" : "false",
		strcmp(state, JOB_RUNNING) == 0 ? psprintf("%d", MyProcPid) : NULL
	};

	steward_exec_as_owner(
		"UPDATE steward.jobs SET state = $2, "
		"       last_error = coalesce($3, CASE WHEN $2 = 'running' THEN last_error END), "
		"       last_sqlstate = coalesce($4, CASE WHEN $2 = 'running' THEN last_sqlstate END), "
		"       finished_at = CASE WHEN $5::boolean THEN clock_timestamp() END, "
		"       worker_pid = $6::integer, hold_reason = NULL, "
		"       started_at = coalesce(started_at, CASE WHEN $2 = 'running' THEN clock_timestamp() END), "
		"       attempts = attempts + CASE WHEN $2 = 'running' THEN 1 ELSE 0 END, "
		"       updated_at = clock_timestamp() "
		" WHERE id OPERATOR(pg_catalog.=) $1::bigint",
		lengthof(args), args);
	steward_jobs_changed_at_commit();
}

static void
set_hold(StewardJob *job, const char *reason)
{
	const char *args[] = {i64(job->id), reason};

	steward_exec_as_owner("UPDATE steward.jobs SET hold_reason = $2, updated_at = clock_timestamp() "
						  " WHERE id OPERATOR(pg_catalog.=) $1::bigint", 2, args);
}

/* ----------------------------------------------------------------
 * Identity
 * ----------------------------------------------------------------
 */

/*
 * Why roleid can no longer connect to database dbid as the login role of
 * job job_id: it no longer exists, cannot log in, or may not connect to
 * the database; NULL when it can.  Inside a transaction.  The launcher
 * asks too, connected to no database: pg_authid and pg_database are shared.
 */
char *
steward_login_refusal(Oid dbid, Oid roleid, int64 job_id)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	char	   *name;
	bool		canlogin;

	if (!HeapTupleIsValid(tup))
		return psprintf("the login role of job %lld (OID %u) no longer exists", (long long) job_id, roleid);
	name = pstrdup(NameStr(((Form_pg_authid) GETSTRUCT(tup))->rolname));
	canlogin = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	ReleaseSysCache(tup);
	if (!canlogin)
		return psprintf("role \"%s\", the login role of job %lld, can no longer log in", name, (long long) job_id);
	if (pg_database_aclcheck(dbid, roleid, ACL_CONNECT) != ACLCHECK_OK)
		return psprintf("role \"%s\", the login role of job %lld, may no longer connect to the database",
						name, (long long) job_id);
	return NULL;
}

/*
 * Why the job may not run another batch (or statement) in this process,
 * or NULL.  A job runs as its owner role only while the role it runs for
 * could still become that role (SET ROLE): in a job worker its login role,
 * which must also still be able to connect; in CALL job_run the session's
 * user.  A role that has lost the owner role, or was dropped, fails the
 * job with 42501 at its next batch, also after a restart.
 */
char *
steward_job_refusal(StewardJob *job)
{
	Oid			runner = GetSessionUserId();
	char	   *reason;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(job->owner)))
		return psprintf("role \"%s\", which job %lld runs as, no longer exists",
						job->owner_name, (long long) job->id);
	if (job->in_worker)
	{
		if (runner != job->login_role)
			return psprintf("the worker of job %lld is not connected as the job's login role", (long long) job->id);
		reason = steward_login_refusal(MyDatabaseId, runner, job->id);
		if (reason != NULL)
			return reason;
	}
	else if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(runner)))
		return psprintf("the role running job %lld (OID %u) no longer exists", (long long) job->id, runner);
	if (!is_member_of_role(runner, job->owner))
		return psprintf("role \"%s\" is no longer a member of role \"%s\", which job %lld runs as",
						GetUserNameFromId(runner, false), GetUserNameFromId(job->owner, false),
						(long long) job->id);
	return NULL;
}

void
steward_job_set_phase(StewardJob *job, const char *phase)
{
	job->phase = MemoryContextStrdup(GetMemoryChunkContext(job), phase);
}

/* ----------------------------------------------------------------
 * Health
 * ----------------------------------------------------------------
 */

/*
 * A reason to hold, or NULL: a streaming standby lags more than the job's
 * time limit (pg_stat_replication's lag columns), or its replay is more
 * than pg_steward.max_replication_lag_bytes behind (a standby whose replay
 * stalled shows no growing lag time, only a growing distance).
 */
static char *
health_hold_reason(StewardJob *job)
{
	char	   *reason;
	bool		isnull;
	const char *args[2];

	if (job->max_lag_ms <= 0 && steward_max_replication_lag_kb <= 0)
		return NULL;
	args[0] = job->max_lag_ms > 0 ? psprintf("%d ms", job->max_lag_ms) : NULL;
	args[1] = steward_max_replication_lag_kb > 0
		? psprintf(INT64_FORMAT, (int64) steward_max_replication_lag_kb * 1024) : NULL;
	reason = steward_query_text_as_owner(
		"SELECT CASE "
		"  WHEN max(greatest(write_lag, flush_lag, replay_lag)) > $1::interval "
		"  THEN 'replication lag ' || max(greatest(write_lag, flush_lag, replay_lag)) "
		"       || ' is above ' || $1 "
		"  WHEN max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn)) > $2::numeric "
		"  THEN 'a standby''s replay is ' "
		"       || pg_catalog.pg_size_pretty(max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn))) "
		"       || ' behind, above ' || pg_catalog.pg_size_pretty($2::numeric) "
		"  END "
		"  FROM pg_catalog.pg_stat_replication",
		2, args, &isnull);
	return isnull ? NULL : reason;
}

/* ----------------------------------------------------------------
 * One batch
 * ----------------------------------------------------------------
 */

/*
 * Run fn (start, batch, finish or cleanup of the kind) in a subtransaction
 * as the job's owner.  On error the subtransaction is rolled back and the
 * error returned in *edata_out.
 */
typedef enum
{
	STEP_START_AND_BATCH,
	STEP_BATCH,
	STEP_FINISH,
	STEP_CLEANUP,
	STEP_CALL					/* steward_job_call_as_owner's function */
} JobStep;

typedef struct JobStepCall
{
	StewardJob *job;
	const StewardJobKind *k;
	JobStep		step;
	int64	   *rows;
	StewardBatchResult *result;
	void		(*fn) (StewardJob *job, void *arg);	/* STEP_CALL */
	void	   *fn_arg;
} JobStepCall;

/* The body of run_step, inside its subtransaction, as the job's owner. */
static void
job_step(void *arg)
{
	JobStepCall *c = (JobStepCall *) arg;
	StewardJob *job = c->job;
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(job->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", job->search_path,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	steward_begin_lock_timeout(job->lock_timeout_ms);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	steward_arm_statement_timer(job->statement_timeout_ms);
	switch (c->step)
	{
		case STEP_START_AND_BATCH:
			if (c->k->start)
				c->k->start(job);
			/* FALLTHROUGH */
		case STEP_BATCH:
			*c->result = c->k->batch(job, c->rows);
			break;
		case STEP_FINISH:
			if (c->k->finish)
				c->k->finish(job);
			break;
		case STEP_CLEANUP:
			if (c->k->cleanup)
				c->k->cleanup(job);
			break;
		case STEP_CALL:
			c->fn(job, c->fn_arg);
			break;
	}
	steward_disarm_statement_timer();
	steward_end_lock_timeout();

	SPI_finish();
	AtEOXact_GUC(false, nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);
}

static bool
run_step(StewardJob *job, const StewardJobKind *k, JobStep step,
		 int64 *rows, StewardBatchResult *result, ErrorData **edata_out)
{
	JobStepCall c = {job, k, step, rows, result, NULL, NULL};

	return steward_run_subxact(job_step, &c, "job", job->statement_timeout_ms, edata_out);
}

/*
 * Run fn(job, arg) as a batch runs: in a subtransaction, as the job's
 * owner under SECURITY_RESTRICTED_OPERATION, with its pinned search_path,
 * lock_timeout and statement timer.  False, with the error in *edata_out,
 * when it failed (the subtransaction is rolled back).
 */
bool
steward_job_call_as_owner(StewardJob *job, void (*fn) (StewardJob *job, void *arg), void *arg,
						  ErrorData **edata_out)
{
	JobStepCall c = {job, NULL, STEP_CALL, NULL, NULL, fn, arg};

	return steward_run_subxact(job_step, &c, "job", job->statement_timeout_ms, edata_out);
}

/*
 * Run a job's cleanup outside a run: job_cancel of a queued or paused job.
 * The cleanup is the kind's own, run as the job's owner, exactly as when a
 * running job is cancelled; an error in it is raised.
 */
void
steward_job_cleanup(int64 job_id)
{
	StewardJob *job = palloc0(sizeof(StewardJob));
	const StewardJobKind *k;
	ErrorData  *edata = NULL;
	int64		rows = 0;
	StewardBatchResult res;

	if (load_job(job, job_id, true) == NULL)
		return;
	k = steward_job_kind(job->kind);
	if (k->cleanup != NULL && !run_step(job, k, STEP_CLEANUP, &rows, &res, &edata))
		ReThrowError(edata);
}

/* Aim the next batch at the target batch time. */
static void
adapt_batch_size(StewardJob *job, double elapsed_ms, int64 rows)
{
	double		factor;
	int64		size;

	job->max_batch_ms = Max(job->max_batch_ms, elapsed_ms);
	if (rows > 0 && elapsed_ms > 0)
	{
		double		r = rows * 1000.0 / elapsed_ms;

		job->rate = job->rate > 0 ? 0.7 * job->rate + 0.3 * r : r;
	}
	if (job->target_batch_ms <= 0 || elapsed_ms <= 0)
		return;
	/*
	 * Aim at half the target and grow slowly, so that a batch stays under it
	 * unless it runs twice as slowly per row as the one before (a checkpoint
	 * starting, with full-page images in the WAL; other work on the
	 * machine); shrink fast.  Per-batch work is a few milliseconds, so the
	 * margin costs little.
	 */
	factor = 0.5 * job->target_batch_ms / elapsed_ms;
	factor = Max(0.5, Min(1.25, factor));
	size = (int64) (job->batch_size * factor);
	job->batch_size = (int) Max((int64) job->min_batch, Min((int64) job->max_batch, size));
}

/* ----------------------------------------------------------------
 * Running a job
 * ----------------------------------------------------------------
 */

/* One run of a job: what the steps of steward_job_execute share. */
typedef struct JobRun
{
	StewardJob *job;
	const StewardJobKind *kind;
	char	   *state;			/* as the run found it */
	bool		login_refused;	/* see steward_job_execute */
	bool		locked_job;		/* holds the job's session lock */
	bool		locked_rels;	/* holds its tables' session locks */
	MemoryContext jobcxt;		/* lives as long as the run */
	MemoryContext batchcxt;		/* reset before every batch */
} JobRun;

/*
 * End a job as failed, inside a transaction: its kind's cleanup, the
 * state, commit.  In a session the failure is also a WARNING.
 */
static void
fail_job(StewardJob *job, const StewardJobKind *k, ErrorData *edata)
{
	ErrorData  *cleanup_error = NULL;
	int64		rows = 0;
	StewardBatchResult res;

	if (!run_step(job, k, STEP_CLEANUP, &rows, &res, &cleanup_error))
		ereport(WARNING, (errmsg("cleanup of job %lld failed: %s", (long long) job->id,
								 cleanup_error->message)));
	steward_job_set_state(job, JOB_FAILED, edata);
	txn_commit(job);
	if (!job->in_worker)
		ereport(WARNING,
				(errmsg("job %lld failed: %s", (long long) job->id, edata->message)));
}

/*
 * End a job that was asked to cancel, inside a transaction: its kind's
 * cleanup, the state, commit.
 */
static void
cancel_job(StewardJob *job, const StewardJobKind *k)
{
	ErrorData  *edata = NULL;
	int64		rows = 0;
	StewardBatchResult res;

	if (!run_step(job, k, STEP_CLEANUP, &rows, &res, &edata))
		ereport(WARNING, (errmsg("cleanup of job %lld failed: %s", (long long) job->id, edata->message)));
	steward_job_set_state(job, JOB_CANCELLED, NULL);
	txn_commit(job);
}

/* An ErrorData for a refusal: SQLSTATE 42501 */
static ErrorData *
refusal_error(char *message)
{
	ErrorData  *e = palloc0(sizeof(ErrorData));

	e->sqlerrcode = ERRCODE_INSUFFICIENT_PRIVILEGE;
	e->message = message;
	return e;
}

/*
 * Why a claimed job cannot run at all, or NULL; *sqlerrcode is the
 * SQLSTATE it fails with.
 */
static char *
unrunnable_reason(JobRun *r, int *sqlerrcode)
{
	StewardJob *job = r->job;

	if (OidIsValid(job->relid) && !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(job->relid)))
	{
		*sqlerrcode = ERRCODE_UNDEFINED_TABLE;
		return psprintf("table with OID %u no longer exists", job->relid);
	}

	/*
	 * A job runs as the role that submitted it, found by OID.  A job
	 * submitted in another cluster (the database was restored here) names
	 * roles by OIDs that may belong to other roles here: it must not run at
	 * all.
	 */
	if (!job->owner_ok)
	{
		*sqlerrcode = ERRCODE_INSUFFICIENT_PRIVILEGE;
		return psprintf("job %lld was submitted by role \"%s\" in another cluster; "
						"role OIDs do not carry over a restore. Submit the job again.",
						(long long) job->id, job->owner_name);
	}

	/* a run that keeps dying (and taking the server with it) is given up */
	if (strcmp(r->state, JOB_RUNNING) == 0 && job->attempts >= STEWARD_JOB_MAX_ATTEMPTS)
	{
		*sqlerrcode = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		return psprintf("gave up after %d interrupted runs; the server log tells what stopped them",
						job->attempts);
	}
	return NULL;
}

/*
 * Claim the job: load it, check that it is runnable, take its lock and its
 * tables' locks (waiting in a worker for another job on the same table).
 * Returns false, with the transaction committed, when this run ends here;
 * true inside the claiming transaction.
 */
static bool
claim_job(JobRun *r, int64 job_id)
{
	StewardJob *job = r->job;

	txn_begin(job);
	MemoryContextSwitchTo(r->jobcxt);
	r->state = load_job(job, job_id, true);
	if (r->state == NULL && job->in_worker)
	{
		txn_commit(job);
		return false;
	}
	if (r->state == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job %lld does not exist", (long long) job_id)));
	r->kind = steward_job_kind(job->kind);

	if (strcmp(r->state, JOB_QUEUED) != 0 && strcmp(r->state, JOB_RUNNING) != 0 &&
		strcmp(r->state, JOB_CANCELLING) != 0)
	{
		if (!job->in_worker)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job %lld is %s", (long long) job_id, r->state),
					 strcmp(r->state, JOB_PAUSED) == 0
					 ? errhint("Resume it with job_resume(%lld) first.", (long long) job_id) : 0));
		txn_commit(job);
		return false;
	}
	if (!steward_job_try_lock(job_id, true))
	{
		if (!job->in_worker)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("job %lld is already running in another process", (long long) job_id)));
		txn_commit(job);
		return false;
	}
	r->locked_job = true;

	/* never two jobs on the same table: wait (worker) or refuse (session) */
	while (!lock_relations(job))
	{
		if (!job->in_worker)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("another job is writing table %s", get_rel_name(job->relid)),
					 errhint("Wait for it with job_wait(), then run this job.")));
		set_hold(job, "waiting for another job on the same table");
		txn_commit(job);
		(void) steward_sleep_ms(HOLD_RECHECK_MS, true);
		txn_begin(job);
		MemoryContextSwitchTo(r->jobcxt);
		r->state = steward_job_state(job_id);
		if (strcmp(r->state, JOB_QUEUED) != 0 && strcmp(r->state, JOB_RUNNING) != 0)
		{
			txn_commit(job);
			return false;
		}
	}
	r->locked_rels = true;
	return true;
}

/*
 * Start the claimed job (inside the claiming transaction): fail it when it
 * cannot run, finish a cancel, handle a refused login, or mark it running.
 * Returns true, with the transaction committed, when its work is to be
 * done now; false, committed too, when this run ends here.
 */
static bool
start_job(JobRun *r)
{
	StewardJob *job = r->job;
	int			sqlerrcode = 0;
	char	   *reason = unrunnable_reason(r, &sqlerrcode);

	if (reason != NULL)
	{
		ErrorData	e = {0};

		e.message = reason;
		e.sqlerrcode = sqlerrcode;
		steward_job_set_state(job, JOB_FAILED, &e);
		txn_commit(job);
		return false;
	}
	if (strcmp(r->state, JOB_CANCELLING) == 0)
	{
		cancel_job(job, r->kind);
		return false;
	}
	if (r->kind->execute != NULL && !job->in_worker)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a %s job needs a background worker of its own", job->kind)));
	if (r->login_refused)
	{
		reason = steward_login_refusal(MyDatabaseId, job->login_role, job->id);
		if (reason != NULL)
			fail_job(job, r->kind, refusal_error(reason));
		else
		{
			txn_commit(job);
			steward_launch_request(STEWARD_LAUNCH_JOB, MyDatabaseId, job->login_role, job->id);
		}
		return false;
	}
	steward_job_set_state(job, JOB_RUNNING, NULL);
	if (job->in_worker)
		pgstat_report_activity(STATE_RUNNING, psprintf("pg_steward job %lld: %s", (long long) job->id, job->kind));
	txn_commit(job);
	return true;
}

/* What the job's row says before a batch. */
typedef enum BatchGate
{
	GATE_RUN,					/* run the next batch */
	GATE_HOLD,					/* wait, then look again */
	GATE_STOP					/* paused, cancelled or refused: the run ends */
} BatchGate;

/*
 * Inside the batch's transaction: a pause, a cancel, a refusal or a
 * health hold.  Commits unless the batch is to run.
 */
static BatchGate
before_batch(JobRun *r)
{
	StewardJob *job = r->job;
	char	   *state = steward_job_state(job->id);
	char	   *refusal;
	char	   *hold;

	if (strcmp(state, JOB_PAUSED) == 0)
	{
		steward_exec_as_owner("UPDATE steward.jobs SET worker_pid = NULL WHERE id OPERATOR(pg_catalog.=) $1::bigint",
							  1, (const char *[]) {i64(job->id)});
		txn_commit(job);
		return GATE_STOP;
	}
	if (strcmp(state, JOB_CANCELLING) == 0)
	{
		cancel_job(job, r->kind);
		return GATE_STOP;
	}
	refusal = steward_job_refusal(job);
	if (refusal != NULL)
	{
		fail_job(job, r->kind, refusal_error(refusal));
		return GATE_STOP;
	}
	hold = health_hold_reason(job);
	if (hold != NULL)
	{
		set_hold(job, hold);
		txn_commit(job);
		return GATE_HOLD;
	}
	return GATE_RUN;
}

/*
 * After a batch that failed (its transaction committed): true when it is
 * to be tried again, after a lock timeout (with backoff, a bounded number
 * of times) or a statement timeout (with a smaller batch); otherwise the
 * job fails.
 */
static bool
retry_batch(JobRun *r, ErrorData *edata, int *lock_retries)
{
	StewardJob *job = r->job;

	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && *lock_retries < steward_lock_retries)
	{
		(*lock_retries)++;
		(void) steward_sleep_ms(steward_backoff_ms(*lock_retries), true);
		return true;
	}
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && steward_statement_timer_fired() &&
		job->batch_size > job->min_batch)
	{
		job->batch_size = Max(job->min_batch, job->batch_size / 2);
		return true;
	}
	/*
	 * anything else fails the job, unless it is being cancelled: the batch
	 * failed on what the canceller changed (migrate_abort drops the
	 * columns a backfill writes), and the cancel is what ends it
	 */
	txn_begin(job);
	MemoryContextSwitchTo(r->batchcxt);
	if (strcmp(steward_job_state(job->id), JOB_CANCELLING) == 0)
		cancel_job(job, r->kind);
	else
		fail_job(job, r->kind, edata);
	return false;
}

/*
 * The job's last batch is done: its kind's finish step, then the final
 * state, committed.
 */
static void
finish_job(JobRun *r)
{
	StewardJob *job = r->job;
	ErrorData  *edata = NULL;
	int64		rows = 0;
	StewardBatchResult res;
	bool		ok = run_step(job, r->kind, STEP_FINISH, &rows, &res, &edata);

	steward_job_save_progress(job);
	steward_job_set_state(job, ok ? JOB_SUCCEEDED : JOB_FAILED, ok ? NULL : edata);
	txn_commit(job);
	if (!ok && !job->in_worker)
		ereport(WARNING,
				(errmsg("job %lld failed: %s", (long long) job->id, edata->message)));
}

/*
 * Run the started job's batches, each in a transaction of its own, until
 * it is done, fails, pauses or is cancelled.
 */
static void
run_batches(JobRun *r)
{
	StewardJob *job = r->job;
	bool		first = true;
	int			lock_retries = 0;

	for (;;)
	{
		ErrorData  *edata = NULL;
		int64		rows = 0;
		StewardBatchResult res = BATCH_MORE;
		TimestampTz t0;
		BatchGate	gate;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(r->batchcxt);
		txn_begin(job);
		MemoryContextSwitchTo(r->batchcxt);

		gate = before_batch(r);
		if (gate == GATE_STOP)
			break;
		if (gate == GATE_HOLD)
		{
			(void) steward_sleep_ms(HOLD_RECHECK_MS, true);
			continue;
		}

		t0 = GetCurrentTimestamp();
		if (!run_step(job, r->kind, first ? STEP_START_AND_BATCH : STEP_BATCH, &rows, &res, &edata))
		{
			txn_commit(job);
			if (retry_batch(r, edata, &lock_retries))
				continue;
			break;
		}
		first = false;
		lock_retries = 0;
		job->rows_done += rows;
		job->batches++;
		adapt_batch_size(job, (double) (GetCurrentTimestamp() - t0) / 1000.0, rows);

		if (res == BATCH_DONE)
		{
			finish_job(r);
			break;
		}
		steward_job_save_progress(job);
		txn_commit(job);

		if (job->pause_ms > 0)
			(void) steward_sleep_ms(job->pause_ms, true);
	}
}

/*
 * Run a job until it ends, pauses or is cancelled: claim it, start it, do
 * its work (its kind's own execute, or batches).  In a worker, a job that
 * is not runnable, or is being run elsewhere, is left alone quietly; in a
 * session (job_run) that is an error.
 *
 * login_refused: the launcher found that the job's login role can no
 * longer connect, and started this worker connected as no role (as the
 * dispatcher is).  It claims the job, finishes a cancel, and otherwise
 * fails the job with 42501; it never runs a batch.  When the login role
 * can connect after all, the job is requested again.
 */
void
steward_job_execute(int64 job_id, bool in_worker, bool login_refused)
{
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext jobcxt;
	JobRun	   *r;

	jobcxt = AllocSetContextCreate(TopMemoryContext, "pg_steward job", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(jobcxt);
	r = palloc0(sizeof(JobRun));
	r->jobcxt = jobcxt;
	r->batchcxt = AllocSetContextCreate(jobcxt, "pg_steward batch", ALLOCSET_DEFAULT_SIZES);
	r->login_refused = login_refused;
	r->job = palloc0(sizeof(StewardJob));
	r->job->in_worker = in_worker;

	/* r lives in jobcxt, so what the steps set in it is seen below */
	PG_TRY();
	{
		if (claim_job(r, job_id) && start_job(r))
		{
			if (r->kind->execute != NULL)
				r->kind->execute(r->job);
			else
				run_batches(r);
		}
	}
	PG_FINALLY();
	{
		if (r->locked_rels)
			unlock_relations(r->job);
		if (r->locked_job)
			steward_job_unlock(job_id);
		MemoryContextSwitchTo(callercxt);
		MemoryContextDelete(jobcxt);
	}
	PG_END_TRY();

	if (in_worker)
		pgstat_report_activity(STATE_IDLE, NULL);
}
