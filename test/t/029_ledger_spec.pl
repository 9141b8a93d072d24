# The verification rules of docs/audit.md ("Verification rules", "Problems
# and their precedence", "Times", "Redaction", "Retention") on a real server:
# a superuser tampers with steward.audit_events behind the append-only
# triggers (session_replication_role = replica), and every verdict is taken
# twice, once read by the leader alone (max_parallel_workers_per_gather = 0)
# and once by parallel workers only (min_parallel_table_scan_size = 0,
# parallel_leader_participation = off); the two must be the same.
#
#  * times: infinite and out-of-range event times are refused on the way in,
#    have no event bytes, and a stored one is "moved" with first_bad_at NULL;
#  * rows and entries are matched by id within the row's home block: a row
#    moved to another block's transaction is "missing" there and "inserted"
#    where it now belongs; a second row with an entry's id (distinct or an
#    exact copy) is "stored twice";
#  * an inserted row is reported at the position it would have taken in its
#    home block, in that block; of two entries of one block with one id, the
#    later is "sealed twice" and rows match the earlier;
#  * problems at the same position rank by kind, then event id;
#  * digest problems are reported at the positions the spec gives;
#  * a redaction erases payload and salt, and either one put back (or only
#    one erased) is reported; a REDACTION event names its target in
#    resource_id, written exactly as audit_redact writes an id;
#  * the newest sealed, intact RETENTION event's list is the one compared;
#    epochs take their range_from and not their range_to; the times in the
#    list carry an offset and compare as instants;
#  * audit_append refuses a NULL event_type;
#  * the outside verifier of docs/audit.md (its export and its Python, run
#    with python3 when there is one) reports what the server reports.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/test/perl";
use StewardBlocks;

my $node = PostgreSQL::Test::Cluster->new('spec');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = '"\$user", public, steward'
pg_steward.audit_seal_interval = 0
max_worker_processes = 16
max_parallel_workers = 8
TimeZone = 'UTC'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');

my $db = 'postgres';
sub sql { return $node->safe_psql($db, $_[0]); }

# a superuser edits stored rows behind the append-only triggers' back
sub tamper { return sql("SET session_replication_role = replica;\n$_[0]"); }

sub seal { return sql('SELECT audit_seal()'); }

my %mode = (
	serial => 'SET max_parallel_workers_per_gather = 0;',
	parallel => 'SET max_parallel_workers_per_gather = 4; SET min_parallel_table_scan_size = 0; '
	  . 'SET parallel_leader_participation = off;');

# is_valid|first_bad_event|first_bad_at|first_bad_block|first_bad_position|problem
sub verdict
{
	my ($mode, $args) = @_;
	$args //= '';
	return sql("$mode{$mode}\nSELECT concat_ws('|', is_valid, coalesce(first_bad_event::text, 'NULL'), "
		  . "coalesce(first_bad_at::text, 'NULL'), first_bad_block, first_bad_position, problem) "
		  . "FROM verify_audit_chain($args)");
}

# the verdict, which must be the same read serially and in parallel
sub check
{
	my ($expected, $name, $args) = @_;
	my $serial = verdict('serial', $args);
	my $parallel = verdict('parallel', $args);
	if (ref $expected)
	{
		like($serial, $expected, "$name (serial)");
	}
	else
	{
		is($serial, $expected, "$name (serial)");
	}
	is($parallel, $serial, "$name (parallel workers: the same verdict)");
	return $serial;
}

sub valid { check('t|NULL|NULL', $_[0] // 'the ledger verifies'); }

# --- a ledger of three blocks -----------------------------------------------------
# block 1: one transaction of 3000 events with payloads (many pages, so that
# parallel workers share them); block 2: two transactions of 3 events each
# (the first with payloads); block 3: one transaction of 3 events.
sql(q{SELECT audit_append('BULK', 'patient', g::text, jsonb_build_object('n', g, 'pad', repeat('x', 200)))
        FROM generate_series(1, 3000) g});
seal();
sql(q{SELECT audit_append('B2A', 'patient', g::text, jsonb_build_object('b2', g)) FROM generate_series(1, 3) g});
sql(q{SELECT audit_append('B2B', 'patient', g::text) FROM generate_series(1, 3) g});
seal();
sql(q{SELECT audit_append('B3', 'patient', g::text, jsonb_build_object('b3', g)) FROM generate_series(1, 3) g});
seal();

# id|xid|time|position|block of the events of an action, in chain order
sub events
{
	my ($action) = @_;
	my @rows = split /\n/, sql(qq{
SELECT e.id || '|' || e.xid || '|' || e.event_time || '|' || (b.first_position + i) || '|' || b.block_id
  FROM steward.audit_events e, steward.audit_blocks b, generate_series(0, b.event_count::int - 1) i
 WHERE e.action = '$action'
   AND ('x' || encode(substring(b.entries from i * 56 + 1 for 8), 'hex'))::bit(64)::bigint = e.id
 ORDER BY b.first_position + i});
	return map { [ split /\|/ ] } @rows;
}
my @b2a = events('B2A');
my @b2b = events('B2B');
my @b3 = events('B3');
my ($x2a, $x2b, $x3) = ($b2a[0][1], $b2b[0][1], $b3[0][1]);
is(scalar(@b2a) + scalar(@b2b) + scalar(@b3), 9, 'blocks 2 and 3 hold nine events');
is($b2a[0][3], 3001, 'block 2 starts at position 3001');
is($b3[0][3], 3007, 'block 3 starts at position 3007');
ok(sql(q{SELECT count(DISTINCT (ctid::text::point)[0]) FROM steward.audit_events}) > 16,
	'the events span many pages');

# parallel workers do read the ledger in the parallel mode
my $log_offset = -s $node->logfile;
sql(q{ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf();});
valid('a freshly sealed ledger verifies');
sql(q{ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf();});
ok($node->log_contains(qr/starting background worker process "parallel worker for PID/, $log_offset),
	'the parallel run started parallel workers');

# --- (a) times that cannot be encoded --------------------------------------------
for my $t ('infinity', '-infinity', '294247-01-01 00:00+00')
{
	my ($ret, $out, $err) = $node->psql('postgres', qq{\\set VERBOSITY verbose
INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
VALUES (nextval('steward.audit_events_id_seq'), pg_current_xact_id(), '$t', 'APPLICATION', 'X', 'x', 'x')});
	like($err, qr/ERROR:  23514:/, "an event time of $t is refused by the check constraint");
}
my ($e, $time) = ($b2a[1][0], $b2a[1][2]);
tamper(q{ALTER TABLE steward.audit_events DROP CONSTRAINT audit_events_time_encodable});
for my $t ('infinity', '-infinity', '294247-01-01 00:00+00')
{
	tamper(qq{UPDATE steward.audit_events SET event_time = '$t' WHERE id = $e});
	check("f|$e|NULL|2|3002|event $e was moved: its xid or time differs from what was sealed",
		"an event time of $t is 'moved', first_bad_at NULL");
	my ($ret, $out, $err) = $node->psql('postgres', qq{\\set VERBOSITY verbose
SELECT audit_event_bytes($e)});
	like($err, qr/ERROR:  22008: the time of event $e cannot be encoded/,
		"an event time of $t has no event bytes");
}
tamper(qq{UPDATE steward.audit_events SET event_time = '294246-12-31 23:59:59.999999+00' WHERE id = $e});
is(sql(qq{SELECT encode(substring(audit_event_bytes($e) from 24 for 8), 'hex')}), '7fffff4795db3fff',
	'the last encodable time, 294246-12-31 23:59:59.999999 UTC, is 0x7fffff4795db3fff µs');
check("f|$e|294246-12-31 23:59:59.999999+00|2|3002|event $e was moved: its xid or time differs from what was sealed",
	'the last encodable time is a time like any other');
tamper(qq{UPDATE steward.audit_events SET event_time = '$time' WHERE id = $e;
ALTER TABLE steward.audit_events ADD CONSTRAINT audit_events_time_encodable
    CHECK (event_time > '-infinity' AND event_time < '294247-01-01 00:00:00+00')});
valid('the time restored, the ledger verifies');

# --- (b) which rows are checked: those completed in the newest block's snapshot
tamper(q{INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
         VALUES (900001, '9223372036854775000', now(), 'APPLICATION', 'FUTURE', 'x', 'x')});
valid('a row whose transaction no block shows completed is not checked');
is(sql(q{SELECT events_unsealed FROM verify_audit_chain()}), '1', 'it counts as unsealed');
tamper(q{DELETE FROM steward.audit_events WHERE id = 900001});

# --- (c) an inserted row: its home block, its position, ties ------------------------
# a new id in the first transaction of block 2: after that transaction's entries
tamper(qq{INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
          VALUES (900001, '$x2a', now(), 'APPLICATION', 'FORGED', 'x', 'x')});
check(qr/^f\|900001\|[^|]+\|2\|3004\|event 900001 is not in the chain: it was inserted after sealing$/,
	'an inserted row sits after the entries that sort before it by (xid, id), in its home block');
tamper(q{DELETE FROM steward.audit_events WHERE id = 900001});
# in the last transaction of block 2: one past block 2's last entry, reported in block 2
tamper(qq{INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
          VALUES (900001, '$x2b', now(), 'APPLICATION', 'FORGED', 'x', 'x')});
check(qr/^f\|900001\|[^|]+\|2\|3007\|event 900001 is not in the chain/,
	'after the last entry of its block: the next position, in its home block');
# the event at that position changed: the changed event ranks first
tamper(qq{UPDATE steward.audit_events SET action = 'B3X' WHERE id = $b3[0][0]});
check("f|$b3[0][0]|$b3[0][2]|3|3007|event $b3[0][0] was changed after sealing",
	'at the same position a changed event ranks before an inserted row');
tamper(qq{UPDATE steward.audit_events SET action = 'B3' WHERE id = $b3[0][0]});
# two inserted rows at one position: the lower id
tamper(qq{INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
          VALUES (900002, '$x2b', now(), 'APPLICATION', 'FORGED', 'x', 'x'),
                 (900003, '$x2b', now(), 'APPLICATION', 'FORGED', 'x', 'x')});
check(qr/^f\|900001\|[^|]+\|2\|3007\|event 900001 is not in the chain/,
	'of several inserted rows at one position, the lowest id is reported');
tamper(q{DELETE FROM steward.audit_events WHERE action = 'FORGED'});
valid();

# a moved row: within its block it is "moved"; into another block's
# transaction it is missing where it was sealed (and inserted where it is now)
($e, my $pos) = ($b2a[0][0], $b2a[0][3]);
tamper(qq{UPDATE steward.audit_events SET xid = '$x2b' WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|event $e was moved: its xid or time differs from what was sealed",
	'an xid changed to another transaction of the same block: moved');
tamper(qq{UPDATE steward.audit_events SET xid = '$x3' WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|event $e is missing: it was deleted after sealing",
	'an xid changed to a transaction of a later block: missing where it was sealed');
tamper(qq{UPDATE steward.audit_events SET xid = '$b3[0][1]' WHERE id = $b2b[2][0];
          UPDATE steward.audit_events SET xid = '$x2a' WHERE id = $e});
check(qr/^f\|$b2b[2][0]\|[^|]+\|2\|3006\|event $b2b[2][0] is missing/,
	'the row moved to block 3 is missing in block 2');
tamper(qq{UPDATE steward.audit_events SET xid = '$x3' WHERE id = $b3[0][0]});
tamper(qq{UPDATE steward.audit_events SET xid = '$x2b' WHERE id = $b2b[2][0];
          UPDATE steward.audit_events SET xid = '$x2b' WHERE id = $b3[0][0]});
check(qr/^f\|$b3[0][0]\|[^|]+\|3\|3007\|event $b3[0][0] is missing/,
	'a row of block 3 moved back into block 2: missing in block 3 (the inserted row in block 2 '
	  . 'ranks after it, at position 3007 too)');
tamper(qq{UPDATE steward.audit_events SET xid = '$x3' WHERE id = $b3[0][0]});
valid();

# --- (d) two rows with one id -----------------------------------------------------
my $copy = q{id, xid, event_time, event_type, action, resource_type, resource_id, actor,
 session_user_name, current_user_name, client_addr, application_name, commitment, salt, payload};
($e, $time, $pos) = ($b2a[2][0], $b2a[2][2], $b2a[2][3]);
tamper(qq{INSERT INTO steward.audit_events ($copy)
          SELECT id, xid, event_time + interval '1 second', event_type, action, resource_type, resource_id, actor,
                 session_user_name, current_user_name, client_addr, application_name, commitment, salt, payload
            FROM steward.audit_events WHERE id = $e});
check("f|$e|$time|2|$pos|event $e is stored twice: more than one row has its id",
	'a second row with the id of an entry and another time: stored twice, at the time sealed');
tamper(qq{DELETE FROM steward.audit_events WHERE id = $e AND event_time > '$time'});
tamper(qq{INSERT INTO steward.audit_events ($copy)
          SELECT id, '$x3', event_time + interval '1 second', event_type, action, resource_type, resource_id, actor,
                 session_user_name, current_user_name, client_addr, application_name, commitment, salt, payload
            FROM steward.audit_events WHERE id = $e});
check(qr/^f\|$e\|[^|]+\|3\|3007\|event $e is not in the chain: it was inserted after sealing$/,
	'a second row with the id of an entry of another block: inserted in its own home block');
tamper(qq{DELETE FROM steward.audit_events WHERE id = $e AND event_time > '$time'});
# an exact copy needs the primary key gone
tamper(qq{ALTER TABLE steward.audit_events DROP CONSTRAINT audit_events_pkey;
          INSERT INTO steward.audit_events ($copy) SELECT $copy FROM steward.audit_events WHERE id = $e});
is(sql(qq{SELECT count(*) FROM steward.audit_events WHERE id = $e}), '2', 'an exact copy is stored');
check("f|$e|$time|2|$pos|event $e is stored twice: more than one row has its id",
	'an exact copy of a sealed row: stored twice');
# and a copy in the bulk block, spread over other pages than the original
tamper(q{INSERT INTO steward.audit_events SELECT * FROM steward.audit_events WHERE action = 'BULK' AND resource_id IN ('10', '2990')});
check(qr/^f\|\d+\|[^|]+\|1\|10\|event \d+ is stored twice: more than one row has its id$/,
	'exact copies in the bulk block: the lowest position is reported');
tamper(q{DELETE FROM steward.audit_events a USING steward.audit_events b
          WHERE a.id = b.id AND a.event_time = b.event_time AND a.ctid > b.ctid;
         ALTER TABLE steward.audit_events ADD PRIMARY KEY (id, event_time)});
valid('the copies removed, the ledger verifies');

# --- (h) precedence of problems of one event -----------------------------------------
($e, $pos) = ($b2a[0][0], $b2a[0][3]);
my %salt = map { $_ => sql(qq{SELECT encode(salt, 'hex') FROM steward.audit_events WHERE id = $_}) }
  ($b2a[0][0], $b2a[1][0]);
tamper(qq{UPDATE steward.audit_events SET action = 'CHANGED', payload = '{"b2": 99}' WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|event $e was changed after sealing",
	'changed and a payload that does not match: changed');
tamper(qq{UPDATE steward.audit_events SET action = 'B2A', xid = '$x2b' WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|event $e was moved: its xid or time differs from what was sealed",
	'moved and a payload that does not match: moved');
tamper(qq{UPDATE steward.audit_events SET xid = '$x2a' WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|the payload of event $e does not match its commitment",
	'only the payload: the payload');
tamper(qq{UPDATE steward.audit_events SET payload = '{"b2": 1}', action = 'CHANGED', salt = NULL WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|event $e was changed after sealing", 'changed and a salt erased: changed');
tamper(qq{UPDATE steward.audit_events SET payload = NULL WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|event $e was changed after sealing",
	'changed and erased without a redaction record: changed');
tamper(qq{UPDATE steward.audit_events SET payload = NULL, salt = NULL WHERE id = $b2a[1][0]});
check("f|$e|$b2a[0][2]|2|$pos|event $e was changed after sealing",
	'problems at two positions: the lower position');
tamper(qq{INSERT INTO steward.audit_events ($copy)
          SELECT id, xid, event_time + interval '1 second', event_type, 'B2A', resource_type, resource_id, actor,
                 session_user_name, current_user_name, client_addr, application_name, commitment, salt, payload
            FROM steward.audit_events WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|event $e is stored twice: more than one row has its id",
	'stored twice ranks before changed');
tamper(qq{DELETE FROM steward.audit_events WHERE id = $e AND event_time > '$b2a[0][2]'});
tamper(qq{UPDATE steward.audit_events SET action = 'B2A', payload = '{"b2": 1}' WHERE id = $e});
check("f|$e|$b2a[0][2]|2|$pos|the payload of event $e does not match its commitment",
	'a payload without its salt does not match');
tamper(qq{UPDATE steward.audit_events SET salt = '\\x$salt{$e}' WHERE id = $e});
check(qr/^f\|$b2a[1][0]\|[^|]+\|2\|3002\|the payload of event $b2a[1][0] was erased without a redaction record$/,
	'payload and salt erased without a REDACTION event');
tamper(qq{UPDATE steward.audit_events SET payload = '{"b2": 2}' WHERE id = $b2a[1][0]});
check(qr/^f\|$b2a[1][0]\|[^|]+\|2\|3002\|the payload of event $b2a[1][0] does not match its commitment$/,
	'a payload without its salt does not match');
tamper(qq{UPDATE steward.audit_events SET payload = NULL, salt = '\\x$salt{$b2a[1][0]}' WHERE id = $b2a[1][0]});
check(qr/^f\|$b2a[1][0]\|[^|]+\|2\|3002\|event $b2a[1][0] has a salt but no payload$/,
	'a salt without its payload');
tamper(qq{UPDATE steward.audit_events SET payload = '{"b2": 2}' WHERE id = $b2a[1][0]});
valid('payloads and salts restored, the ledger verifies');

# --- (i) digest problems --------------------------------------------------------
my $digest = sql(q{SELECT audit_digest()});
like($digest, qr/"block": 3, .*"position": 3009/, 'the digest names block 3, position 3009');
valid('the ledger verifies against its digest');
check('t|NULL|NULL', 'a digest of the head verifies', qq{'$digest'});
my $fake = sub {
	my ($block, $position, $hash) = @_;
	return sql(qq{SELECT jsonb_set(jsonb_set(jsonb_set('$digest'::jsonb, '{block}', '$block'), '{position}', '$position'),
	                               '{hash}', to_jsonb(coalesce($hash, '$digest'::jsonb ->> 'hash')))});
};
my $other = q{repeat('ab', 32)};
check('f|NULL|NULL|3|3009|block 3 does not match the trusted digest: the chain was rewritten',
	'another hash: rewritten, at the digest position', "'" . $fake->(3, 3009, $other) . "'");
check('f|NULL|NULL|3|3008|block 3 does not match the trusted digest: the chain was rewritten',
	'another position: rewritten, at the position the digest names', "'" . $fake->(3, 3008, 'NULL') . "'");
check('f|NULL|NULL|5|3010|the ledger is truncated: block 5 named by the trusted digest is missing '
	  . '(the chain ends at block 3, position 3009)',
	'a block after the end: truncated, at the position after the chain end', "'" . $fake->(5, 3020, 'NULL') . "'");
check('f|NULL|NULL|2|3006|block 2 does not match the since digest: the chain was rewritten',
	'a since digest that does not match: at its position',
	"since => '" . $fake->(2, 3006, $other) . "'");
check('f|NULL|NULL|7|3030|block 7 named by the since digest is missing',
	'a since digest naming no block: at its position',
	"since => '" . $fake->(7, 3030, 'NULL') . "'");
tamper(qq{UPDATE steward.audit_events SET action = 'CHANGED' WHERE id = $b2a[0][0]});
check('f|NULL|NULL|5|3010|the ledger is truncated: block 5 named by the trusted digest is missing '
	  . '(the chain ends at block 3, position 3009)',
	'a digest problem ranks before a changed event at a lower position', "'" . $fake->(5, 3020, 'NULL') . "'");
tamper(qq{UPDATE steward.audit_events SET action = 'B2A' WHERE id = $b2a[0][0]});

# --- (e), (f) redaction -----------------------------------------------------------
my ($r) = ($b3[1][0]);
my $redaction = sql(qq{SELECT audit_redact($r, 'GDPR Art. 17 request 1')});
is(sql(qq{SELECT (payload IS NULL) || '|' || (salt IS NULL) || '|' || (commitment IS NOT NULL)
            FROM steward.audit_events WHERE id = $r}), 'true|true|true',
	'a redaction erases payload and salt and keeps the commitment');
is(sql(qq{SELECT event_type || '|' || resource_type || '|' || resource_id || '|' || (payload ->> 'redacted_event')
            FROM steward.audit_events WHERE id = $redaction}), "REDACTION|audit_event|$r|$r",
	'the REDACTION event names its target in resource_id');
seal();
valid('a redacted event verifies');
is(sql(q{SELECT events_redacted FROM verify_audit_chain()}), '1', 'and counts as redacted');
tamper(qq{UPDATE steward.audit_events SET salt = '\\x000102030405060708090a0b0c0d0e0f' WHERE id = $r});
check(qr/^f\|$r\|[^|]+\|3\|3008\|event $r has a salt but no payload$/, 'a salt put back is caught');
tamper(qq{UPDATE steward.audit_events SET salt = NULL, payload = '{"b3": 2}' WHERE id = $r});
check(qr/^f\|$r\|[^|]+\|3\|3008\|the payload of event $r does not match its commitment$/,
	'a payload put back without its salt is caught');
tamper(qq{UPDATE steward.audit_events SET payload = NULL WHERE id = $r});
tamper(qq{UPDATE steward.audit_events SET resource_id = '0$r' WHERE id = $redaction});
check(qr/^f\|$r\|[^|]+\|3\|3008\|the payload of event $r was erased without a redaction record$/,
	'a REDACTION event whose resource_id was changed names nothing (and its own change ranks later)');
tamper(qq{UPDATE steward.audit_events SET resource_id = '$r' WHERE id = $redaction});
valid();

# a REDACTION event sealed with a resource_id not written as an id is written
# names nothing; only sealed REDACTION events count
my $t = $b3[2][0];
for my $rid (" $t", "0$t", "$t ", "+$t", "${t}x")
{
	sql(qq{INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, resource_type, resource_id,
	                                         session_user_name, current_user_name, commitment, salt, payload)
	       SELECT nextval('steward.audit_events_id_seq'), pg_current_xact_id(), now(), 'REDACTION', 'REDACT',
	              'audit_event', '$rid', 'x', 'x',
	              sha256('\\x02'::bytea || '\\x000102030405060708090a0b0c0d0e0f'::bytea || convert_to(p::text, 'UTF8')),
	              '\\x000102030405060708090a0b0c0d0e0f', p
	         FROM (SELECT jsonb_build_object('redacted_event', $t, 'reason', 'test') AS p) x});
}
seal();
valid('forged REDACTION events, sealed intact, are events like any other');
tamper(qq{UPDATE steward.audit_events SET payload = NULL, salt = NULL WHERE id = $t});
check(qr/^f\|$t\|[^|]+\|3\|3009\|the payload of event $t was erased without a redaction record$/,
	'resource_id " N", "0N", "N ", "+N", "Nx" do not name event N');
sql(qq{INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, resource_type, resource_id,
                                         session_user_name, current_user_name, commitment, salt, payload)
       SELECT nextval('steward.audit_events_id_seq'), pg_current_xact_id(), now(), 'REDACTION', 'REDACT',
              'audit_event', '$t', 'x', 'x',
              sha256('\\x02'::bytea || '\\x000102030405060708090a0b0c0d0e0f'::bytea || convert_to(p::text, 'UTF8')),
              '\\x000102030405060708090a0b0c0d0e0f', p
         FROM (SELECT jsonb_build_object('redacted_event', $t, 'reason', 'test') AS p) x});
check(qr/^f\|$t\|[^|]+\|3\|3009\|the payload of event $t was erased without a redaction record$/,
	'a REDACTION event not sealed yet counts for nothing');
seal();
valid('once sealed, a REDACTION event with resource_id "N" names event N');

# --- (g) retention ----------------------------------------------------------------
sql(q{CREATE TABLE steward.audit_events_2010 PARTITION OF steward.audit_events
          FOR VALUES FROM ('2010-01-01 00:00+00') TO ('2011-01-01 00:00+00');
      CREATE TABLE steward.audit_events_2011 PARTITION OF steward.audit_events
          FOR VALUES FROM ('2011-01-01 00:00+00') TO ('2012-01-01 00:00+00');
      CREATE TABLE steward.audit_events_2012 PARTITION OF steward.audit_events
          FOR VALUES FROM ('2012-01-01 00:00+00') TO ('2013-01-01 00:00+00');
      INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
      SELECT nextval('steward.audit_events_id_seq'), pg_current_xact_id(), t, y, 'OLD', 'x', 'x'
        FROM (VALUES ('2010-01-01 00:00+00'::timestamptz, 'APPLICATION'), ('2010-06-01 00:00+00', 'APPLICATION'),
                     ('2011-01-01 00:00+00', 'KEPT'), ('2012-06-01 00:00+00', 'KEPT')) v(t, y);});
seal();
sql(q{SELECT audit_set_retention('APPLICATION', '1 year')});
is(sql(q{SET TimeZone = 'Asia/Kolkata';
         SELECT string_agg(partition_name || ':' || dropped, ',' ORDER BY partition_name) FROM audit_drop_expired()}),
	'audit_events_2010:true,audit_events_2011:false,audit_events_2012:false', 'the 2010 partition is dropped');
seal();
my $r1 = sql(q{SELECT max(id) FROM steward.audit_events WHERE event_type = 'RETENTION'});
is(sql(qq{SELECT payload -> 'epochs' -> 0 ->> 'range_from' FROM steward.audit_events WHERE id = $r1}),
	'2010-01-01T00:00:00+00:00', 'the times of the epoch list are ISO 8601 in UTC, whatever the session\'s TimeZone');
is(sql(q{SELECT events_dropped FROM steward.audit_epochs}), '2', 'the epoch dropped two events');
valid('an event at range_from is pruned (from is inclusive)');
is(sql(q{SELECT events_pruned FROM verify_audit_chain()}), '2', 'both count as pruned');
my $edge = sql(q{SELECT id FROM steward.audit_events WHERE event_time = '2011-01-01 00:00+00'});
my $edge_pos = sql(qq{SELECT b.first_position + i FROM steward.audit_blocks b, generate_series(0, b.event_count::int - 1) i
                       WHERE ('x' || encode(substring(b.entries from i * 56 + 1 for 8), 'hex'))::bit(64)::bigint = $edge});
tamper(qq{CREATE TABLE public.saved AS SELECT * FROM steward.audit_events WHERE id = $edge;
          DELETE FROM steward.audit_events WHERE id = $edge});
check(qr/^f\|$edge\|2011-01-01 00:00:00\+00\|\d+\|$edge_pos\|event $edge is missing: it was deleted after sealing$/,
	'an event at range_to is not in the epoch (to is exclusive)');
tamper(q{INSERT INTO steward.audit_events SELECT * FROM public.saved; DROP TABLE public.saved});
valid();

# a second drop: the newest RETENTION event lists both epochs
sql(q{SELECT audit_set_retention('KEPT', '1 year')});
is(sql(q{SELECT string_agg(partition_name || ':' || dropped, ',' ORDER BY partition_name) FROM audit_drop_expired()}),
	'audit_events_2011:true,audit_events_2012:true', 'the 2011 and 2012 partitions are dropped');
seal();
my $r2 = sql(q{SELECT max(id) FROM steward.audit_events WHERE event_type = 'RETENTION'});
is(sql(qq{SELECT jsonb_array_length(payload -> 'epochs') FROM steward.audit_events WHERE id = $r2}), '3',
	'the newest RETENTION event lists every epoch');
valid('the epochs match the newest RETENTION event');
is(sql(q{SELECT events_pruned FROM verify_audit_chain()}), '4', 'four events pruned');
my $payload = sql(qq{SELECT payload FROM steward.audit_events WHERE id = $r2});
tamper(qq{UPDATE steward.audit_events SET payload = jsonb_set(payload, '{policy}', '"forever"') WHERE id = $r2});
check('f|NULL|NULL|0|0|the retention epochs do not match the newest RETENTION event of the ledger',
	'a RETENTION event that is not intact does not count: the older list is compared, and an epoch problem '
	  . 'ranks before the payload problem');
tamper(qq{UPDATE steward.audit_events SET payload = '$payload' WHERE id = $r2});
valid();
tamper(q{UPDATE steward.audit_epochs SET range_to = range_to + interval '1 microsecond' WHERE partition_name = 'audit_events_2010'});
check('f|NULL|NULL|0|0|the retention epochs do not match the newest RETENTION event of the ledger',
	'an epoch widened by one microsecond');
tamper(q{UPDATE steward.audit_epochs SET range_to = range_to - interval '1 microsecond' WHERE partition_name = 'audit_events_2010'});
valid();

# --- the outside verifier of docs/audit.md agrees with the server ----------------------
# its export and its Python, taken from the document, on this ledger as it is
# and tampered with
my $agree;
SKIP:
{
	skip 'no python3', 1 if system('python3 -c pass') != 0;
	open(my $fh, '<', "$ENV{TESTDIR}/docs/audit.md") or die "docs/audit.md: $!";
	my $doc = do { local $/; <$fh> };
	close $fh;
	my ($section) = $doc =~ /^### An outside verifier\n(.*?)^## /ms;
	my ($export) = $section =~ /^```sh\n(.*?)^```/ms;
	my ($python) = $section =~ /^```python\n(.*?)^```/ms;
	ok($export && $python, 'audit.md has the export and the verifier');
	my $dir = PostgreSQL::Test::Utils::tempdir();
	open($fh, '>', "$dir/verify.py") or die;
	print $fh $python;
	close $fh;
	my $outside = sub {
		while ($export =~ /^psql -At clinic > (\w+\.jsonl) <<'SQL'\n(.*?)^SQL$/msg)
		{
			my ($file, $query) = ($1, $2);
			open(my $out, '>', "$dir/$file") or die;
			my $rows = sql($query);
			print $out $rows, ($rows eq '' ? '' : "\n");
			close $out;
		}
		my $said = `cd $dir && python3 verify.py 2>&1`;
		return (split /\n/, $said)[0];
	};
	my $server = sub {
		return sql(q{SELECT coalesce(CASE WHEN first_bad_position = 0 THEN 'position 0: ' || problem
		                                  ELSE 'block ' || first_bad_block || ', position ' || first_bad_position
		                                       || ': ' || problem END, 'no problem found')
		               FROM verify_audit_chain()});
	};
	$agree = sub {
		my ($name) = @_;
		my $s = $server->();
		is($outside->(), $s, "the outside verifier: $name ($s)");
	};
	$agree->('an intact ledger with redactions and retention epochs');
	tamper(qq{UPDATE steward.audit_events SET xid = '$x2b' WHERE id = $b2a[0][0]});
	$agree->('a row moved within its block');
	tamper(qq{UPDATE steward.audit_events SET xid = '$x3' WHERE id = $b2a[0][0]});
	$agree->('a row moved to another block');
	tamper(qq{UPDATE steward.audit_events SET xid = '$x2a' WHERE id = $b2a[0][0];
	          INSERT INTO steward.audit_events ($copy)
	          SELECT id, xid, event_time + interval '1 second', event_type, action, resource_type, resource_id, actor,
	                 session_user_name, current_user_name, client_addr, application_name, commitment, salt, payload
	            FROM steward.audit_events WHERE id = $b2b[1][0];
	          INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
	          VALUES (900001, '$x2b', now(), 'APPLICATION', 'FORGED', 'x', 'x');
	          UPDATE steward.audit_events SET action = 'CHANGED' WHERE id = $b3[0][0]});
	$agree->('a copy, an inserted row and a changed event');
	tamper(qq{DELETE FROM steward.audit_events WHERE id = $b2b[1][0] AND event_time > '$b2b[1][2]'});
	$agree->('an inserted row and a changed event at one position');
	my $salt3 = sql(qq{SELECT encode(salt, 'hex') FROM steward.audit_events WHERE id = $b2a[2][0]});
	tamper(qq{DELETE FROM steward.audit_events WHERE id = 900001;
	          UPDATE steward.audit_events SET action = 'B3' WHERE id = $b3[0][0];
	          UPDATE steward.audit_events SET payload = NULL, salt = NULL WHERE id = $b2a[2][0]});
	$agree->('a payload erased without a redaction record');
	tamper(qq{UPDATE steward.audit_events SET payload = jsonb_set(payload, '{policy}', '"forever"') WHERE id = $r2});
	$agree->('the newest RETENTION event changed');
	tamper(qq{UPDATE steward.audit_events SET payload = '$payload' WHERE id = $r2;
	          UPDATE steward.audit_events SET payload = '{"b2": 3}', salt = '\\x$salt3' WHERE id = $b2a[2][0]});
	$agree->('all restored');
	tamper(qq{CREATE TABLE public.saved AS SELECT * FROM steward.audit_events WHERE id = $b3[2][0];
	          DELETE FROM steward.audit_events WHERE id = $b3[2][0]});
	$agree->('a deleted event');
	tamper(q{INSERT INTO steward.audit_events SELECT * FROM public.saved; DROP TABLE public.saved});
	$agree->('the deleted event restored');
}

# --- (j) a NULL event_type ------------------------------------------------------------
my ($ret, $out, $err) = $node->psql('postgres', qq{\\set VERBOSITY verbose
SELECT audit_append('X', event_type => NULL)});
like($err, qr/ERROR:  22004: event_type must not be null/, 'audit_append refuses a NULL event_type');
is(sql(q{SELECT audit_append('X') IS NOT NULL}), 't', 'an omitted event_type is APPLICATION');
is(sql(q{SELECT event_type FROM steward.audit_events WHERE action = 'X'}), 'APPLICATION', 'stored as APPLICATION');

# --- (c), (h) two entries of one block with one id ----------------------------------
# a newest block forged with its second entry a copy of its first, its Merkle
# root and hash recomputed (a chain a superuser rewrote): the later entry is
# "sealed twice", the row of that id matches the first of the two, and the
# row whose entry was overwritten is inserted after both
seal();
sql(q{SELECT audit_append('LAST', 'patient', g::text) FROM generate_series(1, 3) g});
seal();
my @last = events('LAST');
is(scalar(@last), 3, 'a last block of three events');
my ($lb, $lp) = ($last[0][4], $last[0][3]);
tamper(qq{UPDATE steward.audit_blocks
   SET entries = substring(entries from 1 for 56) || substring(entries from 1 for 56) || substring(entries from 113)
 WHERE block_id = $lb;} . forge_block_sql("block_id = $lb"));
my $second = $lp + 1;
check("f|$last[0][0]|NULL|$lb|$second|event $last[0][0] is sealed twice",
	'two entries of one block with one id: the later is sealed twice (and outranks its missing row)');
$agree->('two entries of one block with one id') if $agree;
my $third = $lp + 2;
tamper(qq{UPDATE steward.audit_events SET action = 'CHANGED' WHERE id = $last[0][0]});
check("f|$last[0][0]|$last[0][2]|$lb|$lp|event $last[0][0] was changed after sealing",
	'the row of the duplicated id is matched with the first of the two entries');
tamper(qq{UPDATE steward.audit_events SET action = 'LAST' WHERE id = $last[0][0];
          UPDATE steward.audit_events SET id = 0 WHERE id = $last[0][0]});
check("f|$last[0][0]|$last[0][2]|$lb|$lp|event $last[0][0] is missing: it was deleted after sealing",
	'at one position, a missing entry ranks before a row inserted there (its id changed to 0)');
$agree->('a missing entry and an inserted row at one position') if $agree;

# --- a chunk boundary --------------------------------------------------------------
# verify.c reads the events of about 100 000 sealed events at a time
# (CHUNK_EVENTS): a block of 250 000 events is a chunk of its own. What is found
# around the boundary is the same as anywhere else: an inserted row just
# after the block's last entry ranks after a changed event at that position
# in the next block (it used to win, being found in the earlier chunk), and a
# row moved across the boundary is missing where it was sealed, as it is
# when moved between two blocks of one chunk. A run "since" the big block,
# whose chunks start elsewhere, gives the same verdict.
$node->safe_psql('postgres', 'CREATE DATABASE big');
$db = 'big';
sql('CREATE EXTENSION pg_steward');
sql(q{SELECT count(audit_append('BIG', 'patient', g::text)) FROM generate_series(1, 250000) g});
seal();
my $big_digest = sql(q{SELECT audit_digest()});
sql(q{SELECT audit_append('NB', 'patient', g::text) FROM generate_series(1, 3) g});
seal();
sql(q{SELECT audit_append('NC', 'patient', g::text) FROM generate_series(1, 3) g});
seal();
my @nb = events('NB');
my @nc = events('NC');
my $xa = sql(q{SELECT xid FROM steward.audit_events WHERE id = 1});
is("$nb[0][3]|$nb[0][4]", '250001|2', 'a block of 250 000 events, then two small ones');
valid('the big ledger verifies');
tamper(qq{INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
          VALUES (900001, '$xa', now(), 'APPLICATION', 'FORGED', 'x', 'x')});
check(qr/^f\|900001\|[^|]+\|1\|250001\|event 900001 is not in the chain: it was inserted after sealing$/,
	'a row inserted after the last entry of the big block');
tamper(qq{UPDATE steward.audit_events SET action = 'CHANGED' WHERE id = $nb[0][0]});
my $changed = "f|$nb[0][0]|$nb[0][2]|2|250001|event $nb[0][0] was changed after sealing";
check($changed, 'across the chunk boundary, a changed event ranks before an inserted row at its position');
check($changed, 'a run since the big block gives the same verdict', "since => '$big_digest'");
tamper(qq{DELETE FROM steward.audit_events WHERE id = 900001;
          UPDATE steward.audit_events SET action = 'NB', xid = '$xa' WHERE id = $nb[0][0]});
my $missing = "f|$nb[0][0]|$nb[0][2]|2|250001|event $nb[0][0] is missing: it was deleted after sealing";
check($missing, 'a row moved back across the chunk boundary: missing where it was sealed');
tamper(qq{UPDATE steward.audit_events SET xid = '$nc[0][1]' WHERE id = $nb[0][0]});
check($missing, 'a row moved to a later block of the same chunk: the same verdict');
check($missing, 'and the same in a run since the big block', "since => '$big_digest'");
tamper(qq{UPDATE steward.audit_events SET xid = '$nb[1][1]' WHERE id = $nb[0][0]});
valid('the big ledger restored');

# --- ids far apart -------------------------------------------------------------------
# a chunk whose ids span far more than its entries (the sequence moved on) has
# its entries looked up by a sorted index instead of by offset from its lowest
# id (and sorted, for their chain order, by (xid, id), is not their id order):
# the same verdicts
my $early = $node->background_psql($db);
$early->query_safe('BEGIN; SELECT pg_current_xact_id()');
sql(q{SELECT setval('steward.audit_events_id_seq', 1000000000000)});
sql(q{SELECT audit_append('SPARSE', 'patient', g::text) FROM generate_series(1, 3) g});
$early->query_safe(q{SELECT audit_append('SPARSE', 'patient', g::text) FROM generate_series(4, 5) g; COMMIT});
$early->quit;
seal();
my @sp = events('SPARSE');
is(join(',', map { $_->[0] } @sp), '1000000000004,1000000000005,1000000000001,1000000000002,1000000000003',
	'ids far above the others, the two of the older transaction first');
valid('a ledger with ids far apart verifies');
tamper(qq{UPDATE steward.audit_events SET action = 'CHANGED' WHERE id = $sp[1][0]});
check("f|$sp[1][0]|$sp[1][2]|$sp[1][4]|$sp[1][3]|event $sp[1][0] was changed after sealing",
	'ids far apart: a changed event');
tamper(qq{UPDATE steward.audit_events SET action = 'SPARSE' WHERE id = $sp[1][0];
          CREATE TABLE public.saved AS SELECT * FROM steward.audit_events WHERE id = $sp[2][0];
          DELETE FROM steward.audit_events WHERE id = $sp[2][0]});
check("f|$sp[2][0]|$sp[2][2]|$sp[2][4]|$sp[2][3]|event $sp[2][0] is missing: it was deleted after sealing",
	'ids far apart: a deleted event');
tamper(q{INSERT INTO steward.audit_events SELECT * FROM public.saved; DROP TABLE public.saved});
valid('ids far apart: the deleted event restored');
tamper(qq{UPDATE steward.audit_blocks
   SET entries = substring(entries from 1 for 56) || substring(entries from 1 for 56) || substring(entries from 113)
 WHERE block_id = $sp[0][4];} . forge_block_sql("block_id = $sp[0][4]"));
my $sp_second = $sp[0][3] + 1;
check("f|$sp[0][0]|NULL|$sp[0][4]|$sp_second|event $sp[0][0] is sealed twice",
	'ids far apart: two entries of one block with one id');

# --- one team of workers for the whole run ---------------------------------------------
# The workers verify_audit_chain() starts read every chunk of the run: two
# chunks of many pages each, and as many workers started by the verifying
# backend as one chunk gets.
$node->safe_psql('postgres', 'CREATE DATABASE team');
$db = 'team';
sql('CREATE EXTENSION pg_steward');
sql(q{SELECT count(audit_append('TEAM', 'patient', g::text)) FROM generate_series(1, 70000) g});
seal();
sql(q{SELECT count(audit_append('TEAM', 'patient', g::text)) FROM generate_series(1, 20000) g});
seal();
is(sql(q{SELECT string_agg(event_count::text, ',' ORDER BY block_id) FROM steward.audit_blocks}),
	'70000,20000', 'two blocks, each a chunk of its own');
$log_offset = -s $node->logfile;
sql(q{ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf();});
my ($leader, $team_verdict) = split /\|/,
  sql("$mode{parallel}\nSELECT pg_backend_pid() || '|' || is_valid || ',' || events_checked FROM verify_audit_chain()");
sql(q{ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf();});
is($team_verdict, 'true,90000', 'both chunks read by parallel workers only verify');
my $started = () = slurp_file($node->logfile, $log_offset)
  =~ /starting background worker process "parallel worker for PID $leader"/g;
is($started, 4, 'max_parallel_workers_per_gather workers started for both chunks together');

done_testing();
