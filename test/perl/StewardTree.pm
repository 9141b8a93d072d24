# StewardTree: a second, minimal verifier of the ledger tree's receipts and
# consistency proofs, written from docs/audit.md ("The ledger tree") with
# Perl's core modules only (Digest::SHA, MIME::Base64, JSON::PP), so that
# the tests check the specification, not pg_steward's C code.
#
#  * tree_root(LEAVES): the Merkle Tree Hash over a list of 32-byte leaves.
#  * receipt_ok(RECEIPT, DIGEST): RECEIPT (audit_proof's document, decoded)
#    proves its event against the tree root DIGEST names (decoded): the leaf
#    is H(0x00 || event bytes), the audit path leads to the root.
#  * consistency_ok(PROOF, OLD, NEW): PROOF (audit_consistency's document)
#    proves that the tree NEW names extends the one OLD names.
#  * leaves_of(ENTRIES): the leaves of a block's entries (56 bytes each).
package StewardTree;

use strict;
use warnings;
use Exporter ();
use Digest::SHA qw(sha256);
use MIME::Base64 qw(decode_base64);

our @ISA    = ('Exporter');
our @EXPORT = qw(tree_root receipt_ok consistency_ok leaves_of);

sub node { return sha256("\x01" . $_[0] . $_[1]); }

sub tree_root
{
	my @l = @_;
	return sha256('') if !@l;
	return $l[0] if @l == 1;
	my $k = 1;
	$k *= 2 while $k * 2 < @l;
	return node(tree_root(@l[0 .. $k - 1]), tree_root(@l[$k .. $#l]));
}

sub leaves_of
{
	my ($entries) = @_;
	return map { substr($entries, $_ * 56 + 24, 32) } 0 .. length($entries) / 56 - 1;
}

# RFC 9162 §2.1.3.2
sub receipt_ok
{
	my ($r, $d) = @_;
	return 0 unless $r->{tree_size} == $d->{tree_size} && $r->{tree_root} eq $d->{tree_root};
	my $leaf = sha256("\x00" . decode_base64($r->{event_bytes}));
	return 0 unless $leaf eq decode_base64($r->{leaf});
	my ($fn, $sn) = ($r->{leaf_index}, $r->{tree_size} - 1);
	return 0 if $fn > $sn;
	my $h = $leaf;
	for my $p (map { decode_base64($_) } @{ $r->{audit_path} })
	{
		return 0 if $sn == 0;
		if (($fn & 1) || $fn == $sn)
		{
			$h = node($p, $h);
			if (!($fn & 1))
			{
				do { $fn >>= 1; $sn >>= 1; } until (($fn & 1) || $fn == 0);
			}
		}
		else
		{
			$h = node($h, $p);
		}
		$fn >>= 1;
		$sn >>= 1;
	}
	return $sn == 0 && unpack('H*', $h) eq $d->{tree_root};
}

# RFC 9162 §2.1.4.2
sub consistency_ok
{
	my ($c, $old, $new) = @_;
	my ($m, $n) = ($old->{tree_size}, $new->{tree_size});
	my $old_root = pack('H*', $old->{tree_root});
	my $new_root = pack('H*', $new->{tree_root});
	my @proof = map { decode_base64($_) } @{ $c->{proof} };
	return 0 if $m > $n;
	return (!@proof && $old_root eq $new_root) if $m == $n;
	return !@proof if $m == 0;
	unshift @proof, $old_root if ($m & ($m - 1)) == 0;
	my ($fn, $sn) = ($m - 1, $n - 1);
	while ($fn & 1) { $fn >>= 1; $sn >>= 1; }
	return 0 if !@proof;
	my $fr = shift @proof;
	my $sr = $fr;
	for my $p (@proof)
	{
		return 0 if $sn == 0;
		if (($fn & 1) || $fn == $sn)
		{
			$fr = node($p, $fr);
			$sr = node($p, $sr);
			if (!($fn & 1))
			{
				do { $fn >>= 1; $sn >>= 1; } until (($fn & 1) || $fn == 0);
			}
		}
		else
		{
			$sr = node($sr, $p);
		}
		$fn >>= 1;
		$sn >>= 1;
	}
	return $sn == 0 && $fr eq $old_root && $sr eq $new_root;
}

1;
