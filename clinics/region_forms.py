"""Forms of the region administrator's pages: clinics, the region's people, its rules and code lists."""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import validators
from portal.forms import DateField, KronorField
from portal.money import format_kronor

from .forms import ClinicDetailsForm
from .models import CareModel, DeadlineBasis, PatientCategory, RegionRole, SupportForm
from .region_services import REGION_CLINIC_FIELDS


class NormalizedField(forms.CharField):
    """A number people type with separators, checked and stored as portal.validators normalises it (the one check
    of organisation numbers, GLN, HSA-id and bankgiro, as everywhere in the portal)."""

    def __init__(self, *, normalize, **kwargs):
        self.normalize = normalize
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        return self.normalize(value) if value else value


class RegionClinicForm(ClinicDetailsForm):
    """Lägg till / Ändra klinik: every detail of the clinic (its postal code and account checked as the clinic's own
    form checks them)."""

    number = forms.CharField(
        label=_("Kliniknummer"),
        max_length=10,
        help_text=_("Bara siffror, unikt i regionen."),
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    organisation_number = NormalizedField(
        label=_("Organisationsnummer"), normalize=validators.normalize_organisation_number, help_text=_("NNNNNN-NNNN")
    )
    gln = NormalizedField(label=_("GLN"), normalize=validators.normalize_gln, required=False, help_text=_("13 siffror"))
    hsa_id = NormalizedField(
        label=_("HSA-id"), normalize=validators.normalize_hsa_id, required=False, help_text=_("T.ex. SE2321000131-E123")
    )

    class Meta(ClinicDetailsForm.Meta):
        fields = [*REGION_CLINIC_FIELDS, "payment_method", "account_number"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields([*REGION_CLINIC_FIELDS[:-1], "payment_method", "account_number", "payout_email"])
        if self.instance.pk and not self.is_bound:
            self.initial["organisation_number"] = validators.format_organisation_number(
                self.instance.organisation_number
            )

    def clean_number(self):
        value = self.cleaned_data["number"].strip()
        if not value.isdigit() or not value.isascii():
            raise ValidationError(_("Kliniknumret får bara innehålla siffror."))
        return value


class RegionUserForm(forms.Form):
    name = forms.CharField(label=_("Namn"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(label=_("E-postadress"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    role = forms.ChoiceField(label=_("Roll"), choices=RegionRole.choices, widget=forms.RadioSelect)


class RegionRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Roll"), choices=RegionRole.choices, widget=forms.RadioSelect)


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


class RegionRulesForm(forms.Form):
    """Every rule of the region, with the day they apply from."""

    valid_from = DateField(
        label=_("Gäller från"),
        help_text=_(
            "Vård från och med den dagen följer de nya reglerna; vård före den följer de regler som gällde då."
        ),
    )
    billing_deadline_months = forms.IntegerField(label=_("Faktureringsfrist (månader)"), min_value=1, max_value=60)
    billing_deadline_basis = forms.ChoiceField(
        label=_("Fristen räknas"), choices=DeadlineBasis.choices, widget=forms.RadioSelect
    )
    fee_exempt_from_age = forms.IntegerField(
        label=_("Ingen patientavgift från ålder"), required=False, min_value=0, max_value=130
    )
    fee_exempt_young_adults_until_age = forms.IntegerField(
        label=_("Ingen patientavgift för unga vuxna till och med ålder"), required=False, min_value=0, max_value=130
    )
    fee_exempt_certificate_groups = forms.CharField(
        label=_("Intygsgrupper utan patientavgift"),
        required=False,
        max_length=200,
        help_text=_("Koder åtskilda med komma, t.ex. N2."),
    )
    free_amount_without_prior_assessment = KronorField(
        label=_("Fribelopp utan förhandsbedömning per kalenderår (kr)"),
        required=False,
        help_text=_("Tomt: inget fribelopp."),
    )
    free_amount_support_forms = forms.MultipleChoiceField(
        label=_("Stödformer med fribelopp"),
        choices=SupportForm.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    repayment_bankgiro = NormalizedField(
        label=_("Bankgiro för återbetalningar"), normalize=validators.normalize_bankgiro, max_length=20
    )
    payout_second_confirmation_above = KronorField(
        label=_("Fyra ögon: utbetalningskörning över (kr)"),
        help_text=_("En körning med högre nettobelopp bekräftas av en andra samordnare."),
    )

    def __init__(self, *args, region_codes: set[str] | None = None, **kwargs):
        self.region_codes = region_codes
        super().__init__(*args, **kwargs)

    def clean_fee_exempt_certificate_groups(self):
        groups = sorted({group.upper() for group in _list(self.cleaned_data["fee_exempt_certificate_groups"])})
        if self.region_codes is not None:
            unknown = [group for group in groups if group not in self.region_codes]
            if unknown:
                raise ValidationError(
                    _("Finns inte bland regionens patientkategorier: %(codes)s.") % {"codes": ", ".join(unknown)}
                )
        return groups

    def clean_valid_from(self):
        value = self.cleaned_data["valid_from"]
        if value < timezone.localdate():
            raise ValidationError(_("Välj dagens datum eller ett senare: reglerna ändras inte bakåt i tiden."))
        return value

    def rules(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("valid_from")
        if data["payout_second_confirmation_above"] is None:
            data["payout_second_confirmation_above"] = 0
        return data

    @classmethod
    def initial_from(cls, rules) -> dict:
        """The form's starting values from the rules in force (clinics.rules.Rules)."""
        values = rules.values()
        values["fee_exempt_certificate_groups"] = ", ".join(values["fee_exempt_certificate_groups"])
        for name in ("free_amount_without_prior_assessment", "payout_second_confirmation_above"):
            if values[name] is not None:
                values[name] = format_kronor(values[name], unit=False)
        values["repayment_bankgiro"] = validators.format_bankgiro(values["repayment_bankgiro"])
        values["valid_from"] = timezone.localdate() + datetime.timedelta(days=1)
        return values


class CareModelForm(forms.ModelForm):
    retired_from = DateField(
        label=_("Används inte från"),
        required=False,
        help_text=_("Vård från och med den dagen kan inte faktureras med koden. Tomt: i bruk."),
    )

    class Meta:
        model = CareModel
        fields = ["code", "name", "retired_from"]

    def _post_clean(self):
        pass  # the service checks and saves


class PatientCategoryForm(forms.ModelForm):
    retired_from = DateField(
        label=_("Används inte från"),
        required=False,
        help_text=_("Vård från och med den dagen kan inte faktureras med koden. Tomt: i bruk."),
    )

    class Meta:
        model = PatientCategory
        fields = ["support_form", "code", "name", "retired_from"]
        widgets = {"support_form": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["support_form"].choices = SupportForm.choices

    def _post_clean(self):
        pass
