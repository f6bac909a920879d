"""Changes to claims, invoices and credits; each in one transaction with its audit record and claim event."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics.models import Clinic, SupportForm, User
from eligibility.models import PriorAssessment
from eligibility.services import patients_get_or_create
from portal import validators
from portal.audit import AuditOutsideTransaction, audit_batch, audit_record, audit_record_many, snapshot
from portal.bulk import array_text, copy_insert, ids_assign
from portal.db import violated_constraint
from portal.events import NewClinicEvent, clinic_events_record, clinic_events_record_each
from portal.models import ClinicEventKind

from .audit import ClaimsAudit
from .drafts import ClaimDraft, Fault
from .models import (
    CLAIM_TRANSITIONS,
    OPEN_STATES,
    PATIENT_FEE_CODE,
    Claim,
    ClaimEvent,
    ClaimEventKind,
    ClaimLine,
    ClaimState,
    CreditInvoice,
    CreditLine,
    Invoice,
    InvoiceSource,
)
from .selectors import prior_assessment_billed_lines
from .validation import (
    ValidationContext,
    claim_amounts,
    claim_reference_used_fault,
    claim_validate,
    duplicate_care_stored_fault,
    invoice_reference_fault,
    prior_assessment_billed_of,
    prior_assessment_draft_lines,
    prior_assessment_use_faults,
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
    # The invoice's and the claim's audit records go into the chain together, when both are stored.
    with _reference_race_refused(clinic), audit_batch():
        # The clinic's care lock first, before any other: whoever waits for it holds nothing another waits for.
        care_lock(clinic=clinic)
        _prior_assessments_lock_and_check(clinic=clinic, drafts=[draft], context=context)
        invoice = invoice_for_claims(
            actor=actor, clinic=clinic, reference=invoice_reference, source=source, may_join_open=True
        )
        _care_check(clinic=clinic, drafts=[draft], context=context)
        return _claims_store(actor=actor, invoice=invoice, drafts=[draft], context=context, keep_lines=True)[0]


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
        care_lock(clinic=clinic)  # taken already when the caller took it first, as an invoice file's sending does
        _prior_assessments_lock_and_check(clinic=clinic, drafts=drafts, context=context)
        _care_check(clinic=clinic, drafts=drafts, context=context)
        claims = _claims_store(actor=actor, invoice=invoice, drafts=drafts, context=context)
    # The claims are in the database now, which is where the next chunk reads their free-amount use from.
    context.free_amount_stored()
    return claims


def _prior_assessments_lock_and_check(*, clinic: Clinic, drafts: list[ClaimDraft], context: ValidationContext) -> None:
    """Lock the FHBs the drafts bill and ask again, from the database, whether what is left takes them.

    The validation read the FHB's use before; another claim against it may have been stored since. Under the
    lock (taken in id order, so two sends never wait for each other) the second of two claims sent at once
    against the last of an FHB reads the first's lines and is refused with the validation's own words.
    """
    numbers = {draft.prior_assessment_number.strip() for draft in drafts} - {""}
    if not numbers:
        return
    assessments = {
        assessment.number: assessment
        for assessment in PriorAssessment.objects.of_clinic(clinic)
        .select_for_update()
        .filter(number__in=numbers)
        .order_by("pk")
        .prefetch_related("lines")
    }
    billed = prior_assessment_billed_lines(
        region=clinic.region_id, assessment_ids=[assessment.pk for assessment in assessments.values()]
    )
    for draft in drafts:
        assessment = assessments.get(draft.prior_assessment_number.strip())
        if assessment is None:
            continue
        lines = prior_assessment_draft_lines(draft, context.tariff)
        used = billed.setdefault(assessment.pk, [])
        faults = prior_assessment_use_faults(assessment=assessment, billed=used, lines=lines)
        if faults:
            raise ClaimRejected(faults, reference=draft.reference)
        used += prior_assessment_billed_of(lines)


@contextmanager
def _reference_race_refused(clinic: Clinic):
    """A claim reference stored by someone else meanwhile (a double click): refused as used, never a crash."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        if violated_constraint(error) == "claim_reference_unique_for_clinic":
            raise ClaimRejected([claim_reference_used_fault()]) from None
        raise


# A lock of its own kind: the two-key advisory locks (namespace, clinic id) meet no other lock of the portal.
_CARE_LOCK_NAMESPACE = "claims.care"


def care_lock(*, clinic: Clinic) -> None:
    """Take the clinic's care lock until the transaction ends (taking it again in the transaction is free).

    Claims are stored under it, after `_care_check`: two identical claims sent at once store one. Take it before
    any other lock of the storing (an invoice file's sending takes it before making its invoice), so that whoever
    waits for it holds nothing another is waiting for. One lock per clinic, not per patient: an invoice file of
    10 000 patients would otherwise fill PostgreSQL's lock table; the price is that a clinic's claims are stored
    one sending at a time (a web claim waits while a file of the same clinic is being sent).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [_CARE_LOCK_NAMESPACE, clinic.pk])


def _care_check(*, clinic: Clinic, drafts: list[ClaimDraft], context: ValidationContext) -> None:
    """Under the care lock, ask the database again whether a claim stored meanwhile has the drafts' care; the
    second of two identical claims sent at once is refused with "Åtgärd … finns redan på räkning …"."""
    found = duplicate_care_stored_fault(clinic=clinic, drafts=drafts, tariff=context.tariff)
    if found is not None:
        draft, fault, other_reference = found
        # The same claim sent twice (a double click): its reference is what was used.
        raise ClaimRejected(
            [claim_reference_used_fault() if other_reference == draft.reference else fault], reference=draft.reference
        )


def _insert_unless_there(obj: Model) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: True when `obj` was stored (it has its id then), False when a row with its
    unique values was there already. One statement, where get_or_create takes four (a read, a savepoint, the
    insert, its release); a row being stored by another transaction meanwhile is waited for, as by the insert."""
    meta = obj._meta
    fields = [field for field in meta.local_concrete_fields if not field.generated and field is not meta.auto_field]
    manager = type(obj)._base_manager
    rows = manager._insert(
        [obj], fields=fields, returning_fields=meta.db_returning_fields, on_conflict=OnConflict.IGNORE
    )
    if not rows or rows[0] is None:
        return False
    for value, field in zip(rows[0], meta.db_returning_fields, strict=True):
        setattr(obj, field.attname, value)
    obj._state.adding, obj._state.db = False, manager.db
    return True


def _lines_keep(claim: Claim, lines: list[ClaimLine], rows: list) -> None:
    """Let `claim.lines.all()` answer the lines just stored, as `prefetch_related` would have read them."""
    for line, row in zip(lines, rows, strict=True):
        ClaimLine.claim.field.set_cached_value(line, claim)
        ClaimLine.tariff_row.field.set_cached_value(line, row)
        ClaimLine.credit.related.set_cached_value(line, None)  # just stored: credited by nothing
    kept = claim.lines.all()
    kept._result_cache, kept._prefetch_done = list(lines), True
    claim._prefetched_objects_cache = {**getattr(claim, "_prefetched_objects_cache", {}), "lines": kept}


def invoice_for_claims(*, actor: User, clinic: Clinic, reference: str, source: str, may_join_open: bool) -> Invoice:
    """The invoice claims are sent under: made now, or an existing one that `invoice_reference_fault` lets them
    join (with `may_join_open`: one received today whose claims are all still open); else ClaimRejected."""
    invoice = Invoice(clinic=clinic, reference=reference, source=source, created_by=actor)
    if _insert_unless_there(invoice):
        audit_record(
            actor=actor,
            action=ClaimsAudit.INVOICE_RECEIVED,
            obj=invoice,
            after=snapshot(invoice, ["reference", "source"]),
            clinic=clinic,
        )
        return invoice
    # Asked again under the invoice's lock: its claims cannot move on while these join it.
    invoice = Invoice.objects.select_for_update().get(clinic=clinic, reference=reference)
    fault = invoice_reference_fault(clinic=clinic, reference=reference, may_join_open=may_join_open)
    if fault is not None:
        raise ClaimRejected([fault])
    return invoice


def _claims_store(
    *, actor: User, invoice: Invoice, drafts: list[ClaimDraft], context: ValidationContext, keep_lines: bool = False
) -> list[Claim]:
    """Store validated drafts with their lines, events and audit records: a few statements however many.

    With `keep_lines` (one claim from the form or the API) the lines get their ids too, and each claim keeps its
    lines as if prefetched (`claim.lines.all()`, each line's tariff row and no credit), as the database now has
    them: the review rules and the answer read them from there instead of asking again.
    """
    clinic = invoice.clinic
    pins = [validators.normalize_personal_identity_number(draft.personal_identity_number) for draft in drafts]
    # The validation read the patients it knows; only those it did not are asked for (and made) here.
    patients = context.known_patients(pins)
    if missing := [pin for pin in pins if pin not in patients]:
        patients.update(patients_get_or_create(actor=actor, personal_identity_numbers=missing))
    claims: list[Claim] = []
    lines: list[list[ClaimLine]] = []
    rows: list[list] = []  # each claim's lines' tariff rows
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
                patient_category=(
                    context.patient_categories.get(draft.patient_category.strip())
                    if draft.patient_category.strip()
                    else None
                ),
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
        rows.append([row for _line, row, _amount in priced])
    if keep_lines:
        ids_assign((Claim, claims), (ClaimLine, [line for claim_lines in lines for line in claim_lines]))
    copy_insert(Claim, claims, ids=True)
    for claim, claim_lines in zip(claims, lines, strict=True):
        for line in claim_lines:
            line.claim_id = claim.pk
    copy_insert(ClaimLine, (line for claim_lines in lines for line in claim_lines), ids=keep_lines)
    if keep_lines:
        for claim, claim_lines, claim_rows in zip(claims, lines, rows, strict=True):
            _lines_keep(claim, claim_lines, claim_rows)
    actor_id = actor.pk if actor else None
    copy_insert(
        ClaimEvent,
        (
            ClaimEvent(
                claim_id=c.pk,
                from_state="",
                to_state=ClaimState.RECEIVED,
                kind=ClaimEventKind.RECEIVED,
                actor_id=actor_id,
            )
            for c in claims
        ),
    )
    clinic_events_record(
        _clinic_event(
            claim, from_state="", event_kind=ClaimEventKind.RECEIVED, actor_id=actor_id, data={"total": claim.total}
        )
        for claim in claims
    )
    audit_record_many(
        actor=actor,
        action=ClaimsAudit.CLAIM_SUBMITTED,
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
    if state == ClaimState.VOIDED and claim.is_in_payout:
        message = _("Räkningen %(reference)s ingår i utbetalningen %(date)s och kan inte makuleras.") % {
            "reference": claim.reference,
            "date": claim.approved_on.isoformat(),
        }
        raise ValidationError(message, code="in_payout")
    CLAIM_TRANSITIONS.check(claim.state, state, {"reference": claim.reference})


def claims_move(
    *,
    actor: User | None,
    claims: Sequence[Claim],
    to_state: str,
    event_kind: str,
    action: ClaimsAudit,
    values: dict[str, Any] | None = None,
    params: dict | Callable[[Claim], dict] | None = None,
    audit_after: Callable[[Claim], dict] | None = None,
    event_data: dict | None = None,
) -> None:
    """The one way a claim's state changes, for one claim or 100 000: every service that moves claims calls it.

    Each claim must be allowed to move by CLAIM_TRANSITIONS (and a claim in a payout is never voided): the first
    that is not refuses them all before anything is written. The caller holds the claims' locks in its
    transaction and leaves out the claims already in `to_state` (its idempotent return). `values` are fields
    set with the state, the same for every claim; `params` the claim events' parameters (`ClaimEvent.params`),
    the same for every claim or per claim; `audit_after` adds to a claim's audit record; `event_data` to the
    clinic's event (portal.events: ids, amounts and dates only). Written in a few statements however many claims:
    one UPDATE, one COPY of claim events, one of clinic events, one of audit records per clinic.
    The instances are updated.
    """
    if not connection.in_atomic_block:
        # Outside one, the UPDATE would be committed before the audit record refused to be written alone.
        raise AuditOutsideTransaction(f"{action}: claims_move must run inside the caller's transaction")
    for claim in claims:
        _refuse_unless_can_move(claim, to_state)
    _claims_write(
        actor=actor,
        claims=claims,
        to_state=to_state,
        event_kind=event_kind,
        action=action,
        values=values or {},
        params=params,
        audit_after=audit_after,
        event_data=event_data,
    )


def _claims_write(
    *,
    actor: User | None,
    claims: Sequence[Claim],
    to_state: str,
    event_kind: str,
    action: ClaimsAudit,
    values: dict[str, Any],
    params: dict | Callable[[Claim], dict] | None,
    audit_after: Callable[[Claim], dict] | None = None,
    event_data: dict | None = None,
) -> None:
    """Update the claims, write their events and audit records in bulk. A claim already in `to_state` has its
    `values` changed without a move (a payout date given to an approved claim): its audit says what changed.

    The events are written as rows of values, not model instances: a payout run moves 100 000 claims."""
    if not claims:
        return
    now = timezone.now()
    _claims_update([claim.pk for claim in claims], {"state": to_state, "updated_at": now, **values})
    actor_id = actor.pk if actor else None
    names = list(values)
    changes = []
    for claim in claims:
        moved = claim.state != to_state
        before = {"state": claim.state} if moved else snapshot(claim, names)
        changes.append((claim, before, moved))
    to_state_value, kind_value = str(to_state), str(event_kind)
    claim_ids = [claim.pk for claim, _before, _moved in changes]
    from_states = [before["state"] if moved else to_state_value for _claim, before, moved in changes]
    _claim_events_insert(
        claim_ids=claim_ids,
        from_states=from_states,
        to_state=to_state_value,
        kind=kind_value,
        params=[_JSON_TEXT(params(claim)) for claim in claims] if callable(params) else _JSON_TEXT(params or {}),
        actor_id=actor_id,
        now=now,
    )
    for claim in claims:
        claim.state, claim.updated_at = to_state, now
        for name, value in values.items():
            setattr(claim, name, value)
    # The clinic's events (portal.events), as _clinic_event makes each, by the database from the id arrays.
    clinic_events_record_each(
        kind=_CLINIC_EVENT_KINDS.get(event_kind, ClinicEventKind.CLAIM_STATE_CHANGED),
        object_type="claim",
        object_ids=claim_ids,
        clinic_ids=[claim.clinic_id for claim in claims],
        data={"state": to_state_value, "change": kind_value, **_dates_of(values), **(event_data or {})},
        data_each={"invoice_id": [claim.invoice_id for claim in claims], "from_state": from_states},
        actor_id=actor_id,
    )
    # Every claim now holds `values`: their snapshot is the same for all.
    values_after = snapshot(claims[0], names)
    for clinic_id, group in _by_clinic(changes):
        audit_record_many(
            actor=actor,
            action=action,
            changes=[
                (
                    claim,
                    before,
                    {
                        **({"state": to_state} if moved else {}),
                        **values_after,
                        **(audit_after(claim) if audit_after else {}),
                    },
                )
                for claim, before, moved in group
            ],
            clinic=clinic_id,
        )


_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


def _claim_events_insert(
    *,
    claim_ids: list[int],
    from_states: list[str],
    to_state: str,
    kind: str,
    params: str | list[str],
    actor_id: int | None,
    now: datetime.datetime,
) -> None:
    """The claims' events, one each in the claims' order, made by the database from the id arrays in one INSERT
    (a payout run's 100 000 without a row built in Python); `params` the JSON text of every event's, or of each.
    The result is not read: in a pipeline (payouts.services) it runs while the caller goes on."""
    each = not isinstance(params, str)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ClaimEvent._meta.db_table} "  # noqa: S608 (names of ours)
            "(claim_id, from_state, to_state, kind, params, actor_id, occurred_at) "
            f"SELECT claim_id, from_state, %s, %s, {'params' if each else '%s'}::jsonb, %s, %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[]) WITH ORDINALITY AS each_event(claim_id, from_state, "
            "params, n) ORDER BY n",
            [
                to_state,
                kind,
                *(() if each else (params,)),
                actor_id,
                now,
                array_text(claim_ids),
                array_text(from_states),
                array_text(params if each else []),
            ],
        )


def claim_event_add(
    *, actor: User | None, claim: Claim, kind: str, params: dict, event_data: dict | None = None
) -> ClaimEvent:
    """Add to a claim's history what happened without a change of state (a question, a partial credit), and tell
    the clinic's event stream (`event_data`: the ids it needs, never the words).

    Call in the transaction of what happened, with the claim locked; the caller audits its own change.
    """
    event = ClaimEvent.objects.create(
        claim=claim, from_state=claim.state, to_state=claim.state, kind=kind, params=params, actor=actor
    )
    clinic_events_record(
        [
            _clinic_event(
                claim, from_state=claim.state, event_kind=kind, actor_id=actor.pk if actor else None, data=event_data
            )
        ]
    )
    return event


# What the clinic's event stream (portal.events) calls a claim event; any other kind is a change of state.
_CLINIC_EVENT_KINDS = {
    ClaimEventKind.VOIDED: ClinicEventKind.CLAIM_VOIDED,
    ClaimEventKind.CREDITED: ClinicEventKind.CLAIM_CREDITED,
    ClaimEventKind.PARTLY_CREDITED: ClinicEventKind.CLAIM_CREDITED,
    ClaimEventKind.QUESTION_ASKED: ClinicEventKind.CLAIM_QUESTION_ASKED,
    ClaimEventKind.QUESTION_ANSWERED: ClinicEventKind.CLAIM_QUESTION_ANSWERED,
}


def _clinic_event(
    claim: Claim, *, from_state: str, event_kind: str, actor_id: int | None, data: dict | None = None
) -> NewClinicEvent:
    """A claim event as the clinic's event stream tells it: states, the change's kind, ids, amounts and dates."""
    return NewClinicEvent(
        clinic_id=claim.clinic_id,
        kind=_CLINIC_EVENT_KINDS.get(event_kind, ClinicEventKind.CLAIM_STATE_CHANGED),
        object_type="claim",
        object_id=claim.pk,
        data={
            "invoice_id": claim.invoice_id,
            "from_state": from_state,
            "state": claim.state,
            "change": str(event_kind),
            **(data or {}),
        },
        actor_id=actor_id,
    )


def _dates_of(values: dict[str, Any]) -> dict[str, str | None]:
    """The dates among the values set with a move (approved_on, paid_on) for the clinic event; never free text."""
    return {
        name: value.isoformat() if value else None
        for name, value in values.items()
        if isinstance(value, datetime.date) or (value is None and name.endswith("_on"))
    }


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
    claims_move(
        actor=actor,
        claims=[claim],
        to_state=ClaimState.DELETED,
        event_kind=ClaimEventKind.DELETED,
        action=ClaimsAudit.CLAIM_DELETED,
    )
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
        action=ClaimsAudit.INVOICE_DELETED,
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
    claims_move(
        actor=actor,
        claims=[claim],
        to_state=ClaimState.UNDER_REVIEW,
        event_kind=ClaimEventKind.REVIEW_STARTED,
        action=ClaimsAudit.CLAIM_REVIEW_STARTED,
    )
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
    claims_move(
        actor=actor,
        claims=[claim],
        to_state=ClaimState.APPROVED,
        event_kind=ClaimEventKind.APPROVED,
        action=ClaimsAudit.CLAIM_APPROVED,
    )
    return claim


def claims_approve_for_payout(
    *, actor: User | None, claims: list[Claim], payout_date: datetime.date, redate: bool = False
) -> None:
    """A payout run approves its claims for the payout date, shown as "Godkänd för utbetalning DATE".

    In a few statements however many claims (a run may pay 100 000); the caller holds their locks in its
    transaction. Claims under behandling become approved; claims the coordinator approved without a date get
    this one (an event, audit claims.claim.scheduled); a claim approved for a date keeps it, unless `redate`
    (a payout run: a claim's approval date is always its run's date). Each gets its event and audit record, as
    a single approval writes them. The instances are updated too.
    """
    moving = [claim for claim in claims if claim.state != ClaimState.APPROVED]
    dating = [
        claim
        for claim in claims
        if claim.state == ClaimState.APPROVED
        and (claim.approved_on is None or (redate and claim.approved_on != payout_date))
    ]
    change = {
        "actor": actor,
        "to_state": ClaimState.APPROVED,
        "event_kind": ClaimEventKind.SCHEDULED_FOR_PAYOUT,
        "values": {"approved_on": payout_date},
        "params": {"date": payout_date.isoformat()},
    }
    claims_move(claims=moving, action=ClaimsAudit.CLAIM_APPROVED, **change)
    # Approved already: no move, so no table to ask; only the date is given.
    _claims_write(claims=dating, action=ClaimsAudit.CLAIM_SCHEDULED, **change)


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
    claims_move(
        actor=actor,
        claims=[claim for claim in claims if claim.state != ClaimState.PAID],
        to_state=ClaimState.PAID,
        event_kind=ClaimEventKind.PAID,
        action=ClaimsAudit.CLAIM_PAID,
        values={"paid_on": paid_on},
    )


def _claims_update(ids: list[int], values: dict[str, Any]) -> None:
    """Set `values` (fields by name) on the claims `ids`, in one statement whose ids are one array parameter:
    the ORM's `pk__in` writes and adapts a placeholder per id (Python time a payout run's 100 000 claims felt)."""
    meta, quote = Claim._meta, connection.ops.quote_name
    fields = [meta.get_field(name) for name in values]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE id = ANY(%s::bigint[])",  # noqa: S608 (field names)
            [
                *(
                    field.get_db_prep_save(value, connection)
                    for field, value in zip(fields, values.values(), strict=True)
                ),
                array_text(ids),
            ],
        )


def _by_clinic(changes: list[tuple]) -> list[tuple[int, list[tuple]]]:
    """(claim, ...) tuples grouped by the claim's clinic: an audit record names one clinic."""
    groups: dict[int, list[tuple]] = {}
    for change in changes:
        groups.setdefault(change[0].clinic_id, []).append(change)
    return list(groups.items())


def claims_payout_cancel(
    *,
    actor: User | None,
    claims: list[tuple[Claim, str, datetime.date | None]],
    payout_date: datetime.date,
) -> None:
    """A cancelled payout run gives its claims back as they were: each (claim, state, approved_on) before the run.

    Claims the run approved become received again; claims approved before keep being approved, with the date
    they had. Each gets the event "Utbetalningskörningen DATE makulerades" and its audit record. The caller holds
    the claims' locks in its transaction; any claim no longer approved is refused (paid already, say).
    """
    params = {"date": payout_date.isoformat()}
    for claim, _state, _approved_on in claims:
        if claim.state != ClaimState.APPROVED:
            raise CLAIM_TRANSITIONS.refusal(claim.state, ClaimState.RECEIVED, {"reference": claim.reference})
    groups: dict[tuple[str, datetime.date | None], list[Claim]] = {}
    for claim, state, approved_on in claims:
        groups.setdefault((state, approved_on), []).append(claim)
    for (state, approved_on), group in sorted(groups.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        change = {
            "actor": actor,
            "claims": group,
            "to_state": state,
            "event_kind": ClaimEventKind.PAYOUT_CANCELLED,
            "action": ClaimsAudit.CLAIM_PAYOUT_CANCELLED,
            "values": {"approved_on": approved_on},
            "params": params,
        }
        if state == ClaimState.APPROVED:
            _claims_write(**change)  # approved before the run: no move, only the date given back
        else:
            claims_move(**change)


def invoice_payout_set(
    *,
    actor: User | None,
    invoice: Invoice,
    our_reference: str,
    payout_date: datetime.date | None,
    action: ClaimsAudit = ClaimsAudit.INVOICE_PAID,
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
        action=action,
        obj=invoice,
        before=before,
        after=snapshot(invoice, ["our_reference", "payout_date"]),
        clinic=invoice.clinic_id,
    )
    return invoice


def invoices_payout_set(
    *,
    actor: User | None,
    invoices: Sequence[tuple[Invoice, str]],
    payout_date: datetime.date | None,
    action: ClaimsAudit = ClaimsAudit.INVOICE_PAID,
) -> None:
    """invoice_payout_set for many invoices, each (invoice, its Vår referens), in one UPDATE and one audit write
    per clinic: a payout run numbers a thousand invoices at a time. The caller has locked the invoices (after
    their claims) in its transaction and read their our_reference and payout_date; the instances are updated."""
    changed = [
        (invoice, our_reference)
        for invoice, our_reference in invoices
        if (invoice.our_reference, invoice.payout_date) != (our_reference, payout_date)
    ]
    if not changed:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Invoice._meta.db_table} AS invoice SET our_reference = changed.our_reference, "  # noqa: S608
            "payout_date = %s FROM unnest(%s::bigint[], %s::text[]) AS changed(id, our_reference) "
            "WHERE invoice.id = changed.id",
            [payout_date, array_text([invoice.pk for invoice, _ in changed]), array_text([ref for _, ref in changed])],
        )
    by_clinic: dict[int, list[tuple]] = {}
    for invoice, our_reference in changed:
        before = snapshot(invoice, ["our_reference", "payout_date"])
        invoice.our_reference, invoice.payout_date = our_reference, payout_date
        by_clinic.setdefault(invoice.clinic_id, []).append(
            (invoice, before, snapshot(invoice, ["our_reference", "payout_date"]))
        )
    for clinic_id, changes in by_clinic.items():
        audit_record_many(actor=actor, action=action, changes=changes, clinic=clinic_id)


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
    claims_move(
        actor=actor,
        claims=[claim],
        to_state=ClaimState.VOIDED,
        event_kind=ClaimEventKind.VOIDED,
        action=ClaimsAudit.CLAIM_VOIDED,
        values={"void_reason": reason},
        params={"reason": reason},
    )
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
        action=ClaimsAudit.INVOICE_VOIDED,
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
        action=ClaimsAudit.CREDIT_INVOICE_CREATED,
        obj=credit,
        after={
            "claim": claim.pk,
            "reference": credit.reference,
            "total": total,
            "lines": [line.pk for line in chosen],
        },
        clinic=claim.clinic_id,
    )
    credited = {"credit_invoice_id": credit.pk, "credit_total": total, "complete": completes}
    if completes:
        claims_move(
            actor=actor,
            claims=[claim],
            to_state=ClaimState.CREDITED,
            event_kind=ClaimEventKind.CREDITED,
            action=ClaimsAudit.CLAIM_CREDITED,
            params={"reference": credit.reference},
            event_data=credited,
        )
    else:
        claim_event_add(
            actor=actor,
            claim=claim,
            kind=ClaimEventKind.PARTLY_CREDITED,
            params={"reference": credit.reference},
            event_data=credited,
        )
    return credit
