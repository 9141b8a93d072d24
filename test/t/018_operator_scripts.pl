# The cron scripts of docs/operations.md (scripts/steward-digest,
# steward-verify, steward-validate, steward-retention) against a real
# server: their output and exit statuses when all is well, when the ledger
# was changed, when a deploy left an error, and when they cannot check.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Temp qw(tempdir);

my $scripts = "$ENV{TESTDIR}/scripts";
my $node = PostgreSQL::Test::Cluster->new('ops');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.audit_seal_interval = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE clinic');
$node->safe_psql('clinic', q{
CREATE EXTENSION pg_steward;
SELECT audit_append('READ', 'patient', g::text) FROM generate_series(1, 20) g;
SELECT audit_seal();
});
my $dir = tempdir(CLEANUP => 1);

# run a script with the node's connection settings; returns (exit, stdout, stderr)
sub run_script
{
	my ($name, @args) = @_;
	my ($stdout, $stderr);
	local %ENV = %ENV;
	$ENV{PGHOST} = $node->host;
	$ENV{PGPORT} = $node->port;
	IPC::Run::run([ "$scripts/$name", @args ], '<', \undef, '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stdout // '', $stderr // '');
}

# ------------------------------------------------------------ steward-digest
my ($rc, $out, $err) = run_script('steward-digest', 'clinic', $dir);
is($rc, 0, 'steward-digest exits 0');
chomp(my $file = $out);
like($file, qr{^\Q$dir\E/clinic-\d{8}T\d{6}Z\.json$}, 'it prints the name of the file it wrote');
like(slurp_file($file), qr/"hash"/, 'the file holds the digest');
($rc, $out, $err) = run_script('steward-digest', 'no_such_db', $dir);
is($rc, 2, 'a database it cannot reach: exit 2');
is(scalar(() = glob("$dir/no_such_db-*")), 0, '... and no file is left behind');
($rc) = run_script('steward-digest', 'clinic');
is($rc, 2, 'a missing argument: exit 2');

# ------------------------------------------------------------ steward-verify
($rc, $out, $err) = run_script('steward-verify', 'clinic', $file);
is("$rc|$out", '0|', 'an intact ledger: nothing printed, exit 0');

my $state = "$dir/verify.state";
($rc, $out) = run_script('steward-verify', 'clinic', $file, $state);
is($rc, 0, 'with a state file: exit 0');
like(slurp_file($state), qr/"hash"/, '... and the state file holds the head digest it reached');
$node->safe_psql('clinic', q{SELECT audit_append('READ', 'patient', '21'); SELECT audit_seal();});
($rc, $out) = run_script('steward-verify', 'clinic', $file, $state);
is("$rc|$out", '0|', 'an incremental run over the new block: exit 0');

$node->safe_psql('clinic', q{
ALTER TABLE steward.audit_events DISABLE TRIGGER USER;
UPDATE steward.audit_events SET resource_id = 'changed' WHERE resource_id = '2';
ALTER TABLE steward.audit_events ENABLE TRIGGER USER;
});
($rc, $out) = run_script('steward-verify', 'clinic', $file);
is($rc, 1, 'a changed event: exit 1');
like($out, qr/^the audit ledger of clinic is NOT valid: event \d+ /, '... naming the event');

open(my $fh, '>', "$dir/bad.json") or die;
print $fh '{"not": "a digest"}';
close($fh);
($rc, $out, $err) = run_script('steward-verify', 'clinic', "$dir/bad.json");
is($rc, 2, 'a file that is no digest: exit 2');
like($err, qr/could not verify the ledger of clinic/, '... saying it could not check');
($rc, $out, $err) = run_script('steward-verify', 'clinic', "$dir/missing.json");
is($rc, 2, 'a digest file that does not exist: exit 2');

# ------------------------------------------------------------ steward-validate
($rc, $out) = run_script('steward-validate', 'clinic');
is("$rc|$out", '0|', 'nothing to report after a clean deploy: exit 0');
$node->safe_psql('clinic', 'CREATE TABLE nopk (a int)');
($rc, $out) = run_script('steward-validate', 'clinic');
is($rc, 0, 'warnings only: exit 0');
like($out, qr/^warning  table-without-primary-key  public\.nopk/m, '... listing the warning');
$node->psql('clinic', q{SELECT migrate_apply('20260301_bad', 'SELECT 1/0')});
($rc, $out) = run_script('steward-validate', 'clinic');
is($rc, 1, 'a failed migration: exit 1');
like($out, qr/^error  migration-not-completed  20260301_bad/m, '... listing the error');
($rc) = run_script('steward-validate', 'no_such_db');
is($rc, 2, 'a database it cannot reach: exit 2');

# ------------------------------------------------------------ steward-retention
$node->safe_psql('clinic', q{SELECT audit_set_retention('*', '10 years')});
($rc, $out, $err) = run_script('steward-retention', 'clinic');
is($rc, 0, 'steward-retention exits 0 with nothing expired');
is($node->safe_psql('clinic', q{SELECT events_unsealed FROM audit_status()}), '0',
	'... and its RETENTION event is sealed');
done_testing();
