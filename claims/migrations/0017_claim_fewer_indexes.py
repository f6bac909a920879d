# Every claim moved (a payout run moves 100 000, the daily job marks them paid) writes an entry in each of the claims
# table's indexes: the ones nothing reads cost that for nothing. Dropped: the indexes Django gave the foreign keys
# of the clinic (every (clinic, …) index serves a look-up by clinic, and the key's check) and the patient (served by
# (patient, support_form)); of the certificate, care model, patient category and creator (no reverse relation,
# nothing looks claims up by them; those rows are never deleted, and a deletion's PROTECT check may read the table
# once); the prior assessment's key is indexed where it is set only (most claims have none). 17 indexes to 11.
# Built and dropped without locking out writes: the claims table holds millions of rows.

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# The names Django gave the foreign keys' indexes (schema_editor._create_index_name: the same in every database),
# with their column, to build them again when the migration is reversed.
DROPPED = {
    "claims_claim_clinic_id_6c61d26f": "clinic_id",
    "claims_claim_patient_id_c2aa2b02": "patient_id",
    "claims_claim_prior_assessment_id_047f968e": "prior_assessment_id",
    "claims_claim_certificate_id_946e915b": "certificate_id",
    "claims_claim_care_model_id_05470d85": "care_model_id",
    "claims_claim_patient_category_id_270167e3": "patient_category_id",
    "claims_claim_created_by_id_2bb498dd": "created_by_id",
}


def _unindexed(to: str, **options) -> models.ForeignKey:
    return models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, to=to, **options)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("claims", "0016_claim_line_claim_visit_index"),
        ("clinics", "0016_umbrella_organisations"),
        ("eligibility", "0004_free_card_region"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="claim",
            index=models.Index(
                condition=models.Q(("prior_assessment__isnull", False)),
                fields=["prior_assessment"],
                name="claim_prior_assessment",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField("claim", "clinic", _unindexed("clinics.clinic", related_name="claims")),
                migrations.AlterField("claim", "patient", _unindexed("eligibility.patient", related_name="claims")),
                migrations.AlterField(
                    "claim",
                    "prior_assessment",
                    _unindexed("eligibility.priorassessment", blank=True, null=True, related_name="claims"),
                ),
                migrations.AlterField(
                    "claim",
                    "certificate",
                    _unindexed("eligibility.certificate", blank=True, null=True, related_name="+"),
                ),
                migrations.AlterField(
                    "claim", "care_model", _unindexed("clinics.caremodel", blank=True, null=True, related_name="+")
                ),
                migrations.AlterField(
                    "claim",
                    "patient_category",
                    _unindexed("clinics.patientcategory", blank=True, null=True, related_name="+"),
                ),
                migrations.AlterField("claim", "created_by", _unindexed(settings.AUTH_USER_MODEL, related_name="+")),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {name};",
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON claims_claim ({column});",
                )
                for name, column in DROPPED.items()
            ],
        ),
    ]
