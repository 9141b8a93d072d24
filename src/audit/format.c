/*-------------------------------------------------------------------------
 *
 * format.c
 *	  The ledger's byte format, version 1, and the hashes built on it.
 *
 * Event bytes (what audit_event_bytes(id) returns):
 *	  "PSE" 0x01                      magic and format version
 *	  then 13 fields in this order, each one of
 *		0x00                          SQL NULL
 *		0x01 int64                    8 bytes, big-endian, two's complement
 *		0x02 uint32 len, len bytes    text, UTF-8
 *		0x03 uint32 len, len bytes    bytes
 *	  id (int64), xid (int64, the 64-bit xid8), event_time (int64
 *	  microseconds since 1970-01-01 00:00 UTC), event_type, action,
 *	  resource_type, resource_id, actor, session_user_name,
 *	  current_user_name, client_addr (text: inet's output, e.g. 10.0.0.7
 *	  or 10.0.0.0/8), application_name (texts), commitment (bytes).
 *
 * Hashes (SHA-256; domain bytes keep the kinds apart, as RFC 6962 does):
 *	  commitment = H(0x02 || salt (16 bytes) || payload)  payload: the jsonb's
 *				   text output, UTF-8 (jsonb orders keys itself, so the text
 *				   of a stored jsonb never changes)
 *	  leaf       = H(0x00 || event bytes)
 *	  node       = H(0x01 || left || right)   RFC 6962 Merkle tree hash;
 *				   the root of no leaves is H("")
 *	  block hash = H(0x03 || "PSB" 0x01 || block_id || first_position ||
 *				   event_count || sealed_at (int64 microseconds since 1970
 *				   UTC) || merkle_root || previous block hash)
 *				   with 32 zero bytes before the first block.
 *
 * The SQL functions steward.audit_event_encode and steward.audit_event_check
 * take an event's columns (AUDIT_EVENT_COLUMNS order); the second also
 * checks the payload against its commitment.  Both are parallel safe, so
 * verification can compute leaves in parallel workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/sha2.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pg_steward.h"
#include "audit/audit.h"

#define TAG_NULL	0x00
#define TAG_INT64	0x01
#define TAG_TEXT	0x02
#define TAG_BYTES	0x03

#define DOMAIN_LEAF			0x00
#define DOMAIN_NODE			0x01
#define DOMAIN_COMMITMENT	0x02
#define DOMAIN_BLOCK		0x03

#define UNIX_EPOCH_SHIFT_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC)

int64
steward_audit_unix_micros(TimestampTz t)
{
	return (int64) t + UNIX_EPOCH_SHIFT_US;
}

TimestampTz
steward_audit_from_unix_micros(int64 us)
{
	return (TimestampTz) (us - UNIX_EPOCH_SHIFT_US);
}

void
steward_audit_put_int64(uint8 *p, int64 v)
{
	uint64		u = (uint64) v;

	for (int i = 7; i >= 0; i--)
	{
		p[i] = (uint8) (u & 0xFF);
		u >>= 8;
	}
}

int64
steward_audit_get_int64(const uint8 *p)
{
	uint64		u = 0;

	for (int i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64) u;
}

char *
steward_audit_hex(const uint8 *bytes, int len)
{
	static const char digits[] = "0123456789abcdef";
	char	   *hex = palloc(len * 2 + 1);

	for (int i = 0; i < len; i++)
	{
		hex[i * 2] = digits[bytes[i] >> 4];
		hex[i * 2 + 1] = digits[bytes[i] & 0x0F];
	}
	hex[len * 2] = '\0';
	return hex;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
steward_audit_unhex(const char *hex, uint8 *out, int len)
{
	if (hex == NULL || strlen(hex) != (size_t) len * 2)
		return false;
	for (int i = 0; i < len; i++)
	{
		int			hi = hexval(hex[i * 2]);
		int			lo = hexval(hex[i * 2 + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

static void
put_int64_field(StringInfo buf, int64 v)
{
	uint8		b[8];

	appendStringInfoChar(buf, TAG_INT64);
	steward_audit_put_int64(b, v);
	appendBinaryStringInfo(buf, (char *) b, 8);
}

static void
put_len(StringInfo buf, uint8 tag, uint32 len)
{
	uint8		b[4];

	b[0] = (uint8) (len >> 24);
	b[1] = (uint8) (len >> 16);
	b[2] = (uint8) (len >> 8);
	b[3] = (uint8) len;
	appendStringInfoChar(buf, tag);
	appendBinaryStringInfo(buf, (char *) b, 4);
}

/* a text argument in UTF-8, or NULL */
static void
put_text_arg(StringInfo buf, FunctionCallInfo fcinfo, int n)
{
	text	   *t;
	char	   *s;
	int			len;
	char	   *utf8;

	if (PG_ARGISNULL(n))
	{
		appendStringInfoChar(buf, TAG_NULL);
		return;
	}
	t = PG_GETARG_TEXT_PP(n);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	utf8 = pg_server_to_any(s, len, PG_UTF8);
	if (utf8 != s)
		len = strlen(utf8);
	put_len(buf, TAG_TEXT, (uint32) len);
	appendBinaryStringInfo(buf, utf8, len);
}

/*
 * The event bytes from the arguments of audit_event_encode/check: (id int8,
 * xid xid8, event_time timestamptz, event_type .. actor, session_user_name,
 * current_user_name text, client_addr inet, application_name text,
 * commitment bytea).
 */
static void
encode_event_args(FunctionCallInfo fcinfo, StringInfo buf)
{
	appendBinaryStringInfo(buf, "PSE", 3);
	appendStringInfoChar(buf, AUDIT_FORMAT_VERSION);

	for (int n = 0; n < 13; n++)
	{
		if (PG_ARGISNULL(n) && n != 10)
		{
			appendStringInfoChar(buf, TAG_NULL);
			continue;
		}
		switch (n)
		{
			case 0:
				put_int64_field(buf, PG_GETARG_INT64(0));
				break;
			case 1:
				put_int64_field(buf, (int64) U64FromFullTransactionId(PG_GETARG_FULLTRANSACTIONID(1)));
				break;
			case 2:
				put_int64_field(buf, steward_audit_unix_micros(PG_GETARG_TIMESTAMPTZ(2)));
				break;
			case 10:
				if (PG_ARGISNULL(10))
					appendStringInfoChar(buf, TAG_NULL);
				else
				{
					char	   *s = DatumGetCString(DirectFunctionCall1(inet_out, PG_GETARG_DATUM(10)));

					put_len(buf, TAG_TEXT, (uint32) strlen(s));
					appendBinaryStringInfo(buf, s, strlen(s));
				}
				break;
			case 12:
				{
					bytea	   *b = PG_GETARG_BYTEA_PP(12);

					put_len(buf, TAG_BYTES, (uint32) VARSIZE_ANY_EXHDR(b));
					appendBinaryStringInfo(buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
				}
				break;
			default:
				put_text_arg(buf, fcinfo, n);
				break;
		}
	}
}

void
steward_audit_commitment(const uint8 *salt, const char *payload, size_t len,
						 uint8 *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, DOMAIN_COMMITMENT);
	appendBinaryStringInfo(&buf, (const char *) salt, AUDIT_SALT_LEN);
	appendBinaryStringInfo(&buf, payload, len);
	steward_sha256(buf.data, buf.len, out);
	pfree(buf.data);
}

/* RFC 6962 Merkle tree hash of n leaves (n >= 1) */
static void
merkle(const uint8 *leaves, int64 n, uint8 *out)
{
	uint8		node[1 + 2 * AUDIT_HASH_LEN];
	int64		k = 1;

	if (n == 1)
	{
		memcpy(out, leaves, AUDIT_HASH_LEN);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	check_stack_depth();
	node[0] = DOMAIN_NODE;
	merkle(leaves, k, node + 1);
	merkle(leaves + k * AUDIT_HASH_LEN, n - k, node + 1 + AUDIT_HASH_LEN);
	steward_sha256(node, sizeof(node), out);
}

void
steward_audit_merkle_root(const uint8 *leaves, int64 n, uint8 *out)
{
	if (n <= 0)
		steward_sha256("", 0, out);
	else
		merkle(leaves, n, out);
}

void
steward_audit_block_hash(int64 block_id, int64 first_position, int64 count,
						 TimestampTz sealed_at, const uint8 *root,
						 const uint8 *prev, uint8 *out)
{
	uint8		buf[1 + 4 + 4 * 8 + 2 * AUDIT_HASH_LEN];
	uint8	   *p = buf;

	*p++ = DOMAIN_BLOCK;
	memcpy(p, "PSB", 3);
	p += 3;
	*p++ = AUDIT_FORMAT_VERSION;
	steward_audit_put_int64(p, block_id);
	p += 8;
	steward_audit_put_int64(p, first_position);
	p += 8;
	steward_audit_put_int64(p, count);
	p += 8;
	steward_audit_put_int64(p, steward_audit_unix_micros(sealed_at));
	p += 8;
	memcpy(p, root, AUDIT_HASH_LEN);
	p += AUDIT_HASH_LEN;
	memcpy(p, prev, AUDIT_HASH_LEN);
	p += AUDIT_HASH_LEN;
	Assert(p - buf == sizeof(buf));
	steward_sha256(buf, sizeof(buf), out);
}

PG_FUNCTION_INFO_V1(steward_audit_event_encode);

/*
 * steward.audit_event_encode(<event columns>) returns bytea: the event bytes.
 */
Datum
steward_audit_event_encode(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	bytea	   *result;

	initStringInfo(&buf);
	encode_event_args(fcinfo, &buf);
	result = (bytea *) palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(steward_audit_event_check);

/*
 * steward.audit_event_check(<event columns>, salt bytea, payload jsonb)
 * returns bytea: the leaf (32 bytes) followed by one byte, the payload state
 * (AUDIT_PAYLOAD_*).
 */
Datum
steward_audit_event_check(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	bytea	   *result;
	uint8	   *r;
	uint8		state = AUDIT_PAYLOAD_OK;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, DOMAIN_LEAF);
	encode_event_args(fcinfo, &buf);

	result = (bytea *) palloc(VARHDRSZ + AUDIT_HASH_LEN + 1);
	SET_VARSIZE(result, VARHDRSZ + AUDIT_HASH_LEN + 1);
	r = (uint8 *) VARDATA(result);
	steward_sha256(buf.data, buf.len, r);
	pfree(buf.data);

	if (PG_ARGISNULL(14))
	{
		/* no payload: erased by redaction if a commitment remains */
		if (!PG_ARGISNULL(12))
			state = AUDIT_PAYLOAD_REDACTED;
	}
	else if (PG_ARGISNULL(12) || PG_ARGISNULL(13) ||
			 VARSIZE_ANY_EXHDR(PG_GETARG_BYTEA_PP(12)) != AUDIT_HASH_LEN ||
			 VARSIZE_ANY_EXHDR(PG_GETARG_BYTEA_PP(13)) != AUDIT_SALT_LEN)
		state = AUDIT_PAYLOAD_MISMATCH;
	else
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(14);
		char	   *txt = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		char	   *utf8 = pg_server_to_any(txt, strlen(txt), PG_UTF8);
		uint8		c[AUDIT_HASH_LEN];

		steward_audit_commitment((uint8 *) VARDATA_ANY(PG_GETARG_BYTEA_PP(13)),
								 utf8, strlen(utf8), c);
		if (memcmp(c, VARDATA_ANY(PG_GETARG_BYTEA_PP(12)), AUDIT_HASH_LEN) != 0)
			state = AUDIT_PAYLOAD_MISMATCH;
	}
	r[AUDIT_HASH_LEN] = state;
	PG_RETURN_BYTEA_P(result);
}
