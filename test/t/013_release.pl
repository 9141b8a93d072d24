# The release: META.json is a valid PGXN 1.0.0 meta file that agrees with
# the control file, and `make dist` produces an archive that holds the
# sources (no build output) and builds on its own.
use strict;
use warnings;
use JSON::PP;
use File::Temp qw(tempdir);
use PostgreSQL::Test::Utils;
use Test::More;

my $meta = decode_json(slurp_file('META.json'));
my ($default) = slurp_file('pg_steward.control') =~ /^default_version = '([^']+)'/m;
my $semver = qr/^\d+\.\d+\.\d+$/;

# the keys the PGXN Meta Spec 1.0.0 requires, and their shape
for my $key (qw(name abstract version maintainer license provides meta-spec))
{
	ok(exists $meta->{$key}, "META.json has $key");
}
is($meta->{name}, 'pg_steward', 'name');
like($meta->{version}, $semver, 'version is a semantic version');
is($meta->{version}, $default, 'version is the control file default_version');
is($meta->{'meta-spec'}{version}, '1.0.0', 'meta-spec 1.0.0');
ok(ref $meta->{maintainer} eq 'ARRAY' || !ref $meta->{maintainer}, 'maintainer is a string or a list');
like($meta->{license}, qr/^(postgresql|[a-z_0-9]+)$/, 'license is a PGXN license name');
ok(-f 'LICENSE', 'a LICENSE file ships with it');
for my $ext (sort keys %{ $meta->{provides} })
{
	my $p = $meta->{provides}{$ext};
	ok(-f $p->{file}, "provides $ext: its file $p->{file} exists");
	like($p->{version}, $semver, "provides $ext: semantic version");
	is($p->{version}, $default, "provides $ext: the default version");
	ok(!defined $p->{docfile} || -f $p->{docfile}, "provides $ext: its docfile exists");
}
# a version, or a PGXN version range (clauses such as ">= 15.0.0" joined by ", ")
my $range = $meta->{prereqs}{runtime}{requires}{PostgreSQL} // '';
my @clauses = split /\s*,\s*/, $range;
ok(@clauses && !grep({ my ($v) = /^(?:(?:==|!=|>=|<=|>|<)\s*)?(\S+)$/; !defined $v || $v !~ $semver } @clauses),
	"requires a PostgreSQL version or version range ($range)");
like($range, qr/< 16\.0\.0/, 'the range stops before PostgreSQL 16, which no test runs on');
ok(!defined $meta->{release_status} || $meta->{release_status} =~ /^(stable|testing|unstable)$/, 'release_status');

# make dist, in a copy of the tree
my $work = tempdir(CLEANUP => 1);
system('tar', '--exclude=./tmp_check', '--exclude=*.o', '--exclude=*.so', '--exclude=*.bc',
	'-cf', "$work/tree.tar", '.') == 0 or die 'could not copy the tree';
mkdir "$work/tree";
system('tar', '-C', "$work/tree", '-xf', "$work/tree.tar") == 0 or die 'could not unpack the tree';
my $archive = "pg_steward-$default.tar.gz";
command_ok([ 'make', '-C', "$work/tree", 'dist' ], 'make dist');
ok(-f "$work/tree/$archive", "make dist wrote $archive");
my @files = split /\n/, `tar -tzf $work/tree/$archive`;
for my $want ('META.json', 'LICENSE', 'Makefile', 'pg_steward.control', 'pg_steward--0.1.0.sql',
	"README.md", 'src/pg_steward.c')
{
	ok((grep { $_ eq "pg_steward-$default/$want" } @files), "the archive holds $want");
}
my @upgrades = glob('pg_steward--*--*.sql');
ok(@upgrades > 0, 'there are upgrade scripts');
for my $u (@upgrades)
{
	ok((grep { $_ eq "pg_steward-$default/$u" } @files), "the archive holds $u");
}
is(scalar(grep { /\.(o|so|bc)$|^[^\/]+\/(results|tmp_check|output_iso)\// } @files), 0,
	'no build or test output in the archive');

# the archive builds by itself
mkdir "$work/unpacked";
system('tar', '-C', "$work/unpacked", '-xzf', "$work/tree/$archive") == 0 or die 'could not unpack the archive';
command_ok([ 'make', '-C', "$work/unpacked/pg_steward-$default", '-j2' ], 'the unpacked archive builds');

done_testing();
