# Every claim moved (a payout run moves 100 000, the daily job marks them paid) writes an entry in each of the claims
# table's indexes: the ones nothing reads cost that for nothing. Dropped: the index of the clinic key alone (every
# (clinic, …) index serves a look-up by clinic, and the foreign key's check) and of the patient key alone (served
# by (patient, support_form)); the prior assessment's key is indexed where it is set only (most claims have none).
# Built and dropped without locking out writes: the claims table holds millions of rows.

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# The names Django gave the foreign keys' indexes (schema_editor._create_index_name: the same in every database).
DROPPED = (
    "claims_claim_clinic_id_6c61d26f",
    "claims_claim_patient_id_c2aa2b02",
    "claims_claim_prior_assessment_id_047f968e",
)
RESTORED = {
    "claims_claim_clinic_id_6c61d26f": "clinic_id",
    "claims_claim_patient_id_c2aa2b02": "patient_id",
    "claims_claim_prior_assessment_id_047f968e": "prior_assessment_id",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("claims", "0015_claim_invoice_state_and_reference_indexes"),
        ("clinics", "0016_umbrella_organisations"),
        ("eligibility", "0004_free_card_region"),
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
                migrations.AlterField(
                    model_name="claim",
                    name="clinic",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="claims",
                        to="clinics.clinic",
                    ),
                ),
                migrations.AlterField(
                    model_name="claim",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="claims",
                        to="eligibility.patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="claim",
                    name="prior_assessment",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="claims",
                        to="eligibility.priorassessment",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {name};",
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON claims_claim ({RESTORED[name]});",
                )
                for name in DROPPED
            ],
        ),
    ]
