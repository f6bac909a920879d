"""The clinic's pages at scale (issue 16, point 2): server time, queries and size of each, in-process.

    .venv/bin/python bench/clinic_pages.py [--runs 20] [--export]

Against the database DATABASE_URL names, filled by bench/scale_fill.py (1 000 000 claims: the demo's clinic 31
holds the invoice of about 10 000 claims). Each page is asked `--runs` times (after one warm-up) through Django's
test client as the demo biller of clinic 31 (and the umbrella organisation's user for its pages), timing the whole
request in the process (no network, no gunicorn): p50 and p95 in ms, the process's CPU time per request (p50,
`time.process_time`: what the page costs a worker whatever else the machine runs), SQL queries (of one more run),
and the response's size. DEBUG is off unless DJANGO_DEBUG says otherwise. `--export` adds Era fakturor's Excel
export over two years (3 runs) with the process's peak RSS.

Each view writes its access-log rows as in production, into that database. It runs from the current directory's
code, so the same script measures another checkout (`cd ../main && python ../wt-c/bench/clinic_pages.py`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import resource
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "0")

BILLER = "fakturerare@demo.test"
ORGANISATION_USER = "organisation@demo.test"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--only", default="", help="a word the page's name must contain")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from claims.models import Claim, Invoice
    from clinics.models import Clinic, Organisation, User

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clinic = Clinic.objects.get(number="31")
    biller = User.objects.get(email=BILLER)
    big = Invoice.objects.filter(clinic=clinic).order_by("-pk").first()
    big_count = 0
    for invoice_pk, count in (
        Claim.objects.filter(clinic=clinic)
        .values_list("invoice_id")
        .annotate(n=django.db.models.Count("pk"))
        .order_by("-n")[:1]
    ):
        big, big_count = Invoice.objects.get(pk=invoice_pk), count
    claim = Claim.objects.filter(clinic=clinic).order_by("-pk").first()
    today = timezone.localdate()
    two_years = f"date_from={(today - datetime.timedelta(days=730)).isoformat()}&date_to={today.isoformat()}"
    base = f"/klinik/{clinic.pk}"
    pages = [
        ("Start page", f"{base}/"),
        ("Era fakturor, Under behandling (default)", f"{base}/fakturor/"),
        ("Era fakturor, Utbetalda (default)", f"{base}/fakturor/utbetalda/"),
        ("Era fakturor, Kreditfakturor (default)", f"{base}/fakturor/kreditfakturor/"),
        ("Era fakturor, Makulerade (default)", f"{base}/fakturor/makulerade/"),
        ("Era fakturor, Under behandling, two years", f"{base}/fakturor/?{two_years}"),
        ("Era fakturor, Utbetalda, two years", f"{base}/fakturor/utbetalda/?{two_years}"),
        ("Era fakturor, Kreditfakturor, two years", f"{base}/fakturor/kreditfakturor/?{two_years}"),
        ("Era fakturor, Makulerade, two years", f"{base}/fakturor/makulerade/?{two_years}"),
        ("Era fakturor, Utbetalda, two years, 10th page", "deep"),
        (f"Invoice of {big_count} claims, first page", f"{base}/fakturor/{big.pk}/"),
        (f"Invoice of {big_count} claims, its row opened (claims part)", f"{base}/fakturor/{big.pk}/rakningar/"),
        (f"Invoice of {big_count} claims, last page", f"{base}/fakturor/{big.pk}/?sida=last"),
        ("Sök person", f"{base}/sok-person/"),
        ("Registrera räkning", f"{base}/registrera-rakning/"),
        ("A claim's page", f"{base}/fakturor/rakningar/{claim.pk}/"),
        ("Utbetalningsbesked", f"{base}/utbetalningsbesked/"),
    ]
    organisation = Organisation.objects.filter(memberships__user__email=ORGANISATION_USER).first()
    if organisation is not None:
        org = f"/organisation/{organisation.pk}"
        pages += [
            ("Organisation: start", f"{org}/"),
            ("Organisation: Era fakturor (default)", f"{org}/fakturor/"),
            ("Organisation: Era fakturor, Utbetalda, two years", f"{org}/fakturor/utbetalda/?{two_years}"),
            ("Organisation: Utbetalningsbesked", f"{org}/utbetalningsbesked/"),
        ]

    client = Client()
    client.force_login(biller)
    org_client = Client()
    if organisation is not None:
        org_client.force_login(User.objects.get(email=ORGANISATION_USER))

    def resolve(url: str) -> str:
        if url == "deep":
            # Follow Nästa sida nine times: the tenth page's cursor.
            url = f"{base}/fakturor/utbetalda/?{two_years}"
            for _step in range(9):
                found = re.search(r'href="\?([^"]*cursor=[^"]+)" rel="next"', client.get(url).content.decode())
                if not found:
                    break
                url = f"{base}/fakturor/utbetalda/?" + found.group(1).replace("&amp;", "&")
            return url
        if url.endswith("sida=last"):
            return url.replace("sida=last", f"sida={max(1, -(-big_count // 50))}")
        return url

    print(f"{'page':58} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>8} {'queries':>8} {'KB':>8} status")
    for name, url in pages:
        if args.only and args.only.lower() not in name.lower():
            continue
        who = org_client if name.startswith("Organisation") else client
        url = resolve(url)
        who.get(url)  # warm-up
        times, cpu = [], []
        for _run in range(args.runs):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = who.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        with CaptureQueriesContext(connection) as queries:
            who.get(url)
        size = len(response.content) / 1024
        print(
            f"{name:58} {statistics.median(times):8.1f} {_percentile(times, 0.95):8.1f} {statistics.median(cpu):8.1f} "
            f"{len(queries):8d} {size:8.1f} {response.status_code}"
        )

    if args.export:
        url = f"{base}/fakturor/utbetalda/?{two_years}&export=xlsx"
        times = []
        for _run in range(3):
            started = time.perf_counter()
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            times.append((time.perf_counter() - started) * 1000)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{'Era fakturor Excel, Utbetalda, two years':58} {statistics.median(times):8.1f} {max(times):8.1f} "
            f"{'':>8} {len(body) / 1024:8.1f} {response.status_code}  peak RSS {peak:.0f} MB"
        )


if __name__ == "__main__":
    main()
