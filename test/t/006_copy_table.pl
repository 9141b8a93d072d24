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
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward, pg_stat_statements, auto_explain'\n"
	  . "pg_stat_statements.track = 'all'\nsearch_path = 'public, steward'\nrestart_after_crash = on\n");
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
	qr/^done: \d+ rows, swapped \(the old table is visits_old\); copy [0-9.]+ s, replay [0-9.]+ s, verify [0-9.]+ s, final [0-9.]+ s, lock held \d+ ms, log entries replayed \d+ before it in \d+ rounds? and \d+ under it$/,
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
unlike(slurp_file($node->logfile), qr/pg_steward job $job: .*differed and was copied again/,
	'no range differed: every write made during the pause was replayed or copied');

# A session that inserts, updates and deletes rows of $table ("rounds" by
# default; its keys 1 to 100000 at the start) (and moves keys, with
# $key_updates), one transaction per round from round $from on, until a row
# appears in writer_stop; with $nap, at most one round every $nap seconds (the
# application's write rate: a copy can only catch up with a log that grows
# more slowly than it replays it).
sub start_writer
{
	my ($from, $key_updates, $table, $nap) = @_;
	$table //= 'rounds';
	my $rate = $nap ? "PERFORM pg_sleep($nap);" : '';
	my $move = $key_updates
	  ? "UPDATE $table SET id = 400000 + i WHERE id = 3 + (i * 53) % 100000;"
	  : '';
	my $session = $node->background_psql('postgres', on_error_stop => 0);
	$session->query_until(qr/writing/, qq{\\echo writing
DO \$\$
DECLARE i int := $from;
BEGIN
    WHILE NOT EXISTS (SELECT FROM writer_stop) LOOP
        i := i + 1;
        INSERT INTO $table VALUES (200000 + i, now(), 'new ' || i);
        UPDATE $table SET note = 'changed ' || i WHERE id = 1 + (i * 61) % 100000;
        DELETE FROM $table WHERE id = 50 + (i * 37) % 100000;
        $move
        COMMIT;
        $rate
    END LOOP;
END \$\$;
});
	return $session;
}

# A table $name of 100000 rows (id, at, note; notes "$letter<id>") as
# start_writer writes it, and its empty copy ${name}_new; no writer stop yet
sub writer_tables
{
	my ($name, $letter) = @_;
	$node->safe_psql('postgres', qq{
CREATE TABLE $name (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO $name SELECT g, '2025-01-01'::timestamptz + g * interval '1 minute', '$letter' || g
  FROM generate_series(1, 100000) g;
CREATE TABLE ${name}_new (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
DELETE FROM writer_stop;
});
	return;
}

# "<rows of $a not in $b> <rows of $b not in $a>", by EXCEPT
sub except_counts
{
	my ($a, $b) = @_;
	return $node->safe_psql('postgres', qq{
SELECT (SELECT count(*) FROM (SELECT * FROM $a EXCEPT SELECT * FROM $b) x) || ' '
    || (SELECT count(*) FROM (SELECT * FROM $b EXCEPT SELECT * FROM $a) y)});
}

# Hold job $job once $condition (SQL on its job_status() row) holds: pause it
# and wait until it is paused; $what names the moment for the messages.
sub hold_job
{
	my ($job, $condition, $what) = @_;
	$node->poll_query_until('postgres', "SELECT $condition FROM job_status($job)")
	  or die "the copy did not reach $what";
	$node->safe_psql('postgres', "SELECT job_pause($job)");
	$node->poll_query_until('postgres', "SELECT state = 'paused' FROM job_status($job)")
	  or die "the copy did not pause at $what";
	return;
}

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
$writer = start_writer(0, 1);
$node->poll_query_until('postgres', "SELECT rows_done >= 20000 AND state = 'running' FROM job_status($job)")
  or die 'the copy did not get going';
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM job_status($job)");
kill 'KILL', $pid;
# the crash ends the writer's session too (its psql may be gone already);
# write again once the job runs again
eval { $writer->quit; };
$node->poll_query_until('postgres', "SELECT attempts >= 2 AND state = 'running' FROM job_status($job)")
  or die 'the copy did not run again after the crash';
$writer = start_writer(5000, 0);
hold_job($job, 'rows_done >= 60000', '60 000 rows');
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

# --- a source that fits in one verify range by the planner's count of its
# rows is compared whole, read in any order; escaped writes are still found
$node->safe_psql('postgres', q{
CREATE TABLE beds (id bigint PRIMARY KEY, ward int, note text);
INSERT INTO beds SELECT g, g % 40, 'b' || g FROM generate_series(1, 6000) g;
VACUUM ANALYZE beds;
CREATE TABLE beds_new (id bigint PRIMARY KEY, ward int, note text);
CREATE EXTENSION pg_stat_statements;
SELECT pg_stat_statements_reset();
});
# verify ranges of 10 x 1000 keys: the 6000 rows fit in one
$job = $node->safe_psql('postgres', q{
SELECT copy_table('beds', 'beds_new', batch_size => 1000, target_batch_time => '0', pause => '100ms')});
hold_job($job, "rows_done >= 2000 AND state = 'running'", 'a third of beds');
$node->safe_psql('postgres', q{
SET session_replication_role = replica;
UPDATE beds SET note = 'escaped' WHERE id = 10;
DELETE FROM beds WHERE id = 11;
INSERT INTO beds VALUES (700000, 1, 'escaped insert');
});
$node->safe_psql('postgres', "SELECT job_resume($job)");
is($node->safe_psql('postgres', "CALL job_await($job)"), 'succeeded', 'the copy of a source that fits in one range succeeded');
is($node->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM (SELECT * FROM beds EXCEPT SELECT * FROM beds_new) a) || ' '
    || (SELECT count(*) FROM (SELECT * FROM beds_new EXCEPT SELECT * FROM beds) b)}),
	'0 0', 'the copy equals the source, escaped writes included');
like(slurp_file($node->logfile), qr/pg_steward job $job: the last range, after key \(none\), differed and was copied again/,
	'verify found that the whole range differed');
# verify read every row of the source, with neither ORDER BY nor LIMIT nor
# a condition, three times (it compared the range three times before it
# copied it again), and never in key order leaving out the log's keys ($3)
is($node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE query ~ 'ORDER BY' AND query ~ 'ANY \(\$3\)') || ' '
       || coalesce(sum(calls) FILTER (WHERE query = 'SELECT id, ward, note FROM public.beds'), 0)
  FROM pg_stat_statements
 WHERE query ~ '^SELECT (id, )?id, ward, note FROM public.beds\M'}),
	'0 3', 'verify read the source whole, in no order (no ORDER BY, no LIMIT)');

# --- the whole-range comparison leaves out the keys still in the log: writes
# committed after verify's replay took the log and before its comparison.
# The target's trigger makes the replay wait on an advisory lock held here,
# while rows are updated; no range may differ because of them
$node->safe_psql('postgres', q{
CREATE TABLE cots (id bigint PRIMARY KEY, note text);
INSERT INTO cots SELECT g, 'c' || g FROM generate_series(1, 3000) g;
VACUUM ANALYZE cots;
CREATE TABLE cots_new (id bigint PRIMARY KEY, note text);
CREATE FUNCTION cots_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock_shared(4242);
    PERFORM pg_advisory_unlock_shared(4242);
    RETURN NEW;
END $$;
CREATE TRIGGER cots_gate BEFORE INSERT ON cots_new FOR EACH ROW EXECUTE FUNCTION cots_gate();
});
$job = $node->safe_psql('postgres', q{
SELECT copy_table('cots', 'cots_new', batch_size => 1000, target_batch_time => '0', pause => '100ms')});
hold_job($job, "phase LIKE 'verify%'", 'verify');
$node->safe_psql('postgres', q{UPDATE cots SET note = 'before verify' WHERE id = 7});
my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(4242)');
$node->safe_psql('postgres', "SELECT job_resume($job)");
$node->poll_query_until('postgres', qq{
SELECT EXISTS (SELECT FROM pg_locks l JOIN job_status($job) j ON l.pid = j.worker_pid
                WHERE l.locktype = 'advisory' AND l.objid = 4242 AND NOT l.granted)})
  or die "verify's replay did not wait at the gate";
# twelve keys written while the replay waits: in the log when verify compares
$node->safe_psql('postgres', q{
UPDATE cots SET note = 'during verify' WHERE id BETWEEN 100 AND 105;
UPDATE cots SET note = 'during verify' WHERE id BETWEEN 2000 AND 2005;});
$gate->query_safe('SELECT pg_advisory_unlock(4242)');
$gate->quit;
is($node->safe_psql('postgres', "CALL job_await($job)"), 'succeeded', 'a copy whose whole-range verify had keys in the log succeeded');
is($node->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM (SELECT * FROM cots EXCEPT SELECT * FROM cots_new) a) || ' '
    || (SELECT count(*) FROM (SELECT * FROM cots_new EXCEPT SELECT * FROM cots) b) || ' '
    || (SELECT count(*) FROM cots_new WHERE note = 'during verify')}),
	'0 0 12', 'the copy equals the source, with the writes made during verify');
unlike(slurp_file($node->logfile), qr/pg_steward job $job: .*differed and was copied again/,
	'no range differed because of the keys in the log');

# --- the replayer replays the log while the worker copies. The target's
# trigger holds the worker inside its second batch (keys 10001 to 20000, the
# claim), whose snapshot is taken, while one transaction changes a key already
# copied, two keys of the batch in flight and one it has yet to reach
$node->safe_psql('postgres', q{
CREATE TABLE wards (id bigint PRIMARY KEY, note text);
INSERT INTO wards SELECT g, 'w' || g FROM generate_series(1, 30000) g;
CREATE TABLE wards_new (id bigint PRIMARY KEY, note text);
-- gates: key 15000 (second batch) waits while advisory lock 4243 is held,
-- key 22000 (third batch) while 4244 is
CREATE FUNCTION wards_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IN (15000, 22000) THEN
        PERFORM pg_advisory_lock_shared(CASE NEW.id WHEN 15000 THEN 4243 ELSE 4244 END);
        PERFORM pg_advisory_unlock_shared(CASE NEW.id WHEN 15000 THEN 4243 ELSE 4244 END);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER wards_gate BEFORE INSERT ON wards_new FOR EACH ROW EXECUTE FUNCTION wards_gate();
});

# Copy $table into ${table}_new (whose trigger waits at advisory lock 4243
# when it gets key 15000) in batches of 10 000 keys, with that gate closed:
# returns the job once its worker waits at the gate, inside its second batch,
# and the session that holds the gate
sub copy_at_gate
{
	my ($table) = @_;
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('SELECT pg_advisory_lock(4243)');
	my $id = $node->safe_psql('postgres', qq{
SELECT copy_table('$table', '${table}_new', batch_size => 10000, target_batch_time => '0')});
	$node->poll_query_until('postgres', qq{
SELECT EXISTS (SELECT FROM pg_locks l JOIN job_status($id) j ON l.pid = j.worker_pid
                WHERE l.locktype = 'advisory' AND l.objid = 4243 AND NOT l.granted)})
	  or die "the copy of $table did not wait at the gate in its second batch";
	return ($id, $holder);
}
($job, $gate) = copy_at_gate('wards');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward copy replayer'}),
	'1', 'a replayer runs beside the copying worker');
$node->safe_psql('postgres', q{
BEGIN;
UPDATE wards SET note = 'copied' WHERE id = 500;
UPDATE wards SET note = 'in flight' WHERE id IN (12000, 18000);
UPDATE wards SET note = 'ahead' WHERE id = 25000;
COMMIT;});
$node->poll_query_until('postgres', q{SELECT note = 'copied' FROM wards_new WHERE id = 500})
  or die 'the replayer did not replay a copied key while the worker waited';
is($node->safe_psql('postgres', qq{
SELECT string_agg(key, ',' ORDER BY key::bigint) FROM steward.copy_changes WHERE job_id = $job}),
	'12000,18000', 'the keys of the batch in flight stay in the log; the key ahead of the copy left it unreplayed');
# the replayer ends (terminated): the worker replays alone from then on
$node->safe_psql('postgres', q{
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_steward copy replayer'});
$node->poll_query_until('postgres', q{
SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_steward copy replayer'})
  or die 'the replayer did not end';
$gate->query_safe('SELECT pg_advisory_unlock(4243)');
$gate->quit;
is($node->safe_psql('postgres', "CALL job_await($job)"), 'succeeded', 'the copy whose replayer ended succeeded');
is(except_counts('wards', 'wards_new'), '0 0', 'the copy equals the source');
is($node->safe_psql('postgres', q{
SELECT string_agg(note, ',' ORDER BY id) FROM wards_new WHERE id IN (500, 12000, 18000, 25000)}),
	'copied,in flight,in flight,ahead', 'with the four writes');
unlike(slurp_file($node->logfile), qr/pg_steward job $job: .*differed and was copied again/,
	'no range differed: the replayer lost no write');

# --- the last copy batch claims up to the frozen bound (25000): the source's
# largest key, deleted before that batch looks for its keys, is inserted
# again while the batch runs; its entry stays in the log for the replay
$node->safe_psql('postgres', q{
CREATE TABLE marks (id bigint PRIMARY KEY, note text);
INSERT INTO marks SELECT g, 'm' || g FROM generate_series(1, 25000) g;
CREATE TABLE marks_new (id bigint PRIMARY KEY, note text);
CREATE TRIGGER marks_gate BEFORE INSERT ON marks_new FOR EACH ROW EXECUTE FUNCTION wards_gate();
});
my $gate2 = $node->background_psql('postgres');
$gate2->query_safe('SELECT pg_advisory_lock(4244)');
($job, $gate) = copy_at_gate('marks');
$node->safe_psql('postgres', q{DELETE FROM marks WHERE id = 25000});
$gate->query_safe('SELECT pg_advisory_unlock(4243)');
$gate->quit;
$node->poll_query_until('postgres', qq{
SELECT EXISTS (SELECT FROM pg_locks l JOIN job_status($job) j ON l.pid = j.worker_pid
                WHERE l.locktype = 'advisory' AND l.objid = 4244 AND NOT l.granted)})
  or die "the copy's last batch did not wait at the gate";
$node->safe_psql('postgres', q{
BEGIN;
INSERT INTO marks VALUES (25000, 'inserted again');
UPDATE marks SET note = 'copied' WHERE id = 5;
COMMIT;});
$node->poll_query_until('postgres', q{SELECT note = 'copied' FROM marks_new WHERE id = 5})
  or die 'the replayer did not replay a copied key while the worker waited';
is($node->safe_psql('postgres', qq{SELECT string_agg(DISTINCT key, ',') FROM steward.copy_changes WHERE job_id = $job}),
	'25000', "a key written up to the bound during the last batch stays in the log");
$gate2->query_safe('SELECT pg_advisory_unlock(4244)');
$gate2->quit;
is($node->safe_psql('postgres', "CALL job_await($job)"), 'succeeded', 'the copy succeeded');
is(except_counts('marks', 'marks_new'), '0 0', 'the copy equals the source, the key inserted again included');
unlike(slurp_file($node->logfile), qr/pg_steward job $job: .*differed and was copied again/,
	'no range differed: the key inserted again was replayed');

# --- with pg_steward.copy_replayer off, the worker replays alone
$node->safe_psql('postgres', q{
ALTER SYSTEM SET pg_steward.copy_replayer = off;
SELECT pg_reload_conf();
CREATE TABLE cribs (id bigint PRIMARY KEY, note text);
INSERT INTO cribs SELECT g, 'c' || g FROM generate_series(1, 20000) g;
CREATE TABLE cribs_new (id bigint PRIMARY KEY, note text);
CREATE TRIGGER cribs_gate BEFORE INSERT ON cribs_new FOR EACH ROW EXECUTE FUNCTION wards_gate();
});
$node->poll_query_until('postgres', q{SELECT NOT current_setting('pg_steward.copy_replayer')::bool})
  or die 'the setting was not reloaded';
($job, $gate) = copy_at_gate('cribs');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward copy replayer'}),
	'0', 'with pg_steward.copy_replayer off, no replayer runs');
$node->safe_psql('postgres', q{UPDATE cribs SET note = 'changed' WHERE id IN (5, 19000)});
$gate->query_safe('SELECT pg_advisory_unlock(4243)');
$gate->quit;
is($node->safe_psql('postgres', "CALL job_await($job)"), 'succeeded', 'the copy without a replayer succeeded');
is(except_counts('cribs', 'cribs_new'), '0 0', 'the copy without a replayer equals the source');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET pg_steward.copy_replayer; SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{SELECT current_setting('pg_steward.copy_replayer')::bool})
  or die 'the setting was not reloaded';

# --- a kill -9 of the replayer in the middle of a copy while the application
# writes: the server restarts, the job resumes and the copy is exact
writer_tables('doses', 'd');
$job = $node->safe_psql('postgres', q{
SELECT copy_table('doses', 'doses_new', batch_size => 2000, target_batch_time => '0', pause => '100ms')});
$writer = start_writer(0, 0, 'doses');
$node->poll_query_until('postgres', qq{
SELECT rows_done >= 20000 AND (SELECT count(*) FROM steward.copy_changes WHERE job_id = $job) < 5000
  FROM job_status($job)})
  or die 'the copy did not get going';
$pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward copy replayer'});
ok($pid =~ /^\d+$/, 'the copy has a replayer');
kill 'KILL', $pid;
eval { $writer->quit; };
$node->poll_query_until('postgres', "SELECT attempts >= 2 AND state = 'running' FROM job_status($job)")
  or die 'the copy did not run again after the crash';
$writer = start_writer(5000, 0, 'doses');
$node->poll_query_until('postgres', "SELECT rows_done >= 60000 FROM job_status($job)")
  or die 'the copy did not go on after the crash';
$node->safe_psql('postgres', 'INSERT INTO writer_stop VALUES (true)');
$writer->quit;
is($node->safe_psql('postgres', "CALL job_await($job)"), 'succeeded', 'the copy whose replayer was killed succeeded');
is(except_counts('doses', 'doses_new'), '0 0', 'after the kill of the replayer, the copy equals the source');
unlike(slurp_file($node->logfile), qr/pg_steward job $job: .*differed and was copied again/,
	'no range differed after the kill of the replayer');

# --- what the target does to the rows it is given: the copy writes them in
# bulk only where that is what the INSERT would do ---------------------------
$node->safe_psql('postgres', q{
CREATE TABLE kinds (id bigint PRIMARY KEY, a int, b text);
INSERT INTO kinds SELECT g, g, 'row ' || g FROM generate_series(1, 100) g;
});

# submit a copy of kinds into the target as role (superuser when undef), wait
sub copy_into
{
	my ($target, $role, %opts) = @_;
	my $set = $role ? "SET ROLE $role;" : '';
	my $after = $opts{after_submit} // '';
	# the job starts when this transaction commits
	my $job = $node->safe_psql('postgres', qq{BEGIN; $set
SELECT copy_table('kinds', '$target', batch_size => 30, target_batch_time => '0');
RESET ROLE; $after COMMIT;});
	$node->poll_query_until('postgres', "SELECT state IN ('succeeded', 'failed') FROM job_status($job)")
	  or die "the copy into $target did not end";
	return $node->safe_psql('postgres',
		"SELECT state || ' ' || coalesce(last_sqlstate, '') FROM job_status($job)");
}

# a partitioned target whose partition has its columns in another order and
# a dropped column: each row is converted to its partition's row type
$node->safe_psql('postgres', q{
CREATE TABLE k_parts (id bigint NOT NULL, a int, b text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE k_parts_low (b text, gone int, a int, id bigint NOT NULL);
ALTER TABLE k_parts_low DROP COLUMN gone;
ALTER TABLE k_parts ATTACH PARTITION k_parts_low FOR VALUES FROM (MINVALUE) TO (50);
CREATE TABLE k_parts_high PARTITION OF k_parts FOR VALUES FROM (50) TO (MAXVALUE);
});
is(copy_into('k_parts'), 'succeeded ', 'a copy into partitions of other row types succeeds');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM kinds EXCEPT SELECT * FROM k_parts) d}),
	'0', 'each partition got its rows, column by column');
is($node->safe_psql('postgres', q{SELECT count(*) FROM k_parts_low}), '49', 'routed by the partition key');

# a trigger on the target runs for every row, a default fills a column the
# source lacks, a column of another type is converted
$node->safe_psql('postgres', q{
CREATE TABLE k_trig (id bigint PRIMARY KEY, a int, b text);
CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.b := upper(NEW.b); RETURN NEW; END $$;
CREATE TRIGGER shout BEFORE INSERT ON k_trig FOR EACH ROW EXECUTE FUNCTION shout();
CREATE TABLE k_default (id bigint PRIMARY KEY, a int, b text, extra int DEFAULT 7);
CREATE TABLE k_wider (id bigint PRIMARY KEY, a numeric, b varchar(20));
});
is(copy_into('k_trig'), 'succeeded ', 'a copy into a table with a trigger succeeds');
is($node->safe_psql('postgres', q{SELECT count(*) FROM k_trig WHERE b = upper(b)}), '100', 'the trigger ran for every row');
is(copy_into('k_default'), 'succeeded ', 'a copy into a table with an extra column succeeds');
is($node->safe_psql('postgres', q{SELECT count(*) FROM k_default WHERE extra = 7}), '100', 'the extra column got its default');
$node->safe_psql('postgres', q{
CREATE DOMAIN filled AS int NOT NULL;
CREATE TABLE k_domain (id bigint PRIMARY KEY, a int, b text, extra filled);
});
is(copy_into('k_domain'), 'failed 23502', "a column the source lacks gets NULL, which its domain refuses");
is(copy_into('k_wider'), 'succeeded ', 'a copy into columns of other types succeeds');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT id, a::int, b::text FROM k_wider EXCEPT SELECT * FROM kinds) d}),
	'0', 'the values were converted');

# toasted values, an expression index, a partial unique index and an
# exclusion constraint on the target
$node->safe_psql('postgres', q{
CREATE TABLE k_wide (id bigint PRIMARY KEY, a int, b text);
INSERT INTO k_wide SELECT g, g % 7, repeat(md5(g::text), 3000) FROM generate_series(1, 60) g;
CREATE TABLE k_wide_new (id bigint PRIMARY KEY, a int, b text, EXCLUDE USING btree (id WITH =));
CREATE INDEX ON k_wide_new (lower(b));
CREATE UNIQUE INDEX ON k_wide_new (a) WHERE id > 1000;
});
$job = $node->safe_psql('postgres', q{
SELECT copy_table('k_wide', 'k_wide_new', batch_size => 25, target_batch_time => '0')});
$node->poll_query_until('postgres', "SELECT state IN ('succeeded', 'failed') FROM job_status($job)")
  or die 'the copy of wide rows did not end';
is($node->safe_psql('postgres', "SELECT state || ' ' || coalesce(last_error, '') FROM job_status($job)"),
	'succeeded ', 'a copy of toasted values into a table with expression and partial indexes succeeds');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM k_wide EXCEPT SELECT * FROM k_wide_new) d}),
	'0', 'the toasted values arrived whole');
is($node->safe_psql('postgres', q{SET enable_seqscan = off; SELECT count(*) FROM k_wide_new WHERE lower(b) = lower(repeat(md5('7'), 3000))}),
	'1', 'the expression index has the rows');

# the target's constraints hold: CHECK, NOT NULL, UNIQUE
$node->safe_psql('postgres', q{
CREATE TABLE k_check (id bigint PRIMARY KEY, a int CHECK (a < 90), b text);
CREATE TABLE k_notnull (id bigint PRIMARY KEY, a int, b text NOT NULL);
CREATE TABLE k_unique (id bigint PRIMARY KEY, a int, b text UNIQUE);
UPDATE kinds SET b = NULL WHERE id = 77;
});
is(copy_into('k_check'), 'failed 23514', 'a row against a CHECK constraint fails the copy');
is(copy_into('k_notnull'), 'failed 23502', 'a NULL against NOT NULL fails the copy');
$node->safe_psql('postgres', q{UPDATE kinds SET b = 'row 1' WHERE id IN (2, 77)});
is(copy_into('k_unique'), 'failed 23505', 'a duplicate against a unique index fails the copy');
$node->safe_psql('postgres', q{UPDATE kinds SET b = 'row ' || id WHERE id IN (2, 77)});

# as a role: its INSERT privilege is checked at every batch, and the target's
# row security applies
$node->safe_psql('postgres', q{
CREATE ROLE copier;
GRANT USAGE ON SCHEMA steward TO copier;
GRANT EXECUTE ON FUNCTION steward.copy_table(regclass, regclass, integer, boolean, name, interval, interval, interval, interval),
      steward.job_status(bigint) TO copier;
GRANT SELECT, UPDATE, TRIGGER ON kinds TO copier;
CREATE TABLE k_revoked (id bigint PRIMARY KEY, a int, b text);
GRANT SELECT, INSERT, DELETE ON k_revoked TO copier;
CREATE TABLE k_policy (id bigint PRIMARY KEY, a int, b text);
ALTER TABLE k_policy OWNER TO copier;
ALTER TABLE k_policy ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY small ON k_policy USING (true) WITH CHECK (a < 60);
});
is(copy_into('k_revoked', 'copier', after_submit => 'REVOKE INSERT ON k_revoked FROM copier;'),
	'failed 42501', 'INSERT revoked after submission fails the copy');
is($node->safe_psql('postgres', q{SELECT count(*) FROM k_revoked}), '0', 'and nothing was copied');
is(copy_into('k_policy', 'copier'), 'failed 42501', "the target's row security refuses rows it does not allow");
is($node->safe_psql('postgres', q{SELECT count(*) FROM k_policy WHERE a >= 60}), '0', 'none of them got in');


# --- verify while the application writes: the change log, the source and the
# target are read in one snapshot, so no range differs because of a write that
# committed while it was compared, and none is copied again ------------------
writer_tables('ticks', 't');
$job = $node->safe_psql('postgres', q{
SELECT copy_table('ticks', 'ticks_new', batch_size => 2000, target_batch_time => '0', pause => '100ms')});
# held as verify starts (six ranges of 20 000 keys), then let go for more
# than a range while a writer writes, and held again
hold_job($job, "phase LIKE 'verify%'", 'verify');
# a writer at up to 1000 rounds (3000 logged changes) a second, well below
# what the job replays (2000 entries a batch, 100 ms apart)
$writer = start_writer(100000, 0, 'ticks', 0.001);
my $verify_at = $node->safe_psql('postgres', "SELECT coalesce(current_key::bigint, 0) FROM job_status($job)");
$node->safe_psql('postgres', "SELECT job_resume($job)");
hold_job($job, "phase LIKE 'verify%' AND current_key::bigint >= $verify_at + 30000", 'a later verify range');
like($node->safe_psql('postgres', "SELECT phase FROM job_status($job)"), qr/^verify;/,
	'paused in verify, after ranges compared while the application wrote');
$node->safe_psql('postgres', 'INSERT INTO writer_stop VALUES (true)');
$writer->quit;
$node->safe_psql('postgres', "SELECT job_resume($job)");
$node->poll_query_until('postgres', "SELECT state IN ('succeeded', 'failed') FROM job_status($job)")
  or die 'the copy did not end';
is($node->safe_psql('postgres', "SELECT state || ' ' || coalesce(last_error, '') FROM job_status($job)"),
	'succeeded ', 'the copy verified under writes succeeded');
unlike(slurp_file($node->logfile), qr/pg_steward job $job: .*differed and was copied again/,
	'no range differed because of the concurrent writes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM ticks EXCEPT SELECT * FROM ticks_new) d}),
	'0', 'verified under writes: no row of the source is missing from the copy');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM ticks_new EXCEPT SELECT * FROM ticks) d}),
	'0', 'verified under writes: the copy has no row the source does not have');

# --- the final step counts both tables before its lock and, under it, only
# the rows of the keys it replays: a row that got into the target behind the
# copy's back, in a range verify had already passed, still fails the copy ---
$node->safe_psql('postgres', q{
CREATE TABLE strays (id bigint PRIMARY KEY, note text);
INSERT INTO strays SELECT g, 's' || g FROM generate_series(1, 5000) g;
CREATE TABLE strays_new (id bigint PRIMARY KEY, note text);
});
$job = $node->safe_psql('postgres', q{
SELECT copy_table('strays', 'strays_new', batch_size => 100, target_batch_time => '0', pause => '100ms')});
hold_job($job, "phase LIKE 'verify%' AND current_key::bigint >= 1000", 'its first verified range');
$node->safe_psql('postgres', q{INSERT INTO strays_new VALUES (0, 'stray')});
$node->safe_psql('postgres', "SELECT job_resume($job)");
$node->poll_query_until('postgres', "SELECT state IN ('succeeded', 'failed') FROM job_status($job)")
  or die 'the copy did not end';
is($node->safe_psql('postgres', "SELECT state || ' ' || last_sqlstate || ' ' || last_error FROM job_status($job)"),
	'failed 22000 copy verification failed: the source has 5000 rows, the target 5001',
	'a row the copy did not write, in a range already verified, fails the final step');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'strays'::regclass}),
	'0', 'and the failed copy dropped its trigger');

# --- the log left when the final step begins is replayed before its lock.
# A session holds the target IN ROW EXCLUSIVE MODE, which lets the copy
# write it but stops the final step at its first lock (IN SHARE MODE); the
# source is written meanwhile, after the last verify batch, and by a writer
# that goes on through the step, reading the whole table $reads times
# between its writes (0: writing as fast as it can) and updating $rows rows
# in each: its pace is set by work, as an application's is, so that a
# slower machine slows it and the job alike.  The database's sessions default to REPEATABLE
# READ: the job's worker still runs READ COMMITTED transactions (in a
# snapshot kept for the whole final step, the writes made while it waits
# for its lock would be missed).  Returns the phase's figures: the rows
# counted, the log entries replayed before the lock, its rounds, and the
# entries replayed under it ---
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET default_transaction_isolation = 'repeatable read'});

sub final_step_under_writer
{
	my ($t, $reads, $rows) = @_;
	$node->safe_psql('postgres', qq{
CREATE TABLE $t (id bigint PRIMARY KEY, note text);
INSERT INTO $t SELECT g, 'n' || g FROM generate_series(1, 2000) g;
CREATE TABLE ${t}_new (id bigint PRIMARY KEY, note text);
});
	my $blocker = $node->background_psql('postgres');
	$blocker->query_safe('BEGIN');
	$blocker->query_safe("LOCK TABLE ${t}_new IN ROW EXCLUSIVE MODE");

	my $job = $node->safe_psql('postgres', qq{
SET pg_steward.batch_statement_timeout = '10min';
SELECT copy_table('$t', '${t}_new', batch_size => 100, target_batch_time => '0',
                  lock_timeout => '5min')});
	$node->poll_query_until('postgres', qq{
SELECT EXISTS (SELECT FROM pg_locks WHERE relation = '${t}_new'::regclass AND mode = 'ShareLock' AND NOT granted)})
	  or die 'the final step did not wait for the target';
	like($node->safe_psql('postgres', "SELECT phase FROM job_status($job)"), qr/^final;/,
		"$t: the copy waits in its final step");

	# 7120 entries in the log, more than a replay batch (100), and enough
	# for the final step's first replay (which reads no rows) to last much
	# longer than its first round: the writer below writes less during that
	# round than before it
	$node->safe_psql('postgres', qq{
UPDATE $t SET note = note || '!' WHERE id <= 1500;
UPDATE $t SET note = note || '?' WHERE id > 500;
UPDATE $t SET note = note || '.';
UPDATE $t SET note = note || ':';
DELETE FROM $t WHERE id % 100 = 0;
INSERT INTO $t SELECT g, 'late ' || g FROM generate_series(2001, 2100) g;
});
	# and a writer goes on writing through the final step, for as long as
	# the capture trigger exists: it takes its lock first, so that a write
	# it makes is either logged or made after the final step's lock has
	# gone (then it stops before writing)
	my $writer = $node->background_psql('postgres', on_error_stop => 0);
	$writer->query_until(qr/writing/, qq{\\echo writing
DO \$\$
DECLARE i int := 0;
BEGIN
    LOOP
        LOCK TABLE $t IN ROW EXCLUSIVE MODE;
        EXIT WHEN NOT EXISTS (SELECT FROM pg_trigger WHERE tgname = 'steward_copy_$job');
        i := i + 1;
        FOR r IN 1 .. $reads LOOP PERFORM count(note) FROM $t; END LOOP;
        INSERT INTO $t VALUES (3000 + i, 'during ' || i);
        UPDATE $t SET note = note || '+' WHERE id BETWEEN 1 + (i * 7) % 2000 AND (i * 7) % 2000 + $rows;
        DELETE FROM $t WHERE id = 2 + (i * 13) % 2000;
        COMMIT;
    END LOOP;
END \$\$;
});
	$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM $t WHERE note LIKE 'during%'")
	  or die 'the writer did not write';
	$blocker->query_safe('COMMIT');
	$blocker->quit;
	$node->poll_query_until('postgres', "SELECT state IN ('succeeded', 'failed') FROM job_status($job)")
	  or die 'the copy did not end';
	$writer->quit;
	is($node->safe_psql('postgres', "SELECT state || ' ' || coalesce(last_error, '') FROM job_status($job)"),
		'succeeded ', "$t: the copy with a long log left for its final step succeeded");
	my @fig = $node->safe_psql('postgres', "SELECT phase FROM job_status($job)")
	  =~ /^done: (\d+) rows;.*, log entries replayed (\d+) before it in (\d+) rounds? and (\d+) under it$/;
	is($fig[0], $node->safe_psql('postgres', "SELECT count(*) FROM ${t}_new"),
		"$t: the row count the final step computed is the copy's");
	cmp_ok($fig[1] // 0, '>=', 7120, "$t: the log written before the final step was replayed before it took its lock");
	is($node->safe_psql('postgres', "SELECT count(*) > 0 FROM $t WHERE note LIKE 'during%'"), 't',
		"$t: the writer wrote while the final step ran");
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM (SELECT * FROM $t EXCEPT SELECT * FROM ${t}_new) d}),
		'0', "$t: no row of the source is missing from the copy");
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM (SELECT * FROM ${t}_new EXCEPT SELECT * FROM $t) d}),
		'0', "$t: the copy has no row the source does not have");
	note "$t: log entries replayed before the lock: " . ($fig[1] // 'none') . " in " . ($fig[2] // '?')
	  . " rounds, under it: " . ($fig[3] // 'none');
	return @fig;
}

# a writer that reads the table twice between its writes is slower than
# the replay: what it wrote during the step's first replay (which reads no
# rows, and lasts long: the log holds 7120 entries) is replayed in a round
# that reads them, what it wrote during that round in a second one (keys
# changed again since the first among them), and so on while the log
# shrinks by half or more; what is left for the lock is less than that
my ($done_rows, $before, $rounds, $under) = final_step_under_writer('notes', 2, 1);
cmp_ok($rounds // 0, '>=', 2, 'the log was replayed in more than one round before the lock');
cmp_ok($under // 1e9, '<', ($before // 0) / 2, 'less was left for the lock than was replayed before it');
# one writing as fast as it can, 20 rows at a time, refills the log during
# the first replay and the counts faster than a round (which reads its keys'
# rows) could halve it: no round is run, and the lock takes the log as it is
($done_rows, $before, $rounds, $under) = final_step_under_writer('memos', 0, 20);
is($rounds // -1, 0, 'a writer faster than a round could halve the log: no round before the lock');

is($node->safe_psql('postgres', 'SHOW default_transaction_isolation'), 'repeatable read',
	'the copies ran while new sessions default to REPEATABLE READ');
# CALL job_run in such a session is refused before it does anything
my ($run_rc, $run_out, $run_err) = $node->psql('postgres', 'CALL job_run(1)');
like($run_err, qr/ERROR:  job_run needs READ COMMITTED transactions/,
	'CALL job_run in a REPEATABLE READ session is refused');
# SELECT job_wait in such a session would read the job's row in one
# snapshot and never see it move: refused while the job has not ended;
# CALL job_await, a transaction per poll, sees it end
$node->safe_psql('postgres', q{CREATE TABLE held (id bigint PRIMARY KEY, n int);
                               INSERT INTO held SELECT g, 0 FROM generate_series(1, 100) g});
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE held IN SHARE MODE');
my $held = $node->safe_psql('postgres', q{SELECT backfill('held', 'n = 1', lock_timeout => '5min')});
$node->poll_query_until('postgres', "SELECT state = 'running' FROM job_status($held)")
  or die 'the backfill did not start';
($run_rc, $run_out, $run_err) = $node->psql('postgres', "SELECT job_wait($held, '3s')");
like($run_err, qr/ERROR:  job_wait cannot see job $held progress in a REPEATABLE READ transaction/,
	'SELECT job_wait of a running job in a REPEATABLE READ transaction is refused');
$holder->query_safe('COMMIT');
$holder->quit;
is($node->safe_psql('postgres', "CALL job_await($held)"), 'succeeded',
	'CALL job_await in such a session sees the job succeed');
is($node->safe_psql('postgres', "SELECT job_wait($held)"), 'succeeded',
	'... and SELECT job_wait of an ended job answers');
$node->safe_psql('postgres', q{ALTER DATABASE postgres RESET default_transaction_isolation});

# The statements that look rows up by a list of keys (replay, the final
# step's reads) are planned with no statistics on the target, as reading
# it whole: they are never compiled to machine code, whatever jit's
# thresholds say (a database where every statement is compiled)
SKIP:
{
	skip 'this server has no JIT', 3
	  unless $node->safe_psql('postgres', 'SELECT pg_jit_available()') eq 't';
	$node->safe_psql('postgres', 'CREATE DATABASE jitdb');
	$node->safe_psql('jitdb', q{
CREATE EXTENSION pg_steward;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE cards (id bigint PRIMARY KEY, note text);
INSERT INTO cards SELECT g, 'c' || g FROM generate_series(1, 5000) g;
CREATE TABLE cards_new (id bigint PRIMARY KEY, note text);
ALTER DATABASE jitdb SET jit_above_cost = 0;
});
	my $cards = $node->safe_psql('jitdb', q{
SELECT copy_table('cards', 'cards_new', batch_size => 250, target_batch_time => '0', pause => '50ms')});
	$node->poll_query_until('jitdb', "SELECT rows_done >= 1000 FROM job_status($cards)")
	  or die 'the copy of cards did not start';
	$node->safe_psql('jitdb', "SELECT job_pause($cards)");
	$node->safe_psql('jitdb', q{SELECT pg_stat_statements_reset()});
	# changes to rows the copy has passed: replayed
	$node->safe_psql('jitdb', q{UPDATE cards SET note = 'changed' WHERE id <= 200});
	$node->safe_psql('jitdb', "SELECT job_resume($cards)");
	is($node->safe_psql('jitdb', "CALL job_await($cards)"), 'succeeded', 'a copy in a database that compiles every statement');
	$node->safe_psql('jitdb', q{SELECT count(*) FROM cards WHERE note = 'changed'});
	is($node->safe_psql('jitdb', q{
SELECT count(*) > 0 AND sum(jit_functions) = 0 FROM pg_stat_statements
 WHERE query ~ '^(DELETE FROM|SELECT .* FROM) public\.cards(_new)? WHERE id OPERATOR\(pg_catalog\.=\) ANY \(\$[0-9]\)'}),
		't', 'its replay\'s lookups by key were planned and never compiled');
	cmp_ok($node->safe_psql('jitdb', q{
SELECT sum(jit_functions) FROM pg_stat_statements WHERE query ~ '^SELECT count\(\*\) FROM cards WHERE note'}),
		'>', 0, '... while a query of the same database was');
}

# --- in a database where the planner runs every statement it can with
# parallel workers, a copy succeeds, and the final step's counts ran with
# workers (auto_explain's plans in the server log)
$node->safe_psql('postgres', 'CREATE DATABASE pardb');
$node->safe_psql('pardb', q{
CREATE EXTENSION pg_steward;
CREATE TABLE meds (id bigint PRIMARY KEY, dose int, note text);
INSERT INTO meds SELECT g, g % 7, 'm' || g FROM generate_series(1, 20000) g;
VACUUM ANALYZE meds;
CREATE TABLE meds_new (id bigint PRIMARY KEY, dose int, note text);
ALTER DATABASE pardb SET parallel_setup_cost = 0;
ALTER DATABASE pardb SET parallel_tuple_cost = 0;
ALTER DATABASE pardb SET min_parallel_table_scan_size = 0;
ALTER DATABASE pardb SET auto_explain.log_min_duration = 0;
ALTER DATABASE pardb SET auto_explain.log_analyze = on;
ALTER DATABASE pardb SET auto_explain.log_nested_statements = on;
});
my $log_from = -s $node->logfile;
my $meds = $node->safe_psql('pardb', q{SELECT copy_table('meds', 'meds_new', batch_size => 2000, target_batch_time => '0')});
is($node->safe_psql('pardb', "CALL job_await($meds)"), 'succeeded', 'a copy in a database that plans parallel workers everywhere');
is($node->safe_psql('pardb', q{
SELECT (SELECT count(*) FROM (SELECT * FROM meds EXCEPT SELECT * FROM meds_new) a) || ' '
    || (SELECT count(*) FROM (SELECT * FROM meds_new EXCEPT SELECT * FROM meds) b)}),
	'0 0', 'the copy equals the source');
my ($counts_plan) = substr(slurp_file($node->logfile), $log_from)
  =~ /Query Text: SELECT \(SELECT pg_catalog\.count\(\*\) FROM public\.meds\)(.*?)(?:LOG:|\z)/s;
like($counts_plan // '', qr/Workers Launched: [1-9]/, "the final step's counts ran with parallel workers");

$node->stop;
done_testing();
