/*-------------------------------------------------------------------------
 *
 * sealer.c
 *	  The sealer: one background worker per database that uses the ledger,
 *	  sealing every pg_steward.audit_seal_interval (default 1s) and keeping
 *	  the next partitions of steward.audit_events created.
 *
 * Exists only when pg_steward is preloaded.  A sealer is requested from the
 * launcher (a STEWARD_LAUNCH_SEALER request, src/common/launch.c) by the
 * dispatcher at server start, by CREATE EXTENSION, and at
 * the commit of a transaction that appended, when none runs for its
 * database; a small registry in shared
 * memory (database, pid, time of the request) keeps it to one per database,
 * and a requested sealer that finds one already running, or finds no
 * ledger, exits quietly.  A sealer with nothing to seal for IDLE_CYCLES
 * cycles exits too, so that DROP DATABASE and CREATE DATABASE ... TEMPLATE
 * are not held up by it; the next append requests a new one.  A sealer
 * that fails is restarted by the postmaster after a few seconds.
 *
 * The sealer connects without a login role, as the dispatcher does, and
 * seals as the owner of schema steward (seal.c); it runs no user SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_steward.h"
#include "audit/audit.h"

#define MAX_SEALERS					64
#define SEALER_RESTART_SECS			5
#define PARTITION_CHECK_INTERVAL_MS	(10 * 60 * 1000)
#define REQUEST_RETRY_MS			10000
#define IDLE_CYCLES					3

/* dbid InvalidOid: free; pid 0: requested at requested_at, not started */
typedef struct SealerEntry
{
	Oid			dbid;
	int			pid;
	TimestampTz requested_at;
} SealerEntry;

typedef struct SealerRegistry
{
	slock_t		mutex;
	SealerEntry sealers[MAX_SEALERS];
} SealerRegistry;

int			steward_audit_seal_interval_ms = 1000;

static SealerRegistry *registry = NULL;

void
steward_audit_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(SealerRegistry)));
}

void
steward_audit_shmem_startup(void)
{
	registry = steward_shmem_init("pg_steward sealers", sizeof(SealerRegistry),
								  offsetof(SealerRegistry, mutex), NULL);
}

static SealerEntry *
find_entry(Oid dbid)
{
	for (int i = 0; i < MAX_SEALERS; i++)
		if (registry->sealers[i].dbid == dbid)
			return &registry->sealers[i];
	return NULL;
}

/* Is a sealer running for dbid, or requested recently?  (under the lock) */
static bool
sealer_wanted(Oid dbid, TimestampTz now)
{
	SealerEntry *e = find_entry(dbid);

	return e != NULL &&
		(e->pid != 0 || !TimestampDifferenceExceeds(e->requested_at, now, REQUEST_RETRY_MS));
}

/*
 * Ask the launcher for a sealer in this database, unless one runs or was
 * just requested.  Does nothing when pg_steward is not preloaded (then
 * audit_seal() seals).  Cheap enough for every appending transaction: an
 * unlocked look first, the lock only when a request may be needed.
 */
void
steward_audit_request_sealer(void)
{
	SealerEntry *e;
	TimestampTz now;
	bool		request = false;

	if (registry == NULL || steward_audit_seal_interval_ms == 0)
		return;
	e = find_entry(MyDatabaseId);
	if (e != NULL && e->pid != 0)
		return;

	now = GetCurrentTimestamp();
	SpinLockAcquire(&registry->mutex);
	if (!sealer_wanted(MyDatabaseId, now))
	{
		e = find_entry(MyDatabaseId);
		if (e == NULL)
			e = find_entry(InvalidOid);
		if (e != NULL)
		{
			e->dbid = MyDatabaseId;
			e->pid = 0;
			e->requested_at = now;
			request = true;
		}
	}
	SpinLockRelease(&registry->mutex);

	if (!request)
	{
		static bool warned = false;

		if (e == NULL && !warned)
		{
			warned = true;
			ereport(WARNING,
					(errmsg("pg_steward runs sealers in at most %d databases at once", MAX_SEALERS),
					 errhint("Seal the ledger of this database with audit_seal() from cron.")));
		}
		return;
	}
	steward_launch_request(STEWARD_LAUNCH_SEALER, MyDatabaseId, InvalidOid, 0);
}

PG_FUNCTION_INFO_V1(steward_audit_start_sealer);

/*
 * steward.audit_start_sealer() returns void: request a sealer once the
 * calling transaction commits (CREATE EXTENSION runs it).
 */
Datum
steward_audit_start_sealer(PG_FUNCTION_ARGS)
{
	if (registry != NULL)
		steward_launch_at_commit(STEWARD_LAUNCH_SEALER, InvalidOid, 0);
	PG_RETURN_VOID();
}

/* register this process as the database's sealer; false if one exists */
static bool
register_self(void)
{
	SealerEntry *e;
	bool		ok = true;

	SpinLockAcquire(&registry->mutex);
	e = find_entry(MyDatabaseId);
	if (e != NULL && e->pid != 0 && e->pid != MyProcPid)
		ok = false;
	else
	{
		if (e == NULL)
			e = find_entry(InvalidOid);
		if (e != NULL)
		{
			e->dbid = MyDatabaseId;
			e->pid = MyProcPid;
		}
	}
	SpinLockRelease(&registry->mutex);
	if (ok && e == NULL)
	{
		ereport(WARNING,
				(errmsg("pg_steward runs sealers in at most %d databases at once", MAX_SEALERS),
				 errhint("Seal the ledger of this database with audit_seal() from cron.")));
		return false;
	}
	return ok;
}

static void
unregister_self(int code, Datum arg)
{
	SpinLockAcquire(&registry->mutex);
	for (int i = 0; i < MAX_SEALERS; i++)
		if (registry->sealers[i].pid == MyProcPid)
		{
			registry->sealers[i].dbid = InvalidOid;
			registry->sealers[i].pid = 0;
		}
	SpinLockRelease(&registry->mutex);
}

/* Is the ledger installed in this database?  (inside a transaction) */
static bool
ledger_present(void)
{
	bool		present = false;
	int			rc;

	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute("SELECT pg_catalog.to_regclass('steward.audit_blocks') IS NOT NULL "
					 "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_extension "
					 "                WHERE extname OPERATOR(pg_catalog.=) 'pg_steward'::pg_catalog.name)",
					 true, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
		present = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0;
	SPI_finish();
	PopActiveSnapshot();
	return present;
}

static void
ensure_partitions(void)
{
	PushActiveSnapshot(GetTransactionSnapshot());
	steward_exec_as_owner("SELECT steward.audit_ensure_partitions()", 0, NULL);
	PopActiveSnapshot();
}

void
steward_sealer_main(Datum arg)
{
	StewardWorkerExtra extra;
	TimestampTz next_partition_check = 0;
	int			idle = 0;

	steward_bgworker_begin(&extra, sizeof(extra), true);
	steward_bgworker_connect(extra.dbid, InvalidOid, "pg_steward sealer");
	if (registry == NULL || !register_self())
		proc_exit(0);
	on_shmem_exit(unregister_self, (Datum) 0);
	/* a seal needs READ COMMITTED and writes, whatever the server defaults are */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Never hold up DDL (DROP EXTENSION, ALTER TABLE on the ledger): give up
	 * a lock wait after a second, and be the one a deadlock check picks, by
	 * checking first.  The postmaster restarts a sealer that failed.
	 */
	SetConfigOption("lock_timeout", "1s", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("deadlock_timeout", "10ms", PGC_SUSET, PGC_S_OVERRIDE);

	while (!ShutdownRequestPending)
	{
		int			wait_ms;
		TimestampTz started;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		wait_ms = steward_audit_seal_interval_ms > 0 ? steward_audit_seal_interval_ms : 10000;

		started = GetCurrentTimestamp();
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		if (!ledger_present())
		{
			CommitTransactionCommand();
			proc_exit(0);
		}
		pgstat_report_activity(STATE_RUNNING, "sealing the audit ledger");
		if (steward_audit_seal_interval_ms == 0)
			idle = IDLE_CYCLES;	/* sealing is off: do not stay connected */
		else if (steward_audit_seal_now(true) > 0)
			idle = 0;
		else if (!steward_audit_pending())
			idle++;
		if (GetCurrentTimestamp() >= next_partition_check)
		{
			ensure_partitions();
			next_partition_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   PARTITION_CHECK_INTERVAL_MS);
		}
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		if (idle >= IDLE_CYCLES)
			break;

		/*
		 * Seals start every interval, not an interval after the last one
		 * ended: an event that commits just after a seal's snapshot waits
		 * one interval and the next seal, whatever this seal took.
		 */
		wait_ms = Max(0, wait_ms - (int) Min((GetCurrentTimestamp() - started) / 1000,
											  (TimestampTz) wait_ms));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/* an event that committed while this sealer decided to stop */
	unregister_self(0, (Datum) 0);
	if (!ShutdownRequestPending)
	{
		bool		pending;

		StartTransactionCommand();
		pending = steward_audit_pending();
		CommitTransactionCommand();
		if (pending)
			steward_audit_request_sealer();
	}
	proc_exit(0);
}

/* the launcher starts a requested sealer (restarted by the postmaster) */
bool
steward_audit_start_sealer_worker(Oid dbid)
{
	BackgroundWorker worker;
	StewardWorkerExtra extra = {0};

	extra.dbid = dbid;
	steward_bgworker_init(&worker, "steward_sealer_main", "pg_steward sealer",
						  SEALER_RESTART_SECS, &extra, sizeof(extra));
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward sealer for database %u", dbid);
	return RegisterDynamicBackgroundWorker(&worker, NULL);
}
