-- pgTAP: the jobs area's objects, privileges and submission rules.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(24);

SELECT has_table('steward', 'jobs', 'jobs table');
SELECT has_table('steward', 'copy_changes', 'change log of copy_table');
SELECT col_is_pk('steward', 'jobs', 'id', 'jobs are numbered');
SELECT has_function('backfill', ARRAY['regclass', 'text', 'text', 'integer', 'name', 'interval', 'interval', 'interval', 'interval', 'interval']);
SELECT has_function('copy_table', ARRAY['regclass', 'regclass', 'integer', 'boolean', 'name', 'interval', 'interval', 'interval', 'interval']);
SELECT has_function('validate_constraint', ARRAY['regclass', 'name']);
SELECT has_function('job_status', ARRAY['bigint']);
SELECT has_function('job_wait', ARRAY['bigint', 'interval']);
SELECT has_function('job_pause', ARRAY['bigint']);
SELECT has_function('job_resume', ARRAY['bigint']);
SELECT has_function('job_cancel', ARRAY['bigint']);
SELECT ok(EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'job_run' AND prokind = 'p'), 'job_run is a procedure');
SELECT ok(EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'job_await' AND prokind = 'p'), 'job_await is a procedure');
SELECT isnt_definer('steward', 'capture_change', '{}'::name[],
                    'the capture trigger runs as the writer (it logs the key as the extension owner itself)');

SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.proname IN ('backfill', 'copy_table', 'validate_constraint', 'job_status', 'job_wait',
                                'job_await', 'job_pause', 'job_resume', 'job_cancel', 'job_run')
              AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
          'no job function is executable by PUBLIC');

-- the states a job can be in
SELECT throws_ok($$INSERT INTO steward.jobs (kind, args, owner_role, owner_name, login_role, search_path, state)
                   VALUES ('backfill', '{}', 10, 'x', 10, 'pg_catalog', 'sleeping')$$,
                 '23514', NULL, 'an unknown state is refused');

-- submission rules
CREATE TABLE t_rows (id int PRIMARY KEY, v int);
INSERT INTO t_rows SELECT g, g FROM generate_series(1, 100) g;
CREATE TABLE t_target (id int PRIMARY KEY, v int);
SELECT throws_ok($$SELECT backfill('t_rows', 'v = 1', batch_size => 1000001)$$, '22023', NULL, 'batch_size has an upper bound');
SELECT throws_ok($$SELECT backfill('t_rows', 'v = 1', target_batch_time => '1 month')$$, '22023', NULL, 'months are refused');
SELECT throws_ok($$SELECT copy_table('t_rows', 't_rows')$$, '22023', NULL, 'a table cannot be copied onto itself');
INSERT INTO t_target VALUES (1, 1);
SELECT throws_ok($$SELECT copy_table('t_rows', 't_target')$$, '55000', NULL, 'the target must be empty');
DELETE FROM t_target;
CREATE TABLE t_narrow (id int PRIMARY KEY);
SELECT throws_ok($$SELECT copy_table('t_rows', 't_narrow')$$, '42703', NULL, 'the target needs every column');

-- a submitted job is queued with its owner and pinned search_path
SELECT lives_ok($$SELECT backfill('t_rows', 'v = v + 1')$$, 'a backfill is submitted');
SELECT results_eq($$SELECT kind, owner_name::text, split_part(search_path, ',', 1) FROM steward.jobs ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('backfill'::text, current_user::text, 'pg_catalog'::text)$$,
                  'the job records its owner and a search_path with pg_catalog first');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname LIKE 'steward_copy_%'), 0,
          'no capture trigger is left by refused copies');

SELECT * FROM finish();
