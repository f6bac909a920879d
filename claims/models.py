"""Tariffs, claims (räkningar), invoices (fakturor) and credits: what a clinic bills and what it is paid."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clinics.models import CareModel, Clinic, PatientCategory, Region, SupportForm
from eligibility.models import Certificate, Jaw, Patient, PriorAssessment
from portal.background import stalled_before
from portal.money import format_kronor
from portal.storage import private_storage
from portal.tenancy import TenantQuerySet
from portal.transitions import Transitions
from portal.translation import say_again

PATIENT_FEE_CODE = "patAvg"


class TariffVersionQuerySet(TenantQuerySet):
    region_path = "region"


class TariffVersion(models.Model):
    """One version of a region's ersättningslista, valid for a period (normally a calendar year)."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="tariff_versions")
    name = models.CharField(_("Namn"), max_length=100)
    valid_from = models.DateField(_("Gäller från"))
    valid_to = models.DateField(_("Gäller till"), null=True, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TariffVersionQuerySet.as_manager()

    class Meta:
        verbose_name = _("ersättningslista")
        verbose_name_plural = _("ersättningslistor")
        ordering = ["region", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["region", "valid_from"], name="tariff_version_unique_start"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="tariff_version_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def covers(self, day) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class ToothOrJaw(models.TextChoices):
    NONE = "", _("Varken tand eller käke")
    TOOTH = "tooth", _("Tand")
    JAW = "jaw", _("Käke")


class TariffRowQuerySet(TenantQuerySet):
    region_path = "version__region"


class TariffRow(models.Model):
    """A code of the tariff: its price (fixed, or entered at actual cost) and where and how it may be billed."""

    version = models.ForeignKey(TariffVersion, on_delete=models.CASCADE, related_name="rows")
    code = models.CharField(_("Åtgärd"), max_length=10)
    description = models.CharField(_("Benämning"), max_length=300)
    price = models.IntegerField(_("Pris (öre)"), null=True, blank=True, help_text=_("Tomt: priset anges av kliniken."))
    requires = models.CharField(_("Kräver"), max_length=5, choices=ToothOrJaw.choices, blank=True, default="")
    support_forms = ArrayField(models.CharField(max_length=1, choices=SupportForm.choices), default=list)
    requires_prior_assessment = models.BooleanField(_("Kräver förhandsbedömning"), default=False)
    # A code that may be billed more than once for a patient on the same day (e.g. 901, the patient fee);
    # any other code twice on a day is duplicate care (claims.validation).
    repeatable = models.BooleanField(_("Får upprepas samma dag"), default=False)

    objects = TariffRowQuerySet.as_manager()

    class Meta:
        verbose_name = _("åtgärd i ersättningslistan")
        verbose_name_plural = _("åtgärder i ersättningslistan")
        ordering = ["version", "code"]
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="tariff_row_unique_code"),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gte=0), name="tariff_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"

    @property
    def is_patient_fee(self) -> bool:
        return self.code == PATIENT_FEE_CODE

    @property
    def price_is_entered(self) -> bool:
        return self.price is None


class InvoiceSource(models.TextChoices):
    WEB = "web", _("Registrerad i portalen")
    FILE = "file", _("Fakturafil")
    API = "api", _("Journalsystem (API)")


class InvoiceQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class Invoice(models.Model):
    """The claims a clinic sends at one time under one OCR/invoice number; paid as one."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="invoices")
    reference = models.CharField(_("OCR/Fakturanummer"), max_length=25)
    received_at = models.DateTimeField(_("Inkom"), auto_now_add=True, db_index=True)
    source = models.CharField(max_length=10, choices=InvoiceSource.choices, default=InvoiceSource.WEB)
    our_reference = models.CharField(_("Vår referens"), max_length=20, blank=True)
    payout_date = models.DateField(_("Utbetalningsdatum"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("faktura")
        verbose_name_plural = _("fakturor")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "reference"], name="invoice_reference_unique_for_clinic"),
        ]
        # Era fakturor pages by (received_at, id) from the last row shown (portal.keyset), per clinic.
        indexes = [models.Index(fields=["clinic", "received_at", "id"], name="invoice_clinic_received_keyset")]

    def __str__(self) -> str:
        return self.reference


class ClaimState(models.TextChoices):
    RECEIVED = "received", _("Under behandling")
    UNDER_REVIEW = "under_review", _("Under granskning")
    APPROVED = "approved", _("Godkänd för utbetalning")
    PAID = "paid", _("Utbetald")
    CREDITED = "credited", _("Krediterad")
    VOIDED = "voided", _("Makulerad")
    DELETED = "deleted", _("Raderad")


# The allowed moves of a claim; every change of state goes through claims.services.claims_move, which checks it.
CLAIM_TRANSITIONS = Transitions(
    {
        ClaimState.RECEIVED: {ClaimState.UNDER_REVIEW, ClaimState.APPROVED, ClaimState.VOIDED, ClaimState.DELETED},
        ClaimState.UNDER_REVIEW: {ClaimState.APPROVED, ClaimState.VOIDED, ClaimState.DELETED},
        # Back to received only when the payout run that approved it is cancelled (claims_payout_cancel).
        ClaimState.APPROVED: {ClaimState.PAID, ClaimState.VOIDED, ClaimState.RECEIVED},
        ClaimState.PAID: {ClaimState.CREDITED},
        ClaimState.CREDITED: set(),
        ClaimState.VOIDED: set(),
        ClaimState.DELETED: set(),
    },
    labels=ClaimState,
    refusal=_("Räkningen %(reference)s har status %(state)s och kan inte bli %(target)s."),
)
# Shown under "Under behandling" in Era fakturor, and deletable by the clinic.
OPEN_STATES = (ClaimState.RECEIVED, ClaimState.UNDER_REVIEW)


class ClaimQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class Claim(models.Model):
    """A räkning: one patient, one support form, one or more visits with treatment lines."""

    # Indexed by the two (invoice, …) indexes below, which serve every look-up by invoice as the FK's own would.
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="claims", db_index=False)
    # Indexed by the (clinic, …) indexes below, and the patient by (patient, support_form): an index of the key alone
    # would only be written to (every claim moved writes each of its indexes; a payout run moves 100 000).
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="claims", db_index=False)
    reference = models.CharField(_("Räkningsreferens"), max_length=20)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="claims", db_index=False)
    support_form = models.CharField(_("Stödform"), max_length=1, choices=SupportForm.choices)
    # Not indexed: nothing looks claims up by these (no reverse relation; certificates, care models, categories and
    # users are never deleted, and a deletion's PROTECT check may read the table once).
    certificate = models.ForeignKey(
        Certificate, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    care_model = models.ForeignKey(
        CareModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    patient_category = models.ForeignKey(
        PatientCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    # Indexed where set only (claim_prior_assessment below): most claims have none.
    prior_assessment = models.ForeignKey(
        PriorAssessment, on_delete=models.PROTECT, null=True, blank=True, related_name="claims", db_index=False
    )
    free_card_number = models.CharField(_("Frikort"), max_length=30, blank=True)
    free_card_valid_from = models.DateField(null=True, blank=True)
    free_card_valid_to = models.DateField(null=True, blank=True)
    comment = models.TextField(_("Räkningskommentar"), max_length=500, blank=True)
    coordinator_comment = models.TextField(_("Kommentar"), blank=True)
    remaining_teeth = models.PositiveSmallIntegerField(_("Kvarvarande tänder"), null=True, blank=True)
    intact_teeth = models.PositiveSmallIntegerField(_("Intakta tänder"), null=True, blank=True)
    state = models.CharField(_("Status"), max_length=20, choices=ClaimState.choices, default=ClaimState.RECEIVED)
    total = models.IntegerField(_("Totalsumma (öre)"), help_text="Computed from the lines, fees included.")
    patient_fee_total = models.IntegerField(_("Patientavgift (öre)"), default=0)
    approved_on = models.DateField(_("Godkänd för utbetalning"), null=True, blank=True)
    paid_on = models.DateField(_("Utbetald"), null=True, blank=True)
    void_reason = models.TextField(_("Skäl till makulering"), blank=True)
    # Every question the coordinator asked about the claim is answered (and it has one): kept by the database, by
    # the triggers on the questions (review migration 0004), never by Python; the start page counts the open claims
    # with it from a small index (below) instead of looking up each answered question's claim. Services write a
    # claim's columns by name (claims_move); a whole-row save() leaves it out (save below).
    questions_answered = models.BooleanField(default=False, db_default=False, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClaimQuerySet.as_manager()

    class Meta:
        verbose_name = _("räkning")
        verbose_name_plural = _("räkningar")
        ordering = ["invoice", "reference"]
        constraints = [
            # Räkningsreferensen är unik för kliniken, för alltid.
            models.UniqueConstraint(fields=["clinic", "reference"], name="claim_reference_unique_for_clinic"),
            models.CheckConstraint(condition=Q(total__gte=0), name="claim_total_not_negative"),
            models.CheckConstraint(condition=Q(patient_fee_total__lte=0), name="claim_fee_is_a_deduction"),
            models.CheckConstraint(
                condition=~Q(state=ClaimState.VOIDED) | ~Q(void_reason=""), name="voided_claim_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(intact_teeth__isnull=True)
                | (Q(remaining_teeth__isnull=False) & Q(intact_teeth__lte=models.F("remaining_teeth"))),
                name="intact_teeth_not_more_than_remaining",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "state"]),
            models.Index(fields=["patient", "support_form"]),
            # GET /api/v1/claims?updated_since=…: the clinic's claims in (updated_at, id) order, paged by keyset.
            models.Index(fields=["clinic", "updated_at", "id"], name="claim_clinic_updated"),
            # The coordinator's Räkningar pages by (created_at, id) from the last row shown (portal.keyset).
            models.Index(fields=["created_at", "id"], name="claim_created_keyset"),
            # Its default queue (Att hantera) and each state's filter, and the start page's oldest claims waiting:
            # the claims in one state in the list's order, not every claim scanned for them (the newest are open,
            # so a list of paid claims read by time alone would first pass over every open one).
            models.Index(fields=["state", "created_at", "id"], name="claim_state_created"),
            # Räkningar filtered by Utbetald: three claims in four are paid, so the planner reads the time index above
            # backwards, filtering, and passes every newer (open, approved) claim first (219 000 at 1 M claims, 83 ms);
            # this smaller index of the paid ones alone it takes instead (1 ms).
            models.Index(fields=["created_at", "id"], name="claim_paid_created", condition=Q(state=ClaimState.PAID)),
            # Räkningar filtered by clinic, in its order.
            models.Index(fields=["clinic", "created_at", "id"], name="claim_clinic_created"),
            # Era fakturor's tabs ask whether an invoice has a claim in some states: answered from this index alone,
            # even for an invoice of ten thousand claims; and an invoice's claims counted by state for its summary.
            models.Index(fields=["invoice", "state"], name="claim_invoice_state"),
            # An invoice's claims in the order shown, a page (or the expanded invoice's first few) at a time.
            models.Index(fields=["invoice", "reference"], name="claim_invoice_reference"),
            # The open claims whose questions are all answered ("Besvarade frågor att granska", Räkningar's filter
            # Besvarad): a few thousand entries, whatever the number of claims.
            models.Index(
                fields=["clinic"],
                condition=Q(questions_answered=True, state__in=OPEN_STATES),
                name="claim_questions_answered_open",
            ),
            # A prior assessment's claims (and the check when one is deleted): the few claims that have one.
            models.Index(
                fields=["prior_assessment"],
                condition=Q(prior_assessment__isnull=False),
                name="claim_prior_assessment",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args, **kwargs):
        # An UPDATE of the whole row would write back the questions_answered this instance read, perhaps before a
        # question was answered: every other column is written, that one only by the triggers.
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "questions_answered"
            ]
        super().save(*args, **kwargs)

    def can_move_to(self, state: str) -> bool:
        if state == ClaimState.VOIDED and self.is_in_payout:
            return False
        return CLAIM_TRANSITIONS.allows(self.state, state)

    @property
    def is_in_payout(self) -> bool:
        """Approved for a payout date by a payout run: it is in the bank's payment file and can no longer be
        voided, only credited by the clinic once paid."""
        return self.state == ClaimState.APPROVED and self.approved_on is not None


class ClaimRow:
    """A claim as a bulk writer reads it: the few fields a move needs (`FIELDS`), without a model instance.

    A payout run moves 100 000 claims; a Claim instance costs ~0.1 ms to make, this a microsecond. The claims
    mover (claims.services.claims_move), the audit log (`_meta`, `pk`, `str()`: the reference, as a Claim's) and
    `snapshot` take it where they take a Claim. Made from a row of `values_list(*ClaimRow.FIELDS)`."""

    FIELDS = ("id", "state", "approved_on", "paid_on", "clinic_id", "invoice_id", "reference", "total")
    __slots__ = (*FIELDS, "updated_at")
    _meta = Claim._meta

    def __init__(self, id, state, approved_on, paid_on, clinic_id, invoice_id, reference, total):
        self.id, self.state, self.approved_on, self.paid_on = id, state, approved_on, paid_on
        self.clinic_id, self.invoice_id, self.reference, self.total = clinic_id, invoice_id, reference, total

    @property
    def pk(self) -> int:
        return self.id

    __str__ = Claim.__str__
    is_in_payout = Claim.is_in_payout

    def __repr__(self) -> str:
        return f"<ClaimRow {self.id} {self.reference} {self.state}>"


class InvoiceRow:
    """An invoice as a payout run numbers it (`FIELDS`), without a model instance: `invoices_payout_set`, `snapshot`
    and the audit log (`_meta`, `pk`, `str()`: the reference, as an Invoice's) take it where they take an Invoice.
    Made from a row of `values_list(*InvoiceRow.FIELDS)`; a run numbers 16 000 invoices."""

    FIELDS = ("id", "clinic_id", "reference", "our_reference", "payout_date")
    __slots__ = FIELDS
    _meta = Invoice._meta

    def __init__(self, id, clinic_id, reference, our_reference, payout_date):
        self.id, self.clinic_id, self.reference = id, clinic_id, reference
        self.our_reference, self.payout_date = our_reference, payout_date

    @property
    def pk(self) -> int:
        return self.id

    __str__ = Invoice.__str__

    def __repr__(self) -> str:
        return f"<InvoiceRow {self.id} {self.reference}>"


class ClaimLineQuerySet(TenantQuerySet):
    clinic_path = "claim__clinic"
    region_path = "claim__clinic__region"


class ClaimLine(models.Model):
    """A treatment line (åtgärd) of one visit, or the visit's patient fee as a negative line."""

    # Indexed by claim_line_claim_visit (and the position constraint), which lead with the claim.
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="lines", db_index=False)
    position = models.PositiveSmallIntegerField()
    visit_date = models.DateField(_("Åtgärdsdatum"))
    code = models.CharField(_("Åtgärd"), max_length=10)
    tariff_row = models.ForeignKey(TariffRow, on_delete=models.PROTECT, related_name="+")
    tooth = models.CharField(_("Tand"), max_length=2, blank=True)
    jaw = models.CharField(_("Käke"), max_length=2, choices=Jaw.choices, blank=True)
    amount = models.IntegerField(_("Pris (öre)"))
    comment = models.CharField(_("Kommentar"), max_length=200, blank=True)

    objects = ClaimLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("åtgärd")
        verbose_name_plural = _("åtgärder")
        ordering = ["claim", "visit_date", "position"]
        indexes = [
            # A claim's lines in their order, and its first visit (the start page's and Era fakturor's billing
            # deadline: the earliest visit of each claim under behandling) as the first entry of an index read.
            models.Index(fields=["claim", "visit_date", "position"], name="claim_line_claim_visit"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["claim", "position"], name="claim_line_position_unique"),
            models.CheckConstraint(
                condition=(Q(code=PATIENT_FEE_CODE) & Q(amount__lte=0))
                | (~Q(code=PATIENT_FEE_CODE) & Q(amount__gte=0)),
                name="claim_line_sign_by_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.visit_date} {self.code}"

    @property
    def is_patient_fee(self) -> bool:
        return self.code == PATIENT_FEE_CODE

    @property
    def description(self) -> str:
        """The tariff's text (the region's words, in Swedish); the patient fee in ours, without the tariff row's
        input hint ("ange pris"), in the reader's language."""
        return gettext("Patientavgift") if self.is_patient_fee else self.tariff_row.description


class ClaimEventKind(models.TextChoices):
    """What happened to a claim. Stored as data and put into words when shown, in the reader's language."""

    RECEIVED = "received", _("Inkommen")
    REVIEW_STARTED = "review_started", _("Granskning påbörjad")
    RULES_MATCHED = "rules_matched", _("Granskningsregel")  # put under review by the region's rules
    APPROVED = "approved", _("Godkänd")
    SCHEDULED_FOR_PAYOUT = "scheduled_for_payout", _("Godkänd för utbetalning")
    PAID = "paid", _("Utbetald")
    PAYOUT_CANCELLED = "payout_cancelled", _("Utbetalningskörning makulerad")
    DELETED = "deleted", _("Raderad")
    VOIDED = "voided", _("Makulerad")
    CREDITED = "credited", _("Krediterad")
    PARTLY_CREDITED = "partly_credited", _("Delvis krediterad")
    QUESTION_ASKED = "question_asked", _("Fråga till kliniken")
    QUESTION_ANSWERED = "question_answered", _("Klinikens svar")
    NOTE = "note", _("Anteckning")  # history from before kinds that matched no known text: {"text": ...}


class ClaimEventQuerySet(TenantQuerySet):
    clinic_path = "claim__clinic"
    region_path = "claim__clinic__region"


class ClaimEvent(models.Model):
    """A claim's history: every state change, and what happened without one (a question), with who and when.

    `kind` and `params` are data; `text` puts them into words in the language active when it is read, so an
    English reader sees English and a Swedish reader Swedish. Words people wrote (a void reason, a question)
    are kept in `params` as written.
    """

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="events")
    from_state = models.CharField(max_length=20, choices=ClaimState.choices, blank=True)
    to_state = models.CharField(max_length=20, choices=ClaimState.choices)
    kind = models.CharField(max_length=30, choices=ClaimEventKind.choices)
    params = models.JSONField(default=dict, blank=True)
    # Not indexed: no query looks events up by who made them (users are never deleted), and a payout run writes
    # 100 000 events by one actor, each an entry of an index nobody reads. Not a row-by-row foreign key either: the
    # database checks each statement's actors at once (portal.migrations 0014: a payout run's 100 000 events name
    # one user, whom the key looked up 100 000 times at the commit), and refuses a user's delete while named here.
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

    objects = ClaimEventQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.claim} {self.from_state}→{self.to_state}"

    @property
    def text(self) -> str:
        """The history's comment on this event, in the language active now; empty when the state says it all."""
        return claim_event_text(self.kind, self.params)

    @property
    def html(self) -> str:
        """The comment as the history table shows it: what a person wrote (a question, an answer, a reason) marked
        as written in Swedish, so that a page in English says which words are whose."""
        return claim_event_text(self.kind, self.params, html=True)


def claim_event_text(kind: str, params: dict, *, html: bool = False) -> str:
    def say(template: str, **values) -> str:
        if not html:
            return template % values
        return mark_safe(escape(template) % {name: conditional_escape(value) for name, value in values.items()})  # noqa: S308 (every part escaped)

    def written(text: str) -> str:
        return format_html('<span lang="sv">{}</span>', text) if html and text else text

    if kind == ClaimEventKind.SCHEDULED_FOR_PAYOUT:
        return say(gettext("Godkänd för utbetalning %(date)s"), date=params["date"])
    if kind == ClaimEventKind.PAYOUT_CANCELLED:
        return say(gettext("Utbetalningskörningen %(date)s makulerades"), date=params["date"])
    if kind == ClaimEventKind.RULES_MATCHED:
        rules = "; ".join(review_rule_text(rule) for rule in params.get("rules", []))
        return say(gettext("Granskningsregel: %(rules)s"), rules=rules)
    if kind == ClaimEventKind.VOIDED:
        return written(params.get("reason", ""))
    if kind == ClaimEventKind.CREDITED:
        return say("%(reference)s", reference=params.get("reference", ""))
    if kind == ClaimEventKind.PARTLY_CREDITED:
        return say(gettext("Delvis krediterad: %(reference)s"), reference=params["reference"])
    if kind == ClaimEventKind.QUESTION_ASKED:
        return say(gettext("Fråga till kliniken: %(question)s"), question=written(params["question"]))
    if kind == ClaimEventKind.QUESTION_ANSWERED:
        return say(gettext("Klinikens svar: %(answer)s"), answer=written(params["answer"]))
    if kind == ClaimEventKind.NOTE:
        return written(params.get("text", ""))
    return ""


def review_rule_text(rule: dict) -> str:
    """A review rule in words, from the parameters a claim event keeps of it (review.ReviewRule.event_params).

    Here rather than in review: the claim history is put into words by claims, which does not import review.
    """
    kind = rule.get("kind")
    if kind == "amount_above":
        return gettext("Belopp över %(amount)s") % {"amount": format_kronor(rule["amount_limit"])}
    if kind == "codes":
        return gettext("Åtgärd %(codes)s") % {"codes": ", ".join(rule["codes"])}
    if kind == "sample":
        return gettext("Stickprov %(percent)s %%") % {"percent": rule["sample_percent"].replace(".", ",")}
    if kind == "clinic":
        return gettext("Klinik %(number)s %(name)s") % {"number": rule["clinic_number"], "name": rule["clinic_name"]}
    if kind == "possible_duplicate":
        return gettext("Möjlig dubblett")
    if kind == "fhb_near_limit":
        return gettext("FHB nära gränsen (%(share)s %% av godkänt belopp)") % {"share": rule["prior_assessment_share"]}
    return rule.get("text", "")


class CreditInvoiceQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class CreditInvoice(models.Model):
    """A kreditfaktura: the clinic credits paid lines; the amount is set off or repaid (see payouts)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="credit_invoices")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_invoices")
    reference = models.CharField(_("Kreditfakturanummer"), max_length=40)
    total = models.IntegerField(_("Belopp (öre)"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CreditInvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("kreditfaktura")
        verbose_name_plural = _("kreditfakturor")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "reference"], name="credit_reference_unique_for_clinic"),
            models.CheckConstraint(condition=Q(total__gte=0), name="credit_total_not_negative"),
        ]

    def __str__(self) -> str:
        return self.reference


class CreditLineQuerySet(TenantQuerySet):
    clinic_path = "credit_invoice__clinic"
    region_path = "credit_invoice__clinic__region"


class CreditLine(models.Model):
    """One credited claim line. A line can be credited once only: the database refuses a second."""

    credit_invoice = models.ForeignKey(CreditInvoice, on_delete=models.PROTECT, related_name="lines")
    claim_line = models.OneToOneField(ClaimLine, on_delete=models.PROTECT, related_name="credit")
    amount = models.IntegerField()

    objects = CreditLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("krediterad åtgärd")
        verbose_name_plural = _("krediterade åtgärder")

    def __str__(self) -> str:
        return f"{self.credit_invoice}: {self.claim_line}"


class InvoiceFileState(models.TextChoices):
    QUEUED = "queued", _("Väntar")
    RUNNING = "running", _("Kontrolleras")
    CHECKED = "checked", _("Kontrollerad")
    SENDING = "sending", _("Skickas")
    REJECTED = "rejected", _("Avvisad")
    SENT = "sent", _("Skickad")
    DISCARDED = "discarded", _("Återkallad")
    FAILED = "failed", _("Misslyckades")


# An invoice file's way: checked in the background, then sent or thrown away. A worker that died mid-check
# leaves it running; the redelivered task checks it again from the start (running → running). A sending that
# failed puts it back to checked, to be sent again.
INVOICE_FILE_TRANSITIONS = Transitions(
    {
        InvoiceFileState.QUEUED: {InvoiceFileState.RUNNING, InvoiceFileState.FAILED},
        InvoiceFileState.RUNNING: {
            InvoiceFileState.RUNNING,
            InvoiceFileState.CHECKED,
            InvoiceFileState.REJECTED,
            InvoiceFileState.FAILED,
        },
        InvoiceFileState.CHECKED: {InvoiceFileState.SENDING, InvoiceFileState.DISCARDED},
        InvoiceFileState.SENDING: {InvoiceFileState.SENT, InvoiceFileState.CHECKED},
        InvoiceFileState.REJECTED: set(),
        InvoiceFileState.SENT: set(),
        InvoiceFileState.DISCARDED: set(),
        InvoiceFileState.FAILED: set(),
    },
    labels=InvoiceFileState,
)


class InvoiceFileUploadQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "clinic__region"


class InvoiceFileUpload(models.Model):
    """An invoice file (fakturafil) a clinic uploaded: checked in the background, then sent as one invoice.

    The file is kept under a name of ours; the faults found are `InvoiceFileFault` rows, one per fault. A
    whole-file fault leaves only this record, with the message in `failure_message`.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="invoice_files")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(storage=private_storage, upload_to="invoice-files/%Y/%m/")
    original_name = models.CharField(_("Filnamn"), max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    review_only = models.BooleanField(_("Granska endast"), default=False)
    state = models.CharField(
        _("Status"), max_length=10, choices=InvoiceFileState.choices, default=InvoiceFileState.QUEUED
    )
    invoice_reference = models.CharField(_("OCR/Fakturanummer"), max_length=25, blank=True)
    claim_count = models.PositiveIntegerField(_("Räkningar i filen"), default=0)
    processed_count = models.PositiveIntegerField(_("Kontrollerade räkningar"), default=0)
    faulty_count = models.PositiveIntegerField(_("Räkningar med fel"), default=0)
    failure_message = models.TextField(blank=True)
    # The earliest visit of the claims the check found correct (those sending would bill), kept by the check so
    # the start page can tell the file's billing deadline without reading the file again.
    first_visit_on = models.DateField(_("Första besöksdatum"), null=True, blank=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Every invoice the sending made: one per clinic in an umbrella organisation's file (`invoice` is the upload's
    # clinic's, or the first), the one `invoice` otherwise.
    invoices = models.ManyToManyField(Invoice, blank=True, related_name="+")
    # Who pressed Ladda upp: the claims are sent in their name by the task.
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Moves with every saved chunk; an unfinished check whose time stands still has lost its worker.
    updated_at = models.DateTimeField(auto_now=True)

    objects = InvoiceFileUploadQuerySet.as_manager()

    class Meta:
        verbose_name = _("fakturafil")
        verbose_name_plural = _("fakturafiler")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "-created_at"]),
            models.Index(fields=["clinic", "sha256"]),
            # The files busy now, for /metrics (billing/metrics.py): a few rows, whatever was ever uploaded.
            models.Index(
                fields=["state"],
                name="invoicefile_busy_idx",
                condition=models.Q(state__in=["queued", "running", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_checking(self) -> bool:
        return self.state in (InvoiceFileState.QUEUED, InvoiceFileState.RUNNING)

    @property
    def is_busy(self) -> bool:
        """Being checked or sent in the background: its page waits."""
        return self.is_checking or self.state == InvoiceFileState.SENDING

    @property
    def is_stalled(self) -> bool:
        return self.is_busy and self.updated_at < stalled_before()

    @property
    def correct_count(self) -> int:
        return self.processed_count - self.faulty_count

    @property
    def can_send(self) -> bool:
        return self.state == InvoiceFileState.CHECKED and not self.review_only and self.correct_count > 0


class InvoiceFileFaultQuerySet(TenantQuerySet):
    clinic_path = "upload__clinic"
    region_path = "upload__clinic__region"


class InvoiceFileFault(models.Model):
    """One fault of one claim in an invoice file: a row of the error list (fellistan)."""

    upload = models.ForeignKey(InvoiceFileUpload, on_delete=models.CASCADE, related_name="faults")
    claim_index = models.PositiveIntegerField()  # the claim's place in the file, from 1
    clinic_number = models.CharField(_("Kliniknummer"), max_length=10)
    claim_reference = models.CharField(_("Räkningsnummer"), max_length=100, blank=True)
    personal_identity_number = models.CharField(_("Personnummer"), max_length=40, blank=True)
    code = models.CharField(max_length=60)
    message = models.TextField(_("Felmeddelande"))  # in the language of the check
    # How to say the message again in the reader's language (portal.translation): its msgid and values.
    message_id = models.TextField(blank=True, default="")
    message_params = models.JSONField(null=True, blank=True)

    objects = InvoiceFileFaultQuerySet.as_manager()

    class Meta:
        verbose_name = _("fel i fakturafil")
        verbose_name_plural = _("fel i fakturafiler")
        ordering = ["upload", "claim_index", "id"]
        indexes = [models.Index(fields=["upload", "claim_index"])]

    def __str__(self) -> str:
        return f"{self.claim_reference}: {self.message}"

    @property
    def text(self) -> str:
        """The message in the language active now (the words as made if they cannot be said again)."""
        return say_again(self.message_id, self.message_params, as_made=self.message)
