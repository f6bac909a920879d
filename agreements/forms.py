from django import forms
from django.utils.translation import gettext_lazy as _

from portal.forms import DATE_WIDGET, DateField


class AgreementPublishForm(forms.Form):
    title = forms.CharField(label=_("Rubrik"), max_length=200)
    text = forms.CharField(
        label=_("Avtalstext"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=_("Skriv avtalet här, ladda upp det som PDF, eller båda."),
    )
    file = forms.FileField(
        label=_("Avtalet som PDF"),
        required=False,
        help_text=_("PDF, högst 10 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,application/pdf"}),
    )
    valid_from = DateField(label=_("Gäller från"), widget=DATE_WIDGET)
    must_sign_again = forms.BooleanField(
        label=_("Klinikerna måste signera den här versionen"),
        required=False,
        initial=True,
        help_text=_(
            "Utan ny signatur gäller klinikens signatur av förra versionen. Den första versionen signeras alltid."
        ),
    )
    sign_by = DateField(
        label=_("Signeras senast"),
        widget=DATE_WIDGET,
        required=False,
        help_text=_("Fram till dess räcker klinikens signatur av förra versionen för att skicka räkningar."),
    )
