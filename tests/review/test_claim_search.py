"""The coordinator's Räkningar finds anything in one search: att hantera by default, Fråga väntar / Besvarad,
OCR, räkningsreferens, Vår referens and personnummer (posted, kept in the session, never in a URL); it pages by
cursor on an index at any depth."""

import lxml.html
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from claims.models import Claim, ClaimState, Invoice
from portal.keyset import keyset_page
from portal.models import AccessLogEntry
from review import selectors
from review.selectors import ClaimFilter
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.clinics.factories import ClinicFactory
from tests.conftest import World
from tests.eligibility.factories import PatientFactory
from tests.kept import kept

from .factories import ClaimQuestionFactory

LIST = "/region/vg/rakningar/"
PIN = "200001022391"


def _listed(response) -> set[str]:
    assert response.status_code == 200, response.status_code
    doc = lxml.html.document_fromstring(response.content)
    return {th.text_content().strip() for th in doc.xpath("//table[contains(@class,'review-claims')]/tbody/tr/th")}


def _urls(response) -> list[str]:
    doc = lxml.html.document_fromstring(response.content)
    return [*doc.xpath("//@href | //@action | //@src"), response.get("Location", "")]


@pytest.fixture
def coordinator(client, world):
    client.force_login(world.coordinator_vg)
    return client


def _queue(world: World) -> dict[str, Claim]:
    """Claims at clinic 31 in every situation of the review."""
    answered = ClaimFactory(invoice__clinic=world.clinic31, reference="Q-ANSWERED", state=ClaimState.UNDER_REVIEW)
    ClaimQuestionFactory(
        claim=answered,
        asked_by=world.coordinator_vg,
        answer="Tand 36.",
        answered_at=timezone.now(),
        answered_by=world.biller,
    )
    waiting = ClaimFactory(invoice__clinic=world.clinic31, reference="Q-WAITING", state=ClaimState.UNDER_REVIEW)
    ClaimQuestionFactory(claim=waiting, asked_by=world.coordinator_vg)
    return {
        "review": ClaimFactory(invoice__clinic=world.clinic31, reference="Q-REVIEW", state=ClaimState.UNDER_REVIEW),
        "answered": answered,
        "waiting": waiting,
        "received": ClaimFactory(invoice__clinic=world.clinic31, reference="Q-RECEIVED"),
        "paid": ClaimFactory(invoice__clinic=world.clinic31, reference="Q-PAID", state=ClaimState.PAID),
    }


# The same claims for each test of the queue: made once per module (tests/kept.py).
queue_made = kept(_queue, "queue_made", "demo_world")


@pytest.fixture
def queue(queue_made, world) -> dict[str, Claim]:
    return queue_made.fresh()


def _ours(listed: set[str]) -> set[str]:
    return {reference for reference in listed if reference.startswith("Q-")}


def test_the_list_shows_what_is_to_handle_by_default(coordinator, queue):
    response = coordinator.get(LIST)
    # Under granskning, an answered question included; not what waits for the clinic, nor the rest.
    assert _ours(_listed(response)) == {"Q-REVIEW", "Q-ANSWERED"}
    doc = lxml.html.document_fromstring(response.content)
    assert doc.xpath("//select[@name='queue']/option[@selected]/@value") == ["to_handle"]
    assert "Att hantera" in doc.xpath("//h2[@id='result-title']")[0].text_content()


def test_visa_alla_shows_every_claim(coordinator, queue):
    assert _ours(_listed(coordinator.get(LIST, {"queue": ""}))) == {
        "Q-REVIEW",
        "Q-ANSWERED",
        "Q-WAITING",
        "Q-RECEIVED",
        "Q-PAID",
    }


@pytest.mark.parametrize(
    "question,expected",
    [("waiting", {"Q-WAITING"}), ("answered", {"Q-ANSWERED"})],
)
def test_the_question_filter(coordinator, queue, question, expected):
    assert _ours(_listed(coordinator.get(LIST, {"queue": "", "question": question}))) == expected


def test_the_question_column_says_fråga_väntar_or_besvarad(coordinator, queue):
    doc = lxml.html.document_fromstring(coordinator.get(LIST, {"queue": ""}).content)

    def cell(reference):
        return doc.xpath("//tbody/tr[th=$ref]/td[last()]", ref=reference)[0].text_content().strip()

    assert (cell("Q-WAITING"), cell("Q-ANSWERED"), cell("Q-REVIEW")) == ("Fråga väntar", "Besvarad", "–")


def test_each_row_links_to_its_claims_page_and_says_its_status(coordinator, world, queue):
    """The rows' links and status words are made once a page (review.views.claim_list), as reverse and the state's
    label would give them; an approved claim says its payout date."""
    approved = ClaimFactory(
        invoice__clinic=world.clinic31,
        reference="Q-APPROVED",
        state=ClaimState.APPROVED,
        approved_on=timezone.localdate(),
    )
    doc = lxml.html.document_fromstring(coordinator.get(LIST, {"queue": ""}).content)

    def row(claim):
        return doc.xpath("//tbody/tr[th=$ref]", ref=claim.reference)[0]

    for claim in (*queue.values(), approved):
        href = row(claim).xpath("th/a/@href")[0]
        assert href == reverse("review_claim_detail", kwargs={"region_code": "vg", "claim_pk": claim.pk})
        assert coordinator.get(href).status_code == 200
    status = {name: row(claim).xpath("td")[5].text_content().strip() for name, claim in queue.items()}
    assert status == {
        "review": "Under granskning",
        "answered": "Under granskning",
        "waiting": "Under granskning",
        "received": "Under behandling",
        "paid": "Utbetald",
    }
    assert row(approved).xpath("td")[5].text_content().strip() == (
        f"Godkänd för utbetalning {timezone.localdate().isoformat()}"
    )


def test_the_clinic_filter_lists_the_regions_clinics_by_number_and_name(coordinator, world, queue):
    doc = lxml.html.document_fromstring(coordinator.get(LIST).content)
    options = doc.xpath("//select[@name='clinic']/option")
    assert (options[0].get("value"), options[0].text_content()) == ("", "Alla")
    assert (str(world.clinic31.pk), f"{world.clinic31.number} {world.clinic31.name}") in {
        (option.get("value"), option.text_content()) for option in options
    }
    assert str(world.clinic2001.pk) not in {option.get("value") for option in options}  # Dalarna's
    doc = lxml.html.document_fromstring(coordinator.get(LIST, {"queue": "", "clinic": world.clinic31.pk}).content)
    assert doc.xpath("//select[@name='clinic']/option[@selected]/@value") == [str(world.clinic31.pk)]
    assert _ours(_listed(coordinator.get(LIST, {"queue": "", "clinic": world.clinic31.pk}))) == {
        claim.reference for claim in queue.values()
    }


def test_the_clinic_options_are_escaped_and_the_chosen_one_is_selected_once(coordinator, world):
    odd = ClinicFactory(region=world.vg, number="9901", name='Tand & <Kliniken> "Ett"')
    response = coordinator.get(LIST, {"queue": "", "clinic": odd.pk})
    html = response.content.decode()
    assert f'<option value="{odd.pk}" selected>9901 Tand &amp; &lt;Kliniken&gt; &quot;Ett&quot;</option>' in html
    doc = lxml.html.document_fromstring(response.content)
    assert doc.xpath("//select[@name='clinic']/option[@selected]/@value") == [str(odd.pk)]


def test_search_by_ocr_räkningsreferens_and_vår_referens(coordinator, world, queue):
    paid = queue["paid"]
    Invoice.objects.filter(pk=paid.invoice_id).update(reference="9988776", our_reference="634567")
    assert _listed(coordinator.get(LIST, {"reference": "9988776"})) == {"Q-PAID"}
    assert _listed(coordinator.get(LIST, {"claim_reference": "q-received"})) == {"Q-RECEIVED"}
    assert _listed(coordinator.get(LIST, {"our_reference": "634567"})) == {"Q-PAID"}


def test_another_regions_claim_is_never_found(coordinator, world):
    ClaimFactory(invoice__clinic=world.clinic2001, reference="Q-DALARNA")
    assert _listed(coordinator.get(LIST, {"claim_reference": "Q-DALARNA"})) == set()


def test_search_by_personnummer_is_posted_and_kept_out_of_every_url(coordinator, world, queue):
    patient = PatientFactory(personal_identity_number=PIN)
    ClaimFactory(invoice__clinic=world.clinic31, reference="Q-PATIENT-1", patient=patient, state=ClaimState.PAID)
    ClaimFactory(invoice__clinic=world.clinic32, reference="Q-PATIENT-2", patient=patient)
    ClaimFactory(invoice__clinic=world.clinic2001, reference="Q-PATIENT-DALARNA", patient=patient)
    AccessLogEntry.objects.all().delete()
    posted = coordinator.post(LIST, {"personal_identity_number": "20000102-2391"})
    assert posted.status_code == 302
    location = posted["Location"]
    assert PIN not in location and "000102" not in location and "sok=" in location
    shown = coordinator.get(location)
    # Every state: the patient's claims in the region, not another region's.
    assert _listed(shown) == {"Q-PATIENT-1", "Q-PATIENT-2"}
    assert all(PIN not in url and "000102-2391" not in url for url in _urls(shown))
    entries = AccessLogEntry.objects.all()
    assert {entry.personal_identity_number for entry in entries} == {PIN}
    assert {entry.shown for entry in entries} == {"Granskning: inkomna räkningar, sökning på personnummer"}


def test_a_personnummer_search_of_a_patient_without_claims_is_logged(coordinator, world):
    AccessLogEntry.objects.all().delete()
    shown = coordinator.get(coordinator.post(LIST, {"personal_identity_number": PIN})["Location"])
    assert _listed(shown) == set()
    assert list(AccessLogEntry.objects.values_list("personal_identity_number", flat=True)) == [PIN]


def test_a_token_of_another_session_finds_nothing(coordinator, client_factory=None):
    response = coordinator.get(LIST, {"sok": "not-a-token"})
    assert response.status_code == 302
    assert response["Location"] == LIST


def test_a_wrong_personnummer_is_shown_by_its_field(coordinator):
    response = coordinator.post(LIST, {"personal_identity_number": "19121212-1213"})
    assert response.status_code == 200
    doc = lxml.html.document_fromstring(response.content)
    assert doc.xpath("//div[contains(@class,'field--error')]//input[@name='personal_identity_number']")


def _plan(sql: str, params=()) -> str:
    """The plan of `sql` when the database may neither scan whole tables nor sort: it finds one only if an index
    gives the rows in the list's order from the cursor on (as it chooses, with real statistics, for a LIMIT)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _deep_page_sql(queryset, stamp_field: str) -> str:
    first = keyset_page(queryset, cursor=None, size=10, stamp_field=stamp_field, count=False)
    assert first.next_cursor
    with CaptureQueriesContext(connection) as queries:
        second = keyset_page(queryset, cursor=first.next_cursor, size=10, stamp_field=stamp_field, count=False)
    assert len(second.object_list) == 10
    (sql,) = [q["sql"] for q in queries.captured_queries if "LIMIT" in q["sql"] and "ORDER BY" in q["sql"]][:1]
    assert "OFFSET" not in sql
    return sql


def test_a_deep_page_of_räkningar_is_read_from_the_keyset_index_not_by_offset(world):
    invoice = InvoiceFactory(clinic=world.clinic31)
    ClaimFactory.create_batch(30, invoice=invoice, with_line=False)
    queryset = selectors.region_claims(region=world.vg, claim_filter=ClaimFilter())
    plan = _plan(_deep_page_sql(queryset, "created_at"))
    assert "claim_created_keyset" in plan, plan
    assert " Sort " not in f" {plan} " and "Sort Key" not in plan, plan


def test_a_deep_page_of_era_fakturor_is_read_from_the_keyset_index_not_by_offset(world):
    InvoiceFactory.create_batch(30, clinic=world.clinic32)
    queryset = Invoice.objects.of_clinic(world.clinic32).order_by("-received_at", "-id")
    plan = _plan(_deep_page_sql(queryset, "received_at"))
    assert "invoice_clinic_received_keyset" in plan, plan
    assert "Sort Key" not in plan, plan
