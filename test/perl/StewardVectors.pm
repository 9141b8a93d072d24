# test/perl/StewardVectors.pm: the test vectors (test/vectors/: blocks,
# events and epochs in the documented export format) read, and as the SQL
# that loads them into the ledger tables of a database with pg_steward, as
# a superuser with the append-only protection lifted (the ledger tree's
# nodes are then built by audit_tree_extend()).
package StewardVectors;

use strict;
use warnings;
use Exporter ();
use JSON::PP;

our @ISA = ('Exporter');
our @EXPORT = qw(vectors_read vectors_load_sql);

# the JSON objects of a file of JSON lines
sub json_lines
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "$path: $!";
	my @objects = map { decode_json($_) } grep { /\S/ } <$fh>;
	close $fh;
	return @objects;
}

# { blocks => [...], events => [...], epochs => [...] } of the vectors in dir
sub vectors_read
{
	my ($dir) = @_;
	return {
		blocks => [ json_lines("$dir/blocks.jsonl") ],
		events => [ json_lines("$dir/events.jsonl") ],
		epochs => [ json_lines("$dir/epochs.jsonl") ] };
}

sub lit { my $v = shift; return 'NULL' if !defined $v; $v =~ s/'/''/g; return "'$v'"; }
sub ts { return defined $_[0] ? "('epoch'::timestamptz + $_[0] * interval '1 microsecond')" : 'NULL'; }
sub hex_or_null { return defined $_[0] ? "'\\x$_[0]'" : 'NULL'; }

# the SQL that loads vectors (from vectors_read) into the ledger's tables
sub vectors_load_sql
{
	my ($v) = @_;
	my $load = "SET session_replication_role = replica;\n";
	for my $b (@{ $v->{blocks} })
	{
		$load .= sprintf("INSERT INTO steward.audit_blocks (block_id, format, snapshot, first_position, event_count, "
			  . "sealed_at, merkle_root, prev_hash, block_hash, entries) VALUES (%d, %d, %s, %d, %d, %s, "
			  . "'\\x%s', '\\x%s', '\\x%s', '\\x%s');\n",
			$b->{block_id}, $b->{format}, lit($b->{snapshot}), $b->{first_position}, $b->{event_count},
			ts($b->{sealed_at_us}), $b->{merkle_root}, $b->{prev_hash}, $b->{block_hash}, $b->{entries});
	}
	for my $e (@{ $v->{events} })
	{
		$load .= sprintf("INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, resource_type, "
			  . "resource_id, actor, session_user_name, current_user_name, client_addr, application_name, commitment, "
			  . "salt, payload) VALUES (%d, '%d', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);\n",
			$e->{id}, $e->{xid}, ts($e->{time_us}), lit($e->{event_type}), lit($e->{action}),
			lit($e->{resource_type}), lit($e->{resource_id}), lit($e->{actor}), lit($e->{session_user_name}),
			lit($e->{current_user_name}), lit($e->{client_addr}), lit($e->{application_name}),
			hex_or_null($e->{commitment}), hex_or_null($e->{salt}), lit($e->{payload}));
	}
	my ($retention) = grep { $_->{event_type} eq 'RETENTION' } @{ $v->{events} };
	my $rp = decode_json($retention->{payload});
	for my $ep (@{ $v->{epochs} })
	{
		$load .= sprintf("INSERT INTO steward.audit_epochs (epoch_id, partition_name, range_from, range_to, "
			  . "events_dropped, dropped_root, head_block, head_hash, retention_event) OVERRIDING SYSTEM VALUE "
			  . "VALUES (%d, %s, %s, %s, %d, '\\x%s', %d, '\\x%s', %d);\n",
			$ep->{epoch_id}, lit($ep->{partition}), ts($ep->{from_us}), ts($ep->{to_us}), $ep->{events_dropped},
			$rp->{dropped_root}, $rp->{head_block}, $rp->{head_hash}, $retention->{id});
	}
	return $load . "SET session_replication_role = origin;\nSELECT steward.audit_tree_extend();\n";
}

1;
