"""Forms of the review: the coordinator's claim filter, question, voiding, rules; the clinic's answer."""

from __future__ import annotations

import html
from urllib.parse import urlencode

from django import forms
from django.forms.models import ModelChoiceIterator
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from claims.models import ClaimState
from clinics.models import Clinic, Region, SupportForm
from portal.forms import KronorField, PeriodForm, PersonalIdentityNumberField

from .models import ReviewRuleKind
from .selectors import ClaimFilter, ClaimQueue, QuestionFilter

FILTER_FIELDS = (
    "queue",
    "question",
    "reference",
    "claim_reference",
    "our_reference",
    "clinic",
    "support_form",
    "state",
    "amount_from",
    "amount_to",
    "date_from",
    "date_to",
)


class ManyOptionsSelect(forms.Select):
    """A select of a few hundred flat options (a region's clinics) written in one pass: the template renderer
    includes a template per option, which took half the time of Räkningar at 300 clinics, and Select's own context
    makes a dict of attributes per option. The same markup."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = set(self.format_value(value))
        options, selected_one = [], False
        for option_value, label in self.choices:
            option_value = "" if option_value is None else str(option_value)
            selected = not selected_one and option_value in chosen  # as Select: the first match only
            selected_one = selected_one or selected
            # Each value and label escaped as format_html would (django.utils.html.escape is html.escape), without
            # its per-argument machinery.
            options.append(
                f'<option value="{html.escape(option_value)}"{" selected" if selected else ""}>'
                f"{html.escape(str(label))}</option>"
            )
        attributes = flatatt({**self.build_attrs(self.attrs, attrs), "name": name})
        return format_html("<select{}>{}</select>", attributes, mark_safe("".join(options)))  # noqa: S308


class _ClinicValuesIterator(ModelChoiceIterator):
    """The options as (id, "number name") read as values: no model instance per clinic (a few hundred a page)."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for pk, number, name in self.queryset.values_list("pk", "number", "name"):
            yield (pk, f"{number} {name}")


class ClinicChoiceField(forms.ModelChoiceField):
    """One of the region's clinics, its options labelled "number name"; the choice is still a Clinic."""

    iterator = _ClinicValuesIterator


class ClaimFilterForm(PeriodForm):
    """Sent by GET: nothing in it identifies a patient (the personnummer is PersonSearchForm's, by POST).

    Unsent, the list shows the claims att hantera; sent, what the form says ("Alla" when it says nothing)."""

    queue = forms.ChoiceField(
        label=gettext_lazy("Visa"),
        required=False,
        choices=[(ClaimQueue.TO_HANDLE, gettext_lazy("Att hantera")), (ClaimQueue.ALL, gettext_lazy("Alla"))],
        initial=ClaimQueue.TO_HANDLE,
    )
    question = forms.ChoiceField(
        label=gettext_lazy("Fråga till kliniken"),
        required=False,
        choices=[
            ("", gettext_lazy("Alla")),
            (QuestionFilter.WAITING, gettext_lazy("Fråga väntar")),
            (QuestionFilter.ANSWERED, gettext_lazy("Besvarad")),
        ],
    )
    reference = forms.CharField(label=gettext_lazy("OCR/Fakturanummer"), max_length=25, required=False)
    claim_reference = forms.CharField(label=gettext_lazy("Räkningsreferens"), max_length=20, required=False)
    our_reference = forms.CharField(label=gettext_lazy("Vår referens"), max_length=20, required=False)
    clinic = ClinicChoiceField(
        label=gettext_lazy("Klinik"),
        queryset=Clinic.objects.none(),
        required=False,
        empty_label=gettext_lazy("Alla"),
        widget=ManyOptionsSelect,
    )
    support_form = forms.ChoiceField(label=gettext_lazy("Stödform"), required=False)
    state = forms.ChoiceField(label=gettext_lazy("Status"), required=False)
    amount_from = KronorField(label=gettext_lazy("Belopp från (kr)"), required=False)
    amount_to = KronorField(label=gettext_lazy("Belopp till (kr)"), required=False)
    field_order = FILTER_FIELDS

    def __init__(self, *args, region: Region, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = Clinic.objects.of_region(region).order_by("number")
        self.fields["support_form"].choices = [("", _("Alla")), *SupportForm.choices]
        self.fields["state"].choices = [("", _("Alla")), *ClaimState.choices]
        self.fields["date_from"].label = gettext_lazy("Inkom från och med")
        self.fields["date_to"].label = gettext_lazy("Inkom till och med")

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("amount_from"), cleaned.get("amount_to")
        if low is not None and high is not None and high < low:
            self.add_error("amount_to", _("Beloppet till kan inte vara mindre än beloppet från."))
        return cleaned

    def claim_filter(self) -> ClaimFilter:
        data = self.cleaned_data
        return ClaimFilter(
            queue=data["queue"],
            question=data["question"],
            reference=data["reference"].strip(),
            claim_reference=data["claim_reference"].strip(),
            our_reference=data["our_reference"].strip(),
            clinic=data["clinic"],
            support_form=data["support_form"],
            state=data["state"],
            amount_from=data["amount_from"],
            amount_to=data["amount_to"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        )

    def query_string(self) -> str:
        """The filter as GET parameters, for the links to other pages of the result."""
        return urlencode({name: self.data[name] for name in FILTER_FIELDS if str(self.data.get(name, "")).strip()})


class PersonSearchForm(forms.Form):
    """Sök på personnummer: posted, never a GET parameter; the view keeps it in the session."""

    personal_identity_number = PersonalIdentityNumberField()


class QuestionForm(forms.Form):
    question = forms.CharField(
        label=gettext_lazy("Fråga till kliniken"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Kliniken ser frågan på räkningen i Era fakturor och svarar där."),
    )


class VoidForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Skäl till makulering"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Kliniken ser skälet under Makulerade."),
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(label=gettext_lazy("Ert svar"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class RuleForm(forms.Form):
    """Every kind's setting on one form; the service takes the one the chosen kind needs and says if it lacks."""

    kind = forms.ChoiceField(label=gettext_lazy("Regel"), choices=ReviewRuleKind.choices, widget=forms.RadioSelect)
    amount_limit = KronorField(
        label=gettext_lazy("Beloppsgräns (kr)"),
        required=False,
        help_text=gettext_lazy("Räkningar med en totalsumma över gränsen granskas."),
    )
    codes = forms.CharField(
        label=gettext_lazy("Åtgärdskoder"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Räkningar med någon av åtgärderna granskas. Skilj koderna åt med komma: 825, 825S."),
    )
    sample_percent = forms.DecimalField(
        label=gettext_lazy("Stickprov (procent)"),
        max_digits=5,
        decimal_places=2,
        required=False,
        localize=True,
        help_text=gettext_lazy("Andelen räkningar som väljs slumpvis, till exempel 5 eller 2,5."),
    )
    clinic = forms.ModelChoiceField(
        label=gettext_lazy("Klinik"),
        queryset=Clinic.objects.none(),
        required=False,
        help_text=gettext_lazy("Alla klinikens räkningar granskas."),
    )
    prior_assessment_share = forms.IntegerField(
        label=gettext_lazy("Andel av förhandsbedömningens godkända belopp (procent)"),
        min_value=1,
        max_value=100,
        required=False,
        help_text=gettext_lazy(
            "En räkning som gör att så stor andel av det godkända beloppet är fakturerat granskas, till exempel 90."
        ),
    )
    note = forms.CharField(
        label=gettext_lazy("Anteckning"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Varför regeln finns; visas bara för tandvårdssamordningen."),
    )

    def __init__(self, *args, region: Region, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = Clinic.objects.of_region(region).filter(is_active=True).order_by("number")
        self.fields["clinic"].label_from_instance = lambda clinic: f"{clinic.number} {clinic.name}"

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "amount_limit": data["amount_limit"],
            "codes": [code for code in data["codes"].replace(";", ",").split(",")],
            "sample_percent": data["sample_percent"],
            "clinic": data["clinic"],
            "prior_assessment_share": data["prior_assessment_share"],
            "note": data["note"],
        }
