-- pgTAP: migrate_import, adoption of a Prisma or Flyway migration history.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward installed.
-- Creates its own tables and two roles (dropped at the end).
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;
SET TimeZone = 'UTC';

SELECT plan(48);

-- Objects ----------------------------------------------------------------------
SELECT has_function('migrate_import', ARRAY['regclass', 'text']);
SELECT isnt_definer('migrate_import', ARRAY['regclass', 'text'],
                    'migrate_import reads the source table with the caller''s privileges');
SELECT isnt_definer('steward', 'import_history', ARRAY['text', 'text', 'jsonb', 'jsonb', 'jsonb'],
                    'its bookkeeping is no SECURITY DEFINER function: only migrate_import calls it, as the owner');
SELECT is(array_to_string(p.proconfig, ','), 'search_path=pg_catalog, pg_temp',
          'the bookkeeping pins search_path')
  FROM pg_proc p WHERE p.oid = 'steward.import_history(text, text, jsonb, jsonb, jsonb)'::regprocedure;
SELECT ok(NOT has_function_privilege('public', 'migrate_import(regclass, text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'steward.import_history(text, text, jsonb, jsonb, jsonb)', 'EXECUTE'),
          'nothing of migrate_import is granted to PUBLIC');

-- A Prisma history, as `prisma migrate deploy` leaves it -------------------------
-- (the table exactly as Prisma creates it; checksums are SHA-256 of the files)
CREATE TABLE _prisma_migrations (
    id                  varchar(36) PRIMARY KEY NOT NULL,
    checksum            varchar(64) NOT NULL,
    finished_at         timestamptz,
    migration_name      varchar(255) NOT NULL,
    logs                text,
    rolled_back_at      timestamptz,
    started_at          timestamptz NOT NULL DEFAULT now(),
    applied_steps_count integer NOT NULL DEFAULT 0
);
CREATE FUNCTION pg_temp.sha(s text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT encode(sha256(convert_to(s, 'UTF8')), 'hex') $$;
INSERT INTO _prisma_migrations VALUES
    -- applied
    ('0b6a3c1e-6f55-4f4e-9d0a-1d2b3c4d5e01', pg_temp.sha('-- init'), '2026-01-01 12:00:02+00',
     '20260101120000_init', NULL, NULL, '2026-01-01 12:00:00+00', 1),
    -- failed, resolved with `prisma migrate resolve --rolled-back`, then applied again
    ('0b6a3c1e-6f55-4f4e-9d0a-1d2b3c4d5e02', pg_temp.sha('-- wards v1'), NULL,
     '20260102090000_add_wards', 'Database error code: 23502', '2026-01-02 09:10:00+00',
     '2026-01-02 09:00:00+00', 0),
    ('0b6a3c1e-6f55-4f4e-9d0a-1d2b3c4d5e03', pg_temp.sha('-- wards v2'), '2026-01-02 09:30:01+00',
     '20260102090000_add_wards', NULL, NULL, '2026-01-02 09:30:00+00', 1),
    -- seed 004's patient module
    ('0b6a3c1e-6f55-4f4e-9d0a-1d2b3c4d5e04', pg_temp.sha('-- patient module'), '2026-01-03 12:00:07+00',
     '20260103120000_add_patient_module', NULL, NULL, '2026-01-03 12:00:00+00', 1),
    -- a hand-made folder whose name is no version: mapped by version_from_name
    ('0b6a3c1e-6f55-4f4e-9d0a-1d2b3c4d5e05', pg_temp.sha('-- hotfix'), '2026-01-04 08:00:01+00',
     '20260104080000_hotfix ward codes', NULL, NULL, '2026-01-04 08:00:00+00', 1),
    -- failed and not resolved
    ('0b6a3c1e-6f55-4f4e-9d0a-1d2b3c4d5e06', pg_temp.sha('-- visit notes'), NULL,
     '20260105100000_add_visit_notes', 'Database error code: 42P07', NULL, '2026-01-05 10:00:00+00', 0);

CREATE TEMP TABLE prisma_report AS SELECT * FROM migrate_import('_prisma_migrations');
SELECT results_eq(
    $$SELECT version, description, checksum, status, imported, note FROM prisma_report$$,
    $$VALUES
      ('20260101120000_init', 'init', 'prisma:sha256:' || pg_temp.sha('-- init'), 'applied', true, NULL::text),
      ('20260102090000_add_wards', 'add_wards', 'prisma:sha256:' || pg_temp.sha('-- wards v1'), 'rolled_back', false,
       'rolled-back attempt (rolled_back_at is set); the successful attempt counts'),
      ('20260102090000_add_wards', 'add_wards', 'prisma:sha256:' || pg_temp.sha('-- wards v2'), 'applied', true, NULL),
      ('20260103120000_add_patient_module', 'add_patient_module', 'prisma:sha256:' || pg_temp.sha('-- patient module'),
       'applied', true, NULL),
      ('20260104080000_hotfix_ward_codes', 'hotfix ward codes', 'prisma:sha256:' || pg_temp.sha('-- hotfix'),
       'applied', true, NULL),
      ('20260105100000_add_visit_notes', 'add_visit_notes', 'prisma:sha256:' || pg_temp.sha('-- visit notes'),
       'failed', false, 'failed: not finished (finished_at is null)')$$,
    'Prisma: every row reported in order; the applied ones imported, the successful retry counts');

SELECT results_eq(
    $$SELECT version, kind, status, last_op, checksum, description, attempts, up_sql IS NULL, review IS NULL
        FROM migrate_status() ORDER BY installed_rank$$,
    $$VALUES ('20260101120000_init', 'baseline', 'completed', 'baseline', 'prisma:sha256:' || pg_temp.sha('-- init'),
              'init', 0, true, true),
             ('20260102090000_add_wards', 'baseline', 'completed', 'baseline', 'prisma:sha256:' || pg_temp.sha('-- wards v2'),
              'add_wards', 0, true, true),
             ('20260103120000_add_patient_module', 'baseline', 'completed', 'baseline',
              'prisma:sha256:' || pg_temp.sha('-- patient module'), 'add_patient_module', 0, true, true),
             ('20260104080000_hotfix_ward_codes', 'baseline', 'completed', 'baseline',
              'prisma:sha256:' || pg_temp.sha('-- hotfix'), 'hotfix ward codes', 0, true, true)$$,
    'migrate_status shows exactly the imported migrations, as completed baselines in Prisma''s order');
SELECT results_eq(
    $$SELECT started_at, finished_at, duration, session_user_name::text, current_user_name::text
        FROM migrate_status() WHERE version = '20260103120000_add_patient_module'$$,
    $$VALUES ('2026-01-03 12:00:00+00'::timestamptz, '2026-01-03 12:00:07+00'::timestamptz, interval '7 seconds',
              session_user::text, current_user::text)$$,
    'the applied time is Prisma''s; the importing session is recorded as who recorded it');
SELECT results_eq(
    $$SELECT event, reason, details->>'tool', details->>'table', details->>'applied_at',
             details->'row'->>'id', details->'row'->>'checksum', (details->'row'->>'applied_steps_count')::int
        FROM migrate_history('20260102090000_add_wards')$$,
    $$VALUES ('baseline', 'imported from prisma table public._prisma_migrations', 'prisma',
              'public._prisma_migrations', '2026-01-02T09:30:01+00:00',
              '0b6a3c1e-6f55-4f4e-9d0a-1d2b3c4d5e03', pg_temp.sha('-- wards v2'), 1)$$,
    'the history keeps the tool, the table and the original row');
SELECT is((SELECT count(*)::int FROM steward.schema_snapshots), 1, 'one schema snapshot for the whole import');

-- Imported versions are baselines for migrate_apply ------------------------------
SELECT is(migrate_apply('20260103120000_add_patient_module', 'CREATE TABLE imp_not_run (id int)'), 'unchanged',
          'migrate_apply of an imported version: unchanged');
SELECT is(migrate_apply('20260104080000_hotfix_ward_codes',
                        E'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE imp_not_run (id int);\nROLLBACK;'),
          'unchanged', 'whatever its SQL: transaction control a migration refuses is not even looked at');
SELECT hasnt_table('imp_not_run', 'no statement ran');
SELECT is((SELECT count(*)::int FROM migrate_history('20260103120000_add_patient_module')), 1,
          'and nothing was added to its history');
SELECT throws_ok($$SELECT migrate_rollback('20260103120000_add_patient_module')$$, '55000', NULL,
                 'an imported version cannot be rolled back (it is a baseline)');

-- Importing again imports nothing ------------------------------------------------
SELECT results_eq(
    $$SELECT version, imported, note FROM migrate_import('_prisma_migrations', 'prisma') WHERE status = 'applied'$$,
    $$VALUES ('20260101120000_init', false, 'already recorded'),
             ('20260102090000_add_wards', false, 'already recorded'),
             ('20260103120000_add_patient_module', false, 'already recorded'),
             ('20260104080000_hotfix_ward_codes', false, 'already recorded')$$,
    'a second import reports every applied row as already recorded');
SELECT is((SELECT count(*)::int FROM steward.migration_events), 4, 'and appends no event');

-- A Flyway history ---------------------------------------------------------------
-- (the table exactly as Flyway creates it on PostgreSQL)
CREATE TABLE flyway_schema_history (
    installed_rank integer NOT NULL,
    version        varchar(50),
    description    varchar(200) NOT NULL,
    type           varchar(20) NOT NULL,
    script         varchar(1000) NOT NULL,
    checksum       integer,
    installed_by   varchar(100) NOT NULL,
    installed_on   timestamp NOT NULL DEFAULT now(),
    execution_time integer NOT NULL,
    success        boolean NOT NULL,
    CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank)
);
CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success);
INSERT INTO flyway_schema_history VALUES
    (1, '1', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'flyway', '2025-06-01 08:00:00', 0, true),
    (2, '1.1', 'add wards', 'SQL', 'V1_1__add_wards.sql', 1467258381, 'deploy', '2025-06-02 08:00:00', 250, true),
    (3, '1.2', 'add patient module', 'SQL', 'V1_2__add_patient_module.sql', -904712339, 'deploy', '2025-06-03 08:00:01.5', 1500, true),
    (4, NULL, 'refresh views', 'SQL', 'R__refresh_views.sql', 123456789, 'deploy', '2025-06-03 08:00:02', 40, true),
    (5, '1.3', 'add visit notes', 'SQL', 'V1_3__add_visit_notes.sql', 987654321, 'deploy', '2025-06-04 08:00:00', 12, false),
    (6, '1.4', 'audit columns', 'SQL', 'V1_4__audit_columns.sql', 42, 'deploy', '2025-06-05 08:00:00', 30, true);

-- a version that pg_steward already has as a real migration is never overwritten
SELECT is(migrate_apply('1.4', 'CREATE TABLE imp_audit_columns (id int)', out_of_order => true), 'applied',
          'version 1.4 is applied with pg_steward before the import');
CREATE TEMP TABLE flyway_report AS SELECT * FROM migrate_import('flyway_schema_history');
SELECT results_eq(
    $$SELECT version, description, checksum, status, imported, note FROM flyway_report$$,
    $$VALUES ('1', '<< Flyway Baseline >>', NULL, 'baseline', true, NULL::text),
             ('1.1', 'add wards', 'flyway:crc32:1467258381', 'applied', true, NULL),
             ('1.2', 'add patient module', 'flyway:crc32:-904712339', 'applied', true, NULL),
             (NULL, 'refresh views', 'flyway:crc32:123456789', 'applied', false, 'repeatable migration: not versioned'),
             ('1.3', 'add visit notes', 'flyway:crc32:987654321', 'failed', false, 'failed (success is false)'),
             ('1.4', 'audit columns', 'flyway:crc32:42', 'applied', false,
              'already recorded as a migration (status completed); not overwritten')$$,
    'Flyway: in installed_rank order; baseline and versioned rows imported, the others reported');
SELECT results_eq(
    $$SELECT version, kind, status, checksum FROM migrate_status() WHERE version IN ('1', '1.1', '1.2', '1.3', '1.4')$$,
    $$VALUES ('1', 'baseline', 'completed', NULL::text),
             ('1.1', 'baseline', 'completed', 'flyway:crc32:1467258381'),
             ('1.2', 'baseline', 'completed', 'flyway:crc32:-904712339'),
             ('1.4', 'migration', 'completed', migrate_checksum('CREATE TABLE imp_audit_columns (id int)'))$$,
    'the real migration 1.4 keeps its own record; 1.3 and the repeatable one are not recorded');
SELECT results_eq(
    $$SELECT s.started_at, s.finished_at, s.duration, h.details->>'applied_by', h.details->'row'->>'script'
        FROM migrate_status() s JOIN migrate_history('1.2') h USING (version)$$,
    $$VALUES ('2025-06-03 08:00:00'::timestamptz, '2025-06-03 08:00:01.5'::timestamptz, interval '1.5 seconds',
              'deploy', 'V1_2__add_patient_module.sql')$$,
    'Flyway''s installed_on, execution_time and installed_by are kept');
SELECT is(migrate_apply('1.1', 'CREATE TABLE imp_not_run (id int)', out_of_order => true), 'unchanged',
          'migrate_apply of an imported Flyway version: unchanged');
SELECT is((SELECT count(*)::int FROM migrate_import('flyway_schema_history') WHERE imported), 0,
          'a second Flyway import imports nothing');

-- Undone, deleted and superseded Flyway rows ---------------------------------------
CREATE TABLE legacy_history (LIKE flyway_schema_history);
INSERT INTO legacy_history VALUES
    (0, '0', '<< Flyway Schema Creation >>', 'SCHEMA', '"legacy"', NULL, 'flyway', '2025-01-01 00:00:00', 0, true),
    (1, '7.1', 'first try', 'SQL', 'V7_1__x.sql', 1, 'deploy', '2025-01-02 00:00:00', 1, true),
    (2, '7.1', 'first try', 'UNDO_SQL', 'U7_1__x.sql', 2, 'deploy', '2025-01-03 00:00:00', 1, true),
    (3, '7.1', 'second try', 'SQL', 'V7_1__x.sql', 3, 'deploy', '2025-01-04 00:00:00', 1, true),
    (4, '7.2', 'gone', 'SQL', 'V7_2__gone.sql', 4, 'deploy', '2025-01-05 00:00:00', 1, true),
    (5, '7.2', 'gone', 'UNDO_SQL', 'U7_2__gone.sql', 5, 'deploy', '2025-01-06 00:00:00', 1, true);
SELECT results_eq(
    $$SELECT version, imported, note FROM migrate_import('legacy_history', tool => 'FLYWAY')$$,
    $$VALUES ('0', false, 'schema creation marker: not a migration'),
             ('7.1', false, 'superseded by installed_rank 3'),
             ('7.1', false, 'undo migration: not imported'),
             ('7.1', true, NULL::text),
             ('7.2', false, 'undone at installed_rank 5'),
             ('7.2', false, 'undo migration: not imported')$$,
    'the latest successful row of a version decides; undone versions are not imported');
SELECT is((SELECT checksum FROM migrate_status() WHERE version = '7.1'), 'flyway:crc32:3',
          'the re-applied row''s checksum is kept');

-- The audit ledger ------------------------------------------------------------------
SELECT set_eq(
    $$SELECT resource_id, payload->>'checksum' FROM steward.audit_events
       WHERE event_type = 'SCHEMA_MIGRATION' AND action = 'BASELINE'$$,
    $$SELECT version, checksum FROM migrate_status() WHERE kind = 'baseline'$$,
    'every imported row is a SCHEMA_MIGRATION event carrying its checksum');
SELECT is((SELECT count(*)::int FROM steward.audit_events WHERE event_type = 'SCHEMA_MIGRATION' AND action = 'BASELINE'),
          (SELECT count(*)::int FROM migrate_status() WHERE kind = 'baseline'),
          'one SCHEMA_MIGRATION event per imported row, no more');
SELECT is((SELECT count(*)::int FROM steward.audit_events
            WHERE event_type = 'SCHEMA_MIGRATION' AND payload->>'reason' = 'imported from flyway table public.flyway_schema_history'),
          3, 'the ledger says where each one came from');

-- Not from inside a migration --------------------------------------------------------
SELECT throws_ok($$SELECT migrate_apply('imp_nested', 'SELECT * FROM migrate_import(''flyway_schema_history'')')$$, '55000',
                 'migration "imp_nested" failed at statement 1 of 1: pg_steward''s migration functions cannot be called from inside a migration',
                 'migrate_import is refused inside migration SQL, like the other migration functions');

-- Bad input changes nothing ------------------------------------------------------
CREATE TEMP TABLE counts AS
SELECT (SELECT count(*) FROM steward.migrations) AS migrations,
       (SELECT count(*) FROM steward.migration_events) AS events,
       (SELECT count(*) FROM steward.audit_events) AS ledger;
CREATE TABLE "Not a history" (id int, checksum text, applied boolean);
INSERT INTO "Not a history" VALUES (1, 'x', true);
CREATE TABLE imp_prisma_copy AS SELECT * FROM _prisma_migrations;
UPDATE imp_prisma_copy SET migration_name = '2027' || substr(migration_name, 5), id = 'c' || substr(id, 2);

SELECT throws_ok($$SELECT * FROM migrate_import(NULL)$$, '22004', 'source must not be null', 'NULL source');
SELECT throws_ok($$SELECT * FROM migrate_import('"Not a history"')$$, '22023',
                 'cannot tell which migration tool wrote public."Not a history"', 'a table of an unknown layout');
SELECT throws_ok($$SELECT * FROM migrate_import('_prisma_migrations', 'flyway')$$, '22023',
                 'public._prisma_migrations does not have the layout of Flyway''s history table',
                 'the named tool does not match the table');
SELECT throws_ok($$SELECT * FROM migrate_import('_prisma_migrations', 'liquibase')$$, '22023',
                 'unknown tool "liquibase"', 'an unknown tool');
SELECT throws_ok($$SELECT * FROM migrate_import('_prisma_migrations', '')$$, '22023',
                 'tool must not be empty', 'an empty tool');
SELECT throws_ok($$SELECT * FROM migrate_import('flyway_schema_history_s_idx')$$, '42809', NULL,
                 'an index is not a table');
SET default_transaction_read_only = on;
SELECT throws_ok($$SELECT * FROM migrate_import('imp_prisma_copy')$$, '25006', NULL,
                 'refused in a read-only transaction');
RESET default_transaction_read_only;

-- Privileges -------------------------------------------------------------------------
DROP ROLE IF EXISTS import_nobody;
DROP ROLE IF EXISTS import_deployer;
CREATE ROLE import_nobody;
CREATE ROLE import_deployer;
SET ROLE import_nobody;
SELECT throws_ok($$SELECT * FROM migrate_import('imp_prisma_copy')$$, '42501', NULL,
                 'a role without grants cannot call migrate_import');
RESET ROLE;
GRANT EXECUTE ON FUNCTION migrate_import(regclass, text) TO import_deployer;
SET ROLE import_deployer;
SELECT throws_ok($$SELECT * FROM steward.import_history('prisma', 'x', '[]', '[]', '{}')$$, '42501', NULL,
                 'the bookkeeping cannot be called directly');
SELECT throws_ok($$SELECT * FROM migrate_import('imp_prisma_copy')$$, '42501',
                 'permission denied for table imp_prisma_copy',
                 'a table the caller cannot read cannot be imported');
RESET ROLE;
SELECT is((SELECT count(*) FROM steward.migrations), migrations, 'the errors recorded no migration') FROM counts;
SELECT is((SELECT count(*) FROM steward.migration_events), events, 'and appended no history event') FROM counts;
SELECT is((SELECT count(*) FROM steward.audit_events), ledger, 'and no ledger event') FROM counts;

GRANT SELECT ON imp_prisma_copy TO import_deployer;
SET ROLE import_deployer;
SELECT is((SELECT count(*)::int FROM migrate_import('imp_prisma_copy') WHERE imported), 4,
          'with the grants and SELECT on the table, the deployer imports');
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT current_user_name::text, ',') FROM migrate_status() WHERE version LIKE '2027%'),
          'import_deployer', 'recorded under the deployer');
SELECT is((SELECT string_agg(DISTINCT current_user_name, ',') FROM steward.audit_events
            WHERE event_type = 'SCHEMA_MIGRATION' AND resource_id LIKE '2027%'),
          'import_deployer', 'and so are its ledger events');

-- The migration lock is migrate_baseline's ---------------------------------------
BEGIN;
SELECT is((SELECT count(*)::int FROM migrate_import('imp_prisma_copy') WHERE imported), 0, 'an import in a transaction');
SELECT ok(EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'advisory' AND classid = 1398036292 AND objid = 1 AND objsubid = 6
                     AND mode = 'ExclusiveLock' AND granted AND pid = pg_backend_pid()),
          'holds the migration lock (classid 1398036292, objid 1, objsubid 6) until the transaction ends');
COMMIT;

REVOKE ALL ON FUNCTION migrate_import(regclass, text) FROM import_deployer;
REVOKE ALL ON imp_prisma_copy FROM import_deployer;
DROP ROLE import_nobody;
DROP ROLE import_deployer;

-- A name that maps to no valid version (too long) is reported, not imported
CREATE TABLE imp_prisma_long (LIKE _prisma_migrations);
INSERT INTO imp_prisma_long VALUES
    ('0b6a3c1e-6f55-4f4e-9d0a-1d2b3c4d5e09', pg_temp.sha('-- long'), '2026-01-06 08:00:01+00',
     '20260106080000_' || repeat('x', 120), NULL, NULL, '2026-01-06 08:00:00+00', 1);
SELECT results_eq(
    $$SELECT imported, note FROM migrate_import('imp_prisma_long', 'prisma')$$,
    $$VALUES (false, 'not a valid pg_steward version: 135 characters, at most 128')$$,
    'a name longer than a version can be is reported with the reason, not imported');

SELECT * FROM finish();
