# Jobs survive crashes: kill -9 of a job worker and an immediate shutdown
# in the middle of a backfill; the job resumes from its last committed
# batch, and every row is updated exactly once (each batch adds 1 to n).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('jobs_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
restart_after_crash = on
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE TABLE visits (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO visits (id) SELECT generate_series(1, 200000);
CREATE TABLE visits2 (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO visits2 (id) SELECT generate_series(1, 200000);
});

sub start_backfill
{
	my ($table) = @_;
	return $node->safe_psql('postgres', qq{
SELECT backfill('$table', 'n = n + 1', batch_size => 2000, target_batch_time => '0', pause => '20ms')});
}

sub wait_rows_done
{
	my ($job, $rows) = @_;
	$node->poll_query_until('postgres',
		"SELECT rows_done >= $rows AND state = 'running' FROM job_status($job)")
	  or die "job $job did not get to $rows rows";
}

sub wait_finished
{
	my ($job) = @_;
	$node->poll_query_until('postgres', "SELECT state = 'succeeded' FROM job_status($job)")
	  or die "job $job did not succeed: "
	  . $node->safe_psql('postgres', "SELECT state || ' ' || coalesce(last_error, '') FROM job_status($job)");
}

# --- kill -9 of the job worker ---------------------------------------------
my $job = start_backfill('visits');
wait_rows_done($job, 20000);
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM job_status($job)");
ok($pid > 0, 'the running job names its worker');
is($node->safe_psql('postgres', "SELECT backend_type FROM pg_stat_activity WHERE pid = $pid"),
	'pg_steward job', 'the worker shows in pg_stat_activity as a pg_steward job');
kill 'KILL', $pid;

$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
wait_finished($job);
is($node->safe_psql('postgres', 'SELECT count(*) FROM visits WHERE n <> 1'), '0',
	'after kill -9 and resume every row was updated exactly once');
cmp_ok($node->safe_psql('postgres', "SELECT attempts FROM job_status($job)"), '>=', 2,
	'the job ran again after the crash');
is($node->safe_psql('postgres', "SELECT rows_done FROM job_status($job)"), '200000',
	'progress counts every row once');

# --- immediate shutdown in the middle of a job -----------------------------
$job = start_backfill('visits2');
wait_rows_done($job, 20000);
$node->stop('immediate');
$node->start;
wait_finished($job);
is($node->safe_psql('postgres', 'SELECT count(*) FROM visits2 WHERE n <> 1'), '0',
	'after an immediate shutdown and restart every row was updated exactly once');

# --- a job paused before a restart stays paused ----------------------------
$job = start_backfill('visits');
$node->safe_psql('postgres', "SELECT job_pause($job)");
$node->restart;
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_steward dispatcher'");
is($node->safe_psql('postgres', "SELECT state FROM job_status($job)"), 'paused', 'a paused job stays paused across a restart');
$node->safe_psql('postgres', "SELECT job_resume($job)");
wait_finished($job);
is($node->safe_psql('postgres', 'SELECT count(*) FROM visits WHERE n <> 2'), '0', 'resumed after the restart, every row once more');

# --- several databases with the extension, one launcher -------------------
$node->safe_psql('postgres', 'CREATE DATABASE ward_b');
$node->safe_psql('ward_b', q{
CREATE EXTENSION pg_steward;
CREATE TABLE beds (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO beds (id) SELECT generate_series(1, 20000);
});
my $job_a = start_backfill('visits2');
my $job_b = $node->safe_psql('ward_b', q{SELECT backfill('beds', 'n = n + 1', batch_size => 2000, target_batch_time => '0')});
$node->poll_query_until('ward_b', "SELECT state = 'succeeded' FROM job_status($job_b)")
  or die 'the job in the second database did not succeed';
wait_finished($job_a);
is($node->safe_psql('ward_b', 'SELECT count(*) FROM beds WHERE n <> 1'), '0', 'a job in a second database ran');
is($node->safe_psql('postgres', 'SELECT count(*) FROM visits2 WHERE n <> 2'), '0', 'and the one in the first database too');

$node->stop;
done_testing();
