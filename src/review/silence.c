/*-------------------------------------------------------------------------
 *
 * silence.c
 *	  What the parser drops but the lint needs: silence comments and
 *	  identifiers longer than PostgreSQL keeps.
 *
 * A small scanner walks a statement's text (which, as raw_parser splits a
 * migration, includes the comments between the previous ';' and the
 * statement) and skips string literals, quoted identifiers and
 * dollar-quoted bodies, so that neither a comment marker nor a long word
 * inside a string counts.
 *
 * A silence comment reads
 *		-- steward:allow <rule-id> <reason>
 * or the same inside a block comment.  The reason runs to the end of the
 * line or to the next mark, and is kept up to SILENCE_REASON_LEN bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/formatting.h"

#include "pg_steward.h"
#include "review/review.h"

#define SILENCE_MARK "steward:allow"

/*
 * A reason is kept up to this many bytes: every finding it silences shows
 * it (in migrate_lint's rows and in the recorded review).
 */
#define SILENCE_REASON_LEN 256

typedef struct Scan
{
	List	   *comments;		/* char *, the text of each comment */
	List	   *long_idents;	/* char *, identifiers over NAMEDATALEN - 1 */
} Scan;

static bool
ident_start(char c)
{
	return isalpha((unsigned char) c) || c == '_' || IS_HIGHBIT_SET(c);
}

static bool
ident_char(char c)
{
	return ident_start(c) || isdigit((unsigned char) c) || c == '$';
}

/* Length of a dollar-quote tag ("$tag$" or "$$") at p, 0 if none. */
static int
dollar_tag_len(const char *p)
{
	const char *q = p + 1;

	if (*q == '$')
		return 2;
	if (!ident_start(*q))
		return 0;
	while (ident_char(*q) && *q != '$')
		q++;
	return *q == '$' ? (int) (q - p + 1) : 0;
}

static void
scan_text(const char *text, Scan *sc)
{
	const char *p = text;

	while (*p)
	{
		if (p[0] == '-' && p[1] == '-')
		{
			const char *start = p + 2;

			while (*p && *p != '\n')
				p++;
			sc->comments = lappend(sc->comments, pnstrdup(start, p - start));
		}
		else if (p[0] == '/' && p[1] == '*')
		{
			const char *start = p + 2;
			int			depth = 1;

			p += 2;
			while (*p && depth > 0)
			{
				if (p[0] == '/' && p[1] == '*')
					depth++, p += 2;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p += 2;
				else
					p++;
			}
			sc->comments = lappend(sc->comments,
								   pnstrdup(start, (p - start) - (depth == 0 ? 2 : 0)));
		}
		else if (*p == '\'')
		{
			/* E'...' only when the E stands alone (not the end of LIKE) */
			bool		escapes = p > text && (p[-1] == 'E' || p[-1] == 'e') &&
				(p - 1 == text || !ident_char(p[-2]));

			p++;
			while (*p)
			{
				if (escapes && *p == '\\' && p[1])
					p += 2;
				else if (*p == '\'' && p[1] == '\'')
					p += 2;
				else if (*p == '\'')
				{
					p++;
					break;
				}
				else
					p++;
			}
		}
		else if (*p == '"')
		{
			StringInfoData id;

			initStringInfo(&id);
			p++;
			while (*p)
			{
				if (*p == '"' && p[1] == '"')
					appendStringInfoChar(&id, '"'), p += 2;
				else if (*p == '"')
				{
					p++;
					break;
				}
				else
					appendStringInfoChar(&id, *p++);
			}
			if (id.len > NAMEDATALEN - 1)
				sc->long_idents = lappend(sc->long_idents, id.data);
		}
		else if (*p == '$' && dollar_tag_len(p) > 0)
		{
			int			taglen = dollar_tag_len(p);
			char	   *tag = pnstrdup(p, taglen);
			const char *end = strstr(p + taglen, tag);

			p = end ? end + taglen : p + strlen(p);
		}
		else if (ident_start(*p))
		{
			const char *start = p;

			while (ident_char(*p))
				p++;
			if (p - start > NAMEDATALEN - 1)
				sc->long_idents = lappend(sc->long_idents, pnstrdup(start, p - start));
		}
		else
			p++;
	}
}

/*
 * The silence comments of a statement's text.  Rule ids are compared
 * case-insensitively, so they are returned lower-cased.
 */
List *
steward_lint_silences(const char *text)
{
	Scan		sc = {NIL, NIL};
	List	   *result = NIL;
	ListCell   *lc;

	scan_text(text, &sc);
	foreach(lc, sc.comments)
	{
		const char *orig = (const char *) lfirst(lc);
		char	   *lower = asc_tolower(orig, strlen(orig));
		const char *c = lower;
		const char *m;

		CHECK_FOR_INTERRUPTS();
		/* the marker in any letter case; the reason as written */
		while ((m = strstr(c, SILENCE_MARK)) != NULL)
		{
			LintSilence *s = palloc0(sizeof(LintSilence));
			const char *p = m + strlen(SILENCE_MARK);
			const char *start;
			const char *next;

			CHECK_FOR_INTERRUPTS();
			while (*p == ' ' || *p == '\t')
				p++;
			start = p;
			while (*p && !isspace((unsigned char) *p))
				p++;
			s->rule = asc_tolower(start, p - start);
			while (*p == ' ' || *p == '\t')
				p++;
			/* the reason runs to the end of the line or the next mark */
			next = strstr(p, SILENCE_MARK);
			{
				const char *end = p;

				while (*end && *end != '\n' && (next == NULL || end < next))
					end++;
				while (end > p && isspace((unsigned char) end[-1]))
					end--;
				if (end > p)
					s->reason = steward_shown_text(orig + (p - lower), end - p,
												   SILENCE_REASON_LEN);
			}
			result = lappend(result, s);
			c = next ? next : p + strlen(p);
		}
	}
	return result;
}

/* Identifiers in the text that PostgreSQL will truncate. */
List *
steward_long_identifiers(const char *text)
{
	Scan		sc = {NIL, NIL};

	scan_text(text, &sc);
	return sc.long_idents;
}
