"""A year of paid claims at the demo clinics, so that the coordinator's start page has months to show.

Made through the claim services like the other demo invoices (portal/demo/invoices.py) and then moved back in
time: a claim is submitted today, and its invoice's *Inkom*, its visits and its events are moved by the same
number of days to a day in an earlier month; then the region pays them as it does, through a payout run on each
payout date (portal/demo/runs.py), so that every paid month has its run and utbetalningsbesked. Only days at
least 31 days ago are used, so Era fakturor's default
period (the last 30 days) still shows the other demo invoices alone, and only months whose visits the
current tariff covers. Idempotent by the claims' references (DEMO-H<months ago>-<n>): a claim that
exists is left as it is. Dalarna's claims stay well inside its free amount (fribelopp) for the year.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import services as billing_services
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim, ClaimEvent, ClaimLine, Invoice, TariffVersion
from claims.validation import ValidationContext
from clinics.models import Clinic, SupportForm, User
from eligibility.selectors import eligibility_for
from payouts import bankdays
from portal import validators

from .runs import demo_run_pay

MONTHS_BACK = 11
MIN_DAYS_AGO = 31  # Era fakturor shows the last 30 days by default
DAYS_TO_PAYOUT = 12


@dataclass(frozen=True)
class HistoryClaim:
    personal_identity_number: str
    support_form: str
    codes: tuple[str, ...]  # "code" or "code:tooth"
    patient_fee: int = 0  # öre per visit
    care_model: str = ""
    patient_category: str = ""
    with_prior_assessment: bool = False  # billed on the patient's approved FHB at the clinic


@dataclass(frozen=True)
class HistoryClinic:
    region: str
    number: str
    biller: str
    coordinator: str
    per_month: int  # claims in a month: 1 to this many, varying by month
    claims: tuple[HistoryClaim, ...]  # taken in turn


# Patients of their own (fixtures/demo.json), so that the other demo patients' figures stay as the tests know
# them; S needs an approved prior assessment, and only the demo's FHB patient at clinic 31 has one.
N_PATIENT_VG = "200105205355"
F_PATIENT_VG = "200104016316"
N_PATIENT_DALARNA = "200106259005"
S_PATIENT_VG = "200001022383"

_N = HistoryClaim(N_PATIENT_VG, SupportForm.N, ("101", "121"), 10000, "K1", "N1")
_N_FILLING = HistoryClaim(N_PATIENT_VG, SupportForm.N, ("302", "703:36"), 10000, "K1", "N1")
_F = HistoryClaim(F_PATIENT_VG, SupportForm.F, ("107", "121"), 10000, "K1")
_F_ROOT = HistoryClaim(F_PATIENT_VG, SupportForm.F, ("501:21",), 10000, "K1")
_S = HistoryClaim(S_PATIENT_VG, SupportForm.S, ("101",), 10000, "K1", "S1", with_prior_assessment=True)
_N_DALARNA = HistoryClaim(N_PATIENT_DALARNA, SupportForm.N, ("101",), 10000, "", "N1")
_N_DALARNA_SMALL = HistoryClaim(N_PATIENT_DALARNA, SupportForm.N, ("301",), 10000, "", "N1")

HISTORY = (
    HistoryClinic("vg", "31", "fakturerare@demo.test", "samordnare.vg@demo.test", 3, (_N, _F, _S, _N_FILLING, _F_ROOT)),
    HistoryClinic("vg", "32", "fakturerare@demo.test", "samordnare.vg@demo.test", 2, (_F, _N_FILLING, _N)),
    HistoryClinic(
        "dalarna", "2001", "dalarna@demo.test", "samordnare.dalarna@demo.test", 1, (_N_DALARNA, _N_DALARNA_SMALL)
    ),
)


def _month_start(today: datetime.date, months_ago: int) -> datetime.date:
    index = today.year * 12 + today.month - 1 - months_ago
    return datetime.date(index // 12, index % 12 + 1, 1)


def _ocr(payload: str) -> str:
    return payload + validators.luhn_check_digit(payload)


@dataclass(frozen=True)
class Planned:
    reference: str
    invoice_reference: str
    item: HistoryClaim
    received_on: datetime.date
    visit_offset: int  # days before receipt


def _plan(clinic: Clinic, history: HistoryClinic, today: datetime.date, covered_from: datetime.date) -> list[Planned]:
    planned = []
    turn = 0
    for months_ago in range(MONTHS_BACK, 0, -1):
        count = 1 + (months_ago * 7 + len(history.number)) % history.per_month
        for index in range(count):
            item = history.claims[turn % len(history.claims)]
            turn += 1
            if item.with_prior_assessment and any(p.item.with_prior_assessment for p in planned):
                # The demo's FHB approves its 101 once: billed once (its page shows it partly used), N after that.
                item = history.claims[0]
            month = _month_start(today, months_ago)
            # Last month's claims come in on its first days when later ones would be within the last 30 days.
            received_on = min(
                month.replace(day=10 + 6 * index + months_ago % 4), today - datetime.timedelta(days=MIN_DAYS_AGO)
            )
            visit_offset = 2 + index
            if received_on < month:
                continue
            if received_on - datetime.timedelta(days=visit_offset) < covered_from:
                continue
            key = f"{months_ago:02d}{index}"
            planned.append(
                Planned(
                    reference=f"DEMO-H{months_ago:02d}-{index + 1}",
                    invoice_reference=_ocr(f"8{clinic.number}{key}"),
                    item=item,
                    received_on=received_on,
                    visit_offset=visit_offset,
                )
            )
    return planned


def demo_history_load(counts: Counter) -> None:
    """Create the past months' claims that are missing; count each as created or unchanged."""
    today = timezone.localdate()
    payout_dates: dict = {}
    coordinators: dict = {}
    for history in HISTORY:
        clinic = Clinic.objects.filter(region__code=history.region, number=history.number).first()
        version = (
            TariffVersion.objects.filter(region__code=history.region, valid_from__lte=today)
            .order_by("-valid_from")
            .first()
        )
        if clinic is None or version is None or not version.covers(today):
            continue
        # The demo's lists run back to the start of last year: history as far as they reach, twelve months at most.
        covered_from = TariffVersion.objects.filter(region__code=history.region).order_by("valid_from").first()
        planned = _plan(clinic, history, today, covered_from.valid_from)
        existing = set(
            Claim.objects.filter(clinic=clinic, reference__in=[p.reference for p in planned]).values_list(
                "reference", flat=True
            )
        )
        missing = [p for p in planned if p.reference not in existing]
        counts["unchanged"] += len(planned) - len(missing)
        if not missing:
            continue
        biller = User.objects.get(email=history.biller)
        drafts = {p.reference: _draft(clinic, p, today) for p in missing}
        for plan in missing:
            # A context of its own for each claim: its visits are today's until it is moved back, so the care of
            # the claims before it, moved back already, is not this one's, though a shared context would remember it.
            context = ValidationContext(clinic=clinic, drafts=[drafts[plan.reference]])
            with transaction.atomic():
                claim = billing_services.claim_submit(
                    actor=biller,
                    clinic=clinic,
                    invoice_reference=plan.invoice_reference,
                    draft=drafts[plan.reference],
                    context=context,
                )
                _move_back(claim, plan, today)
            payout_dates.setdefault(clinic.region, set()).add(_payout_date(plan))
            coordinators[clinic.region] = history.coordinator
            counts["created"] += 1
    # Paid as the region pays, month by month: a run on each payout date takes the claims that came in by then.
    for region, dates in payout_dates.items():
        coordinator = User.objects.get(email=coordinators[region])
        for payout_date in sorted(dates):
            demo_run_pay(region=region, coordinator=coordinator, payout_date=payout_date)


def _payout_date(plan: Planned) -> datetime.date:
    return bankdays.bank_day_on_or_after(plan.received_on + datetime.timedelta(days=DAYS_TO_PAYOUT))


def _draft(clinic: Clinic, plan: Planned, today: datetime.date) -> ClaimDraft:
    item = plan.item
    visit = today - datetime.timedelta(days=plan.visit_offset)
    lines = []
    for code in item.codes:
        code, _sep, tooth = code.partition(":")
        lines.append(LineDraft(visit_date=visit, code=code, tooth=tooth))
    prior_assessment = ""
    if item.with_prior_assessment:
        approved = eligibility_for(
            personal_identity_number=item.personal_identity_number, clinic=clinic, on_date=visit
        ).prior_assessments
        prior_assessment = approved[0].number if approved else ""
    return ClaimDraft(
        personal_identity_number=item.personal_identity_number,
        support_form=item.support_form,
        reference=plan.reference,
        lines=lines,
        patient_fees={visit: item.patient_fee} if item.patient_fee else {},
        care_model=item.care_model,
        patient_category=item.patient_category,
        prior_assessment_number=prior_assessment,
        comment="Demo: tidigare månad",
    )


def _move_back(claim: Claim, plan: Planned, today: datetime.date) -> None:
    """Date the claim as received on `plan.received_on`: its invoice, visits and events move together."""
    shift = plan.received_on - today
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    received_at = datetime.datetime.combine(plan.received_on, datetime.time(9, 30), tzinfo=zone)
    Invoice.objects.filter(pk=claim.invoice_id).update(received_at=received_at)
    Claim.objects.filter(pk=claim.pk).update(created_at=received_at)
    lines = list(ClaimLine.objects.filter(claim=claim))
    for line in lines:
        line.visit_date += shift
    ClaimLine.objects.bulk_update(lines, ["visit_date"])
    events = list(ClaimEvent.objects.filter(claim=claim))
    for event in events:
        event.occurred_at += shift
    ClaimEvent.objects.bulk_update(events, ["occurred_at"])
