"""The one validation of a claim: every fault of a draft, in the words the clinic sees, for all three doors.

The web form, the invoice file and the API each build a `ClaimDraft` and call `claim_validate`. An invoice
file may hold 10 000 claims, so what the checks look up is gathered in a `ValidationContext`, prepared once
for all drafts of one clinic; for a single claim `claim_validate` prepares it itself. Patient-dependent
answers (certificates, free cards, prior assessments, fee exemptions) come from `eligibility.selectors`,
never from rules of our own.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce, ExtractYear
from django.utils import timezone
from django.utils.translation import gettext_lazy

from clinics.models import (
    CareModel,
    Clinic,
    DeadlineBasis,
    PatientCategory,
    Region,
    SupportForm,
    Termination,
    TerminationState,
)
from clinics.rules import Rules, region_rules, region_rules_forget
from eligibility.models import FreeCard, Jaw, Patient, PriorAssessment
from eligibility.selectors import (
    NO_RECORDS,
    Eligibility,
    PatientRecords,
    eligibility_from,
    fee_exemption_reasons,
    patient_records_for,
)
from portal import validators
from portal.db import PreparedQuery, model_columns, model_from_row
from portal.money import format_kronor
from portal.translation import said as _

from .drafts import ClaimDraft, Fault, LineDraft
from .models import OPEN_STATES, PATIENT_FEE_CODE, Claim, ClaimLine, ClaimState, Invoice, TariffRow, ToothOrJaw
from .selectors import BilledLine, prior_assessment_billed_lines
from .tariffs import TariffBook

# ASCII spelled out: `\w` would let any Unicode letter or digit through.
REFERENCE_MAX_LENGTH = 20
REFERENCE_PATTERN = re.compile(rf"[0-9A-Za-z-]{{1,{REFERENCE_MAX_LENGTH}}}")
COMMENT_MAX_LENGTH = 500
INVOICE_REFERENCE_MAX_LENGTH = Invoice._meta.get_field("reference").max_length
LINE_COMMENT_MAX_LENGTH = 200
MAX_TEETH = 32
JAWS = frozenset(Jaw.values)
# A claim voided or deleted was never paid and never counts against the free amount.
NOT_BILLED_STATES = (ClaimState.DELETED, ClaimState.VOIDED)

# The deadline in words, for the message the region's own manual uses ("tre månader efter behandlingsmånaden").
_MONTHS_IN_WORDS = {
    1: gettext_lazy("en månad"),
    2: gettext_lazy("två månader"),
    3: gettext_lazy("tre månader"),
    4: gettext_lazy("fyra månader"),
    5: gettext_lazy("fem månader"),
    6: gettext_lazy("sex månader"),
    7: gettext_lazy("sju månader"),
    8: gettext_lazy("åtta månader"),
    9: gettext_lazy("nio månader"),
    10: gettext_lazy("tio månader"),
    11: gettext_lazy("elva månader"),
    12: gettext_lazy("tolv månader"),
}

PricedLine = tuple[LineDraft, TariffRow | None, int]


class ValidationContext:
    """What the checks look up for one clinic, read in a few queries and reused for every draft validated with it.

    Give the drafts up front (a chunk of an invoice file's claims), or later with `prepare`: their references,
    tariff versions (in `tariff`, the `TariffBook` the checks and the amounts read), patients (certificates,
    free cards, prior assessments) and what each patient has used of the free amount are then read at once,
    not claim by claim. Anything outside what was prepared is read on first use, so the context is never wrong,
    only slower. `repeated_references` holds the references given more than once in the whole batch (a file
    read in chunks; by default, among `drafts`): each is a fault.
    Claims found correct add to what their patient has used of the free amount, so two claims of one file
    cannot together pass it unnoticed.
    A caller that has already read the region's tariff, rules and lists or a patient's records in the same request
    (the form page) passes its context as `like`, whose tariff book, rules, care models and patient categories this
    one shares, and the records as `patients` (by personnummer, as `patient_records_for` answers), not to read them
    twice; they are kept across `prepare`.
    """

    def __init__(
        self,
        *,
        clinic: Clinic,
        drafts: Iterable[ClaimDraft] = (),
        repeated_references: Container[str] | None = None,
        like: ValidationContext | None = None,
        patients: Mapping[str, PatientRecords] | None = None,
    ):
        drafts = list(drafts)
        self.clinic = clinic
        self.region: Region = clinic.region
        if like is not None and like.clinic.pk != clinic.pk:
            raise ValueError("The context to share the reads of is of another clinic.")
        self._like = like
        self.tariff = like.tariff if like is not None else TariffBook(self.region)
        self._given_patients = dict(patients or {})
        if like is None:
            # The region's rule versions are read afresh once per context (clinics.rules caches them on the region);
            # a context `like` another of the same request reads what that one read.
            region_rules_forget(self.region)
        if repeated_references is None:
            counts = Counter(draft.reference for draft in drafts)
            repeated_references = {reference for reference, count in counts.items() if count > 1}
        self._repeated_references = repeated_references
        # Added by correct claims of this batch, by (personnummer, year); kept across `prepare`.
        self._accepted_free_amount: Counter[tuple[str, int]] = Counter()
        # The care of this batch's correct claims so far, as digests; kept across `prepare` (a whole file).
        self._care_in_batch: set[int] = set()
        # Lines of this batch's correct claims, by prior assessment id; kept across `prepare` like the above.
        self._accepted_prior_assessment: defaultdict[int, list[BilledLine]] = defaultdict(list)
        self.prepare(drafts)

    def prepare(self, drafts: Iterable[ClaimDraft]) -> None:
        """Read what these drafts need; forget the patients and references read for the drafts before them."""
        drafts = list(drafts)
        self._used_references: set[str] = set()
        self._checked_references: set[str] = set()
        self._patients: dict[str, PatientRecords] = dict(self._given_patients)
        self._eligibility: dict[tuple[str, datetime.date], Eligibility] = {}
        self._free_amount_used: dict[tuple[str, int], int] = {}
        self.billed_care = BilledCare(self.clinic)
        self._prior_assessment_billed: dict[int, list[BilledLine]] = {}
        days = [day for draft in drafts for day in _all_dates(draft)]
        if days:
            self.tariff.load(min(days), max(days))
        self._load_references({draft.reference for draft in drafts if draft.reference})
        pins = {pin for draft in drafts if (pin := _valid_pin(draft.personal_identity_number))}
        if pins and days:
            self._load_patients(pins - set(self._patients), min(days))
            years = {day.year for day in days}
            self._load_free_amounts(pins, years)
            self.billed_care.load(drafts)
            self._load_prior_assessment_billed(
                {assessment.pk for records in self._patients.values() for assessment in records.prior_assessments}
            )

    # References ------------------------------------------------------------------------------------------

    def _load_references(self, references: set[str]) -> None:
        references -= self._checked_references
        if len(references) == 1:
            (reference,) = references
            rows = _REFERENCE_USED.rows(clinic_id=self.clinic.pk, reference=reference)
        else:
            rows = _references_used(self.clinic.pk, references) if references else []
        self._used_references |= {used for (used,) in rows}
        self._checked_references |= references

    def reference_used(self, reference: str) -> bool:
        """Used before by any claim of the clinic, whatever its state (deleted too), or twice in this batch."""
        self._load_references({reference})
        return reference in self._used_references or reference in self._repeated_references

    # Region lists ----------------------------------------------------------------------------------------

    @cached_property
    def free_amount_rules(self) -> Rules:
        """The region's free amount as it is today (`clinics.rules.region_rules`): the amount of every year."""
        return region_rules(self.region)

    @cached_property
    def care_models(self) -> dict[str, CareModel]:
        """The region's care models by code, retired ones too, in the order the region listed them."""
        if self._like is not None:
            return self._like.care_models
        models = (model_from_row(CareModel, iter(row)) for row in _CARE_MODELS.rows(region_id=self.region.pk))
        return {model.code: model for model in models}

    @cached_property
    def patient_categories(self) -> dict[str, PatientCategory]:
        """The region's patient categories by code, retired ones too, in the order the region listed them."""
        if self._like is not None:
            return self._like.patient_categories
        return {
            category.code: category for category in PatientCategory.objects.filter(region=self.region).order_by("pk")
        }

    @cached_property
    def termination(self) -> Termination | None:
        """The clinic's running notice (uppsägning): care after its end date is refused, and after its last
        billing day nothing more is sent."""
        if self._like is not None:
            return self._like.termination
        if self.clinic.ends_on is None:
            return None
        return Termination.objects.of_clinic(self.clinic).filter(state=TerminationState.GIVEN).first()

    # Patients --------------------------------------------------------------------------------------------

    def _load_patients(self, pins: set[str], first_day: datetime.date) -> None:
        if not pins:
            return
        records = patient_records_for(personal_identity_numbers=pins, clinic=self.clinic, from_date=first_day)
        for pin in pins:
            self._patients[pin] = records.get(pin, NO_RECORDS)

    def known_patients(self, personal_identity_numbers: Iterable[str]) -> dict[str, Patient]:
        """The patients of these (normalised) numbers that the records read hold, by number; the others are
        either unknown to us or were not read."""
        found = {}
        for pin in personal_identity_numbers:
            records = self._patients.get(pin)
            if records is not None and records.patient is not None:
                found[pin] = records.patient
        return found

    def eligibility(self, personal_identity_number: str, day: datetime.date) -> Eligibility:
        key = (personal_identity_number, day)
        if key not in self._eligibility:
            if personal_identity_number not in self._patients:
                self._load_patients({personal_identity_number}, day)
            self._eligibility[key] = eligibility_from(
                self._patients[personal_identity_number],
                personal_identity_number=personal_identity_number,
                clinic=self.clinic,
                on_date=day,
            )
        return self._eligibility[key]

    # Free amount -----------------------------------------------------------------------------------------

    def _load_free_amounts(self, pins: set[str], years: set[int]) -> None:
        used = _free_amounts_used(self.region, pins, years)
        for pin in pins:
            for year in years:
                self._free_amount_used[(pin, year)] = used.get((pin, year), 0)

    def free_amount_used(self, personal_identity_number: str, year: int) -> int:
        """What the patient's claims have used of the free amount in the year, this batch's correct ones too."""
        key = (personal_identity_number, year)
        if key not in self._free_amount_used:
            self._load_free_amounts({personal_identity_number}, {year})
        return self._free_amount_used[key] + self._accepted_free_amount[key]

    def free_amount_accept(self, personal_identity_number: str, amounts: dict[int, int]) -> None:
        for year, amount in amounts.items():
            self._accepted_free_amount[(personal_identity_number, year)] += amount

    # Care billed earlier in the batch --------------------------------------------------------------------

    def care_in_batch(self, key: CareKey) -> bool:
        """Whether a correct claim validated before in this batch (earlier in the file) has this care."""
        return _care_digest(key) in self._care_in_batch

    def care_accept(self, keys: Iterable[CareKey]) -> None:
        self._care_in_batch.update(_care_digest(key) for key in keys)

    def free_amount_stored(self) -> None:
        """The correct claims so far are stored: from now on their use is read from the database, not added."""
        self._accepted_free_amount.clear()
        self._free_amount_used.clear()
        self._accepted_prior_assessment.clear()
        self._prior_assessment_billed.clear()

    # Prior assessments -----------------------------------------------------------------------------------

    def _load_prior_assessment_billed(self, ids: set[int]) -> None:
        ids -= set(self._prior_assessment_billed)
        if ids:
            billed = prior_assessment_billed_lines(region=self.region, assessment_ids=ids)
            for assessment_id in ids:
                self._prior_assessment_billed[assessment_id] = billed.get(assessment_id, [])

    def prior_assessment_billed(self, assessment_id: int) -> list[BilledLine]:
        """What is billed against the FHB: by its stored claims, and by this batch's correct claims before."""
        self._load_prior_assessment_billed({assessment_id})
        return self._prior_assessment_billed[assessment_id] + self._accepted_prior_assessment[assessment_id]

    def prior_assessment_accept(self, assessment_id: int, lines: list[BilledLine]) -> None:
        self._accepted_prior_assessment[assessment_id] += lines


def _references_used(clinic_id: int, references: Iterable[str]) -> QuerySet:
    """Which of the references a claim of the clinic has, whatever its state."""
    return Claim.objects.filter(clinic=clinic_id, reference__in=references).order_by().values_list("reference")


# The queries every context makes for one claim (each validating step of Registrera räkning, each claim sent through
# the API): compiled once per process (portal.db.PreparedQuery), since compiling each cost the ORM about a
# millisecond, more than PostgreSQL spends answering. A list of one is the ORM's own query for one.
_REFERENCE_USED = PreparedQuery(
    lambda clinic_id, reference: _references_used(clinic_id, [reference]),
    clinic_id=int,
    reference=str,
)
# A region lists a handful of care models (its patient categories, a few dozen, are read by the ORM: made into
# instances one by one, as here, they would cost more than the compiling saved).
_CARE_MODELS = PreparedQuery(
    lambda region_id: CareModel.objects.filter(region=region_id).order_by("pk").values_list(*model_columns(CareModel)),
    region_id=int,
)


# Duplicate care ------------------------------------------------------------------------------------------

# One piece of care: the patient (normalised personnummer), the visit date, the code, the tooth and the jaw.
CareKey = tuple[str, datetime.date, str, str, str]


def _care_key(pin: str, line: LineDraft) -> CareKey:
    return (pin, line.visit_date, line.code, line.tooth.strip(), line.jaw.strip())


def _care_digest(key: CareKey) -> int:
    """8 bytes for a piece of care, so that a file of 100 000 claims remembers its care in a few megabytes."""
    text = "|".join((key[0], key[1].isoformat(), *key[2:]))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _billed_care(clinic_id: int, pins: Iterable[str], first: datetime.date, last: datetime.date) -> QuerySet:
    """(personnummer, visit date, code, tooth, jaw, reference) of the clinic's care that counts (`BilledCare`)."""
    return (
        ClaimLine.objects.filter(
            claim__clinic=clinic_id,
            claim__patient__personal_identity_number__in=pins,
            visit_date__gte=first,
            visit_date__lte=last,
        )
        .exclude(claim__state__in=NOT_BILLED_STATES)
        .exclude(code=PATIENT_FEE_CODE)
        .filter(credit__isnull=True)
        .order_by("claim_id", "position")
        .values_list(
            "claim__patient__personal_identity_number", "visit_date", "code", "tooth", "jaw", "claim__reference"
        )
    )


# One patient's care is asked for by every claim checked or sent alone (each validating step of Registrera räkning,
# the API), and once more under the care lock: compiled once per process (portal.db.PreparedQuery), since compiling
# the join cost the ORM a few milliseconds each time. The list of one number is the ORM's own query for one patient.
_ONE_PATIENTS_CARE = PreparedQuery(
    lambda clinic_id, pin, first, last: _billed_care(clinic_id, [pin], first, last),
    clinic_id=int,
    pin=str,
    first=datetime.date,
    last=datetime.date,
)


class BilledCare:
    """The care on the clinic's claims that still count (any state but deleted or voided; a line credited back
    does not count, so that the clinic may bill it again corrected), by `CareKey`, with
    the räkningsreferens of the first claim that has it. `load` reads it for many drafts in one query; a patient
    and day not loaded is read on first use."""

    def __init__(self, clinic: Clinic):
        self.clinic = clinic
        self._references: dict[CareKey, str] = {}
        self._checked: set[tuple[str, datetime.date]] = set()

    def load(self, drafts: Iterable[ClaimDraft]) -> None:
        wanted = {
            (pin, line.visit_date)
            for draft in drafts
            if (pin := _valid_pin(draft.personal_identity_number))
            for line in draft.lines
        } - self._checked
        if not wanted:
            return
        pins = {pin for pin, _day in wanted}
        days = [day for _pin, day in wanted]
        if len(pins) == 1:
            (pin,) = pins
            lines = _ONE_PATIENTS_CARE.rows(clinic_id=self.clinic.pk, pin=pin, first=min(days), last=max(days))
        else:
            lines = _billed_care(self.clinic.pk, pins, min(days), max(days))
        for pin, day, code, tooth, jaw, reference in lines:
            if (pin, day) in wanted:
                self._references.setdefault((pin, day, code, tooth, jaw), reference)
        self._checked |= wanted

    def reference(self, key: CareKey) -> str | None:
        """The reference of a claim of the clinic with this care, or None."""
        if (key[0], key[1]) not in self._checked:
            self.load([ClaimDraft(key[0], "", "", [LineDraft(visit_date=key[1], code=key[2])])])
        return self._references.get(key)


def _care_fault(line: LineDraft, index: int, message: str) -> Fault:
    return Fault("duplicate_care", message, "lines", index, visit_date=line.visit_date, line_field="code")


def duplicate_care_faults(
    *, pin: str, draft: ClaimDraft, rows: list[TariffRow | None], context: ValidationContext
) -> tuple[list[Fault], list[CareKey]]:
    """The faults of care already billed: on another claim of the clinic, earlier in the batch (an invoice
    file), or twice on this claim; and the draft's care, for the batch once the claim is found correct.

    Care is the patient, visit date, code and tooth or jaw; codes the tariff marks repeatable (`TariffRow.repeatable`),
    the patient fee and codes not in the tariff (a fault of their own) are left out. Another clinic's claims are
    never named here: the region's review rule "möjlig dubblett" looks at those (`review.services`).
    """
    faults: list[Fault] = []
    keys: list[CareKey] = []
    seen: set[CareKey] = set()
    for index, (line, row) in enumerate(zip(draft.lines, rows, strict=True)):
        if row is None or row.repeatable or line.code == PATIENT_FEE_CODE:
            continue
        key = _care_key(pin, line)
        words = {"code": line.code, "date": line.visit_date.isoformat()}
        if key in seen:
            message = _("Åtgärd %(code)s den %(date)s finns två gånger på räkningen.") % words
        elif (reference := context.billed_care.reference(key)) is not None:
            if reference == draft.reference:
                # The same claim sent again (a double click): "Räkningsreferensen har redan använts" says it all.
                seen.add(key)
                continue
            message = _("Åtgärd %(code)s den %(date)s finns redan på räkning %(reference)s.") % {
                **words,
                "reference": reference,
            }
        elif context.care_in_batch(key):
            message = _("Åtgärd %(code)s den %(date)s finns redan i filen.") % words
        else:
            message = ""
            keys.append(key)
        seen.add(key)
        if not message:
            continue
        faults.append(_care_fault(line, index, message))
    return faults, keys


def duplicate_care_stored_fault(
    *, clinic: Clinic, drafts: list[ClaimDraft], tariff: TariffBook
) -> tuple[ClaimDraft, Fault, str] | None:
    """Asked again when claims are stored, under the clinic's care lock (`claims.services`), from the database
    afresh: the first draft whose care a claim stored meanwhile already has (two sends of the same claim at once),
    its fault and the reference of the claim that has the care."""
    billed = BilledCare(clinic)
    billed.load(drafts)
    for draft in drafts:
        pin = _valid_pin(draft.personal_identity_number)
        for index, line in enumerate(draft.lines):
            row = tariff.row(line.visit_date, line.code)
            if pin is None or row is None or row.repeatable or line.code == PATIENT_FEE_CODE:
                continue
            reference = billed.reference(_care_key(pin, line))
            if reference is not None:
                message = _("Åtgärd %(code)s den %(date)s finns redan på räkning %(reference)s.") % {
                    "code": line.code,
                    "date": line.visit_date.isoformat(),
                    "reference": reference,
                }
                return draft, _care_fault(line, index, message), reference
    return None


# Public helpers ------------------------------------------------------------------------------------------


def claim_reference_used_fault() -> Fault:
    """The claim's reference is taken: by a claim of the clinic before, twice in one file, or by a send that
    stored it meanwhile (the database's unique reference, met by `claims.services`)."""
    return Fault(
        code="reference_used", message=_("Räkningsreferensen har redan använts, använd ett annat"), field="reference"
    )


def invoice_reference_fault(
    *, clinic: Clinic, reference: str, may_join_open: bool, today: datetime.date | None = None
) -> Fault | None:
    """Why claims may not be sent under the invoice number (OCR/Fakturanr.) `reference`; None when they may.

    The one answer to "may this invoice number be used", for every door, asked when claims are checked and
    again, under the invoice's lock, when they are stored. The number must be given and fit. An invoice number
    is used once, with one exception, `may_join_open`: the web form registers one sending's claims one at a
    time, so its claims may join an invoice the clinic sent today (`today`, default today in the project's time
    zone) whose claims are all still open (received, or put under review by the region's rules). An invoice
    file is one whole sending: its number must be new (`may_join_open=False`) when the file is checked and
    when it is sent.
    """
    reference = reference.strip()
    if not reference:
        return Fault(code="invoice_reference_required", message=_("Ange OCR/Fakturanummer."), field="invoice_reference")
    if len(reference) > INVOICE_REFERENCE_MAX_LENGTH:
        return Fault(
            code="invoice_reference_invalid",
            message=_("OCR/Fakturanumret får ha högst %(max)s tecken.") % {"max": INVOICE_REFERENCE_MAX_LENGTH},
            field="invoice_reference",
        )
    rows = _INVOICE_OF_REFERENCE.rows(clinic_id=clinic.pk, reference=reference)
    if not rows:
        return None
    invoice = model_from_row(Invoice, iter(rows[0]))
    if may_join_open and _invoice_open_today(invoice, today or timezone.localdate()):
        return None
    return Fault(
        code="invoice_reference_used", message=_("OCR/Fakturanumret har redan använts."), field="invoice_reference"
    )


# Asked for every claim checked or sent through the form and the API: compiled once per process, as the queries above.
_INVOICE_OF_REFERENCE = PreparedQuery(
    lambda clinic_id, reference: (
        Invoice.objects.of_clinic(clinic_id).filter(reference=reference).values_list(*model_columns(Invoice))[:1]
    ),
    clinic_id=int,
    reference=str,
)


def _invoice_open_today(invoice: Invoice, today: datetime.date) -> bool:
    return (
        timezone.localdate(invoice.received_at) == today and not invoice.claims.exclude(state__in=OPEN_STATES).exists()
    )


def last_billing_day(*, region: Region, visit_date: datetime.date) -> datetime.date:
    """The last day care given on `visit_date` may be billed under the region's deadline in force on that day."""
    rules = region_rules(region, visit_date)
    months = rules.billing_deadline_months
    if rules.billing_deadline_basis == DeadlineBasis.END_OF_TREATMENT_MONTH:
        return visit_date.replace(day=1) + relativedelta(months=months + 1) - datetime.timedelta(days=1)
    return visit_date + relativedelta(months=months)


# How soon before a visit's last billing day the form and the file's result warn about it.
DEADLINE_WARNING_DAYS = 14


def billing_deadline_warnings(
    *, region: Region, visit_dates: Iterable[datetime.date], today: datetime.date
) -> list[str]:
    """'Besöket 2026-06-06 måste faktureras senast 2026-12-06.' for each visit, earliest first, whose last billing
    day (`last_billing_day`) is today or within DEADLINE_WARNING_DAYS. A visit past it is no warning: the
    validation refuses it (visit_too_old)."""
    warnings = []
    for day in sorted(set(visit_dates)):
        last = last_billing_day(region=region, visit_date=day)
        if day <= today <= last <= today + datetime.timedelta(days=DEADLINE_WARNING_DAYS):
            warnings.append(
                _("Besöket %(visit)s måste faktureras senast %(last)s.")
                % {"visit": day.isoformat(), "last": last.isoformat()}
            )
    return warnings


def visits_due(
    *, region: Region, today: datetime.date, days: int = DEADLINE_WARNING_DAYS
) -> tuple[datetime.date, datetime.date]:
    """The visit dates (first, last; both included) whose last billing day is today or within `days`: what a
    query filters visits by to find the care whose deadline ends soon. `last_billing_day` never falls as the
    visit date grows, so the visits are one run of days; found from its rule's estimate in a few steps."""
    one = datetime.timedelta(days=1)
    end = today + datetime.timedelta(days=days)
    months = region_rules(region, today).billing_deadline_months
    last = end - relativedelta(months=months + 1)
    while last_billing_day(region=region, visit_date=last + one) <= end:
        last += one
    first = today - relativedelta(months=months + 1)
    while last_billing_day(region=region, visit_date=first) < today:
        first += one
    return first, last


def billing_deadline_text(region: Region, on: datetime.date | None = None) -> str:
    """The region's deadline in force on `on` (today when None) in words: 'sex månader efter behandlingsdagen'."""
    rules = region_rules(region, on)
    months = rules.billing_deadline_months
    count = str(_MONTHS_IN_WORDS[months]) if months in _MONTHS_IN_WORDS else _("%(n)s månader") % {"n": months}
    if rules.billing_deadline_basis == DeadlineBasis.END_OF_TREATMENT_MONTH:
        return _("%(months)s efter behandlingsmånaden") % {"months": count}
    return _("%(months)s efter behandlingsdagen") % {"months": count}


@dataclass(frozen=True)
class FreeAmountUse:
    """One year of a patient's free amount (fribelopp) with a claim, all in öre: what the form page shows in its
    box and what the validation refuses a claim for, from one answer."""

    year: int
    allowance: int  # the region's free amount for the claim's support form
    used: int  # by the patient's earlier claims (and the correct ones before it in a batch)
    this_claim: int  # what the claim's treatment lines add in the year
    prior_assessed: bool = False  # care under a prior assessment is outside the free amount

    @property
    def left(self) -> int:
        return max(self.allowance - self.used, 0)

    @property
    def excess(self) -> int:
        return self.used + self.this_claim - self.allowance

    @property
    def exceeded(self) -> bool:
        return not self.prior_assessed and self.excess > 0


def free_amount_use(
    *, draft: ClaimDraft, context: ValidationContext, personal_identity_number: str, years: Iterable[int] = ()
) -> list[FreeAmountUse]:
    """The free amount of each year the draft has treatment in (and of `years`), or none when the region has no
    free amount for the draft's support form.

    Used: lines of the patient's claims in the clinic's region, any clinic, billed without prior assessment in
    the support forms the free amount covers, visits in the year, less what has been credited; patient fees,
    voided and deleted claims do not count. This claim adds its lines at their price from the tariff.
    """
    rules = context.free_amount_rules
    allowance = rules.free_amount_without_prior_assessment
    if allowance is None or draft.support_form not in rules.free_amount_support_forms:
        return []
    this_claim: dict[int, int] = dict.fromkeys(years, 0)
    for line in draft.lines:
        if line.code != PATIENT_FEE_CODE:
            row = context.tariff.row(line.visit_date, line.code)
            this_claim[line.visit_date.year] = this_claim.get(line.visit_date.year, 0) + line_amount(line, row)
    prior_assessed = bool(draft.prior_assessment_number.strip())
    return [
        FreeAmountUse(year, allowance, context.free_amount_used(personal_identity_number, year), amount, prior_assessed)
        for year, amount in sorted(this_claim.items())
    ]


def _free_amounts_used(region: Region, pins: set[str], years: set[int]) -> dict[tuple[str, int], int]:
    """Of many patients and years at once, in one query: by (personnummer, year), only those with any."""
    rules = region_rules(region)
    if rules.free_amount_without_prior_assessment is None or not years or not rules.free_amount_support_forms:
        return {}
    first, last = datetime.date(min(years), 1, 1), datetime.date(max(years), 12, 31)
    if len(pins) == 1:
        (pin,) = pins
        lines = _ONE_PATIENTS_FREE_AMOUNT.rows(region_id=region.pk, pin=pin, first=first, last=last)
    else:
        lines = _free_amount_lines(region.pk, pins, first, last)
    used: dict[tuple[str, int], int] = {}
    for pin, year, support_form, billed, credited in lines:
        if support_form in rules.free_amount_support_forms:
            key = (pin, int(year))
            used[key] = used.get(key, 0) + billed - credited
    return used


def _free_amount_lines(region_id: int, pins: Iterable[str], first: datetime.date, last: datetime.date) -> QuerySet:
    """(personnummer, year, support form, billed, credited) of the patients' lines billed without prior assessment
    in the region: by support form, for the region's rules to choose from, so that the query stays the same."""
    return (
        ClaimLine.objects.filter(
            claim__clinic__region=region_id,
            claim__patient__personal_identity_number__in=pins,
            claim__prior_assessment__isnull=True,
            visit_date__gte=first,
            visit_date__lte=last,
        )
        .exclude(claim__state__in=NOT_BILLED_STATES)
        .exclude(code=PATIENT_FEE_CODE)
        .order_by()
        .values_list("claim__patient__personal_identity_number", ExtractYear("visit_date"), "claim__support_form")
        .annotate(billed=Coalesce(Sum("amount"), 0), credited=Coalesce(Sum("credit__amount"), 0))
    )


# One patient's use of the free amount: asked for by every claim checked or sent alone, compiled once per process as
# the queries above.
_ONE_PATIENTS_FREE_AMOUNT = PreparedQuery(
    lambda region_id, pin, first, last: _free_amount_lines(region_id, [pin], first, last),
    region_id=int,
    pin=str,
    first=datetime.date,
    last=datetime.date,
)


def claim_amounts(draft: ClaimDraft, context: ValidationContext) -> tuple[int, int, list[PricedLine]]:
    """`claim_priced` with the context's tariff book: what a claim is stored with."""
    return claim_priced(draft, context.tariff)


def claim_priced(draft: ClaimDraft, tariff: TariffBook) -> tuple[int, int, list[PricedLine]]:
    """The claim's total and patient fee total in öre, and each line with its tariff row and amount.

    Amounts come from the tariff, or from the line for codes whose price is entered; never typed as totals.
    Each visit's patient fee becomes a patAvg line with a negative amount, after that visit's treatment lines.
    The form page shows its Summa from here; a claim is stored with it. A line whose code is not in the tariff
    has no row and counts as its entered price or 0.
    """
    by_day: dict[datetime.date, list[PricedLine]] = defaultdict(list)
    for line in draft.lines:
        row = tariff.row(line.visit_date, line.code)
        by_day[line.visit_date].append((line, row, line_amount(line, row)))
    for day, fee in draft.patient_fees.items():
        if fee > 0:
            fee_line = LineDraft(visit_date=day, code=PATIENT_FEE_CODE, price=fee)
            by_day[day].append((fee_line, tariff.row(day, PATIENT_FEE_CODE), -fee))
    lines = [priced for day in sorted(by_day) for priced in by_day[day]]
    fee_total = sum(amount for line, _row, amount in lines if line.code == PATIENT_FEE_CODE)
    total = sum(amount for _line, _row, amount in lines)
    return total, fee_total, lines


def line_amount(line: LineDraft, row: TariffRow | None) -> int:
    """The one line price, in öre: the tariff's, else the price entered; a patAvg line's fee counts negative."""
    if line.code == PATIENT_FEE_CODE:
        return -(line.price or 0)
    if row is None or row.price is None:
        return line.price or 0
    return row.price


# One line ------------------------------------------------------------------------------------------------


def line_faults(
    line: LineDraft, row: TariffRow | None, *, support_form: str = "", index: int | None = None
) -> list[Fault]:
    """The faults of one line against its code's tariff row on its day (None: the code is not in the tariff).

    The validation checks every line of a claim with this, and the form page's entry row asks it before a line
    is added, so the clinic reads one rule in one set of words. `support_form` (N, F or S; empty: not known
    yet) adds whether the code may be billed for it; `index` is the line's place in its draft.
    """
    faults: list[Fault] = []
    code, tooth, jaw = line.code, line.tooth.strip(), line.jaw.strip()

    def fault(fault_code: str, message: str, part: str) -> None:
        faults.append(Fault(fault_code, message, "lines", index, visit_date=line.visit_date, line_field=part))

    if len(line.comment) > LINE_COMMENT_MAX_LENGTH:
        fault(
            "line_comment_too_long",
            _("Kommentaren till åtgärd %(code)s får ha högst %(max)s tecken.")
            % {"code": code, "max": LINE_COMMENT_MAX_LENGTH},
            "comment",
        )
    if row is None:
        fault(
            "code_unknown",
            _("Åtgärdskod %(code)s finns inte i ersättningslistan för %(date)s.")
            % {"code": code, "date": line.visit_date.isoformat()},
            "code",
        )
        return faults
    if support_form and support_form not in row.support_forms:
        fault(
            "code_not_for_support_form",
            _("Åtgärd %(code)s kan inte faktureras för %(form)s.") % {"code": code, "form": _form_label(support_form)},
            "code",
        )
    if row.requires == ToothOrJaw.TOOTH:
        if not tooth:
            fault("tooth_required", _("Åtgärd %(code)s kräver tand.") % {"code": code}, "tooth")
        elif not validators.is_fdi_tooth(tooth):
            fault(
                "tooth_invalid",
                _("Åtgärd %(code)s: tand %(tooth)s är inget giltigt tandnummer (FDI).")
                % {"code": code, "tooth": tooth},
                "tooth",
            )
    elif tooth:
        fault("tooth_not_allowed", _("Åtgärd %(code)s ska inte ha tand.") % {"code": code}, "tooth")
    if row.requires == ToothOrJaw.JAW:
        if not jaw:
            fault("jaw_required", _("Åtgärd %(code)s kräver käke (ÖK eller UK).") % {"code": code}, "jaw")
        elif jaw not in JAWS:
            fault(
                "jaw_invalid",
                _("Åtgärd %(code)s: käke %(jaw)s är ogiltig, ange ÖK eller UK.") % {"code": code, "jaw": jaw},
                "jaw",
            )
    elif jaw:
        fault("jaw_not_allowed", _("Åtgärd %(code)s ska inte ha käke.") % {"code": code}, "jaw")
    if row.price is not None:
        if line.price is not None:
            fault(
                "price_not_allowed",
                _("Åtgärd %(code)s har fast pris i ersättningslistan; ange inget pris.") % {"code": code},
                "price",
            )
    elif line.price is None:
        fault("price_required", _("Ange pris för åtgärd %(code)s.") % {"code": code}, "price")
    elif line.price < 0:
        fault("price_negative", _("Priset för åtgärd %(code)s kan inte vara negativt.") % {"code": code}, "price")
    return faults


# The validation ------------------------------------------------------------------------------------------


def claim_validate(
    *,
    clinic: Clinic,
    draft: ClaimDraft,
    today: datetime.date | None = None,
    context: ValidationContext | None = None,
) -> list[Fault]:
    """Every fault of the draft, in the order the clinic reads the claim; an empty list when it may be stored.

    `today` decides what is in the future and what is too old (default: today in the project's time zone).
    Pass a `context` prepared for many drafts of the clinic; without one, one is prepared for this draft.
    """
    today = today or timezone.localdate()
    if context is None:
        context = ValidationContext(clinic=clinic, drafts=[draft])
    elif context.clinic.pk != clinic.pk:
        raise ValueError("The validation context was prepared for another clinic.")
    return _Validation(context, draft, today).run()


class _Validation:
    """One run of the checks over one draft; collects faults instead of stopping at the first."""

    def __init__(self, context: ValidationContext, draft: ClaimDraft, today: datetime.date):
        self.context = context
        self.region = context.region
        self.draft = draft
        self.today = today
        self.faults: list[Fault] = []
        # What this claim adds to the patient's free amount, by year, once found to count against it.
        self.free_amount: dict[int, int] = {}
        self.form = draft.support_form if draft.support_form in SupportForm.values else ""
        self.fhb_number = draft.prior_assessment_number.strip()
        self.rows: list[TariffRow | None] = [context.tariff.row(line.visit_date, line.code) for line in draft.lines]
        # Visits are the days with treatment; a patient fee line alone makes no visit.
        self.visit_days = sorted({line.visit_date for line in draft.lines if line.code != PATIENT_FEE_CODE})

    def fault(
        self,
        code: str,
        message: str,
        field: str = "",
        line: int | None = None,
        *,
        visit_date: datetime.date | None = None,
    ) -> None:
        """Add a fault; a line's is its visit's too."""
        if visit_date is None and line is not None:
            visit_date = self.draft.lines[line].visit_date
        self.faults.append(Fault(code=code, message=message, field=field, line=line, visit_date=visit_date))

    def run(self) -> list[Fault]:
        self.check_reference()
        pin = self.check_personal_identity_number()
        self.check_support_form()
        self.check_claim_fields()
        self.check_lines()
        self.check_dates()
        fees = self.check_fees()
        self.check_fees_within_total()
        self.check_prior_assessment_needed()
        if pin is not None:
            eligibility = {day: self.context.eligibility(pin, day) for day in self.visit_days}
            self.check_certificate(eligibility)
            self.check_prior_assessment(eligibility)
            self.check_fee_missing(pin, eligibility, fees)
            self.check_free_amount(pin)
            care = self.check_duplicate_care(pin)
            fhb_lines = self.check_prior_assessment_use(eligibility)
            if not self.faults and self.free_amount:
                self.context.free_amount_accept(pin, self.free_amount)
            if not self.faults and fhb_lines:
                self.context.prior_assessment_accept(*fhb_lines)
            if not self.faults:
                self.context.care_accept(care)
        return self.faults

    # The claim as a whole ----------------------------------------------------------------------------------

    def check_reference(self) -> None:
        reference = self.draft.reference
        if not reference:
            self.fault("reference_required", _("Ange en räkningsreferens."), "reference")
        elif not REFERENCE_PATTERN.fullmatch(reference):
            self.fault(
                "reference_invalid",
                _("Räkningsreferensen får ha 1–20 tecken: siffror, bokstäver A–Z och bindestreck."),
                "reference",
            )
        elif self.context.reference_used(reference):
            self.faults.append(claim_reference_used_fault())

    def check_personal_identity_number(self) -> str | None:
        try:
            return validators.normalize_personal_identity_number(self.draft.personal_identity_number, today=self.today)
        except ValidationError:
            self.fault(
                "personal_identity_number_invalid",
                _(
                    "Personnumret är ogiltigt."
                ),  # validators.PERSONAL_IDENTITY_NUMBER_INVALID, said again in any language
                "personal_identity_number",
            )
            return None

    def check_support_form(self) -> None:
        if not self.form:
            self.fault("support_form_invalid", _("Ange stödform N, F eller S."), "support_form")

    def check_claim_fields(self) -> None:
        draft = self.draft
        if len(draft.comment) > COMMENT_MAX_LENGTH:
            self.fault(
                "comment_too_long",
                _("Räkningskommentaren får ha högst %(max)s tecken.") % {"max": COMMENT_MAX_LENGTH},
                "comment",
            )
        self.check_teeth_counts()
        self.check_care_model()
        self.check_patient_category()
        card = draft.free_card
        if card is not None:
            if not card.number.strip():
                self.fault("free_card_invalid", _("Ange frikortets nummer."), "free_card")
            if card.valid_to < card.valid_from:
                self.fault("free_card_invalid", _("Frikortets giltighet slutar innan den börjar."), "free_card")

    def check_teeth_counts(self) -> None:
        remaining, intact = self.draft.remaining_teeth, self.draft.intact_teeth
        for value, field in ((remaining, "remaining_teeth"), (intact, "intact_teeth")):
            if value is not None and not 0 <= value <= MAX_TEETH:
                label = _("kvarvarande") if field == "remaining_teeth" else _("intakta")
                self.fault(
                    "teeth_out_of_range",
                    _("Antalet %(kind)s tänder ska vara 0–%(max)s.") % {"kind": label, "max": MAX_TEETH},
                    field,
                )
        if intact is not None and remaining is None:
            self.fault(
                "remaining_teeth_required",
                _("Ange antalet kvarvarande tänder när antalet intakta tänder anges."),
                "remaining_teeth",
            )
        elif intact is not None and remaining is not None and intact > remaining:
            self.fault(
                "intact_teeth_exceed_remaining",
                _("Antalet intakta tänder kan inte vara fler än antalet kvarvarande tänder."),
                "intact_teeth",
            )

    def _first_visit_day(self) -> datetime.date:
        """The day a care model's or patient category's use is judged on: the claim's first visit (today without)."""
        return self.visit_days[0] if self.visit_days else self.today

    def check_care_model(self) -> None:
        code = self.draft.care_model.strip()
        day = self._first_visit_day()
        if code:
            model = self.context.care_models.get(code)
            if model is None:
                self.fault(
                    "care_model_unknown",
                    _("Vårdmodell %(code)s finns inte i regionens lista.") % {"code": code},
                    "care_model",
                )
            elif not model.in_use_on(day):
                self.fault(
                    "care_model_retired",
                    _("Vårdmodell %(code)s används inte för vård från %(date)s.")
                    % {"code": code, "date": model.retired_from.isoformat()},
                    "care_model",
                )
        elif self.form == SupportForm.N and any(m.in_use_on(day) for m in self.context.care_models.values()):
            self.fault("care_model_required", _("Ange vårdmodell för N-tandvård."), "care_model")

    def check_patient_category(self) -> None:
        code = self.draft.patient_category.strip()
        if code:
            category = self.context.patient_categories.get(code)
            if category is None or (self.form and category.support_form != self.form):
                self.fault(
                    "patient_category_unknown",
                    _("Patientkategori %(code)s finns inte för %(form)s i regionens lista.")
                    % {"code": code, "form": _form_label(self.form) if self.form else _("stödformen")},
                    "patient_category",
                )
            elif not category.in_use_on(self._first_visit_day()):
                self.fault(
                    "patient_category_retired",
                    _("Patientkategori %(code)s används inte för vård från %(date)s.")
                    % {"code": code, "date": category.retired_from.isoformat()},
                    "patient_category",
                )
        elif self.form == SupportForm.S and any(
            c.support_form == SupportForm.S and c.in_use_on(self._first_visit_day())
            for c in self.context.patient_categories.values()
        ):
            self.fault("patient_category_required", _("Ange patientkategori för S-tandvård."), "patient_category")

    # Lines -------------------------------------------------------------------------------------------------

    def check_lines(self) -> None:
        if not self.visit_days:
            self.fault("lines_empty", _("Räkningen saknar åtgärder."), "lines")
        for index, (line, row) in enumerate(zip(self.draft.lines, self.rows, strict=True)):
            self.faults += line_faults(line, row, support_form=self.form, index=index)

    def check_dates(self) -> None:
        first_line = {}
        for index, line in enumerate(self.draft.lines):
            first_line.setdefault(line.visit_date, index)
        termination = self.context.termination
        if termination is not None and self.today > termination.last_billing_on:
            self.fault(
                "clinic_terminated",
                _("Kliniken är uppsagd med slutdatum %(end)s och kunde skicka in räkningar till och med %(last)s.")
                % {"end": termination.ends_on.isoformat(), "last": termination.last_billing_on.isoformat()},
                "lines",
            )
        for day, index in sorted(first_line.items()):
            if termination is not None and day > termination.ends_on:
                self.fault(
                    "visit_after_end",
                    _("Vård utförd %(date)s ersätts inte: kliniken är uppsagd och slutdatumet är %(end)s.")
                    % {"date": day.isoformat(), "end": termination.ends_on.isoformat()},
                    "lines",
                    index,
                )
            elif day > self.today:
                self.fault(
                    "visit_in_future",
                    _("Besöksdatum %(date)s ligger i framtiden.") % {"date": day.isoformat()},
                    "lines",
                    index,
                )
            elif self.today > last_billing_day(region=self.region, visit_date=day):
                self.fault(
                    "visit_too_old",
                    _("Vård utförd %(date)s är äldre än %(deadline)s och ersätts inte.")
                    % {"date": day.isoformat(), "deadline": billing_deadline_text(self.region, day)},
                    "lines",
                    index,
                )

    # Patient fees ------------------------------------------------------------------------------------------

    def check_fees(self) -> set[datetime.date]:
        """Check the fees given; return the days that have one (from `patient_fees` or a patAvg line)."""
        days = set()
        for day, fee in sorted(self.draft.patient_fees.items()):
            days.add(day)
            if fee < 0:
                self.fault(
                    "patient_fee_negative",
                    _("Patientavgiften för besöket %(date)s kan inte vara negativ.") % {"date": day.isoformat()},
                    "patient_fees",
                    visit_date=day,
                )
            elif (
                fee
                # A day no tariff covers is reported with its lines.
                and self.context.tariff.version(day) is not None
                and self.context.tariff.row(day, PATIENT_FEE_CODE) is None
            ):
                self.fault(
                    "code_unknown",
                    _("Åtgärdskod %(code)s finns inte i ersättningslistan för %(date)s.")
                    % {"code": PATIENT_FEE_CODE, "date": day.isoformat()},
                    "patient_fees",
                    visit_date=day,
                )
        for index, line in enumerate(self.draft.lines):
            if line.code != PATIENT_FEE_CODE:
                continue
            if line.visit_date in days:
                self.fault(
                    "patient_fee_given_twice",
                    _("Patientavgiften för besöket %(date)s är angiven två gånger.")
                    % {"date": line.visit_date.isoformat()},
                    "lines",
                    index,
                )
            days.add(line.visit_date)
        for day in sorted(days - set(self.visit_days)):
            self.fault(
                "patient_fee_without_visit",
                _("Patientavgiften för %(date)s hör inte till något besök på räkningen.") % {"date": day.isoformat()},
                "patient_fees",
                visit_date=day,
            )
        return days

    def check_fees_within_total(self) -> None:
        # Only meaningful when every line has its amount: a faulty line would make the total wrong.
        if any(fault.field in ("lines", "patient_fees") for fault in self.faults):
            return
        total, fee_total, _lines = claim_amounts(self.draft, self.context)
        if total < 0:
            self.fault(
                "patient_fee_exceeds_total",
                _("Patientavgifterna (%(fees)s) är större än räkningens belopp.") % {"fees": format_kronor(-fee_total)},
                "patient_fees",
            )

    def check_fee_missing(
        self, pin: str, eligibility: dict[datetime.date, Eligibility], fee_days: set[datetime.date]
    ) -> None:
        card = self.draft.free_card
        for day in self.visit_days:
            if day in fee_days:
                continue
            answer = eligibility[day]
            free_card = answer.free_card
            if free_card is None and card is not None and card.valid_from <= day <= card.valid_to:
                free_card = FreeCard(number=card.number, valid_from=card.valid_from, valid_to=card.valid_to)
            reasons = fee_exemption_reasons(
                region=self.region,
                personal_identity_number=pin,
                on_date=day,
                free_card=free_card,
                certificate_groups={o.certificate.group for o in answer.options if o.allowed and o.certificate},
            )
            if not reasons:
                self.fault(
                    "patient_fee_missing",
                    _("Patientavgift saknas för besöket %(date)s.") % {"date": day.isoformat()},
                    "patient_fees",
                    visit_date=day,
                )

    # Certificates and prior assessments ----------------------------------------------------------------------

    def check_certificate(self, eligibility: dict[datetime.date, Eligibility]) -> None:
        if self.form not in (SupportForm.N, SupportForm.F):
            return
        options = [answer.option(self.form) for answer in eligibility.values()]
        if not all(option.allowed for option in options):
            self.fault(
                "certificate_missing",
                _("Patienten saknar giltigt intyg för %(form)s.") % {"form": _form_label(self.form)},
                "certificate_number",
            )
        number = self.draft.certificate_number.strip()
        if number and any(option.allowed and option.certificate.number != number for option in options):
            self.fault(
                "certificate_number_mismatch",
                _("Intygsnummer %(number)s är inte patientens giltiga intyg för %(form)s.")
                % {"number": number, "form": _form_label(self.form)},
                "certificate_number",
            )

    def check_prior_assessment_needed(self) -> None:
        if self.fhb_number:
            return
        if self.form == SupportForm.S:
            self.fault(
                "prior_assessment_required", _("S-tandvård kräver förhandsbedömning."), "prior_assessment_number"
            )
        for index, (line, row) in enumerate(zip(self.draft.lines, self.rows, strict=True)):
            if row is not None and row.requires_prior_assessment:
                self.fault(
                    "code_requires_prior_assessment",
                    _("Åtgärd %(code)s kräver förhandsbedömning.") % {"code": line.code},
                    "lines",
                    index,
                )

    def check_prior_assessment(self, eligibility: dict[datetime.date, Eligibility]) -> None:
        """The FHB must be approved, unexpired, this clinic's and this patient's on every visit date.

        `eligibility_for` lists exactly those at the clinic for the patient on the date, so one that is
        missing there is unknown, undecided, denied, expired, or another clinic's or patient's: one message.
        """
        number = self.fhb_number
        if not number or not eligibility:
            return
        found = [_find_assessment(answer.prior_assessments, number) for answer in eligibility.values()]
        if any(assessment is None for assessment in found):
            self.fault(
                "prior_assessment_invalid",
                _("Räkningens förhandsbedömningsnummer %(number)s är ogiltigt.") % {"number": number},
                "prior_assessment_number",
            )
            return
        assessment = found[0]
        if self.form and assessment.support_form != self.form:
            self.fault(
                "prior_assessment_support_form",
                _("Förhandsbedömning %(number)s gäller %(fhb_form)s, inte %(form)s.")
                % {
                    "number": number,
                    "fhb_form": _form_label(assessment.support_form),
                    "form": _form_label(self.form),
                },
                "prior_assessment_number",
            )
        approved = [line for line in assessment.lines.all() if line.approved]
        uncovered = [
            index
            for index, line in enumerate(self.draft.lines)
            if line.code != PATIENT_FEE_CODE and not any(_covers(planned, line) for planned in approved)
        ]
        if uncovered:
            self.fault(
                "not_covered_by_prior_assessment",
                _("Förhandsbedömd vård kan inte faktureras i samma räkning som icke-förhandsbedömd vård."),
                "lines",
                uncovered[0],
            )

    # Duplicate care ----------------------------------------------------------------------------------------

    def check_duplicate_care(self, pin: str) -> list[CareKey]:
        faults, care = duplicate_care_faults(pin=pin, draft=self.draft, rows=self.rows, context=self.context)
        self.faults += faults
        return care

    def check_prior_assessment_use(
        self, eligibility: dict[datetime.date, Eligibility]
    ) -> tuple[int, list[BilledLine]] | None:
        """What is left of a valid FHB must take the claim's lines (`prior_assessment_use_faults`); returns the
        lines the claim adds to the FHB, for the batch's context."""
        if not self.fhb_number or not eligibility or any(f.field == "prior_assessment_number" for f in self.faults):
            return None
        assessment = _find_assessment(next(iter(eligibility.values())).prior_assessments, self.fhb_number)
        if assessment is None:
            return None
        lines = prior_assessment_draft_lines(self.draft, self.context.tariff)
        self.faults += prior_assessment_use_faults(
            assessment=assessment, billed=self.context.prior_assessment_billed(assessment.pk), lines=lines
        )
        return assessment.pk, prior_assessment_billed_of(lines)

    # Free amount -------------------------------------------------------------------------------------------

    def check_free_amount(self, pin: str) -> None:
        uses = free_amount_use(draft=self.draft, context=self.context, personal_identity_number=pin)
        for use in uses:
            if use.exceeded:
                self.fault(
                    "free_amount_exceeded",
                    _("Fribeloppet på %(allowance)s för %(year)s överskrids med %(excess)s; förhandsbedömning krävs.")
                    % {
                        "allowance": format_kronor(use.allowance),
                        "year": use.year,
                        "excess": format_kronor(use.excess),
                    },
                    "prior_assessment_number",
                )
        self.free_amount = {use.year: use.this_claim for use in uses if not use.prior_assessed}


def _all_dates(draft: ClaimDraft) -> list[datetime.date]:
    return [line.visit_date for line in draft.lines] + list(draft.patient_fees)


def _valid_pin(raw: str) -> str | None:
    try:
        return validators.normalize_personal_identity_number(raw)
    except ValidationError:
        return None


def _form_label(form: str) -> str:
    return str(SupportForm(form).label)


def _find_assessment(assessments: list[PriorAssessment], number: str) -> PriorAssessment | None:
    return next((assessment for assessment in assessments if assessment.number == number), None)


def _covers(planned, line: LineDraft) -> bool:
    """An approved planned line covers a claim line of its code, and of its tooth or jaw when it names one."""
    return (
        planned.code == line.code
        and (not planned.tooth or planned.tooth == line.tooth.strip())
        and (not planned.jaw or planned.jaw == line.jaw.strip())
    )


# Prior assessments: what is left of them -------------------------------------------------------------------------

# A claim line billed against an FHB: (its index in the draft, the line, its amount in öre).
FhbLine = tuple[int, LineDraft, int]


def prior_assessment_draft_lines(draft: ClaimDraft, tariff: TariffBook) -> list[FhbLine]:
    """The draft's treatment lines (patient fees left out) with their amounts, as they count against its FHB."""
    return [
        (index, line, line_amount(line, tariff.row(line.visit_date, line.code)))
        for index, line in enumerate(draft.lines)
        if line.code != PATIENT_FEE_CODE
    ]


def prior_assessment_billed_of(lines: Iterable[FhbLine]) -> list[BilledLine]:
    """Lines found correct, as they will count against the FHB once stored."""
    return [BilledLine(line.code, line.tooth.strip(), line.jaw.strip(), amount) for _index, line, amount in lines]


def prior_assessment_use_faults(
    *, assessment: PriorAssessment, billed: list[BilledLine], lines: list[FhbLine]
) -> list[Fault]:
    """What the FHB cannot take of these lines, given what is billed against it already (`billed`).

    An approved FHB is used up line by line: each approved planned line (code, and tooth or jaw when it names
    one) is billed once, so a line planned twice is billed twice; and the amount billed against the FHB never
    passes its approved amount (the approved lines at their approved amounts: a limitation's own figures).
    The validation asks this with what its context read; `claims.services` asks it again under the FHB's lock
    when the claims are stored, so that two claims sent at once cannot both take the last of it.
    """
    approved = [planned for planned in assessment.lines.all() if planned.approved]
    used = [False] * len(approved)

    def take(code: str, tooth: str, jaw: str) -> tuple[bool, int]:
        """Use a planned line covering the line, a specific one (its tooth or jaw) first: (taken, how many cover)."""
        covering = [
            i
            for i, planned in enumerate(approved)
            if planned.code == code
            and (not planned.tooth or planned.tooth == tooth)
            and (not planned.jaw or planned.jaw == jaw)
        ]
        covering.sort(key=lambda i: not (approved[i].tooth or approved[i].jaw))
        for i in covering:
            if not used[i]:
                used[i] = True
                return True, len(covering)
        return not covering, len(covering)  # a line no planned line covers is the coverage check's fault

    for line in billed:
        take(line.code, line.tooth, line.jaw)
    faults = []
    adds = 0  # only lines the FHB covers: a line it does not cover is the coverage check's fault
    for index, line, amount in lines:
        tooth, jaw = line.tooth.strip(), line.jaw.strip()
        taken, count = take(line.code, tooth, jaw)
        adds += amount if count else 0
        if not taken:
            where = line.code
            if tooth:
                where = _("%(code)s tand %(tooth)s") % {"code": line.code, "tooth": tooth}
            elif jaw:
                where = _("%(code)s käke %(jaw)s") % {"code": line.code, "jaw": Jaw(jaw).label if jaw in JAWS else jaw}
            faults.append(
                Fault(
                    code="prior_assessment_line_used",
                    message=_(
                        "Förhandsbedömning %(number)s medger inte åtgärd %(line)s fler gånger: "
                        "godkänt antal %(approved)s, fakturerat antal %(billed)s."
                    )
                    % {"number": assessment.number, "line": where, "approved": count, "billed": count},
                    field="lines",
                    line=index,
                    visit_date=line.visit_date,
                    line_field="code",
                )
            )
    approved_total = sum(planned.approved_amount or 0 for planned in approved)
    billed_total = sum(line.amount for line in billed)
    if billed_total + adds > approved_total:
        faults.append(
            Fault(
                code="prior_assessment_amount_exceeded",
                message=_("Förhandsbedömning %(number)s medger inte mer: godkänt %(approved)s, fakturerat %(billed)s.")
                % {
                    "number": assessment.number,
                    "approved": format_kronor(approved_total),
                    "billed": format_kronor(billed_total),
                },
                field="prior_assessment_number",
            )
        )
    return faults


# Prior assessment requests -----------------------------------------------------------------------------------


def prior_assessment_request_faults(
    *,
    region: Region,
    support_form: str,
    planned_date: datetime.date,
    patient_category: str,
    lines: list[LineDraft],
    tariff: TariffBook | None = None,
) -> list[Fault]:
    """The faults of an FHB request, checked as a claim's are: each planned line against the region's tariff on the
    planned date by `line_faults` (the code is in the tariff and may be billed for the support form, tooth and jaw
    as the code wants, a price entered only where the tariff has none), and the patient category, which S needs.
    The lines carry the planned date as their visit date; a line's fault names its place among them."""
    faults: list[Fault] = []
    code = patient_category.strip()
    categories = {c.code: c for c in PatientCategory.objects.filter(region=region, support_form=support_form)}
    if code and code not in categories:
        faults.append(
            Fault(
                "patient_category_unknown",
                _("Patientkategori %(code)s finns inte för %(form)s i regionens lista.")
                % {"code": code, "form": _form_label(support_form)},
                "patient_category",
            )
        )
    elif code and not categories[code].in_use_on(planned_date):
        faults.append(
            Fault(
                "patient_category_retired",
                _("Patientkategori %(code)s används inte för vård från %(date)s.")
                % {"code": code, "date": categories[code].retired_from.isoformat()},
                "patient_category",
            )
        )
    elif not code and support_form == SupportForm.S and any(c.in_use_on(planned_date) for c in categories.values()):
        faults.append(Fault("patient_category_required", _("Ange patientkategori för S-tandvård."), "patient_category"))
    tariff = tariff or TariffBook(region)
    for index, line in enumerate(lines):
        faults += line_faults(line, tariff.row(planned_date, line.code), support_form=support_form, index=index)
    return faults


def prior_assessment_request_prices(
    *, lines: list[LineDraft], planned_date: datetime.date, tariff: TariffBook
) -> list[int]:
    """Each planned line's estimated price in öre: the tariff's where it is fixed, else the price entered."""
    return [line_amount(line, tariff.row(planned_date, line.code)) for line in lines]
