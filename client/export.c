/*-------------------------------------------------------------------------
 *
 * export.c
 *	  "export": the whole audit ledger as one JSON-lines file, taken in one
 *	  snapshot, for verify-export (verify_export.c) to check with no server
 *	  at all.  docs/audit.md, "Exporting the ledger", specifies the file:
 *
 *	    {"kind" : "export", "format" : 1, <the snapshot's audit_digest()>, …}
 *	    {"kind" : "epoch", …}                  every retention epoch
 *	    {"kind" : "block", …}                  every block, in block_id order,
 *	    {"kind" : "event", …}                  each followed by the events
 *	                                           whose home block it is
 *	    {"kind" : "event", …}                  then the events not sealed yet
 *	    {"kind":"end","blocks":N,"events":M,"epochs":K}
 *
 * Everything is read in one transaction, REPEATABLE READ and READ ONLY:
 * it takes no lock beyond ACCESS SHARE and never blocks a writer, and the
 * header's digest, the blocks and the events are of one snapshot.  Rows
 * stream through COPY (SELECT …) TO STDOUT, one line at a time, so the
 * client's memory does not grow with the ledger; the events of each block
 * are found in one query (the previous block's snapshot by lag(), the
 * events by the xid index between its xmin and the block's xmax).  The
 * caller needs SELECT on steward.audit_blocks, steward.audit_events and
 * steward.audit_epochs, and EXECUTE on steward.audit_digest()
 * (docs/operations.md, "Roles and grants").
 *
 * client/export.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <fcntl.h>
#include <unistd.h>

/*
 * A time as microseconds since 1970 UTC, null when the byte format cannot
 * encode it (docs/audit.md, "Times").  EXTRACT is SQL syntax for
 * pg_catalog.extract, which search_path cannot redirect.
 */
#define TIME_US(col) \
	"CASE WHEN " col " OPERATOR(pg_catalog.>) '-infinity'::pg_catalog.timestamptz" \
	" AND " col " OPERATOR(pg_catalog.<) '294247-01-01 00:00:00+00'::pg_catalog.timestamptz" \
	" THEN (EXTRACT(epoch FROM " col ") OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8 END"

/* an event row e as a line: the members of docs/audit.md's events.jsonl */
#define EVENT_LINE \
	"pg_catalog.json_build_object('kind', 'event', 'id', e.id," \
	" 'xid', e.xid::pg_catalog.text::pg_catalog.int8, 'time_us', " TIME_US("e.event_time") "," \
	" 'event_type', e.event_type, 'action', e.action, 'resource_type', e.resource_type," \
	" 'resource_id', e.resource_id, 'actor', e.actor, 'session_user_name', e.session_user_name," \
	" 'current_user_name', e.current_user_name, 'client_addr', e.client_addr," \
	" 'application_name', e.application_name," \
	" 'commitment', pg_catalog.encode(e.commitment, 'hex'), 'salt', pg_catalog.encode(e.salt, 'hex')," \
	" 'payload', e.payload::pg_catalog.text)::pg_catalog.text"

#define HEADER_SQL \
	"SELECT pg_catalog.json_build_object('kind', 'export', 'format', 1," \
	" 'database', d OPERATOR(pg_catalog.->) 'database'," \
	" 'system_identifier', d OPERATOR(pg_catalog.->) 'system_identifier'," \
	" 'block', d OPERATOR(pg_catalog.->) 'block', 'position', d OPERATOR(pg_catalog.->) 'position'," \
	" 'hash', d OPERATOR(pg_catalog.->) 'hash'," \
	" 'tree_size', d OPERATOR(pg_catalog.->) 'tree_size', 'tree_root', d OPERATOR(pg_catalog.->) 'tree_root'," \
	" 'sealed_at', d OPERATOR(pg_catalog.->) 'sealed_at'," \
	" 'digest_format', d OPERATOR(pg_catalog.->) 'format'," \
	" 'exported_at', pg_catalog.now())::pg_catalog.text," \
	" (SELECT b.snapshot::pg_catalog.text FROM steward.audit_blocks b ORDER BY b.block_id DESC LIMIT 1)" \
	" FROM (SELECT steward.audit_digest() AS d) x"

#define EPOCHS_SQL \
	"COPY (SELECT pg_catalog.json_build_object('kind', 'epoch', 'epoch_id', p.epoch_id," \
	" 'partition', p.partition_name, 'events_dropped', p.events_dropped," \
	" 'from_us', " TIME_US("p.range_from") ", 'to_us', " TIME_US("p.range_to") ")::pg_catalog.text" \
	" FROM steward.audit_epochs p ORDER BY p.epoch_id)" \
	" TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"

/*
 * Every block, then the events whose home block it is: completed in its
 * snapshot and not in the previous block's.  Those have an xid at or above
 * the previous snapshot's xmin (everything below it was completed then) and
 * below the block's xmax, a range the xid index of each partition finds.
 * The blocks come in block_id order (the window's), each block's line
 * before its events (the Append's order), the events of a block sorted by
 * (xid, id) before their lines are built: no sort of the whole output,
 * whose rows are large.  verify-export checks that order.
 */
#define BLOCKS_SQL \
	"COPY (SELECT x.line FROM" \
	" (SELECT b.block_id, b.snapshot," \
	"         pg_catalog.lag(b.snapshot) OVER (ORDER BY b.block_id) AS prev," \
	"         pg_catalog.json_build_object('kind', 'block', 'block_id', b.block_id, 'format', b.format," \
	"           'snapshot', b.snapshot::pg_catalog.text, 'first_position', b.first_position," \
	"           'event_count', b.event_count, 'sealed_at_us', " TIME_US("b.sealed_at") "," \
	"           'merkle_root', pg_catalog.encode(b.merkle_root, 'hex')," \
	"           'prev_hash', pg_catalog.encode(b.prev_hash, 'hex')," \
	"           'block_hash', pg_catalog.encode(b.block_hash, 'hex')," \
	"           'entries', pg_catalog.encode(b.entries, 'hex'))::pg_catalog.text AS line" \
	"    FROM steward.audit_blocks b) b" \
	" CROSS JOIN LATERAL (" \
	"   SELECT 0 AS k, NULL::pg_catalog.xid8 AS xid, NULL::pg_catalog.int8 AS id, b.line" \
	"   UNION ALL" \
	"   SELECT 1, e.xid, e.id, " EVENT_LINE \
	"     FROM (SELECT * FROM steward.audit_events e" \
	"            WHERE e.xid OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.pg_snapshot_xmin(b.prev), '0'::pg_catalog.xid8)" \
	"              AND e.xid OPERATOR(pg_catalog.<) pg_catalog.pg_snapshot_xmax(b.snapshot)" \
	"              AND pg_catalog.pg_visible_in_snapshot(e.xid, b.snapshot)" \
	"              AND (b.prev IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(e.xid, b.prev))" \
	"            ORDER BY e.xid, e.id) e) x)" \
	" TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"

/*
 * The events the newest block's snapshot does not show completed: its xid
 * at or above that snapshot's xmin.  COPY takes no parameters: the
 * snapshot (the server's own text of a pg_snapshot) goes in as a literal,
 * %s twice.
 */
#define UNSEALED_SQL \
	"COPY (SELECT " EVENT_LINE " FROM steward.audit_events e" \
	" WHERE e.xid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(%s::pg_catalog.pg_snapshot)" \
	"   AND NOT pg_catalog.pg_visible_in_snapshot(e.xid, %s::pg_catalog.pg_snapshot)" \
	" ORDER BY e.xid, e.id)" \
	" TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"

#define ALL_EVENTS_SQL \
	"COPY (SELECT " EVENT_LINE " FROM steward.audit_events e ORDER BY e.xid, e.id)" \
	" TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"

typedef struct Out
{
	FILE	   *f;
	const char *path;			/* NULL: standard output */
	char	   *tmp;
	int64		blocks;
	int64		events;
	int64		epochs;
} Out;

static bool
out_write(Out *o, const char *data, size_t len)
{
	if (fwrite(data, 1, len, o->f) != len)
	{
		fprintf(stderr, "%s: could not write \"%s\": %s\n", progname,
				o->path ? o->tmp : "standard output", strerror(errno));
		return false;
	}
	return true;
}

/*
 * Run a COPY … TO STDOUT and write its lines; each line is counted as a
 * block or an event by its kind (the text json_build_object starts with).
 */
static bool
copy_lines(PGconn *conn, Out *o, const char *what, const char *sql, int nparams,
		   const char *const *params)
{
	PGresult   *res = exec_params(conn, sql, nparams, params);
	char	   *buf;
	int			len;
	bool		ok = true;

	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		PQExpBufferData msg;

		initPQExpBuffer(&msg);
		appendPQExpBuffer(&msg, "could not export the %s", what);
		print_server_error(msg.data, res);
		termPQExpBuffer(&msg);
		PQclear(res);
		return false;
	}
	PQclear(res);
	while ((len = PQgetCopyData(conn, &buf, 0)) > 0)
	{
		if (ok)
		{
			if (strncmp(buf, "{\"kind\" : \"block\"", 17) == 0)
				o->blocks++;
			else if (strncmp(buf, "{\"kind\" : \"event\"", 17) == 0)
				o->events++;
			else if (strncmp(buf, "{\"kind\" : \"epoch\"", 17) == 0)
				o->epochs++;
			ok = out_write(o, buf, len);
		}
		PQfreemem(buf);
		if (interrupted)
			ok = false;
	}
	if (len == -2)
	{
		fprintf(stderr, "%s: could not export the %s: %s", progname, what, PQerrorMessage(conn));
		return false;
	}
	res = PQgetResult(conn);
	if (!result_ok(res))
	{
		PQExpBufferData msg;

		initPQExpBuffer(&msg);
		appendPQExpBuffer(&msg, "could not export the %s", what);
		print_server_error(msg.data, res);
		termPQExpBuffer(&msg);
		ok = false;
	}
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	return ok;
}

static bool
run(PGconn *conn, const char *sql)
{
	PGresult   *res = exec_params(conn, sql, 0, NULL);
	bool		ok = result_ok(res);

	if (!ok)
		print_server_error("could not export the audit ledger", res);
	PQclear(res);
	return ok;
}

/* close the output; a file is synced and renamed into place */
static bool
out_finish(Out *o, bool ok)
{
	if (o->path == NULL)
		return fflush(o->f) == 0 && ok;
	if (ok && (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0))
	{
		fprintf(stderr, "%s: could not write \"%s\": %s\n", progname, o->tmp, strerror(errno));
		ok = false;
	}
	if (fclose(o->f) != 0 && ok)
	{
		fprintf(stderr, "%s: could not write \"%s\": %s\n", progname, o->tmp, strerror(errno));
		ok = false;
	}
	if (ok && rename(o->tmp, o->path) != 0)
	{
		fprintf(stderr, "%s: could not rename \"%s\" to \"%s\": %s\n", progname, o->tmp, o->path,
				strerror(errno));
		ok = false;
	}
	if (!ok)
		unlink(o->tmp);
	return ok;
}

int
cmd_export(const ClientOptions *opts)
{
	PGconn	   *conn;
	ServerFeatures f;
	PGresult   *res;
	Out			o = {0};
	char	   *header;
	char	   *newest_snapshot = NULL;
	char	   *unsealed_sql;
	char		end[256];
	char	   *db;
	bool		ok;

	conn = client_connect(opts);
	if (!server_features(conn, &f))
		return EXIT_SERVER;
	if (!client_utf8(conn))
	{
		PQfinish(conn);
		return EXIT_SERVER;
	}
	/* one snapshot for all; read only: no lock beyond ACCESS SHARE */
	if (!run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY") ||
		!run(conn, "SET LOCAL TimeZone = 'UTC'"))
	{
		PQfinish(conn);
		return EXIT_SERVER;
	}
	res = exec_params(conn, HEADER_SQL, 0, NULL);
	if (!result_ok(res) || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		print_server_error("could not export the audit ledger", res);
		PQclear(res);
		PQfinish(conn);
		return EXIT_SERVER;
	}
	header = pg_strdup(PQgetvalue(res, 0, 0));
	if (!PQgetisnull(res, 0, 1))
	{
		const char *snap = PQgetvalue(res, 0, 1);

		newest_snapshot = PQescapeLiteral(conn, snap, strlen(snap));
	}
	PQclear(res);
	unsealed_sql = newest_snapshot ? psprintf(UNSEALED_SQL, newest_snapshot, newest_snapshot)
		: pg_strdup(ALL_EVENTS_SQL);
	db = pg_strdup(PQdb(conn));

	o.path = opts->out_file;
	if (o.path)
	{
		int			fd;

		o.tmp = psprintf("%s.tmp", o.path);
		fd = open(o.tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
		if (fd < 0 || (o.f = fdopen(fd, "w")) == NULL)
		{
			fprintf(stderr, "%s: could not create \"%s\": %s\n", progname, o.tmp, strerror(errno));
			PQfinish(conn);
			return EXIT_SERVER;
		}
	}
	else
		o.f = stdout;

	ok = out_write(&o, header, strlen(header)) && out_write(&o, "\n", 1) &&
		copy_lines(conn, &o, "retention epochs", EPOCHS_SQL, 0, NULL) &&
		copy_lines(conn, &o, "blocks and their events", BLOCKS_SQL, 0, NULL) &&
		copy_lines(conn, &o, "events not sealed yet", unsealed_sql, 0, NULL) &&
		run(conn, "COMMIT");
	if (ok)
	{
		snprintf(end, sizeof(end), "{\"kind\":\"end\",\"blocks\":%lld,\"events\":%lld,\"epochs\":%lld}\n",
				 (long long) o.blocks, (long long) o.events, (long long) o.epochs);
		ok = out_write(&o, end, strlen(end));
	}
	if (interrupted)
	{
		fprintf(stderr, "%s: interrupted: the export was not written\n", progname);
		out_finish(&o, false);
		PQfinish(conn);
		return EXIT_INTERRUPTED;
	}
	ok = out_finish(&o, ok);
	PQfinish(conn);
	if (!ok)
		return EXIT_SERVER;
	if (o.path)
		printf("%s\n", o.path);
	if (opts->verbose)
		fprintf(stderr, "%s: exported %lld blocks, %lld events and %lld retention epochs of database \"%s\"\n",
				progname, (long long) o.blocks, (long long) o.events, (long long) o.epochs, db);
	return EXIT_OK;
}
