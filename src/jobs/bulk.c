/*-------------------------------------------------------------------------
 *
 * bulk.c
 *	  copy_table's inserts, in bulk: the rows of a SELECT on the source are
 *	  written into the target as COPY FROM writes them (table_multi_insert
 *	  through a BulkInsertState, a thousand rows at a time, then their index
 *	  entries), instead of one by one as INSERT ... SELECT does.
 *
 * The SELECT runs through SPI as the job's owner, as the SELECT of the
 * INSERT would: the owner's privileges on the source's columns and its row
 * security policies apply.  Its rows go to a DestReceiver that routes each
 * to its partition, checks the target's constraints (NOT NULL, CHECK, the
 * partition constraint) and buffers it; the buffers are written with
 * table_multi_insert, then every row's index entries are made with
 * ExecInsertIndexTuples, which checks unique and exclusion constraints as
 * an INSERT does.
 *
 * It serves only a target whose INSERT this does completely, and says no
 * (the caller then runs INSERT ... SELECT) otherwise:
 *	  - no trigger on the target or any of its partitions (foreign keys and
 *		deferrable constraints are triggers), no rule on the target, no row
 *		security for the owner;
 *	  - no generated column, and no column of the target left out of the
 *		copy with a default, an identity or a domain type (those would need
 *		evaluating or checking);
 *	  - every copied column of the same type and typmod on both sides (no
 *		assignment coercion);
 *	  - plain heap tables only (no foreign partition, no other access
 *		method), and the source not a partition of the target.
 * The owner's INSERT privilege on the copied columns is checked as COPY FROM
 * checks it (ExecCheckRTPerms: column privileges and the executor's
 * permission hook).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/execPartition.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/params.h"
#include "parser/parsetree.h"
#include "storage/lmgr.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

/* as COPY FROM buffers */
#define BULK_MAX_TUPLES		1000
#define BULK_MAX_BYTES		65535

/* the rows buffered for one leaf relation */
typedef struct BulkBuffer
{
	ResultRelInfo *rri;
	TupleTableSlot *slots[BULK_MAX_TUPLES];
	int			nused;
	BulkInsertState bistate;
} BulkBuffer;

typedef struct BulkInsert
{
	DestReceiver pub;			/* the SELECT's rows arrive here */
	EState	   *estate;
	ModifyTableState *mtstate;	/* what tuple routing needs of one */
	ResultRelInfo *root;
	PartitionTupleRouting *proute;	/* NULL: not partitioned */
	TupleTableSlot *rootslot;	/* a row in the target's row type */
	AttrNumber *attnums;		/* target attnum of each SELECT column */
	int			ncols;
	int			keycol;			/* the key's SELECT column (0-based), or -1 */
	MemoryContext keycxt;		/* where the last key is kept */
	Datum		lastkey;		/* the key of the last row */
	bool		haskey;
	Oid			keytype;
	int16		keylen;
	bool		keybyval;
	CommandId	cid;
	List	   *buffers;		/* BulkBuffer * */
	int			buffered;		/* rows in all buffers */
	Size		bytes;			/* their size */
	uint64		inserted;
} BulkInsert;

/*
 * Can the target take the source's columns (cols, as copy_table lists
 * them) in bulk?  Fills attnums (target attnums, in the order of cols) and
 * *ncols.  The caller holds RowExclusiveLock on the target, and this takes
 * it on every partition, so what it finds holds while the batch runs.
 */
static bool
bulk_eligible(Oid source, Oid target, const char *cols, const char *keyname,
			  AttrNumber **attnums, int *ncols, int *keycol)
{
	Relation	src = table_open(source, AccessShareLock);
	Relation	tgt = table_open(target, NoLock);
	TupleDesc	sdesc = RelationGetDescr(src);
	TupleDesc	tdesc = RelationGetDescr(tgt);
	bool	   *copied = palloc0(sizeof(bool) * (tdesc->natts + 1));
	StringInfoData names;
	List	   *rels = NIL;
	ListCell   *lc;
	bool		ok = true;

	*attnums = palloc(sizeof(AttrNumber) * sdesc->natts);
	*ncols = 0;
	*keycol = -1;
	initStringInfo(&names);

	/* the columns: the list copy_table keeps, of the same types */
	for (int i = 0; i < sdesc->natts && ok; i++)
	{
		Form_pg_attribute satt = TupleDescAttr(sdesc, i);
		AttrNumber	tattnum;
		Form_pg_attribute tatt;

		if (satt->attisdropped || satt->attgenerated)
			continue;
		appendStringInfo(&names, "%s%s", names.len ? ", " : "", quote_identifier(NameStr(satt->attname)));
		tattnum = get_attnum(target, NameStr(satt->attname));
		if (tattnum <= 0)
		{
			ok = false;
			break;
		}
		tatt = TupleDescAttr(tdesc, tattnum - 1);
		if (tatt->atttypid != satt->atttypid || tatt->atttypmod != satt->atttypmod || tatt->attgenerated)
			ok = false;
		copied[tattnum] = true;
		if (keyname != NULL && strcmp(NameStr(satt->attname), keyname) == 0)
			*keycol = *ncols;
		(*attnums)[(*ncols)++] = tattnum;
	}
	ok = ok && strcmp(names.data, cols) == 0 && (keyname == NULL || *keycol >= 0);

	/*
	 * The target's other columns stay NULL, as the INSERT leaves them: but
	 * for a default, an identity, and a domain, whose constraints the INSERT
	 * checks on that NULL.
	 */
	for (int i = 0; i < tdesc->natts && ok; i++)
	{
		Form_pg_attribute tatt = TupleDescAttr(tdesc, i);

		if (!tatt->attisdropped && !copied[tatt->attnum] &&
			(tatt->atthasdef || tatt->attidentity || tatt->attgenerated ||
			 get_typtype(tatt->atttypid) == TYPTYPE_DOMAIN))
			ok = false;
	}

	/* the target: no rule, no row security for the owner */
	ok = ok && !tgt->rd_rel->relhasrules &&
		check_enable_rls(target, InvalidOid, true) != RLS_ENABLED;

	/* it and its partitions: heap tables without triggers or generated columns */
	if (ok)
		rels = tgt->rd_rel->relkind == RELKIND_PARTITIONED_TABLE
			? find_all_inheritors(target, RowExclusiveLock, NULL) : list_make1_oid(target);
	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel;

		if (relid == source)
		{
			ok = false;
			break;
		}
		rel = table_open(relid, NoLock);
		if (rel->trigdesc != NULL ||
			(rel->rd_att->constr && rel->rd_att->constr->has_generated_stored) ||
			(rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE &&
			 (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID)))
			ok = false;
		table_close(rel, NoLock);
		if (!ok)
			break;
	}

	table_close(tgt, NoLock);
	table_close(src, AccessShareLock);
	return ok;
}

/* Write a buffer's rows, then their index entries. */
static void
flush_buffer(BulkInsert *bi, BulkBuffer *buf)
{
	EState	   *estate = bi->estate;
	ResultRelInfo *rri = buf->rri;
	MemoryContext oldcxt;

	if (buf->nused == 0)
		return;
	/* table_multi_insert leaks into the current memory context */
	oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	table_multi_insert(rri->ri_RelationDesc, buf->slots, buf->nused, bi->cid, 0, buf->bistate);
	MemoryContextSwitchTo(oldcxt);

	for (int i = 0; i < buf->nused; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (rri->ri_NumIndices > 0)
		{
			List	   *recheck = ExecInsertIndexTuples(rri, buf->slots[i], estate,
														false, false, NULL, NIL);

			/* only deferred constraints ask for a recheck, and they have triggers */
			if (recheck != NIL)
				elog(ERROR, "unexpected index recheck in a bulk insert");
		}
		ExecClearTuple(buf->slots[i]);
		ResetPerTupleExprContext(estate);
	}
	bi->inserted += buf->nused;
	buf->nused = 0;
	ResetPerTupleExprContext(estate);
}

static void
flush_all(BulkInsert *bi)
{
	ListCell   *lc;

	foreach(lc, bi->buffers)
		flush_buffer(bi, (BulkBuffer *) lfirst(lc));
	bi->buffered = 0;
	bi->bytes = 0;
}

static BulkBuffer *
buffer_of(BulkInsert *bi, ResultRelInfo *rri)
{
	BulkBuffer *buf;
	MemoryContext oldcxt;
	ListCell   *lc;

	foreach(lc, bi->buffers)
	{
		if (((BulkBuffer *) lfirst(lc))->rri == rri)
			return (BulkBuffer *) lfirst(lc);
	}
	oldcxt = MemoryContextSwitchTo(bi->estate->es_query_cxt);
	buf = palloc0(sizeof(BulkBuffer));
	buf->rri = rri;
	buf->bistate = GetBulkInsertState();
	bi->buffers = lappend(bi->buffers, buf);
	MemoryContextSwitchTo(oldcxt);
	return buf;
}

static bool
bulk_receive(TupleTableSlot *slot, DestReceiver *self)
{
	BulkInsert *bi = (BulkInsert *) self;
	EState	   *estate = bi->estate;
	TupleTableSlot *row = bi->rootslot;
	ResultRelInfo *rri = bi->root;
	BulkBuffer *buf;
	TupleTableSlot *dst;
	MemoryContext oldcxt;

	CHECK_FOR_INTERRUPTS();
	ResetPerTupleExprContext(estate);
	slot_getallattrs(slot);
	if (bi->keycol >= 0 && !slot->tts_isnull[bi->keycol])
	{
		if (bi->haskey && !bi->keybyval)
			pfree(DatumGetPointer(bi->lastkey));
		oldcxt = MemoryContextSwitchTo(bi->keycxt);
		bi->lastkey = datumCopy(slot->tts_values[bi->keycol], bi->keybyval, bi->keylen);
		bi->haskey = true;
		MemoryContextSwitchTo(oldcxt);
	}

	/* the row in the target's row type; columns not copied are NULL */
	ExecClearTuple(row);
	memset(row->tts_isnull, true, sizeof(bool) * row->tts_tupleDescriptor->natts);
	for (int i = 0; i < bi->ncols; i++)
	{
		row->tts_values[bi->attnums[i] - 1] = slot->tts_values[i];
		row->tts_isnull[bi->attnums[i] - 1] = slot->tts_isnull[i];
	}
	ExecStoreVirtualTuple(row);

	if (bi->proute)
	{
		TupleConversionMap *map;

		rri = ExecFindPartition(bi->mtstate, bi->root, bi->proute, row, estate);
		map = rri->ri_RootToPartitionMap;
		if (map != NULL)
			row = execute_attr_map_slot(map->attrMap, row, rri->ri_PartitionTupleSlot);
	}

	buf = buffer_of(bi, rri);
	if (buf->slots[buf->nused] == NULL)
	{
		oldcxt = MemoryContextSwitchTo(estate->es_query_cxt);
		buf->slots[buf->nused] = table_slot_create(rri->ri_RelationDesc, &estate->es_tupleTable);
		MemoryContextSwitchTo(oldcxt);
	}
	dst = ExecCopySlot(buf->slots[buf->nused], row);

	/* what the INSERT would check before writing the row */
	if (rri->ri_RelationDesc->rd_att->constr)
		ExecConstraints(rri, dst, estate);
	if (rri->ri_RelationDesc->rd_rel->relispartition && bi->proute == NULL)
		ExecPartitionCheck(rri, dst, estate, true);

	buf->nused++;
	bi->buffered++;
	bi->bytes += ExecFetchSlotHeapTuple(dst, false, NULL)->t_len;
	if (buf->nused == BULK_MAX_TUPLES || bi->buffered >= BULK_MAX_TUPLES || bi->bytes >= BULK_MAX_BYTES)
		flush_all(bi);
	return true;
}

static void
bulk_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	BulkInsert *bi = (BulkInsert *) self;

	if (typeinfo->natts != bi->ncols)
		elog(ERROR, "a bulk insert got %d columns for %d", typeinfo->natts, bi->ncols);
	if (bi->keycol >= 0)
	{
		Form_pg_attribute att = TupleDescAttr(typeinfo, bi->keycol);

		bi->keytype = att->atttypid;
		bi->keylen = att->attlen;
		bi->keybyval = att->attbyval;
	}
	/* after SPI's CommandCounterIncrement for the SELECT */
	bi->cid = GetCurrentCommandId(true);
	bi->estate->es_output_cid = bi->cid;
}

static void
bulk_noop(DestReceiver *self)
{
}

/*
 * Insert the rows of "SELECT cols FROM source WHERE cond" (cond with its
 * nargs parameters; it may end in ORDER BY and LIMIT) into target in bulk,
 * and set *rows to their number.  With a keyname (a column of cols), *lastkey
 * is the text of that column in the last row (NULL: no row).  Returns false,
 * having done nothing, when the target cannot be written this way (see the
 * header comment): the caller then runs INSERT ... SELECT.  Runs as the
 * current user, inside SPI.
 */
bool
steward_bulk_insert(Oid source, Oid target, const char *cols, const char *cond,
					int nargs, Oid *types, Datum *values, const char *nulls,
					const char *keyname, uint64 *rows, char **lastkey)
{
	BulkInsert *bi;
	RangeTblEntry *rte;
	EState	   *estate;
	ResultRelInfo *root;
	AttrNumber *attnums;
	int			ncols;
	int			keycol;
	SPIPlanPtr	plan;
	ParamListInfo params;
	SPIExecuteOptions options = {0};
	Relation	tgt;
	ListCell   *lc;

	tgt = table_open(target, RowExclusiveLock);
	if (!bulk_eligible(source, target, cols, keyname, &attnums, &ncols, &keycol))
	{
		table_close(tgt, NoLock);
		return false;
	}

	/* the INSERT privilege on the copied columns, as COPY FROM checks it */
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = target;
	rte->relkind = tgt->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT;
	for (int i = 0; i < ncols; i++)
		rte->insertedCols = bms_add_member(rte->insertedCols,
										   attnums[i] - FirstLowInvalidHeapAttributeNumber);
	(void) ExecCheckRTPerms(list_make1(rte), true);

	/* an executor state as COPY FROM sets it up */
	estate = CreateExecutorState();
	ExecInitRangeTable(estate, list_make1(rte));
	root = makeNode(ResultRelInfo);
	ExecInitResultRelation(estate, root, 1);
	CheckValidResultRel(root, CMD_INSERT);
	ExecOpenIndices(root, false);

	bi = palloc0(sizeof(BulkInsert));
	bi->pub.receiveSlot = bulk_receive;
	bi->pub.rStartup = bulk_startup;
	bi->pub.rShutdown = bulk_noop;
	bi->pub.rDestroy = bulk_noop;
	bi->pub.mydest = DestNone;
	bi->estate = estate;
	bi->root = root;
	bi->attnums = attnums;
	bi->ncols = ncols;
	bi->keycol = keycol;
	bi->keycxt = CurrentMemoryContext;
	bi->mtstate = makeNode(ModifyTableState);
	bi->mtstate->ps.plan = NULL;
	bi->mtstate->ps.state = estate;
	bi->mtstate->operation = CMD_INSERT;
	bi->mtstate->mt_nrels = 1;
	bi->mtstate->resultRelInfo = root;
	bi->mtstate->rootResultRelInfo = root;
	if (tgt->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		bi->proute = ExecSetupPartitionTupleRouting(estate, tgt);
	bi->rootslot = ExecInitExtraTupleSlot(estate, RelationGetDescr(tgt), &TTSOpsVirtual);

	/* the SELECT: never parallel, its rows are written as they come */
	plan = SPI_prepare_cursor(psprintf("SELECT %s FROM %s WHERE %s", cols,
									   quote_qualified_identifier(get_namespace_name(get_rel_namespace(source)),
																  get_rel_name(source)),
									   cond),
							  nargs, types, 0);
	if (plan == NULL)
		elog(ERROR, "could not prepare a bulk copy: %s", SPI_result_code_string(SPI_result));
	params = makeParamList(nargs);
	for (int i = 0; i < nargs; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = nulls != NULL && nulls[i] == 'n';
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	options.params = params;
	options.dest = (DestReceiver *) bi;
	/* (SPI says SPI_OK_UTILITY for a SELECT whose rows go to a DestNone receiver) */
	if (SPI_execute_plan_extended(plan, &options) < 0)
		elog(ERROR, "could not read the rows of a bulk copy");
	flush_all(bi);
	SPI_freeplan(plan);

	foreach(lc, bi->buffers)
		FreeBulkInsertState(((BulkBuffer *) lfirst(lc))->bistate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	if (bi->proute)
		ExecCleanupTupleRouting(bi->mtstate, bi->proute);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	FreeExecutorState(estate);
	table_close(tgt, NoLock);

	*rows = bi->inserted;
	if (lastkey != NULL)
		*lastkey = bi->haskey ? steward_key_text(bi->lastkey, bi->keytype) : NULL;
	return true;
}
