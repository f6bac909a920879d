"""Forms shared by the whole portal: login and service windows."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


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


class ServiceWindowForm(forms.Form):
    """The fields only; the rules (end after start, no overlap) are the service's, shown beside each field."""

    starts_at = forms.DateTimeField(
        label=_("Börjar"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    ends_at = forms.DateTimeField(
        label=_("Slutar"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    message = forms.CharField(label=_("Meddelande"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: beside its field when it names one, else on top."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
    else:
        for message in error.messages:
            form.add_error(None, message)
