/*-------------------------------------------------------------------------
 *
 * sha256.c
 *	  SHA-256 (FIPS 180-4) for the audit ledger's hashes.
 *
 * The ledger hashes a few short messages per event, millions of times when
 * it verifies.  Through pg_cryptohash each hash pays for an OpenSSL context
 * set-up (a provider lookup under locks) that costs more than hashing the
 * message itself, so the ledger hashes here: with the CPU's SHA extensions
 * (x86-64 SHA-NI) when it has them, else in portable C.  The pgTAP suite
 * checks both against PostgreSQL's own sha256() (steward.sha256_check,
 * checksum.c).  The command-line client compiles this file too (with
 * FRONTEND defined), so its offline checks hash with the same code.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "port/pg_bswap.h"

#include "common/sha256.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_SHA_NI_CODE 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32 K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

static const uint32 H0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
};

typedef void (*blocks_fn) (uint32 *state, const uint8 *data, size_t nblocks);

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
blocks_portable(uint32 *state, const uint8 *data, size_t nblocks)
{
	for (; nblocks > 0; nblocks--, data += 64)
	{
		uint32		w[64];
		uint32		a = state[0],
					b = state[1],
					c = state[2],
					d = state[3],
					e = state[4],
					f = state[5],
					g = state[6],
					h = state[7];

		for (int t = 0; t < 16; t++)
			w[t] = (uint32) data[t * 4] << 24 | (uint32) data[t * 4 + 1] << 16 |
				(uint32) data[t * 4 + 2] << 8 | (uint32) data[t * 4 + 3];
		for (int t = 16; t < 64; t++)
		{
			uint32		s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
			uint32		s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);

			w[t] = w[t - 16] + s0 + w[t - 7] + s1;
		}
		for (int t = 0; t < 64; t++)
		{
			uint32		S1 = ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25);
			uint32		ch = (e & f) ^ (~e & g);
			uint32		t1 = h + S1 + ch + K[t] + w[t];
			uint32		S0 = ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22);
			uint32		maj = (a & b) ^ (a & c) ^ (b & c);
			uint32		t2 = S0 + maj;

			h = g;
			g = f;
			f = e;
			e = d + t1;
			d = c;
			c = b;
			b = a;
			a = t1 + t2;
		}
		state[0] += a;
		state[1] += b;
		state[2] += c;
		state[3] += d;
		state[4] += e;
		state[5] += f;
		state[6] += g;
		state[7] += h;
	}
}

#ifdef HAVE_SHA_NI_CODE
/*
 * The same compression with the SHA extensions: the state is kept as the
 * two vectors ABEF and CDGH that sha256rnds2 works on; every group of four
 * rounds adds four message words plus constants, and the message schedule
 * comes from sha256msg1/sha256msg2.
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void
blocks_sha_ni(uint32 *state, const uint8 *data, size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i		tmp = _mm_loadu_si128((const __m128i *) &state[0]);
	__m128i		st1 = _mm_loadu_si128((const __m128i *) &state[4]);
	__m128i		st0;

	tmp = _mm_shuffle_epi32(tmp, 0xB1); /* CDAB */
	st1 = _mm_shuffle_epi32(st1, 0x1B); /* EFGH */
	st0 = _mm_alignr_epi8(tmp, st1, 8); /* ABEF */
	st1 = _mm_blend_epi16(st1, tmp, 0xF0);	/* CDGH */

	for (; nblocks > 0; nblocks--, data += 64)
	{
		__m128i		save0 = st0;
		__m128i		save1 = st1;
		__m128i		w[16];

		for (int g = 0; g < 16; g++)
		{
			__m128i		msg;

			if (g < 4)
				w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (data + g * 16)), bswap);
			else
			{
				__m128i		x = _mm_sha256msg1_epu32(w[g - 4], w[g - 3]);

				x = _mm_add_epi32(x, _mm_alignr_epi8(w[g - 1], w[g - 2], 4));
				w[g] = _mm_sha256msg2_epu32(x, w[g - 1]);
			}
			msg = _mm_add_epi32(w[g], _mm_loadu_si128((const __m128i *) &K[g * 4]));
			st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
			msg = _mm_shuffle_epi32(msg, 0x0E);
			st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
		}
		st0 = _mm_add_epi32(st0, save0);
		st1 = _mm_add_epi32(st1, save1);
	}

	tmp = _mm_shuffle_epi32(st0, 0x1B); /* FEBA */
	st1 = _mm_shuffle_epi32(st1, 0xB1); /* DCHG */
	st0 = _mm_blend_epi16(tmp, st1, 0xF0);	/* DCBA */
	st1 = _mm_alignr_epi8(st1, tmp, 8); /* HGFE */
	_mm_storeu_si128((__m128i *) &state[0], st0);
	_mm_storeu_si128((__m128i *) &state[4], st1);
}

/*
 * One block of each of two independent messages, their rounds interleaved:
 * each round of one waits for the round before it, so two chains keep the
 * SHA unit busier than one.
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void
block_sha_ni_x2(uint32 *state_a, const uint8 *data_a, uint32 *state_b, const uint8 *data_b)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i		a0,
				a1,
				b0,
				b1,
				tmp,
				save_a0,
				save_a1,
				save_b0,
				save_b1;
	__m128i		wa[16],
				wb[16];

	tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &state_a[0]), 0xB1);
	a1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &state_a[4]), 0x1B);
	a0 = _mm_alignr_epi8(tmp, a1, 8);
	a1 = _mm_blend_epi16(a1, tmp, 0xF0);
	tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &state_b[0]), 0xB1);
	b1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &state_b[4]), 0x1B);
	b0 = _mm_alignr_epi8(tmp, b1, 8);
	b1 = _mm_blend_epi16(b1, tmp, 0xF0);
	save_a0 = a0;
	save_a1 = a1;
	save_b0 = b0;
	save_b1 = b1;

	for (int g = 0; g < 16; g++)
	{
		__m128i		k = _mm_loadu_si128((const __m128i *) &K[g * 4]);
		__m128i		ma,
					mb;

		if (g < 4)
		{
			wa[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (data_a + g * 16)), bswap);
			wb[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (data_b + g * 16)), bswap);
		}
		else
		{
			__m128i		xa = _mm_sha256msg1_epu32(wa[g - 4], wa[g - 3]);
			__m128i		xb = _mm_sha256msg1_epu32(wb[g - 4], wb[g - 3]);

			xa = _mm_add_epi32(xa, _mm_alignr_epi8(wa[g - 1], wa[g - 2], 4));
			xb = _mm_add_epi32(xb, _mm_alignr_epi8(wb[g - 1], wb[g - 2], 4));
			wa[g] = _mm_sha256msg2_epu32(xa, wa[g - 1]);
			wb[g] = _mm_sha256msg2_epu32(xb, wb[g - 1]);
		}
		ma = _mm_add_epi32(wa[g], k);
		mb = _mm_add_epi32(wb[g], k);
		a1 = _mm_sha256rnds2_epu32(a1, a0, ma);
		b1 = _mm_sha256rnds2_epu32(b1, b0, mb);
		ma = _mm_shuffle_epi32(ma, 0x0E);
		mb = _mm_shuffle_epi32(mb, 0x0E);
		a0 = _mm_sha256rnds2_epu32(a0, a1, ma);
		b0 = _mm_sha256rnds2_epu32(b0, b1, mb);
	}
	a0 = _mm_add_epi32(a0, save_a0);
	a1 = _mm_add_epi32(a1, save_a1);
	b0 = _mm_add_epi32(b0, save_b0);
	b1 = _mm_add_epi32(b1, save_b1);

	tmp = _mm_shuffle_epi32(a0, 0x1B);
	a1 = _mm_shuffle_epi32(a1, 0xB1);
	_mm_storeu_si128((__m128i *) &state_a[0], _mm_blend_epi16(tmp, a1, 0xF0));
	_mm_storeu_si128((__m128i *) &state_a[4], _mm_alignr_epi8(a1, tmp, 8));
	tmp = _mm_shuffle_epi32(b0, 0x1B);
	b1 = _mm_shuffle_epi32(b1, 0xB1);
	_mm_storeu_si128((__m128i *) &state_b[0], _mm_blend_epi16(tmp, b1, 0xF0));
	_mm_storeu_si128((__m128i *) &state_b[4], _mm_alignr_epi8(b1, tmp, 8));
}

static bool
cpu_has_sha_ni(void)
{
	unsigned int a,
				b,
				c,
				d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return (b & (1u << 29)) != 0;
}
#endif

static blocks_fn
choose_blocks(bool portable)
{
#ifdef HAVE_SHA_NI_CODE
	if (!portable && cpu_has_sha_ni())
		return blocks_sha_ni;
#endif
	return blocks_portable;
}

/*
 * Incremental hashing: init, any number of updates, final.  Lets a caller
 * hash a prefix and a large buffer without copying them together.
 */
static void
sha256_begin(StewardSha256 *ctx, blocks_fn blocks)
{
	memcpy(ctx->state, H0, sizeof(ctx->state));
	ctx->blocks = blocks;
	ctx->len = 0;
	ctx->buffered = 0;
}

void
steward_sha256_update(StewardSha256 *ctx, const void *data, size_t len)
{
	blocks_fn	blocks = ctx->blocks;
	const uint8 *p = (const uint8 *) data;

	ctx->len += len;
	if (ctx->buffered > 0)
	{
		size_t		take = Min(len, 64 - ctx->buffered);

		memcpy(ctx->buf + ctx->buffered, p, take);
		ctx->buffered += take;
		p += take;
		len -= take;
		if (ctx->buffered < 64)
			return;
		blocks(ctx->state, ctx->buf, 1);
		ctx->buffered = 0;
	}
	if (len >= 64)
	{
		blocks(ctx->state, p, len / 64);
		p += len - len % 64;
		len %= 64;
	}
	memcpy(ctx->buf, p, len);
	ctx->buffered = len;
}

void
steward_sha256_final(StewardSha256 *ctx, uint8 *out)
{
	blocks_fn	blocks = ctx->blocks;
	uint8		tail[128];
	size_t		tail_len;
	uint64		bits = ctx->len * 8;

	memset(tail, 0, sizeof(tail));
	memcpy(tail, ctx->buf, ctx->buffered);
	tail[ctx->buffered] = 0x80;
	tail_len = (ctx->buffered < 56) ? 64 : 128;
	for (int i = 0; i < 8; i++)
		tail[tail_len - 1 - i] = (uint8) (bits >> (8 * i));
	blocks(ctx->state, tail, tail_len / 64);

	for (int i = 0; i < 8; i++)
	{
		out[i * 4] = (uint8) (ctx->state[i] >> 24);
		out[i * 4 + 1] = (uint8) (ctx->state[i] >> 16);
		out[i * 4 + 2] = (uint8) (ctx->state[i] >> 8);
		out[i * 4 + 3] = (uint8) ctx->state[i];
	}
}

void
steward_sha256_init(StewardSha256 *ctx)
{
	static blocks_fn blocks = NULL;

	if (blocks == NULL)
		blocks = choose_blocks(false);
	sha256_begin(ctx, blocks);
}

/* init, choosing the portable code whatever the CPU has (for tests) */
void
steward_sha256_init_portable(StewardSha256 *ctx, bool portable)
{
	sha256_begin(ctx, choose_blocks(portable));
}

/* a message cut into its blocks: the whole ones, then the padded tail */
typedef struct Padded
{
	const uint8 *data;
	size_t		nwhole;
	size_t		nblocks;
	uint32		state[8];
	uint8		tail[128] pg_attribute_aligned(16);
} Padded;

static inline void
pad(Padded *m, const void *data, size_t len)
{
	size_t		rest = len % 64;
	uint64		bits = pg_hton64((uint64) len * 8);

	m->data = (const uint8 *) data;
	m->nwhole = len / 64;
	memcpy(m->state, H0, sizeof(m->state));
	/* whole-size stores the compiler can keep in registers, then the bytes */
	if (rest < 56)
	{
		memset(m->tail, 0, 64);
		memcpy(m->tail + 56, &bits, 8);
		m->nblocks = m->nwhole + 1;
	}
	else
	{
		memset(m->tail, 0, 128);
		memcpy(m->tail + 120, &bits, 8);
		m->nblocks = m->nwhole + 2;
	}
	memcpy(m->tail, m->data + m->nwhole * 64, rest);
	m->tail[rest] = 0x80;
}

static inline const uint8 *
block_of(const Padded *m, size_t i)
{
	return i < m->nwhole ? m->data + i * 64 : m->tail + (i - m->nwhole) * 64;
}

static void
digest_out(const uint32 *state, uint8 *out)
{
	for (int i = 0; i < 8; i++)
	{
		uint32		be = pg_hton32(state[i]);

		memcpy(out + i * 4, &be, 4);
	}
}

/*
 * SHA-256 of two messages into out1 and out2, computed side by side
 * (with the SHA extensions, two blocks at a time: about twice as fast as
 * one after the other).
 */
void
steward_sha256_pair(const void *data1, size_t len1, uint8 *out1,
					const void *data2, size_t len2, uint8 *out2)
{
	static blocks_fn blocks = NULL;
	Padded		a;
	Padded		b;
	size_t		i = 0;

	if (blocks == NULL)
		blocks = choose_blocks(false);
	pad(&a, data1, len1);
	pad(&b, data2, len2);
#ifdef HAVE_SHA_NI_CODE
	if (blocks == blocks_sha_ni)
		for (; i < a.nblocks && i < b.nblocks; i++)
			block_sha_ni_x2(a.state, block_of(&a, i), b.state, block_of(&b, i));
#endif
	for (size_t j = i; j < a.nblocks; j++)
		blocks(a.state, block_of(&a, j), 1);
	for (size_t j = i; j < b.nblocks; j++)
		blocks(b.state, block_of(&b, j), 1);
	digest_out(a.state, out1);
	digest_out(b.state, out2);
}

/*
 * SHA-256 of len bytes into out (32 bytes).
 */
void
steward_sha256(const void *data, size_t len, uint8 *out)
{
	StewardSha256 ctx;

	steward_sha256_init(&ctx);
	steward_sha256_update(&ctx, data, len);
	steward_sha256_final(&ctx, out);
}
