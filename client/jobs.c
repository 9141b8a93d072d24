/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  Background jobs: the "jobs" and "wait" subcommands, and the wait for
 *	  a migration's job that "deploy" does.
 *
 *	  Waiting calls CALL steward.job_await(job, timeout => '1s') in a loop:
 *	  outside a transaction block the procedure commits after every poll,
 *	  so no snapshot holds up a job running CREATE INDEX CONCURRENTLY.
 *	  Between two calls steward.job_status() gives the progress: a bar,
 *	  redrawn in place, when stdout is a terminal; otherwise a line when the
 *	  progress changed, at most every 5 seconds.  The wait is bounded by
 *	  --timeout, and SIGINT or SIGTERM end it within one poll (the job
 *	  itself keeps running).
 *
 * client/jobs.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <sys/time.h>

#define BAR_WIDTH 30
#define PLAIN_EVERY 5.0			/* seconds between two plain progress lines */

static double
now_seconds(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static bool
state_is_final(const char *state)
{
	return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
		strcmp(state, "cancelled") == 0 || strcmp(state, "paused") == 0;
}

/* "backfill, 22000 of ~100000 rows, 34636 rows/s" from a job_status row */
static char *
describe(const PGresult *res)
{
	PQExpBufferData b;
	const char *kind = PQgetvalue(res, 0, 1);
	const char *phase = PQgetvalue(res, 0, 2);
	const char *done = PQgetvalue(res, 0, 3);
	const char *estimate = PQgetvalue(res, 0, 4);
	const char *rate = PQgetvalue(res, 0, 6);

	initPQExpBuffer(&b);
	appendPQExpBufferStr(&b, kind);
	if (*phase)
		appendPQExpBuffer(&b, ", %s", phase);
	if (*estimate)
		appendPQExpBuffer(&b, ", %s of ~%s rows", done, estimate);
	else if (strcmp(done, "0") != 0)
		appendPQExpBuffer(&b, ", %s rows", done);
	if (*rate && strcmp(PQgetvalue(res, 0, 0), "running") == 0)
		appendPQExpBuffer(&b, ", %.0f rows/s", atof(rate));
	return b.data;
}

static void
show_bar(const char *job_id, const char *state, const char *percent, const char *desc)
{
	int			filled = 0,
				i;

	if (*percent)
		filled = (int) (atof(percent) * BAR_WIDTH / 100.0 + 0.5);
	if (filled > BAR_WIDTH)
		filled = BAR_WIDTH;
	printf("\r[");
	for (i = 0; i < BAR_WIDTH; i++)
		putchar(i < filled ? '#' : '.');
	if (*percent)
		printf("] %5.1f%% job %s %s: %s\033[K", atof(percent), job_id, state, desc);
	else
		printf("]    ?%% job %s %s: %s\033[K", job_id, state, desc);
	fflush(stdout);
}

/*
 * Wait for job_id to end.  Returns EXIT_OK when it succeeded,
 * EXIT_FINDINGS when it failed, was cancelled or paused or the timeout
 * passed, EXIT_INTERRUPTED, or EXIT_SERVER; *final_state gets the last
 * state seen.  Progress lines start with indent.
 */
int
job_wait_progress(PGconn *conn, const char *job_id, const ClientOptions *opts,
				  const char *indent, char **final_state)
{
	bool		tty = stdout_is_tty();
	double		start = now_seconds();
	double		last_line = 0;
	char	   *last_desc = NULL;
	char	   *state = pg_strdup("queued");
	bool		bar_shown = false;
	int			rc;

	for (;;)
	{
		const char *params[2];
		PGresult   *res;
		char	   *desc;
		const char *percent;
		char		wait_for[32];
		double		left = 1.0;

		if (opts->timeout > 0)
		{
			left = opts->timeout - (now_seconds() - start);
			if (left > 1.0)
				left = 1.0;
			if (left < 0.01)
				left = 0.01;
		}
		snprintf(wait_for, sizeof(wait_for), "%.3f seconds", left);
		params[0] = job_id;
		params[1] = wait_for;
		if (!interrupted)
		{
			res = exec_params(conn, "CALL steward.job_await(job_id => $1::bigint, timeout => $2::interval)",
							  2, params);
			if (!result_ok(res) && !interrupted)
			{
				if (bar_shown)
					putchar('\n');
				print_server_error(psprintf("could not wait for job %s", job_id), res);
				PQclear(res);
				rc = EXIT_SERVER;
				break;
			}
			PQclear(res);
		}
		if (interrupted)
		{
			if (bar_shown)
				putchar('\n');
			printf("%sinterrupted: job %s keeps running (pg_steward wait %s)\n", indent, job_id, job_id);
			rc = EXIT_INTERRUPTED;
			break;
		}

		res = exec_params(conn,
						  "SELECT state, kind, coalesce(phase, ''), rows_done, coalesce(rows_estimate::pg_catalog.text, ''),"
						  " coalesce(percent::pg_catalog.text, ''), coalesce(rows_per_second::pg_catalog.text, ''),"
						  " coalesce(last_sqlstate OPERATOR(pg_catalog.||) ': ', '') OPERATOR(pg_catalog.||) coalesce(last_error, '')"
						  " FROM steward.job_status(job_id => $1::bigint)", 1, params);
		if (!result_ok(res) || PQntuples(res) != 1)
		{
			if (bar_shown)
				putchar('\n');
			if (result_ok(res))
				fprintf(stderr, "%s: job %s does not exist\n", progname, job_id);
			else
				print_server_error(psprintf("could not read job %s", job_id), res);
			PQclear(res);
			rc = EXIT_SERVER;
			break;
		}
		free(state);
		state = pg_strdup(PQgetvalue(res, 0, 0));
		percent = PQgetvalue(res, 0, 5);
		desc = describe(res);
		if (tty)
		{
			show_bar(job_id, state, percent, desc);
			bar_shown = true;
		}
		else if (state_is_final(state) ||
				 last_desc == NULL ||
				 (strcmp(desc, last_desc) != 0 && now_seconds() - last_line >= PLAIN_EVERY))
		{
			if (*percent)
				printf("%sjob %s: %s, %s%%, %s\n", indent, job_id, state, percent, desc);
			else
				printf("%sjob %s: %s, %s\n", indent, job_id, state, desc);
			fflush(stdout);
			free(last_desc);
			last_desc = pg_strdup(desc);
			last_line = now_seconds();
		}
		free(desc);
		if (state_is_final(state))
		{
			if (bar_shown)
				putchar('\n');
			if (strcmp(state, "succeeded") == 0)
				rc = EXIT_OK;
			else
			{
				const char *err = PQgetvalue(res, 0, 7);

				if (strcmp(state, "paused") == 0)
					printf("%sjob %s is paused: resume it with SELECT steward.job_resume(%s)\n",
						   indent, job_id, job_id);
				else if (*err)
					printf("%sjob %s %s: %s\n", indent, job_id, state, err);
				rc = EXIT_FINDINGS;
			}
			PQclear(res);
			break;
		}
		PQclear(res);
		if (opts->timeout > 0 && now_seconds() - start >= opts->timeout)
		{
			if (bar_shown)
				putchar('\n');
			printf("%sjob %s is still %s after %g seconds\n", indent, job_id, state, opts->timeout);
			rc = EXIT_FINDINGS;
			break;
		}
	}
	fflush(stdout);
	free(last_desc);
	if (final_state)
		*final_state = state;
	else
		free(state);
	return rc;
}

static bool
is_job_id(const char *s)
{
	const char *p;

	if (*s == '\0' || strlen(s) > 18)
		return false;
	for (p = s; *p; p++)
		if (!isdigit((unsigned char) *p))
			return false;
	return true;
}

int
cmd_wait(const ClientOptions *opts, const char *job_id)
{
	PGconn	   *conn;
	ServerFeatures f;
	char	   *state = NULL;
	int			rc;

	if (!is_job_id(job_id))
		fail_usage("invalid job id \"%s\"", job_id);
	conn = client_connect(opts);
	if (!server_features(conn, &f))
		return EXIT_SERVER;
	rc = job_wait_progress(conn, job_id, opts, "", &state);
	if (rc == EXIT_OK)
		printf("job %s succeeded\n", job_id);
	PQfinish(conn);
	return rc;
}

int
cmd_jobs(const ClientOptions *opts)
{
	static const char *const headers[] = {"id", "kind", "state", "progress", "phase",
	"relation", "migration", "error"};
	PGconn	   *conn = client_connect(opts);
	ServerFeatures f;
	PGresult   *res;

	if (!server_features(conn, &f))
		return EXIT_SERVER;
	res = exec_params(conn,
					  "SELECT id, kind, state,"
					  " coalesce(percent::pg_catalog.text OPERATOR(pg_catalog.||) '%', rows_done OPERATOR(pg_catalog.||) ' rows'),"
					  " coalesce(phase, ''), coalesce(relation::pg_catalog.text, ''),"
					  " coalesce(migration_version, ''),"
					  " coalesce(last_sqlstate OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) last_error, '')"
					  " FROM steward.job_status() ORDER BY id", 0, NULL);
	if (!result_ok(res))
	{
		print_server_error("could not list the jobs", res);
		return EXIT_SERVER;
	}
	print_table(res, headers, 8);
	PQclear(res);
	PQfinish(conn);
	return EXIT_OK;
}
