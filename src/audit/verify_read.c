/*-------------------------------------------------------------------------
 *
 * verify_read.c
 *	  Reading the events of a chunk for verify_audit_chain: which pages
 *	  hold them, and each event's leaf and payload state, computed from
 *	  the stored row.
 *
 * The events of a chunk are those whose xid is completed in the chunk's
 * last snapshot (upper) and was not in the snapshot before the chunk
 * (lower), the rows the chunk query of earlier versions selected:
 *	  xid < upper.xmax, visible in upper, and (no lower, or xid >=
 *	  lower.xmin and not visible in lower).
 * So their xids lie in [lower.xmax, upper.xmax) or are among lower's
 * running xids (every other xid below lower.xmax is visible in lower).
 * Each partition's xid index finds those, as a bitmap of heap pages
 * (every page is read whole, like a lossy bitmap page, and each row
 * checked against the condition above, so the bitmap may be lossy and a
 * page shared with the next chunk does no harm).  A partition without a
 * usable xid index is read whole.
 *
 * The pages are cut into units of a few pages.  Each participant (the
 * leader, and the parallel workers of verify_parallel.c) takes the next
 * unit and reads its pages as a sequential scan does (heapgetpage): in the
 * statement's snapshot, page at a time, through a small ring of buffers
 * (BAS_BULKREAD) rather than all of shared_buffers, with the predicate
 * lock of a scan of the partition for serializable transactions.  Each
 * row of the chunk becomes a VerifyRow: its id, xid and time, its leaf
 * from the event bytes (format.c) and its payload state (the commitment
 * recomputed over the payload's text, jsontext.c), hashed two rows at a
 * time (their leaves side by side, then their commitments).
 * No SQL runs per row and nothing is rendered that the bytes do not
 * contain.  A unit's allocations go with a memory context reset after it.
 *
 * The leader opens the relations once per run, as the owner of schema
 * steward, after the privilege check a query would make (SELECT on
 * steward.audit_events); row-level security on the table is refused,
 * since rows are read beneath it.  Only heap partitions can be read.  Partitions come in the order of their
 * bounds, the order an Append of the table would scan them in.
 *
 * Sealing (seal.c) reads the events of the next block the same way, as a
 * chunk whose lower snapshot is the previous block's, with
 * steward_verify_events_read: in the backend alone (no parallel workers),
 * unit after unit, computing leaves only (no payload state), skipping rows
 * from an xid the caller no longer wants (the cut of its block) before
 * they are hashed.  There a partition that is not a heap table is read
 * whole through its table access method (read_scan).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/tidbitmap.h"
#include "partitioning/partdesc.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

#include "pg_steward.h"
#include "audit/audit.h"
#include "audit/verify.h"

/* the columns a row is read by (AUDIT_COL_* order), and their types */
static const char *const column_names[AUDIT_NCOLS] = {
	"id", "xid", "event_time", "event_type", "action", "resource_type",
	"resource_id", "actor", "session_user_name", "current_user_name",
	"client_addr", "application_name", "commitment", "salt", "payload"
};
static const Oid column_types[AUDIT_NCOLS] = {
	INT8OID, XID8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	INETOID, TEXTOID, BYTEAOID, BYTEAOID, JSONBOID
};

/* pages read at a time by steward_verify_events_read; rows of a scan handed on at a time */
#define SERIAL_UNIT_PAGES	8
#define SCAN_BATCH			1024

struct VerifyEvents
{
	Relation	parent;
	int			nparts;
	Relation   *parts;			/* leaf partitions, in Append order */
	Relation   *indexes;		/* each one's xid index, or NULL */
	VerifyReader reader;		/* the leader's own reading */
	VerifyRun  *run;			/* the chunk being read, or NULL */
	VerifyTeam *team;			/* parallel workers of the run, or NULL */
	/* the next chunk, prepared: its bounds and pages per partition, or NULL */
	VerifyBounds next_bounds;
	VerifyPages *next_pages;
};

/*
 * The attribute numbers of the event columns in rel (a partition may
 * number its columns differently from the table).
 */
static void
map_columns(Relation rel, AttrNumber *attnums)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int c = 0; c < AUDIT_NCOLS; c++)
	{
		attnums[c] = InvalidAttrNumber;
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), column_names[c]) == 0)
			{
				if (att->atttypid != column_types[c])
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("column \"%s\" of \"%s\" has type %s, not %s",
									column_names[c], RelationGetRelationName(rel),
									format_type_be(att->atttypid),
									format_type_be(column_types[c]))));
				attnums[c] = att->attnum;
				break;
			}
		}
		if (attnums[c] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of \"%s\" does not exist",
							column_names[c], RelationGetRelationName(rel))));
	}
}

/*
 * Set up a reader over the already opened partitions, reading in
 * snapshot.  Unless any_am, every partition must be a heap table (its
 * pages are read directly); with it, other partitions are read through
 * their table access method (steward_verify_events_read).
 */
void
steward_verify_reader_init(VerifyReader *r, int nparts, Relation *rels, Snapshot snapshot,
						   bool any_am)
{
	int			natts = 1;

	r->nparts = nparts;
	r->rels = rels;
	r->snapshot = snapshot;
	r->leaf_only = false;
	r->attnums = palloc(sizeof(AttrNumber) * AUDIT_NCOLS * Max(nparts, 1));
	r->nblocks = palloc(sizeof(BlockNumber) * Max(nparts, 1));
	for (int p = 0; p < nparts; p++)
	{
		if (!any_am && rels[p]->rd_rel->relam != HEAP_TABLE_AM_OID)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("partition \"%s\" of the audit ledger is not a heap table",
							RelationGetRelationName(rels[p]))));
		map_columns(rels[p], &r->attnums[p * AUDIT_NCOLS]);
		natts = Max(natts, RelationGetDescr(rels[p])->natts);
		/* rows appended after the snapshot are not read, nor their pages */
		r->nblocks[p] = rels[p]->rd_rel->relam == HEAP_TABLE_AM_OID ?
			RelationGetNumberOfBlocks(rels[p]) : 0;
		/* what a sequential scan of the partition would take */
		PredicateLockRelation(rels[p], snapshot);
	}
	r->values = palloc(sizeof(Datum) * natts);
	r->isnull = palloc(sizeof(bool) * natts);
	r->strategy = GetAccessStrategy(BAS_BULKREAD);
	r->maxrows = 0;
	r->rows = NULL;
	for (int k = 0; k < 2; k++)
	{
		initStringInfo(&r->bytes[k]);
		initStringInfo(&r->text[k]);
	}
	r->npending = 0;
	r->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "verify rows",
									  ALLOCSET_DEFAULT_SIZES);
	r->cxt = CurrentMemoryContext;
}

void
steward_verify_reader_end(VerifyReader *r)
{
	FreeAccessStrategy(r->strategy);
	MemoryContextDelete(r->rowcxt);
}

/* is xid one of the chunk's? (see the head of this file) */
static inline bool
in_chunk(const VerifyBounds *b, uint64 xid)
{
	if (xid >= b->upper.xmax || !steward_audit_visible(&b->upper, xid))
		return false;
	return !b->has_lower ||
		(xid >= b->lower.xmin && !steward_audit_visible(&b->lower, xid));
}

/* does a text column hold exactly s? */
static bool
text_is(Datum value, const char *s)
{
	text	   *t = DatumGetTextPP(value);
	size_t		len = strlen(s);

	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/*
 * The leaves and payload states of the rows waiting for them: two side by
 * side (their leaves, then their commitments, so that no lane of the hash
 * waits for a longer message), or one with its own commitment.
 */
static void
hash_pending(VerifyReader *r)
{
	uint8		c[2][AUDIT_HASH_LEN];

	if (r->npending == 1)
	{
		VerifyRow  *row = r->pending[0];
		AuditEventHash *h = &r->hash[0];

		if (h->msg == NULL)
			steward_sha256(r->bytes[0].data, r->bytes[0].len, row->leaf);
		else
		{
			steward_sha256_pair(r->bytes[0].data, r->bytes[0].len, row->leaf, h->msg, h->msglen, c[0]);
			row->state = steward_audit_event_state(h, c[0]);
		}
	}
	else if (r->npending == 2)
	{
		steward_sha256_pair(r->bytes[0].data, r->bytes[0].len, r->pending[0]->leaf,
							r->bytes[1].data, r->bytes[1].len, r->pending[1]->leaf);
		if (r->hash[0].msg != NULL && r->hash[1].msg != NULL)
			steward_sha256_pair(r->hash[0].msg, r->hash[0].msglen, c[0],
								r->hash[1].msg, r->hash[1].msglen, c[1]);
		else
			for (int k = 0; k < 2; k++)
				if (r->hash[k].msg != NULL)
					steward_sha256(r->hash[k].msg, r->hash[k].msglen, c[k]);
		for (int k = 0; k < 2; k++)
			if (r->hash[k].msg != NULL)
				r->pending[k]->state = steward_audit_event_state(&r->hash[k], c[k]);
	}
	r->npending = 0;
}

/* a row's event bytes and commitment prepared; hashed with the next one */
static void
prepare_row(VerifyReader *r, const Datum *values, const bool *isnull, VerifyRow *row)
{
	int			k = r->npending;

	row->state = steward_audit_event_prepare(values, isnull, &r->bytes[k], &r->text[k], &r->hash[k]);
	r->pending[k] = row;
	if (++r->npending == 2)
		hash_pending(r);
}

/*
 * A row of the chunk into row; its leaf and payload state are set once
 * hash_pending has run (at the latest, at the end of the unit).
 */
static void
read_row(VerifyReader *r, const Datum *values, const bool *isnull, uint64 xid, VerifyRow *row)
{
	TimestampTz t = isnull[AUDIT_COL_TIME] ? 0 : DatumGetTimestampTz(values[AUDIT_COL_TIME]);

	row->id = isnull[AUDIT_COL_ID] ? 0 : DatumGetInt64(values[AUDIT_COL_ID]);
	row->xid = xid;
	row->time_us = steward_audit_unix_micros(t);
	row->encodable = steward_audit_time_encodable(t);
	row->kind = VERIFY_KIND_OTHER;
	row->target = 0;
	if (r->leaf_only)
	{
		bool		nopayload[AUDIT_NCOLS];

		/* the leaf alone: as audit_event_check with a NULL salt and payload */
		memcpy(nopayload, isnull, sizeof(nopayload));
		nopayload[AUDIT_COL_SALT] = nopayload[AUDIT_COL_PAYLOAD] = true;
		prepare_row(r, values, nopayload, row);
		return;
	}
	prepare_row(r, values, isnull, row);
	if (!isnull[AUDIT_COL_EVENT_TYPE])
	{
		if (text_is(values[AUDIT_COL_EVENT_TYPE], AUDIT_TYPE_REDACTION))
		{
			/* it names an event only with the id written as audit_redact writes it */
			if (!isnull[AUDIT_COL_RESOURCE_ID] &&
				steward_redaction_target(TextDatumGetCString(values[AUDIT_COL_RESOURCE_ID]),
												&row->target))
				row->kind = VERIFY_KIND_REDACTION;
		}
		else if (text_is(values[AUDIT_COL_EVENT_TYPE], AUDIT_TYPE_RETENTION))
			row->kind = VERIFY_KIND_RETENTION;
	}
}

/*
 * The items of a heap page that are visible in the snapshot, as a
 * sequential scan in page-at-a-time mode finds them (heapgetpage): pruned
 * first if it pays, all of them when the page is all-visible, conflicts
 * noted for serializable transactions.  buf is pinned; returns how many.
 */
static int
visible_items(VerifyReader *r, Relation rel, Buffer buf, BlockNumber blkno, OffsetNumber *items)
{
	Page		page;
	OffsetNumber maxoff;
	bool		all_visible;
	int			n = 0;

	heap_page_prune_opt(rel, buf);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	maxoff = PageGetMaxOffsetNumber(page);
	all_visible = PageIsAllVisible(page) && !r->snapshot->takenDuringRecovery;
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off))
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;
		bool		valid;

		if (!ItemIdIsNormal(lp))
			continue;
		tup.t_tableOid = RelationGetRelid(rel);
		tup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tup.t_len = ItemIdGetLength(lp);
		ItemPointerSet(&tup.t_self, blkno, off);
		valid = all_visible || HeapTupleSatisfiesVisibility(&tup, r->snapshot, buf);
		HeapCheckForSerializableConflictOut(valid, rel, &tup, buf, r->snapshot);
		if (valid)
			items[n++] = off;
	}
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	return n;
}

/*
 * Read the rows of the chunk on npages pages of partition part into
 * r->rows; returns how many there are.
 */
int
steward_verify_read_unit(VerifyReader *r, const VerifyBounds *b, int part,
						 const BlockNumber *pages, int npages)
{
	const AttrNumber *att = &r->attnums[part * AUDIT_NCOLS];
	Relation	rel = r->rels[part];
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;
	int			n = 0;

	if (r->maxrows < npages * MaxHeapTuplesPerPage)
	{
		r->maxrows = npages * MaxHeapTuplesPerPage;
		r->rows = r->rows ? repalloc(r->rows, sizeof(VerifyRow) * r->maxrows) :
			MemoryContextAlloc(r->cxt, sizeof(VerifyRow) * r->maxrows);
	}

	old = MemoryContextSwitchTo(r->rowcxt);
	for (int i = 0; i < npages; i++)
	{
		BlockNumber blkno = pages[i];
		OffsetNumber items[MaxHeapTuplesPerPage];
		Buffer		buf;
		Page		page;
		int			nitems;

		CHECK_FOR_INTERRUPTS();
		if (blkno >= r->nblocks[part])
			continue;
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, r->strategy);
		nitems = visible_items(r, rel, buf, blkno, items);
		page = BufferGetPage(buf);
		/* visible tuples stay good while the page is pinned */
		for (int k = 0; k < nitems; k++)
		{
			ItemId		lp = PageGetItemId(page, items[k]);
			HeapTupleData tup;
			Datum		values[AUDIT_NCOLS];
			bool		isnull[AUDIT_NCOLS];
			bool		xid_null;
			uint64		xid;
			VerifyRow  *row;

			tup.t_tableOid = RelationGetRelid(rel);
			tup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tup.t_len = ItemIdGetLength(lp);
			ItemPointerSet(&tup.t_self, blkno, items[k]);
			/* every column is needed: deformed once, the xid read from that */
			heap_deform_tuple(&tup, desc, r->values, r->isnull);
			xid_null = r->isnull[att[AUDIT_COL_XID] - 1];
			if (xid_null)
				continue;
			xid = U64FromFullTransactionId(DatumGetFullTransactionId(r->values[att[AUDIT_COL_XID] - 1]));
			if (!in_chunk(b, xid))
				continue;
			for (int c = 0; c < AUDIT_NCOLS; c++)
			{
				values[c] = r->values[att[c] - 1];
				isnull[c] = r->isnull[att[c] - 1];
			}
			row = &r->rows[n++];
			read_row(r, values, isnull, xid, row);
			row->part = part;
			row->blkno = blkno;
			row->offnum = items[k];
		}
		ReleaseBuffer(buf);
	}
	hash_pending(r);
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowcxt);
	return n;
}

/*
 * The btree index of rel on its xid column alone that a query could use
 * (valid, not partial, no expression, the default operator class), or
 * NULL.  The index is opened and stays open.
 */
static Relation
xid_index(Relation rel, AttrNumber xid_attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	Oid			family = get_opclass_family(GetDefaultOpClass(XID8OID, BTREE_AM_OID));
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = idx->rd_index;

		if (idx->rd_rel->relam == BTREE_AM_OID && form->indisvalid && form->indisready &&
			form->indislive && !form->indcheckxmin && form->indnkeyatts >= 1 &&
			form->indkey.values[0] == xid_attnum && idx->rd_opfamily[0] == family &&
			RelationGetIndexExpressions(idx) == NIL && RelationGetIndexPredicate(idx) == NIL)
			return idx;
		index_close(idx, AccessShareLock);
	}
	return NULL;
}

/* the leaf partitions of rel, opened, in the order of their bounds */
static void
add_partitions(VerifyEvents *ev, Relation rel, int *cap)
{
	PartitionDesc pd = RelationGetPartitionDesc(rel, true);

	for (int i = 0; i < pd->nparts; i++)
	{
		Relation	part = table_open(pd->oids[i], AccessShareLock);

		if (part->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		{
			add_partitions(ev, part, cap);
			table_close(part, NoLock);
			continue;
		}
		if (ev->nparts == *cap)
		{
			*cap *= 2;
			ev->parts = repalloc(ev->parts, sizeof(Relation) * *cap);
		}
		ev->parts[ev->nparts++] = part;
	}
}

/*
 * Open steward.audit_events, its partitions and their xid indexes for a
 * run, as the current user (the owner of schema steward); caller names the
 * function in the refusal under row-level security.  for_seal: the reading
 * of steward_verify_events_read, leaves only, partitions that are not heap
 * tables allowed.
 */
VerifyEvents *
steward_verify_events_open(const char *caller, bool for_seal)
{
	VerifyEvents *ev = palloc0(sizeof(VerifyEvents));
	Oid			relid = get_relname_relid("audit_events", get_namespace_oid(STEWARD_SCHEMA, false));
	AclResult	aclresult;
	int			cap = 8;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.audit_events\" does not exist", STEWARD_SCHEMA)));
	ev->parent = table_open(relid, AccessShareLock);
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(ev->parent->rd_rel->relkind),
					   RelationGetRelationName(ev->parent));
	if (check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot read steward.audit_events under row-level security", caller),
				 errhint("It reads every stored event; disable row-level security on the table.")));

	ev->parts = palloc(sizeof(Relation) * cap);
	if (ev->parent->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		add_partitions(ev, ev->parent, &cap);
	else
		ev->parts[ev->nparts++] = ev->parent;

	steward_verify_reader_init(&ev->reader, ev->nparts, ev->parts, GetActiveSnapshot(), for_seal);
	ev->reader.leaf_only = for_seal;
	ev->indexes = palloc0(sizeof(Relation) * Max(ev->nparts, 1));
	for (int p = 0; p < ev->nparts; p++)
		if (ev->parts[p]->rd_rel->relam == HEAP_TABLE_AM_OID)
			ev->indexes[p] = xid_index(ev->parts[p], ev->reader.attnums[p * AUDIT_NCOLS + AUDIT_COL_XID]);
	return ev;
}

void
steward_verify_events_close(VerifyEvents *ev)
{
	steward_verify_team_end(ev->team);
	ev->team = NULL;
	steward_verify_reader_end(&ev->reader);
	for (int p = 0; p < ev->nparts; p++)
	{
		if (ev->indexes[p])
			index_close(ev->indexes[p], NoLock);
		if (ev->parts[p] != ev->parent)
			table_close(ev->parts[p], NoLock);
	}
	table_close(ev->parent, NoLock);
}

/* the pages the index finds for xid >= lo (if has_lo) and xid < hi */
static void
index_range(Relation idx, TIDBitmap *tbm, bool has_lo, uint64 lo, uint64 hi)
{
	ScanKeyData keys[2];
	int			nkeys = 0;
	IndexScanDesc scan;

	if (has_lo)
		ScanKeyInit(&keys[nkeys++], 1, BTGreaterEqualStrategyNumber, F_XID8GE,
					FullTransactionIdGetDatum(FullTransactionIdFromU64(lo)));
	ScanKeyInit(&keys[nkeys++], 1, BTLessStrategyNumber, F_XID8LT,
				FullTransactionIdGetDatum(FullTransactionIdFromU64(hi)));
	scan = index_beginscan_bitmap(idx, GetActiveSnapshot(), nkeys);
	index_rescan(scan, keys, nkeys, NULL, 0);
	(void) index_getbitmap(scan, tbm);
	index_endscan(scan);
}

/* the pages the index finds for xid = x */
static void
index_equal(Relation idx, TIDBitmap *tbm, uint64 x)
{
	ScanKeyData key;
	IndexScanDesc scan;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_XID8EQ,
				FullTransactionIdGetDatum(FullTransactionIdFromU64(x)));
	scan = index_beginscan_bitmap(idx, GetActiveSnapshot(), 1);
	index_rescan(scan, &key, 1, NULL, 0);
	(void) index_getbitmap(scan, tbm);
	index_endscan(scan);
}

static void
add_page(VerifyPages *pg, BlockNumber blkno)
{
	if (pg->npages == pg->maxpages)
	{
		pg->maxpages = Max(64, pg->maxpages * 2);
		pg->pages = pg->pages ? repalloc(pg->pages, sizeof(BlockNumber) * pg->maxpages) :
			palloc(sizeof(BlockNumber) * pg->maxpages);
	}
	pg->pages[pg->npages++] = blkno;
}

/*
 * The pages of partition part that may hold events of the chunk, in
 * order, appended to pg (see the head of this file).
 */
static void
chunk_pages(VerifyEvents *ev, int part, const VerifyBounds *b, VerifyPages *pg)
{
	Relation	idx = ev->indexes[part];
	TIDBitmap  *tbm;
	TBMIterator *it;
	TBMIterateResult *res;

	if (idx == NULL)
	{
		BlockNumber n = RelationGetNumberOfBlocks(ev->parts[part]);

		for (BlockNumber blk = 0; blk < n; blk++)
			add_page(pg, blk);
		return;
	}
	tbm = tbm_create(work_mem * 1024L, NULL);
	if (!b->has_lower || b->lower.xmax < b->upper.xmax)
		index_range(idx, tbm, b->has_lower, b->has_lower ? b->lower.xmax : 0, b->upper.xmax);
	if (b->has_lower)
		for (int i = 0; i < b->lower.nxip; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (b->lower.xip[i] < b->upper.xmax)
				index_equal(idx, tbm, b->lower.xip[i]);
		}
	it = tbm_begin_iterate(tbm);
	while ((res = tbm_iterate(it)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		add_page(pg, res->blockno);
	}
	tbm_end_iterate(it);
	tbm_free(tbm);
}

/*
 * Find the pages of the next chunk's events: those completed in upper and
 * not in lower (NULL: none before), through the xid indexes.  Done while
 * the chunk before is still being read, this leaves the workers less to
 * wait for between chunks.  The snapshots must stay until the chunk starts.
 */
void
steward_verify_events_prepare(VerifyEvents *ev, const AuditSnapshot *upper,
							  const AuditSnapshot *lower)
{
	VerifyBounds *b = &ev->next_bounds;

	Assert(ev->next_pages == NULL);
	b->upper = *upper;
	b->has_lower = lower != NULL;
	if (lower)
		b->lower = *lower;
	ev->next_pages = palloc0(sizeof(VerifyPages) * Max(ev->nparts, 1));
	for (int p = 0; p < ev->nparts; p++)
		chunk_pages(ev, p, b, &ev->next_pages[p]);
}

/*
 * Start reading the events of the chunk prepared (steward_verify_events_
 * prepare).  Their rows go to fn as they are read, when the caller steps or
 * finishes the reading; one chunk at a time.
 */
void
steward_verify_events_start(VerifyEvents *ev, VerifyRowsFn fn, void *arg)
{
	Assert(ev->run == NULL && ev->next_pages != NULL);
	ev->run = steward_verify_run_begin(&ev->team, &ev->reader, ev->nparts, ev->parts,
									   &ev->next_bounds, ev->next_pages, fn, arg);
	for (int p = 0; p < ev->nparts; p++)
		if (ev->next_pages[p].pages)
			pfree(ev->next_pages[p].pages);
	pfree(ev->next_pages);
	ev->next_pages = NULL;
}

/*
 * Start the parallel workers now, for a run that reads every event: as
 * many as a chunk of all the partitions' pages would get.
 */
void
steward_verify_events_workers(VerifyEvents *ev)
{
	int64		npages = 0;

	for (int p = 0; p < ev->nparts; p++)
		npages += ev->reader.nblocks[p];
	steward_verify_team_start(&ev->team, ev->nparts, ev->parts, npages, INT_MAX);
}

/* hand the rows read so far to fn, without waiting */
void
steward_verify_events_step(VerifyEvents *ev)
{
	if (ev->run)
		steward_verify_run_step(ev->run);
}

/* read the rest of the chunk's events */
void
steward_verify_events_finish(VerifyEvents *ev)
{
	steward_verify_run_finish(ev->run);
	ev->run = NULL;
}

/*
 * The rows of the chunk in a partition that is not a heap table, read
 * whole through its access method (a scan in the reader's snapshot), to
 * fn in batches.
 */
static void
read_scan(VerifyReader *r, const VerifyBounds *b, int part, VerifyRowsFn fn, void *arg)
{
	const AttrNumber *att = &r->attnums[part * AUDIT_NCOLS];
	Relation	rel = r->rels[part];
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = table_beginscan(rel, r->snapshot, 0, NULL);
	MemoryContext old;
	int			n = 0;

	if (r->maxrows < SCAN_BATCH)
	{
		r->maxrows = SCAN_BATCH;
		r->rows = r->rows ? repalloc(r->rows, sizeof(VerifyRow) * r->maxrows) :
			MemoryContextAlloc(r->cxt, sizeof(VerifyRow) * r->maxrows);
	}
	old = MemoryContextSwitchTo(r->rowcxt);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum		values[AUDIT_NCOLS];
		bool		isnull[AUDIT_NCOLS];
		uint64		xid;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		if (slot->tts_isnull[att[AUDIT_COL_XID] - 1])
			continue;
		xid = U64FromFullTransactionId(DatumGetFullTransactionId(slot->tts_values[att[AUDIT_COL_XID] - 1]));
		if (!in_chunk(b, xid))
			continue;
		for (int c = 0; c < AUDIT_NCOLS; c++)
		{
			values[c] = slot->tts_values[att[c] - 1];
			isnull[c] = slot->tts_isnull[att[c] - 1];
		}
		read_row(r, values, isnull, xid, &r->rows[n]);
		r->rows[n].part = part;
		r->rows[n].blkno = 0;
		r->rows[n].offnum = 0;
		if (++n == SCAN_BATCH)
		{
			hash_pending(r);
			MemoryContextSwitchTo(old);
			fn(arg, r->rows, n);
			n = 0;
			MemoryContextReset(r->rowcxt);
			MemoryContextSwitchTo(r->rowcxt);
		}
	}
	hash_pending(r);
	MemoryContextSwitchTo(old);
	if (n > 0)
		fn(arg, r->rows, n);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextReset(r->rowcxt);
}

/*
 * Read the events of a chunk (those completed in upper and not in lower,
 * NULL: none before) in this backend alone, without parallel workers, as
 * sealing does; the reader must have been opened for_seal.  Rows go to fn
 * as they are read, a unit of pages at a time, with their leaves (no
 * payload state).  Rows with an xid at or above *xid_limit are not read:
 * fn may lower it as it goes, and later units skip what it no longer
 * wants before anything is hashed.  Partitions that are not heap tables
 * are read whole through their access method.
 */
void
steward_verify_events_read(VerifyEvents *ev, const AuditSnapshot *upper,
						   const AuditSnapshot *lower, const uint64 *xid_limit,
						   VerifyRowsFn fn, void *arg)
{
	VerifyBounds b;

	Assert(ev->run == NULL && ev->reader.leaf_only);
	b.upper = *upper;
	b.has_lower = lower != NULL;
	if (lower)
		b.lower = *lower;
	for (int p = 0; p < ev->nparts; p++)
	{
		VerifyPages pages = {0};

		b.upper.xmax = Min(upper->xmax, *xid_limit);
		if (ev->parts[p]->rd_rel->relam != HEAP_TABLE_AM_OID)
		{
			read_scan(&ev->reader, &b, p, fn, arg);
			continue;
		}
		chunk_pages(ev, p, &b, &pages);
		for (int i = 0; i < pages.npages; i += SERIAL_UNIT_PAGES)
		{
			int			n;

			/* what fn no longer wants is not read (see in_chunk) */
			b.upper.xmax = Min(upper->xmax, *xid_limit);
			n = steward_verify_read_unit(&ev->reader, &b, p, pages.pages + i,
										 Min(SERIAL_UNIT_PAGES, pages.npages - i));
			if (n > 0)
				fn(arg, ev->reader.rows, n);
		}
		if (pages.pages)
			pfree(pages.pages);
	}
}
