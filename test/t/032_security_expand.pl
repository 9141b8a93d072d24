# Security suite: an expand/contract migration's up expression is the
# deployer's code.  It runs as the deployer wherever pg_steward evaluates it
# (the backfill job, migrate_expand_check, the check before
# migrate_contract), never with the privileges of whoever calls those
# functions: a superuser checking or contracting a deployer's expansion does
# not run the deployer's function as superuser.  Only members of the role
# that expanded a migration may have its expression evaluated.
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

ok(!server_crashed($node), 'no backend crashed');
$node->stop;
done_testing();
