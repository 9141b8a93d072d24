#!/usr/bin/env bash
# scripts/test.sh: run every pg_steward test suite on a fresh machine.
#
# Installs missing Debian packages, builds and installs pg_steward from a copy
# of the tree in $PGSTEWARD_TEST_DIR (default /tmp/pg_steward-test), starts a
# throwaway cluster there (port $PGSTEWARD_PORT, default 54330), then runs
#   regress    pg_regress     (sql/, expected/)            make installcheck
#   isolation  isolationtester (test/isolation/)            make installcheck
#   pgtap      pg_prove, one fresh database per test/pgtap/*.sql file
#   tap        prove, one run per test/t/*.pl (they make their own clusters)
# keeps going past failures, prints a summary and, as its last line,
# `tests: N passed, M failed`. Exits non-zero if anything failed or could
# not run. PGSTEWARD_KEEP=1 leaves the cluster running afterwards;
# PGSTEWARD_TIMEOUT (seconds, default 1200) bounds each harness run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/scripts/lib.sh"

WORKDIR="${PGSTEWARD_TEST_DIR:-/tmp/pg_steward-test}"
PORT="${PGSTEWARD_PORT:-54330}"
KEEP="${PGSTEWARD_KEEP:-0}"
# Upper bound for one harness run (a whole pg_regress suite, one pgTAP or TAP
# file), so that a hung test cannot eat CI's time.
TIMEOUT="${PGSTEWARD_TIMEOUT:-1200}"
TIMEOUT_CMD=(timeout --kill-after=30 "$TIMEOUT")
SRC="$WORKDIR/src"
LOGDIR="$WORKDIR/logs"
steward_cluster_paths "$WORKDIR"

CLUSTER_UP=0
ERRORS=0          # suites that could not run, or whose harness broke
S_NAME=() S_PASS=() S_FAIL=() S_STATUS=()
FAILED_LOGS=()    # "name|log" of every failed pgTAP or TAP file, for the summary

record() { # record SUITE PASSED FAILED STATUS
	S_NAME+=("$1") S_PASS+=("$2") S_FAIL+=("$3") S_STATUS+=("$4")
}

cleanup() {
	if [ "$CLUSTER_UP" = 1 ] && [ "$KEEP" != 1 ]; then
		CLUSTER_UP=0
		steward_cluster_stop "$STEWARD_DATA" fast
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_tail() { # show_tail FILE LINES TITLE
	[ -s "$1" ] || return 0
	printf -- '---- %s (last %s lines of %s) ----\n' "$3" "$2" "$1"
	tail -n "$2" "$1"
	printf -- '---- end of %s ----\n' "$3"
}

# ------------------------------------------------------------------ plan

planned_regress=() planned_isolation=() planned_pgtap=() planned_tap=()
plan_tests() {
	local f glob
	read -r -a planned_regress <<<"$(steward_make_var "$SRC" REGRESS)"
	read -r -a planned_isolation <<<"$(steward_make_var "$SRC" ISOLATION)"
	shopt -s nullglob
	for f in "$SRC"/test/pgtap/*.sql; do
		planned_pgtap+=("${f#"$SRC"/}")
	done
	glob="$(steward_make_var "$SRC" PROVE_TESTS)"
	glob="${glob:-test/t/*.pl}"
	# PROVE_TESTS is a glob relative to the source dir: expand it there.
	# shellcheck disable=SC2086 # $glob must be split and expanded
	mapfile -t planned_tap < <(cd "$SRC" && for f in $glob; do
		if [ -f "$f" ]; then echo "$f"; fi
	done)
	shopt -u nullglob
}

not_run() { # not_run SUITE COUNT WHY
	ERRORS=1
	record "$1" 0 "$2" "not run: $3"
}

# ------------------------------------------------------------------ suites

# run_pg_regress SUITE DIFFS MAKEARGS...: make installcheck with only one of
# REGRESS / ISOLATION enabled, then count the `... ok` / `... FAILED` lines.
run_pg_regress() {
	local suite=$1 diffs=$2 n_planned rc passed failed missing status
	shift 2
	local -n planned="planned_$suite"
	n_planned=${#planned[@]}
	if [ "$n_planned" -eq 0 ]; then
		section "$suite: no tests"
		record "$suite" 0 0 "no tests"
		return 0
	fi
	section "$suite: ${planned[*]}"
	rm -f "$diffs"
	rc=0
	as_run_user "$SRC" "${TIMEOUT_CMD[@]}" \
		env PGHOST="$STEWARD_SOCK" PGPORT="$PORT" PGUSER=postgres \
		make --no-print-directory PG_CONFIG="$PG_CONFIG" installcheck "$@" \
		2>&1 | tee "$LOGDIR/$suite.log" || rc=$?
	passed=$(grep -cE '\.\.\. +(ok|failed \(ignored\))( |$)' "$LOGDIR/$suite.log" || true)
	failed=$(grep -cE '\.\.\. +FAILED( |$)' "$LOGDIR/$suite.log" || true)
	missing=$((n_planned - passed - failed))
	status=ok
	if [ "$missing" -gt 0 ]; then
		warn "$suite: $missing of $n_planned tests reported no result (counted as failed)"
		failed=$((failed + missing))
		ERRORS=1
		status="ERROR (exit $rc)"
	elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		warn "$suite: harness exited with $rc although no test failed"
		ERRORS=1
		status="ERROR (exit $rc)"
	elif [ "$failed" -gt 0 ]; then
		status=FAILED
	fi
	if [ "$status" != ok ]; then
		show_tail "$diffs" 300 "$suite regression.diffs"
		show_tail "$STEWARD_LOG" 40 "server log"
	fi
	record "$suite" "$passed" "$failed" "$status"
}

run_pgtap() {
	local f db=steward_tap passed=0 failed=0 rc
	local psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$STEWARD_SOCK" -p "$PORT" -U postgres)
	if [ "${#planned_pgtap[@]}" -eq 0 ]; then
		section "pgtap: no tests"
		record pgtap 0 0 "no tests"
		return 0
	fi
	section "pgtap: ${#planned_pgtap[@]} files, each in a fresh database '$db'"
	for f in "${planned_pgtap[@]}"; do
		rc=0
		{
			as_run_user "$SRC" "${psql[@]}" -d postgres \
				-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
				-c "CREATE DATABASE $db" &&
				as_run_user "$SRC" "${psql[@]}" -d "$db" \
					-c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION pg_steward"
		} >"$LOGDIR/pgtap-setup.log" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ]; then
			warn "$f: could not set up database $db:"
			cat "$LOGDIR/pgtap-setup.log" >&2
			failed=$((failed + 1))
			continue
		fi
		as_run_user "$SRC" "${TIMEOUT_CMD[@]}" pg_prove --psql-bin "$PG_BIN/psql" -h "$STEWARD_SOCK" \
			-p "$PORT" -U postgres -d "$db" --failures --comments "$f" 2>&1 |
			tee "$LOGDIR/pgtap-$(basename "$f" .sql).log" || rc=$?
		if [ "$rc" -eq 0 ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			FAILED_LOGS+=("$f|$LOGDIR/pgtap-$(basename "$f" .sql).log")
			show_tail "$STEWARD_LOG" 40 "server log"
		fi
	done
	record pgtap "$passed" "$failed" "$([ "$failed" -eq 0 ] && echo ok || echo FAILED)"
}

run_tap() {
	local f name passed=0 failed=0 rc log
	if [ "${#planned_tap[@]}" -eq 0 ]; then
		section "tap: no tests"
		record tap 0 0 "no tests"
		return 0
	fi
	section "tap: ${#planned_tap[@]} files (each creates its own clusters)"
	as_run_user "$SRC" rm -rf "$SRC/tmp_check"
	as_run_user "$SRC" mkdir -p "$SRC/tmp_check"
	for f in "${planned_tap[@]}"; do
		rc=0
		# Same environment as PGXS's prove_installcheck.
		as_run_user "$SRC" "${TIMEOUT_CMD[@]}" env TESTDIR="$SRC" PATH="$PG_BIN:$PATH" PGPORT=65432 \
			PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			prove -I "$PGXS_DIR/src/test/perl" -I . "$f" 2>&1 |
			tee "$LOGDIR/tap-$(basename "$f" .pl).log" || rc=$?
		if [ "$rc" -eq 0 ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			name="$(basename "$f" .pl)"
			FAILED_LOGS+=("$f|$LOGDIR/tap-$name.log")
			show_tail "$SRC/tmp_check/log/regress_log_$name" 150 "$name TAP log"
			for log in "$SRC/tmp_check/log/${name}"_*.log; do
				[ -f "$log" ] && show_tail "$log" 40 "$(basename "$log")"
			done
		fi
	done
	record tap "$passed" "$failed" "$([ "$failed" -eq 0 ] && echo ok || echo FAILED)"
}

# The failed assertions of each failed file, with their diagnostics, once
# more at the end: the logs above may be too long to be read whole.
failures() {
	local entry
	[ "${#FAILED_LOGS[@]}" -eq 0 ] && return 0
	section "failed files, their failed assertions (full logs above and in $LOGDIR)"
	for entry in "${FAILED_LOGS[@]}"; do
		printf -- '--- %s\n' "${entry%%|*}"
		grep -E '^[[:space:]]*(not ok|#|Dubious|Parse errors|Bailout|Failed)' "${entry#*|}" 2>/dev/null |
			head -n 60 || true
	done
}

summary() {
	local i total_pass=0 total_fail=0
	failures
	section "summary"
	printf '    %-10s %7s %7s  %s\n' suite passed failed status
	for i in "${!S_NAME[@]}"; do
		printf '    %-10s %7d %7d  %s\n' "${S_NAME[$i]}" "${S_PASS[$i]}" "${S_FAIL[$i]}" "${S_STATUS[$i]}"
		total_pass=$((total_pass + S_PASS[i]))
		total_fail=$((total_fail + S_FAIL[i]))
	done
	if [ "$ERRORS" -ne 0 ]; then
		note "some suites could not run or their harness broke (see above)"
	fi
	if [ "$KEEP" = 1 ] && [ "$CLUSTER_UP" = 1 ]; then
		note "cluster left running: psql -h $STEWARD_SOCK -p $PORT -U postgres postgres"
		note "stop it with: $PG_BIN/pg_ctl -D $STEWARD_DATA stop (as $STEWARD_RUN_USER)"
	fi
	echo "tests: $total_pass passed, $total_fail failed"
	[ "$total_fail" -eq 0 ] && [ "$ERRORS" -eq 0 ]
}

# ------------------------------------------------------------------ main

steward_bootstrap
steward_reset_workdir "$WORKDIR"
steward_prepare_source "$WORKDIR"
mkdir -p "$LOGDIR"
if steward_is_root; then chown "$STEWARD_RUN_USER": "$LOGDIR"; fi
plan_tests

n_db_suites=("${#planned_regress[@]}" "${#planned_isolation[@]}" "${#planned_pgtap[@]}")
if ! steward_build "$SRC"; then
	warn "BUILD FAILED: no suite was run (full output in $WORKDIR/build.log)"
	not_run regress "${n_db_suites[0]}" "build failed"
	not_run isolation "${n_db_suites[1]}" "build failed"
	not_run pgtap "${n_db_suites[2]}" "build failed"
	not_run tap "${#planned_tap[@]}" "build failed"
elif ! steward_install "$SRC"; then
	warn "INSTALL FAILED: no suite was run"
	not_run regress "${n_db_suites[0]}" "install failed"
	not_run isolation "${n_db_suites[1]}" "install failed"
	not_run pgtap "${n_db_suites[2]}" "install failed"
	not_run tap "${#planned_tap[@]}" "install failed"
else
	if steward_cluster_start "$WORKDIR" "$PORT"; then
		CLUSTER_UP=1
		run_pg_regress regress "$SRC/regression.diffs" ISOLATION= TAP_TESTS=
		run_pg_regress isolation "$SRC/output_iso/regression.diffs" REGRESS= TAP_TESTS=
		run_pgtap
	else
		warn "CLUSTER DID NOT START: regress, isolation and pgtap not run"
		CLUSTER_UP=1 # a half-started server is still stopped on exit
		not_run regress "${n_db_suites[0]}" "cluster did not start"
		not_run isolation "${n_db_suites[1]}" "cluster did not start"
		not_run pgtap "${n_db_suites[2]}" "cluster did not start"
	fi
	run_tap
fi

# Stop the cluster now, so that the summary's last line is the last output.
cleanup
summary
