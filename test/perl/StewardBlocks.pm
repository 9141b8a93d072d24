# StewardBlocks: the SQL of a block's documented hash and of a forged block,
# for the tests that check blocks or rewrite them as a superuser would.
#
#  * $BLOCK_HASH_SQL: the hash of format 2 (docs/audit.md, "Block hash")
#    of a row of steward.audit_blocks, as an SQL expression over its
#    columns.
#  * forge_block_sql(WHERE): SQL that recomputes the Merkle root of the
#    entries and the hash of the blocks WHERE selects (after a test has
#    changed their entries): a chain a superuser rewrote, which only the
#    events' rows or a digest kept outside can give away.
package StewardBlocks;

use strict;
use warnings;
use Exporter ();

our @ISA    = ('Exporter');
our @EXPORT = qw($BLOCK_HASH_SQL forge_block_sql);

our $BLOCK_HASH_SQL = q{sha256('\x03'::bytea || 'PSB'::bytea || substring(int2send(format) from 2)
       || int8send(block_id) || int8send(first_position) || int8send(event_count)
       || int8send((extract(epoch FROM sealed_at) * 1000000)::bigint)
       || merkle_root || sha256('\x04'::bytea || entries)
       || int8send(pg_snapshot_xmin(snapshot)::text::bigint)
       || int8send(pg_snapshot_xmax(snapshot)::text::bigint)
       || int8send((SELECT count(*) FROM pg_snapshot_xip(snapshot)))
       || coalesce((SELECT string_agg(int8send(x::text::bigint), ''::bytea ORDER BY x)
                      FROM pg_snapshot_xip(snapshot) x), ''::bytea)
       || prev_hash)};

sub forge_block_sql
{
	my ($where) = @_;
	return qq{
CREATE FUNCTION pg_temp.mroot(leaves bytea[]) RETURNS bytea LANGUAGE plpgsql AS \$\$
DECLARE
    n int := coalesce(array_length(leaves, 1), 0);
    k int := 1;
BEGIN
    IF n = 0 THEN RETURN sha256(''::bytea); END IF;
    IF n = 1 THEN RETURN leaves[1]; END IF;
    WHILE k * 2 < n LOOP k := k * 2; END LOOP;
    RETURN sha256('\\x01'::bytea || pg_temp.mroot(leaves[1:k]) || pg_temp.mroot(leaves[k + 1:n]));
END \$\$;
UPDATE steward.audit_blocks
   SET merkle_root = pg_temp.mroot(ARRAY(SELECT substring(entries from i * 56 + 25 for 32)
                                           FROM generate_series(0, event_count::int - 1) i ORDER BY i))
 WHERE $where;
UPDATE steward.audit_blocks SET block_hash = $BLOCK_HASH_SQL WHERE $where;
};
}

1;
