/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory of the jobs area: the job slots.  Exists only when
 *	  pg_steward is preloaded.
 *
 * A slot is a running job worker, owned by the launcher; the worker writes
 * its pid and, when it ends the job cleanly, clean_exit.  A worker that
 * vanished without clean_exit (FATAL, terminated) makes the launcher
 * request its job again, so it resumes from its checkpoint.  The requests
 * themselves, the launcher's latch and what is sent at commit are
 * src/common/launch.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "pg_steward.h"
#include "jobs/jobs.h"

typedef struct JobSlot
{
	bool		in_use;
	Oid			dbid;
	Oid			roleid;
	int64		job_id;
	int			pid;
	bool		clean_exit;
} JobSlot;

typedef struct StewardJobsShared
{
	slock_t		mutex;
	int			nslots;
	JobSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} StewardJobsShared;

static StewardJobsShared *shared = NULL;

static Size
jobs_shmem_size(void)
{
	return add_size(offsetof(StewardJobsShared, slots),
					mul_size(sizeof(JobSlot), max_worker_processes));
}

void
steward_jobs_shmem_request(void)
{
	RequestAddinShmemSpace(jobs_shmem_size());
}

void
steward_jobs_shmem_startup(void)
{
	bool		created;

	shared = steward_shmem_init("pg_steward jobs", jobs_shmem_size(),
								offsetof(StewardJobsShared, mutex), &created);
	if (created)
		shared->nslots = max_worker_processes;
}

bool
steward_jobs_preloaded(void)
{
	return shared != NULL;
}

/* ----------------------------------------------------------------
 * Slots (written by the launcher; pid and clean_exit by the worker)
 * ----------------------------------------------------------------
 */

int
steward_jobs_nslots(void)
{
	return shared ? shared->nslots : 0;
}

/*
 * Reserve a slot for a job, unless pg_steward.max_jobs slots are in use or
 * the job already has one.  Returns the slot, or -1.
 */
int
steward_jobs_reserve_slot(Oid dbid, Oid roleid, int64 job_id)
{
	int			used = 0;
	int			freeslot = -1;
	int			limit = Min(steward_max_jobs, shared->nslots);

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots; i++)
	{
		JobSlot    *s = &shared->slots[i];

		if (s->in_use)
		{
			used++;
			if (s->dbid == dbid && s->job_id == job_id)
			{
				SpinLockRelease(&shared->mutex);
				return -2;		/* already running */
			}
		}
		else if (freeslot < 0)
			freeslot = i;
	}
	if (used >= limit || freeslot < 0)
		freeslot = -1;
	else
	{
		JobSlot    *s = &shared->slots[freeslot];

		s->in_use = true;
		s->dbid = dbid;
		s->roleid = roleid;
		s->job_id = job_id;
		s->pid = 0;
		s->clean_exit = false;
	}
	SpinLockRelease(&shared->mutex);
	return freeslot;
}

void
steward_jobs_release_slot(int slot)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].in_use = false;
	SpinLockRelease(&shared->mutex);
}

void
steward_jobs_set_slot_pid(int slot, int pid, bool clean_exit)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].pid = pid;
	shared->slots[slot].clean_exit = clean_exit;
	SpinLockRelease(&shared->mutex);
}

bool
steward_jobs_get_slot(int slot, Oid *dbid, Oid *roleid, int64 *job_id,
					  int *pid, bool *clean_exit)
{
	bool		in_use;

	SpinLockAcquire(&shared->mutex);
	in_use = shared->slots[slot].in_use;
	*dbid = shared->slots[slot].dbid;
	*roleid = shared->slots[slot].roleid;
	*job_id = shared->slots[slot].job_id;
	*pid = shared->slots[slot].pid;
	*clean_exit = shared->slots[slot].clean_exit;
	SpinLockRelease(&shared->mutex);
	return in_use;
}
