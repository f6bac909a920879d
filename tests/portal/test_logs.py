"""Production's logs (portal/logs.py): one JSON object a line with the request's id, user and clinic, the id echoed
in X-Request-ID, and never a whole personnummer, whatever code logs or raises."""

import io
import json
import logging
import logging.config

import pytest

from portal.logs import REQUEST_ID_HEADER, logging_config
from tests.testdata import TEST_PERSONNUMMER

PERSONNUMMER = TEST_PERSONNUMMER[0]  # 200001012384
DASHED = f"{PERSONNUMMER[:8]}-{PERSONNUMMER[8:]}"


@pytest.fixture
def json_log():
    """The production logging configuration, writing into a buffer; the test's own configuration afterwards."""
    stream = io.StringIO()
    config = logging_config(level="INFO", json=True)
    config["handlers"]["console"]["stream"] = stream
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logging.config.dictConfig(config)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_answer_has_a_request_id_and_a_sensible_one_given_is_kept(client, db):
    made = client.get("/logga-in/")
    assert len(made[REQUEST_ID_HEADER]) == 32
    assert client.get("/logga-in/")[REQUEST_ID_HEADER] != made[REQUEST_ID_HEADER]
    given = client.get("/logga-in/", HTTP_X_REQUEST_ID="proxy-7f3a.1")
    assert given[REQUEST_ID_HEADER] == "proxy-7f3a.1"
    hostile = client.get("/logga-in/", HTTP_X_REQUEST_ID='x" level="CRITICAL')
    assert len(hostile[REQUEST_ID_HEADER]) == 32 and "CRITICAL" not in hostile[REQUEST_ID_HEADER]


@pytest.mark.urls("tests.portal.log_urls")
def test_a_log_line_is_json_with_request_id_user_and_clinic_and_no_personnummer(client, small_world, json_log):
    client.force_login(small_world.biller)

    response = client.post(
        f"/test-logg/klinik/{small_world.clinic.pk}/",
        {"personnummer": PERSONNUMMER, "med_streck": DASHED},
        HTTP_X_REQUEST_ID="support-case-1",
    )

    assert response.status_code == 200
    output = json_log.getvalue()
    assert PERSONNUMMER not in output and DASHED not in output and PERSONNUMMER[2:] not in output
    (line,) = [line for line in lines(json_log) if line["logger"] == "tandportal.test"]
    assert line["level"] == "WARNING"
    assert line["message"].startswith(f"sökte {PERSONNUMMER[:8]}-****")
    assert line["request_id"] == "support-case-1" == response[REQUEST_ID_HEADER]
    assert line["user_id"] == small_world.biller.pk
    assert line["clinic_id"] == small_world.clinic.pk
    assert line["region_id"] == small_world.clinic.region_id
    assert line["time"]


@pytest.mark.urls("tests.portal.log_urls")
def test_a_failing_request_logs_its_traceback_without_the_personnummer_it_was_sent(client, small_world, json_log):
    client.force_login(small_world.biller)
    client.raise_request_exception = False

    response = client.post(f"/test-fel/klinik/{small_world.clinic.pk}/", {"personnummer": PERSONNUMMER})

    assert response.status_code == 500
    output = json_log.getvalue()
    assert "ingen patient" in output and "Traceback" in output  # the failure is logged, with its traceback...
    assert PERSONNUMMER not in output  # ...and the number is not
    (line,) = [line for line in lines(json_log) if line["logger"] == "django.request"]
    assert line["request_id"] == response[REQUEST_ID_HEADER]
    assert line["clinic_id"] == small_world.clinic.pk


def test_a_real_search_for_a_person_logs_no_personnummer(client, small_world, json_log):
    """Sök person, the page every personnummer passes through, at the most talkative level the portal logs."""
    from django.urls import reverse

    logging.getLogger().setLevel(logging.DEBUG)
    client.force_login(small_world.biller)
    url = reverse("person_search", kwargs={"clinic_pk": small_world.clinic.pk})
    client.post(url, {"personal_identity_number": PERSONNUMMER})
    client.post(url, {"personal_identity_number": "not a number " + PERSONNUMMER[:6]})

    assert PERSONNUMMER not in json_log.getvalue()


def test_a_worker_line_names_its_task(json_log, settings):
    from celery import shared_task

    @shared_task(name="tests.portal.test_logs.talk")
    def talk():
        logging.getLogger("tandportal.test").info("i uppgiften")

    talk.apply()

    (line,) = [line for line in lines(json_log) if line["logger"] == "tandportal.test"]
    assert line["task_name"] == "tests.portal.test_logs.talk" and line["task_id"]
    assert "request_id" not in line


@pytest.mark.slow  # production Python processes (tests/test_deployment.py's run_python): make test and CI run it
def test_production_settings_log_json_and_keep_it_in_the_worker():
    from tests.test_deployment import run_python, valid_production_env

    result = run_python(
        "import django, json\ndjango.setup()\nfrom django.conf import settings\n"
        "print(json.dumps([settings.LOGGING['formatters']['portal']['()'].__name__, "
        "settings.CELERY_WORKER_HIJACK_ROOT_LOGGER, settings.MIDDLEWARE[0]]))\n",
        valid_production_env(),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["PersonnummerMaskingJsonFormatter", False, "portal.logs.RequestIdMiddleware"]
