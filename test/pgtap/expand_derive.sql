-- pgTAP: a column derived from others by expand/contract (seed 003:
-- first_name and last_name become full_name).  The old application writes
-- the old columns, the new one the new column; the trigger computes the
-- other side (up one way, down, one expression per old column, the other);
-- contract drops every old column.  Without down the new column is derived
-- only: a write of another value to it is refused.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward installed.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(32);

SELECT has_function('migrate_expand_derive',
    ARRAY['text', 'regclass', 'name', 'text', 'text', 'name[]', 'text[]', 'text', 'boolean', 'interval', 'integer', 'integer']);
SELECT ok(NOT has_function_privilege('public',
    'migrate_expand_derive(text, regclass, name, text, text, name[], text[], text, boolean, interval, integer, integer)', 'EXECUTE'),
    'migrate_expand_derive is not executable by PUBLIC');

CREATE TABLE residents (id bigint PRIMARY KEY, first_name text, last_name text, ward text);
INSERT INTO residents SELECT g, 'Given' || g, 'Family' || g, 'A' FROM generate_series(1, 2000) g;

-- bad input changes nothing
SELECT throws_ok($$SELECT migrate_expand_derive('20260501_x', 'residents', 'full_name', 'text',
                   $u$first_name || ' ' || last_name$u$, NULL)$$, '22004', NULL, 'old_columns must be given');
SELECT throws_ok($$SELECT migrate_expand_derive('20260501_x', 'residents', 'full_name', 'text',
                   $u$first_name || ' ' || last_name$u$, '{}')$$, '22023', NULL, 'old_columns must not be empty');
SELECT throws_ok($$SELECT migrate_expand_derive('20260501_x', 'residents', 'full_name', 'text',
                   $u$first_name || ' ' || last_name$u$, '{first_name,nickname}')$$, '42703', NULL,
                 'an old column that does not exist');
SELECT throws_ok($$SELECT migrate_expand_derive('20260501_x', 'residents', 'full_name', 'text',
                   $u$first_name || ' ' || last_name$u$, '{first_name,last_name}', ARRAY['full_name'])$$, '22023', NULL,
                 'down needs one expression per old column');
SELECT throws_ok($$SELECT migrate_expand_derive('20260501_x', 'residents', 'ward', 'text',
                   'first_name', '{first_name}')$$, '42701', NULL, 'the new column must not exist');
SELECT throws_ok($$SELECT migrate_expand_derive('20260501_x', 'residents', 'full_name', 'text',
                   'first_name); DROP TABLE residents; --', '{first_name}')$$, '42601', NULL,
                 'an up that closes the parenthesis is refused');
SELECT is((SELECT count(*)::int FROM migrate_status() WHERE version = '20260501_x'), 0, 'the refused calls recorded nothing');

-- Expand -------------------------------------------------------------------
SELECT migrate_expand_derive('20260502_full_name', 'residents', 'full_name', 'text',
    up => $$first_name || ' ' || last_name$$,
    old_columns => '{first_name,last_name}',
    down => ARRAY[$$split_part(full_name, ' ', 1)$$, $$substr(full_name, strpos(full_name, ' ') + 1)$$]) AS job \gset
CALL job_await(:job);
SELECT is((SELECT count(*)::int FROM residents WHERE full_name IS DISTINCT FROM first_name || ' ' || last_name), 0,
          'the backfill derived the new column for every row');
SELECT is((SELECT kind || ' ' || old_columns::text FROM migrate_expansions() WHERE version = '20260502_full_name'),
          'derive {first_name,last_name}', 'migrate_expansions shows the derived column and its old columns');

-- the old application
INSERT INTO residents (id, first_name, last_name) VALUES (3001, 'Ada', 'Lovelace');
UPDATE residents SET last_name = 'Byron' WHERE id = 3001;
SELECT is((SELECT full_name FROM residents WHERE id = 3001), 'Ada Byron',
          'an old application''s INSERT and UPDATE fill the derived column through up');
-- the new application
INSERT INTO residents (id, full_name) VALUES (3002, 'Grace Brewster Hopper');
SELECT results_eq($$SELECT first_name, last_name FROM residents WHERE id = 3002$$,
                  $$VALUES ('Grace'::text, 'Brewster Hopper'::text)$$,
                  'a new application''s INSERT fills every old column through down');
UPDATE residents SET full_name = 'Alan Turing' WHERE id = 5;
SELECT results_eq($$SELECT first_name, last_name, full_name FROM residents WHERE id = 5$$,
                  $$VALUES ('Alan'::text, 'Turing'::text, 'Alan Turing'::text)$$,
                  'a new application''s UPDATE of the new column fills the old ones');
UPDATE residents SET ward = 'B' WHERE id = 6;
SELECT is((SELECT full_name FROM residents WHERE id = 6), 'Given6 Family6', 'an UPDATE of other columns keeps it derived');
SELECT is(migrate_expand_check('20260502_full_name'), 0::bigint, 'no row disagrees');

-- Contract --------------------------------------------------------------------
CREATE VIEW surnames AS SELECT id, last_name FROM residents;
SELECT throws_ok($$SELECT migrate_contract('20260502_full_name')$$, '2BP01', NULL,
                 'contract is refused while a view uses one of the old columns');
SELECT ok(EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'residents'::regclass AND attname = 'first_name' AND NOT attisdropped),
          'the refused contract dropped nothing');
DROP VIEW surnames;
SELECT lives_ok($$SELECT migrate_contract('20260502_full_name')$$, 'contract');
SELECT is((SELECT array_agg(attname ORDER BY attnum)::text[] FROM pg_attribute
            WHERE attrelid = 'residents'::regclass AND attnum > 0 AND NOT attisdropped),
          ARRAY['id', 'ward', 'full_name'], 'after contract every old column is gone');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'residents'::regclass), 0, 'and the trigger');

-- Another pending expansion's expression reads an old column ----------------------
CREATE TABLE people (id bigint PRIMARY KEY, first_name text, last_name text, age text);
INSERT INTO people SELECT g, 'A' || g, 'B' || g, (g % 90)::text FROM generate_series(1, 100) g;
SELECT migrate_expand_derive('20260504_people_name', 'people', 'full_name', 'text',
    $$first_name || ' ' || last_name$$, '{first_name,last_name}',
    ARRAY[$$split_part(full_name, ' ', 1)$$, $$split_part(full_name, ' ', 2)$$]) AS job3 \gset
SELECT migrate_expand('20260505_people_age', 'people', 'age', new_type => 'integer',
    up => $$CASE WHEN first_name IS NULL THEN NULL ELSE age::integer END$$, down => 'age_new::text') AS job4 \gset
CALL job_await(:job3);
CALL job_await(:job4);
SELECT throws_ok($$SELECT migrate_contract('20260504_people_name')$$, '2BP01', NULL,
                 'contract is refused while another pending expansion''s trigger reads an old column');
SELECT lives_ok($$SELECT migrate_abort('20260505_people_age')$$, 'abort of that other expansion');
SELECT lives_ok($$SELECT migrate_contract('20260504_people_name')$$, 'then contract goes through');
SELECT lives_ok($$INSERT INTO people (id, full_name, age) VALUES (1001, 'C D', '5')$$, 'and writes still work');

-- names that contain the dollar-quote tag of the trigger's body
CREATE TABLE tags (id bigint PRIMARY KEY, "b$steward_sync$" text);
INSERT INTO tags VALUES (1, 'x');
SELECT lives_ok($$SELECT migrate_expand_derive('20260506_tags', 'tags', 'n$steward_sync$', 'text',
                  '"b$steward_sync$"', '{b$steward_sync$}')$$,
                'column names holding the dollar-quote tag are no problem for the trigger''s body');
SELECT lives_ok($$INSERT INTO tags (id, "b$steward_sync$") VALUES (2, 'y')$$, 'and its trigger works');
SELECT lives_ok($$SELECT migrate_abort('20260506_tags')$$, 'abort');

-- Without down: the new column is derived only ------------------------------------
CREATE TABLE staff (id bigint PRIMARY KEY, first_name text, last_name text);
INSERT INTO staff VALUES (1, 'Rosalind', 'Franklin');
SELECT migrate_expand_derive('20260507_staff', 'staff', 'display_name', 'text',
    $$last_name || ', ' || first_name$$, '{first_name,last_name}') AS job2 \gset
CALL job_await(:job2);
SELECT throws_ok($$UPDATE staff SET display_name = 'someone else' WHERE id = 1$$, '55000', NULL,
                 'without down, a write of another value to the derived column is refused');
SELECT lives_ok($$UPDATE staff SET display_name = 'Franklin, Rosalind', first_name = 'Rosalind' WHERE id = 1$$,
                'a write of the value up gives is allowed');
SELECT lives_ok($$SELECT migrate_abort('20260507_staff')$$, 'abort');
SELECT is((SELECT array_agg(attname ORDER BY attnum)::text[] FROM pg_attribute
            WHERE attrelid = 'staff'::regclass AND attnum > 0 AND NOT attisdropped),
          ARRAY['id', 'first_name', 'last_name'], 'abort leaves the table as it was');

SELECT * FROM finish();
