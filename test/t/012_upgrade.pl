# ALTER EXTENSION pg_steward UPDATE from every released version, with data
# in place: a database created at 0.1.0 holds migrations, a job and a sealed
# ledger; after the update it is at the default version, every row is still
# there, the ledger verifies against the digest taken before the update,
# everything goes on working, and its objects are exactly those of a
# database created at the default version, whose install script the build
# generates from the SQL sources (src/README.md, "SQL sources"): every
# member object, function body, property and privilege, column, constraint,
# index, trigger, view, sequence, comment and configuration table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{TESTDIR}/test/perl";
use StewardTree;
use JSON::PP;

# every version an upgrade script starts from (0.1.0, 0.2.0, ...)
my %from = map { /^pg_steward--(\d+\.\d+\.\d+)--\d+\.\d+\.\d+\.sql$/ ? ($1 => 1) : () }
  glob('pg_steward--*--*.sql');
my @released = sort { pack('N3', split /\./, $a) cmp pack('N3', split /\./, $b) } keys %from;
my ($default) = slurp_file('pg_steward.control') =~ /^default_version = '([^']+)'/m;
ok(defined $default, "the control file names the default version ($default)");
ok((grep { $_ eq '0.1.0' } @released), 'the upgrade scripts start at 0.1.0 (' . join(', ', @released) . ')');

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.audit_seal_interval = 0
});
$node->start;

# What a database's pg_steward consists of, one JSON object per aspect:
# {key: definition}.  A fresh install runs the install script the build
# generates from src/*.sql; an updated one ran 0.1.0's and the upgrade
# scripts.  Each aspect must be the same in both, object by object.
# Owners are left out (the same role runs both); everything else that
# CREATE EXTENSION and ALTER EXTENSION UPDATE can set is in.
my $members = q{
SELECT d.classid, d.objid, d.objsubid
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_steward' AND d.deptype = 'e'};
my $steward_rels = q{
SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'steward'::regnamespace};
my %aspects = (
	# the set of extension member objects
	'extension member objects' => qq{
SELECT jsonb_object_agg(pg_describe_object(m.classid, m.objid, m.objsubid), '') FROM ($members) m},
	# the extension's own row: version, schema, relocatability, config tables
	'extension properties and config tables' => q{
SELECT jsonb_build_object('version', e.extversion, 'schema', e.extnamespace::regnamespace::text,
                          'relocatable', e.extrelocatable)
    || coalesce((SELECT jsonb_object_agg('config ' || c.rel::regclass::text, coalesce(c.cond, '(null)'))
                   FROM unnest(e.extconfig, e.extcondition) AS c(rel, cond)), '{}')
  FROM pg_extension e WHERE e.extname = 'pg_steward'},
	# every function and procedure: its full definition and what
	# pg_get_functiondef may not show
	'functions: definitions, properties and privileges' => q{
SELECT jsonb_object_agg(
           p.pronamespace::regnamespace || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           pg_get_functiondef(p.oid) || E'\n-- '
           || concat_ws(' ', 'kind=' || p.prokind::text, 'secdef=' || p.prosecdef, 'strict=' || p.proisstrict,
                        'volatile=' || p.provolatile::text, 'parallel=' || p.proparallel::text,
                        'leakproof=' || p.proleakproof, 'cost=' || p.procost, 'rows=' || p.prorows,
                        'config=' || coalesce(p.proconfig::text, '(none)'),
                        'language=' || (SELECT l.lanname FROM pg_language l WHERE l.oid = p.prolang),
                        'acl=' || coalesce(p.proacl::text, '(default)'),
                        'comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '(none)')))
  FROM pg_proc p
 WHERE p.pronamespace = 'steward'::regnamespace
    OR p.oid IN (SELECT m.objid FROM (} . $members . q{) m WHERE m.classid = 'pg_proc'::regclass)},
	# tables, partitions, views, sequences and indexes of schema steward
	'relations: kinds, view definitions, sequences, partitioning and privileges' => qq{
SELECT jsonb_object_agg(c.relname, concat_ws(E'\\n',
           'kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text || ' replident=' || c.relreplident::text,
           'acl=' || coalesce(c.relacl::text, '(default)'),
           'options=' || coalesce(c.reloptions::text, '(none)'),
           'comment=' || coalesce(obj_description(c.oid, 'pg_class'), '(none)'),
           'partition key=' || pg_get_partkeydef(c.oid),
           'partition of=' || (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid),
           'partition bound=' || pg_get_expr(c.relpartbound, c.oid),
           'sequence=' || (SELECT concat_ws(' ', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                                            s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
                             FROM pg_sequence s WHERE s.seqrelid = c.oid),
           'owned by=' || (SELECT d.refobjid::regclass || '.' || a.attname || ' (' || d.deptype::text || ')'
                             FROM pg_depend d
                             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                              AND c.relkind = 'S'),
           'view=' || CASE WHEN c.relkind IN ('v', 'm') THEN E'\\n' || pg_get_viewdef(c.oid) END))
  FROM pg_class c WHERE c.oid IN ($steward_rels)},
	# every column, in order (its position among the columns that are not
	# dropped: a column dropped by an upgrade leaves a gap in attnum)
	'table columns: order, types, defaults, not null, identity, storage, privileges' => qq{
SELECT jsonb_object_agg(a.attrelid::regclass::text || ' #' || lpad(a.pos::text, 3, '0'),
           concat_ws(' ', a.attname, format_type(a.atttypid, a.atttypmod),
                     'collation=' || coalesce((SELECT co.collname FROM pg_collation co
                                                WHERE co.oid = a.attcollation), '(none)'),
                     'notnull=' || a.attnotnull,
                     'default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '(none)'),
                     'identity=' || a.attidentity::text, 'generated=' || a.attgenerated::text,
                     'storage=' || a.attstorage::text, 'islocal=' || a.attislocal, 'inhcount=' || a.attinhcount,
                     'acl=' || coalesce(a.attacl::text, '(default)'),
                     'comment=' || coalesce(col_description(a.attrelid, a.attnum), '(none)')))
  FROM (SELECT a.*, row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS pos
          FROM pg_attribute a
         WHERE a.attrelid IN ($steward_rels) AND a.attnum > 0 AND NOT a.attisdropped) a
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum},
	'constraints' => qq{
SELECT jsonb_object_agg(k.conrelid::regclass || ' ' || k.conname,
           concat_ws(' ', k.contype::text, pg_get_constraintdef(k.oid), 'deferrable=' || k.condeferrable,
                     'deferred=' || k.condeferred, 'validated=' || k.convalidated,
                     'islocal=' || k.conislocal, 'inhcount=' || k.coninhcount,
                     'comment=' || coalesce(obj_description(k.oid, 'pg_constraint'), '(none)')))
  FROM pg_constraint k WHERE k.conrelid IN ($steward_rels)},
	'indexes' => qq{
SELECT jsonb_object_agg(x.indexrelid::regclass::text,
           pg_get_indexdef(x.indexrelid) || ' primary=' || x.indisprimary || ' valid=' || x.indisvalid
           || ' clustered=' || x.indisclustered || ' replident=' || x.indisreplident)
  FROM pg_index x WHERE x.indrelid IN ($steward_rels)},
	'triggers and event triggers' => qq{
SELECT coalesce(jsonb_object_agg(t.tgrelid::regclass || ' ' || t.tgname,
           pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
           || ' comment=' || coalesce(obj_description(t.oid, 'pg_trigger'), '(none)'))
             FILTER (WHERE t.oid IS NOT NULL), '{}')
    || (SELECT coalesce(jsonb_object_agg('event trigger ' || v.evtname,
                  concat_ws(' ', v.evtevent, v.evtfoid::regprocedure, 'enabled=' || v.evtenabled::text,
                            'tags=' || coalesce(v.evttags::text, '(any)'))), '{}')
          FROM pg_event_trigger v
         WHERE v.oid IN (SELECT m.objid FROM ($members) m WHERE m.classid = 'pg_event_trigger'::regclass))
  FROM pg_trigger t WHERE t.tgrelid IN ($steward_rels) AND NOT t.tgisinternal},
	# every comment on schema steward, on a member or on anything in steward
	# (columns, constraints, triggers and indexes included)
	'comments' => qq{
SELECT jsonb_object_agg(pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
  FROM pg_description d
 WHERE (d.classoid = 'pg_namespace'::regclass AND d.objoid = 'steward'::regnamespace)
    OR (d.classoid, d.objoid) IN (SELECT m.classid, m.objid FROM ($members) m)
    OR (pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema = 'steward'},
	# schema steward's privileges, and default privileges (there should be none)
	'schema and default privileges' => q{
SELECT jsonb_build_object('schema steward acl', coalesce(n.nspacl::text, '(default)'),
                          'schema steward comment', coalesce(obj_description(n.oid, 'pg_namespace'), '(none)'))
    || coalesce((SELECT jsonb_object_agg(concat_ws(' ', 'default acl', a.defaclrole::regrole,
                                                   a.defaclnamespace::regnamespace, a.defaclobjtype::text),
                                         a.defaclacl::text)
                   FROM pg_default_acl a), '{}')
  FROM pg_namespace n WHERE n.nspname = 'steward'},
);

sub aspects_of
{
	my ($db) = @_;
	my %of;
	for my $aspect (sort keys %aspects)
	{
		my $json = $node->safe_psql($db, $aspects{$aspect});
		$of{$aspect} = decode_json($json eq '' ? '{}' : $json);
	}
	return \%of;
}

# What differs between two {key: definition} objects, readably: the keys
# only one side has, and a unified diff of each definition that differs.
sub differences
{
	my ($fresh, $updated) = @_;
	my @out;
	for my $k (sort keys %$fresh)
	{
		push @out, "only in the fresh install: $k" unless exists $updated->{$k};
	}
	for my $k (sort keys %$updated)
	{
		next unless exists $fresh->{$k};
		next if $fresh->{$k} eq $updated->{$k};
		my $dir = PostgreSQL::Test::Utils::tempdir();
		open(my $fh, '>', "$dir/fresh") or die "could not write $dir/fresh: $!";
		print $fh $fresh->{$k}, "\n";
		close $fh;
		open($fh, '>', "$dir/updated") or die "could not write $dir/updated: $!";
		print $fh $updated->{$k}, "\n";
		close $fh;
		my $diff = `diff -u --label fresh --label updated $dir/fresh $dir/updated`;
		push @out, "differs: $k\n$diff";
	}
	for my $k (sort keys %$updated)
	{
		push @out, "only in the updated database: $k" unless exists $fresh->{$k};
	}
	return @out;
}

# CREATE EXTENSION takes the install script of the default version, which
# the build generated; without it, it would run 0.1.0's and the upgrade
# scripts, and the comparisons below would compare that path with itself.
my $script = $node->config_data('--sharedir') . "/extension/pg_steward--$default.sql";
ok(-f $script, "the install script of $default is installed");
like(slurp_file($script), qr/\A-- pg_steward \Q$default\E: install script\.\n--\n-- GENERATED by make/,
	'it is the one generated from the SQL sources');

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_steward');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'}),
	$default, 'CREATE EXTENSION installs the default version');
my $fresh = aspects_of('fresh');
# (a comparison of empty sets would prove nothing)
for my $aspect (sort keys %aspects)
{
	my $n = scalar(keys %{ $fresh->{$aspect} });
	ok($n > 0, "the fresh install has $aspect ($n)");
}
ok((grep { /^steward\.migrate_apply\(/ } keys %{ $fresh->{'functions: definitions, properties and privileges'} }),
	'the fresh install has migrate_apply in schema steward');

for my $from (@released)
{
	my $db = 'from_' . ($from =~ s/\./_/gr);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
CREATE EXTENSION pg_steward VERSION '$from';
SELECT migrate_apply('20260101_wards', \$\$
    CREATE TABLE wards (id bigint PRIMARY KEY, name text NOT NULL, beds int);
    INSERT INTO wards SELECT g, 'ward ' || g, NULL FROM generate_series(1, 300) g;
\$\$, down_sql => 'DROP TABLE wards');
SELECT backfill('wards', 'beds = 12', 'beds IS NULL', batch_size => 100) AS job \\gset
SELECT job_wait(:job);
});
	$node->psql($db, q{SELECT migrate_apply('20260102_broken', 'SELECT 1/0')});
	$node->safe_psql($db, q{SELECT audit_append('LOGIN', 'user', 'dr.jung');
SELECT count(audit_append('READ', 'patient', g::text)) FROM generate_series(1, 600) g; SELECT audit_seal();});
	my $digest = $node->safe_psql($db, 'SELECT audit_digest()');
	my $q_state = q{SELECT (SELECT string_agg(version || ':' || status, ',' ORDER BY version) FROM migrate_status())
	                  || '|' || (SELECT string_agg(kind || ':' || state, ',' ORDER BY id) FROM job_status())
	                  || '|' || (SELECT count(*) FROM steward.audit_events)
	                  || '|' || (SELECT count(*) FROM wards WHERE beds = 12)};
	my $before = $node->safe_psql($db, $q_state);

	$node->safe_psql($db, 'ALTER EXTENSION pg_steward UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'}),
		$default, "$from: ALTER EXTENSION UPDATE reaches $default");
	is($node->safe_psql($db, $q_state), $before, "$from: the history, the jobs, the ledger and the data are kept");
	is($node->safe_psql($db, qq{SELECT is_valid || '|' || events_unsealed FROM verify_audit_chain(trusted_digest => '$digest')}),
		'true|0', "$from: the ledger verifies against the digest taken before the update");
	# the ledger tree of the existing blocks is built by the update
	my $n = $node->safe_psql($db, q{SELECT max(first_position + event_count - 1) FROM steward.audit_blocks});
	is($node->safe_psql($db, q{SELECT count(*) FROM steward.audit_tree WHERE level = 8}), int($n / 256),
		"$from: the update stored the tree's nodes of the sealed leaves");
	my $new_digest = decode_json($node->safe_psql($db, 'SELECT audit_digest()'));
	my @leaves = leaves_of(pack('H*', $node->safe_psql($db,
		q{SELECT encode(string_agg(entries, '' ORDER BY block_id), 'hex') FROM steward.audit_blocks})));
	is($new_digest->{tree_root}, unpack('H*', tree_root(@leaves)),
		"$from: the digest names the root of the tree over every sealed leaf");
	my $receipt = decode_json($node->safe_psql($db,
		q{SELECT audit_proof((SELECT min(id) FROM steward.audit_events))}));
	ok(receipt_ok($receipt, $new_digest), "$from: a receipt of the first event verifies");
	my $old = decode_json($digest);
	$old->{tree_root} = unpack('H*', tree_root(@leaves[0 .. $old->{position} - 1]));
	$old->{tree_size} = $old->{position};
	my $proof = decode_json($node->safe_psql($db, qq{SELECT audit_consistency('$digest')}));
	ok(consistency_ok($proof, $old, $new_digest), "$from: the tree extends the one of the digest taken before the update");
	my $updated = aspects_of($db);
	for my $aspect (sort keys %aspects)
	{
		my @diff = differences($fresh->{$aspect}, $updated->{$aspect});
		ok(!@diff, "$from: the same $aspect as a fresh install")
		  or diag(join("\n", @diff));
	}

	# and it goes on working
	is($node->safe_psql($db, q{SELECT migrate_apply('20260103_beds_idx', 'CREATE INDEX wards_beds_idx ON wards (beds)')}),
		'applied', "$from: migrations go on");
	$node->safe_psql($db, q{SELECT audit_append('LOGOUT', 'user', 'dr.jung'); SELECT audit_seal()});
	is($node->safe_psql($db, q{SELECT is_valid || '|' || events_checked || '|' || events_unsealed FROM verify_audit_chain()}),
		'true|' . ((split /\|/, $before)[2] + 2) . '|0', "$from: the ledger goes on");
	is($node->safe_psql($db, q{SELECT count(*) FROM migrate_lint('ALTER TABLE wards ALTER COLUMN beds SET NOT NULL')}),
		'2', "$from: the review works");
	is($node->safe_psql($db, q{SELECT count(*) FROM migrate_status() WHERE status = 'failed'}), '1',
		"$from: the failed attempt is still on record");
}

# 0.4.0 re-creates migrate_apply and migrate_lint with new signatures: the
# EXECUTE privileges operators granted on the old ones are carried over.
$node->safe_psql('postgres', q{CREATE DATABASE upg_grants; CREATE ROLE "deploy er"; CREATE ROLE linter});
$node->safe_psql('upg_grants', q{
CREATE EXTENSION pg_steward VERSION '0.3.0';
GRANT EXECUTE ON FUNCTION steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[])
  TO "deploy er" WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION steward.migrate_lint(text) TO linter, "deploy er";
ALTER EXTENSION pg_steward UPDATE TO '0.4.0';});
is($node->safe_psql('upg_grants', q{
SELECT string_agg(r || ':' || f || ':' || has_function_privilege(r, f, 'EXECUTE')
                  || ':' || has_function_privilege(r, f, 'EXECUTE WITH GRANT OPTION'), ' ' ORDER BY r, f)
  FROM unnest(ARRAY['deploy er', 'linter', 'public']) r,
       unnest(ARRAY['steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[])',
                    'steward.migrate_lint(text, text[])']) f}),
	join(' ',
		'deploy er:steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]):true:true',
		'deploy er:steward.migrate_lint(text, text[]):true:false',
		'linter:steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]):false:false',
		'linter:steward.migrate_lint(text, text[]):true:false',
		'public:steward.migrate_apply(text, text, text, text, boolean, interval, interval, integer, boolean, text[], text[], text[]):false:false',
		'public:steward.migrate_lint(text, text[]):false:false'),
	'0.3.0 to 0.4.0: the grants on migrate_apply and migrate_lint are carried over to their new signatures');

$node->stop;
done_testing();
