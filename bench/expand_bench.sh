#!/usr/bin/env bash
# bench/expand_bench.sh: what an expand/contract migration costs the
# application writing the table, measured in one run on one throwaway
# cluster.
#
# A table residents (id, first_name text, care_level text, hits int) of ROWS
# rows (default 1000000).  The write load is pgbench at CLIENTS clients
# (default 8) for DURATION seconds (default 20), one transaction = an UPDATE
# of one random row and an INSERT of one row, written as the old
# application does (first_name, care_level) or, once expanded, as the new
# one does (given_name, care_level_n).  Per run:
#   before      the old application's load on the plain table (the baseline)
#   expand      the same load, and after EXPAND_AFTER seconds (2)
#               migrate_expand of two columns (first_name renamed to
#               given_name; care_level, text, to care_level_n, smallint),
#               whose backfills then run under the load; timed: each
#               migrate_expand call, the backfills (until job_wait returns)
#   expanded    the old application's load once both backfills are done,
#               every write going through the two sync triggers (the goal:
#               its tps >= 0.8x before's)
#   contract    the new application's load, and after EXPAND_AFTER seconds
#               migrate_contract of both; each call timed
# In expand and contract every pgbench transaction's latency is logged
# (pgbench -l): the longest one is the longest a writer waited for the
# migration's lock (the migration runs under lock_timeout, 5 s by default,
# so no writer should wait longer).  The table is rebuilt for every run;
# RUNS runs (2), the report gives the fastest (tps: the highest) of each.
# Correctness checks: the backfills succeed, migrate_expand_check finds no
# disagreeing row, every committed UPDATE and INSERT is in the table after
# contract: never fewer than pgbench counted (with -T, a transaction in
# flight when the time is up may commit without being counted, so the table
# may hold a few more).
# The report goes to bench/results/expand.md and to standard output, the
# figures to bench/results/expand.tsv; BENCH_RESULTS_DIR puts both in
# another directory.  BENCH_BUILD=0 benchmarks the installed pg_steward;
# PGSTEWARD_BENCH_DIR and PGSTEWARD_PORT (54333) are the work directory and
# the port; PG_CONFIG or PGSTEWARD_PG_BIN the PostgreSQL installation.
# A failed correctness check is reported in capitals and the script exits
# with status 3 after writing its report.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

ROWS="${ROWS:-1000000}"
CLIENTS="${CLIENTS:-8}"
DURATION="${DURATION:-20}"
EXPAND_AFTER="${EXPAND_AFTER:-2}"
RUNS="${RUNS:-2}"
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-bench-expand}"
PORT="${PGSTEWARD_PORT:-54333}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/expand.md"
TSV="$RESULTS_DIR/expand.tsv"
steward_cluster_paths "$WORKDIR"
CHECKS=()
CHECK_FAILURES=()

cleanup() {
	[ -z "${WATCH_PID:-}" ] || kill "$WATCH_PID" 2>/dev/null || true
	steward_cluster_stop "$STEWARD_DATA" fast || true
}
trap cleanup EXIT

bench_start
watch_start
psql_q() { psql_db postgres "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
psql_q -c "CREATE EXTENSION pg_steward"
LOCK_TIMEOUT=$(psql_q -c "SHOW pg_steward.lock_timeout" 2>/dev/null || echo "5s")

cat >"$WORKDIR/old.sql" <<SQL
\set id random(1, $ROWS)
BEGIN;
UPDATE residents SET first_name = 'o' || :id, care_level = ((:id % 5) + 1)::text, hits = hits + 1 WHERE id = :id;
INSERT INTO residents (first_name, care_level) VALUES ('old', ((:id % 5) + 1)::text);
COMMIT;
SQL
cat >"$WORKDIR/new.sql" <<SQL
\set id random(1, $ROWS)
BEGIN;
UPDATE residents SET given_name = 'n' || :id, care_level_n = (:id % 5) + 1, hits = hits + 1 WHERE id = :id;
INSERT INTO residents (given_name, care_level_n) VALUES ('new', (:id % 5) + 1);
COMMIT;
SQL

fresh() {
	psql_q <<SQL
DROP TABLE IF EXISTS residents CASCADE;
CREATE TABLE residents (id bigserial PRIMARY KEY, first_name text, care_level text, hits int NOT NULL DEFAULT 0);
INSERT INTO residents (first_name, care_level) SELECT 'r' || g, (g % 5 + 1)::text FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE residents;
CHECKPOINT;
SQL
}

# pgbench_run SCRIPT LOGPREFIX: the load, in the foreground; prints tps and
# the transactions it committed
pgbench_run() {
	local out
	rm -f "$WORKDIR/latency-$2".*
	out=$(cd "$WORKDIR" && "$PG_BIN/pgbench" -n -h "$STEWARD_SOCK" -p "$PORT" -U postgres \
		-c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -l --log-prefix="latency-$2" -f "$1" postgres 2>&1) ||
		die "pgbench failed: $out"
	echo "$(grep -oE 'tps = [0-9.]+' <<<"$out" | head -1 | awk '{printf "%.0f", $3}') $(grep -oE 'actually processed: [0-9]+' <<<"$out" | awk '{print $3}')"
}
# max_latency_ms LOGPREFIX: the longest transaction of a pgbench -l log
max_latency_ms() { cat "$WORKDIR/latency-$1".* | awk '{ if ($3 > m) m = $3 } END { printf "%.0f", m / 1000 }'; }

declare -A R

run() {
	local r=$1 t0 t1 j1 j2 s1 s2 pid tps n hits rows
	section "run $r: before (the old application on the plain table, $CLIENTS clients, $DURATION s)"
	fresh
	mark "expand: before"
	read -r tps n <<<"$(pgbench_run "$WORKDIR/old.sql" before)"
	R[before,$r]=$tps
	local updates=$n inserts=$n

	section "run $r: expand under the load"
	mark "expand: expand"
	pgbench_run "$WORKDIR/old.sql" expand >"$WORKDIR/expand.out" &
	pid=$!
	sleep "$EXPAND_AFTER"
	t0=$(now)
	j1=$(psql_q -c "SELECT migrate_expand('b${r}_1_name', 'residents', 'first_name', new_name => 'given_name')")
	t1=$(now); R[expand1_s,$r]=$(secs "$t0" "$t1")
	t0=$(now)
	j2=$(psql_q -c "SELECT migrate_expand('b${r}_2_level', 'residents', 'care_level', new_name => 'care_level_n',
	                                      new_type => 'smallint', up => 'care_level::smallint', down => 'care_level_n::text')")
	t1=$(now); R[expand2_s,$r]=$(secs "$t0" "$t1")
	t0=$(now)
	s1=$(psql_q -c "SELECT job_wait($j1)")
	s2=$(psql_q -c "SELECT job_wait($j2)")
	t1=$(now); R[backfill_s,$r]=$(secs "$t0" "$t1")
	wait "$pid" || die "pgbench failed during expand"
	read -r tps n <"$WORKDIR/expand.out"
	R[during,$r]=$tps
	updates=$((updates + n)) inserts=$((inserts + n))
	R[expand_wait,$r]=$(max_latency_ms expand)
	check "backfills succeeded (run $r)" "job_wait: $s1, $s2" eqs "$s1" succeeded "$s2" succeeded
	R[disagree,$r]=$(psql_q -c "SELECT migrate_expand_check('b${r}_1_name') + migrate_expand_check('b${r}_2_level')")
	check "no row disagrees after the backfills (run $r)" "migrate_expand_check: ${R[disagree,$r]}" eqs "${R[disagree,$r]}" 0

	section "run $r: expanded (the old application through the sync triggers)"
	psql_q -c "VACUUM ANALYZE residents" -c CHECKPOINT
	mark "expand: expanded"
	read -r tps n <<<"$(pgbench_run "$WORKDIR/old.sql" expanded)"
	R[expanded,$r]=$tps
	updates=$((updates + n)) inserts=$((inserts + n))

	section "run $r: contract under the new application's load"
	mark "expand: contract"
	pgbench_run "$WORKDIR/new.sql" contract >"$WORKDIR/contract.out" &
	pid=$!
	sleep "$EXPAND_AFTER"
	t0=$(now)
	psql_q -c "SELECT migrate_contract('b${r}_1_name')" >/dev/null
	t1=$(now); R[contract1_s,$r]=$(secs "$t0" "$t1")
	t0=$(now)
	psql_q -c "SELECT migrate_contract('b${r}_2_level')" >/dev/null
	t1=$(now); R[contract2_s,$r]=$(secs "$t0" "$t1")
	wait "$pid" || die "pgbench failed during contract"
	read -r tps n <"$WORKDIR/contract.out"
	R[contract_tps,$r]=$tps
	updates=$((updates + n)) inserts=$((inserts + n))
	R[contract_wait,$r]=$(max_latency_ms contract)
	mark "between runs"

	read -r hits rows <<<"$(psql_q -F ' ' -c "SELECT sum(hits), count(*) FROM residents")"
	check "no committed write lost (run $r)" \
		"UPDATEs counted by pgbench $updates, in the table $hits; rows $ROWS + INSERTs $inserts, in the table $rows" \
		awk -v h="$hits" -v u="$updates" -v r="$rows" -v i="$((ROWS + inserts))" 'BEGIN { exit !(h >= u && r >= i) }'
}

for r in $(seq "$RUNS"); do run "$r"; done
watch_stop

# the best of the runs: highest tps, shortest waits
best_max() { local k=$1 r b=; for r in $(seq "$RUNS"); do [ -n "$b" ] && [ "${R[$k,$r]}" -le "$b" ] || b=${R[$k,$r]}; done; echo "$b"; }
best_min() { local k=$1 r b=; for r in $(seq "$RUNS"); do [ -n "$b" ] && awk -v a="${R[$k,$r]}" -v b="$b" 'BEGIN { exit !(a >= b) }' || b=${R[$k,$r]}; done; echo "$b"; }
worst() { local k=$1 r b=0; for r in $(seq "$RUNS"); do awk -v a="${R[$k,$r]}" -v b="$b" 'BEGIN { exit !(a > b) }' && b=${R[$k,$r]}; done; echo "$b"; }
every() { local k=$1 r out=(); for r in $(seq "$RUNS"); do out+=("${R[$k,$r]}"); done; local IFS=/; echo "${out[*]}" | sed 's#/# / #g'; }

BEFORE=$(best_max before)
EXPANDED=$(best_max expanded)
DURING=$(best_max during)
RATIO=$(ratio "$EXPANDED" "$BEFORE")
RATIO_DURING=$(ratio "$DURING" "$BEFORE")
EXPAND_WAIT=$(worst expand_wait)
CONTRACT_WAIT=$(worst contract_wait)
LT_MS=$(psql_q -c "SELECT extract(epoch FROM '$LOCK_TIMEOUT'::interval) * 1000" | awk '{printf "%.0f", $1}')
HOLDS=no; awk -v r="$RATIO" 'BEGIN { exit !(r >= 0.8) }' && HOLDS=yes
LOCK_HOLDS=no; [ "$EXPAND_WAIT" -le "$LT_MS" ] && [ "$CONTRACT_WAIT" -le "$LT_MS" ] && LOCK_HOLDS=yes

mkdir -p "$RESULTS_DIR"
{
	cat <<EOF
# Expand/contract: the cost to the application writing the table

Run $(date -u '+%Y-%m-%d %H:%M UTC') by bench/expand_bench.sh on $SOURCE; PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), $(nproc) cores.
$ROWS rows; pgbench at $CLIENTS clients, $DURATION s per load, one transaction = one UPDATE of a random row and one INSERT; $RUNS runs, the best of each figure.

| goal | measured | goal | holds |
|---|---|---|---|
| tps with both sync triggers active ÷ tps before expand | **${RATIO}×** ($EXPANDED / $BEFORE tps) | ≥ 0.8× | $HOLDS |
| longest writer wait during expand / during contract | **$EXPAND_WAIT ms / $CONTRACT_WAIT ms** | ≤ lock_timeout ($LT_MS ms) | $LOCK_HOLDS |

| figure | runs | best |
|---|---|---|
| tps before (old application, plain table) | $(every before) | $BEFORE |
| tps during expand and the two backfills | $(every during) | $DURING (${RATIO_DURING}× before) |
| tps expanded (old application through the triggers) | $(every expanded) | $EXPANDED |
| tps during contract (new application) | $(every contract_tps) | $(best_max contract_tps) |
| migrate_expand, rename (s, under the load) | $(every expand1_s) | $(best_min expand1_s) |
| migrate_expand, type change (s) | $(every expand2_s) | $(best_min expand2_s) |
| both backfills, $ROWS rows each (s, under the load) | $(every backfill_s) | $(best_min backfill_s) |
| migrate_contract, rename (s) | $(every contract1_s) | $(best_min contract1_s) |
| migrate_contract, type change (s) | $(every contract2_s) | $(best_min contract2_s) |
| longest pgbench transaction during expand (ms) | $(every expand_wait) | worst $EXPAND_WAIT |
| longest pgbench transaction during contract (ms) | $(every contract_wait) | worst $CONTRACT_WAIT |

The longest transaction includes the wait for the migration's \`ACCESS EXCLUSIVE\`
lock (adding the column and the trigger; dropping them) and any other delay of
the shared machine; the migrations take their locks under \`lock_timeout\` with
retries, so a writer never waits longer than one lock timeout for them.

## Correctness checks

$(checks_md)

## Machine load

| section | seconds | busy cores (of $(nproc)) | this benchmark | others |
|---|---|---|---|---|
$(watch_summary | awk -F'\t' '{ split($5, f, ","); printf "| %s | %s | %s | %s | %s |\n", $2, $3, $4, f[4], f[5] }')
EOF
} | tee "$REPORT"
{
	printf 'figure\tvalue\n'
	printf 'ratio_expanded\t%s\nratio_during\t%s\nbefore_tps\t%s\nexpanded_tps\t%s\nduring_tps\t%s\n' \
		"$RATIO" "$RATIO_DURING" "$BEFORE" "$EXPANDED" "$DURING"
	printf 'expand_wait_ms\t%s\ncontract_wait_ms\t%s\nlock_timeout_ms\t%s\n' "$EXPAND_WAIT" "$CONTRACT_WAIT" "$LT_MS"
	checks_tsv
} >"$TSV"
checks_exit
