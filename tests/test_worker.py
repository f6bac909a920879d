"""Background work through a real Celery worker and the real Redis broker, not eagerly in the test."""

from clinics import services

from .waiting import wait_until


def test_invitation_is_sent_by_the_worker_after_commit(transactional_small_world, celery_worker, mailoutbox):
    world = transactional_small_world
    services.membership_invite(
        actor=world.admin,
        clinic=world.clinic,
        name="Via Arbetaren",
        email="arbetare@klinik.test",
        role="biller",
    )

    # The worker thread delivers into the same locmem outbox.
    def invitation():
        return next((m for m in mailoutbox if m.to == ["arbetare@klinik.test"]), None)

    wait_until(lambda: invitation() is not None, timeout=20, what="the invitation e-mail")
    assert "/valj-losenord/" in invitation().body
