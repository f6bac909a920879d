"""A worker killed while it checks an invoice file, or sends its claims: real `celery -A portal worker` processes
on the real Redis and the test's database. The file is checked again from the start, with no fault row twice;
a file whose check loses its worker every time ends failed after the retry limit instead of a bar that never
ends; a send is done again by another worker, once, all claims or none.

Where a worker dies must not depend on how fast the check is: a trigger holds the check's next write to the
upload once part of the file is checked and committed (processed_count above 0, below claim_count), on an
advisory lock the test owns. The worker is killed while it waits there, in the middle of a chunk.
"""

import contextlib
import datetime
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import lxml.html
import psutil
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from billing import invoice_file_services, tasks
from claims.models import Claim, Invoice, InvoiceFileFault, InvoiceFileState, InvoiceFileUpload
from portal.celery import app
from tests.clinics.factories import ClinicFactory
from tests.eligibility.factories import CertificateFactory
from tests.testdata import TEST_PERSONNUMMER
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # real worker processes, started and killed

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Three chunks at least: the first is committed, the worker dies inside the second.
CLAIMS = 3 * invoice_file_services.CHUNK_SIZE
# Seconds before the broker hands a killed worker's message to another worker (production: an hour).
VISIBILITY_TIMEOUT = 1
# The advisory lock the trigger waits for; advisory locks belong to one database, the test's own.
HOLD_KEY = 5_050_505
FINISHED = [InvoiceFileState.CHECKED, InvoiceFileState.REJECTED, InvoiceFileState.FAILED]
FAILED = "Filen kunde inte kontrolleras, försök igen."


def large_invoice_file() -> bytes:
    """CLAIMS claims by Skatteverket's test personnummer in turn, on N certificate 764153 (file_world): those of
    200001012384 are correct, the others have faults (another person's certificate, or none), in every chunk.
    Each of a patient's claims is another day's visit: the same visit twice would be duplicate care."""
    today = timezone.localdate()
    claims = "".join(
        f"""
  <Rakning>
    <Rakningsreferens>DOD-{index}</Rakningsreferens>
    <Personnummer>{TEST_PERSONNUMMER[index % len(TEST_PERSONNUMMER)]}</Personnummer>
    <Stodform>N</Stodform>
    <Intygsnummer>764153</Intygsnummer>
    <Vardmodell>K1</Vardmodell>
    <Besok datum="{(today - datetime.timedelta(days=1 + index // len(TEST_PERSONNUMMER) % 90)).isoformat()}">
      <Patientavgift belopp="200"/>
      <Atgard kod="101"/>
    </Besok>
  </Rakning>"""
        for index in range(CLAIMS)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">
  <Huvud>
    <Kliniknummer>31</Kliniknummer>
    <Fakturareferens>F-DOD-1</Fakturareferens>
    <Skapad>2026-01-01T08:00:00</Skapad>
  </Huvud>{claims}
</Fakturafil>
""".encode()


def finished(upload: InvoiceFileUpload):
    return InvoiceFileUpload.objects.filter(pk=upload.pk, state__in=FINISHED).exists


def fault_rows(upload: InvoiceFileUpload) -> list[tuple[int, str]]:
    return list(InvoiceFileFault.objects.filter(upload=upload).values_list("claim_index", "code"))


def faults_of_an_uninterrupted_check(world, content: bytes) -> list[tuple[int, str]]:
    """The fault rows of the same file checked by the task in this process, never interrupted."""
    upload = InvoiceFileUpload(
        clinic=world.clinic,
        uploaded_by=world.biller,
        original_name="facit.xml",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        review_only=True,
    )
    upload.file.save("facit.xml", ContentFile(content), save=False)
    upload.save()
    tasks.check_invoice_file.apply(args=(upload.pk,))
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.CHECKED, upload.failure_message
    return fault_rows(upload)


# The worker processes --------------------------------------------------------------------------------------


def worker_database_url() -> str:
    """DATABASE_URL naming the test's own database (test_tandportal_<pid>) instead of the one it was made from."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


class Worker:
    """`celery -A portal worker` in a process group of its own, as a deployment runs it, with the test's
    database, media and Redis, and a broker visibility timeout of VISIBILITY_TIMEOUT seconds."""

    def __init__(
        self,
        *,
        queue: str,
        pool: str,
        log: Path,
        settings_module: str = "portal.settings.local",
        environment: dict | None = None,
    ):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": worker_database_url(),
            "TANDPORTAL_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            **(environment or {}),
        }
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", pool, "--concurrency", "1"]
        command += ["--queues", queue, "--hostname", f"{log.stem}@%h", "--loglevel", "INFO"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self) -> None:
        """SIGKILL to the whole process group: the worker and its pool processes, with no chance to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def kill_pool_processes(self) -> None:
        """SIGKILL to the pool processes only, as the kernel's out-of-memory killer would do; the worker's main
        process stays and starts new ones."""
        children = psutil.Process(self.process.pid).children()
        assert children, "a prefork worker has a pool process"
        for child in children:
            child.send_signal(signal.SIGKILL)
        wait_until(lambda: all(map(dead, children)), timeout=10, what="the pool processes to die")

    def wait_for(self, condition, *, timeout: float, what: str) -> None:
        """wait_until, failing at once if the worker stops, and showing its log when it fails."""

        def alive_and_done():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker stopped (exit {self.process.returncode})")
            return condition()

        try:
            wait_until(alive_and_done, timeout=timeout, what=what)
        except AssertionError as error:
            raise AssertionError(f"{error}; the worker's log ends:\n{self.log.read_text()[-4000:]}") from None


def dead(process: psutil.Process) -> bool:
    """Gone, or a zombie: dead, not yet reaped by its parent (the worker)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def start_worker(celery_queue, tmp_path):
    workers: list[Worker] = []

    def start(pool: str = "solo") -> Worker:
        worker = Worker(queue=celery_queue, pool=pool, log=tmp_path / f"worker{len(workers) + 1}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()
    # The database is emptied next: no session of a killed worker may hold a lock (one may wait on HOLD_KEY).
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_terminate_backend(pid) FROM ({OTHER_SESSIONS}) AS others")
    wait_until(lambda: not other_sessions(), timeout=20, what="the workers' database sessions to end")
    forget_messages(celery_queue)


# The test database is the test's own: any other session in it is a worker's.
OTHER_SESSIONS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend'"
)


def other_sessions() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(OTHER_SESSIONS)
        return [pid for (pid,) in cursor.fetchall()]


# Holding the check in the middle ---------------------------------------------------------------------------


class HeldWrite:
    """While the test holds advisory lock HOLD_KEY, a write (`event`: INSERT or UPDATE) to `table` that meets
    `condition` (a trigger's WHEN) waits for it: the worker doing it is held there, in the middle of its
    transaction."""

    def __init__(self, *, table: str, event: str, condition: str):
        self.table = table
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [HOLD_KEY])
            cursor.execute(
                f"""
                CREATE FUNCTION hold_worker() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_advisory_xact_lock({HOLD_KEY});
                    RETURN NEW;
                END $$;
                CREATE TRIGGER hold_worker BEFORE {event} ON {table} FOR EACH ROW
                WHEN ({condition}) EXECUTE FUNCTION hold_worker();
                """
            )
        self.released = False

    def waiting_session(self, *, besides: set[int] = frozenset()) -> int | None:
        """The database session of a worker waiting for the lock, if any (not one of `besides`)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
            return next((pid for (pid,) in cursor.fetchall() if pid not in besides), None)

    def wait(self, worker: "Worker", *, what: str, besides: set[int] = frozenset()) -> int:
        """Wait until a worker is held (by a session not in `besides`) and answer its session."""
        sessions = []

        def held():
            sessions.append(self.waiting_session(besides=besides))
            return sessions[-1] is not None

        worker.wait_for(held, timeout=30, what=what)
        return sessions[-1]

    def release(self) -> None:
        """Let the held write go on and remove the trigger; a killed worker's session then finds its client
        gone and rolls its transaction back, and the trigger can go only after that."""
        if self.released:
            return
        self.released = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [HOLD_KEY])
            cursor.execute("SET lock_timeout = '20s'")
            try:
                cursor.execute(f"DROP TRIGGER hold_worker ON {self.table}")
                cursor.execute("DROP FUNCTION hold_worker()")
            finally:
                cursor.execute("RESET lock_timeout")


@pytest.fixture
def held_check(transactional_db):
    """A check holds at its next write to the upload once part of the file is checked and committed; the write
    that marks the upload failed goes through."""
    held = HeldWrite(
        table=InvoiceFileUpload._meta.db_table,
        event="UPDATE",
        condition="OLD.processed_count > 0 AND OLD.processed_count < OLD.claim_count AND NEW.state = 'running'",
    )
    yield held
    held.release()


# A correct claim (200001012384's) of the second chunk: a send holds when it stores it, the first chunk stored
# in its transaction.
HELD_SEND_REFERENCE = "DOD-" + str(
    next(
        index
        for index in range(invoice_file_services.CHUNK_SIZE, CLAIMS)
        if TEST_PERSONNUMMER[index % len(TEST_PERSONNUMMER)] == "200001012384"
    )
)


@pytest.fixture
def held_send(transactional_db):
    held = HeldWrite(table=Claim._meta.db_table, event="INSERT", condition=f"NEW.reference = '{HELD_SEND_REFERENCE}'")
    yield held
    held.release()


@pytest.fixture
def file_world(transactional_small_world):
    """A small world committed for the worker processes, with what large_invoice_file's claims name: clinic 31,
    200001012384's N certificate 764153 (care model K1 comes with the region), the tariffs of the visits."""
    world = transactional_small_world
    world.clinic = ClinicFactory(region=world.region, number="31")
    CertificateFactory(patient__personal_identity_number="200001012384", region=world.region, number="764153")
    today = timezone.localdate()
    world.tariff(today - datetime.timedelta(days=1), today - datetime.timedelta(days=90))
    world.biller  # made here, before any worker runs
    return world


# Redis ----------------------------------------------------------------------------------------------------


def unacknowledged(queue: str) -> dict[str, float]:
    """The messages of `queue` that a worker took and nobody has acknowledged yet, with the time each was
    taken: kombu's Redis bookkeeping, from which it hands a message out again after the visibility timeout."""
    with app.connection_for_write() as broker:
        channel = broker.default_channel
        return {
            tag: channel.client.zscore(channel.unacked_index_key, tag)
            for tag, raw in channel.client.hgetall(channel.unacked_key).items()
            if json.loads(raw)[2] == queue  # [message, exchange, routing key]
        }


def queued(queue: str) -> int:
    """The messages waiting in `queue`; Redis keeps no empty list, so a queue not found holds none."""
    with app.connection_for_write() as broker:
        try:
            return broker.default_channel.queue_declare(queue, passive=True).message_count
        except broker.channel_errors:
            return 0


def forget_messages(queue: str) -> None:
    """Nothing of the test's queue left in Redis, should a test have ended early."""
    with app.connection_for_write() as broker:
        channel = broker.default_channel
        for tag in unacknowledged(queue):
            channel.client.zrem(channel.unacked_index_key, tag)
            channel.client.hdel(channel.unacked_key, tag)
        channel.queue_purge(queue)


# The tests -------------------------------------------------------------------------------------------------


def test_a_send_whose_worker_is_killed_is_sent_again_once_all_or_nothing(
    client, file_world, celery_queue, held_send, start_worker
):
    world = file_world
    upload = invoice_file_services.invoice_file_start(
        actor=world.biller,
        clinic=world.clinic,
        uploaded=SimpleUploadedFile("stor-fil.xml", large_invoice_file()),
    ).upload
    first = start_worker()
    first.wait_for(finished(upload), timeout=60, what="the worker to check the file")
    upload.refresh_from_db()
    correct = upload.correct_count
    assert upload.state == InvoiceFileState.CHECKED and correct > 2  # in the first chunk and later ones

    invoice_file_services.invoice_file_send_start(actor=world.biller, upload=upload)  # Ladda upp; queued on commit

    held_send.wait(first, what="the send to be held in its second chunk")
    first.kill()
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.SENDING
    # The first chunk was stored in the killed worker's transaction, which never committed.
    assert not Invoice.objects.filter(clinic=world.clinic, reference="F-DOD-1").exists()
    taken = unacknowledged(celery_queue)
    assert len(taken) == 1, "the killed worker's message is unacknowledged"
    taken_at = next(iter(taken.values()))
    wait_until(lambda: time.time() > taken_at + VISIBILITY_TIMEOUT, timeout=10, what="the visibility timeout to pass")
    held_send.release()
    second = start_worker()

    sent = InvoiceFileUpload.objects.filter(pk=upload.pk, state=InvoiceFileState.SENT).exists
    second.wait_for(sent, timeout=60, what="the second worker to send the claims")
    invoice = Invoice.objects.get(clinic=world.clinic, reference="F-DOD-1")
    references = list(invoice.claims.values_list("reference", flat=True))
    assert len(references) == len(set(references)) == correct, "every correct claim once"
    second.wait_for(lambda: not unacknowledged(celery_queue), timeout=10, what="the message to be acknowledged")


def test_a_check_whose_worker_is_killed_is_checked_again_from_the_start_without_duplicate_rows(
    client, file_world, celery_queue, held_check, start_worker
):
    world = file_world
    content = large_invoice_file()
    expected = faults_of_an_uninterrupted_check(world, content)
    first = start_worker()

    upload = invoice_file_services.invoice_file_start(
        actor=world.biller, clinic=world.clinic, uploaded=SimpleUploadedFile("stor-fil.xml", content)
    ).upload

    held_check.wait(first, what="the check to be held in its second chunk")
    first.kill()
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.RUNNING
    assert 0 < upload.processed_count < upload.claim_count == CLAIMS
    partial = fault_rows(upload)
    assert partial, "the killed check left the fault rows of the chunks it committed"
    assert {index for index, _code in partial} <= set(range(1, upload.processed_count + 1))

    # acks_late: the killed worker never acknowledged the message, and the broker gives it out again once it
    # has been unacknowledged for longer than the visibility timeout.
    taken = unacknowledged(celery_queue)
    assert len(taken) == 1, "the killed worker's message is unacknowledged"
    taken_at = next(iter(taken.values()))
    wait_until(lambda: time.time() > taken_at + VISIBILITY_TIMEOUT, timeout=10, what="the visibility timeout to pass")
    held_check.release()
    second = start_worker()

    second.wait_for(finished(upload), timeout=60, what="the second worker to check the file")
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.CHECKED, upload.failure_message
    assert (upload.claim_count, upload.processed_count) == (CLAIMS, CLAIMS)
    rows = fault_rows(upload)
    assert len(rows) == len(set(rows)), "each fault of each claim once"
    assert upload.faulty_count == len({index for index, _code in rows})
    assert sorted(rows) == sorted(expected), "the same faults as a check that was never interrupted"
    assert 0 < upload.faulty_count < CLAIMS
    second.wait_for(lambda: not unacknowledged(celery_queue), timeout=10, what="the message to be acknowledged")
    client.force_login(world.biller)
    status = client.get(
        reverse("invoice_file_status", kwargs={"clinic_pk": world.clinic.pk, "upload_pk": upload.pk})
    ).json()
    assert status["finished"] is True


def test_a_check_that_loses_its_worker_every_time_ends_failed_after_the_retry_limit(
    client, file_world, celery_queue, held_check, start_worker
):
    world = file_world
    worker = start_worker(pool="prefork")
    upload = invoice_file_services.invoice_file_start(
        actor=world.biller, clinic=world.clinic, uploaded=SimpleUploadedFile("stor-fil.xml", large_invoice_file())
    ).upload

    # Each try is held in the middle (the first in its second chunk, the next ones at their start, the file being
    # half checked) and its pool process killed; the worker hands the message back to the broker at once.
    killed: set[int] = set()
    for attempt in range(1, tasks.check_invoice_file.max_retries + 2):
        session = held_check.wait(worker, besides=killed, what=f"try {attempt} of the check to be held")
        worker.kill_pool_processes()
        with connection.cursor() as cursor:  # PostgreSQL ends the session of a process that is gone
            cursor.execute("SELECT pg_terminate_backend(%s)", [session])
        killed.add(session)

    worker.wait_for(finished(upload), timeout=30, what="the check to give up")
    upload.refresh_from_db()
    assert (upload.state, upload.failure_message) == (InvoiceFileState.FAILED, FAILED)
    # Given up for good: the message acknowledged, none left in the queue.
    worker.wait_for(lambda: not unacknowledged(celery_queue), timeout=10, what="the message to be acknowledged")
    assert queued(celery_queue) == 0
    client.force_login(world.biller)
    kwargs = {"clinic_pk": world.clinic.pk, "upload_pk": upload.pk}
    page = lxml.html.fromstring(client.get(reverse("invoice_file_detail", kwargs=kwargs)).content)
    assert FAILED in " ".join(page.xpath("//*[@role='alert']//text()"))
    assert client.get(reverse("invoice_file_status", kwargs=kwargs)).json()["finished"] is True
