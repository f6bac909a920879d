"""The API's request bodies (validated, unknown fields refused) and its answers (for the OpenAPI document)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from portal import validators
from portal.forms import EARLIEST_DATE, LATEST_DATE

# The API's messages in the portal's words (Swedish, English through the catalogue), not Django REST framework's.
REQUIRED = gettext_lazy("Detta fält måste fyllas i.")
NULL = gettext_lazy("Fältet får inte vara null.")
TEXT_MESSAGES = {
    "required": REQUIRED,
    "null": NULL,
    "blank": REQUIRED,
    "invalid": gettext_lazy("Ange en text."),
    "max_length": gettext_lazy("Ange högst {max_length} tecken."),
}
DATE_MESSAGES = {
    "required": REQUIRED,
    "null": NULL,
    "invalid": gettext_lazy("Ange datumet som ÅÅÅÅ-MM-DD."),
    "datetime": gettext_lazy("Ange ett datum utan klockslag, ÅÅÅÅ-MM-DD."),
}


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know (a misspelt field is an error, not a silently missing value)."""

    default_error_messages = {"invalid": gettext_lazy("Skicka ett JSON-objekt.")}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [ErrorDetail(_("Okänt fält."), code="unknown_field")] for name in unknown}
                )
        return super().to_internal_value(data)


class PersonalIdentityNumberField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("error_messages", TEXT_MESSAGES)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return validators.normalize_personal_identity_number(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages, code="invalid_personnummer") from error


class PortalDateField(serializers.DateField):
    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["iso-8601"])
        kwargs.setdefault("error_messages", DATE_MESSAGES)
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not EARLIEST_DATE <= day <= LATEST_DATE:
            raise serializers.ValidationError(
                _("Ange ett datum mellan 1900-01-01 och 2100-12-31."), code="out_of_range"
            )
        return day


class EligibilityCheckRequest(StrictSerializer):
    personnummer = PersonalIdentityNumberField(
        help_text=(
            "Patientens personnummer eller samordningsnummer, 10 eller 12 siffror. / The patient's "
            "personal identity or coordination number, 10 or 12 digits."
        )
    )
    date = PortalDateField(help_text=("Behandlingsdagen, ÅÅÅÅ-MM-DD. / The day of treatment, YYYY-MM-DD."))


class CertificateOut(serializers.Serializer):
    number = serializers.CharField()
    support_form = serializers.CharField()
    group = serializers.CharField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True)


class SupportFormOut(serializers.Serializer):
    support_form = serializers.CharField(help_text="N, F, S")
    name = serializers.CharField()
    allowed = serializers.BooleanField()
    reason = serializers.CharField()
    requires_prior_assessment = serializers.BooleanField()
    certificate_number = serializers.CharField(allow_null=True)


class FreeCardOut(serializers.Serializer):
    number = serializers.CharField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField()


class PriorAssessmentOut(serializers.Serializer):
    number = serializers.CharField()
    support_form = serializers.CharField()
    valid_until = serializers.DateField(allow_null=True)
    approved = serializers.IntegerField(help_text="Godkänt, öre / approved, öre")
    billed = serializers.IntegerField(help_text="Fakturerat, öre / billed, öre")
    left = serializers.IntegerField(help_text="Kvar, öre / left, öre")


class EligibilityCheckOut(serializers.Serializer):
    date = serializers.DateField()
    patient_known = serializers.BooleanField()
    certificates = CertificateOut(many=True)
    support_forms = SupportFormOut(many=True)
    fee_exempt = serializers.BooleanField()
    fee_exempt_reasons = serializers.ListField(child=serializers.CharField())
    free_card = FreeCardOut(allow_null=True)
    prior_assessments = PriorAssessmentOut(many=True)
    paid_this_year = serializers.IntegerField(help_text="Öre / öre")
    billing_deadline = serializers.DateField()
    billing_deadline_rule = serializers.CharField()


class TariffCodeOut(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField()
    price = serializers.IntegerField(allow_null=True, help_text="Öre; null: kliniken anger priset / entered price")
    entered_price = serializers.BooleanField()
    requires = serializers.ChoiceField(choices=["", "tooth", "jaw"])
    support_forms = serializers.ListField(child=serializers.CharField())
    requires_prior_assessment = serializers.BooleanField()
    repeatable = serializers.BooleanField()


class TariffVersionOut(serializers.Serializer):
    name = serializers.CharField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True)
    codes = TariffCodeOut(many=True)


class TariffYearOut(serializers.Serializer):
    year = serializers.IntegerField()
    versions = TariffVersionOut(many=True)


class FaultOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    pointer = serializers.CharField()


class ProblemOut(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField(required=False)
    faults = FaultOut(many=True, required=False)
    # 403 agreement-unsigned: the clinic's Avtal page, where the agreement is signed.
    agreement_url = serializers.URLField(required=False)
