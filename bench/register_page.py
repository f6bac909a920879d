"""CPU and queries of each step of Registrera räkning, posted as a browser without JavaScript posts the page.

    .venv/bin/python -m pytest -q -s -p no:xdist bench/register_page.py

The demo world's clinic 31 and N patient 200001012384, the steps of tests/billing/test_register_views.py
(`_n_claim_up_to_submit`) and then the script's validation and the submit: each step is posted again and again
from the same page (a submit in a savepoint rolled back), and the least CPU (time.process_time) of the repeats is
printed with the step's queries. With REGISTER_PAGE_HTML=DIR each step's page is written there, the CSRF token
blanked, to compare the markup before and after a change (`diff -r`); with REGISTER_PAGE_PROFILE=FILE the repeats
of every step are profiled (cProfile) into FILE, for `python -m pstats`; REGISTER_PAGE_SQL=STEP prints that step's
queries; REGISTER_PAGE_REPEATS sets the repeats (20).
"""

from __future__ import annotations

import copy
import cProfile
import os
import re
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.billing.test_register_views import _open, _visit_days, vg_tariff  # noqa: F401

PROFILE = cProfile.Profile() if os.environ.get("REGISTER_PAGE_PROFILE") else None
REPEATS = int(os.environ.get("REGISTER_PAGE_REPEATS", "20"))
# The CSRF token and the draft's id are new each time.
CSRF = re.compile(rb'(name="(?:csrfmiddlewaretoken|draft)" value=")[^"]*(")')


class _Rollback(Exception):
    pass


def _measure(name, post, html_dir: Path | None) -> None:
    best, queries, response = None, 0, None
    for _ in range(REPEATS):
        with CaptureQueriesContext(connection) as captured:
            if PROFILE:
                PROFILE.enable()
            start = time.process_time()
            answer = post()
            spent = time.process_time() - start
            if PROFILE:
                PROFILE.disable()
        best = spent if best is None else min(best, spent)
        # The first answer is the page a browser goes on from (Sök person again on the same patient keeps the
        # choices made); the queries are the last repeat's.
        response = response or answer
        queries = len(captured.captured_queries)
    if os.environ.get("REGISTER_PAGE_SQL") == name:
        for query in captured.captured_queries:
            print("   ", query["sql"][:300])
    print(f"{name:<12} {best * 1000:7.1f} ms CPU  {queries:3d} queries  status {response.status_code}")
    if html_dir is not None:
        (html_dir / f"{name}.html").write_bytes(CSRF.sub(rb"\1\2", response.content))
    return response


@pytest.mark.django_db
def test_register_page_steps(client, world, vg_tariff):  # noqa: F811
    html_dir = Path(os.environ["REGISTER_PAGE_HTML"]) if os.environ.get("REGISTER_PAGE_HTML") else None
    if html_dir is not None:
        html_dir.mkdir(parents=True, exist_ok=True)
    first, last = _visit_days()
    page = _open(client, world)
    print(f"\n{REPEATS} repeats, least CPU; {os.getloadavg()[0]:.2f} load")
    _measure("get", lambda: client.get(page.url), html_dir)

    def step(name, action, value="action", **changes):
        data = {**page.fields(), **{key.replace("__", "-"): v for key, v in changes.items()}, value: action}
        response = _measure(name, lambda: client.post(page.url, data), html_dir)
        page.responses.append(response)

    step("search", "search", personal_identity_number="200001012384")
    step("refresh", "refresh", care_model="K1")
    step("add_first", "add_line", entry__visit_date=first.isoformat(), entry__code="101")
    step("add_second", "add_line", entry__visit_date=last.isoformat(), entry__code="101")
    step("fees", "refresh", **{f"fee-{day.isoformat()}": "200" for day in {first, last}})
    step("remove", "0", value="remove_line")
    page.responses.pop()  # back to the page with both lines
    data = {**page.fields(), "action": "refresh"}
    validate_url = reverse("claim_register_validate", kwargs={"clinic_pk": world.clinic31.pk})
    _measure("validate", lambda: client.post(validate_url, data), None)

    cookies = client.cookies

    def submit():
        client.cookies = copy.deepcopy(cookies)  # the session as it was before the submit rolled back
        try:
            with transaction.atomic():
                response = client.post(
                    page.url, {**page.fields(), "action": "submit", "invoice_reference": "4711", "reference": "BENCH-1"}
                )
                assert response.status_code == 302, response.status_code
                raise _Rollback(response)
        except _Rollback as rolled_back:
            return rolled_back.args[0]

    _measure("submit", submit, html_dir)
    if PROFILE:
        PROFILE.dump_stats(os.environ["REGISTER_PAGE_PROFILE"])
