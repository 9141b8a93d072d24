/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: one static background worker per server.
 *
 * It starts when pg_steward is in shared_preload_libraries, once recovery
 * has finished (so on a standby it waits, and starts its work after
 * promotion).  It connects to no database.  At start it runs a dispatcher
 * in every database that accepts connections, so interrupted jobs resume;
 * then it turns requests into job workers, never more than
 * pg_steward.max_jobs at once, and watches them: a worker that died
 * without finishing its run gets its job requested again, at most
 * MAX_UNCLEAN_EXITS times in a row per job.  The requests are typed
 * (src/common/launch.c): a job worker, or the audit sealer of a database
 * (src/audit/sealer.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "pg_steward.h"
#include "jobs/jobs.h"
#include "audit/audit.h"

#define LAUNCHER_NAPTIME_MS 5000
#define MAX_UNCLEAN_EXITS	3
#define LAUNCHER_RESTART_SECS 10

typedef struct LauncherSlot
{
	BackgroundWorkerHandle *handle;
	int64		job_id;
	Oid			dbid;
	bool		again;			/* requested again while it ran */
} LauncherSlot;

typedef struct UncleanCount
{
	Oid			dbid;
	int64		job_id;
	int			count;
} UncleanCount;

static LauncherSlot *lslots;
static List *pending_dispatch = NIL;	/* database OIDs */
static List *unclean = NIL;

void
steward_register_launcher(void)
{
	BackgroundWorker worker;

	steward_bgworker_init(&worker, "steward_launcher_main", "pg_steward launcher",
						  LAUNCHER_RESTART_SECS, NULL, 0);
	RegisterBackgroundWorker(&worker);
}

static bool
start_worker(const char *function, const char *type, StewardWorkerExtra *extra,
			 BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	steward_bgworker_init(&worker, function, type, BGW_NEVER_RESTART, extra, sizeof(*extra));
	if (extra->job_id > 0)
		snprintf(worker.bgw_name, BGW_MAXLEN, "%s for job %lld", type, (long long) extra->job_id);
	else
		snprintf(worker.bgw_name, BGW_MAXLEN, "%s for database %u", type, extra->dbid);
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

/*
 * Start a job worker for a job of this database, notifying this backend
 * (CALL job_run for jobs that need a process of their own; slot -1).
 */
bool
steward_job_start_worker(Oid roleid, int64 job_id, int slot, BackgroundWorkerHandle **handle)
{
	StewardWorkerExtra extra;

	extra.dbid = MyDatabaseId;
	extra.roleid = roleid;
	extra.job_id = job_id;
	extra.slot = slot;
	extra.login_refused = false;
	return start_worker("steward_job_worker_main", "pg_steward job", &extra, handle);
}

/* Every database that accepts connections. */
static List *
database_list(void)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext oldcxt = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext txcxt = MemoryContextSwitchTo(oldcxt);

		if (db->datallowconn && !db->datistemplate)
			dbs = lappend_oid(dbs, db->oid);
		MemoryContextSwitchTo(txcxt);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	return dbs;
}

static UncleanCount *
unclean_entry(Oid dbid, int64 job_id)
{
	ListCell   *lc;
	UncleanCount *u;
	MemoryContext old;

	foreach(lc, unclean)
	{
		u = (UncleanCount *) lfirst(lc);
		if (u->dbid == dbid && u->job_id == job_id)
			return u;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	u = palloc0(sizeof(UncleanCount));
	u->dbid = dbid;
	u->job_id = job_id;
	unclean = lappend(unclean, u);
	MemoryContextSwitchTo(old);
	return u;
}

/* Free the slots of workers that have stopped. */
static void
reap_workers(void)
{
	int			nslots = steward_jobs_nslots();

	for (int i = 0; i < nslots; i++)
	{
		pid_t		pid;
		Oid			dbid;
		Oid			roleid;
		int64		job_id;
		int			wpid;
		bool		clean;
		bool		rerun;

		if (lslots[i].handle == NULL)
			continue;
		if (GetBackgroundWorkerPid(lslots[i].handle, &pid) != BGWH_STOPPED)
			continue;

		steward_jobs_get_slot(i, &dbid, &roleid, &job_id, &wpid, &clean);
		pfree(lslots[i].handle);
		lslots[i].handle = NULL;
		steward_jobs_release_slot(i);

		/*
		 * A request that came while this worker ran (a job resumed, or a job
		 * whose id a worker for an earlier job of that id still held after
		 * DROP and CREATE EXTENSION) may not have been seen by it: run the
		 * job again, and the new worker reads its state afresh.
		 */
		rerun = lslots[i].again;
		lslots[i].again = false;
		if (clean)
			unclean_entry(dbid, job_id)->count = 0;
		else if (++unclean_entry(dbid, job_id)->count <= MAX_UNCLEAN_EXITS)
			rerun = true;
		else
			ereport(WARNING,
					(errmsg("pg_steward job %lld in database %u stopped unexpectedly %d times; not starting it again",
							(long long) job_id, dbid, MAX_UNCLEAN_EXITS),
					 errhint("See the server log; resume it with job_run() or after a restart.")));
		if (rerun)
			steward_launch_request(STEWARD_LAUNCH_JOB, dbid, roleid, job_id);
	}
}

/* Can roleid no longer connect to dbid?  (steward_login_refusal) */
static bool
login_refused(Oid dbid, Oid roleid, int64 job_id)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	bool		refused;

	StartTransactionCommand();
	refused = steward_login_refusal(dbid, roleid, job_id) != NULL;
	CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	return refused;
}

static void
start_dispatchers(void)
{
	while (pending_dispatch != NIL)
	{
		StewardWorkerExtra extra = {0};
		BackgroundWorkerHandle *handle;

		extra.dbid = linitial_oid(pending_dispatch);
		if (!start_worker("steward_dispatcher_main", "pg_steward dispatcher", &extra, &handle))
			return;				/* no free worker slot: try again later */
		pending_dispatch = list_delete_first(pending_dispatch);
	}
}

static void
start_job_workers(void)
{
	StewardLaunchKind kind;
	Oid			dbid;
	Oid			roleid;
	int64		job_id;

	while (steward_launch_next(&kind, &dbid, &roleid, &job_id))
	{
		StewardWorkerExtra extra;
		int			slot;

		if (kind == STEWARD_LAUNCH_SEALER)
		{
			if (!steward_audit_start_sealer_worker(dbid))
			{
				steward_launch_requeue(kind, dbid, roleid, job_id);
				return;			/* max_worker_processes reached */
			}
			continue;
		}
		slot = steward_jobs_reserve_slot(dbid, roleid, job_id);

		if (slot == -2)
		{
			/* already running: start it again once that worker is done */
			for (int i = 0; i < steward_jobs_nslots(); i++)
				if (lslots[i].handle != NULL && lslots[i].dbid == dbid &&
					lslots[i].job_id == job_id)
					lslots[i].again = true;
			continue;
		}
		if (slot < 0)
		{
			steward_launch_requeue(kind, dbid, roleid, job_id);
			return;				/* pg_steward.max_jobs reached */
		}
		extra.dbid = dbid;
		extra.roleid = roleid;
		extra.job_id = job_id;
		extra.slot = slot;
		extra.login_refused = login_refused(dbid, roleid, job_id);
		if (!start_worker("steward_job_worker_main", "pg_steward job", &extra, &lslots[slot].handle))
		{
			lslots[slot].handle = NULL;
			steward_jobs_release_slot(slot);
			steward_launch_requeue(kind, dbid, roleid, job_id);
			return;				/* max_worker_processes reached */
		}
		lslots[slot].job_id = job_id;
		lslots[slot].dbid = dbid;
		lslots[slot].again = false;
	}
}

void
steward_launcher_main(Datum arg)
{
	int			nslots;

	steward_bgworker_begin(NULL, 0, true);
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	nslots = steward_jobs_nslots();
	lslots = MemoryContextAllocZero(TopMemoryContext, sizeof(LauncherSlot) * Max(nslots, 1));

	/* a restarted launcher lost its handles: request those jobs again */
	for (int i = 0; i < nslots; i++)
	{
		Oid			dbid;
		Oid			roleid;
		int64		job_id;
		int			pid;
		bool		clean;

		if (steward_jobs_get_slot(i, &dbid, &roleid, &job_id, &pid, &clean))
		{
			steward_jobs_release_slot(i);
			if (!clean)
				steward_launch_request(STEWARD_LAUNCH_JOB, dbid, roleid, job_id);
		}
	}
	steward_launch_set_launcher();

	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		pending_dispatch = database_list();
		MemoryContextSwitchTo(old);
	}

	while (!ShutdownRequestPending)
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		reap_workers();
		start_dispatchers();
		start_job_workers();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAPTIME_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}
