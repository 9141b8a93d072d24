/*-------------------------------------------------------------------------
 *
 * verify_parallel.c
 *	  Reading a chunk's events with both the leader and parallel workers.
 *
 * The pages of a chunk (verify_read.c) are cut into units of
 * VERIFY_UNIT_PAGES pages of one partition.  Every participant takes the
 * next unit from a shared counter, reads it and computes its rows.  A
 * worker sends each unit's rows to the leader through a message queue of
 * its own; the leader matches what arrives against the entries
 * (verify.c), and in between reads units itself, as a Gather node's
 * leader does.  Rows arrive in no particular order: verify.c matches each
 * row within its own block and ranks what it finds by position, kind,
 * event id and time, never by arrival or storage order, so the result
 * does not depend on who read what, nor on how many workers there were.
 *
 * Workers are started when the chunk has at least
 * min_parallel_table_scan_size worth of pages, up to
 * max_parallel_workers_per_gather of them (none when that is 0, or in a
 * single-user backend), through PostgreSQL's parallel context: they run
 * in the leader's transaction and snapshot, as the same user (the owner
 * of schema steward), and an error in one is raised in the leader.  They
 * evaluate nothing of the caller's: they read the partitions and hash.
 * Without workers the leader reads every unit itself.
 *
 * Each chunk gets its own parallel context and dynamic shared memory
 * (the units and pages, the snapshots, one queue per worker), destroyed
 * before the next chunk is read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/snapmgr.h"

#include "pg_steward.h"
#include "audit/audit.h"
#include "audit/verify.h"

#define VERIFY_KEY_SHARED	UINT64CONST(0x5354455756455201)
#define VERIFY_KEY_QUEUES	UINT64CONST(0x5354455756455202)
#define VERIFY_UNIT_PAGES	8
/*
 * Each worker's queue holds some 25 000 rows: the workers go on while the
 * leader checks the next chunk's blocks.
 */
#define VERIFY_QUEUE_SIZE	((Size) 2 * 1024 * 1024)

/* a few pages of one partition */
typedef struct VerifyUnit
{
	uint32		part;
	uint32		npages;
	uint64		first;			/* index of the first in the pages */
} VerifyUnit;

/*
 * What the participants share: the next unit to take, the chunk's
 * snapshots and partitions, the units and their pages (the arrays follow,
 * at the offsets given).
 */
typedef struct VerifyShared
{
	pg_atomic_uint32 next_unit;
	uint32		nunits;
	uint32		nparts;
	bool		has_lower;
	uint64		upper_xmin;
	uint64		upper_xmax;
	int32		upper_nxip;
	uint64		lower_xmin;
	uint64		lower_xmax;
	int32		lower_nxip;
	Size		off_partoids;	/* Oid[nparts] */
	Size		off_upper_xip;	/* uint64[upper_nxip] */
	Size		off_lower_xip;	/* uint64[lower_nxip] */
	Size		off_units;		/* VerifyUnit[nunits] */
	Size		off_pages;		/* BlockNumber[] */
} VerifyShared;

#define SHARED_ARRAY(s, off) ((void *) ((char *) (s) + (s)->off))

/* the offsets of the arrays; returns the size of the whole */
static Size
shared_layout(VerifyShared *s, int nparts, const VerifyBounds *b, int nunits, int64 npages)
{
	Size		off = MAXALIGN(sizeof(VerifyShared));

	s->off_partoids = off;
	off = add_size(off, MAXALIGN(mul_size(sizeof(Oid), nparts)));
	s->off_upper_xip = off;
	off = add_size(off, MAXALIGN(mul_size(sizeof(uint64), b->upper.nxip)));
	s->off_lower_xip = off;
	off = add_size(off, MAXALIGN(mul_size(sizeof(uint64), b->has_lower ? b->lower.nxip : 0)));
	s->off_units = off;
	off = add_size(off, MAXALIGN(mul_size(sizeof(VerifyUnit), nunits)));
	s->off_pages = off;
	off = add_size(off, MAXALIGN(mul_size(sizeof(BlockNumber), npages)));
	return off;
}

static void
shared_fill(VerifyShared *s, const VerifyShared *layout, int nparts, Relation *rels,
			const VerifyBounds *b, const VerifyPages *pages, int nunits)
{
	Oid		   *partoids;
	VerifyUnit *units;
	BlockNumber *all;
	uint64		at = 0;
	int			u = 0;

	s->off_partoids = layout->off_partoids;
	s->off_upper_xip = layout->off_upper_xip;
	s->off_lower_xip = layout->off_lower_xip;
	s->off_units = layout->off_units;
	s->off_pages = layout->off_pages;
	pg_atomic_init_u32(&s->next_unit, 0);
	s->nunits = nunits;
	s->nparts = nparts;
	s->upper_xmin = b->upper.xmin;
	s->upper_xmax = b->upper.xmax;
	s->upper_nxip = b->upper.nxip;
	s->has_lower = b->has_lower;
	s->lower_xmin = b->has_lower ? b->lower.xmin : 0;
	s->lower_xmax = b->has_lower ? b->lower.xmax : 0;
	s->lower_nxip = b->has_lower ? b->lower.nxip : 0;
	partoids = SHARED_ARRAY(s, off_partoids);
	for (int p = 0; p < nparts; p++)
		partoids[p] = RelationGetRelid(rels[p]);
	if (s->upper_nxip > 0)
		memcpy(SHARED_ARRAY(s, off_upper_xip), b->upper.xip, sizeof(uint64) * s->upper_nxip);
	if (s->lower_nxip > 0)
		memcpy(SHARED_ARRAY(s, off_lower_xip), b->lower.xip, sizeof(uint64) * s->lower_nxip);

	units = SHARED_ARRAY(s, off_units);
	all = SHARED_ARRAY(s, off_pages);
	for (int p = 0; p < nparts; p++)
	{
		if (pages[p].npages > 0)
			memcpy(all + at, pages[p].pages, sizeof(BlockNumber) * pages[p].npages);
		for (int i = 0; i < pages[p].npages; i += VERIFY_UNIT_PAGES)
		{
			units[u].part = p;
			units[u].npages = Min(VERIFY_UNIT_PAGES, pages[p].npages - i);
			units[u].first = at + i;
			u++;
		}
		at += pages[p].npages;
	}
	Assert(u == nunits);
}

/* the chunk's snapshots, as the shared memory holds them */
static void
shared_bounds(VerifyShared *s, VerifyBounds *b)
{
	b->upper.xmin = s->upper_xmin;
	b->upper.xmax = s->upper_xmax;
	b->upper.nxip = s->upper_nxip;
	b->upper.xip = SHARED_ARRAY(s, off_upper_xip);
	b->has_lower = s->has_lower;
	b->lower.xmin = s->lower_xmin;
	b->lower.xmax = s->lower_xmax;
	b->lower.nxip = s->lower_nxip;
	b->lower.xip = SHARED_ARRAY(s, off_lower_xip);
}

/* take the next unit and read it; -1 when none is left */
static int
read_next_unit(VerifyShared *s, VerifyReader *r, const VerifyBounds *b)
{
	uint32		u = pg_atomic_fetch_add_u32(&s->next_unit, 1);
	VerifyUnit *unit;

	if (u >= s->nunits)
		return -1;
	unit = (VerifyUnit *) SHARED_ARRAY(s, off_units) + u;
	return steward_verify_read_unit(r, b, unit->part,
									(BlockNumber *) SHARED_ARRAY(s, off_pages) + unit->first,
									unit->npages);
}

/* how many workers a chunk of npages pages gets */
static int
workers_for(int64 npages)
{
	if (!IsUnderPostmaster || IsInParallelMode() || IsParallelWorker() ||
		npages < min_parallel_table_scan_size)
		return 0;
	return max_parallel_workers_per_gather;
}

/* a chunk being read: its shared state, workers and queues */
struct VerifyRun
{
	VerifyReader *leader;
	VerifyShared *shared;
	VerifyBounds bounds;		/* pointing into shared */
	ParallelContext *pcxt;		/* NULL: the leader reads alone */
	shm_mq_handle **mqh;		/* per worker launched; NULL once done */
	int			nlaunched;
	int			nlive;
	VerifyRowsFn fn;
	void	   *arg;
};

/*
 * Start reading the chunk's pages (per partition): set up the units and,
 * if the chunk is large enough, launch workers, which begin at once.  The
 * leader hands every unit's rows to fn when it steps or finishes the run.
 */
VerifyRun *
steward_verify_run_begin(VerifyReader *leader, int nparts, Relation *rels,
						 const VerifyBounds *b, const VerifyPages *pages,
						 VerifyRowsFn fn, void *arg)
{
	VerifyRun  *run = palloc0(sizeof(VerifyRun));
	VerifyShared layout;
	int64		npages = 0;
	int			nunits = 0;
	int			nworkers;
	Size		size;

	run->leader = leader;
	run->fn = fn;
	run->arg = arg;
	for (int p = 0; p < nparts; p++)
	{
		npages += pages[p].npages;
		nunits += (pages[p].npages + VERIFY_UNIT_PAGES - 1) / VERIFY_UNIT_PAGES;
	}
	size = shared_layout(&layout, nparts, b, nunits, npages);
	nworkers = Min(workers_for(npages), nunits - 1);

	if (nworkers > 0)
	{
		ParallelContext *pcxt;
		char	   *queues;

		EnterParallelMode();
		pcxt = CreateParallelContext("pg_steward", "steward_verify_worker", nworkers);
		shm_toc_estimate_chunk(&pcxt->estimator, size);
		shm_toc_estimate_chunk(&pcxt->estimator, mul_size(VERIFY_QUEUE_SIZE, nworkers));
		shm_toc_estimate_keys(&pcxt->estimator, 2);
		InitializeParallelDSM(pcxt);
		run->shared = shm_toc_allocate(pcxt->toc, size);
		shm_toc_insert(pcxt->toc, VERIFY_KEY_SHARED, run->shared);
		queues = shm_toc_allocate(pcxt->toc, mul_size(VERIFY_QUEUE_SIZE, nworkers));
		shm_toc_insert(pcxt->toc, VERIFY_KEY_QUEUES, queues);
		shared_fill(run->shared, &layout, nparts, rels, b, pages, nunits);
		/* without shared memory (no segment free), nworkers is now 0 */
		for (int i = 0; i < pcxt->nworkers; i++)
			shm_mq_set_receiver(shm_mq_create(queues + i * VERIFY_QUEUE_SIZE, VERIFY_QUEUE_SIZE),
								MyProc);
		LaunchParallelWorkers(pcxt);
		run->pcxt = pcxt;
		run->nlaunched = run->nlive = pcxt->nworkers_launched;
		run->mqh = palloc0(sizeof(shm_mq_handle *) * Max(run->nlaunched, 1));
		for (int i = 0; i < run->nlaunched; i++)
			run->mqh[i] = shm_mq_attach((shm_mq *) (queues + i * VERIFY_QUEUE_SIZE),
										pcxt->seg, pcxt->worker[i].bgwhandle);
	}
	else
	{
		run->shared = palloc(size);
		shared_fill(run->shared, &layout, nparts, rels, b, pages, nunits);
	}
	shared_bounds(run->shared, &run->bounds);
	return run;
}

/* hand what the workers sent to fn; true if there was any */
static bool
drain(VerifyRun *run)
{
	bool		progress = false;

	for (int i = 0; i < run->nlaunched; i++)
	{
		Size		nbytes;
		void	   *data;
		shm_mq_result res;

		if (run->mqh[i] == NULL)
			continue;
		res = shm_mq_receive(run->mqh[i], &nbytes, &data, true);
		if (res == SHM_MQ_SUCCESS)
		{
			run->fn(run->arg, (const VerifyRow *) data, (int) (nbytes / sizeof(VerifyRow)));
			progress = true;
		}
		else if (res == SHM_MQ_DETACHED)
		{
			/* done (an error in the worker is raised at the latest by the wait at the end) */
			shm_mq_detach(run->mqh[i]);
			run->mqh[i] = NULL;
			run->nlive--;
			progress = true;
		}
	}
	return progress;
}

/* take what the workers sent so far, without waiting */
void
steward_verify_run_step(VerifyRun *run)
{
	while (drain(run))
		CHECK_FOR_INTERRUPTS();
}

/*
 * Read the rest of the chunk, the leader taking units too, until the
 * workers are done; then end the run.
 */
void
steward_verify_run_finish(VerifyRun *run)
{
	for (;;)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		if (drain(run))
			continue;
		if (run->nlive == 0 || parallel_leader_participation)
		{
			n = read_next_unit(run->shared, run->leader, &run->bounds);
			if (n >= 0)
			{
				if (n > 0)
					run->fn(run->arg, run->leader->rows, n);
				continue;
			}
		}
		if (run->nlive == 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	if (run->pcxt)
	{
		WaitForParallelWorkersToFinish(run->pcxt);
		DestroyParallelContext(run->pcxt);
		ExitParallelMode();
		pfree(run->mqh);
	}
	else
		pfree(run->shared);
	pfree(run);
}

/*
 * A parallel worker: reads units until none is left, sending each one's
 * rows to the leader.
 */
void
steward_verify_worker(dsm_segment *seg, shm_toc *toc)
{
	VerifyShared *s = shm_toc_lookup(toc, VERIFY_KEY_SHARED, false);
	char	   *queues = shm_toc_lookup(toc, VERIFY_KEY_QUEUES, false);
	shm_mq	   *mq = (shm_mq *) (queues + ParallelWorkerNumber * VERIFY_QUEUE_SIZE);
	Oid		   *partoids = SHARED_ARRAY(s, off_partoids);
	shm_mq_handle *mqh;
	VerifyBounds b;
	VerifyReader r;
	Relation   *rels;
	int			n;

	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	shared_bounds(s, &b);
	rels = palloc(sizeof(Relation) * Max(s->nparts, 1));
	for (uint32 p = 0; p < s->nparts; p++)
		rels[p] = table_open(partoids[p], AccessShareLock);
	steward_verify_reader_init(&r, s->nparts, rels, GetActiveSnapshot(), false);

	while ((n = read_next_unit(s, &r, &b)) >= 0)
	{
		if (n > 0 &&
			shm_mq_send(mqh, sizeof(VerifyRow) * n, r.rows, false, true) == SHM_MQ_DETACHED)
			break;				/* the leader is gone */
	}

	steward_verify_reader_end(&r);
	for (uint32 p = 0; p < s->nparts; p++)
		table_close(rels[p], NoLock);
	shm_mq_detach(mqh);
}
