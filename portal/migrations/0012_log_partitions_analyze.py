from django.db import migrations


class Migration(migrations.Migration):
    """The logs' rows were moved into new month partitions (0009) that PostgreSQL keeps no statistics of until
    autovacuum reaches them: until then the planner guesses, and the Åtkomstlogg's search for a patient over two years
    read the region's whole time index (5 s at 5 M rows) instead of the patient's (9 ms). ANALYZE them now."""

    dependencies = [
        ("portal", "0011_audit_chain_next"),
    ]

    operations = [
        migrations.RunSQL(
            "ANALYZE portal_accesslogentry; ANALYZE portal_auditevent;",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
