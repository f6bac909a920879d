"""The database role the portal runs as: it owns nothing, and may only add to and read the two logs.

Migrations run as the owner role (the tables' owner). After each migration the owner grants the app role
(`manage.py db_grant_app_role tandportal_app`, run by the web container's start):

- ordinary SELECT, INSERT, UPDATE and DELETE on every table, and the sequences for new ids;
- on the audit log and the access log SELECT and INSERT only: no UPDATE, DELETE or TRUNCATE; nothing at all on
  their monthly partitions (rows go in and are read through the partitioned table, whose rights are checked);
  the record of archived months (`portal_logarchive`) only read;
- EXECUTE on the function that makes the logs' coming months (portal.log_partitions, beat).

Not being the owner, the app role cannot ALTER TABLE (so not DISABLE TRIGGER), TRUNCATE or drop anything, and
`session_replication_role` (which would skip the append-only triggers) needs a superuser. What the owner
changes past the triggers, the audit log's hash chain shows (portal.audit_chain, `manage.py audit_verify`).
deploy/postgres-init/10-roles.sh creates the two roles for docker compose; docs/deployment.md has the SQL.
"""

from __future__ import annotations

from psycopg import sql

LOG_TABLES = ("portal_auditevent", "portal_accesslogentry", "portal_logarchive")
PARTITIONED_LOG_TABLES = ("portal_auditevent", "portal_accesslogentry")

# GRANT ... ON ALL TABLES reaches each partition too, where the parent's REVOKE does not: take it back there.
_PARTITIONS_REVOKE = """
DO $$
DECLARE part regclass;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = ANY({parents}::regclass[]) LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %I', part, {role});
    END LOOP;
END;
$$
"""


def app_role_grants(role: str) -> list[sql.Composed]:
    """The statements, run as the owner, that give `role` what the portal needs and no more."""
    name = sql.Identifier(role)
    logs = sql.SQL(", ").join(sql.Identifier(table) for table in LOG_TABLES)
    return [
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(name),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(name),
        sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {} FROM {}").format(logs, name),
        sql.SQL("REVOKE INSERT ON portal_logarchive FROM {}").format(name),
        sql.SQL(_PARTITIONS_REVOKE).format(parents=sql.Literal(list(PARTITIONED_LOG_TABLES)), role=sql.Literal(role)),
        sql.SQL("GRANT EXECUTE ON FUNCTION portal_log_partitions_ensure(integer) TO {}").format(name),
        # The migrations' own record is the owner's to write.
        sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON django_migrations FROM {}").format(name),
    ]


def app_role_grant(cursor, role: str) -> None:
    for statement in app_role_grants(role):
        cursor.execute(statement)
