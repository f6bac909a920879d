"""Era fakturor: the clinic's invoices by tab and search, each with its claims, credits and the region's open
questions, and the invoice's status as the list shows it."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, Exists, Max, Min, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from claims.models import (
    OPEN_STATES,
    Claim,
    ClaimLine,
    ClaimState,
    CreditInvoice,
    CreditLine,
    Invoice,
    InvoiceFileState,
    InvoiceFileUpload,
)
from claims.selectors import claim_status, claim_status_text
from claims.validation import DEADLINE_WARNING_DAYS, last_billing_day, visits_due
from clinics.models import Clinic
from eligibility.selectors import ClinicAssessmentView, clinic_prior_assessments
from payouts.models import PayoutInvoice, PayoutPayment, PayoutRunState, Repayment, SetOff
from portal.keyset import capped_count
from review.models import ClaimQuestion


class InvoiceTab:
    """The four lists of Era fakturor. An invoice is in every tab one of its claims' states puts it in."""

    RECEIVED = "received"
    PAID = "paid"
    CREDITS = "credits"
    VOIDED = "voided"

    LABELS = {
        RECEIVED: gettext_lazy("Under behandling"),
        PAID: gettext_lazy("Utbetalda"),
        CREDITS: gettext_lazy("Kreditfakturor"),
        VOIDED: gettext_lazy("Makulerade"),
    }
    # Registered but not paid yet / paid once (credited claims were paid too) / voided by the region.
    STATES = {
        RECEIVED: (*OPEN_STATES, ClaimState.APPROVED),
        PAID: (ClaimState.PAID, ClaimState.CREDITED),
        VOIDED: (ClaimState.VOIDED,),
    }
    ALL = (RECEIVED, PAID, CREDITS, VOIDED)


@dataclass(frozen=True)
class InvoiceSearch:
    """What Era fakturor (and the API's GET /invoices) searches by. The period is the day the invoice came in (in
    Kreditfakturor: the day of the credit), both days included; a day left out leaves that end open."""

    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    reference: str = ""  # OCR/Fakturanummer
    claim_reference: str = ""  # Räkningsnummer (the claim's räkningsreferens)
    our_reference: str = ""  # Vår referens: the region's, of a payout (or of a repayment owed on a credit)
    personal_identity_number: str = ""  # only ever from a POST
    open_question: bool = False  # a claim of it has a question from the region not yet answered
    open_credit: bool = False  # Kreditfakturor: only credits whose amount the region has not got back yet
    deadline_soon: bool = False  # a claim of it under behandling whose first visit's billing deadline ends soon


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _credit_open() -> Q:
    """A credit whose amount the region has not got back yet: a plusgiro repayment not received, or (no
    repayment) an amount not yet set off in full against a bankgiro clinic's payouts."""
    set_off = (
        SetOff.objects.filter(credit_invoice=OuterRef("pk"))
        .values("credit_invoice")
        .annotate(total=Sum("amount"))
        .values("total")
        # Without the model's ordering (payment, then the payment's own): it joined four tables into each sum.
        .order_by()
    )
    return Q(repayment__isnull=False, repayment__received_on__isnull=True) | Q(
        repayment__isnull=True, total__gt=Coalesce(Subquery(set_off), Value(0))
    )


def _unanswered_questions(clinic: Clinic | list[Clinic]) -> QuerySet[ClaimQuestion]:
    """The region's questions the clinic has still to answer: on claims still open (a claim decided is past them).

    A list of clinics: an umbrella organisation's (its own pages)."""
    questions = (
        ClaimQuestion.objects.of_clinics(clinic)
        if isinstance(clinic, list)
        else ClaimQuestion.objects.of_clinic(clinic)
    )
    return questions.filter(answered_at__isnull=True, claim__state__in=OPEN_STATES)


def _claims_deadline_soon(clinic: Clinic, today: datetime.date) -> QuerySet[Claim]:
    """The clinic's claims under behandling whose earliest visit's last billing day (the region's rule) is today or
    within DEADLINE_WARNING_DAYS, each with that visit as `first_visit`."""
    first, last = visits_due(region=clinic.region, today=today)
    first_visit = ClaimLine.objects.filter(claim=OuterRef("pk")).order_by("visit_date").values("visit_date")[:1]
    return (
        Claim.objects.of_clinic(clinic)
        .filter(state__in=OPEN_STATES)
        .annotate(first_visit=Subquery(first_visit))
        .filter(first_visit__range=(first, last))
    )


def _period(search: InvoiceSearch, field_name: str) -> Q:
    period = Q()
    if search.date_from is not None:
        period &= Q(**{f"{field_name}__gte": _start_of(search.date_from)})
    if search.date_to is not None:
        period &= Q(**{f"{field_name}__lt": _start_of(search.date_to + datetime.timedelta(days=1))})
    return period


def clinic_invoice_list(*, clinic: Clinic | list[Clinic], tab: str | None, search: InvoiceSearch) -> QuerySet[Invoice]:
    """The clinic's invoices in `tab` (None: in any) that match `search`, newest first (nothing prefetched).
    `clinic` may be a list of clinics: an umbrella organisation's *Era fakturor* for all or some of its clinics
    (each invoice then knows its clinic).

    Tab and search are EXISTS subqueries, so the invoice rows are never multiplied by their claims. The index on
    (clinic, received_at, id) gives the order and the period; the one on a claim's (invoice, state) answers each
    tab's EXISTS from the index alone, however many claims an invoice holds.
    """
    if isinstance(clinic, list):
        invoices = Invoice.objects.of_clinics(clinic).select_related("clinic__region")
        clinic_credits = CreditInvoice.objects.of_clinics(clinic)
    else:
        invoices = Invoice.objects.of_clinic(clinic)
        clinic_credits = CreditInvoice.objects.of_clinic(clinic)
    if tab == InvoiceTab.CREDITS:
        # By the credit's own date, not the credited invoice's; a credit still owed shows whatever the period.
        # The credits of the clinic only (by its index): unscoped, PostgreSQL weighed every credit of every clinic
        # for whether it is still owed before it joined the clinic's invoices (137 ms at a million claims).
        wanted = _credit_open() if search.open_credit else _period(search, "created_at") | _credit_open()
        invoices = invoices.filter(Exists(clinic_credits.filter(invoice=OuterRef("pk")).filter(wanted)))
    else:
        invoices = invoices.filter(_period(search, "received_at"))
        if tab is not None:
            invoices = invoices.filter(
                Exists(Claim.objects.filter(invoice=OuterRef("pk"), state__in=InvoiceTab.STATES[tab]))
            )
    if search.open_question:
        invoices = invoices.filter(Exists(_unanswered_questions(clinic).filter(claim__invoice=OuterRef("pk"))))
    if search.deadline_soon:
        soon = _claims_deadline_soon(clinic, timezone.localdate())
        invoices = invoices.filter(Exists(soon.filter(invoice=OuterRef("pk"))))
    if search.reference:
        invoices = invoices.filter(reference__iexact=search.reference)
    if search.claim_reference:
        invoices = invoices.filter(
            Exists(Claim.objects.filter(invoice=OuterRef("pk"), reference__iexact=search.claim_reference))
        )
    if search.our_reference:
        # "Ni har fått en inbetalning men vet inte vilken faktura": the Vår referens the invoice has now, one a
        # cancelled or earlier run gave it, or that of a credit's repayment.
        invoices = invoices.filter(
            Q(our_reference__iexact=search.our_reference)
            | Exists(PayoutInvoice.objects.filter(invoice=OuterRef("pk"), our_reference__iexact=search.our_reference))
            | Exists(
                CreditInvoice.objects.filter(
                    invoice=OuterRef("pk"), repayment__our_reference__iexact=search.our_reference
                )
            )
        )
    if search.personal_identity_number:
        invoices = invoices.filter(
            Exists(
                Claim.objects.filter(
                    invoice=OuterRef("pk"), patient__personal_identity_number=search.personal_identity_number
                )
            )
        )
    return invoices.order_by("-received_at", "-id")


# A list's count stops here ("fler än 1 000"): counting every match of a two-year search of a large clinic would read
# every one of them on each page; past a thousand the number helps nobody choose a page.
COUNT_LIMIT = 1000


def invoice_count(invoices: QuerySet[Invoice]) -> tuple[int, bool]:
    """How many invoices the list holds, read no further than COUNT_LIMIT + 1 rows, and whether it holds more."""
    counted = capped_count(invoices, cap=COUNT_LIMIT)
    return min(counted.count, counted.cap), counted.capped


def clinic_invoice(*, clinic: Clinic, invoice_pk: int) -> Invoice | None:
    """One of the clinic's invoices (None for another clinic's), nothing prefetched: its figures come from
    `invoice_summaries`, its claims a page at a time from `invoice_claims`."""
    return Invoice.objects.of_clinic(clinic).filter(pk=invoice_pk).first()


def _claim_rows() -> QuerySet[Claim]:
    """Claims as Era fakturor's expanded invoice shows them: who, what, and the status texts' facts."""
    return Claim.objects.select_related(
        "patient", "created_by", "certificate", "care_model", "patient_category", "prior_assessment"
    ).annotate(
        # A correlated EXISTS per claim shown: a join and count over the lines made PostgreSQL hash every line of
        # the table (issue 16: 1.9–3.0 s at a million claims).
        has_credited_lines=Exists(CreditLine.objects.filter(claim_line__claim=OuterRef("pk"))),
        # The region's review asked the clinic something it has not answered yet.
        has_open_question=Exists(ClaimQuestion.objects.filter(claim=OuterRef("pk"), answered_at__isnull=True)),
        # The days of the claim's visits, from its lines.
        visit_dates=ArraySubquery(
            ClaimLine.objects.filter(claim=OuterRef("pk")).order_by("visit_date").values("visit_date").distinct()
        ),
    )


def clinic_claim(*, clinic: Clinic, claim_pk: int) -> Claim | None:
    """One of the clinic's claims with its invoice, patient and lines (each with its credit, if any, and its tariff
    row, whose text the page shows)."""
    lines = ClaimLine.objects.select_related("credit__credit_invoice", "tariff_row").order_by("visit_date", "position")
    return (
        Claim.objects.of_clinic(clinic)
        .select_related(
            "invoice", "patient", "created_by", "certificate", "care_model", "patient_category", "prior_assessment"
        )
        .prefetch_related(Prefetch("lines", queryset=lines))
        .filter(pk=claim_pk)
        .first()
    )


@dataclass
class InvoiceSummary:
    """An invoice as a row of Era fakturor: its amount and status texts come from figures over ALL its claims
    (counted in the database by `invoice_summaries`); `claims` holds only the claims shown (a page's first few of a
    large invoice)."""

    invoice: Invoice
    claims: list[Claim] = field(default_factory=list)
    credits: list[CreditInvoice] = field(default_factory=list)
    credit_instruction: str = ""  # how credited amounts are settled; set by the view, which knows the clinic
    # The row's links in Era fakturor (its claims, its page, Radera); set by the view (billing.invoice_views.row_links).
    claims_url: str = ""
    detail_url: str = ""
    delete_url: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # the invoice's claims by state
    amount: int = 0  # what the region pays (or paid) for the invoice: voided and deleted claims count for nothing
    partly_credited: int = 0  # paid claims with some lines credited
    first_approved_on: datetime.date | None = None  # the earliest payout date of its approved claims
    last_paid_on: datetime.date | None = None

    def _count(self, *states: str) -> int:
        return sum(self.counts.get(state, 0) for state in states)

    @property
    def claim_count(self) -> int:
        return sum(self.counts.values())

    @property
    def claims_not_shown(self) -> int:
        return self.claim_count - len(self.claims)

    @property
    def credited_amount(self) -> int:
        return sum(credit.total for credit in self.credits)

    @property
    def status(self) -> str:
        """The invoice's state: the least advanced of its live claims decides (e.g. "Under behandling")."""
        if self._count(*OPEN_STATES):
            return _("Under behandling")
        if self._count(ClaimState.APPROVED):
            if self.first_approved_on:
                return _("Godkänd för utbetalning %(date)s") % {"date": self.first_approved_on.isoformat()}
            return _("Godkänd, väntar på utbetalning")
        if self._count(ClaimState.PAID, ClaimState.CREDITED):
            paid_on = self.invoice.payout_date or self.last_paid_on
            return _("Utbetalningsdatum %(date)s") % {"date": paid_on.isoformat()} if paid_on else _("Utbetald")
        if self._count(ClaimState.VOIDED):
            return _("Faktura makulerad")
        return _("Faktura raderad")

    @property
    def claims_status(self) -> str:
        """Räkningsstatus: the claims that stand out, counted (e.g. "1 räkning under granskning")."""
        parts = []
        if count := self._count(ClaimState.UNDER_REVIEW):
            parts.append(
                ngettext("%(count)s räkning under granskning", "%(count)s räkningar under granskning", count)
                % {"count": count}
            )
        if count := self.partly_credited:
            parts.append(
                ngettext("%(count)s räkning delvis krediterad", "%(count)s räkningar delvis krediterade", count)
                % {"count": count}
            )
        if count := self._count(ClaimState.CREDITED):
            parts.append(
                ngettext("%(count)s räkning krediterad", "%(count)s räkningar krediterade", count) % {"count": count}
            )
        if count := self._count(ClaimState.VOIDED):
            parts.append(
                ngettext("%(count)s räkning makulerad", "%(count)s räkningar makulerade", count) % {"count": count}
            )
        if count := self._count(ClaimState.DELETED):
            parts.append(
                ngettext("%(count)s räkning raderad", "%(count)s räkningar raderade", count) % {"count": count}
            )
        return ", ".join(parts)

    @property
    def deletable(self) -> bool:
        return bool(self._count(*OPEN_STATES))

    # The row's texts, made here rather than by two {% blocktranslate %} and a |date per row (1.8 and 0.9 ms of a
    # 25-row page).

    @property
    def received_on(self) -> str:
        """The day the invoice came in, in the current time zone: "2026-12-07" (as |date:"Y-m-d")."""
        return timezone.localdate(self.invoice.received_at).isoformat()

    @property
    def show_claims_text(self) -> str:
        """The row's summary line: "Visa 3 räkningar i faktura 1234"."""
        count = self.claim_count
        return ngettext(
            "Visa %(counter)s räkning i faktura %(reference)s",
            "Visa %(counter)s räkningar i faktura %(reference)s",
            count,
        ) % {"counter": count, "reference": self.invoice.reference}

    @property
    def all_claims_text(self) -> str:
        """The link to the invoice's page: "Alla räkningar i faktura 1234"."""
        return _("Alla räkningar i faktura %(reference)s") % {"reference": self.invoice.reference}


def _count_claims(summaries: dict[int, InvoiceSummary], ids: list[int]) -> None:
    """Each summary's figures over all its invoice's claims, and its credits: two queries, and a third for the
    partly credited claims where an invoice has a credit."""
    clinics = {summary.invoice.clinic_id for summary in summaries.values()}
    figures = (
        Claim.objects.of_clinics(clinics)
        .filter(invoice_id__in=ids)
        .values("invoice_id", "state")
        .annotate(count=Count("pk"), amount=Sum("total"), approved=Min("approved_on"), paid=Max("paid_on"))
        .order_by()
    )
    for row in figures:
        summary = summaries[row["invoice_id"]]
        summary.counts[row["state"]] = row["count"]
        if row["state"] not in (ClaimState.VOIDED, ClaimState.DELETED):
            summary.amount += row["amount"] or 0
        if row["state"] == ClaimState.APPROVED:
            summary.first_approved_on = row["approved"]
        if row["paid"] and (summary.last_paid_on is None or row["paid"] > summary.last_paid_on):
            summary.last_paid_on = row["paid"]
    credited = set()
    for credit in CreditInvoice.objects.of_clinics(clinics).filter(invoice_id__in=ids).order_by("created_at", "id"):
        summaries[credit.invoice_id].credits.append(credit)
        credited.add(credit.invoice_id)
    if not credited:
        return  # no credit, so no claim partly credited: most pages of most tabs
    # A credit is written on the credited claim's invoice (claims.services.claim_credit): the invoice's credits
    # lead to its partly credited claims without reading its lines.
    partly = (
        CreditLine.objects.of_clinics(clinics)
        .filter(credit_invoice__invoice_id__in=sorted(credited), claim_line__claim__state=ClaimState.PAID)
        .values_list("credit_invoice__invoice_id")
        .annotate(claims=Count("claim_line__claim_id", distinct=True))
        .order_by()
    )
    for invoice_id, count in partly:
        summaries[invoice_id].partly_credited = count


def invoice_summaries(invoices: list[Invoice] | list[ExportInvoice]) -> list[InvoiceSummary]:
    """Each invoice's summary from figures counted over all its claims, and its credits; no claim (a list shows
    an invoice's claims when its row is opened: `clinic_invoice_summary`). Two or three queries whatever the
    invoices hold (none without invoices): an invoice of a file with ten thousand claims costs the database a
    grouped index read."""
    ids = [invoice.pk for invoice in invoices]
    if not ids:
        return []
    summaries = {invoice.pk: InvoiceSummary(invoice=invoice) for invoice in invoices}  # type: ignore[arg-type]
    _count_claims(summaries, ids)
    return [summaries[pk] for pk in ids]


@dataclass(frozen=True)
class ExportInvoice:
    """An invoice as the export reads it: values, not a model instance."""

    pk: int
    reference: str
    received_at: datetime.datetime
    our_reference: str
    payout_date: datetime.date | None
    clinic_id: int
    clinic: str  # "number name"


@dataclass(frozen=True)
class ExportClaim:
    invoice_id: int
    clinic_id: int
    reference: str
    personal_identity_number: str
    prior_assessment_number: str
    patient_fee_total: int
    total: int
    registered_by: str
    status: str


def invoice_export(
    invoices: QuerySet[Invoice], *, limit: int, chunk_size: int = 500
) -> Iterator[tuple[list[InvoiceSummary], Iterator[ExportClaim]]]:
    """The list's invoices (at most `limit`, in its order) for an export, `chunk_size` at a time: each chunk's
    summaries and its claims (by invoice in the list's order, then reference). Values are read as tuples, three
    queries a chunk, so memory holds one chunk whatever the export's size."""
    rows = invoices.values_list(
        "pk", "reference", "received_at", "our_reference", "payout_date", "clinic_id", "clinic__number", "clinic__name"
    )[:limit]
    chunk: list[ExportInvoice] = []
    for pk, reference, received_at, our_reference, payout_date, clinic_id, number, name in rows.iterator(
        chunk_size=chunk_size
    ):
        chunk.append(
            ExportInvoice(pk, reference, received_at, our_reference, payout_date, clinic_id, f"{number} {name}")
        )
        if len(chunk) == chunk_size:
            yield invoice_summaries(chunk), _export_claims(chunk)
            chunk = []
    if chunk:
        yield invoice_summaries(chunk), _export_claims(chunk)


def _export_claims(invoices: list[ExportInvoice]) -> Iterator[ExportClaim]:
    """The chunk's claims as the database streams them, in the list's order (newest invoice first)."""
    rows = (
        Claim.objects.of_clinics({invoice.clinic_id for invoice in invoices})
        .filter(invoice_id__in=[invoice.pk for invoice in invoices])
        .annotate(
            has_credited_lines=Exists(CreditLine.objects.filter(claim_line__claim=OuterRef("pk"))),
            has_open_question=Exists(ClaimQuestion.objects.filter(claim=OuterRef("pk"), answered_at__isnull=True)),
        )
        .values_list(
            "invoice_id",
            "clinic_id",
            "reference",
            "patient__personal_identity_number",
            "prior_assessment__number",
            "patient_fee_total",
            "total",
            "created_by__name",
            "created_by__email",
            "state",
            "approved_on",
            "paid_on",
            "has_credited_lines",
            "has_open_question",
        )
        .order_by("-invoice__received_at", "-invoice_id", "reference")
    )
    return (
        ExportClaim(
            invoice_id=invoice_id,
            clinic_id=clinic_id,
            reference=reference,
            personal_identity_number=pin,
            prior_assessment_number=number or "",
            patient_fee_total=fee,
            total=total,
            registered_by=name or email,
            status=claim_status_text(
                state=state,
                approved_on=approved_on,
                paid_on=paid_on,
                has_credited_lines=credited,
                has_open_question=question,
            ),
        )
        for (
            invoice_id,
            clinic_id,
            reference,
            pin,
            number,
            fee,
            total,
            name,
            email,
            state,
            approved_on,
            paid_on,
            credited,
            question,
        ) in rows.iterator(chunk_size=2000)
    )


def clinic_invoice_summary(
    *, clinic: Clinic, invoice_pk: int, claims_offset: int, claims_limit: int
) -> InvoiceSummary | None:
    """One of the clinic's invoices as a summary over all its claims, with the claims from `claims_offset` (by
    reference) shown; None for another clinic's. Six queries: an invoice holds at most a file's claims, so an
    offset into it is an index read of at most that many entries."""
    invoice = clinic_invoice(clinic=clinic, invoice_pk=invoice_pk)
    if invoice is None:
        return None
    (summary,) = invoice_summaries([invoice])
    summary.claims = invoice_claims(clinic=clinic, invoice=invoice, offset=claims_offset, limit=claims_limit)
    return summary


def invoice_claims(
    *, clinic: Clinic, invoice: Invoice, limit: int, offset: int = 0, after_reference: str | None = None
) -> list[Claim]:
    """A page of an invoice's claims by reference, each with its status text: `limit` of them from `offset` (the
    web's numbered pages) or after the claim `after_reference` (the API's cursor). Two queries whatever the invoice
    holds."""
    # The page's ids from the (invoice, reference) index first: asked in one query with the claims' joins,
    # PostgreSQL joined every claim of the table before it counted off the offset.
    ids = Claim.objects.of_clinic(clinic).filter(invoice=invoice).order_by("reference")
    if after_reference is not None:
        ids = ids.filter(reference__gt=after_reference)
    page = list(ids.values_list("pk", flat=True)[offset : offset + limit])
    claims = list(_claim_rows().filter(pk__in=page).order_by("reference"))
    for claim in claims:
        claim.status_text = claim_status(claim)
    return claims


# The clinic's start page: what waits ---------------------------------------------------------------------------


@dataclass
class ClinicWaiting:
    """What waits for the clinic, each with what its line on the start page says; each line leads to a list
    that shows exactly what it counts (Era fakturor's and the FHB list's filters use the same selectors)."""

    questions: int = 0
    questions_oldest: datetime.datetime | None = None
    information_requests: list = field(default_factory=list)  # FHBs awaiting the clinic's komplettering
    decisions: list = field(default_factory=list)  # FHBs decided lately
    checked_files: list = field(default_factory=list)  # invoice files checked but not sent
    # Claims under behandling whose earliest visit's billing deadline ends within DEADLINE_WARNING_DAYS: how many,
    # and the first of those last days; checked files' `last_billing_day` (their earliest visit's) is set too.
    deadline_claims: int = 0
    deadline_claims_first: datetime.date | None = None
    deadline_files: list = field(default_factory=list)  # checked files whose deadline ends soon (or has passed)
    repayments: list = field(default_factory=list)  # plusgiro repayments owed, oldest first
    next_payment: PayoutPayment | None = None
    last_payment: PayoutPayment | None = None


def clinic_waiting(*, clinic: Clinic) -> ClinicWaiting:
    """Eight queries, whatever the clinic holds."""
    questions = _unanswered_questions(clinic).aggregate(count=Count("pk"), oldest=Min("asked_at"))
    assessments = list(
        clinic_prior_assessments(clinic=clinic, show=ClinicAssessmentView.INFORMATION).order_by(
            "information_deadline", "created_at"
        )
    )
    decisions = list(clinic_prior_assessments(clinic=clinic, show=ClinicAssessmentView.DECIDED))
    files = list(
        InvoiceFileUpload.objects.of_clinic(clinic).filter(state=InvoiceFileState.CHECKED).order_by("created_at")
    )
    repayments = list(
        Repayment.objects.of_clinic(clinic)
        .filter(received_on__isnull=True)
        .select_related("credit_invoice__invoice")
        .order_by("created_at", "pk")
    )
    today = timezone.localdate()
    soon = _claims_deadline_soon(clinic, today).aggregate(count=Count("pk"), first=Min("first_visit"))
    for upload in files:
        upload.last_billing_day = (
            last_billing_day(region=clinic.region, visit_date=upload.first_visit_on) if upload.first_visit_on else None
        )
    warn_until = today + datetime.timedelta(days=DEADLINE_WARNING_DAYS)
    payments = PayoutPayment.objects.of_clinic(clinic).select_related("run")
    return ClinicWaiting(
        deadline_claims=soon["count"],
        deadline_claims_first=last_billing_day(region=clinic.region, visit_date=soon["first"])
        if soon["first"]
        else None,
        deadline_files=[f for f in files if f.last_billing_day and f.last_billing_day <= warn_until],
        questions=questions["count"],
        questions_oldest=questions["oldest"],
        information_requests=assessments,
        decisions=decisions,
        checked_files=files,
        repayments=repayments,
        next_payment=payments.filter(run__state__in=(PayoutRunState.PLANNED, PayoutRunState.AWAITING_SECOND))
        .order_by("run__payout_date")
        .first(),
        last_payment=payments.filter(run__state=PayoutRunState.PAID).order_by("-run__payout_date").first(),
    )
