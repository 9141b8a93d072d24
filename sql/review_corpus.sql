-- Test oracle for migrate_lint(sql): a corpus of small migrations, each with the
-- findings the rule specification expects, run against real tables of known size
-- (empty: 0 bytes -> info; small: below the threshold -> warning; big: above it
-- -> error).  Only differences from the expectations are printed, then a summary.
-- Written independently of the implementation, from the rule specification and
-- PostgreSQL 15 behaviour (rewrites checked with pg_class.relfilenode, locks with
-- pg_locks).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_steward;
\pset null '(null)'

-- Graded rules: 64kB splits the small tables from the big ones.
SET pg_steward.large_table_threshold = '64kB';
-- timestamp -> timestamptz rewrites unless the session TimeZone is UTC; pin the
-- pg_regress default so the corpus does not depend on the runner.
SET TimeZone = 'America/Los_Angeles';

------------------------------------------------------------------------------
-- 1. The existing schema
------------------------------------------------------------------------------
CREATE SCHEMA corpus;

CREATE TYPE corpus.case_status AS ENUM ('planned', 'in_progress', 'done');
CREATE DOMAIN corpus.mrn_code AS text CHECK (VALUE ~ '^[0-9]{6,8}$');
CREATE DOMAIN corpus.ward_code_t AS text CHECK (VALUE <> '');
CREATE DOMAIN corpus.percent AS numeric CHECK (VALUE BETWEEN 0 AND 100);
CREATE DOMAIN corpus.note_text AS text;            -- no constraints
CREATE SEQUENCE corpus.chart_no_seq;
-- a second table access method, so that SET ACCESS METHOD really rewrites
CREATE ACCESS METHOD regress_corpus_heap TYPE TABLE HANDLER heap_tableam_handler;

CREATE FUNCTION corpus.no_op_trigger() RETURNS trigger LANGUAGE plpgsql
    AS $$BEGIN RETURN NEW; END$$;
CREATE FUNCTION corpus.touch_created() RETURNS trigger LANGUAGE plpgsql
    AS $$BEGIN NEW.created := now(); RETURN NEW; END$$;
CREATE PROCEDURE corpus.noop() LANGUAGE plpgsql AS $$BEGIN END$$;

-- BIG: 5000 rows. A validated CHECK (name IS NOT NULL), a NOT VALID CHECK (mrn IS
-- NOT NULL), no index but the primary key, and no foreign key points at it.
CREATE TABLE corpus.patients (
    id        bigint PRIMARY KEY,
    mrn       text,
    name      text,
    born      date,
    ward_code text,
    ext_id    text,
    CONSTRAINT patients_name_nn CHECK (name IS NOT NULL)
);
INSERT INTO corpus.patients
SELECT g, lpad(g::text, 8, '0'), 'Patient ' || g, DATE '1930-01-01' + g * 5,
       'W' || (g % 12), (100000 + g)::text
  FROM generate_series(1, 5000) g;
ALTER TABLE corpus.patients ADD CONSTRAINT patients_mrn_nn CHECK (mrn IS NOT NULL) NOT VALID;

-- BIG: 5000 rows. "patientId" has no index; room varchar(20); scheduled_at is
-- timestamp without time zone; duration_min has a CHECK; surgeon is NOT NULL.
CREATE TABLE corpus.surgical_cases (
    id           bigint PRIMARY KEY,
    "patientId"  bigint,
    surgeon      text NOT NULL,
    room         varchar(20),
    or_number    integer,
    scheduled_at timestamp,
    duration_min integer CONSTRAINT surgical_cases_duration_check CHECK (duration_min > 0),
    status       corpus.case_status NOT NULL DEFAULT 'planned',
    notes        text
);
CREATE INDEX surgical_cases_surgeon_idx ON corpus.surgical_cases (surgeon);
INSERT INTO corpus.surgical_cases
SELECT g, 1 + g % 5000, 'Dr. ' || (g % 40), 'OR-' || (g % 9), g % 9,
       TIMESTAMP '2025-01-01 08:00' + g * interval '3 hours', 30 + g % 200,
       'done', 'uneventful'
  FROM generate_series(1, 5000) g;

-- BIG materialized view (5000 rows) with the unique index REFRESH CONCURRENTLY needs.
CREATE MATERIALIZED VIEW corpus.patient_born_mv AS
    SELECT id, born, date_part('year', born)::integer AS birth_year FROM corpus.patients;
CREATE UNIQUE INDEX patient_born_mv_id_idx ON corpus.patient_born_mv (id);

-- SMALL: 5 rows. numeric(10,2), varchar(20) under a CHECK, json, timestamptz(3),
-- an index on (status, patient_id) -- patient_id is not its leading column --
-- and a trigger.
CREATE TABLE corpus.bills (
    id         bigint PRIMARY KEY,
    patient_id bigint,
    amount     numeric(10,2),
    code       varchar(20) CONSTRAINT bills_code_check CHECK (code <> ''),
    payload    json,
    status     text,
    created    timestamptz(3) DEFAULT now()
);
CREATE INDEX bills_status_patient_idx ON corpus.bills (status, patient_id);
CREATE TRIGGER bills_touch BEFORE UPDATE ON corpus.bills
    FOR EACH ROW EXECUTE FUNCTION corpus.touch_created();
INSERT INTO corpus.bills (id, patient_id, amount, code, payload, status)
SELECT g, g, g * 12.5, 'B' || g, '{"lines": 1}', CASE WHEN g = 5 THEN 'void' ELSE 'open' END
  FROM generate_series(1, 5) g;

-- SMALL: 3 rows, a validated CHECK (code IS NOT NULL) and a unique index on code.
CREATE TABLE corpus.wards (
    id    bigint PRIMARY KEY,
    code  text,
    name  text,
    beds  integer,
    CONSTRAINT wards_code_nn CHECK (code IS NOT NULL)
);
CREATE UNIQUE INDEX wards_code_uidx ON corpus.wards (code);
INSERT INTO corpus.wards VALUES (1, 'ICU', 'Intensive care', 8), (2, 'SUR', 'Surgery', 24), (3, 'MAT', 'Maternity', 16);

-- SMALL: 6 rows with a NOT VALID foreign key to wards (no index on ward_id).
CREATE TABLE corpus.beds (id bigint PRIMARY KEY, ward_id bigint, label text);
INSERT INTO corpus.beds SELECT g, 1 + g % 3, 'Bed ' || g FROM generate_series(1, 6) g;
ALTER TABLE corpus.beds ADD CONSTRAINT beds_ward_fk FOREIGN KEY (ward_id) REFERENCES corpus.wards (id) NOT VALID;

-- SMALL: 4 rows, an index that leads with patient_id.
CREATE TABLE corpus.prescriptions (id bigint PRIMARY KEY, patient_id bigint, drug text, issued_on date);
CREATE INDEX prescriptions_patient_idx ON corpus.prescriptions (patient_id, issued_on);
INSERT INTO corpus.prescriptions SELECT g, g, 'drug ' || g, DATE '2025-06-01' + g FROM generate_series(1, 4) g;

-- SMALL: 3 rows, no row level security, no policy.
CREATE TABLE corpus.consents (id bigint PRIMARY KEY, patient_id bigint, scope text);
INSERT INTO corpus.consents SELECT g, g, 'research' FROM generate_series(1, 3) g;

-- SMALL: 3 rows with a range column.
CREATE TABLE corpus.or_bookings (id bigint PRIMARY KEY, room text, during tstzrange);
INSERT INTO corpus.or_bookings
SELECT g, 'OR-1', tstzrange(TIMESTAMPTZ '2025-03-01 08:00+00' + g * interval '2 hours',
                            TIMESTAMPTZ '2025-03-01 09:00+00' + g * interval '2 hours')
  FROM generate_series(1, 3) g;

-- SMALL unlogged table, no primary key, a unique index on its NOT NULL id.
CREATE UNLOGGED TABLE corpus.import_staging (id bigint NOT NULL, payload text);
CREATE UNIQUE INDEX import_staging_id_uidx ON corpus.import_staging (id);
INSERT INTO corpus.import_staging SELECT g, 'row ' || g FROM generate_series(1, 3) g;

-- SMALL: 4 rows whose ward column is of the domain ward_code_t (ALTER DOMAIN
-- checks it).
CREATE TABLE corpus.discharges (id bigint PRIMARY KEY, ward corpus.ward_code_t, summary text);
INSERT INTO corpus.discharges SELECT g, 'W' || g, 'home' FROM generate_series(1, 4) g;

-- EMPTY: never written, no index, no variable-length column (so no TOAST table):
-- 0 bytes however the size is measured.
CREATE TABLE corpus.audit_notes (id bigint, patient_id bigint, noted_on date, flagged boolean, score integer);

-- A range-partitioned table with a default partition, and a standalone table to attach.
CREATE TABLE corpus.vitals (patient_id bigint, taken_on date, pulse integer) PARTITION BY RANGE (taken_on);
CREATE TABLE corpus.vitals_2025 PARTITION OF corpus.vitals FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE corpus.vitals_default PARTITION OF corpus.vitals DEFAULT;
INSERT INTO corpus.vitals VALUES (1, '2025-02-01', 72), (2, '2025-03-01', 80), (3, '2024-12-31', 64);
CREATE TABLE corpus.vitals_2026 (patient_id bigint, taken_on date, pulse integer);
INSERT INTO corpus.vitals_2026 VALUES (1, '2026-01-15', 70), (2, '2026-02-15', 75);

-- A list-partitioned table without a default partition (DETACH CONCURRENTLY needs that).
CREATE TABLE corpus.lab_results (lab text, patient_id bigint, result numeric) PARTITION BY LIST (lab);
CREATE TABLE corpus.lab_results_chem PARTITION OF corpus.lab_results FOR VALUES IN ('chem');
CREATE TABLE corpus.lab_results_hema PARTITION OF corpus.lab_results FOR VALUES IN ('hema');
INSERT INTO corpus.lab_results VALUES ('chem', 1, 4.2), ('hema', 1, 13.5), ('hema', 2, 12.1);

-- The size classes the expectations rely on.
SELECT c.relname,
       CASE WHEN pg_total_relation_size(c.oid) = 0 THEN 'empty'
            WHEN pg_total_relation_size(c.oid) < 64 * 1024 THEN 'small'
            WHEN pg_relation_size(c.oid) >= 64 * 1024 THEN 'big'
            ELSE 'between' END AS size_class
  FROM pg_class c
 WHERE c.relnamespace = 'corpus'::regnamespace AND c.relkind IN ('r', 'm')
 ORDER BY c.relname COLLATE "C";

------------------------------------------------------------------------------
-- 2. The cases: expected = 'statement:rule:severity[:silenced]', or
--    'error:<sqlstate>' when migrate_lint itself must fail.
------------------------------------------------------------------------------
CREATE TABLE corpus.corpus_cases (
    id       int PRIMARY KEY,
    title    text NOT NULL,
    sql      text NOT NULL,
    expected text[] NOT NULL
);

INSERT INTO corpus.corpus_cases VALUES (1, 'ADD COLUMN DEFAULT random() on a big table: volatile, rewrites',
$sql$ALTER TABLE corpus.patients ADD COLUMN sort_key double precision DEFAULT random();$sql$,
'{1:add-column-volatile-default:error}');
INSERT INTO corpus.corpus_cases VALUES (2, 'ADD COLUMN DEFAULT clock_timestamp() on a small table: volatile',
$sql$ALTER TABLE corpus.bills ADD COLUMN checked_at timestamptz DEFAULT clock_timestamp();$sql$,
'{1:add-column-volatile-default:warning}');
INSERT INTO corpus.corpus_cases VALUES (3, 'ADD COLUMN DEFAULT gen_random_uuid() on an empty table (core function since PG13)',
$sql$ALTER TABLE corpus.audit_notes ADD COLUMN ref uuid DEFAULT gen_random_uuid();$sql$,
'{1:add-column-volatile-default:info}');
INSERT INTO corpus.corpus_cases VALUES (4, 'ADD COLUMN DEFAULT nextval() on a big table',
$sql$ALTER TABLE corpus.patients ADD COLUMN chart_no bigint DEFAULT nextval('corpus.chart_no_seq');$sql$,
'{1:add-column-volatile-default:error}');
INSERT INTO corpus.corpus_cases VALUES (5, 'ADD COLUMN DEFAULT now(): stable, fast default since PG11 (rewrote before PG11)',
$sql$ALTER TABLE corpus.patients ADD COLUMN registered_at timestamptz DEFAULT now();$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (6, 'ADD COLUMN DEFAULT current_timestamp: stable, no rewrite (PG11+)',
$sql$ALTER TABLE corpus.patients ADD COLUMN seen_at timestamptz DEFAULT current_timestamp;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (7, 'ADD COLUMN NOT NULL DEFAULT constant: fast default (PG11+), not a required column',
$sql$ALTER TABLE corpus.patients ADD COLUMN country text NOT NULL DEFAULT 'CH';$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (8, 'ADD COLUMN DEFAULT an expression of constants: immutable',
$sql$ALTER TABLE corpus.patients ADD COLUMN risk_weight numeric DEFAULT (2 * 3 + 1)::numeric / 10;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (9, 'ADD COLUMN NOT NULL DEFAULT expression around random(): volatile, big',
$sql$ALTER TABLE corpus.surgical_cases ADD COLUMN shard integer NOT NULL DEFAULT floor(random() * 16)::integer;$sql$,
'{1:add-column-volatile-default:error}');
INSERT INTO corpus.corpus_cases VALUES (10, 'ALTER COLUMN SET DEFAULT random(): applies to future rows only, no rewrite',
$sql$ALTER TABLE corpus.patients ALTER COLUMN ward_code SET DEFAULT ('W' || floor(random() * 12)::integer);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (11, 'ADD COLUMN nullable without default: catalog only',
$sql$ALTER TABLE corpus.patients ADD COLUMN nickname text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (12, 'ADD COLUMN serial on a big table (rewrite; serial is also a hygiene finding)',
$sql$ALTER TABLE corpus.surgical_cases ADD COLUMN line_no serial;$sql$,
'{1:add-column-serial-identity:error,1:prefer-identity:info}');
INSERT INTO corpus.corpus_cases VALUES (13, 'ADD COLUMN GENERATED ALWAYS AS IDENTITY on a small table',
$sql$ALTER TABLE corpus.bills ADD COLUMN line_no bigint GENERATED ALWAYS AS IDENTITY;$sql$,
'{1:add-column-serial-identity:warning}');
INSERT INTO corpus.corpus_cases VALUES (14, 'ADD COLUMN bigserial on an empty table',
$sql$ALTER TABLE corpus.audit_notes ADD COLUMN seq bigserial;$sql$,
'{1:add-column-serial-identity:info,1:prefer-identity:info}');
INSERT INTO corpus.corpus_cases VALUES (15, 'ADD COLUMN GENERATED ... STORED on a big table (STORED since PG12; VIRTUAL, PG18+, would not rewrite)',
$sql$ALTER TABLE corpus.patients ADD COLUMN name_upper text GENERATED ALWAYS AS (upper(name)) STORED;$sql$,
'{1:add-column-stored-generated:error}');
INSERT INTO corpus.corpus_cases VALUES (16, 'ADD COLUMN GENERATED ... STORED on a small table',
$sql$ALTER TABLE corpus.bills ADD COLUMN amount_cents bigint GENERATED ALWAYS AS ((amount * 100)::bigint) STORED;$sql$,
'{1:add-column-stored-generated:warning}');
INSERT INTO corpus.corpus_cases VALUES (17, 'ADD COLUMN of a domain with a CHECK on a big table (rewrites in PG15, through PG18; fast default from PG19)',
$sql$ALTER TABLE corpus.patients ADD COLUMN mrn_checked corpus.mrn_code;$sql$,
'{1:add-column-constrained-domain:error}');
INSERT INTO corpus.corpus_cases VALUES (18, 'ADD COLUMN of a domain with a CHECK on a small table',
$sql$ALTER TABLE corpus.wards ADD COLUMN occupancy corpus.percent;$sql$,
'{1:add-column-constrained-domain:warning}');
INSERT INTO corpus.corpus_cases VALUES (19, 'ADD COLUMN of an unconstrained domain: no rewrite',
$sql$ALTER TABLE corpus.bills ADD COLUMN remark corpus.note_text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (20, 'ADD COLUMN NOT NULL without default on a non-empty table: fails',
$sql$ALTER TABLE corpus.patients ADD COLUMN email text NOT NULL;$sql$,
'{1:add-required-column:error}');
INSERT INTO corpus.corpus_cases VALUES (21, 'ADD COLUMN NOT NULL without default on an empty table: old INSERTs break',
$sql$ALTER TABLE corpus.audit_notes ADD COLUMN author_id bigint NOT NULL;$sql$,
'{1:add-required-column:warning}');
INSERT INTO corpus.corpus_cases VALUES (22, 'int -> bigint on a big table: rewrite',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN or_number TYPE bigint;$sql$,
'{1:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (23, 'int -> bigint on a small table',
$sql$ALTER TABLE corpus.wards ALTER COLUMN beds TYPE bigint;$sql$,
'{1:change-column-type:warning}');
INSERT INTO corpus.corpus_cases VALUES (24, 'varchar(20) -> varchar(40): widening is binary-coercible',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE varchar(40);$sql$,
'{1:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (25, 'varchar(20) -> varchar(10): narrowing rewrites',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE varchar(10);$sql$,
'{1:change-column-type:error,1:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (26, 'varchar(20) -> text: binary-coercible',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (27, 'varchar(20) -> varchar: binary-coercible',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE varchar;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (28, 'text -> varchar(12): length check means a rewrite',
$sql$ALTER TABLE corpus.patients ALTER COLUMN ward_code TYPE varchar(12);$sql$,
'{1:change-column-type:error,1:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (29, 'numeric(10,2) -> numeric(12,2): precision increase at the same scale, no rewrite',
$sql$ALTER TABLE corpus.bills ALTER COLUMN amount TYPE numeric(12,2);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (30, 'numeric(10,2) -> numeric(12,4): scale change rewrites',
$sql$ALTER TABLE corpus.bills ALTER COLUMN amount TYPE numeric(12,4);$sql$,
'{1:change-column-type:warning}');
INSERT INTO corpus.corpus_cases VALUES (31, 'numeric(10,2) -> numeric: unconstrained, no rewrite',
$sql$ALTER TABLE corpus.bills ALTER COLUMN amount TYPE numeric;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (32, 'timestamp -> timestamptz with session TimeZone America/Los_Angeles: rewrites (PG12+ skips it only when the session TimeZone is UTC)',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN scheduled_at TYPE timestamptz;$sql$,
'{1:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (33, 'text -> bigint USING ...: rewrite',
$sql$ALTER TABLE corpus.patients ALTER COLUMN ext_id TYPE bigint USING ext_id::bigint;$sql$,
'{1:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (34, 'json -> jsonb USING ... on a small table',
$sql$ALTER TABLE corpus.bills ALTER COLUMN payload TYPE jsonb USING payload::jsonb;$sql$,
'{1:change-column-type:warning}');
INSERT INTO corpus.corpus_cases VALUES (35, 'timestamptz(3) -> timestamptz(6): precision increase, no rewrite',
$sql$ALTER TABLE corpus.bills ALTER COLUMN created TYPE timestamptz(6);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (36, 'text -> domain with a CHECK: rewrite',
$sql$ALTER TABLE corpus.patients ALTER COLUMN ward_code TYPE corpus.ward_code_t;$sql$,
'{1:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (37, 'text -> unconstrained domain: binary-coercible',
$sql$ALTER TABLE corpus.bills ALTER COLUMN status TYPE corpus.note_text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (38, 'varchar(20) -> varchar(40) on a column under a CHECK: no rewrite but the CHECK is re-verified by a scan',
$sql$ALTER TABLE corpus.bills ALTER COLUMN code TYPE varchar(40);$sql$,
'{1:type-change-with-checks:warning,1:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (39, 'int -> bigint on a big table''s column under a CHECK',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN duration_min TYPE bigint;$sql$,
'{1:change-column-type:error,1:type-change-with-checks:error}');
INSERT INTO corpus.corpus_cases VALUES (40, 'SET NOT NULL on a big table, no CHECK',
$sql$ALTER TABLE corpus.patients ALTER COLUMN born SET NOT NULL;$sql$,
'{1:set-not-null:error,1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (41, 'SET NOT NULL with a validated CHECK (name IS NOT NULL): no scan (PG12+; scanned before PG12)',
$sql$ALTER TABLE corpus.patients ALTER COLUMN name SET NOT NULL;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (42, 'SET NOT NULL with a NOT VALID CHECK (mrn IS NOT NULL): still scans',
$sql$ALTER TABLE corpus.patients ALTER COLUMN mrn SET NOT NULL;$sql$,
'{1:set-not-null:error,1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (43, 'SET NOT NULL on a small table',
$sql$ALTER TABLE corpus.wards ALTER COLUMN name SET NOT NULL;$sql$,
'{1:set-not-null:warning,1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (44, 'SET NOT NULL on a small table with a validated CHECK (code IS NOT NULL) (PG12+)',
$sql$ALTER TABLE corpus.wards ALTER COLUMN code SET NOT NULL;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (45, 'SET NOT NULL on an empty table',
$sql$ALTER TABLE corpus.audit_notes ALTER COLUMN patient_id SET NOT NULL;$sql$,
'{1:set-not-null:info}');
INSERT INTO corpus.corpus_cases VALUES (46, 'SET NOT NULL on a column that already is NOT NULL',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN surgeon SET NOT NULL;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (47, 'ADD CHECK without NOT VALID on a big table',
$sql$ALTER TABLE corpus.patients ADD CONSTRAINT patients_born_check CHECK (born > DATE '1900-01-01');$sql$,
'{1:check-missing-not-valid:error,1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (48, 'ADD CHECK ... NOT VALID',
$sql$ALTER TABLE corpus.bills ADD CONSTRAINT bills_amount_check CHECK (amount >= 0) NOT VALID;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (49, 'ADD CHECK without NOT VALID on an empty table',
$sql$ALTER TABLE corpus.audit_notes ADD CONSTRAINT audit_notes_score_check CHECK (score BETWEEN 0 AND 10);$sql$,
'{1:check-missing-not-valid:info}');
INSERT INTO corpus.corpus_cases VALUES (50, 'CHECK NOT VALID then VALIDATE in the same migration: the scan runs under the AccessExclusiveLock',
$sql$ALTER TABLE corpus.patients ADD CONSTRAINT patients_born_nn CHECK (born IS NOT NULL) NOT VALID;
ALTER TABLE corpus.patients VALIDATE CONSTRAINT patients_born_nn;$sql$,
'{2:validate-in-locking-tx:error,2:data-dependent:info,2:combine-alters:info,2:work-after-ael:warning}');
INSERT INTO corpus.corpus_cases VALUES (51, 'VALIDATE an existing NOT VALID CHECK in its own migration',
$sql$ALTER TABLE corpus.patients VALIDATE CONSTRAINT patients_mrn_nn;$sql$,
'{1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (52, 'ADD FOREIGN KEY without NOT VALID, big child, no index on "patientId"',
$sql$ALTER TABLE corpus.surgical_cases ADD CONSTRAINT surgical_cases_patient_fk
    FOREIGN KEY ("patientId") REFERENCES corpus.patients (id);$sql$,
'{1:fk-missing-not-valid:error,1:data-dependent:info,1:fk-without-index:warning}');
INSERT INTO corpus.corpus_cases VALUES (53, 'FK NOT VALID then VALIDATE in the same migration: ShareRowExclusiveLock still held',
$sql$ALTER TABLE corpus.surgical_cases ADD CONSTRAINT surgical_cases_patient_fk
    FOREIGN KEY ("patientId") REFERENCES corpus.patients (id) NOT VALID;
ALTER TABLE corpus.surgical_cases VALIDATE CONSTRAINT surgical_cases_patient_fk;$sql$,
'{1:fk-without-index:warning,2:validate-in-locking-tx:error,2:data-dependent:info,2:combine-alters:info}');
INSERT INTO corpus.corpus_cases VALUES (54, 'FK NOT VALID with its index created CONCURRENTLY in the same migration',
$sql$CREATE INDEX CONCURRENTLY surgical_cases_patient_id_idx ON corpus.surgical_cases ("patientId");
ALTER TABLE corpus.surgical_cases ADD CONSTRAINT surgical_cases_patient_fk
    FOREIGN KEY ("patientId") REFERENCES corpus.patients (id) NOT VALID;$sql$,
'{1:concurrently-in-tx:info}');
INSERT INTO corpus.corpus_cases VALUES (55, 'FK NOT VALID, an existing index leads with the column',
$sql$ALTER TABLE corpus.prescriptions ADD CONSTRAINT prescriptions_patient_fk FOREIGN KEY (patient_id) REFERENCES corpus.patients (id) NOT VALID;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (56, 'FK NOT VALID, the only index has the column second, not leading',
$sql$ALTER TABLE corpus.bills ADD CONSTRAINT bills_patient_fk FOREIGN KEY (patient_id) REFERENCES corpus.patients (id) NOT VALID;$sql$,
'{1:fk-without-index:warning}');
INSERT INTO corpus.corpus_cases VALUES (57, 'new table with an FK to an existing table, no index',
$sql$CREATE TABLE corpus.allergies (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES corpus.patients (id),
    substance  text NOT NULL,
    noted_at   timestamptz
);$sql$,
'{1:fk-without-index:warning}');
INSERT INTO corpus.corpus_cases VALUES (58, 'new table with an FK to an existing table, index created in the same migration',
$sql$CREATE TABLE corpus.allergies (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES corpus.patients (id),
    substance  text NOT NULL,
    noted_at   timestamptz
);
CREATE INDEX allergies_patient_id_idx ON corpus.allergies (patient_id);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (59, 'new table whose FK column leads its composite primary key',
$sql$CREATE TABLE corpus.case_staff (
    case_id    bigint REFERENCES corpus.surgical_cases (id),
    staff_name text,
    role       text NOT NULL,
    PRIMARY KEY (case_id, staff_name)
);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (60, 'ADD COLUMN ... REFERENCES on an empty table',
$sql$ALTER TABLE corpus.audit_notes ADD COLUMN ward_id bigint REFERENCES corpus.wards (id);$sql$,
'{1:fk-missing-not-valid:info,1:fk-without-index:warning}');
INSERT INTO corpus.corpus_cases VALUES (61, 'VALIDATE an existing NOT VALID FK in its own migration',
$sql$ALTER TABLE corpus.beds VALIDATE CONSTRAINT beds_ward_fk;$sql$,
'{1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (62, 'CREATE INDEX (ShareLock, weaker than ShareRowExclusiveLock) then VALIDATE',
$sql$CREATE INDEX beds_ward_id_idx ON corpus.beds (ward_id);
ALTER TABLE corpus.beds VALIDATE CONSTRAINT beds_ward_fk;$sql$,
'{1:index-not-concurrent:warning,2:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (63, 'CREATE TRIGGER (ShareRowExclusiveLock) then VALIDATE on the same table',
$sql$CREATE TRIGGER beds_touch BEFORE UPDATE ON corpus.beds FOR EACH ROW EXECUTE FUNCTION corpus.no_op_trigger();
ALTER TABLE corpus.beds VALIDATE CONSTRAINT beds_ward_fk;$sql$,
'{1:trigger-lock:warning,2:validate-in-locking-tx:warning,2:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (64, 'ADD COLUMN (AccessExclusiveLock) then VALIDATE on the same table',
$sql$ALTER TABLE corpus.beds ADD COLUMN floor_no integer;
ALTER TABLE corpus.beds VALIDATE CONSTRAINT beds_ward_fk;$sql$,
'{2:validate-in-locking-tx:warning,2:data-dependent:info,2:combine-alters:info,2:work-after-ael:warning}');
INSERT INTO corpus.corpus_cases VALUES (65, 'ADD UNIQUE on a big table',
$sql$ALTER TABLE corpus.patients ADD CONSTRAINT patients_mrn_key UNIQUE (mrn);$sql$,
'{1:unique-constraint-builds-index:error,1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (66, 'ADD UNIQUE USING INDEX: no build',
$sql$ALTER TABLE corpus.wards ADD CONSTRAINT wards_code_key UNIQUE USING INDEX wards_code_uidx;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (67, 'ADD COLUMN ... UNIQUE inline on an empty table',
$sql$ALTER TABLE corpus.audit_notes ADD COLUMN ext_ref text UNIQUE;$sql$,
'{1:unique-constraint-builds-index:info}');
INSERT INTO corpus.corpus_cases VALUES (68, 'ADD PRIMARY KEY on a small table (fails on duplicates or NULLs: data-dependent)',
$sql$ALTER TABLE corpus.import_staging ADD PRIMARY KEY (id);$sql$,
'{1:primary-key-builds-index:warning,1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (69, 'ADD PRIMARY KEY USING INDEX on a NOT NULL column: no build',
$sql$ALTER TABLE corpus.import_staging ADD CONSTRAINT import_staging_pkey PRIMARY KEY USING INDEX import_staging_id_uidx;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (70, 'ADD PRIMARY KEY on an empty table',
$sql$ALTER TABLE corpus.audit_notes ADD PRIMARY KEY (id);$sql$,
'{1:primary-key-builds-index:info}');
INSERT INTO corpus.corpus_cases VALUES (71, 'ADD EXCLUDE on a small table',
$sql$ALTER TABLE corpus.or_bookings ADD CONSTRAINT or_bookings_no_overlap EXCLUDE USING gist (during WITH &&);$sql$,
'{1:exclusion-constraint:warning}');
INSERT INTO corpus.corpus_cases VALUES (72, 'CREATE INDEX on a big table',
$sql$CREATE INDEX patients_born_idx ON corpus.patients (born);$sql$,
'{1:index-not-concurrent:error}');
INSERT INTO corpus.corpus_cases VALUES (73, 'CREATE INDEX on a small table',
$sql$CREATE INDEX bills_created_idx ON corpus.bills (created);$sql$,
'{1:index-not-concurrent:warning}');
INSERT INTO corpus.corpus_cases VALUES (74, 'CREATE INDEX on an empty table',
$sql$CREATE INDEX audit_notes_patient_id_idx ON corpus.audit_notes (patient_id);$sql$,
'{1:index-not-concurrent:info}');
INSERT INTO corpus.corpus_cases VALUES (75, 'CREATE UNIQUE INDEX ... NULLS NOT DISTINCT on a big table (NULLS NOT DISTINCT is PG15+)',
$sql$CREATE UNIQUE INDEX patients_mrn_uidx ON corpus.patients (mrn) NULLS NOT DISTINCT;$sql$,
'{1:index-not-concurrent:error,1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (76, 'CREATE INDEX CONCURRENTLY: run by a job after the transactional part',
$sql$CREATE INDEX CONCURRENTLY patients_born_idx ON corpus.patients (born);$sql$,
'{1:concurrently-in-tx:info}');
INSERT INTO corpus.corpus_cases VALUES (77, 'CREATE UNIQUE INDEX CONCURRENTLY on a big table: may still fail on duplicates',
$sql$CREATE UNIQUE INDEX CONCURRENTLY patients_ext_id_uidx ON corpus.patients (ext_id);$sql$,
'{1:concurrently-in-tx:info,1:data-dependent:info}');
INSERT INTO corpus.corpus_cases VALUES (78, 'CREATE INDEX then REINDEX of that new index (an index created earlier in the migration)',
$sql$CREATE INDEX bills_tmp_idx ON corpus.bills (amount);
REINDEX INDEX corpus.bills_tmp_idx;$sql$,
'{1:index-not-concurrent:warning}');
INSERT INTO corpus.corpus_cases VALUES (79, 'new table, then plain and unique indexes on it',
$sql$CREATE TABLE corpus.theatre_slots (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room      text NOT NULL,
    starts_at timestamptz NOT NULL
);
CREATE INDEX theatre_slots_room_idx ON corpus.theatre_slots (room);
CREATE UNIQUE INDEX theatre_slots_room_start_uidx ON corpus.theatre_slots (room, starts_at);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (80, 'CREATE TABLE AS, PK on it, then DELETE from the existing source table',
$sql$CREATE TABLE corpus.patients_archive AS
    SELECT id, mrn, name, born FROM corpus.patients WHERE born < DATE '1950-01-01';
ALTER TABLE corpus.patients_archive ADD PRIMARY KEY (id);
DELETE FROM corpus.patients WHERE born < DATE '1950-01-01';$sql$,
'{3:backfill-in-ddl-tx:error}');
INSERT INTO corpus.corpus_cases VALUES (81, 'new materialized view, unique index and REFRESH on it',
$sql$CREATE MATERIALIZED VIEW corpus.ward_census AS
    SELECT ward_code, count(*) AS patients FROM corpus.patients GROUP BY ward_code;
CREATE UNIQUE INDEX ward_census_ward_code_uidx ON corpus.ward_census (ward_code);
REFRESH MATERIALIZED VIEW corpus.ward_census;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (82, 'DROP INDEX without CONCURRENTLY',
$sql$DROP INDEX corpus.surgical_cases_surgeon_idx;$sql$,
'{1:drop-index-not-concurrent:warning}');
INSERT INTO corpus.corpus_cases VALUES (83, 'DROP INDEX CONCURRENTLY',
$sql$DROP INDEX CONCURRENTLY corpus.surgical_cases_surgeon_idx;$sql$,
'{1:concurrently-in-tx:info}');
INSERT INTO corpus.corpus_cases VALUES (84, 'DROP INDEX IF EXISTS of an index that does not exist',
$sql$DROP INDEX IF EXISTS corpus.no_such_idx;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (85, 'REINDEX TABLE on a big table',
$sql$REINDEX TABLE corpus.patients;$sql$,
'{1:reindex-not-concurrent:error}');
INSERT INTO corpus.corpus_cases VALUES (86, 'REINDEX INDEX on a small table',
$sql$REINDEX INDEX corpus.bills_pkey;$sql$,
'{1:reindex-not-concurrent:warning}');
INSERT INTO corpus.corpus_cases VALUES (87, 'REINDEX TABLE CONCURRENTLY (PG12+)',
$sql$REINDEX TABLE CONCURRENTLY corpus.patients;$sql$,
'{1:concurrently-in-tx:info}');
INSERT INTO corpus.corpus_cases VALUES (88, 'REINDEX SCHEMA: refuses a transaction block, no job runs it',
$sql$REINDEX SCHEMA corpus;$sql$,
'{1:concurrently-in-tx:error}');
INSERT INTO corpus.corpus_cases VALUES (89, 'CLUSTER a big table',
$sql$CLUSTER corpus.surgical_cases USING surgical_cases_pkey;$sql$,
'{1:full-rewrite-maintenance:error}');
INSERT INTO corpus.corpus_cases VALUES (90, 'VACUUM FULL a small table: a rewrite, and VACUUM refuses a transaction block',
$sql$VACUUM FULL corpus.bills;$sql$,
'{1:full-rewrite-maintenance:warning,1:concurrently-in-tx:info}');
INSERT INTO corpus.corpus_cases VALUES (91, 'VACUUM (ANALYZE): run by a job',
$sql$VACUUM (ANALYZE) corpus.patients;$sql$,
'{1:concurrently-in-tx:info}');
INSERT INTO corpus.corpus_cases VALUES (92, 'ANALYZE runs inside a transaction',
$sql$ANALYZE corpus.patients;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (93, 'SET UNLOGGED on a big table',
$sql$ALTER TABLE corpus.patients SET UNLOGGED;$sql$,
'{1:rewrite-table-option:error}');
INSERT INTO corpus.corpus_cases VALUES (94, 'SET LOGGED on a small unlogged table',
$sql$ALTER TABLE corpus.import_staging SET LOGGED;$sql$,
'{1:rewrite-table-option:warning}');
INSERT INTO corpus.corpus_cases VALUES (95, 'SET ACCESS METHOD to another table AM (PG15+)',
$sql$ALTER TABLE corpus.bills SET ACCESS METHOD regress_corpus_heap;$sql$,
'{1:rewrite-table-option:warning}');
INSERT INTO corpus.corpus_cases VALUES (96, 'storage parameter and SET STATISTICS: ShareUpdateExclusiveLock, no rewrite',
$sql$ALTER TABLE corpus.patients SET (autovacuum_vacuum_scale_factor = 0.02), ALTER COLUMN born SET STATISTICS 500;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (97, 'ATTACH PARTITION of a small table to a parent with a default partition (parent takes only ShareUpdateExclusiveLock since PG12)',
$sql$ALTER TABLE corpus.vitals ATTACH PARTITION corpus.vitals_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');$sql$,
'{1:attach-partition-scan:warning}');
INSERT INTO corpus.corpus_cases VALUES (98, 'DETACH PARTITION without CONCURRENTLY',
$sql$ALTER TABLE corpus.vitals DETACH PARTITION corpus.vitals_2025;$sql$,
'{1:detach-not-concurrent:warning}');
INSERT INTO corpus.corpus_cases VALUES (99, 'DETACH PARTITION CONCURRENTLY (PG14+)',
$sql$ALTER TABLE corpus.lab_results DETACH PARTITION corpus.lab_results_hema CONCURRENTLY;$sql$,
'{1:concurrently-in-tx:info}');
INSERT INTO corpus.corpus_cases VALUES (100, 'REFRESH MATERIALIZED VIEW on a big materialized view',
$sql$REFRESH MATERIALIZED VIEW corpus.patient_born_mv;$sql$,
'{1:refresh-matview-not-concurrent:error}');
INSERT INTO corpus.corpus_cases VALUES (101, 'REFRESH MATERIALIZED VIEW CONCURRENTLY',
$sql$REFRESH MATERIALIZED VIEW CONCURRENTLY corpus.patient_born_mv;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (102, 'ADD COLUMN then backfill UPDATE of a big table in the same migration',
$sql$ALTER TABLE corpus.patients ADD COLUMN name_search text;
UPDATE corpus.patients SET name_search = lower(name);$sql$,
'{2:backfill-in-ddl-tx:error,2:work-after-ael:warning}');
INSERT INTO corpus.corpus_cases VALUES (103, 'UPDATE of a big table in a migration without DDL',
$sql$UPDATE corpus.patients SET ward_code = 'W0' WHERE ward_code IS NULL;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (104, 'DELETE of a small table, DDL later in the same migration',
$sql$DELETE FROM corpus.bills WHERE status = 'void';
ALTER TABLE corpus.bills DROP COLUMN payload;$sql$,
'{1:backfill-in-ddl-tx:warning,2:drop-column:error}');
INSERT INTO corpus.corpus_cases VALUES (105, 'new table, INSERT and UPDATE on it',
$sql$CREATE TABLE corpus.ward_types (code text PRIMARY KEY, label text NOT NULL);
INSERT INTO corpus.ward_types VALUES ('icu', 'Intensive care'), ('gen', 'General');
UPDATE corpus.ward_types SET label = upper(label);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (106, 'INSERT into an existing table after an ADD COLUMN: no backfill rule, but the lock is held',
$sql$ALTER TABLE corpus.wards ADD COLUMN phone text;
INSERT INTO corpus.wards (id, code, name, beds) VALUES (99, 'OVF', 'Overflow', 4);$sql$,
'{2:work-after-ael:info}');
INSERT INTO corpus.corpus_cases VALUES (107, 'CREATE TRIGGER on an existing table',
$sql$CREATE TRIGGER bills_audit AFTER INSERT ON corpus.bills FOR EACH ROW EXECUTE FUNCTION corpus.no_op_trigger();$sql$,
'{1:trigger-lock:warning}');
INSERT INTO corpus.corpus_cases VALUES (108, 'ALTER TABLE DISABLE TRIGGER',
$sql$ALTER TABLE corpus.bills DISABLE TRIGGER bills_touch;$sql$,
'{1:trigger-lock:warning}');
INSERT INTO corpus.corpus_cases VALUES (109, 'new table: trigger, RLS and policy on it',
$sql$CREATE TABLE corpus.consent_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consent_id  bigint NOT NULL,
    happened_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER consent_events_touch BEFORE INSERT ON corpus.consent_events FOR EACH ROW EXECUTE FUNCTION corpus.no_op_trigger();
ALTER TABLE corpus.consent_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY consent_events_read ON corpus.consent_events FOR SELECT USING (true);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (110, 'DROP TRIGGER',
$sql$DROP TRIGGER bills_touch ON corpus.bills;$sql$,
'{1:drop-trigger:warning}');
INSERT INTO corpus.corpus_cases VALUES (111, 'ENABLE ROW LEVEL SECURITY and CREATE POLICY on an existing table',
$sql$ALTER TABLE corpus.consents ENABLE ROW LEVEL SECURITY;
CREATE POLICY consents_owner ON corpus.consents USING (scope = current_user);$sql$,
'{1:rls-policy-lock:warning,2:rls-policy-lock:warning,2:work-after-ael:info}');
INSERT INTO corpus.corpus_cases VALUES (112, 'FORCE ROW LEVEL SECURITY',
$sql$ALTER TABLE corpus.consents FORCE ROW LEVEL SECURITY;$sql$,
'{1:rls-policy-lock:warning}');
INSERT INTO corpus.corpus_cases VALUES (113, 'LOCK TABLE IN SHARE MODE',
$sql$LOCK TABLE corpus.bills IN SHARE MODE;$sql$,
'{1:lock-table:warning}');
INSERT INTO corpus.corpus_cases VALUES (114, 'LOCK TABLE IN ROW EXCLUSIVE MODE: weaker than ShareLock',
$sql$LOCK TABLE corpus.bills IN ROW EXCLUSIVE MODE;$sql$,
'{1:lock-table:info}');
INSERT INTO corpus.corpus_cases VALUES (115, 'LOCK TABLE without a mode is ACCESS EXCLUSIVE',
$sql$LOCK TABLE corpus.bills;$sql$,
'{1:lock-table:warning}');
INSERT INTO corpus.corpus_cases VALUES (116, 'LOCK TABLE IN SHARE ROW EXCLUSIVE MODE, then ADD COLUMN (no AccessExclusiveLock before it)',
$sql$LOCK TABLE corpus.bills IN SHARE ROW EXCLUSIVE MODE;
ALTER TABLE corpus.bills ADD COLUMN memo text;$sql$,
'{1:lock-table:warning}');
INSERT INTO corpus.corpus_cases VALUES (117, 'two ALTER TABLE statements on one existing table',
$sql$ALTER TABLE corpus.wards ADD COLUMN phone text;
ALTER TABLE corpus.wards ADD COLUMN fax text;$sql$,
'{2:combine-alters:info,2:work-after-ael:info}');
INSERT INTO corpus.corpus_cases VALUES (118, 'one ALTER TABLE with two subcommands',
$sql$ALTER TABLE corpus.wards ADD COLUMN phone text, ADD COLUMN fax text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (119, 'ADD COLUMN, then an index build on another table under the held lock',
$sql$ALTER TABLE corpus.wards ADD COLUMN phone text;
CREATE INDEX bills_status_idx ON corpus.bills (status);$sql$,
'{2:index-not-concurrent:warning,2:work-after-ael:warning}');
INSERT INTO corpus.corpus_cases VALUES (120, 'work-after-ael is reported once, on the first following statement; warning because a later statement builds',
$sql$ALTER TABLE corpus.wards ADD COLUMN phone text;
ALTER TABLE corpus.bills ADD COLUMN memo text;
CREATE INDEX prescriptions_drug_idx ON corpus.prescriptions (drug);$sql$,
'{2:work-after-ael:warning,3:index-not-concurrent:warning}');
INSERT INTO corpus.corpus_cases VALUES (121, 'SET LOCAL lock_timeout, then ADD COLUMN',
$sql$SET LOCAL lock_timeout = '3s';
ALTER TABLE corpus.patients ADD COLUMN nickname text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (122, 'SET lock_timeout = 0, then ADD COLUMN',
$sql$SET lock_timeout = 0;
ALTER TABLE corpus.patients ADD COLUMN nickname text;$sql$,
'{1:lock-timeout-disabled:error}');
INSERT INTO corpus.corpus_cases VALUES (123, 'SET lock_timeout TO ''0'' (a string zero)',
$sql$SET lock_timeout TO '0';$sql$,
'{1:lock-timeout-disabled:error}');
INSERT INTO corpus.corpus_cases VALUES (124, 'RESET lock_timeout',
$sql$RESET lock_timeout;$sql$,
'{1:lock-timeout-disabled:error}');
INSERT INTO corpus.corpus_cases VALUES (125, 'SET LOCAL lock_timeout TO DEFAULT',
$sql$SET LOCAL lock_timeout TO DEFAULT;$sql$,
'{1:lock-timeout-disabled:error}');
INSERT INTO corpus.corpus_cases VALUES (126, 'SET LOCAL statement_timeout = 0 does not lift the migration''s statement_timeout',
$sql$SET LOCAL statement_timeout = 0;$sql$,
'{1:timeout-setting:warning}');
INSERT INTO corpus.corpus_cases VALUES (127, 'DROP TABLE of a big table',
$sql$DROP TABLE corpus.surgical_cases;$sql$,
'{1:drop-table:error}');
INSERT INTO corpus.corpus_cases VALUES (128, 'DROP TABLE of an empty table',
$sql$DROP TABLE corpus.audit_notes;$sql$,
'{1:drop-table:warning}');
INSERT INTO corpus.corpus_cases VALUES (129, 'DROP TABLE IF EXISTS of a table that does not exist',
$sql$DROP TABLE IF EXISTS corpus.no_such_table;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (130, 'CREATE TABLE then DROP it in the same migration',
$sql$CREATE TABLE corpus.tmp_import (id bigint, payload jsonb);
DROP TABLE corpus.tmp_import;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (131, 'DROP COLUMN on a big table',
$sql$ALTER TABLE corpus.patients DROP COLUMN ext_id;$sql$,
'{1:drop-column:error}');
INSERT INTO corpus.corpus_cases VALUES (132, 'DROP COLUMN on an empty table',
$sql$ALTER TABLE corpus.audit_notes DROP COLUMN flagged;$sql$,
'{1:drop-column:warning}');
INSERT INTO corpus.corpus_cases VALUES (133, 'RENAME TABLE',
$sql$ALTER TABLE corpus.bills RENAME TO invoices;$sql$,
'{1:rename-table:warning}');
INSERT INTO corpus.corpus_cases VALUES (134, 'RENAME COLUMN',
$sql$ALTER TABLE corpus.bills RENAME COLUMN code TO billing_code;$sql$,
'{1:rename-column:warning}');
INSERT INTO corpus.corpus_cases VALUES (135, 'RENAME SCHEMA',
$sql$ALTER SCHEMA corpus RENAME TO clinic;$sql$,
'{1:rename-schema:warning}');
INSERT INTO corpus.corpus_cases VALUES (136, 'ALTER TYPE ... RENAME VALUE',
$sql$ALTER TYPE corpus.case_status RENAME VALUE 'in_progress' TO 'running';$sql$,
'{1:rename-enum-value:warning}');
INSERT INTO corpus.corpus_cases VALUES (137, 'ALTER TYPE ... ADD VALUE: allowed in a transaction block since PG12',
$sql$ALTER TYPE corpus.case_status ADD VALUE IF NOT EXISTS 'cancelled';$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (138, 'DROP NOT NULL',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN surgeon DROP NOT NULL;$sql$,
'{1:drop-not-null:warning}');
INSERT INTO corpus.corpus_cases VALUES (139, 'DROP CONSTRAINT',
$sql$ALTER TABLE corpus.bills DROP CONSTRAINT bills_code_check;$sql$,
'{1:drop-constraint:warning}');
INSERT INTO corpus.corpus_cases VALUES (140, 'DROP SCHEMA ... CASCADE',
$sql$DROP SCHEMA corpus CASCADE;$sql$,
'{1:drop-schema:error}');
INSERT INTO corpus.corpus_cases VALUES (141, 'TRUNCATE a small table',
$sql$TRUNCATE corpus.bills;$sql$,
'{1:truncate:error}');
INSERT INTO corpus.corpus_cases VALUES (142, 'TRUNCATE an empty table',
$sql$TRUNCATE corpus.audit_notes;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (143, 'DROP DATABASE: destructive and refuses a transaction block',
$sql$DROP DATABASE corpus_scratch;$sql$,
'{1:drop-database:error,1:concurrently-in-tx:error}');
INSERT INTO corpus.corpus_cases VALUES (144, 'CREATE DATABASE refuses a transaction block',
$sql$CREATE DATABASE corpus_scratch;$sql$,
'{1:concurrently-in-tx:error}');
INSERT INTO corpus.corpus_cases VALUES (145, 'ALTER SYSTEM refuses a transaction block',
$sql$ALTER SYSTEM SET work_mem = '64MB';$sql$,
'{1:concurrently-in-tx:error}');
INSERT INTO corpus.corpus_cases VALUES (146, 'BEGIN and COMMIT inside the migration',
$sql$BEGIN;
CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);
COMMIT;$sql$,
'{1:transaction-wrapper:info,3:transaction-wrapper:info}');
INSERT INTO corpus.corpus_cases VALUES (147, 'SAVEPOINT and ROLLBACK TO SAVEPOINT inside the migration',
$sql$CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);
SAVEPOINT after_create;
ROLLBACK TO SAVEPOINT after_create;$sql$,
'{2:transaction-control:error,3:transaction-control:error}');
INSERT INTO corpus.corpus_cases VALUES (148, 'COPY FROM STDIN',
$sql$COPY corpus.wards (id, code, name) FROM STDIN;$sql$,
'{1:copy-from-client:error}');
INSERT INTO corpus.corpus_cases VALUES (149, 'COPY (query) TO STDOUT',
$sql$COPY (SELECT id, mrn FROM corpus.patients) TO STDOUT;$sql$,
'{1:copy-from-client:error}');
INSERT INTO corpus.corpus_cases VALUES (150, 'DO block: lint cannot see inside',
$sql$DO $do$
BEGIN
    EXECUTE 'ALTER TABLE corpus.patients ADD COLUMN legacy_flag boolean';
END
$do$;$sql$,
'{1:unseen-dynamic-sql:info}');
INSERT INTO corpus.corpus_cases VALUES (151, 'CALL a procedure',
$sql$CALL corpus.noop();$sql$,
'{1:unseen-dynamic-sql:info}');
INSERT INTO corpus.corpus_cases VALUES (152, 'new table with serial int PK, varchar(n), char(n), timestamp and json',
$sql$CREATE TABLE corpus.referrals (
    id          serial PRIMARY KEY,
    code        varchar(12) NOT NULL,
    priority    char(2),
    sent_at     timestamp,
    payload     json,
    patient_ref text
);$sql$,
'{1:prefer-bigint-over-int:info,1:prefer-identity:info,1:prefer-text-field:info,1:ban-char-field:warning,1:prefer-timestamptz:info,1:prefer-jsonb:info}');
INSERT INTO corpus.corpus_cases VALUES (153, 'new table with the preferred types (integer/smallint only outside the key)',
$sql$CREATE TABLE corpus.ward_transfers (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    moved_at  timestamptz NOT NULL,
    bed_count integer,
    priority  smallint,
    details   jsonb,
    reason    text
);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (154, 'integer identity primary key: identity is fine, integer is not',
$sql$CREATE TABLE corpus.triage_codes (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text NOT NULL);$sql$,
'{1:prefer-bigint-over-int:info}');
INSERT INTO corpus.corpus_cases VALUES (155, 'smallint primary key declared as a table constraint',
$sql$CREATE TABLE corpus.rooms (room_no smallint, label text, PRIMARY KEY (room_no));$sql$,
'{1:prefer-bigint-over-int:info}');
INSERT INTO corpus.corpus_cases VALUES (156, 'bigserial primary key',
$sql$CREATE TABLE corpus.shifts (id bigserial PRIMARY KEY, starts_at timestamptz NOT NULL);$sql$,
'{1:prefer-identity:info}');
INSERT INTO corpus.corpus_cases VALUES (157, 'ADD COLUMN json to an existing table',
$sql$ALTER TABLE corpus.bills ADD COLUMN meta json;$sql$,
'{1:prefer-jsonb:info}');
INSERT INTO corpus.corpus_cases VALUES (158, 'ADD COLUMN character varying(50)',
$sql$ALTER TABLE corpus.patients ADD COLUMN nickname character varying(50);$sql$,
'{1:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (159, 'ADD COLUMN timestamp(0) without time zone',
$sql$ALTER TABLE corpus.bills ADD COLUMN paid_at timestamp(0) without time zone;$sql$,
'{1:prefer-timestamptz:info}');
INSERT INTO corpus.corpus_cases VALUES (160, 'ADD COLUMN character(3)',
$sql$ALTER TABLE corpus.wards ADD COLUMN wing character(3);$sql$,
'{1:ban-char-field:warning}');
INSERT INTO corpus.corpus_cases VALUES (161, 'hygiene applies to a table created earlier in the migration too',
$sql$CREATE TABLE corpus.devices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text);
ALTER TABLE corpus.devices ADD COLUMN serial_no varchar(32);$sql$,
'{2:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (162, 'volatile defaults and several ALTERs on a table created earlier in the migration',
$sql$CREATE TABLE corpus.device_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, happened_at timestamptz NOT NULL);
ALTER TABLE corpus.device_events ADD COLUMN token uuid DEFAULT gen_random_uuid();
ALTER TABLE corpus.device_events ADD COLUMN checked_at timestamptz DEFAULT clock_timestamp();$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (163, 'column name of 64 bytes: silently truncated to 63',
$sql$ALTER TABLE corpus.patients ADD COLUMN patient_reported_outcome_score_after_discharge_followup_visit_no text;$sql$,
'{1:identifier-too-long:warning}');
INSERT INTO corpus.corpus_cases VALUES (164, 'column name of exactly 63 bytes',
$sql$ALTER TABLE corpus.patients ADD COLUMN patient_reported_outcome_score_after_discharge_followup_visit_n text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (165, 'table name of 72 bytes',
$sql$CREATE TABLE corpus.surgical_case_implant_traceability_records_for_regulatory_reporting_2026 (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);$sql$,
'{1:identifier-too-long:warning}');
INSERT INTO corpus.corpus_cases VALUES (166, 'CREATE TYPE ... AS ENUM',
$sql$CREATE TYPE corpus.triage_level AS ENUM ('red', 'yellow', 'green');$sql$,
'{1:enum-type:info}');
INSERT INTO corpus.corpus_cases VALUES (167, 'silenced: -- steward:allow drop-column <reason> before the statement',
$sql$-- steward:allow drop-column ext_id unused since release 2025.10
ALTER TABLE corpus.patients DROP COLUMN ext_id;$sql$,
'{1:drop-column:error:silenced}');
INSERT INTO corpus.corpus_cases VALUES (168, 'silenced: /* steward:allow ... */ inside the statement',
$sql$ALTER TABLE corpus.bills /* steward:allow rename-column the API reads both names through a view */ RENAME COLUMN code TO billing_code;$sql$,
'{1:rename-column:warning:silenced}');
INSERT INTO corpus.corpus_cases VALUES (169, 'two silence comments for two rules of one statement',
$sql$-- steward:allow fk-missing-not-valid prescriptions holds a handful of rows
-- steward:allow data-dependent orphans checked with migrate_check_fk in staging
ALTER TABLE corpus.prescriptions ADD CONSTRAINT prescriptions_patient_fk FOREIGN KEY (patient_id) REFERENCES corpus.patients (id);$sql$,
'{1:fk-missing-not-valid:warning:silenced,1:data-dependent:info:silenced}');
INSERT INTO corpus.corpus_cases VALUES (170, 'silencing one of two findings leaves the other',
$sql$-- steward:allow data-dependent duplicates checked in staging
ALTER TABLE corpus.patients ADD CONSTRAINT patients_mrn_key UNIQUE (mrn);$sql$,
'{1:unique-constraint-builds-index:error,1:data-dependent:info:silenced}');
INSERT INTO corpus.corpus_cases VALUES (171, 'silence for a rule that did not fire',
$sql$-- steward:allow drop-table nothing is dropped here
ALTER TABLE corpus.bills ADD COLUMN memo text;$sql$,
'{1:unused-silence:warning}');
INSERT INTO corpus.corpus_cases VALUES (172, 'silence without a reason: unused, the finding stays',
$sql$-- steward:allow drop-column
ALTER TABLE corpus.patients DROP COLUMN ext_id;$sql$,
'{1:drop-column:error,1:unused-silence:warning}');
INSERT INTO corpus.corpus_cases VALUES (173, 'silence naming an unknown rule',
$sql$-- steward:allow no-such-rule the index build is fine
CREATE INDEX CONCURRENTLY patients_name_idx ON corpus.patients (name);$sql$,
'{1:concurrently-in-tx:info,1:unused-silence:warning}');
INSERT INTO corpus.corpus_cases VALUES (174, 'a silence covers only its own statement',
$sql$-- steward:allow drop-table staging data was re-imported elsewhere
DROP TABLE corpus.import_staging;
DROP TABLE corpus.audit_notes;$sql$,
'{1:drop-table:error:silenced,2:drop-table:warning,2:work-after-ael:info}');
INSERT INTO corpus.corpus_cases VALUES (175, 'a silence for a rule that fires only on the next statement',
$sql$-- steward:allow work-after-ael both columns in one short lock
ALTER TABLE corpus.wards ADD COLUMN phone text;
ALTER TABLE corpus.bills ADD COLUMN memo text;$sql$,
'{1:unused-silence:warning,2:work-after-ael:info}');
INSERT INTO corpus.corpus_cases VALUES (176, 'a silence on the lines between the previous '';'' and the statement',
$sql$ALTER TABLE corpus.wards ADD COLUMN phone text;
-- steward:allow combine-alters kept apart for the review
ALTER TABLE corpus.wards ADD COLUMN fax text;$sql$,
'{2:combine-alters:info:silenced,2:work-after-ael:info}');
INSERT INTO corpus.corpus_cases VALUES (177, 'the marker inside a string literal is not a comment',
$sql$COMMENT ON TABLE corpus.bills IS '-- steward:allow drop-table not a comment';$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (178, 'PG18 syntax ADD CONSTRAINT ... NOT NULL col NOT VALID: a syntax error on PG15',
$sql$ALTER TABLE corpus.patients ADD CONSTRAINT patients_born_not_null NOT NULL born NOT VALID;$sql$,
'{error:42601}');
-- Cases added after a review of the lint: names, partitions, deferred
-- statements, index shapes, collations and silence comments.
INSERT INTO corpus.corpus_cases VALUES (179, 'a table of the same name created in another schema does not hide the existing one',
$sql$CREATE SCHEMA corpus_archive;
CREATE TABLE corpus_archive.patients (id bigint);
ALTER TABLE corpus.patients ALTER COLUMN born TYPE timestamptz;$sql$,
'{3:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (180, 'a quoted name with a dot is not a qualified name',
$sql$CREATE TABLE "corpus.patients" (id bigint);
ALTER TABLE corpus.patients ALTER COLUMN born TYPE timestamptz;$sql$,
'{2:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (181, 'CREATE TABLE IF NOT EXISTS of an existing table creates nothing',
$sql$CREATE TABLE IF NOT EXISTS corpus.patients (id bigint);
ALTER TABLE corpus.patients ALTER COLUMN born TYPE timestamptz;$sql$,
'{2:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (182, 'a renamed existing table is still the existing table',
$sql$ALTER TABLE corpus.patients RENAME TO patients_old;
ALTER TABLE corpus.patients_old ALTER COLUMN born TYPE timestamptz;$sql$,
'{1:rename-table:warning,2:work-after-ael:warning,2:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (183, 'CREATE INDEX CONCURRENTLY on a partitioned table fails (PG 15)',
$sql$CREATE INDEX CONCURRENTLY vitals_pulse_idx ON corpus.vitals (pulse);$sql$,
'{1:concurrently-in-tx:error}');
INSERT INTO corpus.corpus_cases VALUES (184, 'DETACH PARTITION CONCURRENTLY fails while a default partition exists (PG 14+)',
$sql$ALTER TABLE corpus.vitals DETACH PARTITION corpus.vitals_2025 CONCURRENTLY;$sql$,
'{1:concurrently-in-tx:error}');
INSERT INTO corpus.corpus_cases VALUES (185, 'USING INDEX of an index that a deferred CONCURRENTLY statement builds after commit',
$sql$CREATE UNIQUE INDEX CONCURRENTLY patients_mrn_uidx ON corpus.patients (mrn);
ALTER TABLE corpus.patients ADD CONSTRAINT patients_mrn_key UNIQUE USING INDEX patients_mrn_uidx;$sql$,
'{1:concurrently-in-tx:info,1:data-dependent:info,2:concurrently-in-tx:error}');
INSERT INTO corpus.corpus_cases VALUES (186, 'a partial index does not serve a foreign key',
$sql$CREATE INDEX bills_patient_open_idx ON corpus.bills (patient_id) WHERE status = 'open';
ALTER TABLE corpus.bills ADD CONSTRAINT bills_patient_fk FOREIGN KEY (patient_id) REFERENCES corpus.patients (id) NOT VALID;$sql$,
'{1:index-not-concurrent:warning,2:fk-without-index:warning}');
INSERT INTO corpus.corpus_cases VALUES (187, 'an expression keeps its place among the index columns',
$sql$CREATE INDEX bills_status_lower_idx ON corpus.bills ((lower(status)), patient_id);
ALTER TABLE corpus.bills ADD CONSTRAINT bills_patient_fk FOREIGN KEY (patient_id) REFERENCES corpus.patients (id) NOT VALID;$sql$,
'{1:index-not-concurrent:warning,2:fk-without-index:warning}');
INSERT INTO corpus.corpus_cases VALUES (188, 'a new collation keeps the data but rebuilds the indexes on the column',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN surgeon TYPE text COLLATE "C";$sql$,
'{1:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (189, 'a silence comment after LIKE''x\'' (a keyword ending in E is not an E'''' string)',
$sql$ALTER TABLE corpus.patients ALTER COLUMN born TYPE date USING CASE WHEN name LIKE'x\' THEN NULL ELSE born END -- steward:allow change-column-type reviewed in ticket 7
;$sql$,
'{1:change-column-type:error:silenced}');
INSERT INTO corpus.corpus_cases VALUES (191, 'a CHECK dropped first is not verified again by the type change',
$sql$ALTER TABLE corpus.surgical_cases DROP CONSTRAINT surgical_cases_duration_check, ALTER COLUMN duration_min TYPE bigint;$sql$,
'{1:drop-constraint:warning,1:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (190, 'a silence comment after the last statement''s semicolon',
$sql$ALTER TABLE corpus.patients ALTER COLUMN born TYPE timestamptz; -- steward:allow change-column-type reviewed in ticket 8$sql$,
'{1:change-column-type:error:silenced}');
INSERT INTO corpus.corpus_cases VALUES (192, 'set_config(''lock_timeout'', ''0'', true) is SET lock_timeout = 0',
$sql$SELECT set_config('lock_timeout', '0', true);
LOCK TABLE corpus.wards IN ACCESS SHARE MODE;$sql$,
'{1:lock-timeout-disabled:error,2:lock-table:info}');
INSERT INTO corpus.corpus_cases VALUES (193, 'set_config() of lock_timeout to a value known only when it runs',
$sql$SELECT set_config('lock_timeout', current_setting('lock_timeout'), false);$sql$,
'{1:timeout-setting:warning}');
INSERT INTO corpus.corpus_cases VALUES (194, 'set_config(''lock_timeout'', ''3s'', true) is SET lock_timeout = ''3s''',
$sql$SELECT set_config('lock_timeout', '3s', true);$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (195, 'a function''s SET lock_timeout = 0 clause',
$sql$CREATE FUNCTION corpus.wait_forever() RETURNS void LANGUAGE sql SET lock_timeout = 0 AS 'SELECT 1';$sql$,
'{1:lock-timeout-disabled:error}');
INSERT INTO corpus.corpus_cases VALUES (196, 'a DO block that sets statement_timeout',
$sql$DO $do$BEGIN PERFORM set_config('statement_timeout', '0', true); END$do$;$sql$,
'{1:unseen-dynamic-sql:info,1:timeout-setting:warning}');
INSERT INTO corpus.corpus_cases VALUES (197, 'a function that catches query_canceled',
$sql$CREATE FUNCTION corpus.keep_going() RETURNS void LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_sleep(1); EXCEPTION WHEN query_canceled THEN NULL; END$f$;$sql$,
'{1:timeout-setting:warning}');
INSERT INTO corpus.corpus_cases VALUES (198, 'two BEGIN ... COMMIT pairs, as some migration files hold',
$sql$BEGIN;
CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);
COMMIT;
START TRANSACTION;
CREATE TABLE corpus.discharge_notes (id bigint PRIMARY KEY, note text NOT NULL);
END;$sql$,
'{1:transaction-wrapper:info,3:transaction-wrapper:info,4:transaction-wrapper:info,6:transaction-wrapper:info}');
INSERT INTO corpus.corpus_cases VALUES (199, 'SET TRANSACTION ISOLATION LEVEL cannot take effect inside the migration',
$sql$SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);$sql$,
'{1:transaction-control:error}');
INSERT INTO corpus.corpus_cases VALUES (200, 'BEGIN with an isolation level is not a plain wrapper',
$sql$BEGIN ISOLATION LEVEL SERIALIZABLE;
CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);
COMMIT;$sql$,
'{1:transaction-control:error,3:transaction-control:error}');
INSERT INTO corpus.corpus_cases VALUES (201, 'COMMIT in the middle, without a BEGIN',
$sql$CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);
COMMIT;
CREATE TABLE corpus.discharge_notes (id bigint PRIMARY KEY, note text NOT NULL);$sql$,
'{2:transaction-control:error}');
INSERT INTO corpus.corpus_cases VALUES (202, 'a BEGIN never closed',
$sql$BEGIN;
CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);$sql$,
'{1:transaction-control:error}');
INSERT INTO corpus.corpus_cases VALUES (203, 'ROLLBACK after BEGIN',
$sql$BEGIN;
CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);
ROLLBACK;$sql$,
'{1:transaction-control:error,3:transaction-control:error}');
INSERT INTO corpus.corpus_cases VALUES (204, 'SET transaction_isolation is SET TRANSACTION',
$sql$SET transaction_isolation = 'serializable';
CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);$sql$,
'{1:transaction-control:error}');

-- Cases from real migrations (issue 13): false positives and misses of the
-- lint, each checked on a PostgreSQL 15 server (relfilenode, pg_locks, the
-- DEBUG1 message of SET NOT NULL, pg_stat_xact_user_tables.seq_scan).
INSERT INTO corpus.corpus_cases VALUES (205, 'ADD COLUMN DEFAULT an array of an enum created just before: stable, evaluated once, no rewrite',
$sql$CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
ALTER TABLE corpus.patients ADD COLUMN roles "Role"[] DEFAULT ARRAY['USER']::"Role"[];$sql$,
'{1:enum-type:info}');
INSERT INTO corpus.corpus_cases VALUES (206, 'ADD COLUMN DEFAULT a constant of a new enum, schema-qualified, as an array literal',
$sql$CREATE TYPE corpus.triage AS ENUM ('red', 'yellow', 'green');
ALTER TABLE corpus.patients ADD COLUMN triage corpus.triage[] DEFAULT '{green}'::corpus.triage[];$sql$,
'{1:enum-type:info}');
INSERT INTO corpus.corpus_cases VALUES (207, 'ADD COLUMN DEFAULT of a new enum computed with random(): volatile, rewrites',
$sql$CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
ALTER TABLE corpus.patients ADD COLUMN role "Role" DEFAULT ((ARRAY['USER', 'ADMIN'])[floor(random() * 2)::int + 1])::"Role";$sql$,
'{1:enum-type:info,2:add-column-volatile-default:error}');
INSERT INTO corpus.corpus_cases VALUES (208, 'SET NOT NULL after a CHECK (col IS NOT NULL) added NOT VALID and validated in the same migration: no scan',
$sql$ALTER TABLE corpus.patients ADD CONSTRAINT patients_born_nn CHECK (born IS NOT NULL) NOT VALID;
ALTER TABLE corpus.patients VALIDATE CONSTRAINT patients_born_nn;
ALTER TABLE corpus.patients ALTER COLUMN born SET NOT NULL;$sql$,
'{2:combine-alters:info,2:data-dependent:info,2:validate-in-locking-tx:error,2:work-after-ael:warning,3:combine-alters:info}');
INSERT INTO corpus.corpus_cases VALUES (209, 'SET NOT NULL after VALIDATE of an existing NOT VALID CHECK (col IS NOT NULL): no scan',
$sql$ALTER TABLE corpus.patients VALIDATE CONSTRAINT patients_mrn_nn;
ALTER TABLE corpus.patients ALTER COLUMN mrn SET NOT NULL;$sql$,
'{1:data-dependent:info,2:combine-alters:info}');
INSERT INTO corpus.corpus_cases VALUES (210, 'a CHECK validated on another column proves nothing for this one',
$sql$ALTER TABLE corpus.patients VALIDATE CONSTRAINT patients_mrn_nn;
ALTER TABLE corpus.patients ALTER COLUMN born SET NOT NULL;$sql$,
'{1:data-dependent:info,2:combine-alters:info,2:data-dependent:info,2:set-not-null:error}');
INSERT INTO corpus.corpus_cases VALUES (211, 'SET NOT NULL after a CHECK (col IS NOT NULL) added without NOT VALID in the same migration: no second scan',
$sql$ALTER TABLE corpus.bills ADD CONSTRAINT bills_status_nn CHECK (status IS NOT NULL AND status <> '');
ALTER TABLE corpus.bills ALTER COLUMN status SET NOT NULL;$sql$,
'{1:check-missing-not-valid:warning,1:data-dependent:info,2:combine-alters:info,2:work-after-ael:info}');
INSERT INTO corpus.corpus_cases VALUES (212, 'DROP CONSTRAINT IF EXISTS of a constraint that does not exist: a NOTICE, nothing dropped',
$sql$ALTER TABLE corpus.bills DROP CONSTRAINT IF EXISTS bills_patient_fk;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (213, 'DROP CONSTRAINT IF EXISTS of a constraint that exists',
$sql$ALTER TABLE corpus.bills DROP CONSTRAINT IF EXISTS bills_code_check;$sql$,
'{1:drop-constraint:warning}');
INSERT INTO corpus.corpus_cases VALUES (214, 'SET LOGGED on a table that is already logged: nothing to do, no rewrite',
$sql$ALTER TABLE corpus.patients SET LOGGED;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (215, 'SET UNLOGGED on a table that is already unlogged: no rewrite',
$sql$ALTER TABLE corpus.import_staging SET UNLOGGED;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (216, 'SET UNLOGGED then SET LOGGED: both rewrite',
$sql$ALTER TABLE corpus.patients SET UNLOGGED;
ALTER TABLE corpus.patients SET LOGGED;$sql$,
'{1:rewrite-table-option:error,2:combine-alters:info,2:rewrite-table-option:error,2:work-after-ael:warning}');
INSERT INTO corpus.corpus_cases VALUES (217, 'USING a chain of widening varchar casts of the column: binary-coercible, no rewrite',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE varchar(200) USING room::varchar(100)::varchar(200);$sql$,
'{1:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (218, 'USING col::text to text: binary-coercible, no rewrite',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE text USING room::text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (219, 'USING a chain through varchar(100) to text: no rewrite',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE text USING room::varchar(100)::text;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (220, 'USING a chain that narrows on the way: rewrites',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE varchar(200) USING room::varchar(10)::varchar(200);$sql$,
'{1:change-column-type:error,1:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (221, 'USING col::text to varchar(200): the length coercion of text checks every value, rewrites',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE varchar(200) USING room::text;$sql$,
'{1:change-column-type:error,1:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (222, 'USING another column: rewrites',
$sql$ALTER TABLE corpus.surgical_cases ALTER COLUMN room TYPE text USING surgeon;$sql$,
'{1:change-column-type:error}');
INSERT INTO corpus.corpus_cases VALUES (223, 'ALTER DOMAIN ADD CONSTRAINT: checks every column of the domain under SHARE',
$sql$ALTER DOMAIN corpus.ward_code_t ADD CONSTRAINT ward_code_t_len CHECK (length(VALUE) <= 8);$sql$,
'{1:alter-domain-scan:warning}');
INSERT INTO corpus.corpus_cases VALUES (224, 'ALTER DOMAIN ADD CONSTRAINT ... NOT VALID: no scan',
$sql$ALTER DOMAIN corpus.ward_code_t ADD CONSTRAINT ward_code_t_len CHECK (length(VALUE) <= 8) NOT VALID;$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (225, 'ALTER DOMAIN VALIDATE CONSTRAINT: scans under SHARE (PG15)',
$sql$ALTER DOMAIN corpus.ward_code_t VALIDATE CONSTRAINT ward_code_t_check;$sql$,
'{1:alter-domain-scan:warning}');
INSERT INTO corpus.corpus_cases VALUES (226, 'ALTER DOMAIN SET NOT NULL: scans under SHARE',
$sql$ALTER DOMAIN corpus.ward_code_t SET NOT NULL;$sql$,
'{1:alter-domain-scan:warning}');
INSERT INTO corpus.corpus_cases VALUES (227, 'ALTER DOMAIN of a domain no table uses: nothing to scan',
$sql$ALTER DOMAIN corpus.note_text ADD CONSTRAINT note_text_ne CHECK (VALUE <> '');$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (228, 'ALTER DOMAIN of a domain created by the migration',
$sql$CREATE DOMAIN corpus.bed_label AS text;
ALTER DOMAIN corpus.bed_label ADD CONSTRAINT bed_label_ne CHECK (VALUE <> '');$sql$,
'{}');
INSERT INTO corpus.corpus_cases VALUES (229, 'ALTER COLUMN TYPE timestamp (without time zone): rewrite and hygiene',
$sql$ALTER TABLE corpus.patients ALTER COLUMN born TYPE timestamp;$sql$,
'{1:change-column-type:error,1:prefer-timestamptz:info}');
INSERT INTO corpus.corpus_cases VALUES (230, 'ALTER COLUMN TYPE varchar(n) of a table created by the migration: hygiene only',
$sql$CREATE TABLE corpus.discharge_codes (code text PRIMARY KEY, label text NOT NULL);
ALTER TABLE corpus.discharge_codes ALTER COLUMN label TYPE varchar(80);$sql$,
'{2:prefer-text-field:info}');
INSERT INTO corpus.corpus_cases VALUES (231, 'an over-long name of multi-byte characters',
$sql$ALTER TABLE corpus.patients ADD COLUMN "xäääääääääääääääääääääääääääääääääääääääää" text;$sql$,
'{1:identifier-too-long:warning}');

-- Every rule of the specification, to check the corpus covers them all.
CREATE TABLE corpus.spec_rules (rule text PRIMARY KEY);
INSERT INTO corpus.spec_rules VALUES
    ('add-column-volatile-default'), ('add-column-serial-identity'), ('add-column-stored-generated'),
    ('add-column-constrained-domain'), ('change-column-type'), ('type-change-with-checks'),
    ('set-not-null'), ('check-missing-not-valid'), ('fk-missing-not-valid'), ('validate-in-locking-tx'),
    ('unique-constraint-builds-index'), ('primary-key-builds-index'), ('exclusion-constraint'),
    ('index-not-concurrent'), ('reindex-not-concurrent'), ('full-rewrite-maintenance'),
    ('rewrite-table-option'), ('attach-partition-scan'), ('refresh-matview-not-concurrent'),
    ('backfill-in-ddl-tx'),
    ('add-required-column'), ('concurrently-in-tx'), ('drop-index-not-concurrent'), ('detach-not-concurrent'),
    ('trigger-lock'), ('drop-trigger'), ('rls-policy-lock'), ('lock-table'), ('combine-alters'),
    ('work-after-ael'), ('lock-timeout-disabled'), ('timeout-setting'), ('drop-table'), ('drop-column'), ('rename-table'),
    ('rename-column'), ('rename-schema'), ('rename-enum-value'), ('drop-not-null'), ('drop-constraint'),
    ('drop-schema'), ('truncate'), ('drop-database'), ('data-dependent'), ('fk-without-index'),
    ('transaction-control'), ('transaction-wrapper'), ('copy-from-client'), ('unseen-dynamic-sql'), ('unused-silence'),
    ('prefer-text-field'), ('ban-char-field'), ('prefer-timestamptz'), ('prefer-bigint-over-int'),
    ('prefer-identity'), ('prefer-jsonb'), ('identifier-too-long'), ('enum-type'),
    ('alter-domain-scan');

-- The corpus itself is well formed: no malformed or unknown expectation, no
-- duplicate, and every rule is expected somewhere.  (All three print no rows.)
SELECT c.id, e AS bad_expectation
  FROM corpus.corpus_cases c, unnest(c.expected) e
 WHERE e !~ '^(error:[0-9A-Z]{5}|[1-9][0-9]*:[a-z-]+:(error|warning|info)(:silenced)?)$'
    OR (e !~ '^error:' AND split_part(e, ':', 2) NOT IN (SELECT rule FROM corpus.spec_rules))
 ORDER BY 1, 2;
SELECT id, expected AS duplicate_expectation
  FROM corpus.corpus_cases
 WHERE cardinality(expected) <> (SELECT count(DISTINCT e) FROM unnest(expected) e)
 ORDER BY id;
SELECT rule AS rule_not_covered
  FROM corpus.spec_rules r
 WHERE NOT EXISTS (SELECT 1 FROM corpus.corpus_cases c, unnest(c.expected) e
                    WHERE split_part(e, ':', 2) = r.rule)
 ORDER BY 1;

------------------------------------------------------------------------------
-- 3. Run every case in isolation and compare.
------------------------------------------------------------------------------
-- One case's findings as a sorted set; an error becomes the finding 'error:<sqlstate>'.
CREATE FUNCTION corpus.lint_findings(migration text) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    found text[];
BEGIN
    SELECT coalesce(array_agg(DISTINCT f COLLATE "C" ORDER BY f COLLATE "C"), '{}')
      INTO found
      FROM (SELECT l.statement || ':' || l.rule || ':' || l.severity
                   || CASE WHEN l.silenced IS NOT NULL THEN ':silenced' ELSE '' END AS f
              FROM migrate_lint(migration) l) s;
    RETURN found;
EXCEPTION WHEN OTHERS THEN
    RETURN ARRAY['error:' || SQLSTATE];
END
$$;

CREATE TABLE corpus.corpus_results AS
SELECT c.id, c.title, c.expected, corpus.lint_findings(c.sql) AS actual
  FROM corpus.corpus_cases c;

-- The cases where migrate_lint disagrees with the expectation (none, when it is right).
SELECT id, title,
       ARRAY(SELECT f FROM (SELECT unnest(expected) EXCEPT SELECT unnest(actual)) s(f) ORDER BY f COLLATE "C") AS missing,
       ARRAY(SELECT f FROM (SELECT unnest(actual) EXCEPT SELECT unnest(expected)) s(f) ORDER BY f COLLATE "C") AS unexpected
  FROM corpus.corpus_results
 WHERE NOT (expected @> actual AND actual @> expected)
 ORDER BY id;

SELECT count(*) AS cases,
       sum(cardinality(expected)) AS expected_findings,
       sum(cardinality(ARRAY(SELECT unnest(expected) EXCEPT SELECT unnest(actual)))) AS false_negatives,
       sum(cardinality(ARRAY(SELECT unnest(actual) EXCEPT SELECT unnest(expected)))) AS false_positives
  FROM corpus.corpus_results;

-- PG12+: timestamp -> timestamptz does not rewrite when the session TimeZone is
-- UTC (ATColumnChangeRequiresRewrite), so the same statement as above has no finding.
SET TimeZone = 'UTC';
SELECT f AS utc_findings, f = '{}' AS as_expected
  FROM corpus.lint_findings($$ALTER TABLE corpus.surgical_cases ALTER COLUMN scheduled_at TYPE timestamptz;$$) f;
SET TimeZone = 'America/Los_Angeles';

------------------------------------------------------------------------------
-- 4. Lock modes, relations and effects as the server reports them.
------------------------------------------------------------------------------
-- ADD COLUMN with a volatile default: AccessExclusiveLock, rewrite.
SELECT statement, rule, severity, lock_mode, relation, effect
  FROM migrate_lint($$ALTER TABLE corpus.patients ADD COLUMN sort_key double precision DEFAULT random();$$)
 ORDER BY statement, rule COLLATE "C";
-- ADD FOREIGN KEY: ShareRowExclusiveLock (on child and parent), scan.
SELECT statement, rule, severity, lock_mode, relation, effect
  FROM migrate_lint($$ALTER TABLE corpus.surgical_cases ADD CONSTRAINT surgical_cases_patient_fk
    FOREIGN KEY ("patientId") REFERENCES corpus.patients (id);$$)
 ORDER BY statement, rule COLLATE "C";
-- CREATE INDEX: ShareLock, index build.
SELECT statement, rule, severity, lock_mode, relation, effect
  FROM migrate_lint($$CREATE INDEX patients_born_idx ON corpus.patients (born);$$)
 ORDER BY statement, rule COLLATE "C";
-- NOT VALID then VALIDATE: VALIDATE takes ShareUpdateExclusiveLock, but the
-- ShareRowExclusiveLock of the first statement is still held.
SELECT statement, rule, severity, lock_mode, relation, effect
  FROM migrate_lint($$ALTER TABLE corpus.surgical_cases ADD CONSTRAINT surgical_cases_patient_fk
    FOREIGN KEY ("patientId") REFERENCES corpus.patients (id) NOT VALID;
ALTER TABLE corpus.surgical_cases VALIDATE CONSTRAINT surgical_cases_patient_fk;$$)
 ORDER BY statement, rule COLLATE "C";
-- ATTACH PARTITION: ShareUpdateExclusiveLock on the parent (PG12+),
-- AccessExclusiveLock on the attached table and on the default partition; scan.
SELECT statement, rule, severity, lock_mode, relation, effect
  FROM migrate_lint($$ALTER TABLE corpus.vitals ATTACH PARTITION corpus.vitals_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');$$)
 ORDER BY statement, rule COLLATE "C";

-- The PostgreSQL 15 facts behind the main finding of single-statement cases
-- (from pg_locks and pg_class.relfilenode on a PG15 server).  A NULL expectation
-- is not checked.  Prints only the rows that differ.
CREATE FUNCTION corpus.lint_one(migration text, want_rule text,
                                OUT hit boolean, OUT lock_mode text, OUT relation text, OUT effect text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT true, l.lock_mode, l.relation, l.effect INTO hit, lock_mode, relation, effect
      FROM migrate_lint(migration) l WHERE l.rule = want_rule ORDER BY l.statement LIMIT 1;
    hit := coalesce(hit, false);
EXCEPTION WHEN OTHERS THEN
    hit := false; lock_mode := 'error:' || SQLSTATE;
END
$$;

SELECT p.rule, l.hit AS found, p.sql, p.lock_mode AS want_lock, l.lock_mode AS got_lock,
       p.relation AS want_relation, l.relation AS got_relation,
       p.effect AS want_effect, l.effect AS got_effect
  FROM (VALUES
    ('add-column-volatile-default', 'ALTER TABLE corpus.patients ADD COLUMN sort_key double precision DEFAULT random();',
     'AccessExclusiveLock', 'corpus.patients', 'rewrite'),
    ('add-column-serial-identity', 'ALTER TABLE corpus.bills ADD COLUMN line_no bigint GENERATED ALWAYS AS IDENTITY;',
     'AccessExclusiveLock', 'corpus.bills', 'rewrite'),
    ('add-column-stored-generated', 'ALTER TABLE corpus.patients ADD COLUMN name_upper text GENERATED ALWAYS AS (upper(name)) STORED;',
     'AccessExclusiveLock', 'corpus.patients', 'rewrite'),
    ('add-column-constrained-domain', 'ALTER TABLE corpus.patients ADD COLUMN mrn_checked corpus.mrn_code;',
     'AccessExclusiveLock', 'corpus.patients', 'rewrite'),
    ('change-column-type', 'ALTER TABLE corpus.surgical_cases ALTER COLUMN or_number TYPE bigint;',
     'AccessExclusiveLock', 'corpus.surgical_cases', 'rewrite'),
    ('type-change-with-checks', 'ALTER TABLE corpus.bills ALTER COLUMN code TYPE varchar(40);',
     'AccessExclusiveLock', 'corpus.bills', 'scan'),
    ('set-not-null', 'ALTER TABLE corpus.patients ALTER COLUMN born SET NOT NULL;',
     'AccessExclusiveLock', 'corpus.patients', 'scan'),
    ('check-missing-not-valid', 'ALTER TABLE corpus.patients ADD CONSTRAINT patients_born_check CHECK (born > DATE ''1900-01-01'');',
     'AccessExclusiveLock', 'corpus.patients', 'scan'),
    ('fk-missing-not-valid', 'ALTER TABLE corpus.surgical_cases ADD CONSTRAINT surgical_cases_patient_fk FOREIGN KEY ("patientId") REFERENCES corpus.patients (id);',
     'ShareRowExclusiveLock', 'corpus.surgical_cases', 'scan'),
    ('unique-constraint-builds-index', 'ALTER TABLE corpus.patients ADD CONSTRAINT patients_mrn_key UNIQUE (mrn);',
     'AccessExclusiveLock', 'corpus.patients', 'index build'),
    ('primary-key-builds-index', 'ALTER TABLE corpus.import_staging ADD PRIMARY KEY (id);',
     'AccessExclusiveLock', 'corpus.import_staging', 'index build'),
    ('exclusion-constraint', 'ALTER TABLE corpus.or_bookings ADD CONSTRAINT or_bookings_no_overlap EXCLUDE USING gist (during WITH &&);',
     'AccessExclusiveLock', 'corpus.or_bookings', 'index build'),
    ('index-not-concurrent', 'CREATE INDEX patients_born_idx ON corpus.patients (born);',
     'ShareLock', 'corpus.patients', 'index build'),
    ('reindex-not-concurrent', 'REINDEX TABLE corpus.patients;',
     'ShareLock', 'corpus.patients', 'index build'),
    ('full-rewrite-maintenance', 'CLUSTER corpus.surgical_cases USING surgical_cases_pkey;',
     'AccessExclusiveLock', 'corpus.surgical_cases', 'rewrite'),
    ('rewrite-table-option', 'ALTER TABLE corpus.patients SET UNLOGGED;',
     'AccessExclusiveLock', 'corpus.patients', 'rewrite'),
    ('attach-partition-scan', 'ALTER TABLE corpus.vitals ATTACH PARTITION corpus.vitals_2026 FOR VALUES FROM (''2026-01-01'') TO (''2027-01-01'');',
     NULL, NULL, 'scan'),
    ('refresh-matview-not-concurrent', 'REFRESH MATERIALIZED VIEW corpus.patient_born_mv;',
     'AccessExclusiveLock', 'corpus.patient_born_mv', 'rewrite'),
    ('detach-not-concurrent', 'ALTER TABLE corpus.vitals DETACH PARTITION corpus.vitals_2025;',
     'AccessExclusiveLock', NULL, NULL),
    ('drop-index-not-concurrent', 'DROP INDEX corpus.surgical_cases_surgeon_idx;',
     'AccessExclusiveLock', NULL, NULL),
    ('trigger-lock', 'CREATE TRIGGER bills_audit AFTER INSERT ON corpus.bills FOR EACH ROW EXECUTE FUNCTION corpus.no_op_trigger();',
     'ShareRowExclusiveLock', 'corpus.bills', NULL),
    ('trigger-lock', 'ALTER TABLE corpus.bills DISABLE TRIGGER bills_touch;',
     'ShareRowExclusiveLock', 'corpus.bills', NULL),
    ('drop-trigger', 'DROP TRIGGER bills_touch ON corpus.bills;',
     'AccessExclusiveLock', 'corpus.bills', NULL),
    ('rls-policy-lock', 'ALTER TABLE corpus.consents ENABLE ROW LEVEL SECURITY;',
     'AccessExclusiveLock', 'corpus.consents', NULL),
    ('lock-table', 'LOCK TABLE corpus.bills IN SHARE MODE;',
     'ShareLock', 'corpus.bills', NULL),
    ('drop-column', 'ALTER TABLE corpus.patients DROP COLUMN ext_id;',
     'AccessExclusiveLock', 'corpus.patients', NULL)
  ) AS p(rule, sql, lock_mode, relation, effect)
  CROSS JOIN LATERAL corpus.lint_one(p.sql, p.rule) l
 WHERE NOT l.hit
    OR (p.lock_mode IS NOT NULL AND l.lock_mode IS DISTINCT FROM p.lock_mode)
    OR (p.relation IS NOT NULL AND l.relation IS DISTINCT FROM p.relation)
    OR (p.effect IS NOT NULL AND l.effect IS DISTINCT FROM p.effect)
 ORDER BY p.rule COLLATE "C", p.sql COLLATE "C";

-- What drop-constraint says: the kind of constraint, from the catalog; a
-- constraint not in the catalog (added by the migration) in general words.
SELECT statement, message
  FROM migrate_lint($$ALTER TABLE corpus.beds DROP CONSTRAINT beds_ward_fk;
ALTER TABLE corpus.patients DROP CONSTRAINT patients_name_nn;
ALTER TABLE corpus.wards DROP CONSTRAINT wards_pkey;
ALTER TABLE corpus.bills ADD CONSTRAINT bills_code_key UNIQUE (code);
ALTER TABLE corpus.bills DROP CONSTRAINT bills_code_key;$$)
 WHERE rule = 'drop-constraint'
 ORDER BY statement;
-- ALTER DOMAIN: the table, its lock and the columns checked.
SELECT statement, rule, severity, lock_mode, relation, effect, message
  FROM migrate_lint($$ALTER DOMAIN corpus.ward_code_t SET NOT NULL;$$);
-- identifier-too-long shows the start of the name cut at a character
-- boundary (valid UTF-8), whatever the byte widths of its characters.
SELECT n AS ascii_prefix, width,
       substring(l.message FROM '"([^"]*)"') AS shown,
       convert_from(convert_to(l.message, 'UTF8'), 'UTF8') = l.message AS valid_utf8
  FROM generate_series(0, 3) n,
       (VALUES (2, 'ä'), (3, '€'), (4, '😀')) AS c(width, ch),
       LATERAL migrate_lint(format('CREATE TABLE corpus.t (%I int);', repeat('x', n) || repeat(ch, 40))) l
 WHERE l.rule = 'identifier-too-long'
 ORDER BY width, n;

------------------------------------------------------------------------------
-- 5. Cleanup
------------------------------------------------------------------------------
DROP SCHEMA corpus CASCADE;
DROP ACCESS METHOD regress_corpus_heap;
RESET TimeZone;
RESET pg_steward.large_table_threshold;
