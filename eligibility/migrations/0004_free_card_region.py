"""A frikort belongs to a region: the region of the clinic that registered it.

Cards written before get it from that clinic (or, without one, from the registering user's region or clinic).
A number registered twice in a region for the same patient becomes one card covering both periods; the same
number on two patients of one region cannot be decided here and stops the migration, naming the cards.
"""

import django.contrib.postgres.constraints
import django.db.models.deletion
from django.contrib.postgres.fields import RangeOperators
from django.db import migrations, models

import eligibility.models


def fill_region(apps, schema_editor):
    FreeCard = apps.get_model("eligibility", "FreeCard")
    RegionMembership = apps.get_model("clinics", "RegionMembership")
    ClinicMembership = apps.get_model("clinics", "ClinicMembership")
    for card in FreeCard.objects.select_related("registered_at_clinic").order_by("pk"):
        if card.registered_at_clinic_id:
            region_id = card.registered_at_clinic.region_id
        else:
            region_id = (
                RegionMembership.objects.filter(user_id=card.registered_by_id).values_list("region_id", flat=True).first()
                or ClinicMembership.objects.filter(user_id=card.registered_by_id)
                .values_list("clinic__region_id", flat=True)
                .first()
            )
        if region_id is None:
            raise RuntimeError(f"frikort #{card.pk} {card.number}: no clinic or user region to give it")
        card.region_id = region_id
        card.save(update_fields=["region"])

    seen = {}
    for card in FreeCard.objects.order_by("pk"):
        first = seen.setdefault((card.region_id, card.number), card)
        if first.pk == card.pk:
            continue
        if first.patient_id != card.patient_id:
            raise RuntimeError(
                f"frikort {card.number} is registered on two patients in region #{card.region_id} "
                f"(#{first.pk}, #{card.pk}): correct one of them first"
            )
        first.valid_from = min(first.valid_from, card.valid_from)
        first.valid_to = max(first.valid_to, card.valid_to)
        first.save(update_fields=["valid_from", "valid_to"])
        card.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0005_account_change_and_invitation"),
        ("eligibility", "0003_prior_assessment_category_planned_date"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="freecard", name="free_card_no_overlap_with_other_number"),
        migrations.AddField(
            model_name="freecard",
            name="region",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="free_cards",
                to="clinics.region",
            ),
        ),
        migrations.RunPython(fill_region, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="freecard",
            name="region",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="free_cards", to="clinics.region"
            ),
        ),
        migrations.AddConstraint(
            model_name="freecard",
            constraint=models.UniqueConstraint(fields=("region", "number"), name="free_card_number_once_per_region"),
        ),
        migrations.AddConstraint(
            model_name="freecard",
            constraint=django.contrib.postgres.constraints.ExclusionConstraint(
                expressions=[
                    ("region", RangeOperators.EQUAL),
                    ("patient", RangeOperators.EQUAL),
                    ("number", RangeOperators.NOT_EQUAL),
                    (eligibility.models.DateRangeInclusive("valid_from", "valid_to"), RangeOperators.OVERLAPS),
                ],
                name="free_card_no_overlap_with_other_number",
            ),
        ),
    ]
