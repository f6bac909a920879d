"""The region's information to its clinics (issue 15, point 8): informationsbrev, lokala anvisningar, documents and
forms, each with an optional PDF and a date from which it applies, and who of the clinics' users has read it."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.models import Region
from portal.storage import private_storage
from portal.tenancy import TenantQuerySet


class PublicationKind(models.TextChoices):
    LETTER = "letter", _("Informationsbrev")
    INSTRUCTIONS = "instructions", _("Lokala anvisningar")
    DOCUMENT = "document", _("Dokument")
    FORM = "form", _("Blankett")


class PublicationQuerySet(TenantQuerySet):
    region_path = "region"

    def visible(self, today):
        """What the clinics see on `today`: valid from then or before, and not withdrawn."""
        return self.filter(valid_from__lte=today, withdrawn_at__isnull=True)


class Publication(models.Model):
    """One piece of the region's information, published by a coordinator or region administrator."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="publications")
    kind = models.CharField(_("Typ"), max_length=20, choices=PublicationKind.choices)
    title = models.CharField(_("Rubrik"), max_length=200)
    body = models.TextField(_("Text"), blank=True)
    valid_from = models.DateField(_("Gäller från"))
    # An optional PDF, checked by content and size (portal.uploads), stored outside the web root.
    file = models.FileField(storage=private_storage, upload_to="region-information/%Y/%m/", blank=True)
    file_name = models.CharField(_("Filnamn"), max_length=200, blank=True)
    file_size = models.PositiveIntegerField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(_("Publicerad"), default=timezone.now)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    withdrawn_at = models.DateTimeField(_("Avpublicerad"), null=True, blank=True)

    objects = PublicationQuerySet.as_manager()

    class Meta:
        verbose_name = _("publicering")
        verbose_name_plural = _("publiceringar")
        ordering = ["-valid_from", "-published_at", "-pk"]
        indexes = [models.Index(fields=["region", "valid_from"])]

    def __str__(self) -> str:
        return self.title


class PublicationReadQuerySet(TenantQuerySet):
    region_path = "publication__region"


class PublicationRead(models.Model):
    """A user opened the publication (marked read the first time, never again)."""

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    read_at = models.DateTimeField(_("Läst"), default=timezone.now)

    objects = PublicationReadQuerySet.as_manager()

    class Meta:
        verbose_name = _("läsmarkering")
        verbose_name_plural = _("läsmarkeringar")
        constraints = [models.UniqueConstraint(fields=["publication", "user"], name="publication_read_once")]

    def __str__(self) -> str:
        return f"{self.user} – {self.publication}"
