/*-------------------------------------------------------------------------
 *
 * pg_steward.h
 *	  Declarations shared by the files of the pg_steward command-line
 *	  client: exit statuses, the parsed options, the migrations found in a
 *	  folder, and the functions each file offers the others.
 *
 * The client speaks to the server only through the extension's SQL API
 * (schema steward), and every value travels as a parameter of
 * PQexecParams: no SQL text is ever built from a value.
 *
 * client/pg_steward.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_STEWARD_CLIENT_H
#define PG_STEWARD_CLIENT_H

#include "postgres_fe.h"

#include <pthread.h>
#include <signal.h>

#include "libpq-fe.h"
#include "pqexpbuffer.h"
#include "common/sha256.h"
#include "common/merkle.h"
#include "common/ledger_rules.h"

/* Exit statuses: the one table is in docs/client.md, "Exit status". */
#define EXIT_OK				0	/* everything done, nothing found */
#define EXIT_FINDINGS		1	/* a check failed or a migration was not applied */
#define EXIT_USAGE			2	/* bad options or arguments, unusable folder */
#define EXIT_CONNECTION		3	/* could not connect */
#define EXIT_SERVER			4	/* could not check: an SQL error, missing feature */
#define EXIT_INTERRUPTED	5	/* interrupted by SIGINT or SIGTERM */
#define EXIT_WARNINGS		6	/* lint: warnings only, with --fail-on warning */

/* one accepted finding: --allow VERSION:RULE --reason TEXT, or a line of
 * steward-accept.txt; version "*" matches every migration */
typedef struct AllowEntry
{
	char	   *version;
	char	   *rule;
	char	   *reason;
	char	   *origin;			/* "--allow" or "FILE:LINE", for messages */
} AllowEntry;

typedef struct AllowList
{
	AllowEntry *items;
	int			n;
	int			cap;
} AllowList;

typedef enum FailOn
{
	FAIL_ON_ERROR,
	FAIL_ON_WARNING,
	FAIL_ON_NONE
} FailOn;

typedef struct ClientOptions
{
	/* connection */
	const char *dbname;
	const char *host;
	const char *port;
	const char *username;
	int			prompt_password;	/* -1 never (-w), 0 when needed, 1 always (-W) */

	/* deploy */
	bool		dry_run;
	const char *target;
	AllowList	allows;
	bool		restore_point;
	bool		allow_skipped;
	bool		out_of_order;
	const char *layout;

	/* lint */
	const char *format;
	FailOn		fail_on;

	/* ledger */
	const char *digest_file;
	const char *old_digest_file;
	const char *out_file;
	const char *state_file;
	const char *sign_key;		/* digest --sign-key: a private Ed25519 key */
	const char *public_key;		/* its public key, to check FILE.sig */
	bool		with_payload;

	/* waiting */
	double		timeout;		/* seconds; 0: no limit */

	bool		verbose;
} ClientOptions;

/* what the server's pg_steward offers beyond 0.3.0 */
typedef struct ServerFeatures
{
	char	   *extversion;
	bool		version_from_name;	/* steward.version_from_name(text) */
	bool		apply_allow;	/* migrate_apply(allow => text[]) */
	bool		lint_allow;		/* migrate_lint(allow => text[]) */
	bool		lint_line;		/* migrate_lint's column line */
	bool		ledger_tree;	/* audit_proof, audit_consistency (0.5.0) */
} ServerFeatures;

typedef enum LayoutKind
{
	LAYOUT_NONE,
	LAYOUT_PRISMA,
	LAYOUT_FLYWAY,
	LAYOUT_PAIRS
} LayoutKind;

/* one migration found in a folder */
typedef struct Migration
{
	char	   *name;			/* the folder or file stem, as found */
	char	   *version;		/* the version migrate_apply gets */
	char	   *description;	/* passed as description => */
	char	   *up_path;		/* NULL when skipped */
	char	   *down_path;		/* NULL: none */
	char	   *order_key;		/* the layout's own order */
	bool		repeatable;		/* Flyway R__ */
	const char *skip_reason;	/* non-NULL: reported as skipped */
} Migration;

typedef struct MigrationSet
{
	LayoutKind	kind;
	char	   *dir;
	Migration  *items;
	int			n;
} MigrationSet;

/* main.c */
extern const char *progname;

/* output.c */
extern void fail_usage(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();
extern void print_server_error(const char *what, const PGresult *res);
extern void append_json_string(PQExpBuffer buf, const char *s);
extern void print_table(const PGresult *res, const char *const *headers, int ncols);
extern bool stdout_is_tty(void);
extern char *file_read(const char *path, size_t *len);
extern char *file_read_bytes(const char *path, size_t max, size_t *len);
extern bool file_write_atomic(const char *path, const char *text);
extern bool file_write_atomic_bytes(const char *path, const char *data, size_t len);

/* interrupt.c */
extern volatile sig_atomic_t interrupted;
extern void interrupt_setup(void);
extern void interrupt_set_conn(PGconn *conn);

/* conn.c */
extern PGconn *client_connect(const ClientOptions *opts);
extern PGresult *exec_params(PGconn *conn, const char *sql, int nparams,
							 const char *const *values);
extern bool client_utf8(PGconn *conn);
extern bool result_ok(const PGresult *res);
extern const char *result_sqlstate(const PGresult *res);
extern bool server_features(PGconn *conn, ServerFeatures *features);

/* layout.c */
extern bool layout_scan(const char *dir, const char *force, MigrationSet *set);
extern const char *layout_name(LayoutKind kind);

/* naming.c */
extern bool naming_resolve(PGconn *conn, const ServerFeatures *features,
						   MigrationSet *set);

/* accept.c */
extern bool allow_add_option(AllowList *list, const char *arg);
extern bool allow_set_reason(AllowList *list, const char *reason);
extern bool allow_check_complete(const AllowList *list);
extern bool accept_file_load(const char *dir, AllowList *list);
extern int	allow_collect(const AllowList *list, const Migration *m,
						  const char ***elements);
extern void allow_copy(AllowList *dst, const AllowList *src);

/* jobs.c */
extern int	job_wait_progress(PGconn *conn, const char *job_id,
							  const ClientOptions *opts, const char *indent,
							  char **final_state);
extern int	cmd_jobs(const ClientOptions *opts);
extern int	cmd_wait(const ClientOptions *opts, const char *job_id);

/* deploy.c */
extern int	cmd_deploy(const ClientOptions *opts, const char *dir);

/* lint.c, lint_format.c */
typedef struct LintFinding
{
	char	   *file;
	int			line;
	int			statement;
	char	   *rule;
	char	   *severity;
	char	   *lock_mode;
	char	   *relation;
	char	   *message;
	char	   *safe_alternative;
	char	   *silenced;
} LintFinding;

extern int	cmd_lint(const ClientOptions *opts, int nargs, char **args);
extern bool lint_format_known(const char *format);
extern void lint_format_print(const char *format, const LintFinding *f, int n,
							  int nfiles);

/* ledger.c */
extern int	cmd_verify(const ClientOptions *opts);
extern int	cmd_digest(const ClientOptions *opts);
extern int	cmd_proof(const ClientOptions *opts, const char *event_id);
extern int	cmd_consistency(const ClientOptions *opts);

/* check.c: never connects */
extern int	cmd_check_proof(const ClientOptions *opts, const char *file);

/* a ledger digest file as read without a server (check.c) */
typedef struct DigestHead
{
	int64		block;
	int64		position;
	uint8		hash[32];
	bool		has_root;		/* tree_root given (digests from 0.5.0, v2) */
	int64		tree_size;		/* position when absent */
	uint8		root[32];
} DigestHead;

extern int	digest_file_read(const char *path, const char *public_key, bool need_root,
							 DigestHead *dg);

/* export.c */
extern int	cmd_export(const ClientOptions *opts);

/* verify_export.c: never connects */
extern int	cmd_verify_export(const ClientOptions *opts, const char *file);

/* tree.c: SHA-256, the ledger's Merkle trees, RFC 9162 proofs */
#define TREE_HASH_LEN 32

typedef struct Hasher
{
	StewardSha256 ctx;
} Hasher;

/* the roots of the complete subtrees of the leaves so far, largest first */
typedef struct TreeStack
{
	uint64		size;			/* leaves pushed */
	int			depth;
	uint8		hash[64][TREE_HASH_LEN];
} TreeStack;

extern void hasher_start(Hasher *h);
extern void hasher_add(Hasher *h, const void *data, size_t len);
extern void hasher_end(Hasher *h, uint8 *out);
extern void tree_sha256(uint8 prefix, const void *a, size_t alen, const void *b, size_t blen,
						uint8 *out);
extern void tree_node(const uint8 *left, const uint8 *right, uint8 *out);
extern void tree_stack_init(TreeStack *t);
extern void tree_stack_push(TreeStack *t, const uint8 *leaf);
extern void tree_stack_root(const TreeStack *t, uint8 *out);
extern int	tree_aligned_height(uint64 size, int64 left, uint64 stop);
extern void tree_stack_push_subtree(TreeStack *t, const uint8 *root, int height);

/* sign.c */
extern void *sign_key_load(const char *path);
extern bool sign_write(void *key, const char *data, size_t len, const char *sigpath);
extern int	sign_check(const char *path, const char *data, size_t len, const char *pubpath);

/* json.c: flat JSON documents (strings, integers, booleans, null, arrays of strings) */
typedef enum JsonKind
{
	JSON_STRING,
	JSON_INTEGER,
	JSON_BOOL,
	JSON_NULL,
	JSON_ARRAY,					/* of strings */
	JSON_RAW					/* json_parse_line: a nested object or array,
								 * as its text */
} JsonKind;

typedef struct JsonMember
{
	char	   *key;
	size_t		keylen;			/* json_parse_line only */
	JsonKind	kind;
	char	   *str;			/* JSON_STRING: the text (UTF-8, no NUL);
								 * JSON_INTEGER: its digits */
	size_t		len;			/* of str */
	int64		integer;		/* JSON_INTEGER: 0 to 18 digits */
	bool		boolean;
	char	  **items;			/* JSON_ARRAY */
	int			nitems;
} JsonMember;

/* whether a member's string (its key) is exactly the literal lit */
#define JSON_STR_IS(m, lit) \
	((m)->len == sizeof(lit) - 1 && memcmp((m)->str, lit, sizeof(lit) - 1) == 0)
#define JSON_KEY_IS(m, lit) \
	((m)->keylen == sizeof(lit) - 1 && memcmp((m)->key, lit, sizeof(lit) - 1) == 0)

typedef struct JsonObject
{
	JsonMember *members;
	int			n;
} JsonObject;

extern bool json_read_object(const char *text, size_t len, JsonObject *obj, PQExpBuffer error);
extern const JsonMember *json_member(const JsonObject *obj, const char *key);
extern bool json_parse_line(char *text, size_t len, JsonMember *members, int max, int *n,
							PQExpBuffer error);
extern void json_init(void);
extern bool json_parse_line_as(char *text, size_t len, const char *const *names,
							   const size_t *namelens, int n, JsonMember *members, char *side,
							   PQExpBuffer error, bool *fits);
extern int	json_array_next(const char *text, size_t len, size_t *pos, const char **elem,
							size_t *elen, PQExpBuffer error);

/* export_lines.c: an export's lines, a chunk at a time, prepared by two threads */
#define EXPORT_MAX_MEMBERS	24
#define SALT_LEN			16

/* the first and the last time the byte format encodes, in µs since 1970 */
#define TIME_MIN_US		INT64CONST(-210866803200000000)
#define TIME_MAX_US		INT64CONST(9223371244799999999)

/* payload states (docs/audit.md, rule E6) */
#define STATE_INTACT		0
#define STATE_MISMATCH		1
#define STATE_STRAY_SALT	2
#define STATE_REDACTED		3

/* export_event_leaf's results */
#define EXPORT_LEAF_OK			0
#define EXPORT_LEAF_COMMITMENT	1	/* the commitment is not hex */
#define EXPORT_LEAF_SALT		2	/* the salt is not hex */

/* an event line's members, in the order export writes them */
enum
{
	E_KIND, E_ID, E_XID, E_TIME, E_TYPE, E_ACTION, E_RTYPE, E_RID, E_ACTOR, E_SESSION, E_CURRENT,
	E_ADDR, E_APP, E_COMMITMENT, E_SALT, E_PAYLOAD, E_N
};
extern const char *const export_event_names[E_N];

/* a block line's members, in the order export writes them */
enum
{
	B_KIND, B_ID, B_FORMAT, B_SNAPSHOT, B_FIRST, B_COUNT, B_SEALED, B_ROOT, B_PREV, B_HASH, B_ENTRIES,
	B_N
};
extern const char *const export_block_names[B_N];

#define EXPORT_ENTRY_LEN	56
#define EXPORT_ENTRY_LEAF	24		/* where an entry's leaf starts */

/* a subtree of the ledger tree a block's leaves complete: 2^height leaves */
typedef struct ExportPiece
{
	int			height;
	uint8		root[TREE_HASH_LEN];
} ExportPiece;

/* buffers one thread reuses for every event */
typedef struct EventScratch
{
	uint8	   *bytes;			/* 0x00 ‖ the event bytes */
	size_t		nbytes;
	size_t		bytes_cap;
	uint8	   *message;		/* 0x02 ‖ salt ‖ payload */
	size_t		nmessage;
	size_t		message_cap;
	uint8	   *hexed;			/* the commitment's and the salt's bytes */
	size_t		hexed_cap;
} EventScratch;

typedef struct ExportLine
{
	char	   *text;			/* NUL-terminated, without its newline */
	size_t		len;
	int64		lineno;
	bool		parsed;			/* else error says why */
	char	   *error;
	int			n;
	JsonMember	members[EXPORT_MAX_MEMBERS];
	bool		hashed;			/* an event as export writes it: leaf and state */
	int			state;
	uint8		leaf[TREE_HASH_LEN];
	/* a block as export writes it, its entries whole hex: */
	bool		block_prepared;
	uint8	   *entries;		/* decoded (owned by the line until its slot
								 * is filled again) */
	size_t		entries_cap;	/* the bytes allocated at entries */
	uint8		block_root[TREE_HASH_LEN];	/* the Merkle root of its leaves */
	uint8		entries_digest[TREE_HASH_LEN];	/* H(0x04 ‖ entries) */
	int32	   *index;			/* its entries by id (export_index_entries) */
	uint32		nindex;
	int64	   *twice;			/* entries whose id an earlier one has */
	int64		ntwice;
	int64		pieces_at;		/* the ledger tree's size the pieces start at */
	int			npieces;
	ExportPiece *pieces;		/* its leaves as aligned subtrees, in order
								 * (allocated with entries) */
} ExportLine;

#define EXPORT_SLOTS 4

typedef enum ExportSlotState
{
	SLOT_EMPTY,					/* for the reader to fill */
	SLOT_FILLED					/* lines cut (being prepared); no line: the end */
} ExportSlotState;

/* a chunk of lines and the bytes they are in */
typedef struct ExportSlot
{
	ExportSlotState state;		/* under ExportLines.mutex */
	char	   *buf;
	char	   *side;			/* as large as buf: a line's decoded strings
								 * go where its text is in buf */
	size_t		cap;
	size_t		end;			/* bytes read into buf */
	size_t		used;			/* bytes of the lines cut (the rest: the next chunk's) */
	size_t		bytes;			/* the lines' lengths */
	ExportLine *lines;
	int			nlines;
	int			claimed;		/* lines taken by a thread to prepare */
	int			prepared;		/* lines prepared */
	/*
	 * A block line's entries buffer and id index, kept from the slot's
	 * previous chunk for its next block line (under spare_lock): buffers of
	 * megabytes allocated and freed for every block cost a page fault per
	 * page every time.
	 */
	pthread_mutex_t spare_lock;
	uint8	   *spare_entries;
	size_t		spare_entries_cap;
	int32	   *spare_index;
	uint32		spare_nindex;
} ExportSlot;

/* one thread's buffers for preparing lines */
typedef struct ExportShare
{
	EventScratch scratch[2];	/* two events hashed side by side */
	PQExpBufferData err;
	uint8	   *tree_scratch;	/* steward_merkle_root's */
	int64		tree_scratch_n;
	uint8	   *groups;			/* a block's subtree roots (prepare_block) */
	int64		groups_n;
	uint8	   *split_scratch;	/* the scratch of a block's other half */
	int64		split_scratch_n;
} ExportShare;

typedef struct ExportLines
{
	const char *path;
	int			fd;
	bool		eof;			/* the reader's */
	int64		lineno;			/* the reader's */
	ExportLine *lines;			/* the chunk returned */
	int			nlines;
	ExportSlot	slots[EXPORT_SLOTS];
	ExportShare shares[2];		/* the caller's, the reader's */
	pthread_t	reader;
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	bool		stop;			/* under mutex: the reader is to stop */
	int			head;			/* the slot the caller takes next */
	int			current;		/* the slot returned; -1: none */
} ExportLines;

extern void export_lines_open(ExportLines *r, const char *path);
extern bool export_lines_next(ExportLines *r);
extern void export_lines_close(ExportLines *r);
extern bool export_unhex(const char *s, size_t len, uint8 *out);
extern int64 export_index_entries(const uint8 *entries, int64 count, int32 **index, uint32 *nindex,
								  int64 **twice, int64 *twice_cap);

/* where an id's search in an index of entries starts (mask: its size - 1) */
static inline uint32
export_id_slot(int64 id, uint32 mask)
{
	uint64		h = (uint64) id * UINT64CONST(0x9E3779B97F4A7C15);

	return (uint32) (h >> 32) & mask;
}
extern int	export_event_leaf(const JsonMember *const *m, int64 id, uint64 xid, bool encodable,
							  int64 time_us, EventScratch *s, uint8 *leaf, int *state);

/* status.c */
extern int	cmd_status(const ClientOptions *opts);
extern int	cmd_history(const ClientOptions *opts, const char *version);
extern int	cmd_rollback(const ClientOptions *opts, const char *version);

#endif							/* PG_STEWARD_CLIENT_H */
