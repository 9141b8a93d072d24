/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Creating pg_steward's shared memory structs.
 *
 * Each area that keeps state in shared memory (the launcher's requests,
 * the job slots, the sealer registry, the recorder pool) has one struct
 * with a spinlock.  steward_shmem_init() finds or creates it by name under
 * AddinShmemInitLock, zeroes a new one and initialises its spinlock, so
 * that every such struct is set up the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "pg_steward.h"

/*
 * The shared struct called name, size bytes, whose slock_t is at
 * mutex_offset.  *created (when not NULL) is set to true when this call
 * created it (zeroed, spinlock initialised): the caller then sets what
 * must not start at zero.
 */
void *
steward_shmem_init(const char *name, Size size, Size mutex_offset, bool *created)
{
	void	   *ptr;
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ptr = ShmemInitStruct(name, size, &found);
	if (!found)
	{
		memset(ptr, 0, size);
		SpinLockInit((slock_t *) ((char *) ptr + mutex_offset));
	}
	LWLockRelease(AddinShmemInitLock);
	if (created)
		*created = !found;
	return ptr;
}
