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

/* the columns of steward_version_state's query, in its order */
typedef enum StateColumn
{
	SC_STATUS,
	SC_CHECKSUM,
	SC_KIND,
	SC_HAS_DOWN_SQL,
	SC_XMIN,
	SC_NEWER_COMPLETED,
	SC_TX_PART_APPLIED,
	SC_ERROR_STATEMENT,
	SC_JOB_ID,
	SC_NUMBER_OF_COLUMNS
} StateColumn;

void
steward_version_state(const char *version, StewardVersionState *st)
{
	const char *args[] = {version};
	char	  **row;
	int			ncols;

	row = steward_query_row_as_owner(
		"SELECT s.status, s.checksum, s.kind, (s.down_sql IS NOT NULL)::text, "
		"       m.xmin::text, "
		"       (SELECT max(n.version) FROM steward.migration_state n "
		"         WHERE n.status OPERATOR(pg_catalog.=) 'completed' AND n.version OPERATOR(pg_catalog.>) q.v), "
		"       (s.status OPERATOR(pg_catalog.=) 'failed' AND m.job_id IS NOT NULL AND m.last_op OPERATOR(pg_catalog.=) 'apply')::text, "
		"       s.error_statement::text, m.job_id::text "
		"  FROM (SELECT $1::text COLLATE \"C\" AS v) q "
		"  LEFT JOIN steward.migration_state s ON s.version OPERATOR(pg_catalog.=) q.v "
		"  LEFT JOIN steward.migrations m ON m.version OPERATOR(pg_catalog.=) q.v",
		lengthof(args), args, &ncols);
	if (row == NULL)
		elog(ERROR, "could not read the state of migration \"%s\"", version);
	Assert(ncols == SC_NUMBER_OF_COLUMNS);

	st->exists = (row[SC_STATUS] != NULL);
	st->status = row[SC_STATUS];
	st->checksum = row[SC_CHECKSUM];
	st->kind = row[SC_KIND];
	st->has_down_sql = (row[SC_HAS_DOWN_SQL] != NULL && strcmp(row[SC_HAS_DOWN_SQL], "true") == 0);
	st->changed_here = (row[SC_XMIN] != NULL &&
						TransactionIdIsCurrentTransactionId((TransactionId) strtoul(row[SC_XMIN], NULL, 10)));
	st->newer_completed = row[SC_NEWER_COMPLETED];
	st->tx_part_applied = (row[SC_TX_PART_APPLIED] != NULL &&
						   strcmp(row[SC_TX_PART_APPLIED], "true") == 0);
	st->error_statement = row[SC_ERROR_STATEMENT] ? atoi(row[SC_ERROR_STATEMENT]) : 0;
	st->job_id = row[SC_JOB_ID] ? strtoll(row[SC_JOB_ID], NULL, 10) : 0;
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
