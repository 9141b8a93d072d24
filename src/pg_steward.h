/*-------------------------------------------------------------------------
 *
 * pg_steward.h
 *	  Declarations shared by the four areas of pg_steward (migrations,
 *	  review, jobs, audit) and by the common layer under src/common.
 *
 * Words used throughout the code:
 *	  migration  - a version string plus its up_sql (and optional down_sql),
 *				   recorded as one row of steward.migrations.
 *	  attempt    - one run of a migration's up_sql (apply) or down_sql
 *				   (rollback); every attempt ends as one row of
 *				   steward.migration_events.
 *	  recorder   - a short-lived background worker that commits bookkeeping
 *				   rows in its own transaction, so that they survive the
 *				   rollback of the caller's transaction.
 *	  owner      - the role owning the schema "steward"; bookkeeping SQL runs
 *				   as this role with a pinned search_path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_STEWARD_H
#define PG_STEWARD_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

#define STEWARD_SCHEMA				"steward"
#define STEWARD_MAX_VERSION_LEN		128
#define STEWARD_MAX_DESCRIPTION_LEN 1024

/* GUCs (src/pg_steward.c) */
extern int	steward_lock_timeout_ms;
extern int	steward_statement_timeout_ms;
extern int	steward_lock_retries;
extern int	steward_lock_retry_delay_ms;
extern int	steward_lock_retry_max_delay_ms;

/* common/checksum.c */
extern char *steward_normalize_sql(const char *sql);
extern char *steward_checksum(const char *sql);
extern char *steward_sha256_hex(const char *data, size_t len);

/* common/sha256.c, merkle.c, ledger_rules.c (shared with the client) */
#include "common/sha256.h"
#include "common/merkle.h"
#include "common/ledger_rules.h"

/* common/spi_util.c */
typedef struct StewardOwnerScope
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} StewardOwnerScope;

extern Oid	steward_owner(void);
extern void steward_owner_scope_begin(StewardOwnerScope *scope, bool as_owner);
extern void steward_owner_scope_end(StewardOwnerScope *scope);
extern void steward_exec_as_owner(const char *sql, int nargs,
								  const char *const *args);
extern char **steward_query_row_as_owner(const char *sql, int nargs,
										 const char *const *args, int *ncols);
extern char *steward_query_text_as_owner(const char *sql, int nargs,
										 const char *const *args,
										 bool *isnull);
extern char *steward_query_text_as_caller(const char *sql, int nargs,
										  const char *const *args,
										  bool *isnull);

extern void steward_return_query_as_owner(FunctionCallInfo fcinfo, const char *sql,
										  int nargs, const char *const *args);
extern char *steward_capture_who(void);

/* common/recorder.c */
extern bool steward_record_autonomous(const char *sql, int nargs,
									  const char *const *args,
									  char **errmsg_out);
extern PGDLLEXPORT void steward_recorder_main(Datum main_arg);
extern void steward_recorder_shmem_request(void);
extern void steward_recorder_shmem_startup(void);

/* common/subxact.c */
extern void steward_arm_statement_timer(int ms);
extern void steward_disarm_statement_timer(void);
extern bool steward_statement_timer_fired(void);
extern void steward_begin_lock_timeout(int ms);
extern void steward_end_lock_timeout(void);
extern bool steward_lock_watch_fired(void);
extern void steward_explain_cancel(ErrorData *edata, const char *owner,
								   int statement_timeout_ms);
extern int	steward_backoff_ms(int retry);
extern bool steward_sleep_ms(int ms, bool wake_on_latch);
extern bool steward_run_subxact(void (*fn) (void *arg), void *arg, const char *owner,
								int timeout_ms, ErrorData **edata_out);
extern bool steward_try_lookup(void (*fn) (void *arg), void *arg, const char *owner,
							   int timeout_ms, ErrorData **edata_out);
extern bool steward_run_subxact_rollback(void (*fn) (void *arg), void *arg,
										 const char *owner, int timeout_ms,
										 ErrorData **edata_out);

/* common/args.c */
extern void steward_require_read_write(const char *what);
extern void steward_require_read_committed(const char *fn);
extern const char *steward_version_problem(const char *v, size_t len, size_t *position);
extern char *steward_check_version(const char *fname, text *version);
extern char *steward_optional_text(text *t, const char *argname, int maxlen);
extern int	steward_interval_to_ms(Interval *iv, const char *argname,
								   bool allow_zero);
extern int	steward_interval_arg_ms(FunctionCallInfo fcinfo, int n, const char *argname,
									int dflt, bool allow_zero);
extern bool steward_owns_relation(Oid relid);
extern List *steward_parse_sql_arg(const char *sql, const char *what);
extern struct Query *steward_analyze_sql_arg(const char *sql, const char *what);
extern char *steward_shown_text(const char *text, int len, int maxbytes);

/* common/bgworker.c */
struct BackgroundWorker;
extern void steward_bgworker_init(struct BackgroundWorker *worker, const char *function,
								  const char *type, int restart_secs,
								  const void *extra, Size extra_size);
extern void steward_bgworker_begin(void *extra, Size extra_size, bool has_loop);
extern void steward_bgworker_connect(Oid dbid, Oid roleid, const char *application_name);

/* common/launch.c: what the launcher (src/jobs/launcher.c) is asked to start */
typedef enum StewardLaunchKind
{
	STEWARD_LAUNCH_JOB,			/* a job worker for job_id, connecting as roleid */
	STEWARD_LAUNCH_SEALER		/* the audit sealer of the database */
} StewardLaunchKind;

/* shmem.c: find or create a shared struct, zeroed, its spinlock set up */
extern void *steward_shmem_init(const char *name, Size size, Size mutex_offset,
								bool *created);

/* What the launcher hands to the workers it starts (bgw_extra). */
typedef struct StewardWorkerExtra
{
	Oid			dbid;
	Oid			roleid;
	int64		job_id;
	int			slot;
	bool		login_refused;	/* roleid can no longer connect: fail the job */
} StewardWorkerExtra;

extern void steward_launch_shmem_request(void);
extern void steward_launch_shmem_startup(void);
extern void steward_launch_request(StewardLaunchKind kind, Oid dbid, Oid roleid,
								   int64 job_id);
extern void steward_launch_requeue(StewardLaunchKind kind, Oid dbid, Oid roleid,
								   int64 job_id);
extern bool steward_launch_next(StewardLaunchKind *kind, Oid *dbid, Oid *roleid,
								int64 *job_id);
extern void steward_launch_at_commit(StewardLaunchKind kind, Oid roleid, int64 job_id);
extern void steward_wake_at_commit(int pid);
extern void steward_jobs_changed_at_commit(void);
extern void steward_jobs_changed_prepare(void);
extern void steward_jobs_changed_sleep(int ms);
extern void steward_jobs_changed_done(void);
extern void steward_launch_set_launcher(void);

/* common/statement.c */
extern int	steward_statement_start(const char *sql, int location, int len,
									int *length);
extern int	steward_statement_first_token(const char *sql, int location, int len);
extern char *steward_statement_text(const char *sql, int location, int len);

typedef enum StewardTxClass
{
	STEWARD_TX_NONE,			/* not transaction control */
	STEWARD_TX_WRAPPER,			/* BEGIN or COMMIT of a wrapper: absorbed */
	STEWARD_TX_REFUSED			/* transaction control a migration refuses */
} StewardTxClass;

extern StewardTxClass *steward_classify_transaction_control(List *raw, const char ***why);

#endif							/* PG_STEWARD_H */
