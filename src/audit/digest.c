/*-------------------------------------------------------------------------
 *
 * digest.c
 *	  Digests: the small JSON documents audit_digest() returns, which name
 *	  the head of the ledger and are kept outside the database.
 *
 * A digest names the newest sealed block (block, position: its last chain
 * position, hash: its block hash) and, from 0.5.0, the head of the ledger
 * tree at that position (tree_size, equal to position, and tree_root;
 * tree.c).  Parsing checks the keys a verifier relies on and ignores the
 * rest (database, system_identifier, sealed_at, created_at are for
 * people).  Matching compares the named block with the stored one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "pg_steward.h"
#include "audit/audit.h"

#define DIGEST_MAX_BYTES 65536	/* a digest is about 400 bytes */

/* the text of a string or number under key, or NULL */
static char *
digest_key(Jsonb *jb, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);

	if (v != NULL && v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return (v != NULL && v->type == jbvString) ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

/* 1 to 18 decimal digits */
static bool
digest_number(const char *s, int64 *out)
{
	size_t		len = s ? strlen(s) : 0;

	if (len < 1 || len > 18 || strspn(s, "0123456789") != len)
		return false;
	*out = strtoi64(s, NULL, 10);
	return true;
}

/*
 * Read a digest (a jsonb datum): block, position and hash must be there
 * and well formed; tree_size and tree_root, when present, too (tree_size
 * is position when absent; audit_digest() writes them equal, and whether
 * they are is for the caller to judge).  Read from the jsonb itself, without rendering
 * it; anything larger than DIGEST_MAX_BYTES is refused before it is
 * looked at.
 */
void
steward_audit_parse_digest(Datum jsonb, const char *argname, AuditDigest *dg)
{
	Jsonb	   *jb = DatumGetJsonbP(jsonb);
	char	   *tree_size;
	char	   *tree_root;
	bool		ok;

	memset(dg, 0, sizeof(*dg));
	ok = VARSIZE(jb) <= DIGEST_MAX_BYTES && JB_ROOT_IS_OBJECT(jb) &&
		digest_number(digest_key(jb, "block"), &dg->block) &&
		digest_number(digest_key(jb, "position"), &dg->position) &&
		steward_audit_unhex(digest_key(jb, "hash"), dg->hash, AUDIT_HASH_LEN);
	if (ok)
	{
		tree_size = digest_key(jb, "tree_size");
		tree_root = digest_key(jb, "tree_root");
		dg->tree_size = dg->position;
		if (tree_size != NULL)
			ok = digest_number(tree_size, &dg->tree_size);
		if (ok && tree_root != NULL)
		{
			ok = steward_audit_unhex(tree_root, dg->tree_root, AUDIT_HASH_LEN);
			dg->has_tree_root = ok;
		}
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not a pg_steward ledger digest", argname),
				 errhint("Pass a document returned by audit_digest().")));
}

/*
 * Does the stored block match the digest (same hash, same last position)?
 * *exists says whether the block is there at all.  Block 0 is the digest
 * of an empty ledger.  Inside SPI, as the owner.
 */
bool
steward_audit_digest_matches(const AuditDigest *dg, bool *exists)
{
	Oid			types[1] = {INT8OID};
	Datum		arg = Int64GetDatum(dg->block);
	bool		isnull;
	Datum		h;
	bytea	   *hb;
	int64		last;
	int			rc;

	if (dg->block == 0)
	{
		*exists = true;
		return dg->position == 0;
	}
	rc = SPI_execute_with_args("SELECT block_hash, first_position + event_count - 1 "
							   "  FROM steward.audit_blocks WHERE block_id OPERATOR(pg_catalog.=) $1",
							   1, types, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read block %lld", (long long) dg->block);
	*exists = SPI_processed == 1;
	if (!*exists)
		return false;
	h = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	hb = DatumGetByteaPP(h);
	last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return !isnull && VARSIZE_ANY_EXHDR(hb) == AUDIT_HASH_LEN &&
		memcmp(VARDATA_ANY(hb), dg->hash, AUDIT_HASH_LEN) == 0 && last == dg->position;
}
