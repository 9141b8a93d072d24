#!/usr/bin/env bash
# scripts/demo.sh: try pg_steward on a throwaway cluster.
#
#   scripts/demo.sh        install missing packages, build and install
#                          pg_steward, start a fresh demo cluster (port
#                          $PGSTEWARD_PORT, default 54329, in
#                          $PGSTEWARD_DEMO_DIR, default /tmp/pg_steward-demo),
#                          create database steward_demo, run
#                          examples/walkthrough.sql in it, then show the
#                          command-line client on examples/client in
#                          database steward_client (deploy a migrations
#                          folder, lint as CI would, verify the ledger
#                          against a digest file), and leave the cluster
#                          running
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
CLIENT_DB=steward_client
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

# Package installation and compiler output go to a log, not to the screen.
STEWARD_SETUP_LOG="$(dirname "$WORKDIR")/$(basename "$WORKDIR")-setup.log"
: >"$STEWARD_SETUP_LOG"
section "setup output (packages, compiler, make install) goes to $STEWARD_SETUP_LOG"
steward_bootstrap || die "PACKAGE INSTALLATION FAILED (output in $STEWARD_SETUP_LOG)"
steward_reset_workdir "$WORKDIR"
steward_prepare_source "$WORKDIR"
steward_build "$WORKDIR/src" || die "BUILD FAILED (output in $STEWARD_SETUP_LOG)"
steward_install "$WORKDIR/src" || die "INSTALL FAILED (output in $STEWARD_SETUP_LOG)"
steward_cluster_start "$WORKDIR" "$PORT" || die "the demo cluster did not start"

PSQL=("$PG_BIN/psql" -X -h "$STEWARD_SOCK" -p "$PORT" -U postgres)
section "creating database $DB"
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"

section "running ${WALKTHROUGH#"$ROOT"/} (some calls fail on purpose)"
rc=0
"${PSQL[@]}" -v ON_ERROR_STOP=0 -d "$DB" -f "$WALKTHROUGH" || rc=$?

# the client: each command is shown as it would be typed, then its output
# and, when it is not 0, its exit status
client() {
	local status=0
	printf '\n    $ pg_steward %s\n' "$*"
	"$PG_BIN/pg_steward" "$@" 2>&1 | sed 's/^/    /' || status=$?
	[ "$status" -eq 0 ] || printf '    (exit status %s)\n' "$status"
	return 0
}
CONNECT=(-h "$STEWARD_SOCK" -p "$PORT" -U postgres -d "$CLIENT_DB")
DIGEST="$WORKDIR/$CLIENT_DB.digest"

section "the client: deploy examples/client/migrations (Prisma) to database $CLIENT_DB"
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $CLIENT_DB"
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d "$CLIENT_DB" -c "CREATE EXTENSION pg_steward"
note "a BEGIN/COMMIT wrapper absorbed, CREATE INDEX CONCURRENTLY waited for in a job,"
note "a data-only folder listed as skipped (--allow-skipped: exit 0 all the same)"
client deploy "${CONNECT[@]}" --allow-skipped examples/client/migrations
note "a second deploy changes nothing"
client deploy "${CONNECT[@]}" --allow-skipped examples/client/migrations

section "the client as a CI gate: lint a proposed migration once appointments holds data"
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d "$CLIENT_DB" \
	-c "INSERT INTO appointments (patient, \"startsAt\") VALUES ('P-1001', now() + interval '1 day')"
client lint "${CONNECT[@]}" examples/client/proposed_drop_notes.sql
note "the same as GitHub annotations on the pull request"
client lint "${CONNECT[@]}" --format github examples/client/proposed_drop_notes.sql

section "the client from cron: a digest file, then verify the ledger against it"
note "the sealer seals the migrations' ledger events by itself; audit_seal() makes sure now"
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d "$CLIENT_DB" -c "SELECT audit_seal()" >/dev/null
client digest "${CONNECT[@]}" --out "$DIGEST"
note "the application appends an event; verify checks it and that the ledger still extends the digest"
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d "$CLIENT_DB" \
	-c "SELECT audit_append('READ', 'patient', 'P-1001', '{\"by\": \"dr.jung\"}')" -c "SELECT audit_seal()" >/dev/null
client verify "${CONNECT[@]}" --digest "$DIGEST"

section "the demo cluster is still running"
cat <<EOF
    connect:     psql -h $STEWARD_SOCK -p $PORT -U postgres $DB
    the client:  $PG_BIN/pg_steward status -h $STEWARD_SOCK -p $PORT -U postgres -d $CLIENT_DB
    server log:  $STEWARD_LOG
    stop it:     scripts/demo.sh stop
EOF
if [ "$rc" -ne 0 ]; then
	die "psql could not run the walkthrough (exit $rc)"
fi
