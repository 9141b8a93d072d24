-- pg_steward walkthrough: normalizing a flat patient table, the way a DBA
-- would do it in production.  Run by scripts/demo.sh in a fresh database;
-- some calls fail on purpose to show what pg_steward does then.
\set VERBOSITY default
\pset footer off
\pset null '-'
SET client_min_messages = notice;

\echo
\echo '=== 1. Install pg_steward and record the schema that predates it'
CREATE EXTENSION pg_steward;

-- The legacy application created this flat table long ago.
CREATE TABLE patients (
    id            bigint PRIMARY KEY,
    first_name    text NOT NULL,
    last_name     text NOT NULL,
    birth_date    date,
    phone         text,
    email         text,
    street        text,
    city          text,
    postal_code   text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO patients (id, first_name, last_name, birth_date, phone, email, street, city, postal_code) VALUES
    (1, 'Amina',  'Okafor',  '1984-03-12', '+49 30 1234567', 'amina@example.org', 'Invalidenstr. 1', 'Berlin',  '10115'),
    (2, 'Jonas',  'Weber',   '1990-11-02', NULL,             'jonas@example.org', 'Marienplatz 8',   'München', '80331'),
    (3, 'Marta',  'Kowalska','1975-06-30', '+49 40 7654321', NULL,                NULL,              NULL,      NULL);
-- and 20000 more, so that the background jobs below have work to do
INSERT INTO patients (id, first_name, last_name, birth_date, phone, email, city)
SELECT g, 'First' || g, 'Last' || g, date '1940-01-01' + (g * 7) % 25000,
       '+49 30 ' || (1000000 + g), 'p' || g || '@example.org', 'Hamburg'
  FROM generate_series(4, 20003) g;

SELECT migrate_baseline('20260101_000000_legacy_patients',
                        'flat legacy patients table, deployed before pg_steward');

\echo
\echo '=== 2. Migration: patient_core (with a rollback script)'
SELECT migrate_apply('20260115_100000_patient_core', $$
CREATE TABLE patient_core (
    id          bigint PRIMARY KEY,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    birth_date  date,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO patient_core (id, first_name, last_name, birth_date, created_at)
SELECT id, first_name, last_name, birth_date, created_at FROM patients;
$$,
    down_sql => 'DROP TABLE patient_core',
    description => 'normalize: core patient data');

\echo
\echo '=== 3. Migration: patient_contacts and patient_address'
SELECT migrate_apply('20260115_110000_contacts_address', $$
CREATE TABLE patient_contacts (
    patient_id  bigint NOT NULL REFERENCES patient_core(id),
    kind        text NOT NULL CHECK (kind IN ('phone', 'email')),
    value       text NOT NULL,
    valid_from  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, kind, valid_from)
);
CREATE TABLE patient_address (
    patient_id  bigint NOT NULL REFERENCES patient_core(id),
    street      text,
    city        text,
    postal_code text,
    valid_from  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, valid_from)
);
INSERT INTO patient_contacts (patient_id, kind, value)
SELECT id, 'phone', phone FROM patients WHERE phone IS NOT NULL
UNION ALL
SELECT id, 'email', email FROM patients WHERE email IS NOT NULL;
INSERT INTO patient_address (patient_id, street, city, postal_code)
SELECT id, street, city, postal_code FROM patients WHERE city IS NOT NULL;
CREATE INDEX patient_contacts_value_idx ON patient_contacts (value);
$$,
    down_sql => 'DROP TABLE patient_address; DROP TABLE patient_contacts',
    description => 'normalize: contacts and address history');

\echo
\echo '=== 4. Migration: v_patients_legacy, so old code keeps working'
SELECT migrate_apply('20260115_120000_legacy_view', $$
CREATE VIEW v_patients_legacy AS
SELECT c.id, c.first_name, c.last_name, c.birth_date,
       (SELECT value FROM patient_contacts WHERE patient_id = c.id AND kind = 'phone'
         ORDER BY valid_from DESC LIMIT 1) AS phone,
       (SELECT value FROM patient_contacts WHERE patient_id = c.id AND kind = 'email'
         ORDER BY valid_from DESC LIMIT 1) AS email,
       a.street, a.city, a.postal_code, c.created_at
  FROM patient_core c
  LEFT JOIN LATERAL (SELECT * FROM patient_address WHERE patient_id = c.id
                      ORDER BY valid_from DESC LIMIT 1) a ON true;
$$,
    down_sql => 'DROP VIEW v_patients_legacy',
    description => 'compatibility view for the legacy application');

SELECT id, first_name, last_name, phone, email, city FROM v_patients_legacy WHERE id <= 3 ORDER BY id;

\echo
\echo '=== 5. Where does the schema stand?'
SELECT version, status, statements_applied || '/' || statements_total AS statements,
       description
  FROM migrate_status();

\echo
\echo '=== 6. A migration that fails on existing data leaves nothing behind but its record'
-- Marta has no e-mail address: the new NOT NULL column cannot be filled.
SELECT migrate_apply('20260116_090000_family_and_email', $$
CREATE TABLE patient_family (
    patient_id  bigint NOT NULL REFERENCES patient_core(id),
    relative_id bigint NOT NULL REFERENCES patient_core(id),
    relation    text NOT NULL
);
ALTER TABLE patient_core ADD COLUMN email text;
UPDATE patient_core c SET email = p.email FROM patients p WHERE p.id = c.id;
ALTER TABLE patient_core ALTER COLUMN email SET NOT NULL;
$$, description => 'family relations; e-mail becomes mandatory');

SELECT to_regclass('patient_family') AS patient_family_exists,
       (SELECT count(*) FROM information_schema.columns
         WHERE table_name = 'patient_core' AND column_name = 'email') AS email_columns;
SELECT version, status, statements_applied || '/' || statements_total AS statements,
       error_statement, error_sqlstate, error_message
  FROM migrate_status() WHERE status = 'failed';

\echo
\echo '=== 7. The corrected migration goes through under the same version'
SELECT migrate_apply('20260116_090000_family_and_email', $$
CREATE TABLE patient_family (
    patient_id  bigint NOT NULL REFERENCES patient_core(id),
    relative_id bigint NOT NULL REFERENCES patient_core(id),
    relation    text NOT NULL
);
$$, down_sql => 'DROP TABLE patient_family', description => 'family relations');

\echo
\echo '=== 8. An applied migration must not change: a checksum mismatch is refused'
SELECT migrate_apply('20260115_100000_patient_core', $$
CREATE TABLE patient_core (
    id          bigint PRIMARY KEY,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    birth_date  date NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO patient_core (id, first_name, last_name, birth_date, created_at)
SELECT id, first_name, last_name, birth_date, created_at FROM patients;
$$);

\echo
\echo '=== 9. Roll back the newest migration, then apply it again'
SELECT migrate_rollback('20260116_090000_family_and_email');
SELECT to_regclass('patient_family') AS patient_family_exists;
-- the stored SQL is all it takes to apply it again
SELECT migrate_apply(version, up_sql, down_sql, description)
  FROM migrate_status() WHERE version = '20260116_090000_family_and_email';

\echo
\echo '=== 10. A migration with CREATE INDEX CONCURRENTLY: a background job builds the index'
SELECT migrate_apply('20260120_090000_birth_year', $$
ALTER TABLE patient_core ADD COLUMN birth_year smallint;
CREATE INDEX CONCURRENTLY patient_core_birth_year_idx ON patient_core (birth_year);
$$, down_sql => 'DROP INDEX patient_core_birth_year_idx; ALTER TABLE patient_core DROP COLUMN birth_year',
    description => 'birth year for the age statistics');
SELECT version, status, statements_applied || '/' || statements_total AS statements, job_id
  FROM migrate_status() WHERE version = '20260120_090000_birth_year';
SELECT job_id AS index_job FROM migrate_status() WHERE version = '20260120_090000_birth_year' \gset
-- CALL job_await holds no snapshot, so the concurrent build never waits for it
CALL job_await(:index_job);
SELECT version, status, statements_applied || '/' || statements_total AS statements
  FROM migrate_status() WHERE version = '20260120_090000_birth_year';
SELECT indexrelid::regclass AS index, indisvalid AS valid
  FROM pg_index WHERE indrelid = 'patient_core'::regclass ORDER BY 1;

\echo
\echo '=== 11. Backfill the new column from the legacy data, in batches, as a background job'
SELECT backfill('patient_core',
                $$birth_year = (SELECT extract(year FROM p.birth_date) FROM patients p WHERE p.id = patient_core.id)$$,
                batch_size => 2500, target_batch_time => '200ms') AS backfill_job \gset
SELECT job_wait(:backfill_job);
SELECT id, kind, relation, state, rows_done, batches, max_batch_ms || ' ms' AS longest_batch,
       rows_per_second
  FROM job_status(:backfill_job);
SELECT count(*) FILTER (WHERE birth_year IS NULL) AS still_missing, count(*) AS patients
  FROM patient_core;

\echo
\echo '=== 12. A constraint added NOT VALID, validated later by a job without blocking writes'
SELECT migrate_apply('20260121_090000_birth_year_check', $$
ALTER TABLE patient_core ADD CONSTRAINT patient_core_birth_year_plausible
    CHECK (birth_year BETWEEN 1900 AND 2100) NOT VALID;
$$, description => 'plausible birth years (validated by a job)');
SELECT validate_constraint('patient_core', 'patient_core_birth_year_plausible') AS check_job \gset
SELECT job_wait(:check_job);
SELECT conname, convalidated FROM pg_constraint WHERE conname = 'patient_core_birth_year_plausible';

\echo
\echo '=== 13. Every attempt is on record, oldest first'
SELECT id, to_char(at, 'HH24:MI:SS') AS at, version, event,
       coalesce(statements_applied || '/' || statements_total, '') AS statements,
       coalesce(error_sqlstate || ' at statement ' || error_statement || ': ' || error_message, '') AS error,
       current_user_name AS by
  FROM migrate_history();

\echo
\echo '=== 14. The final state'
SELECT version, kind, status, attempts, to_char(duration, 'SS.MS') || ' s' AS took,
       left(checksum, 22) || '...' AS checksum
  FROM migrate_status();

\echo
\echo '=== 15. The audit ledger: every migration above is already on it'
SELECT event_type, action, count(*) AS events
  FROM steward.audit_events GROUP BY 1, 2 ORDER BY 1, 2;

\echo
\echo '=== 16. Audit the patient table, and let the application write its own events'
SELECT audit_table('patient_core');
-- the ward application connects as one role; actor is its own user
SELECT audit_append('READ', 'patient', '2', '{"fields": ["birth_date", "allergies"]}',
                    actor => 'dr.berg') AS event_id;
UPDATE patient_core SET last_name = 'Weber-Schmidt' WHERE id = 2;
SELECT audit_append('PRINT', 'discharge_letter', '2', '{"pages": 2}', actor => 'nurse.kim') AS event_id;
SELECT id, event_type, action, resource_type, resource_id, actor, payload
  FROM steward.audit_events WHERE resource_id = '2' ORDER BY id;

\echo
\echo '=== 17. Seal, verify, and keep the digest outside the database'
SELECT audit_seal() >= 0 AS sealed;   -- the sealer worker also seals every second
SELECT is_valid, events_checked, blocks_checked, events_unsealed FROM verify_audit_chain();
SELECT audit_digest() AS digest \gset
\echo digest to store outside the database (e.g. WORM storage): :digest

\echo
\echo '=== 18. Someone edits the ledger: refused, and if forced, found'
-- the table owner cannot change an event ...
UPDATE steward.audit_events SET actor = 'nobody' WHERE action = 'PRINT';
-- ... a superuser can lift the protection, but verification names the event
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE steward.audit_events SET payload = '{"pages": 20}' WHERE action = 'PRINT';
SELECT first_bad_event, to_char(first_bad_at, 'HH24:MI:SS') AS at, first_bad_position, problem
  FROM verify_audit_chain() WHERE NOT is_valid;
ROLLBACK;
SELECT is_valid FROM verify_audit_chain(trusted_digest => :'digest');

\echo
\echo '=== 19. GDPR: Jonas Weber asks to be erased; his payloads go, the chain stays'
SELECT id, audit_redact(id, 'GDPR Art. 17 request 2026-114') AS redaction_event
  FROM steward.audit_events
 WHERE resource_id = '2' AND payload IS NOT NULL AND event_type IN ('APPLICATION', 'ROW_CHANGE')
 ORDER BY id;
SELECT id, action, payload FROM steward.audit_events WHERE resource_id = '2' ORDER BY id;
SELECT audit_seal() >= 0 AS sealed;
SELECT is_valid, events_checked, events_redacted FROM verify_audit_chain(trusted_digest => :'digest');
