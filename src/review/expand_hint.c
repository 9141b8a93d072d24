/*-------------------------------------------------------------------------
 *
 * expand_hint.c
 *	  The expand/contract call that does a finding's change safely, for the
 *	  safe alternative of rename-column, change-column-type and
 *	  set-not-null on an existing table with rows.
 *
 * The call is written to be pasted as it is: the relation is a quoted,
 * qualified name cast to regclass, column names are string literals of the
 * names as they are (migrate_expand takes them as type name), expressions
 * quote the columns they use.  Types are formatted as the expand's trigger
 * will read them (search_path = pg_catalog, pg_temp): qualified unless they
 * are in pg_catalog.  The version is left as '<version>' for the migration
 * that replaces the reviewed one.  Tables migrate_expand refuses get no
 * call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "review/review.h"

#define CONTRACT_CALL "SELECT migrate_contract('<version>');"

/*
 * The relation as a regclass literal: 'schema.name'::regclass, quoted; NULL
 * for a table migrate_expand refuses (not an ordinary table, or without a
 * one-column primary key for the backfill to walk).
 */
static char *
regclass_literal(Oid relid)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);

	if (nsp == NULL || rel == NULL || get_rel_relkind(relid) != RELKIND_RELATION ||
		!steward_has_one_column_primary_key(relid))
		return NULL;
	return psprintf("%s::regclass", quote_literal_cstr(quote_qualified_identifier(nsp, rel)));
}

/* The namespace of a type (pg_type.typnamespace). */
static Oid
type_namespace(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	Oid			nsp;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	nsp = ((Form_pg_type) GETSTRUCT(tup))->typnamespace;
	ReleaseSysCache(tup);
	return nsp;
}

/* A type as the expand's trigger reads it, with search_path pg_catalog. */
static char *
type_text(Oid typid, int32 typmod)
{
	bits16		flags = FORMAT_TYPE_TYPEMOD_GIVEN;

	if (type_namespace(typid) != PG_CATALOG_NAMESPACE)
		flags |= FORMAT_TYPE_FORCE_QUALIFY;
	return format_type_extended(typid, typmod, flags);
}

char *
steward_expand_hint_rename(Oid relid, const char *column, const char *new_name)
{
	char	   *rel = regclass_literal(relid);

	if (rel == NULL)
		return NULL;
	return psprintf("SELECT migrate_expand('<version>', %s, %s, new_name => %s); "
					"once every application version uses %s: " CONTRACT_CALL,
					rel, quote_literal_cstr(column), quote_literal_cstr(new_name),
					quote_identifier(new_name));
}

char *
steward_expand_hint_type(Oid relid, AttrNumber attnum, TypeName *newtype,
						 bool has_using)
{
	char	   *rel = regclass_literal(relid);
	char	   *column = get_attname(relid, attnum, true);
	char	   *tempname;
	Type		tup;
	int32		new_typmod;
	Oid			new_typid;
	Oid			old_typid;
	int32		old_typmod;
	Oid			collid;
	char	   *new_type;
	char	   *up;

	if (rel == NULL || column == NULL)
		return NULL;
	tup = LookupTypeName(NULL, newtype, &new_typmod, true);
	if (tup == NULL)
		return NULL;			/* created later in the migration */
	new_typid = typeTypeId(tup);
	ReleaseSysCache(tup);
	get_atttypetypmodcoll(relid, attnum, &old_typid, &old_typmod, &collid);

	/* without new_name, the new column is <column>_new until contract */
	tempname = psprintf("%s_new", column);
	if (strlen(tempname) >= NAMEDATALEN)
		return NULL;
	new_type = type_text(new_typid, new_typmod);
	up = has_using ? "<the USING expression>"
		: psprintf("%s::%s", quote_identifier(column), new_type);
	return psprintf("SELECT migrate_expand('<version>', %s, %s, new_type => %s, up => %s, down => %s); "
					"once every application version uses the new type: " CONTRACT_CALL,
					rel, quote_literal_cstr(column), quote_literal_cstr(new_type),
					quote_literal_cstr(up),
					quote_literal_cstr(psprintf("%s::%s", quote_identifier(tempname),
												type_text(old_typid, old_typmod))));
}

char *
steward_expand_hint_require(Oid relid, const char *column)
{
	char	   *rel = regclass_literal(relid);

	if (rel == NULL)
		return NULL;
	return psprintf("SELECT migrate_expand_require('<version>', %s, %s, fill => '<expression>'); "
					"once every row is filled and every application version writes the column: "
					CONTRACT_CALL,
					rel, quote_literal_cstr(column));
}
