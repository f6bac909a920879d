"""Payout runs: what they collect, their totals to the öre, set-off, Vår referens, one run per region and date."""

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from claims.models import Claim, ClaimEvent, ClaimState
from payouts import selectors, services
from payouts.models import PayoutClaim, PayoutInvoice, PayoutRun, Repayment, SetOff
from portal.models import AuditEvent

from .factories import claim, credit, future_bank_day, invoice, payout_world


@pytest.fixture
def pw(db):
    return payout_world()


def test_a_run_collects_received_and_approved_claims_and_totals_them_to_the_ore(pw):
    day = future_bank_day()
    first = invoice(pw.bankgiro)
    a = claim(first, 123_456)
    b = claim(first, 78_901, state=ClaimState.APPROVED)
    second = invoice(pw.bankgiro)
    c = claim(second, 1)
    waiting = claim(second, 50_000, state=ClaimState.UNDER_REVIEW)
    voided = claim(invoice(pw.bankgiro), 70_000, state=ClaimState.DELETED)
    plus = claim(invoice(pw.plusgiro), 99_999)
    late = claim(invoice(pw.plusgiro, received_on=day + datetime.timedelta(days=1)), 40_000)

    result = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day)

    run = result.run
    assert result.created
    assert run.claim_count == 4
    assert run.gross_total == 123_456 + 78_901 + 1 + 99_999 == 302_357
    assert (run.set_off_total, run.net_total) == (0, 302_357)
    payments = {payment.clinic_id: payment for payment in run.payments.all()}
    assert payments[pw.bankgiro.pk].net == 202_358
    assert payments[pw.plusgiro.pk].net == 99_999
    amounts = dict(PayoutInvoice.objects.filter(payment__run=run).values_list("invoice_id", "amount"))
    assert amounts == {first.pk: 202_357, second.pk: 1, plus.invoice_id: 99_999}
    # Each invoice's claims counted as the run made it (the run's page and the notices read the count, not the claims).
    counts = dict(PayoutInvoice.objects.filter(payment__run=run).values_list("invoice_id", "claim_count"))
    assert counts == {first.pk: 2, second.pk: 1, plus.invoice_id: 1}
    for paid in (a, b, c, plus):
        paid.refresh_from_db()
        assert (paid.state, paid.approved_on) == (ClaimState.APPROVED, day)
    for left in (waiting, voided, late):
        left.refresh_from_db()
        assert not PayoutClaim.objects.filter(claim=left).exists()
    assert waiting.state == ClaimState.UNDER_REVIEW
    assert ClaimEvent.objects.filter(claim=a, to_state=ClaimState.APPROVED).exists()
    assert AuditEvent.objects.filter(action="payouts.run.created", object_id=str(run.pk)).exists()


def test_the_invoice_shows_its_vaar_referens_and_payout_date_in_era_fakturor(pw):
    day = future_bank_day()
    paid = invoice(pw.bankgiro)
    claim(paid, 10_000)
    run = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day).run
    paid.refresh_from_db()
    payout_invoice = PayoutInvoice.objects.get(payment__run=run, invoice=paid)
    assert (paid.our_reference, paid.payout_date) == (payout_invoice.our_reference, day)


def test_vaar_referens_is_unique_and_sequential_per_region(db):
    one, other = payout_world(), payout_world()
    day = future_bank_day()
    for number in range(3):
        claim(invoice(one.bankgiro, reference=f"A{number}"), 1000)
    claim(invoice(other.bankgiro), 1000)
    services.payout_run_create(actor=one.coordinator, region=one.region, payout_date=day)
    services.payout_run_create(actor=other.coordinator, region=other.region, payout_date=day)
    claim(invoice(one.plusgiro), 1000)
    services.payout_run_create(actor=one.coordinator, region=one.region, payout_date=future_bank_day(days_ahead=30))

    def references(region):
        return list(
            PayoutInvoice.objects.filter(region=region)
            .order_by("payment__run__payout_date", "payment__clinic__number", "invoice__reference")
            .values_list("our_reference", flat=True)
        )

    assert references(one.region) == ["100001", "100002", "100003", "100004"]
    assert references(other.region) == ["100001"]


def test_running_twice_gives_one_run(pw):
    day = future_bank_day()
    claim(invoice(pw.bankgiro), 5000)
    first = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day)
    claim(invoice(pw.bankgiro), 7000)
    second = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day)
    assert first.created and not second.created
    assert second.run.pk == first.run.pk
    assert PayoutRun.objects.filter(region=pw.region, payout_date=day).count() == 1
    assert second.run.gross_total == 5000


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_give_one_run():
    pw = payout_world()
    day = future_bank_day()
    for number in range(5):
        claim(invoice(pw.bankgiro, reference=f"C{number}"), 1000 + number)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(result.created for result in results) == [False, True]
    assert results[0].run.pk == results[1].run.pk
    assert PayoutRun.objects.filter(region=pw.region, payout_date=day).count() == 1
    assert PayoutClaim.objects.filter(payout_invoice__region=pw.region).count() == 5
    assert sorted(PayoutInvoice.objects.filter(region=pw.region).values_list("our_reference", flat=True)) == [
        str(100_001 + n) for n in range(5)
    ]


@pytest.mark.parametrize(
    "day,message",
    [
        (datetime.date(2030, 6, 21), "2030-06-21 är ingen bankdag (Midsommarafton). Närmaste bankdag är 2030-06-24."),
        (datetime.date(2030, 12, 24), "2030-12-24 är ingen bankdag (Julafton). Närmaste bankdag är 2030-12-27."),
        (datetime.date(2030, 6, 22), "2030-06-22 är ingen bankdag (Midsommardagen). Närmaste bankdag är 2030-06-24."),
        (datetime.date(2030, 3, 3), "2030-03-03 är ingen bankdag (söndag). Närmaste bankdag är 2030-03-04."),
        (datetime.date(2020, 3, 3), "Utbetalningsdatum kan inte ligga före i dag"),
    ],
)
def test_a_payout_date_must_be_a_bank_day_today_or_later(pw, day, message):
    claim(invoice(pw.bankgiro), 1000)
    with pytest.raises(ValidationError) as raised:
        services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day)
    assert message in raised.value.message_dict["payout_date"][0]
    assert not PayoutRun.objects.filter(region=pw.region).exists()


def test_a_run_with_nothing_to_pay_is_refused(pw):
    claim(invoice(pw.bankgiro), 1000, state=ClaimState.UNDER_REVIEW)
    with pytest.raises(ValidationError, match="Det finns inga räkningar att betala ut"):
        services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day())


# Set-off ----------------------------------------------------------------------------------------------------


def test_credits_are_set_off_oldest_first_never_below_zero_and_the_rest_waits(pw):
    old = invoice(pw.bankgiro)
    older_credit = credit(old, 30_000, "K1")
    newer_credit = credit(old, 50_000, "K2")
    claim(invoice(pw.bankgiro), 60_000)

    first = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day()).run
    payment = first.payments.get()
    assert (payment.gross, payment.set_off, payment.net) == (60_000, 60_000, 0)
    assert dict(SetOff.objects.filter(payment=payment).values_list("credit_invoice__reference", "amount")) == {
        "K1": 30_000,
        "K2": 30_000,
    }
    assert (first.set_off_total, first.net_total) == (60_000, 0)
    assert services.pending_credits(clinic=pw.bankgiro) == [(newer_credit, 20_000)]

    claim(invoice(pw.bankgiro), 100_000)
    second = services.payout_run_create(
        actor=pw.coordinator, region=pw.region, payout_date=future_bank_day(days_ahead=30)
    ).run
    payment = second.payments.get()
    assert (payment.gross, payment.set_off, payment.net) == (100_000, 20_000, 80_000)
    assert list(SetOff.objects.filter(payment=payment).values_list("credit_invoice", "amount")) == [
        (newer_credit.pk, 20_000)
    ]
    assert services.pending_credits(clinic=pw.bankgiro) == []
    assert older_credit.set_offs.get().amount == 30_000


def test_a_credit_larger_than_several_payouts_is_set_off_over_them(pw):
    credit(invoice(pw.bankgiro), 250_000, "K-STOR")
    nets = []
    for days_ahead, amount in ((14, 100_000), (30, 100_000), (45, 100_000)):
        claim(invoice(pw.bankgiro), amount)
        run = services.payout_run_create(
            actor=pw.coordinator, region=pw.region, payout_date=future_bank_day(days_ahead=days_ahead)
        ).run
        nets.append(run.payments.get().net)
    assert nets == [0, 0, 50_000]
    assert services.pending_credits(clinic=pw.bankgiro) == []


def test_a_plusgiro_clinics_credit_is_owed_back_not_set_off(pw):
    paid = invoice(pw.plusgiro)
    paid.our_reference = "100777"
    paid.save()
    owed = credit(paid, 40_000, "PK1")
    claim(invoice(pw.plusgiro), 60_000)
    run = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day()).run
    payment = run.payments.get()
    assert (payment.set_off, payment.net) == (0, 60_000)
    repayment = Repayment.objects.get(credit_invoice=owed)
    assert (repayment.amount, repayment.our_reference, repayment.region, repayment.clinic) == (
        40_000,
        "100777",
        pw.region,
        pw.plusgiro,
    )
    assert repayment.received_on is None


def test_next_payout_run_is_the_earliest_planned_one_from_today(pw):
    assert selectors.next_payout_run(region=pw.region) is None
    claim(invoice(pw.bankgiro), 1000)
    later = services.payout_run_create(
        actor=pw.coordinator, region=pw.region, payout_date=future_bank_day(days_ahead=30)
    ).run
    assert selectors.next_payout_run(region=pw.region) == later
    claim(invoice(pw.bankgiro), 1000)
    sooner = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day()).run
    assert selectors.next_payout_run(region=pw.region) == sooner
    assert selectors.next_payout_run(region=pw.region, today=later.payout_date + datetime.timedelta(days=1)) is None


def test_claim_states_match_the_claims_lifecycle(pw):
    """Approval by the run is an allowed move of the claims' transition table."""
    received = claim(invoice(pw.bankgiro), 1000)
    services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day())
    received.refresh_from_db()
    assert Claim.objects.get(pk=received.pk).can_move_to(ClaimState.PAID)


def test_a_run_and_its_paid_job_take_as_many_queries_for_many_claims_as_for_few(db):
    """A region's run may pay 100 000 claims: they are approved and paid in bulk, not claim by claim."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(count: int) -> tuple[int, int]:
        pw = payout_world()
        on_invoice = invoice(pw.bankgiro)
        claims = [claim(on_invoice, 10_000) for _ in range(count - 1)]
        claims.append(claim(on_invoice, 10_000, state=ClaimState.APPROVED))  # approved without a date
        day = future_bank_day()
        with CaptureQueriesContext(connection) as made:
            run = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day).run
        with CaptureQueriesContext(connection) as paid:
            assert services.payout_run_mark_paid(run=run) == count
        for each in claims:
            each.refresh_from_db()
            assert (each.state, each.approved_on, each.paid_on) == (ClaimState.PAID, day, day)
            assert list(each.events.values_list("to_state", flat=True)).count(ClaimState.PAID) == 1
        return len(made), len(paid)

    assert queries_for(40) == queries_for(4)
