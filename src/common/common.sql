-- src/common/common.sql: what every area needs: schema steward, which holds
-- every object of pg_steward (its privileges are in src/privileges.sql),
-- and the append-only protection of the history tables.  The first part of
-- the install script the build generates (src/README.md, "SQL sources").

CREATE SCHEMA steward;
COMMENT ON SCHEMA steward IS 'pg_steward internals: migration history, jobs, audit ledger';

-- Append-only protection --------------------------------------------------

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
