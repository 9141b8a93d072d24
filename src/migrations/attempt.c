/*-------------------------------------------------------------------------
 *
 * attempt.c
 *	  Runs an attempt: a migration's statements, atomically, under the
 *	  migration's lock_timeout and statement_timeout, retried after lock
 *	  timeouts, with every outcome written down.
 *
 * An attempt goes like this:
 *	  1. the recorder commits the in_progress marker carrying the caller's
 *		 top-level transaction id (steward.begin_attempt; record_start);
 *	  2. the statements run one by one in a subtransaction of the caller's
 *		 transaction, each under a per-statement timer; a lock timeout
 *		 rolls the subtransaction back and, after a jittered exponential
 *		 backoff, runs the whole migration again, a bounded number of times
 *		 (run_with_retries);
 *	  3a. success: steward.finish_attempt runs in the caller's transaction,
 *		 so status and schema commit (or roll back) together (record_success);
 *	  3b. failure: the subtransaction is rolled back, the recorder commits
 *		 the failure (steward.fail_attempt), and the caller gets an error
 *		 carrying the failing statement's SQLSTATE, number and text
 *		 (record_failure, raise_failure).
 * If the caller's transaction never commits (kill -9, ROLLBACK), step 1's
 * marker names an aborted transaction and the attempt reads as aborted.
 *
 * SET commands inside a migration end with it: the statements run inside
 * their own GUC nest level, which is unwound afterwards.  The migration's
 * lock_timeout and statement_timeout hold whatever its SQL sets
 * (steward_begin_lock_timeout and the statement timer, common/subxact.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "pg_steward.h"
#include "jobs/jobs.h"
#include "migrations/migrations.h"
#include "review/review.h"

#define SHOWN_STATEMENT_LEN 1000

/* Set while a migration's statements run: no nested migrations. */
static bool attempt_running = false;

/*
 * Migration SQL must not call pg_steward's migration functions.
 */
void
steward_refuse_nested(void)
{
	if (attempt_running)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_steward's migration functions cannot be called from inside a migration")));
}

/* Set while migrate_plan runs a migration's statements. */
void
steward_mark_running(bool running)
{
	attempt_running = running;
}

/* ----------------------------------------------------------------
 * Parsing
 * ----------------------------------------------------------------
 */

/*
 * Statements that cannot run inside a transaction block, and so not inside
 * SELECT migrate_apply(...).  Returns their name, or NULL.  *deferrable is
 * set for those a job runs after the transactional part of a migration.
 */
static const char *
non_transactional_kind(Node *stmt, bool *deferrable)
{
	*deferrable = true;
	switch (nodeTag(stmt))
	{
		case T_IndexStmt:
			return ((IndexStmt *) stmt)->concurrent ? "CREATE INDEX CONCURRENTLY" : NULL;
		case T_DropStmt:
			return ((DropStmt *) stmt)->concurrent ? "DROP INDEX CONCURRENTLY" : NULL;
		case T_ReindexStmt:
			{
				ListCell   *lc;

				foreach(lc, ((ReindexStmt *) stmt)->params)
				{
					DefElem    *opt = (DefElem *) lfirst(lc);

					if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
						return "REINDEX CONCURRENTLY";
				}
				return NULL;
			}
		case T_AlterTableStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterTableStmt *) stmt)->cmds)
				{
					AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

					if (cmd->subtype == AT_DetachPartition &&
						((PartitionCmd *) cmd->def)->concurrent)
						return "DETACH PARTITION CONCURRENTLY";
				}
				return NULL;
			}
		case T_VacuumStmt:
			return ((VacuumStmt *) stmt)->is_vacuumcmd ? "VACUUM" : NULL;
		default:
			break;
	}
	*deferrable = false;
	switch (nodeTag(stmt))
	{
		case T_CreatedbStmt:
			return "CREATE DATABASE";
		case T_DropdbStmt:
			return "DROP DATABASE";
		case T_AlterSystemStmt:
			return "ALTER SYSTEM";
		case T_CreateTableSpaceStmt:
			return "CREATE TABLESPACE";
		case T_DropTableSpaceStmt:
			return "DROP TABLESPACE";
		default:
			return NULL;
	}
}

static char *
shown_statement(const char *text)
{
	return steward_shown_text(text, -1, SHOWN_STATEMENT_LEN);
}

/*
 * Split a migration's SQL into statements with the server's own parser.
 * Syntax errors, transaction control, COPY from or to the client and
 * statements that refuse a transaction block are refused here, before
 * anything runs or is recorded.
 */
List *
steward_parse_migration(const char *version, const char *argname, const char *sql,
						bool allow_deferred)
{
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext parsecxt;
	List	   *raw;
	List	   *result = NIL;
	StewardTxClass *txclass;
	const char **txwhy;
	ListCell   *lc;
	int			n = 0;

	/* the parse tree goes once the statements are cut out of the text */
	parsecxt = AllocSetContextCreate(callercxt, "migration parse", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(parsecxt);
	raw = steward_parse_sql_arg(sql, psprintf("%s of migration \"%s\"", argname, version));
	txclass = steward_classify_transaction_control(raw, &txwhy);
	MemoryContextSwitchTo(callercxt);

	foreach(lc, raw)
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		StewardStatement *st = palloc(sizeof(StewardStatement));
		const char *kind;
		bool		deferrable;

		CHECK_FOR_INTERRUPTS();
		st->number = ++n;
		st->text = steward_statement_text(sql, rs->stmt_location, rs->stmt_len);
		st->deferred = false;
		st->kind = NULL;

		st->absorbed = txclass[n - 1] == STEWARD_TX_WRAPPER;
		if (txclass[n - 1] == STEWARD_TX_REFUSED)
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("%s of migration \"%s\" contains transaction control that cannot run inside it", argname, version),
					 errdetail("Statement %d: %s: %s", n, txwhy[n - 1], shown_statement(st->text)),
					 errhint("A migration runs as one transaction. BEGIN ... COMMIT around the whole file is absorbed; remove any other transaction control.")));
		if (IsA(rs->stmt, CopyStmt) && ((CopyStmt *) rs->stmt)->filename == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s of migration \"%s\" must not copy from or to the client", argname, version),
					 errdetail("Statement %d: %s", n, shown_statement(st->text)),
					 errhint("Load the data with INSERT ... SELECT, or with COPY before or after the migration.")));
		kind = non_transactional_kind(rs->stmt, &deferrable);
		if (kind != NULL && deferrable && allow_deferred)
		{
			st->deferred = true;
			st->kind = kind;
		}
		else if (kind != NULL && deferrable)
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("%s cannot run inside %s", kind, argname),
					 errdetail("Statement %d of %s of migration \"%s\": %s",
							   n, argname, version, shown_statement(st->text)),
					 errhint("Only up_sql may contain statements that refuse a transaction block; pg_steward runs them in a background job.")));
		else if (kind != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("%s cannot run inside migrate_apply", kind),
					 errdetail("Statement %d of %s of migration \"%s\": %s",
							   n, argname, version, shown_statement(st->text)),
					 errhint("%s cannot run inside a transaction block. Run it as a top-level statement of its own, outside migrate_apply.", kind)));

		result = lappend(result, st);
	}
	MemoryContextDelete(parsecxt);

	if (result == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s of migration \"%s\" contains no SQL statement", argname, version)));
	return result;
}

/* ----------------------------------------------------------------
 * Timeouts
 * ----------------------------------------------------------------
 */

/*
 * Per-call overrides (NULL: the GUC) into the attempt.
 */
void
steward_resolve_timeouts(StewardAttempt *a, Interval *lock_timeout,
						 Interval *statement_timeout, bool retries_null,
						 int32 retries)
{
	a->lock_timeout_ms = lock_timeout
		? steward_interval_to_ms(lock_timeout, "lock_timeout", false)
		: steward_lock_timeout_ms;
	a->statement_timeout_ms = statement_timeout
		? steward_interval_to_ms(statement_timeout, "statement_timeout", true)
		: steward_statement_timeout_ms;
	if (retries_null)
		a->lock_retries = steward_lock_retries;
	else if (retries < 0 || retries > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lock_retries must be between 0 and 100")));
	else
		a->lock_retries = retries;
}

/* ----------------------------------------------------------------
 * Running
 * ----------------------------------------------------------------
 */

typedef struct RunOnce
{
	StewardAttempt *a;
	int			current;		/* statement running, 0: none */
} RunOnce;

/*
 * Run one statement of a migration through SPI (connected by the caller)
 * under its statement timer, with the runtime guards watching it when
 * guarded.  migrate_plan runs statements the same way.  Rows a statement
 * returns are discarded as they come, not kept until the migration ends.
 */
void
steward_execute_statement(StewardStatement *st, int timeout_ms, bool guarded)
{
	SPIExecuteOptions options = {0};
	int			rc;

	options.dest = None_Receiver;
	if (guarded)
		steward_guard_statement(st->text, st->number);
	steward_arm_statement_timer(timeout_ms);
	rc = SPI_execute_extended(st->text, &options);
	steward_disarm_statement_timer();
	steward_guard_end();
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("statement cannot run inside a migration: %s",
						SPI_result_code_string(rc))));
}

/* The body of run_once, inside its subtransaction. */
static void
run_statements(void *arg)
{
	RunOnce    *r = (RunOnce *) arg;
	StewardAttempt *a = r->a;
	int			nestlevel = NewGUCNestLevel();
	ListCell   *lc;
	Oid			save_userid = InvalidOid;
	int			save_sec_context = 0;

	steward_begin_lock_timeout(a->lock_timeout_ms);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	steward_run_checks(a->pre_checks, "pre-check");
	if (a->guarded)
		steward_guard_begin(a->allow_unsafe, false, a->accepted_rewrites);

	/*
	 * A rollback runs its down_sql as the role that stored it, never with
	 * the caller's (possibly greater) privileges.  Only the statements run
	 * as that role; an error aborts the subtransaction, which restores the
	 * user id.
	 */
	if (OidIsValid(a->run_as))
	{
		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(a->run_as,
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	}

	foreach(lc, a->statements)
	{
		StewardStatement *st = (StewardStatement *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (st->deferred || st->absorbed)
			continue;			/* run by a job after this transaction, or absorbed */
		r->current = st->number;
		steward_execute_statement(st, a->statement_timeout_ms, a->guarded);
		a->applied++;
	}
	r->current = 0;

	if (OidIsValid(a->run_as))
		SetUserIdAndSecContext(save_userid, save_sec_context);
	steward_run_checks(a->post_checks, "post-check");

	SPI_finish();
	steward_end_lock_timeout();
	AtEOXact_GUC(false, nestlevel);
}

/*
 * Run all statements once in a subtransaction.  On failure the
 * subtransaction is rolled back, *edata_out holds the error and
 * *failed_out the number of the failing statement (0: none).
 */
static bool
run_once(StewardAttempt *a, ErrorData **edata_out, int *failed_out)
{
	RunOnce		r = {a, 0};
	bool		ok;

	a->applied = 0;
	attempt_running = true;
	ok = steward_run_subxact(run_statements, &r, "migration", a->statement_timeout_ms, edata_out);
	attempt_running = false;
	steward_guard_end();
	*failed_out = ok ? 0 : r.current;
	return ok;
}

static const char *
attempt_noun(const StewardAttempt *a)
{
	return strcmp(a->op, "rollback") == 0
		? psprintf("rollback of migration \"%s\"", a->version)
		: psprintf("migration \"%s\"", a->version);
}

/*
 * Step 1: the recorder commits the in_progress marker carrying the
 * caller's top-level transaction id xid.
 */
static void
record_start(StewardAttempt *a, const char *xid)
{
	char		total[16];
	char	   *recorder_error = NULL;

	snprintf(total, sizeof(total), "%d", list_length(a->statements));
	{
		const char *args[] = {a->op, a->version, a->description, a->checksum,
		a->up_sql, a->down_sql, total, xid, a->who, a->review};

		if (!steward_record_autonomous(
									   "SELECT steward.begin_attempt($1, $2, $3, $4, $5, $6, "
									   "$7::integer, $8::xid8, $9::jsonb, $10::jsonb)",
									   lengthof(args), args, &recorder_error))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not record the start of %s: %s",
							attempt_noun(a), recorder_error),
					 errdetail("Nothing was changed."),
					 errhint("pg_steward records every attempt through a short-lived background worker; it needs a free slot in max_worker_processes.")));
	}
}

/*
 * Step 2: run the statements, again after each lock timeout (with backoff,
 * a->lock_retries times at most).  An attempt the lint refused runs
 * nothing and fails.  On failure *edata_out holds the error and
 * *failed_out the number of the failing statement (0: none).
 */
static bool
run_with_retries(StewardAttempt *a, ErrorData **edata_out, int *failed_out)
{
	ErrorData  *edata = NULL;
	bool		ok;

	a->retries = 0;
	if (a->refusal)
	{
		/* the lint found errors and allow_unsafe is off: run nothing */
		edata = palloc0(sizeof(ErrorData));
		edata->sqlerrcode = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		edata->message = pstrdup(a->refusal);
		edata->detail = a->refusal_detail ? pstrdup(a->refusal_detail) : NULL;
		a->applied = 0;
		*failed_out = 0;
		*edata_out = edata;
		return false;
	}
	for (;;)
	{
		int			delay;

		ok = run_once(a, &edata, failed_out);
		if (ok || edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE ||
			a->retries >= a->lock_retries)
			break;

		a->retries++;
		delay = steward_backoff_ms(a->retries);
		ereport(NOTICE,
				(errmsg("lock timeout at statement %d of %s; retry %d of %d in %d ms",
						*failed_out, attempt_noun(a), a->retries, a->lock_retries, delay)));
		(void) steward_sleep_ms(delay, false);
		FreeErrorData(edata);
		edata = NULL;
	}
	*edata_out = edata;
	return ok;
}

/*
 * Step 3a: success, written in the caller's transaction: the attempt is
 * finished, or handed off to a job that runs its deferred statements.
 */
static void
record_success(StewardAttempt *a, const char *xid, const char *applied, const char *retries)
{
	List	   *deferred = NIL;
	ListCell   *lc;

	foreach(lc, a->statements)
		if (((StewardStatement *) lfirst(lc))->deferred)
			deferred = lappend(deferred, lfirst(lc));

	a->job_id = 0;
	if (deferred == NIL)
	{
		const char *args[] = {a->version, xid, applied, retries, a->who};

		steward_exec_as_owner("SELECT steward.finish_attempt($1, $2::xid8, $3::integer, "
							  "$4::integer, $5::jsonb)",
							  lengthof(args), args);
	}
	else
	{
		const char *args[5] = {a->version, xid, applied, retries, NULL};

		a->job_id = steward_statements_job_submit(a->version, deferred, list_length(a->statements));
		args[4] = psprintf(INT64_FORMAT, a->job_id);
		steward_exec_as_owner("SELECT steward.handoff_attempt($1, $2::xid8, $3::integer, "
							  "$4::integer, $5::bigint)",
							  lengthof(args), args);
	}
}

/*
 * Step 3b: failure.  The recorder commits it in a transaction of its own
 * (the caller's is about to roll back), then the error is raised with the
 * failing statement (st, number failed; NULL, 0: none).
 */
static void
record_failure(StewardAttempt *a, const char *xid, const char *applied, const char *retries,
			   ErrorData *edata, StewardStatement *st, int failed)
{
	char		stmtno[16];
	char	   *recorder_error = NULL;
	const char *args[] = {a->version, xid, NULL,
		unpack_sql_state(edata->sqlerrcode), edata->message, edata->detail,
	st ? st->text : NULL, applied, retries, a->who};

	snprintf(stmtno, sizeof(stmtno), "%d", failed);
	if (failed > 0)
		args[2] = stmtno;

	if (!steward_record_autonomous(
								   "SELECT steward.fail_attempt($1, $2::xid8, $3::integer, "
								   "$4, $5, $6, $7, $8::integer, $9::integer, $10::jsonb)",
								   lengthof(args), args, &recorder_error))
		ereport(WARNING,
				(errmsg("could not record the failure of %s: %s",
						attempt_noun(a), recorder_error),
				 errdetail("The attempt will show as aborted.")));
}

/* Step 3b, continued: the error the caller gets. */
static void
raise_failure(StewardAttempt *a, ErrorData *edata, StewardStatement *st, int failed)
{
	const char *hint;

	if (a->refusal)
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("%s was not applied: %s", attempt_noun(a), edata->message),
				 edata->detail ? errdetail("%s", edata->detail) : 0,
				 errhint("Nothing was changed; the refusal is recorded, see migrate_history('%s'). "
						 "Change the migration as each finding suggests, silence a finding you accept with a comment "
						 "\"-- steward:allow <rule> <reason>\" in front of its statement "
						 "or, without changing the SQL, with allow => ARRAY['<rule> <reason>'], "
						 "or pass allow_unsafe => true.", a->version)));
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		hint = psprintf("Nothing was changed. The lock was still taken after %d retries; "
						"pg_blocking_pids() shows who holds it. The attempt is recorded; see migrate_history('%s').",
						a->retries, a->version);
	else if (strcmp(a->op, "rollback") == 0)
		hint = psprintf("Nothing was changed; the migration is still applied. "
						"The attempt is recorded; see migrate_history('%s').", a->version);
	else
		hint = psprintf("Nothing was changed. The attempt is recorded; see migrate_history('%s').",
						a->version);

	if (edata->hint)
		hint = psprintf("%s\n%s", edata->hint, hint);
	if (st == NULL)
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("%s failed: %s", attempt_noun(a), edata->message),
				 edata->detail ? errdetail("%s", edata->detail) : 0,
				 errhint("%s", hint)));
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("%s failed at statement %d of %d: %s",
					attempt_noun(a), failed, list_length(a->statements), edata->message),
			 edata->detail
			 ? errdetail("Statement %d: %s\n%s", failed, shown_statement(st->text), edata->detail)
			 : errdetail("Statement %d: %s", failed, shown_statement(st->text)),
			 errhint("%s", hint)));
}

/*
 * Run an attempt end to end (see the file header).  Returns normally on
 * success; on failure records it and raises the statement's error.
 */
void
steward_run_attempt(StewardAttempt *a)
{
	char		xid[32];
	char		applied[16];
	char		retries[16];
	ErrorData  *edata = NULL;
	int			failed = 0;
	bool		ok;
	StewardStatement *st;

	steward_refuse_nested();

	snprintf(xid, sizeof(xid), UINT64_FORMAT,
			 U64FromFullTransactionId(GetTopFullTransactionId()));
	record_start(a, xid);

	ok = run_with_retries(a, &edata, &failed);
	snprintf(applied, sizeof(applied), "%d", a->applied);
	snprintf(retries, sizeof(retries), "%d", a->retries);
	if (ok)
	{
		record_success(a, xid, applied, retries);
		return;
	}

	st = failed > 0 ? (StewardStatement *) list_nth(a->statements, failed - 1) : NULL;
	record_failure(a, xid, applied, retries, edata, st, failed);
	raise_failure(a, edata, st, failed);
}

/*
 * Resume a migration whose job failed: a new job runs its deferred
 * statements from the failed one on; the transactional part is applied
 * already.  Runs in the caller's transaction.
 */
void
steward_resume_deferred(StewardAttempt *a, int from_statement)
{
	List	   *deferred = NIL;
	ListCell   *lc;
	const char *args[3];

	foreach(lc, a->statements)
	{
		StewardStatement *st = (StewardStatement *) lfirst(lc);

		if (st->deferred && st->number >= from_statement)
			deferred = lappend(deferred, st);
	}
	if (deferred == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" has no statement left to resume", a->version),
				 errhint("If its statements were completed by hand, record that with migrate_repair('%s', reason => '...', status => 'completed').",
						 a->version)));

	a->job_id = steward_statements_job_submit(a->version, deferred, list_length(a->statements));
	args[0] = a->version;
	args[1] = psprintf(INT64_FORMAT, a->job_id);
	args[2] = steward_capture_who();
	steward_exec_as_owner("SELECT steward.resume_job_attempt($1, $2::bigint, $3::jsonb)", 3, args);
}
