# pg_steward proof, consistency and check-proof (docs/client.md): receipts
# and a consistency proof are made with the server, then, with the server
# stopped and no PG* variable set, check-proof checks them against digest
# files, some signed with an Ed25519 key the database never sees:
#  * valid ones exit 0 (receipts cross-checked with test/perl/StewardTree.pm);
#  * a changed byte of the event bytes (with and without a matching leaf),
#    a changed hash of the audit path, a moved leaf_index, another event's
#    id, a receipt against another digest, a changed hash of a consistency
#    proof, a digest changed after it was signed, a wrong public key, a
#    missing signature, and (with_payload, as a superuser) a changed
#    payload or a dropped salt: each exits 1 and says why;
#  * a malformed file, a digest without a tree root: exit 4; missing
#    options: exit 2.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardClient;
use StewardTree;
use IPC::Run;
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use Digest::SHA qw(sha256);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = PostgreSQL::Test::Utils::tempdir();
my ($rc, $out, $err);

# keys as docs/client.md tells users to make them
signing_key($dir, $_) for 'key', 'other';

# sealed by the test only
my $node = client_node('client_proof', "pg_steward.audit_seal_interval = 0\n");
client_db($node, 'clinic');
$node->safe_psql('clinic', q{
SELECT audit_append('READ', 'patient', g::text,
                    jsonb_build_object('record', g, 'note', 'Zoë "☤" 😀'))
  FROM generate_series(1, 20) g;
SELECT audit_seal();
});
my $superuser = $node->safe_psql('clinic',
	'SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user') eq 't';

sub json_file { return decode_json(slurp_file($_[0])); }

sub write_json
{
	my ($path, $doc) = @_;
	open(my $fh, '>', $path) or die "cannot write $path: $!";
	print $fh JSON::PP->new->utf8->canonical->encode($doc), "\n";
	close($fh);
	return $path;
}

sub write_text
{
	my ($path, $text) = @_;
	open(my $fh, '>', $path) or die "cannot write $path: $!";
	print $fh $text;
	close($fh);
	return $path;
}

# ------------------------------------------------------------------ digests
my $d1 = "$dir/d1.json";
($rc, $out, $err) = run_client($node, 'clinic', [ 'digest', '--out', $d1, '--sign-key', "$dir/key.pem" ]);
is("$rc|$out", "0|$d1\n$d1.sig\n", 'digest --out --sign-key writes the digest and its signature') or diag($err);
like(slurp_file("$d1.sig"), qr{^[A-Za-z0-9+/]{86}==\n\z}, '... 64 bytes of base64 on one line');
is(scalar(() = glob("$dir/*.tmp")), 0, '... and no temporary file is left');
($rc, $out, $err) = run_client($node, 'clinic', [ 'digest', '--sign-key', "$dir/key.pem" ]);
is($rc, 2, 'digest --sign-key without --out: exit 2');
($rc, $out, $err) = run_client($node, 'clinic', [ 'digest', '--out', "$dir/x.json", '--sign-key', "$dir/key.pub.pem" ]);
is($rc, 4, 'a signing key that is no private key: exit 4');
like($err, qr/is not a private key/, '... saying so');
ok(!-e "$dir/x.json", '... before anything is written');

$node->safe_psql('clinic', q{
SELECT audit_append('READ', 'patient', g::text) FROM generate_series(21, 37) g;
SELECT audit_seal();
});
my $d2 = "$dir/d2.json";
($rc, $out, $err) = run_client($node, 'clinic', [ 'digest', '--out', $d2, '--sign-key', "$dir/key.pem" ]);
is($rc, 0, 'a second signed digest') or diag($err);

# verify --public-key checks the signature before it trusts the digest
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--digest', $d1, '--public-key', "$dir/key.pub.pem" ]);
is($rc, 0, 'verify --digest --public-key: a signed digest, exit 0') or diag($out, $err);
like($out, qr/^the audit ledger of clinic is valid: /, '... and the ledger is checked');
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--digest', $d1, '--public-key', "$dir/other.pub.pem" ]);
is($rc, 1, 'verify with another public key: exit 1');
like($out, qr/^the digest \Q$d1\E is NOT trusted: its signature \Q$d1\E\.sig does not match it/, '... the digest is not trusted');
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--public-key', "$dir/key.pub.pem" ]);
is($rc, 2, 'verify --public-key without --digest: exit 2');

# ------------------------------------------------------------------ receipts
my $r5 = "$dir/r5.json";
($rc, $out, $err) = run_client($node, 'clinic', [ 'proof', '5', '--digest', $d1, '--out', $r5 ]);
is("$rc|$out", "0|$r5\n", 'proof --digest --out writes the receipt') or diag($err);
my $receipt = json_file($r5);
is($receipt->{format}, 'pg_steward receipt v1', '... a receipt');
ok(receipt_ok($receipt, json_file($d1)), '... that the Perl verifier accepts');
my $r30 = "$dir/r30.json";
($rc, $out, $err) = run_client($node, 'clinic', [ 'proof', '30', '--digest', $d2 ]);
is($rc, 0, 'proof without --out') or diag($err);
like($out, qr/^\{.*"format": "pg_steward receipt v1".*\}\n\z/, '... prints the receipt, one line');
write_text($r30, $out);

my $r7p = "$dir/r7p.json";
if ($superuser)
{
	($rc, $out, $err) = run_client($node, 'clinic', [ 'proof', '7', '--digest', $d2, '--with-payload', '--out', $r7p ]);
	is($rc, 0, 'proof --with-payload') or diag($err);
	like(json_file($r7p)->{payload}, qr/"record": 7/, '... the receipt holds the payload');
}

($rc, $out, $err) = run_client($node, 'clinic', [ 'proof', 'x5' ]);
is($rc, 2, 'proof of an id that is no number: exit 2');
($rc, $out, $err) = run_client($node, 'clinic', [ 'proof', '999' ]);
is($rc, 4, 'proof of an event that does not exist: exit 4');
like($err, qr/could not make the receipt: audit event 999 does not exist/, '... with the server\'s reason');
($rc, $out, $err) = run_client($node, 'clinic', [ 'proof', '30', '--digest', $d1 ]);
is($rc, 4, 'proof of an event the digest does not cover: exit 4');
like($err, qr/is not sealed in the head's tree of 20 events/, '... with the server\'s reason');

# --------------------------------------------------------- consistency proofs
my $c12 = "$dir/c12.json";
($rc, $out, $err) = run_client($node, 'clinic', [ 'consistency', '--old-digest', $d1, '--digest', $d2, '--out', $c12 ]);
is("$rc|$out", "0|$c12\n", 'consistency --old-digest --digest --out writes the proof') or diag($err);
is(json_file($c12)->{format}, 'pg_steward consistency proof v1', '... a consistency proof');
ok(consistency_ok(json_file($c12), json_file($d1), json_file($d2)), '... that the Perl verifier accepts');
($rc, $out, $err) = run_client($node, 'clinic', [ 'consistency', '--old-digest', $d1 ]);
like($out, qr/^\{.*"new_tree_size": 37.*\}\n\z/, 'consistency without --digest: up to the newest block');
($rc, $out, $err) = run_client($node, 'clinic', [ 'consistency', '--digest', $d2 ]);
is($rc, 2, 'consistency without --old-digest: exit 2');
($rc, $out, $err) = run_client($node, 'clinic', [ 'consistency', '--old-digest', $d2, '--digest', $d1 ]);
is($rc, 4, 'an old digest newer than the new one: exit 4');

# ------------------------------------------------ no server from here on
$node->stop;

# check-proof with no PG* variable at all, no connection options
sub check
{
	my @cmd = ($CLIENT, 'check-proof', @_);
	my ($o, $e) = ('', '');
	local %ENV = %ENV;
	delete $ENV{$_} for grep { /^PG/ } keys %ENV;
	IPC::Run::run(\@cmd, '<', \undef, '>', \$o, '2>', \$e);
	return ($? >> 8, $o, $e);
}

($rc, $out, $err) = check($r5, '--digest', $d1);
is("$rc|$out", "0|the receipt of event 5 is valid against the digest of block 1 (tree of 20 events)\n",
	'check-proof: a receipt against its digest is valid, with no server') or diag($err);
($rc, $out, $err) = check($r5, '--digest', $d1, '--public-key', "$dir/key.pub.pem");
is("$rc|$out", "0|the receipt of event 5 is valid against the digest of block 1 (tree of 20 events)\n",
	'... and with the signature of the digest checked') or diag($err);
($rc, $out, $err) = check($r30, '--digest', $d2);
is("$rc|$out", "0|the receipt of event 30 is valid against the digest of block 2 (tree of 37 events)\n",
	'a receipt printed to stdout is valid too') or diag($err);
($rc, $out, $err) = check($c12, '--old-digest', $d1, '--digest', $d2, '--public-key', "$dir/key.pub.pem");
is("$rc|$out",
	"0|the consistency proof from block 1 (tree of 20 events) to block 2 (tree of 37 events) is valid\n",
	'a consistency proof between two signed digests is valid') or diag($err);

# a tampered receipt: exit 1 and the reason
sub tampered_receipt
{
	my ($name, $change) = @_;
	my $doc = json_file($r5);
	$change->($doc);
	return write_json("$dir/$name.json", $doc);
}

sub flip_byte
{
	my ($b64, $at) = @_;
	my $bytes = decode_base64($b64);
	substr($bytes, $at, 1) = chr(ord(substr($bytes, $at, 1)) ^ 0x01);
	return encode_base64($bytes, '');
}

my @bad_receipts = (
	[ 'one changed byte of the event bytes', sub { $_[0]{event_bytes} = flip_byte($_[0]{event_bytes}, 60) },
	  qr/its event bytes do not hash to its leaf/ ],
	[ 'changed event bytes with their leaf recomputed',
	  sub {
		  $_[0]{event_bytes} = flip_byte($_[0]{event_bytes}, 60);
		  $_[0]{leaf} = encode_base64(sha256("\x00" . decode_base64($_[0]{event_bytes})), '');
	  },
	  qr/its audit path does not lead from leaf 4 to the digest's tree_root/ ],
	[ 'a changed hash of the audit path', sub { $_[0]{audit_path}[1] = flip_byte($_[0]{audit_path}[1], 7) },
	  qr/its audit path does not lead from leaf 4 to the digest's tree_root/ ],
	[ 'a leaf_index moved with its position', sub { $_[0]{leaf_index} = 5; $_[0]{position} = 6 },
	  qr/its audit path does not lead from leaf 5 to the digest's tree_root/ ],
	[ 'a leaf_index moved alone', sub { $_[0]{leaf_index} = 3 },
	  qr/its leaf_index 3 does not match its position 5/ ],
	[ 'another event id', sub { $_[0]{event_id} = 6 },
	  qr/its event bytes are those of event 5/ ]);
for my $case (@bad_receipts)
{
	my ($what, $change, $reason) = @$case;
	my $file = tampered_receipt('bad', $change);
	($rc, $out, $err) = check($file, '--digest', $d1);
	is($rc, 1, "a receipt with $what: exit 1") or diag($out, $err);
	like($out, qr/^the receipt of event \d+ is NOT valid: $reason$/, '... saying why');
}

($rc, $out, $err) = check($r5, '--digest', $d2);
is($rc, 1, 'a receipt against another digest: exit 1');
like($out,
	qr/^the receipt of event 5 is NOT valid: it names block 1 \(tree of 20 events\), the digest names block 2 \(tree of 37 events\)$/,
	'... naming both heads');

# a tampered consistency proof
my $c = json_file($c12);
$c->{proof}[0] = flip_byte($c->{proof}[0], 3);
($rc, $out, $err) = check(write_json("$dir/badc.json", $c), '--old-digest', $d1, '--digest', $d2);
is($rc, 1, 'a consistency proof with a changed hash: exit 1');
like($out, qr/^the consistency proof from block 1 \(tree of 20 events\) to block 2 \(tree of 37 events\) is NOT valid: its proof does not lead to both tree roots$/,
	'... saying why');
($rc, $out, $err) = check($c12, '--old-digest', $d2, '--digest', $d2);
is($rc, 1, 'a consistency proof against other digests: exit 1');
like($out, qr/is NOT valid: it names old block 1 \(tree of 20 events\), the old digest names block 2/, '... saying why');

# signatures
my $altered = "$dir/altered.json";
write_text($altered, slurp_file($d1) =~ s/"database": "clinic"/"database": "clinic2"/r);
write_text("$altered.sig", slurp_file("$d1.sig"));
($rc, $out, $err) = check($r5, '--digest', $altered);
is($rc, 0, 'a digest altered after signing is still a digest without --public-key');
($rc, $out, $err) = check($r5, '--digest', $altered, '--public-key', "$dir/key.pub.pem");
is($rc, 1, 'a digest altered after signing: exit 1 with --public-key');
like($out, qr/^the digest \Q$altered\E is NOT trusted: its signature \Q$altered\E\.sig does not match it and the public key /,
	'... the signature check fails');
($rc, $out, $err) = check($r5, '--digest', $d1, '--public-key', "$dir/other.pub.pem");
is($rc, 1, 'a wrong public key: exit 1');
like($out, qr/^the digest \Q$d1\E is NOT trusted: its signature/, '... the digest is not trusted');
my $unsigned = write_text("$dir/unsigned.json", slurp_file($d1));
($rc, $out, $err) = check($r5, '--digest', $unsigned, '--public-key', "$dir/key.pub.pem");
is($rc, 1, 'a digest without a signature: exit 1');
like($out, qr/^the digest \Q$unsigned\E is NOT trusted: it has no signature \(\Q$unsigned\E\.sig\)$/, '... saying so');
($rc, $out, $err) = check($c12, '--old-digest', $unsigned, '--digest', $d2, '--public-key', "$dir/key.pub.pem");
is($rc, 1, 'a consistency proof with an unsigned old digest: exit 1');
($rc, $out, $err) = check($r5, '--digest', $d1, '--public-key', "$dir/key.pem");
is($rc, 4, 'a public key file that holds no public key: exit 4');

# the payload and its commitment
SKIP:
{
	skip 'with_payload needs a role that reads the payloads', 6 unless $superuser;
	($rc, $out, $err) = check($r7p, '--digest', $d2);
	is("$rc|$out",
		"0|the receipt of event 7 is valid against the digest of block 2 (tree of 37 events), and its payload matches its commitment\n",
		'a receipt with its payload: the commitment is checked') or diag($err);
	my $p = json_file($r7p);
	$p->{payload} =~ s/"record": 7/"record": 8/;
	($rc, $out, $err) = check(write_json("$dir/badp.json", $p), '--digest', $d2);
	is($rc, 1, 'a changed payload: exit 1');
	like($out, qr/^the receipt of event 7 is NOT valid: its payload does not match the commitment in its event bytes$/,
		'... saying why');
	$p = json_file($r7p);
	$p->{salt} = undef;
	($rc, $out, $err) = check(write_json("$dir/bads.json", $p), '--digest', $d2);
	is($rc, 1, 'a payload without its salt: exit 1');
	like($out, qr/is NOT valid: it has a payload but no salt$/, '... saying why');
	$p = json_file($r7p);
	delete $p->{salt};
	($rc, $out, $err) = check(write_json("$dir/bads.json", $p), '--digest', $d2);
	is($rc, 4, 'a receipt with "payload" and no "salt" key: exit 4');
}

# what cannot be checked
($rc, $out, $err) = check(write_text("$dir/garbage.json", "{\"format\": \"pg_steward receipt v1\", \"event_id\": 5,"), '--digest', $d1);
is($rc, 4, 'a malformed file: exit 4');
like($err, qr/could not check: "\Q$dir\E\/garbage\.json" is not a pg_steward receipt or consistency proof: at byte \d+: /,
	'... saying where');
($rc, $out, $err) = check(write_text("$dir/other.json", '{"format": "something else"}'), '--digest', $d1);
is($rc, 4, 'a document of another format: exit 4');
($rc, $out, $err) = check(tampered_receipt('nopath', sub { delete $_[0]{audit_path} }), '--digest', $d1);
is($rc, 4, 'a receipt without its audit path: exit 4');
like($err, qr/is not a pg_steward receipt: it has no key "audit_path"/, '... naming the key');
my $v1 = json_file($d1);
delete @$v1{qw(tree_size tree_root)};
($rc, $out, $err) = check($r5, '--digest', write_json("$dir/v1.json", $v1));
is($rc, 4, 'a digest without tree_root (before 0.5.0): exit 4');
($rc, $out, $err) = check("$dir/missing.json", '--digest', $d1);
is($rc, 4, 'a file that does not exist: exit 4');
($rc, $out, $err) = check($r5);
is($rc, 2, 'check-proof without --digest: exit 2');
($rc, $out, $err) = check($c12, '--digest', $d2);
is($rc, 2, 'a consistency proof without --old-digest: exit 2');
($rc, $out, $err) = check($r5, '--digest', $d1, '-d', 'clinic');
is($rc, 2, 'a connection option: exit 2 (check-proof never connects)');

done_testing();
