# shellcheck shell=bash
# scripts/lib.sh: shared helpers for scripts/test.sh and scripts/demo.sh.
#
# Sourced, never run. Provides: installing missing Debian packages
# (steward_bootstrap), copying the source tree to a work dir and building and
# installing pg_steward from there (steward_prepare_source, steward_build,
# steward_install), and a throwaway PostgreSQL 15 cluster with its own data
# dir, unix socket dir and port (steward_cluster_start / steward_cluster_stop).
#
# As root, everything that touches a cluster or runs tests runs as the
# `postgres` OS user (initdb refuses root); as a normal user it runs as that
# user and privileged steps (apt-get, make install) go through sudo.

# The caller sets `set -euo pipefail`; keep it on here as well.
set -euo pipefail

STEWARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# PGSTEWARD_PG_BIN (its bin directory) or PG_CONFIG (its pg_config) points
# the scripts at another PostgreSQL 15 installation, for example a copy of
# Debian's in another directory: pg_steward is built with that pg_config,
# installed there, and its initdb, postgres, psql and pgbench run the
# clusters.  Default: Debian's.  PGSTEWARD_PG_BIN wins when both are set.
if [ -n "${PGSTEWARD_PG_BIN:-}" ] || [ -z "${PG_CONFIG:-}" ]; then
	PG_BIN="${PGSTEWARD_PG_BIN:-/usr/lib/postgresql/15/bin}"
	PG_CONFIG="$PG_BIN/pg_config"
else
	PG_CONFIG=$(command -v "$PG_CONFIG" || echo "$PG_CONFIG")
	[ -x "$PG_CONFIG" ] || { printf '!!! PG_CONFIG=%s is not an executable\n' "$PG_CONFIG" >&2; exit 1; }
	PG_BIN="$("$PG_CONFIG" --bindir)"
fi
# shellcheck disable=SC2034 # used by the scripts that source this file
PGXS_DIR="$(dirname "$PG_BIN")/lib/pgxs"

# runuser lives in /usr/sbin, which a normal user's PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
# Deterministic messages and sorting, whatever the caller's locale is.
export LC_ALL=C.UTF-8 LANG=C.UTF-8
unset LANGUAGE PGDATABASE PGSERVICE PGSERVICEFILE PGOPTIONS PGHOSTADDR PGPASSWORD PGDATA

STEWARD_PACKAGES=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	libpq-dev
	libssl-dev
	openssl
	postgresql-15-pgtap
	libtap-parser-sourcehandler-pgtap-perl
	libipc-run-perl
	libio-pty-perl
	perl
	tar
)

section() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf '!!! %s\n' "$*" >&2; }
die() {
	warn "$*"
	exit 1
}

steward_is_root() { [ "$(id -u)" -eq 0 ]; }

# The OS user that owns the work dirs, runs initdb/pg_ctl, builds and tests.
if steward_is_root; then
	STEWARD_RUN_USER=postgres
else
	STEWARD_RUN_USER="$(id -un)"
fi

# as_root CMD...: run CMD as root (directly, or through sudo).
as_root() {
	if steward_is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -- "$@"
	else
		die "need root for '$*': run as root or install sudo"
	fi
}

# as_user USER CMD...: run CMD as USER (runuser as root, sudo otherwise).
as_user() {
	local user=$1
	shift
	if [ "$user" = "$(id -un)" ]; then
		"$@"
	elif steward_is_root; then
		runuser -u "$user" -- "$@"
	else
		sudo -u "$user" -- "$@"
	fi
}

# as_run_user DIR CMD...: run CMD as $STEWARD_RUN_USER with DIR as cwd.
as_run_user() {
	local dir=$1
	shift
	(cd "$dir" && as_user "$STEWARD_RUN_USER" "$@")
}

# ---------------------------------------------------------------- bootstrap

steward_pkg_installed() {
	local status
	status="$(dpkg -s "$1" 2>/dev/null || true)"
	[[ $status == *"Status: install ok installed"* ]]
}

# STEWARD_SETUP_LOG: when set (scripts/demo.sh sets it), the output of
# apt-get, make and make install goes to that file only, and a failing step
# shows the file's last lines; otherwise it goes to the terminal as well.
STEWARD_SETUP_LOG="${STEWARD_SETUP_LOG:-}"

# steward_setup_step LOG CMD...: run one setup step (see STEWARD_SETUP_LOG);
# its output is appended to LOG in any case.
steward_setup_step() {
	local log=$1 rc=0
	shift
	if [ -z "$STEWARD_SETUP_LOG" ]; then
		"$@" 2>&1 | tee -a "$log"
		return
	fi
	if [ "$log" = /dev/null ] || [ "$log" = "$STEWARD_SETUP_LOG" ]; then
		log=$STEWARD_SETUP_LOG
		"$@" >>"$log" 2>&1 || rc=$?
	else
		"$@" >>"$log" 2>&1 || rc=$?
		cat "$log" >>"$STEWARD_SETUP_LOG" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ]; then
		warn "failed (exit $rc); the last lines of $log:"
		tail -n 30 "$log" >&2 || true
	fi
	return "$rc"
}

steward_bootstrap() {
	section "checking packages"
	local missing=() p
	for p in "${STEWARD_PACKAGES[@]}"; do
		steward_pkg_installed "$p" || missing+=("$p")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		note "all ${#STEWARD_PACKAGES[@]} packages already installed"
	else
		section "installing packages: ${missing[*]}"
		steward_setup_step "${STEWARD_SETUP_LOG:-/dev/null}" \
			as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		steward_setup_step "${STEWARD_SETUP_LOG:-/dev/null}" \
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
	fi
	[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found after installing packages"
	id -u "$STEWARD_RUN_USER" >/dev/null 2>&1 ||
		die "OS user '$STEWARD_RUN_USER' does not exist (postgresql-15 creates it)"
}

# ---------------------------------------------------------------- work dir

# steward_reset_workdir DIR: stop a cluster left running in DIR/data by an
# earlier run, wipe DIR and recreate it, owned by $STEWARD_RUN_USER.
steward_reset_workdir() {
	local dir=$1
	steward_cluster_stop "$dir/data" immediate
	if [ -e "$dir" ]; then
		rm -rf "$dir" 2>/dev/null || as_root rm -rf "$dir"
	fi
	mkdir -p "$dir"
	if steward_is_root; then
		chown "$STEWARD_RUN_USER": "$dir"
	fi
}

# steward_prepare_source WORKDIR: copy the repository (without .git and
# build/test leftovers) to WORKDIR/src, owned by $STEWARD_RUN_USER.
steward_prepare_source() {
	local src="$1/src"
	section "copying source tree to $src"
	mkdir -p "$src"
	tar -C "$STEWARD_ROOT" \
		--exclude=.git --exclude=./results --exclude=./tmp_check \
		--exclude=./tmp_check_iso --exclude=./output_iso \
		--exclude=./regression.diffs --exclude=./regression.out \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		-cf - . | tar -C "$src" --no-same-owner -xf -
	if steward_is_root; then
		chown -R "$STEWARD_RUN_USER": "$src"
	fi
}

# steward_make_var SRC NAME: print the value of make variable NAME.
steward_make_var() {
	local src=$1 name=$2 mk
	mk="$(mktemp)"
	# shellcheck disable=SC2016 # $(...) is for make, not the shell
	printf 'print-var-%%:\n\t@echo $($*)\n' >"$mk"
	make -s --no-print-directory -C "$src" -f Makefile -f "$mk" \
		PG_CONFIG="$PG_CONFIG" "print-var-$name" 2>/dev/null || true
	rm -f "$mk"
}

# steward_build SRC: build as $STEWARD_RUN_USER; output also in SRC/../build.log.
steward_build() {
	local src=$1
	section "building pg_steward in $src"
	rm -f "$src/../build.log"
	steward_setup_step "$src/../build.log" \
		as_run_user "$src" make -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
}

# steward_install SRC: make install, as root.
steward_install() {
	local src=$1
	section "installing pg_steward into $("$PG_CONFIG" --pkglibdir)"
	rm -f "$src/../install.log"
	steward_setup_step "$src/../install.log" \
		as_root make -C "$src" PG_CONFIG="$PG_CONFIG" install
}

# ---------------------------------------------------------------- cluster

# Paths of the cluster in a work dir.
steward_cluster_paths() {
	STEWARD_DATA="$1/data"
	STEWARD_SOCK="$1/sock"
	STEWARD_LOG="$1/postgres.log"
}

# steward_cluster_stop DATADIR [MODE]: stop the cluster in DATADIR if one is
# running there (as the data dir's owner). Silent when nothing runs.
steward_cluster_stop() {
	local data=$1 mode=${2:-fast} owner
	[ -d "$data" ] || return 0
	owner="$(stat -c %U "$data")"
	if as_user "$owner" "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		section "stopping cluster in $data ($mode)"
		as_user "$owner" "$PG_BIN/pg_ctl" -D "$data" -m "$mode" -w -t 60 stop ||
			warn "could not stop the cluster in $data"
	fi
	return 0
}

# steward_cluster_start WORKDIR PORT: initdb a fresh cluster in WORKDIR/data
# and start it, listening only on a unix socket in WORKDIR/sock.
# The work dir must have been reset by steward_reset_workdir.
steward_cluster_start() {
	local dir=$1 port=$2
	steward_cluster_paths "$dir"
	section "initializing cluster in $STEWARD_DATA"
	as_run_user "$dir" mkdir -p "$STEWARD_SOCK"
	if ! as_run_user "$dir" "$PG_BIN/initdb" -D "$STEWARD_DATA" --auth=trust \
		-U postgres --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		warn "initdb failed"
		return 1
	fi
	cat >>"$STEWARD_DATA/postgresql.conf" <<EOF

# ---- throwaway cluster settings (scripts/lib.sh) ----
shared_preload_libraries = 'pg_steward'
search_path = '"\$user", public, steward'
listen_addresses = ''
unix_socket_directories = '$STEWARD_SOCK'
port = $port
max_worker_processes = 16
logging_collector = off
fsync = off
EOF
	section "starting cluster on port $port (socket dir $STEWARD_SOCK)"
	if ! as_run_user "$dir" "$PG_BIN/pg_ctl" -D "$STEWARD_DATA" -l "$STEWARD_LOG" \
		-w -t 60 start >"$dir/pg_ctl.log" 2>&1; then
		cat "$dir/pg_ctl.log" >&2
		warn "the cluster did not start; end of $STEWARD_LOG:"
		tail -n 40 "$STEWARD_LOG" >&2 || true
		return 1
	fi
	if ! "$PG_BIN/pg_isready" -q -h "$STEWARD_SOCK" -p "$port" -U postgres \
		-d postgres -t 30; then
		warn "the cluster started but does not accept connections; end of $STEWARD_LOG:"
		tail -n 40 "$STEWARD_LOG" >&2 || true
		return 1
	fi
	note "server log: $STEWARD_LOG"
}
