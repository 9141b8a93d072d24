/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The job worker and the dispatcher (see jobs.h for the words).
 *
 * A job worker receives (database, login role, job id, slot) from the
 * launcher in bgw_extra (or from CALL job_run, with slot -1), connects as
 * the login role, and runs the job through the engine.  When the launcher
 * found that the login role can no longer connect, the worker connects as
 * no role instead and only fails the job (see steward_job_execute).
 * It marks its slot clean_exit when the job ended, paused, was cancelled
 * or turned out not to be runnable; a worker that dies without that mark
 * makes the launcher request the job again.
 *
 * The dispatcher runs once per database when the launcher starts (server
 * start, crash recovery, promotion): it requests a job worker for every
 * job that is queued, running (its run was interrupted) or cancelling.
 * It connects without a user, as autovacuum does, and only reads.  Where
 * the ledger is installed it also requests the database's audit sealer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "pg_steward.h"
#include "jobs/jobs.h"
#include "audit/audit.h"

void
steward_job_worker_main(Datum arg)
{
	StewardWorkerExtra extra;

	steward_bgworker_begin(&extra, sizeof(extra), false);

	/* a login role that can no longer connect: connect as no role, to fail the job */
	steward_bgworker_connect(extra.dbid, extra.login_refused ? InvalidOid : extra.roleid,
							 psprintf("pg_steward job %lld", (long long) extra.job_id));
	if (extra.slot >= 0)
		steward_jobs_set_slot_pid(extra.slot, MyProcPid, false);

	steward_job_execute(extra.job_id, true, extra.login_refused);

	if (extra.slot >= 0)
		steward_jobs_set_slot_pid(extra.slot, MyProcPid, true);
	proc_exit(0);
}

void
steward_dispatcher_main(Datum arg)
{
	StewardWorkerExtra extra;
	StewardOwnerScope scope;
	int			rc;

	steward_bgworker_begin(&extra, sizeof(extra), false);
	steward_bgworker_connect(extra.dbid, InvalidOid, "pg_steward dispatcher");

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * A superuser's session with the database's settings: search_path
	 * pinned to pg_catalog, whatever ALTER DATABASE ... SET says.
	 */
	steward_owner_scope_begin(&scope, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	rc = SPI_execute("SELECT pg_catalog.to_regclass('steward.jobs') IS NOT NULL "
					 "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_extension "
					 "                WHERE extname OPERATOR(pg_catalog.=) 'pg_steward'::pg_catalog.name)",
					 true, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1 &&
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0)
	{
		rc = SPI_execute("SELECT id::pg_catalog.text, login_role::pg_catalog.text FROM steward.jobs "
						 " WHERE state OPERATOR(pg_catalog.=) ANY ('{queued,running,cancelling}'::pg_catalog.text[]) "
						 " ORDER BY id",
						 true, 0);
		if (rc == SPI_OK_SELECT)
		{
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				int64		job_id = strtoll(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1), NULL, 10);
				Oid			role = (Oid) strtoul(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2), NULL, 10);

				CHECK_FOR_INTERRUPTS();
				steward_launch_request(STEWARD_LAUNCH_JOB, MyDatabaseId, role, job_id);
			}
		}
		steward_audit_request_sealer();
	}

	SPI_finish();
	steward_owner_scope_end(&scope);
	PopActiveSnapshot();
	CommitTransactionCommand();
	proc_exit(0);
}
