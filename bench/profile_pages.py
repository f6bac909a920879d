"""What a light page costs in CPU, in-process (issue 16: ≥ 40 pages/s at 20 clients on 2 cores is a CPU budget of
about 50 ms of Python and PostgreSQL together per page):

    .venv/bin/python bench/profile_pages.py [--requests 50] [--only REGEX] [--profile] [-q]

It serves the pages through Django's WSGI handler in this process, as gunicorn's worker does (production settings:
DEBUG off, connections kept, JSON logs, hashed static files), against the database of DATABASE_URL as it is (a
filled copy: `tp_scale_X`, or the demo). For each page: the Python CPU time per request (time.process_time), the
PostgreSQL backend's CPU time per request (its /proc/<pid>/stat, on the same machine), the wall time, the SQL
queries of one request (-q lists them) and, with --profile, where the Python time goes (cProfile, top 40).
Sessions are made as bench/scale.py makes them (force_login, the second factor marked given).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._http import production_environment  # noqa: E402

# The light pages of issue 16's table (role, name, URL name); clinic 31 of Västra Götaland, as bench/scale.py.
PAGES = [
    ("biller", "Startsida (klinik)", "clinic_start"),
    ("biller", "Sök person", "person_search"),
    ("biller", "Registrera räkning", "claim_register"),
    ("biller", "a claim's page", "invoice_claim_detail"),
    ("local admin", "Klinikadministration", "clinic_administration"),
]


def _setup() -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit("DATABASE_URL is not set.")
    os.environ.update(production_environment())
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    import django
    from django.conf import settings

    if os.environ.get("PROFILE_SERVER_SIDE_BINDING"):  # an experiment: psycopg prepares repeated statements
        settings.DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
    django.setup()


def _clock_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--only", default="", help="only the pages whose name matches this regular expression")
    parser.add_argument("--profile", action="store_true", help="cProfile the requests, top 40 by own time")
    parser.add_argument("--sort", default="tottime", help="the profile's order (tottime, cumulative)")
    parser.add_argument("--dump", help="with --profile: write the statistics to this file (pstats), per page")
    parser.add_argument("-q", "--queries", action="count", default=0, help="list one request's queries")
    parser.add_argument(
        "--explain",
        type=float,
        metavar="MS",
        help="EXPLAIN (ANALYZE, BUFFERS) each SELECT of one request that took MS ms or more",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="bench/scale.py's GET lists and detail pages (named 'role: page' for --only), not the light ones",
    )
    args = parser.parse_args()
    _setup()

    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test import RequestFactory
    from django.urls import reverse

    from bench.scale import ROLES, make_sessions
    from claims.models import Claim
    from clinics.models import Clinic

    clinic = Clinic.objects.get(region__code="vg", number="31")
    claim = Claim.objects.filter(clinic=clinic, state="paid").order_by("-pk").first()
    cookies = make_sessions()
    handler = WSGIHandler()
    factory = RequestFactory()
    ticks = os.sysconf("SC_CLK_TCK")

    def call(role: str, path: str) -> tuple[int, bytes]:
        path, _, query = path.partition("?")
        environ = factory._base_environ(
            PATH_INFO=path,
            QUERY_STRING=query,
            REQUEST_METHOD="GET",
            HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={cookies[role]}",
            HTTP_HOST="127.0.0.1",
            HTTP_X_FORWARDED_PROTO="https",
            SERVER_NAME="127.0.0.1",
        )
        statuses = []
        body = b"".join(handler(environ, lambda status, headers, *rest: statuses.append(status)))
        return int(statuses[0].split()[0]), body

    def light_pages():
        for role, name, url_name in PAGES:
            kwargs = {"clinic_pk": clinic.pk}
            if url_name == "invoice_claim_detail":
                kwargs["claim_pk"] = claim.pk
            yield role, name, url_name, reverse(url_name, kwargs=kwargs)

    def scale_pages():
        """bench/scale.py's pages as it builds them (a LAST page found by its link, as it finds it)."""
        import datetime

        from bench.scale import build_pages, find_last_page

        class InProcess:  # what find_last_page asks of a browser
            def __init__(self, role):
                self.role = role

            def request(self, method, path, data=None):
                status, body = call(self.role, path)
                return status, body, {}

        for page in build_pages(datetime.date.today()):
            if page.method != "GET" or not page.held_to_targets or page.error or page.role not in cookies:
                continue
            if args.only and not re.search(args.only, f"{page.role}: {page.name}"):
                continue
            if page.data and page.data.get("last_page_of"):
                find_last_page(InProcess(page.role), page)
            yield page.role, page.name, page.name, page.path

    rows = []
    for role, name, url_name, path in scale_pages() if args.scale else light_pages():
        if not args.scale and args.only and not re.search(args.only, name):
            continue
        if role not in ROLES or role not in cookies:
            continue
        for _ in range(3):  # warm: templates compiled, connection open
            status, body = call(role, path)
        if status != 200:
            print(f"{role} {name}: HTTP {status}")
            continue
        captured: list[str] = []  # not CaptureQueriesContext: request_started empties connection.queries
        slow: list[tuple[float, str, object]] = []

        def record(execute, sql, params, many, context, captured=captured, slow=slow):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                elapsed = (time.perf_counter() - started) * 1000
                captured.append(f"{elapsed:6.2f} ms  {sql}")
                if args.explain is not None and elapsed >= args.explain and sql.lstrip("( ").startswith("SELECT"):
                    slow.append((elapsed, sql, params))

        with connection.execute_wrapper(record):
            call(role, path)
        for elapsed, sql, params in slow:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                plan = "\n".join(f"    {line}" for (line,) in cursor.fetchall())
            print(f"\n{role} · {name}: {elapsed:.1f} ms\n  {sql[:2000]}\n{plan}")
        backend = connection.connection.info.backend_pid
        cpu, wall, database = [], [], []
        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits
        for _ in range(args.requests):
            db_before = _clock_ticks(backend)
            wall_before, cpu_before = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            call(role, path)
            if profiler:
                profiler.disable()
            cpu.append((time.process_time() - cpu_before) * 1000)
            wall.append((time.perf_counter() - wall_before) * 1000)
            database.append((_clock_ticks(backend) - db_before) * 1000 / ticks)
        rows.append(
            (
                role,
                name,
                len(captured),
                len(body),
                statistics.median(cpu),
                statistics.mean(database),
                statistics.median(wall),
            )
        )
        if args.queries:
            print(f"\n{role} · {name}: {len(captured)} queries")
            for sql in captured:
                print(f"  {sql if args.queries > 1 else sql[:240]}")
        if profiler:
            if args.dump:
                profiler.dump_stats(f"{args.dump}.{re.sub(r'[^A-Za-z0-9]+', '_', url_name)}")
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(40)
            print(f"\n{role} · {name}: profile of {args.requests} requests\n{out.getvalue()}")

    print("\n| role | page | queries | size | Python CPU p50 | PostgreSQL CPU mean | wall p50 |")
    print("|---|---|---|---|---|---|---|")
    for role, name, queries, size, cpu, database, wall in rows:
        print(f"| {role} | {name} | {queries} | {size // 1024} KB | {cpu:.1f} ms | {database:.1f} ms | {wall:.1f} ms |")


if __name__ == "__main__":
    main()
