"""What every app shares in the database: the audit log, the patient-data access log, service windows."""

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .access_shown import access_shown_text
from .db import CurrentTransactionId
from .tenancy import TenantQuerySet


class AuditEvent(models.Model):
    """One change made through a service. Append-only: the database refuses UPDATE and DELETE.

    Hash-chained (portal.audit_chain): `prev_hash` is the hash of the row before, `hash` covers this row's
    fields and `prev_hash`, so `manage.py audit_verify` finds a row changed or removed even by the owner.
    Partitioned by month on `occurred_at` (portal.log_partitions); the database's key is (id, occurred_at).
    """

    occurred_at = models.DateTimeField(_("Tidpunkt"), auto_now_add=True, db_index=True)
    # Its actors checked per statement, not per row (see migration 0014 and claims.ClaimEvent.actor); indexed, for
    # the register extract (privacy.selectors) and the check of a user's delete.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    # Kept as text so the record stays readable whatever happens to the user later.
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(_("Händelse"), max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    clinic_id = models.BigIntegerField(null=True, blank=True)
    region_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("händelse")
        verbose_name_plural = _("händelselogg")
        ordering = ["-occurred_at", "-id"]
        # A clinic's or region's history, newest first (clinics.selectors), and an object's.
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["clinic_id", "occurred_at"], name="audit_clinic_time"),
            models.Index(fields=["region_id", "occurred_at"], name="audit_region_time"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"


class AccessLogEntryQuerySet(TenantQuerySet):
    region_path = "region"


class AccessLogEntry(models.Model):
    """One view of a patient's data (patientdatalagen 4 kap.): who, in which role and unit, what, when.

    Partitioned by month on `occurred_at` (portal.log_partitions); the database's key is (id, occurred_at).
    """

    occurred_at = models.DateTimeField(_("Tidpunkt"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    role = models.CharField(_("Roll"), max_length=30)
    clinic = models.ForeignKey(
        "clinics.Clinic", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    region = models.ForeignKey("clinics.Region", on_delete=models.PROTECT, related_name="+", db_index=False)
    personal_identity_number = models.CharField(_("Personnummer"), max_length=12)
    # What was shown, in Swedish as made; said in the reader's language from the kind and its values
    # (portal.access_shown) where the entry has them: the rows of before the kinds have the words only.
    shown = models.CharField(_("Visat"), max_length=200)
    shown_kind = models.CharField(max_length=40, blank=True, default="")
    shown_params = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=300, blank=True)

    objects = AccessLogEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("åtkomst till patientuppgifter")
        verbose_name_plural = _("åtkomstlogg")
        ordering = ["-occurred_at", "-id"]
        # The questions asked of it, each within a period (portal.access_log, privacy): who looked at a patient,
        # whom a user looked at, a clinic's or a region's entries. Each index also serves its foreign key.
        indexes = [
            models.Index(fields=["personal_identity_number", "occurred_at"], name="access_log_patient_time"),
            models.Index(fields=["user", "occurred_at"], name="access_log_user_time"),
            models.Index(fields=["clinic", "occurred_at"], name="access_log_clinic_time"),
            models.Index(fields=["region", "occurred_at"], name="access_log_region_time"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.user_id} {self.shown}"

    @property
    def shown_text(self) -> str:
        """What was shown, in the language active now."""
        return access_shown_text(self.shown_kind, self.shown_params, as_made=self.shown)


class LogArchive(models.Model):
    """One month of a log detached from its table and written to a file by `manage.py logs_archive`.

    Append-only as the logs are. For the audit log `last_hash` is the hash of the month's last row (or, for an
    empty month, the boundary before it): the first row still in the table follows it, and `audit_verify`
    starts from the newest archive's `last_hash` instead of the chain's beginning.
    """

    table = models.CharField(max_length=63)
    partition = models.CharField(max_length=63, unique=True)
    range_start = models.DateTimeField()
    range_end = models.DateTimeField()
    rows = models.BigIntegerField()
    first_id = models.BigIntegerField(null=True, blank=True)
    last_id = models.BigIntegerField(null=True, blank=True)
    first_prev_hash = models.CharField(max_length=64, blank=True, default="")
    last_hash = models.CharField(max_length=64, blank=True, default="")
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    archived_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("arkiverad loggmånad")
        verbose_name_plural = _("arkiverade loggmånader")
        ordering = ["table", "range_start"]

    def __str__(self) -> str:
        return f"{self.partition} ({self.rows} rader)"


class Recurrence(models.TextChoices):
    ONCE = "once", _("En gång")
    WEEKLY = "weekly", _("Varje vecka")


class Weekday(models.IntegerChoices):
    """As Python counts them: Monday is 0."""

    MONDAY = 0, _("måndag")
    TUESDAY = 1, _("tisdag")
    WEDNESDAY = 2, _("onsdag")
    THURSDAY = 3, _("torsdag")
    FRIDAY = 4, _("fredag")
    SATURDAY = 5, _("lördag")
    SUNDAY = 6, _("söndag")


class ServiceWindowQuerySet(TenantQuerySet):
    region_path = "region"

    def portal_wide(self) -> "ServiceWindowQuerySet":
        """The windows of the whole portal (no region): the system administrator's."""
        return self.filter(region__isnull=True)

    def not_over(self, now: datetime.datetime) -> "ServiceWindowQuerySet":
        """Windows with an occurrence still to come or running: one-off windows not ended, every weekly series."""
        return self.filter(models.Q(ends_at__gt=now) | models.Q(ends_at__isnull=True))


class ServiceWindow(models.Model):
    """A planned maintenance window of one region (or, without a region, of the whole portal): a banner
    beforehand, 503 for the region's pages during it.

    Once: `starts_at`–`ends_at`. Weekly ("varje söndag 00–06"): every `weekday` from `start_time` to `end_time`,
    Swedish time, from the first occurrence at `starts_at` on; an `end_time` at or before `start_time` ends on
    the next day. `ended_occurrence_starts_at` is the occurrence that was ended early (*Avsluta nu*): that one
    only; the series goes on the next week. `occurrence()` is the one place that knows when a window is.
    """

    region = models.ForeignKey(
        "clinics.Region", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("Region")
    )
    recurrence = models.CharField(_("Upprepning"), max_length=10, choices=Recurrence.choices, default=Recurrence.ONCE)
    starts_at = models.DateTimeField(_("Börjar"))
    ends_at = models.DateTimeField(_("Slutar"), null=True, blank=True)
    weekday = models.PositiveSmallIntegerField(_("Veckodag"), choices=Weekday.choices, null=True, blank=True)
    start_time = models.TimeField(_("Från klockan"), null=True, blank=True)
    end_time = models.TimeField(_("Till klockan"), null=True, blank=True)
    ended_occurrence_starts_at = models.DateTimeField(_("Avslutat tillfälle"), null=True, blank=True)
    message = models.TextField(_("Meddelande"), max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ServiceWindowQuerySet.as_manager()

    class Meta:
        verbose_name = _("servicefönster")
        verbose_name_plural = _("servicefönster")
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(recurrence="once", ends_at__gt=models.F("starts_at"))
                    | models.Q(
                        recurrence="weekly",
                        ends_at__isnull=True,
                        weekday__isnull=False,
                        start_time__isnull=False,
                        end_time__isnull=False,
                    )
                )
                & ~models.Q(start_time=models.F("end_time")),
                name="window_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        if self.recurrence == Recurrence.WEEKLY:
            return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"
        return f"{self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}"

    def _weekly_on(self, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
        zone = timezone.get_default_timezone()
        start = datetime.datetime.combine(day, self.start_time, tzinfo=zone)
        end_day = day if self.end_time > self.start_time else day + datetime.timedelta(days=1)
        return start, datetime.datetime.combine(end_day, self.end_time, tzinfo=zone)

    def occurrence(self, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime] | None:
        """The occurrence running at `now`, else the next one; None when none is left."""
        if self.recurrence != Recurrence.WEEKLY:
            return (self.starts_at, self.ends_at) if self.ends_at > now else None
        first_day = timezone.localtime(self.starts_at).date()
        # An occurrence that began yesterday may still run; look back a day, then forward a week and a day.
        day = max(first_day, timezone.localtime(now).date() - datetime.timedelta(days=1))
        for _day in range(16):
            if day.weekday() == self.weekday:
                start, end = self._weekly_on(day)
                if end > now and start >= self.starts_at and start != self.ended_occurrence_starts_at:
                    return start, end
            day += datetime.timedelta(days=1)
        return None

    def occurrences(
        self, after: datetime.datetime, before: datetime.datetime
    ) -> list[tuple[datetime.datetime, datetime.datetime]]:
        """Every occurrence that ends after `after` and starts before `before`, in order."""
        found = []
        moment = after
        while (occurrence := self.occurrence(moment)) is not None and occurrence[0] < before:
            found.append(occurrence)
            moment = occurrence[1]
        return found

    def describe(self) -> str:
        """ "varje söndag 00:00–06:00" or "2026-12-24 08:00–2026-12-24 10:00", for pages and the audit log."""
        if self.recurrence == Recurrence.WEEKLY:
            return _("varje %(weekday)s %(start)s–%(end)s") % {
                "weekday": self.get_weekday_display(),
                "start": f"{self.start_time:%H:%M}",
                "end": f"{self.end_time:%H:%M}",
            }
        return f"{timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}–{timezone.localtime(self.ends_at):%Y-%m-%d %H:%M}"


class ClinicEventKind(models.TextChoices):
    """What a clinic's event stream tells (GET /api/v1/events, webhooks; issue 14's notifications build on it).

    One list for every app, because it is a public contract: the API documents it as an enum and a key's webhook
    chooses from it. Each kind is written by the one service where its change happens (see the README).
    """

    CLAIM_STATE_CHANGED = "claim.state_changed", _("Räkningens status ändrad")
    CLAIM_QUESTION_ASKED = "claim.question_asked", _("Fråga om en räkning från tandvårdssamordningen")
    CLAIM_QUESTION_ANSWERED = "claim.question_answered", _("Klinikens svar på en fråga om en räkning")
    CLAIM_VOIDED = "claim.voided", _("Räkning makulerad")
    CLAIM_CREDITED = "claim.credited", _("Räkning krediterad")
    PRIOR_ASSESSMENT_STATE_CHANGED = "prior_assessment.state_changed", _("Förhandsbedömningens status ändrad")
    PRIOR_ASSESSMENT_DECIDED = "prior_assessment.decided", _("Förhandsbedömning beslutad")
    PRIOR_ASSESSMENT_COMPLETION_REQUESTED = "prior_assessment.completion_requested", _("Komplettering begärd")
    PRIOR_ASSESSMENT_WRITTEN_OFF = "prior_assessment.written_off", _("Förhandsbedömning avskriven")
    INVOICE_FILE_CHECKED = "invoice_file.checked", _("Fakturafil kontrollerad")
    PAYOUT_MADE = "payout.made", _("Utbetalning gjord")
    ACCOUNT_CHANGE_REQUESTED = "account_change.requested", _("Ändring av bankgiro/plusgiro begärd")
    AGREEMENT_PUBLISHED = "agreement.published", _("Ny version av avtalet publicerad")


class ClinicEventQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class ClinicEvent(models.Model):
    """One thing that happened to a clinic's objects, written in the same transaction as the change (an outbox).

    `data` holds ids, states, amounts (öre) and dates only: never a personnummer or free text. `xid` is the
    writing transaction's id, filled in by the database: the feed orders by (xid, id) and shows only events of
    transactions that have ended (`portal.events`), so a reader never skips one that commits late.
    `actor` (who made the change, if a person or key) is not shown in the feed; notifications use it.
    """

    # The clinic's key is served by clinic_event_feed (clinic, xid, id), the actor's read by no query (users are never
    # deleted): neither has an index of its own, which a payout run's 100 000 events each wrote an entry in.
    # Not a row-by-row foreign key: the database checks each statement's clinics at once and refuses a named clinic's
    # delete (portal.log_actors.keys_checked; a payout run's 100 000 events name its ~250 clinics).
    clinic = models.ForeignKey(
        "clinics.Clinic", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=50, choices=ClinicEventKind.choices)
    object_type = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    data = models.JSONField(default=dict, blank=True)
    # Its actors checked per statement, not per row (see migration 0014 and claims.ClaimEvent.actor).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    occurred_at = models.DateTimeField(auto_now_add=True)
    xid = models.BigIntegerField(db_default=CurrentTransactionId())

    objects = ClinicEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("klinikhändelse")
        verbose_name_plural = _("klinikhändelser")
        ordering = ["xid", "id"]
        indexes = [models.Index(fields=["clinic", "xid", "id"], name="clinic_event_feed")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type}#{self.object_id}"


class WebhookDeliveryState(models.TextChoices):
    PENDING = "pending", _("Väntar")
    DELIVERED = "delivered", _("Levererad")
    FAILED = "failed", _("Misslyckad")


class WebhookQuerySet(TenantQuerySet):
    clinic_path = "key__clinic"
    region_path = "key__clinic__region"


class WebhookDelivery(models.Model):
    """One event sent to one key's webhook: made once per (key, event), tried until delivered or out of attempts."""

    key = models.ForeignKey("clinics.ApiKey", on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.ForeignKey(ClinicEvent, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=WebhookDeliveryState.choices, default=WebhookDeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook-leverans")
        verbose_name_plural = _("webhook-leveranser")
        constraints = [models.UniqueConstraint(fields=["key", "event"], name="webhook_delivery_once_per_event")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.event_id} {self.state}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, the answer's status (None: no answer) and what went wrong."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    # The key again, so that the key's page lists its latest attempts from one index.
    key = models.ForeignKey("clinics.ApiKey", on_delete=models.CASCADE, related_name="+")
    attempted_at = models.DateTimeField(_("Tidpunkt"), auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(_("Svarskod"), null=True, blank=True)
    error = models.CharField(_("Fel"), max_length=200, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook-försök")
        verbose_name_plural = _("webhook-försök")
        ordering = ["-attempted_at", "-id"]
        indexes = [models.Index(fields=["key", "-attempted_at"], name="webhook_attempt_key_latest")]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
