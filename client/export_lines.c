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
 * computed before verify_export.c looks at the line: its JSON
 * (json_parse_line, in place), and for an event its leaf H(0x00 ‖ event
 * bytes) and its payload state (docs/audit.md, "Event bytes", rule E6),
 * side by side.  Two chunks are held at once, in two *slots*: while the
 * caller checks one, a worker thread prepares its share of the next one;
 * at the next call this thread prepares the rest and waits for the
 * worker.  Each thread writes only its own lines, and the caller reads a
 * chunk once both are done with it.  The shares are cut so that both
 * threads finish together (split_point).  Nothing here refuses a line:
 * one that does not parse keeps the reason, and an event that is not as
 * export writes it is left for verify_export.c, which checks it member by
 * member and says why.
 *
 * Memory: two slots, each a buffer (the longest line, at least
 * CHUNK_BYTES) and CHUNK_LINES parsed lines, whatever the size of the
 * export.
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

static double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* prepare lines [from, to) of a slot; the worker thread's entry point */
static void *
prepare_share(void *arg)
{
	ExportShare *sh = (ExportShare *) arg;
	double		start = monotonic_seconds();

	for (int i = sh->from; i < sh->to; i++)
		prepare_line(&sh->slot->lines[i], &sh->scratch, &sh->err);
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
	for (int k = 0; k < 2; k++)
	{
		r->slots[k].cap = CHUNK_BYTES;
		r->slots[k].buf = pg_malloc(r->slots[k].cap + 1);
		r->slots[k].lines = pg_malloc0(sizeof(ExportLine) * CHUNK_LINES);
		initPQExpBuffer(&r->shares[k].err);
	}
	/* the hash picks its code once, before any thread uses it */
	steward_sha256("", 0, warm);
}

void
export_lines_close(ExportLines *r)
{
	if (r->worker_running)
		pthread_join(r->worker, NULL);
	close(r->fd);
}

/* read into the slot until it holds want bytes (at most its buffer) or the file ends */
static void
read_more(ExportLines *r, ExportSlot *sl, size_t want)
{
	want = Min(want, sl->cap);
	while (!r->eof && sl->end < want)
	{
		ssize_t		got = read(r->fd, sl->buf + sl->end, want - sl->end);

		if (got < 0)
		{
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: could not read \"%s\": %s\n", progname, r->path, strerror(errno));
			exit(EXIT_SERVER);
		}
		if (got == 0)
			r->eof = true;
		sl->end += got;
	}
}

/*
 * Fill slot sl with the next chunk: the bytes the other slot read past its
 * last line first, then more from the file, up to CHUNK_BYTES, or more
 * when that holds no whole line (a longer line grows the buffer).  The
 * lines are cut, not prepared.
 */
static void
fill(ExportLines *r, ExportSlot *sl, ExportSlot *prev)
{
	size_t		p;

	for (int i = 0; i < sl->nlines; i++)
		if (sl->lines[i].error)
		{
			free(sl->lines[i].error);
			sl->lines[i].error = NULL;
		}
	sl->nlines = 0;
	sl->end = 0;
	sl->bytes = 0;
	if (prev && prev->used < prev->end)
	{
		size_t		left = prev->end - prev->used;

		if (left > sl->cap)
		{
			sl->cap = left;
			sl->buf = pg_realloc(sl->buf, sl->cap + 1);
		}
		memcpy(sl->buf, prev->buf + prev->used, left);
		sl->end = left;
		prev->end = prev->used;
	}
	read_more(r, sl, CHUNK_BYTES);
	while (!r->eof && memchr(sl->buf, '\n', sl->end) == NULL)
	{
		/* a line longer than what is read: read on, into a larger buffer */
		if (sl->end == sl->cap)
		{
			sl->cap *= 2;
			sl->buf = pg_realloc(sl->buf, sl->cap + 1);
		}
		read_more(r, sl, sl->cap);
	}

	for (p = 0; p < sl->end && sl->nlines < CHUNK_LINES;)
	{
		char	   *nl = memchr(sl->buf + p, '\n', sl->end - p);
		ExportLine *l = &sl->lines[sl->nlines];

		if (nl == NULL)
		{
			if (!r->eof)
				break;
			/* a last line without its newline */
			nl = sl->buf + sl->end;
		}
		*nl = '\0';
		l->text = sl->buf + p;
		l->len = nl - l->text;
		l->lineno = ++r->lineno;
		sl->bytes += l->len;
		sl->nlines++;
		p = Min((size_t) (nl - sl->buf) + 1, sl->end);
	}
	sl->used = p;
}

/*
 * Where the slot's lines are cut between this thread (the first ones) and
 * the worker: so that both finish together while this thread also checks
 * the chunk before (the caller's time between calls), this thread takes
 * the fraction (1 - check / prepare) / 2 of the bytes, from the times of
 * the chunks so far.  A line goes to the side its middle falls on.
 */
static int
split_point(ExportLines *r, ExportSlot *sl)
{
	double		share = 0.5;
	double		sum = 0;
	int			split = 0;

	if (r->prepare_time > 0)
		share = Max(0.0, Min(0.5, (1 - r->check_time / r->prepare_time) / 2));
	while (split < sl->nlines && sum + sl->lines[split].len / 2.0 < share * sl->bytes)
		sum += sl->lines[split++].len;
	return split;
}

/* start the worker on lines [from, nlines) of slot k */
static void
start_worker(ExportLines *r, int k, int from)
{
	ExportShare *sh = &r->shares[1];

	sh->slot = &r->slots[k];
	sh->from = from;
	sh->to = r->slots[k].nlines;
	sh->seconds = 0;
	r->worker_running = false;
	if (sh->from < sh->to)
	{
		if (pthread_create(&r->worker, NULL, prepare_share, sh) == 0)
			r->worker_running = true;
		else
			prepare_share(sh);	/* no thread: do it here */
	}
}

static void
join_worker(ExportLines *r)
{
	if (!r->worker_running)
		return;
	if (pthread_join(r->worker, NULL) != 0)
	{
		fprintf(stderr, "%s: could not wait for a thread\n", progname);
		exit(EXIT_SERVER);
	}
	r->worker_running = false;
}

/*
 * The next chunk in r->lines[0 .. r->nlines), prepared; false after the
 * last line.  While the caller checks it, the worker thread prepares its
 * share of the chunk after it; this thread prepares the rest at the next
 * call.  The lines of the chunk returned before are gone.
 */
bool
export_lines_next(ExportLines *r)
{
	int			cur;
	int			next;
	ExportShare *mine = &r->shares[0];

	if (r->returned_at > 0)
		r->check_time += monotonic_seconds() - r->returned_at;
	if (!r->started)
	{
		/* the first chunk: both threads prepare it now */
		r->started = true;
		fill(r, &r->slots[0], NULL);
		r->pending_split = split_point(r, &r->slots[0]);
		start_worker(r, 0, r->pending_split);
		r->pending = 0;
	}
	cur = r->pending;
	if (cur < 0)
		return false;

	/* this thread's share of the chunk the worker has been preparing */
	mine->slot = &r->slots[cur];
	mine->from = 0;
	mine->to = r->pending_split;
	prepare_share(mine);
	join_worker(r);
	r->prepare_time += mine->seconds + r->shares[1].seconds;
	if (r->slots[cur].nlines == 0)
	{
		r->pending = -1;
		return false;
	}

	/* the chunk after it: read now, the worker's share prepared meanwhile */
	next = 1 - cur;
	fill(r, &r->slots[next], &r->slots[cur]);
	r->pending_split = split_point(r, &r->slots[next]);
	start_worker(r, next, r->pending_split);
	r->pending = next;

	r->lines = r->slots[cur].lines;
	r->nlines = r->slots[cur].nlines;
	r->returned_at = monotonic_seconds();
	return true;
}
