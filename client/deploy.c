/*-------------------------------------------------------------------------
 *
 * deploy.c
 *	  The "deploy" subcommand: apply every pending migration of a folder
 *	  in order with steward.migrate_apply, wait for the jobs that run their
 *	  statements that refuse a transaction block, and print one line per
 *	  migration and a summary.  With --dry-run, review (migrate_lint) and
 *	  dry-run (migrate_plan) the pending ones instead, changing nothing.
 *
 *	  What is pending comes from steward.migrate_status(): a version that is
 *	  not completed.  A completed one is handed to migrate_apply all the
 *	  same: the server answers "unchanged" when its checksum matches (or it
 *	  is a baseline, as migrate_import records) and refuses changed SQL.
 *
 * client/deploy.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

/* a row of steward.migrate_status() */
typedef struct ServerRow
{
	char	   *version;
	char	   *kind;
	char	   *status;
	char	   *checksum;
	char	   *job_id;			/* "" when none */
} ServerRow;

typedef struct DeployState
{
	const ClientOptions *opts;
	PGconn	   *conn;
	ServerFeatures features;
	MigrationSet set;
	AllowList	allows;
	ServerRow  *rows;
	int			nrows;
	int			rows_cap;
	bool		restore_points;
	/* counts for the summary */
	int			applied,
				unchanged,
				skipped,
				refused,
				failed,
				would_apply,
				not_attempted;
	PQExpBufferData skipped_names;
	int			exit_code;		/* beyond findings: EXIT_SERVER, EXIT_INTERRUPTED */
} DeployState;

typedef enum Outcome
{
	OUT_DONE,					/* applied, unchanged, would apply */
	OUT_REFUSED,
	OUT_FAILED,
	OUT_STOP					/* could not go on: server error, interrupted */
} Outcome;

static char *
label(const Migration *m)
{
	if (strcmp(m->name, m->version) == 0)
		return pg_strdup(m->version);
	return psprintf("%s (%s)", m->version, m->name);
}

static ServerRow *
find_row(DeployState *st, const char *version)
{
	int			i;

	for (i = 0; i < st->nrows; i++)
		if (strcmp(st->rows[i].version, version) == 0)
			return &st->rows[i];
	return NULL;
}

static bool
load_status(DeployState *st)
{
	PGresult   *res = exec_params(st->conn,
								  "SELECT version, kind, status, coalesce(checksum, ''),"
								  " coalesce(job_id::pg_catalog.text, '') FROM steward.migrate_status()",
								  0, NULL);
	int			i;

	if (!result_ok(res))
	{
		print_server_error("could not read steward.migrate_status()", res);
		PQclear(res);
		return false;
	}
	st->nrows = st->rows_cap = PQntuples(res);
	st->rows = pg_malloc0(sizeof(ServerRow) * (st->rows_cap + 1));
	for (i = 0; i < st->nrows; i++)
	{
		st->rows[i].version = pg_strdup(PQgetvalue(res, i, 0));
		st->rows[i].kind = pg_strdup(PQgetvalue(res, i, 1));
		st->rows[i].status = pg_strdup(PQgetvalue(res, i, 2));
		st->rows[i].checksum = pg_strdup(PQgetvalue(res, i, 3));
		st->rows[i].job_id = pg_strdup(PQgetvalue(res, i, 4));
	}
	PQclear(res);
	return true;
}

static void
set_row(DeployState *st, const char *version, const char *status, const char *job_id)
{
	ServerRow  *r = find_row(st, version);

	if (r == NULL)
	{
		if (st->nrows == st->rows_cap)
		{
			st->rows_cap = st->rows_cap * 2 + 16;
			st->rows = pg_realloc(st->rows, sizeof(ServerRow) * st->rows_cap);
		}
		r = &st->rows[st->nrows++];
		r->version = pg_strdup(version);
		r->kind = pg_strdup("migration");
		r->checksum = pg_strdup("");
	}
	r->status = pg_strdup(status);
	r->job_id = pg_strdup(job_id ? job_id : "");
}

/*
 * Versions compare as text on the server, so Flyway's 1.10 sorts before
 * 1.9 and a repeatable R__… after every number.  out_of_order is passed
 * when every completed version that sorts after this one comes before it
 * in the folder's own order (or is a repeatable): the server's refusal
 * would then be an artefact of text order.  A completed version that the
 * folder puts after this one (or does not have) is a real out-of-order
 * apply, left to the server to refuse unless --out-of-order.
 */
static bool
needs_out_of_order(DeployState *st, int idx)
{
	const Migration *m = &st->set.items[idx];
	bool		artefact = false;
	int			i,
				j;

	if (m->repeatable || st->opts->out_of_order)
		return true;
	for (i = 0; i < st->nrows; i++)
	{
		const ServerRow *r = &st->rows[i];
		int			local = -1;

		if (strcmp(r->status, "completed") != 0 || strcmp(r->version, m->version) <= 0)
			continue;
		for (j = 0; j < st->set.n && local < 0; j++)
			if (!st->set.items[j].skip_reason && strcmp(st->set.items[j].version, r->version) == 0)
				local = j;
		if ((local >= 0 && (local < idx || st->set.items[local].repeatable)) ||
			(local < 0 && st->set.kind == LAYOUT_FLYWAY && strncmp(r->version, "R__", 3) == 0))
			artefact = true;
		else
			return false;
	}
	return artefact;
}

/* appends ", allow => ARRAY[$n, …]::pg_catalog.text[]" and the parameters */
static void
append_allow(PQExpBuffer sql, const char **params, int *nparams,
			 const char **elements, int nallow)
{
	int			i;

	if (nallow == 0)
		return;
	appendPQExpBufferStr(sql, ", allow => ARRAY[");
	for (i = 0; i < nallow; i++)
	{
		params[*nparams] = elements[i];
		appendPQExpBuffer(sql, "%s$%d", i ? ", " : "", ++*nparams);
	}
	appendPQExpBufferStr(sql, "]::pg_catalog.text[]");
}

/* print the lines of a refusal's DETAIL, indented */
static void
print_indented(const char *text)
{
	const char *p = text;

	while (p && *p)
	{
		const char *nl = strchr(p, '\n');
		int			len = nl ? (int) (nl - p) : (int) strlen(p);

		printf("    %.*s\n", len, p);
		p = nl ? nl + 1 : NULL;
	}
}

static bool
create_restore_point(DeployState *st, const Migration *m, const char *lbl)
{
	char	   *name = psprintf("pg_steward %s", m->version);
	const char *params[1];
	PGresult   *res;

	if (strlen(name) > 63)
		name[63] = '\0';
	params[0] = name;
	res = exec_params(st->conn, "SELECT pg_catalog.pg_create_restore_point($1)", 1, params);
	if (!result_ok(res))
	{
		printf("%s: not attempted: could not create restore point \"%s\"\n", lbl, name);
		print_server_error("could not create a restore point", res);
		fprintf(stderr, "HINT:  pg_create_restore_point() needs a superuser or a role granted EXECUTE on it; "
				"deploy without --restore-point, or connect as such a role.\n");
		PQclear(res);
		return false;
	}
	printf("%s: restore point \"%s\" at %s\n", lbl, name, PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

/* wait for the job of a migration that answered in_progress */
static Outcome
await_job(DeployState *st, const Migration *m, const char *lbl, const char *job_id)
{
	char	   *state = NULL;
	int			rc;

	printf("%s: in_progress: job %s runs its statements that refuse a transaction block\n",
		   lbl, job_id);
	fflush(stdout);
	rc = job_wait_progress(st->conn, job_id, st->opts, "    ", &state);
	if (rc == EXIT_OK)
	{
		printf("%s: applied (job %s succeeded)\n", lbl, job_id);
		set_row(st, m->version, "completed", job_id);
		st->applied++;
		return OUT_DONE;
	}
	if (rc == EXIT_INTERRUPTED || rc == EXIT_SERVER)
	{
		st->exit_code = rc;
		return OUT_STOP;
	}
	printf("%s: failed (job %s %s)\n", lbl, job_id, state ? state : "did not end");
	st->failed++;
	return OUT_FAILED;
}

static Outcome
apply_one(DeployState *st, int idx, const char *sql, const char *down,
		  const char **elements, int nallow)
{
	const Migration *m = &st->set.items[idx];
	char	   *lbl = label(m);
	const char **params = pg_malloc(sizeof(char *) * (6 + nallow));
	int			nparams = 5;
	PQExpBufferData q;
	PGresult   *res;
	const char *result;
	ServerRow  *row = find_row(st, m->version);

	if (row && strcmp(row->status, "in_progress") == 0 && row->job_id[0])
	{
		printf("%s: in_progress since an earlier deploy\n", lbl);
		return await_job(st, m, lbl, row->job_id);
	}
	if (st->restore_points && !(row && strcmp(row->status, "completed") == 0) &&
		!create_restore_point(st, m, lbl))
	{
		st->exit_code = EXIT_SERVER;
		return OUT_STOP;
	}

	params[0] = m->version;
	params[1] = sql;
	params[2] = down;
	params[3] = m->description;
	params[4] = needs_out_of_order(st, idx) ? "true" : "false";
	initPQExpBuffer(&q);
	appendPQExpBufferStr(&q, "SELECT steward.migrate_apply(version => $1, up_sql => $2, down_sql => $3,"
						 " description => $4, out_of_order => $5::boolean");
	append_allow(&q, params, &nparams, elements, nallow);
	appendPQExpBufferStr(&q, ")");
	res = exec_params(st->conn, q.data, nparams, params);
	termPQExpBuffer(&q);
	if (!result_ok(res))
	{
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

		if (interrupted)
		{
			printf("%s: interrupted\n", lbl);
			st->exit_code = EXIT_INTERRUPTED;
			PQclear(res);
			return OUT_STOP;
		}
		if (strcmp(result_sqlstate(res), "55000") == 0 && msg && strstr(msg, "the review found"))
		{
			printf("%s: refused by the review:\n", lbl);
			print_indented(detail);
			printf("    accept a finding with a line \"%s RULE REASON\" in %s/steward-accept.txt, "
				   "or --allow %s:RULE --reason TEXT\n", m->version, st->set.dir, m->version);
			st->refused++;
			PQclear(res);
			return OUT_REFUSED;
		}
		printf("%s: failed: %s\n", lbl, msg ? msg : PQresultErrorMessage(res));
		print_server_error(psprintf("migration \"%s\" failed", m->version), res);
		st->failed++;
		PQclear(res);
		return OUT_FAILED;
	}
	result = PQgetvalue(res, 0, 0);
	if (strcmp(result, "in_progress") == 0)
	{
		const char *vparams[1] = {m->version};
		PGresult   *jr;
		char	   *job_id;

		PQclear(res);
		jr = exec_params(st->conn, "SELECT job_id FROM steward.migrate_status() WHERE version OPERATOR(pg_catalog.=) $1",
						 1, vparams);
		if (!result_ok(jr) || PQntuples(jr) != 1 || PQgetisnull(jr, 0, 0))
		{
			printf("%s: in_progress, but its job was not found\n", lbl);
			if (!result_ok(jr))
				print_server_error("could not read steward.migrate_status()", jr);
			PQclear(jr);
			st->exit_code = EXIT_SERVER;
			return OUT_STOP;
		}
		job_id = pg_strdup(PQgetvalue(jr, 0, 0));
		PQclear(jr);
		set_row(st, m->version, "in_progress", job_id);
		return await_job(st, m, lbl, job_id);
	}
	printf("%s: %s\n", lbl, result);
	if (strcmp(result, "unchanged") == 0)
		st->unchanged++;
	else
	{
		st->applied++;
		set_row(st, m->version, "completed", NULL);
	}
	PQclear(res);
	return OUT_DONE;
}

/* --dry-run of one migration: the review and the dry run, nothing applied */
static Outcome
dry_run_one(DeployState *st, int idx, const char *sql, const char **elements, int nallow)
{
	const Migration *m = &st->set.items[idx];
	char	   *lbl = label(m);
	ServerRow  *row = find_row(st, m->version);
	const char **params = pg_malloc(sizeof(char *) * (2 + nallow));
	int			nparams = 1;
	PQExpBufferData q;
	PGresult   *res;
	int			errors = 0,
				warnings = 0,
				i;
	const char *plan_error = NULL;
	char	   *plan_summary = NULL;

	params[0] = sql;
	if (row && strcmp(row->status, "completed") == 0)
	{
		res = exec_params(st->conn, "SELECT steward.migrate_checksum(sql => $1)", 1, params);
		if (!result_ok(res))
		{
			print_server_error("could not compute a checksum", res);
			st->exit_code = EXIT_SERVER;
			return OUT_STOP;
		}
		if (strcmp(row->kind, "baseline") == 0 || strcmp(row->checksum, PQgetvalue(res, 0, 0)) == 0)
		{
			printf("%s: unchanged\n", lbl);
			st->unchanged++;
			PQclear(res);
			return OUT_DONE;
		}
		printf("%s: changed since it was applied (checksum %s, applied %s)\n", lbl,
			   PQgetvalue(res, 0, 0), row->checksum);
		st->failed++;
		PQclear(res);
		return OUT_FAILED;
	}
	if (row && strcmp(row->status, "in_progress") == 0)
	{
		printf("%s: in_progress%s%s\n", lbl, row->job_id[0] ? " in job " : "", row->job_id);
		st->would_apply++;
		return OUT_DONE;
	}

	/* the review */
	initPQExpBuffer(&q);
	appendPQExpBufferStr(&q, "SELECT statement, severity, rule, coalesce(relation, ''), message,"
						 " coalesce(silenced, '') FROM steward.migrate_lint(sql => $1");
	if (st->features.lint_allow)
		append_allow(&q, params, &nparams, elements, nallow);
	appendPQExpBufferStr(&q, ")");
	res = exec_params(st->conn, q.data, nparams, params);
	if (!result_ok(res))
	{
		printf("%s: would fail: %s\n", lbl, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		print_server_error(psprintf("the review of \"%s\" failed", m->version), res);
		st->failed++;
		PQclear(res);
		return OUT_FAILED;
	}
	for (i = 0; i < PQntuples(res); i++)
	{
		const char *sev = PQgetvalue(res, i, 1);
		bool		silenced = PQgetvalue(res, i, 5)[0] != '\0';

		if (!silenced && strcmp(sev, "error") == 0)
			errors++;
		else if (!silenced && strcmp(sev, "warning") == 0)
			warnings++;
	}
	printf("%s: %s (review: %d error%s, %d warning%s)\n", lbl,
		   errors ? "would be refused by the review" : "would apply",
		   errors, errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
	for (i = 0; i < PQntuples(res); i++)
	{
		const char *sev = PQgetvalue(res, i, 1);
		const char *rel = PQgetvalue(res, i, 3);
		const char *silence = PQgetvalue(res, i, 5);

		if (*silence)
		{
			if (st->opts->verbose)
				printf("    statement %s: %s %s: silenced: %s\n", PQgetvalue(res, i, 0), sev,
					   PQgetvalue(res, i, 2), silence);
			continue;
		}
		if (strcmp(sev, "info") == 0 && !st->opts->verbose)
			continue;
		printf("    statement %s: %s %s%s%s: %s\n", PQgetvalue(res, i, 0), sev,
			   PQgetvalue(res, i, 2), *rel ? " on " : "", rel, PQgetvalue(res, i, 4));
	}
	PQclear(res);

	/* the dry run */
	nparams = 1;
	resetPQExpBuffer(&q);
	/* migrate_plan has no allow: the review above is where findings are accepted */
	appendPQExpBufferStr(&q, "SELECT coalesce(statement::pg_catalog.text, ''), step, coalesce(detail, '')"
						 " FROM steward.migrate_plan(sql => $1)");
	res = exec_params(st->conn, q.data, nparams, params);
	termPQExpBuffer(&q);
	if (!result_ok(res))
	{
		printf("    plan: could not run: %s\n", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		st->failed++;
		PQclear(res);
		return OUT_FAILED;
	}
	for (i = 0; i < PQntuples(res); i++)
	{
		const char *step = PQgetvalue(res, i, 1);

		if (strcmp(step, "error") == 0)
			plan_error = psprintf("statement %s: %s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 2));
		else if (strcmp(step, "summary") == 0)
			plan_summary = pg_strdup(PQgetvalue(res, i, 2));
		else if (st->opts->verbose)
			printf("    plan: statement %s: %s: %s\n", PQgetvalue(res, i, 0), step, PQgetvalue(res, i, 2));
	}
	PQclear(res);
	if (plan_error)
		printf("    plan: error at %s\n", plan_error);
	if (plan_summary)
		printf("    plan: %s\n", plan_summary);
	if (errors)
	{
		st->refused++;
		return OUT_REFUSED;
	}
	if (plan_error)
	{
		st->failed++;
		return OUT_FAILED;
	}
	st->would_apply++;
	set_row(st, m->version, "completed", NULL);
	return OUT_DONE;
}

static void
print_summary(DeployState *st)
{
	if (st->opts->dry_run)
		printf("summary (dry run, nothing changed): %d would apply, %d unchanged, %d skipped, "
			   "%d would be refused, %d would fail\n",
			   st->would_apply, st->unchanged, st->skipped, st->refused, st->failed);
	else
		printf("summary: %d applied, %d unchanged, %d skipped, %d refused, %d failed, %d not attempted\n",
			   st->applied, st->unchanged, st->skipped, st->refused, st->failed, st->not_attempted);
	if (st->skipped)
		printf("skipped: %s%s\n", st->skipped_names.data,
			   st->opts->allow_skipped ? "" : " (exit status 1; --allow-skipped accepts them)");
}

int
cmd_deploy(const ClientOptions *opts, const char *dir)
{
	DeployState st;
	int			last,
				i;
	bool		stopped = false;

	memset(&st, 0, sizeof(st));
	st.opts = opts;
	initPQExpBuffer(&st.skipped_names);
	if (!layout_scan(dir, opts->layout, &st.set))
		return EXIT_USAGE;
	allow_copy(&st.allows, &opts->allows);
	if (!accept_file_load(dir, &st.allows))
		return EXIT_USAGE;

	st.conn = client_connect(opts);
	if (!server_features(st.conn, &st.features))
		return EXIT_SERVER;
	if (st.allows.n > 0 && !st.features.apply_allow)
	{
		fprintf(stderr, "%s: accepting findings (--allow, %s/steward-accept.txt) needs the argument "
				"allow of steward.migrate_apply, which pg_steward %s in this database lacks\n",
				progname, dir, st.features.extversion);
		fprintf(stderr, "HINT:  Update the extension, or silence the finding in the SQL with "
				"\"-- steward:allow <rule> <reason>\".\n");
		return EXIT_SERVER;
	}
	if (!naming_resolve(st.conn, &st.features, &st.set))
		return EXIT_SERVER;
	if (!load_status(&st))
		return EXIT_SERVER;

	last = st.set.n - 1;
	if (opts->target)
	{
		for (last = 0; last < st.set.n; last++)
			if (strcmp(st.set.items[last].version, opts->target) == 0 ||
				strcmp(st.set.items[last].name, opts->target) == 0)
				break;
		if (last == st.set.n)
			fail_usage("--target %s is not a migration of \"%s\"", opts->target, dir);
	}

	if (opts->restore_point && !opts->dry_run)
	{
		PGresult   *res = exec_params(st.conn, "SELECT pg_catalog.current_setting('archive_mode')", 0, NULL);

		if (!result_ok(res))
		{
			print_server_error("could not read archive_mode", res);
			return EXIT_SERVER;
		}
		st.restore_points = strcmp(PQgetvalue(res, 0, 0), "off") != 0;
		if (!st.restore_points)
			printf("restore points: none, archive_mode is off\n");
		PQclear(res);
	}

	printf("%s: %s layout, %d migration%s%s\n", dir, layout_name(st.set.kind), st.set.n,
		   st.set.n == 1 ? "" : "s", opts->dry_run ? " (dry run)" : "");
	for (i = 0; i <= last; i++)
	{
		Migration  *m = &st.set.items[i];
		char	   *sql;
		char	   *down = NULL;
		const char **elements;
		int			nallow;
		Outcome		out;

		if (stopped && !m->skip_reason)
		{
			st.not_attempted++;
			continue;
		}
		if (m->skip_reason)
		{
			printf("%s: skipped (%s)\n", m->name, m->skip_reason);
			appendPQExpBuffer(&st.skipped_names, "%s%s (%s)", st.skipped ? ", " : "",
							  m->name, m->skip_reason);
			st.skipped++;
			continue;
		}
		sql = file_read(m->up_path, NULL);
		if (sql && m->down_path)
			down = file_read(m->down_path, NULL);
		if (sql == NULL || (m->down_path && down == NULL))
		{
			printf("%s: failed: its file could not be read\n", m->version);
			st.failed++;
			stopped = true;
			continue;
		}
		nallow = allow_collect(&st.allows, m, &elements);
		if (opts->dry_run)
			out = dry_run_one(&st, i, sql, elements, nallow);
		else
			out = apply_one(&st, i, sql, down, elements, nallow);
		fflush(stdout);
		free(sql);
		free(down);
		if (out == OUT_STOP || (!opts->dry_run && out != OUT_DONE))
			stopped = true;
		if (out == OUT_STOP)
			break;
	}
	if (opts->target && last < st.set.n - 1)
		printf("stopped after the target %s\n", opts->target);
	print_summary(&st);
	PQfinish(st.conn);
	if (st.exit_code)
		return st.exit_code;
	if (st.refused || st.failed || (st.skipped && !opts->allow_skipped))
		return EXIT_FINDINGS;
	return EXIT_OK;
}
