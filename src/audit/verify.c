/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  verify_audit_chain(): recompute the ledger and name the first event
 *	  where it no longer matches what was sealed.
 *
 * Blocks are read in order and checked as a chain (block.c): numbering,
 * position, link to the previous block's hash, format, the Merkle root over
 * the block's entries, the header hash (format 2 covers the entries and
 * the snapshot too), and the snapshot against the previous one and the
 * entries.  The events the blocks cover are then read, in chunks of
 * blocks of about CHUNK_EVENTS events: verify_read.c finds the chunk's
 * events through the xid index, reads them from the heap and computes
 * every event's leaf and payload check in C, in parallel workers too
 * (verify_parallel.c).  A chunk's events are read from the moment its
 * blocks are read: the leader checks the chunk's blocks (their hashes
 * above) while the workers read its events, and then reads the next
 * chunk's blocks.  Here each event is matched by id against the sealed
 * entries:
 * Matching is per block, never per chunk or per worker: an event belongs
 * to the first block whose snapshot shows its xid completed (its home
 * block), and only that block's entries are searched for its id, so the
 * verdict does not depend on where chunks end or who read which page:
 *	  - an entry whose leaf differs: the event was changed (or moved: its
 *		xid or time differs from the entry's);
 *	  - an entry with no event: the event was deleted, unless retention
 *		dropped its partition (an epoch covers its time);
 *	  - an event with no entry of its id in its home block: forged;
 *	  - a second row for the same entry: a copy was stored;
 *	  - a payload that does not match its commitment: the payload changed;
 *		an erased payload is "redacted" only if a REDACTION event names it;
 *		a salt without a payload was kept or put back.
 * Problems of blocks come first (every other check reads the blocks), then
 * problems of the retention epochs, then those of events; within each
 * class, the lowest chain position is reported.  Of two problems of blocks
 * or epochs at the same position the one found first is kept; problems of
 * events at the same position rank by kind (RANK_*), then event id, then
 * time, so that the order rows arrive in does not matter.
 * Memory: the blocks and entries of two chunks (the one checked and
 * matched, the one read), an index of one chunk's entries, and a record
 * per redacted event and per REDACTION event.  The entries buffers of a
 * finished chunk and the index's arrays are reused by the chunks after it,
 * never freed and allocated again: a buffer of megabytes freed and
 * allocated again costs a page fault per page every time.
 * A trusted digest must name a block that still exists with the same hash
 * (catches a regenerated chain and a cut tail); a "since" digest lets a
 * run start after an already verified block.
 *
 * Only reads, so it runs on a hot standby; all reads use the statement's
 * snapshot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pg_steward.h"
#include "audit/audit.h"
#include "audit/verify.h"

#define CHUNK_EVENTS	100000	/* the entries of about this many events at a time */
#define FIRST_CHUNK_EVENTS (CHUNK_EVENTS / 4)	/* the first chunk: workers start sooner */
#define DENSE_IDS		4		/* ids found by offset when they span at most
								 * this many times the chunk's entries */
#define BLOCK_FETCH		64

/*
 * A chunk: blocks of about CHUNK_EVENTS events whose events are read
 * together (the first one smaller, so that workers start sooner).  While
 * the events of one chunk are read (by parallel workers), the leader
 * checks its blocks and then reads the blocks of the next.
 */
typedef struct Chunk
{
	AuditBlock *blocks;
	int			nblocks;
	int			maxblocks;
	int64		events;			/* entries in its blocks */
	int64		next_position;	/* the chain's, after its last block */
	char	   *lower_snap;		/* snapshot before it (NULL: none) */
	AuditSnapshot lower;
} Chunk;

/* the entries of a block the chunk reads: none when they are malformed */
#define NENTRIES(b) ((b)->entries ? (b)->count : 0)

typedef struct EntryRef
{
	int64		id;
	int32		block;			/* index into the chunk's blocks */
	int32		idx;			/* entry within the block */
} EntryRef;

typedef struct Problem
{
	bool		found;
	int			class;
	int64		position;
	int			rank;
	int64		time_us;		/* as passed, for the ranking */
	bool		has_event;
	int64		event_id;
	bool		has_at;
	TimestampTz at;
	int64		block_id;
	char	   *text;
} Problem;

typedef struct Epoch
{
	int64		epoch_id;
	int64		from_us;
	int64		to_us;
	int64		dropped;		/* events_dropped as recorded */
	int64		pruned;			/* sealed entries found gone in its range */
} Epoch;

typedef struct Redacted
{
	int64		id;
	int64		position;
	int64		time_us;
	int64		block_id;
} Redacted;

typedef struct Verify
{
	Problem		problem;
	MemoryContext runcxt;		/* lives for the run */
	VerifyEvents *events;		/* the event tables, open */
	int64		events_checked;
	int64		blocks_checked;
	int64		events_redacted;
	int64		events_pruned;
	int64		events_unsealed;
	/* chain state */
	AuditChainEnd chain;
	char	   *lower_snap;		/* the last block read: its snapshot (NULL: none) */
	AuditSnapshot lower;
	int64		next_position;	/* and the chain's position after it */
	/* the chunk whose blocks are read, and the one whose events are */
	Chunk		chunks[2];
	Chunk	   *reading;
	Chunk	   *matching;		/* NULL: none */
	/*
	 * The entries buffers of finished chunks, for the blocks read next (a
	 * buffer of megabytes palloc'd and freed for every block would cost a
	 * page fault per page every time).
	 */
	EntryRef   *refs_buf;
	bool	   *seen_buf;
	int32	   *id_next_buf;
	int32	   *id_first_buf;
	void	   *refs_alloc;		/* the allocations of the four (to pfree) */
	void	   *seen_alloc;
	void	   *id_next_alloc;
	void	   *id_first_alloc;
	uint8	  **spares;
	Size	   *spare_sizes;
	void	  **spare_allocs;	/* the allocation each is in (to pfree) */
	int			nspares;
	int			maxspares;
	/* the sizes of the matching chunk's arrays below (grown, never freed) */
	int64		maxrefs;
	uint64		maxspan;
	/*
	 * The matching chunk's entries and how an id finds them:
	 * when the ids are dense, refs are in chain order and id_first[id -
	 * id_min] is the first entry with that id, id_next[i] the next one;
	 * otherwise (id_first NULL) refs are sorted by id, then by place.
	 */
	EntryRef   *refs;
	int64		nrefs;
	bool	   *seen;
	int32	   *id_first;		/* -1: no entry */
	int32	   *id_next;		/* -1: no further entry */
	int64		id_min;
	uint64		id_span;
	int64		hint;			/* sorted refs: where the next row's entry likely is */
	int			nepochs;
	Epoch	   *epochs;
	List	   *redacted;
	/* evidence from sealed, verified events of this run */
	int64	   *redaction_targets;	/* ids named by REDACTION events */
	int			ntargets;
	int			maxtargets;
	int64		newest_retention_id;	/* 0: none seen */
	int64		newest_retention_pos;
	char	   *since_snap;		/* the since block's snapshot (NULL: full run) */
} Verify;

static void
problem(Verify *v, int class, int rank, int64 position, int64 block_id, bool has_event,
		int64 event_id, bool has_at, int64 time_us, const char *fmt,...) pg_attribute_printf(10, 11);

/* does the problem kept rank before (or as) a new one with these keys? */
static bool
kept_ranks_first(const Problem *p, int class, int rank, int64 position, int64 event_id,
				 int64 time_us)
{
	StewardProblemKey kept = {p->class, p->position, p->rank, p->event_id, p->time_us};
	StewardProblemKey found = {class, position, rank, event_id, time_us};

	return p->found && steward_problem_ranks_first(&kept, &found);
}

/*
 * Note a problem; the first one by class, then by chain position, then
 * (for events) by rank, event id and time, is kept.  time_us is
 * microseconds since 1970 (from an entry or an event); a value the byte
 * format cannot encode (an infinite time saturates to one) leaves
 * first_bad_at NULL.
 */
static void
problem(Verify *v, int class, int rank, int64 position, int64 block_id, bool has_event,
		int64 event_id, bool has_at, int64 time_us, const char *fmt,...)
{
	va_list		ap;
	char		buf[512];

	if (kept_ranks_first(&v->problem, class, rank, position, has_event ? event_id : 0, time_us))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v->problem.found = true;
	v->problem.class = class;
	v->problem.position = position;
	v->problem.rank = rank;
	v->problem.time_us = time_us;
	v->problem.block_id = block_id;
	v->problem.has_event = has_event;
	v->problem.event_id = has_event ? event_id : 0;
	/* a time outside the ledger's range (infinity included) is not shown */
	v->problem.has_at = has_at && steward_audit_from_unix_micros(time_us, &v->problem.at) &&
		steward_audit_time_encodable(v->problem.at);
	v->problem.text = MemoryContextStrdup(v->runcxt, buf);
}

/* by id, then where the entry is (what a stable sort by id gives) */
static inline int
cmp_ref_place(const EntryRef *a, const EntryRef *b)
{
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	if (a->block != b->block)
		return a->block < b->block ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx ? 1 : 0;
}

#define ST_SORT sort_refs
#define ST_ELEMENT_TYPE EntryRef
#define ST_COMPARE(a, b) cmp_ref_place(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* is this sealed entry's time in a dropped range?  counts it for the epoch */
static bool
pruned(Verify *v, int64 time_us)
{
	for (int i = 0; i < v->nepochs; i++)
		if (time_us >= v->epochs[i].from_us && time_us < v->epochs[i].to_us)
		{
			v->epochs[i].pruned++;
			return true;
		}
	return false;
}

/* An entries buffer no block uses any more, for a later block. */
static void
keep_spare(Verify *v, uint8 *buf, Size size, void *alloc)
{
	if (v->nspares == v->maxspares)
	{
		v->maxspares = Max(8, v->maxspares * 2);
		v->spares = v->spares ? repalloc(v->spares, sizeof(uint8 *) * v->maxspares) :
			MemoryContextAlloc(v->runcxt, sizeof(uint8 *) * v->maxspares);
		v->spare_sizes = v->spare_sizes ? repalloc(v->spare_sizes, sizeof(Size) * v->maxspares) :
			MemoryContextAlloc(v->runcxt, sizeof(Size) * v->maxspares);
		v->spare_allocs = v->spare_allocs ? repalloc(v->spare_allocs, sizeof(void *) * v->maxspares) :
			MemoryContextAlloc(v->runcxt, sizeof(void *) * v->maxspares);
	}
	v->spares[v->nspares] = buf;
	v->spare_sizes[v->nspares] = size;
	v->spare_allocs[v->nspares] = alloc;
	v->nspares++;
}

/*
 * A new buffer of size bytes in runcxt (*alloc: what to pfree).
 * One of megabytes is aligned to 2 MB and offered to the kernel for
 * transparent huge pages, so that filling it costs a page fault per 2 MB
 * rather than per 4 kB where the kernel has them on.
 */
#define HUGE_PAGE ((Size) 2 * 1024 * 1024)

static uint8 *
new_buffer(Verify *v, Size size, void **alloc)
{
	char	   *raw;
	char	   *buf;

	if (size < HUGE_PAGE)
	{
		*alloc = MemoryContextAlloc(v->runcxt, size);
		return *alloc;
	}
	raw = MemoryContextAllocHuge(v->runcxt, size + HUGE_PAGE);
	buf = (char *) TYPEALIGN(HUGE_PAGE, raw);
#ifdef MADV_HUGEPAGE
	(void) madvise(buf, TYPEALIGN_DOWN(HUGE_PAGE, size), MADV_HUGEPAGE);
#endif
	*alloc = raw;
	return (uint8 *) buf;
}

/*
 * steward_audit_read_block into a spare entries buffer large enough for the
 * block's (the smallest such); when there is none, the largest spare is
 * freed and a buffer an eighth larger than the block needs is allocated,
 * so that blocks of about one size reuse their buffers.
 */
static void
read_block_reusing(Verify *v, HeapTuple t, TupleDesc d, AuditBlock *b)
{
	bool		isnull;
	Datum		raw = SPI_getbinval(t, d, 10, &isnull);
	Size		need = isnull ? 0 : toast_raw_datum_size(raw) + 1;
	int			best = -1;
	int			largest = -1;
	uint8	   *spare = NULL;
	Size		spare_size = 0;
	void	   *alloc = NULL;

	for (int i = 0; i < v->nspares; i++)
	{
		if (v->spare_sizes[i] >= need && (best < 0 || v->spare_sizes[i] < v->spare_sizes[best]))
			best = i;
		if (largest < 0 || v->spare_sizes[i] > v->spare_sizes[largest])
			largest = i;
	}
	if (best < 0 && largest >= 0)
	{
		pfree(v->spare_allocs[largest]);
		best = largest;
	}
	else if (best >= 0)
	{
		spare = v->spares[best];
		spare_size = v->spare_sizes[best];
		alloc = v->spare_allocs[best];
	}
	if (best >= 0)
	{
		v->nspares--;
		v->spares[best] = v->spares[v->nspares];
		v->spare_sizes[best] = v->spare_sizes[v->nspares];
		v->spare_allocs[best] = v->spare_allocs[v->nspares];
	}
	if (spare == NULL)
	{
		spare_size = Max(need + need / 8, 64);
		spare = new_buffer(v, spare_size, &alloc);
	}
	steward_audit_read_block(t, d, b, spare, spare_size);
	if (b->entries == spare)
		b->entries_alloc = alloc;
	else
		keep_spare(v, spare, spare_size, alloc);
}

/*
 * Add one block to the chunk read: its entries and snapshot, which bound
 * the chunk's events.  Its hashes are checked once the chunk's events are
 * being read (check_blocks), so that the workers need not wait for them.
 */
static void
read_block(Verify *v, HeapTuple t, TupleDesc d)
{
	Chunk	   *c = v->reading;
	AuditBlock *b;

	if (c->nblocks == 0)
	{
		c->lower_snap = v->lower_snap;
		c->lower = v->lower;
	}
	if (c->nblocks == c->maxblocks)
	{
		c->maxblocks = Max(16, c->maxblocks * 2);
		c->blocks = c->blocks ? repalloc(c->blocks, sizeof(AuditBlock) * c->maxblocks) :
			MemoryContextAlloc(v->runcxt, sizeof(AuditBlock) * c->maxblocks);
	}
	b = &c->blocks[c->nblocks];
	read_block_reusing(v, t, d, b);
	v->lower_snap = b->snap_text;
	v->lower = b->snap;
	v->next_position = b->first_position + b->count;
	c->events += NENTRIES(b);
	c->nblocks++;
}

/*
 * Check the blocks of the chunk being matched, in chain order, against the
 * chain before each, taking what the workers read meanwhile between blocks.
 */
static void
check_blocks(Verify *v)
{
	Chunk	   *c = v->matching;

	for (int k = 0; k < c->nblocks; k++)
	{
		AuditBlock *b = &c->blocks[k];
		AuditBlockProblem bp;
		bool		has_first;

		CHECK_FOR_INTERRUPTS();
		/* the previous block's snapshot */
		if (k > 0)
			v->chain.snap = &c->blocks[k - 1].snap;
		else
			v->chain.snap = c->lower_snap ? &c->lower : NULL;
		if (steward_audit_check_block(b, &v->chain, &bp))
		{
			has_first = NENTRIES(b) > 0;
			problem(v, CLASS_BLOCK, RANK_NONE, bp.position, bp.block_id,
					has_first, has_first ? steward_audit_entry_id(b->entries) : 0,
					has_first, has_first ? steward_audit_entry_time(b->entries) : 0, "%s", bp.text);
		}

		/* continue the chain from what is stored, to find later problems too */
		if (b->has_hash)
			memcpy(v->chain.prev_hash, b->hash, AUDIT_HASH_LEN);
		v->chain.next_block = b->block_id + 1;
		v->chain.next_position = b->first_position + b->count;
		v->chain.format = b->format;
		v->blocks_checked++;
		steward_verify_events_step(v->events);
	}
}

/* an event id named by a sealed REDACTION event (its resource_id as a number) */
static void
add_redaction_target(Verify *v, int64 target)
{
	if (v->ntargets == v->maxtargets)
	{
		v->maxtargets = Max(16, v->maxtargets * 2);
		v->redaction_targets = v->redaction_targets ?
			repalloc(v->redaction_targets, sizeof(int64) * v->maxtargets) :
			MemoryContextAlloc(v->runcxt, sizeof(int64) * v->maxtargets);
	}
	v->redaction_targets[v->ntargets++] = target;
}

/*
 * Where an event with this xid and id would sit in the chunk's chain: in
 * the first block whose snapshot shows xid completed, before the first
 * entry whose (xid, id) is not lower (entries are sealed in that order),
 * or after the block's last entry; *block_id is that block's.
 */
static int64
would_be_position(Chunk *c, uint64 xid, int64 id, int64 *block_id)
{
	for (int k = 0; k < c->nblocks; k++)
	{
		AuditBlock *b = &c->blocks[k];
		int64		lo = 0;
		int64		hi = NENTRIES(b);

		if (!steward_audit_visible(&b->snap, xid))
			continue;
		while (lo < hi)
		{
			int64		mid = (lo + hi) / 2;
			const uint8 *e = steward_audit_entry(b->entries, mid);

			if (steward_audit_entry_xid(e) < xid || (steward_audit_entry_xid(e) == xid && steward_audit_entry_id(e) < id))
				lo = mid + 1;
			else
				hi = mid;
		}
		*block_id = b->block_id;
		return b->first_position + lo;
	}
	*block_id = c->blocks[c->nblocks - 1].block_id;
	return c->next_position;
}

/*
 * Is block k of the chunk the home block of an event of the chunk with
 * this xid: the first whose snapshot shows xid completed?  (No event of
 * the chunk is completed in the snapshot before the chunk.)
 */
static inline bool
home_block(Chunk *c, int k, uint64 xid)
{
	return steward_audit_visible(&c->blocks[k].snap, xid) &&
		(k == 0 || !steward_audit_visible(&c->blocks[k - 1].snap, xid));
}

/*
 * The entry of an event with this id and xid: the first entry with its id
 * in its home block (in chain order), or NULL.
 */
static EntryRef *
find_ref(Verify *v, Chunk *c, int64 id, uint64 xid)
{
	int64		lo = 0;
	int64		hi = v->nrefs;

	if (v->id_first)
	{
		uint64		off = (uint64) id - (uint64) v->id_min;

		if (off >= v->id_span)
			return NULL;
		for (int32 i = v->id_first[off]; i >= 0; i = v->id_next[i])
			if (home_block(c, v->refs[i].block, xid))
				return &v->refs[i];
		return NULL;
	}

	/* rows mostly come in id order: try the entry after the last one */
	if (v->hint < v->nrefs && v->refs[v->hint].id == id &&
		(v->hint == 0 || v->refs[v->hint - 1].id != id))
		lo = v->hint;
	else
	{
		while (lo < hi)
		{
			int64		mid = lo + (hi - lo) / 2;

			if (v->refs[mid].id < id)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	for (; lo < v->nrefs && v->refs[lo].id == id; lo++)
		if (home_block(c, v->refs[lo].block, xid))
			return &v->refs[lo];
	return NULL;
}

/* Match rows of the chunk's events to their entries (a VerifyRowsFn). */
static void
match_rows(void *arg, const VerifyRow *rows, int nrows)
{
	Verify	   *v = (Verify *) arg;
	Chunk	   *c = v->matching;

	for (int r = 0; r < nrows; r++)
	{
		const VerifyRow *row = &rows[r];
		int64		id = row->id;
		int64		time_us = row->time_us;
		EntryRef   *ref;
		AuditBlock *b;
		const uint8 *e;
		int64		pos;

		CHECK_FOR_INTERRUPTS();
		v->events_checked++;
		ref = find_ref(v, c, id, row->xid);
		if (ref == NULL)
		{
			int64		block_id;

			pos = would_be_position(c, row->xid, id, &block_id);
			problem(v, CLASS_EVENT, RANK_INSERTED, pos, block_id, true, id, true, time_us,
					"event %lld is not in the chain: it was inserted after sealing",
					(long long) id);
			continue;
		}
		v->hint = (ref - v->refs) + 1;
		b = &c->blocks[ref->block];
		e = steward_audit_entry(b->entries, ref->idx);
		pos = b->first_position + ref->idx;
		/* whichever of two rows comes first: reported with the entry's time */
		if (v->seen[ref - v->refs])
			problem(v, CLASS_EVENT, RANK_STORED_TWICE, pos, b->block_id, true, id, true,
					steward_audit_entry_time(e),
					"event %lld is stored twice: more than one row has its id", (long long) id);
		v->seen[ref - v->refs] = true;
		if (memcmp(row->leaf, steward_audit_entry_leaf(e), AUDIT_HASH_LEN) == 0 &&
			row->state == AUDIT_PAYLOAD_OK)
		{
			/* an intact REDACTION or RETENTION event is evidence */
			if (row->kind == VERIFY_KIND_REDACTION)
				add_redaction_target(v, row->target);
			else if (row->kind == VERIFY_KIND_RETENTION && pos > v->newest_retention_pos)
			{
				v->newest_retention_pos = pos;
				v->newest_retention_id = id;
			}
		}
		else if (memcmp(row->leaf, steward_audit_entry_leaf(e), AUDIT_HASH_LEN) != 0)
		{
			/* a time the format cannot encode was never sealed */
			if (steward_audit_entry_xid(e) != row->xid || steward_audit_entry_time(e) != time_us ||
				!row->encodable)
				problem(v, CLASS_EVENT, RANK_MOVED, pos, b->block_id, true, id, true, time_us,
						"event %lld was moved: its xid or time differs from what was sealed",
						(long long) id);
			else
				problem(v, CLASS_EVENT, RANK_CHANGED, pos, b->block_id, true, id, true, time_us,
						"event %lld was changed after sealing", (long long) id);
		}
		if (row->state == AUDIT_PAYLOAD_MISMATCH)
			problem(v, CLASS_EVENT, RANK_PAYLOAD, pos, b->block_id, true, id, true, time_us,
					"the payload of event %lld does not match its commitment", (long long) id);
		else if (row->state == AUDIT_PAYLOAD_STRAY_SALT)
			problem(v, CLASS_EVENT, RANK_SALT, pos, b->block_id, true, id, true, time_us,
					"event %lld has a salt but no payload", (long long) id);
		else if (row->state == AUDIT_PAYLOAD_REDACTED)
		{
			Redacted   *rd = MemoryContextAlloc(v->runcxt, sizeof(Redacted));
			MemoryContext old = MemoryContextSwitchTo(v->runcxt);

			rd->id = id;
			rd->position = pos;
			rd->time_us = time_us;
			rd->block_id = b->block_id;
			v->redacted = lappend(v->redacted, rd);
			MemoryContextSwitchTo(old);
			v->events_redacted++;
		}
	}
}

/* an entry whose id an earlier entry of its block has */
static void
sealed_twice(Verify *v, Chunk *c, const EntryRef *ref)
{
	AuditBlock *b = &c->blocks[ref->block];

	problem(v, CLASS_EVENT, RANK_SEALED_TWICE, b->first_position + ref->idx, b->block_id, true, ref->id, false, 0,
			"event %lld is sealed twice", (long long) ref->id);
}

/* find the pages of the events of the chunk whose blocks were read */
static void
prepare_chunk(Verify *v)
{
	Chunk	   *c = v->reading;

	steward_verify_events_prepare(v->events, &c->blocks[c->nblocks - 1].snap,
								  c->lower_snap ? &c->lower : NULL);
}

/*
 * The chunk whose blocks were read (and pages prepared, prepare_chunk)
 * starts to be matched: its events read
 * (by workers, launched first, while the leader goes on with the next
 * chunk's blocks), its entries indexed by id (by offset from the lowest id
 * when the ids are dense, else sorted: no sort on the common path) and
 * its entries sealed twice reported.
 */
static void
start_chunk(Verify *v)
{
	Chunk	   *c = v->reading;
	MemoryContext old;
	EntryRef   *refs;
	int64		n = 0;
	int64		min_id = PG_INT64_MAX;
	int64		max_id = PG_INT64_MIN;

	Assert(v->matching == NULL);
	v->matching = c;
	v->reading = c == &v->chunks[0] ? &v->chunks[1] : &v->chunks[0];
	v->reading->nblocks = 0;
	v->reading->events = 0;
	c->next_position = v->next_position;

	/* the workers begin at once; their rows are matched from the next step on */
	steward_verify_events_start(v->events, match_rows, v);

	old = MemoryContextSwitchTo(v->runcxt);
	if (c->events > v->maxrefs)
	{
		/* grown, never shrunk: each chunk reuses what the last one had */
		if (v->refs_buf)
		{
			pfree(v->refs_alloc);
			pfree(v->seen_alloc);
			pfree(v->id_next_alloc);
		}
		v->maxrefs = Max(c->events, 1);
		v->refs_buf = (EntryRef *) new_buffer(v, sizeof(EntryRef) * v->maxrefs, &v->refs_alloc);
		v->seen_buf = (bool *) new_buffer(v, sizeof(bool) * v->maxrefs, &v->seen_alloc);
		v->id_next_buf = (int32 *) new_buffer(v, sizeof(int32) * v->maxrefs, &v->id_next_alloc);
	}
	refs = v->refs_buf;
	for (int k = 0; k < c->nblocks; k++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int64 i = 0; i < NENTRIES(&c->blocks[k]); i++)
		{
			refs[n].id = steward_audit_entry_id(steward_audit_entry(c->blocks[k].entries, i));
			refs[n].block = k;
			refs[n].idx = (int32) i;
			min_id = Min(min_id, refs[n].id);
			max_id = Max(max_id, refs[n].id);
			n++;
		}
	}
	v->refs = refs;
	v->nrefs = n;
	v->seen = v->seen_buf;
	memset(v->seen, 0, sizeof(bool) * Max(n, 1));
	v->hint = 0;
	v->id_first = NULL;
	v->id_next = NULL;

	/* two entries of one block with one id: the later one is reported */
	if (n > 0 && (uint64) max_id - (uint64) min_id < (uint64) n * DENSE_IDS)
	{
		v->id_min = min_id;
		v->id_span = (uint64) max_id - (uint64) min_id + 1;
		if (v->id_span > v->maxspan)
		{
			if (v->id_first_buf)
				pfree(v->id_first_alloc);
			v->maxspan = v->id_span;
			v->id_first_buf = (int32 *) new_buffer(v, sizeof(int32) * v->maxspan, &v->id_first_alloc);
		}
		v->id_first = v->id_first_buf;
		memset(v->id_first, -1, sizeof(int32) * v->id_span);
		v->id_next = v->id_next_buf;
		for (int64 i = n - 1; i >= 0; i--)
		{
			uint64		off = (uint64) refs[i].id - (uint64) min_id;
			int32		j = v->id_first[off];

			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			v->id_next[i] = j;
			v->id_first[off] = (int32) i;
			if (j >= 0 && refs[j].block == refs[i].block)
				sealed_twice(v, c, &refs[j]);
		}
	}
	else
	{
		sort_refs(refs, n);
		for (int64 i = 1; i < n; i++)
			if (refs[i].id == refs[i - 1].id && refs[i].block == refs[i - 1].block)
				sealed_twice(v, c, &refs[i]);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Finish the chunk being matched: read the rest of its events, then
 * report its entries no event matched.
 */
static void
finish_chunk(Verify *v)
{
	Chunk	   *c = v->matching;

	steward_verify_events_finish(v->events);

	for (int64 i = 0; i < v->nrefs; i++)
	{
		AuditBlock *b;
		const uint8 *e;

		CHECK_FOR_INTERRUPTS();
		if (v->seen[i])
			continue;
		b = &c->blocks[v->refs[i].block];
		e = steward_audit_entry(b->entries, v->refs[i].idx);
		if (pruned(v, steward_audit_entry_time(e)))
		{
			v->events_pruned++;
			continue;
		}
		problem(v, CLASS_EVENT, RANK_MISSING, b->first_position + v->refs[i].idx, b->block_id, true,
				v->refs[i].id, true, steward_audit_entry_time(e),
				"event %lld is missing: it was deleted after sealing", (long long) v->refs[i].id);
	}
	v->refs = NULL;
	v->seen = NULL;
	v->id_first = NULL;
	v->id_next = NULL;
	v->nrefs = 0;

	/* its last snapshot bounds the next chunk and may be the last one read */
	for (int k = 0; k < c->nblocks; k++)
	{
		if (c->blocks[k].entries)
			keep_spare(v, c->blocks[k].entries, c->blocks[k].entries_size, c->blocks[k].entries_alloc);
		c->blocks[k].entries = NULL;
		if (k < c->nblocks - 1)
		{
			pfree(c->blocks[k].snap_text);
			pfree(c->blocks[k].snap.xip);
		}
	}
	c->nblocks = 0;
	c->events = 0;
	v->matching = NULL;
}

static void
load_epochs(Verify *v)
{
	int			rc;

	/* in epoch_id order: an entry in overlapping ranges counts for the first */
	rc = SPI_execute("SELECT epoch_id, range_from, range_to, events_dropped FROM steward.audit_epochs"
					 " ORDER BY epoch_id", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the retention epochs");
	v->nepochs = (int) SPI_processed;
	v->epochs = palloc0(sizeof(Epoch) * Max(v->nepochs, 1));
	for (int i = 0; i < v->nepochs; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		v->epochs[i].epoch_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		v->epochs[i].from_us = steward_audit_unix_micros(DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull)));
		v->epochs[i].to_us = steward_audit_unix_micros(DatumGetTimestampTz(SPI_getbinval(t, d, 3, &isnull)));
		v->epochs[i].dropped = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
	}
}

/*
 * The epochs must be exactly those the newest RETENTION event lists.  Only
 * a sealed RETENTION event counts: the newest one this run verified, or in
 * a run "since" a digest, the newest one that digest's block covered.  Each
 * RETENTION event lists every epoch up to its own, so dropping older ones
 * with their partition loses nothing.  In a full run, the sealed entries
 * found gone in each epoch's range must also number what it dropped.
 */
static void
check_epochs(Verify *v)
{
	int64		newest = v->newest_retention_id;
	Oid			types[1] = {INT8OID};
	Datum		arg;
	int			rc;

	if (newest == 0 && v->since_snap != NULL)
	{
		Oid			t1[1] = {TEXTOID};
		Datum		a1 = CStringGetTextDatum(v->since_snap);

		rc = SPI_execute_with_args("SELECT id FROM steward.audit_events "
								   " WHERE event_type OPERATOR(pg_catalog.=) 'RETENTION' "
								   "   AND pg_catalog.pg_visible_in_snapshot(xid, $1::pg_catalog.pg_snapshot) "
								   " ORDER BY id DESC LIMIT 1", 1, t1, &a1, NULL, true, 1);
		if (rc == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;

			newest = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	arg = Int64GetDatum(newest);
	rc = SPI_execute_with_args("WITH newest AS (SELECT payload FROM steward.audit_events"
							   "                 WHERE id OPERATOR(pg_catalog.=) $1), "
							   "listed AS (SELECT x OPERATOR(pg_catalog.->>) '" AUDIT_EPOCH_PARTITION "' AS p, "
							   "                  (x OPERATOR(pg_catalog.->>) '" AUDIT_EPOCH_FROM "')::pg_catalog.timestamptz AS f, "
							   "                  (x OPERATOR(pg_catalog.->>) '" AUDIT_EPOCH_TO "')::pg_catalog.timestamptz AS t, "
							   "                  (x OPERATOR(pg_catalog.->>) '" AUDIT_EPOCH_DROPPED "')::pg_catalog.int8 AS n "
							   "             FROM newest, pg_catalog.jsonb_array_elements("
							   "                 newest.payload OPERATOR(pg_catalog.->) '" AUDIT_EPOCHS_KEY "') x), "
							   "stored AS (SELECT partition_name, range_from, range_to, events_dropped FROM steward.audit_epochs) "
							   "SELECT EXISTS (SELECT * FROM listed EXCEPT SELECT * FROM stored) "
							   "    OR EXISTS (SELECT * FROM stored EXCEPT SELECT * FROM listed)",
							   1, types, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not compare the retention epochs");
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0)
		problem(v, CLASS_EPOCH, RANK_NONE, 0, 0, false, 0, false, 0,
				"the retention epochs do not match the newest RETENTION event of the ledger");

	if (v->since_snap == NULL)
		for (int i = 0; i < v->nepochs; i++)
			if (v->epochs[i].pruned != v->epochs[i].dropped)
				problem(v, CLASS_EPOCH, RANK_NONE, 0, 0, false, 0, false, 0,
						"retention epoch %lld dropped %lld events, but %lld sealed events of its range are gone",
						(long long) v->epochs[i].epoch_id, (long long) v->epochs[i].dropped,
						(long long) v->epochs[i].pruned);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Every erased payload must be named by a sealed REDACTION event: one this
 * run verified, or in a run "since" a digest, one that digest's block
 * covered.
 */
static void
check_redactions(Verify *v)
{
	ListCell   *lc;

	if (v->since_snap != NULL)
	{
		Oid			t1[1] = {TEXTOID};
		Datum		a1 = CStringGetTextDatum(v->since_snap);
		int			rc;

		rc = SPI_execute_with_args("SELECT resource_id FROM steward.audit_events "
								   " WHERE event_type OPERATOR(pg_catalog.=) 'REDACTION' "
								   "   AND pg_catalog.pg_visible_in_snapshot(xid, $1::pg_catalog.pg_snapshot)",
								   1, t1, &a1, NULL, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read the earlier redactions");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *text = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			int64		target;

			if (steward_redaction_target(text, &target))
				add_redaction_target(v, target);
		}
	}
	if (v->ntargets > 0)
		qsort(v->redaction_targets, v->ntargets, sizeof(int64), cmp_int64);

	foreach(lc, v->redacted)
	{
		Redacted   *rd = (Redacted *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (v->ntargets == 0 ||
			bsearch(&rd->id, v->redaction_targets, v->ntargets, sizeof(int64), cmp_int64) == NULL)
			problem(v, CLASS_EVENT, RANK_ERASED, rd->position, rd->block_id, true, rd->id, true, rd->time_us,
					"the payload of event %lld was erased without a redaction record",
					(long long) rd->id);
	}
}

PG_FUNCTION_INFO_V1(steward_verify_audit_chain);

/*
 * verify_audit_chain(trusted_digest jsonb, since jsonb) returns one row:
 * (is_valid, events_checked, blocks_checked, events_redacted,
 *	events_pruned, events_unsealed, first_bad_event, first_bad_at,
 *	first_bad_block, first_bad_position, problem, head_digest)
 */
Datum
steward_verify_audit_chain(PG_FUNCTION_ARGS)
{
	Verify		v = {0};
	AuditDigest trusted;
	AuditDigest since;
	AuditBlock	since_block;
	bool		have_trusted = !PG_ARGISNULL(0);
	bool		have_since = !PG_ARGISNULL(1);
	TupleDesc	tupdesc;
	Datum		values[12];
	bool		nulls[12] = {0};
	StewardOwnerScope scope;
	Portal		portal;
	Oid			types[1] = {INT8OID};
	Datum		arg;
	int			rc;
	char	   *head_digest;
	char	   *problem_text = NULL;
	bool		exists;
	MemoryContext callercxt = CurrentMemoryContext;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "verify_audit_chain must return a row");
	tupdesc = BlessTupleDesc(tupdesc);

	steward_owner_scope_begin(&scope, true);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	v.runcxt = CurrentMemoryContext;

	if (have_trusted)
		steward_audit_parse_digest(PG_GETARG_DATUM(0), "trusted_digest", &trusted);
	if (have_since)
		steward_audit_parse_digest(PG_GETARG_DATUM(1), "since", &since);

	steward_audit_chain_start(&v.chain);
	v.reading = &v.chunks[0];
	load_epochs(&v);
	v.events = steward_verify_events_open("verify_audit_chain", false);

	if (have_since && since.block > 0)
	{
		if (!steward_audit_digest_matches(&since, &exists))
			problem(&v, CLASS_BLOCK, RANK_NONE, since.position, since.block, false, 0, false, 0,
					exists ? "block %lld does not match the since digest: the chain was rewritten"
					: "block %lld named by the since digest is missing",
					(long long) since.block);
		else
		{
			arg = Int64GetDatum(since.block);
			rc = SPI_execute_with_args(steward_audit_block_select("NULL::pg_catalog.bytea", "WHERE block_id OPERATOR(pg_catalog.=) $1"),
									   1, types, &arg, NULL, true, 1);
			if (rc != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "could not read block %lld", (long long) since.block);
			steward_audit_read_block(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &since_block, NULL, 0);
			v.lower_snap = since_block.snap_text;
			v.since_snap = v.lower_snap;
			v.lower = since_block.snap;
			v.chain.format = since_block.format;
			v.chain.next_block = since.block + 1;
			v.chain.next_position = since.position + 1;
			memcpy(v.chain.prev_hash, since.hash, AUDIT_HASH_LEN);
		}
	}

	v.next_position = v.chain.next_position;
	arg = Int64GetDatum(v.chain.next_block - 1);
	portal = SPI_cursor_open_with_args(NULL,
									   steward_audit_block_select("entries", "WHERE block_id OPERATOR(pg_catalog.>) $1 ORDER BY block_id"),
									   1, types, &arg, NULL, true, 0);
	for (;;)
	{
		SPITupleTable *fetched;
		uint64		nfetched;

		SPI_cursor_fetch(portal, true, BLOCK_FETCH);
		/* the chunk's own query below replaces SPI_tuptable and SPI_processed */
		fetched = SPI_tuptable;
		nfetched = SPI_processed;
		if (nfetched == 0)
			break;
		/*
		 * A run over the whole ledger, once it has blocks, starts its
		 * workers now: they are ready when its first chunk is.
		 */
		if (!have_since && v.blocks_checked == 0)
			steward_verify_events_workers(v.events);
		for (uint64 r = 0; r < nfetched; r++)
		{
			CHECK_FOR_INTERRUPTS();
			read_block(&v, fetched->vals[r], fetched->tupdesc);
			/* take what the workers read meanwhile */
			if (v.matching)
				steward_verify_events_step(v.events);
			if (v.reading->events >= (v.matching ? CHUNK_EVENTS : FIRST_CHUNK_EVENTS))
			{
				/* its pages found while the workers still read the chunk before */
				prepare_chunk(&v);
				if (v.matching)
					finish_chunk(&v);
				start_chunk(&v);
				/* its hashes checked while the workers read its events */
				check_blocks(&v);
			}
		}
		SPI_freetuptable(fetched);
	}
	SPI_cursor_close(portal);
	if (v.reading->nblocks > 0)
		prepare_chunk(&v);
	if (v.matching)
		finish_chunk(&v);
	if (v.reading->nblocks > 0)
	{
		start_chunk(&v);
		check_blocks(&v);
		finish_chunk(&v);
	}
	steward_verify_events_close(v.events);
	if (v.redacted != NIL)
		check_redactions(&v);
	check_epochs(&v);

	/* events not yet sealed (the sealer's next block will take them) */
	{
		Oid			t2[2] = {TEXTOID, TEXTOID};
		Datum		a2[2];
		char		n2[2] = {' ', ' '};
		bool		isnull;

		a2[0] = v.lower_snap ? CStringGetTextDatum(v.lower_snap) : (Datum) 0;
		a2[1] = v.lower_snap ? CStringGetTextDatum(psprintf(UINT64_FORMAT, v.lower.xmin)) : (Datum) 0;
		if (!v.lower_snap)
			n2[0] = n2[1] = 'n';
		rc = SPI_execute_with_args("SELECT count(*) FROM steward.audit_events e "
								   " WHERE $1::pg_catalog.pg_snapshot IS NULL "
								   "    OR (e.xid >= $2::pg_catalog.xid8 "
								   "        AND NOT pg_catalog.pg_visible_in_snapshot(e.xid, $1::pg_catalog.pg_snapshot))",
								   2, t2, a2, n2, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not count unsealed events");
		v.events_unsealed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	if (have_trusted && !steward_audit_digest_matches(&trusted, &exists))
	{
		if (!exists)
			problem(&v, CLASS_BLOCK, RANK_NONE, v.chain.next_position, trusted.block, false, 0, false, 0,
					"the ledger is truncated: block %lld named by the trusted digest is missing "
					"(the chain ends at block %lld, position %lld)",
					(long long) trusted.block, (long long) (v.chain.next_block - 1),
					(long long) (v.chain.next_position - 1));
		else
			problem(&v, CLASS_BLOCK, RANK_NONE, trusted.position, trusted.block, false, 0, false, 0,
					"block %lld does not match the trusted digest: the chain was rewritten",
					(long long) trusted.block);
	}
	else if (have_trusted && trusted.has_tree_root &&
			 !(v.problem.found && v.problem.class == CLASS_BLOCK))
	{
		/* the ledger tree at the digest's size, from the intact blocks */
		uint8		root[AUDIT_HASH_LEN];

		if (trusted.tree_size == trusted.position)
			steward_audit_tree_root(trusted.tree_size, root);
		if (trusted.tree_size != trusted.position ||
			memcmp(root, trusted.tree_root, AUDIT_HASH_LEN) != 0)
			problem(&v, CLASS_BLOCK, RANK_NONE, trusted.position, trusted.block, false, 0, false, 0,
					"the ledger tree of %lld events does not have the root the trusted digest names",
					(long long) trusted.tree_size);
	}

	/* the head, as a digest to keep for the next run's "since" */
	rc = SPI_execute("SELECT steward.audit_head_digest()::text", true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not build the head digest");
	head_digest = MemoryContextStrdup(callercxt,
									  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	if (v.problem.found)
		problem_text = MemoryContextStrdup(callercxt, v.problem.text);

	/* everything SPI allocated goes away here */
	SPI_finish();
	steward_owner_scope_end(&scope);

	values[0] = BoolGetDatum(!v.problem.found);
	values[1] = Int64GetDatum(v.events_checked);
	values[2] = Int64GetDatum(v.blocks_checked);
	values[3] = Int64GetDatum(v.events_redacted);
	values[4] = Int64GetDatum(v.events_pruned);
	values[5] = Int64GetDatum(v.events_unsealed);
	nulls[6] = !(v.problem.found && v.problem.has_event);
	values[6] = Int64GetDatum(v.problem.event_id);
	nulls[7] = !(v.problem.found && v.problem.has_at);
	values[7] = TimestampTzGetDatum(v.problem.at);
	nulls[8] = !v.problem.found;
	values[8] = Int64GetDatum(v.problem.block_id);
	nulls[9] = !v.problem.found;
	values[9] = Int64GetDatum(v.problem.position);
	nulls[10] = !v.problem.found;
	values[10] = problem_text ? CStringGetTextDatum(problem_text) : (Datum) 0;
	values[11] = DirectFunctionCall1(jsonb_in, CStringGetDatum(head_digest));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
