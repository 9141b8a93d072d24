/*-------------------------------------------------------------------------
 *
 * merkle.c
 *	  The ledger's Merkle trees, as docs/audit.md ("Hashes", "The ledger
 *	  tree") specifies them after RFC 9162 §2.1: a node is H(0x01 ‖ left ‖
 *	  right); the Merkle Tree Hash (MTH) of n leaves splits them at the
 *	  largest power of two below n; H("") for none.  Also RFC 9162's
 *	  verification of an audit path (§2.1.3.2) and of a consistency proof
 *	  (§2.1.4.2).
 *
 * The server builds blocks, tree nodes, receipts and proofs with this
 * code and checks every receipt and proof with it before returning it;
 * the command-line client compiles this file too (FRONTEND defined) and
 * checks exports, receipts and proofs with it, so there is one
 * implementation of each rule.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"

#include "miscadmin.h"
#endif

#include "common/merkle.h"
#include "common/sha256.h"

#define HASH_LEN STEWARD_MERKLE_HASH_LEN

static inline void
node_message(uint8 *msg, const uint8 *left, const uint8 *right)
{
	msg[0] = 0x01;
	memcpy(msg + 1, left, HASH_LEN);
	memcpy(msg + 1 + HASH_LEN, right, HASH_LEN);
}

/* node = H(0x01 ‖ left ‖ right); out may be left or right */
void
steward_merkle_node(const uint8 *left, const uint8 *right, uint8 *out)
{
	uint8		m[1 + 2 * HASH_LEN];

	node_message(m, left, right);
	steward_sha256(m, sizeof(m), out);
}

/*
 * MTH of n leaves, HASH_LEN bytes each at leaves + i * stride (so that
 * the leaves inside 56-byte entries need no copy).  Built level by level
 * from the bottom, pairing neighbours and carrying an odd last node up
 * unchanged, which gives RFC 9162's split (every left subtree complete);
 * the nodes of a level do not depend on each other, so they are hashed two
 * at a time.  Each level is written over the one before it in scratch,
 * which holds (n + 1) / 2 hashes and is never read ahead of where it is
 * written.
 */
void
steward_merkle_root(const uint8 *leaves, size_t stride, int64 n, uint8 *scratch, uint8 *out)
{
	const uint8 *cur = leaves;
	size_t		cur_stride = stride;

	if (n <= 0)
	{
		steward_sha256("", 0, out);
		return;
	}
	while (n > 1)
	{
		int64		pairs = n / 2;

		for (int64 j = 0; j < pairs; j += 2)
		{
			uint8		m1[1 + 2 * HASH_LEN];
			uint8		m2[1 + 2 * HASH_LEN];

#ifndef FRONTEND
			if ((j & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
#endif
			node_message(m1, cur + 2 * j * cur_stride, cur + (2 * j + 1) * cur_stride);
			if (j + 1 < pairs)
			{
				node_message(m2, cur + (2 * j + 2) * cur_stride, cur + (2 * j + 3) * cur_stride);
				steward_sha256_pair(m1, sizeof(m1), scratch + j * HASH_LEN,
									m2, sizeof(m2), scratch + (j + 1) * HASH_LEN);
			}
			else
				steward_sha256(m1, sizeof(m1), scratch + j * HASH_LEN);
		}
		if (n % 2 == 1)
			memmove(scratch + pairs * HASH_LEN, cur + (n - 1) * cur_stride, HASH_LEN);
		n = pairs + n % 2;
		cur = scratch;
		cur_stride = HASH_LEN;
	}
	memmove(out, cur, HASH_LEN);
}

/*
 * RFC 9162 §2.1.3.2: does the audit path of npath hashes lead from the
 * leaf at index of a tree of size leaves to root?
 */
bool
steward_merkle_inclusion_holds(int64 index, int64 size, const uint8 *leaf,
							   const uint8 *path, int npath, const uint8 *root)
{
	uint64		fn = (uint64) index;
	uint64		sn = (uint64) size - 1;
	uint8		r[HASH_LEN];

	if (index < 0 || index >= size)
		return false;
	memcpy(r, leaf, HASH_LEN);
	for (int i = 0; i < npath; i++)
	{
		const uint8 *p = path + i * HASH_LEN;

		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			steward_merkle_node(p, r, r);
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else
			steward_merkle_node(r, p, r);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, HASH_LEN) == 0;
}

/*
 * RFC 9162 §2.1.4.2: does the proof of nproof hashes show that the tree of
 * old_size leaves with old_root extends to the tree of new_size leaves
 * with new_root?  Equal sizes: the proof is empty and the roots are equal;
 * old size 0: the proof is empty (every tree extends the empty one).
 */
bool
steward_merkle_consistency_holds(int64 old_size, const uint8 *old_root,
								 int64 new_size, const uint8 *new_root,
								 const uint8 *proof, int nproof)
{
	int			i = 0;
	uint64		fn;
	uint64		sn;
	uint8		fr[HASH_LEN];
	uint8		sr[HASH_LEN];

	if (old_size < 0 || old_size > new_size)
		return false;
	if (old_size == new_size)
		return nproof == 0 && memcmp(old_root, new_root, HASH_LEN) == 0;
	if (old_size == 0)
		return nproof == 0;
	/* an old tree of a power of two leaves is a node of the new one: its root starts */
	if ((old_size & (old_size - 1)) == 0)
		memcpy(fr, old_root, HASH_LEN);
	else
	{
		if (nproof == 0)
			return false;
		memcpy(fr, proof, HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, HASH_LEN);
	fn = (uint64) old_size - 1;
	sn = (uint64) new_size - 1;
	while (fn & 1)
	{
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < nproof; i++)
	{
		const uint8 *c = proof + i * HASH_LEN;

		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			steward_merkle_node(c, fr, fr);
			steward_merkle_node(c, sr, sr);
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else
			steward_merkle_node(sr, c, sr);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, old_root, HASH_LEN) == 0 &&
		memcmp(sr, new_root, HASH_LEN) == 0;
}
