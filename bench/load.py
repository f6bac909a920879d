"""Load: billers, coordinators and a journal system at work at once (issue 16, point 5). `make bench-load`, or

    .venv/bin/python bench/load.py [--users 50] [--minutes 10] [--spawn-rate 5] [--workers 4]

Like bench/api.py (whose database and server helpers it uses) it needs DATABASE_URL and REDIS_URL, works in a
database of its own, `tandportal_bench_load` (or TANDPORTAL_BENCH_LOAD_DATABASE), made anew on every run, migrated,
filled with the demo and with benchmark patients (born 1890–1899, N certificates in Västra Götaland), and starts
gunicorn with `--workers` sync workers (DEBUG off, database connections kept 60 s as in production) and one Celery
worker (`--queues` all, concurrency 1) that checks and sends the uploaded files. Then Locust (bench/locustfile.py)
runs headless with `--users` people for `--minutes`:

- billers of clinic 31 (6 in 10): Registrera räkning (Sök person, a line, the fee, Skicka in), Era fakturor, Sök
  person, and now and then a fakturafil of 20 claims uploaded, its check waited for, then Ladda upp;
- coordinators of Västra Götaland (3 in 10): the start page, Räkningar, a claim, Godkänn (or a question);
- a journal system (1 in 10): POST /api/v1/claims with clinic 31's demo key and an Idempotency-Key;

each with think times (a page read in 3–15 s, a field typed in 2–6 s). Every session is made directly in the
database (as a login with password and, for coordinators, the authenticator code would leave it): the demo users'
one TOTP code could not log in 15 coordinators in the same 30 seconds.

It prints p50/p95 per page and the requests and errors of each, and exits non-zero on any error. A shorter run:
`make bench-load BENCH_ARGS="--users 20 --minutes 2"`. Figures: docs/fault-drills.md (section Load).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench import api  # noqa: E402
from bench.invoice_files import benchmark_pin, certificate_number, ensure_patients  # noqa: E402

LOAD_DATABASE = os.environ.get("TANDPORTAL_BENCH_LOAD_DATABASE", "tandportal_bench_load")
WORK_DIR = BASE_DIR / "var" / "bench" / "load"
# Benchmark patients per simulated person: each claim (form, file, API) for a patient of their own, so that no
# claim is duplicate care of another.
PATIENTS_PER_USER = 400
BILLER_EMAIL = "fakturerare@demo.test"
COORDINATOR_EMAIL = "samordnare.vg@demo.test"
CLINIC_NUMBER = "31"
REGION_CODE = "vg"


def make_sessions(users: int) -> dict:
    """A logged-in session per simulated person (the demo's biller and coordinator, several sessions each), and
    what the locustfile needs to know."""
    import datetime

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils.module_loading import import_string
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clinics.models import Clinic, User
    from portal.sessions import LOGGED_IN_AT, RENEWED_AT

    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")

    def session(user: User) -> str:
        data = store()
        data[SESSION_KEY] = str(user.pk)
        data[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        data[HASH_SESSION_KEY] = user.get_session_auth_hash()
        data[LOGGED_IN_AT] = data[RENEWED_AT] = int(time.time())
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            data[DEVICE_ID_SESSION_KEY] = device.persistent_id  # the code given, as after logga-in/kod/
        data.create()
        return data.session_key

    biller = User.objects.get(email=BILLER_EMAIL)
    coordinator = User.objects.get(email=COORDINATOR_EMAIL)
    clinic = Clinic.objects.get(region__code=REGION_CODE, number=CLINIC_NUMBER)
    yesterday = datetime.date.today() - datetime.timedelta(days=1)
    return {
        "billers": [session(biller) for _ in range(users)],
        "coordinators": [session(coordinator) for _ in range(users)],
        "clinic_pk": clinic.pk,
        "clinic_number": CLINIC_NUMBER,
        "region": REGION_CODE,
        "api_key": api.KEY,
        "day": yesterday.isoformat(),
        "patients_per_user": PATIENTS_PER_USER,
        "pins": [benchmark_pin(k) for k in range(users * PATIENTS_PER_USER)],
        "certificates": [certificate_number(k) for k in range(users * PATIENTS_PER_USER)],
    }


def invoice_file(claims: list[tuple[str, str]], *, clinic: str, day: str, token: str) -> bytes:
    """A fakturafil of the clinic: one claim (101 and a 200 kr fee on `day`) per (personnummer, certificate)."""
    body = "".join(
        f"<Rakning><Rakningsreferens>{token}-{index}</Rakningsreferens><Personnummer>{pin}</Personnummer>"
        f"<Stodform>N</Stodform><Intygsnummer>{certificate}</Intygsnummer><Vardmodell>K1</Vardmodell>"
        f'<Besok datum="{day}"><Patientavgift belopp="200"/><Atgard kod="101"/></Besok></Rakning>\n'
        for index, (pin, certificate) in enumerate(claims)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">\n'
        f"<Huvud><Kliniknummer>{clinic}</Kliniknummer><Fakturareferens>F{token}</Fakturareferens>"
        f"<Skapad>{day}T08:00:00</Skapad><Programvara>bench</Programvara></Huvud>\n{body}</Fakturafil>\n"
    ).encode()


def start_worker() -> subprocess.Popen:
    from portal.background import QUEUES

    log = (WORK_DIR / "worker.log").open("w")  # the e-mails it prints (console backend), its warnings
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "portal", "worker", "--queues", ",".join(QUEUES)),
            *("--concurrency", "1", "--loglevel", "WARNING", "--without-mingle", "--without-gossip"),
        ],
        cwd=BASE_DIR,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _ms(value: str) -> str:
    return "–" if value in ("", "N/A") else f"{float(value):.0f}"


def read_stats(prefix: Path) -> list[dict]:
    with (prefix.parent / f"{prefix.name}_stats.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def report(rows: list[dict]) -> int:
    """Print p50/p95 per page; returns the number of failed requests."""
    print(f"\n  {'page':<40} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    errors = 0
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "all pages"
        if row["Name"] == "Aggregated":
            print("  " + "-" * 84)
        else:
            errors += int(row["Failure Count"])
        print(
            f"  {name:<40} {int(row['Request Count']):>9} {int(row['Failure Count']):>7} "
            f"{_ms(row['50%']):>8} {_ms(row['95%']):>8} {_ms(row['Max Response Time']):>8}"
        )
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--spawn-rate", type=float, default=5, help="people starting per second")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    args = parser.parse_args()

    print(f"Preparing {LOAD_DATABASE} (migrate, demo, patients, sessions) …", flush=True)
    api.prepare_database(LOAD_DATABASE, media="load-media")
    ensure_patients(args.users * PATIENTS_PER_USER)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    setup = WORK_DIR / "sessions.json"
    setup.write_text(json.dumps(make_sessions(args.users)))

    from django.db import connections

    connections.close_all()
    os.environ["DATABASE_CONN_MAX_AGE"] = "60"  # as portal/settings/production.py
    server, port = api.start_server(args.workers)
    worker = start_worker()
    prefix = WORK_DIR / "locust"
    load_before = os.getloadavg()[0]
    try:
        print(
            f"gunicorn, {args.workers} sync workers, on 127.0.0.1:{port}, one Celery worker; "
            f"{args.users} people for {args.minutes:g} min; load average {load_before:.1f}",
            flush=True,
        )
        status = subprocess.call(
            [
                str(Path(sys.executable).parent / "locust"),
                "-f",
                str(BASE_DIR / "bench" / "locustfile.py"),
                "--headless",
                "--host",
                f"http://127.0.0.1:{port}",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{int(args.minutes * 60)}s",
                "--stop-timeout",
                "30",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=BASE_DIR,
            env={**os.environ, "TANDPORTAL_LOAD_SETUP": str(setup)},
        )
    finally:
        for process in (worker,):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        api.stop_server(server)
    errors = report(read_stats(prefix))
    print(
        f"\n  errors: {errors}   (locust exit {status}; load average before {load_before:.1f}, "
        f"after {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs)"
    )
    failures = prefix.parent / f"{prefix.name}_failures.csv"
    if errors and failures.exists():
        print(failures.read_text()[:3000])
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
