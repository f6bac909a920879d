"""A payout run made by its task (payouts.tasks.make_payout_run): asked for on the page, made in the background in
a fixed number of statements per chunk of claims, its page following it, and ending failed (saying so) when the
basis changed or its worker gave up."""

from unittest import mock

import lxml.html
import pytest
from django.db import OperationalError, connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from claims.audit import ClaimsAudit
from claims.models import Claim, ClaimEvent, ClaimEventKind, ClaimState
from payouts import services, tasks
from payouts.models import PayoutClaim, PayoutInvoice, PayoutRun, PayoutRunState
from payouts.selectors import RUN_INVOICES_SHOWN
from portal.audit import audit_chain_verify, audit_record
from portal.celery import app
from portal.models import AuditEvent, ClinicEvent
from tests.clinics.factories import RegionMembershipFactory

from .factories import claim, future_bank_day, invoice, payout_world


def _many_claims(on_invoice, count: int, total: int = 10_000) -> None:
    """`count` claims on the invoice, copied from one made by the factory (quick for thousands)."""
    model = claim(on_invoice, total)
    copies = []
    for index in range(count - 1):
        copy = Claim.objects.get(pk=model.pk)
        copy.pk = None
        copy.reference = f"{model.reference}-{index}"
        copies.append(copy)
    Claim.objects.bulk_create(copies)


def _run_queries(monkeypatch, *, chunk: int, chunks: int) -> int:
    monkeypatch.setattr(services, "CHUNK_SIZE", chunk)
    pw = payout_world()
    per_invoice = 5  # several invoices per chunk, none across two
    for _ in range(chunk * chunks // per_invoice):
        _many_claims(invoice(pw.bankgiro), per_invoice)
    with CaptureQueriesContext(connection) as made:
        run = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day()).run
    assert run.claim_count == PayoutClaim.objects.filter(payout_invoice__payment__run=run).count() == chunk * chunks
    return len(made)


def test_a_run_makes_a_fixed_number_of_queries_per_chunk_however_many_claims_a_chunk_holds(db, monkeypatch):
    """A run over N claims: the same statements with 10 claims a chunk as with 30 (as 1 000 as 3 000), and each
    further chunk adds the same few."""
    three_small = _run_queries(monkeypatch, chunk=10, chunks=3)
    three_large = _run_queries(monkeypatch, chunk=30, chunks=3)
    assert three_small == three_large
    two, one = _run_queries(monkeypatch, chunk=10, chunks=2), _run_queries(monkeypatch, chunk=10, chunks=1)
    assert three_small - two == two - one <= 16


@pytest.fixture
def pw(db):
    world = payout_world()
    RegionMembershipFactory(user=world.coordinator, region=world.region)
    return world


def _start(pw, *, fingerprint: str):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.payout_run_start(
            actor=pw.coordinator, region=pw.region, payout_date=future_bank_day(), fingerprint=fingerprint
        ).run


def test_the_run_is_made_by_its_task_and_its_page_follows_it(client, pw):
    first = claim(invoice(pw.bankgiro), 10_000)
    claim(invoice(pw.plusgiro), 5_000)
    from payouts.selectors import payout_preview

    preview = payout_preview(region=pw.region, payout_date=future_bank_day())
    with TestCase.captureOnCommitCallbacks() as queued:
        run = services.payout_run_start(
            actor=pw.coordinator,
            region=pw.region,
            payout_date=future_bank_day(),
            fingerprint=preview.fingerprint,
            expected_count=preview.claim_count,
        ).run
    assert (run.state, run.claim_count, run.progress_count) == (PayoutRunState.MAKING, 2, 0)
    client.force_login(pw.coordinator)
    kwargs = {"region_code": pw.region.code, "run_pk": run.pk}
    page = client.get(reverse("payout_run_detail", kwargs=kwargs)).content.decode()
    assert "Körningen skapas. Sidan visar när den är klar." in page
    assert reverse("payout_run_status", kwargs=kwargs) in page  # polled by progress.js
    assert client.get(reverse("payout_run_status", kwargs=kwargs)).json()["finished"] is False
    # A second ask while it is being made finds it.
    assert not services.payout_run_start(
        actor=pw.coordinator, region=pw.region, payout_date=run.payout_date, fingerprint=preview.fingerprint
    ).created

    for callback in queued:
        callback()  # the task, eagerly
    run.refresh_from_db()
    assert (run.state, run.claim_count, run.progress_count, run.net_total) == (PayoutRunState.PLANNED, 2, 2, 15_000)
    first.refresh_from_db()
    assert (first.state, first.approved_on) == (ClaimState.APPROVED, run.payout_date)
    status = client.get(reverse("payout_run_status", kwargs=kwargs)).json()
    assert (status["finished"], status["processed"], status["total"]) == (True, 2, 2)
    tasks.make_payout_run.apply(args=(run.pk,))  # again (a duplicate message): nothing more
    assert PayoutClaim.objects.filter(payout_invoice__payment__run=run).count() == 2


def test_a_basis_changed_before_the_task_ran_fails_the_run_saying_so_and_frees_the_date(client, pw):
    first = claim(invoice(pw.bankgiro), 10_000)
    run = _start(pw, fingerprint="not-what-the-plan-is-now")
    assert run is not None
    run.refresh_from_db()
    assert run.state == PayoutRunState.FAILED
    assert run.failure_message.startswith("Underlaget har ändrats sedan förhandsgranskningen")
    first.refresh_from_db()
    assert (first.state, first.approved_on) == (ClaimState.RECEIVED, None)  # nothing written
    client.force_login(pw.coordinator)
    page = client.get(reverse("payout_run_detail", kwargs={"region_code": pw.region.code, "run_pk": run.pk}))
    assert "Underlaget har ändrats sedan förhandsgranskningen" in page.content.decode()
    assert reverse("payout_run_new", kwargs={"region_code": pw.region.code}) in page.content.decode()
    # The date is free again.
    assert services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=run.payout_date).created


@pytest.fixture
def errors_handled_by_the_task():
    """Eager tasks that handle their own errors as under a worker (retry, on_failure), not raise them here."""
    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_eager_propagates = previous


def test_a_run_whose_database_keeps_failing_ends_failed_after_the_retries_and_the_page_says_so(
    client, pw, errors_handled_by_the_task, monkeypatch
):
    claim(invoice(pw.bankgiro), 10_000)
    with TestCase.captureOnCommitCallbacks() as queued:
        run = services.payout_run_start(
            actor=pw.coordinator, region=pw.region, payout_date=future_bank_day(), fingerprint=""
        ).run
    assert len(queued) == 1
    monkeypatch.setattr(tasks, "RETRY_BASE_SECONDS", 0)
    with mock.patch.object(services, "payout_run_make", side_effect=OperationalError("server closed")) as make:
        result = tasks.make_payout_run.delay(run.pk)
    assert result.failed()
    assert make.call_count == tasks.make_payout_run.max_retries + 1 == 4
    run.refresh_from_db()
    assert (run.state, run.failure_message) == (PayoutRunState.FAILED, str(services.FAILURE_MESSAGE))
    client.force_login(pw.coordinator)
    kwargs = {"region_code": pw.region.code, "run_pk": run.pk}
    page = lxml.html.fromstring(client.get(reverse("payout_run_detail", kwargs=kwargs)).content)
    assert "Körningen kunde inte skapas." in " ".join(page.xpath("//*[@role='alert']//text()"))
    assert not page.xpath("//noscript/meta[@http-equiv='refresh']")
    assert client.get(reverse("payout_run_status", kwargs=kwargs)).json()["finished"] is True
    assert PayoutRun.objects.get(pk=run.pk).payments.count() == 0


def test_a_run_that_cannot_be_queued_is_failed_not_left_waiting(pw):
    from kombu.exceptions import OperationalError as BrokerUnavailable

    with (
        mock.patch.object(tasks.make_payout_run, "delay", side_effect=BrokerUnavailable("no redis")),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        run = services.payout_run_start(
            actor=pw.coordinator, region=pw.region, payout_date=future_bank_day(), fingerprint=""
        ).run
    run.refresh_from_db()
    assert run.state == PayoutRunState.FAILED


def test_the_runs_page_shows_each_clinics_first_invoices_and_how_many_it_has(client, pw):
    """A clinic of a large run has a hundred invoices: the page shows its first RUN_INVOICES_SHOWN by Vår referens,
    their claims counted, and how many there are (the utbetalningsbesked lists them all)."""
    first = invoice(pw.bankgiro)
    claim(first, 1_000)
    claim(first, 2_000)
    for _ in range(RUN_INVOICES_SHOWN + 1):
        claim(invoice(pw.bankgiro), 500)
    claim(invoice(pw.plusgiro), 700)
    run = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day()).run
    client.force_login(pw.coordinator)
    page = lxml.html.fromstring(
        client.get(reverse("payout_run_detail", kwargs={"region_code": pw.region.code, "run_pk": run.pk})).content
    )
    (table,) = page.xpath(f"//table[caption='Fakturor för klinik {pw.bankgiro.number}']")
    rows = table.xpath(".//tbody/tr")
    references = run.payments.get(clinic=pw.bankgiro).invoices.order_by("our_reference")
    assert [row.xpath("string(td[1])") for row in rows] == [
        paid.our_reference for paid in references[:RUN_INVOICES_SHOWN]
    ]
    first_row = rows[[paid.invoice_id for paid in references].index(first.pk)]
    assert [first_row.xpath("string(td[2])"), first_row.xpath("string(td[3])")] == ["2", "30\u00a0kr"]
    total = RUN_INVOICES_SHOWN + 2
    assert f"De första {RUN_INVOICES_SHOWN} av {total} fakturor visas." in page.text_content()
    (other,) = page.xpath(f"//table[caption='Fakturor för klinik {pw.plusgiro.number}']")
    assert len(other.xpath(".//tbody/tr")) == 1


def test_a_run_in_chunks_writes_each_claims_event_clinic_event_and_audit_record_and_the_chain_holds(db, monkeypatch):
    """The run writes its claims' events and audit records as rows of values, chunk by chunk: each claim gets the
    same records a single approval gives it, with the run's date, and the audit log's hash chain verifies."""
    monkeypatch.setattr(services, "CHUNK_SIZE", 10)
    pw = payout_world()
    for _ in range(5):
        _many_claims(invoice(pw.bankgiro), 5)  # 25 claims under behandling: three chunks
    dated = claim(invoice(pw.plusgiro), 777, state=ClaimState.APPROVED)  # approved without a date: given the run's
    day = future_bank_day()
    run = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day).run
    claims = list(Claim.objects.filter(payout__payout_invoice__payment__run=run))
    assert len(claims) == run.claim_count == 26
    for paid in claims:
        assert (paid.state, paid.approved_on) == (ClaimState.APPROVED, day)
        was = ClaimState.APPROVED if paid.pk == dated.pk else ClaimState.RECEIVED
        event = ClaimEvent.objects.get(claim=paid, kind=ClaimEventKind.SCHEDULED_FOR_PAYOUT)
        assert (event.from_state, event.to_state, event.params) == (was, ClaimState.APPROVED, {"date": day.isoformat()})
        assert event.actor_id == pw.coordinator.pk
        clinic_event = ClinicEvent.objects.get(object_type="claim", object_id=paid.pk)
        assert (clinic_event.clinic_id, clinic_event.actor_id) == (paid.clinic_id, pw.coordinator.pk)
        assert clinic_event.data == {
            "invoice_id": paid.invoice_id,
            "from_state": was,
            "state": ClaimState.APPROVED,
            "change": ClaimEventKind.SCHEDULED_FOR_PAYOUT,
            "approved_on": day.isoformat(),
        }
        record = AuditEvent.objects.get(object_type="claims.claim", object_id=str(paid.pk))
        assert (record.object_repr, record.clinic_id, record.actor_id) == (
            paid.reference,
            paid.clinic_id,
            pw.coordinator.pk,
        )
        if paid.pk == dated.pk:
            assert record.action == ClaimsAudit.CLAIM_SCHEDULED
            assert (record.before, record.after) == ({"approved_on": None}, {"approved_on": day.isoformat()})
        else:
            assert record.action == ClaimsAudit.CLAIM_APPROVED
            assert (record.before, record.after) == (
                {"state": ClaimState.RECEIVED},
                {"state": ClaimState.APPROVED, "approved_on": day.isoformat()},
            )
    assert audit_chain_verify().whole


def test_an_invoice_whose_claims_span_chunks_is_paid_their_sum_and_the_chain_holds_after_the_run(db, monkeypatch):
    """Each invoice's amount is summed as its claims stream by and the invoice written when they have all come (the
    last with the next chunk or at the end); the chunks' audit records are hashed from the chain held by the run,
    with ids reserved ahead: the chain verifies, and a record written after the run follows it."""
    monkeypatch.setattr(services, "CHUNK_SIZE", 10)
    pw = payout_world()
    long_invoice, short_invoice, last_invoice = invoice(pw.bankgiro), invoice(pw.bankgiro), invoice(pw.plusgiro)
    _many_claims(long_invoice, 23, total=1_000)  # across three chunks
    _many_claims(short_invoice, 7, total=300)
    _many_claims(last_invoice, 4, total=50)  # the last chunk's, written at the end
    day = future_bank_day()
    # Approved for the run's date already: no record of its own, so an id reserved for it is left unused (a gap).
    dated = claim(invoice(pw.plusgiro), 5, state=ClaimState.APPROVED)
    Claim.objects.filter(pk=dated.pk).update(approved_on=day)
    run = services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day).run
    amounts = dict(PayoutInvoice.objects.filter(payment__run=run).values_list("invoice_id", "amount"))
    assert amounts == {long_invoice.pk: 23_000, short_invoice.pk: 2_100, last_invoice.pk: 200, dated.invoice_id: 5}
    counts = dict(PayoutInvoice.objects.filter(payment__run=run).values_list("invoice_id", "claim_count"))
    assert counts == {long_invoice.pk: 23, short_invoice.pk: 7, last_invoice.pk: 4, dated.invoice_id: 1}
    assert run.claim_count == 35
    assert not AuditEvent.objects.filter(object_type="claims.claim", object_id=str(dated.pk)).exists()
    assert audit_chain_verify().whole
    audit_record(actor=pw.coordinator, action=ClaimsAudit.INVOICE_PAID, obj=long_invoice, after={"x": 1})
    report = audit_chain_verify()
    assert report.whole
    assert report.last_hash == AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
