"""Code 901 (tandtekniska kostnader, at actual cost) may be billed more than once for a patient on a day: so the
demo's lists say from now on, and so are the lists read in before the tariff import had the column "Får upprepas".
"""

from django.db import migrations


def repeatable_901(apps, schema_editor):
    TariffRow = apps.get_model("claims", "TariffRow")
    TariffRow.objects.filter(code="901").update(repeatable=True)


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0005_tariff_row_repeatable_and_payout_cancelled"),
    ]

    operations = [
        migrations.RunPython(repeatable_901, migrations.RunPython.noop),
    ]
