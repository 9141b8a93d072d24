/*-------------------------------------------------------------------------
 *
 * deferred.c
 *	  The "statements" job: a migration's statements that refuse a
 *	  transaction block (CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY,
 *	  REINDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY, VACUUM), run by a
 *	  job worker as top-level statements, in order, after the migration's
 *	  transactional part has committed.
 *
 * The checkpoint is the index of the next statement.  Before each
 * statement the job records which indexes of the statement's table are
 * already invalid; when a CREATE INDEX CONCURRENTLY or REINDEX
 * CONCURRENTLY fails, or its run was cut short by a crash, the invalid
 * indexes it left behind are dropped (DROP INDEX CONCURRENTLY), so a
 * later "IF NOT EXISTS" never skips a broken index.  A named CREATE INDEX
 * CONCURRENTLY that finished before a crash is not run twice.
 *
 * When the job ends, the migration it carries becomes completed, or
 * failed with the failing statement's number, SQLSTATE and message.
 * Top-level execution needs a process of its own, so CALL job_run()
 * starts a worker for this kind even without shared_preload_libraries.
 *
 * The kind belongs to the migrations area, since it writes a migration's
 * state; the jobs area runs it as it runs its own kinds, once _PG_init has
 * registered it (steward_register_job_kind, src/jobs/kinds.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "pg_steward.h"
#include "jobs/jobs.h"
#include "migrations/migrations.h"

/* ----------------------------------------------------------------
 * Submission (from migrate_apply, in its transaction)
 * ----------------------------------------------------------------
 */

int64
steward_statements_job_submit(const char *version, List *deferred, int total)
{
	StringInfoData args;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&args);
	appendStringInfoString(&args, "{\"statements\": [");
	foreach(lc, deferred)
	{
		StewardStatement *st = (StewardStatement *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		appendStringInfo(&args, "%s{\"number\": %d, \"kind\": ", first ? "" : ", ", st->number);
		escape_json(&args, st->kind);
		appendStringInfoString(&args, ", \"text\": ");
		escape_json(&args, st->text);
		appendStringInfoChar(&args, '}');
		first = false;
	}
	appendStringInfo(&args, "], \"total\": %d, \"lock_timeout_ms\": %d, \"statement_timeout_ms\": 0}",
					 total, steward_concurrent_lock_timeout_ms);
	return steward_job_submit("statements", InvalidOid, InvalidOid, args.data, version);
}

/* ----------------------------------------------------------------
 * Top-level execution
 * ----------------------------------------------------------------
 */

/*
 * Run one statement as a top-level statement, as exec_simple_query does,
 * with the job owner's privileges.  Manages its own transaction(s).  Its
 * parse and plan trees live in a context of their own, because statements
 * like CREATE INDEX CONCURRENTLY commit (and free) transactions under us.
 */
static void
exec_toplevel(Oid owner, const char *sql)
{
	static MemoryContext stmtcxt = NULL;
	List	   *raw;
	RawStmt    *rs;
	List	   *querytrees;
	List	   *plantrees;
	Portal		portal;
	DestReceiver *receiver;
	QueryCompletion qc;
	Oid			save_userid;
	int			save_sec;

	if (stmtcxt == NULL)
		stmtcxt = AllocSetContextCreate(TopMemoryContext, "pg_steward statement",
										ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(stmtcxt);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	MemoryContextSwitchTo(stmtcxt);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	raw = pg_parse_query(sql);
	if (list_length(raw) != 1)
		elog(ERROR, "expected one statement, got %d", list_length(raw));
	rs = linitial_node(RawStmt, raw);
	pgstat_report_activity(STATE_RUNNING, sql);

	querytrees = pg_analyze_and_rewrite_fixedparams(rs, sql, NULL, 0, NULL);
	plantrees = pg_plan_queries(querytrees, sql, CURSOR_OPT_PARALLEL_OK, NULL);
	portal = CreatePortal("", true, true);
	portal->visible = false;
	PortalDefineQuery(portal, NULL, sql, CreateCommandTag(rs->stmt), plantrees, NULL);
	PortalStart(portal, NULL, 0, InvalidSnapshot);
	receiver = CreateDestReceiver(DestNone);
#if PG_VERSION_NUM >= 180000
	(void) PortalRun(portal, FETCH_ALL, true, receiver, receiver, &qc);
#else
	(void) PortalRun(portal, FETCH_ALL, true, true, receiver, receiver, &qc);
#endif
	receiver->rDestroy(receiver);
	PortalDrop(portal, false);

	SetUserIdAndSecContext(save_userid, save_sec);
	CommitTransactionCommand();
	MemoryContextSwitchTo(TopMemoryContext);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* The table whose indexes a statement builds, or InvalidOid. */
static Oid
statement_table(const char *sql, char **index_name)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	Node	   *stmt = linitial_node(RawStmt, raw)->stmt;

	*index_name = NULL;
	if (IsA(stmt, IndexStmt))
	{
		IndexStmt  *is = (IndexStmt *) stmt;

		*index_name = is->idxname;
		return RangeVarGetRelid(is->relation, NoLock, true);
	}
	if (IsA(stmt, ReindexStmt))
	{
		ReindexStmt *rs = (ReindexStmt *) stmt;
		Oid			relid;

		if (rs->kind == REINDEX_OBJECT_TABLE)
			return RangeVarGetRelid(rs->relation, NoLock, true);
		if (rs->kind == REINDEX_OBJECT_INDEX)
		{
			relid = RangeVarGetRelid(rs->relation, NoLock, true);
			return OidIsValid(relid) ? IndexGetRelation(relid, true) : InvalidOid;
		}
	}
	return InvalidOid;
}

static char *
invalid_indexes(Oid relid)
{
	const char *args[] = {psprintf("%u", relid)};
	bool		isnull;
	char	   *list;

	list = steward_query_text_as_owner(
		"SELECT string_agg(indexrelid::text, ',' ORDER BY indexrelid) "
		"  FROM pg_catalog.pg_index WHERE indrelid OPERATOR(pg_catalog.=) $1::oid AND NOT indisvalid",
		1, args, &isnull);
	return isnull ? "" : list;
}

static bool
in_list(const char *list, Oid oid)
{
	char	   *copy = pstrdup(list ? list : "");
	char	   *tok;
	char	   *save;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if ((Oid) strtoul(tok, NULL, 10) == oid)
			return true;
	return false;
}

/*
 * Drop the invalid indexes of relid that were not invalid before the
 * statement (those in "before").
 */
static void
drop_leftovers(StewardJob *job, Oid relid, const char *before)
{
	char	   *now_invalid;
	char	   *tok;
	char	   *save;
	List	   *drops = NIL;
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	now_invalid = invalid_indexes(relid);
	for (tok = strtok_r(now_invalid, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		Oid			idx = (Oid) strtoul(tok, NULL, 10);
		char	   *name;
		MemoryContext old;

		if (in_list(before, idx) || (name = get_rel_name(idx)) == NULL)
			continue;
		old = MemoryContextSwitchTo(GetMemoryChunkContext(job));
		drops = lappend(drops, psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s",
										quote_qualified_identifier(get_namespace_name(get_rel_namespace(idx)), name)));
		MemoryContextSwitchTo(old);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, drops)
	{
		ereport(LOG, (errmsg("pg_steward job %lld: %s (left invalid by a failed statement)",
							 (long long) job->id, (char *) lfirst(lc))));
		exec_toplevel(job->owner, (char *) lfirst(lc));
	}
}

/* A named CREATE INDEX that already exists and is valid (done before a crash). */
static bool
already_built(Oid relid, const char *index_name)
{
	Oid			idx;
	HeapTuple	tup;
	bool		valid = false;

	if (!OidIsValid(relid) || index_name == NULL)
		return false;
	idx = get_relname_relid(index_name, get_rel_namespace(relid));
	if (!OidIsValid(idx))
		return false;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(idx));
	if (HeapTupleIsValid(tup))
	{
		valid = ((Form_pg_index) GETSTRUCT(tup))->indisvalid;
		ReleaseSysCache(tup);
	}
	return valid;
}

/* Run a statement top-level; on error abort and return it in *edata. */
static bool
try_exec_toplevel(Oid owner, const char *sql, ErrorData **edata)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = false;

	PG_TRY();
	{
		exec_toplevel(owner, sql);
		ok = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		*edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	return ok;
}

/* drop_leftovers, reporting instead of raising a failure of its own */
static void
try_drop_leftovers(StewardJob *job, Oid relid, const char *before)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		drop_leftovers(job, relid, before);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
}

/* ----------------------------------------------------------------
 * The run
 * ----------------------------------------------------------------
 */

typedef struct Stmt
{
	int			number;
	char	   *text;
} Stmt;

static void
finish_migration(StewardJob *job, bool ok, int applied, Stmt *failed, ErrorData *edata)
{
	const char *args[] = {
		job->migration_version, psprintf(INT64_FORMAT, job->id), ok ? "true" : "false",
		psprintf("%d", applied),
		failed ? psprintf("%d", failed->number) : NULL,
		edata ? unpack_sql_state(edata->sqlerrcode) : NULL,
		edata ? edata->message : NULL,
		failed ? failed->text : NULL
	};

	if (job->migration_version == NULL)
		return;
	steward_exec_as_owner("SELECT steward.finish_job_attempt($1, $2::bigint, $3::boolean, $4::integer, "
						  "$5::integer, $6, $7, $8)", lengthof(args), args);
}

static void
statements_execute(StewardJob *job)
{
	MemoryContext jobcxt = GetMemoryChunkContext(job);
	Stmt	   *stmts;
	int			n;
	int			next;
	int			applied = 0;
	char	   *before = job->upper_key;	/* invalid indexes before the current statement */

	/* load the statements, in one query; session settings for the whole run */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	{
		StewardOwnerScope scope;
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(job->id)};

		steward_owner_scope_begin(&scope, true);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT e.s->>'number', e.s->>'text' "
								  "  FROM steward.jobs j, jsonb_array_elements(j.args->'statements') "
								  "       WITH ORDINALITY AS e(s, i) "
								  " WHERE j.id OPERATOR(pg_catalog.=) $1 ORDER BY e.i",
								  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the statements of job %lld", (long long) job->id);
		n = (int) SPI_processed;
		stmts = MemoryContextAllocZero(jobcxt, sizeof(Stmt) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			stmts[i].number = atoi(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			stmts[i].text = MemoryContextStrdup(jobcxt, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		}
		SPI_finish();
		steward_owner_scope_end(&scope);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	SetConfigOption("search_path", job->search_path, PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("lock_timeout", psprintf("%d", job->lock_timeout_ms), PGC_USERSET, PGC_S_SESSION);

	next = job->current_key ? atoi(job->current_key) : 0;
	applied = next;

	while (next < n)
	{
		Stmt	   *st = &stmts[next];
		char	   *state;
		char	   *refusal;
		char	   *index_name;
		Oid			relid;
		ErrorData  *edata = NULL;
		int			retries = 0;
		bool		ok = false;

		CHECK_FOR_INTERRUPTS();

		/* state check, table, and the invalid indexes before the statement */
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		state = steward_job_state(job->id);
		if (strcmp(state, JOB_PAUSED) == 0 || strcmp(state, JOB_CANCELLING) == 0)
		{
			if (strcmp(state, JOB_CANCELLING) == 0)
			{
				ErrorData	e = {0};

				e.sqlerrcode = ERRCODE_QUERY_CANCELED;
				e.message = "cancelled with job_cancel()";
				finish_migration(job, false, applied, st, &e);
				steward_job_set_state(job, JOB_CANCELLED, NULL);
			}
			else
				steward_job_set_state(job, JOB_PAUSED, NULL);
			PopActiveSnapshot();
			CommitTransactionCommand();
			return;
		}
		refusal = steward_job_refusal(job);
		if (refusal != NULL)
		{
			ErrorData	e = {0};

			e.sqlerrcode = ERRCODE_INSUFFICIENT_PRIVILEGE;
			e.message = refusal;
			finish_migration(job, false, applied, st, &e);
			steward_job_set_state(job, JOB_FAILED, &e);
			PopActiveSnapshot();
			CommitTransactionCommand();
			return;
		}
		relid = statement_table(st->text, &index_name);
		if (index_name)
			index_name = MemoryContextStrdup(jobcxt, index_name);
		if (!(job->resumed && before != NULL))
			before = OidIsValid(relid) ? MemoryContextStrdup(jobcxt, invalid_indexes(relid)) : NULL;
		job->current_key = MemoryContextStrdup(jobcxt, psprintf("%d", next));
		job->upper_key = before;
		job->phase = MemoryContextStrdup(jobcxt, psprintf("statement %d: %.60s", st->number, st->text));
		steward_job_save_progress(job);
		PopActiveSnapshot();
		CommitTransactionCommand();

		/* a run cut short before: clean up what it left, skip what it finished */
		if (job->resumed && OidIsValid(relid))
		{
			try_drop_leftovers(job, relid, before);
			StartTransactionCommand();
			ok = already_built(relid, index_name);
			CommitTransactionCommand();
		}
		job->resumed = false;

		while (!ok)
		{
			/* the job's lock_timeout, whatever an earlier statement set */
			steward_begin_lock_timeout(job->lock_timeout_ms);
			ok = try_exec_toplevel(job->owner, st->text, &edata);
			steward_end_lock_timeout();
			if (ok)
				break;
			steward_explain_cancel(edata, "job", 0);
			if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && retries < steward_lock_retries)
			{
				retries++;
				if (OidIsValid(relid))
					try_drop_leftovers(job, relid, before);
				(void) steward_sleep_ms(steward_backoff_ms(retries), true);
				continue;
			}
			break;
		}

		if (!ok)
		{
			if (OidIsValid(relid))
				try_drop_leftovers(job, relid, before);
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			finish_migration(job, false, applied, st, edata);
			steward_job_set_state(job, JOB_FAILED, edata);
			PopActiveSnapshot();
			CommitTransactionCommand();
			return;
		}

		applied++;
		next++;
		before = NULL;
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		job->current_key = MemoryContextStrdup(jobcxt, psprintf("%d", next));
		job->upper_key = NULL;
		job->batches++;
		steward_job_save_progress(job);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	finish_migration(job, true, n, NULL, NULL);
	job->phase = "done";
	steward_job_save_progress(job);
	steward_job_set_state(job, JOB_SUCCEEDED, NULL);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * A job cancelled between runs: the migration it carries fails at the
 * statement the job would have run next, so applying it again resumes there.
 */
static void
statements_cleanup(StewardJob *job)
{
	ErrorData	e = {0};
	Stmt		next = {0};
	const char *args[] = {psprintf(INT64_FORMAT, job->id)};
	char	  **row;
	int			ncols;

	row = steward_query_row_as_owner(
		"SELECT args->'statements'->coalesce(current_key::int, 0)->>'number', "
		"       args->'statements'->coalesce(current_key::int, 0)->>'text', "
		"       coalesce(current_key::int, 0)::text "
		"  FROM steward.jobs WHERE id OPERATOR(pg_catalog.=) $1::bigint", 1, args, &ncols);
	e.sqlerrcode = ERRCODE_QUERY_CANCELED;
	e.message = "cancelled with job_cancel()";
	if (row && row[0])
	{
		next.number = atoi(row[0]);
		next.text = row[1];
	}
	finish_migration(job, false, row && row[2] ? atoi(row[2]) : 0, row && row[0] ? &next : NULL, &e);
}

const StewardJobKind steward_statements_kind = {
	.name = "statements",
	.start = NULL,
	.batch = NULL,
	.finish = NULL,
	.cleanup = statements_cleanup,
	.execute = statements_execute,
	.non_transactional = true,
};
