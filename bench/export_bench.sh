#!/usr/bin/env bash
# bench/export_bench.sh: "pg_steward export" and "pg_steward verify-export"
# against verify_audit_chain(), in one run on one throwaway cluster.
#
#   the ledger  a database of its own, written by bench/lib.sh's gen_ledger
#               (blocks of 100000 events, sealed by audit_seal()): EVENTS
#               events (1000000), then, when EVENTS_LARGE is above EVENTS
#               (default 0: skipped; 10000000 needs about 3 GB of disk for
#               the database and 4 GB for the export file), extended to it.
#               At each size, after VACUUM ANALYZE and CHECKPOINT:
#   export      pg_steward export --out FILE under /usr/bin/time: wall time
#               and the client's peak resident size, and the file's size;
#   verify      verify_audit_chain() timed by psql's \timing (the server's
#               parallel workers as configured), with its verdict, and
#   offline     pg_steward verify-export FILE under /usr/bin/time: wall time
#               and peak resident size; it must say "no problem found" with
#               the server's counts;
#               the two taken in turn REPEAT times (5), each reported as the
#               median of its runs (the largest peak RSS), so that a burst
#               of other load on the machine moves one run, not the ratio.
# Then the ratios: verify-export's µs per event over verify_audit_chain()'s,
# and, with two sizes, each program's peak memory at the larger size over
# that at the smaller (bounded memory: close to 1).
#
# Public tools only: psql, /usr/bin/time, awk.  Wall-clock times on a
# shared machine: read them as orders of magnitude.  The report goes to
# standard output and to $RESULTS_DIR/export.md (BENCH_RESULTS_DIR).
# Knobs: EVENTS, EVENTS_LARGE, REPEAT, BENCH_BUILD=0 (benchmark the installed
# build), PGSTEWARD_BENCH_DIR, PGSTEWARD_PORT (54352), PG_CONFIG.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

EVENTS="${EVENTS:-1000000}"
EVENTS_LARGE="${EVENTS_LARGE:-0}"
REPEAT="${REPEAT:-5}"
CHUNK=100000
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-export-bench}"
PORT="${PGSTEWARD_PORT:-54352}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/export.md"
DB=export
steward_cluster_paths "$WORKDIR"
[ -x /usr/bin/time ] || die "/usr/bin/time is needed (Debian: time)"

cleanup() { steward_cluster_stop "$STEWARD_DATA" fast || true; }
trap cleanup EXIT

bench_start
CLIENT="$PG_BIN/pg_steward"
[ -x "$CLIENT" ] || die "the client $CLIENT is not installed"
psql_t() { psql_db "$DB" "$@"; }
psql_db postgres -c "CREATE DATABASE $DB"
psql_t -c "CREATE EXTENSION pg_steward"
set_seal_interval 0 # gen_ledger seals each round itself

SIZES=("$EVENTS")
[ "$EVENTS_LARGE" -gt "$EVENTS" ] && SIZES+=("$EVENTS_LARGE")
declare -A V_SECS V_OUT V_ALL E_SECS E_KB E_MB X_SECS X_KB X_OUT X_ALL
# median of the arguments (seconds)
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { printf "%.2f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
DONE=0
FILE="$WORKDIR/ledger.jsonl"
for size in "${SIZES[@]}"; do
	section "the ledger at $size events"
	LEDGER_CHUNK=$CHUNK gen_ledger "$DB" $((size - DONE))
	DONE=$size
	psql_t -c "VACUUM ANALYZE" -c "CHECKPOINT"

	rm -f "$FILE"
	/usr/bin/time -f '%e %M' -o "$WORKDIR/time.export" \
		"$CLIENT" export -h "$STEWARD_SOCK" -p "$PORT" -U postgres -d "$DB" --out "$FILE" >/dev/null ||
		die "pg_steward export failed"
	read -r E_SECS[$size] E_KB[$size] <"$WORKDIR/time.export"
	E_MB[$size]=$(awk -v b="$(stat -c %s "$FILE")" 'BEGIN { printf "%.0f", b / 1048576 }')
	echo "export: ${E_SECS[$size]} s, peak RSS ${E_KB[$size]} kB, file ${E_MB[$size]} MB"
	sync
	vs=() xs=() X_KB[$size]=0
	for run in $(seq "$REPEAT"); do
		timed_query "$DB" "SELECT is_valid, blocks_checked, events_checked, events_redacted, events_pruned, events_unsealed
		                     FROM steward.verify_audit_chain()" || die "verify_audit_chain failed"
		vs+=("$Q_SECS")
		V_OUT[$size]=$Q_OUT
		echo "run $run: verify_audit_chain(): $Q_SECS s ($Q_OUT)"
		/usr/bin/time -f '%e %M' -o "$WORKDIR/time.verify" \
			"$CLIENT" verify-export "$FILE" >"$WORKDIR/verify.out" || true
		read -r secs kb <"$WORKDIR/time.verify"
		xs+=("$secs")
		[ "$kb" -gt "${X_KB[$size]}" ] && X_KB[$size]=$kb
		X_OUT[$size]=$(head -2 "$WORKDIR/verify.out" | tr '\n' ' ')
		echo "run $run: verify-export: $secs s, peak RSS $kb kB: ${X_OUT[$size]}"
		read -r _ vb ve vr vp vu <<<"${V_OUT[$size]}"
		[ "$(head -2 "$WORKDIR/verify.out")" = "$(printf 'no problem found\nchecked: %s blocks, %s events (%s redacted, %s pruned), %s not sealed' "$vb" "$ve" "$vr" "$vp" "$vu")" ] ||
			warn "VERIFY-EXPORT DOES NOT GIVE THE SERVER'S VERDICT AT $size EVENTS"
	done
	V_SECS[$size]=$(median "${vs[@]}")
	X_SECS[$size]=$(median "${xs[@]}")
	V_ALL[$size]="${vs[*]}"
	X_ALL[$size]="${xs[*]}"
done
rm -f "$FILE"

mkdir -p "$RESULTS_DIR"
{
	echo "# export and verify-export ($(date -u '+%Y-%m-%d %H:%M UTC'), $SOURCE, $(nproc) cores)"
	echo
	echo "| events | verify_audit_chain() | export | export peak RSS | file | verify-export | verify-export peak RSS | µs/event: verify-export / server |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in "${SIZES[@]}"; do
		awk -v n="$size" -v v="${V_SECS[$size]}" -v e="${E_SECS[$size]}" -v ek="${E_KB[$size]}" -v mb="${E_MB[$size]}" \
			-v x="${X_SECS[$size]}" -v xk="${X_KB[$size]}" 'BEGIN {
			printf "| %d | %.2f s (%.2f µs/event) | %.2f s | %.1f MB | %d MB | %.2f s (%.2f µs/event) | %.1f MB | %.2f |\n",
				n, v, v * 1e6 / n, e, ek / 1024, mb, x, x * 1e6 / n, xk / 1024, x / v }'
	done
	echo
	echo "verify_audit_chain() and verify-export taken in turn $REPEAT times at each size; the table gives the medians. Every run:"
	echo
	for size in "${SIZES[@]}"; do
		echo "- $size events: verify_audit_chain() ${V_ALL[$size]// / s, } s; verify-export ${X_ALL[$size]// / s, } s"
	done
	if [ "${#SIZES[@]}" = 2 ]; then
		s=${SIZES[0]} l=${SIZES[1]}
		awk -v a="${E_KB[$s]}" -v b="${E_KB[$l]}" -v c="${X_KB[$s]}" -v d="${X_KB[$l]}" -v s="$s" -v l="$l" 'BEGIN {
			printf "\nPeak RSS at %d events over that at %d: export %.2f, verify-export %.2f\n", l, s, b / a, d / c }'
	fi
} | tee "$REPORT"
psql_db postgres -c "DROP DATABASE $DB WITH (FORCE)"
