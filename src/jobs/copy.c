/*-------------------------------------------------------------------------
 *
 * copy.c
 *	  copy_table(source, target, batch_size, swap, key_column, pause,
 *				 target_batch_time, lock_timeout, max_replication_lag)
 *
 * Copies a table into an existing, empty target (a new partitioned table,
 * say) while the application keeps writing to the source, in phases:
 *	  copy	  keyset batches of INSERT INTO target SELECT ... FROM source,
 *			  up to the largest key at the start;
 *	  replay  writes made to the source since submission: a trigger
 *			  created with the job logs every changed key in
 *			  steward.copy_changes, and replay re-syncs those keys (delete
 *			  from target, insert the source's current row) and removes the
 *			  log entries in the same transaction;
 *	  verify  per key range, row counts and a content checksum of source
 *			  and target are compared; a differing range is copied again;
 *	  final	  under a short lock (SHARE on the source; ACCESS EXCLUSIVE on
 *			  both with swap), with lock_timeout and retries: the last log
 *			  entries are replayed, the row counts compared, the trigger
 *			  dropped and, with swap, the tables renamed: the source becomes
 *			  <name>_old and the target takes its name.
 * The trigger exists from submission on (created in the submitting
 * transaction), so no write is lost between submission and copy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

PG_FUNCTION_INFO_V1(steward_copy_table);

#define VERIFY_RANGE_FACTOR 10	/* a verify range is this many batches */

static char *
qualified_rel(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static void
require_priv(Oid relid, AclMode mode, const char *what)
{
	if (pg_class_aclcheck(relid, GetUserId(), mode) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(relid)),
				 errdetail("copy_table runs as its submitter, who needs %s.", what)));
}

/* The source's columns, quoted, comma-separated; all must exist in target. */
static char *
column_list(Oid source, Oid target)
{
	Relation	rel = relation_open(source, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData cols;

	initStringInfo(&cols);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated)
			continue;
		if (get_attnum(target, NameStr(att->attname)) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target table %s has no column \"%s\"", get_rel_name(target), NameStr(att->attname)),
					 errhint("The target needs every column of the source, by name.")));
		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", quote_identifier(NameStr(att->attname)));
	}
	relation_close(rel, AccessShareLock);
	return cols.data;
}

Datum
steward_copy_table(PG_FUNCTION_ARGS)
{
	Oid			source;
	Oid			target;
	int32		batch_size;
	bool		swap;
	char	   *key;
	Oid			keytype;
	char	   *cols;
	StringInfoData args;
	int64		job_id;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source and target must not be null")));
	source = PG_GETARG_OID(0);
	target = PG_GETARG_OID(1);
	batch_size = PG_ARGISNULL(2) ? 10000 : PG_GETARG_INT32(2);
	swap = PG_ARGISNULL(3) ? false : PG_GETARG_BOOL(3);
	if (batch_size < 1 || batch_size > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 1000000")));

	steward_require_read_write("start a table copy");
	if (source == target)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source and target must be different tables")));
	if (get_rel_relkind(source) != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" is not a plain table", get_rel_name(source))));
	if (get_rel_relkind(target) != RELKIND_RELATION && get_rel_relkind(target) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target \"%s\" is not a table", get_rel_name(target))));
	require_priv(source, ACL_SELECT, "SELECT on the source");
	require_priv(source, ACL_TRIGGER, "TRIGGER on the source (its writes are captured by a trigger)");
	if (pg_class_aclcheck(source, GetUserId(), ACL_UPDATE) != ACLCHECK_OK &&
		pg_class_aclcheck(source, GetUserId(), ACL_DELETE) != ACLCHECK_OK &&
		pg_class_aclcheck(source, GetUserId(), ACL_TRUNCATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(source)),
				 errdetail("copy_table runs as its submitter, who needs UPDATE, DELETE or TRUNCATE on the source to lock it in SHARE mode for the final step.")));
	if (swap && (!steward_owns_relation(source) || !steward_owns_relation(target)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("swap => true requires owning both tables"),
				 errdetail("The swap renames %s and %s.", get_rel_name(source), get_rel_name(target))));
	require_priv(target, ACL_INSERT, "INSERT on the target");
	require_priv(target, ACL_DELETE, "DELETE on the target");
	require_priv(target, ACL_SELECT, "SELECT on the target");

	key = steward_key_column(source, PG_ARGISNULL(4) ? NULL : NameStr(*PG_GETARG_NAME(4)), &keytype);
	if (get_attnum(target, key) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("target table %s has no key column \"%s\"", get_rel_name(target), key)));
	cols = column_list(source, target);

	/* the target must start empty: the copy never overwrites */
	{
		const char *a[] = {qualified_rel(target)};
		char	   *sql = psprintf("SELECT 1 FROM %s LIMIT 1", a[0]);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the target");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("target table %s is not empty", get_rel_name(target))));
		SPI_finish();
	}

	initStringInfo(&args);
	appendStringInfoString(&args, "{\"columns\": ");
	escape_json(&args, cols);
	appendStringInfoString(&args, ", \"key_column\": ");
	escape_json(&args, key);
	appendStringInfoString(&args, ", \"key_type\": ");
	escape_json(&args, format_type_be_qualified(keytype));
	appendStringInfo(&args, ", \"swap\": %s, \"batch_size\": %d, \"pause_ms\": %d, \"target_batch_ms\": %d, "
					 "\"lock_timeout_ms\": %d, \"statement_timeout_ms\": %d, \"max_lag_ms\": %d}",
					 swap ? "true" : "false", batch_size,
					 steward_interval_arg_ms(fcinfo, 5, "pause", 0, true),
					 steward_interval_arg_ms(fcinfo, 6, "target_batch_time", 1000, true),
					 steward_interval_arg_ms(fcinfo, 7, "lock_timeout", steward_lock_timeout_ms, false),
					 steward_batch_statement_timeout_ms,
					 steward_interval_arg_ms(fcinfo, 8, "max_replication_lag", steward_max_replication_lag_ms, true));

	job_id = steward_job_submit("copy_table", target, source, args.data, NULL);

	/* capture writes from now on, in this same transaction */
	{
		char	   *sql = psprintf("CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE ON %s "
								   "FOR EACH ROW EXECUTE FUNCTION steward.capture_change(%s, %s)",
								   quote_identifier(psprintf("steward_copy_%lld", (long long) job_id)),
								   qualified_rel(source),
								   quote_literal_cstr(psprintf("%lld", (long long) job_id)),
								   quote_literal_cstr(key));

		(void) steward_query_text_as_owner(sql, 0, NULL, &isnull);
	}
	PG_RETURN_INT64(job_id);
}

/* ----------------------------------------------------------------
 * The kind
 * ----------------------------------------------------------------
 */

typedef struct CopySql
{
	char	   *src;
	char	   *tgt;
	const char *cols;
	const char *key;
	const char *keytype;
} CopySql;

static void
copy_sql(StewardJob *job, CopySql *c)
{
	c->src = qualified_rel(job->source);
	c->tgt = qualified_rel(job->relid);
	c->cols = steward_job_arg_text(job, "columns");
	c->key = quote_identifier(steward_job_arg_text(job, "key_column"));
	c->keytype = steward_job_arg_text(job, "key_type");
}

static char *
keep(StewardJob *job, const char *s)
{
	return s ? MemoryContextStrdup(GetMemoryChunkContext(job), s) : NULL;
}

static void
copy_start(StewardJob *job)
{
	CopySql		c;
	int			rc;

	if (job->phase != NULL)
		return;					/* resumed: the bound is frozen already */
	copy_sql(job, &c);
	rc = SPI_execute(psprintf("SELECT max(%s)::text, count(*) FROM %s", c.key, c.src), true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the key range of job %lld", (long long) job->id);
	job->upper_key = keep(job, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	job->rows_estimate = strtoll(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), NULL, 10);
	steward_job_set_phase(job, "copy");
}

/* Run a query with (from, to, limit) parameters; returns the first row. */
static HeapTuple
exec3(const char *sql, const char *from, const char *to, int limit, TupleDesc *desc)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			rc;

	values[0] = from ? CStringGetTextDatum(from) : (Datum) 0;
	nulls[0] = from ? ' ' : 'n';
	values[1] = to ? CStringGetTextDatum(to) : (Datum) 0;
	nulls[1] = to ? ' ' : 'n';
	values[2] = Int32GetDatum(limit);
	pgstat_report_activity(STATE_RUNNING, sql);
	rc = SPI_execute_with_args(sql, 3, types, values, nulls, false, 0);
	if (rc < 0 || SPI_processed != 1)
		elog(ERROR, "copy step returned no summary");
	*desc = SPI_tuptable->tupdesc;
	return SPI_tuptable->vals[0];
}

/* copy: one keyset batch, from the checkpoint up to the frozen bound */
static bool
copy_batch(StewardJob *job, CopySql *c, int64 *rows)
{
	TupleDesc	desc;
	HeapTuple	tup;
	char	   *last;

	if (job->upper_key == NULL)
		return true;
	tup = exec3(psprintf("WITH b AS (SELECT %s AS steward_k, %s FROM %s "
						 "            WHERE ($1::%s IS NULL OR %s > $1::%s) AND %s <= $2::%s "
						 "            ORDER BY %s LIMIT $3), "
						 "     i AS (INSERT INTO %s (%s) SELECT %s FROM b RETURNING 1) "
						 "SELECT max(steward_k)::text, count(*) FROM b",
						 c->key, c->cols, c->src, c->keytype, c->key, c->keytype, c->key, c->keytype,
						 c->key, c->tgt, c->cols, c->cols),
				job->current_key, job->upper_key, job->batch_size, &desc);
	last = SPI_getvalue(tup, desc, 1);
	*rows = strtoll(SPI_getvalue(tup, desc, 2), NULL, 10);
	if (last)
		job->current_key = keep(job, last);
	return last == NULL || *rows < job->batch_size;
}

/* replay: re-sync a batch of logged keys; true when the log is drained */
static bool
replay_batch(StewardJob *job, CopySql *c, int64 *rows)
{
	const char *args[] = {psprintf(INT64_FORMAT, job->id), psprintf("%d", job->batch_size)};
	char	   *keys;
	bool		isnull;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			n;

	/* take (and delete) the oldest log entries; this commits with the batch */
	keys = steward_query_text_as_owner(
		"WITH d AS (DELETE FROM steward.copy_changes WHERE id = ANY (ARRAY("
		"             SELECT id FROM steward.copy_changes WHERE job_id = $1::bigint "
		"              ORDER BY id LIMIT $2::int)) RETURNING key) "
		"SELECT count(*)::text || ':' || coalesce(array_agg(DISTINCT key)::text, '{}') FROM d",
		2, args, &isnull);
	n = atoi(keys);
	keys = strchr(keys, ':') + 1;
	*rows = n;
	if (n == 0)
		return true;

	/*
	 * Pass the keys as a typed array parameter: a text parameter cast in SQL
	 * would be re-parsed for every row (array_in is only stable) and rule
	 * out the key index.
	 */
	{
		Oid			keytype;
		int32		typmod;
		Oid			infunc;
		Oid			ioparam;

		parseTypeString(c->keytype, &keytype, &typmod, NULL);
		types[0] = get_array_type(keytype);
		getTypeInputInfo(types[0], &infunc, &ioparam);
		values[0] = OidInputFunctionCall(infunc, keys, ioparam, -1);
	}
	if (SPI_execute_with_args(psprintf("DELETE FROM %s WHERE %s = ANY ($1)", c->tgt, c->key),
							  1, types, values, NULL, false, 0) < 0 ||
		SPI_execute_with_args(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s = ANY ($1)",
									   c->tgt, c->cols, c->cols, c->src, c->key),
							  1, types, values, NULL, false, 0) < 0)
		elog(ERROR, "could not replay changes of job %lld", (long long) job->id);
	return n < job->batch_size;
}

/* verify: compare one key range; copy it again if it differs */
static bool
verify_batch(StewardJob *job, CopySql *c, int64 *rows)
{
	int			range = job->batch_size * VERIFY_RANGE_FACTOR;
	TupleDesc	desc;
	HeapTuple	tup;
	char	   *hi;
	bool		same;

	tup = exec3(psprintf("WITH r AS (SELECT max(k)::text AS hi, count(*) AS n FROM "
						 "            (SELECT %s AS k FROM %s WHERE ($1::%s IS NULL OR %s > $1::%s) "
						 "              ORDER BY %s LIMIT $3) s) "
						 "SELECT r.hi, r.n, "
						 "  (SELECT row(count(*), coalesce(sum(hashtextextended(row(%s)::text, 0)), 0)) FROM %s "
						 "    WHERE ($1::%s IS NULL OR %s > $1::%s) AND %s <= r.hi::%s) "
						 "  IS NOT DISTINCT FROM "
						 "  (SELECT row(count(*), coalesce(sum(hashtextextended(row(%s)::text, 0)), 0)) FROM %s "
						 "    WHERE ($1::%s IS NULL OR %s > $1::%s) AND %s <= r.hi::%s) "
						 "FROM r",
						 c->key, c->src, c->keytype, c->key, c->keytype, c->key,
						 c->cols, c->src, c->keytype, c->key, c->keytype, c->key, c->keytype,
						 c->cols, c->tgt, c->keytype, c->key, c->keytype, c->key, c->keytype),
				job->current_key, NULL, range, &desc);
	hi = SPI_getvalue(tup, desc, 1);
	*rows = 0;
	if (hi == NULL)
		return true;			/* past the last key */
	same = strcmp(SPI_getvalue(tup, desc, 3), "t") == 0;
	if (!same)
	{
		/* copy the range again; concurrent changes are in the log anyway */
		Oid			types[2] = {TEXTOID, TEXTOID};
		Datum		values[2];
		char		nulls[2] = {' ', ' '};

		values[0] = job->current_key ? CStringGetTextDatum(job->current_key) : (Datum) 0;
		nulls[0] = job->current_key ? ' ' : 'n';
		values[1] = CStringGetTextDatum(hi);
		if (SPI_execute_with_args(psprintf("DELETE FROM %s WHERE ($1::%s IS NULL OR %s > $1::%s) AND %s <= $2::%s",
										   c->tgt, c->keytype, c->key, c->keytype, c->key, c->keytype),
								  2, types, values, nulls, false, 0) < 0 ||
			SPI_execute_with_args(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s "
										   " WHERE ($1::%s IS NULL OR %s > $1::%s) AND %s <= $2::%s",
										   c->tgt, c->cols, c->cols, c->src,
										   c->keytype, c->key, c->keytype, c->key, c->keytype),
								  2, types, values, nulls, false, 0) < 0)
			elog(ERROR, "could not copy a differing range again");
		ereport(LOG, (errmsg("pg_steward job %lld: range up to key %s differed and was copied again",
							 (long long) job->id, hi)));
		*rows = SPI_processed;
	}
	job->current_key = keep(job, hi);
	return false;
}

/* final: under a short lock, drain the log, compare counts, swap */
static void
final_step(StewardJob *job, CopySql *c)
{
	bool		swap = strcmp(steward_job_arg_text(job, "swap"), "true") == 0;
	int64		rows;
	char	   *n_src;
	char	   *n_tgt;

	if (swap)
	{
		if (SPI_execute(psprintf("LOCK TABLE %s, %s IN ACCESS EXCLUSIVE MODE", c->src, c->tgt), false, 0) < 0)
			elog(ERROR, "could not lock the tables");
	}
	else if (SPI_execute(psprintf("LOCK TABLE %s IN SHARE MODE", c->src), false, 0) < 0)
		elog(ERROR, "could not lock the source");

	while (!replay_batch(job, c, &rows))
		CHECK_FOR_INTERRUPTS();

	/* not read_only: a fresh snapshot, taken under the lock, after the replay */
	if (SPI_execute(psprintf("SELECT (SELECT count(*) FROM %s)::text, (SELECT count(*) FROM %s)::text",
							 c->src, c->tgt), false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count rows");
	n_src = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	n_tgt = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (strcmp(n_src, n_tgt) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("copy verification failed: the source has %s rows, the target %s", n_src, n_tgt)));

	steward_exec_as_owner(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
								   quote_identifier(psprintf("steward_copy_%lld", (long long) job->id)), c->src),
						  0, NULL);
	if (swap)
	{
		char	   *src_name = get_rel_name(job->source);
		char	   *old_name = psprintf("%s_old", src_name);

		if (SPI_execute(psprintf("ALTER TABLE %s RENAME TO %s", c->src, quote_identifier(old_name)), false, 0) < 0 ||
			SPI_execute(psprintf("ALTER TABLE %s RENAME TO %s", c->tgt, quote_identifier(src_name)), false, 0) < 0)
			elog(ERROR, "could not swap the tables");
		steward_job_set_phase(job, psprintf("done: %s rows, swapped (the old table is %s)", n_tgt, old_name));
	}
	else
		steward_job_set_phase(job, psprintf("done: %s rows", n_tgt));
}

static StewardBatchResult
copy_table_batch(StewardJob *job, int64 *rows)
{
	CopySql		c;
	const char *phase = job->phase ? job->phase : "copy";

	copy_sql(job, &c);
	*rows = 0;
	if (strcmp(phase, "copy") == 0)
	{
		if (copy_batch(job, &c, rows))
		{
			steward_job_set_phase(job, "replay");
			job->current_key = NULL;
		}
		return BATCH_MORE;
	}
	if (strcmp(phase, "replay") == 0)
	{
		if (replay_batch(job, &c, rows))
			steward_job_set_phase(job, "verify");
		return BATCH_MORE;
	}
	if (strcmp(phase, "verify") == 0)
	{
		if (verify_batch(job, &c, rows))
		{
			steward_job_set_phase(job, "final");
			job->current_key = NULL;
		}
		return BATCH_MORE;
	}
	final_step(job, &c);
	return BATCH_DONE;
}

/*
 * A copy that ends without success (cancelled, failed): drop the capture
 * trigger from the source and forget the job's change log.
 */
static void
copy_cleanup(StewardJob *job)
{
	const char *args[] = {psprintf(INT64_FORMAT, job->id)};

	if (get_rel_name(job->source) != NULL)
		steward_exec_as_owner(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
									   quote_identifier(psprintf("steward_copy_%lld", (long long) job->id)),
									   qualified_rel(job->source)),
							  0, NULL);
	steward_exec_as_owner("DELETE FROM steward.copy_changes WHERE job_id = $1::bigint", 1, args);
}

const StewardJobKind steward_copy_kind = {
	.name = "copy_table",
	.start = copy_start,
	.batch = copy_table_batch,
	.finish = NULL,
	.cleanup = copy_cleanup,
	.execute = NULL,
	.non_transactional = false,
};
