/*-------------------------------------------------------------------------
 *
 * rollback.c
 *	  migrate_rollback(version, out_of_order, lock_timeout,
 *					   statement_timeout, lock_retries)
 *
 * Runs a completed migration's stored down_sql atomically, through the
 * same engine as migrate_apply (timeouts, retries, recorded attempts), and
 * marks the version rolled_back.  Only the newest completed version may
 * be rolled back unless out_of_order is true.  Returns 'rolled_back'.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "migrations/migrations.h"

PG_FUNCTION_INFO_V1(steward_migrate_rollback);

/*
 * The role whose privileges a migration's down_sql runs with: the role that
 * stored it (the current_user of migrate_apply, or of the migrate_repair
 * that replaced it).  A row stored before 0.3.0 has no such record; its
 * apply's current_user stands in while the last operation on it was that
 * apply (a rollback or repair since then overwrote or may have changed
 * what was recorded).  A role that no longer exists is refused.
 */
static Oid
down_sql_author(const char *version, const char *role_oid, const char *role_name,
				const char *current_user_name, const char *last_op)
{
	Oid			author;

	if (role_oid != NULL)
	{
		author = (Oid) strtoul(role_oid, NULL, 10);
		if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(author)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("cannot roll back migration \"%s\": the role that stored its down_sql no longer exists",
							version),
					 errdetail("down_sql runs with the privileges of the role that stored it, \"%s\".",
							   role_name ? role_name : "?"),
					 errhint("Store the down_sql again with migrate_repair('%s', reason => '...', down_sql => ...) "
							 "as the role it should run as.", version)));
		return author;
	}

	author = InvalidOid;
	if (current_user_name != NULL && last_op != NULL && strcmp(last_op, "apply") == 0)
		author = get_role_oid(current_user_name, true);
	if (!OidIsValid(author))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot roll back migration \"%s\": the role that stored its down_sql is not known",
						version),
				 errdetail("down_sql runs with the privileges of the role that stored it; "
						   "this down_sql was stored before pg_steward 0.3.0 recorded that role%s.",
						   current_user_name && last_op && strcmp(last_op, "apply") == 0
						   ? psprintf(", and the role of its apply, \"%s\", no longer exists", current_user_name)
						   : ""),
				 errhint("Store the down_sql again with migrate_repair('%s', reason => '...', down_sql => ...) "
						 "as the role it should run as.", version)));
	return author;
}

Datum
steward_migrate_rollback(PG_FUNCTION_ARGS)
{
	StewardAttempt a = {0};
	StewardVersionState st;
	char	   *version;
	bool		out_of_order;
	const char *args[1];
	char	  **row;
	char	   *down_sql;
	Oid			author;

	steward_refuse_nested();
	version = steward_check_version("version", PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	out_of_order = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	steward_resolve_timeouts(&a,
							 PG_ARGISNULL(2) ? NULL : PG_GETARG_INTERVAL_P(2),
							 PG_ARGISNULL(3) ? NULL : PG_GETARG_INTERVAL_P(3),
							 PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4));

	steward_require_read_write("roll back a migration");
	steward_require_read_committed("migrate_rollback");

	steward_migration_lock("roll back a migration");
	steward_version_state(version, &st);
	steward_refuse_unknown(version, &st);

	if (strcmp(st.kind, "baseline") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is a baseline and cannot be rolled back", version)));
	if (strcmp(st.status, "completed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot roll back migration \"%s\": its status is %s", version, st.status),
				 errdetail("Only a completed migration can be rolled back.")));
	if (!st.has_down_sql)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" has no down_sql", version),
				 errhint("Write the reverse change as a new migration, or store a down_sql with "
						 "migrate_repair('%s', reason => '...', down_sql => ...).", version)));
	steward_refuse_changed_here(version, &st);
	if (st.newer_completed && !out_of_order)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is not the newest applied migration", version),
				 errdetail("Migration \"%s\" was applied after it.", st.newer_completed),
				 errhint("Roll back the newer migrations first, or pass out_of_order => true.")));

	args[0] = version;
	row = steward_query_row_as_owner(
		"SELECT down_sql, down_sql_role::text, down_sql_role_name, "
		"       current_user_name, last_op "
		"  FROM steward.migrations WHERE version OPERATOR(pg_catalog.=) $1", 1, args, NULL);
	if (row == NULL || row[0] == NULL)
		elog(ERROR, "down_sql of migration \"%s\" vanished", version);
	down_sql = row[0];

	/* down_sql runs as the role that stored it; only its members may */
	author = down_sql_author(version, row[1], row[2], row[3], row[4]);
	if (!is_member_of_role(GetUserId(), author))
	{
		char	   *author_name = GetUserNameFromId(author, true);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to roll back migration \"%s\"", version),
				 errdetail("Its down_sql was stored by role \"%s\" and runs with that role's privileges; "
						   "only a member of that role may roll it back.",
						   author_name ? author_name : "?")));
	}

	a.op = "rollback";
	a.version = version;
	a.statements = steward_parse_migration(version, "down_sql", down_sql, false);
	a.run_as = author;
	a.who = steward_capture_who();
	steward_run_attempt(&a);

	ereport(NOTICE,
			(errmsg("migration \"%s\" rolled back: %d statement%s",
					version, a.applied, a.applied == 1 ? "" : "s")));
	PG_RETURN_TEXT_P(cstring_to_text("rolled_back"));
}
