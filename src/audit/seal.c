/*-------------------------------------------------------------------------
 *
 * seal.c
 *	  Sealing: turning the events that became visible since the last block
 *	  into the next block (audit_seal(), and the sealer's cycle).
 *
 * A seal takes the sealing lock (one sealer per database at a time), then
 * one snapshot S, and in that snapshot reads the previous block (checked
 * first: a previous block that does not verify stops the seal, see
 * block.c) and every event visible in S but not in the previous block's
 * snapshot (see snapshot.c), in (xid, id) order.  The events are read in
 * C by verify_read.c, in this backend alone: that set of events is a
 * chunk of verify_audit_chain (upper S, lower the previous block's
 * snapshot), so the xid index of each partition finds their pages and
 * each row's leaf is computed from the stored row, without SQL per row; a
 * partition without an xid index, or not a heap table, is read whole.
 * The rows are sorted here (gather_block).  The events' entries, the Merkle root
 * over their leaves and the header hash chained to the previous block go
 * into one new row of steward.audit_blocks (format 2: the hash covers the
 * entries and the snapshot too), in the sealer's own transaction.  Writers never take part: a transaction still running at
 * the seal is simply not visible in S, and its events land in a later block.
 *
 * The backend keeps a copy of the block it wrote last (written, up to
 * SEAL_KEEP_MAX bytes of entries): when the next seal finds that block as
 * the newest, byte for byte, its Merkle root and hash are not computed
 * again (every other check of the head still is).  A block whose
 * transaction rolled back is not in the table, and a changed one differs:
 * both are checked in full, so nothing is trusted from the copy alone.
 *
 * A seal must run in a READ COMMITTED transaction that has not written
 * anything: its own uncommitted events would otherwise look visible.
 *
 * A block holds at most pg_steward.audit_block_max_events events (more
 * only when one transaction appended more): a larger backlog becomes
 * several blocks, cut at xid boundaries (block_snapshot), each read by a
 * pass of its own.  Memory: the rows of about one block (64 bytes each,
 * up to a quarter more than the limit, see gather_block) and its entries
 * (56 bytes each), whatever the backlog.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pg_steward.h"
#include "audit/audit.h"
#include "audit/verify.h"

#define SEAL_LOCK_CLASS		0x53544557	/* "STEW" */
#define SEAL_LOCK_SUBID		5
/* a copy of the block this backend wrote last is kept up to this size */
#define SEAL_KEEP_MAX		((Size) 8 * 1024 * 1024)

int			steward_audit_block_max_events = 1000000;

static void
check_can_seal(void)
{
	steward_require_read_write("audit_seal");
	steward_require_read_committed("audit_seal");
	if (FullTransactionIdIsValid(GetTopFullTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("audit_seal cannot run in a transaction that has written data"),
				 errhint("Call it in a transaction of its own; events of this transaction are sealed after it commits.")));
}

static bytea *
to_bytea(const void *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* an event to seal: what its entry holds */
typedef struct SealRow
{
	uint64		xid;
	int64		id;
	int64		time_us;
	bool		encodable;
	uint8		leaf[AUDIT_HASH_LEN];
} SealRow;

/*
 * The events of the next block, gathered as the reader hands them over
 * (see gather_block).
 */
typedef struct SealRows
{
	SealRow    *rows;
	int64		n;
	int64		cap;			/* allocated */
	int64		compact_at;		/* at this many rows, drop what the block cannot hold */
	int64		slack;			/* rows kept beyond pg_steward.audit_block_max_events */
	uint64		limit;			/* rows from this xid on belong to a later block */
} SealRows;

/* the order of a block's events: xid, then id */
static int
seal_row_cmp(const void *a, const void *b)
{
	const SealRow *x = (const SealRow *) a;
	const SealRow *y = (const SealRow *) b;

	if (x->xid != y->xid)
		return x->xid < y->xid ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

/*
 * Where a block of the sorted rows ends: at the first row of the first
 * transaction reached with pg_steward.audit_block_max_events rows before
 * it, or after the last row.
 */
static int64
block_end(const SealRow *rows, int64 n)
{
	for (int64 i = Max(steward_audit_block_max_events, 1); i < n; i++)
		if (rows[i].xid != rows[i - 1].xid)
			return i;
	return n;
}

/*
 * Room for one more row: rows are kept up to compact_at; then they are
 * sorted and those after the block's end dropped, and the end's xid
 * becomes the limit (no row from there on is taken any more).  The array
 * grows beyond that only when one transaction fills most of it.
 */
static void
make_room(SealRows *s)
{
	if (s->n >= s->compact_at)
	{
		int64		end;

		qsort(s->rows, s->n, sizeof(SealRow), seal_row_cmp);
		end = block_end(s->rows, s->n);
		if (end < s->n)
		{
			s->limit = s->rows[end].xid;
			s->n = end;
		}
		if (s->n <= s->compact_at - s->slack / 2 && s->n < s->cap)
			return;
		/* one transaction holds most of them: room for more */
		s->compact_at = s->n + s->slack;
	}
	s->cap = Min(s->cap * 2, s->compact_at);
	s->rows = repalloc_huge(s->rows, sizeof(SealRow) * s->cap);
}

/* the reader's rows (VerifyRowsFn): those the block may hold are kept */
static void
gather_rows(void *arg, const VerifyRow *rows, int nrows)
{
	SealRows   *s = (SealRows *) arg;

	for (int i = 0; i < nrows; i++)
	{
		const VerifyRow *v = &rows[i];
		SealRow    *r;

		if (v->xid >= s->limit)
			continue;
		if (s->n == s->cap)
		{
			make_room(s);
			if (v->xid >= s->limit)
				continue;
		}
		r = &s->rows[s->n++];
		r->xid = v->xid;
		r->id = v->id;
		r->time_us = v->time_us;
		r->encodable = v->encodable;
		memcpy(r->leaf, v->leaf, AUDIT_HASH_LEN);
	}
}

/*
 * The events of the next block, in (xid, id) order, into s: those visible
 * in cur and not in prev (NULL: none before), up to the block's end; *cut
 * is the first xid left for a later block (0: none).  The rows are read in
 * storage order and kept while the block may need them: once more than
 * pg_steward.audit_block_max_events (and some) are kept, those after the
 * block's end are dropped and no row from its xid on is read any more (the
 * end can only move down as rows come in, never below the true one).  So
 * memory stays about that of one block, whatever the backlog.
 */
static void
gather_block(VerifyEvents *ev, const AuditSnapshot *cur, const AuditSnapshot *prev,
			 SealRows *s, uint64 *cut)
{
	int64		end;

	s->n = 0;
	s->limit = cur->xmax;
	s->slack = Max(steward_audit_block_max_events / 4, 1024);
	s->compact_at = Max(s->cap, steward_audit_block_max_events + s->slack);
	steward_verify_events_read(ev, cur, prev, &s->limit, gather_rows, s);
	qsort(s->rows, s->n, sizeof(SealRow), seal_row_cmp);
	end = block_end(s->rows, s->n);
	if (end < s->n)
		*cut = s->rows[end].xid;
	else if (s->limit < cur->xmax)
		*cut = s->limit;		/* the rows at the end were dropped on the way */
	else
		*cut = 0;
	s->n = end;
}

/*
 * The snapshot stored in a block that ends at xid "cut" (cur's xmax when
 * the seal is not cut): what the previous snapshot showed, plus what cur
 * showed below cut.  Visible(S') = Visible(prev) or (Visible(cur) and xid <
 * cut); as a pg_snapshot: xmax' = max(prev.xmax, cut), xip' = (cur.xip
 * below cut, but for ids prev shows completed) + (prev.xip from cut on).
 * So every block's snapshot follows the previous one, as verification
 * requires, even where cur lists as running an id the previous block saw
 * completed (a ledger restored into a cluster whose ids were already past
 * it, with an older transaction still open there).
 */
static char *
block_snapshot(const AuditSnapshot *prev, const AuditSnapshot *cur, uint64 cut)
{
	uint64		xmax = prev ? Max(prev->xmax, cut) : cut;
	uint64	   *xip = palloc(sizeof(uint64) * (cur->nxip + (prev ? prev->nxip : 0) + 1));
	int			nxip = 0;
	uint64		xmin;
	StringInfoData buf;

	for (int i = 0; i < cur->nxip; i++)
		if (cur->xip[i] < cut && !(prev && steward_audit_visible(prev, cur->xip[i])))
			xip[nxip++] = cur->xip[i];
	if (prev)
		for (int i = 0; i < prev->nxip; i++)
			if (prev->xip[i] >= cut && prev->xip[i] < xmax)
				xip[nxip++] = prev->xip[i];
	/* both parts are sorted and the first is below cut, the second not */
	xmin = nxip > 0 ? xip[0] : xmax;
	initStringInfo(&buf);
	appendStringInfo(&buf, UINT64_FORMAT ":" UINT64_FORMAT ":", xmin, xmax);
	for (int i = 0; i < nxip; i++)
		appendStringInfo(&buf, "%s" UINT64_FORMAT, i ? "," : "", xip[i]);
	return buf.data;
}

/*
 * The block this backend wrote last (block_id 0: none), with a copy of its
 * entries, in TopMemoryContext.  The next seal compares the stored newest
 * block with it byte for byte (block.c): the same bytes need not be
 * hashed again.  Nothing else is trusted from it, so a block whose
 * transaction rolled back, or that was changed since, is simply checked
 * in full.
 */
static AuditBlock written;

static void
forget_written(void)
{
	if (written.entries)
		pfree(written.entries);
	if (written.snap.xip)
		pfree(written.snap.xip);
	memset(&written, 0, sizeof(written));
}

/* remember b, which was just written (small enough blocks only) */
static void
remember_written(const AuditBlock *b)
{
	Size		len = (Size) b->count * AUDIT_ENTRY_LEN;

	forget_written();
	if (len > SEAL_KEEP_MAX)
		return;
	written = *b;
	written.snap_text = NULL;
	written.snap.xip = MemoryContextAlloc(TopMemoryContext,
										  sizeof(uint64) * Max(b->snap.nxip, 1));
	if (b->snap.nxip > 0)
		memcpy(written.snap.xip, b->snap.xip, sizeof(uint64) * b->snap.nxip);
	written.entries = MemoryContextAlloc(TopMemoryContext, Max(len, 1));
	if (len > 0)
		memcpy(written.entries, b->entries, len);
}

/* Write one block; prev_hash becomes its hash, and *b the block written. */
static void
write_block(int format, int64 block_id, const char *snap_text, const AuditSnapshot *snap,
			int64 first_position, int64 n, const StringInfo entries, uint8 *prev_hash,
			AuditBlock *out)
{
	AuditBlock	b = {0};
	Oid			types[10] = {INT8OID, INT2OID, TEXTOID, INT8OID, INT8OID, BYTEAOID,
	BYTEAOID, BYTEAOID, TIMESTAMPTZOID, BYTEAOID};
	Datum		vals[10];
	int			rc;

	b.block_id = block_id;
	b.format = format;
	b.first_position = first_position;
	b.count = n;
	b.sealed_at = GetCurrentTimestamp();
	steward_audit_check_time(b.sealed_at, "the seal");
	b.snap = *snap;
	b.entries = (uint8 *) entries->data;
	steward_audit_entries_root(b.entries, n, b.root);
	b.has_root = true;
	if (!steward_audit_block_hash(&b, prev_hash, b.hash))
		elog(ERROR, "could not compute the hash of block %lld", (long long) block_id);
	memcpy(b.prev_hash, prev_hash, AUDIT_HASH_LEN);
	b.has_prev_hash = true;
	b.has_hash = true;

	vals[0] = Int64GetDatum(block_id);
	vals[1] = Int16GetDatum(b.format);
	vals[2] = CStringGetTextDatum(snap_text);
	vals[3] = Int64GetDatum(first_position);
	vals[4] = Int64GetDatum(n);
	vals[5] = PointerGetDatum(to_bytea(b.root, AUDIT_HASH_LEN));
	vals[6] = PointerGetDatum(to_bytea(prev_hash, AUDIT_HASH_LEN));
	vals[7] = PointerGetDatum(to_bytea(b.hash, AUDIT_HASH_LEN));
	vals[8] = TimestampTzGetDatum(b.sealed_at);
	vals[9] = PointerGetDatum(to_bytea(entries->data, entries->len));
	/* a ledger not updated to 0.3.0 yet has no format column: format 1 */
	rc = SPI_execute_with_args(format == 1 ?
							   "INSERT INTO steward.audit_blocks (block_id, snapshot, "
							   "  first_position, event_count, merkle_root, prev_hash, "
							   "  block_hash, sealed_at, entries) "
							   "VALUES ($1, $3::pg_catalog.pg_snapshot, $4, $5, $6, $7, $8, $9, $10)" :
							   "INSERT INTO steward.audit_blocks (block_id, format, snapshot, "
							   "  first_position, event_count, merkle_root, prev_hash, "
							   "  block_hash, sealed_at, entries) "
							   "VALUES ($1, $2, $3::pg_catalog.pg_snapshot, $4, $5, $6, $7, $8, $9, $10)",
							   10, types, vals, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not write block %lld: %s", (long long) block_id,
			 SPI_result_code_string(rc));
	memcpy(prev_hash, b.hash, AUDIT_HASH_LEN);
	*out = b;
}

/* Does the ledger have its tree (an installation updated to 0.5.0)? */
static bool
tree_installed(void)
{
	Oid			nsp = get_namespace_oid("steward", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("audit_tree", nsp));
}

/*
 * Seal what became visible since the last block.  Returns the number of
 * events sealed (0: nothing new, no block written).
 */
int64
steward_audit_seal_now(bool quiet)
{
	StewardOwnerScope scope;
	LOCKTAG		tag;
	Snapshot	snap;
	int64		block_id = 1;
	int64		first_position = 1;
	uint8		prev_hash[AUDIT_HASH_LEN] = {0};
	bool		have_prev = false;
	char	   *cur_snap_text;
	AuditBlock	head;
	AuditBlock	last = {0};
	int			format;
	AuditSnapshot prev = {0};
	AuditSnapshot cur;
	StringInfoData entries;
	VerifyEvents *ev;
	SealRows	rows;
	int64		n = 0;
	int			rc;

	check_can_seal();

	steward_owner_scope_begin(&scope, true);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SEAL_LOCK_CLASS, 0, SEAL_LOCK_SUBID);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	/* one snapshot, taken after the lock, for the reads of this seal */
	snap = RegisterSnapshot(GetLatestSnapshot());
	PushActiveSnapshot(snap);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	format = steward_audit_blocks_have_format() ? AUDIT_BLOCK_FORMAT : 1;

	/*
	 * Sealing continues from the newest block, so it must verify first (if
	 * it is the block this backend wrote last, unchanged, its hashes are not
	 * computed again).
	 */
	if (steward_audit_read_head(&head, written.block_id > 0 ? &written : NULL))
	{
		block_id = head.block_id + 1;
		first_position = head.first_position + head.count;
		memcpy(prev_hash, head.hash, AUDIT_HASH_LEN);
		have_prev = true;
		prev = head.snap;
		pfree(head.entries);
	}

	rc = SPI_execute("SELECT pg_catalog.pg_current_snapshot()::text", true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the current snapshot");
	cur_snap_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	steward_audit_parse_snapshot(cur_snap_text, &cur);
	if (have_prev && cur.xmax < prev.xmax)
		steward_audit_refuse_xid_behind(prev.xmax, cur.xmax);

	/* the events are read in C, in this snapshot (verify_read.c) */
	ev = steward_verify_events_open("audit_seal", true);
	rows.cap = 1024;
	rows.rows = palloc(sizeof(SealRow) * rows.cap);

	/*
	 * One block per pg_steward.audit_block_max_events events at most: a
	 * backlog (after the sealer was down) is cut into several blocks at xid
	 * boundaries, each with the snapshot that ends at its cut.
	 */
	initStringInfo(&entries);
	for (;;)
	{
		uint64		cut;		/* first xid left for the next block; 0: none */
		char	   *block_snap_text;
		AuditSnapshot block_snap;

		gather_block(ev, &cur, have_prev ? &prev : NULL, &rows, &cut);
		if (rows.n == 0)
			break;
		resetStringInfo(&entries);
		enlargeStringInfo(&entries, (int) (rows.n * AUDIT_ENTRY_LEN));
		for (int64 i = 0; i < rows.n; i++)
		{
			const SealRow *r = &rows.rows[i];
			uint8		e[AUDIT_ENTRY_LEN];

			CHECK_FOR_INTERRUPTS();
			/* never seal a time the format cannot encode */
			if (!r->encodable)
				steward_audit_refuse_time(psprintf("event " INT64_FORMAT, r->id));
			steward_audit_put_int64(e + AUDIT_ENTRY_ID, r->id);
			steward_audit_put_int64(e + AUDIT_ENTRY_XID, (int64) r->xid);
			steward_audit_put_int64(e + AUDIT_ENTRY_TIME, r->time_us);
			memcpy(e + AUDIT_ENTRY_LEAF, r->leaf, AUDIT_HASH_LEN);
			appendBinaryStringInfo(&entries, (char *) e, AUDIT_ENTRY_LEN);
		}

		block_snap_text = block_snapshot(have_prev ? &prev : NULL, &cur, cut ? cut : cur.xmax);
		steward_audit_parse_snapshot(block_snap_text, &block_snap);
		write_block(format, block_id, block_snap_text, &block_snap, first_position, rows.n,
					&entries, prev_hash, &last);
		if (!quiet)
			ereport(DEBUG1,
					(errmsg_internal("sealed %lld audit events into block %lld",
									 (long long) rows.n, (long long) block_id)));
		n += rows.n;
		if (cut == 0)
			break;
		/* the next block starts where this one was cut */
		have_prev = true;
		prev = block_snap;
		block_id++;
		first_position += rows.n;
	}
	steward_verify_events_close(ev);
	if (last.block_id > 0)
		remember_written(&last);
	/*
	 * The ledger tree's nodes the new blocks complete, in this transaction
	 * (a seal that wrote no block completes none): read in a copy of the
	 * seal's snapshot that sees the blocks written.
	 */
	if (last.block_id > 0 && tree_installed())
	{
		CommandCounterIncrement();
		PushCopiedSnapshot(GetActiveSnapshot());
		UpdateActiveSnapshotCommandId();
		steward_audit_tree_extend(last.first_position + last.count - 1);
		PopActiveSnapshot();
	}

	SPI_finish();
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	steward_owner_scope_end(&scope);
	return n;
}

/*
 * Are there events the last block does not cover (committed or not)?
 * Inside a transaction.
 */
bool
steward_audit_pending(void)
{
	bool		pending = false;
	int			rc;

	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute("SELECT EXISTS (SELECT 1 FROM steward.audit_events e, "
					 "  (SELECT snapshot FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1) b "
					 "  WHERE e.xid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(b.snapshot) "
					 "    AND NOT pg_catalog.pg_visible_in_snapshot(e.xid, b.snapshot)) "
					 "    OR (EXISTS (SELECT 1 FROM steward.audit_events) "
					 "        AND NOT EXISTS (SELECT 1 FROM steward.audit_blocks)) "
					 /* a prepared transaction may hold events we cannot see */
					 "    OR EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_xacts "
					 "                WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database())",
					 true, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
		pending = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0;
	SPI_finish();
	PopActiveSnapshot();
	return pending;
}

PG_FUNCTION_INFO_V1(steward_audit_seal);

/*
 * audit_seal() returns bigint: seals every event committed so far.
 */
Datum
steward_audit_seal(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(steward_audit_seal_now(false));
}

PG_FUNCTION_INFO_V1(steward_audit_tree_extend_sql);

/*
 * audit_tree_extend(): store the nodes of the ledger tree that the sealed
 * leaves complete and the tree lacks (the update to 0.5.0 builds the tree
 * of an existing ledger with it).  Under the seal lock, so never at the
 * same time as a seal.  Not granted to anyone.
 */
Datum
steward_audit_tree_extend_sql(PG_FUNCTION_ARGS)
{
	StewardOwnerScope scope;
	LOCKTAG		tag;

	steward_require_read_write("audit_tree_extend");
	steward_owner_scope_begin(&scope, true);
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SEAL_LOCK_CLASS, 0, SEAL_LOCK_SUBID);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	steward_audit_tree_extend(-1);
	SPI_finish();
	steward_owner_scope_end(&scope);
	PG_RETURN_VOID();
}
