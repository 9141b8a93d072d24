#!/usr/bin/env bash
# bench/jobs_bench.sh: backfill and copy_table against their baselines,
# measured in one run on one throwaway cluster.
#
#   backfill   vs  one plain UPDATE of all rows (the limit), and the loop
#                  UPDATE ... WHERE id IN (SELECT id ... WHERE col IS NULL LIMIT n)
#   copy_table vs  one INSERT ... SELECT of the same rows; copy_table runs
#                  under a concurrent pgbench write load on the source, and
#                  the source and the copy are compared row by row afterwards
#
# Every method gets a fresh copy of the same table (vacuumed, checkpointed).
# Wall-clock times; the machine is shared, so read the ratios, not the seconds.
# ROWS (default 2000000) sets the table size; the report goes to
# bench/results/jobs.md and to standard output.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"

ROWS="${ROWS:-2000000}"
BATCH=10000
LOAD_SECONDS="${LOAD_SECONDS:-10}"
WORKDIR="${PGSTEWARD_BENCH_DIR:-/tmp/pg_steward-bench}"
PORT="${PGSTEWARD_PORT:-54331}"
REPORT="$ROOT/bench/results/jobs.md"
steward_cluster_paths "$WORKDIR"

cleanup() { steward_cluster_stop "$STEWARD_DATA" fast || true; }
trap cleanup EXIT

steward_bootstrap
steward_reset_workdir "$WORKDIR"
steward_prepare_source "$WORKDIR"
steward_build "$WORKDIR/src" || die "build failed"
steward_install "$WORKDIR/src" || die "install failed"
steward_cluster_start "$WORKDIR" "$PORT" || die "cluster did not start"

psql_q() { PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$STEWARD_SOCK" -p "$PORT" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
command -v bc >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bc >/dev/null

section "preparing $ROWS rows"
psql_q <<SQL
CREATE EXTENSION pg_steward;
CREATE TABLE base AS SELECT g::bigint AS id, (g % 1000)::int AS v, NULL::int AS w,
                            '2025-01-01'::timestamptz + g * interval '10 seconds' AS at,
                            md5(g::text) AS note
                       FROM generate_series(1, $ROWS) g;
SQL

fresh() { # fresh TABLE: a new copy of base with a primary key
	psql_q <<SQL
DROP TABLE IF EXISTS $1 CASCADE;
CREATE TABLE $1 AS TABLE base;
ALTER TABLE $1 ADD PRIMARY KEY (id);
VACUUM ANALYZE $1;
CHECKPOINT;
SQL
}

section "plain UPDATE (one statement)"
fresh t_update
t0=$(now); psql_q -c "UPDATE t_update SET w = v * 2"; t1=$(now)
T_UPDATE=$(secs "$t0" "$t1")

section "the loop: UPDATE ... WHERE id IN (SELECT id ... WHERE w IS NULL LIMIT $BATCH)"
fresh t_loop
t0=$(now)
psql_q <<SQL
DO \$\$
DECLARE n bigint;
BEGIN
    LOOP
        UPDATE t_loop SET w = v * 2 WHERE id IN (SELECT id FROM t_loop WHERE w IS NULL LIMIT $BATCH);
        GET DIAGNOSTICS n = ROW_COUNT;
        COMMIT;
        EXIT WHEN n = 0;
    END LOOP;
END \$\$;
SQL
t1=$(now)
T_LOOP=$(secs "$t0" "$t1")

section "backfill job (batch_size $BATCH, target_batch_time 1s, no pause)"
fresh t_backfill
t0=$(now)
JOB=$(psql_q -c "SELECT backfill('t_backfill', 'w = v * 2', batch_size => $BATCH, target_batch_time => '1s')")
STATE=$(psql_q -c "SELECT job_wait($JOB)")
t1=$(now)
T_BACKFILL=$(secs "$t0" "$t1")
read -r BF_BATCHES BF_MAXBATCH BF_LASTSIZE <<<"$(psql_q -F ' ' -c "SELECT batches, round(max_batch_ms), batch_size FROM job_status($JOB)")"
BF_LEFT=$(psql_q -c "SELECT count(*) FROM t_backfill WHERE w IS DISTINCT FROM v * 2")
[ "$STATE" = succeeded ] || die "backfill ended $STATE"

section "INSERT ... SELECT into a partitioned table (one statement)"
make_target() {
	psql_q <<SQL
DROP TABLE IF EXISTS $1 CASCADE;
CREATE TABLE $1 (id bigint NOT NULL, v int, w int, at timestamptz NOT NULL, note text,
                 PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE ${1}_a PARTITION OF $1 FOR VALUES FROM ('2025-01-01') TO ('2025-04-01');
CREATE TABLE ${1}_b PARTITION OF $1 FOR VALUES FROM ('2025-04-01') TO ('2025-07-01');
CREATE TABLE ${1}_c PARTITION OF $1 FOR VALUES FROM ('2025-07-01') TO ('2026-01-01');
CREATE TABLE ${1}_d PARTITION OF $1 FOR VALUES FROM ('2026-01-01') TO ('2100-01-01');
CHECKPOINT;
SQL
}
fresh src_insert; make_target dst_insert
t0=$(now); psql_q -c "INSERT INTO dst_insert SELECT * FROM src_insert"; t1=$(now)
T_INSERT=$(secs "$t0" "$t1")

section "copy_table under a pgbench write load ($LOAD_SECONDS s, 4 clients)"
fresh src_copy; make_target dst_copy
cat > "$WORKDIR/writes.sql" <<SQL
\set id random(1, $ROWS)
INSERT INTO src_copy VALUES (:id + $ROWS, 1, NULL, now(), 'new') ON CONFLICT DO NOTHING;
UPDATE src_copy SET note = 'changed' WHERE id = :id;
DELETE FROM src_copy WHERE id = (:id * 7) % $ROWS + 1;
SQL
t0=$(now)
JOB=$(psql_q -c "SELECT copy_table('src_copy', 'dst_copy', batch_size => $BATCH)")
"$PG_BIN/pgbench" -n -h "$STEWARD_SOCK" -p "$PORT" -U postgres -c 4 -j 2 -T "$LOAD_SECONDS" \
	-f "$WORKDIR/writes.sql" postgres >"$WORKDIR/pgbench.log" 2>&1
LOAD_END=$(psql_q -c "SELECT clock_timestamp()")
STATE=$(psql_q -c "CALL job_await($JOB)")
t1=$(now)
T_COPY=$(secs "$t0" "$t1")
TPS=$(grep -oE 'tps = [0-9.]+' "$WORKDIR/pgbench.log" | head -1 | awk '{printf "%.0f", $3}')
[ "$STATE" = succeeded ] || die "copy_table ended $STATE: $(psql_q -c "SELECT last_error FROM job_status($JOB)")"
LOAD_COVERED=$(psql_q -c "SELECT finished_at > '$LOAD_END'::timestamptz FROM job_status($JOB)")
LOST=$(psql_q -c "SELECT count(*) FROM (SELECT * FROM src_copy EXCEPT SELECT * FROM dst_copy) d")
EXTRA=$(psql_q -c "SELECT count(*) FROM (SELECT * FROM dst_copy EXCEPT SELECT * FROM src_copy) d")
COPY_ROWS=$(psql_q -c "SELECT count(*) FROM dst_copy")

BF_RATIO=$(ratio "$T_UPDATE" "$T_BACKFILL")
LOOP_RATIO=$(ratio "$T_UPDATE" "$T_LOOP")
COPY_RATIO=$(ratio "$T_COPY" "$T_INSERT")
CORES=$(nproc)

cat > "$REPORT" <<EOF2
# Jobs benchmark

\`bench/jobs_bench.sh\`, $(date -u +%Y-%m-%d), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'),
$CORES cores, $ROWS rows, default settings of a throwaway cluster (fsync off). Wall-clock
seconds of one run; every method started on a fresh, vacuumed copy of the same table.

## Backfill: \`SET w = v * 2\` on every row

| method | seconds | throughput vs one UPDATE |
|---|---:|---:|
| one plain \`UPDATE\` (holds every row lock until it ends) | $T_UPDATE | 1.00 |
| loop \`UPDATE … WHERE id IN (SELECT id … WHERE w IS NULL LIMIT $BATCH)\` | $T_LOOP | $LOOP_RATIO |
| \`backfill()\` job, batch_size $BATCH, target_batch_time 1s, no pause | $T_BACKFILL | **$BF_RATIO** |

The backfill ran $BF_BATCHES batches; its longest batch held its row locks for
$BF_MAXBATCH ms (target 1000 ms); its last batch size was $BF_LASTSIZE; rows left
unchanged: $BF_LEFT.

## Copy into a partitioned table

| method | seconds | time vs one INSERT … SELECT |
|---|---:|---:|
| one \`INSERT … SELECT\` (no concurrent writes) | $T_INSERT | 1.00 |
| \`copy_table()\` job while pgbench writes to the source ($TPS tps for $LOAD_SECONDS s) | $T_COPY | $COPY_RATIO |

After the job: $COPY_ROWS rows in the copy; rows of the source missing from the
copy: **$LOST**; rows in the copy that the source does not have: **$EXTRA**
(the write load ended before the job did: $LOAD_COVERED).
EOF2

section "report ($REPORT)"
cat "$REPORT"
