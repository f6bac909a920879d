"""Service windows as users see them: a region's window closes that region's pages (503, Retry-After, the Swedish
page) and no other region's; its administrator ends it early with *Avsluta nu*; a window within the hour asks for a
confirmation; a window of the whole portal is announced on the login page."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from portal.models import ServiceWindow

from .test_eligibility import log_in, log_out

CLOSED = "Tandportalen är stängd för underhåll"


@pytest.mark.browser
def test_a_vg_window_closes_vg_only_and_its_admin_ends_it_early(page: Page, live_server, transactional_world):
    world = transactional_world
    now = timezone.now()
    window = ServiceWindow.objects.create(
        region=world.vg,
        starts_at=now - datetime.timedelta(minutes=1),
        ends_at=now + datetime.timedelta(hours=1),
        message="Vi byter databasserver.",
        created_by=world.region_admin,
    )
    base = live_server.url

    for path in (f"/klinik/{world.clinic32.pk}/", "/region/vg/"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 503, path
        assert 1 <= int(response.header_value("Retry-After")) <= 3600, path
        expect(page.get_by_role("heading", level=1)).to_have_text(CLOSED)
        expect(page.get_by_text("Ett planerat servicefönster pågår för Västra Götaland.")).to_be_visible()
        expect(page.get_by_text("Vi byter databasserver.")).to_be_visible()

    # Dalarna is not in VG's window: its biller logs in and works.
    log_in(page, base, "dalarna@demo.test")
    expect(page.get_by_role("heading", level=1)).to_contain_text("2001 Tandvården Demoby")
    log_out(page)

    # VG's administrator logs in during the window and ends it from the web.
    log_in(page, base, "regionadmin@demo.test")
    expect(page.get_by_role("heading", name="Välj klinik", level=1)).to_be_visible()
    response = page.goto(f"{base}/region/vg/servicefonster/")
    assert response is not None and response.status == 200
    row = page.get_by_role("row").filter(has_text="Vi byter databasserver.")
    expect(row).to_contain_text("Pågår")
    row.get_by_role("button", name="Avsluta nu").click()
    expect(page.get_by_text("Servicefönstret är avslutat. Sidorna är öppna igen.")).to_be_visible()
    window.refresh_from_db()
    assert window.ends_at <= timezone.now()

    response = page.goto(f"{base}/region/vg/")
    assert response is not None and response.status == 200


@pytest.mark.browser
def test_a_window_within_the_hour_needs_the_confirmation(page: Page, live_server, transactional_world):
    base = live_server.url
    starts = timezone.localtime() + datetime.timedelta(minutes=30)
    log_in(page, base, "regionadmin@demo.test")
    page.goto(f"{base}/region/dalarna/servicefonster/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Servicefönster – Dalarna")

    page.get_by_label("Börjar").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Slutar").fill((starts + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Meddelande").fill("Akut uppdatering.")
    page.get_by_role("button", name="Spara").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Servicefönstret börjar inom en timme och stänger sidorna direkt.")
    assert not ServiceWindow.objects.exists()

    page.get_by_label("Ja, servicefönstret får börja inom en timme.").check()
    page.get_by_role("button", name="Spara").click()

    expect(page.get_by_text("Servicefönstret är planerat.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Akut uppdatering.")).to_be_visible()
    assert ServiceWindow.objects.get().region == transactional_world.dalarna


@pytest.mark.browser
def test_login_page_announces_a_portal_wide_window_ten_days_ahead(page: Page, live_server, transactional_world):
    starts_at = timezone.now() + datetime.timedelta(days=10)
    ServiceWindow.objects.create(
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(hours=2),
        message="Portalen uppgraderas.",
        created_by=transactional_world.user("system@demo.test"),
    )

    response = page.goto(f"{live_server.url}/logga-in/")

    assert response is not None and response.status == 200
    banner = page.get_by_role("status")
    expect(banner).to_contain_text("Planerat servicefönster")
    expect(banner).to_contain_text("Portalen uppgraderas.")
    expect(page.get_by_role("heading", name="Logga in", level=1)).to_be_visible()
