/*-------------------------------------------------------------------------
 *
 * validate_constraint.c
 *	  validate_constraint(relation, constraint_name)
 *
 * ALTER TABLE ... VALIDATE CONSTRAINT scans the whole table but takes only
 * a SHARE UPDATE EXCLUSIVE lock; as a job it runs in the background with
 * the job's lock_timeout and retries, and without a statement time limit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_constraint.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

PG_FUNCTION_INFO_V1(steward_validate_constraint);

Datum
steward_validate_constraint(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *conname;
	StringInfoData args;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and constraint_name must not be null")));
	relid = PG_GETARG_OID(0);
	conname = NameStr(*PG_GETARG_NAME(1));

	steward_require_read_write("validate a constraint");
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!OidIsValid(get_relation_constraint_oid(relid, conname, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("constraint \"%s\" of relation \"%s\" does not exist",
						conname, get_rel_name(relid))));
	if (!steward_owns_relation(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid))));

	initStringInfo(&args);
	appendStringInfoString(&args, "{\"constraint_name\": ");
	escape_json(&args, conname);
	appendStringInfo(&args, ", \"lock_timeout_ms\": %d, \"statement_timeout_ms\": 0}",
					 steward_lock_timeout_ms);

	PG_RETURN_INT64(steward_job_submit("validate_constraint", relid, InvalidOid, args.data, NULL));
}

static StewardBatchResult
validate_batch(StewardJob *job, int64 *rows)
{
	char	   *sql = psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s",
							   quote_qualified_identifier(get_namespace_name(get_rel_namespace(job->relid)),
														  get_rel_name(job->relid)),
							   quote_identifier(steward_job_arg_text(job, "constraint_name")));

	steward_job_set_phase(job, "validating");
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not validate constraint of job %lld", (long long) job->id);
	*rows = 0;
	return BATCH_DONE;
}

const StewardJobKind steward_validate_kind = {
	.name = "validate_constraint",
	.start = NULL,
	.batch = validate_batch,
	.finish = NULL,
	.cleanup = NULL,
	.non_transactional = false,
};
