"""Where a payout run's time goes: the task's work (payouts.services.payout_run_make) in this process, on a filled
database, rolled back, with this process's CPU, the PostgreSQL backend's CPU (from /proc, the server on this
machine) and the wall time, per kind of statement, and the foreign-key checks the commit would make:

    .venv/bin/python bench/payout_run_phases.py 100000                  # DATABASE_URL's database
    .venv/bin/python bench/payout_run_phases.py 100000 --profile run.prof   # and cProfile's view of the run

The run is that of the region with the most open claims, for the payout date on which about N of them are due (as
bench/payout_run.py picks it). The wall time of a loaded machine is mostly waiting for a core: read the CPU columns.
COPY is timed around the whole call (the rows made in Python as they are written), other statements around their
execute. "deferred checks" is `SET CONSTRAINTS … IMMEDIATE` at the end, each foreign key of the tables written on its
own (a row of the table each), then ALL: the foreign keys are DEFERRABLE INITIALLY DEFERRED, so each row's check runs
at the commit, which a rolled-back benchmark never reaches. "backend" is the share of the samples (every 20 ms) in
which the backend was running (on a core or waiting for one), idle (waiting for this process) or waiting for an event.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))


def _cpu_of(pid: int) -> float:
    """User and system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The tables a run writes rows of (whose deferred foreign keys the commit checks).
WRITTEN_TABLES = (
    "claims_claim",
    "claims_claimevent",
    "claims_invoice",
    "payouts_payoutclaim",
    "payouts_payoutinvoice",
    "payouts_payoutpayment",
    "payouts_setoff",
    "portal_clinicevent",
    "portal_auditevent",
)


class _Rollback(Exception):
    pass


class _Sampler(threading.Thread):
    """What the backend is doing, every 20 ms, from a connection of its own (pg_stat_activity): running (CPU or
    waiting for a core: no wait event), idle (waiting for this process: Python's turn), or waiting for an event
    (I/O, a WAL write, a lock); and the WAL written."""

    def __init__(self, dsn: str, backend: int):
        super().__init__(daemon=True)
        self.dsn, self.backend, self.counts, self.stop = dsn, backend, Counter(), threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            query = "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s"
            while not self.stop.wait(0.02):
                row = conn.execute(query, [self.backend]).fetchone()
                if row is None:
                    continue
                state, kind, event = row
                if state and state.startswith("idle"):
                    self.counts["idle (Python's turn)"] += 1
                elif kind is None:
                    self.counts["running"] += 1
                else:
                    self.counts[f"{kind}:{event}"] += 1

    def shares(self) -> dict[str, float]:
        total = sum(self.counts.values()) or 1
        return {name: round(count / total, 3) for name, count in self.counts.most_common(8)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("size", type=int, help="about how many claims the run pays")
    parser.add_argument("--profile", help="write cProfile's stats of the run here")
    parser.add_argument(
        "--no-pipeline",
        action="store_true",
        help="send the chunks' writes one by one (each waits for its result), so that each statement's database CPU "
        "is its own in the table; slower",
    )
    parser.add_argument(
        "--nice",
        type=int,
        help="run this process and its PostgreSQL backend at this niceness (negative: ahead of the machine's other "
        "work, as root; the wall time of a busy machine then comes nearer a quiet one's)",
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    os.environ["DJANGO_DEBUG"] = "false"
    import django

    django.setup()
    from django.db import connection, transaction
    from payout_run import _due_date, _status_mb, busiest_region

    import portal.bulk
    from clinics.models import RegionMembership
    from payouts import selectors, services
    from payouts.models import PayoutRun, PayoutRunState

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    if args.nice is not None:
        for pid in (os.getpid(), backend):
            os.setpriority(os.PRIO_PROCESS, pid, args.nice)
    kinds: dict[str, list[float]] = {}  # statement -> [count, wall, backend CPU, Python CPU]

    def account(kind: str, wall: float, backend_cpu: float, python_cpu: float) -> None:
        row = kinds.setdefault(kind, [0, 0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += wall
        row[2] += backend_cpu
        row[3] += python_cpu

    def timed_execute(execute, sql, params, many, context):
        wall, cpu = time.perf_counter(), _cpu_of(backend)
        try:
            return execute(sql, params, many, context)
        finally:
            account(sql[:70], time.perf_counter() - wall, _cpu_of(backend) - cpu, 0.0)

    def timed(copy):
        def write(model, *args, **kwargs):
            wall, cpu, own = time.perf_counter(), _cpu_of(backend), time.process_time()
            try:
                return copy(model, *args, **kwargs)
            finally:
                spent = time.perf_counter() - wall
                account(f"COPY {model.__name__}", spent, _cpu_of(backend) - cpu, time.process_time() - own)

        return write

    modules = [sys.modules[name] for name in ("portal.audit", "portal.events", "claims.services", "payouts.services")]
    for name in ("copy_insert", "copy_rows"):
        if hasattr(portal.bulk, name):
            wrapped = timed(getattr(portal.bulk, name))
            for module in modules:
                if hasattr(module, name):
                    setattr(module, name, wrapped)

    if args.no_pipeline:
        services._pipeline = contextlib.nullcontext
    region = busiest_region()
    with transaction.atomic():
        services._repayments_register(region=region, actor=None)
    day, due = _due_date(region, args.size)
    coordinator = RegionMembership.objects.filter(region=region).select_related("user").first().user
    profile = cProfile.Profile() if args.profile else None
    try:
        with transaction.atomic():
            preview = selectors.payout_preview(region=region, payout_date=day)
            run = PayoutRun.objects.create(
                region=region,
                payout_date=day,
                created_by=coordinator,
                state=PayoutRunState.MAKING,
                fingerprint=preview.fingerprint,
                claim_count=preview.claim_count,
            )
            sampler = _Sampler(_dsn(connection), backend)
            sampler.start()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_wal_lsn()")
                wal_start = cursor.fetchone()[0]
            wall, own, server = time.perf_counter(), time.process_time(), _cpu_of(backend)
            with connection.execute_wrapper(timed_execute):
                if profile:
                    profile.enable()
                run = services.payout_run_make(run_id=run.pk)
                if profile:
                    profile.disable()
            made = (time.perf_counter() - wall, time.process_time() - own, _cpu_of(backend) - server)
            wall, server = time.perf_counter(), _cpu_of(backend)
            with connection.cursor() as cursor:
                # The checks the commit would make: each deferred foreign key of the tables the run writes on its
                # own (its database CPU in the table below), then the rest.
                cursor.execute(
                    "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND condeferred "
                    "AND conrelid::regclass::text = ANY(%s) ORDER BY 2, 1",
                    [list(WRITTEN_TABLES)],
                )
                for name, table in cursor.fetchall():
                    started, cpu = time.perf_counter(), _cpu_of(backend)
                    cursor.execute(f'SET CONSTRAINTS "{name}" IMMEDIATE')
                    account(
                        f"check at commit: {table} {name[:40]}",
                        time.perf_counter() - started,
                        _cpu_of(backend) - cpu,
                        0.0,
                    )
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            checks = (time.perf_counter() - wall, _cpu_of(backend) - server)
            sampler.stop.set()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [wal_start])
                wal_mb = float(cursor.fetchone()[0]) / 2**20
            raise _Rollback
    except _Rollback:
        pass
    result = {
        "claims": run.claim_count,
        "due": due,
        "state": run.state,
        "wall_s": round(made[0], 2),
        "python_cpu_s": round(made[1], 2),
        "postgres_cpu_s": round(made[2], 2),
        "deferred_checks_wall_s": round(checks[0], 2),
        "deferred_checks_postgres_cpu_s": round(checks[1], 2),
        "peak_mb": round(_status_mb("VmHWM")),
        "wal_mb": round(wal_mb),
        "backend": sampler.shares(),
        "load": os.getloadavg(),
        "nice": args.nice,
    }
    print(json.dumps(result))
    print(f"{'wall s':>8} {'pg cpu':>8} {'py cpu':>8} {'count':>6}  statement (py cpu: COPY only)")
    for kind, (count, spent, server_cpu, python_cpu) in sorted(kinds.items(), key=lambda item: -item[1][1])[:24]:
        print(f"{spent:8.2f} {server_cpu:8.2f} {python_cpu:8.2f} {count:6d}  {kind}")
    if profile:
        profile.dump_stats(args.profile)


def _dsn(connection) -> str:
    info = connection.connection.info
    return f"host={info.host} port={info.port} dbname={info.dbname} user={info.user} password={info.password or ''}"


if __name__ == "__main__":
    main()
