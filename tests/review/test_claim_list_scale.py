"""Räkningar at a million claims: pages by cursor to both ends, a count that stops at a cap, a fixed number of
queries whatever the list holds, and each filter's order read from an index."""

import datetime

import lxml.html
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from claims.models import Claim, ClaimState
from portal.keyset import LAST, keyset_page_or_last
from review import selectors
from review.selectors import ClaimFilter, ClaimQueue
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.eligibility.factories import TEST_PINS, PatientFactory

LIST = "/region/vg/rakningar/"
PERIOD = {"date_from": "2025-03-01", "date_to": "2025-03-31"}


def _doc(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.document_fromstring(response.content)


def _text(doc) -> str:
    return " ".join(doc.xpath("//main")[0].text_content().split())


def _listed(doc) -> list[str]:
    return [th.text_content().strip() for th in doc.xpath("//table[contains(@class,'review-claims')]/tbody/tr/th")]


def _link(doc, text: str) -> str | None:
    links = doc.xpath("//nav[contains(@class,'pagination')]//a[normalize-space()=$text]/@href", text=text)
    return links[0] if links else None


def _claims(clinic, count: int, prefix: str = "K", state=ClaimState.RECEIVED) -> list[str]:
    """`count` claims in March 2025 at three moments only (the id orders those of one moment); their references
    newest first, as the list shows them."""
    invoice = InvoiceFactory(clinic=clinic)
    patients = [PatientFactory() for _ in range(min(count, len(TEST_PINS)))]
    # In one INSERT (ids in this order) and one UPDATE per moment, not two queries and a patient each.
    claims = Claim.objects.bulk_create(
        ClaimFactory.build(
            invoice=invoice, patient=patients[number % len(patients)], reference=f"{prefix}-{number:03d}", state=state
        )
        for number in range(count)
    )
    moments = [timezone.make_aware(datetime.datetime(2025, 3, 10 + number % 3, 10)) for number in range(count)]
    for moment in set(moments):
        Claim.objects.filter(pk__in=[c.pk for c, at in zip(claims, moments, strict=True) if at == moment]).update(
            created_at=moment
        )
    made = [(moment, claim.pk, claim.reference) for claim, moment in zip(claims, moments, strict=True)]
    return [reference for _, _, reference in sorted(made, reverse=True)]


@pytest.fixture
def coordinator(client, world):
    client.force_login(world.coordinator_vg)
    return client


def test_the_last_page_holds_the_oldest_claims_and_walking_back_from_it_gives_each_claim_once(coordinator, world):
    newest_first = _claims(world.clinic31, 120)
    first = _doc(coordinator.get(LIST, {**PERIOD, "clinic": world.clinic31.pk}))
    assert _listed(first) == newest_first[:50]
    assert _link(first, "Första sidan") is None
    last_href = _link(first, "Sista sidan")
    assert f"clinic={world.clinic31.pk}" in last_href and "date_from=2025-03-01" in last_href

    page = _doc(coordinator.get(LIST + last_href))
    assert _listed(page) == newest_first[70:]
    assert _link(page, "Sista sidan") is None and _link(page, "Nästa sida") is None
    seen = _listed(page)
    while href := _link(page, "Föregående sida"):
        assert f"clinic={world.clinic31.pk}" in href
        page = _doc(coordinator.get(LIST + href))
        seen = _listed(page) + seen
    assert seen == newest_first  # in order, none twice, none left out
    # The page before the last-but-one is the start of the list: it offers the way to the first page no more.
    assert _listed(page) == newest_first[:20]


def test_the_first_page_link_leads_back_to_the_start_with_the_filter(coordinator, world):
    newest_first = _claims(world.clinic31, 60)
    first = _doc(coordinator.get(LIST, {**PERIOD, "clinic": world.clinic31.pk}))
    second = _doc(coordinator.get(LIST + _link(first, "Nästa sida")))
    assert _listed(second) == newest_first[50:]
    again = _doc(coordinator.get(LIST + _link(second, "Första sidan")))
    assert _listed(again) == newest_first[:50]


def test_the_count_stops_at_its_cap(coordinator, world, monkeypatch):
    _claims(world.clinic31, 12)
    monkeypatch.setattr("review.views.COUNT_CAP", 10)
    doc = _doc(coordinator.get(LIST, {**PERIOD, "clinic": world.clinic31.pk}))
    assert "Visar 12 av fler än 10 räkningar Räkna alla" in _text(doc)
    monkeypatch.setattr("review.views.COUNT_CAP", 12)
    doc = _doc(coordinator.get(LIST, {**PERIOD, "clinic": world.clinic31.pk}))
    assert "Visar 12 av 12 räkningar" in _text(doc) and "Räkna alla" not in _text(doc)


def _count_link(doc) -> str:
    (href,) = doc.xpath("//p[contains(@class,'result-count')]/a[normalize-space()='Räkna alla']/@href")
    return href


def test_each_page_counts_no_further_than_its_cap_and_rakna_alla_counts_the_same_page_further(
    coordinator, world, monkeypatch
):
    """A page's count reads at most COUNT_CAP + 1 rows (LIMIT in the count's SQL); Räkna alla shows the same page,
    filter kept, counted up to COUNT_ASKED_CAP, and the pages after it count to the cap again."""
    newest_first = _claims(world.clinic31, 60)
    monkeypatch.setattr("review.views.COUNT_CAP", 10)
    monkeypatch.setattr("review.views.COUNT_ASKED_CAP", 59)
    params = {**PERIOD, "clinic": world.clinic31.pk}
    with CaptureQueriesContext(connection) as captured:
        first = _doc(coordinator.get(LIST, params))
    counts = [
        q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper() and "claims_claim" in q["sql"]
    ]
    assert counts and all("LIMIT 11" in sql for sql in counts), counts
    second = _doc(coordinator.get(LIST + _link(first, "Nästa sida")))
    assert _listed(second) == newest_first[50:]
    asked = _doc(coordinator.get(LIST + _count_link(second)))
    assert _listed(asked) == newest_first[50:]  # the same page, the same filter
    assert "Visar 10 av fler än 59 räkningar" in _text(asked) and "Räkna alla" not in _text(asked)
    monkeypatch.setattr("review.views.COUNT_ASKED_CAP", 100)
    asked = _doc(coordinator.get(LIST + _count_link(second)))
    assert "Visar 10 av 60 räkningar" in _text(asked)
    again = _doc(coordinator.get(LIST + _link(asked, "Första sidan")))
    assert _listed(again) == newest_first[:50] and "Visar 50 av fler än 10 räkningar" in _text(again)


def test_each_page_costs_the_same_number_of_queries_however_many_claims(coordinator, world):
    def queries(params) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = coordinator.get(LIST, params)
        assert response.status_code == 200
        return len(captured.captured_queries)

    params = {**PERIOD, "clinic": world.clinic31.pk}
    _claims(world.clinic31, 3, prefix="A")
    few = queries(params), queries({**params, "cursor": LAST})
    _claims(world.clinic31, 70, prefix="B")
    many = queries(params), queries({**params, "cursor": LAST})
    assert few == many


def _plan(queryset) -> str:
    """The plan when the database may neither scan whole tables nor sort (test_claim_search._plan)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("claim_filter", "index"),
    [
        (ClaimFilter(queue=ClaimQueue.TO_HANDLE), "claim_state_created"),
        (ClaimFilter(state=ClaimState.RECEIVED), "claim_state_created"),
        (ClaimFilter(state=ClaimState.PAID), "claim_paid_created"),
        (ClaimFilter(), "claim_created_keyset"),
    ],
)
def test_each_filters_pages_read_an_index_in_the_lists_order(world, claim_filter, index):
    _claims(world.clinic31, 12)
    _claims(world.clinic31, 12, prefix="P", state=ClaimState.PAID)
    queryset = selectors.region_claims(region=world.vg, claim_filter=claim_filter)
    with CaptureQueriesContext(connection) as captured:
        keyset_page_or_last(queryset, cursor=LAST, size=5, stamp_field="created_at")
        keyset_page_or_last(queryset, cursor=None, size=5, stamp_field="created_at")
    for query in captured.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN {query['sql']}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert index in plan, plan
        assert "Sort Key" not in plan, plan


def test_a_clinics_pages_read_its_own_index(world):
    _claims(world.clinic31, 12)
    queryset = selectors.region_claims(region=world.vg, claim_filter=ClaimFilter(clinic=world.clinic31))
    plan = _plan(queryset[:6])
    assert "claim_clinic_created" in plan, plan
    assert "Sort Key" not in plan, plan
