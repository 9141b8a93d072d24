/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Facts the lint takes from the server instead of guessing: a
 *	  relation's real size, whether it is new in this transaction, the
 *	  volatility of an expression, whether a type change rewrites, which
 *	  CHECK constraints and indexes exist.
 *
 * Nothing here waits for a lock: sizes are read under a conditional
 * ACCESS SHARE lock, or from pg_class when that lock is not free, and
 * everything else from the catalog under its own snapshot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_type.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "pg_steward.h"
#include "review/review.h"

typedef struct SizeArg
{
	Oid			relid;
	int64		bytes;
} SizeArg;

static void
size_body(void *arg)
{
	SizeArg    *sa = (SizeArg *) arg;
	Relation	rel = RelationIdGetRelation(sa->relid);

	if (RelationIsValid(rel))
	{
		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
			sa->bytes = (int64) RelationGetNumberOfBlocks(rel) * BLCKSZ;
		RelationClose(rel);
	}
}

/*
 * Bytes of one relation with storage (main fork), without waiting.  When
 * another transaction holds a lock that conflicts with ACCESS SHARE (it
 * is altering the table right now), the file is measured without a lock;
 * should that fail, pg_class.relpages is the answer.
 */
static int64
storage_bytes(Oid relid, int32 relpages)
{
	SizeArg		sa = {relid, (int64) Max(relpages, 0) * BLCKSZ};
	ErrorData  *edata = NULL;

	if (ConditionalLockRelationOid(relid, AccessShareLock))
	{
		size_body(&sa);
		UnlockRelationOid(relid, AccessShareLock);
	}
	else if (!steward_try_lookup(size_body, &sa, "lint", 0, &edata))
		FreeErrorData(edata);
	return sa.bytes;
}

/* One relation's heap and TOAST, without its inheritance children. */
static int64
own_bytes(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class cls;
	int64		bytes = 0;

	if (!HeapTupleIsValid(tup))
		return 0;
	cls = (Form_pg_class) GETSTRUCT(tup);
	if (RELKIND_HAS_STORAGE(cls->relkind))
		bytes = storage_bytes(relid, cls->relpages);
	if (OidIsValid(cls->reltoastrelid))
		bytes += own_bytes(cls->reltoastrelid);
	ReleaseSysCache(tup);
	return bytes;
}

/*
 * The size of a table as a rewrite or scan sees it: its heap and TOAST,
 * summed over its partitions or inheritance children (each member counted
 * once, by its own storage).
 */
int64
steward_relation_bytes(Oid relid)
{
	List	   *members;
	ListCell   *lc;
	int64		bytes = 0;

	if (!has_subclass(relid))
		return own_bytes(relid);
	members = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, members)
	{
		CHECK_FOR_INTERRUPTS();
		bytes += own_bytes(lfirst_oid(lc));
	}
	return bytes;
}

/* Created in the current transaction (nobody else can be using it). */
bool
steward_relation_is_new(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		result = false;

	if (RelationIsValid(rel))
	{
		result = rel->rd_createSubid != InvalidSubTransactionId;
		RelationClose(rel);
	}
	return result;
}

/* ----------------------------------------------------------------
 * Expressions, inside a subtransaction: a raw expression may name a
 * function or type the migration has not created yet.
 * ----------------------------------------------------------------
 */

typedef struct VolatileArg
{
	Node	   *raw;
	bool		is_volatile;
} VolatileArg;

static void
volatile_body(void *arg)
{
	VolatileArg *va = (VolatileArg *) arg;
	ParseState *pstate = make_parsestate(NULL);
	Node	   *expr;

	expr = transformExpr(pstate, copyObject(va->raw), EXPR_KIND_COLUMN_DEFAULT);
	va->is_volatile = contain_volatile_functions(expr);
	free_parsestate(pstate);
}

/*
 * Whether a column default (raw, as parsed) is volatile, from the
 * functions it really calls.  *known is false when it cannot be analysed
 * yet; the caller then assumes the worst.
 */
bool
steward_expr_is_volatile(Node *raw_expr, bool *known)
{
	VolatileArg va = {raw_expr, false};
	ErrorData  *edata = NULL;

	*known = steward_try_lookup(volatile_body, &va, "lint", 0, &edata);
	if (!*known)
	{
		FreeErrorData(edata);
		return true;
	}
	return va.is_volatile;
}

/*
 * Whether PostgreSQL needs to rewrite the table to apply this coercion of
 * column attnum, following the rule of ALTER TABLE: only a chain of
 * binary relabelings, unconstrained domains and (with TimeZone UTC) the
 * timestamp <-> timestamptz conversion leaves the stored data as it is.
 */
static bool
coercion_rewrites(Node *expr, AttrNumber attnum)
{
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (expr == NULL)
			return true;
		if (IsA(expr, Var))
			return ((Var *) expr)->varattno != attnum;
		if (IsA(expr, RelabelType))
		{
			expr = (Node *) ((RelabelType *) expr)->arg;
			continue;
		}
		if (IsA(expr, CoerceToDomain))
		{
			CoerceToDomain *d = (CoerceToDomain *) expr;

			if (DomainHasConstraints(d->resulttype))
				return true;
			expr = (Node *) d->arg;
			continue;
		}
		if (IsA(expr, FuncExpr))
		{
			FuncExpr   *f = (FuncExpr *) expr;

			if ((f->funcid == F_TIMESTAMP_TIMESTAMPTZ ||
				 f->funcid == F_TIMESTAMPTZ_TIMESTAMP) &&
				!TimestampTimestampTzRequiresRewrite())
			{
				expr = linitial(f->args);
				continue;
			}
		}
		return true;
	}
}

typedef struct TypeChangeArg
{
	Oid			relid;
	AttrNumber	attnum;
	TypeName   *newtype;
	Node	   *using_expr;		/* raw, or NULL */
	int			result;
} TypeChangeArg;

/*
 * A column the USING expression names, as a Var of the table (range table
 * entry 1): the relation is neither opened nor locked.
 */
static Node *
using_columnref(ParseState *pstate, ColumnRef *cref)
{
	TypeChangeArg *tc = (TypeChangeArg *) pstate->p_ref_hook_state;
	Node	   *last = llast(cref->fields);
	AttrNumber	attnum;
	Oid			typid,
				collid;
	int32		typmod;

	if (!IsA(last, String) || list_length(cref->fields) > 3)
		return NULL;
	attnum = get_attnum(tc->relid, strVal(last));
	if (attnum <= 0)
		return NULL;
	get_atttypetypmodcoll(tc->relid, attnum, &typid, &typmod, &collid);
	return (Node *) makeVar(1, attnum, typid, typmod, collid, 0);
}

/*
 * Is expr a chain of conversions of one column: each step a relabeling, a
 * domain coercion, an I/O conversion or a function whose first argument is
 * the rest of the chain and whose other arguments are constants (a length
 * coercion's typmod)?  Only such a chain is planned: planning it evaluates
 * no function, since no call has constant arguments only.
 */
static bool
column_chain(Node *expr)
{
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (expr == NULL)
			return false;
		if (IsA(expr, Var))
			return true;
		if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (IsA(expr, CoerceToDomain))
			expr = (Node *) ((CoerceToDomain *) expr)->arg;
		else if (IsA(expr, CoerceViaIO))
			expr = (Node *) ((CoerceViaIO *) expr)->arg;
		else if (IsA(expr, FuncExpr) && ((FuncExpr *) expr)->args != NIL)
		{
			FuncExpr   *f = (FuncExpr *) expr;
			ListCell   *lc;

			for_each_from(lc, f->args, 1)
				if (!IsA(lfirst(lc), Const))
				return false;
			expr = linitial(f->args);
		}
		else
			return false;
	}
}

static void
type_change_body(void *arg)
{
	TypeChangeArg *tc = (TypeChangeArg *) arg;
	Oid			oldtype,
				newtype,
				oldcoll;
	int32		oldtypmod,
				newtypmod;
	Node	   *expr;

	get_atttypetypmodcoll(tc->relid, tc->attnum, &oldtype, &oldtypmod, &oldcoll);
	typenameTypeIdAndMod(NULL, tc->newtype, &newtype, &newtypmod);
	if (tc->using_expr != NULL)
	{
		ParseState *pstate = make_parsestate(NULL);

		pstate->p_pre_columnref_hook = using_columnref;
		pstate->p_ref_hook_state = tc;
		expr = transformExpr(pstate, copyObject(tc->using_expr),
							 EXPR_KIND_ALTER_COL_TRANSFORM);
		expr = coerce_to_target_type(pstate, expr, exprType(expr), newtype, newtypmod,
									 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
		if (expr != NULL)
			assign_expr_collations(pstate, expr);
		free_parsestate(pstate);
	}
	else
	{
		expr = (Node *) makeVar(1, tc->attnum, oldtype, oldtypmod, oldcoll, 0);
		expr = coerce_to_target_type(NULL, expr, oldtype, newtype, newtypmod,
									 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	}
	if (expr == NULL)
	{
		tc->result = tc->using_expr ? 1 : 2;	/* no implicit cast: needs USING */
		return;
	}
	if (!column_chain(expr))
	{
		tc->result = 1;
		return;
	}
	/* as ALTER TABLE does: planning folds widening length coercions away */
	expr = (Node *) expression_planner((Expr *) expr);
	tc->result = coercion_rewrites(expr, tc->attnum) ? 1 : 0;
}

/*
 * Whether ALTER COLUMN ... TYPE rewrites the table: 0 no, 1 yes, 2 yes
 * (no implicit cast: the change needs USING), 3 unknown (the type does
 * not exist yet).  A USING expression rewrites unless, like the implicit
 * conversion, it is a chain of binary relabelings of the column itself
 * (for example col::varchar(100)::varchar(200) of a varchar(20)); one that
 * cannot be analysed is taken to rewrite.
 */
int
steward_type_change_rewrites(Oid relid, AttrNumber attnum, TypeName *newtype,
							 Node *using_expr)
{
	TypeChangeArg tc = {relid, attnum, newtype, using_expr, 3};
	ErrorData  *edata = NULL;

	if (!steward_try_lookup(type_change_body, &tc, "lint", 0, &edata))
	{
		FreeErrorData(edata);
		return using_expr ? 1 : 3;
	}
	return tc.result;
}

/* ----------------------------------------------------------------
 * Constraints and indexes
 * ----------------------------------------------------------------
 */

/* Calls fn for every CHECK constraint of relid; stops when it returns true. */
static bool
for_each_check(Oid relid, bool (*fn) (Form_pg_constraint con, HeapTuple tup, void *arg),
			   void *arg)
{
	Relation	conrel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(conrel, ConstraintRelidTypidNameIndexId, true,
							  NULL, 1, &key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		CHECK_FOR_INTERRUPTS();
		if (con->contype == CONSTRAINT_CHECK)
			found = fn(con, tup, arg);
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);
	return found;
}

static List *
constraint_attnums(HeapTuple tup, AttrNumber attnum_col)
{
	bool		isnull;
	Datum		d = SysCacheGetAttr(CONSTROID, tup, attnum_col, &isnull);
	ArrayType  *arr;
	int16	   *vals;
	int			n;
	List	   *result = NIL;

	if (isnull)
		return NIL;
	arr = DatumGetArrayTypeP(d);
	n = ARR_DIMS(arr)[0];
	vals = (int16 *) ARR_DATA_PTR(arr);
	for (int i = 0; i < n; i++)
		result = lappend_int(result, vals[i]);
	return result;
}

typedef struct UsesColumnArg
{
	AttrNumber	attnum;
	List	   *ignore;			/* constraint names dropped already */
} UsesColumnArg;

static bool
uses_column(Form_pg_constraint con, HeapTuple tup, void *arg)
{
	UsesColumnArg *ua = (UsesColumnArg *) arg;
	ListCell   *lc;

	foreach(lc, ua->ignore)
		if (strcmp(NameStr(con->conname), (char *) lfirst(lc)) == 0)
			return false;
	return list_member_int(constraint_attnums(tup, Anum_pg_constraint_conkey),
						   ua->attnum);
}

/*
 * Does a CHECK constraint of relid use this column?  Constraints named in
 * ignore (dropped earlier by the migration) do not count.
 */
bool
steward_column_in_check(Oid relid, AttrNumber attnum, List *ignore)
{
	UsesColumnArg ua = {attnum, ignore};

	return for_each_check(relid, uses_column, &ua);
}

/* Is expr "col IS NOT NULL" (possibly ANDed with more) for this column? */
static bool
proves_not_null(Node *expr, AttrNumber attnum)
{
	if (IsA(expr, NullTest))
	{
		NullTest   *nt = (NullTest *) expr;

		return nt->nulltesttype == IS_NOT_NULL && !nt->argisrow &&
			IsA(nt->arg, Var) && ((Var *) nt->arg)->varattno == attnum;
	}
	if (is_andclause(expr))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) expr)->args)
			if (proves_not_null(lfirst(lc), attnum))
				return true;
	}
	return false;
}

static bool
valid_not_null_check(Form_pg_constraint con, HeapTuple tup, void *arg)
{
	bool		isnull;
	Datum		bin;

	if (!con->convalidated)
		return false;
	bin = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conbin, &isnull);
	if (isnull)
		return false;
	return proves_not_null(stringToNode(TextDatumGetCString(bin)),
						   *(AttrNumber *) arg);
}

/*
 * A validated CHECK (col IS NOT NULL): SET NOT NULL then needs no scan
 * (PostgreSQL 12 and later).
 */
bool
steward_column_proven_not_null(Oid relid, AttrNumber attnum)
{
	return for_each_check(relid, valid_not_null_check, &attnum);
}

typedef struct NamedCheckArg
{
	const char *conname;
	List	   *attnums;
} NamedCheckArg;

static bool
named_check_not_null(Form_pg_constraint con, HeapTuple tup, void *arg)
{
	NamedCheckArg *na = (NamedCheckArg *) arg;
	bool		isnull;
	Datum		bin;
	Node	   *expr;
	ListCell   *lc;

	if (strcmp(NameStr(con->conname), na->conname) != 0)
		return false;
	bin = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conbin, &isnull);
	if (isnull)
		return true;
	expr = stringToNode(TextDatumGetCString(bin));
	foreach(lc, constraint_attnums(tup, Anum_pg_constraint_conkey))
		if (proves_not_null(expr, (AttrNumber) lfirst_int(lc)))
		na->attnums = lappend_int(na->attnums, lfirst_int(lc));
	return true;
}

/*
 * The columns (attnums) the CHECK constraint conname of relid proves NOT
 * NULL once it is validated: SET NOT NULL after VALIDATE CONSTRAINT of it
 * needs no scan.
 */
List *
steward_check_not_null_columns(Oid relid, const char *conname)
{
	NamedCheckArg na = {conname, NIL};

	(void) for_each_check(relid, named_check_not_null, &na);
	return na.attnums;
}

/*
 * The kind of constraint conname of relid (pg_constraint.contype), '\0'
 * when relid has none of that name; *confrelid is the table a foreign key
 * references.
 */
char
steward_constraint_type(Oid relid, const char *conname, Oid *confrelid)
{
	Oid			conoid = get_relation_constraint_oid(relid, conname, true);
	HeapTuple	tup;
	char		contype;

	*confrelid = InvalidOid;
	if (!OidIsValid(conoid))
		return '\0';
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		return '\0';
	contype = ((Form_pg_constraint) GETSTRUCT(tup))->contype;
	*confrelid = ((Form_pg_constraint) GETSTRUCT(tup))->confrelid;
	ReleaseSysCache(tup);
	return contype;
}

static bool
is_valid(Form_pg_constraint con, HeapTuple tup, void *arg)
{
	return con->convalidated;
}

/* Any validated CHECK on relid (ATTACH PARTITION may then skip its scan). */
bool
steward_has_valid_check(Oid relid)
{
	return for_each_check(relid, is_valid, NULL);
}

typedef struct DomainArg
{
	TypeName   *tn;
	bool		constrained;
} DomainArg;

static void
domain_body(void *arg)
{
	DomainArg  *da = (DomainArg *) arg;
	Oid			typid = typenameTypeId(NULL, da->tn);

	da->constrained = get_typtype(typid) == TYPTYPE_DOMAIN &&
		DomainHasConstraints(typid);
}

/* Is the type a domain with CHECK or NOT NULL constraints? */
bool
steward_domain_has_constraints(TypeName *tn)
{
	DomainArg	da = {tn, false};
	ErrorData  *edata = NULL;

	if (!steward_try_lookup(domain_body, &da, "lint", 0, &edata))
	{
		FreeErrorData(edata);
		return false;
	}
	return da.constrained;
}

typedef struct DomainColumnsArg
{
	List	   *names;
	bool		notnull;
	List	   *columns;		/* StewardColumn * */
} DomainColumnsArg;

/*
 * Adds the table and materialized view columns of type typid, and of the
 * domains over it, as ALTER DOMAIN finds the columns it checks.
 */
static void
add_domain_columns(Oid typid, List **columns, int depth)
{
	Relation	deprel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;

	check_stack_depth();
	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		CHECK_FOR_INTERRUPTS();
		if (dep->classid == TypeRelationId)
		{
			if (get_typtype(dep->objid) == TYPTYPE_DOMAIN && depth < 100)
				add_domain_columns(dep->objid, columns, depth + 1);
		}
		else if (dep->classid == RelationRelationId && dep->objsubid > 0)
		{
			char		relkind = get_rel_relkind(dep->objid);

			if (relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW)
			{
				StewardColumn *c = palloc(sizeof(StewardColumn));

				c->relid = dep->objid;
				c->attnum = dep->objsubid;
				*columns = lappend(*columns, c);
			}
		}
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
}

static void
domain_columns_body(void *arg)
{
	DomainColumnsArg *da = (DomainColumnsArg *) arg;
	Oid			typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(da->names), true);
	HeapTuple	tup;

	if (!OidIsValid(typid))
		return;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		return;
	if (((Form_pg_type) GETSTRUCT(tup))->typtype != TYPTYPE_DOMAIN)
	{
		ReleaseSysCache(tup);
		return;
	}
	da->notnull = ((Form_pg_type) GETSTRUCT(tup))->typnotnull;
	ReleaseSysCache(tup);
	add_domain_columns(typid, &da->columns, 0);
}

/*
 * The columns of existing tables and materialized views whose type is the
 * domain names (or a domain over it): those ALTER DOMAIN ... ADD
 * CONSTRAINT, VALIDATE CONSTRAINT and SET NOT NULL check.  NIL when the
 * domain does not exist yet.  *notnull: the domain is NOT NULL already.
 */
List *
steward_domain_columns(List *names, bool *notnull)
{
	DomainColumnsArg da = {names, false, NIL};
	ErrorData  *edata = NULL;

	*notnull = false;
	if (!steward_try_lookup(domain_columns_body, &da, "lint", 0, &edata))
	{
		FreeErrorData(edata);
		return NIL;
	}
	*notnull = da.notnull;
	return da.columns;
}

/* Calls fn for every index of relid; stops when it returns true. */
static bool
for_each_index(Oid relid, bool (*fn) (Form_pg_index ind, HeapTuple tup, void *arg),
			   void *arg)
{
	Relation	indrel = table_open(IndexRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(indrel, IndexIndrelidIndexId, true, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		CHECK_FOR_INTERRUPTS();
		found = fn((Form_pg_index) GETSTRUCT(tup), tup, arg);
	}
	systable_endscan(scan);
	table_close(indrel, AccessShareLock);
	return found;
}

static bool
leads_with(Form_pg_index ind, HeapTuple tup, void *arg)
{
	List	   *attnums = (List *) arg;
	int			n = list_length(attnums);

	if (!ind->indisvalid || ind->indnkeyatts < n ||
		!heap_attisnull(tup, Anum_pg_index_indpred, NULL))
		return false;
	for (int i = 0; i < n; i++)
		if (!list_member_int(attnums, ind->indkey.values[i]))
			return false;
	return true;
}

/*
 * Does a valid, non-partial index of relid start with exactly these
 * columns, in any order among its leading keys?
 */
bool
steward_index_covers(Oid relid, List *attnums)
{
	return for_each_index(relid, leads_with, attnums);
}

static bool
has_key(Form_pg_index ind, HeapTuple tup, void *arg)
{
	AttrNumber	attnum = *(AttrNumber *) arg;

	for (int i = 0; i < ind->indnkeyatts; i++)
		if (ind->indkey.values[i] == attnum)
			return true;
	return false;
}

/* Is the column a key of some index of relid? */
bool
steward_column_indexed(Oid relid, AttrNumber attnum)
{
	return for_each_index(relid, has_key, &attnum);
}

static bool
is_one_column_primary_key(Form_pg_index ind, HeapTuple tup, void *arg)
{
	return ind->indisprimary && ind->indisvalid && ind->indnkeyatts == 1 &&
		ind->indkey.values[0] != 0;
}

/* Has relid a primary key of one column (the key a backfill job walks)? */
bool
steward_has_one_column_primary_key(Oid relid)
{
	return for_each_index(relid, is_one_column_primary_key, NULL);
}
