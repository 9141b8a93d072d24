/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  Connecting with the usual libpq options and environment, running
 *	  queries with parameters, and finding out which features the server's
 *	  pg_steward has.
 *
 * client/conn.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include "common/string.h"

static bool show_notices = false;

/* the server's NOTICEs and WARNINGs: shown with --verbose only */
static void
notice_processor(void *arg, const char *message)
{
	(void) arg;
	if (show_notices)
		fprintf(stderr, "%s", message);
}

/*
 * Connect as psql does: -d may be a connection string or URI, PGHOST and
 * the other variables fill in the rest, the application name defaults to
 * "pg_steward", and a password is asked for when the server wants one
 * (unless -w).  Exits with EXIT_CONNECTION when it cannot connect.
 */
PGconn *
client_connect(const ClientOptions *opts)
{
	const char *keywords[9];
	const char *values[9];
	char	   *password = NULL;
	PGconn	   *conn;

	show_notices = opts->verbose;
	if (opts->prompt_password == 1)
		password = simple_prompt("Password: ", false);
	for (;;)
	{
		int			i = 0;

		keywords[i] = "host";
		values[i++] = opts->host;
		keywords[i] = "port";
		values[i++] = opts->port;
		keywords[i] = "user";
		values[i++] = opts->username;
		keywords[i] = "password";
		values[i++] = password;
		keywords[i] = "dbname";
		values[i++] = opts->dbname;
		keywords[i] = "fallback_application_name";
		values[i++] = "pg_steward";
		/* migration files are UTF-8 unless PGCLIENTENCODING says otherwise */
		keywords[i] = "client_encoding";
		values[i++] = getenv("PGCLIENTENCODING") ? NULL : "UTF8";
		keywords[i] = NULL;
		values[i] = NULL;

		conn = PQconnectdbParams(keywords, values, true);
		if (conn == NULL)
		{
			fprintf(stderr, "%s: could not connect: out of memory\n", progname);
			exit(EXIT_CONNECTION);
		}
		if (PQstatus(conn) == CONNECTION_BAD && PQconnectionNeedsPassword(conn) &&
			password == NULL && opts->prompt_password != -1)
		{
			PQfinish(conn);
			password = simple_prompt("Password: ", false);
			continue;
		}
		break;
	}
	if (PQstatus(conn) == CONNECTION_BAD)
	{
		fprintf(stderr, "%s: could not connect: %s", progname, PQerrorMessage(conn));
		PQfinish(conn);
		exit(EXIT_CONNECTION);
	}
	if (password)
		free(password);
	PQsetNoticeProcessor(conn, notice_processor, NULL);
	interrupt_set_conn(conn);
	return conn;
}

/* PQexecParams with text parameters and text results. */
PGresult *
exec_params(PGconn *conn, const char *sql, int nparams, const char *const *values)
{
	return PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
}

/*
 * Read text in UTF-8 whatever the client's locale: the ledger's bytes are
 * defined over UTF-8.  Prints why and returns false when it cannot.
 */
bool
client_utf8(PGconn *conn)
{
	if (PQsetClientEncoding(conn, "UTF8") == 0)
		return true;
	fprintf(stderr, "%s: could not set the client encoding to UTF8: %s", progname, PQerrorMessage(conn));
	return false;
}

bool
result_ok(const PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);

	return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

const char *
result_sqlstate(const PGresult *res)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return s ? s : "";
}

/*
 * Is pg_steward installed in this database, and which of the functions and
 * arguments newer than 0.3.0 does it have?  Prints why and returns false
 * when the extension is missing or the catalog cannot be read.
 */
bool
server_features(PGconn *conn, ServerFeatures *f)
{
	static const char *sql =
		"WITH p AS (SELECT p.proname, p.proargnames FROM pg_catalog.pg_proc p"
		" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace AND n.nspname OPERATOR(pg_catalog.=) 'steward')"
		" SELECT e.extversion,"
		" EXISTS (SELECT 1 FROM p WHERE proname OPERATOR(pg_catalog.=) 'version_from_name'),"
		" EXISTS (SELECT 1 FROM p WHERE proname OPERATOR(pg_catalog.=) 'migrate_apply' AND 'allow' OPERATOR(pg_catalog.=) ANY (proargnames)),"
		" EXISTS (SELECT 1 FROM p WHERE proname OPERATOR(pg_catalog.=) 'migrate_lint' AND 'allow' OPERATOR(pg_catalog.=) ANY (proargnames)),"
		" EXISTS (SELECT 1 FROM p WHERE proname OPERATOR(pg_catalog.=) 'migrate_lint' AND 'line' OPERATOR(pg_catalog.=) ANY (proargnames)),"
		" EXISTS (SELECT 1 FROM p WHERE proname OPERATOR(pg_catalog.=) 'audit_consistency')"
		" FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_steward'";
	PGresult   *res = exec_params(conn, sql, 0, NULL);

	memset(f, 0, sizeof(*f));
	if (!result_ok(res))
	{
		print_server_error("could not read the catalog", res);
		PQclear(res);
		return false;
	}
	if (PQntuples(res) != 1)
	{
		fprintf(stderr, "%s: the extension pg_steward is not installed in database \"%s\"\n",
				progname, PQdb(conn));
		fprintf(stderr, "HINT:  CREATE EXTENSION pg_steward (docs/operations.md).\n");
		PQclear(res);
		return false;
	}
	f->extversion = pg_strdup(PQgetvalue(res, 0, 0));
	f->version_from_name = PQgetvalue(res, 0, 1)[0] == 't';
	f->apply_allow = PQgetvalue(res, 0, 2)[0] == 't';
	f->lint_allow = PQgetvalue(res, 0, 3)[0] == 't';
	f->lint_line = PQgetvalue(res, 0, 4)[0] == 't';
	f->ledger_tree = PQgetvalue(res, 0, 5)[0] == 't';
	PQclear(res);
	return true;
}
