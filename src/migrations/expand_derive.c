/*-------------------------------------------------------------------------
 *
 * expand_derive.c
 *	  Deriving a new column from old ones while both application versions
 *	  write the table:
 *
 *	  migrate_expand_derive(version, relation, new_column, new_type, up,
 *							old_columns, down, description, out_of_order,
 *							lock_timeout, lock_retries, batch_size)
 *
 * Words: the old columns are the ones the old application writes and
 * contract drops (first_name, last_name); the new column is computed from
 * a row by up (first_name || ' ' || last_name); down, when given, has one
 * expression per old column that computes it back from a row the new
 * application wrote (split_part(full_name, ' ', 1), ...).  Without down
 * the new column is derived only: a statement that writes it a value up
 * would not give is refused, since nothing could carry it to the old
 * columns.
 *
 * expand adds the new column and a BEFORE INSERT OR UPDATE trigger (plpgsql,
 * not SECURITY DEFINER, search_path pinned) and submits a backfill, like a
 * column expansion (expand.c): an INSERT without the new column, and an
 * UPDATE that does not change it, get up; a statement that writes it a
 * value other than up gets every old column from down, all computed from
 * the row as written before any is assigned.  check, contract (which drops
 * every old column, refusing while objects use one) and abort are
 * expand.c's, for kind 'derive'.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#include "pg_steward.h"
#include "migrations/expand.h"
#include "migrations/migrations.h"

PG_FUNCTION_INFO_V1(steward_migrate_expand_derive);

#define MAX_OLD_COLUMNS 32

/* The elements of a one-dimensional array argument, NULLs refused. */
static int
array_arg(FunctionCallInfo fcinfo, int n, Oid elemtype, const char *argname, Datum **elems)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(n);
	bool	   *nulls;
	int			count;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(a, elemtype, typlen, typbyval, typalign, elems, &nulls, &count);
	for (int i = 0; i < count; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", argname)));
	return count;
}

Datum
steward_migrate_expand_derive(PG_FUNCTION_ARGS)
{
	char	   *version;
	Oid			relid;
	char	   *new_name;
	char	   *new_type_arg;
	char	   *up;
	Datum	   *old_datums;
	Datum	   *down_datums = NULL;
	int			nold;
	int			ndown = 0;
	char	  **old_cols;
	char	  **old_types;
	char	  **downs = NULL;
	char	   *description;
	int32		batch_size;
	Oid			new_typid;
	int32		new_typmod;
	char	   *nspname;
	char	   *relname;
	char	   *new_type;
	char	   *hash;
	char	   *sync_name;
	char	   *sync_function;
	char	   *pending;
	char	   *tag;
	char	   *up_val;
	StringInfoData all_down;
	StringInfoData cols_list;
	StringInfoData sql;
	char	   *undo;
	StewardOwnerScope scope;
	char	   *job;

	steward_refuse_nested();
	version = steward_check_version("version", PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	relid = steward_expand_relation_arg(fcinfo, 1);
	new_name = steward_expand_required_name(fcinfo, 2, "new_column");
	new_type_arg = steward_optional_text(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3), "new_type", 1024);
	up = steward_optional_text(PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4), "up", 0);
	if (new_type_arg == NULL || up == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("new_type and up must not be null"),
				 errdetail("up computes the new column, of type new_type, from a row the old application wrote.")));
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("old_columns must not be null"),
				 errdetail("They are the columns the new one is derived from, which contract drops.")));
	nold = array_arg(fcinfo, 5, NAMEOID, "old_columns", &old_datums);
	if (nold < 1 || nold > MAX_OLD_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("old_columns must name 1 to %d columns", MAX_OLD_COLUMNS)));
	if (!PG_ARGISNULL(6))
	{
		ndown = array_arg(fcinfo, 6, TEXTOID, "down", &down_datums);
		if (ndown != nold)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("down must have one expression per old column"),
					 errdetail("old_columns has %d, down has %d.", nold, ndown)));
	}
	description = steward_optional_text(PG_ARGISNULL(7) ? NULL : PG_GETARG_TEXT_PP(7),
										"description", STEWARD_MAX_DESCRIPTION_LEN);
	batch_size = steward_expand_batch_size_arg(fcinfo, 11);

	steward_require_read_write("expand a table");
	steward_require_read_committed("migrate_expand_derive");
	steward_expand_check_relation(relid, false);
	if (get_attnum(relid, new_name) != InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" already exists", new_name, get_rel_name(relid))));
	parseTypeString(new_type_arg, &new_typid, &new_typmod, NULL);
	steward_expand_require_equality(new_typid, new_name);


	nspname = get_namespace_name(get_rel_namespace(relid));
	hash = steward_sha256_hex(version, strlen(version));
	sync_name = psprintf("steward_sync_%.12s", hash);
	sync_function = quote_qualified_identifier(nspname, sync_name);

	old_cols = palloc(sizeof(char *) * nold);
	old_types = palloc(sizeof(char *) * nold);
	if (ndown > 0)
		downs = palloc(sizeof(char *) * nold);

	/* names, types and expressions as the trigger sees them: search_path pinned */
	steward_owner_scope_begin(&scope, false);
	relname = quote_qualified_identifier(nspname, get_rel_name(relid));
	new_type = format_type_with_typemod(new_typid, new_typmod);
	initStringInfo(&all_down);
	for (int i = 0; i < nold; i++)
	{
		AttrNumber	attnum;
		Oid			typid;
		int32		typmod;

		old_cols[i] = pstrdup(NameStr(*DatumGetName(old_datums[i])));
		attnum = get_attnum(relid, old_cols[i]);
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist", old_cols[i], get_rel_name(relid))));
		if (attnum < 0 || get_attgenerated(relid, attnum) != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is a system or generated column", old_cols[i])));
		for (int j = 0; j < i; j++)
			if (strcmp(old_cols[i], old_cols[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("old_columns names column \"%s\" twice", old_cols[i])));
		get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &(Oid) {0});
		old_types[i] = format_type_with_typemod(typid, typmod);
		if (downs)
		{
			downs[i] = TextDatumGetCString(down_datums[i]);
			if (downs[i][0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("down must not contain an empty expression")));
			steward_expand_check_expression("down", downs[i], relname, new_name, new_type,
											typid, old_cols[i]);
			appendStringInfoString(&all_down, downs[i]);
		}
	}
	steward_expand_check_expression("up", up, relname, new_name, new_type, new_typid, new_name);
	steward_owner_scope_end(&scope);

	/* no other pending expansion may use these columns */
	{
		StringInfoData cols;

		initStringInfo(&cols);
		appendStringInfoChar(&cols, '[');
		escape_json(&cols, new_name);
		for (int i = 0; i < nold; i++)
		{
			appendStringInfoChar(&cols, ',');
			escape_json(&cols, old_cols[i]);
		}
		appendStringInfoChar(&cols, ']');
		pending = steward_expand_pending_columns(relid, version, cols.data);
		if (pending)
			steward_expand_refuse_pending(version, pending,
										  psprintf("a column of %s", get_rel_name(relid)));
	}

	/* a tag that occurs nowhere else in the function's body, names and message included */
	appendStringInfo(&all_down, "\n%s\n%s", new_name, version);
	for (int i = 0; i < nold; i++)
		appendStringInfo(&all_down, "\n%s", old_cols[i]);
	tag = steward_expand_dollar_tag(up, all_down.data);
	up_val = psprintf("(SELECT CAST((%s\n) AS %s) FROM (SELECT NEW.*) AS t)", up, new_type);

	initStringInfo(&cols_list);
	for (int i = 0; i < nold; i++)
	{
		appendStringInfo(&cols_list, "%s%s", i ? ", " : "", old_cols[i]);
	}

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "-- expand/contract migration %s: expand (derive)\n"
					 "ALTER TABLE %s ADD COLUMN %s %s;\n\n",
					 version, relname, quote_identifier(new_name), new_type);
	appendStringInfo(&sql,
					 "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql\n"
					 "SET search_path = pg_catalog, pg_temp AS %s\n"
					 "#variable_conflict use_column\n"
					 "DECLARE\n"
					 "    r record;\n"
					 "BEGIN\n"
					 "    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN\n"
					 "        IF NEW.%s IS NULL THEN\n"
					 "            NEW.%s := %s;\n"
					 "            RETURN NEW;\n"
					 "        END IF;\n"
					 "    ELSIF NOT (NEW.%s IS DISTINCT FROM OLD.%s) THEN\n"
					 "        NEW.%s := %s;\n"
					 "        RETURN NEW;\n"
					 "    END IF;\n"
					 "    IF NEW.%s IS DISTINCT FROM %s THEN\n",
					 sync_function, tag,
					 quote_identifier(new_name),
					 quote_identifier(new_name), up_val,
					 quote_identifier(new_name), quote_identifier(new_name),
					 quote_identifier(new_name), up_val,
					 quote_identifier(new_name), up_val);
	if (downs)
	{
		appendStringInfoString(&sql, "        SELECT ");
		for (int i = 0; i < nold; i++)
			appendStringInfo(&sql, "%sCAST((%s\n) AS %s) AS c%d", i ? ", " : "", downs[i], old_types[i], i);
		appendStringInfoString(&sql, "\n          INTO r FROM (SELECT NEW.*) AS t;\n");
		for (int i = 0; i < nold; i++)
			appendStringInfo(&sql, "        NEW.%s := r.c%d;\n", quote_identifier(old_cols[i]), i);
	}
	else
		appendStringInfo(&sql,
						 "        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',\n"
						 "            MESSAGE = %s,\n"
						 "            HINT = %s;\n",
						 quote_literal_cstr(psprintf("column \"%s\" is derived from %s while expand/contract migration \"%s\" is pending",
													 new_name, cols_list.data, version)),
						 quote_literal_cstr("Write the old columns; the new one follows. The migration was expanded without down."));
	appendStringInfo(&sql,
					 "    END IF;\n"
					 "    RETURN NEW;\n"
					 "END\n"
					 "%s;\n\n", tag);
	undo = steward_expand_sync_sql(&sql, version, sync_function, sync_name, relname, new_name);
	if (description == NULL)
		description = psprintf("expand: derive %s.%s from %s", get_rel_name(relid), new_name, cols_list.data);

	steward_expand_apply(fcinfo, 8, version, sql.data, undo, description, NULL);
	job = steward_expand_submit_backfill(relid, new_name, up, new_type, batch_size);

	/* the bookkeeping, as the owner; names and expressions as JSON arrays */
	{
		StringInfoData oldj;
		StringInfoData downj;
		const char *args[12];

		initStringInfo(&oldj);
		initStringInfo(&downj);
		appendStringInfoChar(&oldj, '[');
		appendStringInfoChar(&downj, '[');
		for (int i = 0; i < nold; i++)
		{
			if (i > 0)
			{
				appendStringInfoChar(&oldj, ',');
				appendStringInfoChar(&downj, ',');
			}
			escape_json(&oldj, old_cols[i]);
			if (downs)
				escape_json(&downj, downs[i]);
		}
		appendStringInfoChar(&oldj, ']');
		appendStringInfoChar(&downj, ']');
		args[0] = version;
		args[1] = psprintf("%u", relid);
		args[2] = relname;
		args[3] = oldj.data;
		args[4] = new_name;
		args[5] = new_type;
		args[6] = up;
		args[7] = downs ? downj.data : NULL;
		args[8] = sync_function;
		args[9] = sync_name;
		args[10] = job;
		args[11] = steward_capture_who();
		steward_exec_as_owner("SELECT steward.expansion_begin_derive($1, $2::pg_catalog.oid, $3, "
							  "$4::pg_catalog.jsonb, $5, $6, $7, $8::pg_catalog.jsonb, $9, $10, "
							  "$11::pg_catalog.int8, $12::pg_catalog.jsonb)", 12, args);
	}

	ereport(NOTICE,
			(errmsg("expand/contract migration \"%s\" expanded: column \"%s\" added, derived from %s by trigger %s; backfill job %s",
					version, new_name, cols_list.data, sync_name, job),
			 errhint("migrate_expand_check('%s') counts the rows that disagree; migrate_contract('%s') drops %s once the job has succeeded.",
					 version, version, cols_list.data)));
	PG_RETURN_INT64(pg_strtoint64(job));
}
