/*-------------------------------------------------------------------------
 *
 * verify_export.c
 *	  "verify-export": an export (export.c) checked with no server at all,
 *	  by the rules verify_audit_chain() applies (docs/audit.md,
 *	  "Verification rules"), with the same verdict, the same problem text
 *	  and the same precedence ("Problems and their precedence"), plus the
 *	  ledger tree's root at the export's head and, with --digest, the head
 *	  a digest kept elsewhere names.  This file never connects.
 *
 * The file is read once, line by line.  Memory holds one block at a time:
 * its line (the entries in hex), its entries (56 bytes per event), an
 * index of its entries by id and a flag per entry; besides, the retention
 * epochs, one record per redacted event, per REDACTION and per RETENTION
 * event, and O(log n) hashes of the ledger tree.  Problems of a block are
 * checked when its line is read (rules 1 to 9), those of its events as
 * they follow it (E3 to E6), its entries no event matched when the next
 * block starts (E7, with E8 when it starts), the redactions (E9) and the
 * epochs (E10) at the end.  Of all problems the first by the documented
 * precedence is kept, exactly as verify.c keeps it.
 *
 * A file that is not what export writes (a line that is not JSON, a
 * missing or unknown member, an event after a block that is not its home
 * block, lines out of order, a missing header or end line, counts that
 * differ from the end line's) is refused as malformed or edited: it is
 * never called valid.
 *
 * client/verify_export.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <fcntl.h>
#include <unistd.h>

#include "port/pg_bswap.h"

#define ENTRY_LEN		56

/* problem classes and ranks: common/ledger_rules.h */
typedef struct Problem
{
	bool		found;
	int			class;
	int64		position;
	int			rank;
	int64		event_id;
	int64		time_us;
	int64		block_id;
	char		text[512];
} Problem;

typedef struct Snap
{
	uint64		xmin;
	uint64		xmax;
	int			nxip;
	int			cap;
	uint64	   *xip;
} Snap;

typedef struct Epoch
{
	int64		epoch_id;
	char	   *partition;
	int64		from_us;
	int64		to_us;
	int64		dropped;
	int64		pruned;
} Epoch;

/* an epoch as a RETENTION event lists it; NULL members as has_* false */
typedef struct Listed
{
	char	   *partition;		/* NULL: SQL NULL */
	bool		has_from;
	int64		from_us;
	bool		has_to;
	int64		to_us;
	bool		has_dropped;
	int64		dropped;
} Listed;

typedef struct Redacted
{
	int64		id;
	int64		position;
	int64		time_us;
	int64		block_id;
} Redacted;

typedef struct Retention
{
	int64		id;
	char	   *payload;
	size_t		len;
} Retention;

typedef struct Verifier
{
	const char *path;
	ExportLines rd;
	ExportLine *line;			/* the line being checked */
	PQExpBufferData err;
	Problem		problem;

	/* the header */
	int64		head_block;
	int64		head_position;
	uint8		head_hash[TREE_HASH_LEN];
	bool		head_has_root;
	int64		head_tree_size;
	uint8		head_root[TREE_HASH_LEN];

	/* the chain so far (verify.c's AuditChainEnd) */
	int64		next_block;
	int64		next_position;
	uint8		prev_hash[TREE_HASH_LEN];
	int			format;
	bool		has_prev_snap;
	Snap		prev_snap;
	bool		block_problem;	/* a problem of the blocks class was found */

	/* the block whose events are being read */
	bool		in_block;
	bool		unsealed;		/* past the last block's events */
	int64		block_id;
	int64		first_position;
	int64		count;
	bool		has_hash;
	uint8		hash[TREE_HASH_LEN];
	Snap		snap;
	uint8	   *entries;		/* count × 56 bytes when entries_ok */
	bool		entries_ok;		/* they match the count (NENTRIES in verify.c) */
	size_t		entries_cap;
	uint8	   *seen;
	int32	   *slots;			/* id → 1 + index of its first entry */
	uint32		nslots;
	bool		has_entries_digest; /* H(0x04 ‖ entries), computed ahead */
	uint8		entries_digest[TREE_HASH_LEN];
	int64	   *twice;			/* export_index_entries' */
	int64		twice_cap;
	bool		ids_unique;		/* no two entries have one id */
	int64		next_entry;		/* the entry after the last one found */
	uint64		last_xid;		/* the order of the section's events */
	int64		last_id;
	bool		has_last;

	/* the chain after the last block (for a truncated digest) */
	int64		next_block_after;
	int64		next_position_after;

	/* the last block read, for the head */
	bool		any_block;
	int64		last_block_id;
	int64		last_block_end;
	bool		last_has_hash;
	uint8		last_hash[TREE_HASH_LEN];

	/* the ledger tree, and the roots wanted at some sizes */
	TreeStack	tree;
	uint8		block_root[TREE_HASH_LEN];	/* computed from the entries */
	uint8	   *tree_scratch;	/* steward_merkle_root's */
	int64		tree_scratch_n;
	bool		has_head_root;
	uint8		head_root_calc[TREE_HASH_LEN];
	bool		has_digest;
	DigestHead	dg;
	bool		has_digest_root;
	uint8		digest_root_calc[TREE_HASH_LEN];
	bool		digest_block_seen;
	bool		digest_block_has_hash;
	uint8		digest_block_hash[TREE_HASH_LEN];
	int64		digest_block_end;

	/* evidence and what is checked at the end */
	Epoch	   *epochs;
	int			nepochs;
	Redacted   *redacted;
	int64		nredacted;
	int64		redacted_cap;
	int64	   *targets;
	int64		ntargets;
	int64		targets_cap;
	Retention  *retentions;
	int			nretentions;
	int64		newest_retention_id;
	int64		newest_retention_pos;

	/* counts */
	int64		blocks_checked;
	int64		events_checked;
	int64		events_redacted;
	int64		events_pruned;
	int64		events_unsealed;
	int64		lines_blocks;
	int64		lines_events;
	int64		lines_epochs;

	/* reused buffers */
	EventScratch scratch;		/* for an event not prepared ahead */
	Hasher		block_hasher;
	JsonMember *members;		/* the line's */
} Verifier;

/* ------------------------------------------------------------ messages */

/* the export cannot be checked: it is not what export writes; exits 4 */
static void
refuse(Verifier *v, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

static void
refuse(Verifier *v, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: could not check: \"%s\" is malformed or was edited: line %lld: ",
			progname, v->path, (long long) (v->line ? v->line->lineno : 0));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_SERVER);
}

/* does the problem kept rank before (or as) a new one with these keys? */
static bool
kept_ranks_first(const Problem *p, int class, int rank, int64 position, int64 event_id,
				 int64 time_us)
{
	StewardProblemKey kept = {p->class, p->position, p->rank, p->event_id, p->time_us};
	StewardProblemKey found = {class, position, rank, event_id, time_us};

	return p->found && steward_problem_ranks_first(&kept, &found);
}

static void
problem(Verifier *v, int class, int rank, int64 position, int64 block_id, int64 event_id,
		int64 time_us, const char *fmt,...) pg_attribute_printf(8, 9);

static void
problem(Verifier *v, int class, int rank, int64 position, int64 block_id, int64 event_id,
		int64 time_us, const char *fmt,...)
{
	va_list		ap;

	if (class == CLASS_BLOCK)
		v->block_problem = true;
	if (kept_ranks_first(&v->problem, class, rank, position, event_id, time_us))
		return;
	va_start(ap, fmt);
	vsnprintf(v->problem.text, sizeof(v->problem.text), fmt, ap);
	va_end(ap);
	v->problem.found = true;
	v->problem.class = class;
	v->problem.rank = rank;
	v->problem.position = position;
	v->problem.block_id = block_id;
	v->problem.event_id = event_id;
	v->problem.time_us = time_us;
}

/* --------------------------------------------------------------- lines */

/* ---------------------------------------------------------- the members */

static inline uint64
get_be64(const uint8 *p)
{
	uint64		x;

	memcpy(&x, p, 8);
	return pg_ntoh64(x);
}

static inline void
put_be64(uint8 *p, uint64 x)
{
	x = pg_hton64(x);
	memcpy(p, &x, 8);
}

/* a member's value: kinds allowed by the caller */
static const JsonMember *
member_int(Verifier *v, const JsonMember *m, const char *what, bool null_ok)
{
	if (m == NULL)
		refuse(v, "%s has no member \"%s\"", what, "?");
	if (m->kind == JSON_NULL && null_ok)
		return NULL;
	if (m->kind != JSON_INTEGER)
		refuse(v, "the member \"%s\" of %s is not an integer", m->key, what);
	return m;
}

static const JsonMember *
member_str(Verifier *v, const JsonMember *m, const char *what, bool null_ok)
{
	if (m->kind == JSON_NULL && null_ok)
		return NULL;
	if (m->kind != JSON_STRING)
		refuse(v, "the member \"%s\" of %s is not a string", m->key, what);
	return m;
}

/*
 * Map the members of a line to the names expected, in any order, each
 * exactly once; the exporter writes them in this order, which is tried
 * first.  out[i] is the member named names[i].
 */
static void
map_members(Verifier *v, int n, const char *const *names, int nnames, const JsonMember **out,
			const char *what)
{
	for (int i = 0; i < nnames; i++)
		out[i] = NULL;
	for (int k = 0; k < n; k++)
	{
		const JsonMember *m = &v->members[k];
		int			i = -1;

		if (k < nnames && strcmp(m->key, names[k]) == 0)
			i = k;
		else
			for (int j = 0; j < nnames; j++)
				if (strcmp(m->key, names[j]) == 0)
				{
					i = j;
					break;
				}
		if (i < 0)
			refuse(v, "%s has an unknown member \"%s\"", what, m->key);
		if (out[i] != NULL)
			refuse(v, "%s has the member \"%s\" twice", what, m->key);
		out[i] = m;
	}
	for (int i = 0; i < nnames; i++)
		if (out[i] == NULL)
			refuse(v, "%s has no member \"%s\"", what, names[i]);
}

/* "xmin:xmax:xip,…" as pg_snapshot writes it */
static bool
parse_snapshot(const char *s, Snap *snap)
{
	char	   *end;

	snap->nxip = 0;
	if (!isdigit((unsigned char) *s))
		return false;
	snap->xmin = strtou64(s, &end, 10);
	if (*end != ':' || !isdigit((unsigned char) end[1]))
		return false;
	snap->xmax = strtou64(end + 1, &end, 10);
	if (*end != ':')
		return false;
	s = end + 1;
	while (*s)
	{
		if (!isdigit((unsigned char) *s))
			return false;
		if (snap->nxip == snap->cap)
		{
			snap->cap = Max(16, snap->cap * 2);
			snap->xip = pg_realloc(snap->xip, sizeof(uint64) * snap->cap);
		}
		snap->xip[snap->nxip++] = strtou64(s, &end, 10);
		if (*end == ',' && end[1] != '\0')
			end++;
		else if (*end != '\0')
			return false;
		s = end;
	}
	return true;
}

static void
copy_snapshot(Snap *dst, const Snap *src)
{
	dst->xmin = src->xmin;
	dst->xmax = src->xmax;
	if (dst->cap < src->nxip)
	{
		dst->cap = Max(16, src->nxip);
		dst->xip = pg_realloc(dst->xip, sizeof(uint64) * dst->cap);
	}
	dst->nxip = src->nxip;
	if (src->nxip > 0)
		memcpy(dst->xip, src->xip, sizeof(uint64) * src->nxip);
}

/* completed in snap (common/ledger_rules.c) */
static bool
visible(const Snap *snap, uint64 xid)
{
	return steward_snapshot_completed(snap->xmin, snap->xmax, snap->xip, snap->nxip, xid);
}

/* ----------------------------------------------------------- the tree */

/* take the ledger tree's root if its size is one whose root is wanted */
static void
tree_roots_wanted(Verifier *v)
{
	if (v->head_has_root && (int64) v->tree.size == v->head_tree_size)
	{
		tree_stack_root(&v->tree, v->head_root_calc);
		v->has_head_root = true;
	}
	if (v->has_digest && v->dg.has_root && (int64) v->tree.size == v->dg.tree_size)
	{
		tree_stack_root(&v->tree, v->digest_root_calc);
		v->has_digest_root = true;
	}
}

/* the smallest size above size at which the tree's root is wanted */
static uint64
next_wanted_size(const Verifier *v, uint64 size)
{
	uint64		stop = PG_UINT64_MAX;

	if (v->head_has_root && (uint64) v->head_tree_size > size)
		stop = Min(stop, (uint64) v->head_tree_size);
	if (v->has_digest && v->dg.has_root && (uint64) v->dg.tree_size > size)
		stop = Min(stop, (uint64) v->dg.tree_size);
	return stop;
}

/*
 * Push count leaves (TREE_HASH_LEN bytes each, stride bytes apart) to the
 * ledger tree, and take its root at the sizes a root is wanted at (the
 * header's and the digest's tree_size).  Where the tree's size allows,
 * an aligned subtree of many leaves is computed at once (tree_root_of)
 * and pushed as one node; never past a size whose root is wanted.
 */
static void
tree_leaves(Verifier *v, const uint8 *leaves, size_t stride, int64 count)
{
	int64		i = 0;

	while (i < count)
	{
		uint64		size = v->tree.size;
		int			h = tree_aligned_height(size, count - i, next_wanted_size(v, size));
		uint8		root[TREE_HASH_LEN];

		if (h == 0)
			tree_stack_push(&v->tree, leaves + i * stride);
		else
		{
			steward_merkle_root(leaves + i * stride, stride, INT64CONST(1) << h, v->tree_scratch, root);
			tree_stack_push_subtree(&v->tree, root, h);
		}
		i += INT64CONST(1) << h;

		tree_roots_wanted(v);
	}
}

/*
 * Push a block's leaves as the aligned subtrees export_lines.c computed
 * (pieces, from the tree's size now); a piece that a size whose root is
 * wanted falls inside is pushed leaf by leaf instead.
 */
static void
tree_pieces(Verifier *v, const ExportLine *l)
{
	int64		i = 0;

	for (int k = 0; k < l->npieces; k++)
	{
		uint64		size = v->tree.size;
		uint64		end = size + (UINT64CONST(1) << l->pieces[k].height);

		if (next_wanted_size(v, size) < end)
			tree_leaves(v, v->entries + i * ENTRY_LEN + 24, ENTRY_LEN, INT64CONST(1) << l->pieces[k].height);
		else
		{
			tree_stack_push_subtree(&v->tree, l->pieces[k].root, l->pieces[k].height);
			tree_roots_wanted(v);
		}
		i += INT64CONST(1) << l->pieces[k].height;
	}
}

/* ------------------------------------------------------------- blocks */

static inline const uint8 *
entry(const Verifier *v, int64 i)
{
	return v->entries + i * ENTRY_LEN;
}

/*
 * The index of the block's first entry with this id, or -1.  Events come
 * in the entries' (xid, id) order, so the entry after the last one found
 * is tried first: when no two entries have one id, it is the one if its id
 * is.
 */
static int64
find_entry(Verifier *v, int64 id)
{
	uint32		mask = v->nslots - 1;

	if (!v->entries_ok || v->count == 0)
		return -1;
	if (v->ids_unique && v->next_entry < v->count &&
		(int64) get_be64(entry(v, v->next_entry)) == id)
		return v->next_entry++;
	for (uint32 s = export_id_slot(id, mask);; s = (s + 1) & mask)
	{
		int32		k = v->slots[s];

		if (k == 0)
			return -1;
		if ((int64) get_be64(entry(v, k - 1)) == id)
		{
			v->next_entry = k;
			return k - 1;
		}
	}
}

/*
 * Index the block's entries by id (indexed ahead by export_lines.c when it
 * prepared the line: its index is swapped in); the later of two with one
 * id is E8.
 */
static void
index_entries(Verifier *v)
{
	const int64 *twice;
	int64		ntwice;

	if (v->line->block_prepared)
	{
		int32	   *index = v->slots;
		uint32		n = v->nslots;

		v->slots = v->line->index;
		v->nslots = v->line->nindex;
		v->line->index = index;
		v->line->nindex = n;
		twice = v->line->twice;
		ntwice = v->line->ntwice;
	}
	else
	{
		ntwice = export_index_entries(v->entries, v->count, &v->slots, &v->nslots,
									  &v->twice, &v->twice_cap);
		twice = v->twice;
	}
	v->ids_unique = ntwice == 0;
	v->next_entry = 0;
	for (int64 k = 0; k < ntwice; k++)
		problem(v, CLASS_EVENT, RANK_SEALED_TWICE, v->first_position + twice[k], v->block_id,
				(int64) get_be64(entry(v, twice[k])), 0,
				"event %lld is sealed twice", (long long) get_be64(entry(v, twice[k])));
}

/* entries of the block just read that no event matched: pruned or E7 */
static void
finish_block(Verifier *v)
{
	if (!v->in_block)
		return;
	if (v->entries_ok)
		for (int64 i = 0; i < v->count; i++)
		{
			const uint8 *e;
			int64		t;
			bool		is_pruned = false;

			if (v->seen[i])
				continue;
			e = entry(v, i);
			t = (int64) get_be64(e + 16);
			for (int k = 0; k < v->nepochs; k++)
				if (t >= v->epochs[k].from_us && t < v->epochs[k].to_us)
				{
					v->epochs[k].pruned++;
					is_pruned = true;
					break;
				}
			if (is_pruned)
				v->events_pruned++;
			else
				problem(v, CLASS_EVENT, RANK_MISSING, v->first_position + i, v->block_id,
						(int64) get_be64(e), t,
						"event %lld is missing: it was deleted after sealing", (long long) get_be64(e));
		}
	v->in_block = false;
}

/* a hash member: true when it is 32 bytes; not hex at all is malformed */
static bool
hash_member(Verifier *v, const JsonMember *m, uint8 *out)
{
	if (m->kind == JSON_NULL)
		return false;
	member_str(v, m, "a block", false);
	if (m->len != 2 * TREE_HASH_LEN)
	{
		if (!export_unhex(m->str, m->len, (uint8 *) m->str))
			refuse(v, "the member \"%s\" of a block is not hex", m->key);
		return false;
	}
	if (!export_unhex(m->str, m->len, out))
		refuse(v, "the member \"%s\" of a block is not hex", m->key);
	return true;
}

/* the block's hash by the rule of its format; false when it has none */
static bool
block_hash(Verifier *v, int format, bool has_sealed, int64 sealed_us, const uint8 *root,
		   bool has_root, uint8 *out)
{
	Hasher	   *h = &v->block_hasher;
	uint8		head[5] = {0x03, 'P', 'S', 'B', (uint8) format};
	uint8		b[8];

	if ((format != 1 && format != 2) || !has_root || !has_sealed ||
		sealed_us < TIME_MIN_US || sealed_us > TIME_MAX_US ||
		(format == 2 && !v->entries_ok))
		return false;
	hasher_start(h);
	hasher_add(h, head, sizeof(head));
	put_be64(b, v->block_id);
	hasher_add(h, b, 8);
	put_be64(b, v->first_position);
	hasher_add(h, b, 8);
	put_be64(b, v->count);
	hasher_add(h, b, 8);
	put_be64(b, sealed_us);
	hasher_add(h, b, 8);
	hasher_add(h, root, TREE_HASH_LEN);
	if (format == 2)
	{
		uint8		eh[TREE_HASH_LEN];

		if (v->has_entries_digest)
			memcpy(eh, v->entries_digest, TREE_HASH_LEN);
		else
			tree_sha256(0x04, v->entries, (size_t) v->count * ENTRY_LEN, NULL, 0, eh);
		hasher_add(h, eh, TREE_HASH_LEN);
		put_be64(b, v->snap.xmin);
		hasher_add(h, b, 8);
		put_be64(b, v->snap.xmax);
		hasher_add(h, b, 8);
		put_be64(b, v->snap.nxip);
		hasher_add(h, b, 8);
		for (int i = 0; i < v->snap.nxip; i++)
		{
			put_be64(b, v->snap.xip[i]);
			hasher_add(h, b, 8);
		}
	}
	hasher_add(h, v->prev_hash, TREE_HASH_LEN);
	hasher_end(h, out);
	return true;
}

/* rules 1 to 9 (src/audit/block.c, check_block); the first that fails */
static void
check_block(Verifier *v, int format, bool has_root, const uint8 *root, bool has_prev,
			const uint8 *prev, bool has_sealed, int64 sealed_us)
{
	long long	id = (long long) v->block_id;
	int64		fp = v->first_position;
	uint8		calc[TREE_HASH_LEN];

	if (v->block_id != v->next_block)
	{
		problem(v, CLASS_BLOCK, RANK_NONE, v->next_position, v->next_block, 0, 0,
				"block %lld is missing: the next block is %lld", (long long) v->next_block, id);
		return;
	}
	if (fp != v->next_position)
	{
		problem(v, CLASS_BLOCK, RANK_NONE, v->next_position, v->block_id, 0, 0,
				"block %lld starts at position %lld, expected %lld", id, (long long) fp,
				(long long) v->next_position);
		return;
	}
	if (!v->entries_ok)
	{
		problem(v, CLASS_BLOCK, RANK_NONE, v->next_position, v->block_id, 0, 0,
				"block %lld: its entries do not match its event count", id);
		return;
	}
	if (!has_prev || memcmp(prev, v->prev_hash, TREE_HASH_LEN) != 0)
	{
		problem(v, CLASS_BLOCK, RANK_NONE, fp, v->block_id, 0, 0,
				"block %lld does not link to the hash of block %lld", id, id - 1);
		return;
	}
	if (format != 1 && format != 2)
	{
		problem(v, CLASS_BLOCK, RANK_NONE, fp, v->block_id, 0, 0,
				"block %lld has an unknown format %d", id, format);
		return;
	}
	if (format < v->format)
	{
		problem(v, CLASS_BLOCK, RANK_NONE, fp, v->block_id, 0, 0,
				"block %lld has format %d after a block of format %d", id, format, v->format);
		return;
	}
	if (!has_root || memcmp(root, v->block_root, TREE_HASH_LEN) != 0)
	{
		problem(v, CLASS_BLOCK, RANK_NONE, fp, v->block_id, 0, 0,
				"block %lld: its entries do not match its Merkle root", id);
		return;
	}
	if (!v->has_hash || !block_hash(v, format, has_sealed, sealed_us, root, has_root, calc) ||
		memcmp(v->hash, calc, TREE_HASH_LEN) != 0)
	{
		problem(v, CLASS_BLOCK, RANK_NONE, fp, v->block_id, 0, 0,
				"block %lld: its hash does not match its header", id);
		return;
	}
	if (v->has_prev_snap)
	{
		bool		follows = v->snap.xmax >= v->prev_snap.xmax;

		for (int i = 0; follows && i < v->snap.nxip; i++)
			if (visible(&v->prev_snap, v->snap.xip[i]))
				follows = false;
		if (!follows)
		{
			problem(v, CLASS_BLOCK, RANK_NONE, fp, v->block_id, 0, 0,
					"block %lld: its snapshot does not follow block %lld's", id, id - 1);
			return;
		}
	}
	for (int64 i = 0; i < v->count; i++)
	{
		uint64		xid = get_be64(entry(v, i) + 8);

		if (!visible(&v->snap, xid) || (v->has_prev_snap && visible(&v->prev_snap, xid)))
		{
			problem(v, CLASS_BLOCK, RANK_NONE, fp, v->block_id, 0, 0,
					"block %lld: its snapshot does not match its entries", id);
			return;
		}
	}
}

static void
read_block(Verifier *v, int n)
{
	const JsonMember *m[B_N];
	const JsonMember *sealed;
	uint8		root[TREE_HASH_LEN];
	uint8		prev[TREE_HASH_LEN];
	bool		has_root;
	bool		has_prev;
	int64		format;
	const JsonMember *ent;
	size_t		nbytes;

	if (v->unsealed)
		refuse(v, "a block after the events not sealed yet");
	finish_block(v);
	/* the chain goes on from what the block before stores */
	if (v->any_block)
	{
		if (v->has_hash)
			memcpy(v->prev_hash, v->hash, TREE_HASH_LEN);
		v->next_block = v->block_id + 1;
		v->next_position = v->first_position + v->count;
		copy_snapshot(&v->prev_snap, &v->snap);
		v->has_prev_snap = true;
	}

	map_members(v, n, export_block_names, B_N, m, "a block");
	v->block_id = member_int(v, m[B_ID], "a block", false)->integer;
	format = member_int(v, m[B_FORMAT], "a block", false)->integer;
	if (format < PG_INT16_MIN || format > PG_INT16_MAX)
		refuse(v, "the format of block %lld is not a smallint", (long long) v->block_id);
	member_str(v, m[B_SNAPSHOT], "a block", false);
	if (!parse_snapshot(m[B_SNAPSHOT]->str, &v->snap))
		refuse(v, "the snapshot of block %lld is not a pg_snapshot", (long long) v->block_id);
	v->first_position = member_int(v, m[B_FIRST], "a block", false)->integer;
	v->count = member_int(v, m[B_COUNT], "a block", false)->integer;
	sealed = member_int(v, m[B_SEALED], "a block", true);
	has_root = hash_member(v, m[B_ROOT], root);
	has_prev = hash_member(v, m[B_PREV], prev);
	v->has_hash = hash_member(v, m[B_HASH], v->hash);

	/* the entries, from hex into the block's buffer */
	ent = member_str(v, m[B_ENTRIES], "a block", false);
	nbytes = ent->len / 2;
	if (v->entries == NULL || nbytes > v->entries_cap)
	{
		v->entries_cap = Max(nbytes, 2 * v->entries_cap);
		pg_free(v->entries);
		pg_free(v->seen);
		v->entries = pg_malloc(v->entries_cap + 1);
		v->seen = pg_malloc(v->entries_cap / ENTRY_LEN + 1);
	}
	v->has_entries_digest = v->line->block_prepared;
	if (v->line->block_prepared)
	{
		/* decoded and digested by export_lines.c */
		memcpy(v->entries, v->line->entries, nbytes);
		memcpy(v->entries_digest, v->line->entries_digest, TREE_HASH_LEN);
	}
	else if (!export_unhex(ent->str, ent->len, v->entries))
		refuse(v, "the entries of block %lld are not hex", (long long) v->block_id);
	v->entries_ok = v->count >= 0 && nbytes % ENTRY_LEN == 0 &&
		nbytes / ENTRY_LEN == (uint64) v->count;
	v->in_block = true;
	v->has_last = false;
	v->lines_blocks++;
	v->blocks_checked++;

	/* its leaves: the block's own root, and the ledger tree */
	if (v->entries_ok)
	{
		memset(v->seen, 0, v->count);
		if ((v->count + 1) / 2 > v->tree_scratch_n)
		{
			v->tree_scratch_n = Max((v->count + 1) / 2, 2 * v->tree_scratch_n);
			v->tree_scratch = pg_realloc(v->tree_scratch, v->tree_scratch_n * TREE_HASH_LEN);
		}
		if (v->line->block_prepared && (int64) v->tree.size == v->line->pieces_at)
		{
			/* computed by export_lines.c while the chunk before was checked */
			memcpy(v->block_root, v->line->block_root, TREE_HASH_LEN);
			tree_pieces(v, v->line);
		}
		else
		{
			steward_merkle_root(entry(v, 0) + 24, ENTRY_LEN, v->count, v->tree_scratch, v->block_root);
			tree_leaves(v, entry(v, 0) + 24, ENTRY_LEN, v->count);
		}
	}
	else
		steward_merkle_root(NULL, ENTRY_LEN, 0, NULL, v->block_root);
	check_block(v, (int) format, has_root, root, has_prev, prev, sealed != NULL,
				sealed ? sealed->integer : 0);
	if (v->entries_ok)
		index_entries(v);

	v->format = (int) format;
	v->any_block = true;
	v->last_block_id = v->block_id;
	v->last_block_end = v->first_position + v->count - 1;
	v->last_has_hash = v->has_hash;
	memcpy(v->last_hash, v->hash, TREE_HASH_LEN);
	if (v->has_digest && v->block_id == v->dg.block && !v->digest_block_seen)
	{
		v->digest_block_seen = true;
		v->digest_block_has_hash = v->has_hash;
		memcpy(v->digest_block_hash, v->hash, TREE_HASH_LEN);
		v->digest_block_end = v->first_position + v->count - 1;
	}
}

/* ------------------------------------------------------------- events */

static void
add_target(Verifier *v, int64 target)
{
	if (v->ntargets == v->targets_cap)
	{
		v->targets_cap = Max(16, 2 * v->targets_cap);
		v->targets = pg_realloc(v->targets, sizeof(int64) * v->targets_cap);
	}
	v->targets[v->ntargets++] = target;
}

static void
read_event(Verifier *v, int n)
{
	const JsonMember *m[E_N];
	const JsonMember *t;
	int64		id;
	uint64		xid;
	bool		encodable;
	int64		time_us;
	uint8		leaf[TREE_HASH_LEN];
	const JsonMember *payload;
	const JsonMember *type;
	int			state;
	int64		idx;
	int64		pos;
	const uint8 *e;

	/* a line prepared ahead has its members in export's order, named so */
	if (v->line->hashed)
		for (int k = 0; k < E_N; k++)
			m[k] = &v->members[k];
	else
		map_members(v, n, export_event_names, E_N, m, "an event");
	id = member_int(v, m[E_ID], "an event", false)->integer;
	t = member_int(v, m[E_XID], "an event", false);
	if (t->integer < 0)
		refuse(v, "the xid of event %lld is negative", (long long) id);
	xid = (uint64) t->integer;
	t = member_int(v, m[E_TIME], "an event", true);
	encodable = t != NULL && t->integer >= TIME_MIN_US && t->integer <= TIME_MAX_US;
	/* a time the format cannot encode ranks as the latest (docs/audit.md, "Times") */
	time_us = t != NULL ? t->integer : PG_INT64_MAX;
	v->lines_events++;

	/* which section it is in: its home block's, or after the last block */
	if (!v->unsealed && v->any_block && !visible(&v->snap, xid))
	{
		finish_block(v);
		v->unsealed = true;
		v->has_last = false;
	}
	if (!v->unsealed && !v->any_block)
		v->unsealed = true;
	if (!v->unsealed && v->has_prev_snap && visible(&v->prev_snap, xid))
		refuse(v, "event %lld follows block %lld, but an earlier block's snapshot shows its transaction completed",
			   (long long) id, (long long) v->block_id);
	if (v->unsealed && v->any_block && visible(&v->snap, xid))
		refuse(v, "event %lld is among the events not sealed yet, but block %lld's snapshot shows its transaction completed",
			   (long long) id, (long long) v->last_block_id);
	if (v->has_last && (xid < v->last_xid || (xid == v->last_xid && id < v->last_id)))
		refuse(v, "event %lld is out of (xid, id) order", (long long) id);
	v->has_last = true;
	v->last_xid = xid;
	v->last_id = id;

	type = member_str(v, m[E_TYPE], "an event", true);
	payload = member_str(v, m[E_PAYLOAD], "an event", true);
	/* RETENTION rows: kept for the list of epochs (rule E10) */
	if (type && payload && JSON_STR_IS(type, "RETENTION"))
	{
		v->retentions = pg_realloc(v->retentions, sizeof(Retention) * (v->nretentions + 1));
		v->retentions[v->nretentions].id = id;
		v->retentions[v->nretentions].payload = pnstrdup(payload->str, payload->len);
		v->retentions[v->nretentions].len = payload->len;
		v->nretentions++;
	}
	if (v->unsealed)
	{
		v->events_unsealed++;
		return;
	}
	v->events_checked++;

	/* its leaf and payload state (export_lines.c): prepared with the line, or here */
	if (v->line->hashed)
	{
		memcpy(leaf, v->line->leaf, TREE_HASH_LEN);
		state = v->line->state;
	}
	else
	{
		const JsonMember *f[E_N];

		for (int k = E_TYPE; k <= E_SALT; k++)
			(void) member_str(v, m[k], "an event", true);
		for (int k = 0; k < E_N; k++)
			f[k] = m[k]->kind == JSON_NULL ? NULL : m[k];
		switch (export_event_leaf(f, id, xid, encodable, time_us, &v->scratch, leaf, &state))
		{
			case EXPORT_LEAF_COMMITMENT:
				refuse(v, "the commitment of event %lld is not hex", (long long) id);
			case EXPORT_LEAF_SALT:
				refuse(v, "the salt of event %lld is not hex", (long long) id);
			default:
				break;
		}
	}

	/* its entry in its home block (E3), the first with its id */
	idx = find_entry(v, id);
	if (idx < 0)
	{
		int64		lo = 0;
		int64		hi = v->entries_ok ? v->count : 0;

		while (lo < hi)
		{
			int64		mid = (lo + hi) / 2;
			uint64		mx = get_be64(entry(v, mid) + 8);
			int64		mi = (int64) get_be64(entry(v, mid));

			if (mx < xid || (mx == xid && mi < id))
				lo = mid + 1;
			else
				hi = mid;
		}
		problem(v, CLASS_EVENT, RANK_INSERTED, v->first_position + lo, v->block_id, id, time_us,
				"event %lld is not in the chain: it was inserted after sealing", (long long) id);
		return;
	}
	e = entry(v, idx);
	pos = v->first_position + idx;
	if (v->seen[idx])
		problem(v, CLASS_EVENT, RANK_STORED_TWICE, pos, v->block_id, id, (int64) get_be64(e + 16),
				"event %lld is stored twice: more than one row has its id", (long long) id);
	v->seen[idx] = 1;
	if (memcmp(leaf, e + 24, TREE_HASH_LEN) == 0 && state == STATE_INTACT)
	{
		int64		target;

		/* an intact REDACTION or RETENTION event is evidence (E9, E10) */
		if (type && JSON_STR_IS(type, "REDACTION") && m[E_RID]->kind == JSON_STRING &&
			steward_redaction_target(m[E_RID]->str, &target))
			add_target(v, target);
		else if (type && JSON_STR_IS(type, "RETENTION") && pos > v->newest_retention_pos)
		{
			v->newest_retention_pos = pos;
			v->newest_retention_id = id;
		}
	}
	else if (memcmp(leaf, e + 24, TREE_HASH_LEN) != 0)
	{
		if (get_be64(e + 8) != xid || (int64) get_be64(e + 16) != time_us || !encodable)
			problem(v, CLASS_EVENT, RANK_MOVED, pos, v->block_id, id, time_us,
					"event %lld was moved: its xid or time differs from what was sealed", (long long) id);
		else
			problem(v, CLASS_EVENT, RANK_CHANGED, pos, v->block_id, id, time_us,
					"event %lld was changed after sealing", (long long) id);
	}
	if (state == STATE_MISMATCH)
		problem(v, CLASS_EVENT, RANK_PAYLOAD, pos, v->block_id, id, time_us,
				"the payload of event %lld does not match its commitment", (long long) id);
	else if (state == STATE_STRAY_SALT)
		problem(v, CLASS_EVENT, RANK_SALT, pos, v->block_id, id, time_us,
				"event %lld has a salt but no payload", (long long) id);
	else if (state == STATE_REDACTED)
	{
		if (v->nredacted == v->redacted_cap)
		{
			v->redacted_cap = Max(16, 2 * v->redacted_cap);
			v->redacted = pg_realloc(v->redacted, sizeof(Redacted) * v->redacted_cap);
		}
		v->redacted[v->nredacted].id = id;
		v->redacted[v->nredacted].position = pos;
		v->redacted[v->nredacted].time_us = time_us;
		v->redacted[v->nredacted].block_id = v->block_id;
		v->nredacted++;
		v->events_redacted++;
	}
}

/* -------------------------------------------------------------- epochs */

static const char *const epoch_names[] = {"kind", "epoch_id", "partition", "events_dropped",
"from_us", "to_us"};

static void
read_epoch(Verifier *v, int n)
{
	const JsonMember *m[6];
	Epoch	   *ep;

	if (v->any_block || v->unsealed)
		refuse(v, "a retention epoch after the blocks");
	map_members(v, n, epoch_names, 6, m, "a retention epoch");
	v->epochs = pg_realloc(v->epochs, sizeof(Epoch) * (v->nepochs + 1));
	ep = &v->epochs[v->nepochs];
	ep->epoch_id = member_int(v, m[1], "a retention epoch", false)->integer;
	ep->partition = pg_strdup(member_str(v, m[2], "a retention epoch", false)->str);
	ep->dropped = member_int(v, m[3], "a retention epoch", false)->integer;
	if (member_int(v, m[4], "a retention epoch", true) == NULL ||
		member_int(v, m[5], "a retention epoch", true) == NULL)
		refuse(v, "retention epoch %lld has a range the byte format cannot encode", (long long) ep->epoch_id);
	ep->from_us = m[4]->integer;
	ep->to_us = m[5]->integer;
	ep->pruned = 0;
	if (v->nepochs > 0 && ep->epoch_id <= v->epochs[v->nepochs - 1].epoch_id)
		refuse(v, "retention epoch %lld is out of epoch_id order", (long long) ep->epoch_id);
	v->nepochs++;
	v->lines_epochs++;
}

/* days from 1970-01-01 to a date of the proleptic Gregorian calendar */
static int64
days_from_civil(int64 y, int64 m, int64 d)
{
	int64		era;
	int64		yoe;
	int64		doy;
	int64		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
digits(const char **p, int n, int64 *out)
{
	*out = 0;
	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) (*p)[i]))
			return false;
		*out = *out * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

/*
 * A time as a RETENTION event lists it, ISO 8601 as to_jsonb writes a
 * timestamptz (docs/audit.md, "Retention"): YYYY-MM-DDTHH:MM:SS[.f…] and
 * an offset (+HH:MM, +HH, +HHMM or Z), in µs since 1970.  False for any
 * other text, which the server might read: the run cannot decide then.
 */
static bool
iso_time(const char *s, int64 *us)
{
	int64		y,
				mo,
				d,
				h,
				mi,
				sec,
				frac = 0,
				oh = 0,
				om = 0;
	int			sign = 1;
	const char *p = s;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
		!digits(&p, 2, &d) || (*p != 'T' && *p != ' ') || !(p++, digits(&p, 2, &h)) ||
		*p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec))
		return false;
	if (*p == '.')
	{
		int			nd = 0;

		p++;
		while (isdigit((unsigned char) *p))
		{
			if (nd < 6)
				frac = frac * 10 + (*p - '0');
			else if (*p != '0')
				return false;	/* finer than a microsecond */
			nd++;
			p++;
		}
		if (nd == 0)
			return false;
		for (; nd < 6; nd++)
			frac *= 10;
	}
	if (*p == 'Z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, 2, &oh))
			return false;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char) *p) && !digits(&p, 2, &om))
			return false;
	}
	else
		return false;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60)
		return false;
	*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
			- sign * (oh * 3600 + om * 60)) * INT64CONST(1000000)) + frac;
	return true;
}

/* a member of a listed epoch as ->> gives it; NULL for JSON null or none */
static const JsonMember *
listed_member(const JsonMember *mm, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(mm[i].key, key) == 0)
			return mm[i].kind == JSON_NULL ? NULL : &mm[i];
	return NULL;
}

/* could not check: the list cannot be read as the server reads it */
static void
cannot_read_list(Verifier *v, int64 id, const char *why) pg_attribute_noreturn();

static void
cannot_read_list(Verifier *v, int64 id, const char *why)
{
	fprintf(stderr, "%s: could not check \"%s\": the epochs of RETENTION event %lld cannot be read: %s\n",
			progname, v->path, (long long) id, why);
	exit(EXIT_SERVER);
}

/* the epochs listed by one RETENTION payload, appended to *list */
static void
read_listed(Verifier *v, const Retention *r, Listed **list, int *n)
{
	char	   *text = pnstrdup(r->payload, r->len);
	JsonMember	top[64];
	int			ntop;
	const JsonMember *epochs = NULL;
	size_t		pos = 0;
	const char *elem;
	size_t		elen;
	int			rc;

	resetPQExpBuffer(&v->err);
	/* not an object: payload -> 'epochs' is NULL, no epochs */
	if (!json_parse_line(text, r->len, top, lengthof(top), &ntop, &v->err))
		return;
	for (int i = 0; i < ntop; i++)
		if (strcmp(top[i].key, "epochs") == 0)
			epochs = &top[i];
	if (epochs == NULL)
		return;
	if (epochs->kind != JSON_RAW || epochs->str[0] != '[')
		cannot_read_list(v, r->id, "\"epochs\" is not an array");
	while ((rc = json_array_next(epochs->str, epochs->len, &pos, &elem, &elen, &v->err)) == 1)
	{
		Listed	   *l;
		JsonMember	mm[64];
		int			nm = 0;
		char	   *copy = pnstrdup(elem, elen);
		const JsonMember *x;

		*list = pg_realloc(*list, sizeof(Listed) * (*n + 1));
		l = &(*list)[(*n)++];
		memset(l, 0, sizeof(*l));
		/* not an object: every ->> is NULL */
		if (copy[0] != '{')
			continue;
		resetPQExpBuffer(&v->err);
		if (!json_parse_line(copy, elen, mm, lengthof(mm), &nm, &v->err))
			cannot_read_list(v, r->id, v->err.data);
		if ((x = listed_member(mm, nm, "partition")) != NULL)
			l->partition = x->kind == JSON_RAW ? pnstrdup(x->str, x->len) : pnstrdup(x->str, x->len);
		if ((x = listed_member(mm, nm, "range_from")) != NULL)
		{
			if (x->kind != JSON_STRING || !iso_time(x->str, &l->from_us))
				cannot_read_list(v, r->id, "a range_from that is not a time as to_jsonb writes one");
			l->has_from = true;
		}
		if ((x = listed_member(mm, nm, "range_to")) != NULL)
		{
			if (x->kind != JSON_STRING || !iso_time(x->str, &l->to_us))
				cannot_read_list(v, r->id, "a range_to that is not a time as to_jsonb writes one");
			l->has_to = true;
		}
		if ((x = listed_member(mm, nm, "events_dropped")) != NULL)
		{
			char	   *end;

			if (x->kind == JSON_INTEGER)
				l->dropped = x->integer;
			else if (x->kind == JSON_STRING && x->len > 0)
			{
				errno = 0;
				l->dropped = strtoi64(x->str, &end, 10);
				if (errno != 0 || *end != '\0')
					cannot_read_list(v, r->id, "an events_dropped that is not a bigint");
			}
			else
				cannot_read_list(v, r->id, "an events_dropped that is not a bigint");
			l->has_dropped = true;
		}
	}
	if (rc < 0)
		cannot_read_list(v, r->id, v->err.data);
}

static bool
listed_equals(const Listed *l, const Epoch *ep)
{
	return l->partition && l->has_from && l->has_to && l->has_dropped &&
		strcmp(l->partition, ep->partition) == 0 && l->from_us == ep->from_us &&
		l->to_us == ep->to_us && l->dropped == ep->dropped;
}

/* rule E10: the epochs against the newest RETENTION event, then the counts */
static void
check_epochs(Verifier *v)
{
	Listed	   *list = NULL;
	int			nlist = 0;
	bool		same = true;

	for (int i = 0; i < v->nretentions; i++)
		if (v->newest_retention_id != 0 && v->retentions[i].id == v->newest_retention_id)
			read_listed(v, &v->retentions[i], &list, &nlist);
	for (int i = 0; same && i < nlist; i++)
	{
		bool		found = false;

		for (int k = 0; !found && k < v->nepochs; k++)
			found = listed_equals(&list[i], &v->epochs[k]);
		same = found;
	}
	for (int k = 0; same && k < v->nepochs; k++)
	{
		bool		found = false;

		for (int i = 0; !found && i < nlist; i++)
			found = listed_equals(&list[i], &v->epochs[k]);
		same = found;
	}
	if (!same)
		problem(v, CLASS_EPOCH, RANK_NONE, 0, 0, 0, 0,
				"the retention epochs do not match the newest RETENTION event of the ledger");
	for (int k = 0; k < v->nepochs; k++)
		if (v->epochs[k].pruned != v->epochs[k].dropped)
			problem(v, CLASS_EPOCH, RANK_NONE, 0, 0, 0, 0,
					"retention epoch %lld dropped %lld events, but %lld sealed events of its range are gone",
					(long long) v->epochs[k].epoch_id, (long long) v->epochs[k].dropped,
					(long long) v->epochs[k].pruned);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* rule E9: every erased payload is named by a sealed, intact REDACTION */
static void
check_redactions(Verifier *v)
{
	if (v->ntargets > 0)
		qsort(v->targets, v->ntargets, sizeof(int64), cmp_int64);
	for (int64 i = 0; i < v->nredacted; i++)
	{
		Redacted   *rd = &v->redacted[i];

		if (v->ntargets == 0 ||
			bsearch(&rd->id, v->targets, v->ntargets, sizeof(int64), cmp_int64) == NULL)
			problem(v, CLASS_EVENT, RANK_ERASED, rd->position, rd->block_id, rd->id, rd->time_us,
					"the payload of event %lld was erased without a redaction record",
					(long long) rd->id);
	}
}

/* --------------------------------------------------- header and digest */

static const JsonMember *
find(Verifier *v, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v->members[i].key, key) == 0)
			return &v->members[i];
	return NULL;
}

static void
read_header(Verifier *v, int n)
{
	const JsonMember *m;

	if ((m = find(v, n, "format")) == NULL || m->kind != JSON_INTEGER || m->integer != 1)
		refuse(v, "the header is not of format 1");
	if ((m = find(v, n, "block")) == NULL || m->kind != JSON_INTEGER)
		refuse(v, "the header names no block");
	v->head_block = m->integer;
	if ((m = find(v, n, "position")) == NULL || m->kind != JSON_INTEGER)
		refuse(v, "the header names no position");
	v->head_position = m->integer;
	if ((m = find(v, n, "hash")) == NULL || m->kind != JSON_STRING || m->len != 2 * TREE_HASH_LEN ||
		!export_unhex(m->str, m->len, v->head_hash))
		refuse(v, "the header names no hash");
	m = find(v, n, "tree_root");
	v->head_has_root = m != NULL && m->kind != JSON_NULL;
	if (v->head_has_root)
	{
		if (m->kind != JSON_STRING || m->len != 2 * TREE_HASH_LEN || !export_unhex(m->str, m->len, v->head_root))
			refuse(v, "the header's tree_root is not 64 hex digits");
		if ((m = find(v, n, "tree_size")) == NULL || m->kind != JSON_INTEGER || m->integer < 0)
			refuse(v, "the header names a tree_root but no tree_size");
		v->head_tree_size = m->integer;
		if (v->head_tree_size == 0)
		{
			tree_stack_root(&v->tree, v->head_root_calc);
			v->has_head_root = true;
		}
	}
}

static void
check_end(Verifier *v, int n)
{
	const JsonMember *m[4];
	static const char *const names[] = {"kind", "blocks", "events", "epochs"};

	map_members(v, n, names, 4, m, "the end line");
	if (member_int(v, m[1], "the end line", false)->integer != v->lines_blocks ||
		member_int(v, m[2], "the end line", false)->integer != v->lines_events ||
		member_int(v, m[3], "the end line", false)->integer != v->lines_epochs)
		refuse(v, "the end line counts %lld blocks, %lld events and %lld epochs, the file holds %lld, %lld and %lld",
			   (long long) m[1]->integer, (long long) m[2]->integer, (long long) m[3]->integer,
			   (long long) v->lines_blocks, (long long) v->lines_events, (long long) v->lines_epochs);
}

/* the head the export ends at, and the trusted digest (verify.c's order) */
static void
check_heads(Verifier *v)
{
	int64		last = v->any_block ? v->last_block_id : 0;
	int64		end = v->any_block ? v->last_block_end : 0;

	if (v->head_block != last || v->head_position != end ||
		(v->any_block && (!v->last_has_hash || memcmp(v->head_hash, v->last_hash, TREE_HASH_LEN) != 0)))
		refuse(v, "the header names block %lld at position %lld, but the last block is block %lld at position %lld, or has another hash",
			   (long long) v->head_block, (long long) v->head_position, (long long) last, (long long) end);

	/* the tree of the header's head, from the leaves (no stored node trusted) */
	if (v->head_has_root && !v->block_problem &&
		(v->head_tree_size != v->head_position || !v->has_head_root ||
		 memcmp(v->head_root_calc, v->head_root, TREE_HASH_LEN) != 0))
		problem(v, CLASS_BLOCK, RANK_NONE, v->head_position, v->head_block, 0, 0,
				"the ledger tree of %lld events does not have the root the export's header names",
				(long long) v->head_tree_size);

	if (!v->has_digest)
		return;
	if (v->dg.block == 0 ? v->dg.position != 0 :
		!v->digest_block_seen || !v->digest_block_has_hash ||
		memcmp(v->digest_block_hash, v->dg.hash, TREE_HASH_LEN) != 0 ||
		v->digest_block_end != v->dg.position)
	{
		if (v->dg.block != 0 && !v->digest_block_seen)
			problem(v, CLASS_BLOCK, RANK_NONE, v->any_block ? v->next_position_after : 1, v->dg.block, 0, 0,
					"the ledger is truncated: block %lld named by the trusted digest is missing "
					"(the chain ends at block %lld, position %lld)",
					(long long) v->dg.block, (long long) (v->next_block_after - 1),
					(long long) (v->next_position_after - 1));
		else
			problem(v, CLASS_BLOCK, RANK_NONE, v->dg.position, v->dg.block, 0, 0,
					"block %lld does not match the trusted digest: the chain was rewritten",
					(long long) v->dg.block);
	}
	else if (v->dg.has_root && !v->block_problem &&
			 (v->dg.tree_size != v->dg.position || !v->has_digest_root ||
			  memcmp(v->digest_root_calc, v->dg.root, TREE_HASH_LEN) != 0))
		problem(v, CLASS_BLOCK, RANK_NONE, v->dg.position, v->dg.block, 0, 0,
				"the ledger tree of %lld events does not have the root the trusted digest names",
				(long long) v->dg.tree_size);
}

/* --------------------------------------------------------------- entry */

static char *
hex(const uint8 *h)
{
	static char buf[2 * TREE_HASH_LEN + 1];

	for (int i = 0; i < TREE_HASH_LEN; i++)
		snprintf(buf + 2 * i, 3, "%02x", h[i]);
	return buf;
}

/* check one line of the export, in file order */
static void
check_line(Verifier *v, bool *header, bool *ended)
{
	const JsonMember *kind;
	int			n;

	if (*ended)
		refuse(v, "a line after the end line");
	if (!v->line->parsed)
		refuse(v, "not a JSON object of an export: %s", v->line->error);
	v->members = v->line->members;
	n = v->line->n;
	kind = n > 0 ? &v->members[0] : NULL;
	if (kind == NULL || !JSON_KEY_IS(kind, "kind") || kind->kind != JSON_STRING)
		refuse(v, "its first member is not \"kind\"");
	if (!*header)
	{
		if (!JSON_STR_IS(kind, "export"))
			refuse(v, "the first line is not the header of a pg_steward export");
		read_header(v, n);
		*header = true;
	}
	else if (JSON_STR_IS(kind, "event"))
		read_event(v, n);
	else if (JSON_STR_IS(kind, "block"))
		read_block(v, n);
	else if (JSON_STR_IS(kind, "epoch"))
		read_epoch(v, n);
	else if (JSON_STR_IS(kind, "end"))
	{
		check_end(v, n);
		*ended = true;
	}
	else if (JSON_STR_IS(kind, "export"))
		refuse(v, "a second header");
	else
		refuse(v, "an unknown kind \"%s\"", kind->str);
}

int
cmd_verify_export(const ClientOptions *opts, const char *file)
{
	Verifier   *v = pg_malloc0(sizeof(Verifier));
	bool		header = false;
	bool		ended = false;
	int			rc;

	if (opts->public_key && opts->digest_file == NULL)
		fail_usage("--public-key checks the signature of the --digest file: give --digest too");
	if (opts->digest_file)
	{
		if ((rc = digest_file_read(opts->digest_file, opts->public_key, false, &v->dg)) != EXIT_OK)
			return rc;
		v->has_digest = true;
		if (v->dg.has_root && v->dg.tree_size == 0)
		{
			tree_stack_root(&v->tree, v->digest_root_calc);
			v->has_digest_root = true;
		}
	}
	v->path = file;
	export_lines_open(&v->rd, file);
	initPQExpBuffer(&v->err);
	v->next_block = 1;
	v->next_position = 1;
	tree_stack_init(&v->tree);

	while (export_lines_next(&v->rd))
	{
		for (int i = 0; i < v->rd.nlines; i++)
		{
			v->line = &v->rd.lines[i];
			check_line(v, &header, &ended);
		}
		if (interrupted)
		{
			fprintf(stderr, "%s: interrupted\n", progname);
			return EXIT_INTERRUPTED;
		}
	}
	export_lines_close(&v->rd);
	v->line = NULL;
	if (!header)
		refuse(v, "the file is empty: no header");
	if (!ended)
		refuse(v, "there is no end line: the export is truncated");
	finish_block(v);
	if (v->any_block)
	{
		v->next_block_after = v->block_id + 1;
		v->next_position_after = v->first_position + v->count;
	}
	else
	{
		v->next_block_after = 1;
		v->next_position_after = 1;
	}
	if (v->nredacted > 0)
		check_redactions(v);
	check_epochs(v);
	check_heads(v);

	if (!v->problem.found)
		printf("no problem found\n");
	else if (v->problem.class == CLASS_EPOCH)
		printf("position 0: %s\n", v->problem.text);
	else
		printf("block %lld, position %lld: %s\n", (long long) v->problem.block_id,
			   (long long) v->problem.position, v->problem.text);
	printf("checked: %lld blocks, %lld events (%lld redacted, %lld pruned), %lld not sealed\n",
		   (long long) v->blocks_checked, (long long) v->events_checked,
		   (long long) v->events_redacted, (long long) v->events_pruned,
		   (long long) v->events_unsealed);
	printf("head: block %lld, position %lld, hash %s", (long long) v->head_block,
		   (long long) v->head_position, hex(v->head_hash));
	if (v->head_has_root)
		printf(", tree_size %lld, tree_root %s", (long long) v->head_tree_size, hex(v->head_root));
	printf("\n");
	if (v->problem.found)
		return EXIT_FINDINGS;
	if (v->has_digest)
		printf("the digest %s names block %lld of this export%s\n", opts->digest_file,
			   (long long) v->dg.block, v->dg.has_root ? ", and its tree root" : "");
	return EXIT_OK;
}
