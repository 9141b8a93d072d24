/*-------------------------------------------------------------------------
 *
 * status.c
 *	  The subcommands that read or undo one migration's record: "status"
 *	  (steward.migrate_status()), "history VERSION"
 *	  (steward.migrate_history()) and "rollback VERSION"
 *	  (steward.migrate_rollback()).
 *
 * client/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

static PGconn *
connect_checked(const ClientOptions *opts)
{
	PGconn	   *conn = client_connect(opts);
	ServerFeatures f;

	if (!server_features(conn, &f))
		exit(EXIT_SERVER);
	return conn;
}

int
cmd_status(const ClientOptions *opts)
{
	static const char *const headers[] = {"version", "kind", "status", "last_op",
	"finished_at", "job", "description"};
	PGconn	   *conn = connect_checked(opts);
	PGresult   *res;

	res = exec_params(conn,
					  "SELECT version, kind, status, last_op,"
					  " coalesce(pg_catalog.to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS'), ''),"
					  " coalesce(job_id::pg_catalog.text, ''), coalesce(description, '')"
					  " FROM steward.migrate_status() ORDER BY version", 0, NULL);
	if (!result_ok(res))
	{
		print_server_error("could not read steward.migrate_status()", res);
		return EXIT_SERVER;
	}
	print_table(res, headers, 7);
	PQclear(res);
	PQfinish(conn);
	return EXIT_OK;
}

int
cmd_history(const ClientOptions *opts, const char *version)
{
	static const char *const headers[] = {"id", "at", "event", "statements", "sqlstate",
	"message"};
	PGconn	   *conn = connect_checked(opts);
	const char *params[1] = {version};
	PGresult   *res;

	res = exec_params(conn,
					  "SELECT coalesce(id::pg_catalog.text, ''), pg_catalog.to_char(at, 'YYYY-MM-DD HH24:MI:SS'), event,"
					  " coalesce(statements_applied OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) statements_total, ''),"
					  " coalesce(error_sqlstate, ''), coalesce(error_message, reason, '')"
					  " FROM steward.migrate_history(version => $1)", 1, params);
	if (!result_ok(res))
	{
		print_server_error("could not read steward.migrate_history()", res);
		return EXIT_SERVER;
	}
	if (PQntuples(res) == 0)
	{
		fprintf(stderr, "%s: the database has no migration \"%s\"\n", progname, version);
		PQclear(res);
		PQfinish(conn);
		return EXIT_FINDINGS;
	}
	print_table(res, headers, 6);
	PQclear(res);
	PQfinish(conn);
	return EXIT_OK;
}

int
cmd_rollback(const ClientOptions *opts, const char *version)
{
	PGconn	   *conn = connect_checked(opts);
	const char *params[2] = {version, opts->out_of_order ? "true" : "false"};
	PGresult   *res;

	res = exec_params(conn,
					  "SELECT steward.migrate_rollback(version => $1, out_of_order => $2::boolean)",
					  2, params);
	if (!result_ok(res))
	{
		printf("%s: rollback failed: %s\n", version, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		print_server_error(psprintf("could not roll back \"%s\"", version), res);
		PQclear(res);
		PQfinish(conn);
		return EXIT_FINDINGS;
	}
	printf("%s: %s\n", version, PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return EXIT_OK;
}
