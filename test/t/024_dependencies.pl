# The areas depend one way (src/README.md, "Dependencies"): no file of an
# area includes a header of an area above it, or of an area beside it.
# Reads the #include lines of src/<area>/*.c and *.h; needs no server.
#
# A header belongs to the area whose folder holds it; src/pg_steward.h is
# the header of common.  An include that names no file of src/ (such as
# PostgreSQL's "common/int.h") belongs to no area.  src/pg_steward.c, the
# module's entry point, is above every area and is not checked.
use strict;
use warnings;
use Cwd qw(realpath);
use File::Basename qw(dirname);
use Test::More;

# what each area may include besides its own headers
my %allowed = (
	common => [],
	audit => ['common'],
	review => ['common'],
	jobs => [ 'common', 'audit' ],
	migrations => [ 'common', 'audit', 'review', 'jobs' ],);

my $src = realpath('src');

# the area of a header file, or undef
sub area_of
{
	my ($path) = @_;
	return 'common' if $path eq "$src/pg_steward.h";
	return $1 if $path =~ m{^\Q$src\E/([^/]+)/[^/]+$} && exists $allowed{$1};
	return undef;
}

my @folders = sort grep { -d "$src/$_" } map { s{.*/}{}r } glob("$src/*");
is_deeply(\@folders, [ sort keys %allowed ],
	'every folder of src/ is an area with a rule here');

my $files = 0;
for my $area (sort keys %allowed)
{
	my %may = map { $_ => 1 } ($area, @{ $allowed{$area} });
	for my $file (sort glob("$src/$area/*.c"), sort glob("$src/$area/*.h"))
	{
		my $shown = $file =~ s{^\Q$src\E/}{src/}r;
		my @upward;
		open(my $fh, '<', $file) or die "cannot read $file: $!";
		while (my $line = <$fh>)
		{
			next unless $line =~ /^\s*#\s*include\s*"([^"]+)"/;
			my $name = $1;
			my ($found) =
			  grep { -f $_ } ("$src/$name", dirname($file) . "/$name");
			next unless defined $found;
			my $to = area_of(realpath($found));
			push @upward, "line $.: \"$name\" ($to)"
			  if defined $to && !$may{$to};
		}
		close($fh);
		$files++;
		is(join("; ", @upward), '',
			"$shown includes no header of an area above or beside $area");
	}
}
cmp_ok($files, '>=', 40, 'the check read the files of every area');

done_testing();
