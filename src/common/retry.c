/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  Timeouts and backoff shared by migrations and jobs.
 *
 * The statement timer: PostgreSQL's statement_timeout is armed once per
 * top-level statement, so it cannot bound the statements pg_steward runs
 * itself (a migration's statements, a job's batches).  pg_steward arms its
 * own timeout (a USER_TIMEOUT) around each of them; when it fires, the
 * statement is cancelled like a query cancel, and the caller reports it as
 * a statement timeout (SQLSTATE 57014).
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
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_steward.h"

static TimeoutId stmt_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t stmt_timeout_fired = false;

static void
stmt_timeout_handler(void)
{
	stmt_timeout_fired = true;
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
}

/* Arm the statement timer (ms <= 0: no limit). */
void
steward_arm_statement_timer(int ms)
{
	stmt_timeout_fired = false;
	if (ms <= 0)
		return;
	if (stmt_timeout_id == MAX_TIMEOUTS)
		stmt_timeout_id = RegisterTimeout(USER_TIMEOUT, stmt_timeout_handler);
	enable_timeout_after(stmt_timeout_id, ms);
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
			steward_disarm_statement_timer();
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
		if (steward_statement_timer_fired() && (*edata_out)->sqlerrcode == ERRCODE_QUERY_CANCELED)
			(*edata_out)->message =
				psprintf("canceling statement due to the %s's statement_timeout (%d ms)",
						 owner, timeout_ms);
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
