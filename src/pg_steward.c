/*-------------------------------------------------------------------------
 *
 * pg_steward.c
 *	  Module entry point: the magic block, _PG_init and the GUCs shared by
 *	  all areas.
 *
 * pg_steward lets a DBA change a production schema safely from psql and
 * keeps an audit trail that nobody can rewrite unnoticed.  The source tree
 * mirrors its four areas:
 *
 *	  src/migrations  versioned, checksummed migrations applied inside the
 *					  database (migrate_apply, migrate_rollback, ...)
 *	  src/review	  safety review of migration SQL
 *	  src/jobs		  the background worker for long data work
 *	  src/audit		  the tamper-evident ledger
 *	  src/common	  hashing, SPI helpers, the recorder worker, argument
 *					  checks shared by all areas
 *
 * The words "migration", "attempt", "recorder" and "owner" are defined in
 * pg_steward.h.
 *
 * GUCs (user-settable, so a DBA can set them per role or database, except
 * those marked "reload", which are read from the server configuration):
 *	  pg_steward.lock_timeout			lock_timeout for each migration statement
 *	  pg_steward.statement_timeout		time limit for each migration statement
 *	  pg_steward.lock_retries			retries of a migration after a lock timeout
 *	  pg_steward.lock_retry_delay		first backoff delay (doubles per retry)
 *	  pg_steward.lock_retry_max_delay	cap of the backoff delay
 *	  pg_steward.max_jobs				job workers running at once (reload)
 *	  pg_steward.batch_statement_timeout time limit of one job batch
 *	  pg_steward.max_replication_lag	jobs hold while a standby lags more
 *	  pg_steward.concurrent_lock_timeout lock_timeout of CONCURRENTLY statements
 *	  pg_steward.max_replication_lag_bytes jobs hold while a standby's replay is
 *									  further behind (reload)
 *	  pg_steward.audit_seal_interval	how often the sealer seals the ledger (reload)
 *	  pg_steward.audit_block_max_events	largest block a seal writes (superuser)
 *	  pg_steward.large_table_threshold	size from which a scan or rewrite is an
 *									  error finding and the guard refuses a
 *									  rewrite (superuser)
 *
 * In every process _PG_init installs the runtime guard (src/review) and
 * registers the job kind of the migrations area, "statements", with the
 * jobs area (src/jobs/kinds.c), which knows nothing of migrations.
 *
 * With pg_steward in shared_preload_libraries, _PG_init also reserves the
 * shared memory of the jobs area and of the sealers and registers the
 * launcher (src/jobs), which also starts the sealers (src/audit).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "pg_steward.h"
#include "audit/audit.h"
#include "review/review.h"
#include "jobs/jobs.h"
#include "migrations/migrations.h"

PG_MODULE_MAGIC;

int			steward_lock_timeout_ms = 2000;
int			steward_statement_timeout_ms = 15 * 60 * 1000;
int			steward_lock_retries = 5;
int			steward_lock_retry_delay_ms = 500;
int			steward_lock_retry_max_delay_ms = 10000;
int			steward_max_jobs = 2;
bool		steward_copy_replayer = true;
int			steward_batch_statement_timeout_ms = 60 * 1000;
int			steward_max_replication_lag_ms = 30 * 1000;
int			steward_concurrent_lock_timeout_ms = 30 * 60 * 1000;
int			steward_max_replication_lag_kb = 1024 * 1024;
int			steward_large_table_kb = 100 * 1024;

void		_PG_init(void);

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;

static void
steward_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	steward_launch_shmem_request();
	steward_jobs_shmem_request();
	steward_audit_shmem_request();
	steward_recorder_shmem_request();
}
#endif

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
steward_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	steward_launch_shmem_startup();
	steward_jobs_shmem_startup();
	steward_audit_shmem_startup();
	steward_recorder_shmem_startup();
}

void
_PG_init(void)
{
	DefineCustomIntVariable("pg_steward.lock_timeout",
							"lock_timeout applied to every statement of a migration.",
							"A migration statement that waits longer than this for a lock "
							"fails with a lock timeout and the migration is retried. "
							"It cannot be disabled.",
							&steward_lock_timeout_ms,
							2000, 1, 24 * 60 * 60 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.statement_timeout",
							"Time limit for every statement of a migration.",
							"0 disables the limit.",
							&steward_statement_timeout_ms,
							15 * 60 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.lock_retries",
							"How often a migration is retried after a lock timeout.",
							NULL,
							&steward_lock_retries,
							5, 0, 100,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.lock_retry_delay",
							"Backoff before the first retry after a lock timeout.",
							"The delay doubles with every retry, up to "
							"pg_steward.lock_retry_max_delay, and is jittered.",
							&steward_lock_retry_delay_ms,
							500, 1, 60 * 60 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.lock_retry_max_delay",
							"Upper bound of the backoff between lock-timeout retries.",
							NULL,
							&steward_lock_retry_max_delay_ms,
							10000, 1, 60 * 60 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.max_jobs",
							"How many background jobs run at once, in all databases.",
							"Each running job uses one background worker (max_worker_processes).",
							&steward_max_jobs,
							2, 0, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_steward.copy_replayer",
							 "Whether copy_table replays its change log in a second process.",
							 "The replayer, a background worker, replays while the job worker "
							 "copies and verifies; off, the job worker does both in turn.",
							 &steward_copy_replayer,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.batch_statement_timeout",
							"Default time limit of one batch of a background job.",
							"A batch that runs longer is cancelled and retried at half the size. 0 disables.",
							&steward_batch_statement_timeout_ms,
							60 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.max_replication_lag",
							"Default replication lag above which background jobs hold.",
							"Jobs pause between batches while a streaming standby lags more. 0 disables.",
							&steward_max_replication_lag_ms,
							30 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.max_replication_lag_bytes",
							"Replay distance of a standby above which background jobs hold.",
							"Catches a standby whose replay stalled, which shows no growing lag time. 0 disables.",
							&steward_max_replication_lag_kb,
							1024 * 1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.concurrent_lock_timeout",
							"lock_timeout of the statements a migration hands to a job.",
							"CREATE INDEX CONCURRENTLY and its kin wait for every older transaction; "
							"those waits block no reader or writer, so they get a longer limit.",
							&steward_concurrent_lock_timeout_ms,
							30 * 60 * 1000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.audit_seal_interval",
							"How often the sealer seals new audit events into a block.",
							"Bounds how long a committed event stays unsealed. 0 stops the "
							"sealer's sealing (audit_seal() still seals).",
							&steward_audit_seal_interval_ms,
							1000, 0, 24 * 60 * 60 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.audit_block_max_events",
							"Most events a seal puts into one block.",
							"A larger backlog is sealed as several blocks, cut between transactions; "
							"the events of one transaction always share a block.",
							&steward_audit_block_max_events,
							1000000, 1, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_steward.large_table_threshold",
							"Table size from which a scan, rewrite or index build under a "
							"blocking lock is an error.",
							"migrate_lint grades such findings info on an empty table, warning "
							"below this size and error from it; while a migration runs, a "
							"rewrite of a table this large is refused unless allow_unsafe is set.",
							&steward_large_table_kb,
							100 * 1024, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	steward_guard_install();
	steward_register_job_kind(&steward_statements_kind);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("pg_steward");
#else
	EmitWarningsOnPlaceholders("pg_steward");
#endif

	if (!process_shared_preload_libraries_in_progress)
		return;

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = steward_shmem_request;
#else
	steward_launch_shmem_request();
	steward_jobs_shmem_request();
	steward_audit_shmem_request();
	steward_recorder_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = steward_shmem_startup;
	steward_register_launcher();
}
