"""People, regions with their rules, clinics and who may act for them."""

import datetime
import functools

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from portal import validators
from portal.tenancy import TenantQuerySet
from portal.transitions import Transitions


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        return self.create_user(email, password, is_staff=True, is_superuser=True, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with their e-mail address. Never deleted, only deactivated."""

    email = models.EmailField(_("E-postadress"), unique=True)
    name = models.CharField(_("Namn"), max_length=150)
    phone = models.CharField(_("Telefon"), max_length=30, blank=True)
    # The person's HSA-id, for logging in through the region's identity provider (SITHS, HelseID).
    hsa_id = models.CharField(
        _("HSA-id"), max_length=31, blank=True, validators=[validators.validate_hsa_id], db_index=True
    )
    is_active = models.BooleanField(_("Aktiv"), default=True)
    is_staff = models.BooleanField(default=False)
    # Systemadministratör: runs the installation (portal-wide service windows); belongs to no clinic or region.
    is_system_admin = models.BooleanField(_("Systemadministratör"), default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Raised to end every session of the person at once (clinics.services.user_sessions_end): it is part of the
    # session auth hash, as the password is, so a session logged in before no longer matches.
    session_generation = models.PositiveIntegerField(default=0, editable=False)
    # The language the person last chose while signed in (the switch, Mitt konto): their e-mails are written in it.
    language = models.CharField(_("Språk"), max_length=2, choices=[("sv", "Svenska"), ("en", "English")], default="sv")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = _("användare")
        verbose_name_plural = _("användare")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.name or self.email

    def _get_session_auth_hash(self, secret=None):
        """Django's hash of the password (a changed password ends the other sessions), with the generation
        added once it has been raised, so that sessions from before this field stay valid."""
        if not self.session_generation:
            return super()._get_session_auth_hash(secret=secret)
        value = f"{self.password}:{self.session_generation}"
        return salted_hmac("clinics.User.session_auth_hash", value, secret=secret, algorithm="sha256").hexdigest()


class DeadlineBasis(models.TextChoices):
    TREATMENT_DAY = "treatment_day", _("från behandlingsdagen")
    END_OF_TREATMENT_MONTH = "end_of_treatment_month", _("efter behandlingsmånaden")


class SupportForm(models.TextChoices):
    """The three parts of särskilt tandvårdsstöd."""

    N = "N", _("N-tandvård")
    F = "F", _("F-tandvård")
    S = "S", _("S-tandvård")


class Region(models.Model):
    """A region and its billing rules, kept as data so that each region can differ."""

    code = models.SlugField(_("Kod"), max_length=30, unique=True)
    name = models.CharField(_("Namn"), max_length=100, unique=True)
    organisation_number = models.CharField(
        _("Organisationsnummer"), max_length=10, validators=[validators.validate_organisation_number]
    )
    billing_deadline_months = models.PositiveSmallIntegerField(_("Faktureringsfrist (månader)"))
    billing_deadline_basis = models.CharField(_("Fristen räknas"), max_length=30, choices=DeadlineBasis.choices)
    fee_exempt_from_age = models.PositiveSmallIntegerField(_("Ingen patientavgift från ålder"), null=True, blank=True)
    fee_exempt_young_adults_until_age = models.PositiveSmallIntegerField(
        _("Ingen patientavgift för unga vuxna till och med ålder"), null=True, blank=True
    )
    fee_exempt_certificate_groups = ArrayField(
        models.CharField(max_length=10),
        default=list,
        blank=True,
        verbose_name=_("Intygsgrupper utan patientavgift"),
        help_text=_("T.ex. N2 i Dalarna."),
    )
    repayment_bankgiro = models.CharField(
        _("Bankgiro för återbetalningar"), max_length=8, validators=[validators.validate_bankgiro]
    )
    free_amount_without_prior_assessment = models.PositiveIntegerField(
        _("Fribelopp utan förhandsbedömning per kalenderår (öre)"),
        null=True,
        blank=True,
        help_text=_("T.ex. 20 000 kr i Dalarna för N och F. Tomt: inget fribelopp."),
    )
    free_amount_support_forms = ArrayField(
        models.CharField(max_length=1, choices=SupportForm.choices),
        default=list,
        blank=True,
        verbose_name=_("Stödformer med fribelopp"),
    )
    prior_assessment_validity_months = models.PositiveSmallIntegerField(
        _("Förhandsbedömning gäller (månader)"), default=12
    )
    information_deadline_days = models.PositiveSmallIntegerField(_("Tid för komplettering (dagar)"), default=30)
    support_email = models.EmailField(_("E-post till tandvårdssamordning"), blank=True)
    payout_second_confirmation_above = models.PositiveBigIntegerField(
        _("Utbetalningskörning över detta belopp bekräftas av en andra samordnare (öre)"),
        default=50_000_000,
        help_text=_("Fyra ögon: en körning med högre nettobelopp än detta måste bekräftas av en annan samordnare."),
    )
    support_phone = models.CharField(_("Telefon till tandvårdssamordning"), max_length=30, blank=True)
    clinic_two_factor_required = models.BooleanField(
        _("Tvåstegsverifiering krävs för klinikernas användare"),
        default=False,
        help_text=_("Samordnare och regionadministratörer har alltid tvåstegsverifiering."),
    )
    # Slutfakturering: after a clinic's end date (uppsägning) its care up to that date may still be billed this many
    # days; the day after, the clinic is closed (clinics.tasks.close_terminated_clinics).
    final_billing_days = models.PositiveSmallIntegerField(
        _("Slutfakturering efter uppsägning (dagar)"),
        default=90,
        help_text=_("Så många dagar efter slutdatumet kan en uppsagd klinik skicka in räkningar för vård före det."),
    )
    # Tandhälsa: the file always may give it (Tandhalsa); Registrera räkning asks for it only where the region does.
    asks_tooth_health = models.BooleanField(
        _("Regionen efterfrågar tandhälsa"),
        default=False,
        help_text=_("Registrera räkning frågar efter patientens antal kvarvarande och intakta tänder."),
    )

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regioner")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(billing_deadline_months__gte=1), name="region_deadline_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class RegionRulesQuerySet(TenantQuerySet):
    region_path = "region"


# The region's rules that take effect from a date (*Regionens regler*): each RegionRules row holds all of them,
# in force from its valid_from until the next row's. Read only through clinics.rules.region_rules.
REGION_RULE_FIELDS = [
    "billing_deadline_months",
    "billing_deadline_basis",
    "fee_exempt_from_age",
    "fee_exempt_young_adults_until_age",
    "fee_exempt_certificate_groups",
    "free_amount_without_prior_assessment",
    "free_amount_support_forms",
    "repayment_bankgiro",
    "payout_second_confirmation_above",
]


class RegionRules(models.Model):
    """One version of the region's rules, in force from `valid_from` until the next version's date.

    Before the region's first version its own fields (Region.billing_deadline_months …) are the rules."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="rule_versions")
    valid_from = models.DateField(_("Gäller från"))
    billing_deadline_months = models.PositiveSmallIntegerField(_("Faktureringsfrist (månader)"))
    billing_deadline_basis = models.CharField(_("Fristen räknas"), max_length=30, choices=DeadlineBasis.choices)
    fee_exempt_from_age = models.PositiveSmallIntegerField(_("Ingen patientavgift från ålder"), null=True, blank=True)
    fee_exempt_young_adults_until_age = models.PositiveSmallIntegerField(
        _("Ingen patientavgift för unga vuxna till och med ålder"), null=True, blank=True
    )
    fee_exempt_certificate_groups = ArrayField(
        models.CharField(max_length=10), default=list, blank=True, verbose_name=_("Intygsgrupper utan patientavgift")
    )
    free_amount_without_prior_assessment = models.PositiveIntegerField(
        _("Fribelopp utan förhandsbedömning per kalenderår (öre)"), null=True, blank=True
    )
    free_amount_support_forms = ArrayField(
        models.CharField(max_length=1, choices=SupportForm.choices),
        default=list,
        blank=True,
        verbose_name=_("Stödformer med fribelopp"),
    )
    repayment_bankgiro = models.CharField(
        _("Bankgiro för återbetalningar"), max_length=8, validators=[validators.validate_bankgiro]
    )
    payout_second_confirmation_above = models.PositiveBigIntegerField(
        _("Utbetalningskörning över detta belopp bekräftas av en andra samordnare (öre)")
    )
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("Ändrad"), default=timezone.now)

    objects = RegionRulesQuerySet.as_manager()

    class Meta:
        verbose_name = _("regionens regler")
        verbose_name_plural = _("regionens regler")
        ordering = ["region", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["region", "valid_from"], name="region_rules_one_per_day"),
            models.CheckConstraint(
                condition=models.Q(billing_deadline_months__gte=1), name="region_rules_deadline_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region}: {self.valid_from}"


class RetirableQuerySet(TenantQuerySet):
    def in_use_on(self, day):
        """The codes that may be used for care given on `day` (not retired by then)."""
        return self.filter(models.Q(retired_from__isnull=True) | models.Q(retired_from__gt=day))


class CareModelQuerySet(RetirableQuerySet):
    region_path = "region"


class CareModel(models.Model):
    """Vårdmodell, required on N claims in some regions."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="care_models")
    code = models.CharField(_("Kod"), max_length=10)
    name = models.CharField(_("Benämning"), max_length=100)
    # From this date the code may not be used for a visit; kept, since claims name it. Empty: in use.
    retired_from = models.DateField(_("Används inte från"), null=True, blank=True)

    objects = CareModelQuerySet.as_manager()

    class Meta:
        verbose_name = _("vårdmodell")
        verbose_name_plural = _("vårdmodeller")
        ordering = ["region", "code"]
        constraints = [models.UniqueConstraint(fields=["region", "code"], name="care_model_unique_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def in_use_on(self, day) -> bool:
        return self.retired_from is None or day < self.retired_from


class PatientCategoryQuerySet(RetirableQuerySet):
    region_path = "region"


class PatientCategory(models.Model):
    """Patientkategori, listed per region and support form."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="patient_categories")
    support_form = models.CharField(_("Stödform"), max_length=1, choices=SupportForm.choices)
    code = models.CharField(_("Kod"), max_length=10)
    name = models.CharField(_("Benämning"), max_length=150)
    # From this date the code may not be used for a visit; kept, since claims and certificates name it.
    retired_from = models.DateField(_("Används inte från"), null=True, blank=True)

    objects = PatientCategoryQuerySet.as_manager()

    class Meta:
        verbose_name = _("patientkategori")
        verbose_name_plural = _("patientkategorier")
        ordering = ["region", "support_form", "code"]
        constraints = [
            models.UniqueConstraint(fields=["region", "code"], name="patient_category_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code}, {self.name}"

    def in_use_on(self, day) -> bool:
        return self.retired_from is None or day < self.retired_from


class PaymentMethod(models.TextChoices):
    BANKGIRO = "bankgiro", _("Bankgiro")
    PLUSGIRO = "plusgiro", _("Plusgiro")


class OrganisationQuerySet(TenantQuerySet):
    region_path = "region"


class Organisation(models.Model):
    """Paraplyorganisation: one organisation (a Folktandvården, say) over several of a region's clinics.

    Its users (OrganisationMembership) may work for all its clinics at once; an invoice file may carry claims for
    several of them, each checked and sent for its own clinic."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="organisations")
    name = models.CharField(_("Namn"), max_length=150)
    organisation_number = models.CharField(
        _("Organisationsnummer"), max_length=10, validators=[validators.validate_organisation_number]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name = _("paraplyorganisation")
        verbose_name_plural = _("paraplyorganisationer")
        ordering = ["region", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "organisation_number"], name="organisation_unique_number_in_region"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({validators.format_organisation_number(self.organisation_number)})"


class ClinicQuerySet(TenantQuerySet):
    region_path = "region"


class Clinic(models.Model):
    """A dental clinic that bills one region."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="clinics")
    number = models.CharField(_("Kliniknummer"), max_length=10)
    name = models.CharField(_("Namn"), max_length=150)
    organisation_number = models.CharField(
        _("Organisationsnummer"), max_length=10, validators=[validators.validate_organisation_number]
    )
    gln = models.CharField(_("GLN"), max_length=13, blank=True, validators=[validators.validate_gln])
    hsa_id = models.CharField(_("HSA-id"), max_length=31, blank=True, validators=[validators.validate_hsa_id])
    street_address = models.CharField(_("Gatuadress"), max_length=150, blank=True)
    postal_code = models.CharField(_("Postnummer"), max_length=6, blank=True)
    city = models.CharField(_("Ort"), max_length=100, blank=True)
    phone = models.CharField(_("Telefon"), max_length=30, blank=True)
    email = models.EmailField(_("E-post"), blank=True)
    payment_method = models.CharField(_("Betalningssätt"), max_length=10, choices=PaymentMethod.choices)
    account_number = models.CharField(_("Bankgiro-/plusgironummer"), max_length=8)
    payout_email = models.EmailField(_("E-post för utbetalningsbesked"))
    # The umbrella organisation the clinic belongs to, if any (set by the region's administrators).
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clinics",
        verbose_name=_("Paraplyorganisation"),
    )
    is_active = models.BooleanField(_("Aktiv"), default=True)
    ends_on = models.DateField(
        _("Slutdatum"),
        null=True,
        blank=True,
        help_text=_("Sista dagen kliniken är ansluten (uppsägning). Tomt: tills vidare."),
    )

    objects = ClinicQuerySet.as_manager()

    class Meta:
        verbose_name = _("klinik")
        verbose_name_plural = _("kliniker")
        ordering = ["region", "number"]
        constraints = [
            models.UniqueConstraint(fields=["region", "number"], name="clinic_unique_number_in_region"),
            models.CheckConstraint(condition=models.Q(number__regex=r"^[0-9]{1,10}$"), name="clinic_number_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    @property
    def account_display(self) -> str:
        return account_display(self.payment_method, self.account_number)

    @functools.cached_property
    def running_termination(self) -> "Termination | None":
        """The clinic's notice (uppsägning) that is running, for the banner on its pages; None without an end date."""
        if self.ends_on is None:
            return None
        return self.terminations.filter(state=TerminationState.GIVEN).first()


def account_display(payment_method: str, account_number: str) -> str:
    """BG 555-1239 or PG 41 23 45-1: an account as people read it."""
    if payment_method == PaymentMethod.BANKGIRO:
        return f"BG {validators.format_bankgiro(account_number)}"
    return f"PG {validators.format_plusgiro(account_number)}"


class ClinicRole(models.TextChoices):
    LOCAL_ADMIN = "local_admin", _("Lokal administratör")
    BILLER = "biller", _("Fakturerare")
    # Signs the region's agreements and appoints local administrators (seed 004's Avtalsansvarig).
    AGREEMENT_OWNER = "agreement_owner", _("Avtalsansvarig")
    # Reads invoices, payouts and utbetalningsbesked; changes nothing.
    FINANCE = "finance", _("Ekonomi")


class ClinicMembershipQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class ClinicMembership(models.Model):
    """A user's role at a clinic. A local administrator may also bill."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="clinic_memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(_("Roll"), max_length=20, choices=ClinicRole.choices)
    is_active = models.BooleanField(_("Aktiv"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicMembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("klinikbehörighet")
        verbose_name_plural = _("klinikbehörigheter")
        constraints = [models.UniqueConstraint(fields=["user", "clinic"], name="clinic_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} – {self.clinic} ({self.get_role_display()})"


# The roles an organisation's user may have at all its clinics: billing and reading the money, never administering
# a clinic (each clinic keeps its own local administrators).
ORGANISATION_ROLES = (ClinicRole.BILLER, ClinicRole.FINANCE)


class OrganisationMembershipQuerySet(TenantQuerySet):
    region_path = "organisation__region"


class OrganisationMembership(models.Model):
    """A user's role at every active clinic of an umbrella organisation, as if a member of each."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="organisation_memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(_("Roll"), max_length=20, choices=[(role.value, role.label) for role in ORGANISATION_ROLES])
    is_active = models.BooleanField(_("Aktiv"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganisationMembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("organisationsbehörighet")
        verbose_name_plural = _("organisationsbehörigheter")
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="organisation_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.organisation} ({self.get_role_display()})"


class RegionRole(models.TextChoices):
    COORDINATOR = "coordinator", _("Samordnare")
    REGION_ADMIN = "region_admin", _("Regionadministratör")


class RegionMembershipQuerySet(TenantQuerySet):
    region_path = "region"


class RegionMembership(models.Model):
    """A user's role in a region's tandvårdssamordning."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="region_memberships")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(_("Roll"), max_length=20, choices=RegionRole.choices)
    is_active = models.BooleanField(_("Aktiv"), default=True)

    objects = RegionMembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("regionbehörighet")
        verbose_name_plural = _("regionbehörigheter")
        constraints = [
            models.UniqueConstraint(fields=["user", "region", "role"], name="region_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.region} ({self.get_role_display()})"


# Money controls: a clinic's account changes with four eyes, and nobody joins a clinic without saying yes ----------


class AccountChangeState(models.TextChoices):
    PENDING = "pending", _("Väntar på bekräftelse")
    CONFIRMED = "confirmed", _("Bekräftad")
    REJECTED = "rejected", _("Avvisad")
    WITHDRAWN = "withdrawn", _("Återkallad")


ACCOUNT_CHANGE_TRANSITIONS = Transitions(
    {
        AccountChangeState.PENDING: {
            AccountChangeState.CONFIRMED,
            AccountChangeState.REJECTED,
            AccountChangeState.WITHDRAWN,
        },
        AccountChangeState.CONFIRMED: set(),
        AccountChangeState.REJECTED: set(),
        AccountChangeState.WITHDRAWN: set(),
    },
    labels=AccountChangeState,
    refusal=_("Kontoändringen är redan %(state)s."),
)


class AccountChangeQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class AccountChange(models.Model):
    """A change of the clinic's bankgiro or plusgiro, waiting for a second person before it takes effect.

    Until it is confirmed the clinic keeps its old account, and every payout goes there."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="account_changes")
    old_payment_method = models.CharField(_("Tidigare betalningssätt"), max_length=10, choices=PaymentMethod.choices)
    old_account_number = models.CharField(_("Tidigare bankgiro-/plusgironummer"), max_length=8)
    new_payment_method = models.CharField(_("Nytt betalningssätt"), max_length=10, choices=PaymentMethod.choices)
    new_account_number = models.CharField(_("Nytt bankgiro-/plusgironummer"), max_length=8)
    state = models.CharField(
        _("Status"), max_length=10, choices=AccountChangeState.choices, default=AccountChangeState.PENDING
    )
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("Begärd"), default=timezone.now)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    decided_at = models.DateTimeField(_("Beslutad"), null=True, blank=True)
    reason = models.TextField(_("Motivering"), blank=True)

    objects = AccountChangeQuerySet.as_manager()

    class Meta:
        verbose_name = _("kontoändring")
        verbose_name_plural = _("kontoändringar")
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic"],
                condition=models.Q(state="pending"),
                name="account_change_one_pending_per_clinic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinic}: {self.old_display} → {self.new_display}"

    @property
    def old_display(self) -> str:
        return account_display(self.old_payment_method, self.old_account_number)

    @property
    def new_display(self) -> str:
        return account_display(self.new_payment_method, self.new_account_number)


class InvitationState(models.TextChoices):
    PENDING = "pending", _("Väntar på svar")
    ACCEPTED = "accepted", _("Accepterad")
    DECLINED = "declined", _("Avböjd")


INVITATION_TRANSITIONS = Transitions(
    {
        InvitationState.PENDING: {InvitationState.ACCEPTED, InvitationState.DECLINED},
        InvitationState.ACCEPTED: set(),
        InvitationState.DECLINED: set(),
    },
    labels=InvitationState,
    refusal=_("Inbjudan är redan %(state)s."),
)


class ClinicInvitationQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class ClinicInvitation(models.Model):
    """An existing account asked to join a clinic: the membership exists only once the person accepts."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="invitations")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="clinic_invitations")
    role = models.CharField(_("Roll"), max_length=20, choices=ClinicRole.choices)
    state = models.CharField(
        _("Status"), max_length=10, choices=InvitationState.choices, default=InvitationState.PENDING
    )
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("Skickad"), default=timezone.now)
    decided_at = models.DateTimeField(_("Besvarad"), null=True, blank=True)

    objects = ClinicInvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("inbjudan")
        verbose_name_plural = _("inbjudningar")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "user"],
                condition=models.Q(state="pending"),
                name="clinic_invitation_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.clinic} ({self.get_role_display()})"


class ApiKeyQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class ApiKeyState(models.TextChoices):
    ACTIVE = "active", _("Aktiv")
    EXPIRED = "expired", _("Utgången")
    REVOKED = "revoked", _("Återkallad")


class ApiKey(models.Model):
    """A journal system's key to the API (issue 13): acts for its one clinic with the rights of a biller.

    Only the SHA-256 of the secret is stored; the secret is shown once, when the key is made. The key has its own
    user row (never able to log in) so that the audit and access logs name the key as they name a person.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="api_keys")
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="api_key")
    name = models.CharField(_("Namn"), max_length=100)
    prefix = models.CharField(_("Början av nyckeln"), max_length=12)
    hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("Skapad"), auto_now_add=True)
    expires_at = models.DateTimeField(_("Giltig till"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("Återkallad"), null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    last_used_at = models.DateTimeField(_("Senast använd"), null=True, blank=True)
    # The key's webhook (Standard Webhooks): the clinic's events POSTed to this address, signed with the secret.
    webhook_url = models.CharField(_("Webbadress för webhook"), max_length=500, blank=True)
    # The kinds (portal.models.ClinicEventKind values) to send; empty: every kind.
    webhook_kinds = models.JSONField(_("Händelser"), default=list, blank=True)
    # Kept as it is, not hashed: every delivery is signed with it. Shown once, when made or rotated.
    webhook_secret = models.CharField(max_length=100, blank=True)
    # Set when a delivery ran out of attempts: nothing more is sent until the administrator saves the webhook again.
    webhook_failing_since = models.DateTimeField(_("Fungerar inte sedan"), null=True, blank=True)
    # How far the clinic's event feed has been turned into deliveries: (transaction id, event id), as the feed's
    # cursor (portal.events).
    webhook_cursor_xid = models.BigIntegerField(default=0)
    webhook_cursor_id = models.BigIntegerField(default=0)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("API-nyckel")
        verbose_name_plural = _("API-nycklar")
        ordering = ["clinic", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return ApiKeyState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return ApiKeyState.EXPIRED
        return ApiKeyState.ACTIVE

    def get_state_display(self) -> str:
        return str(ApiKeyState(self.state()).label)


# Leaving (uppsägning, issue 15) ---------------------------------------------------------------------------------


class TerminationState(models.TextChoices):
    GIVEN = "given", _("Uppsagd")
    WITHDRAWN = "withdrawn", _("Återkallad")
    CLOSED = "closed", _("Avslutad")


TERMINATION_TRANSITIONS = Transitions(
    {
        TerminationState.GIVEN: {TerminationState.WITHDRAWN, TerminationState.CLOSED},
        TerminationState.WITHDRAWN: set(),
        TerminationState.CLOSED: set(),
    },
    labels=TerminationState,
    refusal=_("Uppsägningen är redan %(state)s."),
)


class TerminationQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class Termination(models.Model):
    """A notice (uppsägning) that the clinic leaves the portal on `ends_on`.

    Until then everything works. Care up to `ends_on` may be billed until `last_billing_on` (the region's
    slutfakturering, fixed when the notice is given); the day after, the clinic is closed: its users and API keys
    lose access, its data stays for the region. Withdrawn before the end date, nothing happens."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="terminations")
    ends_on = models.DateField(_("Slutdatum"))
    last_billing_on = models.DateField(_("Sista dag att skicka in räkningar"))
    reason = models.TextField(_("Skäl"), blank=True)
    state = models.CharField(
        _("Status"), max_length=10, choices=TerminationState.choices, default=TerminationState.GIVEN
    )
    given_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    given_at = models.DateTimeField(_("Uppsagd"), default=timezone.now)
    # Given by the region (a coordinator or region administrator), not by the clinic itself.
    by_region = models.BooleanField(_("Uppsagd av regionen"), default=False)
    withdrawn_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("Återkallad"), null=True, blank=True)
    closed_at = models.DateTimeField(_("Stängd"), null=True, blank=True)

    objects = TerminationQuerySet.as_manager()

    class Meta:
        verbose_name = _("uppsägning")
        verbose_name_plural = _("uppsägningar")
        ordering = ["-given_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic"], condition=models.Q(state="given"), name="termination_one_given_per_clinic"
            ),
            models.CheckConstraint(
                condition=models.Q(last_billing_on__gte=models.F("ends_on")), name="termination_billing_after_end"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinic}: {self.ends_on.isoformat()}"

    @property
    def closes_on(self):
        """The first day without access."""
        return self.last_billing_on + datetime.timedelta(days=1)
