/*-------------------------------------------------------------------------
 *
 * jsontext.c
 *	  The text of a stored jsonb, byte for byte what jsonb's output
 *	  function writes, for the payload commitment.
 *
 * A commitment covers the payload's text (format.c): what JsonbToCString
 * renders.  Verification renders every payload again, and JsonbToCString
 * walks the value with an iterator that copies each string before
 * escaping it; this walks the stored containers directly and appends to
 * the caller's buffer, which it reuses from event to event.  The output is
 * the same, and must stay so: objects as {"key": value, ...}, arrays as
 * [value, ...] (", " and ": " between), a scalar at the top without
 * brackets, strings escaped as escape_json does (and cut at a zero byte,
 * as the copy JsonbToCString escapes is), numbers as numeric_out writes
 * them, true, false and null.  Offsets and lengths are read the way the
 * iterator reads them (a running offset, getJsonbLength for a string's
 * length), so that a damaged value renders as it would there; and a
 * scalar-flagged array inside a value turns off the brackets of every
 * array closed after it, as it does there.  The test suites append
 * payloads of every shape with audit_append (which renders with
 * JsonbToCString) and verify them with this.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "pg_steward.h"
#include "audit/audit.h"

typedef struct JsonText
{
	StringInfo	out;
	bool		raw_scalar;		/* a scalar array was entered */
} JsonText;

static void render_container(JsonText *jt, const JsonbContainer *c);

/* room for n more bytes (and the terminating zero) */
static inline void
reserve(StringInfo out, int n)
{
	if (out->len + n >= out->maxlen)
		enlargeStringInfo(out, n);
}

static inline void
put(StringInfo out, const char *s, int n)
{
	reserve(out, n);
	memcpy(out->data + out->len, s, n);
	out->len += n;
	out->data[out->len] = '\0';
}

/* does any byte of w need escaping (below a space, a quote or a backslash)? */
static inline bool
word_needs_escape(uint64 w)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 highs = UINT64CONST(0x8080808080808080);
	uint64		quote = w ^ (ones * '"');
	uint64		backslash = w ^ (ones * '\\');

	/* exact tests for a byte below 0x20, and for a zero byte in quote and backslash */
	return (((w - ones * 0x20) & ~w) |
			((quote - ones) & ~quote) |
			((backslash - ones) & ~backslash)) & highs;
}

/*
 * As escape_json: quotes, the escapes JSON names, \u00xx for the rest below
 * a space.  One pass, eight bytes at a time where none needs escaping; a
 * zero byte ends the string, as it ends the copy JsonbToCString escapes
 * (made by pnstrdup).
 */
static void
render_string(StringInfo out, const char *s, uint32 len)
{
	static const char hex[] = "0123456789abcdef";
	char	   *o;
	uint32		i = 0;

	/* at most six bytes per byte, two quotes */
	reserve(out, len * 6 + 2);
	o = out->data + out->len;
	*o++ = '"';
	for (;;)
	{
		unsigned char ch;

		while (i + 8 <= len)
		{
			uint64		w;

			memcpy(&w, s + i, 8);
			if (word_needs_escape(w))
				break;
			memcpy(o, &w, 8);
			o += 8;
			i += 8;
		}
		if (i >= len)
			break;
		ch = (unsigned char) s[i++];
		if (ch >= ' ' && ch != '"' && ch != '\\')
		{
			*o++ = (char) ch;
			continue;
		}
		if (ch == '\0')
			break;
		*o++ = '\\';
		switch (ch)
		{
			case '\b':
				*o++ = 'b';
				break;
			case '\f':
				*o++ = 'f';
				break;
			case '\n':
				*o++ = 'n';
				break;
			case '\r':
				*o++ = 'r';
				break;
			case '\t':
				*o++ = 't';
				break;
			case '"':
				*o++ = '"';
				break;
			case '\\':
				*o++ = '\\';
				break;
			default:
				/* "\\u%04x" of a byte below 0x20 */
				memcpy(o, "u00", 3);
				o[3] = hex[ch >> 4];
				o[4] = hex[ch & 0x0F];
				o += 5;
				break;
		}
	}
	*o++ = '"';
	*o = '\0';
	out->len = o - out->data;
}

/* child i of c, whose data starts at base + offset */
static void
render_value(JsonText *jt, const JsonbContainer *c, int i, const char *base, uint32 offset)
{
	JEntry		je = c->children[i];

	if (JBE_ISNULL(je))
		put(jt->out, "null", 4);
	else if (JBE_ISSTRING(je))
		render_string(jt->out, base + offset, getJsonbLength(c, i));
	else if (JBE_ISNUMERIC(je))
	{
		Numeric		num = (Numeric) (base + INTALIGN(offset));
		char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));

		put(jt->out, s, strlen(s));
		pfree(s);
	}
	else if (JBE_ISBOOL_TRUE(je))
		put(jt->out, "true", 4);
	else if (JBE_ISBOOL_FALSE(je))
		put(jt->out, "false", 5);
	else
		render_container(jt, (const JsonbContainer *) (base + INTALIGN(offset)));
}

static void
render_container(JsonText *jt, const JsonbContainer *c)
{
	int			n = JsonContainerSize(c);

	check_stack_depth();
	switch (c->header & (JB_FARRAY | JB_FOBJECT))
	{
		case JB_FARRAY:
			{
				const char *base = (const char *) &c->children[n];
				uint32		offset = 0;

				if (!JsonContainerIsScalar(c))
					put(jt->out, "[", 1);
				else
					jt->raw_scalar = true;
				for (int i = 0; i < n; i++)
				{
					if (i > 0)
						put(jt->out, ", ", 2);
					render_value(jt, c, i, base, offset);
					JBE_ADVANCE_OFFSET(offset, c->children[i]);
				}
				if (!jt->raw_scalar)
					put(jt->out, "]", 1);
				break;
			}
		case JB_FOBJECT:
			{
				const char *base = (const char *) &c->children[n * 2];
				uint32		key_offset = 0;
				uint32		value_offset = getJsonbOffset(c, n);

				put(jt->out, "{", 1);
				for (int i = 0; i < n; i++)
				{
					if (i > 0)
						put(jt->out, ", ", 2);
					if (!JBE_ISSTRING(c->children[i]))
						elog(ERROR, "unexpected jsonb type as object key");
					render_string(jt->out, base + key_offset, getJsonbLength(c, i));
					put(jt->out, ": ", 2);
					render_value(jt, c, n + i, base, value_offset);
					JBE_ADVANCE_OFFSET(key_offset, c->children[i]);
					JBE_ADVANCE_OFFSET(value_offset, c->children[n + i]);
				}
				put(jt->out, "}", 1);
				break;
			}
		default:
			elog(ERROR, "unknown type of jsonb container");
	}
}

/*
 * Append the text of the jsonb value whose root container is root to out:
 * JsonbToCString(NULL, root, ...) without the copies.
 */
void
steward_audit_jsonb_text(StringInfo out, const JsonbContainer *root)
{
	JsonText	jt;

	jt.out = out;
	jt.raw_scalar = false;
	render_container(&jt, root);
}
