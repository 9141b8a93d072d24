-- pgTAP: foreign-key pre-checks, post-deploy validation and schema drift:
-- migrate_check_fk, migrate_validate and the schema
-- fingerprint (steward.schema_snapshots, migrate_fingerprint).
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward
-- installed, without a wrapping transaction (a failed migration is recorded
-- by the recorder in a transaction of its own).
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(76);

-- Objects and privileges -----------------------------------------------------
SELECT has_table('steward', 'schema_snapshots', 'schema snapshots table');
SELECT col_is_pk('steward', 'schema_snapshots', 'id', 'snapshots are numbered');
SELECT has_function('migrate_check_fk', ARRAY['regclass', 'text[]', 'regclass', 'text[]']);
SELECT has_function('migrate_validate', '{}'::name[]);
SELECT has_function('migrate_fingerprint', '{}'::name[]);
SELECT isnt_definer('migrate_check_fk', ARRAY['regclass', 'text[]', 'regclass', 'text[]'],
                    'migrate_check_fk reads tables with the caller''s privileges');
SELECT isnt_definer('migrate_validate', '{}'::name[],
                    'migrate_validate asks about its caller''s privileges (it reads pg_steward''s tables as the owner itself)');
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.oid IN ('migrate_check_fk(regclass, text[], regclass, text[])'::regprocedure,
                            'migrate_validate()'::regprocedure, 'migrate_fingerprint()'::regprocedure,
                            'steward.schema_objects()'::regprocedure,
                            'steward.schema_fingerprint(jsonb)'::regprocedure,
                            'steward.record_schema_snapshot(text)'::regprocedure)
              AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
          'no review function is executable by PUBLIC');
SELECT ok(NOT has_table_privilege('public', 'steward.schema_snapshots', 'SELECT')
          AND NOT has_table_privilege('public', 'steward.schema_snapshots', 'INSERT')
          AND NOT has_sequence_privilege('public', 'steward.schema_snapshots_id_seq', 'USAGE'),
          'PUBLIC can neither read nor write the snapshots');

-- A database without a fingerprint, then a baseline -----------------------------
SELECT results_eq($$SELECT * FROM migrate_validate()$$,
                  $$VALUES ('invalid-index', 'ok', NULL::text, NULL::text),
                           ('not-valid-constraint', 'ok', NULL, NULL),
                           ('fk-without-index', 'ok', NULL, NULL),
                           ('table-without-primary-key', 'ok', NULL, NULL),
                           ('sequence-near-exhaustion', 'ok', NULL, NULL),
                           ('schema-drift', 'info', NULL,
                            'no schema fingerprint recorded yet: migrate_apply, migrate_rollback and migrate_baseline record one'),
                           ('migration-not-completed', 'ok', NULL, NULL)$$,
                  'a clean database without a fingerprint: every check ok, drift says there is nothing to compare with');
SELECT is(migrate_baseline('r_000', 'the schema before pg_steward'), 'completed', 'a baseline');
SELECT results_eq($$SELECT version COLLATE "default", fingerprint FROM steward.schema_snapshots$$,
                  $$SELECT 'r_000'::text, migrate_fingerprint()$$,
                  'the baseline recorded the current fingerprint');

-- Fixtures, applied as a migration -------------------------------------------------
SELECT is(migrate_apply('r_001', $sql$
    CREATE TABLE patients (id int PRIMARY KEY, name text);
    CREATE TABLE "Visits" (id int PRIMARY KEY, "patientId" int, note text);
    CREATE TABLE wards (code text, n int, PRIMARY KEY (code, n));
    CREATE TABLE beds (id int PRIMARY KEY, ward_code text, ward_n int, gone int, label text);
    ALTER TABLE beds DROP COLUMN gone;
    CREATE TABLE nums (id int PRIMARY KEY, v int);
    CREATE TABLE fp (id int PRIMARY KEY, born date DEFAULT '2020-01-02',
                     seen timestamptz DEFAULT '2020-01-02 03:04:05+02', span interval DEFAULT '1 day 02:00',
                     ratio float8 DEFAULT 0.1, a int);
$sql$), 'applied', 'fixtures are applied');
SELECT results_eq($$SELECT check_name, severity FROM migrate_validate()$$,
                  $$VALUES ('invalid-index', 'ok'), ('not-valid-constraint', 'ok'), ('fk-without-index', 'ok'),
                           ('table-without-primary-key', 'ok'), ('sequence-near-exhaustion', 'ok'),
                           ('schema-drift', 'ok'), ('migration-not-completed', 'ok')$$,
                  'right after a migration every check is ok');

INSERT INTO patients VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO "Visits" VALUES (1, 1, 'x'), (2, 2, 'y'), (3, NULL, 'z');
INSERT INTO wards VALUES ('east', 1), ('east', 2), ('west,1', 1);
INSERT INTO beds (id, ward_code, ward_n, label) VALUES
    (1, 'east', 1, 'ok'), (2, 'east', 3, 'orphan'), (3, 'west,1', 2, 'orphan'),
    (4, 'west,1', 2, 'orphan again'), (5, NULL, 9, 'null key'), (6, 'north', NULL, 'null key'),
    (7, 'west,1', 1, 'ok');
INSERT INTO nums SELECT g, 16 - g FROM generate_series(1, 15) g;

-- migrate_check_fk --------------------------------------------------------------
SELECT results_eq($$SELECT * FROM migrate_check_fk('"Visits"', '{patientId}', 'patients')$$,
                  $$VALUES (0::bigint, '{}'::text[])$$,
                  'a clean child: no orphans, no sample (default parent_columns: the primary key)');
INSERT INTO "Visits" VALUES (4, 7, 'orphan'), (5, 5, 'orphan'), (6, 7, 'orphan again');
SELECT results_eq($$SELECT * FROM migrate_check_fk('"Visits"', ARRAY['patientId'], 'patients', ARRAY['id'])$$,
                  $$VALUES (3::bigint, '{5,7}'::text[])$$,
                  'orphans counted per row, sample keys distinct and ordered, a NULL key is no orphan');
SELECT results_eq($$SELECT * FROM migrate_check_fk('beds', '{ward_code,ward_n}', 'wards')$$,
                  $$VALUES (3::bigint, ARRAY['(east,3)', '("west,1",2)'])$$,
                  'multi-column keys as row literals; a key with any NULL is no orphan (MATCH SIMPLE)');
SELECT results_eq($$SELECT * FROM migrate_check_fk('beds', '{ward_n,ward_code}', 'wards', '{n,code}')$$,
                  $$VALUES (3::bigint, ARRAY['(2,"west,1")', '(3,east)'])$$,
                  'explicit parent columns pair up in the order given');
SELECT results_eq($$SELECT * FROM migrate_check_fk('nums', '{v}', 'patients')$$,
                  $$VALUES (12::bigint, '{4,5,6,7,8,9,10,11,12,13}'::text[])$$,
                  'at most 10 sample keys, ordered by value (not as text)');
SELECT results_eq($$SELECT * FROM migrate_check_fk('patients', '{id}', 'patients')$$,
                  $$VALUES (0::bigint, '{}'::text[])$$, 'a table checked against itself');

SELECT throws_ok($$SELECT * FROM migrate_check_fk(NULL, '{id}', 'patients')$$, '22004',
                 'child must not be null', 'NULL child');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', NULL, 'patients')$$, '22004',
                 'columns must not be null', 'NULL columns');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{id}', NULL)$$, '22004',
                 'parent must not be null', 'NULL parent');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{}', 'patients')$$, '22023',
                 'columns must not be empty', 'empty columns');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{id}', 'patients', '{}')$$, '22023',
                 'parent_columns must not be empty', 'empty parent_columns');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', ARRAY['id', NULL], 'wards')$$, '22004',
                 'columns must not contain NULL', 'a NULL column name');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{{id},{label}}', 'wards')$$, '22023',
                 'columns must be a one-dimensional array', 'a two-dimensional array');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{nope}', 'patients')$$, '42703',
                 'column "nope" of relation "beds" does not exist', 'an unknown column');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{gone}', 'patients')$$, '42703',
                 'column "gone" of relation "beds" does not exist', 'a dropped column');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{ctid}', 'patients')$$, '42703',
                 'column "ctid" of relation "beds" does not exist', 'a system column');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('"Visits"', '{patientid}', 'patients')$$, '42703',
                 'column "patientid" of relation "Visits" does not exist',
                 'names are matched as stored: case counts');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{id}', 'patients', '{nope}')$$, '42703',
                 'column "nope" of relation "patients" does not exist', 'an unknown parent column');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{ward_code}', 'wards')$$, '42830',
                 'number of referencing and referenced columns disagree', 'one column against a two-column key');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{id}', 'wards', '{code,n}')$$, '42830',
                 'number of referencing and referenced columns disagree', 'explicit column counts differ');
CREATE TEMP TABLE keyless (id int);
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{id}', 'keyless')$$, '42704',
                 'there is no primary key for referenced table "keyless"', 'a parent without primary key needs parent_columns');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{id,id}', 'wards')$$, '42701',
                 'column "id" appears more than once in columns', 'a duplicate column');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{ward_code,ward_n}', 'wards', '{n,n}')$$, '42701',
                 'column "n" appears more than once in parent_columns', 'a duplicate parent column');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{label}', 'patients')$$, '42804',
                 'key columns "label" and "id" are of incompatible types: text and integer',
                 'columns whose types cannot be compared');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{id}', 'patients_pkey')$$, '42809',
                 '"patients_pkey" is not a table or view', 'an index is not a table');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{id}', 4294967295::oid::regclass)$$, '42P01',
                 'relation with OID 4294967295 does not exist', 'a relation that does not exist');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', ARRAY['x"; DROP TABLE beds; --'], 'patients')$$, '42703',
                 'column "x"; DROP TABLE beds; --" of relation "beds" does not exist',
                 'a column name carrying SQL is just an unknown column');
SELECT has_table('beds', 'and the table is still there');

-- migrate_validate: every problem at once ----------------------------------------
SELECT is(migrate_apply('r_002', $sql$
    CREATE TABLE orders (id int PRIMARY KEY, patient_id int, ward_code text, ward_n int);
    ALTER TABLE orders ADD CONSTRAINT orders_patient_fk FOREIGN KEY (patient_id) REFERENCES patients NOT VALID;
    ALTER TABLE orders ADD CONSTRAINT orders_ward_fk FOREIGN KEY (ward_code, ward_n) REFERENCES wards;
    CREATE INDEX orders_ward_idx ON orders (ward_n, ward_code, id);
    CREATE TABLE rooms (id int PRIMARY KEY, patient_id int REFERENCES patients);
    CREATE INDEX rooms_partial_idx ON rooms (patient_id) WHERE patient_id > 0;
    CREATE TABLE notes (body text);
    CREATE INDEX notes_body_idx ON notes (body);
    CREATE TABLE s80 (id serial PRIMARY KEY);
    CREATE TABLE s95 (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);
    ALTER SEQUENCE s95_id_seq AS bigint;
    CREATE TABLE s50 (id serial PRIMARY KEY);
$sql$), 'applied', 'a migration that leaves problems behind');
-- a failed CREATE INDEX CONCURRENTLY leaves an invalid index; make one
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'notes_body_idx'::regclass;
DO $$
BEGIN
    PERFORM setval('s80_id_seq', 1717986918);    -- 80 % of int4
    PERFORM setval('s95_id_seq', 2040109466);    -- 95 % of the int4 column; the sequence is bigint
    PERFORM setval('s50_id_seq', 1073741824);    -- 50 %: fine
END $$;
SELECT throws_ok($$SELECT migrate_apply('r_003', 'CREATE TABLE notes (body text)')$$, '42P07', NULL,
                 'a migration that fails');
SELECT results_eq($$SELECT * FROM migrate_validate()$$,
    $$VALUES
    ('invalid-index', 'error', 'public.notes_body_idx',
     'index is not valid (left by a failed CREATE INDEX CONCURRENTLY, or still being built); '
     'drop it with DROP INDEX CONCURRENTLY public.notes_body_idx and create it again'),
    ('not-valid-constraint', 'warning', 'public.orders.orders_patient_fk',
     'constraint is NOT VALID; validate it in a background job with SELECT validate_constraint('
     '''public.orders'', ''orders_patient_fk''), or with ALTER TABLE public.orders VALIDATE CONSTRAINT orders_patient_fk'),
    ('fk-without-index', 'warning', 'public.orders.orders_patient_fk',
     'no index leads with the referencing columns (patient_id), so every DELETE or key UPDATE on public.patients '
     'scans public.orders; create one with CREATE INDEX CONCURRENTLY ON public.orders (patient_id)'),
    ('fk-without-index', 'warning', 'public.rooms.rooms_patient_id_fkey',
     'no index leads with the referencing columns (patient_id), so every DELETE or key UPDATE on public.patients '
     'scans public.rooms; create one with CREATE INDEX CONCURRENTLY ON public.rooms (patient_id)'),
    ('table-without-primary-key', 'warning', 'public.notes',
     'table has no primary key (backfill, copy_table and logical replication of UPDATE and DELETE need a key)'),
    ('sequence-near-exhaustion', 'warning', 'public.s80_id_seq',
     '80.0% of the range used: last value 1717986918, limit 2147483647 (type integer of column public.s80.id)'),
    ('sequence-near-exhaustion', 'error', 'public.s95_id_seq',
     '95.0% of the range used: last value 2040109466, limit 2147483647 (type integer of column public.s95.id)'),
    ('schema-drift', 'ok', NULL, NULL),
    ('migration-not-completed', 'error', 'r_003',
     'failed at statement 1 (42P07): relation "notes" already exists; apply it again or resolve it with migrate_repair()')
    $$,
    'every problem is named once, with what to do; an FK led by its columns in another order is indexed');
SELECT is((SELECT count(*)::int FROM steward.schema_snapshots WHERE version = 'r_003'), 0,
          'a failed migration records no fingerprint');

-- Schema drift --------------------------------------------------------------------
SELECT is(migrate_apply('r_004', 'CREATE VIEW v_orders AS SELECT id, patient_id FROM orders'), 'applied',
          'a migration records the fingerprint');
ALTER TABLE notes ADD COLUMN written_at timestamptz;
CREATE INDEX notes_written_idx ON notes (written_at);
DROP VIEW v_orders;
SELECT results_eq($$SELECT severity, object, detail FROM migrate_validate() WHERE check_name = 'schema-drift'$$,
                  $$VALUES ('warning', 'index public.notes_written_idx', 'added since the schema fingerprint of version r_004'),
                           ('warning', 'table public.notes', 'changed since the schema fingerprint of version r_004'),
                           ('warning', 'view public.v_orders', 'dropped since the schema fingerprint of version r_004')$$,
                  'DDL outside migrate_apply: exactly the added, changed and dropped objects');
SELECT is(migrate_apply('r_005', 'CREATE TABLE wards_extra (id int PRIMARY KEY)'), 'applied', 'another migration');
SELECT results_eq($$SELECT severity, object FROM migrate_validate() WHERE check_name = 'schema-drift'$$,
                  $$VALUES ('ok', NULL::text)$$, 'after another migration there is no drift');
SELECT is(migrate_apply('r_006', 'CREATE TABLE r6 (id int PRIMARY KEY)', down_sql => 'DROP TABLE r6'), 'applied',
          'a migration with down_sql');
SELECT is(migrate_rollback('r_006'), 'rolled_back', 'and its rollback');
SELECT results_eq($$SELECT (SELECT count(*)::int FROM steward.schema_snapshots WHERE version = 'r_006'),
                         (SELECT version COLLATE "default" FROM steward.schema_snapshots ORDER BY id DESC LIMIT 1),
                         (SELECT fingerprint FROM steward.schema_snapshots ORDER BY id DESC LIMIT 1)
                         = (SELECT fingerprint FROM steward.schema_snapshots WHERE version = 'r_005')$$,
                  $$VALUES (2, 'r_006'::text, true)$$,
                  'a rollback records a fingerprint too: the schema as before the migration');
SELECT results_eq($$SELECT severity FROM migrate_validate() WHERE check_name = 'schema-drift'$$,
                  $$VALUES ('ok')$$, 'no drift after the rollback');
SELECT throws_ok($$UPDATE steward.schema_snapshots SET version = 'x'$$, '42501', NULL, 'snapshots cannot be changed');
SELECT throws_ok($$DELETE FROM steward.schema_snapshots$$, '42501', NULL, 'nor deleted');
SELECT throws_ok($$TRUNCATE steward.schema_snapshots$$, '42501', NULL, 'nor truncated');

-- The fingerprint -------------------------------------------------------------------
SELECT matches(migrate_fingerprint(), '^v1:[0-9a-f]{64}$', 'a fingerprint carries its version');
SELECT is(steward.schema_fingerprint('{"b": "2", "a": "1"}'),
          'v1:' || encode(sha256(convert_to(E'a=1\nb=2', 'UTF8')), 'hex'),
          'v1 is SHA-256 over the sorted identity=hash lines');
SELECT is(steward.schema_fingerprint('{}'), 'v1:' || encode(sha256(''), 'hex'), 'an empty schema has a fingerprint too');
SELECT migrate_fingerprint() AS fp_before, steward.schema_objects() ->> 'table public.fp' AS fp_table \gset
SET search_path = pg_catalog, pg_temp;
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET TimeZone = 'Pacific/Chatham';
SET extra_float_digits = -2;
SET quote_all_identifiers = on;
SELECT steward.migrate_fingerprint() AS fp_other \gset
RESET search_path;
RESET DateStyle;
RESET IntervalStyle;
RESET TimeZone;
RESET extra_float_digits;
RESET quote_all_identifiers;
SELECT is(:'fp_other'::text, :'fp_before',
          'the fingerprint does not depend on search_path, DateStyle, IntervalStyle, TimeZone or quoting');
SELECT ok((SELECT count(*) FROM jsonb_object_keys(steward.schema_objects()) k
            WHERE k ~ '(migrate_|steward|\.plan\(|\.ok\(|keyless)') = 0,
          'objects of extensions (pg_steward, pgtap), its schema and temporary objects are left out');
ALTER TABLE fp ALTER COLUMN a TYPE bigint;
SELECT isnt(migrate_fingerprint(), :'fp_before'::text, 'a column type change changes the fingerprint');
SELECT isnt(steward.schema_objects() ->> 'table public.fp', :'fp_table'::text, 'and the table''s hash');
ALTER TABLE fp ALTER COLUMN a TYPE int;
SELECT is(migrate_fingerprint(), :'fp_before'::text, 'changed back, the fingerprint is the same again');
-- a table with a dropped column hashes as one created without it
DROP TABLE fp;
CREATE TABLE fp (id int PRIMARY KEY, born date DEFAULT '2020-01-02', dropped_soon text,
                 seen timestamptz DEFAULT '2020-01-02 03:04:05+02', span interval DEFAULT '1 day 02:00',
                 ratio float8 DEFAULT 0.1, a int);
ALTER TABLE fp DROP COLUMN dropped_soon;
SELECT is(steward.schema_objects() ->> 'table public.fp', :'fp_table'::text, 'dropped columns do not count');
DROP TABLE fp;
CREATE TABLE fp (id int PRIMARY KEY, born date DEFAULT '2020-01-02',
                 seen timestamptz DEFAULT '2020-01-02 03:04:05+02', span interval DEFAULT '1 day 02:00',
                 a int, ratio float8 DEFAULT 0.1);
SELECT isnt(steward.schema_objects() ->> 'table public.fp', :'fp_table'::text, 'column order counts');

SELECT is(migrate_apply('r_007', $sql$
    CREATE SCHEMA kinds;
    CREATE TYPE kinds.mood AS ENUM ('low', 'high');
    CREATE DOMAIN kinds.posint AS int CHECK (VALUE > 0);
    CREATE TYPE kinds.pair AS (a int, b text);
    CREATE SEQUENCE kinds.counter;
    CREATE TABLE kinds."Things" (id int PRIMARY KEY, m kinds.mood, CONSTRAINT positive CHECK (id > 0));
    CREATE INDEX things_m ON kinds."Things" (m);
    CREATE VIEW kinds.v AS SELECT id FROM kinds."Things";
    CREATE MATERIALIZED VIEW kinds.mv AS SELECT id FROM kinds."Things";
    CREATE FUNCTION kinds.f(i integer) RETURNS integer LANGUAGE sql AS 'SELECT i';
    CREATE PROCEDURE kinds.p() LANGUAGE sql AS 'SELECT 1';
    CREATE FUNCTION kinds.tf() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
    CREATE TRIGGER t BEFORE INSERT ON kinds."Things" FOR EACH ROW EXECUTE FUNCTION kinds.tf();
    CREATE POLICY own ON kinds."Things" USING (id > 0);
$sql$), 'applied', 'every kind of object');
SELECT set_eq($$SELECT k FROM jsonb_object_keys(steward.schema_objects()) k WHERE k ~ '\mkinds\M'$$,
              ARRAY['schema kinds', 'type kinds.mood', 'type kinds.posint', 'type kinds.pair',
                    'sequence kinds.counter', 'table kinds."Things"', 'index kinds."Things_pkey"',
                    'index kinds.things_m', 'constraint kinds."Things"."Things_pkey"',
                    'constraint kinds."Things".positive', 'view kinds.v', 'materialized view kinds.mv',
                    'function kinds.f(integer)', 'procedure kinds.p()', 'function kinds.tf()',
                    'trigger kinds."Things".t', 'policy kinds."Things".own'],
              'identities of every kind of object');
SELECT is((SELECT fingerprint FROM steward.schema_snapshots ORDER BY id DESC LIMIT 1), migrate_fingerprint(),
          'the newest snapshot holds the current fingerprint');

-- Privileges --------------------------------------------------------------------------
DROP ROLE IF EXISTS review_nobody;
CREATE ROLE review_nobody;
SET ROLE review_nobody;
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{ward_code,ward_n}', 'wards')$$, '42501', NULL,
                 'a role without grants cannot call migrate_check_fk');
SELECT throws_ok($$SELECT * FROM migrate_validate()$$, '42501', NULL, 'nor migrate_validate');
SELECT throws_ok($$SELECT migrate_fingerprint()$$, '42501', NULL, 'nor migrate_fingerprint');
RESET ROLE;
GRANT EXECUTE ON FUNCTION migrate_check_fk(regclass, text[], regclass, text[]), migrate_validate(),
                          migrate_fingerprint() TO review_nobody;
SELECT migrate_fingerprint() AS fp_now \gset
SET ROLE review_nobody;
SELECT lives_ok($$SELECT * FROM migrate_validate()$$, 'with EXECUTE, migrate_validate needs nothing on schema steward');
SELECT is(migrate_fingerprint(), :'fp_now'::text, 'nor migrate_fingerprint');
SELECT throws_ok($$SELECT * FROM migrate_check_fk('beds', '{ward_code,ward_n}', 'wards')$$, '42501', NULL,
                 'migrate_check_fk reads tables with the caller''s own privileges');
RESET ROLE;
REVOKE ALL ON FUNCTION migrate_check_fk(regclass, text[], regclass, text[]), migrate_validate(),
                       migrate_fingerprint() FROM review_nobody;
DROP ROLE review_nobody;

SELECT * FROM finish();
