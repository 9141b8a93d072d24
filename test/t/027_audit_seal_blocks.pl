# What a seal writes (src/audit/seal.c), recomputed from the events as
# docs/audit.md specifies it: every block's entries are those of the events
# visible in its snapshot and not in the previous block's, in (xid, id)
# order, each id, xid, time (microseconds since 1970) and
# sha256(0x00 || audit_event_bytes(id)); its hash is the documented format
# 2 hash; the cuts of a backlog fall where pg_steward.audit_block_max_events
# puts them (between transactions, never inside one).  The ledger has
# several partitions, one of them of another table access method than heap
# (read whole), a transaction that commits after a later one, a backlog
# larger than what a seal keeps before it drops the rows of later blocks,
# partitions without an xid index (read whole), and row-level security.  No sealer runs (pg_steward.audit_seal_interval =
# 0): the test seals.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/test/perl";
use StewardBlocks;

my $node = PostgreSQL::Test::Cluster->new('seal');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.audit_seal_interval = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');

# one transaction appending n events
sub txn
{
	my ($n, $tag) = @_;
	$node->safe_psql('postgres',
		"SELECT count(audit_append('SEALTEST', 'x', '$tag' || g)) FROM generate_series(1, $n) g");
}

sub seal
{
	my ($max) = @_;
	return $node->safe_psql('postgres',
		"SET pg_steward.audit_block_max_events = $max; SELECT audit_seal()");
}

sub last_id
{
	return $node->safe_psql('postgres', 'SELECT max(id) FROM steward.audit_events');
}

sub just_after
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT quote_literal(event_time + interval '1 millisecond') FROM steward.audit_events WHERE id = $id");
}

# blocks whose entries are not what the events and the snapshots make them
my $entries_sql = q{
SELECT coalesce(string_agg(b.block_id::text, ',' ORDER BY b.block_id), '')
  FROM steward.audit_blocks b
  LEFT JOIN steward.audit_blocks p ON p.block_id = b.block_id - 1
 WHERE b.entries IS DISTINCT FROM coalesce(
         (SELECT string_agg(int8send(e.id) || int8send(e.xid::text::bigint)
                            || int8send((extract(epoch FROM e.event_time) * 1000000)::bigint)
                            || sha256('\x00'::bytea || audit_event_bytes(e.id)),
                            ''::bytea ORDER BY e.xid, e.id)
            FROM steward.audit_events e
           WHERE pg_visible_in_snapshot(e.xid, b.snapshot)
             AND (p.block_id IS NULL OR NOT pg_visible_in_snapshot(e.xid, p.snapshot))), ''::bytea)
    OR b.event_count * 56 <> length(b.entries)
    OR b.first_position <> coalesce(p.first_position + p.event_count, 1)
};
# blocks whose hash is not the documented format 2 hash
my $hash_sql = qq{
SELECT coalesce(string_agg(block_id::text, ',' ORDER BY block_id), '')
  FROM steward.audit_blocks
 WHERE format <> 2 OR block_hash <> $BLOCK_HASH_SQL
};

# verify_audit_chain (which reads heap partitions only, so not while one
# is of another access method) checks the Merkle roots too
sub check_blocks
{
	my ($what, $no_verify) = @_;
	is($node->safe_psql('postgres', $entries_sql), '', "$what: every block's entries are its events'");
	is($node->safe_psql('postgres', $hash_sql), '', "$what: every block's hash is the documented one");
	return if $no_verify;
	is($node->safe_psql('postgres',
			q{SELECT is_valid || '|' || events_unsealed || '|' || coalesce(problem, '') FROM verify_audit_chain()}),
		'true|0|', "$what: the chain verifies, nothing unsealed");
}

# the event counts of the blocks after block $after
sub counts
{
	my ($after) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(event_count::text, ',' ORDER BY block_id) FROM steward.audit_blocks WHERE block_id > $after");
}

sub head
{
	return $node->safe_psql('postgres', 'SELECT coalesce(max(block_id), 0) FROM steward.audit_blocks');
}

my $year = $node->safe_psql('postgres', q{SELECT extract(year FROM now() AT TIME ZONE 'UTC')::int});
my $next_year = qq{make_timestamptz($year + 1, 1, 1, 0, 0, 0, 'UTC')};

# --- events in three partitions, one of them not a heap -----------------------
# the partition of this year is cut short twice, so that the next events go
# to a new partition each time
my $year_part = "audit_events_$year";
my $year_from = $node->safe_psql('postgres', qq{
SELECT quote_literal(substring(pg_get_expr(relpartbound, oid) FROM 'FROM \\(''([^'']*)''\\)'))
  FROM pg_class WHERE oid = 'steward.$year_part'::regclass});
txn(2, 'd1-');
txn(1, 'd2-');
txn(3, 'd3-');
my $from_a = just_after(last_id());
$node->safe_psql('postgres', qq{
ALTER TABLE steward.audit_events DETACH PARTITION steward.$year_part;
ALTER TABLE steward.audit_events ATTACH PARTITION steward.$year_part FOR VALUES FROM ($year_from) TO ($from_a);
CREATE TABLE steward.audit_events_a PARTITION OF steward.audit_events FOR VALUES FROM ($from_a) TO ($next_year)});
txn(1, 'a1-');
txn(2, 'a2-');
my $from_b = just_after(last_id());
$node->safe_psql('postgres', qq{
CREATE ACCESS METHOD heap_too TYPE TABLE HANDLER heap_tableam_handler;
ALTER TABLE steward.audit_events DETACH PARTITION steward.audit_events_a;
ALTER TABLE steward.audit_events ATTACH PARTITION steward.audit_events_a FOR VALUES FROM ($from_a) TO ($from_b);
CREATE TABLE steward.audit_events_b PARTITION OF steward.audit_events
    FOR VALUES FROM ($from_b) TO ($next_year) USING heap_too});
txn(2, 'b1-');
txn(2, 'b2-');
is($node->safe_psql('postgres', q{
SELECT string_agg(DISTINCT c.relname || ':' || a.amname, ',' ORDER BY c.relname || ':' || a.amname)
  FROM steward.audit_events e JOIN pg_class c ON c.oid = e.tableoid JOIN pg_am a ON a.oid = c.relam}),
	"audit_events_$year:heap,audit_events_a:heap,audit_events_b:heap_too",
	'events in three partitions, one of another access method');

# a transaction that takes its xid now and commits after later ones
my $late = $node->background_psql('postgres');
$late->query_safe(q{BEGIN; SELECT count(audit_append('SEALTEST', 'x', 'late' || g)) FROM generate_series(1, 2) g});
txn(1, 'f1-');
txn(4, 'f2-');
txn(1, 'f3-');

# --- a backlog cut into blocks of at most 3 events, between transactions ---
is(seal(3), '19', 'the seal takes every committed event, not the open transaction');
is(counts(0), '3,3,3,4,5,1', 'cut between transactions once a block holds 3 events');
check_blocks('cut backlog', 1);

$late->query_safe('COMMIT');
$late->quit;
txn(1, 'g1-');
my $before = head();
is(seal(3), '3', 'the transaction that committed after later ones is sealed next');
is(counts($before), '3', 'in one block with the newer event');
check_blocks('late commit', 1);
$node->safe_psql('postgres', 'ALTER TABLE steward.audit_events_b SET ACCESS METHOD heap');
check_blocks('the partition made a heap');

# the same seal once more, with nothing new: no block
is(seal(3), '0', 'nothing new, no block');

# --- a backlog larger than what a seal keeps at once ---------------------------
# 40 transactions of 50 events with blocks of at most 120: each block is
# cut after the third transaction (150 events), and the seal drops what
# falls after a block from 1144 rows kept on
for my $i (1 .. 40)
{
	txn(50, "h$i-");
}
$before = head();
is(seal(120), '2000', 'a backlog of 2000 events');
is(counts($before), join(',', (150) x 13) . ',50', 'cut every third transaction');
check_blocks('large backlog');

# one transaction larger than a block, and than what a seal keeps at once
txn(3000, 'big-');
txn(5, 'small-');
$before = head();
is(seal(100), '3005', 'a transaction larger than a block');
is(counts($before), '3000,5', 'one transaction is never split');
check_blocks('one large transaction');

# --- partitions without an xid index are read whole ------------------------
$node->safe_psql('postgres', 'DROP INDEX steward.audit_events_xid_idx');
txn(2, 'i1-');
txn(2, 'i2-');
$before = head();
is(seal(3), '4', 'sealed without an xid index');
is(counts($before), '4', 'in one block');
check_blocks('no xid index');

# --- row-level security on the ledger ----------------------------------------
# the seal reads as the owner of schema steward, here a superuser, whom row
# security does not apply to (a seal as a role it applies to is refused,
# naming audit_seal)
txn(1, 'r-');
$node->safe_psql('postgres', q{
ALTER TABLE steward.audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE steward.audit_events FORCE ROW LEVEL SECURITY});
is(seal(3), '1', 'the owner seals under row-level security');
$node->safe_psql('postgres', q{
ALTER TABLE steward.audit_events NO FORCE ROW LEVEL SECURITY;
ALTER TABLE steward.audit_events DISABLE ROW LEVEL SECURITY});
check_blocks('row-level security');

# --- one session sealing again on top of its own block -------------------------
# the block a session wrote last is not hashed again when it is stored
# unchanged; changed, or rolled back, it is checked in full
my $sealer = $node->background_psql('postgres', on_error_stop => 0);

# a query in that session; its messages are left in $sealer->{stderr}
sub sq
{
	$sealer->{stderr} = '';
	return $sealer->query($_[0]);
}
txn(2, 's1-');
is(sq('SELECT audit_seal()'), '2', 'a session seals');
txn(1, 's2-');
sq('SET client_min_messages = debug2');
is(sq('SELECT audit_seal()'), '1', 'and seals again on top of its own block');
like($sealer->{stderr}, qr/newest block \d+ is the one this session wrote: not hashed again/,
	'which it does not hash again');
sq('RESET client_min_messages');
check_blocks('a session sealing twice');

# a seal rolled back: its block is not in the table, the one before is the head
txn(1, 's3-');
$before = head();
sq('BEGIN');
is(sq('SELECT audit_seal()'), '1', 'a seal in a transaction');
sq('ROLLBACK');
is(head(), $before, 'rolled back: its block is gone');
sq('SET client_min_messages = debug2');
is(sq('SELECT audit_seal()'), '1', 'the same session seals the event again');
unlike($sealer->{stderr}, qr/not hashed again/, 'after checking the head in full');
sq('RESET client_min_messages');
check_blocks('after a rolled back seal');

# the session's own block changed behind its back stops its next seal
txn(1, 's4-');
$node->safe_psql('postgres', q{
SET session_replication_role = replica;
UPDATE steward.audit_blocks SET entries = overlay(entries PLACING '\xff'::bytea FROM 30 FOR 1)
 WHERE block_id = (SELECT max(block_id) FROM steward.audit_blocks)});
sq('SELECT audit_seal()');
like($sealer->{stderr}, qr/the audit ledger is damaged: its newest block \d+ does not verify/,
	'the session does not seal on top of its own block once that was changed');
like($sealer->{stderr}, qr/its (entries do not match its Merkle root|hash does not match its header)/,
	'found by hashing it again');
$sealer->quit;

done_testing();
