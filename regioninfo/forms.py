"""The region's form for publishing information."""

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.forms import DateField

from .models import PublicationKind


class PublicationForm(forms.Form):
    kind = forms.ChoiceField(label=_("Typ"), choices=PublicationKind.choices)
    title = forms.CharField(label=_("Rubrik"), max_length=200)
    body = forms.CharField(label=_("Text"), required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 8}))
    valid_from = DateField(label=_("Gäller från"), help_text=_("Klinikerna ser informationen från och med den dagen."))
    file = forms.FileField(
        label=_("PDF"), required=False, help_text=_("Valfri. Högst 10 MB; filen kontrolleras så att den är en PDF.")
    )
