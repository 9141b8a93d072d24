/*-------------------------------------------------------------------------
 *
 * naming.c
 *	  The version each migration is applied under.  The server owns the
 *	  rule that turns a name into a valid version:
 *	  steward.version_from_name(name) maps a Prisma folder name or an
 *	  up/down file's stem (a name with a space, say) to a version.  A server
 *	  without that function gets the name itself.  Flyway versions come from
 *	  the file name (V1_2 is 1.2).  A Flyway repeatable migration is applied
 *	  under R__<desc>.<the first 12 hex digits of its checksum>, so that a
 *	  changed file is a new version (docs/client.md, "Flyway").
 *
 * client/naming.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

/* version_from_name(name), or name when the server lacks the function */
static char *
version_for(PGconn *conn, const ServerFeatures *f, const char *name, bool *ok)
{
	const char *params[1] = {name};
	PGresult   *res;
	char	   *v;

	if (!f->version_from_name)
		return pg_strdup(name);
	res = exec_params(conn, "SELECT steward.version_from_name(name => $1)", 1, params);
	if (!result_ok(res) || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		if (strcmp(result_sqlstate(res), "42883") == 0)
		{
			PQclear(res);
			return pg_strdup(name);
		}
		print_server_error(psprintf("could not make a version of \"%s\"", name), res);
		PQclear(res);
		*ok = false;
		return NULL;
	}
	v = pg_strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* R__<desc>.<12 hex digits of steward.migrate_checksum(sql)> */
static char *
repeatable_version(PGconn *conn, const ServerFeatures *f, Migration *m, bool *ok)
{
	char	   *sql = file_read(m->up_path, NULL);
	const char *params[1];
	PGresult   *res;
	char	   *base;
	const char *sum;
	const char *hex;
	char	   *v;

	if (sql == NULL)
	{
		*ok = false;
		return NULL;
	}
	params[0] = sql;
	res = exec_params(conn, "SELECT steward.migrate_checksum(sql => $1)", 1, params);
	free(sql);
	if (!result_ok(res) || PQntuples(res) != 1)
	{
		print_server_error(psprintf("could not compute the checksum of \"%s\"", m->up_path), res);
		PQclear(res);
		*ok = false;
		return NULL;
	}
	sum = PQgetvalue(res, 0, 0);
	hex = strrchr(sum, ':');
	hex = hex ? hex + 1 : sum;
	base = version_for(conn, f, m->name, ok);
	if (base == NULL)
	{
		PQclear(res);
		return NULL;
	}
	/* a version is at most 128 characters */
	if (strlen(base) > 128 - 13)
		base[128 - 13] = '\0';
	v = psprintf("%s.%.12s", base, hex);
	free(base);
	PQclear(res);
	return v;
}

bool
naming_resolve(PGconn *conn, const ServerFeatures *f, MigrationSet *set)
{
	bool		ok = true;
	int			i,
				j;

	for (i = 0; i < set->n && ok; i++)
	{
		Migration  *m = &set->items[i];

		if (m->skip_reason)
		{
			if (m->version == NULL)
				m->version = pg_strdup(m->name);
			continue;
		}
		if (m->repeatable)
			m->version = repeatable_version(conn, f, m, &ok);
		else if (m->version == NULL)
			m->version = version_for(conn, f, m->name, &ok);
	}
	if (!ok)
		return false;
	for (i = 0; i < set->n; i++)
		for (j = i + 1; j < set->n; j++)
			if (!set->items[i].skip_reason && !set->items[j].skip_reason &&
				strcmp(set->items[i].version, set->items[j].version) == 0)
			{
				fprintf(stderr, "%s: \"%s\" and \"%s\" would both be version \"%s\"\n",
						progname, set->items[i].name, set->items[j].name, set->items[i].version);
				return false;
			}
	return true;
}
