"""The audit log becomes a hash chain: every row written before is chained here, in id order, by the owner.

The append-only trigger is switched off for the one UPDATE that fills in the hashes, inside this migration's
transaction, and on again before it commits.
"""

from django.db import migrations, models

from portal import audit_chain


def chain_existing_rows(apps, schema_editor):
    AuditEvent = apps.get_model("portal", "AuditEvent")
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [audit_chain.CHAIN_LOCK_KEY])
        cursor.execute("ALTER TABLE portal_auditevent DISABLE TRIGGER portal_auditevent_append_only")
        prev_hash = audit_chain.GENESIS
        batch = []
        rows = AuditEvent.objects.using(connection.alias).order_by("id").values(*audit_chain.HASHED_FIELDS)
        for row in rows.iterator(chunk_size=5000):
            row_hash = audit_chain.audit_event_hash(row, prev_hash)
            batch.append((prev_hash, row_hash, row["id"]))
            prev_hash = row_hash
            if len(batch) >= 5000:
                _write(cursor, batch)
                batch = []
        _write(cursor, batch)
        cursor.execute("ALTER TABLE portal_auditevent ENABLE TRIGGER portal_auditevent_append_only")


def _write(cursor, batch):
    if batch:
        cursor.executemany("UPDATE portal_auditevent SET prev_hash = %s, hash = %s WHERE id = %s", batch)


class Migration(migrations.Migration):
    dependencies = [("portal", "0003_service_window_region_recurrence")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
    ]
