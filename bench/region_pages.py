"""The region's pages at scale (issue 16 point 2): time each in-process with Django's test client against
DATABASE_URL's database (filled by bench/scale_fill.py and migrated), count its queries, and measure the
Åtkomstlogg export's memory.

    .venv/bin/python bench/region_pages.py [--runs 20] [--region vg] [--user samordnare.vg@demo.test]

Server time only (no HTTP, no gunicorn): each page `--runs` times after one warm-up, p50/p95 in ms, with the
queries of one view and the size of its HTML. The database is only read, except for the access-log rows each
page that shows a personnummer writes, as it does for a real coordinator.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "0")  # as production renders: no debug SQL log, cached templates
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()


def _timed(
    client, method: str, url: str, data: dict | None, runs: int
) -> tuple[list[float], list[float], int, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call = getattr(client, method)
    with CaptureQueriesContext(connection) as captured:
        response = call(url, data or {})
    size = len(b"".join(response.streaming_content)) if response.streaming else len(response.content)
    queries = len(captured.captured_queries)
    times, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = call(url, data or {})
        if response.streaming:
            for _piece in response.streaming_content:
                pass
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return times, cpu, queries, size, response.status_code


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--region", default="vg")
    parser.add_argument("--user", default="samordnare.vg@demo.test")
    parser.add_argument("--export-days", type=int, default=30)
    parser.add_argument(
        "--log-user", default="fakturerare@demo.test", help="whose Åtkomstlogg is searched too (bench/scale.py's)"
    )
    parser.add_argument("--only", default="", help="run only the pages whose name contains this")
    args = parser.parse_args()
    _setup()

    from django.test import Client
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    from claims.models import Claim, ClaimState
    from clinics.models import Clinic, User
    from portal.models import AccessLogEntry

    user = User.objects.get(email=args.user)
    client = Client()
    # A session that gave its second factor (portal.two_factor): a recovery-code device of the bench's own.
    device, _ = StaticDevice.objects.get_or_create(user=user, name="bench/region_pages.py")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    base = f"/region/{args.region}"
    clinic = Clinic.objects.filter(region__code=args.region).order_by("number").first()
    busiest = (
        AccessLogEntry.objects.filter(region__code=args.region).values_list("user__email", flat=True).first() or ""
    )
    pin = (
        Claim.objects.of_clinic(clinic)
        .exclude(state=ClaimState.DELETED)
        .values_list("patient__personal_identity_number", flat=True)
        .first()
    )
    today = timezone.localdate()
    period = {
        "date_from": (today - datetime.timedelta(days=args.export_days)).isoformat(),
        "date_to": today.isoformat(),
    }
    pages = [
        ("start page", "get", f"{base}/", None),
        ("Räkningar, Att hantera", "get", f"{base}/rakningar/", None),
        ("Räkningar, Att hantera, last page", "get", f"{base}/rakningar/", {"cursor": "last"}),
        ("Räkningar, all", "get", f"{base}/rakningar/", {"queue": ""}),
        ("Räkningar, all, last page", "get", f"{base}/rakningar/", {"queue": "", "cursor": "last"}),
        ("Räkningar, one clinic", "get", f"{base}/rakningar/", {"queue": "", "clinic": clinic.pk}),
        (
            "Räkningar, one clinic, last page",
            "get",
            f"{base}/rakningar/",
            {"queue": "", "clinic": clinic.pk, "cursor": "last"},
        ),
        ("Räkningar, Utbetald", "get", f"{base}/rakningar/", {"queue": "", "state": ClaimState.PAID}),
        (
            "Räkningar, Makulerad, last page",
            "get",
            f"{base}/rakningar/",
            {"queue": "", "state": ClaimState.VOIDED, "cursor": "last"},
        ),
        ("Belopp per månad (Excel)", "get", f"{base}/rapporter/belopp-per-manad.xlsx", None),
        ("Belopp per klinik (Excel)", "get", f"{base}/rapporter/belopp-per-klinik.xlsx", None),
        ("Åtkomstlogg, a patient", "post", f"{base}/atkomstlogg/", {"personal_identity_number": pin, **period}),
        ("Åtkomstlogg, a user", "post", f"{base}/atkomstlogg/", {"user_email": busiest, **period}),
        ("Åtkomstlogg, " + args.log_user, "post", f"{base}/atkomstlogg/", {"user_email": args.log_user, **period}),
        ("Kliniker", "get", f"{base}/kliniker/", None),
    ]
    # Server time and the CPU time of this process (the view, its templates, the database driver): the database's
    # own work is the difference, more or less.
    print(f"{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>8} {'queries':>8} {'KB':>8}")
    for name, method, url, data in pages:
        if args.only and args.only not in name:
            continue
        times, cpu, queries, size, status = _timed(client, method, url, data, args.runs)
        flag = "" if status == 200 else f"  status {status}"
        print(
            f"{name:44} {statistics.median(times):8.1f} {_p95(times):8.1f} {statistics.median(cpu):8.1f} {queries:8} "
            f"{size / 1024:8.1f}{flag}"
        )

    if not args.only or "export" in args.only:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        response = client.post(f"{base}/atkomstlogg/", {"user_email": args.log_user, "export": "1", **period})
        if response.get("Content-Disposition", "").startswith("attachment"):
            streamed = response.streaming
            size = sum(len(piece) for piece in response.streaming_content) if streamed else len(response.content)
        else:
            print(f"Åtkomstlogg export: no file (status {response.status_code}; no entries of a user to export?)")
            return
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"Åtkomstlogg export, {args.log_user}, {args.export_days} days: {seconds:.1f} s, "
            f"{size / 1024 / 1024:.1f} MB, "
            f"peak RSS {after / 1024:.0f} MB (+{(after - before) / 1024:.0f} MB), {'streamed' if streamed else 'whole'}"
        )


if __name__ == "__main__":
    main()
