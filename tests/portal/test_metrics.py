"""/metrics (portal/metrics.py): Prometheus' text for a scraper with the token or from an allowed network, 403 for
anyone else; requests by view and status, task durations and failures, queue lengths, invoice-file and payout-run
progress."""

import pytest
from django.core.files.base import ContentFile
from prometheus_client.parser import text_string_to_metric_families

from claims.models import InvoiceFileState, InvoiceFileUpload
from portal.redis import redis_client

TOKEN = "s3cret-scraper-token-0123456789"


@pytest.fixture
def scraper(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


def samples(response) -> dict:
    """{(name, frozenset(labels)): value} of a /metrics answer."""
    assert response.status_code == 200, response.content[:200]
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0)


def test_metrics_are_closed_without_a_token_or_network(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_metrics_refuse_a_wrong_token_and_a_signed_in_person(client, small_world, scraper):
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    client.force_login(small_world.coordinator)
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", **scraper).status_code == 200
    assert client.post("/metrics").status_code == 403
    assert client.post("/metrics", **scraper).status_code == 405


def test_metrics_answer_an_allowed_network_without_a_token(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403


def test_requests_are_counted_by_view_and_status_with_durations(client, db, scraper):
    before = samples(client.get("/metrics", **scraper))
    client.get("/logga-in/")
    client.get("/finns-inte/")
    after = samples(client.get("/metrics", **scraper))

    name = "django_http_responses_total_by_status_view_method_total"
    assert (
        value(after, name, status="200", view="login", method="GET")
        == value(before, name, status="200", view="login", method="GET") + 1
    )
    assert value(after, name, status="404", view="<unnamed view>", method="GET") >= 1
    latency = "django_http_requests_latency_seconds_by_view_method_count"
    assert value(after, latency, view="login", method="GET") == value(before, latency, view="login", method="GET") + 1


def test_task_durations_and_failures_are_counted(client, db, scraper):
    from celery import shared_task

    @shared_task(name="tests.portal.test_metrics.works")
    def works():
        return 1

    @shared_task(name="tests.portal.test_metrics.fails")
    def fails():
        raise RuntimeError("boom")

    before = samples(client.get("/metrics", **scraper))
    works.apply()
    with pytest.raises(RuntimeError):  # the tests' eager tasks raise what the task raised
        fails.apply()
    after = samples(client.get("/metrics", **scraper))

    count = "tandportal_task_duration_seconds_count"
    labels = {"task": "tests.portal.test_metrics.works", "queue": "eager", "outcome": "success"}
    assert value(after, count, **labels) == value(before, count, **labels) + 1
    failed = {"task": "tests.portal.test_metrics.fails", "queue": "eager", "outcome": "failure"}
    assert value(after, count, **failed) == value(before, count, **failed) + 1
    failures = "tandportal_task_failures_total"
    assert (
        value(after, failures, task="tests.portal.test_metrics.fails")
        == value(before, failures, task="tests.portal.test_metrics.fails") + 1
    )


def test_queue_lengths_are_read_from_redis(client, db, scraper, settings):
    redis = redis_client()
    queue = "files"
    redis.delete(queue)
    try:
        redis.rpush(queue, "a", "b", "c")
        found = samples(client.get("/metrics", **scraper))
    finally:
        redis.delete(queue)
    assert value(found, "tandportal_queue_length", queue="files") == 3
    assert {"default", "payouts", "mail"} <= {
        dict(labels)["queue"] for name, labels in found if name == "tandportal_queue_length"
    }


def test_invoice_file_and_payout_run_progress(client, small_world, scraper):
    for state, claims, processed in ((InvoiceFileState.RUNNING, 1000, 400), (InvoiceFileState.QUEUED, 50, 0)):
        upload = InvoiceFileUpload(
            clinic=small_world.clinic,
            uploaded_by=small_world.biller,
            original_name="fil.xml",
            sha256="0" * 64,
            state=state,
            claim_count=claims,
            processed_count=processed,
        )
        upload.file.save("fil.xml", ContentFile(b"<x/>"), save=False)
        upload.save()

    found = samples(client.get("/metrics", **scraper))

    assert value(found, "tandportal_invoice_files", state="running") == 1
    assert value(found, "tandportal_invoice_files", state="queued") == 1
    assert value(found, "tandportal_invoice_files", state="sending") == 0
    assert value(found, "tandportal_invoice_file_claims", count="total") == 1000
    assert value(found, "tandportal_invoice_file_claims", count="checked") == 400
    assert ("tandportal_payout_runs", frozenset({("state", "planned")})) in found
    assert ("tandportal_payout_runs_file_not_downloaded", frozenset()) in found


@pytest.mark.slow  # production Python processes (tests/test_deployment.py's run_python): make test and CI run it
def test_production_lets_probes_and_the_scraper_ask_over_plain_http():
    import json

    from tests.test_deployment import run_python, valid_production_env

    code = (
        "import django, json, re\ndjango.setup()\nfrom django.conf import settings\n"
        "print(json.dumps([p for p in ('healthz', 'readyz', 'metrics', 'logga-in/', 'metricsx') "
        "if any(re.search(e, p) for e in settings.SECURE_REDIRECT_EXEMPT)]))"
    )
    result = run_python(code, valid_production_env())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["healthz", "readyz", "metrics"]
