-- src/jobs/jobs.sql: the current definition of the jobs area (src/jobs):
-- the job table, copy_table's change log and capture trigger, and the API
-- (backfill, copy_table, validate_constraint, job_*).  Part of the install
-- script the build generates (src/README.md, "SQL sources"); grants are in
-- src/privileges.sql.

-- One row per job: definition, state and progress (read it with job_status()).
CREATE TABLE steward.jobs (
    id                  bigserial PRIMARY KEY,
    kind                text NOT NULL
                        CHECK (kind IN ('backfill', 'copy_table', 'validate_constraint', 'statements')),
    relation            regclass,
    source              regclass,
    args                jsonb NOT NULL DEFAULT '{}',
    owner_role          oid NOT NULL,
    owner_name          name NOT NULL,
    login_role          oid NOT NULL,
    search_path         text NOT NULL,
    migration_version   text COLLATE "C",
    state               text NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'paused', 'cancelling',
                                         'cancelled', 'failed', 'succeeded')),
    phase               text,
    rows_done           bigint NOT NULL DEFAULT 0,
    rows_estimate       bigint,
    current_key         text,
    upper_key           text,
    batches             bigint NOT NULL DEFAULT 0,
    batch_size          integer,
    max_batch_ms        double precision,
    rate                double precision,
    hold_reason         text,
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text,
    last_sqlstate       text,
    worker_pid          integer,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON steward.jobs (state) WHERE state IN ('queued', 'running', 'paused', 'cancelling');
COMMENT ON TABLE steward.jobs IS
    'one row per background job: definition, state, progress (read it with job_status())';
SELECT pg_catalog.pg_extension_config_dump('steward.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('steward.jobs_id_seq', '');

-- Writes to the source of a running copy_table job, captured by a trigger so
-- that the job replays them into the target: no write made during the copy
-- is lost.  One row per changed key (an UPDATE that changes the key logs both).
CREATE TABLE steward.copy_changes (
    id          bigserial PRIMARY KEY,
    job_id      bigint NOT NULL,
    key         text NOT NULL
);
CREATE INDEX ON steward.copy_changes (job_id, id);
SELECT pg_catalog.pg_extension_config_dump('steward.copy_changes', '');
SELECT pg_catalog.pg_extension_config_dump('steward.copy_changes_id_seq', '');

-- The capture trigger: AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW on the
-- source, arguments (job id, key column).  It runs as the writer, reads
-- nothing of the row but the key column, with the key type's output
-- function, and logs it as the owner of schema steward through one fixed
-- INSERT into steward.copy_changes (src/jobs/copy.c).  Triggers of running
-- copies call it by OID.
CREATE FUNCTION steward.capture_change() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_capture_change';

-- Jobs API --------------------------------------------------------------------

CREATE FUNCTION steward.backfill(
    relation regclass,
    set_clause text,
    where_clause text DEFAULT NULL,
    batch_size integer DEFAULT 10000,
    key_column name DEFAULT NULL,
    pause interval DEFAULT '0',
    target_batch_time interval DEFAULT '1s',
    lock_timeout interval DEFAULT NULL,
    statement_timeout interval DEFAULT NULL,
    max_replication_lag interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_backfill'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.backfill(regclass, text, text, integer, name, interval, interval, interval, interval, interval) IS
    'start a batched, resumable UPDATE of a table as a background job; returns the job id';

CREATE FUNCTION steward.copy_table(
    source regclass,
    target regclass,
    batch_size integer DEFAULT 10000,
    swap boolean DEFAULT false,
    key_column name DEFAULT NULL,
    pause interval DEFAULT '0',
    target_batch_time interval DEFAULT '1s',
    lock_timeout interval DEFAULT NULL,
    max_replication_lag interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_copy_table'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.copy_table(regclass, regclass, integer, boolean, name, interval, interval, interval, interval) IS
    'copy a table into another in batches while writes continue, verify, optionally swap names; returns the job id';

CREATE FUNCTION steward.validate_constraint(relation regclass, constraint_name name)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_validate_constraint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.validate_constraint(regclass, name) IS
    'validate a NOT VALID constraint in a background job; returns the job id';

CREATE FUNCTION steward.job_status(job_id bigint DEFAULT NULL)
RETURNS TABLE (
    id bigint, kind text, relation regclass, state text, phase text,
    rows_done bigint, rows_estimate bigint, percent numeric, current_key text,
    upper_key text, batches bigint, batch_size integer, max_batch_ms numeric, rows_per_second numeric,
    hold_reason text, attempts integer, last_error text, last_sqlstate text,
    owner_name name, migration_version text, worker_pid integer,
    created_at timestamptz, started_at timestamptz, finished_at timestamptz,
    updated_at timestamptz, args jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT j.id, j.kind, j.relation, j.state, j.phase, j.rows_done, j.rows_estimate,
           CASE WHEN j.state = 'succeeded' THEN 100
                WHEN j.rows_estimate > 0
                THEN least(99.9, round(100.0 * j.rows_done / j.rows_estimate, 1)) END,
           j.current_key, j.upper_key, j.batches, j.batch_size,
           round(j.max_batch_ms::numeric, 1), round(j.rate::numeric, 1), j.hold_reason, j.attempts, j.last_error,
           j.last_sqlstate, j.owner_name, j.migration_version, j.worker_pid,
           j.created_at, j.started_at, j.finished_at, j.updated_at, j.args
      FROM steward.jobs j
     WHERE $1 IS NULL OR j.id = $1
     ORDER BY j.id
$$;
COMMENT ON FUNCTION steward.job_status(bigint) IS 'every job (or one) with its state and progress';

CREATE FUNCTION steward.job_wait(job_id bigint, timeout interval DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_job_wait'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.job_wait(bigint, interval) IS
    'wait until a job ends, reporting progress as NOTICEs; returns its state';

CREATE PROCEDURE steward.job_await(job_id bigint, timeout interval DEFAULT NULL,
                                   INOUT state text DEFAULT NULL)
AS 'MODULE_PATHNAME', 'steward_job_wait_proc' LANGUAGE C;
COMMENT ON PROCEDURE steward.job_await(bigint, interval, text) IS
    'wait until a job ends without holding a snapshot (use it for jobs running CONCURRENTLY statements)';

CREATE FUNCTION steward.job_pause(job_id bigint) RETURNS text
AS 'MODULE_PATHNAME', 'steward_job_pause' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.job_pause(bigint) IS 'pause a job after its current batch';

CREATE FUNCTION steward.job_resume(job_id bigint) RETURNS text
AS 'MODULE_PATHNAME', 'steward_job_resume' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.job_resume(bigint) IS 'resume a paused job from its checkpoint';

CREATE FUNCTION steward.job_cancel(job_id bigint) RETURNS text
AS 'MODULE_PATHNAME', 'steward_job_cancel' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.job_cancel(bigint) IS 'cancel a job after its current batch';

CREATE PROCEDURE steward.job_run(job_id bigint)
AS 'MODULE_PATHNAME', 'steward_job_run' LANGUAGE C;
COMMENT ON PROCEDURE steward.job_run(bigint) IS
    'run a queued job in this session, batch by batch (for servers without the background worker)';
