"""/healthz: for load balancers and monitoring, says which of the database and Redis is down, without login."""

import contextlib

import pytest
from django.db import OperationalError

HEALTHZ = "/healthz"


@contextlib.contextmanager
def _database_down(monkeypatch):
    """Every new cursor on the portal's connection fails, as when PostgreSQL is unreachable.

    Scoped to the request: the test database's own teardown needs a working connection.
    """

    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server")

    with monkeypatch.context() as patch:
        patch.setattr("portal.views.connection.cursor", refuse)
        yield


def test_healthz_reports_ok_when_database_and_redis_answer(client, db):
    response = client.get(HEALTHZ)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_needs_no_login(client, db):
    # The anonymous test client gets the answer itself, not a redirect to the login page.
    response = client.get(HEALTHZ, follow=False)

    assert response.status_code == 200
    assert "Location" not in response


def test_healthz_reports_redis_down(client, db, settings):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"

    response = client.get(HEALTHZ)

    assert response.status_code == 503
    assert response.json() == {"status": "fel", "database": "ok", "redis": "nere"}


def test_healthz_reports_database_down(client, db, monkeypatch):
    with _database_down(monkeypatch):
        response = client.get(HEALTHZ)

    assert response.status_code == 503
    assert response.json() == {"status": "fel", "database": "nere", "redis": "ok"}


def test_healthz_reports_both_down(client, db, settings, monkeypatch):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    with _database_down(monkeypatch):
        response = client.get(HEALTHZ)

    assert response.status_code == 503
    assert response.json() == {"status": "fel", "database": "nere", "redis": "nere"}


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_healthz_only_answers_get(client, db, method):
    assert getattr(client, method)(HEALTHZ).status_code == 405
