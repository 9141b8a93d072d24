-- The audit ledger as a psql user sees it: appending, bad input, sealing,
-- verifying, digests, redaction and the append-only protection.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_steward;

SELECT audit_append('LOGIN', 'user', 'dr.jung') > 0 AS appended;
SELECT audit_append(action => 'UPDATE', resource_type => 'patient', resource_id => '4711',
                    payload => '{"field": "dosage", "old": "5 mg", "new": "10 mg"}',
                    actor => 'dr.jung') > 0 AS appended;

-- bad input changes nothing
SELECT count(*) AS events_before FROM steward.audit_events \gset
SELECT audit_append(NULL);
SELECT audit_append('');
SELECT audit_append('READ', resource_type => '');
SELECT audit_append('READ', actor => repeat('a', 1025));
SELECT audit_append('READ', event_type => 'REDACTION');
SELECT audit_append('READ', payload => '{"unterminated": ');
SELECT count(*) = :events_before AS nothing_appended FROM steward.audit_events;

-- sealing: nothing committed stays unsealed
SELECT audit_seal() >= 0 AS sealed;
SELECT is_valid, events_unsealed, first_bad_event, problem FROM verify_audit_chain();
SELECT count(*) AS broken FROM verify_audit_chain() WHERE NOT is_valid;
BEGIN;
SELECT audit_append('READ') > 0 AS appended;
SELECT audit_seal();
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT audit_seal();
ROLLBACK;

-- the digest to keep outside the database
SELECT array_agg(k ORDER BY k) AS digest_keys FROM jsonb_object_keys(audit_digest()) k;
SELECT verify_audit_chain(trusted_digest => '"not a digest"');
SELECT is_valid FROM verify_audit_chain(trusted_digest => audit_digest());

-- the canonical bytes of an event
SELECT substring(audit_event_bytes(id) FROM 1 FOR 4) AS magic_and_version
  FROM steward.audit_events WHERE resource_id = '4711';
SELECT audit_event_bytes(NULL);
SELECT audit_event_bytes(-1);

-- GDPR erasure
SELECT audit_redact(id, 'GDPR Art. 17 request 2026-114') > id AS redaction_appended
  FROM steward.audit_events WHERE resource_id = '4711';
SELECT payload, salt FROM steward.audit_events WHERE resource_id = '4711';
\set VERBOSITY terse
DO $$
BEGIN
    PERFORM audit_redact((SELECT id FROM steward.audit_events WHERE resource_id = '4711'), 'again');
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE WARNING 'refused: %', regexp_replace(SQLERRM, '[0-9]+', 'N');
END $$;
\set VERBOSITY default
SELECT audit_redact(id, NULL) FROM steward.audit_events WHERE resource_id = 'dr.jung';
SELECT audit_redact(-1, 'x');
SELECT audit_seal() >= 0 AS sealed;
SELECT is_valid, events_redacted FROM verify_audit_chain();

-- the ledger is append-only, for its owner too (terse: the detail names
-- this year's partition)
\set VERBOSITY terse
UPDATE steward.audit_events SET actor = 'someone else';
DELETE FROM steward.audit_events;
TRUNCATE steward.audit_events;
DELETE FROM steward.audit_blocks;
\set VERBOSITY default

-- retention settings
SELECT audit_set_retention('*', '10 years');
SELECT audit_set_retention('APPLICATION', '-1 day');
SELECT audit_set_retention(NULL, '1 year');
SELECT event_type, keep FROM steward.audit_retention;
SELECT audit_set_retention('*', NULL);
SELECT count(*) AS expired FROM audit_drop_expired(dry_run => true);

-- row-change auditing needs the table's owner
CREATE TABLE bed (id int PRIMARY KEY, ward text);
SELECT audit_table('bed');
SELECT audit_table('bed');
SELECT audit_table(NULL);
SELECT audit_table('pg_class');
SELECT audit_table('steward.audit_blocks');
CREATE VIEW bed_view AS SELECT * FROM bed;
SELECT audit_table('bed_view');
INSERT INTO bed VALUES (1, 'ICU');
SELECT action, resource_type, resource_id, payload FROM steward.audit_events
 WHERE event_type = 'ROW_CHANGE' ORDER BY id;
SELECT unaudit_table('bed');
SELECT unaudit_table('bed');
DROP VIEW bed_view;
DROP TABLE bed;
