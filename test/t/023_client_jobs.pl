# pg_steward jobs and wait (docs/client.md): the job list, waiting for a
# job that ends (exit 0), is paused (exit 1, with how to resume it) or does
# not exist (exit 4), --timeout; progress as a bar redrawn in place when
# stdout is a terminal and as plain lines otherwise.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardClient;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = client_node('client_jobs');
client_db($node, 'postgres');
$node->safe_psql('postgres', q{
CREATE TABLE readings (id bigint PRIMARY KEY, value integer, doubled integer);
INSERT INTO readings SELECT g, g, NULL FROM generate_series(1, 5000) g;
ANALYZE readings;
});
my ($rc, $out, $err);

# a backfill, paused before it starts: it stays put until resumed
sub paused_backfill
{
	return $node->safe_psql('postgres', q{
BEGIN;
SELECT backfill('readings', 'doubled = value * 2', batch_size => 500, target_batch_time => '0',
                lock_timeout => '5min')
  AS id \gset
SELECT job_pause(:id) AS state \gset
COMMIT;
SELECT :id;
});
}

my $job = paused_backfill();
like($job, qr/^\d+$/, 'a paused backfill job');

($rc, $out, $err) = run_client($node, 'postgres', ['jobs']);
is($rc, 0, 'jobs exits 0') or diag($err);
like($out, qr/^id +kind +state +progress +phase +relation +migration +error$/m, 'jobs: the header');
like($out, qr/^\Q$job\E +backfill +paused +/m, 'jobs: the paused job');

($rc, $out, $err) = run_client($node, 'postgres', [ 'wait', $job ]);
is($rc, 1, 'wait on a paused job: exit 1');
like($out, qr/^job \Q$job\E is paused: resume it with SELECT steward\.job_resume\(\Q$job\E\)$/m,
	'... saying how to resume it');

# ------------------------------------------------------- not a terminal
$node->safe_psql('postgres', "SELECT job_resume($job)");
($rc, $out, $err) = run_client($node, 'postgres', [ 'wait', '--timeout', '120', $job ]);
is($rc, 0, 'wait on a resumed job: exit 0 when it succeeds') or diag($out, $err);
unlike($out, qr/\r|\e\[/, 'not a terminal: no carriage return, no escape sequence');
like($out, qr/^job \Q$job\E: succeeded, 100(\.0+)?%, backfill, 5000 of ~5000 rows\njob \Q$job\E succeeded\n\z/m,
	'not a terminal: plain progress lines, the last one the final state');
is($node->safe_psql('postgres', 'SELECT count(*) FROM readings WHERE doubled = value * 2'),
	'5000', 'the job did its work');

# ------------------------------------------------------------ a terminal
SKIP:
{
	skip 'neither IO::Pty nor script(1) to give the client a terminal', 3
	  unless eval { require IO::Pty; 1 } || -x '/usr/bin/script';
	$job = paused_backfill();
	$node->safe_psql('postgres', "SELECT job_resume($job)");
	($rc, $out, $err) = run_client($node, 'postgres', [ 'wait', '--timeout', '120', $job ], tty => 1);
	is($rc, 0, 'on a terminal: exit 0') or diag($out, $err);
	like($out, qr/\r\[#{30}\] 100\.0% job \Q$job\E succeeded: backfill, 5000 of ~5000 rows\e\[K/,
		'on a terminal: a full progress bar, redrawn in place');
	like($out, qr/job \Q$job\E succeeded\r?\n\z/, 'on a terminal: then the result on a line of its own');
}

# --------------------------------------------------------------- timeout
# hold the table before the job resumes, so that it cannot take its first batch
$job = paused_backfill();
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; LOCK TABLE readings IN ACCESS EXCLUSIVE MODE');
$node->safe_psql('postgres', "SELECT job_resume($job)");
($rc, $out, $err) = run_client($node, 'postgres', [ 'wait', '--timeout', '1', $job ]);
is($rc, 1, 'wait --timeout on a job that cannot progress: exit 1');
like($out, qr/^job \Q$job\E is still (queued|running) after 1 seconds$/m, '... saying how long it waited');
$holder->query_safe('ROLLBACK');
$holder->quit;
($rc, $out, $err) = run_client($node, 'postgres', [ 'wait', '--timeout', '120', $job ]);
is($rc, 0, 'the job ends once the table is free') or diag($out, $err);

# ----------------------------------------------------------------- usage
($rc, $out, $err) = run_client($node, 'postgres', [ 'wait', 'abc' ]);
is($rc, 2, 'wait with a job id that is no number: exit 2');
($rc, $out, $err) = run_client($node, 'postgres', [ 'wait', '999999' ]);
is($rc, 4, 'wait on a job that does not exist: exit 4');
like($err, qr/job 999999 does not exist/, '... saying so');
($rc, $out, $err) = run_client($node, 'postgres', [ 'wait', '--timeout', '-1', $job ]);
is($rc, 2, 'a negative --timeout: exit 2');

$node->stop;
done_testing();
