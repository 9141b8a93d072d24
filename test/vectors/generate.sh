#!/usr/bin/env bash
# test/vectors/generate.sh DIR: write the ledger test vectors into DIR.
#
# Builds a small ledger in the database psql connects to (PGHOST, PGPORT,
# PGDATABASE, PGUSER: a fresh database with pg_steward, as a superuser, with
# pg_steward.audit_seal_interval = 0 so that only the seals below seal):
# five blocks, the first of 303 events (so that the tree has nodes of 256
# leaves); events with payloads, one of them redacted, and events of
# 2010 that retention dropped (an epoch); then exports it as
# docs/audit.md's outside verifier reads it (blocks.jsonl, events.jsonl,
# epochs.jsonl) and writes tree.json: the leaf of every position, the head
# of the ledger tree at every block (the digest of that block), receipts of
# some events against some heads, and a consistency proof between every two
# heads.  The committed vectors were made once; running this again makes
# other ones (salts, times and transaction ids differ), equally valid.
set -euo pipefail
out=${1:?usage: generate.sh DIR}
mkdir -p "$out"
q() { psql -X -v ON_ERROR_STOP=1 -Atq "$@"; }

q <<'SQL'
SET search_path = public, steward;
SELECT audit_append('READ', 'patient', 'P-1', '{"field": "diagnosis"}', 'dr.adeyemi');
SELECT audit_append('UPDATE', 'patient', 'P-1', '{"field": "dosage", "new": "10 mg", "note": "Größe ✓"}', 'dr.adeyemi');
SELECT audit_append('READ', 'patient', 'P-2', NULL, 'dr.jung');
SELECT count(audit_append('READ', 'ward', 'W-' || g % 7, jsonb_build_object('bed', g), 'nurse.' || g % 3))
  FROM generate_series(1, 300) g;
SELECT audit_seal();
CREATE TABLE steward.audit_events_2010 PARTITION OF steward.audit_events
    FOR VALUES FROM ('2010-01-01 00:00+00') TO ('2011-01-01 00:00+00');
INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
SELECT nextval('steward.audit_events_id_seq'), pg_current_xact_id(), t, 'APPLICATION', 'OLD', 'archive', 'archive'
  FROM (VALUES ('2010-03-01 08:00+00'::timestamptz), ('2010-09-01 17:30+00')) v(t);
SELECT audit_append('EXPORT', 'patient', 'P-1', '{"to": "lab"}', 'dr.jung');
SELECT audit_seal();
SELECT audit_redact((SELECT min(id) FROM steward.audit_events WHERE action = 'UPDATE'), 'erasure request 2026-17');
SELECT audit_seal();
SELECT audit_set_retention('APPLICATION', '1 year');
SELECT count(*) FROM audit_drop_expired();
SELECT audit_append('LOGIN', 'user', 'dr.jung');
SELECT audit_seal();
SQL

q > "$out/blocks.jsonl" <<'SQL'
SELECT json_build_object(
         'block_id', block_id, 'format', format, 'snapshot', snapshot::text,
         'first_position', first_position, 'event_count', event_count,
         'sealed_at_us', CASE WHEN sealed_at > '-infinity' AND sealed_at < '294247-01-01 00:00+00'
                              THEN (extract(epoch FROM sealed_at) * 1000000)::bigint END,
         'merkle_root', encode(merkle_root, 'hex'), 'prev_hash', encode(prev_hash, 'hex'),
         'block_hash', encode(block_hash, 'hex'), 'entries', encode(entries, 'hex'))
  FROM steward.audit_blocks ORDER BY block_id;
SQL
q > "$out/events.jsonl" <<'SQL'
SELECT json_build_object(
         'id', id, 'xid', xid::text::bigint,
         'time_us', CASE WHEN event_time > '-infinity' AND event_time < '294247-01-01 00:00+00'
                         THEN (extract(epoch FROM event_time) * 1000000)::bigint END,
         'event_type', event_type, 'action', action, 'resource_type', resource_type,
         'resource_id', resource_id, 'actor', actor, 'session_user_name', session_user_name,
         'current_user_name', current_user_name, 'client_addr', client_addr,
         'application_name', application_name, 'commitment', encode(commitment, 'hex'),
         'salt', encode(salt, 'hex'), 'payload', payload::text)
  FROM steward.audit_events ORDER BY id;
SQL
q > "$out/epochs.jsonl" <<'SQL'
SELECT json_build_object(
         'epoch_id', epoch_id, 'partition', partition_name, 'events_dropped', events_dropped,
         'from_us', (extract(epoch FROM range_from) * 1000000)::bigint,
         'to_us', (extract(epoch FROM range_to) * 1000000)::bigint)
  FROM steward.audit_epochs ORDER BY epoch_id;
SQL

q > "$out/tree.json" <<'SQL'
WITH heads AS (
    SELECT b.block_id, jsonb_build_object('block', b.block_id,
               'position', b.first_position + b.event_count - 1,
               'hash', encode(b.block_hash, 'hex'),
               'tree_size', b.first_position + b.event_count - 1,
               'tree_root', encode(steward.audit_tree_root(b.first_position + b.event_count - 1), 'hex')) AS d
      FROM steward.audit_blocks b),
leaves AS (
    SELECT jsonb_agg(encode(substr(b.entries, (i * 56 + 25)::int, 32), 'hex') ORDER BY b.first_position + i) AS l
      FROM steward.audit_blocks b, generate_series(0, b.event_count - 1) i),
positions AS (
    SELECT ('x' || encode(substr(b.entries, (i * 56 + 1)::int, 8), 'hex'))::bit(64)::bigint AS id,
           b.first_position + i AS position
      FROM steward.audit_blocks b, generate_series(0, b.event_count - 1) i),
receipts AS (
    -- the redacted event, an intact one, the REDACTION and RETENTION events:
    -- against the first head that has them and against the newest
    SELECT jsonb_agg(steward.audit_proof(e.id, h.d, with_payload => true) ORDER BY h.block_id, e.id) AS r
      FROM steward.audit_events e JOIN positions p ON p.id = e.id, heads h
     WHERE (e.action IN ('UPDATE', 'EXPORT') OR e.event_type IN ('REDACTION', 'RETENTION'))
       AND (h.d->>'tree_size')::bigint >= p.position
       AND (h.block_id = (SELECT max(block_id) FROM heads)
            OR h.block_id = (SELECT min(h2.block_id) FROM heads h2 WHERE (h2.d->>'tree_size')::bigint >= p.position))),
proofs AS (
    SELECT jsonb_agg(steward.audit_consistency(a.d, b.d) ORDER BY a.block_id, b.block_id) AS c
      FROM heads a JOIN heads b ON a.block_id <= b.block_id)
SELECT jsonb_pretty(jsonb_build_object(
         'format', 'pg_steward ledger tree vectors v1',
         'empty_tree_root', encode(sha256(''::bytea), 'hex'),
         'leaves', (SELECT l FROM leaves),
         'heads', (SELECT jsonb_agg(d ORDER BY block_id) FROM heads),
         'receipts', (SELECT r FROM receipts),
         'consistency', (SELECT c FROM proofs)))
SQL
echo "vectors written to $out"
