# Security suite: an expand/contract migration's up expression is the
# deployer's code.  It runs as the deployer wherever pg_steward evaluates it
# (the backfill job, migrate_expand_check, the check before
# migrate_contract), never with the privileges of whoever calls those
# functions: a superuser checking or contracting a deployer's expansion does
# not run the deployer's function as superuser.  Only members of the role
# that expanded a migration may have its expression evaluated.  Nor can the
# deployer reach the superuser through what contract and check act on: a
# helper check swapped for one that calls its function, or planted under
# the name contract looks for; a view put under the old name of the table;
# a setting its up changes in the session that runs it; a constant of its
# domain (whose CHECK calls its function) in a renamed column's default or
# in another pending expansion's up, which parsing alone would check.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardSecurity;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = security_node('expand');
documented_roles($node, 'postgres');

sub as_role { return psql_as($node, @_); }

sub q1
{
	my ($rc, $out, $err) = $node->psql('postgres', $_[0]);
	diag($err) if $rc != 0;
	return $out;
}

sub is_super { return q1("SELECT rolsuper FROM pg_roles WHERE rolname = '$_[0]'"); }

# The deployer's table and a function that, run by a superuser, makes the
# deployer superuser, and otherwise returns its argument.
my ($rc, $out, $err) = as_role('deployer', q{
CREATE TABLE app.residents (id bigint PRIMARY KEY, care_level text);
INSERT INTO app.residents SELECT g, (g % 5 + 1)::text FROM generate_series(1, 500) g;
CREATE FUNCTION app.level(t text) RETURNS smallint LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE deployer SUPERUSER';
    END IF;
    RETURN t::smallint;
END $$;
GRANT EXECUTE ON FUNCTION app.level(text) TO PUBLIC;
SELECT steward.migrate_expand('x001', 'app.residents', 'care_level',
    new_name => 'care_level_n', new_type => 'smallint',
    up => 'app.level(care_level)', down => 'care_level_n::text') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version = 'x001';
});
is($rc, 0, 'the deployer expands a column with its own function in up') or diag($err);
like($out, qr/succeeded/, 'the backfill, run as the deployer, succeeded');
is(is_super('deployer'), 'f', 'the deployer is not superuser after its backfill');

# a superuser checks the deployer's expansion
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_expand_check('x001')});
is($rc, 0, 'a superuser may check the expansion') or diag($err);
is($out, '0', 'and finds no disagreeing row');
is(is_super('deployer'), 'f', "migrate_expand_check by a superuser ran up as the deployer, not as superuser");

# the deployer checks its own
($rc, $out, $err) = as_role('deployer', q{SELECT steward.migrate_expand_check('x001')});
is($out, '0', 'the deployer checks its own expansion') or diag($err);

# another role, even one granted the function, may not have the deployer's code run
$node->safe_psql('postgres', q{
CREATE ROLE other_deployer LOGIN;
GRANT USAGE ON SCHEMA steward TO other_deployer;
GRANT EXECUTE ON FUNCTION steward.migrate_expand_check(text), steward.migrate_contract(text, interval, integer)
   TO other_deployer;
});
($rc, $out, $err) = as_role('other_deployer', q{SELECT steward.migrate_expand_check('x001')});
isnt($rc, 0, 'a role that is not a member of the deployer cannot check its expansion');
like($err, qr/permission denied to check expand\/contract migration "x001"/, '... permission denied');
($rc, $out, $err) = as_role('other_deployer', q{SELECT steward.migrate_contract('x001')});
isnt($rc, 0, '... nor contract it');

# a superuser contracts the deployer's expansion: the check before it runs as the deployer
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_contract('x001')});
is($rc, 0, 'a superuser contracts the expansion') or diag($err);
is(is_super('deployer'), 'f', "migrate_contract by a superuser ran up as the deployer, not as superuser");
is(q1(q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
         WHERE attrelid = 'app.residents'::regclass AND attnum > 0 AND NOT attisdropped}),
	'id,care_level_n', 'the contract did its work');

# the role that expanded is gone: the check refuses instead of running up as someone else
($rc, $out, $err) = as_role('deployer', q{
CREATE TABLE app.beds (id bigint PRIMARY KEY, ward text);
SELECT steward.migrate_expand('x002', 'app.beds', 'ward', new_name => 'unit') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version = 'x002';
});
is($rc, 0, 'the deployer expands another table') or diag($err);
$node->safe_psql('postgres', q{
CREATE ROLE temp_owner;
ALTER TABLE app.beds OWNER TO temp_owner;
UPDATE steward.expansions SET expanded_by = 'gone_role' WHERE version = 'x002';
});
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_expand_check('x002')});
isnt($rc, 0, 'an expansion whose author no longer exists is not checked');
like($err, qr/role "gone_role", which expanded expand\/contract migration "x002", no longer exists/,
	'... the message names the missing role');

# a required column: the deployer's fill is evaluated by its backfill (as the
# deployer) and by the trigger (as the writer); check and contract by a
# superuser evaluate no expression of the deployer's
($rc, $out, $err) = as_role('deployer', q{
CREATE TABLE app.visitors (id bigint PRIMARY KEY, name text, language text);
INSERT INTO app.visitors SELECT g, 'v' || g FROM generate_series(1, 300) g;
CREATE FUNCTION app.lang(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE deployer SUPERUSER';
    END IF;
    RETURN 'de';
END $$;
SELECT steward.migrate_expand_require('x003', 'app.visitors', 'language', fill => 'app.lang(name)') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version = 'x003';
});
is($rc, 0, 'the deployer makes a column required with its own function in fill') or diag($err);
like($out, qr/succeeded/, 'the backfill, run as the deployer, succeeded');
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_expand_check('x003')});
is($out, '0', 'a superuser checks the required column') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_contract('x003')});
is($rc, 0, 'a superuser contracts it') or diag($err);
is(is_super('deployer'), 'f', 'check and contract by a superuser did not run the deployer\'s fill as superuser');
is(q1(q{SELECT attnotnull FROM pg_attribute WHERE attrelid = 'app.visitors'::regclass AND attname = 'language'}),
	't', 'the contract did its work');
($rc, $out, $err) = as_role('other_deployer',
	q{SELECT steward.migrate_expand_require('x004', 'app.visitors', 'name', fill => '''x''')});
isnt($rc, 0, 'a role without the grant may not expand');

# The deployer's function that makes it superuser when a superuser runs it.
($rc, $out, $err) = as_role('deployer', q{
CREATE FUNCTION app.evil() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE deployer SUPERUSER';
    END IF;
    RETURN true;
END $$;
GRANT EXECUTE ON FUNCTION app.evil() TO PUBLIC;
CREATE TABLE app.nn (id bigint PRIMARY KEY, a text NOT NULL);
INSERT INTO app.nn SELECT g, 'x' || g FROM generate_series(1, 50) g;
SELECT steward.migrate_expand('x101', 'app.nn', 'a', new_name => 'b') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version = 'x101';
});
is($rc, 0, 'the deployer renames a NOT NULL column') or diag($err);
my $nn = q1(q{SELECT 'steward_nn_' || left(encode(sha256(convert_to('x101', 'UTF8')), 'hex'), 12)});
($rc, $out, $err) = as_role('deployer', qq{
ALTER TABLE app.nn DROP CONSTRAINT $nn;
ALTER TABLE app.nn ADD CONSTRAINT $nn CHECK (b IS NOT NULL AND app.evil()) NOT VALID;
});
is($rc, 0, 'the deployer swaps the helper check of contract for one that calls its function') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_contract('x101')});
isnt($rc, 0, "a superuser's contract refuses a helper check that is not exactly (column IS NOT NULL)");
like($err, qr/is not the check expand\/contract migration "x101" added/, '... naming it');
is(is_super('deployer'), 'f', 'the swapped check was not validated as superuser');

# a check planted under the name contract looks for, on a derived column
($rc, $out, $err) = as_role('deployer', q{
CREATE TABLE app.dv (id bigint PRIMARY KEY, f text, l text);
INSERT INTO app.dv SELECT g, 'f' || g, 'l' || g FROM generate_series(1, 50) g;
SELECT steward.migrate_expand_derive('x102', 'app.dv', 'fl', 'text', $$f || ' ' || l$$, '{f,l}') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version = 'x102';
});
is($rc, 0, 'the deployer derives a column') or diag($err);
my $nn2 = q1(q{SELECT 'steward_nn_' || left(encode(sha256(convert_to('x102', 'UTF8')), 'hex'), 12)});
as_role('deployer', qq{ALTER TABLE app.dv ADD CONSTRAINT $nn2 CHECK (app.evil()) NOT VALID});
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_contract('x102')});
is($rc, 0, "a superuser contracts the derived column") or diag($err);
is(is_super('deployer'), 'f', 'a planted check of the same name was not validated as superuser');

# the table of a required column renamed, a view of the deployer's under its old name
($rc, $out, $err) = as_role('deployer', q{
CREATE TABLE app.rq (id bigint PRIMARY KEY, c text);
INSERT INTO app.rq SELECT g, NULL FROM generate_series(1, 20) g;
SELECT steward.migrate_expand_require('x103', 'app.rq', 'c', fill => '''z''') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version = 'x103';
ALTER TABLE app.rq RENAME TO rq_real;
CREATE VIEW app.rq AS SELECT id, CASE WHEN app.evil() THEN NULL::text END AS c FROM app.rq_real;
});
is($rc, 0, 'the deployer puts a view with its function under the old name of the table') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_expand_check('x103')});
is($out, '0', "a superuser's check counts the table itself, by its OID") or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_contract('x103')});
is($rc, 0, "a superuser's contract works on the renamed table") or diag($err);
is(is_super('deployer'), 'f', 'the view under the old name was not read as superuser');

# an up that changes a setting of the session it runs in
($rc, $out, $err) = as_role('deployer', q{
CREATE TABLE app.gu (id bigint PRIMARY KEY, a text);
INSERT INTO app.gu SELECT g, 'a' || g FROM generate_series(1, 20) g;
CREATE FUNCTION app.f(x text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'app, pg_catalog, public', false);
    PERFORM pg_catalog.set_config('application_name', 'changed by the deployer', false);
    RETURN x;
END $$;
GRANT EXECUTE ON FUNCTION app.f(text) TO PUBLIC;
SELECT steward.migrate_expand('x104', 'app.gu', 'a', new_name => 'b', new_type => 'text',
                              up => 'app.f(a)', down => 'b') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version = 'x104';
});
is($rc, 0, 'the deployer expands with an up that sets session settings') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{
SET application_name = 'dba';
SELECT steward.migrate_expand_check('x104');
SELECT current_setting('search_path') || ' / ' || current_setting('application_name');
SELECT steward.migrate_contract('x104') IS NOT NULL;
SELECT current_setting('search_path') || ' / ' || current_setting('application_name');});
is($rc, 0, 'a superuser checks and contracts it') or diag($err);
my @lines = split /\n/, $out;
unlike($lines[1], qr/app/, "the up's set_config did not outlive migrate_expand_check in the superuser's session");
like($lines[1], qr{/ dba$}, '... nor did its application_name');
unlike($lines[3], qr/app|changed/, '... nor migrate_contract');

# A domain whose CHECK calls the deployer's function: parsing a constant of
# it runs the function.  Another pending expansion's expression is analysed
# as its author; the default of a renamed column moves as stored.
($rc, $out, $err) = as_role('deployer', q{
CREATE DOMAIN app.okint AS integer CHECK (app.evil());
CREATE TABLE app.pe (id bigint PRIMARY KEY, a text, b text);
INSERT INTO app.pe SELECT g, 'a' || g, 'b' || g FROM generate_series(1, 30) g;
SELECT steward.migrate_expand('x105', 'app.pe', 'a', new_name => 'a_new') > 0;
SELECT steward.migrate_expand('x106', 'app.pe', 'b', new_name => 'b_new', new_type => 'text',
    up => $$CASE WHEN '{1}'::app.okint[] IS NULL THEN NULL ELSE b END$$,
    down => 'b_new') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version IN ('x105', 'x106');
});
is($rc, 0, 'the deployer expands two columns of a table, one with a constant of its domain in up') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_contract('x105')});
is($rc, 0, "a superuser contracts the other one") or diag($err);
is(is_super('deployer'), 'f', "the pending expansion's up was analysed as the deployer, not as superuser");
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_contract('x106')});
is($rc, 0, "a superuser contracts the second expansion too") or diag($err);
is(is_super('deployer'), 'f', "its up was evaluated as the deployer");

$node->safe_psql('postgres', 'ALTER ROLE deployer NOSUPERUSER');    # each attack on its own
($rc, $out, $err) = as_role('deployer', q{
CREATE TABLE app.dd (id bigint PRIMARY KEY, codes app.okint[] DEFAULT '{1}'::app.okint[]);
INSERT INTO app.dd (id) SELECT g FROM generate_series(1, 30) g;
SELECT steward.migrate_expand('x107', 'app.dd', 'codes', new_name => 'codes_new') > 0;
SELECT steward.job_wait(backfill_job) FROM steward.migrate_expansions() WHERE version = 'x107';
});
is($rc, 0, 'the deployer renames a column whose default is a constant of its domain') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT steward.migrate_contract('x107')});
is($rc, 0, "a superuser contracts the rename") or diag($err);
is(is_super('deployer'), 'f', "the carried default was not parsed as superuser");
is(q1(q{SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'app.dd'::regclass
        AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'app.dd'::regclass AND attname = 'codes_new')}),
   q{'{1}'::app.okint[]}, 'the renamed column has the old default');
($rc, $out, $err) = as_role('deployer', q{INSERT INTO app.dd (id) VALUES (1001) RETURNING codes_new});
is($out, '{1}', "and an INSERT without it gets that default") or diag($err);
like(q1(q{SELECT up_sql FROM steward.migrations WHERE version = 'x107_contract'}),
	qr/takes over the old column's default, as stored/, 'the contract SQL says so, without the default as text');

ok(!server_crashed($node), 'no backend crashed');
$node->stop;
done_testing();
