"""Fill a migrated database with a national-scale history, through COPY (issue 16, point 1).

    .venv/bin/python bench/scale_fill.py                      # 1 000 000 claims into DATABASE_URL's database
    .venv/bin/python bench/scale_fill.py tp_scale --claims 200000   # another database on the same server

At 1 000 000 claims: 300 clinics in the demo's two regions, 200 000 patients (one certificate each), 155 000
invoices, 3.5 M claim lines, two years of visits ending today, 5 M access-log rows and about 3 M audit rows; every
other count scales with --claims. It starts from the demo (`portal.demo.demo_load`: regions, tariffs, review rules,
the demo's users of every role) and adds the bulk:

- claims in every state: paid (monthly payout runs of each region, with payments, invoices' Vår referens and the
  paid day), credited (credit invoices and lines), approved (in each region's planned run, paid on the next bank
  day), under behandling and under granskning (the last RECENT_DAYS days; a region's next run pays about 100 000),
  with questions (some answered), voided and deleted;
- one invoice of about 10 000 claims (1 % of --claims) at the demo biller's clinic 31, sent as a file;
- the claim history (ClaimEvent), the access log and the audit log, whose hash chain is computed here row by row
  (portal.audit_chain) so that `manage.py audit_verify` holds.

Patients have personnummer born 1890–1899 with valid check digits, as bench/invoice_files.py's: no living person
has such a number.

The rows are written as COPY text into temporary files first and then copied table by table. While it copies, the
transaction runs with `session_replication_role = replica` (no foreign-key or append-only triggers: the rows are
made consistent here) and, above 50 000 claims, without the big tables' secondary indexes, which it drops and
makes again (all in the one transaction: nothing stays off). It ends with ANALYZE.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

# At 1 000 000 claims; everything scales linearly with --claims.
PER_MILLION = {
    "clinics": 300,
    "patients": 200_000,
    "invoices": 155_000,
    "access_log": 5_000_000,
    "big_invoice": 10_000,
}
LINES_PER_CLAIM = 3.5  # the patient-fee line and 1–4 treatments (2.5 on average)
YEARS = 2
RECENT_DAYS = 95  # invoices of the last RECENT_DAYS days are not yet in a run: under behandling / granskning
PLANNED_DAYS = 30  # those of the RECENT_DAYS..RECENT_DAYS+PLANNED_DAYS before are approved, in the planned run
SHARE_UNDER_REVIEW = 0.08  # of the recent claims
SHARE_QUESTION = 0.35  # of the claims under review; half of them answered
SHARE_VOIDED = 0.012
SHARE_DELETED = 0.003
SHARE_CREDITED = 0.01  # of the paid claims
# The logs' partitions start this long before the first visit (a few rows of the demo's may be older; they stay in
# the DEFAULT partition).
LOG_MONTHS_BEFORE_DAYS = 62
DROP_INDEXES_FROM = 50_000  # claims; below it the indexes stay (the test's tiny fills)
TREATMENT_CODES = ("101", "103", "111", "121", "301", "302", "401")
TREATMENT_WEIGHTS = (30, 10, 15, 25, 20, 8, 6)
TEETH = ("16", "17", "26", "27", "36", "37", "46", "47")
QUESTIONS = (
    "Vilka tänder gällde sjukdomsbehandlingen (301)?",
    "Röntgen och sjukdomsbehandling samma dag: vilka tänder gällde behandlingen?",
    "Saknas intyg för besöket? Ange intygsnummer.",
)
ANSWER = "Se journalanteckning från besöket."
VOID_REASON = "Dubbelregistrerad: samma besök finns på en annan räkning."
# The big tables: their secondary indexes (not those of a primary key or unique constraint) are dropped around COPY.
BIG_TABLES = (
    "eligibility_patient",
    "eligibility_certificate",
    "claims_invoice",
    "claims_claim",
    "claims_claimline",
    "claims_claimevent",
    "payouts_payoutinvoice",
    "payouts_payoutclaim",
    "portal_accesslogentry",
    "portal_auditevent",
)


def indexes_drop(cursor, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """Drop the tables' secondary indexes (not those of a primary key or a constraint): their names and definitions.
    A partitioned table's index goes with those of its partitions."""
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [list(tables)],
    )
    dropped = cursor.fetchall()
    for name, _definition in dropped:
        cursor.execute(f"DROP INDEX {name}")
    return dropped


def indexes_make(cursor, dropped: list[tuple[str, str]]) -> None:
    """Make the dropped indexes again. A partitioned table's index is defined "ON ONLY" the parent, which made as it
    reads is an invalid index of the parent alone, with none on its partitions (the logs were read by sequential
    scans): made without ONLY, PostgreSQL makes it on every partition too."""
    for _name, definition in dropped:
        cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))


def log_partitions_make(cursor, *, first: datetime.date, last: datetime.date) -> None:
    """The logs' month partitions from `first`'s month to `last`'s (those there already are left as they are)."""
    month = first.replace(day=1)
    while month <= last:
        for table in ("portal_auditevent", "portal_accesslogentry"):
            cursor.execute("SELECT portal_log_partition_create(%s, %s)", [table, month])
        month = (month + datetime.timedelta(days=32)).replace(day=1)


def _database_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


# Text COPY ----------------------------------------------------------------------------------------------------


def _text(value) -> str:
    """One value in COPY's text format: the values written here hold no tab, newline or backslash."""
    return "\\N" if value is None else str(value)


class Table:
    """The rows of one table, as COPY text in a temporary file."""

    def __init__(self, directory: str, name: str, columns: tuple[str, ...]):
        self.name = name
        self.columns = columns
        self.path = os.path.join(directory, name + ".copy")
        self.file = open(self.path, "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115 (closed in copy)
        self.rows = 0

    def add(self, *values) -> None:
        self.file.write("\t".join(["\\N" if value is None else str(value) for value in values]) + "\n")
        self.rows += 1

    def copy(self, cursor) -> None:
        self.file.close()
        sql = f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN"
        with open(self.path, "rb") as source, cursor.copy(sql) as copy:
            while block := source.read(1 << 20):
                copy.write(block)
        os.unlink(self.path)


# Personnummer no living person has ----------------------------------------------------------------------------


def test_personnummer(k: int) -> str:
    """The k-th number of 1890–1899 with a valid check digit (as bench/invoice_files.py makes them)."""
    from portal.validators import luhn_check_digit

    born = datetime.date(1890, 1, 1) + datetime.timedelta(days=k // 900)
    assert born.year < 1900, "the reserved range holds 3 287 700 numbers"
    payload = born.strftime("%y%m%d") + f"{100 + k % 900:03d}"
    return born.strftime("%Y") + payload[2:] + luhn_check_digit(payload)


# The audit log's chain --------------------------------------------------------------------------------------------


class AuditWriter:
    """Audit rows with ids from `next_id` on, each chained to the one before (portal.audit_chain's hash)."""

    def __init__(self, table: Table, next_id: int, prev_hash: str):
        self.table = table
        self.next_id = next_id
        self.prev_hash = prev_hash
        self.checked: set[str] = set()

    def add(self, *, at: datetime.datetime, actor, action, object_type, object_id, object_repr, clinic_id, region_id,
            before: dict, after: dict) -> None:  # fmt: skip
        actor_id, actor_email = actor if actor else (None, "")
        occurred_at = at.isoformat()  # the moments here are in UTC, as the chain's canonical form writes them
        values = {
            "id": self.next_id,
            "occurred_at": occurred_at,
            "actor_id": actor_id,
            "actor_email": actor_email,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "object_repr": object_repr,
            "clinic_id": clinic_id,
            "region_id": region_id,
            "before": before,
            "after": after,
            "prev_hash": self.prev_hash,
        }
        # portal.audit_chain.audit_event_hash's canonical JSON, with one encoder made once (the first row of each
        # action is checked against it).
        row_hash = hashlib.sha256(_CANONICAL(values).encode()).hexdigest()
        if action not in self.checked:
            from portal.audit_chain import audit_event_hash

            values["occurred_at"] = at
            assert audit_event_hash(values, self.prev_hash) == row_hash, action
            self.checked.add(action)
        self.table.add(
            self.next_id,
            occurred_at,
            actor_id,
            actor_email,
            action,
            object_type,
            str(object_id),
            object_repr,
            clinic_id,
            region_id,
            _JSON(before),
            _JSON(after),
            row_hash,
            self.prev_hash,
        )
        self.prev_hash = row_hash
        self.next_id += 1


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_JSON = json.JSONEncoder(ensure_ascii=False).encode


# The plan ---------------------------------------------------------------------------------------------------------


@dataclass
class ClinicPlan:
    id: int
    number: str
    region_id: int
    weight: float
    biller: tuple[int, str]  # (user id, e-mail)
    patients: range = range(0)
    invoices: int = 0
    payment_method: str = "bankgiro"
    account_number: str = ""


@dataclass
class RegionPlan:
    id: int
    code: str
    name: str
    coordinator: tuple[int, str]
    care_model_id: int | None  # Dalarna has no care models
    categories: dict[str, list[tuple[int, str]]]  # support form -> [(category id, code)]
    tariff: dict[int, dict[str, tuple[int, int | None]]]  # year -> code -> (row id, price)
    runs: list[dict] = field(default_factory=list)


def _seconds(day: datetime.date, rng: random.Random, start_hour: int = 7, hours: int = 10) -> datetime.datetime:
    moment = datetime.datetime.combine(day, datetime.time(start_hour), tzinfo=datetime.UTC)
    return moment + datetime.timedelta(seconds=rng.randrange(hours * 3600))


def _tariff_of(region: RegionPlan, day: datetime.date) -> dict[str, tuple[int, int | None]]:
    years = sorted(region.tariff)
    year = min(max(day.year, years[0]), years[-1])
    return region.tariff[year]


def scale_fill(*, claims: int = 1_000_000, seed: int = 16, today: datetime.date | None = None, log=print) -> dict:
    """Fill the default database (migrated; the demo is loaded when it is not there) with `claims` claims and the
    rest in proportion; returns the number of rows written per table."""
    import django.db
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from clinics.models import CareModel, Clinic, ClinicMembership, ClinicRole, PatientCategory, Region, User
    from payouts.bankdays import bank_day_on_or_after, next_bank_day
    from payouts.services import OUR_REFERENCE_BASE
    from portal.audit_chain import GENESIS, HASHED_FIELDS
    from portal.demo import demo_load

    started = time.monotonic()
    rng = random.Random(seed)
    today = today or datetime.date.today()
    scale = claims / 1_000_000
    counts: dict[str, int] = {}

    if Clinic.objects.filter(email__endswith="@scale.test").exists():
        raise RuntimeError("this database is filled already: fill a new one (createdb, migrate)")
    if not Region.objects.filter(code="vg").exists():
        demo_load()
        log(f"demo loaded ({time.monotonic() - started:.1f} s)")

    connection = django.db.connection
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's, for COPY
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute("SET LOCAL synchronous_commit = off")

        # Regions, from the demo --------------------------------------------------------------------------------
        regions: dict[int, RegionPlan] = {}
        for region in Region.objects.order_by("pk"):
            coordinator = (
                User.objects.filter(region_memberships__region=region, region_memberships__role="coordinator")
                .order_by("pk")
                .values_list("pk", "email")
                .first()
            )
            care_model = CareModel.objects.filter(region=region).order_by("pk").first()
            if coordinator is None:
                continue
            categories: dict[str, list[tuple[int, str]]] = {}
            for pk, form, code in PatientCategory.objects.filter(region=region, support_form__in="NF").values_list(
                "pk", "support_form", "code"
            ):
                categories.setdefault(form, []).append((pk, code))
            tariff: dict[int, dict[str, tuple[int, int | None]]] = {}
            cursor.execute(
                "SELECT v.valid_from, r.code, r.id, r.price FROM claims_tariffrow r "
                "JOIN claims_tariffversion v ON v.id = r.version_id WHERE v.region_id = %s ORDER BY v.valid_from",
                [region.pk],
            )
            for valid_from, code, row_id, price in cursor.fetchall():
                tariff.setdefault(valid_from.year, {})[code] = (row_id, price)
            tariff = {
                year: rows
                for year, rows in tariff.items()
                if all(code in rows for code in (*TREATMENT_CODES, "patAvg"))
            }
            if not tariff:
                continue
            regions[region.pk] = RegionPlan(
                region.pk,
                region.code,
                region.name,
                coordinator,
                care_model.pk if care_model else None,
                categories,
                tariff,
            )
        region_ids = sorted(regions)
        assert region_ids, "the demo's regions, with coordinators and tariffs, are needed"

        # Clinics and their users -----------------------------------------------------------------------------
        clinic_count = max(len(region_ids) * 3, round(PER_MILLION["clinics"] * scale))
        existing = list(Clinic.objects.filter(region_id__in=region_ids).order_by("pk"))
        biller_of: dict[int, tuple[int, str]] = {}
        for membership in ClinicMembership.objects.filter(role=ClinicRole.BILLER).select_related("user").order_by("pk"):
            biller_of.setdefault(membership.clinic_id, (membership.user_id, membership.user.email))
        unusable = make_password(None)
        new_clinics = []
        new_count = max(0, clinic_count - len(existing))
        first_number = 1000
        for k in range(new_count):
            region_id = region_ids[0] if k % 3 != 2 or len(region_ids) == 1 else region_ids[1]
            number = str(first_number + k)
            bankgiro = k % 5 != 4
            new_clinics.append(
                Clinic(
                    region_id=region_id,
                    number=number,
                    name=f"Skaltandvården {number}",
                    organisation_number="5560000000",
                    street_address=f"Testgatan {k + 1}",
                    postal_code="41101",
                    city="Teststad",
                    email=f"klinik{number}@scale.test",
                    payment_method="bankgiro" if bankgiro else "plusgiro",
                    account_number=f"{5550000 + k}" if bankgiro else f"{4120000 + k}",
                    payout_email=f"utbetalning{number}@scale.test",
                )
            )
        Clinic.objects.bulk_create(new_clinics)
        users = [
            User(email=f"{role}{clinic.number}@scale.test", name=f"{role.title()} {clinic.number}", password=unusable)
            for clinic in new_clinics
            for role in ("fakturerare", "admin", "ekonomi")
        ]
        User.objects.bulk_create(users)
        memberships = []
        for index, clinic in enumerate(new_clinics):
            biller, admin, finance = users[3 * index : 3 * index + 3]
            memberships += [
                ClinicMembership(user=biller, clinic=clinic, role=ClinicRole.BILLER),
                ClinicMembership(user=admin, clinic=clinic, role=ClinicRole.LOCAL_ADMIN),
                ClinicMembership(user=finance, clinic=clinic, role=ClinicRole.FINANCE),
            ]
            biller_of[clinic.pk] = (biller.pk, biller.email)
        ClinicMembership.objects.bulk_create(memberships)
        counts["clinics_clinic"] = len(new_clinics)
        counts["clinics_user"] = len(users)

        clinics: list[ClinicPlan] = []
        for clinic in existing + new_clinics:
            if clinic.pk not in biller_of:
                continue
            # Clinic sizes spread as a country's do; the demo biller's clinic 31 is a large one.
            weight = 3.0 if clinic.number == "31" else rng.lognormvariate(0, 0.6)
            clinics.append(
                ClinicPlan(
                    clinic.pk,
                    clinic.number,
                    clinic.region_id,
                    weight,
                    biller_of[clinic.pk],
                    payment_method=clinic.payment_method,
                    account_number=clinic.account_number,
                )
            )
        total_weight = sum(clinic.weight for clinic in clinics)

        # Patients and certificates: each clinic sees its own patients -----------------------------------------
        directory = tempfile.mkdtemp(prefix="scale_fill_", dir=os.environ.get("TMPDIR"))
        patient_count = max(len(clinics) * 2, round(PER_MILLION["patients"] * scale))
        cursor.execute("SELECT coalesce(max(id), 0) FROM eligibility_patient")
        patient_base = cursor.fetchone()[0] + 1
        cursor.execute("SELECT coalesce(max(id), 0) FROM eligibility_certificate")
        certificate_base = cursor.fetchone()[0] + 1
        patients = Table(directory, "eligibility_patient", ("id", "personal_identity_number", "name", "created_at"))
        certificates = Table(
            directory,
            "eligibility_certificate",
            (
                "id",
                "support_form",
                "number",
                '"group"',
                "valid_from",
                "valid_to",
                "revoked_from",
                "revocation_reason",
                "created_at",
                "region_id",
                "registered_by_id",
                "revoked_by_id",
                "patient_id",
            ),
        )
        cursor.execute("SELECT personal_identity_number FROM eligibility_patient WHERE personal_identity_number < '19'")
        taken = {pin for (pin,) in cursor.fetchall()}
        # patient index -> (id, personnummer, certificate id, support form, category id)
        patient_rows: list[tuple[int, str, int, str, int]] = []
        start = 0
        k = 0
        for index, clinic in enumerate(clinics):
            region = regions[clinic.region_id]
            share = (
                patient_count - start
                if index == len(clinics) - 1
                else round(patient_count * clinic.weight / total_weight)
            )
            share = max(share, 2)
            clinic.patients = range(start, start + share)
            for _n in range(share):
                pin = test_personnummer(k)
                while pin in taken:
                    k += 1
                    pin = test_personnummer(k)
                k += 1
                position = len(patient_rows)
                patient_id = patient_base + position
                certificate_id = certificate_base + position
                form = "N" if position % 4 else "F"
                category_id, group = region.categories[form][position % len(region.categories[form])]
                created = _seconds(datetime.date(2020, 1, 1) + datetime.timedelta(days=position % 1700), rng)
                patients.add(patient_id, pin, f"Testperson {position + 1}", created.isoformat())
                certificates.add(
                    certificate_id,
                    form,
                    f"SK{position + 1:08d}",
                    group,
                    "2020-01-01",
                    None,
                    None,
                    "",
                    created.isoformat(),
                    clinic.region_id,
                    None,
                    None,
                    patient_id,
                )
                patient_rows.append((patient_id, pin, certificate_id, form, category_id))
            start += share
        counts["eligibility_patient"] = patients.rows

        # Ids continue after the demo's rows.
        def next_id(table: str) -> int:
            cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
            return cursor.fetchone()[0]

        invoice_id = next_id("claims_invoice")
        claim_id = next_id("claims_claim")
        line_id = next_id("claims_claimline")
        event_id = next_id("claims_claimevent")
        access_id = next_id("portal_accesslogentry")
        question_id = next_id("review_claimquestion")
        credit_id = next_id("claims_creditinvoice")
        credit_line_id = next_id("claims_creditline")
        run_id = next_id("payouts_payoutrun")
        payment_id = next_id("payouts_payoutpayment")
        payout_invoice_id = next_id("payouts_payoutinvoice")
        payout_claim_id = next_id("payouts_payoutclaim")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x6175646974])
        cursor.execute("SELECT id, hash FROM portal_auditevent ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        audit = AuditWriter(
            Table(directory, "portal_auditevent", (*HASHED_FIELDS, "hash", "prev_hash")),
            (row[0] + 1) if row else 1,
            row[1] if row else GENESIS,
        )

        # Payout runs: each region pays monthly; the invoices of a month go in the next month's run --------------
        first_day = today - datetime.timedelta(days=365 * YEARS)
        recent_from = today - datetime.timedelta(days=RECENT_DAYS)
        planned_from = recent_from - datetime.timedelta(days=PLANNED_DAYS)
        counter: dict[int, int] = {}
        cursor.execute("SELECT region_id, last_value FROM payouts_ourreferencecounter")
        counter.update(cursor.fetchall())
        cursor.execute("SELECT region_id, payout_date FROM payouts_payoutrun WHERE state <> 'cancelled'")
        taken_dates = set(cursor.fetchall())

        def run_for(region: RegionPlan, received: datetime.date) -> dict | None:
            """The run that pays an invoice received that day: None while it is recent."""
            if received >= recent_from:
                return None
            month_end = (datetime.date(received.year, received.month, 28) + datetime.timedelta(days=4)).replace(day=1)
            # A month is paid on a bank day some 24 days after it ends; the months not paid by the planned run's
            # window are in the planned run.
            if received >= planned_from or month_end + datetime.timedelta(days=24) >= planned_from:
                key = ("planned",)
            else:
                key = (received.year, received.month)
            for run in region.runs:
                if run["key"] == key:
                    return run
            if key == ("planned",):
                payout_date = next_bank_day(today)
                cutoff = recent_from
            else:
                cutoff = month_end
                payout_date = bank_day_on_or_after(month_end + datetime.timedelta(days=24))
            while (region.id, payout_date) in taken_dates:
                payout_date = next_bank_day(payout_date)
            taken_dates.add((region.id, payout_date))
            created = _seconds(min(cutoff, today), rng, 7, 2)
            run = {
                "key": key,
                "id": None,
                "payout_date": payout_date,
                "state": "planned" if key == ("planned",) else "paid",
                "created": created,
                "paid": _seconds(payout_date, rng, 6, 1),
                "claims": 0,
                "gross": 0,
                "payments": {},  # clinic id -> [payment id, gross]
            }
            region.runs.append(run)
            return run

        # Invoices: their days, clinics and sizes ----------------------------------------------------------------
        invoice_count = max(len(clinics), round(PER_MILLION["invoices"] * scale))
        big_size = max(20, round(PER_MILLION["big_invoice"] * scale))
        remaining = claims - big_size
        invoice_clinics = rng.choices(clinics, weights=[clinic.weight for clinic in clinics], k=invoice_count - 1)
        # Sizes: most invoices are small (a day's claims), some are files of hundreds.
        raw = [rng.expovariate(1.0) ** 2 + 0.05 for _ in invoice_clinics]
        factor = remaining / sum(raw)
        sizes = [max(1, int(value * factor)) for value in raw]
        short = remaining - sum(sizes)
        index = 0
        while short != 0:
            step = 1 if short > 0 else -1
            position = index % len(sizes)
            if step > 0 or sizes[position] > 1:
                sizes[position] += step
                short -= step
            index += 1
        span = (today - first_day).days
        invoices_plan = [
            (first_day + datetime.timedelta(days=rng.randrange(span)), clinic, size)
            for clinic, size in zip(invoice_clinics, sizes, strict=True)
        ]
        big_clinic = next((clinic for clinic in clinics if clinic.number == "31"), clinics[0])
        invoices_plan.append((today - datetime.timedelta(days=RECENT_DAYS + PLANNED_DAYS + 40), big_clinic, big_size))
        invoices_plan.sort(key=lambda item: item[0])

        # The rows -----------------------------------------------------------------------------------------------
        invoices = Table(
            directory,
            "claims_invoice",
            ("id", "reference", "received_at", "source", "our_reference", "payout_date", "clinic_id", "created_by_id"),
        )
        claim_table = Table(
            directory,
            "claims_claim",
            (
                "id",
                "reference",
                "support_form",
                "free_card_number",
                "comment",
                "coordinator_comment",
                "state",
                "total",
                "patient_fee_total",
                "approved_on",
                "paid_on",
                "void_reason",
                "created_at",
                "updated_at",
                "care_model_id",
                "certificate_id",
                "clinic_id",
                "created_by_id",
                "patient_id",
                "patient_category_id",
                "invoice_id",
            ),
        )
        lines = Table(
            directory,
            "claims_claimline",
            ("id", "position", "visit_date", "code", "tooth", "jaw", "amount", "comment", "claim_id", "tariff_row_id"),
        )
        events = Table(
            directory,
            "claims_claimevent",
            ("id", "from_state", "to_state", "occurred_at", "actor_id", "claim_id", "kind", "params"),
        )
        questions = Table(
            directory,
            "review_claimquestion",
            ("id", "question", "asked_at", "answer", "answered_at", "answered_by_id", "asked_by_id", "claim_id"),
        )
        credit_invoices = Table(
            directory,
            "claims_creditinvoice",
            ("id", "reference", "total", "created_at", "clinic_id", "created_by_id", "invoice_id"),
        )
        credit_lines = Table(directory, "claims_creditline", ("id", "amount", "claim_line_id", "credit_invoice_id"))
        payout_invoices = Table(
            directory,
            "payouts_payoutinvoice",
            (
                "id",
                "our_reference",
                "amount",
                "claim_count",
                "invoice_id",
                "region_id",
                "payment_id",
                "previous_our_reference",
                "previous_payout_date",
            ),
        )
        payout_claims = Table(
            directory,
            "payouts_payoutclaim",
            ("id", "amount", "claim_id", "payout_invoice_id", "previous_approved_on", "previous_state"),
        )
        access = Table(
            directory,
            "portal_accesslogentry",
            (
                "id",
                "occurred_at",
                "role",
                "personal_identity_number",
                "shown",
                "path",
                "clinic_id",
                "region_id",
                "user_id",
                "shown_kind",
                "shown_params",
            ),
        )
        access_per_claim = PER_MILLION["access_log"] / 1_000_000
        codes = list(TREATMENT_CODES)
        seq = 0
        now = datetime.datetime.now(datetime.UTC)
        for number, (received_day, clinic, size) in enumerate(invoices_plan):
            region = regions[clinic.region_id]
            run = run_for(region, received_day)
            received_at = _seconds(received_day, rng)
            if received_at > now:
                received_at = now - datetime.timedelta(minutes=5)
            reference = str(7_000_000 + number)
            source = "file" if size >= 40 else ("api" if number % 7 == 0 else "web")
            biller = clinic.biller
            invoice_pk = invoice_id
            invoice_id += 1
            our_reference = ""
            payment = None
            payout_invoice_pk = None
            invoice_gross = invoice_claims = 0
            if run is not None:
                counter[region.id] = counter.get(region.id, 0) + 1
                our_reference = str(OUR_REFERENCE_BASE + counter[region.id])
                if run["id"] is None:
                    run["id"] = run_id
                    run_id += 1
                payment = run["payments"].get(clinic.id)
                if payment is None:
                    payment = run["payments"][clinic.id] = [payment_id, 0]
                    payment_id += 1
                payout_invoice_pk = payout_invoice_pk_next = payout_invoice_id
                payout_invoice_id = payout_invoice_pk_next + 1
            invoices.add(
                invoice_pk,
                reference,
                received_at.isoformat(),
                source,
                our_reference,
                run["payout_date"].isoformat() if run else None,
                clinic.id,
                biller[0],
            )
            audit.add(
                at=received_at,
                actor=biller,
                action="claims.invoice.received",
                object_type="claims.invoice",
                object_id=invoice_pk,
                object_repr=reference,
                clinic_id=clinic.id,
                region_id=None,
                before={},
                after={"source": source, "reference": reference},
            )
            credit = None  # [id, total] of this invoice's credit invoice
            for _c in range(size):
                seq += 1
                pk = claim_id
                claim_id += 1
                claim_reference = f"R{seq:07d}"
                patient_id, pin, certificate_id, form, category_id = patient_rows[rng.choice(clinic.patients)]
                # What became of it.
                draw = rng.random()
                if draw < SHARE_VOIDED:
                    state = "voided"
                elif draw < SHARE_VOIDED + SHARE_DELETED:
                    state = "deleted"
                elif run is None:
                    state = "under_review" if rng.random() < SHARE_UNDER_REVIEW else "received"
                elif run["state"] == "planned":
                    state = "approved"
                else:
                    state = "credited" if rng.random() < SHARE_CREDITED else "paid"
                # Lines: 1–4 treatments on one visit, and the patient fee.
                visit = received_day - datetime.timedelta(days=1 + rng.randrange(30))
                tariff = _tariff_of(region, visit)
                treatments = rng.choices(codes, weights=TREATMENT_WEIGHTS, k=rng.choice((1, 2, 2, 3, 3, 4)))
                fee = -rng.choice((10_000, 10_000, 12_000, 0))
                total = fee
                line_ids = []
                for position, code in enumerate(treatments, start=1):
                    row_id, price = tariff[code]
                    tooth = rng.choice(TEETH) if code == "401" else ""
                    lines.add(line_id, position, visit.isoformat(), code, tooth, "", price, "", pk, row_id)
                    line_ids.append((line_id, price))
                    line_id += 1
                    total += price
                lines.add(
                    line_id, len(treatments) + 1, visit.isoformat(), "patAvg", "", "", fee, "", pk, tariff["patAvg"][0]
                )
                line_ids.append((line_id, fee))
                line_id += 1
                created = received_at
                updated = created
                approved_on = paid_on = None
                void_reason = ""
                events.add(event_id, "", "received", created.isoformat(), biller[0], pk, "received", "{}")
                event_id += 1
                audit.add(
                    at=created,
                    actor=biller,
                    action="claims.claim.submitted",
                    object_type="claims.claim",
                    object_id=pk,
                    object_repr=claim_reference,
                    clinic_id=clinic.id,
                    region_id=None,
                    before={},
                    after={
                        "lines": len(line_ids),
                        "total": total,
                        "invoice": invoice_pk,
                        "reference": claim_reference,
                        "support_form": form,
                        "patient_fee_total": fee,
                    },
                )
                coordinator = region.coordinator
                if state in ("voided", "deleted"):
                    updated = created + datetime.timedelta(days=1 + rng.randrange(10))
                    updated = min(updated, now)
                    if state == "voided":
                        void_reason = VOID_REASON
                        events.add(
                            event_id, "received", "voided", updated.isoformat(), coordinator[0], pk, "voided",
                            _JSON({"reason": VOID_REASON}),
                        )  # fmt: skip
                        actor, action, after = (
                            coordinator,
                            "claims.claim.voided",
                            {"state": "voided", "void_reason": VOID_REASON},
                        )
                    else:
                        events.add(event_id, "received", "deleted", updated.isoformat(), biller[0], pk, "deleted", "{}")
                        actor, action, after = biller, "claims.claim.deleted", {"state": "deleted"}
                    event_id += 1
                    audit.add(
                        at=updated, actor=actor, action=action, object_type="claims.claim", object_id=pk,
                        object_repr=claim_reference, clinic_id=clinic.id, region_id=None,
                        before={"state": "received"}, after=after,
                    )  # fmt: skip
                elif state == "under_review":
                    updated = min(created + datetime.timedelta(hours=1 + rng.randrange(48)), now)
                    events.add(
                        event_id,
                        "received",
                        "under_review",
                        updated.isoformat(),
                        coordinator[0],
                        pk,
                        "review_started",
                        "{}",
                    )
                    event_id += 1
                    audit.add(
                        at=updated, actor=coordinator, action="claims.claim.review_started", object_type="claims.claim",
                        object_id=pk, object_repr=claim_reference, clinic_id=clinic.id, region_id=None,
                        before={"state": "received"}, after={"state": "under_review"},
                    )  # fmt: skip
                    if rng.random() < SHARE_QUESTION:
                        question = rng.choice(QUESTIONS)
                        asked = updated + datetime.timedelta(minutes=5)
                        answered = rng.random() < 0.5
                        answered_at = (
                            min(asked + datetime.timedelta(hours=2 + rng.randrange(48)), now) if answered else None
                        )
                        questions.add(
                            question_id, question, asked.isoformat(), ANSWER if answered else "",
                            answered_at.isoformat() if answered else None, biller[0] if answered else None,
                            coordinator[0], pk,
                        )  # fmt: skip
                        events.add(
                            event_id, "under_review", "under_review", asked.isoformat(), coordinator[0], pk,
                            "question_asked", _JSON({"question": question}),
                        )  # fmt: skip
                        event_id += 1
                        audit.add(
                            at=asked, actor=coordinator, action="review.claim_question.asked",
                            object_type="review.claimquestion", object_id=question_id,
                            object_repr=f"{claim_reference}: {question}"[:60], clinic_id=clinic.id, region_id=None,
                            before={}, after={"claim": pk, "question": question},
                        )  # fmt: skip
                        if answered:
                            events.add(
                                event_id, "under_review", "under_review", answered_at.isoformat(), biller[0], pk,
                                "question_answered", _JSON({"answer": ANSWER}),
                            )  # fmt: skip
                            event_id += 1
                            audit.add(
                                at=answered_at, actor=biller, action="review.claim_question.answered",
                                object_type="review.claimquestion", object_id=question_id,
                                object_repr=f"{claim_reference}: {question}"[:60], clinic_id=clinic.id,
                                region_id=None, before={}, after={"claim": pk, "answer": ANSWER},
                            )  # fmt: skip
                        question_id += 1
                elif run is not None:
                    approved = max(run["created"], created)
                    approved_on = run["payout_date"]
                    updated = approved
                    run["claims"] += 1
                    run["gross"] += total
                    payment[1] += total
                    invoice_gross += total
                    invoice_claims += 1
                    payout_claims.add(payout_claim_id, total, pk, payout_invoice_pk, None, "received")
                    payout_claim_id += 1
                    events.add(
                        event_id, "received", "approved", approved.isoformat(), coordinator[0], pk,
                        "scheduled_for_payout", _JSON({"date": approved_on.isoformat()}),
                    )  # fmt: skip
                    event_id += 1
                    audit.add(
                        at=approved, actor=coordinator, action="claims.claim.approved", object_type="claims.claim",
                        object_id=pk, object_repr=claim_reference, clinic_id=clinic.id, region_id=None,
                        before={"state": "received"},
                        after={"state": "approved", "approved_on": approved_on.isoformat()},
                    )  # fmt: skip
                    if state in ("paid", "credited"):
                        paid_at = run["paid"]
                        paid_on = run["payout_date"]
                        updated = paid_at
                        events.add(event_id, "approved", "paid", paid_at.isoformat(), None, pk, "paid", "{}")
                        event_id += 1
                        audit.add(
                            at=paid_at, actor=None, action="claims.claim.paid", object_type="claims.claim",
                            object_id=pk, object_repr=claim_reference, clinic_id=clinic.id, region_id=None,
                            before={"state": "approved"}, after={"state": "paid", "paid_on": paid_on.isoformat()},
                        )  # fmt: skip
                    if state == "credited":
                        credited_at = min(run["paid"] + datetime.timedelta(days=3 + rng.randrange(40)), now)
                        updated = credited_at
                        credit_reference = f"{reference}_Kredit"
                        if credit is None:
                            credit = [credit_id, 0, credited_at]
                            credit_id += 1
                        credited = 0
                        for credited_line, amount in line_ids:
                            credit_lines.add(credit_line_id, amount, credited_line, credit[0])
                            credit_line_id += 1
                            credited += amount
                        credit[1] += credited
                        events.add(
                            event_id, "paid", "credited", credited_at.isoformat(), biller[0], pk, "credited",
                            _JSON({"reference": credit_reference}),
                        )  # fmt: skip
                        event_id += 1
                        audit.add(
                            at=credited_at, actor=biller, action="claims.claim.credited", object_type="claims.claim",
                            object_id=pk, object_repr=claim_reference, clinic_id=clinic.id, region_id=None,
                            before={"state": "paid"}, after={"state": "credited"},
                        )  # fmt: skip
                claim_table.add(
                    pk,
                    claim_reference,
                    form,
                    "",
                    "",
                    "",
                    state,
                    total,
                    fee,
                    approved_on.isoformat() if approved_on else None,
                    paid_on.isoformat() if paid_on else None,
                    void_reason,
                    created.isoformat(),
                    updated.isoformat(),
                    region.care_model_id,
                    certificate_id,
                    clinic.id,
                    biller[0],
                    patient_id,
                    category_id,
                    invoice_pk,
                )
                # Who looked at the patient afterwards: the clinic's biller, now and then the coordinator.
                looks = int(access_per_claim) + (rng.random() < access_per_claim % 1)
                for _look in range(looks):
                    seen = min(created + datetime.timedelta(seconds=rng.randrange(60 * 86400)), now)
                    if rng.random() < 0.7:
                        access.add(
                            access_id, seen.isoformat(), "biller", pin,
                            f"Räkning {claim_reference}: åtgärder och historik", f"/rakningar/{pk}/", clinic.id,
                            region.id, biller[0], "claim", _JSON({"reference": claim_reference}),
                        )  # fmt: skip
                    else:
                        access.add(
                            access_id, seen.isoformat(), "coordinator", pin,
                            f"Granskning: räkning {claim_reference}", f"/granskning/rakningar/{pk}/", None,
                            region.id, coordinator[0], "review_claim", _JSON({"reference": claim_reference}),
                        )  # fmt: skip
                    access_id += 1
            if credit is not None:
                credit_invoices.add(
                    credit[0], f"{reference}_Kredit", credit[1], credit[2].isoformat(), clinic.id, biller[0], invoice_pk
                )
                audit.add(
                    at=credit[2], actor=biller, action="claims.credit_invoice.created",
                    object_type="claims.creditinvoice", object_id=credit[0], object_repr=f"{reference}_Kredit",
                    clinic_id=clinic.id, region_id=None, before={},
                    after={"total": credit[1], "reference": f"{reference}_Kredit"},
                )  # fmt: skip
            if run is not None:
                payout_invoices.add(
                    payout_invoice_pk, our_reference, invoice_gross, invoice_claims, invoice_pk, region.id, payment[0],
                    "", None,
                )  # fmt: skip
                if run["state"] == "paid":
                    audit.add(
                        at=run["paid"], actor=region.coordinator, action="claims.invoice.paid",
                        object_type="claims.invoice", object_id=invoice_pk, object_repr=reference,
                        clinic_id=clinic.id, region_id=None, before={"payout_date": None, "our_reference": ""},
                        after={"payout_date": run["payout_date"].isoformat(), "our_reference": our_reference},
                    )  # fmt: skip
            if number % 20_000 == 0 and number:
                log(f"  {number} invoices, {seq} claims generated ({time.monotonic() - started:.0f} s)")

        # The runs themselves and their payments ----------------------------------------------------------------
        runs = Table(
            directory,
            "payouts_payoutrun",
            (
                "id",
                "payout_date",
                "state",
                "claim_count",
                "gross_total",
                "set_off_total",
                "net_total",
                "created_at",
                "paid_at",
                "created_by_id",
                "region_id",
                "confirmed_at",
                "confirmed_by_id",
                "file_downloaded_at",
                "file_downloaded_by_id",
                "fingerprint",
                "progress_count",
                "failure_message",
                "updated_at",
            ),
        )
        payments = Table(
            directory,
            "payouts_payoutpayment",
            (
                "id",
                "payment_method",
                "account_number",
                "gross",
                "set_off",
                "net",
                "notice_sent_at",
                "notice_sent_to",
                "clinic_id",
                "run_id",
            ),
        )
        clinic_by_id = {clinic.id: clinic for clinic in clinics}
        for region in regions.values():
            coordinator = region.coordinator
            for run in sorted((run for run in region.runs if run["id"] is not None), key=lambda run: run["id"]):
                paid = run["state"] == "paid"
                downloaded = run["created"] + datetime.timedelta(minutes=10)
                runs.add(
                    run["id"],
                    run["payout_date"].isoformat(),
                    run["state"],
                    run["claims"],
                    run["gross"],
                    0,
                    run["gross"],
                    run["created"].isoformat(),
                    run["paid"].isoformat() if paid else None,
                    coordinator[0],
                    region.id,
                    None,
                    None,
                    downloaded.isoformat() if paid else None,
                    coordinator[0] if paid else None,
                    "",  # made by the task before it was one: no preview's fingerprint to match
                    run["claims"],
                    "",
                    (run["paid"] if paid else run["created"]).isoformat(),
                )
                repr_ = f"{region.name} {run['payout_date'].isoformat()}"
                audit.add(
                    at=run["created"], actor=coordinator, action="payouts.run.created",
                    object_type="payouts.payoutrun", object_id=run["id"], object_repr=repr_, clinic_id=None,
                    region_id=region.id, before={},
                    after={"state": "planned", "net_total": run["gross"], "claim_count": run["claims"],
                           "gross_total": run["gross"], "payout_date": run["payout_date"].isoformat(),
                           "set_off_total": 0},
                )  # fmt: skip
                for clinic_id, (pk, gross) in sorted(run["payments"].items(), key=lambda item: item[1][0]):
                    clinic = clinic_by_id[clinic_id]
                    payments.add(
                        pk,
                        clinic.payment_method,
                        clinic.account_number,
                        gross,
                        0,
                        gross,
                        downloaded.isoformat() if paid else None,
                        f"utbetalning{clinic.number}@scale.test" if paid else "",
                        clinic_id,
                        run["id"],
                    )
                if paid:
                    audit.add(
                        at=downloaded, actor=coordinator, action="payouts.run.file_downloaded",
                        object_type="payouts.payoutrun", object_id=run["id"], object_repr=repr_, clinic_id=None,
                        region_id=region.id, before={}, after={"first": True, "net_total": run["gross"]},
                    )  # fmt: skip
                    audit.add(
                        at=run["paid"], actor=None, action="payouts.run.paid", object_type="payouts.payoutrun",
                        object_id=run["id"], object_repr=repr_, clinic_id=None, region_id=region.id, before={},
                        after={"state": "paid", "claims": run["claims"]},
                    )  # fmt: skip
        log(f"generated ({time.monotonic() - started:.0f} s); copying")

        # Copy -------------------------------------------------------------------------------------------------
        # The logs' months before COPY, so that each row lands in its month's partition (with its indexes) as
        # the daily log_partitions_ensure would have put it, not all in the DEFAULT partition.
        log_partitions_make(cursor, first=first_day - datetime.timedelta(days=LOG_MONTHS_BEFORE_DAYS), last=today)
        dropped = indexes_drop(cursor, BIG_TABLES) if claims >= DROP_INDEXES_FROM else []
        tables = (
            patients,
            certificates,
            invoices,
            claim_table,
            lines,
            events,
            questions,
            credit_invoices,
            credit_lines,
            runs,
            payments,
            payout_invoices,
            payout_claims,
            access,
            audit.table,
        )
        for table in tables:
            moment = time.monotonic()
            table.copy(cursor)
            counts[table.name] = table.rows
            log(f"  {table.name}: {table.rows} rows ({time.monotonic() - moment:.1f} s)")
        os.rmdir(directory)
        for region_id, value in counter.items():
            cursor.execute(
                "INSERT INTO payouts_ourreferencecounter (region_id, last_value) VALUES (%s, %s) "
                "ON CONFLICT (region_id) DO UPDATE SET last_value = EXCLUDED.last_value",
                [region_id, value],
            )
        # The identity sequences continue after the rows given ids here.
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table.name}))"
            )
        moment = time.monotonic()
        indexes_make(cursor, dropped)
        if dropped:
            log(f"  {len(dropped)} indexes made again ({time.monotonic() - moment:.1f} s)")
    # The start page's summaries (reports.ClaimMonthFigure) are kept by triggers, which the COPY turned off: built
    # once from the claims, as `manage.py report_figures_recount` does.
    from reports.services import claim_month_figures_recount

    moment = time.monotonic()
    claim_month_figures_recount()
    log(f"  the start page's summaries ({time.monotonic() - moment:.1f} s)")
    # And whether each claim's questions are all answered (claims.Claim.questions_answered), kept by triggers too.
    from review.services import claim_questions_answered_recount

    moment = time.monotonic()
    claim_questions_answered_recount()
    log(f"  the claims' answered questions ({time.monotonic() - moment:.1f} s)")
    # ANALYZE outside the filling transaction, so that the planner knows the new sizes at once.
    moment = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"  ANALYZE ({time.monotonic() - moment:.1f} s)")
    counts["seconds"] = round(time.monotonic() - started, 1)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", nargs="?", help="database name on DATABASE_URL's server (default: DATABASE_URL's)")
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--migrate", action="store_true", help="migrate the database first")
    args = parser.parse_args(argv)
    if args.database:
        os.environ["DATABASE_URL"] = _database_url(
            os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tandportal"), args.database
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    import django

    django.setup()
    if args.migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    counts = scale_fill(claims=args.claims, seed=args.seed)
    print(f"Filled in {counts.pop('seconds')} s:")
    for table, rows in counts.items():
        print(f"  {table}: {rows}")


if __name__ == "__main__":
    main()
