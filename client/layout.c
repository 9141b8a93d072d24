/*-------------------------------------------------------------------------
 *
 * layout.c
 *	  Finding the migrations in a folder and their order, for the three
 *	  layouts the client reads (docs/client.md, "Folder layouts"):
 *
 *	  prisma  <timestamp>_<name>/migration.sql, in byte order of the folder
 *	          names; a folder without migration.sql (a data migration kept
 *	          as migration.ts) is reported as skipped.
 *	  flyway  V<version>__<desc>.sql in Flyway's version order (V1_2 is
 *	          version 1.2), U<version>__<desc>.sql as the down SQL of that
 *	          version, R__<desc>.sql repeatable, after the versioned ones in
 *	          description order.
 *	  pairs   <version>_<name>.up.sql with an optional .down.sql, in the
 *	          numeric order of the leading digits (golang-migrate, dbmate).
 *
 *	  Other files (migration_lock.toml, steward-accept.txt) are ignored.
 *	  The versions themselves are settled by naming.c, with the server.
 *
 * client/layout.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <dirent.h>
#include <sys/stat.h>

typedef struct Entry
{
	char	   *name;
	bool		is_dir;
} Entry;

const char *
layout_name(LayoutKind kind)
{
	switch (kind)
	{
		case LAYOUT_PRISMA:
			return "prisma";
		case LAYOUT_FLYWAY:
			return "flyway";
		case LAYOUT_PAIRS:
			return "pairs";
		case LAYOUT_NONE:
			break;
	}
	return "none";
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t		ls = strlen(s),
				lx = strlen(suffix);

	return ls > lx && strcmp(s + ls - lx, suffix) == 0;
}

static char *
join_path(const char *dir, const char *name)
{
	PQExpBufferData b;

	initPQExpBuffer(&b);
	appendPQExpBuffer(&b, "%s/%s", dir, name);
	return b.data;
}

static bool
is_regular_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
is_prisma_dir(const Entry *e)
{
	const char *p = e->name;

	if (!e->is_dir || !isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	return *p == '_' && p[1] != '\0';
}

/* V1_2__x.sql, U1_2__x.sql, R__x.sql */
static bool
is_flyway_file(const Entry *e)
{
	const char *n = e->name;

	if (e->is_dir || !has_suffix(n, ".sql"))
		return false;
	if (n[0] == 'R' && n[1] == '_' && n[2] == '_')
		return true;
	return (n[0] == 'V' || n[0] == 'U') && isdigit((unsigned char) n[1]) &&
		strstr(n, "__") != NULL;
}

static bool
is_pair_file(const Entry *e)
{
	return !e->is_dir && (has_suffix(e->name, ".up.sql") || has_suffix(e->name, ".down.sql"));
}

static Migration *
add_migration(MigrationSet *set, int *cap)
{
	Migration  *m;

	if (set->n == *cap)
	{
		*cap = *cap ? *cap * 2 : 64;
		set->items = pg_realloc(set->items, sizeof(Migration) * *cap);
	}
	m = &set->items[set->n++];
	memset(m, 0, sizeof(*m));
	return m;
}

/* "000"+"12" -> "0002:12": zero-stripped digits prefixed with their count,
 * so that byte order is numeric order */
static void
append_number_key(PQExpBuffer key, const char *digits, size_t len)
{
	while (len > 1 && *digits == '0')
	{
		digits++;
		len--;
	}
	appendPQExpBuffer(key, "%04zu:", len);
	appendBinaryPQExpBuffer(key, digits, len);
}

static void
scan_prisma(MigrationSet *set, Entry *entries, int n, int *cap)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		Migration  *m;
		char	   *folder;
		char	   *file;

		if (!entries[i].is_dir)
			continue;
		m = add_migration(set, cap);
		m->name = pg_strdup(entries[i].name);
		m->order_key = pg_strdup(entries[i].name);
		if (!is_prisma_dir(&entries[i]))
		{
			m->skip_reason = "not a <timestamp>_<name> folder";
			continue;
		}
		folder = join_path(set->dir, entries[i].name);
		file = join_path(folder, "migration.sql");
		free(folder);
		if (is_regular_file(file))
			m->up_path = file;
		else
		{
			free(file);
			m->skip_reason = "no SQL file";
		}
		m->description = pg_strdup(entries[i].name);
	}
}

static void
scan_pairs(MigrationSet *set, Entry *entries, int n, int *cap)
{
	int			i,
				j;

	for (i = 0; i < n; i++)
	{
		const char *name = entries[i].name;
		Migration  *m;
		PQExpBufferData key;
		size_t		digits = 0;
		char	   *down_name;

		if (entries[i].is_dir || !has_suffix(name, ".up.sql"))
			continue;
		m = add_migration(set, cap);
		m->name = pnstrdup(name, strlen(name) - strlen(".up.sql"));
		m->description = pg_strdup(m->name);
		m->up_path = join_path(set->dir, name);
		down_name = psprintf("%s.down.sql", m->name);
		if (is_regular_file(join_path(set->dir, down_name)))
			m->down_path = join_path(set->dir, down_name);
		free(down_name);
		while (isdigit((unsigned char) m->name[digits]))
			digits++;
		initPQExpBuffer(&key);
		append_number_key(&key, m->name, digits);
		appendPQExpBuffer(&key, ":%s", m->name);
		m->order_key = key.data;
		if (digits == 0)
			m->skip_reason = "not a <version>_<name>.up.sql file";
	}
	/* a down file without its up file */
	for (i = 0; i < n; i++)
	{
		const char *name = entries[i].name;
		char	   *stem;
		bool		found = false;

		if (entries[i].is_dir || !has_suffix(name, ".down.sql"))
			continue;
		stem = pnstrdup(name, strlen(name) - strlen(".down.sql"));
		for (j = 0; j < set->n && !found; j++)
			found = strcmp(set->items[j].name, stem) == 0;
		if (!found)
		{
			Migration  *m = add_migration(set, cap);

			m->name = pg_strdup(name);
			m->order_key = psprintf("~%s", name);
			m->skip_reason = "a .down.sql file without its .up.sql file";
		}
		free(stem);
	}
}

/* Flyway: "1_2" or "1.2" -> "1.2"; false when not digits and separators */
static bool
flyway_version(const char *raw, size_t len, char **version, char **key)
{
	PQExpBufferData v,
				k;
	size_t		i = 0;

	initPQExpBuffer(&v);
	initPQExpBuffer(&k);
	appendPQExpBufferStr(&k, "V:");
	while (i < len)
	{
		size_t		start = i;

		while (i < len && isdigit((unsigned char) raw[i]))
			i++;
		if (i == start)
			break;
		appendBinaryPQExpBuffer(&v, raw + start, i - start);
		append_number_key(&k, raw + start, i - start);
		if (i == len)
		{
			*version = v.data;
			*key = k.data;
			return true;
		}
		if (raw[i] != '_' && raw[i] != '.')
			break;
		appendPQExpBufferChar(&v, '.');
		appendPQExpBufferChar(&k, '.');
		i++;
	}
	termPQExpBuffer(&v);
	termPQExpBuffer(&k);
	return false;
}

/* "add_wards.sql" -> "add wards", as Flyway shows a description */
static char *
flyway_description(const char *s)
{
	char	   *d = pnstrdup(s, strlen(s) - strlen(".sql"));
	char	   *p;

	for (p = d; *p; p++)
		if (*p == '_')
			*p = ' ';
	return d;
}

static void
scan_flyway(MigrationSet *set, Entry *entries, int n, int *cap)
{
	int			i,
				j;

	/* versioned and repeatable first, undo scripts after */
	for (i = 0; i < n; i++)
	{
		const char *name = entries[i].name;
		const char *sep;
		Migration  *m;

		if (!is_flyway_file(&entries[i]) || name[0] == 'U')
			continue;
		m = add_migration(set, cap);
		m->name = pnstrdup(name, strlen(name) - strlen(".sql"));
		m->up_path = join_path(set->dir, name);
		if (name[0] == 'R')
		{
			m->repeatable = true;
			m->description = flyway_description(name + 3);
			m->order_key = psprintf("~R:%s", m->description);
			continue;
		}
		sep = strstr(name, "__");
		m->description = flyway_description(sep + 2);
		if (!flyway_version(name + 1, sep - name - 1, &m->version, &m->order_key))
		{
			m->order_key = psprintf("~~%s", name);
			m->skip_reason = "not a Flyway version (digits separated by _ or .)";
		}
	}
	for (i = 0; i < n; i++)
	{
		const char *name = entries[i].name;
		const char *sep;
		char	   *version;
		char	   *key;
		bool		found = false;

		if (!is_flyway_file(&entries[i]) || name[0] != 'U')
			continue;
		sep = strstr(name, "__");
		if (flyway_version(name + 1, sep - name - 1, &version, &key))
		{
			for (j = 0; j < set->n && !found; j++)
			{
				Migration  *m = &set->items[j];

				if (!m->repeatable && m->version && strcmp(m->order_key, key) == 0)
				{
					m->down_path = join_path(set->dir, name);
					found = true;
				}
			}
		}
		if (!found)
		{
			Migration  *m = add_migration(set, cap);

			m->name = pnstrdup(name, strlen(name) - strlen(".sql"));
			m->order_key = psprintf("~~%s", name);
			m->skip_reason = "an undo script without its versioned migration";
		}
	}
}

static int
compare_entries(const void *a, const void *b)
{
	return strcmp(((const Entry *) a)->name, ((const Entry *) b)->name);
}

static int
compare_migrations(const void *a, const void *b)
{
	return strcmp(((const Migration *) a)->order_key, ((const Migration *) b)->order_key);
}

/*
 * Read dir and fill set with its migrations in the layout's order.  force
 * names the layout (NULL: detect it).  Prints why and returns false when
 * dir cannot be read, holds no migration, or mixes layouts.
 */
bool
layout_scan(const char *dir, const char *force, MigrationSet *set)
{
	DIR		   *d;
	struct dirent *de;
	Entry	   *entries = NULL;
	int			n = 0,
				cap = 0,
				mcap = 0,
				i;
	int			nprisma = 0,
				nflyway = 0,
				npairs = 0,
				kinds;

	memset(set, 0, sizeof(*set));
	set->dir = pg_strdup(dir);
	d = opendir(dir);
	if (d == NULL)
	{
		fprintf(stderr, "%s: could not open the folder \"%s\": %s\n", progname, dir,
				strerror(errno));
		return false;
	}
	while ((de = readdir(d)) != NULL)
	{
		struct stat st;
		char	   *path;

		if (de->d_name[0] == '.')
			continue;
		path = join_path(dir, de->d_name);
		if (stat(path, &st) != 0)
		{
			free(path);
			continue;
		}
		free(path);
		if (n == cap)
		{
			cap = cap ? cap * 2 : 64;
			entries = pg_realloc(entries, sizeof(Entry) * cap);
		}
		entries[n].name = pg_strdup(de->d_name);
		entries[n].is_dir = S_ISDIR(st.st_mode);
		if (is_prisma_dir(&entries[n]))
			nprisma++;
		else if (is_flyway_file(&entries[n]))
			nflyway++;
		else if (is_pair_file(&entries[n]))
			npairs++;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(entries, n, sizeof(Entry), compare_entries);

	if (force)
		set->kind = strcmp(force, "prisma") == 0 ? LAYOUT_PRISMA :
			strcmp(force, "flyway") == 0 ? LAYOUT_FLYWAY : LAYOUT_PAIRS;
	else
	{
		kinds = (nprisma > 0) + (nflyway > 0) + (npairs > 0);
		if (kinds == 0)
		{
			fprintf(stderr, "%s: no migrations in \"%s\": expected <timestamp>_<name>/migration.sql (Prisma), "
					"V<version>__<desc>.sql (Flyway) or <version>_<name>.up.sql files\n", progname, dir);
			return false;
		}
		if (kinds > 1)
		{
			fprintf(stderr, "%s: \"%s\" mixes layouts (%d Prisma folders, %d Flyway files, %d up/down files); "
					"name one with --layout\n", progname, dir, nprisma, nflyway, npairs);
			return false;
		}
		set->kind = nprisma ? LAYOUT_PRISMA : nflyway ? LAYOUT_FLYWAY : LAYOUT_PAIRS;
	}

	if (set->kind == LAYOUT_PRISMA)
		scan_prisma(set, entries, n, &mcap);
	else if (set->kind == LAYOUT_FLYWAY)
		scan_flyway(set, entries, n, &mcap);
	else
		scan_pairs(set, entries, n, &mcap);
	for (i = 0; i < n; i++)
		free(entries[i].name);
	free(entries);
	if (set->n == 0)
	{
		fprintf(stderr, "%s: no %s migrations in \"%s\"\n", progname, layout_name(set->kind), dir);
		return false;
	}
	qsort(set->items, set->n, sizeof(Migration), compare_migrations);
	return true;
}
