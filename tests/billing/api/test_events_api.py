"""GET /api/v1/events: the key's clinic's events in order, paged by a cursor, another clinic's never shown."""

import pytest
from django.db import transaction

from claims import services as claims_services
from clinics import services as clinics_services
from portal import events as portal_events
from portal.events import NewClinicEvent, clinic_events_record
from portal.models import ClinicEventKind
from tests.claims.factories import ClaimFactory
from tests.waiting import wait_until

from .helpers import call, key_for

pytestmark = pytest.mark.django_db(transaction=True)


def _record(clinic, *object_ids, kind=ClinicEventKind.CLAIM_VOIDED, object_type="claim") -> None:
    with transaction.atomic():
        clinic_events_record(NewClinicEvent(clinic.pk, kind, object_type, n, {"state": "voided"}) for n in object_ids)


def _page(client, secret, query: str = "") -> dict:
    response = call(client, "get", f"events{query}", secret)
    assert response.status_code == 200, response.content
    return response.json()


def _settled(client, secret, count: int) -> dict:
    """The first page once `count` events are in it (the feed waits for every writing transaction that began
    before an event's, other test runs on the database server among them)."""
    page = {}

    def enough() -> bool:
        page.update(_page(client, secret, f"?limit={count}"))
        return len(page["events"]) >= count

    wait_until(enough, timeout=60, what=f"{count} events")
    return page


def test_the_feed_shows_the_keys_clinics_events_in_order_and_pages_by_its_cursor(client, transactional_small_world):
    world = transactional_small_world
    _, secret = key_for(world.clinic)
    _record(world.clinic, 1, 2, 3)
    _record(world.other_clinic, 99)  # the same region's other clinic
    _record(world.other_region_clinic, 98)
    _settled(client, secret, 3)

    first = _page(client, secret, "?limit=2")
    assert [e["object"]["id"] for e in first["events"]] == [1, 2]
    rest = _page(client, secret, f"?after={first['next']}&limit=2")
    assert [e["object"]["id"] for e in rest["events"]] == [3]
    empty = _page(client, secret, f"?after={rest['next']}")
    assert empty == {"events": [], "next": rest["next"]}  # nothing new: the same cursor again

    event = first["events"][0]
    assert set(event) == {"id", "kind", "occurred_at", "object", "data"}
    assert event["kind"] == "claim.voided" and event["data"] == {"state": "voided"}
    assert event["object"]["type"] == "claim"


def test_another_clinics_events_are_never_shown(client, transactional_small_world):
    world = transactional_small_world
    _, secret = key_for(world.other_clinic)
    _record(world.clinic, 1, 2)
    _record(world.other_clinic, 7)
    page = _settled(client, secret, 1)
    assert [e["object"]["id"] for e in page["events"]] == [7]
    # Its cursor does not reach the other clinic's events either.
    assert _page(client, secret, f"?after={page['next']}")["events"] == []


def test_a_voided_claim_is_in_the_feed_without_its_reason(client, transactional_small_world):
    world = transactional_small_world
    _, secret = key_for(world.clinic)
    claim = ClaimFactory(invoice__clinic=world.clinic)
    claims_services.claim_void(actor=world.coordinator, claim=claim, reason="Fel patient, 200001012384.")
    [event] = _settled(client, secret, 1)["events"]
    assert (event["kind"], event["object"]["id"], event["data"]["state"]) == ("claim.voided", claim.pk, "voided")
    assert "200001012384" not in str(event) and "Fel patient" not in str(event)


def test_the_objects_url_is_the_api_resource_where_one_exists(client, transactional_small_world, monkeypatch):
    world = transactional_small_world
    _, secret = key_for(world.clinic)
    _record(world.clinic, 2026, object_type="tariff_year")
    _record(world.clinic, 5, object_type="payout_payment")
    # A resource the API has (the tariffs of a year stand in for one), and one it may not have on this branch.
    monkeypatch.setitem(portal_events.OBJECT_API_PATHS, "tariff_year", "tariffs/{id}")
    monkeypatch.setitem(portal_events.OBJECT_API_PATHS, "payout_payment", "no-such-resource/{id}")
    events = _settled(client, secret, 2)["events"]
    assert events[0]["object"]["url"] == "http://testserver/api/v1/tariffs/2026"
    assert events[1]["object"]["url"] is None


@pytest.mark.parametrize(
    "query,pointer",
    [
        ("?after=abc", "/after"),
        ("?after=1", "/after"),
        ("?limit=0", "/limit"),
        ("?limit=501", "/limit"),
        ("?x=1", "/x"),
    ],
)
def test_a_bad_cursor_limit_or_unknown_parameter_is_a_400_with_its_pointer(
    client, transactional_small_world, query, pointer
):
    _, secret = key_for(transactional_small_world.clinic)
    response = call(client, "get", f"events{query}", secret)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [fault["pointer"] for fault in response.json()["faults"]] == [pointer]


def test_the_feed_needs_a_key(client, transactional_small_world):
    assert call(client, "get", "events").status_code == 401
    key, secret = key_for(transactional_small_world.clinic)
    clinics_services.api_key_revoke(actor=transactional_small_world.admin, key=key)
    assert call(client, "get", "events", secret).status_code == 401
