"""Era fakturor at scale (issue 16): an invoice of a file shows its figures over all its claims and a page of them,
access-logs only the patients shown, the count stops at COUNT_LIMIT, and the export streams all of it."""

import io

import lxml.html
import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import selectors
from billing.invoice_views import EXPANDED_CLAIMS, INVOICE_PAGE_SIZE
from claims.models import Claim, ClaimState, Invoice
from portal.models import AccessLogEntry
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.eligibility.factories import PatientFactory

LARGE = INVOICE_PAGE_SIZE + 7  # two pages on the invoice's own page


@pytest.fixture
def biller(client, world):
    client.force_login(world.biller)
    return client


def _pin(number: int) -> str:
    """A valid personnummer of its own for each number (born 1950-01-01, serial `number`)."""
    digits = f"500101{number:03d}"
    total = 0
    for index, digit in enumerate(digits):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return f"19{digits}{(10 - total % 10) % 10}"


def _large_invoice(clinic, claims: int = LARGE, reference: str = "990001") -> Invoice:
    offset = (int(reference) % 10) * 100
    invoice = InvoiceFactory(clinic=clinic, reference=reference)
    for index in range(claims):
        # Each claim its own patient, so what is access-logged tells which claims were shown.
        ClaimFactory(
            invoice=invoice,
            reference=f"{reference}-{index:04d}",
            patient=PatientFactory(personal_identity_number=_pin(index + offset)),
        )
    return invoice


def _doc(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.document_fromstring(response.content)


def _claim_references(doc) -> list[str]:
    return [th.text_content().strip() for th in doc.xpath("//table[contains(@class,'claims')]/tbody/tr[1]/th")]


def _logged_pins(since: int) -> set[str]:
    """The patients logged after entry `since` (the log is append-only: no test deletes from it)."""
    return set(AccessLogEntry.objects.filter(pk__gt=since).values_list("personal_identity_number", flat=True))


def _mark() -> int:
    return AccessLogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _pins(references) -> set[str]:
    return set(
        Claim.objects.filter(reference__in=list(references)).values_list("patient__personal_identity_number", flat=True)
    )


def test_the_list_shows_a_large_invoices_figures_and_opened_its_first_claims_only(biller, world):
    invoice = _large_invoice(world.clinic32)
    Claim.objects.filter(invoice=invoice, reference__endswith="-0003").update(state=ClaimState.UNDER_REVIEW)
    mark = _mark()
    doc = _doc(biller.get(f"/klinik/{world.clinic32.pk}/fakturor/"))

    assert _claim_references(doc) == []  # the list shows figures; the claims come when the row is opened
    (row,) = doc.xpath("//table[contains(@class,'invoices')]/tbody/tr[1]")
    cells = [cell.text_content().strip() for cell in row.xpath("./th|./td")]
    total = sum(Claim.objects.filter(invoice=invoice).values_list("total", flat=True))
    assert cells[2].replace("\xa0", " ") == f"{total // 100:,} kr".replace(",", " ")
    assert cells[5] == "1 räkning under granskning"  # counted over all the invoice's claims
    assert f"Visa {LARGE} räkningar i faktura 990001" in doc.text_content()
    assert _logged_pins(mark) == set()

    (holder,) = doc.xpath("//*[@data-invoice-claims]")
    part = lxml.html.document_fromstring(biller.get(holder.get("data-invoice-claims")).content.decode())
    expected = [f"990001-{index:04d}" for index in range(EXPANDED_CLAIMS)]
    assert _claim_references(part) == expected
    (link,) = part.xpath("//a[normalize-space()='Alla räkningar i faktura 990001']")
    assert link.get("href") == f"/klinik/{world.clinic32.pk}/fakturor/{invoice.pk}/"
    assert f"Visar de {EXPANDED_CLAIMS} första av {LARGE} räkningar." in " ".join(part.text_content().split())
    # Only the patients of the claims shown are logged.
    assert _logged_pins(mark) == _pins(expected)


def test_an_opened_row_runs_the_same_queries_for_3_and_57_claims(biller, world):
    counts = []
    for claims, reference in ((3, "990002"), (LARGE, "990003")):
        invoice = _large_invoice(world.clinic32, claims, reference)
        with CaptureQueriesContext(connection) as queries:
            response = biller.get(f"/klinik/{world.clinic32.pk}/fakturor/{invoice.pk}/rakningar/")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_invoices_page_pages_its_claims_in_order_and_logs_only_the_page(biller, world):
    invoice = _large_invoice(world.clinic32)
    url = f"/klinik/{world.clinic32.pk}/fakturor/{invoice.pk}/"
    mark = _mark()
    first = _doc(biller.get(url))
    first_refs = _claim_references(first)
    assert len(first_refs) == INVOICE_PAGE_SIZE
    assert _logged_pins(mark) == _pins(first_refs)
    assert f"Visar räkning 1–{INVOICE_PAGE_SIZE} av {LARGE}" in first.text_content()
    (next_link,) = first.xpath("//nav[contains(@class,'pagination')]//a[@rel='next']")

    mark = _mark()
    second = _doc(biller.get(url + next_link.get("href")))
    second_refs = _claim_references(second)
    assert _logged_pins(mark) == _pins(second_refs)
    assert AccessLogEntry.objects.filter(pk__gt=mark).first().shown == "Era fakturor: faktura 990001, sida 2"
    # Every claim once, in order, no gap.
    assert first_refs + second_refs == [f"990001-{index:04d}" for index in range(LARGE)]
    # The figures are the whole invoice's on every page.
    for doc in (first, second):
        facts = doc.xpath("//dl[contains(@class,'facts')]")[0].text_content()
        assert str(LARGE) in facts
    assert biller.get(url + "?sida=3").status_code == 404
    assert biller.get(url + "?sida=x").status_code == 200  # not a number: the first page


def test_another_clinics_invoice_page_is_not_found(biller, world):
    invoice = _large_invoice(world.clinic2001, claims=1)
    assert biller.get(f"/klinik/{world.clinic32.pk}/fakturor/{invoice.pk}/").status_code == 404


def test_the_invoices_page_runs_the_same_queries_for_3_and_57_claims(biller, world):
    counts = []
    for invoice in (_large_invoice(world.clinic32, 3, "990002"), _large_invoice(world.clinic32, LARGE, "990003")):
        with CaptureQueriesContext(connection) as queries:
            assert biller.get(f"/klinik/{world.clinic32.pk}/fakturor/{invoice.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_count_stops_at_its_limit(biller, world, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 3)
    for number in range(5):
        ClaimFactory(invoice=InvoiceFactory(clinic=world.clinic32, reference=f"77{number}"))
    doc = _doc(biller.get(f"/klinik/{world.clinic32.pk}/fakturor/"))
    assert "Visar 5 av fler än 3 fakturor" in doc.text_content()


def test_the_export_streams_every_claim_of_a_large_invoice(biller, world):
    invoice = _large_invoice(world.clinic32)
    mark = _mark()
    response = biller.get(f"/klinik/{world.clinic32.pk}/fakturor/?export=xlsx")
    assert response.streaming
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    claims = list(book["Räkningar"].iter_rows(values_only=True))[1:]
    assert [row[1] for row in claims] == [f"990001-{index:04d}" for index in range(LARGE)]
    assert {row[7] for row in claims} == {"Under behandling"}
    invoices = list(book["Fakturor"].iter_rows(values_only=True))
    (row,) = [row for row in invoices if row and row[0] == "990001"]
    assert row[2] * 100 == sum(Claim.objects.filter(invoice=invoice).values_list("total", flat=True))
    # The export shows every claim: every patient of them is logged.
    assert len(_logged_pins(mark)) == LARGE
