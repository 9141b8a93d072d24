/*-------------------------------------------------------------------------
 *
 * lock.c
 *	  The migration lock: one migration operation at a time per database.
 *
 * migrate_apply, migrate_rollback, migrate_repair, migrate_baseline and
 * migrate_import take a transaction-level advisory lock (pg_locks: locktype
 * 'advisory', classid STEWARD_LOCK_CLASS, objid STEWARD_LOCK_MIGRATIONS,
 * objsubid STEWARD_LOCK_SUBID) and never wait for it: a second caller
 * fails at once with the busy session's pid.  Waiting would deadlock with CREATE INDEX CONCURRENTLY,
 * which waits for every open transaction, including a waiting deployer.
 * Being transaction-level, the lock cannot outlive its transaction, not
 * even after a crash.  SQL's pg_advisory_lock functions build only objsubid
 * 1 (one bigint key) and 2 (two integer keys), so no other role can take
 * this lock and block every migration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lock.h"

#include "pg_steward.h"
#include "migrations/migrations.h"

#define STEWARD_LOCK_CLASS		0x53545744	/* "STWD" */
#define STEWARD_LOCK_MIGRATIONS 1
#define STEWARD_LOCK_SUBID		6	/* jobs use 3 and 4, the sealer 5 */

void
steward_migration_lock(const char *what)
{
	LOCKTAG		tag;
	char	   *pid;
	bool		isnull;
	char		classid[16];
	char		objid[16];
	char		subid[16];
	const char *args[3];

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, STEWARD_LOCK_CLASS,
						 STEWARD_LOCK_MIGRATIONS, STEWARD_LOCK_SUBID);
	if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return;

	snprintf(classid, sizeof(classid), "%u", (unsigned) STEWARD_LOCK_CLASS);
	snprintf(objid, sizeof(objid), "%u", (unsigned) STEWARD_LOCK_MIGRATIONS);
	snprintf(subid, sizeof(subid), "%d", STEWARD_LOCK_SUBID);
	args[0] = classid;
	args[1] = objid;
	args[2] = subid;
	pid = steward_query_text_as_owner(
		"SELECT l.pid::text FROM pg_catalog.pg_locks l "
		" WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted "
		"   AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database "
		"                      WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) "
		"   AND l.classid OPERATOR(pg_catalog.=) $1::oid AND l.objid OPERATOR(pg_catalog.=) $2::oid AND l.objsubid OPERATOR(pg_catalog.=) $3::integer "
		"   AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() "
		" LIMIT 1",
		lengthof(args), args, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("cannot %s: another migration is in progress", what),
				 errdetail("pg_steward runs one migration at a time per database and never waits for the migration lock."),
				 errhint("Retry when the other migration has finished.")));
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("cannot %s: another migration is in progress in the session with PID %s", what, pid),
			 errdetail("pg_steward runs one migration at a time per database and never waits for the migration lock."),
			 errhint("Retry when it has finished; SELECT * FROM pg_stat_activity WHERE pid = %s shows what it is doing.", pid)));
}
