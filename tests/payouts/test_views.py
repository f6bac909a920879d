"""The coordinator's pages: runs, the payment file and notices, repayments; all scoped to the region."""

import datetime

import lxml.html
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from billing.services import claim_credit
from claims.models import ClaimState
from payouts import bankdays, services
from payouts.models import PayoutRun, PayoutRunState, Repayment

from .factories import claim, future_bank_day, invoice


def _url(name: str, **kwargs) -> str:
    return reverse(name, kwargs={"region_code": "vg", **kwargs})


def test_the_coordinator_creates_a_run_and_sees_it(client, world):
    client.force_login(world.coordinator_vg)
    day = future_bank_day()
    with TestCase.captureOnCommitCallbacks(execute=True):  # the preview's task, eagerly
        asked = client.post(_url("payout_run_new"), {"payout_date": day.isoformat()})
    preview = client.get(asked["Location"])
    assert not PayoutRun.objects.filter(region=world.vg, payout_date=day).exists()  # a preview makes nothing
    (fingerprint,) = lxml.html.fromstring(preview.content).xpath("//input[@name='fingerprint']/@value")
    # The run is made by its task once the request commits (eagerly, in the tests).
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(_url("payout_run_new"), {"payout_date": day.isoformat(), "fingerprint": fingerprint})
    run = PayoutRun.objects.get(region=world.vg, payout_date=day)
    assert response.status_code == 302
    assert response["Location"] == _url("payout_run_detail", run_pk=run.pk)
    assert run.state == PayoutRunState.PLANNED and run.payments.exists()

    page = client.get(response["Location"]).content.decode()
    assert f"Utbetalning {day.isoformat()}" in page
    for payment in run.payments.all():
        assert payment.clinic.name in page
        for payout_invoice in payment.invoices.all():
            assert payout_invoice.our_reference in page
    listing = client.get(_url("payout_run_list")).content.decode()
    assert day.isoformat() in listing

    # Again: the same run, and said so.
    again = client.post(_url("payout_run_new"), {"payout_date": day.isoformat()}, follow=True)
    assert "Det finns redan en utbetalningskörning" in again.content.decode()
    assert PayoutRun.objects.filter(region=world.vg, payout_date=day).count() == 1


def test_a_date_that_is_no_bank_day_is_refused_in_swedish_and_kept(client, world):
    client.force_login(world.coordinator_vg)
    day = future_bank_day()
    saturday = day + datetime.timedelta(days=(5 - day.weekday()) % 7)
    assert not bankdays.is_bank_day(saturday)
    response = client.post(_url("payout_run_new"), {"payout_date": saturday.isoformat()})
    page = response.content.decode()
    assert response.status_code == 200
    assert "är ingen bankdag" in page
    assert f'value="{saturday.isoformat()}"' in page
    assert 'class="error-summary"' in page
    assert not PayoutRun.objects.filter(region=world.vg, payout_date=saturday).exists()

    empty = client.post(_url("payout_run_new"), {"payout_date": ""}).content.decode()
    assert "Ange utbetalningsdatum." in empty


def test_the_payment_file_and_notices_download(client, world):
    client.force_login(world.coordinator_vg)
    run = PayoutRun.objects.filter(region=world.vg).first()  # the demo's paid run
    response = client.post(_url("payout_run_file", run_pk=run.pk))
    assert response["Content-Type"].startswith("application/xml")
    assert "attachment" in response["Content-Disposition"]
    assert etree.fromstring(b"".join(response.streaming_content)).tag.endswith("Document")  # streamed
    payment = run.payments.first()
    pdf = client.get(_url("payout_notice_pdf", run_pk=run.pk, payment_pk=payment.pk))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    xlsx = client.get(_url("payout_notice_xlsx", run_pk=run.pk, payment_pk=payment.pk))
    assert xlsx.content.startswith(b"PK")


def test_another_regions_coordinator_gets_404_for_a_vg_run(client, world):
    run = PayoutRun.objects.filter(region=world.vg).first()
    payment = run.payments.first()
    client.force_login(world.coordinator_dalarna)
    for url in (
        _url("payout_run_detail", run_pk=run.pk),
        _url("payout_notice_pdf", run_pk=run.pk, payment_pk=payment.pk),
    ):
        assert client.get(url).status_code == 404
    assert client.post(_url("payout_run_file", run_pk=run.pk)).status_code == 404
    # Nor through their own region's URLs.
    own = reverse("payout_run_detail", kwargs={"region_code": "dalarna", "run_pk": run.pk})
    assert client.get(own).status_code == 404


def test_a_plusgiro_credit_becomes_a_repayment_the_coordinator_marks_received(client, world):
    # The demo's paid run paid clinic 32 (plusgiro); its biller credits the claim.
    paid = world.clinic32.claims.filter(state=ClaimState.PAID, payout__isnull=False).first()
    credit = claim_credit(actor=world.biller, claim=paid)
    repayment = Repayment.objects.get(credit_invoice=credit)
    assert repayment.our_reference == paid.payout.payout_invoice.our_reference
    assert repayment.amount == paid.total

    client.force_login(world.coordinator_vg)
    listing = client.get(_url("repayment_list")).content.decode()
    assert credit.reference in listing and repayment.our_reference in listing

    future = client.post(
        _url("repayment_receive", repayment_pk=repayment.pk),
        {"received_on": (timezone.localdate() + datetime.timedelta(days=3)).isoformat()},
    )
    assert "Datumet kan inte ligga efter i dag." in future.content.decode()
    # Not before the credit existed either.
    credited_on = timezone.localdate() - datetime.timedelta(days=5)
    type(credit).objects.filter(pk=credit.pk).update(created_at=timezone.now() - datetime.timedelta(days=5))
    too_early = client.post(
        _url("repayment_receive", repayment_pk=repayment.pk),
        {"received_on": (credited_on - datetime.timedelta(days=1)).isoformat()},
    )
    message = f"Mottagen den kan inte vara före kreditfakturans datum {credited_on.isoformat()}."
    assert message in too_early.content.decode()
    repayment.refresh_from_db()
    assert repayment.received_on is None
    received_on = timezone.localdate() - datetime.timedelta(days=1)
    response = client.post(
        _url("repayment_receive", repayment_pk=repayment.pk), {"received_on": received_on.isoformat()}
    )
    assert response.status_code == 302
    repayment.refresh_from_db()
    assert (repayment.received_on, repayment.received_by) == (received_on, world.coordinator_vg)

    client.force_login(world.coordinator_dalarna)
    other = reverse("repayment_receive", kwargs={"region_code": "dalarna", "repayment_pk": repayment.pk})
    assert client.post(other, {"received_on": received_on.isoformat()}).status_code == 404


def test_a_bankgiro_credit_is_no_repayment(world):
    paid = world.clinic31.claims.filter(state=ClaimState.PAID).first()
    credit = claim_credit(actor=world.biller, claim=paid)
    assert not Repayment.objects.filter(credit_invoice=credit).exists()
    assert credit in [pending for pending, _left in services.pending_credits(clinic=world.clinic31)]


def test_the_demo_has_a_paid_vg_run_the_clinic_sees_under_utbetalda(client, world):
    run = world.vg_run
    reference = run.payments.get(clinic=world.clinic32).invoices.first().our_reference
    client.force_login(world.biller)
    url = reverse("invoice_list_paid", kwargs={"clinic_pk": world.clinic32.pk})
    date_from = (run.payout_date - datetime.timedelta(days=60)).isoformat()
    page = client.get(url, {"date_from": date_from}).content.decode()
    assert reference in page
    assert f"Utbetalningsdatum {run.payout_date.isoformat()}" in page


def test_run_for_vg_collects_the_demo_claims_but_not_those_under_review(world):
    day = future_bank_day()
    extra = claim(invoice(world.clinic31), 4200)
    run = services.payout_run_create(actor=world.coordinator_vg, region=world.vg, payout_date=day).run
    collected = set(run.payments.values_list("invoices__claims__claim__reference", flat=True))
    assert {"DEMO-A1", "DEMO-B1", extra.reference} <= collected
    assert "DEMO-A2" not in collected  # under granskning


def test_the_clinic_lists_its_payouts_and_downloads_its_utbetalningsbesked(client, world):
    run = world.vg_run
    own = run.payments.get(clinic=world.clinic31)
    other = run.payments.get(clinic=world.clinic32)
    client.force_login(world.biller)

    paid_tab = client.get(reverse("invoice_list_paid", kwargs={"clinic_pk": world.clinic31.pk})).content.decode()
    listing = reverse("clinic_payout_list", kwargs={"clinic_pk": world.clinic31.pk})
    assert f'href="{listing}"' in paid_tab
    page = lxml.html.fromstring(client.get(listing).content)
    (row,) = [r for r in page.xpath("//tbody/tr") if r.xpath("string(th)") == run.payout_date.isoformat()]
    assert own.invoices.first().our_reference in row.text_content()
    assert other.invoices.first().our_reference not in page.text_content()
    # Every invoice of the payout by its Vår referens, with its OCR/Fakturanummer.
    expected = ", ".join(
        f"{item.our_reference} ({item.invoice.reference})" for item in own.invoices.order_by("our_reference", "pk")
    )
    assert row.xpath("string(td[1])") == expected

    pdf = client.get(reverse("clinic_payout_notice_pdf", kwargs={"clinic_pk": world.clinic31.pk, "payment_pk": own.pk}))
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf") and pdf.content.startswith(b"%PDF")
    xlsx = reverse("clinic_payout_notice_xlsx", kwargs={"clinic_pk": world.clinic31.pk, "payment_pk": own.pk})
    assert client.get(xlsx).status_code == 200
    # Clinic 32's payout through clinic 31's pages: not found, never forbidden.
    for name in ("clinic_payout_notice_pdf", "clinic_payout_notice_xlsx"):
        assert (
            client.get(reverse(name, kwargs={"clinic_pk": world.clinic31.pk, "payment_pk": other.pk})).status_code
            == 404
        )
