/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Bookkeeping SQL run as the owner of schema "steward".
 *
 * Callers of the public functions get no privileges on the steward tables.
 * pg_steward's C code reads and writes them by calling the internal
 * functions of schema steward as the schema's owner (SECURITY_LOCAL_USERID_
 * CHANGE, as PostgreSQL's own RI triggers do) with search_path pinned to
 * pg_catalog, so a caller's search_path can never redirect those calls.
 * Only fixed SQL written in this extension runs this way; every value
 * travels as a text parameter, never pasted into the SQL.
 *
 * A transaction or subtransaction abort restores the user id and the GUC
 * nest level, so no PG_TRY is needed here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "pg_steward.h"

#define STEWARD_MAX_ARGS 32

/*
 * The role owning schema "steward" (normally the extension's owner).
 */
Oid
steward_owner(void)
{
	Oid			nspid = get_namespace_oid(STEWARD_SCHEMA, true);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%s\" does not exist", STEWARD_SCHEMA),
				 errhint("Install the extension with CREATE EXTENSION pg_steward.")));

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);

	return owner;
}

/*
 * Enter a scope that runs as the steward owner (as_owner) or as the current
 * user, with search_path pinned to pg_catalog; leave it with
 * steward_owner_scope_end.  An error in between needs no cleanup: the
 * (sub)transaction abort restores the user id and the GUC nest level.
 */
void
steward_owner_scope_begin(StewardOwnerScope *scope, bool as_owner)
{
	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	if (as_owner)
		SetUserIdAndSecContext(steward_owner(),
							   scope->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	scope->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
steward_owner_scope_end(StewardOwnerScope *scope)
{
	AtEOXact_GUC(true, scope->save_nestlevel);
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}

/*
 * The text parameters $1..$n of a bookkeeping statement (NULL pointers are
 * SQL NULLs).
 */
static void
text_params(int nargs, const char *const *args, Oid *argtypes, Datum *values,
			char *nulls)
{
	if (nargs > STEWARD_MAX_ARGS)
		elog(ERROR, "too many bookkeeping arguments: %d", nargs);
	for (int i = 0; i < nargs; i++)
	{
		argtypes[i] = TEXTOID;
		values[i] = args[i] ? CStringGetTextDatum(args[i]) : (Datum) 0;
		nulls[i] = args[i] ? ' ' : 'n';
	}
}

/*
 * Run one SQL statement (as the steward owner when as_owner is set, else
 * as the current user) with search_path pinned and text parameters ($1..$n,
 * NULL pointers are SQL NULLs).  Returns the first row's columns as
 * palloc'd strings in the caller's memory context (NULL for SQL NULL), or
 * NULL when the statement returned no row.
 */
static char **
exec_pinned(bool as_owner, const char *sql, int nargs,
			const char *const *args, int *ncols_out)
{
	MemoryContext callercxt = CurrentMemoryContext;
	StewardOwnerScope scope;
	Oid			argtypes[STEWARD_MAX_ARGS];
	Datum		values[STEWARD_MAX_ARGS];
	char		nulls[STEWARD_MAX_ARGS];
	char	  **row = NULL;
	int			rc;

	text_params(nargs, args, argtypes, values, nulls);

	steward_owner_scope_begin(&scope, as_owner);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "bookkeeping query failed: %s", SPI_result_code_string(rc));

	if (SPI_processed > 0 && SPI_tuptable != NULL)
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int			ncols = desc->natts;

		row = MemoryContextAllocZero(callercxt, sizeof(char *) * Max(ncols, 1));
		for (int i = 0; i < ncols; i++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], desc, i + 1);

			row[i] = v ? MemoryContextStrdup(callercxt, v) : NULL;
		}
		if (ncols_out)
			*ncols_out = ncols;
	}

	SPI_finish();
	steward_owner_scope_end(&scope);

	return row;
}

void
steward_exec_as_owner(const char *sql, int nargs, const char *const *args)
{
	(void) exec_pinned(true, sql, nargs, args, NULL);
}

/*
 * First row of a query as an array of strings (NULL: no row).
 */
char	  **
steward_query_row_as_owner(const char *sql, int nargs,
						   const char *const *args, int *ncols)
{
	return exec_pinned(true, sql, nargs, args, ncols);
}

/*
 * First column of the first row; *isnull is set when there is no row or
 * the value is NULL.
 */
char *
steward_query_text_as_owner(const char *sql, int nargs,
							const char *const *args, bool *isnull)
{
	char	  **row = exec_pinned(true, sql, nargs, args, NULL);

	*isnull = (row == NULL || row[0] == NULL);
	return *isnull ? NULL : row[0];
}

/*
 * The same as the current user (its own privileges), with search_path
 * pinned: for SQL pg_steward generates around a caller's fragments.
 */
char *
steward_query_text_as_caller(const char *sql, int nargs,
							 const char *const *args, bool *isnull)
{
	char	  **row = exec_pinned(false, sql, nargs, args, NULL);

	*isnull = (row == NULL || row[0] == NULL);
	return *isnull ? NULL : row[0];
}

/*
 * Every row of a query run as the steward owner, returned as the result of
 * the set-returning function being called (materialize mode).  The query's
 * columns must have the types of the function's result columns.
 */
void
steward_return_query_as_owner(FunctionCallInfo fcinfo, const char *sql,
							  int nargs, const char *const *args)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StewardOwnerScope scope;
	Oid			argtypes[STEWARD_MAX_ARGS];
	Datum		values[STEWARD_MAX_ARGS];
	char		nulls[STEWARD_MAX_ARGS];
	int			rc;

	text_params(nargs, args, argtypes, values, nulls);
	InitMaterializedSRF(fcinfo, 0);
	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "bookkeeping query failed: %s", SPI_result_code_string(rc));
	if (SPI_tuptable != NULL)
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int			ncols = rsinfo->setDesc->natts;
		Datum	   *rowvals = palloc(sizeof(Datum) * ncols);
		bool	   *rownulls = palloc(sizeof(bool) * ncols);

		if (desc->natts != ncols)
			elog(ERROR, "bookkeeping query returned %d columns, expected %d",
				 desc->natts, ncols);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			CHECK_FOR_INTERRUPTS();
			for (int c = 0; c < ncols; c++)
				rowvals[c] = SPI_getbinval(SPI_tuptable->vals[r], desc, c + 1, &rownulls[c]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, rowvals, rownulls);
		}
	}
	SPI_finish();
	steward_owner_scope_end(&scope);
}

/*
 * Who is calling, as a JSON object (session_user, current_user,
 * application_name, client_addr, backend_pid).  Captured in the calling
 * backend, because the recorder worker has its own of all of these.
 */
char *
steward_capture_who(void)
{
	char	  **row;

	row = exec_pinned(false,
					  "SELECT pg_catalog.jsonb_build_object("
					  "'session_user', session_user, "
					  "'current_user', current_user, "
					  "'application_name', pg_catalog.current_setting('application_name'), "
					  "'client_addr', pg_catalog.inet_client_addr(), "
					  "'backend_pid', pg_catalog.pg_backend_pid())::text",
					  0, NULL, NULL);
	if (row == NULL || row[0] == NULL)
		elog(ERROR, "could not capture the calling session");
	return row[0];
}

