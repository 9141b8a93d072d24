# Making a column required (migrate_expand_require) on a real server with
# real concurrent clients.  pgbench clients run the old application, which
# inserts rows without preferred_language and sets it to NULL, while the
# column is expanded and backfilled: no client fails, and every row has a
# language afterwards.  Contract under a lock held by another session fails
# with the lock timeout after its retries and changes nothing; once the
# lock is gone it validates the helper check and sets NOT NULL, which
# PostgreSQL proves from the valid check without a scan (its DEBUG1
# message says so), and leaves no helper behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('expand_require');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_steward;
CREATE TABLE residents (id bigserial PRIMARY KEY, name text, preferred_language varchar(10),
                        hits int NOT NULL DEFAULT 0);
INSERT INTO residents (name, preferred_language)
     SELECT 'r' || g, CASE WHEN g % 10 = 0 THEN 'tr' END FROM generate_series(1, 50000) g;
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $dir = PostgreSQL::Test::Utils::tempdir;
my $script = "$dir/old_app.sql";
open my $fh, '>', $script or die "cannot write $script: $!";
print $fh q{\set id random(1, 50000)
INSERT INTO residents (name) VALUES ('old-' || :id);
UPDATE residents SET preferred_language = NULL, hits = hits + 1 WHERE id = :id;
};
close $fh;

# the old application: 2 clients, a fixed number of transactions each
my ($out, $err) = ('', '');
my $txns = 20000;
my $h = IPC::Run::start(
	[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-c', 2, '-j', 2,
		'-t', $txns, '-f', $script, 'postgres' ],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres', 'SELECT sum(hits) > 50 FROM residents')
  or die 'the old application did not write';

my $job = sql(q{SELECT migrate_expand_require('rq_1_language', 'residents', 'preferred_language',
                                           fill => $$'de'$$, batch_size => 2000)});
ok($job > 0, 'expanded while the old application writes NULL');
my $last_before = sql('SELECT max(id) FROM residents');
is(sql("SELECT job_wait($job)"), 'succeeded', 'the backfill succeeded under the old application\'s load');
$h->finish;
is($h->result(0), 0, 'the old application never failed: its NULL got the fill value')
  or diag($err);
like($out, qr{actually processed: @{[2 * $txns]}/@{[2 * $txns]}\n},
	'the old application committed every transaction');
cmp_ok(sql("SELECT count(*) FROM residents WHERE id > $last_before"), '>', 0,
	'the old application inserted rows after expand');
is(sql('SELECT count(*) FROM residents WHERE preferred_language IS NULL'), '0',
	'no row is NULL');
is(sql("SELECT migrate_expand_check('rq_1_language')"), '0', 'migrate_expand_check counts no NULL row');
is(sql(q{SELECT count(*) FROM residents WHERE id % 10 = 0 AND id <= 50000 AND preferred_language = 'tr'
           AND hits = 0}),
	sql(q{SELECT count(*) FROM residents WHERE id % 10 = 0 AND id <= 50000 AND hits = 0}),
	'the values there were are kept');

# contract while another session holds a lock on the table: lock timeout,
# retries, nothing changed
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; SELECT count(*) FROM residents WHERE id = 1;');
my ($rc, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT migrate_contract('rq_1_language', lock_timeout => '50ms', lock_retries => 2)});
like($stderr, qr/lock timeout/, 'contract waits at most lock_timeout, retries, then fails');
is(sql(q{SELECT status || ':' || error_sqlstate || ':' || lock_retries FROM migrate_status()
          WHERE version = 'rq_1_language_contract'}),
	'failed:55P03:2', 'the failed contract is recorded with its retries');
is(sql(q{SELECT attnotnull::text || ':' || (SELECT count(*) FROM pg_constraint
                                             WHERE conrelid = 'residents'::regclass AND contype = 'c')
          FROM pg_attribute WHERE attrelid = 'residents'::regclass AND attname = 'preferred_language'}),
	'false:1', 'the failed contract changed nothing');
is(sql(q{SELECT phase FROM migrate_expansions() WHERE version = 'rq_1_language'}), 'expanded',
	'the expansion is still expanded');
$holder->query_safe('COMMIT;');
$holder->quit;

# contract: the valid check proves NOT NULL, so SET NOT NULL does not scan
($rc, $stdout, $stderr) = $node->psql('postgres',
	q{SET client_min_messages = debug1; SELECT migrate_contract('rq_1_language')});
is($rc, 0, 'contract succeeds once the lock is gone') or diag($stderr);
like($stderr,
	qr/existing constraints on column "residents\.preferred_language" are sufficient to prove that it does not contain nulls/,
	'SET NOT NULL was proven by the validated check, without a scan');
is(sql(q{SELECT attnotnull FROM pg_attribute
          WHERE attrelid = 'residents'::regclass AND attname = 'preferred_language'}), 't',
	'the column is NOT NULL');
is(sql(q{SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'residents'::regclass AND contype = 'c')
              + (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'residents'::regclass)}), '0',
	'no helper check and no trigger are left');
is(sql(q{SELECT string_agg(version || ':' || event, ' ' ORDER BY id) FROM migrate_history()
          WHERE version LIKE 'rq_1%'}),
	'rq_1_language:apply rq_1_language_contract:fail rq_1_language_contract:apply',
	'every phase and the failed attempt are in the history');
is(sql(q{SELECT string_agg(action || ':' || resource_id, ' ' ORDER BY id) FROM steward.audit_events
          WHERE event_type = 'SCHEMA_MIGRATION' AND resource_id LIKE 'rq_1%'}),
	'APPLY:rq_1_language FAIL:rq_1_language_contract APPLY:rq_1_language_contract',
	'and on the audit ledger');

$node->stop;
done_testing();
