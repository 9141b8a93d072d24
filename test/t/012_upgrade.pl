# ALTER EXTENSION pg_steward UPDATE from every released version, with data
# in place: a database created at 0.1.0 holds migrations, a job and a sealed
# ledger; after the update it is at the default version, every row is still
# there, the ledger verifies against the digest taken before the update,
# everything goes on working, and its objects are exactly those of a
# database created at the default version.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my @released = ('0.1.0', '0.2.0');
my ($default) = slurp_file('pg_steward.control') =~ /^default_version = '([^']+)'/m;
ok(defined $default, "the control file names the default version ($default)");

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.audit_seal_interval = 0
});
$node->start;

# what a database's pg_steward consists of, as text, one object per line
my $q_objects = q{
SELECT string_agg(pg_describe_object(d.classid, d.objid, 0), E'\n' ORDER BY pg_describe_object(d.classid, d.objid, 0))
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE e.extname = 'pg_steward' AND d.deptype = 'e'};
my $q_columns = q{
SELECT string_agg(c.oid::regclass || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod), E'\n'
                  ORDER BY c.oid::regclass::text, a.attnum)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'steward'::regnamespace AND c.relkind IN ('r', 'p', 'v')
   AND a.attnum > 0 AND NOT a.attisdropped};

# every function's definition and privileges
my $q_functions = q{
SELECT string_agg(p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid))
                  || ' ' || coalesce(p.proacl::text, 'default'), E'\n' ORDER BY p.oid::regprocedure::text)
  FROM pg_proc p
 WHERE p.pronamespace = 'steward'::regnamespace AND p.prokind <> 'a'};
my $q_grants = q{
SELECT (SELECT coalesce(nspacl::text, 'default') FROM pg_namespace WHERE nspname = 'steward') || E'\n'
    || string_agg(c.relname || ' ' || coalesce(c.relacl::text, 'default'), E'\n' ORDER BY c.relname)
  FROM pg_class c
 WHERE c.relnamespace = 'steward'::regnamespace};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_steward');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'}),
	$default, 'CREATE EXTENSION installs the default version');
my $fresh_objects = $node->safe_psql('fresh', $q_objects);
my $fresh_columns = $node->safe_psql('fresh', $q_columns);
my $fresh_functions = $node->safe_psql('fresh', $q_functions);
my $fresh_grants = $node->safe_psql('fresh', $q_grants);

for my $from (@released)
{
	my $db = 'from_' . ($from =~ s/\./_/gr);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
CREATE EXTENSION pg_steward VERSION '$from';
SELECT migrate_apply('20260101_wards', \$\$
    CREATE TABLE wards (id bigint PRIMARY KEY, name text NOT NULL, beds int);
    INSERT INTO wards SELECT g, 'ward ' || g, NULL FROM generate_series(1, 300) g;
\$\$, down_sql => 'DROP TABLE wards');
SELECT backfill('wards', 'beds = 12', 'beds IS NULL', batch_size => 100) AS job \\gset
SELECT job_wait(:job);
});
	$node->psql($db, q{SELECT migrate_apply('20260102_broken', 'SELECT 1/0')});
	$node->safe_psql($db, q{SELECT audit_append('LOGIN', 'user', 'dr.jung'); SELECT audit_seal();});
	my $digest = $node->safe_psql($db, 'SELECT audit_digest()');
	my $q_state = q{SELECT (SELECT string_agg(version || ':' || status, ',' ORDER BY version) FROM migrate_status())
	                  || '|' || (SELECT string_agg(kind || ':' || state, ',' ORDER BY id) FROM job_status())
	                  || '|' || (SELECT count(*) FROM steward.audit_events)
	                  || '|' || (SELECT count(*) FROM wards WHERE beds = 12)};
	my $before = $node->safe_psql($db, $q_state);

	$node->safe_psql($db, 'ALTER EXTENSION pg_steward UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'}),
		$default, "$from: ALTER EXTENSION UPDATE reaches $default");
	is($node->safe_psql($db, $q_state), $before, "$from: the history, the jobs, the ledger and the data are kept");
	is($node->safe_psql($db, qq{SELECT is_valid || '|' || events_unsealed FROM verify_audit_chain(trusted_digest => '$digest')}),
		'true|0', "$from: the ledger verifies against the digest taken before the update");
	is($node->safe_psql($db, $q_objects), $fresh_objects, "$from: the same objects as a fresh install");
	is($node->safe_psql($db, $q_columns), $fresh_columns, "$from: the same table columns as a fresh install");
	is($node->safe_psql($db, $q_functions), $fresh_functions,
		"$from: the same function definitions and function privileges as a fresh install");
	is($node->safe_psql($db, $q_grants), $fresh_grants,
		"$from: the same privileges on schema steward and its tables as a fresh install");

	# and it goes on working
	is($node->safe_psql($db, q{SELECT migrate_apply('20260103_beds_idx', 'CREATE INDEX wards_beds_idx ON wards (beds)')}),
		'applied', "$from: migrations go on");
	$node->safe_psql($db, q{SELECT audit_append('LOGOUT', 'user', 'dr.jung'); SELECT audit_seal()});
	is($node->safe_psql($db, q{SELECT is_valid || '|' || events_checked || '|' || events_unsealed FROM verify_audit_chain()}),
		'true|' . ((split /\|/, $before)[2] + 2) . '|0', "$from: the ledger goes on");
	is($node->safe_psql($db, q{SELECT count(*) FROM migrate_lint('ALTER TABLE wards ALTER COLUMN beds SET NOT NULL')}),
		'2', "$from: the review works");
	is($node->safe_psql($db, q{SELECT count(*) FROM migrate_status() WHERE status = 'failed'}), '1',
		"$from: the failed attempt is still on record");
}

$node->stop;
done_testing();
