"""Benchmark of a payout run as a background job (issue 16, point 3), on a filled database:

    .venv/bin/python bench/payout_run.py                      # DATABASE_URL's database, 10 000 and 100 000 claims
    .venv/bin/python bench/payout_run.py --sizes 10000,100000 --database tp_scale_d

The database is one filled by bench/scale_fill.py (a region with about 100 000 claims waiting for its next run).
Nothing is kept: each size runs in a fresh process (as a worker's) inside one transaction that is rolled back.

For each size N it picks the region with the most open claims and the payout date on which about N of them are
due (a run pays the invoices that came in by its date), then measures, with every SQL statement counted (COPY
counts as one) and the process's peak memory (VmHWM) after each step:

- preview: the coordinator's preview (per-clinic aggregates and the streamed fingerprint);
- run: the task's work, payouts.services.payout_run_make, for a run recorded as being made with that fingerprint;
- page: the run's page (first page of clinics) through the test client, as the coordinator;
- file: the payment file (pain.001), streamed, whole;
- notices: the utbetalningsbesked (PDF and Excel) of every clinic of the run;
- paid: the daily job marking the run's claims paid.

Targets (issue 16): 100 000 claims in at most 15 s; worker memory at most 250 MB and the same at 10 000 as at
100 000; the run's page under 100 ms.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MB (see bench/invoice_files.py: not ru_maxrss)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


class _Rollback(Exception):
    pass


def busiest_region():
    """The region with the most open claims not yet in a run: the one whose next payout run is the largest."""
    from django.db.models import Count

    from claims.models import Claim, ClaimState
    from clinics.models import Region

    return Region.objects.get(
        pk=Claim.objects.filter(state__in=(ClaimState.RECEIVED, ClaimState.APPROVED), payout__isnull=True)
        .values("clinic__region")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("clinic__region", flat=True)[0]
    )


def _due_date(region, size: int) -> tuple[datetime.date, int]:
    """The payout date on which about `size` of the region's open claims are due (bisected over invoice dates)."""
    from payouts.plan import paid_claims

    low, high = datetime.date(2000, 1, 1), datetime.date.today() + datetime.timedelta(days=60)
    while (high - low).days > 1:
        middle = low + (high - low) / 2
        if paid_claims(region=region, payout_date=middle).count() < size:
            low = middle
        else:
            high = middle
    return high, paid_claims(region=region, payout_date=high).count()


def child(size: int) -> dict:
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client
    from django.urls import reverse
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clinics.models import RegionMembership
    from payouts import notices, selectors, services
    from payouts.models import PayoutRun, PayoutRunState
    from payouts.payment_file import payment_file_stream

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    connection.ensure_connection()
    result: dict = {"size": size, "idle_mb": _status_mb("VmRSS")}
    region = busiest_region()
    # The fill wrote plusgiro clinics' credits without the Repayment the portal makes when it credits (credit_settle);
    # a run registers any missing (one statement when there are none). Registered here once, committed, so that the
    # run measured is the portal's, not a catch-up of the fill's.
    with transaction.atomic():
        services._repayments_register(region=region, actor=None)
    day, due = _due_date(region, size)
    result.update(region=region.code, payout_date=day.isoformat(), due=due)
    coordinator = RegionMembership.objects.filter(region=region).select_related("user").first().user

    def step(name: str, work):
        nonlocal queries
        queries = 0
        started = time.perf_counter()
        with connection.execute_wrapper(count):
            value = work()
        result[name] = {
            "seconds": round(time.perf_counter() - started, 3),
            "queries": queries,
            "peak_mb": round(_status_mb("VmHWM"), 1),
        }
        return value

    try:
        with transaction.atomic():
            preview = step("preview", lambda: selectors.payout_preview(region=region, payout_date=day))
            run = PayoutRun.objects.create(
                region=region,
                payout_date=day,
                created_by=coordinator,
                state=PayoutRunState.MAKING,
                fingerprint=preview.fingerprint,
                claim_count=preview.claim_count,
            )
            run = step("run", lambda: services.payout_run_make(run_id=run.pk))
            result["run"].update(state=run.state, claims=run.claim_count, clinics=run.payments.count())
            PayoutRun.objects.filter(pk=run.pk).update(state=PayoutRunState.PLANNED)
            client = Client(SERVER_NAME="localhost")
            client.force_login(coordinator)
            # The coordinator's second factor, given in this session (an app's code), as the portal asks of them.
            device = TOTPDevice.objects.create(user=coordinator, name="bench", confirmed=True)
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
            url = reverse("payout_run_detail", kwargs={"region_code": region.code, "run_pk": run.pk})
            page = step("page", lambda: client.get(url))
            result["page"].update(status=page.status_code, kb=round(len(page.content) / 1024, 1))
            content = step("file", lambda: b"".join(payment_file_stream(run)))
            result["file"]["kb"] = round(len(content) / 1024, 1)

            def all_notices() -> int:
                made = 0
                for payment in run.payments.select_related("clinic", "run__region"):
                    notice = notices.notice_build(payment)
                    notices.notice_pdf(notice)
                    notices.notice_xlsx(notice)
                    made += 1
                return made

            result["notices"]["count"] = step("notices", all_notices)
            run.refresh_from_db()
            PayoutRun.objects.filter(pk=run.pk).update(file_downloaded_at=run.created_at)
            result["paid"]["claims"] = step("paid", lambda: services.payout_run_mark_paid(run=run))
            raise _Rollback
    except _Rollback:
        pass
    return result


def _database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="claims per run, comma-separated")
    parser.add_argument("--database", help="another database on DATABASE_URL's server")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    if args.child:
        print(json.dumps(child(args.child)))
        return
    env = {**os.environ, "DJANGO_DEBUG": "false"}
    if args.database:
        env["DATABASE_URL"] = _database_url(args.database)
    rows = []
    for size in (int(value) for value in args.sizes.split(",")):
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(size)], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            sys.exit(f"size {size} failed:\n{done.stderr[-4000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print()
    print("| claims | step | seconds | queries | peak MB | |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        for name in ("preview", "run", "page", "file", "notices", "paid"):
            step = row[name]
            extra = {key: value for key, value in step.items() if key not in ("seconds", "queries", "peak_mb")}
            print(
                f"| {row['run']['claims']:,} | {name} | {step['seconds']:.2f} | {step['queries']} | "
                f"{step['peak_mb']:.0f} | {', '.join(f'{k} {v}' for k, v in extra.items())} |".replace(",", " ", 1)
            )


if __name__ == "__main__":
    main()
