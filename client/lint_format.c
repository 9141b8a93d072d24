/*-------------------------------------------------------------------------
 *
 * lint_format.c
 *	  The output formats of "lint": text for people, json, sarif (SARIF
 *	  2.1.0, for code scanning) and github (GitHub Actions workflow
 *	  commands, ::error file=…,line=…::message, which annotate the diff).
 *
 * client/lint_format.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

bool
lint_format_known(const char *format)
{
	return strcmp(format, "text") == 0 || strcmp(format, "json") == 0 ||
		strcmp(format, "sarif") == 0 || strcmp(format, "github") == 0;
}

static void
count(const LintFinding *f, int n, int *errors, int *warnings, int *infos, int *silenced)
{
	int			i;

	*errors = *warnings = *infos = *silenced = 0;
	for (i = 0; i < n; i++)
	{
		if (f[i].silenced)
			(*silenced)++;
		else if (strcmp(f[i].severity, "error") == 0)
			(*errors)++;
		else if (strcmp(f[i].severity, "warning") == 0)
			(*warnings)++;
		else
			(*infos)++;
	}
}

static void
print_text(const LintFinding *f, int n, int nfiles)
{
	int			i,
				errors,
				warnings,
				infos,
				silenced;

	for (i = 0; i < n; i++)
	{
		printf("%s:%d: %s%s: %s: %s", f[i].file, f[i].line, f[i].silenced ? "silenced " : "",
			   f[i].severity, f[i].rule, f[i].message ? f[i].message : "");
		if (f[i].relation)
			printf(" [%s]", f[i].relation);
		putchar('\n');
		if (f[i].silenced)
			printf("    reason: %s\n", f[i].silenced);
		else if (f[i].safe_alternative && strcmp(f[i].severity, "info") != 0)
			printf("    instead: %s\n", f[i].safe_alternative);
	}
	count(f, n, &errors, &warnings, &infos, &silenced);
	printf("lint: %d file%s, %d error%s, %d warning%s, %d info%s, %d silenced\n",
		   nfiles, nfiles == 1 ? "" : "s", errors, errors == 1 ? "" : "s",
		   warnings, warnings == 1 ? "" : "s", infos, infos == 1 ? "" : "s", silenced);
}

static void
append_finding_json(PQExpBuffer b, const LintFinding *f)
{
	appendPQExpBufferStr(b, "{\"file\": ");
	append_json_string(b, f->file);
	appendPQExpBuffer(b, ", \"line\": %d, \"statement\": %d, \"rule\": ", f->line, f->statement);
	append_json_string(b, f->rule);
	appendPQExpBufferStr(b, ", \"severity\": ");
	append_json_string(b, f->severity);
	appendPQExpBufferStr(b, ", \"lock_mode\": ");
	append_json_string(b, f->lock_mode);
	appendPQExpBufferStr(b, ", \"relation\": ");
	append_json_string(b, f->relation);
	appendPQExpBufferStr(b, ", \"message\": ");
	append_json_string(b, f->message);
	appendPQExpBufferStr(b, ", \"safe_alternative\": ");
	append_json_string(b, f->safe_alternative);
	appendPQExpBufferStr(b, ", \"silenced\": ");
	append_json_string(b, f->silenced);
	appendPQExpBufferChar(b, '}');
}

static void
print_json(const LintFinding *f, int n, int nfiles)
{
	PQExpBufferData b;
	int			i,
				errors,
				warnings,
				infos,
				silenced;

	count(f, n, &errors, &warnings, &infos, &silenced);
	initPQExpBuffer(&b);
	appendPQExpBuffer(&b, "{\"files\": %d, \"errors\": %d, \"warnings\": %d, \"infos\": %d, "
					  "\"silenced\": %d, \"findings\": [", nfiles, errors, warnings, infos, silenced);
	for (i = 0; i < n; i++)
	{
		appendPQExpBufferStr(&b, i ? ",\n  " : "\n  ");
		append_finding_json(&b, &f[i]);
	}
	appendPQExpBufferStr(&b, n ? "\n]}" : "]}");
	puts(b.data);
	termPQExpBuffer(&b);
}

static const char *
sarif_level(const char *severity)
{
	if (strcmp(severity, "error") == 0)
		return "error";
	if (strcmp(severity, "warning") == 0)
		return "warning";
	return "note";
}

static void
print_sarif(const LintFinding *f, int n)
{
	PQExpBufferData b;
	int			i,
				j;

	initPQExpBuffer(&b);
	appendPQExpBufferStr(&b,
						 "{\"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
						 " \"version\": \"2.1.0\",\n"
						 " \"runs\": [{\"tool\": {\"driver\": {\"name\": \"pg_steward\","
						 " \"informationUri\": \"docs/review.md\", \"rules\": [");
	/* each rule once, in the order first seen */
	for (i = 0, j = 0; i < n; i++)
	{
		int			k;
		bool		seen = false;

		for (k = 0; k < i && !seen; k++)
			seen = strcmp(f[k].rule, f[i].rule) == 0;
		if (seen)
			continue;
		appendPQExpBufferStr(&b, j++ ? ", " : "");
		appendPQExpBufferStr(&b, "{\"id\": ");
		append_json_string(&b, f[i].rule);
		appendPQExpBufferChar(&b, '}');
	}
	appendPQExpBufferStr(&b, "]}},\n  \"results\": [");
	for (i = 0; i < n; i++)
	{
		appendPQExpBufferStr(&b, i ? ",\n   " : "\n   ");
		appendPQExpBufferStr(&b, "{\"ruleId\": ");
		append_json_string(&b, f[i].rule);
		appendPQExpBuffer(&b, ", \"level\": \"%s\", \"message\": {\"text\": ", sarif_level(f[i].severity));
		if (f[i].safe_alternative)
			append_json_string(&b, psprintf("%s. Instead: %s", f[i].message, f[i].safe_alternative));
		else
			append_json_string(&b, f[i].message);
		appendPQExpBufferStr(&b, "}, \"locations\": [{\"physicalLocation\": {\"artifactLocation\": {\"uri\": ");
		append_json_string(&b, f[i].file);
		appendPQExpBuffer(&b, "}, \"region\": {\"startLine\": %d}}}]", f[i].line);
		if (f[i].silenced)
		{
			appendPQExpBufferStr(&b, ", \"suppressions\": [{\"kind\": \"inSource\", \"justification\": ");
			append_json_string(&b, f[i].silenced);
			appendPQExpBufferStr(&b, "}]");
		}
		appendPQExpBufferChar(&b, '}');
	}
	appendPQExpBufferStr(&b, n ? "\n  ]}]}" : "]}]}");
	puts(b.data);
	termPQExpBuffer(&b);
}

/* a workflow command's data (props: also its property values) */
static void
print_github_escaped(const char *s, bool property)
{
	for (; s && *s; s++)
	{
		if (*s == '%')
			fputs("%25", stdout);
		else if (*s == '\r')
			fputs("%0D", stdout);
		else if (*s == '\n')
			fputs("%0A", stdout);
		else if (property && *s == ':')
			fputs("%3A", stdout);
		else if (property && *s == ',')
			fputs("%2C", stdout);
		else
			putchar(*s);
	}
}

static void
print_github(const LintFinding *f, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		const char *cmd;

		if (f[i].silenced)
			continue;
		cmd = strcmp(f[i].severity, "error") == 0 ? "error" :
			strcmp(f[i].severity, "warning") == 0 ? "warning" : "notice";
		printf("::%s file=", cmd);
		print_github_escaped(f[i].file, true);
		printf(",line=%d,title=", f[i].line);
		print_github_escaped(psprintf("pg_steward %s", f[i].rule), true);
		fputs("::", stdout);
		print_github_escaped(f[i].message, false);
		if (f[i].safe_alternative && strcmp(cmd, "notice") != 0)
		{
			fputs("%0AInstead: ", stdout);
			print_github_escaped(f[i].safe_alternative, false);
		}
		putchar('\n');
	}
}

void
lint_format_print(const char *format, const LintFinding *f, int n, int nfiles)
{
	if (strcmp(format, "json") == 0)
		print_json(f, n, nfiles);
	else if (strcmp(format, "sarif") == 0)
		print_sarif(f, n);
	else if (strcmp(format, "github") == 0)
		print_github(f, n);
	else
		print_text(f, n, nfiles);
	fflush(stdout);
}
