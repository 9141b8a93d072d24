-- Bad input gets a clear error and changes nothing.
\pset null '(null)'
\set VERBOSITY default

-- NULL, empty and over-long arguments.
SELECT migrate_apply(NULL, 'SELECT 1');
SELECT migrate_apply('', 'SELECT 1');
SELECT migrate_apply(repeat('9', 129), 'SELECT 1');
SELECT migrate_apply('e_001', NULL);
SELECT migrate_apply('e_001', '   ');
SELECT migrate_apply('e_001', '-- only a comment');
SELECT migrate_apply('e_001', 'SELECT 1', down_sql => '');
SELECT migrate_apply('e_001', 'SELECT 1', description => repeat('x', 1025));

-- Versions that try to smuggle SQL are refused before anything runs.
SELECT migrate_apply('e_001''; DROP TABLE x; --', 'SELECT 1');
SELECT migrate_apply('e 001', 'SELECT 1');
SELECT migrate_rollback('e_001"); DROP SCHEMA steward CASCADE; --');

-- Out-of-range timeouts and retries.
SELECT migrate_apply('e_001', 'SELECT 1', lock_timeout => '0');
SELECT migrate_apply('e_001', 'SELECT 1', lock_timeout => '-1 s');
SELECT migrate_apply('e_001', 'SELECT 1', lock_timeout => '1 month');
SELECT migrate_apply('e_001', 'SELECT 1', statement_timeout => '100 days');
SELECT migrate_apply('e_001', 'SELECT 1', lock_retries => -1);
SELECT migrate_apply('e_001', 'SELECT 1', lock_retries => 101);
SET pg_steward.lock_timeout = 0;

-- Syntax errors, in up_sql or in down_sql, are refused before anything runs.
SELECT migrate_apply('e_002', $$CREATE TABLE e_t (id int);
CREAT TABLE e_u (id int);$$);
SELECT migrate_apply('e_002', 'CREATE TABLE e_t (id int)', down_sql => 'DROP TABEL e_t');

-- Transaction control, COPY from the client, statements no job runs;
-- CONCURRENTLY statements only in up_sql (a job runs those, see jobs_migrations).
CREATE TABLE e_base (id int);
SELECT migrate_apply('e_003', 'CREATE TABLE e_a (id int)', down_sql => 'DROP INDEX CONCURRENTLY IF EXISTS e_idx');
SELECT migrate_apply('e_003', 'CREATE TABLE e_a (id int); COMMIT; CREATE TABLE e_b (id int)');
SELECT migrate_apply('e_003', 'COPY e_base FROM STDIN');
SELECT migrate_apply('e_003', 'CREATE DATABASE e_db');
SELECT migrate_apply('e_003', 'ALTER SYSTEM SET work_mem = ''1GB''');
-- ANALYZE is fine inside a transaction.
SELECT migrate_apply('e_003', 'ANALYZE e_base');

-- Unknown versions.
SELECT migrate_rollback('e_404');
SELECT migrate_repair('e_404', reason => 'typo', status => 'rolled_back');

-- REPEATABLE READ would not see the recorder's commits.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT migrate_apply('e_004', 'SELECT 1');
ROLLBACK;
BEGIN READ ONLY;
SELECT migrate_apply('e_004', 'SELECT 1');
ROLLBACK;

-- A migration cannot start another migration.
SELECT migrate_apply('e_005', $$SELECT migrate_apply('e_006', 'SELECT 1')$$);

-- Errors keep their SQLSTATE.
SELECT migrate_apply('e_007', 'CREATE TABLE e_base (id int)');
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_apply('e_008', 'INSERT INTO e_base VALUES (''x'')');
\echo :LAST_ERROR_SQLSTATE


-- Acting twice on a version in one transaction is refused, not deadlocked.
BEGIN;
SELECT migrate_apply('e_009', 'CREATE TABLE e_c (id int)', down_sql => 'DROP TABLE e_c');
SELECT migrate_rollback('e_009');
ROLLBACK;

-- Nothing above left a trace but the failed attempts.
SELECT version, status, error_sqlstate, error_statement FROM migrate_status() WHERE version LIKE 'e\_%' ORDER BY 1;
SELECT to_regclass('e_t') AS e_t, to_regclass('e_idx') AS e_idx, to_regclass('e_a') AS e_a;
