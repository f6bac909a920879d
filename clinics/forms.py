"""Forms of Klinikadministration."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from portal import validators
from portal.forms import DateField
from portal.models import ClinicEventKind

from .models import ORGANISATION_ROLES, Clinic, ClinicRole, PaymentMethod
from .services import CLINIC_DETAIL_FIELDS


def postal_code_clean(value: str) -> str:
    """A Swedish postnummer: five digits, spaces dropped (empty stays empty where the field may be left out)."""
    value = value.replace(" ", "")
    if value and (not value.isdigit() or len(value) != 5):
        raise ValidationError(_("Postnumret ska ha fem siffror."))
    return value


def account_number_clean(form: forms.Form, cleaned: dict) -> dict:
    """A form's bankgiro/plusgiro checked by its method's check digits and kept normalised (or the field's error):
    one place for every form that takes an account (the clinic's details, an application to join)."""
    method, number = cleaned.get("payment_method"), cleaned.get("account_number")
    if method and number:
        normalize = validators.normalize_bankgiro if method == PaymentMethod.BANKGIRO else validators.normalize_plusgiro
        try:
            cleaned["account_number"] = normalize(number)
        except ValidationError as error:
            form.add_error("account_number", error)
    return cleaned


class ClinicDetailsForm(forms.ModelForm):
    # Wider than the stored 8 digits: people type separators, which the form removes.
    account_number = forms.CharField(label=_("Bankgiro-/plusgironummer"), max_length=20)

    class Meta:
        model = Clinic
        fields = CLINIC_DETAIL_FIELDS
        widgets = {"payment_method": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # As radio buttons, no empty "---------" choice: the field is required and a clinic always has a method.
        self.fields["payment_method"].choices = PaymentMethod.choices
        self.fields["account_number"].help_text = _("Bankgiro: 123-4567 eller 1234-5678. Plusgiro: 2–8 siffror.")
        self.fields["postal_code"].widget.attrs.update(autocomplete="postal-code")
        self.fields["street_address"].widget.attrs.update(autocomplete="street-address")
        self.fields["phone"].widget.attrs.update(autocomplete="tel")
        for name in ("email", "payout_email"):
            self.fields[name].widget.attrs.update(autocomplete="email")
        if self.instance.pk and not self.is_bound:
            self.initial["account_number"] = self.instance.account_display.split(" ", 1)[1]

    def clean_postal_code(self):
        return postal_code_clean(self.cleaned_data["postal_code"])

    def clean(self):
        return account_number_clean(self, super().clean())

    def _post_clean(self):
        # The service saves; here we only validate, after our own normalisation above.
        pass


# The roles a local administrator or the Avtalsansvarig hands out (portal.access.CLINIC_ROLES says what each opens).
ASSIGNABLE_ROLES = [
    (role.value, role.label)
    for role in (ClinicRole.LOCAL_ADMIN, ClinicRole.BILLER, ClinicRole.AGREEMENT_OWNER, ClinicRole.FINANCE)
]


class NewUserForm(forms.Form):
    name = forms.CharField(label=_("Namn"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(label=_("E-postadress"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    role = forms.ChoiceField(label=_("Roll"), choices=ASSIGNABLE_ROLES, widget=forms.RadioSelect)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Roll"), choices=ASSIGNABLE_ROLES, widget=forms.RadioSelect)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Namn"),
        max_length=100,
        help_text=_("Till exempel journalsystemets namn, så att nyckeln känns igen i loggarna."),
    )
    expires_on = DateField(
        label=_("Giltig till och med"), required=False, help_text=_("Lämna tomt för en nyckel utan slutdatum.")
    )


class WebhookForm(forms.Form):
    webhook_url = forms.CharField(
        label=_("Webbadress"),
        max_length=500,
        help_text=_(
            "Journalsystemets adress som tar emot händelserna, till exempel https://journal.example.se/tandportal."
        ),
        error_messages={"required": _("Ange webbadressen som händelserna ska skickas till.")},
    )
    kinds = forms.MultipleChoiceField(
        label=_("Händelser"),
        choices=ClinicEventKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Välj ingen för att få alla händelser, också sådana som läggs till senare."),
    )


class TerminationForm(forms.Form):
    """Säg upp kliniken: the end date and why."""

    ends_on = DateField(
        label=_("Slutdatum"),
        help_text=_(
            "Sista dagen med vård som ersätts. Räkningar för vård till och med den dagen kan skickas in efter."
        ),
    )
    reason = forms.CharField(label=_("Skäl"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3}))


# Umbrella organisations (the region administrator's *Organisationer*) ----------------------------------------------


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Namn"), max_length=150)
    organisation_number = forms.CharField(
        label=_("Organisationsnummer"), max_length=20, help_text=_("Tio siffror, t.ex. 556677-8899.")
    )

    def clean_organisation_number(self):
        return validators.normalize_organisation_number(self.cleaned_data["organisation_number"])


class OrganisationClinicsForm(forms.Form):
    clinics = forms.ModelMultipleChoiceField(
        label=_("Kliniker"),
        queryset=Clinic.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Organisationens användare arbetar för alla dess aktiva kliniker."),
    )

    def __init__(self, *args, clinics, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinics"].queryset = clinics


class OrganisationMemberForm(forms.Form):
    email = forms.EmailField(label=_("E-postadress"), help_text=_("En person som redan har ett konto i portalen."))
    role = forms.ChoiceField(label=_("Roll"), choices=[(role.value, role.label) for role in ORGANISATION_ROLES])
