"""Payout runs with a preview: the preview is the run's own calculation, confirming makes what was previewed (or
says it changed), four eyes above the region's amount, Makulera körning until the file is downloaded, and a
claim's approval date is always its run's date."""

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from claims.models import Claim, ClaimEvent, ClaimEventKind, ClaimState, Invoice
from clinics.models import SupportForm
from eligibility.models import PriorAssessmentState
from payouts import selectors, services
from payouts.models import PayoutClaim, PayoutInvoice, PayoutRun, PayoutRunState
from payouts.plan import LeftOutReason
from portal.models import AuditEvent
from tests.clinics.factories import UserFactory
from tests.eligibility.factories import PriorAssessmentFactory

from .factories import claim, credit, future_bank_day, invoice, payout_world


@pytest.fixture
def pw(db):
    return payout_world()


def _s_claim(on_invoice: Invoice, total: int, assessment_state: str) -> Claim:
    extra = {"valid_until": datetime.date(2099, 1, 1)} if assessment_state == PriorAssessmentState.APPROVED else {}
    assessment = PriorAssessmentFactory(clinic=on_invoice.clinic, state=assessment_state, **extra)
    made = claim(on_invoice, total)
    Claim.objects.filter(pk=made.pk).update(support_form=SupportForm.S, prior_assessment=assessment)
    made.refresh_from_db()
    return made


def _approved_for(on_invoice: Invoice, total: int, approved_on: datetime.date | None) -> Claim:
    made = claim(on_invoice, total, state=ClaimState.APPROVED)
    Claim.objects.filter(pk=made.pk).update(approved_on=approved_on)
    made.refresh_from_db()
    return made


def _create(pw, day, **kwargs):
    return services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day, **kwargs)


def test_the_preview_shows_what_the_run_then_pays_clinic_by_clinic_to_the_ore(pw):
    day = future_bank_day()
    paid = invoice(pw.bankgiro, reference="4711")
    claim(paid, 100_000)
    claim(paid, 25_050)
    claim(invoice(pw.bankgiro, reference="4712"), 1)
    credit(invoice(pw.bankgiro, reference="4000"), 30_000, "4000_Kredit")
    claim(invoice(pw.plusgiro, reference="900"), 77_777)

    preview = selectors.payout_preview(region=pw.region, payout_date=day)
    assert not PayoutRun.objects.filter(region=pw.region).exists()  # a preview makes nothing
    # A clinic's claims are read when asked: before the run takes them.
    previewed = [
        (
            payment.clinic.pk,
            payment.account_display,
            payment.gross,
            payment.set_off,
            payment.net,
            sorted((credit.reference, amount) for credit, amount in payment.set_offs),
            sorted(claim.pk for planned in payment.invoices for claim in planned.claims),
        )
        for payment in preview.payments
    ]
    run = _create(pw, day, fingerprint=preview.fingerprint).run

    assert (
        (preview.claim_count, preview.gross_total, preview.set_off_total, preview.net_total)
        == (
            run.claim_count,
            run.gross_total,
            run.set_off_total,
            run.net_total,
        )
        == (4, 202_828, 30_000, 172_828)
    )
    made = [
        (
            payment.clinic_id,
            payment.account_display,
            payment.gross,
            payment.set_off,
            payment.net,
            sorted(payment.set_offs.values_list("credit_invoice__reference", "amount")),
            sorted(claim_id for pi in payment.invoices.all() for claim_id in pi.claims.values_list("claim", flat=True)),
        )
        for payment in run.payments.order_by("clinic__number")
    ]
    assert sorted(previewed) == sorted(made)
    assert ("4000_Kredit", 30_000) in previewed[[p[0] for p in previewed].index(pw.bankgiro.pk)][5]


def test_the_preview_names_the_claims_left_out_and_why(pw):
    day = future_bank_day()
    on_time = invoice(pw.bankgiro)
    paid = claim(on_time, 10_000)
    in_review = claim(on_time, 20_000, state=ClaimState.UNDER_REVIEW)
    later = _approved_for(on_time, 30_000, day + datetime.timedelta(days=7))
    waiting = _s_claim(on_time, 40_000, PriorAssessmentState.IN_REVIEW)
    s_approved = _s_claim(on_time, 50_000, PriorAssessmentState.APPROVED)
    came_later = claim(invoice(pw.plusgiro, received_on=day + datetime.timedelta(days=1)), 60_000)
    claim(on_time, 70_000, state=ClaimState.DELETED)  # neither paid nor left out: gone

    preview = selectors.payout_preview(region=pw.region, payout_date=day)

    assert {c.pk for c in preview.claims} == {paid.pk, s_approved.pk}
    reasons = {item.claim.pk: item.reason for item in preview.left_out}
    assert reasons == {
        in_review.pk: LeftOutReason.UNDER_REVIEW,
        later.pk: LeftOutReason.APPROVED_FOR_LATER,
        waiting.pk: LeftOutReason.WAITING_FOR_PRIOR_ASSESSMENT,
        came_later.pk: LeftOutReason.CAME_IN_LATER,
    }
    texts = {item.claim.pk: item.text for item in preview.left_out}
    assert texts[later.pk] == f"Godkänd för senare datum ({(day + datetime.timedelta(days=7)).isoformat()})"
    assert texts[in_review.pk] == "Under granskning"
    assert texts[waiting.pk] == "Väntar på godkänd förhandsbedömning"
    assert texts[came_later.pk] == "Inkom efter utbetalningsdatum"

    run = _create(pw, day, fingerprint=preview.fingerprint).run
    assert set(PayoutClaim.objects.filter(payout_invoice__payment__run=run).values_list("claim", flat=True)) == {
        paid.pk,
        s_approved.pk,
    }
    later.refresh_from_db()
    assert (later.state, later.approved_on) == (ClaimState.APPROVED, day + datetime.timedelta(days=7))


@pytest.mark.parametrize("change", ["new claim", "amount", "claim gone", "new credit"])
def test_confirming_a_preview_that_no_longer_holds_makes_nothing_and_says_so(pw, change):
    day = future_bank_day()
    first = claim(invoice(pw.bankgiro), 10_000)
    preview = selectors.payout_preview(region=pw.region, payout_date=day)
    if change == "new claim":
        claim(invoice(pw.plusgiro), 5_000)
    elif change == "amount":
        Claim.objects.filter(pk=first.pk).update(total=10_001)
    elif change == "claim gone":
        claim(invoice(pw.bankgiro), 1)  # so that the run is not simply empty
        Claim.objects.filter(pk=first.pk).update(state=ClaimState.UNDER_REVIEW)
    else:
        credit(invoice(pw.bankgiro), 1_000, "K1")

    with pytest.raises(ValidationError) as refused:
        _create(pw, day, fingerprint=preview.fingerprint)
    assert refused.value.code == services.FINGERPRINT_CHANGED
    assert refused.value.messages[0].startswith("Underlaget har ändrats sedan förhandsgranskningen")
    assert not PayoutRun.objects.filter(region=pw.region).exists()
    assert Claim.objects.get(pk=first.pk).approved_on is None

    again = selectors.payout_preview(region=pw.region, payout_date=day)
    assert again.fingerprint != preview.fingerprint
    assert _create(pw, day, fingerprint=again.fingerprint).created


def test_the_fingerprint_is_the_same_for_the_same_set(pw):
    day = future_bank_day()
    claim(invoice(pw.bankgiro), 10_000)
    first = selectors.payout_preview(region=pw.region, payout_date=day).fingerprint
    assert selectors.payout_preview(region=pw.region, payout_date=day).fingerprint == first
    assert selectors.payout_preview(region=pw.region, payout_date=future_bank_day(30)).fingerprint != first


# Four eyes ----------------------------------------------------------------------------------------------


def test_a_run_up_to_the_regions_amount_needs_one_confirmation(db):
    pw = payout_world(payout_second_confirmation_above=10_000)
    claim(invoice(pw.bankgiro), 10_000)  # exactly the amount: not above it
    run = _create(pw, future_bank_day()).run
    assert run.state == PayoutRunState.PLANNED
    services.payout_run_file_download(actor=pw.coordinator, run=run)


def test_a_run_above_the_regions_amount_waits_for_a_second_coordinator_never_the_first(db):
    pw = payout_world(payout_second_confirmation_above=10_000)
    claim(invoice(pw.bankgiro), 10_001)
    assert selectors.payout_preview(region=pw.region, payout_date=future_bank_day()).needs_second_confirmation
    run = _create(pw, future_bank_day()).run
    assert run.state == PayoutRunState.AWAITING_SECOND

    with pytest.raises(ValidationError) as no_file:
        services.payout_run_file_download(actor=pw.coordinator, run=run)
    assert "väntar på bekräftelse av en andra samordnare" in no_file.value.messages[0]
    with pytest.raises(ValidationError) as same:
        services.payout_run_confirm(actor=pw.coordinator, run=run)
    assert same.value.code == "same_person"
    assert same.value.messages == [
        "Du skapade körningen och kan inte också bekräfta den. En annan samordnare i regionen måste bekräfta "
        "körningar över 100\xa0kr."
    ]
    run.refresh_from_db()
    assert run.state == PayoutRunState.AWAITING_SECOND

    second = UserFactory()
    services.payout_run_confirm(actor=second, run=run)
    run.refresh_from_db()
    assert (run.state, run.confirmed_by) == (PayoutRunState.PLANNED, second)
    assert AuditEvent.objects.filter(action="payouts.run.confirmed", object_id=str(run.pk), actor=second).exists()
    services.payout_run_file_download(actor=second, run=run)


# Makulera körning ----------------------------------------------------------------------------------------


def test_cancelling_puts_every_claim_back_exactly_as_it_was_and_frees_the_date(pw):
    day = future_bank_day()
    earlier = day - datetime.timedelta(days=3)
    first = invoice(pw.bankgiro, reference="4711")
    received = claim(first, 10_000)
    approved = claim(first, 20_000, state=ClaimState.APPROVED)  # the coordinator's approval, no date
    dated = _approved_for(invoice(pw.bankgiro, reference="4712"), 30_000, earlier)
    credit(invoice(pw.bankgiro, reference="4000"), 5_000, "4000_Kredit")
    Invoice.objects.filter(pk=dated.invoice_id).update(our_reference="555555", payout_date=earlier)
    claims = (received, approved, dated)
    events_before = {c.pk: list(ClaimEvent.objects.filter(claim=c).values_list("kind", flat=True)) for c in claims}

    run = _create(pw, day).run
    references = sorted(PayoutInvoice.objects.filter(payment__run=run).values_list("our_reference", flat=True))
    for made in claims:
        made.refresh_from_db()
        assert (made.state, made.approved_on) == (ClaimState.APPROVED, day)
    assert services.pending_credits(clinic=pw.bankgiro) == []

    services.payout_run_cancel(actor=pw.coordinator, run=run)

    run.refresh_from_db()
    assert (run.state, run.cancelled_by) == (PayoutRunState.CANCELLED, pw.coordinator)
    expected = {received.pk: (ClaimState.RECEIVED, None), approved.pk: (ClaimState.APPROVED, None)}
    expected[dated.pk] = (ClaimState.APPROVED, earlier)
    for made in claims:
        made.refresh_from_db()
        assert (made.state, made.approved_on) == expected[made.pk]
        last = ClaimEvent.objects.filter(claim=made).latest("id")
        assert (last.kind, last.params, last.to_state) == (
            ClaimEventKind.PAYOUT_CANCELLED,
            {"date": day.isoformat()},
            expected[made.pk][0],
        )
        assert last.text == f"Utbetalningskörningen {day.isoformat()} makulerades"
        kinds = list(ClaimEvent.objects.filter(claim=made).values_list("kind", flat=True))
        assert kinds[: len(events_before[made.pk])] == events_before[made.pk]
    assert not PayoutClaim.objects.filter(claim__in=[c.pk for c in claims]).exists()
    assert Invoice.objects.filter(pk=first.pk).values_list("our_reference", "payout_date").get() == ("", None)
    assert Invoice.objects.filter(pk=dated.invoice_id).values_list("our_reference", "payout_date").get() == (
        "555555",
        earlier,
    )
    assert [(c.reference, left) for c, left in services.pending_credits(clinic=pw.bankgiro)] == [("4000_Kredit", 5_000)]
    assert AuditEvent.objects.filter(action="payouts.run.cancelled", object_id=str(run.pk)).exists()
    assert selectors.next_payout_run(region=pw.region) is None

    # The date is free; the new run numbers on, never giving the cancelled run's Vår referens again.
    again = _create(pw, day)
    assert again.created and again.run.pk != run.pk
    new_references = PayoutInvoice.objects.filter(payment__run=again.run).values_list("our_reference", flat=True)
    assert min(int(r) for r in new_references) > max(int(r) for r in references)
    assert again.run.set_off_total == 5_000
    assert PayoutRun.objects.filter(region=pw.region, payout_date=day).count() == 2


def test_a_run_whose_file_was_downloaded_cannot_be_cancelled(pw):
    paid = claim(invoice(pw.bankgiro), 10_000)
    run = _create(pw, future_bank_day()).run
    services.payout_run_file_download(actor=pw.coordinator, run=run)
    with pytest.raises(ValidationError) as refused:
        services.payout_run_cancel(actor=pw.coordinator, run=run)
    assert refused.value.code == "downloaded"
    assert refused.value.messages[0].startswith("Körningen kan inte makuleras: betalningsfilen laddades ner ")
    run.refresh_from_db()
    paid.refresh_from_db()
    assert run.state == PayoutRunState.PLANNED and paid.state == ClaimState.APPROVED
    assert (run.file_downloaded_by, bool(run.file_downloaded_at)) == (pw.coordinator, True)


def test_a_cancelled_run_told_nobody_and_has_no_file(pw, mailoutbox, django_capture_on_commit_callbacks):
    claim(invoice(pw.bankgiro), 10_000)
    with django_capture_on_commit_callbacks(execute=True):
        run = _create(pw, future_bank_day()).run
        services.payout_run_cancel(actor=pw.coordinator, run=run)
    assert mailoutbox == []
    with pytest.raises(ValidationError):
        services.payout_run_file_download(actor=pw.coordinator, run=run)


def test_the_paid_job_skips_a_run_whose_file_was_never_downloaded(pw):
    day = future_bank_day()
    waiting = claim(invoice(pw.bankgiro), 10_000)
    run = _create(pw, day).run
    after = day + datetime.timedelta(days=10)
    assert services.payout_runs_mark_paid(today=after) == 0
    waiting.refresh_from_db()
    assert waiting.state == ClaimState.APPROVED
    services.payout_run_file_download(actor=pw.coordinator, run=run)
    assert services.payout_runs_mark_paid(today=after) == 1


# A claim's approval date is its run's date ----------------------------------------------------------------


def test_a_claim_approved_for_an_earlier_date_is_redated_to_the_run(pw):
    day = future_bank_day()
    earlier = day - datetime.timedelta(days=6)
    swept = _approved_for(invoice(pw.bankgiro), 10_000, earlier)
    _create(pw, day)
    swept.refresh_from_db()
    assert swept.approved_on == day
    last = ClaimEvent.objects.filter(claim=swept).latest("id")
    assert (last.kind, last.params) == (ClaimEventKind.SCHEDULED_FOR_PAYOUT, {"date": day.isoformat()})
    assert last.text == f"Godkänd för utbetalning {day.isoformat()}"


# One live run per region and date, also at once ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_after_a_cancellation_two_runs_at_once_for_the_date_give_one_live_run():
    pw = payout_world()
    day = future_bank_day()
    for number in range(3):
        claim(invoice(pw.bankgiro, reference=f"C{number}"), 1000 + number)
    services.payout_run_cancel(actor=pw.coordinator, run=_create(pw, day).run)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(_create(pw, day))
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
    live = PayoutRun.objects.filter(region=pw.region, payout_date=day).exclude(state=PayoutRunState.CANCELLED)
    assert live.count() == 1
    assert PayoutClaim.objects.filter(payout_invoice__payment__run=live.get()).count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_second_live_run_for_a_date():
    pw = payout_world()
    day = future_bank_day()
    PayoutRun.objects.create(region=pw.region, payout_date=day, created_by=pw.coordinator, state="cancelled")
    PayoutRun.objects.create(region=pw.region, payout_date=day, created_by=pw.coordinator)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutRun.objects.create(region=pw.region, payout_date=day, created_by=pw.coordinator)


def test_the_clinic_sees_a_payout_only_once_its_file_was_downloaded(pw):
    claim(invoice(pw.bankgiro), 10_000)
    run = _create(pw, future_bank_day()).run
    payment = run.payments.get()
    assert list(selectors.clinic_payments(clinic=pw.bankgiro)) == []
    assert selectors.clinic_payment(clinic=pw.bankgiro, payment_pk=payment.pk) is None
    services.payout_run_file_download(actor=pw.coordinator, run=run)
    assert list(selectors.clinic_payments(clinic=pw.bankgiro)) == [payment]
    assert selectors.clinic_payment(clinic=pw.bankgiro, payment_pk=payment.pk) == payment


def test_cancelling_an_earlier_run_leaves_the_vaar_referens_a_later_run_gave_the_invoice(pw):
    shared = invoice(pw.bankgiro)
    claim(shared, 10_000)
    waited = claim(shared, 20_000, state=ClaimState.UNDER_REVIEW)
    first = _create(pw, future_bank_day()).run
    Claim.objects.filter(pk=waited.pk).update(state=ClaimState.RECEIVED)
    second = _create(pw, future_bank_day(30)).run
    later_reference = PayoutInvoice.objects.get(payment__run=second).our_reference

    services.payout_run_cancel(actor=pw.coordinator, run=first)

    shared.refresh_from_db()
    assert (shared.our_reference, shared.payout_date) == (later_reference, second.payout_date)
