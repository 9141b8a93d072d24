# The recorder (the background worker that commits attempt records in their
# own transactions) connects as the caller's session user, so an ordinary
# login role can deploy; a recorder waiting for the next record of its role
# records the attempts of two roles one after the other each under its own
# role, and leaves by itself, or at once when another role's migration needs
# its worker slot; and without a free worker slot a migration is refused
# before anything changes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('recorder');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\n");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE ROLE deployer LOGIN;
GRANT CREATE ON SCHEMA public TO deployer;
GRANT EXECUTE ON FUNCTION migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]),
                          migrate_status() TO deployer;
});

# --- an ordinary login role deploys; its failures are recorded too -------
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT migrate_apply('rec_001', 'CREATE TABLE rec_one (id int)')",
	extra_params => ['-U', 'deployer']);
is($ret, 0, 'a non-superuser login role applies a migration');
($ret, $out, $err) = $node->psql('postgres',
	"SELECT migrate_apply('rec_002', 'CREATE TABLE rec_two (id int); SELECT 1/0')",
	extra_params => ['-U', 'deployer']);
like($err, qr/division by zero/, 'its failing migration reports the error');
is($node->safe_psql('postgres', q{
SELECT string_agg(version || ':' || status || ':' || session_user_name || ':' || current_user_name, ',' ORDER BY version)
  FROM migrate_status()}),
	'rec_001:completed:deployer:deployer,rec_002:failed:deployer:deployer',
	'both attempts are recorded under the deployer');
is($node->safe_psql('postgres', "SELECT tableowner FROM pg_tables WHERE tablename = 'rec_one'"),
	'deployer', 'the migration ran as the deployer');

# --- the pool: migrations of two roles one after the other ----------------
# A recorder waits a moment for the next record of its own role and
# database; every attempt is still recorded under the role that made it,
# and the waiting recorders leave by themselves.
$node->safe_psql('postgres', q{
CREATE ROLE deployer2 LOGIN;
GRANT CREATE ON SCHEMA public TO deployer2;
GRANT EXECUTE ON FUNCTION migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[])
    TO deployer2;
});
my @expected;
for my $i (1 .. 6)
{
	my $role = $i % 2 ? 'deployer' : 'deployer2';
	my $sql = $i == 5 ? 'SELECT 1/0' : "CREATE TABLE pool_$i (id int)";
	$node->psql('postgres', "SELECT migrate_apply('rec_002_pool_$i', '$sql')",
		extra_params => ['-U', $role]);
	push @expected, "rec_002_pool_$i:" . ($i == 5 ? 'failed' : 'completed') . ":$role";
}
is($node->safe_psql('postgres', q{
SELECT string_agg(version || ':' || status || ':' || session_user_name, ',' ORDER BY version)
  FROM migrate_status() WHERE version LIKE 'rec\_002\_pool%'}),
	join(',', @expected), 'six attempts of two roles in a row, a failure among them, each recorded under its role');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM steward.migration_events WHERE version LIKE 'rec\_002\_pool%'}),
	'6', 'one event per attempt');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_steward recorder'"),
	'the waiting recorders exit by themselves');

# --- one worker slot for recorders: an idle one of another role gives it up
# With room for the launchers (pg_steward's, logical replication's) and one
# recorder only (and no sealer), a
# migration of deployer leaves its recorder waiting in the pool for the
# next record of deployer; a migration of deployer2 right after it finds no
# free slot, asks that recorder to leave, and gets its slot.
$node->append_conf('postgresql.conf', "max_worker_processes = 3\npg_steward.audit_seal_interval = 0\n");
$node->restart;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type LIKE 'pg_steward%'"),
	'only the launcher runs');
($ret, $out, $err) = $node->psql('postgres', q{
SET SESSION AUTHORIZATION deployer;
SELECT migrate_apply('rec_002_slot_a', 'CREATE TABLE rec_slot_a (id int)');
RESET SESSION AUTHORIZATION;
SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward recorder';
SET SESSION AUTHORIZATION deployer2;
SELECT migrate_apply('rec_002_slot_b', 'CREATE TABLE rec_slot_b (id int)');});
is($ret, 0, 'a migration of another role right after one that filled the last slot') or diag($err);
like($out, qr/^t?\n?1\n/m, '... while the first one\'s recorder was still waiting in the pool');
is($node->safe_psql('postgres', q{
SELECT string_agg(version || ':' || status || ':' || session_user_name, ',' ORDER BY version)
  FROM migrate_status() WHERE version IN ('rec_002_slot_a', 'rec_002_slot_b')}),
	'rec_002_slot_a:completed:deployer,rec_002_slot_b:completed:deployer2', '... both recorded under their roles');

# --- no free background worker slot: refused, nothing changed ------------
$node->append_conf('postgresql.conf', "max_worker_processes = 0\n");
$node->restart;
($ret, $out, $err) = $node->psql('postgres',
	"SELECT migrate_apply('rec_003', 'CREATE TABLE rec_three (id int)')");
like($err, qr/could not record the start of migration "rec_003": no background worker slot is free/,
	'without a worker slot the migration is refused');
like($err, qr/max_worker_processes/, 'the hint names max_worker_processes');
is($node->safe_psql('postgres', "SELECT to_regclass('rec_three') IS NULL"), 't', 'nothing was created');
is($node->safe_psql('postgres', "SELECT count(*) FROM migrate_status() WHERE version = 'rec_003'"),
	'0', 'nothing was recorded');

$node->stop;
done_testing();
