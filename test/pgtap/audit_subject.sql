-- pgTAP: a data subject's erasure request.  audit_redact_subject erases
-- every payload about one resource, or of one actor, gives each its
-- REDACTION event, records the request as one LEDGER event listing them,
-- leaves every other event as it was, and the ledger still verifies, with
-- those events reported as redacted.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward installed.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(20);

SELECT has_function('audit_redact_subject', ARRAY['text', 'text', 'text', 'text']);
SELECT ok(NOT has_function_privilege('public', 'audit_redact_subject(text, text, text, text)', 'EXECUTE'),
          'audit_redact_subject is not executable by PUBLIC');

-- events about three patients, some written by dr.jung
SELECT audit_append('READ', 'patient', 'P-1', '{"field": "diagnosis"}', 'dr.adeyemi');
SELECT audit_append('UPDATE', 'patient', 'P-1', '{"field": "dosage", "new": "10mg"}', 'dr.adeyemi');
SELECT audit_append('READ', 'patient', 'P-2', '{"field": "allergies"}', 'dr.adeyemi');
SELECT audit_append('READ', 'patient', 'P-3', '{"field": "address"}', 'dr.jung');
SELECT audit_append('EXPORT', 'patient', 'P-1', '{"to": "lab"}', 'dr.jung');
SELECT audit_append('LOGIN', 'session', 'S-9', NULL, 'dr.jung');
SELECT audit_append('READ', 'patient', 'P-10', '{"field": "name"}', 'dr.adeyemi');
SELECT audit_seal();
CREATE TEMP TABLE before AS SELECT * FROM steward.audit_events;

-- bad input changes nothing
SELECT throws_ok($$SELECT audit_redact_subject(reason => 'x')$$, '22023', NULL, 'a subject must be named');
SELECT throws_ok($$SELECT audit_redact_subject('patient', 'P-1', 'dr.jung', 'x')$$, '22023', NULL,
                 'by resource or by actor, not both');
SELECT throws_ok($$SELECT audit_redact_subject(resource_type => 'patient', reason => 'x')$$, '22023', NULL,
                 'a resource needs its type and its id');
SELECT throws_ok($$SELECT audit_redact_subject('patient', 'P-1')$$, '22004', NULL, 'a reason is required');
SELECT throws_ok($$SELECT audit_redact_subject('patient', 'P-1', reason => '')$$, '22023', NULL,
                 'an empty reason is refused');
SELECT is((SELECT count(*)::int FROM steward.audit_events WHERE payload IS NULL AND commitment IS NOT NULL), 0,
          'the refused calls erased nothing');

-- by resource
SELECT is(audit_redact_subject(resource_type => 'patient', resource_id => 'P-1',
                               reason => 'GDPR Art. 17 request 2026-114'), 3::bigint,
          'three events about P-1 are redacted');
SELECT is((SELECT count(*)::int FROM steward.audit_events
            WHERE resource_type = 'patient' AND resource_id = 'P-1' AND payload IS NULL AND salt IS NULL
              AND commitment IS NOT NULL), 3,
          'their payloads and salts are erased, their commitments kept');
SELECT set_eq($$SELECT id, payload FROM steward.audit_events WHERE NOT (resource_type = 'patient' AND resource_id = 'P-1')
                  AND id IN (SELECT id FROM before)$$,
              $$SELECT id, payload FROM before WHERE NOT (resource_type = 'patient' AND resource_id = 'P-1')$$,
              'every other event is as it was (P-10 is another patient)');
SELECT set_eq($$SELECT resource_id::bigint FROM steward.audit_events WHERE event_type = 'REDACTION'$$,
              $$SELECT id FROM before WHERE resource_type = 'patient' AND resource_id = 'P-1'$$,
              'each redacted event has its REDACTION event');
SELECT is((SELECT count(*)::int FROM steward.audit_events WHERE event_type = 'LEDGER' AND action = 'REDACT_SUBJECT'), 1,
          'the request is one LEDGER event');
SELECT results_eq($$SELECT resource_type, resource_id, payload->>'reason',
                           (SELECT array_agg(x::bigint ORDER BY x::bigint) FROM jsonb_array_elements_text(payload->'events') x)
                      FROM steward.audit_events WHERE action = 'REDACT_SUBJECT'$$,
                  $$SELECT 'patient'::text, 'P-1'::text, 'GDPR Art. 17 request 2026-114'::text,
                           (SELECT array_agg(id ORDER BY id) FROM before WHERE resource_type = 'patient' AND resource_id = 'P-1')$$,
                  'it names the subject, the reason and the redacted events');
SELECT set_eq($$SELECT x::bigint FROM steward.audit_events, jsonb_array_elements_text(payload->'redactions') x
                 WHERE action = 'REDACT_SUBJECT'$$,
              $$SELECT id FROM steward.audit_events WHERE event_type = 'REDACTION'$$,
              'and their REDACTION events');
SELECT audit_seal();
SELECT results_eq($$SELECT is_valid, events_redacted FROM verify_audit_chain()$$,
                  $$VALUES (true, 3::bigint)$$,
                  'the ledger verifies and reports the three events as redacted');

-- again: nothing left to erase, the request is recorded all the same
SELECT is(audit_redact_subject('patient', 'P-1', reason => 'repeated request'), 0::bigint,
          'a repeated request finds nothing left');
SELECT is((SELECT payload->'events' FROM steward.audit_events WHERE action = 'REDACT_SUBJECT'
            ORDER BY id DESC LIMIT 1), '[]'::jsonb, 'and records an empty list');

-- by actor
SELECT is(audit_redact_subject(actor => 'dr.jung', reason => 'employee left, works council agreement 12'), 1::bigint,
          'dr.jung''s one event that still has a payload is redacted (the other has none, one is already redacted)');
SELECT audit_seal();
SELECT results_eq($$SELECT is_valid, events_redacted FROM verify_audit_chain()$$,
                  $$VALUES (true, 4::bigint)$$,
                  'the ledger verifies with four redacted events');

SELECT * FROM finish();
