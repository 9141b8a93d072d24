# The ledger's test vectors (test/vectors/, made by generate.sh): a small
# exported ledger of five blocks with a redacted event and a retention
# epoch, its leaves, the head of the ledger tree at every block, receipts
# and consistency proofs.  Three implementations must agree on them:
#
#  * test/perl/StewardTree.pm, a minimal verifier written from docs/audit.md
#    ("The ledger tree"): every head's root is the Merkle Tree Hash of the
#    leaves, every receipt and consistency proof verifies, a leaf is the hash
#    of the receipt's event bytes and a payload matches its commitment;
#  * docs/audit.md's outside verifier (its Python, run when python3 is
#    there) finds no problem in the exported blocks, events and epochs;
#  * the server: the export loaded into a fresh database verifies, and
#    audit_tree_root, audit_proof and audit_consistency return exactly the
#    vectors.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256);
use MIME::Base64 qw(decode_base64);
use lib "$ENV{TESTDIR}/test/perl";
use StewardTree;
use StewardVectors;

my $dir = "$ENV{TESTDIR}/test/vectors";
sub slurp { open(my $fh, '<', $_[0]) or die "$_[0]: $!"; local $/; my $t = <$fh>; close $fh; return $t; }

my $json = JSON::PP->new->canonical;
my $tree = decode_json(slurp("$dir/tree.json"));
my $vectors = vectors_read($dir);
my @blocks = @{ $vectors->{blocks} };
my @events = @{ $vectors->{events} };
my @epochs = @{ $vectors->{epochs} };

# --- the minimal verifier -------------------------------------------------------
my @leaves = map { leaves_of(pack('H*', $_->{entries})) } @blocks;
is_deeply([ map { unpack('H*', $_) } @leaves ], $tree->{leaves}, 'the leaves are those of the blocks\' entries');
is(unpack('H*', tree_root()), $tree->{empty_tree_root}, 'the root of no leaves is H("")');
my %head_of;
for my $h (@{ $tree->{heads} })
{
	$head_of{ $h->{tree_size} } = $h;
	is($h->{tree_root}, unpack('H*', tree_root(@leaves[0 .. $h->{tree_size} - 1])),
		"the head at block $h->{block} names the Merkle Tree Hash of its $h->{tree_size} leaves");
}
ok(@{ $tree->{receipts} } >= 5, 'there are receipts');
for my $r (@{ $tree->{receipts} })
{
	my $name = "the receipt of event $r->{event_id} at $r->{tree_size} events";
	ok(receipt_ok($r, $head_of{ $r->{tree_size} }), "$name verifies");
	is(unpack('H*', sha256("\x00" . decode_base64($r->{event_bytes}))), $tree->{leaves}[ $r->{leaf_index} ],
		"$name: its leaf is the tree's leaf at its index");
	if (defined $r->{payload})
	{
		my $bytes = decode_base64($r->{event_bytes});
		is(sha256("\x02" . decode_base64($r->{salt}) . do { my $p = $r->{payload}; utf8::encode($p); $p }),
			substr($bytes, -32), "$name: its payload matches the commitment in its event bytes");
	}
	my %bad = %$r;
	$bad{audit_path} = [ @{ $r->{audit_path} } ];
	$bad{audit_path}[0] = MIME::Base64::encode_base64(sha256('x'), '') if @{ $bad{audit_path} };
	ok(!receipt_ok(\%bad, $head_of{ $r->{tree_size} }), "$name with a changed path does not verify");
}
ok((grep { $_->{redacted} } @{ $tree->{receipts} }), 'one receipt is of a redacted event');
is(scalar @{ $tree->{consistency} }, @{ $tree->{heads} } * (@{ $tree->{heads} } + 1) / 2,
	'a consistency proof for every two heads');
for my $c (@{ $tree->{consistency} })
{
	my ($old, $new) = ($head_of{ $c->{old_tree_size} }, $head_of{ $c->{new_tree_size} });
	ok(consistency_ok($c, $old, $new), "the tree at $new->{tree_size} events extends the one at $old->{tree_size}");
}
is(scalar @epochs, 1, 'the ledger has a retention epoch');

# --- docs/audit.md's outside verifier ---------------------------------------------
SKIP:
{
	skip 'no python3', 1 if system('python3 -c pass') != 0;
	my ($section) = slurp("$ENV{TESTDIR}/docs/audit.md") =~ /^### An outside verifier\n(.*?)^## /ms;
	my ($python) = $section =~ /^```python\n(.*?)^```/ms;
	my $tmp = PostgreSQL::Test::Utils::tempdir();
	open(my $fh, '>', "$tmp/verify.py") or die;
	print $fh $python;
	close $fh;
	system("cp $dir/blocks.jsonl $dir/events.jsonl $dir/epochs.jsonl $tmp/") == 0 or die;
	my $said = `cd $tmp && python3 verify.py 2>&1`;
	is((split /\n/, $said)[0], 'no problem found', "docs/audit.md's outside verifier finds no problem in the vectors");
}

# --- the server ---------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('vectors');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
pg_steward.audit_seal_interval = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sql(vectors_load_sql($vectors));

is(sql(q{SELECT is_valid || '|' || events_redacted || '|' || events_pruned || '|' || coalesce(problem, '')
         FROM steward.verify_audit_chain()}),
	'true|1|' . $epochs[0]{events_dropped} . '|', 'the server verifies the exported ledger');
for my $h (@{ $tree->{heads} })
{
	is(sql("SELECT encode(steward.audit_tree_root($h->{tree_size}), 'hex')"), $h->{tree_root},
		"the server's tree at $h->{tree_size} events has the vectors' root");
}
my $newest = $tree->{heads}[-1];
is_deeply(decode_json(sql(q{SELECT steward.audit_digest() - 'created_at' - 'database' - 'system_identifier'
                             - 'sealed_at' - 'format'})), $newest, "the server's digest names the newest head");
for my $r (@{ $tree->{receipts} })
{
	my $d = $json->encode($head_of{ $r->{tree_size} });
	is_deeply(decode_json(sql("SELECT steward.audit_proof($r->{event_id}, '$d', with_payload => true)")), $r,
		"the server's receipt of event $r->{event_id} at $r->{tree_size} events is the vectors'");
}
for my $c (@{ $tree->{consistency} })
{
	my ($o, $n) = map { $json->encode($head_of{$_}) } $c->{old_tree_size}, $c->{new_tree_size};
	is_deeply(decode_json(sql("SELECT steward.audit_consistency('$o', '$n')")), $c,
		"the server's consistency proof from $c->{old_tree_size} to $c->{new_tree_size} events is the vectors'");
}

$node->stop;
done_testing();
