/*-------------------------------------------------------------------------
 *
 * checks.c
 *	  The pre- and post-checks of migrate_apply.
 *
 * A check is one SELECT query that returns the offending rows: it holds
 * when it returns none.  Pre-checks run before the migration's first
 * statement, post-checks after its last, both inside the migration's
 * transaction; a failing check names its first rows and the migration
 * changes nothing.  Checks run with the caller's privileges, read-only (a
 * data-modifying WITH is refused), seeing what the migration did so far.
 *
 * Memory: a check's rows are read through a cursor; the first
 * CHECK_ROWS_SHOWN are shown (each value up to CHECK_VALUE_SHOWN_LEN
 * bytes), the rest up to CHECK_ROWS_COUNTED are counted and discarded, so
 * a check that returns many or wide rows costs no more than ten of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "pg_steward.h"
#include "review/review.h"

#define CHECK_ROWS_SHOWN 10
#define CHECK_ROWS_COUNTED 1000
#define CHECK_VALUE_SHOWN_LEN 200
#define CHECK_SHOWN_LEN 1000

/* A WITH of INSERT, UPDATE or DELETE: a check must only read. */
static bool
modifies_data(SelectStmt *stmt)
{
	ListCell   *lc;

	if (stmt->withClause == NULL)
		return false;
	foreach(lc, stmt->withClause->ctes)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (!IsA(cte->ctequery, SelectStmt) || modifies_data((SelectStmt *) cte->ctequery))
			return true;
	}
	return false;
}

/*
 * The checks of a text[] argument, each verified to be exactly one query.
 * Bad checks are refused before anything runs.
 */
List *
steward_parse_checks(ArrayType *checks, const char *argname)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (checks == NULL)
		return NIL;
	if (ARR_NDIM(checks) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname)));
	deconstruct_array(checks, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *sql;
		List	   *raw;
		Node	   *stmt;

		CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s[%d] must not be null", argname, i + 1)));
		sql = TextDatumGetCString(elems[i]);
		raw = steward_parse_sql_arg(sql, "a check given to migrate_apply");
		stmt = list_length(raw) == 1 ? linitial_node(RawStmt, raw)->stmt : NULL;
		if (stmt == NULL || !IsA(stmt, SelectStmt) ||
			((SelectStmt *) stmt)->intoClause != NULL || modifies_data((SelectStmt *) stmt))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s[%d] must be one SELECT query", argname, i + 1),
					 errdetail("A check returns the offending rows; it holds when it returns none."),
					 errhint("For example: SELECT id FROM bills WHERE patient_id IS NOT NULL")));
		result = lappend(result, sql);
	}
	return result;
}

static char *
row_text(HeapTuple tup, TupleDesc desc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int c = 1; c <= desc->natts; c++)
	{
		char	   *v;

		if (TupleDescAttr(desc, c - 1)->attisdropped)
			continue;
		v = SPI_getvalue(tup, desc, c);
		appendStringInfo(&buf, "%s%s=%s", c > 1 ? ", " : "",
						 NameStr(TupleDescAttr(desc, c - 1)->attname),
						 v ? steward_shown_text(v, -1, CHECK_VALUE_SHOWN_LEN) : "NULL");
		if (v)
			pfree(v);
	}
	return buf.data;
}

/* Run checks (inside the migration's SPI connection); raise on the first failing one. */
void
steward_run_checks(List *checks, const char *what)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, checks)
	{
		const char *sql = (const char *) lfirst(lc);
		StringInfoData rows;
		uint64		found;
		Portal		portal;

		CHECK_FOR_INTERRUPTS();
		n++;
		/* read-only, but seeing everything the migration did so far */
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true,
										   CURSOR_OPT_NO_SCROLL);
		SPI_cursor_fetch(portal, true, CHECK_ROWS_SHOWN);
		found = SPI_processed;
		initStringInfo(&rows);
		for (uint64 i = 0; i < found; i++)
			appendStringInfo(&rows, "\n  %s", row_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc));
		SPI_freetuptable(SPI_tuptable);
		if (found == CHECK_ROWS_SHOWN)
		{
			/* count the rest up to the limit without keeping them */
			SPI_cursor_move(portal, true, CHECK_ROWS_COUNTED + 1 - CHECK_ROWS_SHOWN);
			found += SPI_processed;
		}
		SPI_cursor_close(portal);
		PopActiveSnapshot();
		if (found == 0)
			continue;
		if (found > CHECK_ROWS_SHOWN)
			appendStringInfoString(&rows, "\n  ...");
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("%s %d found %s offending row%s", what, n,
						found > CHECK_ROWS_COUNTED ? psprintf("more than %d", CHECK_ROWS_COUNTED)
						: psprintf(UINT64_FORMAT, found),
						found == 1 ? "" : "s"),
				 errdetail("Check: %s\nFirst rows:%s",
						   steward_shown_text(sql, -1, CHECK_SHOWN_LEN), rows.data)));
	}
}
