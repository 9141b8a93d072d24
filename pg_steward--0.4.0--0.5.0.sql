-- pg_steward 0.4.0 -> 0.5.0: upgrade script.
--
-- A new installation of 0.5.0 runs the install script the build generates
-- from the SQL sources (src/README.md, "SQL sources"); test/t/012_upgrade.pl
-- proves that an installation updated with this script is the same.
--
-- 0.5.0 adds expand/contract migrations (docs/expand-contract.md):
-- migrate_expand, migrate_expand_rename_table, migrate_expand_derive,
-- migrate_expand_require, migrate_expand_check, migrate_contract,
-- migrate_abort and migrate_expansions, their table
-- steward.expansions and its bookkeeping functions; migrate_status() shows
-- the phase and backfill of an expand/contract migration;
-- audit_redact_subject, a data subject's erasure request; and the ledger
-- tree (steward.audit_tree, built here from the sealed blocks), receipts
-- (audit_proof), consistency proofs (audit_consistency) and digests that
-- name the tree's root; audit_status() reads only the unsealed events.
-- Nothing is granted to PUBLIC.

\echo Use "ALTER EXTENSION pg_steward UPDATE TO '0.5.0'" to load this file. \quit

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

-- migrate_status() gains the phase and backfill of an expand/contract
-- migration.  Its result type changes, so it is dropped and created again;
-- the roles that could execute it may again (remembered for this
-- transaction in a setting).
SELECT pg_catalog.set_config('steward_upgrade.migrate_status_acl',
                             COALESCE(p.proacl, '{}')::pg_catalog.text, true)
  FROM pg_catalog.pg_proc p
 WHERE p.oid OPERATOR(pg_catalog.=) 'steward.migrate_status()'::pg_catalog.regprocedure;
DROP FUNCTION steward.migrate_status();
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

-- A data subject's erasure request (src/audit/manage.c) ---------------------
CREATE FUNCTION steward.audit_redact_subject(resource_type text DEFAULT NULL, resource_id text DEFAULT NULL,
                                             actor text DEFAULT NULL, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_redact_subject';
COMMENT ON FUNCTION steward.audit_redact_subject(text, text, text, text) IS
    'erase every payload about one data subject (a resource, or an actor), each with its REDACTION event, and record the request; returns how many';

-- The ledger tree (src/audit/tree.c, src/audit/proof.c) -------------------

-- The ledger tree (src/audit/tree.c): every complete, aligned subtree of
-- 2^level leaves with level >= 8 of the Merkle tree over all sealed leaves
-- in chain order; node (level, idx) covers leaves idx * 2^level to
-- (idx + 1) * 2^level - 1.  Written by audit_seal() with the blocks that
-- complete a node; read by audit_digest(), audit_proof() and
-- audit_consistency() so that a proof reads O(log n) rows.
CREATE TABLE steward.audit_tree (
    level   smallint NOT NULL CHECK (level BETWEEN 8 AND 62),
    idx     bigint NOT NULL CHECK (idx >= 0),
    hash    bytea NOT NULL CHECK (pg_catalog.length(hash) = 32),
    PRIMARY KEY (level, idx)
);
COMMENT ON TABLE steward.audit_tree IS
    'stored nodes of the ledger tree: subtrees of 256 leaves and more (audit_seal())';
CREATE TRIGGER audit_tree_append_only
    BEFORE UPDATE OR DELETE ON steward.audit_tree
    FOR EACH ROW EXECUTE FUNCTION steward.audit_refuse();
CREATE TRIGGER audit_tree_no_truncate
    BEFORE TRUNCATE ON steward.audit_tree
    FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_refuse();
-- the leaves of a range of positions are found by the blocks' first positions
CREATE INDEX audit_blocks_first_position_idx ON steward.audit_blocks (first_position);
SELECT pg_catalog.pg_extension_config_dump('steward.audit_tree', '');

-- The root of the ledger tree of tree_size leaves (src/audit/proof.c), for
-- audit_head_digest(); and the extension of the stored tree to every
-- sealed leaf (audit_seal() does it as it seals; the update to 0.5.0 once).
CREATE FUNCTION steward.audit_tree_root(tree_size bigint) RETURNS bytea
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'steward_audit_tree_root_sql';
CREATE FUNCTION steward.audit_tree_extend() RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_audit_tree_extend_sql';

-- Digests name the tree's size and root.
CREATE OR REPLACE FUNCTION steward.audit_head_digest() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'format', 'pg_steward ledger digest v2',
        'database', current_database(),
        'system_identifier', (SELECT system_identifier::text FROM pg_control_system()),
        'block', coalesce(h.block_id, 0),
        'position', coalesce(h.first_position + h.event_count - 1, 0),
        'hash', encode(coalesce(h.block_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea), 'hex'),
        'tree_size', coalesce(h.first_position + h.event_count - 1, 0),
        'tree_root', encode(steward.audit_tree_root(coalesce(h.first_position + h.event_count - 1, 0)), 'hex'),
        'sealed_at', h.sealed_at,
        'created_at', clock_timestamp())
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (SELECT * FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1) h ON true
$$;

-- audit_status() reads the unsealed events through the xid index, from the
-- head block snapshot's xmin on (it read every event of the ledger before).
CREATE OR REPLACE FUNCTION steward.audit_status(
    OUT head_block bigint,
    OUT head_position bigint,
    OUT last_sealed_at timestamptz,
    OUT events_unsealed bigint,
    OUT oldest_unsealed_at timestamptz,
    OUT sealer_pid integer,
    OUT default_partition_events bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head_snapshot pg_catalog.pg_snapshot;
BEGIN
    SELECT b.block_id, b.first_position OPERATOR(pg_catalog.+) b.event_count OPERATOR(pg_catalog.-) 1,
           b.sealed_at, b.snapshot
      INTO head_block, head_position, last_sealed_at, head_snapshot
      FROM steward.audit_blocks b
     ORDER BY b.block_id DESC LIMIT 1;
    head_block := coalesce(head_block, 0);
    head_position := coalesce(head_position, 0);
    EXECUTE 'SELECT pg_catalog.count(*), pg_catalog.min(e.event_time)
               FROM steward.audit_events e
              WHERE e.xid OPERATOR(pg_catalog.>=) $1
                AND ($2 IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(e.xid, $2))'
       INTO events_unsealed, oldest_unsealed_at
      USING coalesce(pg_catalog.pg_snapshot_xmin(head_snapshot), '0'::pg_catalog.xid8), head_snapshot;
    SELECT a.pid INTO sealer_pid
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type OPERATOR(pg_catalog.=) 'pg_steward sealer'
       AND a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
     LIMIT 1;
    SELECT pg_catalog.count(*) INTO default_partition_events FROM steward.audit_events_default;
END
$$;

CREATE FUNCTION steward.audit_proof(event_id bigint, digest jsonb DEFAULT NULL,
                                    with_payload boolean DEFAULT false) RETURNS jsonb
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'steward_audit_proof';
COMMENT ON FUNCTION steward.audit_proof(bigint, jsonb, boolean) IS
    'the receipt of a sealed event: its bytes and audit path to the tree root a digest names';

CREATE FUNCTION steward.audit_consistency(old_digest jsonb, new_digest jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'steward_audit_consistency';
COMMENT ON FUNCTION steward.audit_consistency(jsonb, jsonb) IS
    'the proof that the ledger tree a newer digest names extends the one an older digest names';

-- the tree of the ledger as it is: every node its sealed leaves complete
SELECT steward.audit_tree_extend();

-- as src/privileges.sql: nothing new for PUBLIC
REVOKE ALL ON ALL TABLES IN SCHEMA steward FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA steward FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward.migrate_checksum(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION steward.migrate_lint_rules() TO PUBLIC;
GRANT EXECUTE ON FUNCTION steward.version_from_name(text) TO PUBLIC;

-- EXECUTE on migrate_status() again for the roles that had it before
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT a.grantee, a.is_grantable
               FROM pg_catalog.aclexplode(pg_catalog.current_setting('steward_upgrade.migrate_status_acl')::pg_catalog.aclitem[]) a
               JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) 'steward.migrate_status()'::pg_catalog.regprocedure
              WHERE a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION steward.migrate_status() TO %I%s',
                                  pg_catalog.pg_get_userbyid(g.grantee),
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END $$;
SELECT pg_catalog.set_config('steward_upgrade.migrate_status_acl', '', true);
