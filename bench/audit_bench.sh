#!/usr/bin/env bash
# bench/audit_bench.sh: the audit ledger against its baselines, measured in
# one run on one throwaway cluster.
#
#   writing   pgbench, one statement per transaction, at CLIENTS clients:
#             bare INSERT       the event as a row of plain_events, a table with
#                               the ledger's columns, partitions, primary key
#                               and xid index, without salt and commitment
#                               (the baseline of the goal)
#             plain INSERT      the same row with the salt and the sha256
#                               commitment audit_append computes, in SQL
#             audit_append()    the same event through the ledger, with the
#                               sealer sealing every second (its real cost)
#             DIY chain         plain_events' row into diy_events, whose BEFORE
#                               INSERT trigger (PL/pgSQL, pgcrypto) takes an
#                               advisory lock, reads the last row's hash and
#                               chains the new row to it
#             Every client count runs the four methods twice, in the order
#             bare, plain, audit, DIY and then DIY, audit, plain, bare, so that no
#             position favours one; the report gives the faster of the two runs
#             (other load on a shared machine only ever slows a run down).
#             Every run starts after VACUUM ANALYZE and CHECKPOINT.  During the
#             audit_append runs: every AGE_INTERVAL seconds (0.5) the age of
#             the oldest committed event not sealed yet (audit_status():
#             now() - oldest_unsealed_at, 0 when every event is sealed), and
#             the sealer's CPU time (utime + stime of /proc/<pid>/stat) over
#             the run.  After the runs, audit_seal() and verify_audit_chain()
#             must find every event written by the concurrent clients sealed
#             and the chain valid, and diy_verify() the DIY chain valid.
#   sealing   the sealer's maximum rate, in a database of its own with the
#             sealers off (pg_steward.audit_seal_interval = 0): pgbench
#             appends SEAL_EVENTS events (8 clients, audit_append), then one
#             audit_seal() seals them, timed; then SEAL_EVENTS more, the
#             sealers are turned on again, and the time until the sealer that
#             the next append starts has sealed them all.
#   verifying a ledger of EVENTS events (1000000) in a database of its own,
#             written fast by bench/lib.sh's gen_ledger (blocks of 100000
#             events): verify_audit_chain() against
#               the plain scan  SELECT count(payload::text) FROM
#                               steward.audit_events (reads and renders every
#                               payload, hashes nothing)
#               the loop        a PL/pgSQL loop over as many diy_events rows in
#                               id order, one pgcrypto digest per row
#               the same check  bench/verify_plpgsql.sql, verify_audit_chain's
#                               checks in PL/pgSQL with pgcrypto (timed once:
#                               it is slow)
#             verify_audit_chain(), the scan and the loop run VERIFY_RUNS
#             times (3), interleaved, each in a session of its own; the
#             fastest run counts.  Each session's peak memory (VmHWM of
#             /proc/self/status at its end, and RssShmem, the shared buffers
#             it touched) and the largest VmHWM of a parallel worker (sampled
#             every 0.2 s) are recorded.
#             Then the same ledger is extended to EVENTS_LARGE events
#             (10000000; 0 or anything not above EVENTS skips it; skipped too
#             when the disk has not room for it), and verify_audit_chain() and
#             the scan run VERIFY_LARGE_RUNS times (2) over it, with the same
#             memory figures; the database is dropped afterwards.
#
# Wall-clock seconds and pgbench's own tps; the machine is shared, so read
# the ratios, not the absolute figures.  The machine's load is sampled every
# second and summed per section (bench/lib.sh's watch_*).  The report goes to
# bench/results/audit.md and to standard output, the same figures to
# bench/results/audit.tsv (one line per figure, for bench/run_all.sh);
# BENCH_RESULTS_DIR puts both files in another directory.  Other knobs:
# DURATION (20, seconds of each pgbench run), CLIENTS ("1 8 32"),
# BENCH_BUILD=0 (benchmark the pg_steward already installed instead of
# building and installing this tree), PGSTEWARD_BENCH_DIR (work directory),
# PGSTEWARD_PORT (54331), PG_CONFIG or PGSTEWARD_PG_BIN (the PostgreSQL
# installation, scripts/lib.sh).
# A correctness check that fails (a ledger that does not verify, events
# left unchecked, a server crash) is reported in capitals; the script still
# writes its report and then exits with status 3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

DURATION="${DURATION:-20}"
CLIENTS="${CLIENTS:-1 8 32}"
EVENTS="${EVENTS:-1000000}"
EVENTS_LARGE="${EVENTS_LARGE:-10000000}"
VERIFY_RUNS="${VERIFY_RUNS:-3}"
VERIFY_LARGE_RUNS="${VERIFY_LARGE_RUNS:-2}"
SEAL_EVENTS="${SEAL_EVENTS:-200000}"
AGE_INTERVAL="${AGE_INTERVAL:-0.5}"
SEED=10000
CHUNK=100000
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-audit-bench}"
PORT="${PGSTEWARD_PORT:-54331}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/audit.md"
TSV="$RESULTS_DIR/audit.tsv"
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
faster() { if [ "$1" -ge "$2" ]; then echo "$1"; else echo "$2"; fi; } # the higher of two tps
tps() { faster "${TPS[$1,$2,1]}" "${TPS[$1,$2,2]}"; }                  # tps METHOD CLIENTS
least() { printf '%s\n' "$@" | sort -g | head -1; }                    # the smallest number
largest() { printf '%s\n' "$@" | sort -g | tail -1; }
per_event_us() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.3f", s * 1000000 / n }'; }
num_ok() { [[ $1 =~ ^[0-9]+$ ]]; }

section "preparing the ledger and the baseline tables"
mark "setup"
[ "$BENCH_BUILD" != 1 ] || [ "$SO_SUM" = "$(md5sum <"$WORKDIR/src/pg_steward.so")" ] ||
	warn "the installed pg_steward.so is not the one just built (another install?)"
psql_q -c "CREATE EXTENSION pg_steward"
baseline_schema postgres
for m in bare plain audit diy; do
	printf '\\set id random(1, 1000000)\n%s\n' "$(method_sql "$m" :id)" >"$WORKDIR/$m.sql"
done
# Every table starts with SEED events, analyzed, so that no method runs
# its first round against an empty table's statistics.
COLS="xid, event_time, event_type, action, resource_type, resource_id, actor, session_user_name,
      current_user_name, client_addr, application_name, commitment, salt, payload"
psql_q -c "SELECT count(audit_append('UPDATE', 'patient', g::text, $(payload_sql g))) FROM generate_series(1, $SEED) g" \
	-c "INSERT INTO plain_events ($COLS) SELECT $COLS FROM diy_rows($SEED)" >/dev/null
psql_q -c "ALTER TABLE diy_events DISABLE TRIGGER diy_chain" \
	-c "INSERT INTO diy_events SELECT * FROM diy_rows($SEED)" \
	-c "ALTER TABLE diy_events ENABLE TRIGGER diy_chain" >/dev/null
SEAL_INTERVAL=$(psql_q -c "SHOW pg_steward.audit_seal_interval")
read -r S_FSYNC S_SYNC S_SHARED <<<"$(psql_q -F ' ' -c "SELECT current_setting('fsync'), current_setting('synchronous_commit'),
                                                          current_setting('shared_buffers')")"
PARTITIONS=$(psql_q -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'steward.audit_events'::regclass")
MAX_PAR=$(psql_q -c "SHOW max_parallel_workers_per_gather")
PM_PID=$(head -1 "$STEWARD_DATA/postmaster.pid")

sealer_pid() { psql_q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward sealer' AND datname = 'postgres' LIMIT 1"; }
cpu_ticks() { # user + system clock ticks of process $1 (empty when it is gone)
	if [ -n "$1" ]; then awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat" 2>/dev/null || true; fi
}
TICKS=$(getconf CLK_TCK)

# The server log's count of crashed backends, and waiting for the server to
# be back after one (it reinitializes and replays the WAL).
crashes_in_log() { grep -c 'was terminated by signal' "$STEWARD_LOG" || true; }
wait_ready() {
	for _ in $(seq 120); do
		psql_q -c "SELECT 1" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	die "the server did not come back after a crash; see $STEWARD_LOG"
}

# The age of the oldest unsealed event, sampled by one session while a run
# lasts: time, age in seconds (0: nothing unsealed), unsealed events.
age_sampler_start() { # age_sampler_start FILE
	AGE_FILE=$1
	rm -f "$AGE_FILE.stop"
	(
		while [ ! -e "$AGE_FILE.stop" ]; do
			echo "SELECT round(extract(epoch FROM clock_timestamp())::numeric, 3),
			             round(coalesce(extract(epoch FROM now() - oldest_unsealed_at), 0)::numeric, 3),
			             events_unsealed FROM steward.audit_status();"
			sleep "$AGE_INTERVAL"
		done
	) | psql_q -F $'\t' >"$AGE_FILE" 2>"$AGE_FILE.err" &
	AGE_PID=$!
}
age_sampler_stop() {
	touch "$AGE_FILE.stop"
	wait "$AGE_PID" || warn "the sampler of unsealed events failed: $(cat "$AGE_FILE.err")"
}

declare -A TPS SEALER_CPU SEALER_EPS AGE_MAX AGE_P95 AGE_N AGE_UNSEALED
run() { # run METHOD CLIENTS ROUND
	local m=$1 c=$2 r=$3 log="$WORKDIR/pgbench-$1-$2-$3.log" j=2 pid sealer t0 t1 w0 w1
	[ "$c" -lt 2 ] && j=1
	psql_q -c "VACUUM ANALYZE plain_events, diy_events, steward.audit_events" -c "CHECKPOINT"
	[ "$m" != audit ] || age_sampler_start "$WORKDIR/ages-$c-$r.tsv"
	"$PG_BIN/pgbench" -n -h "$STEWARD_SOCK" -p "$PORT" -U postgres -M prepared \
		-c "$c" -j "$j" -T "$DURATION" -f "$WORKDIR/$m.sql" postgres >"$log" 2>&1 &
	pid=$!
	# the sealer's CPU time from the first second of the run to its end
	# (a sealer exits when idle and the first append starts one again)
	sleep 1
	sealer=$(sealer_pid)
	for _ in 1 2 3 4 5; do
		[ -z "$sealer" ] || break
		sleep 0.2
		sealer=$(sealer_pid)
	done
	t0=$(cpu_ticks "$sealer")
	w0=$(now)
	if ! wait "$pid"; then
		cat "$log" >&2
		die "pgbench $m at $c clients failed"
	fi
	t1=$(cpu_ticks "$sealer")
	w1=$(now)
	[ "$m" != audit ] || age_sampler_stop
	TPS[$m,$c,$r]=$(grep -oE 'tps = [0-9.]+' "$log" | head -1 | awk '{printf "%.0f", $3}')
	if [ "$m" = audit ]; then
		if [ -n "$t0" ] && [ -n "$t1" ]; then
			SEALER_CPU[$c,$r]=$(awk -v a="$t0" -v b="$t1" -v hz="$TICKS" -v w0="$w0" -v w1="$w1" \
				'BEGIN { printf "%.1f", 100 * (b - a) / hz / (w1 - w0) }')
			# events appended while the CPU time was counted, per second of it
			SEALER_EPS[$c,$r]=$(awk -v a="$t0" -v b="$t1" -v hz="$TICKS" -v w0="$w0" -v w1="$w1" -v tps="${TPS[$m,$c,$r]}" \
				'BEGIN { if (b > a) printf "%.0f", tps * (w1 - w0) / ((b - a) / hz); else print "-" }')
		else
			SEALER_CPU[$c,$r]="?"
			SEALER_EPS[$c,$r]="?"
		fi
	fi
	note "$m, $c clients, round $r: ${TPS[$m,$c,$r]} tps"
}

for c in $CLIENTS; do
	section "writing events, $c clients, ${DURATION}s per run"
	mark "writing: $c clients"
	for m in bare plain audit diy; do run "$m" "$c" 1; done
	for m in diy audit plain bare; do run "$m" "$c" 2; done
	# the unsealed events' age over both audit_append runs: max, p95, samples
	read -r a_max a_p95 a_n a_uns <<<"$(cat "$WORKDIR/ages-$c-1.tsv" "$WORKDIR/ages-$c-2.tsv" |
		awk -F'\t' 'NF >= 3 { a[++n] = $2; if ($3 > u) u = $3 } END {
			if (n == 0) { print "- - 0 -"; exit }
			for (i = 1; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			k = int(0.95 * n); if (k < 0.95 * n) k++; if (k < 1) k = 1
			printf "%.2f %.2f %d %d\n", a[n], a[k], n, u }')"
	AGE_MAX[$c]=$a_max AGE_P95[$c]=$a_p95 AGE_N[$c]=$a_n AGE_UNSEALED[$c]=$a_uns
	note "oldest unsealed event at $c clients: max ${AGE_MAX[$c]} s, p95 ${AGE_P95[$c]} s (${AGE_N[$c]} samples)"
done

# ------------------------------------------------------------ what the writers wrote

# verify_ledger DB: SELECT * FROM verify_audit_chain() in DB, timed, in a
# session of its own.  Sets VROW (is_valid events_checked blocks_checked
# events_unsealed problem; empty when every attempt crashed), VSECS, VHWM,
# VSHMEM and VWORKERS (the largest VmHWM of a parallel worker, kB).  A
# server crash is recorded in CRASHED and the call retried, up to 5 attempts.
CRASHED=()
verify_ledger() {
	local db=$1 before stop="$WORKDIR/workers.stop" wpid
	VROW=
	for _ in 1 2 3 4 5; do
		before=$(crashes_in_log)
		rm -f "$stop"
		(
			max=0
			while [ ! -e "$stop" ]; do
				for p in $(pgrep -P "$PM_PID" -f 'parallel worker' || true); do
					h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
					[ -n "$h" ] && [ "$h" -gt "$max" ] && max=$h
				done
				sleep 0.2
			done
			echo "$max"
		) >"$WORKDIR/workers.hwm" &
		wpid=$!
		if timed_query "$db" "SELECT is_valid, events_checked, blocks_checked, events_unsealed,
		                             coalesce(problem, '-') FROM verify_audit_chain()"; then
			touch "$stop"
			wait "$wpid" || true
			VROW=$Q_OUT VSECS=$Q_SECS VHWM=$Q_HWM VSHMEM=$Q_SHMEM VWORKERS=$(cat "$WORKDIR/workers.hwm")
			return 0
		fi
		touch "$stop"
		wait "$wpid" || true
		[ "$(crashes_in_log)" -gt "$before" ] || {
			cat "$WORKDIR/timed_query.err" >&2
			die "verify_audit_chain() failed in database $db"
		}
		CRASHED+=("$db: $(grep 'was terminated by signal' "$STEWARD_LOG" | tail -1 | sed -E 's/^.*LOG: +//')")
		warn "verify_audit_chain() crashed the server (database $db); retrying"
		wait_ready
	done
	return 0
}

section "sealing and verifying what the concurrent writers appended"
mark "verifying the writers' ledger"
SEALED_LAST=$(psql_q -c "SELECT audit_seal()")
verify_ledger postgres
read -r W_VALID W_CHECKED W_BLOCKS W_UNSEALED W_PROBLEM <<<"${VROW:-crashed - - - -}"
W_EVENTS=$(psql_q -c "SELECT count(*) FROM steward.audit_events")
read -r L_BLOCKS L_SEALED <<<"$(psql_q -F ' ' -c "SELECT count(*), coalesce(sum(event_count), 0) FROM steward.audit_blocks")"
read -r D_VALID D_CHECKED <<<"$(psql_q -F ' ' -c "SELECT is_valid, rows_checked FROM diy_verify()")"
D_ROWS=$(psql_q -c "SELECT count(*) FROM diy_events")
P_ROWS=$(psql_q -c "SELECT count(*) FROM plain_events")
note "ledger: valid $W_VALID, $W_CHECKED of $W_EVENTS events checked in $W_BLOCKS blocks, $W_UNSEALED unsealed"
note "DIY chain: valid $D_VALID, $D_CHECKED of $D_ROWS rows"
check "writers' ledger valid" "verify_audit_chain() after the pgbench runs: is_valid = $W_VALID, problem: $W_PROBLEM" \
	test "$W_VALID" = t
check "writers' ledger complete" "$W_CHECKED of the $W_EVENTS events checked, in $W_BLOCKS of $L_BLOCKS blocks; $W_UNSEALED unsealed" \
	eqs "$W_CHECKED" "$W_EVENTS" "$W_BLOCKS" "$L_BLOCKS" "$W_CHECKED" "$L_SEALED"
check "DIY chain valid" "diy_verify(): is_valid = $D_VALID, $D_CHECKED of $D_ROWS rows" \
	eqs "$D_VALID" t "$D_CHECKED" "$D_ROWS"

# ------------------------------------------------------------ the sealer's maximum rate

section "the sealer's maximum rate: $SEAL_EVENTS events, sealers off"
mark "sealing: appending with the sealers off"
psql_q -c "CREATE DATABASE sealrate"
psql_db sealrate -c "CREATE EXTENSION pg_steward"
set_seal_interval 0
seal_append() {
	"$PG_BIN/pgbench" -n -h "$STEWARD_SOCK" -p "$PORT" -U postgres -M prepared -c 8 -j 2 \
		-t $((SEAL_EVENTS / 8)) -f "$WORKDIR/audit.sql" sealrate >"$WORKDIR/pgbench-seal.log" 2>&1 ||
		{ cat "$WORKDIR/pgbench-seal.log" >&2; die "pgbench appending to database sealrate failed"; }
}
seal_append
SEAL_N=$(psql_db sealrate -c "SELECT events_unsealed FROM audit_status()")
mark "sealing: audit_seal()"
timed_query sealrate "SELECT audit_seal()"
SEAL_SEALED=$Q_OUT
SEAL_SECS=$Q_SECS
SEAL_RATE=$(awk -v n="$SEAL_SEALED" -v s="$SEAL_SECS" 'BEGIN { printf "%.0f", n / s }')
note "audit_seal(): $SEAL_SEALED events in $SEAL_SECS s ($SEAL_RATE events/s)"
check "audit_seal() sealed what was appended" "$SEAL_SEALED of $SEAL_N unsealed events sealed" test "$SEAL_SEALED" = "$SEAL_N"
mark "sealing: appending with the sealers off"
seal_append
SEALER_N=$(psql_db sealrate -c "SELECT events_unsealed FROM audit_status()")
mark "sealing: the sealer"
set_seal_interval DEFAULT
t0=$(now)
psql_db sealrate -c "SELECT audit_append('START')" >/dev/null # its commit starts a sealer
SEALER_N=$((SEALER_N + 1))
for _ in $(seq 600); do
	[ "$(psql_db sealrate -c "SELECT events_unsealed FROM audit_status()")" = 0 ] && break
	sleep 0.1
done
t1=$(now)
SEALER_SECS=$(secs "$t0" "$t1")
SEALER_LEFT=$(psql_db sealrate -c "SELECT events_unsealed FROM audit_status()")
SEALER_RATE=$(awk -v n="$SEALER_N" -v s="$SEALER_SECS" 'BEGIN { printf "%.0f", n / s }')
note "the sealer: $SEALER_N events in $SEALER_SECS s from the append that started it ($SEALER_RATE events/s)"
check "the sealer sealed what was appended" "$SEALER_LEFT events left unsealed after $SEALER_SECS s" test "$SEALER_LEFT" = 0
psql_q -c "DROP DATABASE sealrate WITH (FORCE)"

# ------------------------------------------------------------ verification

section "verification: a ledger of $EVENTS events in database verify"
mark "verifying: writing the ledger"
psql_q -c "CREATE DATABASE verify"
psql_db verify -c "CREATE EXTENSION pg_steward"
baseline_schema verify
set_seal_interval 0 # gen_ledger seals each round itself
t0=$(now)
LEDGER_CHUNK=$CHUNK gen_ledger verify "$EVENTS"
t1=$(now)
T_FILL=$(secs "$t0" "$t1")
read -r V_BLOCKS V_SEALED <<<"$(psql_db verify -F ' ' -c "SELECT count(*), coalesce(sum(event_count), 0) FROM steward.audit_blocks")"
note "$EVENTS events in $T_FILL s, $V_BLOCKS blocks"
mark "verifying: writing the DIY chain"
t0=$(now)
psql_db verify -c "ALTER TABLE diy_events DISABLE TRIGGER diy_chain" >/dev/null
for _ in $(seq $((EVENTS / CHUNK))); do psql_db verify -c "INSERT INTO diy_events SELECT * FROM diy_rows($CHUNK)" >/dev/null; done
[ $((EVENTS % CHUNK)) = 0 ] || psql_db verify -c "INSERT INTO diy_events SELECT * FROM diy_rows($((EVENTS % CHUNK)))" >/dev/null
psql_db verify -c "ALTER TABLE diy_events ENABLE TRIGGER diy_chain" >/dev/null
t1=$(now)
T_FILL_DIY=$(secs "$t0" "$t1")
mark "verifying: VACUUM, CHECKPOINT"
psql_db verify -c "VACUUM ANALYZE diy_events, steward.audit_events, steward.audit_blocks" -c "CHECKPOINT"
DB_MB=$(psql_db verify -c "SELECT pg_database_size('verify') / 1048576")

mark "verifying: the same check in PL/pgSQL"
psql_db verify -f "$ROOT/bench/verify_plpgsql.sql" >/dev/null
timed_query verify "SELECT bench_verify_plpgsql()" || die "bench/verify_plpgsql.sql failed: $(cat "$WORKDIR/timed_query.err")"
SAME_CHECKED=$Q_OUT
T_SAME=$Q_SECS
note "the same check in PL/pgSQL: $T_SAME s ($SAME_CHECKED events)"
check "the PL/pgSQL check" "bench/verify_plpgsql.sql checked $SAME_CHECKED of $EVENTS events" test "$SAME_CHECKED" = "$EVENTS"

SCAN_SQL="SELECT count(payload::text) FROM steward.audit_events"
declare -A VT MEM
# verify_runs SIZE RUNS WITH_LOOP: verify_audit_chain(), the scan (and the
# loop) RUNS times, interleaved; VT[method,size,run], MEM[...]
verify_runs() {
	local size=$1 runs=$2 loop=$3 r tag=verifying
	[ "$size" = "$EVENTS" ] || tag="verifying (large)"
	for r in $(seq "$runs"); do
		mark "$tag: verify_audit_chain()"
		verify_ledger verify
		read -r V_VALID V_CHECKED _ V_UNSEALED V_PROBLEM <<<"${VROW:-crashed - - - -}"
		VT[verify,$size,$r]=$VSECS
		MEM[verify,$size,$r]="$VHWM $VSHMEM $VWORKERS"
		check "ledger of $size events valid (run $r)" "verify_audit_chain(): is_valid = $V_VALID, $V_CHECKED events checked, problem: $V_PROBLEM" \
			test "$V_VALID" = t
		check "ledger of $size events complete (run $r)" "$V_CHECKED of $size events checked, $V_UNSEALED unsealed" \
			eqs "$V_CHECKED" "$size" "$V_UNSEALED" 0
		mark "$tag: the plain scan"
		timed_query verify "$SCAN_SQL" || die "the scan failed: $(cat "$WORKDIR/timed_query.err")"
		VT[scan,$size,$r]=$Q_SECS
		MEM[scan,$size,$r]="$Q_HWM $Q_SHMEM -"
		local line="run $r: verify_audit_chain() ${VT[verify,$size,$r]} s (valid $V_VALID, $V_CHECKED events, VmHWM $VHWM kB); scan ${VT[scan,$size,$r]} s ($Q_OUT payloads)"
		check "the scan read every event (run $r)" "count(payload::text) = $Q_OUT of $size" test "$Q_OUT" = "$size"
		if [ "$loop" = 1 ]; then
			mark "verifying: the one-hash PL/pgSQL loop"
			timed_query verify "SELECT is_valid, rows_checked FROM diy_verify()" || die "diy_verify() failed"
			read -r DV_VALID DV_CHECKED <<<"$Q_OUT"
			VT[loop,$size,$r]=$Q_SECS
			line="$line; the loop ${VT[loop,$size,$r]} s (valid $DV_VALID, $DV_CHECKED rows)"
			check "DIY chain of $size rows valid (run $r)" "diy_verify(): is_valid = $DV_VALID, $DV_CHECKED rows" \
				eqs "$DV_VALID" t "$DV_CHECKED" "$size"
		fi
		note "$line"
	done
}
vt_runs() { local r out=(); for r in $(seq "$3"); do out+=("${VT[$1,$2,$r]}"); done; local IFS=,; echo "${out[*]}"; }
vt_best() { vt_runs "$@" | tr , '\n' | sort -g | head -1; }
mem_max() { # mem_max METHOD SIZE RUNS FIELD: the largest of a memory figure (1 VmHWM, 2 RssShmem, 3 workers)
	local r out=()
	for r in $(seq "$3"); do out+=("$(echo "${MEM[$1,$2,$r]}" | awk -v f="$4" '{ print $f }')"); done
	largest "${out[@]}"
}
mem_runs() { local r out=(); for r in $(seq "$3"); do out+=("$(echo "${MEM[$1,$2,$r]}" | awk -v f="$4" '{ print $f }')"); done; local IFS=,; echo "${out[*]}"; }

verify_runs "$EVENTS" "$VERIFY_RUNS" 1
T_VERIFY=$(vt_best verify "$EVENTS" "$VERIFY_RUNS")
T_SCAN=$(vt_best scan "$EVENTS" "$VERIFY_RUNS")
T_LOOP=$(vt_best loop "$EVENTS" "$VERIFY_RUNS")

# Did verify_audit_chain() read with parallel workers?  verify_ledger
# samples the server's "parallel worker" processes during each run.
PAR_SEEN=0
for r in $(seq "$VERIFY_RUNS"); do
	w=$(echo "${MEM[verify,$EVENTS,$r]}" | awk '{ print $3 + 0 }')
	[ "$w" -gt 0 ] && PAR_SEEN=$((PAR_SEEN + 1))
done
if [ "$PAR_SEEN" -gt 0 ]; then
	PARALLEL="parallel workers in $PAR_SEEN of $VERIFY_RUNS runs"
else
	PARALLEL="no parallel worker seen in any of its $VERIFY_RUNS runs"
fi

# ------------------------------------------------------------ verification at the large size

LARGE_DONE=0
LARGE_NOTE=
if [ "$EVENTS_LARGE" -gt "$EVENTS" ]; then
	# room for it: the database's size per event so far, twice (WAL, VACUUM)
	NEED_MB=$(awk -v mb="$DB_MB" -v n="$EVENTS" -v l="$EVENTS_LARGE" 'BEGIN { printf "%.0f", 2 * mb * (l - n) / n }')
	FREE_MB=$(df -Pm "$WORKDIR" | awk 'NR == 2 { print $4 }')
	if [ "$FREE_MB" -lt "$NEED_MB" ]; then
		LARGE_NOTE="skipped: $EVENTS_LARGE events need about $NEED_MB MB of disk, $FREE_MB MB are free in $WORKDIR"
		warn "$LARGE_NOTE"
	else
		section "verification: the ledger extended to $EVENTS_LARGE events (about $NEED_MB MB; $FREE_MB MB free)"
		mark "verifying (large): writing the ledger"
		t0=$(now)
		LEDGER_CHUNK=$CHUNK gen_ledger verify $((EVENTS_LARGE - EVENTS))
		t1=$(now)
		T_FILL_LARGE=$(secs "$t0" "$t1")
		mark "verifying (large): VACUUM, CHECKPOINT"
		psql_db verify -c "VACUUM ANALYZE steward.audit_events, steward.audit_blocks" -c "CHECKPOINT"
		read -r VL_BLOCKS VL_SEALED <<<"$(psql_db verify -F ' ' -c "SELECT count(*), coalesce(sum(event_count), 0) FROM steward.audit_blocks")"
		DB_LARGE_MB=$(psql_db verify -c "SELECT pg_database_size('verify') / 1048576")
		note "$EVENTS_LARGE events ($((EVENTS_LARGE - EVENTS)) written in $T_FILL_LARGE s), $VL_BLOCKS blocks, $DB_LARGE_MB MB"
		verify_runs "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS" 0
		T_VERIFY_LARGE=$(vt_best verify "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS")
		T_SCAN_LARGE=$(vt_best scan "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS")
		LARGE_DONE=1
	fi
else
	LARGE_NOTE="skipped: EVENTS_LARGE ($EVENTS_LARGE) is not above EVENTS ($EVENTS)"
fi
mark "cleaning up"
psql_q -c "DROP DATABASE verify WITH (FORCE)"
set_seal_interval DEFAULT
watch_stop

if [ "${#CRASHED[@]}" -gt 0 ]; then
	check_fail "no server crash" "verify_audit_chain() crashed the server ${#CRASHED[@]} time(s): ${CRASHED[*]}"
else
	check_ok "no server crash" "verify_audit_chain() never crashed the server"
fi

SO_NOTE=
if [ "$(md5sum <"$SO")" != "$SO_SUM" ]; then
	SO_NOTE="$SO was replaced by another install during this run; the server
keeps the build it loaded at its start (shared_preload_libraries: every backend and worker
inherits it)."
	warn "$SO was replaced during the run"
fi

# ------------------------------------------------------------ the report

section "writing the report"
CORES=$(nproc)
PG_VERSION=$("$PG_BIN/postgres" --version | awk '{print $3}')
tps_cell() { echo "${TPS[$1,$2,1]} / ${TPS[$1,$2,2]}"; }
cl() { echo "$1 client$([ "$1" = 1 ] || echo s)"; }
rate() { num_ok "$1" && awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }' || echo -; }
mb() { num_ok "$1" && awk -v k="$1" 'BEGIN { printf "%.0f\n", k / 1024 }' || echo -; }
# faster_by T T_VERIFY: how verify_audit_chain()'s time T_VERIFY compares with T
faster_by() { awk -v t="$1" -v v="$2" 'BEGIN { if (v <= t) printf "%.2f× faster", t / v; else printf "%.2f× slower", v / t }'; }
{
	cat <<EOF2
# Audit ledger benchmark

\`bench/audit_bench.sh\`, $(date -u +%Y-%m-%d), pg_steward at $SOURCE, PostgreSQL
$PG_VERSION, $CORES cores (load average $LOAD_AT_START at the start), default settings of a throwaway
cluster (fsync $S_FSYNC, shared_buffers $S_SHARED), pg_steward.audit_seal_interval = $SEAL_INTERVAL: the sealer seals every
second while events arrive (it stops when idle; the next append starts it again).
The machine is shared: read the ratios, not the absolute figures.${SO_NOTE:+ $SO_NOTE}

## Checks

$(checks_md)
EOF2
	if [ "${#CRASHED[@]}" -gt 0 ]; then
		cat <<EOF2

**verify_audit_chain() crashed the server ${#CRASHED[@]} time(s) in this run**; each time the
server reinitialized and the call was retried (up to 5 attempts):

EOF2
		for x in "${CRASHED[@]}"; do echo "- $x"; done
	fi
	cat <<EOF2

## Writing events: pgbench, one statement per transaction

\`pgbench -n -M prepared -T $DURATION -j 2\` (\`-j 1\` at one client). Every transaction writes
one event: action \`UPDATE\`, resource \`patient\`/random id, payload
\`{"patient": <id>, "field": "dosage", "old": "5mg", "new": "10mg"}\`.

- **bare INSERT** (the baseline): \`INSERT … VALUES … RETURNING id\` into \`plain_events\`, a table
  with the ledger's columns, its primary key \`(id, event_time)\`, its xid index and the same
  $PARTITIONS partitions (yearly ranges and the default), with what \`audit_append\` records
  besides: \`pg_current_xact_id()\`, \`clock_timestamp()\`, session and current user, client
  address, application name; no salt, no commitment: what an application writes to an
  audit table with no integrity protection at all.
- **plain INSERT**: the same row with a 16-byte \`gen_random_bytes\` salt and the 32-byte
  commitment \`sha256('\\x02' || salt || payload)\` computed in SQL.
- **audit_append**: \`SELECT audit_append('UPDATE', 'patient', :id::text, <payload>)\`.
- **DIY chain**: the plain INSERT into \`diy_events\` (the same table plus \`prev_hash\`,
  \`row_hash\`), whose PL/pgSQL BEFORE INSERT trigger takes \`pg_advisory_xact_lock(42)\`,
  reads the last row's hash (\`ORDER BY id DESC LIMIT 1\`), takes the id under the lock and
  sets \`row_hash = digest(prev_hash || <every column> , 'sha256')\` (pgcrypto).

Each client count ran the four methods twice, in the order bare, plain, audit_append, DIY and
then DIY, audit_append, plain, bare, each run after \`VACUUM ANALYZE\` and \`CHECKPOINT\`; tps is the faster
of the two runs (both below). The tables keep growing from run to run.

| method | $(for c in $CLIENTS; do printf '%s | ' "$(cl "$c")"; done | sed 's/ | $//') |
|---|$(for _ in $CLIENTS; do printf -- '---:|'; done)
EOF2
	for m in bare plain audit diy; do
		case $m in bare) label="bare INSERT (tps)" ;; plain) label="plain INSERT (tps)" ;; audit) label="\`audit_append\` (tps)" ;; diy) label="DIY chain (tps)" ;; esac
		printf '| %s |' "$label"
		for c in $CLIENTS; do printf ' %s |' "$(tps "$m" "$c")"; done
		echo
	done
	printf '| **audit_append / bare INSERT** |'
	for c in $CLIENTS; do printf ' **%s** |' "$(ratio "$(tps audit "$c")" "$(tps bare "$c")")"; done
	echo
	printf '| audit_append / plain INSERT |'
	for c in $CLIENTS; do printf ' %s |' "$(ratio "$(tps audit "$c")" "$(tps plain "$c")")"; done
	echo
	printf '| audit_append / DIY |'
	for c in $CLIENTS; do printf ' %s |' "$(ratio "$(tps audit "$c")" "$(tps diy "$c")")"; done
	echo
	cat <<EOF2

Both runs (tps, first / second), and the sealer during the audit_append runs:

| | $(for c in $CLIENTS; do printf '%s | ' "$(cl "$c")"; done | sed 's/ | $//') |
|---|$(for _ in $CLIENTS; do printf -- '---:|'; done)
| bare INSERT |$(for c in $CLIENTS; do printf ' %s |' "$(tps_cell bare "$c")"; done)
| plain INSERT |$(for c in $CLIENTS; do printf ' %s |' "$(tps_cell plain "$c")"; done)
| \`audit_append\` |$(for c in $CLIENTS; do printf ' %s |' "$(tps_cell audit "$c")"; done)
| DIY chain |$(for c in $CLIENTS; do printf ' %s |' "$(tps_cell diy "$c")"; done)
| oldest unsealed event: max / p95 (s; samples every $AGE_INTERVAL s, both runs) |$(for c in $CLIENTS; do printf ' %s / %s (%s samples) |' "${AGE_MAX[$c]}" "${AGE_P95[$c]}" "${AGE_N[$c]}"; done)
| most events unsealed at a sample |$(for c in $CLIENTS; do printf ' %s |' "${AGE_UNSEALED[$c]}"; done)
| sealer CPU (% of one core, per run) |$(for c in $CLIENTS; do printf ' %s / %s |' "${SEALER_CPU[$c,1]}" "${SEALER_CPU[$c,2]}"; done)
| events appended per second of sealer CPU (per run) |$(for c in $CLIENTS; do printf ' %s / %s |' "${SEALER_EPS[$c,1]}" "${SEALER_EPS[$c,2]}"; done)

The age is \`now() - oldest_unsealed_at\` of \`audit_status()\` (0 when every committed event is
sealed), read by one session every $AGE_INTERVAL s while pgbench ran; it includes the start
of a sealer at the beginning of a run (the sealer of the previous runs had gone idle). The
sealer's CPU is utime + stime of \`/proc/<pid>/stat\` from the first second of the run to
its end, divided by that wall time.

After the runs, \`audit_seal()\` sealed the last $SEALED_LAST events and \`verify_audit_chain()\`
returned is_valid = $W_VALID with $W_CHECKED events checked in $W_BLOCKS blocks
($W_EVENTS events in the ledger, $L_SEALED of them sealed in $L_BLOCKS blocks; $W_UNSEALED
reported unsealed; problem: $W_PROBLEM). The DIY chain written by the same concurrent
clients: \`diy_verify()\` valid = $D_VALID, $D_CHECKED of $D_ROWS rows checked. plain_events
holds $P_ROWS rows.

## The sealer's maximum rate

With the sealers off (\`pg_steward.audit_seal_interval = 0\`), pgbench (8 clients, one
\`audit_append\` per transaction) appended $SEAL_N events to an empty ledger in a database of
its own; one \`audit_seal()\` sealed $SEAL_SEALED of them in **$SEAL_SECS s: $SEAL_RATE events per
second**. Then $((SEALER_N - 1)) more were appended, the sealers turned on again
(\`pg_steward.audit_seal_interval = $SEAL_INTERVAL\`), and one more append started a sealer: all
$SEALER_N were sealed $SEALER_SECS s after that append ($SEALER_RATE events per second, the
sealer's start and the wait for its first cycle included).

## Verifying

A database of its own: gen_ledger (bench/lib.sh) wrote $EVENTS events in $T_FILL s, in rounds of
$CHUNK events from $(nproc) sessions at once, each round sealed by \`audit_seal()\` into one block
($V_BLOCKS blocks, $V_SEALED events sealed); the events are what \`audit_append\` writes, by
one INSERT … SELECT into \`steward.audit_events\`, with the salt md5 of the event's id
instead of random bytes (verification reads it like any other). \`diy_events\` got as many
chained rows (the trigger's hash, computed by one loop per $CHUNK rows) in $T_FILL_DIY s.
After \`VACUUM ANALYZE\` and \`CHECKPOINT\` ($DB_MB MB), verify_audit_chain(), the scan and the
loop ran $VERIFY_RUNS times, interleaved, each in a session of its own; the fastest run counts.
Seconds are psql's \\timing of the statement.

| method | rows | seconds (runs) | µs per row | verify_audit_chain() against it |
|---|---:|---:|---:|---:|
| \`SELECT * FROM verify_audit_chain()\` | $EVENTS | $T_VERIFY ($(vt_runs verify "$EVENTS" "$VERIFY_RUNS")) | $(per_event_us "$T_VERIFY" "$EVENTS") | 1 |
| plain scan \`$SCAN_SQL\` | $EVENTS | $T_SCAN ($(vt_runs scan "$EVENTS" "$VERIFY_RUNS")) | $(per_event_us "$T_SCAN" "$EVENTS") | **$(ratio "$T_VERIFY" "$T_SCAN")× its time** |
| PL/pgSQL loop over \`diy_events\` in id order, pgcrypto \`digest\` per row (one hash per row, no Merkle tree) | $EVENTS | $T_LOOP ($(vt_runs loop "$EVENTS" "$VERIFY_RUNS")) | $(per_event_us "$T_LOOP" "$EVENTS") | **$(faster_by "$T_LOOP" "$T_VERIFY")** |
| the same check in PL/pgSQL with pgcrypto (\`bench/verify_plpgsql.sql\`) | $SAME_CHECKED | $T_SAME (one run) | $(per_event_us "$T_SAME" "$EVENTS") | $(faster_by "$T_SAME" "$T_VERIFY") |

Peak memory of the session (VmHWM at its end, of every run; RssShmem: the shared memory it
touched, shared buffers included) and the largest VmHWM of a parallel worker seen (sampled
every 0.2 s), MB:

| method | rows | VmHWM (runs) | RssShmem (runs) | VmHWM − RssShmem (largest) | parallel workers' VmHWM (runs) |
|---|---:|---:|---:|---:|---:|
EOF2
	mem_row() { # mem_row METHOD LABEL SIZE RUNS
		local hw sh
		hw=$(mem_runs "$1" "$3" "$4" 1)
		sh=$(mem_runs "$1" "$3" "$4" 2)
		printf '| %s | %s | %s | %s | %s | %s |\n' "$2" "$3" \
			"$(echo "$hw" | tr , '\n' | while read -r k; do mb "$k"; done | paste -sd, | sed 's/,/, /g')" \
			"$(echo "$sh" | tr , '\n' | while read -r k; do mb "$k"; done | paste -sd, | sed 's/,/, /g')" \
			"$(paste -d' ' <(echo "$hw" | tr , '\n') <(echo "$sh" | tr , '\n') | awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && $1 - $2 > m { m = $1 - $2 } END { printf "%.0f", m / 1024 }')" \
			"$(mem_runs "$1" "$3" "$4" 3 | tr , '\n' | while read -r k; do mb "$k"; done | paste -sd, | sed 's/,/, /g')"
	}
	mem_row verify "verify_audit_chain()" "$EVENTS" "$VERIFY_RUNS"
	mem_row scan "plain scan" "$EVENTS" "$VERIFY_RUNS"
	if [ "$LARGE_DONE" = 1 ]; then
		mem_row verify "verify_audit_chain()" "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS"
		mem_row scan "plain scan" "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS"
	fi
	cat <<EOF2

verify_audit_chain() recomputes two SHA-256 per event (the leaf and the payload's
commitment), the Merkle root of every block and the chain of block hashes; the loop one
digest per row; the scan none. max_parallel_workers_per_gather = $MAX_PAR;
verify_audit_chain() reads each chunk's events with the leader and up to that many
parallel workers (sampled every 0.2 s): $PARALLEL.

### At $EVENTS_LARGE events

EOF2
	if [ "$LARGE_DONE" = 1 ]; then
		cat <<EOF2
The same ledger, extended by gen_ledger to $EVENTS_LARGE events ($((EVENTS_LARGE - EVENTS)) more in $T_FILL_LARGE s;
$VL_BLOCKS blocks, $VL_SEALED events sealed; $DB_LARGE_MB MB after \`VACUUM ANALYZE\`), verified
$VERIFY_LARGE_RUNS times, interleaved with the scan:

| method | events | seconds (runs) | µs per event | µs per event at $EVENTS |
|---|---:|---:|---:|---:|
| \`verify_audit_chain()\` | $EVENTS_LARGE | $T_VERIFY_LARGE ($(vt_runs verify "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS")) | $(per_event_us "$T_VERIFY_LARGE" "$EVENTS_LARGE") | $(per_event_us "$T_VERIFY" "$EVENTS") |
| plain scan | $EVENTS_LARGE | $T_SCAN_LARGE ($(vt_runs scan "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS")) | $(per_event_us "$T_SCAN_LARGE" "$EVENTS_LARGE") | $(per_event_us "$T_SCAN" "$EVENTS") |

The database was dropped afterwards.
EOF2
	else
		echo "Not measured in this run: $LARGE_NOTE."
	fi
	cat <<EOF2

## The machine during the run

| section | seconds | load average (1 min), min–max | busy cores (of $CORES) | this benchmark | others | steal |
|---|---:|---:|---:|---:|---:|---:|
EOF2
	watch_summary | awk -F'\t' '{ split($5, v, ","); printf "| %s | %s | %s–%s | %s | %s | %s | %s |\n", $2, $3, v[1], v[2], v[3], v[4], v[5], v[6] }'
} >"$REPORT"

# The same figures, one per line, tab-separated: section, method, param (the
# client count, or the rows checked), value (the figure the report gives: the
# better run), runs (every run, comma-separated), unit.
{
	printf 'section\tmethod\tparam\tvalue\truns\tunit\n'
	for c in $CLIENTS; do
		for m in bare plain audit diy; do
			printf 'write\t%s\t%s\t%s\t%s,%s\ttps\n' "$m" "$c" "$(tps "$m" "$c")" "${TPS[$m,$c,1]}" "${TPS[$m,$c,2]}"
		done
		printf 'sealer_cpu\taudit\t%s\t-\t%s,%s\tpercent of one core\n' "$c" "${SEALER_CPU[$c,1]}" "${SEALER_CPU[$c,2]}"
		printf 'sealer_eps\taudit\t%s\t-\t%s,%s\tevents per sealer CPU second\n' "$c" "${SEALER_EPS[$c,1]}" "${SEALER_EPS[$c,2]}"
		printf 'unsealed_age\tmax\t%s\t%s\t-\tseconds\n' "$c" "${AGE_MAX[$c]}"
		printf 'unsealed_age\tp95\t%s\t%s\t-\tseconds\n' "$c" "${AGE_P95[$c]}"
		printf 'unsealed_age\tsamples\t%s\t%s\t-\tsamples\n' "$c" "${AGE_N[$c]}"
		printf 'unsealed_age\tmost_unsealed\t%s\t%s\t-\tevents\n' "$c" "${AGE_UNSEALED[$c]}"
	done
	printf 'seal_rate\taudit_seal\t%s\t%s\t%s\tevents per second\n' "$SEAL_SEALED" "$SEAL_RATE" "$SEAL_SECS"
	printf 'seal_rate\tsealer\t%s\t%s\t%s\tevents per second\n' "$SEALER_N" "$SEALER_RATE" "$SEALER_SECS"
	printf 'verify\tsame_check\t%s\t%s\t%s\tseconds\n' "$SAME_CHECKED" "$T_SAME" "$T_SAME"
	for m in verify scan loop; do
		printf 'verify\t%s\t%s\t%s\t%s\tseconds\n' "$m" "$EVENTS" "$(vt_best "$m" "$EVENTS" "$VERIFY_RUNS")" "$(vt_runs "$m" "$EVENTS" "$VERIFY_RUNS")"
	done
	for m in verify scan; do
		printf 'memory\t%s\t%s\t%s\t%s\tkB VmHWM\n' "$m" "$EVENTS" "$(mem_max "$m" "$EVENTS" "$VERIFY_RUNS" 1)" "$(mem_runs "$m" "$EVENTS" "$VERIFY_RUNS" 1)"
		printf 'memory_shmem\t%s\t%s\t%s\t%s\tkB RssShmem\n' "$m" "$EVENTS" "$(mem_max "$m" "$EVENTS" "$VERIFY_RUNS" 2)" "$(mem_runs "$m" "$EVENTS" "$VERIFY_RUNS" 2)"
	done
	printf 'memory_workers\tverify\t%s\t%s\t%s\tkB VmHWM\n' "$EVENTS" "$(mem_max verify "$EVENTS" "$VERIFY_RUNS" 3)" "$(mem_runs verify "$EVENTS" "$VERIFY_RUNS" 3)"
	if [ "$LARGE_DONE" = 1 ]; then
		for m in verify scan; do
			printf 'verify\t%s\t%s\t%s\t%s\tseconds\n' "$m" "$EVENTS_LARGE" "$(vt_best "$m" "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS")" "$(vt_runs "$m" "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS")"
			printf 'memory\t%s\t%s\t%s\t%s\tkB VmHWM\n' "$m" "$EVENTS_LARGE" "$(mem_max "$m" "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS" 1)" "$(mem_runs "$m" "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS" 1)"
			printf 'memory_shmem\t%s\t%s\t%s\t%s\tkB RssShmem\n' "$m" "$EVENTS_LARGE" "$(mem_max "$m" "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS" 2)" "$(mem_runs "$m" "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS" 2)"
		done
		printf 'memory_workers\tverify\t%s\t%s\t%s\tkB VmHWM\n' "$EVENTS_LARGE" "$(mem_max verify "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS" 3)" "$(mem_runs verify "$EVENTS_LARGE" "$VERIFY_LARGE_RUNS" 3)"
		printf 'fill\tledger_large\t%s\t%s\t-\tseconds\n' "$((EVENTS_LARGE - EVENTS))" "$T_FILL_LARGE"
	fi
	printf 'fill\tledger\t%s\t%s\t-\tseconds\n' "$EVENTS" "$T_FILL"
	printf 'fill\tdiy\t%s\t%s\t-\tseconds\n' "$EVENTS" "$T_FILL_DIY"
	meta() { printf 'meta\t%s\t-\t%s\t-\t-\n' "$1" "$2"; }
	meta duration "$DURATION"
	meta clients "$CLIENTS"
	meta events "$EVENTS"
	meta events_large "$([ "$LARGE_DONE" = 1 ] && echo "$EVENTS_LARGE" || echo 0)"
	meta large_note "${LARGE_NOTE:--}"
	meta verify_runs "$VERIFY_RUNS"
	meta verify_large_runs "$VERIFY_LARGE_RUNS"
	meta age_interval "$AGE_INTERVAL"
	meta seal_interval "$SEAL_INTERVAL"
	meta fsync "$S_FSYNC"
	meta synchronous_commit "$S_SYNC"
	meta shared_buffers "$S_SHARED"
	meta pg_version "$PG_VERSION"
	meta source "$SOURCE"
	meta so_loaded "$SO_LOADED"
	meta load_at_start "$LOAD_AT_START"
	meta write_chain_valid "$W_VALID"
	meta write_events_checked "$W_CHECKED"
	meta write_events "$W_EVENTS"
	meta write_diy_valid "$D_VALID"
	meta verify_valid "$V_VALID"
	meta server_crashes "${#CRASHED[@]}"
	meta so_replaced "$([ -n "$SO_NOTE" ] && echo yes || echo no)"
	meta check_failures "${#CHECK_FAILURES[@]}"
	checks_tsv
	watch_summary
} >"$TSV"
# the age samples of the first audit_append run at each client count, for a chart
for c in $CLIENTS; do
	awk -F'\t' 'NR == 1 { t0 = $1 } NF >= 3 { printf "%.2f\t%s\n", $1 - t0, $2 }' "$WORKDIR/ages-$c-1.tsv" >"$RESULTS_DIR/audit-ages-$c.tsv"
done

section "report ($REPORT, $TSV)"
cat "$REPORT"
checks_exit
