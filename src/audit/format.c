/*-------------------------------------------------------------------------
 *
 * format.c
 *	  The ledger's byte format and the hashes built on it.
 *
 * Event bytes, format 1 (what audit_event_bytes(id) returns):
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
 * Times are encoded only when they are finite and before 294247-01-01
 * 00:00 UTC, so that microseconds since 1970 fit in an int64 (PostgreSQL's
 * infinities are sentinels, not times): nothing else can be appended or
 * sealed.  Comparisons use steward_audit_unix_micros, which saturates.
 *
 * Hashes (SHA-256; domain bytes keep the kinds apart, as RFC 6962 does):
 *	  commitment = H(0x02 || salt (16 bytes) || payload)  payload: the jsonb's
 *				   text output, UTF-8 (jsonb orders keys itself, so the text
 *				   of a stored jsonb never changes)
 *	  leaf       = H(0x00 || event bytes)
 *	  node       = H(0x01 || left || right)   RFC 6962 Merkle tree hash;
 *				   the root of no leaves is H("")
 *	  block hash, format 1 (blocks sealed before 0.3.0):
 *				   H(0x03 || "PSB" 0x01 || block_id || first_position ||
 *				   event_count || sealed_at || merkle_root || previous hash)
 *	  block hash, format 2 (what seals write now): also covers the entries
 *				   and the snapshot, everything sealing and verification
 *				   read from a block:
 *				   H(0x03 || "PSB" 0x02 || block_id || first_position ||
 *				   event_count || sealed_at || merkle_root ||
 *				   H(0x04 || entries) || xmin || xmax || nxip || xip... ||
 *				   previous hash)
 *	  with int64 big-endian numbers, sealed_at in microseconds since 1970
 *	  UTC, and 32 zero bytes as the previous hash of the first block.
 *
 * The SQL functions steward.audit_event_encode and steward.audit_event_check
 * take an event's columns (AUDIT_EVENT_COLUMNS order); the second also
 * checks the payload against its commitment.  Both are parallel safe, so
 * verification can compute leaves in parallel workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/int.h"
#include "port/pg_bswap.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
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
#define DOMAIN_ENTRIES		0x04

#define UNIX_EPOCH_SHIFT_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC)

/* 294247-01-01 00:00 UTC, PostgreSQL's microseconds since 2000 */
static TimestampTz
time_end(void)
{
	static TimestampTz end = 0;

	if (end == 0)
		end = (TimestampTz) (date2j(AUDIT_TIME_END_YEAR, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	return end;
}

/* can the byte format encode this time? */
bool
steward_audit_time_encodable(TimestampTz t)
{
	return !TIMESTAMP_NOT_FINITE(t) && t < time_end();
}

/*
 * Refuse a time the byte format cannot encode; "what" names whose time it
 * is ("event 17", "the seal").
 */
void
steward_audit_check_time(TimestampTz t, const char *what)
{
	if (!steward_audit_time_encodable(t))
		steward_audit_refuse_time(what);
}

/* the refusal of steward_audit_check_time, for a time known not encodable */
void
steward_audit_refuse_time(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("the time of %s cannot be encoded in the audit ledger", what),
			 errdetail("Ledger times must be finite and before %d-01-01 00:00:00 UTC.",
					   AUDIT_TIME_END_YEAR)));
}

/*
 * Microseconds since 1970 UTC.  Saturates for the times the format cannot
 * encode (-infinity to PG_INT64_MIN, later ones to PG_INT64_MAX), so that
 * comparisons with infinite bounds still order correctly.
 */
int64
steward_audit_unix_micros(TimestampTz t)
{
	if (TIMESTAMP_IS_NOBEGIN(t))
		return PG_INT64_MIN;
	if (!steward_audit_time_encodable(t))
		return PG_INT64_MAX;
	return (int64) t + UNIX_EPOCH_SHIFT_US;
}

/* the timestamp of microseconds since 1970; false when there is none */
bool
steward_audit_from_unix_micros(int64 us, TimestampTz *t)
{
	int64		pg;

	if (pg_sub_s64_overflow(us, UNIX_EPOCH_SHIFT_US, &pg) || !IS_VALID_TIMESTAMP(pg))
		return false;
	*t = (TimestampTz) pg;
	return true;
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

/* room for n more bytes (and the terminating zero) */
static inline char *
reserve(StringInfo buf, int n)
{
	if (buf->len + n >= buf->maxlen)
		enlargeStringInfo(buf, n);
	return buf->data + buf->len;
}

static inline void
put_int64_field(StringInfo buf, int64 v)
{
	char	   *p = reserve(buf, 9);
	uint64		be = pg_hton64((uint64) v);

	p[0] = TAG_INT64;
	memcpy(p + 1, &be, 8);
	buf->len += 9;
	buf->data[buf->len] = '\0';
}

/* tag, big-endian length and bytes of a text or bytes field */
static inline void
put_field(StringInfo buf, uint8 tag, const char *data, uint32 len)
{
	char	   *p = reserve(buf, 5 + len);

	p[0] = (char) tag;
	p[1] = (char) (len >> 24);
	p[2] = (char) (len >> 16);
	p[3] = (char) (len >> 8);
	p[4] = (char) len;
	memcpy(p + 5, data, len);
	buf->len += 5 + len;
	buf->data[buf->len] = '\0';
}

/*
 * Text of the database in UTF-8: s itself in a UTF-8 database (utf8_db: the
 * usual case, where pg_server_to_any would return it as it is, and is not
 * called for every column of every event for that), else a converted copy,
 * which ends with a zero byte (s itself may not).
 */
static inline char *
utf8_text(char *s, int len, bool utf8_db)
{
	return utf8_db ? s : pg_server_to_any(s, len, PG_UTF8);
}

/*
 * A text column in UTF-8; utf8_db: the database's encoding is UTF-8.  A
 * value stored inline, short header or not, is read where it lies, without
 * the call DatumGetTextPP makes for every value.
 */
static inline void
put_text(StringInfo buf, Datum value, bool utf8_db)
{
	struct varlena *t = (struct varlena *) DatumGetPointer(value);
	char	   *s;
	int			len;
	char	   *utf8;

	if (VARATT_IS_EXTERNAL(t) || VARATT_IS_COMPRESSED(t))
		t = pg_detoast_datum_packed(t);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	utf8 = utf8_text(s, len, utf8_db);
	if (utf8 != s)
		len = strlen(utf8);
	put_field(buf, TAG_TEXT, utf8, (uint32) len);
}

/*
 * Append the event bytes of an event's columns (values and isnull in the
 * order of AUDIT_EVENT_COLUMNS; AUDIT_COL_*) to buf.  strict refuses a
 * time the format cannot encode (appending, sealing); without it (the
 * check of verification) such a time is encoded saturated, so that it
 * never matches what was sealed.
 */
void
steward_audit_event_bytes(StringInfo buf, const Datum *values, const bool *isnull, bool strict)
{
	bool		utf8_db = GetDatabaseEncoding() == PG_UTF8;
	char	   *p = reserve(buf, 4);

	memcpy(p, "PSE", 3);
	p[3] = AUDIT_FORMAT_VERSION;
	buf->len += 4;
	buf->data[buf->len] = '\0';

	for (int n = 0; n < AUDIT_EVENT_NCOLS; n++)
	{
		if (isnull[n])
		{
			*reserve(buf, 1) = TAG_NULL;
			buf->len++;
			buf->data[buf->len] = '\0';
			continue;
		}
		switch (n)
		{
			case AUDIT_COL_ID:
				put_int64_field(buf, DatumGetInt64(values[n]));
				break;
			case AUDIT_COL_XID:
				put_int64_field(buf, (int64) U64FromFullTransactionId(DatumGetFullTransactionId(values[n])));
				break;
			case AUDIT_COL_TIME:
				if (strict)
					steward_audit_check_time(DatumGetTimestampTz(values[n]),
											 psprintf("event " INT64_FORMAT,
													  isnull[AUDIT_COL_ID] ? 0 : DatumGetInt64(values[AUDIT_COL_ID])));
				put_int64_field(buf, steward_audit_unix_micros(DatumGetTimestampTz(values[n])));
				break;
			case AUDIT_COL_CLIENT_ADDR:
				{
					char	   *s = DatumGetCString(DirectFunctionCall1(inet_out, values[n]));

					put_field(buf, TAG_TEXT, s, (uint32) strlen(s));
				}
				break;
			case AUDIT_COL_COMMITMENT:
				{
					bytea	   *b = DatumGetByteaPP(values[n]);

					put_field(buf, TAG_BYTES, VARDATA_ANY(b), (uint32) VARSIZE_ANY_EXHDR(b));
				}
				break;
			default:
				put_text(buf, values[n], utf8_db);
				break;
		}
	}
}

/*
 * The event bytes from the arguments of audit_event_encode/check, which
 * take an event's columns in the order of AUDIT_EVENT_COLUMNS.
 */
static void
encode_event_args(FunctionCallInfo fcinfo, StringInfo buf, bool strict)
{
	Datum		values[AUDIT_EVENT_NCOLS];
	bool		isnull[AUDIT_EVENT_NCOLS];

	for (int n = 0; n < AUDIT_EVENT_NCOLS; n++)
	{
		isnull[n] = PG_ARGISNULL(n);
		values[n] = isnull[n] ? (Datum) 0 : PG_GETARG_DATUM(n);
	}
	steward_audit_event_bytes(buf, values, isnull, strict);
}

void
steward_audit_commitment(const uint8 *salt, const char *payload, size_t len,
						 uint8 *out)
{
	StewardSha256 ctx;
	uint8		domain = DOMAIN_COMMITMENT;

	/* no copy of the payload, which can be large */
	steward_sha256_init(&ctx);
	steward_sha256_update(&ctx, &domain, 1);
	steward_sha256_update(&ctx, salt, AUDIT_SALT_LEN);
	steward_sha256_update(&ctx, payload, len);
	steward_sha256_final(&ctx, out);
}

/*
 * merkle()'s scratch above MERKLE_SCRATCH_KEEP bytes: kept in
 * TopTransactionContext until the transaction ends (the callback forgets
 * it then) and reused by the next tree, so that verification, which builds
 * the tree of every block, does not palloc and free a megabyte-sized buffer
 * per block (each costing a page fault per page, as the allocator hands it
 * back to the kernel).  At most the largest tree's scratch is kept.
 */
#define MERKLE_SCRATCH_KEEP (64 * 1024)

static uint8 *merkle_scratch;
static Size merkle_scratch_size;
static MemoryContextCallback merkle_scratch_cb;

static void
merkle_scratch_forget(void *arg)
{
	merkle_scratch = NULL;
	merkle_scratch_size = 0;
}

/* the Merkle Tree Hash of n leaves (common/merkle.c), n >= 1 */
static void
merkle(const uint8 *leaves, int64 n, size_t stride, uint8 *out)
{
	Size		size = ((n + 1) / 2) * AUDIT_HASH_LEN;
	uint8	   *scratch;

	if (size <= MERKLE_SCRATCH_KEEP || !IsTransactionState())
	{
		scratch = palloc(size);
		steward_merkle_root(leaves, stride, n, scratch, out);
		pfree(scratch);
		return;
	}
	if (size > merkle_scratch_size)
	{
		if (merkle_scratch != NULL)
			pfree(merkle_scratch);
		else
		{
			merkle_scratch_cb.func = merkle_scratch_forget;
			merkle_scratch_cb.arg = NULL;
			MemoryContextRegisterResetCallback(TopTransactionContext, &merkle_scratch_cb);
		}
		merkle_scratch = MemoryContextAlloc(TopTransactionContext, size);
		merkle_scratch_size = size;
	}
	steward_merkle_root(leaves, stride, n, merkle_scratch, out);
}

void
steward_audit_merkle_root(const uint8 *leaves, int64 n, uint8 *out)
{
	if (n <= 0)
		steward_sha256("", 0, out);
	else
		merkle(leaves, n, AUDIT_HASH_LEN, out);
}

/* the Merkle root over the leaves of n entries */
void
steward_audit_entries_root(const uint8 *entries, int64 n, uint8 *out)
{
	if (n <= 0)
		steward_sha256("", 0, out);
	else
		merkle(entries + AUDIT_ENTRY_LEAF, n, AUDIT_ENTRY_LEN, out);
}

static void
hash_int64(StewardSha256 *ctx, int64 v)
{
	uint8		b[8];

	steward_audit_put_int64(b, v);
	steward_sha256_update(ctx, b, 8);
}

/*
 * The hash of a block by the rule of its format, chained to prev (the
 * previous block's hash).  False when there is none: an unknown format, a
 * sealed_at the format cannot encode, or parts the rule needs are
 * malformed (no root; for format 2, entries that do not match the count).
 */
bool
steward_audit_block_hash(const AuditBlock *b, const uint8 *prev, uint8 *out)
{
	StewardSha256 ctx;
	uint8		head[1 + 4];

	if ((b->format != 1 && b->format != 2) || !b->has_root ||
		!steward_audit_time_encodable(b->sealed_at) ||
		(b->format == 2 && b->entries == NULL))
		return false;

	head[0] = DOMAIN_BLOCK;
	memcpy(head + 1, "PSB", 3);
	head[4] = (uint8) b->format;
	steward_sha256_init(&ctx);
	steward_sha256_update(&ctx, head, sizeof(head));
	hash_int64(&ctx, b->block_id);
	hash_int64(&ctx, b->first_position);
	hash_int64(&ctx, b->count);
	hash_int64(&ctx, steward_audit_unix_micros(b->sealed_at));
	steward_sha256_update(&ctx, b->root, AUDIT_HASH_LEN);
	if (b->format == 2)
	{
		StewardSha256 ectx;
		uint8		domain = DOMAIN_ENTRIES;
		uint8		entries_hash[AUDIT_HASH_LEN];

		steward_sha256_init(&ectx);
		steward_sha256_update(&ectx, &domain, 1);
		steward_sha256_update(&ectx, b->entries, (size_t) b->count * AUDIT_ENTRY_LEN);
		steward_sha256_final(&ectx, entries_hash);
		steward_sha256_update(&ctx, entries_hash, AUDIT_HASH_LEN);

		hash_int64(&ctx, (int64) b->snap.xmin);
		hash_int64(&ctx, (int64) b->snap.xmax);
		hash_int64(&ctx, b->snap.nxip);
		for (int i = 0; i < b->snap.nxip; i++)
			hash_int64(&ctx, (int64) b->snap.xip[i]);
	}
	steward_sha256_update(&ctx, prev, AUDIT_HASH_LEN);
	steward_sha256_final(&ctx, out);
	return true;
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
	encode_event_args(fcinfo, &buf, true);
	result = (bytea *) palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	PG_RETURN_BYTEA_P(result);
}

/*
 * The payload state of an event's columns (AUDIT_COL_*: commitment, salt
 * and payload are read), as far as it is known without hashing: the
 * state, or AUDIT_PAYLOAD_OK with *msg set to the message the commitment
 * must be the hash of (0x02, the salt, the payload's text in UTF-8; in
 * scratch, or palloc'd) and *commitment to the stored commitment.
 * Payload, salt and commitment: all three (the commitment must match), or
 * none (appended without a payload), or only the commitment (redacted:
 * payload and salt erased).
 */
static uint8
payload_message(const Datum *values, const bool *isnull, StringInfo scratch,
				const char **msg, size_t *msglen, const uint8 **commitment)
{
	bytea	   *c;
	bytea	   *salt;
	struct varlena *raw;
	union
	{
		struct varlena v;
		double		force_align;
		char		bytes[VARHDRSZ + VARATT_SHORT_MAX];
	}			aligned;
	Jsonb	   *jb;
	char	   *txt;
	char	   *utf8;
	int			prefix = 1 + AUDIT_SALT_LEN;

	*msg = NULL;
	if (isnull[AUDIT_COL_PAYLOAD])
	{
		if (!isnull[AUDIT_COL_SALT])
			return AUDIT_PAYLOAD_STRAY_SALT;
		return isnull[AUDIT_COL_COMMITMENT] ? AUDIT_PAYLOAD_OK : AUDIT_PAYLOAD_REDACTED;
	}
	if (isnull[AUDIT_COL_COMMITMENT] || isnull[AUDIT_COL_SALT])
		return AUDIT_PAYLOAD_MISMATCH;
	c = DatumGetByteaPP(values[AUDIT_COL_COMMITMENT]);
	salt = DatumGetByteaPP(values[AUDIT_COL_SALT]);
	if (VARSIZE_ANY_EXHDR(c) != AUDIT_HASH_LEN || VARSIZE_ANY_EXHDR(salt) != AUDIT_SALT_LEN)
		return AUDIT_PAYLOAD_MISMATCH;

	/*
	 * The payload's text has no zero byte: strlen is its length.  A value
	 * stored inline with a short header is aligned in a local copy, not in
	 * one palloc'd for every event as DatumGetJsonbP would.
	 */
	raw = (struct varlena *) DatumGetPointer(values[AUDIT_COL_PAYLOAD]);
	if (VARATT_IS_SHORT(raw) && !VARATT_IS_EXTERNAL(raw))
	{
		Size		n = VARSIZE_SHORT(raw) - VARHDRSZ_SHORT;

		SET_VARSIZE(&aligned.v, n + VARHDRSZ);
		memcpy(VARDATA(&aligned.v), VARDATA_SHORT(raw), n);
		jb = (Jsonb *) &aligned.v;
	}
	else
		jb = DatumGetJsonbP(values[AUDIT_COL_PAYLOAD]);
	resetStringInfo(scratch);
	appendStringInfoChar(scratch, DOMAIN_COMMITMENT);
	appendBinaryStringInfo(scratch, VARDATA_ANY(salt), AUDIT_SALT_LEN);
	steward_audit_jsonb_text(scratch, &jb->root);
	txt = scratch->data + prefix;
	utf8 = utf8_text(txt, scratch->len - prefix, GetDatabaseEncoding() == PG_UTF8);
	if (utf8 != txt)
	{
		size_t		len = strlen(utf8);

		resetStringInfo(scratch);
		appendStringInfoChar(scratch, DOMAIN_COMMITMENT);
		appendBinaryStringInfo(scratch, VARDATA_ANY(salt), AUDIT_SALT_LEN);
		appendBinaryStringInfo(scratch, utf8, len);
	}
	*msg = scratch->data;
	*msglen = scratch->len;
	*commitment = (const uint8 *) VARDATA_ANY(c);
	return AUDIT_PAYLOAD_OK;
}

/*
 * What an event's leaf (not strict, as for verification) and payload state
 * are computed from, from its columns (AUDIT_COL_*): in bytes the message
 * of the leaf hash (0x00 ‖ the event bytes); in h->msg the message of the
 * commitment to compute (in scratch) and in h->commitment the stored one
 * (copied), or h->msg NULL and the payload state returned.  bytes and
 * scratch are the caller's buffers, reused.
 */
uint8
steward_audit_event_prepare(const Datum *values, const bool *isnull, StringInfo bytes,
							StringInfo scratch, AuditEventHash *h)
{
	const uint8 *commitment = NULL;
	uint8		state;

	resetStringInfo(bytes);
	appendStringInfoChar(bytes, DOMAIN_LEAF);
	steward_audit_event_bytes(bytes, values, isnull, false);
	state = payload_message(values, isnull, scratch, &h->msg, &h->msglen, &commitment);
	if (h->msg != NULL)
		memcpy(h->commitment, commitment, AUDIT_HASH_LEN);
	return state;
}

/* the payload state once the commitment c of a prepared event is computed */
uint8
steward_audit_event_state(const AuditEventHash *h, const uint8 *c)
{
	return memcmp(c, h->commitment, AUDIT_HASH_LEN) == 0 ? AUDIT_PAYLOAD_OK : AUDIT_PAYLOAD_MISMATCH;
}

/*
 * An event's leaf into leaf, and its payload state, from its columns (as
 * steward_audit_event_prepare takes them): the leaf and the commitment
 * hashed side by side.
 */
uint8
steward_audit_event_check_values(const Datum *values, const bool *isnull,
								 StringInfo bytes, StringInfo scratch, uint8 *leaf)
{
	AuditEventHash h;
	uint8		c[AUDIT_HASH_LEN];
	uint8		state = steward_audit_event_prepare(values, isnull, bytes, scratch, &h);

	if (h.msg == NULL)
	{
		steward_sha256(bytes->data, bytes->len, leaf);
		return state;
	}
	steward_sha256_pair(bytes->data, bytes->len, leaf, h.msg, h.msglen, c);
	return steward_audit_event_state(&h, c);
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
	Datum		values[AUDIT_NCOLS];
	bool		isnull[AUDIT_NCOLS];
	StringInfoData buf;
	StringInfoData scratch;
	bytea	   *result;
	uint8	   *r;

	for (int n = 0; n < AUDIT_NCOLS; n++)
	{
		isnull[n] = PG_ARGISNULL(n);
		values[n] = isnull[n] ? (Datum) 0 : PG_GETARG_DATUM(n);
	}
	result = (bytea *) palloc(VARHDRSZ + AUDIT_HASH_LEN + 1);
	SET_VARSIZE(result, VARHDRSZ + AUDIT_HASH_LEN + 1);
	r = (uint8 *) VARDATA(result);
	initStringInfo(&buf);
	initStringInfo(&scratch);
	r[AUDIT_HASH_LEN] = steward_audit_event_check_values(values, isnull, &buf, &scratch, r);
	pfree(buf.data);
	pfree(scratch.data);
	PG_RETURN_BYTEA_P(result);
}
