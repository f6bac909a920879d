"""Benchmark of the journal-system API (issue 13): `make bench-api`, or

    .venv/bin/python bench/api.py [--calls 1000] [--parallel-claims 1600] [--clients 8] [--workers 4]

It needs DATABASE_URL (as `make bench` it works in a database of its own on that server,
`tandportal_bench_api` or the name in TANDPORTAL_BENCH_API_DATABASE, made anew on every run, migrated, filled
with the demo through `portal.demo.demo_load` and benchmark patients with N certificates) and REDIS_URL if the
API's rate limit should be counted in Redis as in production (it is set far above what the run sends). The demo
database is never touched.

It starts a real server as the image does, gunicorn with `--workers` sync workers on 127.0.0.1 and the production
settings (database connections kept, JSON logs; `production_environment`), and calls it over HTTP with keep-alive
connections, with clinic 31's demo key, as through the TLS proxy (X-Forwarded-Proto):

- eligibility check: POST /api/v1/eligibility-checks, `--calls` calls one after another, p50/p95/p99;
- one-visit claim: POST /api/v1/claims (N, 101 and a patient fee, each for its own patient and invoice number),
  `--calls` calls one after another, p50/p95/p99;
- claims/s: `--parallel-claims` such claims sent by `--clients` clients at once, each on its own connection;
- SQL queries of one eligibility check and of one claim, counted in-process with Django's test client.

Targets (issue 13, on our 2-core machine): p95 ≤ 50 ms for an eligibility check, ≤ 100 ms for a one-visit claim.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench import _http  # noqa: E402
from bench._http import stop_server  # noqa: E402
from bench.invoice_files import benchmark_pin, ensure_patients  # noqa: E402

BENCH_DATABASE = os.environ.get("TANDPORTAL_BENCH_API_DATABASE", "tandportal_bench_api")
KEY = "tandportal-demo-31"  # clinic 31 (Västra Götaland) in the demo
TARGETS = {"eligibility": 50.0, "claim": 100.0}  # p95, ms


def _database_url(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def prepare_database(name: str = BENCH_DATABASE, media: str = "api-media") -> None:
    """Make the database `name` anew on DATABASE_URL's server, migrate it, load the demo; set up Django on it with
    DEBUG off (as bench/load.py does too)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set (source your env file, or use `make bench-api`).")
    import psycopg

    maintenance = _database_url(url, "postgres").replace("postgres://", "postgresql://", 1)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = _database_url(url, name)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.local"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["API_RATE_LIMIT"] = "1000000/min"
    os.environ["TANDPORTAL_MEDIA_ROOT"] = str(BASE_DIR / "var" / "bench" / media)
    shutil.rmtree(os.environ["TANDPORTAL_MEDIA_ROOT"], ignore_errors=True)

    import django

    django.setup()
    from django.core.management import call_command

    from portal.demo import demo_load

    call_command("migrate", verbosity=0)
    demo_load()


def start_server(workers: int, production: bool = False) -> tuple[subprocess.Popen, int]:
    """The server as the image starts it; with `production` in the production settings (this benchmark's calls
    carry X-Forwarded-Proto). The load and drill benchmarks keep the environment's own: they log browsers in over
    plain HTTP, where production's secure-only cookies would not come back."""
    environment = _http.production_environment() if production else None
    return _http.start_server(workers, environment=environment)


class Api:
    """One keep-alive connection, as one journal system's client."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        # As the TLS proxy in front of gunicorn forwards it (production's SECURE_PROXY_SSL_HEADER).
        self.headers = {
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",
        }

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def timed(self, method: str, path: str, body: dict | None = None) -> tuple[int, float, bytes]:
        started = time.perf_counter()
        status, content = self.call(method, path, body)
        return status, (time.perf_counter() - started) * 1000, content


def claim_body(k: int, day: datetime.date) -> dict:
    return {
        "personnummer": benchmark_pin(k),
        "support_form": "N",
        "care_model": "K1",
        "reference": f"API-{k}",
        "invoice_reference": f"API-{k}",
        "visits": [{"date": day.isoformat(), "patient_fee": 20000, "lines": [{"code": "101"}]}],
    }


def check_body(k: int, day: datetime.date) -> dict:
    return {"personnummer": benchmark_pin(k), "date": day.isoformat()}


_percentiles = _http.percentiles


def sequential(port: int, path: str, bodies: list[dict]) -> tuple[dict, list[int]]:
    api = Api(port)
    times, statuses = [], []
    for body in bodies:
        status, elapsed, content = api.timed("POST", path, body)
        statuses.append(status)
        times.append(elapsed)
        if status >= 300:
            print(f"  unexpected {status}: {content[:300]!r}")
    return _percentiles(times), statuses


def parallel(port: int, bodies: list[dict], clients: int) -> tuple[float, dict, list[int]]:
    chunks = [bodies[i::clients] for i in range(clients)]
    times: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(chunk):
        api = Api(port)
        api.call("GET", "/api/v1/tariffs/current")  # connected before the clock starts
        barrier.wait()
        mine = [api.timed("POST", "/api/v1/claims", body) for body in chunk]
        with lock:
            times.extend(elapsed for _status, elapsed, _content in mine)
            statuses.extend(status for status, _elapsed, _content in mine)

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return len(bodies) / wall, _percentiles(times), statuses


def queries_per_call(day: datetime.date, k_check: int, k_claim: int) -> tuple[int, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {KEY}")
    counts = []
    for path, body in (
        ("/api/v1/eligibility-checks", check_body(k_check, day)),
        ("/api/v1/claims", claim_body(k_claim, day)),
    ):
        with CaptureQueriesContext(connection) as captured:
            response = client.post(path, json.dumps(body), content_type="application/json")
        assert response.status_code in (200, 201), response.content
        counts.append(len(captured.captured_queries))
    return counts[0], counts[1]


def _row(name: str, figures: dict) -> str:
    return f"  {name:<28} p50 {figures['p50']:6.1f} ms   p95 {figures['p95']:6.1f} ms   p99 {figures['p99']:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--parallel-claims", type=int, default=1600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    print(f"Preparing {BENCH_DATABASE} (migrate, demo, patients) …", flush=True)
    prepare_database()
    patients = 40 + 2 * args.calls + args.parallel_claims + 10
    ensure_patients(patients)
    day = datetime.date.today() - datetime.timedelta(days=1)

    from django.db import connections

    connections.close_all()
    server, port = start_server(args.workers, production=True)
    try:
        print(f"gunicorn, {args.workers} sync workers, on 127.0.0.1:{port}; load average {os.getloadavg()[0]:.1f}")
        # Warm-up: every worker has imported, connected and read its caches.
        sequential(port, "/api/v1/eligibility-checks", [check_body(k, day) for k in range(40)])
        sequential(port, "/api/v1/claims", [claim_body(k, day) for k in range(20)])

        base = 40
        eligibility, statuses = sequential(
            port, "/api/v1/eligibility-checks", [check_body(base + k, day) for k in range(args.calls)]
        )
        assert set(statuses) == {200}, set(statuses)
        claims, statuses = sequential(port, "/api/v1/claims", [claim_body(base + k, day) for k in range(args.calls)])
        assert set(statuses) == {201}, set(statuses)
        base += args.calls
        rate, loaded, statuses = parallel(
            port, [claim_body(base + k, day) for k in range(args.parallel_claims)], args.clients
        )
        assert set(statuses) == {201}, set(statuses)
        base += args.parallel_claims
    finally:
        stop_server(server)
    check_queries, claim_queries = queries_per_call(day, base, base + 1)

    print()
    print(_row(f"eligibility check ×{args.calls}", eligibility), f"  (target p95 ≤ {TARGETS['eligibility']:.0f} ms)")
    print(_row(f"one-visit claim ×{args.calls}", claims), f"  (target p95 ≤ {TARGETS['claim']:.0f} ms)")
    print(_row(f"claim, {args.clients} clients ×{args.parallel_claims}", loaded))
    print(f"  claims/s with {args.clients} parallel clients: {rate:.0f}")
    print(f"  SQL queries: eligibility check {check_queries}, one-visit claim {claim_queries}")
    print(f"  load average after: {os.getloadavg()[0]:.1f}")
    missed = [
        name for name, figures in (("eligibility", eligibility), ("claim", claims)) if figures["p95"] > TARGETS[name]
    ]
    print("  targets: " + ("met" if not missed else "MISSED for " + ", ".join(missed)))


if __name__ == "__main__":
    main()
