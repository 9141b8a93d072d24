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
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\n");
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

$node->stop;
done_testing();
