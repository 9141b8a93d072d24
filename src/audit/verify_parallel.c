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
 * Workers are started when a run over the whole ledger reads its first
 * blocks, if its partitions have at least min_parallel_table_scan_size
 * worth of pages (steward_verify_team_start), else for the first chunk
 * that has, and tried once per run, up to
 * max_parallel_workers_per_gather of them (none when that is 0, or in a
 * single-user backend), through PostgreSQL's parallel context: they run
 * in the leader's transaction and snapshot, as the same user (the owner
 * of schema steward), and an error in one is raised in the leader.  They
 * evaluate nothing of the caller's: they read the partitions and hash.
 * Without workers the leader reads every unit itself.
 *
 * The workers are a team that lives until the last chunk is read
 * (steward_verify_team_end): a process, its open partitions and its
 * queue to the leader serve every chunk.  Each chunk is posted to them
 * as a dynamic shared memory segment of its own (the units and pages,
 * the snapshots); a worker that finds no unit left sends an end-of-chunk
 * message (one byte, shorter than a row) and waits for the next chunk.
 * The leader's chunk is read when every worker still alive has sent it.
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
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/snapmgr.h"

#include "pg_steward.h"
#include "audit/audit.h"
#include "audit/verify.h"

#define VERIFY_KEY_TEAM		UINT64CONST(0x5354455756455201)
#define VERIFY_KEY_QUEUES	UINT64CONST(0x5354455756455202)
#define VERIFY_UNIT_PAGES	8
/*
 * Each worker's queue holds some 25 000 rows: the workers go on while the
 * leader checks the next chunk's blocks.
 */
#define VERIFY_QUEUE_SIZE	((Size) 2 * 1024 * 1024)
/* a worker's message that it found no unit of the chunk left */
#define VERIFY_END_OF_CHUNK	1

/*
 * What the team shares for the whole run: the chunk posted last (its
 * segment) and how many were posted, whether the run is over, and the
 * partitions, opened by each worker once.
 */
typedef struct VerifyTeamShared
{
	ConditionVariable cv;		/* broadcast when a chunk is posted or the run ends */
	pg_atomic_uint32 posted;	/* chunks posted so far */
	pg_atomic_uint32 done;		/* 1: no more chunks, the workers exit */
	dsm_handle	chunk;			/* the segment of chunk number "posted" */
	uint32		nparts;
	Oid			partoids[FLEXIBLE_ARRAY_MEMBER];
} VerifyTeamShared;

/* the leader's side of the team */
struct VerifyTeam
{
	ParallelContext *pcxt;
	VerifyTeamShared *shared;
	shm_mq_handle **mqh;		/* per worker launched; NULL once it is gone */
	int			nlaunched;
	int			nlive;
};

/* a few pages of one partition */
typedef struct VerifyUnit
{
	uint32		part;
	uint32		npages;
	uint64		first;			/* index of the first in the pages */
} VerifyUnit;

/*
 * What the participants share of a chunk: the next unit to take, the
 * chunk's snapshots, the units and their pages (the arrays follow, at the
 * offsets given).
 */
typedef struct VerifyShared
{
	pg_atomic_uint32 next_unit;
	uint32		nunits;
	bool		has_lower;
	uint64		upper_xmin;
	uint64		upper_xmax;
	int32		upper_nxip;
	uint64		lower_xmin;
	uint64		lower_xmax;
	int32		lower_nxip;
	Size		off_upper_xip;	/* uint64[upper_nxip] */
	Size		off_lower_xip;	/* uint64[lower_nxip] */
	Size		off_units;		/* VerifyUnit[nunits] */
	Size		off_pages;		/* BlockNumber[] */
} VerifyShared;

#define SHARED_ARRAY(s, off) ((void *) ((char *) (s) + (s)->off))

/* the offsets of the arrays; returns the size of the whole */
static Size
shared_layout(VerifyShared *s, const VerifyBounds *b, int nunits, int64 npages)
{
	Size		off = MAXALIGN(sizeof(VerifyShared));

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
shared_fill(VerifyShared *s, const VerifyShared *layout, int nparts,
			const VerifyBounds *b, const VerifyPages *pages, int nunits)
{
	VerifyUnit *units;
	BlockNumber *all;
	uint64		at = 0;
	int			u = 0;

	s->off_upper_xip = layout->off_upper_xip;
	s->off_lower_xip = layout->off_lower_xip;
	s->off_units = layout->off_units;
	s->off_pages = layout->off_pages;
	pg_atomic_init_u32(&s->next_unit, 0);
	s->nunits = nunits;
	s->upper_xmin = b->upper.xmin;
	s->upper_xmax = b->upper.xmax;
	s->upper_nxip = b->upper.nxip;
	s->has_lower = b->has_lower;
	s->lower_xmin = b->has_lower ? b->lower.xmin : 0;
	s->lower_xmax = b->has_lower ? b->lower.xmax : 0;
	s->lower_nxip = b->has_lower ? b->lower.nxip : 0;
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

/*
 * Start the team: launch the workers, which open the partitions and wait
 * for the first chunk.  When no worker could be launched, a team of none
 * (no parallel context), so that the run does not try again per chunk.
 */
static VerifyTeam *
team_begin(int nworkers, int nparts, Relation *rels)
{
	VerifyTeam *team = palloc0(sizeof(VerifyTeam));
	ParallelContext *pcxt;
	Size		size = add_size(offsetof(VerifyTeamShared, partoids),
								mul_size(sizeof(Oid), nparts));
	char	   *queues;

	EnterParallelMode();
	pcxt = CreateParallelContext("pg_steward", "steward_verify_worker", nworkers);
	shm_toc_estimate_chunk(&pcxt->estimator, size);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(VERIFY_QUEUE_SIZE, nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	InitializeParallelDSM(pcxt);
	/* without shared memory (no segment free), nworkers is now 0 */
	if (pcxt->nworkers == 0)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return team;
	}

	team->pcxt = pcxt;
	team->shared = shm_toc_allocate(pcxt->toc, size);
	ConditionVariableInit(&team->shared->cv);
	pg_atomic_init_u32(&team->shared->posted, 0);
	pg_atomic_init_u32(&team->shared->done, 0);
	team->shared->chunk = DSM_HANDLE_INVALID;
	team->shared->nparts = nparts;
	for (int p = 0; p < nparts; p++)
		team->shared->partoids[p] = RelationGetRelid(rels[p]);
	shm_toc_insert(pcxt->toc, VERIFY_KEY_TEAM, team->shared);
	queues = shm_toc_allocate(pcxt->toc, mul_size(VERIFY_QUEUE_SIZE, pcxt->nworkers));
	shm_toc_insert(pcxt->toc, VERIFY_KEY_QUEUES, queues);
	for (int i = 0; i < pcxt->nworkers; i++)
		shm_mq_set_receiver(shm_mq_create(queues + i * VERIFY_QUEUE_SIZE, VERIFY_QUEUE_SIZE),
							MyProc);
	LaunchParallelWorkers(pcxt);
	team->nlaunched = team->nlive = pcxt->nworkers_launched;
	team->mqh = palloc0(sizeof(shm_mq_handle *) * Max(team->nlaunched, 1));
	for (int i = 0; i < team->nlaunched; i++)
		team->mqh[i] = shm_mq_attach((shm_mq *) (queues + i * VERIFY_QUEUE_SIZE),
									 pcxt->seg, pcxt->worker[i].bgwhandle);
	if (team->nlaunched == 0)
	{
		steward_verify_team_end(team);
		return palloc0(sizeof(VerifyTeam));
	}
	return team;
}

/*
 * End the team at the end of a run: the workers are told there is no
 * chunk left and exit; an error one of them raised is raised here.
 */
void
steward_verify_team_end(VerifyTeam *team)
{
	if (team == NULL)
		return;
	if (team->pcxt == NULL)
	{
		pfree(team);			/* a team of none */
		return;
	}
	pg_atomic_write_u32(&team->shared->done, 1);
	ConditionVariableBroadcast(&team->shared->cv);
	WaitForParallelWorkersToFinish(team->pcxt);
	for (int i = 0; i < team->nlaunched; i++)
		if (team->mqh[i])
			shm_mq_detach(team->mqh[i]);
	DestroyParallelContext(team->pcxt);
	ExitParallelMode();
	pfree(team->mqh);
	pfree(team);
}

/*
 * Start the team, unless the run has one (or tried): for npages pages, at
 * most max_workers workers.  Called before the first chunk, for a run that
 * will read npages pages in all, the workers are ready when it is posted.
 */
void
steward_verify_team_start(VerifyTeam **teamp, int nparts, Relation *rels, int64 npages,
						  int max_workers)
{
	int			nworkers = Min(workers_for(npages), max_workers);

	if (*teamp == NULL && nworkers > 0)
		*teamp = team_begin(nworkers, nparts, rels);
}

/* a chunk being read: its shared state, and which workers are on it */
struct VerifyRun
{
	VerifyReader *leader;
	VerifyShared *shared;
	VerifyBounds bounds;		/* pointing into shared */
	VerifyTeam *team;			/* NULL: the leader reads alone */
	dsm_segment *seg;			/* the chunk's segment, with a team */
	bool	   *reading;		/* per worker: its end of chunk is yet to come */
	int			nreading;
	VerifyRowsFn fn;
	void	   *arg;
};

/*
 * Start reading the chunk's pages (per partition): set up the units and,
 * if the chunk is large enough and there is no team yet, launch one; the
 * team begins at once.  The leader hands every unit's rows to fn when it
 * steps or finishes the run.
 */
VerifyRun *
steward_verify_run_begin(VerifyTeam **teamp, VerifyReader *leader, int nparts, Relation *rels,
						 const VerifyBounds *b, const VerifyPages *pages,
						 VerifyRowsFn fn, void *arg)
{
	VerifyRun  *run = palloc0(sizeof(VerifyRun));
	VerifyShared layout;
	int64		npages = 0;
	int			nunits = 0;
	Size		size;

	run->leader = leader;
	run->fn = fn;
	run->arg = arg;
	for (int p = 0; p < nparts; p++)
	{
		npages += pages[p].npages;
		nunits += (pages[p].npages + VERIFY_UNIT_PAGES - 1) / VERIFY_UNIT_PAGES;
	}
	size = shared_layout(&layout, b, nunits, npages);

	steward_verify_team_start(teamp, nparts, rels, npages, nunits - 1);
	run->team = *teamp;

	/* no segment free: the leader reads the chunk alone, the workers wait */
	if (run->team && run->team->nlive > 0)
		run->seg = dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	run->shared = run->seg ? dsm_segment_address(run->seg) : palloc(size);
	shared_fill(run->shared, &layout, nparts, b, pages, nunits);
	if (run->seg != NULL)
	{
		VerifyTeamShared *ts = run->team->shared;

		run->reading = palloc0(sizeof(bool) * run->team->nlaunched);
		for (int i = 0; i < run->team->nlaunched; i++)
			if (run->team->mqh[i])
			{
				run->reading[i] = true;
				run->nreading++;
			}
		/* the handle is written before the count that announces it */
		ts->chunk = dsm_segment_handle(run->seg);
		pg_write_barrier();
		pg_atomic_fetch_add_u32(&ts->posted, 1);
		ConditionVariableBroadcast(&ts->cv);
	}
	else
		run->team = NULL;
	shared_bounds(run->shared, &run->bounds);
	return run;
}

/* hand what the workers sent to fn; true if there was any */
static bool
drain(VerifyRun *run)
{
	VerifyTeam *team = run->team;
	bool		progress = false;

	if (team == NULL)
		return false;
	for (int i = 0; i < team->nlaunched; i++)
	{
		Size		nbytes;
		void	   *data;
		shm_mq_result res;

		if (team->mqh[i] == NULL || !run->reading[i])
			continue;
		res = shm_mq_receive(team->mqh[i], &nbytes, &data, true);
		if (res == SHM_MQ_SUCCESS)
		{
			if (nbytes == VERIFY_END_OF_CHUNK)
			{
				run->reading[i] = false;
				run->nreading--;
			}
			else
				run->fn(run->arg, (const VerifyRow *) data, (int) (nbytes / sizeof(VerifyRow)));
			progress = true;
		}
		else if (res == SHM_MQ_DETACHED)
		{
			/* gone (an error in the worker is raised at the latest when the team ends) */
			shm_mq_detach(team->mqh[i]);
			team->mqh[i] = NULL;
			team->nlive--;
			run->reading[i] = false;
			run->nreading--;
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
 * Read the rest of the chunk, the leader taking units too, until every
 * worker is done with it; then end the run (the team stays).
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
		if (run->nreading == 0 || parallel_leader_participation)
		{
			n = read_next_unit(run->shared, run->leader, &run->bounds);
			if (n >= 0)
			{
				if (n > 0)
					run->fn(run->arg, run->leader->rows, n);
				continue;
			}
		}
		if (run->nreading == 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	if (run->team)
	{
		dsm_detach(run->seg);
		pfree(run->reading);
	}
	else
		pfree(run->shared);
	pfree(run);
}

/*
 * A parallel worker: opens the partitions, then for each chunk posted
 * reads units until none is left, sending each one's rows to the leader
 * and then its end of the chunk; returns when the run is over.
 */
void
steward_verify_worker(dsm_segment *seg, shm_toc *toc)
{
	VerifyTeamShared *ts = shm_toc_lookup(toc, VERIFY_KEY_TEAM, false);
	char	   *queues = shm_toc_lookup(toc, VERIFY_KEY_QUEUES, false);
	shm_mq	   *mq = (shm_mq *) (queues + ParallelWorkerNumber * VERIFY_QUEUE_SIZE);
	shm_mq_handle *mqh;
	VerifyReader r;
	Relation   *rels;
	uint32		seen = 0;
	char		end = 0;
	bool		leader_gone = false;

	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	rels = palloc(sizeof(Relation) * Max(ts->nparts, 1));
	for (uint32 p = 0; p < ts->nparts; p++)
		rels[p] = table_open(ts->partoids[p], AccessShareLock);
	steward_verify_reader_init(&r, ts->nparts, rels, GetActiveSnapshot(), false);

	while (!leader_gone)
	{
		dsm_segment *cseg;
		VerifyShared *s;
		VerifyBounds b;
		uint32		posted;
		int			n;

		ConditionVariablePrepareToSleep(&ts->cv);
		while ((posted = pg_atomic_read_u32(&ts->posted)) == seen &&
			   pg_atomic_read_u32(&ts->done) == 0)
			ConditionVariableSleep(&ts->cv, PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
		if (posted == seen)
			break;				/* the run is over */
		/* one chunk at a time: the leader posts the next after our end of this one */
		Assert(posted == seen + 1);
		seen = posted;
		pg_read_barrier();
		cseg = dsm_attach(ts->chunk);
		if (cseg == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not map dynamic shared memory segment")));
		s = dsm_segment_address(cseg);
		shared_bounds(s, &b);
		while ((n = read_next_unit(s, &r, &b)) >= 0)
		{
			if (n > 0 &&
				shm_mq_send(mqh, sizeof(VerifyRow) * n, r.rows, false, true) == SHM_MQ_DETACHED)
			{
				leader_gone = true;
				break;
			}
		}
		dsm_detach(cseg);
		if (!leader_gone &&
			shm_mq_send(mqh, VERIFY_END_OF_CHUNK, &end, false, true) == SHM_MQ_DETACHED)
			leader_gone = true;
	}

	steward_verify_reader_end(&r);
	for (uint32 p = 0; p < ts->nparts; p++)
		table_close(rels[p], NoLock);
	shm_mq_detach(mqh);
}
