# StewardSecurity: what every test of the security suite (test/t/*_security_*.pl)
# shares.
#
#  * A memory cap.  `use StewardSecurity;` re-runs the test under
#    `ulimit -v` (MEMORY_CAP_KB of address space per process), so the server
#    and every backend it starts inherit the cap: input that needs memory out
#    of proportion fails one backend with "out of memory" instead of getting
#    the machine's OOM killer to restart the cluster.
#  * security_node(NAME): a started node with pg_steward preloaded, the
#    documented search_path, and the extension created in database postgres.
#  * documented_roles(NODE, DB): runs, as a superuser, every SQL block of the
#    section "Roles and grants" of docs/operations.md, so that the suite
#    attacks exactly the setup the documentation recommends.  It creates the
#    roles deployer, clinic_app, auditor and monitor, and schema app owned by
#    the deployer; the suite adds table_owner (owns one table, nothing else).
#  * psql_as(NODE, ROLE, SQL, OPTIONS): psql in database postgres as ROLE,
#    with that role's own settings; returns what PostgreSQL::Test::Cluster's
#    psql returns (in list context: exit status, stdout, stderr).
#  * server_crashed(NODE): true when the server log shows a backend that died
#    of a signal or a crash restart.
package StewardSecurity;

use strict;
use warnings;
use Exporter ();
our @ISA = ('Exporter');
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(security_node documented_roles server_crashed psql_as);

our $MEMORY_CAP_KB = 1024 * 1024;    # 1 GiB of address space per process

sub import
{
	if (!$ENV{STEWARD_MEMORY_CAP_KB})
	{
		$ENV{STEWARD_MEMORY_CAP_KB} = $MEMORY_CAP_KB;
		my @inc = map { "-I$_" } grep { !ref($_) } @INC;
		exec('/bin/sh', '-c', 'ulimit -v "$STEWARD_MEMORY_CAP_KB" && exec "$@"',
			'sh', $^X, @inc, $0, @ARGV)
		  or die "could not re-run $0 under ulimit -v: $!";
	}
	__PACKAGE__->export_to_level(1, @_);
	return;
}

sub security_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%opts);
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = '"\$user", public, steward'
pg_steward.audit_seal_interval = '200ms'
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');
	return $node;
}

# the SQL blocks of docs/operations.md's "Roles and grants" section, in order
sub documented_setup_sql
{
	my $docs = ($ENV{TESTDIR} // '.') . '/docs/operations.md';
	my $text = slurp_file($docs);
	my ($section) = $text =~ /^### Roles and grants\n(.*?)^##? /ms;
	die "no section 'Roles and grants' in $docs" unless defined $section;
	my @blocks = $section =~ /^```sql\n(.*?)^```/msg;
	die "no SQL in the section 'Roles and grants' of $docs" unless @blocks;
	return join("\n", @blocks);
}

sub documented_roles
{
	my ($node, $db) = @_;
	$node->safe_psql($db, documented_setup_sql());
	return;
}

sub psql_as
{
	my ($node, $role, $sql, %opts) = @_;
	return $node->psql('postgres', $sql, extra_params => [ '-U', $role ], %opts);
}

sub server_crashed
{
	my ($node) = @_;
	my $log = slurp_file($node->logfile);
	return $log =~ /was terminated by signal|terminating any other active server processes|server process .* exited with exit code [^0]/;
}

1;
