"""The database away (a restart, a failover): every request answers 503 with Retry-After, a Swedish page or under
/api/ a JSON problem, instead of the 500 "tekniskt fel"; other errors are still 500s. The real restart under
load is the drill in bench/drills.py (docs/fault-drills.md)."""

import contextlib
import json

import pytest
from django.db import InterfaceError, OperationalError, connections
from django.test import Client
from django.urls import reverse

from portal.middleware import DATABASE_RETRY_AFTER_SECONDS, database_down


@contextlib.contextmanager
def _every_query_fails(monkeypatch, error: Exception):
    """Every new cursor on the portal's connection fails, as while PostgreSQL restarts; only for the request (the
    test database's teardown needs the connection)."""

    def refuse(*args, **kwargs):
        raise error

    with monkeypatch.context() as patch:
        patch.setattr(connections["default"], "cursor", refuse)
        yield


@pytest.fixture
def biller(world):
    client = Client(raise_request_exception=False)
    client.force_login(world.biller)
    return client


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("the database system is shutting down"),
        InterfaceError("connection already closed"),
    ],
)
def test_a_page_answers_503_in_swedish_with_retry_after_while_the_database_is_away(biller, world, monkeypatch, error):
    url = reverse("invoice_list", kwargs={"clinic_pk": world.clinic31.pk})
    with _every_query_fails(monkeypatch, error):
        response = biller.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    page = response.content.decode()
    assert "Tandportalen är tillfälligt otillgänglig" in page
    assert "sparas bara en gång" in page
    assert biller.get(url).status_code == 200  # and back by itself


def test_a_form_posted_while_the_database_is_away_answers_503(biller, world, monkeypatch):
    url = reverse("claim_register", kwargs={"clinic_pk": world.clinic31.pk})
    with _every_query_fails(monkeypatch, OperationalError("server closed the connection unexpectedly")):
        response = biller.post(url, {"action": "search", "personal_identity_number": "200001012384"})
    assert response.status_code == 503


def test_the_api_answers_a_json_problem(db, monkeypatch):
    client = Client(raise_request_exception=False)
    with _every_query_fails(monkeypatch, OperationalError("could not connect to server: Connection refused")):
        response = client.get("/api/v1/tariffs/current", HTTP_AUTHORIZATION="Bearer tandportal-demo-31")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    problem = json.loads(response.content)
    assert problem["status"] == 503
    assert problem["type"].endswith("/unavailable")
    assert problem["title"] == "Tjänsten är tillfälligt otillgänglig"


def test_any_other_error_is_still_a_500(biller, world, monkeypatch):
    url = reverse("invoice_list", kwargs={"clinic_pk": world.clinic31.pk})
    with _every_query_fails(monkeypatch, RuntimeError("a bug")):
        response = biller.get(url)
    assert response.status_code == 500
    assert "Retry-After" not in response


def test_an_error_raised_from_the_database_error_counts_too():
    try:
        try:
            raise OperationalError("terminating connection due to administrator command")
        except OperationalError as cause:
            raise ValueError("wrapped") from cause
    except ValueError as wrapped:
        assert database_down(wrapped)
    assert not database_down(ValueError("no"))
    assert not database_down(None)
