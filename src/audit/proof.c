/*-------------------------------------------------------------------------
 *
 * proof.c
 *	  Receipts and consistency proofs of the ledger tree (tree.c):
 *	  audit_proof(), audit_consistency(), and audit_tree_root() for
 *	  audit_digest().
 *
 * Words: a *head* is a tree size and its root; the head a digest names is
 * the tree at its block's last position.  A *receipt* of an event is its
 * leaf index, its canonical bytes and the audit path (RFC 9162 §2.1.3.1,
 * PATH) from its leaf to the root of the head; a *consistency proof*
 * between two heads is RFC 9162 §2.1.4.1's PROOF.  Verifying either needs
 * SHA-256 only (docs/audit.md, "The ledger tree").  Both are built from
 * the ledger as stored, and refused when it no longer has a head a digest
 * names: the block by its hash and last position, and the tree's root
 * when the digest names one.
 *
 * Hashes in the documents are base64 (as RFC 9162's JSON), except those
 * copied from a digest (hash, tree_root: hex, as the digest has them).
 * Runs as the owner, reads only (a hot standby answers too).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"
#include "utils/json.h"

#include "pg_steward.h"
#include "audit/audit.h"

PG_FUNCTION_INFO_V1(steward_audit_tree_root_sql);
PG_FUNCTION_INFO_V1(steward_audit_proof);
PG_FUNCTION_INFO_V1(steward_audit_consistency);

/* a head the ledger has: the block that ends it, and the tree */
typedef struct Head
{
	int64		block;
	int64		size;
	uint8		hash[AUDIT_HASH_LEN];	/* of the block */
	uint8		root[AUDIT_HASH_LEN];	/* of the tree */
} Head;

static char *
b64(const uint8 *data, int len)
{
	int			cap = pg_b64_enc_len(len) + 1;
	char	   *out = palloc(cap);
	int			n = pg_b64_encode((const char *) data, len, out, cap);

	if (n < 0)
		elog(ERROR, "could not encode in base64");
	out[n] = '\0';
	return out;
}

/* the newest block as a head */
static void
newest_head(Head *h)
{
	bool		isnull;

	memset(h, 0, sizeof(*h));
	if (SPI_execute("SELECT b.block_id, b.first_position OPERATOR(pg_catalog.+) b.event_count"
					"       OPERATOR(pg_catalog.-) 1, b.block_hash"
					"  FROM steward.audit_blocks b ORDER BY b.block_id DESC LIMIT 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the newest block");
	if (SPI_processed == 1)
	{
		bytea	   *hb;

		h->block = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		h->size = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		hb = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		if (VARSIZE_ANY_EXHDR(hb) == AUDIT_HASH_LEN)
			memcpy(h->hash, VARDATA_ANY(hb), AUDIT_HASH_LEN);
	}
	SPI_freetuptable(SPI_tuptable);
	steward_audit_tree_root(h->size, h->root);
}

/*
 * The head a digest argument names (NULL: the newest), refused when the
 * ledger no longer has it.
 */
static void
head_of(FunctionCallInfo fcinfo, int argn, const char *argname, Head *h)
{
	AuditDigest dg;
	bool		exists;

	if (PG_ARGISNULL(argn))
	{
		newest_head(h);
		return;
	}
	steward_audit_parse_digest(PG_GETARG_DATUM(argn), argname, &dg);
	if (!steward_audit_digest_matches(&dg, &exists))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit ledger does not have the head %s names", argname),
				 exists ? errdetail("Block %lld differs from the digest's: its hash or its last position.",
									(long long) dg.block)
				 : errdetail("Block %lld does not exist.", (long long) dg.block),
				 errhint("verify_audit_chain(trusted_digest => ...) names the first difference.")));
	if (dg.tree_size != dg.position)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s names a tree of %lld events, but its block ends at position %lld",
						argname, (long long) dg.tree_size, (long long) dg.position),
				 errhint("Pass a document returned by audit_digest().")));
	h->block = dg.block;
	h->size = dg.position;
	memcpy(h->hash, dg.hash, AUDIT_HASH_LEN);
	steward_audit_tree_root(h->size, h->root);
	if (dg.has_tree_root && memcmp(dg.tree_root, h->root, AUDIT_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit ledger does not have the head %s names", argname),
				 errdetail("Its tree of %lld events has root %s, the digest names %s.",
						   (long long) h->size, steward_audit_hex(h->root, AUDIT_HASH_LEN),
						   steward_audit_hex(dg.tree_root, AUDIT_HASH_LEN)),
				 errhint("verify_audit_chain(trusted_digest => ...) names the first difference.")));
}

static void
append_head(StringInfo out, const Head *h, const char *prefix)
{
	appendStringInfo(out, "\"%sblock\": %lld, \"%shash\": \"%s\", \"%stree_size\": %lld, \"%stree_root\": \"%s\"",
					 prefix, (long long) h->block, prefix, steward_audit_hex(h->hash, AUDIT_HASH_LEN),
					 prefix, (long long) h->size, prefix, steward_audit_hex(h->root, AUDIT_HASH_LEN));
}

/* hashes (32 bytes each, concatenated) as a JSON array of base64 strings */
static void
append_hashes(StringInfo out, const char *key, const StringInfo hashes)
{
	appendStringInfo(out, "\"%s\": [", key);
	for (int i = 0; i < hashes->len / AUDIT_HASH_LEN; i++)
		appendStringInfo(out, "%s\"%s\"", i ? ", " : "",
						 b64((const uint8 *) hashes->data + i * AUDIT_HASH_LEN, AUDIT_HASH_LEN));
	appendStringInfoChar(out, ']');
}

static Datum
json_document(StringInfo json)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json->data));
}

/* RFC 9162 PATH(m, D[n]) over n leaves in memory */
static void
path_of_leaves(int64 m, const uint8 *leaves, int64 n, StringInfo out)
{
	int64		k;
	uint8		h[AUDIT_HASH_LEN];

	if (n <= 1)
		return;
	k = steward_audit_tree_split(n);
	if (m < k)
	{
		path_of_leaves(m, leaves, k, out);
		steward_audit_merkle_root(leaves + k * AUDIT_HASH_LEN, n - k, h);
	}
	else
	{
		path_of_leaves(m - k, leaves + k * AUDIT_HASH_LEN, n - k, out);
		steward_audit_merkle_root(leaves, k, h);
	}
	appendBinaryStringInfo(out, (char *) h, AUDIT_HASH_LEN);
}

/* RFC 9162 PATH(m, D[start:start+n]): leaf first, root last */
static void
path(int64 m, int64 start, int64 n, StringInfo out)
{
	int64		k;
	uint8		h[AUDIT_HASH_LEN];

	CHECK_FOR_INTERRUPTS();
	if (n <= 1)
		return;
	if (n <= ((int64) 1 << AUDIT_TREE_TILE_LEVEL))
	{
		uint8	   *leaves = palloc(n * AUDIT_HASH_LEN);

		steward_audit_tree_read_leaves(start, n, leaves);
		path_of_leaves(m, leaves, n, out);
		pfree(leaves);
		return;
	}
	k = steward_audit_tree_split(n);
	if (m < k)
	{
		path(m, start, k, out);
		steward_audit_tree_subtree(start + k, n - k, h);
	}
	else
	{
		path(m - k, start + k, n - k, out);
		steward_audit_tree_subtree(start, k, h);
	}
	appendBinaryStringInfo(out, (char *) h, AUDIT_HASH_LEN);
}

/* RFC 9162 SUBPROOF(m, D[start:start+n], b) */
static void
subproof(int64 m, int64 start, int64 n, bool b, StringInfo out)
{
	int64		k;
	uint8		h[AUDIT_HASH_LEN];

	CHECK_FOR_INTERRUPTS();
	if (m == n)
	{
		if (!b)
		{
			steward_audit_tree_subtree(start, n, h);
			appendBinaryStringInfo(out, (char *) h, AUDIT_HASH_LEN);
		}
		return;
	}
	k = steward_audit_tree_split(n);
	if (m <= k)
	{
		subproof(m, start, k, b, out);
		steward_audit_tree_subtree(start + k, n - k, h);
	}
	else
	{
		subproof(m - k, start + k, n - k, false, out);
		steward_audit_tree_subtree(start, k, h);
	}
	appendBinaryStringInfo(out, (char *) h, AUDIT_HASH_LEN);
}

/*
 * Every receipt and consistency proof is checked (common/merkle.c, as a
 * verifier would) before it is returned, so that a wrong stored node
 * (tree.c) is refused here rather than handed out.
 */
static void
refuse_wrong_tree(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the ledger tree's stored nodes do not match its leaves"),
			 errdetail("The proof built from them does not lead to the tree's root."),
			 errhint("verify_audit_chain(trusted_digest => ...) with a digest kept outside reports the change.")));
}

/*
 * audit_tree_root(tree_size bigint) returns bytea: the root of the ledger
 * tree of that size (for audit_digest(); not granted to anyone).
 */
Datum
steward_audit_tree_root_sql(PG_FUNCTION_ARGS)
{
	StewardOwnerScope scope;
	int64		size;
	int64		sealed;
	uint8		root[AUDIT_HASH_LEN];
	bytea	   *out;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tree_size must not be null")));
	size = PG_GETARG_INT64(0);
	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sealed = steward_audit_tree_sealed_size();
	if (size < 0 || size > sealed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tree_size must be between 0 and %lld, the number of sealed events", (long long) sealed)));
	steward_audit_tree_root(size, root);
	SPI_finish();
	steward_owner_scope_end(&scope);
	out = palloc(VARHDRSZ + AUDIT_HASH_LEN);
	SET_VARSIZE(out, VARHDRSZ + AUDIT_HASH_LEN);
	memcpy(VARDATA(out), root, AUDIT_HASH_LEN);
	PG_RETURN_BYTEA_P(out);
}

/* a block the ledger should have is not there: the ledger was damaged */
static void
missing_block(int64 block) pg_attribute_noreturn();

static void
missing_block(int64 block)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("block %lld of the audit ledger is missing", (long long) block),
			 errhint("verify_audit_chain() names the damaged block.")));
}

/* is xid completed in the snapshot of block b?  (the block exists) */
static bool
completed_in_block(uint64 xid, int64 block)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		vals[2] = {CStringGetTextDatum(psprintf(UINT64_FORMAT, xid)), Int64GetDatum(block)};
	bool		isnull;
	bool		r;

	if (SPI_execute_with_args("SELECT pg_catalog.pg_visible_in_snapshot($1::pg_catalog.xid8, b.snapshot)"
							  "  FROM steward.audit_blocks b WHERE b.block_id OPERATOR(pg_catalog.=) $2",
							  2, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read block %lld", (long long) block);
	if (SPI_processed != 1)
		missing_block(block);
	r = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return !isnull && r;
}

/* One event as the receipt shows it. */
typedef struct ProofEvent
{
	int64		id;
	uint64		xid;
	bytea	   *bytes;			/* canonical event bytes */
	bool		redacted;
	char	   *payload;		/* payload::text, or NULL */
	bytea	   *salt;
	int64		position;
	int64		block;
	uint8		leaf[AUDIT_HASH_LEN];
} ProofEvent;

static void
read_event(int64 event_id, bool with_payload, ProofEvent *ev)
{
	Oid			types[2] = {INT8OID, BOOLOID};
	Datum		vals[2] = {Int64GetDatum(event_id), BoolGetDatum(with_payload)};
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;
	Datum		x;

	if (SPI_execute_with_args("SELECT e.xid::pg_catalog.text,"
							  "       steward.audit_event_encode(e.id, e.xid, e.event_time, e.event_type, e.action,"
							  "           e.resource_type, e.resource_id, e.actor, e.session_user_name,"
							  "           e.current_user_name, e.client_addr, e.application_name, e.commitment),"
							  "       e.payload IS NULL AND e.commitment IS NOT NULL,"
							  "       CASE WHEN $2 THEN e.payload::pg_catalog.text END, e.salt"
							  "  FROM steward.audit_events e WHERE e.id OPERATOR(pg_catalog.=) $1",
							  2, types, vals, NULL, true, 2) != SPI_OK_SELECT)
		elog(ERROR, "could not read audit event %lld", (long long) event_id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("audit event %lld does not exist", (long long) event_id),
				 errdetail("A receipt shows the event's bytes; retention may have dropped it with its partition.")));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("more than one audit event has id %lld", (long long) event_id),
				 errhint("verify_audit_chain() names the copy.")));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	ev->id = event_id;
	ev->xid = strtou64(SPI_getvalue(t, d, 1), NULL, 10);
	x = SPI_getbinval(t, d, 2, &isnull);
	ev->bytes = isnull ? NULL : DatumGetByteaPCopy(x);
	ev->redacted = DatumGetBool(SPI_getbinval(t, d, 3, &isnull));
	ev->payload = SPI_getvalue(t, d, 4);
	x = SPI_getbinval(t, d, 5, &isnull);
	ev->salt = isnull ? NULL : DatumGetByteaPCopy(x);
	if (ev->bytes == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("audit event %lld cannot be encoded", (long long) event_id),
				 errhint("verify_audit_chain() names the damaged event.")));
}

/*
 * The event's entry in its home block ev->block by binary search: a
 * block's entries are in (xid, id) order, and each probe reads one entry's
 * 56 bytes (entries are stored uncompressed, so a slice reads one toast
 * chunk), never the whole block.  False when the search does not find it
 * (entries out of order).
 */
static bool
find_entry(ProofEvent *ev)
{
	Oid			types[2] = {INT8OID, INT8OID};
	SPIPlanPtr	plan;
	int64		first;
	int64		lo = 0;
	int64		hi;
	bool		isnull;
	bool		found = false;
	Datum		vals[2];

	vals[0] = Int64GetDatum(ev->block);
	if (SPI_execute_with_args("SELECT b.first_position, b.event_count FROM steward.audit_blocks b"
							  " WHERE b.block_id OPERATOR(pg_catalog.=) $1",
							  1, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read block %lld", (long long) ev->block);
	if (SPI_processed != 1)
		missing_block(ev->block);
	first = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) - 1;
	SPI_freetuptable(SPI_tuptable);

	plan = SPI_prepare("SELECT pg_catalog.substr(b.entries, ($2 OPERATOR(pg_catalog.*) 56"
					   "   OPERATOR(pg_catalog.+) 1)::pg_catalog.int4, 56)"
					   "  FROM steward.audit_blocks b WHERE b.block_id OPERATOR(pg_catalog.=) $1",
					   2, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the read of an entry");
	while (lo <= hi && !found)
	{
		int64		mid = lo + (hi - lo) / 2;
		bytea	   *b;
		const uint8 *e;
		uint64		xid;
		int64		id;

		CHECK_FOR_INTERRUPTS();
		vals[1] = Int64GetDatum(mid);
		if (SPI_execute_plan(plan, vals, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read an entry of block %lld", (long long) ev->block);
		if (SPI_processed != 1)
			missing_block(ev->block);
		b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull || VARSIZE_ANY_EXHDR(b) != AUDIT_ENTRY_LEN)
		{
			SPI_freetuptable(SPI_tuptable);
			break;
		}
		e = (const uint8 *) VARDATA_ANY(b);
		xid = (uint64) steward_audit_entry_xid(e);
		id = steward_audit_entry_id(e);
		if (xid == ev->xid && id == ev->id)
		{
			ev->position = first + mid;
			memcpy(ev->leaf, steward_audit_entry_leaf(e), AUDIT_HASH_LEN);
			found = true;
		}
		else if (xid < ev->xid || (xid == ev->xid && id < ev->id))
			lo = mid + 1;
		else
			hi = mid - 1;
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_freeplan(plan);
	return found;
}

/*
 * The position and leaf of the event in the tree of head h: its home block
 * is the first whose snapshot shows its xid completed (binary search; the
 * snapshots only advance), and its entry there has its id and xid.
 */
static void
locate_event(ProofEvent *ev, const Head *h)
{
	int64		lo = 1;
	int64		hi = h->block;
	Oid			types[1] = {INT8OID};
	Datum		vals[1];
	bool		isnull;
	int64		first;
	bytea	   *entries;
	const uint8 *e;
	int64		n;

	if (h->block == 0 || !completed_in_block(ev->xid, h->block))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit event %lld is not sealed in the head's tree of %lld events",
						(long long) ev->id, (long long) h->size),
				 errhint("Seal it first (audit_seal()), then take a newer digest (audit_digest()).")));
	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		CHECK_FOR_INTERRUPTS();
		if (completed_in_block(ev->xid, mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	ev->block = lo;
	if (find_entry(ev))
		return;
	/* entries out of order (a damaged block): look at every one */
	vals[0] = Int64GetDatum(lo);
	if (SPI_execute_with_args("SELECT b.first_position, b.entries FROM steward.audit_blocks b"
							  " WHERE b.block_id OPERATOR(pg_catalog.=) $1",
							  1, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read block %lld", (long long) lo);
	if (SPI_processed != 1)
		missing_block(lo);
	first = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	entries = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	e = (const uint8 *) VARDATA_ANY(entries);
	n = VARSIZE_ANY_EXHDR(entries) / AUDIT_ENTRY_LEN;
	ev->position = 0;
	for (int64 i = 0; i < n; i++)
	{
		const uint8 *entry = steward_audit_entry(e, i);

		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (steward_audit_entry_id(entry) == ev->id && (uint64) steward_audit_entry_xid(entry) == ev->xid)
		{
			ev->position = first + i;
			memcpy(ev->leaf, steward_audit_entry_leaf(entry), AUDIT_HASH_LEN);
			break;
		}
	}
	ev->block = lo;
	SPI_freetuptable(SPI_tuptable);
	if (ev->position == 0 || ev->position > h->size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("audit event %lld has no entry in block %lld, which seals its transaction",
						(long long) ev->id, (long long) lo),
				 errhint("verify_audit_chain() reports it.")));
}

/*
 * A receipt with the payload shows what the caller could read itself only:
 * with_payload needs SELECT on steward.audit_events (or on its columns
 * payload and salt), which no documented role has but the owner.
 */
static void
check_payload_privilege(void)
{
	Oid			nsp = get_namespace_oid("steward", false);
	Oid			relid = get_relname_relid("audit_events", nsp);
	Oid			user = GetUserId();

	if (!OidIsValid(relid))
		elog(ERROR, "steward.audit_events does not exist");
	if (pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK)
		return;
	if (pg_attribute_aclcheck(relid, get_attnum(relid, "payload"), user, ACL_SELECT) == ACLCHECK_OK &&
		pg_attribute_aclcheck(relid, get_attnum(relid, "salt"), user, ACL_SELECT) == ACLCHECK_OK)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to read the payloads of the audit ledger"),
			 errdetail("with_payload returns the payload and the salt of the event."),
			 errhint("Leave with_payload out, or grant SELECT on steward.audit_events (payload, salt).")));
}

/*
 * audit_proof(event_id bigint, digest jsonb DEFAULT NULL,
 *			   with_payload boolean DEFAULT false) returns jsonb: the receipt
 * of one sealed event against the head the digest names (NULL: the newest
 * block).
 */
Datum
steward_audit_proof(PG_FUNCTION_ARGS)
{
	StewardOwnerScope scope;
	Head		h;
	ProofEvent	ev = {0};
	StringInfoData hashes;
	StringInfoData json;
	uint8		leaf[AUDIT_HASH_LEN];
	StringInfoData msg;
	bool		with_payload = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	Datum		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event_id must not be null")));
	if (with_payload)
		check_payload_privilege();
	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	head_of(fcinfo, 1, "digest", &h);
	read_event(PG_GETARG_INT64(0), with_payload, &ev);
	locate_event(&ev, &h);

	/* the event as stored must be the one sealed */
	initStringInfo(&msg);
	appendStringInfoChar(&msg, '\0');
	appendBinaryStringInfo(&msg, VARDATA_ANY(ev.bytes), VARSIZE_ANY_EXHDR(ev.bytes));
	steward_sha256(msg.data, msg.len, leaf);
	if (memcmp(leaf, ev.leaf, AUDIT_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("audit event %lld differs from the leaf sealed for it", (long long) ev.id),
				 errhint("verify_audit_chain() reports it.")));

	initStringInfo(&hashes);
	path(ev.position - 1, 0, h.size, &hashes);
	if (!steward_merkle_inclusion_holds(ev.position - 1, h.size, ev.leaf, (const uint8 *) hashes.data,
										hashes.len / AUDIT_HASH_LEN, h.root))
		refuse_wrong_tree();

	initStringInfo(&json);
	appendStringInfo(&json, "{\"format\": \"pg_steward receipt v1\", \"event_id\": %lld, "
					 "\"position\": %lld, \"leaf_index\": %lld, ",
					 (long long) ev.id, (long long) ev.position, (long long) ev.position - 1);
	append_head(&json, &h, "");
	appendStringInfo(&json, ", \"event_bytes\": \"%s\", \"leaf\": \"%s\", \"redacted\": %s, ",
					 b64((const uint8 *) VARDATA_ANY(ev.bytes), VARSIZE_ANY_EXHDR(ev.bytes)),
					 b64(ev.leaf, AUDIT_HASH_LEN), ev.redacted ? "true" : "false");
	if (with_payload)
	{
		appendStringInfoString(&json, "\"payload\": ");
		if (ev.payload)
			escape_json(&json, ev.payload);
		else
			appendStringInfoString(&json, "null");
		appendStringInfo(&json, ", \"salt\": %s%s%s, ",
						 ev.salt ? "\"" : "",
						 ev.salt ? b64((const uint8 *) VARDATA_ANY(ev.salt), VARSIZE_ANY_EXHDR(ev.salt)) : "null",
						 ev.salt ? "\"" : "");
	}
	append_hashes(&json, "audit_path", &hashes);
	appendStringInfoChar(&json, '}');

	result = SPI_datumTransfer(json_document(&json), false, -1);
	SPI_finish();
	steward_owner_scope_end(&scope);
	PG_RETURN_DATUM(result);
}

/*
 * audit_consistency(old_digest jsonb, new_digest jsonb DEFAULT NULL)
 * returns jsonb: the proof that the head new_digest names (NULL: the
 * newest block) extends the head old_digest names.
 */
Datum
steward_audit_consistency(PG_FUNCTION_ARGS)
{
	StewardOwnerScope scope;
	Head		old_head;
	Head		new_head;
	StringInfoData hashes;
	StringInfoData json;
	Datum		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("old_digest must not be null")));
	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	head_of(fcinfo, 0, "old_digest", &old_head);
	head_of(fcinfo, 1, "new_digest", &new_head);
	if (old_head.size > new_head.size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("old_digest names a larger tree than new_digest (%lld > %lld events)",
						(long long) old_head.size, (long long) new_head.size)));

	initStringInfo(&hashes);
	if (old_head.size > 0 && old_head.size < new_head.size)
	{
		subproof(old_head.size, 0, new_head.size, true, &hashes);
		if (!steward_merkle_consistency_holds(old_head.size, old_head.root, new_head.size, new_head.root,
											  (const uint8 *) hashes.data, hashes.len / AUDIT_HASH_LEN))
			refuse_wrong_tree();
	}
	else if (old_head.size == new_head.size &&
			 memcmp(old_head.root, new_head.root, AUDIT_HASH_LEN) != 0)
		refuse_wrong_tree();

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"format\": \"pg_steward consistency proof v1\", ");
	append_head(&json, &old_head, "old_");
	appendStringInfoString(&json, ", ");
	append_head(&json, &new_head, "new_");
	appendStringInfoString(&json, ", ");
	append_hashes(&json, "proof", &hashes);
	appendStringInfoChar(&json, '}');

	result = SPI_datumTransfer(json_document(&json), false, -1);
	SPI_finish();
	steward_owner_scope_end(&scope);
	PG_RETURN_DATUM(result);
}
