# Expand/contract under load, on a real server with real concurrent
# clients.  pgbench clients run the old application's statements (they
# write first_name and care_level, text) and, once expanded, the new
# application's (given_name, and care_level_n, a smallint) against the same
# table while two expansions and their backfills run: every committed write
# is kept (each UPDATE adds 1 to hits, each INSERT adds a row, and the
# totals match what pgbench committed), no client fails, old and new agree
# on every row once the backfills finished, contract runs while the new
# application writes, and afterwards only the new application's statements
# work.  Then kill -9 of a backfill's job worker while it waits for a row
# lock in the middle of the table: the job runs again after the restart,
# finishes, and old and new agree on every row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('expand_load');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
restart_after_crash = on
max_worker_processes = 16
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE TABLE residents (id bigserial PRIMARY KEY, first_name text, care_level text,
                        hits int NOT NULL DEFAULT 0);
INSERT INTO residents (first_name, care_level)
     SELECT 'r' || g, (g % 5 + 1)::text FROM generate_series(1, 100000) g;
});

my $dir = PostgreSQL::Test::Utils::tempdir;

# a pgbench script file; returns its path
sub script
{
	my ($name, $sql) = @_;
	my $path = "$dir/$name.sql";
	open my $fh, '>', $path or die "cannot write $path: $!";
	print $fh "\\set id random(1, 100000)\n$sql\n";
	close $fh;
	return $path;
}

my $old_upd = script('old_upd',
	q{UPDATE residents SET first_name = 'o' || :id, care_level = ((:id % 5) + 1)::text, hits = hits + 1 WHERE id = :id;});
my $old_ins = script('old_ins',
	q{INSERT INTO residents (first_name, care_level) VALUES ('old-' || :id, ((:id % 5) + 1)::text);});
my $new_upd = script('new_upd',
	q{UPDATE residents SET given_name = 'n' || :id, care_level_n = (:id % 5) + 1, hits = hits + 1 WHERE id = :id;});
my $new_ins = script('new_ins',
	q{INSERT INTO residents (given_name, care_level_n) VALUES ('new-' || :id, (:id % 5) + 1);});

# pgbench in the background: CLIENTS clients, each running TXNS transactions
# of SCRIPT (a fixed count rather than a duration, so that every statement
# pgbench sent is one it counts); returns the handle, its output and the
# number of transactions it must commit
sub start_pgbench
{
	my ($clients, $txns, $script) = @_;
	my ($out, $err) = ('', '');
	my @cmd = ('pgbench', '-n', '-h', $node->host, '-p', $node->port,
		'-c', $clients, '-j', $clients, '-t', $txns, '-f', $script, 'postgres');
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err, txns => $clients * $txns };
}

# wait for pgbench to end, check that it committed every transaction it
# was to run; returns that number
sub finish_pgbench
{
	my ($run, $what) = @_;
	$run->{h}->finish;
	is($run->{h}->result(0), 0, "$what: pgbench ended without a failed client")
	  or diag(${ $run->{err} });
	like(${ $run->{out} }, qr{actually processed: $run->{txns}/$run->{txns}\n},
		"$what: pgbench committed all its $run->{txns} transactions");
	return $run->{txns};
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

# --- old application alone, then expand under its load ---------------------
my @old = (start_pgbench(2, 10000, $old_upd), start_pgbench(1, 10000, $old_ins));
$node->poll_query_until('postgres', 'SELECT sum(hits) > 100 FROM residents')
  or die 'the old application did not write';

my $job_name = sql(q{SELECT migrate_expand('ld_1_name', 'residents', 'first_name', new_name => 'given_name',
                                        batch_size => 1000)});
my $job_level = sql(q{SELECT migrate_expand('ld_2_level', 'residents', 'care_level', new_name => 'care_level_n',
                                         new_type => 'smallint', up => 'care_level::smallint',
                                         down => 'care_level_n::text', batch_size => 1000)});
ok($job_name > 0 && $job_level > 0, 'both expansions applied while the old application writes');

# --- the new application joins while the backfills run ---------------------
my @new = (start_pgbench(2, 6000, $new_upd), start_pgbench(1, 6000, $new_ins));
is(sql("SELECT job_wait($job_name) || ' ' || job_wait($job_level)"), 'succeeded succeeded',
	'both backfills succeeded under the load of both applications');
my @old_counts = map { finish_pgbench($_, 'the old application during expand and backfill') } @old;
my @new_counts = map { finish_pgbench($_, 'the new application during the backfill') } @new;

is(sql("SELECT migrate_expand_check('ld_1_name') || ' ' || migrate_expand_check('ld_2_level')"), '0 0',
	'migrate_expand_check finds no disagreeing row');
is(sql(q{SELECT count(*) FROM residents
        WHERE given_name IS DISTINCT FROM first_name
           OR care_level_n IS DISTINCT FROM care_level::smallint}), '0',
	'old and new columns agree on every row');
is(sql('SELECT sum(hits) FROM residents'), $old_counts[0] + $new_counts[0],
	'every committed UPDATE of either application is in the table');
is(sql('SELECT count(*) FROM residents'), 100000 + $old_counts[1] + $new_counts[1],
	'every committed INSERT of either application is in the table');
is(sql(q{SELECT count(*) FROM residents WHERE first_name LIKE 'old-%'
          AND (given_name IS DISTINCT FROM first_name OR care_level_n IS NULL)}), '0',
	'rows the old application inserted have the new columns');
is(sql(q{SELECT count(*) FROM residents WHERE given_name LIKE 'new-%'
          AND (first_name IS DISTINCT FROM given_name OR care_level IS NULL)}), '0',
	'rows the new application inserted have the old columns');

# --- contract while the new application writes -----------------------------
my $hits_before = sql('SELECT sum(hits) FROM residents');
my $rows_before = sql('SELECT count(*) FROM residents');
@new = (start_pgbench(2, 2000, $new_upd), start_pgbench(1, 2000, $new_ins));
$node->poll_query_until('postgres', "SELECT sum(hits) > $hits_before + 50 FROM residents")
  or die 'the new application did not write';
is(sql(q{SELECT migrate_contract('ld_1_name') IS NOT NULL AND migrate_contract('ld_2_level') IS NOT NULL}), 't',
	'both contracts applied while the new application writes');
@new_counts = map { finish_pgbench($_, 'the new application during contract') } @new;
is(sql('SELECT sum(hits) FROM residents'), $hits_before + $new_counts[0],
	'every UPDATE committed across contract is in the table');
is(sql('SELECT count(*) FROM residents'), $rows_before + $new_counts[1],
	'every INSERT committed across contract is in the table');
is(sql(q{SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
         FROM pg_attribute WHERE attrelid = 'residents'::regclass AND attnum > 0 AND NOT attisdropped}),
	'id:bigint, hits:integer, given_name:text, care_level_n:smallint',
	'after contract only the new columns are left');
is(sql(q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'residents'::regclass}), '0',
	'and no trigger');
my ($rc, $stdout, $stderr) = $node->psql('postgres',
	q{UPDATE residents SET first_name = 'late' WHERE id = 1});
like($stderr, qr/column "first_name" of relation "residents" does not exist/,
	'the old application\'s statements fail after contract');
$node->pgbench('-n -t 50 -c 2', 0, [qr/processed: 100\/100/], [qr/^$/],
	'the new application\'s statements work after contract',
	{ 'new_upd' => "\\set id random(1, 100000)\nUPDATE residents SET given_name = 'n' || :id, care_level_n = 2 WHERE id = :id;" });
is(sql(q{SELECT string_agg(version || ':' || status, ' ' ORDER BY version)
         FROM migrate_status() WHERE version LIKE 'ld_%'}),
	'ld_1_name:completed ld_1_name_contract:completed ld_2_level:completed ld_2_level_contract:completed',
	'each phase is a migration in the history');

# --- kill -9 of the backfill worker, mid-table ----------------------------
sql(q{CREATE TABLE visits (id bigint PRIMARY KEY, note text);
    INSERT INTO visits SELECT g, 'v' || g FROM generate_series(1, 60000) g;});
# Expand $table's column note (new name remark) as migration $version, its
# backfill in batches of 500 held at a row lock on key $id: the backfill is
# paused as it is submitted (a row lock taken before the expand would hold
# the expand off instead), the lock taken, and it resumes.  Returns the job
# and the session holding the lock, once the job waits for it
sub backfill_held_at
{
	my ($version, $table, $id) = @_;
	my $j = sql(qq{SELECT j || ' ' || job_pause(j) FROM (SELECT migrate_expand('$version', '$table', 'note',
                   new_name => 'remark', batch_size => 500) AS j) s});
	($j) = $j =~ /^(\d+) / or die "no job: $j";
	my $h = $node->background_psql('postgres', on_error_stop => 0);
	$h->query_safe("BEGIN; SELECT 'locked' FROM $table WHERE id = $id FOR UPDATE;");
	sql("SELECT job_resume($j)");
	$node->poll_query_until('postgres', qq{
SELECT j.rows_done > 0 AND a.wait_event_type = 'Lock'
  FROM job_status($j) j JOIN pg_stat_activity a ON a.pid = j.worker_pid})
	  or die "the backfill of $table did not reach the locked row";
	return ($j, $h);
}
my ($job, $holder) = backfill_held_at('ld_3_note', 'visits', 30000);
my $pid = sql("SELECT worker_pid FROM job_status($job)");
my $done_before = sql("SELECT rows_done FROM job_status($job)");
cmp_ok($done_before, '<', 60000, "the backfill stopped mid-way at the lock ($done_before rows done)");
kill 'KILL', $pid;
eval { $holder->quit; };    # the crash ended the lock holder's session

$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
$node->poll_query_until('postgres', "SELECT state = 'succeeded' FROM job_status($job)")
  or die 'the backfill did not succeed after the crash: '
  . sql("SELECT state || ' ' || coalesce(last_error, '') FROM job_status($job)");
cmp_ok(sql("SELECT attempts FROM job_status($job)"), '>=', 2, 'the backfill ran again after kill -9');
is(sql(q{SELECT count(*) FROM visits WHERE remark IS DISTINCT FROM note}), '0',
	'after the crash and the resumed backfill, old and new agree on every row');
is(sql("SELECT migrate_expand_check('ld_3_note')"), '0', 'and migrate_expand_check agrees');
is(sql("SELECT migrate_contract('ld_3_note') IS NOT NULL"), 't', 'contract succeeds after the crash');
is(sql(q{SELECT count(*) FROM visits WHERE remark = 'v' || id}), '60000', 'every row kept its value');

# --- abort while a batch of the backfill is in flight: the abort rolls back
# first, waiting for the batch's table lock, and only then cancels the job,
# whose row the batch writes as it ends; neither waits for the other twice
sql(q{CREATE TABLE beds (id bigint PRIMARY KEY, note text);
    INSERT INTO beds SELECT g, 'b' || g FROM generate_series(1, 20000) g;});
($job, $holder) = backfill_held_at('ld_4_bed', 'beds', 10000);
my $log_from = -s $node->logfile;
my $aborter = $node->background_psql('postgres', on_error_stop => 0);
$aborter->query_until(qr/aborting/, "\\echo aborting\nSELECT migrate_abort('ld_4_bed');\n");
$node->poll_query_until('postgres', q{
SELECT EXISTS (SELECT FROM pg_stat_activity
                WHERE query LIKE 'SELECT migrate_abort%' AND wait_event_type = 'Lock')})
  or die 'the abort did not wait for the batch';
$holder->query_safe('COMMIT');
$holder->quit;
$node->poll_query_until('postgres', q{
SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'SELECT migrate_abort%' AND state = 'active')})
  or die 'the abort did not end';
$aborter->quit;
is(sql(q{SELECT status FROM migrate_status() WHERE version = 'ld_4_bed'}), 'rolled_back',
	'the abort with a batch in flight went through');
$node->poll_query_until('postgres', "SELECT state IN ('cancelled', 'failed', 'succeeded') FROM job_status($job)")
  or die 'the backfill did not end';
is(sql("SELECT state FROM job_status($job)"), 'cancelled', 'and the backfill ended cancelled');
unlike(substr(slurp_file($node->logfile), $log_from), qr/deadlock detected/, 'no deadlock');
is(sql(q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
          WHERE attrelid = 'beds'::regclass AND attnum > 0 AND NOT attisdropped}), 'id,note',
	'the table is as it was');

$node->stop;
done_testing();
