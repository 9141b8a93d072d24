/*-------------------------------------------------------------------------
 *
 * review.h
 *	  The review area: lint of migration SQL, the runtime guards and the
 *	  pre- and post-checks of a migration.  (The dry run, which runs a
 *	  migration under the guards, is src/migrations/dryrun.c.)
 *
 * Words used in this area:
 *	  rule     - one kind of risk the lint knows, named by a stable id such
 *				 as "set-not-null" (rules.c lists them all).
 *	  finding  - one rule firing on one statement of a migration, with the
 *				 lock it takes, the relation, its size and what to do instead.
 *	  graded   - a rule whose cost grows with the table (a scan, a rewrite,
 *				 an index build): info on an empty table, warning below
 *				 pg_steward.large_table_threshold, error at or above it.
 *	  new      - a relation created earlier in the same migration (or in
 *				 the current transaction): nothing on it is a finding but
 *				 hygiene, since nobody else can be using it yet.
 *	  silence  - a comment "steward:allow <rule> <reason>" in or just before
 *				 a statement; it turns that rule's finding into a recorded,
 *				 non-blocking one.
 *	  guard    - the runtime check that sees what the lint cannot: DDL run
 *				 from DO blocks, functions and dynamic SQL, and table
 *				 rewrites (runtime_guard.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_REVIEW_H
#define STEWARD_REVIEW_H

#include "nodes/parsenodes.h"
#include "storage/lockdefs.h"
#include "utils/array.h"
#include "utils/hsearch.h"

typedef enum LintSeverity
{
	LINT_INFO = 0,
	LINT_WARNING,
	LINT_ERROR
} LintSeverity;

typedef enum LintGrading
{
	GRADE_NONE,					/* fixed severity */
	GRADE_SIZE,					/* info empty, warning small, error large */
	GRADE_EMPTY					/* warning on an empty table, else error */
} LintGrading;

typedef struct LintRule
{
	const char *id;
	LintSeverity severity;		/* for GRADE_SIZE: the small-table one */
	LintGrading grading;
	const char *effect;			/* "rewrite", "scan", "index build", "none" */
	const char *why;
	const char *instead;
} LintRule;

typedef struct LintFinding
{
	int			statement;
	int			line;			/* line of the statement's first token, 1-based */
	const char *statement_text;
	const LintRule *rule;
	LintSeverity severity;
	LOCKMODE	lockmode;		/* NoLock: none or unknown */
	char	   *relation;		/* NULL: none */
	int64		table_size;		/* bytes, -1: not applicable */
	char	   *message;
	char	   *instead;
	char	   *silenced;		/* reason, NULL: not silenced */
	int			seq;			/* order of emission, for a stable sort */
} LintFinding;

/* keymap.c: text keys of any length, looked up in constant time */
typedef struct StewardKeyEntry
{
	char	   *key;
	void	   *value;			/* the user's */
	List	   *items;			/* the user's */
	int			number;			/* the user's */
} StewardKeyEntry;

extern StewardKeyEntry *steward_key_entry(HTAB **map, MemoryContext cxt,
										  const char *key, bool create);
extern bool steward_key_member(HTAB *map, const char *key);

/* rules.c */
extern const LintRule *steward_lint_rule(const char *id);
extern const char *steward_lint_severity_name(LintSeverity s);
extern int	steward_lint_rule_count(void);
extern int	steward_lint_rule_index(const LintRule *rule);
extern const LintRule *steward_lint_rule_at(int i);

/* lint.c */

/* The recorded review keeps at most this many findings (and their number). */
#define REVIEW_RECORDED_FINDINGS 1000
/* A refusal's detail names at most this many unsafe findings. */
#define REVIEW_SHOWN_FINDINGS 50

extern List *steward_lint_sql(const char *sql, List *allow);
extern List *steward_lint_runtime(Node *stmt, const char *text, int statement);
extern int	steward_lint_count(List *findings, LintSeverity severity,
							   bool unsilenced_only);
extern char *steward_lint_review_json(List *findings, bool allow_unsafe, List *allow,
									  List *pre_checks, List *post_checks);

/* catalog.c: facts the lint takes from the catalog */
extern int64 steward_relation_bytes(Oid relid);
extern bool steward_relation_is_new(Oid relid);
extern bool steward_expr_is_volatile(Node *raw_expr, bool *known);
extern int	steward_type_change_rewrites(Oid relid, AttrNumber attnum,
										 TypeName *newtype, Node *using_expr);
extern bool steward_column_proven_not_null(Oid relid, AttrNumber attnum);
extern bool steward_column_in_check(Oid relid, AttrNumber attnum, List *ignore);
extern bool steward_has_valid_check(Oid relid);
extern List *steward_check_not_null_columns(Oid relid, const char *conname);
extern char steward_constraint_type(Oid relid, const char *conname, Oid *confrelid);

/* A column of a table: relation and attribute number. */
typedef struct StewardColumn
{
	Oid			relid;
	AttrNumber	attnum;
} StewardColumn;

extern List *steward_domain_columns(List *names, bool *notnull);
extern bool steward_domain_has_constraints(TypeName *tn);
extern bool steward_index_covers(Oid relid, List *attnums);
extern bool steward_column_indexed(Oid relid, AttrNumber attnum);
extern bool steward_has_one_column_primary_key(Oid relid);

/* silence.c */
typedef struct LintSilence
{
	char	   *rule;
	char	   *reason;			/* NULL: none given */
	bool		used;
} LintSilence;

extern List *steward_lint_silences(const char *text);
extern List *steward_lint_parse_allow(ArrayType *arr);
extern List *steward_long_identifiers(const char *text);

/* runtime_guard.c */
extern void steward_guard_install(void);
extern void steward_guard_begin(bool allow_unsafe, bool record_only,
								List *accepted);
extern void steward_guard_statement(const char *text, int number);
extern void steward_guard_end(void);
extern List *steward_guard_collected(int *not_collected);

/* told of each table rewrite the guard sees (relid, reason of the event) */
typedef void (*StewardRewriteObserver) (Oid relid, int reason);
extern void steward_guard_observe_rewrites(StewardRewriteObserver observer);

/* checks.c */
extern List *steward_parse_checks(ArrayType *checks, const char *argname);
extern void steward_run_checks(List *checks, const char *what);

/* expand_hint.c: the expand/contract call for a finding's safe alternative */
extern char *steward_expand_hint_rename(Oid relid, const char *column,
										const char *new_name);
extern char *steward_expand_hint_type(Oid relid, AttrNumber attnum,
									  TypeName *newtype, bool has_using);
extern char *steward_expand_hint_require(Oid relid, const char *column);

/* GUC (src/pg_steward.c) */
extern int	steward_large_table_kb;

#endif							/* STEWARD_REVIEW_H */
