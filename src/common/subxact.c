/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Running a step of a migration or a job in a subtransaction, under
 *	  pg_steward's own timeouts, with backoff between retries; shared by
 *	  migrations and jobs.
 *
 * The statement timer: PostgreSQL's statement_timeout is armed once per
 * top-level statement, so it cannot bound the statements pg_steward runs
 * itself (a migration's statements, a job's batches).  pg_steward arms its
 * own timeout (a USER_TIMEOUT) around each of them; when it fires, the
 * statement is cancelled like a query cancel, and the caller reports it as
 * a statement timeout (SQLSTATE 57014).  Past its time it fires again every
 * STEWARD_RECANCEL_MS until disarmed, so code that catches query_canceled
 * and goes on is cancelled again: no SET, set_config() or exception handler
 * inside the statement lifts or raises the limit.
 *
 * The lock watch: PostgreSQL's lock_timeout is a setting, and the code a
 * migration runs can change it (set_config(), a function's SET clause, a
 * DO block), which no source priority of the setting can prevent: SET is
 * the highest.  So while pg_steward runs SQL under a lock_timeout of its
 * own, it also watches the backend: every tenth of the lock_timeout
 * (STEWARD_LOCK_WATCH_MIN_MS to STEWARD_LOCK_WATCH_MAX_MS) a timer looks
 * whether the backend waits for a heavyweight lock (a table, a row, an
 * advisory lock, a transaction), and cancels a wait that has gone on for
 * the lock_timeout, whatever the setting says by then.  The cancel
 * is reported as a lock timeout (SQLSTATE 55P03), so the migration's
 * retries treat it as one.  A wait that the setting ends first (the normal
 * case) never meets the watch.
 *
 * Steps in a subtransaction: a migration's statements and a job's batch
 * both run in a subtransaction that is rolled back on error, handing the
 * error back; a cancel caused by the statement timer is reported as a
 * statement timeout of the migration or job.
 *
 * Backoff: after a lock timeout, retry number n waits a delay that starts
 * at pg_steward.lock_retry_delay and doubles per retry up to
 * pg_steward.lock_retry_max_delay; "equal jitter" picks a time between half
 * and all of that delay, so that retrying sessions spread out.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_steward.h"

/* A statement past its statement_timeout is cancelled again this often. */
#define STEWARD_RECANCEL_MS 100

/* The lock watch looks at the backend every lock_timeout / 10, within these. */
#define STEWARD_LOCK_WATCH_MIN_MS 10
#define STEWARD_LOCK_WATCH_MAX_MS 1000

static TimeoutId stmt_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t stmt_timeout_fired = false;

static TimeoutId lock_watch_id = MAX_TIMEOUTS;
static volatile sig_atomic_t lock_watch_fired = false;
static volatile sig_atomic_t lock_watch_on = false;
static int	lock_watch_ms = 0;		/* the lock_timeout watched */
static int	lock_watch_every = 0;	/* how often the watch looks, ms */
static TimestampTz watched_start = 0;	/* the wait seen last (its waitStart) */
static TimestampTz watched_since = 0;	/* when the watch first saw it */

/* Cancel the running statement, as a query cancel does (signal handler). */
static void
cancel_statement(void)
{
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
}

static void
stmt_timeout_handler(void)
{
	stmt_timeout_fired = true;
	cancel_statement();
}

/*
 * The lock watch's timer (a signal handler: it only reads this backend's
 * PGPROC and sets flags).  A wait is known by the start time PostgreSQL
 * records for it; it is timed from the moment the watch first saw it, so
 * a stale start time can never make a wait look older than it is.  It is
 * cancelled one look after the lock_timeout, so that where the setting
 * still holds, PostgreSQL's own lock timeout ends the wait first.
 */
static void
lock_watch_handler(void)
{
	TimestampTz now;
	TimestampTz start;

	if (!lock_watch_on || MyProc == NULL || MyProc->waitLock == NULL)
	{
		watched_since = 0;
		return;
	}
	now = GetCurrentTimestamp();
	start = (TimestampTz) pg_atomic_read_u64(&MyProc->waitStart);
	if (watched_since == 0 || start != watched_start)
	{
		watched_start = start;
		watched_since = now;
	}
	if (now - watched_since >= ((TimestampTz) lock_watch_ms + lock_watch_every) * 1000)
	{
		lock_watch_fired = true;
		watched_since = 0;
		cancel_statement();
	}
}

/*
 * Arm the statement timer (ms <= 0: no limit).  Past ms it cancels the
 * statement, and again every STEWARD_RECANCEL_MS until disarmed.
 */
void
steward_arm_statement_timer(int ms)
{
	stmt_timeout_fired = false;
	if (ms <= 0)
		return;
	if (stmt_timeout_id == MAX_TIMEOUTS)
		stmt_timeout_id = RegisterTimeout(USER_TIMEOUT, stmt_timeout_handler);
	enable_timeout_every(stmt_timeout_id,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms),
						 STEWARD_RECANCEL_MS);
}

void
steward_disarm_statement_timer(void)
{
	if (stmt_timeout_id != MAX_TIMEOUTS)
		disable_timeout(stmt_timeout_id, false);
}

/* Did the statement timer cancel the last statement? */
bool
steward_statement_timer_fired(void)
{
	return stmt_timeout_fired;
}

/*
 * Run what follows under a lock_timeout of ms that the SQL run cannot lift
 * or raise: set the setting in the current GUC nest level (the caller
 * unwinds it) and start the lock watch.  steward_end_lock_timeout() stops
 * the watch; an error caught by steward_run_subxact() stops it too.
 */
void
steward_begin_lock_timeout(int ms)
{
	(void) set_config_option("lock_timeout", psprintf("%d", ms),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	lock_watch_fired = false;
	watched_since = 0;
	lock_watch_ms = ms;
	lock_watch_on = ms > 0;
	if (ms <= 0)
		return;
	if (lock_watch_id == MAX_TIMEOUTS)
		lock_watch_id = RegisterTimeout(USER_TIMEOUT, lock_watch_handler);
	lock_watch_every = Min(Max(ms / 10, STEWARD_LOCK_WATCH_MIN_MS), STEWARD_LOCK_WATCH_MAX_MS);
	enable_timeout_every(lock_watch_id,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), lock_watch_every),
						 lock_watch_every);
}

void
steward_end_lock_timeout(void)
{
	lock_watch_on = false;
	if (lock_watch_id != MAX_TIMEOUTS)
		disable_timeout(lock_watch_id, false);
}

/* Did the lock watch cancel a wait since steward_begin_lock_timeout()? */
bool
steward_lock_watch_fired(void)
{
	return lock_watch_fired;
}

/*
 * After an error, with the timers stopped: a cancel by the statement timer
 * reads "canceling statement due to the <owner>'s statement_timeout", a
 * cancel by the lock watch is a lock timeout of the owner (SQLSTATE 55P03).
 * A timer that fired again while the error unwound is no new cancel.
 */
void
steward_explain_cancel(ErrorData *edata, const char *owner, int statement_timeout_ms)
{
	if (stmt_timeout_fired || lock_watch_fired)
		QueryCancelPending = false;
	if (edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
		return;
	if (stmt_timeout_fired)
		edata->message = psprintf("canceling statement due to the %s's statement_timeout (%d ms)",
								  owner, statement_timeout_ms);
	else if (lock_watch_fired)
	{
		edata->sqlerrcode = ERRCODE_LOCK_NOT_AVAILABLE;
		edata->message = psprintf("canceling statement due to the %s's lock_timeout (%d ms)",
								  owner, lock_watch_ms);
	}
}

/* The jittered backoff before retry number "retry" (1-based), in ms. */
int
steward_backoff_ms(int retry)
{
	int64		delay = steward_lock_retry_delay_ms;

	for (int i = 1; i < retry && delay < steward_lock_retry_max_delay_ms; i++)
		delay *= 2;
	delay = Min(delay, (int64) steward_lock_retry_max_delay_ms);
	return (int) (delay / 2 + (int64) (pg_prng_double(&pg_global_prng_state) * (delay - delay / 2)));
}

/*
 * Sleep for ms milliseconds, interruptibly.  With wake_on_latch, a set
 * latch ends the sleep early (someone wants the sleeper's attention);
 * returns true in that case.
 */
bool
steward_sleep_ms(int ms, bool wake_on_latch)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);
		if (left <= 0)
			return false;
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if ((rc & WL_LATCH_SET) && wake_on_latch)
			return true;
	}
}

/*
 * Run fn(arg) in a subtransaction.  On error the subtransaction is rolled
 * back and the error returned in *edata_out; a cancel by the statement
 * timer reads "canceling statement due to the <owner>'s statement_timeout".
 */
static bool
run_subxact(void (*fn) (void *arg), void *arg, const char *owner,
			int timeout_ms, ErrorData **edata_out, bool keep, bool lookup)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		fn(arg);
		if (keep)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ok = true;
	}
	PG_CATCH();
	{
		if (!lookup)
		{
			steward_disarm_statement_timer();
			steward_end_lock_timeout();
		}
		MemoryContextSwitchTo(oldcontext);
		*edata_out = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		/* a lookup must not swallow a cancel or a timeout meant for its caller */
		if (lookup && ((*edata_out)->sqlerrcode == ERRCODE_QUERY_CANCELED ||
					   (*edata_out)->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
					   (*edata_out)->sqlerrcode == ERRCODE_OUT_OF_MEMORY))
			ReThrowError(*edata_out);
		if (!lookup)
			steward_explain_cancel(*edata_out, owner, timeout_ms);
	}
	PG_END_TRY();
	return ok;
}

bool
steward_run_subxact(void (*fn) (void *arg), void *arg, const char *owner,
					int timeout_ms, ErrorData **edata_out)
{
	return run_subxact(fn, arg, owner, timeout_ms, edata_out, true, false);
}

/* The same, but the subtransaction is rolled back even when fn succeeds. */
bool
steward_run_subxact_rollback(void (*fn) (void *arg), void *arg, const char *owner,
							 int timeout_ms, ErrorData **edata_out)
{
	return run_subxact(fn, arg, owner, timeout_ms, edata_out, false, false);
}

/*
 * A catalog lookup that may fail (a name the migration has not created
 * yet): false on an error, which is swallowed, except a cancel, a lock
 * timeout or out of memory, which are re-thrown.  It leaves the caller's
 * statement timer alone.
 */
bool
steward_try_lookup(void (*fn) (void *arg), void *arg, const char *owner,
				   int timeout_ms, ErrorData **edata_out)
{
	return run_subxact(fn, arg, owner, timeout_ms, edata_out, true, true);
}
