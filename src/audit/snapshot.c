/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Which events a block holds, decided from snapshots.
 *
 * Every block stores the snapshot (pg_snapshot, 64-bit xids) its sealer
 * took.  An event belongs to the first block whose snapshot shows its xid
 * as completed: visible(xid, S) = xid < xmin, or xid < xmax and xid not in
 * xip.  Snapshots only grow, so the events of block k are those visible in
 * S(k) and not in S(k-1), whatever order their transactions committed in;
 * an event of a transaction still running at a seal lands in a later block.
 *
 * Two facts follow for every honestly sealed block, and verification and
 * the head check test them (a format 1 block's hash does not cover its
 * snapshot, so for those they are the only check): its snapshot shows
 * everything the previous one showed (it "follows" it), and it shows every
 * entry's transaction as completed while the previous one did not (it
 * "holds" its entries).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "miscadmin.h"

#include "pg_steward.h"
#include "audit/audit.h"

static uint64
parse_xid(const char **p, const char *text)
{
	char	   *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(*p, &end, 10);
	if (end == *p || errno != 0)
		elog(ERROR, "malformed ledger snapshot \"%s\"", text);
	*p = end;
	return (uint64) v;
}

/* "xmin:xmax:xip,xip,..." (pg_snapshot's text form) */
void
steward_audit_parse_snapshot(const char *text, AuditSnapshot *snap)
{
	const char *p = text;
	int			cap = 8;

	snap->xmin = parse_xid(&p, text);
	if (*p++ != ':')
		elog(ERROR, "malformed ledger snapshot \"%s\"", text);
	snap->xmax = parse_xid(&p, text);
	if (*p++ != ':')
		elog(ERROR, "malformed ledger snapshot \"%s\"", text);
	snap->nxip = 0;
	snap->xip = palloc(sizeof(uint64) * cap);
	while (*p)
	{
		if (snap->nxip == cap)
		{
			cap *= 2;
			snap->xip = repalloc(snap->xip, sizeof(uint64) * cap);
		}
		snap->xip[snap->nxip++] = parse_xid(&p, text);
		if (*p == ',')
			p++;
		else if (*p)
			elog(ERROR, "malformed ledger snapshot \"%s\"", text);
	}
}

bool
steward_audit_visible(const AuditSnapshot *snap, uint64 xid)
{
	return steward_snapshot_completed(snap->xmin, snap->xmax, snap->xip, snap->nxip, xid);
}

/*
 * Does snap show every transaction prev shows as completed?  Its xmax is no
 * lower, and nothing it lists as in progress was completed in prev.
 */
bool
steward_audit_snapshot_follows(const AuditSnapshot *snap, const AuditSnapshot *prev)
{
	if (snap->xmax < prev->xmax)
		return false;
	for (int i = 0; i < snap->nxip; i++)
		if (steward_audit_visible(prev, snap->xip[i]))
			return false;
	return true;
}

/*
 * Did every entry's transaction complete between prev (NULL: the first
 * block) and snap, as sealing requires?
 */
bool
steward_audit_snapshot_holds(const AuditSnapshot *snap, const AuditSnapshot *prev,
							 const uint8 *entries, int64 n)
{
	for (int64 i = 0; i < n; i++)
	{
		uint64		xid = steward_audit_entry_xid(steward_audit_entry(entries, i));

		CHECK_FOR_INTERRUPTS();
		if (!steward_audit_visible(snap, xid) ||
			(prev != NULL && steward_audit_visible(prev, xid)))
			return false;
	}
	return true;
}
