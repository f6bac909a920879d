"""Forms and form fields shared by the whole portal: login, service windows, the date widget, personnummer and
amounts in kronor."""

import datetime

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import money, validators
from portal.models import Recurrence, Weekday

# Every date the portal takes lies in these years; outside them a date is a typo (and 0001 or 9999 would overflow
# the arithmetic of a period), answered beside the field.
EARLIEST_DATE = datetime.date(1900, 1, 1)
LATEST_DATE = datetime.date(2100, 12, 31)

DATE_WIDGET = forms.DateInput(
    attrs={"type": "date", "min": EARLIEST_DATE.isoformat(), "max": LATEST_DATE.isoformat()}, format="%Y-%m-%d"
)


class DateField(forms.DateField):
    """The one date field of the portal's forms and filters: ÅÅÅÅ-MM-DD, from 1900 up to and including 2100."""

    widget = DATE_WIDGET
    default_error_messages = {"out_of_range": _("Ange ett datum mellan 1900-01-01 och 2100-12-31.")}

    def validate(self, value):
        super().validate(value)
        if value not in self.empty_values and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range")


class DateTimeField(forms.DateTimeField):
    """A date and time (a service window's start and end), within the same years as every date of the portal."""

    widget = forms.DateTimeInput(
        attrs={"type": "datetime-local", "min": f"{EARLIEST_DATE}T00:00", "max": f"{LATEST_DATE}T23:59"},
        format="%Y-%m-%dT%H:%M",
    )
    default_error_messages = {"out_of_range": _("Ange en tidpunkt mellan 1900-01-01 och 2100-12-31.")}

    def validate(self, value):
        super().validate(value)
        if value not in self.empty_values and not EARLIEST_DATE <= value.date() <= LATEST_DATE:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range")


class PersonalIdentityNumberField(forms.CharField):
    """Takes 10 or 12 digits with or without - or +; cleans to the stored 12 digits."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Personnummer"))
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("help_text", _("ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN"))
        super().__init__(**kwargs)
        self.widget.attrs.update(autocomplete="off", inputmode="numeric", spellcheck="false")

    def clean(self, value):
        value = super().clean(value)
        return validators.normalize_personal_identity_number(value) if value else value


class KronorField(forms.CharField):
    """An amount typed in kronor (980, 1250,50), cleaned to öre."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 15)
        super().__init__(**kwargs)
        self.widget.attrs.update(inputmode="decimal")

    def clean(self, value):
        value = super().clean(value)
        return money.parse_kronor(value) if value not in (None, "") else None


class PeriodForm(forms.Form):
    """Från och med / Till och med, as every search of the portal takes them: the end never before the start.

    With `default_days` an empty period means the last `default_days` days up to the chosen end (today when
    none is chosen), and the fields start out showing that period; without it an empty date leaves that end
    of the period open. A subclass adds its own fields and may relabel these two.
    """

    default_days: int | None = None

    date_from = DateField(label=_("Från och med"), required=False)
    date_to = DateField(label=_("Till och med"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.default_days is not None:
            first, last = self.default_period()
            self.fields["date_from"].initial, self.fields["date_to"].initial = first, last

    @classmethod
    def default_period(cls) -> tuple[datetime.date, datetime.date]:
        today = timezone.localdate()
        return today - datetime.timedelta(days=cls.default_days or 0), today

    def clean(self):
        cleaned = super().clean()
        if self.default_days is not None:
            if not self.has_error("date_to") and cleaned.get("date_to") is None:
                cleaned["date_to"] = timezone.localdate()
            if not self.has_error("date_from") and cleaned.get("date_from") is None and cleaned.get("date_to"):
                cleaned["date_from"] = cleaned["date_to"] - datetime.timedelta(days=self.default_days)
        first, last = cleaned.get("date_from"), cleaned.get("date_to")
        if first and last and last < first:
            self.add_error("date_to", _("Slutdatum kan inte ligga före startdatum."))
        return cleaned


class LoginForm(AuthenticationForm):
    username = forms.EmailField(label=_("E-postadress"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label=_("Lösenord"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    error_messages = {
        "invalid_login": _("Fel e-postadress eller lösenord."),
        "inactive": _("Kontot är inte aktivt."),
    }

    def clean_username(self):
        return self.cleaned_data["username"].lower()


class PasswordResetRequestForm(PasswordResetForm):
    email = forms.EmailField(
        label=_("E-postadress"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def clean_email(self):
        return self.cleaned_data["email"].lower()


class AccountForm(forms.Form):
    name = forms.CharField(label=_("Namn"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    language = forms.ChoiceField(label=_("Språk"), choices=[("sv", "Svenska"), ("en", "English")])


class EmailChangeForm(forms.Form):
    """The new address, and the password, so that a session left open cannot move the account elsewhere."""

    email = forms.EmailField(
        label=_("Ny e-postadress"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label=_("Ditt lösenord"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        if email == self.user.email:
            raise ValidationError(_("Det är redan din e-postadress."))
        return email

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError(_("Lösenordet stämmer inte."))
        return password


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Kod"),
        max_length=20,
        help_text=_("Sex siffror från autentiseringsappen, eller en av dina reservkoder."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "spellcheck": "false"}),
    )


class ServiceWindowForm(forms.Form):
    """The fields only; the rules (end after start, never in the past, confirmation within the hour, no overlap)
    are the service's, shown beside each field. Once: Börjar/Slutar; weekly: Veckodag, Från/Till klockan."""

    recurrence = forms.ChoiceField(
        label=_("Upprepning"),
        choices=Recurrence.choices,
        initial=Recurrence.ONCE,
        required=False,
        widget=forms.RadioSelect,
    )
    starts_at = DateTimeField(label=_("Börjar"), required=False)
    ends_at = DateTimeField(label=_("Slutar"), required=False)
    weekday = forms.TypedChoiceField(
        label=_("Veckodag"), choices=[("", "---------"), *Weekday.choices], coerce=int, required=False, empty_value=None
    )
    start_time = forms.TimeField(
        label=_("Från klockan"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    end_time = forms.TimeField(
        label=_("Till klockan"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Före eller lika med Från klockan: slutar nästa dag."),
    )
    message = forms.CharField(label=_("Meddelande"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
    confirm_soon = forms.BooleanField(
        label=_("Ja, servicefönstret får börja inom en timme."),
        required=False,
        help_text=_("Krävs när servicefönstret börjar inom en timme: användarna har då inte sett någon banner."),
    )

    NEEDED = {Recurrence.ONCE: ("starts_at", "ends_at"), Recurrence.WEEKLY: ("weekday", "start_time", "end_time")}

    def clean(self):
        cleaned = super().clean()
        cleaned["recurrence"] = cleaned.get("recurrence") or Recurrence.ONCE
        for name in self.NEEDED[cleaned["recurrence"]]:
            if cleaned.get(name) is None and not self.has_error(name):
                self.add_error(name, self.fields[name].error_messages["required"])
        return cleaned

    def schedule_arguments(self) -> dict:
        """The cleaned fields as `service_window_schedule` takes them."""
        data = dict(self.cleaned_data)
        data["confirmed"] = data.pop("confirm_soon")
        return data


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: beside its field when it names one, else on top."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
    else:
        for message in error.messages:
            form.add_error(None, message)
