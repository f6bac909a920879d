"""The daily job that marks claims Utbetald once their payout date has passed in bank days, and the bank days."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from billing.selectors import invoice_summaries
from claims.models import ClaimEvent, ClaimState
from payouts import bankdays, services, tasks
from payouts.models import PayoutRunState

from .factories import claim, invoice, payout_world

THURSDAY_BEFORE_MIDSOMMAR = datetime.date(2026, 6, 18)  # Midsommarafton is Friday 19 June 2026
DAY_BEFORE_JULAFTON = datetime.date(2026, 12, 23)  # Wednesday; then Julafton, juldagen, annandag, a Sunday
FRIDAY = datetime.date(2026, 11, 6)


def _run_on(pw, payout_date: datetime.date):
    """A run made a week before `payout_date` for one claim that came in before it."""
    paid = claim(invoice(pw.bankgiro, received_on=payout_date - datetime.timedelta(days=10)), 12_345)
    run = services.payout_run_create(
        actor=pw.coordinator,
        region=pw.region,
        payout_date=payout_date,
        today=payout_date - datetime.timedelta(days=7),
    ).run
    services.payout_run_file_download(actor=pw.coordinator, run=run)  # sent to the bank
    return run, paid


def _days(start: datetime.date, end: datetime.date):
    day = start
    while day <= end:
        yield day
        day += datetime.timedelta(days=1)


@pytest.mark.parametrize(
    "payout_date,first_paid_day",
    [
        (FRIDAY, datetime.date(2026, 11, 9)),  # over the weekend: Monday
        (THURSDAY_BEFORE_MIDSOMMAR, datetime.date(2026, 6, 22)),  # Midsommarafton, the weekend: Monday
        (DAY_BEFORE_JULAFTON, datetime.date(2026, 12, 28)),  # Julafton, juldagen, annandagen, Sunday: Monday
    ],
)
def test_claims_become_paid_on_the_first_bank_day_after_the_payout_date(db, payout_date, first_paid_day):
    pw = payout_world()
    run, paid = _run_on(pw, payout_date)
    for today in _days(payout_date, first_paid_day - datetime.timedelta(days=1)):
        assert services.payout_runs_mark_paid(today=today) == 0, today
        paid.refresh_from_db()
        assert paid.state == ClaimState.APPROVED, today

    assert services.payout_runs_mark_paid(today=first_paid_day) == 1
    paid.refresh_from_db()
    run.refresh_from_db()
    assert (paid.state, paid.paid_on) == (ClaimState.PAID, payout_date)
    assert run.state == PayoutRunState.PAID
    # Twice the same day, or again later: nothing more happens.
    assert services.payout_runs_mark_paid(today=first_paid_day) == 0
    assert services.payout_runs_mark_paid(today=first_paid_day + datetime.timedelta(days=5)) == 0
    assert ClaimEvent.objects.filter(claim=paid, to_state=ClaimState.PAID).count() == 1


def test_a_late_job_catches_up_on_every_run_that_has_passed(db):
    pw = payout_world()
    _, first = _run_on(pw, FRIDAY)
    _, second = _run_on(pw, datetime.date(2026, 11, 10))
    _, future = _run_on(pw, datetime.date(2026, 11, 20))
    assert services.payout_runs_mark_paid(today=datetime.date(2026, 11, 16)) == 2
    for paid, state in ((first, ClaimState.PAID), (second, ClaimState.PAID), (future, ClaimState.APPROVED)):
        paid.refresh_from_db()
        assert paid.state == state


def test_a_claim_in_a_payout_run_can_no_longer_be_voided(db):
    """It is in the bank's payment file: voiding it would pay out what the portal calls void."""
    from claims.services import claim_void

    pw = payout_world()
    _, approved = _run_on(pw, FRIDAY)
    with pytest.raises(ValidationError, match="ingår i utbetalningen 2026-11-06 och kan inte makuleras"):
        claim_void(actor=pw.coordinator, claim=approved, reason="Dubbelregistrerad")
    approved.refresh_from_db()
    assert approved.state == ClaimState.APPROVED
    assert services.payout_runs_mark_paid(today=datetime.date(2026, 11, 9)) == 1
    approved.refresh_from_db()
    assert approved.state == ClaimState.PAID


def test_era_fakturor_reads_godkaend_then_utbetalningsdatum(db):
    pw = payout_world()
    run, paid = _run_on(pw, FRIDAY)

    def status():
        (summary,) = invoice_summaries([type(paid.invoice).objects.get(pk=paid.invoice_id)])
        return summary.status, summary.invoice.our_reference

    our_reference = run.payments.get().invoices.get().our_reference
    assert status() == ("Godkänd för utbetalning 2026-11-06", our_reference)
    services.payout_runs_mark_paid(today=datetime.date(2026, 11, 9))
    assert status() == ("Utbetalningsdatum 2026-11-06", our_reference)


def test_the_beat_task_runs_the_job(db, settings):
    assert "payouts.tasks.mark_payouts_paid" in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    pw = payout_world()
    _, paid = _run_on(pw, FRIDAY)
    tasks.mark_payouts_paid.delay()  # today is long after 2026-11-09
    paid.refresh_from_db()
    assert paid.state == ClaimState.PAID


@pytest.mark.parametrize(
    "day,is_bank_day",
    [
        (datetime.date(2026, 6, 19), False),  # Midsommarafton
        (datetime.date(2026, 12, 24), False),  # Julafton
        (datetime.date(2026, 12, 31), False),  # Nyårsafton
        (datetime.date(2026, 4, 3), False),  # Långfredagen
        (datetime.date(2026, 5, 14), False),  # Kristi himmelsfärdsdag
        (datetime.date(2026, 11, 7), False),  # Saturday
        (datetime.date(2026, 4, 30), True),  # Valborgsmässoafton: the banks are open
        (datetime.date(2026, 6, 18), True),
        (datetime.date(2026, 12, 23), True),
    ],
)
def test_bank_days(day, is_bank_day):
    assert bankdays.is_bank_day(day) is is_bank_day
