"""Forms shared by the whole portal: login and service windows."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from .models import ServiceWindow


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


class ServiceWindowForm(forms.ModelForm):
    class Meta:
        model = ServiceWindow
        fields = ["starts_at", "ends_at", "message"]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "message": forms.Textarea(attrs={"rows": 3}),
        }
