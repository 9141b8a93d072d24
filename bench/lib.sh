# bench/lib.sh: what the bench scripts share (sourced after scripts/lib.sh).

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
