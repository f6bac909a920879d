"""The audit actions of a person's consent and their extract of personal data (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class PrivacyAudit(models.TextChoices):
    EMAIL_CONSENT_GIVEN = "privacy.email_consent.given", _("Samtycke till annan användning av e-postadressen givet")
    EMAIL_CONSENT_WITHDRAWN = (
        "privacy.email_consent.withdrawn",
        _("Samtycke till annan användning av e-postadressen nekat"),
    )
    EXTRACT_DOWNLOADED = "privacy.extract.downloaded", _("Utdrag av personuppgifter hämtat")
