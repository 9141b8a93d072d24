# Security suite: migrate_rollback runs a stored down_sql with the
# privileges of the role that stored it (migrate_apply's current_user, or
# that of the migrate_repair that replaced it), never with those of the
# role that calls the rollback; only a member of that role may roll back.
#
# The deployer's poisoned down_sql ('DROP TABLE ...; ALTER ROLE deployer
# SUPERUSER') rolled back by a superuser runs as the deployer: the ALTER ROLE
# fails with the deployer's rights, so the rollback fails as a whole and
# changes nothing (the table stays, the migration stays completed).
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardSecurity;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = security_node('rollback');
documented_roles($node, 'postgres');

# the people who resolve failed migrations get migrate_repair (operations.md)
$node->safe_psql('postgres', q{
GRANT EXECUTE ON FUNCTION steward.migrate_repair(text, text, text, text, text) TO deployer});

sub as_role { return psql_as($node, @_); }

# a query's output (an error shows as an empty output and fails the test)
sub q1
{
	my ($rc, $out, $err) = $node->psql('postgres', $_[0]);
	diag($err) if $rc != 0;
	return $out;
}

sub is_super
{
	return q1("SELECT rolsuper FROM pg_roles WHERE rolname = '$_[0]'");
}

sub status_of
{
	return q1("SELECT status FROM steward.migrations WHERE version = '$_[0]'");
}

# ------------------------------- a deployer's down_sql, a superuser's rollback

my ($rc, $out, $err) = as_role('deployer', q{
SELECT steward.migrate_apply('001', 'CREATE TABLE app.visits (id int)',
    down_sql => 'DROP TABLE app.visits; ALTER ROLE deployer SUPERUSER')});
is($rc, 0, 'the deployer applies a migration with a poisoned down_sql') or diag($err);
is(q1(q{SELECT down_sql_role::regrole::text || ' ' || down_sql_role_name
          FROM steward.migrations WHERE version = '001'}),
	'deployer deployer', 'the migration records the deployer as the author of its down_sql');

($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_rollback('001')});
isnt($rc, 0, "a superuser's rollback of the poisoned down_sql fails");
like($err, qr/rollback of migration "001" failed at statement 2 of 2/, '... at the ALTER ROLE');
like($err, qr/permission denied|must be superuser/, '... for lack of the deployer\'s privilege');
is(is_super('deployer'), 'f', 'the deployer did not become superuser');
is(q1(q{SELECT to_regclass('app.visits') IS NOT NULL}), 't',
	'the rollback changed nothing: app.visits is still there');
is(status_of('001'), 'completed', '... and the migration is still completed');

# the rollback is atomic; drop the ALTER ROLE and it does its job as the deployer
($rc, $out, $err) = as_role('deployer', q{
SELECT steward.migrate_apply('002', 'CREATE TABLE app.rooms (id int)',
    down_sql => 'DROP TABLE app.rooms; CREATE TABLE app.rollback_ran_as AS SELECT current_user::text AS cu, session_user::text AS su')});
is($rc, 0, 'the deployer applies a second migration') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_rollback('002')});
is($rc, 0, "a superuser rolls back the deployer's migration") or diag($err);
is(q1(q{SELECT to_regclass('app.rooms') IS NULL}), 't', '... its DROP TABLE ran');
is(q1(q{SELECT cu FROM app.rollback_ran_as}), 'deployer',
	'... as the deployer (current_user), not as the superuser');
is(q1(q{SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'app.rollback_ran_as'::regclass}),
	'deployer', '... so what it creates belongs to the deployer');
is(status_of('002'), 'rolled_back', '... and the migration is rolled back');
is(q1(q{SELECT current_user_name FROM steward.migration_events
         WHERE version = '002' AND event = 'rollback'}),
	'postgres', 'the rollback event names the superuser who called it');

# SET ROLE cannot escape the author's identity inside down_sql
($rc, $out, $err) = as_role('deployer', q{
SELECT steward.migrate_apply('003', 'CREATE TABLE app.wards (id int)',
    down_sql => 'DROP TABLE app.wards; RESET ROLE; ALTER ROLE deployer SUPERUSER')});
is($rc, 0, 'a down_sql that tries RESET ROLE') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_rollback('003')});
isnt($rc, 0, '... fails when a superuser rolls it back');
is(is_super('deployer'), 'f', '... and the deployer is still no superuser');
is(q1(q{SELECT to_regclass('app.wards') IS NOT NULL}), 't', '... and nothing changed');

# --------------------------------- a superuser's down_sql, a deployer's rollback

$node->safe_psql('postgres', q{
SELECT steward.migrate_apply('004', 'CREATE TABLE public.secrets (id int)',
    down_sql => 'DROP TABLE public.secrets', out_of_order => true)});
($rc, $out, $err) = as_role('deployer', q{SELECT steward.migrate_rollback('004', out_of_order => true)});
isnt($rc, 0, "the deployer cannot roll back a migration whose down_sql a superuser stored");
like($err, qr/ERROR:  permission denied to roll back migration "004"/, '... permission denied');
like($err, qr/DETAIL:  Its down_sql was stored by role "postgres"/, '... naming the role that stored it');
($rc, $out, $err) = as_role('deployer', q{
\set VERBOSITY verbose
SELECT steward.migrate_rollback('004', out_of_order => true)});
like($err, qr/ERROR:  42501:/, '... SQLSTATE 42501');
is(q1(q{SELECT to_regclass('public.secrets') IS NOT NULL}), 't', '... the table is still there');
is(status_of('004'), 'completed', '... and the migration still completed');
is(q1(q{SELECT count(*) FROM steward.migration_events WHERE version = '004' AND event LIKE 'rollback%'}),
	'0', '... and no rollback attempt was recorded');

# ------------------------------------------------ migrate_repair records its author

# the deployer replaces a superuser's down_sql: the rollback now runs as the deployer
$node->safe_psql('postgres', q{
SELECT steward.migrate_apply('005', 'CREATE TABLE app.beds (id int)',
    down_sql => 'DROP TABLE app.beds', out_of_order => true)});
is(q1(q{SELECT down_sql_role_name FROM steward.migrations WHERE version = '005'}), 'postgres',
	'a superuser\'s apply records the superuser');
($rc, $out, $err) = as_role('deployer', q{
SELECT steward.migrate_repair('005', reason => 'new rollback',
    down_sql => 'DROP TABLE app.beds; ALTER ROLE deployer SUPERUSER')});
is($rc, 0, 'the deployer stores a new down_sql with migrate_repair') or diag($err);
is(q1(q{SELECT down_sql_role::regrole::text || ' ' || down_sql_role_name
          FROM steward.migrations WHERE version = '005'}),
	'deployer deployer', 'migrate_repair records the deployer as the author of the down_sql');
is(q1(q{SELECT current_user_name || ' ' || (details->>'down_sql_changed')
          FROM steward.migration_events WHERE version = '005' AND event = 'repair'}),
	'deployer true', '... and its repair event names the deployer');
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_rollback('005', out_of_order => true)});
isnt($rc, 0, "a superuser's rollback of the repaired down_sql fails");
is(is_super('deployer'), 'f', '... and the deployer did not become superuser');
is(q1(q{SELECT to_regclass('app.beds') IS NOT NULL}), 't', '... and nothing changed');

# a repair that does not touch down_sql keeps its author
($rc, $out, $err) = as_role('deployer', q{
SELECT steward.migrate_repair('004', reason => 'record the applied SQL', up_sql => 'CREATE TABLE public.secrets (id int, x int)')});
is($rc, 0, 'the deployer repairs the up_sql of the superuser\'s migration') or diag($err);
is(q1(q{SELECT down_sql_role_name FROM steward.migrations WHERE version = '004'}), 'postgres',
	'... the down_sql is still the superuser\'s');

# a superuser replaces the deployer's down_sql: the deployer may no longer roll back
as_role('deployer', q{
SELECT steward.migrate_apply('006', 'CREATE TABLE app.desks (id int)',
    down_sql => 'DROP TABLE app.desks', out_of_order => true)});
$node->safe_psql('postgres', q{
SELECT steward.migrate_repair('006', reason => 'dba rollback', down_sql => 'DROP TABLE app.desks')});
is(q1(q{SELECT down_sql_role_name FROM steward.migrations WHERE version = '006'}), 'postgres',
	'a superuser\'s migrate_repair records the superuser');
($rc, $out, $err) = as_role('deployer', q{SELECT steward.migrate_rollback('006', out_of_order => true)});
like($err, qr/permission denied to roll back migration "006"/,
	'... and the deployer can no longer roll it back');

# ------------------------------------------------------ the normal same-role case

($rc, $out, $err) = as_role('deployer', q{
SELECT steward.migrate_apply('007', 'CREATE TABLE app.notes (id int)',
    down_sql => 'DROP TABLE app.notes', out_of_order => true)});
is($rc, 0, 'the deployer applies a migration') or diag($err);
($rc, $out, $err) = as_role('deployer', q{SELECT steward.migrate_rollback('007')});
is($rc, 0, '... and rolls it back') or diag($err);
is($out, 'rolled_back', '... rolled_back');
is(q1(q{SELECT to_regclass('app.notes') IS NULL}), 't', '... the table is gone');

# a member of the author role may roll back
$node->safe_psql('postgres', q{
CREATE ROLE release_manager LOGIN IN ROLE deployer;
GRANT EXECUTE ON FUNCTION steward.migrate_rollback(text, boolean, interval, interval, integer) TO release_manager;
ALTER ROLE release_manager SET search_path = app, steward});
as_role('deployer', q{
SELECT steward.migrate_apply('008', 'CREATE TABLE app.charts (id int)',
    down_sql => 'DROP TABLE app.charts', out_of_order => true)});
($rc, $out, $err) = as_role('release_manager', q{SELECT steward.migrate_rollback('008')});
is($rc, 0, 'a member of the role that stored the down_sql may roll back') or diag($err);
is(q1(q{SELECT to_regclass('app.charts') IS NULL}), 't', '... and it ran');

# -------------------------------------- rows stored before the author was recorded

# 0.2.0 rows have no down_sql_role: the apply's current_user stands in
as_role('deployer', q{
SELECT steward.migrate_apply('009', 'CREATE TABLE app.files (id int)',
    down_sql => 'DROP TABLE app.files; ALTER ROLE deployer SUPERUSER', out_of_order => true)});
q1(q{UPDATE steward.migrations SET down_sql_role = NULL, down_sql_role_name = NULL WHERE version = '009'});
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_rollback('009')});
isnt($rc, 0, 'a down_sql stored before 0.3.0 runs as the role of its apply');
is(is_super('deployer'), 'f', '... and the deployer did not become superuser');
is(q1(q{SELECT last_op FROM steward.migrations WHERE version = '009'}), 'rollback',
	'the failed rollback is recorded');
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_rollback('009')});
like($err, qr/the role that stored its down_sql is not known/,
	'once the apply is no longer the last operation, the rollback is refused');
like($err, qr/HINT:  Store the down_sql again with migrate_repair/, '... with a hint to store it again');
is(is_super('deployer'), 'f', '... and the deployer is still no superuser');

# the author role is gone
$node->safe_psql('postgres', q{
CREATE ROLE temp_deployer LOGIN;
GRANT CREATE ON SCHEMA app TO temp_deployer;
GRANT EXECUTE ON FUNCTION steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]) TO temp_deployer});
as_role('temp_deployer', q{
SELECT steward.migrate_apply('010', 'CREATE TABLE app.temp (id int)',
    down_sql => 'DROP TABLE app.temp', out_of_order => true)});
$node->safe_psql('postgres', q{
ALTER TABLE app.temp OWNER TO deployer;
REVOKE ALL ON SCHEMA app FROM temp_deployer;
REVOKE ALL ON FUNCTION steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]) FROM temp_deployer;
DROP ROLE temp_deployer});
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_rollback('010')});
like($err, qr/the role that stored its down_sql no longer exists/,
	'a down_sql whose author was dropped is refused');
like($err, qr/"temp_deployer"/, '... naming the role');
$node->safe_psql('postgres', q{
SELECT steward.migrate_repair('010', reason => 'author left', down_sql => 'DROP TABLE app.temp')});
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_rollback('010')});
is($rc, 0, '... and works once stored again with migrate_repair') or diag($err);

ok(!server_crashed($node), 'no backend crashed');

$node->stop;
done_testing();
