# The ledger tree under crashes and on a standby.  The tree's nodes are
# written by the seal in the transaction of its blocks, so a crash (kill -9
# of the sealer while writers append, which restarts every backend) never
# leaves blocks without their nodes or nodes without their blocks: after
# recovery the stored nodes are exactly the roots of their leaves, the
# ledger verifies, and a digest taken before the crash is extended by the
# tree after it.  A hot standby answers receipts and consistency proofs,
# the same as the primary's.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use lib "$ENV{TESTDIR}/test/perl";
use StewardTree;

my $node = PostgreSQL::Test::Cluster->new('tree');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.audit_seal_interval = 50
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');
sub sql { return $node->safe_psql('postgres', $_[0]); }

sub wait_sealed
{
	$node->poll_query_until('postgres', q{SELECT events_unsealed = 0 FROM steward.audit_status()})
	  or die 'the sealer did not seal everything';
}

sql(q{SELECT count(audit_append('READ', 'patient', 'P-' || g)) FROM generate_series(1, 700) g});
wait_sealed();
my $before = sql('SELECT steward.audit_digest()');
ok(decode_json($before)->{tree_size} >= 700, 'a digest before the crashes');

# writers append in small transactions while the sealer is killed, three times
my @writers;
for my $w (1 .. 2)
{
	push @writers, $node->background_psql('postgres', on_error_stop => 0);
}
my $killed = 0;
for my $round (1 .. 3)
{
	for my $w (@writers)
	{
		# one event per transaction until the crash ends the session (or the
		# test's time is up): the sealer keeps sealing, never idle long enough
		# to exit, while the test looks for it
		$w->query_until(qr/sent/, qq{
\\echo sent
DO \$\$ DECLARE until timestamptz := clock_timestamp() + interval '$PostgreSQL::Test::Utils::timeout_default seconds';
BEGIN
    FOR i IN 1 .. 100000000 LOOP
        PERFORM audit_append('UPDATE', 'patient', 'R-' || i);
        COMMIT;
        EXIT WHEN clock_timestamp() > until;
    END LOOP;
END \$\$;
});
	}
	# kill the sealer while it seals (it may have just exited: take the next)
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	my $log_at = -s $node->logfile;
	for (;;)
	{
		$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
		                                      WHERE backend_type = 'pg_steward sealer'})
		  or die 'no sealer to kill';
		my $pid = sql(q{SELECT coalesce(max(pid), 0) FROM pg_stat_activity
		                 WHERE backend_type = 'pg_steward sealer'});
		last if $pid > 0 && kill('KILL', $pid) == 1;    # never pid 0: that is our process group
		die 'no sealer to kill' if time > $deadline;
	}
	$killed++;
	# the postmaster restarts every backend (the writers' sessions are gone)
	# and is ready again after crash recovery
	$node->wait_for_log(qr/database system is ready to accept connections/, $log_at);
	$node->poll_query_until('postgres', 'SELECT true') or die;
	for my $w (@writers) { eval { $w->quit }; }
	@writers = map { $node->background_psql('postgres', on_error_stop => 0) } 1 .. 2;
}
$_->quit for @writers;
is($killed, 3, 'the sealer was killed three times with kill -9');
my @crashes = slurp_file($node->logfile) =~ /terminated by signal 9/g;
is(scalar @crashes, 3, 'and the server went through crash recovery each time');

sql(q{SELECT count(audit_append('LOGIN', 'user', 'dr.jung')) FROM generate_series(1, 300) g});
wait_sealed();
is(sql(q{SELECT is_valid::text || coalesce(problem, '') FROM verify_audit_chain(trusted_digest => steward.audit_digest())}),
	'true', 'the ledger verifies against its own digest after the crashes');

# every stored node is the root of its leaves; every complete one is stored
my @leaves = leaves_of(pack('H*', sql(
	q{SELECT encode(string_agg(entries, '' ORDER BY block_id), 'hex') FROM steward.audit_blocks})));
my $wrong = 0;
my $stored = 0;
for my $row (split /\n/, sql(q{SELECT level || ' ' || idx || ' ' || encode(hash, 'hex') FROM steward.audit_tree}))
{
	my ($level, $idx, $hash) = split / /, $row;
	my $w = 2**$level;
	$wrong++ if unpack('H*', tree_root(@leaves[ $idx * $w .. ($idx + 1) * $w - 1 ])) ne $hash;
	$stored++;
}
is($wrong, 0, 'every stored node of the tree is the root of its leaves');
my $complete = 0;
for (my $l = 8; 2**$l <= @leaves; $l++) { $complete += int(@leaves / 2**$l); }
is($stored, $complete, "every complete node of 256 leaves and more is stored ($stored)");

my $after = sql('SELECT steward.audit_digest()');
my $proof = decode_json(sql("SELECT steward.audit_consistency('$before')"));
ok(consistency_ok($proof, decode_json($before), decode_json($after)),
	'the tree after the crashes extends the digest taken before them');

# a hot standby answers receipts and consistency proofs
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('tree_standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
my $id = sql(q{SELECT min(id) FROM steward.audit_events WHERE action = 'UPDATE'});
my $on_primary = sql("SELECT steward.audit_proof($id, '$after')");
my $on_standby = $standby->safe_psql('postgres', "SELECT steward.audit_proof($id, '$after')");
is($on_standby, $on_primary, 'the standby gives the same receipt as the primary');
ok(receipt_ok(decode_json($on_standby), decode_json($after)), 'and it verifies');
is($standby->safe_psql('postgres', "SELECT steward.audit_consistency('$before', '$after')"),
	sql("SELECT steward.audit_consistency('$before', '$after')"), 'so does a consistency proof');

$standby->stop;
$node->stop;
done_testing();
