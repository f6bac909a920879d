"""The audit actions of applications to join (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class OnboardingAudit(models.TextChoices):
    APPLICATION_SUBMITTED = "onboarding.application.submitted", _("Ansökan om anslutning inskickad")
    APPLICATION_CONFIRMED = "onboarding.application.confirmed", _("Ansökan om anslutning bekräftad via e-post")
    APPLICATION_APPROVED = "onboarding.application.approved", _("Ansökan om anslutning godkänd")
    APPLICATION_REJECTED = "onboarding.application.rejected", _("Ansökan om anslutning avslagen")
