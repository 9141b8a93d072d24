#!/usr/bin/env bash
# scripts/advance_xid.sh DATADIR XID8
#
# Prepares a stopped PostgreSQL cluster to receive a pg_steward audit ledger
# restored with pg_dump/pg_restore from another cluster: moves the
# cluster's next transaction ID to XID8 (a 64-bit transaction ID, as
# pg_current_xact_id() prints it on the source cluster after the dump, or
# as the error of audit_append/audit_seal on the target prints it).
#
# Sealing compares the transaction ids of events with the last block's
# snapshot; the restored ledger carries the source cluster's ids, so new
# events must get higher ones.  Like pg_upgrade, this freezes every row of
# every database (VACUUM FREEZE, starting the cluster on a private socket
# for that), then runs pg_resetwal -e/-x and creates the transaction-status
# (pg_xact) segment that the new id needs.  Only for a cluster that is
# stopped; run it as the cluster's owner.  It never moves the counter
# backwards.
set -euo pipefail

die() { echo "advance_xid: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 DATADIR XID8"
datadir=$1
target=$2
[[ "$target" =~ ^[0-9]+$ ]] || die "XID8 must be a number, got '$target'"
[ -f "$datadir/PG_VERSION" ] || die "$datadir is not a PostgreSQL data directory"
[ ! -f "$datadir/postmaster.pid" ] || die "the cluster in $datadir is running; stop it first"

bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/pg_resetwal" ] || bindir=/usr/lib/postgresql/$(cat "$datadir/PG_VERSION")/bin
resetwal=$bindir/pg_resetwal
controldata=$bindir/pg_controldata
[ -x "$resetwal" ] || die "pg_resetwal not found (install postgresql-$(cat "$datadir/PG_VERSION"))"

# the cluster's current next transaction id, as epoch:xid
next=$("$controldata" "$datadir" | sed -n 's/^Latest checkpoint.s NextXID: *//p')
[ -n "$next" ] || die "could not read NextXID from pg_controldata"
cur_epoch=${next%%:*}
cur_xid=${next##*:}
current=$(( (cur_epoch << 32) + cur_xid ))

epoch=$(( target >> 32 ))
xid=$(( target & 0xFFFFFFFF ))
if [ "$xid" -lt 3 ]; then xid=3; fi          # below FirstNormalTransactionId
wanted=$(( (epoch << 32) + xid ))
if [ "$wanted" -le "$current" ]; then
	echo "advance_xid: the cluster is already at $current (>= $wanted); nothing to do"
	exit 0
fi

# Every row must be frozen first, as pg_upgrade does before the same step:
# an unfrozen row's transaction id would otherwise be compared with ids more
# than 2^31 away (or in another epoch) and the row would vanish.  Start the
# cluster on a private socket, VACUUM FREEZE every database, stop it.
sockdir=$(mktemp -d)
trap 'rm -rf "$sockdir"' EXIT
"$bindir/pg_ctl" -D "$datadir" -w -l "$sockdir/freeze.log" \
	-o "-c listen_addresses='' -c unix_socket_directories='$sockdir' -p 54999 -c shared_preload_libraries=''" start >/dev/null ||
	die "could not start the cluster to freeze it (log: $sockdir/freeze.log)"
frozen=1
"$bindir/vacuumdb" -h "$sockdir" -p 54999 --all --freeze --quiet || frozen=0
"$bindir/pg_ctl" -D "$datadir" -w -m fast stop >/dev/null
[ "$frozen" = 1 ] || die "VACUUM FREEZE failed; the transaction counter was not moved"

"$resetwal" -D "$datadir" -e "$epoch" -x "$xid"

# one pg_xact segment covers 32 pages of 32768 transactions
segment=$(printf '%04X' $(( xid / 1048576 )))
if [ ! -f "$datadir/pg_xact/$segment" ]; then
	dd if=/dev/zero of="$datadir/pg_xact/$segment" bs=262144 count=1 status=none
fi
echo "advance_xid: next transaction id of $datadir is now $wanted (epoch $epoch, xid $xid)"
