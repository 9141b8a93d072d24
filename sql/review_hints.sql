-- The safe alternative of rename-column, change-column-type and set-not-null
-- on a table with rows ends with the expand/contract call that does the
-- change; the call runs as it is given, also for names that need quotes.
\pset null '(null)'
SET client_min_messages = warning;

CREATE SCHEMA "Care Home";
CREATE TABLE "Care Home"."Resident's Log" (id bigint PRIMARY KEY, "first name" text NOT NULL,
                                           "Ward No" integer, born date);
INSERT INTO "Care Home"."Resident's Log" SELECT g, 'name ' || g, g % 7, NULL FROM generate_series(1, 300) g;
CREATE TABLE hint_patients (id bigint PRIMARY KEY, first_name text, ward_id integer, born date);
INSERT INTO hint_patients SELECT g, 'name ' || g, g % 7, NULL FROM generate_series(1, 300) g;
CREATE TABLE hint_empty (id bigint PRIMARY KEY, first_name text, ward_id integer);

\x on
SELECT rule, severity, safe_alternative FROM migrate_lint($$
ALTER TABLE hint_patients RENAME COLUMN first_name TO given_name;
ALTER TABLE hint_patients ALTER COLUMN ward_id TYPE bigint;
ALTER TABLE hint_patients ALTER COLUMN born SET NOT NULL;
$$) WHERE rule IN ('rename-column', 'change-column-type', 'set-not-null') ORDER BY statement;

-- names that need quotes, and a USING expression, which the call leaves to fill in
SELECT rule, safe_alternative FROM migrate_lint($$
ALTER TABLE "Care Home"."Resident's Log" RENAME COLUMN "first name" TO "given ""name""";
ALTER TABLE "Care Home"."Resident's Log" ALTER COLUMN "Ward No" TYPE bigint;
ALTER TABLE "Care Home"."Resident's Log" ALTER COLUMN "Ward No" TYPE text USING "Ward No"::text;
ALTER TABLE "Care Home"."Resident's Log" ALTER COLUMN born SET NOT NULL;
$$) WHERE rule IN ('rename-column', 'change-column-type', 'set-not-null') ORDER BY statement;
\x off

-- on an empty table the plain statement is the simplest: no call
SELECT rule, safe_alternative LIKE '%migrate_expand%' AS has_call FROM migrate_lint($$
ALTER TABLE hint_empty RENAME COLUMN first_name TO given_name;
ALTER TABLE hint_empty ALTER COLUMN ward_id TYPE bigint;
$$) ORDER BY statement, rule;

-- a table migrate_expand refuses (no one-column primary key for the
-- backfill, or partitioned) gets no call
CREATE TABLE hint_no_key (a integer, b integer, note text, PRIMARY KEY (a, b));
INSERT INTO hint_no_key SELECT g, g, 'n' FROM generate_series(1, 100) g;
CREATE TABLE hint_parted (id bigint PRIMARY KEY, note text) PARTITION BY RANGE (id);
CREATE TABLE hint_parted_1 PARTITION OF hint_parted FOR VALUES FROM (0) TO (1000);
INSERT INTO hint_parted SELECT g, 'n' FROM generate_series(1, 100) g;
SELECT relation, rule, safe_alternative LIKE '%migrate_expand%' AS has_call FROM migrate_lint($$
ALTER TABLE hint_no_key RENAME COLUMN note TO remark;
ALTER TABLE hint_parted RENAME COLUMN note TO remark;
$$) WHERE rule = 'rename-column' ORDER BY statement;
DROP TABLE hint_no_key, hint_parted;

-- The calls as given, with a version filled in: expand, await, contract.
SELECT 'SELECT ' || replace((regexp_match(safe_alternative, 'SELECT (migrate_expand\(.*\)); once'))[1],
                            '<version>', 'zzz_hint_001') || ' > 0 AS expanded'
  FROM migrate_lint($$ALTER TABLE "Care Home"."Resident's Log" RENAME COLUMN "first name" TO "given ""name""";$$)
 WHERE rule = 'rename-column' \gexec
SELECT 'SELECT ' || replace((regexp_match(safe_alternative, 'SELECT (migrate_expand\(.*\)); once'))[1],
                            '<version>', 'zzz_hint_002') || ' > 0 AS expanded'
  FROM migrate_lint($$ALTER TABLE "Care Home"."Resident's Log" ALTER COLUMN "Ward No" TYPE bigint;$$)
 WHERE rule = 'change-column-type' \gexec
SELECT backfill_job AS job FROM migrate_expansions() WHERE version = 'zzz_hint_001' \gset
CALL job_await(:job);
SELECT backfill_job AS job FROM migrate_expansions() WHERE version = 'zzz_hint_002' \gset
CALL job_await(:job);
SELECT version, expand_phase, backfill_state, backfill_rows_done FROM migrate_status()
 WHERE version LIKE 'zzz_hint%' ORDER BY version;
SELECT migrate_expand_check('zzz_hint_001') AS rename_disagree, migrate_expand_check('zzz_hint_002') AS type_disagree;
SELECT replace((regexp_match(safe_alternative, '(SELECT migrate_contract\(.*\);)'))[1], '<version>', v)
  FROM migrate_lint($$ALTER TABLE "Care Home"."Resident's Log" RENAME COLUMN "first name" TO "given ""name""";$$),
       (VALUES ('zzz_hint_001'), ('zzz_hint_002')) AS t(v)
 WHERE rule = 'rename-column' ORDER BY v \gexec
SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
 WHERE attrelid = '"Care Home"."Resident''s Log"'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;
SELECT version, expand_phase, rows_disagreeing FROM migrate_status()
 WHERE version LIKE 'zzz_hint%' ORDER BY version;

DROP TABLE "Care Home"."Resident's Log", hint_patients, hint_empty;
DROP SCHEMA "Care Home";
