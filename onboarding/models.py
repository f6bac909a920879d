"""Ansökan om anslutning: a clinic asks to join a region's portal; the region's administrator approves or rejects.

Nothing is made from an application before its sender has confirmed the e-mail address (the signed link), and
nothing but the application itself until a region administrator approves it: then the clinic, and invitations to
its local administrator and avtalsansvarig (clinics.services.membership_invite)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.models import Clinic, PaymentMethod, Region, User, account_display
from portal import validators
from portal.tenancy import TenantQuerySet
from portal.transitions import Transitions


class ApplicationState(models.TextChoices):
    UNCONFIRMED = "unconfirmed", _("Väntar på bekräftelse av e-postadressen")
    CONFIRMED = "confirmed", _("Att behandla")
    APPROVED = "approved", _("Godkänd")
    REJECTED = "rejected", _("Avslagen")


APPLICATION_TRANSITIONS = Transitions(
    {
        ApplicationState.UNCONFIRMED: {ApplicationState.CONFIRMED},
        ApplicationState.CONFIRMED: {ApplicationState.APPROVED, ApplicationState.REJECTED},
        ApplicationState.APPROVED: set(),
        ApplicationState.REJECTED: set(),
    },
    labels=ApplicationState,
    refusal=_("Ansökan kan inte bli %(target)s: den är %(state)s."),
)


class ClinicApplicationQuerySet(TenantQuerySet):
    region_path = "region"


class ClinicApplication(models.Model):
    """One application to join, from the public page *Ansök om anslutning*."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="clinic_applications")
    state = models.CharField(
        _("Status"), max_length=12, choices=ApplicationState.choices, default=ApplicationState.UNCONFIRMED
    )
    clinic_name = models.CharField(_("Klinikens namn"), max_length=150)
    street_address = models.CharField(_("Besöksadress"), max_length=150)
    postal_code = models.CharField(_("Postnummer"), max_length=6)
    city = models.CharField(_("Ort"), max_length=100)
    organisation_number = models.CharField(
        _("Organisationsnummer"), max_length=10, validators=[validators.validate_organisation_number]
    )
    gln = models.CharField(_("GLN"), max_length=13, validators=[validators.validate_gln])
    hsa_id = models.CharField(_("HSA-id"), max_length=31, blank=True, validators=[validators.validate_hsa_id])
    payment_method = models.CharField(_("Betalningssätt"), max_length=10, choices=PaymentMethod.choices)
    account_number = models.CharField(_("Bankgiro-/plusgironummer"), max_length=8)
    payout_email = models.EmailField(_("E-post för utbetalningsbesked"))
    agreement_owner_name = models.CharField(_("Avtalsansvarig, namn"), max_length=150)
    agreement_owner_email = models.EmailField(_("Avtalsansvarig, e-postadress"))
    local_admin_name = models.CharField(_("Lokal administratör, namn"), max_length=150)
    local_admin_email = models.EmailField(_("Lokal administratör, e-postadress"))
    submitted_at = models.DateTimeField(_("Inskickad"), default=timezone.now)
    # Kept for the throttle (applications from one address an hour), never shown.
    submitted_from = models.GenericIPAddressField(null=True, blank=True)
    confirmed_at = models.DateTimeField(_("E-postadressen bekräftad"), null=True, blank=True)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(_("Beslutad"), null=True, blank=True)
    reason = models.TextField(_("Skäl"), blank=True)
    # The clinic an approval made: one application, at most one clinic (a database constraint).
    clinic = models.OneToOneField(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="application")

    objects = ClinicApplicationQuerySet.as_manager()

    class Meta:
        verbose_name = _("ansökan om anslutning")
        verbose_name_plural = _("ansökningar om anslutning")
        ordering = ["-submitted_at", "-pk"]
        indexes = [
            models.Index(fields=["submitted_from", "submitted_at"], name="application_throttle_ip"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(state="approved") | models.Q(clinic__isnull=False),
                name="application_approved_has_clinic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinic_name} ({self.region})"

    @property
    def account_display(self) -> str:
        return account_display(self.payment_method, self.account_number)

    @property
    def organisation_number_display(self) -> str:
        return validators.format_organisation_number(self.organisation_number)
