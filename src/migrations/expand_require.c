/*-------------------------------------------------------------------------
 *
 * expand_require.c
 *	  Expand/contract migrations that make a column required (NOT NULL)
 *	  while the old application, which may still write NULL, runs.
 *
 *	  migrate_expand_require(version, relation, column_name, fill,
 *							 description, out_of_order, lock_timeout,
 *							 lock_retries, batch_size)
 *
 * Words: fill is the expression that gives a row its value when the row
 * has NULL in the column.  The helper check is the constraint
 * CHECK (column IS NOT NULL), added NOT VALID.
 *
 * expand applies, through migrate_apply, a BEFORE INSERT OR UPDATE trigger
 * that writes fill into the column when a statement leaves it NULL (its
 * function is plpgsql, not SECURITY DEFINER, search_path pinned) and the
 * helper check NOT VALID (no scan: from now on no row can be written with
 * NULL); it submits a backfill job that fills the rows already there.
 * contract (migrate_contract, expand.c) validates the helper check (a scan
 * under SHARE UPDATE EXCLUSIVE), sets NOT NULL, which the valid check
 * proves without a scan, and drops the helper check and the trigger.
 * abort (migrate_abort) drops the trigger and the helper check; values
 * already filled stay.  check (migrate_expand_check) counts the rows whose
 * column is NULL.
 *
 * As for every expansion (expand.c): fill is parsed here as the caller and
 * evaluated only by the trigger (as whoever writes the row) and by the
 * backfill job (as the caller who submitted it); check and contract count
 * NULLs and evaluate no expression.  Nothing of the caller's runs as the
 * owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "pg_steward.h"
#include "migrations/expand.h"
#include "migrations/migrations.h"

PG_FUNCTION_INFO_V1(steward_migrate_expand_require);

#define ARG_TEXT_OR_NULL(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))

/* The name of the helper check of an expansion. */
static char *
helper_check_name(const char *version)
{
	return steward_expand_object_name("steward_require", version);
}

Datum
steward_migrate_expand_require(PG_FUNCTION_ARGS)
{
	char	   *version;
	Oid			relid;
	char	   *column;
	char	   *fill;
	char	   *description;
	int32		batch_size;
	AttrNumber	attnum;
	Oid			typid;
	int32		typmod;
	char	   *nspname;
	char	   *relname;
	char	   *type;
	Node	   *fill_expr;
	char	   *fill_name;
	char	   *fill_function;
	char	   *check_name;
	const char *col;
	char	   *tag;
	StewardOwnerScope scope;
	StringInfoData sql;
	StringInfoData undo;
	char	   *job;

	steward_refuse_nested();
	version = steward_check_version("version", ARG_TEXT_OR_NULL(0));
	relid = steward_expand_relation_arg(fcinfo, 1);
	column = steward_expand_required_name(fcinfo, 2, "column_name");
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fill must not be null"),
				 errdetail("fill is the expression that gives a row its value when the row has NULL in column \"%s\".",
						   column)));
	fill = steward_optional_text(ARG_TEXT_OR_NULL(3), "fill", 0);
	description = steward_optional_text(ARG_TEXT_OR_NULL(4), "description",
										STEWARD_MAX_DESCRIPTION_LEN);
	batch_size = steward_expand_batch_size_arg(fcinfo, 8);

	attnum = steward_expand_column_start(relid, column, "migrate_expand_require");
	if (steward_expand_column_not_null(relid, attnum))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("column \"%s\" of relation \"%s\" is already NOT NULL", column, get_rel_name(relid)),
				 errdetail("There is nothing to make required.")));
	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &(Oid) {0});

	nspname = get_namespace_name(get_rel_namespace(relid));
	fill_name = steward_expand_object_name("steward_fill", version);
	check_name = helper_check_name(version);

	/* names and the expression as the trigger sees them: search_path pinned */
	steward_owner_scope_begin(&scope, false);
	relname = quote_qualified_identifier(nspname, get_rel_name(relid));
	type = format_type_with_typemod(typid, typmod);
	fill_expr = steward_expand_check_expression("fill", fill, relname, NULL, NULL, typid, column);
	steward_owner_scope_end(&scope);
	if (IsA(fill_expr, Const) && ((Const *) fill_expr)->constisnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fill must not be NULL"),
				 errdetail("The rows with NULL in column \"%s\" must get a value.", column)));
	fill_function = quote_qualified_identifier(nspname, fill_name);
	col = quote_identifier(column);

	/* no other pending expansion may use the column */
	steward_expand_refuse_pending_column(relid, column, column, version);

	tag = steward_expand_dollar_tag(fill, column);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "-- expand/contract migration %s: require\n"
					 "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql\n"
					 "SET search_path = pg_catalog, pg_temp AS %s\n"
					 "#variable_conflict use_column\n"
					 "BEGIN\n"
					 "    IF NEW.%s IS NULL THEN\n"
					 "        NEW.%s := %s;\n"
					 "    END IF;\n"
					 "    RETURN NEW;\n"
					 "END\n"
					 "%s;\n\n",
					 version, fill_function, tag,
					 col, col, steward_expand_row_value(fill, type), tag);
	appendStringInfo(&sql,
					 "REVOKE ALL ON FUNCTION %s() FROM PUBLIC;\n\n"
					 "CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s\n"
					 "    FOR EACH ROW WHEN (NEW.%s IS NULL) EXECUTE FUNCTION %s();\n\n"
					 "ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID;\n",
					 fill_function, quote_identifier(fill_name), relname, col, fill_function,
					 relname, quote_identifier(check_name), col);

	initStringInfo(&undo);
	appendStringInfo(&undo,
					 "-- expand/contract migration %s: abort\n"
					 "ALTER TABLE %s DROP CONSTRAINT %s;\n"
					 "DROP TRIGGER %s ON %s;\n"
					 "DROP FUNCTION %s();\n",
					 version, relname, quote_identifier(check_name),
					 quote_identifier(fill_name), relname, fill_function);

	if (description == NULL)
		description = psprintf("expand: require %s.%s", get_rel_name(relid), column);

	/* the schema change, through migrate_apply, as the caller */
	steward_expand_apply(fcinfo, 5, version, sql.data, undo.data, description, NULL);

	/* the backfill, as the caller, with the trigger's search_path */
	job = steward_expand_backfill(relid,
								 psprintf("%s = CAST((%s\n) AS %s)", col, fill, type),
								 psprintf("%s IS NULL", col),
								 batch_size);

	/* the bookkeeping, as the owner */
	{
		const char *args[10] = {
			version, psprintf("%u", relid), relname, column, type, fill,
			fill_function, fill_name, job, steward_capture_who()
		};

		steward_exec_as_owner("SELECT steward.expansion_begin_require($1, $2::pg_catalog.oid, $3, $4, $5, "
							  "$6, $7, $8, $9::pg_catalog.int8, $10::pg_catalog.jsonb)",
							  10, args);
	}

	ereport(NOTICE,
			(errmsg("expand/contract migration \"%s\" expanded: trigger %s fills \"%s\" when a write leaves it NULL, constraint %s refuses NULL (NOT VALID); backfill job %s",
					version, fill_name, column, check_name, job),
			 errhint("migrate_expand_check('%s') counts the rows still NULL; migrate_contract('%s') sets NOT NULL once the job has succeeded.",
					 version, version)));
	PG_RETURN_INT64(pg_strtoint64(job));
}

/*
 * The number of rows whose column is still NULL, counted as the role that
 * expanded the migration, as every check is (expand.c): the table is
 * named as its OID names it now, the author's rights apply.
 */
int64
steward_require_count_null(const char *version, const char *author, const char *relname,
						   const char *column)
{
	return steward_expand_count_as_author(version, author,
										  psprintf("SELECT pg_catalog.count(*) FROM ONLY %s AS t WHERE t.%s IS NULL",
												   relname, quote_identifier(column)));
}

/*
 * The contract SQL of a required column, after checking that it may be
 * contracted: its backfill succeeded and no row is NULL.  It validates the
 * helper check first (a scan under SHARE UPDATE EXCLUSIVE: writes go on),
 * then sets NOT NULL, which the valid check proves without a scan, and
 * drops the helper check and the trigger.
 */
char *
steward_require_contract_sql(const char *version, const char *author, Oid relid,
							 const char *relname, const char *column,
							 const char *fill_function, const char *fill_trigger, int64 job_id)
{
	int64		nulls;
	char	   *check_name = helper_check_name(version);
	const char *col = quote_identifier(column);

	steward_expand_refuse_unfinished_backfill(version, job_id);
	if (get_attnum(relid, column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of %s no longer exists", column, relname)));
	nulls = steward_require_count_null(version, author, relname, column);
	if (!steward_expand_not_null_check(relid, check_name, column, version))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the check %s that expand/contract migration \"%s\" added to %s no longer exists",
						quote_identifier(check_name), version, relname),
				 errhint("Put it back with ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID, or abort the migration.",
						 relname, quote_identifier(check_name), col)));
	if (nulls > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot contract expand/contract migration \"%s\": %lld row%s of %s still %s NULL in column \"%s\"",
						version, (long long) nulls, nulls == 1 ? "" : "s", relname,
						nulls == 1 ? "has" : "have", column),
				 errdetail("The backfill and the trigger fill NULL; a row with NULL was written around them."),
				 errhint("migrate_expand_check('%s') counts them; an UPDATE that sets the column to NULL fills it.",
						 version)));

	return psprintf("-- expand/contract migration %s: contract\n"
					"ALTER TABLE %s VALIDATE CONSTRAINT %s;\n"
					"ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n"
					"ALTER TABLE %s DROP CONSTRAINT %s;\n"
					"DROP TRIGGER %s ON %s;\n"
					"DROP FUNCTION %s();\n",
					version,
					relname, quote_identifier(check_name),
					relname, col,
					relname, quote_identifier(check_name),
					quote_identifier(fill_trigger), relname,
					fill_function);
}
