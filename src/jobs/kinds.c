/*-------------------------------------------------------------------------
 *
 * kinds.c
 *	  The job kinds the engine can run, found by name.
 *
 * The kinds of this area (backfill, validate_constraint's "validate",
 * copy_table's "copy") are known here; an area above jobs adds its own
 * with steward_register_job_kind() from _PG_init (src/pg_steward.c), which
 * runs in every process that can run a job before it runs one.  That is
 * how the statements of a migration that refuse a transaction block
 * become a job ("statements", src/migrations/deferred.c) while jobs knows
 * nothing of migrations.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

#define MAX_REGISTERED_KINDS 8

static const StewardJobKind *const own_kinds[] = {
	&steward_backfill_kind,
	&steward_validate_kind,
	&steward_copy_kind,
};

static const StewardJobKind *registered[MAX_REGISTERED_KINDS];
static int	nregistered = 0;

/* Add a kind of an area above jobs (from _PG_init). */
void
steward_register_job_kind(const StewardJobKind *kind)
{
	if (steward_find_job_kind(kind->name) != NULL)
		elog(ERROR, "job kind \"%s\" is registered twice", kind->name);
	if (nregistered >= MAX_REGISTERED_KINDS)
		elog(ERROR, "more than %d job kinds are registered", MAX_REGISTERED_KINDS);
	registered[nregistered++] = kind;
}

/* The kind of this name, or NULL. */
const StewardJobKind *
steward_find_job_kind(const char *name)
{
	for (int i = 0; i < lengthof(own_kinds); i++)
		if (strcmp(own_kinds[i]->name, name) == 0)
			return own_kinds[i];
	for (int i = 0; i < nregistered; i++)
		if (strcmp(registered[i]->name, name) == 0)
			return registered[i];
	return NULL;
}

/* The kind of this name; an unknown name is an error. */
const StewardJobKind *
steward_job_kind(const char *name)
{
	const StewardJobKind *kind = steward_find_job_kind(name);

	if (kind == NULL)
		elog(ERROR, "unknown job kind \"%s\"", name);
	return kind;
}
