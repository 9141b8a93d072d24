/*-------------------------------------------------------------------------
 *
 * ledger_rules.h
 *	  The parts of the ledger's verification rules (docs/audit.md,
 *	  "Verification rules", "Problems and their precedence") that the
 *	  server's verify_audit_chain() and the client's verify-export share:
 *	  whether a snapshot shows a transaction as completed, which of two
 *	  problems is the one reported, and which event a REDACTION names.  The client compiles
 *	  ledger_rules.c with FRONTEND defined.
 *
 * A problem's *key* is what ranks it: its class, its chain position, and
 * for events the rank of its kind, the event id and the time.
 *
 * src/common/ledger_rules.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_LEDGER_RULES_H
#define STEWARD_LEDGER_RULES_H

/* problem classes, in the order they rank */
#define CLASS_BLOCK		0
#define CLASS_EPOCH		1
#define CLASS_EVENT		2

/*
 * The rank of problems of events at the same chain position, lowest first;
 * then the lower event id, then the lower time.
 */
#define RANK_NONE			0	/* blocks and epochs: the first found is kept */
#define RANK_SEALED_TWICE	1
#define RANK_STORED_TWICE	2
#define RANK_MOVED			3
#define RANK_CHANGED		4
#define RANK_PAYLOAD		5
#define RANK_SALT			6
#define RANK_ERASED			7
#define RANK_MISSING		8
#define RANK_INSERTED		9

typedef struct StewardProblemKey
{
	int			class;
	int64		position;
	int			rank;
	int64		event_id;
	int64		time_us;
} StewardProblemKey;

extern bool steward_snapshot_completed(uint64 xmin, uint64 xmax, const uint64 *xip, int nxip,
									   uint64 xid);
extern bool steward_problem_ranks_first(const StewardProblemKey *kept,
										const StewardProblemKey *found);
extern bool steward_redaction_target(const char *text, int64 *target);

#endif							/* STEWARD_LEDGER_RULES_H */
