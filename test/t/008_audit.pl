# The audit ledger with real processes: the sealer seals by itself; many
# concurrent pgbench writers (some rolling back) leave a ledger that
# verifies clean; a kill -9 of a backend and of the sealer in the middle of
# a seal leaves no partial block and every event is sealed exactly once
# after the restart; a streaming standby verifies the ledger (and sees
# tampering done on the primary) while no sealer runs on it, and once
# promoted it seals by itself.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.audit_seal_interval = '200ms'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');

sub verify
{
	my ($n) = @_;
	return ($n // $node)->safe_psql('postgres',
		q{SELECT is_valid || '|' || events_checked || '|' || events_unsealed || '|' || coalesce(problem, '')
		    FROM verify_audit_chain()});
}

sub wait_sealed
{
	$node->poll_query_until('postgres',
		'SELECT events_unsealed = 0 AND events_checked = (SELECT count(*) FROM steward.audit_events) FROM verify_audit_chain()')
	  or die 'the sealer did not seal every event';
}

# --- the sealer seals without being asked ---------------------------------
$node->safe_psql('postgres', q{SELECT audit_append('LOGIN', 'user', 'u1')});
wait_sealed();
is(verify(), 'true|1|0|', 'the sealer sealed the event by itself');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward sealer'}) <= 1,
	1, 'at most one sealer per database');

# an idle sealer leaves (so DROP DATABASE is not held up); the next
# committed append starts a new one
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_steward sealer'})
  or die 'the idle sealer did not exit';
pass('an idle sealer exits');
$node->safe_psql('postgres', q{SELECT audit_append('LOGIN', 'user', 'u2')});
wait_sealed();
is(verify(), 'true|2|0|', 'the next append started a sealer, which sealed it');

# --- concurrent writers ----------------------------------------------------
$node->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=150',
	0,
	[qr{processed: 1200/1200}],
	[qr{^$}],
	'8 concurrent writers append',
	{
		'001_one' => q{SELECT audit_append('UPDATE', 'patient', (random() * 1000)::int::text, '{"field": "dosage"}');},
		'002_three' => q{
BEGIN;
SELECT audit_append('READ', 'chart', '1');
SELECT audit_append('READ', 'chart', '2');
SELECT audit_append('READ', 'chart', '3');
COMMIT;
},
		'003_rolled_back' => q{
BEGIN;
SELECT audit_append('DISCARDED', 'chart', 'x');
ROLLBACK;
},
	});
wait_sealed();
my $total = $node->safe_psql('postgres', 'SELECT count(*) FROM steward.audit_events');
is(verify(), "true|$total|0|", "the ledger written by concurrent writers verifies clean ($total events)");
is($node->safe_psql('postgres', q{SELECT count(*) FROM steward.audit_events WHERE action = 'DISCARDED'}), '0',
	'rolled-back appends left nothing');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM steward.audit_blocks'), '>', 1,
	'the sealer sealed while the writers ran');

# --- kill -9 in the middle of a seal ---------------------------------------
# A session holding SHARE on audit_blocks stops any seal right before it
# writes its block, after it has read and hashed everything.
sub seal_blocked_then_killed
{
	my ($who, $find_pid) = @_;
	my $blocks = $node->safe_psql('postgres', 'SELECT count(*) FROM steward.audit_blocks');
	my $holder = $node->background_psql('postgres', on_error_stop => 0);
	$holder->query_safe('BEGIN; LOCK TABLE steward.audit_blocks IN SHARE MODE;');
	$node->safe_psql('postgres',
		q{SELECT audit_append('BULK', 'chart', g::text, jsonb_build_object('g', g)) FROM generate_series(1, 20000) g});
	my $sealer;
	if ($who eq 'backend')
	{
		$sealer = $node->background_psql('postgres', on_error_stop => 0);
		$sealer->query_until(qr/sealing/, "\\echo sealing\nSELECT audit_seal();\n");
	}
	$node->poll_query_until('postgres', qq{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE $find_pid AND wait_event_type = 'Lock' AND wait_event = 'relation'})
	  or die "the $who seal did not reach its write";
	my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE $find_pid");
	kill 'KILL', $pid;
	eval { $holder->quit; };
	eval { $sealer->quit; } if $sealer;
	$node->poll_query_until('postgres', 'SELECT true')
	  or die 'server did not come back after the crash';
	if ($who eq 'backend')
	{
		# sealing is off here, so nothing but the killed seal could have written
		is($node->safe_psql('postgres', 'SELECT count(*) FROM steward.audit_blocks'), $blocks,
			"kill -9 of the $who mid-seal leaves no partial block");
		cmp_ok($node->safe_psql('postgres', 'SELECT audit_seal()'), '>=', 20000,
			'audit_seal after the restart seals what the killed seal had read');
	}
	else
	{
		# the restarted sealer may already have sealed again, so the block
		# count proves nothing here; the log shows whom the kill hit
		ok($node->log_contains(qr/background worker "pg_steward sealer" \(PID $pid\) was terminated by signal 9/),
			'the sealer was killed while it waited to write its block');
	}
	wait_sealed();
	my $all = $node->safe_psql('postgres', 'SELECT count(*) FROM steward.audit_events');
	is(verify(), "true|$all|0|", "after the restart every event is sealed exactly once and verifies ($all events)");
}

$node->safe_psql('postgres', q{ALTER SYSTEM SET pg_steward.audit_seal_interval = 0; SELECT pg_reload_conf();});
seal_blocked_then_killed('backend', q{query = 'SELECT audit_seal();'});

# --- a backlog becomes several blocks, cut between transactions -------------
# (sealing is still off: nothing but the audit_seal below seals)
my $blocks_before = $node->safe_psql('postgres', 'SELECT count(*) FROM steward.audit_blocks');
# a transaction that appended first and commits after the cut blocks
my $held = $node->background_psql('postgres');
$held->query_safe(q{BEGIN; SELECT audit_append('HELD', 'chart', 'held');});
$node->safe_psql('postgres', qq{SELECT audit_append('BACKLOG', 'chart', 'single $_')}) for 1 .. 7;
$node->safe_psql('postgres',
	q{SELECT audit_append('BACKLOG', 'chart', 'batch ' || g) FROM generate_series(1, 5) g});
is($node->safe_psql('postgres', 'SET pg_steward.audit_block_max_events = 3; SELECT audit_seal()'), '12',
	'audit_seal seals the whole backlog');
is($node->safe_psql('postgres', qq{
SELECT string_agg(event_count::text, ',' ORDER BY block_id) FROM steward.audit_blocks WHERE block_id > $blocks_before}),
	'3,3,6', 'cut every 3 events, but never inside a transaction: the last block holds the 7th single and the batch of 5');
$held->query_safe('COMMIT');
$held->quit;
is($node->safe_psql('postgres', 'SELECT audit_seal()'), '1',
	'the transaction still running during the cut seals afterwards, once');
wait_sealed();
my $now_all = $node->safe_psql('postgres', 'SELECT count(*) FROM steward.audit_events');
is(verify(), "true|$now_all|0|", 'the cut blocks verify');

$node->safe_psql('postgres', q{ALTER SYSTEM RESET pg_steward.audit_seal_interval; SELECT pg_reload_conf();});
seal_blocked_then_killed('sealer', q{backend_type = 'pg_steward sealer'});

# --- a streaming standby verifies ------------------------------------------
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\n");
$standby->start;
$node->safe_psql('postgres', q{SELECT audit_append('AFTER_BACKUP', 'chart', 'late')});
wait_sealed();
$node->wait_for_catchup($standby);
my $all = $node->safe_psql('postgres', 'SELECT count(*) FROM steward.audit_events');
is(verify($standby), "true|$all|0|", 'verify_audit_chain runs on the standby and checks every event');
is($standby->safe_psql('postgres', q{SELECT audit_digest()->>'hash'}),
	$node->safe_psql('postgres', q{SELECT audit_digest()->>'hash'}), 'the standby reports the same head digest');
is($standby->safe_psql('postgres', q{SELECT events_unsealed || '|' || (sealer_pid IS NULL) FROM audit_status()}),
	'0|true', 'audit_status works on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_steward%'}),
	'0', 'no sealer runs on the standby');
my ($ret, $out, $err) = $standby->psql('postgres', q{SELECT audit_append('X')});
like($err, qr/read-only|recovery/, 'appending on the standby is refused');

# tampering on the primary (superuser, protection lifted) shows on the standby
my $victim = $node->safe_psql('postgres', q{SELECT id FROM steward.audit_events WHERE resource_id = 'late'});
my $actor = $node->safe_psql('postgres', qq{SELECT quote_nullable(actor) FROM steward.audit_events WHERE id = $victim});
$node->safe_psql('postgres', qq{
SET session_replication_role = replica;
UPDATE steward.audit_events SET actor = 'mallory' WHERE id = $victim;});
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT first_bad_event FROM verify_audit_chain() WHERE NOT is_valid'),
	$victim, 'the standby names the event changed on the primary');

# --- after a promotion the sealer works on the new primary ------------------
$node->safe_psql('postgres', qq{
SET session_replication_role = replica;
UPDATE steward.audit_events SET actor = $actor WHERE id = $victim;});
$node->wait_for_catchup($standby);
is(verify($standby), "true|$all|0|", 'the change undone, the standby verifies clean again');
$node->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby did not leave recovery';
$standby->safe_psql('postgres', q{SELECT audit_append('AFTER_FAILOVER', 'chart', 'promoted')});
$standby->poll_query_until('postgres',
	'SELECT events_unsealed = 0 AND events_checked = (SELECT count(*) FROM steward.audit_events) FROM verify_audit_chain()')
  or die 'nothing sealed the append on the promoted standby';
is(verify($standby), 'true|' . ($all + 1) . '|0|', 'the promoted standby seals by itself, and the chain goes on');

$standby->stop;
done_testing();
