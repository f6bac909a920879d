"""The clinic's Utbetalningsbesked in pages (issue 16): every payout once, newest first, in a constant number of
queries whatever the clinic's history."""

import lxml.html
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payouts import selectors, views


def _dates(response) -> list[str]:
    assert response.status_code == 200
    page = lxml.html.fromstring(response.content)
    return [row.xpath("string(th)") for row in page.xpath("//table/tbody/tr")], page


def test_the_payouts_page_by_page_lose_and_repeat_nothing(client, world, monkeypatch):
    monkeypatch.setattr(views, "CLINIC_PAYOUTS_PAGE_SIZE", 2)
    client.force_login(world.biller)
    url = reverse("clinic_payout_list", kwargs={"clinic_pk": world.clinic31.pk})
    expected = [p.run.payout_date.isoformat() for p in selectors.clinic_payments(clinic=world.clinic31)]
    assert len(expected) > 2  # the demo pays the clinic every month
    seen, href, counts = [], "", []
    while True:
        with CaptureQueriesContext(connection) as queries:
            dates, page = _dates(client.get(url + href))
        counts.append(len(queries))
        seen += dates
        links = page.xpath("//nav[contains(@class,'pagination')]//a[@rel='next']")
        if not links:
            break
        href = links[0].get("href")
    assert seen == expected
    assert len(set(counts)) == 1
