/*-------------------------------------------------------------------------
 *
 * import.c
 *	  migrate_import(source, tool): adopt another tool's migration history.
 *
 * Records the migrations that a Prisma (_prisma_migrations) or Flyway
 * (flyway_schema_history) history table shows as applied as completed
 * baselines, without running them.
 *
 * The history is read with the caller's own privileges, as any query of the
 * caller's: a view that calls the caller's functions runs them as the
 * caller.  Only what was read, as JSON, reaches the bookkeeping
 * (steward.import_history), which classifies the rows and writes the
 * baselines as the steward owner without evaluating anything of the
 * caller's.  The guards are migrate_apply's own: no call from inside a
 * migration (or a dry run), a read-write primary, the migration lock, the
 * caller's identity.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "pg_steward.h"
#include "migrations/migrations.h"

PG_FUNCTION_INFO_V1(steward_migrate_import);

/* 'prisma', 'flyway' or NULL (tell from the columns) */
static char *
import_tool(text *arg)
{
	char	   *tool;
	char	   *start;
	char	   *end;

	if (arg == NULL)
		return NULL;
	tool = text_to_cstring(arg);
	for (start = tool; *start == ' ' || *start == '\t' || *start == '\r' || *start == '\n'; start++)
		;
	end = start + strlen(start);
	while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	if (*start == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tool must not be empty"),
				 errhint("Pass NULL to tell the tool from the table's columns.")));
	start = asc_tolower(start, strlen(start));
	if (strcmp(start, "prisma") != 0 && strcmp(start, "flyway") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown tool \"%s\"", tool),
				 errhint("migrate_import reads Prisma's _prisma_migrations (tool => 'prisma') "
						 "and Flyway's flyway_schema_history (tool => 'flyway').")));
	return start;
}

/* the relation's column names as a JSON array */
static char *
import_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, NameStr(att->attname));
		first = false;
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * Every row of the history as a JSON array, read as the caller (the
 * current user, with search_path pinned to pg_catalog for the words of
 * this query; a view's own body was bound when it was created).
 */
static char *
import_read_rows(const char *table)
{
	MemoryContext callercxt = CurrentMemoryContext;
	StewardOwnerScope scope;
	char	   *rows = NULL;
	char	   *v;
	int			rc;

	steward_owner_scope_begin(&scope, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute(psprintf("SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t.*)),"
							  " '[]'::pg_catalog.jsonb)::pg_catalog.text FROM %s AS t", table),
					 true, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the history table: %s", SPI_result_code_string(rc));
	v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	rows = MemoryContextStrdup(callercxt, v ? v : "[]");
	SPI_finish();
	steward_owner_scope_end(&scope);
	return rows;
}

Datum
steward_migrate_import(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *tool;
	char		relkind;
	char	   *table;
	char	   *columns;
	char	   *rows;
	Relation	rel;

	steward_refuse_nested();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null")));
	relid = PG_GETARG_OID(0);
	tool = import_tool(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));

	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or view", table)));
	steward_require_read_write("import migrations");

	/* reading checks the caller's privileges before it locks anything */
	rows = import_read_rows(table);
	rel = relation_open(relid, AccessShareLock);
	columns = import_columns(rel);
	relation_close(rel, NoLock);

	steward_migration_lock("import migrations");
	{
		const char *args[] = {tool, table, columns, rows, steward_capture_who()};

		steward_return_query_as_owner(fcinfo,
									  "SELECT * FROM steward.import_history($1, $2, $3::pg_catalog.jsonb, "
									  "$4::pg_catalog.jsonb, $5::pg_catalog.jsonb)",
									  lengthof(args), args);
	}
	return (Datum) 0;
}
