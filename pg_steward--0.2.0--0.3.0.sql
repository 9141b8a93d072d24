-- pg_steward 0.2.0 -> 0.3.0: upgrade script.
--
-- A new installation of 0.3.0 runs pg_steward--0.1.0.sql, then
-- pg_steward--0.1.0--0.2.0.sql, then this script, so a fresh database and an
-- upgraded one are built by the same SQL.
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

------------------------------------------------------------------------------
-- Review
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- Jobs
------------------------------------------------------------------------------

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
