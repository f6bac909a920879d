"""manage.py report_figures_recount: rebuild the start page's summaries from the claims.

For a database filled without triggers (bench/scale_fill.py copies with session_replication_role = replica, which
skips them) or repaired by hand; the triggers keep the figures right from then on."""

import time

from django.core.management.base import BaseCommand

from reports.models import ClaimMonthFigure
from reports.services import claim_month_figures_recount


class Command(BaseCommand):
    help = "Rebuild the start page's per-clinic, per-month figures from the claims."

    def handle(self, *args, **options):
        started = time.monotonic()
        claim_month_figures_recount()
        rows = ClaimMonthFigure.objects.count()
        self.stdout.write(f"{rows} rows of figures recounted in {time.monotonic() - started:.1f} s.")
