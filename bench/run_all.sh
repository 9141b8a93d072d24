#!/usr/bin/env bash
# bench/run_all.sh: every benchmark in one run, and one report.
#
# Runs bench/audit_bench.sh (audit_append against a bare INSERT, the plain
# INSERT and the DIY chain, with the age of the oldest unsealed event and
# the sealer's CPU; the sealer's maximum rate; verify_audit_chain against a
# plain scan, a one-hash PL/pgSQL loop and the same check in PL/pgSQL, at
# EVENTS and EVENTS_LARGE events, with the verifying session's peak memory),
# bench/tree_bench.sh (receipts and consistency proofs of the ledger tree at
# EVENTS and EVENTS_LARGE events: their size, time and verification by a
# verifier of its own; the tree's storage against the events'; sealing a
# backlog, with the tree's share of it), bench/jobs_bench.sh (backfill against one UPDATE and seed 003's loop, with
# its longest batch; copy_table under a write load against INSERT ... SELECT,
# with its phases and the longest a writer waited) and bench/profile.sh
# (callgrind's instruction counts per audit_append call, bare INSERT, verified
# and sealed event, with the top functions), one after the other, each on a
# throwaway cluster of its own.  They write their own reports and TSV files
# (audit, tree, jobs, profile .md/.tsv in the results directory); from those this
# script writes docs/benchmarks.md: the goals first (each ratio, its goal and
# whether it holds, computed here), then the raw figures, the machine's load,
# the profile summary, and gnuplot charts in docs/benchmarks/*.png.
#
#   bench/run_all.sh                 the full run (about 40 minutes on 2 cores)
#   BENCH_QUICK=1 bench/run_all.sh   a smoke test of a few minutes: small sizes,
#                                    and the report goes to /tmp/pg_steward-bench-quick
#                                    (docs/, results/) instead of docs/ and bench/results/
#
# Sizes (passed on to the scripts; full / quick): DURATION (seconds of each
# pgbench run; 20 / 3), CLIENTS ("1 8 32"), EVENTS (events verified; 1000000 /
# 100000), EVENTS_LARGE (the large ledger; 10000000 / 300000; 0 skips it),
# VERIFY_RUNS (5 / 3), VERIFY_LARGE_RUNS (2), SEAL_EVENTS (events sealed at the
# sealer's maximum rate; 200000 / 40000), BACKLOG (events sealed on the
# ledger tree benchmark's large ledger; 100000 / 20000; tree_bench.sh also
# takes EVENTS and EVENTS_LARGE), ROWS (rows backfilled and copied;
# 2000000 / 200000), LOAD_SECONDS (write load during copy_table; 10 / 3), RUNS
# (runs of each jobs method; 5 / 3: each method and its baseline count with
# their fastest run, and more runs make that less a matter of what else the
# shared machine was doing), PROFILE_CALLS, PROFILE_WARM, PROFILE_EVENTS,
# PROFILE_SEAL (bench/profile.sh; 3000, 1000, 50000, 30000 / 1000, 250,
# 20000, 10000).  BENCH_PROFILE=0 skips the profile; BENCH_PROFILE_BASE=<commit>
# profiles that commit too (built into a copy of the PostgreSQL installation),
# for a before and after.  BENCH_BUILD=0 benchmarks the pg_steward already
# installed instead of building and installing this tree first; BENCH_DOC_DIR
# and BENCH_RESULTS_DIR move the outputs; PGSTEWARD_BENCH_DIR
# (/tmp/pg_steward-run-all) and PGSTEWARD_PORT (54341) are the work directory
# and the clusters' port; PG_CONFIG or PGSTEWARD_PG_BIN the PostgreSQL
# installation (scripts/lib.sh).  BENCH_REPORT_ONLY=1 runs no benchmark: it
# redraws the charts and rewrites the report from the results of the last run
# (the same BENCH_QUICK and directories).  Installs gnuplot-nox when missing.
#
# A correctness check that fails in a script (a ledger that does not verify,
# rows lost or added by the copy, ...) is written at the top of the report,
# and the run exits with status 1 after writing it.  The goals are not
# checks: a goal that does not hold is reported, not an error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BENCH_QUICK="${BENCH_QUICK:-0}"
if [ "$BENCH_QUICK" = 1 ]; then
	DURATION="${DURATION:-3}" EVENTS="${EVENTS:-100000}" EVENTS_LARGE="${EVENTS_LARGE:-300000}"
	ROWS="${ROWS:-200000}" LOAD_SECONDS="${LOAD_SECONDS:-3}" SEAL_EVENTS="${SEAL_EVENTS:-40000}"
	PROFILE_CALLS="${PROFILE_CALLS:-1000}" PROFILE_WARM="${PROFILE_WARM:-250}"
	PROFILE_EVENTS="${PROFILE_EVENTS:-20000}" PROFILE_SEAL="${PROFILE_SEAL:-10000}"
	BACKLOG="${BACKLOG:-20000}" RUNS="${RUNS:-3}" VERIFY_RUNS="${VERIFY_RUNS:-3}"
	OUT=/tmp/pg_steward-bench-quick
	DOC_DIR="${BENCH_DOC_DIR:-$OUT/docs}"
	RESULTS_DIR="${BENCH_RESULTS_DIR:-$OUT/results}"
else
	DURATION="${DURATION:-20}" EVENTS="${EVENTS:-1000000}" EVENTS_LARGE="${EVENTS_LARGE:-10000000}"
	ROWS="${ROWS:-2000000}" LOAD_SECONDS="${LOAD_SECONDS:-10}" SEAL_EVENTS="${SEAL_EVENTS:-200000}"
	PROFILE_CALLS="${PROFILE_CALLS:-3000}" PROFILE_WARM="${PROFILE_WARM:-1000}"
	PROFILE_EVENTS="${PROFILE_EVENTS:-50000}" PROFILE_SEAL="${PROFILE_SEAL:-30000}"
	BACKLOG="${BACKLOG:-100000}" RUNS="${RUNS:-5}" VERIFY_RUNS="${VERIFY_RUNS:-5}"
	DOC_DIR="${BENCH_DOC_DIR:-$ROOT/docs}"
	RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
fi
CLIENTS="${CLIENTS:-1 8 32}"
VERIFY_LARGE_RUNS="${VERIFY_LARGE_RUNS:-2}"
BENCH_BUILD="${BENCH_BUILD:-1}"
BENCH_PROFILE="${BENCH_PROFILE:-1}"
BENCH_PROFILE_BASE="${BENCH_PROFILE_BASE:-}"
WORK="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-run-all}"
PORT="${PGSTEWARD_PORT:-54341}"
REPORT="$DOC_DIR/benchmarks.md"
IMG_DIR="$DOC_DIR/benchmarks"
PLOT="$WORK/plot"

# The goals (docs/benchmarks.md gives each with its figure).
GOAL_APPEND=0.95  # audit_append's tps ÷ a bare INSERT's, at every client count
GOAL_AGE=2        # the oldest unsealed event, at the most clients: seconds, below
GOAL_VS_LOOP=4    # verify_audit_chain ÷ the one-hash PL/pgSQL loop: at least this much faster
GOAL_VS_SCAN=2    # verify_audit_chain's time ÷ the plain scan's: at most
GOAL_LINEAR=1.25  # time per event at EVENTS_LARGE ÷ at EVENTS: at most (linear, within noise)
GOAL_MEMORY=1.25  # the verifying session's VmHWM at EVENTS_LARGE ÷ at EVENTS: at most (bounded)
GOAL_COPY=2.5     # copy_table under load ÷ one quiet INSERT ... SELECT: at most
GOAL_BACKFILL=0.9 # backfill's throughput ÷ one UPDATE's: at least
GOAL_RECEIPT_BYTES=2000 # the largest receipt (audit_proof) at EVENTS_LARGE: bytes, below (2 kB)
GOAL_RECEIPT_MS=10      # audit_proof's latency average at EVENTS_LARGE: ms, below
GOAL_TREE_PCT=10        # steward.audit_tree's size ÷ the events' size: percent, at most

# ------------------------------------------------------------ tools

need_packages() { # need_packages PKG...: apt-get install those not installed
	local missing=() p
	for p in "$@"; do steward_pkg_installed "$p" || missing+=("$p"); done
	[ "${#missing[@]}" -eq 0 ] && return 0
	section "installing packages: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}
command -v gnuplot >/dev/null || need_packages gnuplot-nox
gnuplot -e 'set terminal pngcairo' 2>/dev/null || die "this gnuplot has no pngcairo terminal"

mkdir -p "$WORK" "$DOC_DIR" "$IMG_DIR" "$RESULTS_DIR"
rm -rf "$PLOT"
[ "${BENCH_REPORT_ONLY:-0}" = 1 ] || rm -rf "$WORK/logs" "$WORK/run.env"
mkdir -p "$PLOT" "$WORK/logs"

# ------------------------------------------------------------ the benchmarks

# bench SCRIPT LOG ENV...: run one script; its status in RC (3: a correctness
# check failed, the script wrote its report; anything else but 0 stops here)
bench() {
	local script=$1 log=$2
	shift 2
	section "bench/$script (log: $log)"
	RC=0
	env "$@" BENCH_RESULTS_DIR="$RESULTS_DIR" PGSTEWARD_PORT="$PORT" "$ROOT/bench/$script" 2>&1 | tee "$log" || RC=$?
	[ "$RC" = 0 ] || [ "$RC" = 3 ] || die "bench/$script failed (status $RC); see $log"
}

if [ "${BENCH_REPORT_ONLY:-0}" = 1 ]; then
	# only the charts and the report, from the results of the last run
	[ -s "$WORK/run.env" ] || die "BENCH_REPORT_ONLY=1: no earlier run in $WORK"
	T_TREE_END= # not in the run.env of a run before bench/tree_bench.sh
	# shellcheck disable=SC1091
	. "$WORK/run.env"
	[ -n "$T_TREE_END" ] || T_TREE_END=$T_AUDIT_END
else
	DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	T_START=$(date +%s)
	rm -f "$RESULTS_DIR/profile.tsv" "$RESULTS_DIR/profile.md"

	bench audit_bench.sh "$WORK/logs/audit.log" DURATION="$DURATION" CLIENTS="$CLIENTS" EVENTS="$EVENTS" \
		EVENTS_LARGE="$EVENTS_LARGE" VERIFY_RUNS="$VERIFY_RUNS" VERIFY_LARGE_RUNS="$VERIFY_LARGE_RUNS" \
		SEAL_EVENTS="$SEAL_EVENTS" BENCH_BUILD="$BENCH_BUILD" PGSTEWARD_BENCH_DIR="$WORK/audit"
	RC_AUDIT=$RC
	T_AUDIT_END=$(date +%s)

	# audit_bench.sh built and installed this tree already (unless BENCH_BUILD=0)
	bench tree_bench.sh "$WORK/logs/tree.log" EVENTS="$EVENTS" EVENTS_LARGE="$EVENTS_LARGE" BACKLOG="$BACKLOG" \
		BENCH_BUILD=0 PGSTEWARD_BENCH_DIR="$WORK/tree"
	RC_TREE=$RC
	T_TREE_END=$(date +%s)

	bench jobs_bench.sh "$WORK/logs/jobs.log" ROWS="$ROWS" LOAD_SECONDS="$LOAD_SECONDS" RUNS="$RUNS" \
		BENCH_BUILD=0 PGSTEWARD_BENCH_DIR="$WORK/jobs"
	RC_JOBS=$RC
	T_JOBS_END=$(date +%s)

	if [ "$BENCH_PROFILE" = 1 ]; then
		bench profile.sh "$WORK/logs/profile.log" PROFILE_CALLS="$PROFILE_CALLS" PROFILE_WARM="$PROFILE_WARM" \
			PROFILE_EVENTS="$PROFILE_EVENTS" PROFILE_SEAL="$PROFILE_SEAL" BENCH_PROFILE_BASE="$BENCH_PROFILE_BASE" \
			BENCH_BUILD=0 PGSTEWARD_BENCH_DIR="$WORK/profile"
	fi
	T_END=$(date +%s)
	LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
	declare -p DATE LOAD_START LOAD_END T_START T_AUDIT_END T_TREE_END T_JOBS_END T_END RC_AUDIT RC_TREE RC_JOBS >"$WORK/run.env"
fi

# ------------------------------------------------------------ reading the results

A_TSV="$RESULTS_DIR/audit.tsv"
J_TSV="$RESULTS_DIR/jobs.tsv"
P_TSV="$RESULTS_DIR/profile.tsv"
{ [ -s "$A_TSV" ] && [ -s "$J_TSV" ]; } || die "missing $A_TSV or $J_TSV"
# val TSV SECTION METHOD [PARAM]: the figure; runs_of: every run
val() { awk -F'\t' -v s="$2" -v m="$3" -v p="${4:-}" '$1 == s && $2 == m && (p == "" || $3 == p) { print $4; exit }' "$1"; }
runs_of() { awk -F'\t' -v s="$2" -v m="$3" -v p="${4:-}" '$1 == s && $2 == m && (p == "" || $3 == p) { gsub(",", ", ", $5); print $5; exit }' "$1"; }
meta() { val "$1" meta "$2"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; } # calc FORMAT EXPR
# vs T BASE: a time T against a baseline's time BASE, in words
vs() { awk -v t="$1" -v b="$2" 'BEGIN { if (t <= b) printf "%.2f× faster", b / t; else printf "%.2f× slower", t / b }'; }
mins() { calc '%.1f' "$1 / 60"; }
num() { echo "$1" | sed -E ':a; s/([0-9])([0-9]{3})($|[^0-9])/\1,\2\3/; ta'; } # 1000000 -> 1,000,000
# verdict CONDITION: "holds" when the awk condition is true, else "does not hold"
verdict() { if awk "BEGIN { exit !($1) }"; then echo "holds"; else echo "**does not hold**"; fi; }
isnum() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

for c in $CLIENTS; do
	for m in bare plain audit diy; do
		[ -n "$(val "$A_TSV" write "$m" "$c")" ] || die "$A_TSV has no tps for $m at $c clients"
	done
done
tps() { val "$A_TSV" write "$1" "$2"; }
tps_ratio() { calc '%.2f' "$(tps "$1" "$3") / $(tps "$2" "$3")"; } # tps_ratio A B CLIENTS
MAX_C=$(echo "$CLIENTS" | tr ' ' '\n' | sort -n | tail -1)
V_EVENTS=$(meta "$A_TSV" events)
V_LARGE=$(meta "$A_TSV" events_large)
V_VERIFY=$(val "$A_TSV" verify verify "$V_EVENTS")
V_SCAN=$(val "$A_TSV" verify scan "$V_EVENTS")
V_LOOP=$(val "$A_TSV" verify loop "$V_EVENTS")
V_SAME=$(val "$A_TSV" verify same_check)
MEM_SMALL=$(val "$A_TSV" memory verify "$V_EVENTS")
if [ "$V_LARGE" != 0 ]; then
	V_VERIFY_L=$(val "$A_TSV" verify verify "$V_LARGE")
	V_SCAN_L=$(val "$A_TSV" verify scan "$V_LARGE")
	MEM_LARGE=$(val "$A_TSV" memory verify "$V_LARGE")
fi
SEAL_N=$(awk -F'\t' '$1 == "seal_rate" && $2 == "audit_seal" { print $3 }' "$A_TSV")
SEAL_RATE=$(val "$A_TSV" seal_rate audit_seal)
SEAL_SECS=$(runs_of "$A_TSV" seal_rate audit_seal)
SEALER_N=$(awk -F'\t' '$1 == "seal_rate" && $2 == "sealer" { print $3 }' "$A_TSV")
SEALER_RATE=$(val "$A_TSV" seal_rate sealer)
SEALER_SECS=$(runs_of "$A_TSV" seal_rate sealer)
APPEND_MAX=$(for c in $CLIENTS; do tps audit "$c"; done | sort -n | tail -1)
us_per() { calc '%.2f' "$1 * 1000000 / $2"; } # µs per event
B_UPDATE=$(val "$J_TSV" backfill update)
B_LOOP=$(val "$J_TSV" backfill loop)
B_STEWARD=$(val "$J_TSV" backfill backfill)
B_MAXBATCH=$(val "$J_TSV" backfill_batch max_batch_ms)
B_TARGET=$(val "$J_TSV" backfill_batch target_batch_ms)
C_INSERT=$(val "$J_TSV" copy insert_select)
C_STEWARD=$(val "$J_TSV" copy copy_table)
C_BEST=$(meta "$J_TSV" copy_best_run)
BATCH=$(meta "$J_TSV" batch)
FSYNC=$(meta "$A_TSV" fsync)
PG_VERSION=$(meta "$A_TSV" pg_version)
cl() { echo "$1 client$([ "$1" = 1 ] || echo s)"; }
CLIENTS_TEXT=$(echo "$CLIENTS" | sed -E 's/ +/, /g; s/, ([^,]*)$/ and \1/') # 1, 8 and 32
HAVE_PROFILE=0
[ -s "$P_TSV" ] && HAVE_PROFILE=1
BUILDS=
[ "$HAVE_PROFILE" = 0 ] || BUILDS=$(meta "$P_TSV" builds)
prof() { val "$P_TSV" profile "$1" "$2"; } # prof WORKLOAD BUILD: instructions per unit
prof_lib() { awk -F'\t' -v m="$1" -v b="$2" '$1 == "profile" && $2 == m && $3 == b { print $5; exit }' "$P_TSV"; }
# the ledger tree (tree_bench.sh): its figures at the largest ledger it measured
T_TSV="$RESULTS_DIR/tree.tsv"
HAVE_TREE=0
if [ -s "$T_TSV" ]; then
	HAVE_TREE=1
	T_EVENTS=$(meta "$T_TSV" events)
	T_LARGE=$(meta "$T_TSV" events_large)
	T_SIZES="$T_EVENTS$([ "$T_LARGE" = 0 ] || echo " $T_LARGE")"
	T_TOP=$([ "$T_LARGE" = 0 ] && echo "$T_EVENTS" || echo "$T_LARGE")
	T_BYTES_MAX=$(val "$T_TSV" receipt_bytes max "$T_TOP")
	T_MS_AVG=$(val "$T_TSV" receipt_ms avg "$T_TOP")
	T_PCT=$(val "$T_TSV" storage tree_vs_events "$T_TOP")
fi
# tree_runs SECTION METHOD PARAM N: field N of the runs column (min,median,p95,max,avg,n)
tree_runs() { awk -F'\t' -v s="$1" -v m="$2" -v p="$3" -v n="$4" '$1 == s && $2 == m && $3 == p { split($5, r, ","); print r[n]; exit }' "$T_TSV"; }

# the checks of every script, and those that failed
CHECK_FILES=("$A_TSV" "$J_TSV")
[ "$HAVE_TREE" = 0 ] || CHECK_FILES+=("$T_TSV")
CHECKS_ALL=$(cat "${CHECK_FILES[@]}" | awk -F'\t' '$1 == "check"')
CHECKS_FAILED=$(awk -F'\t' '$4 != "ok"' <<<"$CHECKS_ALL")
CHECKS_N=$(grep -c . <<<"$CHECKS_ALL" || true)

# ------------------------------------------------------------ charts

section "charts (gnuplot) in $IMG_DIR"
GP_HEAD='set terminal pngcairo size 1000,600 noenhanced font "DejaVu Sans,11"
set style fill solid 0.9 border rgb "#333333"
set grid ytics lc rgb "#dddddd"
set border 3
set xtics nomirror scale 0
set ytics nomirror
set format y "%g"'

# 1. writing: grouped bars, one group per client count
i=0
XT=
MAX=0
for c in $CLIENTS; do
	printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$(tps bare "$c")" "$(tps plain "$c")" "$(tps audit "$c")" "$(tps diy "$c")"
	XT="$XT${XT:+, }\"$(cl "$c")\" $i"
	for m in bare plain audit diy; do MAX=$(calc '%.0f' "($(tps "$m" "$c") > $MAX) ? $(tps "$m" "$c") : $MAX"); done
	i=$((i + 1))
done >"$PLOT/write.dat"
gnuplot <<GP
$GP_HEAD
set output "$IMG_DIR/audit_append.png"
set title "Writing one audit event per transaction (pgbench -M prepared, ${DURATION} s runs, faster of 2)\nlabel on each bar: its tps ÷ the bare INSERT's tps at the same client count"
set ylabel "transactions per second"
set xtics ($XT)
set xrange [-0.6:$((i - 1)).6]
set yrange [0:$MAX * 1.15]
set key below center horizontal Left reverse samplen 2 width 2
set boxwidth 0.19
plot "$PLOT/write.dat" using (\$1-0.3):2 with boxes lc rgb "#4e79a7" title "bare INSERT (baseline: no salt, no commitment)", \
     ""  using (\$1-0.1):3 with boxes lc rgb "#b0b0b0" title "plain INSERT (salt and commitment in SQL)", \
     ""  using (\$1+0.1):4 with boxes lc rgb "#e15759" title "audit_append()", \
     ""  using (\$1+0.3):5 with boxes lc rgb "#f28e2b" title "DIY chain (PL/pgSQL trigger)", \
     ""  using (\$1-0.3):2:(sprintf("%.2f×", \$2/\$2)) with labels offset 0,0.8 font ",10" notitle, \
     ""  using (\$1-0.1):3:(sprintf("%.2f×", \$3/\$2)) with labels offset 0,0.8 font ",10" notitle, \
     ""  using (\$1+0.1):4:(sprintf("%.2f×", \$4/\$2)) with labels offset 0,0.8 font ",10" notitle, \
     ""  using (\$1+0.3):5:(sprintf("%.2f×", \$5/\$2)) with labels offset 0,0.8 font ",10" notitle
GP

# 2. the age of the oldest unsealed event during the first audit_append run
AGE_PLOT=
for c in $CLIENTS; do
	f="$RESULTS_DIR/audit-ages-$c.tsv"
	[ -s "$f" ] && AGE_PLOT="$AGE_PLOT${AGE_PLOT:+, }\"$f\" using 1:2 with linespoints pt 7 ps 0.5 title \"$(cl "$c")\""
done
if [ -n "$AGE_PLOT" ]; then
	AGE_TOP=$(cat "$RESULTS_DIR"/audit-ages-*.tsv | awk -F'\t' -v g="$GOAL_AGE" 'BEGIN { m = g } $2 > m { m = $2 } END { print m * 1.1 }')
	gnuplot <<GP
$GP_HEAD
set output "$IMG_DIR/unsealed_age.png"
set title "Age of the oldest unsealed event while pgbench appends with audit_append() (first run at each client count)\nsampled every $(meta "$A_TSV" age_interval) s: now() - audit_status().oldest_unsealed_at; the goal: under $GOAL_AGE s at $MAX_C clients"
set xlabel "seconds into the run"
set ylabel "seconds"
set yrange [0:$AGE_TOP]
set key top right
set arrow from graph 0, first $GOAL_AGE to graph 1, first $GOAL_AGE nohead lc rgb "#e15759" dt 2
set datafile separator "\t"
plot $AGE_PLOT
GP
fi

# bars CHART TITLE YLABEL LOG DATAFILE: one bar per line of DATAFILE (see
# bar_line); LOG=1 for a logarithmic y axis
bars() {
	local out=$1 title=$2 ylabel=$3 log=$4 dat=$5 xt max min
	xt=$(awk -F'\t' '{ printf "%s\"%s\" %s", (NR > 1 ? ", " : ""), $5, $1 }' "$dat")
	max=$(awk -F'\t' 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$dat")
	min=$(awk -F'\t' 'NR == 1 || $2 < m { m = $2 } END { print m }' "$dat")
	local yrange="set yrange [0:$max * 1.22]" scale=""
	if [ "$log" = 1 ]; then
		yrange="set yrange [$min / 4:$max * 4]"
		scale='set logscale y'
	fi
	gnuplot <<GP
$GP_HEAD
set output "$IMG_DIR/$out"
set title "$title"
set ylabel "$ylabel"
set xtics ($xt)
set xrange [-0.6:$(wc -l <"$dat") - 0.4]
$scale
$yrange
set boxwidth 0.55
set bmargin 5
set key off
set datafile separator "\t"
plot "$dat" using 1:2:4 with boxes lc rgb variable notitle, \
     "" using 1:2:(sprintf("%s\n%s", strcol(3), strcol(6))) with labels offset 0,1.6 font ",10" notitle
GP
}
# bar_line X SECONDS LABEL COLOUR TIC: one line of a bars() data file: x, seconds,
# the label's first line (the seconds), the colour, the tic text, the label's
# second line (the ratio)
bar_line() { printf '%s\t%s\t%s s\t%s\t%s\t%s\n' "$1" "$2" "$2" "$(printf '%d' "0x${4#\#}")" "$5" "$3"; }

# 3. verifying
{
	bar_line 0 "$V_VERIFY" "verify_audit_chain()" "#e15759" "verify_audit_chain()"
	bar_line 1 "$V_SCAN" "$(vs "$V_SCAN" "$V_VERIFY") than it" "#4e79a7" "plain scan: count(payload::text)\\n(renders every payload,\\nhashes nothing)"
	bar_line 2 "$V_LOOP" "$(vs "$V_LOOP" "$V_VERIFY") than it" "#f28e2b" "one-hash PL/pgSQL loop\\n(pgcrypto digest per row,\\nno Merkle tree)"
	bar_line 3 "$V_SAME" "$(vs "$V_SAME" "$V_VERIFY") than it" "#b0b0b0" "the same check in PL/pgSQL\\nwith pgcrypto\\n(bench/verify_plpgsql.sql)"
} >"$PLOT/verify.dat"
bars verify_audit_chain.png \
	"Verifying a ledger of $(num "$V_EVENTS") events (seconds, fastest of $VERIFY_RUNS runs; the PL/pgSQL check ran once)\nlabel: seconds, and against verify_audit_chain()" \
	"seconds (log scale)" 1 "$PLOT/verify.dat"

# 4. backfilling
{
	bar_line 0 "$B_UPDATE" "baseline" "#4e79a7" "one plain UPDATE\\n(holds every row lock\\nuntil it ends)"
	bar_line 1 "$B_LOOP" "$(vs "$B_LOOP" "$B_UPDATE")" "#f28e2b" "seed 003's loop: UPDATE …\\nWHERE id IN (SELECT id …\\nWHERE w IS NULL LIMIT $BATCH)"
	bar_line 2 "$B_STEWARD" "$(vs "$B_STEWARD" "$B_UPDATE")" "#e15759" "backfill() job\\n(batch_size $BATCH,\\ntarget_batch_time 1s)"
} >"$PLOT/backfill.dat"
bars backfill.png \
	"Backfilling SET w = v * 2 on $(num "$ROWS") rows (seconds, fastest of $RUNS runs)\nlabel: seconds, and speed against one plain UPDATE" \
	"seconds" 0 "$PLOT/backfill.dat"

# 5. copying
{
	bar_line 0 "$C_INSERT" "baseline" "#4e79a7" "one INSERT … SELECT\\n(no concurrent writes)\\n"
	bar_line 1 "$C_STEWARD" "$(vs "$C_STEWARD" "$C_INSERT")" "#e15759" "copy_table() job\\n(while pgbench writes\\nto the source for $LOAD_SECONDS s)"
} >"$PLOT/copy.dat"
bars copy_table.png \
	"Copying $(num "$ROWS") rows into a partitioned table (seconds, fastest of $RUNS runs)\nlabel: seconds, and speed against one INSERT … SELECT" \
	"seconds" 0 "$PLOT/copy.dat"

# ------------------------------------------------------------ the goals

# goal TEXT MEASURED TARGET VERDICT: one row of the goals table
GOALS=()
goal() { GOALS+=("| $1 | $2 | $3 | $4 |"); }
for c in $CLIENTS; do
	r=$(tps_ratio audit bare "$c")
	goal "audit_append() ÷ bare INSERT, $(cl "$c") (tps)" "**$r×** ($(tps audit "$c") / $(tps bare "$c") tps)" "≥ $GOAL_APPEND×" "$(verdict "$r >= $GOAL_APPEND")"
done
AGE_MAX=$(val "$A_TSV" unsealed_age max "$MAX_C")
AGE_P95=$(val "$A_TSV" unsealed_age p95 "$MAX_C")
if isnum "$AGE_MAX"; then
	goal "oldest unsealed event during the audit_append runs, $(cl "$MAX_C") (the sealer keeps up)" "**max $AGE_MAX s**, p95 $AGE_P95 s" "< $GOAL_AGE s" "$(verdict "$AGE_MAX < $GOAL_AGE")"
else
	goal "oldest unsealed event during the audit_append runs, $(cl "$MAX_C")" "not sampled" "< $GOAL_AGE s" "not measured"
fi
r=$(calc '%.2f' "$V_LOOP / $V_VERIFY")
goal "verify_audit_chain()'s speed ÷ the one-hash PL/pgSQL loop's, $(num "$V_EVENTS") events" "**$r×** ($V_VERIFY s / $V_LOOP s)" "≥ $GOAL_VS_LOOP×" "$(verdict "$r >= $GOAL_VS_LOOP")"
r=$(calc '%.2f' "$V_VERIFY / $V_SCAN")
goal "verify_audit_chain()'s time ÷ a plain scan rendering the payloads, $(num "$V_EVENTS") events" "**$r×** ($V_VERIFY s / $V_SCAN s)" "≤ $GOAL_VS_SCAN×" "$(verdict "$r <= $GOAL_VS_SCAN")"
if [ "$V_LARGE" != 0 ]; then
	r=$(calc '%.2f' "($V_VERIFY_L / $V_LARGE) / ($V_VERIFY / $V_EVENTS)")
	goal "verify_audit_chain() linear: time per event at $(num "$V_LARGE") ÷ at $(num "$V_EVENTS") events" "**$r×** ($(us_per "$V_VERIFY_L" "$V_LARGE") / $(us_per "$V_VERIFY" "$V_EVENTS") µs)" "≤ $GOAL_LINEAR×" "$(verdict "$r <= $GOAL_LINEAR")"
	r=$(calc '%.2f' "$MEM_LARGE / $MEM_SMALL")
	goal "verify_audit_chain() memory bounded: the session's peak (VmHWM) at $(num "$V_LARGE") ÷ at $(num "$V_EVENTS") events" "**$r×** ($(calc '%.0f' "$MEM_LARGE / 1024") / $(calc '%.0f' "$MEM_SMALL / 1024") MB)" "≤ $GOAL_MEMORY×" "$(verdict "$r <= $GOAL_MEMORY")"
else
	goal "verify_audit_chain() linear and bounded in memory at EVENTS_LARGE" "not measured: $(meta "$A_TSV" large_note)" "≤ $GOAL_LINEAR× per event, ≤ $GOAL_MEMORY× memory" "not measured"
fi
if [ "$HAVE_TREE" = 1 ]; then
	T_AT="$(num "$T_TOP") events$([ "$T_LARGE" != 0 ] || echo " (EVENTS_LARGE not measured: $(meta "$T_TSV" large_note))")"
	goal "audit_proof() receipt size at $T_AT (the largest of $(meta "$T_TSV" proofs) random events)" \
		"**$T_BYTES_MAX bytes** (median $(val "$T_TSV" receipt_bytes median "$T_TOP"))" "< 2 kB ($GOAL_RECEIPT_BYTES bytes)" \
		"$(verdict "$T_BYTES_MAX < $GOAL_RECEIPT_BYTES")"
	goal "audit_proof() time per receipt at $T_AT (pgbench latency average)" \
		"**$T_MS_AVG ms** (p95 $(tree_runs receipt_ms avg "$T_TOP" 3) ms)" "< $GOAL_RECEIPT_MS ms" "$(verdict "$T_MS_AVG < $GOAL_RECEIPT_MS")"
	goal "steward.audit_tree size ÷ the events' size (steward.audit_events, every partition), $(num "$T_TOP") events" \
		"**$T_PCT %** ($(calc '%.1f' "$(val "$T_TSV" storage tree "$T_TOP") / 1048576") MB / $(calc '%.0f' "$(val "$T_TSV" storage events "$T_TOP") / 1048576") MB)" \
		"≤ $GOAL_TREE_PCT %" "$(verdict "$T_PCT <= $GOAL_TREE_PCT")"
else
	goal "audit_proof() receipt size and time, steward.audit_tree's size" "not measured: no $T_TSV" \
		"< 2 kB, < $GOAL_RECEIPT_MS ms, ≤ $GOAL_TREE_PCT %" "not measured"
fi
# verify-export against verify_audit_chain(): from export_bench.sh's own run (export.md)
if [ -f "$RESULTS_DIR/export.md" ]; then
	while IFS='|' read -r _ n v _ _ _ x _ r _; do
		n=$(tr -d ' ' <<<"$n") r=$(tr -d ' ' <<<"$r")
		goal "verify-export's time per event ÷ verify_audit_chain()'s, $(num "$n") events ([export_bench.sh](../bench/export_bench.sh)'s run, medians)" \
			"**$r×** ($(sed 's/ (.*//' <<<"$x" | xargs) / $(sed 's/ (.*//' <<<"$v" | xargs))" "≤ 1×" "$(verdict "$r <= 1")"
	done < <(grep '^| [0-9]' "$RESULTS_DIR/export.md")
fi
r=$(calc '%.2f' "$C_STEWARD / $C_INSERT")
LOST=$(meta "$J_TSV" copy_rows_lost)
EXTRA=$(meta "$J_TSV" copy_rows_extra)
goal "copy_table() under the write load ÷ one quiet INSERT … SELECT, $(num "$ROWS") rows (time)" "**$r×** ($C_STEWARD s / $C_INSERT s)" "≤ $GOAL_COPY×" "$(verdict "$r <= $GOAL_COPY")"
goal "copy_table(): rows lost or added (EXCEPT both ways, every run)" "**$LOST lost, $EXTRA added**" "0" "$(verdict "$LOST == 0 && $EXTRA == 0")"
r=$(calc '%.2f' "$B_UPDATE / $B_STEWARD")
goal "backfill()'s throughput ÷ one plain UPDATE's, $(num "$ROWS") rows" "**$r×** ($B_STEWARD s / $B_UPDATE s)" "≥ $GOAL_BACKFILL×" "$(verdict "$r >= $GOAL_BACKFILL")"
goal "backfill(): longest batch (max_batch_ms, every run) against the target batch time" "**$B_MAXBATCH ms** ($(runs_of "$J_TSV" backfill_batch max_batch_ms) ms)" "≤ $B_TARGET ms" "$(verdict "$B_MAXBATCH <= $B_TARGET")"
if [ -n "$CHECKS_FAILED" ]; then
	goal "correctness checks of the run" "**$(grep -c . <<<"$CHECKS_FAILED") of $CHECKS_N FAILED**" "all pass" "**does not hold**"
else
	goal "correctness checks of the run (ledgers valid and complete, no crash, no row lost)" "$CHECKS_N of $CHECKS_N pass" "all pass" "holds"
fi

# ------------------------------------------------------------ the report

section "writing $REPORT"
# links from the report to the scripts' own reports
if [ "$RESULTS_DIR" = "$ROOT/bench/results" ] && [ "$DOC_DIR" = "$ROOT/docs" ]; then
	R_LINK=../bench/results
else
	R_LINK=$RESULTS_DIR
fi
MEM_GIB=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
QUICK_NOTE=
[ "$BENCH_QUICK" = 1 ] && QUICK_NOTE="

**Quick mode (BENCH_QUICK=1): a smoke test with small sizes; these figures are not the
benchmark.**"
FAIL_NOTE=
if [ -n "$CHECKS_FAILED" ]; then
	FAIL_NOTE="

**A CORRECTNESS CHECK FAILED IN THIS RUN; its figures do not count:**

$(awk -F'\t' '{ printf "- **%s**: %s\n", $2, $5 }' <<<"$CHECKS_FAILED")"
fi
# Each script's server loaded pg_steward.so once, at its start: were they the same build?
A_SO=$(meta "$A_TSV" so_loaded)
J_SO=$(meta "$J_TSV" so_loaded)
if [ "$A_SO" = "$J_SO" ]; then
	SO_NOTE="
  Both servers ran the same build ($A_SO)."
else
	SO_NOTE="
  **The two scripts ran different builds**: another session installed pg_steward between the
  start of one and of the other; audit_bench.sh's server loaded $A_SO, jobs_bench.sh's
  server $J_SO (each server keeps the build it loaded at its start)."
	warn "the two scripts ran different builds of pg_steward: $A_SO / $J_SO"
fi
if [ "$HAVE_TREE" = 1 ] && [ "$(meta "$T_TSV" so_loaded)" != "$A_SO" ]; then
	SO_NOTE="$SO_NOTE
  **tree_bench.sh's server ran another build**: $(meta "$T_TSV" so_loaded)."
	warn "tree_bench.sh ran another build of pg_steward: $(meta "$T_TSV" so_loaded)"
fi
if [ "$(meta "$A_TSV" so_replaced)" = yes ] || [ "$(meta "$J_TSV" so_replaced)" = yes ] ||
	{ [ "$HAVE_TREE" = 1 ] && [ "$(meta "$T_TSV" so_replaced)" = yes ]; }; then
	SO_NOTE="$SO_NOTE
  pg_steward.so was reinstalled by another session during the run; that does not change a
  running server's build."
fi
RUN_TIMES="audit $(mins $((T_AUDIT_END - T_START))) min"
[ "$HAVE_TREE" = 0 ] || [ "$T_TREE_END" = "$T_AUDIT_END" ] || RUN_TIMES="$RUN_TIMES, tree $(mins $((T_TREE_END - T_AUDIT_END))) min"
RUN_TIMES="$RUN_TIMES, jobs $(mins $((T_JOBS_END - T_TREE_END))) min"
[ "$HAVE_PROFILE" = 0 ] || RUN_TIMES="$RUN_TIMES, profile $(mins $((T_END - T_JOBS_END))) min"
# load_rows TSV SCRIPT: the load table's rows of one script
load_rows() { awk -F'\t' -v s="$2" '$1 == "load" { split($5, v, ","); printf "| %s | %s | %s | %s–%s | %s | %s | %s | %s |\n", s, $2, $3, v[1], v[2], v[3], v[4], v[5], v[6] }' "$1"; }
{
	cat <<EOF
# Benchmarks

pg_steward against the baselines it has to beat, all measured in the same run by
\`bench/run_all.sh\`, which runs [bench/audit_bench.sh](../bench/audit_bench.sh),
[bench/tree_bench.sh](../bench/tree_bench.sh), [bench/jobs_bench.sh](../bench/jobs_bench.sh) and
[bench/profile.sh](../bench/profile.sh), and
writes this page: first the goals, each as a ratio against a baseline of the same run with
its target and whether it holds (computed by the script), then the raw figures, the
machine's load, a profile of the hot paths in instructions (valgrind's callgrind) and the
charts (gnuplot).${QUICK_NOTE}${FAIL_NOTE}

What is measured:

- **Writing** (audit_bench.sh): pgbench, one event per transaction, at $CLIENTS_TEXT clients:
  \`audit_append()\` against a **bare INSERT** of the same columns into a table with the ledger's
  keys and partitions (the baseline), and, as secondary comparisons, the same INSERT with salt
  and commitment computed in SQL (plain INSERT) and a do-it-yourself hash chain (PL/pgSQL
  trigger). During the audit_append runs the age of the oldest unsealed event
  (\`audit_status()\`) is sampled every $(meta "$A_TSV" age_interval) s, and the sealer's CPU time is read from
  \`/proc/<pid>/stat\`. The sealer's maximum rate: \`audit_seal()\` timed over events appended with
  the sealers off, and the time a freshly started sealer takes to seal such a backlog.
- **Verifying** (audit_bench.sh): \`verify_audit_chain()\` over a ledger of \`EVENTS\` events
  against a plain scan that renders every payload, a one-hash PL/pgSQL loop and the same
  check in PL/pgSQL, interleaved; then at \`EVENTS_LARGE\` events, with the verifying session's
  peak memory (VmHWM) at both sizes.
- **Receipts** (tree_bench.sh): on a ledger of \`EVENTS\` and then \`EVENTS_LARGE\` events, the size
  and time (pgbench) of \`audit_proof()\` receipts of random events and of the
  \`audit_consistency()\` proof between the two sizes' digests, each verified by a verifier of
  the script's own; the ledger tree's storage against the events'; the seal of a backlog
  with the tree rows it writes, and the tree's share of it (perf).
- **Jobs** (jobs_bench.sh): \`backfill()\` against one UPDATE, with its longest batch;
  \`copy_table()\` under a pgbench write load against one quiet INSERT … SELECT, with the
  time of its phases, the longest a writer waited, and the copy compared with the source.
- **Profile** (profile.sh): instructions per audit_append call, per bare and plain INSERT, per
  verified and per sealed event, counted by callgrind in \`postgres --single\`, with the top
  functions; \`BENCH_PROFILE_BASE=<commit>\` profiles an older commit alongside.

Knobs (environment variables; see the head of each script): \`DURATION\`, \`CLIENTS\`, \`EVENTS\`,
\`EVENTS_LARGE\`, \`VERIFY_RUNS\`, \`VERIFY_LARGE_RUNS\`, \`SEAL_EVENTS\`, \`BACKLOG\`, \`ROWS\`, \`LOAD_SECONDS\`,
\`RUNS\`, \`PROFILE_CALLS\`, \`PROFILE_WARM\`, \`PROFILE_EVENTS\`, \`PROFILE_SEAL\`, \`BENCH_PROFILE\`,
\`BENCH_PROFILE_BASE\`, \`BENCH_BUILD\`, \`BENCH_QUICK\`, \`BENCH_DOC_DIR\`, \`BENCH_RESULTS_DIR\`,
\`PGSTEWARD_BENCH_DIR\`, \`PGSTEWARD_PORT\`, \`PG_CONFIG\`. A failed correctness check (a ledger
that does not verify, rows lost or added) is written at the top of this page and makes the
run exit with status 1; a goal that does not hold is only reported.

## Goals

| goal | measured | target | |
|---|---:|---:|---|
EOF
	printf '%s\n' "${GOALS[@]}"
	cat <<EOF

## The run

- **Date**: $DATE; the whole run took $(mins $((T_END - T_START))) minutes ($RUN_TIMES).
- **Machine**: $(nproc) cores ($CPU_MODEL), $MEM_GIB GiB of memory, $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r);
  load average $LOAD_START at the start, $LOAD_END at the end; per section [below](#the-machines-load).
  The machine is shared with other work, so read the ratios rather than the absolute figures.
- **PostgreSQL**: $PG_VERSION, a throwaway cluster per script with default settings plus
  \`fsync = $FSYNC\` (synchronous_commit $(meta "$A_TSV" synchronous_commit), shared_buffers
  $(meta "$A_TSV" shared_buffers)); \`pg_steward.audit_seal_interval = $(meta "$A_TSV" seal_interval)\`.
- **pg_steward**: $(meta "$A_TSV" source | sed 's/ (pg_steward\.so of [^)]*)//').${SO_NOTE}
- **Sizes**: pgbench runs of $DURATION s at $CLIENTS_TEXT clients; ledgers of $(num "$V_EVENTS") and $(num "$V_LARGE") events
  to verify ($VERIFY_RUNS and $VERIFY_LARGE_RUNS runs); $(num "$SEAL_EVENTS") events sealed at the sealer's maximum rate;$([ "$HAVE_TREE" = 0 ] || printf '\n  receipts of %s random events at %s events each, a backlog of %s events sealed with the tree;' "$(meta "$T_TSV" proofs)" "$(for n in $T_SIZES; do printf '%s and ' "$(num "$n")"; done | sed 's/ and $//')" "$(num "$(meta "$T_TSV" backlog)")") a
  table of $(num "$ROWS") rows to backfill and to copy, with a write load of $LOAD_SECONDS s during the copy.
- **Repetitions**: every writing method ran twice at each client count (in the order bare,
  plain, audit_append, DIY and then the reverse) and counts with its faster run;
  verify_audit_chain(), the scan and the loop ran interleaved and count with their fastest
  run, the PL/pgSQL check once (it is slow); every jobs method ran $RUNS times (forward and
  reverse order alternately) and counts with its fastest run. Other load on a shared machine only ever
  slows a run down.

## Writing an audit event

![tps of bare INSERT, plain INSERT, audit_append and the DIY chain at $CLIENTS_TEXT clients](benchmarks/audit_append.png)

| tps (both runs) | $(for c in $CLIENTS; do printf '%s | ' "$(cl "$c")"; done | sed 's/ | $//') |
|---|$(for _ in $CLIENTS; do printf -- '---:|'; done)
EOF
	for m in bare audit plain diy; do
		case $m in
		bare) label="bare INSERT (baseline)" ;; plain) label="plain INSERT (salt and commitment in SQL)" ;;
		audit) label="**audit_append()**" ;; diy) label="DIY chain" ;;
		esac
		printf '| %s |' "$label"
		for c in $CLIENTS; do printf ' %s (%s) |' "$(tps "$m" "$c")" "$(runs_of "$A_TSV" write "$m" "$c")"; done
		echo
	done
	for r in "audit bare" "audit plain" "audit diy" "plain bare"; do
		read -r a b <<<"$r"
		printf '| %s ÷ %s |' "$a" "$b" | sed 's/audit/audit_append/g; s/diy/DIY/g; s/plain/plain INSERT/g; s/bare/bare INSERT/g'
		for c in $CLIENTS; do
			if [ "$r" = "audit bare" ]; then printf ' **%s×** |' "$(tps_ratio "$a" "$b" "$c")"; else printf ' %s× |' "$(tps_ratio "$a" "$b" "$c")"; fi
		done
		echo
	done
	cat <<EOF
| oldest unsealed event, max / p95 (s) | $(for c in $CLIENTS; do printf '%s / %s | ' "$(val "$A_TSV" unsealed_age max "$c")" "$(val "$A_TSV" unsealed_age p95 "$c")"; done | sed 's/ | $//') |
| most events unsealed at a sample | $(for c in $CLIENTS; do printf '%s | ' "$(val "$A_TSV" unsealed_age most_unsealed "$c")"; done | sed 's/ | $//') |
| the sealer's CPU, % of one core (both runs) | $(for c in $CLIENTS; do printf '%s | ' "$(runs_of "$A_TSV" sealer_cpu audit "$c")"; done | sed 's/ | $//') |
| events appended per second of the sealer's CPU (both runs) | $(for c in $CLIENTS; do printf '%s | ' "$(runs_of "$A_TSV" sealer_eps audit "$c")"; done | sed 's/ | $//') |

The **bare INSERT** writes the same columns as \`audit_append\` records (xid, clock time, roles,
client address, application name, the payload) into \`plain_events\`, a table with the ledger's
primary key, xid index and partitions, without salt and commitment; the **plain INSERT**
also computes the 16-byte salt and the sha256 commitment in SQL; the **DIY chain** is the plain
INSERT into a table whose PL/pgSQL trigger takes an advisory lock, reads the last row's hash
and chains the new row with pgcrypto. Full description: [audit.md]($R_LINK/audit.md).

The age of the oldest unsealed event is \`now() - oldest_unsealed_at\` of \`audit_status()\`
(0 when all is sealed), sampled every $(meta "$A_TSV" age_interval) s during both audit_append runs at each client
count ($(for c in $CLIENTS; do printf '%s samples at %s, ' "$(val "$A_TSV" unsealed_age samples "$c")" "$(cl "$c")"; done | sed 's/, $//'));
it includes the start of a sealer at the beginning of a run. The sealer's CPU is utime +
stime from \`/proc/<sealer pid>/stat\` (backend_type \`pg_steward sealer\`) over the run, divided
by its wall time.

![age of the oldest unsealed event over the first audit_append run at each client count](benchmarks/unsealed_age.png)

### The sealer's maximum rate

- \`audit_seal()\` over $(num "$SEAL_N") events appended by pgbench (8 clients) with the sealers
  off: $SEAL_SECS s, **$(num "$SEAL_RATE") events per second**.
- A sealer started by an append after a backlog of $(num "$SEALER_N") events had sealed it all
  $SEALER_SECS s later: $(num "$SEALER_RATE") events per second, its start and its first wait included.
- The fastest audit_append rate of this run was $APPEND_MAX tps: \`audit_seal()\` seals
  $(calc '%.1f' "$SEAL_RATE / $APPEND_MAX") times as fast.

## Verifying the ledger

![seconds to verify $V_EVENTS events](benchmarks/verify_audit_chain.png)

| method | events | seconds (runs) | µs per event | verify_audit_chain() against it |
|---|---:|---:|---:|---:|
| **\`verify_audit_chain()\`** | $(num "$V_EVENTS") | $V_VERIFY ($(runs_of "$A_TSV" verify verify "$V_EVENTS")) | $(us_per "$V_VERIFY" "$V_EVENTS") | |
| plain scan \`SELECT count(payload::text) FROM steward.audit_events\` | $(num "$V_EVENTS") | $V_SCAN ($(runs_of "$A_TSV" verify scan "$V_EVENTS")) | $(us_per "$V_SCAN" "$V_EVENTS") | **$(calc '%.2f' "$V_VERIFY / $V_SCAN")× its time** |
| one-hash PL/pgSQL loop (pgcrypto digest per row, id order) | $(num "$V_EVENTS") | $V_LOOP ($(runs_of "$A_TSV" verify loop "$V_EVENTS")) | $(us_per "$V_LOOP" "$V_EVENTS") | **$(vs "$V_VERIFY" "$V_LOOP")** |
| the same check in PL/pgSQL ([bench/verify_plpgsql.sql](../bench/verify_plpgsql.sql)) | $(num "$V_EVENTS") | $V_SAME (one run) | $(us_per "$V_SAME" "$V_EVENTS") | $(vs "$V_VERIFY" "$V_SAME") |
EOF
	if [ "$V_LARGE" != 0 ]; then
		cat <<EOF
| **\`verify_audit_chain()\`** | $(num "$V_LARGE") | $V_VERIFY_L ($(runs_of "$A_TSV" verify verify "$V_LARGE")) | $(us_per "$V_VERIFY_L" "$V_LARGE") | |
| plain scan | $(num "$V_LARGE") | $V_SCAN_L ($(runs_of "$A_TSV" verify scan "$V_LARGE")) | $(us_per "$V_SCAN_L" "$V_LARGE") | $(calc '%.2f' "$V_VERIFY_L / $V_SCAN_L")× its time |
EOF
	fi
	cat <<EOF

Peak memory of the verifying session (VmHWM of \`/proc/self/status\` at its end; it counts the
shared buffers the session touched, RssShmem) and the largest VmHWM of a parallel worker
(sampled every 0.2 s), MB:

| events | verify_audit_chain(): VmHWM (runs) | of it shared memory (runs) | parallel workers (runs) | the scan: VmHWM (runs) |
|---:|---:|---:|---:|---:|
EOF
	mb_list() { tr , '\n' <<<"$1" | awk '/^[0-9]+$/ { printf "%s%.0f", (n++ ? ", " : ""), $1 / 1024; next } { printf "%s%s", (n++ ? ", " : ""), $1 }'; }
	for n in "$V_EVENTS" $([ "$V_LARGE" = 0 ] || echo "$V_LARGE"); do
		printf '| %s | %s | %s | %s | %s |\n' "$(num "$n")" \
			"$(mb_list "$(runs_of "$A_TSV" memory verify "$n" | tr -d ' ')")" \
			"$(mb_list "$(runs_of "$A_TSV" memory_shmem verify "$n" | tr -d ' ')")" \
			"$(mb_list "$(runs_of "$A_TSV" memory_workers verify "$n" | tr -d ' ')")" \
			"$(mb_list "$(runs_of "$A_TSV" memory scan "$n" | tr -d ' ')")"
	done
	cat <<EOF

The ledgers are written by \`gen_ledger\` (bench/lib.sh): the rows \`audit_append\` writes, by
INSERT … SELECT into \`steward.audit_events\` from $(nproc) sessions at once, sealed by \`audit_seal()\` in
blocks of 100,000 events (the salt is md5 of the event's id rather than random bytes);
$(num "$V_EVENTS") events in $(val "$A_TSV" fill ledger) s$([ "$V_LARGE" = 0 ] || echo ", the $(num "$(awk -F'\t' '$1 == "fill" && $2 == "ledger_large" { print $3 }' "$A_TSV")") more in $(val "$A_TSV" fill ledger_large) s"). Details: [audit.md]($R_LINK/audit.md).
EOF
	if [ "$HAVE_TREE" = 1 ]; then
		cat <<EOF

## Receipts and consistency proofs

A ledger written by \`gen_ledger\` in a database of its own (blocks of 100,000 events, each sealed
by \`audit_seal()\`, which stores the ledger tree's nodes), at $(for n in $T_SIZES; do printf '%s and ' "$(num "$n")"; done | sed 's/ and $//') events;
at each size \`audit_digest()\`, whose tree root was recomputed from the blocks' leaves, and
receipts of $(meta "$T_TSV" proofs) random events against it (\`audit_proof(id, digest)\`: bytes of its jsonb text, without
the payload), each verified by the script's own verifier (RFC 9162, Python's hashlib); the time
per call is pgbench's latency average over $(meta "$T_TSV" proof_calls) calls at random ids (one client, after
$(meta "$T_TSV" warm_calls) to warm up), with the percentiles of its per-call log. Details: [tree.md]($R_LINK/tree.md).

| events | receipt bytes: min / median / max | audit path (hashes) | verified | ms per receipt (average) | ms: median / p95 / max | audit_digest() (ms) |
|---:|---:|---:|---:|---:|---:|---:|
EOF
		for n in $T_SIZES; do
			printf '| %s | %s / %s / **%s** | %s–%s | %s of %s | **%s** | %s / %s / %s | %s |\n' "$(num "$n")" \
				"$(val "$T_TSV" receipt_bytes min "$n")" "$(val "$T_TSV" receipt_bytes median "$n")" "$(val "$T_TSV" receipt_bytes max "$n")" \
				"$(tree_runs receipt_path max "$n" 1)" "$(tree_runs receipt_path max "$n" 2)" \
				"$(tree_runs receipt_verified verified "$n" 1)" "$(tree_runs receipt_verified verified "$n" 2)" \
				"$(val "$T_TSV" receipt_ms avg "$n")" "$(tree_runs receipt_ms avg "$n" 2)" "$(tree_runs receipt_ms avg "$n" 3)" \
				"$(tree_runs receipt_ms avg "$n" 4)" "$(val "$T_TSV" digest_ms audit_digest "$n")"
		done
		if [ "$T_LARGE" != 0 ]; then
			CP="$T_EVENTS-$T_LARGE"
			cat <<EOF

| consistency proof | bytes | hashes | ms per proof (average) | ms: median / p95 / max |
|---|---:|---:|---:|---:|
| \`audit_consistency\`(digest at $(num "$T_EVENTS"), digest at $(num "$T_LARGE")), verified | **$(val "$T_TSV" consistency_bytes proof "$CP")** | $(val "$T_TSV" consistency_hashes proof "$CP") | **$(val "$T_TSV" consistency_ms avg "$CP")** | $(tree_runs consistency_ms avg "$CP" 2) / $(tree_runs consistency_ms avg "$CP" 3) / $(tree_runs consistency_ms avg "$CP" 4) |
EOF
		fi
		cat <<EOF

Storage (\`pg_total_relation_size\`: heap, indexes, TOAST, after \`VACUUM ANALYZE\`):

| events | steward.audit_tree: rows | MB | steward.audit_events (every partition), MB | steward.audit_blocks, MB | tree ÷ events | tree ÷ blocks |
|---:|---:|---:|---:|---:|---:|---:|
EOF
		for n in $T_SIZES; do
			printf '| %s | %s | %s | %s | %s | **%s %%** | %s %% |\n' "$(num "$n")" "$(val "$T_TSV" storage tree_rows "$n")" \
				"$(calc '%.1f' "$(val "$T_TSV" storage tree "$n") / 1048576")" "$(calc '%.0f' "$(val "$T_TSV" storage events "$n") / 1048576")" \
				"$(calc '%.0f' "$(val "$T_TSV" storage blocks "$n") / 1048576")" "$(val "$T_TSV" storage tree_vs_events "$n")" \
				"$(val "$T_TSV" storage tree_vs_blocks "$n")"
		done
		SEAL_TOP=$(awk -F'\t' '$1 == "seal" && $2 == "seconds" { print $3; exit }' "$T_TSV")
		SHARE=$(val "$T_TSV" seal tree_share "$SEAL_TOP")
		cat <<EOF

Sealing with the tree: on the ledger of $(num "$SEAL_TOP") events, one \`audit_seal()\` of a backlog of
$(num "$(meta "$T_TSV" backlog)") events appended by pgbench took $(val "$T_TSV" seal seconds "$SEAL_TOP") s and wrote $(val "$T_TSV" seal tree_rows "$SEAL_TOP") rows of \`steward.audit_tree\`;
$(if [ -n "$SHARE" ]; then echo "sealing as many again under \`perf record -g\`, $SHARE % of the seal's CPU samples were in \`steward_audit_tree_extend\` (with its callees)."; else echo "the tree's share of the seal was not profiled ($(meta "$T_TSV" perf_note))."; fi)
EOF
		if grep -q '^profile_proof' "$T_TSV"; then
			cat <<EOF

Where a receipt's time goes at $(num "$T_TOP") events (\`perf record -g\` of the backend serving the calls; the
functions of pg_steward and PostgreSQL with the most samples, with their callees):

| samples with callees % | self % | function |
|---:|---:|---|
$(awk -F'\t' '$1 == "profile_proof" && n < 12 { n++; printf "| %s | %s | `%s` |\n", $4, $5, $2 }' "$T_TSV")
EOF
		fi
	fi
	if [ -f "$RESULTS_DIR/export.md" ]; then
		cat <<EOF

## Exporting and verifying offline

\`pg_steward export\` and \`pg_steward verify-export\` against \`verify_audit_chain()\`, measured by
[bench/export_bench.sh](../bench/export_bench.sh), which this script does not run: its figures are
from its own run, whose date and build head [export.md](../bench/results/export.md).

$(grep '^|' "$RESULTS_DIR/export.md")
EOF
	fi
	cat <<EOF

## Backfilling a column

![seconds to backfill $ROWS rows](benchmarks/backfill.png)

\`SET w = v * 2\` on every row of a $(num "$ROWS")-row table with a primary key; each method on a
fresh, vacuumed copy. Details: [jobs.md]($R_LINK/jobs.md).

| method | seconds (runs) | throughput against one UPDATE |
|---|---:|---:|
| one plain \`UPDATE\` (baseline; holds every row lock until it ends) | $B_UPDATE ($(runs_of "$J_TSV" backfill update)) | 1.00 |
| **\`backfill()\`** job, batch_size $BATCH, target_batch_time 1s, no pause | $B_STEWARD ($(runs_of "$J_TSV" backfill backfill)) | **$(calc '%.2f' "$B_UPDATE / $B_STEWARD")** |
| seed 003's loop \`UPDATE … WHERE id IN (SELECT id … WHERE w IS NULL LIMIT $BATCH)\` | $B_LOOP ($(runs_of "$J_TSV" backfill loop)) | $(calc '%.2f' "$B_UPDATE / $B_LOOP") |

backfill()'s batches (per run): $(meta "$J_TSV" backfill_batches); its longest batch held its row locks for
$(runs_of "$J_TSV" backfill_batch max_batch_ms) ms (\`job_status().max_batch_ms\`; the target batch time is $B_TARGET ms).

## Copying a table

![seconds to copy $ROWS rows](benchmarks/copy_table.png)

$(num "$ROWS") rows into an empty table partitioned by range. The baseline copies a quiet table in
one statement; \`copy_table()\` copies in batches while pgbench inserts, updates and deletes
rows of the source ($(meta "$J_TSV" copy_load_tps) tps for $LOAD_SECONDS s, per run), replays those
changes (in a second process, the replayer, while the job worker copies and compares; the
final step replays alone), compares source and copy, and takes a SHARE lock for its final step.

| method | seconds (runs) | time ÷ INSERT … SELECT's |
|---|---:|---:|
| one \`INSERT … SELECT\` (baseline, no concurrent writes) | $C_INSERT ($(runs_of "$J_TSV" copy insert_select)) | 1.00 |
| **\`copy_table()\`** job under the write load | $C_STEWARD ($(runs_of "$J_TSV" copy copy_table)) | **$(calc '%.2f' "$C_STEWARD / $C_INSERT")** |

Where the time goes (seconds, the fastest run, run $C_BEST; every run in brackets), as the job
reports them in its last \`job_status().phase\` (else sampled from \`job_status()\` every
$(meta "$J_TSV" phase_interval) s), and the longest lock held at the swap:

| copy | replay | verify | final step (its SHARE lock included) | its lock held (ms, the job's figure) | longest batch (ms) | the longest a writer waited (ms) |
|---:|---:|---:|---:|---:|---:|---:|
| $(val "$J_TSV" copy_phase copy) ($(runs_of "$J_TSV" copy_phase copy)) | $(val "$J_TSV" copy_phase replay) ($(runs_of "$J_TSV" copy_phase replay)) | $(val "$J_TSV" copy_phase verify) ($(runs_of "$J_TSV" copy_phase verify)) | $(val "$J_TSV" copy_phase final) ($(runs_of "$J_TSV" copy_phase final)) | **$(val "$J_TSV" copy_lock held_ms)** ($(runs_of "$J_TSV" copy_lock held_ms)) | $(val "$J_TSV" copy_phase max_batch_ms) ($(runs_of "$J_TSV" copy_phase max_batch_ms)) | **$(val "$J_TSV" copy_lock probe_max_ms)** ($(runs_of "$J_TSV" copy_lock probe_max_ms)) |

The longest a writer waited is the slowest of the no-op \`UPDATE\`s of one source row that a
probe session ran every 50 ms while the job ran: the final step's lock blocks them.
EOF
	STATUS_ROWS=$(awk -F'\t' -v r="$C_BEST" '$1 == "copy_status" && $3 == r { printf "| `%s` | %s |\n", $2, $4 }' "$J_TSV")
	if [ -n "$STATUS_ROWS" ]; then
		echo
		echo "What \`job_status()\` reports itself about phases and locks (run $C_BEST):"
		echo
		echo "| job_status() | value |"
		echo "|---|---:|"
		echo "$STATUS_ROWS"
	else
		echo
		echo "Columns of job_status() the script does not know: $(meta "$J_TSV" copy_status_columns)."
	fi
	if [ "$HAVE_PROFILE" = 1 ]; then
		cat <<EOF

## Profile: instructions per call

Counted by valgrind's callgrind in \`postgres --single\` (no timing involved, so stable on a busy
machine); per call: the difference between a run of $(meta "$P_TSV" calls) and a run of $(meta "$P_TSV" warm) prepared calls,
one transaction each; per event: the workload less \`SELECT 1\` ($(num "$(meta "$P_TSV" events)") events verified,
$(num "$(meta "$P_TSV" sealed)") sealed; no parallel workers in single-user mode). Builds: $(for b in $BUILDS; do printf '%s = %s; ' "$b" "$(meta "$P_TSV" "label_$b")"; done | sed 's/; $//').
Full listing: [profile.md]($R_LINK/profile.md).

| instructions | $(for b in $BUILDS; do printf '%s | in pg_steward.so | ' "$b"; done | sed 's/ | $//') |$([[ $BUILDS == *base* ]] && echo ' current ÷ base |')
|---|$(for _ in $BUILDS; do printf -- '---:|---:|'; done)$([[ $BUILDS == *base* ]] && printf -- '---:|')
EOF
		for w in audit bare plain verify seal; do
			case $w in
			audit) label="per audit_append() call" ;; bare) label="per bare INSERT" ;; plain) label="per plain INSERT" ;;
			verify) label="per event verified" ;; seal) label="per event sealed" ;;
			esac
			printf '| %s |' "$label"
			for b in $BUILDS; do printf ' %s | %s |' "$(num "$(prof "$w" "$b")")" "$(num "$(prof_lib "$w" "$b")")"; done
			[[ $BUILDS != *base* ]] || printf ' %s |' "$(calc '%.2f' "$(prof "$w" current) / $(prof "$w" base)")"
			echo
		done
		printf '| audit_append ÷ bare INSERT |'
		for b in $BUILDS; do printf ' %s× | |' "$(calc '%.2f' "$(prof audit "$b") / $(prof bare "$b")")"; done
		[[ $BUILDS != *base* ]] || printf ' |'
		echo
		echo
		echo "Valgrind's virtual CPU does not offer the SHA extensions, so under callgrind pg_steward hashes"
		echo "with its portable SHA-256 (\`blocks_portable\`, a few thousand instructions per 64-byte block); on"
		echo "this machine's CPU the SHA-NI path runs instead, and hashing is a small part of what the"
		echo "counts above attribute to pg_steward.so. The timed runs above use the SHA-NI path."
		echo
		echo "The top functions of the current build (self instructions per unit; Debian's server binary is"
		echo "stripped, so its static functions show as addresses):"
		for w in audit bare verify; do
			echo
			echo "| $(case $w in audit) echo "audit_append(), per call" ;; bare) echo "bare INSERT, per call" ;; verify) echo "verify_audit_chain(), per event" ;; esac) | function [object] |"
			echo "|---:|---|"
			awk -F'\t' -v w="$w" '$1 == "profile_fn" && $2 == w && $3 == "current" { printf "| %s | `%s` |\n", $4, $5 }' "$P_TSV" | head -n 8
		done
	fi
	cat <<EOF

## The machine's load

Sampled every second by each script: the load average, the CPU time of the whole machine
(\`/proc/stat\`, in cores busy on average), of this benchmark (its cluster's processes and its
own clients; the sampler itself, about 0.04 core, counts here) and of everything else, and
the time stolen by the hypervisor.

| script | section | seconds | load average (1 min), min–max | busy cores (of $(nproc)) | this benchmark | others | steal |
|---|---|---:|---:|---:|---:|---:|---:|
EOF
	load_rows "$A_TSV" audit
	[ "$HAVE_TREE" = 0 ] || load_rows "$T_TSV" tree
	load_rows "$J_TSV" jobs
	[ "$HAVE_PROFILE" = 0 ] || load_rows "$P_TSV" profile
	cat <<EOF

## Checks

EOF
	awk -F'\t' '{ if ($4 == "ok") printf "- %s: ok (%s)\n", $2, $5; else printf "- **%s: FAILED** (%s)\n", $2, $5 }' <<<"$CHECKS_ALL"
	cat <<EOF

## Running it

\`\`\`sh
bench/run_all.sh                 # this report: docs/benchmarks.md, docs/benchmarks/*.png, bench/results/
BENCH_QUICK=1 bench/run_all.sh   # smoke test in a few minutes, written to /tmp/pg_steward-bench-quick
BENCH_PROFILE_BASE=027608f bench/run_all.sh   # the profile also of commit 027608f, before and after
\`\`\`

The scripts can also run alone (\`bench/audit_bench.sh\`, \`bench/tree_bench.sh\`,
\`bench/jobs_bench.sh\`, \`bench/profile.sh\`); each writes its report and a TSV of its figures to bench/results/. By
default they build and install this tree first; \`BENCH_BUILD=0\` benchmarks the pg_steward
already installed, and \`PG_CONFIG\` chooses the PostgreSQL installation to build, install and
run with.

\`bench/deploy_overhead.sh\`, not part of this report, measures what a deployment costs over
\`psql -1\` for a history of 400 small migrations, with \`pg_steward deploy\` (one connection for
the folder) and with \`migrate_apply\` called from one psql per migration; its report is
bench/results/deploy.md, its figures are discussed in
[migrations.md](migrations.md#what-a-migration-costs).
EOF
} >"$REPORT"

section "done in $(mins $((T_END - T_START))) minutes of benchmarks ($RUN_TIMES)"
note "report: $REPORT"
note "charts: $(cd "$IMG_DIR" && echo ./*.png)"
note "scripts' reports: $RESULTS_DIR/{audit,tree,jobs,profile}.{md,tsv}"
printf '%s\n' "${GOALS[@]}" | sed 's/^/    /'
if [ -n "$CHECKS_FAILED" ]; then
	warn "CORRECTNESS CHECKS FAILED:"
	awk -F'\t' '{ printf "!!!   %s: %s\n", $2, $5 }' <<<"$CHECKS_FAILED" >&2
	exit 1
fi
