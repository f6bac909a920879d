"""Changes to claims, invoices and credits; each in one transaction with its audit record and claim event."""

from __future__ import annotations

import datetime
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics.models import Clinic, SupportForm, User
from eligibility.services import patients_get_or_create
from portal import validators
from portal.audit import audit_record, audit_record_many, snapshot
from portal.bulk import copy_insert

from .drafts import ClaimDraft, Fault
from .models import (
    OPEN_STATES,
    PATIENT_FEE_CODE,
    Claim,
    ClaimEvent,
    ClaimLine,
    ClaimState,
    CreditInvoice,
    CreditLine,
    Invoice,
    InvoiceSource,
)
from .validation import (
    ValidationContext,
    claim_amounts,
    claim_reference_used_fault,
    claim_validate,
    invoice_reference_fault,
)

CREDIT_SUFFIX = "_Kredit"


class ClaimRejected(Exception):
    """A claim was not stored: every fault found, each with its code and the message the user sees.

    `reference` names the claim when it was one of many (an invoice file's).
    """

    def __init__(self, faults: list[Fault], *, reference: str = ""):
        self.faults = list(faults)
        self.reference = reference
        super().__init__("; ".join(fault.message for fault in self.faults))


# Submitting -------------------------------------------------------------------------------------------------


def claim_submit(
    *,
    actor: User,
    clinic: Clinic,
    invoice_reference: str,
    draft: ClaimDraft,
    source: str = InvoiceSource.WEB,
    context: ValidationContext | None = None,
) -> Claim:
    """Validate a claim and store it under the invoice `invoice_reference`, or raise ClaimRejected.

    Whether the invoice number may be used is `claims.validation.invoice_reference_fault`'s to say: a web
    claim may join an invoice received today whose claims are all still under behandling (received, or put
    under review by the region's rules); an invoice number is otherwise used once. Two submits of the same
    claim at once (a double click) store one claim: the database's unique reference refuses the second. The
    region's review rules are not applied here: the clinic's billing desk stores and reviews in one transaction
    (`billing.services.claim_submit`).
    """
    context = context or ValidationContext(clinic=clinic, drafts=[draft])
    faults = claim_validate(clinic=clinic, draft=draft, context=context)
    invoice_reference = invoice_reference.strip()
    reference_fault = invoice_reference_fault(clinic=clinic, reference=invoice_reference, may_join_open=True)
    if reference_fault is not None:
        faults.insert(0, reference_fault)
    if faults:
        raise ClaimRejected(faults)
    with _reference_race_refused(clinic):
        invoice = invoice_for_claims(
            actor=actor, clinic=clinic, reference=invoice_reference, source=source, may_join_open=True
        )
        return _claims_store(actor=actor, invoice=invoice, drafts=[draft], context=context)[0]


def claims_submit(
    *, actor: User, invoice: Invoice, drafts: list[ClaimDraft], context: ValidationContext
) -> list[Claim]:
    """Validate many claims of one clinic (a chunk of an invoice file) and store them under `invoice`, in bulk.

    All of them or none: the first claim with a fault raises ClaimRejected naming it. Call inside the
    transaction that made the invoice (`invoice_for_claims`), with a context prepared for these drafts.
    """
    if not drafts:  # a chunk of an invoice file with faults only
        return []
    clinic = invoice.clinic
    for draft in drafts:
        faults = claim_validate(clinic=clinic, draft=draft, context=context)
        if faults:
            raise ClaimRejected(faults, reference=draft.reference)
    with _reference_race_refused(clinic):
        claims = _claims_store(actor=actor, invoice=invoice, drafts=drafts, context=context)
    # The claims are in the database now, which is where the next chunk reads their free-amount use from.
    context.free_amount_stored()
    return claims


@contextmanager
def _reference_race_refused(clinic: Clinic):
    """A claim reference stored by someone else meanwhile (a double click): refused as used, never a crash."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        if "claim_reference_unique_for_clinic" in str(error):
            raise ClaimRejected([claim_reference_used_fault()]) from None
        raise


def invoice_for_claims(*, actor: User, clinic: Clinic, reference: str, source: str, may_join_open: bool) -> Invoice:
    """The invoice claims are sent under: made now, or an existing one that `invoice_reference_fault` lets them
    join (with `may_join_open`: one received today whose claims are all still open); else ClaimRejected."""
    invoice, created = Invoice.objects.get_or_create(
        clinic=clinic, reference=reference, defaults={"source": source, "created_by": actor}
    )
    if created:
        audit_record(
            actor=actor,
            action="claims.invoice.received",
            obj=invoice,
            after=snapshot(invoice, ["reference", "source"]),
            clinic=clinic,
        )
        return invoice
    # Asked again under the invoice's lock: its claims cannot move on while these join it.
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    fault = invoice_reference_fault(clinic=clinic, reference=reference, may_join_open=may_join_open)
    if fault is not None:
        raise ClaimRejected([fault])
    return invoice


def _claims_store(
    *, actor: User, invoice: Invoice, drafts: list[ClaimDraft], context: ValidationContext
) -> list[Claim]:
    """Store validated drafts with their lines, events and audit records: a few statements however many."""
    clinic = invoice.clinic
    pins = [validators.normalize_personal_identity_number(draft.personal_identity_number) for draft in drafts]
    patients = patients_get_or_create(actor=actor, personal_identity_numbers=pins)
    claims: list[Claim] = []
    lines: list[list[ClaimLine]] = []
    for draft, pin in zip(drafts, pins, strict=True):
        eligibility = context.eligibility(pin, draft.visit_dates[0])
        certificate = (
            eligibility.option(draft.support_form).certificate
            if draft.support_form in (SupportForm.N, SupportForm.F)
            else None
        )
        fhb_number = draft.prior_assessment_number.strip()
        _total, _fee_total, priced = claim_amounts(draft, context)
        claim_lines = [
            ClaimLine(
                position=position,
                visit_date=line.visit_date,
                code=line.code,
                # Ids, not objects: setting a relation costs more than the row itself, tens of thousands of times.
                tariff_row_id=row.pk if row else None,
                tooth="" if line.code == PATIENT_FEE_CODE else line.tooth.strip(),
                jaw="" if line.code == PATIENT_FEE_CODE else line.jaw.strip(),
                amount=amount,
                comment=line.comment,
            )
            for position, (line, row, amount) in enumerate(priced, start=1)
        ]
        free_card = draft.free_card
        claims.append(
            Claim(
                invoice=invoice,
                clinic=clinic,
                reference=draft.reference,
                patient=patients[pin],
                support_form=draft.support_form,
                certificate=certificate,
                care_model=context.care_models.get(draft.care_model.strip()),
                patient_category=context.patient_categories.get(draft.patient_category.strip()),
                prior_assessment=next((a for a in eligibility.prior_assessments if a.number == fhb_number), None),
                free_card_number=free_card.number.strip() if free_card else "",
                free_card_valid_from=free_card.valid_from if free_card else None,
                free_card_valid_to=free_card.valid_to if free_card else None,
                comment=draft.comment,
                remaining_teeth=draft.remaining_teeth,
                intact_teeth=draft.intact_teeth,
                state=ClaimState.RECEIVED,
                # The totals are the sums of the lines stored with it, so that they always agree.
                total=sum(line.amount for line in claim_lines),
                patient_fee_total=sum(line.amount for line in claim_lines if line.is_patient_fee),
                created_by=actor,
            )
        )
        lines.append(claim_lines)
    copy_insert(Claim, claims, ids=True)
    for claim, claim_lines in zip(claims, lines, strict=True):
        for line in claim_lines:
            line.claim_id = claim.pk
    copy_insert(ClaimLine, (line for claim_lines in lines for line in claim_lines))
    actor_id = actor.pk if actor else None
    copy_insert(
        ClaimEvent,
        (ClaimEvent(claim_id=c.pk, from_state="", to_state=ClaimState.RECEIVED, actor_id=actor_id) for c in claims),
    )
    audit_record_many(
        actor=actor,
        action="claims.claim.submitted",
        changes=[
            (
                claim,
                None,
                {
                    **snapshot(claim, ["reference", "invoice", "support_form", "total", "patient_fee_total"]),
                    "lines": len(claim_lines),
                },
            )
            for claim, claim_lines in zip(claims, lines, strict=True)
        ],
        clinic=clinic,
    )
    return claims


# State changes ----------------------------------------------------------------------------------------------


# Locks are taken claim first, then its invoice, everywhere, so that two services never wait for each other.
def _lock(claim: Claim) -> Claim:
    return Claim.objects.select_for_update().get(pk=claim.pk)


def _lock_invoice_claims(invoice: Invoice) -> list[Claim]:
    return list(Claim.objects.select_for_update().filter(invoice=invoice).order_by("pk"))


def _refuse_unless_can_move(claim: Claim, state: str) -> None:
    if claim.can_move_to(state):
        return
    if state == ClaimState.VOIDED and claim.is_in_payout:
        message = _("Räkningen %(reference)s ingår i utbetalningen %(date)s och kan inte makuleras.") % {
            "reference": claim.reference,
            "date": claim.approved_on.isoformat(),
        }
        raise ValidationError(message, code="in_payout")
    message = _("Räkningen %(reference)s har status %(state)s och kan inte bli %(target)s.") % {
        "reference": claim.reference,
        "state": claim.get_state_display().lower(),
        "target": ClaimState(state).label.lower(),
    }
    raise ValidationError(message, code="state")


def _move(claim: Claim, state: str, actor: User | None, action: str, *, fields=(), reason: str = "") -> None:
    """Save the new state with `fields`, and write the claim event and the audit record."""
    before = claim.state
    claim.state = state
    claim.save(update_fields=["state", "updated_at", *fields])
    ClaimEvent.objects.create(claim=claim, from_state=before, to_state=state, actor=actor, reason=reason)
    audit_record(
        actor=actor,
        action=action,
        obj=claim,
        before={"state": before},
        after={"state": state, **snapshot(claim, list(fields))},
        clinic=claim.clinic_id,
    )


@transaction.atomic
def claim_delete(*, actor: User, claim: Claim) -> Claim:
    """The clinic withdraws a claim that has not been approved yet. It is kept, marked deleted."""
    claim = _lock(claim)
    if claim.state == ClaimState.DELETED:
        return claim
    if claim.state not in OPEN_STATES:
        raise ValidationError(
            _("Räkningen %(reference)s kan inte raderas: den har status %(state)s.")
            % {"reference": claim.reference, "state": claim.get_state_display().lower()},
            code="state",
        )
    _refuse_unless_can_move(claim, ClaimState.DELETED)
    _move(claim, ClaimState.DELETED, actor, "claims.claim.deleted")
    return claim


@transaction.atomic
def invoice_delete(*, actor: User, invoice: Invoice) -> Invoice:
    """Delete every claim of the invoice that is still open; refused when there is none (and some is left)."""
    claims = _lock_invoice_claims(invoice)
    open_claims = [claim for claim in claims if claim.state in OPEN_STATES]
    if not open_claims:
        if all(claim.state == ClaimState.DELETED for claim in claims):
            return invoice
        raise ValidationError(_("Fakturan har inga räkningar som kan raderas."), code="state")
    for claim in open_claims:
        claim_delete(actor=actor, claim=claim)
    audit_record(
        actor=actor,
        action="claims.invoice.deleted",
        obj=invoice,
        after={"claims": [claim.pk for claim in open_claims]},
        clinic=invoice.clinic_id,
    )
    return invoice


@transaction.atomic
def claim_start_review(*, actor: User, claim: Claim) -> Claim:
    claim = _lock(claim)
    if claim.state == ClaimState.UNDER_REVIEW:
        return claim
    _refuse_unless_can_move(claim, ClaimState.UNDER_REVIEW)
    _move(claim, ClaimState.UNDER_REVIEW, actor, "claims.claim.review_started")
    return claim


@transaction.atomic
def claim_approve(*, actor: User | None, claim: Claim, payout_date: datetime.date | None = None) -> Claim:
    """Approve for payout. Without `payout_date` (the coordinator's approval) `approved_on` stays empty, shown as
    "Godkänd, väntar på utbetalning"; with one, as a payout run approves (`claims_approve_for_payout`)."""
    claim = _lock(claim)
    if payout_date is not None:
        claims_approve_for_payout(actor=actor, claims=[claim], payout_date=payout_date)
        return claim
    if claim.state == ClaimState.APPROVED:
        return claim
    _refuse_unless_can_move(claim, ClaimState.APPROVED)
    _move(claim, ClaimState.APPROVED, actor, "claims.claim.approved")
    return claim


def claims_approve_for_payout(*, actor: User | None, claims: list[Claim], payout_date: datetime.date) -> None:
    """A payout run approves its claims for the payout date, shown as "Godkänd för utbetalning DATE".

    In a few statements however many claims (a run may pay 100 000); the caller holds their locks in its
    transaction. Claims under behandling become approved; claims the coordinator approved without a date get
    this one (an event, audit claims.claim.scheduled); a claim approved for a date keeps it. Each gets its
    event and audit record, as a single approval writes them. The instances are updated too.
    """
    moving = [claim for claim in claims if claim.state != ClaimState.APPROVED]
    dating = [claim for claim in claims if claim.state == ClaimState.APPROVED and claim.approved_on is None]
    for claim in moving:
        _refuse_unless_can_move(claim, ClaimState.APPROVED)
    changed = moving + dating
    if not changed:
        return
    now, date = timezone.now(), payout_date.isoformat()
    for ids in _in_batches([claim.pk for claim in changed]):
        Claim.objects.filter(pk__in=ids).update(state=ClaimState.APPROVED, approved_on=payout_date, updated_at=now)
    reason = _("Godkänd för utbetalning %(date)s") % {"date": date}
    actor_id = actor.pk if actor else None
    copy_insert(
        ClaimEvent,
        (
            ClaimEvent(
                claim_id=c.pk, from_state=c.state, to_state=ClaimState.APPROVED, actor_id=actor_id, reason=reason
            )
            for c in changed
        ),
    )
    for clinic_id, group in _by_clinic(moving):
        audit_record_many(
            actor=actor,
            action="claims.claim.approved",
            changes=[(c, {"state": c.state}, {"state": ClaimState.APPROVED, "approved_on": date}) for c in group],
            clinic=clinic_id,
        )
    for clinic_id, group in _by_clinic(dating):
        audit_record_many(
            actor=actor,
            action="claims.claim.scheduled",
            changes=[(c, {"approved_on": None}, {"approved_on": date}) for c in group],
            clinic=clinic_id,
        )
    for claim in changed:
        claim.state, claim.approved_on, claim.updated_at = ClaimState.APPROVED, payout_date, now


@transaction.atomic
def claim_mark_paid(*, actor: User | None, claim: Claim, paid_on: datetime.date, our_reference: str) -> Claim:
    """The claim was paid on `paid_on` under the region's payout reference, which the invoice shows."""
    our_reference = our_reference.strip()
    if not our_reference:
        raise ValidationError({"our_reference": _("Ange Vår referens för utbetalningen.")})
    claim = _lock(claim)
    if claim.state == ClaimState.PAID:
        return claim
    claims_mark_paid(actor=actor, claims=[claim], paid_on=paid_on)
    claim.invoice = invoice_payout_set(
        actor=actor, invoice=claim.invoice, our_reference=our_reference, payout_date=paid_on
    )
    return claim


def claims_mark_paid(*, actor: User | None, claims: list[Claim], paid_on: datetime.date) -> None:
    """Claims approved for payout are paid (utbetald) on `paid_on`, in a few statements however many.

    The caller holds their locks in its transaction; a claim paid already is left, any other state refused.
    """
    due = [claim for claim in claims if claim.state != ClaimState.PAID]
    for claim in due:
        _refuse_unless_can_move(claim, ClaimState.PAID)
    if not due:
        return
    now = timezone.now()
    for ids in _in_batches([claim.pk for claim in due]):
        Claim.objects.filter(pk__in=ids).update(state=ClaimState.PAID, paid_on=paid_on, updated_at=now)
    actor_id = actor.pk if actor else None
    copy_insert(
        ClaimEvent,
        (ClaimEvent(claim_id=c.pk, from_state=c.state, to_state=ClaimState.PAID, actor_id=actor_id) for c in due),
    )
    for clinic_id, group in _by_clinic(due):
        audit_record_many(
            actor=actor,
            action="claims.claim.paid",
            changes=[
                (c, {"state": c.state}, {"state": ClaimState.PAID, "paid_on": paid_on.isoformat()}) for c in group
            ],
            clinic=clinic_id,
        )
    for claim in due:
        claim.state, claim.paid_on, claim.updated_at = ClaimState.PAID, paid_on, now


def _in_batches(ids: list[int], size: int = 5000) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _by_clinic(claims: list[Claim]) -> list[tuple[int, list[Claim]]]:
    groups: dict[int, list[Claim]] = {}
    for claim in claims:
        groups.setdefault(claim.clinic_id, []).append(claim)
    return list(groups.items())


def invoice_payout_set(
    *, actor: User | None, invoice: Invoice, our_reference: str, payout_date: datetime.date
) -> Invoice:
    """Give the invoice the Vår referens and payout date Era fakturor shows (the latest payout of it).

    Call in the transaction of the payout; the invoice is locked after its claims, as everywhere.
    """
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if (invoice.our_reference, invoice.payout_date) == (our_reference, payout_date):
        return invoice
    before = snapshot(invoice, ["our_reference", "payout_date"])
    invoice.our_reference = our_reference
    invoice.payout_date = payout_date
    invoice.save(update_fields=["our_reference", "payout_date"])
    audit_record(
        actor=actor,
        action="claims.invoice.paid",
        obj=invoice,
        before=before,
        after=snapshot(invoice, ["our_reference", "payout_date"]),
        clinic=invoice.clinic_id,
    )
    return invoice


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Skriv varför räkningen makuleras.")})
    return reason


@transaction.atomic
def claim_void(*, actor: User, claim: Claim, reason: str) -> Claim:
    """The coordinator voids (makulerar) a claim that has not been paid, with a reason the clinic sees."""
    reason = _clean_reason(reason)
    claim = _lock(claim)
    if claim.state == ClaimState.VOIDED:
        return claim
    _refuse_unless_can_move(claim, ClaimState.VOIDED)
    claim.void_reason = reason
    _move(claim, ClaimState.VOIDED, actor, "claims.claim.voided", fields=["void_reason"], reason=reason)
    return claim


@transaction.atomic
def invoice_void(*, actor: User, invoice: Invoice, reason: str) -> Invoice:
    """Void every claim of the invoice that can still be voided; refused when none can."""
    reason = _clean_reason(reason)
    claims = _lock_invoice_claims(invoice)
    voidable = [claim for claim in claims if claim.can_move_to(ClaimState.VOIDED)]
    if not voidable:
        if any(claim.state == ClaimState.VOIDED for claim in claims):
            return invoice
        raise ValidationError(_("Fakturan har inga räkningar som kan makuleras."), code="state")
    for claim in voidable:
        claim_void(actor=actor, claim=claim, reason=reason)
    audit_record(
        actor=actor,
        action="claims.invoice.voided",
        obj=invoice,
        after={"claims": [claim.pk for claim in voidable], "reason": reason},
        clinic=invoice.clinic_id,
    )
    return invoice


# Credits ----------------------------------------------------------------------------------------------------


def _already_credited() -> ValidationError:
    return ValidationError(_("Åtgärden är redan krediterad."), code="already_credited")


def _credit_reference(invoice: Invoice) -> str:
    """<invoice>_Kredit, then <invoice>_Kredit-2, -3 … for the invoice's later credits."""
    base = f"{invoice.reference}{CREDIT_SUFFIX}"
    taken = set(
        CreditInvoice.objects.filter(clinic_id=invoice.clinic_id, reference__startswith=base).values_list(
            "reference", flat=True
        )
    )
    reference, number = base, 1
    while reference in taken:
        number += 1
        reference = f"{base}-{number}"
    return reference


@transaction.atomic
def claim_credit(*, actor: User, claim: Claim, line_ids: list[int] | None = None) -> CreditInvoice:
    """Credit a paid claim: all of it that is not credited yet (`line_ids` None), or the chosen treatment lines.

    Amounts: a line is credited with its own amount. Patient-fee lines cannot be chosen; they go with the
    credit that leaves no treatment line uncredited, so that the credits of a claim add up to its total
    (crediting a whole claim at once credits exactly its total). A line is credited once only: the claim is
    locked here, and the database refuses a second credit of a line whatever happens.
    """
    claim = _lock(claim)
    if claim.state == ClaimState.CREDITED:
        raise _already_credited()
    if claim.state != ClaimState.PAID:
        raise ValidationError(
            _("Bara utbetalda räkningar kan krediteras. Räkningen %(reference)s har status %(state)s.")
            % {"reference": claim.reference, "state": claim.get_state_display().lower()},
            code="state",
        )
    lines = list(claim.lines.select_related("credit").order_by("position"))
    uncredited = [line for line in lines if not hasattr(line, "credit")]
    treatments = [line for line in uncredited if not line.is_patient_fee]
    if line_ids is None:
        chosen = list(treatments)
    else:
        wanted = set(line_ids)
        known = {line.pk: line for line in lines}
        if not wanted or wanted - set(known):
            raise ValidationError({"line_ids": _("Välj de åtgärder som ska krediteras.")})
        if any(known[pk].is_patient_fee for pk in wanted):
            raise ValidationError(
                {"line_ids": _("Patientavgiften krediteras med räkningens sista åtgärd, inte för sig.")}
            )
        if any(hasattr(known[pk], "credit") for pk in wanted):
            raise _already_credited()
        chosen = [line for line in treatments if line.pk in wanted]
    if not chosen:
        raise _already_credited()
    completes = len(chosen) == len(treatments)
    if completes:
        chosen += [line for line in uncredited if line.is_patient_fee]
    total = sum(line.amount for line in chosen)
    if total < 0:
        raise ValidationError(
            _("Patientavgiften är större än det som återstår att kreditera. Kontakta tandvårdssamordningen."),
            code="negative_credit",
        )
    invoice = Invoice.objects.select_for_update().get(pk=claim.invoice_id)
    credit = CreditInvoice.objects.create(
        clinic_id=claim.clinic_id,
        invoice=invoice,
        reference=_credit_reference(invoice),
        total=total,
        created_by=actor,
    )
    try:
        with transaction.atomic():
            CreditLine.objects.bulk_create(
                [CreditLine(credit_invoice=credit, claim_line=line, amount=line.amount) for line in chosen]
            )
    except IntegrityError:
        raise _already_credited() from None
    audit_record(
        actor=actor,
        action="claims.credit_invoice.created",
        obj=credit,
        after={
            "claim": claim.pk,
            "reference": credit.reference,
            "total": total,
            "lines": [line.pk for line in chosen],
        },
        clinic=claim.clinic_id,
    )
    if completes:
        _move(claim, ClaimState.CREDITED, actor, "claims.claim.credited", reason=credit.reference)
    else:
        ClaimEvent.objects.create(
            claim=claim,
            from_state=claim.state,
            to_state=claim.state,
            actor=actor,
            reason=_("Delvis krediterad: %(reference)s") % {"reference": credit.reference},
        )
    return credit
