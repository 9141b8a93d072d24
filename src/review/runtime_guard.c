/*-------------------------------------------------------------------------
 *
 * runtime_guard.c
 *	  The runtime guards: while migrate_apply (or migrate_plan) runs a
 *	  migration's statements, they see what no lint of the text can.
 *
 *	  - DDL that a statement issues indirectly (from a DO block, a function,
 *		a procedure or EXECUTE) reaches ProcessUtility with a query string
 *		other than the statement's own.  It is linted there, against the
 *		catalog as it is at that moment, and an error finding is refused
 *		unless the migration was applied with allow_unsafe.
 *	  - A table rewrite fires the table_rewrite event trigger
 *		steward_guard_table_rewrite; a rewrite of an existing table of
 *		pg_steward.large_table_threshold or more is refused unless
 *		allow_unsafe, or unless the lint predicted a rewrite for this
 *		statement and the DBA silenced that finding.  This also catches
 *		what the lint judged wrongly, such as a table that a statement of
 *		the same migration filled.
 *
 * In record-only mode (migrate_plan) nothing is refused; the findings are
 * collected for the plan instead: the first REVIEW_RECORDED_FINDINGS of
 * them, and the number of the others (a DO block can issue DDL without
 * end).
 *
 * The guard is armed for one migration at a time and disarmed at the end
 * of the attempt or of the transaction, whichever comes first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/partition.h"
#include "commands/event_trigger.h"
#include "fmgr.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pg_steward.h"
#include "review/review.h"

#define SHOWN_LEN 300

typedef struct GuardState
{
	bool		active;
	bool		allow_unsafe;
	bool		record_only;
	const char *text;			/* the statement the migration runs now */
	int			number;
	List	   *accepted;		/* statements whose rewrite was silenced */
	List	   *collected;		/* LintFinding, in TopTransactionContext */
	int			not_collected;	/* found beyond REVIEW_RECORDED_FINDINGS */
} GuardState;

static GuardState guard;
static StewardRewriteObserver rewrite_observer = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static bool installed = false;

PG_FUNCTION_INFO_V1(steward_guard_table_rewrite);

/* The statement's text as the guard shows it: from its first character on. */
static char *
shown(const char *text, int loc, int len)
{
	int			start = steward_statement_start(text, loc, len, &len);

	return steward_shown_text(text + start, len, SHOWN_LEN);
}

static void
collect(LintFinding *f)
{
	MemoryContext old;
	LintFinding *copy;

	if (list_length(guard.collected) >= REVIEW_RECORDED_FINDINGS)
	{
		guard.not_collected++;
		return;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	copy = palloc(sizeof(LintFinding));
	*copy = *f;
	copy->statement_text = pstrdup(f->statement_text);
	copy->relation = f->relation ? pstrdup(f->relation) : NULL;
	copy->message = pstrdup(f->message);
	copy->instead = pstrdup(f->instead);
	guard.collected = lappend(guard.collected, copy);
	MemoryContextSwitchTo(old);
}

/* A utility statement the migration's statement issued indirectly. */
static void
guard_nested(PlannedStmt *pstmt, const char *query)
{
	char	   *text = shown(query, pstmt->stmt_location, pstmt->stmt_len);
	List	   *findings;
	ListCell   *lc;

	findings = steward_lint_runtime(pstmt->utilityStmt, text, guard.number);
	foreach(lc, findings)
	{
		LintFinding *f = (LintFinding *) lfirst(lc);

		char	   *why = f->message;

		if (guard.record_only)
		{
			f->message = psprintf("issued from inside statement %d: %s", guard.number, why);
			collect(f);
			f->message = why;
		}
		if (f->severity != LINT_ERROR || guard.allow_unsafe || guard.record_only)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("unsafe statement issued from inside statement %d: %s%s%s",
						guard.number, f->rule->id,
						f->relation ? " on " : "", f->relation ? f->relation : ""),
				 errdetail("%s. The lint could not see it: it was issued by a DO block, a function or dynamic SQL: %s",
						   f->message, text),
				 errhint("Instead: %s. To run it anyway, pass allow_unsafe => true.", f->instead)));
	}
}

static void
steward_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	if (guard.active && queryString != guard.text)
		guard_nested(pstmt, queryString);

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

static void
guard_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
		memset(&guard, 0, sizeof(guard));
}

void
steward_guard_install(void)
{
	if (installed)
		return;
	installed = true;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = steward_ProcessUtility;
	RegisterXactCallback(guard_xact_callback, NULL);
}

/* Arm the guard for a migration's statements. */
void
steward_guard_begin(bool allow_unsafe, bool record_only, List *accepted)
{
	memset(&guard, 0, sizeof(guard));
	guard.allow_unsafe = allow_unsafe;
	guard.record_only = record_only;
	guard.accepted = accepted;
}

/* The statement about to run; it is what the lint saw. */
void
steward_guard_statement(const char *text, int number)
{
	guard.active = true;
	guard.text = text;
	guard.number = number;
}

void
steward_guard_end(void)
{
	guard.active = false;
	guard.text = NULL;
}

/*
 * Whoever wants to hear of every table rewrite while the guard is armed
 * (the dry run, src/migrations/dryrun.c, which lies above this area).
 */
void
steward_guard_observe_rewrites(StewardRewriteObserver observer)
{
	rewrite_observer = observer;
}

/*
 * What the guard found (record-only mode), valid until transaction end,
 * and how many findings beyond those it did not keep.
 */
List *
steward_guard_collected(int *not_collected)
{
	*not_collected = guard.not_collected;
	return guard.collected;
}

/*
 * The table_rewrite event trigger: refuse rewriting a large existing
 * table while a migration runs, unless allowed.
 */
Datum
steward_guard_table_rewrite(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int			reason;
	int64		size;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "steward_guard_table_rewrite: not fired by an event trigger");
	if (!guard.active)
		PG_RETURN_VOID();

	relid = DatumGetObjectId(OidFunctionCall0Coll(F_PG_EVENT_TRIGGER_TABLE_REWRITE_OID, InvalidOid));
	reason = DatumGetInt32(OidFunctionCall0Coll(F_PG_EVENT_TRIGGER_TABLE_REWRITE_REASON, InvalidOid));
	if (rewrite_observer)
		rewrite_observer(relid, reason);

	if (guard.allow_unsafe || guard.record_only || steward_relation_is_new(relid) ||
		list_member_int(guard.accepted, guard.number))
		PG_RETURN_VOID();

	/*
	 * A partitioned table is rewritten one partition at a time, all under
	 * the same statement's locks: judge the whole tree.
	 */
	if (get_rel_relispartition(relid))
		relid = llast_oid(get_partition_ancestors(relid));
	size = steward_relation_bytes(relid);
	if (size < (int64) steward_large_table_kb * 1024)
		PG_RETURN_VOID();

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("statement %d of the migration would rewrite table %s (%s)",
					guard.number,
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											   get_rel_name(relid)),
					text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
																	   Int64GetDatum(size))))),
			 errdetail("A rewrite holds ACCESS EXCLUSIVE on the table, blocking its readers and writers, until the migration commits. pg_steward.large_table_threshold is %d kB.",
					   steward_large_table_kb),
			 errhint("Change the table online instead (a new column filled by backfill(), or copy_table()); or, in a maintenance window, pass allow_unsafe => true.")));
	PG_RETURN_VOID();
}
