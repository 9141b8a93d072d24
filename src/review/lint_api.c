/*-------------------------------------------------------------------------
 *
 * lint_api.c
 *	  migrate_lint(sql, allow) and migrate_lint_rules(): the lint as SQL
 *	  functions.
 *
 * migrate_lint only reads the catalog (and takes ACCESS SHARE locks it
 * does not wait for, to measure tables); it runs none of the SQL.
 *
 * Memory: a row shows its statement's text up to LINT_SHOWN_STATEMENT_LEN
 * bytes, so however many findings a long statement has, the rows take
 * space in proportion to their number, not to the statement's length
 * times their number.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "pg_steward.h"
#include "review/review.h"

/* statement_text of a finding row, in bytes (the rest is "...") */
#define LINT_SHOWN_STATEMENT_LEN 1000

PG_FUNCTION_INFO_V1(steward_migrate_lint);
PG_FUNCTION_INFO_V1(steward_migrate_lint_rules);

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s == NULL;
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

Datum
steward_migrate_lint(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql;
	List	   *allow;
	List	   *findings;
	MemoryContext rowcxt;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sql must not be null")));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	allow = steward_lint_parse_allow(PG_NARGS() > 1 && !PG_ARGISNULL(1)
									 ? PG_GETARG_ARRAYTYPE_P(1) : NULL);

	InitMaterializedSRF(fcinfo, 0);
	findings = steward_lint_sql(sql, allow);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_lint row",
								   ALLOCSET_SMALL_SIZES);
	foreach(lc, findings)
	{
		LintFinding *f = (LintFinding *) lfirst(lc);
		Datum		values[12];
		bool		nulls[12] = {0};
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(rowcxt);
		values[0] = Int32GetDatum(f->statement);
		values[1] = CStringGetTextDatum(steward_shown_text(f->statement_text, -1,
														   LINT_SHOWN_STATEMENT_LEN));
		values[2] = CStringGetTextDatum(f->rule->id);
		values[3] = CStringGetTextDatum(steward_lint_severity_name(f->severity));
		values[4] = text_or_null(f->lockmode != NoLock
								 ? GetLockmodeName(DEFAULT_LOCKMETHOD, f->lockmode) : NULL,
								 &nulls[4]);
		values[5] = text_or_null(f->relation, &nulls[5]);
		values[6] = CStringGetTextDatum(f->rule->effect);
		values[7] = Int64GetDatum(f->table_size);
		nulls[7] = f->table_size < 0;
		values[8] = CStringGetTextDatum(f->message);
		values[9] = CStringGetTextDatum(f->instead);
		values[10] = text_or_null(f->silenced, &nulls[10]);
		/* a result row of the 0.3.0 definition has no line column */
		if (rsinfo->setDesc->natts > 11)
		{
			values[11] = Int32GetDatum(f->line);
			nulls[11] = f->line <= 0;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	return (Datum) 0;
}

static const char *
grading_name(LintGrading g)
{
	switch (g)
	{
		case GRADE_SIZE:
			return "by size";
		case GRADE_EMPTY:
			return "warning if empty";
		case GRADE_NONE:
			return "fixed";
	}
	return "?";
}

/* Every rule the lint knows, for docs and for choosing what to silence. */
Datum
steward_migrate_lint_rules(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < steward_lint_rule_count(); i++)
	{
		const LintRule *r = steward_lint_rule_at(i);
		Datum		values[6];
		bool		nulls[6] = {0};

		values[0] = CStringGetTextDatum(r->id);
		values[1] = CStringGetTextDatum(steward_lint_severity_name(r->severity));
		values[2] = CStringGetTextDatum(grading_name(r->grading));
		values[3] = CStringGetTextDatum(r->effect);
		values[4] = CStringGetTextDatum(r->why);
		values[5] = CStringGetTextDatum(r->instead);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
