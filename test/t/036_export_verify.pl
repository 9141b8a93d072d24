# pg_steward export and verify-export (docs/audit.md, "Exporting the
# ledger"; docs/client.md): the whole ledger in one snapshot as JSON lines,
# checked with no server at all.
#  * a ledger of several blocks with a redaction and a retention epoch is
#    exported by the exporter role docs/operations.md sets up (the auditor
#    it sets up cannot export: it sees no payload), while another
#    session keeps appending and sealing, and verify-export finds it valid
#    with the server's counts;
#  * with the server stopped and no PG* variable set: valid against a
#    digest (v2, and v1 without the tree), a signed digest with its public
#    key; refused with another key; a digest the export does not match is
#    reported as the server reports it;
#  * the database tampered as a superuser (payload, deleted row, inserted
#    row, block hash, erased payload, kept salt, changed field, moved time,
#    a row stored twice, an entry sealed twice (a forged last block),
#    epoch): verify-export of a fresh export reports exactly the problem
#    verify_audit_chain() reports, and the same counts;
#  * the file tampered (a payload, an event line dropped, the end line
#    dropped, an event moved to another block, the header, a line cut):
#    reported or refused, never valid;
#  * the test vectors (test/vectors) loaded into a database, exported and
#    verified: the server's verdict;
#  * an export larger than verify-export reads at a time (a block line
#    longer than its buffer): valid, and a change deep inside found.
use strict;
use warnings;
use lib "$ENV{TESTDIR}/test/perl";
use StewardClient;
use StewardVectors;
use StewardBlocks;
require StewardSecurity;    # its documented roles only (no memory cap)
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = PostgreSQL::Test::Utils::tempdir();
my ($rc, $out, $err);

signing_key($dir, $_) for 'key', 'other';

# sealed by the test (and the background writer) only
my $node = client_node('export_verify', "pg_steward.audit_seal_interval = 0\n");
client_db($node, 'clinic');
sub sql { my ($q, $db) = @_; return $node->safe_psql($db // 'clinic', $q); }

sql(q{
SELECT audit_append('READ', 'patient', 'P-1', '{"field": "diagnosis"}', 'dr.adeyemi');
SELECT audit_append('UPDATE', 'patient', 'P-1', '{"field": "dosage", "note": "Größe ✓ \"q\" \\\\ 😀"}', 'dr.adeyemi');
SELECT audit_append('READ', 'patient', 'P-2', NULL, 'dr.jung');
SELECT count(audit_append('READ', 'ward', 'W-' || g % 7, jsonb_build_object('bed', g), 'nurse.' || g % 3))
  FROM generate_series(1, 300) g;
SELECT audit_seal();
CREATE TABLE steward.audit_events_2010 PARTITION OF steward.audit_events
    FOR VALUES FROM ('2010-01-01 00:00+00') TO ('2011-01-01 00:00+00');
INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, session_user_name, current_user_name)
SELECT nextval('steward.audit_events_id_seq'), pg_current_xact_id(), t, 'APPLICATION', 'OLD', 'archive', 'archive'
  FROM (VALUES ('2010-03-01 08:00+00'::timestamptz), ('2010-09-01 17:30+00')) v(t);
SELECT audit_append('EXPORT', 'patient', 'P-1', '{"to": "lab"}', 'dr.jung');
SELECT audit_seal();
SELECT audit_redact((SELECT min(id) FROM steward.audit_events WHERE action = 'UPDATE'), 'erasure request 2026-17');
SELECT audit_seal();
SELECT audit_set_retention('APPLICATION', '1 year');
SELECT count(*) FROM audit_drop_expired();
SELECT audit_append('LOGIN', 'user', 'dr.jung');
SELECT audit_seal();
SELECT count(audit_append('READ', 'ward', 'W-' || g, NULL, 'nurse')) FROM generate_series(1, 40) g;
SELECT audit_seal();
SELECT audit_append('READ', 'patient', 'P-9', '{"unsealed": true}', 'dr.jung');
});
is(sql('SELECT count(*) FROM steward.audit_epochs'), '1', 'the ledger has a retention epoch');
is(sql(q{SELECT events_redacted FROM verify_audit_chain()}), '1', '... and a redacted event');
cmp_ok(sql('SELECT count(*) FROM steward.audit_blocks'), '>=', 5, '... and several blocks');

# the verdict of the server in verify-export's words
sub server_verdict
{
	my ($db) = @_;
	return sql(q{SELECT CASE WHEN problem IS NULL THEN 'no problem found'
                        WHEN first_bad_block = 0 AND first_bad_position = 0 THEN 'position 0: ' || problem
                        ELSE 'block ' || first_bad_block || ', position ' || first_bad_position || ': ' || problem END
                   || E'\n' || 'checked: ' || blocks_checked || ' blocks, ' || events_checked || ' events ('
                   || events_redacted || ' redacted, ' || events_pruned || ' pruned), '
                   || events_unsealed || ' not sealed'
              FROM steward.verify_audit_chain()}, $db);
}

# verify-export with no PG* variable at all
sub vexport
{
	my @cmd = ($CLIENT, 'verify-export', @_);
	my ($o, $e) = ('', '');
	local %ENV = %ENV;
	delete $ENV{$_} for grep { /^PG/ } keys %ENV;
	IPC::Run::run(\@cmd, '<', \undef, '>', \$o, '2>', \$e);
	return ($? >> 8, $o, $e);
}

sub first_two { my @l = split /\n/, $_[0]; return join("\n", grep { defined } @l[0, 1]); }
sub slurp_lines { open(my $fh, '<', $_[0]) or die "$_[0]: $!"; my @l = <$fh>; close $fh; return @l; }

sub write_lines
{
	my ($path, @l) = @_;
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh @l;
	close $fh;
	return $path;
}

# ------------------------- the roles docs/operations.md sets up: the exporter
sql(StewardSecurity::documented_setup_sql());
($rc, $out, $err) = run_client($node, 'clinic', [ 'export', '-U', 'auditor', '--out', "$dir/auditor.jsonl" ]);
is($rc, 4, 'the documented auditor cannot export: it sees no payload');
like($err, qr/permission denied/, '... permission denied');
my $e0 = "$dir/e0.jsonl";
($rc, $out, $err) = run_client($node, 'clinic', [ 'export', '-U', 'exporter', '--out', $e0 ]);
is("$rc|$out", "0|$e0\n", 'export --out as the documented exporter (SELECT on the ledger tables, audit_digest())') or diag($err);
is(scalar(() = glob("$dir/*.tmp")), 0, '... and no temporary file is left');
my @l0 = slurp_lines($e0);
like($l0[0], qr/^\{"kind" : "export", "format" : 1, .*"tree_root" : "[0-9a-f]{64}"/, '... the header first');
like($l0[1], qr/^\{"kind" : "epoch", "epoch_id" : 1, "partition" : "audit_events_2010"/, '... then the epoch');
like($l0[2], qr/^\{"kind" : "block", "block_id" : 1,/, '... then block 1');
like($l0[3], qr/^\{"kind" : "event", "id" : 1,/, '... followed by its first event');
like($l0[-1], qr/^\{"kind":"end","blocks":\d+,"events":\d+,"epochs":1\}\n\z/, '... and the end line last');
like($l0[-2], qr/"resource_id" : "P-9"/, 'the event not sealed yet comes after the last block\'s');
($rc, $out, $err) = vexport($e0);
is($rc, 0, 'verify-export: the export is valid') or diag($out, $err);
is(first_two($out), server_verdict(), '... with the server\'s verdict and counts');
like($out, qr/\nhead: block \d+, position \d+, hash [0-9a-f]{64}, tree_size \d+, tree_root [0-9a-f]{64}\n\z/,
	'... and the head');

($rc, $out, $err) = run_client($node, 'clinic', [ 'export', '-U', 'exporter' ]);
is($rc, 0, 'export without --out writes to standard output');
{
	my ($o, $f) = ($out, join('', @l0));
	s/"exported_at" : "[^"]*"// for $o, $f;
	is($o, $f, '... the same lines (but the export time)');
}

sql(q{REVOKE SELECT ON steward.audit_events FROM exporter});
($rc, $out, $err) = run_client($node, 'clinic', [ 'export', '-U', 'exporter', '--out', "$dir/no.jsonl" ]);
is($rc, 4, 'export without SELECT on audit_events: exit 4');
like($err, qr/could not export .*permission denied/, '... with the server\'s reason');
ok(!-e "$dir/no.jsonl" && !-e "$dir/no.jsonl.tmp", '... and no file is left');

# ------------------------------------- an export while another session writes
# the writer appends one event per transaction and seals every fifth, until
# the test tells it to stop (a row in writer_stop), at most 100000 times
sql(q{CREATE TABLE writer_stop (stop boolean)});
write_lines("$dir/writer.sql", q{
DO $$ BEGIN
    FOR i IN 1 .. 100000 LOOP
        PERFORM steward.audit_append('READ', 'patient', 'bg-' || i, jsonb_build_object('n', i));
        COMMIT;
        IF i % 5 = 0 THEN PERFORM steward.audit_seal(); COMMIT; END IF;
        EXIT WHEN EXISTS (SELECT FROM writer_stop);
    END LOOP;
END $$;
});
my ($bout, $berr) = ('', '');
my $before = sql('SELECT count(*) FROM steward.audit_events');
my $bg = IPC::Run::start([ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $node->host, '-p', $node->port,
		'-d', 'clinic', '-f', "$dir/writer.sql" ], '<', \undef, '>', \$bout, '2>', \$berr);
$node->poll_query_until('clinic', "SELECT count(*) > $before + 50 FROM steward.audit_events")
  or die 'the background writer does not write';
my $e1 = "$dir/e1.jsonl";
($rc, $out, $err) = run_client($node, 'clinic', [ 'export', '--out', $e1 ]);
is($rc, 0, 'export while another session appends and seals') or diag($err);
my ($endline) = grep { /"kind":"end"/ } slurp_lines($e1);
my $exported = decode_json($endline)->{events};
ok($node->poll_query_until('clinic', "SELECT count(*) > $exported FROM steward.audit_events"),
	'... it ended before the writer did');
sql(q{INSERT INTO writer_stop VALUES (true)});
$bg->finish;
is($?, 0, '... the writer was never blocked or refused') or diag($berr);
cmp_ok($exported, '>', $before, '... and began after the writer had started');
($rc, $out, $err) = vexport($e1);
is($rc, 0, '... and verify-export finds it valid') or diag($out, $err);
like($out, qr/^no problem found\nchecked: \d+ blocks, \d+ events \(1 redacted, 2 pruned\), \d+ not sealed\n/,
	'... with the redaction and the pruned events');

# ------------------------------------------------------------------ digests
my $d1 = "$dir/d1.json";
($rc, $out, $err) = run_client($node, 'clinic', [ 'digest', '--out', $d1, '--sign-key', "$dir/key.pem" ]);
is($rc, 0, 'a signed digest') or diag($err);
sql(q{SELECT count(audit_append('READ', 'ward', 'after', NULL, 'nurse')) FROM generate_series(1, 5); SELECT audit_seal();});
my $e2 = "$dir/e2.jsonl";
($rc, $out, $err) = run_client($node, 'clinic', [ 'export', '--out', $e2 ]);
is($rc, 0, 'an export after the digest') or diag($err);
my $verdict2 = server_verdict();
my $dg = decode_json(slurp_file($d1));

# ----------------------------------------------------------- the vectors
sql('CREATE DATABASE vectors', 'postgres');
sql('CREATE EXTENSION pg_steward', 'vectors');
sql(vectors_load_sql(vectors_read("$ENV{TESTDIR}/test/vectors")), 'vectors');
my $ev = "$dir/vectors.jsonl";
($rc, $out, $err) = run_client($node, 'vectors', [ 'export', '--out', $ev ]);
is($rc, 0, 'the test vectors loaded into a database are exported') or diag($err);
my $verdict_vectors = server_verdict('vectors');
like($verdict_vectors, qr/^no problem found\nchecked: 5 blocks, \d+ events \(1 redacted, 2 pruned\), 0 not sealed\z/,
	'... the server finds them valid');
my $tree = decode_json(slurp_file("$ENV{TESTDIR}/test/vectors/tree.json"));

# ----------------------------------------- database tampering, server kept
# each case in a copy of the database: the same text as verify_audit_chain()
my @tampers = (
	[ 'a changed payload', q{UPDATE steward.audit_events SET payload = '{"field": "x"}' WHERE id = 1},
		qr/the payload of event 1 does not match its commitment/ ],
	[ 'a deleted sealed event', q{DELETE FROM steward.audit_events WHERE id = 17},
		qr/event 17 is missing: it was deleted after sealing/ ],
	[ 'an inserted row',
		q{INSERT INTO steward.audit_events SELECT 100000, xid, event_time, event_type, action, resource_type,
                 resource_id, actor, session_user_name, current_user_name, client_addr, application_name,
                 commitment, salt, payload FROM steward.audit_events WHERE id = 20},
		qr/event 100000 is not in the chain: it was inserted after sealing/ ],
	[ 'a changed block hash', q{UPDATE steward.audit_blocks SET block_hash = sha256('x') WHERE block_id = 2},
		qr/^block 2, position \d+: block 2: its hash does not match its header/ ],
	[ 'a payload erased without a record', q{UPDATE steward.audit_events SET payload = NULL, salt = NULL WHERE id = 4},
		qr/the payload of event 4 was erased without a redaction record/ ],
	[ 'a salt kept', q{UPDATE steward.audit_events SET payload = NULL WHERE id = 5},
		qr/event 5 has a salt but no payload/ ],
	[ 'a changed field', q{UPDATE steward.audit_events SET actor = 'mallory' WHERE id = 9},
		qr/event 9 was changed after sealing/ ],
	[ 'a moved time', q{UPDATE steward.audit_events SET event_time = event_time + interval '1 second' WHERE id = 11},
		qr/event 11 was moved: its xid or time differs/ ],
	[ 'a changed epoch', q{UPDATE steward.audit_epochs SET events_dropped = 3},
		qr/^position 0: the retention epochs do not match the newest RETENTION event/ ],
	[ 'a block removed', q{DELETE FROM steward.audit_blocks WHERE block_id = 3},
		qr/^block 3, position \d+: block 3 is missing: the next block is 4/ ],
	[ 'a row stored twice',
		q{INSERT INTO steward.audit_events SELECT id, xid, event_time + interval '1 second', event_type, action,
                 resource_type, resource_id, actor, session_user_name, current_user_name, client_addr,
                 application_name, commitment, salt, payload FROM steward.audit_events WHERE id = 20},
		qr/event 20 is stored twice: more than one row has its id/ ],
	# the last block rewritten with its second entry a copy of its first, its
	# root and hash recomputed: the index by id finds the later one
	[ 'an entry sealed twice',
		q{UPDATE steward.audit_blocks
             SET entries = substring(entries from 1 for 56) || substring(entries from 1 for 56) || substring(entries from 113)
           WHERE block_id = (SELECT max(block_id) FROM steward.audit_blocks);}
		  . forge_block_sql('block_id = (SELECT max(block_id) FROM steward.audit_blocks)'),
		qr/^block \d+, position \d+: event \d+ is sealed twice/ ],
	[ 'a tampered vector', q{UPDATE steward.audit_events SET resource_id = 'P-3' WHERE id = 3},
		qr/event 3 was changed after sealing/, 'vectors' ]);
my $n = 0;
for my $t (@tampers)
{
	my ($name, $change, $want, $from) = @$t;
	my $db = 'tampered' . ++$n;
	sql(qq{CREATE DATABASE $db TEMPLATE } . ($from // 'clinic'), 'postgres');
	sql("SET session_replication_role = replica; $change", $db);
	my $server = server_verdict($db);
	like($server, $want, "$name: the server reports it");
	my $f = "$dir/$db.jsonl";
	($rc, $out, $err) = run_client($node, $db, [ 'export', '--out', $f ]);
	is($rc, 0, "$name: exported") or diag($err);
	($rc, $out, $err) = vexport($f);
	is($rc, 1, "$name: verify-export exits 1") or diag($out, $err);
	is(first_two($out), $server, "$name: verify-export reports exactly the server's problem and counts");
}

# ------------------------------------------- an export larger than a chunk
# verify-export reads 1 MB and at most 2048 lines at a time, parsed and
# hashed by two threads: a block of 20000 events (its line over 2 MB, longer
# than the buffer) and its event lines cross both bounds; a changed payload
# deep inside is found where the server finds it, and a file whose last
# line has no newline is read to its end.
client_db($node, 'big');
sql(q{SELECT count(audit_append('READ', 'ward', 'W-' || g, jsonb_build_object('bed', g, 'note', repeat('é"', g % 97)), 'nurse'))
        FROM generate_series(1, 20000) g;
      SELECT audit_seal();
      SELECT count(audit_append('READ', 'ward', 'X-' || g, NULL, 'nurse')) FROM generate_series(1, 3001) g;
      SELECT audit_seal();}, 'big');
my $eb = "$dir/big.jsonl";
($rc, $out, $err) = run_client($node, 'big', [ 'export', '--out', $eb ]);
is($rc, 0, 'a large export') or diag($err);
cmp_ok(-s $eb, '>', 4 * 1024 * 1024, '... of more than 4 MB');
($rc, $out, $err) = vexport($eb);
is("$rc|" . first_two($out), "0|" . server_verdict('big'), '... valid, with the server\'s counts') or diag($err);
my @lb = slurp_lines($eb);
chomp $lb[-1];
($rc, $out, $err) = vexport(write_lines("$dir/big-nonl.jsonl", @lb));
is($rc, 0, '... and without the last newline') or diag($out, $err);
sql(q{CREATE DATABASE big2 TEMPLATE big}, 'postgres');
sql(q{SET session_replication_role = replica;
      UPDATE steward.audit_events SET payload = payload || '{"bed": 0}' WHERE id = 15555;
      DELETE FROM steward.audit_events WHERE id = 21234;}, 'big2');
my $server_big2 = server_verdict('big2');
like($server_big2, qr/^block 1, position 15555: the payload of event 15555 does not match its commitment\n/,
	'a payload changed and a row deleted in the large ledger: the server reports the payload');
($rc, $out, $err) = run_client($node, 'big2', [ 'export', '--out', "$dir/big2.jsonl" ]);
($rc, $out, $err) = vexport("$dir/big2.jsonl");
is("$rc|" . first_two($out), "1|$server_big2", '... and so does verify-export, with the same counts') or diag($err);

# -------------------------------------------- strings full of escapes
# Payloads and resource ids whose escapes in the file (\" \\ \n; a
# payload's JSON text is escaped once more: \\\" \\n \\t \\u001f) and
# non-ASCII bytes fall at every offset of long plain runs, so that a string
# decoded a window of bytes at a time (json.c) has each of them at each
# place in a window and across its end: a byte decoded wrong changes a
# commitment or a leaf, and the export would not verify.
client_db($node, 'escapes');
sql(q{SELECT count(audit_append('READ', 'ward',
        'E-"' || g || repeat('\', g % 3) || repeat('a', g % 131)
                    || CASE g % 3 WHEN 0 THEN E'\n' WHEN 1 THEN '\' ELSE '"' END || 'z',
        jsonb_build_object('s', repeat('a', g % 67) || repeat('"', g % 5) || '/' || repeat('\', g % 4)
                                || '"' || E'\n\t' || CASE WHEN g % 11 = 0 THEN chr(31) ELSE '' END
                                || repeat('x/"\', g % 29) || CASE WHEN g % 13 = 0 THEN 'ü' ELSE '' END
                                || repeat('b', (g * 7) % 131) || '"'),
        'nurse'))
        FROM generate_series(1, 600) g;
      SELECT audit_seal();}, 'escapes');
($rc, $out, $err) = run_client($node, 'escapes', [ 'export', '--out', "$dir/escapes.jsonl" ]);
is($rc, 0, 'strings full of escapes: exported') or diag($err);
my ($esc_line) = grep { /"resource_id" : "E-\\"22\\\\a{22}\\\\z"/ } slurp_lines("$dir/escapes.jsonl");
ok(defined $esc_line && $esc_line =~ /\\\\u001f/ && $esc_line =~ /x\/\\\\\\"\\\\\\\\x/,
	'... the file has escaped quotes, backslashes and control characters') or diag($esc_line);
($rc, $out, $err) = vexport("$dir/escapes.jsonl");
is("$rc|" . first_two($out), "0|" . server_verdict('escapes'), '... and verifies, with the server\'s counts')
	or diag($out, $err);
# the same file with the slashes of the payloads escaped (\/, which export
# never writes): the same bytes, so the same verdict
my @esc = slurp_lines("$dir/escapes.jsonl");
my @slashed = map { my $l = $_; $l =~ s{x/}{x\\/}g if $l =~ /^\{"kind" : "event"/; $l } @esc;
cmp_ok(scalar(grep { m{x\\/} } @slashed), '>=', 500, 'slashes escaped as \/ in the payloads');
($rc, $out, $err) = vexport(write_lines("$dir/escapes-slashed.jsonl", @slashed));
is("$rc|" . first_two($out), "0|" . server_verdict('escapes'), '... decode to the same bytes: valid')
	or diag($out, $err);
# a raw control byte, and a byte that is not UTF-8, early in a string with
# a long line after it: refused as a string JSON cannot hold
my ($ie) = grep { $esc[$_] =~ /"resource_id" : "E-\\"22\\\\/ } 0 .. $#esc;
for my $case ([ "\x01", qr/a control character in a string/, 'a raw control byte' ],
	[ "\xff", qr/invalid UTF-8 in a string/, 'a byte that is not UTF-8' ])
{
	my @t = @esc;
	$t[$ie] =~ s/"resource_id" : "E-/"resource_id" : "E-$case->[0]/;
	my $ln = $ie + 1;
	($rc, $out, $err) = vexport(write_lines("$dir/escapes-bad.jsonl", @t));
	is($rc, 4, "$case->[2] in a long line: exit 4");
	like($err, qr/line $ln: not a JSON object of an export: at byte \d+: $case->[1]/, '... and why');
}

# ------------------------------------------------ no server from here on
$node->stop;

($rc, $out, $err) = vexport($e2, '--digest', $d1);
is($rc, 0, 'verify-export --digest: the digest\'s block is in the export, with its tree root') or diag($out, $err);
is(first_two($out), $verdict2, '... the server\'s verdict');
like($out, qr/\nthe digest \Q$d1\E names block $dg->{block} of this export, and its tree root\n\z/, '... and says so');
($rc, $out, $err) = vexport($e2, '--digest', $d1, '--public-key', "$dir/key.pub.pem");
is($rc, 0, '... and with the digest\'s signature checked') or diag($out, $err);
($rc, $out, $err) = vexport($e2, '--digest', $d1, '--public-key', "$dir/other.pub.pem");
is($rc, 1, 'another public key: exit 1');
like($out, qr/^the digest \Q$d1\E is NOT trusted: its signature/, '... the digest is not trusted');
($rc, $out, $err) = vexport($e2, '--public-key', "$dir/key.pub.pem");
is($rc, 2, '--public-key without --digest: exit 2');
($rc, $out, $err) = vexport($e2, '-d', 'clinic');
is($rc, 2, 'a connection option: exit 2 (verify-export never connects)');

sub digest_file
{
	my ($name, %set) = @_;
	my %d = (%$dg, %set);
	delete $d{$_} for grep { !defined $set{$_} && exists $set{$_} } keys %set;
	return write_lines("$dir/$name", JSON::PP->new->canonical->encode(\%d) . "\n");
}
($rc, $out, $err) = vexport($e2, '--digest', digest_file('v1.json', tree_size => undef, tree_root => undef,
		format => 'pg_steward ledger digest v1'));
is($rc, 0, 'a v1 digest (no tree) is checked by its block') or diag($out, $err);
($rc, $out, $err) = vexport($e2, '--digest', digest_file('rewritten.json', hash => 'ab' x 32));
is("$rc|" . (split /\n/, $out)[0],
	"1|block $dg->{block}, position $dg->{position}: block $dg->{block} does not match the trusted digest: the chain was rewritten",
	'a digest whose hash differs: the chain was rewritten');
($rc, $out, $err) = vexport($e2, '--digest', digest_file('root.json', tree_root => 'cd' x 32));
is("$rc|" . (split /\n/, $out)[0],
	"1|block $dg->{block}, position $dg->{position}: the ledger tree of $dg->{tree_size} events does not have the root the trusted digest names",
	'a digest whose tree root differs');
# a block far beyond any the background writer above can have sealed
($rc, $out, $err) = vexport($e2, '--digest', digest_file('future.json', block => 999999999, position => 99999999999,
		tree_size => 99999999999));
like("$rc|$out", qr/^1\|block 999999999, position \d+: the ledger is truncated: block 999999999 named by the trusted digest is missing \(the chain ends at block \d+, position \d+\)\n/,
	'a digest of a block the export does not have: truncated');

# the vectors' heads as digests
for my $h (@{ $tree->{heads} })
{
	my $f = write_lines("$dir/vh$h->{block}.json", encode_json($h) . "\n");
	($rc, $out, $err) = vexport($ev, '--digest', $f);
	is("$rc|" . first_two($out), "0|$verdict_vectors", "the vectors against their head at block $h->{block}")
	  or diag($out, $err);
}

# ------------------------------------------------------------ file tampering
my @l2 = slurp_lines($e2);
my ($ip) = grep { $l2[$_] =~ /"kind" : "event"/ && $l2[$_] =~ /"payload" : "\{\\"bed\\": 7\}"/ } 0 .. $#l2;
my $t1 = write_lines("$dir/t1.jsonl", @l2[0 .. $ip - 1], $l2[$ip] =~ s/\\"bed\\": 7\}/\\"bed\\": 8}/r, @l2[$ip + 1 .. $#l2]);
($rc, $out, $err) = vexport($t1);
my ($id7) = $l2[$ip] =~ /"id" : (\d+)/;
like("$rc|$out", qr/^1\|block \d+, position \d+: the payload of event $id7 does not match its commitment\n/,
	'a payload edited in the file is reported');

my $t2 = write_lines("$dir/t2.jsonl", @l2[0 .. $ip - 1], @l2[$ip + 1 .. $#l2]);
($rc, $out, $err) = vexport($t2);
is($rc, 4, 'an event line dropped: exit 4');
like($err, qr/is malformed or was edited: line \d+: the end line counts/, '... the counts differ from the end line\'s');
my @l3 = (@l2[0 .. $ip - 1], @l2[$ip + 1 .. $#l2]);
$l3[-1] =~ s/"events":(\d+)/'"events":' . ($1 - 1)/e;
($rc, $out, $err) = vexport(write_lines("$dir/t3.jsonl", @l3));
like("$rc|$out", qr/^1\|block \d+, position \d+: event $id7 is missing: it was deleted after sealing\n/,
	'... and with the end line fixed too, the event is missing');

($rc, $out, $err) = vexport(write_lines("$dir/t4.jsonl", @l2[0 .. $#l2 - 1]));
is($rc, 4, 'the end line dropped: exit 4');
like($err, qr/there is no end line: the export is truncated/, '... truncated');
($rc, $out, $err) = vexport(write_lines("$dir/t5.jsonl", @l2[0 .. 10], substr($l2[11], 0, 50)));
is($rc, 4, 'a file cut in a line: exit 4');
like($err, qr/is malformed or was edited: line 12: not a JSON object/, '... not JSON');

# an event of block 1 moved after block 2
my @b = grep { $l2[$_] =~ /"kind" : "block"/ } 0 .. $#l2;
my @moved = @l2;
my ($ev1) = splice(@moved, $b[0] + 1, 1);
splice(@moved, $b[1], 0, $ev1);    # now after block 2's line (shifted by one)
@moved = @l2;
splice(@moved, $b[0] + 1, 1);
my ($b2) = grep { $moved[$_] =~ /"kind" : "block", "block_id" : 2,/ } 0 .. $#moved;
splice(@moved, $b2 + 1, 0, $ev1);
($rc, $out, $err) = vexport(write_lines("$dir/t6.jsonl", @moved));
is($rc, 4, 'an event moved to another block\'s section: exit 4');
like($err, qr/follows block 2, but an earlier block's snapshot shows its transaction completed/, '... not its home block');

my @h = @l2;
$h[0] =~ s/"hash" : "[0-9a-f]{64}"/'"hash" : "' . ('0' x 64) . '"'/e;
($rc, $out, $err) = vexport(write_lines("$dir/t7.jsonl", @h));
is($rc, 4, 'a header edited: exit 4');
like($err, qr/the header names block/, '... it does not name the last block');
my @k = @l2;
$k[2] =~ s/"kind" : "block"/"kind" : "blocks"/;
($rc, $out, $err) = vexport(write_lines("$dir/t8.jsonl", @k));
is($rc, 4, 'an unknown kind: exit 4');
like($err, qr/an unknown kind "blocks"/, '... named');
my @hr = @l2;
$hr[0] =~ s/"tree_root" : "[0-9a-f]{64}"/'"tree_root" : "' . ('1' x 64) . '"'/e;
($rc, $out, $err) = vexport(write_lines("$dir/t9.jsonl", @hr));
like("$rc|$out", qr/^1\|block \d+, position \d+: the ledger tree of \d+ events does not have the root the export's header names\n/,
	'a tree root in the header that the leaves do not give');

# hex read sixteen digits at a time: a bad digit deep in a commitment or in
# a block's entries is still refused
my @hx = @l2;
my ($ic) = grep { $hx[$_] =~ /"kind" : "event"/ && $hx[$_] =~ /"commitment" : "[0-9a-f]{64}"/ } 0 .. $#hx;
$hx[$ic] =~ s/("commitment" : "[0-9a-f]{40})[0-9a-f]/${1}x/;
($rc, $out, $err) = vexport(write_lines("$dir/t10.jsonl", @hx));
is($rc, 4, 'a commitment that is not hex: exit 4');
like($err, qr/the commitment of event \d+ is not hex/, '... named');
@hx = @l2;
my ($ib) = grep { $hx[$_] =~ /"kind" : "block"/ } 0 .. $#hx;
$hx[$ib] =~ s/("entries" : "[0-9a-f]{100})[0-9a-f]/${1}g/;
($rc, $out, $err) = vexport(write_lines("$dir/t11.jsonl", @hx));
is($rc, 4, 'entries that are not hex: exit 4');
like($err, qr/the entries of block \d+ are not hex/, '... named');

# an event line written otherwise than export writes it (no spaces, members
# after "kind" in another order) is read the long way, with the same
# verdict; a value
# json cannot hold (an unknown escape) is refused either way
my @cp = @l2;
my ($iv) = grep { $cp[$_] =~ /^\{"kind" : "event", "id" : \d+, / } 0 .. $#cp;
$cp[$iv] =~ s/^\{"kind" : "event", "id" : (\d+), "xid" : (\d+), /{"kind":"event","xid":$2,"id":$1, /;
($rc, $out, $err) = vexport(write_lines("$dir/t12.jsonl", @cp));
is("$rc|" . first_two($out), "0|$verdict2", 'an event line written otherwise: the same verdict') or diag($err);
my @bad = @l2;
$bad[$iv] =~ s/"resource_id" : "/"resource_id" : "\\q/;
my $at = index($bad[$iv], '\q') + 1;
my $ln = $iv + 1;
($rc, $out, $err) = vexport(write_lines("$dir/t13.jsonl", @bad));
is($rc, 4, 'an unknown escape in an event line: exit 4');
like($err, qr/line $ln: not a JSON object of an export: at byte $at: an unknown escape in a string/,
	'... said so, where it is');
$bad[$iv] =~ s/^\{"kind" : "event", /{"kind":"event", /;
$at = index($bad[$iv], '\q') + 1;
($rc, $out, $err) = vexport(write_lines("$dir/t14.jsonl", @bad));
like($err, qr/line $ln: not a JSON object of an export: at byte $at: an unknown escape in a string/,
	'... in the same words when the line is read the long way');

done_testing();
