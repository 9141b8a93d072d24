-- A migration whose statements refuse a transaction block: the transactional
-- part commits, a job runs the rest as top-level statements.
\pset null '(null)'
SET client_min_messages = warning;

CREATE TABLE jm_visits (id bigint PRIMARY KEY, patient text, ward text);
INSERT INTO jm_visits SELECT g, 'p' || (g % 100), 'w' || (g % 7) FROM generate_series(1, 2000) g;

SELECT migrate_apply('z_jm_001', $$ALTER TABLE jm_visits ADD COLUMN seen_at timestamptz;
CREATE INDEX CONCURRENTLY jm_visits_ward_idx ON jm_visits (ward);
CREATE UNIQUE INDEX CONCURRENTLY jm_visits_patient_key ON jm_visits (patient);$$);
SELECT job_id AS job FROM migrate_status() WHERE version = 'z_jm_001' \gset

-- SELECT job_wait would hold a snapshot the CONCURRENTLY build waits for.
SELECT job_wait(:job);
CALL job_await(:job);

-- The unique index failed on duplicates: the migration failed at statement 3,
-- and no invalid index is left behind.
SELECT status, statements_applied, statements_total, error_statement, error_sqlstate
  FROM migrate_status() WHERE version = 'z_jm_001';
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index
 WHERE indrelid = 'jm_visits'::regclass ORDER BY 1;
SELECT state, phase FROM job_status(:job);

-- Its transactional part is in place, so other SQL under this version is refused.
SELECT migrate_apply('z_jm_001', 'SELECT 1');

-- With the data fixed, the same SQL resumes at statement 3.
UPDATE jm_visits SET patient = patient || '-' || id;
SELECT migrate_apply('z_jm_001', $$ALTER TABLE jm_visits ADD COLUMN seen_at timestamptz;
CREATE INDEX CONCURRENTLY jm_visits_ward_idx ON jm_visits (ward);
CREATE UNIQUE INDEX CONCURRENTLY jm_visits_patient_key ON jm_visits (patient);$$);
SELECT job_id AS job FROM migrate_status() WHERE version = 'z_jm_001' \gset
CALL job_await(:job);
SELECT status, statements_applied, statements_total, attempts
  FROM migrate_status() WHERE version = 'z_jm_001';
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index
 WHERE indrelid = 'jm_visits'::regclass ORDER BY 1;
SELECT event, error_statement, error_statement_text, details ? 'job_id' AS by_job
  FROM migrate_history('z_jm_001');

-- A migration made only of such statements.
SELECT migrate_apply('z_jm_002', $$VACUUM (ANALYZE) jm_visits;
REINDEX (CONCURRENTLY) INDEX jm_visits_ward_idx$$);
SELECT job_id AS job FROM migrate_status() WHERE version = 'z_jm_002' \gset
CALL job_await(:job);
SELECT status, statements_applied, statements_total FROM migrate_status() WHERE version = 'z_jm_002';
SELECT count(*) AS invalid_indexes FROM pg_index WHERE NOT indisvalid;
