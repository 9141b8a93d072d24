/*-------------------------------------------------------------------------
 *
 * expand.c
 *	  Expand/contract migrations: rename a column or change its type while
 *	  the old and the new application version both write the same table.
 *
 *	  migrate_expand(version, relation, column_name, new_name, new_type,
 *					 up, down, description, lock_timeout, lock_retries,
 *					 batch_size)
 *	  migrate_expand_check(version), which records its count for
 *	  migrate_status()
 *	  migrate_contract(version, lock_timeout, lock_retries)
 *	  migrate_abort(version, lock_timeout, lock_retries)
 *
 *	  check, contract and abort serve every kind of expansion: a column
 *	  (here), a table rename (expand_table.c), a required column
 *	  (expand_require.c), which share the helpers of expand.h.
 *
 * Words: an expansion is one expand/contract migration, named by its
 * version.  The old column is the one the old application uses; the new
 * column is added by expand.  up computes the new column from a row, down
 * the old one.  A row disagrees when its new column is distinct from up of
 * the row.
 *
 * expand adds the new column, a BEFORE INSERT OR UPDATE trigger whose
 * function (plpgsql, not SECURITY DEFINER, search_path pinned) keeps both
 * columns in sync whichever side a statement wrote, and submits a backfill
 * job for the rows already there.  The schema change is applied through
 * migrate_apply, as the caller, under its lock_timeout and retries, with
 * history, checksum, review and ledger; its down_sql removes what expand
 * added, and migrate_abort runs it through migrate_rollback.  contract is
 * applied through migrate_apply as the version "<version>_contract".
 *
 * A rename of a NOT NULL column keeps NOT NULL: expand adds CHECK (new IS
 * NOT NULL) NOT VALID with the new column; contract validates it first
 * (SHARE UPDATE EXCLUSIVE, writes go on), then sets NOT NULL, proven by
 * the check without a scan, and drops the check.
 *
 * Nothing of the caller's runs as the owner: the bookkeeping in
 * steward.expansions is written through fixed SQL as the owner (owner
 * scope); the up and down expressions are parsed here as the caller, and
 * evaluated only by the trigger (as whoever writes the row, like any
 * trigger the table's owner adds), by the backfill job (as the caller who
 * submitted it) and by the check of migrate_expand_check and
 * migrate_contract (as the role that expanded it, whoever calls them).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "optimizer/optimizer.h"
#include "utils/guc.h"
#include "nodes/primnodes.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_steward.h"
#include "migrations/expand.h"
#include "migrations/migrations.h"

PG_FUNCTION_INFO_V1(steward_migrate_expand);
PG_FUNCTION_INFO_V1(steward_migrate_expand_check);
PG_FUNCTION_INFO_V1(steward_migrate_contract);
PG_FUNCTION_INFO_V1(steward_migrate_abort);

#define ARG_TEXT_OR_NULL(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))
#define MAX_EXPRESSION_LEN	8192

/* One expansion as steward.expansions records it. */
typedef struct Expansion
{
	char	   *version;
	Oid			relid;
	char	   *relname;		/* qualified and quoted */
	char	   *old_column;
	char	   *new_column;
	bool		in_place;
	char	   *new_type;		/* formatted with the pinned search_path */
	char	   *up;
	char	   *sync_function;	/* qualified and quoted */
	char	   *sync_trigger;
	int64		job_id;
	char	   *phase;
	char	   *expanded_by;	/* the role that expanded it (its author) */
	char	   *kind;			/* 'column' or 'table' */
	char	   *old_relation;	/* a table rename: the view's qualified name */
	char	  **old_cols;		/* the columns contract drops (a column
								 * expansion: old_column; a derived one: its
								 * old_columns) */
	int			nold;
} Expansion;

/* The first column of a query's first row, run as the caller (pinned path). */
char *
steward_expand_as_caller(const char *sql, int nargs, const char *const *args)
{
	bool		isnull;

	return steward_query_text_as_caller(sql, nargs, args, &isnull);
}

/* An interval argument as text (NULL for SQL NULL). */
const char *
steward_expand_timeout_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL
		: DatumGetCString(DirectFunctionCall1(interval_out, PG_GETARG_DATUM(n)));
}

/* lock_retries argument n as text for migrate_apply/migrate_rollback, or NULL */
char *
steward_expand_retries_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : psprintf("%d", PG_GETARG_INT32(n));
}

/* A column name argument (type name, so at most NAMEDATALEN - 1 bytes). */
char *
steward_expand_required_name(FunctionCallInfo fcinfo, int n, const char *argname)
{
	char	   *s;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
	s = pstrdup(NameStr(*PG_GETARG_NAME(n)));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname)));
	return s;
}

/*
 * The relation of an expansion: an ordinary table the caller owns (or a
 * partitioned one, for a table rename).
 */
void
steward_expand_check_relation(Oid relid, bool allow_partitioned)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION &&
		!(allow_partitioned && relkind == RELKIND_PARTITIONED_TABLE))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an ordinary table", get_rel_name(relid)),
				 errdetail(allow_partitioned
						   ? "A table rename works on ordinary and partitioned tables."
						   : "Expand/contract migrations of a column work on ordinary (not partitioned) tables.")));
	if (!steward_owns_relation(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid)),
				 errdetail("An expand/contract migration alters the table, as migrate_apply would.")));
}

/*
 * The objects that depend on a relation (attnum 0) or on one of its
 * columns, as "a, b" for a message, or NULL when none does: what contract
 * must not break.  A column's default does not count (it goes with the
 * column), nor do a view's own rules.
 */
char *
steward_expand_dependents(Oid relid, AttrNumber attnum)
{
	const char *args[2] = {psprintf("%u", relid), psprintf("%d", attnum)};
	bool		isnull;

	return steward_query_text_as_owner(
		"SELECT pg_catalog.string_agg(o.d, ', ' ORDER BY o.d) FROM ("
		" SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS d"
		"   FROM pg_catalog.pg_depend d"
		"  WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
		"    AND d.refobjid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
		"    AND ($2::pg_catalog.int4 OPERATOR(pg_catalog.=) 0"
		"         OR d.refobjsubid OPERATOR(pg_catalog.=) $2::pg_catalog.int4)"
		"    AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_attrdef'::pg_catalog.regclass"
		"    AND d.deptype OPERATOR(pg_catalog.=) ANY ('{n,a}'::pg_catalog.\"char\"[])"
		"    AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
		"             AND d.objid OPERATOR(pg_catalog.=) ANY (SELECT w.oid FROM pg_catalog.pg_rewrite w"
		"                 WHERE w.ev_class OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
		"                   AND w.rulename OPERATOR(pg_catalog.=) '_RETURN'))) o",
		2, args, &isnull);
}

/*
 * Apply an expand migration through migrate_apply, as the caller: up_sql
 * and down_sql, with the function's out_of_order, lock_timeout and
 * lock_retries arguments (numbers argn, argn + 1, argn + 2); allow, if
 * not NULL, is one lint acceptance ("<rule> <reason>").
 */
void
steward_expand_apply(FunctionCallInfo fcinfo, int argn, const char *version, const char *up_sql,
					 const char *down_sql, const char *description, const char *allow)
{
	const char *args[8] = {
		version, up_sql, down_sql, description,
		(!PG_ARGISNULL(argn) && PG_GETARG_BOOL(argn)) ? "true" : "false",
		steward_expand_timeout_arg(fcinfo, argn + 1),
		steward_expand_retries_arg(fcinfo, argn + 2),
		allow
	};
	char	   *result;

	result = steward_expand_as_caller("SELECT steward.migrate_apply(version => $1, up_sql => $2, "
									  "down_sql => $3, description => $4, "
									  "out_of_order => $5::pg_catalog.bool, "
									  "lock_timeout => $6::pg_catalog.interval, "
									  "lock_retries => $7::pg_catalog.int4, "
									  "allow => pg_catalog.array_remove(ARRAY[$8], NULL))", 8, args);
	if (result == NULL || strcmp(result, "applied") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" was not applied by this expand (%s)", version,
						result ? result : "no result"),
				 errhint("A version already applied cannot be expanded again; choose a new version.")));
}

/*
 * Submit the backfill of a new column, as the caller: every row whose new
 * column is distinct from up (cast to new_type) gets it.  Returns the job
 * id as text.
 */
char *
steward_expand_submit_backfill(Oid relid, const char *new_column, const char *up,
							   const char *new_type, int32 batch_size)
{
	return steward_expand_backfill(relid,
								   psprintf("%s = CAST((%s\n) AS %s)", quote_identifier(new_column), up, new_type),
								   psprintf("%s IS DISTINCT FROM CAST((%s\n) AS %s)",
											quote_identifier(new_column), up, new_type),
								   batch_size);
}

/*
 * Refuse an expand because of the pending expansion "pending": the same
 * version, or another one that holds what (e.g. 'table "t"').
 */
void
steward_expand_refuse_pending(const char *version, const char *pending, const char *what)
{
	if (strcmp(pending, version) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("expand/contract migration \"%s\" is already expanded", version),
				 errhint("migrate_contract('%s') or migrate_abort('%s') ends it.", version, version)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s is part of the pending expand/contract migration \"%s\"", what, pending),
			 errhint("Contract or abort \"%s\" first.", pending)));
}

/*
 * The version of a pending expansion that an expansion of the columns cols
 * (a JSON array of names) of relid would collide with: of version itself,
 * a table rename of relid, or one whose old or new columns are among cols;
 * NULL when there is none.
 */
char *
steward_expand_pending_columns(Oid relid, const char *version, const char *cols)
{
	const char *args[3] = {psprintf("%u", relid), version, cols};
	bool		isnull;

	return steward_query_text_as_owner(
		"SELECT e.version FROM steward.expansions e,"
		"       LATERAL (SELECT ARRAY(SELECT x::pg_catalog.name"
		"                               FROM pg_catalog.jsonb_array_elements_text($3::pg_catalog.jsonb) x) AS c) n"
		" WHERE e.phase OPERATOR(pg_catalog.=) 'expanded' "
		"   AND (e.version OPERATOR(pg_catalog.=) $2 "
		"     OR (e.relation OPERATOR(pg_catalog.=) $1::pg_catalog.oid "
		"         AND (e.kind OPERATOR(pg_catalog.=) 'table' "
		"           OR e.old_column OPERATOR(pg_catalog.=) ANY (n.c) "
		"           OR e.new_column OPERATOR(pg_catalog.=) ANY (n.c) "
		"           OR e.old_columns OPERATOR(pg_catalog.&&) n.c))) "
		" ORDER BY e.version OPERATOR(pg_catalog.=) $2 DESC LIMIT 1", 3, args, &isnull);
}

/*
 * The version of a pending expansion of any kind on relid, or of version
 * itself; NULL when there is none.
 */
char *
steward_expand_pending_on(Oid relid, const char *version)
{
	const char *args[2] = {psprintf("%u", relid), version};
	bool		isnull;

	return steward_query_text_as_owner(
		"SELECT e.version FROM steward.expansions e "
		" WHERE e.phase OPERATOR(pg_catalog.=) 'expanded' "
		"   AND (e.relation OPERATOR(pg_catalog.=) $1::pg_catalog.oid "
		"     OR e.version OPERATOR(pg_catalog.=) $2) "
		" ORDER BY e.version OPERATOR(pg_catalog.=) $2 DESC LIMIT 1", 2, args, &isnull);
}

static bool
walk_for_sublinks(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink))
		return true;
	return raw_expression_tree_walker(node, walk_for_sublinks, context);
}

/*
 * Check that expr (the argument argname) is one SQL expression over the
 * columns of the table, and that its value can be assigned to a column of
 * type target: parsed on its own (no statement, no second statement, no
 * subquery, no aggregate, window function or set-returning function), then
 * analysed with search_path pinned, as the trigger will run it.  The row it
 * sees is the table's, with the new column (newcol of type newtype) added
 * unless newcol is NULL.  Returns the analysed expression.  Evaluates
 * nothing.  Must be called with search_path pinned.
 */
Node *
steward_expand_check_expression(const char *argname, const char *expr, const char *relname,
								const char *newcol, const char *newtype, Oid target,
								const char *targetname)
{
	char	   *sql;
	List	   *raw;
	RawStmt    *rs;
	SelectStmt *sel;
	Query	   *q;
	TargetEntry *tle;
	Oid			type;

	if (strlen(expr) > MAX_EXPRESSION_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", argname),
				 errdetail("The limit is %d bytes.", MAX_EXPRESSION_LEN)));

	sql = psprintf("SELECT (%s\n)", expr);
	raw = steward_parse_sql_arg(sql, argname);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a single expression", argname)));
	rs = linitial_node(RawStmt, raw);
	sel = (SelectStmt *) rs->stmt;
	if (!IsA(sel, SelectStmt) || sel->op != SETOP_NONE ||
		list_length(sel->targetList) != 1 || sel->fromClause || sel->whereClause ||
		sel->groupClause || sel->havingClause || sel->windowClause ||
		sel->valuesLists || sel->sortClause || sel->limitCount ||
		sel->limitOffset || sel->lockingClause || sel->withClause ||
		sel->distinctClause || sel->intoClause)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a single expression", argname),
				 errdetail("It is written into a trigger as (%s); it must not close the parenthesis or add clauses.", argname)));
	if (walk_for_sublinks(((ResTarget *) linitial(sel->targetList))->val, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not contain a subquery", argname),
				 errdetail("The expression computes one column from the other columns of the same row.")));

	/* analyse it against the row the trigger sees */
	if (newcol)
		sql = psprintf("SELECT (%s\n) FROM (SELECT t.*, NULL::%s AS %s FROM ONLY %s AS t) AS t",
					   expr, newtype, quote_identifier(newcol), relname);
	else
		sql = psprintf("SELECT (%s\n) FROM ONLY %s AS t", expr, relname);
	q = steward_analyze_sql_arg(sql, argname);
	if (q->hasAggs || q->hasWindowFuncs || q->hasTargetSRFs || q->hasSubLinks)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must compute one value per row", argname),
				 errdetail("Aggregates, window functions, subqueries and set-returning functions are not allowed.")));
	tle = linitial_node(TargetEntry, q->targetList);
	type = exprType((Node *) tle->expr);
	if (!can_coerce_type(1, &type, &target, COERCION_ASSIGNMENT))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s has type %s, but column \"%s\" has type %s",
						argname, format_type_be(type), targetname, format_type_be(target)),
				 errhint("Add a cast to the expression, e.g. (...)::%s.", format_type_be(target))));
	return (Node *) tle->expr;
}

/* A type whose values the trigger compares with IS DISTINCT FROM. */
void
steward_expand_require_equality(Oid type, const char *column)
{
	TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_EQ_OPR);

	if (!OidIsValid(tc->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("type %s of column \"%s\" has no equality operator", format_type_be(type), column),
				 errdetail("The sync trigger compares old and new values.")));
}

/* Whether a column is NOT NULL (pg_attribute.attnotnull). */
bool
steward_expand_column_not_null(Oid relid, AttrNumber attnum)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	bool		notnull;

	if (!HeapTupleIsValid(tup))
		return false;
	notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
	ReleaseSysCache(tup);
	return notnull;
}

/*
 * The CHECK (<new column> IS NOT NULL) a rename of a NOT NULL column adds
 * NOT VALID at expand and contract validates, then turns into NOT NULL.
 */
static char *
not_null_check_name(const char *version)
{
	return steward_expand_object_name("steward_nn", version);
}

/* The name of an object an expansion creates: "<prefix>_" and 12 hex digits of the version's hash. */
char *
steward_expand_object_name(const char *prefix, const char *version)
{
	return psprintf("%s_%.12s", prefix, steward_sha256_hex(version, strlen(version)));
}

/* An expression of the row NEW as a trigger function assigns it, cast to type. */
char *
steward_expand_row_value(const char *expr, const char *type)
{
	return psprintf("(SELECT CAST((%s\n) AS %s) FROM (SELECT NEW.*) AS t)", expr, type);
}

/* The relation argument n, which must not be NULL. */
Oid
steward_expand_relation_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be null")));
	return PG_GETARG_OID(n);
}

/* The batch_size argument n: 10000 for NULL, else at least 1. */
int32
steward_expand_batch_size_arg(FunctionCallInfo fcinfo, int n)
{
	int32		batch_size = PG_ARGISNULL(n) ? 10000 : PG_GETARG_INT32(n);

	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1")));
	return batch_size;
}

/*
 * The checks an expansion of a column starts with (fn is the function's
 * name): a read-write primary, READ COMMITTED, an ordinary table the caller
 * owns, a user column of it.  Returns the column's number.
 */
AttrNumber
steward_expand_column_start(Oid relid, const char *column, const char *fn)
{
	AttrNumber	attnum;

	steward_require_read_write("expand a table");
	steward_require_read_committed(fn);
	steward_expand_check_relation(relid, false);
	attnum = get_attnum(relid, column);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", column, get_rel_name(relid))));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is a system column", column)));
	if (get_attgenerated(relid, attnum) != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is a generated column", column)));
	return attnum;
}

/*
 * Refuse an expansion of column (and new_name) of relid while a pending
 * expansion uses either column or renames the table, or version is
 * pending already.
 */
void
steward_expand_refuse_pending_column(Oid relid, const char *column, const char *new_name,
									 const char *version)
{
	StringInfoData cols;
	char	   *conflict;

	initStringInfo(&cols);
	appendStringInfoChar(&cols, '[');
	escape_json(&cols, column);
	appendStringInfoChar(&cols, ',');
	escape_json(&cols, new_name);
	appendStringInfoChar(&cols, ']');
	conflict = steward_expand_pending_columns(relid, version, cols.data);
	if (conflict)
		steward_expand_refuse_pending(version, conflict,
									  psprintf("column \"%s\" of relation \"%s\"", column, get_rel_name(relid)));
}

/* Submit the backfill job of an expansion, as the caller: its id. */
char *
steward_expand_backfill(Oid relid, const char *set_clause, const char *where_clause,
						int32 batch_size)
{
	const char *args[4] = {
		psprintf("%u", relid), set_clause, where_clause, psprintf("%d", batch_size)
	};

	return steward_expand_as_caller("SELECT steward.backfill(relation => $1::pg_catalog.oid::pg_catalog.regclass, "
									"set_clause => $2, where_clause => $3, batch_size => $4::pg_catalog.int4)",
									4, args);
}

/*
 * The end of a sync expansion's expand SQL (appended to sql): EXECUTE on
 * the trigger function revoked from PUBLIC, the BEFORE INSERT OR UPDATE
 * trigger; returns its abort SQL, which drops both and the new column.
 */
char *
steward_expand_sync_sql(StringInfo sql, const char *version, const char *sync_function,
						const char *sync_name, const char *relname, const char *new_column)
{
	appendStringInfo(sql,
					 "REVOKE ALL ON FUNCTION %s() FROM PUBLIC;\n\n"
					 "CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s\n"
					 "    FOR EACH ROW EXECUTE FUNCTION %s();\n",
					 sync_function, quote_identifier(sync_name), relname, sync_function);
	return psprintf("-- expand/contract migration %s: abort\n"
					"DROP TRIGGER %s ON %s;\n"
					"DROP FUNCTION %s();\n"
					"ALTER TABLE %s DROP COLUMN %s;\n",
					version, quote_identifier(sync_name), relname, sync_function,
					relname, quote_identifier(new_column));
}

/* A dollar-quote tag that occurs in none of the texts (all of a body's). */
char *
steward_expand_dollar_tag(const char *a, const char *b)
{
	for (int i = 0;; i++)
	{
		char	   *tag = i == 0 ? pstrdup("$steward_sync$") : psprintf("$steward_sync_%d$", i);

		if (strstr(a, tag) == NULL && strstr(b, tag) == NULL)
			return tag;
	}
}

Datum
steward_migrate_expand(PG_FUNCTION_ARGS)
{
	char	   *version;
	Oid			relid;
	char	   *column;
	char	   *new_name = NULL;
	char	   *new_type_arg;
	char	   *up;
	char	   *down;
	char	   *description;
	AttrNumber	attnum;
	Oid			old_typid;
	int32		old_typmod;
	Oid			new_typid;
	int32		new_typmod;
	bool		in_place;
	char	   *relname;
	char	   *nspname;
	char	   *old_type;
	char	   *new_type;
	char	   *sync_name;
	char	   *sync_function;
	char	   *tag;
	char	   *up_val;
	char	   *down_val;
	StewardOwnerScope scope;
	StringInfoData sql;
	char	   *undo;
	char	   *job;
	int32		batch_size;

	steward_refuse_nested();
	version = steward_check_version("version", ARG_TEXT_OR_NULL(0));
	relid = steward_expand_relation_arg(fcinfo, 1);
	column = steward_expand_required_name(fcinfo, 2, "column_name");
	if (!PG_ARGISNULL(3))
		new_name = steward_expand_required_name(fcinfo, 3, "new_name");
	new_type_arg = steward_optional_text(ARG_TEXT_OR_NULL(4), "new_type", 1024);
	up = steward_optional_text(ARG_TEXT_OR_NULL(5), "up", 0);
	down = steward_optional_text(ARG_TEXT_OR_NULL(6), "down", 0);
	description = steward_optional_text(ARG_TEXT_OR_NULL(7), "description",
										STEWARD_MAX_DESCRIPTION_LEN);
	batch_size = steward_expand_batch_size_arg(fcinfo, 11);

	attnum = steward_expand_column_start(relid, column, "migrate_expand");
	get_atttypetypmodcoll(relid, attnum, &old_typid, &old_typmod, &(Oid) {0});

	if (new_name == NULL && new_type_arg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nothing to expand: give new_name, new_type or both")));
	if (new_type_arg)
		parseTypeString(new_type_arg, &new_typid, &new_typmod, NULL);
	else
	{
		new_typid = old_typid;
		new_typmod = old_typmod;
	}
	if (new_type_arg == NULL && (up || down))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("up and down are for a type change"),
				 errdetail("A rename copies the value as it is."),
				 errhint("Pass new_type with up and down, or leave up and down out.")));
	if (new_type_arg && (up == NULL || down == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a type change needs both up and down"),
				 errdetail("up computes the new column from a row the old application wrote, down the old column from a row the new application wrote.")));
	in_place = (new_name == NULL);
	if (in_place)
	{
		new_name = psprintf("%s_new", column);
		if (strlen(new_name) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("column name \"%s\" is too long for a temporary \"_new\" column", column),
					 errhint("Pass new_name.")));
	}
	if (strcmp(new_name, column) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("new_name is the name of the column already"),
				 errhint("To change only the type, leave new_name out.")));
	if (get_attnum(relid, new_name) != InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" already exists", new_name, get_rel_name(relid))));
	steward_expand_require_equality(old_typid, column);
	steward_expand_require_equality(new_typid, new_name);

	nspname = get_namespace_name(get_rel_namespace(relid));
	sync_name = steward_expand_object_name("steward_sync", version);

	/* names and expressions as the trigger sees them: search_path pinned */
	steward_owner_scope_begin(&scope, false);
	relname = quote_qualified_identifier(nspname, get_rel_name(relid));
	old_type = format_type_with_typemod(old_typid, old_typmod);
	new_type = format_type_with_typemod(new_typid, new_typmod);
	if (up == NULL)
	{
		up = pstrdup(quote_identifier(column));
		down = pstrdup(quote_identifier(new_name));
	}
	steward_expand_check_expression("up", up, relname, new_name, new_type, new_typid, new_name);
	steward_expand_check_expression("down", down, relname, new_name, new_type, old_typid, column);
	steward_owner_scope_end(&scope);
	sync_function = quote_qualified_identifier(nspname, sync_name);

	/* no other pending expansion may use either column */
	steward_expand_refuse_pending_column(relid, column, new_name, version);

	/* a tag that occurs nowhere else in the function's body */
	tag = steward_expand_dollar_tag(up, psprintf("%s\n%s\n%s", down, new_name, column));
	up_val = steward_expand_row_value(up, new_type);
	down_val = steward_expand_row_value(down, old_type);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "-- expand/contract migration %s: expand\n"
					 "ALTER TABLE %s ADD COLUMN %s %s",
					 version, relname, quote_identifier(new_name), new_type);
	/* a rename keeps NOT NULL: checked from now on, validated at contract */
	if (new_type_arg == NULL && steward_expand_column_not_null(relid, attnum))
		appendStringInfo(&sql, ",\n    ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID",
						 quote_identifier(not_null_check_name(version)), quote_identifier(new_name));
	appendStringInfoString(&sql, ";\n\n");
	appendStringInfo(&sql,
					 "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql\n"
					 "SET search_path = pg_catalog, pg_temp AS %s\n"
					 "#variable_conflict use_column\n"
					 "BEGIN\n"
					 "    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN\n"
					 "        IF NEW.%s IS NULL THEN\n"
					 "            NEW.%s := %s;\n"
					 "        ELSIF NEW.%s IS DISTINCT FROM %s THEN\n"
					 "            NEW.%s := %s;\n"
					 "        END IF;\n"
					 "    ELSIF NEW.%s IS DISTINCT FROM OLD.%s THEN\n"
					 "        IF NEW.%s IS DISTINCT FROM %s THEN\n"
					 "            NEW.%s := %s;\n"
					 "        END IF;\n"
					 "    ELSE\n"
					 "        NEW.%s := %s;\n"
					 "    END IF;\n"
					 "    RETURN NEW;\n"
					 "END\n"
					 "%s;\n\n",
					 sync_function, tag,
					 quote_identifier(new_name),
					 quote_identifier(new_name), up_val,
					 quote_identifier(new_name), up_val,
					 quote_identifier(column), down_val,
					 quote_identifier(new_name), quote_identifier(new_name),
					 quote_identifier(new_name), up_val,
					 quote_identifier(column), down_val,
					 quote_identifier(new_name), up_val,
					 tag);
	undo = steward_expand_sync_sql(&sql, version, sync_function, sync_name, relname, new_name);

	if (description == NULL)
		description = new_type_arg
			? psprintf("expand: %s.%s to %s %s", get_rel_name(relid), column, new_name, new_type)
			: psprintf("expand: rename %s.%s to %s", get_rel_name(relid), column, new_name);

	/* the schema change, through migrate_apply, as the caller */
	steward_expand_apply(fcinfo, 8, version, sql.data, undo, description, NULL);

	/* the backfill, as the caller, with the trigger's search_path */
	job = steward_expand_submit_backfill(relid, new_name, up, new_type, batch_size);

	/* the bookkeeping, as the owner */
	{
		const char *args[14] = {
			version, psprintf("%u", relid), relname, column, new_name,
			in_place ? "true" : "false", old_type, new_type, up, down,
			sync_function, sync_name, job, steward_capture_who()
		};

		steward_exec_as_owner("SELECT steward.expansion_begin($1, $2::pg_catalog.oid, $3, $4, $5, "
							  "$6::pg_catalog.bool, $7, $8, $9, $10, $11, $12, "
							  "$13::pg_catalog.int8, $14::pg_catalog.jsonb)",
							  14, args);
	}

	ereport(NOTICE,
			(errmsg("expand/contract migration \"%s\" expanded: column \"%s\" added, kept in sync with \"%s\" by trigger %s; backfill job %s",
					version, new_name, column, sync_name, job),
			 errhint("migrate_expand_check('%s') counts the rows that disagree; migrate_contract('%s') ends the migration once the job has succeeded.",
					 version, version)));
	PG_RETURN_INT64(pg_strtoint64(job));
}

/* The expansion of a version, or an error when there is none. */
static void
load_expansion(const char *version, Expansion *e)
{
	const char *args[1] = {version};
	char	  **row;
	int			ncols;

	row = steward_query_row_as_owner(
		"SELECT e.relation::pg_catalog.text, e.relation_name, e.old_column, e.new_column, "
		"       e.in_place::pg_catalog.text, e.new_type, e.up_expr, e.sync_function, "
		"       e.sync_trigger, e.backfill_job::pg_catalog.text, e.phase, "
		"       e.expanded_by::pg_catalog.text, e.kind, e.old_relation_name, "
		"       e.old_columns::pg_catalog.text "
		"  FROM steward.expansions e WHERE e.version OPERATOR(pg_catalog.=) $1",
		1, args, &ncols);
	if (row == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("expand/contract migration \"%s\" does not exist", version),
				 errhint("migrate_expansions() lists them.")));
	e->version = pstrdup(version);
	e->relid = (Oid) strtoul(row[0], NULL, 10);
	e->relname = row[1];
	e->old_column = row[2];
	e->new_column = row[3];
	e->in_place = row[4] != NULL && strcmp(row[4], "true") == 0;
	e->new_type = row[5];
	e->up = row[6];
	e->sync_function = row[7];
	e->sync_trigger = row[8];
	e->job_id = row[9] ? pg_strtoint64(row[9]) : 0;
	e->phase = row[10];
	e->expanded_by = row[11];
	e->kind = row[12];
	e->old_relation = row[13];
	/*
	 * Every statement pg_steward builds for the table names it as the OID
	 * names it now, never by the name stored at expand: a table renamed
	 * since, and a view or another table put under its old name, must not
	 * be what a check counts or a contract alters.
	 */
	if (get_rel_name(e->relid) != NULL)
		e->relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(e->relid)),
												get_rel_name(e->relid));
	e->nold = 0;
	e->old_cols = NULL;
	if (row[14] != NULL)
	{
		Datum	   *elems;
		bool	   *nulls;
		ArrayType  *a = DatumGetArrayTypeP(OidInputFunctionCall(F_ARRAY_IN, row[14], NAMEOID, -1));

		deconstruct_array(a, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &elems, &nulls, &e->nold);
		e->old_cols = palloc(sizeof(char *) * Max(e->nold, 1));
		for (int i = 0; i < e->nold; i++)
			e->old_cols[i] = pstrdup(NameStr(*DatumGetName(elems[i])));
	}
	else if (e->old_column != NULL)
	{
		e->nold = 1;
		e->old_cols = palloc(sizeof(char *));
		e->old_cols[0] = e->old_column;
	}
}

static void
require_expanded(Expansion *e, const char *what)
{
	if (strcmp(e->phase, "expanded") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s expand/contract migration \"%s\": it is %s", what, e->version, e->phase)));
	if (get_rel_name(e->relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table %s of expand/contract migration \"%s\" no longer exists",
						e->relname, e->version)));
}

/*
 * The checks contract and abort start with: a read-write primary, READ
 * COMMITTED, an expanded migration of a table the caller owns.
 */
static char *
begin_phase(FunctionCallInfo fcinfo, const char *what, const char *fn, Expansion *e)
{
	char	   *version;

	steward_refuse_nested();
	version = steward_check_version("version", ARG_TEXT_OR_NULL(0));
	steward_require_read_write(psprintf("%s an expand/contract migration", what));
	steward_require_read_committed(fn);
	load_expansion(version, e);
	require_expanded(e, what);
	steward_expand_check_relation(e->relid, strcmp(e->kind, "table") == 0);
	return version;
}

/*
 * Whether relid has the helper constraint conname that expand added: a
 * CHECK whose expression is exactly (column IS NOT NULL).  false when
 * there is none; an error when a constraint of that name is anything
 * else.  Contract validates it as its caller, so it must be nothing but
 * that test: never a constraint found by its name alone.
 */
bool
steward_expand_not_null_check(Oid relid, const char *conname, const char *column, const char *version)
{
	Oid			conoid = get_relation_constraint_oid(relid, conname, true);
	HeapTuple	tup;
	Form_pg_constraint con;
	bool		ok = false;

	if (!OidIsValid(conoid))
		return false;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		return false;
	con = (Form_pg_constraint) GETSTRUCT(tup);
	if (con->contype == CONSTRAINT_CHECK && con->conislocal && con->connoinherit == false)
	{
		bool		isnull;
		Datum		bin = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conbin, &isnull);

		if (!isnull)
		{
			Node	   *expr = stringToNode(TextDatumGetCString(bin));

			if (IsA(expr, NullTest) && ((NullTest *) expr)->nulltesttype == IS_NOT_NULL &&
				!((NullTest *) expr)->argisrow && IsA(((NullTest *) expr)->arg, Var))
			{
				Var		   *var = (Var *) ((NullTest *) expr)->arg;

				ok = var->varattno == get_attnum(relid, column) && var->varattno > 0;
			}
		}
	}
	ReleaseSysCache(tup);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("constraint \"%s\" of %s is not the check expand/contract migration \"%s\" added",
						conname, get_rel_name(relid), version),
				 errdetail("Contract validates only a CHECK (%s IS NOT NULL) of the table itself.",
						   quote_identifier(column)),
				 errhint("Drop the constraint, or put back ALTER TABLE ... ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID.",
						 quote_identifier(conname), quote_identifier(column))));
	return true;
}

/*
 * Running as the role that expanded a migration (its author): restricted
 * (SECURITY_RESTRICTED_OPERATION), in a GUC nest level that is rolled back
 * at the end whatever the author's code set, so that nothing of it
 * outlives the call in the caller's session.  On an error the
 * (sub)transaction's abort restores both.
 */
typedef struct AuthorScope
{
	Oid			save_userid;
	int			save_sec_context;
	int			nestlevel;
} AuthorScope;

static void
author_scope_begin(AuthorScope *scope, Oid author)
{
	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	scope->nestlevel = NewGUCNestLevel();
	SetUserIdAndSecContext(author, scope->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

static void
author_scope_end(AuthorScope *scope)
{
	AtEOXact_GUC(false, scope->nestlevel);
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}

/*
 * Run a count query over the expansion's table as the role that expanded
 * the migration (see count_disagreeing), in a GUC nest level of its own
 * that is rolled back whatever the query set: a set_config(..., false) in
 * the author's expression must not outlive the call in the caller's
 * session.  Returns the count.
 */
int64
steward_expand_count_as_author(const char *version, const char *author_name, const char *sql)
{
	Oid			author = get_role_oid(author_name, true);
	AuthorScope scope;
	char	   *n;

	if (!OidIsValid(author))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\", which expanded expand/contract migration \"%s\", no longer exists",
						author_name, version),
				 errdetail("The check evaluates up as the role that expanded the migration."),
				 errhint("migrate_abort('%s') ends the migration.", version)));
	if (!is_member_of_role(GetUserId(), author))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to check expand/contract migration \"%s\"", version),
				 errdetail("Its check runs as role \"%s\", which expanded it; only members of that role may have it run.",
						   author_name)));

	author_scope_begin(&scope, author);
	n = steward_expand_as_caller(sql, 0, NULL);
	author_scope_end(&scope);
	return pg_strtoint64(n);
}

/*
 * The number of rows whose new column is distinct from up of the row.
 *
 * up is the author's expression (the role that expanded): it runs as that
 * role, never with the caller's (possibly greater) privileges, as the
 * backfill job does, and only a member of that role may have it run.  The
 * user id is restored by the abort of the (sub)transaction on an error.
 */
static int64
count_disagreeing(Expansion *e)
{
	return steward_expand_count_as_author(e->version, e->expanded_by,
										  psprintf("SELECT pg_catalog.count(*) FROM ONLY %s AS t WHERE t.%s IS DISTINCT FROM CAST((%s\n) AS %s)",
												   e->relname, quote_identifier(e->new_column), e->up, e->new_type));
}

Datum
steward_migrate_expand_check(PG_FUNCTION_ARGS)
{
	char	   *version;
	Expansion	e;
	int64		n;

	version = steward_check_version("version", ARG_TEXT_OR_NULL(0));
	load_expansion(version, &e);
	require_expanded(&e, "check");
	if (strcmp(e.kind, "table") == 0)
		PG_RETURN_INT64(0);		/* a table rename keeps one copy of each row */
	if (strcmp(e.kind, "require") == 0)
		n = steward_require_count_null(version, e.expanded_by, e.relname, e.old_column);
	else
		n = count_disagreeing(&e);
	/* for migrate_status(), where it can be written */
	if (!RecoveryInProgress() && !XactReadOnly)
	{
		const char *args[2] = {version, psprintf(INT64_FORMAT, n)};

		steward_exec_as_owner("SELECT steward.expansion_counted($1, $2::pg_catalog.int8)", 2, args);
	}
	PG_RETURN_INT64(n);
}

static char *
job_state(int64 job_id)
{
	const char *args[1] = {psprintf(INT64_FORMAT, job_id)};
	bool		isnull;

	return steward_query_text_as_owner("SELECT j.state FROM steward.jobs j "
									   " WHERE j.id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
									   1, args, &isnull);
}

/* Refuse to contract an expansion whose backfill job has not succeeded. */
void
steward_expand_refuse_unfinished_backfill(const char *version, int64 job_id)
{
	char	   *state = job_id > 0 ? job_state(job_id) : NULL;

	if (state == NULL || strcmp(state, "succeeded") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot contract expand/contract migration \"%s\": its backfill job %lld has not succeeded",
						version, (long long) job_id),
				 errdetail("The job is %s.", state ? state : "gone"),
				 errhint("CALL job_await(%lld) waits for it; job_status(%lld) shows its progress.",
						 (long long) job_id, (long long) job_id)));
}

static void
expansion_end(Expansion *e, const char *phase)
{
	const char *args[3] = {e->version, phase, steward_capture_who()};

	steward_exec_as_owner("SELECT steward.expansion_end($1, $2, $3::pg_catalog.jsonb)", 3, args);
}

/*
 * The other pending expansions of the table whose expressions (up, down,
 * the down of each old column, fill) read column attnum, as "a, b" for a
 * message, or NULL: their triggers run those expressions on every write,
 * and PostgreSQL does not know a trigger function's columns, so dropping
 * the column would break every write.  The expressions are parsed and
 * analysed against the table as it is now, never run; each as the role
 * that expanded its migration (parsing can run code: a constant of a
 * domain type is checked by the domain's CHECK), restricted, with
 * search_path pinned and any setting it changes rolled back.  An
 * expansion whose author is gone counts as a user: it cannot be analysed
 * safely.
 */
static char *
pending_users(Expansion *e, AttrNumber attnum)
{
	StewardOwnerScope scope;
	const char *args[2] = {psprintf("%u", e->relid), e->version};
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	List	   *versions = NIL;
	List	   *authors = NIL;
	List	   *exprs = NIL;
	ListCell   *lv;
	ListCell   *la;
	ListCell   *lx;
	StringInfoData users;
	const char *last = NULL;
	MemoryContext callercxt = CurrentMemoryContext;

	values[0] = CStringGetTextDatum(args[0]);
	values[1] = CStringGetTextDatum(args[1]);
	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT e.version, e.expanded_by::pg_catalog.text, x.expr FROM steward.expansions e,"
							  "       LATERAL pg_catalog.unnest(ARRAY[e.up_expr, e.down_expr]"
							  "               OPERATOR(pg_catalog.||) COALESCE(e.down_exprs, '{}')) AS x(expr)"
							  " WHERE e.relation OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
							  "   AND e.phase OPERATOR(pg_catalog.=) 'expanded'"
							  "   AND e.version OPERATOR(pg_catalog.<>) $2"
							  "   AND x.expr IS NOT NULL"
							  " ORDER BY e.version COLLATE \"C\"",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the pending expansions");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *a = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *x = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		MemoryContext old = MemoryContextSwitchTo(callercxt);

		versions = lappend(versions, pstrdup(v));
		authors = lappend(authors, a ? pstrdup(a) : NULL);
		exprs = lappend(exprs, pstrdup(x));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	steward_owner_scope_end(&scope);

	initStringInfo(&users);
	forthree(lv, versions, la, authors, lx, exprs)
	{
		const char *version = lfirst(lv);
		Oid			author = lfirst(la) ? get_role_oid(lfirst(la), true) : InvalidOid;
		bool		uses = true;

		CHECK_FOR_INTERRUPTS();
		if (last != NULL && strcmp(last, version) == 0)
			continue;
		if (OidIsValid(author))
		{
			AuthorScope ascope;
			Query	   *q;
			Bitmapset  *attrs = NULL;

			author_scope_begin(&ascope, author);
			(void) set_config_option("search_path", "pg_catalog, pg_temp",
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
			q = steward_analyze_sql_arg(psprintf("SELECT (%s\n) FROM ONLY %s AS t", (char *) lfirst(lx), e->relname),
										"an expression of a pending expand/contract migration");
			pull_varattnos((Node *) q->targetList, 1, &attrs);
			uses = bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, attrs);
			author_scope_end(&ascope);
		}
		if (uses)
		{
			appendStringInfo(&users, "%sthe trigger of expand/contract migration \"%s\"",
							 users.len ? ", " : "", version);
			last = version;
		}
	}
	return users.len ? users.data : NULL;
}

/*
 * The default of column attnum as its stored expression tree, from the
 * relation cache, or NULL when it has none (a generation expression is
 * not a default).  Nothing is parsed or evaluated.
 */
static Node *
column_default_expr(Oid relid, AttrNumber attnum)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Node	   *expr = NULL;

	if (attnum > 0 && desc->constr != NULL &&
		TupleDescAttr(desc, attnum - 1)->attgenerated == '\0')
	{
		for (int i = 0; i < desc->constr->num_defval; i++)
			if (desc->constr->defval[i].adnum == attnum)
				expr = stringToNode(desc->constr->defval[i].adbin);
	}
	table_close(rel, NoLock);
	return expr;
}

/*
 * After the contract of a rename: the new column takes the old column's
 * default, stored as the expression tree it was (StoreAttrDefault, as
 * ALTER TABLE stores one), so that nothing of it is parsed or run by the
 * caller.  A new column that got a default of its own keeps it; one of
 * another type (never, for a rename) gets none.  The contract's ALTER
 * TABLE holds the table's ACCESS EXCLUSIVE lock.
 */
static void
carry_default(Expansion *e, Node *expr)
{
	Relation	rel = table_open(e->relid, AccessExclusiveLock);
	AttrNumber	attnum = get_attnum(e->relid, e->new_column);
	Form_pg_attribute att;

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of %s vanished during its contract", e->new_column, e->relname);
	att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	if (!att->atthasdef && att->attgenerated == '\0' && att->attidentity == '\0' &&
		exprType(expr) == att->atttypid)
	{
		StoreAttrDefault(rel, attnum, expr, false, false);
		CommandCounterIncrement();
	}
	table_close(rel, NoLock);
}

/*
 * The contract SQL of a column expansion, after checking that it may be
 * contracted: its backfill succeeded, no row disagrees, nothing but the
 * expansion uses the old column.  *default_expr is set to the old column's
 * default for carry_default, or NULL.
 */
static char *
column_contract_sql(const char *version, Expansion *e, Node **default_expr)
{
	int64		disagree;
	AttrNumber	oldnum;
	char	   *deps;
	char	   *nn_check;
	StringInfoData sql;

	steward_expand_refuse_unfinished_backfill(version, e->job_id);
	disagree = count_disagreeing(e);
	if (disagree > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot contract expand/contract migration \"%s\": %lld row%s disagree%s",
						version, (long long) disagree, disagree == 1 ? "" : "s", disagree == 1 ? "s" : ""),
				 errdetail("Column \"%s\" of such a row is not what up computes from the row.", e->new_column),
				 errhint("migrate_expand_check('%s') counts them; an UPDATE of a row brings it in sync.", version)));

	if (get_attnum(e->relid, e->new_column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of %s no longer exists", e->new_column, e->relname)));
	/* objects that still use an old column: refuse rather than drop them */
	for (int i = 0; i < e->nold; i++)
	{
		oldnum = get_attnum(e->relid, e->old_cols[i]);
		if (oldnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of %s no longer exists", e->old_cols[i], e->relname)));
		deps = steward_expand_dependents(e->relid, oldnum);
		if (deps == NULL)
			deps = pending_users(e, oldnum);
		if (deps)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot contract expand/contract migration \"%s\": objects still use column \"%s\"",
							version, e->old_cols[i]),
					 errdetail("Dependent objects: %s.", deps),
					 errhint("Move them to column \"%s\" (or drop them) in a migration, then contract.",
							 e->new_column)));
	}
	/*
	 * A rename keeps the old column's default.  It moves as the stored
	 * expression tree (see carry_default), never as SQL text: text would
	 * be parsed again by the caller, and parsing a constant of a domain
	 * type runs the domain's checks, which the table's owner wrote.  The
	 * contract SQL names it in a comment only.
	 */
	*default_expr = NULL;
	if (strcmp(e->kind, "column") == 0 && !e->in_place)
		*default_expr = column_default_expr(e->relid, get_attnum(e->relid, e->old_column));

	nn_check = NULL;
	if (strcmp(e->kind, "column") == 0 &&
		steward_expand_not_null_check(e->relid, not_null_check_name(version), e->new_column, version))
		nn_check = not_null_check_name(version);

	initStringInfo(&sql);
	appendStringInfo(&sql, "-- expand/contract migration %s: contract\n", version);
	/* the scan first, under SHARE UPDATE EXCLUSIVE: writes go on meanwhile */
	if (nn_check)
		appendStringInfo(&sql, "ALTER TABLE %s VALIDATE CONSTRAINT %s;\n",
						 e->relname, quote_identifier(nn_check));
	appendStringInfo(&sql,
					 "DROP TRIGGER %s ON %s;\n"
					 "DROP FUNCTION %s();\n",
					 quote_identifier(e->sync_trigger), e->relname, e->sync_function);
	for (int i = 0; i < e->nold; i++)
		appendStringInfo(&sql, "ALTER TABLE %s DROP COLUMN %s;\n",
						 e->relname, quote_identifier(e->old_cols[i]));
	/* proven by the validated CHECK, so no scan; then the CHECK goes */
	if (nn_check)
		appendStringInfo(&sql,
						 "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n"
						 "ALTER TABLE %s DROP CONSTRAINT %s;\n",
						 e->relname, quote_identifier(e->new_column),
						 e->relname, quote_identifier(nn_check));
	if (e->in_place)
		appendStringInfo(&sql, "ALTER TABLE %s RENAME COLUMN %s TO %s;\n",
						 e->relname, quote_identifier(e->new_column), quote_identifier(e->old_column));
	if (*default_expr)
		appendStringInfoString(&sql, "-- then the new column takes over the old column's default, as stored\n");
	return sql.data;
}

Datum
steward_migrate_contract(PG_FUNCTION_ARGS)
{
	char	   *version;
	Expansion	e;
	char	   *sql;
	char	   *result;
	Node	   *default_expr = NULL;

	version = begin_phase(fcinfo, "contract", "migrate_contract", &e);
	if (strcmp(e.kind, "table") == 0)
		sql = steward_table_rename_contract_sql(version, e.old_relation);
	else if (strcmp(e.kind, "require") == 0)
		sql = steward_require_contract_sql(version, e.expanded_by, e.relid, e.relname, e.old_column,
										   e.sync_function, e.sync_trigger, e.job_id);
	else
		sql = column_contract_sql(version, &e, &default_expr);

	{
		const char *args[5] = {
			psprintf("%s_contract", version), sql,
			psprintf("contract: %s", version),
			steward_expand_timeout_arg(fcinfo, 1),
			steward_expand_retries_arg(fcinfo, 2)
		};

		result = steward_expand_as_caller("SELECT steward.migrate_apply(version => $1, up_sql => $2, "
							  "description => $3, out_of_order => true, "
							  "lock_timeout => $4::pg_catalog.interval, "
							  "lock_retries => $5::pg_catalog.int4, "
							  "allow => ARRAY['drop-column the expand/contract migration moved every writer to the new column']::pg_catalog.text[])",
							  5, args);
	}
	if (result == NULL || strcmp(result, "applied") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the contract of \"%s\" was not applied (%s)", version, result ? result : "no result")));
	if (default_expr)
		carry_default(&e, default_expr);
	expansion_end(&e, "contracted");
	PG_RETURN_TEXT_P(cstring_to_text("contracted"));
}

Datum
steward_migrate_abort(PG_FUNCTION_ARGS)
{
	char	   *version;
	Expansion	e;
	char	   *state;
	char	   *result;

	version = begin_phase(fcinfo, "abort", "migrate_abort", &e);

	/*
	 * The rollback first, its table locks with it, then the cancel of the
	 * backfill: a batch of the job holds the table, then writes its job's
	 * row (its checkpoint).  Cancelling first would hold that row while
	 * waiting for the table, and deadlock with a batch in flight.  The
	 * batch the rollback waited for commits; the next one sees the cancel,
	 * or fails on the table the rollback changed and is cancelled
	 * (src/jobs/run.c).
	 */
	{
		const char *args[3] = {
			version, steward_expand_timeout_arg(fcinfo, 1),
			steward_expand_retries_arg(fcinfo, 2)
		};

		result = steward_expand_as_caller("SELECT steward.migrate_rollback(version => $1, out_of_order => true, "
							  "lock_timeout => $2::pg_catalog.interval, "
							  "lock_retries => $3::pg_catalog.int4)", 3, args);
	}
	if (result == NULL || strcmp(result, "rolled_back") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the abort of \"%s\" was not applied (%s)", version, result ? result : "no result")));
	state = e.job_id > 0 ? job_state(e.job_id) : NULL;
	if (state && (strcmp(state, "queued") == 0 || strcmp(state, "running") == 0 ||
				  strcmp(state, "paused") == 0))
	{
		const char *args[1] = {psprintf(INT64_FORMAT, e.job_id)};

		(void) steward_expand_as_caller("SELECT steward.job_cancel($1::pg_catalog.int8)", 1, args);
	}
	expansion_end(&e, "aborted");
	PG_RETURN_TEXT_P(cstring_to_text("aborted"));
}
