/*-------------------------------------------------------------------------
 *
 * state.c
 *	  Reading the state of one migration version before acting on it.
 *
 * The state comes from steward.migration_state, which already shows an
 * attempt whose transaction aborted as ended.  "Changed here" means the
 * current transaction wrote the row: acting on that version again before
 * committing would make the recorder wait for a row lock this very
 * transaction holds, so it is refused with a clear error instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "pg_steward.h"
#include "migrations/migrations.h"

void
steward_version_state(const char *version, StewardVersionState *st)
{
	const char *args[] = {version};
	char	  **row;

	row = steward_query_row_as_owner(
		"SELECT s.status, s.checksum, s.kind, (s.down_sql IS NOT NULL)::text, "
		"       m.xmin::text, "
		"       (SELECT max(n.version) FROM steward.migration_state n "
		"         WHERE n.status = 'completed' AND n.version > q.v), "
		"       (s.status = 'failed' AND m.job_id IS NOT NULL AND m.last_op = 'apply')::text, "
		"       s.error_statement::text, m.job_id::text "
		"  FROM (SELECT $1::text COLLATE \"C\" AS v) q "
		"  LEFT JOIN steward.migration_state s ON s.version = q.v "
		"  LEFT JOIN steward.migrations m ON m.version = q.v",
		lengthof(args), args, NULL);
	if (row == NULL)
		elog(ERROR, "could not read the state of migration \"%s\"", version);

	st->exists = (row[0] != NULL);
	st->status = row[0];
	st->checksum = row[1];
	st->kind = row[2];
	st->has_down_sql = (row[3] != NULL && strcmp(row[3], "true") == 0);
	st->changed_here = (row[4] != NULL &&
						TransactionIdIsCurrentTransactionId((TransactionId) strtoul(row[4], NULL, 10)));
	st->newer_completed = row[5];
	st->tx_part_applied = (row[6] != NULL && strcmp(row[6], "true") == 0);
	st->error_statement = row[7] ? atoi(row[7]) : 0;
	st->job_id = row[8] ? strtoll(row[8], NULL, 10) : 0;
}

void
steward_refuse_changed_here(const char *version, const StewardVersionState *st)
{
	if (st->changed_here)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" was already changed in this transaction", version),
				 errhint("COMMIT first, then call it again.")));
}

void
steward_refuse_unknown(const char *version, const StewardVersionState *st)
{
	if (!st->exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration \"%s\" does not exist", version),
				 errhint("SELECT version, status FROM migrate_status() lists the known versions.")));
}
