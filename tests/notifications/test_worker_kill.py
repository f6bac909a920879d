"""A worker killed in the middle of sending a notification's e-mail: a real `celery -A portal worker` on the real
Redis and the test's database. The message goes to another worker (late acknowledgement) and the e-mail is sent
once in the end; the task run again after that sends nothing.

Where the worker dies must not depend on timing: its e-mail backend (tests/notifications/holding_email.py) waits
on an advisory lock the test holds, inside the send's transaction, before the message is handed over; the worker
is killed while it waits there."""

import pytest
from django.db import connection

from notifications import tasks
from notifications.models import Notification, NotificationKind
from tests.billing.test_invoice_file_worker_kill import (
    OTHER_SESSIONS,
    Worker,
    forget_messages,
    other_sessions,
)
from tests.notifications.holding_email import HOLD_KEY
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # real worker processes, started and killed


@pytest.fixture
def start_worker(celery_queue, tmp_path):
    workers: list[Worker] = []
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()

    def start() -> Worker:
        # A worker writing its e-mails as files into `mail_dir`, its backend held on a lock while it sends.
        worker = Worker(
            queue=celery_queue,
            pool="solo",
            log=tmp_path / f"worker{len(workers) + 1}.log",
            settings_module="tests.notifications.holding_email",
            environment={"NOTIFICATION_TEST_MAIL_DIR": str(mail_dir)},
        )
        workers.append(worker)
        return worker

    start.mail_dir = mail_dir
    yield start
    for worker in workers:
        worker.kill()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_terminate_backend(pid) FROM ({OTHER_SESSIONS}) AS others")
    wait_until(lambda: not other_sessions(), timeout=20, what="the workers' database sessions to end")
    forget_messages(celery_queue)


def held_session() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_worker_killed_mid_send_leads_to_exactly_one_email(transactional_small_world, start_worker):
    world = transactional_small_world
    notification = Notification.objects.create(
        recipient=world.biller,
        kind=NotificationKind.PAYOUT_MADE,
        clinic=world.clinic,
        object_type="payout_payment",
        object_id=1,
        params={"payout_date": "2026-12-10", "net": 100_00},
    )
    sent = start_worker.mail_dir
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [HOLD_KEY])
    try:
        tasks.notification_email.delay(notification.pk)
        first = start_worker()
        first.wait_for(lambda: held_session() is not None, timeout=60, what="the worker to be held mid-send")
        first.kill()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [HOLD_KEY])
    assert not list(sent.iterdir())  # nothing went out before it died
    notification.refresh_from_db()
    assert notification.emailed_at is None  # its transaction rolled back with it

    second = start_worker()
    second.wait_for(
        lambda: Notification.objects.filter(pk=notification.pk, emailed_at__isnull=False).exists(),
        timeout=60,
        what="the message to be redelivered and the e-mail sent",
    )
    assert len(list(sent.iterdir())) == 1

    # The task once more (a duplicate message): nothing more is sent. A marker task after it shows it has run.
    tasks.notification_email.delay(notification.pk)
    marker = Notification.objects.create(
        recipient=world.admin, kind=NotificationKind.PAYOUT_MADE, clinic=world.clinic, object_type="x", object_id=2
    )
    tasks.notification_email.delay(marker.pk)
    second.wait_for(
        lambda: Notification.objects.filter(pk=marker.pk, emailed_at__isnull=False).exists(),
        timeout=60,
        what="the marker's e-mail",
    )
    messages = [path.read_text() for path in sent.iterdir()]
    assert len(messages) == 2
    assert sum(world.biller.email in message for message in messages) == 1
