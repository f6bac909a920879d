"""Who may be billed for: patients, their certificates, free cards and prior assessments."""

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeOperators
from django.db import models
from django.db.models import Func, Q
from django.utils.translation import gettext_lazy as _

from clinics.models import Clinic, PatientCategory, Region, SupportForm
from portal import validators
from portal.background import stalled_before
from portal.storage import private_storage
from portal.tenancy import TenantQuerySet
from portal.transitions import Transitions


class Patient(models.Model):
    """A person identified by personnummer or samordningsnummer (12 digits). The number is the key."""

    personal_identity_number = models.CharField(
        _("Personnummer"), max_length=12, unique=True, validators=[validators.validate_personal_identity_number]
    )
    name = models.CharField(_("Namn"), max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patienter")
        constraints = [
            models.CheckConstraint(
                condition=Q(personal_identity_number__regex=r"^[0-9]{12}$"), name="patient_pin_12_digits"
            ),
        ]

    def __str__(self) -> str:
        return validators.format_personal_identity_number(self.personal_identity_number)


class CertificateQuerySet(TenantQuerySet):
    region_path = "region"

    def valid_on(self, day):
        """Certificates in force on `day`: begun, not ended, not revoked by then."""
        return self.filter(
            Q(valid_from__lte=day),
            Q(valid_to__isnull=True) | Q(valid_to__gte=day),
            Q(revoked_from__isnull=True) | Q(revoked_from__gt=day),
        )


class Certificate(models.Model):
    """An N or F certificate (intyg) issued by a region; open-ended (*tills vidare*) when valid_to is empty.

    Never deleted: ending sets valid_to, revoking sets revoked_from with a reason.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="certificates")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="certificates")
    support_form = models.CharField(
        _("Stödform"),
        max_length=1,
        choices=[(SupportForm.N, SupportForm.N.label), (SupportForm.F, SupportForm.F.label)],
    )
    number = models.CharField(_("Intygsnummer"), max_length=20)
    group = models.CharField(_("Grupp"), max_length=10, help_text=_("T.ex. N1–N4 eller F1–F8 enligt regionens lista."))
    valid_from = models.DateField(_("Giltigt från"))
    valid_to = models.DateField(_("Giltigt till"), null=True, blank=True, help_text=_("Tomt betyder tills vidare."))
    revoked_from = models.DateField(_("Återkallat från"), null=True, blank=True)
    revocation_reason = models.TextField(_("Skäl till återkallelse"), blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CertificateQuerySet.as_manager()

    class Meta:
        verbose_name = _("intyg")
        verbose_name_plural = _("intyg")
        ordering = ["-valid_from", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["region", "number"], name="certificate_number_unique_in_region"),
            models.CheckConstraint(condition=Q(support_form__in=["N", "F"]), name="certificate_n_or_f"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="certificate_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(revoked_from__isnull=True) | ~Q(revocation_reason=""),
                name="certificate_revocation_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["patient", "region", "valid_from"])]

    def __str__(self) -> str:
        return f"{self.get_support_form_display()} {self.number}"

    def is_valid_on(self, day) -> bool:
        return (
            self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
            and (self.revoked_from is None or day < self.revoked_from)
        )


class DateRangeInclusive(Func):
    function = "DATERANGE"
    template = "%(function)s(%(expressions)s, '[]')"
    output_field = DateRangeField()


class FreeCardQuerySet(TenantQuerySet):
    region_path = "region"


class FreeCard(models.Model):
    """Frikort: with one valid on the visit day the patient pays no fee.

    A card belongs to the region of the clinic that registered it: another region never sees it, and a clinic
    of one region cannot make a patient fee-free in another. In a region a number is one card (registered
    again, it is found); two cards of one patient in one region overlap in time only if they are the same card.
    A coordinator ends or corrects a card, with a reason in the audit log.
    """

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="free_cards")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="free_cards")
    number = models.CharField(_("Frikortsnummer"), max_length=30)
    valid_from = models.DateField(_("Gäller från"))
    valid_to = models.DateField(_("Gäller till"))
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    registered_at_clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FreeCardQuerySet.as_manager()

    class Meta:
        verbose_name = _("frikort")
        verbose_name_plural = _("frikort")
        ordering = ["-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__gte=models.F("valid_from")), name="free_card_ends_after_start"
            ),
            models.UniqueConstraint(fields=["region", "number"], name="free_card_number_once_per_region"),
            ExclusionConstraint(
                name="free_card_no_overlap_with_other_number",
                expressions=[
                    ("region", RangeOperators.EQUAL),
                    ("patient", RangeOperators.EQUAL),
                    ("number", RangeOperators.NOT_EQUAL),
                    (DateRangeInclusive("valid_from", "valid_to"), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.valid_from}–{self.valid_to})"

    def is_valid_on(self, day) -> bool:
        return self.valid_from <= day <= self.valid_to


class PriorAssessmentState(models.TextChoices):
    SUBMITTED = "submitted", _("Inskickad")
    IN_REVIEW = "in_review", _("Under bedömning")
    AWAITING_INFORMATION = "awaiting_information", _("Avvaktar komplettering")
    INFORMATION_RECEIVED = "information_received", _("Inkommen komplettering")
    APPROVED = "approved", _("Godkänd")
    APPROVED_WITH_LIMITATIONS = "approved_limited", _("Godkänd med begränsningar")
    DENIED = "denied", _("Avslagen")
    WRITTEN_OFF = "written_off", _("Avskriven")


APPROVED_STATES = (PriorAssessmentState.APPROVED, PriorAssessmentState.APPROVED_WITH_LIMITATIONS)
DECIDED_STATES = (*APPROVED_STATES, PriorAssessmentState.DENIED, PriorAssessmentState.WRITTEN_OFF)
_OPEN_FOR_DECISION = (
    PriorAssessmentState.SUBMITTED,
    PriorAssessmentState.IN_REVIEW,
    PriorAssessmentState.INFORMATION_RECEIVED,
)
# The allowed moves of a prior assessment; every service that changes the state moves it through this table.
PRIOR_ASSESSMENT_TRANSITIONS = Transitions(
    {
        PriorAssessmentState.SUBMITTED: {
            PriorAssessmentState.IN_REVIEW,
            PriorAssessmentState.AWAITING_INFORMATION,
            *APPROVED_STATES,
            PriorAssessmentState.DENIED,
        },
        PriorAssessmentState.IN_REVIEW: {
            PriorAssessmentState.AWAITING_INFORMATION,
            *APPROVED_STATES,
            PriorAssessmentState.DENIED,
        },
        PriorAssessmentState.AWAITING_INFORMATION: {
            PriorAssessmentState.INFORMATION_RECEIVED,
            PriorAssessmentState.WRITTEN_OFF,
        },
        PriorAssessmentState.INFORMATION_RECEIVED: {
            PriorAssessmentState.IN_REVIEW,
            PriorAssessmentState.AWAITING_INFORMATION,
            *APPROVED_STATES,
            PriorAssessmentState.DENIED,
        },
        PriorAssessmentState.APPROVED: set(),
        PriorAssessmentState.APPROVED_WITH_LIMITATIONS: set(),
        PriorAssessmentState.DENIED: set(),
        PriorAssessmentState.WRITTEN_OFF: set(),
    },
    labels=PriorAssessmentState,
    # Refused mostly because someone else got there first: say where the request is, and who decided it.
    refusal=_("Förhandsbedömningen %(number)s har redan status %(state)s%(decided_by)s."),
    lower=False,
)


class PriorAssessmentQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "region"


class PriorAssessment(models.Model):
    """Förhandsbedömning (FHB): one clinic asks the region to approve planned care for one patient."""

    number = models.CharField(_("FHB-nummer"), max_length=20, unique=True)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="prior_assessments")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="prior_assessments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="prior_assessments")
    support_form = models.CharField(_("Stödform"), max_length=1, choices=SupportForm.choices)
    # The request's patient category (required for S) and the day the care is planned: the tariff of that day
    # decides the planned lines' codes and prices. Empty on requests made before the request was checked.
    patient_category = models.ForeignKey(
        PatientCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    planned_date = models.DateField(_("Planerat behandlingsdatum"), null=True, blank=True)
    justification = models.TextField(_("Motivering"), max_length=5000)
    state = models.CharField(
        _("Status"), max_length=30, choices=PriorAssessmentState.choices, default=PriorAssessmentState.SUBMITTED
    )
    version = models.PositiveIntegerField(default=1, help_text="Raised by each answer with more information.")
    valid_until = models.DateField(_("Giltig till"), null=True, blank=True)
    decision_reason = models.TextField(_("Motivering till beslutet"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    information_deadline = models.DateField(_("Komplettering senast"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PriorAssessmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("förhandsbedömning")
        verbose_name_plural = _("förhandsbedömningar")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state__in=APPROVED_STATES) | Q(valid_until__isnull=False),
                name="prior_assessment_approved_has_validity",
            ),
            models.CheckConstraint(
                condition=~Q(state=PriorAssessmentState.AWAITING_INFORMATION) | Q(information_deadline__isnull=False),
                name="prior_assessment_awaiting_has_deadline",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "patient", "state"]), models.Index(fields=["region", "state"])]

    def __str__(self) -> str:
        return self.number

    @property
    def is_approved(self) -> bool:
        return self.state in APPROVED_STATES

    def is_approved_on(self, day) -> bool:
        """Approved (fully or with limitations) and not expired on `day`."""
        return self.is_approved and self.valid_until is not None and day <= self.valid_until

    @property
    def is_open_for_decision(self) -> bool:
        return self.state in _OPEN_FOR_DECISION

    def can_move_to(self, state: str) -> bool:
        return PRIOR_ASSESSMENT_TRANSITIONS.allows(self.state, state)

    @property
    def estimated_total(self) -> int:
        return sum(line.estimated_price for line in self.lines.all())

    @property
    def approved_total(self) -> int:
        return sum(line.approved_amount or 0 for line in self.lines.all() if line.approved)


class Jaw(models.TextChoices):
    UPPER = "OK", _("ÖK")
    LOWER = "UK", _("UK")


class PriorAssessmentLineQuerySet(TenantQuerySet):
    clinic_path = "assessment__clinic"
    region_path = "assessment__region"


class PriorAssessmentLine(models.Model):
    """A planned treatment line; the decision approves it (with an amount) or not."""

    assessment = models.ForeignKey(PriorAssessment, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    code = models.CharField(_("Åtgärd"), max_length=10)
    tooth = models.CharField(_("Tand"), max_length=2, blank=True)
    jaw = models.CharField(_("Käke"), max_length=2, choices=Jaw.choices, blank=True)
    estimated_price = models.PositiveIntegerField(_("Beräknat pris (öre)"))
    approved = models.BooleanField(null=True)
    approved_amount = models.PositiveIntegerField(_("Godkänt belopp (öre)"), null=True, blank=True)

    objects = PriorAssessmentLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("planerad åtgärd")
        verbose_name_plural = _("planerade åtgärder")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "position"], name="prior_assessment_line_position"),
            models.CheckConstraint(
                condition=~Q(approved=True) | Q(approved_amount__isnull=False), name="approved_line_has_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.tooth or self.jaw}".strip()


class PriorAssessmentAttachmentQuerySet(TenantQuerySet):
    clinic_path = "assessment__clinic"
    region_path = "assessment__region"


class PriorAssessmentAttachment(models.Model):
    """An X-ray or document; stored outside the web root and served only through a checked view."""

    assessment = models.ForeignKey(PriorAssessment, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(storage=private_storage, upload_to="prior-assessments/%Y/%m/")
    original_name = models.CharField(_("Filnamn"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    objects = PriorAssessmentAttachmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("bilaga")
        verbose_name_plural = _("bilagor")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name


class PriorAssessmentEventKind(models.TextChoices):
    SUBMITTED = "submitted", _("Inskickad")
    REVIEW_STARTED = "review_started", _("Bedömning påbörjad")
    INFORMATION_REQUESTED = "information_requested", _("Komplettering begärd")
    INFORMATION_SUPPLIED = "information_supplied", _("Komplettering inkommen")
    DECIDED = "decided", _("Beslut")
    WRITTEN_OFF = "written_off", _("Avskriven")


class PriorAssessmentEventQuerySet(TenantQuerySet):
    clinic_path = "assessment__clinic"
    region_path = "assessment__region"


class PriorAssessmentEvent(models.Model):
    """The request's history as both sides see it; `snapshot` keeps the request as it was before an answer."""

    assessment = models.ForeignKey(PriorAssessment, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=30, choices=PriorAssessmentEventKind.choices)
    text = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField()
    snapshot = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PriorAssessmentEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.assessment} {self.kind}"


class PriorAssessmentCounter(models.Model):
    """The last FHB number given out per year, so numbers are sequential and human-readable."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class CertificateImportState(models.TextChoices):
    QUEUED = "queued", _("Väntar")
    RUNNING = "running", _("Pågår")
    DONE = "done", _("Klar")
    FAILED = "failed", _("Misslyckades")


# A worker that died mid-import leaves it running; the redelivered task starts it again (running → running).
CERTIFICATE_IMPORT_TRANSITIONS = Transitions(
    {
        CertificateImportState.QUEUED: {CertificateImportState.RUNNING, CertificateImportState.FAILED},
        CertificateImportState.RUNNING: {
            CertificateImportState.RUNNING,
            CertificateImportState.DONE,
            CertificateImportState.FAILED,
        },
        CertificateImportState.DONE: set(),
        CertificateImportState.FAILED: set(),
    },
    labels=CertificateImportState,
)


class CertificateImportQuerySet(TenantQuerySet):
    region_path = "region"


class CertificateImport(models.Model):
    """A file from the region's certificate register, imported in the background; the rows' outcome is kept here.

    `error_rows` holds {"row", "personnummer" (masked), "message"} for each refused row, up to a limit; rows
    refused beyond it are still counted (`error_count`).
    """

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="certificate_imports")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(storage=private_storage, upload_to="certificate-imports/%Y/%m/")
    original_name = models.CharField(_("Filnamn"), max_length=200)
    sha256 = models.CharField(max_length=64)
    state = models.CharField(
        _("Status"), max_length=10, choices=CertificateImportState.choices, default=CertificateImportState.QUEUED
    )
    total_rows = models.PositiveIntegerField(_("Rader"), default=0)
    processed_rows = models.PositiveIntegerField(_("Behandlade rader"), default=0)
    created_count = models.PositiveIntegerField(_("Nya"), default=0)
    unchanged_count = models.PositiveIntegerField(_("Oförändrade"), default=0)
    updated_count = models.PositiveIntegerField(_("Uppdaterade"), default=0)
    error_rows = models.JSONField(default=list, blank=True)
    failure_message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Moves with every saved chunk; an unfinished import whose time stands still has lost its worker.
    updated_at = models.DateTimeField(auto_now=True)

    objects = CertificateImportQuerySet.as_manager()

    class Meta:
        verbose_name = _("import av intyg")
        verbose_name_plural = _("importer av intyg")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["region", "-created_at"])]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_finished(self) -> bool:
        return self.state in (CertificateImportState.DONE, CertificateImportState.FAILED)

    @property
    def is_stalled(self) -> bool:
        return not self.is_finished and self.updated_at < stalled_before()

    @property
    def error_count(self) -> int:
        """Refused rows so far: every processed row is new, unchanged, updated or refused."""
        return self.processed_rows - self.created_count - self.unchanged_count - self.updated_count
