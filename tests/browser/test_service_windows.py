"""Service windows as a visitor sees them: a banner beforehand, the Swedish 503 page during one."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from portal.models import ServiceWindow


@pytest.mark.browser
def test_every_page_answers_503_with_retry_after_during_a_service_window(page: Page, live_server, transactional_world):
    now = timezone.now()
    ServiceWindow.objects.create(
        starts_at=now - datetime.timedelta(minutes=1),
        ends_at=now + datetime.timedelta(hours=1),
        message="Vi byter databasserver.",
        created_by=transactional_world.region_admin,
    )

    for path in ("/", "/logga-in/", "/valj-klinik/", f"/klinik/{transactional_world.clinic32.pk}/"):
        response = page.goto(f"{live_server.url}{path}")

        assert response is not None, path
        assert response.status == 503, path
        retry_after = response.header_value("Retry-After")
        assert retry_after is not None, path
        assert 1 <= int(retry_after) <= 3600, (path, retry_after)
        expect(page.get_by_role("heading", level=1)).to_have_text("Tandportalen är stängd för underhåll")
        expect(page.get_by_text("Vi byter databasserver.")).to_be_visible()


@pytest.mark.browser
def test_login_page_announces_a_service_window_ten_days_ahead(page: Page, live_server, transactional_world):
    starts_at = timezone.now() + datetime.timedelta(days=10)
    ServiceWindow.objects.create(
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(hours=2),
        message="Portalen uppgraderas.",
        created_by=transactional_world.region_admin,
    )

    response = page.goto(f"{live_server.url}/logga-in/")

    assert response is not None and response.status == 200
    banner = page.get_by_role("status")
    expect(banner).to_contain_text("Planerat servicefönster")
    expect(banner).to_contain_text("Portalen uppgraderas.")
    expect(page.get_by_role("heading", name="Logga in", level=1)).to_be_visible()
