-- Repair, baseline, append-only history and privileges.
\pset null '(null)'

-- Baseline: the schema already is at a version pg_steward never applied.
SELECT migrate_baseline('r_000_baseline', 'schema as deployed before pg_steward');
SELECT migrate_baseline('r_000_baseline');
SELECT migrate_baseline('a_older_than_newest');
SELECT migrate_apply('r_000_baseline', 'CREATE TABLE never_run (id int)');
SELECT to_regclass('never_run') AS never_run;
SELECT migrate_rollback('r_000_baseline');
SELECT version, kind, status, checksum, last_op FROM migrate_status() WHERE version = 'r_000_baseline';

-- A failed migration that the team abandons.
SELECT migrate_apply('r_001', 'CREATE TABLE r_one (id int); SELECT 1/0');
SELECT migrate_repair('r_001', reason => NULL, status => 'rolled_back');
SELECT migrate_repair('r_001', reason => '  ', status => 'rolled_back');
SELECT migrate_repair('r_001', reason => 'abandoned', status => 'done');
SELECT migrate_repair('r_001', reason => 'abandoned: replaced by r_002');
SELECT migrate_repair('r_001', reason => 'abandoned: replaced by r_002', status => 'rolled_back');
SELECT migrate_repair('r_001', reason => 'again', status => 'rolled_back');

-- A failed migration the DBA finished by hand, recorded with the SQL that was run.
SELECT migrate_apply('r_002', 'CREATE TABLE r_two (id int); CREATE INDEX ON r_two (idd)');
CREATE TABLE r_two (id int);
CREATE INDEX ON r_two (id);
SELECT migrate_repair('r_002', reason => 'CHG-4711: created by hand during the incident',
                      status => 'completed',
                      up_sql => 'CREATE TABLE r_two (id int); CREATE INDEX ON r_two (id)');
SELECT migrate_apply('r_002', 'CREATE TABLE r_two (id int); CREATE INDEX ON r_two (id)');

-- Accepting a deliberately changed (comment-only) migration.
SELECT migrate_apply('r_003', 'CREATE TABLE r_three (id int)');
SELECT migrate_apply('r_003', '-- patient data: see DPIA-12
CREATE TABLE r_three (id int)');
SELECT migrate_repair('r_003', reason => 'documentation comment added',
                      up_sql => '-- patient data: see DPIA-12
CREATE TABLE r_three (id int)');
SELECT migrate_apply('r_003', '-- patient data: see DPIA-12
CREATE TABLE r_three (id int)');
SELECT migrate_repair('r_003', reason => 'same again', up_sql => '-- patient data: see DPIA-12
CREATE TABLE r_three (id int)');

-- Storing a missing down_sql, then rolling back with it.
SELECT migrate_repair('r_003', reason => 'rollback script written', down_sql => 'DROP TABLE r_three');
SELECT migrate_rollback('r_003');
SELECT to_regclass('r_three') AS r_three;

SELECT version, event, reason, previous_checksum IS NOT NULL AS had_checksum, details
  FROM migrate_history() WHERE event IN ('repair', 'baseline') ORDER BY id;
SELECT version, status, last_op FROM migrate_status() WHERE version LIKE 'r\_%' ORDER BY 1;

-- The history is append-only, for the table owner too.
UPDATE steward.migration_events SET reason = 'nothing happened' WHERE version = 'r_001';
DELETE FROM steward.migration_events WHERE version = 'r_001';
TRUNCATE steward.migration_events;
DELETE FROM steward.migrations WHERE version = 'r_001';
TRUNCATE steward.migrations;

-- Privileges: nothing is granted to PUBLIC but migrate_checksum.
CREATE ROLE regress_nobody;
CREATE ROLE regress_deployer;
GRANT CREATE ON SCHEMA public TO regress_deployer;
SELECT p.oid::regprocedure AS executable_by_anyone
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_steward'
 WHERE has_function_privilege('regress_nobody', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
SELECT c.oid::regclass AS readable_by_anyone
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'steward' AND has_table_privilege('regress_nobody', c.oid, 'SELECT');

SET ROLE regress_nobody;
SELECT migrate_apply('r_004', 'CREATE TABLE r_four (id int)');
SELECT * FROM migrate_status();
SELECT * FROM steward.migrations;
RESET ROLE;

-- A deployer granted migrate_apply runs migrations with its own privileges, not more.
GRANT EXECUTE ON FUNCTION migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]),
                          migrate_status() TO regress_deployer;
SET ROLE regress_deployer;
SELECT migrate_apply('r_004', 'CREATE TABLE r_four (id int)');
SELECT migrate_apply('r_005', 'ALTER TABLE patients ADD COLUMN r_five int');
SELECT migrate_apply('r_006', 'INSERT INTO steward.migrations (version, status, last_op) VALUES (''r_999'', ''completed'', ''apply'')');
SELECT version, status, error_sqlstate, session_user_name = session_user AS by_session_user, current_user_name
  FROM migrate_status() WHERE version IN ('r_004', 'r_005', 'r_006') ORDER BY 1;
SELECT * FROM steward.migration_events;
RESET ROLE;
SELECT tableowner FROM pg_tables WHERE tablename = 'r_four';

DROP TABLE r_four;
REVOKE CREATE ON SCHEMA public FROM regress_deployer;
REVOKE EXECUTE ON FUNCTION migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]),
                           migrate_status() FROM regress_deployer;
DROP ROLE regress_nobody;
DROP ROLE regress_deployer;
