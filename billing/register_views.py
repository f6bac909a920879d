"""Registrera räkning: one claim for one patient, step by step on one page that works without JavaScript.

Every step is a POST of the whole page: Sök person, Lägg till åtgärd, Ta bort, Skicka in tandvårdsräkning.
The lines travel in a hidden field; the patient looked up is kept in the session under a random draft id, so
the personnummer never appears in a URL. With JavaScript (static/js/claim-form.js) lines are added and removed
without reloading, by the same view answering with the lines part of the page only, and faults show as the
clinic types, from `claim_register_validate`.
"""

from __future__ import annotations

import datetime
import importlib
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agreements.selectors import agreement_standing
from claims.drafts import ClaimDraft, Fault
from claims.models import Claim, Invoice, TariffRow
from claims.selectors import PriorAssessmentUse, prior_assessment_use
from claims.services import ClaimRejected
from claims.tariffs import TariffBook
from claims.validation import (
    FreeAmountUse,
    ValidationContext,
    billing_deadline_warnings,
    claim_priced,
    claim_validate,
    free_amount_use,
    invoice_reference_fault,
    line_amount,
)
from clinics.models import Clinic, SupportForm
from eligibility.models import APPROVED_STATES, PriorAssessment
from eligibility.selectors import NO_RECORDS, Eligibility, PatientRecords, eligibility_from, patient_records_of
from portal import money
from portal.access import clinic_view
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record
from portal.forms import PersonalIdentityNumberField

from .claim_forms import (
    ClaimForm,
    LineEntryForm,
    StoredLine,
    fee_field_name,
    fees_from,
    lines_dump,
    lines_load,
)
from .services import AgreementUnsigned, claim_submit

SESSION_KEY = "claim_drafts"
MAX_DRAFTS = 20  # drafts remembered per session; the oldest is forgotten first
DRAFT_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PARTIAL_HEADER = "X-Claim-Partial"
ACCESS_LOG_TEXT = AccessShown(AccessShownKind.CLAIM_REGISTER)

# Where each field a fault names is on the page (the claim's own fields; lines and fees are worked out apart).
FAULT_FIELDS = {
    "personal_identity_number": "personal_identity_number",
    "support_form": "support_form",
    "certificate_number": "support_form",
    "care_model": "care_model",
    "patient_category": "patient_category",
    "prior_assessment_number": "prior_assessment",
    "free_card": "free_card_number",
    "reference": "reference",
    "invoice_reference": "invoice_reference",
    "comment": "comment",
    "remaining_teeth": "remaining_teeth",
    "intact_teeth": "intact_teeth",
}
LINE_ACTIONS = ("add_line", "remove_line")
# The fault field each input of the claim form answers to, where its name is not the fault field's own.
INPUT_FAULT_FIELDS = {
    "has_free_card": "free_card",
    "free_card_number": "free_card",
    "free_card_valid_from": "free_card",
    "free_card_valid_to": "free_card",
    "prior_assessment": "prior_assessment_number",
}


# The tariff -------------------------------------------------------------------------------------------------


def tariff_choices(tariff: TariffBook, day: datetime.date) -> list[TariffRow]:
    """The codes to suggest for a visit on `day`, patient fee first as in the manual's list."""
    rows = list((tariff.rows(day) or {}).values())
    return sorted(rows, key=lambda row: (not row.is_patient_fee, row.code))


def tariff_label(row: TariffRow) -> str:
    """'101 Basundersökning och diagnostik, utförd av tandläkare (980 kr)', 'patAvg Patientavgift (ange pris)'."""
    label = f"{row.code} {row.description}"
    if row.price is not None:
        return f"{label} ({money.format_kronor(row.price)})"
    return label if "ange pris" in row.description.lower() else f"{label} ({_('ange pris')})"


# Drafts in the session --------------------------------------------------------------------------------------


def _new_draft_id() -> str:
    return secrets.token_urlsafe(16)


def _draft_id(value: str | None) -> str:
    return value if value and DRAFT_ID.match(value) else _new_draft_id()


def _draft_state(request: HttpRequest, draft_id: str) -> dict:
    return dict(request.session.get(SESSION_KEY, {}).get(draft_id, {}))


def _draft_remember(request: HttpRequest, draft_id: str, **values) -> None:
    drafts = dict(request.session.get(SESSION_KEY, {}))
    state = {**drafts.pop(draft_id, {}), **values}
    drafts[draft_id] = state
    request.session[SESSION_KEY] = dict(list(drafts.items())[-MAX_DRAFTS:])


def _submitted_claim_pk(request: HttpRequest, draft_id: str) -> int | None:
    """The claim this draft became, read from the stored session: another request may just have stored it."""
    session_key = request.session.session_key
    if session_key:
        stored = importlib.import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key).load()
    else:
        stored = {}
    return (stored.get(SESSION_KEY, {}).get(draft_id) or {}).get("claim") or _draft_state(request, draft_id).get(
        "claim"
    )


def _lock_draft(draft_id: str) -> None:
    """Hold the draft for the rest of the transaction: a double click waits here for the first submit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"claims.register:{draft_id}"])


# One request's page -----------------------------------------------------------------------------------------


@dataclass
class FeeRow:
    day: datetime.date
    name: str
    value: str
    error: str = ""
    faults: list[str] = field(default_factory=list)

    @property
    def field_id(self) -> str:
        return f"id_{self.name}"


@dataclass
class LineRow:
    index: int
    line: StoredLine
    label: str
    amount: int | None
    faults: list[str] = field(default_factory=list)

    @property
    def place(self) -> str:
        return self.line.tooth or {"OK": "ÖK"}.get(self.line.jaw, self.line.jaw)


@dataclass
class Visit:
    day: datetime.date
    lines: list[LineRow]
    fee: FeeRow


class RegisterPage:
    """What one POST of the page holds, what it asks for, and what is shown in answer."""

    def __init__(self, request: HttpRequest, data=None):
        self.request = request
        self.clinic: Clinic = request.clinic
        self.today = timezone.localdate()
        # What the page shows (codes, prices, the Summa, the fribelopp box) is read through the validation's
        # context and its tariff book; the validation itself prepares its own for each run.
        self.validation_context = ValidationContext(clinic=self.clinic)
        self.tariff: TariffBook = self.validation_context.tariff
        self.data = data.copy() if data is not None else None
        self.draft_id = _draft_id(data.get("draft") if data is not None else None)
        self.state = _draft_state(request, self.draft_id)
        self.lines: list[StoredLine] = lines_load(data.get("lines", "")) if data is not None else []
        self.records: PatientRecords = NO_RECORDS
        self.eligibility: Eligibility | None = None
        self.form: ClaimForm | None = None
        self.entry: LineEntryForm | None = None
        self.pin_error = ""
        self.fee_texts: dict[datetime.date, str] = {}
        self.faults: list[Fault] = []
        self.announce = ""
        self.show_line_faults = False

    @property
    def pin(self) -> str | None:
        return self.state.get("pin")

    # Steps ----------------------------------------------------------------------------------------------------

    def search(self) -> None:
        """Sök person: look the patient up (and log it); a new patient brings its own defaults."""
        try:
            pin = PersonalIdentityNumberField().clean(self.data.get("personal_identity_number", ""))
        except ValidationError as error:
            self.pin_error = error.messages[0]
            return
        changed = pin != self.pin
        self.state["pin"] = pin
        _draft_remember(self.request, self.draft_id, pin=pin)
        access_log_record(request=self.request, personal_identity_number=pin, shown=ACCESS_LOG_TEXT)
        self._load_eligibility()
        if changed:
            self._patient_defaults()

    def _load_eligibility(self) -> None:
        if self.pin and self.eligibility is None:
            # The records are the validation's too (`validate`): read once a request.
            self.records = patient_records_of(personal_identity_number=self.pin, clinic=self.clinic)
            self.eligibility = eligibility_from(
                self.records, personal_identity_number=self.pin, clinic=self.clinic, on_date=self.today
            )

    def _patient_defaults(self) -> None:
        """The manual's defaults for a patient just looked up: the certificate's form, else S; the FHB; the free
        card registered for the patient."""
        eligibility = self.eligibility
        allowed = [o for o in eligibility.options if o.allowed and o.certificate]
        support_form = allowed[0].support_form if allowed else SupportForm.S
        self.data["support_form"] = support_form
        # S always needs one: the only approved S assessment is the one. For N and F the clinic chooses, as
        # prior-assessed care and other care never share a claim.
        of_s = [a for a in eligibility.prior_assessments if a.support_form == SupportForm.S]
        self.data["prior_assessment"] = of_s[0].number if support_form == SupportForm.S and len(of_s) == 1 else ""
        card = eligibility.free_card
        for name, value in (
            ("has_free_card", "on" if card else ""),
            ("free_card_number", card.number if card else ""),
            ("free_card_valid_from", card.valid_from.isoformat() if card else ""),
            ("free_card_valid_to", card.valid_to.isoformat() if card else ""),
        ):
            self.data[name] = value
        # The certificate's group (N1 …) is the patient category when the region lists it.
        group = allowed[0].certificate.group if allowed else ""
        category = self.validation_context.patient_categories.get(group)
        known = category is not None and category.support_form == support_form
        self.data["patient_category"] = group if group and known else ""

    def from_prior_assessment(self, value: str) -> None:
        """One click from an approved FHB's page: its patient looked up (and logged), its support form and number
        chosen, and its approved lines added for today, an entered price at its approved amount."""
        assessment = (
            PriorAssessment.objects.of_clinic(self.clinic)
            .filter(pk=int(value) if value.isdigit() else 0, state__in=APPROVED_STATES)
            .select_related("patient")
            .first()
        )
        if assessment is None:
            raise Http404
        self.data["personal_identity_number"] = assessment.patient.personal_identity_number
        self.search()
        self.data["support_form"] = assessment.support_form
        self.data["prior_assessment"] = assessment.number
        self.lines = []
        for planned in assessment.lines.all():
            if not planned.approved:
                continue
            row = self.tariff.row(self.today, planned.code)
            entered = row is not None and row.price is None
            self.lines.append(
                StoredLine(
                    visit_date=self.today,
                    code=planned.code,
                    tooth=planned.tooth,
                    jaw=planned.jaw,
                    price=planned.approved_amount if entered else None,
                )
            )
        self.show_line_faults = True
        self.announce = _("De godkända åtgärderna i %(number)s är tillagda.") % {"number": assessment.number}

    def prior_assessment_use(self) -> tuple[PriorAssessment, PriorAssessmentUse] | None:
        """The FHB chosen in the form and what is billed against it, for the meter beside the choice."""
        if self.eligibility is None or self.data is None:
            return None
        number = (self.data.get("prior_assessment") or "").strip()
        assessment = next((a for a in self.eligibility.prior_assessments if a.number == number), None)
        return (assessment, prior_assessment_use(assessment)) if assessment else None

    def build_forms(self) -> None:
        self._load_eligibility()
        if self.data is None:
            self.form = ClaimForm(**self._form_lists(), eligibility=self.eligibility, initial=self._initial())
        else:
            if self.pin and not self.pin_error:
                typed = self.data.get("personal_identity_number", "")
                if not typed.strip():
                    self.data["personal_identity_number"] = self.pin
            self.form = ClaimForm(self.data, **self._form_lists(), eligibility=self.eligibility)
            self.form.is_valid()
            if "personal_identity_number" in self.form.errors:
                pass  # the field said what is wrong with what was typed
            elif self.pin_error:
                self.form.add_error("personal_identity_number", self.pin_error)
            elif self.pin and self._typed_pin() != self.pin:
                self.form.add_error(
                    "personal_identity_number",
                    _("Du har ändrat personnumret. Klicka på Sök person för att hämta patienten."),
                )
        self.entry = LineEntryForm(tariff_on=self.tariff.rows, initial=self._entry_initial())
        self.fee_texts = {}
        if self.data is not None:
            for key, value in self.data.items():
                if key.startswith("fee-") and value.strip():
                    try:
                        self.fee_texts[datetime.date.fromisoformat(key[4:])] = value.strip()
                    except ValueError:
                        continue

    def _form_lists(self) -> dict:
        """The region and its lists for the claim form, as the validation reads them: read once a request."""
        return {
            "region": self.clinic.region,
            "care_models": self.validation_context.care_models.values(),
            "patient_categories": self.validation_context.patient_categories.values(),
        }

    def _initial(self) -> dict:
        initial = {}
        invoice_pk = self.request.GET.get("faktura", "")
        if invoice_pk.isdigit():
            invoice = Invoice.objects.of_clinic(self.clinic).filter(pk=int(invoice_pk)).first()
            if invoice is not None:
                initial["invoice_reference"] = invoice.reference
        return initial

    def _entry_initial(self) -> dict:
        if self.data is None:
            return {}
        return {name: self.data.get(f"entry-{name}", "") for name in LineEntryForm.base_fields}

    def _typed_pin(self) -> str:
        try:
            return PersonalIdentityNumberField().clean(self.data.get("personal_identity_number", ""))
        except ValidationError:
            return ""

    def _load_tariff(self) -> None:
        """The tariff of every day the page shows (the lines, the Summa, the codes of the day typed), read at once; a
        submit that goes through never asks."""
        days = [self.today, self._entry_day(), *(line.visit_date for line in self.lines)]
        self.tariff.load(min(days), max(days))

    def add_line(self) -> None:
        self._load_tariff()
        entry = LineEntryForm(self.data, tariff_on=self.tariff.rows)
        self.show_line_faults = True
        if not entry.is_valid():
            self.entry = entry
            return
        line = entry.line()
        if entry.row.is_patient_fee:
            # The manual's patAvg code: the fee of that visit, shown as the visit's negative patAvg line.
            self.fee_texts[line.visit_date] = money.format_kronor(line.price, unit=False).replace("\u00a0", " ")
            self.announce = _("Patientavgift för besöket %(date)s är %(amount)s.") % {
                "date": line.visit_date.isoformat(),
                "amount": money.format_kronor(line.price),
            }
        else:
            self.lines.append(line)
            self.announce = _("Åtgärd %(code)s den %(date)s är tillagd.") % {
                "code": line.code,
                "date": line.visit_date.isoformat(),
            }
        # The next line is most often of the same visit: keep the date, empty the rest.
        self.entry = LineEntryForm(tariff_on=self.tariff.rows, initial={"visit_date": line.visit_date})

    def remove_line(self, value: str) -> None:
        self.show_line_faults = True
        if not value.isdigit() or int(value) >= len(self.lines):
            return
        removed = self.lines.pop(int(value))
        if removed.visit_date not in {line.visit_date for line in self.lines}:
            self.fee_texts.pop(removed.visit_date, None)
        self.announce = _("Åtgärd %(code)s den %(date)s är borttagen.") % {
            "code": removed.code,
            "date": removed.visit_date.isoformat(),
        }

    # The claim ------------------------------------------------------------------------------------------------

    def visit_days(self) -> list[datetime.date]:
        return sorted({line.visit_date for line in self.lines} | set(self.fee_texts))

    def fees(self) -> tuple[dict[datetime.date, int], dict[datetime.date, str]]:
        data = {fee_field_name(day): text for day, text in self.fee_texts.items()}
        return fees_from(data, self.visit_days())

    def draft(self) -> ClaimDraft:
        fees, _errors = self.fees()
        return self.form.draft(personal_identity_number=self.pin or "", lines=self.lines, fees=fees)

    def checking(self, draft: ClaimDraft) -> ValidationContext:
        """A validation context for the draft, prepared as `claim_validate` prepares its own, with the tariff, the
        region's rules and lists and the patient's records the page has read (the page's own context is what it
        shows, and stays as it is)."""
        self._load_eligibility()
        self._load_tariff()
        return ValidationContext(
            clinic=self.clinic, drafts=[draft], like=self.validation_context, patients={self.pin: self.records}
        )

    def validate(self) -> list[Fault]:
        """The claim's faults and the invoice number's, as `claim_submit` will find them."""
        if not self.pin:
            return []
        draft = self.draft()
        faults = claim_validate(clinic=self.clinic, draft=draft, today=self.today, context=self.checking(draft))
        reference = self.form.cleaned_data.get("invoice_reference", "")
        # The web form may add claims to today's still-open invoice of the same number.
        fault = invoice_reference_fault(clinic=self.clinic, reference=reference, may_join_open=True, today=self.today)
        return ([fault] if fault else []) + faults

    def input_errors(self) -> bool:
        """Whether what was typed cannot even be read (a date, an amount, a changed personnummer)."""
        _fees, fee_errors = self.fees()
        return bool(self.form.errors) or bool(fee_errors)

    # Showing faults -------------------------------------------------------------------------------------------

    def _fault_field(self, fault: Fault) -> str | None:
        """The claim form's field a fault is shown beside; None for a line's, a visit fee's or the lines'."""
        if fault.line is not None and 0 <= fault.line < len(self.lines):
            return None
        name = FAULT_FIELDS.get(fault.field)
        if name == "prior_assessment" and not (self.eligibility and self.eligibility.prior_assessments):
            return "support_form"  # no assessment to choose: the support form is what can be changed
        return name

    def fault_target(self, fault: Fault) -> str:
        """The id of the element a fault belongs to, for the summary's link and the script."""
        if fault.line is not None and 0 <= fault.line < len(self.lines):
            return f"line-{fault.line}"
        if fault.field == "patient_fees":
            # A visit's fee fault names its visit; one of the whole claim's fees goes to the first visit's fee.
            days = self.visit_days()
            day = fault.visit_date if fault.visit_date in days else (days[0] if days else None)
            return f"id_{fee_field_name(day)}" if day else "id_entry-visit_date"
        if fault.field == "lines":
            return "claim-lines-table" if self.lines else "id_entry-code"
        name = self._fault_field(fault)
        if name == "support_form":
            return "id_support_form_0"
        return f"id_{name}" if name else ""

    def input_targets(self) -> dict[str, str]:
        """Where a fault about each input of the claim is shown, by the input's name: the script clears and fills
        there as the clinic edits, so it needs no map of its own."""
        targets = {}
        for name in self.form.fields:
            if name != "personal_identity_number":
                fault = Fault(code="", message="", field=INPUT_FAULT_FIELDS.get(name, name))
                targets[name] = self.fault_target(fault)
        for day in self.visit_days():
            targets[fee_field_name(day)] = self.fault_target(
                Fault(code="", message="", field="patient_fees", visit_date=day)
            )
        return {name: target for name, target in targets.items() if target}

    def place_faults(self, faults: list[Fault]) -> None:
        """Put each fault beside its field (lines and fees are drawn with theirs); the summary lists them all."""
        self.faults = faults
        for fault in faults:
            name = self._fault_field(fault)
            if name and name in self.form.fields:
                self.form.add_error(name, fault.message)

    def summary(self) -> list[tuple[str, str]]:
        """(message, link) for the error summary: the fields that could not be read, then the claim's faults."""
        items = []
        placed = {fault.message for fault in self.faults}
        for name, errors in self.form.errors.items():
            bound = self.form[name] if name in self.form.fields else None
            for error in errors:
                if error in placed:
                    continue
                target = "id_support_form_0" if name == "support_form" else (bound.auto_id if bound else "")
                items.append((f"{bound.label}: {error}" if bound else error, f"#{target}" if target else ""))
        _fees, fee_errors = self.fees()
        for day, error in sorted(fee_errors.items()):
            items.append(
                (
                    _("Patientavgift %(date)s: %(error)s") % {"date": day.isoformat(), "error": error},
                    f"#id_{fee_field_name(day)}",
                )
            )
        for fault in self.faults:
            target = self.fault_target(fault)
            items.append((fault.message, f"#{target}" if target else ""))
        return items

    def entry_summary(self) -> list[tuple[str, str]]:
        if not self.entry.is_bound:
            return []
        return [
            (f"{self.entry[name].label}: {error}", f"#{self.entry[name].auto_id}")
            for name, errors in self.entry.errors.items()
            if name in self.entry.fields
            for error in errors
        ]

    # The lines part -------------------------------------------------------------------------------------------

    def visits(self, faults: list[Fault]) -> list[Visit]:
        line_faults: dict[int, list[str]] = defaultdict(list)
        fee_faults: dict[str, list[str]] = defaultdict(list)
        for fault in faults:
            target = self.fault_target(fault)
            if target.startswith("line-"):
                line_faults[int(target[5:])].append(fault.message)
            elif fault.field == "patient_fees":
                fee_faults[target].append(fault.message)
        _fees, fee_errors = self.fees()
        by_day: dict[datetime.date, list[LineRow]] = defaultdict(list)
        for index, line in enumerate(self.lines):
            row = self.tariff.row(line.visit_date, line.code)
            label = tariff_label(row) if row else line.code
            amount = line_amount(line.as_draft(), row)
            by_day[line.visit_date].append(LineRow(index, line, label, amount, line_faults[index]))
        visits = []
        for day in self.visit_days():
            name = fee_field_name(day)
            fee = FeeRow(day, name, self.fee_texts.get(day, ""), fee_errors.get(day, ""), fee_faults[f"id_{name}"])
            visits.append(Visit(day, by_day[day], fee))
        return visits

    def _priced_draft(self) -> ClaimDraft:
        """The draft as far as it can be read, for its amounts: lines and fees are all a GET page has."""
        if self.form.is_bound:
            return self.draft()
        fees, _errors = self.fees()
        lines = [line.as_draft() for line in self.lines]
        return ClaimDraft(personal_identity_number="", support_form="", reference="", lines=lines, patient_fees=fees)

    def total(self) -> int:
        """The Summa, as the claim would be stored (a patient fee that cannot be read is left out)."""
        total, _fee_total, _lines = claim_priced(self._priced_draft(), self.tariff)
        return total

    def free_amounts(self) -> list[FreeAmountUse]:
        """The fribelopp box: per year of the visits (this year before any), what the patient has used and what
        this claim adds, as the validation counts it."""
        if not self.pin or not self.form.is_bound or not self.form.cleaned_data.get("support_form"):
            return []
        return free_amount_use(
            draft=self.draft(),
            context=self.validation_context,
            personal_identity_number=self.pin,
            years=[] if self.lines else [self.today.year],
        )

    def context(self) -> dict:
        support_options = []
        if self.eligibility is not None:
            support_options = list(zip(self.form["support_form"], self.eligibility.options, strict=False))
        fhb_use = self.prior_assessment_use()
        context = {
            "page": self,
            "fhb_assessment": fhb_use[0] if fhb_use else None,
            "fhb_use": fhb_use[1] if fhb_use else None,
            "form": self.form,
            "entry": self.entry,
            "eligibility": self.eligibility,
            "support_options": support_options,
            "draft_id": self.draft_id,
            "entry_summary": self.entry_summary(),
            "summary": self.summary() if self.form.is_bound else [],
            "announce": self.announce,
            "submitted_claim": self._submitted_claim(),
        }
        if self.eligibility is not None:
            # The Ersättning part is drawn once the patient is looked up; until then its tariff and sums are not read.
            context.update(self._lines_context())
        return context

    def _lines_context(self) -> dict:
        """What the Ersättning part (billing/includes/register_lines.html) draws."""
        self._load_tariff()
        faults = self.faults
        if self.show_line_faults and self.pin and not faults:
            faults = [fault for fault in self.validate() if fault.line is not None]
        entry_day = self._entry_day()
        return {
            "lines_json": lines_dump(self.lines),
            "visits": self.visits(faults),
            "deadline_warnings": billing_deadline_warnings(
                region=self.clinic.region, visit_dates=self.visit_days(), today=self.today
            ),
            "total": self.total(),
            "free_amounts": self.free_amounts(),
            "tariff_rows": [(row, tariff_label(row)) for row in tariff_choices(self.tariff, entry_day)],
            "tariff_missing": self.tariff.version(entry_day) is None,
            "entry_day": entry_day,
        }

    def _entry_day(self) -> datetime.date:
        if self.entry is not None:
            value = self.entry["visit_date"].value()
            if isinstance(value, datetime.date):
                return value
            try:
                return datetime.date.fromisoformat(str(value or ""))
            except ValueError:
                pass
        return self.lines[-1].visit_date if self.lines else self.today

    def _submitted_claim(self) -> Claim | None:
        pk = self.state.get("claim")
        return Claim.objects.of_clinic(self.clinic).filter(pk=pk).select_related("invoice").first() if pk else None


def _invoice_list_url(clinic: Clinic) -> str:
    return reverse("invoice_list", kwargs={"clinic_pk": clinic.pk})


def _render(
    request: HttpRequest, page: RegisterPage, *, partial: bool = False, refused: AgreementUnsigned | None = None
) -> HttpResponse:
    context = page.context()
    context["agreement_standing"] = agreement_standing(clinic=request.clinic, today=timezone.localdate())
    context["agreement_refused"] = refused
    if partial:
        response = render(request, "billing/includes/register_lines.html", context)
        response[PARTIAL_HEADER] = "lines"
        return response
    return render(request, "billing/register.html", context)


def _wants_partial(request: HttpRequest, action: str) -> bool:
    return request.headers.get(PARTIAL_HEADER) == "lines" and action in LINE_ACTIONS


def _action(data) -> str:
    if "remove_line" in data:
        return "remove_line"
    return data.get("action", "")


def enter_action(page: RegisterPage) -> str:
    """What Enter in a field means when no script decides it (the form's hidden first button): the line typed in
    Åtgärd is added for the patient already looked up; otherwise Sök person, as before, for the personnummer typed.
    """
    typed_pin = (page.data.get("personal_identity_number") or "").strip()
    same_patient = page.pin is not None and (not typed_pin or page._typed_pin() == page.pin)
    return "add_line" if same_patient and (page.data.get("entry-code") or "").strip() else "search"


# Views ------------------------------------------------------------------------------------------------------


@clinic_view()
@require_http_methods(["GET", "POST"])
def claim_register(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        page = RegisterPage(request)
        page.build_forms()
        return _render(request, page)

    page = RegisterPage(request, request.POST)
    action = _action(request.POST)
    if action == "enter":
        action = enter_action(page)
    if action == "submit" and page.state.get("claim"):
        # The same draft sent again (a double click, or back and send): the first result, not a second claim.
        return redirect("claim_register_done", clinic_pk=request.clinic.pk, claim_pk=page.state["claim"])
    if action == "search":
        page.search()
    elif action == "from_prior_assessment":
        page.from_prior_assessment(request.POST.get("prior_assessment", ""))
    page.build_forms()
    if page.pin is None:
        if action and action != "search":
            page.form.add_error("personal_identity_number", _("Sök patienten med personnummer först."))
        return _render(request, page)
    if action == "add_line":
        page.add_line()
    elif action == "remove_line":
        page.remove_line(request.POST.get("remove_line", ""))
    elif action == "submit":
        return _submit(request, page)
    return _render(request, page, partial=_wants_partial(request, action))


def _submit(request: HttpRequest, page: RegisterPage) -> HttpResponse:
    if page.input_errors():
        # Show what cannot be read together with everything else the validation finds.
        page.place_faults(page.validate())
        return _render(request, page)
    draft = page.draft()
    invoice_reference = page.form.cleaned_data.get("invoice_reference", "")
    with transaction.atomic():
        _lock_draft(page.draft_id)
        claim_pk = _submitted_claim_pk(request, page.draft_id)
        if claim_pk is not None:
            _draft_remember(request, page.draft_id, claim=claim_pk)
            return redirect("claim_register_done", clinic_pk=request.clinic.pk, claim_pk=claim_pk)
        try:
            claim = claim_submit(
                actor=request.user,
                clinic=request.clinic,
                invoice_reference=invoice_reference,
                draft=draft,
                context=page.checking(draft),
            )
        except ClaimRejected as rejected:
            page.place_faults(rejected.faults)
            return _render(request, page)
        except AgreementUnsigned as refused:
            return _render(request, page, refused=refused)
        _draft_remember(request, page.draft_id, claim=claim.pk)
        # Stored with the claim, in its transaction: a second submit waiting on the lock finds it.
        request.session.save()
    return redirect("claim_register_done", clinic_pk=request.clinic.pk, claim_pk=claim.pk)


def _total_text(page: RegisterPage) -> str | None:
    """The Summa for the script; None while a patient fee typed cannot be read (the script keeps the last one)."""
    _fees, fee_errors = page.fees()
    return None if fee_errors else money.format_kronor(page.total())


@clinic_view()
@require_POST
def claim_register_validate(request: HttpRequest) -> JsonResponse:
    """The faults of the draft as it stands, where each input's faults are shown, and the Summa: for the script to
    show beside the fields while the clinic types, without working out amounts or places itself."""
    page = RegisterPage(request, request.POST)
    page.build_forms()
    faults = page.validate()
    fhb_use = page.prior_assessment_use()
    return JsonResponse(
        {
            "faults": [
                {"code": f.code, "message": f.message, "target": page.fault_target(f), "line": f.line} for f in faults
            ],
            "targets": page.input_targets(),
            "total": _total_text(page),
            # The FHB meter for the FHB chosen now (empty: none chosen), rendered as the page renders it.
            "prior_assessment_use": render_to_string(
                "claims/includes/prior_assessment_use.html",
                {"assessment": fhb_use[0], "use": fhb_use[1]},
                request=request,
            )
            if fhb_use
            else "",
        }
    )


@clinic_view()
@require_GET
def claim_register_done(request: HttpRequest, claim_pk: int) -> HttpResponse:
    claim = Claim.objects.of_clinic(request.clinic).select_related("invoice").filter(pk=claim_pk).first()
    if claim is None:
        raise Http404
    invoice_claims = list(claim.invoice.claims.order_by("created_at", "pk"))
    return render(
        request,
        "billing/register_done.html",
        {
            "claim": claim,
            "invoice": claim.invoice,
            "invoice_claims": invoice_claims,
            "invoice_total": sum(c.total for c in invoice_claims),
            "invoice_list_url": _invoice_list_url(request.clinic),
        },
    )
