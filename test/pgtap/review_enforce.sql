-- pgTAP: the review enforced: migrate_apply refuses unsafe migrations,
-- records its review, the runtime guards, the checks and the dry run.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward installed.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(61);

SET pg_steward.large_table_threshold = '64kB';
CREATE TABLE big (id bigint PRIMARY KEY, n integer, v varchar(20), name text);
INSERT INTO big SELECT g, g, 'v' || g, 'name ' || g FROM generate_series(1, 5000) g;
CREATE TABLE small (id bigint PRIMARY KEY, big_id bigint);
INSERT INTO small VALUES (1, 1), (2, 99998), (3, 99999);
CREATE TABLE later_big (id bigint PRIMARY KEY, n integer);

CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN NULL;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN SQLSTATE;
END $$;
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text; d text;
BEGIN
    EXECUTE q;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || m || E'\n' || coalesce(d, '');
END $$;
CREATE FUNCTION pg_temp.coltype(t regclass, c name) RETURNS text LANGUAGE sql AS $$
    SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = t AND attname = c
$$;
CREATE FUNCTION pg_temp.last_event(v text) RETURNS steward.migration_events LANGUAGE sql AS $$
    SELECT * FROM steward.migration_events WHERE version = v ORDER BY id DESC LIMIT 1
$$;

-- Objects and arguments -----------------------------------------------------
SELECT has_function('migrate_lint', ARRAY['text', 'text[]']);
SELECT has_function('migrate_plan', ARRAY['text', 'interval', 'interval']);
SELECT has_function('migrate_lint_rules', '{}'::name[]);
SELECT is(pg_temp.sqlstate_of($$SELECT * FROM migrate_lint(NULL)$$), '22004', 'lint: NULL sql');
SELECT is(pg_temp.sqlstate_of($$SELECT * FROM migrate_lint('ALTER TABLEX big')$$), '42601', 'lint: syntax error');
SELECT is(pg_temp.sqlstate_of($$SELECT * FROM migrate_plan(NULL)$$), '22004', 'plan: NULL sql');
SELECT is(pg_temp.sqlstate_of($$SELECT * FROM migrate_plan('')$$), '22023', 'plan: empty sql');
SELECT ok((SELECT count(*) FROM migrate_lint_rules()) >= 55, 'at least 55 rules');
SELECT is_empty($$SELECT unnest(ARRAY['add-column-volatile-default', 'add-column-serial-identity', 'add-column-stored-generated',
          'add-column-constrained-domain', 'add-required-column', 'change-column-type',
          'type-change-with-checks', 'set-not-null', 'check-missing-not-valid', 'fk-missing-not-valid',
          'validate-in-locking-tx', 'unique-constraint-builds-index', 'primary-key-builds-index',
          'exclusion-constraint', 'index-not-concurrent', 'concurrently-in-tx', 'drop-index-not-concurrent',
          'reindex-not-concurrent', 'detach-not-concurrent', 'full-rewrite-maintenance',
          'rewrite-table-option', 'trigger-lock', 'combine-alters', 'work-after-ael',
          'lock-timeout-disabled', 'fk-without-index', 'backfill-in-ddl-tx', 'drop-table', 'drop-column',
          'rename-column', 'rename-table', 'rename-schema', 'rename-enum-value', 'drop-not-null',
          'drop-constraint', 'drop-schema', 'truncate', 'data-dependent',
          'attach-partition-scan', 'rls-policy-lock', 'refresh-matview-not-concurrent', 'lock-table',
          'drop-trigger']) EXCEPT SELECT rule FROM migrate_lint_rules()$$,
    'every rule of the merged table (1 to 34) and the five gaps');

-- Lint: grading by size, new tables ------------------------------------------
SELECT is((SELECT severity FROM migrate_lint('ALTER TABLE big ALTER COLUMN n TYPE bigint')),
          'error', 'a rewrite of a table above the threshold is an error');
SELECT is((SELECT severity FROM migrate_lint('ALTER TABLE small ALTER COLUMN big_id TYPE numeric')),
          'warning', 'below the threshold a warning');
SELECT is((SELECT severity FROM migrate_lint('ALTER TABLE later_big ALTER COLUMN n TYPE bigint')),
          'info', 'on an empty table info');
SELECT is_empty($$SELECT * FROM migrate_lint('CREATE TABLE t_new (id bigint, n int); ALTER TABLE t_new ALTER COLUMN n TYPE bigint; CREATE INDEX ON t_new (n)')$$,
                'nothing on a table created earlier in the same migration');
SELECT is((SELECT lock_mode FROM migrate_lint('ALTER TABLE small ADD FOREIGN KEY (big_id) REFERENCES big') WHERE rule = 'fk-missing-not-valid'),
          'ShareRowExclusiveLock', 'the lock comes from AlterTableGetLockLevel');

-- Enforcement ----------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of($$SELECT migrate_apply('r_001', 'ALTER TABLE big ALTER COLUMN n TYPE bigint')$$),
          '55000', 'an error finding refuses the migration');
SELECT is(pg_temp.coltype('big', 'n'), 'integer', 'nothing changed');
SELECT is((pg_temp.last_event('r_001')).event, 'fail', 'the refusal is recorded');
SELECT is((pg_temp.last_event('r_001')).review->>'decision', 'refused', 'with the decision');
SELECT is((pg_temp.last_event('r_001')).review->'findings'->0->>'rule', 'change-column-type', 'and the finding');
SELECT is((SELECT payload->'review'->>'decision' FROM steward.audit_events
            WHERE event_type = 'SCHEMA_MIGRATION' AND resource_id = 'r_001' ORDER BY id DESC LIMIT 1),
          'refused', 'the audit ledger carries the review');

SELECT is(migrate_apply('r_001', E'-- steward:allow change-column-type in the maintenance window of 2026-11-22\nALTER TABLE big ALTER COLUMN n TYPE bigint'),
          'applied', 'a silenced finding does not block, and the guard lets the predicted rewrite through');
SELECT is(pg_temp.coltype('big', 'n'), 'bigint', 'the rewrite ran');
SELECT is((pg_temp.last_event('r_001')).review->'findings'->0->>'silenced',
          'in the maintenance window of 2026-11-22', 'the silence and its reason are recorded');
SELECT is((pg_temp.last_event('r_001')).review->>'decision', 'clean', 'no unsilenced error');

SELECT is(migrate_apply('r_002', 'ALTER TABLE big ADD COLUMN r float8 DEFAULT random()', allow_unsafe => true),
          'applied', 'allow_unsafe applies despite an error finding');
SELECT is((pg_temp.last_event('r_002')).review->>'decision', 'allowed', 'the override is recorded');
SELECT is((pg_temp.last_event('r_002')).review->>'allow_unsafe', 'true', 'with allow_unsafe');

SELECT is(migrate_apply('r_003', 'ALTER TABLE small ADD COLUMN note text', down_sql => 'ALTER TABLE small DROP COLUMN note'), 'applied',
          'warnings and infos do not block');
SELECT is(migrate_rollback('r_003'), 'rolled_back', 'rollback scripts are not refused');

-- Runtime guards -------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of($q$SELECT migrate_apply('r_004', $m$DO $d$ BEGIN EXECUTE 'CREATE INDEX big_name_idx ON big (name)'; END $d$$m$)$q$),
          '55000', 'DDL from a DO block is linted while it runs and refused');
SELECT hasnt_index('public', 'big', 'big_name_idx', 'the index was not built');
SELECT matches(pg_temp.error_of($q$SELECT migrate_apply('r_004', $m$DO $d$ BEGIN EXECUTE 'CREATE INDEX big_name_idx ON big (name)'; END $d$$m$)$q$),
               'unsafe statement issued from inside statement 1: index-not-concurrent on public.big',
               'the error names the rule and the table');
CREATE FUNCTION add_idx() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE INDEX big_v_idx ON big (v);
END $$;
SELECT is(pg_temp.sqlstate_of($$SELECT migrate_apply('r_005', 'SELECT add_idx()')$$),
          '55000', 'DDL from a function called by the migration is refused too');
SELECT is(migrate_apply('r_005', 'SELECT add_idx()', allow_unsafe => true), 'applied',
          'allow_unsafe lets it run');
SELECT has_index('public', 'big', 'big_v_idx', 'and the index is there');
SELECT is(migrate_apply('r_006', $q$DO $d$ BEGIN CREATE TABLE made_in_do (id bigint); CREATE INDEX ON made_in_do (id); END $d$$q$),
          'applied', 'DDL on a table created in the same migration is not refused');

-- a table the migration fills itself: the lint saw it empty, the guard sees it large
SELECT is((SELECT severity FROM migrate_lint('INSERT INTO later_big SELECT g, g FROM generate_series(1, 20000) g; ALTER TABLE later_big ALTER COLUMN n TYPE bigint')
            WHERE rule = 'change-column-type'),
          'info', 'the lint judges the rewrite by the table as it is now (empty)');
-- (one attempt only: the rolled-back rows stay in the file, so a second
-- lint would see a large table)
SELECT matches(pg_temp.error_of($$SELECT migrate_apply('r_007', 'INSERT INTO later_big SELECT g, g FROM generate_series(1, 20000) g; ALTER TABLE later_big ALTER COLUMN n TYPE bigint')$$),
               '^55000: migration "r_007" failed at statement 2 of 2: statement 2 of the migration would rewrite table public.later_big',
               'the table_rewrite guard refuses the rewrite of the table the migration filled, naming the statement');
SELECT is((pg_temp.last_event('r_007')).review->>'decision', 'clean', 'although the review had found no error');
SELECT is((SELECT count(*)::int FROM later_big), 0, 'nothing changed');
SELECT lives_ok($$ALTER TABLE later_big ALTER COLUMN n TYPE bigint$$, 'outside a migration the guard does nothing');

-- Pre- and post-checks -------------------------------------------------------
SELECT is(pg_temp.sqlstate_of($$SELECT migrate_apply('r_008', 'ALTER TABLE small ADD COLUMN checked boolean',
            pre_checks => ARRAY['SELECT id, big_id FROM small s WHERE NOT EXISTS (SELECT 1 FROM big b WHERE b.id = s.big_id) ORDER BY id'])$$),
          '23514', 'a failing pre-check aborts the migration');
SELECT matches(pg_temp.error_of($$SELECT migrate_apply('r_008', 'ALTER TABLE small ADD COLUMN checked boolean',
            pre_checks => ARRAY['SELECT id, big_id FROM small s WHERE NOT EXISTS (SELECT 1 FROM big b WHERE b.id = s.big_id) ORDER BY id'])$$),
               'pre-check 1 found 2 offending rows.*id=2, big_id=99998.*id=3, big_id=99999',
               'and names the offending rows');
SELECT hasnt_column('small', 'checked', 'before any change');
SELECT is((pg_temp.last_event('r_008')).error_message, 'pre-check 1 found 2 offending rows', 'the failure is recorded');
SELECT is(pg_temp.sqlstate_of($$SELECT migrate_apply('r_009', 'SELECT 1', pre_checks => ARRAY['DELETE FROM small'])$$),
          '22023', 'a check must be one SELECT');
SELECT is(pg_temp.sqlstate_of($$SELECT migrate_apply('r_009', 'SELECT 1', post_checks => ARRAY[NULL])$$),
          '22004', 'a check must not be NULL');
SELECT is((SELECT count(*)::int FROM steward.migration_events WHERE version = 'r_009'), 0, 'bad checks record nothing');
SELECT is(pg_temp.sqlstate_of($$SELECT migrate_apply('r_010', 'CREATE TABLE r10 (id bigint)',
            post_checks => ARRAY['SELECT t FROM unnest(ARRAY[''r10'', ''r10_audit'']) t WHERE to_regclass(t) IS NULL'])$$),
          '23514', 'a failing post-check rolls the migration back');
SELECT hasnt_table('r10', 'nothing is left');
SELECT is(migrate_apply('r_010', 'CREATE TABLE r10 (id bigint)',
            post_checks => ARRAY['SELECT t FROM unnest(ARRAY[''r10'']) t WHERE to_regclass(t) IS NULL']),
          'applied', 'a passing post-check');

-- Dry run ----------------------------------------------------------------------
CREATE TEMP TABLE p AS SELECT * FROM migrate_plan($$
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE plan_a (id bigint PRIMARY KEY, m mood);
CREATE TABLE plan_b (id bigint PRIMARY KEY, a_id bigint REFERENCES plan_a);
CREATE INDEX ON plan_b (a_id);
ALTER TABLE small ADD CONSTRAINT small_big_fk FOREIGN KEY (big_id) REFERENCES big (id) NOT VALID;
ALTER TABLE big ALTER COLUMN v TYPE text;
ALTER TABLE big ALTER COLUMN name TYPE varchar(100);
$$);
SELECT is((SELECT detail FROM p WHERE step = 'summary'),
          'created 1 enum, 2 tables, 2 primary keys, 4 indexes, 2 foreign keys; altered 1 table, 2 columns; dropped 1 index; 6 locks on existing relations (5 blocking writes or reads); 2 rewrites; rolled back',
          'the summary counts what was created, altered, dropped, locked and rewritten (a type change re-creates the index on the column)');
SELECT hasnt_table('plan_a', 'the dry run is rolled back');
SELECT set_eq($$SELECT statement || ' ' || object || ' ' || lock_mode FROM p WHERE step = 'lock' AND lock_mode <> 'AccessShareLock'$$,
              ARRAY['5 public.small ShareRowExclusiveLock', '5 public.big ShareRowExclusiveLock',
                    '6 public.big AccessExclusiveLock', '6 public.big_v_idx AccessExclusiveLock',
                    '7 public.big_pkey AccessExclusiveLock'],
              'every lock on an existing relation, with the statement that took it');
SELECT set_eq($$SELECT statement || ' ' || object FROM p WHERE step = 'rewrite'$$,
              ARRAY['7 public.big', '7 public.big_pkey'],
              'varchar to text does not rewrite, text to varchar(100) does');
SELECT is((SELECT detail FROM migrate_plan('ALTER TABLE small ADD CONSTRAINT fk2 FOREIGN KEY (big_id) REFERENCES big (id)') WHERE step = 'error'),
          E'23503: insert or update on table "small" violates foreign key constraint "fk2"\nKey (big_id)=(99998) is not present in table "big".',
          'a failing statement ends the plan with its error');

CREATE TABLE part_parent (id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE part_2026 PARTITION OF part_parent FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT is((SELECT detail FROM migrate_plan($$CREATE TABLE part_2027 PARTITION OF part_parent FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')$$)
            WHERE step = 'summary'),
          'created 1 table; 1 lock on existing relations (1 blocking writes or reads); 0 rewrites; rolled back',
          'partition DDL can be dry-run');

-- a failed catalog lookup inside the guard leaves the statement timer armed
CREATE TABLE loose (id bigint);
SELECT is(pg_temp.sqlstate_of($q$SELECT migrate_apply('r_011', $m$DO $d$BEGIN ALTER TABLE loose ADD COLUMN id2 bigserial; PERFORM pg_sleep(30); END$d$$m$,
                                                   statement_timeout => '1s', allow_unsafe => true)$q$),
          '57014', 'the statement_timeout still cancels a statement whose nested DDL the guard linted');
SELECT hasnt_column('loose', 'id2', 'and nothing is left');

-- Privileges -------------------------------------------------------------------
SELECT ok(NOT has_function_privilege('public', 'migrate_lint(text, text[])', 'EXECUTE'), 'migrate_lint is not granted to PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'migrate_plan(text, interval, interval)', 'EXECUTE'), 'migrate_plan is not granted to PUBLIC');

SELECT * FROM finish();
