/*-------------------------------------------------------------------------
 *
 * migrations.h
 *	  The migrations area: parsing a migration into statements, running an
 *	  attempt, the dry run (dryrun.c), the migration lock, and the state of
 *	  a version.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_MIGRATIONS_H
#define STEWARD_MIGRATIONS_H

#include "nodes/pg_list.h"

/* One statement of a migration, numbered from 1. */
typedef struct StewardStatement
{
	int			number;
	char	   *text;
	bool		deferred;		/* refuses a transaction block: run by a job */
	bool		absorbed;		/* BEGIN or COMMIT around the file: not run */
	const char *kind;			/* for deferred ones, e.g. "VACUUM" */
} StewardStatement;

/* One run of up_sql (op "apply") or down_sql (op "rollback"). */
typedef struct StewardAttempt
{
	const char *op;
	const char *version;
	List	   *statements;		/* of StewardStatement */
	const char *who;			/* steward_capture_who() */
	Oid			run_as;			/* run the statements as this role (the
								 * author of a down_sql); InvalidOid: as
								 * the current user */
	int			lock_timeout_ms;
	int			statement_timeout_ms;	/* 0: none */
	int			lock_retries;

	/* recorded by the start marker of an apply */
	const char *description;
	const char *checksum;
	const char *up_sql;
	const char *down_sql;

	/* review (apply only, src/review) */
	bool		guarded;		/* arm the runtime guards */
	bool		allow_unsafe;
	List	   *allow;			/* LintSilence: acceptances given with it */
	const char *review;			/* jsonb recorded with the attempt */
	const char *refusal;		/* error findings refuse the attempt: why */
	const char *refusal_detail;
	List	   *accepted_rewrites;	/* statements whose rewrite was silenced */
	List	   *pre_checks;		/* char *: queries that must return no row */
	List	   *post_checks;

	/* results */
	int			applied;
	int			retries;
	int64		job_id;			/* the job running the deferred statements */
} StewardAttempt;

/* The stored state of one version, as steward.migration_state shows it. */
typedef struct StewardVersionState
{
	bool		exists;
	char	   *status;
	char	   *checksum;
	char	   *kind;
	bool		has_down_sql;
	bool		changed_here;	/* row written by the current transaction */
	char	   *newer_completed;	/* newest completed version above it */
	bool		tx_part_applied;	/* failed in its job: the transactional
									 * part is in the schema */
	int			error_statement;	/* of the latest failure, 0: none */
	int64		job_id;			/* job carrying it on, 0: none */
} StewardVersionState;

/* attempt.c */
extern List *steward_parse_migration(const char *version, const char *argname,
									 const char *sql, bool allow_deferred);
extern void steward_run_attempt(StewardAttempt *a);
extern void steward_execute_statement(StewardStatement *st, int timeout_ms,
									  bool guarded);
extern void steward_refuse_nested(void);
extern void steward_mark_running(bool running);
extern void steward_resume_deferred(StewardAttempt *a, int from_statement);
extern void steward_resolve_timeouts(StewardAttempt *a, Interval *lock_timeout,
									 Interval *statement_timeout,
									 bool retries_null, int32 retries);

/* deferred.c: the job kind "statements", registered with jobs by _PG_init */
struct StewardJobKind;
extern const struct StewardJobKind steward_statements_kind;
extern int64 steward_statements_job_submit(const char *version, List *deferred, int total);

/* lock.c */
extern void steward_migration_lock(const char *what);

/* state.c */
extern void steward_version_state(const char *version, StewardVersionState *st);
extern void steward_refuse_changed_here(const char *version,
										const StewardVersionState *st);
extern void steward_refuse_unknown(const char *version,
								   const StewardVersionState *st);

#endif							/* STEWARD_MIGRATIONS_H */
