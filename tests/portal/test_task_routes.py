"""Each Celery task goes to its queue (settings.CELERY_TASK_ROUTES), so that a large invoice file never delays an
e-mail or a payout, and every worker `make run` and docker-compose.yml start together consume every queue."""

import functools
import smtplib
from pathlib import Path

import pytest
import yaml

from portal.background import QUEUES
from portal.celery import app

ROOT = Path(__file__).resolve().parent.parent.parent

ROUTES = {
    "billing.tasks.check_invoice_file": "files",
    "billing.tasks.send_invoice_file": "files",
    "billing.tasks.invoice_files_queue_waiting": "default",
    "eligibility.tasks.import_certificates": "files",
    "payouts.tasks.make_payout_run": "payouts",
    "payouts.tasks.make_payout_preview": "payouts",
    "payouts.tasks.mark_payouts_paid": "payouts",
    "payouts.tasks.send_payout_notice": "mail",
    "clinics.tasks.send_account_change_notice": "mail",
    "clinics.tasks.send_clinic_invitation": "mail",
    "clinics.tasks.send_invitation": "mail",
    "eligibility.tasks.send_prior_assessment_notice": "mail",
    "notifications.tasks.notification_email": "mail",
    "onboarding.tasks.send_application_confirmation": "mail",
    "onboarding.tasks.send_application_rejection": "mail",
    "onboarding.tasks.send_application_to_region": "mail",
    "clinics.tasks.close_terminated_clinics": "default",
    "clinics.tasks.send_region_invitation": "mail",
    "eligibility.tasks.write_off_overdue_prior_assessments": "default",
    "notifications.tasks.notifications_dispatch": "default",
    "notifications.tasks.notifications_sweep": "default",
    "portal.tasks.log_partitions_ensure": "default",
    "portal.tasks.webhook_deliver": "default",
    "portal.tasks.webhook_dispatch": "default",
    "portal.tasks.webhook_resume": "default",
    "portal.tasks.webhooks_sweep": "default",
    "reports.tasks.claim_month_figures_compact_task": "default",
}


@functools.cache
def _task_modules_imported() -> None:
    """The apps' tasks modules, imported as the worker does at start, once: Celery's import signal also runs Django's
    system checks each time, and a second import finds every module imported already."""
    app.loader.import_default_modules()


def portal_tasks() -> dict:
    _task_modules_imported()
    # Tasks a test module defines for itself (tests.portal.test_logs) are registered once that module is imported.
    return {name: task for name, task in app.tasks.items() if not name.startswith(("celery.", "tests."))}


def queue_of(name: str) -> str:
    """The queue a task sent by apply_async goes to, through the app's own router."""
    task = portal_tasks()[name]
    return app.amqp.router.route({}, name, task_type=task)["queue"].name


@pytest.mark.parametrize(("name", "queue"), sorted(ROUTES.items()))
def test_each_task_goes_to_its_queue(name, queue):
    assert queue_of(name) == queue


def test_every_task_is_routed_here_so_a_new_one_chooses_its_queue():
    # A task added without a line in ROUTES fails here: say which queue it belongs to (portal/background.py).
    assert sorted(set(portal_tasks()) - set(ROUTES)) == []


def test_every_task_that_sends_mail_goes_to_the_mail_queue_and_no_other_does():
    for name, task in portal_tasks().items():
        mails = smtplib.SMTPException in tuple(getattr(task, "autoretry_for", ()) or ())
        assert (queue_of(name) == "mail") == mails, name


def test_a_payout_task_not_named_in_the_settings_still_goes_to_payouts():
    assert app.amqp.router.route({}, "payouts.tasks.some_future_task")["queue"].name == "payouts"
    assert app.amqp.router.route({}, "somewhere.tasks.unknown")["queue"].name == "default"


def test_beat_entries_go_through_the_same_routes():
    for entry in app.conf.beat_schedule.values():
        assert queue_of(entry["task"]) == ROUTES[entry["task"]]


def test_the_queues_are_declared_so_a_worker_without_queues_consumes_all():
    assert [queue.name for queue in app.conf.task_queues] == list(QUEUES)
    assert set(QUEUES) == {"default", "files", "payouts", "mail"}
    assert app.conf.task_default_queue == "default"


def test_the_compose_workers_together_consume_every_queue_and_files_have_their_own():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    consumed = {}
    for name, service in services.items():
        command = service.get("command")
        if isinstance(command, list) and command[:4] == ["celery", "-A", "portal", "worker"]:
            consumed[name] = set(command[command.index("--queues") + 1].split(","))
    assert set().union(*consumed.values()) == set(QUEUES)
    # The files' worker takes nothing else, and no other worker takes files: a large file waits only for files.
    assert [queues for queues in consumed.values() if "files" in queues] == [{"files"}]
