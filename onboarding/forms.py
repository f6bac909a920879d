"""Ansök om anslutning, and the region administrator's decision."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clinics.forms import account_number_clean, postal_code_clean
from clinics.models import PaymentMethod, Region
from portal import validators

from .models import ClinicApplication

APPLICATION_FIELDS = [
    "region",
    "clinic_name",
    "street_address",
    "postal_code",
    "city",
    "organisation_number",
    "gln",
    "hsa_id",
    "payment_method",
    "account_number",
    "payout_email",
    "agreement_owner_name",
    "agreement_owner_email",
    "local_admin_name",
    "local_admin_email",
]


class ApplicationForm(forms.ModelForm):
    region = forms.ModelChoiceField(
        label=_("Region"),
        queryset=Region.objects.order_by("name"),
        empty_label=_("Välj region"),
        help_text=_("Regionen som kliniken fakturerar särskilt tandvårdsstöd."),
    )
    # Wider than the stored digits: people type separators, which the form removes.
    organisation_number = forms.CharField(label=_("Organisationsnummer"), max_length=20, help_text="NNNNNN-NNNN")
    gln = forms.CharField(label=_("GLN"), max_length=20, help_text=_("13 siffror (GS1:s lokaliseringsnummer)."))
    account_number = forms.CharField(
        label=_("Bankgiro-/plusgironummer"),
        max_length=20,
        help_text=_("Bankgiro: 123-4567 eller 1234-5678. Plusgiro: 2–8 siffror."),
    )

    class Meta:
        model = ClinicApplication
        fields = APPLICATION_FIELDS
        widgets = {"payment_method": forms.RadioSelect}
        help_texts = {"hsa_id": _("Frivilligt. Till exempel SE2321000131-E000000000001.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment_method"].choices = PaymentMethod.choices
        self.fields["street_address"].widget.attrs.update(autocomplete="street-address")
        self.fields["postal_code"].widget.attrs.update(autocomplete="postal-code")
        for name in ("payout_email", "agreement_owner_email", "local_admin_email"):
            self.fields[name].widget.attrs.update(autocomplete="off")
        self.fields["agreement_owner_email"].help_text = _("Bekräftelsen av ansökan och regionens beslut skickas hit.")
        self.fields["local_admin_email"].help_text = _(
            "Den lokala administratören får inloggningsuppgifter när ansökan är godkänd. "
            "Samma person som avtalsansvarig går bra."
        )

    def clean_postal_code(self):
        return postal_code_clean(self.cleaned_data["postal_code"])

    def clean_organisation_number(self):
        return validators.normalize_organisation_number(self.cleaned_data["organisation_number"])

    def clean_gln(self):
        return validators.normalize_gln(self.cleaned_data["gln"])

    def clean_hsa_id(self):
        value = self.cleaned_data["hsa_id"].strip()
        return validators.normalize_hsa_id(value) if value else ""

    def clean_payout_email(self):
        return self.cleaned_data["payout_email"].lower()

    def clean_agreement_owner_email(self):
        return self.cleaned_data["agreement_owner_email"].lower()

    def clean_local_admin_email(self):
        return self.cleaned_data["local_admin_email"].lower()

    def clean(self):
        return account_number_clean(self, super().clean())

    def _post_clean(self):
        # The service saves; here we only validate, after our own normalisation above.
        pass

    def application_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in APPLICATION_FIELDS}


class ApproveForm(forms.Form):
    clinic_number = forms.CharField(
        label=_("Kliniknummer"),
        max_length=10,
        required=False,
        help_text=_("Lämna tomt för nästa lediga nummer i regionen."),
    )

    def clean_clinic_number(self):
        value = self.cleaned_data["clinic_number"].strip()
        if value and not (value.isascii() and value.isdigit()):
            raise ValidationError(_("Kliniknumret får bara innehålla siffror."))
        return value


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Skäl"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Skälet skickas till den avtalsansvariga med e-post."),
        error_messages={"required": _("Skriv skälet till avslaget. Det skickas till den sökande.")},
    )
