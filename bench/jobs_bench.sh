#!/usr/bin/env bash
# bench/jobs_bench.sh: backfill and copy_table against their baselines,
# measured in one run on one throwaway cluster.
#
#   backfill   vs  one plain UPDATE of all rows (the limit), and the loop
#                  UPDATE ... WHERE id IN (SELECT id ... WHERE col IS NULL LIMIT n)
#   copy_table vs  one INSERT ... SELECT of the same rows; copy_table runs
#                  under a concurrent pgbench write load on the source, and
#                  the source and the copy are compared row by row afterwards
#
# Every method gets a fresh copy of the same table (vacuumed, checkpointed).
# Wall-clock times; the machine is shared, so read the ratios, not the seconds.
# Every method runs RUNS times (default 2), in the order update, loop,
# backfill, INSERT ... SELECT, copy_table and then the reverse, and the report
# gives the fastest run (other load on a shared machine only ever slows a run
# down).  ROWS (default 2000000) sets the table size, LOAD_SECONDS (default
# 10) the seconds of the write load during copy_table; the report goes to
# bench/results/jobs.md and to standard output, the same figures to
# bench/results/jobs.tsv (one line per figure, for bench/run_all.sh).
# BENCH_RESULTS_DIR puts both files in another directory; BENCH_BUILD=0
# benchmarks the pg_steward already installed instead of building and
# installing this tree first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

ROWS="${ROWS:-2000000}"
BATCH=10000
LOAD_SECONDS="${LOAD_SECONDS:-10}"
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-bench}"
PORT="${PGSTEWARD_PORT:-54331}"
RUNS="${RUNS:-2}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/jobs.md"
TSV="$RESULTS_DIR/jobs.tsv"
steward_cluster_paths "$WORKDIR"

cleanup() { steward_cluster_stop "$STEWARD_DATA" fast || true; }
trap cleanup EXIT

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start

psql_q() { PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$STEWARD_SOCK" -p "$PORT" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
join() { local IFS=$1; shift; echo "$*"; } # join SEP WORDS...
command -v bc >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bc >/dev/null

section "preparing $ROWS rows"
psql_q <<SQL
CREATE EXTENSION pg_steward;
CREATE TABLE base AS SELECT g::bigint AS id, (g % 1000)::int AS v, NULL::int AS w,
                            '2025-01-01'::timestamptz + g * interval '10 seconds' AS at,
                            md5(g::text) AS note
                       FROM generate_series(1, $ROWS) g;
SQL

fresh() { # fresh TABLE: a new copy of base with a primary key
	psql_q <<SQL
DROP TABLE IF EXISTS $1 CASCADE;
CREATE TABLE $1 AS TABLE base;
ALTER TABLE $1 ADD PRIMARY KEY (id);
VACUUM ANALYZE $1;
CHECKPOINT;
SQL
}

# seconds per method and run; the backfill's and the copy's other figures per run
# (read through namerefs in every() and sum())
declare -A T BF COPY

m_update() { # one plain UPDATE of every row
	section "run $1: plain UPDATE (one statement)"
	fresh t_update
	t0=$(now); psql_q -c "UPDATE t_update SET w = v * 2"; t1=$(now)
	T[update,$1]=$(secs "$t0" "$t1")
}

m_loop() { # seed 003's loop
	section "run $1: the loop: UPDATE ... WHERE id IN (SELECT id ... WHERE w IS NULL LIMIT $BATCH)"
	fresh t_loop
	t0=$(now)
	psql_q <<SQL
DO \$\$
DECLARE n bigint;
BEGIN
    LOOP
        UPDATE t_loop SET w = v * 2 WHERE id IN (SELECT id FROM t_loop WHERE w IS NULL LIMIT $BATCH);
        GET DIAGNOSTICS n = ROW_COUNT;
        COMMIT;
        EXIT WHEN n = 0;
    END LOOP;
END \$\$;
SQL
	t1=$(now)
	T[loop,$1]=$(secs "$t0" "$t1")
}

m_backfill() {
	local job state
	section "run $1: backfill job (batch_size $BATCH, target_batch_time 1s, no pause)"
	fresh t_backfill
	t0=$(now)
	job=$(psql_q -c "SELECT backfill('t_backfill', 'w = v * 2', batch_size => $BATCH, target_batch_time => '1s')")
	state=$(psql_q -c "SELECT job_wait($job)")
	t1=$(now)
	T[backfill,$1]=$(secs "$t0" "$t1")
	[ "$state" = succeeded ] || die "backfill ended $state"
	read -r "BF[batches,$1]" "BF[maxbatch,$1]" "BF[lastsize,$1]" \
		<<<"$(psql_q -F ' ' -c "SELECT batches, round(max_batch_ms), batch_size FROM job_status($job)")"
	# shellcheck disable=SC2034 # read in every() and sum()
	BF[left,$1]=$(psql_q -c "SELECT count(*) FROM t_backfill WHERE w IS DISTINCT FROM v * 2")
}

make_target() {
	psql_q <<SQL
DROP TABLE IF EXISTS $1 CASCADE;
CREATE TABLE $1 (id bigint NOT NULL, v int, w int, at timestamptz NOT NULL, note text,
                 PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE ${1}_a PARTITION OF $1 FOR VALUES FROM ('2025-01-01') TO ('2025-04-01');
CREATE TABLE ${1}_b PARTITION OF $1 FOR VALUES FROM ('2025-04-01') TO ('2025-07-01');
CREATE TABLE ${1}_c PARTITION OF $1 FOR VALUES FROM ('2025-07-01') TO ('2026-01-01');
CREATE TABLE ${1}_d PARTITION OF $1 FOR VALUES FROM ('2026-01-01') TO ('2100-01-01');
CHECKPOINT;
SQL
}

m_insert() { # one INSERT ... SELECT into a partitioned table
	section "run $1: INSERT ... SELECT into a partitioned table (one statement)"
	fresh src_insert; make_target dst_insert
	t0=$(now); psql_q -c "INSERT INTO dst_insert SELECT * FROM src_insert"; t1=$(now)
	T[insert,$1]=$(secs "$t0" "$t1")
}

m_copy() { # copy_table under a write load; then source and copy compared
	local job state load_end
	section "run $1: copy_table under a pgbench write load ($LOAD_SECONDS s, 4 clients)"
	fresh src_copy; make_target dst_copy
	cat > "$WORKDIR/writes.sql" <<SQL
\set id random(1, $ROWS)
INSERT INTO src_copy VALUES (:id + $ROWS, 1, NULL, now(), 'new') ON CONFLICT DO NOTHING;
UPDATE src_copy SET note = 'changed' WHERE id = :id;
DELETE FROM src_copy WHERE id = (:id * 7) % $ROWS + 1;
SQL
	t0=$(now)
	job=$(psql_q -c "SELECT copy_table('src_copy', 'dst_copy', batch_size => $BATCH)")
	"$PG_BIN/pgbench" -n -h "$STEWARD_SOCK" -p "$PORT" -U postgres -c 4 -j 2 -T "$LOAD_SECONDS" \
		-f "$WORKDIR/writes.sql" postgres >"$WORKDIR/pgbench.log" 2>&1
	load_end=$(psql_q -c "SELECT clock_timestamp()")
	state=$(psql_q -c "CALL job_await($job)")
	t1=$(now)
	T[copy,$1]=$(secs "$t0" "$t1")
	COPY[tps,$1]=$(grep -oE 'tps = [0-9.]+' "$WORKDIR/pgbench.log" | head -1 | awk '{printf "%.0f", $3}')
	[ "$state" = succeeded ] || die "copy_table ended $state: $(psql_q -c "SELECT last_error FROM job_status($job)")"
	COPY[covered,$1]=$(psql_q -c "SELECT finished_at > '$load_end'::timestamptz FROM job_status($job)")
	COPY[lost,$1]=$(psql_q -c "SELECT count(*) FROM (SELECT * FROM src_copy EXCEPT SELECT * FROM dst_copy) d")
	COPY[extra,$1]=$(psql_q -c "SELECT count(*) FROM (SELECT * FROM dst_copy EXCEPT SELECT * FROM src_copy) d")
	# shellcheck disable=SC2034 # read in every() and sum()
	COPY[rows,$1]=$(psql_q -c "SELECT count(*) FROM dst_copy")
}

METHODS=(update loop backfill insert copy)
for r in $(seq "$RUNS"); do
	if [ $((r % 2)) = 1 ]; then
		order=("${METHODS[@]}")
	else
		order=(copy insert backfill loop update)
	fi
	for m in "${order[@]}"; do "m_$m" "$r"; done
done

# per METHOD: every run's seconds ("a, b"), the fastest run, and that run's number
runs_of() { local r out=(); for r in $(seq "$RUNS"); do out+=("${T[$1,$r]}"); done; join , "${out[@]}" | sed 's/,/, /g'; }
best_run() {
	local r b=1
	for r in $(seq "$RUNS"); do
		[ "$(echo "${T[$1,$r]} < ${T[$1,$b]}" | bc -l)" = 1 ] && b=$r
	done
	echo "$b"
}
best() { echo "${T[$1,$(best_run "$1")]}"; }
every() { local -n a=$1; local r out=(); for r in $(seq "$RUNS"); do out+=("${a[$2,$r]}"); done; join / "${out[@]}" | sed 's#/# / #g'; } # every BF batches: "a / b"
sum() { local -n a=$1; local r s=0; for r in $(seq "$RUNS"); do s=$((s + ${a[$2,$r]})); done; echo "$s"; }

T_UPDATE=$(best update)
T_LOOP=$(best loop)
T_BACKFILL=$(best backfill)
T_INSERT=$(best insert)
T_COPY=$(best copy)
BF_RATIO=$(ratio "$T_UPDATE" "$T_BACKFILL")
LOOP_RATIO=$(ratio "$T_UPDATE" "$T_LOOP")
COPY_RATIO=$(ratio "$T_COPY" "$T_INSERT")
LOST=$(sum COPY lost)
EXTRA=$(sum COPY extra)
BF_LEFT=$(sum BF left)
CORES=$(nproc)
SO_NOTE=
if [ "$(md5sum <"$SO")" != "$SO_SUM" ]; then
	SO_NOTE=" $SO was replaced by another install during this run; the server
keeps the build it loaded at its start."
	warn "$SO was replaced during the run"
fi
RUN_WORD="run"; [ "$RUNS" = 1 ] || RUN_WORD="the fastest of $RUNS runs"

cat > "$REPORT" <<EOF2
# Jobs benchmark

\`bench/jobs_bench.sh\`, $(date -u +%Y-%m-%d), pg_steward at $SOURCE, PostgreSQL
$("$PG_BIN/postgres" --version | awk '{print $3}'), $CORES cores (load average $LOAD_AT_START at the start), $ROWS rows,
default settings of a throwaway cluster (fsync $(psql_q -c "SHOW fsync")). Wall-clock seconds of $RUN_WORD
(every run in brackets; the runs went update, loop, backfill, INSERT … SELECT, copy_table and
then the reverse); every method started on a fresh, vacuumed copy of the same table.$SO_NOTE

## Backfill: \`SET w = v * 2\` on every row

| method | seconds (runs) | throughput vs one UPDATE |
|---|---:|---:|
| one plain \`UPDATE\` (holds every row lock until it ends) | $T_UPDATE ($(runs_of update)) | 1.00 |
| loop \`UPDATE … WHERE id IN (SELECT id … WHERE w IS NULL LIMIT $BATCH)\` | $T_LOOP ($(runs_of loop)) | $LOOP_RATIO |
| \`backfill()\` job, batch_size $BATCH, target_batch_time 1s, no pause | $T_BACKFILL ($(runs_of backfill)) | **$BF_RATIO** |

Per run, the backfill ran $(every BF batches) batches; its longest batch held its row locks
for $(every BF maxbatch) ms (target 1000 ms); its last batch size was $(every BF lastsize);
rows left unchanged, all runs: $BF_LEFT.

## Copy into a partitioned table

| method | seconds (runs) | time vs one INSERT … SELECT |
|---|---:|---:|
| one \`INSERT … SELECT\` (no concurrent writes) | $T_INSERT ($(runs_of insert)) | 1.00 |
| \`copy_table()\` job while pgbench writes to the source ($(every COPY tps) tps for $LOAD_SECONDS s) | $T_COPY ($(runs_of copy)) | $COPY_RATIO |

After each job: $(every COPY rows) rows in the copy; rows of the source missing from the
copy, all runs: **$LOST**; rows in the copy that the source does not have: **$EXTRA**
(the write load ended before the job did: $(every COPY covered)).
EOF2

# The same figures, one per line, tab-separated: section, method, param (the
# rows), value (the fastest run), runs (every run, comma-separated), unit.
{
	printf 'section\tmethod\tparam\tvalue\truns\tunit\n'
	for m in update loop backfill; do
		printf 'backfill\t%s\t%s\t%s\t%s\tseconds\n' "$m" "$ROWS" "$(best "$m")" "$(runs_of "$m" | tr -d ' ')"
	done
	printf 'copy\tinsert_select\t%s\t%s\t%s\tseconds\n' "$ROWS" "$T_INSERT" "$(runs_of insert | tr -d ' ')"
	printf 'copy\tcopy_table\t%s\t%s\t%s\tseconds\n' "$ROWS" "$T_COPY" "$(runs_of copy | tr -d ' ')"
	meta() { printf 'meta\t%s\t-\t%s\t-\t-\n' "$1" "$2"; }
	meta rows "$ROWS"
	meta runs "$RUNS"
	meta batch "$BATCH"
	meta load_seconds "$LOAD_SECONDS"
	meta copy_load_tps "$(every COPY tps)"
	meta copy_rows_lost "$LOST"
	meta copy_rows_extra "$EXTRA"
	meta backfill_rows_left "$BF_LEFT"
	meta backfill_batches "$(every BF batches)"
	meta backfill_max_batch_ms "$(every BF maxbatch)"
	meta fsync "$(psql_q -c "SHOW fsync")"
	meta pg_version "$("$PG_BIN/postgres" --version | awk '{print $3}')"
	meta source "$SOURCE"
	meta so_loaded "$SO_LOADED"
	meta load_at_start "$LOAD_AT_START"
	meta so_replaced "$([ -n "$SO_NOTE" ] && echo yes || echo no)"
} >"$TSV"

section "report ($REPORT, $TSV)"
cat "$REPORT"
