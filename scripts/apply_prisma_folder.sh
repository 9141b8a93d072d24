#!/usr/bin/env bash
# Apply a Prisma migrations folder with pg_steward.
#
#   scripts/apply_prisma_folder.sh [psql options...] DIR
#
# DIR is Prisma's migrations folder (prisma/migrations): every
# DIR/<timestamp>_<name>/migration.sql is applied, in lexical order of the
# folder names, with
#
#   SELECT steward.migrate_apply(version => '<timestamp>_<name>', up_sql => <the file>)
#
# through psql, one connection per migration. Connection settings come from
# the psql options (-h, -p, -U, -d or a connection string) or from PGHOST,
# PGPORT, PGUSER, PGDATABASE and the other libpq variables. The file is
# handed to psql as a variable (\set from the file, then :'var'), never
# pasted into SQL. Prints one line per migration, "<version>: <result>",
# where the result is migrate_apply's: applied, unchanged or in_progress.
# Stops at the first failure with psql's error on stderr, a "<version>:
# failed" line and psql's exit status (3 for an SQL error); exits 1 when the
# folder is not usable. migration_lock.toml and other files in DIR are
# skipped, and so are folders whose name does not start with digits and "_".
#
# To adopt a database that Prisma already migrated, import its history
# first: SELECT * FROM steward.migrate_import('_prisma_migrations'); the migrations
# recorded there then answer "unchanged" (docs/migrations.md).
set -euo pipefail

usage() {
	echo "usage: $(basename "$0") [psql options...] DIR" >&2
	exit 1
}

[ "$#" -ge 1 ] || usage
case "${!#}" in
-h | --help) usage ;;
esac
dir="${!#}"
psql_opts=("${@:1:$#-1}")
psql_bin="${PSQL:-psql}"

if [ ! -d "$dir" ]; then
	echo "$(basename "$0"): $dir is not a directory" >&2
	exit 1
fi
command -v "$psql_bin" >/dev/null 2>&1 || {
	echo "$(basename "$0"): psql not found (set PSQL to its path)" >&2
	exit 1
}

# Prisma writes its migration files in UTF-8
export PGCLIENTENCODING="${PGCLIENTENCODING:-UTF8}"

# the migration folders, in byte order whatever the locale
shopt -s nullglob
paths=("$dir"/*/)
shopt -u nullglob
folders=()
if [ "${#paths[@]}" -gt 0 ]; then
	while IFS= read -r -d '' name; do
		folders+=("$name")
	done < <(for p in "${paths[@]}"; do
		p="${p%/}"
		printf '%s\0' "${p##*/}"
	done | LC_ALL=C sort -z)
fi

count=0
for name in "${folders[@]}"; do
	if ! [[ "$name" =~ ^[0-9]+_. ]]; then
		echo "skipping $dir/$name: not a <timestamp>_<name> migration folder" >&2
		continue
	fi
	file="$dir/$name/migration.sql"
	if [ ! -f "$file" ] || [ ! -r "$file" ]; then
		echo "$(basename "$0"): $file is missing or unreadable" >&2
		echo "$name: failed"
		exit 1
	fi
	rc=0
	result="$("$psql_bin" "${psql_opts[@]}" -X -q -A -t -v ON_ERROR_STOP=1 \
		-v version="$name" -v file="$file" <<'SQL'
SET client_min_messages = warning;
\set up_sql `cat -- :'file'`
SELECT steward.migrate_apply(version => :'version', up_sql => :'up_sql');
SQL
	)" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "$name: failed"
		exit "$rc"
	fi
	if [ "$result" = in_progress ]; then
		# statements that refuse a transaction block (CREATE INDEX
		# CONCURRENTLY ...) run in a job: wait for it, holding no snapshot,
		# before the next migration, and stop unless it succeeded
		echo "$name: in_progress (waiting for its job)"
		rc=0
		result="$("$psql_bin" "${psql_opts[@]}" -X -q -A -t -v ON_ERROR_STOP=1 -v version="$name" <<'SQL'
SET client_min_messages = warning;
SELECT job_id FROM steward.migrate_status() WHERE version = :'version' \gset
CALL steward.job_await(:job_id);
SQL
		)" || rc=$?
		if [ "$rc" -ne 0 ] || [ "$result" != succeeded ]; then
			echo "$name: failed (job: ${result:-no result})"
			exit "$(( rc > 0 ? rc : 3 ))"
		fi
		result=applied
	fi
	echo "$name: $result"
	count=$((count + 1))
done

if [ "$count" -eq 0 ]; then
	echo "$(basename "$0"): no <timestamp>_<name>/migration.sql in $dir" >&2
fi
