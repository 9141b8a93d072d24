/*-------------------------------------------------------------------------
 *
 * compat.c
 *	  The C names that released install and upgrade scripts give SQL.
 *
 * Every C function SQL calls is named steward_<what it does>
 * (src/README.md, "C entry points").  Versions before 0.4.0 named the API's
 * functions after their SQL names (migrate_apply, audit_append, ...), and
 * their scripts -- pg_steward--0.1.0.sql and the upgrade scripts, which
 * are never changed -- still name those symbols: a database created at an
 * older version, or updated through one, resolves them here until
 * pg_steward--0.3.0--0.4.0.sql points its functions at the new names.
 * Each is the function it names, nothing else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "pg_steward.h"

#define STEWARD_OLD_NAME(old) \
	extern Datum steward_##old(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(old); \
	Datum \
	old(PG_FUNCTION_ARGS) \
	{ \
		return steward_##old(fcinfo); \
	}
STEWARD_OLD_NAME(audit_append)
STEWARD_OLD_NAME(audit_redact)
STEWARD_OLD_NAME(audit_seal)
STEWARD_OLD_NAME(audit_table)
STEWARD_OLD_NAME(migrate_apply)
STEWARD_OLD_NAME(migrate_baseline)
STEWARD_OLD_NAME(migrate_checksum)
STEWARD_OLD_NAME(migrate_import)
STEWARD_OLD_NAME(migrate_lint)
STEWARD_OLD_NAME(migrate_lint_rules)
STEWARD_OLD_NAME(migrate_plan)
STEWARD_OLD_NAME(migrate_repair)
STEWARD_OLD_NAME(migrate_rollback)
STEWARD_OLD_NAME(migrate_validate)
STEWARD_OLD_NAME(unaudit_table)
STEWARD_OLD_NAME(verify_audit_chain)
