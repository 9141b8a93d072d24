/*-------------------------------------------------------------------------
 *
 * expand_table.c
 *	  Renaming a table while old code keeps using the old name:
 *
 *	  migrate_expand_rename_table(version, relation, new_name, description,
 *								  out_of_order, lock_timeout, lock_retries)
 *
 * expand renames the table and creates, under the old name, a view of all
 * its columns (the compatibility view): WITH (security_invoker = true), so
 * that the table's privileges and row-level security policies apply to
 * whoever uses the view, and simple enough to be automatically updatable,
 * so that the old code's INSERT (defaults included), UPDATE, DELETE,
 * RETURNING and ON CONFLICT go through it.  The table's privileges, table
 * and column level, are granted on the view to the same roles, by the
 * caller.  Both statements are one migration applied through migrate_apply
 * as the caller (lock timeout and retries, history, review, ledger), whose
 * down_sql drops the view and renames the table back (migrate_abort).
 * contract drops the view, refusing while other objects use it; check has
 * nothing to compare (one copy of each row).
 *
 * The privileges are read from the catalog as the owner (aclexplode of
 * relacl and attacl) and become GRANT statements with quoted role names;
 * nothing of the caller's is evaluated there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/varlena.h"

#include "pg_steward.h"
#include "migrations/expand.h"
#include "migrations/migrations.h"

PG_FUNCTION_INFO_V1(steward_migrate_expand_rename_table);

/* "col1, col2, ...": the table's columns in order, quoted */
static char *
column_list(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData cols;

	initStringInfo(&cols);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "",
						 quote_identifier(NameStr(att->attname)));
	}
	relation_close(rel, AccessShareLock);
	if (cols.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no columns", get_rel_name(relid))));
	return cols.data;
}

/*
 * GRANT statements giving the view what the table grants, to the same
 * roles (the owner's own privileges aside): from the catalog, as the owner.
 */
static char *
grant_statements(Oid relid, const char *view)
{
	const char *args[2] = {psprintf("%u", relid), view};
	bool		isnull;
	char	   *grants;

	grants = steward_query_text_as_owner(
		"SELECT pg_catalog.string_agg(s.g, '' ORDER BY s.n, s.g) FROM ("
		" SELECT 1 AS n, pg_catalog.format(E'GRANT %s ON %s TO %s%s;\\n', a.privilege_type, $2,"
		"        CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
		"             ELSE pg_catalog.quote_ident(r.rolname) END,"
		"        CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS g"
		"   FROM pg_catalog.pg_class c"
		"  CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a"
		"   LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee"
		"  WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
		"    AND a.grantee OPERATOR(pg_catalog.<>) c.relowner"
		" UNION ALL"
		" SELECT 2, pg_catalog.format(E'GRANT %s (%s) ON %s TO %s%s;\\n', a.privilege_type,"
		"        pg_catalog.quote_ident(t.attname), $2,"
		"        CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
		"             ELSE pg_catalog.quote_ident(r.rolname) END,"
		"        CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
		"   FROM pg_catalog.pg_attribute t"
		"   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.attrelid"
		"  CROSS JOIN LATERAL pg_catalog.aclexplode(t.attacl) a"
		"   LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee"
		"  WHERE t.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
		"    AND t.attnum OPERATOR(pg_catalog.>) 0 AND NOT t.attisdropped"
		"    AND a.grantee OPERATOR(pg_catalog.<>) c.relowner) s",
		2, args, &isnull);
	return isnull ? "" : grants;
}

Datum
steward_migrate_expand_rename_table(PG_FUNCTION_ARGS)
{
	char	   *version;
	Oid			relid;
	char	   *new_name;
	char	   *description;
	Oid			nspid;
	char	   *nspname;
	char	   *old_name;
	char	   *table;
	char	   *view;
	char	   *pending;
	StringInfoData sql;
	char	   *undo;

	steward_refuse_nested();
	version = steward_check_version("version", PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	relid = steward_expand_relation_arg(fcinfo, 1);
	new_name = steward_expand_required_name(fcinfo, 2, "new_name");
	description = steward_optional_text(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3),
										"description", STEWARD_MAX_DESCRIPTION_LEN);

	steward_require_read_write("expand a table");
	steward_require_read_committed("migrate_expand_rename_table");
	steward_expand_check_relation(relid, true);

	old_name = get_rel_name(relid);
	nspid = get_rel_namespace(relid);
	nspname = get_namespace_name(nspid);
	if (strcmp(new_name, old_name) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("new_name is the name of the table already")));
	if (OidIsValid(get_relname_relid(new_name, nspid)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists in schema \"%s\"", new_name, nspname)));

	pending = steward_expand_pending_on(relid, version);
	if (pending)
		steward_expand_refuse_pending(version, pending, psprintf("table \"%s\"", old_name));

	/*
	 * A security_invoker view checks SELECT on every column it lists, so a
	 * role that may read only some columns of the table could read nothing
	 * through the old name: refuse rather than break it.
	 */
	{
		const char *args[1] = {psprintf("%u", relid)};
		bool		isnull;
		char	   *partial;

		partial = steward_query_text_as_owner(
			"SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
			"                                          ELSE pg_catalog.quote_ident(r.rolname) END, ', ')"
			"  FROM pg_catalog.pg_attribute t"
			" CROSS JOIN LATERAL pg_catalog.aclexplode(t.attacl) a"
			"  LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee"
			" WHERE t.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
			"   AND t.attnum OPERATOR(pg_catalog.>) 0 AND NOT t.attisdropped"
			"   AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT'"
			"   AND CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0"
			"            THEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c,"
			"                                   pg_catalog.aclexplode(c.relacl) b"
			"                              WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
			"                                AND b.grantee OPERATOR(pg_catalog.=) 0"
			"                                AND b.privilege_type OPERATOR(pg_catalog.=) 'SELECT')"
			"            ELSE NOT pg_catalog.has_table_privilege(a.grantee, $1::pg_catalog.oid, 'SELECT') END",
			1, args, &isnull);
		if (partial)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot keep the old name of table \"%s\" as a view: %s may read only some of its columns",
							old_name, partial),
					 errdetail("The view under the old name checks SELECT on every column it lists for whoever uses it."),
					 errhint("Grant SELECT on the table to %s, or leave the table's name as it is.", partial)));
	}

	table = quote_qualified_identifier(nspname, new_name);
	view = quote_qualified_identifier(nspname, old_name);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "-- expand/contract migration %s: expand (rename table)\n"
					 "ALTER TABLE %s RENAME TO %s;\n\n"
					 "CREATE VIEW %s WITH (security_invoker = true) AS\n"
					 "    SELECT %s FROM %s;\n\n"
					 "COMMENT ON VIEW %s IS %s;\n\n",
					 version, view, quote_identifier(new_name),
					 view, column_list(relid), table,
					 view, quote_literal_cstr(psprintf("the old name of %s until migrate_contract('%s')",
													   table, version)));
	appendStringInfoString(&sql, grant_statements(relid, view));
	undo = psprintf("-- expand/contract migration %s: abort\n"
					"DROP VIEW %s;\n"
					"ALTER TABLE %s RENAME TO %s;\n",
					version, view, table, quote_identifier(old_name));
	if (description == NULL)
		description = psprintf("expand: rename table %s to %s", old_name, new_name);

	steward_expand_apply(fcinfo, 4, version, sql.data, undo, description,
						 "rename-table the old name stays as an updatable view until contract");

	{
		const char *args[5] = {version, psprintf("%u", relid), table, view, steward_capture_who()};

		steward_exec_as_owner("SELECT steward.expansion_begin_table($1, $2::pg_catalog.oid, $3, $4, "
							  "$5::pg_catalog.jsonb)", 5, args);
	}

	ereport(NOTICE,
			(errmsg("expand/contract migration \"%s\" expanded: table %s renamed to %s, the old name is a view of it",
					version, view, table),
			 errhint("migrate_contract('%s') drops the view once no code uses the old name.", version)));
	PG_RETURN_TEXT_P(cstring_to_text("expanded"));
}

/*
 * The contract SQL of a table rename: drop the compatibility view,
 * refusing while other objects (views, functions with SQL bodies, ...)
 * still use it.
 */
char *
steward_table_rename_contract_sql(const char *version, const char *view_name)
{
	Oid			viewid;
	char	   *deps;

	viewid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(view_name)),
							  NoLock, true);
	if (!OidIsValid(viewid) || get_rel_relkind(viewid) != RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the view %s of expand/contract migration \"%s\" no longer exists", view_name, version),
				 errhint("Create the view again (the expand migration's SQL is in migrate_history('%s')), then contract.",
						 version)));
	deps = steward_expand_dependents(viewid, 0);
	if (deps)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot contract expand/contract migration \"%s\": objects still use the view %s",
						version, view_name),
				 errdetail("Dependent objects: %s.", deps),
				 errhint("Move them to the table's new name (or drop them) in a migration, then contract.")));

	return psprintf("-- expand/contract migration %s: contract\n"
					"DROP VIEW %s;\n", version, view_name);
}
