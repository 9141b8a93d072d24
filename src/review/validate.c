/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  migrate_validate(): the checks a DBA runs after a deploy.
 *
 * The checks are the SQL function steward.validate_report(caller), which
 * puts together one SQL function per check (steward.validate_<check>).  They
 * read steward's own tables (the schema snapshots, the migrations), which
 * only the extension owner may read, so they run as that owner, through
 * the owner scope of spi_util.c (search_path pinned to pg_catalog).  What
 * depends on privileges is asked about the role that called: a sequence's
 * last value is shown only when the caller may read the sequence.  The
 * rest is what the catalog shows every role.
 *
 * Nothing the caller controls is evaluated as the owner: the report reads
 * the catalog with built-in functions and operators only (deparsing with
 * pg_get_*def, which runs no user code), and no user table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"

#include "pg_steward.h"
#include "review/review.h"

PG_FUNCTION_INFO_V1(steward_migrate_validate);

Datum
steward_migrate_validate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	StewardOwnerScope scope;
	int			rc;

	/* the role that called, before the owner scope changes it */
	args[0] = ObjectIdGetDatum(GetUserId());

	InitMaterializedSRF(fcinfo, 0);
	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT check_name, severity, object, detail "
							   "FROM steward.validate_report($1)",
							   1, argtypes, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not run the checks: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		CHECK_FOR_INTERRUPTS();
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	}
	SPI_finish();
	steward_owner_scope_end(&scope);
	return (Datum) 0;
}
