/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  The parts of verify_audit_chain: verify.c checks the chain and
 *	  matches events to their entries; verify_read.c reads the events of a
 *	  chunk and computes what is compared; verify_parallel.c shares that
 *	  reading out among the leader and parallel workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_AUDIT_VERIFY_H
#define STEWARD_AUDIT_VERIFY_H

#include "postgres.h"

#include "storage/block.h"
#include "storage/buf.h"
#include "storage/dsm.h"
#include "storage/shm_toc.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

#include "audit/audit.h"

/* what kind of event a row is, as far as verification cares */
#define VERIFY_KIND_OTHER		0
#define VERIFY_KIND_REDACTION	1
#define VERIFY_KIND_RETENTION	2

/*
 * One event of a chunk, read and hashed: what matching it against its
 * entry needs.  A NULL id or event_time reads as 0, as SPI returns them.
 */
typedef struct VerifyRow
{
	int64		id;
	uint64		xid;
	int64		time_us;		/* steward_audit_unix_micros(event_time) */
	int64		target;			/* a REDACTION's resource_id as a number */
	uint32		part;			/* where it is stored: the partition's */
	uint32		blkno;			/* place in the chunk's list, page, item */
	uint16		offnum;
	uint8		state;			/* AUDIT_PAYLOAD_* */
	uint8		kind;			/* VERIFY_KIND_* */
	bool		encodable;		/* steward_audit_time_encodable(event_time) */
	uint8		leaf[AUDIT_HASH_LEN];
} VerifyRow;

/* handed every row read; rows come in no particular order */
typedef void (*VerifyRowsFn) (void *arg, const VerifyRow *rows, int nrows);

typedef struct VerifyEvents VerifyEvents;
typedef struct VerifyRun VerifyRun;
typedef struct VerifyTeam VerifyTeam;

/* which xids a chunk's events have: completed in upper, not in lower */
typedef struct VerifyBounds
{
	AuditSnapshot upper;
	bool		has_lower;
	AuditSnapshot lower;
} VerifyBounds;

/* the pages of one partition to read, in order */
typedef struct VerifyPages
{
	BlockNumber *pages;
	int			npages;
	int			maxpages;
} VerifyPages;

/* what one participant (leader or worker) reads with */
typedef struct VerifyReader
{
	int			nparts;
	Relation   *rels;			/* the partitions, open */
	AttrNumber *attnums;		/* AUDIT_NCOLS per partition */
	BlockNumber *nblocks;		/* each partition's pages when the run began */
	Snapshot	snapshot;
	bool		leaf_only;		/* leaves only, no payload state nor kind */
	BufferAccessStrategy strategy;	/* a small ring, as large scans use */
	Datum	   *values;			/* a row's columns, deformed */
	bool	   *isnull;
	VerifyRow  *rows;			/* the rows of a unit */
	int			maxrows;
	/* events hashed two by two: the leaves, then the commitments */
	StringInfoData bytes[2];	/* event bytes, reused */
	StringInfoData text[2];		/* payload text, reused */
	AuditEventHash hash[2];
	VerifyRow  *pending[2];		/* rows of this unit waiting for their hashes */
	int			npending;
	MemoryContext rowcxt;		/* reset after each unit */
	MemoryContext cxt;			/* where the reader lives */
} VerifyReader;

/* verify_read.c */
extern VerifyEvents *steward_verify_events_open(const char *caller, bool for_seal);
extern void steward_verify_events_prepare(VerifyEvents *ev, const AuditSnapshot *upper,
										  const AuditSnapshot *lower);
extern void steward_verify_events_start(VerifyEvents *ev, VerifyRowsFn fn, void *arg);
extern void steward_verify_events_workers(VerifyEvents *ev);
extern void steward_verify_events_step(VerifyEvents *ev);
extern void steward_verify_events_finish(VerifyEvents *ev);
extern void steward_verify_events_read(VerifyEvents *ev, const AuditSnapshot *upper,
									   const AuditSnapshot *lower, const uint64 *xid_limit,
									   VerifyRowsFn fn, void *arg);
extern void steward_verify_events_close(VerifyEvents *ev);
extern void steward_verify_reader_init(VerifyReader *r, int nparts, Relation *rels,
									   Snapshot snapshot, bool any_am);
extern void steward_verify_reader_end(VerifyReader *r);
extern int	steward_verify_read_unit(VerifyReader *r, const VerifyBounds *b, int part,
									 const BlockNumber *pages, int npages);

/* verify_parallel.c */
extern VerifyRun *steward_verify_run_begin(VerifyTeam **teamp, VerifyReader *leader,
										   int nparts, Relation *rels,
										   const VerifyBounds *b, const VerifyPages *pages,
										   VerifyRowsFn fn, void *arg);
extern void steward_verify_run_step(VerifyRun *run);
extern void steward_verify_run_finish(VerifyRun *run);
extern void steward_verify_team_start(VerifyTeam **teamp, int nparts, Relation *rels,
									  int64 npages, int max_workers);
extern void steward_verify_team_end(VerifyTeam *team);
extern PGDLLEXPORT void steward_verify_worker(dsm_segment *seg, shm_toc *toc);

#endif							/* STEWARD_AUDIT_VERIFY_H */
