"""The audit and access logs are append-only: the database itself refuses UPDATE and DELETE."""

from django.db import migrations

FUNCTION = """
CREATE FUNCTION portal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION portal_refuse_change();
"""

TABLES = ["portal_auditevent", "portal_accesslogentry"]


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION portal_refuse_change();"),
        *[
            migrations.RunSQL(TRIGGER.format(table=table), f"DROP TRIGGER {table}_append_only ON {table};")
            for table in TABLES
        ],
    ]
