# Security suite: the review and the migrations runtime.  Every call runs as
# a role of the setup docs/operations.md recommends (the deployer, the
# monitor), never as a superuser, under the suite's memory cap.
#
#  * Memory stays in proportion to the SQL given: 2 MB of silence comments
#    to migrate_lint, 100,000 statements to migrate_lint, migrate_plan and
#    migrate_apply, statements and checks that return hundreds of MB, a
#    rollback that does the same.  Each completes, and the backend's peak
#    memory (VmHWM) grows by a bounded multiple of the input, not of the
#    rows returned.
#  * A migration cannot lift its own lock_timeout or statement_timeout:
#    set_config(), a function's SET clause, a DO block with SET LOCAL,
#    RESET, a check, a rollback, a dry run and a job batch all stop waiting
#    for a lock after the timeout, and the caller's own settings come back.
#    The review reports set_config('lock_timeout', '0', ...).
#  * migrate_validate shows no value of a sequence its caller cannot read.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardSecurity;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = security_node('review');
$node->append_conf('postgresql.conf', qq{
pg_steward.lock_retry_delay = '50ms'
pg_steward.lock_retry_max_delay = '100ms'
});
$node->reload;
documented_roles($node, 'postgres');

# Runs SQL as a login role; returns (exit code, stdout, stderr, seconds).
sub as_role
{
	my ($role, $sql) = @_;
	my ($stdout, $stderr) = ('', '');
	my $t0 = time;
	my $rc = psql_as($node, $role, $sql, stdout => \$stdout, stderr => \$stderr, timeout => 300);
	return ($rc, $stdout, $stderr, time - $t0);
}

$node->safe_psql('postgres', q{
SET ROLE deployer;
CREATE TABLE app.visits (id bigint PRIMARY KEY, note text);
INSERT INTO app.visits SELECT g, 'note ' || g FROM generate_series(1, 100) g;
CREATE TABLE app.busy (id int);
CREATE TABLE app.batches (id bigint PRIMARY KEY, v int);
INSERT INTO app.batches SELECT g, 0 FROM generate_series(1, 10) g;
CREATE FUNCTION app.wait_freely() RETURNS void LANGUAGE sql SET lock_timeout = 0
    AS 'LOCK TABLE app.busy';
CREATE FUNCTION app.grab(v int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('lock_timeout', '0', true);
    PERFORM pg_advisory_xact_lock(4242);
    RETURN v + 1;
END $$;
});

######################################################################
# The timeouts of a migration hold whatever its SQL sets.
######################################################################

# A session holds the lock every attempt below waits for; it gives up after
# a minute, so that code that waits without a limit ends the test late
# instead of never.
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{SET idle_in_transaction_session_timeout = '60s'});
$holder->query_safe(q{BEGIN});
$holder->query_safe(q{LOCK TABLE app.busy});
$holder->query_safe(q{SELECT pg_advisory_xact_lock(4242)});

my %waits = (
	'set_config()' => q{SELECT set_config('lock_timeout', '0', true);
LOCK TABLE app.busy;},
	"a function's SET clause" => q{SELECT app.wait_freely();},
	'SET LOCAL in a DO block' => q{DO $$BEGIN SET LOCAL lock_timeout = 0; LOCK TABLE app.busy; END$$;},
	'set_config() in a DO block' => q{DO $$BEGIN PERFORM set_config('lock_timeout', '0', false); LOCK TABLE app.busy; END$$;},
	'RESET' => q{RESET lock_timeout;
LOCK TABLE app.busy;},
	'an advisory lock' => q{SELECT set_config('lock_timeout', '0', true);
SELECT pg_advisory_xact_lock(4242);},);

my $n = 0;
for my $path (sort keys %waits)
{
	$n++;
	my ($rc, $out, $err, $secs) = as_role('deployer', qq{
SET lock_timeout = '7s';
\\set ON_ERROR_STOP 0
SELECT migrate_apply('a_0$n', \$m\$$waits{$path}\$m\$, lock_timeout => '300ms',
                     lock_retries => 0, allow_unsafe => true);
SHOW lock_timeout;});
	like($err, qr/canceling statement due to (the migration's )?lock.timeout/,
		"$path: the migration stops waiting for the lock at its lock_timeout");
	cmp_ok($secs, '<', 10, "$path: within seconds, not when the lock is released");
	like($out, qr/^7s$/m, "$path: the caller's lock_timeout is its own again");
}

my ($rc, $out, $err, $secs) = as_role('deployer', q{
SELECT migrate_apply('a_07_check', 'CREATE TABLE app.w_check (id int)',
    lock_timeout => '300ms', lock_retries => 0,
    pre_checks => ARRAY['SELECT 1 WHERE set_config(''lock_timeout'', ''0'', true) IS NULL',
                        'SELECT 1 FROM app.busy WHERE false']);});
like($err, qr/lock.timeout/, 'a check cannot lift the lock_timeout either');
cmp_ok($secs, '<', 10, 'the check stopped waiting within seconds');

($rc, $out, $err, $secs) = as_role('deployer', q{
SELECT step, detail FROM migrate_plan($$SELECT set_config('lock_timeout', '0', true);
LOCK TABLE app.busy;$$, lock_timeout => '300ms') WHERE step = 'error';});
like($out, qr/55P03/, 'nor can the SQL of a dry run');
cmp_ok($secs, '<', 10, 'the dry run stopped waiting within seconds');

$node->safe_psql('postgres', q{SET ROLE deployer;
SELECT migrate_apply('a_08_rollback', 'CREATE TABLE app.w_rollback (id int)',
    down_sql => $$SELECT set_config('lock_timeout', '0', true); LOCK TABLE app.busy; DROP TABLE app.w_rollback;$$);});
($rc, $out, $err, $secs) = as_role('deployer', q{
SELECT migrate_rollback('a_08_rollback', lock_timeout => '300ms', lock_retries => 0);});
like($err, qr/lock.timeout/, 'nor the down_sql of a rollback');
cmp_ok($secs, '<', 10, 'the rollback stopped waiting within seconds');

($rc, $out, $err, $secs) = as_role('deployer', q{
SELECT backfill('app.batches', 'v = app.grab(v)', lock_timeout => '300ms') AS job \gset
SELECT job_wait(:job, '40s');
SELECT last_sqlstate FROM job_status(:job);});
like($out, qr/^failed\n55P03$/m, 'nor a backfill batch: the job fails with a lock timeout') or diag($err);
cmp_ok($secs, '<', 30, 'the job stopped waiting within seconds');

# A statement that catches the cancel of its statement_timeout is cancelled
# again.
($rc, $out, $err, $secs) = as_role('deployer', q{
SET statement_timeout = '9s';
\set ON_ERROR_STOP 0
SELECT migrate_apply('a_09_catch', $m$DO $$
BEGIN
    BEGIN
        PERFORM pg_sleep(20);
    EXCEPTION WHEN query_canceled THEN
        RAISE NOTICE 'caught';
    END;
    PERFORM pg_sleep(20);
END $$;$m$, statement_timeout => '1s', allow_unsafe => true);
SHOW statement_timeout;});
like($err, qr/canceling statement due to the migration's statement_timeout/,
	'a migration that catches query_canceled is cancelled again');
cmp_ok($secs, '<', 8, "it ends soon after its statement_timeout");
like($out, qr/^9s$/m, "the caller's statement_timeout is its own again");

$holder->quit;
$node->safe_psql('postgres', q{
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()});

# Successful migration: the caller's settings come back too.
($rc, $out, $err) = as_role('deployer', q{
SET lock_timeout = '7s';
SELECT migrate_apply('a_10_ok', $$SELECT set_config('lock_timeout', '0', false);
CREATE TABLE app.w_ok (id int);$$, allow_unsafe => true);
SHOW lock_timeout;});
like($out, qr/^applied\n7s$/m, "after a migration that applied, the caller's lock_timeout is its own");

# The review reports set_config() of lock_timeout, and refuses it.
($rc, $out, $err) = as_role('deployer', q{
SELECT rule || ':' || severity FROM migrate_lint($$SELECT set_config('lock_timeout', '0', true);$$);});
like($out, qr/^lock-timeout-disabled:error$/m, "the lint reports set_config('lock_timeout', '0', ...)");
($rc, $out, $err) = as_role('deployer', q{
SELECT migrate_apply('a_11_review', $$SELECT set_config('lock_timeout', '0', true);$$);});
like($err, qr/not applied: the review found 1 unsafe finding/, 'migrate_apply refuses it unless allow_unsafe');
is($node->safe_psql('postgres', q{SELECT review->>'decision' FROM steward.migrations WHERE version = 'a_11_review'}),
	'refused', 'the review is recorded as refused, not clean');

######################################################################
# migrate_validate shows no value of a sequence its caller cannot read.
######################################################################

$node->safe_psql('postgres', q{
SET ROLE deployer;
CREATE SEQUENCE app.chart_numbers MAXVALUE 1000;
SELECT setval('app.chart_numbers', 987);});
like($node->safe_psql('postgres', q{SET ROLE deployer;
SELECT detail FROM migrate_validate() WHERE object = 'app.chart_numbers'}),
	qr/last value 987/, 'its owner sees the sequence near exhaustion');
($rc, $out, $err) = as_role('monitor', q{
SELECT count(*) FROM steward.migrate_validate() WHERE detail LIKE '%987%' OR object = 'app.chart_numbers';});
is($out, '0', 'the monitor, which may not read the sequence, sees no value of it');
($rc, $out, $err) = as_role('monitor', q{
SELECT severity FROM steward.migrate_validate() WHERE check_name = 'sequence-near-exhaustion';});
is($out, 'ok', 'nor a finding on it');
($rc, $out, $err) = as_role('monitor', q{SELECT pg_sequence_last_value('app.chart_numbers')});
like($err, qr/permission denied/, 'as it may not read the value itself');

######################################################################
# Memory in proportion to the SQL given.
######################################################################

# The growth of the backend's peak memory (VmHWM) in MB, and the seconds
# the SQL took, run as the deployer in a session of its own.
sub peak_growth
{
	my ($sql) = @_;
	my $s = $node->background_psql('postgres',
		extra_params => [ '-U', 'deployer' ], on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	my $hwm = sub {
		my ($kb) = slurp_file("/proc/$pid/status") =~ /^VmHWM:\s+(\d+) kB/m;
		return $kb;
	};
	my $before = $hwm->();
	$s->{stderr} = '';
	my $t0 = time;
	my $out = $s->query($sql);
	my $secs = time - $t0;
	my $err = $s->{stderr};
	my $after = $hwm->();
	$s->quit;
	return (($after - $before) / 1024, $out, $err, $secs);
}

# Each case: its name, the SQL (its input built by repeat(), whose size in
# MB is given) and what it returns.  Peak memory may grow by 64 MB plus 100
# times the input (a statement's parse tree alone is several times its
# text), whatever the rows the statements return.
my $silences = length("\n-- steward:allow x y") * 100000 / (1024 * 1024);
my @cases = (
	[ 'migrate_lint: one statement and 100,000 silence comments',
	  q{SELECT count(*) FROM migrate_lint('CREATE TABLE app.t1 (id int);' || repeat(E'\n-- steward:allow x y', 100000))},
	  $silences, qr/^100000$/ ],
	[ 'migrate_lint: 100,000 statements, each silenced',
	  q{SELECT count(*) FILTER (WHERE silenced IS NOT NULL) FROM migrate_lint(repeat(E'-- steward:allow lock-table checked\nLOCK app.visits;\n', 100000))},
	  length("-- steward:allow lock-table checked\nLOCK app.visits;\n") * 100000 / (1024 * 1024),
	  qr/^100000$/ ],
	[ 'migrate_plan: 100,000 statements',
	  q{SELECT count(*) > 100000 FROM migrate_plan(repeat(E'SELECT 1;\n', 100000))},
	  length("SELECT 1;\n") * 100000 / (1024 * 1024), qr/^t$/ ],
	[ 'migrate_apply: one statement and 100,000 silence comments',
	  q{SELECT migrate_apply('b_1_silences', 'CREATE TABLE app.m1 (id int);' || repeat(E'\n-- steward:allow x y', 100000))},
	  $silences, qr/^applied$/ ],
	[ 'migrate_apply: 100,000 statements',
	  q{SELECT migrate_apply('b_2_statements', repeat(E'SELECT 1;\n', 100000))},
	  length("SELECT 1;\n") * 100000 / (1024 * 1024), qr/^applied$/ ],
	[ 'migrate_apply: 12 statements returning 20 MB each',
	  q{SELECT migrate_apply('b_3_results', repeat(E'SELECT repeat(''x'', 20000000);\n', 12))},
	  0, qr/^applied$/ ],
	[ 'migrate_apply: a pre-check returning 1001 rows of 200 kB each',
	  q{SELECT migrate_apply('b_4_check', 'CREATE TABLE app.m2 (id int)', pre_checks => ARRAY['SELECT repeat(''x'', 200000) AS wide FROM generate_series(1, 1001)'])},
	  0, qr/^$/ ],
	[ 'migrate_plan: 12 statements returning 20 MB each',
	  q{SELECT count(*) FROM migrate_plan(repeat(E'SELECT repeat(''x'', 20000000);\n', 12)) WHERE step = 'error'},
	  0, qr/^0$/ ],);

for my $case (@cases)
{
	my ($name, $sql, $input_mb, $expect) = @$case;
	my ($growth, $out, $err, $secs) = peak_growth($sql);
	like($out, $expect, "$name: completes") or diag($err);
	unlike($err, qr/out of memory/, "$name: no out of memory");
	cmp_ok($growth, '<', 64 + 100 * $input_mb,
		sprintf('%s: peak memory grows by less than %d MB (grew %d MB)',
			$name, 64 + 100 * $input_mb, $growth));
	cmp_ok($secs, '<', 30, "$name: in time linear in the input (took " . int($secs) . ' s)');
}

# The failing check names its rows without keeping them.
($rc, $out, $err) = as_role('deployer', q{
SELECT error_message FROM migrate_history('b_4_check')});
like($out, qr/pre-check 1 found more than 1000 offending rows/, 'the check counted its rows');

# The recorded review keeps 1000 findings and the number of the rest.
($rc, $out, $err) = as_role('deployer', q{
SELECT jsonb_array_length(review->'findings'), review->>'findings_not_recorded', review->>'warnings'
  FROM migrate_status() WHERE version = 'b_1_silences'});
is($out, '1000|99000|100000', 'the recorded review keeps 1000 findings and counts the others');

# A rollback runs its down_sql the same way.
$node->safe_psql('postgres', q{SET ROLE deployer;
SELECT migrate_apply('b_5_down', 'CREATE TABLE app.m3 (id int)',
    down_sql => repeat(E'SELECT repeat(''x'', 20000000);\n', 12) || 'DROP TABLE app.m3;');});
my ($growth) = peak_growth(q{SELECT migrate_rollback('b_5_down')});
cmp_ok($growth, '<', 64, 'a rollback whose statements return 240 MB stays small (grew ' . int($growth) . ' MB)');
is($node->safe_psql('postgres', q{SELECT status FROM steward.migrations WHERE version = 'b_5_down'}),
	'rolled_back', 'and rolls back');

ok(!server_crashed($node), 'no backend crashed');
done_testing();
