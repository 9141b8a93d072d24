# Security suite: the audit ledger.  The application role (clinic_app, granted
# only steward.audit_append), the auditor and a DBA role run as the roles of
# the setup docs/operations.md recommends; tampering is a superuser editing
# stored rows with the append-only triggers off (session_replication_role =
# replica), as in test/t/008_audit.pl.
#
#  * event types: look-alikes of pg_steward's reserved types are refused by
#    every function that takes an event type;
#  * the block snapshot and the entries are covered by the block hash: an
#    edited snapshot or entry is named as a problem of its block, and
#    neither sealing (audit_seal, the sealer) nor appending acts on a newest
#    block that does not verify (no re-seal, no pg_resetwal advice);
#  * a redacted event has neither payload nor salt;
#  * event times the byte format cannot encode never enter the ledger, and
#    verification survives out-of-range times in blocks;
#  * the row-change trigger renders rows as the table's owner, in a
#    security-restricted operation, never as the writing role or the
#    extension owner;
#  * large arguments stay within the memory cap.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardSecurity;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = security_node('audit');
documented_roles($node, 'postgres');
$node->safe_psql('postgres', q{
CREATE ROLE ledger_dba LOGIN;
GRANT EXECUTE ON FUNCTION steward.audit_seal(), steward.audit_redact(bigint, text),
                          steward.audit_set_retention(text, interval), steward.audit_drop_expired(boolean),
                          steward.audit_table(regclass), steward.unaudit_table(regclass) TO ledger_dba;
ALTER ROLE ledger_dba SET search_path = steward;
CREATE ROLE table_owner LOGIN;
CREATE SCHEMA owned AUTHORIZATION table_owner;
GRANT EXECUTE ON FUNCTION steward.audit_table(regclass) TO table_owner;
});

# run SQL as a role; returns (exit code, stdout, stderr with SQLSTATEs)
sub as_role
{
	my ($role, $sql) = @_;
	return psql_as($node, $role, "\\set VERBOSITY verbose\n$sql");
}

sub superuser
{
	return $node->safe_psql('postgres', $_[0]);
}

# a superuser edits stored rows behind the append-only triggers' back
sub tamper
{
	return superuser("SET session_replication_role = replica;\n$_[0]");
}

# what the auditor's verification says: is_valid|first_bad_block|problem
sub verify
{
	my ($ret, $out, $err) = as_role('auditor',
		q{SELECT is_valid || '|' || coalesce(first_bad_block::text, '') || '|' || coalesce(problem, '')
		    FROM verify_audit_chain()});
	return $ret == 0 ? $out : "error: $err";
}

sub count_events { return superuser('SELECT count(*) FROM steward.audit_events'); }
sub count_blocks { return superuser('SELECT count(*) FROM steward.audit_blocks'); }

sub sealing_off
{
	superuser(q{ALTER SYSTEM SET pg_steward.audit_seal_interval = 0; SELECT pg_reload_conf();});
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_steward sealer'})
	  or die 'the sealer did not stop';
}

sub seal { return superuser('SELECT steward.audit_seal()'); }

# a partition of an old year with three events (a superuser's INSERT, as
# pg_restore of an old ledger would write them), not sealed yet
sub old_year_events
{
	my ($year) = @_;
	my $next = $year + 1;
	superuser(qq{
CREATE TABLE steward.audit_events_$year PARTITION OF steward.audit_events
    FOR VALUES FROM ('$year-01-01 00:00+00') TO ('$next-01-01 00:00+00');
INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
SELECT nextval('steward.audit_events_id_seq'), pg_current_xact_id(), '$year-06-01 00:00+00', 'APPLICATION', 'OLD', 'x', 'x'
  FROM generate_series(1, 3);});
}

sealing_off();
for my $i (1 .. 3)
{
	as_role('clinic_app', qq{SELECT steward.audit_append('VIEW_RECORD', 'patient', '$i', '{"field": "diagnosis"}', 'dr.meyer')});
	seal();
}
is(verify(), 'true||', 'the ledger the suite starts from verifies');

# --- finding 9: look-alike event types ---------------------------------------
my $events = count_events();
for my $t (q{'SCHEMA_MIGRATION '}, q{' LEDGER'}, q{E'RETENTION\n'}, q{'RETENTİON'}, q{'row_change'},
	q{'Ledger'}, q{'REDACTION' || chr(8203)}, q{'SCHEMA-MIGRATION'}, q{E'LEDGER\t'}, q{repeat('A', 65)})
{
	my ($ret, $out, $err) = as_role('clinic_app', "SELECT steward.audit_append('LOGIN', event_type => $t)");
	like($err, qr/ERROR:  22023:/, "audit_append refuses the event type $t");
}
is(count_events(), $events, 'no look-alike event was appended');
my ($ret, $out, $err) = as_role('clinic_app', q{SELECT steward.audit_append('LOGIN', event_type => 'CLINICAL_NOTE_2') > 0});
is($out, 't', 'an event type of capital letters, digits and underscores is accepted');
for my $t (q{'RETENTİON'}, q{'LEDGER '}, q{E'*\n'}, q{'row change'})
{
	($ret, $out, $err) = as_role('ledger_dba', "SELECT steward.audit_set_retention($t, '1 day')");
	like($err, qr/ERROR:  22023:/, "audit_set_retention refuses the event type $t");
	($ret, $out, $err) = as_role('ledger_dba', "SELECT steward.audit_set_retention($t, NULL)");
	like($err, qr/ERROR:  22023:/, "removing a policy of the event type $t is refused too");
}
is(superuser(q{SELECT count(*) FROM steward.audit_events WHERE event_type = 'LEDGER'}), '0',
	'no LEDGER event names a look-alike policy');
($ret, $out, $err) = as_role('ledger_dba', q{SELECT steward.audit_set_retention('CLINICAL_NOTE_2', '10 years')});
is($ret, 0, 'a policy for a valid event type is set');
seal();
is(verify(), 'true||', 'the ledger verifies');

# --- finding 11: the snapshot and the entries are covered by the block hash ---
my ($head, $head_snap) = split /\|/, superuser(
	q{SELECT block_id || '|' || snapshot::text FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1});
my $set_head_snap = sub { tamper("UPDATE steward.audit_blocks SET snapshot = '$_[0]' WHERE block_id = $head") };

$set_head_snap->('3:3:');
like(verify(), qr/^false\|$head\|block $head: /,
	'a lowered snapshot of the newest block is named as a problem of that block, not as missing events');
my $blocks = count_blocks();
($ret, $out, $err) = as_role('ledger_dba', 'SELECT steward.audit_seal()');
like($err, qr/ERROR:  XX001: the audit ledger is damaged/, 'audit_seal refuses to seal after a block that does not verify');
like($err, qr/verify_audit_chain/, 'and says to run verify_audit_chain');
is(count_blocks(), $blocks, 'nothing was sealed again');

# a raised xmax: before, append and seal advised pg_resetwal with the attacker's value
$set_head_snap->('4000000000:4000000000:');
($ret, $out, $err) = as_role('clinic_app', q{SELECT steward.audit_append('LOGIN')});
like($err, qr/the audit ledger is damaged/, 'audit_append refuses on a newest block that does not verify');
unlike($err, qr/pg_resetwal|advance_xid|4000000000/, 'and gives no advice from the unverified snapshot');
($ret, $out, $err) = as_role('ledger_dba', 'SELECT steward.audit_seal()');
like($err, qr/the audit ledger is damaged/, 'so does audit_seal');
unlike($err, qr/pg_resetwal|advance_xid|4000000000/, 'without advice either');
is(count_blocks(), $blocks, 'no block was written');
$set_head_snap->($head_snap);
is(verify(), 'true||', 'the snapshot restored, the ledger verifies');
is(seal(), '0', 'and a seal finds nothing to seal again');

# the sealer: it never seals on top of a block that does not verify
superuser(q{ALTER SYSTEM SET pg_steward.audit_seal_interval = '200ms'; SELECT pg_reload_conf();});
$set_head_snap->('3:3:');
my $log_offset = -s $node->logfile;
as_role('clinic_app', q{SELECT steward.audit_append('LOGIN', 'user', 'sealer-test')});
$node->wait_for_log(qr/the audit ledger is damaged/, $log_offset);
pass('the sealer logs that the ledger is damaged');
# the restarted sealer tries again, and refuses again
$node->wait_for_log(qr/the audit ledger is damaged/, -s $node->logfile);
is(count_blocks(), $blocks, 'the sealer sealed nothing');
$set_head_snap->($head_snap);
$node->poll_query_until('postgres', "SELECT count(*) > $blocks FROM steward.audit_blocks")
  or die 'the sealer did not seal after the repair';
is(verify(), 'true||', 'once repaired, the sealer seals the waiting event and the chain verifies (nothing sealed twice)');
sealing_off();

# the retention epochs are checked against the newest sealed RETENTION event;
# a block problem hiding that event is named, not the epochs
old_year_events(2010);
seal();
as_role('ledger_dba', q{SELECT steward.audit_set_retention('*', '10 years')});
($ret, $out, $err) = as_role('ledger_dba',
	q{SELECT dropped FROM steward.audit_drop_expired() WHERE partition_name = 'audit_events_2010'});
is($out, 't', 'the expired partition is dropped');
seal();
is(verify(), 'true||', 'the ledger with a retention epoch verifies');
my $rxid = superuser(q{SELECT xid FROM steward.audit_events WHERE event_type = 'RETENTION'});
($head, $head_snap) = split /\|/, superuser(
	q{SELECT block_id || '|' || snapshot::text FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1});
$set_head_snap->("$rxid:" . ($rxid + 1) . ":$rxid");
like(verify(), qr/^false\|$head\|block $head: /,
	'a snapshot edited to hide the RETENTION event names its block, not the retention epochs');
$set_head_snap->($head_snap);

# retention drops a partition only when the head block says its events are
# sealed: a raised snapshot must not get unsealed events dropped
old_year_events(2011);
# just past them: they look sealed, and later transactions do not look completed
my $past = superuser(q{SELECT max(xid::text::bigint) + 1 FROM steward.audit_events_2011});
$set_head_snap->("$past:$past:");
($ret, $out, $err) = as_role('ledger_dba', q{
BEGIN;
SELECT pg_current_xact_id() IS NOT NULL AS written;   -- so no seal runs first
SELECT partition_name, dropped FROM steward.audit_drop_expired();
COMMIT;});
like($err, qr/the audit ledger is damaged/, 'audit_drop_expired refuses to drop on a head block that does not verify');
is(superuser(q{SELECT count(*) FROM steward.audit_events WHERE event_time >= '2011-01-01 00:00+00' AND event_time < '2012-01-01 00:00+00'}),
	'3', 'the unsealed events are still there');
$set_head_snap->($head_snap);

# the entries' ids and times, the sealed_at and the format are covered as well
my $saved = superuser("SELECT format(\$\$entries = %L, sealed_at = %L, format = %s\$\$, entries, sealed_at, format)
                         FROM steward.audit_blocks WHERE block_id = $head");
my $restore_head = sub { tamper("UPDATE steward.audit_blocks SET $saved WHERE block_id = $head") };
tamper("UPDATE steward.audit_blocks SET entries = overlay(entries placing int8send(999999) from 1 for 8) WHERE block_id = $head");
like(verify(), qr/^false\|$head\|block $head: /, 'an entry given another event id names its block');
$restore_head->();
tamper("UPDATE steward.audit_blocks SET entries = overlay(entries placing '\\x8000000000000000'::bytea from 17 for 8) WHERE block_id = $head");
like(verify(), qr/^false\|$head\|block $head: /, 'an entry time outside any timestamp names its block (no error)');
$restore_head->();
tamper("UPDATE steward.audit_blocks SET sealed_at = 'infinity' WHERE block_id = $head");
is(verify(), "false|$head|block $head: its hash does not match its header",
	'an infinite sealed_at is a changed header (no overflow)');
$restore_head->();
tamper("UPDATE steward.audit_blocks SET format = 1 WHERE block_id = $head");
is(verify(), "false|$head|block $head has format 1 after a block of format 2",
	'a block cannot be passed off as an older format');
$restore_head->();
is(verify(), 'true||', 'the block restored, the ledger verifies');

# --- finding 12: a redacted event has neither payload nor salt ----------------
my $with_payload = superuser(q{SELECT id FROM steward.audit_events WHERE resource_id = '2'});
($ret, $out, $err) = as_role('clinic_app', q{SELECT steward.audit_append('READ', 'patient', '8')});
my $without_payload = $out;
($ret, $out, $err) = as_role('ledger_dba', qq{SELECT steward.audit_redact($with_payload, 'GDPR Art. 17 request 1')});
is($ret, 0, 'the DBA redacts an event');
seal();
like(verify(), qr/^true\|/, 'a redacted event verifies');
my $salt = q{'\x000102030405060708090a0b0c0d0e0f'};
tamper("UPDATE steward.audit_events SET salt = $salt WHERE id = $with_payload");
like(verify(), qr/^false\|\d+\|event $with_payload has a salt but no payload$/,
	'a salt put back on a redacted event is reported');
tamper("UPDATE steward.audit_events SET salt = NULL WHERE id = $with_payload");
tamper("UPDATE steward.audit_events SET salt = $salt WHERE id = $without_payload");
like(verify(), qr/^false\|\d+\|event $without_payload has a salt but no payload$/,
	'a salt on an event appended without payload is reported');
tamper("UPDATE steward.audit_events SET salt = NULL WHERE id = $without_payload");
tamper(qq{UPDATE steward.audit_events SET payload = '{"field": "diagnosis"}' WHERE id = $with_payload});
like(verify(), qr/^false\|\d+\|the payload of event $with_payload does not match its commitment$/,
	'a payload put back without its salt is reported');
tamper("UPDATE steward.audit_events SET payload = NULL WHERE id = $with_payload");
is(verify(), 'true||', 'undone, the ledger verifies');

# --- finding 13: times the byte format cannot encode ---------------------------
for my $t ('infinity', '-infinity', '294250-01-01 00:00+00')
{
	my ($r, $o, $e) = $node->psql('postgres', qq{
\\set VERBOSITY verbose
BEGIN;
INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
VALUES (nextval('steward.audit_events_id_seq'), pg_current_xact_id(), '$t', 'APPLICATION', 'X', 'x', 'x');
ROLLBACK;});
	like($e, qr/ERROR:  23514:/, "an event time of $t cannot enter the ledger, even by a superuser's INSERT");
}
is(verify(), 'true||', 'the ledger verifies');

# --- the row-change trigger renders rows as the table's owner ------------------
$node->safe_psql('postgres', q{
SET ROLE table_owner;
CREATE TABLE owned.seen (who name, restricted boolean);
CREATE TYPE owned.mood AS ENUM ('calm', 'upset');
CREATE FUNCTION owned.mood_json(m owned.mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO owned.seen VALUES (current_user, NULL);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE table_owner SUPERUSER';
    END IF;
    RETURN pg_catalog.to_json(m::text);
END $$;
CREATE CAST (owned.mood AS json) WITH FUNCTION owned.mood_json(owned.mood);
CREATE TABLE owned.ward (id int PRIMARY KEY, mood owned.mood);
GRANT SELECT, INSERT, UPDATE ON owned.ward TO clinic_app;
GRANT USAGE ON SCHEMA owned TO clinic_app;
SELECT steward.audit_table('owned.ward');
});
superuser(q{INSERT INTO owned.ward VALUES (1, 'upset')});
as_role('clinic_app', q{UPDATE owned.ward SET mood = 'calm' WHERE id = 1});
is(superuser(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'table_owner'}), 'f',
	'a superuser writing an audited table does not run the owner\'s cast as superuser');
is(superuser(q{SELECT string_agg(DISTINCT who, ',') FROM owned.seen}), 'table_owner',
	'the cast ran as the table owner, whoever wrote the row');
is(superuser(q{SELECT string_agg(payload->'new'->>'mood', ',' ORDER BY id) FROM steward.audit_events
                WHERE event_type = 'ROW_CHANGE'}), 'upset,calm', 'and the events carry the rendered rows');
$node->safe_psql('postgres', q{
SET ROLE table_owner;
CREATE OR REPLACE FUNCTION owned.mood_json(m owned.mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE escape (x int);   -- not allowed in a security-restricted operation
    RETURN pg_catalog.to_json(m::text);
END $$;});
($ret, $out, $err) = as_role('clinic_app', q{UPDATE owned.ward SET mood = 'upset' WHERE id = 1});
like($err, qr/security-restricted operation/, 'the rendering is a security-restricted operation');

# --- bounds --------------------------------------------------------------------
($ret, $out, $err) = as_role('auditor',
	q{SELECT is_valid FROM verify_audit_chain(trusted_digest => jsonb_build_object('block', 1, 'position', 1,
	    'hash', repeat('0', 64), 'pad', repeat('x', 100000000)))});
like($err, qr/ERROR:  22023: trusted_digest is not a pg_steward ledger digest/,
	'a digest of 100 MB is refused without rendering it');
($ret, $out, $err) = as_role('clinic_app',
	q{SELECT steward.audit_append('UPLOAD', payload => jsonb_build_object('scan', repeat('x', 60000000))) > 0});
is($out, 't', 'a payload of 60 MB is appended within the memory cap');
seal();
is(verify(), 'true||', 'and verified within the memory cap');

# --- receipts: no payload for a role that cannot read payloads -----------------
seal();
my $sealed_id = $node->safe_psql('postgres', q{SELECT max(id) FROM steward.audit_events WHERE payload IS NOT NULL});
($ret, $out, $err) = as_role('auditor', qq{SELECT steward.audit_proof($sealed_id) ? 'audit_path'});
is($out, 't', 'the auditor gets a receipt') or diag($err);
($ret, $out, $err) = as_role('auditor', qq{SELECT steward.audit_proof($sealed_id, with_payload => true)});
like($err, qr/ERROR:  42501: permission denied to read the payloads of the audit ledger/,
	'but not with the payload: the auditor cannot read payloads');
($ret, $out, $err) = as_role('clinic_app', q{SELECT steward.audit_proof(1)});
like($err, qr/permission denied for function audit_proof/, 'the application gets no receipt');
($ret, $out, $err) = as_role('auditor',
	q{SELECT steward.audit_consistency(jsonb_build_object('block', 1, 'position', 1,
	    'hash', repeat('0', 64), 'pad', repeat('x', 100000000)))});
like($err, qr/ERROR:  22023: old_digest is not a pg_steward ledger digest/,
	'audit_consistency refuses a digest of 100 MB without rendering it');

# --- the sealer and a database owner's search_path -----------------------------
# The sealer is a superuser session with the database's settings.  A database
# owner sets the database's search_path to find its own = (name) and >= (xid8)
# first; their function counts its calls in a sequence (nextval survives the
# rollback of the sealer's transaction) and tries to make its owner superuser.
$node->safe_psql('postgres', q{
CREATE ROLE dbowner LOGIN;
CREATE DATABASE dbo OWNER dbowner;
});
$node->safe_psql('dbo', 'CREATE EXTENSION pg_steward');
$node->safe_psql('dbo', q{
CREATE SEQUENCE public.evil_calls;
CREATE FUNCTION public.evil_cmp(name, name) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM pg_catalog.nextval('public.evil_calls');
    BEGIN EXECUTE 'ALTER ROLE dbowner SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN pg_catalog.nameeq($1, $2);
END $f$;
CREATE FUNCTION public.evil_ge(xid8, xid8) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM pg_catalog.nextval('public.evil_calls');
    BEGIN EXECUTE 'ALTER ROLE dbowner SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN pg_catalog.xid8ge($1, $2);
END $f$;
ALTER SEQUENCE public.evil_calls OWNER TO dbowner;
ALTER FUNCTION public.evil_cmp(name, name) OWNER TO dbowner;
ALTER FUNCTION public.evil_ge(xid8, xid8) OWNER TO dbowner;
ALTER SCHEMA public OWNER TO dbowner;
GRANT USAGE ON SCHEMA steward TO dbowner;
});
$node->psql('dbo', q{
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.evil_cmp);
CREATE OPERATOR public.>= (LEFTARG = xid8, RIGHTARG = xid8, FUNCTION = public.evil_ge);
ALTER DATABASE dbo SET search_path = public, pg_catalog;
}, extra_params => [ '-U', 'dbowner' ], on_error_die => 1);
$node->restart;    # the sealer of dbo starts with the database's settings
$node->safe_psql('dbo', q{SELECT steward.audit_append('LOGIN', 'user', 'dr.jung')});
$node->safe_psql('dbo', q{SELECT steward.audit_seal()});
is($node->safe_psql('dbo', q{SELECT events_unsealed FROM steward.audit_status()}), '0',
	"dbo's event is sealed");
is($node->safe_psql('dbo', 'SELECT last_value || CASE WHEN is_called THEN \'+\' ELSE \'\' END FROM public.evil_calls'),
	'1', "the sealer never called the database owner's operators");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}), 'f',
	'the database owner is no superuser');

ok(!server_crashed($node), 'no backend crashed');
done_testing();
