/*-------------------------------------------------------------------------
 *
 * block.c
 *	  A block checked against the chain before it: by verification, for
 *	  every block, and before anything acts on the newest block (the head).
 *
 * Sealing continues from the head (its id, position, hash and snapshot)
 * and the restored-ledger check of appends reads its snapshot.  Stored
 * rows can be edited behind the append-only triggers' back, so neither
 * trusts the head unless it verifies: it links to the hash of the block
 * before it, its hash matches its header (for format 2 blocks that covers
 * the entries and the snapshot), its entries match its Merkle root, and
 * its snapshot follows the previous one and holds its entries.  A head
 * that does not verify stops sealing and the restored-ledger advice with
 * "the audit ledger is damaged".  A seal that finds as the head the very
 * block its backend wrote last, byte for byte, skips recomputing its
 * Merkle root and hash (steward_audit_read_head's known block); every
 * other check is made.  The advice itself, for a head that does
 * verify, is here too (steward_audit_refuse_xid_behind): appends and seals
 * both give it.
 *
 * Everything here reads through SPI; the caller has connected it and runs
 * as the owner of schema steward.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "audit/audit.h"

/*
 * Does steward.audit_blocks have its format column?  Not in a database
 * still at 0.1.0 or 0.2.0 (before ALTER EXTENSION UPDATE): its blocks are
 * all of format 1, and seals write format 1 there too.
 */
bool
steward_audit_blocks_have_format(void)
{
	Oid			relid = get_relname_relid("audit_blocks", get_namespace_oid(STEWARD_SCHEMA, false));

	return OidIsValid(relid) && get_attnum(relid, "format") != InvalidAttrNumber;
}

/*
 * SELECT of a block's columns in the order steward_audit_read_block reads
 * them; entries is the entries column or a stand-in, rest what follows FROM.
 */
char *
steward_audit_block_select(const char *entries, const char *rest)
{
	return psprintf("SELECT block_id, %s, snapshot::text, first_position, event_count, "
					"       merkle_root, prev_hash, block_hash, sealed_at, %s "
					"  FROM steward.audit_blocks %s",
					steward_audit_blocks_have_format() ? "format" : "1::pg_catalog.int2",
					entries, rest);
}

/* the position of the chain before its first block */
void
steward_audit_chain_start(AuditChainEnd *end)
{
	end->next_block = 1;
	end->next_position = 1;
	memset(end->prev_hash, 0, AUDIT_HASH_LEN);
	end->format = 0;
	end->snap = NULL;
}

/* a hash column into out; false unless it is AUDIT_HASH_LEN bytes */
static bool
hash_column(HeapTuple t, TupleDesc d, int col, uint8 *out)
{
	bool		isnull;
	Datum		x = SPI_getbinval(t, d, col, &isnull);
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(x);
	if (VARSIZE_ANY_EXHDR(b) != AUDIT_HASH_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), AUDIT_HASH_LEN);
	return true;
}

/*
 * One row of steward_audit_block_select, copied into b (in the current memory
 * context, so that it outlives the SPI tuple table).  The entries go into
 * spare (spare_size bytes, NULL: none) when they fit, else into memory
 * palloc'd here; b->entries_size is what b->entries holds room for, and
 * b->entries_alloc the allocation it is in (spare when it went there).
 */
void
steward_audit_read_block(HeapTuple t, TupleDesc d, AuditBlock *b, uint8 *spare, Size spare_size)
{
	bool		isnull;
	Datum		raw;

	b->block_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
	b->format = DatumGetInt16(SPI_getbinval(t, d, 2, &isnull));
	b->snap_text = SPI_getvalue(t, d, 3);
	steward_audit_parse_snapshot(b->snap_text, &b->snap);
	b->first_position = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
	b->count = DatumGetInt64(SPI_getbinval(t, d, 5, &isnull));
	b->has_root = hash_column(t, d, 6, b->root);
	b->has_prev_hash = hash_column(t, d, 7, b->prev_hash);
	b->has_hash = hash_column(t, d, 8, b->hash);
	b->sealed_at = DatumGetTimestampTz(SPI_getbinval(t, d, 9, &isnull));

	b->entries = NULL;
	b->entries_size = 0;
	b->entries_alloc = NULL;
	raw = SPI_getbinval(t, d, 10, &isnull);
	if (!isnull)
	{
		bytea	   *entries = (bytea *) steward_audit_detoast((struct varlena *) DatumGetPointer(raw),
															  (struct varlena *) spare, spare_size);
		Size		len = VARSIZE_ANY_EXHDR(entries);

		if (b->count >= 0 && len / AUDIT_ENTRY_LEN == (uint64) b->count &&
			len % AUDIT_ENTRY_LEN == 0)
		{
			if ((Pointer) entries == (Pointer) spare)
			{
				/* detoasted into spare: move the bytes to its start */
				memmove(spare, VARDATA_ANY(entries), len);
				b->entries = spare;
				b->entries_size = spare_size;
				b->entries_alloc = spare;
				entries = NULL;
			}
			else if ((Pointer) entries != DatumGetPointer(raw))
			{
				/* a detoasted copy of our own: move the bytes to its start */
				memmove(entries, VARDATA_ANY(entries), len);
				b->entries = (uint8 *) entries;
				b->entries_size = len + VARHDRSZ;
				b->entries_alloc = entries;
				entries = NULL;
			}
			else if (spare != NULL && len + 1 <= spare_size)
			{
				b->entries = spare;
				b->entries_size = spare_size;
				b->entries_alloc = spare;
				memcpy(b->entries, VARDATA_ANY(entries), len);
			}
			else
			{
				b->entries = palloc(len + 1);
				b->entries_size = len + 1;
				b->entries_alloc = b->entries;
				memcpy(b->entries, VARDATA_ANY(entries), len);
			}
		}
		/* a detoasted copy is not needed any more */
		if (entries != NULL && (Pointer) entries != DatumGetPointer(raw) &&
			(Pointer) entries != (Pointer) spare)
			pfree(entries);
	}
}

static bool
found(AuditBlockProblem *p, int64 block_id, int64 position, const char *fmt,...)
pg_attribute_printf(4, 5);

static bool
found(AuditBlockProblem *p, int64 block_id, int64 position, const char *fmt,...)
{
	va_list		ap;
	char		buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->block_id = block_id;
	p->position = position;
	p->text = pstrdup(buf);
	return true;
}

/*
 * Check a block against the chain before it.  Returns true and the first
 * problem found, in this order: numbering, position, entries against the
 * count, the link to the previous hash, the format, the Merkle root, the
 * hash, the snapshot.  Without rehash, the Merkle root and the hash are
 * taken as they are (for a block known to be byte for byte one whose were
 * computed from its bytes).
 */
static bool
check_block(const AuditBlock *b, const AuditChainEnd *before, AuditBlockProblem *p,
			bool rehash)
{
	long long	id = (long long) b->block_id;
	uint8		calc[AUDIT_HASH_LEN];

	if (b->block_id != before->next_block)
		return found(p, before->next_block, before->next_position,
					 "block %lld is missing: the next block is %lld",
					 (long long) before->next_block, id);
	if (b->first_position != before->next_position)
		return found(p, b->block_id, before->next_position,
					 "block %lld starts at position %lld, expected %lld",
					 id, (long long) b->first_position, (long long) before->next_position);
	if (b->entries == NULL)
		return found(p, b->block_id, before->next_position,
					 "block %lld: its entries do not match its event count", id);
	if (!b->has_prev_hash || memcmp(b->prev_hash, before->prev_hash, AUDIT_HASH_LEN) != 0)
		return found(p, b->block_id, b->first_position,
					 "block %lld does not link to the hash of block %lld", id, id - 1);
	if (b->format != 1 && b->format != 2)
		return found(p, b->block_id, b->first_position,
					 "block %lld has an unknown format %d", id, b->format);
	if (b->format < before->format)
		return found(p, b->block_id, b->first_position,
					 "block %lld has format %d after a block of format %d",
					 id, b->format, before->format);
	if (rehash)
	{
		steward_audit_entries_root(b->entries, b->count, calc);
		if (!b->has_root || memcmp(b->root, calc, AUDIT_HASH_LEN) != 0)
			return found(p, b->block_id, b->first_position,
						 "block %lld: its entries do not match its Merkle root", id);
		if (!b->has_hash || !steward_audit_block_hash(b, b->prev_hash, calc) ||
			memcmp(b->hash, calc, AUDIT_HASH_LEN) != 0)
			return found(p, b->block_id, b->first_position,
						 "block %lld: its hash does not match its header", id);
	}
	if (before->snap != NULL && !steward_audit_snapshot_follows(&b->snap, before->snap))
		return found(p, b->block_id, b->first_position,
					 "block %lld: its snapshot does not follow block %lld's", id, id - 1);
	if (!steward_audit_snapshot_holds(&b->snap, before->snap, b->entries, b->count))
		return found(p, b->block_id, b->first_position,
					 "block %lld: its snapshot does not match its entries", id);
	return false;
}

bool
steward_audit_check_block(const AuditBlock *b, const AuditChainEnd *before,
						  AuditBlockProblem *p)
{
	return check_block(b, before, p, true);
}

/*
 * Is stored block b byte for byte the block known (its header, snapshot
 * and entries)?
 */
static bool
same_block(const AuditBlock *b, const AuditBlock *known)
{
	return b->block_id == known->block_id && b->format == known->format &&
		b->first_position == known->first_position && b->count == known->count &&
		b->sealed_at == known->sealed_at &&
		b->has_root && known->has_root && memcmp(b->root, known->root, AUDIT_HASH_LEN) == 0 &&
		b->has_prev_hash && known->has_prev_hash &&
		memcmp(b->prev_hash, known->prev_hash, AUDIT_HASH_LEN) == 0 &&
		b->has_hash && known->has_hash && memcmp(b->hash, known->hash, AUDIT_HASH_LEN) == 0 &&
		b->snap.xmin == known->snap.xmin && b->snap.xmax == known->snap.xmax &&
		b->snap.nxip == known->snap.nxip &&
		(b->snap.nxip == 0 ||
		 memcmp(b->snap.xip, known->snap.xip, sizeof(uint64) * b->snap.nxip) == 0) &&
		b->entries != NULL && known->entries != NULL &&
		(b->count == 0 ||
		 memcmp(b->entries, known->entries, (Size) b->count * AUDIT_ENTRY_LEN) == 0);
}

static void
refuse_damaged(int64 block_id, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the audit ledger is damaged: its newest block %lld does not verify",
					(long long) block_id),
			 errdetail("Verification of the newest block reports \"%s\".", problem),
			 errhint("Run verify_audit_chain() to find the first problem. Nothing is sealed, "
					 "and no advice is taken from the block, until it verifies again.")));
}

/*
 * Read the newest block into head and check it against the block before
 * it; errors out if it does not verify.  Returns false when nothing is
 * sealed yet.  known, if not NULL, is a block this backend wrote (its
 * Merkle root and hash computed from its bytes): when the stored head is
 * byte for byte that block, those two are not computed again; every other
 * check is made all the same.
 */
bool
steward_audit_read_head(AuditBlock *head, const AuditBlock *known)
{
	AuditChainEnd before;
	AuditBlock	prev;
	AuditBlockProblem problem;
	bool		rehash;
	int			rc;

	rc = SPI_execute(steward_audit_block_select("entries", "ORDER BY block_id DESC LIMIT 1"), true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the newest block: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	steward_audit_read_block(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, head, NULL, 0);
	SPI_freetuptable(SPI_tuptable);

	steward_audit_chain_start(&before);
	if (head->block_id > 1)
	{
		Oid			types[1] = {INT8OID};
		Datum		arg = Int64GetDatum(head->block_id - 1);

		rc = SPI_execute_with_args(steward_audit_block_select("NULL::pg_catalog.bytea", "WHERE block_id OPERATOR(pg_catalog.=) $1"),
								   1, types, &arg, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read block %lld: %s", (long long) (head->block_id - 1),
				 SPI_result_code_string(rc));
		if (SPI_processed == 0)
			refuse_damaged(head->block_id,
						   psprintf("block %lld is missing", (long long) (head->block_id - 1)));
		steward_audit_read_block(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &prev, NULL, 0);
		SPI_freetuptable(SPI_tuptable);
		if (!prev.has_hash)
			refuse_damaged(head->block_id,
						   psprintf("block %lld has a malformed hash", (long long) prev.block_id));
		before.next_block = prev.block_id + 1;
		before.next_position = prev.first_position + prev.count;
		memcpy(before.prev_hash, prev.hash, AUDIT_HASH_LEN);
		before.format = prev.format;
		before.snap = &prev.snap;
	}
	rehash = known == NULL || !same_block(head, known);
	if (!rehash)
		ereport(DEBUG2,
				(errmsg_internal("newest block %lld is the one this session wrote: not hashed again",
								 (long long) head->block_id)));
	if (check_block(head, &before, &problem, rehash))
		refuse_damaged(head->block_id, problem.text);
	return true;
}

/*
 * A ledger restored into another cluster (pg_dump, pg_restore) carries the
 * transaction ids of the cluster it came from.  Sealing works by comparing
 * transaction ids with the last block's snapshot, so an event appended
 * with an id below that snapshot would never be sealed: refuse, and say
 * how to move the cluster's transaction counter past the ledger.
 *
 * The refusal is only ever reached from a last block that verifies
 * (steward_audit_read_head), whose xmax is head_xmax.  Events appended
 * after that block came along too and are sealed once the counter passes
 * their ids, so the advice goes past them as well; the detail says which
 * part of the number comes from them, since the chain does not cover them
 * yet.
 */
void
steward_audit_refuse_xid_behind(uint64 head_xmax, uint64 current)
{
	bool		isnull;
	char	   *newest;
	const char *args[1];
	uint64		ledger_xmax = head_xmax;

	args[0] = psprintf(UINT64_FORMAT, head_xmax);
	newest = steward_query_text_as_owner("SELECT (max(xid::text::pg_catalog.numeric) + 1)::text "
										 "  FROM steward.audit_events WHERE xid OPERATOR(pg_catalog.>=) $1::pg_catalog.xid8",
										 1, args, &isnull);
	if (newest && !isnull && strtou64(newest, NULL, 10) > ledger_xmax)
		ledger_xmax = strtou64(newest, NULL, 10);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("this cluster's transaction IDs are behind the audit ledger"),
			 ledger_xmax == head_xmax ?
			 errdetail("The ledger holds transaction IDs up to " UINT64_FORMAT
					   " but this cluster is at transaction " UINT64_FORMAT
					   ": the database was restored from another cluster.",
					   ledger_xmax, current) :
			 errdetail("The ledger holds transaction IDs up to " UINT64_FORMAT
					   " but this cluster is at transaction " UINT64_FORMAT
					   ": the database was restored from another cluster. Its last block covers IDs up to "
					   UINT64_FORMAT "; the IDs above are those of events not sealed yet.",
					   ledger_xmax, current, head_xmax),
			 errhint("Stop this cluster and run scripts/advance_xid.sh on its data directory with " UINT64_FORMAT
					 " (pg_resetwal -e %u -x %u), then start it again; docs/operations.md describes the restore.",
					 ledger_xmax, (uint32) (ledger_xmax >> 32), (uint32) ledger_xmax)));
}
