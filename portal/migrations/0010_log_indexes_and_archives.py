"""The logs' indexes match the questions asked of them, each with the time (every one also within a month's
partition); the record of archived months (portal.log_partitions), append-only as the logs."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0016_umbrella_organisations"),
        ("portal", "0009_log_partitions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LogArchive",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("table", models.CharField(max_length=63)),
                ("partition", models.CharField(max_length=63, unique=True)),
                ("range_start", models.DateTimeField()),
                ("range_end", models.DateTimeField()),
                ("rows", models.BigIntegerField()),
                ("first_id", models.BigIntegerField(blank=True, null=True)),
                ("last_id", models.BigIntegerField(blank=True, null=True)),
                ("first_prev_hash", models.CharField(blank=True, default="", max_length=64)),
                ("last_hash", models.CharField(blank=True, default="", max_length=64)),
                ("file_name", models.CharField(max_length=200)),
                ("sha256", models.CharField(max_length=64)),
                ("archived_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "arkiverad loggmånad",
                "verbose_name_plural": "arkiverade loggmånader",
                "ordering": ["table", "range_start"],
            },
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="clinic",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="clinics.clinic",
            ),
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="personal_identity_number",
            field=models.CharField(max_length=12, verbose_name="Personnummer"),
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="region",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="clinics.region"
            ),
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="clinic_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="region_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="accesslogentry",
            index=models.Index(fields=["personal_identity_number", "occurred_at"], name="access_log_patient_time"),
        ),
        migrations.AddIndex(
            model_name="accesslogentry",
            index=models.Index(fields=["user", "occurred_at"], name="access_log_user_time"),
        ),
        migrations.AddIndex(
            model_name="accesslogentry",
            index=models.Index(fields=["clinic", "occurred_at"], name="access_log_clinic_time"),
        ),
        migrations.AddIndex(
            model_name="accesslogentry",
            index=models.Index(fields=["region", "occurred_at"], name="access_log_region_time"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["clinic_id", "occurred_at"], name="audit_clinic_time"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["region_id", "occurred_at"], name="audit_region_time"),
        ),
        migrations.RunSQL(
            "CREATE TRIGGER portal_logarchive_append_only BEFORE UPDATE OR DELETE ON portal_logarchive "
            "FOR EACH ROW EXECUTE FUNCTION portal_refuse_change();",
            "DROP TRIGGER portal_logarchive_append_only ON portal_logarchive;",
        ),
    ]
