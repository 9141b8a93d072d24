/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  The audit ledger checks a cron job runs: "digest" writes the head of
 *	  the ledger (steward.audit_digest()) to a file kept outside the
 *	  database, and "verify" checks the ledger
 *	  (steward.verify_audit_chain()) against such a file, its trusted
 *	  input; with --state only what was sealed since the last valid run.
 *
 * client/ledger.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <unistd.h>

/* the file's content without trailing white space; NULL: unreadable */
static char *
read_trimmed(const char *path)
{
	char	   *text = file_read(path, NULL);
	size_t		len;

	if (text == NULL)
		return NULL;
	len = strlen(text);
	while (len > 0 && isspace((unsigned char) text[len - 1]))
		text[--len] = '\0';
	return text;
}

int
cmd_verify(const ClientOptions *opts)
{
	const char *params[2] = {NULL, NULL};
	PGconn	   *conn;
	ServerFeatures f;
	PGresult   *res;
	int			rc;

	if (opts->digest_file && (params[0] = read_trimmed(opts->digest_file)) == NULL)
	{
		fprintf(stderr, "%s: could not verify: the digest file cannot be read\n", progname);
		return EXIT_SERVER;
	}
	if (opts->state_file && access(opts->state_file, F_OK) == 0)
	{
		char	   *since = read_trimmed(opts->state_file);

		if (since == NULL)
			return EXIT_SERVER;
		params[1] = *since ? since : NULL;
	}
	conn = client_connect(opts);
	if (!server_features(conn, &f))
		return EXIT_SERVER;
	res = exec_params(conn,
					  "SELECT is_valid, events_checked, blocks_checked, events_unsealed,"
					  " coalesce(problem, ''), head_digest::pg_catalog.text"
					  " FROM steward.verify_audit_chain(trusted_digest => $1::pg_catalog.jsonb, since => $2::pg_catalog.jsonb)",
					  2, params);
	if (!result_ok(res) || PQntuples(res) != 1)
	{
		print_server_error("could not verify the audit ledger", res);
		PQclear(res);
		PQfinish(conn);
		return EXIT_SERVER;
	}
	if (PQgetvalue(res, 0, 0)[0] == 't')
	{
		printf("the audit ledger of %s is valid: %s events in %s blocks checked%s, %s not sealed yet\n",
			   PQdb(conn), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
			   params[1] ? " since the state file's digest" : "", PQgetvalue(res, 0, 3));
		rc = EXIT_OK;
		if (opts->state_file && !file_write_atomic(opts->state_file, PQgetvalue(res, 0, 5)))
			rc = EXIT_SERVER;
	}
	else
	{
		printf("the audit ledger of %s is NOT valid: %s\n", PQdb(conn), PQgetvalue(res, 0, 4));
		rc = EXIT_FINDINGS;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int
cmd_digest(const ClientOptions *opts)
{
	PGconn	   *conn = client_connect(opts);
	ServerFeatures f;
	PGresult   *res;
	int			rc = EXIT_OK;

	if (!server_features(conn, &f))
		return EXIT_SERVER;
	res = exec_params(conn, "SELECT steward.audit_digest()::pg_catalog.text", 0, NULL);
	if (!result_ok(res) || PQntuples(res) != 1)
	{
		print_server_error("could not read the digest of the audit ledger", res);
		PQclear(res);
		PQfinish(conn);
		return EXIT_SERVER;
	}
	if (opts->out_file)
	{
		if (file_write_atomic(opts->out_file, PQgetvalue(res, 0, 0)))
			printf("%s\n", opts->out_file);
		else
			rc = EXIT_SERVER;
	}
	else
		printf("%s\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return rc;
}
