"""Era fakturor: tabs, search, expanded invoices, paging, export, delete and credit, tenancy and query counts."""

import datetime
import io

import lxml.html
import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from billing.selectors import InvoiceSummary
from claims import services
from claims.models import PATIENT_FEE_CODE, Claim, ClaimLine, ClaimState, CreditInvoice, Invoice
from payouts.models import Repayment
from portal.demo.invoices import demo_approved_payout_date, demo_paid_on
from portal.models import AccessLogEntry
from tests.billing.pages import opened_row
from tests.claims.factories import ClaimFactory, InvoiceFactory, tariff_for
from tests.conftest import World
from tests.eligibility.factories import PatientFactory
from tests.test_access_log_walk import personnummer_on
from tests.test_accessibility_markup import assert_accessible_markup

VG_PIN = "200001012384"  # the demo's claims at clinic 31
OTHER_PIN = "200001022391"
PAID_ON = datetime.date(2026, 11, 20)


def _url(world: World, tail: str = "", clinic=None) -> str:
    return f"/klinik/{(clinic or world.clinic31).pk}/fakturor/{tail}"


def _doc(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.document_fromstring(response.content)


def _invoice_rows(doc) -> dict[str, list[str]]:
    """OCR number → the invoice row's cells (Inkom, Belopp, Status, Vår referens, Räkningsstatus)."""
    rows = {}
    for row in doc.xpath("//table[contains(@class, 'invoices')]/tbody/tr[1]"):
        cells = [cell.text_content().strip() for cell in row.xpath("./th|./td")]
        rows[cells[0]] = cells[1:]
    return rows


def _demo_invoice(world: World, claim_reference: str, clinic=None) -> Invoice:
    return Claim.objects.get(clinic=clinic or world.clinic31, reference=claim_reference).invoice


def _all_urls(response) -> list[str]:
    doc = lxml.html.document_fromstring(response.content)
    return [*doc.xpath("//@href | //@action | //@src"), response.get("Location", "")]


@pytest.fixture
def biller(client, world):
    client.force_login(world.biller)
    return client


# Tabs and statuses ------------------------------------------------------------------------------------------


def test_each_tab_lists_the_invoices_its_claims_put_there(biller, world):
    today = timezone.localdate()
    received = _invoice_rows(_doc(biller.get(_url(world))))
    paid = _invoice_rows(_doc(biller.get(_url(world, "utbetalda/"))))
    credits = _invoice_rows(_doc(biller.get(_url(world, "kreditfakturor/"))))
    voided = _invoice_rows(_doc(biller.get(_url(world, "makulerade/"))))

    a, b, c, d, e = (_demo_invoice(world, f"DEMO-{key}1") for key in "ABCDE")
    assert set(received) == {a.reference, b.reference}
    assert set(paid) == {c.reference, d.reference}
    assert set(credits) == {d.reference}
    assert set(voided) == {e.reference}

    assert received[a.reference][2:] == ["Under behandling", "–", "1 räkning under granskning"]
    payout = demo_approved_payout_date(today).isoformat()
    assert received[b.reference][2] == f"Godkänd för utbetalning {payout}"
    paid_on = demo_paid_on(today).isoformat()
    assert paid[c.reference][2:] == [f"Utbetalningsdatum {paid_on}", c.our_reference, ""]
    assert paid[d.reference][2:] == [f"Utbetalningsdatum {paid_on}", d.our_reference, "1 räkning krediterad"]
    assert voided[e.reference][2:] == ["Faktura makulerad", "–", "1 räkning makulerad"]
    assert received[a.reference][0] == today.isoformat()


def test_the_list_says_how_many_it_shows(biller, world):
    doc = _doc(biller.get(_url(world)))
    assert "Visar 2 av 2 fakturor" in doc.text_content()


def test_the_menu_leads_to_era_fakturor(biller, world):
    doc = _doc(biller.get(_url(world, "utbetalda/")))
    (link,) = doc.xpath("//nav[contains(@class, 'main-nav')]//a[normalize-space()='Era fakturor']")
    assert link.get("href") == _url(world)
    assert link.get("aria-current") == "page"
    (tab,) = doc.xpath("//nav[contains(@class, 'tabs')]//a[@aria-current='page']")
    assert tab.text_content().strip() == "Utbetalda"


def test_statuses_of_an_invoice_in_several_states(biller, world):
    invoice = InvoiceFactory(clinic=world.clinic31, reference="4242")
    for state in (ClaimState.UNDER_REVIEW, ClaimState.UNDER_REVIEW, ClaimState.DELETED):
        ClaimFactory(invoice=invoice, state=state)
    ClaimFactory(invoice=invoice, state=ClaimState.VOIDED, void_reason="Fel.")
    rows = _invoice_rows(_doc(biller.get(_url(world))))
    assert rows["4242"][2:] == [
        "Under behandling",
        "–",
        "2 räkningar under granskning, 1 räkning makulerad, 1 räkning raderad",
    ]
    # A voided claim puts the invoice under Makulerade too.
    assert "4242" in _invoice_rows(_doc(biller.get(_url(world, "makulerade/"))))


def test_a_rows_texts_count_its_claims_in_either_language_and_date_it_in_swedish_time():
    received_at = datetime.datetime(2026, 3, 1, 23, 30, tzinfo=datetime.UTC)  # 00:30 on 2 March in Stockholm
    summary = InvoiceSummary(invoice=Invoice(reference="A&1", received_at=received_at), counts={ClaimState.PAID: 1})
    assert summary.received_on == "2026-03-02"
    assert summary.show_claims_text == "Visa 1 räkning i faktura A&1"
    assert summary.all_claims_text == "Alla räkningar i faktura A&1"
    summary.counts[ClaimState.CREDITED] = 10_000
    assert summary.show_claims_text == "Visa 10001 räkningar i faktura A&1"
    with translation.override("en"):
        assert summary.show_claims_text == "Show 10001 claims in invoice A&1"
        assert summary.all_claims_text == "All claims of invoice A&1"


# The expanded invoice ---------------------------------------------------------------------------------------


def test_an_invoice_expands_to_its_claims_with_the_manuals_columns(biller, world):
    doc = _doc(biller.get(_url(world)))
    invoice = _demo_invoice(world, "DEMO-A1")
    (details,) = doc.xpath(
        "//tbody[tr[1]/th[normalize-space()=$ref]]/tr[contains(@class, 'invoice__details')]/td/details",
        ref=invoice.reference,
    )
    assert details.get("open") is None  # closed until the user opens it
    # The list holds no claim: opened, the row fetches them from the invoice's part; without JavaScript its link
    # leads to the invoice's own page.
    assert not doc.xpath("//table[contains(@class,'claims')]")
    (holder,) = details.xpath("./*[@data-invoice-claims]")
    assert holder.get("data-invoice-claims") == _url(world, f"{invoice.pk}/rakningar/")
    assert holder.xpath(".//a/@href") == [_url(world, f"{invoice.pk}/")]
    assert doc.xpath("//script[contains(@src, 'invoice-claims.js')]")

    part = opened_row(biller, doc, invoice.reference)
    headers = [th.text_content().strip() for th in part.xpath("//table[contains(@class,'claims')]/thead//th")]
    assert headers[:7] == [
        "Räkningsreferens",
        "Personnummer",
        "FHB nummer",
        "Patientavgift",
        "Totalsumma",
        "Registrerad av",
        "Status",
    ]
    rows = part.xpath("//table[contains(@class,'claims')]/tbody/tr[1]")
    cells = {
        row.xpath("./th")[0].text_content().strip(): [td.text_content().strip() for td in row.xpath("./td")]
        for row in rows
    }
    assert cells["DEMO-A1"][0] == "20000101-2384"
    assert cells["DEMO-A1"][1] == "–"
    assert cells["DEMO-A1"][2] == "-100\xa0kr"
    assert cells["DEMO-A1"][4] == world.biller.name
    assert cells["DEMO-A1"][5] == "Under behandling"
    assert cells["DEMO-A2"][5] == "Räkningen är under granskning"
    # Radera for open claims, as a POST form to the confirmation page.
    (form,) = rows[0].xpath(".//form")
    assert form.get("method") == "post"
    assert form.get("action").endswith("/radera/")
    facts = part.xpath("//dl[contains(@class,'facts')]")[0].text_content()
    for text in ("Frikort", "Intyg", "intygsnummer 764153", "Tills vidare", "K1", "Demo", "N1, särskilt boende"):
        assert text in facts
    # Radera fakturan stays on the list, in the row.
    assert details.xpath(".//form[@action=$action]", action=_url(world, f"{invoice.pk}/radera/"))


def test_paid_claims_have_kreditera(biller, world):
    doc = _doc(biller.get(_url(world, "utbetalda/")))
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-C1")
    part = opened_row(biller, doc, claim.invoice.reference)
    forms = part.xpath("//form[@action=$action]", action=_url(world, f"rakningar/{claim.pk}/kreditera/"))
    assert len(forms) == 1 and "Kreditera" in forms[0].text_content()


def test_a_list_page_shows_and_logs_no_patient(biller, world):
    AccessLogEntry.objects.all().delete()
    response = biller.get(_url(world))
    assert _invoice_rows(_doc(response))
    assert not personnummer_on(response.content.decode())
    assert not AccessLogEntry.objects.exists()


def test_an_opened_row_logs_the_patients_of_its_claims(biller, world):
    doc = _doc(biller.get(_url(world)))
    AccessLogEntry.objects.all().delete()
    opened_row(biller, doc, _demo_invoice(world, "DEMO-A1").reference)
    entries = list(AccessLogEntry.objects.all())
    assert [entry.personal_identity_number for entry in entries] == [VG_PIN]
    assert entries[0].clinic == world.clinic31 and entries[0].user == world.biller
    assert entries[0].shown == f"Era fakturor: räkningar i faktura {_demo_invoice(world, 'DEMO-A1').reference}"


def test_another_clinics_invoice_does_not_open(biller, world):
    other = ClaimFactory(invoice=InvoiceFactory(clinic=world.clinic2001)).invoice
    AccessLogEntry.objects.all().delete()
    assert biller.get(_url(world, f"{other.pk}/rakningar/")).status_code == 404
    assert not AccessLogEntry.objects.exists()


def test_an_empty_list_logs_no_patient(biller, world):
    AccessLogEntry.objects.all().delete()
    biller.get(_url(world) + "?reference=000")
    assert not AccessLogEntry.objects.exists()


# Search -----------------------------------------------------------------------------------------------------


def test_search_by_invoice_number(biller, world):
    invoice = _demo_invoice(world, "DEMO-A1")
    rows = _invoice_rows(_doc(biller.get(_url(world) + f"?reference={invoice.reference}")))
    assert set(rows) == {invoice.reference}


def test_search_by_claim_number(biller, world):
    rows = _invoice_rows(_doc(biller.get(_url(world) + "?claim_reference=demo-b1")))
    assert set(rows) == {_demo_invoice(world, "DEMO-B1").reference}


def test_search_by_vår_referens_finds_the_paid_invoice_whenever_it_came_in(biller, world):
    # "Ni har fått en inbetalning men vet inte vilken faktura": the payment's Vår referens names it.
    paid = _demo_invoice(world, "DEMO-C1")
    assert paid.our_reference
    old = InvoiceFactory(clinic=world.clinic31, reference="2222", our_reference="612345")
    ClaimFactory(invoice=old, state=ClaimState.PAID, paid_on=PAID_ON)
    Invoice.objects.filter(pk=old.pk).update(received_at=timezone.now() - datetime.timedelta(days=400))
    assert set(_invoice_rows(_doc(biller.get(_url(world, f"utbetalda/?our_reference={paid.our_reference}"))))) == {
        paid.reference
    }
    # Outside the default 30 days, found all the same: no dates were chosen.
    assert set(_invoice_rows(_doc(biller.get(_url(world, "utbetalda/?our_reference=612345"))))) == {"2222"}
    # Dates chosen are kept.
    recent = (timezone.localdate() - datetime.timedelta(days=10)).isoformat()
    assert not _invoice_rows(_doc(biller.get(_url(world, f"utbetalda/?our_reference=612345&date_from={recent}"))))


def test_search_by_vår_referens_of_a_repayment_finds_the_credited_invoice(biller, world):
    credit = CreditInvoice.objects.filter(clinic=world.clinic31).select_related("invoice").first()
    # A plusgiro clinic's repayment, with the Vår referens the region asks it to pay in with.
    Repayment.objects.update_or_create(
        credit_invoice=credit,
        defaults={"region": world.vg, "clinic": world.clinic31, "amount": credit.total, "our_reference": "654321"},
    )
    rows = _invoice_rows(_doc(biller.get(_url(world, "kreditfakturor/?our_reference=654321"))))
    assert set(rows) == {credit.invoice.reference}


def test_search_by_räkningsreferens_outside_the_default_period(biller, world):
    old = InvoiceFactory(clinic=world.clinic31, reference="3333")
    ClaimFactory(invoice=old, reference="GAMMAL-1")
    Invoice.objects.filter(pk=old.pk).update(received_at=timezone.now() - datetime.timedelta(days=90))
    assert set(_invoice_rows(_doc(biller.get(_url(world, "?claim_reference=gammal-1"))))) == {"3333"}


def test_the_period_defaults_to_the_last_30_days(biller, world):
    old = InvoiceFactory(clinic=world.clinic31, reference="1111")
    ClaimFactory(invoice=old)
    Invoice.objects.filter(pk=old.pk).update(received_at=timezone.now() - datetime.timedelta(days=45))
    doc = _doc(biller.get(_url(world)))
    assert "1111" not in _invoice_rows(doc)
    today = timezone.localdate()
    assert doc.xpath("//input[@name='date_from']")[0].get("value") == (today - datetime.timedelta(days=30)).isoformat()
    assert doc.xpath("//input[@name='date_to']")[0].get("value") == today.isoformat()
    earlier = (today - datetime.timedelta(days=60)).isoformat()
    assert "1111" in _invoice_rows(_doc(biller.get(_url(world) + f"?date_from={earlier}")))


def test_a_period_that_ends_before_it_starts_is_an_error(biller, world):
    doc = _doc(biller.get(_url(world) + "?date_from=2026-10-10&date_to=2026-10-01"))
    assert "Slutdatum kan inte ligga före startdatum." in doc.text_content()
    assert not _invoice_rows(doc)


def test_a_posted_search_without_personnummer_becomes_a_get(biller, world):
    response = biller.post(_url(world), {"reference": "93112", "date_from": "2026-01-01", "date_to": ""})
    assert response.status_code == 302
    assert response["Location"] == _url(world) + "?reference=93112&date_from=2026-01-01"


def test_search_by_personnummer_is_posted_and_never_in_a_url(biller, world):
    other = PatientFactory(personal_identity_number=OTHER_PIN)
    invoice = InvoiceFactory(clinic=world.clinic31, reference="5555")
    ClaimFactory(invoice=invoice, patient=other)
    AccessLogEntry.objects.all().delete()

    response = biller.post(_url(world), {"personal_identity_number": "20000102-2391"})
    rows = _invoice_rows(_doc(response))
    assert set(rows) == {"5555"}
    for url in _all_urls(response):
        for spelling in (OTHER_PIN, OTHER_PIN[2:], "20000102-2391", "000102-2391"):
            assert spelling not in url
    logged = AccessLogEntry.objects.get()
    assert logged.personal_identity_number == OTHER_PIN
    assert "sökning på personnummer" in logged.shown


def test_a_search_for_a_patient_without_invoices_is_logged_too(biller, world):
    AccessLogEntry.objects.all().delete()
    response = biller.post(_url(world), {"personal_identity_number": "200001042399"})
    assert not _invoice_rows(_doc(response))
    assert AccessLogEntry.objects.get().personal_identity_number == "200001042399"


def test_a_personnummer_in_the_url_is_ignored(biller, world):
    rows = _invoice_rows(_doc(biller.get(_url(world) + f"?personal_identity_number={OTHER_PIN}")))
    assert len(rows) == 2  # the whole list, not a search


# Paging and query counts ------------------------------------------------------------------------------------


def _invoices_with_claims(clinic, count: int, *, claims_each: int = 2) -> list[Invoice]:
    pins = ["200001011493", "200001012392", "200001018928", "200001022383"]
    invoices = []
    for number in range(count):
        invoice = InvoiceFactory(clinic=clinic, reference=f"80{number:04d}")
        for index in range(claims_each):
            ClaimFactory(invoice=invoice, patient=PatientFactory(personal_identity_number=pins[(number + index) % 4]))
        invoices.append(invoice)
    return invoices


def test_paging_by_25(biller, world):
    _invoices_with_claims(world.clinic32, 30, claims_each=1)
    first = _doc(biller.get(_url(world, clinic=world.clinic32)))
    assert len(_invoice_rows(first)) == 25
    assert "Visar 25 av 30 fakturor" in first.text_content()
    (next_link,) = first.xpath("//nav[contains(@class,'pagination')]//a")
    assert next_link.get("href").startswith("?cursor=")
    second = _doc(biller.get(_url(world, next_link.get("href"), clinic=world.clinic32)))
    assert len(_invoice_rows(second)) == 5
    assert "Visar 5 av 30 fakturor" in second.text_content()
    assert not set(_invoice_rows(first)) & set(_invoice_rows(second))
    # Back again: the first page as it was.
    (previous_link,) = second.xpath("//nav[contains(@class,'pagination')]//a")
    assert _invoice_rows(_doc(biller.get(_url(world, previous_link.get("href"), clinic=world.clinic32)))) == (
        _invoice_rows(first)
    )


def test_paging_at_any_depth_loses_and_repeats_nothing_even_with_equal_times(biller, world):
    invoices = _invoices_with_claims(world.clinic32, 60, claims_each=1)
    # Ten invoices came in at the same moment: the id breaks the tie.
    Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices[20:30]]).update(
        received_at=invoices[20].received_at
    )
    seen, href = [], ""
    for _page in range(5):
        doc = _doc(biller.get(_url(world, href, clinic=world.clinic32)))
        seen += _invoice_rows(doc)
        links = doc.xpath("//nav[contains(@class,'pagination')]//a[@rel='next']")
        if not links:
            break
        href = links[0].get("href")
    assert len(seen) == len(set(seen)) == 60


def test_paging_keeps_the_search(biller, world):
    _invoices_with_claims(world.clinic32, 27, claims_each=1)
    doc = _doc(biller.get(_url(world, "?date_from=2026-01-01", clinic=world.clinic32)))
    (next_link,) = doc.xpath("//nav[contains(@class,'pagination')]//a")
    assert next_link.get("href").startswith("?date_from=2026-01-01&cursor=")


def test_paging_a_personnummer_search_posts_the_next_page(biller, world):
    patient = PatientFactory(personal_identity_number=OTHER_PIN)
    for number in range(27):
        ClaimFactory(invoice=InvoiceFactory(clinic=world.clinic32, reference=f"70{number:03d}"), patient=patient)
    response = biller.post(_url(world, clinic=world.clinic32), {"personal_identity_number": OTHER_PIN})
    doc = _doc(response)
    (form,) = doc.xpath("//nav[contains(@class,'pagination')]//form")
    assert form.get("method") == "post"
    assert form.xpath(".//input[@name='cursor']/@value")
    data = {field.get("name"): field.get("value") for field in form.xpath(".//input")}
    second = _doc(biller.post(_url(world, clinic=world.clinic32), data))
    assert len(_invoice_rows(second)) == 2
    assert all(OTHER_PIN not in url for url in _all_urls(response))


@pytest.mark.parametrize("tab", ["", "utbetalda/"])
def test_a_list_page_runs_the_same_queries_for_3_and_30_invoices(client, world, tab, django_assert_max_num_queries):
    client.force_login(world.biller)
    counts = []
    for clinic, number in ((world.clinic32, 3), (world.clinic2001, 30)):
        invoices = _invoices_with_claims(clinic, number)
        if tab:
            Claim.objects.filter(invoice__in=invoices).update(state=ClaimState.PAID, paid_on=PAID_ON)
        if clinic == world.clinic2001:
            client.force_login(world.dalarna_biller)
        # Session, user, membership, service window, the person's places (for "Byt klinik"), the bell's unread
        # count; count (stopping at 1 001), invoices, the claims' figures by state, credits (and partly credited
        # claims only where an invoice has a credit). No claim: an invoice's are fetched when its row is opened.
        with django_assert_max_num_queries(11), CaptureQueriesContext(connection) as queries:
            response = client.get(_url(world, tab, clinic=clinic))
        assert len(_invoice_rows(_doc(response))) == min(number, 25)
        counts.append(len(queries))
    assert counts[0] == counts[1]


# Export -----------------------------------------------------------------------------------------------------


def _workbook(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    # Streamed from a temporary file, never built in memory (portal.excel.workbook_file_response).
    assert response.streaming
    return openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))


def test_export_of_the_current_list(biller, world):
    AccessLogEntry.objects.all().delete()
    response = biller.get(_url(world, "utbetalda/") + "?export=xlsx")
    assert "attachment" in response["Content-Disposition"]
    assert VG_PIN not in response["Content-Disposition"]
    book = _workbook(response)
    rows = list(book["Fakturor"].iter_rows(values_only=True))
    heading = next(index for index, row in enumerate(rows) if row and row[0] == "OCR/Fakturanummer")
    references = {row[0] for row in rows[heading + 1 :]}
    assert references == {_demo_invoice(world, "DEMO-C1").reference, _demo_invoice(world, "DEMO-D1").reference}
    claims = list(book["Räkningar"].iter_rows(values_only=True))
    assert {row[1] for row in claims[1:]} == {"DEMO-C1", "DEMO-D1", "DEMO-D2"}
    assert {row[2] for row in claims[1:]} == {"20000101-2384"}
    assert AccessLogEntry.objects.get().shown == "Era fakturor: Utbetalda, export till Excel"


def test_export_of_a_personnummer_search_is_posted(biller, world):
    response = biller.post(_url(world), {"personal_identity_number": VG_PIN, "export": "xlsx"})
    book = _workbook(response)
    claims = list(book["Räkningar"].iter_rows(values_only=True))
    assert {row[1] for row in claims[1:]} == {"DEMO-A1", "DEMO-A2", "DEMO-B1"}


# A claim ----------------------------------------------------------------------------------------------------


def test_a_claim_shows_its_lines_and_is_logged(biller, world):
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-A2")
    AccessLogEntry.objects.all().delete()
    doc = _doc(biller.get(_url(world, f"rakningar/{claim.pk}/")))
    codes = [row.xpath("./td")[1].text_content() for row in doc.xpath("//table[caption='Utförda åtgärder']/tbody/tr")]
    assert codes == ["121", "301", PATIENT_FEE_CODE]
    assert "20000101-2384" in doc.text_content()
    assert AccessLogEntry.objects.get().personal_identity_number == VG_PIN
    assert_accessible_markup(doc, "claim detail")


@pytest.mark.parametrize("tail", ["rakningar/{pk}/", "rakningar/{pk}/radera/", "rakningar/{pk}/kreditera/"])
def test_another_clinics_claim_is_not_found(biller, world, tail):
    # The biller works at 31 and 32: 32's claim is still not found through 31, nor Dalarna's.
    for claim in (
        ClaimFactory(invoice__clinic=world.clinic32),
        Claim.objects.get(clinic=world.clinic2001, reference="DEMO-C1"),
    ):
        assert biller.get(_url(world, tail.format(pk=claim.pk))).status_code == 404
        if tail != "rakningar/{pk}/":  # the claim page itself is GET only
            assert biller.post(_url(world, tail.format(pk=claim.pk)), {"confirm": "1"}).status_code == 404
        claim.refresh_from_db()
        assert claim.state != ClaimState.DELETED


def test_another_clinics_invoice_is_not_found(biller, world):
    invoice = _demo_invoice(world, "DEMO-A1", clinic=world.clinic2001)
    assert biller.post(_url(world, f"{invoice.pk}/radera/"), {"confirm": "1"}).status_code == 404
    assert Claim.objects.get(clinic=world.clinic2001, reference="DEMO-A1").state == ClaimState.RECEIVED


def test_a_list_shows_only_the_clinics_own_invoices(biller, world):
    InvoiceFactory(clinic=world.clinic32, reference="3232")
    ClaimFactory(invoice=Invoice.objects.get(clinic=world.clinic32, reference="3232"))
    rows = set(_invoice_rows(_doc(biller.get(_url(world)))))
    assert rows == {_demo_invoice(world, "DEMO-A1").reference, _demo_invoice(world, "DEMO-B1").reference}


# Delete -----------------------------------------------------------------------------------------------------


def test_radera_asks_first_then_deletes(biller, world):
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-A1")
    url = _url(world, f"rakningar/{claim.pk}/radera/")
    confirm = _doc(biller.post(url))  # the list's button
    claim.refresh_from_db()
    assert claim.state == ClaimState.RECEIVED
    assert confirm.xpath("//form//input[@name='confirm']")
    assert_accessible_markup(confirm, "delete confirmation")

    response = biller.post(url, {"confirm": "1"}, follow=True)
    claim.refresh_from_db()
    assert claim.state == ClaimState.DELETED
    assert "Räkning DEMO-A1 är raderad." in response.content.decode()


def test_a_claim_that_is_not_open_cannot_be_deleted(biller, world):
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-B1")  # approved
    doc = _doc(biller.post(_url(world, f"rakningar/{claim.pk}/radera/"), {"confirm": "1"}))
    claim.refresh_from_db()
    assert claim.state == ClaimState.APPROVED
    assert "kan inte raderas" in doc.text_content()


def test_an_invoice_is_deleted_with_its_open_claims(biller, world):
    invoice = _demo_invoice(world, "DEMO-A1")
    response = biller.post(_url(world, f"{invoice.pk}/radera/"), {"confirm": "1"})
    assert response.status_code == 302
    assert set(invoice.claims.values_list("state", flat=True)) == {ClaimState.DELETED}
    assert invoice.reference not in _invoice_rows(_doc(biller.get(_url(world))))


# Credit -----------------------------------------------------------------------------------------------------


def test_kreditera_at_a_bankgiro_clinic_says_the_amount_is_set_off(biller, world):
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-D2")
    url = _url(world, f"rakningar/{claim.pk}/kreditera/")
    page = _doc(biller.post(url))  # the list's button shows the confirmation
    assert CreditInvoice.objects.filter(invoice=claim.invoice).count() == 1  # DEMO-D1's, from the demo
    assert_accessible_markup(page, "credit confirmation")
    lines = page.xpath("//input[@name='lines']/@value")
    response = biller.post(url, {"confirm": "1", "lines": lines}, follow=True)
    claim.refresh_from_db()
    assert claim.state == ClaimState.CREDITED
    credit = CreditInvoice.objects.filter(invoice=claim.invoice).latest("id")
    assert credit.reference == f"{claim.invoice.reference}_Kredit-2"
    text = response.content.decode()
    assert "Beloppet dras av från nästa utbetalning." in text
    assert "Betala in beloppet" not in text
    assert credit.reference in text


def _paid_claim_at(world: World, clinic) -> Claim:
    claim = ClaimFactory(invoice__clinic=clinic, with_line=False, state=ClaimState.APPROVED)
    visit = datetime.date(2026, 10, 1)
    rows = {row.code: row for row in tariff_for(clinic.region, visit).rows.all()}
    for position, (code, amount) in enumerate([("101", 98000), ("121", 40500), (PATIENT_FEE_CODE, -10000)], 1):
        ClaimLine.objects.create(
            claim=claim,
            position=position,
            visit_date=visit,
            code=code,
            tariff_row=rows[code],
            amount=amount,
        )
    Claim.objects.filter(pk=claim.pk).update(total=128500, patient_fee_total=-10000)
    return services.claim_mark_paid(actor=world.coordinator_vg, claim=claim, paid_on=PAID_ON, our_reference="518148")


def test_kreditera_at_a_plusgiro_clinic_says_where_to_pay(biller, world):
    claim = _paid_claim_at(world, world.clinic32)
    line_101 = claim.lines.get(code="101")
    url = _url(world, f"rakningar/{claim.pk}/kreditera/", clinic=world.clinic32)
    response = biller.post(url, {"confirm": "1", "lines": [line_101.pk]}, follow=True)
    credit = CreditInvoice.objects.get(invoice=claim.invoice)
    assert credit.total == 98000
    claim.refresh_from_db()
    assert claim.state == ClaimState.PAID  # 121 is left
    text = response.content.decode()
    assert "Betala in beloppet till regionens bankgiro BG 559-1094 och ange Vår referens 518148." in text
    # The Kreditfakturor tab lists it with the same instruction.
    doc = _doc(biller.get(_url(world, "kreditfakturor/", clinic=world.clinic32)))
    assert claim.invoice.reference in _invoice_rows(doc)
    assert "1 räkning delvis krediterad" in _invoice_rows(doc)[claim.invoice.reference][4]
    assert "ange Vår referens 518148" in doc.text_content()


def test_kreditera_without_a_line_chosen_is_an_error(biller, world):
    claim = _paid_claim_at(world, world.clinic32)
    doc = _doc(biller.post(_url(world, f"rakningar/{claim.pk}/kreditera/", clinic=world.clinic32), {"confirm": "1"}))
    assert doc.xpath("//*[contains(@class,'error-summary')]")
    message = "Välj de åtgärder som ska krediteras, eller välj alla för att kreditera hela räkningen."
    assert message in doc.text_content()
    assert "Detta fält måste fyllas i." not in doc.text_content()
    assert not CreditInvoice.objects.filter(invoice=claim.invoice).exists()


def test_a_claim_that_is_not_paid_cannot_be_credited(biller, world):
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-A1")
    doc = _doc(biller.get(_url(world, f"rakningar/{claim.pk}/kreditera/")))
    assert "Bara utbetalda räkningar kan krediteras" in doc.text_content()
    assert not doc.xpath("//input[@name='lines']")


def test_a_credit_posted_twice_makes_one_credit(biller, world):
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-C1")
    url = _url(world, f"rakningar/{claim.pk}/kreditera/")
    lines = [str(pk) for pk in claim.lines.exclude(code=PATIENT_FEE_CODE).values_list("pk", flat=True)]
    biller.post(url, {"confirm": "1", "lines": lines})
    doc = _doc(biller.post(url, {"confirm": "1", "lines": lines}))
    assert CreditInvoice.objects.filter(invoice=claim.invoice).count() == 1
    assert "Bara utbetalda räkningar kan krediteras" in doc.text_content() or "redan krediterad" in doc.text_content()


def _credit_101(biller, world, claim) -> CreditInvoice:
    url = _url(world, f"rakningar/{claim.pk}/kreditera/", clinic=world.clinic32)
    biller.post(url, {"confirm": "1", "lines": [claim.lines.get(code="101").pk]})
    return CreditInvoice.objects.get(invoice=claim.invoice)


def test_kreditfakturor_lists_a_credit_by_its_own_date_and_an_owed_one_always(biller, world):
    claim = _paid_claim_at(world, world.clinic32)
    long_ago = timezone.now() - datetime.timedelta(days=60)
    Invoice.objects.filter(pk=claim.invoice_id).update(received_at=long_ago)
    credit = _credit_101(biller, world, claim)
    credits_url = _url(world, "kreditfakturor/", clinic=world.clinic32)
    # Made today on an invoice older than the default 30 days: shown.
    assert claim.invoice.reference in _invoice_rows(_doc(biller.get(credits_url)))

    # Made long ago and still owed (the plusgiro repayment not received): shown, whatever the period.
    CreditInvoice.objects.filter(pk=credit.pk).update(created_at=long_ago)
    assert claim.invoice.reference in _invoice_rows(_doc(biller.get(credits_url)))

    # Made long ago and repaid: outside the period, not shown; inside it, shown.
    credit.repayment.received_on = timezone.localdate() - datetime.timedelta(days=40)
    credit.repayment.received_by = world.coordinator_vg
    credit.repayment.save()
    assert claim.invoice.reference not in _invoice_rows(_doc(biller.get(credits_url)))
    period = {"date_from": (timezone.localdate() - datetime.timedelta(days=70)).isoformat()}
    assert claim.invoice.reference in _invoice_rows(_doc(biller.get(credits_url, period)))
