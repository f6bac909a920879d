"""Benchmark of the invoice file check and send (issue 5): `make bench`, or with sizes of your choosing,

    make bench BENCH_ARGS="--sizes 1000,10000,100000"

It needs DATABASE_URL (`make bench` provides it, as `make test` does) and works in its own database on that
server, `tandportal_bench`, which it makes anew on every run, migrates and fills: the demo (regions, clinics,
tariffs) through `portal.demo.demo_load`, then benchmark patients with certificates. The demo database is
never touched. Files, stored uploads and generated XML go under var/bench/.

For each size N it writes a fakturafil of N claims (four treatment lines each, about 10 % faulty), then
measures:

- parse floor: lxml iterparse over the file, nothing else (what reading the file costs at the least);
- check: the real Celery task `billing.tasks.check_invoice_file`, run in a fresh worker-like process, with
  the process's peak RSS (VmHWM) and every SQL query it makes;
- send: the real Celery task `billing.tasks.send_invoice_file` (what Ladda upp queues) for the checked upload's
  correct claims, in another fresh process;
- insert floor: bulk_create of the same number of Claim and ClaimLine rows (rolled back afterwards);
- and once at the end, the region's payout run over all the claims sent, and the job marking them paid.

Targets (issue 5, on a 2-core machine): 10 000 claims checked in under 10 s; worker peak memory under
250 MB and the same for 100 000 claims as for 10 000; 10 000 correct claims sent in under 10 s.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = BASE_DIR / "var" / "bench"
BENCH_DATABASE = "tandportal_bench"
CLINIC_REGION, CLINIC_NUMBER = "vg", "31"
BILLER_EMAIL = "fakturerare@demo.test"
# A check slower than this for one size skips the larger sizes (unless --force).
SKIP_AFTER_SECONDS = 180
FAULT_SHARE = 0.10
FAULT_KINDS = ("check_digit", "unknown_code", "missing_fee", "future_date")
# Four treatment lines per claim, valid for N in Västra Götaland's 2025 and 2026 lists; 401 takes a tooth.
CODES = ("101", "121", "301", "401")
TEETH = ("16", "17", "26", "27", "36", "37", "46", "47")

sys.path.insert(0, str(BASE_DIR))


# Setup ---------------------------------------------------------------------------------------------------


def _database_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _prepare_environment() -> None:
    """Point Django at the benchmark database and media; make the database anew, so that every run starts from
    the same data (claims sent by earlier runs would otherwise pile up and slow the next run's inserts)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set: run `make bench`, which provides it.")
    if not os.environ.get("TANDPORTAL_BENCH_CHILD"):
        import psycopg

        maintenance = _database_url(url, "postgres").replace("postgres://", "postgresql://", 1)
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        shutil.rmtree(BENCH_DIR / "media", ignore_errors=True)
        os.environ["DATABASE_URL"] = _database_url(url, BENCH_DATABASE)
    os.environ["TANDPORTAL_MEDIA_ROOT"] = str(BENCH_DIR / "media")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.local"
    os.environ.setdefault("DJANGO_DEBUG", "false")  # DEBUG would keep every query in memory


def _django() -> None:
    import django

    django.setup()


# Benchmark patients --------------------------------------------------------------------------------------


def benchmark_pin(k: int) -> str:
    """The k-th benchmark personnummer, with a valid check digit.

    Born 1890-1899 (from 1890-01-01, 900 serials a day): nobody alive has such a number, so the benchmark
    data can never be mistaken for, or collide with, a living patient's.
    """
    from portal.validators import luhn_check_digit

    born = datetime.date(1890, 1, 1) + datetime.timedelta(days=k // 900)
    assert born.year < 1900, "the reserved range holds 3 287 700 numbers"
    payload = born.strftime("%y%m%d") + f"{100 + k % 900:03d}"
    return born.strftime("%Y") + payload[2:] + luhn_check_digit(payload)


def _wrong_check_digit(pin: str) -> str:
    return pin[:-1] + str((int(pin[-1]) + 1) % 10)


def certificate_number(k: int) -> str:
    return f"BENCH{k:07d}"


def ensure_patients(count: int) -> None:
    """Patients 0..count-1 with a valid N certificate in the region; bulk, idempotent."""
    from clinics.models import Region
    from eligibility.models import Certificate, Patient

    region = Region.objects.get(code=CLINIC_REGION)
    existing = Certificate.objects.filter(region=region, number__startswith="BENCH").count()
    if existing >= count:
        return
    pins = [benchmark_pin(k) for k in range(count)]
    Patient.objects.bulk_create(
        [Patient(personal_identity_number=pin) for pin in pins], batch_size=5000, ignore_conflicts=True
    )
    ids = dict(Patient.objects.filter(personal_identity_number__in=pins).values_list("personal_identity_number", "pk"))
    Certificate.objects.bulk_create(
        [
            Certificate(
                patient_id=ids[pin],
                region=region,
                support_form="N",
                number=certificate_number(k),
                group="N1",
                valid_from=datetime.date(2020, 1, 1),
            )
            for k, pin in enumerate(pins)
        ],
        batch_size=5000,
        ignore_conflicts=True,
    )


# The file ------------------------------------------------------------------------------------------------


def write_file(path: Path, *, size: int, invoice_reference: str, token: str, today: datetime.date) -> dict:
    """A fakturafil of `size` claims, each for its own benchmark patient; about FAULT_SHARE of them faulty,
    one fault each, the four kinds in turn. Returns how many claims have each fault."""
    rng = random.Random(size)
    counts = dict.fromkeys(FAULT_KINDS, 0)
    counts["correct"] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write('<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">\n')
        out.write(
            f"<Huvud><Kliniknummer>{CLINIC_NUMBER}</Kliniknummer><Fakturareferens>{invoice_reference}"
            f"</Fakturareferens><Skapad>{today.isoformat()}T08:00:00</Skapad><Programvara>bench</Programvara>"
            "</Huvud>\n"
        )
        for index in range(size):
            fault = FAULT_KINDS[index % len(FAULT_KINDS)] if rng.random() < FAULT_SHARE else None
            counts[fault or "correct"] += 1
            pin = benchmark_pin(index)
            if fault == "check_digit":
                pin = _wrong_check_digit(pin)
            # Within the region's six months, never today or later; a future date for that fault.
            day = today - datetime.timedelta(days=rng.randint(1, 150))
            if fault == "future_date":
                day = today + datetime.timedelta(days=rng.randint(1, 5))
            codes = list(CODES)
            if fault == "unknown_code":
                codes[rng.randrange(3)] = "999"
            fee = "" if fault == "missing_fee" else f'<Patientavgift belopp="{rng.choice((100, 200, 300))}"/>'
            lines = "".join(
                f'<Atgard kod="{code}" tand="{rng.choice(TEETH)}"/>' if code == "401" else f'<Atgard kod="{code}"/>'
                for code in codes
            )
            out.write(
                f"<Rakning><Rakningsreferens>{token}-{index}</Rakningsreferens><Personnummer>{pin}</Personnummer>"
                f"<Stodform>N</Stodform><Intygsnummer>{certificate_number(index)}</Intygsnummer>"
                f'<Vardmodell>K1</Vardmodell><Besok datum="{day.isoformat()}">{fee}{lines}</Besok></Rakning>\n'
            )
        out.write("</Fakturafil>\n")
    return counts


def parse_floor(path: Path) -> float:
    """lxml iterparse over the file, each claim cleared when read: the least any reading could cost."""
    from lxml import etree

    started = time.perf_counter()
    for _event, element in etree.iterparse(str(path), tag="{urn:se:tandvardsstod:fakturafil:1}Rakning"):
        element.clear(keep_tail=False)
        while element.getprevious() is not None:
            del element.getparent()[0]
    return time.perf_counter() - started


def insert_floor(size: int) -> float:
    """bulk_create of `size` claims with five lines each (four treatments and the fee), as a send stores
    them, in a transaction rolled back afterwards."""
    from django.db import transaction

    from claims.models import Claim, ClaimLine, Invoice, TariffVersion
    from clinics.models import CareModel, Clinic, User
    from eligibility.models import Patient

    clinic = Clinic.objects.get(region__code=CLINIC_REGION, number=CLINIC_NUMBER)
    user = User.objects.get(email=BILLER_EMAIL)
    version = TariffVersion.objects.filter(region=clinic.region).order_by("-valid_from").first()
    rows = {row.code: row for row in version.rows.all()}
    care_model = CareModel.objects.get(region=clinic.region, code="K1")
    pins = [benchmark_pin(k) for k in range(size)]
    patients = dict(
        Patient.objects.filter(personal_identity_number__in=pins).values_list("personal_identity_number", "pk")
    )
    day = version.valid_from

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            started = time.perf_counter()
            invoice = Invoice.objects.create(clinic=clinic, reference="FLOOR", source="file", created_by=user)
            claims = Claim.objects.bulk_create(
                [
                    Claim(
                        invoice=invoice,
                        clinic=clinic,
                        reference=f"FLOOR-{k}",
                        patient_id=patients[pin],
                        support_form="N",
                        care_model=care_model,
                        total=300000,
                        patient_fee_total=-20000,
                        created_by=user,
                    )
                    for k, pin in enumerate(pins)
                ],
                batch_size=2000,
            )
            ClaimLine.objects.bulk_create(
                [
                    ClaimLine(
                        claim=claim,
                        position=position,
                        visit_date=day,
                        code=code,
                        tariff_row=rows[code],
                        tooth="36" if code == "401" else "",
                        amount=-20000 if code == "patAvg" else 50000,
                    )
                    for claim in claims
                    for position, code in enumerate((*CODES, "patAvg"))
                ],
                batch_size=5000,
            )
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return elapsed


def store_upload(path: Path) -> int:
    """The file as an upload waiting for its check, stored as `invoice_file_start` stores it (not queued)."""
    from django.core.files import File

    from claims.models import InvoiceFileUpload
    from clinics.models import Clinic, User

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    upload = InvoiceFileUpload(
        clinic=Clinic.objects.get(region__code=CLINIC_REGION, number=CLINIC_NUMBER),
        uploaded_by=User.objects.get(email=BILLER_EMAIL),
        original_name=path.name,
        sha256=digest,
        size=path.stat().st_size,
    )
    with path.open("rb") as handle:
        upload.file.save(f"{digest[:16]}.xml", File(handle), save=False)
    upload.save()
    return upload.pk


# The worker-like child -----------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MB.

    Not ru_maxrss: Linux carries that over fork and execve, so a child would report its parent's peak.
    VmHWM belongs to the process's own address space, which execve made new.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(action: str, upload_id: int) -> None:
    """Run one step in this fresh process, as a Celery worker process would, and print what it cost."""
    from django.db import connection

    # What a worker has loaded before its first task.
    import billing.invoice_file_services  # noqa: F401
    import claims.validation  # noqa: F401
    from billing.tasks import check_invoice_file
    from claims.models import InvoiceFileUpload
    from clinics.models import User

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    connection.ensure_connection()
    idle = _status_mb("VmRSS")
    if action == "payout":
        print(json.dumps(_payout(count_wrapper=count, idle=idle, queries=lambda: queries)))
        return
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        if action == "check":
            check_invoice_file(upload_id)  # the task itself, run as the worker runs it
        else:
            from billing.tasks import send_invoice_file
            from claims.models import InvoiceFileState

            # What Ladda upp leaves for the worker (invoice_file_send_start, without the queue).
            InvoiceFileUpload.objects.filter(pk=upload_id).update(
                state=InvoiceFileState.SENDING, sent_by=User.objects.get(email=BILLER_EMAIL)
            )
            send_invoice_file(upload_id)  # the task itself, run as the worker runs it
        elapsed = time.perf_counter() - started
    upload = InvoiceFileUpload.objects.get(pk=upload_id)
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "queries": queries,
                "idle_mb": idle,
                "peak_mb": _status_mb("VmHWM"),
                "state": upload.state,
                "claims": upload.claim_count,
                "faulty": upload.faulty_count,
                "sent": upload.invoice.claims.count() if upload.invoice_id else 0,
                "failure": upload.failure_message,
            }
        )
    )


def _payout(*, count_wrapper, idle: float, queries) -> dict:
    """The region's payout run over every claim the benchmark sent, then the daily job marking them paid."""
    from django.db import connection

    from clinics.models import Region, User
    from payouts import bankdays, selectors, services

    region = Region.objects.get(code=CLINIC_REGION)
    coordinator = User.objects.filter(region_memberships__region=region).order_by("email").first()
    day = bankdays.bank_day_on_or_after(datetime.date.today() + datetime.timedelta(days=7))
    second = User.objects.filter(region_memberships__region=region).exclude(pk=coordinator.pk).order_by("email")[0]
    with connection.execute_wrapper(count_wrapper):
        started = time.perf_counter()
        preview = selectors.payout_preview(region=region, payout_date=day)
        previewed = time.perf_counter() - started
        preview_queries = queries()
        started = time.perf_counter()
        run = services.payout_run_create(
            actor=coordinator, region=region, payout_date=day, fingerprint=preview.fingerprint
        ).run
        made = time.perf_counter() - started
        made_queries = queries() - preview_queries
        # Four eyes above the region's amount, then the file to the bank: only then is a run paid.
        services.payout_run_confirm(actor=second, run=run)
        services.payout_run_file_download(actor=second, run=run)
        made_queries_all = queries()
        started = time.perf_counter()
        services.payout_run_mark_paid(run=run)
        paid = time.perf_counter() - started
    return {
        "claims": run.claim_count,
        "preview_seconds": previewed,
        "preview_queries": preview_queries,
        "seconds": made,
        "queries": made_queries,
        "paid_seconds": paid,
        "paid_queries": queries() - made_queries_all,
        "idle_mb": idle,
        "peak_mb": _status_mb("VmHWM"),
    }


def run_child(action: str, upload_id: int) -> dict:
    env = dict(os.environ, TANDPORTAL_BENCH_CHILD="1")
    result = subprocess.run(
        [sys.executable, __file__, "--child", action, "--upload", str(upload_id)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"the {action} process failed ({result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


# Main ----------------------------------------------------------------------------------------------------


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="claims per file, comma-separated (default 1000,10000)")
    parser.add_argument("--no-send", action="store_true", help="skip sending the correct claims")
    parser.add_argument(
        "--force", action="store_true", help=f"run every size even after a check over {SKIP_AFTER_SECONDS} s"
    )
    parser.add_argument("--child", choices=("check", "send", "payout"), help=argparse.SUPPRESS)
    parser.add_argument("--upload", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    _prepare_environment()
    _django()
    if args.child:
        child(args.child, args.upload)
        return

    from django.core.management import call_command
    from django.utils import timezone

    from portal.demo import demo_load

    sizes = [int(size.replace("_", "").replace(" ", "")) for size in args.sizes.split(",") if size.strip()]
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    demo_load()
    ensure_patients(max(sizes))
    print(f"Benchmark data in {BENCH_DATABASE} ready in {time.perf_counter() - started:.1f} s", flush=True)

    today = timezone.localdate()
    token = format(int(time.time()) % 36**6, "x")[-6:]  # references are new on every run
    results = []
    for size in sizes:
        if results and results[-1]["check"]["seconds"] > SKIP_AFTER_SECONDS and not args.force:
            print(f"{size} claims skipped: the previous size took over {SKIP_AFTER_SECONDS} s (use --force)")
            continue
        path = BENCH_DIR / "files" / f"claims-{size}.xml"
        mix = write_file(path, size=size, invoice_reference=f"B{token}N{size}", token=f"{token}{size}", today=today)
        row = {"size": size, "mix": mix, "mb": path.stat().st_size / 2**20}
        row["parse"] = parse_floor(path)
        row["insert"] = insert_floor(size)
        upload_id = store_upload(path)
        print(f"{size} claims: checking ...", flush=True)
        row["check"] = run_child("check", upload_id)
        if row["check"]["state"] != "checked":
            raise SystemExit(f"the check ended {row['check']['state']}: {row['check']['failure']}")
        if not args.no_send:
            print(f"{size} claims: sending ...", flush=True)
            row["send"] = run_child("send", upload_id)
        results.append(row)
        _print_row(row)

    payout = None
    if results and not args.no_send:
        print("payout run of the sent claims ...", flush=True)
        payout = run_child("payout", 0)

    print()
    python = sys.version.split()[0]
    print(f"{datetime.date.today().isoformat()}, commit {_commit()}, {os.cpu_count()} CPUs, Python {python}")
    print(_table(results))
    if payout:
        claims = f"{payout['claims']:,}".replace(",", " ")
        print(
            f"\nPayout run of {claims} claims: previewed in {payout['preview_seconds']:.1f} s "
            f"({payout['preview_queries']} queries), made in {payout['seconds']:.1f} s ({payout['queries']} queries), "
            f"marked paid in {payout['paid_seconds']:.1f} s ({payout['paid_queries']} queries), "
            f"peak {payout['peak_mb']:.0f} MB"
        )


def _print_row(row: dict) -> None:
    check = row["check"]
    print(
        f"  file {row['mb']:.1f} MB, {row['mix']['correct']} correct; check {check['seconds']:.1f} s "
        f"({check['queries']} queries, peak {check['peak_mb']:.0f} MB), faulty {check['faulty']}",
        flush=True,
    )


def _table(results: list[dict]) -> str:
    head = (
        "| Claims | Parse floor | Check | Claims/s | × parse floor | Worker peak RSS | Queries / 1 000 claims "
        "| Send (correct claims) | Sent/s | Send queries / 1 000 | Send peak RSS | Bulk-insert floor | × insert floor |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in results:
        check, send = row["check"], row.get("send")
        size = row["size"]
        cells = [
            f"{size:,}".replace(",", " "),
            f"{row['parse']:.2f} s",
            f"{check['seconds']:.1f} s",
            f"{size / check['seconds']:.0f}",
            f"{check['seconds'] / row['parse']:.0f}×",
            f"{check['peak_mb']:.0f} MB (idle {check['idle_mb']:.0f})",
            f"{check['queries'] * 1000 / size:.0f}",
        ]
        if send:
            sent = send["sent"] or 1
            cells += [
                f"{send['seconds']:.1f} s ({send['sent']})",
                f"{sent / send['seconds']:.0f}",
                f"{send['queries'] * 1000 / sent:.0f}",
                f"{send['peak_mb']:.0f} MB",
                f"{row['insert']:.2f} s",
                f"{send['seconds'] / row['insert']:.0f}×",
            ]
        else:
            cells += ["–", "–", "–", "–", f"{row['insert']:.2f} s", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
