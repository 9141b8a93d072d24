/*-------------------------------------------------------------------------
 *
 * dryrun.c
 *	  migrate_plan(sql, lock_timeout, statement_timeout): the dry run.
 *
 * The migration really runs, statement by statement, in a subtransaction
 * that is always rolled back; the plan reports what happened:
 *	  - objects created, altered and dropped (object_access_hook), with
 *		counts by kind in the summary ("1 enum, 6 tables, 24 indexes,
 *		15 foreign keys");
 *	  - every lock taken on a relation that existed before (pg_locks of this
 *		backend after each statement), and how long it is held: from the
 *		start of the statement that took it to the end of the migration;
 *	  - every rewrite: a relation whose relfilenode changed;
 *	  - what the runtime guard found in DDL issued from DO blocks and
 *		functions;
 *	  - a failing statement, with its error (the plan stops there).
 * Statements that refuse a transaction block are not run; they are listed
 * as deferred, with the lock their job will take.
 *
 * A dry run takes the locks and does the work of the migration (on a
 * large table a rewrite takes as long as the real one): run it on a copy
 * of production, or in a quiet hour.
 *
 * Memory and time: what the plan remembers is looked up by key
 * (keymap.c); what one statement needs (its pg_locks rows, the names it
 * resolves) goes with it.  Rows a statement returns are discarded.  Per
 * statement the plan reads this backend's locks and compares the
 * relations it has locked so far with their storage before the run, so a
 * statement costs in proportion to the relations it holds locks on (at
 * most what the lock table holds), not to the statements before it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_event_trigger.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "access/transam.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "migrations/migrations.h"
#include "review/review.h"

#define SHOWN_LEN 200

/* One row of the plan. */
typedef struct PlanRow
{
	int			statement;		/* 0: none (summary) */
	int			order;			/* within the statement */
	const char *step;
	char	   *kind;
	char	   *object;
	const char *lock_mode;
	char	   *detail;
	int64		usecs;			/* -1: no duration */
} PlanRow;

/* An object the hook saw created or altered, resolved after its statement. */
typedef struct PlanObject
{
	Oid			classId;
	Oid			objectId;
	int32		subId;
	int			statement;
	bool		created;
} PlanObject;

typedef struct PlanLock
{
	Oid			relid;
	char	   *mode;
	char	   *name;
	char	   *kind;
	int			statement;
	TimestampTz taken;
	int			order;
} PlanLock;

typedef struct PlanFile
{
	Oid			relid;
	Oid			relfilenode;
	int32		relpages;
} PlanFile;

/* A relation the plan dropped, for naming its locks. */
typedef struct PlanDropped
{
	char	   *identity;
	char	   *kind;
} PlanDropped;

/* What the table_rewrite event said before a rewrite. */
typedef struct PlanRewrite
{
	Oid			relid;
	int			reason;
	int64		bytes;			/* measured before the rewrite */
} PlanRewrite;

typedef struct PlanCapture
{
	MemoryContext cxt;
	int			current;
	List	   *rows;			/* PlanRow */
	List	   *objects;		/* PlanObject, not yet resolved */
	HTAB	   *seen;			/* "c|a kind identity" of objects reported */
	HTAB	   *created;		/* "classid/objid" of objects created in the plan */
	List	   *locks;			/* PlanLock */
	HTAB	   *lock_keys;		/* "relid mode" of each PlanLock */
	List	   *locked;			/* relids of the PlanLocks, once each */
	HTAB	   *locked_rels;	/* the same, to look up */
	struct PlanFile *baseline;	/* relfilenodes before the migration, by relid */
	int			nbaseline;
	HTAB	   *rewritten;		/* relids reported as rewritten */
	HTAB	   *rewrite_notes;	/* relid -> PlanRewrite, from the table_rewrite event */
	HTAB	   *dropped_rels;	/* relid -> PlanDropped */
	List	   *counts_created; /* char *kind, one per object */
	List	   *counts_altered;
	List	   *counts_dropped;
	int			nrewrites;
	int			nlocks;
	int			nstrong;
} PlanCapture;

static PlanCapture *capture = NULL;
static object_access_hook_type prev_object_access = NULL;
static bool hook_installed = false;

PG_FUNCTION_INFO_V1(steward_migrate_plan);

static PlanRow *
add_row(int statement, const char *step, const char *kind, const char *object,
		const char *lock_mode, const char *detail, int64 usecs)
{
	MemoryContext old = MemoryContextSwitchTo(capture->cxt);
	PlanRow    *r = palloc0(sizeof(PlanRow));

	r->statement = statement;
	r->order = list_length(capture->rows);
	r->step = step;
	r->kind = kind ? pstrdup(kind) : NULL;
	r->object = object ? pstrdup(object) : NULL;
	r->lock_mode = lock_mode ? pstrdup(lock_mode) : NULL;
	r->detail = detail ? pstrdup(detail) : NULL;
	r->usecs = usecs;
	capture->rows = lappend(capture->rows, r);
	MemoryContextSwitchTo(old);
	return r;
}

/* ----------------------------------------------------------------
 * Objects
 * ----------------------------------------------------------------
 */

/*
 * The kind a DBA would name an object by, or NULL for objects PostgreSQL
 * makes on its own (row types, array types, TOAST, column defaults,
 * internal triggers, view rules).
 */
static char *
object_kind(Oid classId, Oid objectId, int32 subId)
{
	HeapTuple	tup;
	char	   *kind = NULL;

	switch (classId)
	{
		case RelationRelationId:
			tup = SearchSysCache1(RELOID, ObjectIdGetDatum(objectId));
			if (!HeapTupleIsValid(tup))
				return NULL;
			{
				Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);

				if (c->relnamespace == PG_TOAST_NAMESPACE)
					kind = NULL;
				else if (subId != 0)
					kind = "column";
				else
					switch (c->relkind)
					{
						case RELKIND_RELATION:
							kind = "table";
							break;
						case RELKIND_PARTITIONED_TABLE:
							kind = "partitioned table";
							break;
						case RELKIND_INDEX:
						case RELKIND_PARTITIONED_INDEX:
							kind = "index";
							break;
						case RELKIND_VIEW:
							kind = "view";
							break;
						case RELKIND_MATVIEW:
							kind = "materialized view";
							break;
						case RELKIND_SEQUENCE:
							kind = "sequence";
							break;
						case RELKIND_FOREIGN_TABLE:
							kind = "foreign table";
							break;
						case RELKIND_COMPOSITE_TYPE:
							kind = "type";
							break;
						default:
							kind = NULL;
					}
			}
			ReleaseSysCache(tup);
			return kind;
		case TypeRelationId:
			tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(objectId));
			if (!HeapTupleIsValid(tup))
				return NULL;
			{
				Form_pg_type t = (Form_pg_type) GETSTRUCT(tup);

				if (t->typtype == TYPTYPE_ENUM)
					kind = "enum";
				else if (t->typtype == TYPTYPE_DOMAIN)
					kind = "domain";
				else if (t->typtype == TYPTYPE_RANGE)
					kind = "type";
				else if (t->typtype == TYPTYPE_BASE && !IsTrueArrayType(t))
					kind = "type";
				/* row types of relations, array and multirange types: implied */
			}
			ReleaseSysCache(tup);
			return kind;
		case ConstraintRelationId:
			tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(objectId));
			if (!HeapTupleIsValid(tup))
				return NULL;
			switch (((Form_pg_constraint) GETSTRUCT(tup))->contype)
			{
				case CONSTRAINT_PRIMARY:
					kind = "primary key";
					break;
				case CONSTRAINT_UNIQUE:
					kind = "unique constraint";
					break;
				case CONSTRAINT_FOREIGN:
					kind = "foreign key";
					break;
				case CONSTRAINT_CHECK:
					kind = "check constraint";
					break;
				case CONSTRAINT_EXCLUSION:
					kind = "exclusion constraint";
					break;
				case CONSTRAINT_TRIGGER:
					kind = "constraint trigger";
					break;
				default:
					kind = NULL;	/* NOT NULL constraints (PostgreSQL 18) */
			}
			ReleaseSysCache(tup);
			return kind;
		case TriggerRelationId:
			{
				Relation	trigrel = table_open(TriggerRelationId, AccessShareLock);
				HeapTuple	ttup = get_catalog_object_by_oid(trigrel, Anum_pg_trigger_oid, objectId);

				if (HeapTupleIsValid(ttup) && !((Form_pg_trigger) GETSTRUCT(ttup))->tgisinternal)
					kind = "trigger";
				table_close(trigrel, AccessShareLock);
				return kind;
			}
		case ProcedureRelationId:
			tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(objectId));
			if (!HeapTupleIsValid(tup))
				return NULL;
			kind = ((Form_pg_proc) GETSTRUCT(tup))->prokind == PROKIND_PROCEDURE
				? "procedure" : "function";
			ReleaseSysCache(tup);
			return kind;
		case NamespaceRelationId:
			return "schema";
		case PolicyRelationId:
			return "policy";
		case StatisticExtRelationId:
			return "statistics";
		case ExtensionRelationId:
			return "extension";
		case CollationRelationId:
			return "collation";
		case EventTriggerRelationId:
			return "event trigger";
		default:
			/* defaults, rules, inheritance and other implied entries */
			return NULL;
	}
}

static char *
object_identity(Oid classId, Oid objectId, int32 subId)
{
	ObjectAddress addr = {classId, objectId, subId};
	char	   *id = getObjectIdentity(&addr, true);

	return id ? id : psprintf("%u/%u/%d", classId, objectId, subId);
}

static char *
object_key(Oid classId, Oid objectId)
{
	return psprintf("%u/%u", classId, objectId);
}

static char *
relid_key(Oid relid)
{
	return psprintf("%u", relid);
}

static bool
was_created(Oid classId, Oid objectId)
{
	return steward_key_member(capture->created, object_key(classId, objectId));
}

static void
plan_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				   int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (capture == NULL)
		return;

	if (access == OAT_POST_CREATE || access == OAT_POST_ALTER)
	{
		MemoryContext old = MemoryContextSwitchTo(capture->cxt);
		PlanObject *o = palloc(sizeof(PlanObject));

		o->classId = classId;
		o->objectId = objectId;
		o->subId = subId;
		o->statement = capture->current;
		o->created = access == OAT_POST_CREATE;
		capture->objects = lappend(capture->objects, o);
		if (o->created && subId == 0)
			(void) steward_key_entry(&capture->created, capture->cxt,
									 object_key(classId, objectId), true);
		MemoryContextSwitchTo(old);
	}
	else if (access == OAT_DROP)
	{
		char	   *kind = object_kind(classId, objectId, subId);

		if (kind != NULL && !was_created(classId, objectId))
		{
			MemoryContext old = MemoryContextSwitchTo(capture->cxt);

			char	   *identity = object_identity(classId, objectId, subId);

			add_row(capture->current, "dropped", kind, identity, NULL, NULL, -1);
			if (classId == RelationRelationId && subId == 0)
			{
				PlanDropped *d = palloc(sizeof(PlanDropped));

				d->identity = pstrdup(identity);
				d->kind = pstrdup(kind);
				steward_key_entry(&capture->dropped_rels, capture->cxt,
								  relid_key(objectId), true)->value = d;
			}
			capture->counts_dropped = lappend(capture->counts_dropped, pstrdup(kind));
			MemoryContextSwitchTo(old);
		}
	}
}

/* Turn the objects the hook saw during a statement into rows. */
static void
resolve_objects(void)
{
	ListCell   *lc;

	foreach(lc, capture->objects)
	{
		PlanObject *o = (PlanObject *) lfirst(lc);
		char	   *kind;
		char	   *identity;
		char	   *key;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		/* an object created by this plan is only ever reported as created */
		if (!o->created && was_created(o->classId, o->objectId))
			continue;
		if (o->subId != 0 && was_created(o->classId, o->objectId))
			continue;
		kind = object_kind(o->classId, o->objectId, o->subId);
		if (kind == NULL)
			continue;
		identity = object_identity(o->classId, o->objectId, o->subId);
		key = psprintf("%s %s %s", o->created ? "c" : "a", kind, identity);
		if (steward_key_member(capture->seen, key))
			continue;
		(void) steward_key_entry(&capture->seen, capture->cxt, key, true);
		old = MemoryContextSwitchTo(capture->cxt);
		if (o->created)
			capture->counts_created = lappend(capture->counts_created, pstrdup(kind));
		else
			capture->counts_altered = lappend(capture->counts_altered, pstrdup(kind));
		MemoryContextSwitchTo(old);
		add_row(o->statement, o->created ? "created" : "altered", kind, identity,
				NULL, NULL, -1);
	}
	capture->objects = NIL;
}

/* ----------------------------------------------------------------
 * Locks and rewrites
 * ----------------------------------------------------------------
 */

static const char *
lock_effect(const char *mode)
{
	if (strcmp(mode, "AccessExclusiveLock") == 0)
		return "blocks reads and writes";
	if (strcmp(mode, "ExclusiveLock") == 0 || strcmp(mode, "ShareRowExclusiveLock") == 0 ||
		strcmp(mode, "ShareLock") == 0)
		return "blocks writes";
	if (strcmp(mode, "ShareUpdateExclusiveLock") == 0)
		return "blocks schema changes and VACUUM";
	return "blocks only ACCESS EXCLUSIVE";
}

static int
lock_strength(const char *mode)
{
	for (int m = MaxLockMode; m > NoLock; m--)
		if (strcmp(GetLockmodeName(DEFAULT_LOCKMETHOD, m), mode) == 0)
			return m;
	return 0;
}

static bool
is_strong(const char *mode)
{
	return strcmp(mode, "AccessExclusiveLock") == 0 || strcmp(mode, "ExclusiveLock") == 0 ||
		strcmp(mode, "ShareRowExclusiveLock") == 0 || strcmp(mode, "ShareLock") == 0;
}

static bool
is_steward_relation(Oid relid)
{
	Oid			nsp = get_rel_namespace(relid);
	char	   *name = OidIsValid(nsp) ? get_namespace_name(nsp) : NULL;

	return name != NULL && strcmp(name, STEWARD_SCHEMA) == 0;
}

/* Relation locks this backend holds now that were not seen before. */
static void
collect_locks(int statement, TimestampTz started)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;

	rc = SPI_execute("SELECT l.relation::pg_catalog.oid, l.mode FROM pg_catalog.pg_locks l "
					 "WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() "
					 "AND l.locktype OPERATOR(pg_catalog.=) 'relation' "
					 "AND l.relation OPERATOR(pg_catalog.>=) 16384 ORDER BY 1, 2",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_locks: %s", SPI_result_code_string(rc));
	MemoryContextSwitchTo(cxt);		/* SPI_execute returns in SPI's own */

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		char	   *mode = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *key = psprintf("%u %s", relid, mode);
		StewardKeyEntry *dropped;
		StewardKeyEntry *locked;
		PlanLock   *pl;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (steward_key_member(capture->lock_keys, key) ||
			was_created(RelationRelationId, relid) || is_steward_relation(relid))
			continue;

		old = MemoryContextSwitchTo(capture->cxt);
		pl = palloc0(sizeof(PlanLock));
		pl->relid = relid;
		pl->mode = pstrdup(mode);
		if (get_rel_name(relid) != NULL)
		{
			pl->name = object_identity(RelationRelationId, relid, 0);
			pl->kind = object_kind(RelationRelationId, relid, 0);
			pl->kind = pl->kind ? pstrdup(pl->kind) : pstrdup("relation");
		}
		else if ((dropped = steward_key_entry(&capture->dropped_rels, capture->cxt,
											  relid_key(relid), false)) != NULL)
		{
			/* dropped by this statement (else a transient heap of a rewrite) */
			pl->name = ((PlanDropped *) dropped->value)->identity;
			pl->kind = ((PlanDropped *) dropped->value)->kind;
		}
		if (pl->name == NULL)
		{
			MemoryContextSwitchTo(old);
			continue;
		}
		pl->statement = statement;
		pl->taken = started;
		capture->locks = lappend(capture->locks, pl);
		(void) steward_key_entry(&capture->lock_keys, capture->cxt, key, true);
		locked = steward_key_entry(&capture->locked_rels, capture->cxt, relid_key(relid), true);
		if (locked->number++ == 0)
			capture->locked = lappend_oid(capture->locked, relid);
		MemoryContextSwitchTo(old);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* What the first table_rewrite event said about the relation, or NULL. */
static PlanRewrite *
rewrite_note(Oid relid)
{
	StewardKeyEntry *e = steward_key_entry(&capture->rewrite_notes, capture->cxt,
										   relid_key(relid), false);

	return e ? (PlanRewrite *) e->value : NULL;
}

static int
baseline_cmp(const void *a, const void *b)
{
	Oid			ra = ((const PlanFile *) a)->relid;
	Oid			rb = ((const PlanFile *) b)->relid;

	return ra < rb ? -1 : ra > rb ? 1 : 0;
}

static const char *
rewrite_reason(PlanRewrite *note)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (note == NULL)
		return "";
	if (note->reason & AT_REWRITE_ALTER_PERSISTENCE)
		appendStringInfoString(&buf, ", changes persistence");
	if (note->reason & AT_REWRITE_DEFAULT_VAL)
		appendStringInfoString(&buf, ", fills a default");
	if (note->reason & AT_REWRITE_COLUMN_REWRITE)
		appendStringInfoString(&buf, ", converts a column");
	if (note->reason & AT_REWRITE_ACCESS_METHOD)
		appendStringInfoString(&buf, ", changes access method");
	return buf.data;
}

/* Relations this plan has locked whose relfilenode changed, by relid. */
static void
collect_rewrites(int statement)
{
	List	   *locked = list_copy(capture->locked);
	ListCell   *lc;

	list_sort(locked, list_oid_cmp);
	foreach(lc, locked)
	{
		Oid			relid = lfirst_oid(lc);
		PlanFile	key = {relid, InvalidOid, 0};
		PlanFile   *file;
		Oid			before;
		int32		pages;
		HeapTuple	tup;
		Oid			now;

		CHECK_FOR_INTERRUPTS();
		file = bsearch(&key, capture->baseline, capture->nbaseline, sizeof(PlanFile),
					   baseline_cmp);
		if (file == NULL || steward_key_member(capture->rewritten, relid_key(relid)))
			continue;
		before = file->relfilenode;
		pages = file->relpages;
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		if (!HeapTupleIsValid(tup))
			continue;
		now = ((Form_pg_class) GETSTRUCT(tup))->relfilenode;
		ReleaseSysCache(tup);
		if (now == before || now == InvalidOid)
			continue;
		{
			MemoryContext old = MemoryContextSwitchTo(capture->cxt);
			char	   *kind = object_kind(RelationRelationId, relid, 0);
			PlanRewrite *note = rewrite_note(relid);
			int64		bytes = note ? note->bytes : (int64) pages * BLCKSZ;

			(void) steward_key_entry(&capture->rewritten, capture->cxt, relid_key(relid), true);
			capture->nrewrites++;
			MemoryContextSwitchTo(old);

			add_row(statement, "rewrite", kind ? kind : "relation",
					object_identity(RelationRelationId, relid, 0), NULL,
					psprintf("relfilenode %u -> %u, %s%s before%s", before, now,
							 note ? "" : "about ",
							 text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
																				Int64GetDatum(bytes)))),
							 rewrite_reason(note)),
					-1);
		}
	}
}

/*
 * Told by the table_rewrite guard (steward_guard_observe_rewrites): remember
 * why a relation is rewritten.
 */
static void
plan_note_rewrite(Oid relid, int reason)
{
	MemoryContext old;

	if (capture == NULL)
		return;
	old = MemoryContextSwitchTo(capture->cxt);
	{
		StewardKeyEntry *e = steward_key_entry(&capture->rewrite_notes, capture->cxt,
											   relid_key(relid), true);
		PlanRewrite *note = palloc(sizeof(PlanRewrite));

		note->relid = relid;
		note->reason = reason;
		note->bytes = steward_relation_bytes(relid);
		if (e->value == NULL)
			e->value = note;
	}
	MemoryContextSwitchTo(old);
}

static void
take_baseline(void)
{
	int			rc;
	MemoryContext old;

	rc = SPI_execute("SELECT c.oid, c.relfilenode, c.relpages FROM pg_catalog.pg_class c "
					 "WHERE c.relfilenode OPERATOR(pg_catalog.<>) 0 "
					 "AND c.oid OPERATOR(pg_catalog.>=) 16384 ORDER BY c.oid",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_class: %s", SPI_result_code_string(rc));
	old = MemoryContextSwitchTo(capture->cxt);
	capture->baseline = palloc(sizeof(PlanFile) * Max(SPI_processed, 1));
	capture->nbaseline = SPI_processed;
	MemoryContextSwitchTo(old);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;

		CHECK_FOR_INTERRUPTS();
		capture->baseline[i].relid = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		capture->baseline[i].relfilenode = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		capture->baseline[i].relpages = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
}

/* ----------------------------------------------------------------
 * Running
 * ----------------------------------------------------------------
 */

typedef struct PlanRun
{
	List	   *statements;		/* StewardStatement */
	int			lock_timeout_ms;
	int			statement_timeout_ms;
	TimestampTz ended;
} PlanRun;

static char *
shown(const char *text)
{
	return steward_shown_text(text, -1, SHOWN_LEN);
}

static void
plan_body(void *arg)
{
	PlanRun    *pr = (PlanRun *) arg;
	int			nestlevel = NewGUCNestLevel();
	MemoryContext stmtcxt;
	MemoryContext old;
	ListCell   *lc;

	steward_begin_lock_timeout(pr->lock_timeout_ms);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	stmtcxt = AllocSetContextCreate(CurrentMemoryContext, "plan statement",
									ALLOCSET_DEFAULT_SIZES);
	take_baseline();
	collect_locks(0, GetCurrentTimestamp());	/* held before: not the migration's */
	steward_guard_begin(false, true, NIL);

	foreach(lc, pr->statements)
	{
		StewardStatement *st = (StewardStatement *) lfirst(lc);
		TimestampTz started;

		CHECK_FOR_INTERRUPTS();
		capture->current = st->number;
		if (st->absorbed)
		{
			add_row(st->number, "absorbed", NULL, NULL, NULL,
					psprintf("%s: the migration already runs as one transaction", shown(st->text)), -1);
			continue;
		}
		if (st->deferred)
		{
			add_row(st->number, "deferred", NULL, NULL, "ShareUpdateExclusiveLock",
					psprintf("%s runs in a background job after the transactional part commits: %s",
							 st->kind, shown(st->text)), -1);
			continue;
		}
		started = GetCurrentTimestamp();
		steward_execute_statement(st, pr->statement_timeout_ms, true);
		pr->ended = GetCurrentTimestamp();

		/* what the plan keeps goes to capture->cxt, the rest with the statement */
		old = MemoryContextSwitchTo(stmtcxt);
		add_row(st->number, "statement", NULL, NULL, NULL, shown(st->text),
				pr->ended - started);
		resolve_objects();
		collect_locks(st->number, started);
		collect_rewrites(st->number);
		MemoryContextSwitchTo(old);
		MemoryContextReset(stmtcxt);
	}
	SPI_finish();
	steward_end_lock_timeout();
	AtEOXact_GUC(false, nestlevel);
}

static const char *
plural(const char *kind, int n)
{
	if (n == 1)
		return kind;
	if (strcmp(kind, "index") == 0)
		return "indexes";
	if (strcmp(kind, "policy") == 0)
		return "policies";
	if (kind[strlen(kind) - 1] == 's')
		return kind;			/* statistics */
	return psprintf("%ss", kind);
}

/*
 * "1 enum, 6 tables, 24 indexes": the usual kinds in a fixed order, then
 * any other kind in the order first seen.
 */
static char *
count_kinds(List *kinds)
{
	static const char *const order[] = {
		"schema", "enum", "domain", "type", "table", "partitioned table",
		"foreign table", "column", "view", "materialized view", "sequence",
		"primary key", "unique constraint", "index", "foreign key",
		"check constraint", "exclusion constraint", "trigger",
		"constraint trigger", "function", "procedure", "policy"
	};
	StringInfoData buf;
	List	   *names = NIL;
	ListCell   *lc;

	for (int i = 0; i < lengthof(order); i++)
		names = lappend(names, makeString((char *) order[i]));
	foreach(lc, kinds)
		if (!list_member(names, makeString(lfirst(lc))))
			names = lappend(names, makeString(lfirst(lc)));

	initStringInfo(&buf);
	foreach(lc, names)
	{
		const char *k = strVal(lfirst(lc));
		int			n = 0;
		ListCell   *c2;

		foreach(c2, kinds)
			n += strcmp((const char *) lfirst(c2), k) == 0;
		if (n > 0)
			appendStringInfo(&buf, "%s%d %s", buf.len ? ", " : "", n, plural(k, n));
	}
	return buf.len ? buf.data : pstrdup("nothing");
}

static int
row_cmp(const ListCell *a, const ListCell *b)
{
	const PlanRow *ra = lfirst(a);
	const PlanRow *rb = lfirst(b);
	int			sa = ra->statement == 0 ? INT_MAX : ra->statement;
	int			sb = rb->statement == 0 ? INT_MAX : rb->statement;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	/* the statement row first, then what it did, in order */
	if ((strcmp(ra->step, "statement") == 0) != (strcmp(rb->step, "statement") == 0))
		return strcmp(ra->step, "statement") == 0 ? -1 : 1;
	return ra->order - rb->order;
}

static Interval *
usecs_interval(int64 usecs)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = usecs;
	return iv;
}

static void report_plan(PlanCapture *c, PlanRun *pr, bool ok, ErrorData *edata,
						TimestampTz started);
static void emit_rows(ReturnSetInfo *rsinfo, PlanCapture *c);

Datum
steward_migrate_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PlanCapture cap = {0};
	PlanRun		pr = {0};
	StewardAttempt timeouts = {0};
	ErrorData  *edata = NULL;
	TimestampTz started;
	volatile bool ok = false;
	char	   *sql;

	steward_refuse_nested();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sql must not be null")));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	steward_resolve_timeouts(&timeouts, PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1),
							 PG_ARGISNULL(2) ? NULL : PG_GETARG_INTERVAL_P(2), true, 0);
	steward_require_read_write("plan a migration");

	InitMaterializedSRF(fcinfo, 0);
	pr.statements = steward_parse_migration("(plan)", "sql", sql, true);
	pr.lock_timeout_ms = timeouts.lock_timeout_ms;
	pr.statement_timeout_ms = timeouts.statement_timeout_ms;

	if (!hook_installed)
	{
		prev_object_access = object_access_hook;
		object_access_hook = plan_object_access;
		steward_guard_observe_rewrites(plan_note_rewrite);
		hook_installed = true;
	}

	cap.cxt = CurrentMemoryContext;
	capture = &cap;
	started = GetCurrentTimestamp();
	pr.ended = started;

	steward_mark_running(true);
	PG_TRY();
	{
		ok = steward_run_subxact_rollback(plan_body, &pr, "migration", pr.statement_timeout_ms, &edata);
		steward_mark_running(false);
		steward_guard_end();
		report_plan(&cap, &pr, ok, edata, started);
	}
	PG_FINALLY();
	{
		steward_mark_running(false);
		steward_guard_end();
		capture = NULL;
	}
	PG_END_TRY();
	capture = NULL;
	emit_rows(rsinfo, &cap);
	return (Datum) 0;
}

/* The rows after the run: the error, the locks, the guard, the summary. */
static void
report_plan(PlanCapture *c, PlanRun *pr, bool ok, ErrorData *edata, TimestampTz started)
{
	HTAB	   *strongest = NULL;	/* "relid statement" -> strongest mode */
	int			not_collected;
	ListCell   *lc;

	if (!ok)
	{
		int			failed_at = c->current;

		add_row(failed_at, "error", NULL, NULL, NULL,
				psprintf("%s: %s%s%s", unpack_sql_state(edata->sqlerrcode), edata->message,
						 edata->detail ? "\n" : "", edata->detail ? edata->detail : ""),
				-1);
	}

	/*
	 * locks: how long each is held, from its statement to the end; of the
	 * locks a statement took on one relation, only the strongest
	 */
	foreach(lc, c->locks)
	{
		PlanLock   *l = (PlanLock *) lfirst(lc);
		StewardKeyEntry *e = steward_key_entry(&strongest, CurrentMemoryContext,
											   psprintf("%u %d", l->relid, l->statement), true);

		CHECK_FOR_INTERRUPTS();
		e->number = Max(e->number, lock_strength(l->mode));
	}
	foreach(lc, c->locks)
	{
		PlanLock   *l = (PlanLock *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (l->statement == 0 ||
			lock_strength(l->mode) <
			steward_key_entry(&strongest, CurrentMemoryContext,
							  psprintf("%u %d", l->relid, l->statement), false)->number)
			continue;

		c->nlocks++;
		if (is_strong(l->mode))
			c->nstrong++;
		add_row(l->statement, "lock", l->kind, l->name, l->mode,
				psprintf("%s; held until the migration commits", lock_effect(l->mode)),
				pr->ended - l->taken);
	}
	foreach(lc, steward_guard_collected(&not_collected))
	{
		LintFinding *f = (LintFinding *) lfirst(lc);

		add_row(f->statement, "guard", NULL, f->relation,
				f->lockmode != NoLock ? GetLockmodeName(DEFAULT_LOCKMETHOD, f->lockmode) : NULL,
				psprintf("%s %s: %s; instead: %s", steward_lint_severity_name(f->severity),
						 f->rule->id, f->message, f->instead),
				-1);
	}
	{
		StringInfoData sum;

		initStringInfo(&sum);
		appendStringInfo(&sum, "created %s", count_kinds(c->counts_created));
		if (c->counts_altered)
			appendStringInfo(&sum, "; altered %s", count_kinds(c->counts_altered));
		if (c->counts_dropped)
			appendStringInfo(&sum, "; dropped %s", count_kinds(c->counts_dropped));
		appendStringInfo(&sum, "; %d lock%s on existing relations (%d blocking writes or reads); %d rewrite%s",
						 c->nlocks, c->nlocks == 1 ? "" : "s", c->nstrong,
						 c->nrewrites, c->nrewrites == 1 ? "" : "s");
		if (not_collected > 0)
			appendStringInfo(&sum, "; %d more guard finding%s not listed", not_collected,
							 not_collected == 1 ? "" : "s");
		if (!ok)
			appendStringInfo(&sum, "; FAILED at statement %d", c->current);
		appendStringInfoString(&sum, "; rolled back");
		add_row(0, "summary", NULL, NULL, NULL, sum.data, pr->ended - started);
	}
}

static void
emit_rows(ReturnSetInfo *rsinfo, PlanCapture *c)
{
	ListCell   *lc;

	list_sort(c->rows, row_cmp);
	foreach(lc, c->rows)
	{
		PlanRow    *r = (PlanRow *) lfirst(lc);
		Datum		values[7];
		bool		nulls[7] = {0};

		CHECK_FOR_INTERRUPTS();
		values[0] = Int32GetDatum(r->statement);
		nulls[0] = r->statement == 0;
		values[1] = CStringGetTextDatum(r->step);
		nulls[2] = r->kind == NULL;
		values[2] = r->kind ? CStringGetTextDatum(r->kind) : (Datum) 0;
		nulls[3] = r->object == NULL;
		values[3] = r->object ? CStringGetTextDatum(r->object) : (Datum) 0;
		nulls[4] = r->lock_mode == NULL;
		values[4] = r->lock_mode ? CStringGetTextDatum(r->lock_mode) : (Datum) 0;
		nulls[5] = r->detail == NULL;
		values[5] = r->detail ? CStringGetTextDatum(r->detail) : (Datum) 0;
		nulls[6] = r->usecs < 0;
		values[6] = r->usecs >= 0 ? IntervalPGetDatum(usecs_interval(r->usecs)) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}
