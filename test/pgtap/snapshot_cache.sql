-- pgTAP: the schema snapshot a migration records deparses only the objects
-- that may have changed since the newest snapshot (steward.schema_object_cache,
-- steward.schema_changed_keys); every snapshot must still be exactly the
-- schema as a full steward.schema_objects() reads it, whatever changed:
-- renames of what a definition names (columns, tables, sequences, types,
-- functions, schemas), index options, dropped columns, changes made outside
-- migrations, several migrations in one transaction.
-- Run by scripts/test.sh in a fresh database with pgtap and pg_steward
-- installed, without a wrapping transaction.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
SET client_min_messages = warning;

SELECT plan(33);

-- the newest snapshot against a full reading of the schema now
CREATE FUNCTION pg_temp.snapshot_is_schema() RETURNS boolean LANGUAGE sql AS $$
    SELECT s.objects = steward.schema_objects() AND s.fingerprint = migrate_fingerprint()
      FROM steward.schema_snapshots s ORDER BY s.id DESC LIMIT 1
$$;

SELECT ok(NOT has_table_privilege('public', 'steward.schema_object_cache', 'SELECT'),
          'PUBLIC cannot read the snapshot cache');
SELECT is(migrate_apply('c_001', $sql$
    CREATE SCHEMA app;
    CREATE SEQUENCE app.ticket_seq;
    CREATE TYPE app.mood AS ENUM ('ok', 'bad');
    CREATE DOMAIN app.posint AS integer CHECK (VALUE > 0);
    CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
    CREATE FUNCTION app.twice(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
    CREATE TABLE app.owners (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
    CREATE TABLE app.tickets (
        id integer PRIMARY KEY DEFAULT nextval('app.ticket_seq'),
        owner_id integer REFERENCES app.owners (id),
        mood app.mood,
        qty app.posint,
        score integer DEFAULT app.twice(2) CHECK (score >= 0),
        note text);
    CREATE INDEX tickets_owner_idx ON app.tickets (owner_id, note);
    CREATE INDEX tickets_expr_idx ON app.tickets (app.twice(score));
    CREATE TRIGGER tickets_touch BEFORE UPDATE OF note ON app.tickets
        FOR EACH ROW EXECUTE FUNCTION app.touch();
    CREATE VIEW app.ticket_view AS SELECT t.id, t.note, o.name FROM app.tickets t JOIN app.owners o ON o.id = t.owner_id;
    ALTER TABLE app.tickets ENABLE ROW LEVEL SECURITY;
    CREATE POLICY mine ON app.tickets USING (note IS NOT NULL);
$sql$), 'applied', 'the fixtures');
SELECT ok(pg_temp.snapshot_is_schema(), 'the first snapshot is the schema');
SELECT ok((SELECT c.objects <> '{}' FROM steward.schema_object_cache c), 'and it filled the cache');

SELECT is(migrate_apply('c_002', 'CREATE TABLE app.extra (id integer PRIMARY KEY)'), 'applied', 'a new table');
SELECT ok(pg_temp.snapshot_is_schema(), 'a new table: the snapshot is the schema');

SELECT is(migrate_apply('c_003', 'ALTER TABLE app.tickets RENAME COLUMN note TO remark'), 'applied',
          'a column that an index, a trigger, a policy and a view name is renamed');
SELECT ok(pg_temp.snapshot_is_schema(), 'a renamed column: the snapshot is the schema');

SELECT is(migrate_apply('c_004', 'ALTER TABLE app.owners RENAME TO people'), 'applied',
          'a table that a foreign key and a view name is renamed');
SELECT ok(pg_temp.snapshot_is_schema(), 'a renamed referenced table: the snapshot is the schema');

SELECT is(migrate_apply('c_005', 'ALTER SEQUENCE app.ticket_seq RENAME TO ticket_numbers'), 'applied',
          'the sequence of a default is renamed');
SELECT ok(pg_temp.snapshot_is_schema(), 'a renamed sequence: the snapshot is the schema');

SELECT is(migrate_apply('c_006', 'ALTER TYPE app.mood RENAME TO feeling; ALTER DOMAIN app.posint RENAME TO positive'),
          'applied', 'the types of two columns are renamed');
SELECT ok(pg_temp.snapshot_is_schema(), 'renamed column types: the snapshot is the schema');

SELECT is(migrate_apply('c_007', 'ALTER FUNCTION app.twice(integer) RENAME TO double; ALTER FUNCTION app.touch() RENAME TO stamp'),
          'applied', 'the functions of a default, an index and a trigger are renamed');
SELECT ok(pg_temp.snapshot_is_schema(), 'renamed functions: the snapshot is the schema');

SELECT is(migrate_apply('c_008', 'ALTER INDEX app.owners_pkey SET (fillfactor = 70); ALTER INDEX app.tickets_owner_idx SET (fillfactor = 80)'),
          'applied', 'index options, one of a primary key');
SELECT ok(pg_temp.snapshot_is_schema(), 'index options: the snapshot is the schema');

SELECT is(migrate_apply('c_009', 'ALTER TABLE app.tickets DROP COLUMN qty; ALTER TABLE app.tickets ALTER COLUMN mood TYPE text'),
          'applied', 'a dropped column and a column type changed');
SELECT ok(pg_temp.snapshot_is_schema(), 'a dropped column and a new type: the snapshot is the schema');

SELECT is(migrate_apply('c_010', 'ALTER SCHEMA app RENAME TO shop'), 'applied', 'the schema is renamed');
SELECT ok(pg_temp.snapshot_is_schema(), 'a renamed schema: the snapshot is the schema');

-- a change outside migrations (drift), then a migration that touches something else
ALTER TABLE shop.extra ADD COLUMN manual text;
CREATE INDEX manual_idx ON shop.extra (manual);
SELECT is(migrate_apply('c_011', 'CREATE TABLE shop.more (id integer PRIMARY KEY)'), 'applied',
          'a migration after changes made by hand');
SELECT ok(pg_temp.snapshot_is_schema(), 'changes made by hand are in the next snapshot');

-- several migrations in one transaction, the same column renamed twice
BEGIN;
SELECT is(migrate_apply('c_012', 'ALTER TABLE shop.tickets RENAME COLUMN remark TO comment'), 'applied',
          'first of two migrations in one transaction');
SELECT ok(pg_temp.snapshot_is_schema(), 'its snapshot is the schema');
SELECT is(migrate_apply('c_013', 'ALTER TABLE shop.tickets RENAME COLUMN comment TO body'), 'applied',
          'second migration of the transaction renames the same column again');
SELECT ok(pg_temp.snapshot_is_schema(), 'its snapshot is the schema too');
COMMIT;

-- a view replaced, a function's body and settings changed, a trigger disabled
SELECT is(migrate_apply('c_014', $sql$
    CREATE OR REPLACE VIEW shop.ticket_view AS SELECT t.id, t.body AS note, o.name, t.score FROM shop.tickets t JOIN shop.people o ON o.id = t.owner_id;
    CREATE OR REPLACE FUNCTION shop.double(integer) RETURNS integer LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS 'SELECT $1 + $1';
    ALTER TABLE shop.tickets DISABLE TRIGGER tickets_touch;
$sql$), 'applied', 'a view, a function and a trigger changed in place');
SELECT ok(pg_temp.snapshot_is_schema(), 'changed in place: the snapshot is the schema');

-- without the cache (as after a restore) a snapshot reads everything
DELETE FROM steward.schema_object_cache;
SELECT is(migrate_apply('c_015', 'DROP VIEW shop.ticket_view'), 'applied', 'a migration without the cache');
SELECT ok(pg_temp.snapshot_is_schema(), 'without the cache: the snapshot is the schema');
SELECT is((SELECT count(*)::int FROM steward.schema_snapshots), 15, 'one snapshot per migration');

SELECT * FROM finish();
