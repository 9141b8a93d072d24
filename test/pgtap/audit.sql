-- pgTAP: the audit ledger's API, privileges, sealing, verification and
-- every kind of tampering.  Runs without a wrapping transaction, because a
-- seal only sees committed events.  Tampering happens as superuser with the
-- append-only protection lifted (session_replication_role = replica), inside
-- pg_temp.tampered(), which verifies and then rolls the tampering back, so
-- each case starts from the same intact ledger.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(106);

-- objects and privileges -----------------------------------------------------
SELECT has_table('steward', 'audit_events', 'events table');
SELECT has_table('steward', 'audit_blocks', 'blocks table');
SELECT has_table('steward', 'audit_epochs', 'retention epochs table');
SELECT has_table('steward', 'audit_retention', 'retention policies table');
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'steward.audit_events'::regclass), 'p',
          'events are partitioned');
SELECT ok((SELECT count(*) FROM pg_inherits WHERE inhparent = 'steward.audit_events'::regclass) >= 4,
          'yearly partitions ahead plus a default partition exist');
SELECT has_function('audit_append', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'text']);
SELECT has_function('verify_audit_chain', ARRAY['jsonb', 'jsonb']);
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.proname IN ('audit_append', 'audit_seal', 'verify_audit_chain', 'audit_digest',
                                'audit_event_bytes', 'audit_redact', 'audit_table', 'unaudit_table',
                                'audit_set_retention', 'audit_drop_expired', 'audit_status')
              AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
          'no audit function is executable by PUBLIC');
SELECT is((SELECT count(*)::int FROM pg_class c
            WHERE c.relnamespace = 'steward'::regnamespace AND c.relname LIKE 'audit%'
              AND c.relkind IN ('r', 'p')
              AND (has_table_privilege('public', c.oid, 'INSERT')
                   OR has_table_privilege('public', c.oid, 'SELECT'))), 0,
          'PUBLIC can neither read nor write the ledger tables');

-- an application role that may only append
CREATE ROLE audit_app LOGIN;
GRANT EXECUTE ON FUNCTION audit_append(text, text, text, jsonb, text, text) TO audit_app;

-- writing --------------------------------------------------------------------
SET application_name = 'ward-app';
SET ROLE audit_app;
SELECT ok(audit_append('READ', 'patient', '17', '{"field": "allergies"}', 'nurse.berg') > 0,
          'an ordinary role appends through audit_append');
SELECT throws_ok($$SELECT * FROM steward.audit_events$$, '42501', NULL,
                 'the same role cannot read the ledger table');
SELECT throws_ok($$SELECT verify_audit_chain()$$, '42501', NULL, 'nor verify without a grant');
RESET ROLE;
SELECT is(
    (SELECT row(event_type, action, resource_type, resource_id, actor, session_user_name,
                current_user_name, application_name, payload::text, length(salt), length(commitment))::text
       FROM steward.audit_events WHERE actor = 'nurse.berg'),
    row('APPLICATION', 'READ', 'patient', '17', 'nurse.berg', session_user::text,
        'audit_app', 'ward-app', '{"field": "allergies"}', 16, 32)::text,
    'the event records type, resource, actor, session and current user, application, salt and commitment');
RESET application_name;

SELECT throws_ok($$SELECT audit_append(NULL)$$, '22004', 'action must not be null', 'action is required');
SELECT throws_ok($$SELECT audit_append('')$$, '22023', 'action must not be empty', 'empty action refused');
SELECT throws_ok($$SELECT audit_append('X', resource_id => '')$$, '22023', NULL, 'empty resource_id refused');
SELECT throws_ok($$SELECT audit_append(repeat('x', 2000))$$, '22001', NULL, 'oversized action refused');
SELECT throws_ok($$SELECT audit_append('X', event_type => 'SCHEMA_MIGRATION')$$, '22023',
                 'event type "SCHEMA_MIGRATION" is reserved for pg_steward', 'reserved event types refused');
SELECT throws_ok($$SELECT audit_append('X', event_type => 'row_change')$$, '22023', NULL,
                 'reserved event types are refused in any letter case');
SELECT throws_ok($$SELECT audit_append('X', payload => '{bad')$$, '22P02', NULL, 'malformed payload refused');
SELECT throws_ok($$SELECT audit_append('X', event_type => 'LEDGER ')$$, '22023', 'invalid event type "LEDGER "',
                 'event types are capital letters, digits and underscores: a trailing space is refused');
SELECT throws_ok($$SELECT audit_append('X', event_type => 'RETENTİON')$$, '22023', NULL,
                 'a look-alike letter of another script is refused');
SELECT throws_ok($$SELECT audit_append('X', event_type => '1ST_VISIT')$$, '22023', NULL,
                 'an event type begins with a letter');
SELECT ok(audit_append('X', event_type => 'VISIT_2') > 0, 'capital letters, digits and underscores are accepted');

-- events in one transaction share its xid
BEGIN;
SELECT audit_append('ORDER', 'medication', 'm' || g, jsonb_build_object('dose', g)) FROM generate_series(1, 3) g;
SELECT is((SELECT count(DISTINCT xid)::int FROM steward.audit_events WHERE resource_id IN ('m1', 'm2', 'm3')), 1,
          'events of one transaction carry its xid');
SELECT throws_ok($$SELECT audit_seal()$$, '25001', NULL, 'a transaction that wrote cannot seal');
COMMIT;

SELECT audit_append('WRITE', 'note', 'n' || g, jsonb_build_object('text', 'note ' || g, 'n', g)) FROM generate_series(1, 10) g;

-- append-only ----------------------------------------------------------------
SELECT throws_ok($$UPDATE steward.audit_events SET actor = 'x'$$, '42501', NULL, 'UPDATE refused to the owner');
SELECT throws_ok($$DELETE FROM steward.audit_events$$, '42501', NULL, 'DELETE refused to the owner');
SELECT throws_ok($$TRUNCATE steward.audit_events$$, '42501', NULL, 'TRUNCATE refused to the owner');
SELECT throws_ok(format('TRUNCATE steward.audit_events_%s', extract(year FROM now())), '42501', NULL,
                 'TRUNCATE of a partition refused');

-- sealing and verifying --------------------------------------------------------
SELECT lives_ok('SELECT audit_seal()', 'audit_seal seals what is committed (the next tests check that nothing stays unsealed)');
SELECT throws_ok($$DELETE FROM steward.audit_blocks$$, '42501', NULL, 'blocks cannot be deleted');
SELECT is((SELECT events_unsealed FROM verify_audit_chain()), 0::bigint, 'nothing committed stays unsealed');
SELECT is((SELECT is_valid FROM verify_audit_chain()), true, 'the intact ledger verifies');
SELECT is((SELECT count(*) FROM verify_audit_chain() WHERE NOT is_valid), 0::bigint,
          'WHERE NOT is_valid returns nothing on an intact ledger');
SELECT is((SELECT events_checked FROM verify_audit_chain()),
          (SELECT count(*) FROM steward.audit_events), 'every event is checked');
SELECT is(audit_seal(), 0::bigint, 'a second seal finds nothing new');
SELECT is((SELECT row(head_block = (SELECT max(block_id) FROM steward.audit_blocks),
                      head_position = (SELECT count(*) FROM steward.audit_events),
                      events_unsealed, default_partition_events)::text FROM audit_status()),
          '(t,t,0,0)', 'audit_status shows the head and nothing unsealed');
BEGIN;
SELECT audit_append('PENDING');
SELECT is((SELECT events_unsealed FROM audit_status()), 1::bigint, 'audit_status counts unsealed events');
ROLLBACK;
SELECT is(
    (SELECT sha256('\x00'::bytea || audit_event_bytes(e.id))
       FROM steward.audit_events e WHERE e.resource_id = 'n5'),
    (SELECT substring(b.entries FROM (p.n * 56) + 25 FOR 32)
       FROM steward.audit_events e
       JOIN steward.audit_blocks b ON pg_visible_in_snapshot(e.xid, b.snapshot)
       CROSS JOIN LATERAL (SELECT n FROM generate_series(0, b.event_count::int - 1) n
                            WHERE substring(b.entries FROM n * 56 + 1 FOR 8) = int8send(e.id)) p
      WHERE e.resource_id = 'n5' ORDER BY b.block_id LIMIT 1),
    'sha256(0x00 || audit_event_bytes(id)) is the sealed leaf');
SELECT is((SELECT count(*)::int FROM (
              SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') AS d
                FROM generate_series(1, 300) n, generate_series(1, n) i GROUP BY n
              UNION ALL SELECT ''::bytea) m
            WHERE steward.sha256_check(d, false) = sha256(d) AND steward.sha256_check(d, true) = sha256(d)), 301,
          'the ledger''s SHA-256 (CPU extensions and portable) equals sha256() for 0 to 300 bytes');
SELECT is((SELECT count(*)::int FROM steward.audit_events
            WHERE payload IS NOT NULL
              AND commitment <> sha256('\x02'::bytea || salt || convert_to(payload::text, 'UTF8'))), 0,
          'commitment = sha256(0x02 || salt || payload text), as documented');
SELECT is((SELECT string_agg(DISTINCT format::text, ',') FROM steward.audit_blocks), '2',
          'seals write blocks of format 2');
SELECT is((SELECT count(*)::int FROM steward.audit_blocks
            WHERE block_hash <> sha256('\x03'::bytea || 'PSB'::bytea || '\x02'::bytea || int8send(block_id)
                                       || int8send(first_position) || int8send(event_count)
                                       || int8send((extract(epoch FROM sealed_at) * 1000000)::bigint)
                                       || merkle_root
                                       || sha256('\x04'::bytea || entries)
                                       || int8send(pg_snapshot_xmin(snapshot)::text::bigint)
                                       || int8send(pg_snapshot_xmax(snapshot)::text::bigint)
                                       || int8send((SELECT count(*) FROM pg_snapshot_xip(snapshot)))
                                       || coalesce((SELECT string_agg(int8send(x::text::bigint), ''::bytea ORDER BY x)
                                                      FROM pg_snapshot_xip(snapshot) x), ''::bytea)
                                       || prev_hash)), 0,
          'block hash = sha256(0x03 || PSB 2 || header || root || entries hash || snapshot || previous hash), as documented');
SELECT is(substring(audit_event_bytes(1) FROM 1 FOR 4), '\x50534501'::bytea, 'event bytes start with PSE and format 1');
SELECT throws_ok($$SELECT audit_event_bytes(-1)$$, '42704', NULL, 'unknown event');

-- tampering -------------------------------------------------------------------
CREATE FUNCTION pg_temp.tampered(tamper text, digest jsonb DEFAULT NULL,
                                 OUT is_valid boolean, OUT first_bad_event bigint,
                                 OUT first_bad_position bigint, OUT problem text)
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        SET LOCAL session_replication_role = replica;
        EXECUTE tamper;
        SELECT v.is_valid, v.first_bad_event, v.first_bad_position, v.problem
          INTO is_valid, first_bad_event, first_bad_position, problem
          FROM verify_audit_chain(trusted_digest => digest) v;
        RAISE EXCEPTION 'undo the tampering';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
END $$;
CREATE FUNCTION pg_temp.ev(rid text) RETURNS bigint LANGUAGE sql AS
    $$SELECT id FROM steward.audit_events WHERE resource_id = rid$$;

SELECT is((SELECT row(t.is_valid, t.first_bad_event, t.problem)::text
             FROM pg_temp.tampered(format('UPDATE steward.audit_events SET resource_id = %L WHERE id = %s', 'n99', pg_temp.ev('n4'))) t),
          row(false, pg_temp.ev('n4'), format('event %s was changed after sealing', pg_temp.ev('n4')))::text,
          'a changed field names the event');
SELECT is((SELECT row(t.is_valid, t.first_bad_event, t.problem)::text
             FROM pg_temp.tampered(format('UPDATE steward.audit_events SET event_time = event_time - interval ''1 hour'' WHERE id = %s', pg_temp.ev('n3'))) t),
          row(false, pg_temp.ev('n3'), format('event %s was moved: its xid or time differs from what was sealed', pg_temp.ev('n3')))::text,
          'a back-dated event names the event');
SELECT is((SELECT row(t.is_valid, t.first_bad_event, t.problem)::text
             FROM pg_temp.tampered(format('UPDATE steward.audit_events SET payload = %L WHERE id = %s', '{"n": 6, "text": "forged"}', pg_temp.ev('n6'))) t),
          row(false, pg_temp.ev('n6'), format('the payload of event %s does not match its commitment', pg_temp.ev('n6')))::text,
          'a changed payload names the event');
SELECT is((SELECT row(t.is_valid, t.first_bad_event, t.problem)::text
             FROM pg_temp.tampered(format('DELETE FROM steward.audit_events WHERE id = %s', pg_temp.ev('n7'))) t),
          row(false, pg_temp.ev('n7'), format('event %s is missing: it was deleted after sealing', pg_temp.ev('n7')))::text,
          'a deleted event is named');
SELECT is((SELECT row(t.is_valid, t.first_bad_event, t.problem)::text
             FROM pg_temp.tampered(format(
               'INSERT INTO steward.audit_events SELECT 900000, xid, event_time, event_type, action, resource_type, '
               '''forged'', actor, session_user_name, current_user_name, client_addr, application_name, commitment, salt, payload '
               '  FROM steward.audit_events WHERE id = %s', pg_temp.ev('n8'))) t),
          row(false, 900000::bigint, 'event 900000 is not in the chain: it was inserted after sealing')::text,
          'a forged event inserted into the sealed past is named');
SELECT is((SELECT row(t.is_valid, t.first_bad_event)::text
             FROM pg_temp.tampered(format('UPDATE steward.audit_events SET id = CASE id WHEN %1$s THEN %2$s ELSE %1$s END WHERE id IN (%1$s, %2$s)',
                                          pg_temp.ev('n2'), pg_temp.ev('n9'))) t),
          row(false, pg_temp.ev('n2'))::text,
          'two events swapped (reordered): the first position of the swap is named');
SELECT is((SELECT row(t.is_valid, t.first_bad_event, t.problem)::text
             FROM pg_temp.tampered(format('UPDATE steward.audit_events SET payload = NULL, salt = NULL WHERE id = %s', pg_temp.ev('n5'))) t),
          row(false, pg_temp.ev('n5'), format('the payload of event %s was erased without a redaction record', pg_temp.ev('n5')))::text,
          'a payload erased behind pg_steward''s back is not a redaction');
SELECT is((SELECT row(t.is_valid, t.first_bad_event, t.problem)::text
             FROM pg_temp.tampered(format(
               'UPDATE steward.audit_events SET payload = NULL, salt = NULL WHERE id = %1$s;'
               'INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, resource_type, resource_id, '
               '  session_user_name, current_user_name) '
               'VALUES (900001, ''9223372036854775000'', now(), ''REDACTION'', ''REDACT'', ''audit_event'', %1$L, ''x'', ''x'')',
               pg_temp.ev('n5'))) t),
          row(false, pg_temp.ev('n5'), format('the payload of event %s was erased without a redaction record', pg_temp.ev('n5')))::text,
          'a REDACTION record that was never sealed does not excuse an erased payload');
SELECT is((SELECT row(t.is_valid, t.first_bad_event, t.problem)::text
             FROM pg_temp.tampered(format('DELETE FROM steward.audit_events WHERE id >= %s', pg_temp.ev('n8'))) t),
          row(false, pg_temp.ev('n8'), format('event %s is missing: it was deleted after sealing', pg_temp.ev('n8')))::text,
          'a truncated tail of events names its first event');
SELECT is((SELECT t.first_bad_event FROM pg_temp.tampered(
             'UPDATE steward.audit_blocks SET merkle_root = sha256(''x'') WHERE block_id = (SELECT max(block_id) FROM steward.audit_blocks)') t),
          (SELECT id FROM steward.audit_events e JOIN steward.audit_blocks b ON b.block_id = (SELECT max(block_id) FROM steward.audit_blocks)
            WHERE substring(b.entries FROM 1 FOR 8) = int8send(e.id)),
          'a changed Merkle root names the block''s first event');
SELECT is((SELECT t.problem FROM pg_temp.tampered(
             'UPDATE steward.audit_blocks SET format = 1 WHERE block_id = (SELECT max(block_id) FROM steward.audit_blocks)') t),
          format('block %s: its hash does not match its header', (SELECT max(block_id) FROM steward.audit_blocks)),
          'a block of format 2 cannot be passed off as format 1');
SELECT is((SELECT t.problem FROM pg_temp.tampered(
             'UPDATE steward.audit_blocks SET format = 3 WHERE block_id = (SELECT max(block_id) FROM steward.audit_blocks)') t),
          format('block %s has an unknown format 3', (SELECT max(block_id) FROM steward.audit_blocks)),
          'an unknown block format is reported');
SELECT is((SELECT t.problem FROM pg_temp.tampered(
             'UPDATE steward.audit_blocks SET snapshot = ''1:1:'' WHERE block_id = (SELECT max(block_id) FROM steward.audit_blocks)') t),
          format('block %s: its hash does not match its header', (SELECT max(block_id) FROM steward.audit_blocks)),
          'an edited snapshot is a changed header, not missing events');

-- digests: a cut tail (events and blocks) and a regenerated chain
SELECT audit_append('LATE', 'note', 'late1');
SELECT audit_seal();
SELECT audit_digest() AS digest \gset
SELECT is((SELECT is_valid FROM verify_audit_chain(trusted_digest => :'digest')), true,
          'the ledger extends the trusted digest');
SELECT is((SELECT row(t.is_valid, t.first_bad_position)::text FROM pg_temp.tampered(
             format('DELETE FROM steward.audit_events WHERE id >= %s; DELETE FROM steward.audit_blocks WHERE block_id = %s',
                    pg_temp.ev('late1'), (:'digest'::jsonb->>'block')), :'digest') t),
          row(false, (:'digest'::jsonb->>'position')::bigint)::text,
          'cutting the tail with its block is caught by the trusted digest, at the cut position');
SELECT is((SELECT is_valid FROM pg_temp.tampered(
             format('DELETE FROM steward.audit_events WHERE id >= %s; DELETE FROM steward.audit_blocks WHERE block_id = %s',
                    pg_temp.ev('late1'), (:'digest'::jsonb->>'block'))) t),
          true, 'without a digest a cut tail with its block looks intact (forward integrity)');
SELECT is((SELECT t.problem FROM pg_temp.tampered(
             format('UPDATE steward.audit_blocks SET block_hash = sha256(block_hash) WHERE block_id = %s', (:'digest'::jsonb->>'block')), :'digest') t),
          format('block %s: its hash does not match its header', :'digest'::jsonb->>'block'),
          'a rewritten head block is caught');
SELECT throws_ok($$SELECT * FROM verify_audit_chain(trusted_digest => '{"block": 1}')$$, '22023', NULL,
                 'a malformed digest is refused');
SELECT throws_ok(format('SELECT * FROM verify_audit_chain(trusted_digest => %L)',
                        jsonb_set(:'digest'::jsonb, '{block}', '"zz"')), '22023', NULL,
                 'a digest with a non-numeric block is refused');
SELECT is((SELECT is_valid FROM verify_audit_chain(trusted_digest =>
              jsonb_set(:'digest'::jsonb, '{hash}', to_jsonb(repeat('0', 64))))), false,
          'a digest with another hash does not verify');
SELECT is((SELECT events_checked FROM verify_audit_chain(since => :'digest')), 0::bigint,
          'since a digest, verification starts after it');

-- redaction --------------------------------------------------------------------
SELECT ok(audit_redact(pg_temp.ev('n5'), 'GDPR Art. 17 request 2026-114') > pg_temp.ev('n5'),
          'audit_redact returns the REDACTION event');
SELECT is((SELECT row(payload IS NULL, salt IS NULL, commitment IS NOT NULL)::text
             FROM steward.audit_events WHERE id = pg_temp.ev('n5')), '(t,t,t)',
          'payload and salt are erased, the commitment stays');
SELECT is((SELECT payload->>'reason' FROM steward.audit_events
            WHERE event_type = 'REDACTION' AND resource_id = pg_temp.ev('n5')::text),
          'GDPR Art. 17 request 2026-114', 'the redaction is itself an event with its reason');
SELECT lives_ok('SELECT audit_seal()', 'seal after redaction');
SELECT is((SELECT row(is_valid, events_redacted)::text FROM verify_audit_chain()), '(t,1)',
          'the chain still verifies and reports the event as redacted');
SELECT throws_ok(format('SELECT audit_redact(%s, %L)', pg_temp.ev('n5'), 'again'), '55000', NULL,
                 'an event is redacted once');
SELECT throws_ok($$SELECT audit_redact(1, '')$$, '22023', NULL, 'a reason is required');
SELECT throws_ok($$SELECT audit_redact(-5, 'x')$$, '42704', NULL, 'unknown event');
SELECT is((SELECT is_valid FROM verify_audit_chain(since => :'digest')), true, 'verification since a digest');

-- payloads of every shape: audit_append renders each with jsonb's output
-- function, verification with its own walk of the stored jsonb
SELECT audit_append('SHAPE', 'payload', v, v::jsonb) FROM (VALUES
    ('{}'), ('[]'), ('null'), ('true'), ('false'), ('0'), ('-0'), ('1.50'), ('-1e100'), ('1e-100'),
    ('123456789012345678901234567890.000001'), ('"plain"'), ('""'), ('"a\"b\\c\/d"'),
    ('"\b\f\n\r\t"'), ('"\u0001\u001f\u007f"'), ('"ü€𝄞 日本"'),
    ('{"b": 1, "a": "x", "aa": [1, {"c": null}], "": {}}'), ('[[], [[]], {"a": []}, [{}]]'),
    ('{"k\"ey\n": "v\u0002al", "x": [true, false, null, 1.0, "s"]}')) t(v);
SELECT audit_append('SHAPE', 'payload', 'wide', jsonb_object_agg('key' || g,
           CASE g % 4 WHEN 0 THEN to_jsonb(g) WHEN 1 THEN to_jsonb('v' || g)
                      WHEN 2 THEN jsonb_build_array(g, 'x', NULL) ELSE jsonb_build_object('n', g * 1.5) END))
  FROM generate_series(1, 100) g;
SELECT audit_append('SHAPE', 'payload', 'toasted', jsonb_agg(repeat(md5(g::text), 20)))
  FROM generate_series(1, 200) g;
SELECT audit_append('SHAPE', 'payload', 'deep', ('{"a": ' || repeat('[', 100) || '1' || repeat(']', 100) || '}')::jsonb);
-- strings long enough to be read eight bytes at a time, with every kind of
-- escape (and multi-byte characters) at every offset of a word
SELECT audit_append('SHAPE', 'payload', 'escapes at every offset',
           jsonb_agg(repeat('x', g) || E'\\' || repeat('ü', g % 3) || '"' || repeat('y', 17 - g)
                     || E'\n' || chr(1) || repeat('z', g) || chr(31) || chr(127) || E'\t' || repeat('w', 16)))
  FROM generate_series(0, 17) g;
SELECT audit_seal();
SELECT is((SELECT row(is_valid, events_unsealed)::text FROM verify_audit_chain()), '(t,0)',
          'payloads of every shape verify against the commitments appended with them');
SELECT is((SELECT t.problem FROM pg_temp.tampered(
             $$UPDATE steward.audit_events SET payload = '{"k\"ey\n": "v\u0002al", "x": [true, false, null, 1.0, "t"]}'
                WHERE action = 'SHAPE' AND resource_id LIKE '{"k%'$$) t),
          (SELECT format('the payload of event %s does not match its commitment', id)
             FROM steward.audit_events WHERE action = 'SHAPE' AND resource_id LIKE '{"k%'),
          'a payload changed in one character is caught');

-- row-change auditing ----------------------------------------------------------
CREATE TABLE ward (id int PRIMARY KEY, bed text);
SELECT is(audit_table('ward'), true, 'audit_table attaches auditing');
SELECT is(audit_table('ward'), false, 'attaching twice is a no-op');
SELECT is((SELECT action || ' ' || resource_id FROM steward.audit_events
            WHERE event_type = 'LEDGER' ORDER BY id DESC LIMIT 1),
          'AUDIT_TABLE public.ward', 'attaching auditing is itself a LEDGER event');
INSERT INTO ward VALUES (1, 'A1');
UPDATE ward SET bed = 'B2' WHERE id = 1;
DELETE FROM ward;
SELECT is(
    (SELECT string_agg(concat_ws(' ', action, resource_type, resource_id, payload->'old'->>'bed', payload->'new'->>'bed'), '; ' ORDER BY id)
       FROM steward.audit_events WHERE event_type = 'ROW_CHANGE'),
    'INSERT public.ward 1 A1; UPDATE public.ward 1 A1 B2; DELETE public.ward 1 B2',
    'INSERT, UPDATE and DELETE are written with the previous and current row');
SELECT is(unaudit_table('ward'), true, 'unaudit_table detaches it');
INSERT INTO ward VALUES (2, 'C3');
SELECT is((SELECT count(*)::int FROM steward.audit_events WHERE event_type = 'ROW_CHANGE'), 3,
          'no event after unaudit_table');
SELECT throws_ok($$SELECT audit_table('steward.audit_blocks')$$, '22023', NULL, 'the ledger cannot audit itself');
SELECT throws_ok($$SELECT audit_table('pg_class')$$, '42501', NULL, 'system catalogs are refused');
GRANT EXECUTE ON FUNCTION audit_table(regclass) TO audit_app;
SET ROLE audit_app;
SELECT throws_ok($$SELECT audit_table('ward')$$, '42501', 'must be owner of table ward', 'only the table owner');
RESET ROLE;

-- migrations are SCHEMA_MIGRATION events ----------------------------------------
SELECT migrate_apply('20260101_audit_test', 'CREATE TABLE audit_mig_t (id int)');
SELECT is((SELECT action || ' ' || resource_id FROM steward.audit_events
            WHERE event_type = 'SCHEMA_MIGRATION' ORDER BY id DESC LIMIT 1),
          'APPLY 20260101_audit_test', 'migrate_apply appends a SCHEMA_MIGRATION event');

-- retention -------------------------------------------------------------------
CREATE TABLE steward.audit_events_2010 PARTITION OF steward.audit_events
    FOR VALUES FROM ('2010-01-01 00:00+00') TO ('2011-01-01 00:00+00');
INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
SELECT nextval('steward.audit_events_id_seq'), pg_current_xact_id(), '2010-06-01 00:00+00', 'APPLICATION', 'OLD', 'x', 'x'
  FROM generate_series(1, 5);
SELECT ok(audit_seal() >= 5, 'old events sealed');
SELECT is((SELECT detail FROM audit_drop_expired(dry_run => true) WHERE partition_name = 'audit_events_2010'),
          'kept: an event type in it has no retention policy', 'no policy: kept');
SELECT audit_set_retention('*', '10 years');
SET DateStyle = 'Postgres, DMY';
SET TimeZone = 'Asia/Kolkata';
SELECT is((SELECT row(dropped, events)::text FROM audit_drop_expired() WHERE partition_name = 'audit_events_2010'),
          '(t,5)', 'an expired partition is dropped (whatever the session''s DateStyle and TimeZone)');
RESET DateStyle;
RESET TimeZone;
SELECT is((SELECT row(events_dropped, range_from)::text FROM steward.audit_epochs),
          row(5::bigint, '2010-01-01 00:00+00'::timestamptz)::text, 'an epoch records what was dropped');
SELECT ok(audit_seal() >= 1, 'the RETENTION event is sealed');
SELECT is((SELECT row(is_valid, events_pruned)::text FROM verify_audit_chain()), '(t,5)',
          'the rest of the ledger still verifies; dropped events count as pruned');
SELECT throws_ok($$SELECT audit_set_retention('*', '-1 day')$$, '22023', NULL, 'negative retention refused');
SELECT is((SELECT row(t.is_valid, t.problem)::text FROM pg_temp.tampered(
             'UPDATE steward.audit_epochs SET range_to = range_to + interval ''100 years'';'
             'DELETE FROM steward.audit_events WHERE resource_id = ''n1''') t),
          row(false, 'the retention epochs do not match the newest RETENTION event of the ledger')::text,
          'widening an epoch to hide a deletion is caught');
SELECT is((SELECT row(t.is_valid, t.problem)::text FROM pg_temp.tampered(
             'INSERT INTO steward.audit_epochs (partition_name, range_from, range_to, events_dropped, dropped_root, '
             '  head_block, head_hash, retention_event) '
             'SELECT ''audit_events_x'', now() - interval ''1 day'', now() + interval ''1 day'', 1, ''\x00'', 0, ''\x00'', 0;'
             'INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, resource_type, resource_id, '
             '  session_user_name, current_user_name, payload) '
             'SELECT 900002, ''9223372036854775000'', now(), ''RETENTION'', ''DROP_PARTITION'', ''partition'', ''audit_events_x'', '
             '  ''x'', ''x'', jsonb_build_object(''epochs'', (SELECT jsonb_agg(jsonb_build_object(''partition'', partition_name, '
             '  ''range_from'', range_from, ''range_to'', range_to, ''events_dropped'', events_dropped)) FROM steward.audit_epochs))') t),
          row(false, 'the retention epochs do not match the newest RETENTION event of the ledger')::text,
          'an epoch vouched for by a RETENTION event that was never sealed is caught');
SELECT is((SELECT row(t.is_valid, t.problem)::text FROM pg_temp.tampered(
             'DELETE FROM steward.audit_epochs') t),
          row(false, 'the retention epochs do not match the newest RETENTION event of the ledger')::text,
          'removing an epoch is caught');

-- audit_status reads the unsealed events through the xid index: no partition
-- that holds events is read whole (the default partition is counted whole,
-- as documented).  The pending event is the transaction's own, so no sealer
-- takes it meanwhile.
SELECT is((SELECT count(audit_append('STATUS', 'patient', g::text)) FROM generate_series(1, 5000) g), 5000::bigint,
          '5000 more events');
SELECT lives_ok('SELECT audit_seal()', 'sealed');
SELECT is((SELECT events_unsealed FROM audit_status()), 0::bigint, 'nothing is left unsealed');
ANALYZE steward.audit_events;
BEGIN;
SELECT ok(audit_append('STATUS-PENDING') > 0, 'one more, not committed');
CREATE TEMP TABLE status_parts AS SELECT DISTINCT tableoid AS relid FROM steward.audit_events;
CREATE TEMP TABLE status_scans AS
    SELECT relid, seq_scan FROM pg_stat_xact_user_tables WHERE relid IN (SELECT relid FROM status_parts);
SELECT is((SELECT count(*) FROM status_scans), 1::bigint, 'the events are in one partition');
SELECT is((SELECT events_unsealed FROM audit_status()), 1::bigint, 'audit_status counts the one unsealed event');
SELECT is((SELECT sum(x.seq_scan - s.seq_scan) FROM pg_stat_xact_user_tables x JOIN status_scans s USING (relid)),
          0::numeric, 'audit_status reads no partition of events whole');
COMMIT;

SELECT * FROM finish();
