/*-------------------------------------------------------------------------
 *
 * checksum.c
 *	  SHA-256 hashing and the migration checksum.
 *
 * A checksum is "v1:sha256:" followed by 64 lower-case hex digits, the
 * SHA-256 of the migration SQL after normalization v1:
 *	  - a leading UTF-8 byte order mark is dropped;
 *	  - CR LF and lone CR become LF;
 *	  - trailing spaces, tabs, form feeds and vertical tabs are removed from
 *		every line;
 *	  - trailing empty lines are removed.
 * The "v1" prefix names the normalization, so a future v2 never
 * invalidates checksums stored under v1: a stored checksum is always
 * recomputed with the version it names.
 *
 * Hashing is steward_sha256() (sha256.c); steward.sha256_check(), here
 * too, lets the test suite compare that code with PostgreSQL's sha256().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/sha2.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "pg_steward.h"

#define CHECKSUM_PREFIX_V1 "v1:sha256:"

static inline bool
is_line_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/*
 * Normalization v1 (see the file header).  Returns a palloc'd string.
 */
char *
steward_normalize_sql(const char *sql)
{
	StringInfoData out;
	const char *p = sql;
	int			line_start;

	initStringInfo(&out);

	if ((unsigned char) p[0] == 0xEF && (unsigned char) p[1] == 0xBB &&
		(unsigned char) p[2] == 0xBF)
		p += 3;

	line_start = 0;
	for (; *p; p++)
	{
		char		c = *p;

		if (c == '\r' || c == '\n')
		{
			/* drop trailing white space of the line just ended */
			while (out.len > line_start && is_line_space(out.data[out.len - 1]))
				out.len--;
			appendStringInfoChar(&out, '\n');
			line_start = out.len;
			if (c == '\r' && p[1] == '\n')
				p++;
			continue;
		}
		appendStringInfoChar(&out, c);
	}

	/* trailing white space of the last line, then trailing empty lines */
	while (out.len > line_start && is_line_space(out.data[out.len - 1]))
		out.len--;
	while (out.len > 0 && out.data[out.len - 1] == '\n')
		out.len--;
	out.data[out.len] = '\0';

	return out.data;
}

/*
 * Lower-case hex SHA-256 of a byte string.
 */
char *
steward_sha256_hex(const char *data, size_t len)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex;
	static const char hexdigits[] = "0123456789abcdef";

	steward_sha256(data, len, digest);

	hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		hex[i * 2] = hexdigits[digest[i] >> 4];
		hex[i * 2 + 1] = hexdigits[digest[i] & 0x0F];
	}
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * The checksum of a migration's SQL, with its algorithm-version prefix.
 */
char *
steward_checksum(const char *sql)
{
	char	   *norm = steward_normalize_sql(sql);
	char	   *hex = steward_sha256_hex(norm, strlen(norm));

	return psprintf("%s%s", CHECKSUM_PREFIX_V1, hex);
}

PG_FUNCTION_INFO_V1(steward_migrate_checksum);

/*
 * migrate_checksum(sql text) returns text
 *
 * The checksum migrate_apply would store for this SQL; lets a deploy
 * pipeline compare files with the database without applying anything.
 */
Datum
steward_migrate_checksum(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sql must not be null")));

	PG_RETURN_TEXT_P(cstring_to_text(steward_checksum(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

PG_FUNCTION_INFO_V1(steward_sha256_check);

/*
 * steward.sha256_check(data bytea, portable boolean) returns bytea: the
 * hash as the ledger computes it (portable: without CPU extensions), for
 * the test suite to compare with sha256().
 */
Datum
steward_sha256_check(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	bytea	   *result = palloc(VARHDRSZ + STEWARD_SHA256_LEN);
	const char *data = VARDATA_ANY(in);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	StewardSha256 ctx;

	SET_VARSIZE(result, VARHDRSZ + STEWARD_SHA256_LEN);
	steward_sha256_init_portable(&ctx, PG_GETARG_BOOL(1));
	/* in three parts, so that the buffering between updates is tested too */
	steward_sha256_update(&ctx, data, len / 3);
	steward_sha256_update(&ctx, data + len / 3, len / 3);
	steward_sha256_update(&ctx, data + 2 * (len / 3), len - 2 * (len / 3));
	steward_sha256_final(&ctx, (uint8 *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}
