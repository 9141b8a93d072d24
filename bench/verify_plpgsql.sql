-- bench/verify_plpgsql.sql: verify_audit_chain's check written in PL/pgSQL
-- with pgcrypto, the baseline of the verification benchmark.  It recomputes
-- what verify_audit_chain recomputes: every event's bytes (format v1, see
-- docs/audit.md), its leaf and payload commitment, every block's Merkle
-- root, header hash (block formats 1 and 2, docs/audit.md) and link, and
-- compares them with the sealed entries.
-- It also shows that the format can be verified outside pg_steward's C.
-- Needs: CREATE EXTENSION pgcrypto.  Returns the number of events checked;
-- raises an exception at the first mismatch.

CREATE OR REPLACE FUNCTION bench_text_field(t text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN t IS NULL THEN '\x00'::bytea
                ELSE '\x02'::bytea || int4send(octet_length(convert_to(t, 'UTF8'))) || convert_to(t, 'UTF8') END
$$;

CREATE OR REPLACE FUNCTION bench_merkle(leaves bytea[], lo int, n int) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k int := 1;
BEGIN
    IF n = 1 THEN
        RETURN leaves[lo];
    END IF;
    WHILE k * 2 < n LOOP
        k := k * 2;
    END LOOP;
    RETURN digest('\x01'::bytea || bench_merkle(leaves, lo, k) || bench_merkle(leaves, lo + k, n - k), 'sha256');
END $$;

CREATE OR REPLACE FUNCTION bench_verify_plpgsql() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    b record;
    e record;
    prev_hash bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    prev_snap pg_snapshot := NULL;
    next_pos bigint := 1;
    leaves bytea[];
    i int;
    bytes bytea;
    leaf bytea;
    checked bigint := 0;
BEGIN
    FOR b IN SELECT * FROM steward.audit_blocks ORDER BY block_id LOOP
        IF b.prev_hash <> prev_hash OR b.first_position <> next_pos THEN
            RAISE EXCEPTION 'block % does not link', b.block_id;
        END IF;
        leaves := '{}';
        i := 0;
        FOR e IN
            SELECT * FROM steward.audit_events
             WHERE xid < pg_snapshot_xmax(b.snapshot)
               AND pg_visible_in_snapshot(xid, b.snapshot)
               AND (prev_snap IS NULL
                    OR (xid >= pg_snapshot_xmin(prev_snap) AND NOT pg_visible_in_snapshot(xid, prev_snap)))
             ORDER BY xid, id
        LOOP
            bytes := '\x50534501'::bytea
                || '\x01'::bytea || int8send(e.id)
                || '\x01'::bytea || int8send(e.xid::text::bigint)
                || '\x01'::bytea || int8send((extract(epoch FROM e.event_time) * 1000000)::bigint)
                || bench_text_field(e.event_type) || bench_text_field(e.action)
                || bench_text_field(e.resource_type) || bench_text_field(e.resource_id)
                || bench_text_field(e.actor) || bench_text_field(e.session_user_name)
                || bench_text_field(e.current_user_name)
                || bench_text_field(CASE WHEN e.client_addr IS NULL THEN NULL ELSE format('%s', e.client_addr) END)
                || bench_text_field(e.application_name)
                || CASE WHEN e.commitment IS NULL THEN '\x00'::bytea
                        ELSE '\x03'::bytea || int4send(length(e.commitment)) || e.commitment END;
            leaf := digest('\x00'::bytea || bytes, 'sha256');
            IF substring(b.entries FROM i * 56 + 1 FOR 8) <> int8send(e.id)
               OR substring(b.entries FROM i * 56 + 25 FOR 32) <> leaf THEN
                RAISE EXCEPTION 'event % does not match block %', e.id, b.block_id;
            END IF;
            IF e.payload IS NOT NULL
               AND e.commitment <> digest('\x02'::bytea || e.salt || convert_to(e.payload::text, 'UTF8'), 'sha256') THEN
                RAISE EXCEPTION 'payload of event % does not match its commitment', e.id;
            END IF;
            i := i + 1;
            leaves := leaves || leaf;
        END LOOP;
        IF i <> b.event_count OR bench_merkle(leaves, 1, i) <> b.merkle_root THEN
            RAISE EXCEPTION 'block %: entries or root do not match', b.block_id;
        END IF;
        IF digest('\x03'::bytea || 'PSB'::bytea || substring(int2send(b.format) FROM 2) || int8send(b.block_id)
                  || int8send(b.first_position) || int8send(b.event_count)
                  || int8send((extract(epoch FROM b.sealed_at) * 1000000)::bigint)
                  || b.merkle_root
                  || CASE b.format WHEN 2 THEN
                         digest('\x04'::bytea || b.entries, 'sha256')
                         || int8send(pg_snapshot_xmin(b.snapshot)::text::bigint)
                         || int8send(pg_snapshot_xmax(b.snapshot)::text::bigint)
                         || int8send((SELECT count(*) FROM pg_snapshot_xip(b.snapshot)))
                         || coalesce((SELECT string_agg(int8send(x::text::bigint), ''::bytea ORDER BY x)
                                        FROM pg_snapshot_xip(b.snapshot) x), ''::bytea)
                     ELSE ''::bytea END
                  || b.prev_hash, 'sha256') <> b.block_hash THEN
            RAISE EXCEPTION 'block %: hash does not match', b.block_id;
        END IF;
        prev_hash := b.block_hash;
        prev_snap := b.snapshot;
        next_pos := b.first_position + b.event_count;
        checked := checked + i;
    END LOOP;
    RETURN checked;
END $$;
