#!/usr/bin/env bash
# bench/audit_bench.sh: the audit ledger against its baselines, measured in
# one run on one throwaway cluster.
#
#   writing   pgbench, one statement per transaction, at 1, 8 and 32 clients:
#             bare INSERT       the same row without salt and commitment
#             plain INSERT      into plain_events, a table with the ledger's
#                               columns, partitions, primary key and xid index,
#                               the same row (salt, sha256 commitment, payload)
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
#             Every run starts after VACUUM and CHECKPOINT.  After the runs,
#             audit_seal() and verify_audit_chain() must find every event
#             written by the concurrent clients sealed and the chain valid.
#   verifying EVENTS events (default 1000000) in a database of their own:
#             verify_audit_chain() against two PL/pgSQL baselines with
#             pgcrypto: bench/verify_plpgsql.sql, the same check (event bytes,
#             leaves, commitments, Merkle roots, block hashes) over the same
#             ledger, timed once (it is slow); and a loop that walks the same
#             number of diy_events rows in id order and recomputes each row's
#             digest (one hash per row), timed twice like verify_audit_chain()
#             (the faster run counts).
#
# Wall-clock seconds and pgbench's own tps; the machine is shared, so read
# the ratios, not the absolute figures.  DURATION (default 20) sets the
# seconds of each pgbench run, CLIENTS (default "1 8 32") the client counts,
# EVENTS the size of the verification ledger; the report goes to
# bench/results/audit.md and to standard output, the same figures to
# bench/results/audit.tsv (one line per figure, for bench/run_all.sh).
# BENCH_RESULTS_DIR puts both files in another directory; BENCH_BUILD=0
# benchmarks the pg_steward already installed instead of building and
# installing this tree first.
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
SEED=10000
BATCHES=10
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-audit-bench}"
PORT="${PGSTEWARD_PORT:-54331}"
BENCH_BUILD="${BENCH_BUILD:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
REPORT="$RESULTS_DIR/audit.md"
TSV="$RESULTS_DIR/audit.tsv"
steward_cluster_paths "$WORKDIR"

cleanup() { steward_cluster_stop "$STEWARD_DATA" fast || true; }
trap cleanup EXIT

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start

psql_q() { psql_db postgres "$@"; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
faster() { if [ "$1" -ge "$2" ]; then echo "$1"; else echo "$2"; fi; } # the higher of two tps
tps() { faster "${TPS[$1,$2,1]}" "${TPS[$1,$2,2]}"; }                  # tps METHOD CLIENTS
command -v bc >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bc >/dev/null

# The tables of the baselines: the ledger's columns, its primary key, its xid
# index and the same partitions (copied from steward.audit_events' bounds).
# DIY adds prev_hash and row_hash, and its trigger assigns the id.
ZERO_HASH="'\\x$(printf '0%.0s' $(seq 64))'::bytea"
# The bytes a DIY row's hash covers after prev_hash (R: NEW or the row).
diy_fields() {
	local r=$1
	echo "convert_to(concat_ws('|', $r.id, $r.xid, $r.event_time, $r.event_type, $r.action,
	              $r.resource_type, $r.resource_id, $r.actor, $r.session_user_name,
	              $r.current_user_name, $r.client_addr, $r.application_name), 'UTF8')
	   || coalesce($r.commitment, '') || coalesce($r.salt, '')
	   || coalesce(convert_to($r.payload::text, 'UTF8'), '')"
}
baseline_schema() { # baseline_schema DB
	psql_db "$1" <<SQL
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE plain_events (
    id bigint NOT NULL, xid xid8 NOT NULL, event_time timestamptz NOT NULL,
    event_type text NOT NULL, action text NOT NULL, resource_type text, resource_id text,
    actor text, session_user_name text NOT NULL, current_user_name text NOT NULL,
    client_addr inet, application_name text, commitment bytea, salt bytea, payload jsonb,
    PRIMARY KEY (id, event_time)
) PARTITION BY RANGE (event_time);
CREATE SEQUENCE plain_events_id_seq OWNED BY plain_events.id;
ALTER TABLE plain_events ALTER COLUMN id SET DEFAULT nextval('plain_events_id_seq');
CREATE INDEX ON plain_events (xid);

CREATE TABLE diy_events (LIKE plain_events INCLUDING INDEXES, prev_hash bytea, row_hash bytea)
    PARTITION BY RANGE (event_time);
CREATE SEQUENCE diy_events_id_seq OWNED BY diy_events.id;

DO \$\$
DECLARE
    b text;
BEGIN
    FOR b IN
        SELECT pg_get_expr(c.relpartbound, c.oid)
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'steward.audit_events'::regclass
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF plain_events %s',
                       'plain_events_' || md5(b), b);
        EXECUTE format('CREATE TABLE %I PARTITION OF diy_events %s',
                       'diy_events_' || md5(b), b);
    END LOOP;
END \$\$;

-- The do-it-yourself chain: one writer at a time (the advisory lock is held
-- until commit), the id taken under the lock so id order is chain order.
CREATE FUNCTION diy_chain() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE
    prev bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(42);
    SELECT row_hash INTO prev FROM diy_events ORDER BY id DESC LIMIT 1;
    NEW.id := nextval('diy_events_id_seq');
    NEW.prev_hash := coalesce(prev, $ZERO_HASH);
    NEW.row_hash := digest(NEW.prev_hash || $(diy_fields NEW), 'sha256');
    RETURN NEW;
END \$\$;
CREATE TRIGGER diy_chain BEFORE INSERT ON diy_events FOR EACH ROW EXECUTE FUNCTION diy_chain();

-- Its verifier: every row in id order, the link and the digest recomputed.
CREATE FUNCTION diy_verify(OUT is_valid boolean, OUT rows_checked bigint, OUT first_bad bigint)
LANGUAGE plpgsql AS \$\$
DECLARE
    r record;
    prev bytea := $ZERO_HASH;
BEGIN
    is_valid := true;
    rows_checked := 0;
    FOR r IN SELECT * FROM diy_events ORDER BY id LOOP
        IF r.prev_hash IS DISTINCT FROM prev
           OR r.row_hash IS DISTINCT FROM digest(prev || $(diy_fields r), 'sha256') THEN
            is_valid := false;
            first_bad := r.id;
            RETURN;
        END IF;
        prev := r.row_hash;
        rows_checked := rows_checked + 1;
    END LOOP;
END \$\$;
SQL
}

# The event all three methods write: a patient id and a small JSON payload.
PAYLOAD="jsonb_build_object('patient', :id::int, 'field', 'dosage', 'old', '5mg', 'new', '10mg')"
row_insert() { # row_insert TABLE: the statement that writes the event as a plain row
	cat <<SQL
\set id random(1, 1000000)
INSERT INTO $1 (xid, event_time, event_type, action, resource_type, resource_id, actor,
                session_user_name, current_user_name, client_addr, application_name,
                commitment, salt, payload)
SELECT pg_current_xact_id(), clock_timestamp(), 'APPLICATION', 'UPDATE', 'patient', :id::text,
       NULL, session_user, current_user, inet_client_addr(), current_setting('application_name'),
       sha256('\\x02'::bytea || s || convert_to(p::text, 'UTF8')), s, p
  FROM (SELECT gen_random_bytes(16) AS s, $PAYLOAD AS p) x
RETURNING id;
SQL
}

# fill_events N / fill_rows TABLE N: N events in one statement, through
# audit_append() or as rows of TABLE (plain_events or diy_events).
fill_events() {
	echo "SELECT count(audit_append('UPDATE', 'patient', g::text,
	        jsonb_build_object('patient', g, 'field', 'dosage', 'old', '5mg', 'new', '10mg')))
	  FROM generate_series(1, $1) g"
}
fill_rows() {
	printf '%s\n' "INSERT INTO $1 (xid, event_time, event_type, action, resource_type, resource_id, actor,
	                      session_user_name, current_user_name, client_addr, application_name,
	                      commitment, salt, payload)
	SELECT pg_current_xact_id(), clock_timestamp(), 'APPLICATION', 'UPDATE', 'patient', g::text,
	       NULL, session_user, current_user, inet_client_addr(), current_setting('application_name'),
	       sha256('\\x02'::bytea || s || convert_to(p::text, 'UTF8')), s, p
	  FROM generate_series(1, $2) g,
	       LATERAL (SELECT gen_random_bytes(16) AS s,
	                jsonb_build_object('patient', g, 'field', 'dosage', 'old', '5mg', 'new', '10mg') AS p) x"
}

section "preparing the ledger and the baseline tables"
# Both databases get the extension at once: pg_steward is installed
# machine-wide, and the scripts read now are the ones this build installed.
[ "$BENCH_BUILD" != 1 ] || [ "$SO_SUM" = "$(md5sum <"$WORKDIR/src/pg_steward.so")" ] ||
	warn "the installed pg_steward.so is not the one just built (another install?)"
psql_q -c "CREATE EXTENSION pg_steward" -c "CREATE DATABASE verify"
psql_db verify -c "CREATE EXTENSION pg_steward"
baseline_schema postgres
baseline_schema verify
row_insert plain_events >"$WORKDIR/plain.sql"
cat >"$WORKDIR/bare.sql" <<SQL
\set id random(1, 1000000)
INSERT INTO plain_events (xid, event_time, event_type, action, resource_type, resource_id, actor,
                          session_user_name, current_user_name, client_addr, application_name, payload)
VALUES (pg_current_xact_id(), clock_timestamp(), 'APPLICATION', 'UPDATE', 'patient', :id::text,
        NULL, session_user, current_user, inet_client_addr(), current_setting('application_name'),
        $PAYLOAD)
RETURNING id;
SQL
row_insert diy_events >"$WORKDIR/diy.sql"
cat >"$WORKDIR/audit.sql" <<SQL
\set id random(1, 1000000)
SELECT audit_append('UPDATE', 'patient', :id::text, $PAYLOAD);
SQL
# Every table starts with SEED events, analyzed, so that no method runs
# its first round against an empty table's statistics.
psql_q -c "$(fill_events "$SEED")" -c "$(fill_rows plain_events "$SEED")" -c "$(fill_rows diy_events "$SEED")" >/dev/null
SEAL_INTERVAL=$(psql_q -c "SHOW pg_steward.audit_seal_interval")
read -r S_FSYNC S_SYNC S_SHARED <<<"$(psql_q -F ' ' -c "SELECT current_setting('fsync'), current_setting('synchronous_commit'),
                                                          current_setting('shared_buffers')")"
PARTITIONS=$(psql_q -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'steward.audit_events'::regclass")

sealer_pid() { psql_q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward sealer' AND datname = 'postgres' LIMIT 1"; }
cpu_ticks() { # user + system clock ticks of process $1 (empty when it is gone)
	if [ -n "$1" ]; then awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || true; fi
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
# verify_ledger DB: SELECT * FROM verify_audit_chain() in DB, timed.  Sets
# VROW (is_valid events_checked blocks_checked events_unsealed problem; empty
# when every attempt crashed) and VSECS (of the last attempt).  A server
# crash is recorded in CRASHED and the call retried, up to 5 attempts.
CRASHED=()
verify_ledger() {
	local db=$1 before t0 t1
	VROW=
	for _ in 1 2 3 4 5; do
		before=$(crashes_in_log)
		t0=$(now)
		if VROW=$(psql_db "$db" -F ' ' -c "SELECT is_valid, events_checked, blocks_checked, events_unsealed,
		                                          coalesce(problem, '-') FROM verify_audit_chain()" 2>"$WORKDIR/verify.err"); then
			t1=$(now)
			VSECS=$(secs "$t0" "$t1")
			return 0
		fi
		t1=$(now)
		VSECS=$(secs "$t0" "$t1")
		VROW=
		[ "$(crashes_in_log)" -gt "$before" ] || { cat "$WORKDIR/verify.err" >&2; die "verify_audit_chain() failed in database $db"; }
		CRASHED+=("$db after $VSECS s: $(grep 'was terminated by signal' "$STEWARD_LOG" | tail -1 | sed -E 's/^.*LOG: +//')")
		warn "verify_audit_chain() crashed the server (database $db, after $VSECS s); retrying"
		wait_ready
	done
	return 0
}

declare -A TPS SEALER_CPU
run() { # run METHOD CLIENTS ROUND
	local m=$1 c=$2 r=$3 log="$WORKDIR/pgbench-$1-$2-$3.log" j=2 pid sealer t0 t1
	[ "$c" -lt 2 ] && j=1
	psql_q -c "VACUUM ANALYZE plain_events, diy_events, steward.audit_events" -c "CHECKPOINT"
	"$PG_BIN/pgbench" -n -h "$STEWARD_SOCK" -p "$PORT" -U postgres -M prepared \
		-c "$c" -j "$j" -T "$DURATION" -f "$WORKDIR/$m.sql" postgres >"$log" 2>&1 &
	pid=$!
	# the sealer's CPU time from the first second of the run to its end
	# (a sealer exits when idle and the first append starts one again)
	sleep 1
	sealer=$(sealer_pid)
	t0=$(cpu_ticks "$sealer")
	if ! wait "$pid"; then
		cat "$log" >&2
		die "pgbench $m at $c clients failed"
	fi
	t1=$(cpu_ticks "$sealer")
	TPS[$m,$c,$r]=$(grep -oE 'tps = [0-9.]+' "$log" | head -1 | awk '{printf "%.0f", $3}')
	if [ "$m" = audit ]; then
		if [ -n "$t0" ] && [ -n "$t1" ]; then
			SEALER_CPU[$c,$r]=$(echo "100 * ($t1 - $t0) / $TICKS / ($DURATION - 1)" | bc -l | xargs printf '%.0f')
		else
			SEALER_CPU[$c,$r]="?"
		fi
	fi
	note "$m, $c clients, round $r: ${TPS[$m,$c,$r]} tps"
}

for c in $CLIENTS; do
	section "writing events, $c clients, ${DURATION}s per run"
	for m in bare plain audit diy; do run "$m" "$c" 1; done
	for m in diy audit plain bare; do run "$m" "$c" 2; done
done

section "sealing and verifying what the concurrent writers appended"
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
[ "$W_VALID" = t ] || warn "verify_audit_chain() after the pgbench runs: $W_PROBLEM"
W_SHORT=
if [ "$W_BLOCKS" != "$L_BLOCKS" ] || [ "$W_CHECKED" != "$L_SEALED" ]; then
	W_SHORT="**verify_audit_chain() checked $W_BLOCKS of the $L_BLOCKS blocks in steward.audit_blocks
($W_CHECKED of the $L_SEALED events they seal) and still returned is_valid = $W_VALID; the
events of the blocks it did not check are among the $W_UNSEALED it counts as unsealed.**"
	warn "verify_audit_chain() checked $W_BLOCKS of $L_BLOCKS blocks ($W_CHECKED of $L_SEALED sealed events)"
fi

section "verification: $EVENTS events in database verify (${BATCHES} transactions each)"
PER=$((EVENTS / BATCHES))
t0=$(now)
for _ in $(seq "$BATCHES"); do psql_db verify -c "$(fill_events "$PER")" >/dev/null; done
t1=$(now)
T_FILL_AUDIT=$(secs "$t0" "$t1")
t0=$(now)
psql_db verify -c "SELECT audit_seal()" >/dev/null
t1=$(now)
T_SEAL=$(secs "$t0" "$t1")
read -r V_BLOCKS V_SEALED <<<"$(psql_db verify -F ' ' -c "SELECT count(*), coalesce(sum(event_count), 0) FROM steward.audit_blocks")"
t0=$(now)
for _ in $(seq "$BATCHES"); do psql_db verify -c "$(fill_rows diy_events "$PER")" >/dev/null; done
t1=$(now)
T_FILL_DIY=$(secs "$t0" "$t1")
psql_db verify -c "VACUUM ANALYZE diy_events, steward.audit_events, steward.audit_blocks" -c "CHECKPOINT"

psql_db verify -f "$ROOT/bench/verify_plpgsql.sql" >/dev/null
t0=$(now)
SAME_CHECKED=$(psql_db verify -c "SELECT bench_verify_plpgsql()")
t1=$(now)
T_SAMEVERIFY=$(secs "$t0" "$t1")
note "the same check in PL/pgSQL: $T_SAMEVERIFY s ($SAME_CHECKED events)"

declare -A VT
for r in 1 2; do
	verify_ledger verify
	read -r V_VALID V_CHECKED _ V_UNSEALED V_PROBLEM <<<"${VROW:-crashed - - - -}"
	VT[steward,$r]=$VSECS
	t0=$(now)
	read -r DV_VALID DV_CHECKED <<<"$(psql_db verify -F ' ' -c "SELECT is_valid, rows_checked FROM diy_verify()")"
	t1=$(now)
	VT[diy,$r]=$(secs "$t0" "$t1")
	note "run $r: verify_audit_chain() ${VT[steward,$r]} s (valid $V_VALID, $V_CHECKED events); diy_verify() ${VT[diy,$r]} s (valid $DV_VALID, $DV_CHECKED rows)"
done
[ "$V_VALID" = t ] || warn "verify_audit_chain() over $EVENTS events: $V_PROBLEM"
V_SHORT=
if [ "$V_CHECKED" != "$V_SEALED" ]; then
	V_SHORT="**verify_audit_chain() checked $V_CHECKED of the $V_SEALED sealed events.**"
	warn "verify_audit_chain() checked $V_CHECKED of $V_SEALED sealed events"
fi
best() { echo "if ($1 < $2) $1 else $2" | bc -l | xargs printf '%.2f'; }
T_VERIFY=$(best "${VT[steward,1]}" "${VT[steward,2]}")
T_DIYVERIFY=$(best "${VT[diy,1]}" "${VT[diy,2]}")
VERIFY_RATIO=$(ratio "$T_DIYVERIFY" "$T_VERIFY")
SAME_RATIO=$(ratio "$T_SAMEVERIFY" "$T_VERIFY")
rate() { [[ $1 =~ ^[0-9]+$ ]] && echo "$1 / $2" | bc -l | xargs printf '%.0f' || echo -; }

# Does the chunk query of verify_audit_chain() get parallel workers?  One
# more, untimed, run with auto_explain logging the plans of its queries.
MAX_PAR=$(psql_db verify -c "SHOW max_parallel_workers_per_gather")
psql_db verify >"$WORKDIR/verify-plans.log" 2>&1 <<SQL || true
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
SELECT is_valid FROM verify_audit_chain();
SQL
wait_ready
CHUNK_PLAN=$(grep -A1 '^Query Text: SELECT e.id, e.event_time.*audit_event_check' "$WORKDIR/verify-plans.log" |
	tail -1 | sed -E 's/  .*//')
CHUNK_MS=$(grep -B1 '^Query Text: SELECT e.id, e.event_time.*audit_event_check' "$WORKDIR/verify-plans.log" |
	grep -oE 'duration: [0-9.]+ ms' | awk '{s += $2} END {printf "%.0f", s}')
if grep -A40 '^Query Text: SELECT e.id, e.event_time.*audit_event_check' "$WORKDIR/verify-plans.log" | grep -q 'Gather'; then
	PARALLEL="a Gather node, $(grep -A40 'audit_event_check' "$WORKDIR/verify-plans.log" | grep -m1 -oE 'Workers Planned: [0-9]+' || echo 'workers planned')"
else
	PARALLEL="no Gather node: no parallel workers (its plan: ${CHUNK_PLAN:-not logged} over sequential scans of the partitions)"
fi

SO_NOTE=
if [ "$(md5sum <"$SO")" != "$SO_SUM" ]; then
	SO_NOTE="$SO was replaced by another install during this run; the server
keeps the build it loaded at its start (shared_preload_libraries: every backend and worker
inherits it)."
	warn "$SO was replaced during the run"
fi

section "writing the report"
CORES=$(nproc)
tps_cell() { echo "${TPS[$1,$2,1]} / ${TPS[$1,$2,2]}"; }
{
	cat <<EOF2
# Audit ledger benchmark

\`bench/audit_bench.sh\`, $(date -u +%Y-%m-%d), pg_steward at $SOURCE, PostgreSQL
$("$PG_BIN/postgres" --version | awk '{print $3}'), $CORES cores (load average $LOAD_AT_START at the start), default settings of a throwaway
cluster (fsync $S_FSYNC), pg_steward.audit_seal_interval = $SEAL_INTERVAL: the sealer seals every
second while events arrive (it stops when idle; the next append starts it again).
The machine is shared: read the ratios, not the absolute figures.${SO_NOTE:+ $SO_NOTE}
EOF2
	if [ "${#CRASHED[@]}" -gt 0 ]; then
		cat <<EOF2

**verify_audit_chain() crashed the server ${#CRASHED[@]} time(s) in this run**; each time the
server reinitialized and the call was retried (up to 5 attempts), so a figure below that
follows a crash comes from a run with cold shared buffers:

EOF2
		for x in "${CRASHED[@]}"; do echo "- $x"; done
	fi
	cat <<EOF2

## Writing events: pgbench, one statement per transaction

\`pgbench -n -M prepared -T $DURATION -j 2\` (\`-j 1\` at one client). Every transaction writes
one event: action \`UPDATE\`, resource \`patient\`/random id, payload
\`{"patient": <id>, "field": "dosage", "old": "5mg", "new": "10mg"}\`.

- **plain INSERT**: \`INSERT … SELECT … RETURNING id\` into \`plain_events\`, a table with the
  ledger's columns, its primary key \`(id, event_time)\`, its xid index and the same $PARTITIONS
  partitions (yearly ranges and the default); the statement computes what \`audit_append\`
  does: \`pg_current_xact_id()\`, \`clock_timestamp()\`, session and current user, client
  address, application name, a 16-byte \`gen_random_bytes\` salt and the 32-byte commitment
  \`sha256('\\x02' || salt || payload)\`.
- **bare INSERT**: the same statement into \`plain_events\` without the salt and the
  commitment (both NULL): what an application writes to an audit table with no integrity
  protection at all.
- **audit_append**: \`SELECT audit_append('UPDATE', 'patient', :id::text, <payload>)\`.
- **DIY chain**: the plain INSERT into \`diy_events\` (the same table plus \`prev_hash\`,
  \`row_hash\`), whose PL/pgSQL BEFORE INSERT trigger takes \`pg_advisory_xact_lock(42)\`,
  reads the last row's hash (\`ORDER BY id DESC LIMIT 1\`), takes the id under the lock and
  sets \`row_hash = digest(prev_hash || <every column> , 'sha256')\` (pgcrypto).

Each client count ran the four methods twice, in the order bare, plain, audit_append, DIY and
then DIY, audit_append, plain, bare, each run after \`VACUUM ANALYZE\` and \`CHECKPOINT\`; tps is the faster
of the two runs, since other load on the machine only ever slows a run down (both runs
below). The tables keep growing from run to run.

| method | $(for c in $CLIENTS; do printf '%s client%s | ' "$c" "$([ "$c" = 1 ] || echo s)"; done | sed 's/ | $//') |
|---|$(for _ in $CLIENTS; do printf -- '---:|'; done)
EOF2
	for m in bare plain audit diy; do
		case $m in bare) label="bare INSERT, no salt or commitment (tps)" ;; plain) label="plain INSERT (tps)" ;; audit) label="\`audit_append\` (tps)" ;; diy) label="DIY chain (tps)" ;; esac
		printf '| %s |' "$label"
		for c in $CLIENTS; do printf ' %s |' "$(tps "$m" "$c")"; done
		echo
	done
	printf '| **audit_append / plain** |'
	for c in $CLIENTS; do printf ' **%s** |' "$(ratio "$(tps audit "$c")" "$(tps plain "$c")")"; done
	echo
	printf '| audit_append / bare INSERT |'
	for c in $CLIENTS; do printf ' %s |' "$(ratio "$(tps audit "$c")" "$(tps bare "$c")")"; done
	echo
	printf '| DIY / plain |'
	for c in $CLIENTS; do printf ' %s |' "$(ratio "$(tps diy "$c")" "$(tps plain "$c")")"; done
	echo
	printf '| audit_append / DIY |'
	for c in $CLIENTS; do printf ' %s |' "$(ratio "$(tps audit "$c")" "$(tps diy "$c")")"; done
	echo
	cat <<EOF2

Both runs (tps, first / second):

| method | $(for c in $CLIENTS; do printf '%s client%s | ' "$c" "$([ "$c" = 1 ] || echo s)"; done | sed 's/ | $//') |
|---|$(for _ in $CLIENTS; do printf -- '---:|'; done)
| bare INSERT |$(for c in $CLIENTS; do printf ' %s |' "$(tps_cell bare "$c")"; done)
| plain INSERT |$(for c in $CLIENTS; do printf ' %s |' "$(tps_cell plain "$c")"; done)
| \`audit_append\` |$(for c in $CLIENTS; do printf ' %s |' "$(tps_cell audit "$c")"; done)
| DIY chain |$(for c in $CLIENTS; do printf ' %s |' "$(tps_cell diy "$c")"; done)
| sealer CPU during the audit_append runs (% of one core) |$(for c in $CLIENTS; do printf ' %s / %s |' "${SEALER_CPU[$c,1]}" "${SEALER_CPU[$c,2]}"; done)

After the runs, \`audit_seal()\` sealed the last $SEALED_LAST events and \`verify_audit_chain()\`
returned **is_valid = $W_VALID** with **$W_CHECKED events checked** in $W_BLOCKS blocks
($W_EVENTS events in the ledger, $L_SEALED of them sealed in $L_BLOCKS blocks; $W_UNSEALED
reported unsealed; problem: $W_PROBLEM). The DIY chain
written by the same concurrent clients: \`diy_verify()\` valid = $D_VALID, $D_CHECKED of
$D_ROWS rows checked. plain_events holds $P_ROWS rows.
${W_SHORT:+
$W_SHORT
}
## Verifying $EVENTS events

A database of its own: $BATCHES transactions of \`SELECT audit_append(…) FROM
generate_series(1, $PER)\` appended $EVENTS events in $T_FILL_AUDIT s; \`audit_seal()\` then
sealed what the sealer had not ($T_SEAL s; $V_BLOCKS blocks in all). \`diy_events\` got the same
number of rows through its trigger in $BATCHES \`INSERT … SELECT\` statements ($T_FILL_DIY s).
After \`VACUUM ANALYZE\` and \`CHECKPOINT\`, each check ran twice (alternating); the faster
run counts.

| method | rows | seconds (runs) | rows per second | verify_audit_chain() is faster by |
|---|---:|---:|---:|---:|
| the same check in PL/pgSQL with pgcrypto (\`bench/verify_plpgsql.sql\`: event bytes, leaves, commitments, Merkle roots, block hashes) | $SAME_CHECKED | $T_SAMEVERIFY (one run) | $(rate "$SAME_CHECKED" "$T_SAMEVERIFY") | **$SAME_RATIO×** |
| PL/pgSQL loop over \`diy_events\` in id order, pgcrypto \`digest\` per row (one hash per row, no Merkle tree) | $DV_CHECKED | $T_DIYVERIFY (${VT[diy,1]}, ${VT[diy,2]}) | $(rate "$DV_CHECKED" "$T_DIYVERIFY") | $VERIFY_RATIO× |
| \`SELECT * FROM verify_audit_chain()\` | $V_CHECKED | $T_VERIFY (${VT[steward,1]}, ${VT[steward,2]}) | $(rate "$V_CHECKED" "$T_VERIFY") | 1 |

\`verify_audit_chain()\`: is_valid = $V_VALID, $V_UNSEALED unsealed; \`diy_verify()\`: is_valid =
$DV_VALID.${V_SHORT:+ $V_SHORT} verify_audit_chain() recomputes two SHA-256 per event (the leaf and the payload's
commitment), the Merkle root of every block and the chain of block hashes; the loop
recomputes one digest per row. max_parallel_workers_per_gather = $MAX_PAR; in a run with
auto_explain on, verify_audit_chain()'s query over the events (the one calling
\`steward.audit_event_check\`, ${CHUNK_MS:-?} ms in that run) had $PARALLEL.
EOF2
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
	done
	printf 'verify\tsame_check\t%s\t%s\t%s\tseconds\n' "$SAME_CHECKED" "$T_SAMEVERIFY" "$T_SAMEVERIFY"
	printf 'verify\tdiy_loop\t%s\t%s\t%s,%s\tseconds\n' "$DV_CHECKED" "$T_DIYVERIFY" "${VT[diy,1]}" "${VT[diy,2]}"
	printf 'verify\tverify_audit_chain\t%s\t%s\t%s,%s\tseconds\n' "$V_CHECKED" "$T_VERIFY" "${VT[steward,1]}" "${VT[steward,2]}"
	meta() { printf 'meta\t%s\t-\t%s\t-\t-\n' "$1" "$2"; }
	meta duration "$DURATION"
	meta clients "$CLIENTS"
	meta events "$EVENTS"
	meta seal_interval "$SEAL_INTERVAL"
	meta fsync "$S_FSYNC"
	meta synchronous_commit "$S_SYNC"
	meta shared_buffers "$S_SHARED"
	meta pg_version "$("$PG_BIN/postgres" --version | awk '{print $3}')"
	meta source "$SOURCE"
	meta so_loaded "$SO_LOADED"
	meta load_at_start "$LOAD_AT_START"
	meta write_chain_valid "$W_VALID"
	meta write_events_checked "$W_CHECKED"
	meta write_events "$W_EVENTS"
	meta write_diy_valid "$D_VALID"
	meta verify_valid "$V_VALID"
	meta verify_diy_valid "$DV_VALID"
	meta server_crashes "${#CRASHED[@]}"
	meta so_replaced "$([ -n "$SO_NOTE" ] && echo yes || echo no)"
} >"$TSV"

section "report ($REPORT, $TSV)"
cat "$REPORT"
