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
 * side by side.  A reader thread reads and cuts the chunks into a ring of
 * EXPORT_SLOTS *slots*, up to EXPORT_SLOTS - 1 chunks ahead of the caller,
 * and prepares their lines, oldest chunk first; when the caller comes for
 * a chunk, it prepares what the reader has not taken yet (lines are
 * claimed in batches from a counter) and, until the reader's last batch
 * of it is done, lines of the chunks after it.  Each thread writes only
 * the lines it claimed, and the caller reads a chunk once all its lines
 * are prepared.  Nothing here refuses a line:
 * one that does not parse keeps the reason, and an event that is not as
 * export writes it is left for verify_export.c, which checks it member by
 * member and says why.
 *
 * Memory: EXPORT_SLOTS slots, each a buffer (the longest line, at least
 * CHUNK_BYTES), as large a buffer for the strings of event lines that need
 * decoding (json_parse_line_as), CHUNK_LINES parsed lines and the largest
 * entries buffer and index its block lines had (kept for its next block
 * line), whatever the size of the export.
 *
 * client/export_lines.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "port/pg_bswap.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define CHUNK_BYTES		(1024 * 1024)
#define CHUNK_LINES		2048
#define PREPARE_BATCH	32		/* lines a thread claims at a time */

/* an event line's members, in the order export writes them (E_*) */
const char *const export_event_names[E_N] = {
	"kind", "id", "xid", "time_us", "event_type", "action", "resource_type", "resource_id",
	"actor", "session_user_name", "current_user_name", "client_addr", "application_name",
	"commitment", "salt", "payload"
};

/* how export writes an event line's start */
#define EVENT_LINE_START "{\"kind\" : \"event\", "

/* their lengths (export_lines_open) */
static size_t event_name_len[E_N];

/* a block line's members, in the order export writes them (B_*) */
const char *const export_block_names[B_N] = {
	"kind", "block_id", "format", "snapshot", "first_position", "event_count", "sealed_at_us",
	"merkle_root", "prev_hash", "block_hash", "entries"
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
 * What an event's leaf and payload state are computed from, built in s
 * from its members, m[k] the member named export_event_names[k], the
 * strings and NULLs already checked to be what their members may be (NULL
 * for a JSON null): s->bytes, s->nbytes, the message of the leaf hash
 * (0x00 ‖ the event bytes), and s->message, s->nmessage, the message of
 * the commitment to compare with the stored one, or s->nmessage 0 and the
 * payload state (rule E6) in *state.  EXPORT_LEAF_COMMITMENT or
 * EXPORT_LEAF_SALT when that member is not hex.
 */
static int
event_build(const JsonMember *const *m, int64 id, uint64 xid, bool encodable,
			int64 time_us, EventScratch *s, int *state)
{
	const JsonMember *commitment = m[E_COMMITMENT];
	const JsonMember *salt = m[E_SALT];
	const JsonMember *payload = m[E_PAYLOAD];
	size_t		clen = commitment ? commitment->len / 2 : 0;
	size_t		slen = salt ? salt->len / 2 : 0;
	size_t		need = 1 + 4 + 3 * 9 + 9 * 5 + 5 + clen;
	size_t		off;
	uint8	   *b;

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

	s->nbytes = off;

	/* the payload state (rule E6), or the commitment to compute for it */
	s->nmessage = 0;
	if (payload == NULL)
		*state = salt ? STATE_STRAY_SALT : commitment ? STATE_REDACTED : STATE_INTACT;
	else if (commitment == NULL || salt == NULL || clen != TREE_HASH_LEN || slen != SALT_LEN)
		*state = STATE_MISMATCH;
	else
	{
		s->nmessage = 1 + SALT_LEN + payload->len;
		room(&s->message, &s->message_cap, s->nmessage);
		s->message[0] = 0x02;
		memcpy(s->message + 1, s->hexed + clen, SALT_LEN);
		memcpy(s->message + 1 + SALT_LEN, payload->str, payload->len);
	}
	return EXPORT_LEAF_OK;
}

/* the payload state from the commitment computed (event_build's message) */
static inline int
commitment_state(const EventScratch *s, const uint8 *c)
{
	return memcmp(c, s->hexed, TREE_HASH_LEN) == 0 ? STATE_INTACT : STATE_MISMATCH;
}

/*
 * The leaf and the payload state of an event from its members (as
 * event_build takes them): the leaf and the commitment hashed side by side.
 */
int
export_event_leaf(const JsonMember *const *m, int64 id, uint64 xid, bool encodable,
				  int64 time_us, EventScratch *s, uint8 *leaf, int *state)
{
	int			rc = event_build(m, id, xid, encodable, time_us, s, state);
	uint8		c[TREE_HASH_LEN];

	if (rc != EXPORT_LEAF_OK)
		return rc;
	if (s->nmessage == 0)
		steward_sha256(s->bytes, s->nbytes, leaf);
	else
	{
		steward_sha256_pair(s->bytes, s->nbytes, leaf, s->message, s->nmessage, c);
		*state = commitment_state(s, c);
	}
	return EXPORT_LEAF_OK;
}

/*
 * The leaves and payload states of two events built in a[0] and a[1] (for
 * lines l[0] and l[1]): the two leaves side by side, then the two
 * commitments, so that no lane of the hash waits for a longer message.
 */
static void
hash_two(EventScratch *a, ExportLine **l)
{
	uint8		c[2][TREE_HASH_LEN];

	steward_sha256_pair(a[0].bytes, a[0].nbytes, l[0]->leaf, a[1].bytes, a[1].nbytes, l[1]->leaf);
	if (a[0].nmessage > 0 && a[1].nmessage > 0)
		steward_sha256_pair(a[0].message, a[0].nmessage, c[0], a[1].message, a[1].nmessage, c[1]);
	else
		for (int k = 0; k < 2; k++)
			if (a[k].nmessage > 0)
				steward_sha256(a[k].message, a[k].nmessage, c[k]);
	for (int k = 0; k < 2; k++)
	{
		if (a[k].nmessage > 0)
			l[k]->state = commitment_state(&a[k], c[k]);
		l[k]->hashed = true;
	}
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

		/* json_parse_line_as points the keys at export_event_names */
		if (x->key != export_event_names[k] &&
			(x->keylen != event_name_len[k] || memcmp(x->key, export_event_names[k], x->keylen) != 0))
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
	return m[E_KIND]->kind == JSON_STRING && JSON_STR_IS(m[E_KIND], "event") &&
		m[E_XID]->integer >= 0;
}

/*
 * Index count entries (56 bytes each, the id first) by id: *index, grown to
 * *nindex slots (a power of two, at least twice count), maps an id to
 * 1 + the index of its first entry, found by open addressing from
 * export_id_slot(id).  Returns how many entries have an id an earlier one
 * has (sealed twice, rule E8); their indexes, in order, go to *twice
 * (grown as needed, *twice_cap its room).
 */
int64
export_index_entries(const uint8 *entries, int64 count, int32 **index, uint32 *nindex,
					 int64 **twice, int64 *twice_cap)
{
	uint32		n = 16;
	uint32		mask;
	int64		ntwice = 0;

	while (n < 2 * (uint64) count)
		n *= 2;
	if (*index == NULL || n > *nindex)
	{
		pg_free(*index);
		*index = pg_malloc(sizeof(int32) * n);
		*nindex = n;
	}
	memset(*index, 0, sizeof(int32) * *nindex);
	mask = *nindex - 1;
	for (int64 i = 0; i < count; i++)
	{
		int64		id = (int64) pg_ntoh64(*(const uint64 *) (entries + i * EXPORT_ENTRY_LEN));
		uint32		s;

		for (s = export_id_slot(id, mask); (*index)[s] != 0; s = (s + 1) & mask)
			if ((int64) pg_ntoh64(*(const uint64 *) (entries + ((*index)[s] - 1) * EXPORT_ENTRY_LEN)) == id)
				break;
		if ((*index)[s] == 0)
		{
			(*index)[s] = (int32) (i + 1);
			continue;
		}
		if (ntwice == *twice_cap)
		{
			*twice_cap = Max(16, 2 * *twice_cap);
			*twice = pg_realloc(*twice, sizeof(int64) * *twice_cap);
		}
		(*twice)[ntwice++] = i;
	}
	return ntwice;
}

/*
 * A block's leaves are hashed once for both of the trees they are in.  Let
 * a be how many times 2 divides the tree's size where the block starts
 * (at most BLOCK_SHARED_HEIGHT): every group of 2^a leaves that starts a
 * multiple of 2^a into the block is then both a subtree of the block's
 * own tree and an aligned subtree of the ledger tree.  The block's root is
 * the Merkle root of those groups' roots followed by the root of the
 * leaves left over (fewer than 2^a): the split of RFC 9162 (the largest
 * power of two below the size) never falls inside a group.  The ledger
 * tree's pieces of height a or more are Merkle roots of runs of group
 * roots; smaller ones only occur among the leaves left over.
 *
 * A block of BLOCK_SPLIT_LEAVES leaves or more is hashed by two threads:
 * this one and one started for it (the other thread of export_lines may
 * be waiting for this very line): first each hashes half of the groups,
 * then one computes the block's root and the digest of its entries while
 * the other indexes the entries by id and computes the pieces.
 */
#define BLOCK_SHARED_HEIGHT	12
#define BLOCK_SPLIT_LEAVES	8192

typedef struct BlockWork
{
	const uint8 *leaves;		/* the entries' leaves, EXPORT_ENTRY_LEN apart */
	int64		count;
	int64		start;			/* the ledger tree's size before the block */
	int			a;
	int64		ngroups;		/* whole groups of 2^a leaves */
	uint8	   *groups;			/* their roots, then the rest's root */
	ExportLine *line;
} BlockWork;

typedef struct BlockPart
{
	BlockWork  *w;
	int			step;			/* 1: groups [from, to); 2: the block's root
								 * and entries digest; 3: the index by id
								 * and the pieces */
	int64		from;
	int64		to;
	uint8	   *scratch;		/* steward_merkle_root's, for half the leaves */
} BlockPart;

static void
block_part(BlockPart *p)
{
	BlockWork  *w = p->w;
	ExportLine *l = w->line;
	int64		group = INT64CONST(1) << w->a;
	int64		nodes = w->ngroups + (w->count > w->ngroups * group ? 1 : 0);

	if (p->step == 1)
	{
		for (int64 g = p->from; g < p->to; g++)
			steward_merkle_root(w->leaves + g * group * EXPORT_ENTRY_LEN, EXPORT_ENTRY_LEN, group,
								p->scratch, w->groups + g * TREE_HASH_LEN);
		return;
	}
	if (p->step == 2)
	{
		StewardSha256 ctx;
		const uint8 prefix = 0x04;

		steward_merkle_root(w->groups, TREE_HASH_LEN, nodes, p->scratch, l->block_root);
		/* the entries' digest, part of the block's hash (format 2) */
		steward_sha256_init(&ctx);
		steward_sha256_update(&ctx, &prefix, 1);
		steward_sha256_update(&ctx, l->entries, w->count * EXPORT_ENTRY_LEN);
		steward_sha256_final(&ctx, l->entries_digest);
		return;
	}
	{
		int64		cap = 0;

		l->ntwice = export_index_entries(l->entries, w->count, &l->index, &l->nindex, &l->twice, &cap);
	}
	l->npieces = 0;
	for (int64 i = 0; i < w->count;)
	{
		int			h = tree_aligned_height((uint64) (w->start + i), w->count - i, PG_UINT64_MAX);
		ExportPiece *piece = &l->pieces[l->npieces++];

		piece->height = h;
		if (h >= w->a)
			steward_merkle_root(w->groups + (i >> w->a) * TREE_HASH_LEN, TREE_HASH_LEN,
								INT64CONST(1) << (h - w->a), p->scratch, piece->root);
		else
			steward_merkle_root(w->leaves + i * EXPORT_ENTRY_LEN, EXPORT_ENTRY_LEN,
								INT64CONST(1) << h, p->scratch, piece->root);
		i += INT64CONST(1) << h;
	}
}

static void *
block_part_thread(void *arg)
{
	block_part((BlockPart *) arg);
	return NULL;
}

/* run two parts, the second in a thread of its own when the block is large */
static void
block_parts(BlockPart *mine, BlockPart *other, bool split)
{
	pthread_t	thread;

	if (split && pthread_create(&thread, NULL, block_part_thread, other) == 0)
	{
		block_part(mine);
		pthread_join(thread, NULL);
		return;
	}
	block_part(mine);
	block_part(other);
}

/*
 * A block line as export writes it: its entries decoded, the Merkle root
 * of their leaves, and their leaves as the aligned subtrees of the ledger
 * tree they make, from the tree's size first_position - 1 (what
 * verify_export.c pushes, when that is the tree's size then).
 */
/*
 * A buffer of size bytes (a slot's, a block's entries), with the first
 * keep bytes of old (freed): aligned to 2 MB and marked for transparent
 * huge pages where the kernel has them, so that the megabytes a long line
 * takes cost a page fault per 2 MB rather than per 4 kB.
 */
#define HUGE_PAGE (2 * 1024 * 1024)
static char *
slot_buffer(char *old, size_t keep, size_t size)
{
	void	   *buf;
	size_t		rounded = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;

	if (posix_memalign(&buf, HUGE_PAGE, rounded) != 0)
	{
		fprintf(stderr, "%s: out of memory\n", progname);
		exit(EXIT_SERVER);
	}
#ifdef MADV_HUGEPAGE
	(void) madvise(buf, rounded, MADV_HUGEPAGE);
#endif
	if (old != NULL)
	{
		memcpy(buf, old, keep);
		free(old);
	}
	return buf;
}

/* grow a buffer of n hashes to at least want (never shrunk) */
static uint8 *
hashes_buffer(uint8 **buf, int64 *n, int64 want)
{
	if (want > *n)
	{
		*n = Max(want, 2 * *n);
		*buf = pg_realloc(*buf, *n * TREE_HASH_LEN);
	}
	return *buf;
}

static void
prepare_block(ExportSlot *sl, ExportLine *l, ExportShare *sh)
{
	size_t		need;
	const JsonMember *m = l->members;
	BlockWork	w;
	BlockPart	mine;
	BlockPart	other;
	bool		split;

	if (l->n != B_N)
		return;
	for (int k = 0; k < B_N; k++)
		if (strcmp(m[k].key, export_block_names[k]) != 0)
			return;
	if (m[B_FIRST].kind != JSON_INTEGER || m[B_COUNT].kind != JSON_INTEGER ||
		m[B_ENTRIES].kind != JSON_STRING)
		return;
	/* a count that does not match the entries is for verify_export.c to report */
	w.count = m[B_COUNT].integer;
	if (w.count <= 0 || m[B_FIRST].integer < 1 || m[B_ENTRIES].len % (EXPORT_ENTRY_LEN * 2) != 0 ||
		m[B_ENTRIES].len / (EXPORT_ENTRY_LEN * 2) != (uint64) w.count)
		return;
	w.start = m[B_FIRST].integer - 1;
	/* the entries, then room for at most two pieces per height */
	need = w.count * EXPORT_ENTRY_LEN + 2 * 64 * sizeof(ExportPiece);
	pthread_mutex_lock(&sl->spare_lock);
	if (sl->spare_entries != NULL && sl->spare_entries_cap >= need)
	{
		l->entries = sl->spare_entries;
		l->entries_cap = sl->spare_entries_cap;
		sl->spare_entries = NULL;
		sl->spare_entries_cap = 0;
	}
	l->index = sl->spare_index;
	l->nindex = sl->spare_nindex;
	sl->spare_index = NULL;
	sl->spare_nindex = 0;
	pthread_mutex_unlock(&sl->spare_lock);
	if (l->entries == NULL)
	{
		/* an eighth more, so that the blocks after it, about as large, fit */
		l->entries_cap = need + need / 8;
		l->entries = (uint8 *) slot_buffer(NULL, 0, l->entries_cap);
	}
	l->pieces = (ExportPiece *) (l->entries + w.count * EXPORT_ENTRY_LEN);
	if (!export_unhex(m[B_ENTRIES].str, m[B_ENTRIES].len, l->entries))
		return;					/* its buffers go back with the slot's */
	w.leaves = l->entries + EXPORT_ENTRY_LEAF;
	w.line = l;
	w.a = 0;
	while (w.a < BLOCK_SHARED_HEIGHT && (w.start & (INT64CONST(1) << w.a)) == 0)
		w.a++;
	w.ngroups = w.count >> w.a;
	w.groups = hashes_buffer(&sh->groups, &sh->groups_n, w.ngroups + 1);
	split = w.count >= BLOCK_SPLIT_LEAVES;
	l->pieces_at = w.start;

	/* scratch for half the leaves is enough for each part (two buffers) */
	(void) hashes_buffer(&sh->tree_scratch, &sh->tree_scratch_n, (w.count + 1) / 2 + 1);
	if (split)
		(void) hashes_buffer(&sh->split_scratch, &sh->split_scratch_n, (w.count + 1) / 2 + 1);
	mine = (BlockPart) {&w, 1, 0, w.ngroups / 2, sh->tree_scratch};
	other = (BlockPart) {&w, 1, w.ngroups / 2, w.ngroups, split ? sh->split_scratch : sh->tree_scratch};
	block_parts(&mine, &other, split);
	/* the leaves left over, fewer than 2^a, are one more node */
	if (w.count > w.ngroups << w.a)
		steward_merkle_root(w.leaves + (w.ngroups << w.a) * EXPORT_ENTRY_LEN, EXPORT_ENTRY_LEN,
							w.count - (w.ngroups << w.a), sh->tree_scratch,
							w.groups + w.ngroups * TREE_HASH_LEN);
	mine.step = 2;
	other.step = 3;
	block_parts(&mine, &other, split);
	l->block_prepared = true;
}

/*
 * Parse one line and, for an event as export writes it, build what its
 * leaf and payload state are computed from in s: true when it waits for
 * those hashes (hash_two, or export_event_leaf's way for one).
 */
static bool
prepare_line(ExportSlot *sl, ExportLine *l, ExportShare *sh, EventScratch *s)
{
	PQExpBuffer err = &sh->err;
	const JsonMember *m[E_N];
	bool		encodable;

	l->hashed = false;
	l->block_prepared = false;
	resetPQExpBuffer(err);
	/* an event line as export writes it is read without a look at its keys */
	if (l->len > sizeof(EVENT_LINE_START) &&
		memcmp(l->text, EVENT_LINE_START, sizeof(EVENT_LINE_START) - 1) == 0)
	{
		bool		fits;

		l->parsed = json_parse_line_as(l->text, l->len, export_event_names, event_name_len, E_N,
									   l->members, sl->side + (l->text - sl->buf), err, &fits);
		if (fits)
			l->n = E_N;
		else
			l->parsed = json_parse_line(l->text, l->len, l->members, EXPORT_MAX_MEMBERS, &l->n, err);
	}
	else
		l->parsed = json_parse_line(l->text, l->len, l->members, EXPORT_MAX_MEMBERS, &l->n, err);
	if (!l->parsed)
	{
		l->error = pg_strdup(err->data);
		return false;
	}
	if (l->n > 0 && l->members[0].kind == JSON_STRING && JSON_STR_IS(&l->members[0], "block"))
	{
		prepare_block(sl, l, sh);
		return false;
	}
	if (!event_members(l, m))
		return false;
	encodable = m[E_TIME] != NULL && m[E_TIME]->integer >= TIME_MIN_US &&
		m[E_TIME]->integer <= TIME_MAX_US;
	return event_build(m, m[E_ID]->integer, (uint64) m[E_XID]->integer, encodable,
					   m[E_TIME] ? m[E_TIME]->integer : 0, s, &l->state) == EXPORT_LEAF_OK;
}

/*
 * Prepare one batch of a slot's lines, claimed from the slot's counter, if
 * any is left to claim; false if none.  Whichever thread is free does it:
 * the reader thread once it has cut the chunks it has room for, the caller
 * for the chunk it comes for and, while the reader ends a batch of that
 * one, for the chunks after it.  The last batch done wakes whoever waits.
 */
static bool
prepare_batch(ExportLines *r, ExportSlot *sl, ExportShare *sh)
{
	int			from;
	int			to;
	ExportLine *pending[2];

	if (__atomic_load_n(&sl->claimed, __ATOMIC_RELAXED) >= sl->nlines)
		return false;
	from = __atomic_fetch_add(&sl->claimed, PREPARE_BATCH, __ATOMIC_RELAXED);
	if (from >= sl->nlines)
		return false;
	to = Min(from + PREPARE_BATCH, sl->nlines);
	/* events are hashed two by two */
	for (int i = from, npending = 0; i < to || npending > 0; i++)
	{
		if (i < to && prepare_line(sl, &sl->lines[i], sh, &sh->scratch[npending]))
			pending[npending++] = &sl->lines[i];
		if (npending == 2)
		{
			hash_two(sh->scratch, pending);
			npending = 0;
		}
		else if (npending == 1 && i >= to - 1)
		{
			EventScratch *e = &sh->scratch[0];
			uint8		c[TREE_HASH_LEN];

			if (e->nmessage == 0)
				steward_sha256(e->bytes, e->nbytes, pending[0]->leaf);
			else
			{
				steward_sha256_pair(e->bytes, e->nbytes, pending[0]->leaf, e->message, e->nmessage, c);
				pending[0]->state = commitment_state(e, c);
			}
			pending[0]->hashed = true;
			npending = 0;
		}
	}
	if (__atomic_add_fetch(&sl->prepared, to - from, __ATOMIC_ACQ_REL) == sl->nlines)
	{
		pthread_mutex_lock(&r->mutex);
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->mutex);
	}
	return true;
}

/*
 * The first slot from slot k on, in ring order (oldest chunk first), that
 * is filled and has lines left to claim; NULL if none.  Under the mutex.
 */
static ExportSlot *
slot_to_prepare(ExportLines *r, int k)
{
	for (int i = 0; i < EXPORT_SLOTS; i++)
	{
		ExportSlot *sl = &r->slots[(k + i) % EXPORT_SLOTS];

		if (sl->state == SLOT_FILLED && sl->nlines > 0 &&
			__atomic_load_n(&sl->claimed, __ATOMIC_RELAXED) < sl->nlines)
			return sl;
	}
	return NULL;
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
	{
		if (sl->lines[i].error)
		{
			free(sl->lines[i].error);
			sl->lines[i].error = NULL;
		}
		/* the largest entries buffer and index are kept for the next chunk */
		if (sl->lines[i].entries)
		{
			if (sl->lines[i].entries_cap > sl->spare_entries_cap)
			{
				free(sl->spare_entries);
				sl->spare_entries = sl->lines[i].entries;
				sl->spare_entries_cap = sl->lines[i].entries_cap;
			}
			else
				free(sl->lines[i].entries);
			sl->lines[i].entries = NULL;
			sl->lines[i].entries_cap = 0;
		}
		if (sl->lines[i].index)
		{
			if (sl->lines[i].nindex > sl->spare_nindex)
			{
				free(sl->spare_index);
				sl->spare_index = sl->lines[i].index;
				sl->spare_nindex = sl->lines[i].nindex;
			}
			else
				free(sl->lines[i].index);
			sl->lines[i].index = NULL;
			sl->lines[i].nindex = 0;
		}
		if (sl->lines[i].twice)
		{
			free(sl->lines[i].twice);
			sl->lines[i].twice = NULL;
		}
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
			sl->buf = slot_buffer(sl->buf, sl->end, sl->cap + 1);
			sl->side = slot_buffer(sl->side, 0, sl->cap + 1);
		}
		memcpy(sl->buf, prev->buf + prev->used, left);
		sl->end = left;
		prev->end = prev->used;
	}
	read_more(r, sl, CHUNK_BYTES);
	for (size_t scanned = 0; !r->eof && memchr(sl->buf + scanned, '\n', sl->end - scanned) == NULL;)
	{
		/* a line longer than what is read: read on, into a larger buffer */
		scanned = sl->end;
		if (sl->end == sl->cap)
		{
			sl->cap *= 2;
			sl->buf = slot_buffer(sl->buf, sl->end, sl->cap + 1);
			sl->side = slot_buffer(sl->side, 0, sl->cap + 1);
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
 * The reader thread: fills the slots in turn, as the caller frees them,
 * up to EXPORT_SLOTS - 1 chunks ahead of the caller, so that a chunk that
 * takes the caller long (a block of many entries) does not hold it up;
 * cutting a chunk comes first, as only this thread does it, then it
 * prepares lines, oldest chunk first.  A slot with no line marks the end
 * of the file; after it the thread prepares what is left and ends.
 */
static void *
reader_main(void *arg)
{
	ExportLines *r = (ExportLines *) arg;
	ExportSlot *prev = NULL;
	int			k = 0;			/* the slot to fill next */
	bool		ended = false;	/* the slot with no line is filled */

	for (;;)
	{
		ExportSlot *sl;
		bool		to_fill = false;

		pthread_mutex_lock(&r->mutex);
		for (;;)
		{
			if (r->stop)
			{
				pthread_mutex_unlock(&r->mutex);
				return NULL;
			}
			if (!ended && r->slots[k].state == SLOT_EMPTY)
			{
				sl = &r->slots[k];
				to_fill = true;
				break;
			}
			if ((sl = slot_to_prepare(r, k)) != NULL)
				break;
			if (ended)
			{
				pthread_mutex_unlock(&r->mutex);
				return NULL;
			}
			pthread_cond_wait(&r->cond, &r->mutex);
		}
		pthread_mutex_unlock(&r->mutex);
		if (!to_fill)
		{
			(void) prepare_batch(r, sl, &r->shares[1]);
			continue;
		}
		fill(r, sl, prev);
		sl->claimed = 0;
		sl->prepared = 0;
		pthread_mutex_lock(&r->mutex);
		sl->state = SLOT_FILLED;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->mutex);
		ended = sl->nlines == 0;
		prev = sl;
		k = (k + 1) % EXPORT_SLOTS;
	}
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
	for (int k = 0; k < EXPORT_SLOTS; k++)
	{
		r->slots[k].cap = CHUNK_BYTES;
		r->slots[k].buf = slot_buffer(NULL, 0, r->slots[k].cap + 1);
		r->slots[k].side = slot_buffer(NULL, 0, r->slots[k].cap + 1);
		r->slots[k].lines = pg_malloc0(sizeof(ExportLine) * CHUNK_LINES);
		r->slots[k].state = SLOT_EMPTY;
		pthread_mutex_init(&r->slots[k].spare_lock, NULL);
	}
	for (int t = 0; t < 2; t++)
		initPQExpBuffer(&r->shares[t].err);
	/* the hashes and the JSON reader pick their code once, before any thread uses them */
	json_init();
	steward_sha256("", 0, warm);
	steward_sha256_pair("", 0, warm, "", 0, warm);
	for (int k = 0; k < E_N; k++)
		event_name_len[k] = strlen(export_event_names[k]);
	pthread_mutex_init(&r->mutex, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->current = -1;
	if (pthread_create(&r->reader, NULL, reader_main, r) != 0)
	{
		fprintf(stderr, "%s: could not start a thread\n", progname);
		exit(EXIT_SERVER);
	}
}

void
export_lines_close(ExportLines *r)
{
	pthread_mutex_lock(&r->mutex);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mutex);
	pthread_join(r->reader, NULL);
	close(r->fd);
}

/*
 * The next chunk in r->lines[0 .. r->nlines), prepared; false after the
 * last line.  The chunk returned before is given back to the reader.
 */
bool
export_lines_next(ExportLines *r)
{
	ExportSlot *sl;

	pthread_mutex_lock(&r->mutex);
	if (r->current >= 0)
	{
		r->slots[r->current].state = SLOT_EMPTY;
		pthread_cond_broadcast(&r->cond);
	}
	sl = &r->slots[r->head];
	while (sl->state != SLOT_FILLED)
		pthread_cond_wait(&r->cond, &r->mutex);
	pthread_mutex_unlock(&r->mutex);
	if (sl->nlines == 0)
	{
		r->current = -1;
		return false;
	}

	/*
	 * What the reader has not taken yet; then, until its last batch is
	 * done, lines of the chunks after this one, or wait.
	 */
	while (prepare_batch(r, sl, &r->shares[0]))
		;
	pthread_mutex_lock(&r->mutex);
	while (__atomic_load_n(&sl->prepared, __ATOMIC_ACQUIRE) < sl->nlines)
	{
		ExportSlot *ahead = slot_to_prepare(r, (r->head + 1) % EXPORT_SLOTS);

		if (ahead == NULL)
		{
			pthread_cond_wait(&r->cond, &r->mutex);
			continue;
		}
		pthread_mutex_unlock(&r->mutex);
		(void) prepare_batch(r, ahead, &r->shares[0]);
		pthread_mutex_lock(&r->mutex);
	}
	pthread_mutex_unlock(&r->mutex);

	r->current = r->head;
	r->head = (r->head + 1) % EXPORT_SLOTS;
	r->lines = sl->lines;
	r->nlines = sl->nlines;
	return true;
}
