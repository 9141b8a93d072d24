# pg_steward digest and verify (docs/client.md) as a cron job runs them:
# digest --out writes the trusted head digest to a file, verify --digest
# checks the ledger against it (exit 0), finds a changed event (exit 1),
# cannot check with a file that is no digest or cannot be read (exit 4);
# verify --state checks only what was sealed since its last valid run.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardClient;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# sealed by the test only
my $node = client_node('client_ledger', "pg_steward.audit_seal_interval = 0\n");
client_db($node, 'clinic');
$node->safe_psql('clinic', q{
SELECT audit_append('READ', 'patient', g::text) FROM generate_series(1, 20) g;
SELECT audit_seal();
});
my $dir = PostgreSQL::Test::Utils::tempdir();
my ($rc, $out, $err);

# ------------------------------------------------------------------ digest
($rc, $out, $err) = run_client($node, 'clinic', ['digest']);
is($rc, 0, 'digest exits 0') or diag($err);
like($out, qr/^\{.*"hash".*\}\n\z/, 'digest prints the head digest');
my $digest = "$dir/clinic.digest";
($rc, $out, $err) = run_client($node, 'clinic', [ 'digest', '--out', $digest ]);
is("$rc|$out", "0|$digest\n", 'digest --out prints the file it wrote');
like(slurp_file($digest), qr/"hash"/, '... which holds the digest');
is(scalar(() = glob("$dir/.*.tmp*")) + scalar(() = glob("$dir/*.tmp*")), 0, '... and no temporary file is left');

# ------------------------------------------------------------------ verify
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--digest', $digest ]);
is($rc, 0, 'verify --digest: an intact ledger exits 0') or diag($out, $err);
like($out, qr/^the audit ledger of clinic is valid: 20 events in \d+ blocks? checked, 0 not sealed yet$/m,
	'... and says what it checked');

my $state = "$dir/verify.state";
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--state', $state ]);
is($rc, 0, 'verify --state: exit 0') or diag($out, $err);
like(slurp_file($state), qr/"hash"/, '... the state file holds the head digest it reached');
$node->safe_psql('clinic', q{SELECT audit_append('READ', 'patient', '21'); SELECT audit_seal();});
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--state', $state ]);
is($rc, 0, 'verify --state over the new block: exit 0') or diag($out, $err);
like($out, qr/^the audit ledger of clinic is valid: 1 events? in 1 blocks? checked since the state file's digest/m,
	'... checking only what was sealed since');

# the digest file is the trusted input: a later head is still a valid chain
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--digest', $digest ]);
is($rc, 0, 'verify against the older digest: exit 0') or diag($out, $err);

$node->safe_psql('clinic', q{
ALTER TABLE steward.audit_events DISABLE TRIGGER USER;
UPDATE steward.audit_events SET resource_id = 'changed' WHERE resource_id = '2';
ALTER TABLE steward.audit_events ENABLE TRIGGER USER;
});
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--digest', $digest ]);
is($rc, 1, 'a changed event: exit 1');
like($out, qr/^the audit ledger of clinic is NOT valid: event \d+ /m, '... naming the event');

open(my $fh, '>', "$dir/bad.json") or die;
print $fh '{"not": "a digest"}';
close($fh);
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--digest', "$dir/bad.json" ]);
is($rc, 4, 'a file that is no digest: exit 4 (could not check)');
like($err, qr/could not verify the audit ledger/, '... saying it could not check');
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', '--digest', "$dir/missing.json" ]);
is($rc, 4, 'a digest file that does not exist: exit 4');
($rc, $out, $err) = run_client($node, 'clinic', [ 'verify', 'extra' ]);
is($rc, 2, 'an extra argument: exit 2');
($rc, $out, $err) = run_client($node, 'no_such_db', ['digest']);
is($rc, 3, 'a database it cannot reach: exit 3');

$node->stop;
done_testing();
