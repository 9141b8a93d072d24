-- The review as a DBA sees it in psql: lint findings, a refused migration,
-- an accepted one, a failing pre-check, the dry run and the FK check.
SET client_min_messages = notice;
SET pg_steward.large_table_threshold = '64kB';

CREATE TABLE ward (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO ward SELECT g, 'ward ' || g FROM generate_series(1, 20) g;
CREATE TABLE admission (id bigint PRIMARY KEY, ward_id bigint, patient text, note varchar(200));
INSERT INTO admission SELECT g, g % 25, 'patient ' || g, 'n' FROM generate_series(1, 5000) g;

-- the lint: one row per finding, graded by the real size of each table
SELECT statement, rule, severity, lock_mode, relation, effect, silenced
  FROM migrate_lint($$
ALTER TABLE admission ADD COLUMN admitted_at timestamptz DEFAULT now();
ALTER TABLE admission ADD COLUMN token uuid DEFAULT gen_random_uuid();
ALTER TABLE admission ALTER COLUMN note TYPE varchar(400);
ALTER TABLE admission ALTER COLUMN note TYPE varchar(100);
-- steward:allow set-not-null checked: no NULL patient since release 4.2
ALTER TABLE admission ALTER COLUMN patient SET NOT NULL;
ALTER TABLE admission ADD CONSTRAINT admission_ward_fk FOREIGN KEY (ward_id) REFERENCES ward (id) NOT VALID;
ALTER TABLE admission VALIDATE CONSTRAINT admission_ward_fk;
CREATE TABLE transfer (id bigint PRIMARY KEY, admission_id bigint REFERENCES admission, at timestamp);
CREATE INDEX CONCURRENTLY ON admission (patient);
$$)
 ORDER BY statement, rule;

-- the safe alternative and the pre-check come with each finding
SELECT rule, safe_alternative FROM migrate_lint(
    'ALTER TABLE admission ADD FOREIGN KEY (ward_id) REFERENCES ward (id)')
 ORDER BY rule;

-- bad input
SELECT * FROM migrate_lint(NULL);
SELECT * FROM migrate_lint('ALTER TABLE admission ADD COLUMN');
SELECT * FROM migrate_lint('');
SELECT statement, rule, message FROM migrate_lint(E'-- steward:allow no-such-rule because\nSELECT 1;\n-- steward:allow drop-table\nDROP TABLE ward');

-- migrate_apply refuses error findings, and records the refusal
SELECT migrate_apply('zz_review_token', 'ALTER TABLE admission ADD COLUMN token uuid DEFAULT gen_random_uuid()');
SELECT event, error_message, review->>'decision' AS decision,
       review->'findings'->0->>'rule' AS rule
  FROM migrate_history('zz_review_token');
-- ... unless the DBA accepts the risk
SELECT migrate_apply('zz_review_token', 'ALTER TABLE admission ADD COLUMN token uuid DEFAULT gen_random_uuid()',
                     allow_unsafe => true);
SELECT version, status, review->>'decision' AS decision, review->>'allow_unsafe' AS allow_unsafe
  FROM migrate_status() WHERE version LIKE 'zz_review%';

-- a pre-check names the offending rows, and nothing is changed
SELECT migrate_apply('zz_review_ward_fk',
    'ALTER TABLE admission ADD CONSTRAINT admission_ward_fk FOREIGN KEY (ward_id) REFERENCES ward (id) NOT VALID',
    pre_checks => ARRAY['SELECT ward_id, count(*) FROM admission a WHERE NOT EXISTS (SELECT 1 FROM ward w WHERE w.id = a.ward_id) GROUP BY ward_id ORDER BY ward_id']);
SELECT * FROM migrate_check_fk('admission', '{ward_id}', 'ward');
-- a check only reads, and its syntax errors point into the check
SELECT migrate_apply('zz_review_bad_check', 'SELECT 1',
    pre_checks => ARRAY['WITH d AS (DELETE FROM ward RETURNING id) SELECT id FROM d']);
SELECT migrate_apply('zz_review_bad_check', 'SELECT 1', post_checks => ARRAY['SELEC 1']);
SELECT count(*) AS wards_still_there FROM ward;

-- the dry run: what really happens, then rolled back
SELECT statement, step, object_kind, object, lock_mode
  FROM migrate_plan($$
CREATE TYPE triage AS ENUM ('red', 'yellow', 'green');
CREATE TABLE triage_log (id bigint PRIMARY KEY, admission_id bigint NOT NULL REFERENCES admission, level triage NOT NULL);
CREATE INDEX ON triage_log (admission_id);
ALTER TABLE admission ALTER COLUMN ward_id TYPE integer;
$$)
 WHERE step <> 'statement' AND (step <> 'lock' OR lock_mode <> 'AccessShareLock')
 ORDER BY statement NULLS LAST, step, object;
SELECT detail FROM migrate_plan($$
CREATE TYPE triage AS ENUM ('red', 'yellow', 'green');
CREATE TABLE triage_log (id bigint PRIMARY KEY, admission_id bigint NOT NULL REFERENCES admission, level triage NOT NULL);
CREATE INDEX ON triage_log (admission_id);
ALTER TABLE admission ALTER COLUMN ward_id TYPE integer;
$$) WHERE step = 'summary';
SELECT to_regtype('triage') IS NULL AS rolled_back;

-- a file wrapped in BEGIN ... COMMIT: the wrapper is absorbed, the rest runs
-- in the migration's own transaction; the line of each statement
SELECT statement, line, rule, severity FROM migrate_lint(E'BEGIN;\n-- codes\nCREATE TABLE ward_code (code text PRIMARY KEY);\n\nCOMMIT;\n');
-- the line is that of the statement's first token, after the comments in front of it
SELECT statement, line, rule FROM migrate_lint(
  E'SELECT 1;\n-- steward:allow drop-column a reason\n/* a block\n   comment */\n\n  ALTER TABLE admission\n  DROP COLUMN patient;')
 WHERE rule = 'drop-column';
SELECT step, detail FROM migrate_plan(E'BEGIN;\nCREATE TABLE ward_code (code text PRIMARY KEY);\nCOMMIT;')
 WHERE step IN ('absorbed', 'summary') ORDER BY statement NULLS LAST;
SELECT migrate_apply('zz_review_wrapped', E'BEGIN;\nCREATE TABLE ward_code (code text PRIMARY KEY);\nCOMMIT;');
SELECT statements_total, review->'findings'->0->>'rule' AS first_rule
  FROM migrate_status() WHERE version = 'zz_review_wrapped';
-- transaction control that cannot run inside a migration: refused, nothing runs
SELECT statement, rule, severity, message FROM migrate_lint(
  E'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nCREATE TABLE ward_note (id int);\nSAVEPOINT s;\nCOMMIT;');
SELECT migrate_apply('zz_review_isolation', E'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nCREATE TABLE ward_note (id int);');
SELECT migrate_apply('zz_review_unclosed', E'BEGIN;\nCREATE TABLE ward_note (id int);');
SELECT to_regclass('ward_note') AS ward_note, count(*) AS recorded
  FROM migrate_status() WHERE version IN ('zz_review_isolation', 'zz_review_unclosed');

-- an acceptance given with the migration, without editing its SQL
SELECT statement, rule, severity, silenced FROM migrate_lint('ALTER TABLE admission DROP COLUMN note',
  allow => ARRAY['  DROP-COLUMN   the note column moved to admission_note in 2026.11  ', 'drop-table nothing is dropped']);
SELECT migrate_apply('zz_review_x_allow', 'ALTER TABLE admission DROP COLUMN note',
  allow => ARRAY['drop-column the note column moved to admission_note in 2026.11']);
SELECT review->>'decision' AS decision, review->'allow' AS allow,
       review->'findings'->0->>'silenced' AS silenced, checksum = migrate_checksum('ALTER TABLE admission DROP COLUMN note') AS same_checksum
  FROM migrate_status() WHERE version = 'zz_review_x_allow';
-- bad acceptances are refused before anything runs or is recorded
SELECT * FROM migrate_lint('SELECT 1', allow => ARRAY[NULL]);
SELECT * FROM migrate_lint('SELECT 1', allow => ARRAY['']);
SELECT * FROM migrate_lint('SELECT 1', allow => ARRAY['no-such-rule because']);
SELECT * FROM migrate_lint('SELECT 1', allow => ARRAY['drop-column   ']);
SELECT * FROM migrate_lint('SELECT 1', allow => ARRAY[['drop-column a'], ['drop-table b']]);
SELECT count(*) FROM migrate_lint('SELECT 1', allow => (SELECT array_agg('drop-column r' || g) FROM generate_series(1, 1001) g));
SELECT migrate_apply('zz_review_bad_allow', 'ALTER TABLE admission DROP COLUMN patient', allow => ARRAY['drop-column']);
SELECT count(*) AS recorded FROM migrate_status() WHERE version = 'zz_review_bad_allow';

-- folder and file names to versions
SELECT n AS name, steward.version_from_name(n) AS version
  FROM unnest(ARRAY['20240126184148_new_models copy', 'V2 (hotfix)', '0042_ok.v-1', 'naïve  name', '  ']) n;
SELECT steward.version_from_name('');
SELECT steward.version_from_name(NULL) IS NULL AS strict;

DROP TABLE admission, ward, ward_code;
RESET pg_steward.large_table_threshold;
