"""The audit actions of the region's agreements and the clinics' signatures (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class AgreementsAudit(models.TextChoices):
    VERSION_PUBLISHED = "agreements.version.published", _("Avtalsversion publicerad")
    SIGNED = "agreements.version.signed", _("Avtal signerat")
