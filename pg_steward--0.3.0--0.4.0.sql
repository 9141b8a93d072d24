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
-- and migrate_validate's report is put together from one function per
-- check (steward.validate_<check>), each readable on its own; the schema
-- snapshot (steward.schema_objects) is put together from one PL/pgSQL
-- function per kind of object (steward.schema_def_<kind>), so that each
-- can be read on its own and a session plans each query once; the epoch
-- list of a RETENTION event is built in C (steward.retention_epochs),
-- next to the code of verify_audit_chain that reads it; and every C
-- function SQL calls is named steward_<...> (src/compat.c keeps the old
-- names for the scripts of earlier versions).
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
AS 'MODULE_PATHNAME', 'steward_migrate_apply'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]) IS
    'apply a versioned migration atomically, with checksum, history, timeouts and lock retries';

CREATE FUNCTION steward.migrate_lint(sql text, allow text[] DEFAULT NULL)
RETURNS TABLE (
    statement integer, statement_text text, rule text, severity text,
    lock_mode text, relation text, effect text, table_size bigint,
    message text, safe_alternative text, silenced text, line integer)
AS 'MODULE_PATHNAME', 'steward_migrate_lint'
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

------------------------------------------------------------------------------
-- migrate_validate's checks, one function per check
------------------------------------------------------------------------------

-- The post-migration checks of migrate_validate(), one function per check,
-- each returning one row per problem it finds (severity, object, detail).
-- They run as the extension owner, called by steward.validate_report only.

-- invalid-index: indexes left invalid
CREATE FUNCTION steward.validate_invalid_index()
RETURNS TABLE (severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT 'error', i.indexrelid::regclass::text,
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
$$;

-- not-valid-constraint: NOT VALID table and domain constraints (a
-- partition's clone is validated with its parent's)
CREATE FUNCTION steward.validate_not_valid_constraint()
RETURNS TABLE (severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT 'warning', k.conrelid::regclass::text || '.' || quote_ident(k.conname),
       format('constraint is NOT VALID; validate it in a background job with SELECT validate_constraint(%L, %L), '
              'or with ALTER TABLE %s VALIDATE CONSTRAINT %I',
              k.conrelid::regclass::text, k.conname, k.conrelid::regclass, k.conname)
  FROM pg_constraint k JOIN steward.review_relations r ON r.oid = k.conrelid
 WHERE NOT k.convalidated AND k.conparentid = 0 AND k.conislocal
UNION ALL
SELECT 'warning', format_type(k.contypid, NULL) || '.' || quote_ident(k.conname),
       format('domain constraint is NOT VALID; validate it with ALTER DOMAIN %s VALIDATE CONSTRAINT %I',
              format_type(k.contypid, NULL), k.conname)
  FROM pg_constraint k
  JOIN pg_type t ON t.oid = k.contypid
  JOIN steward.review_schemas s ON s.oid = t.typnamespace
 WHERE NOT k.convalidated
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
$$;

-- fk-without-index: foreign keys whose columns lead no valid, non-partial
-- btree or hash index
CREATE FUNCTION steward.validate_fk_without_index()
RETURNS TABLE (severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT 'warning', k.conrelid::regclass::text || '.' || quote_ident(k.conname),
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
$$;

-- table-without-primary-key (partitions share their parent's)
CREATE FUNCTION steward.validate_table_without_primary_key()
RETURNS TABLE (severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT 'warning', r.oid::regclass::text,
       'table has no primary key (backfill, copy_table and logical replication of UPDATE and DELETE need a key)'
  FROM steward.review_relations r
 WHERE r.relkind IN ('r', 'p') AND NOT r.relispartition
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = r.oid AND k.contype = 'p')
$$;

-- sequence-near-exhaustion: sequences past 75 % of their range (or of the
-- column they fill), among those p_caller may read
CREATE FUNCTION steward.validate_sequence_near_exhaustion(p_caller oid)
RETURNS TABLE (severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH seqs AS (
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
)
SELECT CASE WHEN u.pct > 90 THEN 'error' ELSE 'warning' END, u.seqrelid::regclass::text,
       format('%s%% of the range used: last value %s, limit %s (%s)', u.pct, u.last_value, u.limit_value,
              CASE WHEN u.by_column
                   THEN format('type %s of column %s.%I', format_type(u.atttypid, NULL),
                               u.attrelid::regclass, u.attname)
                   WHEN u.seqincrement > 0 THEN 'the sequence''s maxvalue'
                   ELSE 'the sequence''s minvalue' END)
  FROM seq_use u
 WHERE u.pct > 75
$$;

-- schema-drift: what changed since the newest schema snapshot
CREATE FUNCTION steward.validate_schema_drift()
RETURNS TABLE (severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH snap AS (
    SELECT s.version, s.objects FROM steward.schema_snapshots s ORDER BY s.id DESC LIMIT 1
),
drift AS (
    SELECT coalesce(n.key, o.key) AS identity,
           CASE WHEN o.key IS NULL THEN 'added' WHEN n.key IS NULL THEN 'dropped' ELSE 'changed' END AS change
      FROM (SELECT e.key, e.value FROM snap, jsonb_each_text(snap.objects) e) o
      FULL JOIN (SELECT e.key, e.value FROM jsonb_each_text(steward.schema_objects()) e) n ON n.key = o.key
     WHERE o.value IS DISTINCT FROM n.value
)
SELECT 'warning', d.identity, format('%s since the schema fingerprint of version %s', d.change, snap.version)
  FROM drift d, snap
UNION ALL
SELECT 'info', NULL,
       'no schema fingerprint recorded yet: migrate_apply, migrate_rollback and migrate_baseline record one'
 WHERE NOT EXISTS (SELECT 1 FROM snap)
$$;

-- migration-not-completed: migrations that failed or are still in progress
CREATE FUNCTION steward.validate_migration_not_completed()
RETURNS TABLE (severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT 'error', m.version,
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
$$;

-- The report: the checks in order, one row per problem and one "ok" row
-- per check that found none, as the role p_caller sees them.  Called by
-- migrate_validate() only.
CREATE OR REPLACE FUNCTION steward.validate_report(p_caller oid)
RETURNS TABLE (check_name text, severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH problems(ord, name, severity, object, detail) AS (
    SELECT 1, 'invalid-index', p.* FROM steward.validate_invalid_index() p
    UNION ALL
    SELECT 2, 'not-valid-constraint', p.* FROM steward.validate_not_valid_constraint() p
    UNION ALL
    SELECT 3, 'fk-without-index', p.* FROM steward.validate_fk_without_index() p
    UNION ALL
    SELECT 4, 'table-without-primary-key', p.* FROM steward.validate_table_without_primary_key() p
    UNION ALL
    SELECT 5, 'sequence-near-exhaustion', p.* FROM steward.validate_sequence_near_exhaustion(p_caller) p
    UNION ALL
    SELECT 6, 'schema-drift', p.* FROM steward.validate_schema_drift() p
    UNION ALL
    SELECT 7, 'migration-not-completed', p.* FROM steward.validate_migration_not_completed() p
),
checks(ord, name) AS (
    VALUES (1, 'invalid-index'), (2, 'not-valid-constraint'), (3, 'fk-without-index'),
           (4, 'table-without-primary-key'), (5, 'sequence-near-exhaustion'),
           (6, 'schema-drift'), (7, 'migration-not-completed')
)
SELECT r.name, r.severity, r.object, r.detail
  FROM (SELECT p.ord, p.name, p.severity, p.object, p.detail FROM problems p
        UNION ALL
        SELECT c.ord, c.name, 'ok', NULL, NULL
          FROM checks c
         WHERE NOT EXISTS (SELECT 1 FROM problems p WHERE p.ord = c.ord)) r
 ORDER BY r.ord, r.object COLLATE "C"
$$;

REVOKE ALL ON FUNCTION steward.validate_invalid_index() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.validate_not_valid_constraint() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.validate_fk_without_index() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.validate_table_without_primary_key() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.validate_sequence_near_exhaustion(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.validate_schema_drift() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.validate_migration_not_completed() FROM PUBLIC;

------------------------------------------------------------------------------
-- The schema snapshot, one PL/pgSQL function per kind of object
------------------------------------------------------------------------------

-- The schema snapshot: one entry {identity: sha256 hex of a canonical
-- definition} per user object (steward.schema_objects), put together from
-- one function per kind of object, steward.schema_def_<kind>(), each
-- returning (identity, definition) rows.  The settings that change how a
-- definition prints are pinned by steward.schema_objects, which alone
-- calls them, so that pg_get_*def and the constants of defaults read the
-- same in every session and every database.  Validity (NOT VALID
-- constraints, invalid indexes) is no part of a definition:
-- migrate_validate() reports it, and validating is no drift.  They are
-- PL/pgSQL so that a session plans each query once (a deploy takes one
-- snapshot per migration).

-- The columns of the relations of the given kinds, one text per relation.
CREATE FUNCTION steward.schema_columns(p_relkinds "char"[])
RETURNS TABLE (attrelid oid, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
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
                       WHERE r.relkind = ANY (p_relkinds))
   AND a.attnum > 0 AND NOT a.attisdropped
 GROUP BY a.attrelid;
END
$$;

-- the schemas
CREATE FUNCTION steward.schema_def_schemas()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
SELECT 'schema ' || quote_ident(s.nspname), 'schema'
  FROM steward.review_schemas s;
END
$$;

-- tables, views, materialized views, sequences and foreign tables, with their columns
CREATE FUNCTION steward.schema_def_relations()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
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
  LEFT JOIN steward.schema_columns('{r,p,v,m,f}') cols ON cols.attrelid = c.oid
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f');
END
$$;

-- indexes
CREATE FUNCTION steward.schema_def_indexes()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
SELECT 'index ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN steward.review_relations c ON c.oid = i.indrelid;
END
$$;

-- table constraints
CREATE FUNCTION steward.schema_def_constraints()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
SELECT 'constraint ' || k.conrelid::regclass::text || '.' || quote_ident(k.conname),
       regexp_replace(pg_get_constraintdef(k.oid), ' NOT VALID$', '')
  FROM pg_constraint k JOIN steward.review_relations c ON c.oid = k.conrelid;
END
$$;

-- user triggers (not those of copy_table and audit_table)
CREATE FUNCTION steward.schema_def_triggers()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
SELECT 'trigger ' || t.tgrelid::regclass::text || '.' || quote_ident(t.tgname),
       pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
  FROM pg_trigger t JOIN steward.review_relations c ON c.oid = t.tgrelid
 WHERE NOT t.tgisinternal
   AND NOT EXISTS (SELECT 1 FROM pg_proc f JOIN pg_namespace fn ON fn.oid = f.pronamespace
                    WHERE f.oid = t.tgfoid AND fn.nspname = 'steward');
END
$$;

-- row security policies
CREATE FUNCTION steward.schema_def_policies()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
SELECT 'policy ' || p.polrelid::regclass::text || '.' || quote_ident(p.polname),
       format('%s for %s to %s using (%s) with check (%s)',
              CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, p.polcmd,
              (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r)) END,
                                 ', ' ORDER BY CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END COLLATE "C")
                 FROM unnest(p.polroles) r),
              pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p JOIN steward.review_relations c ON c.oid = p.polrelid;
END
$$;

-- rules
CREATE FUNCTION steward.schema_def_rules()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
SELECT 'rule ' || r.ev_class::regclass::text || '.' || quote_ident(r.rulename),
       pg_get_ruledef(r.oid) || ' enabled ' || r.ev_enabled::text
  FROM pg_rewrite r JOIN steward.review_relations c ON c.oid = r.ev_class
 WHERE r.rulename <> '_RETURN';
END
$$;

-- functions, procedures and aggregates
CREATE FUNCTION steward.schema_def_routines()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
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
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e');
END
$$;

-- enums, domains, composite, range and base types
CREATE FUNCTION steward.schema_def_types()
RETURNS TABLE (identity text, def text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
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
  LEFT JOIN steward.schema_columns('{c}') cols ON cols.attrelid = t.typrelid AND t.typtype = 'c'
 WHERE t.typisdefined
   AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
   AND (t.typtype <> 'c' OR (SELECT rc.relkind FROM pg_class rc WHERE rc.oid = t.typrelid) = 'c')
   AND NOT EXISTS (SELECT 1 FROM pg_type el WHERE el.typarray = t.oid)
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = t.typrelid AND t.typrelid <> 0
                      AND d.deptype = 'e');
END
$$;

CREATE OR REPLACE FUNCTION steward.schema_objects() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 1
SET bytea_output = 'hex'
SET quote_all_identifiers = off
AS $$
SELECT coalesce(jsonb_object_agg(o.identity, encode(sha256(convert_to(coalesce(o.def, ''), 'UTF8')), 'hex')),
                '{}')
  FROM (SELECT * FROM steward.schema_def_schemas()
        UNION ALL SELECT * FROM steward.schema_def_relations()
        UNION ALL SELECT * FROM steward.schema_def_indexes()
        UNION ALL SELECT * FROM steward.schema_def_constraints()
        UNION ALL SELECT * FROM steward.schema_def_triggers()
        UNION ALL SELECT * FROM steward.schema_def_policies()
        UNION ALL SELECT * FROM steward.schema_def_rules()
        UNION ALL SELECT * FROM steward.schema_def_routines()
        UNION ALL SELECT * FROM steward.schema_def_types()) o
$$;
REVOKE ALL ON FUNCTION steward.schema_columns("char"[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_schemas() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_relations() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_indexes() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_constraints() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_triggers() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_policies() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_rules() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_routines() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.schema_def_types() FROM PUBLIC;

------------------------------------------------------------------------------
-- The epoch list of a RETENTION event, written where it is read (C)
------------------------------------------------------------------------------

-- The epoch list a RETENTION event carries, {"epochs": [...]}: the rows of
-- steward.audit_epochs and the epoch about to be recorded, in the order of
-- their ranges.  Its format is defined once, in C (src/audit/epoch.c),
-- where verify_audit_chain reads it back.
CREATE FUNCTION steward.retention_epochs(p_partition text, p_range_from timestamptz,
                                         p_range_to timestamptz, p_events_dropped bigint)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'steward_audit_retention_epochs'
LANGUAGE C STABLE STRICT;
REVOKE ALL ON FUNCTION steward.retention_epochs(text, timestamptz, timestamptz, bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION steward.drop_expired_partitions(dry_run boolean)
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
                                       'policy', keep_max)
                    -- every epoch so far, this one included: the newest
                    -- RETENTION event vouches for all rows of audit_epochs
                    || steward.retention_epochs(p.name, p.lo, p.hi, events),
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

------------------------------------------------------------------------------
-- Every C function SQL calls is named steward_<...>: the API's functions
-- point at their new C names (the old names stay, src/compat.c, for the
-- scripts of earlier versions)
------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION steward.audit_append(
    action text,
    resource_type text DEFAULT NULL,
    resource_id text DEFAULT NULL,
    payload jsonb DEFAULT NULL,
    actor text DEFAULT NULL,
    event_type text DEFAULT 'APPLICATION')
RETURNS bigint LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_append';
CREATE OR REPLACE FUNCTION steward.audit_redact(event_id bigint, reason text) RETURNS bigint
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_redact';
CREATE OR REPLACE FUNCTION steward.audit_seal() RETURNS bigint
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_seal';
CREATE OR REPLACE FUNCTION steward.audit_table(relation regclass) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_table';
CREATE OR REPLACE FUNCTION steward.migrate_baseline(version text, description text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_baseline'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION steward.migrate_checksum(sql text)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_checksum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION steward.migrate_import(source regclass, tool text DEFAULT NULL)
RETURNS TABLE (version text, description text, checksum text, status text,
               imported boolean, note text)
AS 'MODULE_PATHNAME', 'steward_migrate_import'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION steward.migrate_lint_rules()
RETURNS TABLE (rule text, severity text, grading text, effect text,
               why text, safe_alternative text)
AS 'MODULE_PATHNAME', 'steward_migrate_lint_rules'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION steward.migrate_plan(
    sql text,
    lock_timeout interval DEFAULT NULL,
    statement_timeout interval DEFAULT NULL)
RETURNS TABLE (
    statement integer, step text, object_kind text, object text,
    lock_mode text, detail text, duration interval)
AS 'MODULE_PATHNAME', 'steward_migrate_plan'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION steward.migrate_repair(
    version text,
    reason text,
    status text DEFAULT NULL,
    up_sql text DEFAULT NULL,
    down_sql text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_repair'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION steward.migrate_rollback(
    version text,
    out_of_order boolean DEFAULT false,
    lock_timeout interval DEFAULT NULL,
    statement_timeout interval DEFAULT NULL,
    lock_retries integer DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_migrate_rollback'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION steward.migrate_validate()
RETURNS TABLE (check_name text, severity text, object text, detail text)
AS 'MODULE_PATHNAME', 'steward_migrate_validate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION steward.unaudit_table(relation regclass) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_unaudit_table';
CREATE OR REPLACE FUNCTION steward.verify_audit_chain(
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
AS 'MODULE_PATHNAME', 'steward_verify_audit_chain';
