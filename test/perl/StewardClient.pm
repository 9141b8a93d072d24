# StewardClient: what the tests of the command-line client
# (test/t/02*_client_*.pl) share.
#
#  * $CLIENT: the pg_steward program installed next to the server binaries
#    (the bindir of the pg_config on PATH), where `make install` puts it.
#  * client_node(NAME, CONF): a started node with pg_steward preloaded, the
#    documented search_path and the lines CONF (optional) in its
#    postgresql.conf.
#  * client_db(NODE, DB): creates database DB with the extension.
#  * run_client(NODE, DB, ARGS, %opts): runs pg_steward ARGS... connected
#    to DB of NODE (-h, -p, -d after the subcommand); returns (exit status,
#    stdout, stderr).  opts: env => {…} more environment, tty => 1 runs it
#    with stdout on a pseudo-terminal (IO::Pty, else script(1)), connect =>
#    0 leaves the connection options out.
#  * fixture(NAME): the path of test/fixtures/client/NAME;
#    fixture_copy(NAME): a copy of it in a fresh temporary folder, for a
#    test that changes the files.
#  * lines(TEXT): TEXT split into lines, carriage returns kept.
package StewardClient;

use strict;
use warnings;
use Exporter ();
our @ISA = ('Exporter');
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw($CLIENT client_node client_db run_client fixture fixture_copy lines signing_key);

my $bindir = `pg_config --bindir`;
chomp $bindir;
our $CLIENT = "$bindir/pg_steward";
BAIL_OUT("the client $CLIENT is not installed: make install first") unless -x $CLIENT;

sub client_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\n" . ($conf // ''));
	$node->start;
	return $node;
}

sub client_db
{
	my ($node, $db) = @_;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"}) if $db ne 'postgres';
	$node->safe_psql($db, 'CREATE EXTENSION pg_steward');
	return;
}

sub fixture
{
	my ($name) = @_;
	return "$ENV{TESTDIR}/test/fixtures/client/$name";
}

sub fixture_copy
{
	my ($name) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir() . "/$name";
	system('cp', '-R', fixture($name), $dir) == 0
	  or die "cannot copy the fixture $name";
	return $dir;
}

# the command line under a pseudo-terminal: IO::Pty through IPC::Run's
# ">pty>", else script(1)
sub run_on_tty
{
	my ($cmd) = @_;
	my ($out, $err) = ('', '');
	if (eval { require IO::Pty; 1 })
	{
		IPC::Run::run($cmd, '<', \undef, '>pty>', \$out, '2>', \$err);
		return ($? >> 8, $out, $err);
	}
	my $line = join(' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } @$cmd);
	IPC::Run::run([ 'script', '-qefc', $line, '/dev/null' ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub run_client
{
	my ($node, $db, $args, %opts) = @_;
	my @args = @$args;
	my $sub = shift @args;
	my @cmd = ($CLIENT, $sub);
	push @cmd, ('-h', $node->host, '-p', $node->port, '-d', $db)
	  if $opts{connect} // 1;
	push @cmd, @args;
	local %ENV = (%ENV, %{ $opts{env} || {} });
	return run_on_tty(\@cmd) if $opts{tty};
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub lines
{
	my ($text) = @_;
	return [ split /\n/, $text ];
}

# an Ed25519 key pair as docs/client.md tells users to make one: dir/name.pem
# and dir/name.pub.pem
sub signing_key
{
	my ($dir, $name) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'openssl', 'genpkey', '-algorithm', 'ed25519', '-out', "$dir/$name.pem" ],
		'>', \$out, '2>', \$err)
	  or die "the openssl command is needed (Debian: openssl): $err";
	IPC::Run::run([ 'openssl', 'pkey', '-in', "$dir/$name.pem", '-pubout', '-out', "$dir/$name.pub.pem" ],
		'>', \$out, '2>', \$err)
	  or die "openssl pkey -pubout failed: $err";
	return;
}

1;
