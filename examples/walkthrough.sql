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

\echo
\echo '=== 20. The clinical application tables the patient module will hook into'
SELECT migrate_apply('20260201_000000_clinic_app', $$
CREATE SCHEMA clinic;
CREATE TABLE clinic.users (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE clinic.surgical_cases (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "patientId" text, procedure text);
CREATE TABLE clinic.medical_records (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "patientId" text, note text);
CREATE TABLE clinic.bills (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "patientId" text, amount numeric(12,2));
CREATE TABLE clinic.patient_consent_instances (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "patientId" text, consent text);
CREATE TABLE clinic.insurance_policies (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "patientId" text, insurer text);
$$, description => 'clinical tables of the application');
INSERT INTO clinic.users VALUES ('u-1', 'Dr. Braun');
INSERT INTO clinic.surgical_cases (procedure) SELECT 'case ' || g FROM generate_series(1, 5000) g;
INSERT INTO clinic.bills ("patientId", amount) VALUES ('P-0042', 120.00);  -- a legacy id

-- The migration of seed 004, as Prisma generated it: 1 enum, 6 tables,
-- 24 indexes, 15 foreign keys.
CREATE TEMP TABLE patient_module AS SELECT $sql$
CREATE TYPE clinic."PatientStatus" AS ENUM ('ACTIVE', 'INACTIVE', 'DECEASED', 'MERGED', 'ARCHIVED');
CREATE TABLE clinic.patients (
    id text PRIMARY KEY, mrn text NOT NULL, "firstName" text NOT NULL, "lastName" text NOT NULL,
    "dateOfBirth" date NOT NULL, status clinic."PatientStatus" NOT NULL DEFAULT 'ACTIVE',
    "createdBy" text, "updatedBy" text, "restrictedBy" text, "deceasedBy" text,
    "archivedBy" text, "mergedBy" text,
    "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL);
CREATE TABLE clinic.patient_contacts (id text PRIMARY KEY, "patientId" text NOT NULL, kind text NOT NULL,
    value text NOT NULL, "isPrimary" boolean NOT NULL DEFAULT false);
CREATE TABLE clinic.patient_documents (id text PRIMARY KEY, "patientId" text NOT NULL, "documentType" text NOT NULL,
    "storageKey" text NOT NULL, "uploadedAt" timestamptz NOT NULL DEFAULT now());
CREATE TABLE clinic.patient_allergies (id text PRIMARY KEY, "patientId" text NOT NULL, allergen text NOT NULL,
    severity text NOT NULL);
CREATE TABLE clinic.patient_risk_flags (id text PRIMARY KEY, "patientId" text NOT NULL, "flagType" text NOT NULL,
    "isActive" boolean NOT NULL DEFAULT true);
CREATE TABLE clinic.patient_merge_history (id text PRIMARY KEY, "sourcePatientId" text NOT NULL,
    "targetPatientId" text NOT NULL, "mergedAt" timestamptz NOT NULL DEFAULT now());
CREATE UNIQUE INDEX "patients_mrn_key" ON clinic.patients (mrn);
CREATE INDEX "patients_lastName_firstName_idx" ON clinic.patients ("lastName", "firstName");
CREATE INDEX "patients_dateOfBirth_idx" ON clinic.patients ("dateOfBirth");
CREATE INDEX "patients_status_idx" ON clinic.patients (status);
CREATE INDEX "patient_contacts_patientId_idx" ON clinic.patient_contacts ("patientId");
CREATE INDEX "patient_contacts_patientId_isPrimary_idx" ON clinic.patient_contacts ("patientId", "isPrimary");
CREATE INDEX "patient_contacts_value_idx" ON clinic.patient_contacts (value);
CREATE INDEX "patient_documents_patientId_idx" ON clinic.patient_documents ("patientId");
CREATE INDEX "patient_documents_patientId_documentType_idx" ON clinic.patient_documents ("patientId", "documentType");
CREATE INDEX "patient_documents_uploadedAt_idx" ON clinic.patient_documents ("uploadedAt");
CREATE INDEX "patient_allergies_patientId_idx" ON clinic.patient_allergies ("patientId");
CREATE INDEX "patient_allergies_allergen_idx" ON clinic.patient_allergies (allergen);
CREATE INDEX "patient_allergies_severity_idx" ON clinic.patient_allergies (severity);
CREATE INDEX "patient_risk_flags_patientId_idx" ON clinic.patient_risk_flags ("patientId");
CREATE INDEX "patient_risk_flags_flagType_isActive_idx" ON clinic.patient_risk_flags ("flagType", "isActive");
CREATE INDEX "patient_merge_history_sourcePatientId_idx" ON clinic.patient_merge_history ("sourcePatientId");
CREATE INDEX "patient_merge_history_targetPatientId_idx" ON clinic.patient_merge_history ("targetPatientId");
CREATE INDEX "patient_merge_history_mergedAt_idx" ON clinic.patient_merge_history ("mergedAt");
ALTER TABLE clinic.patients ADD CONSTRAINT "patients_createdBy_fkey" FOREIGN KEY ("createdBy") REFERENCES clinic.users(id) ON DELETE SET NULL;
ALTER TABLE clinic.patients ADD CONSTRAINT "patients_updatedBy_fkey" FOREIGN KEY ("updatedBy") REFERENCES clinic.users(id) ON DELETE SET NULL;
ALTER TABLE clinic.patients ADD CONSTRAINT "patients_restrictedBy_fkey" FOREIGN KEY ("restrictedBy") REFERENCES clinic.users(id) ON DELETE SET NULL;
ALTER TABLE clinic.patients ADD CONSTRAINT "patients_deceasedBy_fkey" FOREIGN KEY ("deceasedBy") REFERENCES clinic.users(id) ON DELETE SET NULL;
ALTER TABLE clinic.patients ADD CONSTRAINT "patients_archivedBy_fkey" FOREIGN KEY ("archivedBy") REFERENCES clinic.users(id) ON DELETE SET NULL;
ALTER TABLE clinic.patients ADD CONSTRAINT "patients_mergedBy_fkey" FOREIGN KEY ("mergedBy") REFERENCES clinic.users(id) ON DELETE SET NULL;
ALTER TABLE clinic.patient_contacts ADD CONSTRAINT "patient_contacts_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE CASCADE;
ALTER TABLE clinic.patient_documents ADD CONSTRAINT "patient_documents_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE CASCADE;
ALTER TABLE clinic.patient_allergies ADD CONSTRAINT "patient_allergies_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE CASCADE;
ALTER TABLE clinic.patient_risk_flags ADD CONSTRAINT "patient_risk_flags_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE CASCADE;
ALTER TABLE clinic.surgical_cases ADD CONSTRAINT "surgical_cases_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE RESTRICT;
ALTER TABLE clinic.medical_records ADD CONSTRAINT "medical_records_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE RESTRICT;
ALTER TABLE clinic.bills ADD CONSTRAINT "bills_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE RESTRICT;
ALTER TABLE clinic.patient_consent_instances ADD CONSTRAINT "patient_consent_instances_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE RESTRICT;
ALTER TABLE clinic.insurance_policies ADD CONSTRAINT "insurance_policies_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES clinic.patients(id) ON DELETE RESTRICT;
$sql$ AS sql;

\echo
\echo '=== 21. Review the patient module before it runs: the lint, from the parser and the catalog'
-- Findings on the new tables are only hygiene; the five existing tables are
-- where the risk is.  surgical_cases is larger than the demo's threshold.
SET pg_steward.large_table_threshold = '128kB';
SELECT statement, rule, severity, lock_mode, relation, effect
  FROM migrate_lint((SELECT sql FROM patient_module))
 WHERE severity <> 'info' ORDER BY statement, rule;

\echo
\echo '=== 22. The dry run: the migration really runs, is rolled back, and reports what it did'
-- it stops at the first statement that fails: a bill still carries a legacy patient id
SELECT statement, step, detail FROM migrate_plan((SELECT sql FROM patient_module))
 WHERE step IN ('error', 'summary');
SELECT statement, object, lock_mode, detail
  FROM migrate_plan((SELECT sql FROM patient_module))
 WHERE step = 'lock' AND lock_mode IN ('ShareRowExclusiveLock', 'AccessExclusiveLock')
 ORDER BY statement;

\echo
\echo '=== 23. Applying: refused while the lint finds errors, then the pre-checks of seed 004'
SELECT migrate_apply('20260203_000000_patient_module', (SELECT sql FROM patient_module));
-- surgical_cases gets its foreign key validated later, without blocking writes:
UPDATE patient_module SET sql = replace(sql,
    $$REFERENCES clinic.patients(id) ON DELETE RESTRICT;
ALTER TABLE clinic.medical_records$$,
    $$REFERENCES clinic.patients(id) ON DELETE RESTRICT NOT VALID;
ALTER TABLE clinic.medical_records$$);
-- Seed 004's pre-check: no patientId may exist yet in the five tables
SELECT migrate_apply('20260203_000000_patient_module', (SELECT sql FROM patient_module),
    pre_checks => ARRAY[
      $$SELECT t, "patientId" FROM (
          SELECT 'surgical_cases' AS t, "patientId" FROM clinic.surgical_cases UNION ALL
          SELECT 'medical_records', "patientId" FROM clinic.medical_records UNION ALL
          SELECT 'bills', "patientId" FROM clinic.bills UNION ALL
          SELECT 'patient_consent_instances', "patientId" FROM clinic.patient_consent_instances UNION ALL
          SELECT 'insurance_policies', "patientId" FROM clinic.insurance_policies) ids
        WHERE "patientId" IS NOT NULL$$],
    post_checks => ARRAY[
      $$SELECT 'missing: ' || t FROM unnest(ARRAY['patients', 'patient_contacts', 'patient_documents',
            'patient_allergies', 'patient_risk_flags', 'patient_merge_history']) t
         WHERE to_regclass('clinic.' || quote_ident(t)) IS NULL$$]);
-- the legacy bill is resolved the way seed 004 suggests (its option A) ...
UPDATE clinic.bills SET "patientId" = NULL WHERE "patientId" = 'P-0042';
-- ... the dry run now gives seed 004's summary: 1 enum, 6 tables, 24 indexes, 15 foreign keys ...
SELECT detail AS summary FROM migrate_plan((SELECT sql FROM patient_module)) WHERE step = 'summary';
-- ... and the migration goes through, its review recorded with it
SELECT migrate_apply('20260203_000000_patient_module', (SELECT sql FROM patient_module),
    pre_checks => ARRAY[
      $$SELECT t, "patientId" FROM (
          SELECT 'surgical_cases' AS t, "patientId" FROM clinic.surgical_cases UNION ALL
          SELECT 'bills', "patientId" FROM clinic.bills) ids
        WHERE "patientId" IS NOT NULL$$]);
SELECT event, error_message, review->>'decision' AS decision
  FROM migrate_history('20260203_000000_patient_module');
SELECT * FROM migrate_check_fk('clinic.surgical_cases', '{patientId}', 'clinic.patients');
SELECT validate_constraint('clinic.surgical_cases', 'surgical_cases_patientId_fkey') AS validation_job \gset
SELECT job_wait(:validation_job) AS validation;

\echo
\echo '=== 24. After the deploy: the validation suite, and drift made outside migrate_apply'
SELECT check_name, severity, object FROM migrate_validate() WHERE severity <> 'ok' ORDER BY 1, 3;
CREATE INDEX bills_amount_idx ON clinic.bills (amount);   -- a hotfix nobody put in a migration
SELECT check_name, severity, object, detail FROM migrate_validate() WHERE check_name = 'schema-drift';
RESET pg_steward.large_table_threshold;

\echo
\echo '=== 25. Expand/contract: the old and the new application write the residents table at once'
-- Seed 003: first_name and last_name become full_name, care_level_pflegegrad
-- (text) a smallint, room is renamed room_number.
CREATE TABLE residents (id bigint PRIMARY KEY, first_name text, last_name text,
                        care_level_pflegegrad text, room text);
INSERT INTO residents SELECT g, 'Given' || g, 'Family' || g, (g % 5 + 1)::text, 'R' || (g % 300)
  FROM generate_series(1, 5000) g;
-- deploy 1: expand, while the old application keeps running
SELECT migrate_expand_derive('20260301_000000_full_name', 'residents', 'full_name', 'text',
                             up => $$first_name || ' ' || last_name$$,
                             old_columns => '{first_name,last_name}',
                             down => ARRAY[$$split_part(full_name, ' ', 1)$$,
                                           $$substr(full_name, strpos(full_name, ' ') + 1)$$]) AS name_job \gset
SELECT migrate_expand('20260301_000001_care_level', 'residents', 'care_level_pflegegrad',
                      new_name => 'care_level', new_type => 'smallint',
                      up => 'care_level_pflegegrad::smallint', down => 'care_level::text') AS level_job \gset
SELECT migrate_expand('20260301_000002_room_number', 'residents', 'room',
                      new_name => 'room_number') AS room_job \gset
-- the old application writes the old columns, the new one the new columns; both are filled
INSERT INTO residents (id, first_name, last_name, care_level_pflegegrad, room)
     VALUES (5001, 'Old', 'App', '2', 'R1');
INSERT INTO residents (id, full_name, care_level, room_number) VALUES (5002, 'New App', 4, 'R2');
SELECT id, first_name, last_name, full_name, care_level_pflegegrad, care_level, room, room_number
  FROM residents WHERE id IN (5001, 5002) ORDER BY id;
SELECT job_wait(:name_job) AS name_backfill, job_wait(:level_job) AS level_backfill,
       job_wait(:room_job) AS room_backfill;
SELECT migrate_expand_check('20260301_000000_full_name') AS name_disagreeing,
       migrate_expand_check('20260301_000001_care_level') AS level_disagreeing,
       migrate_expand_check('20260301_000002_room_number') AS room_disagreeing;
SELECT version, expand_phase, backfill_state, backfill_rows_done, rows_disagreeing
  FROM migrate_status() WHERE expand_phase IS NOT NULL ORDER BY version;
-- deploy 2: the new application runs everywhere; contract drops the old columns
SELECT migrate_contract('20260301_000000_full_name') AS full_name,
       migrate_contract('20260301_000001_care_level') AS care_level,
       migrate_contract('20260301_000002_room_number') AS room_number;
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) AS residents_columns
  FROM pg_attribute WHERE attrelid = 'residents'::regclass AND attnum > 0 AND NOT attisdropped;

\echo
\echo '=== 26. Expand/contract of a table name: residents becomes care_recipients'
SELECT migrate_expand_rename_table('20260302_000000_care_recipients', 'residents', 'care_recipients');
-- old code still says residents (an updatable view now), new code care_recipients
INSERT INTO residents (id, full_name, care_level) VALUES (5003, 'Via Old-Name', 1);
SELECT count(*) AS care_recipients FROM care_recipients;
SELECT migrate_contract('20260302_000000_care_recipients');
SELECT to_regclass('residents') AS old_name, to_regclass('care_recipients') AS new_name;

\echo
\echo '=== 27. Expand/contract of NOT NULL: every resident gets a preferred_language'
-- Seed 003: preferred_language was added nullable; now it is required, 'de'
-- unless known, while the old application still inserts residents without it.
ALTER TABLE care_recipients ADD COLUMN preferred_language varchar(10);
UPDATE care_recipients SET preferred_language = 'tr' WHERE id % 7 = 0;
-- deploy 1: expand; a trigger fills NULL writes, a NOT VALID check refuses NULL, a job fills the rows
SELECT migrate_expand_require('20260303_000000_language_required', 'care_recipients',
                              'preferred_language', fill => $$'de'$$) AS language_job \gset
-- the old application inserts without the column, or with NULL: no error, it gets 'de'
INSERT INTO care_recipients (id, full_name, care_level) VALUES (5004, 'Old App', 2);
INSERT INTO care_recipients (id, full_name, care_level, preferred_language) VALUES (5005, 'Old App', 3, NULL);
SELECT id, preferred_language FROM care_recipients WHERE id IN (7, 5004, 5005) ORDER BY id;
SELECT job_wait(:language_job) AS language_backfill;
SELECT migrate_expand_check('20260303_000000_language_required') AS rows_still_null;
-- deploy 2: contract validates the check (writes go on), sets NOT NULL without a scan, drops the helpers
SELECT migrate_contract('20260303_000000_language_required');
SELECT attnotnull AS preferred_language_not_null FROM pg_attribute
 WHERE attrelid = 'care_recipients'::regclass AND attname = 'preferred_language';
SELECT version, event FROM migrate_history() WHERE version LIKE '20260303_000000%' ORDER BY id;
