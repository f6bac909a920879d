"""A paid payout run in the past for Västra Götaland, made through the services, so that the clinics see Utbetalda
with Vår referens and the coordinator sees a run with its file and notices.

Loaded before the demo invoices (portal/demo/invoices.py), and the run only takes invoices that came in by its
payout date, so it never takes those. Idempotent: a region that already has a paid run is left as it is.
"""

from __future__ import annotations

import datetime
from collections import Counter

from django.utils import timezone

from billing import services as billing_services
from claims.models import Invoice
from claims.validation import ValidationContext
from clinics.models import Clinic, Region, User
from payouts import bankdays
from payouts.models import PayoutRun, PayoutRunState
from payouts.services import payout_run_create, payout_run_file_download, payout_runs_mark_paid

from .invoices import DemoClaim, DemoClinic, _draft, _ocr_number, _tariff_covers

REGION = "vg"
COORDINATOR = "samordnare.vg@demo.test"
BILLER = "fakturerare@demo.test"
PATIENT = "200001012384"  # N1 tills vidare in Västra Götaland
PAYOUT_DAYS_AGO = 8  # the payout date is the last bank day on or before this many days ago
# The invoices came in more than 30 days ago, outside Era fakturor's default period, so that the default lists
# stay as portal.demo.invoices makes them (tests count them): Utbetalda shows them with a period from 6 weeks back.
# Clinic number, invoice key, days before today it came in, claims.
CLINICS = (
    ("31", "7", 40, (DemoClaim("DEMO-P1", "", ("101", "121"), 45), DemoClaim("DEMO-P2", "", ("301",), 46))),
    ("32", "7", 35, (DemoClaim("DEMO-P3", "", ("103",), 38),)),
)


def demo_payout_date(today: datetime.date) -> datetime.date:
    day = today - datetime.timedelta(days=PAYOUT_DAYS_AGO)
    while not bankdays.is_bank_day(day):
        day -= datetime.timedelta(days=1)
    return day


def demo_payouts_load(counts: Counter) -> None:
    region = Region.objects.filter(code=REGION).first()
    if region is None:
        return
    if PayoutRun.objects.filter(region=region, state=PayoutRunState.PAID).exists():
        counts["unchanged"] += 1
        return
    today = timezone.localdate()
    payout_date = demo_payout_date(today)
    biller = User.objects.get(email=BILLER)
    coordinator = User.objects.get(email=COORDINATOR)
    clinics = {number: Clinic.objects.get(region=region, number=number) for number, *_rest in CLINICS}
    if not all(_tariff_covers(clinic, today - datetime.timedelta(days=60), today) for clinic in clinics.values()):
        return
    for number, key, days_ago, items in CLINICS:
        clinic = clinics[number]
        sent_on = today - datetime.timedelta(days=days_ago)
        received_at = timezone.make_aware(datetime.datetime.combine(sent_on, datetime.time(9)))
        demo = DemoClinic(
            region=REGION,
            number=number,
            biller=BILLER,
            coordinator=COORDINATOR,
            personal_identity_number=PATIENT,
            care_model="K1",
            patient_category="N1",
            patient_fee=10000,
        )
        drafts = [_draft(demo, item, today) for item in items]
        context = ValidationContext(clinic=clinic, drafts=drafts)
        reference = _ocr_number(clinic, key)
        for draft in drafts:
            billing_services.claim_submit(
                actor=biller, clinic=clinic, invoice_reference=reference, draft=draft, context=context
            )
        # As if sent before the payout date: the run takes only invoices that came in by then.
        Invoice.objects.filter(clinic=clinic, reference=reference).update(received_at=received_at)
    run = payout_run_create(actor=coordinator, region=region, payout_date=payout_date, today=payout_date).run
    # The coordinator sent the bank its payment file (which tells the clinics): only then is a run paid.
    payout_run_file_download(actor=coordinator, run=run)
    payout_runs_mark_paid(today=today)
    counts["created"] += 1
