# The start page's count and amount of the waiting claims (reports.selectors.region_workload) read the region's
# received and under-review rows of every month (2 700 at 1 M claims): from the index alone, as the sums of 0003.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_claim_month_figure_region_covering"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="claimmonthfigure",
            index=models.Index(fields=["region", "state"], include=("claims", "amount"), name="claim_month_figure_open"),
        ),
        migrations.RemoveIndex(model_name="claimmonthfigure", name="claim_month_figure_state"),
    ]
