/*-------------------------------------------------------------------------
 *
 * json.c
 *	  A strict reader of the flat JSON documents the ledger commands read
 *	  without a server: digests, receipts and consistency proofs
 *	  (docs/audit.md).  libpq has no JSON parser.
 *
 * A document is one JSON object (RFC 8259) whose values are strings,
 * non-negative integers of up to 18 digits, true, false, null, or arrays
 * of strings; anything else (nested objects, fractions, exponents,
 * negative numbers, a key given twice, invalid UTF-8, \u0000, text after
 * the object) is refused with the byte offset where it was found.  The
 * caller bounds the size of what it reads.
 *
 * client/json.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include "mb/pg_wchar.h"

typedef struct JsonReader
{
	const char *start;
	const char *p;
	const char *end;
	PQExpBuffer error;
} JsonReader;

static bool
fail(JsonReader *r, const char *what)
{
	appendPQExpBuffer(r->error, "at byte %ld: %s", (long) (r->p - r->start), what);
	return false;
}

static void
skip_space(JsonReader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* the four hex digits after \u */
static bool
read_u4(JsonReader *r, pg_wchar *out)
{
	pg_wchar	v = 0;

	if (r->end - r->p < 4)
		return fail(r, "a \\u escape needs four hex digits");
	for (int i = 0; i < 4; i++)
	{
		int			d = hex_value(r->p[i]);

		if (d < 0)
			return fail(r, "a \\u escape needs four hex digits");
		v = v * 16 + d;
	}
	r->p += 4;
	*out = v;
	return true;
}

/* a string, r->p at its opening quote; the decoded UTF-8 goes to out */
static bool
read_string(JsonReader *r, PQExpBuffer out)
{
	r->p++;
	for (;;)
	{
		unsigned char c;

		if (r->p >= r->end)
			return fail(r, "the string does not end");
		c = (unsigned char) *r->p;
		if (c == '"')
		{
			r->p++;
			return true;
		}
		if (c < 0x20)
			return fail(r, "a control character in a string (escape it)");
		if (c == '\\')
		{
			if (r->end - r->p < 2)
				return fail(r, "the string does not end");
			r->p++;
			switch (*r->p++)
			{
				case '"':
					appendPQExpBufferChar(out, '"');
					break;
				case '\\':
					appendPQExpBufferChar(out, '\\');
					break;
				case '/':
					appendPQExpBufferChar(out, '/');
					break;
				case 'b':
					appendPQExpBufferChar(out, '\b');
					break;
				case 'f':
					appendPQExpBufferChar(out, '\f');
					break;
				case 'n':
					appendPQExpBufferChar(out, '\n');
					break;
				case 'r':
					appendPQExpBufferChar(out, '\r');
					break;
				case 't':
					appendPQExpBufferChar(out, '\t');
					break;
				case 'u':
					{
						pg_wchar	cp;
						pg_wchar	low;
						unsigned char utf8[4];

						if (!read_u4(r, &cp))
							return false;
						if (cp >= 0xDC00 && cp <= 0xDFFF)
							return fail(r, "a \\u escape of a low surrogate without its high one");
						if (cp >= 0xD800 && cp <= 0xDBFF)
						{
							if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
								return fail(r, "a \\u escape of a high surrogate without its low one");
							r->p += 2;
							if (!read_u4(r, &low))
								return false;
							if (low < 0xDC00 || low > 0xDFFF)
								return fail(r, "a \\u escape of a high surrogate without its low one");
							cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
						}
						if (cp == 0)
							return fail(r, "\\u0000 is not accepted");
						unicode_to_utf8(cp, utf8);
						appendBinaryPQExpBuffer(out, (char *) utf8, pg_utf_mblen(utf8));
						break;
					}
				default:
					r->p--;
					return fail(r, "an unknown escape in a string");
			}
			continue;
		}
		if (c < 0x80)
		{
			appendPQExpBufferChar(out, (char) c);
			r->p++;
		}
		else
		{
			int			l = pg_utf_mblen((const unsigned char *) r->p);

			if (l > r->end - r->p || !pg_utf8_islegal((const unsigned char *) r->p, l))
				return fail(r, "invalid UTF-8 in a string");
			appendBinaryPQExpBuffer(out, r->p, l);
			r->p += l;
		}
	}
}

/* a string value: pg_malloc'd copy, its length in *len */
static bool
read_string_value(JsonReader *r, char **s, size_t *len)
{
	PQExpBufferData buf;

	initPQExpBuffer(&buf);
	if (!read_string(r, &buf))
	{
		termPQExpBuffer(&buf);
		return false;
	}
	if (PQExpBufferBroken(&buf))
		return fail(r, "out of memory");
	*s = buf.data;
	*len = buf.len;
	return true;
}

static bool
read_integer(JsonReader *r, JsonMember *m)
{
	const char *digits = r->p;
	size_t		n;

	if (*r->p == '-')
		return fail(r, "a negative number (only integers from 0 are accepted)");
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	n = r->p - digits;
	if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
		return fail(r, "a number that is not an integer");
	if (n > 1 && digits[0] == '0')
		return fail(r, "a number with a leading zero");
	if (n > 18)
		return fail(r, "a number of more than 18 digits");
	m->kind = JSON_INTEGER;
	m->str = pnstrdup(digits, n);
	m->len = n;
	m->integer = strtoi64(m->str, NULL, 10);
	return true;
}

static bool
read_literal(JsonReader *r, const char *word)
{
	size_t		n = strlen(word);

	if ((size_t) (r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return fail(r, "expected a string, an integer, true, false, null or an array of strings");
	r->p += n;
	return true;
}

static bool
read_array(JsonReader *r, JsonMember *m)
{
	int			cap = 8;

	m->kind = JSON_ARRAY;
	m->items = pg_malloc(sizeof(char *) * cap);
	m->nitems = 0;
	r->p++;
	skip_space(r);
	if (r->p < r->end && *r->p == ']')
	{
		r->p++;
		return true;
	}
	for (;;)
	{
		size_t		len;

		skip_space(r);
		if (r->p >= r->end || *r->p != '"')
			return fail(r, "expected a string (arrays hold strings only)");
		if (m->nitems == cap)
		{
			cap *= 2;
			m->items = pg_realloc(m->items, sizeof(char *) * cap);
		}
		if (!read_string_value(r, &m->items[m->nitems], &len))
			return false;
		m->nitems++;
		skip_space(r);
		if (r->p < r->end && *r->p == ',')
		{
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == ']')
		{
			r->p++;
			return true;
		}
		return fail(r, "expected , or ] in an array");
	}
}

static bool
read_value(JsonReader *r, JsonMember *m)
{
	if (r->p >= r->end)
		return fail(r, "expected a value");
	switch (*r->p)
	{
		case '"':
			m->kind = JSON_STRING;
			return read_string_value(r, &m->str, &m->len);
		case '[':
			return read_array(r, m);
		case 't':
			m->kind = JSON_BOOL;
			m->boolean = true;
			return read_literal(r, "true");
		case 'f':
			m->kind = JSON_BOOL;
			m->boolean = false;
			return read_literal(r, "false");
		case 'n':
			m->kind = JSON_NULL;
			return read_literal(r, "null");
		case '{':
			return fail(r, "a nested object");
		default:
			if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
				return read_integer(r, m);
			return fail(r, "expected a string, an integer, true, false, null or an array of strings");
	}
}

/*
 * Read text (len bytes) as one flat JSON object into obj.  False, with
 * the reason appended to error, when it is not one.
 */
bool
json_read_object(const char *text, size_t len, JsonObject *obj, PQExpBuffer error)
{
	JsonReader	r = {text, text, text + len, error};
	int			cap = 16;

	obj->n = 0;
	obj->members = pg_malloc0(sizeof(JsonMember) * cap);
	skip_space(&r);
	if (r.p >= r.end || *r.p != '{')
		return fail(&r, "expected a JSON object");
	r.p++;
	skip_space(&r);
	if (r.p < r.end && *r.p == '}')
		r.p++;
	else
		for (;;)
		{
			JsonMember *m;
			size_t		keylen;

			skip_space(&r);
			if (r.p >= r.end || *r.p != '"')
				return fail(&r, "expected a key (a string)");
			if (obj->n == cap)
			{
				cap *= 2;
				obj->members = pg_realloc(obj->members, sizeof(JsonMember) * cap);
			}
			m = &obj->members[obj->n];
			memset(m, 0, sizeof(*m));
			if (!read_string_value(&r, &m->key, &keylen))
				return false;
			if (json_member(obj, m->key) != NULL)
			{
				appendPQExpBuffer(error, "the key \"%s\" appears twice", m->key);
				return false;
			}
			skip_space(&r);
			if (r.p >= r.end || *r.p != ':')
				return fail(&r, "expected : after a key");
			r.p++;
			skip_space(&r);
			if (!read_value(&r, m))
				return false;
			obj->n++;
			skip_space(&r);
			if (r.p < r.end && *r.p == ',')
			{
				r.p++;
				continue;
			}
			if (r.p < r.end && *r.p == '}')
			{
				r.p++;
				break;
			}
			return fail(&r, "expected , or } after a value");
		}
	skip_space(&r);
	if (r.p != r.end)
		return fail(&r, "text after the object");
	return true;
}

/* the member named key, or NULL */
const JsonMember *
json_member(const JsonObject *obj, const char *key)
{
	for (int i = 0; i < obj->n; i++)
		if (strcmp(obj->members[i].key, key) == 0)
			return &obj->members[i];
	return NULL;
}
