"""Service windows: the banner three weeks ahead, 503 with Retry-After during one, scheduling and ending them."""

import datetime
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from portal.models import AuditEvent, ServiceWindow
from portal.service_windows import (
    service_window_cancel,
    service_window_end_now,
    service_window_relevant,
    service_window_schedule,
)

CLOSED_TEXT = "Tandportalen är stängd för underhåll"
BANNER_CLASS = 'class="service-banner"'
URL = "/servicefonster/"
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # what a `datetime-local` input sends


class Clock:
    """A controlled `timezone.now()`: every caller of django.utils.timezone.now sees `self.now`."""

    def __init__(self, now: datetime.datetime):
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr("django.utils.timezone.now", clock)
    return clock


def _window(world, *, starts_in: datetime.timedelta, lasts: datetime.timedelta, message: str, now=None):
    starts_at = (now or timezone.now()) + starts_in
    return service_window_schedule(
        actor=world.region_admin, starts_at=starts_at, ends_at=starts_at + lasts, message=message
    )


def _local(value: datetime.datetime) -> str:
    return timezone.localtime(value).strftime(LOCAL_FORMAT)


def _field_block(body: str, field_id: str) -> str:
    """The `<div class="field ...">` that holds the input with id `field_id` (the field, its label and errors)."""
    blocks = re.findall(r'<div class="field[^"]*">.*?</div>\s*(?=<div class="field|<button)', body, flags=re.S)
    matching = [block for block in blocks if f'id="{field_id}"' in block]
    assert len(matching) == 1, f"expected one field block for {field_id}, found {len(matching)}"
    return matching[0]


def _textarea_text(block: str) -> str:
    match = re.search(r"<textarea[^>]*>(.*?)</textarea>", block, flags=re.S)
    assert match, "no textarea in the field block"
    return match.group(1).strip()


# Which window is relevant ------------------------------------------------------------------------


def test_relevant_window_is_announced_from_exactly_three_weeks_ahead(small_world):
    now = timezone.now()
    window = _window(
        small_world, starts_in=datetime.timedelta(days=21), lasts=datetime.timedelta(hours=2), message="x", now=now
    )

    assert service_window_relevant(now) == window
    assert service_window_relevant(now - datetime.timedelta(seconds=1)) is None
    # Once it has ended it is no longer relevant.
    assert service_window_relevant(window.ends_at) is None
    assert service_window_relevant(window.ends_at - datetime.timedelta(seconds=1)) == window


def test_running_window_is_relevant_before_a_later_announced_one(small_world):
    now = timezone.now()
    later = _window(
        small_world, starts_in=datetime.timedelta(days=5), lasts=datetime.timedelta(hours=1), message="senare"
    )
    running = _window(
        small_world, starts_in=-datetime.timedelta(hours=1), lasts=datetime.timedelta(hours=3), message="pågår", now=now
    )

    assert service_window_relevant(now) == running
    assert service_window_relevant(running.ends_at) == later


# The banner --------------------------------------------------------------------------------------


def test_banner_shows_window_starting_in_20_days(client, world):
    _window(world, starts_in=datetime.timedelta(days=20), lasts=datetime.timedelta(hours=4), message="Byte av server")

    response = client.get("/logga-in/")

    body = response.content.decode()
    assert response.status_code == 200
    assert BANNER_CLASS in body
    assert "Planerat servicefönster" in body
    assert "Byte av server" in body


def test_banner_shows_on_a_clinic_page_for_a_logged_in_user(client, world):
    _window(world, starts_in=datetime.timedelta(days=2), lasts=datetime.timedelta(hours=1), message="Uppgradering")
    client.force_login(world.biller)

    response = client.get(f"/klinik/{world.clinic31.pk}/")

    assert response.status_code == 200
    assert BANNER_CLASS in response.content.decode()
    assert "Uppgradering" in response.content.decode()


def test_no_banner_for_window_starting_in_22_days(client, world):
    _window(world, starts_in=datetime.timedelta(days=22), lasts=datetime.timedelta(hours=4), message="Byte av server")

    response = client.get("/logga-in/")

    body = response.content.decode()
    assert response.status_code == 200
    assert BANNER_CLASS not in body
    assert "Byte av server" not in body


def test_no_banner_after_window_has_ended(client, world, clock):
    window = _window(
        world, starts_in=datetime.timedelta(hours=1), lasts=datetime.timedelta(hours=1), message="Byte av server"
    )
    assert BANNER_CLASS in client.get("/logga-in/").content.decode()

    clock.now = window.ends_at
    response = client.get("/logga-in/")

    assert response.status_code == 200
    assert BANNER_CLASS not in response.content.decode()


# During a window ---------------------------------------------------------------------------------


def _pages(world) -> list[str]:
    return ["/logga-in/", "/", f"/klinik/{world.clinic31.pk}/"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_page_answers_503_during_a_window(client, world, method):
    client.force_login(world.biller)
    _window(world, starts_in=-datetime.timedelta(minutes=30), lasts=datetime.timedelta(hours=2), message="Databasbyte")

    for path in _pages(world):
        before = timezone.now()
        response = getattr(client, method)(path)
        after = timezone.now()

        body = response.content.decode()
        assert response.status_code == 503, path
        assert CLOSED_TEXT in body, path
        assert "Databasbyte" in body, path
        window = ServiceWindow.objects.get()
        # Seconds left when the middleware looked at the clock, rounded up.
        retry_after = int(response["Retry-After"])
        assert (window.ends_at - after).total_seconds() <= retry_after, path
        assert retry_after <= (window.ends_at - before).total_seconds() + 1, path


def test_retry_after_is_the_seconds_left_rounded_up(client, world, clock):
    starts_at = clock.now - datetime.timedelta(hours=1)
    service_window_schedule(
        actor=world.region_admin,
        starts_at=starts_at,
        ends_at=clock.now + datetime.timedelta(hours=2, milliseconds=250),
        message="",
    )

    response = client.get("/logga-in/")

    assert response.status_code == 503
    assert response["Retry-After"] == str(2 * 3600 + 1)


def test_pages_are_open_before_and_after_the_window(client, world, clock):
    client.force_login(world.biller)
    clinic_page = f"/klinik/{world.clinic31.pk}/"
    window = _window(
        world, starts_in=datetime.timedelta(hours=1), lasts=datetime.timedelta(hours=2), message="x", now=clock.now
    )
    assert client.get(clinic_page).status_code == 200

    clock.now = window.starts_at
    assert client.get(clinic_page).status_code == 503
    assert client.get("/logga-in/").status_code == 503

    clock.now = window.ends_at
    client.force_login(world.biller)  # three hours later: the session has ended (30 minutes idle)
    assert client.get(clinic_page).status_code == 200
    client.logout()
    login_page = client.get("/logga-in/")
    assert login_page.status_code == 200
    assert "Retry-After" not in login_page
    assert CLOSED_TEXT not in login_page.content.decode()


def test_healthz_answers_during_a_window(client, world):
    _window(world, starts_in=-datetime.timedelta(minutes=5), lasts=datetime.timedelta(hours=1), message="x")
    assert client.get("/logga-in/").status_code == 503

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "Retry-After" not in response


# Scheduling and cancelling through the page -------------------------------------------------------


def test_region_admin_schedules_a_window(client, world):
    client.force_login(world.region_admin)
    starts_at = timezone.localtime().replace(second=0, microsecond=0) + datetime.timedelta(days=30)
    ends_at = starts_at + datetime.timedelta(hours=3)

    response = client.post(
        URL, {"starts_at": _local(starts_at), "ends_at": _local(ends_at), "message": "  Ny databasserver  "}
    )

    assert response.status_code == 302
    assert response["Location"] == URL
    window = ServiceWindow.objects.get()
    assert (window.starts_at, window.ends_at) == (starts_at, ends_at)
    assert window.message == "Ny databasserver"
    assert window.created_by == world.region_admin
    event = AuditEvent.objects.get(action="portal.service_window.scheduled")
    assert event.actor == world.region_admin
    assert event.object_id == str(window.pk)
    assert event.after["message"] == "Ny databasserver"
    assert datetime.datetime.fromisoformat(event.after["starts_at"]) == starts_at

    listing = client.get(URL).content.decode()
    assert "Ny databasserver" in listing
    assert timezone.localtime(starts_at).strftime("%Y-%m-%d %H:%M") in listing


def test_end_before_start_is_refused_beside_the_end_field(client, world):
    client.force_login(world.region_admin)
    starts_at = timezone.localtime().replace(second=0, microsecond=0) + datetime.timedelta(days=30)

    response = client.post(
        URL,
        {
            "starts_at": _local(starts_at),
            "ends_at": _local(starts_at - datetime.timedelta(hours=1)),
            "message": "Mitt meddelande",
        },
    )

    assert response.status_code == 200
    assert not ServiceWindow.objects.exists()
    assert not AuditEvent.objects.filter(action="portal.service_window.scheduled").exists()
    body = response.content.decode()
    assert "Slutet måste ligga efter början." in _field_block(body, "id_ends_at")
    assert "Slutet måste ligga efter början." not in _field_block(body, "id_starts_at")
    assert _textarea_text(_field_block(body, "id_message")) == "Mitt meddelande"


def test_empty_form_is_refused_field_by_field(client, world):
    client.force_login(world.region_admin)

    response = client.post(URL, {})

    assert response.status_code == 200
    assert not ServiceWindow.objects.exists()
    body = response.content.decode()
    for field_id in ("id_starts_at", "id_ends_at", "id_message"):
        assert "Detta fält måste fyllas i." in _field_block(body, field_id), field_id


def test_end_equal_to_start_is_refused(client, world):
    client.force_login(world.region_admin)
    starts_at = timezone.localtime().replace(second=0, microsecond=0) + datetime.timedelta(days=30)

    response = client.post(URL, {"starts_at": _local(starts_at), "ends_at": _local(starts_at), "message": "x"})

    assert response.status_code == 200
    assert not ServiceWindow.objects.exists()
    assert "Slutet måste ligga efter början." in _field_block(response.content.decode(), "id_ends_at")


def test_overlapping_window_is_refused_beside_the_start_field(client, world):
    existing = _window(world, starts_in=datetime.timedelta(days=30), lasts=datetime.timedelta(hours=4), message="Först")
    client.force_login(world.region_admin)
    starts_at = existing.ends_at - datetime.timedelta(hours=1)

    response = client.post(
        URL,
        {
            "starts_at": _local(starts_at),
            "ends_at": _local(starts_at + datetime.timedelta(hours=2)),
            "message": "Andra fönstret",
        },
    )

    assert response.status_code == 200
    assert list(ServiceWindow.objects.all()) == [existing]
    assert AuditEvent.objects.filter(action="portal.service_window.scheduled").count() == 1
    body = response.content.decode()
    assert "Servicefönstret överlappar ett annat servicefönster." in _field_block(body, "id_starts_at")
    assert _textarea_text(_field_block(body, "id_message")) == "Andra fönstret"


@pytest.mark.parametrize(
    ("offset_hours", "length_hours"),
    [(-1, 2), (1, 1), (-1, 6), (3, 2)],
    ids=["ends-inside", "inside", "around", "starts-inside"],
)
def test_schedule_refuses_every_kind_of_overlap(small_world, offset_hours, length_hours):
    existing = _window(
        small_world, starts_in=datetime.timedelta(days=30), lasts=datetime.timedelta(hours=4), message="1"
    )
    starts_at = existing.starts_at + datetime.timedelta(hours=offset_hours)

    with pytest.raises(ValidationError) as error:
        service_window_schedule(
            actor=small_world.region_admin,
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(hours=length_hours),
            message="2",
        )

    assert error.value.message_dict == {"starts_at": ["Servicefönstret överlappar ett annat servicefönster."]}
    assert list(ServiceWindow.objects.all()) == [existing]


def test_window_right_after_another_is_not_an_overlap(small_world):
    first = _window(small_world, starts_in=datetime.timedelta(days=30), lasts=datetime.timedelta(hours=2), message="1")

    second = service_window_schedule(
        actor=small_world.region_admin,
        starts_at=first.ends_at,
        ends_at=first.ends_at + datetime.timedelta(hours=1),
        message="2",
    )

    assert ServiceWindow.objects.count() == 2
    assert second.starts_at == first.ends_at


def test_region_admin_deletes_a_window(client, world):
    window = _window(world, starts_in=datetime.timedelta(days=30), lasts=datetime.timedelta(hours=2), message="Bort")
    client.force_login(world.region_admin)

    response = client.post(f"{URL}{window.pk}/ta-bort/")

    assert response.status_code == 302
    assert response["Location"] == URL
    assert not ServiceWindow.objects.exists()
    event = AuditEvent.objects.get(action="portal.service_window.cancelled")
    assert event.actor == world.region_admin
    assert event.object_id == str(window.pk)
    assert event.before["message"] == "Bort"


def test_cancel_service_records_who_cancelled(small_world):
    window = _window(small_world, starts_in=datetime.timedelta(days=3), lasts=datetime.timedelta(hours=2), message="x")

    service_window_cancel(actor=small_world.region_admin, window=window)

    assert not ServiceWindow.objects.filter(pk=window.pk).exists()
    assert (
        AuditEvent.objects.get(action="portal.service_window.cancelled").actor_email == small_world.region_admin.email
    )


@pytest.mark.parametrize("role", ["coordinator_vg", "biller"])
def test_other_roles_get_404_on_the_service_window_pages(client, world, role):
    window = _window(world, starts_in=datetime.timedelta(days=30), lasts=datetime.timedelta(hours=2), message="x")
    client.force_login(getattr(world, role))
    starts_at = timezone.localtime() + datetime.timedelta(days=60)
    form = {
        "starts_at": _local(starts_at),
        "ends_at": _local(starts_at + datetime.timedelta(hours=1)),
        "message": "y",
    }

    assert client.get(URL).status_code == 404
    assert client.post(URL, form).status_code == 404
    assert client.post(f"{URL}{window.pk}/ta-bort/").status_code == 404
    assert list(ServiceWindow.objects.all()) == [window]


def test_anonymous_user_is_sent_to_login(client, world):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/logga-in/")


# Ending a running window early ------------------------------------------------------------------


def test_end_service_window_command_ends_the_running_window(client, small_world):
    window = _window(
        small_world, starts_in=-datetime.timedelta(hours=1), lasts=datetime.timedelta(hours=3), message="x"
    )
    planned_end = window.ends_at
    assert client.get("/logga-in/").status_code == 503

    call_command("end_service_window")

    window.refresh_from_db()
    assert window.starts_at < window.ends_at <= timezone.now()
    event = AuditEvent.objects.get(action="portal.service_window.ended")
    assert event.object_id == str(window.pk)
    assert datetime.datetime.fromisoformat(event.before["ends_at"]) == planned_end
    assert datetime.datetime.fromisoformat(event.after["ends_at"]) == window.ends_at
    assert client.get("/logga-in/").status_code == 200


def test_end_service_window_command_without_running_window(small_world):
    upcoming = _window(
        small_world, starts_in=datetime.timedelta(hours=1), lasts=datetime.timedelta(hours=1), message="x"
    )

    with pytest.raises(CommandError) as error:
        call_command("end_service_window")

    assert str(error.value) == "Inget servicefönster pågår."

    upcoming.refresh_from_db()
    assert upcoming.ends_at == upcoming.starts_at + datetime.timedelta(hours=1)
    assert not AuditEvent.objects.filter(action="portal.service_window.ended").exists()


def test_end_now_leaves_an_already_ended_window_alone(small_world, clock):
    window = _window(
        small_world, starts_in=-datetime.timedelta(hours=3), lasts=datetime.timedelta(hours=1), message="x"
    )

    service_window_end_now(window=window)

    window.refresh_from_db()
    assert window.ends_at == clock.now - datetime.timedelta(hours=2)
    assert not AuditEvent.objects.filter(action="portal.service_window.ended").exists()
