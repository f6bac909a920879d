"""What every page's shell costs in the tests (the context processors, base.html and its includes) and what ~20
representative pages cost, through Django's test client on the demo, as the suite serves them:

    .venv/bin/python -m pytest -q -p no:xdist bench/page_render.py -s

Environment: BENCH_REPEATS (50), BENCH_LANG (sv or en), BENCH_OUT (a directory, /tmp/page-render: each page's HTML
with the CSRF tokens, nonces and times blanked, to compare the markup before and after a change with `cmp`).
For each page: the Python CPU time of one request (time.process_time, the least of the repeats), its SQL queries and
its template renders; for the shell alone, the same page's request drawn again with an empty content block.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from django.db import connection
from django.template import engines
from django.test import Client
from django.test.signals import template_rendered
from django.urls import reverse

from tests.conftest import World

_VOLATILE = [
    (re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"'), 'name="csrfmiddlewaretoken" value="X"'),
    (re.compile(r'nonce="[^"]*"'), 'nonce="X"'),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d[0-9:.+]*"), "TIME"),
]
SHELL = '{% extends "base.html" %}{% block title %}T{% endblock %}{% block content %}C{% endblock %}'


def _pages(world: World) -> list[tuple[str, str, str]]:
    """(user, name, URL): a biller of clinics 31 and 32, a local administrator, an umbrella organisation, a
    coordinator and a region administrator of Västra Götaland, a biller in Dalarna."""
    c31, c32, vg = world.clinic31.pk, world.clinic32.pk, world.vg.code
    biller, admin, coordinator, region_admin = (
        "fakturerare@demo.test",
        "admin31@demo.test",
        "samordnare.vg@demo.test",
        "regionadmin@demo.test",
    )
    return [
        (biller, "clinic_start", reverse("clinic_start", kwargs={"clinic_pk": c31})),
        (biller, "invoice_list", reverse("invoice_list", kwargs={"clinic_pk": c31})),
        (biller, "person_search", reverse("person_search", kwargs={"clinic_pk": c31})),
        (biller, "clinic_tariff", reverse("clinic_tariff", kwargs={"clinic_pk": c32})),
        (biller, "prior_assessments", reverse("prior_assessment_list", kwargs={"clinic_pk": c31})),
        (biller, "documents", reverse("regioninfo_documents", kwargs={"clinic_pk": c31})),
        (biller, "account", reverse("account")),
        (biller, "notifications", reverse("notification_inbox")),
        (biller, "support", reverse("support")),
        (admin, "clinic_admin", reverse("clinic_administration", kwargs={"clinic_pk": c31})),
        (admin, "agreements", reverse("clinic_agreements", kwargs={"clinic_pk": c31})),
        (
            "organisation@demo.test",
            "org_start",
            reverse("organisation_start", kwargs={"organisation_pk": world.clinic31.organisation_id}),
        ),
        (coordinator, "region_start", reverse("region_start", kwargs={"region_code": vg})),
        (coordinator, "review_list", reverse("review_claim_list", kwargs={"region_code": vg})),
        (coordinator, "payouts", reverse("payout_run_list", kwargs={"region_code": vg})),
        (coordinator, "tariffs", reverse("tariff_list", kwargs={"region_code": vg})),
        (coordinator, "region_rules", reverse("region_rules", kwargs={"region_code": vg})),
        (region_admin, "region_people", reverse("region_people", kwargs={"region_code": vg})),
        (region_admin, "region_clinics", reverse("region_clinics", kwargs={"region_code": vg})),
        (region_admin, "account_ra", reverse("account")),
        ("dalarna@demo.test", "dalarna_start", reverse("clinic_start", kwargs={"clinic_pk": world.clinic2001.pk})),
    ]


def _blanked(html: str) -> str:
    for pattern, replacement in _VOLATILE:
        html = pattern.sub(replacement, html)
    return html


class _Counter:
    n = 0

    def template(self, sender, **kwargs):
        self.n += 1

    def query(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)


def _least(repeats: int, call) -> float:
    """The least CPU time of `repeats` calls, in ms."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        call()
        times.append(time.process_time() - started)
    return min(times) * 1000


def test_page_render(world):
    out = Path(os.environ.get("BENCH_OUT", "/tmp/page-render"))
    out.mkdir(parents=True, exist_ok=True)
    repeats = int(os.environ.get("BENCH_REPEATS", "50"))
    language = os.environ.get("BENCH_LANG", "sv")
    shell = engines["django"].from_string(SHELL)
    clients: dict[str, Client] = {}
    lines = [os.popen("uptime").read().strip()]
    total = shell_total = 0.0
    for email, name, url in _pages(world):
        if email not in clients:
            clients[email] = Client()
            clients[email].force_login(world.user(email))
            clients[email].cookies["django_language"] = language
        client = clients[email]
        client.get(url)  # the first request of a page fills the process's caches
        queries, renders = _Counter(), _Counter()
        template_rendered.connect(renders.template)
        try:
            with connection.execute_wrapper(queries.query):
                response = client.get(url)
        finally:
            template_rendered.disconnect(renders.template)
        assert response.status_code == 200, (name, response.status_code)
        (out / f"{name}.{language}.html").write_text(_blanked(response.content.decode()))
        page = _least(repeats, lambda: client.get(url))  # noqa: B023 - called at once
        request = response.wsgi_request
        (out / f"{name}.{language}.shell.html").write_text(_blanked(shell.render({}, request)))
        alone = _least(repeats * 4, lambda: shell.render({}, request))  # noqa: B023 - called at once
        total, shell_total = total + page, shell_total + alone
        lines.append(
            f"{name:18s} page {page:7.2f} ms  shell {alone:6.3f} ms  {queries.n:3d} queries  {renders.n:3d} renders"
        )
    lines.append(f"{'total':18s} page {total:7.2f} ms  shell {shell_total:6.3f} ms")
    print("\n" + "\n".join(lines))
