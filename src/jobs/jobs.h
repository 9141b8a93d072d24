/*-------------------------------------------------------------------------
 *
 * jobs.h
 *	  The jobs area: long data work run inside PostgreSQL in batches.
 *
 * Words:
 *	  job		 a row of steward.jobs: kind, arguments, owner role, state,
 *				 progress.  It is the definition and its whole history.
 *	  batch		 one transaction of a job's work; it also writes the job's
 *				 checkpoint, so a job resumes after its last committed batch.
 *	  launcher	 the static background worker started with the server when
 *				 pg_steward is in shared_preload_libraries; it starts job
 *				 workers as requests arrive, up to pg_steward.max_jobs.
 *	  job worker a dynamic background worker that runs one job; it connects
 *				 as the submitter's login role and runs the job's SQL as the
 *				 job's owner role, with search_path pinned.
 *	  dispatcher a dynamic background worker the launcher starts once per
 *				 database at server start: it requests a job worker for every
 *				 job that was queued or running when the server stopped.
 *	  request	 (STEWARD_LAUNCH_JOB, database, login role, job id) in
 *				 shared memory: "start a job worker for this job"
 *				 (src/common/launch.c).  Submitting backends add requests
 *				 when their transaction commits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_JOBS_H
#define STEWARD_JOBS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/jsonb.h"

/* GUCs (src/pg_steward.c) */
extern int	steward_max_jobs;
extern bool steward_copy_replayer;
extern int	steward_batch_statement_timeout_ms;
extern int	steward_max_replication_lag_ms;
extern int	steward_concurrent_lock_timeout_ms;
extern int	steward_max_replication_lag_kb;

/* Job states */
#define JOB_QUEUED		"queued"
#define JOB_RUNNING		"running"
#define JOB_PAUSED		"paused"
#define JOB_CANCELLING	"cancelling"
#define JOB_CANCELLED	"cancelled"
#define JOB_FAILED		"failed"
#define JOB_SUCCEEDED	"succeeded"

/* One job being run, by a job worker or by job_run in a session. */
typedef struct StewardJob
{
	int64		id;
	char	   *kind;
	Oid			relid;			/* table it writes (InvalidOid: none) */
	Oid			source;			/* copy_table's source */
	Oid			owner;			/* runs as this role */
	char	   *search_path;	/* pinned search_path */
	char	   *migration_version;	/* statements job of a migration */
	Jsonb	   *args;
	bool		in_worker;		/* false: job_run in a session */
	bool		resumed;		/* it had run before (crash, pause) */
	int			attempts;		/* runs started so far */

	/* progress, loaded from and written back to the row */
	int64		rows_done;
	int64		rows_estimate;
	char	   *current_key;	/* checkpoint: last key done */
	char	   *upper_key;		/* frozen upper bound */
	int64		batches;
	int			batch_size;
	double		rate;
	double		max_batch_ms;	/* longest batch so far */
	Oid			login_role;		/* a job worker connects as this role */
	bool		owner_ok;		/* submitted in this cluster: its role OIDs hold */
	char	   *owner_name;
	char	   *phase;

	/* settings from args */
	int			lock_timeout_ms;
	int			statement_timeout_ms;
	int			target_batch_ms;
	int			pause_ms;
	int			max_lag_ms;
	int			min_batch;
	int			max_batch;

	void	   *kind_state;		/* per-kind data, lives for the whole run */
} StewardJob;

/*
 * The key a backfill or a copy walks, as generated SQL uses it (key.c):
 * nothing in it is resolved through a search_path.
 */
typedef struct StewardKey
{
	const char *name;			/* the key column, quoted */
	const char *operand;		/* the column as the operators' operand */
	Oid			type;			/* type of key parameters */
	const char *gt;				/* OPERATOR(schema.>) of the key's btree family */
	const char *le;				/* ... <= */
	const char *eq;				/* ... = */
	Oid			infunc;			/* input function of type */
	Oid			ioparam;
	Oid			collation;		/* the column's collation, for cmpproc */
	Oid			cmpproc;		/* btree comparison function of the family */
	FmgrInfo	cmpfn;			/* ... looked up once */
} StewardKey;

/* What a batch function reports */
typedef enum StewardBatchResult
{
	BATCH_MORE,
	BATCH_DONE
} StewardBatchResult;

/*
 * A job kind.  Every callback runs inside a (sub)transaction set up by the
 * engine, as the job's owner with search_path pinned, except cleanup which
 * runs as the steward owner.
 */
typedef struct StewardJobKind
{
	const char *name;
	void		(*start) (StewardJob *job);		/* each run, first batch txn */
	StewardBatchResult (*batch) (StewardJob *job, int64 *rows);
	void		(*finish) (StewardJob *job);	/* after the last batch */
	void		(*cleanup) (StewardJob *job);	/* after cancel or failure */
	void		(*execute) (StewardJob *job);	/* instead of batches: runs its
												 * own transactions (worker only) */
	bool		non_transactional;	/* needs a top-level worker */
} StewardJobKind;

/* shmem.c */
extern void steward_jobs_shmem_request(void);
extern void steward_jobs_shmem_startup(void);
extern bool steward_jobs_preloaded(void);
extern int	steward_jobs_reserve_slot(Oid dbid, Oid roleid, int64 job_id);
extern void steward_jobs_release_slot(int slot);
extern void steward_jobs_set_slot_pid(int slot, int pid, bool clean_exit);
extern bool steward_jobs_get_slot(int slot, Oid *dbid, Oid *roleid, int64 *job_id,
								  int *pid, bool *clean_exit);
extern int	steward_jobs_nslots(void);

/* launcher.c */
extern void steward_register_launcher(void);
extern PGDLLEXPORT void steward_launcher_main(Datum arg);

/* worker.c */
extern PGDLLEXPORT void steward_job_worker_main(Datum arg);
extern PGDLLEXPORT void steward_dispatcher_main(Datum arg);

/* run.c */
extern void steward_job_execute(int64 job_id, bool in_worker, bool login_refused);
extern void steward_job_cleanup(int64 job_id);
extern bool steward_job_try_lock(int64 job_id, bool session);
extern void steward_job_unlock(int64 job_id);
extern const char *steward_job_arg_text(StewardJob *job, const char *key);
extern int64 steward_job_arg_int(StewardJob *job, const char *key, int64 dflt);
extern void steward_job_set_phase(StewardJob *job, const char *phase);
extern char *steward_job_state(int64 job_id);
extern char *steward_job_load(StewardJob *job, int64 id);
extern bool steward_job_call_as_owner(StewardJob *job, void (*fn) (StewardJob *job, void *arg),
									  void *arg, ErrorData **edata_out);
extern void steward_job_set_state(StewardJob *job, const char *state, ErrorData *edata);
extern void steward_job_save_progress(StewardJob *job);
extern bool steward_job_start_worker(Oid roleid, int64 job_id, int slot,
									 BackgroundWorkerHandle **handle);
extern char *steward_login_refusal(Oid dbid, Oid roleid, int64 job_id);
extern char *steward_job_refusal(StewardJob *job);

/* submit.c */
extern int64 steward_job_submit(const char *kind, Oid relid, Oid source,
								const char *args_json, const char *migration_version);
extern char *steward_key_column(Oid relid, const char *requested, Oid *keytype);

/* key.c */
extern void steward_key_load(Oid relid, const char *column, StewardKey *key);
extern char *steward_key_text(Datum value, Oid typid);
extern Datum steward_key_datum(const StewardKey *key, const char *text);
extern int	steward_key_compare(const StewardKey *key, Datum a, Datum b);
extern char *steward_key_range(const StewardKey *key, const char *from, const char *to);
extern int	steward_key_execute(const StewardKey *key, const char *sql, const char *from,
								const char *to, int64 n, bool report);
extern int64 steward_key_count(const StewardKey *key, const char *rel, const char *from,
							   const char *to);
extern int64 steward_key_estimate(const StewardKey *key, Oid relid, const char *rel);
extern char *steward_key_max(const StewardKey *key, const char *rel);
extern char *steward_key_next(const StewardKey *key, const char *rel, const char *from,
							  const char *to, int64 n, int64 *count);

/* bulk.c */
extern bool steward_bulk_insert(Oid source, Oid target, const char *cols, const char *cond,
								int nargs, Oid *types, Datum *values, const char *nulls,
								const char *keyname, uint64 *rows, char **lastkey);

/* backfill.c, copy.c, validate_constraint.c */
extern const StewardJobKind steward_backfill_kind;
extern const StewardJobKind steward_copy_kind;
extern const StewardJobKind steward_validate_kind;
extern int64 steward_copy_replayer_batch(StewardJob *job, int limit);

/* copy_replayer.c */
extern void steward_replayer_start(StewardJob *job);
extern bool steward_replayer_active(void);
extern bool steward_replayer_publish(const char *cursor, const char *claim);
extern void steward_replayer_stop(void);
extern void steward_replayer_bounds(char **cursor, char **claim, char **upper);
extern PGDLLEXPORT void steward_copy_replayer_main(Datum arg);

/* kinds.c */
extern void steward_register_job_kind(const StewardJobKind *kind);
extern const StewardJobKind *steward_find_job_kind(const char *name);
extern const StewardJobKind *steward_job_kind(const char *name);

#endif							/* STEWARD_JOBS_H */
