-- src/audit/audit.sql: the current definition of the audit area (src/audit):
-- the tamper-evident ledger's tables, partitions, internal functions,
-- retention and digest (SQL), and the API (audit_*, verify_audit_chain).
-- Part of the install script the build generates (src/README.md, "SQL
-- sources"); grants are in src/privileges.sql.

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
    PRIMARY KEY (id, event_time),
    -- Only times the byte format can encode enter the ledger: finite, and
    -- early enough that microseconds since 1970 fit in 64 bits.  Events get
    -- the server's clock; this also holds for an INSERT by hand or a restore.
    CONSTRAINT audit_events_time_encodable
        CHECK (event_time > '-infinity' AND event_time < '294247-01-01 00:00:00+00')
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
-- Blocks say which rule their hash follows (format).  Format 1: sealed
-- before 0.3.0; the hash covers the header and the Merkle root, not the
-- entries' ids, xids and times nor the snapshot.  Format 2: sealed from
-- 0.3.0 on; the hash covers the entries and the snapshot too.  A block
-- without a stated format (restored from a dump of 0.2.0) is of format 1.
CREATE TABLE steward.audit_blocks (
    block_id        bigint PRIMARY KEY,
    snapshot        pg_snapshot NOT NULL,
    first_position  bigint NOT NULL,
    event_count     bigint NOT NULL,
    merkle_root     bytea NOT NULL,
    prev_hash       bytea NOT NULL,
    block_hash      bytea NOT NULL,
    sealed_at       timestamptz NOT NULL,
    entries         bytea NOT NULL,     -- 56 bytes per event: id, xid, time, leaf
    format          smallint NOT NULL DEFAULT 1
);
ALTER TABLE steward.audit_blocks ALTER COLUMN entries SET STORAGE EXTERNAL;
COMMENT ON TABLE steward.audit_blocks IS 'sealed blocks of the audit ledger (audit_seal())';
COMMENT ON COLUMN steward.audit_blocks.format IS
    'what the block hash covers: 2 (from 0.3.0) the entries and the snapshot too, 1 the header only';
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
SELECT pg_catalog.pg_extension_config_dump('steward.audit_tree', '');
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

-- The event type alphabet (A-Z, 0-9, _, 1 to 64 characters, beginning with
-- a letter), checked the same way by every function that takes a type.
CREATE FUNCTION steward.audit_check_event_type(event_type text) RETURNS void
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'steward_audit_check_event_type_sql';

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
-- The root of the ledger tree of tree_size leaves (src/audit/proof.c), for
-- audit_head_digest(); and the extension of the stored tree to every
-- sealed leaf (audit_seal() does it as it seals; the update to 0.5.0 once).
CREATE FUNCTION steward.audit_tree_root(tree_size bigint) RETURNS bytea
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'steward_audit_tree_root_sql';
CREATE FUNCTION steward.audit_tree_extend() RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_audit_tree_extend_sql';

CREATE FUNCTION steward.audit_head_digest() RETURNS jsonb
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

-- The epoch list a RETENTION event carries, {"epochs": [...]}: the rows of
-- steward.audit_epochs and the epoch about to be recorded, in the order of
-- their ranges.  Its format is defined once, in C (src/audit/epoch.c),
-- where verify_audit_chain reads it back.
CREATE FUNCTION steward.retention_epochs(p_partition text, p_range_from timestamptz,
                                         p_range_to timestamptz, p_events_dropped bigint)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'steward_audit_retention_epochs'
LANGUAGE C STABLE STRICT;

-- Retention: drop the partitions whose every event has outlived its type's
-- policy, after recording an epoch and appending a RETENTION event.
CREATE FUNCTION steward.drop_expired_partitions(dry_run boolean)
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

-- Audit API -----------------------------------------------------------------

CREATE FUNCTION steward.audit_append(
    action text,
    resource_type text DEFAULT NULL,
    resource_id text DEFAULT NULL,
    payload jsonb DEFAULT NULL,
    actor text DEFAULT NULL,
    event_type text DEFAULT 'APPLICATION')
RETURNS bigint LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_append';
COMMENT ON FUNCTION steward.audit_append(text, text, text, jsonb, text, text) IS
    'append an event to the audit ledger; returns its id';

CREATE FUNCTION steward.audit_seal() RETURNS bigint
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_seal';
COMMENT ON FUNCTION steward.audit_seal() IS
    'seal every committed event into the next block; returns how many were sealed';

CREATE FUNCTION steward.verify_audit_chain(
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
COMMENT ON FUNCTION steward.verify_audit_chain(jsonb, jsonb) IS
    'recompute the audit ledger; one row, is_valid false names the first bad event';

CREATE FUNCTION steward.audit_digest() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT steward.audit_head_digest()
$$;
COMMENT ON FUNCTION steward.audit_digest() IS
    'the head of the audit chain as a small JSON document to keep outside the database';

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

CREATE FUNCTION steward.audit_event_bytes(event_id bigint) RETURNS bytea
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
COMMENT ON FUNCTION steward.audit_event_bytes(bigint) IS
    'the canonical bytes of an event; its leaf hash is sha256(''\x00'' || bytes)';

CREATE FUNCTION steward.audit_redact(event_id bigint, reason text) RETURNS bigint
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_redact';
COMMENT ON FUNCTION steward.audit_redact(bigint, text) IS
    'erase the payload of an event (GDPR); the chain still verifies; returns the REDACTION event id';

CREATE FUNCTION steward.audit_redact_subject(resource_type text DEFAULT NULL, resource_id text DEFAULT NULL,
                                             actor text DEFAULT NULL, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_redact_subject';
COMMENT ON FUNCTION steward.audit_redact_subject(text, text, text, text) IS
    'erase every payload about one data subject (a resource, or an actor), each with its REDACTION event, and record the request; returns how many';

CREATE FUNCTION steward.audit_table(relation regclass) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_audit_table';
COMMENT ON FUNCTION steward.audit_table(regclass) IS
    'write every INSERT, UPDATE, DELETE and TRUNCATE of the table to the audit ledger';

CREATE FUNCTION steward.unaudit_table(relation regclass) RETURNS boolean
LANGUAGE c AS 'MODULE_PATHNAME', 'steward_unaudit_table';
COMMENT ON FUNCTION steward.unaudit_table(regclass) IS 'stop auditing the table';

CREATE FUNCTION steward.audit_set_retention(event_type text, keep interval) RETURNS void
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
COMMENT ON FUNCTION steward.audit_set_retention(text, interval) IS
    'keep events of a type (''*'': every type) at least this long; NULL removes the policy';

CREATE FUNCTION steward.audit_drop_expired(dry_run boolean DEFAULT false)
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
COMMENT ON FUNCTION steward.audit_drop_expired(boolean) IS
    'drop the ledger partitions past their retention, recording an epoch seal first';

-- the sealer of this database starts once CREATE EXTENSION commits
SELECT steward.audit_start_sealer();

-- One row for monitoring: how far sealing is, and whether a sealer runs.
-- The unsealed events are read from the head block snapshot's xmin on, with
-- the xmin as a constant of the query (EXECUTE), so that the xid index is
-- used and the cost follows the unsealed events, not the ledger's size.
CREATE FUNCTION steward.audit_status(
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
COMMENT ON FUNCTION steward.audit_status() IS
    'how far sealing is: head block, last seal, unsealed events, the sealer''s pid';
