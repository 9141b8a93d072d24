/*-------------------------------------------------------------------------
 *
 * check.c
 *	  "check-proof": a receipt (audit_proof) or a consistency proof
 *	  (audit_consistency) checked against digest files with no server at
 *	  all, exactly as docs/audit.md, "The ledger tree", says: SHA-256 and
 *	  the RFC 9162 verification algorithms (§2.1.3.2 for an audit path,
 *	  §2.1.4.2 for a consistency proof; tree.c).  This file never connects.
 *
 * Documents and digests are read by json.c; with --public-key each digest
 * file must carry a valid signature (sign.c) before it is trusted.
 *
 * client/check.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include "common/base64.h"

#define HASH_LEN			32
#define PROOF_MAX_BYTES		(16 * 1024 * 1024)	/* a receipt with a large payload */
#define DIGEST_MAX_BYTES	65536	/* as the server's; a digest is ~400 bytes */

#define RECEIPT_FORMAT		"pg_steward receipt v1"
#define CONSISTENCY_FORMAT	"pg_steward consistency proof v1"

/* a head of the ledger tree, as a digest or a document names it */
typedef struct Head
{
	int64		block;
	uint8		hash[HASH_LEN];	/* of the block */
	int64		size;
	uint8		root[HASH_LEN];	/* of the tree */
} Head;

/* a document being read: its file, for messages */
typedef struct Doc
{
	const char *path;
	const char *what;			/* "receipt", "digest", … */
	JsonObject	obj;
} Doc;

static const char *
events(int64 n)
{
	return n == 1 ? "event" : "events";
}

/* say why a document cannot be checked; returns false */
static bool
malformed(const Doc *d, const char *fmt,...) pg_attribute_printf(2, 3);

static bool
malformed(const Doc *d, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: could not check: \"%s\" is not a pg_steward %s: ", progname, d->path, d->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

/* --------------------------------------------------------- reading keys */

/*
 * Strict base64 (RFC 4648, standard alphabet, padded, nothing else: the
 * text must be what encoding its bytes gives).  *out is pg_malloc'd.
 */
static bool
b64_decode(const char *s, size_t slen, char **out, size_t *outlen)
{
	int			cap;
	int			n;
	char	   *re;
	bool		ok;

	if (slen % 4 != 0 || slen > 64 * 1024 * 1024)
		return false;
	cap = pg_b64_dec_len((int) slen) + 1;
	*out = pg_malloc(cap);
	n = pg_b64_decode(s, (int) slen, *out, cap);
	if (n < 0)
		return false;
	re = pg_malloc(pg_b64_enc_len(n) + 1);
	ok = pg_b64_encode(*out, n, re, pg_b64_enc_len(n)) == (int) slen && memcmp(re, s, slen) == 0;
	free(re);
	*outlen = n;
	return ok;
}

static const JsonMember *
need(const Doc *d, const char *key, JsonKind kind, const char *kind_name)
{
	const JsonMember *m = json_member(&d->obj, key);

	if (m == NULL)
	{
		malformed(d, "it has no key \"%s\"", key);
		return NULL;
	}
	if (m->kind != kind)
	{
		malformed(d, "\"%s\" is not %s", key, kind_name);
		return NULL;
	}
	return m;
}

/* a non-negative integer; in a digest also a string of 1 to 18 digits */
static bool
get_int(const Doc *d, const char *key, bool digit_string_ok, int64 *out)
{
	const JsonMember *m = json_member(&d->obj, key);

	if (m != NULL && m->kind == JSON_INTEGER)
	{
		*out = m->integer;
		return true;
	}
	if (m != NULL && m->kind == JSON_STRING && digit_string_ok &&
		m->len >= 1 && m->len <= 18 && strspn(m->str, "0123456789") == m->len)
	{
		*out = strtoi64(m->str, NULL, 10);
		return true;
	}
	return m == NULL ? malformed(d, "it has no key \"%s\"", key)
		: malformed(d, "\"%s\" is not a non-negative integer", key);
}

/* 64 hex digits */
static bool
get_hex(const Doc *d, const char *key, uint8 *out)
{
	const JsonMember *m = need(d, key, JSON_STRING, "a string of 64 hex digits");

	if (m == NULL)
		return false;
	if (m->len != 2 * HASH_LEN || strspn(m->str, "0123456789abcdefABCDEF") != m->len)
		return malformed(d, "\"%s\" is not 64 hex digits", key);
	for (int i = 0; i < HASH_LEN; i++)
	{
		char		pair[3] = {m->str[2 * i], m->str[2 * i + 1], '\0'};

		out[i] = (uint8) strtoul(pair, NULL, 16);
	}
	return true;
}

/* base64 text of a string (want: its decoded length, 0 any) */
static bool
b64_value(const Doc *d, const char *key, const char *s, size_t slen, size_t want,
		  char **out, size_t *outlen)
{
	if (!b64_decode(s, slen, out, outlen))
		return malformed(d, "\"%s\" is not base64", key);
	if (want > 0 && *outlen != want)
		return malformed(d, "\"%s\" is not %zu bytes in base64", key, want);
	return true;
}

static bool
get_b64(const Doc *d, const char *key, size_t want, char **out, size_t *outlen)
{
	const JsonMember *m = need(d, key, JSON_STRING, "a base64 string");

	return m != NULL && b64_value(d, key, m->str, m->len, want, out, outlen);
}

/* an array of base64 hashes: *hashes holds n × 32 bytes */
static bool
get_hashes(const Doc *d, const char *key, uint8 **hashes, int *n)
{
	const JsonMember *m = need(d, key, JSON_ARRAY, "an array of base64 hashes");

	if (m == NULL)
		return false;
	if (m->nitems > 128)
		return malformed(d, "\"%s\" has more than 128 hashes", key);
	*n = m->nitems;
	*hashes = pg_malloc(HASH_LEN * Max(m->nitems, 1));
	for (int i = 0; i < m->nitems; i++)
	{
		char	   *h;
		size_t		len;

		if (!b64_value(d, key, m->items[i], strlen(m->items[i]), HASH_LEN, &h, &len))
			return false;
		memcpy(*hashes + i * HASH_LEN, h, HASH_LEN);
		free(h);
	}
	return true;
}

/* the head of keys PREFIXblock, PREFIXhash, PREFIXtree_size, PREFIXtree_root */
static bool
get_head(const Doc *d, const char *prefix, Head *h)
{
	char		key[64];

#define KEY(k) (snprintf(key, sizeof(key), "%s%s", prefix, k), key)
	return get_int(d, KEY("block"), false, &h->block) &&
		get_hex(d, KEY("hash"), h->hash) &&
		get_int(d, KEY("tree_size"), false, &h->size) &&
		get_hex(d, KEY("tree_root"), h->root);
#undef KEY
}

static bool
read_doc(Doc *d, const char *path, const char *what, const char *text, size_t len)
{
	PQExpBufferData err;
	bool		ok;

	d->path = path;
	d->what = what;
	initPQExpBuffer(&err);
	ok = json_read_object(text, len, &d->obj, &err);
	if (!ok)
		malformed(d, "%s", err.data);
	termPQExpBuffer(&err);
	return ok;
}

/*
 * A digest file: its signature checked first with a public key, then its
 * keys read as the server reads a digest (block, position, hash; tree_size,
 * position when absent; tree_root when present).  need_root: tree_root is
 * required and tree_size must be position, which a check of a proof
 * without the server needs (digests from pg_steward 0.5.0).  EXIT_OK, or
 * the exit status with a message printed.
 */
int
digest_file_read(const char *path, const char *public_key, bool need_root, DigestHead *dg)
{
	size_t		len;
	char	   *text = file_read_bytes(path, DIGEST_MAX_BYTES, &len);
	Doc			d;
	int			rc;

	if (text == NULL)
		return EXIT_SERVER;
	if (public_key && (rc = sign_check(path, text, len, public_key)) != EXIT_OK)
		return rc;
	if (!read_doc(&d, path, "ledger digest", text, len) ||
		!get_int(&d, "block", true, &dg->block) ||
		!get_int(&d, "position", true, &dg->position) ||
		!get_hex(&d, "hash", dg->hash))
		return EXIT_SERVER;
	dg->has_root = json_member(&d.obj, "tree_root") != NULL;
	if (!dg->has_root && need_root)
	{
		malformed(&d, "it names no tree_root (a digest from before pg_steward 0.5.0): take a newer one");
		return EXIT_SERVER;
	}
	dg->tree_size = dg->position;
	if (json_member(&d.obj, "tree_size") != NULL && !get_int(&d, "tree_size", true, &dg->tree_size))
		return EXIT_SERVER;
	if (dg->has_root && !get_hex(&d, "tree_root", dg->root))
		return EXIT_SERVER;
	if (need_root && dg->tree_size != dg->position)
	{
		malformed(&d, "its tree_size is not its position");
		return EXIT_SERVER;
	}
	return EXIT_OK;
}

static int
read_digest(const char *path, const char *public_key, Head *h)
{
	DigestHead	dg;
	int			rc = digest_file_read(path, public_key, true, &dg);

	if (rc != EXIT_OK)
		return rc;
	h->block = dg.block;
	memcpy(h->hash, dg.hash, HASH_LEN);
	h->size = dg.tree_size;
	memcpy(h->root, dg.root, HASH_LEN);
	return EXIT_OK;
}

/* NULL when head h (of a document) is the digest's d, else why not */
static char *
head_mismatch(const Head *h, const Head *d, const char *which, const char *digest)
{
	if (h->block != d->block || h->size != d->size)
		return psprintf("it names %sblock %lld (tree of %lld %s), %s names block %lld (tree of %lld %s)",
						which, (long long) h->block, (long long) h->size, events(h->size),
						digest, (long long) d->block, (long long) d->size, events(d->size));
	if (memcmp(h->hash, d->hash, HASH_LEN) != 0)
		return psprintf("the hash of its %sblock %lld is not the one %s names", which,
						(long long) h->block, digest);
	if (memcmp(h->root, d->root, HASH_LEN) != 0)
		return psprintf("its %stree_root is not the one %s names", which, digest);
	return NULL;
}

/* ------------------------------------------------------------- receipts */

static uint64
be_uint(const uint8 *p, int n)
{
	uint64		v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * The id (field 1) and the commitment (field 13; NULL when SQL NULL) of
 * event bytes of format 1 (docs/audit.md, "Event bytes"); false when the
 * bytes are not that.
 */
static bool
event_fields(const uint8 *b, size_t len, int64 *id, const uint8 **commitment)
{
	size_t		off = 4;

	if (len < 4 || memcmp(b, "PSE\x01", 4) != 0)
		return false;
	*commitment = NULL;
	for (int field = 1; field <= 13; field++)
	{
		uint8		tag;
		uint64		flen;

		if (off >= len)
			return false;
		tag = b[off++];
		if ((field == 1 && tag != 0x01) || (field == 13 && tag != 0x00 && tag != 0x03))
			return false;
		switch (tag)
		{
			case 0x00:
				break;
			case 0x01:
				if (len - off < 8)
					return false;
				if (field == 1)
					*id = (int64) be_uint(b + off, 8);
				off += 8;
				break;
			case 0x02:
			case 0x03:
				if (len - off < 4)
					return false;
				flen = be_uint(b + off, 4);
				off += 4;
				if (len - off < flen)
					return false;
				if (field == 13)
				{
					if (flen != HASH_LEN)
						return false;
					*commitment = b + off;
				}
				off += flen;
				break;
			default:
				return false;
		}
	}
	return off == len;
}

static int
check_receipt(Doc *d, const char *digest_path, const char *public_key)
{
	Head		head;
	Head		dg;
	int64		event_id;
	int64		position;
	int64		leaf_index;
	char	   *bytes;
	size_t		nbytes;
	char	   *leaf_given;
	size_t		len;
	uint8	   *path;
	int			npath;
	uint8		leaf[HASH_LEN];
	int64		id_in_bytes = -1;
	const uint8 *commitment = NULL;
	const JsonMember *payload = json_member(&d->obj, "payload");
	const JsonMember *salt = json_member(&d->obj, "salt");
	char	   *why = NULL;
	bool		payload_checked = false;
	int			rc;

	if (!get_int(d, "event_id", false, &event_id) ||
		!get_int(d, "position", false, &position) ||
		!get_int(d, "leaf_index", false, &leaf_index) ||
		!get_head(d, "", &head) ||
		!get_b64(d, "event_bytes", 0, &bytes, &nbytes) ||
		!get_b64(d, "leaf", HASH_LEN, &leaf_given, &len) ||
		!get_hashes(d, "audit_path", &path, &npath))
		return EXIT_SERVER;
	if ((payload == NULL) != (salt == NULL))
	{
		malformed(d, "it has \"%s\" without \"%s\"", payload ? "payload" : "salt",
				  payload ? "salt" : "payload");
		return EXIT_SERVER;
	}
	if ((payload && payload->kind != JSON_STRING && payload->kind != JSON_NULL) ||
		(salt && salt->kind != JSON_STRING && salt->kind != JSON_NULL))
	{
		malformed(d, "\"payload\" and \"salt\" must be strings or null");
		return EXIT_SERVER;
	}
	if ((rc = read_digest(digest_path, public_key, &dg)) != EXIT_OK)
		return rc;

	/* 1. the head is the digest's */
	why = head_mismatch(&head, &dg, "", "the digest");
	if (why == NULL && leaf_index != position - 1)
		why = psprintf("its leaf_index %lld does not match its position %lld",
					   (long long) leaf_index, (long long) position);
	if (why == NULL && leaf_index >= head.size)
		why = psprintf("its leaf_index %lld is outside the tree of %lld %s",
					   (long long) leaf_index, (long long) head.size, events(head.size));
	/* 2. the leaf is H(0x00 ‖ event bytes) */
	if (why == NULL)
	{
		tree_sha256(0x00, bytes, nbytes, NULL, 0, leaf);
		if (memcmp(leaf, leaf_given, HASH_LEN) != 0)
			why = psprintf("its event bytes do not hash to its leaf");
	}
	/* 3. RFC 9162 §2.1.3.2 */
	if (why == NULL && !steward_merkle_inclusion_holds(leaf_index, head.size, leaf, path, npath, dg.root))
		why = psprintf("its audit path does not lead from leaf %lld to the digest's tree_root",
					   (long long) leaf_index);
	/* the event it is about */
	if (why == NULL && !event_fields((const uint8 *) bytes, nbytes, &id_in_bytes, &commitment))
		why = psprintf("its event bytes are not event bytes of format 1");
	if (why == NULL && id_in_bytes != event_id)
		why = psprintf("its event bytes are those of event %lld", (long long) id_in_bytes);
	/* 4. with the payload: H(0x02 ‖ salt ‖ payload) is the commitment */
	if (why == NULL && payload && (payload->kind == JSON_STRING || salt->kind == JSON_STRING))
	{
		char	   *salt_bytes;
		uint8		c[HASH_LEN];

		if (payload->kind != JSON_STRING)
			why = psprintf("it has a salt but no payload");
		else if (salt->kind != JSON_STRING)
			why = psprintf("it has a payload but no salt");
		else if (!b64_value(d, "salt", salt->str, salt->len, SALT_LEN, &salt_bytes, &len))
			return EXIT_SERVER;
		else if (commitment == NULL)
			why = psprintf("it has a payload but its event bytes hold no commitment");
		else
		{
			tree_sha256(0x02, salt_bytes, SALT_LEN, payload->str, payload->len, c);
			if (memcmp(c, commitment, HASH_LEN) != 0)
				why = psprintf("its payload does not match the commitment in its event bytes");
			payload_checked = true;
		}
	}

	if (why)
	{
		printf("the receipt of event %lld is NOT valid: %s\n", (long long) event_id, why);
		return EXIT_FINDINGS;
	}
	printf("the receipt of event %lld is valid against the digest of block %lld (tree of %lld %s)%s\n",
		   (long long) event_id, (long long) dg.block, (long long) dg.size, events(dg.size),
		   payload_checked ? ", and its payload matches its commitment" : "");
	return EXIT_OK;
}

/* --------------------------------------------------- consistency proofs */

static int
check_consistency(Doc *d, const char *old_path, const char *new_path, const char *public_key)
{
	Head		old;
	Head		new;
	Head		old_dg;
	Head		new_dg;
	uint8	   *proof;
	int			n;
	char	   *why;
	int			rc;

	if (!get_head(d, "old_", &old) || !get_head(d, "new_", &new) ||
		!get_hashes(d, "proof", &proof, &n))
		return EXIT_SERVER;
	if ((rc = read_digest(old_path, public_key, &old_dg)) != EXIT_OK ||
		(rc = read_digest(new_path, public_key, &new_dg)) != EXIT_OK)
		return rc;

	why = head_mismatch(&old, &old_dg, "old ", "the old digest");
	if (why == NULL)
		why = head_mismatch(&new, &new_dg, "new ", "the digest");
	if (why == NULL && old.size > new.size)
		why = psprintf("the old digest names a larger tree than the digest");
	if (why == NULL && !steward_merkle_consistency_holds(old.size, old.root, new.size, new.root, proof, n))
		why = psprintf("its proof does not lead to both tree roots");
	if (why)
	{
		printf("the consistency proof from block %lld (tree of %lld %s) to block %lld (tree of %lld %s) is NOT valid: %s\n",
			   (long long) old.block, (long long) old.size, events(old.size),
			   (long long) new.block, (long long) new.size, events(new.size), why);
		return EXIT_FINDINGS;
	}
	printf("the consistency proof from block %lld (tree of %lld %s) to block %lld (tree of %lld %s) is valid\n",
		   (long long) old.block, (long long) old.size, events(old.size),
		   (long long) new.block, (long long) new.size, events(new.size));
	return EXIT_OK;
}

/* ---------------------------------------------------------------- entry */

int
cmd_check_proof(const ClientOptions *opts, const char *file)
{
	size_t		len;
	char	   *text;
	Doc			d;
	const JsonMember *format;

	if (opts->digest_file == NULL)
		fail_usage("check-proof needs --digest FILE: the digest the proof is checked against");
	text = file_read_bytes(file, PROOF_MAX_BYTES, &len);
	if (text == NULL)
		return EXIT_SERVER;
	if (!read_doc(&d, file, "receipt or consistency proof", text, len))
		return EXIT_SERVER;
	format = json_member(&d.obj, "format");
	if (format && format->kind == JSON_STRING && strcmp(format->str, RECEIPT_FORMAT) == 0)
	{
		if (opts->old_digest_file)
			fail_usage("--old-digest is for a consistency proof; \"%s\" is a receipt", file);
		d.what = "receipt";
		return check_receipt(&d, opts->digest_file, opts->public_key);
	}
	if (format && format->kind == JSON_STRING && strcmp(format->str, CONSISTENCY_FORMAT) == 0)
	{
		if (opts->old_digest_file == NULL)
			fail_usage("\"%s\" is a consistency proof: check-proof needs --old-digest FILE too", file);
		d.what = "consistency proof";
		return check_consistency(&d, opts->old_digest_file, opts->digest_file, opts->public_key);
	}
	malformed(&d, "its \"format\" is neither \"%s\" nor \"%s\"", RECEIPT_FORMAT, CONSISTENCY_FORMAT);
	return EXIT_SERVER;
}
