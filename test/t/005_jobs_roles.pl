# A job runs as the role that submitted it, with that role's search_path,
# never with more privileges; and CALL job_run() runs a job in a session
# on a server without the background worker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('jobs_roles');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nsearch_path = 'public, steward'\n");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE ROLE app LOGIN;
CREATE ROLE reader LOGIN;
CREATE SCHEMA app_fn;
CREATE FUNCTION app_fn.bump(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
GRANT USAGE ON SCHEMA app_fn TO app;
CREATE TABLE patients (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO patients (id) SELECT generate_series(1, 1000);
CREATE TABLE who_wrote (role name);
GRANT INSERT ON who_wrote TO app;
CREATE FUNCTION note_writer() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO who_wrote VALUES (current_user); RETURN NEW; END$$;
CREATE TRIGGER patients_writer BEFORE UPDATE ON patients FOR EACH ROW EXECUTE FUNCTION note_writer();
GRANT SELECT, UPDATE ON patients TO app;
GRANT SELECT ON patients TO reader;
GRANT EXECUTE ON FUNCTION backfill(regclass, text, text, integer, name, interval, interval, interval, interval, interval),
                          job_wait(bigint, interval), job_status(bigint), job_pause(bigint) TO app, reader;
});

sub as_role
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, extra_params => ['-U', $role]);
	return ($ret, $out, $err);
}

# --- runs as the submitter, with its search_path ------------------------
my ($ret, $out, $err) = as_role('app', q{SELECT job_wait(backfill('patients', 'n = 0'))});
like($err, qr/job \d+ cannot start before this transaction commits/,
	'job_wait in the submitting transaction refuses instead of waiting forever');
($ret, $out, $err) = as_role('app', q{
SET search_path = app_fn, public, steward;
SELECT backfill('patients', 'n = bump(n)') AS job \gset
SELECT job_wait(:job);
});
is($out, 'succeeded', 'the job succeeded') or diag($err);
is($node->safe_psql('postgres', 'SELECT count(*) FROM patients WHERE n <> 1'), '0', 'every row updated');
is($node->safe_psql('postgres', 'SELECT string_agg(DISTINCT role, \',\') FROM who_wrote'), 'app',
	'every row was written as the submitting role, not as a superuser');
is($node->safe_psql('postgres', "SELECT owner_name FROM job_status()"), 'app', 'job_status names the owner');

# --- a role that cannot UPDATE cannot backfill ---------------------------
($ret, $out, $err) = as_role('reader', q{SELECT backfill('patients', 'n = 0')});
like($err, qr/permission denied for table patients/, 'refused at submission without UPDATE');
is($node->safe_psql('postgres', 'SELECT count(*) FROM steward.jobs'), '1', 'no job was created');

# a privilege revoked after submission makes the job fail, not escalate
my $app = $node->background_psql('postgres', extra_params => ['-U', 'app']);
$app->query_safe('BEGIN');
my $job = $app->query_safe(q{SELECT backfill('patients', 'n = n + 100')});
$node->safe_psql('postgres', 'REVOKE UPDATE ON patients FROM app');
$app->query_safe('COMMIT');
$app->quit;
$node->poll_query_until('postgres', "SELECT state = 'failed' FROM job_status($job)")
  or die 'the job did not fail';
like($node->safe_psql('postgres', "SELECT last_sqlstate || ' ' || last_error FROM job_status($job)"),
	qr/^42501 permission denied for table patients/, 'the job failed with permission denied');
is($node->safe_psql('postgres', 'SELECT count(*) FROM patients WHERE n > 1'), '0', 'no row was changed');

# --- other roles cannot control someone else's job -----------------------
($ret, $out, $err) = as_role('reader', "SELECT job_pause($job)");
like($err, qr/permission denied for job $job/, 'only the owner controls a job');

# --- without the background worker: CALL job_run -------------------------
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
$node->safe_psql('postgres', 'GRANT UPDATE ON patients TO app; GRANT EXECUTE ON PROCEDURE job_run(bigint) TO app');
($ret, $out, $err) = as_role('app', q{SET search_path = app_fn, public, steward; SELECT backfill('patients', 'n = bump(n)', batch_size => 300, target_batch_time => '0')});
like($err, qr/job \d+ is queued, but pg_steward's background worker is not running/, 'submission says it is queued');
like($err, qr/CALL job_run\(\d+\)/, 'and how to run it');
$job = $out;
($ret, $out, $err) = as_role('app', "SELECT job_wait($job)");
like($err, qr/background worker is not running/, 'job_wait does not wait forever for a worker that is not there');
($ret, $out, $err) = as_role('app', "BEGIN; CALL job_run($job); COMMIT;");
like($err, qr/job_run cannot run inside a transaction block/, 'job_run refuses a transaction block');
($ret, $out, $err) = as_role('app', "CALL job_run($job)");
is($ret, 0, 'CALL job_run runs the job') or diag($err);
is($node->safe_psql('postgres', "SELECT state || ' ' || batches FROM job_status($job)"), 'succeeded 4',
	'in batches, to success');
is($node->safe_psql('postgres', 'SELECT count(*) FROM patients WHERE n <> 2'), '0', 'every row updated once more');
($ret, $out, $err) = as_role('app', "CALL job_run($job)");
like($err, qr/job $job is succeeded/, 'a finished job does not run again');

# a migration's CREATE INDEX CONCURRENTLY, run by CALL job_run: the session
# waits for the job's worker without holding a snapshot the build waits for
$node->safe_psql('postgres', q{SELECT migrate_apply('jr_cic', 'CREATE INDEX CONCURRENTLY patients_n_idx ON patients (n)')});
my $cic = $node->safe_psql('postgres', q{SELECT job_id FROM migrate_status() WHERE version = 'jr_cic'});
($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '60s'; CALL job_run($cic)");
is($ret, 0, 'CALL job_run of a CREATE INDEX CONCURRENTLY job returns') or diag($err);
is($node->safe_psql('postgres', "SELECT state FROM job_status($cic)") . ' '
   . $node->safe_psql('postgres', q{SELECT status FROM migrate_status() WHERE version = 'jr_cic'}),
	'succeeded completed', 'the index is built and the migration completed');

# a queued copy that is cancelled stops capturing writes at once
$node->safe_psql('postgres', q{
CREATE TABLE patients_copy (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
});
my $copy = $node->safe_psql('postgres', q{SELECT copy_table('patients', 'patients_copy')});
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_trigger WHERE tgname = 'steward_copy_$copy'"), '1',
	'a submitted copy captures writes from the start');
$node->safe_psql('postgres', 'UPDATE patients SET n = n + 1 WHERE id <= 10');
is($node->safe_psql('postgres', "SELECT count(*) FROM steward.copy_changes WHERE job_id = $copy"), '10',
	'every changed key is logged');
is($node->safe_psql('postgres', "SELECT job_cancel($copy)"), 'cancelled', 'the queued copy is cancelled');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_trigger WHERE tgname = 'steward_copy_$copy'"), '0',
	'its capture trigger is gone');
is($node->safe_psql('postgres', "SELECT count(*) FROM steward.copy_changes WHERE job_id = $copy"), '0',
	'and its change log');

# a role renamed after submitting still owns its job (run without preload)
$node->safe_psql('postgres', 'CREATE ROLE renamed_later LOGIN;
CREATE TABLE wards (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO wards SELECT g FROM generate_series(1, 1000) g;
GRANT UPDATE, SELECT ON wards TO renamed_later;
GRANT EXECUTE ON FUNCTION backfill(regclass, text, text, integer, name, interval, interval, interval, interval, interval) TO renamed_later;');
($ret, $out, $err) = as_role('renamed_later', q{SELECT backfill('wards', 'n = n + 1', batch_size => 500)});
my $renamed_job = $out;
$node->safe_psql('postgres', 'ALTER ROLE renamed_later RENAME TO renamed_now');
$node->safe_psql('postgres', "CALL job_run($renamed_job)");
is($node->safe_psql('postgres', "SELECT state || ' ' || owner_name FROM job_status($renamed_job)"),
	'succeeded renamed_later', 'a job runs after its submitting role was renamed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM wards WHERE n = 1'), '1000', 'and updates every row');

$node->stop;
done_testing();
