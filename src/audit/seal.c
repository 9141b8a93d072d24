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
 * snapshot (see snapshot.c), in (xid, id) order.  The events' entries, the Merkle root
 * over their leaves and the header hash chained to the previous block go
 * into one new row of steward.audit_blocks (format 2: the hash covers the
 * entries and the snapshot too), in the sealer's own transaction.  Writers never take part: a transaction still running at
 * the seal is simply not visible in S, and its events land in a later block.
 *
 * A seal must run in a READ COMMITTED transaction that has not written
 * anything: its own uncommitted events would otherwise look visible.
 *
 * A block holds at most pg_steward.audit_block_max_events events (more
 * only when one transaction appended more): a larger backlog becomes
 * several blocks, cut at xid boundaries (block_snapshot).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pg_steward.h"
#include "audit/audit.h"

#define SEAL_LOCK_CLASS		0x53544557	/* "STEW" */
#define SEAL_LOCK_SUBID		5
#define SEAL_FETCH			10000

int			steward_audit_block_max_events = 1000000;

#define SEAL_EVENTS_SQL \
	"SELECT e.id, e.xid, e.event_time, " \
	"       steward.audit_event_check(" AUDIT_EVENT_COLUMNS ", NULL, NULL) " \
	"  FROM steward.audit_events e " \
	" WHERE ((e.xid OPERATOR(pg_catalog.>=) $1::pg_catalog.xid8 AND e.xid OPERATOR(pg_catalog.<) $2::pg_catalog.xid8) " \
	"        OR e.xid OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.xid8[])) " \
	"   AND pg_catalog.pg_visible_in_snapshot(e.xid, $4::pg_catalog.pg_snapshot) " \
	" ORDER BY e.xid, e.id"

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

/* the xip list of a snapshot as an xid8[] literal */
static char *
xip_array(const AuditSnapshot *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < s->nxip; i++)
		appendStringInfo(&buf, "%s" UINT64_FORMAT, i ? "," : "", s->xip[i]);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static bytea *
to_bytea(const void *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
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

/* Write one block; prev_hash becomes its hash. */
static void
write_block(int format, int64 block_id, const char *snap_text, const AuditSnapshot *snap,
			int64 first_position, int64 n, const StringInfo entries, uint8 *prev_hash)
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
	char	   *prev_snap_text = NULL;
	char	   *cur_snap_text;
	AuditBlock	head;
	int			format;
	AuditSnapshot prev = {0};
	AuditSnapshot cur;
	StringInfoData entries;
	int64		n = 0;
	Portal		portal;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[4];
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

	/* sealing continues from the newest block, so it must verify first */
	if (steward_audit_read_head(&head))
	{
		block_id = head.block_id + 1;
		first_position = head.first_position + head.count;
		memcpy(prev_hash, head.hash, AUDIT_HASH_LEN);
		prev_snap_text = head.snap_text;
		prev = head.snap;
		pfree(head.entries);
	}

	rc = SPI_execute("SELECT pg_catalog.pg_current_snapshot()::text", true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the current snapshot");
	cur_snap_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	steward_audit_parse_snapshot(cur_snap_text, &cur);
	if (prev_snap_text && cur.xmax < prev.xmax)
		steward_audit_refuse_xid_behind(prev.xmax, cur.xmax);

	/*
	 * One block per pg_steward.audit_block_max_events events at most: a
	 * backlog (after the sealer was down) is cut into several blocks at xid
	 * boundaries, each with the snapshot that ends at its cut.
	 */
	initStringInfo(&entries);
	for (;;)
	{
		uint64		cut = 0;	/* first xid left for the next block; 0: none */
		uint64		last_xid = 0;
		int64		nblock = 0;
		char	   *block_snap_text;
		AuditSnapshot block_snap;

		args[0] = CStringGetTextDatum(psprintf(UINT64_FORMAT, prev_snap_text ? prev.xmax : 0));
		args[1] = CStringGetTextDatum(psprintf(UINT64_FORMAT, cur.xmax));
		args[2] = CStringGetTextDatum(xip_array(&prev));
		args[3] = CStringGetTextDatum(cur_snap_text);
		resetStringInfo(&entries);

		portal = SPI_cursor_open_with_args(NULL, SEAL_EVENTS_SQL, 4, argtypes, args,
										   NULL, true, 0);
		while (cut == 0)
		{
			SPI_cursor_fetch(portal, true, SEAL_FETCH);
			if (SPI_processed == 0)
				break;
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				HeapTuple	t = SPI_tuptable->vals[i];
				TupleDesc	d = SPI_tuptable->tupdesc;
				bool		isnull;
				uint8		e[AUDIT_ENTRY_LEN];
				bytea	   *check;
				int64		id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
				uint64		xid = U64FromFullTransactionId(DatumGetFullTransactionId(SPI_getbinval(t, d, 2, &isnull)));
				TimestampTz time = DatumGetTimestampTz(SPI_getbinval(t, d, 3, &isnull));

				CHECK_FOR_INTERRUPTS();
				if (nblock >= steward_audit_block_max_events && xid != last_xid)
				{
					cut = xid;
					break;
				}
				last_xid = xid;
				/* never seal a time the format cannot encode */
				steward_audit_check_time(time, psprintf("event " INT64_FORMAT, id));
				steward_audit_put_int64(e + AUDIT_ENTRY_ID, id);
				steward_audit_put_int64(e + AUDIT_ENTRY_XID, (int64) xid);
				steward_audit_put_int64(e + AUDIT_ENTRY_TIME, steward_audit_unix_micros(time));
				check = DatumGetByteaPP(SPI_getbinval(t, d, 4, &isnull));
				memcpy(e + AUDIT_ENTRY_LEAF, VARDATA_ANY(check), AUDIT_HASH_LEN);
				appendBinaryStringInfo(&entries, (char *) e, AUDIT_ENTRY_LEN);
				nblock++;
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);

		if (nblock == 0)
			break;
		block_snap_text = block_snapshot(prev_snap_text ? &prev : NULL, &cur, cut ? cut : cur.xmax);
		steward_audit_parse_snapshot(block_snap_text, &block_snap);
		write_block(format, block_id, block_snap_text, &block_snap, first_position, nblock,
					&entries, prev_hash);
		if (!quiet)
			ereport(DEBUG1,
					(errmsg_internal("sealed %lld audit events into block %lld",
									 (long long) nblock, (long long) block_id)));
		n += nblock;
		if (cut == 0)
			break;
		/* the next block starts where this one was cut */
		prev_snap_text = block_snap_text;
		prev = block_snap;
		block_id++;
		first_position += nblock;
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
