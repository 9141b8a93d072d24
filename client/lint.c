/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  The "lint" subcommand: the review of migrations without applying
 *	  them, through steward.migrate_lint(sql), for files and folders (every
 *	  migration's up SQL, in the layout's order; a folder's
 *	  steward-accept.txt and --allow are passed as allow =>).  SQL that does
 *	  not parse is a finding of rule "invalid-sql" on the line the error
 *	  points at.  Findings carry the file and the line where their
 *	  statement starts: migrate_lint's column "line" when the server has
 *	  it, line 1 otherwise.  lint_format.c prints them.
 *
 *	  Exit status: 1 when an unsilenced finding of severity error was
 *	  found; 6 when only warnings were and --fail-on warning; 0 otherwise
 *	  (and always with --fail-on none).
 *
 * client/lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <sys/stat.h>

typedef struct LintTarget
{
	char	   *path;
	Migration  *migration;		/* version, name for allow; NULL fields ok */
	AllowList  *allows;
} LintTarget;

typedef struct FindingList
{
	LintFinding *items;
	int			n;
	int			cap;
} FindingList;

static LintFinding *
push_finding(FindingList *list)
{
	LintFinding *f;

	if (list->n == list->cap)
	{
		list->cap = list->cap ? list->cap * 2 : 64;
		list->items = pg_realloc(list->items, sizeof(LintFinding) * list->cap);
	}
	f = &list->items[list->n++];
	memset(f, 0, sizeof(*f));
	return f;
}

static char *
null_or_copy(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : pg_strdup(PQgetvalue(res, row, col));
}

/* the 1-based line of the character at 1-based position pos of sql */
static int
line_of_position(const char *sql, int pos)
{
	int			line = 1,
				chars = 0;
	const char *p;

	for (p = sql; *p && chars < pos - 1; p++)
	{
		if (((unsigned char) *p & 0xC0) != 0x80)
			chars++;
		if (*p == '\n')
			line++;
	}
	return line;
}

/* errors that stop the lint (not about the SQL being linted) */
static bool
is_server_problem(const char *sqlstate)
{
	return strcmp(sqlstate, "42501") == 0 || strcmp(sqlstate, "42883") == 0 ||
		strcmp(sqlstate, "3F000") == 0 || strncmp(sqlstate, "08", 2) == 0 ||
		strncmp(sqlstate, "57", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
		strcmp(sqlstate, "") == 0;
}

static int
lint_one(PGconn *conn, const ServerFeatures *f, const LintTarget *t, FindingList *out)
{
	char	   *sql = file_read(t->path, NULL);
	const char **elements = NULL;
	int			nallow = 0;
	const char **params;
	int			nparams = 1,
				i;
	PQExpBufferData q;
	PGresult   *res;

	if (sql == NULL)
		return EXIT_USAGE;
	if (t->allows && t->migration)
		nallow = allow_collect(t->allows, t->migration, &elements);
	params = pg_malloc(sizeof(char *) * (1 + nallow));
	params[0] = sql;
	initPQExpBuffer(&q);
	appendPQExpBufferStr(&q, "SELECT statement, rule, severity, lock_mode, relation, message,"
						 " safe_alternative, silenced");
	appendPQExpBufferStr(&q, f->lint_line ? ", line" : ", NULL::integer");
	appendPQExpBufferStr(&q, " FROM steward.migrate_lint(sql => $1");
	if (nallow > 0)
	{
		appendPQExpBufferStr(&q, ", allow => ARRAY[");
		for (i = 0; i < nallow; i++)
		{
			params[nparams] = elements[i];
			appendPQExpBuffer(&q, "%s$%d", i ? ", " : "", ++nparams);
		}
		appendPQExpBufferStr(&q, "]::pg_catalog.text[]");
	}
	appendPQExpBufferStr(&q, ")");
	res = exec_params(conn, q.data, nparams, params);
	termPQExpBuffer(&q);
	if (!result_ok(res))
	{
		const char *state = result_sqlstate(res);
		const char *pos = PQresultErrorField(res, PG_DIAG_INTERNAL_POSITION);
		LintFinding *lf;

		if (is_server_problem(state))
		{
			print_server_error(psprintf("could not lint \"%s\"", t->path), res);
			PQclear(res);
			return EXIT_SERVER;
		}
		if (pos == NULL)
			pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
		lf = push_finding(out);
		lf->file = t->path;
		lf->line = pos ? line_of_position(sql, atoi(pos)) : 1;
		lf->statement = 0;
		lf->rule = pg_strdup("invalid-sql");
		lf->severity = pg_strdup("error");
		lf->message = psprintf("%s (SQLSTATE %s)", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), state);
		PQclear(res);
		free(sql);
		return EXIT_OK;
	}
	for (i = 0; i < PQntuples(res); i++)
	{
		LintFinding *lf = push_finding(out);

		lf->file = t->path;
		lf->statement = atoi(PQgetvalue(res, i, 0));
		lf->rule = null_or_copy(res, i, 1);
		lf->severity = null_or_copy(res, i, 2);
		lf->lock_mode = null_or_copy(res, i, 3);
		lf->relation = null_or_copy(res, i, 4);
		lf->message = null_or_copy(res, i, 5);
		lf->safe_alternative = null_or_copy(res, i, 6);
		lf->silenced = null_or_copy(res, i, 7);
		lf->line = PQgetisnull(res, i, 8) ? 1 : atoi(PQgetvalue(res, i, 8));
	}
	PQclear(res);
	free(sql);
	return EXIT_OK;
}

int
cmd_lint(const ClientOptions *opts, int nargs, char **args)
{
	LintTarget *targets = NULL;
	int			ntargets = 0,
				cap = 0,
				i,
				errors = 0,
				warnings = 0;
	FindingList findings = {NULL, 0, 0};
	PGconn	   *conn;
	ServerFeatures f;
	bool		any_allow = opts->allows.n > 0;
	MigrationSet **sets = pg_malloc0(sizeof(MigrationSet *) * (nargs + 1));
	int			nsets = 0;

	/* collect the files first: a usage error connects to nothing */
	for (i = 0; i < nargs; i++)
	{
		struct stat st;

		if (stat(args[i], &st) != 0)
			fail_usage("cannot lint \"%s\": %s", args[i], strerror(errno));
		if (S_ISDIR(st.st_mode))
		{
			MigrationSet *set = pg_malloc0(sizeof(MigrationSet));
			AllowList  *allows = pg_malloc0(sizeof(AllowList));
			int			j;

			if (!layout_scan(args[i], opts->layout, set))
				exit(EXIT_USAGE);
			sets[nsets++] = set;
			allow_copy(allows, &opts->allows);
			if (!accept_file_load(args[i], allows))
				exit(EXIT_USAGE);
			any_allow = any_allow || allows->n > 0;
			for (j = 0; j < set->n; j++)
			{
				if (set->items[j].skip_reason)
					continue;
				if (ntargets == cap)
				{
					cap = cap * 2 + 16;
					targets = pg_realloc(targets, sizeof(LintTarget) * cap);
				}
				targets[ntargets].path = set->items[j].up_path;
				targets[ntargets].migration = &set->items[j];
				targets[ntargets].allows = allows;
				ntargets++;
			}
		}
		else
		{
			Migration  *m = pg_malloc0(sizeof(Migration));
			const char *base = strrchr(args[i], '/');
			char	   *stem;

			base = base ? base + 1 : args[i];
			stem = pg_strdup(base);
			if (strlen(stem) > 4 && strcmp(stem + strlen(stem) - 4, ".sql") == 0)
				stem[strlen(stem) - 4] = '\0';
			m->name = stem;
			m->version = stem;
			if (ntargets == cap)
			{
				cap = cap * 2 + 16;
				targets = pg_realloc(targets, sizeof(LintTarget) * cap);
			}
			targets[ntargets].path = args[i];
			targets[ntargets].migration = m;
			targets[ntargets].allows = (AllowList *) &opts->allows;
			ntargets++;
		}
	}

	conn = client_connect(opts);
	if (!server_features(conn, &f))
		return EXIT_SERVER;
	if (any_allow && !f.lint_allow)
	{
		fprintf(stderr, "%s: accepting findings (--allow, steward-accept.txt) needs the argument allow of "
				"steward.migrate_lint, which pg_steward %s in this database lacks\n",
				progname, f.extversion);
		return EXIT_SERVER;
	}
	/* a folder's migrations get their versions as deploy gives them */
	for (i = 0; i < nsets; i++)
		if (!naming_resolve(conn, &f, sets[i]))
			return EXIT_SERVER;
	for (i = 0; i < ntargets; i++)
	{
		int			rc;

		if (targets[i].migration->version == NULL)
			targets[i].migration->version = targets[i].migration->name;
		rc = lint_one(conn, &f, &targets[i], &findings);
		if (rc != EXIT_OK)
			return rc;
	}
	PQfinish(conn);

	lint_format_print(opts->format, findings.items, findings.n, ntargets);
	for (i = 0; i < findings.n; i++)
	{
		if (findings.items[i].silenced)
			continue;
		if (strcmp(findings.items[i].severity, "error") == 0)
			errors++;
		else if (strcmp(findings.items[i].severity, "warning") == 0)
			warnings++;
	}
	if (opts->fail_on == FAIL_ON_NONE)
		return EXIT_OK;
	if (errors)
		return EXIT_FINDINGS;
	if (warnings && opts->fail_on == FAIL_ON_WARNING)
		return EXIT_WARNINGS;
	return EXIT_OK;
}
