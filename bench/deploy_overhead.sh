#!/usr/bin/env bash
# bench/deploy_overhead.sh: what migrate_apply costs over psql -1 when a CI
# client replays a long history of trivial migrations, measured in one run
# on one throwaway cluster.
#
#   history    MIGRATIONS (default 400) generated migrations of two
#              statements each: four in five create a table and an index
#              on it, every fifth adds a column to an earlier table and
#              indexes it, so the schema grows to several hundred tables
#              (320 tables and 720 indexes at 400 migrations).
#   psql -1    each migration file applied with psql -1 -f FILE, one psql
#              (one connection) per migration, into database plain
#   migrate    each migration applied with one psql per migration running
#              SELECT steward.migrate_apply(:'version', :'up_sql'), the file's
#              text passed as a psql variable (quoted by psql), into database
#              steward
#
#   deploy     the same files as a folder of <version>_m.up.sql files,
#              applied by the client in one run, pg_steward deploy DIR (one
#              connection for the whole history, the way this product is
#              meant to be driven from CI), into database client; timed
#              against the loop a user writes without pg_steward, psql -1
#              -f FILE per file into database plain2, and against one psql
#              session applying each file in a transaction of its own
#              (BEGIN; \i FILE; COMMIT; into database warm), which has no
#              connection cost at all: the pure server-side comparison
#
# The first two methods take turns, migration by migration (psql -1 first for
# odd numbers, migrate_apply first for even ones), so that other load on a
# shared machine falls on both alike.  Every call is timed by the client
# with date +%s.%N, the connection included, as a deployment script sees
# it.  The report gives the total and mean per migration of each method and
# their ratio, and the mean per migration over the first and the last
# WINDOW (default 50) migrations, to show what the size of the schema
# costs.  Afterwards the run checks what migrate_apply recorded: one
# completed migration, one apply event and one schema snapshot per
# migration, the newest snapshot's fingerprint equal to migrate_fingerprint()
# in both databases (after CREATE EXTENSION in plain, whose schema must be
# the same).
#
# Wall-clock seconds; the machine is shared, so read the ratio, not the
# seconds.  The report goes to bench/results/deploy.md and to standard
# output, the same figures to bench/results/deploy.tsv (one line per
# figure) and every call's time to bench/results/deploy-calls.tsv.
# BENCH_RESULTS_DIR puts the files in another directory; BENCH_BUILD=0
# benchmarks the pg_steward already installed instead of building and
# installing this tree first; PGSTEWARD_PG_BIN picks the PostgreSQL
# installation (scripts/lib.sh), PGSTEWARD_PORT the port.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

MIGRATIONS="${MIGRATIONS:-400}"
WINDOW="${WINDOW:-50}"
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-deploy-bench}"
PORT="${PGSTEWARD_PORT:-54332}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/deploy.md"
TSV="$RESULTS_DIR/deploy.tsv"
CALLS="$RESULTS_DIR/deploy-calls.tsv"
steward_cluster_paths "$WORKDIR"
[ "$MIGRATIONS" -ge $((2 * WINDOW)) ] || die "MIGRATIONS ($MIGRATIONS) must be at least twice WINDOW ($WINDOW)"

cleanup() { steward_cluster_stop "$STEWARD_DATA" fast || true; }
trap cleanup EXIT

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start

# Both methods use the same psql options (psql_db, bench/lib.sh);
# ON_ERROR_STOP makes a failed migration fail the run.
now() { date +%s.%N; }
calc() { echo "$2" | bc -l | xargs printf "$1"; } # calc FORMAT EXPR
command -v bc >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bc >/dev/null

section "generating a history of $MIGRATIONS migrations"
HIST="$WORKDIR/history"
mkdir -p "$HIST"
tables=0
for i in $(seq 1 "$MIGRATIONS"); do
	v=$(printf 'V%04d' "$i")
	if [ $((i % 5)) -eq 0 ]; then
		# a column on a table created earlier, and an index on it
		t=$(((i * 7) % tables + 1))
		printf '%s\n' "ALTER TABLE app_t$t ADD COLUMN c$i integer;" \
			"CREATE INDEX app_t${t}_c${i}_idx ON app_t$t (c$i);" >"$HIST/$v.sql"
	else
		tables=$((tables + 1))
		printf '%s\n' "CREATE TABLE app_t$tables (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());" \
			"CREATE INDEX app_t${tables}_name_idx ON app_t$tables (name);" >"$HIST/$v.sql"
	fi
done
chmod -R a+rX "$HIST"
note "$tables tables; files in $HIST"

psql_db postgres -c "CREATE DATABASE plain" -c "CREATE DATABASE steward" \
	-c "CREATE DATABASE plain2" -c "CREATE DATABASE client" -c "CREATE DATABASE warm"
psql_db steward -c "CREATE EXTENSION pg_steward"
psql_db client -c "CREATE EXTENSION pg_steward"
FOLDER="$WORKDIR/folder"
mkdir -p "$FOLDER"
for i in $(seq 1 "$MIGRATIONS"); do
	cp "$HIST/$(printf 'V%04d' "$i").sql" "$FOLDER/$(printf '%04d' "$i")_m.up.sql"
done
chmod -R a+rX "$FOLDER"
CLIENT_BIN="$("$PG_CONFIG" --bindir)/pg_steward"
[ -x "$CLIENT_BIN" ] || die "the client is not installed: $CLIENT_BIN"
echo "SELECT steward.migrate_apply(:'version', :'up_sql');" >"$WORKDIR/apply.sql"

# m_psql V / m_steward V: apply migration V one way; each prints its seconds
m_psql() {
	local t0 t1
	t0=$(now)
	psql_db plain -1 -f "$HIST/$1.sql" >/dev/null
	t1=$(now)
	calc '%.4f' "$t1 - $t0"
}
m_steward() {
	local t0 t1 sql
	sql=$(cat "$HIST/$1.sql")
	t0=$(now)
	psql_db steward -v version="$1" -v up_sql="$sql" -f "$WORKDIR/apply.sql" >/dev/null
	t1=$(now)
	calc '%.4f' "$t1 - $t0"
}

section "applying the history both ways, migration by migration"
declare -a TP TS
T_START=$(date +%s)
for i in $(seq 1 "$MIGRATIONS"); do
	v=$(printf 'V%04d' "$i")
	if [ $((i % 2)) -eq 1 ]; then
		TP[i]=$(m_psql "$v")
		TS[i]=$(m_steward "$v")
	else
		TS[i]=$(m_steward "$v")
		TP[i]=$(m_psql "$v")
	fi
	[ $((i % 50)) -ne 0 ] || note "$i migrations: psql -1 ${TP[i]} s, migrate_apply ${TS[i]} s (this one)"
done
T_END=$(date +%s)

{
	printf 'migration\tpsql_1\tmigrate_apply\n'
	for i in $(seq 1 "$MIGRATIONS"); do printf '%s\t%s\t%s\n' "$i" "${TP[i]}" "${TS[i]}"; done
} >"$CALLS"

# sum_of ARRAYNAME FROM TO: the seconds of migrations FROM..TO
sum_of() {
	local -n a=$1
	local s=0 i
	for i in $(seq "$2" "$3"); do s="$s + ${a[i]}"; done
	calc '%.4f' "$s"
}
P_TOTAL=$(sum_of TP 1 "$MIGRATIONS")
S_TOTAL=$(sum_of TS 1 "$MIGRATIONS")
P_MEAN=$(calc '%.4f' "$P_TOTAL / $MIGRATIONS")
S_MEAN=$(calc '%.4f' "$S_TOTAL / $MIGRATIONS")
RATIO=$(calc '%.2f' "$S_TOTAL / $P_TOTAL")
LAST_FROM=$((MIGRATIONS - WINDOW + 1))
P_FIRST=$(calc '%.4f' "$(sum_of TP 1 "$WINDOW") / $WINDOW")
S_FIRST=$(calc '%.4f' "$(sum_of TS 1 "$WINDOW") / $WINDOW")
P_LAST=$(calc '%.4f' "$(sum_of TP "$LAST_FROM" "$MIGRATIONS") / $WINDOW")
S_LAST=$(calc '%.4f' "$(sum_of TS "$LAST_FROM" "$MIGRATIONS") / $WINDOW")
R_FIRST=$(calc '%.2f' "$S_FIRST / $P_FIRST")
R_LAST=$(calc '%.2f' "$S_LAST / $P_LAST")
ms() { calc '%.1f' "$1 * 1000"; }

section "the whole history at once: psql -1 per file, pg_steward deploy, one psql session"
t0=$(now)
for i in $(seq 1 "$MIGRATIONS"); do psql_db plain2 -1 -f "$HIST/$(printf 'V%04d' "$i").sql" >/dev/null; done
t1=$(now)
B_LOOP=$(calc '%.4f' "$t1 - $t0")
t0=$(now)
as_user "$STEWARD_RUN_USER" "$CLIENT_BIN" deploy -h "$STEWARD_SOCK" -p "$PORT" -U postgres -d client \
	--layout pairs "$FOLDER" >"$WORKDIR/deploy.out" || die "pg_steward deploy failed: $(tail -n 5 "$WORKDIR/deploy.out")"
t1=$(now)
B_DEPLOY=$(calc '%.4f' "$t1 - $t0")
for i in $(seq 1 "$MIGRATIONS"); do
	printf 'BEGIN;\n\\i %s\nCOMMIT;\n' "$HIST/$(printf 'V%04d' "$i").sql"
done >"$WORKDIR/warm.sql"
chmod a+r "$WORKDIR/warm.sql"
t0=$(now)
psql_db warm -f "$WORKDIR/warm.sql" >/dev/null
t1=$(now)
B_WARM=$(calc '%.4f' "$t1 - $t0")
R_DEPLOY_LOOP=$(calc '%.2f' "$B_DEPLOY / $B_LOOP")
R_DEPLOY_WARM=$(calc '%.2f' "$B_DEPLOY / $B_WARM")
D_DONE=$(psql_db client -c "SELECT count(*) FROM steward.migrations WHERE status = 'completed'")
D_SNAPS=$(psql_db client -c "SELECT count(*) FROM steward.schema_snapshots")
note "psql -1 per file $B_LOOP s, pg_steward deploy $B_DEPLOY s ($R_DEPLOY_LOOP), one session $B_WARM s; deploy recorded $D_DONE migrations and $D_SNAPS snapshots"
[ "$D_DONE" = "$MIGRATIONS" ] && [ "$D_SNAPS" = "$MIGRATIONS" ] || warn "pg_steward deploy did not record every migration"

section "checking what migrate_apply recorded"
read -r C_DONE C_EVENTS C_SNAPS <<<"$(psql_db steward -F ' ' -c "
    SELECT (SELECT count(*) FROM steward.migrations WHERE status = 'completed'),
           (SELECT count(*) FROM steward.migration_events WHERE event = 'apply'),
           (SELECT count(*) FROM steward.schema_snapshots)")"
SNAP_OK=$(psql_db steward -c "
    SELECT s.fingerprint = steward.migrate_fingerprint()
       AND s.objects = steward.schema_objects()
      FROM steward.schema_snapshots s ORDER BY s.id DESC LIMIT 1")
psql_db plain -c "CREATE EXTENSION pg_steward"
F_PLAIN=$(psql_db plain -c "SELECT steward.migrate_fingerprint()")
F_STEWARD=$(psql_db steward -c "SELECT steward.migrate_fingerprint()")
SAME_SCHEMA=$([ "$F_PLAIN" = "$F_STEWARD" ] && echo yes || echo no)
N_TABLES=$(psql_db steward -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
N_INDEXES=$(psql_db steward -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'i'")
note "completed $C_DONE, apply events $C_EVENTS, snapshots $C_SNAPS of $MIGRATIONS; newest snapshot = the schema now: $SNAP_OK; same schema both ways: $SAME_SCHEMA"
[ "$C_DONE" = "$MIGRATIONS" ] && [ "$C_EVENTS" = "$MIGRATIONS" ] && [ "$C_SNAPS" = "$MIGRATIONS" ] ||
	warn "migrate_apply did not record every migration"
[ "$SNAP_OK" = t ] || warn "the newest schema snapshot is not the schema as the last migration left it"
[ "$SAME_SCHEMA" = yes ] || warn "the two databases ended with different schemas ($F_PLAIN / $F_STEWARD)"

SO_NOTE=
if [ "$(md5sum <"$SO")" != "$SO_SUM" ]; then
	SO_NOTE="
$SO was replaced by another install during this run; the server keeps the build it loaded
at its start."
	warn "$SO was replaced during the run"
fi

{
	printf 'section\tmethod\tparam\tvalue\tunit\n'
	printf 'total\tpsql_1\t%s\t%s\tseconds\n' "$MIGRATIONS" "$P_TOTAL"
	printf 'total\tmigrate_apply\t%s\t%s\tseconds\n' "$MIGRATIONS" "$S_TOTAL"
	printf 'mean\tpsql_1\tall\t%s\tseconds\n' "$P_MEAN"
	printf 'mean\tmigrate_apply\tall\t%s\tseconds\n' "$S_MEAN"
	printf 'mean\tpsql_1\tfirst_%s\t%s\tseconds\n' "$WINDOW" "$P_FIRST"
	printf 'mean\tmigrate_apply\tfirst_%s\t%s\tseconds\n' "$WINDOW" "$S_FIRST"
	printf 'mean\tpsql_1\tlast_%s\t%s\tseconds\n' "$WINDOW" "$P_LAST"
	printf 'mean\tmigrate_apply\tlast_%s\t%s\tseconds\n' "$WINDOW" "$S_LAST"
	printf 'ratio\tmigrate_apply/psql_1\tall\t%s\t-\n' "$RATIO"
	printf 'ratio\tmigrate_apply/psql_1\tfirst_%s\t%s\t-\n' "$WINDOW" "$R_FIRST"
	printf 'ratio\tmigrate_apply/psql_1\tlast_%s\t%s\t-\n' "$WINDOW" "$R_LAST"
	printf 'total\tpsql_1_loop\t%s\t%s\tseconds\n' "$MIGRATIONS" "$B_LOOP"
	printf 'total\tpg_steward_deploy\t%s\t%s\tseconds\n' "$MIGRATIONS" "$B_DEPLOY"
	printf 'total\tone_session\t%s\t%s\tseconds\n' "$MIGRATIONS" "$B_WARM"
	printf 'ratio\tdeploy/psql_1_loop\tall\t%s\t-\n' "$R_DEPLOY_LOOP"
	printf 'ratio\tdeploy/one_session\tall\t%s\t-\n' "$R_DEPLOY_WARM"
	printf 'meta\trecorded\t-\t%s completed, %s apply events, %s snapshots\t-\n' "$C_DONE" "$C_EVENTS" "$C_SNAPS"
	printf 'meta\tsnapshot_is_schema\t-\t%s\t-\n' "$SNAP_OK"
	printf 'meta\tsame_schema\t-\t%s\t-\n' "$SAME_SCHEMA"
	printf 'meta\tsource\t-\t%s\t-\n' "$SOURCE"
	printf 'meta\tso_loaded\t-\t%s\t-\n' "$SO_LOADED"
	printf 'meta\tload_at_start\t-\t%s\t-\n' "$LOAD_AT_START"
} >"$TSV"

{
	cat <<EOF
# Deployment overhead benchmark

\`bench/deploy_overhead.sh\`, $(date -u +%Y-%m-%d), pg_steward at $SOURCE, PostgreSQL
$("$PG_BIN/postgres" --version | awk '{print $3}'), $(nproc) cores (load average $LOAD_AT_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end),
a throwaway cluster with default settings plus \`fsync = off\`; the run took $((T_END - T_START)) s.${SO_NOTE}

A history of $MIGRATIONS generated migrations of two statements each (four in five
\`CREATE TABLE\` and \`CREATE INDEX\`, every fifth \`ALTER TABLE ... ADD COLUMN\` and
\`CREATE INDEX\`), ending with $N_TABLES tables and $N_INDEXES indexes, applied one psql
(one connection) per migration, as a CI client would: with \`psql -1 -f FILE\` into one
database, with \`SELECT steward.migrate_apply(:'version', :'up_sql')\` into another. The two
take turns migration by migration. Seconds as the client sees them, connection included.

| | psql -1 | migrate_apply | ratio |
|---|---:|---:|---:|
| all $MIGRATIONS migrations, total seconds | $P_TOTAL | $S_TOTAL | **$RATIO** |
| mean per migration, ms | $(ms "$P_MEAN") | $(ms "$S_MEAN") | $RATIO |
| mean of the first $WINDOW, ms | $(ms "$P_FIRST") | $(ms "$S_FIRST") | $R_FIRST |
| mean of the last $WINDOW, ms | $(ms "$P_LAST") | $(ms "$S_LAST") | $R_LAST |

The whole history at once, into three more databases, one method after the
other (not interleaved): the loop a user writes without pg_steward, \`for f in
*.sql; do psql -1 -f \$f; done\`; the client, \`pg_steward deploy DIR\` (one
connection for the whole folder); and one psql session running \`BEGIN; \\i FILE;
COMMIT;\` per file, which pays no connection at all.

| | psql -1 per file | pg_steward deploy | one psql session |
|---|---:|---:|---:|
| all $MIGRATIONS migrations, seconds | $B_LOOP | $B_DEPLOY | $B_WARM |
| pg_steward deploy against it | **$R_DEPLOY_LOOP** | 1 | $R_DEPLOY_WARM |

pg_steward deploy recorded $D_DONE completed migrations and $D_SNAPS schema snapshots.

What migrate_apply recorded: $C_DONE completed migrations, $C_EVENTS apply events and
$C_SNAPS schema snapshots for $MIGRATIONS migrations; the newest snapshot equals the schema
as the last migration left it (objects and fingerprint): $SNAP_OK; both databases ended
with the same schema fingerprint: $SAME_SCHEMA.

Every call's seconds: [deploy-calls.tsv](deploy-calls.tsv).
EOF
} >"$REPORT"
cat "$REPORT"
