/*-------------------------------------------------------------------------
 *
 * keymap.c
 *	  A map from text keys of any length to entries, for what the lint and
 *	  the dry run remember while they walk a migration.
 *
 * Looking a key up costs the length of the key, not the number of keys,
 * so that walking a migration costs the same per statement however many
 * statements came before it.  Keys are hashed to 64 bits; the entries of
 * one hash value are compared in full, so a collision costs a comparison,
 * never a wrong answer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/hsearch.h"

#include "review/review.h"

typedef struct KeyBucket
{
	uint64		hash;			/* hash key, must be first */
	List	   *entries;		/* StewardKeyEntry with this hash */
} KeyBucket;

/*
 * The entry for key in *map, made on first use (in cxt, as is the map)
 * when create is true; NULL when it is absent and create is false.
 */
StewardKeyEntry *
steward_key_entry(HTAB **map, MemoryContext cxt, const char *key, bool create)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) key, strlen(key), 0);
	KeyBucket  *bucket;
	StewardKeyEntry *e;
	MemoryContext old;
	ListCell   *lc;
	bool		found;

	if (*map == NULL)
	{
		HASHCTL		ctl;

		if (!create)
			return NULL;
		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(KeyBucket);
		ctl.hcxt = cxt;
		*map = hash_create("pg_steward key map", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	bucket = (KeyBucket *) hash_search(*map, &hash, create ? HASH_ENTER : HASH_FIND, &found);
	if (bucket == NULL)
		return NULL;
	if (!found)
		bucket->entries = NIL;
	foreach(lc, bucket->entries)
	{
		e = (StewardKeyEntry *) lfirst(lc);
		if (strcmp(e->key, key) == 0)
			return e;
	}
	if (!create)
		return NULL;

	old = MemoryContextSwitchTo(cxt);
	e = palloc0(sizeof(StewardKeyEntry));
	e->key = pstrdup(key);
	bucket->entries = lappend(bucket->entries, e);
	MemoryContextSwitchTo(old);
	return e;
}

/* Is key in map? */
bool
steward_key_member(HTAB *map, const char *key)
{
	return map != NULL && steward_key_entry(&map, NULL, key, false) != NULL;
}
