"""Benchmark of the payout preview as a background job and of the pages that show a large run (issue 16, point 3):

    DATABASE_URL=…/tp_scale_b .venv/bin/python bench/payout_preview.py --requests 20
    DATABASE_URL=…/tp_scale_b .venv/bin/python bench/payout_preview.py --old      # also the preview in the request

On a database filled by bench/scale_fill.py, in this process (as a worker's and as gunicorn's would be), as a
coordinator of the region with the most open claims, for its next free payout date (every open claim due):

- old: the preview as it was computed in the coordinator's request (payouts.selectors.payout_preview);
- ask: the request of Förhandsgranska (payouts.preview_services.payout_preview_start: records it, queues nothing
  here);
- task: the task's work (payout_preview_make), CPU time of this process and wall time, statements;
- the preview's page (first, second and last page of clinics) and the region's largest run's page (first page),
  each asked `--requests` times through the test client: p50 / p95, statements, size; and the slowest statements
  of one request of each, with their time (for EXPLAIN ANALYZE).

The preview made is kept (a preview is data of its own, forgotten after a week); nothing else is written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--old", action="store_true", help="also time the preview as computed in the request")
    parser.add_argument("--run", type=int, help="the run whose page is timed (default: the region's largest)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from payout_run import busiest_region

    from clinics.models import RegionMembership, RegionRole
    from payouts import bankdays, preview_services, selectors
    from payouts.models import LIVE_RUN_STATES, PayoutRun

    statements: list[tuple[float, str]] = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append(((time.perf_counter() - started) * 1000, sql))

    def step(name: str, work):
        statements.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        with connection.execute_wrapper(record):
            value = work()
        print(
            f"{name}: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU of this process, "
            f"{len(statements)} statements",
            flush=True,
        )
        return value

    region = busiest_region()
    coordinator = (
        RegionMembership.objects.filter(region=region, role=RegionRole.COORDINATOR).select_related("user").first().user
    )
    day = bankdays.next_bank_day(datetime_today())
    while PayoutRun.objects.filter(region=region, payout_date=day, state__in=LIVE_RUN_STATES).exists():
        day = bankdays.next_bank_day(day)
    print(f"region {region.code}, payout date {day}, coordinator {coordinator.email}")

    if args.old:
        plan = step("old: the preview in the request", lambda: selectors.payout_preview(region=region, payout_date=day))
        print(f"  {plan.claim_count} claims, {len(plan.payments)} clinics")
    started = step(
        "ask (the request of Förhandsgranska)",
        lambda: preview_services.payout_preview_start(actor=coordinator, region=region, payout_date=day),
    )
    preview = step(
        "task (payout_preview_make)", lambda: preview_services.payout_preview_make(preview_id=started.preview.pk)
    )
    for ms, sql in sorted(statements, reverse=True)[:4]:
        print(f"    {ms:7.1f} ms  {sql[:200]}")
    print(f"  {preview.state}: {preview.claim_count} claims, {preview.payments.count()} clinics, "
          f"{preview.left_out_count} left out")  # fmt: skip

    client = Client(SERVER_NAME="localhost")
    client.force_login(coordinator)
    device, _created = TOTPDevice.objects.get_or_create(user=coordinator, name="bench", defaults={"confirmed": True})
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    def timed_page(name: str, url: str) -> None:
        client.get(url)  # warm
        times = []
        for _ in range(args.requests):
            begun = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - begun) * 1000)
        statements.clear()
        with connection.execute_wrapper(record):
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        print(
            f"{name}: p50 {statistics.median(times):.0f} ms, p95 {_percentile(times, 0.95):.0f} ms "
            f"({args.requests}), {len(statements)} statements, {len(response.content) / 1024:.0f} KB"
        )
        for ms, sql in sorted(statements, reverse=True)[:4]:
            print(f"    {ms:7.1f} ms  {sql[:300]}")

    pages = preview.payments.count() // 10 + (1 if preview.payments.count() % 10 else 0)
    url = reverse("payout_preview_detail", kwargs={"region_code": region.code, "preview_pk": preview.pk})
    timed_page("the preview's page 1", url)
    timed_page("the preview's page 2", url + "?sida=2")
    timed_page(f"the preview's page {pages} (last)", url + f"?sida={pages}")
    run = (
        PayoutRun.objects.get(pk=args.run)
        if args.run
        else PayoutRun.objects.filter(region=region).order_by("-claim_count").first()
    )
    if run is not None:
        url = reverse("payout_run_detail", kwargs={"region_code": region.code, "run_pk": run.pk})
        timed_page(f"the run's page ({run.claim_count} claims, {run.state})", url)


def datetime_today():
    from django.utils import timezone

    return timezone.localdate()


if __name__ == "__main__":
    main()
