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
 * An acceptance given with a migration (the allow argument of
 * migrate_apply and migrate_lint) is the same "<rule-id>
 * <reason>" without the marker, and silences its rule on every statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

#include "pg_steward.h"
#include "review/review.h"

#define SILENCE_MARK "steward:allow"

/*
 * A reason is kept up to this many bytes: every finding it silences shows
 * it (in migrate_lint's rows and in the recorded review).
 */
#define SILENCE_REASON_LEN 256

/* at most this many acceptances are given with one migration */
#define ALLOW_MAX_ITEMS 1000

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

/*
 * The acceptances of an allow argument (text[], NULL for none) as
 * LintSilence items.  Each element is "<rule-id> <reason>"; an element
 * that is NULL or blank, names no rule or gives no reason is refused.
 */
List *
steward_lint_parse_allow(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (arr == NULL)
		return NIL;
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("allow must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > ALLOW_MAX_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("allow has %d elements, at most %d", n, ALLOW_MAX_ITEMS)));
	for (int i = 0; i < n; i++)
	{
		LintSilence *sil = palloc0(sizeof(LintSilence));
		char	   *item;
		const char *p;
		const char *start;
		const char *end;

		CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("allow must not contain NULL")));
		item = TextDatumGetCString(elems[i]);
		for (p = item; isspace((unsigned char) *p); p++)
			;
		if (*p == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("allow element %d is empty", i + 1),
					 errhint("Write each element as \"<rule> <reason>\".")));
		start = p;
		while (*p && !isspace((unsigned char) *p))
			p++;
		sil->rule = asc_tolower(start, p - start);
		if (steward_lint_rule(sil->rule) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("allow element %d names no lint rule: \"%s\"", i + 1,
							steward_shown_text(sil->rule, -1, 64)),
					 errhint("migrate_lint_rules() lists the rules.")));
		while (isspace((unsigned char) *p))
			p++;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char) end[-1]))
			end--;
		if (end == p)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("allow element %d gives no reason for %s", i + 1, sil->rule),
					 errhint("Write each element as \"<rule> <reason>\"; the reason is recorded with the migration.")));
		sil->reason = steward_shown_text(p, end - p, SILENCE_REASON_LEN);
		result = lappend(result, sil);
	}
	return result;
}
