/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The audit area: a tamper-evident ledger of events.
 *
 * Words used in src/audit:
 *	  event      - one row of steward.audit_events, appended by audit_append,
 *				   by an audited table's trigger, or by pg_steward itself
 *				   (SCHEMA_MIGRATION, REDACTION, RETENTION, and LEDGER for
 *				   changes of what is audited and for how long).  Its xid is the
 *				   top-level transaction that appended it.
 *	  commitment - SHA-256 over a per-event random salt and the payload.  The
 *				   chain covers the commitment, never the payload, so a
 *				   payload can be erased (redaction) and the chain still
 *				   verifies.
 *	  event bytes- the canonical, versioned, length-prefixed encoding of an
 *				   event's fields (audit_event_bytes(id) returns it).
 *	  leaf       - SHA-256(0x00 || event bytes).
 *	  block      - one row of steward.audit_blocks: the events that became
 *				   visible between the previous block's snapshot and this
 *				   block's snapshot, in (xid, id) order; it stores their
 *				   entries, the Merkle root over their leaves and a hash
 *				   that chains it to the previous block.  Its format says
 *				   what the hash covers (2: the entries and the snapshot
 *				   too; 1: blocks sealed before 0.3.0).
 *	  head       - the newest block.  Sealing continues from it and the
 *				   restored-ledger check reads its snapshot, so both check
 *				   it first (block.c) and refuse when it does not verify.
 *	  entry      - 56 bytes per event in a block: id, xid, event time
 *				   (three big-endian int64) and its leaf, at the offsets
 *				   AUDIT_ENTRY_*; read with steward_audit_entry_*().
 *	  position   - an event's place in the whole chain, counting from 1.
 *	  seal       - writing the next block (audit_seal(), or the sealer).
 *	  sealer     - a background worker per database that seals every
 *				   pg_steward.audit_seal_interval.
 *	  digest     - a small JSON document naming the head block, its hash and
 *				   position, meant to be stored outside the database.
 *	  epoch      - the record retention leaves when it drops a partition;
 *				   the newest RETENTION event lists every epoch.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_AUDIT_H
#define STEWARD_AUDIT_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "port/pg_bswap.h"

#define AUDIT_HASH_LEN			32
#define AUDIT_SALT_LEN			16
/* an entry: its fields' offsets, and its length */
#define AUDIT_ENTRY_ID			0	/* big-endian int64 */
#define AUDIT_ENTRY_XID			8	/* big-endian int64: the full xid */
#define AUDIT_ENTRY_TIME		16	/* big-endian int64: microseconds since 1970 */
#define AUDIT_ENTRY_LEAF		24	/* AUDIT_HASH_LEN bytes */
#define AUDIT_ENTRY_LEN			(AUDIT_ENTRY_LEAF + AUDIT_HASH_LEN)
#define AUDIT_FORMAT_VERSION	1	/* of the event bytes */
#define AUDIT_BLOCK_FORMAT		2	/* of the blocks seals write */
#define AUDIT_MAX_FIELD_LEN		1024
#define AUDIT_MAX_EVENT_TYPE_LEN 64
#define AUDIT_TIME_END_YEAR		294247	/* times from then on cannot be encoded */

/* payload states, as audit_event_check reports them */
#define AUDIT_PAYLOAD_OK		0	/* payload matches its commitment, or none */
#define AUDIT_PAYLOAD_REDACTED	1	/* payload erased, commitment kept */
#define AUDIT_PAYLOAD_MISMATCH	2	/* payload does not match its commitment */
#define AUDIT_PAYLOAD_STRAY_SALT 3	/* a salt without a payload */

/* the event columns, in the order of the event bytes */
#define AUDIT_EVENT_COLUMNS \
	"e.id, e.xid, e.event_time, e.event_type, e.action, e.resource_type, " \
	"e.resource_id, e.actor, e.session_user_name, e.current_user_name, " \
	"e.client_addr, e.application_name, e.commitment"

/*
 * An event's columns as an array of values: those of AUDIT_EVENT_COLUMNS,
 * then salt and payload (as audit_event_check takes them), which is also the
 * order of steward.audit_events' columns (insert.c stores a row from them).
 */
typedef enum AuditColumn
{
	AUDIT_COL_ID,
	AUDIT_COL_XID,
	AUDIT_COL_TIME,
	AUDIT_COL_EVENT_TYPE,
	AUDIT_COL_ACTION,
	AUDIT_COL_RESOURCE_TYPE,
	AUDIT_COL_RESOURCE_ID,
	AUDIT_COL_ACTOR,
	AUDIT_COL_SESSION_USER,
	AUDIT_COL_CURRENT_USER,
	AUDIT_COL_CLIENT_ADDR,
	AUDIT_COL_APPLICATION_NAME,
	AUDIT_COL_COMMITMENT,
	AUDIT_COL_SALT,
	AUDIT_COL_PAYLOAD
} AuditColumn;
#define AUDIT_EVENT_NCOLS		(AUDIT_COL_COMMITMENT + 1)	/* in the event bytes */
#define AUDIT_NCOLS				(AUDIT_COL_PAYLOAD + 1)

/*
 * Event types are 1 to AUDIT_MAX_EVENT_TYPE_LEN characters of A-Z, 0-9 and _,
 * beginning with a letter.  These are appended by pg_steward itself;
 * audit_append refuses them.
 */
#define AUDIT_TYPE_APPLICATION	"APPLICATION"
#define AUDIT_TYPE_ROW_CHANGE	"ROW_CHANGE"
#define AUDIT_TYPE_MIGRATION	"SCHEMA_MIGRATION"
#define AUDIT_TYPE_REDACTION	"REDACTION"
#define AUDIT_TYPE_RETENTION	"RETENTION"
#define AUDIT_TYPE_LEDGER		"LEDGER"	/* audit_table, unaudit_table, retention policies */

/*
 * The epoch list of a RETENTION event's payload (epoch.c): its key, and
 * the keys of each epoch in it.  verify.c reads it with these names.
 */
#define AUDIT_EPOCHS_KEY		"epochs"
#define AUDIT_EPOCH_PARTITION	"partition"
#define AUDIT_EPOCH_FROM		"range_from"
#define AUDIT_EPOCH_TO			"range_to"
#define AUDIT_EPOCH_DROPPED		"events_dropped"

typedef struct AuditInput
{
	const char *event_type;
	const char *action;
	const char *resource_type;	/* NULL: SQL NULL */
	const char *resource_id;
	const char *actor;
	Datum		payload;		/* jsonb, or 0 */
	bool		payload_null;
	/* identity overrides (NULL: taken from the session) */
	const char *session_user_name;
	const char *current_user_name;
	const char *application_name;
	const char *client_addr;
} AuditInput;

/* snapshot.c: pg_snapshot text, parsed to test membership */
typedef struct AuditSnapshot
{
	uint64		xmin;
	uint64		xmax;
	int			nxip;
	uint64	   *xip;			/* sorted */
} AuditSnapshot;
extern void steward_audit_parse_snapshot(const char *text, AuditSnapshot *snap);
extern bool steward_audit_visible(const AuditSnapshot *snap, uint64 xid);
extern bool steward_audit_snapshot_follows(const AuditSnapshot *snap,
										   const AuditSnapshot *prev);
extern bool steward_audit_snapshot_holds(const AuditSnapshot *snap,
										 const AuditSnapshot *prev,
										 const uint8 *entries, int64 n);

/* a block as stored; has_* is false when a hash is not AUDIT_HASH_LEN bytes */
typedef struct AuditBlock
{
	int64		block_id;
	int			format;
	int64		first_position;
	int64		count;
	TimestampTz sealed_at;
	char	   *snap_text;
	AuditSnapshot snap;
	bool		has_root;
	bool		has_prev_hash;
	bool		has_hash;
	uint8		root[AUDIT_HASH_LEN];
	uint8		prev_hash[AUDIT_HASH_LEN];
	uint8		hash[AUDIT_HASH_LEN];
	uint8	   *entries;		/* count * AUDIT_ENTRY_LEN, NULL if not that */
	Size		entries_size;	/* bytes allocated at entries */
	void	   *entries_alloc;	/* the allocation entries is in (to pfree) */
} AuditBlock;

/* format.c */
extern void steward_audit_event_bytes(StringInfo buf, const Datum *values,
									  const bool *isnull, bool strict);
/* an event prepared for hashing (steward_audit_event_prepare) */
typedef struct AuditEventHash
{
	const char *msg;			/* the commitment's message; NULL: none to
								 * compute, the state is known */
	size_t		msglen;
	uint8		commitment[AUDIT_HASH_LEN]; /* the stored one */
} AuditEventHash;

extern uint8 steward_audit_event_prepare(const Datum *values, const bool *isnull,
										 StringInfo bytes, StringInfo scratch,
										 AuditEventHash *h);
extern uint8 steward_audit_event_state(const AuditEventHash *h, const uint8 *c);
extern uint8 steward_audit_event_check_values(const Datum *values, const bool *isnull,
											  StringInfo bytes, StringInfo scratch,
											  uint8 *leaf);
extern void steward_audit_commitment(const uint8 *salt, const char *payload,
									 size_t len, uint8 *out);
extern void steward_audit_merkle_root(const uint8 *leaves, int64 n, uint8 *out);
extern void steward_audit_entries_root(const uint8 *entries, int64 n, uint8 *out);
extern bool steward_audit_block_hash(const AuditBlock *b, const uint8 *prev,
									 uint8 *out);
extern void steward_audit_put_int64(uint8 *p, int64 v);

/* a big-endian int64 at p, as steward_audit_put_int64 writes it */
static inline int64
steward_audit_get_int64(const uint8 *p)
{
	uint64		u;

	memcpy(&u, p, sizeof(u));
	return (int64) pg_ntoh64(u);
}

/* entry i of a block's entries, and the fields of the entry at e */
static inline const uint8 *
steward_audit_entry(const uint8 *entries, int64 i)
{
	return entries + i * AUDIT_ENTRY_LEN;
}

static inline int64
steward_audit_entry_id(const uint8 *e)
{
	return steward_audit_get_int64(e + AUDIT_ENTRY_ID);
}

static inline uint64
steward_audit_entry_xid(const uint8 *e)
{
	return (uint64) steward_audit_get_int64(e + AUDIT_ENTRY_XID);
}

static inline int64
steward_audit_entry_time(const uint8 *e)
{
	return steward_audit_get_int64(e + AUDIT_ENTRY_TIME);
}

static inline const uint8 *
steward_audit_entry_leaf(const uint8 *e)
{
	return e + AUDIT_ENTRY_LEAF;
}

/* jsontext.c */
struct JsonbContainer;
extern void steward_audit_jsonb_text(StringInfo out, const struct JsonbContainer *root);

extern char *steward_audit_hex(const uint8 *bytes, int len);
extern bool steward_audit_unhex(const char *hex, uint8 *out, int len);
extern bool steward_audit_time_encodable(TimestampTz t);
extern void steward_audit_check_time(TimestampTz t, const char *what);
extern void steward_audit_refuse_time(const char *what) pg_attribute_noreturn();
extern int64 steward_audit_unix_micros(TimestampTz t);
extern bool steward_audit_from_unix_micros(int64 us, TimestampTz *t);

/* toast.c */
extern struct varlena *steward_audit_detoast(struct varlena *attr, struct varlena *into, Size into_size);

/* block.c */
/* where the chain stands before a block */
typedef struct AuditChainEnd
{
	int64		next_block;
	int64		next_position;
	uint8		prev_hash[AUDIT_HASH_LEN];
	int			format;			/* of the previous block; 0: none */
	const AuditSnapshot *snap;	/* of the previous block; NULL: none */
} AuditChainEnd;

typedef struct AuditBlockProblem
{
	int64		block_id;
	int64		position;
	char	   *text;
} AuditBlockProblem;

extern bool steward_audit_blocks_have_format(void);
extern char *steward_audit_block_select(const char *entries, const char *rest);
extern void steward_audit_chain_start(AuditChainEnd *end);
extern void steward_audit_read_block(HeapTuple tuple, TupleDesc desc, AuditBlock *b,
									 uint8 *spare, Size spare_size);
extern bool steward_audit_check_block(const AuditBlock *b, const AuditChainEnd *before,
									  AuditBlockProblem *problem);
extern bool steward_audit_read_head(AuditBlock *head, const AuditBlock *known);
extern void steward_audit_refuse_xid_behind(uint64 ledger_xmax, uint64 current);

/* digest.c: a digest audit_digest() returned */
typedef struct AuditDigest
{
	int64		block;			/* the newest sealed block; 0: none */
	int64		position;		/* its last chain position = the tree size */
	uint8		hash[AUDIT_HASH_LEN];
	int64		tree_size;		/* the tree it names: position when absent */
	bool		has_tree_root;	/* digests from 0.5.0 name the tree's root */
	uint8		tree_root[AUDIT_HASH_LEN];
} AuditDigest;

extern void steward_audit_parse_digest(Datum jsonb, const char *argname, AuditDigest *dg);
extern bool steward_audit_digest_matches(const AuditDigest *dg, bool *exists);

/* tree.c: the ledger tree */
#define AUDIT_TREE_TILE_LEVEL	8	/* nodes of 2^8 leaves and up are stored */
extern int64 steward_audit_tree_split(int64 n);
extern int64 steward_audit_tree_sealed_size(void);
extern void steward_audit_tree_read_leaves(int64 start, int64 count, uint8 *out);
extern void steward_audit_tree_subtree(int64 start, int64 n, uint8 *out);
extern void steward_audit_tree_root(int64 n, uint8 *out);
extern void steward_audit_tree_extend(int64 size);

/* insert.c: an event's row (AuditColumn order, AUDIT_NCOLS values) */
extern int64 steward_audit_store(Datum *values, bool *isnull);

/* append.c */
extern void steward_audit_check_event_type(const char *event_type);
extern int64 steward_audit_insert(const AuditInput *in);
extern int64 steward_audit_ledger_event(const char *action, const char *resource_type,
										 const char *resource_id);
extern void steward_audit_bypass_begin(void);
extern void steward_audit_bypass_end(void);

/* seal.c */
extern int	steward_audit_block_max_events;
extern int64 steward_audit_seal_now(bool quiet);
extern bool steward_audit_pending(void);

/* sealer.c */
extern int	steward_audit_seal_interval_ms;
extern void steward_audit_shmem_request(void);
extern void steward_audit_shmem_startup(void);
extern void steward_audit_request_sealer(void);
extern bool steward_audit_start_sealer_worker(Oid dbid);
extern PGDLLEXPORT void steward_sealer_main(Datum arg);

#endif							/* STEWARD_AUDIT_H */
