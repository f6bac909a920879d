"""Changes to patients, certificates, free cards and prior assessments; each audited in its transaction."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics.models import Clinic, PatientCategory, Region, SupportForm, User
from portal.audit import audit_record, audit_record_many, snapshot
from portal.db import violated_constraint
from portal.events import clinic_event_record
from portal.models import ClinicEventKind
from portal.uploads import check_attachment

from .audit import EligibilityAudit
from .models import (
    APPROVED_STATES,
    PRIOR_ASSESSMENT_TRANSITIONS,
    Certificate,
    FreeCard,
    Patient,
    PriorAssessment,
    PriorAssessmentAttachment,
    PriorAssessmentCounter,
    PriorAssessmentEvent,
    PriorAssessmentEventKind,
    PriorAssessmentLine,
    PriorAssessmentState,
)

_CERTIFICATE_FIELDS = ["support_form", "number", "group", "valid_from", "valid_to", "revoked_from", "revocation_reason"]
_FREE_CARD_FIELDS = ["number", "valid_from", "valid_to"]


def patient_get_or_create(*, actor: User | None, personal_identity_number: str) -> Patient:
    return patients_get_or_create(actor=actor, personal_identity_numbers=[personal_identity_number])[
        personal_identity_number
    ]


def patients_get_or_create(*, actor: User | None, personal_identity_numbers: Iterable[str]) -> dict[str, Patient]:
    """The patients of these (normalised) numbers by number, creating those we do not know; in a transaction."""
    wanted = set(personal_identity_numbers)
    patients = {p.personal_identity_number: p for p in Patient.objects.filter(personal_identity_number__in=wanted)}
    missing = sorted(wanted - patients.keys())
    if missing:
        # Another request may create one of them meanwhile; the unique number keeps it to one row.
        Patient.objects.bulk_create([Patient(personal_identity_number=pin) for pin in missing], ignore_conflicts=True)
        created = list(Patient.objects.filter(personal_identity_number__in=missing))
        audit_record_many(
            actor=actor, action=EligibilityAudit.PATIENT_CREATED, changes=[(patient, None, None) for patient in created]
        )
        patients.update((patient.personal_identity_number, patient) for patient in created)
    return patients


# Certificates ---------------------------------------------------------------------------------------------


def certificate_groups(*, region: Region) -> dict[str, set[str]]:
    """The region's certificate groups (patient categories) by support form."""
    groups: dict[str, set[str]] = {}
    for support_form, code in PatientCategory.objects.filter(region=region).values_list("support_form", "code"):
        groups.setdefault(support_form, set()).add(code)
    return groups


def certificate_terms_check(
    *,
    region: Region,
    support_form: str,
    group: str,
    valid_from: datetime.date,
    valid_to: datetime.date | None,
    groups: dict[str, set[str]] | None = None,
) -> None:
    """The rules a certificate's terms meet however they arrive (the form, an imported file); every fault at once.

    `groups` is `certificate_groups(region=region)`, for a caller that checks many certificates.
    """
    errors = {}
    if support_form not in (SupportForm.N, SupportForm.F):
        errors["support_form"] = _("Intyg utfärdas bara för N- och F-tandvård.")
    else:
        allowed = (groups if groups is not None else certificate_groups(region=region)).get(support_form, set())
        if not allowed:
            # A certificate's group is one of the region's patient categories: none listed, none to choose.
            errors["group"] = _(
                "Regionen har inga patientkategorier för %(form)s: intyg kan registreras när regionens lista finns."
            ) % {"form": SupportForm(support_form).label}
        elif group not in allowed:
            errors["group"] = _("Gruppen %(group)s finns inte för %(form)s i regionen. Välj en av: %(groups)s.") % {
                "group": group,
                "form": SupportForm(support_form).label,
                "groups": ", ".join(sorted(allowed)),
            }
    if valid_to is not None and valid_to < valid_from:
        errors["valid_to"] = _("Slutdatum kan inte ligga före startdatum.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def certificate_register(
    *,
    actor: User,
    region: Region,
    personal_identity_number: str,
    support_form: str,
    number: str,
    group: str,
    valid_from: datetime.date,
    valid_to: datetime.date | None,
    groups: dict[str, set[str]] | None = None,
) -> Certificate:
    certificate_terms_check(
        region=region, support_form=support_form, group=group, valid_from=valid_from, valid_to=valid_to, groups=groups
    )
    if Certificate.objects.filter(region=region, number=number).exists():
        raise ValidationError({"number": _("Intygsnummer %(number)s finns redan i regionen.") % {"number": number}})
    patient = patient_get_or_create(actor=actor, personal_identity_number=personal_identity_number)
    certificate = Certificate.objects.create(
        patient=patient,
        region=region,
        support_form=support_form,
        number=number,
        group=group,
        valid_from=valid_from,
        valid_to=valid_to,
        registered_by=actor,
    )
    audit_record(
        actor=actor,
        action=EligibilityAudit.CERTIFICATE_REGISTERED,
        obj=certificate,
        after=snapshot(certificate, _CERTIFICATE_FIELDS),
        region=region,
    )
    return certificate


@transaction.atomic
def certificate_end(*, actor: User, certificate: Certificate, valid_to: datetime.date) -> Certificate:
    certificate = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if valid_to < certificate.valid_from:
        raise ValidationError({"valid_to": _("Slutdatum kan inte ligga före startdatum.")})
    if certificate.valid_to == valid_to:
        return certificate
    before = snapshot(certificate, ["valid_to"])
    certificate.valid_to = valid_to
    certificate.save(update_fields=["valid_to"])
    audit_record(
        actor=actor,
        action=EligibilityAudit.CERTIFICATE_ENDED,
        obj=certificate,
        before=before,
        after=snapshot(certificate, ["valid_to"]),
        region=certificate.region_id,
    )
    return certificate


@transaction.atomic
def certificate_revoke(
    *, actor: User, certificate: Certificate, revoked_from: datetime.date, reason: str
) -> Certificate:
    """Withdraw a certificate from a date, with a reason; the certificate and its history are kept."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Ange skälet till att intyget återkallas.")})
    certificate = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if certificate.revoked_from is not None:
        raise ValidationError(_("Intyget återkallades redan %(date)s.") % {"date": certificate.revoked_from})
    before = snapshot(certificate, ["revoked_from", "revocation_reason"])
    certificate.revoked_from = revoked_from
    certificate.revocation_reason = reason
    certificate.revoked_by = actor
    certificate.save(update_fields=["revoked_from", "revocation_reason", "revoked_by"])
    audit_record(
        actor=actor,
        action=EligibilityAudit.CERTIFICATE_REVOKED,
        obj=certificate,
        before=before,
        after=snapshot(certificate, ["revoked_from", "revocation_reason"]),
        region=certificate.region_id,
    )
    return certificate


# Free cards -----------------------------------------------------------------------------------------------


FREE_CARD_OTHER_NUMBER = "free_card_no_overlap_with_other_number"
FREE_CARD_NUMBER_TAKEN = "free_card_number_once_per_region"


def _free_card_taken(card: FreeCard, patient: Patient) -> ValidationError:
    """The number is already a card of the region: the same card, only once."""
    if card.patient_id != patient.pk:
        return ValidationError({"number": _("Frikortsnumret är redan registrerat på en annan patient i regionen.")})
    return ValidationError(
        {
            "number": _(
                "Frikortet %(number)s är redan registrerat för patienten, giltigt %(from)s–%(to)s. "
                "Regionens tandvårdssamordning kan rätta det."
            )
            % {"number": card.number, "from": card.valid_from, "to": card.valid_to}
        }
    )


def _free_card_overlap() -> ValidationError:
    return ValidationError({"number": _("Patienten har redan ett frikort med ett annat nummer under den perioden.")})


@transaction.atomic
def free_card_register(
    *,
    actor: User,
    clinic: Clinic,
    personal_identity_number: str,
    number: str,
    valid_from: datetime.date,
    valid_to: datetime.date,
) -> FreeCard:
    """Register a frikort in the clinic's region; the same card registered again is found, not duplicated.

    The card is the region's: it counts at the region's clinics only, and no other region sees it.
    """
    number = number.strip()
    if valid_to < valid_from:
        raise ValidationError({"valid_to": _("Slutdatum kan inte ligga före startdatum.")})
    patient = patient_get_or_create(actor=actor, personal_identity_number=personal_identity_number)
    region = clinic.region
    existing = FreeCard.objects.of_region(region).filter(number=number).first()
    if existing is not None:
        if (existing.patient_id, existing.valid_from, existing.valid_to) == (patient.pk, valid_from, valid_to):
            return existing
        raise _free_card_taken(existing, patient)
    try:
        with transaction.atomic():
            card = FreeCard.objects.create(
                region=region,
                patient=patient,
                number=number,
                valid_from=valid_from,
                valid_to=valid_to,
                registered_by=actor,
                registered_at_clinic=clinic,
            )
    except IntegrityError as error:
        constraint = violated_constraint(error)
        if constraint == FREE_CARD_NUMBER_TAKEN:  # registered at the same moment by someone else
            raise _free_card_taken(FreeCard.objects.of_region(region).get(number=number), patient) from error
        if constraint != FREE_CARD_OTHER_NUMBER:
            raise
        raise _free_card_overlap() from error
    audit_record(
        actor=actor,
        action=EligibilityAudit.FREE_CARD_REGISTERED,
        obj=card,
        after=snapshot(card, _FREE_CARD_FIELDS),
        clinic=clinic,
        region=region.pk,
    )
    return card


@transaction.atomic
def free_card_end(*, actor: User, card: FreeCard, valid_to: datetime.date, reason: str) -> FreeCard:
    """A coordinator ends the region's card early (the patient's card was withdrawn, say), with a reason."""
    card = FreeCard.objects.select_for_update().get(pk=card.pk)
    if not card.valid_from <= valid_to <= card.valid_to:
        raise ValidationError(
            {
                "valid_to": _("Slutdatum ska ligga inom frikortets giltighet, %(from)s–%(to)s.")
                % {"from": card.valid_from, "to": card.valid_to}
            }
        )
    before = snapshot(card, _FREE_CARD_FIELDS)
    card.valid_to = valid_to
    card.save(update_fields=["valid_to"])
    audit_record(
        actor=actor,
        action=EligibilityAudit.FREE_CARD_ENDED,
        obj=card,
        before=before,
        after={**snapshot(card, _FREE_CARD_FIELDS), "reason": reason},
        region=card.region_id,
    )
    return card


@transaction.atomic
def free_card_correct(
    *,
    actor: User,
    card: FreeCard,
    number: str,
    valid_from: datetime.date,
    valid_to: datetime.date,
    reason: str,
) -> FreeCard:
    """A coordinator corrects the region's card (a mistyped number or dates), with a reason."""
    card = FreeCard.objects.select_for_update().get(pk=card.pk)
    number = number.strip()
    if valid_to < valid_from:
        raise ValidationError({"valid_to": _("Slutdatum kan inte ligga före startdatum.")})
    before = snapshot(card, _FREE_CARD_FIELDS)
    card.number, card.valid_from, card.valid_to = number, valid_from, valid_to
    try:
        with transaction.atomic():
            card.save(update_fields=["number", "valid_from", "valid_to"])
    except IntegrityError as error:
        constraint = violated_constraint(error)
        if constraint == FREE_CARD_NUMBER_TAKEN:
            other = FreeCard.objects.of_region(card.region_id).get(number=number)
            raise _free_card_taken(other, card.patient) from error
        if constraint != FREE_CARD_OTHER_NUMBER:
            raise
        raise _free_card_overlap() from error
    audit_record(
        actor=actor,
        action=EligibilityAudit.FREE_CARD_CORRECTED,
        obj=card,
        before=before,
        after={**snapshot(card, _FREE_CARD_FIELDS), "reason": reason},
        region=card.region_id,
    )
    return card


# Prior assessments ----------------------------------------------------------------------------------------


def _next_number(year: int) -> str:
    PriorAssessmentCounter.objects.get_or_create(year=year)
    counter = PriorAssessmentCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"FHB-{year}-{counter.last:06d}"


def _store_attachments(assessment: PriorAssessment, files, actor: User) -> list[PriorAssessmentAttachment]:
    # Every file is checked before any is written: a refused file rolls back the rows, but a file already
    # written to disk would stay there, unreferenced.
    checked_files = [(uploaded, check_attachment(uploaded)) for uploaded in files]
    stored = []
    for uploaded, checked in checked_files:
        attachment = PriorAssessmentAttachment(
            assessment=assessment,
            original_name=checked.name,
            content_type=checked.content_type,
            size=checked.size,
            sha256=checked.sha256,
            version=assessment.version,
            uploaded_by=actor,
        )
        # The stored name is ours, never the uploader's.
        attachment.file.save(f"{checked.sha256[:16]}{checked.extension}", uploaded, save=False)
        attachment.save()
        stored.append(attachment)
    return stored


def _request_snapshot(assessment: PriorAssessment) -> dict:
    """The request as it stands, kept in the history before an answer changes it."""
    return {
        "version": assessment.version,
        "justification": assessment.justification,
        "lines": [
            {"code": line.code, "tooth": line.tooth, "jaw": line.jaw, "estimated_price": line.estimated_price}
            for line in assessment.lines.all()
        ],
        "attachments": [
            {"id": a.pk, "name": a.original_name, "version": a.version} for a in assessment.attachments.all()
        ],
    }


def _event(assessment, kind, actor, text="", snapshot_data=None) -> PriorAssessmentEvent:
    return PriorAssessmentEvent.objects.create(
        assessment=assessment,
        kind=kind,
        author=actor,
        text=text,
        version=assessment.version,
        snapshot=snapshot_data or {},
    )


def _notify_clinic(assessment: PriorAssessment, event: PriorAssessmentEvent) -> None:
    from .tasks import send_prior_assessment_notice

    transaction.on_commit(lambda: send_prior_assessment_notice.delay(event.pk))


@transaction.atomic
def prior_assessment_request(
    *,
    actor: User,
    clinic: Clinic,
    personal_identity_number: str,
    support_form: str,
    justification: str,
    lines: list[dict],
    attachments: list,
    planned_date: datetime.date | None = None,
    patient_category: PatientCategory | None = None,
) -> PriorAssessment:
    """A clinic asks for a prior assessment: planned lines (code, tooth or jaw, estimated price in öre).

    The clinic's request form checks the lines against the region's tariff first (`billing.services`)."""
    if not lines:
        raise ValidationError(_("Ange minst en planerad åtgärd."))
    patient = patient_get_or_create(actor=actor, personal_identity_number=personal_identity_number)
    today = timezone.localdate()
    assessment = PriorAssessment.objects.create(
        number=_next_number(today.year),
        region=clinic.region,
        clinic=clinic,
        patient=patient,
        support_form=support_form,
        patient_category=patient_category,
        planned_date=planned_date,
        justification=justification.strip(),
        created_by=actor,
    )
    PriorAssessmentLine.objects.bulk_create(
        PriorAssessmentLine(
            assessment=assessment,
            position=position,
            code=line["code"],
            tooth=line.get("tooth", ""),
            jaw=line.get("jaw", ""),
            estimated_price=line["estimated_price"],
        )
        for position, line in enumerate(lines, start=1)
    )
    _store_attachments(assessment, attachments, actor)
    _event(assessment, PriorAssessmentEventKind.SUBMITTED, actor)
    _clinic_event(assessment, from_state="", actor=actor)
    audit_record(
        actor=actor,
        action=EligibilityAudit.PRIOR_ASSESSMENT_SUBMITTED,
        obj=assessment,
        after={"number": assessment.number, "support_form": support_form, "lines": len(lines)},
        clinic=clinic,
        region=clinic.region_id,
    )
    return assessment


# What the clinic's event stream (portal.events) calls a move to each state; any other is a change of state.
_CLINIC_EVENT_KINDS = {
    PriorAssessmentState.APPROVED: ClinicEventKind.PRIOR_ASSESSMENT_DECIDED,
    PriorAssessmentState.APPROVED_WITH_LIMITATIONS: ClinicEventKind.PRIOR_ASSESSMENT_DECIDED,
    PriorAssessmentState.DENIED: ClinicEventKind.PRIOR_ASSESSMENT_DECIDED,
    PriorAssessmentState.AWAITING_INFORMATION: ClinicEventKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED,
    PriorAssessmentState.WRITTEN_OFF: ClinicEventKind.PRIOR_ASSESSMENT_WRITTEN_OFF,
}


def _clinic_event(assessment: PriorAssessment, *, from_state: str, actor: User | None) -> None:
    """Tell the clinic's event stream of the request's new state, with its dates (never the words or the patient)."""
    data = {"from_state": from_state, "state": assessment.state}
    if assessment.state in APPROVED_STATES and assessment.valid_until:
        data["valid_until"] = assessment.valid_until.isoformat()
    if assessment.state == PriorAssessmentState.AWAITING_INFORMATION and assessment.information_deadline:
        data["information_deadline"] = assessment.information_deadline.isoformat()
    clinic_event_record(
        clinic=assessment.clinic_id,
        kind=_CLINIC_EVENT_KINDS.get(assessment.state, ClinicEventKind.PRIOR_ASSESSMENT_STATE_CHANGED),
        obj=("prior_assessment", assessment.pk),
        data=data,
        actor=actor,
    )


def _lock(assessment: PriorAssessment) -> PriorAssessment:
    return PriorAssessment.objects.select_for_update().select_related("region", "clinic").get(pk=assessment.pk)


def _refusal_params(assessment: PriorAssessment):
    """The refusal's words about the request, read only when a move is refused (the decider costs a query)."""

    def params() -> dict:
        who = _(", beslutad av %(who)s") % {"who": assessment.decided_by} if assessment.decided_by else ""
        return {"number": assessment.number, "decided_by": who}

    return params


def _refuse_unless_can_move(assessment: PriorAssessment, state: str) -> None:
    """Refuse a move the transition table does not allow, saying what the request's state already is."""
    PRIOR_ASSESSMENT_TRANSITIONS.check(assessment.state, state, _refusal_params(assessment))


def _move(
    assessment: PriorAssessment, state: str, *, actor: User | None, action: EligibilityAudit, fields: list[str]
) -> None:
    """Move the locked request to `state` as the table allows, saving `fields` with it, and audit it."""
    before = {"state": assessment.state}
    PRIOR_ASSESSMENT_TRANSITIONS.move(assessment, state, fields=fields, params=_refusal_params(assessment))
    _clinic_event(assessment, from_state=before["state"], actor=actor)
    audit_record(
        actor=actor,
        action=action,
        obj=assessment,
        before=before,
        after={"state": state, **snapshot(assessment, fields)},
        clinic=assessment.clinic_id,
        region=assessment.region_id,
    )


@transaction.atomic
def prior_assessment_start_review(*, actor: User, assessment: PriorAssessment) -> PriorAssessment:
    assessment = _lock(assessment)
    if assessment.state == PriorAssessmentState.IN_REVIEW:
        return assessment
    _move(
        assessment,
        PriorAssessmentState.IN_REVIEW,
        actor=actor,
        action=EligibilityAudit.PRIOR_ASSESSMENT_REVIEW_STARTED,
        fields=[],
    )
    _event(assessment, PriorAssessmentEventKind.REVIEW_STARTED, actor)
    return assessment


@transaction.atomic
def prior_assessment_decide(
    *,
    actor: User,
    assessment: PriorAssessment,
    approved_amounts: dict[int, int | None],
    reason: str,
    valid_until: datetime.date | None = None,
) -> PriorAssessment:
    """Approve, approve with limitations, or deny.

    `approved_amounts` maps each line's id to the approved amount in öre, or None when the line is not
    approved. All lines approved → Godkänd; some → Godkänd med begränsningar; none → Avslagen.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Skriv en motivering som kliniken kan läsa.")})
    assessment = _lock(assessment)
    lines = list(assessment.lines.all())
    if set(approved_amounts) != {line.pk for line in lines}:
        raise ValidationError(_("Beslutet måste gälla varje planerad åtgärd."))
    approved = [line for line in lines if approved_amounts[line.pk] is not None]
    if not approved:
        state = PriorAssessmentState.DENIED
    elif len(approved) == len(lines):
        state = PriorAssessmentState.APPROVED
    else:
        state = PriorAssessmentState.APPROVED_WITH_LIMITATIONS
    _refuse_unless_can_move(assessment, state)
    for line in lines:
        amount = approved_amounts[line.pk]
        line.approved = amount is not None
        line.approved_amount = amount
    PriorAssessmentLine.objects.bulk_update(lines, ["approved", "approved_amount"])
    if state in APPROVED_STATES:
        assessment.valid_until = valid_until or (
            timezone.localdate() + relativedelta(months=assessment.region.prior_assessment_validity_months)
        )
    assessment.decision_reason = reason
    assessment.decided_by = actor
    assessment.decided_at = timezone.now()
    _move(
        assessment,
        state,
        actor=actor,
        action=EligibilityAudit.PRIOR_ASSESSMENT_DECIDED,
        fields=["valid_until", "decision_reason", "decided_by", "decided_at"],
    )
    event = _event(assessment, PriorAssessmentEventKind.DECIDED, actor, text=reason)
    _notify_clinic(assessment, event)
    return assessment


@transaction.atomic
def prior_assessment_request_information(
    *, actor: User, assessment: PriorAssessment, question: str, deadline: datetime.date | None = None
) -> PriorAssessment:
    question = question.strip()
    if not question:
        raise ValidationError({"question": _("Skriv vad kliniken behöver komplettera med.")})
    if deadline is not None and deadline < timezone.localdate():
        # The nightly write-off would take it before the clinic could answer.
        raise ValidationError({"deadline": _("Sista dag för komplettering kan inte ligga före i dag.")})
    assessment = _lock(assessment)
    _refuse_unless_can_move(assessment, PriorAssessmentState.AWAITING_INFORMATION)
    assessment.information_deadline = deadline or (
        timezone.localdate() + datetime.timedelta(days=assessment.region.information_deadline_days)
    )
    _move(
        assessment,
        PriorAssessmentState.AWAITING_INFORMATION,
        actor=actor,
        action=EligibilityAudit.PRIOR_ASSESSMENT_INFORMATION_REQUESTED,
        fields=["information_deadline"],
    )
    event = _event(assessment, PriorAssessmentEventKind.INFORMATION_REQUESTED, actor, text=question)
    _notify_clinic(assessment, event)
    return assessment


@transaction.atomic
def prior_assessment_supply_information(
    *, actor: User, assessment: PriorAssessment, text: str, attachments: list
) -> PriorAssessment:
    """The clinic answers; the request as it was before is kept in the history."""
    text = text.strip()
    if not text and not attachments:
        raise ValidationError({"text": _("Skriv ett svar eller bifoga en fil.")})
    assessment = _lock(assessment)
    _refuse_unless_can_move(assessment, PriorAssessmentState.INFORMATION_RECEIVED)
    previous = _request_snapshot(assessment)
    assessment.version += 1
    assessment.information_deadline = None
    _move(
        assessment,
        PriorAssessmentState.INFORMATION_RECEIVED,
        actor=actor,
        action=EligibilityAudit.PRIOR_ASSESSMENT_INFORMATION_SUPPLIED,
        fields=["version", "information_deadline"],
    )
    _store_attachments(assessment, attachments, actor)
    _event(assessment, PriorAssessmentEventKind.INFORMATION_SUPPLIED, actor, text=text, snapshot_data=previous)
    return assessment


def prior_assessments_write_off_overdue(*, today: datetime.date | None = None) -> int:
    """Write off requests whose deadline for more information has passed; safe to run twice or late."""
    today = today or timezone.localdate()
    overdue = PriorAssessment.objects.filter(
        state=PriorAssessmentState.AWAITING_INFORMATION, information_deadline__lt=today
    ).values_list("pk", flat=True)
    written_off = 0
    for pk in overdue:
        with transaction.atomic():
            assessment = _lock(PriorAssessment(pk=pk))
            if (
                assessment.state != PriorAssessmentState.AWAITING_INFORMATION
                or assessment.information_deadline >= today
            ):
                continue  # answered or moved since we listed it
            _move(
                assessment,
                PriorAssessmentState.WRITTEN_OFF,
                actor=None,
                action=EligibilityAudit.PRIOR_ASSESSMENT_WRITTEN_OFF,
                fields=[],
            )
            event = _event(
                assessment,
                PriorAssessmentEventKind.WRITTEN_OFF,
                None,
                text=_("Ingen komplettering kom in senast %(date)s.") % {"date": assessment.information_deadline},
            )
            _notify_clinic(assessment, event)
            written_off += 1
    return written_off
