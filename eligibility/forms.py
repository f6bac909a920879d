"""Forms for Sök person, free cards, prior assessments and certificates."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clinics.models import SupportForm
from portal import money
from portal.forms import DATE_WIDGET, DateField, KronorField, PersonalIdentityNumberField
from portal.uploads import ALLOWED, MAX_ATTACHMENTS_PER_UPLOAD

from .models import Jaw


class PersonSearchForm(forms.Form):
    personal_identity_number = PersonalIdentityNumberField()
    on_date = DateField(label=_("Datum"), widget=DATE_WIDGET, required=False, initial=timezone.localdate)

    def clean_on_date(self):
        return self.cleaned_data.get("on_date") or timezone.localdate()


class FreeCardForm(forms.Form):
    personal_identity_number = PersonalIdentityNumberField(widget=forms.HiddenInput)
    number = forms.CharField(label=_("Frikortsnummer"), max_length=30)
    valid_from = DateField(label=_("Gäller från"), widget=DATE_WIDGET)
    valid_to = DateField(label=_("Gäller till"), widget=DATE_WIDGET)

    def __init__(self, *args, **kwargs):
        # Shown on the Sök person page beside PersonSearchForm, which has a personal_identity_number too.
        kwargs.setdefault("auto_id", "id_free_card_%s")
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("valid_from") and cleaned.get("valid_to") and cleaned["valid_to"] < cleaned["valid_from"]:
            self.add_error("valid_to", _("Slutdatum kan inte ligga före startdatum."))
        return cleaned


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


def _attachments_help() -> str:
    return gettext("Röntgenbilder och dokument: %(types)s. Högst 10 MB per fil.") % {
        "types": ", ".join(sorted(ext.lstrip(".") for ext in ALLOWED))
    }


class AttachmentsField(forms.FileField):
    """Several files at once; each is checked by content in the service (portal.uploads)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Bilagor"))
        # Said when shown, in the reader's language: the field is made once, when the module is imported.
        kwargs.setdefault("help_text", lazy(_attachments_help, str)())
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join(sorted(ALLOWED))}))
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        files = [single(item, initial) for item in data] if isinstance(data, list | tuple) else [single(data, initial)]
        files = [f for f in files if f]
        if len(files) > MAX_ATTACHMENTS_PER_UPLOAD:
            raise ValidationError(_("Högst %(n)s filer åt gången.") % {"n": MAX_ATTACHMENTS_PER_UPLOAD})
        return files


class PriorAssessmentRequestForm(forms.Form):
    """The request's own fields; its planned lines are `PlannedLineFormSet`. What the tariff and the region's lists
    say of them is checked when it is sent (`billing.services.prior_assessment_request`)."""

    personal_identity_number = PersonalIdentityNumberField()
    support_form = forms.ChoiceField(label=_("Stödform"), choices=SupportForm.choices, widget=forms.RadioSelect)
    patient_category = forms.ChoiceField(
        label=_("Patientkategori"), required=False, help_text=_("Krävs för S-tandvård.")
    )
    planned_date = DateField(
        label=_("Planerat behandlingsdatum"),
        widget=DATE_WIDGET,
        required=False,
        initial=timezone.localdate,
        help_text=_("Åtgärderna och priserna hämtas ur ersättningslistan för den dagen. Tomt: i dag."),
    )
    justification = forms.CharField(
        label=_("Motivering"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Beskriv behovet och den planerade behandlingen."),
    )
    attachments = AttachmentsField()

    def __init__(self, *args, categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient_category"].choices = [("", "–")] + [
            (category.code, f"{category.code} {category.name}") for category in categories
        ]

    def clean_planned_date(self):
        return self.cleaned_data.get("planned_date") or timezone.localdate()


class PlannedLineForm(forms.Form):
    code = forms.CharField(label=_("Åtgärd"), max_length=10, required=False)
    tooth = forms.CharField(label=_("Tand"), max_length=2, required=False)
    jaw = forms.ChoiceField(label=_("Käke"), choices=[("", "–"), *Jaw.choices], required=False)
    estimated_price = KronorField(
        label=_("Beräknat pris (kr)"), required=False, help_text=_("Bara för åtgärder utan fast pris i listan.")
    )

    def clean(self):
        # Code, tooth, jaw and price are checked against the tariff as a claim's lines are (claims.validation).
        cleaned = super().clean()
        if not cleaned.get("code") and (
            cleaned.get("tooth") or cleaned.get("jaw") or cleaned.get("estimated_price") is not None
        ):
            self.add_error("code", _("Ange åtgärdskod."))
        return cleaned


class BasePlannedLineFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        if not self.lines():
            raise ValidationError(_("Ange minst en planerad åtgärd."))

    def lines(self) -> list[dict]:
        return [
            {k: form.cleaned_data[k] for k in ("code", "tooth", "jaw", "estimated_price")}
            for form in self.forms
            if form.cleaned_data.get("code")
        ]


# Any number of planned lines: "Lägg till rad" adds one (static/js/planned-lines.js, or a POST without script).
MAX_PLANNED_LINES = 200
PlannedLineFormSet = forms.formset_factory(
    PlannedLineForm,
    formset=BasePlannedLineFormSet,
    extra=3,
    max_num=MAX_PLANNED_LINES,
    absolute_max=MAX_PLANNED_LINES,
    validate_max=True,
)


class SupplyInformationForm(forms.Form):
    text = forms.CharField(
        label=_("Komplettering"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}), required=False
    )
    attachments = AttachmentsField()


# The region's side --------------------------------------------------------------------------------------


class CertificateForm(forms.Form):
    personal_identity_number = PersonalIdentityNumberField()
    support_form = forms.ChoiceField(
        label=_("Stödform"),
        choices=[(SupportForm.N, SupportForm.N.label), (SupportForm.F, SupportForm.F.label)],
        widget=forms.RadioSelect,
    )
    number = forms.CharField(label=_("Intygsnummer"), max_length=20)
    group = forms.CharField(label=_("Grupp"), max_length=10, help_text=_("T.ex. N1 eller F3"))
    valid_from = DateField(label=_("Giltigt från"), widget=DATE_WIDGET)
    valid_to = DateField(
        label=_("Giltigt till"), widget=DATE_WIDGET, required=False, help_text=_("Lämna tomt för tills vidare.")
    )


class CertificateEndForm(forms.Form):
    valid_to = DateField(label=_("Giltigt till"), widget=DATE_WIDGET)


class CertificateRevokeForm(forms.Form):
    revoked_from = DateField(label=_("Återkallat från"), widget=DATE_WIDGET)
    reason = forms.CharField(label=_("Skäl"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class FreeCardEndForm(forms.Form):
    valid_to = DateField(label=_("Gäller till"), widget=DATE_WIDGET)
    reason = forms.CharField(label=_("Skäl"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class FreeCardCorrectForm(forms.Form):
    number = forms.CharField(label=_("Frikortsnummer"), max_length=30)
    valid_from = DateField(label=_("Gäller från"), widget=DATE_WIDGET)
    valid_to = DateField(label=_("Gäller till"), widget=DATE_WIDGET)
    reason = forms.CharField(label=_("Skäl"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class CertificateSearchForm(forms.Form):
    personal_identity_number = PersonalIdentityNumberField()


class InformationRequestForm(forms.Form):
    question = forms.CharField(
        label=_("Vad behöver kliniken komplettera med?"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    deadline = DateField(
        label=_("Senast"), widget=DATE_WIDGET, required=False, help_text=_("Lämna tomt för regionens standardtid.")
    )


class DecisionForm(forms.Form):
    """One checkbox and amount per planned line, a written reason and the validity."""

    reason = forms.CharField(
        label=_("Motivering till kliniken"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    valid_until = DateField(
        label=_("Giltig till"),
        widget=DATE_WIDGET,
        required=False,
        help_text=_("Lämna tomt för regionens standardtid (normalt 12 månader)."),
    )

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[f"approve_{line.pk}"] = forms.BooleanField(
                label=_("Godkänn %(code)s %(where)s") % {"code": line.code, "where": line.tooth or line.jaw},
                required=False,
                initial=True,
            )
            self.fields[f"amount_{line.pk}"] = KronorField(
                label=_("Godkänt belopp för %(code)s (kr)") % {"code": line.code},
                required=False,
                initial=money.format_kronor(line.estimated_price, unit=False).replace("\u00a0", ""),
            )

    def line_fields(self):
        return [(line, self[f"approve_{line.pk}"], self[f"amount_{line.pk}"]) for line in self.lines]

    def approved_amounts(self) -> dict[int, int | None]:
        return {
            line.pk: (self.cleaned_data[f"amount_{line.pk}"] if self.cleaned_data[f"approve_{line.pk}"] else None)
            for line in self.lines
        }

    def clean(self):
        cleaned = super().clean()
        for line in self.lines:
            if cleaned.get(f"approve_{line.pk}") and cleaned.get(f"amount_{line.pk}") is None:
                self.add_error(f"amount_{line.pk}", _("Ange godkänt belopp."))
        return cleaned
