/*-------------------------------------------------------------------------
 *
 * key.c
 *	  The key a backfill or a copy walks, in the SQL pg_steward generates.
 *
 * Nothing in that SQL is resolved through the submitter's search_path,
 * where another role's overloads would be better matches than pg_catalog's
 * (varchar has no comparison operators of its own; hashtextextended(x, 0)
 * has an int4 argument):
 *	  comparisons	the operators of the key type's default btree operator
 *					family (the order ORDER BY and the key's unique index
 *					use), written OPERATOR(schema.op), with both operands of
 *					the operator's input type;
 *	  order, bounds	ORDER BY the key [DESC] LIMIT / OFFSET, never max();
 *	  values		parameters of that type, converted from and to text by
 *					the type's own input and output functions, never by a
 *					cast (a type's owner may create casts from and to text).
 * Type input, output and comparison functions, and operator families, can
 * only be created by superusers.
 *
 * A key as text is what the type's output function writes, except that
 * date, timestamp and timestamptz are written in ISO 8601 whatever the
 * session's DateStyle (as to_jsonb writes them): the capture trigger runs
 * in the application's sessions, the job in a worker or in another
 * session, and each reads the other's keys back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/stratnum.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

/* "OPERATOR(schema.name)" for a member of the key's btree family */
static char *
operator_sql(Oid opfamily, Oid intype, int16 strategy, Oid keytype)
{
	Oid			opno = get_opfamily_member(opfamily, intype, intype, strategy);
	HeapTuple	tup;
	Form_pg_operator op;
	char	   *sql;

	if (!OidIsValid(opno))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("the default btree operator class of type %s has no operator of strategy %d",
						format_type_be(keytype), strategy)));
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	op = (Form_pg_operator) GETSTRUCT(tup);
	sql = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(op->oprnamespace)),
				   NameStr(op->oprname));
	ReleaseSysCache(tup);
	return sql;
}

/*
 * The key column of relid as the table has it now, and how generated SQL
 * compares and passes its values.  Submission checks it too.
 */
void
steward_key_load(Oid relid, const char *column, StewardKey *key)
{
	AttrNumber	attnum = get_attnum(relid, column);
	Oid			coltype;
	Oid			basetype;
	TypeCacheEntry *tc;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("key column \"%s\" of relation \"%s\" does not exist", column, get_rel_name(relid))));
	coltype = get_atttype(relid, attnum);
	basetype = getBaseType(coltype);
	tc = lookup_type_cache(basetype, TYPECACHE_BTREE_OPFAMILY);
	if (!OidIsValid(tc->btree_opf))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("key column \"%s\" has type %s, which has no default btree operator class",
						column, format_type_be(coltype))));

	/*
	 * Parameters have the operators' input type, or the key's base type
	 * where that is polymorphic (anyenum, anyarray, record).  A key of
	 * another type (varchar, a domain) is relabelled to it.
	 */
	key->type = IsPolymorphicType(tc->btree_opintype) ? basetype : tc->btree_opintype;
	key->name = quote_identifier(column);
	key->operand = coltype == key->type ? key->name
		: psprintf("%s::%s", key->name, format_type_be_qualified(key->type));
	key->gt = operator_sql(tc->btree_opf, tc->btree_opintype, BTGreaterStrategyNumber, coltype);
	key->le = operator_sql(tc->btree_opf, tc->btree_opintype, BTLessEqualStrategyNumber, coltype);
	key->eq = operator_sql(tc->btree_opf, tc->btree_opintype, BTEqualStrategyNumber, coltype);
	getTypeInputInfo(key->type, &key->infunc, &key->ioparam);
	{
		Oid			typid;
		int32		typmod;

		get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &key->collation);
	}
	key->cmpproc = get_opfamily_proc(tc->btree_opf, tc->btree_opintype, tc->btree_opintype, BTORDER_PROC);
	if (!OidIsValid(key->cmpproc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("the default btree operator class of type %s has no comparison function",
						format_type_be(coltype))));
	fmgr_info(key->cmpproc, &key->cmpfn);
}

/*
 * Compare two key values (of key->type) as the key's range conditions do:
 * the comparison function of the same btree family, with the column's
 * collation.  <0, 0 or >0.
 */
int
steward_key_compare(const StewardKey *key, Datum a, Datum b)
{
	return DatumGetInt32(FunctionCall2Coll(unconstify(FmgrInfo *, &key->cmpfn), key->collation, a, b));
}

/* A key value as text (see the header comment). */
char *
steward_key_text(Datum value, Oid typid)
{
	Oid			basetype = getBaseType(typid);
	Oid			outfunc;
	bool		isvarlena;

	if (basetype == DATEOID || basetype == TIMESTAMPOID || basetype == TIMESTAMPTZOID)
		return JsonEncodeDateTime(NULL, value, basetype, NULL);
	getTypeOutputInfo(basetype, &outfunc, &isvarlena);
	return OidOutputFunctionCall(outfunc, value);
}

/* A key from text, as a parameter of the key's type. */
Datum
steward_key_datum(const StewardKey *key, const char *text)
{
	return OidInputFunctionCall(key->infunc, unconstify(char *, text), key->ioparam, -1);
}

/*
 * The condition "key in (from, to]" on parameters $1 (from) and $2 (to);
 * a NULL bound is left out ("true" when both are).
 */
char *
steward_key_range(const StewardKey *key, const char *from, const char *to)
{
	if (from && to)
		return psprintf("%s %s $1 AND %s %s $2", key->operand, key->gt, key->operand, key->le);
	if (from)
		return psprintf("%s %s $1", key->operand, key->gt);
	if (to)
		return psprintf("%s %s $2", key->operand, key->le);
	return "true";
}

/*
 * Run sql with the parameters of steward_key_range: $1 from, $2 to (of the
 * key's type) and $3 n (bigint).  Returns the SPI result code.
 */
int
steward_key_execute(const StewardKey *key, const char *sql, const char *from,
					const char *to, int64 n, bool report)
{
	Oid			types[3] = {key->type, key->type, INT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = from ? steward_key_datum(key, from) : (Datum) 0;
	nulls[0] = from ? ' ' : 'n';
	values[1] = to ? steward_key_datum(key, to) : (Datum) 0;
	nulls[1] = to ? ' ' : 'n';
	values[2] = Int64GetDatum(n);
	if (report)
		pgstat_report_activity(STATE_RUNNING, sql);
	return SPI_execute_with_args(sql, 3, types, values, nulls, false, 0);
}

/* The first key of "SELECT key FROM rel WHERE range ORDER BY key <tail>", or NULL. */
static char *
key_query(const StewardKey *key, const char *rel, const char *from, const char *to,
		  const char *tail, int64 n)
{
	char	   *sql = psprintf("SELECT %s FROM %s WHERE %s ORDER BY %s %s",
							   key->name, rel, steward_key_range(key, from, to), key->name, tail);
	bool		isnull;
	Datum		value;

	if (steward_key_execute(key, sql, from, to, n, false) != SPI_OK_SELECT)
		elog(ERROR, "could not read the keys of %s", rel);
	if (SPI_processed == 0)
		return NULL;
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : steward_key_text(value, SPI_gettypeid(SPI_tuptable->tupdesc, 1));
}

/* The number of rows of rel with keys in (from, to] (NULL bounds: all). */
int64
steward_key_count(const StewardKey *key, const char *rel, const char *from, const char *to)
{
	bool		isnull;

	if (steward_key_execute(key, psprintf("SELECT pg_catalog.count(*) FROM %s WHERE %s",
										  rel, steward_key_range(key, from, to)),
							from, to, 0, false) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the rows of %s", rel);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The rows of relid (rel, quoted) for a job's progress: the planner's
 * count (pg_class.reltuples), or a count(*) when it was never analyzed.
 */
int64
steward_key_estimate(const StewardKey *key, Oid relid, const char *rel)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	float4		reltuples = 0;

	if (HeapTupleIsValid(tup))
	{
		reltuples = ((Form_pg_class) GETSTRUCT(tup))->reltuples;
		ReleaseSysCache(tup);
	}
	return reltuples > 0 ? (int64) reltuples : steward_key_count(key, rel, NULL, NULL);
}

/* The largest key of rel, or NULL when it is empty. */
char *
steward_key_max(const StewardKey *key, const char *rel)
{
	return key_query(key, rel, NULL, NULL, "DESC LIMIT 1", 0);
}

/*
 * The key that ends the next n keys of rel after from (NULL: from the
 * first key), not beyond to (NULL: no bound), or NULL when there is none;
 * *count is the number of keys in (from, that key].  Index scans of at most
 * n keys, in memory of one key.
 */
char *
steward_key_next(const StewardKey *key, const char *rel, const char *from,
				 const char *to, int64 n, int64 *count)
{
	char	   *last = key_query(key, rel, from, to, "OFFSET $3 LIMIT 1", n - 1);

	if (last != NULL)
	{
		*count = n;
		return last;
	}
	/* fewer than n keys are left: the last of them, and their number */
	last = key_query(key, rel, from, to, "DESC LIMIT 1", 0);
	*count = last ? steward_key_count(key, rel, from, last) : 0;
	return last;
}
