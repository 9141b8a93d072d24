/*-------------------------------------------------------------------------
 *
 * merkle.h
 *	  The ledger's Merkle trees (RFC 9162 §2.1: node = H(0x01 ‖ left ‖
 *	  right), the Merkle Tree Hash of n leaves) and the verification of an
 *	  audit path and of a consistency proof, shared by the server and the
 *	  command-line client (which compiles merkle.c with FRONTEND defined):
 *	  what one builds, the other checks with the same code.
 *
 * src/common/merkle.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_MERKLE_H
#define STEWARD_MERKLE_H

#define STEWARD_MERKLE_HASH_LEN 32

extern void steward_merkle_node(const uint8 *left, const uint8 *right, uint8 *out);
extern void steward_merkle_root(const uint8 *leaves, size_t stride, int64 n, uint8 *scratch,
								uint8 *out);
extern bool steward_merkle_inclusion_holds(int64 index, int64 size, const uint8 *leaf,
										   const uint8 *path, int npath, const uint8 *root);
extern bool steward_merkle_consistency_holds(int64 old_size, const uint8 *old_root,
											 int64 new_size, const uint8 *new_root,
											 const uint8 *proof, int nproof);

#endif							/* STEWARD_MERKLE_H */
