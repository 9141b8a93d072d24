/*-------------------------------------------------------------------------
 *
 * repair.c
 *	  migrate_repair(version, reason, status, up_sql, down_sql) and
 *	  migrate_baseline(version, description).
 *
 * Both change bookkeeping only, in the caller's transaction, and append an
 * event; nothing is overwritten without a trace.
 *
 * migrate_repair resolves what a failed run or a deliberate edit left:
 *	  status => 'completed'    the change was applied by hand
 *	  status => 'rolled_back'  the migration is abandoned or was reverted by
 *							   hand
 *	  up_sql => ...            accept a deliberately changed migration: the
 *							   stored SQL and checksum are replaced
 *	  down_sql => ...          store or replace the rollback SQL
 * A reason is always required.
 *
 * migrate_baseline records that the schema already is at a version, for
 * databases older than pg_steward: the version becomes a completed
 * 'baseline' and older versions are refused as out of order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "pg_steward.h"
#include "migrations/migrations.h"

#define ARG_TEXT_OR_NULL(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))

PG_FUNCTION_INFO_V1(steward_migrate_repair);
PG_FUNCTION_INFO_V1(steward_migrate_baseline);

Datum
steward_migrate_repair(PG_FUNCTION_ARGS)
{
	StewardVersionState st;
	char	   *version;
	char	   *reason;
	char	   *status;
	char	   *up_sql;
	char	   *down_sql;
	char	   *checksum = NULL;
	char	   *result;
	bool		isnull;

	steward_refuse_nested();
	version = steward_check_version("version", ARG_TEXT_OR_NULL(0));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reason must not be null"),
				 errhint("Every repair is recorded with the reason for it.")));
	reason = steward_optional_text(PG_GETARG_TEXT_PP(1), "reason", STEWARD_MAX_DESCRIPTION_LEN);
	status = steward_optional_text(ARG_TEXT_OR_NULL(2), "status", 0);
	up_sql = steward_optional_text(ARG_TEXT_OR_NULL(3), "up_sql", 0);
	down_sql = steward_optional_text(ARG_TEXT_OR_NULL(4), "down_sql", 0);

	if (status == NULL && up_sql == NULL && down_sql == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nothing to repair"),
				 errhint("Pass status => 'completed' or 'rolled_back', up_sql => ... to accept a changed checksum, or down_sql => ....")));
	if (status && strcmp(status, "completed") != 0 && strcmp(status, "rolled_back") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid status \"%s\"", status),
				 errhint("A repair sets status to 'completed' or 'rolled_back'.")));
	if (up_sql)
	{
		(void) steward_parse_migration(version, "up_sql", up_sql, true);
		checksum = steward_checksum(up_sql);
	}
	if (down_sql)
		(void) steward_parse_migration(version, "down_sql", down_sql, false);

	steward_require_read_write("repair a migration");
	steward_migration_lock("repair a migration");
	steward_version_state(version, &st);
	steward_refuse_unknown(version, &st);

	if (strcmp(st.kind, "baseline") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is a baseline and cannot be repaired", version)));
	if (strcmp(st.status, "in_progress") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is in progress in another transaction", version)));
	if (status && strcmp(status, st.status) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" already has status %s", version, status)));
	if (checksum && st.checksum && strcmp(checksum, st.checksum) == 0 &&
		status == NULL && down_sql == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" already has checksum %s", version, checksum)));

	/* write down aborted attempts first, so a repair starts from the truth */
	steward_exec_as_owner("SELECT steward.reconcile()", 0, NULL);

	{
		const char *args[] = {version, reason, status, up_sql, checksum, down_sql,
		steward_capture_who()};

		result = steward_query_text_as_owner(
			"SELECT steward.repair($1, $2, $3, $4, $5, $6, $7::jsonb)",
			lengthof(args), args, &isnull);
	}
	if (checksum && st.checksum && strcmp(checksum, st.checksum) != 0)
		ereport(NOTICE,
				(errmsg("migration \"%s\": checksum %s replaces %s", version, checksum, st.checksum)));
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

Datum
steward_migrate_baseline(PG_FUNCTION_ARGS)
{
	StewardVersionState st;
	char	   *version;
	char	   *description;
	char	   *result;
	bool		isnull;

	steward_refuse_nested();
	version = steward_check_version("version", ARG_TEXT_OR_NULL(0));
	description = steward_optional_text(ARG_TEXT_OR_NULL(1), "description",
										STEWARD_MAX_DESCRIPTION_LEN);

	steward_require_read_write("record a baseline");
	steward_migration_lock("record a baseline");
	steward_version_state(version, &st);

	if (st.exists)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("migration \"%s\" already exists", version),
				 errhint("A baseline names a version that pg_steward has not seen yet.")));
	if (st.newer_completed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot record baseline \"%s\": migration \"%s\" is newer and already applied",
						version, st.newer_completed)));

	{
		const char *args[] = {version, description, steward_capture_who()};

		result = steward_query_text_as_owner(
			"SELECT steward.baseline($1, $2, $3::jsonb)",
			lengthof(args), args, &isnull);
	}
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
