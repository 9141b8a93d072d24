#!/usr/bin/env bash
# bench/profile.sh: where the hot paths spend their instructions, counted by
# valgrind's callgrind, which counts the same on a busy machine as on an idle
# one (no timing is involved).
#
# For each build it profiles (the one installed by this tree, and with
# BENCH_PROFILE_BASE=<commit> also that commit, built into a copy of the
# PostgreSQL installation of its own), the script prepares a throwaway
# cluster (the sealers off: pg_steward.audit_seal_interval = 0) with three
# databases, stops it, and runs `postgres --single` under
# `valgrind --tool=callgrind` on fixed workloads:
#
#   bare, plain, audit  the statements of bench/audit_bench.sh's writers
#                       (bench/lib.sh's method_sql: bare INSERT, plain INSERT,
#                       audit_append), PREPAREd once and EXECUTEd
#                       PROFILE_WARM (1000) times in one run and PROFILE_CALLS
#                       (3000) times in another, one transaction each; the
#                       instructions per call are the difference of the two
#                       runs divided by the difference of the calls, so
#                       starting, warming the caches and stopping cancel out
#   verify              verify_audit_chain() over a ledger of PROFILE_EVENTS
#                       events (50000, written by gen_ledger in blocks of
#                       10000), against a run of SELECT 1: per event
#   seal                audit_seal() over PROFILE_SEAL (30000) unsealed
#                       events appended by audit_append (10 transactions),
#                       against a run of SELECT 1: per event
#
# For each workload it gives the instructions (Ir) per unit, the part of them
# in pg_steward.so, and the functions that take the most per unit (self cost,
# the same difference of two runs, from callgrind_annotate).  The server is
# Debian's stripped build: its static functions show as addresses.  Single-
# user mode runs no background worker: verify_audit_chain() gets no
# parallel workers there, so its count is all of its work.
#
# Knobs: PROFILE_CALLS, PROFILE_WARM, PROFILE_EVENTS, PROFILE_SEAL,
# PROFILE_TOP (functions listed per workload, 12), BENCH_PROFILE_BASE (a
# commit to profile as well, e.g. 027608f), BENCH_BUILD=0 (profile the
# pg_steward already installed instead of building and installing this tree
# first), BENCH_RESULTS_DIR (where profile.md and profile.tsv go; default
# bench/results), PGSTEWARD_BENCH_DIR (work directory) and PGSTEWARD_PORT
# (54333; the cluster runs only while the databases are prepared), PG_CONFIG
# or PGSTEWARD_PG_BIN (the PostgreSQL installation, scripts/lib.sh).
# Installs valgrind with apt-get when it is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

PROFILE_CALLS="${PROFILE_CALLS:-3000}"
PROFILE_WARM="${PROFILE_WARM:-1000}"
PROFILE_EVENTS="${PROFILE_EVENTS:-50000}"
PROFILE_SEAL="${PROFILE_SEAL:-30000}"
PROFILE_TOP="${PROFILE_TOP:-12}"
BASE="${BENCH_PROFILE_BASE:-}"
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-profile}"
PORT="${PGSTEWARD_PORT:-54333}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/profile.md"
TSV="$RESULTS_DIR/profile.tsv"
[ "$PROFILE_CALLS" -gt "$PROFILE_WARM" ] || die "PROFILE_CALLS ($PROFILE_CALLS) must be above PROFILE_WARM ($PROFILE_WARM)"

# the cluster of the build being prepared (steward_cluster_paths sets these)
STEWARD_DATA=
BUILD_BIN=
cleanup() {
	[ -z "${WATCH_PID:-}" ] || kill "$WATCH_PID" 2>/dev/null || true
	[ -z "$STEWARD_DATA" ] || [ -z "$BUILD_BIN" ] || [ ! -d "$STEWARD_DATA" ] ||
		as_user "$STEWARD_RUN_USER" "$BUILD_BIN/pg_ctl" -D "$STEWARD_DATA" -m immediate -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

steward_bootstrap
command -v valgrind >/dev/null || {
	section "installing valgrind"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind
}
steward_reset_workdir "$WORKDIR"
mkdir -p "$RESULTS_DIR"
SOURCE="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -z "$(git -C "$ROOT" status --porcelain -- src sql Makefile 'pg_steward--*.sql' 2>/dev/null)" ] ||
	SOURCE="$SOURCE plus local changes"
if [ "$BENCH_BUILD" = 1 ]; then
	steward_prepare_source "$WORKDIR"
	steward_build "$WORKDIR/src" || die "build failed"
	steward_install "$WORKDIR/src" || die "install failed"
else
	SOURCE="the build installed in $("$PG_CONFIG" --pkglibdir) (the tree is at $SOURCE)"
fi
# the watch counts the cluster being prepared (this link) and this session
WATCH_PIDFILE="$WORKDIR/postmaster.pid"
watch_start

# ------------------------------------------------------------ the base build

# base_install COMMIT DIR: build COMMIT with this installation's pg_config and
# install it into a copy of the installation under DIR (the same paths below
# DIR: PostgreSQL finds its files relative to its binaries); prints the copy's
# bin directory
base_install() {
	local commit=$1 dir=$2 bindir sharedir libdir f
	bindir=$("$PG_CONFIG" --bindir)
	sharedir=$("$PG_CONFIG" --sharedir)
	libdir=$("$PG_CONFIG" --pkglibdir)
	mkdir -p "$dir$(dirname "$bindir")" "$dir$(dirname "$sharedir")" "$dir/src"
	cp -a "$(dirname "$bindir")/." "$dir$(dirname "$bindir")/"
	cp -a "$sharedir" "$dir$(dirname "$sharedir")/"
	[ "$libdir" = "$(dirname "$bindir")/lib" ] || { mkdir -p "$dir$libdir" && cp -a "$libdir/." "$dir$libdir/"; }
	# the copy gets the base's pg_steward, nothing of the installed one
	rm -f "$dir$libdir/pg_steward.so" "$dir$sharedir/extension/pg_steward"*
	rm -rf "$dir$libdir/bitcode/pg_steward" "$dir$libdir/bitcode/pg_steward.index.bc"
	git -C "$ROOT" archive "$commit" | tar -C "$dir/src" -xf -
	if steward_is_root; then chown -R "$STEWARD_RUN_USER": "$dir/src"; fi
	steward_build "$dir/src" >&2 || die "building $commit failed"
	as_root make -C "$dir/src" PG_CONFIG="$PG_CONFIG" DESTDIR="$dir" install >"$dir/install.log" 2>&1 ||
		{ cat "$dir/install.log" >&2; die "installing $commit into $dir failed"; }
	for f in "$dir$libdir/pg_steward.so" "$dir$sharedir/extension/pg_steward.control"; do
		[ -f "$f" ] || die "$f is missing after installing $commit"
	done
	echo "$dir$bindir"
}

BUILDS=("current")
declare -A BIN LABEL
BIN[current]=$PG_BIN
LABEL[current]=$SOURCE
if [ -n "$BASE" ]; then
	section "building $BASE into a copy of the installation"
	mark "building the base"
	BASE_SHORT=$(git -C "$ROOT" rev-parse --short "$BASE^{commit}") || die "BENCH_PROFILE_BASE=$BASE is not a commit"
	BIN[base]=$(base_install "$BASE" "$WORKDIR/base")
	LABEL[base]="commit $BASE_SHORT"
	BUILDS=("base" "current")
fi

# ------------------------------------------------------------ one build

# single NAME DB SQLFILE: postgres --single on DB of the current build's
# cluster under callgrind, reading SQLFILE; the instruction count goes to
# $PROF/NAME.out and NAME.total
single() {
	local name=$1 db=$2 sql=$3
	as_run_user "$PROF" valgrind --tool=callgrind --callgrind-out-file="$PROF/$name.out" \
		"$BUILD_BIN/postgres" --single -D "$STEWARD_DATA" -c max_parallel_workers_per_gather=0 \
		"$db" <"$sql" >"$PROF/$name.log" 2>&1 || { tail -20 "$PROF/$name.log" >&2; die "postgres --single ($name) failed"; }
	if grep -q 'ERROR:' "$PROF/$name.log"; then
		grep -m3 -A2 'ERROR:' "$PROF/$name.log" >&2
		die "the workload $name failed (see $PROF/$name.log)"
	fi
	grep -oE 'Collected : [0-9]+' "$PROF/$name.log" | awk '{ print $3 }' >"$PROF/$name.total"
	[ -s "$PROF/$name.total" ] || die "no instruction count in $PROF/$name.log"
}
# functions NAME: self instructions per function of run NAME: Ir, function [object]
functions() {
	callgrind_annotate --inclusive=no --threshold=100 --auto=no "$PROF/$1.out" 2>/dev/null |
		awk '/^ *[0-9,]+ +\( *[0-9.]+%\) +/ {
			ir = $1; gsub(",", "", ir)
			s = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", s)
			if (s ~ /PROGRAM TOTALS/) next
			obj = s; sub(/^.* \[/, "", obj); sub(/\]$/, "", obj); n = split(obj, o, "/"); obj = o[n]
			fn = s; sub(/ \[.*$/, "", fn); sub(/^.*:/, "", fn); sub(/'"'"'[0-9]+$/, "", fn)
			cost[fn " [" obj "]"] += ir
		} END { for (k in cost) printf "%d\t%s\n", cost[k], k }'
}
# per_unit NAME BASELINE UNITS: instructions of run NAME less those of run
# BASELINE, per unit; and the same per function (the top ones, to NAME.top)
per_unit() {
	local name=$1 baseline=$2 units=$3
	awk -v a="$(cat "$PROF/$name.total")" -v b="$(cat "$PROF/$baseline.total")" -v n="$units" \
		'BEGIN { printf "%.0f\n", (a - b) / n }' >"$PROF/$name.per"
	join -t $'\t' -a 1 -e 0 -o 0,1.1,2.1 -1 2 -2 2 \
		<(functions "$name" | sort -t $'\t' -k2,2) <(functions "$baseline" | sort -t $'\t' -k2,2) |
		awk -F'\t' -v n="$units" '{ d = ($2 - $3) / n; if (d > 0) printf "%.1f\t%s\n", d, $1 }' |
		sort -t $'\t' -k1,1gr >"$PROF/$name.fns"
	awk -F'\t' '$2 ~ /\[pg_steward\.so\]$/ { s += $1 } END { printf "%.0f\n", s }' "$PROF/$name.fns" >"$PROF/$name.lib"
	head -n "$PROFILE_TOP" "$PROF/$name.fns" >"$PROF/$name.top"
}

profile_build() { # profile_build NAME
	local b=$1 m
	PROF="$WORKDIR/$b"
	BUILD_BIN=${BIN[$b]}
	mkdir -p "$PROF"
	if steward_is_root; then chown "$STEWARD_RUN_USER": "$PROF"; fi
	steward_cluster_paths "$PROF"
	section "$b (${LABEL[$b]}): preparing the databases"
	mark "profile: preparing ($b)"
	as_run_user "$PROF" mkdir -p "$STEWARD_SOCK"
	as_run_user "$PROF" "$BUILD_BIN/initdb" -D "$STEWARD_DATA" --auth=trust -U postgres --encoding=UTF8 \
		--no-locale >"$PROF/initdb.log" 2>&1 || { cat "$PROF/initdb.log" >&2; die "initdb failed"; }
	cat >>"$STEWARD_DATA/postgresql.conf" <<EOF

# ---- bench/profile.sh ----
shared_preload_libraries = 'pg_steward'
listen_addresses = ''
unix_socket_directories = '$STEWARD_SOCK'
port = $PORT
fsync = off
pg_steward.audit_seal_interval = 0
EOF
	as_run_user "$PROF" "$BUILD_BIN/pg_ctl" -D "$STEWARD_DATA" -l "$STEWARD_LOG" -w -t 60 start >/dev/null ||
		{ tail -20 "$STEWARD_LOG" >&2; die "the cluster of $b did not start"; }
	ln -sfn "$STEWARD_DATA/postmaster.pid" "$WATCH_PIDFILE"
	psql_db postgres -c "CREATE DATABASE w" -c "CREATE DATABASE v" -c "CREATE DATABASE s"
	for m in w v s; do psql_db "$m" -c "CREATE EXTENSION pg_steward"; done
	baseline_schema w
	LEDGER_CHUNK=10000 gen_ledger v "$PROFILE_EVENTS"
	for _ in $(seq 10); do
		psql_db s -c "SELECT count(steward.audit_append('UPDATE', 'patient', g::text, $(payload_sql g)))
		                FROM generate_series(1, $((PROFILE_SEAL / 10))) g" >/dev/null
	done
	SEAL_N=$(psql_db s -c "SELECT events_unsealed FROM steward.audit_status()")
	psql_db postgres -c "VACUUM ANALYZE" >/dev/null
	for m in w v s; do psql_db "$m" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null; done
	as_run_user "$PROF" "$BUILD_BIN/pg_ctl" -D "$STEWARD_DATA" -m fast -w -t 60 stop >/dev/null

	for m in bare plain audit; do
		local n
		for n in "$PROFILE_WARM" "$PROFILE_CALLS"; do
			{
				# shellcheck disable=SC2016 # $1: the prepared statement's parameter
				echo "PREPARE p(int) AS $(method_sql "$m" '$1')"
				seq "$n" | sed 's/.*/EXECUTE p(&);/'
			} >"$PROF/$m-$n.sql"
		done
		section "$b: $m, $PROFILE_WARM and $PROFILE_CALLS calls under callgrind"
		mark "profile: writing ($b)"
		single "$m-$PROFILE_WARM" w "$PROF/$m-$PROFILE_WARM.sql"
		single "$m" w "$PROF/$m-$PROFILE_CALLS.sql"
		per_unit "$m" "$m-$PROFILE_WARM" $((PROFILE_CALLS - PROFILE_WARM))
		note "$(cat "$PROF/$m.per") instructions per call"
	done

	section "$b: verify_audit_chain() over $PROFILE_EVENTS events under callgrind"
	mark "profile: verifying ($b)"
	echo "SELECT 1;" >"$PROF/select1.sql"
	echo "SELECT is_valid, events_checked FROM steward.verify_audit_chain();" >"$PROF/verify.sql"
	single verify-base v "$PROF/select1.sql"
	single verify v "$PROF/verify.sql"
	grep -q 'is_valid = "t"' "$PROF/verify.log" || die "verify_audit_chain() under callgrind did not find the ledger valid (see $PROF/verify.log)"
	grep -q "events_checked = \"$PROFILE_EVENTS\"" "$PROF/verify.log" ||
		die "verify_audit_chain() under callgrind did not check $PROFILE_EVENTS events (see $PROF/verify.log)"
	per_unit verify verify-base "$PROFILE_EVENTS"
	note "$(cat "$PROF/verify.per") instructions per event"

	section "$b: audit_seal() of $SEAL_N events under callgrind"
	mark "profile: sealing ($b)"
	echo "SELECT steward.audit_seal();" >"$PROF/seal.sql"
	single seal-base s "$PROF/select1.sql"
	single seal s "$PROF/seal.sql"
	grep -q "audit_seal = \"$SEAL_N\"" "$PROF/seal.log" || die "audit_seal() under callgrind did not seal the $SEAL_N events (see $PROF/seal.log)"
	per_unit seal seal-base "$SEAL_N"
	note "$(cat "$PROF/seal.per") instructions per event"
	SEALED[$b]=$SEAL_N
}

declare -A SEALED
for b in "${BUILDS[@]}"; do profile_build "$b"; done
mark "report"
watch_stop
STEWARD_DATA=

# ------------------------------------------------------------ report

WORKLOADS=(bare plain audit verify seal)
declare -A UNIT DESC
UNIT=([bare]=call [plain]=call [audit]=call [verify]=event [seal]=event)
DESC=([bare]="bare INSERT" [plain]="plain INSERT" [audit]="audit_append()" [verify]="verify_audit_chain(), per event verified" [seal]="audit_seal(), per event sealed")
per() { cat "$WORKDIR/$1/$2.per"; }
lib() { cat "$WORKDIR/$1/$2.lib"; }
num() { echo "$1" | sed -E ':a; s/([0-9])([0-9]{3})($|[^0-9])/\1,\2\3/; ta'; }
{
	cat <<EOF
# Profile: instructions per call

\`bench/profile.sh\`, $(date -u +%Y-%m-%d), $(valgrind --version), PostgreSQL
$("$PG_BIN/postgres" --version | awk '{print $3}') (Debian's stripped build: its static functions show as addresses).
Builds: $(for b in "${BUILDS[@]}"; do printf '%s = %s; ' "$b" "${LABEL[$b]}"; done | sed 's/; $//').
Each workload ran in \`postgres --single\` under \`valgrind --tool=callgrind\`; instructions (Ir)
per call are the difference between a run of $PROFILE_CALLS and a run of $PROFILE_WARM calls
(prepared once, one transaction each), per event the difference between the workload and
\`SELECT 1\` on the same database ($PROFILE_EVENTS events verified, ${SEALED[current]} sealed).

| workload | $(for b in "${BUILDS[@]}"; do printf 'Ir per unit, %s | in pg_steward.so | ' "$b"; done | sed 's/ | $//') |$([ -n "$BASE" ] && echo ' current ÷ base |')
|---|$(for _ in "${BUILDS[@]}"; do printf -- '---:|---:|'; done)$([ -n "$BASE" ] && printf -- '---:|')
EOF
	for w in "${WORKLOADS[@]}"; do
		printf '| %s (per %s) |' "${DESC[$w]}" "${UNIT[$w]}"
		for b in "${BUILDS[@]}"; do printf ' %s | %s |' "$(num "$(per "$b" "$w")")" "$(num "$(lib "$b" "$w")")"; done
		[ -z "$BASE" ] || printf ' %s |' "$(awk -v a="$(per current "$w")" -v b="$(per base "$w")" 'BEGIN { printf "%.2f", a / b }')"
		echo
	done
	echo
	echo "audit_append() ÷ bare INSERT in instructions per call: $(for b in "${BUILDS[@]}"; do
		printf '%s %s; ' "$b" "$(awk -v a="$(per "$b" audit)" -v b="$(per "$b" bare)" 'BEGIN { printf "%.2f", a / b }')"
	done | sed 's/; $//')."
	for b in "${BUILDS[@]}"; do
		echo
		echo "### The top $PROFILE_TOP functions per unit, $b (${LABEL[$b]}); self instructions"
		for w in "${WORKLOADS[@]}"; do
			echo
			echo "${DESC[$w]}: $(num "$(per "$b" "$w")") per ${UNIT[$w]}"
			echo
			echo "| Ir per ${UNIT[$w]} | function [object] |"
			echo "|---:|---|"
			awk -F'\t' '{ printf "| %.0f | `%s` |\n", $1, $2 }' "$WORKDIR/$b/$w.top"
		done
	done
} >"$REPORT"

{
	printf 'section\tmethod\tparam\tvalue\truns\tunit\n'
	for b in "${BUILDS[@]}"; do
		for w in "${WORKLOADS[@]}"; do
			printf 'profile\t%s\t%s\t%s\t%s\tinstructions per %s\n' "$w" "$b" "$(per "$b" "$w")" "$(lib "$b" "$w")" "${UNIT[$w]}"
			awk -F'\t' -v b="$b" -v w="$w" '{ printf "profile_fn\t%s\t%s\t%.0f\t%s\tinstructions per unit\n", w, b, $1, $2 }' "$WORKDIR/$b/$w.top"
		done
		printf 'meta\tlabel_%s\t-\t%s\t-\t-\n' "$b" "${LABEL[$b]}"
	done
	printf 'meta\tbuilds\t-\t%s\t-\t-\n' "${BUILDS[*]}"
	printf 'meta\tbase\t-\t%s\t-\t-\n' "${BASE:--}"
	printf 'meta\tcalls\t-\t%s\t-\t-\n' "$PROFILE_CALLS"
	printf 'meta\twarm\t-\t%s\t-\t-\n' "$PROFILE_WARM"
	printf 'meta\tevents\t-\t%s\t-\t-\n' "$PROFILE_EVENTS"
	printf 'meta\tsealed\t-\t%s\t-\t-\n' "${SEALED[current]}"
	printf 'meta\tvalgrind\t-\t%s\t-\t-\n' "$(valgrind --version)"
	watch_summary
} >"$TSV"

section "report ($REPORT, $TSV)"
cat "$REPORT"
