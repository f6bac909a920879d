"""What a payout run for a region and date pays: one calculation, for the preview and for the run itself.

The run pays the region's claims under behandling, or approved and not in a run, on invoices that came in by the
payout date. It leaves out claims under granskning, claims approved for a later date, and S claims whose prior
assessment is not approved (`left_out_reason`, said once in SQL). The paid claims are grouped per clinic and
invoice, and each bankgiro clinic's pending credits are set off against its payment, never below zero.

A region's run may pay 100 000 claims: nothing here holds them all. The preview (payouts.selectors.payout_preview)
reads the per-clinic totals by aggregate and the fingerprint by streaming the claims' ids and amounts; the run
(payouts.services) streams the same claims in the same order, in chunks of CHUNK_SIZE, under lock, computes the
fingerprint as it writes and refuses when it is not the one the coordinator saw.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db.models import Case, CharField, Count, Q, QuerySet, Sum, Value, When
from django.db.models.functions import LPad
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import Claim, ClaimState, CreditInvoice, Invoice
from clinics.models import Clinic, PaymentMethod, Region, SupportForm
from clinics.rules import region_rules
from eligibility.models import APPROVED_STATES

from .models import PayoutRunState, SetOff, account_display

# Claims written (and streamed) per chunk: a fixed number of statements per chunk, however many claims a run has.
CHUNK_SIZE = 1000

# What the run reads of each claim (claims.services.claims_approve_for_payout, claims_mark_paid read these too):
# a deferred field read would cost a query per claim.
RUN_CLAIM_FIELDS = ("id", "state", "approved_on", "paid_on", "clinic_id", "invoice_id", "reference", "total")
# The order of a run: clinic by number, invoice by its reference, claim by its reference. The preview's
# fingerprint and the run's follow it.
RUN_ORDER = ("clinic_key", "invoice__reference", "invoice_id", "reference", "pk")


class LeftOutReason:
    UNDER_REVIEW = "under_review"
    CAME_IN_LATER = "came_in_later"
    APPROVED_FOR_LATER = "approved_for_later"
    WAITING_FOR_PRIOR_ASSESSMENT = "waiting_for_prior_assessment"


def left_out_text(reason: str, approved_on: datetime.date | None) -> str:
    if reason == LeftOutReason.UNDER_REVIEW:
        return _("Under granskning")
    if reason == LeftOutReason.CAME_IN_LATER:
        return _("Inkom efter utbetalningsdatum")
    if reason == LeftOutReason.APPROVED_FOR_LATER:
        return _("Godkänd för senare datum (%(date)s)") % {"date": approved_on.isoformat()}
    return _("Väntar på godkänd förhandsbedömning")


@dataclass
class LeftOut:
    claim: Claim
    reason: str

    @property
    def text(self) -> str:
        return left_out_text(self.reason, self.claim.approved_on)


def cutoff_of(payout_date: datetime.date) -> datetime.datetime:
    """Invoices that came in before this moment (the end of the payout date) are in the run."""
    return timezone.make_aware(datetime.datetime.combine(payout_date + datetime.timedelta(days=1), datetime.time()))


def left_out_reason(payout_date: datetime.date) -> Case:
    """Why the run for `payout_date` leaves an open claim out, as SQL; NULL when it pays it."""
    return Case(
        When(state=ClaimState.UNDER_REVIEW, then=Value(LeftOutReason.UNDER_REVIEW)),
        When(invoice__received_at__gte=cutoff_of(payout_date), then=Value(LeftOutReason.CAME_IN_LATER)),
        When(state=ClaimState.APPROVED, approved_on__gt=payout_date, then=Value(LeftOutReason.APPROVED_FOR_LATER)),
        When(
            Q(support_form=SupportForm.S)
            & (Q(prior_assessment__isnull=True) | ~Q(prior_assessment__state__in=APPROVED_STATES)),
            then=Value(LeftOutReason.WAITING_FOR_PRIOR_ASSESSMENT),
        ),
        default=Value(None),
        output_field=CharField(),
    )


def _open_claims(*, region: Region, payout_date: datetime.date) -> QuerySet[Claim]:
    # By the region's clinics' ids, not a join to the region's clinics: the planner cannot estimate `left_out` (a
    # CASE) and guesses one row, and with such a join it loops over the region's claims once per clinic (VG's next
    # run at 1 M claims: its per-clinic aggregate 5.3 s that way, 0.5 s by ids; docs/benchmarks.md).
    return (
        Claim.objects.of_clinics(Clinic.objects.of_region(region).values_list("pk", flat=True))
        .filter(
            state__in=(ClaimState.RECEIVED, ClaimState.UNDER_REVIEW, ClaimState.APPROVED),
            payout__isnull=True,
        )
        .annotate(left_out=left_out_reason(payout_date))
    )


def open_claims(*, region: Region, payout_date: datetime.date) -> QuerySet[Claim]:
    """The region's claims a run could pay, each with `left_out` (NULL for those the run pays), in the run's order."""
    return (
        _open_claims(region=region, payout_date=payout_date)
        .annotate(clinic_key=LPad("clinic__number", 20, Value("0")))
        .order_by(*RUN_ORDER)
    )


def paid_claims(*, region: Region, payout_date: datetime.date) -> QuerySet[Claim]:
    """The claims the run pays, in its order."""
    return open_claims(region=region, payout_date=payout_date).filter(left_out__isnull=True)


def left_out_claims(*, region: Region, payout_date: datetime.date) -> QuerySet[Claim]:
    """The open claims the run leaves out, each with `left_out` (its reason), by clinic and reference."""
    return (
        open_claims(region=region, payout_date=payout_date)
        .filter(left_out__isnull=False)
        .select_related("invoice", "clinic")
        .order_by("clinic_key", "reference", "pk")
    )


def left_out_count(*, region: Region, payout_date: datetime.date) -> int:
    """How many open claims the run leaves out (counted without the run's order: see _open_claims)."""
    return _open_claims(region=region, payout_date=payout_date).filter(left_out__isnull=False).count()


class Fingerprint:
    """What the coordinator saw: every clinic's account, every claim and its amount, every set-off. Equal plans,
    equal fingerprints; any claim added, gone or changed in amount, or a set-off or account changed, another.
    Fed in the run's order, a claim at a time: the claims are never held together."""

    def __init__(self, payout_date: datetime.date):
        self._digest = hashlib.sha256(payout_date.isoformat().encode())
        self._clinic_id: int | None = None

    def claim(self, clinic: Clinic, claim_id: int, total: int) -> None:
        if clinic.pk != self._clinic_id:
            self._clinic_id = clinic.pk
            self._digest.update(f"|c{clinic.pk}:{clinic.payment_method}:{clinic.account_number}".encode())
        self._digest.update(f"|{claim_id}:{total}".encode())

    def set_offs(self, payments: Iterable[tuple[int, list[tuple[CreditInvoice, int]]]]) -> None:
        for clinic_id, set_offs in payments:
            for credit, amount in set_offs:
                self._digest.update(f"|s{clinic_id}:{credit.pk}:{amount}".encode())

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


@dataclass
class PlannedInvoice:
    invoice: Invoice
    claims: list[Claim]

    @property
    def amount(self) -> int:
        return sum(claim.total for claim in self.claims)


@dataclass
class PlannedPayment:
    clinic: Clinic
    claim_count: int
    gross: int
    set_offs: list[tuple[CreditInvoice, int]] = field(default_factory=list)
    claims_of_clinic: QuerySet[Claim] | None = field(default=None, repr=False)

    @property
    def set_off(self) -> int:
        return sum(amount for _credit, amount in self.set_offs)

    @property
    def net(self) -> int:
        return self.gross - self.set_off

    @property
    def invoices(self) -> list[PlannedInvoice]:
        """The clinic's invoices and their claims, read when asked (a clinic's, never the region's)."""
        grouped: dict[int, PlannedInvoice] = {}
        for claim in self.claims_of_clinic.select_related("invoice"):
            grouped.setdefault(claim.invoice_id, PlannedInvoice(claim.invoice, [])).claims.append(claim)
        return list(grouped.values())

    @property
    def account_display(self) -> str:
        return account_display(self.clinic.payment_method, self.clinic.account_number)


@dataclass
class RunPlan:
    region: Region
    payout_date: datetime.date
    payments: list[PlannedPayment]

    @property
    def paid_claims(self) -> QuerySet[Claim]:
        return paid_claims(region=self.region, payout_date=self.payout_date)

    @property
    def left_out_claims(self) -> QuerySet[Claim]:
        return left_out_claims(region=self.region, payout_date=self.payout_date)

    @property
    def claims(self) -> list[Claim]:
        """Every claim the run pays (for a small region, a test or the demo; a page pages them)."""
        return list(self.paid_claims.only(*RUN_CLAIM_FIELDS))

    @property
    def left_out(self) -> list[LeftOut]:
        return [LeftOut(claim, claim.left_out) for claim in self.left_out_claims]

    @property
    def claim_count(self) -> int:
        return sum(payment.claim_count for payment in self.payments)

    @property
    def gross_total(self) -> int:
        return sum(payment.gross for payment in self.payments)

    @property
    def set_off_total(self) -> int:
        return sum(payment.set_off for payment in self.payments)

    @property
    def net_total(self) -> int:
        return sum(payment.net for payment in self.payments)

    @property
    def needs_second_confirmation(self) -> bool:
        return needs_second_confirmation(region=self.region, net_total=self.net_total)

    @property
    def second_confirmation_above(self) -> int:
        """The region's four-eyes amount in force today (`clinics.rules.region_rules`)."""
        return region_rules(self.region).payout_second_confirmation_above

    fingerprint: str = ""

    def fingerprint_compute(self, progress: Callable[[int], None] | None = None) -> str:
        """The run's fingerprint (Fingerprint), the claims streamed in the run's order; `progress` is told how many
        have been read after each CHUNK_SIZE."""
        clinics = {payment.clinic.pk: payment.clinic for payment in self.payments}
        fingerprint = Fingerprint(self.payout_date)
        rows = self.paid_claims.values_list("clinic_id", "pk", "total").iterator(chunk_size=CHUNK_SIZE)
        for count, (clinic_id, claim_id, total) in enumerate(rows, start=1):
            fingerprint.claim(clinics[clinic_id], claim_id, total)
            if progress is not None and count % CHUNK_SIZE == 0:
                progress(count)
        fingerprint.set_offs((payment.clinic.pk, payment.set_offs) for payment in self.payments)
        return fingerprint.hexdigest()


def needs_second_confirmation(*, region: Region, net_total: int) -> bool:
    """Four eyes: a run paying more than the region's amount in force today (`clinics.rules.region_rules`) waits
    for a second coordinator."""
    return net_total > region_rules(region).payout_second_confirmation_above


def pending_credits(*, clinic: Clinic, lock: bool = False) -> list[tuple[CreditInvoice, int]]:
    """A bankgiro clinic's credits not yet fully set off, oldest first, with what is left of each (öre).
    A cancelled run's set-offs do not count: its credits wait for the next run again."""
    return pending_credits_of(clinic_ids=[clinic.pk], lock=lock).get(clinic.pk, [])


def pending_credits_of(*, clinic_ids: Iterable[int], lock: bool = False) -> dict[int, list[tuple[CreditInvoice, int]]]:
    """pending_credits for several clinics in two statements, by clinic id."""
    credits = (
        CreditInvoice.objects.filter(clinic_id__in=list(clinic_ids), repayment__isnull=True)
        .select_related("invoice")
        .order_by("clinic_id", "created_at", "pk")
    )
    if lock:
        credits = credits.select_for_update(of=("self",))
    credits = list(credits)
    done = dict(
        SetOff.objects.filter(credit_invoice__in=[credit.pk for credit in credits])
        .exclude(payment__run__state__in=(PayoutRunState.CANCELLED, PayoutRunState.FAILED))
        .values("credit_invoice")
        .annotate(total=Sum("amount"))
        .values_list("credit_invoice", "total")
    )
    pending: dict[int, list[tuple[CreditInvoice, int]]] = {}
    for credit in credits:
        left = credit.total - done.get(credit.pk, 0)
        if left > 0:
            pending.setdefault(credit.clinic_id, []).append((credit, left))
    return pending


def set_offs_of(
    *, clinics: dict[int, Clinic], gross: dict[int, int], lock: bool = False
) -> dict[int, list[tuple[CreditInvoice, int]]]:
    """Each bankgiro clinic's pending credits deducted from its `gross`, oldest first, down to zero and no further."""
    bankgiro = [pk for pk in gross if clinics[pk].payment_method == PaymentMethod.BANKGIRO]
    if not bankgiro:
        return {}
    result = {}
    for clinic_id, pending in pending_credits_of(clinic_ids=bankgiro, lock=lock).items():
        room, set_offs = gross[clinic_id], []
        for credit, left in pending:
            if room == 0:
                break
            amount = min(room, left)
            set_offs.append((credit, amount))
            room -= amount
        if set_offs:
            result[clinic_id] = set_offs
    return result


def run_plan(
    *,
    region: Region,
    payout_date: datetime.date,
    progress: Callable[..., None] | None = None,
) -> RunPlan:
    """The run for `region` and `payout_date` as it would be made now: per clinic its claims' count and sum (one
    aggregate), its set-offs; the claims themselves are read when asked (`RunPlan.claims`, `fingerprint`).

    `progress` (a background job's, portal.background.ProgressWriter) is told the claims' count once known
    (`claim_count`) and how many of them the fingerprint has read (`progress_count`)."""
    claims = paid_claims(region=region, payout_date=payout_date)
    # Without the run's order, whose clinic join would make the planner loop (see _open_claims).
    unordered = _open_claims(region=region, payout_date=payout_date).filter(left_out__isnull=True)
    totals = {
        row["clinic_id"]: row for row in unordered.values("clinic_id").annotate(count=Count("id"), gross=Sum("total"))
    }
    clinics = Clinic.objects.of_region(region).in_bulk(list(totals))
    gross = {clinic_id: row["gross"] for clinic_id, row in totals.items()}
    set_offs = set_offs_of(clinics=clinics, gross=gross)
    payments = [
        PlannedPayment(
            clinic=clinics[clinic_id],
            claim_count=totals[clinic_id]["count"],
            gross=gross[clinic_id],
            set_offs=set_offs.get(clinic_id, []),
            claims_of_clinic=claims.filter(clinic_id=clinic_id).only(*RUN_CLAIM_FIELDS),
        )
        for clinic_id in sorted(totals, key=lambda pk: clinics[pk].number.zfill(20))
    ]
    plan = RunPlan(region=region, payout_date=payout_date, payments=payments)
    if progress is not None:
        progress(claim_count=plan.claim_count, progress_count=0)
    # Now: what the coordinator sees is what the run must find.
    plan.fingerprint = plan.fingerprint_compute(
        None if progress is None else (lambda count: progress(progress_count=count))
    )
    return plan
