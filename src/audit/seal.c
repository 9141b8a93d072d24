/*-------------------------------------------------------------------------
 *
 * seal.c
 *	  Sealing: turning the events that became visible since the last block
 *	  into the next block (audit_seal(), and the sealer's cycle).
 *
 * A seal takes the sealing lock (one sealer per database at a time), then
 * one snapshot S, and in that snapshot reads the previous block and every
 * event visible in S but not in the previous block's snapshot (see
 * snapshot.c), in (xid, id) order.  The events' entries, the Merkle root
 * over their leaves and the header hash chained to the previous block go
 * into one new row of steward.audit_blocks, in the sealer's own
 * transaction.  Writers never take part: a transaction still running at
 * the seal is simply not visible in S, and its events land in a later block.
 *
 * A seal must run in a READ COMMITTED transaction that has not written
 * anything: its own uncommitted events would otherwise look visible.
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

#include "pg_steward.h"
#include "audit/audit.h"

#define SEAL_LOCK_CLASS		0x53544557	/* "STEW" */
#define SEAL_LOCK_SUBID		5
#define SEAL_FETCH			10000

#define SEAL_EVENTS_SQL \
	"SELECT e.id, e.xid::text, e.event_time, " \
	"       steward.audit_event_check(" AUDIT_EVENT_COLUMNS ", NULL, NULL) " \
	"  FROM steward.audit_events e " \
	" WHERE ((e.xid >= $1::pg_catalog.xid8 AND e.xid < $2::pg_catalog.xid8) " \
	"        OR e.xid = ANY ($3::pg_catalog.xid8[])) " \
	"   AND pg_catalog.pg_visible_in_snapshot(e.xid, $4::pg_catalog.pg_snapshot) " \
	" ORDER BY e.xid, e.id"

static void
check_can_seal(void)
{
	steward_require_read_write("audit_seal");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("audit_seal must run at isolation level READ COMMITTED")));
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
	AuditSnapshot prev = {0};
	AuditSnapshot cur;
	StringInfoData entries;
	StringInfoData leaves;
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

	rc = SPI_execute("SELECT block_id, snapshot::text, first_position + event_count, block_hash "
					 "  FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1", true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the last block: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *h;

		block_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull)) + 1;
		prev_snap_text = SPI_getvalue(t, d, 2);
		first_position = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
		h = DatumGetByteaPP(SPI_getbinval(t, d, 4, &isnull));
		if (VARSIZE_ANY_EXHDR(h) != AUDIT_HASH_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("block %lld of the audit ledger has a malformed hash",
							(long long) (block_id - 1)),
					 errhint("Run verify_audit_chain().")));
		memcpy(prev_hash, VARDATA_ANY(h), AUDIT_HASH_LEN);
		steward_audit_parse_snapshot(prev_snap_text, &prev);
	}

	rc = SPI_execute("SELECT pg_catalog.pg_current_snapshot()::text", true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the current snapshot");
	cur_snap_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	steward_audit_parse_snapshot(cur_snap_text, &cur);

	args[0] = CStringGetTextDatum(psprintf(UINT64_FORMAT, prev_snap_text ? prev.xmax : 0));
	args[1] = CStringGetTextDatum(psprintf(UINT64_FORMAT, cur.xmax));
	args[2] = CStringGetTextDatum(xip_array(&prev));
	args[3] = CStringGetTextDatum(cur_snap_text);

	initStringInfo(&entries);
	initStringInfo(&leaves);
	portal = SPI_cursor_open_with_args(NULL, SEAL_EVENTS_SQL, 4, argtypes, args,
									   NULL, true, 0);
	for (;;)
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
			char	   *xid = SPI_getvalue(t, d, 2);

			CHECK_FOR_INTERRUPTS();
			steward_audit_put_int64(e, DatumGetInt64(SPI_getbinval(t, d, 1, &isnull)));
			steward_audit_put_int64(e + 8, (int64) strtou64(xid, NULL, 10));
			steward_audit_put_int64(e + 16,
									steward_audit_unix_micros(DatumGetTimestampTz(SPI_getbinval(t, d, 3, &isnull))));
			check = DatumGetByteaPP(SPI_getbinval(t, d, 4, &isnull));
			memcpy(e + 24, VARDATA_ANY(check), AUDIT_HASH_LEN);
			appendBinaryStringInfo(&entries, (char *) e, AUDIT_ENTRY_LEN);
			appendBinaryStringInfo(&leaves, (char *) e + 24, AUDIT_HASH_LEN);
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	if (n > 0)
	{
		uint8		root[AUDIT_HASH_LEN];
		uint8		hash[AUDIT_HASH_LEN];
		TimestampTz sealed_at = GetCurrentTimestamp();
		Oid			types[9] = {INT8OID, TEXTOID, INT8OID, INT8OID, BYTEAOID,
		BYTEAOID, BYTEAOID, TIMESTAMPTZOID, BYTEAOID};
		Datum		vals[9];

		steward_audit_merkle_root((uint8 *) leaves.data, n, root);
		steward_audit_block_hash(block_id, first_position, n, sealed_at, root,
								 prev_hash, hash);
		vals[0] = Int64GetDatum(block_id);
		vals[1] = CStringGetTextDatum(cur_snap_text);
		vals[2] = Int64GetDatum(first_position);
		vals[3] = Int64GetDatum(n);
		vals[4] = PointerGetDatum(to_bytea(root, AUDIT_HASH_LEN));
		vals[5] = PointerGetDatum(to_bytea(prev_hash, AUDIT_HASH_LEN));
		vals[6] = PointerGetDatum(to_bytea(hash, AUDIT_HASH_LEN));
		vals[7] = TimestampTzGetDatum(sealed_at);
		vals[8] = PointerGetDatum(to_bytea(entries.data, entries.len));
		rc = SPI_execute_with_args("INSERT INTO steward.audit_blocks (block_id, snapshot, "
								   "  first_position, event_count, merkle_root, prev_hash, "
								   "  block_hash, sealed_at, entries) "
								   "VALUES ($1, $2::pg_catalog.pg_snapshot, $3, $4, $5, $6, $7, $8, $9)",
								   9, types, vals, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not write block %lld: %s", (long long) block_id,
				 SPI_result_code_string(rc));
		if (!quiet)
			ereport(DEBUG1,
					(errmsg_internal("sealed %lld audit events into block %lld",
									 (long long) n, (long long) block_id)));
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
					 "  WHERE e.xid >= pg_catalog.pg_snapshot_xmin(b.snapshot) "
					 "    AND NOT pg_catalog.pg_visible_in_snapshot(e.xid, b.snapshot)) "
					 "    OR (EXISTS (SELECT 1 FROM steward.audit_events) "
					 "        AND NOT EXISTS (SELECT 1 FROM steward.audit_blocks))",
					 true, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
		pending = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0;
	SPI_finish();
	PopActiveSnapshot();
	return pending;
}

PG_FUNCTION_INFO_V1(audit_seal);

/*
 * audit_seal() returns bigint: seals every event committed so far.
 */
Datum
audit_seal(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(steward_audit_seal_now(false));
}
