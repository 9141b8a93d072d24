/*-------------------------------------------------------------------------
 *
 * args.c
 *	  Argument and environment checks shared by the public functions.
 *
 * Bad input gets a clear error before anything is changed: NULL or empty
 * required arguments, over-long values, versions with characters outside
 * a safe set, out-of-range timeouts, calls on a standby or in a read-only
 * transaction, and SQL given as an argument that does not parse (its
 * syntax error points into that SQL).
 *
 * Text of unbounded size that pg_steward shows back (a statement in an
 * error, a finding's statement, a silence's reason) is cut to a bound
 * first, by steward_shown_text().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "datatype/timestamp.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg_steward.h"

/*
 * Refuse to write on a standby or in a read-only transaction.
 */
void
steward_require_read_write(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s during recovery", what),
				 errhint("Connect to the primary server.")));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s in a read-only transaction", what)));
}

/*
 * Refuse a REPEATABLE READ or SERIALIZABLE transaction: fn (the SQL
 * function's name) records or reads what transactions of its own commit,
 * which such a snapshot cannot see.  The one rule for migrate_apply,
 * migrate_rollback and audit_seal.
 */
void
steward_require_read_committed(const char *fn)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s requires the READ COMMITTED isolation level", fn),
				 errdetail("It depends on what other transactions commit while it runs, which a REPEATABLE READ or SERIALIZABLE snapshot cannot see.")));
}

/* The version alphabet: letters, digits, '_', '.' and '-'. */
static inline bool
version_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/*
 * A migration version: at least one and at most STEWARD_MAX_VERSION_LEN
 * bytes of letters, digits, '_', '.' and '-'.  Versions compare as text in
 * the "C" collation, so zero-padded numbers and timestamps sort as
 * expected.  Returns NULL for a valid version, else what is wrong with it;
 * *position is set to the 1-based position of an invalid character (0 when
 * the problem is the length).  The one definition of a valid version:
 * steward_check_version and steward.version_problem() (migrate_import) use
 * it.
 */
const char *
steward_version_problem(const char *v, size_t len, size_t *position)
{
	*position = 0;
	if (len == 0)
		return "empty";
	if (len > STEWARD_MAX_VERSION_LEN)
		return psprintf("%zu characters, at most %d", len, STEWARD_MAX_VERSION_LEN);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) v[i];

		if (!version_char(c))
		{
			*position = i + 1;
			return "only letters, digits, \"_\", \".\" and \"-\" are allowed";
		}
	}
	return NULL;
}

char *
steward_check_version(const char *argname, text *version)
{
	char	   *v;
	size_t		len;
	size_t		position;
	const char *problem;

	if (version == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));

	v = text_to_cstring(version);
	len = strlen(v);
	problem = steward_version_problem(v, len, &position);
	if (problem == NULL)
		return v;
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname)));
	if (position == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", argname),
				 errdetail("A version has at most %d characters; this one has %zu.",
						   STEWARD_MAX_VERSION_LEN, len)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s contains an invalid character at position %zu", argname, position),
			 errdetail("A version consists of letters, digits, \"_\", \".\" and \"-\"."),
			 errhint("Timestamps such as 20260115_add_notifications sort as expected.")));
	return NULL;				/* not reached */
}

PG_FUNCTION_INFO_V1(steward_version_problem_sql);

/*
 * steward.version_problem(version text): NULL for a valid version, else
 * "not a valid pg_steward version: <why>" (migrate_import's note).
 */
Datum
steward_version_problem_sql(PG_FUNCTION_ARGS)
{
	text	   *t;
	char	   *v;
	size_t		position;
	const char *problem;

	if (PG_ARGISNULL(0))
		PG_RETURN_TEXT_P(cstring_to_text("not a valid pg_steward version: empty"));
	t = PG_GETARG_TEXT_PP(0);
	v = text_to_cstring(t);
	problem = steward_version_problem(v, strlen(v), &position);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("not a valid pg_steward version: %s", problem)));
}

PG_FUNCTION_INFO_V1(steward_version_from_name);

/*
 * steward.version_from_name(name text): the version a migration folder or
 * file name maps to (the client's deploy and migrate_import use this one
 * rule).  Each maximal run of bytes outside the version alphabet (letters,
 * digits, '_', '.', '-') becomes one '_'; everything else is kept as it
 * is, so a name that already is a valid version maps to itself.  A result
 * longer than STEWARD_MAX_VERSION_LEN is returned as it is, for
 * migrate_apply to refuse with its own message.  An empty name is refused.
 */
Datum
steward_version_from_name(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *name = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	StringInfoData out;
	bool		in_run = false;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name must not be empty")));

	initStringInfo(&out);
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];
		if (version_char(c))
		{
			appendStringInfoChar(&out, (char) c);
			in_run = false;
		}
		else if (!in_run)
		{
			appendStringInfoChar(&out, '_');
			in_run = true;
		}
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * An optional text argument: NULL stays NULL, an empty or blank string is
 * refused (pass NULL instead), and at most maxlen bytes (0: no limit).
 */
char *
steward_optional_text(text *t, const char *argname, int maxlen)
{
	char	   *s;
	size_t		len;
	bool		blank = true;

	if (t == NULL)
		return NULL;

	s = text_to_cstring(t);
	len = strlen(s);
	for (size_t i = 0; i < len && blank; i++)
		blank = (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r');
	if (blank)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname),
				 errhint("Pass NULL to leave it out.")));
	if (maxlen > 0 && len > (size_t) maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", argname),
				 errdetail("The limit is %d bytes; this value has %zu.", maxlen, len)));
	return s;
}

/*
 * A timeout given as an interval, in milliseconds.  Month and year parts
 * are refused (their length varies); the result fits in an int.
 */
int
steward_interval_to_ms(Interval *iv, const char *argname, bool allow_zero)
{
	int64		ms;

	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not contain months or years", argname)));
	if (iv->time < 0 || iv->day < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname)));
	if (iv->day > 24)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too large", argname),
				 errdetail("The limit is 24 days.")));

	ms = iv->time / 1000 + (int64) iv->day * 86400000;
	if (ms > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too large", argname),
				 errdetail("The limit is 24 days.")));
	if (ms == 0 && !allow_zero)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1 millisecond", argname),
				 errhint("Waiting for a lock without a time limit is never allowed.")));
	return (int) ms;
}

/*
 * An optional interval argument of a C function, in milliseconds (NULL:
 * dflt).
 */
int
steward_interval_arg_ms(FunctionCallInfo fcinfo, int n, const char *argname,
						int dflt, bool allow_zero)
{
	if (PG_ARGISNULL(n))
		return dflt;
	return steward_interval_to_ms(PG_GETARG_INTERVAL_P(n), argname, allow_zero);
}

/* Does the current user own the table? */
bool
steward_owns_relation(Oid relid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, GetUserId());
#else
	return pg_class_ownercheck(relid, GetUserId());
#endif
}

typedef struct SqlArgContext
{
	const char *sql;
	const char *what;
} SqlArgContext;

/*
 * A syntax error's position points into the SQL given as an argument, not
 * into the caller's query: report it as an internal query, as PL/pgSQL does.
 */
static void
sql_arg_error_context(void *arg)
{
	SqlArgContext *c = (SqlArgContext *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(c->sql);
	}
	errcontext("%s", c->what);
}

/* raw_parser() of SQL given as an argument; what names it in errors. */
List *
steward_parse_sql_arg(const char *sql, const char *what)
{
	SqlArgContext c = {sql, what};
	ErrorContextCallback errcb;
	List	   *raw;

	errcb.callback = sql_arg_error_context;
	errcb.arg = &c;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	error_context_stack = errcb.previous;
	return raw;
}

/*
 * Parse analysis of SQL given as an argument (one statement), with the same
 * error reporting: checks names and types, runs nothing.
 */
Query *
steward_analyze_sql_arg(const char *sql, const char *what)
{
	SqlArgContext c = {sql, what};
	ErrorContextCallback errcb;
	List	   *raw;
	Query	   *query;

	errcb.callback = sql_arg_error_context;
	errcb.arg = &c;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a single statement", what)));
	query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, NULL, 0, NULL);
	error_context_stack = errcb.previous;
	return query;
}

/*
 * At most maxbytes bytes of text (len bytes long, or NUL-terminated when len
 * is negative), cut at a character boundary and followed by "..." when cut.
 * Reads no further than it shows, so showing a bounded part of a huge text
 * costs the bound, not the text.
 */
char *
steward_shown_text(const char *text, int len, int maxbytes)
{
	if (len < 0)
		len = (int) strnlen(text, (size_t) maxbytes + 1);
	if (len <= maxbytes)
		return pnstrdup(text, len);
	return psprintf("%.*s...", pg_mbcliplen(text, len, maxbytes), text);
}
