#!/usr/bin/env bash
# bench/run_all.sh: every benchmark in one run, and one report.
#
# Runs bench/audit_bench.sh (audit_append against plain INSERT, a bare INSERT
# and the PL/pgSQL chain; verify_audit_chain against the same check in
# PL/pgSQL and a one-hash loop) and bench/jobs_bench.sh (backfill against one
# UPDATE and seed 003's loop; copy_table against INSERT ... SELECT), one after
# the other, each on its own throwaway cluster.  They write their own reports
# (bench/results/audit.md, jobs.md) and the same figures as TSV (audit.tsv,
# jobs.tsv); from those this script writes docs/benchmarks.md, every figure
# as a ratio against a baseline of the same run plus the raw numbers, and
# bar charts made with gnuplot in docs/benchmarks/*.png.
#
#   bench/run_all.sh                 the full run (about 20 minutes on 2 cores)
#   BENCH_QUICK=1 bench/run_all.sh   a smoke test of a few minutes: small sizes,
#                                    and the report goes to /tmp/pg_steward-bench-quick
#                                    (docs/, results/) instead of docs/ and bench/results/
#
# Sizes (passed on to the two scripts): DURATION (seconds of each pgbench run;
# 20, quick 3), CLIENTS ("1 8 32"), EVENTS (events verified; 1000000, quick
# 100000), ROWS (rows backfilled and copied; 2000000, quick 200000),
# LOAD_SECONDS (write load during copy_table; 10, quick 3), RUNS (runs of each
# jobs method; 2).  Every figure is the best of two runs, since other load on
# a shared machine only ever slows a run down.
# BENCH_BUILD=0 benchmarks the pg_steward already installed instead of building
# and installing this tree first; BENCH_DOC_DIR and BENCH_RESULTS_DIR move the
# outputs; PGSTEWARD_BENCH_DIR (/tmp/pg_steward-run-all) and PGSTEWARD_PORT
# (54341) are the work directory and the clusters' port.  BENCH_REPORT_ONLY=1
# runs no benchmark: it redraws the charts and rewrites the report from the
# results of the last run (the same BENCH_QUICK and directories).
# Installs gnuplot-nox and bc with apt-get when they are missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BENCH_QUICK="${BENCH_QUICK:-0}"
if [ "$BENCH_QUICK" = 1 ]; then
	DURATION="${DURATION:-3}" EVENTS="${EVENTS:-100000}" ROWS="${ROWS:-200000}" LOAD_SECONDS="${LOAD_SECONDS:-3}"
	OUT=/tmp/pg_steward-bench-quick
	DOC_DIR="${BENCH_DOC_DIR:-$OUT/docs}"
	RESULTS_DIR="${BENCH_RESULTS_DIR:-$OUT/results}"
else
	DURATION="${DURATION:-20}" EVENTS="${EVENTS:-1000000}" ROWS="${ROWS:-2000000}" LOAD_SECONDS="${LOAD_SECONDS:-10}"
	DOC_DIR="${BENCH_DOC_DIR:-$ROOT/docs}"
	RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
fi
CLIENTS="${CLIENTS:-1 8 32}"
RUNS="${RUNS:-2}"
BENCH_BUILD="${BENCH_BUILD:-1}"
WORK="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-run-all}"
PORT="${PGSTEWARD_PORT:-54341}"
REPORT="$DOC_DIR/benchmarks.md"
IMG_DIR="$DOC_DIR/benchmarks"
PLOT="$WORK/plot"

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
command -v bc >/dev/null || need_packages bc
gnuplot -e 'set terminal pngcairo' 2>/dev/null || die "this gnuplot has no pngcairo terminal"

mkdir -p "$WORK" "$DOC_DIR" "$IMG_DIR" "$RESULTS_DIR"
rm -rf "$PLOT"
[ "${BENCH_REPORT_ONLY:-0}" = 1 ] || rm -rf "$WORK/logs" "$WORK/run.env"
mkdir -p "$PLOT" "$WORK/logs"

# ------------------------------------------------------------ the benchmarks

if [ "${BENCH_REPORT_ONLY:-0}" = 1 ]; then
	# only the charts and the report, from the results of the last run
	[ -s "$WORK/run.env" ] || die "BENCH_REPORT_ONLY=1: no earlier run in $WORK"
	# shellcheck disable=SC1091
	. "$WORK/run.env"
else
	DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	T_START=$(date +%s)

	section "bench/audit_bench.sh (log: $WORK/logs/audit.log)"
	env DURATION="$DURATION" CLIENTS="$CLIENTS" EVENTS="$EVENTS" BENCH_BUILD="$BENCH_BUILD" \
		BENCH_RESULTS_DIR="$RESULTS_DIR" PGSTEWARD_BENCH_DIR="$WORK/audit" PGSTEWARD_PORT="$PORT" \
		"$ROOT/bench/audit_bench.sh" 2>&1 | tee "$WORK/logs/audit.log"
	T_AUDIT_END=$(date +%s)

	# audit_bench.sh built and installed this tree already (unless BENCH_BUILD=0)
	section "bench/jobs_bench.sh (log: $WORK/logs/jobs.log)"
	env ROWS="$ROWS" LOAD_SECONDS="$LOAD_SECONDS" RUNS="$RUNS" BENCH_BUILD=0 \
		BENCH_RESULTS_DIR="$RESULTS_DIR" PGSTEWARD_BENCH_DIR="$WORK/jobs" PGSTEWARD_PORT="$PORT" \
		"$ROOT/bench/jobs_bench.sh" 2>&1 | tee "$WORK/logs/jobs.log"
	T_END=$(date +%s)
	LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
	declare -p DATE LOAD_START LOAD_END T_START T_AUDIT_END T_END >"$WORK/run.env"
fi

# ------------------------------------------------------------ reading the results

A_TSV="$RESULTS_DIR/audit.tsv"
J_TSV="$RESULTS_DIR/jobs.tsv"
{ [ -s "$A_TSV" ] && [ -s "$J_TSV" ]; } || die "missing $A_TSV or $J_TSV"
# val TSV SECTION METHOD [PARAM]: the figure; runs_of: every run; param_of: the param
val() { awk -F'\t' -v s="$2" -v m="$3" -v p="${4:-}" '$1 == s && $2 == m && (p == "" || $3 == p) { print $4; exit }' "$1"; }
runs_of() { awk -F'\t' -v s="$2" -v m="$3" -v p="${4:-}" '$1 == s && $2 == m && (p == "" || $3 == p) { gsub(",", ", ", $5); print $5; exit }' "$1"; }
param_of() { awk -F'\t' -v s="$2" -v m="$3" '$1 == s && $2 == m { print $3; exit }' "$1"; }
meta() { val "$1" meta "$2"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; } # calc FORMAT EXPR
# vs T BASE: a time T against a baseline's time BASE, in words
vs() { awk -v t="$1" -v b="$2" 'BEGIN { if (t <= b) printf "%.2f× faster", b / t; else printf "%.2f× slower", t / b }'; }
mins() { calc '%.1f' "$1 / 60"; }
num() { echo "$1" | sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta'; } # 1000000 -> 1,000,000

for c in $CLIENTS; do
	for m in bare plain audit diy; do
		[ -n "$(val "$A_TSV" write "$m" "$c")" ] || die "$A_TSV has no tps for $m at $c clients"
	done
done
V_SAME=$(val "$A_TSV" verify same_check)
V_LOOP=$(val "$A_TSV" verify diy_loop)
V_STEWARD=$(val "$A_TSV" verify verify_audit_chain)
V_ROWS=$(param_of "$A_TSV" verify verify_audit_chain)
B_UPDATE=$(val "$J_TSV" backfill update)
B_LOOP=$(val "$J_TSV" backfill loop)
B_STEWARD=$(val "$J_TSV" backfill backfill)
C_INSERT=$(val "$J_TSV" copy insert_select)
C_STEWARD=$(val "$J_TSV" copy copy_table)
BATCH=$(meta "$J_TSV" batch)
FSYNC=$(meta "$A_TSV" fsync)
PG_VERSION=$(meta "$A_TSV" pg_version)
first_word() { echo "$1" | awk '{ print $1 }'; }
MID_C=$(echo "$CLIENTS" | awk '{ print $(int((NF + 1) / 2)) }') # 8 of "1 8 32"
tps() { val "$A_TSV" write "$1" "$2"; }
tps_ratio() { calc '%.2f' "$(tps "$1" "$3") / $(tps "$2" "$3")"; } # tps_ratio A B CLIENTS

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
	XT="$XT${XT:+, }\"$c client$([ "$c" = 1 ] || echo s)\" $i"
	for m in bare plain audit diy; do MAX=$(calc '%.0f' "($(tps "$m" "$c") > $MAX) ? $(tps "$m" "$c") : $MAX"); done
	i=$((i + 1))
done >"$PLOT/write.dat"
gnuplot <<GP
$GP_HEAD
set output "$IMG_DIR/audit_append.png"
set title "Writing one audit event per transaction (pgbench -M prepared, ${DURATION} s runs, faster of 2)\nlabel on each bar: its tps ÷ plain INSERT's tps at the same client count"
set ylabel "transactions per second"
set xtics ($XT)
set xrange [-0.6:$((i - 1)).6]
set yrange [0:$MAX * 1.15]
set key below center horizontal Left reverse samplen 2 width 2
set boxwidth 0.19
plot "$PLOT/write.dat" using (\$1-0.3):2 with boxes lc rgb "#b0b0b0" title "bare INSERT (no salt, no commitment)", \
     ""  using (\$1-0.1):3 with boxes lc rgb "#4e79a7" title "plain INSERT (baseline)", \
     ""  using (\$1+0.1):4 with boxes lc rgb "#e15759" title "audit_append()", \
     ""  using (\$1+0.3):5 with boxes lc rgb "#f28e2b" title "DIY chain (PL/pgSQL trigger)", \
     ""  using (\$1-0.3):2:(sprintf("%.2f×", \$2/\$3)) with labels offset 0,0.8 font ",10" notitle, \
     ""  using (\$1-0.1):3:(sprintf("%.2f×", \$3/\$3)) with labels offset 0,0.8 font ",10" notitle, \
     ""  using (\$1+0.1):4:(sprintf("%.2f×", \$4/\$3)) with labels offset 0,0.8 font ",10" notitle, \
     ""  using (\$1+0.3):5:(sprintf("%.2f×", \$5/\$3)) with labels offset 0,0.8 font ",10" notitle
GP

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

# 2. verifying
{
	bar_line 0 "$V_SAME" "baseline" "#4e79a7" "the same check in PL/pgSQL\\nwith pgcrypto\\n(bench/verify_plpgsql.sql)"
	bar_line 1 "$V_LOOP" "$(vs "$V_LOOP" "$V_SAME")" "#f28e2b" "loop over the DIY chain\\n(PL/pgSQL, one pgcrypto\\ndigest per row)"
	bar_line 2 "$V_STEWARD" "$(vs "$V_STEWARD" "$V_SAME")" "#e15759" "verify_audit_chain()"
} >"$PLOT/verify.dat"
V_LOG=$(calc '%d' "($V_SAME / $V_STEWARD > 10) ? 1 : 0")
bars verify_audit_chain.png \
	"Verifying a ledger of $(num "$V_ROWS") events (seconds, faster of 2 runs; the PL/pgSQL check ran once)\nlabel: seconds, and speed against the same check in PL/pgSQL" \
	"seconds$([ "$V_LOG" = 1 ] && echo ' (log scale)')" "$V_LOG" "$PLOT/verify.dat"

# 3. backfilling
{
	bar_line 0 "$B_UPDATE" "baseline" "#4e79a7" "one plain UPDATE\\n(holds every row lock\\nuntil it ends)"
	bar_line 1 "$B_LOOP" "$(vs "$B_LOOP" "$B_UPDATE")" "#f28e2b" "seed 003's loop: UPDATE …\\nWHERE id IN (SELECT id …\\nWHERE w IS NULL LIMIT $BATCH)"
	bar_line 2 "$B_STEWARD" "$(vs "$B_STEWARD" "$B_UPDATE")" "#e15759" "backfill() job\\n(batch_size $BATCH,\\ntarget_batch_time 1s)"
} >"$PLOT/backfill.dat"
bars backfill.png \
	"Backfilling SET w = v * 2 on $(num "$ROWS") rows (seconds, fastest of $RUNS runs)\nlabel: seconds, and speed against one plain UPDATE" \
	"seconds" 0 "$PLOT/backfill.dat"

# 4. copying
{
	bar_line 0 "$C_INSERT" "baseline" "#4e79a7" "one INSERT … SELECT\\n(no concurrent writes)\\n"
	bar_line 1 "$C_STEWARD" "$(vs "$C_STEWARD" "$C_INSERT")" "#e15759" "copy_table() job\\n(while pgbench writes\\nto the source for $LOAD_SECONDS s)"
} >"$PLOT/copy.dat"
bars copy_table.png \
	"Copying $(num "$ROWS") rows into a partitioned table (seconds, fastest of $RUNS runs)\nlabel: seconds, and speed against one INSERT … SELECT" \
	"seconds" 0 "$PLOT/copy.dat"

# ------------------------------------------------------------ the report

section "writing $REPORT"
# links from the report to the scripts' own reports
if [ "$RESULTS_DIR" = "$ROOT/bench/results" ] && [ "$DOC_DIR" = "$ROOT/docs" ]; then
	R_LINK=../bench/results
else
	R_LINK=$RESULTS_DIR
fi
cl() { echo "$1 client$([ "$1" = 1 ] || echo s)"; }
CLIENTS_TEXT=$(echo "$CLIENTS" | sed -E 's/ +/, /g; s/, ([^,]*)$/ and \1/') # 1, 8 and 32
MEM_GIB=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
QUICK_NOTE=
[ "$BENCH_QUICK" = 1 ] && QUICK_NOTE="

**Quick mode (BENCH_QUICK=1): a smoke test with small sizes; these figures are not the
benchmark.**"
A_CRASHES=$(meta "$A_TSV" server_crashes)
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
if [ "$(meta "$A_TSV" so_replaced)" = yes ] || [ "$(meta "$J_TSV" so_replaced)" = yes ]; then
	SO_NOTE="$SO_NOTE
  pg_steward.so was reinstalled by another session during the run; that does not change a
  running server's build."
fi
SEALER=$(for c in $CLIENTS; do echo "$(runs_of "$A_TSV" sealer_cpu audit "$c" | sed 's/, / and /') at $(cl "$c")"; done | paste -sd ';' | sed 's/;/, /g')
CHECKS="the ledger written by the concurrent clients verified valid = $(meta "$A_TSV" write_chain_valid)
  ($(meta "$A_TSV" write_events_checked) of $(meta "$A_TSV" write_events) events checked), the DIY chain valid = $(meta "$A_TSV" write_diy_valid);
  the $(num "$V_ROWS")-event ledger valid = $(meta "$A_TSV" verify_valid); backfill left $(meta "$J_TSV" backfill_rows_left) rows unchanged;
  copy_table lost $(meta "$J_TSV" copy_rows_lost) rows and added $(meta "$J_TSV" copy_rows_extra)"
{
	cat <<EOF
# Benchmarks

pg_steward against the baselines it has to beat, all measured in the same run by
\`bench/run_all.sh\`, which runs [bench/audit_bench.sh](../bench/audit_bench.sh) and
[bench/jobs_bench.sh](../bench/jobs_bench.sh) and draws the charts with gnuplot. Every
figure is a ratio against a baseline of the same run, next to the raw numbers.${QUICK_NOTE}

- **Date**: $DATE; the whole run took $(mins $((T_END - T_START))) minutes (audit $(mins $((T_AUDIT_END - T_START))) min, jobs $(mins $((T_END - T_AUDIT_END))) min).
- **Machine**: $(nproc) cores ($CPU_MODEL), $MEM_GIB GiB of memory, $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r);
  load average $LOAD_START at the start, $LOAD_END at the end. The machine is shared with
  other work, so read the ratios rather than the absolute figures.
- **PostgreSQL**: $PG_VERSION, a throwaway cluster per script with default settings plus
  \`fsync = $FSYNC\` (synchronous_commit $(meta "$A_TSV" synchronous_commit), shared_buffers
  $(meta "$A_TSV" shared_buffers)); \`pg_steward.audit_seal_interval = $(meta "$A_TSV" seal_interval)\`.
- **pg_steward**: $(meta "$A_TSV" source | sed 's/ (pg_steward\.so of [^)]*)//').${SO_NOTE}
- **Sizes**: pgbench runs of $DURATION s at $CLIENTS_TEXT clients (\`DURATION\`, \`CLIENTS\`); a ledger
  of $(num "$V_ROWS") events to verify (\`EVENTS\`); a table of $(num "$ROWS") rows to backfill and to copy
  (\`ROWS\`), with a write load of $LOAD_SECONDS s during the copy (\`LOAD_SECONDS\`).
- **Repetitions**: every writing method ran twice at each client count (in the order bare,
  plain, audit_append, DIY and then the reverse) and counts with its faster run;
  verify_audit_chain() and the loop ran twice, the PL/pgSQL check once (it is slow); every
  jobs method ran $RUNS times (forward, then reverse order) and counts with its fastest
  run. Other load on a shared machine only ever slows a run down.
- **Checks in the same run**: $CHECKS.

## Summary

| benchmark | pg_steward | baseline (same run) | ratio |
|---|---:|---:|---:|
EOF
	for c in $CLIENTS; do
		echo "| writing an event, $(cl "$c") | audit_append(): $(tps audit "$c") tps | plain INSERT: $(tps plain "$c") tps | **$(tps_ratio audit plain "$c")×** the throughput |"
	done
	cat <<EOF
| writing an event, $(cl "$MID_C") | audit_append(): $(tps audit "$MID_C") tps | DIY chain: $(tps diy "$MID_C") tps | **$(tps_ratio audit diy "$MID_C")×** the throughput |
| verifying $(num "$V_ROWS") events | verify_audit_chain(): $V_STEWARD s | the same check in PL/pgSQL: $V_SAME s | **$(vs "$V_STEWARD" "$V_SAME")** |
| verifying $(num "$V_ROWS") events | verify_audit_chain(): $V_STEWARD s | one-hash PL/pgSQL loop: $V_LOOP s | $(vs "$V_STEWARD" "$V_LOOP") |
| backfilling $(num "$ROWS") rows | backfill(): $B_STEWARD s | one plain UPDATE: $B_UPDATE s | **$(vs "$B_STEWARD" "$B_UPDATE")** |
| backfilling $(num "$ROWS") rows | backfill(): $B_STEWARD s | seed 003's loop: $B_LOOP s | $(vs "$B_STEWARD" "$B_LOOP") |
| copying $(num "$ROWS") rows | copy_table() under a write load: $C_STEWARD s | INSERT … SELECT, no writes: $C_INSERT s | **$(vs "$C_STEWARD" "$C_INSERT")** |

## Writing an audit event

![tps of bare INSERT, plain INSERT, audit_append and the DIY chain at $CLIENTS_TEXT clients](benchmarks/audit_append.png)

pgbench, one event per transaction, the same row through each method: **plain INSERT** of
the row (with the salt and the sha256 commitment \`audit_append\` computes) into a table
with the ledger's columns, keys and partitions; **bare INSERT**, the same without salt and
commitment; **audit_append()**, with the sealer sealing every second; **DIY chain**, the
plain INSERT into a table whose PL/pgSQL trigger takes an advisory lock, reads the last
row's hash and chains the new row with pgcrypto. Full description:
[audit.md]($R_LINK/audit.md).

| tps (both runs) | $(for c in $CLIENTS; do printf '%s | ' "$(cl "$c")"; done | sed 's/ | $//') |
|---|$(for _ in $CLIENTS; do printf -- '---:|'; done)
EOF
	for m in bare plain audit diy; do
		case $m in
		bare) label="bare INSERT" ;; plain) label="plain INSERT (baseline)" ;;
		audit) label="**audit_append()**" ;; diy) label="DIY chain" ;;
		esac
		printf '| %s |' "$label"
		for c in $CLIENTS; do printf ' %s (%s) |' "$(tps "$m" "$c")" "$(runs_of "$A_TSV" write "$m" "$c")"; done
		echo
	done
	for r in "audit plain" "audit bare" "diy plain" "audit diy"; do
		read -r a b <<<"$r"
		printf '| %s ÷ %s |' "$a" "$b" | sed 's/audit/audit_append/g; s/diy/DIY/g; s/plain/plain INSERT/g; s/bare/bare INSERT/g'
		for c in $CLIENTS; do
			if [ "$r" = "audit plain" ]; then printf ' **%s×** |' "$(tps_ratio "$a" "$b" "$c")"; else printf ' %s× |' "$(tps_ratio "$a" "$b" "$c")"; fi
		done
		echo
	done
	cat <<EOF

The sealer's CPU time during the audit_append runs, in % of one core (both runs):
$SEALER.

## Verifying the ledger

![seconds to verify $V_ROWS events](benchmarks/verify_audit_chain.png)

| method | seconds (runs) | rows | verify_audit_chain() against it |
|---|---:|---:|---:|
| the same check in PL/pgSQL with pgcrypto ([bench/verify_plpgsql.sql](../bench/verify_plpgsql.sql): event bytes, leaves, commitments, Merkle roots, block hashes) (baseline) | $V_SAME (one run) | $(param_of "$A_TSV" verify same_check) | **$(vs "$V_STEWARD" "$V_SAME")** |
| PL/pgSQL loop over the DIY chain in id order, one pgcrypto digest per row, no Merkle tree | $V_LOOP ($(runs_of "$A_TSV" verify diy_loop)) | $(param_of "$A_TSV" verify diy_loop) | $(vs "$V_STEWARD" "$V_LOOP") |
| \`verify_audit_chain()\` | $V_STEWARD ($(runs_of "$A_TSV" verify verify_audit_chain)) | $V_ROWS | 1 |

verify_audit_chain() recomputes two SHA-256 per event (the leaf and the payload's
commitment), every block's Merkle root and the chain of block hashes; the loop one digest
per row.

## Backfilling a column

![seconds to backfill $ROWS rows](benchmarks/backfill.png)

\`SET w = v * 2\` on every row of a $(num "$ROWS")-row table with a primary key; each method on a
fresh, vacuumed copy. Details: [jobs.md]($R_LINK/jobs.md).

| method | seconds (runs) | time ÷ one UPDATE's | against one UPDATE |
|---|---:|---:|---:|
| one plain \`UPDATE\` (baseline; holds every row lock until it ends) | $B_UPDATE ($(runs_of "$J_TSV" backfill update)) | 1.00 | baseline |
| seed 003's loop \`UPDATE … WHERE id IN (SELECT id … WHERE w IS NULL LIMIT $BATCH)\` | $B_LOOP ($(runs_of "$J_TSV" backfill loop)) | $(calc '%.2f' "$B_LOOP / $B_UPDATE") | $(vs "$B_LOOP" "$B_UPDATE") |
| **\`backfill()\`** job, batch_size $BATCH, target_batch_time 1s, no pause | $B_STEWARD ($(runs_of "$J_TSV" backfill backfill)) | **$(calc '%.2f' "$B_STEWARD / $B_UPDATE")** | **$(vs "$B_STEWARD" "$B_UPDATE")** |

backfill() against seed 003's loop: $(vs "$B_STEWARD" "$B_LOOP"). Its batches (per run):
$(meta "$J_TSV" backfill_batches); its longest batch held its row locks for
$(meta "$J_TSV" backfill_max_batch_ms) ms (target 1000 ms).

## Copying a table

![seconds to copy $ROWS rows](benchmarks/copy_table.png)

$(num "$ROWS") rows into an empty table partitioned by range. The baseline copies a quiet table in
one statement; \`copy_table()\` copies in batches while pgbench inserts, updates and deletes
rows of the source ($(meta "$J_TSV" copy_load_tps) tps for $LOAD_SECONDS s, per run), replays those
changes and compares source and copy; so this is the price of copying a live table, not
the same work.

| method | seconds (runs) | time ÷ INSERT … SELECT's |
|---|---:|---:|
| one \`INSERT … SELECT\` (baseline, no concurrent writes) | $C_INSERT ($(runs_of "$J_TSV" copy insert_select)) | 1.00 |
| **\`copy_table()\`** job under the write load | $C_STEWARD ($(runs_of "$J_TSV" copy copy_table)) | **$(calc '%.2f' "$C_STEWARD / $C_INSERT")** |

## Running it

\`\`\`sh
bench/run_all.sh                 # this report: docs/benchmarks.md, docs/benchmarks/*.png, bench/results/
BENCH_QUICK=1 bench/run_all.sh   # smoke test in a few minutes, written to /tmp/pg_steward-bench-quick
\`\`\`

Both scripts can also run alone (\`bench/audit_bench.sh\`, \`bench/jobs_bench.sh\`); each writes
its report and a TSV of its figures to bench/results/. The sizes are environment variables
(see the head of each script). By default the scripts build and install this tree first;
\`BENCH_BUILD=0\` benchmarks the pg_steward already installed.

\`bench/deploy_overhead.sh\`, not part of this report, measures what a deployment costs over
\`psql -1\` for a history of 400 small migrations, with \`pg_steward deploy\` (one connection for
the folder) and with \`migrate_apply\` called from one psql per migration; its report is
bench/results/deploy.md, its figures are discussed in
[migrations.md](migrations.md#what-a-migration-costs).
EOF
	if [ "$A_CRASHES" != 0 ]; then
		echo
		echo "**verify_audit_chain() crashed the server $A_CRASHES time(s) in this run**; see [audit.md]($R_LINK/audit.md)."
	fi
} >"$REPORT"

section "done in $(mins $((T_END - T_START))) minutes of benchmarks"
note "report: $REPORT"
note "charts: $(cd "$IMG_DIR" && echo ./*.png)"
note "scripts' reports: $RESULTS_DIR/{audit,jobs}.{md,tsv}"
