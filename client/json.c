/*-------------------------------------------------------------------------
 *
 * json.c
 *	  A strict reader of the flat JSON documents the ledger commands read
 *	  without a server: digests, receipts and consistency proofs
 *	  (docs/audit.md).  libpq has no JSON parser.
 *
 * json_parse_line reads the lines of an export (verify_export.c) in place,
 * without allocating: the same strings, integers of the whole 64-bit
 * range, negative ones too (times before 1970), and nested values kept as
 * their raw text; json_array_next walks such an array.
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

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define JSON_AVX512 1
#endif

typedef struct JsonReader
{
	const char *start;
	const char *p;
	const char *end;
	PQExpBuffer error;
	bool		line;			/* json_parse_line: in place, negative
								 * integers, nested values as raw text */
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

/* the bytes that stand for themselves in a string: printable ASCII but " and \ */
#define PLAIN(c) ((c) >= 0x20 && (c) < 0x80 && (c) != '"' && (c) != '\\')
#define PLAIN_4(b) PLAIN(b), PLAIN((b) + 1), PLAIN((b) + 2), PLAIN((b) + 3)
#define PLAIN_16(b) PLAIN_4(b), PLAIN_4((b) + 4), PLAIN_4((b) + 8), PLAIN_4((b) + 12)
static const bool plain_char[256] = {
	PLAIN_16(0x00), PLAIN_16(0x10), PLAIN_16(0x20), PLAIN_16(0x30),
	PLAIN_16(0x40), PLAIN_16(0x50), PLAIN_16(0x60), PLAIN_16(0x70),
	PLAIN_16(0x80), PLAIN_16(0x90), PLAIN_16(0xa0), PLAIN_16(0xb0),
	PLAIN_16(0xc0), PLAIN_16(0xd0), PLAIN_16(0xe0), PLAIN_16(0xf0)
};


#ifdef __SSE2__
/* a bit for each of sixteen bytes that is a quote, a backslash or outside 0x20-0x7f */
static inline int
stop_mask(__m128i x)
{
	return _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
													   _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
										  _mm_cmplt_epi8(x, _mm_set1_epi8(0x20))));
}
#endif

#ifdef JSON_AVX512
/*
 * With AVX-512 (BW and VBMI2), a string that needs decoding is read 64
 * bytes at a time: its escapes of a quote or a slash are taken out of a
 * window by one compress of the bytes that are not their backslashes.
 * Whether the processor has these instructions (and the system saves
 * their registers) is asked once, by json_init.
 */
static bool have_avx512;

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi2,bmi,bmi2,popcnt")))

/*
 * Decode from p (inside a string, apart: see read_string_to) to *w while
 * the bytes are plain or the escapes \" and \/, 64 bytes at a time; stops
 * (returning where) at the closing quote or at what it leaves to the
 * caller: another escape, a control byte, a byte outside ASCII, the last
 * 63 bytes before end.  In a window, a backslash's next byte is the one it
 * escapes, up to the first backslash that escapes anything but a quote or
 * a slash (a stop): so, before the first stop, the escaped bytes are
 * exactly the backslashes' next ones, and the first quote not escaped
 * closes the string.
 */
AVX512_TARGET static const char *
unescape64(const char *p, const char *end, char **wp)
{
	char	   *w = *wp;

	while (end - p >= 64)
	{
		__m512i		x = _mm512_loadu_si512((const void *) p);
		uint64		bs = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\\'));
		uint64		q = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"'));
		uint64		sl = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('/'));
		uint64		bad = _mm512_cmplt_epi8_mask(x, _mm512_set1_epi8(0x20));
		uint64		esc = bs << 1;
		uint64		stop = (q & ~esc) | bad | ((esc & ~(q | sl)) >> 1) |
			(bs & (UINT64CONST(1) << 63));
		uint64		keep;

		if (stop == 0)
		{
			keep = ~bs;
			_mm512_storeu_si512((void *) w, _mm512_maskz_compress_epi8(keep, x));
			w += _mm_popcnt_u64(keep);
			p += 64;
			continue;
		}
		keep = ~bs & _bzhi_u64(~UINT64CONST(0), (unsigned) _tzcnt_u64(stop));
		_mm512_storeu_si512((void *) w, _mm512_maskz_compress_epi8(keep, x));
		w += _mm_popcnt_u64(keep);
		p += _tzcnt_u64(stop);
		break;
	}
	*wp = w;
	return p;
}
#endif

/* ask once which instructions the readers may use (before any thread reads) */
void
json_init(void)
{
#ifdef JSON_AVX512
	__builtin_cpu_init();
	have_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi") &&
		__builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
#endif
}

/* the first byte at or after p that does not stand for itself, or end */
static inline const char *
plain_run_end(const char *p, const char *end)
{
#ifdef __SSE2__
	/* sixteen bytes at a time */
	while (end - p >= 16)
	{
		int			stop = stop_mask(_mm_loadu_si128((const __m128i *) p));

		if (stop != 0)
			return p + __builtin_ctz(stop);
		p += 16;
	}
#endif
	while (p < end && plain_char[(unsigned char) *p])
		p++;
	return p;
}

#ifdef __SSE2__
/*
 * Copy from p to *w up to the first byte that does not stand for itself,
 * sixteen bytes at a time (each store may write up to fifteen bytes past
 * what it keeps); returns where it stopped, or the last fifteen bytes
 * before end.
 */
static inline const char *
plain_run16(const char *p, const char *end, char **wp)
{
	char	   *w = *wp;

	while (end - p >= 16)
	{
		__m128i		x = _mm_loadu_si128((const __m128i *) p);
		int			stop = stop_mask(x);
		int			k = stop != 0 ? __builtin_ctz(stop) : 16;

		_mm_storeu_si128((__m128i *) w, x);
		w += k;
		p += k;
		if (k < 16)
			break;
	}
	*wp = w;
	return p;
}
#endif

/* whether p (before end) is one of the escapes \" \\ \/, which stand for their second byte */
static inline bool
short_escape(const char *p, const char *end)
{
	return end - p >= 2 && p[0] == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '/');
}

/*
 * A string, r->p at its opening quote; the decoded UTF-8 goes to dst, which
 * has room for as many bytes as the string has between its quotes (what a
 * string decodes to is never longer), and may be that very text: every
 * byte is written behind the one read.  *outlen: the decoded length.
 *
 * apart: dst is not the text and has room for as many bytes as there are
 * from the opening quote to r->end; then plain runs are copied sixteen
 * bytes at a time, the bytes past the run overwritten later or left
 * unused.
 */
static inline bool
read_string_to(JsonReader *r, char *dst, size_t *outlen, bool apart)
{
	char	   *w = dst;

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
			*outlen = w - dst;
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
					*w++ = '"';
					break;
				case '\\':
					*w++ = '\\';
					break;
				case '/':
					*w++ = '/';
					break;
				case 'b':
					*w++ = '\b';
					break;
				case 'f':
					*w++ = '\f';
					break;
				case 'n':
					*w++ = '\n';
					break;
				case 'r':
					*w++ = '\r';
					break;
				case 't':
					*w++ = '\t';
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
						memcpy(w, utf8, pg_utf_mblen(utf8));
						w += pg_utf_mblen(utf8);
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
			const char *run_end;

#ifdef __SSE2__
			if (apart && r->end - r->p >= 16)
			{
				/* runs and the escapes \" \\ \/ without leaving the loop */
				const char *p = r->p;

				for (;;)
				{
#ifdef JSON_AVX512
					if (have_avx512 && r->end - p >= 64)
						p = unescape64(p, r->end, &w);
					else
#endif
						p = plain_run16(p, r->end, &w);
					if (!short_escape(p, r->end))
						break;
					*w++ = p[1];
					p += 2;
				}
				r->p = p;
				continue;
			}
#endif
			/* a run of plain characters at once, copied only behind an escape */
			run_end = plain_run_end(r->p, r->end);

			if (w != r->p)
				memmove(w, r->p, run_end - r->p);
			w += run_end - r->p;
			r->p = run_end;
		}
		else
		{
			int			l = pg_utf_mblen((const unsigned char *) r->p);

			if (l > r->end - r->p || !pg_utf8_islegal((const unsigned char *) r->p, l))
				return fail(r, "invalid UTF-8 in a string");
			memmove(w, r->p, l);
			w += l;
			r->p += l;
		}
	}
}

static bool
read_string(JsonReader *r, char *dst, size_t *outlen)
{
	return read_string_to(r, dst, outlen, false);
}

/* the number of bytes between a string's quotes, r->p at the opening one */
static size_t
raw_string_length(const JsonReader *r)
{
	const char *p = r->p + 1;

	while (p < r->end && *p != '"')
		p += (*p == '\\' && p + 1 < r->end) ? 2 : 1;
	return p - (r->p + 1);
}

/* a string value: pg_malloc'd copy, its length in *len */
static bool
read_string_value(JsonReader *r, char **s, size_t *len)
{
	char	   *buf = pg_malloc(raw_string_length(r) + 1);

	if (!read_string(r, buf, len))
	{
		free(buf);
		return false;
	}
	buf[*len] = '\0';
	*s = buf;
	return true;
}

/* a string value decoded in place (json_parse_line), NUL-terminated */
static bool
read_string_in_place(JsonReader *r, char **s, size_t *len)
{
	char	   *dst = (char *) r->p + 1;

	if (!read_string(r, dst, len))
		return false;
	/* the terminator goes where the closing quote was, or before it */
	dst[*len] = '\0';
	*s = dst;
	return true;
}

static bool
read_integer(JsonReader *r, JsonMember *m)
{
	const char *digits = r->p;
	const char *p;
	const char *end = r->end;
	size_t		n;
	bool		negative = false;
	uint64		v = 0;

	if (*digits == '-')
	{
		if (!r->line)
			return fail(r, "a negative number (only integers from 0 are accepted)");
		negative = true;
		digits++;
	}
	/* the digits and, up to 19 of them (no overflow), their value */
	for (p = digits; p < end && (unsigned char) (*p - '0') <= 9; p++)
		v = v * 10 + (uint64) (*p - '0');
	r->p = p;
	n = p - digits;
	if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
		return fail(r, "a number that is not an integer");
	if (n == 0)
		return fail(r, "a minus sign without digits");
	if (n > 1 && digits[0] == '0')
		return fail(r, "a number with a leading zero");
	if (r->line)
	{
		/* the whole range of a 64-bit integer, without allocating */
		uint64		limit = negative ? (uint64) PG_INT64_MAX + 1 : (uint64) PG_INT64_MAX;

		if (n > 18)
		{
			v = 0;
			for (size_t i = 0; i < n; i++)
			{
				uint64		d = digits[i] - '0';

				if (v > (limit - d) / 10)
					return fail(r, "an integer outside the range of 64 bits");
				v = v * 10 + d;
			}
		}
		m->kind = JSON_INTEGER;
		m->str = (char *) digits - (negative ? 1 : 0);
		m->len = n + (negative ? 1 : 0);
		m->integer = negative ? (int64) (0 - v) : (int64) v;
		return true;
	}
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

/*
 * Skip one JSON value of any kind (objects and arrays nested up to 64
 * deep), checking its syntax; strings are checked as read_string checks
 * them, without being kept.
 */
static bool
skip_value(JsonReader *r, int depth)
{
	skip_space(r);
	if (r->p >= r->end)
		return fail(r, "expected a value");
	if (depth > 64)
		return fail(r, "values nested more than 64 deep");
	if (*r->p == '"')
	{
		/* decode into a scratch copy: the text itself stays as it is */
		size_t		n = raw_string_length(r);
		char	   *scratch = pg_malloc(n + 1);
		size_t		len;
		bool		ok = read_string(r, scratch, &len);

		free(scratch);
		return ok;
	}
	if (*r->p == '{' || *r->p == '[')
	{
		char		close = *r->p == '{' ? '}' : ']';
		bool		object = *r->p == '{';

		r->p++;
		skip_space(r);
		if (r->p < r->end && *r->p == close)
		{
			r->p++;
			return true;
		}
		for (;;)
		{
			skip_space(r);
			if (object)
			{
				if (r->p >= r->end || *r->p != '"')
					return fail(r, "expected a key (a string)");
				if (!skip_value(r, depth + 1))
					return false;
				skip_space(r);
				if (r->p >= r->end || *r->p != ':')
					return fail(r, "expected : after a key");
				r->p++;
			}
			if (!skip_value(r, depth + 1))
				return false;
			skip_space(r);
			if (r->p < r->end && *r->p == ',')
			{
				r->p++;
				continue;
			}
			if (r->p < r->end && *r->p == close)
			{
				r->p++;
				return true;
			}
			return fail(r, object ? "expected , or } after a value" : "expected , or ] in an array");
		}
	}
	if (*r->p == 't')
		return read_literal(r, "true");
	if (*r->p == 'f')
		return read_literal(r, "false");
	if (*r->p == 'n')
		return read_literal(r, "null");
	if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
	{
		/* a number of any size: digits, a fraction, an exponent */
		const char *start = r->p;

		if (*r->p == '-')
			r->p++;
		while (r->p < r->end && ((*r->p >= '0' && *r->p <= '9') || *r->p == '.' ||
								 *r->p == 'e' || *r->p == 'E' || *r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p == start + (*start == '-' ? 1 : 0))
			return fail(r, "a minus sign without digits");
		return true;
	}
	return fail(r, "expected a value");
}

/* a nested object or array, kept as its text (JSON_RAW) */
static bool
read_raw(JsonReader *r, JsonMember *m)
{
	const char *start = r->p;

	if (!skip_value(r, 0))
		return false;
	m->kind = JSON_RAW;
	m->str = (char *) start;
	m->len = r->p - start;
	return true;
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
			if (r->line)
				return read_string_in_place(r, &m->str, &m->len);
			return read_string_value(r, &m->str, &m->len);
		case '[':
			if (r->line)
				return read_raw(r, m);
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
			if (r->line)
				return read_raw(r, m);
			return fail(r, "a nested object");
		default:
			if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
				return read_integer(r, m);
			return fail(r, "expected a string, an integer, true, false, null or an array of strings");
	}
}

/*
 * The members of one object, r at its start, into *members: grown from
 * *cap as needed when grow, else at most *cap of them; *n of them.  A
 * reader of lines (r->line) decodes the keys in place and leaves a key
 * given twice to its caller; otherwise the keys are copies, and a key
 * given twice is refused.
 */
static bool
read_object(JsonReader *r, JsonMember **members, int *cap, bool grow, int *n)
{
	*n = 0;
	skip_space(r);
	if (r->p >= r->end || *r->p != '{')
		return fail(r, "expected a JSON object");
	r->p++;
	skip_space(r);
	if (r->p < r->end && *r->p == '}')
		r->p++;
	else
		for (;;)
		{
			JsonMember *m;
			size_t		keylen;

			skip_space(r);
			if (r->p >= r->end || *r->p != '"')
				return fail(r, "expected a key (a string)");
			if (*n == *cap)
			{
				if (!grow)
					return fail(r, "too many members");
				*cap *= 2;
				*members = pg_realloc(*members, sizeof(JsonMember) * *cap);
			}
			m = &(*members)[*n];
			memset(m, 0, sizeof(*m));
			if (!(r->line ? read_string_in_place(r, &m->key, &keylen) :
				  read_string_value(r, &m->key, &keylen)))
				return false;
			m->keylen = keylen;
			if (!r->line)
				for (int i = 0; i < *n; i++)
					if (strcmp((*members)[i].key, m->key) == 0)
					{
						appendPQExpBuffer(r->error, "the key \"%s\" appears twice", m->key);
						return false;
					}
			skip_space(r);
			if (r->p >= r->end || *r->p != ':')
				return fail(r, "expected : after a key");
			r->p++;
			skip_space(r);
			if (!read_value(r, m))
				return false;
			(*n)++;
			skip_space(r);
			if (r->p < r->end && *r->p == ',')
			{
				r->p++;
				continue;
			}
			if (r->p < r->end && *r->p == '}')
			{
				r->p++;
				break;
			}
			return fail(r, "expected , or } after a value");
		}
	skip_space(r);
	if (r->p != r->end)
		return fail(r, "text after the object");
	return true;
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

	obj->members = pg_malloc0(sizeof(JsonMember) * cap);
	return read_object(&r, &obj->members, &cap, true, &obj->n);
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

/*
 * Read one line (len bytes, no newline) as one flat JSON object, in place:
 * strings are decoded over their own text and NUL-terminated there, so
 * members[i].str points into text; integers may be negative (the whole
 * 64-bit range); a nested object or array is kept as its raw text
 * (JSON_RAW, str and len, not NUL-terminated).  Nothing is allocated.  At
 * most max members; the caller checks keys (a key given twice is not
 * refused here).  False, with the reason appended to error, when the
 * line is not such an object.
 */
bool
json_parse_line(char *text, size_t len, JsonMember *members, int max, int *n,
				PQExpBuffer error)
{
	JsonReader	r = {text, text, text + len, error, true};

	return read_object(&r, &members, &max, false, n);
}

/*
 * The elements of a JSON array given as raw text (a JSON_RAW member):
 * call with *pos 0 first; each call gives the next element's text in
 * *elem and *elen and returns 1, returns 0 after the last one, -1 (with
 * the reason in error) when the text is not an array.
 */
int
json_array_next(const char *text, size_t len, size_t *pos, const char **elem, size_t *elen,
				PQExpBuffer error)
{
	JsonReader	r = {text, text + *pos, text + len, error, true};

	if (*pos == 0)
	{
		skip_space(&r);
		if (r.p >= r.end || *r.p != '[')
		{
			fail(&r, "expected an array");
			return -1;
		}
		r.p++;
		skip_space(&r);
		if (r.p < r.end && *r.p == ']')
		{
			*pos = len;
			return 0;
		}
	}
	else
	{
		skip_space(&r);
		if (r.p >= r.end)
			return 0;
		if (*r.p == ']')
		{
			*pos = len;
			return 0;
		}
		if (*r.p != ',')
		{
			fail(&r, "expected , or ] in an array");
			return -1;
		}
		r.p++;
	}
	if (*pos == len)
		return 0;
	skip_space(&r);
	*elem = r.p;
	if (!skip_value(&r, 1))
		return -1;
	*elen = r.p - *elem;
	*pos = r.p - text;
	return 1;
}

/*
 * Whether n bytes at a and b are the same; up to 32 without a call, as two
 * loads of each that overlap when n is not a power of two.
 */
static inline bool
same_bytes(const char *a, const char *b, size_t n)
{
#define SAME_BY(type) \
	do { \
		type		a1, a2, b1, b2; \
		memcpy(&a1, a, sizeof(type)); \
		memcpy(&b1, b, sizeof(type)); \
		memcpy(&a2, a + n - sizeof(type), sizeof(type)); \
		memcpy(&b2, b + n - sizeof(type), sizeof(type)); \
		return ((a1 ^ b1) | (a2 ^ b2)) == 0; \
	} while (0)

	if (n >= 8 && n <= 16)
		SAME_BY(uint64);
	if (n >= 4 && n < 8)
		SAME_BY(uint32);
	if (n >= 2 && n < 4)
		SAME_BY(uint16);
	if (n == 1)
		return a[0] == b[0];
#ifdef __SSE2__
	if (n > 16 && n <= 32)
	{
		__m128i		x = _mm_xor_si128(_mm_loadu_si128((const __m128i *) a),
									  _mm_loadu_si128((const __m128i *) b));
		__m128i		y = _mm_xor_si128(_mm_loadu_si128((const __m128i *) (a + n - 16)),
									  _mm_loadu_si128((const __m128i *) (b + n - 16)));

		return _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(x, y), _mm_setzero_si128())) == 0xFFFF;
	}
#endif
	return memcmp(a, b, n) == 0;
#undef SAME_BY
}

/*
 * Read a line of an export whose members are exactly names[0 .. n), in
 * that order, written as export writes them: {"a" : 1, "b" : "x", …}
 * with strings, integers and nulls only.  When the line is not written
 * so, *fits is false, the line is as it was and json_parse_line is to read
 * it.  Otherwise the members are set as json_parse_line sets them (the
 * keys point at names), in one pass: a string without an escape or a byte
 * outside ASCII is its own text (NUL-terminated once the whole line is
 * known to fit), any other string is decoded into side, which has room for
 * the line's length; false (with *fits true) means a value that
 * json_parse_line would refuse too, with the same reason, as it would
 * reach it first.
 */
bool
json_parse_line_as(char *text, size_t len, const char *const *names, const size_t *namelens,
				   int n, JsonMember *members, char *side, PQExpBuffer error, bool *fits)
{
	const char *p = text;
	const char *end = text + len;
	char	   *nul[64];		/* where plain strings end */
	int			nnul = 0;

	*fits = false;
	if (n > 64 || p >= end || *p++ != '{')
		return false;
	for (int k = 0; k < n; k++)
	{
		JsonMember *m = &members[k];

		if (k > 0)
		{
			if (end - p < 2 || p[0] != ',' || p[1] != ' ')
				return false;
			p += 2;
		}
		if ((size_t) (end - p) < namelens[k] + 5 || p[0] != '"' ||
			!same_bytes(p + 1, names[k], namelens[k]) ||
			!same_bytes(p + 1 + namelens[k], "\" : ", 4))
			return false;
		p += namelens[k] + 5;
		if (p >= end)
			return false;
		m->key = (char *) names[k];
		m->keylen = namelens[k];
		if (*p == '"')
		{
			const char *q = plain_run_end(p + 1, end);

			m->kind = JSON_STRING;
			if (q < end && *q == '"')
			{
				m->str = (char *) p + 1;
				m->len = q - p - 1;
				nul[nnul++] = (char *) q;
				p = q + 1;
			}
			else
			{
				JsonReader	r = {text, p, end, error, true};

				/* side has room for the line from this string on */
				if (!read_string_to(&r, side, &m->len, true))
				{
					*fits = true;
					return false;
				}
				side[m->len] = '\0';
				m->str = side;
				side += m->len + 1;
				p = r.p;
			}
		}
		else if (*p == 'n')
		{
			if (end - p < 4 || memcmp(p, "null", 4) != 0)
				return false;
			m->kind = JSON_NULL;
			p += 4;
		}
		else if (*p == '-' || (*p >= '0' && *p <= '9'))
		{
			const char *d = p;
			uint64		v = 0;

			/* up to 18 digits and no leading zero here, the rest as read_integer reads it */
			while (p < end && (unsigned char) (*p - '0') <= 9)
				v = v * 10 + (uint64) (*p++ - '0');
			if (p > d && p - d <= 18 && (d[0] != '0' || p - d == 1) &&
				(p >= end || (*p != '.' && *p != 'e' && *p != 'E')))
			{
				m->kind = JSON_INTEGER;
				m->str = (char *) d;
				m->len = p - d;
				m->integer = (int64) v;
			}
			else
			{
				JsonReader	r = {text, d, end, error, true};

				if (!read_integer(&r, m))
				{
					*fits = true;
					return false;
				}
				p = r.p;
			}
		}
		else
			return false;
	}
	if (p >= end || *p != '}' || p + 1 != end)
		return false;
	*fits = true;
	for (int i = 0; i < nnul; i++)
		*nul[i] = '\0';
	return true;
}
