/*-------------------------------------------------------------------------
 *
 * toast.c
 *	  A block's entries out of TOAST through a small ring of buffers.
 *
 * The entries of a block are stored EXTERNAL (uncompressed, out of line),
 * 56 bytes per event: verification and sealing read megabytes of them.
 * PostgreSQL's detoasting reads the chunks through shared_buffers like any
 * index scan, spreading them over all of it; a process that has not yet
 * touched those buffers pays a page fault for each, and the chunks push
 * other pages out.  This reads the same chunks, in the same order and with
 * the same checks as heap_fetch_toast_slice, but through a BAS_BULKREAD
 * ring, as a sequential scan reads a large table.  Anything but an
 * uncompressed value stored on disk is detoasted the usual way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/toast_internals.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "pg_steward.h"
#include "audit/audit.h"

/*
 * The value attr points to, as a varlena with a 4-byte header (like
 * detoast_attr): written into "into" when it is stored out of line,
 * uncompressed, and fits in into_size bytes (into may be NULL), else
 * palloc'd; attr itself when it is neither external nor compressed.  A
 * caller that reads many values reuses one buffer: a buffer palloc'd and
 * freed for each megabyte-sized value costs a page fault per page each
 * time, as the allocator hands such buffers back to the kernel.
 */
struct varlena *
steward_audit_detoast(struct varlena *attr, struct varlena *into, Size into_size)
{
	struct varatt_external toast_pointer;
	SnapshotData snapshot_toast;
	BufferAccessStrategy strategy;
	Relation	toastrel;
	Relation   *toastidxs;
	int			num_indexes;
	int			valid_index;
	ScanKeyData key;
	IndexScanDesc scan;
	ItemPointer tid;
	Buffer		buf = InvalidBuffer;
	struct varlena *result;
	int32		attrsize;
	int			totalchunks;
	int			expected = 0;

	if (!VARATT_IS_EXTERNAL_ONDISK(attr))
		return VARATT_IS_EXTENDED(attr) ? detoast_attr(attr) : attr;
	VARATT_EXTERNAL_GET_POINTER(toast_pointer, attr);
	if (VARATT_EXTERNAL_IS_COMPRESSED(toast_pointer))
		return detoast_attr(attr);

	attrsize = VARATT_EXTERNAL_GET_EXTSIZE(toast_pointer);
	totalchunks = attrsize > 0 ? ((attrsize - 1) / TOAST_MAX_CHUNK_SIZE) + 1 : 0;
	result = into != NULL && (Size) attrsize + VARHDRSZ <= into_size ? into :
		(struct varlena *) palloc(attrsize + VARHDRSZ);
	SET_VARSIZE(result, attrsize + VARHDRSZ);
	if (attrsize == 0)
		return result;

	toastrel = table_open(toast_pointer.va_toastrelid, AccessShareLock);
	valid_index = toast_open_indexes(toastrel, AccessShareLock, &toastidxs, &num_indexes);
	init_toast_snapshot(&snapshot_toast);
	strategy = GetAccessStrategy(BAS_BULKREAD);
	ScanKeyInit(&key, (AttrNumber) 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(toast_pointer.va_valueid));
	scan = index_beginscan(toastrel, toastidxs[valid_index], &snapshot_toast, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);

	/* the chunks in chunk_seq order, as the index has them */
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		ItemPointerData t = *tid;
		BlockNumber blkno = ItemPointerGetBlockNumber(&t);
		HeapTupleData tup;
		bool		found;
		bool		isnull;
		int32		curchunk;
		Pointer		chunk;
		char	   *chunkdata;
		int32		chunksize;
		int32		expected_size;

		CHECK_FOR_INTERRUPTS();
		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != blkno)
		{
			if (BufferIsValid(buf))
				ReleaseBuffer(buf);
			buf = ReadBufferExtended(toastrel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		}
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		found = heap_hot_search_buffer(&t, toastrel, buf, &snapshot_toast, &tup, NULL, true);
		if (!found)
		{
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			continue;
		}
		curchunk = DatumGetInt32(fastgetattr(&tup, 2, RelationGetDescr(toastrel), &isnull));
		Assert(!isnull);
		chunk = DatumGetPointer(fastgetattr(&tup, 3, RelationGetDescr(toastrel), &isnull));
		Assert(!isnull);
		if (!VARATT_IS_EXTENDED(chunk))
		{
			chunksize = VARSIZE(chunk) - VARHDRSZ;
			chunkdata = VARDATA(chunk);
		}
		else if (VARATT_IS_SHORT(chunk))
		{
			chunksize = VARSIZE_SHORT(chunk) - VARHDRSZ_SHORT;
			chunkdata = VARDATA_SHORT(chunk);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg_internal("found toasted toast chunk for toast value %u in %s",
									 toast_pointer.va_valueid, RelationGetRelationName(toastrel))));

		/* the checks of heap_fetch_toast_slice */
		if (curchunk != expected)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg_internal("unexpected chunk number %d (expected %d) for toast value %u in %s",
									 curchunk, expected, toast_pointer.va_valueid,
									 RelationGetRelationName(toastrel))));
		if (curchunk >= totalchunks)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg_internal("unexpected chunk number %d (out of range %d..%d) for toast value %u in %s",
									 curchunk, 0, totalchunks - 1, toast_pointer.va_valueid,
									 RelationGetRelationName(toastrel))));
		expected_size = curchunk < totalchunks - 1 ? TOAST_MAX_CHUNK_SIZE :
			attrsize - ((totalchunks - 1) * TOAST_MAX_CHUNK_SIZE);
		if (chunksize != expected_size)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg_internal("unexpected chunk size %d (expected %d) in chunk %d of %d for toast value %u in %s",
									 chunksize, expected_size, curchunk, totalchunks,
									 toast_pointer.va_valueid, RelationGetRelationName(toastrel))));
		memcpy(VARDATA(result) + curchunk * TOAST_MAX_CHUNK_SIZE, chunkdata, chunksize);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		expected++;
	}
	if (BufferIsValid(buf))
		ReleaseBuffer(buf);
	if (expected != totalchunks)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg_internal("missing chunk number %d for toast value %u in %s",
								 expected, toast_pointer.va_valueid,
								 RelationGetRelationName(toastrel))));

	index_endscan(scan);
	FreeAccessStrategy(strategy);
	toast_close_indexes(toastidxs, num_indexes, AccessShareLock);
	table_close(toastrel, AccessShareLock);
	return result;
}
