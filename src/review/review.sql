-- src/review/review.sql: the current definition of the review area
-- (src/review): the lint, the runtime guard's event trigger, the schemas
-- and relations the review looks at, the schema fingerprint and its
-- snapshots, migrate_check_fk and the checks of migrate_validate
-- (steward.validate_report).  The dry run, migrate_plan, is declared with
-- the migrations API (src/migrations/migrations.sql).  Part of the install
-- script the build generates (src/README.md, "SQL sources"); grants are in
-- src/privileges.sql.

-- Lint and runtime guards ---------------------------------------------------

CREATE FUNCTION steward.migrate_lint(sql text)
RETURNS TABLE (
    statement integer, statement_text text, rule text, severity text,
    lock_mode text, relation text, effect text, table_size bigint,
    message text, safe_alternative text, silenced text)
AS 'MODULE_PATHNAME', 'migrate_lint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION steward.migrate_lint(text) IS
    'review migration SQL with the server''s parser and catalog: one row per finding';

CREATE FUNCTION steward.migrate_lint_rules()
RETURNS TABLE (rule text, severity text, grading text, effect text,
               why text, safe_alternative text)
AS 'MODULE_PATHNAME', 'migrate_lint_rules'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION steward.migrate_lint_rules() IS
    'every rule migrate_lint knows, with its severity and safe alternative';

-- The runtime guard against rewriting a large table while a migration
-- runs; it does nothing outside migrate_apply and migrate_plan.
CREATE FUNCTION steward.guard_table_rewrite() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'steward_guard_table_rewrite'
LANGUAGE C;
CREATE EVENT TRIGGER pg_steward_guard_table_rewrite ON table_rewrite
    EXECUTE FUNCTION steward.guard_table_rewrite();

-- Validation, foreign-key checks and the schema fingerprint ----------------

-- The schemas the review looks at: every schema but the system ones,
-- steward, temporary schemas and schemas that belong to an extension.
CREATE VIEW steward.review_schemas AS
SELECT n.oid, n.nspname
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'steward')
   AND n.nspname !~ '^pg_(toast|temp)'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                      AND d.objid = n.oid AND d.deptype = 'e');

-- Their relations, without those that belong to an extension.
CREATE VIEW steward.review_relations AS
SELECT c.oid, c.relname, c.relnamespace, c.relkind, c.relpersistence,
       c.relispartition, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_catalog.pg_class c
  JOIN steward.review_schemas s ON s.oid = c.relnamespace
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e');

-- The keys of steward.schema_object_list whose identity or definition may
-- have changed since the catalog snapshot whose xmin is p_since: every
-- object one of whose own catalog rows was written by a transaction that
-- snapshot may not have seen (xmin at or after p_since: its own, those
-- running then, those after it); every object that depends (pg_depend) on
-- such a row, since a definition prints the names of what it uses; and
-- what implements those (internal dependencies: the index of a
-- constraint).  Own rows: a relation's pg_class row, columns, defaults,
-- rules, index, inheritance, sequence, foreign table and partition key
-- rows (its key r<oid>); a constraint's row (k<oid>); a trigger's
-- (t<oid>); a function's or procedure's (f<oid>).  An object that depends
-- on an object of a catalog not read here is always in the list.  NULL
-- when every object must be deparsed again: a schema or a tablespace was
-- written (names print with their schema), or an object initdb created
-- (OID below 16384, which pg_depend does not record), or p_since is too
-- old to compare.
CREATE FUNCTION steward.schema_changed_keys(p_since xid) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH since AS (
    SELECT pg_catalog.age(p_since) AS age
),
written(classid, oid) AS (
    SELECT 'pg_class'::regclass::oid, x.oid FROM pg_class x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_class'::regclass::oid, x.attrelid FROM pg_attribute x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_class'::regclass::oid, x.indexrelid FROM pg_index x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_class'::regclass::oid, x.inhrelid FROM pg_inherits x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_class'::regclass::oid, x.seqrelid FROM pg_sequence x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_class'::regclass::oid, x.ftrelid FROM pg_foreign_table x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_class'::regclass::oid, x.partrelid FROM pg_partitioned_table x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_class'::regclass::oid, x.adrelid FROM pg_attrdef x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_attrdef'::regclass::oid, x.oid FROM pg_attrdef x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_class'::regclass::oid, x.ev_class FROM pg_rewrite x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_rewrite'::regclass::oid, x.oid FROM pg_rewrite x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_constraint'::regclass::oid, x.oid FROM pg_constraint x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_trigger'::regclass::oid, x.oid FROM pg_trigger x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_proc'::regclass::oid, x.oid FROM pg_proc x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_type'::regclass::oid, x.oid FROM pg_type x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_namespace'::regclass::oid, x.oid FROM pg_namespace x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_tablespace'::regclass::oid, x.oid FROM pg_tablespace x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_collation'::regclass::oid, x.oid FROM pg_collation x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_operator'::regclass::oid, x.oid FROM pg_operator x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_opclass'::regclass::oid, x.oid FROM pg_opclass x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_opfamily'::regclass::oid, x.oid FROM pg_opfamily x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_language'::regclass::oid, x.oid FROM pg_language x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_am'::regclass::oid, x.oid FROM pg_am x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_foreign_server'::regclass::oid, x.oid FROM pg_foreign_server x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_ts_config'::regclass::oid, x.oid FROM pg_ts_config x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_ts_dict'::regclass::oid, x.oid FROM pg_ts_dict x, since WHERE age(x.xmin) <= since.age
    UNION ALL SELECT 'pg_extension'::regclass::oid, x.oid FROM pg_extension x, since WHERE age(x.xmin) <= since.age
),
-- objects that depend on something of a catalog not read above
unread(classid, oid) AS (
    SELECT d.classid, d.objid FROM pg_depend d
     WHERE d.refclassid NOT IN ('pg_class'::regclass, 'pg_attrdef'::regclass, 'pg_rewrite'::regclass,
                                'pg_constraint'::regclass, 'pg_trigger'::regclass, 'pg_proc'::regclass,
                                'pg_type'::regclass, 'pg_namespace'::regclass, 'pg_collation'::regclass,
                                'pg_operator'::regclass, 'pg_opclass'::regclass, 'pg_opfamily'::regclass,
                                'pg_language'::regclass, 'pg_am'::regclass, 'pg_foreign_server'::regclass,
                                'pg_ts_config'::regclass, 'pg_ts_dict'::regclass, 'pg_extension'::regclass)
),
near(classid, oid) AS (
    SELECT w.classid, w.oid FROM written w
    UNION
    SELECT d.classid, d.objid FROM written w
      JOIN pg_depend d ON d.refclassid = w.classid AND d.refobjid = w.oid
),
-- and what implements those (the index of a constraint prints the columns
-- and the table the constraint depends on)
changed(classid, oid) AS (
    SELECT n.classid, n.oid FROM near n
    UNION
    SELECT d.classid, d.objid FROM near n
      JOIN pg_depend d ON d.refclassid = n.classid AND d.refobjid = n.oid AND d.deptype = 'i'
    UNION
    SELECT u.classid, u.oid FROM unread u
),
keys(key) AS (
    SELECT CASE c.classid WHEN 'pg_class'::regclass THEN 'r' WHEN 'pg_constraint'::regclass THEN 'k'
                          WHEN 'pg_trigger'::regclass THEN 't' WHEN 'pg_proc'::regclass THEN 'f' END || c.oid
      FROM changed c
     WHERE c.classid IN ('pg_class'::regclass, 'pg_constraint'::regclass, 'pg_trigger'::regclass, 'pg_proc'::regclass)
    UNION ALL
    SELECT 'r' || ad.adrelid FROM changed c JOIN pg_attrdef ad ON ad.oid = c.oid
     WHERE c.classid = 'pg_attrdef'::regclass
    UNION ALL
    SELECT 'r' || rw.ev_class FROM changed c JOIN pg_rewrite rw ON rw.oid = c.oid
     WHERE c.classid = 'pg_rewrite'::regclass
    UNION ALL
    -- a constraint's definition prints some of its index (options, tablespace, operator classes)
    SELECT 'k' || k.oid FROM changed c JOIN pg_constraint k ON k.conindid = c.oid
     WHERE c.classid = 'pg_class'::regclass
)
SELECT CASE WHEN (SELECT since.age FROM since) > 1000000000
              OR EXISTS (SELECT 1 FROM written w
                          WHERE w.oid < 16384
                             OR w.classid IN ('pg_namespace'::regclass, 'pg_tablespace'::regclass))
            THEN NULL
            ELSE coalesce((SELECT array_agg(DISTINCT k.key) FROM keys k), '{}') END
$$;

-- One row per user object: its identity and the sha256 hex of a canonical
-- definition.  The settings are pinned so that pg_get_*def and the
-- constants of defaults read the same in every session and every
-- database.  Validity (NOT VALID constraints, invalid indexes) is no part
-- of a definition: migrate_validate() reports it, and validating is no
-- drift.
--
-- p_cache NULL: every object is deparsed.  Otherwise p_cache is {key:
-- {i: identity, h: hash}} of objects known not to have changed and p_only
-- the OIDs of those that may have (steward.record_schema_snapshot,
-- steward.schema_changed_keys): of the objects that have a key, only those
-- of p_only are deparsed, the others that still exist are taken from
-- p_cache.  key is NULL for what is always deparsed (schemas, types,
-- policies, rules, aggregates); r<oid> is a relation or an index, k<oid> a
-- constraint, t<oid> a trigger, f<oid> a function or procedure.
CREATE FUNCTION steward.schema_object_list(p_cache jsonb, p_only oid[])
RETURNS TABLE (key text, identity text, hash text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 1
SET bytea_output = 'hex'
SET quote_all_identifiers = off
AS $$
WITH cols AS (
    SELECT a.attrelid,
           string_agg(format('column %s %s%s%s%s%s%s', quote_ident(a.attname),
                             format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attcollation <> t.typcollation
                                  THEN ' collate ' || a.attcollation::regcollation::text END,
                             CASE WHEN a.attnotnull THEN ' not null' END,
                             CASE WHEN a.attgenerated = '' THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid) END,
                             CASE WHEN a.attgenerated = 's'
                                  THEN ' generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ') stored' END,
                             CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
                                                WHEN 'd' THEN ' generated by default as identity' END),
                      E'\n' ORDER BY a.attnum) AS def
      FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attrelid IN (SELECT r.oid FROM steward.review_relations r
                           WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
                             AND (p_cache IS NULL OR r.oid = ANY (p_only) OR r.relkind = 'c'))
       AND a.attnum > 0 AND NOT a.attisdropped
     GROUP BY a.attrelid
),
objs(key, identity, def) AS (
    SELECT NULL, 'schema ' || quote_ident(s.nspname), 'schema'
      FROM steward.review_schemas s
    UNION ALL
    -- tables, views, materialized views, sequences, foreign tables
    SELECT 'r' || c.oid, CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                          WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                          WHEN 'f' THEN 'foreign table' END || ' ' || c.oid::regclass::text,
           concat_ws(E'\n',
               'relkind ' || c.relkind::text || ' persistence ' || c.relpersistence::text,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
               CASE WHEN c.relkind <> 'S' THEN cols.def END,
               'partition key ' || pg_get_partkeydef(c.oid),
               (SELECT 'partition of ' || i.inhparent::regclass::text || ' ' || pg_get_expr(pc.relpartbound, pc.oid)
                  FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhrelid
                 WHERE i.inhrelid = c.oid AND c.relispartition),
               (SELECT 'inherits ' || string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno)
                  FROM pg_inherits i WHERE i.inhrelid = c.oid AND NOT c.relispartition
                HAVING count(*) > 0),
               CASE WHEN c.relrowsecurity OR c.relforcerowsecurity
                    THEN format('row security %s force %s', c.relrowsecurity, c.relforcerowsecurity) END,
               (SELECT 'options ' || pc.reloptions::text FROM pg_class pc
                 WHERE pc.oid = c.oid AND pc.reloptions IS NOT NULL),
               (SELECT format('sequence as %s start %s increment %s minvalue %s maxvalue %s cache %s cycle %s',
                              format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin,
                              q.seqmax, q.seqcache, q.seqcycle)
                  FROM pg_sequence q WHERE q.seqrelid = c.oid),
               (SELECT format('server %s options %s', quote_ident(fs.srvname), ft.ftoptions::text)
                  FROM pg_foreign_table ft JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
                 WHERE ft.ftrelid = c.oid))
      FROM steward.review_relations c
      LEFT JOIN cols ON cols.attrelid = c.oid
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND (p_cache IS NULL OR c.oid = ANY (p_only))
    UNION ALL
    SELECT 'r' || i.indexrelid, 'index ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN steward.review_relations c ON c.oid = i.indrelid
     WHERE p_cache IS NULL OR i.indexrelid = ANY (p_only)
    UNION ALL
    SELECT 'k' || k.oid, 'constraint ' || k.conrelid::regclass::text || '.' || quote_ident(k.conname),
           regexp_replace(pg_get_constraintdef(k.oid), ' NOT VALID$', '')
      FROM pg_constraint k JOIN steward.review_relations c ON c.oid = k.conrelid
     WHERE p_cache IS NULL OR k.oid = ANY (p_only)
    UNION ALL
    -- user triggers; those pg_steward attaches (copy_table, audit_table) are its own business
    SELECT 't' || t.oid, 'trigger ' || t.tgrelid::regclass::text || '.' || quote_ident(t.tgname),
           pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
      FROM pg_trigger t JOIN steward.review_relations c ON c.oid = t.tgrelid
     WHERE NOT t.tgisinternal
       AND (p_cache IS NULL OR t.oid = ANY (p_only))
       AND NOT EXISTS (SELECT 1 FROM pg_proc f JOIN pg_namespace fn ON fn.oid = f.pronamespace
                        WHERE f.oid = t.tgfoid AND fn.nspname = 'steward')
    UNION ALL
    SELECT NULL, 'policy ' || p.polrelid::regclass::text || '.' || quote_ident(p.polname),
           format('%s for %s to %s using (%s) with check (%s)',
                  CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, p.polcmd,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r)) END,
                                     ', ' ORDER BY CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END COLLATE "C")
                     FROM unnest(p.polroles) r),
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM pg_policy p JOIN steward.review_relations c ON c.oid = p.polrelid
    UNION ALL
    SELECT NULL, 'rule ' || r.ev_class::regclass::text || '.' || quote_ident(r.rulename),
           pg_get_ruledef(r.oid) || ' enabled ' || r.ev_enabled::text
      FROM pg_rewrite r JOIN steward.review_relations c ON c.oid = r.ev_class
     WHERE r.rulename <> '_RETURN'
    UNION ALL
    -- functions, procedures and aggregates
    SELECT CASE WHEN p.prokind <> 'a' THEN 'f' || p.oid END, CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END
               || ' ' || p.oid::regprocedure::text,
           CASE WHEN p.prokind = 'a' THEN
               (SELECT format('aggregate kind %s sfunc %s stype %s finalfunc %s combinefunc %s initcond %s sortop %s',
                              a.aggkind, a.aggtransfn::oid::regprocedure, format_type(a.aggtranstype, NULL),
                              nullif(a.aggfinalfn::oid, 0)::regprocedure,
                              nullif(a.aggcombinefn::oid, 0)::regprocedure, a.agginitval,
                              nullif(a.aggsortop, 0)::regoperator)
                  FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
           ELSE pg_get_functiondef(p.oid) END
      FROM pg_proc p JOIN steward.review_schemas s ON s.oid = p.pronamespace
     WHERE NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
       AND (p_cache IS NULL OR p.prokind = 'a' OR p.oid = ANY (p_only))
    UNION ALL
    -- enums, domains, composite, range and base types (not the row types of
    -- relations, array types or multiranges, which come with another object)
    SELECT NULL, 'type ' || format_type(t.oid, NULL),
           CASE t.typtype
           WHEN 'e' THEN
               'enum ' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                      FROM pg_enum e WHERE e.enumtypid = t.oid), '')
           WHEN 'd' THEN
               format('domain %s%s%s%s%s', format_type(t.typbasetype, t.typtypmod),
                      CASE WHEN t.typcollation <> bt.typcollation
                           THEN ' collate ' || t.typcollation::regcollation::text END,
                      CASE WHEN t.typnotnull THEN ' not null' END,
                      ' default ' || pg_get_expr(t.typdefaultbin, 0),
                      (SELECT string_agg(E'\nconstraint ' || quote_ident(k.conname) || ' '
                                         || regexp_replace(pg_get_constraintdef(k.oid), ' NOT VALID$', ''),
                                         '' ORDER BY k.conname)
                         FROM pg_constraint k WHERE k.contypid = t.oid))
           WHEN 'c' THEN
               'composite ' || coalesce(cols.def, '')
           WHEN 'r' THEN
               (SELECT format('range subtype %s opclass %s.%s collation %s canonical %s subdiff %s',
                              format_type(rg.rngsubtype, NULL), quote_ident(ocn.nspname), quote_ident(oc.opcname),
                              nullif(rg.rngcollation, 0)::regcollation,
                              nullif(rg.rngcanonical::oid, 0)::regprocedure,
                              nullif(rg.rngsubdiff::oid, 0)::regprocedure)
                  FROM pg_range rg
                  JOIN pg_opclass oc ON oc.oid = rg.rngsubopc
                  JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace
                 WHERE rg.rngtypid = t.oid)
           ELSE
               format('base input %s output %s receive %s send %s typmod_in %s typmod_out %s analyze %s '
                      'subscript %s length %s byval %s align %s storage %s category %s preferred %s '
                      'delimiter %s element %s collatable %s',
                      t.typinput::oid::regprocedure, t.typoutput::oid::regprocedure,
                      nullif(t.typreceive::oid, 0)::regprocedure, nullif(t.typsend::oid, 0)::regprocedure,
                      nullif(t.typmodin::oid, 0)::regprocedure, nullif(t.typmodout::oid, 0)::regprocedure,
                      nullif(t.typanalyze::oid, 0)::regprocedure, nullif(t.typsubscript::oid, 0)::regprocedure,
                      t.typlen, t.typbyval, t.typalign, t.typstorage, t.typcategory, t.typispreferred,
                      t.typdelim, format_type(nullif(t.typelem, 0), NULL), t.typcollation <> 0)
           END
      FROM pg_type t
      JOIN steward.review_schemas s ON s.oid = t.typnamespace
      LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
      LEFT JOIN cols ON cols.attrelid = t.typrelid AND t.typtype = 'c'
     WHERE t.typisdefined
       AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
       AND (t.typtype <> 'c' OR (SELECT rc.relkind FROM pg_class rc WHERE rc.oid = t.typrelid) = 'c')
       AND NOT EXISTS (SELECT 1 FROM pg_type el WHERE el.typarray = t.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = t.typrelid AND t.typrelid <> 0
                          AND d.deptype = 'e')
)
SELECT o.key, o.identity, encode(sha256(convert_to(coalesce(o.def, ''), 'UTF8')), 'hex')
  FROM objs o
UNION ALL
-- the unchanged objects of p_cache that still exist
SELECT e.key, e.value->>'i', e.value->>'h'
  FROM jsonb_each(p_cache) e
 WHERE CASE left(e.key, 1)
       WHEN 'r' THEN EXISTS (SELECT 1 FROM pg_class x WHERE x.oid = substr(e.key, 2)::oid)
       WHEN 'k' THEN EXISTS (SELECT 1 FROM pg_constraint x WHERE x.oid = substr(e.key, 2)::oid)
       WHEN 't' THEN EXISTS (SELECT 1 FROM pg_trigger x WHERE x.oid = substr(e.key, 2)::oid)
       WHEN 'f' THEN EXISTS (SELECT 1 FROM pg_proc x WHERE x.oid = substr(e.key, 2)::oid)
       END
$$;

-- {identity: hash} of every user object (steward.schema_object_list).
CREATE FUNCTION steward.schema_objects() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(jsonb_object_agg(l.identity, l.hash), '{}')
      FROM steward.schema_object_list(NULL, NULL) l
$$;

-- "v1:" and the SHA-256 hex of the sorted "identity=hash" lines: equal
-- fingerprints, equal schemas.
CREATE FUNCTION steward.schema_fingerprint(objects jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'v1:' || encode(sha256(convert_to(
               coalesce(string_agg(e.key || '=' || e.value, E'\n' ORDER BY e.key COLLATE "C"), ''),
               'UTF8')), 'hex')
      FROM jsonb_each_text(objects) e
$$;

-- The schema as each migration left it, append-only.
CREATE TABLE steward.schema_snapshots (
    id          bigserial PRIMARY KEY,
    version     text COLLATE "C",
    taken_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    fingerprint text NOT NULL,
    objects     jsonb NOT NULL
);
COMMENT ON TABLE steward.schema_snapshots IS
    'append-only schema fingerprints, one per finished migration (migrate_validate() compares the newest)';
CREATE TRIGGER schema_snapshots_append_only
    BEFORE UPDATE OR DELETE ON steward.schema_snapshots
    FOR EACH ROW EXECUTE FUNCTION steward.refuse_change('schema snapshots are append-only');
CREATE TRIGGER schema_snapshots_no_truncate
    BEFORE TRUNCATE ON steward.schema_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION steward.refuse_change('schema snapshots are append-only');
SELECT pg_catalog.pg_extension_config_dump('steward.schema_snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('steward.schema_snapshots_id_seq', '');

-- The identities and hashes of the objects of the newest snapshot that
-- have a key in steward.schema_object_list, the xmin of the catalog
-- snapshot they were read in and a digest of which objects belong to an
-- extension (pg_depend), so that the next snapshot deparses only what
-- changed since (steward.schema_changed_keys).  One row, replaced by every
-- snapshot; a cache, not a record: it is left out of dumps, and without it
-- a snapshot deparses every object.  format is that of the definitions
-- (1: steward.schema_object_list as it is now); another format is not
-- used.
CREATE TABLE steward.schema_object_cache (
    id                  integer PRIMARY KEY CHECK (id = 1),
    format              integer NOT NULL,
    read_since          xid NOT NULL,
    extension_members   text NOT NULL,
    objects             jsonb NOT NULL
);
COMMENT ON TABLE steward.schema_object_cache IS
    'the identities and hashes of the newest schema snapshot''s objects (a cache: record_schema_snapshot deparses only what changed since)';

-- Which objects belong to an extension (the review leaves them out): a
-- digest of pg_depend's extension membership.
CREATE FUNCTION steward.schema_extension_members() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT md5(coalesce(string_agg(d.classid || '.' || d.objid || '.' || d.refobjid, ','
                                   ORDER BY d.classid, d.objid, d.refobjid), ''))
      FROM pg_depend d
     WHERE d.deptype = 'e'
$$;

-- Called in the caller's transaction when a migration, rollback or
-- baseline finishes.  A snapshot that cannot be taken is a WARNING: it
-- never fails the migration (migrate_validate() then compares with an
-- older snapshot).
CREATE FUNCTION steward.record_schema_snapshot(p_version text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_objects jsonb;
    v_fingerprint text;
    v_cache steward.schema_object_cache;
    v_since xid;
    v_members text;
    v_changed text[];
    v_known jsonb;
    v_only oid[];
    v_entries jsonb;
BEGIN
    -- whatever a transaction this statement does not see writes to the
    -- catalog is written at or after this xmin: the next snapshot deparses
    -- it again
    v_since := pg_catalog.xid(pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()));
    v_members := steward.schema_extension_members();
    -- deparse only what may have changed since the newest snapshot
    SELECT * INTO v_cache FROM steward.schema_object_cache c WHERE c.id = 1;
    IF v_cache.format = 1 AND v_cache.extension_members = v_members THEN
        v_changed := steward.schema_changed_keys(v_cache.read_since);
        IF v_changed IS NOT NULL THEN
            v_known := v_cache.objects - v_changed;
            v_only := ARRAY(SELECT substr(k, 2)::oid FROM unnest(v_changed) k);
        END IF;
    END IF;
    SELECT coalesce(jsonb_object_agg(l.identity, l.hash), '{}'),
           coalesce(jsonb_object_agg(l.key, jsonb_build_object('i', l.identity, 'h', l.hash))
                        FILTER (WHERE l.key IS NOT NULL), '{}')
      INTO v_objects, v_entries
      FROM steward.schema_object_list(v_known, v_only) l;
    v_fingerprint := steward.schema_fingerprint(v_objects);
    INSERT INTO steward.schema_snapshots (version, fingerprint, objects)
    VALUES (p_version, v_fingerprint, v_objects);
    INSERT INTO steward.schema_object_cache AS c (id, format, read_since, extension_members, objects)
    VALUES (1, 1, v_since, v_members, v_entries)
    ON CONFLICT (id) DO UPDATE
       SET format = EXCLUDED.format, read_since = EXCLUDED.read_since,
           extension_members = EXCLUDED.extension_members, objects = EXCLUDED.objects;
    RETURN v_fingerprint;
EXCEPTION WHEN others THEN
    RAISE WARNING 'could not record the schema fingerprint of version "%": %', p_version, SQLERRM;
    RETURN NULL;
END $$;

-- Review API ------------------------------------------------------------------

-- Rows of child whose key (no NULL in it: MATCH SIMPLE) has no row in
-- parent.  Runs as the caller.
CREATE FUNCTION steward.migrate_check_fk(child regclass, columns text[], parent regclass,
                                         parent_columns text[] DEFAULT NULL)
RETURNS TABLE (orphans bigint, sample_keys text[])
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_child_kind "char";
    v_parent_kind "char";
    v_child_name name;
    v_parent_name name;
    v_arg text;
    v_list text[];
    v_col text;
    v_pcols text[];
    v_ctypes oid[] := '{}';
    v_ptypes oid[] := '{}';
    v_type oid;
    v_op text;
    v_select text := '';
    v_notnull text := '';
    v_match text := '';
    v_order text := '';
    v_key text;
    v_sql text;
    i integer;
BEGIN
    IF child IS NULL THEN
        RAISE EXCEPTION 'child must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF columns IS NULL THEN
        RAISE EXCEPTION 'columns must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF parent IS NULL THEN
        RAISE EXCEPTION 'parent must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;

    SELECT c.relkind, c.relname INTO v_child_kind, v_child_name FROM pg_class c WHERE c.oid = child;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', child::oid USING ERRCODE = 'undefined_table';
    END IF;
    SELECT c.relkind, c.relname INTO v_parent_kind, v_parent_name FROM pg_class c WHERE c.oid = parent;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', parent::oid USING ERRCODE = 'undefined_table';
    END IF;
    IF v_child_kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION '"%" is not a table or view', v_child_name USING ERRCODE = 'wrong_object_type';
    END IF;
    IF v_parent_kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION '"%" is not a table or view', v_parent_name USING ERRCODE = 'wrong_object_type';
    END IF;

    -- the two column lists: not empty, one-dimensional, no NULL, no duplicate
    FOREACH v_arg IN ARRAY ARRAY['columns', 'parent_columns'] LOOP
        v_list := CASE v_arg WHEN 'columns' THEN columns ELSE parent_columns END;
        CONTINUE WHEN v_list IS NULL;
        IF cardinality(v_list) = 0 AND v_arg = 'parent_columns' THEN
            RAISE EXCEPTION 'parent_columns must not be empty' USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Pass NULL for the primary key of parent.';
        ELSIF cardinality(v_list) = 0 THEN
            RAISE EXCEPTION 'columns must not be empty' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF array_ndims(v_list) > 1 THEN
            RAISE EXCEPTION '% must be a one-dimensional array', v_arg USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF array_position(v_list, NULL) IS NOT NULL THEN
            RAISE EXCEPTION '% must not contain NULL', v_arg USING ERRCODE = 'null_value_not_allowed';
        END IF;
        SELECT u.c INTO v_col FROM unnest(v_list) u(c) GROUP BY u.c HAVING count(*) > 1
         ORDER BY u.c COLLATE "C" LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'column "%" appears more than once in %', v_col, v_arg
                USING ERRCODE = 'duplicate_column';
        END IF;
    END LOOP;

    -- the referenced columns: as given, or the primary key's in key order
    IF parent_columns IS NULL THEN
        SELECT array_agg(a.attname::text ORDER BY k.n) INTO v_pcols
          FROM pg_index x
          CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
         WHERE x.indrelid = parent AND x.indisprimary AND k.n <= x.indnkeyatts;
        IF v_pcols IS NULL THEN
            RAISE EXCEPTION 'there is no primary key for referenced table "%"', v_parent_name
                USING ERRCODE = 'undefined_object', HINT = 'Pass parent_columns.';
        END IF;
    ELSE
        v_pcols := parent_columns;
    END IF;

    -- resolve every column; names are matched exactly as stored
    FOREACH v_arg IN ARRAY ARRAY['columns', 'parent_columns'] LOOP
        FOREACH v_col IN ARRAY CASE v_arg WHEN 'columns' THEN columns ELSE v_pcols END LOOP
            SELECT a.atttypid INTO v_type FROM pg_attribute a
             WHERE a.attrelid = CASE v_arg WHEN 'columns' THEN child ELSE parent END
               AND a.attname::text = v_col AND a.attnum > 0 AND NOT a.attisdropped;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'column "%" of relation "%" does not exist', v_col,
                    CASE v_arg WHEN 'columns' THEN v_child_name ELSE v_parent_name END
                    USING ERRCODE = 'undefined_column';
            END IF;
            IF v_arg = 'columns' THEN
                v_ctypes := v_ctypes || v_type;
            ELSE
                v_ptypes := v_ptypes || v_type;
            END IF;
        END LOOP;
    END LOOP;
    IF cardinality(columns) <> cardinality(v_pcols) THEN
        RAISE EXCEPTION 'number of referencing and referenced columns disagree'
            USING ERRCODE = 'invalid_foreign_key',
                  DETAIL = format('columns names %s, the referenced key has %s.',
                                  cardinality(columns), cardinality(v_pcols));
    END IF;

    FOR i IN 1 .. cardinality(columns) LOOP
        -- the "=" of the two types: pg_catalog's, or one an installed
        -- extension defines (citext's, in the extension's schema), else
        -- pg_catalog's with implicit casts.  Never an operator some role
        -- created by hand, in a schema of its own or its temporary schema:
        -- the caller would run that role's function.
        SELECT format('OPERATOR(%I.=)', n.nspname) INTO v_op
          FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
         WHERE o.oprname = '=' AND o.oprresult = 'boolean'::regtype
           AND (o.oprnamespace = 'pg_catalog'::regnamespace
                OR EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_operator'::regclass AND d.objid = o.oid
                              AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'))
           AND o.oprleft IN (v_ptypes[i], (SELECT t.typbasetype FROM pg_type t
                                            WHERE t.oid = v_ptypes[i] AND t.typtype = 'd'))
           AND o.oprright IN (v_ctypes[i], (SELECT t.typbasetype FROM pg_type t
                                             WHERE t.oid = v_ctypes[i] AND t.typtype = 'd'))
         ORDER BY o.oprleft = v_ptypes[i] AND o.oprright = v_ctypes[i] DESC, n.nspname = 'pg_catalog' DESC
         LIMIT 1;
        IF v_op IS NULL THEN
            BEGIN
                EXECUTE format('SELECT NULL::%s OPERATOR(pg_catalog.=) NULL::%s',
                               format_type(v_ptypes[i], NULL), format_type(v_ctypes[i], NULL));
            EXCEPTION WHEN undefined_function OR ambiguous_function THEN
                RAISE EXCEPTION 'key columns "%" and "%" are of incompatible types: % and %',
                                columns[i], v_pcols[i], format_type(v_ctypes[i], NULL),
                                format_type(v_ptypes[i], NULL)
                    USING ERRCODE = 'datatype_mismatch';
            END;
            v_op := 'OPERATOR(pg_catalog.=)';
        END IF;
        v_select := v_select || CASE WHEN i > 1 THEN ', ' ELSE '' END || format('c.%I AS k%s', columns[i], i);
        v_notnull := v_notnull || format(' AND c.%I IS NOT NULL', columns[i]);
        v_match := v_match || CASE WHEN i > 1 THEN ' AND ' ELSE '' END
                   || format('p.%I %s c.%I', v_pcols[i], v_op, columns[i]);
        v_order := v_order || CASE WHEN i > 1 THEN ', ' ELSE '' END || format('k%s', i);
    END LOOP;
    v_key := CASE WHEN cardinality(columns) = 1 THEN 'k1::text'
                  ELSE format('ROW(%s)::text', v_order) END;

    v_sql := format($q$
        WITH o AS MATERIALIZED (
            SELECT %s FROM %s%s c
             WHERE %s AND NOT EXISTS (SELECT 1 FROM %s%s p WHERE %s))
        SELECT (SELECT count(*) FROM o),
               coalesce((SELECT array_agg(s.key ORDER BY %s)
                           FROM (SELECT DISTINCT %s, %s AS key FROM o ORDER BY %s LIMIT 10) s),
                        '{}'::text[])$q$,
        v_select, CASE WHEN v_child_kind = 'r' THEN 'ONLY ' ELSE '' END, child::text,
        substr(v_notnull, 6),
        CASE WHEN v_parent_kind = 'r' THEN 'ONLY ' ELSE '' END, parent::text, v_match,
        v_order, v_order, v_key, v_order);
    RETURN QUERY EXECUTE v_sql;
END $$;
COMMENT ON FUNCTION steward.migrate_check_fk(regclass, text[], regclass, text[]) IS
    'count the rows of child whose key has no row in parent, with up to 10 sample keys (check before adding a foreign key)';

-- The post-migration checks, one row per problem and one "ok" row per
-- check that found none, as the role p_caller sees them (sequences it may
-- not read are left out).  Called by migrate_validate() only.
CREATE FUNCTION steward.validate_report(p_caller oid)
RETURNS TABLE (check_name text, severity text, object text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH checks(ord, name) AS (
    VALUES (1, 'invalid-index'), (2, 'not-valid-constraint'), (3, 'fk-without-index'),
           (4, 'table-without-primary-key'), (5, 'sequence-near-exhaustion'),
           (6, 'schema-drift'), (7, 'migration-not-completed')
),
snap AS (
    SELECT s.version, s.objects FROM steward.schema_snapshots s ORDER BY s.id DESC LIMIT 1
),
seqs AS (
    SELECT q.seqrelid, q.seqincrement,
           CASE WHEN has_sequence_privilege(p_caller, q.seqrelid, 'SELECT,USAGE')
                THEN pg_sequence_last_value(q.seqrelid) END::numeric AS last_value,
           q.seqmin::numeric AS seqmin, q.seqmax::numeric AS seqmax, col.attrelid, col.attname, col.atttypid,
           CASE col.atttypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647
                             WHEN 'int8'::regtype THEN 9223372036854775807 END::numeric AS type_max
      FROM pg_sequence q
      JOIN steward.review_relations r ON r.oid = q.seqrelid
      LEFT JOIN LATERAL (
          SELECT a.attrelid, a.attname, a.atttypid
            FROM pg_depend d
            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
           WHERE d.classid = 'pg_class'::regclass AND d.objid = q.seqrelid
             AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
           LIMIT 1) col ON true
     WHERE NOT q.seqcycle
),
seq_use AS (
    SELECT s.*, lim.limit_value, lim.by_column,
           round(100 * CASE WHEN s.seqincrement > 0
                            THEN (s.last_value - s.seqmin) / nullif(lim.limit_value - s.seqmin, 0)
                            ELSE (s.seqmax - s.last_value) / nullif(s.seqmax - lim.limit_value, 0) END, 1) AS pct
      FROM seqs s,
           LATERAL (SELECT CASE WHEN s.seqincrement > 0 THEN least(s.seqmax, s.type_max)
                                ELSE greatest(s.seqmin, -s.type_max - 1) END AS limit_value,
                           CASE WHEN s.seqincrement > 0 THEN s.type_max <= s.seqmax
                                ELSE -s.type_max - 1 >= s.seqmin END AS by_column) lim
     WHERE s.last_value IS NOT NULL
),
drift AS (
    SELECT coalesce(n.key, o.key) AS identity,
           CASE WHEN o.key IS NULL THEN 'added' WHEN n.key IS NULL THEN 'dropped' ELSE 'changed' END AS change
      FROM (SELECT e.key, e.value FROM snap, jsonb_each_text(snap.objects) e) o
      FULL JOIN (SELECT e.key, e.value FROM jsonb_each_text(steward.schema_objects()) e) n ON n.key = o.key
     WHERE o.value IS DISTINCT FROM n.value
),
problems(ord, severity, object, detail) AS (
    -- 1: invalid indexes
    SELECT 1, 'error', i.indexrelid::regclass::text,
           CASE WHEN ic.relkind = 'I'
                THEN format('partitioned index is not valid: an index of a partition is missing; create it and '
                            'attach it with ALTER INDEX %s ATTACH PARTITION', i.indexrelid::regclass)
                ELSE format('index is not valid (left by a failed CREATE INDEX CONCURRENTLY, or still being '
                            'built); drop it with DROP INDEX CONCURRENTLY %s and create it again',
                            i.indexrelid::regclass) END
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN steward.review_relations r ON r.oid = i.indrelid
     WHERE NOT i.indisvalid
    UNION ALL
    -- 2: NOT VALID constraints (a partition's clone is validated with its parent's)
    SELECT 2, 'warning', k.conrelid::regclass::text || '.' || quote_ident(k.conname),
           format('constraint is NOT VALID; validate it in a background job with SELECT validate_constraint(%L, %L), '
                  'or with ALTER TABLE %s VALIDATE CONSTRAINT %I',
                  k.conrelid::regclass::text, k.conname, k.conrelid::regclass, k.conname)
      FROM pg_constraint k JOIN steward.review_relations r ON r.oid = k.conrelid
     WHERE NOT k.convalidated AND k.conparentid = 0 AND k.conislocal
    UNION ALL
    SELECT 2, 'warning', format_type(k.contypid, NULL) || '.' || quote_ident(k.conname),
           format('domain constraint is NOT VALID; validate it with ALTER DOMAIN %s VALIDATE CONSTRAINT %I',
                  format_type(k.contypid, NULL), k.conname)
      FROM pg_constraint k
      JOIN pg_type t ON t.oid = k.contypid
      JOIN steward.review_schemas s ON s.oid = t.typnamespace
     WHERE NOT k.convalidated
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL
    -- 3: foreign keys whose columns lead no valid, non-partial btree or hash index
    SELECT 3, 'warning', k.conrelid::regclass::text || '.' || quote_ident(k.conname),
           format('no index leads with the referencing columns (%s), so every DELETE or key UPDATE on %s scans %s; '
                  'create one with CREATE INDEX%s ON %s (%s)',
                  cols.list, k.confrelid::regclass, k.conrelid::regclass,
                  CASE WHEN r.relkind = 'p' THEN '' ELSE ' CONCURRENTLY' END, k.conrelid::regclass, cols.list)
      FROM pg_constraint k
      JOIN steward.review_relations r ON r.oid = k.conrelid
      CROSS JOIN LATERAL (
          SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n) AS list
            FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum) cols
     WHERE k.contype = 'f' AND k.conparentid = 0
       AND NOT EXISTS (
           SELECT 1 FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_am am ON am.oid = ic.relam
            WHERE i.indrelid = k.conrelid AND i.indisvalid AND i.indpred IS NULL
              AND am.amname IN ('btree', 'hash')
              AND i.indnkeyatts >= cardinality(k.conkey)
              AND (SELECT array_agg(x.attnum) FROM unnest(i.indkey::int2[]) WITH ORDINALITY x(attnum, n)
                    WHERE x.n <= cardinality(k.conkey)) @> k.conkey)
    UNION ALL
    -- 4: tables without a primary key (partitions share their parent's)
    SELECT 4, 'warning', r.oid::regclass::text,
           'table has no primary key (backfill, copy_table and logical replication of UPDATE and DELETE need a key)'
      FROM steward.review_relations r
     WHERE r.relkind IN ('r', 'p') AND NOT r.relispartition
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = r.oid AND k.contype = 'p')
    UNION ALL
    -- 5: sequences past 75 % of their range (or of the column they fill)
    SELECT 5, CASE WHEN u.pct > 90 THEN 'error' ELSE 'warning' END, u.seqrelid::regclass::text,
           format('%s%% of the range used: last value %s, limit %s (%s)', u.pct, u.last_value, u.limit_value,
                  CASE WHEN u.by_column
                       THEN format('type %s of column %s.%I', format_type(u.atttypid, NULL),
                                   u.attrelid::regclass, u.attname)
                       WHEN u.seqincrement > 0 THEN 'the sequence''s maxvalue'
                       ELSE 'the sequence''s minvalue' END)
      FROM seq_use u
     WHERE u.pct > 75
    UNION ALL
    -- 6: schema drift since the newest fingerprint
    SELECT 6, 'warning', d.identity,
           format('%s since the schema fingerprint of version %s', d.change, snap.version)
      FROM drift d, snap
    UNION ALL
    SELECT 6, 'info', NULL,
           'no schema fingerprint recorded yet: migrate_apply, migrate_rollback and migrate_baseline record one'
     WHERE NOT EXISTS (SELECT 1 FROM snap)
    UNION ALL
    -- 7: migrations that failed or are still in progress
    SELECT 7, 'error', m.version,
           CASE WHEN m.status = 'failed' THEN
               'failed' || coalesce(' at statement ' || m.error_statement, '')
                        || coalesce(' (' || m.error_sqlstate || ')', '')
                        || coalesce(': ' || m.error_message, '')
                        || '; apply it again or resolve it with migrate_repair()'
           WHEN m.job_id IS NOT NULL THEN
               format('in progress: job %s runs its statements that refuse a transaction block', m.job_id)
           ELSE format('in progress in the transaction of backend %s', m.backend_pid) END
      FROM steward.migration_state m
     WHERE m.status IN ('failed', 'in_progress')
)
SELECT r.name, r.severity, r.object, r.detail
  FROM (SELECT c.ord, c.name, p.severity, p.object, p.detail
          FROM checks c JOIN problems p ON p.ord = c.ord
        UNION ALL
        SELECT c.ord, c.name, 'ok', NULL, NULL
          FROM checks c
         WHERE NOT EXISTS (SELECT 1 FROM problems p WHERE p.ord = c.ord)) r
 ORDER BY r.ord, r.object COLLATE "C"
$$;

-- migrate_validate() (src/review/validate.c) runs steward.validate_report
-- as the extension owner, who reads steward's tables, for the role that
-- called.
CREATE FUNCTION steward.migrate_validate()
RETURNS TABLE (check_name text, severity text, object text, detail text)
AS 'MODULE_PATHNAME', 'migrate_validate'
LANGUAGE C STABLE;
COMMENT ON FUNCTION steward.migrate_validate() IS
    'post-migration checks: invalid indexes, NOT VALID constraints, unindexed foreign keys, tables without primary key, sequences near exhaustion (those the caller may read), schema drift, unfinished migrations';

-- The fingerprint of the current schema, to compare two databases.
CREATE FUNCTION steward.migrate_fingerprint()
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT steward.schema_fingerprint(steward.schema_objects())
$$;
COMMENT ON FUNCTION steward.migrate_fingerprint() IS
    'the fingerprint of the current schema (v1:sha256 over every user object''s definition)';
