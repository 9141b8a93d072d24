# pg_steward lint (docs/client.md) as a CI gate: against a database that
# holds the schema so far, an unsafe migration fails the gate in every
# format (text, json, sarif, github) with the file and the line of its
# statement; an accepted finding (--allow, steward-accept.txt) passes it;
# warnings fail it only with --fail-on warning (exit 6); transaction control
# that cannot run inside migrate_apply is an error, a BEGIN/COMMIT wrapper
# an info; SQL that does not parse is a finding; usage errors exit 2.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardClient;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = client_node('client_lint');
client_db($node, 'postgres');
my ($rc, $out, $err);

# the schema CI lints against: the first two migrations, with data
my $pairs = fixture('pairs');
($rc, $out, $err) = run_client($node, 'postgres', [ 'deploy', '--target', '2_add_orders_total', $pairs ]);
is($rc, 0, 'the schema so far is deployed') or diag($out, $err);
$node->safe_psql('postgres', q{INSERT INTO orders (customer, legacy_code) VALUES ('ada', 'L-1')});
my $unsafe = "$pairs/3_drop_orders_legacy_code.up.sql";
# findings point at the line of their statement's first token: line 3,
# after a comment and a blank line

# ------------------------------------------------------------------ text
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', $pairs ]);
is($rc, 1, 'text: an unsafe migration fails the gate') or diag($out, $err);
like($out, qr/^\Q$unsafe\E:3: error: drop-column: .* \[public\.orders\]\n    instead: /m,
	'text: file, line of the statement, severity, rule, relation and the safe alternative');
like($out, qr/^lint: 4 files, 1 error, 0 warnings, \d+ infos?, 0 silenced$/m, 'text: the summary line');

# ------------------------------------------------------------------ json
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--format', 'json', $pairs ]);
is($rc, 1, 'json: the gate fails');
my $doc = decode_json($out);
is($doc->{errors}, 1, 'json: one error');
my ($f) = grep { $_->{severity} eq 'error' } @{ $doc->{findings} };
is_deeply(
	[ @{$f}{qw(file line statement rule relation silenced)} ],
	[ $unsafe, 3, 1, 'drop-column', 'public.orders', undef ],
	'json: the finding\'s file, line, statement, rule and relation');

# ------------------------------------------------------------------ sarif
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--format', 'sarif', $pairs ]);
is($rc, 1, 'sarif: the gate fails');
$doc = decode_json($out);
is($doc->{version}, '2.1.0', 'sarif: version 2.1.0');
my ($r) = grep { $_->{level} eq 'error' } @{ $doc->{runs}[0]{results} };
is($r->{ruleId}, 'drop-column', 'sarif: the rule');
is_deeply($r->{locations}[0]{physicalLocation},
	{ artifactLocation => { uri => $unsafe }, region => { startLine => 3 } },
	'sarif: the file and line');
ok((grep { $_->{id} eq 'drop-column' } @{ $doc->{runs}[0]{tool}{driver}{rules} }),
	'sarif: the rule is listed in the driver');

# ----------------------------------------------------------------- github
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--format', 'github', $pairs ]);
is($rc, 1, 'github: the gate fails');
like($out, qr/^::error file=\Q$unsafe\E,line=3,title=pg_steward drop-column::.*%0AInstead: /m,
	'github: an ::error annotation on the file and line');

# ------------------------------------------------- accepting the finding
($rc, $out, $err) = run_client($node, 'postgres',
	[ 'lint', '--allow', '3_drop_orders_legacy_code:drop-column', '--reason', 'archived in release 12', $pairs ]);
is($rc, 0, '--allow with --reason passes the gate') or diag($out, $err);
like($out, qr/^\Q$unsafe\E:3: silenced error: drop-column: .*\n    reason: archived in release 12$/m,
	'text: the finding is shown silenced, with the reason');
my $accepting = fixture_copy('pairs');
open(my $fh, '>', "$accepting/steward-accept.txt") or die;
print $fh "# reviewed\n3_drop_orders_legacy_code drop-column archived in release 12\n";
close($fh);
for my $format (qw(text json sarif github))
{
	($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--format', $format, $accepting ]);
	is($rc, 0, "$format: steward-accept.txt passes the gate") or diag($out, $err);
}
unlike($out, qr/^::error/m, 'github: no annotation for an accepted finding');
open($fh, '>', "$accepting/steward-accept.txt") or die;
print $fh "3_drop_orders_legacy_code drop-column\n";
close($fh);
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', $accepting ]);
is($rc, 2, 'an accept line without a reason: exit 2');
like($err, qr/steward-accept\.txt:1: expected "VERSION RULE REASON\.\.\."/, '... naming the file and line');

# --------------------------------------------------------------- warnings
my $warn = fixture('lint') . '/warnings_only.sql';
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', $warn ]);
is($rc, 0, 'warnings only: the default gate passes') or diag($out, $err);
like($out, qr/^\Q$warn\E:1: warning: rename-column: /m, 'warnings only: the warning is shown');
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--fail-on', 'warning', $warn ]);
is($rc, 6, 'warnings only with --fail-on warning: exit 6');
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--fail-on', 'none', $pairs ]);
is($rc, 0, '--fail-on none: exit 0 despite the error');

# ------------------------------------------------------ transaction control
my $settx = fixture('lint') . '/set_transaction.sql';
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', $settx ]);
is($rc, 1, 'SET TRANSACTION fails the gate');
like($out, qr/^\Q$settx\E:2: error: transaction-control: /m, '... as transaction-control on its line');
my $wrapped = fixture('prisma') . '/20240115000000_role_enum/migration.sql';
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--format', 'json', $wrapped ]);
is($rc, 0, 'a BEGIN/COMMIT wrapper passes the gate') or diag($out, $err);
ok((grep { $_->{rule} eq 'transaction-wrapper' && $_->{severity} eq 'info' } @{ decode_json($out)->{findings} }),
	'... with the info transaction-wrapper');

# ------------------------------------------------------------ invalid SQL
my $dir = PostgreSQL::Test::Utils::tempdir();
open($fh, '>', "$dir/broken.sql") or die;
print $fh "CREATE TABLE ok_so_far (id int);\n\nCREATE TABEL broken (id int);\n";
close($fh);
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', "$dir/broken.sql" ]);
is($rc, 1, 'SQL that does not parse fails the gate');
like($out, qr/^\Q$dir\E\/broken\.sql:3: error: invalid-sql: syntax error at or near "TABEL" \(SQLSTATE 42601\)$/m,
	'... as invalid-sql on the line the parser points at');

# ------------------------------------------------------------------ usage
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--format', 'xml', $pairs ]);
is($rc, 2, 'an unknown format: exit 2');
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', "$dir/missing.sql" ]);
is($rc, 2, 'a missing file: exit 2');
($rc, $out, $err) = run_client($node, 'postgres', ['lint']);
is($rc, 2, 'nothing to lint: exit 2');
($rc, $out, $err) = run_client($node, 'postgres', [ 'lint', '--target', '1', $pairs ]);
is($rc, 2, 'an option of another subcommand: exit 2');
like($err, qr/option --target is not valid for "lint"/, '... saying so');

$node->stop;
done_testing();
