"""Frikort are the region's: registered by a clinic, counted at that region's clinics only, one card per number in
a region, ended or corrected by the region's coordinator with a reason."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from eligibility import selectors, services
from eligibility.models import FreeCard
from portal.models import AccessLogEntry, AuditEvent
from tests.testdata import TEST_PERSONNUMMER

PIN, OTHER_PIN = TEST_PERSONNUMMER[0], TEST_PERSONNUMMER[1]
FROM, TO = datetime.date(2026, 1, 1), datetime.date(2026, 6, 30)
VISIT = datetime.date(2026, 3, 2)

pytestmark = pytest.mark.django_db


def _register(world, *, clinic=None, number="FK100", pin=PIN, valid_from=FROM, valid_to=TO, actor=None):
    return services.free_card_register(
        actor=actor or world.biller,
        clinic=clinic or world.clinic,
        personal_identity_number=pin,
        number=number,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def _free_card_at(world, clinic):
    return selectors.eligibility_for(personal_identity_number=PIN, clinic=clinic, on_date=VISIT).free_card


def test_a_card_belongs_to_the_registering_clinics_region_and_counts_only_there(small_world):
    card = _register(small_world)

    assert card.region == small_world.region
    assert _free_card_at(small_world, small_world.other_clinic) == card  # every clinic of the region
    assert _free_card_at(small_world, small_world.other_region_clinic) is None
    other = selectors.patient_free_cards(region=small_world.other_region, personal_identity_number=PIN)
    assert list(other) == []


def test_another_regions_card_blocks_nothing(small_world):
    """A clinic of one region registered a card on the patient: the patient's own region registers the real one."""
    _register(
        small_world, clinic=small_world.other_region_clinic, number="FALSKT", actor=small_world.other_region_biller
    )

    real = _register(small_world, number="FK100")

    assert _free_card_at(small_world, small_world.clinic) == real
    assert FreeCard.objects.filter(patient=real.patient).count() == 2


def test_the_same_number_in_another_region_is_another_card(small_world):
    here = _register(small_world)
    there = _register(small_world, clinic=small_world.other_region_clinic, actor=small_world.other_region_biller)
    assert here.pk != there.pk and (here.region, there.region) == (small_world.region, small_world.other_region)


def test_the_same_number_in_a_region_is_one_card(small_world):
    first = _register(small_world)
    assert _register(small_world, clinic=small_world.other_clinic).pk == first.pk

    with pytest.raises(ValidationError) as other_dates:
        _register(small_world, valid_to=datetime.date(2026, 12, 31))
    with pytest.raises(ValidationError) as other_patient:
        _register(small_world, pin=OTHER_PIN)

    assert other_dates.value.message_dict == {
        "number": [
            "Frikortet FK100 är redan registrerat för patienten, giltigt 2026-01-01–2026-06-30. "
            "Regionens tandvårdssamordning kan rätta det."
        ]
    }
    assert other_patient.value.message_dict == {
        "number": ["Frikortsnumret är redan registrerat på en annan patient i regionen."]
    }
    assert FreeCard.objects.of_region(small_world.region).count() == 1


def test_a_coordinator_ends_a_card_with_a_reason(small_world):
    card = _register(small_world)
    end = datetime.date(2026, 2, 28)

    services.free_card_end(actor=small_world.coordinator, card=card, valid_to=end, reason="Kortet återkallat.")

    card.refresh_from_db()
    assert card.valid_to == end
    event = AuditEvent.objects.get(action="eligibility.free_card.ended")
    assert event.before["valid_to"] == "2026-06-30"
    assert event.after == {
        "number": "FK100",
        "valid_from": "2026-01-01",
        "valid_to": "2026-02-28",
        "reason": "Kortet återkallat.",
    }
    assert _free_card_at(small_world, small_world.clinic) is None  # the visit is after the new end


def test_a_card_ends_within_its_validity_only(small_world):
    card = _register(small_world)
    with pytest.raises(ValidationError) as caught:
        services.free_card_end(
            actor=small_world.coordinator, card=card, valid_to=TO + datetime.timedelta(days=1), reason="x"
        )
    assert caught.value.message_dict == {
        "valid_to": ["Slutdatum ska ligga inom frikortets giltighet, 2026-01-01–2026-06-30."]
    }


def test_a_coordinator_corrects_a_mistyped_card_with_a_reason(small_world):
    card = _register(small_world, number="FK10O")

    services.free_card_correct(
        actor=small_world.coordinator,
        card=card,
        number="FK100",
        valid_from=FROM,
        valid_to=TO,
        reason="Felskrivet nummer.",
    )

    card.refresh_from_db()
    assert card.number == "FK100"
    event = AuditEvent.objects.get(action="eligibility.free_card.corrected")
    assert (event.before["number"], event.after["number"], event.after["reason"]) == (
        "FK10O",
        "FK100",
        "Felskrivet nummer.",
    )


def test_a_correction_to_a_number_the_region_has_is_refused(small_world):
    _register(small_world, number="FK200", pin=OTHER_PIN)
    card = _register(small_world)
    with pytest.raises(ValidationError) as caught:
        services.free_card_correct(
            actor=small_world.coordinator, card=card, number="FK200", valid_from=FROM, valid_to=TO, reason="x"
        )
    assert caught.value.message_dict == {
        "number": ["Frikortsnumret är redan registrerat på en annan patient i regionen."]
    }
    card.refresh_from_db()
    assert card.number == "FK100"


def test_the_coordinators_pages_show_end_and_log_the_regions_card(client, small_world):
    card = _register(small_world)
    client.force_login(small_world.coordinator)
    url = reverse("free_card_end", kwargs={"region_code": small_world.region.code, "free_card_pk": card.pk})

    page = client.get(url)
    assert page.status_code == 200 and card.number in page.content.decode()
    assert AccessLogEntry.objects.filter(
        user=small_world.coordinator, personal_identity_number=PIN, shown="Avsluta frikort"
    ).exists()

    done = client.post(url, {"valid_to": "2026-03-31", "reason": "Kortet återkallat."})
    assert done.status_code == 200 and "Frikortet är avslutat." in done.content.decode()
    card.refresh_from_db()
    assert card.valid_to == datetime.date(2026, 3, 31)

    client.force_login(small_world.other_region_coordinator)
    foreign = reverse("free_card_end", kwargs={"region_code": small_world.other_region.code, "free_card_pk": card.pk})
    assert client.get(foreign).status_code == 404
