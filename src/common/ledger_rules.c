/*-------------------------------------------------------------------------
 *
 * ledger_rules.c
 *	  Rules of the ledger's verification shared by the server and the
 *	  command-line client (ledger_rules.h).
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "common/ledger_rules.h"

/*
 * Is xid completed in the snapshot (xmin, xmax, the sorted in-progress ids
 * xip)?  xid < xmax and not in progress; below xmin nothing is in progress.
 */
bool
steward_snapshot_completed(uint64 xmin, uint64 xmax, const uint64 *xip, int nxip, uint64 xid)
{
	int			lo = 0;
	int			hi = nxip - 1;

	if (xid < xmin)
		return true;
	if (xid >= xmax)
		return false;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (xip[mid] == xid)
			return false;
		if (xip[mid] < xid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return true;
}

/*
 * Does the problem kept rank before (or as) one just found?  By class,
 * then chain position; of blocks and epochs the first found at a position
 * is kept; of events, then the rank of the kind, the event id, the time.
 */
bool
steward_problem_ranks_first(const StewardProblemKey *kept, const StewardProblemKey *found)
{
	if (kept->class != found->class)
		return kept->class < found->class;
	if (kept->position != found->position)
		return kept->position < found->position;
	if (found->class != CLASS_EVENT)
		return true;
	if (kept->rank != found->rank)
		return kept->rank < found->rank;
	if (kept->event_id != found->event_id)
		return kept->event_id < found->event_id;
	return kept->time_us <= found->time_us;
}

/*
 * The event a REDACTION event's resource_id names (rule E9): true when the
 * text is an int8 exactly as its output function writes it (decimal
 * digits, no leading zero, sign, space or other character; "-" only
 * before a negative number), which is how audit_redact records the id.
 */
bool
steward_redaction_target(const char *text, int64 *target)
{
	char	   *end;
	int64		n;
	char		again[32];

	if (text == NULL || text[0] == '\0')
		return false;
	errno = 0;
	n = strtoi64(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	snprintf(again, sizeof(again), INT64_FORMAT, n);
	if (strcmp(again, text) != 0)
		return false;
	*target = n;
	return true;
}
