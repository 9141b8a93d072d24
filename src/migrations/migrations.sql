-- src/migrations/migrations.sql: the current definition of the migrations
-- area (src/migrations): the history tables, the bookkeeping functions the
-- C code calls (row transitions of an attempt, repair, baseline, import),
-- the link of every migration event to the audit ledger, and the API
-- (migrate_apply, migrate_rollback, migrate_repair, migrate_baseline,
-- migrate_checksum, migrate_status, migrate_history, migrate_import and
-- migrate_plan, the dry run).  Part of the install script the build
-- generates (src/README.md, "SQL sources"); it comes after audit.sql,
-- review.sql and jobs.sql, whose objects it uses; grants are in
-- src/privileges.sql.

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
    -- A stored down_sql runs with the privileges of the role that stored
    -- it, never with those of whoever rolls it back: that role (its OID,
    -- and its name for messages once it is gone), written where down_sql
    -- is written, by migrate_apply (begin_attempt) and by migrate_repair
    -- (repair).  Rows stored before 0.3.0 have NULL; migrate_rollback then
    -- falls back to the role of the apply, or refuses
    -- (docs/migrations.md#privileges).
    down_sql_role       oid,
    down_sql_role_name  name,
    CHECK (attempt_xid IS NULL OR status = 'in_progress')
);
COMMENT ON TABLE steward.migrations IS
    'one row per migration version: definition and latest attempt (read it with migrate_status())';
COMMENT ON COLUMN steward.migrations.down_sql_role IS
    'the role (current_user) that stored down_sql; migrate_rollback runs down_sql as this role';

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
DECLARE
    v_author oid;
BEGIN
    PERFORM steward.reconcile();
    IF op = 'apply' THEN
        IF p_down_sql IS NOT NULL THEN
            SELECT r.oid INTO STRICT v_author
              FROM pg_catalog.pg_roles r WHERE r.rolname = who->>'current_user';
        END IF;
        INSERT INTO steward.migrations AS t
            (version, description, checksum, up_sql, down_sql, status, last_op,
             attempts, statements_total, statements_applied, lock_retries,
             session_user_name, current_user_name, application_name,
             client_addr, backend_pid, started_at, attempt_xid, review,
             down_sql_role, down_sql_role_name)
        VALUES (p_version, p_description, p_checksum, p_up_sql, p_down_sql,
                'in_progress', 'apply', 1, p_total, 0, 0,
                who->>'session_user', who->>'current_user', who->>'application_name',
                (who->>'client_addr')::inet, (who->>'backend_pid')::integer,
                clock_timestamp(), p_xid, p_review,
                v_author, CASE WHEN v_author IS NOT NULL THEN who->>'current_user' END)
        ON CONFLICT (version) DO UPDATE
           SET description = EXCLUDED.description, checksum = EXCLUDED.checksum,
               up_sql = EXCLUDED.up_sql, down_sql = EXCLUDED.down_sql,
               down_sql_role = EXCLUDED.down_sql_role,
               down_sql_role_name = EXCLUDED.down_sql_role_name,
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
    v_author oid;
BEGIN
    IF p_down_sql IS NOT NULL THEN
        SELECT r.oid INTO STRICT v_author
          FROM pg_catalog.pg_roles r WHERE r.rolname = who->>'current_user';
    END IF;
    SELECT * INTO old FROM steward.migrations WHERE version = p_version FOR UPDATE;
    UPDATE steward.migrations AS t
       SET status = coalesce(p_status, t.status),
           up_sql = coalesce(p_up_sql, t.up_sql),
           checksum = coalesce(p_checksum, t.checksum),
           down_sql = coalesce(p_down_sql, t.down_sql),
           down_sql_role = CASE WHEN p_down_sql IS NOT NULL THEN v_author
                                ELSE t.down_sql_role END,
           down_sql_role_name = CASE WHEN p_down_sql IS NOT NULL THEN (who->>'current_user')::name
                                     ELSE t.down_sql_role_name END,
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

-- Migrations API -------------------------------------------------------------

CREATE FUNCTION steward.migrate_apply(
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
    post_checks text[] DEFAULT NULL,
    allow text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_apply'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]) IS
    'apply a versioned migration atomically, with checksum, history, timeouts and lock retries';

CREATE FUNCTION steward.migrate_rollback(
    version text,
    out_of_order boolean DEFAULT false,
    lock_timeout interval DEFAULT NULL,
    statement_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_rollback'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_rollback(text, boolean, interval, interval, integer) IS
    'run a completed migration''s stored down_sql atomically and mark it rolled_back';

CREATE FUNCTION steward.migrate_repair(
    version text,
    reason text,
    status text DEFAULT NULL,
    up_sql text DEFAULT NULL,
    down_sql text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_repair'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_repair(text, text, text, text, text) IS
    'resolve a failed or aborted migration, or accept a deliberately changed checksum, with a reason';

CREATE FUNCTION steward.migrate_baseline(version text, description text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_baseline'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_baseline(text, text) IS
    'record that the schema already is at this version (for databases older than pg_steward)';

CREATE FUNCTION steward.migrate_checksum(sql text)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_checksum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION steward.migrate_checksum(text) IS
    'the checksum migrate_apply stores for this SQL (v1:sha256 over normalized text)';

CREATE FUNCTION steward.migrate_history(version text DEFAULT NULL)
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
COMMENT ON FUNCTION steward.migrate_history(text) IS
    'every migration event (apply, fail, abort, rollback, rollback_fail, repair, baseline), oldest first';

-- Adoption from Prisma and Flyway.  migrate_import (src/migrations/import.c)
-- refuses a call from inside a migration, needs a read-write primary, takes
-- the migration lock with migrate_apply's own code and reads the history
-- table as the caller; steward.import_history, its bookkeeping, gets what
-- the caller read, as JSON, and evaluates nothing of the caller's.

-- NULL for a valid migration version, else why not (the rule of
-- migrate_apply's version argument, src/common/args.c).
CREATE FUNCTION steward.version_problem(version text) RETURNS text
AS 'MODULE_PATHNAME', 'steward_version_problem_sql'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION steward.version_problem(text) IS
    'NULL for a valid migration version, else what is wrong with it';

-- The version a migration folder or file name maps to: each run of
-- characters outside the version alphabet becomes one "_" (src/common/
-- args.c).  The client's deploy and migrate_import map names with it.
CREATE FUNCTION steward.version_from_name(name text) RETURNS text
AS 'MODULE_PATHNAME', 'steward_version_from_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION steward.version_from_name(text) IS
    'the migration version a folder or file name maps to';

-- migrate_import's bookkeeping, called by migrate_import as the owner with
-- the migration lock held: p_table names the history table (for the
-- record), p_columns are its column names and p_rows its rows (JSON arrays,
-- as the caller read them), p_who the caller.  Classifies the rows, records
-- every successfully applied versioned migration as a completed baseline
-- with the tool's checksum, and reports every row.
CREATE FUNCTION steward.import_history(p_tool text, p_table text, p_columns jsonb,
                                       p_rows jsonb, who jsonb)
RETURNS TABLE (o_version text, o_description text, o_checksum text, o_status text,
               o_imported boolean, o_note text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_prisma constant text[] := ARRAY['id', 'checksum', 'finished_at', 'migration_name', 'logs',
                                      'rolled_back_at', 'started_at', 'applied_steps_count'];
    v_flyway constant text[] := ARRAY['installed_rank', 'version', 'description', 'type', 'script',
                                      'checksum', 'installed_by', 'installed_on', 'execution_time',
                                      'success'];
    v_layouts constant text :=
        'migrate_import reads Prisma''s _prisma_migrations (tool => ''prisma''; columns id, checksum, '
        'finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) and '
        'Flyway''s flyway_schema_history (tool => ''flyway''; columns installed_rank, version, '
        'description, type, script, checksum, installed_by, installed_on, execution_time, success).';
    v_cols text[];
    v_tool text := p_tool;
    v_missing text;
    r record;
    m steward.migrations;
    v_desc text;
    v_last text;
    v_prev text;
    v_unsorted text;
BEGIN
    SELECT coalesce(array_agg(c), '{}') INTO v_cols FROM jsonb_array_elements_text(p_columns) AS c;
    IF v_tool IS NULL THEN
        IF v_prisma <@ v_cols AND v_flyway <@ v_cols THEN
            RAISE EXCEPTION 'cannot tell which migration tool wrote %', p_table
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Its columns match both supported layouts.',
                      HINT = 'Pass tool => ''prisma'' or tool => ''flyway''.';
        ELSIF v_prisma <@ v_cols THEN
            v_tool := 'prisma';
        ELSIF v_flyway <@ v_cols THEN
            v_tool := 'flyway';
        ELSE
            RAISE EXCEPTION 'cannot tell which migration tool wrote %', p_table
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Its columns match neither supported layout.',
                      HINT = v_layouts;
        END IF;
    ELSE
        SELECT string_agg(l.col, ', ' ORDER BY l.ord) INTO v_missing
          FROM unnest(CASE v_tool WHEN 'prisma' THEN v_prisma ELSE v_flyway END)
               WITH ORDINALITY AS l(col, ord)
         WHERE l.col <> ALL (v_cols);
        IF v_missing IS NOT NULL THEN
            RAISE EXCEPTION '% does not have the layout of % history table', p_table,
                            CASE v_tool WHEN 'prisma' THEN 'Prisma''s' ELSE 'Flyway''s' END
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Missing columns: %s.', v_missing),
                      HINT = v_layouts;
        END IF;
    END IF;

    FOR r IN
        WITH src AS (
            SELECT x.e, x.n FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS x(e, n)
        ),
        -- Prisma: _prisma_migrations, one row per attempt
        p_src AS (
            SELECT s.e->>'migration_name' AS name,
                   s.e->>'checksum' AS raw_checksum,
                   (s.e->>'started_at')::timestamptz AS started_at,
                   (s.e->>'finished_at')::timestamptz AS finished_at,
                   (s.e->>'rolled_back_at')::timestamptz AS rolled_back_at,
                   CASE WHEN s.e->>'rolled_back_at' IS NOT NULL THEN 'rolled_back'
                        WHEN s.e->>'finished_at' IS NULL THEN 'failed'
                        ELSE 'applied' END AS status,
                   s.e AS orig, s.n
              FROM src s
             WHERE v_tool = 'prisma'
        ),
        -- the version a migration's folder name maps to (the client's rule)
        p_ord AS (
            SELECT CASE WHEN p.name = '' THEN p.name
                        ELSE steward.version_from_name(p.name) END AS version,
                   p.*, row_number() OVER (ORDER BY p.started_at, p.finished_at, p.n) AS ord
              FROM p_src p
        ),
        -- the successful attempt that counts (the latest, should there be several)
        p_won AS (
            SELECT DISTINCT ON (p.version) p.version, p.ord
              FROM p_ord p WHERE p.status = 'applied'
             ORDER BY p.version, p.ord DESC
        ),
        prisma AS (
            SELECT p.ord, p.version,
                   coalesce(substring(p.name from '^[0-9]+_(.+)$'), p.name) AS description,
                   'prisma:sha256:' || p.raw_checksum AS checksum,
                   p.status,
                   coalesce(p.status = 'applied' AND (w.ord IS NULL OR w.ord = p.ord), false) AS candidate,
                   CASE p.status
                       WHEN 'failed' THEN
                           CASE WHEN w.ord IS NULL THEN 'failed: not finished (finished_at is null)'
                                ELSE 'failed attempt (finished_at is null); the successful attempt counts' END
                       WHEN 'rolled_back' THEN
                           CASE WHEN w.ord IS NULL THEN 'rolled back (rolled_back_at is set)'
                                ELSE 'rolled-back attempt (rolled_back_at is set); the successful attempt counts' END
                       ELSE
                           CASE WHEN w.ord IS NOT NULL AND w.ord <> p.ord
                                THEN 'duplicate: a later successful row of this migration counts' END
                   END AS note,
                   p.started_at, p.finished_at, NULL::text AS applied_by, p.orig
              FROM p_ord p LEFT JOIN p_won w ON w.version = p.version
        ),
        -- Flyway: flyway_schema_history, one row per installed_rank
        f_src AS (
            SELECT (s.e->>'installed_rank')::bigint AS rank,
                   s.e->>'version' AS version,
                   s.e->>'description' AS description,
                   upper(s.e->>'type') AS type,
                   s.e->>'checksum' AS raw_checksum,
                   s.e->>'installed_by' AS installed_by,
                   (s.e->>'installed_on')::timestamptz AS installed_on,
                   coalesce((s.e->>'execution_time')::bigint, 0) AS exec_ms,
                   coalesce((s.e->>'success')::boolean, false) AS success,
                   s.e AS orig, s.n
              FROM src s
             WHERE v_tool = 'flyway'
        ),
        f_kind AS (
            SELECT f.*,
                   CASE WHEN f.version IS NULL THEN 'repeatable'
                        WHEN f.type = 'SCHEMA' THEN 'schema'
                        WHEN f.type LIKE 'UNDO\_%' THEN 'undo'
                        WHEN f.type = 'DELETE' THEN 'delete'
                        ELSE 'versioned' END AS kind
              FROM f_src f
        ),
        -- the row that decides a version: its latest successful one
        f_eff AS (
            SELECT DISTINCT ON (f.version) f.version, f.rank, f.n, f.kind
              FROM f_kind f
             WHERE f.success AND f.kind IN ('versioned', 'undo', 'delete')
             ORDER BY f.version, f.rank DESC, f.n DESC
        ),
        flyway AS (
            SELECT row_number() OVER (ORDER BY f.rank, f.n) AS ord, f.version, f.description,
                   'flyway:crc32:' || f.raw_checksum AS checksum,
                   CASE WHEN NOT f.success THEN 'failed'
                        WHEN f.type = 'BASELINE' OR f.type LIKE '%\_BASELINE' THEN 'baseline'
                        ELSE 'applied' END AS status,
                   coalesce(f.success AND f.kind = 'versioned' AND e.n = f.n, false) AS candidate,
                   CASE
                       WHEN f.kind = 'repeatable' THEN 'repeatable migration: not versioned'
                       WHEN f.kind = 'schema' THEN 'schema creation marker: not a migration'
                       WHEN NOT f.success THEN
                           CASE WHEN e.kind = 'versioned'
                                THEN 'failed attempt (success is false); the successful attempt counts'
                                ELSE 'failed (success is false)' END
                       WHEN f.kind = 'undo' THEN 'undo migration: not imported'
                       WHEN f.kind = 'delete' THEN 'marked deleted by flyway repair: not imported'
                       WHEN e.n = f.n THEN NULL
                       WHEN e.kind = 'undo' THEN 'undone at installed_rank ' || e.rank
                       WHEN e.kind = 'delete' THEN 'marked deleted at installed_rank ' || e.rank
                       ELSE 'superseded by installed_rank ' || e.rank
                   END AS note,
                   f.installed_on - make_interval(secs => f.exec_ms / 1000.0) AS started_at,
                   f.installed_on AS finished_at, f.installed_by AS applied_by, f.orig
              FROM f_kind f LEFT JOIN f_eff e ON e.version = f.version
        )
        SELECT * FROM prisma
        UNION ALL
        SELECT * FROM flyway
        ORDER BY 1
    LOOP
        o_version := r.version;
        o_description := r.description;
        o_checksum := r.checksum;
        o_status := r.status;
        o_imported := false;
        o_note := r.note;
        IF r.candidate THEN
            -- migrate_apply's rule for a version (steward_check_version)
            o_note := steward.version_problem(r.version);
        END IF;
        IF r.candidate AND o_note IS NULL THEN
            SELECT * INTO m FROM steward.migrations t WHERE t.version = r.version;
            IF FOUND THEN
                o_note := CASE WHEN m.kind = 'baseline' THEN 'already recorded'
                               ELSE format('already recorded as a migration (status %s); not overwritten',
                                           m.status) END;
            ELSE
                v_desc := nullif(btrim(r.description, E' \t\r\n'), '');
                IF octet_length(v_desc) > 1024 THEN     -- migrate_baseline's limit
                    v_desc := left(v_desc, 1024);
                    WHILE octet_length(v_desc) > 1024 LOOP
                        v_desc := left(v_desc, -1);
                    END LOOP;
                END IF;
                INSERT INTO steward.migrations
                    (version, kind, description, checksum, status, last_op, attempts,
                     session_user_name, current_user_name, application_name, client_addr,
                     backend_pid, started_at, finished_at, duration, installed_rank)
                VALUES (r.version, 'baseline', v_desc, r.checksum, 'completed', 'baseline', 0,
                        who->>'session_user', who->>'current_user', who->>'application_name',
                        (who->>'client_addr')::inet, (who->>'backend_pid')::integer,
                        coalesce(r.started_at, r.finished_at, clock_timestamp()),
                        coalesce(r.finished_at, clock_timestamp()),
                        coalesce(greatest(r.finished_at - r.started_at, interval '0'), interval '0'),
                        nextval('steward.installed_rank_seq'))
                RETURNING * INTO m;
                PERFORM steward.append_event(m, 'baseline', who,
                    reason => format('imported from %s table %s', v_tool, p_table),
                    details => jsonb_build_object(
                        'tool', v_tool, 'table', p_table,
                        'applied_at', r.finished_at, 'applied_by', r.applied_by,
                        'row', r.orig));
                o_imported := true;
                IF v_prev IS NOT NULL AND v_unsorted IS NULL
                   AND r.version COLLATE "C" < v_prev COLLATE "C" THEN
                    v_unsorted := format('"%s" sorts before "%s"', r.version, v_prev);
                END IF;
                v_prev := r.version;
                v_last := r.version;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;

    IF v_last IS NOT NULL THEN
        PERFORM steward.record_schema_snapshot(v_last);
    END IF;
    IF v_unsorted IS NOT NULL THEN
        RAISE NOTICE 'the imported versions do not sort as text in the order % applied them: %',
                     v_tool, v_unsorted
            USING HINT = 'pg_steward compares versions as text (collation "C"): give new versions names that sort after every imported one, or pass out_of_order => true to migrate_apply.';
    END IF;
END $$;
COMMENT ON FUNCTION steward.import_history(text, text, jsonb, jsonb, jsonb) IS
    'migrate_import''s bookkeeping: records the applied migrations of a Prisma or Flyway history as baselines';

CREATE FUNCTION steward.migrate_import(source regclass, tool text DEFAULT NULL)
RETURNS TABLE (version text, description text, checksum text, status text,
               imported boolean, note text)
AS 'MODULE_PATHNAME', 'steward_migrate_import'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_import(regclass, text) IS
    'record the migrations a Prisma or Flyway history table shows as applied as completed baselines, without running them';

-- The dry run (src/migrations/dryrun.c): the migration runs in a subtransaction
-- that is rolled back, under the runtime guards of the review.
CREATE FUNCTION steward.migrate_plan(
    sql text,
    lock_timeout interval DEFAULT NULL,
    statement_timeout interval DEFAULT NULL)
RETURNS TABLE (
    statement integer, step text, object_kind text, object text,
    lock_mode text, detail text, duration interval)
AS 'MODULE_PATHNAME', 'steward_migrate_plan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_plan(text, interval, interval) IS
    'dry run: execute a migration in a subtransaction, roll it back, report objects, locks and rewrites';

-- Expand/contract migrations (src/migrations/expand*.c) ---------------------

-- One row per expand/contract migration: what expand added and where it is.
-- Written only by the bookkeeping below, which migrate_expand,
-- migrate_contract and migrate_abort call as the owner.
-- kind 'column' (migrate_expand): a new column next to an old one, kept in
-- sync by a trigger; kind 'table' (migrate_expand_rename_table): the table
-- renamed, relation_name its new name, old_relation_name the view that has
-- its old name; the column fields are NULL; kind 'derive'
-- (migrate_expand_derive): a new column computed from old_columns by
-- up_expr, and back by down_exprs (one per old column, or NULL); kind
-- 'require' (migrate_expand_require): old_column made NOT NULL (new_column
-- the same, old_type and new_type its type), up_expr the fill expression,
-- down_expr and in_place NULL.
CREATE TABLE steward.expansions (
    version             text COLLATE "C" PRIMARY KEY,
    relation            oid NOT NULL,
    relation_name       text NOT NULL,
    old_column          name,
    new_column          name,
    in_place            boolean,
    old_type            text,
    new_type            text,
    up_expr             text,
    down_expr           text,
    sync_function       text,
    sync_trigger        name,
    backfill_job        bigint,
    phase               text NOT NULL CHECK (phase IN ('expanded', 'contracted', 'aborted')),
    expanded_by         name NOT NULL,
    expanded_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_by            name,
    ended_at            timestamptz,
    disagreeing         bigint,         -- rows counted by the last check, NULL: none yet
    disagreeing_counted_at timestamptz,
    kind                text NOT NULL DEFAULT 'column' CHECK (kind IN ('column', 'table', 'derive', 'require')),
    old_relation_name   text,
    old_columns         name[],
    down_exprs          text[],
    CHECK (kind <> 'column' OR (old_column IS NOT NULL AND new_column IS NOT NULL
                                AND in_place IS NOT NULL AND old_type IS NOT NULL
                                AND new_type IS NOT NULL AND up_expr IS NOT NULL
                                AND down_expr IS NOT NULL AND sync_function IS NOT NULL
                                AND sync_trigger IS NOT NULL)),
    CHECK (kind <> 'table' OR old_relation_name IS NOT NULL),
    CHECK (kind <> 'derive' OR (old_columns IS NOT NULL AND new_column IS NOT NULL
                                AND new_type IS NOT NULL AND up_expr IS NOT NULL
                                AND sync_function IS NOT NULL AND sync_trigger IS NOT NULL)),
    CHECK (kind <> 'require' OR (old_column IS NOT NULL AND new_column = old_column
                                 AND old_type IS NOT NULL AND up_expr IS NOT NULL
                                 AND sync_function IS NOT NULL AND sync_trigger IS NOT NULL))
);
COMMENT ON TABLE steward.expansions IS
    'one row per expand/contract migration (read it with migrate_expansions())';
SELECT pg_catalog.pg_extension_config_dump('steward.expansions', '');

-- migrate_expand's bookkeeping, in the caller's transaction after the
-- expand migration was applied.  An aborted expansion may be expanded again
-- (migrate_apply allows a rolled-back version again).
CREATE FUNCTION steward.expansion_begin(p_version text, p_relation oid, p_relation_name text,
                                        p_old name, p_new name, p_in_place boolean,
                                        p_old_type text, p_new_type text, p_up text,
                                        p_down text, p_function text, p_trigger name,
                                        p_job bigint, who jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO steward.expansions AS t
        (version, relation, relation_name, old_column, new_column, in_place,
         old_type, new_type, up_expr, down_expr, sync_function, sync_trigger,
         backfill_job, phase, expanded_by)
    VALUES (p_version, p_relation, p_relation_name, p_old, p_new, p_in_place,
            p_old_type, p_new_type, p_up, p_down, p_function, p_trigger,
            p_job, 'expanded', who->>'current_user')
    ON CONFLICT (version) DO UPDATE
       SET relation = EXCLUDED.relation, relation_name = EXCLUDED.relation_name,
           old_column = EXCLUDED.old_column, new_column = EXCLUDED.new_column,
           in_place = EXCLUDED.in_place, old_type = EXCLUDED.old_type,
           new_type = EXCLUDED.new_type, up_expr = EXCLUDED.up_expr,
           down_expr = EXCLUDED.down_expr, sync_function = EXCLUDED.sync_function,
           sync_trigger = EXCLUDED.sync_trigger, backfill_job = EXCLUDED.backfill_job,
           phase = 'expanded', expanded_by = EXCLUDED.expanded_by,
           expanded_at = clock_timestamp(), ended_by = NULL, ended_at = NULL,
           kind = 'column', old_relation_name = NULL, old_columns = NULL, down_exprs = NULL,
           disagreeing = NULL, disagreeing_counted_at = NULL
     WHERE t.phase = 'aborted';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'expand/contract migration "%" exists already', p_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- migrate_expand_rename_table's bookkeeping.
CREATE FUNCTION steward.expansion_begin_table(p_version text, p_relation oid, p_relation_name text,
                                              p_old_relation_name text, who jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO steward.expansions AS t
        (version, kind, relation, relation_name, old_relation_name, phase, expanded_by)
    VALUES (p_version, 'table', p_relation, p_relation_name, p_old_relation_name, 'expanded',
            who->>'current_user')
    ON CONFLICT (version) DO UPDATE
       SET kind = 'table', relation = EXCLUDED.relation, relation_name = EXCLUDED.relation_name,
           old_relation_name = EXCLUDED.old_relation_name, old_column = NULL, new_column = NULL,
           in_place = NULL, old_type = NULL, new_type = NULL, up_expr = NULL, down_expr = NULL,
           sync_function = NULL, sync_trigger = NULL, backfill_job = NULL,
           old_columns = NULL, down_exprs = NULL,
           phase = 'expanded', expanded_by = EXCLUDED.expanded_by,
           expanded_at = clock_timestamp(), ended_by = NULL, ended_at = NULL,
           disagreeing = NULL, disagreeing_counted_at = NULL
     WHERE t.phase = 'aborted';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'expand/contract migration "%" exists already', p_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- migrate_expand_derive's bookkeeping: the old columns and the down
-- expressions come as JSON arrays of strings (p_down NULL: no down).
CREATE FUNCTION steward.expansion_begin_derive(p_version text, p_relation oid, p_relation_name text,
                                               p_old jsonb, p_new name, p_new_type text, p_up text,
                                               p_down jsonb, p_function text, p_trigger name,
                                               p_job bigint, who jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old name[] := ARRAY(SELECT x::name FROM jsonb_array_elements_text(p_old) WITH ORDINALITY AS a(x, n) ORDER BY n);
    v_down text[] := CASE WHEN p_down IS NULL THEN NULL
                          ELSE ARRAY(SELECT x FROM jsonb_array_elements_text(p_down) WITH ORDINALITY AS a(x, n) ORDER BY n) END;
BEGIN
    INSERT INTO steward.expansions AS t
        (version, kind, relation, relation_name, old_columns, new_column, in_place, new_type,
         up_expr, down_exprs, sync_function, sync_trigger, backfill_job, phase, expanded_by)
    VALUES (p_version, 'derive', p_relation, p_relation_name, v_old, p_new, false, p_new_type,
            p_up, v_down, p_function, p_trigger, p_job, 'expanded', who->>'current_user')
    ON CONFLICT (version) DO UPDATE
       SET kind = 'derive', relation = EXCLUDED.relation, relation_name = EXCLUDED.relation_name,
           old_columns = EXCLUDED.old_columns, new_column = EXCLUDED.new_column, in_place = false,
           old_column = NULL, old_type = NULL, new_type = EXCLUDED.new_type, up_expr = EXCLUDED.up_expr,
           down_expr = NULL, down_exprs = EXCLUDED.down_exprs, old_relation_name = NULL,
           sync_function = EXCLUDED.sync_function, sync_trigger = EXCLUDED.sync_trigger,
           backfill_job = EXCLUDED.backfill_job,
           phase = 'expanded', expanded_by = EXCLUDED.expanded_by,
           expanded_at = clock_timestamp(), ended_by = NULL, ended_at = NULL,
           disagreeing = NULL, disagreeing_counted_at = NULL
     WHERE t.phase = 'aborted';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'expand/contract migration "%" exists already', p_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- migrate_expand_require's bookkeeping.
CREATE FUNCTION steward.expansion_begin_require(p_version text, p_relation oid, p_relation_name text,
                                                p_column name, p_type text, p_fill text,
                                                p_function text, p_trigger name, p_job bigint,
                                                who jsonb)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    -- an aborted expansion of the version makes room (expand refused a
    -- pending one, migrate_apply a contracted one)
    DELETE FROM steward.expansions AS t
     WHERE t.version = p_version AND t.phase = 'aborted';
    INSERT INTO steward.expansions
        (version, kind, relation, relation_name, old_column, new_column, old_type, new_type,
         up_expr, sync_function, sync_trigger, backfill_job, phase, expanded_by)
    VALUES (p_version, 'require', p_relation, p_relation_name, p_column, p_column, p_type, p_type,
            p_fill, p_function, p_trigger, p_job, 'expanded', who->>'current_user');
$$;

-- migrate_contract's and migrate_abort's bookkeeping.  Contract has just
-- counted no row that disagrees.
CREATE FUNCTION steward.expansion_end(p_version text, p_phase text, who jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE steward.expansions AS t
       SET phase = p_phase, ended_by = who->>'current_user', ended_at = clock_timestamp(),
           disagreeing = CASE WHEN p_phase = 'contracted' THEN 0 ELSE t.disagreeing END,
           disagreeing_counted_at = CASE WHEN p_phase = 'contracted' THEN clock_timestamp()
                                         ELSE t.disagreeing_counted_at END
     WHERE t.version = p_version AND t.phase = 'expanded';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'expand/contract migration "%" is not expanded', p_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- migrate_expand_check's bookkeeping: the count it made as its caller,
-- recorded for migrate_status().
CREATE FUNCTION steward.expansion_counted(p_version text, p_count bigint)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE steward.expansions AS t
       SET disagreeing = p_count, disagreeing_counted_at = clock_timestamp()
     WHERE t.version = p_version AND t.phase = 'expanded';
$$;

-- migrate_status() is defined after steward.expansions, which it reads.
CREATE FUNCTION steward.migrate_status()
RETURNS TABLE (
    version text, kind text, description text, status text, checksum text,
    statements_applied integer, statements_total integer, attempts integer,
    lock_retries integer, last_op text, started_at timestamptz,
    finished_at timestamptz, duration interval, session_user_name name,
    current_user_name name, application_name text, client_addr inet,
    backend_pid integer, error_sqlstate text, error_message text,
    error_statement integer, installed_rank bigint, job_id bigint, up_sql text, down_sql text,
    review jsonb, expand_phase text, backfill_job bigint, backfill_state text,
    backfill_rows_done bigint, rows_disagreeing bigint, disagreement_counted_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.version, s.kind, s.description, s.status, s.checksum,
           s.statements_applied, s.statements_total, s.attempts, s.lock_retries,
           s.last_op, s.started_at, s.finished_at, s.duration,
           s.session_user_name, s.current_user_name, s.application_name,
           s.client_addr, s.backend_pid, s.error_sqlstate, s.error_message,
           s.error_statement, s.installed_rank, s.job_id, s.up_sql, s.down_sql,
           s.review, e.phase, e.backfill_job, j.state, j.rows_done,
           e.disagreeing, e.disagreeing_counted_at
      FROM steward.migration_state s
      LEFT JOIN steward.expansions e ON e.version = s.version
      LEFT JOIN steward.jobs j ON j.id = e.backfill_job
     ORDER BY s.version
$$;
COMMENT ON FUNCTION steward.migrate_status() IS
    'every migration version with its status and its latest attempt, and the phase and backfill of an expand/contract migration';

CREATE FUNCTION steward.migrate_expand(
    version text,
    relation regclass,
    column_name name,
    new_name name DEFAULT NULL,
    new_type text DEFAULT NULL,
    up text DEFAULT NULL,
    down text DEFAULT NULL,
    description text DEFAULT NULL,
    out_of_order boolean DEFAULT false,
    lock_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL,
    batch_size integer DEFAULT 10000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_migrate_expand'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_expand(text, regclass, name, name, text, text, text, text, boolean, interval, integer, integer) IS
    'expand: add a renamed or retyped copy of a column, keep both in sync by a trigger, backfill it in a job; returns the job id';

CREATE FUNCTION steward.migrate_expand_rename_table(
    version text,
    relation regclass,
    new_name name,
    description text DEFAULT NULL,
    out_of_order boolean DEFAULT false,
    lock_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_expand_rename_table'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_expand_rename_table(text, regclass, name, text, boolean, interval, integer) IS
    'expand: rename a table and keep its old name as an updatable view of it until contract';

CREATE FUNCTION steward.migrate_expand_derive(
    version text,
    relation regclass,
    new_column name,
    new_type text,
    up text,
    old_columns name[],
    down text[] DEFAULT NULL,
    description text DEFAULT NULL,
    out_of_order boolean DEFAULT false,
    lock_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL,
    batch_size integer DEFAULT 10000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_migrate_expand_derive'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_expand_derive(text, regclass, name, text, text, name[], text[], text, boolean, interval, integer, integer) IS
    'expand: add a column derived from old columns by up (and back by down), kept in sync by a trigger, backfilled by a job; returns the job id';

CREATE FUNCTION steward.migrate_expand_require(
    version text,
    relation regclass,
    column_name name,
    fill text,
    description text DEFAULT NULL,
    out_of_order boolean DEFAULT false,
    lock_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL,
    batch_size integer DEFAULT 10000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_migrate_expand_require'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_expand_require(text, regclass, name, text, text, boolean, interval, integer, integer) IS
    'expand: make a column required; a trigger fills a NULL write from fill, a NOT VALID check refuses NULL, a job backfills the rows; returns the job id';

CREATE FUNCTION steward.migrate_expand_check(version text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_migrate_expand_check'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_expand_check(text) IS
    'the number of rows of an expanded table whose new column disagrees with up of the row (a required column: whose column is NULL)';

CREATE FUNCTION steward.migrate_contract(
    version text,
    lock_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_contract'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_contract(text, interval, integer) IS
    'contract: drop the sync trigger and the old column once the backfill has succeeded and every row agrees';

CREATE FUNCTION steward.migrate_abort(
    version text,
    lock_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_abort'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_abort(text, interval, integer) IS
    'abort an expanded migration: cancel its backfill, drop the trigger and the new column';

CREATE FUNCTION steward.migrate_expansions()
RETURNS TABLE (
    version text, relation text, old_column name, new_column name,
    new_type text, up text, down text, phase text, backfill_job bigint,
    backfill_state text, rows_done bigint, rows_estimate bigint,
    expanded_by name, expanded_at timestamptz, ended_by name, ended_at timestamptz,
    kind text, old_relation text, old_columns name[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT e.version, e.relation_name, e.old_column, e.new_column, e.new_type,
           e.up_expr, e.down_expr, e.phase, e.backfill_job, j.state, j.rows_done,
           j.rows_estimate, e.expanded_by, e.expanded_at, e.ended_by, e.ended_at,
           e.kind, e.old_relation_name, e.old_columns
      FROM steward.expansions e
      LEFT JOIN steward.jobs j ON j.id = e.backfill_job
     ORDER BY e.version
$$;
COMMENT ON FUNCTION steward.migrate_expansions() IS
    'every expand/contract migration with its phase and its backfill job''s progress';
