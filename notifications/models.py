"""A person's notifications (Aviseringar): what happened that they should know of, in the portal and by e-mail.

Each notification comes from one clinic event (portal.models.ClinicEvent, the outbox written in the change's
transaction) and is made once per (recipient, event) by the fan-out (notifications.services). `params` holds ids,
numbers and dates only: the words are chosen when it is shown or mailed, in the reader's language.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    """What a person can be notified of; each kind can be switched off for e-mail in Mitt konto → Aviseringar."""

    QUESTION_ASKED = "question_asked", _("Fråga om en räkning från tandvårdssamordningen")
    QUESTION_ANSWERED = "question_answered", _("Klinikens svar på en fråga")
    CLAIM_VOIDED = "claim_voided", _("Räkning makulerad av regionen")
    CLAIM_CREDITED = "claim_credited", _("Räkning krediterad av regionen")
    PRIOR_ASSESSMENT_DECIDED = "prior_assessment_decided", _("Förhandsbedömning beslutad")
    PRIOR_ASSESSMENT_COMPLETION_REQUESTED = "prior_assessment_completion_requested", _("Komplettering begärd")
    INVOICE_FILE_CHECKED = "invoice_file_checked", _("Fakturafil kontrollerad")
    PAYOUT_MADE = "payout_made", _("Utbetalning gjord")
    ACCOUNT_CHANGE_REQUESTED = "account_change_requested", _("Ändring av bankgiro/plusgiro väntar på bekräftelse")
    AGREEMENT_TO_SIGN = "agreement_to_sign", _("Avtal att signera")


# Kinds whose e-mail is another service's own notice, sent whatever the person chose (a money control's notice of
# a new account; the FHB's notice to the clinic and the requester): the inbox entry only from here.
EMAILED_ELSEWHERE = frozenset(
    {
        NotificationKind.ACCOUNT_CHANGE_REQUESTED,
        NotificationKind.PRIOR_ASSESSMENT_DECIDED,
        NotificationKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED,
    }
)
EMAILABLE_KINDS = [kind for kind in NotificationKind.values if kind not in EMAILED_ELSEWHERE]


class NotificationQuerySet(models.QuerySet):
    def of_recipient(self, user) -> "NotificationQuerySet":
        """A person's own notifications: nobody reads another's (the views look up only through this)."""
        return self.filter(recipient=user)

    def unread(self) -> "NotificationQuerySet":
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The clinic event it comes from; null for a notification that is not a clinic event (none yet).
    event = models.ForeignKey("portal.ClinicEvent", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=50, choices=NotificationKind.choices)
    # The object it is about, and its clinic (the link's place).
    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    object_type = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("avisering")
        verbose_name_plural = _("aviseringar")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "event"], condition=Q(event__isnull=False), name="notification_once_per_event"
            ),
        ]
        indexes = [
            # The inbox, newest first, paged by id.
            models.Index(fields=["recipient", "-id"], name="notification_inbox"),
            # The bell's count: one index-only range of the person's unread rows.
            models.Index(fields=["recipient"], condition=Q(read_at__isnull=True), name="notification_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id} {self.kind} {self.object_type}#{self.object_id}"


class NotificationPreference(models.Model):
    """A person's choice of e-mail for one kind. No row: e-mail on (the default)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=50, choices=NotificationKind.choices)
    email = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("aviseringsval")
        verbose_name_plural = _("aviseringsval")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.email}"


class NotificationCursor(models.Model):
    """How far the fan-out has read a clinic's event feed (portal.events.Cursor), as a webhook keeps its own.

    `since`: events older than this are passed over, so that the first fan-out of a clinic (a new installation, the
    demo loaded) does not notify of its whole history."""

    clinic = models.OneToOneField("clinics.Clinic", on_delete=models.CASCADE, primary_key=True, related_name="+")
    xid = models.BigIntegerField(default=0)
    event_id = models.BigIntegerField(default=0)
    since = models.DateTimeField()

    class Meta:
        verbose_name = _("aviseringsmarkör")
        verbose_name_plural = _("aviseringsmarkörer")

    def __str__(self) -> str:
        return f"{self.clinic_id} {self.xid}.{self.event_id}"
