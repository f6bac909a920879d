"""The clinic's start page lists what waits, each line leading to a list of exactly those; the coordinator's start
page adds "Besvarade frågor att granska" and overdue repayments. Both run a fixed number of queries."""

import datetime

import lxml.html
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from claims.models import ClaimState, CreditInvoice, Invoice, InvoiceFileState, InvoiceFileUpload
from eligibility.models import PriorAssessmentState
from payouts.models import Repayment
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.eligibility.factories import PriorAssessmentFactory
from tests.review.factories import ClaimQuestionFactory


def _doc(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.document_fromstring(response.content)


def _line(doc, name):
    lines = doc.xpath("//ul[contains(@class,'waiting-lines')]/li[@data-line=$name]", name=name)
    return lines[0] if lines else None


def _invoice_references(doc) -> set[str]:
    return {
        row.xpath("string(./th|./td)").strip() for row in doc.xpath("//table[contains(@class, 'invoices')]/tbody/tr[1]")
    }


@pytest.fixture
def biller(client, world):
    client.force_login(world.biller)
    return client


def _start(world, clinic=None) -> str:
    return f"/klinik/{(clinic or world.clinic32).pk}/"


def test_questions_to_answer_lead_to_era_fakturor_showing_exactly_their_invoices(biller, world):
    asked = []
    for number in range(3):
        claim = ClaimFactory(
            invoice__clinic=world.clinic32, invoice__reference=f"Q{number}", state=ClaimState.UNDER_REVIEW
        )
        ClaimQuestionFactory(claim=claim, asked_by=world.coordinator_vg)
        asked.append(claim)
    # An old invoice too: a question waits whenever the invoice came in.
    Invoice.objects.filter(pk=asked[0].invoice_id).update(received_at=timezone.now() - datetime.timedelta(days=90))
    # Answered, or on another clinic's claim: not the clinic's to answer.
    answered = ClaimFactory(invoice__clinic=world.clinic32, invoice__reference="QA", state=ClaimState.UNDER_REVIEW)
    ClaimQuestionFactory(
        claim=answered,
        asked_by=world.coordinator_vg,
        answer="Ja.",
        answered_at=timezone.now(),
        answered_by=world.biller,
    )
    line = _line(_doc(biller.get(_start(world))), "questions")
    assert "3 frågor från tandvårdssamordningen att besvara" in line.text_content()
    href = line.xpath(".//a/@href")[0]
    assert href.endswith("/fakturor/?question=waiting")
    assert _invoice_references(_doc(biller.get(href))) == {"Q0", "Q1", "Q2"}


def test_no_line_for_what_does_not_wait(biller, world):
    doc = _doc(biller.get(_start(world)))
    assert _line(doc, "questions") is None and _line(doc, "information") is None


def test_kompletteringar_with_their_deadlines_lead_to_the_fhb_list_of_exactly_those(biller, world):
    deadline = timezone.localdate() + datetime.timedelta(days=9)
    waiting = PriorAssessmentFactory(
        clinic=world.clinic32, state=PriorAssessmentState.AWAITING_INFORMATION, information_deadline=deadline
    )
    PriorAssessmentFactory(clinic=world.clinic32, state=PriorAssessmentState.SUBMITTED)
    line = _line(_doc(biller.get(_start(world))), "information")
    assert "1 förhandsbedömning väntar på komplettering" in line.text_content()
    assert f"{waiting.number}: senast {deadline.isoformat()}" in line.text_content()
    listed = _doc(biller.get(line.xpath(".//a/@href")[0])).xpath("//tbody/tr/td[1]/a/text()")
    assert listed == [waiting.number]


def test_fhb_decisions_of_the_last_14_days_lead_to_the_fhb_list_of_exactly_those(biller, world):
    now = timezone.now()
    recent = PriorAssessmentFactory(
        clinic=world.clinic32,
        state=PriorAssessmentState.APPROVED,
        decided_at=now - datetime.timedelta(days=2),
        valid_until=timezone.localdate() + datetime.timedelta(days=180),
    )
    PriorAssessmentFactory(
        clinic=world.clinic32, state=PriorAssessmentState.DENIED, decided_at=now - datetime.timedelta(days=40)
    )
    line = _line(_doc(biller.get(_start(world))), "decisions")
    assert "1 nytt beslut om förhandsbedömning" in line.text_content()
    assert recent.number in line.text_content() and "giltig till" in line.text_content()
    listed = _doc(biller.get(line.xpath(".//a/@href")[0])).xpath("//tbody/tr/td[1]/a/text()")
    assert listed == [recent.number]


def test_a_file_checked_but_not_sent_has_its_line(biller, world):
    upload = InvoiceFileUpload.objects.create(
        clinic=world.clinic32,
        uploaded_by=world.biller,
        original_name="juni.xml",
        sha256="1" * 64,
        state=InvoiceFileState.CHECKED,
        claim_count=12,
        faulty_count=2,
    )
    InvoiceFileUpload.objects.create(
        clinic=world.clinic32, uploaded_by=world.biller, original_name="maj.xml", sha256="2" * 64, state="sent"
    )
    lines = _doc(biller.get(_start(world))).xpath("//li[@data-line='file']")
    assert len(lines) == 1
    assert "juni.xml" in lines[0].text_content() and "12 räkningar, 2 med fel" in lines[0].text_content()
    assert lines[0].xpath(".//a/@href") == [f"/klinik/{world.clinic32.pk}/fakturafil/{upload.pk}/"]


def test_repayments_owed_show_vår_referens_and_age_and_lead_to_the_open_credits(biller, world):
    owed_invoice = InvoiceFactory(clinic=world.clinic32, reference="ATER1")
    ClaimFactory(invoice=owed_invoice, state=ClaimState.CREDITED)
    credit = CreditInvoice.objects.create(
        clinic=world.clinic32, invoice=owed_invoice, reference="K-ATER1", total=50_000, created_by=world.biller
    )
    repayment = Repayment.objects.create(
        region=world.vg, clinic=world.clinic32, credit_invoice=credit, amount=50_000, our_reference="700001"
    )
    Repayment.objects.filter(pk=repayment.pk).update(created_at=timezone.now() - datetime.timedelta(days=12))
    paid_invoice = InvoiceFactory(clinic=world.clinic32, reference="ATER2")
    paid_credit = CreditInvoice.objects.create(
        clinic=world.clinic32, invoice=paid_invoice, reference="K-ATER2", total=10_000, created_by=world.biller
    )
    Repayment.objects.create(
        region=world.vg,
        clinic=world.clinic32,
        credit_invoice=paid_credit,
        amount=10_000,
        our_reference="700002",
        received_on=timezone.localdate(),
        received_by=world.coordinator_vg,
        received_at=timezone.now(),
    )
    line = _line(_doc(biller.get(_start(world))), "repayments")
    text = " ".join(line.text_content().split())
    assert "Vår referens 700001, 12 dagar sedan krediteringen" in text and "700002" not in text
    owed = set(
        Repayment.objects.filter(clinic=world.clinic32, received_on=None).values_list(
            "credit_invoice__invoice__reference", flat=True
        )
    )
    assert _invoice_references(_doc(biller.get(line.xpath(".//a/@href")[0]))) == owed
    assert "ATER1" in owed


def test_the_next_and_the_last_payout(biller, world):
    line = _line(_doc(biller.get(_start(world))), "payouts")
    text = " ".join(line.text_content().split())
    # The demo paid clinic 32 in a run eight days ago; nothing is planned.
    assert "senast" in text and "ingen planerad" in text
    assert line.xpath(".//a/@href") == [f"/klinik/{world.clinic32.pk}/utbetalningsbesked/"]


def test_the_clinic_start_page_runs_the_same_queries_whatever_waits(client, world):
    client.force_login(world.biller)
    counts = []
    for extra in (0, 5):
        for number in range(extra):
            claim = ClaimFactory(invoice__clinic=world.clinic32, state=ClaimState.UNDER_REVIEW)
            ClaimQuestionFactory(claim=claim, asked_by=world.coordinator_vg)
            PriorAssessmentFactory(
                clinic=world.clinic32,
                state=PriorAssessmentState.AWAITING_INFORMATION,
                information_deadline=timezone.localdate() + datetime.timedelta(days=number + 1),
            )
            InvoiceFileUpload.objects.create(
                clinic=world.clinic32,
                uploaded_by=world.biller,
                original_name=f"{number}.xml",
                sha256=f"{number}" * 64,
                state=InvoiceFileState.CHECKED,
            )
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_start(world)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] and counts[0] <= 20, counts


# The coordinator's start page -----------------------------------------------------------------------------------


def _tile(doc, title):
    for tile in doc.xpath("//li[@class='tile']"):
        if title in tile.text_content():
            return tile
    raise AssertionError(title)


def test_besvarade_frågor_att_granska_lead_to_exactly_those_claims(client, world):
    client.force_login(world.coordinator_vg)
    for reference in ("BES-1", "BES-2"):
        claim = ClaimFactory(invoice__clinic=world.clinic31, reference=reference, state=ClaimState.UNDER_REVIEW)
        ClaimQuestionFactory(
            claim=claim,
            asked_by=world.coordinator_vg,
            answer="Ja.",
            answered_at=timezone.now(),
            answered_by=world.biller,
        )
    waiting = ClaimFactory(invoice__clinic=world.clinic31, reference="BES-W", state=ClaimState.UNDER_REVIEW)
    ClaimQuestionFactory(claim=waiting, asked_by=world.coordinator_vg)
    tile = _tile(_doc(client.get("/region/vg/")), "Besvarade frågor att granska")
    figure = int(tile.xpath(".//*[contains(@class,'tile__count')]")[0].text_content().strip())
    listed = {
        th.text_content().strip()
        for th in _doc(client.get(tile.xpath(".//a/@href")[0])).xpath(
            "//table[contains(@class,'review-claims')]/tbody/tr/th"
        )
    }
    assert {"BES-1", "BES-2"} <= listed and "BES-W" not in listed
    assert figure == len(listed)


def test_overdue_repayments_lead_to_exactly_those(client, world):
    client.force_login(world.coordinator_vg)
    made = []
    for number, days in enumerate((45, 31, 3)):
        invoice = InvoiceFactory(clinic=world.clinic32, reference=f"OVD{number}")
        credit = CreditInvoice.objects.create(
            clinic=world.clinic32, invoice=invoice, reference=f"K-OVD{number}", total=1000, created_by=world.biller
        )
        repayment = Repayment.objects.create(
            region=world.vg, clinic=world.clinic32, credit_invoice=credit, amount=1000, our_reference=f"71000{number}"
        )
        Repayment.objects.filter(pk=repayment.pk).update(created_at=timezone.now() - datetime.timedelta(days=days))
        made.append(repayment)
    tile = _tile(_doc(client.get("/region/vg/")), "Försenade återbetalningar")
    figure = int(tile.xpath(".//*[contains(@class,'tile__count')]")[0].text_content().strip())
    page = _doc(client.get(tile.xpath(".//a/@href")[0]))
    listed = set(page.xpath("//section[@aria-labelledby='open-title']//tbody/tr/th/text()"))
    assert {"710000", "710001"} <= listed and "710002" not in listed
    assert figure == len(listed)


def test_the_coordinator_start_page_runs_the_same_queries_whatever_waits(client, world):
    client.force_login(world.coordinator_vg)
    counts = []
    for extra in (0, 5):
        for _number in range(extra):
            claim = ClaimFactory(invoice__clinic=world.clinic31, state=ClaimState.UNDER_REVIEW)
            ClaimQuestionFactory(
                claim=claim,
                asked_by=world.coordinator_vg,
                answer="Ja.",
                answered_at=timezone.now(),
                answered_by=world.biller,
            )
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/region/vg/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] and counts[0] <= 20, counts
