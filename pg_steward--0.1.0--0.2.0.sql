-- pg_steward 0.1.0 -> 0.2.0: upgrade script.
--
-- 0.1.0 is the first release; its install script is never changed again.
-- A new installation of 0.2.0 runs pg_steward--0.1.0.sql and then this
-- script, so a fresh database and an upgraded one are built by the same SQL.
--
-- 0.2.0 adds adoption from other migration tools (migrate_import).

\echo Use "ALTER EXTENSION pg_steward UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Migrations: adoption from Prisma and Flyway (migrate_import)
------------------------------------------------------------------------------

-- migrate_import's bookkeeping.  Reads the other tool's history table
-- p_source itself (a real table: the rows cannot be made up by the caller;
-- migrate_import has checked that its caller may read it).  Classifies them, records
-- every successfully applied versioned migration as a completed baseline
-- with the tool's checksum, and reports every row.  Takes the migration lock
-- that migrate_baseline takes (advisory, classid 1398036292, objid 1,
-- objsubid 2: pg_try_advisory_xact_lock(int4, int4) builds the same tag).
CREATE FUNCTION steward.import_history(p_tool text, p_source regclass)
RETURNS TABLE (o_version text, o_description text, o_checksum text, o_status text,
               o_imported boolean, o_note text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    m steward.migrations;
    who jsonb;
    v_pid integer;
    v_desc text;
    v_last text;
    v_prev text;
    v_unsorted text;
    p_table text;
    p_rows jsonb;
BEGIN
    IF p_tool IS NULL OR p_tool NOT IN ('prisma', 'flyway') THEN
        RAISE EXCEPTION 'unknown tool "%"', p_tool USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_source IS NULL THEN
        RAISE EXCEPTION 'source must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT format('%I.%I', n.nspname, c.relname) INTO p_table
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_source;
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(t.*)), ''[]'') FROM %s AS t', p_table)
       INTO p_rows;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot import migrations during recovery'
            USING ERRCODE = 'read_only_sql_transaction', HINT = 'Connect to the primary server.';
    END IF;
    IF current_setting('transaction_read_only')::boolean THEN
        RAISE EXCEPTION 'cannot import migrations in a read-only transaction'
            USING ERRCODE = 'read_only_sql_transaction';
    END IF;
    -- an attempt of this very transaction is running: called from migration SQL
    IF EXISTS (SELECT 1 FROM steward.migrations t
                WHERE t.status = 'in_progress'
                  AND t.attempt_xid = pg_current_xact_id_if_assigned()) THEN
        RAISE EXCEPTION 'pg_steward''s migration functions cannot be called from inside a migration'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT pg_try_advisory_xact_lock(1398036292, 1) THEN
        SELECT l.pid INTO v_pid
          FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.granted
           AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
           AND l.classid = 1398036292::oid AND l.objid = 1::oid AND l.objsubid = 2
           AND l.pid <> pg_backend_pid()
         LIMIT 1;
        IF v_pid IS NULL THEN
            RAISE EXCEPTION 'cannot import migrations: another migration is in progress'
                USING ERRCODE = 'lock_not_available',
                      DETAIL = 'pg_steward runs one migration at a time per database and never waits for the migration lock.',
                      HINT = 'Retry when the other migration has finished.';
        END IF;
        RAISE EXCEPTION 'cannot import migrations: another migration is in progress in the session with PID %', v_pid
            USING ERRCODE = 'lock_not_available',
                  DETAIL = 'pg_steward runs one migration at a time per database and never waits for the migration lock.',
                  HINT = format('Retry when it has finished; SELECT * FROM pg_stat_activity WHERE pid = %s shows what it is doing.', v_pid);
    END IF;

    -- the calling session (current_user is the owner here; the session's
    -- role is who called)
    who := jsonb_build_object(
        'session_user', session_user,
        'current_user', CASE current_setting('role') WHEN 'none' THEN session_user::text
                                                     ELSE current_setting('role') END,
        'application_name', current_setting('application_name'),
        'client_addr', inet_client_addr(),
        'backend_pid', pg_backend_pid());

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
             WHERE p_tool = 'prisma'
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
             WHERE p_tool = 'flyway'
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
            -- the rules of migrate_apply's version (steward_check_version)
            o_note := CASE
                WHEN r.version IS NULL OR r.version = '' THEN
                    'not a valid pg_steward version: empty'
                WHEN octet_length(r.version) > 128 THEN
                    format('not a valid pg_steward version: %s characters, at most 128', octet_length(r.version))
                WHEN r.version COLLATE "C" !~ '^[A-Za-z0-9_.-]+$' THEN
                    'not a valid pg_steward version: only letters, digits, "_", "." and "-" are allowed'
            END;
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
                    reason => format('imported from %s table %s', p_tool, p_table),
                    details => jsonb_build_object(
                        'tool', p_tool, 'table', p_table,
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
                     p_tool, v_unsorted
            USING HINT = 'pg_steward compares versions as text (collation "C"): give new versions names that sort after every imported one, or pass out_of_order => true to migrate_apply.';
    END IF;
END $$;
REVOKE ALL ON FUNCTION steward.import_history(text, regclass) FROM PUBLIC;
COMMENT ON FUNCTION steward.import_history(text, regclass) IS
    'migrate_import''s bookkeeping: records the applied migrations of a Prisma or Flyway history as baselines';

-- Runs as the caller (SECURITY INVOKER): checks that the caller may read
-- the history table, then has steward.import_history, which writes as the
-- owner, read it and record the baselines.
CREATE FUNCTION @extschema@.migrate_import(source regclass, tool text DEFAULT NULL)
RETURNS TABLE (version text, description text, checksum text, status text,
               imported boolean, note text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
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
    v_tool text;
    v_nsp name;
    v_rel name;
    v_kind "char";
    v_table text;
    v_cols text[];
    v_missing text;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF tool IS NOT NULL THEN
        v_tool := lower(btrim(tool, E' \t\r\n'));
        IF v_tool = '' THEN
            RAISE EXCEPTION 'tool must not be empty'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass NULL to tell the tool from the table''s columns.';
        END IF;
        IF v_tool NOT IN ('prisma', 'flyway') THEN
            RAISE EXCEPTION 'unknown tool "%"', tool
                USING ERRCODE = 'invalid_parameter_value', HINT = v_layouts;
        END IF;
    END IF;

    SELECT n.nspname, c.relname, c.relkind INTO v_nsp, v_rel, v_kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', source::oid
            USING ERRCODE = 'undefined_table';
    END IF;
    v_table := format('%I.%I', v_nsp, v_rel);
    IF v_kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION '"%" is not a table or view', v_table USING ERRCODE = 'wrong_object_type';
    END IF;

    SELECT coalesce(array_agg(a.attname::text), '{}') INTO v_cols
      FROM pg_attribute a
     WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_tool IS NULL THEN
        IF v_prisma <@ v_cols AND v_flyway <@ v_cols THEN
            RAISE EXCEPTION 'cannot tell which migration tool wrote %', v_table
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Its columns match both supported layouts.',
                      HINT = 'Pass tool => ''prisma'' or tool => ''flyway''.';
        ELSIF v_prisma <@ v_cols THEN
            v_tool := 'prisma';
        ELSIF v_flyway <@ v_cols THEN
            v_tool := 'flyway';
        ELSE
            RAISE EXCEPTION 'cannot tell which migration tool wrote %', v_table
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
            RAISE EXCEPTION '% does not have the layout of % history table', v_table,
                            CASE v_tool WHEN 'prisma' THEN 'Prisma''s' ELSE 'Flyway''s' END
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Missing columns: %s.', v_missing),
                      HINT = v_layouts;
        END IF;
    END IF;

    -- the caller must be allowed to call the bookkeeping ...
    IF NOT has_schema_privilege('steward', 'USAGE')
       OR NOT has_function_privilege('steward.import_history(text, regclass)', 'EXECUTE') THEN
        RAISE EXCEPTION 'permission denied for steward.import_history, which records what migrate_import imports'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Grant USAGE ON SCHEMA steward and EXECUTE ON FUNCTION steward.import_history(text, regclass) along with EXECUTE on migrate_import.';
    END IF;
    -- ... and to read the history, which the bookkeeping reads as the owner
    IF NOT has_table_privilege(source, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', v_rel
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    RETURN QUERY
        SELECT h.o_version, h.o_description, h.o_checksum, h.o_status, h.o_imported, h.o_note
          FROM steward.import_history(v_tool, source) AS h;
END $$;
COMMENT ON FUNCTION @extschema@.migrate_import(regclass, text) IS
    'record the migrations a Prisma or Flyway history table shows as applied as completed baselines, without running them';
REVOKE ALL ON FUNCTION @extschema@.migrate_import(regclass, text) FROM PUBLIC;
