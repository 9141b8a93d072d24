/*-------------------------------------------------------------------------
 *
 * submit.c
 *	  Submitting jobs: the row in steward.jobs, the owner and login roles,
 *	  the pinned search_path, and the request to the launcher at commit.
 *
 * The owner role is the submitter's current_user: the job's SQL runs with
 * its privileges.  The login role is the submitter's session_user: the job
 * worker connects as it (PostgreSQL 15 lets a background worker connect
 * only as a role that can log in).  The search_path is the submitter's
 * effective one, captured now, with pg_catalog first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_index.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

/*
 * The key a job walks: the named column, or the single-column primary key.
 * It must be NOT NULL and carry a unique index of its own.
 */
char *
steward_key_column(Oid relid, const char *requested, Oid *keytype)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	AttrNumber	found = InvalidAttrNumber;
	AttrNumber	wanted = InvalidAttrNumber;
	char	   *name;

	if (requested)
	{
		wanted = get_attnum(relid, requested);
		if (wanted == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							requested, RelationGetRelationName(rel))));
	}

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (idx->indisunique && idx->indisvalid && idx->indnkeyatts == 1 &&
			idx->indkey.values[0] != 0 &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL))
		{
			AttrNumber	att = idx->indkey.values[0];

			if ((requested && att == wanted) || (!requested && idx->indisprimary))
				found = att;
		}
		ReleaseSysCache(tup);
		if (found != InvalidAttrNumber)
			break;
	}

	if (found == InvalidAttrNumber)
	{
		char	   *relname = pstrdup(RelationGetRelationName(rel));

		relation_close(rel, AccessShareLock);
		if (requested)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" of relation \"%s\" has no unique index of its own", requested, relname),
					 errhint("A job walks the table in key order; the key needs a single-column unique index.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has no single-column primary key", relname),
				 errhint("Pass key_column => a NOT NULL column with a unique index.")));
	}
	if (!TupleDescAttr(RelationGetDescr(rel), found - 1)->attnotnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key column \"%s\" must be NOT NULL",
						NameStr(TupleDescAttr(RelationGetDescr(rel), found - 1)->attname))));

	*keytype = TupleDescAttr(RelationGetDescr(rel), found - 1)->atttypid;
	name = pstrdup(NameStr(TupleDescAttr(RelationGetDescr(rel), found - 1)->attname));
	relation_close(rel, AccessShareLock);

	/* batches compare keys with the type's default btree operators */
	{
		StewardKey	key;

		steward_key_load(relid, name, &key);
	}
	return name;
}

/*
 * Insert the job and ask the launcher for a worker once this transaction
 * commits.  Returns the job id.
 */
int64
steward_job_submit(const char *kind, Oid relid, Oid source,
				   const char *args_json, const char *migration_version)
{
	char	   *search_path;
	char	   *id;
	bool		isnull;
	int64		job_id;

	/*
	 * The job runs as the current user and its worker connects as the
	 * session user, who must be able to become it, now and before every
	 * batch (steward_job_refusal).  Inside a SECURITY DEFINER function that
	 * is not so.
	 */
	if (!is_member_of_role(GetSessionUserId(), GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot submit a job as role \"%s\" in a session of role \"%s\"",
						GetUserNameFromId(GetUserId(), false), GetUserNameFromId(GetSessionUserId(), false)),
				 errdetail("A job runs as the current role, and only while the session's role could SET ROLE to it."),
				 errhint("Submit the job outside SECURITY DEFINER functions.")));

	/* the submitter's effective search_path, pg_catalog first, no pg_temp */
	{
		StringInfoData sp;
		List	   *path = fetch_search_path(false);
		ListCell   *lc;

		initStringInfo(&sp);
		appendStringInfoString(&sp, "pg_catalog");
		foreach(lc, path)
		{
			Oid			nsp = lfirst_oid(lc);

			if (nsp == PG_CATALOG_NAMESPACE || isAnyTempNamespace(nsp))
				continue;
			appendStringInfo(&sp, ", %s", quote_identifier(get_namespace_name(nsp)));
		}
		search_path = sp.data;
	}

	{
		const char *args[] = {
			kind,
			OidIsValid(relid) ? psprintf("%u", relid) : NULL,
			OidIsValid(source) ? psprintf("%u", source) : NULL,
			args_json,
			psprintf("%u", GetUserId()),
			GetUserNameFromId(GetUserId(), false),
			psprintf("%u", GetSessionUserId()),
			search_path,
			migration_version
		};

		id = steward_query_text_as_owner(
			"INSERT INTO steward.jobs (kind, relation, source, args, owner_role, owner_name, "
			"                          login_role, search_path, migration_version) "
			"VALUES ($1, $2::oid::regclass, $3::oid::regclass, "
			"        $4::jsonb || jsonb_build_object('system_identifier', "
			"            (SELECT system_identifier::text FROM pg_catalog.pg_control_system())), "
			"        $5::oid, $6, $7::oid, $8, $9) RETURNING id::text",
			lengthof(args), args, &isnull);
	}
	job_id = strtoll(id, NULL, 10);

	if (steward_jobs_preloaded())
		steward_launch_at_commit(STEWARD_LAUNCH_JOB, GetSessionUserId(), job_id);
	else
		ereport(NOTICE,
				(errmsg("job %lld is queued, but pg_steward's background worker is not running", (long long) job_id),
				 errhint("Run it in this session with CALL job_run(%lld), or add pg_steward to shared_preload_libraries.",
						 (long long) job_id)));
	return job_id;
}
