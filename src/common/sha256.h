/*-------------------------------------------------------------------------
 *
 * sha256.h
 *	  SHA-256 (FIPS 180-4) as the ledger computes it, shared by the server
 *	  (pg_steward.so) and the command-line client, which compiles
 *	  sha256.c with FRONTEND defined: one implementation of the hash that
 *	  every ledger check depends on.
 *
 * src/common/sha256.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_SHA256_H
#define STEWARD_SHA256_H

#define STEWARD_SHA256_LEN 32

/* an incremental hash: init, any number of updates, final */
typedef struct StewardSha256
{
	uint32		state[8];
	void		(*blocks) (uint32 *state, const uint8 *data, size_t nblocks);
	uint64		len;			/* bytes hashed so far */
	uint8		buf[64];		/* a partial block */
	size_t		buffered;
} StewardSha256;

extern void steward_sha256(const void *data, size_t len, uint8 *out);
extern void steward_sha256_init(StewardSha256 *ctx);
extern void steward_sha256_init_portable(StewardSha256 *ctx, bool portable);
extern void steward_sha256_update(StewardSha256 *ctx, const void *data, size_t len);
extern void steward_sha256_final(StewardSha256 *ctx, uint8 *out);
extern void steward_sha256_pair(const void *data1, size_t len1, uint8 *out1,
								const void *data2, size_t len2, uint8 *out2);

#endif							/* STEWARD_SHA256_H */
