"""The audit actions of clinics, users and memberships (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class ClinicsAudit(models.TextChoices):
    CLINIC_UPDATED = "clinics.clinic.updated", _("Klinikens uppgifter ändrade")
    USER_CREATED = "clinics.user.created", _("Användare skapad")
    MEMBERSHIP_ADDED = "clinics.membership.added", _("Användare tillagd på kliniken")
    MEMBERSHIP_ROLE_CHANGED = "clinics.membership.role_changed", _("Användarens roll ändrad")
    MEMBERSHIP_REMOVED = "clinics.membership.removed", _("Användare borttagen från kliniken")
