# Security suite: jobs.  Every attack runs as a non-superuser role of the
# setup docs/operations.md recommends, and asserts that the attacker gains
# nothing while the victim's job still does what it should.
#
#  * copy_table's capture trigger logs the changed key without evaluating
#    anything the table's owner controls (a cast of a column's type to json).
#  * SQL generated for a job resolves no function, aggregate, operator or
#    cast through the submitter's search_path: another role's overloads are
#    never called by a superuser's job.
#  * A job stops running as a role its submitter no longer has, in a job
#    worker, in CALL job_run, after a restart, and when its login role can
#    no longer log in.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardSecurity;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = security_node('jobs');
documented_roles($node, 'postgres');

sub as_role { return psql_as($node, @_); }

sub wait_job
{
	my ($job) = @_;
	$node->poll_query_until('postgres',
		"SELECT state IN ('succeeded', 'failed', 'cancelled') FROM steward.job_status($job)")
	  or return "job $job did not end";
	return $node->safe_psql('postgres',
		"SELECT state || ' ' || coalesce(last_sqlstate, '') || ' ' || coalesce(last_error, '') FROM steward.job_status($job)");
}

# The attacker's payload: records who ran it, and tries to make the deployer
# a superuser.  It is reached only through the attacker's casts, functions
# and operators below; whoever calls it must not be more than the deployer.
my ($ret, $out, $err) = as_role('deployer', q{
CREATE TABLE app.marker (who name, was_superuser boolean, what text);
CREATE FUNCTION app.pwn(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app.marker
    SELECT current_user, rolsuper, what FROM pg_catalog.pg_roles WHERE rolname = current_user;
    BEGIN
        ALTER ROLE deployer SUPERUSER;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
END $$;
GRANT INSERT ON app.marker TO PUBLIC;
});
is($ret, 0, 'the deployer sets up its payload') or diag($err);

sub attacker_gained_nothing
{
	my ($what) = @_;
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'deployer'}), 'f',
		"$what: the deployer is not a superuser");
	is($node->safe_psql('postgres', q{SELECT coalesce(string_agg(who || ' ' || what, ', '), 'none') FROM app.marker WHERE was_superuser}),
		'none', "$what: none of the deployer's code ran as a superuser");
	$node->safe_psql('postgres', 'ALTER ROLE deployer NOSUPERUSER; TRUNCATE app.marker');
	return;
}

# ---------------------------------------------------------------------------
# copy_table's capture trigger and a user-defined cast to json
# ---------------------------------------------------------------------------
($ret, $out, $err) = as_role('deployer', q{
CREATE TYPE app.mood AS ENUM ('calm', 'upset');
CREATE FUNCTION app.mood_json(m app.mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.pwn('cast to json');
    RETURN pg_catalog.to_json(m::text);
END $$;
CREATE CAST (app.mood AS json) WITH FUNCTION app.mood_json(app.mood);
CREATE TABLE app.moods (id bigint PRIMARY KEY, mood app.mood NOT NULL, at timestamptz NOT NULL DEFAULT now());
INSERT INTO app.moods (id, mood) SELECT g, 'calm' FROM generate_series(1, 500) g;
CREATE TABLE app.moods_new (LIKE app.moods INCLUDING ALL);
});
is($ret, 0, 'a table with a column of a type that has a cast to json') or diag($err);

# the writes land while the capture trigger exists (same transaction as the
# submission), as the application's would during a copy
($ret, $out, $err) = as_role('deployer', q{
BEGIN;
SELECT steward.copy_table('app.moods', 'app.moods_new', batch_size => 100);
INSERT INTO app.moods (id, mood) VALUES (501, 'upset');
UPDATE app.moods SET mood = 'upset' WHERE id IN (7, 8);
UPDATE app.moods SET id = 1000 WHERE id = 9;
DELETE FROM app.moods WHERE id = 10;
COMMIT;
});
my ($copy) = split /\n/, $out;
like($copy // '', qr/^\d+$/, 'the deployer submits a copy and writes the source') or diag($err);
attacker_gained_nothing('capture trigger');
is(wait_job($copy), 'succeeded  ', 'the copy succeeds');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM (SELECT * FROM app.moods EXCEPT SELECT * FROM app.moods_new) a}) . ' '
	. $node->safe_psql('postgres', q{SELECT count(*) FROM app.moods_new}), '0 500',
	'the target equals the source, with every captured write');

# the change log of a copy holds each changed key as the key type writes it,
# whatever the writer's DateStyle: replay finds the rows again
($ret, $out, $err) = as_role('deployer', q{
CREATE TABLE app.rounds (at timestamp PRIMARY KEY, note text);
INSERT INTO app.rounds SELECT '2026-01-01'::timestamp + g * interval '1 day', 'r' || g FROM generate_series(1, 40) g;
CREATE TABLE app.rounds_new (LIKE app.rounds INCLUDING ALL);
BEGIN;
SELECT steward.copy_table('app.rounds', 'app.rounds_new', batch_size => 100) AS job \gset
SELECT steward.job_pause(:job) \g /dev/null
SET DateStyle = 'SQL, DMY';
UPDATE app.rounds SET note = 'changed' WHERE at = '2026-01-02';
COMMIT;
SELECT :job;
});
my $rounds = $out;
is($node->safe_psql('postgres', "SELECT key FROM steward.copy_changes WHERE job_id = $rounds"),
	'2026-01-02T00:00:00', 'a timestamp key is logged in ISO form');
$node->safe_psql('postgres', "SELECT steward.job_resume($rounds)");
is(wait_job($rounds), 'succeeded  ', 'the copy of a table keyed by timestamp succeeds');

# ---------------------------------------------------------------------------
# Generated SQL and the submitter's search_path: a superuser's jobs on the
# deployer's tables, with the deployer's schema on the superuser's path
# ---------------------------------------------------------------------------
($ret, $out, $err) = as_role('deployer', q{
-- pg_catalog.hashtextextended takes (text, bigint): (text, integer) is a
-- better match for hashtextextended(x, 0)
CREATE FUNCTION app.hashtextextended(t text, seed integer) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.pwn('hashtextextended');
    RETURN pg_catalog.hashtextextended(t, seed);
END $$;

-- varchar has no comparison operators of its own in pg_catalog (it uses
-- text's): operators on (varchar, varchar) are exact matches
CREATE FUNCTION app.vc_cmp(a varchar, b varchar, op text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.pwn('operator ' || op);
    RETURN CASE op WHEN '<' THEN a::text < b::text WHEN '<=' THEN a::text <= b::text
                   WHEN '>' THEN a::text > b::text WHEN '>=' THEN a::text >= b::text
                   ELSE a::text = b::text END;
END $$;
CREATE FUNCTION app.vc_lt(varchar, varchar) RETURNS boolean LANGUAGE sql AS $$ SELECT app.vc_cmp($1, $2, '<') $$;
CREATE FUNCTION app.vc_le(varchar, varchar) RETURNS boolean LANGUAGE sql AS $$ SELECT app.vc_cmp($1, $2, '<=') $$;
CREATE FUNCTION app.vc_gt(varchar, varchar) RETURNS boolean LANGUAGE sql AS $$ SELECT app.vc_cmp($1, $2, '>') $$;
CREATE FUNCTION app.vc_ge(varchar, varchar) RETURNS boolean LANGUAGE sql AS $$ SELECT app.vc_cmp($1, $2, '>=') $$;
CREATE FUNCTION app.vc_eq(varchar, varchar) RETURNS boolean LANGUAGE sql AS $$ SELECT app.vc_cmp($1, $2, '=') $$;
CREATE OPERATOR app.< (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = app.vc_lt);
CREATE OPERATOR app.<= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = app.vc_le);
CREATE OPERATOR app.> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = app.vc_gt);
CREATE OPERATOR app.>= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = app.vc_ge);
CREATE OPERATOR app.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = app.vc_eq);
CREATE FUNCTION app.vc_larger(a varchar, b varchar) RETURNS varchar LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.pwn('max(varchar)');
    RETURN CASE WHEN a::text > b::text THEN a ELSE b END;
END $$;
CREATE AGGREGATE app.max(varchar) (SFUNC = app.vc_larger, STYPE = varchar);

-- an enum whose owner casts it to and from text
CREATE TYPE app.ward AS ENUM ('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
CREATE FUNCTION app.ward_text(w app.ward) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.pwn('cast ward to text');
    RETURN pg_catalog.textin(pg_catalog.enum_out(w));
END $$;
CREATE FUNCTION app.text_ward(t text) RETURNS app.ward LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.pwn('cast text to ward');
    RETURN pg_catalog.enum_in(pg_catalog.textout(t), 'app.ward'::regtype);
END $$;
CREATE CAST (app.ward AS text) WITH FUNCTION app.ward_text(app.ward);
CREATE CAST (text AS app.ward) WITH FUNCTION app.text_ward(text);

CREATE TABLE app.codes (code varchar(20) PRIMARY KEY, n int NOT NULL DEFAULT 0, at date NOT NULL DEFAULT '2026-01-01');
INSERT INTO app.codes (code) SELECT 'c' || pg_catalog.lpad(g::text, 5, '0') FROM generate_series(1, 1000) g;
CREATE TABLE app.codes_new (LIKE app.codes INCLUDING ALL);
CREATE TABLE app.wards (ward app.ward PRIMARY KEY, beds int NOT NULL DEFAULT 0);
INSERT INTO app.wards (ward) SELECT unnest(enum_range(NULL::app.ward));
CREATE TABLE app.wards_new (LIKE app.wards INCLUDING ALL);
});
is($ret, 0, "the deployer's overloads, operators, aggregate and casts") or diag($err);

# a superuser backfills the deployer's table, working in the deployer's schema
my $job = $node->safe_psql('postgres', q{
SET search_path = app, steward;
SELECT backfill('app.codes', 'n = n + 1', batch_size => 300, target_batch_time => '0')});
is(wait_job($job), 'succeeded  ', "a superuser's backfill of a varchar-keyed table succeeds");
is($node->safe_psql('postgres', 'SELECT count(*) FILTER (WHERE n = 1) || \' of \' || count(*) FROM app.codes'),
	'1000 of 1000', 'and updates every row once');
attacker_gained_nothing('backfill keyed by varchar');

# a superuser copies it, with writes to replay
$job = $node->safe_psql('postgres', q{
SET search_path = app, steward;
BEGIN;
SELECT copy_table('app.codes', 'app.codes_new', batch_size => 300);
SET LOCAL search_path = pg_catalog;
UPDATE app.codes SET n = 5 WHERE code IN ('c00001', 'c00500', 'c01000');
INSERT INTO app.codes (code) VALUES ('x1'), ('x2');
DELETE FROM app.codes WHERE code = 'c00002';
COMMIT;});
is(wait_job($job), 'succeeded  ', "a superuser's copy of a varchar-keyed table succeeds");
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM app.codes EXCEPT SELECT * FROM app.codes_new) d}) . ' '
	. $node->safe_psql('postgres', q{SELECT count(*) FROM app.codes_new}), '0 1001',
	'the target equals the source');
attacker_gained_nothing('copy_table keyed by varchar');

# enum keys with the owner's casts to and from text
$job = $node->safe_psql('postgres', q{
SET search_path = app, steward;
SELECT backfill('app.wards', 'beds = beds + 2', batch_size => 3, target_batch_time => '0')});
is(wait_job($job), 'succeeded  ', "a superuser's backfill of an enum-keyed table succeeds");
is($node->safe_psql('postgres', q{SELECT string_agg(beds::text, ',' ORDER BY ward) FROM app.wards}),
	'2,2,2,2,2,2,2,2', 'and updates every row once');
is($node->safe_psql('postgres', "SELECT upper_key FROM job_status($job)"), 'h', 'its bound is the largest key');
attacker_gained_nothing('backfill keyed by an enum');

$job = $node->safe_psql('postgres', q{
SET search_path = app, steward;
BEGIN;
SELECT copy_table('app.wards', 'app.wards_new', batch_size => 3);
SET LOCAL search_path = pg_catalog;
UPDATE app.wards SET beds = 9 WHERE ward = 'c';
COMMIT;});
is(wait_job($job), 'succeeded  ', "a superuser's copy of an enum-keyed table succeeds");
# (no cast of the enum here: ward || ':' would call the deployer's cast to text)
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM app.wards EXCEPT SELECT * FROM app.wards_new) d}) . ' '
	. $node->safe_psql('postgres', q{SELECT string_agg(beds::text, ',' ORDER BY ward) FROM app.wards_new}),
	'0 2,2,9,2,2,2,2,2', 'the target equals the source');
attacker_gained_nothing('copy_table keyed by an enum');

# ---------------------------------------------------------------------------
# A job stops running as a role its submitter no longer has
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
CREATE ROLE app_owner;
GRANT app_owner TO deployer;
CREATE SCHEMA owned AUTHORIZATION app_owner;
GRANT USAGE ON SCHEMA owned TO deployer;
GRANT EXECUTE ON FUNCTION
    steward.backfill(regclass, text, text, integer, name, interval, interval, interval, interval, interval),
    steward.job_status(bigint), steward.job_wait(bigint, interval), steward.job_pause(bigint),
    steward.job_resume(bigint), steward.job_cancel(bigint) TO app_owner;
SET ROLE app_owner;
CREATE TABLE owned.beds (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO owned.beds (id) SELECT generate_series(1, 3000);
});

# revoked before the job starts; the job starts after a server restart
$node->append_conf('postgresql.conf', "pg_steward.max_jobs = 0\n");
$node->reload;
($ret, $out, $err) = as_role('deployer', q{
SET ROLE app_owner;
SELECT steward.backfill('owned.beds', 'n = n + 1', batch_size => 500)});
$job = $out;
like($job, qr/^\d+$/, 'the deployer submits a job as app_owner') or diag($err);
$node->safe_psql('postgres', 'REVOKE app_owner FROM deployer');
$node->append_conf('postgresql.conf', "pg_steward.max_jobs = 2\n");
$node->restart;
like(wait_job($job), qr/^failed 42501 role "deployer" .*app_owner/,
	'after a restart, the job of a role its submitter lost fails with 42501');
is($node->safe_psql('postgres', 'SELECT count(*) FROM owned.beds WHERE n <> 0'), '0', 'and changes nothing');

# revoked while the job runs, in a job worker
$node->safe_psql('postgres', 'GRANT app_owner TO deployer');
($ret, $out, $err) = as_role('deployer', q{
SET ROLE app_owner;
SELECT steward.backfill('owned.beds', 'n = n + 1', batch_size => 100, target_batch_time => '0', pause => '300ms')});
$job = $out;
$node->poll_query_until('postgres', "SELECT rows_done >= 200 FROM job_status($job)")
  or die 'the job did not start';
$node->safe_psql('postgres', 'REVOKE app_owner FROM deployer');
like(wait_job($job), qr/^failed 42501 role "deployer" .*app_owner/,
	'a job whose submitter loses the role while it runs fails with 42501');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM owned.beds WHERE n <> 0'), '<', 3000,
	'at the next batch');

# revoked while CALL job_run runs the job in the deployer's session
$node->safe_psql('postgres', q{
GRANT app_owner TO deployer;
UPDATE owned.beds SET n = 0;
GRANT EXECUTE ON PROCEDURE steward.job_run(bigint) TO deployer;
});
$node->append_conf('postgresql.conf', "pg_steward.max_jobs = 0\n");
$node->reload;
($ret, $out, $err) = as_role('deployer', q{
SET ROLE app_owner;
SELECT steward.backfill('owned.beds', 'n = n + 1', batch_size => 100, target_batch_time => '0', pause => '300ms')});
$job = $out;
my $runner = $node->background_psql('postgres', extra_params => ['-U', 'deployer'], on_error_stop => 0);
$runner->query_until(qr/running/, "\\echo running\nCALL steward.job_run($job);\n");
$node->poll_query_until('postgres', "SELECT rows_done >= 200 FROM job_status($job)")
  or die 'job_run did not start the job';
$node->safe_psql('postgres', 'REVOKE app_owner FROM deployer');
$runner->quit;
like(wait_job($job), qr/^failed 42501 role "deployer" .*app_owner/,
	'CALL job_run stops when its caller loses the role, with 42501');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM owned.beds WHERE n <> 0'), '<', 3000,
	'at the next batch');

# a login role that can no longer log in, or no longer exists
$node->safe_psql('postgres', 'UPDATE owned.beds SET n = 0');
my %shift_job;
for my $shift ('night_shift', 'day_shift')
{
	$node->safe_psql('postgres', qq{
CREATE ROLE $shift LOGIN;
GRANT USAGE ON SCHEMA owned TO $shift;
GRANT SELECT, UPDATE ON owned.beds TO $shift;
GRANT EXECUTE ON FUNCTION
    steward.backfill(regclass, text, text, integer, name, interval, interval, interval, interval, interval)
    TO $shift;
});
	$shift_job{$shift} = (as_role($shift, q{SELECT steward.backfill('owned.beds', 'n = n + 1')}))[1];
}
$node->safe_psql('postgres', 'ALTER ROLE night_shift NOLOGIN; DROP OWNED BY day_shift; DROP ROLE day_shift');
$node->append_conf('postgresql.conf', "pg_steward.max_jobs = 2\n");
$node->reload;
like(wait_job($shift_job{night_shift}), qr/^failed 42501 role "night_shift", .* can no longer log in/,
	'the job of a login role that can no longer log in fails with 42501');
like(wait_job($shift_job{day_shift}), qr/^failed 42501 .* no longer exists/,
	'the job of a login role that no longer exists fails with 42501');
is($node->safe_psql('postgres', 'SELECT count(*) FROM owned.beds WHERE n <> 0'), '0', 'and neither changes a row');

# a SECURITY DEFINER function cannot lend its owner to a job: the job would
# run as the deployer for a session of clinic_app, which cannot SET ROLE to it
$node->safe_psql('postgres', 'GRANT USAGE ON SCHEMA app TO clinic_app');
($ret, $out, $err) = as_role('deployer', q{
CREATE TABLE app.notes (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO app.notes (id) SELECT generate_series(1, 10);
CREATE FUNCTION app.renumber() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS $$ SELECT steward.backfill('app.notes', 'n = n + 1') $$;
GRANT EXECUTE ON FUNCTION app.renumber() TO clinic_app;
});
($ret, $out, $err) = as_role('clinic_app', 'SELECT app.renumber()');
like($err, qr/cannot submit a job as role "deployer" in a session of role "clinic_app"/,
	'a job cannot be submitted as the owner of a SECURITY DEFINER function');
is($node->safe_psql('postgres', q{SELECT count(*) FROM steward.jobs WHERE relation = 'app.notes'::regclass}), '0',
	'and none was');

# the dispatcher runs as a superuser with the database's settings: the
# owner of a database sets its search_path and an operator it prefers
$node->safe_psql('postgres', q{CREATE DATABASE clinic OWNER deployer});
$node->safe_psql('clinic', q{
CREATE EXTENSION pg_steward;
CREATE TABLE visits (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO visits (id) SELECT generate_series(1, 10);
});
($ret, $out, $err) = $node->psql('clinic', q{
CREATE SCHEMA lookalike;
CREATE TABLE lookalike.marker (who name, was_superuser boolean);
GRANT INSERT ON lookalike.marker TO PUBLIC;
CREATE FUNCTION lookalike.eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lookalike.marker
    SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user;
    RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE FUNCTION lookalike.eq(a name, b name) RETURNS boolean LANGUAGE sql AS
    $$ SELECT lookalike.eq(a::pg_catalog.text, b::pg_catalog.text) $$;
CREATE OPERATOR lookalike.= (LEFTARG = name, RIGHTARG = name, FUNCTION = lookalike.eq);
CREATE OPERATOR lookalike.= (LEFTARG = text, RIGHTARG = text, FUNCTION = lookalike.eq);
ALTER DATABASE clinic SET search_path = lookalike, pg_catalog;
}, extra_params => ['-U', 'deployer']);
is($ret, 0, 'the owner of a database puts its operators first on its search_path') or diag($err);
# a queued job in that database is requested by the dispatcher at the next start
$node->append_conf('postgresql.conf', "pg_steward.max_jobs = 0\n");
$node->reload;
my $visits = $node->safe_psql('clinic', q{SELECT steward.backfill('public.visits', 'n = n + 1')});
$node->append_conf('postgresql.conf', "pg_steward.max_jobs = 2\n");
$node->restart;
# (the test's own queries there name pg_catalog's operator)
$node->poll_query_until('clinic', "SELECT state OPERATOR(pg_catalog.=) 'succeeded' FROM steward.job_status($visits)")
  or diag('the job in database clinic did not succeed');
is($node->safe_psql('clinic', 'SELECT count(*) FROM lookalike.marker WHERE was_superuser'), '0',
	"the dispatcher calls none of the database owner's operators");

ok(!server_crashed($node), 'no backend crashed');
done_testing();
