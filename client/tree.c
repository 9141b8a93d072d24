/*-------------------------------------------------------------------------
 *
 * tree.c
 *	  SHA-256 and the ledger's Merkle trees, as docs/audit.md ("Hashes",
 *	  "The ledger tree") specifies them: leaf = H(0x00 ‖ event bytes),
 *	  node = H(0x01 ‖ left ‖ right), the RFC 9162 Merkle Tree Hash of n
 *	  leaves, computed while the leaves stream by (a stack of the roots of
 *	  complete subtrees, O(log n) hashes), and RFC 9162's verification of
 *	  an audit path (§2.1.3.2) and of a consistency proof (§2.1.4.2).
 *
 * check-proof (check.c) and verify-export (verify_export.c) both hash
 * through this file only.  SHA-256 is the server's own code
 * (src/common/sha256.c, compiled into the client too): the CPU's SHA
 * extensions when it has them, no allocation and no lock per hash.
 *
 * client/tree.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

/* start a hash in h */
void
hasher_start(Hasher *h)
{
	steward_sha256_init(&h->ctx);
}

void
hasher_add(Hasher *h, const void *data, size_t len)
{
	if (len > 0)
		steward_sha256_update(&h->ctx, data, len);
}

void
hasher_end(Hasher *h, uint8 *out)
{
	steward_sha256_final(&h->ctx, out);
}

/* H(prefix ‖ a ‖ b); a failure of the hash exits (could not check) */
void
tree_sha256(uint8 prefix, const void *a, size_t alen, const void *b, size_t blen, uint8 *out)
{
	static Hasher h;

	hasher_start(&h);
	hasher_add(&h, &prefix, 1);
	hasher_add(&h, a, alen);
	hasher_add(&h, b, blen);
	hasher_end(&h, out);
}

/* node = H(0x01 ‖ left ‖ right); out may be left or right */
void
tree_node(const uint8 *left, const uint8 *right, uint8 *out)
{
	uint8		both[2 * TREE_HASH_LEN];

	memcpy(both, left, TREE_HASH_LEN);
	memcpy(both + TREE_HASH_LEN, right, TREE_HASH_LEN);
	tree_sha256(0x01, both, sizeof(both), NULL, 0, out);
}

/* --------------------------------------------------- the streaming tree */

void
tree_stack_init(TreeStack *t)
{
	t->size = 0;
	t->depth = 0;
}

/*
 * Append leaf number t->size.  The stack holds the roots of the complete
 * subtrees the leaves so far fall into, largest first: one per bit set in
 * the number of leaves, so two subtrees of equal size are joined at once.
 */
void
tree_stack_push(TreeStack *t, const uint8 *leaf)
{
	uint64		n = t->size;

	memcpy(t->hash[t->depth++], leaf, TREE_HASH_LEN);
	for (; n & 1; n >>= 1)
	{
		tree_node(t->hash[t->depth - 2], t->hash[t->depth - 1], t->hash[t->depth - 2]);
		t->depth--;
	}
	t->size++;
}

/*
 * Push the root of a complete subtree of 2^height leaves; the tree's size
 * is a multiple of 2^height (the subtree is aligned).
 */
void
tree_stack_push_subtree(TreeStack *t, const uint8 *root, int height)
{
	uint64		n = t->size >> height;

	Assert((t->size & ((UINT64CONST(1) << height) - 1)) == 0);
	memcpy(t->hash[t->depth++], root, TREE_HASH_LEN);
	for (; n & 1; n >>= 1)
	{
		tree_node(t->hash[t->depth - 2], t->hash[t->depth - 1], t->hash[t->depth - 2]);
		t->depth--;
	}
	t->size += UINT64CONST(1) << height;
}

/* two nodes at once: out_a = node(a ‖ a + 32), out_b = node(b ‖ b + 32) */
static void
node_pair(const uint8 *a, uint8 *out_a, const uint8 *b, uint8 *out_b)
{
	uint8		ma[1 + 2 * TREE_HASH_LEN];
	uint8		mb[1 + 2 * TREE_HASH_LEN];

	ma[0] = mb[0] = 0x01;
	memcpy(ma + 1, a, 2 * TREE_HASH_LEN);
	memcpy(mb + 1, b, 2 * TREE_HASH_LEN);
	steward_sha256_pair(ma, sizeof(ma), out_a, mb, sizeof(mb), out_b);
}

/*
 * The Merkle Tree Hash of n leaves, each TREE_HASH_LEN bytes at leaves +
 * i * stride, computed level by level: the nodes of a level do not depend
 * on each other, so they are hashed two at a time.  The odd node at the
 * end of a level moves up unchanged, which is RFC 9162's split at the
 * largest power of two below n.  scratch holds (n + 1) / 2 hashes.
 */
void
tree_root_of(const uint8 *leaves, size_t stride, int64 n, uint8 *scratch, uint8 *out)
{
	int64		width = n;
	const uint8 *level = leaves;
	size_t		step = stride;

	if (n == 0)
	{
		steward_sha256("", 0, out);	/* H(""), no prefix */
		return;
	}
	while (width > 1)
	{
		int64		pairs = width / 2;
		int64		i = 0;
		uint8		both[2][2 * TREE_HASH_LEN];

		for (; i + 1 < pairs; i += 2)
		{
			memcpy(both[0], level + 2 * i * step, TREE_HASH_LEN);
			memcpy(both[0] + TREE_HASH_LEN, level + (2 * i + 1) * step, TREE_HASH_LEN);
			memcpy(both[1], level + (2 * i + 2) * step, TREE_HASH_LEN);
			memcpy(both[1] + TREE_HASH_LEN, level + (2 * i + 3) * step, TREE_HASH_LEN);
			node_pair(both[0], scratch + i * TREE_HASH_LEN, both[1], scratch + (i + 1) * TREE_HASH_LEN);
		}
		if (i < pairs)
			tree_node(level + 2 * i * step, level + (2 * i + 1) * step, scratch + i * TREE_HASH_LEN);
		if (width % 2 == 1)
			memmove(scratch + pairs * TREE_HASH_LEN, level + (width - 1) * step, TREE_HASH_LEN);
		width = pairs + width % 2;
		level = scratch;
		step = TREE_HASH_LEN;
	}
	memcpy(out, level, TREE_HASH_LEN);
}

/*
 * The Merkle Tree Hash of the leaves pushed so far: the subtrees joined
 * from the smallest, which is RFC 9162's split at the largest power of
 * two below n, applied again to the rest; H("") for none.
 */
void
tree_stack_root(const TreeStack *t, uint8 *out)
{
	uint8		r[TREE_HASH_LEN];

	if (t->depth == 0)
	{
		static Hasher h;

		/* H(""): the hash of nothing at all, no prefix */
		hasher_start(&h);
		hasher_end(&h, out);
		return;
	}
	memcpy(r, t->hash[t->depth - 1], TREE_HASH_LEN);
	for (int i = t->depth - 2; i >= 0; i--)
		tree_node(t->hash[i], r, r);
	memcpy(out, r, TREE_HASH_LEN);
}

/* ------------------------------------------------------------- proofs */

/*
 * RFC 9162 §2.1.3.2: does the audit path of n hashes lead from leaf (index
 * fn of a tree of size) to root?
 */
bool
tree_path_leads_to(int64 index, int64 size, const uint8 *leaf, const uint8 *path, int n,
				   const uint8 *root)
{
	uint64		fn = index;
	uint64		sn = size - 1;
	uint8		r[TREE_HASH_LEN];

	if (index >= size)
		return false;
	memcpy(r, leaf, TREE_HASH_LEN);
	for (int i = 0; i < n; i++)
	{
		const uint8 *p = path + i * TREE_HASH_LEN;

		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			tree_node(p, r, r);
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else
			tree_node(r, p, r);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, TREE_HASH_LEN) == 0;
}

/*
 * RFC 9162 §2.1.4.2: does the proof (n hashes, room for one more) show
 * that the tree of old_size leaves and old_root extends to the tree of
 * new_size and new_root?  Sizes equal: the proof is empty and the roots
 * are equal; old size 0: the proof is empty.
 */
bool
tree_consistent(int64 old_size, const uint8 *old_root, int64 new_size, const uint8 *new_root,
				uint8 *proof, int n)
{
	uint64		fn;
	uint64		sn;
	uint8		fr[TREE_HASH_LEN];
	uint8		sr[TREE_HASH_LEN];

	if (old_size > new_size)
		return false;
	if (old_size == new_size)
		return n == 0 && memcmp(old_root, new_root, TREE_HASH_LEN) == 0;
	if (old_size == 0)
		return n == 0;
	/* an old size that is a power of two: its root comes first */
	if ((old_size & (old_size - 1)) == 0)
	{
		memmove(proof + TREE_HASH_LEN, proof, n * TREE_HASH_LEN);
		memcpy(proof, old_root, TREE_HASH_LEN);
		n++;
	}
	if (n == 0)
		return false;
	fn = old_size - 1;
	sn = new_size - 1;
	while (fn & 1)
	{
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, proof, TREE_HASH_LEN);
	memcpy(sr, proof, TREE_HASH_LEN);
	for (int i = 1; i < n; i++)
	{
		const uint8 *c = proof + i * TREE_HASH_LEN;

		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			tree_node(c, fr, fr);
			tree_node(c, sr, sr);
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else
			tree_node(sr, c, sr);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, old_root, TREE_HASH_LEN) == 0 &&
		memcmp(sr, new_root, TREE_HASH_LEN) == 0;
}
