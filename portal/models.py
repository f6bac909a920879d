"""What every app shares in the database: the audit log, the patient-data access log, service windows."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .tenancy import TenantQuerySet


class AuditEvent(models.Model):
    """One change made through a service. Append-only: the database refuses UPDATE and DELETE.

    Hash-chained (portal.audit_chain): `prev_hash` is the hash of the row before, `hash` covers this row's
    fields and `prev_hash`, so `manage.py audit_verify` finds a row changed or removed even by the owner.
    """

    occurred_at = models.DateTimeField(_("Tidpunkt"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Kept as text so the record stays readable whatever happens to the user later.
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(_("Händelse"), max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    clinic_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    region_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("händelse")
        verbose_name_plural = _("händelselogg")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"


class AccessLogEntryQuerySet(TenantQuerySet):
    region_path = "region"


class AccessLogEntry(models.Model):
    """One view of a patient's data (patientdatalagen 4 kap.): who, in which role and unit, what, when."""

    occurred_at = models.DateTimeField(_("Tidpunkt"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(_("Roll"), max_length=30)
    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    region = models.ForeignKey("clinics.Region", on_delete=models.PROTECT, related_name="+")
    personal_identity_number = models.CharField(_("Personnummer"), max_length=12, db_index=True)
    shown = models.CharField(_("Visat"), max_length=200)
    path = models.CharField(max_length=300, blank=True)

    objects = AccessLogEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("åtkomst till patientuppgifter")
        verbose_name_plural = _("åtkomstlogg")
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.user_id} {self.shown}"


class ServiceWindow(models.Model):
    """A planned maintenance window: a banner beforehand, 503 for every page during it."""

    starts_at = models.DateTimeField(_("Börjar"))
    ends_at = models.DateTimeField(_("Slutar"))
    message = models.TextField(_("Meddelande"), max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("servicefönster")
        verbose_name_plural = _("servicefönster")
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="window_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}"
