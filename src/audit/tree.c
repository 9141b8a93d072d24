/*-------------------------------------------------------------------------
 *
 * tree.c
 *	  The ledger tree: one append-only Merkle tree (RFC 9162 §2.1) over
 *	  every sealed leaf in chain order, and the hashes it is built from.
 *
 * Words: leaf i (from 0) is the leaf of the event at chain position i + 1,
 * as its block's entries hold it.  The tree of size n is RFC 9162's Merkle
 * Tree Hash (MTH) over leaves 0 .. n-1, with the ledger's node hash
 * H(0x01 ‖ left ‖ right); its head is (n, root).  A digest names the head
 * at its block's last position.  A node (level, index) is the root of the
 * 2^level leaves from index · 2^level: a complete, aligned subtree.
 *
 * steward.audit_tree stores every node of level AUDIT_TREE_TILE_LEVEL (256
 * leaves) and up, written by audit_seal in the transaction of the blocks
 * that complete it (steward_audit_tree_extend); smaller subtrees are
 * computed from their leaves, at most 256, read from the blocks' entries.
 * A stored node only saves work: any subtree hash is computed from the
 * stored nodes it covers, or from leaves where none is stored.  Nodes are
 * never trusted alone: audit_proof and audit_consistency check every proof
 * they build against the root computed from the leaves' side before
 * returning it (a wrong node off the root's path is refused there), and
 * verify_audit_chain() compares the root a trusted digest names.
 *
 * Proofs (proof.c) are RFC 9162's PATH and SUBPROOF over these hashes.
 * Everything here runs inside SPI, as the owner, and only reads, except
 * the extension, which only inserts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "pg_steward.h"
#include "audit/audit.h"

#define TILE				((int64) 1 << AUDIT_TREE_TILE_LEVEL)
#define READ_LEAVES_MAX		((int64) 1 << 16)	/* leaves per read: 3.5 MB of entries */

StaticAssertDecl(AUDIT_ENTRY_LEN == 56, "the SQL below reads entries of 56 bytes");

/* the largest power of two below n (n >= 2) */
int64
steward_audit_tree_split(int64 n)
{
	int64		k = 1;

	while ((k << 1) < n)
		k <<= 1;
	return k;
}

/* the number of sealed leaves: the newest block's last position, or 0 */
int64
steward_audit_tree_sealed_size(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute("SELECT b.first_position OPERATOR(pg_catalog.+) b.event_count OPERATOR(pg_catalog.-) 1"
					"  FROM steward.audit_blocks b ORDER BY b.block_id DESC LIMIT 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the newest block");
	if (SPI_processed == 0)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Leaves start .. start + count - 1 into out (count · 32 bytes), read from
 * the entries of the blocks that hold them: only the slice of each block's
 * entries needed (entries are stored uncompressed, so the slice is all
 * that is read).  A ledger whose blocks do not hold them all (a damaged
 * one) is an error.
 */
void
steward_audit_tree_read_leaves(int64 start, int64 count, uint8 *out)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2];
	int64		got = 0;
	int			rc;

	Assert(count > 0);
	vals[0] = Int64GetDatum(start + 1);
	vals[1] = Int64GetDatum(start + 1 + count);
	rc = SPI_execute_with_args(
		"SELECT b.first_position,"
		"       pg_catalog.substr(b.entries,"
		"         ((pg_catalog.int8larger($1, b.first_position) OPERATOR(pg_catalog.-) b.first_position)"
		"           OPERATOR(pg_catalog.*) 56 OPERATOR(pg_catalog.+) 1)::pg_catalog.int4,"
		"         ((pg_catalog.int8smaller($2, b.first_position OPERATOR(pg_catalog.+) b.event_count)"
		"           OPERATOR(pg_catalog.-) pg_catalog.int8larger($1, b.first_position))"
		"           OPERATOR(pg_catalog.*) 56)::pg_catalog.int4)"
		"  FROM steward.audit_blocks b"
		" WHERE b.first_position OPERATOR(pg_catalog.<) $2"
		"   AND b.first_position OPERATOR(pg_catalog.>=) COALESCE("
		"         (SELECT b2.first_position FROM steward.audit_blocks b2"
		"           WHERE b2.first_position OPERATOR(pg_catalog.<=) $1"
		"           ORDER BY b2.first_position DESC LIMIT 1), 1)"
		" ORDER BY b.first_position",
		2, types, vals, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the leaves of the ledger");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		first = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
		bytea	   *slice;
		const uint8 *p;
		int64		n;

		CHECK_FOR_INTERRUPTS();
		if (isnull)
			break;
		slice = DatumGetByteaPP(d);
		n = VARSIZE_ANY_EXHDR(slice) / AUDIT_ENTRY_LEN;
		if (Max(first - 1, start) != start + got || got + n > count)
			break;
		p = (const uint8 *) VARDATA_ANY(slice);
		for (int64 i = 0; i < n; i++)
			memcpy(out + (got + i) * AUDIT_HASH_LEN, p + i * AUDIT_ENTRY_LEN + AUDIT_ENTRY_LEAF,
				   AUDIT_HASH_LEN);
		got += n;
	}
	SPI_freetuptable(SPI_tuptable);
	if (got != count)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit ledger's blocks do not hold the leaves of positions %lld to %lld",
						(long long) start + 1, (long long) (start + count)),
				 errhint("verify_audit_chain() names the damaged block.")));
}

/* the stored node (level, index) into out; false if it is not stored */
static bool
stored_node(int level, int64 index, uint8 *out)
{
	Oid			types[2] = {INT2OID, INT8OID};
	Datum		vals[2] = {Int16GetDatum(level), Int64GetDatum(index)};
	bool		found = false;

	if (SPI_execute_with_args("SELECT t.hash FROM steward.audit_tree t"
							  " WHERE t.level OPERATOR(pg_catalog.=) $1 AND t.idx OPERATOR(pg_catalog.=) $2",
							  2, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the ledger tree");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && VARSIZE_ANY_EXHDR(DatumGetByteaPP(d)) == AUDIT_HASH_LEN)
		{
			memcpy(out, VARDATA_ANY(DatumGetByteaPP(d)), AUDIT_HASH_LEN);
			found = true;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/* log2 of a power of two */
static int
level_of(int64 n)
{
	int			l = 0;

	while (((int64) 1 << l) < n)
		l++;
	return l;
}

/*
 * MTH of leaves start .. start + n - 1 (n >= 1): a stored node when the
 * range is one, leaves when it is small, else RFC 9162's split.
 */
void
steward_audit_tree_subtree(int64 start, int64 n, uint8 *out)
{
	int64		k;
	uint8		left[AUDIT_HASH_LEN];
	uint8		right[AUDIT_HASH_LEN];

	CHECK_FOR_INTERRUPTS();
	if (n >= TILE && (n & (n - 1)) == 0 && start % n == 0 && stored_node(level_of(n), start / n, out))
		return;
	if (n <= TILE)
	{
		uint8	   *leaves = palloc(n * AUDIT_HASH_LEN);

		steward_audit_tree_read_leaves(start, n, leaves);
		steward_audit_merkle_root(leaves, n, out);
		pfree(leaves);
		return;
	}
	k = steward_audit_tree_split(n);
	steward_audit_tree_subtree(start, k, left);
	steward_audit_tree_subtree(start + k, n - k, right);
	steward_merkle_node(left, right, out);
}

/* the root of the tree of size n (H("") for 0) */
void
steward_audit_tree_root(int64 n, uint8 *out)
{
	if (n <= 0)
		steward_sha256("", 0, out);
	else
		steward_audit_tree_subtree(0, n, out);
}

/* the number of stored nodes of level AUDIT_TREE_TILE_LEVEL */
static int64
stored_tiles(void)
{
	bool		isnull;
	Datum		d;
	int64		n;

	if (SPI_execute("SELECT pg_catalog.max(t.idx) FROM steward.audit_tree t"
					" WHERE t.level OPERATOR(pg_catalog.=) " CppAsString2(AUDIT_TREE_TILE_LEVEL),
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the ledger tree");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	n = isnull ? 0 : DatumGetInt64(d) + 1;
	SPI_freetuptable(SPI_tuptable);
	return n;
}

static void
insert_node(SPIPlanPtr plan, int level, int64 index, const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + AUDIT_HASH_LEN);
	Datum		vals[3];

	SET_VARSIZE(b, VARHDRSZ + AUDIT_HASH_LEN);
	memcpy(VARDATA(b), hash, AUDIT_HASH_LEN);
	vals[0] = Int16GetDatum(level);
	vals[1] = Int64GetDatum(index);
	vals[2] = PointerGetDatum(b);
	if (SPI_execute_plan(plan, vals, NULL, false, 0) < 0)
		elog(ERROR, "could not write node (%d, %lld) of the ledger tree", level, (long long) index);
	pfree(b);
}

/*
 * Store the nodes of level AUDIT_TREE_TILE_LEVEL and up that the sealed
 * leaves complete and the tree does not have yet: each tile from its 256
 * leaves, each node above from its two children as the right one is
 * stored.  size is the number of sealed leaves (negative: read it).
 * Memory: one read of at most READ_LEAVES_MAX leaves, in a context reset
 * per read.
 */
void
steward_audit_tree_extend(int64 size)
{
	uint8		frontier[64][AUDIT_HASH_LEN];
	int64		have;
	int64		tiles;
	int64		pos;
	Oid			types[3] = {INT2OID, INT8OID, BYTEAOID};
	SPIPlanPtr	plan;
	MemoryContext cxt;
	MemoryContext old;

	if (size < 0)
		size = steward_audit_tree_sealed_size();
	tiles = size / TILE;
	have = stored_tiles();
	if (have >= tiles)
		return;

	/* a stored node whose right sibling is not stored yet waits at its level */
	for (int level = AUDIT_TREE_TILE_LEVEL; (have >> (level - AUDIT_TREE_TILE_LEVEL)) > 0; level++)
	{
		int64		c = have >> (level - AUDIT_TREE_TILE_LEVEL);

		if (c & 1)
			steward_audit_tree_subtree((c - 1) << level, (int64) 1 << level, frontier[level]);
	}

	/* a node stored already (a concurrent build, a gap refilled) stays as it is */
	plan = SPI_prepare("INSERT INTO steward.audit_tree (level, idx, hash) VALUES ($1, $2, $3)"
					   " ON CONFLICT (level, idx) DO NOTHING", 3, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the insert of a ledger tree node");
	cxt = AllocSetContextCreate(CurrentMemoryContext, "ledger tree leaves", ALLOCSET_DEFAULT_SIZES);
	/* SPI switches contexts on every call: allocate in cxt by name */
	old = MemoryContextSwitchTo(cxt);
	for (pos = have * TILE; pos < tiles * TILE;)
	{
		int64		m = Min(tiles * TILE - pos, READ_LEAVES_MAX);
		uint8	   *leaves = MemoryContextAlloc(cxt, m * AUDIT_HASH_LEN);

		steward_audit_tree_read_leaves(pos, m, leaves);
		for (int64 j = 0; j < m / TILE; j++)
		{
			int64		index = pos / TILE + j;
			int			level = AUDIT_TREE_TILE_LEVEL;
			uint8		h[AUDIT_HASH_LEN];

			CHECK_FOR_INTERRUPTS();
			steward_audit_merkle_root(leaves + j * TILE * AUDIT_HASH_LEN, TILE, h);
			insert_node(plan, level, index, h);
			while (index & 1)
			{
				steward_merkle_node(frontier[level], h, h);
				level++;
				index >>= 1;
				insert_node(plan, level, index, h);
			}
			memcpy(frontier[level], h, AUDIT_HASH_LEN);
		}
		pos += m;
		MemoryContextReset(cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	SPI_freeplan(plan);
}
