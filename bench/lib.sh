# shellcheck shell=bash
# bench/lib.sh: what the bench scripts share (sourced after scripts/lib.sh).
#
#   bench_start          build and install this tree (or take the installed
#                        build), start the throwaway cluster
#   psql_db, timed_query psql into a database; one statement timed with
#                        psql's \timing, with the session's peak memory
#   watch_start, mark,   the machine's load while the script runs: every
#   watch_stop,          WATCH_INTERVAL seconds (default 1) the load average,
#   watch_summary        the CPU time of the whole machine (/proc/stat) and
#                        that of this benchmark (its cluster's processes and
#                        the processes of the script's own session), summed
#                        per section named with mark
#   check_ok, check_fail the correctness checks of a run: a failed one is
#   checks_tsv           reported loudly, recorded, and makes the script
#                        exit with status 3 at its end (checks_exit)
#   baseline_schema,     the tables and statements of the writing benchmark
#   method_sql, ...      and of bench/profile.sh, in one place
#   gen_ledger           a ledger of N events, fast (see there)

# bench_start: build and install pg_steward from a copy of the tree (or,
# with BENCH_BUILD=0, take the installed build), start the throwaway cluster
# in $WORKDIR on $PORT, and describe the build in $SOURCE and $SO_LOADED.
# Needs ROOT, WORKDIR, PORT, RESULTS_DIR, BENCH_BUILD and PG_CONFIG.
bench_start() {
	SOURCE="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	[ -z "$(git -C "$ROOT" status --porcelain -- src sql Makefile 'pg_steward--*.sql' 2>/dev/null)" ] ||
		SOURCE="$SOURCE plus local changes"
	SO="$("$PG_CONFIG" --pkglibdir)/pg_steward.so"

	steward_bootstrap
	steward_reset_workdir "$WORKDIR"
	mkdir -p "$RESULTS_DIR"
	if [ "$BENCH_BUILD" = 1 ]; then
		steward_prepare_source "$WORKDIR"
		steward_build "$WORKDIR/src" || die "build failed"
		steward_install "$WORKDIR/src" || die "install failed"
	else
		[ -f "$SO" ] || die "BENCH_BUILD=0, but pg_steward is not installed ($SO)"
		section "BENCH_BUILD=0: benchmarking the installed pg_steward, no build, no install"
	fi
	steward_cluster_start "$WORKDIR" "$PORT" || die "cluster did not start"
	# The server has loaded pg_steward.so (shared_preload_libraries); its backends
	# and workers inherit that build for the whole run, whatever is installed later.
	SO_SUM=$(md5sum <"$SO")
	SO_LOADED="pg_steward.so of $(date -u -r "$SO" '+%Y-%m-%d %H:%M:%S UTC'), md5 ${SO_SUM:0:8}"
	[ "$BENCH_BUILD" = 1 ] || SOURCE="the build installed in $(dirname "$SO") ($SO_LOADED); the tree is at $SOURCE"
}

# psql_db DB ARGS...: psql into database DB of the throwaway cluster, quiet,
# unaligned, stopping at the first error.  Needs STEWARD_SOCK and PORT.
psql_db() {
	local db=$1
	shift
	PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
		-h "$STEWARD_SOCK" -p "$PORT" -U postgres -d "$db" "$@"
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; } # secs T0 T1

# timed_query DB SQL: SQL (one statement) in a session of its own, timed by
# psql's \timing (the statement alone, not the connection); then the
# session's peak memory from /proc/self/status.  Sets Q_OUT (the
# statement's rows, space-separated columns), Q_SECS, Q_HWM (VmHWM, kB: the
# peak resident size, shared buffers it touched included) and Q_SHMEM
# (RssShmem at the end, kB: the shared memory it has touched).  Returns
# psql's status.
# shellcheck disable=SC2034 # Q_* are for the caller
timed_query() {
	local out rc=0
	out=$(psql_db "$1" -F ' ' -c '\timing on' -c "$2" -c '\timing off' \
		-c "SELECT '#mem', (regexp_match(s, 'VmHWM:\s+(\d+)'))[1], (regexp_match(s, 'RssShmem:\s+(\d+)'))[1]
		      FROM pg_catalog.pg_read_file('/proc/self/status') s" 2>"$WORKDIR/timed_query.err") || rc=$?
	Q_OUT=$(printf '%s\n' "$out" | grep -v -e '^Time: ' -e '^#mem ' || true)
	Q_SECS=$(printf '%s\n' "$out" | awk '/^Time: / { printf "%.3f", $2 / 1000; exit }')
	read -r _ Q_HWM Q_SHMEM <<<"$(printf '%s\n' "$out" | grep '^#mem ' || echo '- - -')"
	return "$rc"
}

# ------------------------------------------------------------ the machine's load

# watch_start: sample the machine every WATCH_INTERVAL seconds (1) into
# $WORKDIR/watch.tsv: time, load average (1 and 5 min), the machine's busy,
# idle and steal clock ticks (/proc/stat, all cores), and the clock ticks
# this benchmark has used since the start: the user and system time of the
# postmaster of the cluster and its children (STEWARD_DATA/postmaster.pid,
# or the file WATCH_PIDFILE names: a symbolic link to the running cluster's,
# say) and of every process of this script's session (pgbench, psql, make,
# valgrind), with the time of the children each has reaped, added up per
# process from sample to sample, so that clusters may start and stop
# meanwhile (a cluster stopped between two samples loses its last second).
# Needs WORKDIR and STEWARD_DATA or WATCH_PIDFILE.
watch_start() {
	WATCH_FILE="$WORKDIR/watch.tsv"
	WATCH_MARKS="$WORKDIR/marks.tsv"
	: >"$WATCH_FILE"
	: >"$WATCH_MARKS"
	awk -v sid="$(ps -o sid= -p $$ | tr -d ' ')" -v pidfile="${WATCH_PIDFILE:-$STEWARD_DATA/postmaster.pid}" \
		-v interval="${WATCH_INTERVAL:-1}" 'BEGIN {
		first = 1
		while (1) {
			"date +%s.%N" | getline t; close("date +%s.%N")
			getline la <"/proc/loadavg"; close("/proc/loadavg"); split(la, L, " ")
			getline st <"/proc/stat"; close("/proc/stat"); split(st, S, " ")
			busy = S[2] + S[3] + S[4] + S[7] + S[8]; idle = S[5] + S[6]; steal = S[9]
			pm = -1; if ((getline x <pidfile) > 0) pm = x + 0; close(pidfile)
			cmd = "cat /proc/[0-9]*/stat 2>/dev/null"
			while ((cmd | getline line) > 0) {
				split(line, a, " "); pid = a[1]; s = line; sub(/^.*\) /, "", s)
				# f[2] ppid, f[4] session, f[12] utime, f[13] stime, f[14] cutime, f[15] cstime
				if (split(s, f, " ") < 15 || !(pid == pm || f[2] == pm || f[4] == sid)) continue
				ticks = f[12] + f[13] + f[14] + f[15]
				if (pid in last) { if (ticks > last[pid]) ours += ticks - last[pid] }
				else if (!first) ours += ticks
				cur[pid] = ticks; curparent[pid] = f[2]
			}
			close(cmd)
			# a process gone: when the first of its ancestors still running is
			# counted here, that one now has all of its time in cutime and cstime
			# (through the ancestors gone with it), which was counted in part
			for (p in last) {
				if (p in cur) continue
				q = parent[p]
				while ((q in last) && !(q in cur)) q = parent[q]
				if (q in cur) ours -= last[p]
			}
			delete last; delete parent
			for (p in cur) { last[p] = cur[p]; parent[p] = curparent[p] }
			delete cur; delete curparent
			first = 0
			printf "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", t, L[1], L[2], busy, idle, steal, ours
			fflush()
			system("sleep " interval)
		}
	}' >>"$WATCH_FILE" 2>/dev/null &
	WATCH_PID=$!
}
# mark SECTION: the time from now to the next mark belongs to SECTION
# (sections of the same name are added up)
mark() { [ -z "${WATCH_MARKS:-}" ] || printf '%s\t%s\n' "$(now)" "$1" >>"$WATCH_MARKS"; }
watch_stop() {
	mark -
	if [ -n "${WATCH_PID:-}" ]; then
		kill "$WATCH_PID" 2>/dev/null || true
		wait "$WATCH_PID" 2>/dev/null || true
		WATCH_PID=
	fi
}
# watch_summary: one TSV line per section (in the order first marked):
# load, SECTION, seconds, the machine's busy cores (of all, steal not
# included), "load1_min,load1_max,busy,ours,others,steal", cores.  busy,
# ours (this benchmark), others (busy - ours) and steal are in cores
# (1.00 = one core busy the whole time).
watch_summary() {
	awk -F'\t' -v hz="$(getconf CLK_TCK)" '
		FNR == NR { mt[NR] = $1; mn[NR] = $2; nm = NR; next }
		{ st[++ns] = $1; l1[ns] = $2; bu[ns] = $4; id[ns] = $5; sl[ns] = $6; ou[ns] = $7 }
		END {
			for (i = 1; i < nm; i++) {
				name = mn[i]
				if (name == "-") continue
				if (!(name in seen)) { seen[name] = 1; order[++no] = name; lmin[name] = 1e9; lmax[name] = 0 }
				a = 0; b = 0
				for (k = 1; k <= ns; k++) {
					if (st[k] <= mt[i]) a = k
					if (st[k] <= mt[i + 1]) b = k
				}
				if (a == 0) a = 1
				if (b <= a) { b = a + 1; if (b > ns) continue }
				wall[name] += mt[i + 1] - mt[i]
				dt[name] += st[b] - st[a]
				dbusy[name] += bu[b] - bu[a]; dours[name] += ou[b] - ou[a]; dsteal[name] += sl[b] - sl[a]
				for (k = a; k <= b; k++) {
					if (l1[k] < lmin[name]) lmin[name] = l1[k]
					if (l1[k] > lmax[name]) lmax[name] = l1[k]
				}
			}
			for (j = 1; j <= no; j++) {
				name = order[j]
				if (dt[name] <= 0) continue
				busy = dbusy[name] / dt[name] / hz; ours = dours[name] / dt[name] / hz
				others = busy - ours; if (others < 0) others = 0
				printf "load\t%s\t%.0f\t%.2f\t%.2f,%.2f,%.2f,%.2f,%.2f,%.2f\tcores\n", name, wall[name], busy,
					lmin[name], lmax[name], busy, ours, others, dsteal[name] / dt[name] / hz
			}
		}' "$WATCH_MARKS" "$WATCH_FILE"
}

# ------------------------------------------------------------ correctness checks

CHECKS=()
CHECK_FAILURES=()
# check_ok NAME TEXT / check_fail NAME TEXT: the result of one check
check_ok() { CHECKS+=("$1	ok	$2"); }
check_fail() {
	CHECKS+=("$1	FAILED	$2")
	CHECK_FAILURES+=("$1: $2")
	warn "CHECK FAILED: $1: $2"
}
# check NAME TEXT CONDITION...: check_ok when the command CONDITION succeeds
check() {
	local name=$1 text=$2
	shift 2
	if "$@"; then check_ok "$name" "$text"; else check_fail "$name" "$text"; fi
}
# eqs A B [C D ...]: true when A = B (and C = D ...)
eqs() {
	while [ "$#" -ge 2 ]; do
		[ "$1" = "$2" ] || return 1
		shift 2
	done
}
# checks_tsv: the checks as TSV lines (check, NAME, -, ok|FAILED, TEXT, -)
checks_tsv() {
	local c
	for c in "${CHECKS[@]}"; do
		IFS=$'\t' read -r n r t <<<"$c"
		printf 'check\t%s\t-\t%s\t%s\t-\n' "$n" "$r" "$t"
	done
}
# checks_md: the checks as a Markdown list
checks_md() {
	local c
	for c in "${CHECKS[@]}"; do
		IFS=$'\t' read -r n r t <<<"$c"
		if [ "$r" = ok ]; then echo "- $n: ok ($t)"; else echo "- **$n: FAILED** ($t)"; fi
	done
}
# checks_exit: exit 3 when a check failed (after the report is written)
checks_exit() {
	if [ "${#CHECK_FAILURES[@]}" -gt 0 ]; then
		warn "${#CHECK_FAILURES[@]} correctness check(s) FAILED:"
		printf '!!!   %s\n' "${CHECK_FAILURES[@]}" >&2
		exit 3
	fi
}

# ------------------------------------------------------------ what the writers write

# The event every method writes: a patient id and a small JSON payload.
# ID is the id's expression (:id in pgbench, $1 in a prepared statement).
payload_sql() { echo "jsonb_build_object('patient', $1::int, 'field', 'dosage', 'old', '5mg', 'new', '10mg')"; }

# method_sql METHOD ID: the statement of one writing method, one line.
#   bare   INSERT into plain_events without salt and commitment
#   plain  the same row with the salt and commitment audit_append computes
#   audit  audit_append()
#   diy    the plain row into diy_events, chained by its trigger
method_sql() {
	local m=$1 id=$2 table=plain_events sql
	case $m in
	bare)
		sql="INSERT INTO plain_events (xid, event_time, event_type, action, resource_type, resource_id, actor,
			session_user_name, current_user_name, client_addr, application_name, payload)
			VALUES (pg_current_xact_id(), clock_timestamp(), 'APPLICATION', 'UPDATE', 'patient', $id::text,
			NULL, session_user, current_user, inet_client_addr(), current_setting('application_name'),
			$(payload_sql "$id")) RETURNING id;"
		;;
	plain | diy)
		[ "$m" = diy ] && table=diy_events
		sql="INSERT INTO $table (xid, event_time, event_type, action, resource_type, resource_id, actor,
			session_user_name, current_user_name, client_addr, application_name, commitment, salt, payload)
			SELECT pg_current_xact_id(), clock_timestamp(), 'APPLICATION', 'UPDATE', 'patient', $id::text,
			NULL, session_user, current_user, inet_client_addr(), current_setting('application_name'),
			sha256('\\x02'::bytea || s || convert_to(p::text, 'UTF8')), s, p
			FROM (SELECT gen_random_bytes(16) AS s, $(payload_sql "$id") AS p) x RETURNING id;"
		;;
	audit)
		sql="SELECT steward.audit_append('UPDATE', 'patient', $id::text, $(payload_sql "$id"));"
		;;
	*) die "method_sql: unknown method $m" ;;
	esac
	printf '%s\n' "$sql" | tr -s '\n\t' '  '
	echo
}

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

-- N chained rows at once, for the verification baseline: the rows the
-- trigger would write, chained in one loop instead of one trigger call each
-- (insert them with the trigger disabled).
CREATE FUNCTION diy_rows(n int) RETURNS SETOF diy_events LANGUAGE plpgsql AS \$\$
DECLARE
    r diy_events;
    prev bytea := coalesce((SELECT row_hash FROM diy_events ORDER BY id DESC LIMIT 1), $ZERO_HASH);
BEGIN
    FOR r IN
        SELECT nextval('diy_events_id_seq'), pg_current_xact_id(), clock_timestamp(), 'APPLICATION', 'UPDATE',
               'patient', g::text, NULL, session_user, current_user, inet_client_addr(),
               current_setting('application_name'), sha256('\\x02'::bytea || s || convert_to(p::text, 'UTF8')),
               s, p, NULL::bytea, NULL::bytea
          FROM generate_series(1, n) g,
               LATERAL (SELECT gen_random_bytes(16) AS s, $(payload_sql g) AS p) x
    LOOP
        r.prev_hash := prev;
        r.row_hash := digest(prev || $(diy_fields r), 'sha256');
        prev := r.row_hash;
        RETURN NEXT r;
    END LOOP;
END \$\$;
SQL
}

# ------------------------------------------------------------ a large ledger, fast

# gen_ledger DB N: append N events to the ledger of DB and seal them, in
# rounds of LEDGER_CHUNK events (default 100000) written by LEDGER_SESSIONS
# sessions at once (default: the number of cores), each round sealed into
# one block by audit_seal() while the next round is written: so a ledger of
# N events has N / LEDGER_CHUNK blocks whatever N is.  The events are those
# audit_append writes (the same columns, the commitment sha256(0x02 || salt
# || payload)), written by INSERT ... SELECT into steward.audit_events as its
# owner, several sessions at once; pgcrypto's gen_random_bytes alone costs
# about 6 us an event, so the salt here is md5 of the event's number (16
# bytes, verified like any salt).  Run it with the sealers off
# (pg_steward.audit_seal_interval = 0), so that each round makes one block.
gen_ledger() {
	local db=$1 n=$2 chunk=${LEDGER_CHUNK:-100000} par=${LEDGER_SESSIONS:-$(nproc)} done_n=0 this per s m pids
	while [ "$done_n" -lt "$n" ]; do
		this=$((n - done_n < chunk ? n - done_n : chunk))
		per=$(((this + par - 1) / par))
		pids=()
		# the previous round is sealed while this one is written: the seal's
		# snapshot, taken as it starts, sees none of this round's events
		if [ "$done_n" -gt 0 ]; then
			psql_db "$db" -c "SELECT steward.audit_seal()" >/dev/null &
			pids+=($!)
		fi
		for s in $(seq "$par"); do
			[ $(((s - 1) * per)) -lt "$this" ] || break
			m=$((s * per > this ? this - (s - 1) * per : per))
			psql_db "$db" -c "
INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, resource_type, resource_id, actor,
                                  session_user_name, current_user_name, client_addr, application_name,
                                  commitment, salt, payload)
SELECT nextval('steward.audit_events_id_seq'), pg_current_xact_id(), clock_timestamp(), 'APPLICATION',
       'UPDATE', 'patient', g::text, NULL, session_user, current_user, inet_client_addr(),
       nullif(current_setting('application_name'), ''),
       sha256('\\x02'::bytea || s || convert_to(p::text, 'UTF8')), s, p
  FROM generate_series(1, $m) g,
       LATERAL (SELECT decode(md5(g::text || ':' || $done_n + $s), 'hex') AS s, $(payload_sql g) AS p) x" &
			pids+=($!)
		done
		for s in "${pids[@]}"; do wait "$s" || die "gen_ledger: an INSERT into the ledger of $db, or a seal, failed"; done
		done_n=$((done_n + this))
	done
	psql_db "$db" -c "SELECT steward.audit_seal()" >/dev/null
}

# set_seal_interval VALUE: pg_steward.audit_seal_interval for the whole
# cluster (ALTER SYSTEM and reload; DEFAULT resets it); with 0 it waits
# until no sealer runs
set_seal_interval() {
	if [ "$1" = DEFAULT ]; then
		psql_db postgres -c "ALTER SYSTEM RESET pg_steward.audit_seal_interval" -c "SELECT pg_reload_conf()" >/dev/null
	else
		psql_db postgres -c "ALTER SYSTEM SET pg_steward.audit_seal_interval = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
	fi
	[ "$1" = 0 ] || return 0
	for _ in $(seq 100); do
		[ "$(psql_db postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward sealer'")" = 0 ] && return 0
		sleep 0.2
	done
	die "a sealer still runs 20 s after pg_steward.audit_seal_interval = 0"
}
