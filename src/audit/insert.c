/*-------------------------------------------------------------------------
 *
 * insert.c
 *	  Storing an event's row in steward.audit_events.
 *
 * Every append (audit_append, the row-change trigger, pg_steward's own
 * events) ends here with the values of the row; append.c computes them.
 * The row is stored the way logical replication applies a change, without
 * an SQL statement: the partition that takes the event time is found in the
 * parent's partition bounds (the relation cache's), the id comes from
 * steward.audit_events_id_seq through nextval_internal(), and
 * ExecSimpleRelationInsert() checks the partition's NOT NULL and CHECK
 * constraints and its partition constraint, inserts the tuple and its index
 * entries.  No plan, no executor start-up, no snapshot.  It runs as the
 * owner of schema steward, as the INSERT did; it takes RowExclusiveLock on
 * the parent, the partition, its indexes and the sequence, as the INSERT
 * did, and no other lock: writers never wait for each other.
 *
 * What does not depend on the row is kept per backend: the OIDs of the
 * owner, the table and the sequence, whether the table is as this file
 * expects, and per partition used the expression states of its CHECK
 * constraints and of its partition constraint (built once instead of being
 * parsed from the catalog for every row).  Any invalidation of the table,
 * the sequence or a partition kept here (a partition created, attached or
 * detached by the sealer, by retention or by hand, a changed constraint, a
 * VACUUM), of schemas or of roles drops all of it; the next append builds
 * it again from the relation cache after taking its locks.
 *
 * This way is taken only when the INSERT statement would do nothing more:
 * the table and the partition have no INSERT trigger of any kind, no rule,
 * no row security, no column but the fifteen that are filled, no
 * identity or generated column; the owner has INSERT on the table; the
 * partition for the time is a plain table laid out like its parent; no
 * executor permission hook (sepgsql) is loaded; and no append is running
 * already in this backend (a constraint that appends).  Otherwise the row
 * is written with the INSERT statement of earlier versions, through a saved
 * plan (store_with_statement), which fires the triggers, applies the rules
 * and policies and reports the errors as before.  (Its one-row limit stops
 * the statement after its row: row triggers and BEFORE STATEMENT triggers
 * fire, AFTER STATEMENT triggers never did.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/attmap.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pg_steward.h"
#include "audit/audit.h"

#define EVENTS_TABLE	"audit_events"
#define EVENTS_SEQUENCE "audit_events_id_seq"

/* the columns an append fills, in the order of AuditColumn */
static const struct
{
	const char *name;
	Oid			type;
}			columns[AUDIT_NCOLS] =
{
	{"id", INT8OID},
	{"xid", XID8OID},
	{"event_time", TIMESTAMPTZOID},
	{"event_type", TEXTOID},
	{"action", TEXTOID},
	{"resource_type", TEXTOID},
	{"resource_id", TEXTOID},
	{"actor", TEXTOID},
	{"session_user_name", TEXTOID},
	{"current_user_name", TEXTOID},
	{"client_addr", INETOID},
	{"application_name", TEXTOID},
	{"commitment", BYTEAOID},
	{"salt", BYTEAOID},
	{"payload", JSONBOID},
};

/* ------------------------------------------------------------------------
 * The INSERT statement (the general way)
 * ------------------------------------------------------------------------
 */
#define INSERT_EVENT_SQL \
	"INSERT INTO steward.audit_events (id, xid, event_time, event_type, action, " \
	"  resource_type, resource_id, actor, session_user_name, current_user_name, " \
	"  client_addr, application_name, commitment, salt, payload) " \
	"VALUES (pg_catalog.nextval('steward.audit_events_id_seq'::pg_catalog.regclass), " \
	"  $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id"
#define INSERT_EVENT_NARGS (AUDIT_NCOLS - 1)

static SPIPlanPtr insert_plan = NULL;

/* The row through the INSERT (id from nextval, $1.. the other columns). */
static int64
store_with_statement(Datum *values, bool *isnull)
{
	Datum		params[INSERT_EVENT_NARGS];
	char		nulls[INSERT_EVENT_NARGS];
	Oid			save_userid;
	int			save_sec_context;
	int64		id;
	bool		idnull;
	int			rc;

	for (int i = 0; i < INSERT_EVENT_NARGS; i++)
	{
		params[i] = values[i + 1];
		nulls[i] = isnull[i + 1] ? 'n' : ' ';
	}

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(steward_owner(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (insert_plan == NULL)
	{
		Oid			types[INSERT_EVENT_NARGS];
		SPIPlanPtr	plan;

		for (int i = 0; i < INSERT_EVENT_NARGS; i++)
			types[i] = columns[i + 1].type;
		plan = SPI_prepare(INSERT_EVENT_SQL, INSERT_EVENT_NARGS, types);
		if (plan == NULL)
			elog(ERROR, "could not prepare the audit insert: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep the audit insert plan");
		insert_plan = plan;
	}
	rc = SPI_execute_plan(insert_plan, params, nulls, false, 1);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "audit insert failed: %s", SPI_result_code_string(rc));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &idnull));
	SPI_finish();

	SetUserIdAndSecContext(save_userid, save_sec_context);
	return id;
}

/* ------------------------------------------------------------------------
 * What is kept per backend
 * ------------------------------------------------------------------------
 */

/* a partition rows went to */
typedef struct TargetPartition
{
	Oid			relid;
	bool		usable;			/* a plain table laid out like the parent,
								 * without INSERT triggers */
	int			ncheck;			/* its CHECK constraints (the relcache's) */
	ExprState **checks;			/* their states, in the relcache's order */
	ExprState  *partition_check;	/* its partition constraint */
} TargetPartition;

#define MAX_TARGET_PARTITIONS 8

static struct
{
	bool		callbacks;		/* the invalidation callbacks are registered */
	bool		valid;			/* nothing below was invalidated since it was
								 * read */
	MemoryContext cxt;			/* what is allocated for the fields below */
	Oid			owner;			/* of schema steward */
	Oid			parent;			/* steward.audit_events */
	Oid			seq;			/* steward.audit_events_id_seq */
	bool		described;		/* the fields below are read from the parent */
	bool		usable;			/* the parent is as this file expects */
	AttrNumber	attnum[AUDIT_NCOLS]; /* of the columns in the parent */
	int			nparts;
	TargetPartition parts[MAX_TARGET_PARTITIONS];
}			target;

/* appends running in this backend through store_direct */
static int	direct_depth = 0;

static void
target_relcache_callback(Datum arg, Oid relid)
{
	if (!target.valid)
		return;
	if (!OidIsValid(relid) || relid == target.parent || relid == target.seq)
		target.valid = false;
	for (int i = 0; i < target.nparts; i++)
		if (target.parts[i].relid == relid)
			target.valid = false;
}

/* schema steward (its owner), roles and role memberships (the ACL check) */
static void
target_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	target.valid = false;
}

/*
 * Forget everything and look up the OIDs again, by name (no locks: the
 * caller locks the table and calls again if an invalidation came in).
 * Never called while store_direct uses the memory it frees.
 */
static void
target_reset(void)
{
	Oid			nsp;

	if (!target.callbacks)
	{
		CacheRegisterRelcacheCallback(target_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, target_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, target_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, target_syscache_callback, (Datum) 0);
		target.callbacks = true;
	}
	if (target.cxt == NULL)
		target.cxt = AllocSetContextCreate(CacheMemoryContext,
										   "pg_steward audit target",
										   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(target.cxt);
	target.owner = InvalidOid;
	target.parent = InvalidOid;
	target.seq = InvalidOid;
	target.described = false;
	target.usable = false;
	target.nparts = 0;
	target.valid = true;

	nsp = get_namespace_oid(STEWARD_SCHEMA, true);
	if (!OidIsValid(nsp))
		return;
	target.owner = steward_owner();
	target.parent = get_relname_relid(EVENTS_TABLE, nsp);
	target.seq = get_relname_relid(EVENTS_SEQUENCE, nsp);
}

static bool
has_insert_triggers(const TriggerDesc *td)
{
	return td != NULL &&
		(td->trig_insert_before_row || td->trig_insert_after_row ||
		 td->trig_insert_instead_row || td->trig_insert_before_statement ||
		 td->trig_insert_after_statement || td->trig_insert_new_table);
}

/* Is the (locked) parent as this file expects?  Sets target.usable. */
static void
target_describe(Relation parent)
{
	TupleDesc	desc = RelationGetDescr(parent);
	PartitionKey key;
	int			found = 0;

	target.described = true;
	target.usable = false;
	if (parent->rd_rel->relkind != RELKIND_PARTITIONED_TABLE ||
		parent->rd_rel->relrowsecurity || parent->rd_rel->relhasrules ||
		has_insert_triggers(parent->trigdesc))
		return;

	for (int c = 0; c < AUDIT_NCOLS; c++)
		target.attnum[c] = InvalidAttrNumber;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			c;

		if (att->attisdropped)
			continue;
		for (c = 0; c < AUDIT_NCOLS; c++)
			if (strcmp(NameStr(att->attname), columns[c].name) == 0)
				break;
		/* a column the append does not fill, or one it cannot fill so */
		if (c == AUDIT_NCOLS || att->atttypid != columns[c].type ||
			att->attgenerated != '\0' || att->attidentity != '\0')
			return;
		target.attnum[c] = att->attnum;
		found++;
	}
	if (found != AUDIT_NCOLS)
		return;

	key = RelationGetPartitionKey(parent);
	if (key == NULL || key->strategy != PARTITION_STRATEGY_RANGE ||
		key->partnatts != 1 ||
		key->partattrs[0] != target.attnum[AUDIT_COL_TIME])
		return;

	/* the INSERT checked this privilege of the owner's */
	if (pg_class_aclcheck(RelationGetRelid(parent), target.owner,
						  ACL_INSERT) != ACLCHECK_OK)
		return;
	target.usable = true;
}

/*
 * The partition's entry, made on its first row: whether it is usable, and
 * the expression states of its constraints, built as the executor builds
 * them for a new result relation (ExecRelCheck, ExecPartitionCheck), but
 * once.  The partition is locked.  An entry is recorded only once it is
 * complete (an error while building it leaves none).
 */
static TargetPartition *
target_partition(Relation partrel, Relation parent)
{
	TupleDesc	desc = RelationGetDescr(partrel);
	TargetPartition entry = {0};
	AttrMap    *map = NULL;

	for (int i = 0; i < target.nparts; i++)
		if (target.parts[i].relid == RelationGetRelid(partrel))
			return &target.parts[i];

	entry.relid = RelationGetRelid(partrel);
	if (partrel->rd_rel->relkind == RELKIND_RELATION &&
		!has_insert_triggers(partrel->trigdesc) &&
		!(desc->constr != NULL && desc->constr->has_generated_stored) &&
		/* the row is formed in the parent's layout */
		(map = build_attrmap_by_name_if_req(RelationGetDescr(parent), desc)) == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(target.cxt);
		List	   *qual;

		entry.ncheck = desc->constr != NULL ? desc->constr->num_check : 0;
		entry.checks = palloc0(Max(entry.ncheck, 1) * sizeof(ExprState *));
		for (int i = 0; i < entry.ncheck; i++)
		{
			Expr	   *check = stringToNode(desc->constr->check[i].ccbin);

			entry.checks[i] = ExecInitExpr(expression_planner(check), NULL);
		}
		qual = RelationGetPartitionQual(partrel);
		entry.partition_check = ExecInitCheck((List *) expression_planner((Expr *) qual), NULL);
		MemoryContextSwitchTo(oldcxt);
		entry.usable = true;
	}
	if (map != NULL)
		free_attrmap(map);

	if (target.nparts == MAX_TARGET_PARTITIONS)
	{
		/* rows went to many partitions: start over at the next append */
		target.valid = false;
		target.nparts = 0;
	}
	target.parts[target.nparts] = entry;
	return &target.parts[target.nparts++];
}

/*
 * The partition of the (locked) parent that takes the event time, as the
 * executor's tuple routing finds it, or InvalidOid when that is not a
 * plain partition of the parent (no partition, a sub-partitioned one):
 * the INSERT then does what it does.
 */
static Oid
route(Relation parent, Datum event_time)
{
	PartitionKey key = RelationGetPartitionKey(parent);
	PartitionDesc partdesc;
	PartitionBoundInfo bounds;
	bool		equal;
	int			offset;
	int			idx;

	/* as the executor: partitions being detached are not used in READ COMMITTED */
	partdesc = RelationGetPartitionDesc(parent, !IsolationUsesXactSnapshot());
	if (partdesc->nparts == 0)
		return InvalidOid;
	bounds = partdesc->boundinfo;
	offset = partition_range_datum_bsearch(key->partsupfunc, key->partcollation,
										   bounds, 1, &event_time, &equal);
	/* the bound at offset is <= the time; the one after it ends its range */
	idx = bounds->indexes[offset + 1];
	if (idx < 0)
		idx = bounds->default_index;
	if (idx < 0 || !partdesc->is_leaf[idx])
		return InvalidOid;
	return partdesc->oids[idx];
}

/*
 * Insert the row into the (locked, usable) partition, as the INSERT did
 * once it had routed the row: constraints, tuple, index entries.  The id
 * is taken here, from the sequence.
 */
static pg_noinline void
insert_row(Relation partrel, TargetPartition *part, Datum *values,
		   bool *isnull, int64 *id)
{
	direct_depth++;
	PG_TRY();
	{
		EState	   *estate = CreateExecutorState();
		MemoryContext oldcxt = MemoryContextSwitchTo(estate->es_query_cxt);
		TupleDesc	desc = RelationGetDescr(partrel);
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		TupleTableSlot *slot;
		Datum	   *rowvalues;
		bool	   *rownulls;

		InitResultRelInfo(rri, partrel, 0, NULL, 0);
		/* the states kept for the partition, as ExecConstraints would build them */
		if (part->ncheck > 0 && desc->constr != NULL &&
			desc->constr->num_check == part->ncheck)
			rri->ri_ConstraintExprs = part->checks;
		rri->ri_PartitionCheckExpr = part->partition_check;
		ExecOpenIndices(rri, false);

		*id = nextval_internal(target.seq, true);
		values[AUDIT_COL_ID] = Int64GetDatum(*id);
		isnull[AUDIT_COL_ID] = false;

		rowvalues = palloc(desc->natts * sizeof(Datum));
		rownulls = palloc(desc->natts * sizeof(bool));
		memset(rownulls, true, desc->natts * sizeof(bool));
		for (int c = 0; c < AUDIT_NCOLS; c++)
		{
			rowvalues[target.attnum[c] - 1] = values[c];
			rownulls[target.attnum[c] - 1] = isnull[c];
		}
		slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
		ExecStoreHeapTuple(heap_form_tuple(desc, rowvalues, rownulls), slot, true);

		ExecSimpleRelationInsert(rri, estate, slot);

		ExecDropSingleTupleTableSlot(slot);
		ExecCloseIndices(rri);
		MemoryContextSwitchTo(oldcxt);
		FreeExecutorState(estate);
	}
	PG_FINALLY();
	{
		direct_depth--;
	}
	PG_END_TRY();
}

/*
 * Store the row without a statement; false (nothing done, no id taken)
 * when it has to go through the INSERT instead.
 */
static bool
store_direct(Datum *values, bool *isnull, int64 *id)
{
	Oid			parentid;
	Oid			partid;
	Relation	parent;
	Relation	partrel;
	TargetPartition *part;
	Oid			save_userid;
	int			save_sec_context;

	if (direct_depth > 0 || ExecutorCheckPerms_hook != NULL)
		return false;

	/*
	 * The table's OID, locked, and still the one the name leads to: the
	 * lock brings in the invalidations sent before it was granted.
	 */
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!target.valid)
			target_reset();
		parentid = target.parent;
		if (!OidIsValid(parentid) || !OidIsValid(target.seq) ||
			!OidIsValid(target.owner))
			return false;
		LockRelationOid(parentid, RowExclusiveLock);
		if (target.valid)
			break;
		UnlockRelationOid(parentid, RowExclusiveLock);
	}
	parent = try_relation_open(parentid, NoLock);
	if (parent == NULL)
		return false;

	/* the descriptions and constraints are read and built as the owner */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(target.owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	if (!target.described)
		target_describe(parent);
	partid = target.usable ? route(parent, values[AUDIT_COL_TIME]) : InvalidOid;
	if (!OidIsValid(partid))
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
		relation_close(parent, NoLock);
		return false;
	}
	partrel = table_open(partid, RowExclusiveLock);
	part = target_partition(partrel, parent);
	if (!part->usable)
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
		table_close(partrel, NoLock);
		relation_close(parent, NoLock);
		return false;
	}

	/* the INSERT statement would refuse in a parallel operation */
	PreventCommandIfParallelMode("INSERT");

	insert_row(partrel, part, values, isnull, id);

	SetUserIdAndSecContext(save_userid, save_sec_context);
	table_close(partrel, NoLock);
	relation_close(parent, NoLock);
	return true;
}

/*
 * Store one event row; values and isnull are indexed by AuditColumn, the
 * id is taken here (from the sequence) and returned.
 */
int64
steward_audit_store(Datum *values, bool *isnull)
{
	int64		id;

	if (store_direct(values, isnull, &id))
		return id;
	return store_with_statement(values, isnull);
}
