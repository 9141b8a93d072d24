-- The migration workflow as a DBA sees it in psql.
\pset null '(null)'

-- A first migration: a flat legacy table with a rollback script.
SELECT migrate_apply('20260101_legacy_patients',
$$CREATE TABLE patients (
    id          bigint PRIMARY KEY,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    phone       text
);
INSERT INTO patients VALUES (1, 'Ada', 'Lovelace', '+44 20 7946 0000');$$,
    down_sql => 'DROP TABLE patients',
    description => 'flat legacy patients table');

SELECT count(*) AS patients FROM patients;

-- The same version with the same SQL is a no-op that says so; line endings
-- and trailing white space do not change the checksum.
SELECT migrate_apply('20260101_legacy_patients',
E'CREATE TABLE patients (  \r\n    id          bigint PRIMARY KEY,\r\n    first_name  text NOT NULL,\r\n    last_name   text NOT NULL,\r\n    phone       text\r\n);\r\nINSERT INTO patients VALUES (1, ''Ada'', ''Lovelace'', ''+44 20 7946 0000'');\n\n\n');

-- A changed migration under an applied version is refused and shows both checksums.
SELECT migrate_apply('20260101_legacy_patients', 'CREATE TABLE patients (id int)');

-- Several statements, applied in order, atomically.
SELECT migrate_apply('20260102_contacts',
$$CREATE TABLE patient_contacts (
    patient_id bigint NOT NULL REFERENCES patients(id),
    kind       text NOT NULL CHECK (kind IN ('phone', 'email')),
    value      text NOT NULL
);
INSERT INTO patient_contacts SELECT id, 'phone', phone FROM patients WHERE phone IS NOT NULL;
-- steward:allow drop-column the phone numbers were copied to patient_contacts just above
ALTER TABLE patients DROP COLUMN phone;$$,
    down_sql => $$ALTER TABLE patients ADD COLUMN phone text;
UPDATE patients p SET phone = c.value FROM patient_contacts c WHERE c.patient_id = p.id AND c.kind = 'phone';
DROP TABLE patient_contacts;$$,
    description => 'move phone numbers to patient_contacts');

SELECT * FROM patient_contacts;

SELECT version, kind, description, status, statements_applied, statements_total,
       attempts, last_op, error_message, installed_rank,
       checksum ~ '^v1:sha256:[0-9a-f]{64}$' AS checksum_ok,
       started_at <= finished_at AS timed, duration >= interval '0' AS has_duration,
       session_user_name = session_user AS by_session_user,
       current_user_name = current_user AS by_current_user, backend_pid = pg_backend_pid() AS this_session
  FROM migrate_status();

-- A failing migration: error with SQLSTATE, statement number and text; the
-- schema is exactly as before; the attempt is on record.
SELECT migrate_apply('20260103_broken',
$$CREATE TABLE patient_address (patient_id bigint REFERENCES patients(id), city text);
ALTER TABLE patient_adress ADD COLUMN zip text;
CREATE TABLE never_created (id int);$$);
SELECT to_regclass('patient_address') AS patient_address, to_regclass('never_created') AS never_created;
SELECT version, status, statements_applied, statements_total, error_sqlstate, error_statement, error_message
  FROM migrate_status() WHERE version = '20260103_broken';

-- Inside an explicit transaction the failure record survives the ROLLBACK.
BEGIN;
SELECT migrate_apply('20260104_broken_in_tx', 'SELECT 1/0');
ROLLBACK;
SELECT version, status, error_sqlstate, error_statement, error_message
  FROM migrate_status() WHERE version = '20260104_broken_in_tx';

-- A successful migration whose transaction is rolled back reads as aborted.
BEGIN;
SELECT migrate_apply('20260105_rolled_back_tx', 'CREATE TABLE patient_family (id int)');
ROLLBACK;
SELECT version, status, error_message FROM migrate_status() WHERE version = '20260105_rolled_back_tx';
SELECT to_regclass('patient_family') AS patient_family;

-- The corrected migration can be applied again under the same version.
SELECT migrate_apply('20260103_broken',
$$CREATE TABLE patient_address (patient_id bigint REFERENCES patients(id), city text);
ALTER TABLE patient_address ADD COLUMN zip text;$$,
    down_sql => 'DROP TABLE patient_address');
SELECT version, status, attempts, error_message FROM migrate_status() WHERE version = '20260103_broken';

-- Order: an older version than the newest applied one needs out_of_order.
SELECT migrate_apply('20251231_forgotten', 'CREATE TABLE forgotten (id int)');
SELECT migrate_apply('20251231_forgotten', 'CREATE TABLE forgotten (id int)', out_of_order => true);

-- Rollback runs the stored down_sql; only the newest applied version, unless out_of_order.
SELECT migrate_rollback('20260102_contacts');
SELECT migrate_rollback('20260103_broken');
SELECT to_regclass('patient_address') AS patient_address;
SELECT migrate_rollback('20260102_contacts');
SELECT id, first_name, phone FROM patients;
SELECT to_regclass('patient_contacts') AS patient_contacts;

-- Without down_sql a rollback is refused.
SELECT migrate_rollback('20251231_forgotten', out_of_order => true);
-- A rolled-back migration cannot be rolled back again, but can be re-applied.
SELECT migrate_rollback('20260102_contacts');

-- A failing down_sql leaves the migration applied and records the failure.
SELECT migrate_apply('20260106_bad_down', 'CREATE TABLE notes (id int)', down_sql => 'DROP TABLE notes_typo');
SELECT migrate_rollback('20260106_bad_down');
SELECT version, status, last_op, error_sqlstate, error_message FROM migrate_status() WHERE version = '20260106_bad_down';
SELECT to_regclass('notes') AS notes;

-- SET inside a migration ends with the migration.
SET work_mem = '4MB';
SHOW work_mem;
SELECT migrate_apply('20260107_set', $$SET work_mem = '77MB'; CREATE TABLE set_test (id int)$$);
SHOW work_mem;

-- Every attempt is in the history, oldest first.
SELECT version, event, statements_applied, statements_total, error_sqlstate, error_statement,
       error_statement_text, details
  FROM migrate_history() ORDER BY at, id NULLS LAST;
SELECT version, event FROM migrate_history('20260103_broken');

-- The checksum function matches what is stored.
SELECT migrate_checksum(up_sql) = checksum AS same FROM migrate_status() WHERE version = '20260101_legacy_patients';
SELECT migrate_checksum(E'SELECT 1;  \r\n\r\n') = migrate_checksum('SELECT 1;') AS normalized,
       migrate_checksum('SELECT 1;') = migrate_checksum('select 1;') AS case_matters;
