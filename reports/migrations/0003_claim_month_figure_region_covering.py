# The start page's sums (reports.selectors.amounts) read the region's summary rows of a year: with every column they
# need in the index, an index-only scan instead of a visit to each row's page. It replaces the (region, month)
# index, made first so that the readers always have one.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0016_umbrella_organisations"),
        ("reports", "0002_claim_figures_update_by_invoice"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="claimmonthfigure",
            index=models.Index(
                fields=["region", "month"],
                include=("state", "clinic", "support_form", "amount", "claims"),
                name="claim_month_figure_region_all",
            ),
        ),
        migrations.RemoveIndex(model_name="claimmonthfigure", name="claim_month_figure_region"),
    ]
