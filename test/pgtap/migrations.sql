-- pgTAP: behaviour of the migration runner.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward installed.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(44);

-- Objects ------------------------------------------------------------------
SELECT has_schema('steward');
SELECT has_table('steward', 'migrations', 'migrations table');
SELECT has_table('steward', 'migration_events', 'history table');
SELECT col_is_pk('steward', 'migrations', 'version', 'one row per version');
SELECT has_function('migrate_apply', ARRAY['text', 'text', 'text', 'text', 'boolean', 'interval', 'interval', 'integer', 'boolean', 'text[]', 'text[]', 'text[]']);
SELECT has_function('migrate_rollback', ARRAY['text', 'boolean', 'interval', 'interval', 'integer']);
SELECT has_function('migrate_repair', ARRAY['text', 'text', 'text', 'text', 'text']);
SELECT has_function('migrate_baseline', ARRAY['text', 'text']);
SELECT has_function('migrate_status', '{}'::name[]);
SELECT has_function('migrate_history', ARRAY['text']);
SELECT is_definer('migrate_status', 'migrate_status reads the tables for its caller');
SELECT isnt_definer('migrate_apply', ARRAY['text', 'text', 'text', 'text', 'boolean', 'interval', 'interval', 'integer', 'boolean', 'text[]', 'text[]', 'text[]'],
                    'migrate_apply runs migration SQL with the caller''s privileges');
SELECT set_eq($$SELECT n.nspname || '.' || r.relname
                  FROM pg_extension, unnest(extconfig) c
                  JOIN pg_class r ON r.oid = c JOIN pg_namespace n ON n.oid = r.relnamespace
                 WHERE extname = 'pg_steward' AND r.relname !~ '^audit_events_[0-9]{4}$'$$,
              ARRAY['steward.migrations', 'steward.migration_events',
                    'steward.migration_events_id_seq', 'steward.installed_rank_seq',
                    'steward.jobs', 'steward.jobs_id_seq',
                    'steward.copy_changes', 'steward.copy_changes_id_seq',
                    'steward.audit_events_default', 'steward.audit_events_id_seq',
                    'steward.audit_blocks', 'steward.audit_epochs', 'steward.audit_retention', 'steward.audit_tree',
                    'steward.schema_snapshots', 'steward.schema_snapshots_id_seq',
                    'steward.expansions'],
              'pg_dump keeps the history, the jobs, the expansions and the ledger');

-- GUCs ---------------------------------------------------------------------
SELECT set_eq($$SELECT name || '=' || setting || coalesce(unit, '') FROM pg_settings WHERE name LIKE 'pg\_steward.%'$$,
              ARRAY['pg_steward.lock_timeout=2000ms', 'pg_steward.statement_timeout=900000ms',
                    'pg_steward.lock_retries=5', 'pg_steward.lock_retry_delay=500ms',
                    'pg_steward.lock_retry_max_delay=10000ms', 'pg_steward.max_jobs=2',
                    'pg_steward.copy_replayer=on',
                    'pg_steward.batch_statement_timeout=60000ms', 'pg_steward.max_replication_lag=30000ms',
                    'pg_steward.concurrent_lock_timeout=1800000ms',
                    'pg_steward.max_replication_lag_bytes=1048576kB',
                    'pg_steward.audit_seal_interval=1000ms', 'pg_steward.audit_block_max_events=1000000',
                    'pg_steward.large_table_threshold=102400kB'],
              'GUCs and their defaults');
SELECT throws_ok($$SET pg_steward.lock_timeout = 0$$, '22023', NULL, 'lock_timeout cannot be disabled');
SELECT throws_ok($$SET pg_steward.no_such_setting = 1$$, '42602', NULL, 'the pg_steward prefix is reserved');

-- Checksums ----------------------------------------------------------------
SELECT matches(migrate_checksum('SELECT 1'), '^v1:sha256:[0-9a-f]{64}$', 'checksum carries its algorithm version');
SELECT is(migrate_checksum('SELECT 1'),
          'v1:sha256:' || encode(sha256(convert_to('SELECT 1', 'UTF8')), 'hex'),
          'v1 is plain SHA-256 of already-normalized text');
SELECT is(migrate_checksum(E'SELECT 1;\r\nSELECT 2;\r\n'), migrate_checksum(E'SELECT 1;\nSELECT 2;'), 'CRLF equals LF');
SELECT is(migrate_checksum(E'SELECT 1;\rSELECT 2;'), migrate_checksum(E'SELECT 1;\nSELECT 2;'), 'lone CR equals LF');
SELECT is(migrate_checksum(E'SELECT 1; \t\nSELECT 2;  '), migrate_checksum(E'SELECT 1;\nSELECT 2;'), 'trailing white space is ignored');
SELECT is(migrate_checksum(E'SELECT 1;\n\n\n'), migrate_checksum('SELECT 1;'), 'trailing empty lines are ignored');
SELECT is(migrate_checksum(convert_from('\xefbbbf53454c4543542031'::bytea, 'UTF8')), migrate_checksum('SELECT 1'), 'a byte order mark is ignored');
SELECT isnt(migrate_checksum('SELECT  1'), migrate_checksum('SELECT 1'), 'white space inside a line counts');
SELECT isnt(migrate_checksum(E'\nSELECT 1'), migrate_checksum('SELECT 1'), 'leading empty lines count');

-- Atomicity and the failure record ------------------------------------------
SELECT throws_ok($$SELECT migrate_apply('t_001', 'CREATE TABLE t_one (id int); CREATE TABLE t_one (id int)')$$,
                 '42P07', 'migration "t_001" failed at statement 2 of 2: relation "t_one" already exists',
                 'a failing statement raises its own SQLSTATE with its number');
SELECT hasnt_table('t_one', 'the statements before the failing one are undone');
SELECT results_eq($$SELECT status, statements_applied, error_statement, error_sqlstate FROM migrate_status() WHERE version = 't_001'$$,
                  $$VALUES ('failed'::text, 1, 2, '42P07'::text)$$,
                  'the failed attempt is recorded although the caller''s subtransaction rolled back');
SELECT results_eq($$SELECT event, error_statement_text FROM migrate_history('t_001')$$,
                  $$VALUES ('fail'::text, 'CREATE TABLE t_one (id int)'::text)$$,
                  'the history names the failing statement');

SELECT is(migrate_apply('t_001', 'CREATE TABLE t_one (id int)'), 'applied', 'a failed version can be applied again');
SELECT is(migrate_apply('t_001', 'CREATE TABLE t_one (id int)'), 'unchanged', 'a second apply is a no-op');
SELECT throws_ok($$SELECT migrate_apply('t_001', 'CREATE TABLE t_one (id bigint)')$$, '55000', NULL,
                 'a changed checksum is refused');
SELECT is((SELECT count(*)::int FROM migrate_history('t_001')), 2, 'no-ops and refusals add no event');

-- The bookkeeping cannot be redirected through search_path ------------------
CREATE SCHEMA t_evil;
CREATE FUNCTION t_evil.trap(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'trapped'; END$$;
CREATE OPERATOR t_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = t_evil.trap);
CREATE TABLE t_evil.migrations (version text);
SET search_path = t_evil, pg_catalog, public, steward;
SELECT migrate_apply('t_002', 'CREATE TABLE public.t_two (id int)') AS t_002 \gset
RESET search_path;
SELECT is(:'t_002'::text, 'applied', 'a hostile search_path does not reach pg_steward''s own queries');
SELECT is((SELECT count(*)::int FROM t_evil.migrations), 0, 'nothing was written to a look-alike table');

-- Timeouts come from the call, then from the GUCs ------------------------------
-- (57014 is query_canceled, which WHEN OTHERS does not catch: name it)
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN NULL;
EXCEPTION WHEN query_canceled OR others THEN
    RETURN SQLSTATE;
END $$;
SET pg_steward.statement_timeout = '100ms';
SELECT is(pg_temp.sqlstate_of($$SELECT migrate_apply('t_003', 'SELECT pg_sleep(5)')$$), '57014',
          'pg_steward.statement_timeout applies to migration statements');
SELECT lives_ok($$SELECT migrate_apply('t_003', 'SELECT pg_sleep(0.3)', statement_timeout => '10s')$$,
                'a per-call statement_timeout overrides the GUC');
RESET pg_steward.statement_timeout;
SELECT is(current_setting('statement_timeout'), '0', 'the session''s own statement_timeout is untouched');
SELECT is(current_setting('lock_timeout'), '0', 'the session''s own lock_timeout is untouched');

-- Rollback ---------------------------------------------------------------------
SELECT lives_ok($$SELECT migrate_apply('t_004', 'CREATE TABLE t_four (id int)', down_sql => 'DROP TABLE t_four')$$, 'apply with down_sql');
SELECT is(migrate_rollback('t_004'), 'rolled_back', 'rollback runs down_sql');
SELECT hasnt_table('t_four', 'down_sql took effect');
SELECT is(migrate_apply('t_004', 'CREATE TABLE t_four (id int)', down_sql => 'DROP TABLE t_four'), 'applied',
          'a rolled-back version can be applied again');
SELECT has_table('t_four', 'and is in place again');

SELECT * FROM finish();
