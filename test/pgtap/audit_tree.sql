-- pgTAP: the ledger tree.  A digest names the tree's size and root (the
-- RFC 9162 Merkle tree over every sealed leaf); audit_proof returns a
-- receipt that verifies against it with SHA-256 alone, against a later
-- digest too; a tampered receipt does not verify; audit_consistency proves
-- that a later head extends an earlier one, and refuses a ledger rewritten
-- since.  The verifier below is written from docs/audit.md ("The ledger
-- tree") in SQL, so the specification is what is checked.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward installed.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(44);

-- the verifier ---------------------------------------------------------------
CREATE FUNCTION pg_temp.node(l bytea, r bytea) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT sha256('\x01'::bytea || l || r) $$;
-- MTH over leaves[lo:hi) (0-based, hi exclusive)
CREATE FUNCTION pg_temp.mth(leaves bytea[], lo int, hi int) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n int := hi - lo;
    k int := 1;
BEGIN
    IF n = 0 THEN RETURN sha256(''::bytea); END IF;
    IF n = 1 THEN RETURN leaves[lo + 1]; END IF;
    WHILE k * 2 < n LOOP k := k * 2; END LOOP;
    RETURN pg_temp.node(pg_temp.mth(leaves, lo, lo + k), pg_temp.mth(leaves, lo + k, hi));
END $$;
CREATE FUNCTION pg_temp.all_leaves() RETURNS bytea[] LANGUAGE sql AS $$
    SELECT array_agg(substr(b.entries, (i * 56 + 25)::int, 32) ORDER BY b.first_position, i)
      FROM steward.audit_blocks b, generate_series(0, b.event_count - 1) i
$$;
-- RFC 9162 §2.1.3.2, as docs/audit.md gives it
CREATE FUNCTION pg_temp.receipt_ok(r jsonb, d jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    fn bigint := (r->>'leaf_index')::bigint;
    sn bigint := (r->>'tree_size')::bigint - 1;
    h bytea := sha256('\x00'::bytea || decode(r->>'event_bytes', 'base64'));
    p text;
BEGIN
    IF (r->>'tree_size') IS DISTINCT FROM (d->>'tree_size') OR (r->>'tree_root') IS DISTINCT FROM (d->>'tree_root')
       OR h <> decode(r->>'leaf', 'base64') OR fn > sn THEN
        RETURN false;
    END IF;
    FOR p IN SELECT jsonb_array_elements_text(r->'audit_path') LOOP
        IF sn = 0 THEN RETURN false; END IF;
        IF fn % 2 = 1 OR fn = sn THEN
            h := pg_temp.node(decode(p, 'base64'), h);
            IF fn % 2 = 0 THEN
                LOOP fn := fn >> 1; sn := sn >> 1; EXIT WHEN fn % 2 = 1 OR fn = 0; END LOOP;
            END IF;
        ELSE
            h := pg_temp.node(h, decode(p, 'base64'));
        END IF;
        fn := fn >> 1; sn := sn >> 1;
    END LOOP;
    RETURN sn = 0 AND encode(h, 'hex') = d->>'tree_root';
END $$;
-- RFC 9162 §2.1.4.2
CREATE FUNCTION pg_temp.consistency_ok(c jsonb, o jsonb, n jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    m bigint := (o->>'tree_size')::bigint;
    sz bigint := (n->>'tree_size')::bigint;
    old_root bytea := decode(o->>'tree_root', 'hex');
    new_root bytea := decode(n->>'tree_root', 'hex');
    proof bytea[] := ARRAY(SELECT decode(x, 'base64') FROM jsonb_array_elements_text(c->'proof') x);
    fn bigint; sn bigint; fr bytea; sr bytea;
BEGIN
    IF m > sz THEN RETURN false; END IF;
    IF m = sz THEN RETURN cardinality(proof) = 0 AND old_root = new_root; END IF;
    IF m = 0 THEN RETURN cardinality(proof) = 0; END IF;
    IF m & (m - 1) = 0 THEN proof := old_root || proof; END IF;
    IF cardinality(proof) = 0 THEN RETURN false; END IF;
    fn := m - 1; sn := sz - 1;
    WHILE fn % 2 = 1 LOOP fn := fn >> 1; sn := sn >> 1; END LOOP;
    fr := proof[1]; sr := proof[1];
    FOR i IN 2 .. cardinality(proof) LOOP
        IF sn = 0 THEN RETURN false; END IF;
        IF fn % 2 = 1 OR fn = sn THEN
            fr := pg_temp.node(proof[i], fr); sr := pg_temp.node(proof[i], sr);
            IF fn % 2 = 0 THEN
                LOOP fn := fn >> 1; sn := sn >> 1; EXIT WHEN fn % 2 = 1 OR fn = 0; END LOOP;
            END IF;
        ELSE
            sr := pg_temp.node(sr, proof[i]);
        END IF;
        fn := fn >> 1; sn := sn >> 1;
    END LOOP;
    RETURN sn = 0 AND fr = old_root AND sr = new_root;
END $$;

-- privileges -----------------------------------------------------------------
SELECT ok(NOT has_function_privilege('public', 'audit_proof(bigint, jsonb, boolean)', 'EXECUTE'),
          'audit_proof is not executable by PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'audit_consistency(jsonb, jsonb)', 'EXECUTE'),
          'audit_consistency is not executable by PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'steward.audit_tree_extend()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'steward.audit_tree_root(bigint)', 'EXECUTE'),
          'the tree''s internal functions are not executable by PUBLIC');

-- a ledger sealed in three steps -----------------------------------------------
CREATE TEMP TABLE digests (n int PRIMARY KEY, d jsonb);
INSERT INTO digests SELECT 0, audit_digest();
SELECT count(audit_append('READ', 'patient', 'P-' || g, jsonb_build_object('n', g), 'dr.adeyemi'))
  FROM generate_series(1, 300) g;
SELECT audit_seal();
INSERT INTO digests SELECT 1, audit_digest();
SELECT count(audit_append('READ', 'patient', 'P-' || g, jsonb_build_object('n', g), 'dr.jung'))
  FROM generate_series(301, 512) g;
SELECT audit_seal();
INSERT INTO digests SELECT 2, audit_digest();
SELECT count(audit_append('UPDATE', 'patient', 'P-' || g, jsonb_build_object('n', g), 'dr.jung'))
  FROM generate_series(513, 777) g;
SELECT audit_seal();
INSERT INTO digests SELECT 3, audit_digest();
CREATE TEMP TABLE leaves AS SELECT pg_temp.all_leaves() AS l;

SELECT is((SELECT d->>'format' FROM digests WHERE n = 3), 'pg_steward ledger digest v2', 'digests are of format v2');
SELECT ok((SELECT bool_and((d->>'tree_size') = (d->>'position')) FROM digests), 'a digest''s tree_size is its position');
SELECT is((SELECT d->>'tree_root' FROM digests WHERE n = 0), encode(sha256(''::bytea), 'hex'),
          'the empty ledger''s root is H("")');
SELECT ok((SELECT bool_and(d->>'tree_root' = encode(pg_temp.mth(l, 0, (d->>'tree_size')::int), 'hex'))
             FROM digests, leaves WHERE n > 0),
          'every digest names the Merkle Tree Hash of the leaves sealed up to it');
SELECT is((SELECT array_agg(level || ':' || idx ORDER BY level, idx) FROM steward.audit_tree),
          ARRAY['8:0', '8:1', '8:2', '9:0'], 'the tree stores its complete nodes of 256 leaves and up');
SELECT is((SELECT hash FROM steward.audit_tree WHERE level = 9 AND idx = 0), (SELECT pg_temp.mth(l, 0, 512) FROM leaves),
          'a stored node is the root of its leaves');

-- receipts -----------------------------------------------------------------------
CREATE TEMP TABLE ev AS
    SELECT min(id) AS first, (SELECT id FROM steward.audit_events WHERE resource_id = 'P-400') AS mid,
           max(id) AS last FROM steward.audit_events WHERE resource_type = 'patient';
CREATE TEMP TABLE r AS
    SELECT 'first@3' AS k, audit_proof((SELECT first FROM ev), (SELECT d FROM digests WHERE n = 3)) AS j
    UNION ALL SELECT 'first@1', audit_proof((SELECT first FROM ev), (SELECT d FROM digests WHERE n = 1))
    UNION ALL SELECT 'mid@2', audit_proof((SELECT mid FROM ev), (SELECT d FROM digests WHERE n = 2))
    UNION ALL SELECT 'last@3', audit_proof((SELECT last FROM ev), (SELECT d FROM digests WHERE n = 3))
    UNION ALL SELECT 'last@newest', audit_proof((SELECT last FROM ev));
SELECT ok(pg_temp.receipt_ok((SELECT j FROM r WHERE k = 'first@1'), (SELECT d FROM digests WHERE n = 1)),
          'a receipt verifies against its digest');
SELECT ok(pg_temp.receipt_ok((SELECT j FROM r WHERE k = 'first@3'), (SELECT d FROM digests WHERE n = 3)),
          'a receipt of an old event verifies against a later digest');
SELECT ok(pg_temp.receipt_ok((SELECT j FROM r WHERE k = 'mid@2'), (SELECT d FROM digests WHERE n = 2)),
          'a receipt at a tree size that is a power of two verifies');
SELECT ok(pg_temp.receipt_ok((SELECT j FROM r WHERE k = 'last@3'), (SELECT d FROM digests WHERE n = 3)),
          'a receipt of the newest leaf verifies');
SELECT is((SELECT j - 'created_at' FROM r WHERE k = 'last@newest'), (SELECT j FROM r WHERE k = 'last@3'),
          'without a digest, the receipt is for the newest block');
SELECT is((SELECT (j->>'position')::bigint - (j->>'leaf_index')::bigint FROM r WHERE k = 'mid@2'), 1::bigint,
          'leaf_index is position - 1');
SELECT is((SELECT decode(j->>'event_bytes', 'base64') FROM r WHERE k = 'mid@2'),
          audit_event_bytes((SELECT mid FROM ev)), 'the receipt carries the event''s bytes');
SELECT ok(NOT (SELECT j ? 'payload' FROM r WHERE k = 'mid@2'), 'no payload unless asked for');
SELECT ok(NOT pg_temp.receipt_ok((SELECT j FROM r WHERE k = 'first@1'), (SELECT d FROM digests WHERE n = 3)),
          'a receipt does not verify against another digest');

-- tampered receipts do not verify
SELECT ok(NOT pg_temp.receipt_ok(
            jsonb_set(j, '{audit_path,2}', to_jsonb(encode(sha256('x'::bytea), 'base64')))
          , (SELECT d FROM digests WHERE n = 3)), 'a receipt with a changed path hash does not verify')
  FROM r WHERE k = 'first@3';
SELECT ok(NOT pg_temp.receipt_ok(
            jsonb_set(j, '{event_bytes}', to_jsonb(encode(overlay(decode(j->>'event_bytes', 'base64')
                                                  PLACING '\x51'::bytea FROM 40 FOR 1), 'base64')))
          , (SELECT d FROM digests WHERE n = 3)), 'a receipt with changed event bytes does not verify')
  FROM r WHERE k = 'first@3';
SELECT ok(NOT pg_temp.receipt_ok(
            jsonb_set(jsonb_set(j, '{leaf_index}', to_jsonb((j->>'leaf_index')::int + 1)),
                      '{position}', to_jsonb((j->>'position')::int + 1))
          , (SELECT d FROM digests WHERE n = 3)), 'a receipt moved to another position does not verify')
  FROM r WHERE k = 'first@3';
SELECT ok(NOT pg_temp.receipt_ok(j #- '{audit_path,0}', (SELECT d FROM digests WHERE n = 3)),
          'a receipt with a hash left out does not verify')
  FROM r WHERE k = 'first@3';

-- with the payload, the commitment is checked too
SELECT ok(sha256('\x02'::bytea || decode(j->>'salt', 'base64') || convert_to(j->>'payload', 'UTF8'))
          = substr(decode(j->>'event_bytes', 'base64'), length(decode(j->>'event_bytes', 'base64')) - 31),
          'with_payload: H(0x02 || salt || payload) is the commitment at the end of the event bytes')
  FROM (SELECT audit_proof((SELECT mid FROM ev), with_payload => true) AS j) x;

-- a redacted event keeps its receipt
SELECT audit_redact((SELECT mid FROM ev), 'erasure request');
SELECT audit_seal();
SELECT ok(pg_temp.receipt_ok(j, audit_digest()) AND (j->>'redacted')::boolean AND j->'payload' = 'null'::jsonb,
          'the receipt of a redacted event verifies, says redacted, and has no payload')
  FROM (SELECT audit_proof((SELECT mid FROM ev), with_payload => true) AS j) x;

-- what is refused
SELECT throws_ok($$SELECT audit_proof(NULL)$$, '22004', NULL, 'event_id must not be null');
SELECT throws_ok($$SELECT audit_proof(-5)$$, '42704', NULL, 'an event that does not exist');
SELECT throws_ok($$SELECT audit_proof((SELECT last FROM ev), (SELECT d FROM digests WHERE n = 1))$$, '55000', NULL,
                 'an event not sealed within the digest''s head');
SELECT audit_append('READ', 'patient', 'P-unsealed') AS unsealed \gset
SELECT throws_ok(format('SELECT audit_proof(%s)', :unsealed), '55000', NULL, 'an event not sealed yet');
SELECT throws_ok($$SELECT audit_proof((SELECT first FROM ev), '{"block": 1}')$$, '22023', NULL, 'a malformed digest');
SELECT throws_ok($$SELECT audit_proof((SELECT first FROM ev), (SELECT d || '{"tree_size": 5}' FROM digests WHERE n = 3))$$,
                 '22023', NULL, 'a digest whose tree_size is not its position');
SELECT throws_ok($$SELECT audit_proof((SELECT first FROM ev),
                   (SELECT jsonb_set(d, '{tree_root}', to_jsonb(encode(sha256('x'::bytea), 'hex'))) FROM digests WHERE n = 3))$$,
                 'XX001', NULL, 'a digest whose tree root the ledger does not have');

-- consistency proofs ------------------------------------------------------------
SELECT ok(bool_and(pg_temp.consistency_ok(audit_consistency(a.d, b.d), a.d, b.d)),
          'every older head is extended by every newer one')
  FROM digests a JOIN digests b ON a.n <= b.n;
SELECT is(jsonb_array_length(audit_consistency(d, d)->'proof'), 0, 'a head extends itself with an empty proof')
  FROM digests WHERE n = 2;
SELECT ok(pg_temp.consistency_ok(audit_consistency(d), d, audit_digest()), 'without new_digest: the newest head')
  FROM digests WHERE n = 1;
SELECT ok(NOT pg_temp.consistency_ok(
            jsonb_set(audit_consistency(a.d, b.d), '{proof,0}', to_jsonb(encode(sha256('x'::bytea), 'base64'))),
            a.d, b.d), 'a tampered consistency proof does not verify')
  FROM digests a, digests b WHERE a.n = 1 AND b.n = 3;
SELECT ok(NOT pg_temp.consistency_ok(audit_consistency(a.d, b.d), a.d, c.d),
          'a consistency proof does not verify against another head')
  FROM digests a, digests b, digests c WHERE a.n = 1 AND b.n = 3 AND c.n = 2;
SELECT throws_ok($$SELECT audit_consistency((SELECT d FROM digests WHERE n = 3), (SELECT d FROM digests WHERE n = 1))$$,
                 '22023', NULL, 'the old head must not be the larger one');
SELECT throws_ok($$SELECT audit_consistency(NULL)$$, '22004', NULL, 'old_digest must not be null');

-- a stored node changed: verify_audit_chain finds it through the trusted digest's root
SET session_replication_role = replica;
CREATE TEMP TABLE saved AS SELECT hash FROM steward.audit_tree WHERE level = 9 AND idx = 0;
UPDATE steward.audit_tree SET hash = sha256('x'::bytea) WHERE level = 9 AND idx = 0;
SET session_replication_role = origin;
SELECT matches((SELECT problem FROM verify_audit_chain(trusted_digest => (SELECT d FROM digests WHERE n = 3))),
               '^the ledger tree of \d+ events does not have the root the trusted digest names',
               'verify_audit_chain reports a changed node of the tree against a digest naming its root');
SELECT ok((SELECT is_valid FROM verify_audit_chain()), 'without a digest the blocks and events still verify');
SET session_replication_role = replica;
UPDATE steward.audit_tree SET hash = (SELECT hash FROM saved) WHERE level = 9 AND idx = 0;
SET session_replication_role = origin;
-- a changed node off the root's path: a receipt that would need it is refused
SET session_replication_role = replica;
CREATE TEMP TABLE saved8 AS SELECT hash FROM steward.audit_tree WHERE level = 8 AND idx = 0;
UPDATE steward.audit_tree SET hash = sha256('x'::bytea) WHERE level = 8 AND idx = 0;
SET session_replication_role = origin;
SELECT throws_ok($$SELECT audit_proof((SELECT mid FROM ev), (SELECT d FROM digests WHERE n = 3))$$, 'XX001',
                 'the ledger tree''s stored nodes do not match its leaves',
                 'a receipt built from a changed node is refused, not handed out');
SET session_replication_role = replica;
UPDATE steward.audit_tree SET hash = (SELECT hash FROM saved8) WHERE level = 8 AND idx = 0;
SET session_replication_role = origin;

-- a rewritten ledger: an entry's leaf changed and the tree rebuilt from the
-- entries, as someone rewriting the ledger would, is refused against the old
-- digests
SET session_replication_role = replica;
UPDATE steward.audit_blocks SET entries = overlay(entries PLACING sha256('forged'::bytea) FROM 25 FOR 32)
 WHERE block_id = 1;
DELETE FROM steward.audit_tree;
SET session_replication_role = origin;
SELECT steward.audit_tree_extend();
SELECT throws_ok($$SELECT audit_consistency((SELECT d FROM digests WHERE n = 1))$$, 'XX001', NULL,
                 'a consistency proof is refused for a ledger whose leaves changed since the old digest');
SELECT throws_ok($$SELECT audit_proof((SELECT first FROM ev), (SELECT d FROM digests WHERE n = 1))$$, 'XX001', NULL,
                 'and so is a receipt against a digest whose root it no longer has');
SELECT is((SELECT problem FROM verify_audit_chain(trusted_digest => (SELECT d FROM digests WHERE n = 3))),
          'block 1: its entries do not match its Merkle root',
          'verify_audit_chain names the changed block');

SELECT * FROM finish();
