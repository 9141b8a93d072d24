/*-------------------------------------------------------------------------
 *
 * control.c
 *	  job_wait, job_pause, job_resume, job_cancel and job_run.
 *
 * Control goes through the job row plus a latch: job_pause and job_cancel
 * change the state and, once that commits, set the running worker's latch;
 * the worker acts at its next batch boundary (so within one batch) and
 * also wakes from a pause between batches or a health hold.  Only the
 * job's owner role (or a member of it) and superusers may control a job.
 * job_pause, job_resume and job_cancel differ only in their transitions
 * and what follows them: each goes through control_transition and
 * control_result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "funcapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

PG_FUNCTION_INFO_V1(steward_job_wait);
PG_FUNCTION_INFO_V1(steward_job_wait_proc);
PG_FUNCTION_INFO_V1(steward_job_pause);
PG_FUNCTION_INFO_V1(steward_job_resume);
PG_FUNCTION_INFO_V1(steward_job_cancel);
PG_FUNCTION_INFO_V1(steward_job_run);

#define WAIT_POLL_MS		200
#define WAIT_NOTICE_MS		5000

typedef struct JobRow
{
	bool		changed_here;	/* written by the current transaction */
	char	   *kind;
	char	   *state;
	Oid			owner;
	Oid			login_role;
	int			worker_pid;
	char	   *progress;		/* one line for NOTICEs */
} JobRow;

static bool
read_job(int64 job_id, JobRow *jr)
{
	const char *args[] = {psprintf(INT64_FORMAT, job_id)};
	char	  **row;

	row = steward_query_row_as_owner(
		"SELECT state, owner_role::text, login_role::text, coalesce(worker_pid, 0)::text, "
		"       concat_ws(', ', coalesce(phase, kind), rows_done || ' rows' || "
		"                 coalesce(' of ~' || rows_estimate, ''), batches || ' batches', "
		"                 CASE WHEN rate > 0 THEN round(rate::numeric) || ' rows/s' END, "
		"                 CASE WHEN hold_reason IS NOT NULL THEN 'holding: ' || hold_reason END), "
		"       xmin::text, kind "
		"  FROM steward.jobs WHERE id OPERATOR(pg_catalog.=) $1::bigint",
		1, args, NULL);
	if (row == NULL)
		return false;
	jr->state = row[0];
	jr->owner = (Oid) strtoul(row[1], NULL, 10);
	jr->login_role = (Oid) strtoul(row[2], NULL, 10);
	jr->worker_pid = atoi(row[3]);
	jr->progress = row[4];
	jr->changed_here = TransactionIdIsCurrentTransactionId((TransactionId) strtoul(row[5], NULL, 10));
	jr->kind = row[6];
	return true;
}

static void
require_job(int64 job_id, JobRow *jr, bool control)
{
	if (!read_job(job_id, jr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job %lld does not exist", (long long) job_id)));
	if (control && !has_privs_of_role(GetUserId(), jr->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for job %lld", (long long) job_id),
				 errdetail("Only the role that submitted a job, its members and superusers may control it.")));
}

static bool
is_final(const char *state)
{
	return strcmp(state, JOB_SUCCEEDED) == 0 || strcmp(state, JOB_FAILED) == 0 ||
		strcmp(state, JOB_CANCELLED) == 0;
}

/*
 * Change the state from one of the allowed ones; returns the new state, or
 * NULL when the job is in none of them.
 */
static char *
transition(int64 job_id, const char *to, const char *from_list)
{
	const char *args[] = {psprintf(INT64_FORMAT, job_id), to, from_list};
	bool		isnull;
	char	   *state;

	state = steward_query_text_as_owner(
		"UPDATE steward.jobs SET state = $2, updated_at = clock_timestamp(), "
		"       finished_at = CASE WHEN $2 = 'cancelled' THEN clock_timestamp() END "
		" WHERE id OPERATOR(pg_catalog.=) $1::bigint AND state OPERATOR(pg_catalog.=) ANY (pg_catalog.string_to_array($3, ',')) "
		"RETURNING state",
		lengthof(args), args, &isnull);
	if (state != NULL)
		steward_jobs_changed_at_commit();
	return state;
}

/* A transition that found the job in no allowed state is refused. */
static void
refuse_if_null(const char *state, const char *verb, int64 job_id, const JobRow *jr)
{
	if (state == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s job %lld: it is %s", verb, (long long) job_id, jr->state)));
}

/*
 * The waiting loop of job_wait and job_await.  It reads the job again when
 * a transaction that changed a job's state commits (a worker ending or
 * pausing it, a session controlling it: common/launch.c), and at least
 * every WAIT_POLL_MS.  As a procedure (CALL job_await), every poll is a
 * transaction of its own and no snapshot is held between polls, so the
 * waiter never holds back a CREATE INDEX CONCURRENTLY run by the job.
 * Each poll reads the job into a memory context that the next poll
 * resets, so a long wait takes no more memory than a short one.
 */
/*
 * A kind that runs top-level statements in a process of its own (the
 * statements of a migration, src/migrations/deferred.c).
 */
static bool
runs_toplevel(const char *kind)
{
	const StewardJobKind *k = steward_find_job_kind(kind);

	return k != NULL && k->non_transactional;
}

static char *
wait_for_job(int64 job_id, int timeout_ms, bool in_procedure)
{
	JobRow		jr;
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz last_notice = start;
	char	   *last_progress = NULL;
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext pollcxt;
	char	   *state;

	require_job(job_id, &jr, false);
	if (jr.changed_here && !is_final(jr.state))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job %lld cannot start before this transaction commits", (long long) job_id),
				 errdetail("It was submitted or changed in this transaction, and a worker cannot see it yet."),
				 errhint("COMMIT, then call job_wait(%lld).", (long long) job_id)));
	if (!in_procedure && runs_toplevel(jr.kind) && !is_final(jr.state))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("SELECT job_wait(%lld) would hold up the job it waits for", (long long) job_id),
				 errdetail("Job %lld runs statements such as CREATE INDEX CONCURRENTLY, which wait until every older snapshot is gone, including this query's.",
						   (long long) job_id),
				 errhint("Wait with CALL job_await(%lld), which holds no snapshot while it waits.", (long long) job_id)));

	/* in one snapshot for the whole transaction, the job would never move */
	if (!in_procedure && IsolationUsesXactSnapshot() && !is_final(jr.state) &&
		strcmp(jr.state, JOB_PAUSED) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("job_wait cannot see job %lld progress in a %s transaction", (long long) job_id,
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("The transaction reads the job's row in the snapshot it took first, where the job stays %s.",
						   jr.state),
				 errhint("Wait with CALL job_await(%lld), whose every poll is a transaction of its own, or in a READ COMMITTED transaction.",
						 (long long) job_id)));

	pollcxt = AllocSetContextCreate(callercxt, "job_wait poll", ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		/* a change committed from here on ends the sleep below */
		steward_jobs_changed_prepare();
		MemoryContextReset(pollcxt);
		MemoryContextSwitchTo(pollcxt);
		if (!read_job(job_id, &jr))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("job %lld does not exist", (long long) job_id)));
		if (is_final(jr.state) || strcmp(jr.state, JOB_PAUSED) == 0)
			break;
		if (strcmp(jr.state, JOB_QUEUED) == 0 && !steward_jobs_preloaded())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job %lld is queued, but pg_steward's background worker is not running",
							(long long) job_id),
					 errhint("Run it with CALL job_run(%lld), or add pg_steward to shared_preload_libraries.",
							 (long long) job_id)));

		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(last_notice, now, WAIT_NOTICE_MS) &&
			(last_progress == NULL || strcmp(last_progress, jr.progress) != 0))
		{
			ereport(NOTICE, (errmsg("job %lld %s: %s", (long long) job_id, jr.state, jr.progress)));
			last_notice = now;
			if (last_progress)
				pfree(last_progress);
			last_progress = MemoryContextStrdup(callercxt, jr.progress);
		}
		if (timeout_ms >= 0 && TimestampDifferenceExceeds(start, now, timeout_ms))
		{
			ereport(NOTICE,
					(errmsg("job %lld is still %s after the timeout", (long long) job_id, jr.state)));
			break;
		}
		MemoryContextSwitchTo(callercxt);
		if (in_procedure)
		{
			SPI_commit();
			InvalidateCatalogSnapshot();
		}
		steward_jobs_changed_sleep(WAIT_POLL_MS);
	}
	steward_jobs_changed_done();
	MemoryContextSwitchTo(callercxt);
	if (last_progress)
		pfree(last_progress);
	if (strcmp(jr.state, JOB_FAILED) == 0)
		ereport(NOTICE, (errmsg("job %lld failed", (long long) job_id),
						 errhint("SELECT last_error FROM job_status(%lld) tells why.", (long long) job_id)));
	state = MemoryContextStrdup(TopTransactionContext, jr.state);
	MemoryContextDelete(pollcxt);
	return state;
}

static int
timeout_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("job_id must not be null")));
	return PG_ARGISNULL(1) ? -1 : steward_interval_to_ms(PG_GETARG_INTERVAL_P(1), "timeout", true);
}

/*
 * SELECT job_wait(job_id, timeout) returns text
 */
Datum
steward_job_wait(PG_FUNCTION_ARGS)
{
	int			timeout_ms = timeout_arg(fcinfo);

	PG_RETURN_TEXT_P(cstring_to_text(wait_for_job(PG_GETARG_INT64(0), timeout_ms, false)));
}

/*
 * CALL job_await(job_id, timeout, INOUT state)
 */
Datum
steward_job_wait_proc(PG_FUNCTION_ARGS)
{
	int			timeout_ms = timeout_arg(fcinfo);
	int64		job_id = PG_GETARG_INT64(0);
	TupleDesc	tupdesc;
	Datum		values[1];
	bool		nulls[1] = {false};
	char	   *state;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		((CallContext *) fcinfo->context)->atomic)
		state = wait_for_job(job_id, timeout_ms, false);
	else
	{
		if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect_ext failed");
		state = wait_for_job(job_id, timeout_ms, true);
		SPI_finish();
	}

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = CStringGetTextDatum(state);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* what follows a control's transition, at commit */
#define CONTROL_WAKE		0x01	/* wake the job's worker */
#define CONTROL_REQUEST		0x02	/* request a run (when preloaded) */
#define CONTROL_TELL_RUN	0x04	/* not preloaded: tell how to run it */

/*
 * What pause, resume and cancel share, first: a server that can write, the
 * job and the caller's right to control it, and one transition from the
 * states in from_list (NULL: the job is in none of them).
 */
static char *
control_transition(int64 job_id, const char *verb, JobRow *jr, const char *to,
				   const char *from_list)
{
	steward_require_read_write(psprintf("%s a job", verb));
	require_job(job_id, jr, true);
	return transition(job_id, to, from_list);
}

/*
 * And last: a job found in no allowed state is refused; otherwise what
 * follows the transition (CONTROL_*), and the new state as the result.
 */
static Datum
control_result(int64 job_id, const char *verb, const JobRow *jr, char *state, int follow)
{
	refuse_if_null(state, verb, job_id, jr);
	if (follow & CONTROL_WAKE)
		steward_wake_at_commit(jr->worker_pid);
	if ((follow & CONTROL_REQUEST) && steward_jobs_preloaded())
		steward_launch_at_commit(STEWARD_LAUNCH_JOB, jr->login_role, job_id);
	else if (follow & CONTROL_TELL_RUN)
		ereport(NOTICE,
				(errmsg("job %lld is queued again", (long long) job_id),
				 errhint("Run it with CALL job_run(%lld).", (long long) job_id)));
	PG_RETURN_TEXT_P(cstring_to_text(state));
}

/*
 * job_pause(job_id): a queued or running job stops after its current batch.
 */
Datum
steward_job_pause(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	JobRow		jr;
	char	   *state = control_transition(job_id, "pause", &jr, JOB_PAUSED, "queued,running");

	return control_result(job_id, "pause", &jr, state, CONTROL_WAKE);
}

/*
 * job_resume(job_id): a paused job is queued again and resumes from its
 * checkpoint.
 */
Datum
steward_job_resume(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	JobRow		jr;
	char	   *state = control_transition(job_id, "resume", &jr, JOB_QUEUED, "paused");

	return control_result(job_id, "resume", &jr, state, CONTROL_REQUEST | CONTROL_TELL_RUN);
}

/*
 * job_cancel(job_id): a queued or paused job is cancelled at once; a
 * running one after its current batch (it is "cancelling" until then).
 */
Datum
steward_job_cancel(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	JobRow		jr;
	char	   *state = control_transition(job_id, "cancel", &jr, JOB_CANCELLED, "queued,paused");

	if (state != NULL)
		steward_job_cleanup(job_id);	/* what a cancelled run would clean up */
	else
		state = transition(job_id, JOB_CANCELLING, "running");

	/* a crashed run has no worker: the next run finishes the cancel */
	return control_result(job_id, "cancel", &jr, state,
						  state != NULL && strcmp(state, JOB_CANCELLING) == 0
						  ? CONTROL_WAKE | CONTROL_REQUEST : 0);
}

/*
 * CALL job_run(job_id): run a queued job in this session, batch by batch,
 * each batch committed on its own.
 */
Datum
steward_job_run(PG_FUNCTION_ARGS)
{
	int64		job_id;
	JobRow		jr;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("job_id must not be null")));
	job_id = PG_GETARG_INT64(0);
	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		((CallContext *) fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("job_run cannot run inside a transaction block"),
				 errhint("Each batch commits on its own: CALL job_run(%lld) outside BEGIN ... COMMIT.",
						 (long long) job_id)));
	steward_require_read_write("run a job");
	if (XactIsoLevel != XACT_READ_COMMITTED || DefaultXactIsoLevel != XACT_READ_COMMITTED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("job_run needs READ COMMITTED transactions"),
				 errdetail("A job's batches read the writes committed before each of their statements; in a snapshot kept for the whole transaction a copy would miss writes."),
				 errhint("SET default_transaction_isolation = 'read committed' in this session, then CALL job_run(%lld) again.",
						 (long long) job_id)));
	require_job(job_id, &jr, true);

	if (runs_toplevel(jr.kind))
	{
		/* top-level statements need a process of their own: start one, wait */
		BackgroundWorkerHandle *handle;

		/*
		 * Commit first, so the worker sees the job even if this transaction
		 * submitted it, and wait holding no snapshot: CREATE INDEX
		 * CONCURRENTLY and its kin wait for every older snapshot, this
		 * session's included.
		 */
		if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect_ext failed");
		SPI_commit();
		InvalidateCatalogSnapshot();
		if (!steward_job_start_worker(jr.login_role, job_id, -1, &handle))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start a background worker for job %lld", (long long) job_id),
					 errhint("Free a slot in max_worker_processes.")));
		if (WaitForBackgroundWorkerShutdown(handle) == BGWH_POSTMASTER_DIED)
			ereport(FATAL,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("postmaster exited while job %lld was running", (long long) job_id)));
		SPI_finish();
	}
	else
	{
		if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect_ext failed");
		steward_job_execute(job_id, false, false);
		SPI_finish();
	}

	if (read_job(job_id, &jr))
		ereport(NOTICE, (errmsg("job %lld %s: %s", (long long) job_id, jr.state, jr.progress)));
	PG_RETURN_VOID();
}
