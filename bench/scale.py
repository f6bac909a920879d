"""Every page of every role at national scale (issue 16): `make bench-scale`, or

    .venv/bin/python bench/scale.py [--claims 1000000] [--skip-fill | --from-template tp_scale_tpl]
                                    [--requests 20] [--clients 20] [--workers 4] [--only REGEX] [--no-payout]

It works in a database of its own on DATABASE_URL's server, `tandportal_bench_scale` (or the name in
TANDPORTAL_BENCH_SCALE_DATABASE): made anew, migrated and filled by bench/scale_fill.py with --claims claims;
`--from-template NAME` copies a database filled before (CREATE DATABASE … TEMPLATE, nobody may be connected to it)
instead, `--skip-fill` reuses the bench database as it is. Either way it is migrated, so a branch's new migrations
run on the filled data first.

Then it starts gunicorn as bench/api.py does (DEBUG off, `--workers` sync workers, the image's --max-requests, and
a Celery worker when REDIS_URL is set, for pages that became background jobs), logs each role in by making its
session directly (Django's test client `force_login`, and the second factor marked given for those who have an
authenticator app) and measures every list and detail page of each role, found by URL name (reverse()):

- 1 client: `--requests` requests one after another (fewer when a page takes over --budget seconds), p50/p95;
- `--clients` clients at once, each on its own keep-alive connection: p50/p95 and pages per second;
- SQL queries of one view, counted in-process by the test client on the same database under Django's
  CaptureQueriesContext (COPY and the queries of a Celery task are not counted); the response's size; errors
  (any status but 200, or a failed connection), which are printed, never fatal;
- the payout run, as the coordinator makes it (Ny utbetalningskörning: the preview, then the run), timed until it
  is done — when the run becomes a background job, until the run is in a final state — then its page and its
  payment file.

It prints one markdown table and flags issue 16's targets: p95 ≤ 100 ms at 1 client on every list and detail page,
≥ 40 pages/s at 20 clients, no error.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urljoin

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._http import percentiles, start_server, stop_server  # noqa: E402

BENCH_DATABASE = os.environ.get("TANDPORTAL_BENCH_SCALE_DATABASE", "tandportal_bench_scale")
TARGET_P95_MS = 100.0
TARGET_PAGES_PER_SECOND = 40.0
CSRF_SECRET = "benchscale" * 3 + "ab"  # 32 characters, sent as cookie and header (Django takes it unmasked)
# The demo's users of each role (fixtures/demo.json); the bench measures clinic 31 and Västra Götaland.
ROLES = {
    "biller": "fakturerare@demo.test",
    "finance": "kamrer31@demo.test",
    "local admin": "admin31@demo.test",
    "coordinator": "samordnare.vg@demo.test",
    "region admin": "regionadmin@demo.test",
    "organisation": "organisation@demo.test",
}
# The final states of a run (payouts.models.PayoutRunState): the run is made when it is in one of them.
RUN_DONE_STATES = ("awaiting_second", "planned", "paid")


def _database_url(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@dataclass
class Page:
    role: str
    name: str
    path: str
    kind: str  # list, detail (both held to the targets), export, file, action
    method: str = "GET"
    data: dict | None = None
    error: str = ""  # why it could not be made (no such URL name, no object)
    note: str = ""  # why it was not measured, when that is no error (a list without a last page)
    queries: int | None = None
    size: int = 0
    single: dict | None = None
    single_n: int = 0
    loaded: dict | None = None
    rate: float | None = None
    errors: list[str] = field(default_factory=list)
    loaded_skipped: bool = False

    @property
    def held_to_targets(self) -> bool:
        return self.kind in ("list", "detail")


# Setup ----------------------------------------------------------------------------------------------------------


def prepare_database(args) -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set (source your env file, or use `make bench-scale`).")
    import psycopg

    maintenance = _database_url(url, "postgres").replace("postgres://", "postgresql://", 1)
    if not args.skip_fill:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            template = f' TEMPLATE "{args.from_template}"' if args.from_template else ""
            started = time.monotonic()
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"{template}')
            if template:
                print(f"  copied {args.from_template} in {time.monotonic() - started:.0f} s", flush=True)
    os.environ["DATABASE_URL"] = _database_url(url, BENCH_DATABASE)
    # The local settings (the sessions are made here, in-process, with their secret key), with database
    # connections kept as production keeps them; DEBUG off below.
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.local"
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["TANDPORTAL_MEDIA_ROOT"] = str(BASE_DIR / "var" / "bench" / "scale-media")
    shutil.rmtree(os.environ["TANDPORTAL_MEDIA_ROOT"], ignore_errors=True)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if not args.skip_fill and not args.from_template:
        from bench.scale_fill import scale_fill

        counts = scale_fill(claims=args.claims, log=lambda line: print(line, flush=True))
        print(f"  filled in {counts['seconds']:.0f} s", flush=True)


def make_sessions() -> dict[str, str]:
    """A logged-in session per role, made directly (second factor given where the user has an app): the cookie."""
    from django.conf import settings
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clinics.models import User

    cookies = {}
    for role, email in ROLES.items():
        user = User.objects.filter(email=email).first()
        if user is None:
            print(f"  no user {email}: the role {role} is left out")
            continue
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
        cookies[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return cookies


def _reverse(name: str, **kwargs) -> str:
    from django.urls import reverse

    return reverse(name, kwargs=kwargs)


def build_pages(today: datetime.date) -> list[Page]:
    """Every page measured, by URL name; a page whose name or object is missing is kept as an error."""
    from django.db import connection

    from claims.models import Claim, Invoice
    from clinics.models import Clinic, OrganisationMembership
    from payouts.models import PayoutPayment, PayoutRun

    pages: list[Page] = []
    two_years = {"date_from": (today - datetime.timedelta(days=730)).isoformat(), "date_to": today.isoformat()}
    thirty_days = {"date_from": (today - datetime.timedelta(days=30)).isoformat(), "date_to": today.isoformat()}

    def add(role: str, name: str, kind: str, url_name: str, query: dict | None = None, **kwargs) -> None:
        method = kwargs.pop("method", "GET")
        data = kwargs.pop("data", None)
        try:
            path = _reverse(url_name, **kwargs)
        except Exception as error:  # a renamed page is reported, not fatal
            pages.append(Page(role, name, "", kind, error=f"no URL {url_name}: {error}"))
            return
        if query:
            path += "?" + urlencode(query)
        pages.append(Page(role, name, path, kind, method=method, data=data))

    clinic = Clinic.objects.filter(region__code="vg", number="31").first()
    region = "vg"
    if clinic is None:
        return [Page("biller", "clinic 31", "", "list", error="no clinic 31 in Västra Götaland (the demo)")]
    c = {"clinic_pk": clinic.pk}
    claim = Claim.objects.filter(clinic=clinic, state="paid").order_by("-pk").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT invoice_id, count(*) FROM claims_claim WHERE clinic_id = %s GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
            [clinic.pk],
        )
        big = cursor.fetchone()
    big_invoice = Invoice.objects.get(pk=big[0]) if big else None
    payment = PayoutPayment.objects.filter(clinic=clinic, run__state="paid").order_by("-pk").first()
    run = PayoutRun.objects.filter(region__code=region, state="paid").order_by("-claim_count", "-pk").first()
    review_claim = Claim.objects.filter(clinic__region__code=region, state="under_review").order_by("-pk").first()
    membership = OrganisationMembership.objects.filter(user__email=ROLES["organisation"]).first()
    pin = claim.patient.personal_identity_number if claim else ""

    # The clinic's biller.
    add("biller", "Startsida (klinik)", "list", "clinic_start", **c)
    add("biller", "Era fakturor, Under behandling (default)", "list", "invoice_list", **c)
    for tab, url_name in (
        ("Under behandling", "invoice_list"),
        ("Utbetalda", "invoice_list_paid"),
        ("Kreditfakturor", "invoice_list_credits"),
        ("Makulerade", "invoice_list_voided"),
    ):
        add("biller", f"Era fakturor, {tab}, two years", "list", url_name, two_years, **c)
    add("biller", "Era fakturor Excel, Utbetalda, two years", "export", "invoice_list_paid",
        {**two_years, "export": "1"}, **c)  # fmt: skip
    if big_invoice is not None:
        tab = {"paid": "invoice_list_paid", "credited": "invoice_list_paid", "voided": "invoice_list_voided"}
        state = big_invoice.claims.values_list("state", flat=True).first()
        add("biller", f"Era fakturor, an invoice of {big[1]} claims expanded", "list",
            tab.get(state, "invoice_list"), {**two_years, "reference": big_invoice.reference}, **c)  # fmt: skip
    add("biller", "Sök person", "detail", "person_search", **c)
    add("biller", "Registrera räkning", "detail", "claim_register", **c)
    if claim is not None:
        add("biller", "a claim's page", "detail", "invoice_claim_detail", claim_pk=claim.pk, **c)
    # Finance and the local administrator.
    add("finance", "Startsida (klinik)", "list", "clinic_start", **c)
    add("finance", "Utbetalningsbesked", "list", "clinic_payout_list", **c)
    if payment is not None:
        add("finance", "Utbetalningsbesked, PDF", "file", "clinic_payout_notice_pdf", payment_pk=payment.pk, **c)
        add("finance", "Utbetalningsbesked, Excel", "file", "clinic_payout_notice_xlsx", payment_pk=payment.pk, **c)
    add("local admin", "Startsida (klinik)", "list", "clinic_start", **c)
    add("local admin", "Klinikadministration", "list", "clinic_administration", **c)
    # The region's coordinator.
    r = {"region_code": region}
    add("coordinator", "Startsida (region)", "list", "region_start", **r)
    add("coordinator", "Räkningar (default)", "list", "review_claim_list", **r)
    add("coordinator", "Räkningar, Alla, two years", "list", "review_claim_list", {"queue": "", **two_years}, **r)
    add("coordinator", "Räkningar, clinic 31, Alla", "list", "review_claim_list", {"queue": "", "clinic": clinic.pk},
        **r)  # fmt: skip
    add("coordinator", "Räkningar, LAST page", "list", "review_claim_list", {"queue": ""}, **r)
    pages[-1].data = {"last_page_of": True}
    if review_claim is not None:
        add("coordinator", "a claim under granskning", "detail", "review_claim_detail", claim_pk=review_claim.pk, **r)
    add("coordinator", "Utbetalningar", "list", "payout_run_list", **r)
    if run is not None:
        add("coordinator", f"a paid run's page ({run.claim_count} claims)", "list", "payout_run_detail",
            run_pk=run.pk, **r)  # fmt: skip
        add("coordinator", f"a paid run's payment file ({run.claim_count} claims)", "file", "payout_run_file",
            run_pk=run.pk, method="POST", data={}, **r)  # fmt: skip
    add("coordinator", "Åtkomstlogg", "list", "region_access_log", **r)
    add("coordinator", "Åtkomstlogg, a user, 30 days", "list", "region_access_log", method="POST",
        data={"user_email": ROLES["biller"], **thirty_days}, **r)  # fmt: skip
    add("coordinator", "Åtkomstlogg Excel, a user, 30 days", "export", "region_access_log", method="POST",
        data={"user_email": ROLES["biller"], **thirty_days, "export": "1"}, **r)  # fmt: skip
    if pin:
        add("coordinator", "Åtkomstlogg, a patient", "list", "region_access_log", method="POST",
            data={"personal_identity_number": pin, **two_years}, **r)  # fmt: skip
    add("coordinator", "Rapport: belopp per månad (Excel)", "export", "report_amounts_by_month_excel", **r)
    # The region's administrator.
    add("region admin", "Startsida (region)", "list", "region_start", **r)
    add("region admin", "Kliniker", "list", "region_clinics", **r)
    add("region admin", "Personer", "list", "region_people", **r)
    # The organisation's user.
    if membership is not None:
        o = {"organisation_pk": membership.organisation_id}
        add("organisation", "Startsida (organisation)", "list", "organisation_start", **o)
        add("organisation", "Fakturor (default)", "list", "organisation_invoice_list", **o)
        add("organisation", "Fakturor, Utbetalda, two years", "list", "organisation_invoice_list_paid", two_years, **o)
        add("organisation", "Utbetalningsbesked", "list", "organisation_payout_list", **o)
    return pages


# HTTP -----------------------------------------------------------------------------------------------------------


class Browser:
    """One keep-alive connection with a role's session."""

    def __init__(self, port: int, session: str):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.cookie = f"sessionid={session}; csrftoken={CSRF_SECRET}"

    def request(self, method: str, path: str, data: dict | None = None) -> tuple[int, bytes, dict]:
        headers = {"Cookie": self.cookie, "Host": "127.0.0.1"}
        body = None
        if method == "POST":
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": CSRF_SECRET})
            body = urlencode(data or {}).encode()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            return 0, str(error).encode(), {}

    def timed(self, page: Page) -> tuple[int, float, int, bytes, dict]:
        started = time.perf_counter()
        status, content, headers = self.request(page.method, page.path, page.data)
        return status, (time.perf_counter() - started) * 1000, len(content), content, headers


def _error(status: int, content: bytes, headers: dict) -> str:
    if status == 0:
        return f"connection: {content[:120].decode(errors='replace')}"
    where = f" → {headers.get('Location', '')}" if 300 <= status < 400 else ""
    return f"HTTP {status}{where}"


def find_last_page(browser: Browser, page: Page) -> None:
    """The list's last page: its link named Sista/Last, else the largest ?page= or the last ?cursor= it links to."""
    status, content, headers = browser.request("GET", page.path)
    if status != 200:
        page.error = "first page: " + _error(status, content, headers)
        return
    html = content.decode(errors="replace")
    links = re.findall(r'<a[^>]*href="([^"]*(?:cursor|page)=[^"]*)"[^>]*>(.*?)</a>', html, re.S)
    for href, text in links:
        if re.search(r"sista|last|»»|&raquo;&raquo;", text, re.I) or 'rel="last"' in href:
            page.path = urljoin(page.path, href.replace("&amp;", "&"))  # the link is relative: "?cursor=…"
            return
    numbered = [(int(m.group(1)), href) for href, _ in links if (m := re.search(r"[?&]page=(\d+)", href))]
    if numbered:
        page.path = urljoin(page.path, max(numbered)[1].replace("&amp;", "&"))
        return
    page.note = "no link to a last page (the list pages by keyset: next and previous only)"


def measure_single(port: int, session: str, page: Page, requests: int, budget: float) -> None:
    browser = Browser(port, session)
    status, elapsed, size, content, headers = browser.timed(page)  # warm-up: the worker has it in its caches
    if status != 200:
        page.errors.append(_error(status, content, headers))
        return
    page.size = size
    if elapsed / 1000 > budget:
        # A page slower than the budget: its one request is the measure (the next would take as long).
        page.single, page.single_n = percentiles([elapsed]), 1
        return
    times = []
    started = time.monotonic()
    for _n in range(requests):
        status, elapsed, _size, content, headers = browser.timed(page)
        if status != 200:
            page.errors.append(_error(status, content, headers))
        times.append(elapsed)
        if time.monotonic() - started > budget:
            break
    page.single, page.single_n = percentiles(times), len(times)


def warm_workers(port: int, session: str, page: Page, workers: int) -> None:
    """Each gunicorn worker's first request (its imports, templates and connection) before any is timed: the page
    asked by twice as many clients at once as there are workers, untimed. Without it the first page measured took
    the cold workers' first requests (a p95 of 744 ms against 30-40 ms for the rest)."""
    threads = [
        threading.Thread(target=lambda: Browser(port, session).timed(page), daemon=True) for _ in range(2 * workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure_loaded(port: int, session: str, page: Page, clients: int, requests: int, budget: float) -> None:
    """`clients` clients at once, `requests` in all (fewer when the budget runs out): p50/p95 and pages/s."""
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    left = [requests]

    def client():
        browser = Browser(port, session)
        browser.request("GET", "/healthz")  # connected before the clock starts
        barrier.wait()
        mine, failed = [], []
        while True:
            with lock:
                if left[0] <= 0 or time.monotonic() - start[0] > budget:
                    break
                left[0] -= 1
            status, elapsed, _size, content, headers = browser.timed(page)
            mine.append(elapsed)
            if status != 200:
                failed.append(_error(status, content, headers))
        with lock:
            times.extend(mine)
            errors.extend(failed)

    start = [0.0]
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start[0] = time.monotonic()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if times:
        page.loaded = percentiles(times)
        page.rate = len(times) / wall
    page.errors.extend(f"{clients} clients: {error}" for error in sorted(set(errors)))


def count_queries(session: str, page: Page) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", enforce_csrf_checks=False)
    client.cookies[settings.SESSION_COOKIE_NAME] = session
    with CaptureQueriesContext(connection) as captured:
        response = client.post(page.path, page.data or {}) if page.method == "POST" else client.get(page.path)
        if getattr(response, "streaming", False):
            for _chunk in response.streaming_content:
                pass
    page.queries = len(captured.captured_queries)
    if response.status_code != 200 and not page.errors:
        page.errors.append(f"in-process: HTTP {response.status_code}")


# The payout run ---------------------------------------------------------------------------------------------------


def payout_run(port: int, session: str, today: datetime.date, timeout: float) -> list[Page]:
    """Ny utbetalningskörning in Västra Götaland over every claim under behandling: the preview, the run (until done),
    then its page and its payment file."""
    from claims.models import Claim
    from clinics.models import Region
    from payouts.bankdays import next_bank_day
    from payouts.models import PayoutPreview, PayoutRun

    region = Region.objects.get(code="vg")
    payout_date = next_bank_day(today)
    while PayoutRun.objects.filter(region=region, payout_date=payout_date).exclude(state="cancelled").exists():
        payout_date = next_bank_day(payout_date)
    waiting = Claim.objects.filter(clinic__region=region, state__in=("received", "approved"), payout__isnull=True)
    count = waiting.count()
    rows = []
    browser = Browser(port, session)
    path = _reverse("payout_run_new", region_code=region.code)
    data = {"payout_date": payout_date.isoformat()}
    # Förhandsgranska starts the preview's task and answers with its page (progress until it is computed).
    new = Page("coordinator", f"payout run: preview until computed ({count} claims waiting)", path, "action",
               method="POST", data=data)  # fmt: skip
    started = time.perf_counter()
    status, elapsed, _size, content, headers = browser.timed(new)
    rows.append(new)
    if status not in (302, 303):
        new.errors.append(_error(status, content, headers))
        return rows
    preview_path = urljoin(path, headers.get("Location", ""))
    preview = None
    while time.perf_counter() - started < timeout:
        preview = PayoutPreview.objects.filter(region=region, payout_date=payout_date).order_by("-pk").first()
        if preview is not None and preview.state != "making":
            break
        time.sleep(0.25)
    new.single, new.single_n = percentiles([(time.perf_counter() - started) * 1000]), 1
    new.name += f"; the request {elapsed / 1000:.2f} s"
    if preview is None or preview.state != "ready":
        new.errors.append(f"preview {preview.state if preview else 'missing'} after {timeout:.0f} s")
        return rows
    status, content, headers = browser.request("GET", preview_path)
    if status != 200:
        new.errors.append("the preview's page: " + _error(status, content, headers))
        return rows
    # Timed with the run's pages, after the run (rows[2:] in main): the same page, with a link to the run made.
    preview_page = Page("coordinator", f"the preview's page ({preview.claim_count} claims)", preview_path, "list")
    fingerprint = re.search(rb'name="fingerprint"[^>]*value="([^"]+)"', content) or re.search(
        rb'value="([^"]+)"[^>]*name="fingerprint"', content
    )
    data = {"payout_date": payout_date.isoformat()}
    if fingerprint:
        data["fingerprint"] = fingerprint.group(1).decode()
    make = Page("coordinator", f"payout run: made, until done ({count} claims)", new.path, "action", method="POST",
                data=data)  # fmt: skip
    started = time.perf_counter()
    status, elapsed, _size, content, headers = browser.timed(make)
    if status not in (200, 302, 303):
        make.errors.append(_error(status, content, headers))
    request_ms = elapsed
    run = None
    while time.perf_counter() - started < timeout:
        run = PayoutRun.objects.filter(region=region, payout_date=payout_date, state__in=RUN_DONE_STATES).first()
        if run is not None:
            break
        time.sleep(0.25)
    done_ms = (time.perf_counter() - started) * 1000
    make.single, make.single_n = percentiles([done_ms]), 1
    make.name += f"; the request {request_ms / 1000:.1f} s"
    rows.append(make)
    if run is None:
        make.errors.append(f"no run after {timeout:.0f} s")
        return rows
    make.name = f"payout run: made, until done ({run.claim_count} claims; the request {request_ms / 1000:.1f} s)"
    if run.state == "awaiting_second":
        _second_confirm(run)
    detail = Page("coordinator", f"the new run's page ({run.claim_count} claims)",
                  _reverse("payout_run_detail", region_code=region.code, run_pk=run.pk), "list")  # fmt: skip
    payment_file = Page("coordinator", f"the new run's payment file ({run.claim_count} claims)",
                        _reverse("payout_run_file", region_code=region.code, run_pk=run.pk), "file", method="POST",
                        data={})  # fmt: skip
    return [*rows, preview_page, detail, payment_file]


def _second_confirm(run) -> None:
    """A second coordinator confirms a run above the region's four-eyes amount (made here for the bench)."""
    from django.contrib.auth.hashers import make_password

    from clinics.models import RegionMembership, User
    from payouts.services import payout_run_confirm

    user, _created = User.objects.get_or_create(
        email="samordnare2.vg@scale.test", defaults={"name": "Andra samordnaren", "password": make_password(None)}
    )
    RegionMembership.objects.get_or_create(user=user, region=run.region, defaults={"role": "coordinator"})
    payout_run_confirm(actor=user, run=run)


# Output -----------------------------------------------------------------------------------------------------------


def _ms(figures: dict | None) -> str:
    if not figures:
        return "–"
    if figures["p95"] >= 1000:
        return f"{figures['p50'] / 1000:.2f} / {figures['p95'] / 1000:.2f} s"
    return f"{figures['p50']:.0f} / {figures['p95']:.0f} ms"


def _flag(page: Page) -> str:
    if page.error or page.errors:
        return "**error**"
    if page.note:
        return "not measured"
    if not page.held_to_targets:
        return "–"
    missed = []
    if page.single and page.single["p95"] > TARGET_P95_MS:
        missed.append("p95")
    if page.loaded_skipped or (page.rate is not None and page.rate < TARGET_PAGES_PER_SECOND):
        missed.append("pages/s")
    return "met" if not missed else "not met (" + ", ".join(missed) + ")"


def print_table(pages: list[Page], clients: int) -> None:
    print()
    print(f"| role | page | queries | size | 1 client p50 / p95 (n) | {clients} clients p50 / p95 | pages/s | target |")
    print("|---|---|---|---|---|---|---|---|")
    for page in pages:
        size = f"{page.size / 1024:.0f} KB" if page.size >= 1024 else (f"{page.size} B" if page.size else "–")
        single = f"{_ms(page.single)} ({page.single_n})" if page.single else "–"
        rate = f"{page.rate:.1f}" if page.rate is not None else "–"
        queries = str(page.queries) if page.queries is not None else "–"
        loaded = "skipped (slow at 1 client)" if page.loaded_skipped else _ms(page.loaded)
        print(f"| {page.role} | {page.name} | {queries} | {size} | {single} | {loaded} | {rate} | {_flag(page)} |")
    errors = [(page, error) for page in pages for error in ([page.error] if page.error else []) + page.errors]
    if errors:
        print()
        print("Errors:")
        for page, error in errors:
            print(f"- {page.role}, {page.name} ({page.path or 'no path'}): {error}")
    notes = [page for page in pages if page.note]
    if notes:
        print()
        print("Not measured:")
        for page in notes:
            print(f"- {page.role}, {page.name}: {page.note}")
    held = [page for page in pages if page.held_to_targets]
    p95_missed = [page for page in held if page.single and page.single["p95"] > TARGET_P95_MS]
    rate_missed = [
        page for page in held if page.loaded_skipped or (page.rate is not None and page.rate < TARGET_PAGES_PER_SECOND)
    ]
    print()
    print(
        f"Targets (issue 16, point 2), over {len(held)} list and detail pages: "
        f"p95 ≤ {TARGET_P95_MS:.0f} ms at 1 client: {'met' if not p95_missed else f'not met on {len(p95_missed)}'}; "
        f"≥ {TARGET_PAGES_PER_SECOND:.0f} pages/s at {clients} clients: "
        f"{'met' if not rate_missed else f'not met on {len(rate_missed)}'}; "
        f"no error: {'met' if not errors else f'not met ({len(errors)})'}."
    )


# Main -------------------------------------------------------------------------------------------------------------


def start_worker(log: Path) -> subprocess.Popen | None:
    if not os.environ.get("REDIS_URL"):
        return None
    output = open(log, "ab")  # noqa: SIM115 (the worker's, for its life)
    from portal.background import QUEUES

    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--queues",
            ",".join(QUEUES),
            "--loglevel",
            "WARNING",
            "--concurrency",
            "1",
        ],
        cwd=BASE_DIR,
        start_new_session=True,
        stdout=output,
        stderr=output,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=1_000_000, help="the fill's size (default 1 000 000)")
    parser.add_argument("--skip-fill", action="store_true", help="reuse the bench database as it is")
    parser.add_argument("--from-template", metavar="DATABASE", help="copy a filled database instead of filling")
    parser.add_argument("--requests", type=int, default=20, help="requests per page at 1 client")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--loaded-requests", type=int, default=60, help="requests per page at --clients clients")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per page and measurement, at most")
    parser.add_argument(
        "--loaded-max-p50",
        type=float,
        default=1000.0,
        help="ms: a page slower than this at 1 client is not measured at --clients clients (reported as skipped)",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn's sync workers")
    parser.add_argument("--timeout", type=int, default=120, help="gunicorn's worker timeout, seconds")
    parser.add_argument("--only", help="measure only the pages whose role or name matches this regex")
    parser.add_argument("--no-payout", action="store_true", help="leave out the payout run")
    parser.add_argument("--payout-timeout", type=float, default=600.0)
    args = parser.parse_args()
    # Stopped from outside (timeout, kill): the server and the worker are stopped too, by the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))

    logging.getLogger("axes").setLevel(logging.WARNING)
    print(f"Preparing {BENCH_DATABASE} …", flush=True)
    prepare_database(args)
    from django.db import connection, connections

    from claims.models import Claim

    today = datetime.date.today()
    claims = Claim.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    sessions = make_sessions()
    pages = [page for page in build_pages(today) if page.role in sessions or page.error]
    if args.only:
        pages = [page for page in pages if re.search(args.only, f"{page.role} {page.name}", re.I)]
    connections.close_all()
    extra = ["--timeout", str(args.timeout)]
    logs = BASE_DIR / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    server, port = start_server(args.workers, extra, log=logs / "scale-gunicorn.log")
    worker = start_worker(logs / "scale-worker.log")
    print(f"  the server's and the worker's output: {logs}/scale-gunicorn.log, scale-worker.log")
    load = os.getloadavg()
    try:
        print(
            f"{claims} claims, database {size}; gunicorn, {args.workers} sync workers, on 127.0.0.1:{port}; "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs",
            flush=True,
        )
        first = next((page for page in pages if not page.error), None)
        if first is not None:
            warm_workers(port, sessions[first.role], first, args.workers)
        for page in pages:
            if page.error:
                continue
            session = sessions[page.role]
            if page.data == {"last_page_of": True}:
                page.data = None
                find_last_page(Browser(port, session), page)
                if page.error or page.note:
                    continue
            started = time.monotonic()
            measure_single(port, session, page, args.requests, args.budget)
            if page.errors:
                pass
            elif page.single and page.single["p50"] > args.loaded_max_p50:
                # 20 clients of a page that takes seconds for one would take minutes and cannot reach the target.
                page.loaded_skipped = True
            else:
                measure_loaded(port, session, page, args.clients, args.loaded_requests, args.budget)
            count_queries(session, page)
            connections.close_all()
            print(
                f"  {page.role}, {page.name}: {_ms(page.single)}; {args.clients} clients {_ms(page.loaded)}, "
                f"{page.rate or 0:.1f}/s; {page.queries} queries; {page.errors or ''} "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
        if not args.no_payout and (not args.only or re.search(args.only, "coordinator payout run", re.I)):
            session = sessions["coordinator"]
            rows = payout_run(port, session, today, args.payout_timeout)
            for page in rows[2:]:
                measure_single(port, session, page, min(args.requests, 3), args.budget)
                count_queries(session, page)
            connections.close_all()
            pages += rows
    finally:
        if worker is not None:
            stop_server(worker)
        stop_server(server)
    load = os.getloadavg()
    print(f"\nLoad average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print_table(pages, args.clients)


if __name__ == "__main__":
    main()
