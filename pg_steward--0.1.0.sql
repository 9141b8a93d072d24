-- pg_steward 0.1.0: install script of the first release.
--
-- Public functions are created in the schema CREATE EXTENSION targets
-- (@extschema@, public by default).  Everything internal lives in schema
-- "steward".  Sections follow the four areas: migrations, review, jobs,
-- audit.  This file never changes; later versions add upgrade scripts
-- (pg_steward--0.1.0--0.2.0.sql, ...), which CREATE EXTENSION runs after it.

\echo Use "CREATE EXTENSION pg_steward VERSION '0.1.0'" to load this file. \quit

CREATE SCHEMA steward;
COMMENT ON SCHEMA steward IS 'pg_steward internals: migration history, jobs, audit ledger';
REVOKE ALL ON SCHEMA steward FROM PUBLIC;

------------------------------------------------------------------------------
-- Common: append-only protection
------------------------------------------------------------------------------

-- Refuses UPDATE, DELETE and TRUNCATE.  A superuser can lift it with
-- ALTER TABLE ... DISABLE TRIGGER or session_replication_role = replica.
CREATE FUNCTION steward.refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = TG_ARGV[0],
              HINT = 'pg_steward''s own functions are the only way to change this table.';
END $$;

------------------------------------------------------------------------------
-- Migrations
------------------------------------------------------------------------------

-- One row per version: its definition and the state of its latest attempt.
CREATE TABLE steward.migrations (
    version             text COLLATE "C" PRIMARY KEY,
    kind                text NOT NULL DEFAULT 'migration'
                        CHECK (kind IN ('migration', 'baseline')),
    description         text,
    checksum            text,
    up_sql              text,
    down_sql            text,
    status              text NOT NULL
                        CHECK (status IN ('pending', 'in_progress', 'completed',
                                          'failed', 'rolled_back')),
    last_op             text NOT NULL
                        CHECK (last_op IN ('apply', 'rollback', 'repair', 'baseline')),
    attempts            integer NOT NULL DEFAULT 0,
    statements_total    integer,
    statements_applied  integer,
    lock_retries        integer,
    session_user_name   name,
    current_user_name   name,
    application_name    text,
    client_addr         inet,
    backend_pid         integer,
    started_at          timestamptz,
    finished_at         timestamptz,
    duration            interval,
    error_sqlstate      text,
    error_message       text,
    error_statement     integer,
    attempt_xid         xid8,
    job_id              bigint,
    installed_rank      bigint,
    review              jsonb,
    CHECK (attempt_xid IS NULL OR status = 'in_progress')
);
COMMENT ON TABLE steward.migrations IS
    'one row per migration version: definition and latest attempt (read it with migrate_status())';

-- Every attempt and every administrative action, append-only.
CREATE TABLE steward.migration_events (
    id                  bigserial PRIMARY KEY,
    at                  timestamptz NOT NULL DEFAULT clock_timestamp(),
    version             text COLLATE "C" NOT NULL,
    event               text NOT NULL
                        CHECK (event IN ('apply', 'fail', 'abort', 'rollback',
                                         'rollback_fail', 'repair', 'baseline')),
    checksum            text,
    previous_checksum   text,
    statements_total    integer,
    statements_applied  integer,
    lock_retries        integer,
    started_at          timestamptz,
    duration            interval,
    session_user_name   name,
    current_user_name   name,
    application_name    text,
    client_addr         inet,
    backend_pid         integer,
    error_sqlstate      text,
    error_message       text,
    error_detail        text,
    error_statement     integer,
    error_statement_text text,
    reason              text,
    details             jsonb,
    review              jsonb
);
CREATE INDEX ON steward.migration_events (version, id);
COMMENT ON TABLE steward.migration_events IS
    'append-only history of every migration attempt (read it with migrate_history())';

CREATE SEQUENCE steward.installed_rank_seq;

CREATE TRIGGER migration_events_append_only
    BEFORE UPDATE OR DELETE ON steward.migration_events
    FOR EACH ROW EXECUTE FUNCTION steward.refuse_change('migration history is append-only');
CREATE TRIGGER migration_events_no_truncate
    BEFORE TRUNCATE ON steward.migration_events
    FOR EACH STATEMENT EXECUTE FUNCTION steward.refuse_change('migration history is append-only');
CREATE TRIGGER migrations_no_delete
    BEFORE DELETE ON steward.migrations
    FOR EACH ROW EXECUTE FUNCTION steward.refuse_change('a migration is never deleted; use migrate_repair()');
CREATE TRIGGER migrations_no_truncate
    BEFORE TRUNCATE ON steward.migrations
    FOR EACH STATEMENT EXECUTE FUNCTION steward.refuse_change('a migration is never deleted; use migrate_repair()');

SELECT pg_catalog.pg_extension_config_dump('steward.migrations', '');
SELECT pg_catalog.pg_extension_config_dump('steward.migration_events', '');
SELECT pg_catalog.pg_extension_config_dump('steward.migration_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('steward.installed_rank_seq', '');

-- True when an in_progress attempt's transaction can no longer commit:
-- it rolled back, or its backend died (a crash aborts every open xid).
-- An xid too old for pg_xact_status is certainly not running either.
CREATE FUNCTION steward.attempt_aborted(xid xid8) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT xid IS NOT NULL
       AND coalesce(pg_catalog.pg_xact_status(xid), 'aborted') = 'aborted'
$$;

CREATE FUNCTION steward.abort_message(op text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'aborted: the transaction running this ' || op ||
           ' ended without committing (rolled back, or its session was terminated)'
$$;

-- The migrations as readers see them: an attempt whose transaction
-- aborted shows as ended (apply: failed, rollback: still completed) even
-- before steward.reconcile() has written that down.
CREATE VIEW steward.migration_state AS
SELECT m.version, m.kind, m.description,
       CASE WHEN a.aborted THEN
                CASE m.last_op WHEN 'rollback' THEN 'completed' ELSE 'failed' END
            ELSE m.status END                           AS status,
       m.checksum, m.statements_applied, m.statements_total, m.attempts,
       m.lock_retries, m.last_op, m.started_at, m.finished_at, m.duration,
       m.session_user_name, m.current_user_name, m.application_name,
       m.client_addr, m.backend_pid,
       CASE WHEN a.aborted THEN NULL ELSE m.error_sqlstate END AS error_sqlstate,
       CASE WHEN a.aborted THEN steward.abort_message(m.last_op)
            ELSE m.error_message END                    AS error_message,
       CASE WHEN a.aborted THEN NULL ELSE m.error_statement END AS error_statement,
       m.installed_rank, m.up_sql, m.down_sql, m.attempt_xid, m.job_id,
       m.review, a.aborted
  FROM steward.migrations m,
       LATERAL (SELECT m.status = 'in_progress'
                       AND steward.attempt_aborted(m.attempt_xid) AS aborted) a;

-- Common columns of an event, taken from a migrations row and a "who"
-- document (session_user, current_user, application_name, client_addr,
-- backend_pid as captured by the calling backend).
CREATE FUNCTION steward.append_event(m steward.migrations, ev text, who jsonb,
                                     reason text DEFAULT NULL,
                                     previous_checksum text DEFAULT NULL,
                                     error_detail text DEFAULT NULL,
                                     error_statement_text text DEFAULT NULL,
                                     details jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e steward.migration_events;
BEGIN
    INSERT INTO steward.migration_events
        (version, event, checksum, previous_checksum, statements_total,
         statements_applied, lock_retries, started_at, duration,
         session_user_name, current_user_name, application_name, client_addr,
         backend_pid, error_sqlstate, error_message, error_detail,
         error_statement, error_statement_text, reason, details, review)
    VALUES (m.version, ev, m.checksum, previous_checksum, m.statements_total,
            m.statements_applied, m.lock_retries, m.started_at, m.duration,
            who->>'session_user', who->>'current_user', who->>'application_name',
            (who->>'client_addr')::inet, (who->>'backend_pid')::integer,
            m.error_sqlstate, m.error_message, error_detail,
            m.error_statement, error_statement_text, reason, details,
            CASE WHEN ev IN ('apply', 'fail', 'abort') THEN m.review END)
    RETURNING * INTO e;
    -- every migration event is also an event of the audit ledger
    PERFORM steward.audit_migration_event(e);
END $$;

-- Writes down every attempt whose transaction aborted (see
-- steward.migration_state) and appends an 'abort' event for each.
CREATE FUNCTION steward.reconcile() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m steward.migrations;
    n integer := 0;
BEGIN
    FOR m IN
        UPDATE steward.migrations AS t
           SET status = CASE t.last_op WHEN 'rollback' THEN 'completed' ELSE 'failed' END,
               error_sqlstate = NULL,
               error_message = steward.abort_message(t.last_op),
               error_statement = NULL,
               attempt_xid = NULL
         WHERE t.status = 'in_progress' AND steward.attempt_aborted(t.attempt_xid)
        RETURNING t.*
    LOOP
        PERFORM steward.append_event(m, 'abort',
            jsonb_build_object('session_user', m.session_user_name,
                               'current_user', m.current_user_name,
                               'application_name', m.application_name,
                               'client_addr', m.client_addr,
                               'backend_pid', m.backend_pid),
            details => jsonb_build_object('op', m.last_op));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Run by the recorder in its own transaction before a migration's SQL
-- runs: marks the version in_progress with the caller's transaction id,
-- so a crash or rollback of the caller shows as an aborted attempt.
CREATE FUNCTION steward.begin_attempt(op text, p_version text, p_description text,
                                      p_checksum text, p_up_sql text, p_down_sql text,
                                      p_total integer, p_xid xid8, who jsonb,
                                      p_review jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM steward.reconcile();
    IF op = 'apply' THEN
        INSERT INTO steward.migrations AS t
            (version, description, checksum, up_sql, down_sql, status, last_op,
             attempts, statements_total, statements_applied, lock_retries,
             session_user_name, current_user_name, application_name,
             client_addr, backend_pid, started_at, attempt_xid, review)
        VALUES (p_version, p_description, p_checksum, p_up_sql, p_down_sql,
                'in_progress', 'apply', 1, p_total, 0, 0,
                who->>'session_user', who->>'current_user', who->>'application_name',
                (who->>'client_addr')::inet, (who->>'backend_pid')::integer,
                clock_timestamp(), p_xid, p_review)
        ON CONFLICT (version) DO UPDATE
           SET description = EXCLUDED.description, checksum = EXCLUDED.checksum,
               up_sql = EXCLUDED.up_sql, down_sql = EXCLUDED.down_sql,
               status = 'in_progress', last_op = 'apply', attempts = t.attempts + 1,
               statements_total = EXCLUDED.statements_total, statements_applied = 0,
               lock_retries = 0,
               session_user_name = EXCLUDED.session_user_name,
               current_user_name = EXCLUDED.current_user_name,
               application_name = EXCLUDED.application_name,
               client_addr = EXCLUDED.client_addr, backend_pid = EXCLUDED.backend_pid,
               started_at = EXCLUDED.started_at, finished_at = NULL, duration = NULL,
               error_sqlstate = NULL, error_message = NULL, error_statement = NULL,
               attempt_xid = EXCLUDED.attempt_xid, job_id = NULL,
               review = EXCLUDED.review
         WHERE t.status IN ('failed', 'rolled_back') AND t.kind = 'migration';
    ELSE
        UPDATE steward.migrations AS t
           SET status = 'in_progress', last_op = 'rollback',
               statements_total = p_total, statements_applied = 0, lock_retries = 0,
               session_user_name = who->>'session_user',
               current_user_name = who->>'current_user',
               application_name = who->>'application_name',
               client_addr = (who->>'client_addr')::inet,
               backend_pid = (who->>'backend_pid')::integer,
               started_at = clock_timestamp(), finished_at = NULL, duration = NULL,
               error_sqlstate = NULL, error_message = NULL, error_statement = NULL,
               attempt_xid = p_xid
         WHERE t.version = p_version AND t.status = 'completed';
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'migration "%" changed state while this % was starting', p_version, op
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- Run in the caller's transaction after the SQL succeeded, so it commits
-- (or rolls back) together with the schema change.
CREATE FUNCTION steward.finish_attempt(p_version text, p_xid xid8, p_applied integer,
                                       p_retries integer, who jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m steward.migrations;
BEGIN
    UPDATE steward.migrations AS t
       SET status = CASE t.last_op WHEN 'rollback' THEN 'rolled_back' ELSE 'completed' END,
           statements_applied = p_applied, lock_retries = p_retries,
           finished_at = clock_timestamp(), duration = clock_timestamp() - t.started_at,
           attempt_xid = NULL,
           installed_rank = CASE t.last_op WHEN 'apply'
                                 THEN nextval('steward.installed_rank_seq')
                                 ELSE t.installed_rank END
     WHERE t.version = p_version AND t.attempt_xid = p_xid
    RETURNING t.* INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attempt of migration "%" is in progress in this transaction', p_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM steward.append_event(m, m.last_op, who);
    PERFORM steward.record_schema_snapshot(p_version);
END $$;

-- Run by the recorder after the SQL failed and the caller's subtransaction
-- was rolled back; commits on its own, so the failure stays on record.
CREATE FUNCTION steward.fail_attempt(p_version text, p_xid xid8, p_statement integer,
                                     p_sqlstate text, p_message text, p_detail text,
                                     p_statement_text text, p_applied integer,
                                     p_retries integer, who jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m steward.migrations;
BEGIN
    UPDATE steward.migrations AS t
       SET status = CASE t.last_op WHEN 'rollback' THEN 'completed' ELSE 'failed' END,
           statements_applied = p_applied, lock_retries = p_retries,
           finished_at = clock_timestamp(), duration = clock_timestamp() - t.started_at,
           error_sqlstate = p_sqlstate, error_message = p_message,
           error_statement = p_statement, attempt_xid = NULL
     WHERE t.version = p_version AND t.attempt_xid = p_xid
    RETURNING t.* INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attempt of migration "%" is in progress for transaction %', p_version, p_xid
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM steward.append_event(m, CASE m.last_op WHEN 'rollback' THEN 'rollback_fail' ELSE 'fail' END,
                                 who, error_detail => p_detail,
                                 error_statement_text => p_statement_text);
END $$;

-- Run in the caller's transaction when the transactional part of a
-- migration succeeded and its non-transactional statements were handed to
-- a job: the migration stays in_progress, now carried by the job.
CREATE FUNCTION steward.handoff_attempt(p_version text, p_xid xid8, p_applied integer,
                                        p_retries integer, p_job_id bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE steward.migrations AS t
       SET statements_applied = p_applied, lock_retries = p_retries,
           attempt_xid = NULL, job_id = p_job_id
     WHERE t.version = p_version AND t.attempt_xid = p_xid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no attempt of migration "%" is in progress in this transaction', p_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- Run in the caller's transaction when a migration whose job failed is
-- applied again with the same SQL: a new job resumes at the failed statement.
CREATE FUNCTION steward.resume_job_attempt(p_version text, p_job_id bigint, who jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE steward.migrations AS t
       SET status = 'in_progress', job_id = p_job_id, attempts = t.attempts + 1,
           session_user_name = who->>'session_user', current_user_name = who->>'current_user',
           application_name = who->>'application_name',
           client_addr = (who->>'client_addr')::inet, backend_pid = (who->>'backend_pid')::integer,
           started_at = clock_timestamp(), finished_at = NULL, duration = NULL,
           error_sqlstate = NULL, error_message = NULL, error_statement = NULL
     WHERE t.version = p_version AND t.status = 'failed' AND t.job_id IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'migration "%" cannot be resumed', p_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- Run by the job that carried a migration's non-transactional statements,
-- when it ends: completed, or failed with the failing statement.
CREATE FUNCTION steward.finish_job_attempt(p_version text, p_job_id bigint, p_ok boolean,
                                           p_applied integer, p_statement integer,
                                           p_sqlstate text, p_message text,
                                           p_statement_text text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m steward.migrations;
BEGIN
    UPDATE steward.migrations AS t
       SET status = CASE WHEN p_ok THEN 'completed' ELSE 'failed' END,
           statements_applied = t.statements_applied + p_applied,
           finished_at = clock_timestamp(), duration = clock_timestamp() - t.started_at,
           error_sqlstate = p_sqlstate, error_message = p_message,
           error_statement = p_statement,
           installed_rank = CASE WHEN p_ok THEN nextval('steward.installed_rank_seq')
                                 ELSE t.installed_rank END
     WHERE t.version = p_version AND t.job_id = p_job_id AND t.status = 'in_progress'
    RETURNING t.* INTO m;
    IF FOUND THEN
        PERFORM steward.append_event(m, CASE WHEN p_ok THEN 'apply' ELSE 'fail' END,
            jsonb_build_object('session_user', m.session_user_name,
                               'current_user', m.current_user_name,
                               'application_name', m.application_name,
                               'client_addr', m.client_addr,
                               'backend_pid', m.backend_pid),
            error_statement_text => p_statement_text,
            details => jsonb_build_object('job_id', p_job_id));
    END IF;
END $$;

-- migrate_repair's bookkeeping (the C side has checked the arguments).
CREATE FUNCTION steward.repair(p_version text, p_reason text, p_status text,
                               p_up_sql text, p_checksum text, p_down_sql text,
                               who jsonb)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old steward.migrations;
    m steward.migrations;
BEGIN
    SELECT * INTO old FROM steward.migrations WHERE version = p_version FOR UPDATE;
    UPDATE steward.migrations AS t
       SET status = coalesce(p_status, t.status),
           up_sql = coalesce(p_up_sql, t.up_sql),
           checksum = coalesce(p_checksum, t.checksum),
           down_sql = coalesce(p_down_sql, t.down_sql),
           last_op = 'repair',
           error_sqlstate = CASE WHEN p_status IS NULL THEN t.error_sqlstate END,
           error_message = CASE WHEN p_status IS NULL THEN t.error_message END,
           error_statement = CASE WHEN p_status IS NULL THEN t.error_statement END,
           installed_rank = CASE WHEN p_status = 'completed'
                                 THEN nextval('steward.installed_rank_seq')
                                 ELSE t.installed_rank END
     WHERE t.version = p_version
    RETURNING t.* INTO m;
    PERFORM steward.append_event(m, 'repair', who, reason => p_reason,
        previous_checksum => CASE WHEN p_checksum IS NOT NULL THEN old.checksum END,
        details => jsonb_strip_nulls(jsonb_build_object(
            'previous_status', old.status,
            'status', m.status,
            'up_sql_changed', CASE WHEN p_up_sql IS NOT NULL THEN p_up_sql IS DISTINCT FROM old.up_sql END,
            'down_sql_changed', CASE WHEN p_down_sql IS NOT NULL THEN p_down_sql IS DISTINCT FROM old.down_sql END)));
    RETURN m.status;
END $$;

-- migrate_baseline's bookkeeping.
CREATE FUNCTION steward.baseline(p_version text, p_description text, who jsonb)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m steward.migrations;
BEGIN
    INSERT INTO steward.migrations
        (version, kind, description, status, last_op, attempts,
         session_user_name, current_user_name, application_name, client_addr,
         backend_pid, started_at, finished_at, duration, installed_rank)
    VALUES (p_version, 'baseline', p_description, 'completed', 'baseline', 0,
            who->>'session_user', who->>'current_user', who->>'application_name',
            (who->>'client_addr')::inet, (who->>'backend_pid')::integer,
            clock_timestamp(), clock_timestamp(), interval '0',
            nextval('steward.installed_rank_seq'))
    RETURNING * INTO m;
    PERFORM steward.append_event(m, 'baseline', who);
    PERFORM steward.record_schema_snapshot(p_version);
    RETURN m.status;
END $$;

------------------------------------------------------------------------------
-- Jobs
------------------------------------------------------------------------------

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
-- source, arguments (job id, key column).  SECURITY DEFINER so that any
-- role writing the source can log its change; it writes nothing else.
CREATE FUNCTION steward.capture_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_key text;
    old_key text;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        new_key := to_jsonb(NEW) ->> TG_ARGV[1];
        INSERT INTO steward.copy_changes (job_id, key) VALUES (TG_ARGV[0]::bigint, new_key);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_key := to_jsonb(OLD) ->> TG_ARGV[1];
        IF old_key IS DISTINCT FROM new_key THEN
            INSERT INTO steward.copy_changes (job_id, key) VALUES (TG_ARGV[0]::bigint, old_key);
        END IF;
    END IF;
    RETURN NULL;
END $$;

------------------------------------------------------------------------------
-- Audit: the tamper-evident ledger (src/audit)
------------------------------------------------------------------------------

-- Refuses UPDATE, DELETE and TRUNCATE of the ledger tables, for their owner
-- too, except inside audit_redact() and audit_drop_expired().  A superuser
-- can lift it (session_replication_role = replica, or ALTER TABLE ...
-- DISABLE TRIGGER); verify_audit_chain() still catches what is changed.
CREATE FUNCTION steward.audit_refuse() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_refuse';

-- Every event.  Writers only INSERT (through audit_append() and the
-- triggers of audited tables); the sealer chains them in steward.audit_blocks.
CREATE TABLE steward.audit_events (
    id                  bigint NOT NULL,
    xid                 xid8 NOT NULL,          -- top-level transaction that appended it
    event_time          timestamptz NOT NULL,   -- clock time of the append
    event_type          text NOT NULL,          -- APPLICATION, ROW_CHANGE, SCHEMA_MIGRATION, ...
    action              text NOT NULL,
    resource_type       text,
    resource_id         text,
    actor               text,                   -- the application's own user
    session_user_name   text NOT NULL,
    current_user_name   text NOT NULL,
    client_addr         inet,
    application_name    text,
    commitment          bytea,                  -- H(0x02 || salt || payload); chained
    salt                bytea,                  -- erased by audit_redact()
    payload             jsonb,                  -- erased by audit_redact()
    PRIMARY KEY (id, event_time)
) PARTITION BY RANGE (event_time);
CREATE SEQUENCE steward.audit_events_id_seq OWNED BY steward.audit_events.id;
CREATE INDEX audit_events_xid_idx ON steward.audit_events (xid);
COMMENT ON TABLE steward.audit_events IS
    'audit ledger events, partitioned by event_time (append with audit_append())';
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON steward.audit_events
    FOR EACH ROW EXECUTE FUNCTION steward.audit_refuse();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON steward.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_refuse();

-- Catches events whose year has no partition yet (the sealer creates
-- partitions ahead; see steward.audit_ensure_partitions()).
CREATE TABLE steward.audit_events_default PARTITION OF steward.audit_events DEFAULT;
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON steward.audit_events_default
    FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_refuse();

-- One row per seal: the events that became visible since the previous
-- block's snapshot, with their entries, Merkle root and chained hash.
CREATE TABLE steward.audit_blocks (
    block_id        bigint PRIMARY KEY,
    snapshot        pg_snapshot NOT NULL,
    first_position  bigint NOT NULL,
    event_count     bigint NOT NULL,
    merkle_root     bytea NOT NULL,
    prev_hash       bytea NOT NULL,
    block_hash      bytea NOT NULL,
    sealed_at       timestamptz NOT NULL,
    entries         bytea NOT NULL      -- 56 bytes per event: id, xid, time, leaf
);
ALTER TABLE steward.audit_blocks ALTER COLUMN entries SET STORAGE EXTERNAL;
COMMENT ON TABLE steward.audit_blocks IS 'sealed blocks of the audit ledger (audit_seal())';
CREATE TRIGGER audit_blocks_append_only
    BEFORE UPDATE OR DELETE ON steward.audit_blocks
    FOR EACH ROW EXECUTE FUNCTION steward.audit_refuse();
CREATE TRIGGER audit_blocks_no_truncate
    BEFORE TRUNCATE ON steward.audit_blocks
    FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_refuse();

-- What retention dropped: one row per dropped partition, recorded (and
-- appended as a RETENTION event) before the drop.
CREATE TABLE steward.audit_epochs (
    epoch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partition_name  text NOT NULL,
    range_from      timestamptz NOT NULL,
    range_to        timestamptz NOT NULL,
    events_dropped  bigint NOT NULL,
    dropped_root    bytea NOT NULL,     -- Merkle root over the dropped events' leaves
    head_block      bigint NOT NULL,
    head_hash       bytea NOT NULL,
    retention_event bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE steward.audit_epochs IS 'partitions dropped by audit_drop_expired()';
CREATE TRIGGER audit_epochs_append_only
    BEFORE UPDATE OR DELETE ON steward.audit_epochs
    FOR EACH ROW EXECUTE FUNCTION steward.audit_refuse();
CREATE TRIGGER audit_epochs_no_truncate
    BEFORE TRUNCATE ON steward.audit_epochs
    FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_refuse();

-- Retention policies: how long events of a type are kept ('*': every type
-- without a policy of its own).  No policy: kept for ever.
CREATE TABLE steward.audit_retention (
    event_type  text PRIMARY KEY,
    keep        interval NOT NULL CHECK (keep > interval '0'),
    set_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE steward.audit_retention IS 'retention policies (audit_set_retention())';

SELECT pg_catalog.pg_extension_config_dump('steward.audit_events_default', '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_epochs', '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_retention', '');

-- The event bytes (format.c) and the leaf plus payload check, from an
-- event's columns.
CREATE FUNCTION steward.audit_event_encode(
    id bigint, xid xid8, event_time timestamptz, event_type text, action text,
    resource_type text, resource_id text, actor text, session_user_name text,
    current_user_name text, client_addr inet, application_name text,
    commitment bytea)
RETURNS bytea LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'steward_audit_event_encode';

CREATE FUNCTION steward.audit_event_check(
    id bigint, xid xid8, event_time timestamptz, event_type text, action text,
    resource_type text, resource_id text, actor text, session_user_name text,
    current_user_name text, client_addr inet, application_name text,
    commitment bytea, salt bytea, payload jsonb)
RETURNS bytea LANGUAGE c IMMUTABLE PARALLEL SAFE COST 1000
AS 'MODULE_PATHNAME', 'steward_audit_event_check';

-- SHA-256 as the ledger computes it (portable => true: without the CPU's
-- SHA extensions); the test suite compares it with sha256().
CREATE FUNCTION steward.sha256_check(data bytea, portable boolean) RETURNS bytea
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'steward_sha256_check';

CREATE FUNCTION steward.audit_append_internal(
    event_type text, action text, resource_type text, resource_id text,
    payload jsonb, actor text, session_user_name text, current_user_name text,
    application_name text, client_addr text)
RETURNS bigint LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_audit_append_internal';

-- The trigger audit_table() attaches (arguments: the key columns).
CREATE FUNCTION steward.audit_row_change() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_row_change';

CREATE FUNCTION steward.audit_start_sealer() RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_start_sealer';

CREATE FUNCTION steward.audit_range_summary(range_from timestamptz, range_to timestamptz,
    OUT events bigint, OUT root bytea, OUT head_block bigint, OUT head_hash bytea)
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'steward_audit_range_summary';

-- The head of the chain as a digest (block 0 with a zero hash when nothing
-- is sealed yet).
CREATE FUNCTION steward.audit_head_digest() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'format', 'pg_steward ledger digest v1',
        'database', current_database(),
        'system_identifier', (SELECT system_identifier::text FROM pg_control_system()),
        'block', coalesce(h.block_id, 0),
        'position', coalesce(h.first_position + h.event_count - 1, 0),
        'hash', encode(coalesce(h.block_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea), 'hex'),
        'sealed_at', h.sealed_at,
        'created_at', clock_timestamp())
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (SELECT * FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1) h ON true
$$;

-- The range partitions of steward.audit_events and their bounds (read
-- back from pg_get_expr's text: callers pin datestyle and timezone).
CREATE VIEW steward.audit_partitions AS
    SELECT c.relname::text AS partition_name,
           (regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz AS range_from,
           (regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS range_to
      FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'steward.audit_events'::regclass
       AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT';

-- Yearly partitions from this year through the next two; a year that
-- overlaps an existing partition, or whose events already sit in the
-- default partition, is left alone.
CREATE FUNCTION steward.audit_ensure_partitions() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET datestyle = 'ISO, YMD' SET timezone = 'UTC' AS $$
DECLARE
    y integer;
    lo timestamptz;
    hi timestamptz;
    part text;
    made integer := 0;
BEGIN
    FOR y IN extract(year FROM now() AT TIME ZONE 'UTC')::integer
             .. extract(year FROM now() AT TIME ZONE 'UTC')::integer + 2 LOOP
        part := format('audit_events_%s', y);
        lo := make_timestamptz(y, 1, 1, 0, 0, 0, 'UTC');
        hi := make_timestamptz(y + 1, 1, 1, 0, 0, 0, 'UTC');
        CONTINUE WHEN EXISTS (SELECT 1 FROM steward.audit_partitions p
                               WHERE p.range_from < hi AND p.range_to > lo);
        CONTINUE WHEN EXISTS (SELECT 1 FROM steward.audit_events_default
                               WHERE event_time >= lo AND event_time < hi);
        EXECUTE format('CREATE TABLE steward.%I PARTITION OF steward.audit_events '
                       'FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
        EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON steward.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_refuse()', part);
        EXECUTE format('REVOKE ALL ON steward.%I FROM PUBLIC', part);
        made := made + 1;
    END LOOP;
    RETURN made;
END $$;

SELECT steward.audit_ensure_partitions();
DO $$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT format('steward.%I', c.relname)
          FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'steward.audit_events'::regclass AND c.relname <> 'audit_events_default'
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(part, '');
    END LOOP;
END $$;

-- Every migration event is also a SCHEMA_MIGRATION event of the ledger
-- (called by steward.append_event, not by a trigger, so that restoring the
-- history's data with pg_restore appends nothing).
CREATE FUNCTION steward.audit_migration_event(e steward.migration_events) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT steward.audit_append_internal(
        'SCHEMA_MIGRATION', upper(e.event), 'migration', e.version,
        jsonb_strip_nulls(jsonb_build_object(
            'event', e.event, 'checksum', e.checksum,
            'previous_checksum', e.previous_checksum,
            'statements_total', e.statements_total,
            'statements_applied', e.statements_applied,
            'error_sqlstate', e.error_sqlstate, 'error_message', e.error_message,
            'reason', e.reason, 'migration_event', e.id, 'review', e.review)),
        NULL, coalesce(e.session_user_name, session_user::text),
        coalesce(e.current_user_name, current_user::text),
        e.application_name, host(e.client_addr))
$$;

-- Retention: drop the partitions whose every event has outlived its type's
-- policy, after recording an epoch and appending a RETENTION event.
CREATE FUNCTION steward.audit_drop_expired(dry_run boolean)
RETURNS TABLE (partition_name text, range_from timestamptz, range_to timestamptz,
               events bigint, dropped boolean, detail text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET datestyle = 'ISO, YMD' SET timezone = 'UTC' AS $$
DECLARE
    p record;
    keep_max interval;
    untyped boolean;
    own boolean;
    unsealed bigint;
    s record;
    ev bigint;
    head jsonb;
BEGIN
    FOR p IN
        SELECT a.partition_name AS name, a.range_from AS lo, a.range_to AS hi
          FROM steward.audit_partitions a ORDER BY a.range_from
    LOOP
        CONTINUE WHEN p.hi > now();
        EXECUTE format(
            'SELECT max(coalesce(r.keep, d.keep)), bool_or(r.keep IS NULL AND d.keep IS NULL), count(*) '
            '  FROM (SELECT DISTINCT event_type FROM steward.%I) t '
            '  LEFT JOIN steward.audit_retention r ON r.event_type = t.event_type '
            '  LEFT JOIN steward.audit_retention d ON d.event_type = ''*''', p.name)
            INTO keep_max, untyped;
        partition_name := p.name; range_from := p.lo; range_to := p.hi;
        EXECUTE format('SELECT count(*) FROM steward.%I', p.name) INTO events;
        IF events = 0 THEN
            keep_max := (SELECT r.keep FROM steward.audit_retention r WHERE r.event_type = '*');
            untyped := keep_max IS NULL;
        END IF;
        -- pg_steward's own records (redactions, earlier epochs, policies)
        -- stay as long as the longest policy
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM steward.%I WHERE event_type IN '
                       '(''REDACTION'', ''RETENTION'', ''LEDGER''))', p.name) INTO own;
        IF own THEN
            keep_max := greatest(keep_max, (SELECT max(r.keep) FROM steward.audit_retention r));
        END IF;
        dropped := false;
        IF untyped THEN
            detail := 'kept: an event type in it has no retention policy';
        ELSIF keep_max IS NOT NULL AND p.hi + keep_max > now() THEN
            detail := format('kept until %s', p.hi + keep_max);
        ELSE
            SELECT h INTO head FROM steward.audit_head_digest() h;
            EXECUTE format('SELECT count(*) FROM steward.%I e WHERE NOT pg_visible_in_snapshot(e.xid, '
                           '(SELECT snapshot FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1))',
                           p.name) INTO unsealed;
            IF events > 0 AND (unsealed IS NULL OR unsealed > 0
                               OR NOT EXISTS (SELECT 1 FROM steward.audit_blocks)) THEN
                detail := 'kept: it has events not sealed yet; run audit_seal() first';
            ELSIF dry_run THEN
                detail := 'would be dropped';
            ELSE
                SELECT * INTO s FROM steward.audit_range_summary(p.lo, p.hi);
                ev := steward.audit_append_internal(
                    'RETENTION', 'DROP_PARTITION', 'partition', p.name,
                    jsonb_build_object('partition', p.name, 'range_from', p.lo, 'range_to', p.hi,
                                       'events_dropped', events, 'dropped_root', encode(s.root, 'hex'),
                                       'head_block', s.head_block, 'head_hash', encode(s.head_hash, 'hex'),
                                       'policy', keep_max,
                                       -- every epoch so far, this one included: the newest
                                       -- RETENTION event vouches for all rows of audit_epochs
                                       'epochs', (SELECT coalesce(jsonb_agg(x ORDER BY x->>'range_from'), '[]')
                                                    FROM (SELECT jsonb_build_object('partition', ep.partition_name,
                                                                 'range_from', ep.range_from, 'range_to', ep.range_to,
                                                                 'events_dropped', ep.events_dropped) AS x
                                                            FROM steward.audit_epochs ep
                                                          UNION ALL
                                                          SELECT jsonb_build_object('partition', p.name,
                                                                 'range_from', p.lo, 'range_to', p.hi,
                                                                 'events_dropped', events)) l)),
                    NULL, session_user::text, current_user::text,
                    current_setting('application_name'), host(inet_client_addr()));
                INSERT INTO steward.audit_epochs (partition_name, range_from, range_to, events_dropped,
                                                  dropped_root, head_block, head_hash, retention_event)
                VALUES (p.name, p.lo, p.hi, events, s.root, s.head_block, s.head_hash, ev);
                EXECUTE format('ALTER TABLE steward.audit_events DETACH PARTITION steward.%I', p.name);
                EXECUTE format('DROP TABLE steward.%I', p.name);
                dropped := true;
                detail := format('dropped; epoch recorded, RETENTION event %s', ev);
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA steward FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA steward FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA steward FROM PUBLIC;

-- Public API -----------------------------------------------------------------

CREATE FUNCTION @extschema@.migrate_apply(
    version text,
    up_sql text,
    down_sql text DEFAULT NULL,
    description text DEFAULT NULL,
    out_of_order boolean DEFAULT false,
    lock_timeout interval DEFAULT NULL,
    statement_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL,
    allow_unsafe boolean DEFAULT false,
    pre_checks text[] DEFAULT NULL,
    post_checks text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_apply'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[]) IS
    'apply a versioned migration atomically, with checksum, history, timeouts and lock retries';

CREATE FUNCTION @extschema@.migrate_rollback(
    version text,
    out_of_order boolean DEFAULT false,
    lock_timeout interval DEFAULT NULL,
    statement_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_rollback'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.migrate_rollback(text, boolean, interval, interval, integer) IS
    'run a completed migration''s stored down_sql atomically and mark it rolled_back';

CREATE FUNCTION @extschema@.migrate_repair(
    version text,
    reason text,
    status text DEFAULT NULL,
    up_sql text DEFAULT NULL,
    down_sql text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_repair'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.migrate_repair(text, text, text, text, text) IS
    'resolve a failed or aborted migration, or accept a deliberately changed checksum, with a reason';

CREATE FUNCTION @extschema@.migrate_baseline(version text, description text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_baseline'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.migrate_baseline(text, text) IS
    'record that the schema already is at this version (for databases older than pg_steward)';

CREATE FUNCTION @extschema@.migrate_checksum(sql text)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_checksum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.migrate_checksum(text) IS
    'the checksum migrate_apply stores for this SQL (v1:sha256 over normalized text)';

CREATE FUNCTION @extschema@.migrate_status()
RETURNS TABLE (
    version text, kind text, description text, status text, checksum text,
    statements_applied integer, statements_total integer, attempts integer,
    lock_retries integer, last_op text, started_at timestamptz,
    finished_at timestamptz, duration interval, session_user_name name,
    current_user_name name, application_name text, client_addr inet,
    backend_pid integer, error_sqlstate text, error_message text,
    error_statement integer, installed_rank bigint, job_id bigint, up_sql text, down_sql text,
    review jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.version, s.kind, s.description, s.status, s.checksum,
           s.statements_applied, s.statements_total, s.attempts, s.lock_retries,
           s.last_op, s.started_at, s.finished_at, s.duration,
           s.session_user_name, s.current_user_name, s.application_name,
           s.client_addr, s.backend_pid, s.error_sqlstate, s.error_message,
           s.error_statement, s.installed_rank, s.job_id, s.up_sql, s.down_sql,
           s.review
      FROM steward.migration_state s
     ORDER BY s.version
$$;
COMMENT ON FUNCTION @extschema@.migrate_status() IS
    'every migration version with its status and its latest attempt';

CREATE FUNCTION @extschema@.migrate_history(version text DEFAULT NULL)
RETURNS TABLE (
    id bigint, at timestamptz, version text, event text, checksum text,
    previous_checksum text, statements_applied integer, statements_total integer,
    lock_retries integer, started_at timestamptz, duration interval,
    session_user_name name, current_user_name name, application_name text,
    client_addr inet, backend_pid integer, error_sqlstate text,
    error_message text, error_detail text, error_statement integer,
    error_statement_text text, reason text, details jsonb, review jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM (
        SELECT e.id, e.at, e.version, e.event, e.checksum, e.previous_checksum,
               e.statements_applied, e.statements_total, e.lock_retries,
               e.started_at, e.duration, e.session_user_name, e.current_user_name,
               e.application_name, e.client_addr, e.backend_pid, e.error_sqlstate,
               e.error_message, e.error_detail, e.error_statement,
               e.error_statement_text, e.reason, e.details, e.review
          FROM steward.migration_events e
         WHERE $1 IS NULL OR e.version = $1
        UNION ALL
        -- aborted attempts not yet written down by steward.reconcile()
        SELECT NULL, s.started_at, s.version, 'abort', s.checksum, NULL,
               s.statements_applied, s.statements_total, s.lock_retries,
               s.started_at, NULL, s.session_user_name, s.current_user_name,
               s.application_name, s.client_addr, s.backend_pid, NULL,
               s.error_message, NULL, NULL, NULL, NULL,
               jsonb_build_object('op', s.last_op),
               CASE WHEN s.last_op = 'apply' THEN s.review END
          FROM steward.migration_state s
         WHERE s.aborted AND ($1 IS NULL OR s.version = $1)
    ) h
    ORDER BY h.id NULLS LAST, h.at
$$;
COMMENT ON FUNCTION @extschema@.migrate_history(text) IS
    'every migration event (apply, fail, abort, rollback, rollback_fail, repair, baseline), oldest first';

-- Nothing is granted to PUBLIC but migrate_checksum, a pure function.
REVOKE ALL ON FUNCTION @extschema@.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migrate_rollback(text, boolean, interval, interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migrate_repair(text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migrate_baseline(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migrate_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migrate_history(text) FROM PUBLIC;

------------------------------------------------------------------------------
-- Review: lint, dry run and runtime guards
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.migrate_lint(sql text)
RETURNS TABLE (
    statement integer, statement_text text, rule text, severity text,
    lock_mode text, relation text, effect text, table_size bigint,
    message text, safe_alternative text, silenced text)
AS 'MODULE_PATHNAME', 'migrate_lint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.migrate_lint(text) IS
    'review migration SQL with the server''s parser and catalog: one row per finding';

CREATE FUNCTION @extschema@.migrate_lint_rules()
RETURNS TABLE (rule text, severity text, grading text, effect text,
               why text, safe_alternative text)
AS 'MODULE_PATHNAME', 'migrate_lint_rules'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.migrate_lint_rules() IS
    'every rule migrate_lint knows, with its severity and safe alternative';

CREATE FUNCTION @extschema@.migrate_plan(
    sql text,
    lock_timeout interval DEFAULT NULL,
    statement_timeout interval DEFAULT NULL)
RETURNS TABLE (
    statement integer, step text, object_kind text, object text,
    lock_mode text, detail text, duration interval)
AS 'MODULE_PATHNAME', 'migrate_plan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.migrate_plan(text, interval, interval) IS
    'dry run: execute a migration in a subtransaction, roll it back, report objects, locks and rewrites';

-- The runtime guard against rewriting a large table while a migration
-- runs; it does nothing outside migrate_apply and migrate_plan.
CREATE FUNCTION steward.guard_table_rewrite() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'steward_guard_table_rewrite'
LANGUAGE C;
REVOKE ALL ON FUNCTION steward.guard_table_rewrite() FROM PUBLIC;
CREATE EVENT TRIGGER pg_steward_guard_table_rewrite ON table_rewrite
    EXECUTE FUNCTION steward.guard_table_rewrite();

REVOKE ALL ON FUNCTION @extschema@.migrate_lint(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migrate_plan(text, interval, interval) FROM PUBLIC;

-- Jobs API --------------------------------------------------------------------

CREATE FUNCTION @extschema@.backfill(
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
COMMENT ON FUNCTION @extschema@.backfill(regclass, text, text, integer, name, interval, interval, interval, interval, interval) IS
    'start a batched, resumable UPDATE of a table as a background job; returns the job id';

CREATE FUNCTION @extschema@.copy_table(
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
COMMENT ON FUNCTION @extschema@.copy_table(regclass, regclass, integer, boolean, name, interval, interval, interval, interval) IS
    'copy a table into another in batches while writes continue, verify, optionally swap names; returns the job id';

CREATE FUNCTION @extschema@.validate_constraint(relation regclass, constraint_name name)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_validate_constraint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.validate_constraint(regclass, name) IS
    'validate a NOT VALID constraint in a background job; returns the job id';

CREATE FUNCTION @extschema@.job_status(job_id bigint DEFAULT NULL)
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
COMMENT ON FUNCTION @extschema@.job_status(bigint) IS 'every job (or one) with its state and progress';

CREATE FUNCTION @extschema@.job_wait(job_id bigint, timeout interval DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_job_wait'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.job_wait(bigint, interval) IS
    'wait until a job ends, reporting progress as NOTICEs; returns its state';

CREATE PROCEDURE @extschema@.job_await(job_id bigint, timeout interval DEFAULT NULL,
                                       INOUT state text DEFAULT NULL)
AS 'MODULE_PATHNAME', 'steward_job_wait_proc' LANGUAGE C;
COMMENT ON PROCEDURE @extschema@.job_await(bigint, interval, text) IS
    'wait until a job ends without holding a snapshot (use it for jobs running CONCURRENTLY statements)';

CREATE FUNCTION @extschema@.job_pause(job_id bigint) RETURNS text
AS 'MODULE_PATHNAME', 'steward_job_pause' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.job_pause(bigint) IS 'pause a job after its current batch';

CREATE FUNCTION @extschema@.job_resume(job_id bigint) RETURNS text
AS 'MODULE_PATHNAME', 'steward_job_resume' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.job_resume(bigint) IS 'resume a paused job from its checkpoint';

CREATE FUNCTION @extschema@.job_cancel(job_id bigint) RETURNS text
AS 'MODULE_PATHNAME', 'steward_job_cancel' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.job_cancel(bigint) IS 'cancel a job after its current batch';

CREATE PROCEDURE @extschema@.job_run(job_id bigint)
AS 'MODULE_PATHNAME', 'steward_job_run' LANGUAGE C;
COMMENT ON PROCEDURE @extschema@.job_run(bigint) IS
    'run a queued job in this session, batch by batch (for servers without the background worker)';

REVOKE ALL ON FUNCTION @extschema@.backfill(regclass, text, text, integer, name, interval, interval, interval, interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.validate_constraint(regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.copy_table(regclass, regclass, integer, boolean, name, interval, interval, interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.job_status(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.job_wait(bigint, interval) FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.job_await(bigint, interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.job_pause(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.job_resume(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.job_cancel(bigint) FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.job_run(bigint) FROM PUBLIC;

-- Audit ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.audit_append(
    action text,
    resource_type text DEFAULT NULL,
    resource_id text DEFAULT NULL,
    payload jsonb DEFAULT NULL,
    actor text DEFAULT NULL,
    event_type text DEFAULT 'APPLICATION')
RETURNS bigint LANGUAGE c AS 'MODULE_PATHNAME', 'audit_append';
COMMENT ON FUNCTION @extschema@.audit_append(text, text, text, jsonb, text, text) IS
    'append an event to the audit ledger; returns its id';

CREATE FUNCTION @extschema@.audit_seal() RETURNS bigint
LANGUAGE c AS 'MODULE_PATHNAME', 'audit_seal';
COMMENT ON FUNCTION @extschema@.audit_seal() IS
    'seal every committed event into the next block; returns how many were sealed';

CREATE FUNCTION @extschema@.verify_audit_chain(
    trusted_digest jsonb DEFAULT NULL,
    since jsonb DEFAULT NULL,
    OUT is_valid boolean,
    OUT events_checked bigint,
    OUT blocks_checked bigint,
    OUT events_redacted bigint,
    OUT events_pruned bigint,
    OUT events_unsealed bigint,
    OUT first_bad_event bigint,
    OUT first_bad_at timestamptz,
    OUT first_bad_block bigint,
    OUT first_bad_position bigint,
    OUT problem text,
    OUT head_digest jsonb)
RETURNS SETOF record LANGUAGE c STABLE ROWS 1
AS 'MODULE_PATHNAME', 'verify_audit_chain';
COMMENT ON FUNCTION @extschema@.verify_audit_chain(jsonb, jsonb) IS
    'recompute the audit ledger; one row, is_valid false names the first bad event';

CREATE FUNCTION @extschema@.audit_digest() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT steward.audit_head_digest()
$$;
COMMENT ON FUNCTION @extschema@.audit_digest() IS
    'the head of the audit chain as a small JSON document to keep outside the database';

CREATE FUNCTION @extschema@.audit_event_bytes(event_id bigint) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b bytea;
BEGIN
    IF event_id IS NULL THEN
        RAISE EXCEPTION 'event_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT steward.audit_event_encode(e.id, e.xid, e.event_time, e.event_type, e.action,
               e.resource_type, e.resource_id, e.actor, e.session_user_name,
               e.current_user_name, e.client_addr, e.application_name, e.commitment)
      INTO b FROM steward.audit_events e WHERE e.id = audit_event_bytes.event_id;
    IF b IS NULL THEN
        RAISE EXCEPTION 'audit event % does not exist', event_id USING ERRCODE = 'undefined_object';
    END IF;
    RETURN b;
END $$;
COMMENT ON FUNCTION @extschema@.audit_event_bytes(bigint) IS
    'the canonical bytes of an event; its leaf hash is sha256(''\x00'' || bytes)';

CREATE FUNCTION @extschema@.audit_redact(event_id bigint, reason text) RETURNS bigint
LANGUAGE c AS 'MODULE_PATHNAME', 'audit_redact';
COMMENT ON FUNCTION @extschema@.audit_redact(bigint, text) IS
    'erase the payload of an event (GDPR); the chain still verifies; returns the REDACTION event id';

CREATE FUNCTION @extschema@.audit_table(relation regclass) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'audit_table';
COMMENT ON FUNCTION @extschema@.audit_table(regclass) IS
    'write every INSERT, UPDATE, DELETE and TRUNCATE of the table to the audit ledger';

CREATE FUNCTION @extschema@.unaudit_table(relation regclass) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'unaudit_table';
COMMENT ON FUNCTION @extschema@.unaudit_table(regclass) IS 'stop auditing the table';

CREATE FUNCTION @extschema@.audit_set_retention(event_type text, keep interval) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF event_type IS NULL OR event_type = '' THEN
        RAISE EXCEPTION 'event_type must not be null or empty'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''*'' for every event type.';
    END IF;
    IF keep IS NULL THEN
        DELETE FROM steward.audit_retention r WHERE r.event_type = audit_set_retention.event_type;
        PERFORM steward.audit_append_internal('LEDGER', 'REMOVE_RETENTION', 'retention_policy',
            audit_set_retention.event_type, NULL, NULL,
            session_user::text, session_user::text, current_setting('application_name'),
            host(inet_client_addr()));
        RETURN;
    END IF;
    IF keep <= interval '0' THEN
        RAISE EXCEPTION 'keep must be a positive interval' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO steward.audit_retention AS r (event_type, keep)
    VALUES (audit_set_retention.event_type, keep)
    ON CONFLICT ON CONSTRAINT audit_retention_pkey DO UPDATE SET keep = EXCLUDED.keep, set_at = now();
    PERFORM steward.audit_append_internal('LEDGER', 'SET_RETENTION', 'retention_policy',
        audit_set_retention.event_type, jsonb_build_object('keep', keep), NULL,
        session_user::text, session_user::text, current_setting('application_name'),
        host(inet_client_addr()));
END $$;
COMMENT ON FUNCTION @extschema@.audit_set_retention(text, interval) IS
    'keep events of a type (''*'': every type) at least this long; NULL removes the policy';

CREATE FUNCTION @extschema@.audit_drop_expired(dry_run boolean DEFAULT false)
RETURNS TABLE (partition_name text, range_from timestamptz, range_to timestamptz,
               events bigint, dropped boolean, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF dry_run IS NULL THEN
        RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT dry_run AND pg_current_xact_id_if_assigned() IS NULL THEN
        PERFORM @extschema@.audit_seal();
    END IF;
    RETURN QUERY SELECT * FROM steward.audit_drop_expired(dry_run);
END $$;
COMMENT ON FUNCTION @extschema@.audit_drop_expired(boolean) IS
    'drop the ledger partitions past their retention, recording an epoch seal first';

REVOKE ALL ON FUNCTION @extschema@.audit_append(text, text, text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_seal() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.verify_audit_chain(jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_digest() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_event_bytes(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_redact(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unaudit_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_set_retention(text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_drop_expired(boolean) FROM PUBLIC;

-- the sealer of this database starts once CREATE EXTENSION commits
SELECT steward.audit_start_sealer();

-- One row for monitoring: how far sealing is, and whether a sealer runs.
CREATE FUNCTION @extschema@.audit_status(
    OUT head_block bigint,
    OUT head_position bigint,
    OUT last_sealed_at timestamptz,
    OUT events_unsealed bigint,
    OUT oldest_unsealed_at timestamptz,
    OUT sealer_pid integer,
    OUT default_partition_events bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH head AS (SELECT * FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1),
         unsealed AS (
             SELECT count(*) AS n, min(e.event_time) AS oldest
               FROM steward.audit_events e
              WHERE NOT EXISTS (SELECT 1 FROM head)
                 OR (e.xid >= (SELECT pg_snapshot_xmin(snapshot) FROM head)
                     AND NOT pg_visible_in_snapshot(e.xid, (SELECT snapshot FROM head))))
    SELECT (SELECT coalesce(max(block_id), 0) FROM head),
           (SELECT coalesce(max(first_position + event_count - 1), 0) FROM head),
           (SELECT max(sealed_at) FROM head),
           u.n, u.oldest,
           (SELECT pid FROM pg_stat_activity
             WHERE backend_type = 'pg_steward sealer' AND datname = current_database() LIMIT 1),
           (SELECT count(*) FROM steward.audit_events_default)
      FROM unsealed u
$$;
COMMENT ON FUNCTION @extschema@.audit_status() IS
    'how far sealing is: head block, last seal, unsealed events, the sealer''s pid';
REVOKE ALL ON FUNCTION @extschema@.audit_status() FROM PUBLIC;

------------------------------------------------------------------------------
-- Review: validation, foreign-key checks and the schema fingerprint
------------------------------------------------------------------------------

-- The schemas the review looks at: every schema but the system ones,
-- steward, temporary schemas and schemas that belong to an extension.
CREATE VIEW steward.review_schemas AS
SELECT n.oid, n.nspname
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'steward')
   AND n.nspname !~ '^pg_(toast|temp)'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                      AND d.objid = n.oid AND d.deptype = 'e');

-- Their relations, without those that belong to an extension.
CREATE VIEW steward.review_relations AS
SELECT c.oid, c.relname, c.relnamespace, c.relkind, c.relpersistence,
       c.relispartition, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_catalog.pg_class c
  JOIN steward.review_schemas s ON s.oid = c.relnamespace
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e');

-- One entry {identity: sha256 hex of a canonical definition} per user
-- object.  The settings are pinned so that pg_get_*def and the constants
-- of defaults read the same in every session and every database.
-- Validity (NOT VALID constraints, invalid indexes) is no part of a
-- definition: migrate_validate() reports it, and validating is no drift.
CREATE FUNCTION steward.schema_objects() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 1
SET bytea_output = 'hex'
SET quote_all_identifiers = off
AS $$
WITH cols AS (
    SELECT a.attrelid,
           string_agg(format('column %s %s%s%s%s%s%s', quote_ident(a.attname),
                             format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attcollation <> t.typcollation
                                  THEN ' collate ' || a.attcollation::regcollation::text END,
                             CASE WHEN a.attnotnull THEN ' not null' END,
                             CASE WHEN a.attgenerated = '' THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid) END,
                             CASE WHEN a.attgenerated = 's'
                                  THEN ' generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ') stored' END,
                             CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
                                                WHEN 'd' THEN ' generated by default as identity' END),
                      E'\n' ORDER BY a.attnum) AS def
      FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attrelid IN (SELECT r.oid FROM steward.review_relations r
                           WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c'))
       AND a.attnum > 0 AND NOT a.attisdropped
     GROUP BY a.attrelid
),
objs(identity, def) AS (
    SELECT 'schema ' || quote_ident(s.nspname), 'schema'
      FROM steward.review_schemas s
    UNION ALL
    -- tables, views, materialized views, sequences, foreign tables
    SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                          WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                          WHEN 'f' THEN 'foreign table' END || ' ' || c.oid::regclass::text,
           concat_ws(E'\n',
               'relkind ' || c.relkind::text || ' persistence ' || c.relpersistence::text,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
               CASE WHEN c.relkind <> 'S' THEN cols.def END,
               'partition key ' || pg_get_partkeydef(c.oid),
               (SELECT 'partition of ' || i.inhparent::regclass::text || ' ' || pg_get_expr(pc.relpartbound, pc.oid)
                  FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhrelid
                 WHERE i.inhrelid = c.oid AND c.relispartition),
               (SELECT 'inherits ' || string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno)
                  FROM pg_inherits i WHERE i.inhrelid = c.oid AND NOT c.relispartition
                HAVING count(*) > 0),
               CASE WHEN c.relrowsecurity OR c.relforcerowsecurity
                    THEN format('row security %s force %s', c.relrowsecurity, c.relforcerowsecurity) END,
               (SELECT 'options ' || pc.reloptions::text FROM pg_class pc
                 WHERE pc.oid = c.oid AND pc.reloptions IS NOT NULL),
               (SELECT format('sequence as %s start %s increment %s minvalue %s maxvalue %s cache %s cycle %s',
                              format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin,
                              q.seqmax, q.seqcache, q.seqcycle)
                  FROM pg_sequence q WHERE q.seqrelid = c.oid),
               (SELECT format('server %s options %s', quote_ident(fs.srvname), ft.ftoptions::text)
                  FROM pg_foreign_table ft JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
                 WHERE ft.ftrelid = c.oid))
      FROM steward.review_relations c
      LEFT JOIN cols ON cols.attrelid = c.oid
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL
    SELECT 'index ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN steward.review_relations c ON c.oid = i.indrelid
    UNION ALL
    SELECT 'constraint ' || k.conrelid::regclass::text || '.' || quote_ident(k.conname),
           regexp_replace(pg_get_constraintdef(k.oid), ' NOT VALID$', '')
      FROM pg_constraint k JOIN steward.review_relations c ON c.oid = k.conrelid
    UNION ALL
    -- user triggers; those pg_steward attaches (copy_table, audit_table) are its own business
    SELECT 'trigger ' || t.tgrelid::regclass::text || '.' || quote_ident(t.tgname),
           pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
      FROM pg_trigger t JOIN steward.review_relations c ON c.oid = t.tgrelid
     WHERE NOT t.tgisinternal
       AND NOT EXISTS (SELECT 1 FROM pg_proc f JOIN pg_namespace fn ON fn.oid = f.pronamespace
                        WHERE f.oid = t.tgfoid AND fn.nspname = 'steward')
    UNION ALL
    SELECT 'policy ' || p.polrelid::regclass::text || '.' || quote_ident(p.polname),
           format('%s for %s to %s using (%s) with check (%s)',
                  CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, p.polcmd,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r)) END,
                                     ', ' ORDER BY CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END COLLATE "C")
                     FROM unnest(p.polroles) r),
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM pg_policy p JOIN steward.review_relations c ON c.oid = p.polrelid
    UNION ALL
    SELECT 'rule ' || r.ev_class::regclass::text || '.' || quote_ident(r.rulename),
           pg_get_ruledef(r.oid) || ' enabled ' || r.ev_enabled::text
      FROM pg_rewrite r JOIN steward.review_relations c ON c.oid = r.ev_class
     WHERE r.rulename <> '_RETURN'
    UNION ALL
    -- functions, procedures and aggregates
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END
               || ' ' || p.oid::regprocedure::text,
           CASE WHEN p.prokind = 'a' THEN
               (SELECT format('aggregate kind %s sfunc %s stype %s finalfunc %s combinefunc %s initcond %s sortop %s',
                              a.aggkind, a.aggtransfn::oid::regprocedure, format_type(a.aggtranstype, NULL),
                              nullif(a.aggfinalfn::oid, 0)::regprocedure,
                              nullif(a.aggcombinefn::oid, 0)::regprocedure, a.agginitval,
                              nullif(a.aggsortop, 0)::regoperator)
                  FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
           ELSE pg_get_functiondef(p.oid) END
      FROM pg_proc p JOIN steward.review_schemas s ON s.oid = p.pronamespace
     WHERE NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    -- enums, domains, composite, range and base types (not the row types of
    -- relations, array types or multiranges, which come with another object)
    SELECT 'type ' || format_type(t.oid, NULL),
           CASE t.typtype
           WHEN 'e' THEN
               'enum ' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                      FROM pg_enum e WHERE e.enumtypid = t.oid), '')
           WHEN 'd' THEN
               format('domain %s%s%s%s%s', format_type(t.typbasetype, t.typtypmod),
                      CASE WHEN t.typcollation <> bt.typcollation
                           THEN ' collate ' || t.typcollation::regcollation::text END,
                      CASE WHEN t.typnotnull THEN ' not null' END,
                      ' default ' || pg_get_expr(t.typdefaultbin, 0),
                      (SELECT string_agg(E'\nconstraint ' || quote_ident(k.conname) || ' '
                                         || regexp_replace(pg_get_constraintdef(k.oid), ' NOT VALID$', ''),
                                         '' ORDER BY k.conname)
                         FROM pg_constraint k WHERE k.contypid = t.oid))
           WHEN 'c' THEN
               'composite ' || coalesce(cols.def, '')
           WHEN 'r' THEN
               (SELECT format('range subtype %s opclass %s.%s collation %s canonical %s subdiff %s',
                              format_type(rg.rngsubtype, NULL), quote_ident(ocn.nspname), quote_ident(oc.opcname),
                              nullif(rg.rngcollation, 0)::regcollation,
                              nullif(rg.rngcanonical::oid, 0)::regprocedure,
                              nullif(rg.rngsubdiff::oid, 0)::regprocedure)
                  FROM pg_range rg
                  JOIN pg_opclass oc ON oc.oid = rg.rngsubopc
                  JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace
                 WHERE rg.rngtypid = t.oid)
           ELSE
               format('base input %s output %s receive %s send %s typmod_in %s typmod_out %s analyze %s '
                      'subscript %s length %s byval %s align %s storage %s category %s preferred %s '
                      'delimiter %s element %s collatable %s',
                      t.typinput::oid::regprocedure, t.typoutput::oid::regprocedure,
                      nullif(t.typreceive::oid, 0)::regprocedure, nullif(t.typsend::oid, 0)::regprocedure,
                      nullif(t.typmodin::oid, 0)::regprocedure, nullif(t.typmodout::oid, 0)::regprocedure,
                      nullif(t.typanalyze::oid, 0)::regprocedure, nullif(t.typsubscript::oid, 0)::regprocedure,
                      t.typlen, t.typbyval, t.typalign, t.typstorage, t.typcategory, t.typispreferred,
                      t.typdelim, format_type(nullif(t.typelem, 0), NULL), t.typcollation <> 0)
           END
      FROM pg_type t
      JOIN steward.review_schemas s ON s.oid = t.typnamespace
      LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
      LEFT JOIN cols ON cols.attrelid = t.typrelid AND t.typtype = 'c'
     WHERE t.typisdefined
       AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
       AND (t.typtype <> 'c' OR (SELECT rc.relkind FROM pg_class rc WHERE rc.oid = t.typrelid) = 'c')
       AND NOT EXISTS (SELECT 1 FROM pg_type el WHERE el.typarray = t.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = t.typrelid AND t.typrelid <> 0
                          AND d.deptype = 'e')
)
SELECT coalesce(jsonb_object_agg(o.identity, encode(sha256(convert_to(coalesce(o.def, ''), 'UTF8')), 'hex')),
                '{}')
  FROM objs o
$$;

-- "v1:" and the SHA-256 hex of the sorted "identity=hash" lines: equal
-- fingerprints, equal schemas.
CREATE FUNCTION steward.schema_fingerprint(objects jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'v1:' || encode(sha256(convert_to(
               coalesce(string_agg(e.key || '=' || e.value, E'\n' ORDER BY e.key COLLATE "C"), ''),
               'UTF8')), 'hex')
      FROM jsonb_each_text(objects) e
$$;

-- The schema as each migration left it, append-only.
CREATE TABLE steward.schema_snapshots (
    id          bigserial PRIMARY KEY,
    version     text COLLATE "C",
    taken_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    fingerprint text NOT NULL,
    objects     jsonb NOT NULL
);
COMMENT ON TABLE steward.schema_snapshots IS
    'append-only schema fingerprints, one per finished migration (migrate_validate() compares the newest)';
CREATE TRIGGER schema_snapshots_append_only
    BEFORE UPDATE OR DELETE ON steward.schema_snapshots
    FOR EACH ROW EXECUTE FUNCTION steward.refuse_change('schema snapshots are append-only');
CREATE TRIGGER schema_snapshots_no_truncate
    BEFORE TRUNCATE ON steward.schema_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION steward.refuse_change('schema snapshots are append-only');
SELECT pg_catalog.pg_extension_config_dump('steward.schema_snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('steward.schema_snapshots_id_seq', '');

-- Called in the caller's transaction when a migration, rollback or
-- baseline finishes.  A snapshot that cannot be taken is a WARNING: it
-- never fails the migration (migrate_validate() then compares with an
-- older snapshot).
CREATE FUNCTION steward.record_schema_snapshot(p_version text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_objects jsonb;
    v_fingerprint text;
BEGIN
    v_objects := steward.schema_objects();
    v_fingerprint := steward.schema_fingerprint(v_objects);
    INSERT INTO steward.schema_snapshots (version, fingerprint, objects)
    VALUES (p_version, v_fingerprint, v_objects);
    RETURN v_fingerprint;
EXCEPTION WHEN others THEN
    RAISE WARNING 'could not record the schema fingerprint of version "%": %', p_version, SQLERRM;
    RETURN NULL;
END $$;

REVOKE ALL ON steward.review_schemas, steward.review_relations, steward.schema_snapshots FROM PUBLIC;
REVOKE ALL ON SEQUENCE steward.schema_snapshots_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_objects() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_fingerprint(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.record_schema_snapshot(text) FROM PUBLIC;

-- Review API ------------------------------------------------------------------

-- Rows of child whose key (no NULL in it: MATCH SIMPLE) has no row in
-- parent.  Runs as the caller.
CREATE FUNCTION @extschema@.migrate_check_fk(child regclass, columns text[], parent regclass,
                                             parent_columns text[] DEFAULT NULL)
RETURNS TABLE (orphans bigint, sample_keys text[])
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_child_kind "char";
    v_parent_kind "char";
    v_child_name name;
    v_parent_name name;
    v_arg text;
    v_list text[];
    v_col text;
    v_pcols text[];
    v_ctypes oid[] := '{}';
    v_ptypes oid[] := '{}';
    v_type oid;
    v_op text;
    v_select text := '';
    v_notnull text := '';
    v_match text := '';
    v_order text := '';
    v_key text;
    v_sql text;
    i integer;
BEGIN
    IF child IS NULL THEN
        RAISE EXCEPTION 'child must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF columns IS NULL THEN
        RAISE EXCEPTION 'columns must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF parent IS NULL THEN
        RAISE EXCEPTION 'parent must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;

    SELECT c.relkind, c.relname INTO v_child_kind, v_child_name FROM pg_class c WHERE c.oid = child;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', child::oid USING ERRCODE = 'undefined_table';
    END IF;
    SELECT c.relkind, c.relname INTO v_parent_kind, v_parent_name FROM pg_class c WHERE c.oid = parent;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', parent::oid USING ERRCODE = 'undefined_table';
    END IF;
    IF v_child_kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION '"%" is not a table or view', v_child_name USING ERRCODE = 'wrong_object_type';
    END IF;
    IF v_parent_kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION '"%" is not a table or view', v_parent_name USING ERRCODE = 'wrong_object_type';
    END IF;

    -- the two column lists: not empty, one-dimensional, no NULL, no duplicate
    FOREACH v_arg IN ARRAY ARRAY['columns', 'parent_columns'] LOOP
        v_list := CASE v_arg WHEN 'columns' THEN columns ELSE parent_columns END;
        CONTINUE WHEN v_list IS NULL;
        IF cardinality(v_list) = 0 AND v_arg = 'parent_columns' THEN
            RAISE EXCEPTION 'parent_columns must not be empty' USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Pass NULL for the primary key of parent.';
        ELSIF cardinality(v_list) = 0 THEN
            RAISE EXCEPTION 'columns must not be empty' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF array_ndims(v_list) > 1 THEN
            RAISE EXCEPTION '% must be a one-dimensional array', v_arg USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF array_position(v_list, NULL) IS NOT NULL THEN
            RAISE EXCEPTION '% must not contain NULL', v_arg USING ERRCODE = 'null_value_not_allowed';
        END IF;
        SELECT u.c INTO v_col FROM unnest(v_list) u(c) GROUP BY u.c HAVING count(*) > 1
         ORDER BY u.c COLLATE "C" LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'column "%" appears more than once in %', v_col, v_arg
                USING ERRCODE = 'duplicate_column';
        END IF;
    END LOOP;

    -- the referenced columns: as given, or the primary key's in key order
    IF parent_columns IS NULL THEN
        SELECT array_agg(a.attname::text ORDER BY k.n) INTO v_pcols
          FROM pg_index x
          CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
         WHERE x.indrelid = parent AND x.indisprimary AND k.n <= x.indnkeyatts;
        IF v_pcols IS NULL THEN
            RAISE EXCEPTION 'there is no primary key for referenced table "%"', v_parent_name
                USING ERRCODE = 'undefined_object', HINT = 'Pass parent_columns.';
        END IF;
    ELSE
        v_pcols := parent_columns;
    END IF;

    -- resolve every column; names are matched exactly as stored
    FOREACH v_arg IN ARRAY ARRAY['columns', 'parent_columns'] LOOP
        FOREACH v_col IN ARRAY CASE v_arg WHEN 'columns' THEN columns ELSE v_pcols END LOOP
            SELECT a.atttypid INTO v_type FROM pg_attribute a
             WHERE a.attrelid = CASE v_arg WHEN 'columns' THEN child ELSE parent END
               AND a.attname::text = v_col AND a.attnum > 0 AND NOT a.attisdropped;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'column "%" of relation "%" does not exist', v_col,
                    CASE v_arg WHEN 'columns' THEN v_child_name ELSE v_parent_name END
                    USING ERRCODE = 'undefined_column';
            END IF;
            IF v_arg = 'columns' THEN
                v_ctypes := v_ctypes || v_type;
            ELSE
                v_ptypes := v_ptypes || v_type;
            END IF;
        END LOOP;
    END LOOP;
    IF cardinality(columns) <> cardinality(v_pcols) THEN
        RAISE EXCEPTION 'number of referencing and referenced columns disagree'
            USING ERRCODE = 'invalid_foreign_key',
                  DETAIL = format('columns names %s, the referenced key has %s.',
                                  cardinality(columns), cardinality(v_pcols));
    END IF;

    FOR i IN 1 .. cardinality(columns) LOOP
        -- the "=" of the two types wherever it lives (citext's is in the
        -- extension's schema), else pg_catalog's with implicit casts
        SELECT format('OPERATOR(%I.=)', n.nspname) INTO v_op
          FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
         WHERE o.oprname = '=' AND o.oprresult = 'boolean'::regtype
           AND o.oprleft IN (v_ptypes[i], (SELECT t.typbasetype FROM pg_type t
                                            WHERE t.oid = v_ptypes[i] AND t.typtype = 'd'))
           AND o.oprright IN (v_ctypes[i], (SELECT t.typbasetype FROM pg_type t
                                             WHERE t.oid = v_ctypes[i] AND t.typtype = 'd'))
         ORDER BY o.oprleft = v_ptypes[i] AND o.oprright = v_ctypes[i] DESC, n.nspname = 'pg_catalog' DESC
         LIMIT 1;
        IF v_op IS NULL THEN
            BEGIN
                EXECUTE format('SELECT NULL::%s OPERATOR(pg_catalog.=) NULL::%s',
                               format_type(v_ptypes[i], NULL), format_type(v_ctypes[i], NULL));
            EXCEPTION WHEN undefined_function OR ambiguous_function THEN
                RAISE EXCEPTION 'key columns "%" and "%" are of incompatible types: % and %',
                                columns[i], v_pcols[i], format_type(v_ctypes[i], NULL),
                                format_type(v_ptypes[i], NULL)
                    USING ERRCODE = 'datatype_mismatch';
            END;
            v_op := 'OPERATOR(pg_catalog.=)';
        END IF;
        v_select := v_select || CASE WHEN i > 1 THEN ', ' ELSE '' END || format('c.%I AS k%s', columns[i], i);
        v_notnull := v_notnull || format(' AND c.%I IS NOT NULL', columns[i]);
        v_match := v_match || CASE WHEN i > 1 THEN ' AND ' ELSE '' END
                   || format('p.%I %s c.%I', v_pcols[i], v_op, columns[i]);
        v_order := v_order || CASE WHEN i > 1 THEN ', ' ELSE '' END || format('k%s', i);
    END LOOP;
    v_key := CASE WHEN cardinality(columns) = 1 THEN 'k1::text'
                  ELSE format('ROW(%s)::text', v_order) END;

    v_sql := format($q$
        WITH o AS MATERIALIZED (
            SELECT %s FROM %s%s c
             WHERE %s AND NOT EXISTS (SELECT 1 FROM %s%s p WHERE %s))
        SELECT (SELECT count(*) FROM o),
               coalesce((SELECT array_agg(s.key ORDER BY %s)
                           FROM (SELECT DISTINCT %s, %s AS key FROM o ORDER BY %s LIMIT 10) s),
                        '{}'::text[])$q$,
        v_select, CASE WHEN v_child_kind = 'r' THEN 'ONLY ' ELSE '' END, child::text,
        substr(v_notnull, 6),
        CASE WHEN v_parent_kind = 'r' THEN 'ONLY ' ELSE '' END, parent::text, v_match,
        v_order, v_order, v_key, v_order);
    RETURN QUERY EXECUTE v_sql;
END $$;
COMMENT ON FUNCTION @extschema@.migrate_check_fk(regclass, text[], regclass, text[]) IS
    'count the rows of child whose key has no row in parent, with up to 10 sample keys (check before adding a foreign key)';

-- The post-migration checks; one row per problem, and one "ok" row per
-- check that found none.
CREATE FUNCTION @extschema@.migrate_validate()
RETURNS TABLE (check_name text, severity text, object text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
WITH checks(ord, name) AS (
    VALUES (1, 'invalid-index'), (2, 'not-valid-constraint'), (3, 'fk-without-index'),
           (4, 'table-without-primary-key'), (5, 'sequence-near-exhaustion'),
           (6, 'schema-drift'), (7, 'migration-not-completed')
),
snap AS (
    SELECT s.version, s.objects FROM steward.schema_snapshots s ORDER BY s.id DESC LIMIT 1
),
seqs AS (
    SELECT q.seqrelid, q.seqincrement,
           CASE WHEN has_sequence_privilege(q.seqrelid, 'SELECT,USAGE')
                THEN pg_sequence_last_value(q.seqrelid) END::numeric AS last_value,
           q.seqmin::numeric AS seqmin, q.seqmax::numeric AS seqmax, col.attrelid, col.attname, col.atttypid,
           CASE col.atttypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647
                             WHEN 'int8'::regtype THEN 9223372036854775807 END::numeric AS type_max
      FROM pg_sequence q
      JOIN steward.review_relations r ON r.oid = q.seqrelid
      LEFT JOIN LATERAL (
          SELECT a.attrelid, a.attname, a.atttypid
            FROM pg_depend d
            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
           WHERE d.classid = 'pg_class'::regclass AND d.objid = q.seqrelid
             AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
           LIMIT 1) col ON true
     WHERE NOT q.seqcycle
),
seq_use AS (
    SELECT s.*, lim.limit_value, lim.by_column,
           round(100 * CASE WHEN s.seqincrement > 0
                            THEN (s.last_value - s.seqmin) / nullif(lim.limit_value - s.seqmin, 0)
                            ELSE (s.seqmax - s.last_value) / nullif(s.seqmax - lim.limit_value, 0) END, 1) AS pct
      FROM seqs s,
           LATERAL (SELECT CASE WHEN s.seqincrement > 0 THEN least(s.seqmax, s.type_max)
                                ELSE greatest(s.seqmin, -s.type_max - 1) END AS limit_value,
                           CASE WHEN s.seqincrement > 0 THEN s.type_max <= s.seqmax
                                ELSE -s.type_max - 1 >= s.seqmin END AS by_column) lim
     WHERE s.last_value IS NOT NULL
),
drift AS (
    SELECT coalesce(n.key, o.key) AS identity,
           CASE WHEN o.key IS NULL THEN 'added' WHEN n.key IS NULL THEN 'dropped' ELSE 'changed' END AS change
      FROM (SELECT e.key, e.value FROM snap, jsonb_each_text(snap.objects) e) o
      FULL JOIN (SELECT e.key, e.value FROM jsonb_each_text(steward.schema_objects()) e) n ON n.key = o.key
     WHERE o.value IS DISTINCT FROM n.value
),
problems(ord, severity, object, detail) AS (
    -- 1: invalid indexes
    SELECT 1, 'error', i.indexrelid::regclass::text,
           CASE WHEN ic.relkind = 'I'
                THEN format('partitioned index is not valid: an index of a partition is missing; create it and '
                            'attach it with ALTER INDEX %s ATTACH PARTITION', i.indexrelid::regclass)
                ELSE format('index is not valid (left by a failed CREATE INDEX CONCURRENTLY, or still being '
                            'built); drop it with DROP INDEX CONCURRENTLY %s and create it again',
                            i.indexrelid::regclass) END
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN steward.review_relations r ON r.oid = i.indrelid
     WHERE NOT i.indisvalid
    UNION ALL
    -- 2: NOT VALID constraints (a partition's clone is validated with its parent's)
    SELECT 2, 'warning', k.conrelid::regclass::text || '.' || quote_ident(k.conname),
           format('constraint is NOT VALID; validate it in a background job with SELECT validate_constraint(%L, %L), '
                  'or with ALTER TABLE %s VALIDATE CONSTRAINT %I',
                  k.conrelid::regclass::text, k.conname, k.conrelid::regclass, k.conname)
      FROM pg_constraint k JOIN steward.review_relations r ON r.oid = k.conrelid
     WHERE NOT k.convalidated AND k.conparentid = 0 AND k.conislocal
    UNION ALL
    SELECT 2, 'warning', format_type(k.contypid, NULL) || '.' || quote_ident(k.conname),
           format('domain constraint is NOT VALID; validate it with ALTER DOMAIN %s VALIDATE CONSTRAINT %I',
                  format_type(k.contypid, NULL), k.conname)
      FROM pg_constraint k
      JOIN pg_type t ON t.oid = k.contypid
      JOIN steward.review_schemas s ON s.oid = t.typnamespace
     WHERE NOT k.convalidated
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL
    -- 3: foreign keys whose columns lead no valid, non-partial btree or hash index
    SELECT 3, 'warning', k.conrelid::regclass::text || '.' || quote_ident(k.conname),
           format('no index leads with the referencing columns (%s), so every DELETE or key UPDATE on %s scans %s; '
                  'create one with CREATE INDEX%s ON %s (%s)',
                  cols.list, k.confrelid::regclass, k.conrelid::regclass,
                  CASE WHEN r.relkind = 'p' THEN '' ELSE ' CONCURRENTLY' END, k.conrelid::regclass, cols.list)
      FROM pg_constraint k
      JOIN steward.review_relations r ON r.oid = k.conrelid
      CROSS JOIN LATERAL (
          SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n) AS list
            FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum) cols
     WHERE k.contype = 'f' AND k.conparentid = 0
       AND NOT EXISTS (
           SELECT 1 FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_am am ON am.oid = ic.relam
            WHERE i.indrelid = k.conrelid AND i.indisvalid AND i.indpred IS NULL
              AND am.amname IN ('btree', 'hash')
              AND i.indnkeyatts >= cardinality(k.conkey)
              AND (SELECT array_agg(x.attnum) FROM unnest(i.indkey::int2[]) WITH ORDINALITY x(attnum, n)
                    WHERE x.n <= cardinality(k.conkey)) @> k.conkey)
    UNION ALL
    -- 4: tables without a primary key (partitions share their parent's)
    SELECT 4, 'warning', r.oid::regclass::text,
           'table has no primary key (backfill, copy_table and logical replication of UPDATE and DELETE need a key)'
      FROM steward.review_relations r
     WHERE r.relkind IN ('r', 'p') AND NOT r.relispartition
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = r.oid AND k.contype = 'p')
    UNION ALL
    -- 5: sequences past 75 % of their range (or of the column they fill)
    SELECT 5, CASE WHEN u.pct > 90 THEN 'error' ELSE 'warning' END, u.seqrelid::regclass::text,
           format('%s%% of the range used: last value %s, limit %s (%s)', u.pct, u.last_value, u.limit_value,
                  CASE WHEN u.by_column
                       THEN format('type %s of column %s.%I', format_type(u.atttypid, NULL),
                                   u.attrelid::regclass, u.attname)
                       WHEN u.seqincrement > 0 THEN 'the sequence''s maxvalue'
                       ELSE 'the sequence''s minvalue' END)
      FROM seq_use u
     WHERE u.pct > 75
    UNION ALL
    -- 6: schema drift since the newest fingerprint
    SELECT 6, 'warning', d.identity,
           format('%s since the schema fingerprint of version %s', d.change, snap.version)
      FROM drift d, snap
    UNION ALL
    SELECT 6, 'info', NULL,
           'no schema fingerprint recorded yet: migrate_apply, migrate_rollback and migrate_baseline record one'
     WHERE NOT EXISTS (SELECT 1 FROM snap)
    UNION ALL
    -- 7: migrations that failed or are still in progress
    SELECT 7, 'error', m.version,
           CASE WHEN m.status = 'failed' THEN
               'failed' || coalesce(' at statement ' || m.error_statement, '')
                        || coalesce(' (' || m.error_sqlstate || ')', '')
                        || coalesce(': ' || m.error_message, '')
                        || '; apply it again or resolve it with migrate_repair()'
           WHEN m.job_id IS NOT NULL THEN
               format('in progress: job %s runs its statements that refuse a transaction block', m.job_id)
           ELSE format('in progress in the transaction of backend %s', m.backend_pid) END
      FROM steward.migration_state m
     WHERE m.status IN ('failed', 'in_progress')
)
SELECT r.name, r.severity, r.object, r.detail
  FROM (SELECT c.ord, c.name, p.severity, p.object, p.detail
          FROM checks c JOIN problems p ON p.ord = c.ord
        UNION ALL
        SELECT c.ord, c.name, 'ok', NULL, NULL
          FROM checks c
         WHERE NOT EXISTS (SELECT 1 FROM problems p WHERE p.ord = c.ord)) r
 ORDER BY r.ord, r.object COLLATE "C"
$$;
COMMENT ON FUNCTION @extschema@.migrate_validate() IS
    'post-migration checks: invalid indexes, NOT VALID constraints, unindexed foreign keys, tables without primary key, sequences near exhaustion, schema drift, unfinished migrations';

-- The fingerprint of the current schema, to compare two databases.
CREATE FUNCTION @extschema@.migrate_fingerprint()
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT steward.schema_fingerprint(steward.schema_objects())
$$;
COMMENT ON FUNCTION @extschema@.migrate_fingerprint() IS
    'the fingerprint of the current schema (v1:sha256 over every user object''s definition)';

REVOKE ALL ON FUNCTION @extschema@.migrate_check_fk(regclass, text[], regclass, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migrate_validate() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.migrate_fingerprint() FROM PUBLIC;
