"""The one answer to "which support forms apply for this patient, at this clinic, on this date, and why".

The claim form, the invoice file and the API all ask `eligibility_from` (through `eligibility_for` for one
patient, or with `patient_records_for` for many at once); nothing else decides it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics.models import Clinic, Region, SupportForm
from clinics.rules import region_rules
from portal import validators
from portal.db import PreparedQuery, model_columns, model_from_row

from .models import (
    APPROVED_STATES,
    DECIDED_STATES,
    Certificate,
    FreeCard,
    Patient,
    PriorAssessment,
    PriorAssessmentState,
)


@dataclass(frozen=True)
class SupportFormOption:
    support_form: str
    allowed: bool
    reason: str
    requires_prior_assessment: bool = False
    certificate: Certificate | None = None

    @property
    def label(self) -> str:
        return SupportForm(self.support_form).label


@dataclass(frozen=True)
class Eligibility:
    personal_identity_number: str
    on_date: datetime.date
    patient: Patient | None
    options: list[SupportFormOption]
    free_card: FreeCard | None
    prior_assessments: list[PriorAssessment]
    fee_exempt_reasons: list[str] = field(default_factory=list)

    def option(self, support_form: str) -> SupportFormOption:
        return next(o for o in self.options if o.support_form == support_form)

    @property
    def certificate(self) -> Certificate | None:
        """The valid N or F certificate, N first."""
        return next((o.certificate for o in self.options if o.certificate and o.allowed), None)

    @property
    def fee_exempt(self) -> bool:
        return bool(self.fee_exempt_reasons)


def certificate_validity_text(certificate: Certificate) -> str:
    if certificate.valid_to is None:
        return _("Intyget giltigt: tills vidare")
    return _("Intyget giltigt till %(date)s") % {"date": certificate.valid_to.isoformat()}


def _why_not(certificates: list[Certificate], support_form: str, on_date: datetime.date) -> str:
    """The most useful explanation of why there is no valid certificate of this form on the date."""
    of_form = [c for c in certificates if c.support_form == support_form]
    revoked = [c for c in of_form if c.revoked_from and c.revoked_from <= on_date and c.valid_from <= on_date]
    if revoked:
        return _("Intyget återkallades %(date)s.") % {"date": max(c.revoked_from for c in revoked).isoformat()}
    ended = [c for c in of_form if c.valid_to and c.valid_to < on_date]
    if ended:
        return _("Intyget upphörde %(date)s.") % {"date": max(c.valid_to for c in ended).isoformat()}
    future = [c for c in of_form if c.valid_from > on_date]
    if future:
        return _("Intyget gäller först från %(date)s.") % {"date": min(c.valid_from for c in future).isoformat()}
    return _("Patienten saknar intyg för %(form)s.") % {"form": SupportForm(support_form).label}


@dataclass(frozen=True)
class PatientRecords:
    """What the eligibility rules read about one patient at one clinic: loaded once, asked for many dates."""

    patient: Patient | None
    certificates: list[Certificate] = field(default_factory=list)
    free_cards: list[FreeCard] = field(default_factory=list)
    # Approved at the clinic; whether one holds on a date is decided per date.
    prior_assessments: list[PriorAssessment] = field(default_factory=list)


NO_RECORDS = PatientRecords(patient=None)


def patient_records_for(
    *, personal_identity_numbers: Iterable[str], clinic: Clinic, from_date: datetime.date | None = None
) -> dict[str, PatientRecords]:
    """The records of many patients in five queries, by personnummer; a patient unknown to us is missing.

    `from_date` leaves out prior assessments that expired before it (an invoice file asks only about its
    visit dates).
    """
    numbers = set(personal_identity_numbers)
    if len(numbers) == 1:
        (number,) = numbers
        records = _one_patient_records(number, clinic, from_date)
        return {number: records} if records.patient is not None else {}
    patients = list(Patient.objects.filter(personal_identity_number__in=numbers))
    ids = [patient.pk for patient in patients]
    # Grouped by hand: prefetch_related costs a queryset per patient, which a file of 10 000 claims notices.
    certificates = _by_patient(Certificate.objects.of_region(clinic.region).filter(patient_id__in=ids))
    # The clinic's region's cards only: a card registered in another region does not count here.
    free_cards = _by_patient(FreeCard.objects.of_region(clinic.region).filter(patient_id__in=ids))
    assessments = PriorAssessment.objects.of_clinic(clinic).filter(patient_id__in=ids, state__in=APPROVED_STATES)
    if from_date is not None:
        assessments = assessments.filter(valid_until__gte=from_date)
    by_patient = _by_patient(assessments.prefetch_related("lines").order_by("valid_until", "pk"))
    return {
        patient.personal_identity_number: PatientRecords(
            patient=patient,
            certificates=certificates.get(patient.pk, []),
            free_cards=free_cards.get(patient.pk, []),
            prior_assessments=by_patient.get(patient.pk, []),
        )
        for patient in patients
    }


def _by_patient(queryset) -> dict[int, list]:
    grouped: dict[int, list] = {}
    for row in queryset:
        grouped.setdefault(row.patient_id, []).append(row)
    return grouped


# One patient's records are read on every step of Registrera räkning and for each claim sent alone (the API, the
# validation of one draft): the same four queries as for many, compiled once per process (portal.db.PreparedQuery),
# since compiling them cost the ORM several times what PostgreSQL spends answering. An approved assessment always
# has a validity (a constraint), so the least date leaves none out when no `from_date` is given.
_PATIENT = PreparedQuery(
    lambda number: Patient.objects.filter(personal_identity_number=number).values_list(*model_columns(Patient)),
    number=str,
)
_CERTIFICATES = PreparedQuery(
    lambda patient_id, region_id: (
        Certificate.objects.of_region(region_id).filter(patient_id=patient_id).values_list(*model_columns(Certificate))
    ),
    patient_id=int,
    region_id=int,
)
_FREE_CARDS = PreparedQuery(
    lambda patient_id, region_id: (
        FreeCard.objects.of_region(region_id).filter(patient_id=patient_id).values_list(*model_columns(FreeCard))
    ),
    patient_id=int,
    region_id=int,
)
_PRIOR_ASSESSMENTS = PreparedQuery(
    lambda patient_id, clinic_id, from_date: (
        PriorAssessment.objects.of_clinic(clinic_id)
        .filter(patient_id=patient_id, state__in=APPROVED_STATES, valid_until__gte=from_date)
        .order_by("valid_until", "pk")
        .values_list(*model_columns(PriorAssessment))
    ),
    patient_id=int,
    clinic_id=int,
    from_date=datetime.date,
)


def _instances(model, rows: list[tuple]) -> list:
    return [model_from_row(model, iter(row)) for row in rows]


def _one_patient_records(number: str, clinic: Clinic, from_date: datetime.date | None) -> PatientRecords:
    """`patient_records_for` of one patient, NO_RECORDS for one unknown to us."""
    rows = _PATIENT.rows(number=number)
    if not rows:
        return NO_RECORDS
    patient = model_from_row(Patient, iter(rows[0]))
    certificates = _instances(Certificate, _CERTIFICATES.rows(patient_id=patient.pk, region_id=clinic.region_id))
    free_cards = _instances(FreeCard, _FREE_CARDS.rows(patient_id=patient.pk, region_id=clinic.region_id))
    assessments = _instances(
        PriorAssessment,
        _PRIOR_ASSESSMENTS.rows(patient_id=patient.pk, clinic_id=clinic.pk, from_date=from_date or datetime.date.min),
    )
    prefetch_related_objects(assessments, "lines")
    return PatientRecords(
        patient=patient, certificates=certificates, free_cards=free_cards, prior_assessments=assessments
    )


def patient_records_of(*, personal_identity_number: str, clinic: Clinic) -> PatientRecords:
    """One patient's records (`patient_records_for`), NO_RECORDS for a patient the portal does not know."""
    records = patient_records_for(personal_identity_numbers=[personal_identity_number], clinic=clinic)
    return records.get(personal_identity_number, NO_RECORDS)


def eligibility_for(*, personal_identity_number: str, clinic: Clinic, on_date: datetime.date) -> Eligibility:
    """Which support forms apply for the patient at this clinic on this date, and why (see `eligibility_from`)."""
    records = patient_records_of(personal_identity_number=personal_identity_number, clinic=clinic)
    return eligibility_from(records, personal_identity_number=personal_identity_number, clinic=clinic, on_date=on_date)


def eligibility_from(
    records: PatientRecords, *, personal_identity_number: str, clinic: Clinic, on_date: datetime.date
) -> Eligibility:
    """The rules: N and F need a certificate of that kind from the clinic's region, valid on the date. S is
    always possible but needs an approved prior assessment. The fee exemptions follow the region's rules.
    """
    region = clinic.region
    certificates = records.certificates
    options = []
    for form in (SupportForm.N, SupportForm.F):
        valid = [c for c in certificates if c.support_form == form and c.is_valid_on(on_date)]
        if valid:
            certificate = max(valid, key=lambda c: c.valid_from)
            options.append(
                SupportFormOption(form, True, certificate_validity_text(certificate), certificate=certificate)
            )
        else:
            options.append(SupportFormOption(form, False, _why_not(certificates, form, on_date)))
    assessments = [a for a in records.prior_assessments if a.is_approved_on(on_date)]
    has_certificate = any(o.allowed for o in options)
    if any(a.support_form == SupportForm.S for a in assessments):
        s_reason = _("S-tandvård med godkänd förhandsbedömning")
    elif has_certificate:
        s_reason = _("S-tandvård kräver förhandsbedömning")
    else:
        s_reason = _("Patienten saknar intyg: S-tandvård, förhandsbedömning krävs")
    options.append(SupportFormOption(SupportForm.S, True, s_reason, requires_prior_assessment=True))
    free_card = next((c for c in records.free_cards if c.is_valid_on(on_date)), None)
    return Eligibility(
        personal_identity_number=personal_identity_number,
        on_date=on_date,
        patient=records.patient,
        options=options,
        free_card=free_card,
        prior_assessments=assessments,
        fee_exempt_reasons=fee_exemption_reasons(
            region=region,
            personal_identity_number=personal_identity_number,
            on_date=on_date,
            free_card=free_card,
            certificate_groups={o.certificate.group for o in options if o.allowed and o.certificate},
        ),
    )


def fee_exemption_reasons(
    *,
    region: Region,
    personal_identity_number: str,
    on_date: datetime.date,
    free_card: FreeCard | None,
    certificate_groups: set[str],
) -> list[str]:
    """Why the patient pays no fee on the date under the region's rules in force that day; empty when a fee is due."""
    reasons = []
    if free_card is not None:
        reasons.append(_("Giltigt frikort %(number)s") % {"number": free_card.number})
    age = validators.age_on(personal_identity_number, on_date)
    rules = region_rules(region, on_date)
    if rules.fee_exempt_from_age is not None and age >= rules.fee_exempt_from_age:
        reasons.append(_("%(age)s år eller äldre") % {"age": rules.fee_exempt_from_age})
    if rules.fee_exempt_young_adults_until_age is not None and age <= rules.fee_exempt_young_adults_until_age:
        reasons.append(_("Ung vuxen till och med %(age)s år") % {"age": rules.fee_exempt_young_adults_until_age})
    for group in sorted(certificate_groups & set(rules.fee_exempt_certificate_groups)):
        reasons.append(_("Intyg %(group)s") % {"group": group})
    return reasons


def patient_certificates(*, region: Region, personal_identity_number: str) -> QuerySet[Certificate]:
    return (
        Certificate.objects.of_region(region)
        .filter(patient__personal_identity_number=personal_identity_number)
        .select_related("revoked_by", "registered_by")
    )


def patient_free_cards(*, region: Region, personal_identity_number: str) -> QuerySet[FreeCard]:
    return (
        FreeCard.objects.of_region(region)
        .filter(patient__personal_identity_number=personal_identity_number)
        .select_related("registered_at_clinic", "registered_by")
        .order_by("-valid_from", "pk")
    )


# A decision stays on the clinic's start page (and under "Nya beslut") this many days.
RECENT_DECISION_DAYS = 14


class ClinicAssessmentView:
    """What the clinic's list of prior assessments shows: all, those awaiting the clinic's komplettering, or
    those the region decided in the last RECENT_DECISION_DAYS days."""

    ALL = ""
    INFORMATION = "komplettering"
    DECIDED = "beslut"


def clinic_prior_assessments(*, clinic: Clinic, show: str = ClinicAssessmentView.ALL) -> QuerySet[PriorAssessment]:
    assessments = PriorAssessment.objects.of_clinic(clinic)
    if show == ClinicAssessmentView.INFORMATION:
        assessments = assessments.filter(state=PriorAssessmentState.AWAITING_INFORMATION)
    if show == ClinicAssessmentView.DECIDED:
        since = timezone.now() - datetime.timedelta(days=RECENT_DECISION_DAYS)
        assessments = assessments.filter(state__in=DECIDED_STATES, decided_at__gte=since)
    return assessments.select_related("patient").order_by("-created_at")


def region_prior_assessments(*, region: Region) -> QuerySet[PriorAssessment]:
    return PriorAssessment.objects.of_region(region).select_related("patient", "clinic").order_by("created_at")
