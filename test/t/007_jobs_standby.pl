# The health gate: while a streaming standby falls behind, a job holds
# between batches (and says why) instead of failing or piling up WAL; it
# goes on once the standby has caught up.  The standby itself runs no job;
# promoted after the primary died in the middle of a job, it resumes that
# job from its last checkpoint and finishes it, every row updated once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.max_replication_lag_bytes = '256kB'
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE TABLE readings (id bigint PRIMARY KEY, v int NOT NULL DEFAULT 0, pad text);
INSERT INTO readings SELECT g, 0, repeat('x', 200) FROM generate_series(1, 20000) g;
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\n");
$standby->start;
$primary->wait_for_catchup($standby);

# stall the standby's replay, then start a job that writes a lot of WAL
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
my $job = $primary->safe_psql('postgres',
	q{SELECT backfill('readings', 'v = v + 1', batch_size => 1000, target_batch_time => '0')});
$primary->poll_query_until('postgres', "SELECT hold_reason LIKE 'a standby''s replay is % behind%' FROM job_status($job)")
  or die 'the job did not hold for the lagging standby';
my $held_at = $primary->safe_psql('postgres', "SELECT rows_done FROM job_status($job)");
ok($held_at < 20000, "the job holds part-way ($held_at rows) while the standby lags");
is($primary->safe_psql('postgres', "SELECT state FROM job_status($job)"), 'running', 'holding is not failing');

# the standby catches up: the job goes on to the end
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
$primary->poll_query_until('postgres', "SELECT state = 'succeeded' FROM job_status($job)")
  or die 'the job did not finish after the standby caught up';
is($primary->safe_psql('postgres', 'SELECT count(*) FROM readings WHERE v <> 1'), '0', 'every row updated once');

# the standby runs no job and no launcher
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_steward%'"),
	'0', 'no pg_steward worker runs on the standby');
is($standby->safe_psql('postgres', "SELECT state FROM job_status($job)"), 'succeeded',
	'job_status works on the standby');

# --- failover in the middle of a job: the promoted standby finishes it -------
my $job2 = $primary->safe_psql('postgres',
	q{SELECT backfill('readings', 'v = v + 1', batch_size => 500, pause => '100ms', target_batch_time => '0')});
$primary->poll_query_until('postgres', "SELECT rows_done >= 1000 FROM job_status($job2)")
  or die 'the job did not start';
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby did not leave recovery';
my $done_at_failover = $standby->safe_psql('postgres', "SELECT rows_done FROM job_status($job2)");
ok($done_at_failover > 0 && $done_at_failover < 20000,
	"the job was part-way ($done_at_failover rows) when the primary went away");
$standby->poll_query_until('postgres', "SELECT state = 'succeeded' FROM job_status($job2)")
  or die 'the promoted standby did not finish the job';
pass('the promoted standby resumes the job from its checkpoint and finishes it');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM readings WHERE v <> 2'), '0',
	'every row updated exactly once across the failover');

$standby->stop;
done_testing();
