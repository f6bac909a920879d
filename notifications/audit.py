"""The audit actions of notifications (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class NotificationsAudit(models.TextChoices):
    NOTIFICATION_READ = "notifications.notification.read", _("Avisering markerad som läst")
    ALL_READ = "notifications.notification.all_read", _("Alla aviseringar markerade som lästa")
    PREFERENCES_CHANGED = "notifications.preference.changed", _("Val av aviseringar per e-post ändrade")
