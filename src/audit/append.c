/*-------------------------------------------------------------------------
 *
 * append.c
 *	  Writing events: audit_append(), the row-change trigger that
 *	  audit_table() attaches, the internal append used by pg_steward's own
 *	  bookkeeping, and the trigger that keeps the ledger append-only.
 *
 * Appending computes the event's row here and stores it with one insert
 * into steward.audit_events (insert.c: straight into the partition, or
 * through the INSERT statement when the table has triggers or anything
 * else that statement would apply), run as the owner of schema steward (so
 * callers need EXECUTE on audit_append and nothing on the ledger), with no
 * lock another writer waits for and no read of other events: writers never
 * wait for each other.  Chaining happens later, when the event is sealed
 * (seal.c).  Each event gets a random salt and the commitment
 * H(0x02 || salt || payload); the chain covers the commitment only.
 *
 * The row-change trigger renders the changed rows (output functions and
 * casts to json of the table's column types, which the table's owner may
 * have written) as the table's owner in a security-restricted operation,
 * as PostgreSQL runs index expressions during maintenance: that code never
 * runs with the writing role's privileges, nor with the extension owner's.
 * Only then does the append switch to the owner of schema steward, for
 * the insert.
 *
 * Event types are a small documented alphabet (audit.h), so that no event
 * can pass for one of pg_steward's own reserved types by a look-alike name.
 *
 * The ledger tables refuse UPDATE, DELETE and TRUNCATE, for their owner
 * too, unless pg_steward's own redaction or retention code has opened the
 * bypass for the statement it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pg_steward.h"
#include "audit/audit.h"

static int	bypass_depth = 0;
static bool appended_in_xact = false;

/*
 * Salts are drawn from pg_strong_random() SALTS_PER_DRAW at a time: a call
 * costs much more than the bytes it returns (OpenSSL's generator looks for
 * a fork with getpid(), a system call, and takes its locks on every call).
 * The pool belongs to the process that drew it (a process forked from it
 * draws its own); each salt is taken once and wiped from the pool.
 */
#define SALTS_PER_DRAW 64

static uint8 salt_pool[SALTS_PER_DRAW * AUDIT_SALT_LEN];
static int	salts_left = 0;
static int	salt_pool_pid = 0;

/*
 * After a transaction that appended commits, make sure a sealer runs.  At
 * commit, not at the append: a sealer that is just stopping checks for
 * unsealed events after it has left the registry, so either it sees this
 * transaction's events or this check sees it gone.
 */
static void
audit_xact_callback(XactEvent event, void *arg)
{
	if (!appended_in_xact)
		return;
	/* a prepared transaction commits elsewhere; the sealer waits for it */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE)
		steward_audit_request_sealer();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		appended_in_xact = false;
}

static void
take_salt(uint8 *salt)
{
	uint8	   *p;

	if (salts_left == 0 || salt_pool_pid != MyProcPid)
	{
		salts_left = 0;
		if (!pg_strong_random(salt_pool, sizeof(salt_pool)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random salt")));
		salts_left = SALTS_PER_DRAW;
		salt_pool_pid = MyProcPid;
	}
	salts_left--;
	p = salt_pool + salts_left * AUDIT_SALT_LEN;
	memcpy(salt, p, AUDIT_SALT_LEN);
	explicit_bzero(p, AUDIT_SALT_LEN);
}

/*
 * The client's address of this session as inet, NULL over a Unix socket:
 * what inet_client_addr() returns, which does not change during a session.
 */
static Datum
session_client_addr(bool *isnull)
{
	static bool done = false;
	static bool addr_null = true;
	static Datum addr = (Datum) 0;

	if (!done)
	{
		LOCAL_FCINFO(fcinfo, 0);
		Datum		d;

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		d = inet_client_addr(fcinfo);
		if (!fcinfo->isnull)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

			addr = PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
			MemoryContextSwitchTo(oldcxt);
			addr_null = false;
		}
		done = true;
	}
	*isnull = addr_null;
	return addr;
}

/*
 * The name of a role, kept until pg_authid changes (an append names the
 * session user and the current user).  slot is the caller's cache entry.
 */
typedef struct RoleName
{
	Oid			roleid;			/* InvalidOid: not known */
	char		name[NAMEDATALEN];
} RoleName;

static RoleName session_role;
static RoleName current_role;

static void
role_names_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	session_role.roleid = InvalidOid;
	current_role.roleid = InvalidOid;
}

static const char *
role_name(RoleName *slot, Oid roleid)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterSyscacheCallback(AUTHOID, role_names_callback, (Datum) 0);
		registered = true;
	}
	if (slot->roleid != roleid)
	{
		char	   *name = GetUserNameFromId(roleid, false);

		slot->roleid = InvalidOid;
		strlcpy(slot->name, name, NAMEDATALEN);
		pfree(name);
		slot->roleid = roleid;
	}
	return slot->name;
}

static void
check_field(const char *value, const char *argname, bool required)
{
	if (value == NULL)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", argname)));
		return;
	}
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname),
				 errhint("Pass NULL when there is no value.")));
	if (strlen(value) > AUDIT_MAX_FIELD_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is longer than %d bytes", argname, AUDIT_MAX_FIELD_LEN),
				 errhint("Put long values into the payload.")));
}

static void
text_value(const char *s, AuditColumn col, Datum *values, bool *isnull)
{
	isnull[col] = s == NULL;
	values[col] = s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * Would the sealer ever seal an event of this transaction?  Not if the last
 * block's snapshot already counts its id as completed: in the cluster that
 * sealed the block that cannot happen (a transaction running then is in the
 * snapshot's in-progress list, a later one has a higher id), so it means
 * the ledger came from another cluster.  Once this backend's transaction
 * ids are past the snapshot they stay past it, and the check is not
 * repeated.  The cheap read decides nothing but that all is well: before
 * refusing, the last block is checked, and a block that does not verify
 * is reported as damage, not taken for a restored ledger.
 */
static void
check_xid_ahead_of_ledger(void)
{
	static bool ahead = false;
	char	   *head_snap;
	bool		isnull;
	uint64		current;
	AuditSnapshot snap;
	StewardOwnerScope scope;
	AuditBlock	head;
	bool		behind = false;

	if (ahead)
		return;
	head_snap = steward_query_text_as_owner(
											"SELECT snapshot::text FROM steward.audit_blocks "
											"ORDER BY block_id DESC LIMIT 1", 0, NULL, &isnull);
	current = U64FromFullTransactionId(GetTopFullTransactionId());
	if (head_snap == NULL || isnull)
	{
		ahead = true;			/* nothing sealed yet */
		return;
	}
	steward_audit_parse_snapshot(head_snap, &snap);
	if (!steward_audit_visible(&snap, current))
	{
		ahead = current >= snap.xmax;
		return;
	}

	steward_owner_scope_begin(&scope, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (steward_audit_read_head(&head, NULL) && steward_audit_visible(&head.snap, current))
	{
		behind = true;
		snap.xmax = head.snap.xmax;
	}
	SPI_finish();
	steward_owner_scope_end(&scope);
	if (behind)
		steward_audit_refuse_xid_behind(snap.xmax, current);
}

/*
 * Append one event; returns its id.  The caller has validated the fields.
 */
int64
steward_audit_insert(const AuditInput *in)
{
	Datum		values[AUDIT_NCOLS];
	bool		isnull[AUDIT_NCOLS];
	uint8		salt[AUDIT_SALT_LEN];
	uint8		commitment[AUDIT_HASH_LEN];
	const char *session_name;
	const char *current_name;
	const char *appname;
	int64		id;

	steward_require_read_write("audit_append");

	/*
	 * The event bytes are UTF-8: a text that has none (invalid bytes in a
	 * SQL_ASCII database) is refused now, not when it is sealed.
	 */
	{
		const char *texts[] = {in->event_type, in->action, in->resource_type,
		in->resource_id, in->actor};

		for (int i = 0; i < lengthof(texts); i++)
			if (texts[i])
				(void) pg_server_to_any(texts[i], strlen(texts[i]), PG_UTF8);
	}

	session_name = in->session_user_name ? in->session_user_name :
		role_name(&session_role, GetSessionUserId());
	current_name = in->current_user_name ? in->current_user_name :
		role_name(&current_role, GetUserId());
	appname = in->application_name ? in->application_name :
		(application_name && application_name[0] ? application_name : NULL);

	check_xid_ahead_of_ledger();
	values[AUDIT_COL_XID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	isnull[AUDIT_COL_XID] = false;
	values[AUDIT_COL_TIME] = TimestampTzGetDatum(GetCurrentTimestamp());
	isnull[AUDIT_COL_TIME] = false;
	steward_audit_check_time(DatumGetTimestampTz(values[AUDIT_COL_TIME]), "the new event");
	text_value(in->event_type, AUDIT_COL_EVENT_TYPE, values, isnull);
	text_value(in->action, AUDIT_COL_ACTION, values, isnull);
	text_value(in->resource_type, AUDIT_COL_RESOURCE_TYPE, values, isnull);
	text_value(in->resource_id, AUDIT_COL_RESOURCE_ID, values, isnull);
	text_value(in->actor, AUDIT_COL_ACTOR, values, isnull);
	text_value(session_name, AUDIT_COL_SESSION_USER, values, isnull);
	text_value(current_name, AUDIT_COL_CURRENT_USER, values, isnull);
	if (in->client_addr)
	{
		values[AUDIT_COL_CLIENT_ADDR] = DirectFunctionCall1(inet_in, CStringGetDatum(in->client_addr));
		isnull[AUDIT_COL_CLIENT_ADDR] = false;
	}
	else
		values[AUDIT_COL_CLIENT_ADDR] = session_client_addr(&isnull[AUDIT_COL_CLIENT_ADDR]);
	text_value(appname, AUDIT_COL_APPLICATION_NAME, values, isnull);

	if (in->payload_null)
	{
		isnull[AUDIT_COL_COMMITMENT] = isnull[AUDIT_COL_SALT] = isnull[AUDIT_COL_PAYLOAD] = true;
		values[AUDIT_COL_COMMITMENT] = values[AUDIT_COL_SALT] = values[AUDIT_COL_PAYLOAD] = (Datum) 0;
	}
	else
	{
		Jsonb	   *jb = DatumGetJsonbP(in->payload);
		char	   *txt = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		char	   *utf8 = pg_server_to_any(txt, strlen(txt), PG_UTF8);
		bytea	   *b;

		take_salt(salt);
		steward_audit_commitment(salt, utf8, strlen(utf8), commitment);

		b = palloc(VARHDRSZ + AUDIT_HASH_LEN);
		SET_VARSIZE(b, VARHDRSZ + AUDIT_HASH_LEN);
		memcpy(VARDATA(b), commitment, AUDIT_HASH_LEN);
		values[AUDIT_COL_COMMITMENT] = PointerGetDatum(b);
		b = palloc(VARHDRSZ + AUDIT_SALT_LEN);
		SET_VARSIZE(b, VARHDRSZ + AUDIT_SALT_LEN);
		memcpy(VARDATA(b), salt, AUDIT_SALT_LEN);
		values[AUDIT_COL_SALT] = PointerGetDatum(b);
		values[AUDIT_COL_PAYLOAD] = JsonbPGetDatum(jb);
		isnull[AUDIT_COL_COMMITMENT] = isnull[AUDIT_COL_SALT] = isnull[AUDIT_COL_PAYLOAD] = false;
	}

	id = steward_audit_store(values, isnull);

	if (!appended_in_xact)
	{
		static bool registered = false;

		if (!registered)
		{
			RegisterXactCallback(audit_xact_callback, NULL);
			registered = true;
		}
		appended_in_xact = true;
	}
	return id;
}

static char *
opt_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static bool
reserved_type(const char *t)
{
	return strcmp(t, AUDIT_TYPE_ROW_CHANGE) == 0 ||
		strcmp(t, AUDIT_TYPE_MIGRATION) == 0 ||
		strcmp(t, AUDIT_TYPE_REDACTION) == 0 ||
		strcmp(t, AUDIT_TYPE_RETENTION) == 0 ||
		strcmp(t, AUDIT_TYPE_LEDGER) == 0;
}

/*
 * An event type is 1 to AUDIT_MAX_EVENT_TYPE_LEN characters of A-Z, 0-9 and
 * _, beginning with a letter: no letter case, space, control character or
 * look-alike letter from another script can make one type pass for
 * another.
 */
void
steward_audit_check_event_type(const char *t)
{
	size_t		len = strlen(t);
	bool		ok = len >= 1 && len <= AUDIT_MAX_EVENT_TYPE_LEN && t[0] >= 'A' && t[0] <= 'Z';

	for (size_t i = 0; ok && i < len; i++)
		ok = (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 len <= AUDIT_MAX_EVENT_TYPE_LEN ?
				 errmsg("invalid event type \"%s\"", t) :
				 errmsg("invalid event type: longer than %d characters", AUDIT_MAX_EVENT_TYPE_LEN),
				 errdetail("An event type is 1 to %d characters from A to Z, 0 to 9 and _, beginning with a capital letter.",
						   AUDIT_MAX_EVENT_TYPE_LEN)));
}

PG_FUNCTION_INFO_V1(steward_audit_check_event_type_sql);

/*
 * steward.audit_check_event_type(event_type text) returns void: the check
 * above, for the SQL functions that take an event type.
 */
Datum
steward_audit_check_event_type_sql(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event_type must not be null")));
	steward_audit_check_event_type(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * An event about the ledger itself (what is audited, for how long), by the
 * current session.
 */
int64
steward_audit_ledger_event(const char *action, const char *resource_type,
						   const char *resource_id)
{
	AuditInput	in = {0};

	in.event_type = AUDIT_TYPE_LEDGER;
	in.action = action;
	in.resource_type = resource_type;
	in.resource_id = resource_id;
	in.payload_null = true;
	return steward_audit_insert(&in);
}

PG_FUNCTION_INFO_V1(steward_audit_append);

/*
 * audit_append(action text, resource_type text, resource_id text,
 *				payload jsonb, actor text, event_type text) returns bigint
 */
Datum
steward_audit_append(PG_FUNCTION_ARGS)
{
	AuditInput	in = {0};

	in.action = opt_text(fcinfo, 0);
	in.resource_type = opt_text(fcinfo, 1);
	in.resource_id = opt_text(fcinfo, 2);
	in.payload_null = PG_ARGISNULL(3);
	in.payload = in.payload_null ? (Datum) 0 : PG_GETARG_DATUM(3);
	in.actor = opt_text(fcinfo, 4);
	in.event_type = opt_text(fcinfo, 5);	/* omitted: 'APPLICATION' (SQL default) */

	check_field(in.action, "action", true);
	check_field(in.resource_type, "resource_type", false);
	check_field(in.resource_id, "resource_id", false);
	check_field(in.actor, "actor", false);
	check_field(in.event_type, "event_type", true);
	steward_audit_check_event_type(in.event_type);
	if (reserved_type(in.event_type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event type \"%s\" is reserved for pg_steward", in.event_type),
				 errdetail("ROW_CHANGE, SCHEMA_MIGRATION, REDACTION, RETENTION and LEDGER events are appended by pg_steward itself.")));

	PG_RETURN_INT64(steward_audit_insert(&in));
}

PG_FUNCTION_INFO_V1(steward_audit_append_internal);

/*
 * steward.audit_append_internal(event_type, action, resource_type,
 *		resource_id, payload, actor, session_user_name, current_user_name,
 *		application_name, client_addr) returns bigint
 *
 * For pg_steward's own events appended from SQL (SCHEMA_MIGRATION from
 * steward.append_event, RETENTION and LEDGER from the retention functions),
 * which name the session that made the change.
 */
Datum
steward_audit_append_internal(PG_FUNCTION_ARGS)
{
	AuditInput	in = {0};

	in.event_type = opt_text(fcinfo, 0);
	in.action = opt_text(fcinfo, 1);
	in.resource_type = opt_text(fcinfo, 2);
	in.resource_id = opt_text(fcinfo, 3);
	in.payload_null = PG_ARGISNULL(4);
	in.payload = in.payload_null ? (Datum) 0 : PG_GETARG_DATUM(4);
	in.actor = opt_text(fcinfo, 5);
	in.session_user_name = opt_text(fcinfo, 6);
	in.current_user_name = opt_text(fcinfo, 7);
	in.application_name = opt_text(fcinfo, 8);
	in.client_addr = opt_text(fcinfo, 9);
	if (in.event_type == NULL || in.action == NULL || !reserved_type(in.event_type))
		elog(ERROR, "internal audit event without type or action, or of a type not pg_steward's");
	PG_RETURN_INT64(steward_audit_insert(&in));
}

/* a row as JSON text, or "null" */
static char *
row_json(HeapTuple tuple, TupleDesc desc)
{
	Datum		d;

	if (tuple == NULL)
		return "null";
	d = heap_copy_tuple_as_datum(tuple, desc);
	return TextDatumGetCString(DirectFunctionCall1(row_to_json, d));
}

PG_FUNCTION_INFO_V1(steward_audit_row_change);

/*
 * The trigger audit_table() attaches: AFTER INSERT, UPDATE or DELETE FOR
 * EACH ROW, and AFTER TRUNCATE FOR EACH STATEMENT.  Its arguments are the
 * key columns; resource_id is the key value (a JSON array for several
 * columns), the payload {"old": row, "new": row}.
 */
Datum
steward_audit_row_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	HeapTuple	keytup;
	AuditInput	in = {0};
	StringInfoData buf;
	Oid			save_userid;
	int			save_sec_context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("steward.audit_row_change() may only be called as a trigger")));

	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	in.event_type = AUDIT_TYPE_ROW_CHANGE;
	in.resource_type = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												  RelationGetRelationName(rel));

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		in.action = "TRUNCATE";
		in.payload_null = true;
		(void) steward_audit_insert(&in);
		return PointerGetDatum(NULL);
	}

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		in.action = "INSERT";
		newtup = td->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		in.action = "UPDATE";
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}
	else
	{
		in.action = "DELETE";
		oldtup = td->tg_trigtuple;
	}

	/*
	 * Render the key and the rows as the table's owner, in a
	 * security-restricted operation: output functions and casts to json of
	 * the column types may be the owner's code.  Errors restore the user id
	 * (transaction or subtransaction abort).
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(rel->rd_rel->relowner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	keytup = newtup ? newtup : oldtup;
	if (td->tg_trigger->tgnargs == 1)
	{
		int			att = SPI_fnumber(desc, td->tg_trigger->tgargs[0]);

		if (att > 0)
			in.resource_id = SPI_getvalue(keytup, desc, att);
	}
	else if (td->tg_trigger->tgnargs > 1)
	{
		initStringInfo(&buf);
		appendStringInfoChar(&buf, '[');
		for (int i = 0; i < td->tg_trigger->tgnargs; i++)
		{
			int			att = SPI_fnumber(desc, td->tg_trigger->tgargs[i]);
			char	   *v = att > 0 ? SPI_getvalue(keytup, desc, att) : NULL;

			if (i > 0)
				appendStringInfoString(&buf, ", ");
			if (v == NULL)
				appendStringInfoString(&buf, "null");
			else
				escape_json(&buf, v);
		}
		appendStringInfoChar(&buf, ']');
		in.resource_id = buf.data;
	}
	if (in.resource_id && strlen(in.resource_id) > AUDIT_MAX_FIELD_LEN)
		in.resource_id = NULL;	/* the rows in the payload still name it */

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"old\": %s, \"new\": %s}",
					 row_json(oldtup, desc), row_json(newtup, desc));
	SetUserIdAndSecContext(save_userid, save_sec_context);

	in.payload = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	in.payload_null = false;

	(void) steward_audit_insert(&in);
	return PointerGetDatum(NULL);
}

void
steward_audit_bypass_begin(void)
{
	bypass_depth++;
}

void
steward_audit_bypass_end(void)
{
	if (bypass_depth > 0)
		bypass_depth--;
}

PG_FUNCTION_INFO_V1(steward_audit_refuse);

/*
 * BEFORE UPDATE OR DELETE (per row) and BEFORE TRUNCATE trigger of the
 * ledger tables.
 */
Datum
steward_audit_refuse(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("steward.audit_refuse() may only be called as a trigger")));

	if (bypass_depth > 0)
	{
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			return PointerGetDatum(td->tg_newtuple);
		if (TRIGGER_FIRED_FOR_ROW(td->tg_event))
			return PointerGetDatum(td->tg_trigtuple);
		return PointerGetDatum(NULL);
	}

	op = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" :
		TRIGGER_FIRED_BY_DELETE(td->tg_event) ? "DELETE" : "TRUNCATE";
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("the audit ledger is append-only: %s is not allowed", op),
			 errdetail("Refused on table %s.",
					   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(td->tg_relation)),
												  RelationGetRelationName(td->tg_relation))),
			 errhint("Erase a payload with audit_redact(); drop expired partitions with audit_drop_expired().")));
	PG_RETURN_NULL();
}
