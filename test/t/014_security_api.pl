# Security suite: the API's schema and privileges.  Every attack runs as a
# non-superuser role of the setup docs/operations.md recommends.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardSecurity;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = security_node('api');
documented_roles($node, 'postgres');

like(slurp_file('/proc/' . $node->safe_psql('postgres', 'SELECT pg_backend_pid()') . '/limits'),
	qr/^Max address space\s+@{[$StewardSecurity::MEMORY_CAP_KB * 1024]}\s/m,
	'backends run under the memory cap');

is($node->safe_psql('postgres', q{
SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1)
  FROM pg_proc p
 WHERE p.pronamespace = 'steward'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')}),
	'migrate_checksum(text), migrate_lint_rules()',
	'PUBLIC may execute only migrate_checksum and migrate_lint_rules');

ok(!server_crashed($node), 'no backend crashed');
done_testing();
