-- Background jobs from psql: backfill, validate_constraint, control, errors.
\pset null '(null)'
-- job_wait reports progress as NOTICEs every few seconds; keep the output stable
SET client_min_messages = warning;

CREATE TABLE j_patients (id bigint PRIMARY KEY, name text, name_upper text, n int NOT NULL DEFAULT 0);
INSERT INTO j_patients (id, name) SELECT g, 'p' || g FROM generate_series(1, 5000) g;

-- A backfill in fixed batches of 1000, waited for.
SELECT backfill('j_patients', 'name_upper = upper(name)', batch_size => 1000, target_batch_time => '0') AS job \gset
SELECT job_wait(:job);
SELECT kind, relation, state, rows_done, rows_estimate, percent, batches, batch_size,
       current_key, upper_key, attempts, last_error, owner_name = current_user AS mine
  FROM job_status(:job);
SELECT count(*) AS not_backfilled FROM j_patients WHERE name_upper IS DISTINCT FROM upper(name);

-- where_clause limits the rows updated; every key is still visited once.
SELECT backfill('j_patients', 'n = n + 1', where_clause => 'id % 2 = 0', batch_size => 700,
                target_batch_time => '0') AS job \gset
SELECT job_wait(:job);
SELECT n, count(*) FROM j_patients GROUP BY n ORDER BY n;
SELECT rows_done, batches FROM job_status(:job);

-- Bad input changes nothing.
SELECT backfill(NULL, 'n = 1');
SELECT backfill('j_patients', NULL);
SELECT backfill('j_patients', '');
SELECT backfill('j_patients', 'n = 1 WHERE true');
SELECT backfill('j_patients', 'n = 1; DROP TABLE j_patients');
SELECT backfill('j_patients', 'n = 1', where_clause => 'true) OR (true');
SELECT backfill('j_patients', 'n = 1', where_clause => 'true ORDER BY 1');
SELECT backfill('j_patients', 'n = 1', where_clause => 'true; DROP TABLE j_patients');
SELECT backfill('j_patients', 'n = 1', batch_size => 0);
SELECT backfill('j_patients', 'n = 1', key_column => 'name');
SELECT backfill('j_patients', 'n = 1', key_column => 'nope');
SELECT backfill('j_patients', 'n = 1', pause => '-1 s');
CREATE TABLE j_nopk (a int);
SELECT backfill('j_nopk', 'a = 1');
CREATE VIEW j_view AS SELECT * FROM j_patients;
SELECT backfill('j_view', 'n = 1');
SELECT job_wait(NULL);
SELECT job_wait(999999);
SELECT job_pause(999999);
SELECT count(*) AS jobs FROM job_status();

-- A NOT VALID constraint validated by a job.
ALTER TABLE j_patients ADD CONSTRAINT j_n_nonneg CHECK (n >= 0) NOT VALID;
SELECT validate_constraint('j_patients', 'j_n_nonneg') AS job \gset
SELECT job_wait(:job);
SELECT convalidated FROM pg_constraint WHERE conname = 'j_n_nonneg';
SELECT validate_constraint('j_patients', 'nope');
SELECT validate_constraint('j_patients', NULL);

-- A finished job cannot be paused, resumed or cancelled.
SELECT job_pause(:job);
SELECT job_resume(:job);
SELECT job_cancel(:job);

-- A job cannot start before the transaction that submitted it commits.
BEGIN;
SELECT backfill('j_patients', 'n = 2') AS job \gset
SELECT job_wait(:job);
ROLLBACK;

-- A batch that fails fails the job, with the error on record.
SELECT backfill('j_patients', 'n = n / (id - 2500)', batch_size => 1000, target_batch_time => '0') AS job \gset
SELECT job_wait(:job);
SELECT state, last_sqlstate, last_error, rows_done, current_key FROM job_status(:job);
SELECT n, count(*) FROM j_patients GROUP BY n ORDER BY n;
