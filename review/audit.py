"""The audit actions of the region's review rules and questions to clinics (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class ReviewAudit(models.TextChoices):
    RULE_CREATED = "review.rule.created", _("Granskningsregel skapad")
    RULE_DEACTIVATED = "review.rule.deactivated", _("Granskningsregel avslutad")
    CLAIM_QUESTION_ASKED = "review.claim_question.asked", _("Fråga till kliniken ställd")
    CLAIM_QUESTION_ANSWERED = "review.claim_question.answered", _("Fråga till kliniken besvarad")
