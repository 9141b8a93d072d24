/*-------------------------------------------------------------------------
 *
 * manage.c
 *	  Changing what the ledger covers: audit_table() and unaudit_table(),
 *	  audit_redact() (GDPR erasure of a payload) and audit_redact_subject()
 *	  (every payload about one data subject), and the summary that
 *	  retention records before it drops a partition.
 *
 * Redaction erases an event's payload and salt.  The commitment stays, so
 * the chain still verifies; a REDACTION event (who, when, why) is appended
 * in the same transaction, and verification treats an erased payload as
 * redacted only when such an event names it.  A subject's request adds one
 * LEDGER event (REDACT_SUBJECT) listing what it redacted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "audit/audit.h"

#define ROW_TRIGGER_NAME	"steward_audit_row"
#define TRUNC_TRIGGER_NAME	"steward_audit_truncate"

static void
check_table(Oid relid, const char *fname)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s: relation with OID %u does not exist", fname, relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s: \"%s\" is not a table", fname, get_rel_name(relid))));
	if (IsCatalogRelationOid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s: system catalog \"%s\" cannot be audited", fname, get_rel_name(relid))));
	if (get_rel_namespace(relid) == get_namespace_oid(STEWARD_SCHEMA, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: pg_steward's own tables cannot be audited", fname)));
	if (!steward_owns_relation(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid))));
}

/* the relation argument of audit_table/unaudit_table, checked */
static Oid
table_arg(FunctionCallInfo fcinfo, const char *fname)
{
	Oid			relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be null")));
	relid = PG_GETARG_OID(0);
	steward_require_read_write(fname);
	check_table(relid, fname);
	return relid;
}

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* the primary key columns, quoted as trigger arguments: 'a', 'b' */
static char *
key_arguments(Oid relid)
{
	char	  **row;
	const char *args[1];

	args[0] = psprintf("%u", relid);
	row = steward_query_row_as_owner(
		"SELECT pg_catalog.string_agg(pg_catalog.quote_literal(a.attname), ', ' ORDER BY k.ord) "
		"  FROM pg_catalog.pg_index i "
		"  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
		"  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) k.attnum "
		" WHERE i.indrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid AND i.indisprimary",
		1, args, NULL);
	return (row && row[0]) ? row[0] : "";
}

/* does the table carry the trigger of this name? */
static bool
has_trigger(Oid relid, const char *name)
{
	const char *args[2];
	bool		isnull;

	args[0] = psprintf("%u", relid);
	args[1] = name;
	(void) steward_query_text_as_owner(
		"SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid "
		"   AND tgname OPERATOR(pg_catalog.=) $2 AND NOT tgisinternal",
		2, args, &isnull);
	return !isnull;
}

/* drop what is left of the audit triggers (one may have been dropped by hand) */
static void
drop_triggers(Oid relid, const char *name)
{
	if (has_trigger(relid, ROW_TRIGGER_NAME))
		steward_exec_as_owner(psprintf("DROP TRIGGER " ROW_TRIGGER_NAME " ON %s", name), 0, NULL);
	if (has_trigger(relid, TRUNC_TRIGGER_NAME))
		steward_exec_as_owner(psprintf("DROP TRIGGER " TRUNC_TRIGGER_NAME " ON %s", name), 0, NULL);
}

PG_FUNCTION_INFO_V1(steward_audit_table);

/*
 * audit_table(relation regclass) returns boolean: attach row-change
 * auditing.  Returns false when the table is already audited.
 */
Datum
steward_audit_table(PG_FUNCTION_ARGS)
{
	Oid			relid = table_arg(fcinfo, "audit_table");
	char	   *name;

	if (has_trigger(relid, ROW_TRIGGER_NAME) && has_trigger(relid, TRUNC_TRIGGER_NAME))
		PG_RETURN_BOOL(false);

	name = qualified_name(relid);
	drop_triggers(relid, name);
	steward_exec_as_owner(psprintf("CREATE TRIGGER " ROW_TRIGGER_NAME
								   " AFTER INSERT OR UPDATE OR DELETE ON %s"
								   " FOR EACH ROW EXECUTE FUNCTION steward.audit_row_change(%s)",
								   name, key_arguments(relid)), 0, NULL);
	steward_exec_as_owner(psprintf("CREATE TRIGGER " TRUNC_TRIGGER_NAME
								   " AFTER TRUNCATE ON %s"
								   " FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_row_change()",
								   name), 0, NULL);
	(void) steward_audit_ledger_event("AUDIT_TABLE", "table", name);
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(steward_unaudit_table);

/*
 * unaudit_table(relation regclass) returns boolean: detach it again.
 * Returns false when the table was not audited.
 */
Datum
steward_unaudit_table(PG_FUNCTION_ARGS)
{
	Oid			relid = table_arg(fcinfo, "unaudit_table");
	char	   *name;

	if (!has_trigger(relid, ROW_TRIGGER_NAME) && !has_trigger(relid, TRUNC_TRIGGER_NAME))
		PG_RETURN_BOOL(false);
	name = qualified_name(relid);
	drop_triggers(relid, name);
	(void) steward_audit_ledger_event("UNAUDIT_TABLE", "table", name);
	PG_RETURN_BOOL(true);
}

/* reason: required, 1 to AUDIT_MAX_FIELD_LEN bytes */
static char *
redaction_reason(FunctionCallInfo fcinfo, int n)
{
	char	   *reason;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reason must not be null"),
				 errhint("Name the legal basis, e.g. 'GDPR Art. 17 request 2026-114'.")));
	reason = text_to_cstring(PG_GETARG_TEXT_PP(n));
	if (reason[0] == '\0' || strlen(reason) > AUDIT_MAX_FIELD_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason must be between 1 and %d bytes", AUDIT_MAX_FIELD_LEN)));
	return reason;
}

/* erase the payload and salt of the events (ids: a pg_catalog.int8[] literal) */
static void
erase_payloads(const char *ids)
{
	const char *args[1] = {ids};

	steward_audit_bypass_begin();
	PG_TRY();
	{
		steward_exec_as_owner("UPDATE steward.audit_events SET payload = NULL, salt = NULL "
							  " WHERE id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int8[])", 1, args);
	}
	PG_FINALLY();
	{
		steward_audit_bypass_end();
	}
	PG_END_TRY();
}

/* the REDACTION event naming an erased event; returns its id */
static int64
redaction_event(int64 event_id, const char *reason)
{
	AuditInput	in = {0};
	StringInfoData payload;

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"redacted_event\": " INT64_FORMAT ", \"reason\": ", event_id);
	escape_json(&payload, reason);
	appendStringInfoChar(&payload, '}');

	in.event_type = AUDIT_TYPE_REDACTION;
	in.action = "REDACT";
	in.resource_type = "audit_event";
	in.resource_id = psprintf(INT64_FORMAT, event_id);
	in.payload = DirectFunctionCall1(jsonb_in, CStringGetDatum(payload.data));
	return steward_audit_insert(&in);
}

PG_FUNCTION_INFO_V1(steward_audit_redact);

/*
 * audit_redact(event_id bigint, reason text) returns bigint: erase the
 * payload and salt of an event; returns the id of the REDACTION event.
 */
Datum
steward_audit_redact(PG_FUNCTION_ARGS)
{
	int64		event_id;
	char	   *reason;
	char	  **row;
	const char *args[1];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event_id must not be null")));
	reason = redaction_reason(fcinfo, 1);
	event_id = PG_GETARG_INT64(0);
	steward_require_read_write("audit_redact");

	args[0] = psprintf(INT64_FORMAT, event_id);
	row = steward_query_row_as_owner(
		"SELECT payload IS NOT NULL, commitment IS NOT NULL, event_type "
		"  FROM steward.audit_events WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8 FOR UPDATE",
		1, args, NULL);
	if (row == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("audit event %lld does not exist", (long long) event_id)));
	if (strcmp(row[0], "f") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg(strcmp(row[1], "t") == 0 ?
						"audit event %lld is already redacted" :
						"audit event %lld has no payload to erase",
						(long long) event_id)));
	if (strcmp(row[2], AUDIT_TYPE_REDACTION) == 0 || strcmp(row[2], AUDIT_TYPE_RETENTION) == 0 ||
		strcmp(row[2], AUDIT_TYPE_LEDGER) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s events cannot be redacted", row[2])));

	erase_payloads(psprintf("{" INT64_FORMAT "}", event_id));
	PG_RETURN_INT64(redaction_event(event_id, reason));
}

/* an optional text argument: NULL, or 1 to AUDIT_MAX_FIELD_LEN bytes */
static char *
subject_arg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	char	   *s;

	if (PG_ARGISNULL(n))
		return NULL;
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));
	if (s[0] == '\0' || strlen(s) > AUDIT_MAX_FIELD_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and %d bytes", argname, AUDIT_MAX_FIELD_LEN)));
	return s;
}

PG_FUNCTION_INFO_V1(steward_audit_redact_subject);

/*
 * audit_redact_subject(resource_type text, resource_id text, actor text,
 *						reason text) returns bigint
 *
 * A data subject's erasure request: every event about one resource
 * (resource_type and resource_id), or every event of one actor, that still
 * has a payload and is not a reserved REDACTION, RETENTION or LEDGER event,
 * loses its payload and salt; each gets its REDACTION event, as from
 * audit_redact, and one LEDGER event (REDACT_SUBJECT) records the request:
 * the subject, the reason and the ids of the events and of their
 * REDACTION events.  Returns how many events were redacted.  The rows are
 * locked first (FOR UPDATE, in id order); memory is linear in their number.
 */
Datum
steward_audit_redact_subject(PG_FUNCTION_ARGS)
{
	char	   *resource_type = subject_arg(fcinfo, 0, "resource_type");
	char	   *resource_id = subject_arg(fcinfo, 1, "resource_id");
	char	   *actor = subject_arg(fcinfo, 2, "actor");
	char	   *reason = redaction_reason(fcinfo, 3);
	bool		by_resource = resource_type != NULL || resource_id != NULL;
	char	   *ids;
	bool		isnull;
	int64		n = 0;
	StringInfoData events;
	StringInfoData redactions;
	StringInfoData payload;
	AuditInput	in = {0};
	int64		request;

	if (by_resource == (actor != NULL) || (by_resource && (resource_type == NULL || resource_id == NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name the data subject by resource_type and resource_id, or by actor"),
				 errhint("audit_redact_subject(resource_type => 'patient', resource_id => 'P-1001', reason => ...).")));
	steward_require_read_write("audit_redact_subject");

	if (by_resource)
	{
		const char *args[2] = {resource_type, resource_id};

		ids = steward_query_text_as_owner(
			"SELECT pg_catalog.string_agg(s.id::pg_catalog.text, ',' ORDER BY s.id) FROM ("
			" SELECT e.id FROM steward.audit_events e"
			"  WHERE e.resource_type OPERATOR(pg_catalog.=) $1 AND e.resource_id OPERATOR(pg_catalog.=) $2"
			"    AND e.payload IS NOT NULL"
			"    AND e.event_type OPERATOR(pg_catalog.<>) ALL ('{REDACTION,RETENTION,LEDGER}'::pg_catalog.text[])"
			"  ORDER BY e.id FOR UPDATE) s", 2, args, &isnull);
	}
	else
	{
		const char *args[1] = {actor};

		ids = steward_query_text_as_owner(
			"SELECT pg_catalog.string_agg(s.id::pg_catalog.text, ',' ORDER BY s.id) FROM ("
			" SELECT e.id FROM steward.audit_events e"
			"  WHERE e.actor OPERATOR(pg_catalog.=) $1"
			"    AND e.payload IS NOT NULL"
			"    AND e.event_type OPERATOR(pg_catalog.<>) ALL ('{REDACTION,RETENTION,LEDGER}'::pg_catalog.text[])"
			"  ORDER BY e.id FOR UPDATE) s", 1, args, &isnull);
	}

	initStringInfo(&events);
	initStringInfo(&redactions);
	if (ids != NULL)
	{
		char	   *p = ids;

		erase_payloads(psprintf("{%s}", ids));
		while (*p)
		{
			char	   *end;
			int64		id = strtoi64(p, &end, 10);

			CHECK_FOR_INTERRUPTS();
			appendStringInfo(&events, "%s" INT64_FORMAT, n ? ", " : "", id);
			appendStringInfo(&redactions, "%s" INT64_FORMAT, n ? ", " : "", redaction_event(id, reason));
			n++;
			p = (*end == ',') ? end + 1 : end;
		}
	}

	initStringInfo(&payload);
	appendStringInfoString(&payload, "{\"reason\": ");
	escape_json(&payload, reason);
	if (by_resource)
	{
		appendStringInfoString(&payload, ", \"resource_type\": ");
		escape_json(&payload, resource_type);
		appendStringInfoString(&payload, ", \"resource_id\": ");
		escape_json(&payload, resource_id);
	}
	else
	{
		appendStringInfoString(&payload, ", \"actor\": ");
		escape_json(&payload, actor);
	}
	appendStringInfo(&payload, ", \"events\": [%s], \"redactions\": [%s]}", events.data, redactions.data);

	in.event_type = AUDIT_TYPE_LEDGER;
	in.action = "REDACT_SUBJECT";
	in.resource_type = by_resource ? resource_type : "actor";
	in.resource_id = by_resource ? resource_id : actor;
	in.payload = DirectFunctionCall1(jsonb_in, CStringGetDatum(payload.data));
	request = steward_audit_insert(&in);
	ereport(NOTICE,
			(errmsg("%lld audit event%s redacted; the request is audit event %lld",
					(long long) n, n == 1 ? "" : "s", (long long) request)));
	PG_RETURN_INT64(n);
}

PG_FUNCTION_INFO_V1(steward_audit_range_summary);

/*
 * steward.audit_range_summary(range_from timestamptz, range_to timestamptz,
 *		OUT events bigint, OUT root bytea, OUT head_block bigint,
 *		OUT head_hash bytea)
 *
 * The sealed events whose time lies in [range_from, range_to): how many,
 * and the Merkle root over their leaves in chain order; and the head block.
 * Retention records this in the epoch before it drops a partition.  It has
 * judged from the head block's snapshot that the partition's events are
 * all sealed, so the head must verify (block.c): otherwise this errors out
 * and nothing is recorded or dropped.
 */
Datum
steward_audit_range_summary(PG_FUNCTION_ARGS)
{
	int64		from_us = steward_audit_unix_micros(PG_GETARG_TIMESTAMPTZ(0));
	int64		to_us = steward_audit_unix_micros(PG_GETARG_TIMESTAMPTZ(1));
	StringInfoData leaves;
	int64		n = 0;
	int64		head_block = 0;
	bytea	   *head_hash = NULL;
	uint8		root[AUDIT_HASH_LEN];
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {0};
	Portal		portal;
	bytea	   *rb;
	AuditBlock	head;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "audit_range_summary must return a row");
	tupdesc = BlessTupleDesc(tupdesc);

	initStringInfo(&leaves);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (steward_audit_read_head(&head, NULL))
		pfree(head.entries);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT block_id, block_hash, entries FROM steward.audit_blocks ORDER BY block_id",
									   0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 64);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		raw = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull);
			bytea	   *entries = DatumGetByteaPP(raw);
			const uint8 *e = (const uint8 *) VARDATA_ANY(entries);
			int64		count = VARSIZE_ANY_EXHDR(entries) / AUDIT_ENTRY_LEN;
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			head_block = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
			if (head_hash != NULL)
				pfree(head_hash);
			old = MemoryContextSwitchTo(TopTransactionContext);
			head_hash = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
			MemoryContextSwitchTo(old);
			for (int64 i = 0; i < count; i++, e += AUDIT_ENTRY_LEN)
			{
				int64		t = steward_audit_entry_time(e);

				if (t >= from_us && t < to_us)
				{
					appendBinaryStringInfo(&leaves, (const char *) steward_audit_entry_leaf(e), AUDIT_HASH_LEN);
					n++;
				}
			}
			if ((Pointer) entries != DatumGetPointer(raw))
				pfree(entries);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();

	steward_audit_merkle_root((uint8 *) leaves.data, n, root);
	rb = palloc(VARHDRSZ + AUDIT_HASH_LEN);
	SET_VARSIZE(rb, VARHDRSZ + AUDIT_HASH_LEN);
	memcpy(VARDATA(rb), root, AUDIT_HASH_LEN);
	values[0] = Int64GetDatum(n);
	values[1] = PointerGetDatum(rb);
	values[2] = Int64GetDatum(head_block);
	if (head_hash == NULL)
	{
		head_hash = palloc0(VARHDRSZ + AUDIT_HASH_LEN);
		SET_VARSIZE(head_hash, VARHDRSZ + AUDIT_HASH_LEN);
	}
	values[3] = PointerGetDatum(head_hash);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
