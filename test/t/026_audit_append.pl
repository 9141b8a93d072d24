# How an append stores its row (src/audit/insert.c): it goes to the
# partition that takes its time, also right after another session or the
# same one (in the same transaction, in a subtransaction rolled back)
# detached, created or dropped partitions; INSERT triggers someone adds on
# the ledger fire for every append (row triggers, BEFORE STATEMENT) until
# they are dropped; an append made by a constraint while another is being
# stored is stored too; appends in a prepared transaction and in a
# SQL_ASCII database; and tens of thousands of appends in one session and
# in one transaction leave the backend's memory where it was.  No sealer runs (pg_steward.audit_seal_interval = 0), so that no
# partition appears by itself; the ledger is sealed and verified at the end.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('append');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_steward'
search_path = 'public, steward'
pg_steward.audit_seal_interval = 0
max_prepared_transactions = 2
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');

# one session that appends throughout, so that what it keeps is reused
my $app = $node->background_psql('postgres');

# the partition an event is in, and whether that is the one (or the
# default partition) whose bounds take its time
my $where_sql = q{
SELECT c.relname || '|' || (e.tableoid = coalesce(
         (SELECT p.oid FROM steward.audit_partitions a
            JOIN pg_class p ON p.relname = a.partition_name
                           AND p.relnamespace = 'steward'::regnamespace
           WHERE e.event_time >= a.range_from AND e.event_time < a.range_to),
         'steward.audit_events_default'::regclass))
  FROM steward.audit_events e JOIN pg_class c ON c.oid = e.tableoid
 WHERE e.id = %s};

sub append_in
{
	my ($session, $action) = @_;
	return $session->query_safe(
		qq{SELECT audit_append('$action')})
	  =~ s/^\s*\n//r;
}

sub where
{
	my ($id, $session) = @_;
	return $session
	  ? $session->query_safe(sprintf($where_sql, $id))
	  : $node->safe_psql('postgres', sprintf($where_sql, $id));
}

# just after the time of event $id (an append in a later statement has a later time), as a literal, read in $session
sub just_after
{
	my ($session, $id) = @_;
	my $sql = "SELECT quote_literal(event_time + interval '1 microsecond') FROM steward.audit_events WHERE id = $id";
	return ref($session) ? $session->query_safe($sql) : $node->safe_psql('postgres', $sql);
}

my $year = $node->safe_psql('postgres',
	q{SELECT extract(year FROM now() AT TIME ZONE 'UTC')::int});
my $next_year = qq{make_timestamptz($year + 1, 1, 1, 0, 0, 0, 'UTC')};

# --- partitions changed by another session -------------------------------
my $id = append_in($app, 'first');
is(where($id), "audit_events_$year|true", 'an append goes to the partition of its year');

$node->safe_psql('postgres',
	"ALTER TABLE steward.audit_events DETACH PARTITION steward.audit_events_$year");
$id = append_in($app, 'after detach');
is(where($id), 'audit_events_default|true',
	'after another session detached that partition, the next append goes to the default partition');

my $from = just_after(undef, $id);
$node->safe_psql('postgres', qq{
CREATE TABLE steward.audit_events_late PARTITION OF steward.audit_events
    FOR VALUES FROM ($from) TO ($next_year)});
$id = append_in($app, 'after create');
is(where($id), 'audit_events_late|true',
	'a partition another session created takes the next append');

# --- partitions changed by the appending session ---------------------------
$app->query_safe(q{
BEGIN;
ALTER TABLE steward.audit_events DETACH PARTITION steward.audit_events_late;
});
$id = append_in($app, 'detached in this transaction');
is(where($id, $app), 'audit_events_default|true',
	'a partition detached earlier in the same transaction is not used');
$from = just_after($app, $id);
$app->query_safe(qq{
CREATE TABLE steward.audit_events_later PARTITION OF steward.audit_events
    FOR VALUES FROM ($from) TO ($next_year)});
$id = append_in($app, 'created in this transaction');
is(where($id, $app), 'audit_events_later|true',
	'a partition created earlier in the same transaction takes the append');
$app->query_safe('COMMIT');

$app->query_safe(q{
BEGIN;
SAVEPOINT s;
ALTER TABLE steward.audit_events DETACH PARTITION steward.audit_events_later;
});
my $gone = append_in($app, 'in a rolled back subtransaction');
is(where($gone, $app), 'audit_events_default|true', 'detached in a subtransaction: the default partition');
$app->query_safe('ROLLBACK TO SAVEPOINT s');
$id = append_in($app, 'after the rollback');
$app->query_safe('COMMIT');
is(where($id), 'audit_events_later|true',
	'once the subtransaction that detached it rolled back, the partition takes appends again');
is($node->safe_psql('postgres', "SELECT count(*) FROM steward.audit_events WHERE id = $gone"),
	'0', 'the event of the rolled back subtransaction is gone');

$node->safe_psql('postgres', q{
ALTER TABLE steward.audit_events DETACH PARTITION steward.audit_events_later;
DROP TABLE steward.audit_events_later, steward.audit_events_late});
$id = append_in($app, 'after drop');
is(where($id), 'audit_events_default|true',
	'after another session dropped the partitions, appends go to the default partition');

# --- INSERT triggers someone adds to the ledger ----------------------------
$node->safe_psql('postgres', q{
CREATE TABLE public.trigger_log (id bigint, level text);
CREATE FUNCTION public.log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.trigger_log VALUES (CASE WHEN TG_LEVEL = 'ROW' THEN NEW.id END, TG_WHEN || ' ' || TG_LEVEL);
    RETURN NEW;
END $$;
CREATE TRIGGER log_before BEFORE INSERT ON steward.audit_events
    FOR EACH ROW EXECUTE FUNCTION public.log_row();
CREATE TRIGGER log_after AFTER INSERT ON steward.audit_events
    FOR EACH ROW EXECUTE FUNCTION public.log_row();
CREATE TRIGGER log_statement BEFORE INSERT ON steward.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION public.log_row()});
$id = append_in($app, 'with triggers');
is( $node->safe_psql('postgres',
		"SELECT string_agg(level, ', ' ORDER BY level) FROM public.trigger_log WHERE id = $id OR id IS NULL"),
	'AFTER ROW, BEFORE ROW, BEFORE STATEMENT',
	'row and statement INSERT triggers on the ledger fire for an append');
$node->safe_psql('postgres', q{
DROP TRIGGER log_before ON steward.audit_events;
DROP TRIGGER log_after ON steward.audit_events;
DROP TRIGGER log_statement ON steward.audit_events});
$id = append_in($app, 'without triggers');
is($node->safe_psql('postgres', "SELECT count(*) FROM public.trigger_log WHERE id = $id OR id IS NULL"),
	'1', 'once dropped, they fire no more');
is(where($id), 'audit_events_default|true', 'and the append is stored');

# --- an append while another is being stored -------------------------------
$node->safe_psql('postgres', q{
CREATE FUNCTION public.append_inner(a text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF a = 'outer' THEN
        PERFORM audit_append('inner');
    END IF;
    RETURN true;
END $$;
ALTER TABLE steward.audit_events ADD CONSTRAINT append_inner CHECK (public.append_inner(action))});
$id = append_in($app, 'outer');
is( $node->safe_psql('postgres',
		"SELECT string_agg(action, ', ' ORDER BY id) FROM steward.audit_events WHERE id >= $id"),
	'outer, inner',
	'an append made by a constraint of the row being stored is stored too');
$node->safe_psql('postgres',
	'ALTER TABLE steward.audit_events DROP CONSTRAINT append_inner');

# --- a prepared transaction ----------------------------------------------
$app->query_safe(q{BEGIN});
$id = append_in($app, 'prepared');
$app->query_safe(q{PREPARE TRANSACTION 'append_prepared'});
is($node->safe_psql('postgres', "SELECT count(*) FROM steward.audit_events WHERE id = $id"),
	'0', 'the event of a prepared transaction is not visible before it commits');
$node->safe_psql('postgres', q{COMMIT PREPARED 'append_prepared'});
is(where($id), 'audit_events_default|true', 'and is stored when it commits');

# --- read-only transactions ------------------------------------------------
my ($ret, $out, $err) = $node->psql('postgres',
	q{BEGIN READ ONLY; SELECT audit_append('read only')});
like($err, qr/cannot audit_append in a read-only transaction/,
	'a read-only transaction is refused');

# --- memory ------------------------------------------------------------------
$app->query_safe(q{SELECT count(audit_append('warm-up', payload => '{"n": 1}')) FROM generate_series(1, 1000)});
my $before = $app->query_safe(q{SELECT sum(total_bytes) FROM pg_backend_memory_contexts});
$app->query_safe(q{
SELECT count(audit_append('bulk', 'n', g::text, jsonb_build_object('n', g, 'text', repeat('x', 200))))
  FROM generate_series(1, 30000) g});
$app->query_safe(q{
DO $$
BEGIN
    FOR i IN 1..10000 LOOP
        PERFORM audit_append('loop', payload => jsonb_build_object('i', i));
    END LOOP;
END $$});
for (1 .. 200)
{
	$app->query_safe(q{SELECT audit_append('one by one')});
}
my $after = $app->query_safe(q{SELECT sum(total_bytes) FROM pg_backend_memory_contexts});
cmp_ok($after - $before, '<', 1024 * 1024,
	'40 000 appends in one session grow the backend by less than 1 MB'
	  . " (before $before, after $after bytes)");
cmp_ok(
	$app->query_safe(
		q{SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts WHERE name LIKE 'pg_steward%'}),
	'<', 64 * 1024,
	'what an append keeps per backend stays small');
$app->quit;

# --- SQL_ASCII ---------------------------------------------------------------
$node->safe_psql('postgres',
	q{CREATE DATABASE ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('ascii', 'CREATE EXTENSION pg_steward');
is($node->safe_psql('ascii',
		q{SELECT audit_append('ascii', payload => '{"a": "b"}') > 0}),
	't', 'an append in a SQL_ASCII database');
($ret, $out, $err) = $node->psql('ascii', q{SELECT audit_append(E'bad \xff byte')});
like($err, qr/invalid byte sequence for encoding "UTF8": 0xff/,
	'text that is not UTF-8 is refused in a SQL_ASCII database');
is($node->safe_psql('ascii', q{SELECT audit_seal() >= 0; SELECT is_valid || '|' || events_checked FROM verify_audit_chain()}),
	"t\ntrue|1", 'and its ledger verifies');

# --- the ledger of it all verifies -------------------------------------------
$node->safe_psql('postgres', 'SELECT audit_seal()');
is( $node->safe_psql('postgres',
		q{SELECT is_valid || '|' || (events_checked = (SELECT count(*) FROM steward.audit_events)) || '|' || events_unsealed
		    FROM verify_audit_chain()}),
	'true|true|0',
	'every event appended here is sealed and the chain verifies');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM (SELECT id FROM steward.audit_events GROUP BY id HAVING count(*) > 1) d}),
	'0', 'no id was handed out twice');

done_testing();
