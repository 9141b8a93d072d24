/*-------------------------------------------------------------------------
 *
 * epoch.c
 *	  The list of retention epochs a RETENTION event carries: the one
 *	  definition of its format, for the side that writes it and the side
 *	  that checks it.
 *
 * Words:
 *	  epoch		 a row of steward.audit_epochs: a partition retention
 *				 dropped, its time range and how many events it held.
 *	  epoch list the "epochs" key of a RETENTION event's payload: every
 *				 epoch so far, the event's own included, in the order of
 *				 their ranges, each {"partition", "range_from", "range_to",
 *				 "events_dropped"} (AUDIT_EPOCH_* in audit.h, docs/audit.md).
 *
 * steward.retention_epochs(partition, range_from, range_to, events_dropped)
 * returns {"epochs": [...]}: the rows of steward.audit_epochs and the epoch
 * about to be recorded.  steward.drop_expired_partitions merges it into the
 * RETENTION event's payload; verify_audit_chain (verify.c) reads the list
 * back with the same key names and compares it with the table.  A time is
 * written as jsonb_build_object writes a timestamptz (ISO 8601 with the
 * session's offset) and read back as a timestamptz, so the comparison is
 * by value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "pg_steward.h"
#include "audit/audit.h"

/* one element of the epoch list */
static void
append_epoch(StringInfo buf, const char *partition, Datum range_from,
			 Datum range_to, int64 events_dropped)
{
	appendStringInfoChar(buf, '{');
	escape_json(buf, AUDIT_EPOCH_PARTITION);
	appendStringInfoString(buf, ": ");
	escape_json(buf, partition);
	appendStringInfoString(buf, ", ");
	escape_json(buf, AUDIT_EPOCH_FROM);
	appendStringInfo(buf, ": \"%s\", ",
					 JsonEncodeDateTime(NULL, range_from, TIMESTAMPTZOID, NULL));
	escape_json(buf, AUDIT_EPOCH_TO);
	appendStringInfo(buf, ": \"%s\", ",
					 JsonEncodeDateTime(NULL, range_to, TIMESTAMPTZOID, NULL));
	escape_json(buf, AUDIT_EPOCH_DROPPED);
	appendStringInfo(buf, ": " INT64_FORMAT "}", events_dropped);
}

PG_FUNCTION_INFO_V1(steward_audit_retention_epochs);

/*
 * steward.retention_epochs(p_partition text, p_range_from timestamptz,
 *							p_range_to timestamptz, p_events_dropped bigint)
 * RETURNS jsonb (STRICT): {"epochs": [...]}, the recorded epochs and this
 * one, in the order of their ranges.  Called by
 * steward.drop_expired_partitions, as the extension owner, which reads
 * steward.audit_epochs; the new epoch travels as typed parameters.
 */
Datum
steward_audit_retention_epochs(PG_FUNCTION_ARGS)
{
	Oid			types[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
	Datum		values[4] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1),
	PG_GETARG_DATUM(2), PG_GETARG_DATUM(3)};
	StringInfoData buf;
	int			rc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	escape_json(&buf, AUDIT_EPOCHS_KEY);
	appendStringInfoString(&buf, ": [");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT partition_name, range_from, range_to, events_dropped, "
							   "       0 AS is_new, epoch_id"
							   "  FROM steward.audit_epochs"
							   " UNION ALL SELECT $1, $2, $3, $4, 1, NULL"
							   " ORDER BY range_from, is_new, epoch_id",
							   4, types, values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the retention epochs");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		append_epoch(&buf, SPI_getvalue(t, d, 1), SPI_getbinval(t, d, 2, &isnull),
					 SPI_getbinval(t, d, 3, &isnull),
					 DatumGetInt64(SPI_getbinval(t, d, 4, &isnull)));
	}
	SPI_finish();
	appendStringInfoString(&buf, "]}");

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
