-- src/privileges.sql: every GRANT and REVOKE of pg_steward, in one place.
-- The last part of the install script the build generates (src/README.md,
-- "SQL sources"), so that it applies to every object the areas created.
--
-- Every role may look names up in schema steward; what it may call is
-- decided per function.  Nothing in steward is readable or executable by
-- PUBLIC but the three pure functions meant for everybody (checked by the
-- security suite, docs/security.md); operators grant the rest to their
-- roles (docs/operations.md, "Roles and grants").  The yearly partitions
-- of steward.audit_events that steward.audit_ensure_partitions() creates
-- later get the same REVOKE when they are created.

REVOKE ALL ON SCHEMA steward FROM PUBLIC;
GRANT USAGE ON SCHEMA steward TO PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA steward FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA steward FROM PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA steward FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA steward FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward.migrate_checksum(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION steward.migrate_lint_rules() TO PUBLIC;
GRANT EXECUTE ON FUNCTION steward.version_from_name(text) TO PUBLIC;
