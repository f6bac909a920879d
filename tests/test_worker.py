"""Background work through a real Celery worker and the real Redis broker, not eagerly in the test."""

from clinics import services

from .waiting import wait_until


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
