/*-------------------------------------------------------------------------
 *
 * export_lines.c
 *	  The lines of an export (export.c writes them, verify_export.c checks
 *	  them), a chunk at a time, each parsed and each event's leaf and
 *	  payload state computed ahead by two threads.
 *
 * A *chunk* is as many whole lines as fit in CHUNK_BYTES (a longer line,
 * a block with many entries, is a chunk of its own) and at most
 * CHUNK_LINES of them.  What can be computed from one line alone is
 * computed for the whole chunk before verify_export.c looks at any of its
 * lines: the JSON of every line (json_parse_line, in place), and for an
 * event its leaf H(0x00 ‖ event bytes) and its payload state (docs/audit.md,
 * "Event bytes", rule E6), side by side.  The lines are shared out between
 * the calling thread and one worker thread by their bytes; each thread
 * writes only its own lines, and the caller reads them once both are done.
 * Nothing here refuses a line: one that does not parse keeps the reason,
 * and an event that is not as export writes it is left for
 * verify_export.c, which checks it member by member and says why.
 *
 * Memory: the read buffer (the largest line, at least CHUNK_BYTES) and
 * CHUNK_LINES parsed lines, whatever the size of the export.
 *
 * client/export_lines.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "port/pg_bswap.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define CHUNK_BYTES		(1024 * 1024)
#define CHUNK_LINES		2048

/* an event line's members, in the order export writes them (E_*) */
const char *const export_event_names[E_N] = {
	"kind", "id", "xid", "time_us", "event_type", "action", "resource_type", "resource_id",
	"actor", "session_user_name", "current_user_name", "client_addr", "application_name",
	"commitment", "salt", "payload"
};

/* the value of a hex digit, or 0x10 for any other byte */
#define HEX(c) \
	((c) >= '0' && (c) <= '9' ? (c) - '0' : \
	 (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10 : \
	 (c) >= 'A' && (c) <= 'F' ? (c) - 'A' + 10 : 0x10)
#define HEX_4(b) HEX(b), HEX((b) + 1), HEX((b) + 2), HEX((b) + 3)
#define HEX_16(b) HEX_4(b), HEX_4((b) + 4), HEX_4((b) + 8), HEX_4((b) + 12)
static const uint8 hex_digit[256] = {
	HEX_16(0x00), HEX_16(0x10), HEX_16(0x20), HEX_16(0x30),
	HEX_16(0x40), HEX_16(0x50), HEX_16(0x60), HEX_16(0x70),
	HEX_16(0x80), HEX_16(0x90), HEX_16(0xa0), HEX_16(0xb0),
	HEX_16(0xc0), HEX_16(0xd0), HEX_16(0xe0), HEX_16(0xf0)
};

/* hex text to bytes; out may be the text itself; false when not hex */
bool
export_unhex(const char *s, size_t len, uint8 *out)
{
	const uint8 *p = (const uint8 *) s;
	uint8		bad = 0;
	size_t		i = 0;

	if (len % 2 != 0)
		return false;
#ifdef __SSE2__
	/* sixteen digits to eight bytes at a time (an entry is 112 digits) */
	for (; i + 8 <= len / 2; i += 8)
	{
		__m128i		c = _mm_loadu_si128((const __m128i *) (p + 2 * i));
		__m128i		d = _mm_sub_epi8(c, _mm_set1_epi8('0'));
		__m128i		l = _mm_sub_epi8(_mm_or_si128(c, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
		__m128i		is_digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
		__m128i		is_letter = _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(5)), l);
		__m128i		v;

		if (_mm_movemask_epi8(_mm_or_si128(is_digit, is_letter)) != 0xffff)
			return false;
		v = _mm_or_si128(_mm_and_si128(d, is_digit),
						 _mm_and_si128(_mm_add_epi8(l, _mm_set1_epi8(10)), is_letter));
		/* each 16-bit lane holds (low digit << 8) | high digit: high << 4 | low */
		v = _mm_or_si128(_mm_and_si128(_mm_slli_epi16(v, 4), _mm_set1_epi16(0x00f0)),
						 _mm_srli_epi16(v, 8));
		_mm_storel_epi64((__m128i *) (out + i), _mm_packus_epi16(v, v));
	}
#endif
	for (; i < len / 2; i++)
	{
		uint8		hi = hex_digit[p[2 * i]];
		uint8		lo = hex_digit[p[2 * i + 1]];

		bad |= hi | lo;
		out[i] = (uint8) (hi << 4 | (lo & 0x0f));
	}
	return (bad & 0x10) == 0;
}

static inline void
room(uint8 **buf, size_t *cap, size_t need)
{
	if (need > *cap)
	{
		*cap = Max(need, 2 * *cap);
		*buf = pg_realloc(*buf, *cap);
	}
}

static inline size_t
put_be64(uint8 *p, uint64 x)
{
	x = pg_hton64(x);
	memcpy(p, &x, 8);
	return 8;
}

/* a field of the event bytes: 0x00 for NULL, else tag, length, bytes */
static inline size_t
put_field(uint8 *p, uint8 tag, const void *data, size_t len)
{
	uint32		l = pg_hton32((uint32) len);

	p[0] = tag;
	memcpy(p + 1, &l, 4);
	memcpy(p + 5, data, len);
	return 5 + len;
}

/*
 * The leaf and the payload state of an event from its members, m[k] the
 * member named export_event_names[k], the strings and NULLs already
 * checked to be what their members may be (NULL for a JSON null).
 * EXPORT_LEAF_COMMITMENT or EXPORT_LEAF_SALT when that member is not hex.
 */
int
export_event_leaf(const JsonMember *const *m, int64 id, uint64 xid, bool encodable,
				  int64 time_us, EventScratch *s, uint8 *leaf, int *state)
{
	const JsonMember *commitment = m[E_COMMITMENT];
	const JsonMember *salt = m[E_SALT];
	const JsonMember *payload = m[E_PAYLOAD];
	size_t		clen = commitment ? commitment->len / 2 : 0;
	size_t		slen = salt ? salt->len / 2 : 0;
	size_t		need = 1 + 4 + 3 * 9 + 9 * 5 + 5 + clen;
	size_t		off;
	uint8	   *b;
	uint8		c[TREE_HASH_LEN];

	room(&s->hexed, &s->hexed_cap, clen + slen);
	if (commitment && !export_unhex(commitment->str, commitment->len, s->hexed))
		return EXPORT_LEAF_COMMITMENT;
	if (salt && !export_unhex(salt->str, salt->len, s->hexed + clen))
		return EXPORT_LEAF_SALT;

	for (int k = E_TYPE; k <= E_APP; k++)
		if (m[k])
			need += m[k]->len;
	room(&s->bytes, &s->bytes_cap, need);
	b = s->bytes;
	memcpy(b, "\x00PSE\x01", 5);
	off = 5;
	b[off++] = 0x01;
	off += put_be64(b + off, (uint64) id);
	b[off++] = 0x01;
	off += put_be64(b + off, xid);
	if (encodable)
	{
		b[off++] = 0x01;
		off += put_be64(b + off, (uint64) time_us);
	}
	else
		b[off++] = 0x00;
	for (int k = E_TYPE; k <= E_APP; k++)
	{
		if (m[k] == NULL)
			b[off++] = 0x00;
		else
			off += put_field(b + off, 0x02, m[k]->str, m[k]->len);
	}
	if (commitment == NULL)
		b[off++] = 0x00;
	else
		off += put_field(b + off, 0x03, s->hexed, clen);

	/* the payload state (rule E6); the leaf and the commitment side by side */
	if (payload == NULL)
		*state = salt ? STATE_STRAY_SALT : commitment ? STATE_REDACTED : STATE_INTACT;
	else if (commitment == NULL || salt == NULL || clen != TREE_HASH_LEN || slen != SALT_LEN)
		*state = STATE_MISMATCH;
	else
	{
		size_t		mlen = 1 + SALT_LEN + payload->len;

		room(&s->message, &s->message_cap, mlen);
		s->message[0] = 0x02;
		memcpy(s->message + 1, s->hexed + clen, SALT_LEN);
		memcpy(s->message + 1 + SALT_LEN, payload->str, payload->len);
		steward_sha256_pair(b, off, leaf, s->message, mlen, c);
		*state = memcmp(c, s->hexed, TREE_HASH_LEN) == 0 ? STATE_INTACT : STATE_MISMATCH;
		return EXPORT_LEAF_OK;
	}
	steward_sha256(b, off, leaf);
	return EXPORT_LEAF_OK;
}

/*
 * An event line's members by name, without refusing anything: false when
 * the line is not an event as export writes one (then verify_export.c
 * looks at it itself).
 */
static bool
event_members(const ExportLine *l, const JsonMember **m)
{
	if (l->n != E_N)
		return false;
	for (int k = 0; k < E_N; k++)
	{
		const JsonMember *x = &l->members[k];

		if (strcmp(x->key, export_event_names[k]) != 0)
			return false;
		if (k == E_KIND)
			m[k] = x;
		else if (k == E_ID || k == E_XID)
		{
			if (x->kind != JSON_INTEGER)
				return false;
			m[k] = x;
		}
		else if (k == E_TIME)
		{
			if (x->kind != JSON_INTEGER && x->kind != JSON_NULL)
				return false;
			m[k] = x->kind == JSON_NULL ? NULL : x;
		}
		else
		{
			if (x->kind != JSON_STRING && x->kind != JSON_NULL)
				return false;
			m[k] = x->kind == JSON_NULL ? NULL : x;
		}
	}
	return m[E_KIND]->kind == JSON_STRING && strcmp(m[E_KIND]->str, "event") == 0 &&
		m[E_XID]->integer >= 0;
}

/* parse one line and, for an event, compute its leaf and payload state */
static void
prepare_line(ExportLine *l, EventScratch *s, PQExpBuffer err)
{
	const JsonMember *m[E_N];
	bool		encodable;

	l->hashed = false;
	resetPQExpBuffer(err);
	l->parsed = json_parse_line(l->text, l->len, l->members, EXPORT_MAX_MEMBERS, &l->n, err);
	if (!l->parsed)
	{
		l->error = pg_strdup(err->data);
		return;
	}
	if (!event_members(l, m))
		return;
	encodable = m[E_TIME] != NULL && m[E_TIME]->integer >= TIME_MIN_US &&
		m[E_TIME]->integer <= TIME_MAX_US;
	l->hashed = export_event_leaf(m, m[E_ID]->integer, (uint64) m[E_XID]->integer, encodable,
								  m[E_TIME] ? m[E_TIME]->integer : 0, s, l->leaf,
								  &l->state) == EXPORT_LEAF_OK;
}

typedef struct Share
{
	ExportLine *lines;
	int			from;
	int			to;
	EventScratch *scratch;
	PQExpBuffer err;
	double		seconds;		/* how long it took */
} Share;

static double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
prepare_share(void *arg)
{
	Share	   *sh = (Share *) arg;
	double		start = monotonic_seconds();

	for (int i = sh->from; i < sh->to; i++)
		prepare_line(&sh->lines[i], sh->scratch, sh->err);
	sh->seconds = monotonic_seconds() - start;
	return NULL;
}

void
export_lines_open(ExportLines *r, const char *path)
{
	uint8		warm[TREE_HASH_LEN];

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->fd = open(path, O_RDONLY, 0);
	if (r->fd < 0)
	{
		fprintf(stderr, "%s: could not open \"%s\": %s\n", progname, path, strerror(errno));
		exit(EXIT_SERVER);
	}
	r->cap = CHUNK_BYTES;
	r->buf = pg_malloc(r->cap + 1);
	r->lines = pg_malloc0(sizeof(ExportLine) * CHUNK_LINES);
	for (int t = 0; t < 2; t++)
	{
		initPQExpBuffer(&r->err[t]);
		memset(&r->scratch[t], 0, sizeof(EventScratch));
	}
	/* the hash picks its code once, before any thread uses it */
	steward_sha256("", 0, warm);
}

void
export_lines_close(ExportLines *r)
{
	close(r->fd);
}

/* read until the buffer is full or the file ends */
static void
read_more(ExportLines *r)
{
	while (!r->eof && r->end < r->cap)
	{
		ssize_t		got = read(r->fd, r->buf + r->end, r->cap - r->end);

		if (got < 0)
		{
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: could not read \"%s\": %s\n", progname, r->path, strerror(errno));
			exit(EXIT_SERVER);
		}
		if (got == 0)
			r->eof = true;
		r->end += got;
	}
}

/*
 * The next chunk of lines in r->lines[0 .. r->nlines), prepared; false
 * after the last line.  The lines of the chunk before are gone.
 */
bool
export_lines_next(ExportLines *r)
{
	size_t		p;
	size_t		total = 0;
	double		now;
	double		share;
	int			split;
	pthread_t	worker;
	Share		shares[2];

	for (int i = 0; i < r->nlines; i++)
		if (r->lines[i].error)
		{
			free(r->lines[i].error);
			r->lines[i].error = NULL;
		}
	r->nlines = 0;

	/*
	 * At least a chunk's worth of bytes unless the file ends first, and at
	 * least one whole line: what is left moves to the front only when more
	 * has to be read, and a line longer than the buffer grows it.
	 */
	for (;;)
	{
		bool		need_more = r->end - r->start < CHUNK_BYTES ||
			memchr(r->buf + r->start, '\n', r->end - r->start) == NULL;

		if (r->eof || !need_more)
			break;
		if (r->start > 0)
		{
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		else if (r->end == r->cap)
		{
			r->cap *= 2;
			r->buf = pg_realloc(r->buf, r->cap + 1);
		}
		read_more(r);
	}
	if (r->start == r->end)
		return false;

	for (p = r->start; p < r->end && r->nlines < CHUNK_LINES;)
	{
		char	   *nl = memchr(r->buf + p, '\n', r->end - p);
		ExportLine *l = &r->lines[r->nlines];

		if (nl == NULL)
		{
			if (!r->eof)
				break;
			/* a last line without its newline */
			nl = r->buf + r->end;
		}
		*nl = '\0';
		l->text = r->buf + p;
		l->len = nl - l->text;
		l->lineno = ++r->lineno;
		total += l->len;
		r->nlines++;
		p = Min((size_t) (nl - r->buf) + 1, r->end);
	}
	r->start = p;

	/*
	 * The first lines to this thread, the rest to the worker, shared so
	 * that both finish together: this thread also checks the chunk in file
	 * order afterwards (the time since the last return), so it takes the
	 * fraction (1 - check / prepare) / 2 of the bytes, from the times of
	 * the chunks so far.
	 */
	now = monotonic_seconds();
	if (r->returned_at > 0)
		r->check_time += now - r->returned_at;
	share = r->prepare_time > 0 ? (1 - r->check_time / r->prepare_time) / 2 : 0.5;
	share = Max(0.05, Min(0.5, share));
	split = 0;
	for (size_t sum = 0; split < r->nlines && sum < share * total; split++)
		sum += r->lines[split].len;
	for (int t = 0; t < 2; t++)
	{
		shares[t].lines = r->lines;
		shares[t].scratch = &r->scratch[t];
		shares[t].err = &r->err[t];
	}
	shares[0].from = 0;
	shares[0].to = split;
	shares[1].from = split;
	shares[1].to = r->nlines;
	if (split < r->nlines && pthread_create(&worker, NULL, prepare_share, &shares[1]) == 0)
	{
		prepare_share(&shares[0]);
		if (pthread_join(worker, NULL) != 0)
		{
			fprintf(stderr, "%s: could not wait for a thread\n", progname);
			exit(EXIT_SERVER);
		}
		r->prepare_time += shares[0].seconds + shares[1].seconds;
	}
	else
	{
		shares[0].to = r->nlines;
		prepare_share(&shares[0]);
		r->prepare_time += shares[0].seconds;
	}
	r->returned_at = monotonic_seconds();
	return true;
}
