/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  The audit ledger checks a cron job runs: "digest" writes the head of
 *	  the ledger (steward.audit_digest()) to a file kept outside the
 *	  database, signed with --sign-key (sign.c), and "verify" checks the
 *	  ledger (steward.verify_audit_chain()) against such a file, its
 *	  trusted input; with --state only what was sealed since the last valid
 *	  run.  "proof" and "consistency" write the documents that check.c
 *	  checks without a server: the receipt of an event
 *	  (steward.audit_proof()) and the proof that a newer digest extends an
 *	  older one (steward.audit_consistency()).
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

/*
 * The text of the digest file path, without trailing white space; with a
 * public key only once its signature (path.sig) is valid for the bytes
 * read.  NULL: *rc says why (a message was printed).
 */
static char *
read_digest_file(const char *path, const char *public_key, int *rc)
{
	size_t		len;
	char	   *text = file_read_bytes(path, 0, &len);

	*rc = EXIT_SERVER;
	if (text == NULL)
		return NULL;
	if (strlen(text) != len)
	{
		fprintf(stderr, "%s: \"%s\" contains a NUL byte: not a digest\n", progname, path);
		return NULL;
	}
	if (public_key && (*rc = sign_check(path, text, len, public_key)) != EXIT_OK)
		return NULL;
	while (len > 0 && isspace((unsigned char) text[len - 1]))
		text[--len] = '\0';
	*rc = EXIT_OK;
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

	if (opts->public_key && opts->digest_file == NULL)
		fail_usage("--public-key checks the signature of the --digest file: give --digest too");
	if (opts->digest_file && (params[0] = read_digest_file(opts->digest_file, opts->public_key, &rc)) == NULL)
	{
		if (rc == EXIT_SERVER)
			fprintf(stderr, "%s: could not verify: the digest file cannot be read\n", progname);
		return rc;
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

/*
 * Run sql, which returns one JSON document of the ledger as text, and
 * print it (one line), or write it to --out (through a temporary file)
 * and print the file's name; with a signing key, sign the file's bytes
 * into FILE.sig.  Documents are read in UTF-8, as they are specified
 * (a payload's commitment is over its UTF-8 text).
 */
static int
write_document(const ClientOptions *opts, const char *what, bool needs_tree,
			   const char *sql, int nparams, const char *const *params)
{
	void	   *key = NULL;
	PGconn	   *conn;
	ServerFeatures f;
	PGresult   *res;
	int			rc = EXIT_OK;

	if (opts->sign_key && (key = sign_key_load(opts->sign_key)) == NULL)
		return EXIT_SERVER;
	conn = client_connect(opts);
	if (!server_features(conn, &f))
		return EXIT_SERVER;
	if (needs_tree && !f.ledger_tree)
	{
		fprintf(stderr, "%s: could not make the %s: pg_steward %s in database \"%s\" has no ledger tree"
				" (receipts and consistency proofs need 0.5.0)\n", progname, what, f.extversion, PQdb(conn));
		PQfinish(conn);
		return EXIT_SERVER;
	}
	if (!client_utf8(conn))
	{
		PQfinish(conn);
		return EXIT_SERVER;
	}
	res = exec_params(conn, sql, nparams, params);
	if (!result_ok(res) || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		PQExpBufferData msg;

		initPQExpBuffer(&msg);
		appendPQExpBuffer(&msg, "could not make the %s", what);
		print_server_error(msg.data, res);
		termPQExpBuffer(&msg);
		PQclear(res);
		PQfinish(conn);
		return EXIT_SERVER;
	}
	if (opts->out_file)
	{
		PQExpBufferData bytes;
		PQExpBufferData sigpath;

		initPQExpBuffer(&bytes);
		appendPQExpBuffer(&bytes, "%s\n", PQgetvalue(res, 0, 0));
		initPQExpBuffer(&sigpath);
		appendPQExpBuffer(&sigpath, "%s.sig", opts->out_file);
		if (!file_write_atomic_bytes(opts->out_file, bytes.data, bytes.len))
			rc = EXIT_SERVER;
		else if (key && !sign_write(key, bytes.data, bytes.len, sigpath.data))
			rc = EXIT_SERVER;
		else
		{
			printf("%s\n", opts->out_file);
			if (key)
				printf("%s\n", sigpath.data);
		}
		termPQExpBuffer(&bytes);
		termPQExpBuffer(&sigpath);
	}
	else
		printf("%s\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int
cmd_digest(const ClientOptions *opts)
{
	if (opts->sign_key && opts->out_file == NULL)
		fail_usage("--sign-key signs the digest file: give --out too");
	return write_document(opts, "digest of the audit ledger", false,
						  "SELECT steward.audit_digest()::pg_catalog.text", 0, NULL);
}

/* the text of an optional digest file; exits 4 when it cannot be read */
static const char *
digest_param(const char *path)
{
	char	   *text;

	if (path == NULL)
		return NULL;
	if ((text = read_trimmed(path)) == NULL)
		exit(EXIT_SERVER);
	return text;
}

int
cmd_proof(const ClientOptions *opts, const char *event_id)
{
	const char *params[3];
	size_t		len = strlen(event_id);

	if (len < 1 || len > 18 || strspn(event_id, "0123456789") != len)
		fail_usage("invalid event id \"%s\": the id of an audit event (digits)", event_id);
	params[0] = event_id;
	params[1] = digest_param(opts->digest_file);
	params[2] = opts->with_payload ? "true" : "false";
	return write_document(opts, "receipt", true,
						  "SELECT steward.audit_proof($1::pg_catalog.int8, $2::pg_catalog.jsonb,"
						  " $3::pg_catalog.bool)::pg_catalog.text", 3, params);
}

int
cmd_consistency(const ClientOptions *opts)
{
	const char *params[2];

	if (opts->old_digest_file == NULL)
		fail_usage("consistency needs --old-digest FILE: the older digest the ledger must extend");
	params[0] = digest_param(opts->old_digest_file);
	params[1] = digest_param(opts->digest_file);
	return write_document(opts, "consistency proof", true,
						  "SELECT steward.audit_consistency($1::pg_catalog.jsonb,"
						  " $2::pg_catalog.jsonb)::pg_catalog.text", 2, params);
}
