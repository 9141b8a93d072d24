/*-------------------------------------------------------------------------
 *
 * tree.c
 *	  The client's hashing: SHA-256 with a prefix byte (leaf = H(0x00 ‖
 *	  event bytes), …) and the ledger tree's root computed while its
 *	  leaves stream by (a stack of the roots of complete subtrees, O(log n)
 *	  hashes), as docs/audit.md ("Hashes", "The ledger tree") specifies.
 *
 * SHA-256, the Merkle Tree Hash of n leaves, nodes, and RFC 9162's
 * verification of audit paths and consistency proofs are the server's own
 * code (src/common/sha256.c and merkle.c, compiled into the client too):
 * the CPU's SHA extensions when it has them, no allocation and no lock
 * per hash, and one implementation of each rule for both.
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

/* node = H(0x01 ‖ left ‖ right); out may be left or right (common/merkle.c) */
void
tree_node(const uint8 *left, const uint8 *right, uint8 *out)
{
	steward_merkle_node(left, right, out);
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
 * The height of the largest subtree that the next leaves can form: aligned
 * at the tree's size (a multiple of its width), of at most left leaves, and
 * not reaching past the size stop.  0: a single leaf.
 */
int
tree_aligned_height(uint64 size, int64 left, uint64 stop)
{
	int			h = 0;

	while (h < 40 && (size & ((UINT64CONST(2) << h) - 1)) == 0 &&
		   (UINT64CONST(2) << h) <= (uint64) left && size + (UINT64CONST(2) << h) <= stop)
		h++;
	return h;
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
		steward_sha256("", 0, out);	/* H(""), no prefix */
		return;
	}
	memcpy(r, t->hash[t->depth - 1], TREE_HASH_LEN);
	for (int i = t->depth - 2; i >= 0; i--)
		tree_node(t->hash[i], r, r);
	memcpy(out, r, TREE_HASH_LEN);
}
