/*-------------------------------------------------------------------------
 *
 * rules.c
 *	  Every rule the lint knows: its id, severity, how it is graded, what
 *	  it does to the table, why it matters and the safe alternative.
 *
 * Rule ids are stable: silence comments and recorded reviews name them.
 * docs/review.md lists the same rules with an example each.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "review/review.h"

static const LintRule rules[] = {
	/* graded: the cost grows with the table */
	{"add-column-volatile-default", LINT_WARNING, GRADE_SIZE, "rewrite",
		"a volatile default is computed for every existing row, so the table is rewritten under ACCESS EXCLUSIVE",
	"add the column without a default, SET DEFAULT for new rows, then fill old rows with backfill()"},
	{"add-column-serial-identity", LINT_WARNING, GRADE_SIZE, "rewrite",
		"a serial or identity column is filled for every existing row, so the table is rewritten under ACCESS EXCLUSIVE",
	"add a nullable bigint column with a sequence default for new rows and fill old rows with backfill()"},
	{"add-column-stored-generated", LINT_WARNING, GRADE_SIZE, "rewrite",
		"a stored generated column is computed for every existing row, so the table is rewritten under ACCESS EXCLUSIVE",
	"add a plain column kept up to date by a trigger and fill old rows with backfill()"},
	{"add-column-constrained-domain", LINT_WARNING, GRADE_SIZE, "rewrite",
		"a column of a domain with constraints is checked for every existing row, so the table is rewritten under ACCESS EXCLUSIVE",
	"add the column with the domain's base type and a CHECK ... NOT VALID, then validate_constraint()"},
	{"change-column-type", LINT_WARNING, GRADE_SIZE, "rewrite",
		"this type change is not binary-coercible: the table and its indexes are rewritten under ACCESS EXCLUSIVE",
	"add a new column, keep it in sync with a trigger, backfill() it, then swap the columns in a short migration"},
	{"type-change-with-checks", LINT_WARNING, GRADE_SIZE, "scan",
		"the CHECK constraints on this column are verified again over the whole table under ACCESS EXCLUSIVE",
	"drop the CHECK, change the type, re-add the CHECK NOT VALID and validate it with validate_constraint()"},
	{"set-not-null", LINT_WARNING, GRADE_SIZE, "scan",
		"SET NOT NULL scans the whole table under ACCESS EXCLUSIVE unless a valid CHECK (col IS NOT NULL) proves it",
	"ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, validate_constraint(), then SET NOT NULL (no scan) and drop the CHECK"},
	{"alter-domain-scan", LINT_WARNING, GRADE_SIZE, "scan",
		"ALTER DOMAIN ... ADD CONSTRAINT, VALIDATE CONSTRAINT and SET NOT NULL check every table with a column of the domain, each under SHARE, blocking its writes",
	"ADD CONSTRAINT ... NOT VALID (new values are checked at once, no scan); VALIDATE CONSTRAINT when a table-wide SHARE lock is acceptable"},
	{"check-missing-not-valid", LINT_WARNING, GRADE_SIZE, "scan",
		"adding a CHECK scans the whole table under ACCESS EXCLUSIVE",
	"ADD CONSTRAINT ... NOT VALID (instant), then validate_constraint(), which takes only SHARE UPDATE EXCLUSIVE"},
	{"fk-missing-not-valid", LINT_WARNING, GRADE_SIZE, "scan",
		"adding a foreign key scans the table under SHARE ROW EXCLUSIVE on both tables, blocking their writes",
	"ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID (instant), then validate_constraint()"},
	{"validate-in-locking-tx", LINT_WARNING, GRADE_SIZE, "scan",
		"the validation scan runs while this migration already holds a lock that blocks writes to the table, until it commits",
	"validate in a later step: validate_constraint() runs it in a background job under SHARE UPDATE EXCLUSIVE"},
	{"unique-constraint-builds-index", LINT_WARNING, GRADE_SIZE, "index build",
		"a UNIQUE constraint builds its index under ACCESS EXCLUSIVE, blocking reads and writes",
	"CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX"},
	{"primary-key-builds-index", LINT_WARNING, GRADE_SIZE, "index build",
		"a PRIMARY KEY builds its index (and checks NOT NULL) under ACCESS EXCLUSIVE",
	"CREATE UNIQUE INDEX CONCURRENTLY on NOT NULL columns, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX"},
	{"exclusion-constraint", LINT_WARNING, GRADE_SIZE, "index build",
		"an exclusion constraint builds its index under ACCESS EXCLUSIVE and has no online path",
	"create a new table with the constraint and copy the rows with copy_table()"},
	{"index-not-concurrent", LINT_WARNING, GRADE_SIZE, "index build",
		"CREATE INDEX takes SHARE on the table: writes wait for the whole build",
	"CREATE INDEX CONCURRENTLY (pg_steward runs it in a background job after the transactional part)"},
	{"reindex-not-concurrent", LINT_WARNING, GRADE_SIZE, "index build",
		"REINDEX blocks writes to the table and reads through the index while it rebuilds",
	"REINDEX ... CONCURRENTLY (run in a background job)"},
	{"full-rewrite-maintenance", LINT_WARNING, GRADE_SIZE, "rewrite",
		"VACUUM FULL and CLUSTER rewrite the table under ACCESS EXCLUSIVE",
	"plain VACUUM, or an online rebuild such as copy_table() into a new table"},
	{"rewrite-table-option", LINT_WARNING, GRADE_SIZE, "rewrite",
		"SET LOGGED/UNLOGGED, SET TABLESPACE and SET ACCESS METHOD rewrite or copy the table under ACCESS EXCLUSIVE",
	"create a new table with the option and copy the rows with copy_table()"},
	{"attach-partition-scan", LINT_WARNING, GRADE_SIZE, "scan",
		"ATTACH PARTITION scans the attached table (and the default partition) under ACCESS EXCLUSIVE on the attached table unless a CHECK proves the bound",
	"first ADD a CHECK matching the partition bound NOT VALID and validate it; then ATTACH skips the scan"},
	{"refresh-matview-not-concurrent", LINT_WARNING, GRADE_SIZE, "rewrite",
		"REFRESH MATERIALIZED VIEW rebuilds it under ACCESS EXCLUSIVE, blocking its readers",
	"REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view)"},
	{"backfill-in-ddl-tx", LINT_WARNING, GRADE_SIZE, "scan",
		"this UPDATE or DELETE runs in the same transaction as the migration's DDL, so its row locks and the DDL locks are held until the end",
	"run the data change with backfill(), in batches of their own transactions"},

	/* fixed severity */
	{"add-required-column", LINT_ERROR, GRADE_EMPTY, "none",
		"a NOT NULL column without a default fails on a table with rows, and INSERTs of running code that do not name it break",
	"add it nullable or with a constant default, backfill(), then SET NOT NULL the safe way"},
	{"concurrently-in-tx", LINT_ERROR, GRADE_NONE, "none",
		"this statement refuses to run inside a transaction block",
	"run it on its own, outside migrate_apply"},
	{"drop-index-not-concurrent", LINT_WARNING, GRADE_NONE, "none",
		"DROP INDEX takes ACCESS EXCLUSIVE on the table",
	"DROP INDEX CONCURRENTLY (run in a background job)"},
	{"detach-not-concurrent", LINT_WARNING, GRADE_NONE, "none",
		"DETACH PARTITION takes ACCESS EXCLUSIVE on the parent table",
	"DETACH PARTITION ... CONCURRENTLY (run in a background job)"},
	{"trigger-lock", LINT_WARNING, GRADE_NONE, "none",
		"creating, enabling or disabling a trigger takes SHARE ROW EXCLUSIVE, which blocks writes until the migration commits",
	"keep it in a short migration of its own; the lock_timeout keeps it from queueing behind long transactions"},
	{"drop-trigger", LINT_WARNING, GRADE_NONE, "none",
		"DROP TRIGGER takes ACCESS EXCLUSIVE on the table",
	"keep it in a short migration of its own, or disable it first (SHARE ROW EXCLUSIVE)"},
	{"rls-policy-lock", LINT_WARNING, GRADE_NONE, "none",
		"policies and row level security take ACCESS EXCLUSIVE on the table, blocking its readers",
	"keep it in a short migration of its own"},
	{"lock-table", LINT_WARNING, GRADE_NONE, "none",
		"an explicit LOCK TABLE is held until the migration commits",
	"let each statement take the lock it needs, and keep the migration short"},
	{"combine-alters", LINT_INFO, GRADE_NONE, "none",
		"another ALTER TABLE on this table: each one takes its lock again and may scan again",
	"combine the subcommands into one ALTER TABLE, separated by commas"},
	{"work-after-ael", LINT_INFO, GRADE_NONE, "none",
		"an earlier statement took ACCESS EXCLUSIVE on an existing table; it stays held while the rest of the migration runs",
	"one strong lock per migration: put later work in a migration of its own"},
	{"lock-timeout-disabled", LINT_ERROR, GRADE_NONE, "none",
		"the migration turns lock_timeout off, as if its statements could wait for a lock without limit, blocking every later query on the table; pg_steward cancels such a wait at the migration's own lock_timeout",
	"leave lock_timeout to pg_steward (pg_steward.lock_timeout, retried with backoff)"},
	{"timeout-setting", LINT_WARNING, GRADE_NONE, "none",
		"pg_steward holds the migration to its own lock_timeout and statement_timeout: a setting made inside the migration can shorten a lock wait but never lifts or raises either limit",
	"pass lock_timeout and statement_timeout to migrate_apply (or set pg_steward.lock_timeout and pg_steward.statement_timeout)"},
	{"drop-table", LINT_ERROR, GRADE_EMPTY, "none",
		"DROP TABLE loses its data and takes ACCESS EXCLUSIVE on it and on the tables its foreign keys reference",
	"stop using the table first, keep a copy, and drop it in a migration of its own"},
	{"drop-column", LINT_ERROR, GRADE_EMPTY, "none",
		"DROP COLUMN loses its data and breaks running code that still uses it",
	"stop using the column in the code first, then drop it in a later release"},
	{"rename-table", LINT_WARNING, GRADE_NONE, "none",
		"running code that uses the old name breaks",
	"rename, then create a view with the old name (CREATE VIEW old AS SELECT * FROM new) until the code is updated"},
	{"rename-column", LINT_WARNING, GRADE_NONE, "none",
		"running code that uses the old name breaks",
	"add the new column, keep both in sync, switch the code, then drop the old one; or expose the old name through a view"},
	{"rename-schema", LINT_WARNING, GRADE_NONE, "none",
		"running code and search_path settings that use the old name break",
	"expand then contract: create the new schema, move objects, switch the code, then drop the old one"},
	{"rename-enum-value", LINT_WARNING, GRADE_NONE, "none",
		"running code and stored queries that use the old label break",
	"add the new label, migrate rows with backfill(), switch the code, keep the old label"},
	{"drop-not-null", LINT_WARNING, GRADE_NONE, "none",
		"code that relies on the column never being NULL may break",
	"review that readers handle NULL before dropping the guarantee"},
	{"drop-constraint", LINT_WARNING, GRADE_NONE, "none",
		"a guarantee on the data is lost, and the table is locked ACCESS EXCLUSIVE",
	"review the readers that rely on it; drop it in a short migration of its own"},
	{"drop-schema", LINT_ERROR, GRADE_NONE, "none",
		"DROP SCHEMA removes every object in it (with CASCADE) or fails",
	"drop the objects one by one in reviewed migrations"},
	{"truncate", LINT_ERROR, GRADE_NONE, "none",
		"TRUNCATE removes every row under ACCESS EXCLUSIVE (and with CASCADE the rows of referencing tables too)",
	"delete in batches with a reviewed condition, or move the table aside"},
	{"drop-database", LINT_ERROR, GRADE_NONE, "none",
		"DROP DATABASE loses every table in it and cannot run in a transaction",
	"not a migration step"},
	{"data-dependent", LINT_INFO, GRADE_NONE, "none",
		"this may fail on rows already in the table",
	"run the pre-check below before applying (or pass it as a pre_check)"},
	{"fk-without-index", LINT_WARNING, GRADE_NONE, "none",
		"no index starts with the referencing columns: every UPDATE or DELETE on the referenced table scans this table",
	"create an index on the referencing columns (CONCURRENTLY on an existing table)"},
	{"transaction-control", LINT_ERROR, GRADE_NONE, "none",
		"a migration runs as one transaction; transaction control other than BEGIN ... COMMIT around a whole block is refused before anything runs",
	"remove the transaction control; split into several migrations where a commit or another isolation level is needed"},
	{"transaction-wrapper", LINT_INFO, GRADE_NONE, "none",
		"BEGIN or COMMIT around the migration is absorbed: the migration already runs as one transaction",
	"nothing to change; the file keeps working with tools that run it as it is"},
	{"copy-from-client", LINT_ERROR, GRADE_NONE, "none",
		"COPY from or to the client cannot run inside a migration",
	"load the data with INSERT ... SELECT, or with COPY before or after the migration"},
	{"unseen-dynamic-sql", LINT_INFO, GRADE_NONE, "none",
		"the lint cannot see the statements a DO block or procedure runs; the runtime guard checks their DDL while the migration runs",
	"write the DDL as plain statements where possible"},
	{"unused-silence", LINT_WARNING, GRADE_NONE, "none",
		"this silence comment silences nothing",
	"name a rule that fires on this statement, followed by the reason: -- steward:allow <rule> <reason>"},

	/* hygiene: on new tables too */
	{"prefer-text-field", LINT_INFO, GRADE_NONE, "none",
		"changing a varchar(n) length later takes ACCESS EXCLUSIVE, and shrinking it rewrites the table",
	"text with a CHECK (length(col) <= n), which can be changed NOT VALID"},
	{"ban-char-field", LINT_WARNING, GRADE_NONE, "none",
		"char(n) pads with spaces and compares surprisingly",
	"text or varchar"},
	{"prefer-timestamptz", LINT_INFO, GRADE_NONE, "none",
		"timestamp without time zone loses the offset; converting later rewrites the table unless TimeZone is UTC",
	"timestamptz"},
	{"prefer-bigint-over-int", LINT_INFO, GRADE_NONE, "none",
		"an integer key runs out at 2^31; changing it later rewrites the table",
	"bigint"},
	{"prefer-identity", LINT_INFO, GRADE_NONE, "none",
		"serial creates a sequence with loose ownership and permissions",
	"bigint GENERATED ALWAYS AS IDENTITY"},
	{"prefer-jsonb", LINT_INFO, GRADE_NONE, "none",
		"json keeps the text as written and has no equality operator or indexing",
	"jsonb"},
	{"identifier-too-long", LINT_WARNING, GRADE_NONE, "none",
		"PostgreSQL truncates names to 63 bytes, so the object gets another name than the one written",
	"a name of at most 63 bytes"},
	{"enum-type", LINT_INFO, GRADE_NONE, "none",
		"enum labels can be added but never removed",
	"a lookup table with a foreign key when the values will change"},
};

const LintRule *
steward_lint_rule(const char *id)
{
	for (int i = 0; i < lengthof(rules); i++)
		if (strcmp(rules[i].id, id) == 0)
			return &rules[i];
	return NULL;
}

/* The position of a rule in the list, 0 .. steward_lint_rule_count() - 1. */
int
steward_lint_rule_index(const LintRule *rule)
{
	return (int) (rule - rules);
}

int
steward_lint_rule_count(void)
{
	return lengthof(rules);
}

const LintRule *
steward_lint_rule_at(int i)
{
	return &rules[i];
}

const char *
steward_lint_severity_name(LintSeverity s)
{
	switch (s)
	{
		case LINT_INFO:
			return "info";
		case LINT_WARNING:
			return "warning";
		case LINT_ERROR:
			return "error";
	}
	return "?";
}
