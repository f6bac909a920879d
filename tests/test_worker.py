"""Background work through a real Celery worker and the real Redis broker, not eagerly in the test."""

import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from clinics import services
from portal.celery import app

from .waiting import wait_until


@pytest.fixture
def celery_worker(settings):
    """A worker thread consuming from a queue of its own, so stale messages in a shared Redis are not ours."""
    queue = f"test-{uuid.uuid4().hex}"
    previous = app.conf.task_always_eager, app.conf.task_default_queue
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        with start_worker(app, queues=[queue], pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
            yield worker
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous


def test_invitation_is_sent_by_the_worker_after_commit(transactional_world, celery_worker, mailoutbox):
    services.membership_invite(
        actor=transactional_world.admin31,
        clinic=transactional_world.clinic31,
        name="Via Arbetaren",
        email="arbetare@klinik.test",
        role="biller",
    )

    # The worker thread delivers into the same locmem outbox.
    # (The demo data's own notices may be delivered too; we look for ours.)
    def invitation():
        return next((m for m in mailoutbox if m.to == ["arbetare@klinik.test"]), None)

    wait_until(lambda: invitation() is not None, timeout=20, what="the invitation e-mail")
    assert "/valj-losenord/" in invitation().body
