#!/usr/bin/env bash
# scripts/demo.sh: try pg_steward on a throwaway cluster.
#
#   scripts/demo.sh        install missing packages, build and install
#                          pg_steward, start a fresh demo cluster (port
#                          $PGSTEWARD_PORT, default 54329, in
#                          $PGSTEWARD_DEMO_DIR, default /tmp/pg_steward-demo),
#                          create database steward_demo, run
#                          examples/walkthrough.sql in it and leave the
#                          cluster running
#   scripts/demo.sh stop   stop the demo cluster and remove its work dir
#
# PGSTEWARD_WALKTHROUGH=FILE runs another SQL file instead of the walkthrough.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/scripts/lib.sh"

WORKDIR="${PGSTEWARD_DEMO_DIR:-/tmp/pg_steward-demo}"
PORT="${PGSTEWARD_PORT:-54329}"
WALKTHROUGH="${PGSTEWARD_WALKTHROUGH:-$ROOT/examples/walkthrough.sql}"
DB=steward_demo
steward_cluster_paths "$WORKDIR"

demo_stop() {
	steward_cluster_stop "$STEWARD_DATA" fast
	if [ -e "$WORKDIR" ]; then
		section "removing $WORKDIR"
		rm -rf "$WORKDIR" 2>/dev/null || as_root rm -rf "$WORKDIR"
	fi
	echo "demo cluster stopped"
}

case "${1:-start}" in
stop)
	demo_stop
	exit 0
	;;
start) ;;
*)
	echo "usage: $0 [start|stop]" >&2
	exit 2
	;;
esac

[ -f "$WALKTHROUGH" ] || die "walkthrough not found: $WALKTHROUGH"

steward_bootstrap
steward_reset_workdir "$WORKDIR"
steward_prepare_source "$WORKDIR"
steward_build "$WORKDIR/src" || die "BUILD FAILED (output in $WORKDIR/build.log)"
steward_install "$WORKDIR/src" || die "INSTALL FAILED"
steward_cluster_start "$WORKDIR" "$PORT" || die "the demo cluster did not start"

PSQL=("$PG_BIN/psql" -X -h "$STEWARD_SOCK" -p "$PORT" -U postgres)
section "creating database $DB"
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"

section "running ${WALKTHROUGH#"$ROOT"/} (some calls fail on purpose)"
rc=0
"${PSQL[@]}" -v ON_ERROR_STOP=0 -d "$DB" -f "$WALKTHROUGH" || rc=$?

section "the demo cluster is still running"
cat <<EOF
    connect:     psql -h $STEWARD_SOCK -p $PORT -U postgres $DB
    server log:  $STEWARD_LOG
    stop it:     scripts/demo.sh stop
EOF
if [ "$rc" -ne 0 ]; then
	die "psql could not run the walkthrough (exit $rc)"
fi
