-- Expand/contract migrations: rename a column and change a column's type
-- while the old and the new application write the same table.
\pset null '(null)'
SET client_min_messages = warning;

CREATE TABLE ec_residents (id bigint PRIMARY KEY, first_name text NOT NULL DEFAULT 'unknown',
                           care_level text, photo point);
INSERT INTO ec_residents SELECT g, 'name ' || g, (g % 5 + 1)::text FROM generate_series(1, 500) g;

-- Bad input is refused and changes nothing.
SELECT migrate_expand(NULL, 'ec_residents', 'first_name', new_name => 'given_name');
SELECT migrate_expand('', 'ec_residents', 'first_name', new_name => 'given_name');
SELECT migrate_expand('zz_ec_001', NULL, 'first_name', new_name => 'given_name');
SELECT migrate_expand('zz_ec_001', 'zz_ec_nosuch', 'first_name', new_name => 'given_name');
SELECT migrate_expand('zz_ec_001', 'ec_residents', NULL, new_name => 'given_name');
SELECT migrate_expand('zz_ec_001', 'ec_residents', '', new_name => 'given_name');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'nosuch', new_name => 'given_name');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'ctid', new_name => 'given_name');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'first_name');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'first_name', new_name => 'first_name');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'first_name', new_name => 'care_level');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'first_name', new_name => '');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'first_name', new_name => 'given_name', up => 'first_name');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'photo', new_name => 'picture');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'care_level::smallint');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'nosuchtype', up => 'care_level::smallint', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => '', up => 'care_level::smallint', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => '', down => 'care_level_new::text');
-- an expression that does not parse, that is not one expression, that
-- writes or reads another table, or that has the wrong type
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'care_level::', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => '1; DROP TABLE ec_residents', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => '1) FROM pg_class WHERE (true', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => '1), (2', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => '(SELECT 1::smallint)', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'EXISTS (WITH d AS (DELETE FROM ec_residents RETURNING 1) SELECT 1)', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'max(care_level)::smallint', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'generate_series(1, 2)::smallint', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'care_level', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'now()', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'nosuch::smallint', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'public.nosuch(care_level)', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'care_level::smallint) --', down => 'care_level_new::text');
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'care_level::smallint', down => 'care_level_new::text', batch_size => 0);
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint', up => 'care_level::smallint', down => 'care_level_new::text', lock_timeout => '-1s');

-- only roles granted it may call it, and only on tables they own
CREATE ROLE regress_ec_stranger;
SET ROLE regress_ec_stranger;
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'first_name', new_name => 'given_name');
RESET ROLE;
GRANT EXECUTE ON FUNCTION migrate_expand(text, regclass, name, name, text, text, text, text, boolean, interval, integer, integer) TO regress_ec_stranger;
SET ROLE regress_ec_stranger;
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'first_name', new_name => 'given_name');
RESET ROLE;
REVOKE ALL ON FUNCTION migrate_expand(text, regclass, name, name, text, text, text, text, boolean, interval, integer, integer) FROM regress_ec_stranger;
DROP ROLE regress_ec_stranger;

-- nothing was added, recorded or submitted
SELECT attname FROM pg_attribute WHERE attrelid = 'ec_residents'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ec_residents'::regclass;
SELECT count(*) AS migrations FROM migrate_status() WHERE version LIKE 'zz\_ec\_%';
SELECT count(*) AS expansions FROM migrate_expansions();

-- Expand: a rename and a type change of the same table, pending together
-- (out of order: the suites before this one applied later versions).
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'first_name', new_name => 'given_name',
                      out_of_order => true) AS job1 \gset
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint',
                      up => 'care_level::smallint', down => 'care_level_new::text',
                      out_of_order => true) AS job2 \gset
CALL job_await(:job1);
CALL job_await(:job2);
SELECT version, relation, old_column, new_column, new_type, up, down, phase, backfill_state
  FROM migrate_expansions();
SELECT version, kind, description, status FROM migrate_status() WHERE version LIKE 'zz\_ec\_%';

-- a column of a pending expansion cannot be expanded again
SELECT migrate_expand('zz_ec_003', 'ec_residents', 'first_name', new_name => 'forename');
SELECT migrate_expand('zz_ec_003', 'ec_residents', 'given_name', new_name => 'forename');
SELECT migrate_expand('zz_ec_001', 'ec_residents', 'id', new_name => 'ident');

-- the old application and the new one write the same table
INSERT INTO ec_residents (id, first_name, care_level) VALUES (1001, 'Old App', '2');
INSERT INTO ec_residents (id, given_name, care_level_new) VALUES (1002, 'New App', 3);
UPDATE ec_residents SET first_name = 'Old Again', care_level = '4' WHERE id = 1002;
UPDATE ec_residents SET given_name = 'New Again', care_level_new = 5 WHERE id = 1001;
SELECT id, first_name, given_name, care_level, care_level_new FROM ec_residents
 WHERE id IN (1, 1001, 1002) ORDER BY id;
SELECT migrate_expand_check('zz_ec_001') AS disagree_1, migrate_expand_check('zz_ec_002') AS disagree_2;

-- a write with the trigger disabled makes a row disagree: contract refuses
SET session_replication_role = replica;
UPDATE ec_residents SET given_name = 'out of sync' WHERE id = 7;
RESET session_replication_role;
SELECT migrate_expand_check('zz_ec_001') AS disagree_1;
SELECT migrate_contract('zz_ec_001');
UPDATE ec_residents SET first_name = first_name WHERE id = 7;
SELECT migrate_expand_check('zz_ec_001') AS disagree_1;

-- a view on the old column: contract refuses and names it
CREATE VIEW ec_names AS SELECT id, first_name FROM ec_residents;
SELECT migrate_contract('zz_ec_001');
DROP VIEW ec_names;

-- unknown migrations, and NULL
SELECT migrate_contract('zz_ec_nosuch');
SELECT migrate_contract(NULL);
SELECT migrate_abort('zz_ec_nosuch');
SELECT migrate_expand_check('zz_ec_nosuch');

-- the rename of a NOT NULL column checks the new column NOT VALID meanwhile
SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid = 'ec_residents'::regclass AND contype = 'c';

-- Contract the rename; abort the type change.
SELECT migrate_contract('zz_ec_001');
SELECT migrate_abort('zz_ec_002');
-- contract validated the check first, then made the column NOT NULL (no
-- scan) and dropped the check
SELECT up_sql FROM migrate_status() WHERE version = 'zz_ec_001_contract';
SELECT count(*) AS checks FROM pg_constraint WHERE conrelid = 'ec_residents'::regclass AND contype = 'c';
SELECT attname, format_type(atttypid, atttypmod), attnotnull,
       pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE attrelid = 'ec_residents'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ec_residents'::regclass;
SELECT count(*) AS functions FROM pg_proc WHERE proname LIKE 'steward\_sync\_%';
SELECT version, phase, backfill_state FROM migrate_expansions();
SELECT version, event FROM migrate_history() WHERE version LIKE 'zz\_ec\_%' ORDER BY id;
SELECT action, resource_id FROM steward.audit_events
 WHERE event_type = 'SCHEMA_MIGRATION' AND resource_id LIKE 'zz\_ec\_%' ORDER BY id;

-- ended migrations cannot be contracted, aborted or checked again
SELECT migrate_contract('zz_ec_001');
SELECT migrate_abort('zz_ec_001');
SELECT migrate_contract('zz_ec_002');
SELECT migrate_expand_check('zz_ec_002');

-- a type change in place: the new column takes the old one's name at contract
SELECT migrate_expand('zz_ec_002', 'ec_residents', 'care_level', new_type => 'smallint',
                      up => 'care_level::smallint', down => 'care_level_new::text',
                      out_of_order => true) AS job3 \gset
CALL job_await(:job3);
INSERT INTO ec_residents (id, given_name, care_level) VALUES (1003, 'x', '1');
SELECT migrate_contract('zz_ec_002');
SELECT id, care_level, pg_typeof(care_level) FROM ec_residents WHERE id IN (1, 1001, 1002, 1003) ORDER BY id;
SELECT version, event FROM migrate_history() WHERE version LIKE 'zz\_ec\_002%' ORDER BY id;

-- Make a column required while the old application still writes NULL
-- (seed scenario: residents.preferred_language becomes NOT NULL, 'de').
CREATE TABLE ec_people (id bigint PRIMARY KEY, name text, preferred_language varchar(10),
                        care_level smallint, nick text NOT NULL DEFAULT '');
INSERT INTO ec_people SELECT g, 'p' || g, CASE WHEN g % 4 = 0 THEN 'en' END, g % 5
  FROM generate_series(1, 300) g;

-- Bad input is refused and changes nothing.
SELECT migrate_expand_require(NULL, 'ec_people', 'preferred_language', $$'de'$$);
SELECT migrate_expand_require('zz_ec_010', NULL, 'preferred_language', $$'de'$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', NULL, $$'de'$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', '', $$'de'$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'nosuch', $$'de'$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'xmin', $$'de'$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'nick', $$'x'$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'id', $$1$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', NULL);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', ' ');
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', 'NULL');
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', $$'de$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', $$'de'; DROP TABLE ec_people$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', $$'de') FROM pg_class WHERE (true$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', $$(SELECT 'de')$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', $$max(name)$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'care_level', $$'high'::text$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', $$public.nosuch(name)$$);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', $$'de'$$, batch_size => 0);
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language', $$'de'$$, lock_timeout => '-1s');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ec_people'::regclass;
SELECT count(*) AS checks FROM pg_constraint WHERE conrelid = 'ec_people'::regclass AND contype = 'c';
SELECT count(*) AS migrations FROM migrate_status() WHERE version LIKE 'zz\_ec\_01%';
SELECT count(*) FILTER (WHERE preferred_language IS NULL) AS nulls FROM ec_people;

-- Expand: a trigger fills NULL writes, a NOT VALID check refuses NULL, a
-- job fills the rows already there.
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'preferred_language',
                              fill => $$CASE WHEN care_level > 3 THEN 'en' ELSE 'de' END$$,
                              out_of_order => true) AS job10 \gset
CALL job_await(:job10);
SELECT version, kind, relation, old_column, new_column, new_type, up, down, phase, backfill_state
  FROM migrate_expansions() WHERE version = 'zz_ec_010';
SELECT conname ~ '^steward_require_' AS helper, convalidated, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid = 'ec_people'::regclass AND contype = 'c';
SELECT tgname ~ '^steward_fill_' AS fill_trigger FROM pg_trigger WHERE tgrelid = 'ec_people'::regclass;
SELECT count(*) FILTER (WHERE preferred_language IS NULL) AS nulls,
       count(*) FILTER (WHERE preferred_language = 'en') AS en FROM ec_people;
SELECT migrate_expand_check('zz_ec_010') AS still_null;

-- the old application writes NULL, or leaves the column out: it gets fill
INSERT INTO ec_people (id, name, care_level) VALUES (1001, 'old app', 1);
INSERT INTO ec_people (id, name, preferred_language, care_level) VALUES (1002, 'old app', NULL, 4);
UPDATE ec_people SET preferred_language = NULL WHERE id = 8;
-- the new application writes a value: it is kept
INSERT INTO ec_people (id, name, preferred_language) VALUES (1003, 'new app', 'tr');
SELECT id, preferred_language FROM ec_people WHERE id IN (4, 8, 1001, 1002, 1003) ORDER BY id;

-- the column is part of a pending expansion
SELECT migrate_expand_require('zz_ec_011', 'ec_people', 'preferred_language', $$'de'$$);
SELECT migrate_expand('zz_ec_011', 'ec_people', 'preferred_language', new_name => 'language');
SELECT migrate_expand_require('zz_ec_010', 'ec_people', 'name', $$'x'$$);

-- a row with NULL written around the trigger and the check: contract refuses
SELECT conname AS helper_check FROM pg_constraint
 WHERE conrelid = 'ec_people'::regclass AND contype = 'c' \gset
ALTER TABLE ec_people DROP CONSTRAINT :"helper_check";
SET session_replication_role = replica;
INSERT INTO ec_people (id, name) VALUES (1004, 'bulk load');
RESET session_replication_role;
ALTER TABLE ec_people ADD CONSTRAINT :"helper_check" CHECK (preferred_language IS NOT NULL) NOT VALID;
SELECT migrate_expand_check('zz_ec_010') AS still_null;
SELECT migrate_contract('zz_ec_010');
SELECT attnotnull FROM pg_attribute WHERE attrelid = 'ec_people'::regclass AND attname = 'preferred_language';
UPDATE ec_people SET preferred_language = NULL WHERE id = 1004;
SELECT migrate_expand_check('zz_ec_010') AS still_null;

-- Contract: validate, SET NOT NULL (proven by the check), drop check and trigger
SELECT migrate_contract('zz_ec_010');
SELECT up_sql FROM migrate_status() WHERE version = 'zz_ec_010_contract';
SELECT attnotnull FROM pg_attribute WHERE attrelid = 'ec_people'::regclass AND attname = 'preferred_language';
SELECT count(*) AS checks FROM pg_constraint WHERE conrelid = 'ec_people'::regclass AND contype = 'c';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ec_people'::regclass;
SELECT count(*) AS functions FROM pg_proc WHERE proname LIKE 'steward\_fill\_%';
INSERT INTO ec_people (id, name) VALUES (1005, 'old app after contract');
SELECT version, phase FROM migrate_expansions() WHERE version = 'zz_ec_010';
SELECT migrate_contract('zz_ec_010');
SELECT migrate_expand_check('zz_ec_010');

-- Abort: the trigger and the helper check go, the column stays nullable
-- (values already filled stay); the same version can be expanded again
BEGIN;   -- paused before the worker sees it
SELECT migrate_expand_require('zz_ec_012', 'ec_people', 'name', $$'unknown'$$,
                              out_of_order => true) AS job12 \gset
SELECT job_pause(:job12) IS NOT NULL AS paused;
COMMIT;
\set VERBOSITY sqlstate
SELECT migrate_contract('zz_ec_012');   -- the backfill has not succeeded
\set VERBOSITY default
SELECT migrate_abort('zz_ec_012');
SELECT attnotnull FROM pg_attribute WHERE attrelid = 'ec_people'::regclass AND attname = 'name';
SELECT count(*) AS checks FROM pg_constraint WHERE conrelid = 'ec_people'::regclass AND contype = 'c';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ec_people'::regclass;
INSERT INTO ec_people (id, name, preferred_language) VALUES (1006, NULL, 'de');
SELECT migrate_expand_require('zz_ec_012', 'ec_people', 'name', $$'unknown'$$,
                              out_of_order => true) AS job12 \gset
CALL job_await(:job12);
SELECT name FROM ec_people WHERE id = 1006;
SELECT migrate_contract('zz_ec_012');
SELECT attnotnull FROM pg_attribute WHERE attrelid = 'ec_people'::regclass AND attname = 'name';

-- every phase is in the history and the ledger
SELECT version, event FROM migrate_history() WHERE version LIKE 'zz\_ec\_01%' ORDER BY id;
SELECT action, resource_id FROM steward.audit_events
 WHERE event_type = 'SCHEMA_MIGRATION' AND resource_id LIKE 'zz\_ec\_01%' ORDER BY id;
