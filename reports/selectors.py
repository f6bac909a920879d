"""Reads for the coordinator's start page: what waits for the region, and what its clinics billed, month by month.

Everything is counted and summed by PostgreSQL (a region may hold millions of claims); Python only folds the
aggregated rows (months × support forms, clinics × support forms) into tables.

A claim counts in the month it came in: its invoice's *Inkom* time (`Invoice.received_at`) in Swedish time.
Its amount is the claim's *Totalsumma* (`Claim.total`: the lines less the patient fee, in öre). Deleted and
voided claims never count; credited claims do (they were received and paid; the credit is its own invoice).
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Count, Min, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from claims.models import OPEN_STATES, Claim, ClaimState, Invoice
from clinics.models import Region, SupportForm
from eligibility.models import PriorAssessment, PriorAssessmentState
from payouts.selectors import region_repayments
from portal.db import PreparedQuery
from review.selectors import question_answered

from .models import ClaimMonthFigure

MONTHS = 12
FORMS: tuple[str, ...] = tuple(SupportForm.values)  # N, F, S
EXCLUDED_STATES = (ClaimState.DELETED, ClaimState.VOIDED)
# What the FHB queue lists by default ("Att bedöma"): the coordinator's decision is what the request waits for.
ASSESSMENT_WAITING_STATES = (
    PriorAssessmentState.SUBMITTED,
    PriorAssessmentState.IN_REVIEW,
    PriorAssessmentState.INFORMATION_RECEIVED,
)


def _zone() -> zoneinfo.ZoneInfo:
    # The months are Swedish calendar months whatever time zone a request may have activated.
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _add_months(month: datetime.date, count: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 + count
    return datetime.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """Whole calendar months, oldest first; the last one is the current month (so far)."""

    months: tuple[datetime.date, ...]  # the first day of each month

    @property
    def first_day(self) -> datetime.date:
        return self.months[0]

    @property
    def last_day(self) -> datetime.date:
        return _add_months(self.months[-1], 1) - datetime.timedelta(days=1)

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """From midnight of the first day to midnight after the last, Swedish time."""
        zone = _zone()
        start = datetime.datetime.combine(self.first_day, datetime.time.min, tzinfo=zone)
        end = datetime.datetime.combine(_add_months(self.months[-1], 1), datetime.time.min, tzinfo=zone)
        return start, end


def report_period(*, today: datetime.date | None = None, months: int = MONTHS) -> Period:
    """The current month and the `months - 1` before it."""
    today = today or timezone.localdate(timezone=_zone())
    current = today.replace(day=1)
    return Period(months=tuple(_add_months(current, offset) for offset in range(1 - months, 1)))


@dataclass
class Amounts:
    """Öre per support form and the number of claims behind them."""

    by_form: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FORMS, 0))
    claims: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_form.values())

    @property
    def in_form_order(self) -> list[int]:
        return [self.by_form[form] for form in FORMS]

    def add(self, form: str, amount: int, claims: int) -> None:
        self.by_form[form] += amount
        self.claims += claims

    @classmethod
    def sum_of(cls, rows) -> Amounts:
        result = cls()
        for row in rows:
            for form in FORMS:
                result.by_form[form] += row.amounts.by_form[form]
            result.claims += row.amounts.claims
        return result


@dataclass
class MonthRow:
    month: datetime.date
    amounts: Amounts = field(default_factory=Amounts)


@dataclass
class ClinicRow:
    clinic_id: int
    number: str
    name: str
    amounts: Amounts = field(default_factory=Amounts)


def _figures(*, region: Region, period: Period) -> QuerySet[ClaimMonthFigure]:
    # The summaries the triggers keep (reports.models): a few rows per clinic and month, never the claims.
    return (
        ClaimMonthFigure.objects.of_region(region)
        .filter(month__gte=period.first_day, month__lte=period.months[-1])
        .exclude(state__in=EXCLUDED_STATES)
    )


@dataclass(frozen=True)
class Figures:
    """The period's amounts by month (every month) and by clinic (largest first), from one read of the summaries."""

    months: list[MonthRow]
    clinics: list[ClinicRow]


def amounts(*, region: Region, period: Period) -> Figures:
    """Both sums of the start page from one pass over the region's summary rows of the period (7 000 at 1 M claims):
    PostgreSQL groups them by month and by clinic at once (GROUPING SETS, which the ORM does not write), and the
    clinics' numbers and names are joined to the 600 sums, not to every row. The rows read are the scoped
    queryset's (`_figures`, of_region), wrapped."""
    rows = _figures(region=region, period=period).values("month", "clinic_id", "support_form", "amount", "claims")
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT g.by_clinic, g.month, g.clinic_id, k.number, k.name, g.support_form, g.amount, g.counted
            FROM (
                SELECT GROUPING(f.month) = 1 AS by_clinic, f.month, f.clinic_id, f.support_form,
                       SUM(f.amount) AS amount, SUM(f.claims) AS counted
                FROM ({sql}) f
                GROUP BY GROUPING SETS ((f.month, f.support_form), (f.clinic_id, f.support_form))
            ) g
            LEFT JOIN clinics_clinic k ON k.id = g.clinic_id AND g.by_clinic
            """,  # noqa: S608 - the ORM's own SQL, its values as parameters
            params,
        )
        aggregated = cursor.fetchall()
    months = {month: MonthRow(month=month) for month in period.months}
    clinics: dict[int, ClinicRow] = {}
    for by_clinic, month, clinic_id, number, name, form, amount, counted in aggregated:
        if not by_clinic:
            months[month].amounts.add(form, int(amount), counted)
        elif counted > 0:  # a clinic whose claims of a support form all went (deleted, moved) shows none
            row = clinics.get(clinic_id)
            if row is None:
                row = clinics[clinic_id] = ClinicRow(clinic_id=clinic_id, number=number, name=name)
            row.amounts.add(form, int(amount), counted)
    return Figures(
        months=list(months.values()),
        clinics=sorted(clinics.values(), key=lambda row: (-row.amounts.total, len(row.number), row.number)),
    )


def amounts_by_month(*, region: Region, period: Period) -> list[MonthRow]:
    """Every month of the period (a month without claims is a row of zeros), by support form."""
    return amounts(region=region, period=period).months


def amounts_by_clinic(*, region: Region, period: Period) -> list[ClinicRow]:
    """The clinics with counted claims in the period, largest amount first, by support form."""
    return amounts(region=region, period=period).clinics


@dataclass(frozen=True)
class LargestClinics:
    """The largest clinics one by one and the others as one sum: the clinic chart's bars, the start page's table."""

    largest: list[ClinicRow]
    others: int  # how many clinics the sum holds
    others_amounts: Amounts


def largest_clinics(rows: list[ClinicRow], *, top: int) -> LargestClinics:
    """The first `top` of `rows` (largest first, as amounts_by_clinic gives them) and the sum of the rest."""
    return LargestClinics(largest=rows[:top], others=len(rows[top:]), others_amounts=Amounts.sum_of(rows[top:]))


@dataclass(frozen=True)
class Waiting:
    """How much waits for the coordinators, and since when."""

    count: int
    amount: int | None = None  # öre; None where there is no amount (prior assessments)
    oldest: datetime.datetime | None = None


@dataclass(frozen=True)
class Workload:
    received: Waiting  # claims under behandling (received, not yet looked at)
    under_review: Waiting  # claims under granskning
    assessments: Waiting  # FHB requests waiting for a decision
    answered_questions: Waiting = Waiting(0, None, None)  # claims whose questions the clinic has answered
    overdue_repayments: Waiting = Waiting(0, None, None)  # plusgiro repayments owed past their due days


# The start page's workload queries keep their shape from page to page (the region, and for the first open claims
# the day's bounds, change): each is compiled by the ORM once per process and run as plain SQL after that
# (portal.db.PreparedQuery: 0.3–1 ms of Python each, a union of two parts the most).

_OPEN_FIGURES = PreparedQuery(
    lambda region_id: (
        ClaimMonthFigure.objects.of_region(region_id)
        .filter(state__in=OPEN_STATES)
        .values("state")
        .annotate(count=Sum("claims"), amount=Sum("amount"))
        .values_list("state", "count", "amount")
        .order_by()
    ),
    region_id=int,
)
_ANSWERED = PreparedQuery(
    lambda region_id: Claim.objects.of_region(region_id).filter(question_answered()).values_list("pk").order_by(),
    region_id=int,
)


@cache
def _firsts(states: tuple[str, ...]) -> PreparedQuery:
    def build(region_id):
        claims = Claim.objects.of_region(region_id)
        firsts = [
            claims.filter(state=state).order_by("created_at", "id").values_list("state", "created_at")[:1]
            for state in states
        ]
        return firsts[0].union(*firsts[1:], all=True)

    return PreparedQuery(build, region_id=int)


def _first_open(region: Region, states: list[str]) -> dict[str, datetime.datetime]:
    """When the first claim still received, and the first still under review, was stored (from the claims' index by
    state, claim_state_created): one short query, for the `states` the region has claims in. A state the region has
    none in is not asked: the index holds every region's claims in it, and the search for the region's first read
    them all (a run that paid all of one region's received claims left the other's 40 000 to read, 17 ms)."""
    if not states:
        return {}
    return dict(_firsts(tuple(states)).rows(region_id=region.pk))


@cache
def _oldest_of_days(states: tuple[str, ...]) -> PreparedQuery:
    # Both ends of each state's day, each a parameter of its own.
    bounds = {f"{end}{index}": datetime.datetime for index in range(len(states)) for end in ("from", "to")}

    def build(region_id, **bound):
        claims = Claim.objects.of_region(region_id)
        parts = [
            # The invoices of the claims stored from the first one on (none is before it) within a day: with both
            # ends the planner expects a day's claims, not a hundred thousand, and looks up each invoice by key
            # once (136 invoices of 753 claims at 1 M claims, 790 buffers instead of 3 258 by a join per claim).
            Invoice.objects.of_region(region_id)
            .filter(
                pk__in=claims.filter(
                    state=state, created_at__gte=bound[f"from{index}"], created_at__lt=bound[f"to{index}"]
                ).values("invoice_id")
            )
            .annotate(state=Value(state, output_field=CharField()))  # a constant: not grouped by
            .values("state")
            .annotate(oldest=Min("received_at"))
            .values_list("state", "oldest")
            .order_by()
            for index, state in enumerate(states)
        ]
        return parts[0].union(*parts[1:], all=True)

    return PreparedQuery(build, region_id=int, **bounds)


def _oldest_open(region: Region, found: dict[str, datetime.datetime]) -> dict[str, datetime.datetime | None]:
    """When the oldest invoice with a received (an under-review) claim came in, from the claims' index by state
    (claims.models, claim_state_created) rather than a scan of every open claim: a claim joins only an invoice
    received the same day (claims.services.invoice_for_claims), so that invoice is one of the claims stored within
    a day of the first one still in that state. Two queries: the first claim of each state, then those of its
    day, with the bounds as values so that the planner reads a short range of the index."""
    oldest: dict[str, datetime.datetime | None] = dict.fromkeys(OPEN_STATES)
    if found:
        bounds = {}
        for index, first in enumerate(found.values()):
            bounds[f"from{index}"], bounds[f"to{index}"] = first, first + datetime.timedelta(days=1)
        oldest.update(_oldest_of_days(tuple(found)).rows(region_id=region.pk, **bounds))
    return oldest


def region_workload(*, region: Region) -> Workload:
    """A few short queries, whatever the number of claims, requests and repayments: the open claims' count and
    amount from the summaries (reports.models), of every month."""
    open_figures = {
        state: {"count": count, "amount": int(amount)}
        for state, count, amount in _OPEN_FIGURES.rows(region_id=region.pk)
    }

    # The summaries are written by the claims' own statements (reports.models): a state counted 0 has no claims.
    first_open = _first_open(region, [state for state in OPEN_STATES if (open_figures.get(state) or {}).get("count")])
    oldest = _oldest_open(region, first_open)

    def waiting(state: str) -> Waiting:
        row = open_figures.get(state) or {"count": 0, "amount": 0}
        return Waiting(row["count"], row["amount"], oldest[state])

    assessments = (
        PriorAssessment.objects.of_region(region)
        .filter(state__in=ASSESSMENT_WAITING_STATES)
        .aggregate(count=Count("pk"), oldest=Min("created_at"))
    )
    # Only an open claim's questions count: none open, none.
    answered = {"count": _ANSWERED.count(region_id=region.pk) if first_open else 0}
    overdue = region_repayments(region=region, overdue=True).aggregate(
        count=Count("pk"), amount=Coalesce(Sum("amount"), 0), oldest=Min("created_at")
    )
    return Workload(
        answered_questions=Waiting(answered["count"], None, None),
        overdue_repayments=Waiting(overdue["count"], overdue["amount"], overdue["oldest"]),
        received=waiting(ClaimState.RECEIVED),
        under_review=waiting(ClaimState.UNDER_REVIEW),
        assessments=Waiting(assessments["count"], None, assessments["oldest"]),
    )
