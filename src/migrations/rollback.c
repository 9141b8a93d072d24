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
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "migrations/migrations.h"

PG_FUNCTION_INFO_V1(migrate_rollback);

Datum
migrate_rollback(PG_FUNCTION_ARGS)
{
	StewardAttempt a = {0};
	StewardVersionState st;
	char	   *version;
	bool		out_of_order;
	bool		isnull;
	const char *args[1];
	char	   *down_sql;

	steward_refuse_nested();
	version = steward_check_version("version", PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	out_of_order = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	steward_resolve_timeouts(&a,
							 PG_ARGISNULL(2) ? NULL : PG_GETARG_INTERVAL_P(2),
							 PG_ARGISNULL(3) ? NULL : PG_GETARG_INTERVAL_P(3),
							 PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4));

	steward_require_read_write("roll back a migration");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("migrate_rollback requires the READ COMMITTED isolation level")));

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
	down_sql = steward_query_text_as_owner(
		"SELECT down_sql FROM steward.migrations WHERE version = $1", 1, args, &isnull);
	if (isnull)
		elog(ERROR, "down_sql of migration \"%s\" vanished", version);

	a.op = "rollback";
	a.version = version;
	a.statements = steward_parse_migration(version, "down_sql", down_sql, false);
	a.who = steward_capture_who();
	steward_run_attempt(&a);

	ereport(NOTICE,
			(errmsg("migration \"%s\" rolled back: %d statement%s",
					version, a.applied, a.applied == 1 ? "" : "s")));
	PG_RETURN_TEXT_P(cstring_to_text("rolled_back"));
}
