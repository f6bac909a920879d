"""The preview of a payout run computed by its task (payouts.tasks.make_payout_preview) and kept: asked for on the
page, its progress followed, ready (its clinics a page at a time) or failed saying so and asked again; a second ask
while one is computed starts none; the run is made from the kept fingerprint."""

from unittest import mock

import lxml.html
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerUnavailable

from claims.models import ClaimState
from clinics.models import PaymentMethod
from payouts import preview_services, selectors, tasks
from payouts.models import PayoutPreview, PayoutPreviewState, PayoutRun, PayoutRunState
from portal.celery import app
from tests.clinics.factories import ClinicFactory, RegionMembershipFactory

from .factories import claim, credit, future_bank_day, invoice, payout_world, ready_preview


@pytest.fixture
def pw(db):
    world = payout_world()
    RegionMembershipFactory(user=world.coordinator, region=world.region)
    return world


def _kwargs(pw, preview) -> dict:
    return {"region_code": pw.region.code, "preview_pk": preview.pk}


def _ask(client, pw, day):
    """Förhandsgranska on the page; the task queued on commit, not yet run."""
    with TestCase.captureOnCommitCallbacks() as queued:
        response = client.post(
            reverse("payout_run_new", kwargs={"region_code": pw.region.code}), {"payout_date": day.isoformat()}
        )
    return response, queued


def test_the_preview_is_computed_by_its_task_and_its_page_follows_it(client, pw):
    claim(invoice(pw.bankgiro), 10_000)
    claim(invoice(pw.plusgiro), 5_000)
    claim(invoice(pw.bankgiro), 700, state=ClaimState.UNDER_REVIEW)
    client.force_login(pw.coordinator)
    day = future_bank_day()
    response, queued = _ask(client, pw, day)
    preview = PayoutPreview.objects.get(region=pw.region, payout_date=day)
    assert response["Location"] == reverse("payout_preview_detail", kwargs=_kwargs(pw, preview))
    assert len(queued) == 1
    making = lxml.html.fromstring(client.get(response["Location"]).content)
    assert "Förhandsgranskningen beräknas. Sidan visar när den är klar." in making.text_content()
    (status_url,) = making.xpath("//*[@data-import-status]/@data-import-status")
    assert status_url == reverse("payout_preview_status", kwargs=_kwargs(pw, preview))
    assert making.xpath("//script[contains(@src, 'js/progress.js')]")
    assert making.xpath("//noscript/meta[@http-equiv='refresh']")
    assert not making.xpath("//input[@name='fingerprint']")
    assert client.get(status_url).json()["finished"] is False

    for callback in queued:
        callback()  # the task, eagerly
    preview.refresh_from_db()
    plan = selectors.payout_preview(region=pw.region, payout_date=day)  # the one calculation, in the request
    assert preview.state == PayoutPreviewState.READY
    assert (preview.fingerprint, preview.claim_count, preview.net_total) == (plan.fingerprint, 2, 15_000)
    assert (preview.progress_count, preview.left_out_count) == (2, 1)
    status = client.get(status_url).json()
    assert (status["finished"], status["processed"], status["total"]) == (True, 2, 2)
    ready = lxml.html.fromstring(client.get(response["Location"]).content)
    assert ready.xpath("//input[@name='fingerprint']/@value") == [plan.fingerprint]
    assert not ready.xpath("//noscript/meta[@http-equiv='refresh']")
    assert "Under granskning" in ready.xpath("string(//section[@aria-labelledby='left-out'])")

    tasks.make_payout_preview.apply(args=(preview.pk,))  # again (a duplicate message): nothing more
    assert preview.payments.count() == 2


def test_a_second_ask_while_one_is_computed_starts_none(client, pw):
    claim(invoice(pw.bankgiro), 10_000)
    client.force_login(pw.coordinator)
    day = future_bank_day()
    first, queued = _ask(client, pw, day)
    second, queued_again = _ask(client, pw, day)
    assert second["Location"] == first["Location"]
    assert (len(queued), len(queued_again)) == (1, 0)
    assert PayoutPreview.objects.filter(region=pw.region, payout_date=day).count() == 1
    page = client.get(second["Location"]).content.decode()
    assert f"En förhandsgranskning för {day.isoformat()} beräknas redan." in page
    # Once ready, asking again computes a new one: the claims may have changed.
    for callback in queued:
        callback()
    _again, queued_third = _ask(client, pw, day)
    assert len(queued_third) == 1
    assert PayoutPreview.objects.filter(region=pw.region, payout_date=day).count() == 2


def test_the_database_refuses_a_second_preview_being_computed_for_a_date(pw):
    day = future_bank_day()
    PayoutPreview.objects.create(region=pw.region, payout_date=day, requested_by=pw.coordinator)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutPreview.objects.create(region=pw.region, payout_date=day, requested_by=pw.coordinator)


@pytest.fixture
def errors_handled_by_the_task():
    """Eager tasks that handle their own errors as under a worker (retry, on_failure), not raise them here."""
    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_eager_propagates = previous


def test_a_preview_whose_database_keeps_failing_ends_failed_saying_so_and_is_asked_again(
    client, pw, errors_handled_by_the_task, monkeypatch
):
    claim(invoice(pw.bankgiro), 10_000)
    client.force_login(pw.coordinator)
    day = future_bank_day()
    response, _queued = _ask(client, pw, day)
    preview = PayoutPreview.objects.get(region=pw.region, payout_date=day)
    monkeypatch.setattr(tasks, "RETRY_BASE_SECONDS", 0)
    failing = OperationalError("server closed")
    with mock.patch.object(preview_services, "payout_preview_make", side_effect=failing) as make:
        result = tasks.make_payout_preview.delay(preview.pk)
    assert result.failed()
    assert make.call_count == tasks.make_payout_preview.max_retries + 1 == 4
    preview.refresh_from_db()
    assert (preview.state, preview.failure_message) == (
        PayoutPreviewState.FAILED,
        "Förhandsgranskningen kunde inte beräknas. Ingenting har ändrats. Försök igen om en stund.",
    )
    page = lxml.html.fromstring(client.get(response["Location"]).content)
    assert "Förhandsgranskningen kunde inte beräknas." in " ".join(page.xpath("//*[@role='alert']//text()"))
    assert not page.xpath("//noscript/meta[@http-equiv='refresh']")
    assert not page.xpath("//input[@name='fingerprint']")
    assert client.get(reverse("payout_preview_status", kwargs=_kwargs(pw, preview))).json()["finished"] is True

    # Försök igen: the page's form asks for the date again; a new preview, computed this time.
    (form,) = page.xpath("//form[.//button[text()='Försök igen']]")
    assert form.get("action") == reverse("payout_run_new", kwargs={"region_code": pw.region.code})
    assert form.xpath(".//input[@name='payout_date']/@value") == [day.isoformat()]
    with TestCase.captureOnCommitCallbacks(execute=True):
        again = client.post(form.get("action"), {"payout_date": day.isoformat()})
    retried = PayoutPreview.objects.get(region=pw.region, payout_date=day, state=PayoutPreviewState.READY)
    assert again["Location"] == reverse("payout_preview_detail", kwargs=_kwargs(pw, retried))


def test_a_preview_that_cannot_be_queued_is_failed_not_left_waiting(pw):
    with (
        mock.patch.object(tasks.make_payout_preview, "delay", side_effect=BrokerUnavailable("no redis")),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        preview = preview_services.payout_preview_start(
            actor=pw.coordinator, region=pw.region, payout_date=future_bank_day()
        ).preview
    preview.refresh_from_db()
    assert preview.state == PayoutPreviewState.FAILED


def test_a_preview_whose_worker_was_lost_for_good_is_failed_on_its_page_and_asked_again(client, pw, settings):
    day = future_bank_day()
    stalled = preview_services.payout_preview_start(actor=pw.coordinator, region=pw.region, payout_date=day).preview
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": -1}  # every sign of life is too old
    client.force_login(pw.coordinator)
    page = client.get(reverse("payout_preview_detail", kwargs=_kwargs(pw, stalled))).content.decode()
    assert "Förhandsgranskningen kunde inte beräknas." in page
    again = preview_services.payout_preview_start(actor=pw.coordinator, region=pw.region, payout_date=day)
    assert again.created and again.preview.pk != stalled.pk
    stalled.refresh_from_db()
    assert stalled.state == PayoutPreviewState.FAILED


def test_the_run_is_made_from_the_kept_preview_and_four_eyes_still_holds(client, pw):
    pw.region.payout_second_confirmation_above = 100
    pw.region.save()
    on_invoice = invoice(pw.bankgiro)
    claim(on_invoice, 10_000)
    credit(on_invoice, 2_500, "K1")
    client.force_login(pw.coordinator)
    day = future_bank_day()
    preview = ready_preview(region=pw.region, actor=pw.coordinator, payout_date=day)
    page = client.get(reverse("payout_preview_detail", kwargs=_kwargs(pw, preview))).content.decode()
    assert "en annan samordnare måste bekräfta körningen" in page
    assert "K1" in page  # the set-off, as previewed
    assert (preview.set_off_total, preview.net_total) == (2_500, 7_500)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(
            reverse("payout_run_new", kwargs={"region_code": pw.region.code}),
            {"payout_date": day.isoformat(), "fingerprint": preview.fingerprint},
        )
    run = PayoutRun.objects.get(region=pw.region, payout_date=day)
    assert (run.state, run.fingerprint, run.net_total) == (PayoutRunState.AWAITING_SECOND, preview.fingerprint, 7_500)
    # The preview's page now points at the run instead of offering a second.
    page = lxml.html.fromstring(client.get(reverse("payout_preview_detail", kwargs=_kwargs(pw, preview))).content)
    assert not page.xpath("//input[@name='fingerprint']")
    assert page.xpath(
        f"//a[@href='{reverse('payout_run_detail', kwargs={'region_code': pw.region.code, 'run_pk': run.pk})}']"
    )


def test_the_preview_page_pages_its_clinics_in_a_fixed_number_of_queries(client, pw, monkeypatch):
    clinics = [pw.bankgiro] + [
        ClinicFactory(region=pw.region, payment_method=PaymentMethod.BANKGIRO) for _ in range(11)
    ]
    for clinic in clinics:
        claim(invoice(clinic), 1_000)
    claim(invoice(pw.bankgiro), 500, state=ClaimState.UNDER_REVIEW)
    client.force_login(pw.coordinator)
    preview = ready_preview(region=pw.region, actor=pw.coordinator)
    url = reverse("payout_preview_detail", kwargs=_kwargs(pw, preview))
    with CaptureQueriesContext(connection) as first_queries:
        first = lxml.html.fromstring(client.get(url).content)
    numbers = sorted(clinics, key=lambda clinic: clinic.number.zfill(20))
    headings = first.xpath("//section[starts-with(@aria-labelledby, 'preview-')]/h2/text()")
    assert [heading.split()[0] for heading in headings] == [clinic.number for clinic in numbers[:10]]
    assert "Kliniker 1–10 av 12" in first.text_content()
    assert first.xpath("//a[@rel='next']/@href") == ["?sida=2"]
    assert first.xpath("//section[@aria-labelledby='left-out']")
    # A small run lists each clinic's claims, as previewed.
    assert first.xpath(f"//caption[text()='Räkningar för klinik {numbers[0].number}']")
    second = lxml.html.fromstring(client.get(url + "?sida=2").content)
    headings = second.xpath("//section[starts-with(@aria-labelledby, 'preview-')]/h2/text()")
    assert [heading.split()[0] for heading in headings] == [clinic.number for clinic in numbers[10:]]
    assert not second.xpath("//section[@aria-labelledby='left-out']")  # on the first page only

    # A large run shows its clinics' figures, not their claims; the page's queries do not grow with it.
    monkeypatch.setattr(preview_services, "PREVIEW_CLAIMS_SHOWN", 5)
    for clinic in clinics:
        claim(invoice(clinic), 2_000)
    large = ready_preview(region=pw.region, actor=pw.coordinator)
    with CaptureQueriesContext(connection) as large_queries:
        page = lxml.html.fromstring(client.get(reverse("payout_preview_detail", kwargs=_kwargs(pw, large))).content)
    assert large.claim_count == 24
    assert not page.xpath("//caption[starts-with(text(), 'Räkningar för klinik')]")
    assert len(large_queries) <= len(first_queries)


def test_the_preview_keeps_the_first_claims_left_out_and_counts_them_all(client, pw, monkeypatch):
    monkeypatch.setattr(preview_services, "LEFT_OUT_SHOWN", 2)
    claim(invoice(pw.bankgiro), 10_000)
    for total in (100, 200, 300):
        claim(invoice(pw.bankgiro), total, state=ClaimState.UNDER_REVIEW)
    preview = ready_preview(region=pw.region, actor=pw.coordinator)
    assert (len(preview.left_out), preview.left_out_count) == (2, 3)
    client.force_login(pw.coordinator)
    page = lxml.html.fromstring(client.get(reverse("payout_preview_detail", kwargs=_kwargs(pw, preview))).content)
    left_out = page.xpath("//section[@aria-labelledby='left-out']")[0]
    assert "De första 2 av 3 räkningar visas." in left_out.text_content()
    assert len(left_out.xpath(".//tbody/tr")) == 2
