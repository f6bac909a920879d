from django import forms
from django.utils.translation import gettext_lazy as _


class EmailConsentForm(forms.Form):
    consent = forms.TypedChoiceField(
        label=_("Får regionen använda din e-postadress för annat än utbetalningar och avtal?"),
        choices=[
            ("yes", _("Ja, regionen får skicka till exempel informationsbrev och inbjudningar till min e-post")),
            ("no", _("Nej, bara utbetalningar, avtal och det portalen själv skickar")),
        ],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        error_messages={"required": _("Välj ja eller nej.")},
    )
