"""Summaries for the coordinator's start page, so that its figures never aggregate the whole claims table.

`ClaimMonthFigure` holds, per clinic, month (the invoice's *Inkom* month, Swedish time), support form and state,
the claims' amount and number: the month's figures leave out deleted and voided claims (`reports.selectors`), and
the claims waiting for the coordinator are the received and under-review ones of every month. Statement-level
triggers on the claims and invoices tables (migration 0001) write a row of differences for every statement that
changes them — a claim stored, moved to another state, deleted, its invoice's Inkom moved — in the same
transaction as the change, and add no query to the claim's submission. Many rows may so hold one key's figures;
the readers sum them, and `reports.tasks.claim_month_figures_compact` folds them into one row per key now and then
so that the sums stay short. `reports.services.claim_month_figures_recount` rebuilds everything from the claims.
"""

from __future__ import annotations

from django.db import models

from clinics.models import Clinic, Region
from portal.tenancy import TenantQuerySet


class ClaimMonthFigureQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "region"


class ClaimMonthFigure(models.Model):
    """A difference (or, once compacted, the sum) of one clinic's claims in one month, support form and state."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    month = models.DateField()  # the first day of the month
    support_form = models.CharField(max_length=1)
    state = models.CharField(max_length=20)
    amount = models.BigIntegerField()  # öre
    claims = models.IntegerField()

    objects = ClaimMonthFigureQuerySet.as_manager()

    class Meta:
        indexes = [
            # The start page's sums read the region's rows of a year (7 000 at 1 M claims) from this index alone,
            # every column they need in it, rather than from the table's pages (reports.selectors.amounts).
            models.Index(
                fields=["region", "month"],
                include=["state", "clinic", "support_form", "amount", "claims"],
                name="claim_month_figure_region_all",
            ),
            # The claims waiting (received, under review) of every month: their count and amount from the index.
            models.Index(fields=["region", "state"], include=["claims", "amount"], name="claim_month_figure_open"),
        ]

    def __str__(self) -> str:
        return f"{self.clinic_id} {self.month:%Y-%m} {self.support_form} {self.state}"
