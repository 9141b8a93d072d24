/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  What the launcher hands to the workers it starts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_LAUNCHER_H
#define STEWARD_LAUNCHER_H

typedef struct StewardWorkerExtra
{
	Oid			dbid;
	Oid			roleid;
	int64		job_id;
	int			slot;
	bool		login_refused;	/* roleid can no longer connect: fail the job */
} StewardWorkerExtra;

#endif							/* STEWARD_LAUNCHER_H */
