"""Service windows per region: planned by the region's administrators (the whole portal's only by a
systemadministratör), once or every week, never in the past, confirmed when they start within the hour; during one
the region's pages answer 503 with Retry-After while logging in, /healthz and the service-window pages stay open."""

import datetime
import re
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from clinics.models import RegionRole
from portal.models import AuditEvent, Recurrence, ServiceWindow, Weekday
from portal.service_windows import (
    service_window_cancel,
    service_window_end_now,
    service_window_occurrences,
    service_window_relevant,
    service_window_schedule,
)
from tests.clinics.factories import RegionMembershipFactory, UserFactory

CLOSED_TEXT = "Tandportalen är stängd för underhåll"
BANNER_CLASS = 'class="service-banner"'
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # what a `datetime-local` input sends
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
PAST = "Servicefönstret kan inte börja i det förflutna."
END_BEFORE_START = "Slutet måste ligga efter början."
CONFIRM = "Servicefönstret börjar inom en timme och stänger sidorna direkt. Bekräfta att det ska börja så snart."
OVERLAP = "Servicefönstret överlappar ett annat servicefönster."
PORTAL_WIDE_ONLY_SYSTEM = "Bara en systemadministratör kan planera ett servicefönster för hela portalen."
# Saturday 2 January 2027, noon, Swedish time: the next day is a Sunday.
SATURDAY_NOON = datetime.datetime(2027, 1, 2, 12, 0, tzinfo=STOCKHOLM)
SUNDAY_3 = datetime.datetime(2027, 1, 3, 3, 0, tzinfo=STOCKHOLM)
MONDAY_3 = datetime.datetime(2027, 1, 4, 3, 0, tzinfo=STOCKHOLM)


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


def _once(actor, region, *, starts_in, lasts, message="x", now=None, confirmed=True):
    now = now or timezone.now()
    return service_window_schedule(
        actor=actor,
        region=region,
        starts_at=now + starts_in,
        ends_at=now + starts_in + lasts,
        message=message,
        confirmed=confirmed,
        now=now,
    )


def _sundays(actor, region, *, now=SATURDAY_NOON, message="Varje söndag"):
    """'varje söndag 00–06', planned on a Saturday."""
    return service_window_schedule(
        actor=actor,
        region=region,
        recurrence=Recurrence.WEEKLY,
        weekday=Weekday.SUNDAY,
        start_time=datetime.time(0, 0),
        end_time=datetime.time(6, 0),
        message=message,
        now=now,
    )


def _running(region, *, actor, started=datetime.timedelta(minutes=30), lasts=datetime.timedelta(hours=2), message="x"):
    """A one-off window that began `started` ago (made directly: the service refuses a start in the past)."""
    now = timezone.now()
    return ServiceWindow.objects.create(
        region=region, starts_at=now - started, ends_at=now - started + lasts, message=message, created_by=actor
    )


def _local(value: datetime.datetime) -> str:
    return timezone.localtime(value).strftime(LOCAL_FORMAT)


def _field_block(body: str, field_id: str) -> str:
    """The `<div class="field ...">` that holds the input with id `field_id` (the field, its label and errors)."""
    blocks = re.findall(r'<div class="field[^"]*">.*?</div>\s*(?=<div class="field|<button)', body, flags=re.S)
    matching = [block for block in blocks if f'id="{field_id}"' in block]
    assert len(matching) == 1, f"expected one field block for {field_id}, found {len(matching)}"
    return matching[0]


def _dalarna_admin(world):
    return RegionMembershipFactory(
        user__name="Dora Dalaadministratör", region=world.dalarna, role=RegionRole.REGION_ADMIN
    ).user


def _system_admin():
    return UserFactory(name="Sam Systemadministratör", is_system_admin=True)


# The rules -----------------------------------------------------------------------------------------------------


def test_a_window_in_the_past_is_refused(small_world):
    now = timezone.now()

    with pytest.raises(ValidationError) as error:
        _once(
            small_world.region_admin,
            small_world.region,
            starts_in=-datetime.timedelta(minutes=5),
            lasts=datetime.timedelta(hours=1),
            now=now,
        )

    assert error.value.message_dict == {"starts_at": [PAST]}
    assert not ServiceWindow.objects.exists()


def test_a_start_in_the_current_minute_is_now_not_the_past(small_world):
    now = datetime.datetime(2030, 5, 6, 10, 15, 40, tzinfo=STOCKHOLM)

    window = service_window_schedule(
        actor=small_world.region_admin,
        region=small_world.region,
        starts_at=now.replace(second=0),
        ends_at=now + datetime.timedelta(hours=1),
        message="x",
        confirmed=True,
        now=now,
    )

    assert window.starts_at == now.replace(second=0)


@pytest.mark.parametrize("lasts", [datetime.timedelta(0), -datetime.timedelta(hours=1)], ids=["equal", "before"])
def test_the_end_must_come_after_the_start(small_world, lasts):
    with pytest.raises(ValidationError) as error:
        _once(small_world.region_admin, small_world.region, starts_in=datetime.timedelta(days=3), lasts=lasts)

    assert error.value.message_dict == {"ends_at": [END_BEFORE_START]}


def test_a_window_starting_within_the_hour_needs_a_confirmation(small_world):
    now = timezone.now()
    soon = {"starts_in": datetime.timedelta(minutes=59), "lasts": datetime.timedelta(hours=1), "now": now}

    with pytest.raises(ValidationError) as error:
        _once(small_world.region_admin, small_world.region, confirmed=False, **soon)
    assert error.value.message_dict == {"confirm_soon": [CONFIRM]}
    assert not ServiceWindow.objects.exists()

    window = _once(small_world.region_admin, small_world.region, confirmed=True, **soon)
    assert window.starts_at == now + datetime.timedelta(minutes=59)


def test_a_window_an_hour_or_more_ahead_needs_no_confirmation(small_world):
    window = _once(
        small_world.region_admin,
        small_world.region,
        starts_in=datetime.timedelta(hours=1),
        lasts=datetime.timedelta(hours=1),
        confirmed=False,
    )

    assert ServiceWindow.objects.get() == window


def test_only_a_system_administrator_plans_a_window_for_the_whole_portal(small_world):
    with pytest.raises(ValidationError) as error:
        _once(small_world.region_admin, None, starts_in=datetime.timedelta(days=3), lasts=datetime.timedelta(hours=1))
    assert error.value.messages == [PORTAL_WIDE_ONLY_SYSTEM]

    window = _once(_system_admin(), None, starts_in=datetime.timedelta(days=3), lasts=datetime.timedelta(hours=1))
    assert window.region is None


def test_overlap_is_refused_within_a_region_only(small_world):
    first = _once(
        small_world.region_admin,
        small_world.region,
        starts_in=datetime.timedelta(days=30),
        lasts=datetime.timedelta(hours=4),
    )
    starts_in = datetime.timedelta(days=30, hours=3)

    with pytest.raises(ValidationError) as error:
        _once(small_world.region_admin, small_world.region, starts_in=starts_in, lasts=datetime.timedelta(hours=2))
    assert error.value.message_dict == {"starts_at": [OVERLAP]}

    other = _once(
        small_world.region_admin, small_world.other_region, starts_in=starts_in, lasts=datetime.timedelta(hours=2)
    )
    assert set(ServiceWindow.objects.all()) == {first, other}


def test_a_one_off_window_on_a_weekly_series_is_an_overlap(small_world):
    _sundays(small_world.region_admin, small_world.region)
    sunday_in_two_weeks = datetime.datetime(2027, 1, 17, 5, 0, tzinfo=STOCKHOLM)

    with pytest.raises(ValidationError) as error:
        service_window_schedule(
            actor=small_world.region_admin,
            region=small_world.region,
            starts_at=sunday_in_two_weeks,
            ends_at=sunday_in_two_weeks + datetime.timedelta(hours=2),
            message="x",
            now=SATURDAY_NOON,
        )

    assert error.value.message_dict == {"starts_at": [OVERLAP]}


def test_a_window_right_after_another_is_not_an_overlap(small_world):
    first = _once(
        small_world.region_admin,
        small_world.region,
        starts_in=datetime.timedelta(days=30),
        lasts=datetime.timedelta(hours=2),
    )

    second = service_window_schedule(
        actor=small_world.region_admin,
        region=small_world.region,
        starts_at=first.ends_at,
        ends_at=first.ends_at + datetime.timedelta(hours=1),
        message="2",
    )

    assert second.starts_at == first.ends_at


def test_a_weekly_window_needs_an_end_other_than_its_start(small_world):
    with pytest.raises(ValidationError) as error:
        service_window_schedule(
            actor=small_world.region_admin,
            region=small_world.region,
            recurrence=Recurrence.WEEKLY,
            weekday=Weekday.SUNDAY,
            start_time=datetime.time(2, 0),
            end_time=datetime.time(2, 0),
            message="x",
            now=SATURDAY_NOON,
        )

    assert error.value.message_dict == {"end_time": [END_BEFORE_START]}


# Recurring windows ------------------------------------------------------------------------------------------


def test_every_sunday_0_to_6_is_running_on_sunday_at_3_and_not_on_monday(small_world):
    window = _sundays(small_world.region_admin, small_world.region)

    assert window.starts_at == datetime.datetime(2027, 1, 3, 0, 0, tzinfo=STOCKHOLM)
    assert window.describe() == "varje söndag 00:00–06:00"
    assert window.occurrence(SUNDAY_3) == (
        datetime.datetime(2027, 1, 3, 0, 0, tzinfo=STOCKHOLM),
        datetime.datetime(2027, 1, 3, 6, 0, tzinfo=STOCKHOLM),
    )
    # On Monday the next one is the coming Sunday's.
    assert window.occurrence(MONDAY_3) == (
        datetime.datetime(2027, 1, 10, 0, 0, tzinfo=STOCKHOLM),
        datetime.datetime(2027, 1, 10, 6, 0, tzinfo=STOCKHOLM),
    )
    [on_sunday] = service_window_occurrences(SUNDAY_3)
    assert on_sunday.running(SUNDAY_3)
    [on_monday] = service_window_occurrences(MONDAY_3)
    assert not on_monday.running(MONDAY_3)
    assert window.occurrence(datetime.datetime(2027, 1, 3, 6, 0, tzinfo=STOCKHOLM))[0].day == 10


def test_a_weekly_window_keeps_swedish_time_over_the_change_to_summer_time(small_world):
    window = _sundays(small_world.region_admin, small_world.region)

    start, end = window.occurrence(datetime.datetime(2027, 3, 27, 12, 0, tzinfo=STOCKHOLM))

    assert (timezone.localtime(start).hour, timezone.localtime(end).hour) == (0, 6)
    assert start.date() == datetime.date(2027, 3, 28)
    # The night the clocks go forward it is five hours long.
    assert end.astimezone(datetime.UTC) - start.astimezone(datetime.UTC) == datetime.timedelta(hours=5)


def test_a_weekly_window_ending_at_or_before_its_start_ends_the_next_day(small_world):
    window = service_window_schedule(
        actor=small_world.region_admin,
        region=small_world.region,
        recurrence=Recurrence.WEEKLY,
        weekday=Weekday.SATURDAY,
        start_time=datetime.time(22, 0),
        end_time=datetime.time(2, 0),
        message="x",
        now=SATURDAY_NOON,
    )

    assert window.occurrence(SUNDAY_3 - datetime.timedelta(hours=2)) == (
        datetime.datetime(2027, 1, 2, 22, 0, tzinfo=STOCKHOLM),
        datetime.datetime(2027, 1, 3, 2, 0, tzinfo=STOCKHOLM),
    )


def test_a_weekly_series_planned_during_its_occurrence_starts_next_week(small_world):
    window = _sundays(small_world.region_admin, small_world.region, now=SUNDAY_3)

    assert window.starts_at == datetime.datetime(2027, 1, 10, 0, 0, tzinfo=STOCKHOLM)
    assert window.occurrence(SUNDAY_3)[0] == window.starts_at


def test_ending_one_occurrence_of_a_series_keeps_the_next_week(small_world):
    window = _sundays(small_world.region_admin, small_world.region)

    assert service_window_end_now(actor=small_world.region_admin, window=window, now=SUNDAY_3)

    window.refresh_from_db()
    assert window.ended_occurrence_starts_at == datetime.datetime(2027, 1, 3, 0, 0, tzinfo=STOCKHOLM)
    assert window.occurrence(SUNDAY_3)[0] == datetime.datetime(2027, 1, 10, 0, 0, tzinfo=STOCKHOLM)
    next_sunday = SUNDAY_3 + datetime.timedelta(weeks=1)
    assert window.occurrence(next_sunday) == (
        datetime.datetime(2027, 1, 10, 0, 0, tzinfo=STOCKHOLM),
        datetime.datetime(2027, 1, 10, 6, 0, tzinfo=STOCKHOLM),
    )
    event = AuditEvent.objects.get(action="portal.service_window.ended")
    assert event.actor == small_world.region_admin
    assert event.region_id == small_world.region.pk
    assert event.before["ended_occurrence_starts_at"] is None
    assert datetime.datetime.fromisoformat(event.after["ended_occurrence_starts_at"]) == window.starts_at
    # Nothing is running any more: a second Avsluta nu does nothing.
    assert not service_window_end_now(actor=small_world.region_admin, window=window, now=SUNDAY_3)
    assert AuditEvent.objects.filter(action="portal.service_window.ended").count() == 1


# Which windows matter for whom ---------------------------------------------------------------------------------


def test_relevant_windows_are_the_portals_and_the_regions_own(small_world):
    now = timezone.now()
    days = datetime.timedelta(days=5)
    hour = datetime.timedelta(hours=1)
    region = _once(small_world.region_admin, small_world.region, starts_in=days, lasts=hour, now=now)
    other = _once(small_world.region_admin, small_world.other_region, starts_in=days, lasts=hour, now=now)
    portal = _once(_system_admin(), None, starts_in=days * 2, lasts=hour, now=now)

    assert [o.window for o in service_window_relevant(now, region_ids={small_world.region.pk})] == [region, portal]
    assert [o.window for o in service_window_relevant(now, region_ids={small_world.other_region.pk})] == [other, portal]
    assert [o.window for o in service_window_relevant(now)] == [portal]


def test_a_window_is_announced_from_exactly_three_weeks_ahead(small_world):
    now = timezone.now()
    window = _once(
        small_world.region_admin,
        small_world.region,
        starts_in=datetime.timedelta(days=21),
        lasts=datetime.timedelta(hours=2),
        now=now,
    )
    ids = {small_world.region.pk}

    assert [o.window for o in service_window_relevant(now, region_ids=ids)] == [window]
    assert service_window_relevant(now - datetime.timedelta(seconds=1), region_ids=ids) == []
    assert service_window_relevant(window.ends_at, region_ids=ids) == []


# During a window: which pages close --------------------------------------------------------------------------


def test_a_vg_window_closes_vg_pages_with_retry_after_and_leaves_dalarna_open(client, world, clock):
    window = ServiceWindow.objects.create(
        region=world.vg,
        starts_at=clock.now - datetime.timedelta(minutes=30),
        ends_at=clock.now + datetime.timedelta(hours=2, milliseconds=250),
        message="Databasbyte",
        created_by=world.region_admin,
    )
    client.force_login(world.biller)

    response = client.get(f"/klinik/{world.clinic31.pk}/")

    body = response.content.decode()
    assert response.status_code == 503
    assert response["Retry-After"] == str(2 * 3600 + 1)  # seconds left, rounded up
    assert CLOSED_TEXT in body
    assert "Ett planerat servicefönster pågår för Västra Götaland" in body
    assert "Databasbyte" in body
    assert client.post(f"/klinik/{world.clinic32.pk}/").status_code == 503

    client.force_login(world.coordinator_vg)
    assert client.get("/region/vg/").status_code == 503

    client.force_login(world.dalarna_biller)
    dalarna = client.get(f"/klinik/{world.clinic2001.pk}/")
    assert dalarna.status_code == 200
    assert "Retry-After" not in dalarna
    client.force_login(world.coordinator_dalarna)
    assert client.get("/region/dalarna/").status_code == 200

    clock.now = window.ends_at
    client.force_login(world.biller)
    assert client.get(f"/klinik/{world.clinic31.pk}/").status_code == 200


def test_login_healthz_and_the_admins_page_stay_open_during_a_regions_window(client, world):
    _running(world.vg, actor=world.region_admin)

    login = client.get("/logga-in/")
    assert login.status_code == 200
    assert "Retry-After" not in login
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    client.force_login(world.region_admin)
    admin_page = client.get("/region/vg/servicefonster/")
    assert admin_page.status_code == 200
    assert "Servicefönster pågår, Västra Götaland:" in admin_page.content.decode()  # the banner
    closed = client.get("/region/vg/")
    assert closed.status_code == 503
    assert BANNER_CLASS not in closed.content.decode()  # the page itself says it


def test_a_portal_wide_window_closes_every_page_but_the_open_ones(client, world):
    system = _system_admin()
    _running(None, actor=system, message="Ny server")

    client.force_login(world.dalarna_biller)
    for path in ("/", "/valj-klinik/", f"/klinik/{world.clinic2001.pk}/", "/support/"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert "Ny server" in response.content.decode(), path
        assert int(response["Retry-After"]) > 0, path
    client.logout()
    assert client.get("/logga-in/").status_code == 200
    assert client.get("/healthz").status_code == 200
    client.force_login(system)
    assert client.get("/servicefonster/").status_code == 200


def test_a_weekly_window_closes_the_regions_pages_on_sunday_at_3_and_not_on_monday(client, world, clock):
    clock.now = SATURDAY_NOON
    _sundays(world.region_admin, world.vg)
    client.force_login(world.biller)
    clinic_page = f"/klinik/{world.clinic31.pk}/"

    clock.now = SUNDAY_3
    response = client.get(clinic_page)
    assert response.status_code == 503
    assert response["Retry-After"] == str(3 * 3600)

    clock.now = MONDAY_3
    client.force_login(world.biller)  # the session of Sunday night has run out
    assert client.get(clinic_page).status_code == 200


# The banner ------------------------------------------------------------------------------------------------------


def test_the_banner_shows_the_users_regions_window_only(client, world):
    _once(
        world.region_admin,
        world.vg,
        starts_in=datetime.timedelta(days=20),
        lasts=datetime.timedelta(hours=4),
        message="Byte av server",
    )

    client.force_login(world.biller)
    body = client.get(f"/klinik/{world.clinic31.pk}/").content.decode()
    assert BANNER_CLASS in body
    assert "Planerat servicefönster, Västra Götaland:" in body
    assert "Byte av server" in body

    client.force_login(world.dalarna_biller)
    body = client.get(f"/klinik/{world.clinic2001.pk}/").content.decode()
    assert BANNER_CLASS not in body
    client.logout()
    assert BANNER_CLASS not in client.get("/logga-in/").content.decode()


def test_the_login_page_announces_a_portal_wide_window_within_three_weeks_only(client, world, clock):
    system = _system_admin()
    window = _once(
        system, None, starts_in=datetime.timedelta(days=20), lasts=datetime.timedelta(hours=4), message="Uppgradering"
    )
    later = _once(
        system, None, starts_in=datetime.timedelta(days=22), lasts=datetime.timedelta(hours=1), message="Senare"
    )

    body = client.get("/logga-in/").content.decode()
    assert BANNER_CLASS in body and "Uppgradering" in body
    assert "Senare" not in body

    clock.now = window.ends_at
    body = client.get("/logga-in/").content.decode()
    assert "Uppgradering" not in body
    assert later.message in body


# The pages -------------------------------------------------------------------------------------------------------


def _form(starts_at: datetime.datetime, **extra) -> dict:
    return {
        "recurrence": "once",
        "starts_at": _local(starts_at),
        "ends_at": _local(starts_at + datetime.timedelta(hours=3)),
        "message": "  Ny databasserver  ",
        **extra,
    }


def test_a_region_admin_plans_a_window_for_their_region(client, world):
    admin = _dalarna_admin(world)
    client.force_login(admin)
    url = "/region/dalarna/servicefonster/"
    starts_at = timezone.localtime().replace(second=0, microsecond=0) + datetime.timedelta(days=30)

    response = client.post(url, _form(starts_at))

    assert response.status_code == 302
    assert response["Location"] == url
    window = ServiceWindow.objects.get()
    assert (window.region, window.starts_at, window.message) == (world.dalarna, starts_at, "Ny databasserver")
    event = AuditEvent.objects.get(action="portal.service_window.scheduled")
    assert (event.actor, event.region_id, event.object_id) == (admin, world.dalarna.pk, str(window.pk))
    assert event.after["region"] == world.dalarna.pk
    listing = client.get(url).content.decode()
    assert "Ny databasserver" in listing
    assert starts_at.strftime("%Y-%m-%d %H:%M") in listing


def test_a_region_admin_plans_every_sunday_0_to_6(client, world):
    client.force_login(world.region_admin)
    url = "/region/vg/servicefonster/"

    response = client.post(
        url,
        {
            "recurrence": "weekly",
            "weekday": "6",
            "start_time": "00:00",
            "end_time": "06:00",
            "message": "Säkerhetskopia",
        },
    )

    assert response.status_code == 302
    window = ServiceWindow.objects.get()
    assert (window.recurrence, window.weekday, window.region) == ("weekly", 6, world.vg)
    listing = client.get(url).content.decode()
    assert "varje söndag 00:00–06:00" in listing
    assert "Ta bort serien" in listing


def test_the_page_refuses_a_past_start_beside_the_start_field(client, world):
    client.force_login(world.region_admin)

    response = client.post(
        "/region/vg/servicefonster/", _form(timezone.localtime() - datetime.timedelta(days=1), message="Mitt")
    )

    assert response.status_code == 200
    assert not ServiceWindow.objects.exists()
    assert PAST in _field_block(response.content.decode(), "id_starts_at")


def test_the_page_asks_for_a_confirmation_within_the_hour(client, world):
    client.force_login(world.region_admin)
    starts_at = timezone.localtime().replace(second=0, microsecond=0) + datetime.timedelta(minutes=30)

    response = client.post("/region/vg/servicefonster/", _form(starts_at))

    assert response.status_code == 200
    assert not ServiceWindow.objects.exists()
    assert CONFIRM in _field_block(response.content.decode(), "id_confirm_soon")

    response = client.post("/region/vg/servicefonster/", _form(starts_at, confirm_soon="on"))
    assert response.status_code == 302
    assert ServiceWindow.objects.get().starts_at == starts_at


def test_an_empty_form_is_refused_field_by_field(client, world):
    client.force_login(world.region_admin)

    body = client.post("/region/vg/servicefonster/", {}).content.decode()
    for field_id in ("id_starts_at", "id_ends_at", "id_message"):
        assert "Detta fält måste fyllas i." in _field_block(body, field_id), field_id

    body = client.post("/region/vg/servicefonster/", {"recurrence": "weekly", "message": "x"}).content.decode()
    for field_id in ("id_weekday", "id_start_time", "id_end_time"):
        assert "Detta fält måste fyllas i." in _field_block(body, field_id), field_id
    assert not ServiceWindow.objects.exists()


def test_a_dalarna_admin_gets_404_for_a_vg_window(client, world):
    window = _running(world.vg, actor=world.region_admin)
    client.force_login(_dalarna_admin(world))

    assert client.post(f"/region/dalarna/servicefonster/{window.pk}/ta-bort/").status_code == 404
    assert client.post(f"/region/dalarna/servicefonster/{window.pk}/avsluta/").status_code == 404
    assert client.get("/region/vg/servicefonster/").status_code == 404
    assert client.get("/region/dalarna/servicefonster/").context["rows"] == []  # VG's is not listed
    assert ServiceWindow.objects.get() == window
    assert not AuditEvent.objects.filter(action__startswith="portal.service_window").exists()


def test_the_system_administrator_lands_on_the_portal_wide_page(client, world):
    client.force_login(world.user("system@demo.test"))

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/servicefonster/"
    body = client.get("/servicefonster/").content.decode()
    assert "Servicefönster för hela portalen" in body


def test_a_region_admin_cannot_open_the_portal_wide_page(client, world):
    client.force_login(world.region_admin)

    assert client.get("/servicefonster/").status_code == 404


def test_avsluta_nu_opens_the_regions_pages_and_is_audited(client, world, clock):
    window = _running(world.vg, actor=world.region_admin, message="Pågår")
    planned_end = window.ends_at
    client.force_login(world.region_admin)
    page = client.get("/region/vg/servicefonster/").content.decode()
    assert "Pågår" in page and "Avsluta nu" in page

    response = client.post(f"/region/vg/servicefonster/{window.pk}/avsluta/")

    assert response.status_code == 302
    window.refresh_from_db()
    assert window.ends_at == clock.now
    event = AuditEvent.objects.get(action="portal.service_window.ended")
    assert (event.actor, event.region_id) == (world.region_admin, world.vg.pk)
    assert datetime.datetime.fromisoformat(event.before["ends_at"]) == planned_end
    assert client.get("/region/vg/").status_code == 200


def test_the_system_admin_ends_a_portal_wide_window(client, world, clock):
    system = _system_admin()
    window = _running(None, actor=system)
    client.force_login(system)

    assert client.post(f"/servicefonster/{window.pk}/avsluta/").status_code == 302

    window.refresh_from_db()
    assert window.ends_at == clock.now
    client.force_login(world.biller)
    assert client.get(f"/klinik/{world.clinic31.pk}/").status_code == 200


def test_deleting_a_window_is_audited(small_world):
    window = _once(
        small_world.region_admin,
        small_world.region,
        starts_in=datetime.timedelta(days=3),
        lasts=datetime.timedelta(hours=2),
    )

    service_window_cancel(actor=small_world.region_admin, window=window)

    assert not ServiceWindow.objects.exists()
    event = AuditEvent.objects.get(action="portal.service_window.cancelled")
    assert (event.actor_email, event.region_id) == (small_world.region_admin.email, small_world.region.pk)


@pytest.mark.parametrize("role", ["coordinator_vg", "biller"])
def test_other_roles_cannot_use_the_service_window_pages(client, world, role):
    window = _running(world.vg, actor=world.region_admin)
    window.ends_at = window.starts_at + datetime.timedelta(minutes=1)  # over: the pages are open
    window.save()
    client.force_login(getattr(world, role))

    expected = 403 if role == "coordinator_vg" else 404
    assert client.get("/region/vg/servicefonster/").status_code == expected
    assert client.post(f"/region/vg/servicefonster/{window.pk}/ta-bort/").status_code == expected
    assert client.get("/servicefonster/").status_code == 404
    assert ServiceWindow.objects.get() == window


# manage.py end_service_window ------------------------------------------------------------------------------------


def test_the_command_ends_the_running_windows(small_world, client):
    window = _running(small_world.region, actor=small_world.region_admin)
    later = _once(
        small_world.region_admin,
        small_world.other_region,
        starts_in=datetime.timedelta(hours=2),
        lasts=datetime.timedelta(hours=1),
    )

    call_command("end_service_window", region=small_world.region.code)

    window.refresh_from_db()
    assert window.starts_at < window.ends_at <= timezone.now()
    assert AuditEvent.objects.get(action="portal.service_window.ended").object_id == str(window.pk)
    later.refresh_from_db()
    assert later.ends_at == later.starts_at + datetime.timedelta(hours=1)
    with pytest.raises(CommandError) as error:
        call_command("end_service_window")
    assert str(error.value) == "Inget servicefönster pågår."


@pytest.mark.parametrize("moment", ["0001-01-01T00:00", "9999-12-31T23:59"])
def test_a_start_or_end_outside_1900_to_2100_is_refused_beside_its_field(client, world, moment):
    client.force_login(world.region_admin)
    starts_at = timezone.localtime().replace(second=0, microsecond=0) + datetime.timedelta(days=30)

    for field in ("starts_at", "ends_at"):
        response = client.post("/region/vg/servicefonster/", {**_form(starts_at), field: moment})

        assert response.status_code == 200
        assert "Ange en tidpunkt mellan 1900-01-01 och 2100-12-31." in _field_block(
            response.content.decode(), f"id_{field}"
        )
    assert not ServiceWindow.objects.exists()
