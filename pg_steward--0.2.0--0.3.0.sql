-- pg_steward 0.2.0 -> 0.3.0: upgrade script.
--
-- A new installation of 0.3.0 runs the install script the build generates
-- from the SQL sources (src/README.md, "SQL sources"); test/t/012_upgrade.pl
-- proves that it builds the same objects as 0.1.0's script, then
-- pg_steward--0.1.0--0.2.0.sql, then this script.
--
-- 0.3.0 is a security release (docs/security.md):
--   * the API moves from the schema CREATE EXTENSION targeted (public by
--     default) into schema steward, where only the extension owner can
--     create objects, so that no other role can shadow a pg_steward
--     function with a better-matching overload (CVE-2018-1058);
--   * everything else in this file closes a path by which a role could run
--     its own code with another role's privileges, or change the ledger.

\echo Use "ALTER EXTENSION pg_steward UPDATE TO '0.3.0'" to load this file. \quit

------------------------------------------------------------------------------
-- The API moves into schema steward
------------------------------------------------------------------------------

-- The internal half of audit_drop_expired has the API function's signature:
-- rename it first, so that the API function can move next to it.
ALTER FUNCTION steward.audit_drop_expired(boolean) RENAME TO drop_expired_partitions;

DO $move$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT p.oid::pg_catalog.regprocedure AS sig, p.prokind
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension
                              WHERE extname OPERATOR(pg_catalog.=) 'pg_steward')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND p.pronamespace OPERATOR(pg_catalog.<>) 'steward'::pg_catalog.regnamespace
         ORDER BY 1
    LOOP
        EXECUTE pg_catalog.format('ALTER %s %s SET SCHEMA steward',
                                  CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                                  r.sig);
    END LOOP;
END $move$;

-- Its body named the API function's old schema.
CREATE OR REPLACE FUNCTION steward.audit_drop_expired(dry_run boolean DEFAULT false)
RETURNS TABLE (partition_name text, range_from timestamptz, range_to timestamptz,
               events bigint, dropped boolean, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF dry_run IS NULL THEN
        RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT dry_run AND pg_current_xact_id_if_assigned() IS NULL THEN
        PERFORM steward.audit_seal();
    END IF;
    RETURN QUERY SELECT * FROM steward.drop_expired_partitions(dry_run);
END $$;

-- Every role may look names up in steward; what it may call is decided per
-- function.  Internal functions were never meant for PUBLIC: take back the
-- EXECUTE that CREATE FUNCTION grants by default on all of them, then give
-- PUBLIC back the two functions that are meant for everybody.
GRANT USAGE ON SCHEMA steward TO PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA steward FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA steward FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward.migrate_checksum(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION steward.migrate_lint_rules() TO PUBLIC;

------------------------------------------------------------------------------
-- Migrations
------------------------------------------------------------------------------

-- migrate_import is C now (src/migrations/import.c): it refuses a call from
-- inside a migration, needs a read-write primary and takes the migration
-- lock with migrate_apply's own code, and reads the history table as the
-- caller.  The bookkeeping below gets what the caller read, as JSON, and
-- evaluates nothing of the caller's.  The old bookkeeping read the table
-- itself as the owner (a view's functions ran as the owner) and could be
-- called on tables the caller cannot read: it is gone.
DROP FUNCTION steward.import_history(text, regclass);

-- NULL for a valid migration version, else why not (the rule of
-- migrate_apply's version argument, src/common/guard.c).
CREATE FUNCTION steward.version_problem(version text) RETURNS text
AS 'MODULE_PATHNAME', 'steward_version_problem_sql'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION steward.version_problem(text) IS
    'NULL for a valid migration version, else what is wrong with it';

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
            SELECT s.e->>'migration_name' AS version,
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
        p_ord AS (
            SELECT p.*, row_number() OVER (ORDER BY p.started_at, p.finished_at, p.n) AS ord
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
                   coalesce(substring(p.version from '^[0-9]+_(.+)$'), p.version) AS description,
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

CREATE OR REPLACE FUNCTION steward.migrate_import(source regclass, tool text DEFAULT NULL)
RETURNS TABLE (version text, description text, checksum text, status text,
               imported boolean, note text)
AS 'MODULE_PATHNAME', 'migrate_import'
LANGUAGE C VOLATILE;

-- A stored down_sql runs with the privileges of the role that stored it,
-- never with those of whoever rolls it back: record that role (its OID, and
-- its name for messages once it is gone) where down_sql is written, by
-- migrate_apply (begin_attempt) and by migrate_repair (repair).  Rows
-- stored before 0.3.0 keep NULL; migrate_rollback then falls back to the
-- role of the apply, or refuses (docs/migrations.md#privileges).
ALTER TABLE steward.migrations
    ADD COLUMN down_sql_role oid,
    ADD COLUMN down_sql_role_name name;
COMMENT ON COLUMN steward.migrations.down_sql_role IS
    'the role (current_user) that stored down_sql; migrate_rollback runs down_sql as this role';

CREATE OR REPLACE FUNCTION steward.begin_attempt(op text, p_version text, p_description text,
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

CREATE OR REPLACE FUNCTION steward.repair(p_version text, p_reason text, p_status text,
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

------------------------------------------------------------------------------
-- Review
------------------------------------------------------------------------------

-- migrate_validate() ran as the extension owner (SECURITY DEFINER) and
-- asked has_sequence_privilege() as that owner, so a caller saw the last
-- values of sequences it may not read.  Its checks move into
-- steward.validate_report(caller), which asks about the caller's
-- privileges; migrate_validate() becomes a C function that runs it as the
-- extension owner (it reads steward's tables) for the role that called.
CREATE FUNCTION steward.validate_report(p_caller oid)
RETURNS TABLE (check_name text, severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
           CASE WHEN has_sequence_privilege(p_caller, q.seqrelid, 'SELECT,USAGE')
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
REVOKE ALL ON FUNCTION steward.validate_report(oid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION steward.migrate_validate()
RETURNS TABLE (check_name text, severity text, object text, detail text)
AS 'MODULE_PATHNAME', 'migrate_validate'
LANGUAGE C STABLE;
COMMENT ON FUNCTION steward.migrate_validate() IS
    'post-migration checks: invalid indexes, NOT VALID constraints, unindexed foreign keys, tables without primary key, sequences near exhaustion (those the caller may read), schema drift, unfinished migrations';

-- migrate_check_fk compares the keys with the "=" of pg_catalog or of an
-- installed extension only: it picked the best-matching "=" of any schema,
-- another session's temporary schema included, and pasted it into the query.
CREATE OR REPLACE FUNCTION steward.migrate_check_fk(child regclass, columns text[], parent regclass,
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
        -- the "=" of the two types: pg_catalog's, or one an installed
        -- extension defines (citext's, in the extension's schema), else
        -- pg_catalog's with implicit casts.  Never an operator some role
        -- created by hand, in a schema of its own or its temporary schema:
        -- the caller would run that role's function.
        SELECT format('OPERATOR(%I.=)', n.nspname) INTO v_op
          FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
         WHERE o.oprname = '=' AND o.oprresult = 'boolean'::regtype
           AND (o.oprnamespace = 'pg_catalog'::regnamespace
                OR EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_operator'::regclass AND d.objid = o.oid
                              AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'))
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

------------------------------------------------------------------------------
-- Jobs
------------------------------------------------------------------------------

-- copy_table's capture trigger was SECURITY DEFINER and read the key with
-- to_jsonb(NEW), which calls a cast to json that the owner of a column's
-- type may create: that code ran as the extension owner.  The trigger now
-- runs as the writer, reads nothing of the row but the key column, with the
-- key type's output function, and logs it as the owner of schema steward
-- through one fixed INSERT into steward.copy_changes.  Triggers of running
-- copies call it by OID, so they change with it.
CREATE OR REPLACE FUNCTION steward.capture_change() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_capture_change';

------------------------------------------------------------------------------
-- Audit
------------------------------------------------------------------------------

-- Blocks say which rule their hash follows.  Format 1: sealed before 0.3.0;
-- the hash covers the header and the Merkle root, not the entries' ids,
-- xids and times nor the snapshot.  Format 2: sealed from 0.3.0 on; the
-- hash covers the entries and the snapshot too.  A block without a stated
-- format (restored from a dump of 0.2.0) is of format 1.
ALTER TABLE steward.audit_blocks ADD COLUMN format smallint NOT NULL DEFAULT 1;
COMMENT ON COLUMN steward.audit_blocks.format IS
    'what the block hash covers: 2 (from 0.3.0) the entries and the snapshot too, 1 the header only';

-- Only times the byte format can encode enter the ledger: finite, and
-- early enough that microseconds since 1970 fit in 64 bits.  Events get
-- the server's clock; this also holds for an INSERT by hand or a restore.
ALTER TABLE steward.audit_events ADD CONSTRAINT audit_events_time_encodable
    CHECK (event_time > '-infinity' AND event_time < '294247-01-01 00:00:00+00');

-- The event type alphabet (A-Z, 0-9, _, 1 to 64 characters, beginning with
-- a letter), checked the same way by every function that takes a type.
CREATE FUNCTION steward.audit_check_event_type(event_type text) RETURNS void
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'steward_audit_check_event_type_sql';

CREATE OR REPLACE FUNCTION steward.audit_set_retention(event_type text, keep interval) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF event_type IS NULL OR event_type = '' THEN
        RAISE EXCEPTION 'event_type must not be null or empty'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''*'' for every event type.';
    END IF;
    -- '*' or a type of the event type alphabet; a policy set under another
    -- name before 0.3.0 can still be removed
    IF audit_set_retention.event_type <> '*'
       AND NOT (keep IS NULL AND EXISTS (SELECT 1 FROM steward.audit_retention r
                                          WHERE r.event_type = audit_set_retention.event_type)) THEN
        PERFORM steward.audit_check_event_type(audit_set_retention.event_type);
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


------------------------------------------------------------------------------
-- Privileges of everything above: nothing in steward is executable by
-- PUBLIC but the two functions meant for everybody (checked by the
-- security suite).
------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA steward FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA steward FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward.migrate_checksum(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION steward.migrate_lint_rules() TO PUBLIC;
