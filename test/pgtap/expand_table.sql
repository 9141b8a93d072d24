-- pgTAP: renaming a table by expand/contract.  After expand the old code
-- keeps reading and writing the table by its old name (a view), with the
-- table's privileges and row-level security applied to whoever uses it;
-- the new code uses the new name; contract drops the view, abort undoes
-- the rename.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward installed.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(32);

SELECT has_function('migrate_expand_rename_table', ARRAY['text', 'regclass', 'name', 'text', 'boolean', 'interval', 'integer']);
SELECT ok(NOT has_function_privilege('public', 'migrate_expand_rename_table(text, regclass, name, text, boolean, interval, integer)', 'EXECUTE'),
          'migrate_expand_rename_table is not executable by PUBLIC');
SELECT ok(NOT (SELECT prosecdef FROM pg_proc WHERE proname = 'migrate_expand_rename_table'),
          'migrate_expand_rename_table runs as its caller');

-- The old application's table, its roles, privileges and policies -----------
DROP ROLE IF EXISTS tr_nurse;
DROP ROLE IF EXISTS tr_ward_b;
CREATE ROLE tr_nurse;
CREATE ROLE tr_ward_b;
CREATE TABLE patients (id bigserial PRIMARY KEY, name text NOT NULL, ward text NOT NULL DEFAULT 'A',
                       admitted timestamptz NOT NULL DEFAULT now());
INSERT INTO patients (name, ward) SELECT 'p' || g, CASE WHEN g % 2 = 0 THEN 'A' ELSE 'B' END
  FROM generate_series(1, 100) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON patients TO tr_nurse;
GRANT USAGE ON SEQUENCE patients_id_seq TO tr_nurse;
GRANT SELECT ON patients TO tr_ward_b;
GRANT UPDATE (name) ON patients TO tr_ward_b;
ALTER TABLE patients ENABLE ROW LEVEL SECURITY;
CREATE POLICY nurse_all ON patients TO tr_nurse USING (true) WITH CHECK (true);
CREATE POLICY ward_b ON patients TO tr_ward_b USING (ward = 'B');

-- bad input changes nothing
SELECT throws_ok($$SELECT migrate_expand_rename_table('20260401_x', 'patients', NULL)$$, '22004', NULL,
                 'a NULL new_name is refused');
SELECT throws_ok($$SELECT migrate_expand_rename_table('20260401_x', 'patients', 'patients')$$, '22023', NULL,
                 'the same name is refused');
CREATE TABLE taken (id int);
SELECT throws_ok($$SELECT migrate_expand_rename_table('20260401_x', 'patients', 'taken')$$, '42P07', NULL,
                 'a name already taken is refused');
SELECT lives_ok($$SELECT migrate_expand_rename_table('20260401_x', 'patients', 'pa"tients; DROP TABLE taken')$$,
                'a name with a quote and a semicolon is quoted: the table gets exactly that name');
SELECT ok(to_regclass('public."pa""tients; DROP TABLE taken"') IS NOT NULL AND to_regclass('public.taken') IS NOT NULL,
          'the odd name is the table''s, and no other table was dropped');
SELECT lives_ok($$SELECT migrate_abort('20260401_x')$$, 'abort of that expansion');
SELECT ok(to_regclass('public.patients') IS NOT NULL
          AND (SELECT relkind FROM pg_class WHERE oid = 'public.patients'::regclass) = 'r',
          'abort renamed the table back and dropped the view');

-- a role that may read only some columns could read nothing through the view
CREATE TABLE partial_read (id bigint PRIMARY KEY, name text, secret text);
GRANT SELECT (id, name) ON partial_read TO tr_ward_b;
SELECT throws_ok($$SELECT migrate_expand_rename_table('20260401_y', 'partial_read', 'partial_read2')$$, '55000', NULL,
                 'a table some role may read only in part keeps its name');
SELECT ok(to_regclass('public.partial_read') IS NOT NULL AND to_regclass('public.partial_read2') IS NULL,
          'and nothing changed');
DROP TABLE partial_read;

-- Expand --------------------------------------------------------------------
SELECT is(migrate_expand_rename_table('20260402_rename', 'patients', 'care_recipients'), 'expanded',
          'expand renames the table');
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'public.patients'::regclass), 'v',
          'the old name is a view');
SELECT ok((SELECT 'security_invoker=true' = ANY (reloptions) FROM pg_class WHERE oid = 'public.patients'::regclass),
          'the view uses the invoker''s privileges and policies');
SELECT is(migrate_expand_check('20260402_rename'), 0::bigint, 'check has nothing to compare');
SELECT is((SELECT kind || ' ' || relation || ' ' || old_relation FROM migrate_expansions() WHERE version = '20260402_rename'),
          'table public.care_recipients public.patients', 'migrate_expansions shows the rename');
SELECT throws_ok($$SELECT migrate_expand('20260403_col', 'care_recipients', 'name', new_name => 'full_name')$$, '55000', NULL,
                 'a column expansion of a table being renamed is refused');

-- the old code, through the old name
SET ROLE tr_nurse;
INSERT INTO patients (name) VALUES ('old code');
SELECT is((SELECT ward FROM patients WHERE name = 'old code'), 'A',
          'an INSERT through the old name gets the table''s defaults');
UPDATE patients SET ward = 'B' WHERE name = 'old code';
SELECT is((SELECT ward FROM care_recipients WHERE name = 'old code'), 'B',
          'an UPDATE through the old name changes the table');
INSERT INTO patients (id, name) VALUES (1, 'upserted') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;
SELECT is((SELECT name FROM care_recipients WHERE id = 1), 'upserted', 'INSERT ... ON CONFLICT works through the old name');
DELETE FROM patients WHERE id = 2;
SELECT is((SELECT count(*)::int FROM care_recipients WHERE id = 2), 0, 'a DELETE through the old name');
RESET ROLE;

-- row-level security and column privileges through the view
SET ROLE tr_ward_b;
SELECT is((SELECT count(*)::int FROM patients WHERE ward <> 'B'), 0,
          'a role limited by a policy sees only its rows through the old name');
SELECT is((SELECT count(*)::int FROM patients), (SELECT count(*)::int FROM care_recipients),
          'the same rows as through the new name');
SELECT lives_ok($$UPDATE patients SET name = name || '!' WHERE id = 3$$, 'a column privilege is kept on the view');
SELECT throws_ok($$UPDATE patients SET ward = 'A' WHERE id = 3$$, '42501', NULL,
                 'a column the role may not update stays refused');
SELECT throws_ok($$INSERT INTO patients (name) VALUES ('x')$$, '42501', NULL,
                 'a privilege the role does not have on the table is not gained through the view');
RESET ROLE;

-- Contract --------------------------------------------------------------------
CREATE VIEW ward_list AS SELECT id, ward FROM patients;
SELECT throws_ok($$SELECT migrate_contract('20260402_rename')$$, '2BP01', NULL,
                 'contract is refused while a view still uses the old name');
DROP VIEW ward_list;
SELECT lives_ok($$SELECT migrate_contract('20260402_rename')$$, 'contract');
SELECT ok(to_regclass('public.patients') IS NULL AND to_regclass('public.care_recipients') IS NOT NULL,
          'after contract only the new name is left');
SELECT is((SELECT phase FROM migrate_expansions() WHERE version = '20260402_rename'), 'contracted',
          'the expansion is contracted');
SELECT results_eq($$SELECT version, event FROM migrate_history() WHERE version LIKE '20260402%' ORDER BY id$$,
                  $$VALUES ('20260402_rename'::text, 'apply'::text), ('20260402_rename_contract', 'apply')$$,
                  'both phases are events of the history');

SELECT * FROM finish();

DROP TABLE care_recipients, taken;
DROP ROLE tr_nurse, tr_ward_b;
