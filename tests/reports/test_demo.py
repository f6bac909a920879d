"""The demo gives the coordinator's start page a year to show, without changing what the clinics' lists show."""

import datetime

from django.utils import timezone

from claims.models import Claim
from portal.demo.history import MIN_DAYS_AGO
from reports import selectors


def test_the_demo_regions_have_claims_in_past_months(world):
    period = selectors.report_period()
    vg = selectors.amounts_by_month(region=world.vg, period=period)
    months_with_claims = [row for row in vg if row.amounts.total]
    assert len(months_with_claims) >= 6
    assert all(any(row.amounts.by_form[form] for row in vg) for form in "NFS")
    assert {row.number for row in selectors.amounts_by_clinic(region=world.vg, period=period)} == {"31", "32"}
    dalarna = selectors.amounts_by_month(region=world.dalarna, period=period)
    assert len([row for row in dalarna if row.amounts.total]) >= 6


def test_past_claims_came_in_before_era_fakturors_default_period_and_their_visits_before_that(world):
    latest = timezone.localdate() - datetime.timedelta(days=MIN_DAYS_AGO)
    history = Claim.objects.filter(reference__startswith="DEMO-H").select_related("invoice")
    assert history.exists()
    for claim in history:
        received = timezone.localdate(claim.invoice.received_at)
        assert received <= latest
        # Paid by a payout run, which takes the invoices that came in by its payout date (that day included).
        assert claim.paid_on and claim.paid_on >= received
        assert all(line.visit_date < received for line in claim.lines.all())
