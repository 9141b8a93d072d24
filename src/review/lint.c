/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  The lint: walks the statements of a migration as the server's own
 *	  parser splits them and turns each risky one into findings (see
 *	  review.h for the words).
 *
 * The walk keeps what a migration has done so far, so that later
 * statements are judged in context: the names it gave relations (created
 * ones, which are new, and renamed existing ones), resolved by schema and
 * search_path as the statement itself will resolve them; the indexes it
 * builds (those of deferred CONCURRENTLY statements exist only after the
 * transaction); the tables it locked for writes (a VALIDATE after them
 * scans under that lock); the first ACCESS EXCLUSIVE lock on an existing
 * table (held while the rest runs); the tables it altered (several ALTERs
 * on one table) and the foreign keys it added (checked for an index at the
 * end).
 *
 * Lock modes come from the server: AlterTableGetLockLevel() for ALTER
 * TABLE subcommands, and for other statements the mode the server's code
 * for that statement takes.  Sizes, volatility, binary coercibility and
 * existing constraints come from the catalog (catalog.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_namespace.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "catalog/pg_attribute.h"
#include "access/htup_details.h"

#include "pg_steward.h"
#include "review/review.h"

/* A relation a statement names, as the lint sees it. */
typedef struct LintRel
{
	bool		known;			/* exists, or created by this migration */
	bool		is_new;
	Oid			relid;			/* InvalidOid when created by this migration */
	char	   *name;
	char	   *key;			/* identifies it across statements */
	int64		size;			/* bytes, -1: not measured yet */
} LintRel;

/* A name this migration gave a relation: created (relid invalid) or renamed. */
typedef struct LintName
{
	char	   *schema;
	char	   *name;
	Oid			relid;
} LintName;

typedef struct LintFk
{
	int			statement;
	const char *text;
	LintRel		rel;
	List	   *columns;		/* char * */
} LintFk;

/* A silence's rule as shown in an unused-silence finding, in bytes. */
#define LINT_SHOWN_RULE_LEN 64
/* An over-long identifier as shown in its finding, in bytes. */
#define LINT_SHOWN_IDENT_LEN 20

typedef struct LintState
{
	MemoryContext keep;			/* what outlives the statement being linted */
	List	   *findings;
	bool		runtime;
	bool		has_ddl;
	int			current;
	const char *current_text;
	List	   *path;			/* path_schemas(), looked up once */
	bool		path_known;
	/* keyed by text (keymap.c), so that looking up costs the same at any length */
	HTAB	   *names;			/* quoted name -> LintName: created or renamed */
	HTAB	   *renamed;		/* key of an existing relation renamed away */
	HTAB	   *indexes;		/* relation key and leading columns of an index */
	List	   *fks;			/* LintFk */
	HTAB	   *strong;			/* keys locked SHARE ROW EXCLUSIVE or more */
	HTAB	   *altered;		/* keys of existing tables altered */
	HTAB	   *deferred_indexes;	/* names of indexes built by deferred statements */
	HTAB	   *dropped;		/* key -> names of its constraints dropped so far */
	HTAB	   *listed;			/* key -> the statement that last listed it */
	HTAB	   *new_enums;		/* qualified names of enum types created */
	HTAB	   *not_null_checks;	/* key and constraint -> columns (char *) it
									 * proves NOT NULL, of a NOT VALID CHECK added */
	HTAB	   *proven_not_null;	/* key and column proven NOT NULL by a CHECK
									 * validated by this migration */
	HTAB	   *persistence;	/* keys whose LOGGED/UNLOGGED was changed */
	int			ael_statement;
	char	   *ael_relation;
	LintFinding *after_ael;
} LintState;

/* A copy of str that outlives the statement being linted. */
static char *
keep_str(LintState *s, const char *str)
{
	return MemoryContextStrdup(s->keep, str);
}

/* ----------------------------------------------------------------
 * Relations
 * ----------------------------------------------------------------
 */

static char *
rv_name(RangeVar *rv)
{
	return rv->schemaname
		? quote_qualified_identifier(rv->schemaname, rv->relname)
		: pstrdup(quote_identifier(rv->relname));
}

/*
 * The schemas an unqualified name is looked up in, in order (without the
 * implicit pg_catalog and pg_temp), as names: a schema created by this
 * migration is on the path by name before it exists.
 */
static List *
path_schemas(LintState *s)
{
	List	   *oids;
	ListCell   *lc;
	MemoryContext old;

	if (s->path_known)
		return s->path;
	old = MemoryContextSwitchTo(s->keep);
	oids = fetch_search_path(false);
	foreach(lc, oids)
	{
		char	   *n = get_namespace_name(lfirst_oid(lc));

		if (n)
			s->path = lappend(s->path, n);
	}
	list_free(oids);
	s->path_known = true;
	MemoryContextSwitchTo(old);
	return s->path;
}

/* The schema an unqualified CREATE puts its relation in. */
static char *
creation_schema(LintState *s, RangeVar *rv)
{
	List	   *path;

	if (rv->schemaname)
		return rv->schemaname;
	path = path_schemas(s);
	return path ? (char *) linitial(path) : "public";
}

static char *
oid_key(Oid relid)
{
	return psprintf("oid:%u", relid);
}

/* Did this migration rename the relation to another name? */
static bool
renamed_away(LintState *s, Oid relid)
{
	return steward_key_member(s->renamed, oid_key(relid));
}

/* The newest name this migration gave: a name can be dropped and created again. */
static LintName *
find_name(LintState *s, const char *schema, const char *name)
{
	StewardKeyEntry *e = steward_key_entry(&s->names, s->keep,
										   quote_qualified_identifier(schema, name), false);

	return e ? (LintName *) e->value : NULL;
}

static void
note_name(LintState *s, const char *schema, const char *name, Oid relid)
{
	LintName   *n = MemoryContextAlloc(s->keep, sizeof(LintName));

	n->schema = keep_str(s, schema);
	n->name = keep_str(s, name);
	n->relid = relid;
	steward_key_entry(&s->names, s->keep, quote_qualified_identifier(schema, name),
					  true)->value = n;
	if (OidIsValid(relid))
		(void) steward_key_entry(&s->renamed, s->keep, oid_key(relid), true);
}

static void
note_created(LintState *s, RangeVar *rv)
{
	note_name(s, creation_schema(s, rv), rv->relname, InvalidOid);
}

/*
 * Is this the first time the statement lists the relation?  A list such as
 * LOCK TABLE t, t, t names a relation once for the lint, as for the server.
 */
static bool
first_listed(LintState *s, LintRel *r)
{
	StewardKeyEntry *e = steward_key_entry(&s->listed, s->keep, r->key, true);

	if (e->number == s->current)
		return false;
	e->number = s->current;
	return true;
}

static char *
relation_display(Oid relid)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);

	if (nsp == NULL || rel == NULL)
		return psprintf("%u", relid);
	return quote_qualified_identifier(nsp, rel);
}

static void
rel_from_oid(LintState *s, Oid relid, LintRel *r)
{
	r->known = true;
	r->relid = relid;
	r->is_new = steward_relation_is_new(relid);
	r->name = relation_display(relid);
	r->key = oid_key(relid);
}

static void
rel_from_name(LintName *n, LintRel *r)
{
	r->known = r->is_new = true;
	r->name = quote_qualified_identifier(n->schema, n->name);
	r->key = psprintf("new:%s", r->name);
	r->size = 0;
}

/*
 * Resolve a relation the way the statement will when it runs: names this
 * migration created or renamed come first in their schema, the catalog
 * otherwise, following search_path for unqualified names.
 */
static bool
lint_rel(LintState *s, RangeVar *rv, LintRel *r)
{
	LintName   *n;
	ListCell   *lc;

	memset(r, 0, sizeof(LintRel));
	r->size = -1;
	if (rv == NULL)
		return false;

	if (rv->schemaname)
	{
		Oid			relid;

		if ((n = find_name(s, rv->schemaname, rv->relname)) != NULL)
		{
			if (OidIsValid(n->relid))
				rel_from_oid(s, n->relid, r);
			else
				rel_from_name(n, r);
			return true;
		}
		relid = RangeVarGetRelid(rv, NoLock, true);
		if (!OidIsValid(relid))
			return false;
		rel_from_oid(s, relid, r);
		return true;
	}

	foreach(lc, path_schemas(s))
	{
		const char *schema = (const char *) lfirst(lc);
		Oid			nsp = get_namespace_oid(schema, true);
		Oid			relid;

		if ((n = find_name(s, schema, rv->relname)) != NULL)
		{
			if (OidIsValid(n->relid))
				rel_from_oid(s, n->relid, r);
			else
				rel_from_name(n, r);
			return true;
		}
		relid = OidIsValid(nsp) ? get_relname_relid(rv->relname, nsp) : InvalidOid;
		if (OidIsValid(relid) && !renamed_away(s, relid))
		{
			rel_from_oid(s, relid, r);
			return true;
		}
	}
	return false;
}

static bool
existing(LintRel *r)
{
	return r->known && !r->is_new;
}

static int64
rel_size(LintRel *r)
{
	if (r->size < 0)
		r->size = OidIsValid(r->relid) ? steward_relation_bytes(r->relid) : 0;
	return r->size;
}

/* ----------------------------------------------------------------
 * Findings
 * ----------------------------------------------------------------
 */

static LintFinding *
emit(LintState *s, const char *rule_id, LintRel *r, LOCKMODE lockmode,
	 const char *detail)
{
	const LintRule *rule = steward_lint_rule(rule_id);
	int64		size = r ? rel_size(r) : -1;
	MemoryContext old = MemoryContextSwitchTo(s->keep);
	LintFinding *f = palloc0(sizeof(LintFinding));

	if (rule == NULL)
		elog(ERROR, "unknown lint rule \"%s\"", rule_id);

	f->seq = list_length(s->findings);
	f->statement = s->current;
	f->statement_text = s->current_text;
	f->rule = rule;
	f->lockmode = lockmode;
	f->relation = r ? pstrdup(r->name) : NULL;
	f->table_size = size;
	/* the rule's own texts are shared, not copied, by its findings */
	f->message = detail ? psprintf("%s (%s)", rule->why, detail) : (char *) rule->why;
	f->instead = (char *) rule->instead;

	switch (rule->grading)
	{
		case GRADE_SIZE:
			if (size == 0)
				f->severity = LINT_INFO;
			else if (size >= (int64) steward_large_table_kb * 1024)
				f->severity = LINT_ERROR;
			else
				f->severity = rule->severity;
			break;
		case GRADE_EMPTY:
			f->severity = size == 0 ? LINT_WARNING : LINT_ERROR;
			break;
		case GRADE_NONE:
			f->severity = rule->severity;
			break;
	}
	s->findings = lappend(s->findings, f);
	MemoryContextSwitchTo(old);
	return f;
}

/* A pre-check the DBA can run for a data-dependent change. */
static void
emit_data_dependent(LintState *s, LintRel *r, LOCKMODE mode, const char *precheck)
{
	LintFinding *f;

	if (!existing(r) || rel_size(r) == 0)
		return;
	f = emit(s, "data-dependent", r, mode, NULL);
	f->instead = keep_str(s, psprintf("pre-check: %s", precheck));
}

/*
 * Append the expand/contract call that does f's change (expand_hint.c) to
 * its safe alternative, when the table has rows: on an empty one the plain
 * statement is the simplest.
 */
static void
add_expand_hint(LintState *s, LintFinding *f, LintRel *r, const char *call)
{
	if (call == NULL || !existing(r) || rel_size(r) == 0)
		return;
	f->instead = keep_str(s, psprintf("%s; or with expand/contract, while both application versions run: %s",
									  f->rule->instead, call));
}

static void
note_lock(LintState *s, LintRel *r, LOCKMODE mode)
{
	if (!existing(r))
		return;
	if (mode >= ShareRowExclusiveLock)
		(void) steward_key_entry(&s->strong, s->keep, r->key, true);
	if (mode == AccessExclusiveLock && s->ael_statement == 0 && !s->runtime)
	{
		s->ael_statement = s->current;
		s->ael_relation = keep_str(s, r->name);
	}
}

static bool
strong_locked(LintState *s, LintRel *r)
{
	return steward_key_member(s->strong, r->key);
}

static LintFinding *emit_deferred(LintState *s, const char *what);
static void emit_refused(LintState *s, const char *what);

/* ----------------------------------------------------------------
 * Column definitions: hygiene, indexes and foreign keys
 * ----------------------------------------------------------------
 */

static const char *
type_last_name(TypeName *tn)
{
	return tn && tn->names ? strVal(llast(tn->names)) : "";
}

static bool
is_serial(TypeName *tn)
{
	const char *t = type_last_name(tn);

	return tn && list_length(tn->names) == 1 &&
		(strcmp(t, "serial") == 0 || strcmp(t, "serial4") == 0 ||
		 strcmp(t, "bigserial") == 0 || strcmp(t, "serial8") == 0 ||
		 strcmp(t, "smallserial") == 0 || strcmp(t, "serial2") == 0);
}

/*
 * The hygiene of a column's type, as declared by a column definition or
 * given by ALTER COLUMN ... TYPE (colname, typeName).
 */
static void
hygiene_type(LintState *s, const char *table, const char *colname, TypeName *tn,
			 bool primary_key)
{
	const char *t = type_last_name(tn);
	char	   *what;
	int			before = list_length(s->findings);
	ListCell   *lc;

	if (tn == NULL || colname == NULL || s->runtime)
		return;
	what = psprintf("column %s", quote_identifier(colname));
	if (strcmp(t, "varchar") == 0 && tn->typmods != NIL)
		emit(s, "prefer-text-field", NULL, NoLock, what);
	else if (strcmp(t, "bpchar") == 0)
		emit(s, "ban-char-field", NULL, NoLock, what);
	else if (strcmp(t, "timestamp") == 0)
		emit(s, "prefer-timestamptz", NULL, NoLock, what);
	else if (strcmp(t, "json") == 0)
		emit(s, "prefer-jsonb", NULL, NoLock, what);
	if (is_serial(tn))
		emit(s, "prefer-identity", NULL, NoLock, what);
	if (primary_key &&
		(strcmp(t, "int4") == 0 || strcmp(t, "int2") == 0 ||
		 strcmp(t, "serial") == 0 || strcmp(t, "serial4") == 0 ||
		 strcmp(t, "smallserial") == 0 || strcmp(t, "serial2") == 0 ||
		 strcmp(t, "integer") == 0 || strcmp(t, "smallint") == 0))
		emit(s, "prefer-bigint-over-int", NULL, NoLock, what);
	for_each_from(lc, s->findings, before)
		((LintFinding *) lfirst(lc))->relation = keep_str(s, table);
}

static void
hygiene_column(LintState *s, const char *table, ColumnDef *cd, bool primary_key)
{
	hygiene_type(s, table, cd->colname, cd->typeName, primary_key);
}

static List *
string_names(List *strings)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, strings)
		result = lappend(result, strVal(lfirst(lc)));
	return result;
}

static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/* The first n names as a set: sorted, without repeats, quoted. */
static char *
column_set(List *columns, int n)
{
	List	   *names = list_copy_head(columns, n);
	StringInfoData buf;
	ListCell   *lc;
	const char *prev = NULL;

	list_sort(names, name_cmp);
	initStringInfo(&buf);
	foreach(lc, names)
	{
		if (prev == NULL || strcmp(prev, lfirst(lc)) != 0)
			appendStringInfo(&buf, "%s,", quote_identifier(lfirst(lc)));
		prev = lfirst(lc);
	}
	list_free(names);
	return buf.data;
}

/* The key of an index leading with a set of columns of a relation. */
static char *
leading_key(const char *relkey, const char *set)
{
	return psprintf("%s %s", relkey, set);
}

/*
 * An index the migration builds, remembered under every set of leading
 * columns it has (an expression ends them), so that a foreign key finds
 * an index leading with its columns in one look-up.
 */
static void
note_index(LintState *s, LintRel *r, List *columns)
{
	for (int n = 1; n <= list_length(columns); n++)
	{
		char	   *set;

		if (*(char *) list_nth(columns, n - 1) == '\0')
			break;
		set = column_set(columns, n);
		(void) steward_key_entry(&s->indexes, s->keep, leading_key(r->key, set), true);
	}
}

static void
note_fk(LintState *s, LintRel *r, List *columns)
{
	MemoryContext old;
	LintFk	   *fk;

	if (s->runtime)
		return;
	old = MemoryContextSwitchTo(s->keep);
	fk = palloc(sizeof(LintFk));
	fk->statement = s->current;
	fk->text = s->current_text;
	fk->rel = *r;
	fk->rel.name = pstrdup(r->name);
	fk->rel.key = pstrdup(r->key);
	fk->columns = list_copy(columns);	/* of names in the parse tree */
	s->fks = lappend(s->fks, fk);
	MemoryContextSwitchTo(old);
}

/* Indexes and foreign keys of CREATE TABLE, inline or as table constraints. */
static void
lint_create_table(LintState *s, CreateStmt *stmt)
{
	LintRel		r;
	List	   *pk_columns = NIL;
	ListCell   *lc;

	if (stmt->if_not_exists && lint_rel(s, stmt->relation, &r) && existing(&r))
		return;					/* nothing happens */
	note_created(s, stmt->relation);
	(void) lint_rel(s, stmt->relation, &r);

	/* table-level constraints first: a PRIMARY KEY (a, b) names its columns */
	foreach(lc, stmt->tableElts)
	{
		Constraint *c = (Constraint *) lfirst(lc);

		if (!IsA(c, Constraint))
			continue;
		if (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE)
		{
			if (c->contype == CONSTR_PRIMARY)
				pk_columns = string_names(c->keys);
			note_index(s, &r, string_names(c->keys));
		}
		else if (c->contype == CONSTR_FOREIGN)
			note_fk(s, &r, string_names(c->fk_attrs));
	}
	foreach(lc, stmt->tableElts)
	{
		ColumnDef  *cd = (ColumnDef *) lfirst(lc);
		bool		pk = false;
		ListCell   *cc;

		if (!IsA(cd, ColumnDef))
			continue;
		foreach(cc, cd->constraints)
		{
			Constraint *c = (Constraint *) lfirst(cc);

			if (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE)
			{
				pk |= c->contype == CONSTR_PRIMARY;
				note_index(s, &r, list_make1(cd->colname));
			}
			else if (c->contype == CONSTR_FOREIGN)
				note_fk(s, &r, list_make1(cd->colname));
		}
		if (list_length(pk_columns) == 1 && strcmp(linitial(pk_columns), cd->colname) == 0)
			pk = true;
		hygiene_column(s, r.name, cd, pk);
	}
}

/* ----------------------------------------------------------------
 * ALTER TABLE
 * ----------------------------------------------------------------
 */

static char *
columns_text(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", quote_identifier(lfirst(lc)));
	return buf.data;
}

static char *
array_literal(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach(lc, names)
	{
		const char *n = (const char *) lfirst(lc);

		if (buf.len > 1)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '"');
		for (const char *p = n; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* The key of a type name (a list of String) among the enums created. */
static char *
type_key(const char *schema, List *names)
{
	return quote_qualified_identifier(schema, strVal(llast(names)));
}

/* Is the type an enum (or an array of one) this migration created? */
static bool
new_enum_type(LintState *s, TypeName *tn)
{
	ListCell   *lc;

	if (tn == NULL || tn->names == NIL || tn->setof || list_length(tn->names) > 3)
		return false;
	if (list_length(tn->names) > 1)
		return steward_key_member(s->new_enums,
								  type_key(strVal(list_nth(tn->names, list_length(tn->names) - 2)),
										   tn->names));
	foreach(lc, path_schemas(s))
		if (steward_key_member(s->new_enums, type_key((const char *) lfirst(lc), tn->names)))
		return true;
	return false;
}

/*
 * Is a default the catalog cannot analyse yet made only of constants cast
 * to enums (or arrays of them) this migration created, such as
 * ARRAY['USER']::"Role"[]?  Such a cast calls the enum's input function,
 * which is stable, so the default is computed once: no rewrite.
 */
static bool
constant_of_new_enums(LintState *s, Node *raw)
{
	ListCell   *lc;

	CHECK_FOR_INTERRUPTS();
	if (raw == NULL)
		return false;
	if (IsA(raw, A_Const))
		return true;
	if (IsA(raw, A_ArrayExpr))
	{
		foreach(lc, ((A_ArrayExpr *) raw)->elements)
			if (!constant_of_new_enums(s, lfirst(lc)))
			return false;
		return true;
	}
	if (IsA(raw, TypeCast))
	{
		TypeCast   *tc = (TypeCast *) raw;

		return new_enum_type(s, tc->typeName) && constant_of_new_enums(s, tc->arg);
	}
	return false;
}

static void
lint_add_column(LintState *s, LintRel *r, ColumnDef *cd, LOCKMODE mode)
{
	Node	   *defexpr = cd->raw_default;
	bool		notnull = false;
	bool		filled = is_serial(cd->typeName);
	ListCell   *lc;

	hygiene_column(s, r->name, cd, false);
	if (!existing(r))
	{
		foreach(lc, cd->constraints)
		{
			Constraint *c = (Constraint *) lfirst(lc);

			if (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE)
				note_index(s, r, list_make1(cd->colname));
			else if (c->contype == CONSTR_FOREIGN)
				note_fk(s, r, list_make1(cd->colname));
		}
		return;
	}

	if (filled)
		emit(s, "add-column-serial-identity", r, mode, psprintf("column %s", quote_identifier(cd->colname)));
	foreach(lc, cd->constraints)
	{
		Constraint *c = (Constraint *) lfirst(lc);

		switch (c->contype)
		{
			case CONSTR_DEFAULT:
				defexpr = c->raw_expr;
				break;
			case CONSTR_IDENTITY:
				filled = true;
				emit(s, "add-column-serial-identity", r, mode, psprintf("column %s", quote_identifier(cd->colname)));
				break;
			case CONSTR_GENERATED:
				filled = true;
				emit(s, "add-column-stored-generated", r, mode, psprintf("column %s", quote_identifier(cd->colname)));
				break;
			case CONSTR_NOTNULL:
				notnull = true;
				break;
			case CONSTR_PRIMARY:
				notnull = true;
				note_index(s, r, list_make1(cd->colname));
				emit(s, "primary-key-builds-index", r, mode, NULL);
				break;
			case CONSTR_UNIQUE:
				note_index(s, r, list_make1(cd->colname));
				emit(s, "unique-constraint-builds-index", r, mode, NULL);
				break;
			case CONSTR_FOREIGN:
				note_fk(s, r, list_make1(cd->colname));
				emit(s, "fk-missing-not-valid", r, ShareRowExclusiveLock,
					 psprintf("references %s", rv_name(c->pktable)));
				break;
			case CONSTR_CHECK:
				emit(s, "check-missing-not-valid", r, mode, NULL);
				break;
			default:
				break;
		}
	}
	if (defexpr != NULL)
	{
		bool		known;

		if (steward_expr_is_volatile(defexpr, &known) &&
			(known || !constant_of_new_enums(s, defexpr)))
		{
			filled = true;
			emit(s, "add-column-volatile-default", r, mode,
				 known ? psprintf("column %s", quote_identifier(cd->colname))
				 : psprintf("column %s: the default refers to objects that do not exist yet, so it is assumed volatile",
							quote_identifier(cd->colname)));
		}
	}
	if (notnull && defexpr == NULL && !filled)
		emit(s, "add-required-column", r, mode, psprintf("column %s", quote_identifier(cd->colname)));
	if (cd->typeName && steward_domain_has_constraints(cd->typeName))
		emit(s, "add-column-constrained-domain", r, mode, psprintf("column %s", quote_identifier(cd->colname)));
}

/* The columns a CHECK expression, as parsed, proves NOT NULL: col IS NOT NULL [AND ...]. */
static List *
raw_not_null_columns(Node *expr)
{
	List	   *result = NIL;

	CHECK_FOR_INTERRUPTS();
	if (expr == NULL)
		return NIL;
	if (IsA(expr, NullTest))
	{
		NullTest   *nt = (NullTest *) expr;

		if (nt->nulltesttype == IS_NOT_NULL && nt->arg && IsA(nt->arg, ColumnRef) &&
			IsA(llast(((ColumnRef *) nt->arg)->fields), String))
			result = list_make1(strVal(llast(((ColumnRef *) nt->arg)->fields)));
	}
	else if (IsA(expr, BoolExpr) && ((BoolExpr *) expr)->boolop == AND_EXPR)
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) expr)->args)
			result = list_concat(result, raw_not_null_columns(lfirst(lc)));
	}
	return result;
}

static char *
column_key(LintRel *r, const char *name)
{
	return psprintf("%s %s", r->key, quote_identifier(name));
}

/* A CHECK validated by this migration proves these columns NOT NULL. */
static void
note_proven_not_null(LintState *s, LintRel *r, List *columns)
{
	ListCell   *lc;

	foreach(lc, columns)
		(void) steward_key_entry(&s->proven_not_null, s->keep,
								 column_key(r, (const char *) lfirst(lc)), true);
}

static void
lint_validate_constraint(LintState *s, LintRel *r, const char *conname, LOCKMODE mode)
{
	StewardKeyEntry *e;

	if (!existing(r))
		return;
	if (strong_locked(s, r))
		emit(s, "validate-in-locking-tx", r, mode,
			 psprintf("constraint %s", quote_identifier(conname)));
	emit_data_dependent(s, r, mode,
						psprintf("the rows of %s that violate constraint %s",
								 r->name, quote_identifier(conname)));
	/* a CHECK (col IS NOT NULL) validated now lets SET NOT NULL skip its scan */
	e = steward_key_entry(&s->not_null_checks, s->keep, column_key(r, conname), false);
	if (e != NULL)
		note_proven_not_null(s, r, e->items);
	else
	{
		ListCell   *lc;

		foreach(lc, steward_check_not_null_columns(r->relid, conname))
		{
			char	   *col = get_attname(r->relid, (AttrNumber) lfirst_int(lc), true);

			if (col)
				note_proven_not_null(s, r, list_make1(col));
		}
	}
}

static void
lint_add_constraint(LintState *s, LintRel *r, Constraint *c, LOCKMODE mode)
{
	char	   *name = c->conname ? psprintf("constraint %s", quote_identifier(c->conname)) : NULL;

	switch (c->contype)
	{
		case CONSTR_CHECK:
			if (existing(r) && c->skip_validation && c->conname != NULL)
			{
				StewardKeyEntry *e = steward_key_entry(&s->not_null_checks, s->keep,
													   column_key(r, c->conname), true);
				MemoryContext old = MemoryContextSwitchTo(s->keep);

				e->items = raw_not_null_columns(c->raw_expr);	/* names in the parse tree */
				MemoryContextSwitchTo(old);
			}
			if (existing(r) && !c->skip_validation)
			{
				note_proven_not_null(s, r, raw_not_null_columns(c->raw_expr));
				emit(s, "check-missing-not-valid", r, mode, name);
				emit_data_dependent(s, r, mode,
									psprintf("SELECT count(*) FROM %s WHERE NOT (<the CHECK expression>)", r->name));
			}
			break;
		case CONSTR_FOREIGN:
			{
				LintRel		parent;
				List	   *cols = string_names(c->fk_attrs);
				bool		parent_known = lint_rel(s, c->pktable, &parent);

				note_fk(s, r, cols);
				if (parent_known)
					note_lock(s, &parent, ShareRowExclusiveLock);
				if (!existing(r) || c->skip_validation)
					break;
				emit(s, "fk-missing-not-valid", r, mode,
					 psprintf("references %s, which is locked too", parent_known ? parent.name : rv_name(c->pktable)));
				if (parent_known && existing(&parent))
					emit_data_dependent(s, r, mode,
										psprintf("SELECT * FROM migrate_check_fk(%s, %s, %s)",
												 quote_literal_cstr(r->name),
												 quote_literal_cstr(array_literal(cols)),
												 quote_literal_cstr(parent.name)));
				else
					emit_data_dependent(s, r, mode,
										psprintf("SELECT %s FROM %s WHERE (%s) IS NOT NULL: every such row needs a parent",
												 columns_text(cols), r->name, columns_text(cols)));
				break;
			}
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
			note_index(s, r, string_names(c->keys));
			if (c->indexname != NULL)
			{
				if (steward_key_member(s->deferred_indexes, c->indexname))
				{
					emit_refused(s, psprintf("index %s is built by a CONCURRENTLY statement, which runs only after this migration's transaction commits",
											 quote_identifier(c->indexname)));
					llast_node(LintFinding, s->findings)->instead =
						"ADD CONSTRAINT ... USING INDEX in a later migration, once the index is built";
				}
			}
			if (!existing(r) || c->indexname != NULL)
				break;
			emit(s, c->contype == CONSTR_PRIMARY ? "primary-key-builds-index"
				 : "unique-constraint-builds-index", r, mode, name);
			emit_data_dependent(s, r, mode,
								psprintf("SELECT %s, count(*) FROM %s GROUP BY %s HAVING count(*) > 1",
										 columns_text(string_names(c->keys)), r->name,
										 columns_text(string_names(c->keys))));
			break;
		case CONSTR_EXCLUSION:
			if (existing(r))
				emit(s, "exclusion-constraint", r, mode, name);
			break;
		default:
			break;
	}
}

/* Names of the constraints of r that the migration has dropped so far. */
static List *
dropped_constraints(LintState *s, LintRel *r)
{
	StewardKeyEntry *e = steward_key_entry(&s->dropped, s->keep, r->key, false);

	return e ? e->items : NIL;
}

static void
lint_alter_column_type(LintState *s, LintRel *r, AlterTableCmd *cmd, LOCKMODE mode)
{
	ColumnDef  *cd = (ColumnDef *) cmd->def;
	AttrNumber	attnum;
	char	   *col = psprintf("column %s", quote_identifier(cmd->name));
	LintFinding *f = NULL;

	hygiene_type(s, r->name, cmd->name, cd->typeName, false);
	if (!existing(r))
		return;
	attnum = get_attnum(r->relid, cmd->name);
	if (attnum == InvalidAttrNumber)
		return;					/* added by this migration */
	switch (steward_type_change_rewrites(r->relid, attnum, cd->typeName, cd->raw_default))
	{
		case 0:
			if (cd->collClause && steward_column_indexed(r->relid, attnum))
				emit(s, "change-column-type", r, mode,
					 psprintf("%s: the data stays, but a new collation rebuilds the indexes on the column", col));
			break;
		case 2:
			f = emit(s, "change-column-type", r, mode,
					 psprintf("%s: no implicit cast to the new type, so it needs USING", col));
			break;
		case 3:
			f = emit(s, "change-column-type", r, mode,
					 psprintf("%s: the new type does not exist yet, so a rewrite is assumed", col));
			break;
		default:
			f = emit(s, "change-column-type", r, mode, col);
			break;
	}
	if (f && cd->collClause == NULL)
		add_expand_hint(s, f, r, steward_expand_hint_type(r->relid, attnum, cd->typeName,
														  cd->raw_default != NULL));
	if (steward_column_in_check(r->relid, attnum, dropped_constraints(s, r)))
		emit(s, "type-change-with-checks", r, mode, col);
}

static void
lint_set_not_null(LintState *s, LintRel *r, const char *colname, LOCKMODE mode)
{
	HeapTuple	tup;
	bool		already;
	AttrNumber	attnum;

	if (!existing(r))
		return;
	tup = SearchSysCacheAttName(r->relid, colname);
	if (!HeapTupleIsValid(tup))
		return;
	already = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
	attnum = ((Form_pg_attribute) GETSTRUCT(tup))->attnum;
	ReleaseSysCache(tup);
	if (already || steward_column_proven_not_null(r->relid, attnum) ||
		steward_key_member(s->proven_not_null, column_key(r, colname)))
		return;
	add_expand_hint(s, emit(s, "set-not-null", r, mode, psprintf("column %s", quote_identifier(colname))),
					r, steward_expand_hint_require(r->relid, colname));
	emit_data_dependent(s, r, mode,
						psprintf("SELECT count(*) FROM %s WHERE %s IS NULL",
								 r->name, quote_identifier(colname)));
}

/* The kinds of constraint, as drop-constraint names them (pg_constraint.contype). */
static const struct
{
	char		contype;
	const char *words;			/* before the name */
	const char *more;			/* after it */
}			constraint_kinds[] =
{
	{CONSTRAINT_CHECK, "CHECK constraint", ""},
	{CONSTRAINT_PRIMARY, "primary key", ", and the index behind it"},
	{CONSTRAINT_UNIQUE, "unique constraint", ", and the index behind it"},
	{CONSTRAINT_EXCLUSION, "exclusion constraint", ", and the index behind it"},
	{CONSTRAINT_TRIGGER, "constraint trigger", ""},
};

/* DROP CONSTRAINT on an existing table: what kind of guarantee is lost. */
static void
lint_drop_constraint(LintState *s, LintRel *r, AlterTableCmd *cmd, LOCKMODE mode)
{
	Oid			confrelid;
	const char *name = quote_identifier(cmd->name);
	char		contype = steward_constraint_type(r->relid, cmd->name, &confrelid);
	char	   *detail = psprintf("constraint %s", name);

	/* IF EXISTS of a constraint that does not exist: nothing happens */
	if (contype == '\0' && cmd->missing_ok)
		return;
	if (contype == CONSTRAINT_FOREIGN)
		detail = psprintf("foreign key %s referencing %s: dropping it takes ACCESS EXCLUSIVE on %s too",
						  name, relation_display(confrelid), relation_display(confrelid));
	for (int i = 0; i < lengthof(constraint_kinds); i++)
		if (constraint_kinds[i].contype == contype)
			detail = psprintf("%s %s%s", constraint_kinds[i].words, name,
							  constraint_kinds[i].more);
	emit(s, "drop-constraint", r, mode, detail);
}

static void
lint_alter_table(LintState *s, AlterTableStmt *stmt)
{
	LintRel		r;
	LOCKMODE	overall;
	ListCell   *lc;

	if (!lint_rel(s, stmt->relation, &r))
		return;
	overall = AlterTableGetLockLevel(stmt->cmds);
	if (existing(&r) && !s->runtime)
	{
		if (steward_key_member(s->altered, r.key))
			emit(s, "combine-alters", &r, overall, NULL);
		else
			(void) steward_key_entry(&s->altered, s->keep, r.key, true);
	}

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		LOCKMODE	mode = AlterTableGetLockLevel(list_make1(cmd));

		CHECK_FOR_INTERRUPTS();
		switch (cmd->subtype)
		{
			case AT_AddColumn:
				lint_add_column(s, &r, (ColumnDef *) cmd->def, mode);
				break;
			case AT_AlterColumnType:
				lint_alter_column_type(s, &r, cmd, mode);
				break;
			case AT_SetNotNull:
				lint_set_not_null(s, &r, cmd->name, mode);
				break;
			case AT_DropNotNull:
				if (existing(&r))
					emit(s, "drop-not-null", &r, mode, psprintf("column %s", quote_identifier(cmd->name)));
				break;
			case AT_AddConstraint:
				lint_add_constraint(s, &r, (Constraint *) cmd->def, mode);
				break;
			case AT_ValidateConstraint:
				lint_validate_constraint(s, &r, cmd->name, mode);
				break;
			case AT_DropColumn:
				if (existing(&r))
					emit(s, "drop-column", &r, mode, psprintf("column %s", quote_identifier(cmd->name)));
				break;
			case AT_DropConstraint:
				{
					StewardKeyEntry *e = steward_key_entry(&s->dropped, s->keep, r.key, true);
					MemoryContext old = MemoryContextSwitchTo(s->keep);

					e->items = lappend(e->items, cmd->name);	/* in the parse tree */
					MemoryContextSwitchTo(old);
				}
				if (existing(&r))
					lint_drop_constraint(s, &r, cmd, mode);
				break;
			case AT_SetLogged:
			case AT_SetUnLogged:
				if (!existing(&r))
					break;
				/* already as asked, and not changed before: nothing to do (PG15) */
				if (!steward_key_member(s->persistence, r.key) &&
					get_rel_persistence(r.relid) ==
					(cmd->subtype == AT_SetLogged ? RELPERSISTENCE_PERMANENT : RELPERSISTENCE_UNLOGGED))
					break;
				(void) steward_key_entry(&s->persistence, s->keep, r.key, true);
				emit(s, "rewrite-table-option", &r, mode, NULL);
				break;
			case AT_SetTableSpace:
			case AT_SetAccessMethod:
				if (existing(&r))
					emit(s, "rewrite-table-option", &r, mode, NULL);
				break;
			case AT_EnableTrig:
			case AT_EnableAlwaysTrig:
			case AT_EnableReplicaTrig:
			case AT_DisableTrig:
			case AT_EnableTrigAll:
			case AT_DisableTrigAll:
			case AT_EnableTrigUser:
			case AT_DisableTrigUser:
				if (existing(&r))
					emit(s, "trigger-lock", &r, mode, NULL);
				break;
			case AT_EnableRowSecurity:
			case AT_DisableRowSecurity:
			case AT_ForceRowSecurity:
			case AT_NoForceRowSecurity:
				if (existing(&r))
					emit(s, "rls-policy-lock", &r, mode, NULL);
				break;
			case AT_AttachPartition:
				if (stmt->objtype == OBJECT_TABLE)
				{
					LintRel		part;

					if (lint_rel(s, ((PartitionCmd *) cmd->def)->name, &part) && existing(&part))
					{
						LintFinding *f = emit(s, "attach-partition-scan", &part, AccessExclusiveLock,
											  psprintf("attached to %s", r.name));

						if (steward_has_valid_check(part.relid))
						{
							f->severity = Min(f->severity, LINT_WARNING);
							f->message = keep_str(s, psprintf("%s; it has a validated CHECK, which skips the scan only if it implies the bound",
															  f->message));
						}
						note_lock(s, &part, AccessExclusiveLock);
					}
				}
				break;
			case AT_DetachPartition:
				if (((PartitionCmd *) cmd->def)->concurrent &&
					OidIsValid(r.relid) && OidIsValid(get_default_partition_oid(r.relid)))
					emit_refused(s, "DETACH PARTITION CONCURRENTLY of a table with a default partition");
				else if (((PartitionCmd *) cmd->def)->concurrent)
					emit_deferred(s, "DETACH PARTITION CONCURRENTLY");
				else if (existing(&r))
					emit(s, "detach-not-concurrent", &r, mode, NULL);
				break;
			default:
				break;
		}
	}
	note_lock(s, &r, overall);
}

/* ----------------------------------------------------------------
 * Other statements
 * ----------------------------------------------------------------
 */

static LintFinding *
emit_deferred(LintState *s, const char *what)
{
	LintFinding *f = emit(s, "concurrently-in-tx", NULL, ShareUpdateExclusiveLock,
						  psprintf("%s: pg_steward runs it in a background job after the transactional part commits", what));

	f->severity = LINT_INFO;
	f->instead = "nothing to change; job_status() shows the job";
	return f;
}

static void
emit_refused(LintState *s, const char *what)
{
	emit(s, "concurrently-in-tx", NULL, NoLock, what);
}

static void
lint_index(LintState *s, IndexStmt *stmt)
{
	LintRel		r;
	List	   *cols = NIL;
	bool		all_columns = true;
	ListCell   *lc;

	foreach(lc, stmt->indexParams)
	{
		IndexElem  *e = (IndexElem *) lfirst(lc);

		/* an expression keeps its place, so later columns are not leading */
		cols = lappend(cols, e->name ? e->name : "");
		all_columns &= e->name != NULL;
	}
	if (!lint_rel(s, stmt->relation, &r))
		return;
	if (stmt->whereClause == NULL)
		note_index(s, &r, cols);
	if (stmt->concurrent)
	{
		if (OidIsValid(r.relid) && get_rel_relkind(r.relid) == RELKIND_PARTITIONED_TABLE)
		{
			emit_refused(s, "CREATE INDEX CONCURRENTLY on a partitioned table");
			llast_node(LintFinding, s->findings)->instead =
				"CREATE INDEX ON ONLY the parent, CREATE INDEX CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION";
			return;
		}
		emit_deferred(s, "CREATE INDEX CONCURRENTLY");
		if (stmt->idxname)
			(void) steward_key_entry(&s->deferred_indexes, s->keep, stmt->idxname, true);
	}
	if (!existing(&r))
		return;
	if (!stmt->concurrent)
	{
		LintFinding *f = emit(s, "index-not-concurrent", &r, ShareLock, NULL);

		if (get_rel_relkind(r.relid) == RELKIND_PARTITIONED_TABLE)
			f->instead = "CREATE INDEX ON ONLY the parent (instant), CREATE INDEX CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION";
	}
	if (stmt->unique && all_columns)
		emit_data_dependent(s, &r, stmt->concurrent ? ShareUpdateExclusiveLock : ShareLock,
							psprintf("SELECT %s, count(*) FROM %s GROUP BY %s HAVING count(*) > 1",
									 columns_text(cols), r.name, columns_text(cols)));
	if (!stmt->concurrent)
		note_lock(s, &r, ShareLock);
}

static void
lint_drop(LintState *s, DropStmt *stmt)
{
	ListCell   *lc;

	switch (stmt->removeType)
	{
		case OBJECT_SCHEMA:
			foreach(lc, stmt->objects)
				emit(s, "drop-schema", NULL, AccessExclusiveLock,
					 psprintf("schema %s%s", quote_identifier(strVal(lfirst(lc))),
							  stmt->behavior == DROP_CASCADE ? " with CASCADE" : ""));
			return;
		case OBJECT_INDEX:
			if (stmt->concurrent)
			{
				emit_deferred(s, "DROP INDEX CONCURRENTLY");
				return;
			}
			/* FALLTHROUGH */
		case OBJECT_TABLE:
			foreach(lc, stmt->objects)
			{
				LintRel		r;

				if (!lint_rel(s, makeRangeVarFromNameList((List *) lfirst(lc)), &r) || !existing(&r) ||
					!first_listed(s, &r))
					continue;
				if (stmt->removeType == OBJECT_TABLE)
					emit(s, "drop-table", &r, AccessExclusiveLock,
						 stmt->behavior == DROP_CASCADE ? "with CASCADE, dependent views and foreign keys go too" : NULL);
				else
				{
					Oid			table = IndexGetRelation(r.relid, true);
					LintRel		t = r;

					if (OidIsValid(table))
					{
						t.relid = table;
						t.name = relation_display(table);
						t.key = psprintf("oid:%u", table);
						t.size = -1;
					}
					emit(s, "drop-index-not-concurrent", &t, AccessExclusiveLock,
						 psprintf("index %s", r.name));
					r = t;
				}
				note_lock(s, &r, AccessExclusiveLock);
			}
			return;
		case OBJECT_TRIGGER:
		case OBJECT_POLICY:
			foreach(lc, stmt->objects)
			{
				List	   *names = (List *) lfirst(lc);
				LintRel		r;

				if (list_length(names) < 2 ||
					!lint_rel(s, makeRangeVarFromNameList(list_truncate(list_copy(names), list_length(names) - 1)), &r) ||
					!existing(&r))
					continue;
				emit(s, stmt->removeType == OBJECT_TRIGGER ? "drop-trigger" : "rls-policy-lock",
					 &r, AccessExclusiveLock, NULL);
				note_lock(s, &r, AccessExclusiveLock);
			}
			return;
		default:
			return;
	}
}

static void
lint_rename(LintState *s, RenameStmt *stmt)
{
	LintRel		r;

	switch (stmt->renameType)
	{
		case OBJECT_TABLE:
			if (!lint_rel(s, stmt->relation, &r))
				return;
			{
				/* the relation keeps its schema under its new name */
				char	   *schema = OidIsValid(r.relid)
				? get_namespace_name(get_rel_namespace(r.relid))
				: creation_schema(s, stmt->relation);

				note_name(s, schema, stmt->newname, r.is_new ? InvalidOid : r.relid);
			}
			if (r.is_new)
				return;
			emit(s, "rename-table", &r, AccessExclusiveLock,
				 psprintf("to %s", quote_identifier(stmt->newname)));
			note_lock(s, &r, AccessExclusiveLock);
			return;
		case OBJECT_COLUMN:
			if (!lint_rel(s, stmt->relation, &r) || !existing(&r))
				return;
			{
				LintFinding *f = emit(s, "rename-column", &r, AccessExclusiveLock,
									  psprintf("column %s to %s", quote_identifier(stmt->subname),
											   quote_identifier(stmt->newname)));

				if (OidIsValid(r.relid) && get_attnum(r.relid, stmt->subname) != InvalidAttrNumber)
					add_expand_hint(s, f, &r, steward_expand_hint_rename(r.relid, stmt->subname,
																		 stmt->newname));
			}
			note_lock(s, &r, AccessExclusiveLock);
			return;
		case OBJECT_SCHEMA:
			emit(s, "rename-schema", NULL, NoLock,
				 psprintf("schema %s to %s", quote_identifier(stmt->subname),
						  quote_identifier(stmt->newname)));
			return;
		default:
			return;
	}
}

static void
lint_vacuum(LintState *s, VacuumStmt *stmt)
{
	bool		full = false;
	ListCell   *lc;

	if (!stmt->is_vacuumcmd)
		return;
	foreach(lc, stmt->options)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, "full") == 0)
			full = defGetBoolean(opt);
	}
	emit_deferred(s, full ? "VACUUM FULL" : "VACUUM");
	if (!full)
		return;
	if (stmt->rels == NIL)
		emit(s, "full-rewrite-maintenance", NULL, AccessExclusiveLock, "every table of the database")->severity = LINT_ERROR;
	foreach(lc, stmt->rels)
	{
		LintRel		r;

		if (lint_rel(s, ((VacuumRelation *) lfirst(lc))->relation, &r) && existing(&r) &&
			first_listed(s, &r))
			emit(s, "full-rewrite-maintenance", &r, AccessExclusiveLock, "VACUUM FULL");
	}
}

static void
lint_reindex(LintState *s, ReindexStmt *stmt)
{
	ListCell   *lc;
	LintRel		r;

	foreach(lc, stmt->params)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
		{
			emit_deferred(s, "REINDEX CONCURRENTLY");
			return;
		}
	}
	if (stmt->kind != REINDEX_OBJECT_TABLE && stmt->kind != REINDEX_OBJECT_INDEX)
	{
		emit_refused(s, "REINDEX SCHEMA, SYSTEM and DATABASE");
		return;
	}
	if (!lint_rel(s, stmt->relation, &r) || !existing(&r))
		return;
	if (stmt->kind == REINDEX_OBJECT_INDEX)
	{
		Oid			table = IndexGetRelation(r.relid, true);

		emit(s, "reindex-not-concurrent", &r, AccessExclusiveLock,
			 OidIsValid(table) ? psprintf("SHARE on %s", relation_display(table)) : NULL);
	}
	else
		emit(s, "reindex-not-concurrent", &r, ShareLock, NULL);
	note_lock(s, &r, stmt->kind == REINDEX_OBJECT_INDEX ? AccessExclusiveLock : ShareLock);
}

/* Is the constant a timeout of zero, that is, none? */
static bool
zero_timeout(A_Const *con)
{
	int			ms;

	if (con->isnull)
		return false;
	if (IsA(&con->val, Integer))
		return intVal(&con->val) == 0;
	if (IsA(&con->val, String) || IsA(&con->val, Float))
	{
		const char *v = IsA(&con->val, String) ? strVal(&con->val) : castNode(Float, &con->val)->fval;

		return parse_int(v, &ms, GUC_UNIT_MS, NULL) && ms == 0;
	}
	return false;
}

/* Does SET lock_timeout turn the timeout off for the migration? */
static bool
disables_lock_timeout(VariableSetStmt *stmt)
{
	A_Const    *con;

	if (stmt->name == NULL || pg_strcasecmp(stmt->name, "lock_timeout") != 0)
		return stmt->kind == VAR_RESET_ALL;
	if (stmt->kind == VAR_SET_DEFAULT || stmt->kind == VAR_RESET)
		return true;
	if (stmt->kind != VAR_SET_VALUE || list_length(stmt->args) != 1)
		return false;
	con = (A_Const *) linitial(stmt->args);
	return IsA(con, A_Const) && zero_timeout(con);
}

/*
 * SET lock_timeout = 0 and kin are lock-timeout-disabled; any SET of
 * statement_timeout is timeout-setting: the migration's own limit holds
 * whatever it says.  where: NULL for a statement, else where the SET is.
 */
static void
lint_timeout_set(LintState *s, VariableSetStmt *stmt, const char *where)
{
	if (disables_lock_timeout(stmt))
		emit(s, "lock-timeout-disabled", NULL, NoLock, where);
	else if (stmt->name && pg_strcasecmp(stmt->name, "statement_timeout") == 0)
		emit(s, "timeout-setting", NULL, NoLock,
			 psprintf("%s statement_timeout%s%s", stmt->kind == VAR_RESET ? "RESET" : "SET",
					  where ? " " : "", where ? where : ""));
}

static const char *const timeout_words[] = {"lock_timeout", "statement_timeout", "query_canceled"};

/*
 * A body pg_steward cannot lint (of a DO block or a function) that names a
 * timeout setting, or the error its cancel raises.
 */
static void
lint_timeout_body(LintState *s, const char *body, const char *what)
{
	char	   *lower = asc_tolower(body, strlen(body));

	for (int i = 0; i < lengthof(timeout_words); i++)
		if (strstr(lower, timeout_words[i]) != NULL)
		{
			emit(s, "timeout-setting", NULL, NoLock,
				 psprintf("%s names %s", what, timeout_words[i]));
			return;
		}
}

/* set_config() of a timeout setting, anywhere in a query. */
static bool
set_config_walker(Node *node, LintState *s)
{
	FuncCall   *fc;
	A_Const    *name;
	A_Const    *value;

	if (node == NULL)
		return false;
	CHECK_FOR_INTERRUPTS();
	if (!IsA(node, FuncCall))
		return raw_expression_tree_walker(node, set_config_walker, (void *) s);
	fc = (FuncCall *) node;
	if (pg_strcasecmp(strVal(llast(fc->funcname)), "set_config") != 0 ||
		list_length(fc->args) != 3)
		return raw_expression_tree_walker(node, set_config_walker, (void *) s);

	name = (A_Const *) linitial(fc->args);
	value = (A_Const *) lsecond(fc->args);
	if (!IsA(name, A_Const) || name->isnull || !IsA(&name->val, String))
		emit(s, "timeout-setting", NULL, NoLock,
			 "set_config() of a setting named only when it runs");
	else if (pg_strcasecmp(strVal(&name->val), "lock_timeout") == 0 &&
			 IsA(value, A_Const) && zero_timeout(value))
		emit(s, "lock-timeout-disabled", NULL, NoLock, "set_config()");
	else if (pg_strcasecmp(strVal(&name->val), "lock_timeout") == 0 && !IsA(value, A_Const))
		emit(s, "timeout-setting", NULL, NoLock,
			 "set_config() of lock_timeout to a value known only when it runs");
	else if (pg_strcasecmp(strVal(&name->val), "statement_timeout") == 0)
		emit(s, "timeout-setting", NULL, NoLock, "set_config() of statement_timeout");
	return raw_expression_tree_walker(node, set_config_walker, (void *) s);
}

/* A function's SET clauses and body. */
static void
lint_function_options(LintState *s, List *options, const char *what)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, "set") == 0 && IsA(opt->arg, VariableSetStmt))
			lint_timeout_set(s, (VariableSetStmt *) opt->arg,
							 psprintf("in the SET clause of %s", what));
		else if (strcmp(opt->defname, "as") == 0 && IsA(opt->arg, List))
		{
			ListCell   *bc;

			foreach(bc, (List *) opt->arg)
				if (IsA(lfirst(bc), String))
					lint_timeout_body(s, strVal(lfirst(bc)), psprintf("the body of %s", what));
		}
	}
}

static void
lint_rels(LintState *s, List *rvs, const char *rule, LOCKMODE mode, const char *detail)
{
	ListCell   *lc;

	foreach(lc, rvs)
	{
		LintRel		r;

		if (lint_rel(s, (RangeVar *) lfirst(lc), &r) && existing(&r) && first_listed(s, &r))
		{
			emit(s, rule, &r, mode, detail);
			note_lock(s, &r, mode);
		}
	}
}

/*
 * ALTER DOMAIN ... ADD CONSTRAINT (without NOT VALID), VALIDATE
 * CONSTRAINT and SET NOT NULL check every column of the domain in every
 * table under SHARE: one finding a table.
 */
static void
lint_alter_domain(LintState *s, AlterDomainStmt *stmt)
{
	const char *what;
	bool		notnull;
	List	   *columns;
	ListCell   *lc;

	switch (stmt->subtype)
	{
		case 'C':
			if (!IsA(stmt->def, Constraint) ||
				((Constraint *) stmt->def)->contype != CONSTR_CHECK ||
				((Constraint *) stmt->def)->skip_validation)
				return;
			what = "ADD CONSTRAINT";
			break;
		case 'V':
			what = "VALIDATE CONSTRAINT";
			break;
		case 'O':
			what = "SET NOT NULL";
			break;
		default:
			return;
	}
	columns = steward_domain_columns(stmt->typeName, &notnull);
	if (stmt->subtype == 'O' && notnull)
		return;
	foreach(lc, columns)
	{
		StewardColumn *c = (StewardColumn *) lfirst(lc);
		LintRel		r;
		StringInfoData cols;
		ListCell   *lc2;
		int			ncols = 0;

		memset(&r, 0, sizeof(LintRel));
		r.size = -1;
		rel_from_oid(s, c->relid, &r);
		if (!existing(&r) || !first_listed(s, &r))
			continue;
		initStringInfo(&cols);
		for_each_from(lc2, columns, foreach_current_index(lc))
		{
			StewardColumn *c2 = (StewardColumn *) lfirst(lc2);

			if (c2->relid == c->relid)
				appendStringInfo(&cols, "%s%s", ncols++ > 0 ? ", " : "",
								 quote_identifier(get_attname(c2->relid, c2->attnum, false)));
		}
		emit(s, "alter-domain-scan", &r, ShareLock,
			 psprintf("%s of domain %s checks %s %s",
					  what, NameListToQuotedString(stmt->typeName),
					  ncols > 1 ? "columns" : "column", cols.data));
		note_lock(s, &r, ShareLock);
	}
}

static void
lint_statement(LintState *s, Node *stmt)
{
	LintRel		r;

	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			lint_create_table(s, (CreateStmt *) stmt);
			break;
		case T_CreateTableAsStmt:
			note_created(s, ((CreateTableAsStmt *) stmt)->into->rel);
			break;
		case T_ViewStmt:
			note_created(s, ((ViewStmt *) stmt)->view);
			break;
		case T_AlterTableStmt:
			lint_alter_table(s, (AlterTableStmt *) stmt);
			break;
		case T_IndexStmt:
			lint_index(s, (IndexStmt *) stmt);
			break;
		case T_DropStmt:
			lint_drop(s, (DropStmt *) stmt);
			break;
		case T_RenameStmt:
			lint_rename(s, (RenameStmt *) stmt);
			break;
		case T_TruncateStmt:
			{
				ListCell   *lc;

				/* emptying an empty table loses nothing */
				foreach(lc, ((TruncateStmt *) stmt)->relations)
				{
					if (!lint_rel(s, (RangeVar *) lfirst(lc), &r) || !existing(&r) ||
						!first_listed(s, &r))
						continue;
					if (rel_size(&r) > 0)
						emit(s, "truncate", &r, AccessExclusiveLock,
							 ((TruncateStmt *) stmt)->behavior == DROP_CASCADE
							 ? "with CASCADE the tables that reference it are emptied too" : NULL);
					note_lock(s, &r, AccessExclusiveLock);
				}
				break;
			}
		case T_CreateTrigStmt:
			if (lint_rel(s, ((CreateTrigStmt *) stmt)->relation, &r) && existing(&r))
			{
				emit(s, "trigger-lock", &r, ShareRowExclusiveLock, NULL);
				note_lock(s, &r, ShareRowExclusiveLock);
			}
			break;
		case T_CreatePolicyStmt:
			lint_rels(s, list_make1(((CreatePolicyStmt *) stmt)->table), "rls-policy-lock",
					  AccessExclusiveLock, NULL);
			break;
		case T_AlterPolicyStmt:
			lint_rels(s, list_make1(((AlterPolicyStmt *) stmt)->table), "rls-policy-lock",
					  AccessExclusiveLock, NULL);
			break;
		case T_LockStmt:
			{
				LockStmt   *ls = (LockStmt *) stmt;
				int			before = list_length(s->findings);
				ListCell   *lc;

				lint_rels(s, ls->relations, "lock-table", ls->mode,
						  psprintf("in %s mode", GetLockmodeName(DEFAULT_LOCKMETHOD, ls->mode)));
				for_each_from(lc, s->findings, before)
					if (ls->mode < ShareLock)
					((LintFinding *) lfirst(lc))->severity = LINT_INFO;
				break;
			}
		case T_RefreshMatViewStmt:
			{
				RefreshMatViewStmt *rm = (RefreshMatViewStmt *) stmt;

				if (!rm->concurrent)
					lint_rels(s, list_make1(rm->relation), "refresh-matview-not-concurrent",
							  AccessExclusiveLock, NULL);
				break;
			}
		case T_ClusterStmt:
			if (((ClusterStmt *) stmt)->relation == NULL)
				emit_refused(s, "CLUSTER without a table");
			else
				lint_rels(s, list_make1(((ClusterStmt *) stmt)->relation),
						  "full-rewrite-maintenance", AccessExclusiveLock, "CLUSTER");
			break;
		case T_VacuumStmt:
			lint_vacuum(s, (VacuumStmt *) stmt);
			break;
		case T_ReindexStmt:
			lint_reindex(s, (ReindexStmt *) stmt);
			break;
		case T_UpdateStmt:
		case T_DeleteStmt:
			{
				RangeVar   *rv = IsA(stmt, UpdateStmt) ? ((UpdateStmt *) stmt)->relation
				: ((DeleteStmt *) stmt)->relation;

				if (s->has_ddl && lint_rel(s, rv, &r) && existing(&r))
					emit(s, "backfill-in-ddl-tx", &r, RowExclusiveLock,
						 IsA(stmt, UpdateStmt) ? "UPDATE" : "DELETE");
				(void) set_config_walker(stmt, s);
				break;
			}
		case T_VariableSetStmt:
			lint_timeout_set(s, (VariableSetStmt *) stmt, NULL);
			break;
		case T_CreateFunctionStmt:
			lint_function_options(s, ((CreateFunctionStmt *) stmt)->options,
								  ((CreateFunctionStmt *) stmt)->is_procedure ? "a procedure" : "a function");
			break;
		case T_AlterFunctionStmt:
			lint_function_options(s, ((AlterFunctionStmt *) stmt)->actions, "a function");
			break;
		case T_SelectStmt:
		case T_InsertStmt:
			(void) set_config_walker(stmt, s);
			break;
		case T_TransactionStmt:
			/* a migration's own are classified by steward_lint_sql */
			if (s->runtime)
				emit(s, "transaction-control", NULL, NoLock, NULL);
			break;
		case T_CopyStmt:
			if (((CopyStmt *) stmt)->filename == NULL)
				emit(s, "copy-from-client", NULL, NoLock, NULL);
			break;
		case T_DoStmt:
			emit(s, "unseen-dynamic-sql", NULL, NoLock, "DO block");
			{
				ListCell   *lc;

				foreach(lc, ((DoStmt *) stmt)->args)
				{
					DefElem    *opt = (DefElem *) lfirst(lc);

					if (strcmp(opt->defname, "as") == 0 && IsA(opt->arg, String))
						lint_timeout_body(s, strVal(opt->arg), "the DO block");
				}
			}
			break;
		case T_CallStmt:
			emit(s, "unseen-dynamic-sql", NULL, NoLock, "CALL");
			(void) set_config_walker((Node *) ((CallStmt *) stmt)->funccall, s);
			break;
		case T_AlterDomainStmt:
			lint_alter_domain(s, (AlterDomainStmt *) stmt);
			break;
		case T_CreateEnumStmt:
			{
				List	   *names = ((CreateEnumStmt *) stmt)->typeName;
				const char *schema = list_length(names) > 1
				? strVal(list_nth(names, list_length(names) - 2))
				: (path_schemas(s) ? (const char *) linitial(path_schemas(s)) : "public");

				(void) steward_key_entry(&s->new_enums, s->keep, type_key(schema, names), true);
				if (!s->runtime)
					emit(s, "enum-type", NULL, NoLock, NULL);
				break;
			}
		case T_AlterEnumStmt:
			if (((AlterEnumStmt *) stmt)->oldVal != NULL)
				emit(s, "rename-enum-value", NULL, NoLock,
					 psprintf("%s to %s", quote_literal_cstr(((AlterEnumStmt *) stmt)->oldVal),
							  quote_literal_cstr(((AlterEnumStmt *) stmt)->newVal)));
			break;
		case T_DropdbStmt:
			emit(s, "drop-database", NULL, NoLock, NULL);
			emit_refused(s, "DROP DATABASE");
			break;
		case T_CreatedbStmt:
			emit_refused(s, "CREATE DATABASE");
			break;
		case T_AlterSystemStmt:
			emit_refused(s, "ALTER SYSTEM");
			break;
		case T_CreateTableSpaceStmt:
			emit_refused(s, "CREATE TABLESPACE");
			break;
		case T_DropTableSpaceStmt:
			emit_refused(s, "DROP TABLESPACE");
			break;
		default:
			break;
	}
}

/* Statements that change no schema object. */
static bool
is_data_or_setting(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_SelectStmt:
		case T_InsertStmt:
		case T_UpdateStmt:
		case T_DeleteStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_ExplainStmt:
		case T_NotifyStmt:
		case T_DoStmt:
		case T_CallStmt:
			return true;
		default:
			return false;
	}
}

/* ----------------------------------------------------------------
 * Whole migrations
 * ----------------------------------------------------------------
 */

/* Does an index this migration builds lead with the foreign key's columns? */
static bool
index_created_for(LintState *s, LintFk *fk)
{
	return steward_key_member(s->indexes,
							  leading_key(fk->rel.key,
										  column_set(fk->columns, list_length(fk->columns))));
}

static void
check_fk_indexes(LintState *s)
{
	ListCell   *lc;

	foreach(lc, s->fks)
	{
		LintFk	   *fk = (LintFk *) lfirst(lc);
		List	   *attnums = NIL;
		ListCell   *cc;
		bool		in_catalog = OidIsValid(fk->rel.relid);

		CHECK_FOR_INTERRUPTS();
		if (index_created_for(s, fk))
			continue;
		foreach(cc, fk->columns)
		{
			AttrNumber	a = in_catalog ? get_attnum(fk->rel.relid, lfirst(cc)) : InvalidAttrNumber;

			in_catalog &= a != InvalidAttrNumber;
			attnums = lappend_int(attnums, a);
		}
		if (in_catalog && steward_index_covers(fk->rel.relid, attnums))
			continue;
		s->current = fk->statement;
		s->current_text = fk->text;
		emit(s, "fk-without-index", NULL, NoLock,
			 psprintf("%s (%s)", fk->rel.name, columns_text(fk->columns)))->relation = pstrdup(fk->rel.name);
		llast_node(LintFinding, s->findings)->instead =
			psprintf("CREATE INDEX%s ON %s (%s)", existing(&fk->rel) ? " CONCURRENTLY" : "",
					 fk->rel.name, columns_text(fk->columns));
	}
}

static int
finding_cmp(const ListCell *a, const ListCell *b)
{
	const LintFinding *fa = lfirst(a);
	const LintFinding *fb = lfirst(b);

	if (fa->statement != fb->statement)
		return fa->statement - fb->statement;
	return fa->seq - fb->seq;
}

/*
 * Apply the silences of each statement; report those that silence nothing.
 * The findings are sorted by statement, and each statement's findings are
 * grouped by rule, so a silence costs the same however many findings and
 * silences there are.  A silence silences every finding of its rule on
 * its statement; another silence of the same rule then silences nothing.
 */
static void
apply_silences(LintState *s, List *statements)
{
	int			nrules = steward_lint_rule_count();
	List	  **by_rule = palloc0(sizeof(List *) * nrules);
	MemoryContext stmtcxt = AllocSetContextCreate(CurrentMemoryContext, "lint silences",
												  ALLOCSET_DEFAULT_SIZES);
	int			nfound;
	int			next = 0;
	int			n = 0;
	ListCell   *lc;

	list_sort(s->findings, finding_cmp);
	nfound = list_length(s->findings);
	foreach(lc, statements)
	{
		const char *text = (const char *) lfirst(lc);
		List	   *silences;
		ListCell   *sc;

		CHECK_FOR_INTERRUPTS();
		n++;
		MemoryContextReset(stmtcxt);
		MemoryContextSwitchTo(stmtcxt);
		memset(by_rule, 0, sizeof(List *) * nrules);
		silences = steward_lint_silences(text);
		for (; next < nfound; next++)
		{
			LintFinding *f = (LintFinding *) list_nth(s->findings, next);

			if (f->statement > n)
				break;
			if (f->statement == n)
				by_rule[steward_lint_rule_index(f->rule)] =
					lappend(by_rule[steward_lint_rule_index(f->rule)], f);
		}
		foreach(sc, silences)
		{
			LintSilence *sil = (LintSilence *) lfirst(sc);
			const LintRule *rule = steward_lint_rule(sil->rule);
			char	   *reason;
			ListCell   *fc;

			CHECK_FOR_INTERRUPTS();
			if (sil->reason == NULL || rule == NULL ||
				by_rule[steward_lint_rule_index(rule)] == NIL)
				continue;
			reason = keep_str(s, sil->reason);
			foreach(fc, by_rule[steward_lint_rule_index(rule)])
				((LintFinding *) lfirst(fc))->silenced = reason;
			sil->used = true;
			by_rule[steward_lint_rule_index(rule)] = NIL;
		}
		foreach(sc, silences)
		{
			LintSilence *sil = (LintSilence *) lfirst(sc);
			char	   *rule;

			if (sil->used)
				continue;
			s->current = n;
			s->current_text = text;
			rule = steward_shown_text(sil->rule, -1, LINT_SHOWN_RULE_LEN);
			if (sil->reason == NULL)
				emit(s, "unused-silence", NULL, NoLock,
					 psprintf("no reason given for %s", rule));
			else if (steward_lint_rule(sil->rule) == NULL)
				emit(s, "unused-silence", NULL, NoLock,
					 psprintf("there is no rule %s", rule));
			else
				emit(s, "unused-silence", NULL, NoLock,
					 psprintf("%s does not fire on this statement", rule));
		}
		MemoryContextSwitchTo(s->keep);
	}
	MemoryContextDelete(stmtcxt);
}

/*
 * The acceptances given with the migration (steward_lint_parse_allow):
 * each silences the findings of its rule on every statement that no
 * comment silenced, as a silence comment does on its own statement.  One
 * that silences nothing is reported on statement 1.
 */
static void
apply_allow(LintState *s, List *allow, const char *first_text)
{
	ListCell   *ac;

	foreach(ac, allow)
	{
		LintSilence *sil = (LintSilence *) lfirst(ac);
		const LintRule *rule = steward_lint_rule(sil->rule);
		char	   *reason = keep_str(s, sil->reason);
		ListCell   *fc;

		CHECK_FOR_INTERRUPTS();
		foreach(fc, s->findings)
		{
			LintFinding *f = (LintFinding *) lfirst(fc);

			if (f->rule == rule && f->silenced == NULL)
			{
				f->silenced = reason;
				sil->used = true;
			}
		}
		if (!sil->used)
		{
			s->current = 1;
			s->current_text = first_text;
			emit(s, "unused-silence", NULL, NoLock,
				 psprintf("allow %s, given with the migration, finds nothing to silence",
						  sil->rule));
		}
	}
}

/*
 * Lint a migration's SQL.  Syntax errors are raised as the parser raises
 * them; everything else becomes findings, ordered by statement.  allow
 * holds the acceptances given with the migration (LintSilence, from
 * steward_lint_parse_allow), NIL for none.
 */
List *
steward_lint_sql(const char *sql, List *allow)
{
	LintState	s = {0};
	List	   *raw;
	List	   *texts = NIL;
	MemoryContext stmtcxt;
	StewardTxClass *txclass;
	const char **txwhy;
	int		   *lines;
	int			line = 1;
	int			counted = 0;	/* bytes of sql whose newlines are in line */
	ListCell   *lc;

	s.keep = CurrentMemoryContext;
	raw = steward_parse_sql_arg(sql, "SQL given to migrate_lint");

	if (raw == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sql contains no SQL statement")));
	txclass = steward_classify_transaction_control(raw, &txwhy);
	lines = palloc(sizeof(int) * list_length(raw));

	foreach(lc, raw)
		if (!is_data_or_setting(lfirst_node(RawStmt, lc)->stmt))
			s.has_ddl = true;

	stmtcxt = AllocSetContextCreate(s.keep, "lint statement", ALLOCSET_DEFAULT_SIZES);

	foreach(lc, raw)
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		ListCell   *ic;

		CHECK_FOR_INTERRUPTS();
		s.current++;
		s.current_text = steward_statement_text(sql, rs->stmt_location, rs->stmt_len);
		{
			int			start = steward_statement_first_token(sql, rs->stmt_location,
															  rs->stmt_len);

			for (; counted < start; counted++)
				if (sql[counted] == '\n')
					line++;
			lines[s.current - 1] = line;
		}
		/* comments after the last statement's ';' belong to it */
		texts = lappend(texts, lnext(raw, lc) ? (char *) s.current_text
						: psprintf("%s%s", s.current_text,
								   rs->stmt_len > 0 ? sql + rs->stmt_location + rs->stmt_len : ""));

		if (s.ael_statement > 0 && s.after_ael == NULL &&
			!IsA(rs->stmt, VariableSetStmt))
		{
			s.after_ael = emit(&s, "work-after-ael", NULL, AccessExclusiveLock,
							   psprintf("taken at statement %d on %s", s.ael_statement, s.ael_relation));
			s.after_ael->relation = pstrdup(s.ael_relation);
		}

		if (txclass[s.current - 1] == STEWARD_TX_WRAPPER)
			emit(&s, "transaction-wrapper", NULL, NoLock, NULL);
		else if (txclass[s.current - 1] == STEWARD_TX_REFUSED)
			emit(&s, "transaction-control", NULL, NoLock, txwhy[s.current - 1]);

		/* what only this statement needs goes with it (see keep) */
		MemoryContextSwitchTo(stmtcxt);
		lint_statement(&s, rs->stmt);
		foreach(ic, steward_long_identifiers(s.current_text))
			emit(&s, "identifier-too-long", NULL, NoLock,
				 psprintf("\"%s\" is %d bytes",
						  steward_shown_text(lfirst(ic), -1, LINT_SHOWN_IDENT_LEN),
						  (int) strlen(lfirst(ic))));
		MemoryContextSwitchTo(s.keep);
		MemoryContextReset(stmtcxt);
	}
	MemoryContextDelete(stmtcxt);

	check_fk_indexes(&s);

	/* a strong lock held across later scans, rewrites or builds */
	if (s.after_ael)
	{
		foreach(lc, s.findings)
		{
			LintFinding *f = (LintFinding *) lfirst(lc);

			if (f->statement > s.ael_statement && strcmp(f->rule->effect, "none") != 0 &&
				f->severity > LINT_INFO)
				s.after_ael->severity = LINT_WARNING;
		}
	}

	apply_silences(&s, texts);
	apply_allow(&s, allow, (const char *) linitial(texts));
	foreach(lc, s.findings)
	{
		LintFinding *f = (LintFinding *) lfirst(lc);

		f->line = lines[f->statement - 1];
	}
	list_sort(s.findings, finding_cmp);
	return s.findings;
}

/*
 * Lint one statement issued while a migration runs (the guard, for DDL
 * from DO blocks and functions): judged by the catalog as it is now.
 */
List *
steward_lint_runtime(Node *stmt, const char *text, int statement)
{
	LintState	s = {0};

	s.keep = CurrentMemoryContext;
	s.runtime = true;
	s.has_ddl = true;
	s.current = statement;
	s.current_text = text;
	lint_statement(&s, stmt);
	return s.findings;
}

int
steward_lint_count(List *findings, LintSeverity severity, bool unsilenced_only)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, findings)
	{
		LintFinding *f = (LintFinding *) lfirst(lc);

		if (f->severity == severity && (!unsilenced_only || f->silenced == NULL))
			n++;
	}
	return n;
}

static void
json_key_text(StringInfo buf, const char *key, const char *val, bool comma)
{
	if (comma)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (val)
		escape_json(buf, val);
	else
		appendStringInfoString(buf, "null");
}

static void
json_text_array(StringInfo buf, const char *key, List *items)
{
	ListCell   *lc;

	appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": [");
	foreach(lc, items)
	{
		if (lc != list_head(items))
			appendStringInfoString(buf, ", ");
		escape_json(buf, (char *) lfirst(lc));
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Which findings the recorded review keeps when there are more than
 * REVIEW_RECORDED_FINDINGS: unsilenced errors first, then silenced findings
 * (what the DBA accepted), then unsilenced warnings, then infos.
 */
static int
recorded_rank(const LintFinding *f)
{
	if (f->silenced)
		return 1;
	return f->severity == LINT_ERROR ? 0 : f->severity == LINT_WARNING ? 2 : 3;
}

/*
 * The review recorded with a migration: counts, the decision, the
 * findings (without their long texts, at most REVIEW_RECORDED_FINDINGS of
 * them, in statement order, with the number left out as
 * "findings_not_recorded") and the checks it ran.  Its size is bounded by
 * the cap and the size of the checks, whatever the migration.
 */
char *
steward_lint_review_json(List *findings, bool allow_unsafe, List *allow,
						 List *pre_checks, List *post_checks)
{
	StringInfoData buf;
	int			errors = steward_lint_count(findings, LINT_ERROR, true);
	int			per_rank[4] = {0};
	int			cut_rank = 4;	/* ranks below it are recorded in full */
	int			cut_left = 0;	/* how many of rank cut_rank are recorded */
	int			room = REVIEW_RECORDED_FINDINGS;
	int			recorded = 0;
	ListCell   *lc;

	foreach(lc, findings)
		per_rank[recorded_rank((LintFinding *) lfirst(lc))]++;
	for (int r = 0; r < 4; r++)
	{
		if (per_rank[r] > room)
		{
			cut_rank = r;
			cut_left = room;
			break;
		}
		room -= per_rank[r];
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"errors\": %d, \"warnings\": %d, \"infos\": %d, \"silenced\": %d, \"allow_unsafe\": %s",
					 errors,
					 steward_lint_count(findings, LINT_WARNING, true),
					 steward_lint_count(findings, LINT_INFO, true),
					 list_length(findings) - errors
					 - steward_lint_count(findings, LINT_WARNING, true)
					 - steward_lint_count(findings, LINT_INFO, true),
					 allow_unsafe ? "true" : "false");
	json_key_text(&buf, "decision",
				  errors == 0 ? "clean" : allow_unsafe ? "allowed" : "refused", true);
	appendStringInfoString(&buf, ", \"findings\": [");
	foreach(lc, findings)
	{
		LintFinding *f = (LintFinding *) lfirst(lc);
		int			rank = recorded_rank(f);

		CHECK_FOR_INTERRUPTS();
		if (rank > cut_rank || (rank == cut_rank && cut_left-- <= 0))
			continue;
		if (recorded++ > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "{\"statement\": %d", f->statement);
		json_key_text(&buf, "rule", f->rule->id, true);
		json_key_text(&buf, "severity", steward_lint_severity_name(f->severity), true);
		json_key_text(&buf, "relation", f->relation, true);
		json_key_text(&buf, "lock", f->lockmode != NoLock
					  ? GetLockmodeName(DEFAULT_LOCKMETHOD, f->lockmode) : NULL, true);
		if (f->table_size >= 0)
			appendStringInfo(&buf, ", \"table_size\": " INT64_FORMAT, f->table_size);
		json_key_text(&buf, "silenced", f->silenced, true);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	if (recorded < list_length(findings))
		appendStringInfo(&buf, ", \"findings_not_recorded\": %d",
						 list_length(findings) - recorded);
	if (allow != NIL)
	{
		List	   *items = NIL;

		foreach(lc, allow)
		{
			LintSilence *sil = (LintSilence *) lfirst(lc);

			items = lappend(items, psprintf("%s %s", sil->rule, sil->reason));
		}
		json_text_array(&buf, "allow", items);
	}
	json_text_array(&buf, "pre_checks", pre_checks);
	json_text_array(&buf, "post_checks", post_checks);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}
