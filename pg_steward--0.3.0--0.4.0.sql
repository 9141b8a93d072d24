-- pg_steward 0.3.0 -> 0.4.0: upgrade script.
--
-- A new installation of 0.4.0 runs the install script the build generates
-- from the SQL sources (src/README.md, "SQL sources"); test/t/012_upgrade.pl
-- proves that an installation updated with this script is the same.
--
-- 0.4.0 serves the command-line client (docs/client.md):
--   * migrate_apply takes allow, a reviewed acceptance of findings
--     ("rule reason" per element), recorded with the attempt like a
--     silence comment;
--   * migrate_lint takes the same allow and reports the line where each
--     statement starts;
--   * steward.version_from_name maps a folder or file name to a version,
--     and migrate_import maps Prisma migration names with it.
-- migrate_apply and migrate_lint change their signatures, so they are
-- dropped and created again; the EXECUTE privileges granted on them are
-- carried over.

\echo Use "ALTER EXTENSION pg_steward UPDATE TO '0.4.0'" to load this file. \quit

------------------------------------------------------------------------------
-- migrate_apply and migrate_lint: new signatures, same grants
------------------------------------------------------------------------------

-- Remember who was granted EXECUTE on the old functions (other than their
-- owner), for the rest of this transaction.
SELECT pg_catalog.set_config('steward_upgrade.grants', coalesce(pg_catalog.jsonb_agg(g)::text, '[]'), true)
  FROM (SELECT p.proname AS fn, a.grantee, a.is_grantable
          FROM pg_catalog.pg_proc p,
               LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE p.pronamespace OPERATOR(pg_catalog.=) 'steward'::pg_catalog.regnamespace
           AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['migrate_apply', 'migrate_lint'])
           AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner) g;

DROP FUNCTION steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[]);
DROP FUNCTION steward.migrate_lint(text);

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
AS 'MODULE_PATHNAME', 'migrate_apply'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]) IS
    'apply a versioned migration atomically, with checksum, history, timeouts and lock retries';

CREATE FUNCTION steward.migrate_lint(sql text, allow text[] DEFAULT NULL)
RETURNS TABLE (
    statement integer, statement_text text, rule text, severity text,
    lock_mode text, relation text, effect text, table_size bigint,
    message text, safe_alternative text, silenced text, line integer)
AS 'MODULE_PATHNAME', 'migrate_lint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_lint(text, text[]) IS
    'review migration SQL with the server''s parser and catalog: one row per finding';

REVOKE ALL ON FUNCTION steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.migrate_lint(text, text[]) FROM PUBLIC;

DO $regrant$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT g->>'fn' AS fn, (g->>'grantee')::oid AS grantee, (g->>'is_grantable')::boolean AS grantable
          FROM pg_catalog.jsonb_array_elements(
                   pg_catalog.current_setting('steward_upgrade.grants')::jsonb) g
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s',
            CASE r.fn WHEN 'migrate_apply'
                 THEN 'steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[])'
                 ELSE 'steward.migrate_lint(text, text[])' END,
            CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                 ELSE r.grantee::pg_catalog.regrole::pg_catalog.text END,
            CASE WHEN r.grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END $regrant$;

------------------------------------------------------------------------------
-- Versions from folder and file names; migrate_import maps Prisma names
------------------------------------------------------------------------------

-- The version a migration folder or file name maps to: each run of
-- characters outside the version alphabet becomes one "_" (src/common/
-- guard.c).  The client's deploy and migrate_import map names with it.
CREATE FUNCTION steward.version_from_name(name text) RETURNS text
AS 'MODULE_PATHNAME', 'steward_version_from_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION steward.version_from_name(text) IS
    'the migration version a folder or file name maps to';

REVOKE ALL ON FUNCTION steward.version_from_name(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward.version_from_name(text) TO PUBLIC;

CREATE OR REPLACE FUNCTION steward.import_history(p_tool text, p_table text, p_columns jsonb,
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
