"""The region's agreements (Avtal): versions published by the region, signed by each clinic.

Both tables are append-only (a database trigger, as the audit log): a version is never edited or withdrawn and a
signature is kept forever — who, when, which version — for the clinic and the region to see.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from clinics.models import ClinicRole
from portal.storage import private_storage
from portal.tenancy import TenantQuerySet


class AgreementVersionQuerySet(TenantQuerySet):
    region_path = "region"


class AgreementVersion(models.Model):
    """One version of the region's agreement with its clinics (text, a PDF or both)."""

    region = models.ForeignKey("clinics.Region", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField(_("Version"))
    title = models.CharField(_("Rubrik"), max_length=200)
    text = models.TextField(_("Avtalstext"), blank=True)
    file = models.FileField(storage=private_storage, upload_to="agreements/%Y/", blank=True)
    original_name = models.CharField(_("Filnamn"), max_length=200, blank=True)
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    valid_from = models.DateField(_("Gäller från"))
    must_sign_again = models.BooleanField(_("Måste signeras på nytt"), default=True)
    sign_by = models.DateField(_("Signeras senast"), null=True, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(_("Publicerad"), auto_now_add=True)

    objects = AgreementVersionQuerySet.as_manager()

    class Meta:
        verbose_name = _("avtalsversion")
        verbose_name_plural = _("avtalsversioner")
        ordering = ["valid_from", "number"]
        constraints = [
            models.UniqueConstraint(fields=["region", "number"], name="agreement_version_number_unique"),
            models.CheckConstraint(
                condition=models.Q(sign_by__isnull=True) | models.Q(sign_by__gte=models.F("valid_from")),
                name="agreement_version_sign_by_after_valid_from",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.number})"


class AgreementSignatureQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class AgreementSignature(models.Model):
    """A clinic's signature of one version: who (and in which role), when."""

    version = models.ForeignKey(AgreementVersion, on_delete=models.PROTECT, related_name="signatures")
    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(_("Roll"), max_length=20)
    signed_at = models.DateTimeField(_("Signerat"), auto_now_add=True)

    objects = AgreementSignatureQuerySet.as_manager()

    class Meta:
        verbose_name = _("avtalssignatur")
        verbose_name_plural = _("avtalssignaturer")
        ordering = ["signed_at", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "clinic"], name="agreement_signature_once")]

    def __str__(self) -> str:
        return f"{self.clinic} – {self.version}"

    @property
    def role_label(self) -> str:
        return str(ClinicRole(self.role).label) if self.role in ClinicRole.values else self.role
