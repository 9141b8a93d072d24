/*-------------------------------------------------------------------------
 *
 * accept.c
 *	  Findings accepted without editing the migration: --allow
 *	  VERSION:RULE --reason TEXT on the command line, and the lines
 *	  "VERSION RULE REASON..." of steward-accept.txt in the migrations
 *	  folder ("#" starts a comment line).  Each becomes an element
 *	  "<rule> <reason>" of migrate_apply's (and migrate_lint's) allow
 *	  argument, which silences that rule for the
 *	  whole migration as a "-- steward:allow <rule> <reason>" comment would.
 *	  VERSION is the migration's version or its folder or file name; "*"
 *	  matches every migration.
 *
 * client/accept.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#define ACCEPT_FILE "steward-accept.txt"

static AllowEntry *
allow_push(AllowList *list)
{
	AllowEntry *e;

	if (list->n == list->cap)
	{
		list->cap = list->cap ? list->cap * 2 : 8;
		list->items = pg_realloc(list->items, sizeof(AllowEntry) * list->cap);
	}
	e = &list->items[list->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static bool
is_blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

/* --allow VERSION:RULE; the reason comes with the next --reason */
bool
allow_add_option(AllowList *list, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	AllowEntry *e;

	if (colon == NULL || colon == arg || colon[1] == '\0' || strchr(colon + 1, ' '))
		return false;
	e = allow_push(list);
	e->version = pnstrdup(arg, colon - arg);
	e->rule = pg_strdup(colon + 1);
	e->origin = pg_strdup("--allow");
	return true;
}

bool
allow_set_reason(AllowList *list, const char *reason)
{
	if (list->n == 0 || list->items[list->n - 1].reason != NULL || is_blank(reason))
		return false;
	list->items[list->n - 1].reason = pg_strdup(reason);
	return true;
}

bool
allow_check_complete(const AllowList *list)
{
	int			i;

	for (i = 0; i < list->n; i++)
		if (list->items[i].reason == NULL)
			return false;
	return true;
}

void
allow_copy(AllowList *dst, const AllowList *src)
{
	int			i;

	memset(dst, 0, sizeof(*dst));
	for (i = 0; i < src->n; i++)
		*allow_push(dst) = src->items[i];
}

/* next whitespace-separated word of *p, or NULL */
static char *
next_word(char **p)
{
	char	   *s = *p,
			   *start;

	while (*s && isspace((unsigned char) *s))
		s++;
	if (*s == '\0')
		return NULL;
	start = s;
	while (*s && !isspace((unsigned char) *s))
		s++;
	if (*s)
		*s++ = '\0';
	*p = s;
	return start;
}

/*
 * Add the lines of DIR/steward-accept.txt, if there is one.  Prints the
 * faulty line and returns false when a line lacks its rule or reason.
 */
bool
accept_file_load(const char *dir, AllowList *list)
{
	char	   *path = psprintf("%s/%s", dir, ACCEPT_FILE);
	char	   *text;
	char	   *line;
	char	   *next;
	int			lineno = 0;
	FILE	   *probe = fopen(path, "r");

	if (probe == NULL)
	{
		free(path);
		return errno == ENOENT;
	}
	fclose(probe);
	text = file_read(path, NULL);
	if (text == NULL)
		return false;
	for (line = text; line; line = next)
	{
		char	   *p,
				   *version,
				   *rule,
				   *end;
		AllowEntry *e;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		p = line;
		while (*p && isspace((unsigned char) *p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		version = next_word(&p);
		rule = next_word(&p);
		while (*p && isspace((unsigned char) *p))
			p++;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char) end[-1]))
			*--end = '\0';
		if (rule == NULL || *p == '\0')
		{
			fprintf(stderr, "%s: %s:%d: expected \"VERSION RULE REASON...\"\n", progname, path, lineno);
			return false;
		}
		e = allow_push(list);
		e->version = pg_strdup(version);
		e->rule = pg_strdup(rule);
		e->reason = pg_strdup(p);
		e->origin = psprintf("%s:%d", path, lineno);
	}
	free(text);
	free(path);
	return true;
}

/*
 * The allow elements ("<rule> <reason>") that apply to migration m; returns
 * how many, the array in *elements (NULL when none).
 */
int
allow_collect(const AllowList *list, const Migration *m, const char ***elements)
{
	int			i,
				n = 0;

	*elements = NULL;
	for (i = 0; i < list->n; i++)
	{
		const AllowEntry *e = &list->items[i];

		if (strcmp(e->version, "*") != 0 && strcmp(e->version, m->version) != 0 &&
			strcmp(e->version, m->name) != 0)
			continue;
		if (*elements == NULL)
			*elements = pg_malloc(sizeof(char *) * list->n);
		(*elements)[n++] = psprintf("%s %s", e->rule, e->reason);
	}
	return n;
}
