#!/usr/bin/env bash
# bench/tree_bench.sh: receipts and consistency proofs of the ledger tree,
# their size and time, and what the tree costs in storage and sealing,
# measured in one run on one throwaway cluster.
#
#   the ledger  a database of its own, written fast by bench/lib.sh's
#               gen_ledger (blocks of 100000 events, each sealed by
#               audit_seal(), which builds the tree as it seals): first
#               EVENTS events (1000000), then extended to EVENTS_LARGE
#               (10000000; 0 or anything not above EVENTS skips it; skipped
#               too when the disk has not room for it).  At each size, after
#               VACUUM ANALYZE and CHECKPOINT: audit_digest() (timed), and
#               the tree root it names recomputed from the blocks' leaves by
#               a verifier of its own (below), so that the stored nodes are
#               not taken on trust.
#   receipts    at each size, against that size's digest: PROOFS (200)
#               random sealed events, each one's receipt (audit_proof) in
#               bytes (octet_length of its jsonb text), min / median / max,
#               the number of hashes in its audit path, and every one
#               verified; then the time per audit_proof() call, by pgbench
#               (one client, -M prepared, PROOF_CALLS calls (200) of
#               SELECT steward.audit_proof(<random event id>, <digest>),
#               after WARM_CALLS (20) calls to warm the caches): pgbench's
#               latency average, and min / median / p95 / max from its
#               per-transaction log (-l).
#   consistency audit_consistency(digest at EVENTS, digest at EVENTS_LARGE):
#               its size, verified, and its time by pgbench
#               (CONSISTENCY_CALLS calls, 100, after a few to warm up).
#   storage     pg_total_relation_size of steward.audit_tree against that of
#               steward.audit_events (every partition, with its indexes and
#               TOAST) and of steward.audit_blocks, at each size.
#   sealing     on the largest ledger, BACKLOG (100000) events appended by
#               pgbench (8 clients, audit_append) with the sealers off, then
#               one audit_seal() timed, with the tree rows it wrote (count
#               before and after); then, when perf is there (TREE_PERF=1,
#               the default), as many events again sealed under
#               `perf record -g` of the sealing backend: the share of the
#               seal's CPU samples spent in steward_audit_tree_extend (the
#               tree's part of sealing, which cannot be timed apart
#               otherwise).  Finally verify_audit_chain() must find the whole
#               ledger valid.
#   profile     with perf too, where a receipt's time goes at the largest
#               size: PROOF_CALLS calls again under `perf record -g`, the
#               functions with the most samples (with their callees).
#
# The verifier of receipts and proofs is written here, in Python with its
# standard library only (hashlib, base64, json), from RFC 9162 (§2.1.3.2
# and §2.1.4.2) and the ledger's hashes in docs/audit.md (leaf = H(0x00 ‖
# event bytes), node = H(0x01 ‖ left ‖ right)); it checks as well that a
# receipt's event bytes name its event id and that it names the digest's
# tree size and root.
#
# Wall-clock times; the machine is shared, so read them as orders of
# magnitude.  The machine's load is sampled every second and summed per
# section (bench/lib.sh's watch_*).  The report goes to bench/results/tree.md
# and to standard output, the same figures to bench/results/tree.tsv (one
# line per figure, for bench/run_all.sh); BENCH_RESULTS_DIR puts both files
# in another directory.  BENCH_QUICK=1: small sizes (EVENTS 100000,
# EVENTS_LARGE 300000, BACKLOG 20000) unless given.  Other knobs:
# BENCH_BUILD=0 (benchmark the pg_steward already installed instead of
# building and installing this tree), PGSTEWARD_BENCH_DIR (work directory),
# PGSTEWARD_PORT (54351), PG_CONFIG or PGSTEWARD_PG_BIN (the PostgreSQL
# installation, scripts/lib.sh).
# A correctness check that fails (a receipt or proof that does not verify,
# a tree root that differs from the leaves', a ledger that does not
# verify) is reported in capitals; the script still writes its report and
# then exits with status 3.  No figure is a check: the goals are judged by
# bench/run_all.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	EVENTS="${EVENTS:-100000}" EVENTS_LARGE="${EVENTS_LARGE:-300000}" BACKLOG="${BACKLOG:-20000}"
fi
EVENTS="${EVENTS:-1000000}"
EVENTS_LARGE="${EVENTS_LARGE:-10000000}"
BACKLOG="${BACKLOG:-100000}"
PROOFS="${PROOFS:-200}"
PROOF_CALLS="${PROOF_CALLS:-200}"
WARM_CALLS="${WARM_CALLS:-20}"
CONSISTENCY_CALLS="${CONSISTENCY_CALLS:-100}"
TREE_PERF="${TREE_PERF:-1}"
CHUNK=100000
SEED=9162
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-tree-bench}"
PORT="${PGSTEWARD_PORT:-54351}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/tree.md"
TSV="$RESULTS_DIR/tree.tsv"
DB=tree
steward_cluster_paths "$WORKDIR"

command -v python3 >/dev/null || die "python3 is needed (the verifier of receipts and proofs)"
[ "$TREE_PERF" != 1 ] || command -v perf >/dev/null || {
	warn "perf is not installed: the tree's share of sealing and the profile of receipts are not measured (TREE_PERF=0)"
	TREE_PERF=0
}

cleanup() {
	[ -z "${WATCH_PID:-}" ] || kill "$WATCH_PID" 2>/dev/null || true
	[ -z "${PERF_PID:-}" ] || kill -INT "$PERF_PID" 2>/dev/null || true
	steward_cluster_stop "$STEWARD_DATA" fast || true
}
trap cleanup EXIT

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start
watch_start

psql_t() { psql_db "$DB" "$@"; }
# stats: min, median, p95, max, average and count of the numbers on stdin
stats() {
	sort -g | awk '{ a[++n] = $1; s += $1 } END {
		if (n == 0) { print "- - - - - 0"; exit }
		k = int(0.95 * n); if (k < 0.95 * n) k++; if (k < 1) k = 1
		m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		printf "%s %s %s %s %.3f %d\n", a[1], m, a[k], a[n], s / n, n }'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", 100 * a / b }'; } # a as a percentage of b
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# ------------------------------------------------------------ the verifier

VERIFIER="$WORKDIR/tree_verify.py"
cat >"$VERIFIER" <<'PY'
# The ledger tree's receipts and consistency proofs, checked with SHA-256
# only: RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), with the
# ledger's hashes: leaf = H(0x00 || event bytes), node = H(0x01 || l || r).
#   receipts DIGEST FILE   FILE: one line per receipt, "<bytes>\t<json>";
#                          prints "<verified> <total> <path min> <path max>"
#   consistency OLD NEW PROOF   prints "ok <hashes>" or "bad <hashes>"
#   root SIZE              stdin: one block's entries (hex) per line, in
#                          block order; prints the root of the first SIZE
#                          leaves (entries of 56 bytes, the leaf at 24)
import base64, hashlib, json, sys

def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()

def inclusion_ok(index, size, leaf, path, root):
    if index < 0 or index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root

def consistency_ok(m, n, old_root, new_root, proof):
    if m > n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if m == 0:
        return not proof
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root

def receipt_problem(r, d):
    if r.get("format") != "pg_steward receipt v1":
        return "format"
    if r["tree_size"] != d["tree_size"] or r["tree_root"] != d["tree_root"]:
        return "not the digest's head"
    if r["block"] != d["block"] or r["hash"] != d["hash"]:
        return "not the digest's block"
    ev = base64.b64decode(r["event_bytes"], validate=True)
    if ev[:5] != b"PSE\x01\x01" or int.from_bytes(ev[5:13], "big", signed=True) != r["event_id"]:
        return "event bytes do not name event %s" % r["event_id"]
    leaf = hashlib.sha256(b"\x00" + ev).digest()
    if leaf != base64.b64decode(r["leaf"], validate=True):
        return "leaf is not H(0x00 || event bytes)"
    if r["leaf_index"] != r["position"] - 1:
        return "leaf_index is not position - 1"
    path = [base64.b64decode(p, validate=True) for p in r["audit_path"]]
    if any(len(p) != 32 for p in path):
        return "a path hash is not 32 bytes"
    if not inclusion_ok(r["leaf_index"], r["tree_size"], leaf, path, bytes.fromhex(d["tree_root"])):
        return "the audit path does not lead to the digest's root"
    return None

def main():
    mode = sys.argv[1]
    if mode == "receipts":
        d = json.load(open(sys.argv[2]))
        ok = total = 0
        lens = []
        for line in open(sys.argv[3]):
            if not line.strip():
                continue
            n, text = line.rstrip("\n").split("\t", 1)
            r = json.loads(text)
            total += 1
            if int(n) != len(text.encode()):
                print("receipt of event %s: %s bytes said, %d read" % (r.get("event_id"), n, len(text.encode())), file=sys.stderr)
                continue
            p = receipt_problem(r, d)
            if p:
                print("receipt of event %s: %s" % (r.get("event_id"), p), file=sys.stderr)
                continue
            ok += 1
            lens.append(len(r["audit_path"]))
        print(ok, total, min(lens) if lens else "-", max(lens) if lens else "-")
    elif mode == "consistency":
        old, new, c = (json.load(open(f)) for f in sys.argv[2:5])
        proof = [base64.b64decode(p, validate=True) for p in c["proof"]]
        good = (c.get("format") == "pg_steward consistency proof v1"
                and c["old_tree_size"] == old["tree_size"] and c["new_tree_size"] == new["tree_size"]
                and c["old_tree_root"] == old["tree_root"] and c["new_tree_root"] == new["tree_root"]
                and all(len(p) == 32 for p in proof)
                and consistency_ok(old["tree_size"], new["tree_size"], bytes.fromhex(old["tree_root"]),
                                   bytes.fromhex(new["tree_root"]), proof))
        print("ok" if good else "bad", len(proof))
    elif mode == "root":
        size = int(sys.argv[2])
        stack = []  # (height, hash): the complete subtrees so far, heights decreasing
        got = 0
        for line in sys.stdin:
            e = bytes.fromhex(line.strip())
            for o in range(0, len(e) - 55, 56):
                if got == size:
                    break
                h, ht = e[o + 24:o + 56], 0
                while stack and stack[-1][0] == ht:
                    h = node(stack.pop()[1], h)
                    ht += 1
                stack.append((ht, h))
                got += 1
        if got < size:
            print("short", got)
            return
        if not stack:
            print(hashlib.sha256(b"").hexdigest())
            return
        acc = stack.pop()[1]
        while stack:
            acc = node(stack.pop()[1], acc)
        print(acc.hex())

main()
PY

# ------------------------------------------------------------ the ledger

section "a ledger in database $DB"
mark "setup"
[ "$BENCH_BUILD" != 1 ] || [ "$SO_SUM" = "$(md5sum <"$WORKDIR/src/pg_steward.so")" ] ||
	warn "the installed pg_steward.so is not the one just built (another install?)"
psql_db postgres -c "CREATE DATABASE $DB"
psql_t -c "CREATE EXTENSION pg_steward"
set_seal_interval 0 # gen_ledger seals each round itself
read -r S_FSYNC S_SHARED <<<"$(psql_t -F ' ' -c "SELECT current_setting('fsync'), current_setting('shared_buffers')")"

SIZES=("$EVENTS")
LARGE_NOTE=
declare -A FILL DIGEST_SECS ROOT_OK DB_MB ST_TREE ST_TREE_HEAP ST_TREE_IDX ST_EVENTS ST_BLOCKS ST_ROWS BLOCKS
declare -A R_BYTES R_PATH R_VERIFIED R_MS R_AVG
DONE=0
# grow_to SIZE: the ledger extended to SIZE events, its digest, its storage
grow_to() {
	local size=$1 t0 t1 root
	section "the ledger at $size events"
	mark "writing the ledger"
	t0=$(now)
	LEDGER_CHUNK=$CHUNK gen_ledger "$DB" $((size - DONE))
	t1=$(now)
	FILL[$size]=$(secs "$t0" "$t1")
	DONE=$size
	mark "VACUUM, CHECKPOINT"
	psql_t -c "VACUUM ANALYZE steward.audit_events, steward.audit_blocks, steward.audit_tree" -c "CHECKPOINT"
	DB_MB[$size]=$(psql_t -c "SELECT pg_database_size(current_database()) / 1048576")
	BLOCKS[$size]=$(psql_t -c "SELECT count(*) FROM steward.audit_blocks")
	local tree heap idx rows events blocks
	read -r tree heap idx rows events blocks <<<"$(psql_t -F ' ' -c "
		SELECT pg_total_relation_size('steward.audit_tree'), pg_relation_size('steward.audit_tree'),
		       pg_indexes_size('steward.audit_tree'), (SELECT count(*) FROM steward.audit_tree),
		       (SELECT sum(pg_total_relation_size(relid))::bigint FROM pg_partition_tree('steward.audit_events')),
		       pg_total_relation_size('steward.audit_blocks')")"
	ST_TREE[$size]=$tree ST_TREE_HEAP[$size]=$heap ST_TREE_IDX[$size]=$idx
	ST_ROWS[$size]=$rows ST_EVENTS[$size]=$events ST_BLOCKS[$size]=$blocks
	note "$size events in ${FILL[$size]} s (${BLOCKS[$size]} blocks, ${DB_MB[$size]} MB); tree: ${ST_ROWS[$size]} rows, ${ST_TREE[$size]} bytes; events ${ST_EVENTS[$size]} bytes"

	mark "digests"
	timed_query "$DB" "SELECT steward.audit_digest()" || die "audit_digest() failed: $(cat "$WORKDIR/timed_query.err")"
	DIGEST_SECS[$size]=$Q_SECS
	printf '%s\n' "$Q_OUT" >"$WORKDIR/digest-$size.json"
	psql_t -c "CREATE TABLE IF NOT EXISTS tree_bench_digest (size bigint PRIMARY KEY, digest jsonb NOT NULL)" \
		-c "INSERT INTO tree_bench_digest VALUES ($size, '$(sed "s/'/''/g" "$WORKDIR/digest-$size.json")')"
	read -r d_size d_pos <<<"$(psql_t -F ' ' -c "SELECT digest->>'tree_size', digest->>'position' FROM tree_bench_digest WHERE size = $size")"
	check "digest at $size events" "audit_digest(): tree_size $d_size, position $d_pos" eqs "$d_size" "$size" "$d_pos" "$size"
	read -r id_min id_max id_n <<<"$(psql_t -F ' ' -c "SELECT min(id), max(id), count(*) FROM steward.audit_events")"
	check "event ids 1 to $size" "min $id_min, max $id_max, $id_n events (pgbench draws ids from 1 to $size)" \
		eqs "$id_min" 1 "$id_max" "$size" "$id_n" "$size"

	mark "checking the tree root from the leaves"
	root=$(psql_t -v FETCH_COUNT=1 -c "SELECT encode(entries, 'hex') FROM steward.audit_blocks
	                                    WHERE first_position <= $size ORDER BY block_id" | python3 "$VERIFIER" root "$size")
	ROOT_OK[$size]=$root
	local named
	named=$(psql_t -c "SELECT digest->>'tree_root' FROM tree_bench_digest WHERE size = $size")
	check "tree root at $size events" "the digest's tree_root $named, recomputed from the blocks' leaves: $root" \
		test "$root" = "$named"
}

# receipts SIZE: PROOFS receipts sized and verified, PROOF_CALLS timed
receipts() {
	local size=$1 ids out
	section "receipts at $size events"
	mark "receipts: size and verification"
	ids=$(awk -v n="$size" -v k="$PROOFS" -v seed=$((SEED + size)) \
		'BEGIN { srand(seed); for (i = 0; i < k; i++) printf "%s%d", (i ? "," : ""), 1 + int(rand() * n) }')
	psql_t -F $'\t' -c "SELECT octet_length(p::text), p::text
	                      FROM unnest('{$ids}'::bigint[]) WITH ORDINALITY r(id, o),
	                           LATERAL steward.audit_proof(r.id, (SELECT digest FROM tree_bench_digest WHERE size = $size)) p
	                     ORDER BY o" >"$WORKDIR/receipts-$size.tsv"
	R_BYTES[$size]=$(cut -f1 "$WORKDIR/receipts-$size.tsv" | stats)
	out=$(python3 "$VERIFIER" receipts "$WORKDIR/digest-$size.json" "$WORKDIR/receipts-$size.tsv" 2>"$WORKDIR/verify-$size.err") ||
		die "the verifier failed: $(cat "$WORKDIR/verify-$size.err")"
	read -r ok total pmin pmax <<<"$out"
	R_VERIFIED[$size]="$ok $total"
	R_PATH[$size]="$pmin $pmax"
	check "receipts at $size events verify" "$ok of $total receipts of random events verified against the digest (RFC 9162 inclusion)$([ -s "$WORKDIR/verify-$size.err" ] && echo ": $(head -3 "$WORKDIR/verify-$size.err" | paste -sd';')")" \
		eqs "$ok" "$total" "$total" "$PROOFS"
	note "receipts: bytes min/median/p95/max/avg ${R_BYTES[$size]}; $ok of $total verified; audit path $pmin to $pmax hashes"

	mark "receipts: time per call"
	printf '\\set id random(1, %s)\nSELECT steward.audit_proof(:id, '"'"'%s'"'"'::jsonb);\n' \
		"$size" "$(sed "s/'/''/g" "$WORKDIR/digest-$size.json")" >"$WORKDIR/proof-$size.sql"
	pgbench_calls "proof-$size" "$WORKDIR/proof-$size.sql" "$PROOF_CALLS" "$WARM_CALLS"
	R_AVG[$size]=$PB_AVG
	R_MS[$size]=$PB_STATS
	note "audit_proof(): latency average $PB_AVG ms; min/median/p95/max/avg ${PB_STATS} ms ($PROOF_CALLS calls)"
}

# pgbench_calls NAME FILE CALLS WARM: WARM calls, then CALLS calls, one
# client each time, the second logged per transaction; sets PB_AVG
# (pgbench's latency average, ms) and PB_STATS (min median p95 max avg n, ms)
pgbench_calls() {
	local name=$1 file=$2 calls=$3 warm=$4 log="$WORKDIR/pgbench-$1.log"
	"$PG_BIN/pgbench" -n -M prepared -h "$STEWARD_SOCK" -p "$PORT" -U postgres -t "$warm" -f "$file" "$DB" \
		>"$log.warm" 2>&1 || { cat "$log.warm" >&2; die "pgbench $name (warming up) failed"; }
	rm -f "$WORKDIR/txlog-$name".*
	"$PG_BIN/pgbench" -n -M prepared -h "$STEWARD_SOCK" -p "$PORT" -U postgres -t "$calls" -f "$file" \
		-l --log-prefix="$WORKDIR/txlog-$name" "$DB" >"$log" 2>&1 || { cat "$log" >&2; die "pgbench $name failed"; }
	grep -q "number of transactions actually processed: $calls/$calls" "$log" ||
		die "pgbench $name: not every transaction was processed (see $log)"
	PB_AVG=$(awk '/^latency average/ { print $4; exit }' "$log")
	# the log's third column: the transaction's latency in microseconds
	PB_STATS=$(cat "$WORKDIR/txlog-$name".* | awk '{ printf "%.3f\n", $3 / 1000 }' | stats)
}

# perf_attach APPNAME NAME: perf record -g (frame pointers: Debian builds
# PostgreSQL and pg_steward with them) of the backend whose
# application_name is APPNAME, once it shows, into perf-NAME.data, in the
# background (PERF_PID); perf stops when the backend exits
perf_attach() {
	local app=$1 name=$2 pid=
	for _ in $(seq 100); do
		pid=$(psql_db postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$app' LIMIT 1")
		[ -z "$pid" ] || break
		sleep 0.02
	done
	[ -n "$pid" ] || die "no session named $app showed in pg_stat_activity"
	perf record -q -g -F 1999 -p "$pid" -o "$WORKDIR/perf-$name.data" >"$WORKDIR/perf-$name.log" 2>&1 &
	PERF_PID=$!
}
# perf_done NAME: wait for perf, then its report in perf-NAME.txt (children
# %, self %, symbol: the samples in a function and in all it calls, and in
# the function itself) and the number of samples in P_SAMPLES
perf_done() {
	wait "$PERF_PID" || true
	PERF_PID=
	perf report -i "$WORKDIR/perf-$1.data" --stdio --children --no-demangle --sort symbol -g none 2>/dev/null |
		awk '$3 == "[.]" { sub(/%/, "", $1); sub(/%/, "", $2); print $1 "\t" $2 "\t" $4 }' >"$WORKDIR/perf-$1.txt" || true
	P_SAMPLES=$(perf report -i "$WORKDIR/perf-$1.data" --stdio --no-children -n --sort comm -g none 2>/dev/null |
		awk '$1 ~ /%$/ { n += $2 } END { print n + 0 }')
}
# perf_children NAME FUNCTION: FUNCTION's children % in profile NAME
perf_children() { awk -F'\t' -v f="$2" '$3 == f && !n { print $1; n = 1 }' "$WORKDIR/perf-$1.txt"; }
# perf_named NAME N: the N named functions (no bare addresses, none of the
# frames every query has) with the most children % (lines of perf-NAME.txt)
perf_named() {
	awk -F'\t' '$3 !~ /^0x/ && $3 !~ /^(main|PostmasterMain|PostgresMain|__libc_start_call_main|__libc_start_main.*|_start|ServerLoop|BackendRun|BackendStartup|exec_execute_message|exec_simple_query|PortalRun|PortalRunSelect|PortalRunMulti|standard_ExecutorRun|ExecutorRun|ExecProcNode.*|ExecScan|ExecResult|ExecInterpExpr.*)$/' \
		"$WORKDIR/perf-$1.txt" | awk -v n="$2" 'NR <= n'
}
perf_top() { perf_named "$@" | awk -F'\t' '{ printf "| %s | %s | `%s` |\n", $1, $2, $3 }'; } # as Markdown rows

grow_to "$EVENTS"
receipts "$EVENTS"

if [ "$EVENTS_LARGE" -gt "$EVENTS" ]; then
	# room for it: the database's size per event so far, twice (WAL, VACUUM)
	NEED_MB=$(awk -v mb="${DB_MB[$EVENTS]}" -v n="$EVENTS" -v l="$EVENTS_LARGE" 'BEGIN { printf "%.0f", 2 * mb * (l - n) / n }')
	FREE_MB=$(df -Pm "$WORKDIR" | awk 'NR == 2 { print $4 }')
	if [ "$FREE_MB" -lt "$NEED_MB" ]; then
		LARGE_NOTE="skipped: $EVENTS_LARGE events need about $NEED_MB MB of disk, $FREE_MB MB are free in $WORKDIR"
		warn "$LARGE_NOTE"
	else
		grow_to "$EVENTS_LARGE"
		receipts "$EVENTS_LARGE"
		SIZES+=("$EVENTS_LARGE")
	fi
else
	LARGE_NOTE="skipped: EVENTS_LARGE ($EVENTS_LARGE) is not above EVENTS ($EVENTS)"
fi
LAST=${SIZES[-1]}

# where a receipt's time goes, at the largest size
PROOF_PROFILE=0
if [ "$TREE_PERF" = 1 ]; then
	section "audit_proof() under perf at $LAST events"
	mark "receipts: under perf"
	PGAPPNAME=tree_bench_proof "$PG_BIN/pgbench" -n -M prepared -h "$STEWARD_SOCK" -p "$PORT" -U postgres \
		-t "$PROOF_CALLS" -f "$WORKDIR/proof-$LAST.sql" "$DB" >"$WORKDIR/pgbench-proof-perf.log" 2>&1 &
	PB_PID=$!
	perf_attach tree_bench_proof proof
	wait "$PB_PID" || { cat "$WORKDIR/pgbench-proof-perf.log" >&2; die "pgbench under perf failed"; }
	perf_done proof
	PROOF_SAMPLES=$P_SAMPLES
	PROOF_PROFILE=1
	note "audit_proof() under perf: $PROOF_SAMPLES samples; steward_audit_proof $(perf_children proof steward_audit_proof) %"
fi

# ------------------------------------------------------------ consistency

C_DONE=0
if [ "${#SIZES[@]}" -ge 2 ]; then
	section "consistency proof: $EVENTS to $LAST events"
	mark "consistency proofs"
	psql_t -c "SELECT steward.audit_consistency(o.digest, n.digest)
	             FROM tree_bench_digest o, tree_bench_digest n WHERE o.size = $EVENTS AND n.size = $LAST" \
		>"$WORKDIR/consistency.json"
	C_BYTES=$(psql_t -c "SELECT octet_length(steward.audit_consistency(o.digest, n.digest)::text)
	                       FROM tree_bench_digest o, tree_bench_digest n WHERE o.size = $EVENTS AND n.size = $LAST")
	read -r C_RESULT C_HASHES <<<"$(python3 "$VERIFIER" consistency "$WORKDIR/digest-$EVENTS.json" "$WORKDIR/digest-$LAST.json" "$WORKDIR/consistency.json")"
	check "consistency proof $EVENTS to $LAST verifies" "audit_consistency(): $C_RESULT ($C_HASHES hashes, RFC 9162 consistency)" \
		test "$C_RESULT" = ok
	printf 'SELECT steward.audit_consistency('"'"'%s'"'"'::jsonb, '"'"'%s'"'"'::jsonb);\n' \
		"$(sed "s/'/''/g" "$WORKDIR/digest-$EVENTS.json")" "$(sed "s/'/''/g" "$WORKDIR/digest-$LAST.json")" >"$WORKDIR/consistency.sql"
	pgbench_calls consistency "$WORKDIR/consistency.sql" "$CONSISTENCY_CALLS" 5
	C_AVG=$PB_AVG
	C_MS=$PB_STATS
	C_DONE=1
	note "consistency proof: $C_BYTES bytes, $C_HASHES hashes; latency average $C_AVG ms (min/median/p95/max/avg $C_MS)"
fi

# ------------------------------------------------------------ sealing a backlog

section "sealing a backlog of $BACKLOG events on the ledger of $LAST events"
printf '\\set id random(1, 1000000)\n%s\n' "$(method_sql audit :id)" >"$WORKDIR/append.sql"
append_backlog() {
	"$PG_BIN/pgbench" -n -h "$STEWARD_SOCK" -p "$PORT" -U postgres -M prepared -c 8 -j 2 \
		-t $((BACKLOG / 8)) -f "$WORKDIR/append.sql" "$DB" >"$WORKDIR/pgbench-append.log" 2>&1 ||
		{ cat "$WORKDIR/pgbench-append.log" >&2; die "pgbench appending the backlog failed"; }
	psql_t -c "CHECKPOINT"
}
tree_rows() { psql_t -c "SELECT count(*) FROM steward.audit_tree"; }
mark "sealing: appending the backlog"
append_backlog
SEAL_N=$(psql_t -c "SELECT events_unsealed FROM steward.audit_status()")
ROWS_BEFORE=$(tree_rows)
mark "sealing: audit_seal()"
timed_query "$DB" "SELECT steward.audit_seal()" || die "audit_seal() failed: $(cat "$WORKDIR/timed_query.err")"
SEAL_SEALED=$Q_OUT
SEAL_SECS=$Q_SECS
ROWS_AFTER=$(tree_rows)
SEAL_ROWS=$((ROWS_AFTER - ROWS_BEFORE))
SEAL_LEVELS=$(psql_t -c "SELECT string_agg(level || ': ' || n, ', ' ORDER BY level)
                            FROM (SELECT level, count(*) n FROM steward.audit_tree GROUP BY level) x")
check "audit_seal() sealed the backlog" "$SEAL_SEALED of $SEAL_N unsealed events sealed" test "$SEAL_SEALED" = "$SEAL_N"
note "audit_seal(): $SEAL_SEALED events in $SEAL_SECS s; $SEAL_ROWS tree rows written ($ROWS_BEFORE -> $ROWS_AFTER)"

PERF_DONE=0
PERF_NOTE="not measured (TREE_PERF=0 or no perf)"
if [ "$TREE_PERF" = 1 ]; then
	mark "sealing: appending the backlog"
	append_backlog
	PERF_N=$(psql_t -c "SELECT events_unsealed FROM steward.audit_status()")
	PERF_ROWS_BEFORE=$(tree_rows)
	mark "sealing: audit_seal() under perf"
	PGAPPNAME=tree_bench_seal psql_t -c "SELECT pg_sleep(2)" -c "SELECT steward.audit_seal()" >"$WORKDIR/perf-seal.out" &
	SEAL_PSQL=$!
	perf_attach tree_bench_seal seal
	wait "$SEAL_PSQL" || die "audit_seal() under perf failed"
	perf_done seal
	PERF_ROWS=$(($(tree_rows) - PERF_ROWS_BEFORE))
	TREE_PERFED=$(tail -1 "$WORKDIR/perf-seal.out")
	P_SEAL=$(perf_children seal steward_audit_seal_now)
	P_TREE=$(perf_children seal steward_audit_tree_extend)
	if [ -n "$P_SEAL" ] && [ -n "$P_TREE" ]; then
		PERF_SHARE=$(awk -v t="$P_TREE" -v s="$P_SEAL" 'BEGIN { printf "%.1f", 100 * t / s }')
		PERF_DONE=1
		PERF_NOTE="steward_audit_tree_extend has $P_TREE % of the session's CPU samples with its callees, steward_audit_seal_now $P_SEAL %: the tree is $PERF_SHARE % of the seal's CPU ($P_SAMPLES samples)"
	else
		PERF_NOTE="perf found no samples of steward_audit_seal_now ('$P_SEAL') or steward_audit_tree_extend ('$P_TREE'); see $WORKDIR/perf-seal.txt"
		warn "$PERF_NOTE"
	fi
	check "audit_seal() under perf sealed the backlog" "$TREE_PERFED of $PERF_N unsealed events sealed" test "$TREE_PERFED" = "$PERF_N"
	note "under perf: $PERF_NOTE; $PERF_ROWS tree rows"
fi

# ------------------------------------------------------------ the whole ledger verified

section "verify_audit_chain() over the whole ledger"
mark "verify_audit_chain()"
TOTAL=$(psql_t -c "SELECT count(*) FROM steward.audit_events")
timed_query "$DB" "SELECT is_valid, events_checked, events_unsealed, coalesce(problem, '-') FROM steward.verify_audit_chain()" ||
	die "verify_audit_chain() failed: $(cat "$WORKDIR/timed_query.err")"
read -r V_VALID V_CHECKED V_UNSEALED V_PROBLEM <<<"$Q_OUT"
V_SECS=$Q_SECS
check "ledger valid" "verify_audit_chain(): is_valid = $V_VALID, problem: $V_PROBLEM" test "$V_VALID" = t
check "ledger complete" "$V_CHECKED of $TOTAL events checked, $V_UNSEALED unsealed" eqs "$V_CHECKED" "$TOTAL" "$V_UNSEALED" 0
check "no server crash" "the server log's crashed backends: $(grep -c 'was terminated by signal' "$STEWARD_LOG" || true)" \
	test "$(grep -c 'was terminated by signal' "$STEWARD_LOG" || true)" = 0

mark "cleaning up"
psql_db postgres -c "DROP DATABASE $DB WITH (FORCE)"
set_seal_interval DEFAULT
watch_stop

SO_NOTE=
if [ "$(md5sum <"$SO")" != "$SO_SUM" ]; then
	SO_NOTE="$SO was replaced by another install during this run; the server
keeps the build it loaded at its start."
	warn "$SO was replaced during the run"
fi

# ------------------------------------------------------------ the report

section "writing the report"
CORES=$(nproc)
PG_VERSION=$("$PG_BIN/postgres" --version | awk '{print $3}')
field() { echo "$1" | awk -v f="$2" '{ print $f }'; } # field "a b c" 2 -> b
{
	cat <<EOF
# Ledger tree benchmark: receipts and consistency proofs

\`bench/tree_bench.sh\`, $(date -u +%Y-%m-%d), pg_steward at $SOURCE, PostgreSQL
$PG_VERSION, $CORES cores (load average $LOAD_AT_START at the start), default settings of a throwaway
cluster (fsync $S_FSYNC, shared_buffers $S_SHARED). The machine is shared: read the times as
orders of magnitude.${SO_NOTE:+ $SO_NOTE}

## Checks

$(checks_md)

## The ledger

A database of its own: gen_ledger (bench/lib.sh) wrote the events \`audit_append\` writes, by
INSERT … SELECT into \`steward.audit_events\` from $(nproc) sessions at once, in rounds of $CHUNK
events, each round sealed by \`audit_seal()\` into one block, which stores the ledger tree's
nodes the block completes. After \`VACUUM ANALYZE\` and \`CHECKPOINT\`, \`audit_digest()\` was
taken (timed) and the tree root it names was recomputed from the blocks' leaves by the
script's own verifier (Python, hashlib), independently of the stored nodes.

| events | written in (s) | blocks | database (MB) | audit_digest() (ms) | tree root recomputed from the leaves |
|---:|---:|---:|---:|---:|---|
EOF
	for s in "${SIZES[@]}"; do
		printf '| %s | %s | %s | %s | %s | %s |\n' "$s" "${FILL[$s]}" "${BLOCKS[$s]}" "${DB_MB[$s]}" \
			"$(awk -v x="${DIGEST_SECS[$s]}" 'BEGIN { printf "%.0f", x * 1000 }')" "\`${ROOT_OK[$s]:0:16}…\`"
	done
	[ -z "$LARGE_NOTE" ] || printf '\nEVENTS_LARGE not measured: %s.\n' "$LARGE_NOTE"
	cat <<EOF

## Receipts: audit_proof(event_id, digest)

At each size, against that size's digest. Size: the receipts of $PROOFS events drawn at random
(ids from 1 to the size; awk's rand, seed $SEED + size), in bytes of their jsonb text
(\`octet_length(audit_proof(...)::text)\`, without the payload), each one verified by the
script's verifier (RFC 9162 inclusion, the leaf from the event bytes, the event id in them).
Time: pgbench, one client, \`-M prepared\`, $PROOF_CALLS calls of
\`SELECT steward.audit_proof(:id, '<digest>'::jsonb)\` with \`\\set id random(1, <size>)\`, after
$WARM_CALLS calls to warm the caches; pgbench's latency average, and the per-call latencies of its
log (\`-l\`). Latency is what the client sees: the call, the jsonb sent as text.

| events | receipt bytes: min / median / max | audit path (hashes) | verified | ms per receipt (pgbench latency average) | ms: min / median / p95 / max |
|---:|---:|---:|---:|---:|---:|
EOF
	for s in "${SIZES[@]}"; do
		printf '| %s | %s / %s / **%s** | %s–%s | %s of %s | **%s** | %s / %s / %s / %s |\n' "$s" \
			"$(field "${R_BYTES[$s]}" 1)" "$(field "${R_BYTES[$s]}" 2)" "$(field "${R_BYTES[$s]}" 4)" \
			"$(field "${R_PATH[$s]}" 1)" "$(field "${R_PATH[$s]}" 2)" \
			"$(field "${R_VERIFIED[$s]}" 1)" "$(field "${R_VERIFIED[$s]}" 2)" "${R_AVG[$s]}" \
			"$(field "${R_MS[$s]}" 1)" "$(field "${R_MS[$s]}" 2)" "$(field "${R_MS[$s]}" 3)" "$(field "${R_MS[$s]}" 4)"
	done
	if [ "$PROOF_PROFILE" = 1 ]; then
		cat <<EOF

Where a receipt's time goes at $LAST events: the same $PROOF_CALLS calls again, while
\`perf record -g -F 1999\` sampled the backend serving pgbench ($PROOF_SAMPLES samples; the first calls
may run before perf is attached). Children: the share of the samples in a function and in
everything it calls; self: in the function itself (static functions may be inlined into
their callers; Debian's server binary is stripped, so some of its functions show only as
addresses and are left out, as are the frames every query has):

| children % | self % | function |
|---:|---:|---|
$(perf_top proof 30)
EOF
	fi
	cat <<EOF

## Consistency proof: audit_consistency(old_digest, new_digest)

EOF
	if [ "$C_DONE" = 1 ]; then
		cat <<EOF
Between the digest at $EVENTS events and the one at $LAST, verified by the script's verifier
(RFC 9162 consistency) and timed by pgbench like the receipts ($CONSISTENCY_CALLS calls after 5).

| old tree | new tree | bytes | hashes | verified | ms per proof (pgbench latency average) | ms: min / median / p95 / max |
|---:|---:|---:|---:|---|---:|---:|
| $EVENTS | $LAST | **$C_BYTES** | $C_HASHES | $C_RESULT | **$C_AVG** | $(field "$C_MS" 1) / $(field "$C_MS" 2) / $(field "$C_MS" 3) / $(field "$C_MS" 4) |
EOF
	else
		echo "Not measured: one ledger size only ($LARGE_NOTE)."
	fi
	cat <<EOF

## Storage

\`pg_total_relation_size\` (heap, indexes, TOAST) after \`VACUUM ANALYZE\`; the events are every
partition of \`steward.audit_events\` (\`pg_partition_tree\`).

| events | steward.audit_tree: rows | bytes (heap + index) | steward.audit_events bytes | steward.audit_blocks bytes | tree ÷ events | tree ÷ blocks | tree bytes per event |
|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
	for s in "${SIZES[@]}"; do
		printf '| %s | %s | %s (%s + %s), %s MB | %s (%s MB) | %s (%s MB) | **%s %%** | %s %% | %s |\n' "$s" "${ST_ROWS[$s]}" \
			"${ST_TREE[$s]}" "${ST_TREE_HEAP[$s]}" "${ST_TREE_IDX[$s]}" "$(mb "${ST_TREE[$s]}")" \
			"${ST_EVENTS[$s]}" "$(mb "${ST_EVENTS[$s]}")" "${ST_BLOCKS[$s]}" "$(mb "${ST_BLOCKS[$s]}")" \
			"$(pct "${ST_TREE[$s]}" "${ST_EVENTS[$s]}")" "$(pct "${ST_TREE[$s]}" "${ST_BLOCKS[$s]}")" \
			"$(awk -v t="${ST_TREE[$s]}" -v n="$s" 'BEGIN { printf "%.2f", t / n }')"
	done
	cat <<EOF

## Sealing: what the tree adds

On the ledger of $LAST events, $SEAL_N events appended by pgbench (8 clients, \`audit_append\`)
with the sealers off, then one \`audit_seal()\` (psql's \\timing): **$SEAL_SEALED events in
$SEAL_SECS s**, writing **$SEAL_ROWS rows** of \`steward.audit_tree\` ($ROWS_BEFORE before, $ROWS_AFTER after;
rows per level at the end: $SEAL_LEVELS).
EOF
	if [ "$TREE_PERF" = 1 ]; then
		cat <<EOF

The tree's share, measured apart: as many events appended again ($PERF_N), and sealed by one
\`audit_seal()\` while \`perf record -g -F 1999\` sampled the sealing backend ($PERF_ROWS tree rows
written): $PERF_NOTE. The seal under perf is not timed; the share is of CPU samples
(waiting for I/O is not sampled).
EOF
	fi
	cat <<EOF

Finally \`verify_audit_chain()\` over the whole ledger ($TOTAL events): is_valid = $V_VALID,
$V_CHECKED events checked, $V_UNSEALED unsealed, in $V_SECS s.

## The machine during the run

| section | seconds | load average (1 min), min–max | busy cores (of $CORES) | this benchmark | others | steal |
|---|---:|---:|---:|---:|---:|---:|
EOF
	watch_summary | awk -F'\t' '{ split($5, v, ","); printf "| %s | %s | %s–%s | %s | %s | %s | %s |\n", $2, $3, v[1], v[2], v[3], v[4], v[5], v[6] }'
} >"$REPORT"

# The same figures, one per line, tab-separated: section, method, param (the
# ledger's size), value, runs (min,median,p95,max,avg,n where there are
# several), unit.
{
	printf 'section\tmethod\tparam\tvalue\truns\tunit\n'
	for s in "${SIZES[@]}"; do
		printf 'receipt_bytes\tmax\t%s\t%s\t%s\tbytes\n' "$s" "$(field "${R_BYTES[$s]}" 4)" "$(echo "${R_BYTES[$s]}" | tr ' ' ,)"
		printf 'receipt_bytes\tmedian\t%s\t%s\t-\tbytes\n' "$s" "$(field "${R_BYTES[$s]}" 2)"
		printf 'receipt_bytes\tmin\t%s\t%s\t-\tbytes\n' "$s" "$(field "${R_BYTES[$s]}" 1)"
		printf 'receipt_path\tmax\t%s\t%s\t%s\thashes\n' "$s" "$(field "${R_PATH[$s]}" 2)" "$(echo "${R_PATH[$s]}" | tr ' ' ,)"
		printf 'receipt_verified\tverified\t%s\t%s\t%s\treceipts\n' "$s" "$(field "${R_VERIFIED[$s]}" 1)" "$(echo "${R_VERIFIED[$s]}" | tr ' ' ,)"
		printf 'receipt_ms\tavg\t%s\t%s\t%s\tms (pgbench latency average; runs: min,median,p95,max,avg,n of its log)\n' \
			"$s" "${R_AVG[$s]}" "$(echo "${R_MS[$s]}" | tr ' ' ,)"
		printf 'receipt_ms\tmax\t%s\t%s\t-\tms\n' "$s" "$(field "${R_MS[$s]}" 4)"
		printf 'digest_ms\taudit_digest\t%s\t%s\t-\tms\n' "$s" "$(awk -v x="${DIGEST_SECS[$s]}" 'BEGIN { printf "%.0f", x * 1000 }')"
		printf 'storage\ttree\t%s\t%s\t%s,%s\tbytes (heap,index)\n' "$s" "${ST_TREE[$s]}" "${ST_TREE_HEAP[$s]}" "${ST_TREE_IDX[$s]}"
		printf 'storage\ttree_rows\t%s\t%s\t-\trows\n' "$s" "${ST_ROWS[$s]}"
		printf 'storage\tevents\t%s\t%s\t-\tbytes\n' "$s" "${ST_EVENTS[$s]}"
		printf 'storage\tblocks\t%s\t%s\t-\tbytes\n' "$s" "${ST_BLOCKS[$s]}"
		printf 'storage\ttree_vs_events\t%s\t%s\t-\tpercent\n' "$s" "$(pct "${ST_TREE[$s]}" "${ST_EVENTS[$s]}")"
		printf 'storage\ttree_vs_blocks\t%s\t%s\t-\tpercent\n' "$s" "$(pct "${ST_TREE[$s]}" "${ST_BLOCKS[$s]}")"
		printf 'fill\tledger\t%s\t%s\t-\tseconds\n' "$s" "${FILL[$s]}"
	done
	if [ "$C_DONE" = 1 ]; then
		printf 'consistency_bytes\tproof\t%s-%s\t%s\t-\tbytes\n' "$EVENTS" "$LAST" "$C_BYTES"
		printf 'consistency_hashes\tproof\t%s-%s\t%s\t-\thashes\n' "$EVENTS" "$LAST" "$C_HASHES"
		printf 'consistency_ms\tavg\t%s-%s\t%s\t%s\tms (pgbench latency average; runs: min,median,p95,max,avg,n of its log)\n' \
			"$EVENTS" "$LAST" "$C_AVG" "$(echo "$C_MS" | tr ' ' ,)"
	fi
	printf 'seal\tseconds\t%s\t%s\t%s\tseconds (events sealed in runs)\n' "$LAST" "$SEAL_SECS" "$SEAL_SEALED"
	printf 'seal\ttree_rows\t%s\t%s\t%s,%s\trows written (runs: before,after)\n' "$LAST" "$SEAL_ROWS" "$ROWS_BEFORE" "$ROWS_AFTER"
	if [ "$PERF_DONE" = 1 ]; then
		printf 'seal\ttree_share\t%s\t%s\t%s,%s,%s\tpercent of the seal'"'"'s CPU samples (runs: tree_extend %%,seal_now %%,samples)\n' \
			"$LAST" "$PERF_SHARE" "$P_TREE" "$P_SEAL" "$P_SAMPLES"
	fi
	if [ "$PROOF_PROFILE" = 1 ]; then
		perf_named proof 30 | awk -F'\t' -v s="$LAST" '{ printf "profile_proof\t%s\t%s\t%s\t%s\tpercent of CPU samples (children; runs: self)\n", $3, s, $1, $2 }'
	fi
	printf 'verify\tverify_audit_chain\t%s\t%s\t-\tseconds\n' "$TOTAL" "$V_SECS"
	meta() { printf 'meta\t%s\t-\t%s\t-\t-\n' "$1" "$2"; }
	meta events "$EVENTS"
	meta events_large "$([ "$LAST" != "$EVENTS" ] && echo "$LAST" || echo 0)"
	meta large_note "${LARGE_NOTE:--}"
	meta proofs "$PROOFS"
	meta proof_calls "$PROOF_CALLS"
	meta warm_calls "$WARM_CALLS"
	meta consistency_calls "$CONSISTENCY_CALLS"
	meta backlog "$SEAL_N"
	meta perf_note "$PERF_NOTE"
	meta fsync "$S_FSYNC"
	meta shared_buffers "$S_SHARED"
	meta pg_version "$PG_VERSION"
	meta source "$SOURCE"
	meta so_loaded "$SO_LOADED"
	meta load_at_start "$LOAD_AT_START"
	meta so_replaced "$([ -n "$SO_NOTE" ] && echo yes || echo no)"
	meta check_failures "${#CHECK_FAILURES[@]}"
	checks_tsv
	watch_summary
} >"$TSV"

section "report ($REPORT, $TSV)"
cat "$REPORT"
checks_exit
