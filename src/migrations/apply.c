/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  migrate_apply(version, up_sql, down_sql, description, out_of_order,
 *					lock_timeout, statement_timeout, lock_retries,
 *					allow_unsafe, pre_checks, post_checks, allow)
 *
 * Applies a versioned migration atomically.  Re-applying a completed
 * version with the same checksum does nothing and says so; a different
 * checksum is refused.  A failed, aborted or rolled-back version may be
 * applied again (its SQL may have been corrected).  Versions compare as
 * text in the "C" collation; a version older than the newest completed
 * one is refused unless out_of_order is true.
 *
 * Statements that refuse a transaction block (CREATE INDEX CONCURRENTLY
 * and kin) are run by a job after the transactional part has committed;
 * the migration is in_progress until the job ends.  If one of them fails,
 * applying the same SQL again resumes at that statement.
 *
 * Before it runs, the migration is linted (src/review): error findings
 * that neither a silence comment nor an acceptance in allow silences
 * refuse it unless allow_unsafe is true, and the findings and that decision
 * are recorded with the attempt.  While it runs, the runtime guards watch
 * indirect DDL and table rewrites.  pre_checks and post_checks are queries
 * that must return no row before the first and after the last statement.
 *
 * Returns 'applied', 'unchanged' or 'in_progress' (a job carries it on).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "migrations/migrations.h"
#include "review/review.h"

#define ARG_TEXT_OR_NULL(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))
#define ARG_INTERVAL_OR_NULL(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_INTERVAL_P(n))

PG_FUNCTION_INFO_V1(steward_migrate_apply);

/*
 * Lint the migration against the catalog as it is now and decide: error
 * findings (not silenced) refuse it unless allow_unsafe.  The lint runs in
 * a memory context of its own, gone before the statements run; what is
 * kept (the recorded review, the refusal's detail naming at most
 * REVIEW_SHOWN_FINDINGS findings) has a bounded size.
 */
static void
review_migration(StewardAttempt *a)
{
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext reviewcxt = AllocSetContextCreate(callercxt, "migration review",
													ALLOCSET_DEFAULT_SIZES);
	List	   *findings;
	List	   *accepted = NIL;
	int			errors;
	int			shown = 0;
	StringInfoData detail;
	ListCell   *lc;

	MemoryContextSwitchTo(reviewcxt);
	findings = steward_lint_sql(a->up_sql, a->allow);
	errors = steward_lint_count(findings, LINT_ERROR, true);
	initStringInfo(&detail);
	foreach(lc, findings)
	{
		LintFinding *f = (LintFinding *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (f->silenced && strcmp(f->rule->effect, "rewrite") == 0)
			accepted = lappend_int(accepted, f->statement);
		if (f->severity != LINT_ERROR || f->silenced || shown++ >= REVIEW_SHOWN_FINDINGS)
			continue;
		appendStringInfo(&detail, "%sstatement %d: %s%s%s: %s",
						 detail.len ? "\n" : "", f->statement, f->rule->id,
						 f->relation ? " on " : "", f->relation ? f->relation : "",
						 f->message);
	}
	if (errors > REVIEW_SHOWN_FINDINGS)
		appendStringInfo(&detail, "\n... and %d more; migrate_lint() lists them all",
						 errors - REVIEW_SHOWN_FINDINGS);

	MemoryContextSwitchTo(callercxt);
	a->review = steward_lint_review_json(findings, a->allow_unsafe, a->allow,
										 a->pre_checks, a->post_checks);
	a->accepted_rewrites = list_copy(accepted);
	a->refusal_detail = errors > 0 ? pstrdup(detail.data) : NULL;
	MemoryContextDelete(reviewcxt);
	if (errors == 0)
		return;

	if (a->allow_unsafe)
	{
		ereport(NOTICE,
				(errmsg("migration \"%s\": applying despite %d unsafe finding%s (allow_unsafe)",
						a->version, errors, errors == 1 ? "" : "s"),
				 errdetail("%s", a->refusal_detail)));
		a->refusal_detail = NULL;
		return;
	}
	a->refusal = psprintf("the review found %d unsafe finding%s", errors, errors == 1 ? "" : "s");
}

Datum
steward_migrate_apply(PG_FUNCTION_ARGS)
{
	StewardAttempt a = {0};
	StewardVersionState st;
	char	   *version;
	char	   *up_sql;
	bool		out_of_order;

	steward_refuse_nested();
	version = steward_check_version("version", ARG_TEXT_OR_NULL(0));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("up_sql must not be null")));
	up_sql = steward_optional_text(PG_GETARG_TEXT_PP(1), "up_sql", 0);
	a.down_sql = steward_optional_text(ARG_TEXT_OR_NULL(2), "down_sql", 0);
	a.description = steward_optional_text(ARG_TEXT_OR_NULL(3), "description",
										  STEWARD_MAX_DESCRIPTION_LEN);
	out_of_order = PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4);
	steward_resolve_timeouts(&a, ARG_INTERVAL_OR_NULL(5), ARG_INTERVAL_OR_NULL(6),
							 PG_ARGISNULL(7), PG_ARGISNULL(7) ? 0 : PG_GETARG_INT32(7));

	steward_require_read_write("apply a migration");
	steward_require_read_committed("migrate_apply");

	/*
	 * A baseline (recorded by migrate_baseline or migrate_import) stands for
	 * SQL another tool ran: it is unchanged whatever the SQL given now, which
	 * is therefore not even parsed.
	 */
	steward_migration_lock("apply a migration");
	steward_version_state(version, &st);
	if (st.exists && strcmp(st.kind, "baseline") == 0)
	{
		ereport(NOTICE,
				(errmsg("migration \"%s\" is a baseline; nothing to do", version)));
		PG_RETURN_TEXT_P(cstring_to_text("unchanged"));
	}

	/* then parse both scripts: bad SQL is refused before anything else */
	a.op = "apply";
	a.version = version;
	a.up_sql = up_sql;
	a.statements = steward_parse_migration(version, "up_sql", up_sql, true);
	if (a.down_sql)
		(void) steward_parse_migration(version, "down_sql", a.down_sql, false);
	a.checksum = steward_checksum(up_sql);
	a.allow_unsafe = PG_ARGISNULL(8) ? false : PG_GETARG_BOOL(8);
	a.pre_checks = steward_parse_checks(PG_ARGISNULL(9) ? NULL : PG_GETARG_ARRAYTYPE_P(9),
										"pre_checks");
	a.post_checks = steward_parse_checks(PG_ARGISNULL(10) ? NULL : PG_GETARG_ARRAYTYPE_P(10),
										 "post_checks");
	/* allow (0.4.0): acceptances of findings given with the migration */
	a.allow = steward_lint_parse_allow(PG_NARGS() > 11 && !PG_ARGISNULL(11)
									   ? PG_GETARG_ARRAYTYPE_P(11) : NULL);
	a.guarded = true;

	if (st.exists && strcmp(st.status, "completed") == 0)
	{
		if (st.checksum && strcmp(st.checksum, a.checksum) == 0)
		{
			ereport(NOTICE,
					(errmsg("migration \"%s\" is already applied with the same checksum; nothing to do",
							version)));
			PG_RETURN_TEXT_P(cstring_to_text("unchanged"));
		}
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("checksum mismatch for migration \"%s\"", version),
				 errdetail("Applied:  %s\nSupplied: %s", st.checksum ? st.checksum : "(none)", a.checksum),
				 errhint("An applied migration must not change. Put the change in a new version, "
						 "or accept the new SQL with migrate_repair('%s', reason => '...', up_sql => ...).",
						 version)));
	}
	if (st.exists && st.tx_part_applied)
	{
		if (st.checksum == NULL || strcmp(st.checksum, a.checksum) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the transactional part of migration \"%s\" is already applied", version),
					 errdetail("Its statement %d, run by a job after the transactional part, failed. Applied:  %s\nSupplied: %s",
							   st.error_statement, st.checksum ? st.checksum : "(none)", a.checksum),
					 errhint("Apply the same SQL again to resume at statement %d, or fix forward with a new version.",
							 st.error_statement)));
		steward_refuse_changed_here(version, &st);
		steward_resume_deferred(&a, st.error_statement);
		ereport(NOTICE,
				(errmsg("migration \"%s\": resuming at statement %d in job %lld once this transaction commits",
						version, st.error_statement, (long long) a.job_id),
				 errhint("CALL job_await(%lld) waits for it.", (long long) a.job_id)));
		PG_RETURN_TEXT_P(cstring_to_text("in_progress"));
	}
	if (st.exists && strcmp(st.status, "in_progress") == 0 && st.job_id > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is in progress in job %lld", version, (long long) st.job_id),
				 errhint("CALL job_await(%lld) waits for it.", (long long) st.job_id)));
	if (st.exists && strcmp(st.status, "in_progress") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is in progress in another transaction", version)));
	steward_refuse_changed_here(version, &st);

	if (st.newer_completed && !out_of_order)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is older than the newest applied migration \"%s\"",
						version, st.newer_completed),
				 errdetail("Versions are applied in ascending text order (collation \"C\")."),
				 errhint("If applying it after newer versions is intended, pass out_of_order => true.")));

	review_migration(&a);
	a.who = steward_capture_who();
	steward_run_attempt(&a);

	if (a.job_id > 0)
	{
		ereport(NOTICE,
				(errmsg("migration \"%s\": %d statement%s applied; the statements that refuse a transaction block run in job %lld once this transaction commits",
						version, a.applied, a.applied == 1 ? "" : "s", (long long) a.job_id),
				 errhint("CALL job_await(%lld) waits for it; migrate_status() shows the migration in_progress until then.",
						 (long long) a.job_id)));
		PG_RETURN_TEXT_P(cstring_to_text("in_progress"));
	}
	ereport(NOTICE,
			(errmsg("migration \"%s\" applied: %d statement%s%s",
					version, a.applied, a.applied == 1 ? "" : "s",
					a.retries > 0 ? psprintf(" after %d lock-timeout retr%s", a.retries,
											 a.retries == 1 ? "y" : "ies") : "")));
	PG_RETURN_TEXT_P(cstring_to_text("applied"));
}
