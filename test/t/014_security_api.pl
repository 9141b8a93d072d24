# Security suite: the API's schema, its privileges, the migration lock and
# migrate_import.  Every attack runs as a non-superuser role of the setup
# docs/operations.md recommends, and asserts that the attacker gained
# nothing and that the victim's call still does what it should.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardSecurity;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = security_node('api');
documented_roles($node, 'postgres');

# read by the backend itself: the pid of a session that has ended may be gone
like($node->safe_psql('postgres', q{SELECT pg_read_file('/proc/self/limits')}),
	qr/^Max address space\s+@{[$StewardSecurity::MEMORY_CAP_KB * 1024]}\s/m,
	'backends run under the memory cap');

# psql as a role, with that role's own settings (search_path included)
sub as_role { return psql_as($node, @_); }

# ------------------------------------------------------------------ grants

is($node->safe_psql('postgres', q{
SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text COLLATE "C")
  FROM pg_proc p
 WHERE p.pronamespace = 'steward'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')}),
	'migrate_checksum(text), migrate_lint_rules(), version_from_name(text)',
	'PUBLIC may execute only migrate_checksum, migrate_lint_rules and version_from_name');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pg_class c
 WHERE c.relnamespace = 'steward'::regnamespace
   AND (has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        OR (c.relkind = 'S' AND has_sequence_privilege('public', c.oid, 'USAGE, SELECT, UPDATE')))}),
	'0', 'PUBLIC has no privilege on any table, view or sequence of schema steward');
is($node->safe_psql('postgres', q{
SELECT has_schema_privilege('public', 'steward', 'CREATE')::text || ','
    || has_schema_privilege('deployer', 'steward', 'CREATE')::text || ','
    || has_schema_privilege('deployer', 'public', 'CREATE')::text}),
	'false,false,false', 'no role but the owner creates in steward, and the deployer not in public');

# ------------------------------------------- finding 5: shadowing the API

# The deployer tries to shadow job_wait and audit_append where others look.
my ($rc, $out, $err) = as_role('deployer', q{
CREATE FUNCTION public.job_wait(integer) RETURNS text LANGUAGE sql AS $$ SELECT 'public' $$});
isnt($rc, 0, 'the deployer cannot create a function in public');
like($err, qr/permission denied for schema public/, '... permission denied');

$node->safe_psql('postgres', q{
CREATE TABLE public.captured (who text, what text);
GRANT INSERT ON public.captured TO deployer});
as_role('deployer', q{
CREATE FUNCTION app.job_wait(integer) RETURNS text LANGUAGE sql SECURITY INVOKER AS $$
    INSERT INTO public.captured VALUES (current_user, 'job_wait');
    ALTER ROLE deployer SUPERUSER;
    SELECT 'shadowed' $$;
CREATE FUNCTION app.audit_append(action text, resource_type text, resource_id text, payload text)
RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO public.captured VALUES (current_user, payload); SELECT 0::bigint $$;
GRANT EXECUTE ON FUNCTION app.audit_append(text, text, text, text) TO clinic_app;
}, on_error_die => 1);

my $job = $node->safe_psql('postgres', q{
CREATE TABLE app.beds (id int PRIMARY KEY, n int);
INSERT INTO app.beds SELECT g, NULL FROM generate_series(1, 10) g;
SELECT backfill('app.beds', 'n = 1', 'n IS NULL')});
is($node->safe_psql('postgres', "SELECT job_wait($job)"), 'succeeded',
	"a superuser's job_wait(<integer>) reaches pg_steward's function");
# the application calls audit_append with its schema, as documented
as_role('clinic_app', q{
SELECT steward.audit_append('READ', 'patient', '17', '{"by": "dr.jung"}')}, on_error_die => 1);
is($node->safe_psql('postgres', q{SELECT count(*) FROM steward.audit_events
                                   WHERE action = 'READ' AND resource_id = '17'}),
	'1', "the application's event reaches the ledger");
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.captured'), '0',
	"the deployer's look-alike functions never ran");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'deployer'}),
	'f', 'the deployer is no superuser');

# ------------------------------------ finding 6: the migration lock's tag

my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'clinic_app' ]);
$holder->query_safe(q{
SELECT pg_advisory_lock(1398036292, 1), pg_advisory_lock((1398036292::bigint << 32) | 1),
       pg_advisory_lock(1398036292, 2), pg_advisory_lock(1, 1398036292)});
is(as_role('deployer', q{SELECT migrate_apply('20260101_wards', 'CREATE TABLE app.wards (id int PRIMARY KEY)')}),
	0, 'a role holding advisory locks built from the migration lock\'s numbers does not block migrations');
$holder->quit;

# -------------------------------------------- finding 3: migrate_import

$node->safe_psql('postgres', q{
CREATE ROLE importer LOGIN;
GRANT EXECUTE ON FUNCTION steward.migrate_import(regclass, text) TO importer;
CREATE SCHEMA imp AUTHORIZATION importer;
GRANT INSERT ON public.captured TO importer;
ALTER ROLE importer SET search_path = imp, steward;
});
as_role('importer', q{
CREATE TABLE imp.history (
    id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
    migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0);
INSERT INTO imp.history VALUES ('a', 'c1', now(), '20250101_init', NULL, NULL, now(), 1);
-- a column of the view calls the importer's own function
CREATE FUNCTION imp.spy(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.captured VALUES (current_user, 'import');
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE importer SUPERUSER';
    END IF;
    RETURN $1;
END $$;
CREATE VIEW imp.history_v AS
    SELECT id, checksum, finished_at, imp.spy(migration_name) AS migration_name, logs,
           rolled_back_at, started_at, applied_steps_count FROM imp.history;
}, on_error_die => 1);
($rc, $out, $err) = as_role('importer', q{SELECT version || ':' || imported FROM migrate_import('imp.history_v')});
is($out, '20250101_init:true', 'migrate_import of a view imports its rows');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT who, ',') FROM public.captured WHERE what = 'import'}),
	'importer', "the view's function ran as the importer, never as the extension owner");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'importer'}),
	'f', 'the importer is no superuser');
is($node->safe_psql('postgres', q{SELECT session_user_name || '/' || current_user_name FROM steward.migrations
                                   WHERE version = '20250101_init'}),
	'importer/importer', 'the baseline is recorded under the importer');

# a table the importer cannot read, and the bookkeeping called directly
$node->safe_psql('postgres', q{
CREATE TABLE public.secret_history (LIKE imp.history);
INSERT INTO public.secret_history SELECT * FROM imp.history;
UPDATE public.secret_history SET migration_name = '20250102_secret'});
($rc, $out, $err) = as_role('importer', q{SELECT * FROM migrate_import('public.secret_history')});
like($err, qr/permission denied for table secret_history/, 'a table the importer cannot read is refused');
($rc, $out, $err) = as_role('importer', q{
SELECT * FROM steward.import_history('prisma', 'x', '[]', '[{"migration_name": "20250103_x"}]', '{}')});
like($err, qr/permission denied for function import_history/, 'the bookkeeping cannot be called directly');
is($node->safe_psql('postgres', q{SELECT count(*) FROM steward.migrations WHERE version > '20250101_init' AND version < '2026'}),
	'0', 'neither recorded anything');

# nested inside a dry run or a migration: refused like migrate_baseline
($rc, $out, $err) = $node->psql('postgres', q{
SELECT * FROM migrate_plan($$SELECT * FROM steward.migrate_import('imp.history')$$)});
like($out . $err, qr/cannot be called from inside a migration/, 'migrate_import inside migrate_plan is refused');
($rc, $out, $err) = $node->psql('postgres', q{
SELECT migrate_apply('20260102_nested', $$SELECT * FROM steward.migrate_import('imp.history')$$)});
like($err, qr/cannot be called from inside a migration/, 'migrate_import inside migrate_apply is refused');

# ------------------------- migrate_check_fk and another role's "=" operators

# The monitor plants an "=" for varchar in its temporary schema and in no
# other; a superuser then checks a foreign key on varchar keys.
$node->safe_psql('postgres', q{
CREATE TABLE app.patients (mrn varchar PRIMARY KEY);
CREATE TABLE app.visits (id int PRIMARY KEY, patient_mrn varchar);
INSERT INTO app.patients VALUES ('a'), ('b');
INSERT INTO app.visits VALUES (1, 'a'), (2, 'x')});
my $planter = $node->background_psql('postgres', extra_params => [ '-U', 'monitor' ]);
$planter->query_safe(q{
CREATE FUNCTION pg_temp.evil(varchar, varchar) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN EXECUTE 'ALTER ROLE monitor SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN $1::text = $2::text;
END $f$;
CREATE OPERATOR pg_temp.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = pg_temp.evil)});
is($node->safe_psql('postgres', q{SELECT orphans || ' ' || sample_keys::text
                                   FROM migrate_check_fk('app.visits', ARRAY['patient_mrn'], 'app.patients')}),
	'1 {x}', "a superuser's migrate_check_fk finds the orphan");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'monitor'}), 'f',
	"... and never ran the monitor's temporary operator");
$planter->quit;

ok(!server_crashed($node), 'no backend crashed');
done_testing();
