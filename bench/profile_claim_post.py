"""Profile one POST /api/v1/claims in-process (issue 13's claim figure): the SQL queries of one call with their
time, the in-process time per call (p50/p95), and where the Python time goes (cProfile).

    .venv/bin/python bench/profile_claim_post.py [--calls 200] [--prepare] [--profile] [--queries]

It works in a database of its own on DATABASE_URL's server (`tandportal_bench_api_profile`, or
TANDPORTAL_BENCH_API_DATABASE), made as `bench/api.py` makes its own with `--prepare` (dropped, migrated, the demo,
benchmark patients); without it the database is reused and later patients are taken. Each call is the benchmark's
one-visit claim (N, 101 and a patient fee) for a fresh patient with clinic 31's demo key, through Django's test
client (DEBUG off, no HTTP server: what is measured is the portal's own time).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

os.environ.setdefault("TANDPORTAL_BENCH_API_DATABASE", "tandportal_bench_api_profile")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

from bench import api as bench_api  # noqa: E402

PATIENTS = 20_000


def _connect(prepare: bool) -> None:
    if prepare:
        bench_api.prepare_database()
        from bench.invoice_files import ensure_patients

        ensure_patients(PATIENTS)
        return
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set.")
    os.environ["DATABASE_URL"] = bench_api._database_url(url, bench_api.BENCH_DATABASE)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.local"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["API_RATE_LIMIT"] = "1000000/min"
    import django

    django.setup()


def _next_patient() -> int:
    from claims.models import Claim

    used = Claim.objects.filter(reference__startswith="API-").count()
    return 10_000 + used  # above what bench/api.py's own run would use


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--prepare", action="store_true", help="make the database anew")
    parser.add_argument("--profile", action="store_true", help="cProfile the calls, top 40 by cumulative time")
    parser.add_argument("--dump", help="write the profile's statistics to this file (pstats)")
    parser.add_argument(
        "-q", "--queries", action="count", default=0, help="list the queries of one call (-qq: in full)"
    )
    args = parser.parse_args()
    _connect(args.prepare)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {bench_api.KEY}")
    day = datetime.date.today() - datetime.timedelta(days=1)
    first = _next_patient()
    if first + args.calls + 20 >= PATIENTS:
        sys.exit("out of benchmark patients: run with --prepare")

    def post(k: int):
        body = json.dumps(bench_api.claim_body(k, day))
        response = client.post("/api/v1/claims", body, content_type="application/json")
        assert response.status_code == 201, response.content
        return response

    for k in range(first, first + 10):  # warm-up: imports, caches, connection
        post(k)
    k = first + 10

    with CaptureQueriesContext(connection) as captured:
        post(k)
    k += 1
    print(f"SQL queries of one claim: {len(captured.captured_queries)}")
    if args.queries:
        total = 0.0
        for number, query in enumerate(captured.captured_queries, start=1):
            total += float(query["time"])
            sql = query["sql"] if args.queries > 1 else query["sql"][:220]
            print(f"  {number:2d} {float(query['time']) * 1000:6.2f} ms  {sql}")
        print(f"  SQL time {total * 1000:.1f} ms")

    profiler = cProfile.Profile() if args.profile else None
    times = []
    cpu_started = time.process_time()
    for _ in range(args.calls):
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        post(k)
        if profiler:
            profiler.disable()
        times.append((time.perf_counter() - started) * 1000)
        k += 1
    cpu = (time.process_time() - cpu_started) * 1000 / args.calls
    cut = statistics.quantiles(sorted(times), n=100, method="inclusive")
    print(
        f"in-process, {args.calls} calls: p50 {cut[49]:.1f} ms  p95 {cut[94]:.1f} ms"
        f"  mean {statistics.mean(times):.1f} ms"
        f"  (this process's CPU {cpu:.1f} ms a call: the portal's Python, less waiting for the database)"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")
    if profiler and args.dump:
        profiler.dump_stats(args.dump)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
        out = io.StringIO()  # the project's own functions
        own = r"/(billing|claims|review|portal|eligibility|clinics|payouts|notifications)/"
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(own, 60)
        print(out.getvalue())


if __name__ == "__main__":
    main()
