# The reference stays complete: every function the extension creates in the
# public schema has a "### name" entry in docs/reference.md, so has every
# table and view of schema steward (partitions aside), every GUC is in its
# GUC table, and every lint rule has a "### rule" entry in docs/review.md.
# docs/client.md has a "## name" section for every subcommand the client's
# --help lists, and names every option each subcommand's --help lists.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardClient;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

sub slurp_doc
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot read $path: $!";
	local $/;
	my $text = <$fh>;
	close($fh);
	return $text;
}

my $reference = slurp_doc('docs/reference.md');
my $review = slurp_doc('docs/review.md');

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init;
$node->append_conf('postgresql.conf', "search_path = 'public, steward'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');

my @functions = split /\n/, $node->safe_psql('postgres', q{
SELECT DISTINCT p.proname
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_steward'
 WHERE p.pronamespace = 'steward'::regnamespace
 ORDER BY 1});
cmp_ok(scalar(@functions), '>=', 60, 'the extension creates its functions');
# the API has an entry of its own; an internal function is described in
# the section "Internal functions" (who calls it, as which role)
my ($internal) = $reference =~ /^### Internal functions\n(.*?)(?=^##+ |\z)/ms;
$internal //= '';
for my $f (@functions)
{
	ok($reference =~ /^### \Q$f\E\b/m || $internal =~ /`steward\.\Q$f\E\b/,
		"docs/reference.md has an entry for $f()");
}

my @gucs = split /\n/, $node->safe_psql('postgres',
	q{LOAD 'pg_steward'; SELECT name FROM pg_settings WHERE name LIKE 'pg\_steward.%' ORDER BY 1});
cmp_ok(scalar(@gucs), '>=', 13, 'the GUCs are defined');
for my $g (@gucs)
{
	like($reference, qr/\Q$g\E/, "docs/reference.md documents $g");
}

my @relations = split /\n/, $node->safe_psql('postgres', q{
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'steward'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
   AND NOT c.relispartition
 ORDER BY 1});
cmp_ok(scalar(@relations), '>=', 10, 'the extension creates its tables and views');
for my $r (@relations)
{
	like($reference, qr/^### .*\bsteward\.\Q$r\E\b/m, "docs/reference.md has an entry for table or view steward.$r");
}

my @rules = split /\n/, $node->safe_psql('postgres',
	'SELECT rule FROM migrate_lint_rules() ORDER BY 1');
cmp_ok(scalar(@rules), '>=', 55, 'the lint knows its rules');
for my $r (@rules)
{
	like($review, qr/^### \Q$r\E\b/m, "docs/review.md has an entry for rule $r");
}

my $client_doc = slurp_doc('docs/client.md');
my ($rc, $out) = run_client($node, 'postgres', ['--help'], connect => 0);
my ($listed) = $out =~ /^Subcommands:\n(.*?)\n\n/ms;
my @subcommands = map { /^  (\S+)/ ? $1 : () } split /\n/, $listed // '';
cmp_ok(scalar(@subcommands), '>=', 9, 'the client lists its subcommands');
for my $sub (@subcommands)
{
	like($client_doc, qr/^## \Q$sub\E\n/m, "docs/client.md has a section for pg_steward $sub");
	($rc, $out) = run_client($node, 'postgres', [ $sub, '--help' ], connect => 0);
	my %options = map { $_ => 1 } $out =~ /^\s+(?:-\w, )?(--[a-z][a-z-]*)/mg;
	for my $o (sort keys %options)
	{
		like($client_doc, qr/`\Q$o\E[`=]/, "docs/client.md names $o of pg_steward $sub");
	}
}

$node->stop;
done_testing();
