"""A person's answer to whether the region may use their e-mail address for more than payouts and agreements
(seed 003's GDPR consent), kept as history: every answer is a row of its own, never changed or removed."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.models import User


class EmailConsent(models.Model):
    """One answer: given (yes) or not (no), when and by whom. The person's latest answer is the one that holds;
    no answer at all means no consent."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="email_consents")
    given = models.BooleanField(_("Samtycke"))
    recorded_at = models.DateTimeField(_("Tidpunkt"), default=timezone.now)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("samtycke till användning av e-postadress")
        verbose_name_plural = _("samtycken till användning av e-postadress")
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["user", "-recorded_at"], name="email_consent_latest")]

    def __str__(self) -> str:
        return f"{self.user_id} {'ja' if self.given else 'nej'} {self.recorded_at:%Y-%m-%d %H:%M}"
