"""The forms of Registrera räkning: the claim's fields, the Ersättning entry row, the lines carried between steps.

The page is one form that is posted at each step; the lines already added travel back and forth in one hidden
JSON field and the patient fee of each visit in a field of its own. Nothing here decides whether the claim can be
paid: that is `claims.validation.claim_validate`, called by the view. The entry row reads what was typed, finds the
code in the tariff book for the date and asks `claims.validation.line_faults` whether the line may be billed:
the same check, in the same words, as when the claim is sent.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from claims.drafts import ClaimDraft, FreeCardDraft, LineDraft
from claims.models import TariffRow
from claims.validation import (
    COMMENT_MAX_LENGTH,
    INVOICE_REFERENCE_MAX_LENGTH,
    LINE_COMMENT_MAX_LENGTH,
    REFERENCE_MAX_LENGTH,
    line_faults,
)
from clinics.models import CareModel, PatientCategory, Region, SupportForm
from eligibility.models import Jaw
from eligibility.selectors import Eligibility
from portal import money
from portal.forms import DATE_WIDGET, DateField, KronorField, PersonalIdentityNumberField

MAX_LINES = 200
FEE_FIELD_PREFIX = "fee-"


@dataclass(frozen=True)
class StoredLine:
    """A line already added to the draft, as it is kept in the page between steps. `price` is in öre."""

    visit_date: datetime.date
    code: str
    tooth: str = ""
    jaw: str = ""
    price: int | None = None
    comment: str = ""

    def as_draft(self) -> LineDraft:
        return LineDraft(
            visit_date=self.visit_date,
            code=self.code,
            tooth=self.tooth,
            jaw=self.jaw,
            price=self.price,
            comment=self.comment,
        )


def lines_dump(lines: list[StoredLine]) -> str:
    return json.dumps(
        [{**asdict(line), "visit_date": line.visit_date.isoformat()} for line in lines], separators=(",", ":")
    )


def lines_load(text: str) -> list[StoredLine]:
    """The lines from the hidden field. Whatever is not a well-formed line is dropped: the field is ours."""
    try:
        items = json.loads(text or "[]")
    except ValueError:
        return []
    if not isinstance(items, list):
        return []
    lines = []
    for item in items[:MAX_LINES]:
        try:
            price = item.get("price")
            lines.append(
                StoredLine(
                    visit_date=datetime.date.fromisoformat(item["visit_date"]),
                    code=str(item["code"])[:10],
                    tooth=str(item.get("tooth") or "")[:2],
                    jaw=str(item.get("jaw") or "")[:2],
                    price=price if isinstance(price, int) and not isinstance(price, bool) else None,
                    comment=str(item.get("comment") or "")[:200],
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return lines


def fee_field_name(day: datetime.date) -> str:
    return f"{FEE_FIELD_PREFIX}{day.isoformat()}"


def _at_most(length: int) -> forms.TextInput:
    """A text input the browser keeps to `length` characters. The form sets no limit of its own: what is longer
    (a page posted by other means) is the validation's to refuse, in its words, not Django's."""
    return forms.TextInput(attrs={"maxlength": str(length)})


def support_form_label(option) -> str:
    """The words of the manual: "N-tandvård (Intyget giltigt: tills vidare)", "S-tandvård (…) - FHB krävs"."""
    if option.support_form == SupportForm.S:
        return gettext("S-tandvård (som led i sjukdomsbehandling under begränsad tid) - FHB krävs")
    if option.allowed:
        return f"{option.label} ({option.reason})"
    return f"{option.label} – {option.reason}"


class CategorySelect(forms.Select):
    """Patient categories grouped by support form; each option says its form, so the script can show only the
    chosen form's categories."""

    support_forms: dict[str, str] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value:
            option["attrs"]["data-support-form"] = self.support_forms.get(str(value), "")
        return option


class ClaimForm(forms.Form):
    """Everything of the claim except its lines: the patient, the support form, the patient information, the
    references. Every field may be empty here; what a claim must have is for the validation to say."""

    personal_identity_number = PersonalIdentityNumberField(required=False)
    support_form = forms.ChoiceField(
        label=_("Välj rätt del av tandvårdsstödet"), widget=forms.RadioSelect, required=False
    )
    has_free_card = forms.BooleanField(label=_("Patienten har frikort"), required=False)
    free_card_number = forms.CharField(label=_("Nr"), max_length=30, required=False)
    free_card_valid_from = DateField(label=_("Gäller från"), widget=DATE_WIDGET, required=False)
    free_card_valid_to = DateField(label=_("Gäller till"), widget=DATE_WIDGET, required=False)
    care_model = forms.ChoiceField(label=_("Vårdmodell"), required=False, help_text=_("Anges för N-tandvård."))
    patient_category = forms.ChoiceField(
        label=_("Patientkategori"),
        required=False,
        widget=CategorySelect,
        help_text=_("För S-tandvård: sjukdomsgruppen."),
    )
    prior_assessment = forms.ChoiceField(label=_("Förhandsbedömning"), required=False)
    # Tandhälsa, as the file's KvarvarandeTander and IntaktaTander: read as whole numbers here, judged (0–32,
    # intact not above remaining) by the validation only. Only where the region asks for it (Region.asks_tooth_health).
    remaining_teeth = forms.IntegerField(
        label=_("Kvarvarande tänder"),
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": "3", "autocomplete": "off"}),
        help_text=_("Antal, 0–32."),
    )
    intact_teeth = forms.IntegerField(
        label=_("Intakta tänder"),
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": "3", "autocomplete": "off"}),
        help_text=_("Antal, 0–32, högst så många som kvarvarande."),
    )
    invoice_reference = forms.CharField(
        label=_("OCR/Fakturanr."),
        widget=_at_most(INVOICE_REFERENCE_MAX_LENGTH),
        required=False,
        help_text=_("Gäller för alla räkningar du registrerar vid samma tillfälle."),
    )
    reference = forms.CharField(
        label=_("Räkningsreferens"),
        widget=_at_most(REFERENCE_MAX_LENGTH),
        required=False,
        help_text=_("Unik för kliniken, t.ex. från journalsystemet. Siffror och bokstäver."),
    )
    comment = forms.CharField(
        label=_("Räkningskommentar"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": COMMENT_MAX_LENGTH}),
        help_text=_("Klinikens egen kommentar."),
    )

    def __init__(
        self,
        *args,
        region: Region,
        care_models: Iterable[CareModel],
        patient_categories: Iterable[PatientCategory],
        eligibility: Eligibility | None = None,
        **kwargs,
    ):
        """`care_models` and `patient_categories` are the region's, retired ones too, in the order the region listed
        them (the validation context's); those in use today are offered."""
        super().__init__(*args, **kwargs)
        self.eligibility = eligibility
        self.fields["personal_identity_number"].widget.attrs["autocomplete"] = "off"
        if eligibility is not None:
            self.fields["support_form"].choices = [(o.support_form, support_form_label(o)) for o in eligibility.options]
            self.fields["prior_assessment"].choices = [("", gettext("Ingen förhandsbedömning"))] + [
                (a.number, prior_assessment_label(a)) for a in eligibility.prior_assessments
            ]
        today = timezone.localdate()
        # In the order the region listed them (the manual's: K, P, M1, M2, M3), not by code.
        self.fields["care_model"].choices = [("", gettext("Välj vårdmodell"))] + [
            (m.code, m.name) for m in care_models if m.in_use_on(today)
        ]
        categories: dict[str, list] = {}
        for category in patient_categories:
            if category.in_use_on(today):
                categories.setdefault(category.support_form, []).append((category.code, str(category)))
        self.fields["patient_category"].choices = [("", gettext("Välj patientkategori"))] + [
            (str(SupportForm(form).label), categories[form]) for form in SupportForm.values if form in categories
        ]
        self.fields["patient_category"].widget.support_forms = {
            code: form for form, choices in categories.items() for code, _label in choices
        }
        if not region.asks_tooth_health:
            # Not asked for here: the form has no such fields, and what a request sends for them is not read.
            del self.fields["remaining_teeth"], self.fields["intact_teeth"]
        self.fields["free_card_number"].widget.attrs["autocomplete"] = "off"
        self.fields["invoice_reference"].widget.attrs["autocomplete"] = "off"
        self.fields["reference"].widget.attrs["autocomplete"] = "off"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("has_free_card"):
            for name, message in (
                ("free_card_number", gettext("Ange frikortets nummer.")),
                ("free_card_valid_from", gettext("Ange från vilket datum frikortet gäller.")),
                ("free_card_valid_to", gettext("Ange till vilket datum frikortet gäller.")),
            ):
                if not cleaned.get(name) and name not in self.errors:
                    self.add_error(name, message)
        return cleaned

    def free_card(self) -> FreeCardDraft | None:
        data = self.cleaned_data
        if not data.get("has_free_card") or not all(
            data.get(n) for n in ("free_card_number", "free_card_valid_from", "free_card_valid_to")
        ):
            return None
        return FreeCardDraft(data["free_card_number"], data["free_card_valid_from"], data["free_card_valid_to"])

    def draft(self, *, personal_identity_number: str, lines: list[StoredLine], fees: dict) -> ClaimDraft:
        """The claim as typed, for the validation and for claim_submit. Call after is_valid()."""
        data = self.cleaned_data
        support_form = data.get("support_form") or ""
        return ClaimDraft(
            personal_identity_number=personal_identity_number,
            support_form=support_form,
            reference=data.get("reference", "").strip(),
            lines=[line.as_draft() for line in lines],
            patient_fees=dict(fees),
            # No certificate number: the validation finds the certificate valid on each visit date, which
            # need not be the one valid today that the page shows.
            certificate_number="",
            # The care model belongs to N claims only; the field stays on the page for the other forms.
            care_model=data.get("care_model", "") if support_form == SupportForm.N else "",
            patient_category=data.get("patient_category", ""),
            prior_assessment_number=data.get("prior_assessment", ""),
            free_card=self.free_card(),
            comment=data.get("comment", "").strip(),
            remaining_teeth=data.get("remaining_teeth"),
            intact_teeth=data.get("intact_teeth"),
        )


def prior_assessment_label(assessment) -> str:
    return gettext("%(number)s – %(form)s, godkänt %(amount)s, giltig till %(date)s") % {
        "number": assessment.number,
        "form": SupportForm(assessment.support_form).label,
        "amount": money.format_kronor(assessment.approved_total),
        "date": assessment.valid_until.isoformat() if assessment.valid_until else "",
    }


class LineEntryForm(forms.Form):
    """The Ersättning row: one åtgärd to add with "Lägg till åtgärd"."""

    visit_date = DateField(label=_("Åtgärdsdatum"), widget=DATE_WIDGET, required=False)
    code = forms.CharField(
        label=_("Åtgärd"),
        max_length=300,
        required=False,
        help_text=_("Skriv koden eller ord ur benämningen, t.ex. 101 eller undersökning."),
    )
    tooth = forms.CharField(
        label=_("Tand"), widget=_at_most(2), required=False, help_text=_("Bara om åtgärden kräver det, t.ex. 36.")
    )
    jaw = forms.ChoiceField(
        label=_("Käke"),
        choices=[("", "–"), *Jaw.choices],
        required=False,
        help_text=_("Bara om åtgärden kräver det."),
    )
    price = KronorField(
        label=_("Pris (kr)"),
        required=False,
        help_text=_("Bara för åtgärder där priset anges, t.ex. patientavgift eller faktisk kostnad."),
    )
    comment = forms.CharField(
        label=_("Kommentar"),
        widget=_at_most(LINE_COMMENT_MAX_LENGTH),
        required=False,
        help_text=_("Till Tandvårdssamordning."),
    )

    def __init__(self, *args, tariff_on: Callable[[datetime.date], dict[str, TariffRow] | None], **kwargs):
        kwargs.setdefault("prefix", "entry")
        super().__init__(*args, **kwargs)
        self.tariff_on = tariff_on
        self.row: TariffRow | None = None
        self.fields["code"].widget.attrs.update(list="tariff-codes", autocomplete="off", spellcheck="false")
        self.fields["tooth"].widget.attrs.update(inputmode="numeric", autocomplete="off", size="3")

    def clean_code(self) -> str:
        # A suggestion may come back whole ("101 Basundersökning … (980 kr)"): the code is the first word.
        words = (self.cleaned_data.get("code") or "").split()
        return words[0] if words else ""

    def clean_tooth(self) -> str:
        return (self.cleaned_data.get("tooth") or "").strip()

    def clean(self):
        cleaned = super().clean()
        day, code = cleaned.get("visit_date"), cleaned.get("code")
        if day is None and "visit_date" not in self.errors:
            self.add_error("visit_date", gettext("Ange åtgärdsdatum."))
        if not code:
            self.add_error("code", gettext("Ange åtgärd."))
        if day is None or not code:
            return cleaned
        rows = self.tariff_on(day)
        if rows is None:
            self.add_error(
                "visit_date", gettext("Det finns ingen ersättningslista för %(date)s.") % {"date": day.isoformat()}
            )
            return cleaned
        # The code as typed, in any case; the tariff's spelling is what is stored.
        row = rows.get(code) or next((r for c, r in rows.items() if c.lower() == code.lower()), None)
        if row is not None:
            cleaned["code"] = row.code
        # Whether the line may be billed as typed is the validation's one line check, in its words; each fault
        # is shown beside the part of the row it is about (unless what was typed there could not be read).
        line = LineDraft(
            visit_date=day,
            code=cleaned["code"],
            tooth=cleaned.get("tooth", ""),
            jaw=cleaned.get("jaw", ""),
            price=cleaned.get("price"),
            comment=(cleaned.get("comment") or "").strip(),
        )
        for fault in line_faults(line, row):
            name = fault.line_field or "code"
            if name not in self.errors:
                self.add_error(name, fault.message)
        self.row = row
        return cleaned

    def line(self) -> StoredLine:
        data = self.cleaned_data
        return StoredLine(
            visit_date=data["visit_date"],
            code=data["code"],
            tooth=data.get("tooth", ""),
            jaw=data.get("jaw", ""),
            price=data.get("price"),
            comment=(data.get("comment") or "").strip(),
        )


def fees_from(data, days: list[datetime.date]) -> tuple[dict[datetime.date, int], dict[datetime.date, str]]:
    """The patient fee typed for each visit, in öre, and the visits whose fee could not be read (with why)."""
    fees, errors = {}, {}
    for day in days:
        text = (data.get(fee_field_name(day)) or "").strip()
        if not text:
            continue
        try:
            fees[day] = money.parse_kronor(text.lstrip("-−"))
        except ValidationError as error:
            errors[day] = error.messages[0]
    return fees, errors
