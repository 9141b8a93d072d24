/*-------------------------------------------------------------------------
 *
 * bgworker.c
 *	  What every pg_steward background worker does the same way: how it is
 *	  described to the postmaster, how it takes signals, how it connects.
 *
 * All of pg_steward's workers (the launcher, job workers, dispatchers,
 * sealers, the recorder) live in this library, attach to shared memory,
 * may connect to a database and start only once recovery has finished.
 * The one who starts a worker hands it its arguments in bgw_extra; the
 * worker copies them out first thing.
 *
 * Signals come in two kinds.  A worker that does one thing and exits (a
 * job worker, a dispatcher, the recorder) dies at SIGTERM, as a backend
 * does, from its next CHECK_FOR_INTERRUPTS.  A worker with a main loop
 * (the launcher, a sealer) gets flags instead: ShutdownRequestPending at
 * SIGTERM, ConfigReloadPending at SIGHUP, which its loop looks at.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

#include "pg_steward.h"

/*
 * Describe a worker that runs function of this library, shown as type, and
 * that the postmaster starts again restart_secs after it failed
 * (BGW_NEVER_RESTART: never).  Its arguments, extra_size bytes at extra
 * (or none), travel in bgw_extra.  bgw_name is type; the caller may make
 * it more precise, and sets bgw_main_arg and bgw_notify_pid if it needs
 * them.
 */
void
steward_bgworker_init(BackgroundWorker *worker, const char *function, const char *type,
					  int restart_secs, const void *extra, Size extra_size)
{
	Assert(extra_size <= BGW_EXTRALEN);

	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = restart_secs;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "pg_steward");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_name, BGW_MAXLEN, "%s", type);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
	if (extra_size > 0)
		memcpy(worker->bgw_extra, extra, extra_size);
}

/*
 * First thing in a worker's main function: copy its arguments (extra_size
 * bytes into extra, or none), install its signal handlers (has_loop: the
 * flags of a worker with a main loop, see above) and unblock signals.
 */
void
steward_bgworker_begin(void *extra, Size extra_size, bool has_loop)
{
	Assert(extra_size <= BGW_EXTRALEN);

	if (extra_size > 0)
		memcpy(extra, MyBgworkerEntry->bgw_extra, extra_size);
	if (has_loop)
	{
		pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
		pqsignal(SIGHUP, SignalHandlerForConfigReload);
	}
	else
		pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
}

/*
 * Connect to database dbid as role roleid (InvalidOid: as no login role,
 * as autovacuum does), shown in pg_stat_activity as application_name.
 */
void
steward_bgworker_connect(Oid dbid, Oid roleid, const char *application_name)
{
	BackgroundWorkerInitializeConnectionByOid(dbid, roleid, 0);
	SetConfigOption("application_name", application_name, PGC_USERSET, PGC_S_SESSION);

	/*
	 * A worker's session takes the settings of its database and role, which
	 * their owners choose; several workers connect as the bootstrap
	 * superuser.  search_path starts pinned to pg_catalog whatever ALTER
	 * DATABASE/ROLE ... SET says, so that no look-alike function or
	 * operator of theirs is found by a worker's own SQL; a job sets the
	 * search_path captured at its submission for the owner's fragments.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Every transaction of a worker is READ COMMITTED, whatever
	 * default_transaction_isolation the configuration, the database or the
	 * role sets: a job's replay and final step see the writes committed
	 * before each of their statements (a copy's log entries, the rows they
	 * name), and a sealer's seal the transactions completed when it starts.
	 * Under REPEATABLE READ a copy would miss the writes committed after its
	 * batch began, and its checks, made in the same old snapshot, would not
	 * see that.
	 */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
}
