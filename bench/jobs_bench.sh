#!/usr/bin/env bash
# bench/jobs_bench.sh: backfill and copy_table against their baselines,
# measured in one run on one throwaway cluster.
#
#   backfill   vs  one plain UPDATE of all rows (the baseline of the goal),
#                  and seed 003's loop
#                  UPDATE ... WHERE id IN (SELECT id ... WHERE col IS NULL LIMIT n);
#                  the backfill's longest batch (job_status().max_batch_ms)
#                  against its target batch time (args.target_batch_ms)
#   copy_table vs  one INSERT ... SELECT of the same rows into the same
#                  partitioned table, with no other load; copy_table runs
#                  under a concurrent pgbench write load on the source (4
#                  clients inserting, updating and deleting for LOAD_SECONDS,
#                  while the copy's capture trigger exists), timed from its
#                  submission to its finished_at, and the source and the copy
#                  are compared row by row afterwards (EXCEPT both ways).  Where its time goes: its
#                  phases (copy, replay, verify, final) from job_status(),
#                  sampled every PHASE_INTERVAL seconds (0.1): a phase starts
#                  at the updated_at of the first sample that shows it (the
#                  commit of the batch that set it), copy at started_at, and
#                  the final step ends at finished_at.  The longest a writer
#                  waited: a probe session runs a no-op UPDATE of one source
#                  row every 50 ms for as long as the job runs and records
#                  each one's time (the final step's SHARE lock blocks it).
#                  Any figure job_status() itself reports about phases or
#                  locks (a column or JSON key naming a phase or a lock and a
#                  duration) is read as well, whatever its name.
#
# Every method gets a fresh copy of the same table (vacuumed, checkpointed).
# Wall-clock times; the machine is shared, so read the ratios, not the seconds.
# Every method runs RUNS times (default 3), in the order update, loop,
# backfill, INSERT ... SELECT, copy_table, then the reverse, alternately, and the report
# gives the fastest run (other load on a shared machine only ever slows a run
# down).  ROWS (default 2000000) sets the table size, LOAD_SECONDS (default
# 10) the seconds of the write load during copy_table; the machine's load is
# sampled every second and summed per method (bench/lib.sh's watch_*).  The
# report goes to bench/results/jobs.md and to standard output, the same
# figures to bench/results/jobs.tsv (one line per figure, for
# bench/run_all.sh); BENCH_RESULTS_DIR puts both files in another directory;
# BENCH_BUILD=0 benchmarks the pg_steward already installed instead of
# building and installing this tree first; PGSTEWARD_BENCH_DIR and
# PGSTEWARD_PORT (54331) are the work directory and the port, PG_CONFIG or
# PGSTEWARD_PG_BIN the PostgreSQL installation (scripts/lib.sh).
# A correctness check that fails (rows lost or added by the copy, rows the
# backfill left unchanged) is reported in capitals; the script still writes
# its report and then exits with status 3.  A job that does not succeed
# stops the script at once.
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
PHASE_INTERVAL="${PHASE_INTERVAL:-0.1}"
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-bench}"
PORT="${PGSTEWARD_PORT:-54331}"
RUNS="${RUNS:-3}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/jobs.md"
TSV="$RESULTS_DIR/jobs.tsv"
steward_cluster_paths "$WORKDIR"

cleanup() {
	[ -z "${WATCH_PID:-}" ] || kill "$WATCH_PID" 2>/dev/null || true
	steward_cluster_stop "$STEWARD_DATA" fast || true
}
trap cleanup EXIT

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start
watch_start

psql_q() { psql_db postgres "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
join() { local IFS=$1; shift; echo "$*"; } # join SEP WORDS...

section "preparing $ROWS rows"
mark "setup"
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
	mark "backfill: one UPDATE"
	t0=$(now); psql_q -c "UPDATE t_update SET w = v * 2"; t1=$(now)
	mark "between runs"
	T[update,$1]=$(secs "$t0" "$t1")
}

m_loop() { # seed 003's loop
	section "run $1: the loop: UPDATE ... WHERE id IN (SELECT id ... WHERE w IS NULL LIMIT $BATCH)"
	fresh t_loop
	mark "backfill: seed 003's loop"
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
	mark "between runs"
	T[loop,$1]=$(secs "$t0" "$t1")
}

m_backfill() {
	local job state
	section "run $1: backfill job (batch_size $BATCH, target_batch_time 1s, no pause)"
	fresh t_backfill
	mark "backfill: backfill()"
	t0=$(now)
	job=$(psql_q -c "SELECT backfill('t_backfill', 'w = v * 2', batch_size => $BATCH, target_batch_time => '1s')")
	state=$(psql_q -c "SELECT job_wait($job)")
	t1=$(now)
	mark "between runs"
	T[backfill,$1]=$(secs "$t0" "$t1")
	[ "$state" = succeeded ] || die "backfill ended $state: $(psql_q -c "SELECT last_error FROM job_status($job)")"
	read -r "BF[batches,$1]" "BF[maxbatch,$1]" "BF[lastsize,$1]" "BF[target,$1]" \
		<<<"$(psql_q -F ' ' -c "SELECT batches, round(max_batch_ms), batch_size, args->>'target_batch_ms' FROM job_status($job)")"
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
	mark "copy: INSERT ... SELECT"
	t0=$(now); psql_q -c "INSERT INTO dst_insert SELECT * FROM src_insert"; t1=$(now)
	mark "between runs"
	T[insert,$1]=$(secs "$t0" "$t1")
}

# The phases of a copy_table job, sampled: time, state, phase, updated_at
# (epoch seconds).
phase_sampler_start() { # phase_sampler_start JOB FILE
	PHASE_FILE=$2
	rm -f "$PHASE_FILE.stop"
	(
		while [ ! -e "$PHASE_FILE.stop" ]; do
			echo "SELECT round(extract(epoch FROM clock_timestamp())::numeric, 3), state, coalesce(phase, 'copy'),
			             round(extract(epoch FROM updated_at)::numeric, 3) FROM job_status($1);"
			sleep "$PHASE_INTERVAL"
		done
	) | psql_q -F $'\t' >"$PHASE_FILE" 2>"$PHASE_FILE.err" &
	PHASE_PID=$!
}
# A writer's view of the job: a no-op UPDATE of one source row every 50 ms,
# each timed.
probe_start() { # probe_start FILE
	PROBE_FILE=$1
	rm -f "$PROBE_FILE.stop"
	(
		while [ ! -e "$PROBE_FILE.stop" ]; do
			echo "UPDATE src_copy SET note = note WHERE id = 1;"
			sleep 0.05
		done
	) | psql_q -c '\timing on' -f - >"$PROBE_FILE" 2>&1 &
	PROBE_PID=$!
}
samplers_stop() {
	touch "$PHASE_FILE.stop" "$PROBE_FILE.stop"
	wait "$PHASE_PID" || warn "the phase sampler failed: $(cat "$PHASE_FILE.err")"
	wait "$PROBE_PID" || warn "the probe writer failed: $(tail -3 "$PROBE_FILE")"
}
# phases FILE STARTED FINISHED: the seconds of copy, replay, verify and final
# ("-" for a phase no sample showed: its time is in the phase before it)
phases() {
	awk -F'\t' -v st="$2" -v fin="$3" '
		NF >= 4 { p = $3; sub(/[:;].*/, "", p); if (!(p in first)) first[p] = $4 }
		END {
			n = split("copy replay verify final done", ph, " ")
			first["copy"] = st; first["done"] = fin
			for (i = 1; i < n; i++) {
				if (!(ph[i] in first)) { printf "%s-", (i > 1 ? " " : ""); continue }
				for (j = i + 1; j <= n && !(ph[j] in first); j++);
				printf "%s%.2f", (i > 1 ? " " : ""), first[ph[j]] - first[ph[i]]
			}
			print ""
		}' "$1"
}

# The write load writes only while the copy's capture trigger exists: the
# final step drops it under its SHARE lock, so a write that waited for that
# lock sees it gone and writes nothing, and the source compared afterwards is
# the source the copy was made of, whenever the job ended.
COPYING="EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgrelid = 'src_copy'::regclass AND tgname LIKE 'steward_copy%')"

m_copy() { # copy_table under a write load; then source and copy compared
	local job state load_end started finished
	section "run $1: copy_table under a pgbench write load ($LOAD_SECONDS s, 4 clients)"
	fresh src_copy; make_target dst_copy
	cat > "$WORKDIR/writes.sql" <<SQL
\set id random(1, $ROWS)
INSERT INTO src_copy SELECT :id + $ROWS, 1, NULL, now(), 'new' WHERE $COPYING ON CONFLICT DO NOTHING;
UPDATE src_copy SET note = 'changed' WHERE id = :id AND $COPYING;
DELETE FROM src_copy WHERE id = (:id * 7) % $ROWS + 1 AND $COPYING;
SQL
	mark "copy: copy_table()"
	t0=$(now)
	job=$(psql_q -c "SELECT copy_table('src_copy', 'dst_copy', batch_size => $BATCH)")
	phase_sampler_start "$job" "$WORKDIR/phases-$1.tsv"
	probe_start "$WORKDIR/probe-$1.log"
	"$PG_BIN/pgbench" -n -h "$STEWARD_SOCK" -p "$PORT" -U postgres -c 4 -j 2 -T "$LOAD_SECONDS" \
		-f "$WORKDIR/writes.sql" postgres >"$WORKDIR/pgbench.log" 2>&1
	load_end=$(psql_q -c "SELECT clock_timestamp()")
	state=$(psql_q -c "CALL job_await($job)")
	samplers_stop
	mark "between runs"
	# from submission to the job's end (it may end before the write load does)
	t1=$(psql_q -c "SELECT extract(epoch FROM finished_at) FROM job_status($job)")
	T[copy,$1]=$(secs "$t0" "$t1")
	COPY[tps,$1]=$(grep -oE 'tps = [0-9.]+' "$WORKDIR/pgbench.log" | head -1 | awk '{printf "%.0f", $3}')
	[ "$state" = succeeded ] || die "copy_table ended $state: $(psql_q -c "SELECT last_error FROM job_status($job)")"
	read -r started finished "COPY[maxbatch,$1]" "COPY[batches,$1]" <<<"$(psql_q -F ' ' -c "
		SELECT extract(epoch FROM started_at), extract(epoch FROM finished_at), round(max_batch_ms), batches
		  FROM job_status($job)")"
	read -r "COPY[p_copy,$1]" "COPY[p_replay,$1]" "COPY[p_verify,$1]" "COPY[p_final,$1]" <<<"$(phases "$WORKDIR/phases-$1.tsv" "$started" "$finished")"
	# copy_table's own account of its phases and of its lock, in its last
	# phase text ("done: N rows; copy 5.83 s, replay ..., final 0.12 s,
	# lock held 95 ms"): preferred to the samples when it is there
	COPY[held,$1]=-
	local done_phase
	done_phase=$(psql_q -c "SELECT phase FROM job_status($job)")
	if [[ $done_phase =~ copy\ ([0-9.]+)\ s,\ replay\ ([0-9.]+)\ s,\ verify\ ([0-9.]+)\ s,\ final\ ([0-9.]+)\ s,\ lock\ held\ ([0-9]+)\ ms ]]; then
		COPY[p_copy,$1]=${BASH_REMATCH[1]} COPY[p_replay,$1]=${BASH_REMATCH[2]}
		COPY[p_verify,$1]=${BASH_REMATCH[3]} COPY[p_final,$1]=${BASH_REMATCH[4]}
		COPY[held,$1]=${BASH_REMATCH[5]}
	fi
	# ranges verify found different and copied again (the server log)
	COPY[recopied,$1]=$(grep -c "pg_steward job $job: .*differed and was copied again" "$STEWARD_LOG" || true)
	COPY[probe_max,$1]=$(awk '/^Time: / { if ($2 > m) m = $2 } END { printf "%.0f", m }' "$WORKDIR/probe-$1.log")
	COPY[probe_n,$1]=$(grep -c '^Time: ' "$WORKDIR/probe-$1.log" || true)
	COPY[covered,$1]=$(psql_q -c "SELECT finished_at > '$load_end'::timestamptz FROM job_status($job)")
	COPY[lost,$1]=$(psql_q -c "SELECT count(*) FROM (SELECT * FROM src_copy EXCEPT SELECT * FROM dst_copy) d")
	COPY[extra,$1]=$(psql_q -c "SELECT count(*) FROM (SELECT * FROM dst_copy EXCEPT SELECT * FROM src_copy) d")
	# shellcheck disable=SC2034 # read in every() and sum()
	COPY[rows,$1]=$(psql_q -c "SELECT count(*) FROM dst_copy")
	# Whatever job_status() reports about phases and locks (the columns and
	# JSON keys, nested ones as a.b, whose names speak of a phase or a lock
	# and of a duration), and the whole row (without args) for reading.
	psql_q -c "SELECT jsonb_pretty(to_jsonb(s) - 'args') FROM job_status($job) s" >"$RESULTS_DIR/jobs-copy-status-$1.json"
	psql_q -F $'\t' -c "
		WITH RECURSIVE kv(key, value) AS (
		    SELECT e.key, e.value FROM job_status($job) s, jsonb_each(to_jsonb(s) - 'args') e
		    UNION ALL
		    SELECT kv.key || '.' || e.key, e.value
		      FROM kv, jsonb_each(CASE jsonb_typeof(kv.value) WHEN 'object' THEN kv.value ELSE '{}' END) e)
		SELECT key, value #>> '{}' FROM kv
		 WHERE jsonb_typeof(value) IN ('number', 'string')
		   AND key ~* '(phase|copy|replay|verify|final|lock|swap)' AND key ~* '(ms|sec|duration|time|wait|held)'
		   AND key <> 'max_batch_ms'
		 ORDER BY key" >"$WORKDIR/copy-status-$1.tsv"
	STATUS_COLUMNS=$(psql_q -c "SELECT string_agg(k, ', ' ORDER BY k) FROM job_status($job) s, jsonb_object_keys(to_jsonb(s)) k
	                             WHERE k NOT IN ('id', 'kind', 'relation', 'state', 'phase', 'rows_done', 'rows_estimate',
	                                             'percent', 'current_key', 'upper_key', 'batches', 'batch_size',
	                                             'max_batch_ms', 'rows_per_second', 'hold_reason', 'attempts',
	                                             'last_error', 'last_sqlstate', 'owner_name', 'migration_version',
	                                             'worker_pid', 'created_at', 'started_at', 'finished_at',
	                                             'updated_at', 'args')")
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
		awk -v a="${T[$1,$r]}" -v b="${T[$1,$b]}" 'BEGIN { exit !(a < b) }' && b=$r
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
BF_MAXBATCH=$(every BF maxbatch | tr -d ' ' | tr / '\n' | sort -g | tail -1)
BF_TARGET=$(every BF target | tr -d ' ' | tr / '\n' | sort -u | paste -sd/)
COPY_BEST=$(best_run copy)
PROBE_MAX=$(every COPY probe_max | tr -d ' ' | tr / '\n' | sort -g | tail -1)
CORES=$(nproc)
PG_VERSION=$("$PG_BIN/postgres" --version | awk '{print $3}')
S_FSYNC=$(psql_q -c "SHOW fsync")
watch_stop

check "backfill complete" "rows the backfill left unchanged, all runs: $BF_LEFT" test "$BF_LEFT" = 0
# The copy equals the source as it was at the final step; rows written after
# it are not copied.  So the comparison holds only where the write load had
# ended before the job did.
COVERED=$(every COPY covered)
check "copy lost no row" "rows of the source missing from the copy, all runs: $LOST" test "$LOST" = 0
check "copy added no row" "rows of the copy the source does not have, all runs: $EXTRA" test "$EXTRA" = 0

SO_NOTE=
if [ "$(md5sum <"$SO")" != "$SO_SUM" ]; then
	SO_NOTE=" $SO was replaced by another install during this run; the server
keeps the build it loaded at its start."
	warn "$SO was replaced during the run"
fi
RUN_WORD="run"; [ "$RUNS" = 1 ] || RUN_WORD="the fastest of $RUNS runs"
# the keys job_status() reported about phases and locks, in any run
STATUS_KEYS=$(cat "$WORKDIR"/copy-status-*.tsv | cut -f1 | sort -u)
status_value() { awk -F'\t' -v k="$1" '$1 == k { print $2; exit }' "$WORKDIR/copy-status-$2.tsv"; }

{
	cat <<EOF2
# Jobs benchmark

\`bench/jobs_bench.sh\`, $(date -u +%Y-%m-%d), pg_steward at $SOURCE, PostgreSQL
$PG_VERSION, $CORES cores (load average $LOAD_AT_START at the start), $ROWS rows,
default settings of a throwaway cluster (fsync $S_FSYNC). Wall-clock seconds of $RUN_WORD
(every run in brackets; the runs went update, loop, backfill, INSERT … SELECT, copy_table,
then the reverse, alternately); every method started on a fresh, vacuumed copy of the same table.$SO_NOTE

## Checks

$(checks_md)

## Backfill: \`SET w = v * 2\` on every row

| method | seconds (runs) | throughput vs one UPDATE |
|---|---:|---:|
| one plain \`UPDATE\` (holds every row lock until it ends) | $T_UPDATE ($(runs_of update)) | 1.00 |
| loop \`UPDATE … WHERE id IN (SELECT id … WHERE w IS NULL LIMIT $BATCH)\` | $T_LOOP ($(runs_of loop)) | $LOOP_RATIO |
| \`backfill()\` job, batch_size $BATCH, target_batch_time 1s, no pause | $T_BACKFILL ($(runs_of backfill)) | **$BF_RATIO** |

Per run, the backfill ran $(every BF batches) batches; its longest batch held its row locks
for **$(every BF maxbatch) ms** (\`job_status().max_batch_ms\`; target $BF_TARGET ms, \`args.target_batch_ms\`);
its last batch size was $(every BF lastsize); rows left unchanged, all runs: $BF_LEFT.

## Copy into a partitioned table

| method | seconds (runs) | time vs one INSERT … SELECT |
|---|---:|---:|
| one \`INSERT … SELECT\` (no concurrent writes) | $T_INSERT ($(runs_of insert)) | 1.00 |
| \`copy_table()\` job while pgbench writes to the source ($(every COPY tps) tps for $LOAD_SECONDS s) | $T_COPY ($(runs_of copy)) | **$COPY_RATIO** |

After each job: $(every COPY rows) rows in the copy; rows of the source missing from the
copy, all runs: **$LOST**; rows in the copy that the source does not have: **$EXTRA**
(the write load ended before the job did: $COVERED; where it did not, the load wrote nothing
after the job's final step, since it writes only while the capture trigger exists).

Where copy_table's time went, per run (seconds, as the job reports them in its last
\`job_status().phase\`, "done: N rows; copy … s, replay … s, verify … s, final … s, lock held
… ms"; a run whose job did not report them: a phase starts at the \`updated_at\` of the first
sample of \`job_status()\` that shows it, sampled every $PHASE_INTERVAL s, so a phase ends up to
one batch late; "-": no sample showed it, and its time is in the phase before):

| | $(for r in $(seq "$RUNS"); do printf 'run %s | ' "$r"; done | sed 's/ | $//') |
|---|$(for _ in $(seq "$RUNS"); do printf -- '---:|'; done)
| copy (batches of INSERT … SELECT) |$(for r in $(seq "$RUNS"); do printf ' %s |' "${COPY[p_copy,$r]}"; done)
| replay (the change log) |$(for r in $(seq "$RUNS"); do printf ' %s |' "${COPY[p_replay,$r]}"; done)
| verify (ranges compared) |$(for r in $(seq "$RUNS"); do printf ' %s |' "${COPY[p_verify,$r]}"; done)
| final (counts and a replay of the log before the SHARE lock; the last replay, checks and trigger dropped under it) |$(for r in $(seq "$RUNS"); do printf ' %s |' "${COPY[p_final,$r]}"; done)
| the final step's lock held (ms, the job's own figure) |$(for r in $(seq "$RUNS"); do printf ' %s |' "${COPY[held,$r]}"; done)
| whole job (submission to its \`finished_at\`) |$(for r in $(seq "$RUNS"); do printf ' %s |' "${T[copy,$r]}"; done)
| batches; the longest (ms, \`max_batch_ms\`) |$(for r in $(seq "$RUNS"); do printf ' %s; %s |' "${COPY[batches,$r]}" "${COPY[maxbatch,$r]}"; done)
| ranges verify found different and copied again (server log) |$(for r in $(seq "$RUNS"); do printf ' %s |' "${COPY[recopied,$r]}"; done)
| the longest a writer waited (ms): a no-op \`UPDATE\` of one source row every 50 ms (probes) |$(for r in $(seq "$RUNS"); do printf ' **%s** (%s) |' "${COPY[probe_max,$r]}" "${COPY[probe_n,$r]}"; done)
EOF2
	echo
	if [ -n "$STATUS_KEYS" ]; then
		echo "What \`job_status()\` itself reports about the phases and the locks (per run):"
		echo
		echo "| job_status() | $(for r in $(seq "$RUNS"); do printf 'run %s | ' "$r"; done | sed 's/ | $//') |"
		echo "|---|$(for _ in $(seq "$RUNS"); do printf -- '---:|'; done)"
		while read -r k; do
			printf '| %s |' "\`$k\`"
			for r in $(seq "$RUNS"); do printf ' %s |' "$(status_value "$k" "$r")"; done
			echo
		done <<<"$STATUS_KEYS"
	else
		echo "\`job_status()\` has no column or JSON key of its own for the phases' durations or the lock"
		echo "time: they are in the text of its \`phase\` (above, \"as the job reports them\"); a run whose"
		echo "job did not report them was measured from outside."
	fi
	echo
	echo "Columns of \`job_status()\` this script does not know: ${STATUS_COLUMNS:-none}. The whole row of each"
	echo "run's job (without \`args\`) is in jobs-copy-status-<run>.json next to this report."
	cat <<EOF2

## The machine during the run

| section | seconds | load average (1 min), min–max | busy cores (of $CORES) | this benchmark | others | steal |
|---|---:|---:|---:|---:|---:|---:|
EOF2
	watch_summary | awk -F'\t' '{ split($5, v, ","); printf "| %s | %s | %s–%s | %s | %s | %s | %s |\n", $2, $3, v[1], v[2], v[3], v[4], v[5], v[6] }'
} >"$REPORT"

# The same figures, one per line, tab-separated: section, method, param (the
# rows), value (the fastest run), runs (every run, comma-separated), unit.
{
	printf 'section\tmethod\tparam\tvalue\truns\tunit\n'
	for m in update loop backfill; do
		printf 'backfill\t%s\t%s\t%s\t%s\tseconds\n' "$m" "$ROWS" "$(best "$m")" "$(runs_of "$m" | tr -d ' ')"
	done
	printf 'backfill_batch\tmax_batch_ms\t%s\t%s\t%s\tms\n' "$ROWS" "$BF_MAXBATCH" "$(every BF maxbatch | tr -d ' ' | tr / ,)"
	printf 'backfill_batch\ttarget_batch_ms\t%s\t%s\t-\tms\n' "$ROWS" "$BF_TARGET"
	printf 'copy\tinsert_select\t%s\t%s\t%s\tseconds\n' "$ROWS" "$T_INSERT" "$(runs_of insert | tr -d ' ')"
	printf 'copy\tcopy_table\t%s\t%s\t%s\tseconds\n' "$ROWS" "$T_COPY" "$(runs_of copy | tr -d ' ')"
	for p in copy replay verify final; do
		printf 'copy_phase\t%s\t%s\t%s\t%s\tseconds\n' "$p" "$COPY_BEST" "${COPY[p_$p,$COPY_BEST]}" "$(every COPY "p_$p" | tr -d ' ' | tr / ,)"
	done
	printf 'copy_phase\tmax_batch_ms\t%s\t%s\t%s\tms\n' "$COPY_BEST" "${COPY[maxbatch,$COPY_BEST]}" "$(every COPY maxbatch | tr -d ' ' | tr / ,)"
	printf 'copy_lock\tprobe_max_ms\t-\t%s\t%s\tms\n' "$PROBE_MAX" "$(every COPY probe_max | tr -d ' ' | tr / ,)"
	printf 'copy_lock\theld_ms\t%s\t%s\t%s\tms\n' "$COPY_BEST" "${COPY[held,$COPY_BEST]}" "$(every COPY held | tr -d ' ' | tr / ,)"
	for r in $(seq "$RUNS"); do
		awk -F'\t' -v r="$r" '{ printf "copy_status\t%s\t%s\t%s\t-\t-\n", $1, r, $2 }' "$WORKDIR/copy-status-$r.tsv"
	done
	meta() { printf 'meta\t%s\t-\t%s\t-\t-\n' "$1" "$2"; }
	meta rows "$ROWS"
	meta runs "$RUNS"
	meta batch "$BATCH"
	meta load_seconds "$LOAD_SECONDS"
	meta phase_interval "$PHASE_INTERVAL"
	meta copy_load_tps "$(every COPY tps)"
	meta copy_rows_lost "$LOST"
	meta copy_rows_extra "$EXTRA"
	meta copy_best_run "$COPY_BEST"
	meta copy_status_columns "${STATUS_COLUMNS:--}"
	meta backfill_rows_left "$BF_LEFT"
	meta backfill_batches "$(every BF batches)"
	meta backfill_max_batch_ms "$(every BF maxbatch)"
	meta fsync "$S_FSYNC"
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
