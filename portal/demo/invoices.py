"""Demo invoices at clinics 31 (Västra Götaland) and 2001 (Dalarna), one in every state, made through the services.

Dates are relative to the day of loading, so the claims stay within the billing deadline and Era fakturor's
default period. Idempotent by the claims' references (DEMO-…): an invoice whose first claim exists is left as
it is. Skipped, silently, for a region that has no tariff covering the visit dates.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field

from django.utils import timezone

from billing import services as billing_services
from claims import services
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim, ClaimState, Invoice, TariffVersion
from claims.validation import ValidationContext
from clinics.models import Clinic, SupportForm, User
from payouts import bankdays
from portal import validators

from .runs import demo_run_pay


@dataclass(frozen=True)
class DemoClaim:
    reference: str
    state: str
    codes: tuple[str, ...]
    days_ago: int


@dataclass(frozen=True)
class DemoInvoice:
    key: str  # the OCR number's payload, made unique per clinic by its number
    claims: tuple[DemoClaim, ...]


@dataclass(frozen=True)
class DemoClinic:
    region: str
    number: str
    biller: str
    coordinator: str
    personal_identity_number: str
    care_model: str = ""
    patient_category: str = ""
    patient_fee: int = 0  # öre per visit; 0 where the patient pays none (85 or older in Dalarna)
    invoices: tuple[DemoInvoice, ...] = field(default=())


def _invoices(prefix: str) -> tuple[DemoInvoice, ...]:
    return (
        DemoInvoice(
            "1",
            (
                DemoClaim(f"{prefix}-A1", ClaimState.RECEIVED, ("101",), 3),
                DemoClaim(f"{prefix}-A2", ClaimState.UNDER_REVIEW, ("121", "301"), 4),
            ),
        ),
        DemoInvoice("2", (DemoClaim(f"{prefix}-B1", ClaimState.APPROVED, ("103",), 6),)),
        DemoInvoice("3", (DemoClaim(f"{prefix}-C1", ClaimState.PAID, ("101", "121"), 9),)),
        DemoInvoice(
            "4",
            (
                DemoClaim(f"{prefix}-D1", ClaimState.CREDITED, ("103",), 11),
                DemoClaim(f"{prefix}-D2", ClaimState.PAID, ("301",), 12),
            ),
        ),
        DemoInvoice("5", (DemoClaim(f"{prefix}-E1", ClaimState.VOIDED, ("121",), 14),)),
    )


DEMO_CLINICS = (
    DemoClinic(
        region="vg",
        number="31",
        biller="fakturerare@demo.test",
        coordinator="samordnare.vg@demo.test",
        personal_identity_number="200001012384",  # N1 tills vidare in Västra Götaland
        care_model="K1",
        patient_category="N1",
        patient_fee=10000,
        invoices=_invoices("DEMO"),
    ),
    DemoClinic(
        region="dalarna",
        number="2001",
        biller="dalarna@demo.test",
        coordinator="samordnare.dalarna@demo.test",
        personal_identity_number="191212121212",  # N tills vidare in Dalarna, over 85: no patient fee
        patient_category="N1",
        invoices=_invoices("DEMO"),
    ),
)
VOID_REASON = "Dubbelregistrerad: samma besök finns på en annan räkning (demo)."
PAYOUT_DAYS_AHEAD = 7
PAID_DAYS_AGO = 2


def demo_approved_payout_date(today: datetime.date) -> datetime.date:
    """The payout date of the demo's approved claims: the first bank day a week or more from today."""
    return bankdays.bank_day_on_or_after(today + datetime.timedelta(days=PAYOUT_DAYS_AHEAD))


def demo_paid_on(today: datetime.date) -> datetime.date:
    """The day the demo's paid claims were paid: the last bank day two or more days ago."""
    day = today - datetime.timedelta(days=PAID_DAYS_AGO)
    while not bankdays.is_bank_day(day):
        day -= datetime.timedelta(days=1)
    return day


def demo_invoices_load(counts: Counter) -> None:
    """Create the demo invoices that are missing; count each invoice as created or unchanged."""
    today = timezone.localdate()
    for demo in DEMO_CLINICS:
        clinic = Clinic.objects.select_related("region").filter(region__code=demo.region, number=demo.number).first()
        if clinic is None or not _tariff_covers(clinic, today - datetime.timedelta(days=14), today):
            continue
        biller = User.objects.get(email=demo.biller)
        coordinator = User.objects.get(email=demo.coordinator)
        existing = set(
            Claim.objects.filter(
                clinic=clinic, reference__in=[i.claims[0].reference for i in demo.invoices]
            ).values_list("reference", flat=True)
        )
        missing = [invoice for invoice in demo.invoices if invoice.claims[0].reference not in existing]
        counts["unchanged"] += len(demo.invoices) - len(missing)
        # One validation context for all the clinic's demo claims: the tariff and patient are read once.
        context = ValidationContext(
            clinic=clinic, drafts=[_draft(demo, item, today) for invoice in missing for item in invoice.claims]
        )
        for invoice in missing:
            _invoice_create(demo, clinic, invoice, biller=biller, coordinator=coordinator, today=today, context=context)
            counts["created"] += 1
        paid = [
            item
            for invoice in missing
            for item in invoice.claims
            if item.state in (ClaimState.PAID, ClaimState.CREDITED)
        ]
        if paid:
            # Paid as the region pays: a run on the payout date takes the invoices that came in by then (those
            # made just now came in today, after it), then the clinic credits what it credits.
            demo_run_pay(region=clinic.region, coordinator=coordinator, payout_date=demo_paid_on(today))
            for item in paid:
                if item.state == ClaimState.CREDITED:
                    billing_services.claim_credit(
                        actor=biller, claim=Claim.objects.get(clinic=clinic, reference=item.reference)
                    )


def _tariff_covers(clinic: Clinic, first: datetime.date, last: datetime.date) -> bool:
    versions = TariffVersion.objects.filter(region=clinic.region)
    return all(any(version.covers(day) for version in versions) for day in (first, last))


def _ocr_number(clinic: Clinic, key: str) -> str:
    payload = f"9{clinic.number}{key}"
    return payload + validators.luhn_check_digit(payload)


def _invoice_create(
    demo: DemoClinic,
    clinic: Clinic,
    invoice: DemoInvoice,
    *,
    biller: User,
    coordinator: User,
    today: datetime.date,
    context: ValidationContext,
) -> None:
    # All claims first: a claim may join an invoice only while the invoice's claims are all received.
    reference = _ocr_number(clinic, invoice.key)
    claims = [
        billing_services.claim_submit(
            actor=biller,
            clinic=clinic,
            invoice_reference=reference,
            draft=_draft(demo, item, today),
            context=context,
        )
        for item in invoice.claims
    ]
    if any(item.state in (ClaimState.PAID, ClaimState.CREDITED) for item in invoice.claims):
        # A paid invoice came in before it was paid: the day after its last visit.
        last_visit = today - datetime.timedelta(days=min(item.days_ago for item in invoice.claims))
        came_in = min(last_visit + datetime.timedelta(days=1), demo_paid_on(today))
        received_at = timezone.make_aware(datetime.datetime.combine(came_in, datetime.time(9)))
        Invoice.objects.filter(pk=claims[0].invoice_id).update(received_at=received_at)
        Claim.objects.filter(pk__in=[claim.pk for claim in claims]).update(created_at=received_at)
    for claim, item in zip(claims, invoice.claims, strict=True):
        _move_to(claim, item.state, coordinator=coordinator, today=today)


def _draft(demo: DemoClinic, item: DemoClaim, today: datetime.date) -> ClaimDraft:
    visit = today - datetime.timedelta(days=item.days_ago)
    return ClaimDraft(
        personal_identity_number=demo.personal_identity_number,
        support_form=SupportForm.N,
        reference=item.reference,
        lines=[LineDraft(visit_date=visit, code=code) for code in item.codes],
        patient_fees={visit: demo.patient_fee} if demo.patient_fee else {},
        care_model=demo.care_model,
        patient_category=demo.patient_category,
        comment="Demo",
    )


def _move_to(claim: Claim, state: str, *, coordinator: User, today: datetime.date) -> None:
    """Take a received claim the way the region would to `state`; paid (and credited) claims wait for the run."""
    if state == ClaimState.VOIDED:
        services.claim_void(actor=coordinator, claim=claim, reason=VOID_REASON)
    if state == ClaimState.UNDER_REVIEW:
        services.claim_start_review(actor=coordinator, claim=claim)
    if state == ClaimState.APPROVED:
        services.claim_approve(actor=coordinator, claim=claim, payout_date=demo_approved_payout_date(today))
