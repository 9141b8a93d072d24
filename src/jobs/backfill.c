/*-------------------------------------------------------------------------
 *
 * backfill.c
 *	  backfill(relation, set_clause, where_clause, batch_size, key_column,
 *			   pause, target_batch_time, lock_timeout, statement_timeout,
 *			   max_replication_lag)
 *
 * A backfill is a batched UPDATE ... SET set_clause [WHERE where_clause]
 * that walks the table in key order (keyset pagination, never OFFSET): each
 * batch finds the key that ends its batch_size keys, then updates that key
 * range with a plain range predicate.
 * The upper bound is the largest key when the job first starts; it is
 * frozen in the job row, so the job ends on a busy table whose new rows
 * are not its business.  Each batch updates the rows with keys in
 * (checkpoint, next batch_size keys] and moves the checkpoint, in one
 * transaction: after a crash the job resumes after the last committed
 * batch and no row is updated twice.
 *
 * set_clause and where_clause are SQL fragments run as the submitter; they
 * are parsed on submission and must be a bare SET list and a bare boolean
 * expression.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

PG_FUNCTION_INFO_V1(steward_backfill);

typedef struct FragmentContext
{
	const char *argname;
	const char *fragment;
	int			prefix_len;
} FragmentContext;

/* A syntax error in a fragment points into the fragment, not our wrapper. */
static void
fragment_error_context(void *arg)
{
	FragmentContext *fc = (FragmentContext *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(Max(1, pos - fc->prefix_len));
		internalerrquery(fc->fragment);
	}
	errcontext("%s", fc->argname);
}

/* Parse prefix || fragment with the server's parser. */
static List *
parse_fragment(const char *argname, const char *prefix, const char *fragment)
{
	FragmentContext fc = {argname, fragment, (int) strlen(prefix)};
	ErrorContextCallback errcb;
	List	   *raw;

	errcb.callback = fragment_error_context;
	errcb.arg = &fc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	raw = raw_parser(psprintf("%s%s\n", prefix, fragment), RAW_PARSE_DEFAULT);
	error_context_stack = errcb.previous;
	return raw;
}

/* Parse "UPDATE t SET <set_clause>" and insist on nothing but a SET list. */
static void
check_set_clause(const char *set_clause)
{
	List	   *raw = parse_fragment("set_clause", "UPDATE steward_check SET ", set_clause);
	UpdateStmt *u;

	if (list_length(raw) != 1 || !IsA(linitial_node(RawStmt, raw)->stmt, UpdateStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("set_clause must be a single SET list such as \"col = expr, col2 = expr2\"")));
	u = (UpdateStmt *) linitial_node(RawStmt, raw)->stmt;
	if (u->whereClause || u->fromClause || u->returningList || u->withClause)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("set_clause must contain only the SET list"),
				 errhint("Put the row filter in where_clause.")));
}

/* Parse "SELECT 1 WHERE <where_clause>" and insist on a bare condition. */
static void
check_where_clause(const char *where_clause)
{
	List	   *raw = parse_fragment("where_clause", "SELECT 1 WHERE ", where_clause);
	SelectStmt *s;

	if (list_length(raw) != 1 || !IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("where_clause must be a single boolean expression")));
	s = (SelectStmt *) linitial_node(RawStmt, raw)->stmt;
	if (s->groupClause || s->havingClause || s->sortClause || s->limitCount ||
		s->limitOffset || s->lockingClause || s->windowClause || s->withClause ||
		s->fromClause || s->op != SETOP_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("where_clause must be a single boolean expression")));
}

Datum
steward_backfill(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *set_clause;
	char	   *where_clause;
	int32		batch_size;
	char	   *key;
	Oid			keytype;
	StringInfoData args;
	int64		job_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("relation must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("set_clause must not be null")));
	relid = PG_GETARG_OID(0);
	set_clause = steward_optional_text(PG_GETARG_TEXT_PP(1), "set_clause", 0);
	where_clause = steward_optional_text(PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2), "where_clause", 0);
	batch_size = PG_ARGISNULL(3) ? 10000 : PG_GETARG_INT32(3);
	if (batch_size < 1 || batch_size > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 1000000")));

	steward_require_read_write("start a backfill");
	if (get_rel_relkind(relid) != RELKIND_RELATION && get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid))));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE) != ACLCHECK_OK ||
		pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(relid)),
				 errdetail("A backfill runs as its submitter, who needs SELECT and UPDATE on the table.")));

	check_set_clause(set_clause);
	if (where_clause)
		check_where_clause(where_clause);
	key = steward_key_column(relid, PG_ARGISNULL(4) ? NULL : NameStr(*PG_GETARG_NAME(4)), &keytype);

	initStringInfo(&args);
	appendStringInfoString(&args, "{\"set_clause\": ");
	escape_json(&args, set_clause);
	appendStringInfoString(&args, ", \"where_clause\": ");
	if (where_clause)
		escape_json(&args, where_clause);
	else
		appendStringInfoString(&args, "null");
	appendStringInfoString(&args, ", \"key_column\": ");
	escape_json(&args, key);
	appendStringInfoString(&args, ", \"key_type\": ");
	escape_json(&args, format_type_be_qualified(keytype));
	appendStringInfo(&args, ", \"batch_size\": %d, \"pause_ms\": %d, \"target_batch_ms\": %d, "
					 "\"lock_timeout_ms\": %d, \"statement_timeout_ms\": %d, \"max_lag_ms\": %d}",
					 batch_size,
					 steward_interval_arg_ms(fcinfo, 5, "pause", 0, true),
					 steward_interval_arg_ms(fcinfo, 6, "target_batch_time", 1000, true),
					 steward_interval_arg_ms(fcinfo, 7, "lock_timeout", steward_lock_timeout_ms, false),
					 steward_interval_arg_ms(fcinfo, 8, "statement_timeout", steward_batch_statement_timeout_ms, true),
					 steward_interval_arg_ms(fcinfo, 9, "max_replication_lag", steward_max_replication_lag_ms, true));

	job_id = steward_job_submit("backfill", relid, InvalidOid, args.data, NULL);
	PG_RETURN_INT64(job_id);
}

/* ----------------------------------------------------------------
 * The kind
 * ----------------------------------------------------------------
 */

static char *
qualified_rel(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* Freeze the upper bound and estimate the work, on the first run only. */
static void
backfill_start(StewardJob *job)
{
	StewardKey	key;
	char	   *rel = qualified_rel(job->relid);

	if (job->upper_key != NULL || job->current_key != NULL)
		return;
	steward_key_load(job->relid, steward_job_arg_text(job, "key_column"), &key);
	job->upper_key = steward_key_max(&key, rel);
	if (job->upper_key)
		job->upper_key = MemoryContextStrdup(GetMemoryChunkContext(job), job->upper_key);
	job->rows_estimate = steward_key_estimate(&key, job->relid, rel);
}

/*
 * One batch: find the key that ends the next batch_size keys (an index
 * scan over the key), then UPDATE the key range (checkpoint, that key]
 * with a plain range predicate, which the key index serves directly.
 */
static StewardBatchResult
backfill_batch(StewardJob *job, int64 *rows)
{
	const char *where = steward_job_arg_text(job, "where_clause");
	char	   *rel = qualified_rel(job->relid);
	StewardKey	key;
	char	   *sql;
	char	   *last;

	*rows = 0;
	if (job->upper_key == NULL)
		return BATCH_DONE;		/* the table was empty at start */

	steward_key_load(job->relid, steward_job_arg_text(job, "key_column"), &key);
	last = steward_key_next(&key, rel, job->current_key, job->upper_key, job->batch_size, rows);
	if (last == NULL)
		return BATCH_DONE;

	sql = psprintf("UPDATE %s SET %s\n WHERE %s%s%s%s",
				   rel, steward_job_arg_text(job, "set_clause"),
				   steward_key_range(&key, job->current_key, last),
				   where ? " AND (" : "", where ? where : "", where ? "\n)" : "");
	if (steward_key_execute(&key, sql, job->current_key, last, 0, job->in_worker) != SPI_OK_UPDATE)
		elog(ERROR, "backfill batch of job %lld did not update", (long long) job->id);

	job->current_key = MemoryContextStrdup(GetMemoryChunkContext(job), last);
	return (*rows < job->batch_size) ? BATCH_DONE : BATCH_MORE;
}

const StewardJobKind steward_backfill_kind = {
	.name = "backfill",
	.start = backfill_start,
	.batch = backfill_batch,
	.finish = NULL,
	.cleanup = NULL,
	.non_transactional = false,
};
