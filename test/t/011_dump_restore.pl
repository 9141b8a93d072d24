# pg_dump and pg_restore keep what pg_steward holds: the migration history,
# the jobs, the schema fingerprints and the whole audit ledger, which
# verifies in the restored database against a digest taken before the dump.
# A restored job submitted in the source cluster never runs there (role OIDs
# do not carry over).
#
# The ledger seals by comparing transaction ids with the last block's
# snapshot, and a restored ledger carries the source cluster's ids.  The
# documented restore moves the target cluster's transaction counter past
# them first (scripts/advance_xid.sh); a restore without that step is
# caught: audit_append and audit_seal refuse, naming the value to advance
# to, and after the step the ledger goes on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $conf = qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.audit_seal_interval = 0
};

# --- the source: migrations, a job, a ledger with an unsealed tail ---------
my $src = PostgreSQL::Test::Cluster->new('source');
$src->init;
$src->append_conf('postgresql.conf', $conf);
$src->start;
$src->safe_psql('postgres', 'CREATE DATABASE clinic');
$src->safe_psql('clinic', q{
CREATE EXTENSION pg_steward;
SELECT migrate_apply('20260101_patients', $$
    CREATE TABLE patients (id bigint PRIMARY KEY, name text NOT NULL, ward text);
    INSERT INTO patients SELECT g, 'patient ' || g, NULL FROM generate_series(1, 500) g;
$$, down_sql => 'DROP TABLE patients');
SELECT migrate_apply('20260102_note', 'ALTER TABLE patients ADD COLUMN note text');
});
# a failed attempt stays on record
$src->psql('clinic', q{SELECT migrate_apply('20260103_broken', 'SELECT 1/0')});
$src->safe_psql('clinic', q{
SELECT backfill('patients', $$ward = 'ICU'$$, 'ward IS NULL', batch_size => 100) AS job \gset
SELECT job_wait(:job);
SELECT audit_table('patients');
UPDATE patients SET note = 'allergic to penicillin' WHERE id = 7;
SELECT audit_append('READ', 'patient', '7', '{"screen": "chart"}', 'dr.jung');
SELECT audit_append('PRINT', 'patient', '8', '{"pages": 2}', 'dr.jung');
SELECT audit_seal();
});
# a job that has not ended when the dump is taken, submitted by a role
# whose OID will differ in the target cluster
$src->safe_psql('postgres', q{CREATE ROLE filler1; CREATE ROLE filler2; CREATE ROLE jobber;});
$src->safe_psql('clinic', q{GRANT SELECT, UPDATE ON patients TO jobber; GRANT EXECUTE ON FUNCTION backfill(regclass, text, text, integer, name, interval, interval, interval, interval, interval) TO jobber;});
my $paused = $src->safe_psql('clinic', q{
SET ROLE jobber;
BEGIN;
SELECT backfill('patients', $$note = 'checked'$$, 'note IS NULL', batch_size => 100) AS job \gset
RESET ROLE;
SELECT job_pause(:job);
COMMIT;
SELECT :job;});
$paused = (split /\n/, $paused)[-1];
$src->safe_psql('clinic', q{SELECT audit_redact(id, 'GDPR request 2026-7') FROM steward.audit_events
                             WHERE action = 'PRINT'});
$src->safe_psql('clinic', 'SELECT audit_seal()');
my $digest = $src->safe_psql('clinic', 'SELECT audit_digest()');
# an unsealed tail: committed after the last seal
$src->safe_psql('clinic', q{SELECT audit_append('READ', 'patient', '9', NULL, 'dr.roth')});
$src->safe_psql('clinic', q{SELECT audit_append('READ', 'patient', '10', NULL, 'dr.roth')});

# the source's transactions run well ahead of a new cluster's
$src->safe_psql('clinic', q{
CREATE PROCEDURE burn(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP;
END $$;
CALL burn(3000);
DROP PROCEDURE burn(int);
});

my $q_history = q{SELECT string_agg(version || ':' || status || ':' || kind || ':' || checksum, ',' ORDER BY version)
                    FROM migrate_status()};
my $q_events = q{SELECT string_agg(version || ':' || event, ',' ORDER BY id) FROM migrate_history()};
my $q_jobs = q{SELECT string_agg(kind || ':' || state || ':' || rows_done, ',' ORDER BY id) FROM job_status()};
my $q_ledger = q{SELECT count(*) || ':' || count(*) FILTER (WHERE payload IS NULL) FROM steward.audit_events};
my %before = (
	history => $src->safe_psql('clinic', $q_history),
	events  => $src->safe_psql('clinic', $q_events),
	jobs    => $src->safe_psql('clinic', $q_jobs),
	ledger  => $src->safe_psql('clinic', $q_ledger),
	snaps   => $src->safe_psql('clinic', 'SELECT count(*) FROM steward.schema_snapshots'),
);
is($src->safe_psql('clinic', 'SELECT is_valid || ' . "'|'" . ' || events_unsealed FROM verify_audit_chain()'),
	'true|2', 'the source ledger is valid, with two events not sealed yet');

my $dump = $src->basedir . '/clinic.dump';
command_ok([ 'pg_dump', '-Fc', '-h', $src->host, '-p', $src->port, '-f', $dump, 'clinic' ],
	'pg_dump of a database using pg_steward');
my $source_xid = $src->safe_psql('clinic', 'SELECT pg_current_xact_id()');
my $src_jobber_oid = $src->safe_psql('clinic', q{SELECT 'jobber'::regrole::oid});
$src->stop;

sub restore_into
{
	my ($node) = @_;
	$node->safe_psql('postgres', 'CREATE ROLE jobber; CREATE DATABASE clinic');
	command_ok([ 'pg_restore', '--exit-on-error', '-h', $node->host, '-p', $node->port, '-d', 'clinic', $dump ],
		'pg_restore into ' . $node->name);
}

sub verify
{
	my ($node, $trusted) = @_;
	my $arg = $trusted ? "trusted_digest => '$trusted'" : '';
	return $node->safe_psql('clinic',
		"SELECT is_valid || '|' || events_checked || '|' || events_unsealed || '|' || events_redacted || '|' || coalesce(problem, '')
		   FROM verify_audit_chain($arg)");
}

# --- the documented restore: advance the target's counter first ------------
my $dst = PostgreSQL::Test::Cluster->new('target');
$dst->init;
$dst->append_conf('postgresql.conf', $conf);
command_ok([ 'scripts/advance_xid.sh', $dst->data_dir, $source_xid ],
	'the target cluster is moved past the source transaction ids');
$dst->start;
restore_into($dst);

is($dst->safe_psql('clinic', $q_history), $before{history}, 'the migration history is restored');
is($dst->safe_psql('clinic', $q_events), $before{events}, 'every migration event is restored, the failure too');
is($dst->safe_psql('clinic', $q_jobs), $before{jobs}, 'the jobs are restored');
is($dst->safe_psql('clinic', $q_ledger), $before{ledger}, 'every audit event is restored, the redaction too');
is($dst->safe_psql('clinic', 'SELECT count(*) FROM steward.schema_snapshots'), $before{snaps},
	'the schema fingerprints are restored');
my $sealed = $before{ledger} =~ s/:.*//r;
is(verify($dst, $digest), 'true|' . ($sealed - 2) . '|2|1|',
	'the restored ledger verifies against the digest taken before the dump');
is($dst->safe_psql('clinic', q{SELECT count(*) FROM migrate_validate() WHERE check_name = 'schema-drift' AND severity <> 'ok'}),
	'0', 'no schema drift after the restore');

$dst->safe_psql('clinic', 'SELECT audit_seal()');
is(verify($dst, $digest), "true|$sealed|0|1|", 'the unsealed tail from the source is sealed in the restored ledger');
$dst->safe_psql('clinic', q{SELECT audit_append('READ', 'patient', '11', NULL, 'dr.roth')});
$dst->safe_psql('clinic', q{UPDATE patients SET ward = 'A3' WHERE id = 1});
$dst->safe_psql('clinic', 'SELECT audit_seal()');
is(verify($dst, $digest), 'true|' . ($sealed + 2) . '|0|1|', 'new events are sealed after the restored ones');
is($dst->safe_psql('clinic', q{SELECT migrate_apply('20260104_index', 'CREATE INDEX patients_ward_idx ON patients (ward)')}),
	'applied', 'migrations go on in the restored database');

# the paused job names its submitter by an OID of the source cluster
isnt($dst->safe_psql('clinic', q{SELECT 'jobber'::regrole::oid}), $src_jobber_oid,
	'the submitting role has another OID in the target cluster');
$dst->safe_psql('clinic', "SELECT job_resume($paused)");
$dst->poll_query_until('clinic', "SELECT state IN ('failed', 'succeeded') FROM job_status($paused)")
  or die 'the resumed job did not end';
is($dst->safe_psql('clinic', "SELECT state FROM job_status($paused)"), 'failed',
	'a restored job whose submitter OID names another role does not run');
like($dst->safe_psql('clinic', "SELECT last_error FROM job_status($paused)"),
	qr/submitted by role "jobber" in another cluster/, 'and says why');
is($dst->safe_psql('clinic', q{SELECT count(*) FROM patients WHERE note = 'checked'}), '0', 'it changed nothing');
$dst->stop;

# --- a restore without that step is caught, then repaired -------------------
my $late = PostgreSQL::Test::Cluster->new('late');
$late->init;
$late->append_conf('postgresql.conf', $conf);
$late->start;
restore_into($late);
is(verify($late, $digest), 'true|' . ($sealed - 2) . '|2|1|', 'the restored ledger verifies here too');
my ($ret, $out, $err) = $late->psql('clinic', q{SELECT audit_append('READ', 'patient', '12')});
like($err, qr/this cluster's transaction IDs are behind the audit ledger/, 'an append is refused while the ids are behind');
like($err, qr/scripts\/advance_xid\.sh/, 'and the hint says how to move them');
($ret, $out, $err) = $late->psql('clinic', 'SELECT audit_seal()');
like($err, qr/behind the audit ledger/, 'so is a seal');
my ($target) = $err =~ /advance_xid\.sh on its data directory with (\d+)/;
ok(defined $target, 'the error names the transaction id to advance to');
$late->stop;
command_ok([ 'scripts/advance_xid.sh', $late->data_dir, $target ], 'advance the counter as the hint says');
$late->start;
$late->safe_psql('clinic', q{SELECT audit_append('READ', 'patient', '12')});
$late->safe_psql('clinic', 'SELECT audit_seal()');
is(verify($late, $digest), 'true|' . ($sealed + 1) . '|0|1|', 'after the step the ledger seals and verifies');
$late->stop;

# --- a restore into a cluster whose ids overlap the ledger's ----------------
# A transaction of the target cluster that started while its ids were still
# behind the ledger is running when the counter passes the ledger: the next
# block's snapshot must still show everything the last restored block showed
# (verification requires each block's snapshot to follow the previous one).
my $overlap = PostgreSQL::Test::Cluster->new('overlap');
$overlap->init;
$overlap->append_conf('postgresql.conf', $conf);
$overlap->start;
restore_into($overlap);
my $ledger_xmax = $overlap->safe_psql('clinic',
	q{SELECT pg_snapshot_xmax(snapshot) FROM steward.audit_blocks ORDER BY block_id DESC LIMIT 1});
my $old_txn = $overlap->background_psql('clinic');
my $old_xid = $old_txn->query_safe('BEGIN; SELECT pg_current_xact_id();');
$old_xid =~ s/\D//g;
cmp_ok($old_xid, '<', $ledger_xmax, 'a transaction with an id the last block shows completed is open');
$overlap->safe_psql('clinic', qq{
CREATE PROCEDURE burn(n int) LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1..n LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP;
END \$\$;
CALL burn($source_xid - $old_xid + 10);
DROP PROCEDURE burn(int);});
$overlap->safe_psql('clinic', q{SELECT audit_append('READ', 'patient', '13')});
cmp_ok($overlap->safe_psql('clinic', 'SELECT audit_seal()'), '>=', 1, 'with the counter past the ledger, a seal seals');
is(verify($overlap, $digest), 'true|' . ($sealed + 1) . '|0|1|',
	'and the new block follows the restored one although the old transaction is still open');
$old_txn->query_safe('COMMIT');
$old_txn->quit;
$overlap->stop;

# --- advance_xid.sh freezes first: a jump into another epoch loses nothing ---
my $far = PostgreSQL::Test::Cluster->new('far');
$far->init;
$far->start;
$far->safe_psql('postgres', 'CREATE DATABASE kept');
$far->safe_psql('kept', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');
$far->stop;
command_ok([ 'scripts/advance_xid.sh', $far->data_dir, '4294967796' ],
	'advance into the next epoch (2^32 + 500)');
$far->start;
is($far->safe_psql('kept', 'SELECT count(*) || ' . "'|'" . ' || (pg_current_xact_id()::text::bigint >= 4294967796) FROM t'),
	'1000|true', 'every database and row is still there, and the counter is in the new epoch');
$far->stop;

done_testing();
