# lock_timeout applies to every migration statement; a lock timeout retries
# the whole migration with backoff a bounded number of times, then fails
# clearly, and never waits without a timeout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('locks');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\n");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE TABLE busy (id int);
SET pg_steward.lock_retry_delay = '20ms';
});

# A session that holds an ACCESS SHARE lock on "busy", as a long report would.
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; SELECT count(*) FROM busy;');

# 1. Retries run out: a clear error, nothing changed, the attempt recorded.
my ($out, $err);
$node->psql('postgres', q{
SET pg_steward.lock_retry_delay = '10ms';
SELECT migrate_apply('lock_001', 'ALTER TABLE busy ADD COLUMN c int',
                     lock_timeout => '50ms', lock_retries => 2);
}, stdout => \$out, stderr => \$err);
like($err, qr/retry 1 of 2/, 'first retry announced');
like($err, qr/retry 2 of 2/, 'second retry announced');
unlike($err, qr/retry 3 of/, 'no third retry');
like($err, qr/migration "lock_001" failed at statement 1 of 1: canceling statement due to lock timeout/,
	'the final error names the lock timeout');
like($err, qr/after 2 retries/, 'the hint says how often it retried');
is($node->safe_psql('postgres',
		"SELECT status || ':' || error_sqlstate || ':' || lock_retries FROM migrate_status() WHERE version = 'lock_001'"),
	'failed:55P03:2', 'status records the lock timeout and the retries');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM information_schema.columns WHERE table_name = 'busy' AND column_name = 'c'"),
	'0', 'nothing changed');

# 2. The lock goes away during the backoff: the migration succeeds.
my $deployer = $node->background_psql('postgres', on_error_stop => 0);
$deployer->query_until(qr/started/, q{\echo started
SET pg_steward.lock_retry_delay = '50ms';
SET pg_steward.lock_retry_max_delay = '100ms';
SELECT migrate_apply('lock_002', 'ALTER TABLE busy ADD COLUMN c int',
                     lock_timeout => '50ms', lock_retries => 100);
\echo finished
});
# wait until the deployer has retried at least once: it then sleeps in its backoff
$node->poll_query_until('postgres', q{
SELECT count(*) > 0 FROM pg_stat_activity
 WHERE query LIKE '%lock_002%' AND backend_type = 'client backend'
   AND wait_event_type = 'Extension'})
  or die 'the deployer never backed off';
$holder->query_safe('COMMIT;');
$deployer->query_until(qr/finished/, '');
$deployer->quit;

is($node->safe_psql('postgres',
		"SELECT status || ':' || (lock_retries > 0)::text FROM migrate_status() WHERE version = 'lock_002'"),
	'completed:true', 'applied after at least one retry');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM information_schema.columns WHERE table_name = 'busy' AND column_name = 'c'"),
	'1', 'the change is in place');

# 3. A statement that runs too long is cancelled by the migration's statement_timeout.
$node->psql('postgres', q{
SELECT migrate_apply('lock_003', 'SELECT pg_sleep(60)', statement_timeout => '200ms');
}, stdout => \$out, stderr => \$err);
like($err, qr/statement_timeout \(200 ms\)/, 'statement_timeout cancels a long statement');
is($node->safe_psql('postgres',
		"SELECT status || ':' || error_sqlstate FROM migrate_status() WHERE version = 'lock_003'"),
	'failed:57014', 'the timeout is recorded with SQLSTATE 57014');

# 4. The per-call lock_timeout overrides the GUC, which overrides the default.
$holder->query_safe('BEGIN; SELECT count(*) FROM busy;');
$node->psql('postgres', q{
SET pg_steward.lock_timeout = '30ms';
SET pg_steward.lock_retries = 0;
SELECT migrate_apply('lock_004', 'ALTER TABLE busy ADD COLUMN d int');
}, stdout => \$out, stderr => \$err);
like($err, qr/lock timeout/, 'pg_steward.lock_timeout applies when no per-call value is given');
unlike($err, qr/retry 1/, 'pg_steward.lock_retries = 0 means no retry');
$holder->query_safe('COMMIT;');
$holder->quit;

$node->stop;
done_testing();
