/*-------------------------------------------------------------------------
 *
 * copy.c
 *	  copy_table(source, target, batch_size, swap, key_column, pause,
 *				 target_batch_time, lock_timeout, max_replication_lag)
 *
 * Copies a table into an existing, empty target (a new partitioned table,
 * say) while the application keeps writing to the source, in phases:
 *	  copy	  keyset batches of INSERT INTO target SELECT ... FROM source,
 *			  up to the largest key at the start, each after a replay of
 *			  the log written so far (below) that skips the keys the copy
 *			  has yet to reach;
 *	  replay  writes made to the source since submission: a trigger
 *			  created with the job logs every changed key in
 *			  steward.copy_changes, and replay re-syncs those keys (delete
 *			  from target, insert the source's current row) and removes the
 *			  log entries in the same transaction;
 *	  verify  per key range, row counts and sums of row hashes of source
 *			  and target are compared, but for the keys still in the log;
 *			  a differing range is copied again;
 *	  final	  the row counts taken and the log replayed, then under a short
 *			  lock (SHARE on the source; ACCESS EXCLUSIVE on both with
 *			  swap), with lock_timeout and retries: the last log entries
 *			  replayed, the row counts compared, the trigger dropped and,
 *			  with swap, the tables renamed: the source becomes <name>_old
 *			  and the target takes its name.
 * In a job worker the replays of the copy, replay and verify phases are
 * made by a second process, the replayer (copy_replayer.c), while the
 * worker copies and verifies; the worker tells it the last key of its
 * committed batches and of the batch in flight (cursor and claim), and
 * replays itself only when no replayer runs.
 * The trigger exists from submission on (created in the submitting
 * transaction), so no write is lost between submission and copy.  The
 * target is written in bulk where that is what its INSERT would do
 * (bulk.c).  The phase column records the time of each phase and how long
 * the final step held its lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/params.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

PG_FUNCTION_INFO_V1(steward_copy_table);
PG_FUNCTION_INFO_V1(steward_capture_change);

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
 * The capture trigger
 * ----------------------------------------------------------------
 */

/* Log one changed key of a copy's source, as the steward owner. */
static void
log_change(int64 job_id, const char *key)
{
	static SPIPlanPtr plan = NULL;
	StewardOwnerScope scope;
	Datum		values[2];

	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		SPIPlanPtr	p = SPI_prepare("INSERT INTO steward.copy_changes (job_id, key) VALUES ($1, $2)",
									2, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the change log insert");
		plan = p;
	}
	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(key);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not log a change for job %lld", (long long) job_id);
	SPI_finish();
	steward_owner_scope_end(&scope);
}

static char *
captured_key(HeapTuple tuple, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, attnum, desc, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("key column \"%s\" of a table being copied must not be null",
						NameStr(TupleDescAttr(desc, attnum - 1)->attname))));
	return steward_key_text(value, TupleDescAttr(desc, attnum - 1)->atttypid);
}

/*
 * steward.capture_change(job_id, key_column): AFTER INSERT OR UPDATE OR
 * DELETE FOR EACH ROW on a copy's source.  It runs as the writer and reads
 * nothing of the row but the key, with the key type's output function
 * (see key.c), so nothing the table's owner controls (casts, functions,
 * other columns) is evaluated; then it logs the key (both keys when an
 * UPDATE changes it) as the steward owner, through one fixed INSERT.
 */
Datum
steward_capture_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			attnum;
	int64		job_id;
	char	   *new_key = NULL;
	char	   *old_key = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || td->tg_trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("steward.capture_change() must be an AFTER ... FOR EACH ROW trigger with a job id and a key column")));
	job_id = pg_strtoint64(td->tg_trigger->tgargs[0]);
	desc = RelationGetDescr(td->tg_relation);
	attnum = SPI_fnumber(desc, td->tg_trigger->tgargs[1]);
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("key column \"%s\" of job %lld is not a column of table \"%s\"",
						td->tg_trigger->tgargs[1], (long long) job_id,
						RelationGetRelationName(td->tg_relation))));

	if (!TRIGGER_FIRED_BY_DELETE(td->tg_event))
		new_key = captured_key(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple,
							   desc, attnum);
	if (!TRIGGER_FIRED_BY_INSERT(td->tg_event))
		old_key = captured_key(td->tg_trigtuple, desc, attnum);

	if (new_key)
		log_change(job_id, new_key);
	if (old_key && (new_key == NULL || strcmp(old_key, new_key) != 0))
		log_change(job_id, old_key);
	return PointerGetDatum(NULL);
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
	StewardKey	key;
} CopySql;

static void
copy_sql(StewardJob *job, CopySql *c)
{
	c->src = qualified_rel(job->source);
	c->tgt = qualified_rel(job->relid);
	c->cols = steward_job_arg_text(job, "columns");
	steward_key_load(job->source, steward_job_arg_text(job, "key_column"), &c->key);
}

static char *
keep(StewardJob *job, const char *s)
{
	return s ? MemoryContextStrdup(GetMemoryChunkContext(job), s) : NULL;
}

/*
 * The phases, in their order.  The phase column reads "<phase>; <time of
 * each phase so far>", e.g. "verify; copy 5.83 s, replay 0.92 s, verify
 * 0.40 s", and at the end "done: N rows; copy 5.83 s, ..., final 0.12 s,
 * lock held 95 ms, log entries replayed 4210 before it in 2 rounds and 37
 * under it".
 * A phase's time is wall-clock: from the end of the previous batch of the
 * run (or the start of the run's first batch) to the end of each of its
 * batches, so it includes commits, the health gate, pauses and retries;
 * runs add up.
 */
typedef enum CopyPhase
{
	PHASE_COPY,
	PHASE_REPLAY,
	PHASE_VERIFY,
	PHASE_FINAL,
	NUM_PHASES
} CopyPhase;

static const char *const phase_names[NUM_PHASES] = {"copy", "replay", "verify", "final"};

/* What a run of a copy keeps between its batches (job->kind_state). */
typedef struct CopyRun
{
	CopyPhase	phase;
	double		secs[NUM_PHASES];	/* each phase's time so far */
	double		lock_ms;		/* longest lock the final step held, or -1 */
	int64		replayed_before;	/* log entries the final step replayed
									 * before its lock (its last try) */
	int64		replayed_under; /* and under it */
	int			rounds;			/* replays of the log before it */
	TimestampTz last_end;		/* end of this run's previous batch, or 0 */
} CopyRun;

/* The run's state, read from the phase column at its first batch. */
static CopyRun *
copy_run(StewardJob *job)
{
	CopyRun    *run = (CopyRun *) job->kind_state;
	const char *p = job->phase;

	if (run != NULL)
		return run;
	run = MemoryContextAllocZero(GetMemoryChunkContext(job), sizeof(CopyRun));
	run->lock_ms = -1;
	run->phase = PHASE_COPY;
	job->kind_state = run;
	if (p == NULL)
		return run;
	for (int i = 0; i < NUM_PHASES; i++)
	{
		size_t		len = strlen(phase_names[i]);

		if (strncmp(p, phase_names[i], len) == 0 && (p[len] == '\0' || p[len] == ';'))
			run->phase = (CopyPhase) i;
	}
	/* the times: "; name 1.23 s, name 4.56 s" */
	p = strchr(p, ';');
	while (p != NULL)
	{
		char		name[16];
		double		secs;

		p++;
		if (sscanf(p, " %15s %lf s", name, &secs) == 2)
		{
			for (int i = 0; i < NUM_PHASES; i++)
				if (strcmp(name, phase_names[i]) == 0)
					run->secs[i] = secs;
		}
		p = strchr(p, ',');
	}
	return run;
}

/* ", name 1.23 s" for every phase up to the given one */
static void
append_times(StringInfo buf, CopyRun *run, CopyPhase upto)
{
	for (int i = 0; i <= (int) upto; i++)
		appendStringInfo(buf, "%s %s %.2f s", i == 0 ? ";" : ",", phase_names[i], run->secs[i]);
}

static void
set_phase_text(StewardJob *job, CopyRun *run)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, phase_names[run->phase]);
	append_times(&buf, run, run->phase);
	steward_job_set_phase(job, buf.data);
}

static void
copy_start(StewardJob *job)
{
	CopySql		c;

	if (job->phase != NULL)
		return;					/* resumed: the bound is frozen already */
	copy_sql(job, &c);
	job->upper_key = keep(job, steward_key_max(&c.key, c.src));
	job->rows_estimate = steward_key_estimate(&c.key, job->source, c.src);
}

/* The parameters of steward_key_range: $1 from, $2 to (NULL: no bound). */
static void
range_params(CopySql *c, const char *from, const char *to, Oid *types, Datum *values, char *nulls)
{
	types[0] = types[1] = c->key.type;
	values[0] = from ? steward_key_datum(&c->key, from) : (Datum) 0;
	nulls[0] = from ? ' ' : 'n';
	values[1] = to ? steward_key_datum(&c->key, to) : (Datum) 0;
	nulls[1] = to ? ' ' : 'n';
}

/*
 * INSERT INTO target (columns) SELECT columns FROM source WHERE cond, cond
 * with its parameters, in bulk where the target allows it (bulk.c); the
 * number of rows inserted.
 */
static uint64
insert_rows(StewardJob *job, CopySql *c, const char *cond, int nargs,
			Oid *types, Datum *values, const char *nulls)
{
	char	   *sql = psprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s",
							   c->tgt, c->cols, c->cols, c->src, cond);
	uint64		rows;

	if (job->in_worker)
		pgstat_report_activity(STATE_RUNNING, sql);
	if (steward_bulk_insert(job->source, job->relid, c->cols, cond, nargs, types, values, nulls,
							NULL, &rows, NULL))
		return rows;
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not copy rows of job %lld", (long long) job->id);
	return SPI_processed;
}

/* Insert the source's rows with keys in (from, to] into the target. */
static uint64
copy_range(StewardJob *job, CopySql *c, const char *from, const char *to)
{
	Oid			types[2];
	Datum		values[2];
	char		nulls[2];

	range_params(c, from, to, types, values, nulls);
	return insert_rows(job, c, steward_key_range(&c->key, from, to), 2, types, values, nulls);
}

/* ----------------------------------------------------------------
 * The change log
 * ----------------------------------------------------------------
 */

/*
 * The logged keys travel as one typed array parameter: a text parameter
 * cast in SQL would be re-parsed for every row (array_in is only stable)
 * and rule out the key index.
 */
static Oid
key_array_type(StewardJob *job, CopySql *c)
{
	Oid			arraytype = get_array_type(c->key.type);

	if (!OidIsValid(arraytype))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("copy_table cannot replay the changes of job %lld: its key type %s has no array type",
						(long long) job->id, format_type_be(c->key.type)),
				 errhint("Copy a table whose key is not itself an array.")));
	return arraytype;
}

/* A growing array of key values (of the key's type). */
typedef struct KeySet
{
	Datum	   *keys;
	int			n;
	int			cap;
} KeySet;

/* qsort_arg comparator of key values (arg: the StewardKey) */
static int
key_order_cmp(const void *a, const void *b, void *arg)
{
	return steward_key_compare((const StewardKey *) arg, *(const Datum *) a, *(const Datum *) b);
}

/* sort n keys and drop their duplicates; returns how many are left */
static int
unique_keys(CopySql *c, Datum *keys, int n)
{
	int			kept = 0;

	if (n < 2)
		return n;
	qsort_arg(keys, n, sizeof(Datum), key_order_cmp, &c->key);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (kept == 0 || steward_key_compare(&c->key, keys[kept - 1], keys[i]) != 0)
			keys[kept++] = keys[i];
	}
	return kept;
}

/*
 * Read entries of the change log: sql, run as the steward owner with $1
 * the job id and $2 limit, returns the keys (text) of entries, and with
 * tids their ctids too (second column).  Sets *keys to their values (of
 * the key's type, by its input function, as the caller), one per entry in
 * the order read, and *tids to their ctids; returns the number of entries
 * read, and in *nkeys the number of keys (entries without a key have
 * none).
 *
 * The log's statistics trail it (it grows by thousands of entries a second
 * and shrinks as fast), so the planner, taking a job's entries for a few
 * hundred, would read every entry of the job, dead ones too, by a bitmap
 * scan and sort them, for every batch.  Sequential and bitmap scans are off
 * for these statements: they read the entries in order from the
 * (job_id, id) index, as far as they need to.
 */
static int64
read_log(StewardJob *job, CopySql *c, const char *sql, bool read_only, int limit,
		 Datum **keys, ItemPointerData **tids, int *nkeys)
{
	MemoryContext callercxt = CurrentMemoryContext;
	StewardOwnerScope scope;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];
	char	  **texts;
	uint64		n;
	int			kept = 0;

	values[0] = Int64GetDatum(job->id);
	values[1] = Int32GetDatum(limit);
	steward_owner_scope_begin(&scope, true);
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 2, types, values, NULL, read_only, 0) < 0)
		elog(ERROR, "could not read the change log of job %lld", (long long) job->id);
	n = SPI_processed;
	texts = MemoryContextAlloc(callercxt, sizeof(char *) * Max(n, 1));
	if (tids)
		*tids = MemoryContextAlloc(callercxt, sizeof(ItemPointerData) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext oldcxt;

		CHECK_FOR_INTERRUPTS();
		oldcxt = MemoryContextSwitchTo(callercxt);
		texts[i] = isnull ? NULL : TextDatumGetCString(d);
		MemoryContextSwitchTo(oldcxt);
		if (tids)
			ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
																		SPI_tuptable->tupdesc, 2, &isnull)),
							&(*tids)[i]);
	}
	SPI_finish();
	steward_owner_scope_end(&scope);

	*keys = palloc(sizeof(Datum) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (texts[i] != NULL)
		{
			if (tids)
				(*tids)[kept] = (*tids)[i];
			(*keys)[kept++] = steward_key_datum(&c->key, texts[i]);
			pfree(texts[i]);
		}
	}
	pfree(texts);
	*nkeys = kept;
	return (int64) n;
}

/*
 * Read the keys of the change log as read_log does; sets *keys to them
 * sorted by the key's comparison function, without duplicates (*nkeys).
 */
static int64
log_keys(StewardJob *job, CopySql *c, const char *sql, bool read_only, int limit,
		 Datum **keys, int *nkeys)
{
	int64		n = read_log(job, c, sql, read_only, limit, keys, NULL, nkeys);

	*nkeys = unique_keys(c, *keys, *nkeys);
	return n;
}

/*
 * Take the oldest "limit" entries of the log (delete them: this commits
 * with the batch); returns their number, and their distinct keys in *keys.
 * The entries are deleted by ctid, found in the same statement: the log's
 * rows are never updated, and only this job deletes its own.
 */
static int64
take_log(StewardJob *job, CopySql *c, int limit, Datum **keys, int *nkeys)
{
	return log_keys(job, c,
					"DELETE FROM steward.copy_changes WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
					"  SELECT ctid FROM steward.copy_changes WHERE job_id OPERATOR(pg_catalog.=) $1 "
					"   ORDER BY id LIMIT $2)) RETURNING key",
					false, limit, keys, nkeys);
}

/* The keys of the log's entries, left in place, as an array of the key type. */
static ArrayType *
pending_keys(StewardJob *job, CopySql *c)
{
	Datum	   *keys;
	int			nkeys;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	(void) log_keys(job, c,
					"SELECT key FROM steward.copy_changes WHERE job_id OPERATOR(pg_catalog.=) $1 "
					" ORDER BY id LIMIT $2",
					true, PG_INT32_MAX, &keys, &nkeys);
	get_typlenbyvalalign(c->key.type, &typlen, &typbyval, &typalign);
	return construct_array(keys, nkeys, c->key.type, typlen, typbyval, typalign);
}

/*
 * The settings of the statements that look rows up by a list of keys
 * (replay, and keys_sum: the final step's reads of the keys it replayed,
 * verify's of the keys it leaves out), made in the caller's GUC nest
 * level.  The target has no statistics while it is
 * being filled, and the planner takes each key of a list for 0.5% of its
 * rows, so it estimates such a statement to read the whole table: it
 * would read every partition whole for every chunk (enable_seqscan is
 * off), and compile the statement to machine code (jit is off), which
 * takes longer than running it.
 */
static void
key_lookup_settings(void)
{
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Re-sync keys: delete the target's rows, insert the source's, in chunks
 * of REPLAY_CHUNK keys looked up by the key indexes (key_lookup_settings).
 */
#define REPLAY_CHUNK 1000

static void
apply_keys(StewardJob *job, CopySql *c, Datum *keys, int n)
{
	Oid			types[1] = {key_array_type(job, c)};
	int16		typlen;
	bool		typbyval;
	char		typalign;
	char	   *delete_sql = psprintf("DELETE FROM %s WHERE %s %s ANY ($1)", c->tgt, c->key.operand, c->key.eq);
	char	   *cond = psprintf("%s %s ANY ($1)", c->key.operand, c->key.eq);
	int			nestlevel;

	if (n == 0)
		return;
	nestlevel = NewGUCNestLevel();
	key_lookup_settings();
	get_typlenbyvalalign(c->key.type, &typlen, &typbyval, &typalign);
	for (int i = 0; i < n; i += REPLAY_CHUNK)
	{
		Datum		values[1];

		CHECK_FOR_INTERRUPTS();
		values[0] = PointerGetDatum(construct_array(keys + i, Min(REPLAY_CHUNK, n - i), c->key.type,
													typlen, typbyval, typalign));
		if (SPI_execute_with_args(delete_sql, 1, types, values, NULL, false, 0) < 0)
			elog(ERROR, "could not replay changes of job %lld", (long long) job->id);
		(void) insert_rows(job, c, cond, 1, types, values, NULL);
	}
	AtEOXact_GUC(true, nestlevel);
}

/*
 * What the copy phase does with a log entry, by its key, given the copy's
 * cursor (the last key of its last committed batch; none before the
 * first), its claim (the last key of the batch in flight; none, or the
 * cursor, between batches) and its frozen bound: ENTRY_REPLAY for a key up
 * to the cursor or above the bound (no batch copies it again),
 * ENTRY_STAY for one in the batch in flight (it may have read the row
 * before the change), ENTRY_DROP for one the copy has yet to reach (the
 * batch that copies it reads the source after the change).
 */
typedef enum EntryFate
{
	ENTRY_REPLAY,
	ENTRY_STAY,
	ENTRY_DROP
} EntryFate;

typedef struct CopyBounds
{
	bool		has_cursor;
	bool		has_claim;
	Datum		cursor;
	Datum		claim;
	Datum		upper;
} CopyBounds;

static void
copy_bounds(CopySql *c, const char *cursor, const char *claim, const char *upper, CopyBounds *b)
{
	b->has_cursor = (cursor != NULL);
	b->has_claim = (claim != NULL);
	b->cursor = cursor ? steward_key_datum(&c->key, cursor) : (Datum) 0;
	b->claim = claim ? steward_key_datum(&c->key, claim) : (Datum) 0;
	b->upper = steward_key_datum(&c->key, upper);
}

static EntryFate
entry_fate(CopySql *c, const CopyBounds *b, Datum key)
{
	if (steward_key_compare(&c->key, key, b->upper) > 0 ||
		(b->has_cursor && steward_key_compare(&c->key, key, b->cursor) <= 0))
		return ENTRY_REPLAY;
	if (b->has_claim && steward_key_compare(&c->key, key, b->claim) <= 0)
		return ENTRY_STAY;
	return ENTRY_DROP;
}

/*
 * Replay the oldest "limit" entries of the log; in the copy phase
 * (skip_to, the frozen bound, not NULL) with skip_from the cursor and no
 * batch in flight, entries for keys in (skip_from, skip_to] are only
 * deleted (entry_fate).  Returns the
 * number of entries taken; the keys re-synced are added to *applied (when
 * not NULL; a key may be added more than once).
 *
 * In the copy phase, the keys the copy has not reached yet need no replay
 * (the copy reads their rows later, with a newer snapshot than the one
 * that saw their log entries), and must get none, or the copy would insert
 * them again.
 */
static int64
replay_log(StewardJob *job, CopySql *c, int limit, const char *skip_from, const char *skip_to,
		   KeySet *applied)
{
	Datum	   *elems;
	int			nkeys;
	int64		n = take_log(job, c, limit, &elems, &nkeys);
	int			kept = 0;

	if (n == 0)
		return 0;
	if (skip_to != NULL)
	{
		CopyBounds	b;

		copy_bounds(c, skip_from, skip_from, skip_to, &b);
		for (int i = 0; i < nkeys; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (entry_fate(c, &b, elems[i]) == ENTRY_REPLAY)
				elems[kept++] = elems[i];
		}
		nkeys = kept;
	}
	apply_keys(job, c, elems, nkeys);
	if (applied != NULL)
	{
		if (applied->n + nkeys > applied->cap)
		{
			applied->cap = Max(applied->cap * 2, applied->n + nkeys);
			applied->keys = applied->keys
				? repalloc(applied->keys, sizeof(Datum) * applied->cap)
				: palloc(sizeof(Datum) * applied->cap);
		}
		memcpy(applied->keys + applied->n, elems, sizeof(Datum) * nkeys);
		applied->n += nkeys;
	}
	pfree(elems);
	return n;
}

/* ----------------------------------------------------------------
 * The phases
 * ----------------------------------------------------------------
 */

/*
 * The copy phase's batch while the replayer runs (copy_replayer.c): the
 * batch's last key is found first and published as the claim, with the
 * committed cursor, before the batch reads the source; the worker leaves
 * the log to the replayer.  False when the replayer is not running: the
 * worker copies and replays alone (copy_batch).
 */
static bool
copy_batch_beside_replayer(StewardJob *job, CopySql *c, int64 *rows, bool *done)
{
	char	   *last;
	int64		n;

	if (!steward_replayer_active())
		return false;
	last = steward_key_next(&c->key, c->src, job->current_key, job->upper_key, job->batch_size, &n);

	/*
	 * The last batch (fewer keys are left than a batch takes) claims and
	 * copies up to the bound: a key written there after this read has no
	 * later batch to copy it, so its entry must stay in the log.
	 */
	*done = (last == NULL || n < job->batch_size);
	if (*done)
		last = job->upper_key;
	if (!steward_replayer_publish(job->current_key, last))
		return false;
	if (job->in_worker)
		pgstat_report_activity(STATE_RUNNING, psprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s",
														c->tgt, c->cols, c->cols, c->src,
														steward_key_range(&c->key, job->current_key, last)));
	*rows = copy_range(job, c, job->current_key, last);
	job->current_key = keep(job, last);
	return true;
}

/* Delete the log's entries at these ctids (n of them). */
static void
forget_entries(StewardJob *job, ItemPointerData *tids, int n)
{
	StewardOwnerScope scope;
	Oid			types[1] = {TIDARRAYOID};
	Datum		values[1];
	Datum	   *elems;

	if (n == 0)
		return;
	elems = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
		elems[i] = PointerGetDatum(&tids[i]);
	values[0] = PointerGetDatum(construct_array(elems, n, TIDOID, sizeof(ItemPointerData), false,
												TYPALIGN_SHORT));
	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("DELETE FROM steward.copy_changes WHERE ctid OPERATOR(pg_catalog.=) ANY ($1)",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not remove entries of the change log of job %lld", (long long) job->id);
	SPI_finish();
	steward_owner_scope_end(&scope);
}

/*
 * The replayer's transaction (copy_replayer.c), as the job's owner: read
 * the oldest "limit" entries of the log, then the cursor and the claim.
 * The keys up to the cursor and above the frozen bound are replayed, and
 * their entries removed; the entries of keys the copy has yet to reach,
 * above the claim, are removed (the batch that copies them reads the
 * source later); those up to the claim stay (the batch in flight may have
 * read their rows before the change).  Returns the number of entries
 * removed.
 */
int64
steward_copy_replayer_batch(StewardJob *job, int limit)
{
	CopySql		c;
	Datum	   *keys;
	ItemPointerData *tids;
	int			n;
	int			nreplay = 0;
	int			ndone = 0;
	char	   *cursor;
	char	   *claim;
	char	   *upper;
	CopyBounds	b;

	copy_sql(job, &c);
	(void) read_log(job, &c,
					"SELECT key, ctid FROM steward.copy_changes WHERE job_id OPERATOR(pg_catalog.=) $1 "
					" ORDER BY id LIMIT $2",
					true, limit, &keys, &tids, &n);
	if (n == 0)
		return 0;
	steward_replayer_bounds(&cursor, &claim, &upper);	/* after the read */
	copy_bounds(&c, cursor, claim, upper, &b);
	for (int i = 0; i < n; i++)
	{
		EntryFate	fate = entry_fate(&c, &b, keys[i]);

		CHECK_FOR_INTERRUPTS();
		if (fate == ENTRY_STAY)
			continue;
		if (fate == ENTRY_REPLAY)
			keys[nreplay++] = keys[i];
		tids[ndone++] = tids[i];
	}
	forget_entries(job, tids, ndone);
	apply_keys(job, &c, keys, unique_keys(&c, keys, nreplay));
	return ndone;
}

/*
 * copy: one keyset batch, from the checkpoint up to the frozen bound,
 * after the log entries written so far (the copy keeps the log short).
 * In bulk, the batch is "the next batch_size keys" in one pass, the last
 * row read giving the checkpoint; otherwise its last key is found first.
 */
static bool
copy_batch(StewardJob *job, CopySql *c, int64 *rows)
{
	char	   *last;
	int64		n;
	uint64		copied;
	Oid			types[3];
	Datum		values[3];
	char		nulls[3];
	char	   *cond;
	bool		done = false;

	if (job->upper_key == NULL)
		return true;
	/* once the bound has committed: a first batch retried freezes it again */
	if (job->phase != NULL)
		steward_replayer_start(job);
	if (copy_batch_beside_replayer(job, c, rows, &done))
		return done;
	*rows = replay_log(job, c, job->batch_size, job->current_key, job->upper_key, NULL);

	range_params(c, job->current_key, job->upper_key, types, values, nulls);
	types[2] = INT8OID;
	values[2] = Int64GetDatum(job->batch_size);
	nulls[2] = ' ';
	cond = psprintf("%s ORDER BY %s LIMIT $3", steward_key_range(&c->key, job->current_key, job->upper_key),
					c->key.name);
	if (job->in_worker)
		pgstat_report_activity(STATE_RUNNING, psprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s",
														c->tgt, c->cols, c->cols, c->src, cond));
	if (steward_bulk_insert(job->source, job->relid, c->cols, cond, 3, types, values, nulls,
							steward_job_arg_text(job, "key_column"), &copied, &last))
	{
		if (last != NULL)
			job->current_key = keep(job, last);
		*rows += copied;
		return copied < (uint64) job->batch_size;
	}

	last = steward_key_next(&c->key, c->src, job->current_key, job->upper_key, job->batch_size, &n);
	if (last == NULL)
		return true;
	*rows += copy_range(job, c, job->current_key, last);
	job->current_key = keep(job, last);
	return n < job->batch_size;
}

/* replay: re-sync a batch of logged keys; true when the log is drained */
static bool
replay_batch(StewardJob *job, CopySql *c, int64 *rows)
{
	*rows = replay_log(job, c, job->batch_size, NULL, NULL, NULL);
	return *rows < job->batch_size;
}

/*
 * How verify hashes a row.  NULL: the columns are read and hashed here,
 * with their types' hash functions (values their type's = holds equal hash
 * equally, as EXCEPT compares them), combined as hash_record_extended()
 * does; possible when every column has the same type in source and
 * target, a hash function and no nondeterministic collation.  Otherwise
 * the SQL of the hash of the row's text form.
 */
static const char *
row_hash_sql(StewardJob *job, CopySql *c)
{
	Relation	rel = relation_open(job->source, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData cols;
	bool		typed = true;

	initStringInfo(&cols);
	for (int i = 0; i < desc->natts && typed; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AttrNumber	tattnum;
		Oid			ttype;
		int32		ttypmod;
		Oid			tcoll;

		if (att->attisdropped || att->attgenerated)
			continue;
		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", quote_identifier(NameStr(att->attname)));
		tattnum = get_attnum(job->relid, NameStr(att->attname));
		if (tattnum == InvalidAttrNumber)
		{
			typed = false;
			break;
		}
		get_atttypetypmodcoll(job->relid, tattnum, &ttype, &ttypmod, &tcoll);
		if (ttype != att->atttypid || ttypmod != att->atttypmod ||
			!OidIsValid(lookup_type_cache(att->atttypid, TYPECACHE_HASH_EXTENDED_PROC)->hash_extended_proc) ||
			(OidIsValid(att->attcollation) && !get_collation_isdeterministic(att->attcollation)) ||
			(OidIsValid(tcoll) && !get_collation_isdeterministic(tcoll)))
			typed = false;
	}
	relation_close(rel, AccessShareLock);
	if (typed && strcmp(cols.data, c->cols) == 0)
		return NULL;
	return psprintf("pg_catalog.hashtextextended(ROW(%s)::pg_catalog.text, 0::pg_catalog.int8)", c->cols);
}

/* A row count and a sum of row hashes, and the last key, of a SELECT. */
typedef struct RangeSum
{
	DestReceiver pub;
	bool		keyed;			/* the first column is the key */
	bool		typed;			/* the other columns are the row, hashed here;
								 * else one column, the row's hash */
	int			ncols;			/* columns hashed here */
	FmgrInfo  **hashfn;			/* their hash functions */
	Oid		   *collation;
	MemoryContext rowcxt;		/* reset after every row */
	int64		n;
	uint64		sum;			/* modulo 2^64 */
	MemoryContext cxt;			/* where the last key is kept */
	Datum		last;
	bool		haslast;
	Oid			keytype;
	int16		keylen;
	bool		keybyval;
} RangeSum;

static void
rangesum_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	RangeSum   *rs = (RangeSum *) self;

	int			first = rs->keyed ? 1 : 0;

	if (typeinfo->natts < first + 1 || (!rs->typed && typeinfo->natts != first + 1))
		elog(ERROR, "a range summary got %d columns", typeinfo->natts);
	if (rs->typed)
	{
		rs->ncols = typeinfo->natts - first;
		rs->hashfn = palloc(sizeof(FmgrInfo *) * rs->ncols);
		rs->collation = palloc(sizeof(Oid) * rs->ncols);
		for (int i = 0; i < rs->ncols; i++)
		{
			Form_pg_attribute att = TupleDescAttr(typeinfo, first + i);
			TypeCacheEntry *tc = lookup_type_cache(att->atttypid, TYPECACHE_HASH_EXTENDED_PROC_FINFO);

			if (!OidIsValid(tc->hash_extended_proc))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_FUNCTION),
						 errmsg("could not identify an extended hash function for type %s",
								format_type_be(att->atttypid))));
			rs->hashfn[i] = &tc->hash_extended_proc_finfo;
			rs->collation[i] = att->attcollation;
		}
	}
	if (rs->keyed)
	{
		rs->keytype = TupleDescAttr(typeinfo, 0)->atttypid;
		rs->keylen = TupleDescAttr(typeinfo, 0)->attlen;
		rs->keybyval = TupleDescAttr(typeinfo, 0)->attbyval;
	}
}

static bool
rangesum_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RangeSum   *rs = (RangeSum *) self;
	int			first = rs->keyed ? 1 : 0;
	MemoryContext oldcxt;

	CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	rs->n++;
	if (rs->typed)
	{
		uint64		h = 0;

		/* as hash_record_extended() combines its columns' hashes */
		oldcxt = MemoryContextSwitchTo(rs->rowcxt);
		for (int i = 0; i < rs->ncols; i++)
		{
			uint64		e = 0;

			if (!slot->tts_isnull[first + i])
				e = DatumGetUInt64(FunctionCall2Coll(rs->hashfn[i], rs->collation[i],
													 slot->tts_values[first + i], UInt64GetDatum(0)));
			h = (h << 5) - h + e;
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rs->rowcxt);
		rs->sum += h;
	}
	else if (!slot->tts_isnull[first])
		rs->sum += (uint64) DatumGetInt64(slot->tts_values[first]);
	if (rs->keyed && !slot->tts_isnull[0])
	{
		oldcxt = MemoryContextSwitchTo(rs->cxt);

		if (rs->haslast && !rs->keybyval)
			pfree(DatumGetPointer(rs->last));
		rs->last = datumCopy(slot->tts_values[0], rs->keybyval, rs->keylen);
		rs->haslast = true;
		MemoryContextSwitchTo(oldcxt);
	}
	return true;
}

static void
rangesum_noop(DestReceiver *self)
{
}

/*
 * Sum up the rows of sql ($1 from, $2 to, $3 the keys left out, $4 a
 * limit), read as they come (never in parallel).
 */
static void
range_sum(StewardJob *job, CopySql *c, const char *sql, const char *from, const char *to,
		  ArrayType *except, int64 limit, RangeSum *rs)
{
	Oid			types[4];
	Datum		values[4];
	char		nulls[4];
	SPIPlanPtr	plan;
	ParamListInfo params;
	SPIExecuteOptions options = {0};

	range_params(c, from, to, types, values, nulls);
	types[2] = key_array_type(job, c);
	values[2] = PointerGetDatum(except);
	nulls[2] = ' ';
	types[3] = INT8OID;
	values[3] = Int64GetDatum(limit);
	nulls[3] = ' ';

	rs->pub.receiveSlot = rangesum_receive;
	rs->pub.rStartup = rangesum_startup;
	rs->pub.rShutdown = rangesum_noop;
	rs->pub.rDestroy = rangesum_noop;
	rs->pub.mydest = DestNone;
	rs->cxt = CurrentMemoryContext;
	rs->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_steward verify row", ALLOCSET_SMALL_SIZES);

	if (job->in_worker)
		pgstat_report_activity(STATE_RUNNING, sql);
	plan = SPI_prepare_cursor(sql, 4, types, 0);
	if (plan == NULL)
		elog(ERROR, "could not prepare a comparison of job %lld: %s", (long long) job->id,
			 SPI_result_code_string(SPI_result));
	params = makeParamList(4);
	for (int i = 0; i < 4; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = nulls[i] == 'n';
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	options.params = params;
	options.read_only = true;	/* in the caller's snapshot (verify_batch) */
	options.dest = (DestReceiver *) rs;
	if (SPI_execute_plan_extended(plan, &options) < 0)
		elog(ERROR, "could not compare a range of job %lld", (long long) job->id);
	SPI_freeplan(plan);
	MemoryContextDelete(rs->rowcxt);
}

/*
 * The row count and the sum of row hashes (hash: see row_hash_sql; or
 * ROWS_ONLY) of the rows of tbl whose keys are in keys, in the active
 * snapshot; by the key index (key_lookup_settings).
 */
static void
keys_sum(StewardJob *job, CopySql *c, const char *hash, const char *tbl, KeySet *keys, RangeSum *rs)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			nestlevel;

	memset(rs, 0, sizeof(*rs));
	rs->typed = (hash == NULL);
	if (keys->n == 0)
		return;
	get_typlenbyvalalign(c->key.type, &typlen, &typbyval, &typalign);
	nestlevel = NewGUCNestLevel();
	key_lookup_settings();
	range_sum(job, c,
			  psprintf("SELECT %s FROM %s WHERE %s %s ANY ($3)",
					   hash ? hash : c->cols, tbl, c->key.operand, c->key.eq),
			  NULL, NULL,
			  construct_array(keys->keys, keys->n, c->key.type, typlen, typbyval, typalign),
			  0, rs);
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Compare the next "range" keys of the source after "from" (NULL: the
 * first) but the keys of "except", with the target's rows in the same key
 * range: row counts and sums of row hashes (hash: see row_hash_sql).  *hi is the last source key
 * read (NULL: none); *is_last is set when the source had fewer than
 * "range" keys left, and then the target is read past *hi too.
 *
 * The source is read first, in key order, up to the range's end; then the
 * target in that range; both in the caller's active snapshot.
 */
static bool
compare_range(StewardJob *job, CopySql *c, const char *hash, const char *from, int64 range,
			  ArrayType *except, char **hi, bool *is_last)
{
	RangeSum	src = {0};
	RangeSum	tgt = {0};
	char	   *except_sql = psprintf("NOT (%s %s ANY ($3))", c->key.operand, c->key.eq);
	const char *row = hash ? hash : c->cols;

	src.keyed = true;
	src.typed = tgt.typed = (hash == NULL);
	range_sum(job, c,
			  psprintf("SELECT %s, %s FROM %s WHERE %s AND %s ORDER BY %s LIMIT $4",
					   c->key.name, row, c->src, steward_key_range(&c->key, from, NULL), except_sql,
					   c->key.name),
			  from, NULL, except, range, &src);
	*hi = src.haslast ? steward_key_text(src.last, src.keytype) : NULL;
	*is_last = src.n < range;
	range_sum(job, c,
			  psprintf("SELECT %s FROM %s WHERE %s AND %s", row, c->tgt,
					   steward_key_range(&c->key, from, *is_last ? NULL : *hi), except_sql),
			  from, *is_last ? NULL : *hi, except, 0, &tgt);
	return src.n == tgt.n && src.sum == tgt.sum;
}

/*
 * Compare every row of the source with every row of the target, but those
 * of the keys of "except", as compare_range compares a range: every row of
 * both tables is read, in any order (by a sequential scan where the planner
 * chooses one), then the rows of the keys left out, looked up by key
 * (keys_sum), are taken away again, which is cheaper than testing every
 * row against those keys; all in the caller's active snapshot.
 */
static bool
compare_whole(StewardJob *job, CopySql *c, const char *hash, ArrayType *except)
{
	RangeSum	src = {0};
	RangeSum	tgt = {0};
	RangeSum	left_src;
	RangeSum	left_tgt;
	KeySet		left_out = {0};
	const char *row = hash ? hash : c->cols;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	src.typed = tgt.typed = (hash == NULL);
	range_sum(job, c, psprintf("SELECT %s FROM %s", row, c->src), NULL, NULL, except, 0, &src);
	range_sum(job, c, psprintf("SELECT %s FROM %s", row, c->tgt), NULL, NULL, except, 0, &tgt);
	get_typlenbyvalalign(c->key.type, &typlen, &typbyval, &typalign);
	deconstruct_array(except, c->key.type, typlen, typbyval, typalign, &left_out.keys, NULL, &left_out.n);
	keys_sum(job, c, hash, c->src, &left_out, &left_src);
	keys_sum(job, c, hash, c->tgt, &left_out, &left_tgt);
	return src.n - left_src.n == tgt.n - left_tgt.n && src.sum - left_src.sum == tgt.sum - left_tgt.sum;
}

/*
 * Whether verify compares the rest of the tables whole, as one range, read
 * in any order (compare_whole): from the first key, when the source holds
 * at most "range" rows by the planner's count (pg_class.reltuples, as of
 * its last VACUUM or ANALYZE; a count that has grown since only makes the
 * range larger than "range"; none, as for a table never analyzed: no).
 * A sequential scan reads such a range at about half the cost of the read
 * in key order.
 */
static bool
verify_whole(StewardJob *job, int64 range)
{
	HeapTuple	tup;
	float4		reltuples = -1;

	if (job->current_key != NULL)
		return false;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(job->source));
	if (HeapTupleIsValid(tup))
	{
		reltuples = ((Form_pg_class) GETSTRUCT(tup))->reltuples;
		ReleaseSysCache(tup);
	}
	return reltuples >= 0 && reltuples <= (float4) range;
}

#define VERIFY_ATTEMPTS 3

/*
 * verify: compare the next key range, copy it again if it differs.
 *
 * The log is replayed first (a batch that takes a full batch_size of
 * entries does only that), then the keys still in it are left out of
 * the comparison: their rows are re-synced by a later replay, and a write
 * is in the log (of a snapshot) exactly when its row change is.  The log,
 * the source and the target are read in one snapshot (the SELECTs run
 * read-only in it), so a write that commits meanwhile is neither in the
 * log read nor in the rows compared, and concurrent writes do not make a
 * range differ.  A range that differs is compared again, with a new
 * snapshot; after VERIFY_ATTEMPTS it is deleted from the target and
 * copied again.
 * The last range is open above, so that rows of the target beyond the
 * source's last key are counted too.
 */
static bool
verify_batch(StewardJob *job, CopySql *c, int64 *rows)
{
	int64		range = (int64) job->batch_size * VERIFY_RANGE_FACTOR;
	const char *hash = row_hash_sql(job, c);
	char	   *hi = NULL;
	bool		is_last = false;
	bool		whole;

	if (!steward_replayer_active())
	{
		*rows = replay_log(job, c, job->batch_size, NULL, NULL, NULL);
		if (*rows == job->batch_size)
			return false;		/* drain the log first: the keys left out stay few */
	}
	whole = verify_whole(job, range);
	for (int attempt = 1;; attempt++)
	{
		bool		same;

		CHECK_FOR_INTERRUPTS();
		/* the log, the source and the target in one snapshot, after the replay */
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (whole)
		{
			same = compare_whole(job, c, hash, pending_keys(job, c));
			is_last = true;
		}
		else
			same = compare_range(job, c, hash, job->current_key, range, pending_keys(job, c), &hi, &is_last);
		PopActiveSnapshot();
		if (same)
			break;
		if (attempt == VERIFY_ATTEMPTS)
		{
			const char *to = is_last ? NULL : hi;
			Oid			types[2];
			Datum		values[2];
			char		nulls[2];

			/* copy the range again; concurrent changes are in the log anyway */
			steward_replayer_stop();	/* no replay of the range meanwhile */
			range_params(c, job->current_key, to, types, values, nulls);
			if (SPI_execute_with_args(psprintf("DELETE FROM %s WHERE %s", c->tgt,
											   steward_key_range(&c->key, job->current_key, to)),
									  2, types, values, nulls, false, 0) < 0)
				elog(ERROR, "could not copy a differing range again");
			*rows += copy_range(job, c, job->current_key, to);
			if (to != NULL)
				ereport(LOG, (errmsg("pg_steward job %lld: range up to key %s differed and was copied again",
									 (long long) job->id, to)));
			else
				ereport(LOG, (errmsg("pg_steward job %lld: the last range, after key %s, differed and was copied again",
									 (long long) job->id, job->current_key ? job->current_key : "(none)")));
			break;
		}
	}
	if (is_last)
		return true;
	job->current_key = keep(job, hi);
	return false;
}

/* milliseconds since t */
static double
ms_since(TimestampTz t)
{
	return (double) (GetCurrentTimestamp() - t) / 1000.0;
}

/* the keys of a (sorted, unique) that are in b (sorted, unique), or not */
static KeySet
keyset_split(CopySql *c, const KeySet *a, const KeySet *b, bool in_b)
{
	KeySet		r = {0};
	int			j = 0;

	r.cap = Max(a->n, 1);
	r.keys = palloc(sizeof(Datum) * r.cap);
	for (int i = 0; i < a->n; i++)
	{
		int			cmp = 1;

		CHECK_FOR_INTERRUPTS();
		while (j < b->n && (cmp = steward_key_compare(&c->key, b->keys[j], a->keys[i])) < 0)
			j++;
		if ((j < b->n && cmp == 0) == in_b)
			r.keys[r.n++] = a->keys[i];
	}
	return r;
}

/*
 * The "hash" of keys_sum and tally_keys that counts rows and hashes none
 * (their sum stays 0): it reads no column but the key.
 */
#define ROWS_ONLY "0::pg_catalog.int8"

/* a row count and a sum of row hashes (modulo 2^64) */
typedef struct Tally
{
	int64		n;
	uint64		sum;
} Tally;

/*
 * The rows of keys in both tables, in snapshot snap (NULL: a new one),
 * added to (sign 1) or taken from (sign -1) *src and *tgt.
 */
static void
tally_keys(StewardJob *job, CopySql *c, const char *hash, Snapshot snap, KeySet *keys,
		   int sign, Tally *src, Tally *tgt)
{
	RangeSum	s;
	RangeSum	t;

	if (keys->n == 0)
		return;
	if (snap == NULL)
	{
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	else
		PushActiveSnapshot(snap);
	keys_sum(job, c, hash, c->src, keys, &s);
	keys_sum(job, c, hash, c->tgt, keys, &t);
	PopActiveSnapshot();
	src->n += sign * s.n;
	src->sum += sign > 0 ? s.sum : -s.sum;
	tgt->n += sign * t.n;
	tgt->sum += sign > 0 ? t.sum : -t.sum;
}

/* at most this many replays of the log before the final step's lock */
#define FINAL_ROUNDS 8

/*
 * How much longer a round of the final step takes per entry than its first
 * replay, which reads no rows: a round also reads its keys' rows, in two
 * snapshots and both tables (about 2.3 to 2.6 times as long, measured under
 * bench/jobs_bench.sh's load; the lower bound is taken).
 */
#define ROUND_COST 2

/*
 * A replay of the log in the final step: the keys it re-synced whose rows
 * are counted as they are in the snapshot registered after it (those a
 * later replay re-synced again are taken out).
 */
typedef struct FinalRound
{
	KeySet		keys;
	Snapshot	snap;
} FinalRound;

/*
 * The keys (sorted, unique) a replay has just re-synced, their rows read
 * in snap (NULL: a new snapshot, under the lock) and added to *now; those
 * of them an earlier round counted are taken out of that round, their
 * rows read in its snapshot taken out of *now again, and those no round
 * counted yet are read in "before" (into *was; rows counted only, their
 * hashes are never compared).  So each key replayed is counted once in
 * *was, as it was in "before", and once in *now, as it is after the last
 * replay that re-synced it.
 */
static void
account_keys(StewardJob *job, CopySql *c, const char *hash, Snapshot before,
			 FinalRound *rounds, int nrounds, KeySet *keys, Snapshot snap, Tally was[2], Tally now[2])
{
	KeySet		fresh = *keys;

	for (int i = 0; i < nrounds; i++)
	{
		KeySet		again = keyset_split(c, &rounds[i].keys, keys, true);

		if (again.n > 0)
		{
			KeySet		rest = keyset_split(c, &rounds[i].keys, keys, false);
			KeySet		left = keyset_split(c, &fresh, &again, false);

			tally_keys(job, c, hash, rounds[i].snap, &again, -1, &now[0], &now[1]);
			pfree(rounds[i].keys.keys);
			rounds[i].keys = rest;
			if (fresh.keys != keys->keys)
				pfree(fresh.keys);
			fresh = left;
		}
		pfree(again.keys);
	}
	tally_keys(job, c, ROWS_ONLY, before, &fresh, 1, &was[0], &was[1]);
	if (fresh.keys != keys->keys)
		pfree(fresh.keys);
	tally_keys(job, c, hash, snap, keys, 1, &now[0], &now[1]);
}

/*
 * Replay the oldest entries of the log, at most limit of them, in batches,
 * until it has none left; returns how many were taken, their keys added to
 * *keys (unsorted, a key per entry).
 */
static int64
replay_entries(StewardJob *job, CopySql *c, int64 limit, KeySet *keys)
{
	int64		taken = 0;

	while (taken < limit)
	{
		int			want = (int) Min((int64) job->batch_size, limit - taken);
		int64		n = replay_log(job, c, want, NULL, NULL, keys);

		CHECK_FOR_INTERRUPTS();
		taken += n;
		if (n < want)
			break;
	}
	return taken;
}

/* the number of entries in the job's log */
static int64
log_entries(StewardJob *job)
{
	const char *args[] = {psprintf(INT64_FORMAT, job->id)};
	bool		isnull;
	char	   *text = steward_query_text_as_owner("SELECT pg_catalog.count(*) FROM steward.copy_changes "
												   "WHERE job_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
												   1, args, &isnull);

	return isnull ? 0 : pg_strtoint64(text);
}

/*
 * final: count both tables, replay the log, then under a short lock
 * drain it, check the counts and the rows it re-synced, swap.
 *
 * The counts are taken before the lock, in a snapshot "before" registered
 * for the step; the target is locked IN SHARE MODE first, so that from
 * then on only this step writes it, and the entries the log holds then are
 * replayed before "before" is taken, with no reads of their rows: the
 * counts see those keys as replayed, and a write after "before" is logged
 * after it, so the replays below take it.  Then, still before the lock,
 * the log is replayed in rounds: each takes about as many entries as the
 * log held when it began (what is written meanwhile is left for the next
 * round, so that a round ends however fast the source is written), and
 * registers a snapshot after it.  Another round follows while the last
 * one left at most half as many entries as it took, up to FINAL_ROUNDS:
 * so the log shrinks geometrically while the writers are slower than the
 * replay, and the rounds together take at most about twice the first one;
 * none when the first round could not halve the log (see below).  Under
 * the lock the log is drained.  The keys replayed in the rounds and under
 * the lock hold every key whose source rows may differ between "before"
 * and now (a write is logged with its row change, and nothing but these
 * replays took entries from the log since "before").  So the row count of
 * each table now is its count in "before", less its rows of those keys in
 * "before", plus their rows now; the two must be equal, and the rows of
 * those keys must be equal on both sides now (count and sum of row
 * hashes).
 * A key last replayed in round i and not under the lock has the same rows
 * now as in round i's snapshot on both sides: a change to it that this
 * snapshot does not see was logged after round i took its entries, so a
 * later round or the drain under the lock took it; and only this step
 * writes the target.  So each key's rows are read in "before" when a
 * round or the drain first replays it, and in the snapshot after each
 * replay of it, those read after an earlier one taken out again
 * (account_keys): all before the lock but for the keys drained under it.
 * The keys only the first replay re-synced are in the counts alone.  The
 * lock is held for the replay of what was written during the last round
 * (with none, during the first replay and the counts) and the reads of
 * those keys' rows, not for a count of the tables nor for the log that
 * built up during the verify phase.  The time from the lock's grant
 * to the end of the step is recorded in run->lock_ms (the longest, when
 * the step runs more than once), the log entries replayed before and
 * under the lock in run->replayed_before (the first replay's too) and
 * run->replayed_under, the rounds (not counting the first replay) in
 * run->rounds.  Returns the log entries replayed.
 */
static int64
final_step(StewardJob *job, CopySql *c, CopyRun *run)
{
	bool		swap = strcmp(steward_job_arg_text(job, "swap"), "true") == 0;
	const char *hash = row_hash_sql(job, c);
	Snapshot	before;
	int64		count_src;
	int64		count_tgt;
	TimestampTz locked;
	StringInfoData done;
	bool		isnull;
	int64		pending;
	bool		halves;
	FinalRound	rounds[FINAL_ROUNDS];
	int			nrounds = 0;
	Tally		was[2] = {{0}};	/* source, target: the replayed keys' rows in "before" */
	Tally		now[2] = {{0}};	/* and now */
	int64		keys_replayed = 0;
	TimestampTz started;
	double		first_ms;

	if (SPI_execute(psprintf("LOCK TABLE %s IN SHARE MODE", c->tgt), false, 0) < 0)
		elog(ERROR, "could not lock the target");

	/*
	 * The log as it is now, replayed before "before" is taken: the counts
	 * see its keys as replayed, so none of their rows is read.
	 */
	started = GetCurrentTimestamp();
	run->replayed_before = replay_entries(job, c, log_entries(job), NULL);
	first_ms = ms_since(started);

	CommandCounterIncrement();
	before = RegisterSnapshot(GetTransactionSnapshot());
	PushActiveSnapshot(before);
	/* no row limit: with one, the executor would run the counts without parallel workers */
	if (SPI_execute(psprintf("SELECT (SELECT pg_catalog.count(*) FROM %s), (SELECT pg_catalog.count(*) FROM %s)",
							 c->src, c->tgt), true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count rows");
	count_src = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	count_tgt = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	PopActiveSnapshot();

	/*
	 * Rounds of replay before the lock, while the log shrinks fast enough:
	 * none when the writers refilled the log during the first replay and
	 * the counts so fast that a round, ROUND_COST times as long per entry
	 * as that replay, would not halve it (the entries written during the
	 * round would be more than half those it took): such rounds only let
	 * the log grow, and the lock would be held for more entries.
	 */
	pending = log_entries(job);
	halves = run->replayed_before == 0 ||
		2.0 * pending * ROUND_COST * first_ms <= (double) run->replayed_before * ms_since(started);
	while (halves && pending > 0 && nrounds < FINAL_ROUNDS)
	{
		KeySet		keys = {0};
		int64		taken;
		int64		left;

		taken = replay_entries(job, c, pending, &keys);
		if (taken == 0)
			break;
		run->replayed_before += taken;
		keys.n = unique_keys(c, keys.keys, keys.n);
		CommandCounterIncrement();
		rounds[nrounds].snap = RegisterSnapshot(GetTransactionSnapshot());
		account_keys(job, c, hash, before, rounds, nrounds, &keys, rounds[nrounds].snap, was, now);
		rounds[nrounds].keys = keys;
		nrounds++;
		left = log_entries(job);
		if (left > taken / 2)
			break;
		pending = left;
	}
	run->rounds = nrounds;

	if (swap)
	{
		if (SPI_execute(psprintf("LOCK TABLE %s, %s IN ACCESS EXCLUSIVE MODE", c->src, c->tgt), false, 0) < 0)
			elog(ERROR, "could not lock the tables");
	}
	else if (SPI_execute(psprintf("LOCK TABLE %s IN SHARE MODE", c->src), false, 0) < 0)
		elog(ERROR, "could not lock the source");
	locked = GetCurrentTimestamp();

	PG_TRY();
	{
		KeySet		under = {0};

		run->replayed_under = replay_entries(job, c, PG_INT64_MAX, &under);
		under.n = unique_keys(c, under.keys, under.n);
		account_keys(job, c, hash, before, rounds, nrounds, &under, NULL, was, now);
		for (int i = 0; i < nrounds; i++)
			keys_replayed += rounds[i].keys.n;
		keys_replayed += under.n;
		count_src += now[0].n - was[0].n;
		count_tgt += now[1].n - was[1].n;
		if (count_src != count_tgt)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("copy verification failed: the source has %lld rows, the target %lld",
							(long long) count_src, (long long) count_tgt)));
		if (now[0].n != now[1].n || now[0].sum != now[1].sum)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("copy verification failed: the rows of the %lld keys replayed after the final step's counts differ between source and target",
							(long long) keys_replayed),
					 errdetail("The source has %lld rows of these keys, the target %lld.",
							   (long long) now[0].n, (long long) now[1].n)));

		steward_exec_as_owner(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
									   quote_identifier(psprintf("steward_copy_%lld", (long long) job->id)), c->src),
							  0, NULL);
		initStringInfo(&done);
		appendStringInfo(&done, "done: " INT64_FORMAT " rows", count_tgt);
		if (swap)
		{
			char	   *src_name = get_rel_name(job->source);
			char	   *old_name = psprintf("%s_old", src_name);

			if (SPI_execute(psprintf("ALTER TABLE %s RENAME TO %s", c->src, quote_identifier(old_name)), false, 0) < 0 ||
				SPI_execute(psprintf("ALTER TABLE %s RENAME TO %s", c->tgt, quote_identifier(src_name)), false, 0) < 0)
				elog(ERROR, "could not swap the tables");
			appendStringInfo(&done, ", swapped (the old table is %s)", old_name);
		}
	}
	PG_CATCH();
	{
		run->lock_ms = Max(run->lock_ms, ms_since(locked));
		PG_RE_THROW();
	}
	PG_END_TRY();
	run->lock_ms = Max(run->lock_ms, ms_since(locked));
	for (int i = 0; i < nrounds; i++)
		UnregisterSnapshot(rounds[i].snap);
	UnregisterSnapshot(before);
	steward_job_set_phase(job, done.data);
	return run->replayed_before + run->replayed_under;
}

static StewardBatchResult
copy_table_batch(StewardJob *job, int64 *rows)
{
	CopySql		c;
	CopyRun    *run = copy_run(job);
	TimestampTz start = GetCurrentTimestamp();
	CopyPhase	phase = run->phase;
	CopyPhase	next = phase;
	StewardBatchResult result = BATCH_MORE;

	copy_sql(job, &c);
	*rows = 0;

	/*
	 * After the copy phase (whose last batch has committed): the replayer
	 * replays every key, until the final step, which replays alone.
	 */
	if (phase == PHASE_FINAL)
		steward_replayer_stop();
	else if (phase != PHASE_COPY)
		(void) steward_replayer_publish(job->upper_key, job->upper_key);
	switch (phase)
	{
		case PHASE_COPY:
			if (copy_batch(job, &c, rows))
			{
				next = PHASE_REPLAY;
				job->current_key = NULL;
			}
			break;
		case PHASE_REPLAY:
			if (steward_replayer_active() || replay_batch(job, &c, rows))
				next = PHASE_VERIFY;
			break;
		case PHASE_VERIFY:
			if (verify_batch(job, &c, rows))
			{
				next = PHASE_FINAL;
				job->current_key = NULL;
			}
			break;
		case PHASE_FINAL:
			*rows = final_step(job, &c, run);
			result = BATCH_DONE;
			break;
		case NUM_PHASES:
			Assert(false);
			break;
	}

	/* the batch's time, since the end of the run's previous batch */
	run->secs[phase] += (double) (GetCurrentTimestamp() - (run->last_end ? run->last_end : start)) / 1000000.0;
	run->last_end = GetCurrentTimestamp();
	run->phase = next;
	if (result == BATCH_DONE)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, job->phase);
		append_times(&buf, run, PHASE_FINAL);
		appendStringInfo(&buf, ", lock held %.0f ms, log entries replayed " INT64_FORMAT " before it in %d round%s and " INT64_FORMAT " under it",
						 run->lock_ms, run->replayed_before, run->rounds, run->rounds == 1 ? "" : "s",
						 run->replayed_under);
		steward_job_set_phase(job, buf.data);
	}
	else
		set_phase_text(job, run);
	return result;
}

/*
 * A copy that ends without success (cancelled, failed): drop the capture
 * trigger from the source and forget the job's change log.
 */
static void
copy_cleanup(StewardJob *job)
{
	const char *args[] = {psprintf(INT64_FORMAT, job->id)};

	steward_replayer_stop();	/* no replay after this */
	if (get_rel_name(job->source) != NULL)
		steward_exec_as_owner(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
									   quote_identifier(psprintf("steward_copy_%lld", (long long) job->id)),
									   qualified_rel(job->source)),
							  0, NULL);
	steward_exec_as_owner("DELETE FROM steward.copy_changes WHERE job_id OPERATOR(pg_catalog.=) $1::bigint", 1, args);
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
