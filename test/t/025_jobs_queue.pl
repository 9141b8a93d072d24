# More jobs than pg_steward.max_jobs: the ones without a slot wait in the
# launcher's queue, in the order they were submitted, and the launcher
# sleeps while they wait instead of taking them up and putting them back
# in a loop (it used to spin at full CPU until a slot was free).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('jobs_queue');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.max_jobs = 1
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE TABLE q1 (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE q2 (LIKE q1 INCLUDING ALL);
CREATE TABLE q3 (LIKE q1 INCLUDING ALL);
INSERT INTO q1 (id) SELECT generate_series(1, 400);
INSERT INTO q2 SELECT * FROM q1;
INSERT INTO q3 SELECT * FROM q1;
});

my $launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward launcher'});
ok($launcher > 0, 'the launcher runs');

# the CPU time (user + system, in clock ticks) the launcher has used
sub launcher_ticks
{
	my @f = split ' ', slurp_file("/proc/$launcher/stat") =~ s/^.*\) //sr;
	return $f[11] + $f[12];
}

# the first job holds the only slot for a few seconds; two more wait
my $first = $node->safe_psql('postgres',
	q{SELECT backfill('q1', 'n = n + 1', batch_size => 10, target_batch_time => '0', pause => '100ms')});
$node->poll_query_until('postgres', "SELECT state = 'running' FROM job_status($first)")
  or die 'the first job did not start';
my $second = $node->safe_psql('postgres', q{SELECT backfill('q2', 'n = n + 1')});
my $third = $node->safe_psql('postgres', q{SELECT backfill('q3', 'n = n + 1')});
my $ticks = launcher_ticks();
is($node->safe_psql('postgres', "SELECT string_agg(state, ',' ORDER BY id) FROM job_status() WHERE id IN ($second, $third)"),
	'queued,queued', 'with the only slot taken, the other two jobs wait');

$node->poll_query_until('postgres', "SELECT state = 'succeeded' FROM job_status($first)")
  or die 'the first job did not finish';
my $spent = launcher_ticks() - $ticks;
# A launcher that takes the waiting requests up again and again burns a
# whole core for the seconds the first job runs (hundreds of ticks); one
# that sleeps uses next to none.
cmp_ok($spent, '<', 100, "the launcher slept while two jobs waited for the slot ($spent clock ticks of CPU)");

for my $job ($second, $third)
{
	$node->poll_query_until('postgres', "SELECT state = 'succeeded' FROM job_status($job)")
	  or die "job $job did not finish";
}
is($node->safe_psql('postgres', qq{
SELECT (SELECT started_at FROM job_status($second)) <= (SELECT started_at FROM job_status($third))}),
	't', 'the waiting jobs started in the order they were submitted');
is($node->safe_psql('postgres', q{SELECT sum(n) FROM (SELECT n FROM q1 UNION ALL SELECT n FROM q2 UNION ALL SELECT n FROM q3) x}),
	'1200', 'every row of the three tables was updated once');

$node->stop;
done_testing();
