# pg_steward deploy (docs/client.md) replays the fixture folders of
# test/fixtures/client unattended, one database per layout:
#  * prisma: BEGIN/COMMIT wrapping, a folder name with a space, a data-only
#    folder (migration.ts) reported as skipped and listed in the summary, a
#    CREATE INDEX CONCURRENTLY that becomes a job the deploy waits for, a
#    finding accepted in steward-accept.txt; a rerun is a no-op, and so is
#    a deploy after migrate_import of a _prisma_migrations table;
#  * flyway: --target stops there, U… is stored as the down SQL, R__ is
#    applied again (as a new version) when its checksum changes;
#  * pairs: numeric order, --dry-run changes nothing, a refused finding
#    stops the deploy, --allow with --reason accepts it and is recorded,
#    rollback runs the down file;
# and the exit statuses of usage, connection and server problems.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardClient;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = client_node('client_deploy');
my ($rc, $out, $err, $events);

# ------------------------------------------------------------------ prisma
client_db($node, 'prisma');
my $prisma = fixture('prisma');
($rc, $out, $err) = run_client($node, 'prisma', [ 'deploy', $prisma ]);
is($rc, 1, 'prisma: a skipped data-only folder makes the deploy exit 1') or diag($out, $err);
my @expect = (
	qr/^\Q$prisma\E: prisma layout, 6 migrations$/,
	qr/^20240101000000_init: applied$/,
	qr/^20240115000000_role_enum: applied$/,
	qr/^20240126184148_new_models_copy \(20240126184148_new_models copy\): applied$/,
	qr/^20240201000000_backfill_display_names: skipped \(no SQL file\)$/,
	qr/^20240301000000_posts_author_idx: in_progress: job (\d+) runs its statements that refuse a transaction block$/,
	qr/^20240301000000_posts_author_idx: applied \(job \d+ succeeded\)$/,
	qr/^20240315000000_drop_users_legacy_id: applied$/,
	qr/^summary: 5 applied, 0 unchanged, 1 skipped, 0 refused, 0 failed, 0 not attempted$/,
	qr/^skipped: 20240201000000_backfill_display_names \(no SQL file\) \(exit status 1; --allow-skipped accepts them\)$/);
my @got = grep { !/^    / } @{ lines($out) };
is(scalar(@got), scalar(@expect), 'prisma: one line per migration, the summary and the skipped list');
for my $i (0 .. $#expect)
{
	like($got[$i] // '', $expect[$i], "prisma: line $i");
}
like($out, qr/^    job \d+: succeeded/m, 'prisma: the job\'s progress, as plain lines (stdout is no terminal)');
is( $node->safe_psql(
		'prisma', q{
SELECT string_agg(version || ':' || status || ':' || coalesce(description, ''), ',' ORDER BY version)
  FROM migrate_status()}),
	'20240101000000_init:completed:20240101000000_init,'
	  . '20240115000000_role_enum:completed:20240115000000_role_enum,'
	  . '20240126184148_new_models_copy:completed:20240126184148_new_models copy,'
	  . '20240301000000_posts_author_idx:completed:20240301000000_posts_author_idx,'
	  . '20240315000000_drop_users_legacy_id:completed:20240315000000_drop_users_legacy_id',
	'prisma: every SQL migration is completed; the folder name is kept as the description');
is( $node->safe_psql(
		'prisma', q{
SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
 WHERE e.enumtypid = '"Role"'::regtype}),
	'USER,ADMIN', 'prisma: the BEGIN/COMMIT-wrapped migration ran');
is($node->safe_psql('prisma', q{SELECT indisvalid FROM pg_index WHERE indexrelid = '"posts_authorId_idx"'::regclass}),
	't', 'prisma: the index built CONCURRENTLY is valid');
is($node->safe_psql('prisma',
		q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'legacyId' AND NOT attisdropped}),
	'0', 'prisma: the accepted DROP COLUMN ran');
like($node->safe_psql('prisma',
		q{SELECT review::text FROM migrate_status() WHERE version = '20240315000000_drop_users_legacy_id'}),
	qr/legacyId is unused since the import of 2023 ended/,
	'prisma: the accepted finding\'s reason is recorded with the attempt');
$events = $node->safe_psql('prisma', 'SELECT count(*) FROM migrate_history()');

($rc, $out, $err) = run_client($node, 'prisma', [ 'deploy', '--allow-skipped', $prisma ]);
is($rc, 0, 'prisma: a rerun with --allow-skipped exits 0') or diag($out, $err);
like($out, qr/^summary: 0 applied, 5 unchanged, 1 skipped, 0 refused, 0 failed, 0 not attempted\nskipped: 20240201000000_backfill_display_names \(no SQL file\)\n\z/m,
	'prisma: the rerun finds everything unchanged and still lists the skipped folder');
is($node->safe_psql('prisma', 'SELECT count(*) FROM migrate_history()'), $events,
	'prisma: the rerun recorded nothing');

# adoption: Prisma applied the whole folder, migrate_import records its history
client_db($node, 'adopted');
$node->safe_psql('adopted', q{
CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
SELECT 'a0000000-0000-4000-8000-00000000000' || n, repeat(n::text, 64), now(), name, 1
  FROM unnest(ARRAY['20240101000000_init', '20240115000000_role_enum',
                    '20240126184148_new_models copy', '20240301000000_posts_author_idx',
                    '20240315000000_drop_users_legacy_id']) WITH ORDINALITY AS m(name, n);
});
is( $node->safe_psql(
		'adopted', q{
SELECT string_agg(version || ':' || imported, ',' ORDER BY version) FROM migrate_import('_prisma_migrations')}),
	'20240101000000_init:true,20240115000000_role_enum:true,20240126184148_new_models_copy:true,'
	  . '20240301000000_posts_author_idx:true,20240315000000_drop_users_legacy_id:true',
	'adopted: migrate_import maps the folder names as deploy does');
($rc, $out, $err) = run_client($node, 'adopted', [ 'deploy', '--allow-skipped', $prisma ]);
is($rc, 0, 'adopted: deploy after migrate_import exits 0') or diag($out, $err);
like($out, qr/^summary: 0 applied, 5 unchanged, 1 skipped, 0 refused, 0 failed, 0 not attempted$/m,
	'adopted: every imported migration is unchanged');
is($node->safe_psql('adopted', q{SELECT to_regclass('public.users') IS NULL AND to_regclass('public.posts') IS NULL}),
	't', 'adopted: and nothing ran');

# ------------------------------------------------------------------ flyway
client_db($node, 'flyway');
my $flyway = fixture_copy('flyway');
($rc, $out, $err) = run_client($node, 'flyway', [ 'deploy', '--target', '1.1', $flyway ]);
is($rc, 0, 'flyway: --target 1.1 exits 0') or diag($out, $err);
is( $out,
	"$flyway: flyway layout, 4 migrations\n"
	  . "1 (V1__create_accounts): applied\n"
	  . "1.1 (V1_1__add_account_email): applied\n"
	  . "stopped after the target 1.1\n"
	  . "summary: 2 applied, 0 unchanged, 0 skipped, 0 refused, 0 failed, 0 not attempted\n",
	'flyway: it stops at the target');
is($node->safe_psql('flyway', q{SELECT string_agg(version, ',' ORDER BY version) FROM migrate_status()}),
	'1,1.1', 'flyway: only the first two are recorded');
is($node->safe_psql('flyway', q{SELECT down_sql FROM migrate_status() WHERE version = '1.1'}),
	"ALTER TABLE accounts DROP COLUMN email;\n", 'flyway: the undo script is the down SQL');

($rc, $out, $err) = run_client($node, 'flyway', [ 'deploy', $flyway ]);
is($rc, 0, 'flyway: the rest exits 0') or diag($out, $err);
like($out, qr/^2 \(V2__create_transfers\): applied\nR__account_balances\.([0-9a-f]{12}) \(R__account_balances\): applied\n/m,
	'flyway: the versioned migration, then the repeatable one');
my ($first_hex) = $out =~ /^R__account_balances\.([0-9a-f]{12})/m;
my $sum = $node->safe_psql('flyway',
	q{SELECT migrate_checksum(up_sql) FROM migrate_status() WHERE version LIKE 'R\_\_%'});
like($sum, qr/^v1:sha256:\Q$first_hex\E/, 'flyway: the repeatable\'s version ends in 12 hex digits of its checksum');

($rc, $out, $err) = run_client($node, 'flyway', [ 'deploy', $flyway ]);
is($rc, 0, 'flyway: a rerun exits 0');
like($out, qr/^summary: 0 applied, 4 unchanged, 0 skipped, 0 refused, 0 failed, 0 not attempted$/m,
	'flyway: a rerun is a no-op');

open(my $fh, '>>', "$flyway/R__account_balances.sql") or die;
print $fh "COMMENT ON VIEW account_balances IS 'balance per account, transfers included';\n";
close($fh);
($rc, $out, $err) = run_client($node, 'flyway', [ 'deploy', $flyway ]);
is($rc, 0, 'flyway: a changed repeatable migration deploys') or diag($out, $err);
like($out, qr/^R__account_balances\.(?!\Q$first_hex\E)[0-9a-f]{12} \(R__account_balances\): applied$/m,
	'flyway: it is applied again, under a new version');
like($out, qr/^summary: 1 applied, 3 unchanged, /m, 'flyway: and nothing else');
is($node->safe_psql('flyway', q{SELECT obj_description('account_balances'::regclass)}),
	'balance per account, transfers included', 'flyway: the changed SQL ran');

# ------------------------------------------------------------------- pairs
client_db($node, 'pairs');
my $pairs = fixture('pairs');
($rc, $out, $err) = run_client($node, 'pairs', [ 'deploy', '--target', '2_add_orders_total', $pairs ]);
is($rc, 0, 'pairs: up to 2_add_orders_total') or diag($out, $err);
# the application writes orders: dropping a column is an error now
$node->safe_psql('pairs', q{INSERT INTO orders (customer, legacy_code) VALUES ('ada', 'L-1'), ('grace', NULL)});
$events = $node->safe_psql('pairs', 'SELECT count(*) FROM migrate_history()');

($rc, $out, $err) = run_client($node, 'pairs', [ 'deploy', '--dry-run', $pairs ]);
is($rc, 1, 'pairs: --dry-run exits 1 when a migration would be refused') or diag($out, $err);
like($out, qr/^1_create_orders: unchanged\n2_add_orders_total: unchanged\n3_drop_orders_legacy_code: would be refused by the review \(review: 1 error, 0 warnings\)\n    statement 1: error drop-column on public\.orders: /m,
	'pairs: the dry run names the finding that would refuse it');
like($out, qr/^10_add_orders_note: would apply \(review: 0 errors, 0 warnings\)$/m,
	'pairs: in numeric order, 10 after 3');
like($out, qr/^summary \(dry run, nothing changed\): 1 would apply, 2 unchanged, 0 skipped, 1 would be refused, 0 would fail$/m,
	'pairs: the dry run\'s summary');
is($node->safe_psql('pairs', 'SELECT count(*) FROM migrate_history()'), $events,
	'pairs: --dry-run recorded nothing');
is($node->safe_psql('pairs', q{SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name IN ('legacy_code', 'note')}),
	'1', 'pairs: --dry-run changed no table');

($rc, $out, $err) = run_client($node, 'pairs', [ 'deploy', $pairs ]);
is($rc, 1, 'pairs: a refused migration exits 1');
like($out, qr/^3_drop_orders_legacy_code: refused by the review:\n    statement 1: drop-column on public\.orders: .*\n    accept a finding with a line "3_drop_orders_legacy_code RULE REASON" in \Q$pairs\E\/steward-accept\.txt, or --allow 3_drop_orders_legacy_code:RULE --reason TEXT$/m,
	'pairs: the refusal shows the finding and how to accept it');
like($out, qr/^summary: 0 applied, 2 unchanged, 0 skipped, 1 refused, 0 failed, 1 not attempted$/m,
	'pairs: the deploy stops at the refusal');

($rc, $out, $err) = run_client($node, 'pairs',
	[ 'deploy', '--allow', '3_drop_orders_legacy_code:drop-column', '--reason', 'archived in release 12', $pairs ]);
is($rc, 0, 'pairs: --allow with --reason accepts the finding') or diag($out, $err);
like($out, qr/^3_drop_orders_legacy_code: applied\n10_add_orders_note: applied\n/m, 'pairs: both are applied');
like($node->safe_psql('pairs', q{SELECT review::text FROM migrate_status() WHERE version = '3_drop_orders_legacy_code'}),
	qr/archived in release 12/, 'pairs: the reason is recorded with the attempt');

# versions compare as text on the server: 3_… sorts after 10_…
($rc, $out, $err) = run_client($node, 'pairs', [ 'rollback', '10_add_orders_note' ]);
like("$rc|$out", qr/^1\|10_add_orders_note: rollback failed: migration "10_add_orders_note" is not the newest applied migration$/,
	'pairs: rollback of a version that is not the newest (as text) exits 1');
($rc, $out, $err) = run_client($node, 'pairs', [ 'rollback', '--out-of-order', '10_add_orders_note' ]);
is("$rc|$out", "0|10_add_orders_note: rolled_back\n", 'pairs: rollback --out-of-order runs the .down.sql');
is($node->safe_psql('pairs', q{SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'}),
	'0', 'pairs: the column is gone');
($rc, $out, $err) = run_client($node, 'pairs', [ 'history', '10_add_orders_note' ]);
is($rc, 0, 'pairs: history exits 0');
like($out, qr/\bapply\b.*\n.*\brollback\b/, 'pairs: history lists the apply and the rollback');
($rc, $out, $err) = run_client($node, 'pairs', ['status']);
like($out, qr/^10_add_orders_note +migration +rolled_back /m, 'pairs: status shows the rollback');

# ------------------------------------------- a search_path set against it
# The client's own queries name pg_catalog's operators and functions: a
# schema put before pg_catalog in search_path (by the database's or the
# role's settings) cannot hand them its own.
$node->safe_psql('pairs', q{
CREATE TABLE public.trap_hits (what text);
CREATE SCHEMA trap;
CREATE FUNCTION trap.eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
  $f$BEGIN INSERT INTO public.trap_hits VALUES ('='); RETURN pg_catalog.texteq(a, b); END$f$;
CREATE OPERATOR trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.eq);
CREATE FUNCTION trap.cat(a text, b text) RETURNS text LANGUAGE plpgsql AS
  $f$BEGIN INSERT INTO public.trap_hits VALUES ('||'); RETURN pg_catalog.textcat(a, b); END$f$;
CREATE OPERATOR trap.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.cat);
CREATE FUNCTION trap.to_char(t timestamptz, f text) RETURNS text LANGUAGE plpgsql AS
  $f$BEGIN INSERT INTO public.trap_hits VALUES ('to_char'); RETURN 'x'; END$f$;
GRANT ALL ON SCHEMA trap TO PUBLIC;});
my %trap = (env => { PGOPTIONS => '-c search_path=trap,pg_catalog,public' });
for my $args ([ 'status' ], [ 'history', '10_add_orders_note' ], [ 'jobs' ], [ 'deploy', $pairs ])
{
	($rc, $out, $err) = run_client($node, 'pairs', $args, %trap);
	isnt($rc, 3, "with search_path trap,pg_catalog: $args->[0] runs");
}
is($node->safe_psql('pairs', q{SELECT count(*) FROM public.trap_hits}), '0',
	'none of the client\'s own queries used an operator or function of schema trap');
$node->safe_psql('pairs', q{SELECT 1 WHERE 'a'::text OPERATOR(trap.=) 'a'});
is($node->safe_psql('pairs', q{SELECT count(*) FROM public.trap_hits}), '1', '... which would have been seen');
$node->safe_psql('pairs', q{DROP SCHEMA trap CASCADE; DROP TABLE public.trap_hits});

# ----------------------------------------------------------- exit statuses
($rc, $out, $err) = run_client($node, 'pairs', [ 'deploy', "$pairs/no_such_folder" ]);
is($rc, 2, 'a missing folder: exit 2');
like($err, qr/could not open the folder/, '... saying why');
($rc, $out, $err) = run_client($node, 'pairs', [ 'deploy', '--allow', '3_x:drop-column', $pairs ]);
is($rc, 2, '--allow without --reason: exit 2');
($rc, $out, $err) = run_client($node, 'pairs', [ 'deploy', '--target', 'nope', $pairs ]);
is($rc, 2, 'an unknown --target: exit 2');
($rc, $out, $err) = run_client($node, 'pairs', ['frobnicate'], connect => 0);
is($rc, 2, 'an unknown subcommand: exit 2');
($rc, $out, $err) = run_client($node, 'pairs', [ 'deploy', '--help' ], connect => 0);
like("$rc|$out", qr/^0\|Usage:\n  pg_steward deploy \[OPTION\]\.\.\. DIR\n/, 'deploy --help');
$node->safe_psql('postgres', 'CREATE DATABASE bare');
($rc, $out, $err) = run_client($node, 'bare', [ 'deploy', $pairs ]);
is($rc, 4, 'a database without the extension: exit 4');
like($err, qr/the extension pg_steward is not installed in database "bare"/, '... saying so');
my $port = PostgreSQL::Test::Cluster::get_free_port();
($rc, $out, $err) = run_client($node, 'pairs', [ 'status', '-p', $port ]);
is($rc, 3, 'no server to connect to: exit 3');

$node->stop;
done_testing();
