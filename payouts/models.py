"""Payout runs (utbetalningskörningar): what the region pays each clinic on a payout date, and what it gets back.

A run for a region and a payout date collects the claims ready for payout, approves them for that date and
pays each clinic one amount: its invoices (each with its Vår referens) less the pending credits set off
against them. Plusgiro clinics' credits are not set off but owed back to the region (Repayment).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from claims.models import Claim, ClaimState, CreditInvoice, Invoice
from clinics.models import Clinic, PaymentMethod, Region
from portal import validators
from portal.background import stalled_before
from portal.tenancy import TenantQuerySet
from portal.transitions import Transitions


def account_display(payment_method: str, account_number: str) -> str:
    """Where a payment goes, as the bank's papers write it: "BG 555-1234" or "PG 412345-1"."""
    if payment_method == PaymentMethod.BANKGIRO:
        return f"BG {validators.format_bankgiro(account_number)}"
    return f"PG {validators.format_plusgiro(account_number)}"


class PayoutRunState(models.TextChoices):
    MAKING = "making", _("Skapas")
    FAILED = "failed", _("Kunde inte skapas")
    AWAITING_SECOND = "awaiting_second", _("Väntar på bekräftelse av en andra samordnare")
    PLANNED = "planned", _("Godkänd för utbetalning")
    PAID = "paid", _("Utbetald")
    CANCELLED = "cancelled", _("Makulerad")


# A run is asked for (making) and made by a background task (payouts.tasks.make_payout_run), or fails; made, it is
# planned, or awaiting a second coordinator when its net is above the region's amount (four eyes); the daily job
# marks it paid once its payout date has passed and its file was downloaded. Until the file is downloaded it may
# be cancelled (makulerad), which puts its claims back as they were.
PAYOUT_RUN_TRANSITIONS = Transitions(
    {
        PayoutRunState.MAKING: {PayoutRunState.AWAITING_SECOND, PayoutRunState.PLANNED, PayoutRunState.FAILED},
        PayoutRunState.FAILED: set(),
        PayoutRunState.AWAITING_SECOND: {PayoutRunState.PLANNED, PayoutRunState.CANCELLED},
        PayoutRunState.PLANNED: {PayoutRunState.PAID, PayoutRunState.CANCELLED},
        PayoutRunState.PAID: set(),
        PayoutRunState.CANCELLED: set(),
    },
    labels=PayoutRunState,
)
# The runs that hold their claims and their date: all but the cancelled and those that could not be made (a run
# being made holds its date, so that a second request for it finds it).
LIVE_RUN_STATES = (PayoutRunState.MAKING, PayoutRunState.AWAITING_SECOND, PayoutRunState.PLANNED, PayoutRunState.PAID)


class PayoutRunQuerySet(TenantQuerySet):
    region_path = "region"


class PayoutRun(models.Model):
    """One utbetalningskörning: one live run per region and payout date (the database refuses a second; a
    cancelled run frees its date)."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="payout_runs")
    payout_date = models.DateField(_("Utbetalningsdatum"))
    state = models.CharField(_("Status"), max_length=20, choices=PayoutRunState.choices, default=PayoutRunState.PLANNED)
    claim_count = models.PositiveIntegerField(_("Räkningar"), default=0)
    gross_total = models.BigIntegerField(_("Fakturerat (öre)"), default=0)
    set_off_total = models.BigIntegerField(_("Kvittat (öre)"), default=0)
    net_total = models.BigIntegerField(_("Att betala ut (öre)"), default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Four eyes: the second coordinator who confirmed a run above the region's amount.
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The first download of the payment file: from then on the run cannot be cancelled.
    file_downloaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    file_downloaded_at = models.DateTimeField(_("Betalningsfilen nedladdad"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("Makulerad"), null=True, blank=True)
    # While the task makes the run: the preview's fingerprint it must match, how many claims it has written (of
    # claim_count, the preview's), and why it could not be made. updated_at is its last sign of life.
    fingerprint = models.CharField(max_length=64, blank=True)
    progress_count = models.PositiveIntegerField(default=0)
    failure_message = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PayoutRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("utbetalningskörning")
        verbose_name_plural = _("utbetalningskörningar")
        ordering = ["region", "-payout_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "payout_date"],
                condition=~Q(state__in=["cancelled", "failed"]),
                name="payout_run_one_live_per_region_and_date",
            ),
            models.CheckConstraint(
                condition=Q(net_total=models.F("gross_total") - models.F("set_off_total")),
                name="payout_run_net_is_gross_less_set_off",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.payout_date.isoformat()}"

    @property
    def is_making(self) -> bool:
        return self.state == PayoutRunState.MAKING

    @property
    def is_stalled(self) -> bool:
        """Being made, with no sign of life for longer than a worker could take: its worker is lost for good."""
        return self.is_making and self.updated_at < stalled_before()

    @property
    def can_be_cancelled(self) -> bool:
        return PAYOUT_RUN_TRANSITIONS.allows(self.state, PayoutRunState.CANCELLED) and self.file_downloaded_at is None

    @property
    def message_id(self) -> str:
        """The payment file's MsgId: unique for the region's files, and the same however often it is built."""
        return f"TP-{self.region.code}-{self.payout_date:%Y%m%d}-{self.pk}"[:35]


class PayoutPaymentQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "run__region"


class PayoutPayment(models.Model):
    """What one clinic is paid in a run: one transaction of the payment file, one utbetalningsbesked.

    The account is copied from the clinic when the run is made, so that the file and the notice always
    show where the money went, whatever the clinic changes later.
    """

    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="payments")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="payout_payments")
    payment_method = models.CharField(_("Betalningssätt"), max_length=10, choices=PaymentMethod.choices)
    account_number = models.CharField(_("Bankgiro-/plusgironummer"), max_length=8)
    gross = models.BigIntegerField(_("Fakturerat (öre)"))
    set_off = models.BigIntegerField(_("Kvittat (öre)"), default=0)
    net = models.BigIntegerField(_("Att betala ut (öre)"))
    notice_sent_at = models.DateTimeField(_("Utbetalningsbesked skickat"), null=True, blank=True)
    notice_sent_to = models.EmailField(blank=True)

    objects = PayoutPaymentQuerySet.as_manager()

    class Meta:
        verbose_name = _("utbetalning till klinik")
        verbose_name_plural = _("utbetalningar till kliniker")
        ordering = ["run", "clinic__number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "clinic"], name="payout_payment_one_per_clinic"),
            models.CheckConstraint(
                condition=Q(set_off__gte=0) & Q(set_off__lte=models.F("gross")), name="payout_set_off_within_gross"
            ),
            models.CheckConstraint(condition=Q(net=models.F("gross") - models.F("set_off")), name="payout_net"),
        ]

    def __str__(self) -> str:
        return f"{self.run}: {self.clinic}"

    @property
    def end_to_end_id(self) -> str:
        return f"TP{self.run_id}-{self.clinic.number}"[:35]

    @property
    def account_display(self) -> str:
        return account_display(self.payment_method, self.account_number)


class PayoutInvoiceQuerySet(TenantQuerySet):
    clinic_path = "payment__clinic"
    region_path = "region"


class PayoutInvoice(models.Model):
    """An invoice paid in a run, with its Vår referens (unique and sequential in the region)."""

    payment = models.ForeignKey(PayoutPayment, on_delete=models.PROTECT, related_name="invoices")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payouts")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    our_reference = models.CharField(_("Vår referens"), max_length=20)
    amount = models.BigIntegerField(_("Belopp (öre)"))
    # Its claims in the run, counted when the run is made (with `amount`): the run's page shows it for each invoice
    # without reading the run's claims (a new run's rows are not yet in memory: 205 ms for the page's first read).
    claim_count = models.PositiveIntegerField(_("Räkningar"), default=0, db_default=0)
    # What the invoice showed before the run, given back if the run is cancelled.
    previous_our_reference = models.CharField(max_length=20, blank=True)
    previous_payout_date = models.DateField(null=True, blank=True)

    objects = PayoutInvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("utbetald faktura")
        verbose_name_plural = _("utbetalda fakturor")
        ordering = ["payment", "our_reference"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "invoice"], name="payout_invoice_once_per_payment"),
            models.UniqueConstraint(fields=["region", "our_reference"], name="payout_our_reference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} ({self.our_reference})"


class PayoutClaimQuerySet(TenantQuerySet):
    clinic_path = "payout_invoice__payment__clinic"
    region_path = "payout_invoice__region"


class PayoutClaim(models.Model):
    """A claim paid in a run. A claim is paid once: the database refuses a second run for it.

    A cancelled run gives its claims back (their state and approval date as kept here) and lets go of them.
    """

    payout_invoice = models.ForeignKey(PayoutInvoice, on_delete=models.PROTECT, related_name="claims")
    claim = models.OneToOneField(Claim, on_delete=models.PROTECT, related_name="payout")
    amount = models.BigIntegerField(_("Belopp (öre)"))
    previous_state = models.CharField(max_length=20, choices=ClaimState.choices, default=ClaimState.RECEIVED)
    previous_approved_on = models.DateField(null=True, blank=True)

    objects = PayoutClaimQuerySet.as_manager()

    class Meta:
        verbose_name = _("utbetald räkning")
        verbose_name_plural = _("utbetalda räkningar")

    def __str__(self) -> str:
        return str(self.claim)


class SetOffQuerySet(TenantQuerySet):
    clinic_path = "payment__clinic"
    region_path = "payment__run__region"


class SetOff(models.Model):
    """Part or all of a bankgiro clinic's credit invoice deducted from a payout (kvittning)."""

    payment = models.ForeignKey(PayoutPayment, on_delete=models.PROTECT, related_name="set_offs")
    credit_invoice = models.ForeignKey(CreditInvoice, on_delete=models.PROTECT, related_name="set_offs")
    amount = models.BigIntegerField(_("Kvittat (öre)"))

    objects = SetOffQuerySet.as_manager()

    class Meta:
        verbose_name = _("kvittning")
        verbose_name_plural = _("kvittningar")
        ordering = ["payment", "credit_invoice__created_at", "credit_invoice_id"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "credit_invoice"], name="set_off_once_per_payment"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="set_off_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.credit_invoice}: {self.amount}"


class RepaymentQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "region"


class Repayment(models.Model):
    """A plusgiro clinic's credit, owed back to the region's bankgiro quoting the credited invoice's Vår referens.

    The coordinator marks it received (date, who) when the money is on the region's account.
    """

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="repayments")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="repayments")
    credit_invoice = models.OneToOneField(CreditInvoice, on_delete=models.PROTECT, related_name="repayment")
    amount = models.BigIntegerField(_("Belopp (öre)"))
    our_reference = models.CharField(_("Vår referens"), max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    received_on = models.DateField(_("Mottagen"), null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(null=True, blank=True)

    objects = RepaymentQuerySet.as_manager()

    class Meta:
        verbose_name = _("återbetalning")
        verbose_name_plural = _("återbetalningar")
        ordering = ["region", "received_on", "-created_at", "-id"]
        indexes = [models.Index(fields=["region", "received_on"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="repayment_not_negative"),
            models.CheckConstraint(
                condition=Q(received_on__isnull=True) | Q(received_by__isnull=False), name="repayment_received_by_whom"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credit_invoice} ({self.our_reference})"


class OurReferenceCounterQuerySet(TenantQuerySet):
    region_path = "region"


class OurReferenceCounter(models.Model):
    """The last Vår referens given in a region; locked for update while a run numbers its invoices."""

    region = models.OneToOneField(Region, on_delete=models.PROTECT, related_name="+")
    last_value = models.PositiveBigIntegerField(default=0)

    objects = OurReferenceCounterQuerySet.as_manager()

    class Meta:
        verbose_name = _("löpnummer för Vår referens")
        verbose_name_plural = _("löpnummer för Vår referens")

    def __str__(self) -> str:
        return f"{self.region}: {self.last_value}"


class PayoutPreviewState(models.TextChoices):
    MAKING = "making", _("Beräknas")
    READY = "ready", _("Klar")
    FAILED = "failed", _("Kunde inte beräknas")


# A preview is asked for (making) and computed by a background task (payouts.tasks.make_payout_preview): ready, or
# failed (the coordinator asks again: a new preview).
PAYOUT_PREVIEW_TRANSITIONS = Transitions(
    {
        PayoutPreviewState.MAKING: {PayoutPreviewState.READY, PayoutPreviewState.FAILED},
        PayoutPreviewState.READY: set(),
        PayoutPreviewState.FAILED: set(),
    },
    labels=PayoutPreviewState,
)


class PayoutPreviewQuerySet(TenantQuerySet):
    region_path = "region"


class PayoutPreview(models.Model):
    """A förhandsgranskning of the region's run for a payout date, computed by a task and kept: what each clinic
    would be paid (PayoutPreviewPayment), the claims left out, and the fingerprint the run must match when the
    coordinator confirms it. One being computed per region and date (a second click finds it)."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="payout_previews")
    payout_date = models.DateField(_("Utbetalningsdatum"))
    state = models.CharField(
        _("Status"), max_length=20, choices=PayoutPreviewState.choices, default=PayoutPreviewState.MAKING
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Its last sign of life while being computed (portal.background.ProgressWriter).
    updated_at = models.DateTimeField(auto_now=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    # While computed: the claims the run would pay (the bar's end, known first) and how many are read.
    claim_count = models.PositiveIntegerField(default=0)
    progress_count = models.PositiveIntegerField(default=0)
    gross_total = models.BigIntegerField(default=0)
    set_off_total = models.BigIntegerField(default=0)
    net_total = models.BigIntegerField(default=0)
    # The claims the run leaves out: how many, and the first few as [claim id, reason] (payouts.plan.LeftOutReason).
    left_out_count = models.PositiveIntegerField(default=0)
    left_out = models.JSONField(default=list, blank=True)
    failure_message = models.TextField(blank=True)

    objects = PayoutPreviewQuerySet.as_manager()

    class Meta:
        verbose_name = _("förhandsgranskning av utbetalning")
        verbose_name_plural = _("förhandsgranskningar av utbetalningar")
        ordering = ["region", "-created_at"]
        indexes = [models.Index(fields=["region", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "payout_date"],
                condition=Q(state="making"),
                name="payout_preview_one_making_per_region_and_date",
            ),
            models.CheckConstraint(
                condition=Q(net_total=models.F("gross_total") - models.F("set_off_total")),
                name="payout_preview_net_is_gross_less_set_off",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.payout_date.isoformat()} ({self.state})"

    @property
    def is_making(self) -> bool:
        return self.state == PayoutPreviewState.MAKING

    @property
    def is_stalled(self) -> bool:
        """Being computed, with no sign of life for longer than a worker could take: its worker is lost for good."""
        return self.is_making and self.updated_at < stalled_before()


class PayoutPreviewPaymentQuerySet(TenantQuerySet):
    clinic_path = "clinic"
    region_path = "preview__region"


class PayoutPreviewPayment(models.Model):
    """What one clinic would be paid by the previewed run, as computed: the account the run would pay to, its
    claims' count and sum, the credits set off (as [credit invoice id, öre]) and, for a small run, its claims
    (as [claim id, öre])."""

    preview = models.ForeignKey(PayoutPreview, on_delete=models.CASCADE, related_name="payments")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()  # the run's order: clinic by number
    payment_method = models.CharField(_("Betalningssätt"), max_length=10, choices=PaymentMethod.choices)
    account_number = models.CharField(_("Bankgiro-/plusgironummer"), max_length=8)
    claim_count = models.PositiveIntegerField(_("Räkningar"))
    gross = models.BigIntegerField(_("Fakturerat (öre)"))
    set_off = models.BigIntegerField(_("Kvittat (öre)"), default=0)
    net = models.BigIntegerField(_("Att betala ut (öre)"))
    set_offs = models.JSONField(default=list, blank=True)
    claims = models.JSONField(default=list, blank=True)

    objects = PayoutPreviewPaymentQuerySet.as_manager()

    class Meta:
        verbose_name = _("förhandsgranskad utbetalning till klinik")
        verbose_name_plural = _("förhandsgranskade utbetalningar till kliniker")
        ordering = ["preview", "position"]
        constraints = [
            models.UniqueConstraint(fields=["preview", "position"], name="payout_preview_payment_position"),
            models.CheckConstraint(condition=Q(net=models.F("gross") - models.F("set_off")), name="payout_preview_net"),
        ]

    def __str__(self) -> str:
        return f"{self.preview}: {self.clinic_id}"

    @property
    def account_display(self) -> str:
        return account_display(self.payment_method, self.account_number)
