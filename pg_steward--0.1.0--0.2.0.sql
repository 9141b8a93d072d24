-- pg_steward 0.1.0 -> 0.2.0: upgrade script.
--
-- 0.1.0 is the first release; its install script is never changed again.
-- A new installation of 0.2.0 runs pg_steward--0.1.0.sql and then this
-- script, so a fresh database and an upgraded one are built by the same SQL.
--
-- 0.2.0 adds adoption from other migration tools (migrate_import).

\echo Use "ALTER EXTENSION pg_steward UPDATE TO '0.2.0'" to load this file. \quit
