# copy_table under concurrent writes: every insert, update and delete made
# to the source while the copy runs reaches the target, the target ends up
# identical to the source, and with swap the target takes the source's name.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('copy');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE TABLE visits (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO visits SELECT g, '2025-01-01'::timestamptz + g * interval '1 minute', 'v' || g
  FROM generate_series(1, 100000) g;
CREATE TABLE visits_new (id bigint NOT NULL, at timestamptz NOT NULL, note text,
                         PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE visits_2025 PARTITION OF visits_new FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE visits_later PARTITION OF visits_new FOR VALUES FROM ('2026-01-01') TO ('2100-01-01');
});

# a copy of 50 batches; hold it part-way, so that the writes below land in
# the middle of the copy whatever the speed of the machine
my $job = $node->safe_psql('postgres', q{
SELECT copy_table('visits', 'visits_new', batch_size => 2000, target_batch_time => '0',
                  pause => '50ms', swap => true)});
$node->poll_query_until('postgres', "SELECT rows_done >= 20000 FROM job_status($job)")
  or die 'the copy did not start';
$node->safe_psql('postgres', "SELECT job_pause($job)");

# the application inserts, updates and deletes rows on both sides of the
# copy's position, each change in its own transaction
my $writer = $node->background_psql('postgres');
$writer->query_safe(q{
DO $$
BEGIN
    FOR i IN 1..1500 LOOP
        INSERT INTO visits VALUES (200000 + i, now(), 'new ' || i);
        UPDATE visits SET note = 'changed ' || i WHERE id = 1 + (i * 61) % 100000;
        DELETE FROM visits WHERE id = 50 + (i * 37) % 100000;
        COMMIT;
    END LOOP;
END $$});
$writer->quit;

like($node->safe_psql('postgres', "SELECT state || ' ' || phase FROM job_status($job)"), qr/^paused copy; copy [0-9.]+ s$/,
	'the writes happened in the middle of the copy');
$node->safe_psql('postgres', 'CREATE TABLE expected AS SELECT * FROM visits');
$node->safe_psql('postgres', "SELECT job_resume($job)");

$node->poll_query_until('postgres', "SELECT state IN ('succeeded', 'failed') FROM job_status($job)")
  or die 'the copy did not end';
is($node->safe_psql('postgres', "SELECT state || ' ' || coalesce(last_error, '') FROM job_status($job)"),
	'succeeded ', 'the copy succeeded');
like($node->safe_psql('postgres', "SELECT phase FROM job_status($job)"),
	qr/^done: \d+ rows, swapped \(the old table is visits_old\); copy [0-9.]+ s, replay [0-9.]+ s, verify [0-9.]+ s, final [0-9.]+ s, lock held \d+ ms$/,
	'the phase reports the rows, the swap, the time of each phase and how long the lock was held');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM visits) d}),
	'0', 'no row of the source is missing from the copy');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM visits EXCEPT SELECT * FROM expected) d}),
	'0', 'the copy has no row the source does not have');
is($node->safe_psql('postgres', q{SELECT count(*) FROM expected}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM visits}), 'same row count');
is($node->safe_psql('postgres', q{SELECT relkind FROM pg_class WHERE relname = 'visits'}), 'p',
	'after the swap, "visits" is the partitioned copy');
is($node->safe_psql('postgres', q{SELECT to_regclass('visits_old') IS NOT NULL}), 't', 'the old table is kept as visits_old');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'steward_copy_%'}), '0',
	'the capture trigger is gone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM steward.copy_changes}), '0', 'the change log is empty');

# --- a kill -9 of the worker in the middle of a copy while the application
# writes, and writes that escape the capture trigger --------------------------
$node->safe_psql('postgres', q{
CREATE TABLE rounds (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO rounds SELECT g, '2025-01-01'::timestamptz + g * interval '1 minute', 'r' || g
  FROM generate_series(1, 100000) g;
CREATE TABLE rounds_new (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
CREATE TABLE writer_stop (stop boolean);
});
$job = $node->safe_psql('postgres', q{
SELECT copy_table('rounds', 'rounds_new', batch_size => 2000, target_batch_time => '0', pause => '100ms')});
$writer = $node->background_psql('postgres', on_error_stop => 0);
$writer->query_until(qr/writing/, q{\echo writing
DO $$
DECLARE i int := 0;
BEGIN
    WHILE NOT EXISTS (SELECT FROM writer_stop) LOOP
        i := i + 1;
        INSERT INTO rounds VALUES (200000 + i, now(), 'new ' || i);
        UPDATE rounds SET note = 'changed ' || i WHERE id = 1 + (i * 61) % 100000;
        DELETE FROM rounds WHERE id = 50 + (i * 37) % 100000;
        UPDATE rounds SET id = 400000 + i WHERE id = 3 + (i * 53) % 100000;
        COMMIT;
        PERFORM pg_sleep(0.002);
    END LOOP;
END $$;
});
$node->poll_query_until('postgres', "SELECT rows_done >= 20000 AND state = 'running' FROM job_status($job)")
  or die 'the copy did not get going';
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM job_status($job)");
kill 'KILL', $pid;
# the crash ends the writer's session too; write again once the job runs again
$writer->quit;
$node->poll_query_until('postgres', "SELECT attempts >= 2 AND state = 'running' FROM job_status($job)")
  or die 'the copy did not run again after the crash';
$writer = $node->background_psql('postgres', on_error_stop => 0);
$writer->query_until(qr/writing/, q{\echo writing
DO $$
DECLARE i int := 5000;
BEGIN
    WHILE NOT EXISTS (SELECT FROM writer_stop) LOOP
        i := i + 1;
        INSERT INTO rounds VALUES (200000 + i, now(), 'new ' || i);
        UPDATE rounds SET note = 'changed ' || i WHERE id = 1 + (i * 61) % 100000;
        DELETE FROM rounds WHERE id = 50 + (i * 37) % 100000;
        COMMIT;
        PERFORM pg_sleep(0.002);
    END LOOP;
END $$;
});
$node->poll_query_until('postgres', "SELECT rows_done >= 60000 FROM job_status($job)")
  or die 'the copy did not go on';
$node->safe_psql('postgres', "SELECT job_pause($job)");
$node->poll_query_until('postgres', "SELECT state = 'paused' FROM job_status($job)")
  or die 'the copy did not pause';
$node->safe_psql('postgres', 'INSERT INTO writer_stop VALUES (true)');
$writer->quit;
like($node->safe_psql('postgres', "SELECT phase FROM job_status($job)"), qr/^copy;/, 'paused in the copy phase');

# writes no trigger sees: in the copied part of the source, past its last
# key, and in the target
$node->safe_psql('postgres', q{
SET session_replication_role = replica;
UPDATE rounds SET note = 'escaped' WHERE id = (SELECT min(id) FROM rounds);
DELETE FROM rounds WHERE id = (SELECT min(id) + 1 FROM rounds);
INSERT INTO rounds VALUES (900000, now(), 'escaped insert');
INSERT INTO rounds_new VALUES (950000, now(), 'stray row');
});
$node->safe_psql('postgres', "SELECT job_resume($job)");
$node->poll_query_until('postgres', "SELECT state IN ('succeeded', 'failed') FROM job_status($job)")
  or die 'the copy did not end';
is($node->safe_psql('postgres', "SELECT state || ' ' || coalesce(last_error, '') FROM job_status($job)"),
	'succeeded ', 'the copy interrupted by a crash succeeded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM rounds EXCEPT SELECT * FROM rounds_new) d}),
	'0', 'after the crash, no row of the source is missing from the copy');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM rounds_new EXCEPT SELECT * FROM rounds) d}),
	'0', 'after the crash, the copy has no row the source does not have');
like(slurp_file($node->logfile), qr/pg_steward job $job: range up to key \S+ differed and was copied again.*pg_steward job $job: the last range, after key \S+, differed and was copied again/s,
	'verify found the ranges the escaped writes changed');
is($node->safe_psql('postgres', "SELECT count(*) FROM steward.copy_changes WHERE job_id = $job"), '0',
	'the change log of the job is empty');

$node->stop;
done_testing();
