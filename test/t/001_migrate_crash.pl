# A backend killed (kill -9) in the middle of migrate_apply, and a server
# stopped in immediate mode in the middle of one, leave no half-applied
# schema and no attempt stuck in in_progress: the attempt reads as failed
# (aborted), and the next migration operation writes that down as an
# 'abort' event.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');

# Start a migration that creates a table, fills it and then sleeps, and
# wait until it sleeps inside its last statement.
sub start_sleeping_migration
{
	my ($version) = @_;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/started/, qq{\\echo started
SELECT migrate_apply('$version', \$\$CREATE TABLE ${version}_t (id int);
INSERT INTO ${version}_t SELECT generate_series(1, 1000);
SELECT pg_sleep(600)\$\$);
});
	$node->poll_query_until('postgres', qq{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND wait_event = 'PgSleep'
   AND query LIKE '%$version%'})
	  or die "migration $version did not reach its last statement";
	my $pid = $node->safe_psql('postgres', qq{
SELECT pid FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND wait_event = 'PgSleep' AND query LIKE '%$version%'});
	return ($bg, $pid);
}

sub status_of
{
	my ($version) = @_;
	return $node->safe_psql('postgres',
		"SELECT status || '|' || coalesce(error_message, '') FROM migrate_status() WHERE version = '$version'");
}

# --- kill -9 of the backend running the migration ------------------------
my ($bg, $pid) = start_sleeping_migration('crash_001');
like(status_of('crash_001'), qr/^in_progress\|/, 'the running migration reads as in_progress');

kill 'KILL', $pid;
eval { $bg->quit; };
$node->poll_query_until('postgres', 'SELECT true')
  or die 'server did not come back after the crash';

like(status_of('crash_001'), qr/^failed\|aborted: /, 'after kill -9 the attempt reads as failed (aborted)');
is($node->safe_psql('postgres', "SELECT to_regclass('crash_001_t') IS NULL"), 't',
	'no part of the killed migration is left');
is($node->safe_psql('postgres',
		"SELECT string_agg(event || ':' || (id IS NULL)::text, ',') FROM migrate_history('crash_001')"),
	'abort:true', 'history shows the abort before it is written down');

# the next migration operation writes the abort down
$node->safe_psql('postgres', "SELECT migrate_apply('crash_002', 'CREATE TABLE crash_002_t (id int)')");
is($node->safe_psql('postgres',
		"SELECT string_agg(event || ':' || (id IS NULL)::text, ',') FROM migrate_history('crash_001')"),
	'abort:false', 'the abort is written down as an event by the next migration');
is($node->safe_psql('postgres', "SELECT status FROM steward.migrations WHERE version = 'crash_001'"),
	'failed', 'the stored status is failed');

# the version can be applied again (out of order, since crash_002 is newer)
$node->safe_psql('postgres',
	"SELECT migrate_apply('crash_001', 'CREATE TABLE crash_001_t (id int)', out_of_order => true)");
is($node->safe_psql('postgres', "SELECT status || ':' || attempts FROM migrate_status() WHERE version = 'crash_001'"),
	'completed:2', 'the aborted version applies on its next attempt');

# --- immediate shutdown in the middle of a migration ---------------------
($bg, $pid) = start_sleeping_migration('crash_003');
$node->stop('immediate');
eval { $bg->quit; };
$node->start;

like(status_of('crash_003'), qr/^failed\|aborted: /, 'after an immediate shutdown the attempt reads as failed (aborted)');
is($node->safe_psql('postgres', "SELECT to_regclass('crash_003_t') IS NULL"), 't',
	'no part of the interrupted migration is left');
is($node->safe_psql('postgres', "SELECT count(*) FROM migrate_status() WHERE status = 'in_progress'"),
	'0', 'no attempt is stuck in in_progress');

# --- a failure stays on record after the failing session has ended -------
my ($out, $err);
$node->psql('postgres', "SELECT migrate_apply('crash_004', 'SELECT 1/0', out_of_order => true)",
	stdout => \$out, stderr => \$err);
like($err, qr/migration "crash_004" failed at statement 1 of 1: division by zero/, 'the failure is reported');
is($node->safe_psql('postgres', "SELECT status || ':' || error_sqlstate FROM migrate_status() WHERE version = 'crash_004'"),
	'failed:22012', 'the failure is on record after the session ended');

$node->stop;
done_testing();
