"""/healthz (alive: the process answers, nothing else asked) and /readyz (ready: the database, Redis and every
migration applied), for process supervisors, load balancers and monitoring, without login."""

import contextlib

import pytest
from django.db import OperationalError
from django.test.utils import CaptureQueriesContext

from portal import views

HEALTHZ = "/healthz"
READYZ = "/readyz"


@contextlib.contextmanager
def _database_down(monkeypatch):
    """Every new cursor on the portal's connection fails, as when PostgreSQL is unreachable.

    Scoped to the request: the test database's own teardown needs a working connection.
    """

    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server")

    with monkeypatch.context() as patch:
        patch.setattr("portal.views.connection.cursor", refuse)
        patch.setattr(views, "_migrations_applied", False)
        yield


@pytest.fixture
def migrations_unknown(monkeypatch):
    """Each test reads the migration graph itself, not a result an earlier test left in the process."""
    monkeypatch.setattr(views, "_migrations_applied", False)


# --- /healthz: alive --------------------------------------------------------------------------------------


def test_healthz_says_ok_without_asking_the_database_or_redis(client, db, settings, monkeypatch):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    with _database_down(monkeypatch), CaptureQueriesContext(views.connection) as queries:
        response = client.get(HEALTHZ)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0


def test_healthz_needs_no_login(client, db):
    # The anonymous test client gets the answer itself, not a redirect to the login page.
    response = client.get(HEALTHZ, follow=False)

    assert response.status_code == 200
    assert "Location" not in response


@pytest.mark.parametrize("path", [HEALTHZ, READYZ])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_health_pages_only_answer_get(client, db, path, method):
    assert getattr(client, method)(path).status_code == 405


# --- /readyz: ready -----------------------------------------------------------------------------------------


def test_readyz_reports_ok_when_database_redis_and_migrations_are_there(client, db, migrations_unknown):
    response = client.get(READYZ, follow=False)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "migrations": "ok"}


def test_readyz_reads_the_migration_graph_until_it_is_applied_then_no_more(client, db, migrations_unknown):
    with CaptureQueriesContext(views.connection) as first:
        client.get(READYZ)
    with CaptureQueriesContext(views.connection) as second:
        assert client.get(READYZ).json()["migrations"] == "ok"

    assert any("django_migrations" in query["sql"] for query in first.captured_queries)
    assert not any("django_migrations" in query["sql"] for query in second.captured_queries)


def test_readyz_reports_redis_down(client, db, settings, migrations_unknown):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"

    response = client.get(READYZ)

    assert response.status_code == 503
    assert response.json() == {"status": "fel", "database": "ok", "redis": "nere", "migrations": "ok"}


def test_readyz_reports_database_down(client, db, monkeypatch, migrations_unknown):
    with _database_down(monkeypatch):
        response = client.get(READYZ)

    assert response.status_code == 503
    assert response.json() == {"status": "fel", "database": "nere", "redis": "ok", "migrations": "nere"}


def test_readyz_reports_both_down(client, db, settings, monkeypatch, migrations_unknown):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    with _database_down(monkeypatch):
        response = client.get(READYZ)

    assert response.status_code == 503
    assert response.json() == {"status": "fel", "database": "nere", "redis": "nere", "migrations": "nere"}


def test_readyz_reports_a_migration_not_applied(client, db, migrations_unknown):
    # As when a new release starts before its migrate step: the newest migration of an app is not recorded.
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(views.connection)
    newest = recorder.migration_qs.filter(app="portal").order_by("-id").first()
    newest.delete()

    response = client.get(READYZ)

    assert response.status_code == 503
    assert response.json() == {"status": "fel", "database": "ok", "redis": "ok", "migrations": "saknas"}
    assert views._migrations_applied is False  # asked again at the next probe, until the migration is there
