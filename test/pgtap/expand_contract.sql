-- pgTAP: expand/contract migrations.  The old application writes the old
-- column, the new application the new one, on the same table with no
-- setting of its own; the sync trigger fills the other side.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward installed.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(57);

-- Objects ------------------------------------------------------------------
SELECT has_table('steward', 'expansions', 'expansions table');
SELECT has_function('migrate_expand', ARRAY['text', 'regclass', 'name', 'name', 'text', 'text', 'text', 'text', 'boolean', 'interval', 'integer', 'integer']);
SELECT has_function('migrate_expand_check', ARRAY['text']);
SELECT has_function('migrate_contract', ARRAY['text', 'interval', 'integer']);
SELECT has_function('migrate_abort', ARRAY['text', 'interval', 'integer']);
SELECT has_function('migrate_expansions', '{}'::name[]);
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace = 'steward'::regnamespace
              AND (p.proname LIKE 'migrate\_expan%' OR p.proname IN ('migrate_contract', 'migrate_abort', 'expansion_begin', 'expansion_end', 'expansion_counted'))
              AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
          'no expand/contract function is executable by PUBLIC');
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace = 'steward'::regnamespace AND p.prosecdef
              AND p.proname IN ('migrate_expand', 'migrate_expand_check', 'migrate_contract', 'migrate_abort')), 0,
          'expand, check, contract and abort run as their caller');

-- The table of the old application ----------------------------------------
CREATE TABLE residents (id bigint PRIMARY KEY, full_name text, care_level_pflegegrad text);
INSERT INTO residents SELECT g, 'Resident ' || g, (g % 5 + 1)::text FROM generate_series(1, 3000) g;
CREATE TABLE residents_before AS SELECT * FROM residents;

-- Expand: rename and retype, two pending at once ----------------------------
SELECT migrate_expand('20260301_rename', 'residents', 'full_name', new_name => 'display_name') AS job1 \gset
SELECT migrate_expand('20260302_care', 'residents', 'care_level_pflegegrad', new_name => 'care_level',
                      new_type => 'smallint', up => 'care_level_pflegegrad::smallint',
                      down => 'care_level::text') AS job2 \gset
CALL job_await(:job1);
CALL job_await(:job2);
SELECT is((SELECT count(*)::int FROM migrate_expansions() WHERE phase = 'expanded'), 2,
          'two expand/contract migrations are pending at once');

-- migrate_status() shows them expanded, with the backfill's progress; no
-- count of disagreeing rows yet (only migrate_expand_check counts)
SELECT results_eq($$SELECT expand_phase, backfill_job, backfill_state, backfill_rows_done, rows_disagreeing,
                           disagreement_counted_at FROM migrate_status() WHERE version = '20260301_rename'$$,
                  format($$VALUES ('expanded'::text, %s::bigint, 'succeeded'::text, 3000::bigint, NULL::bigint,
                                   NULL::timestamptz)$$, :job1),
                  'migrate_status shows the expansion expanded, with its backfill job''s progress');

SELECT is((SELECT prosecdef FROM pg_proc p JOIN pg_trigger t ON t.tgfoid = p.oid
            WHERE t.tgrelid = 'residents'::regclass LIMIT 1), false,
          'the sync trigger function is not SECURITY DEFINER');
SELECT ok((SELECT bool_and(proconfig = ARRAY['search_path=pg_catalog, pg_temp'])
             FROM pg_proc p JOIN pg_trigger t ON t.tgfoid = p.oid
            WHERE t.tgrelid = 'residents'::regclass),
          'the sync trigger functions pin search_path');
SELECT ok((SELECT bool_and(NOT has_function_privilege('public', p.oid, 'EXECUTE'))
             FROM pg_proc p JOIN pg_trigger t ON t.tgfoid = p.oid
            WHERE t.tgrelid = 'residents'::regclass),
          'the sync trigger functions are not executable by PUBLIC');

SELECT is((SELECT count(*)::int FROM residents
            WHERE display_name IS DISTINCT FROM full_name
               OR care_level IS DISTINCT FROM care_level_pflegegrad::smallint), 0,
          'the backfill filled every existing row');

-- The old application writes the old columns, with a search_path of nothing
SET search_path = '';
INSERT INTO public.residents (id, full_name, care_level_pflegegrad) VALUES (5001, 'Old App', '3');
UPDATE public.residents SET full_name = 'Old Update', care_level_pflegegrad = '2' WHERE id = 17;
RESET search_path;
SELECT results_eq($$SELECT display_name, care_level FROM residents WHERE id IN (5001, 17) ORDER BY id$$,
                  $$VALUES ('Old Update'::text, 2::smallint), ('Old App', 3::smallint)$$,
                  'an old application''s INSERT and UPDATE fill the new columns through up');

-- The new application writes the new columns
INSERT INTO residents (id, display_name, care_level) VALUES (5002, 'New App', 4);
UPDATE residents SET display_name = 'New Update', care_level = 5 WHERE id = 18;
SELECT results_eq($$SELECT full_name, care_level_pflegegrad FROM residents WHERE id IN (5002, 18) ORDER BY id$$,
                  $$VALUES ('New Update'::text, '5'::text), ('New App', '4')$$,
                  'a new application''s INSERT and UPDATE fill the old columns through down');

-- Both at once: one statement writes old and new; the new side wins
UPDATE residents SET full_name = 'old side', display_name = 'new side' WHERE id = 19;
SELECT results_eq($$SELECT full_name, display_name FROM residents WHERE id = 19$$,
                  $$VALUES ('new side'::text, 'new side'::text)$$,
                  'a statement writing both sides leaves them equal, the new side winning');
-- an update of neither column leaves them as they are
UPDATE residents SET care_level = care_level WHERE id = 20;
SELECT results_eq($$SELECT full_name, display_name FROM residents WHERE id = 20$$,
                  $$VALUES ('Resident 20'::text, 'Resident 20'::text)$$,
                  'an update of other columns keeps both sides');
-- NULL travels both ways
UPDATE residents SET care_level = NULL WHERE id = 21;
UPDATE residents SET full_name = NULL WHERE id = 22;
SELECT results_eq($$SELECT id, care_level_pflegegrad, display_name FROM residents WHERE id IN (21, 22) ORDER BY id$$,
                  $$VALUES (21::bigint, NULL::text, 'Resident 21'::text), (22, '3', NULL)$$,
                  'NULL is written to the other side too');

SELECT is(migrate_expand_check('20260301_rename'), 0::bigint, 'the rename agrees on every row');
SELECT is(migrate_expand_check('20260302_care'), 0::bigint, 'the type change agrees on every row');

-- A disagreeing row (written with triggers off) blocks contract ---------------
SET session_replication_role = replica;
UPDATE residents SET display_name = 'drift' WHERE id IN (30, 31);
RESET session_replication_role;
SELECT is(migrate_expand_check('20260301_rename'), 2::bigint, 'the check counts the disagreeing rows');
SELECT results_eq($$SELECT rows_disagreeing, disagreement_counted_at IS NOT NULL FROM migrate_status()
                     WHERE version = '20260301_rename'$$,
                  $$VALUES (2::bigint, true)$$,
                  'migrate_status shows the count of the last check');
SELECT throws_ok($$SELECT migrate_contract('20260301_rename')$$, '55000', NULL,
                 'contract is refused while rows disagree');
SELECT ok(EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'residents'::regclass AND attname = 'full_name' AND NOT attisdropped),
          'the refused contract dropped nothing');
UPDATE residents SET full_name = full_name WHERE id IN (30, 31);
SELECT is(migrate_expand_check('20260301_rename'), 0::bigint, 'an update of the old side brings a row back in sync');

-- A backfill not finished blocks contract -----------------------------------
CREATE TABLE wards (id bigint PRIMARY KEY, label text);
INSERT INTO wards SELECT g, 'w' || g FROM generate_series(1, 100) g;
SELECT migrate_expand('20260303_wards', 'wards', 'label', new_name => 'ward_label') AS job3 \gset
SELECT job_pause(:job3);
SELECT throws_ok($$SELECT migrate_contract('20260303_wards')$$, '55000', NULL,
                 'contract is refused while the backfill has not succeeded');

-- Abort leaves the table as it was -------------------------------------------
SELECT lives_ok($$SELECT migrate_abort('20260303_wards')$$, 'abort of an expansion whose backfill is paused');
SELECT is((SELECT array_agg(attname ORDER BY attnum)::text[] FROM pg_attribute
            WHERE attrelid = 'wards'::regclass AND attnum > 0 AND NOT attisdropped),
          ARRAY['id', 'label'], 'abort removed the new column');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'wards'::regclass), 0, 'abort removed the trigger');

SELECT lives_ok($$SELECT migrate_abort('20260302_care')$$, 'abort of the type change');
SELECT set_eq($$SELECT id, full_name, care_level_pflegegrad FROM residents WHERE id <= 3000 AND id NOT IN (17, 18, 19, 21, 22)$$,
              $$SELECT id, full_name, care_level_pflegegrad FROM residents_before WHERE id NOT IN (17, 18, 19, 21, 22)$$,
              'the rows the applications did not write are as before');
SELECT is((SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'residents'::regclass AND attname = 'care_level' AND NOT attisdropped), 0,
          'abort dropped the new column of the type change');

-- Contract ------------------------------------------------------------------
SELECT lives_ok($$SELECT migrate_contract('20260301_rename')$$, 'contract of the rename');
SELECT is((SELECT array_agg(attname ORDER BY attnum)::text[] FROM pg_attribute
            WHERE attrelid = 'residents'::regclass AND attnum > 0 AND NOT attisdropped),
          ARRAY['id', 'care_level_pflegegrad', 'display_name'], 'after contract only the new column is left');
SELECT results_eq($$SELECT version, expand_phase, backfill_state, rows_disagreeing FROM migrate_status()
                     WHERE version LIKE '202603%' ORDER BY version$$,
                  $$VALUES ('20260301_rename'::text, 'contracted'::text, 'succeeded'::text, 0::bigint),
                           ('20260301_rename_contract', NULL, NULL, NULL),
                           ('20260302_care', 'aborted', 'succeeded', 0),
                           ('20260303_wards', 'aborted', 'cancelled', NULL)$$,
                  'after contract and abort migrate_status shows each phase');
SELECT is((SELECT count(*)::int FROM migrate_status() WHERE version NOT LIKE '202603%' AND expand_phase IS NOT NULL), 0,
          'other migrations have no expand phase');
SELECT results_eq($$SELECT version, event FROM migrate_history() WHERE version LIKE '202603%' ORDER BY id$$,
                  $$VALUES ('20260301_rename'::text, 'apply'::text), ('20260302_care', 'apply'),
                           ('20260303_wards', 'apply'), ('20260303_wards', 'rollback'),
                           ('20260302_care', 'rollback'), ('20260301_rename_contract', 'apply')$$,
                  'every phase is an event of the history');

-- Make a column required -----------------------------------------------------
SELECT has_function('migrate_expand_require', ARRAY['text', 'regclass', 'name', 'text', 'text', 'boolean', 'interval', 'integer', 'integer']);
SELECT ok(NOT has_function_privilege('public', 'migrate_expand_require(text, regclass, name, text, text, boolean, interval, integer, integer)', 'EXECUTE'),
          'migrate_expand_require is not executable by PUBLIC');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'migrate_expand_require(text, regclass, name, text, text, boolean, interval, integer, integer)'::regprocedure),
          false, 'migrate_expand_require runs as its caller');

CREATE TABLE visitors (id bigint PRIMARY KEY, name text, preferred_language varchar(10), badge text NOT NULL);
INSERT INTO visitors SELECT g, 'Visitor ' || g, CASE WHEN g % 10 = 0 THEN 'en' END, 'b' || g
  FROM generate_series(1, 2000) g;
CREATE TABLE visitors_before AS SELECT * FROM visitors;

SELECT throws_ok($$SELECT migrate_expand_require('20260310_badge', 'visitors', 'badge', $f$'x'$f$)$$,
                 '55000', NULL, 'a column that is NOT NULL already is refused');
SELECT throws_ok($$SELECT migrate_expand_require('20260310_lang', 'visitors', 'preferred_language', $f$'de'); DROP TABLE visitors; SELECT ('x'$f$)$$,
                 '22023', NULL, 'a fill that tries to close the expression is refused');
SELECT throws_ok($$SELECT migrate_expand_require('20260310_lang', 'visitors', 'nosuch', $f$'de'$f$)$$,
                 '42703', NULL, 'an unknown column is refused');

SELECT migrate_expand_require('20260310_lang', 'visitors', 'preferred_language', fill => $$'de'$$) AS job4 \gset
-- the old application inserts without the column, or NULL, with a search_path of nothing
SET search_path = '';
INSERT INTO public.visitors (id, name, badge) VALUES (9001, 'old app', 'x');
INSERT INTO public.visitors (id, name, preferred_language, badge) VALUES (9002, 'old app', NULL, 'y');
UPDATE public.visitors SET preferred_language = NULL WHERE id = 20;
RESET search_path;
SELECT results_eq($$SELECT id, preferred_language FROM visitors WHERE id IN (20, 9001, 9002) ORDER BY id$$,
                  $$VALUES (20::bigint, 'de'::varchar), (9001, 'de'), (9002, 'de')$$,
                  'the old application''s NULL gets the fill value, no error');
SELECT is((SELECT prosecdef FROM pg_proc p JOIN pg_trigger t ON t.tgfoid = p.oid
            WHERE t.tgrelid = 'visitors'::regclass), false,
          'the fill trigger function is not SECURITY DEFINER');
SELECT ok((SELECT proconfig = ARRAY['search_path=pg_catalog, pg_temp'] AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
             FROM pg_proc p JOIN pg_trigger t ON t.tgfoid = p.oid
            WHERE t.tgrelid = 'visitors'::regclass),
          'the fill trigger function pins search_path and is not executable by PUBLIC');
CALL job_await(:job4);
SELECT is(migrate_expand_check('20260310_lang'), 0::bigint, 'the backfill filled every NULL');
SELECT is((SELECT count(*)::int FROM visitors v JOIN visitors_before b USING (id)
            WHERE v.preferred_language IS DISTINCT FROM coalesce(b.preferred_language, 'de') AND v.id <> 20), 0,
          'the backfill kept every value there was and filled the rest');
SELECT is((SELECT kind FROM migrate_expansions() WHERE version = '20260310_lang'), 'require',
          'the expansion is of kind require');

SELECT lives_ok($$SELECT migrate_contract('20260310_lang')$$, 'contract of the required column');
SELECT col_not_null('visitors', 'preferred_language', 'after contract the column is NOT NULL');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'visitors'::regclass AND contype = 'c'), 0,
          'no helper check is left');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'visitors'::regclass), 0,
          'no fill trigger is left');

-- abort restores the original: nullable, no trigger, no check
SELECT migrate_expand_require('20260311_name', 'visitors', 'name', fill => $$'unknown'$$) AS job5 \gset
CALL job_await(:job5);
SELECT lives_ok($$SELECT migrate_abort('20260311_name')$$, 'abort of a required column');
SELECT col_is_null('visitors', 'name', 'after abort the column is nullable again');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'visitors'::regclass AND contype = 'c')
          + (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'visitors'::regclass), 0,
          'abort removed the helper check and the trigger');

SELECT * FROM finish();
