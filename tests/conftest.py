"""Fixtures shared by all tests: the demo world of regions, clinics and people (loaded only for the tests that
ask for it), a small world built with factories, and real Celery workers."""

import copy
from dataclasses import dataclass

import pytest
from django.core.management.commands import flush as flush_command
from django.db import OperationalError, connection, connections
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test.utils import setup_databases, teardown_databases
from hypothesis import settings as hypothesis_settings

from clinics.models import Clinic, ClinicMembership, Region, User
from notifications import tasks as notifications_tasks
from payouts.models import PayoutRun
from portal import tasks as portal_tasks
from portal.demo import demo_load
from tests import schema_template
from tests.identity import Client
from tests.kept import Kept
from tests.worlds import SmallWorld


@dataclass
class World:
    """The demo data as objects: two regions, clinics 31 and 32 (VG) and 2001 (Dalarna), the demo users."""

    vg: Region
    dalarna: Region
    clinic31: Clinic
    clinic32: Clinic
    clinic2001: Clinic

    @staticmethod
    def user(email: str) -> User:
        return User.objects.get(email=email)

    @property
    def biller(self) -> User:  # clinics 31 and 32
        return self.user("fakturerare@demo.test")

    @property
    def vg_run(self) -> PayoutRun:
        """The paid run of portal/demo/payouts.py (the demo's other runs pay its past months, at one clinic each)."""
        return PayoutRun.objects.filter(region=self.vg, state="paid", payments__clinic=self.clinic32).latest(
            "payout_date"
        )

    @property
    def dalarna_biller(self) -> User:
        return self.user("dalarna@demo.test")

    @property
    def admin31(self) -> User:
        return self.user("admin31@demo.test")

    @property
    def coordinator_vg(self) -> User:
        return self.user("samordnare.vg@demo.test")

    @property
    def coordinator_dalarna(self) -> User:
        return self.user("samordnare.dalarna@demo.test")

    @property
    def region_admin(self) -> User:
        return self.user("regionadmin@demo.test")

    def membership(self, user: User, clinic: Clinic) -> ClinicMembership:
        return ClinicMembership.objects.get(user=user, clinic=clinic)


def _world() -> World:
    # Two queries, not five: the walks ask for the world a thousand times.
    regions = Region.objects.in_bulk(["vg", "dalarna"], field_name="code")
    clinics = {(c.region_id, c.number): c for c in Clinic.objects.filter(number__in=["31", "32", "2001"])}
    vg, dalarna = regions["vg"], regions["dalarna"]
    return World(
        vg=vg,
        dalarna=dalarna,
        clinic31=clinics[(vg.pk, "31")],
        clinic32=clinics[(vg.pk, "32")],
        clinic2001=clinics[(dalarna.pk, "2001")],
    )


# Property tests draw 200 examples each (the profile every run starts with: `make test`, CI, a test run by hand) unless
# they ask for a number of their own. `make test-fast` loads the "fast" profile (--hypothesis-profile=fast): 10 each,
# which still meets a rule broken for a whole class of input; the 200 look for the rare one.
hypothesis_settings.register_profile("default", max_examples=200, deadline=None)
hypothesis_settings.register_profile("fast", max_examples=10, deadline=None)


# Fixtures that make a test slow: it waits for a real worker to start, take tasks and stop.
SLOW_FIXTURES = {"celery_worker"}
# The fixtures through which a test sees the demo; no other test finds it in the database.
DEMO_FIXTURES = {"world", "transactional_world"}


def uses_demo(item) -> bool:
    return bool(DEMO_FIXTURES & set(getattr(item, "fixturenames", ())))


def runs_with_the_demo(item) -> bool:
    """On the demo, or a browser test (most are on the demo; together they start one Chromium)."""
    return uses_demo(item) or item.get_closest_marker("browser") is not None


# Runs after pytest-django's ordering (tryfirst: `db` tests before transactional ones) and before `-m`
# selects by the markers added here.
def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    # The tests on the demo run last, in pytest-django's order among themselves (the sort is stable): the demo
    # is loaded before the first of them (see `demo`), so every other test runs on a database without it and
    # fails if it reads the demo without asking for `world`, whichever tests are selected. A run without
    # them never loads the demo at all.
    items.sort(key=runs_with_the_demo)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Rows a module keeps for its tests (tests/kept.py) are rolled back before any other test runs (it must not see
    them, nor begin inside their transaction), and made again for the next that uses them."""
    Kept.before(item)


# A transactional test empties every table after it (Django's flush). PostgreSQL's TRUNCATE makes new files for
# every table and index, 0.3–3 s per test on a busy machine; DELETE of the few rows a test made takes ~20 ms. With
# session_replication_role = replica neither the foreign keys nor the row triggers (the append-only logs, the
# start page's summaries) fire, as with TRUNCATE, which fires no row trigger; the sequences go on as TRUNCATE
# without RESTART IDENTITY leaves them. Only a superuser may set it: for any other user it stays TRUNCATE.
# The content types and permissions, which only the models make, are kept rather than emptied and made again by
# post_migrate (another 0.6 s a test): they are the same rows the migrated database had.
_truncate = DatabaseOperations.sql_flush
KEPT_BY_FLUSH = {"django_content_type", "auth_permission"}


def _sql_flush_by_delete(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    self.connection.ensure_connection()
    superuser = self.connection.connection.info.parameter_status("is_superuser") == "on"
    self.connection.flush_kept_content_types = not reset_sequences and superuser
    if not self.connection.flush_kept_content_types or not tables:
        return _truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    # Django runs these in one transaction (execute_sql_flush), which SET LOCAL lasts for. One text of ~80
    # statements, sent in one round trip (psycopg sends a query without parameters as it is), not one each.
    return [
        " ".join(
            [
                "SET LOCAL session_replication_role = replica;",
                *(
                    f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};"
                    for table in tables
                    if table not in KEPT_BY_FLUSH
                ),
            ]
        )
    ]


def _post_migrate_unless_kept(verbosity, interactive, db, **kwargs):
    if not getattr(connections[db], "flush_kept_content_types", False):
        _post_migrate(verbosity, interactive, db, **kwargs)


DatabaseOperations.sql_flush = _sql_flush_by_delete

# A browser test's last request (or a task it queued) may still be writing when the flush after it begins: its
# foreign-key checks lock rows the flush deletes, the flush waits on rows it holds, and PostgreSQL ends the deadlock
# by rolling the flush back (seen once in CI: "deadlock detected while deleting tuple in clinics_region"). The
# flush is one transaction, so it is run again, once the other has finished, and empties what that one wrote too.
_execute_sql_flush = DatabaseOperations.execute_sql_flush
FLUSH_ATTEMPTS = 5
DEADLOCK_DETECTED = "40P01"


def _execute_sql_flush_again_after_a_deadlock(self, sql_list):
    for attempt in range(1, FLUSH_ATTEMPTS + 1):
        try:
            return _execute_sql_flush(self, sql_list)
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != DEADLOCK_DETECTED or attempt == FLUSH_ATTEMPTS:
                raise


DatabaseOperations.execute_sql_flush = _execute_sql_flush_again_after_a_deadlock
_post_migrate = flush_command.emit_post_migrate_signal
flush_command.emit_post_migrate_signal = _post_migrate_unless_kept


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """pytest-django's test database, copied from the migrated template when there is one (tests/schema_template.py)
    instead of migrated from nothing; the first process to migrate keeps its database as the template."""
    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        name = connection.creation._get_test_db_name()
        copied = schema_template.copy_into(name)
        # keepdb: a copy is used as it is (migrate finds nothing to do); otherwise the database is made and migrated.
        db_cfg = setup_databases(verbosity=verbosity, interactive=False, keepdb=True, serialized_aliases=set())
        if not copied:
            schema_template.keep_as_template(name)
    yield
    with django_db_blocker.unblock():
        # Back to the settings' database name (keepdb: Django's drop would wait for a checkpoint), then dropped
        # without waiting (schema_template.drop_without_waiting).
        teardown_databases(db_cfg, verbosity=verbosity, keepdb=True)
        schema_template.drop_without_waiting(name)


@pytest.fixture(scope="session")
def demo(django_db_setup, django_db_blocker) -> None:
    """The demo, loaded once and committed. Being session-scoped it is set up before the test's own
    transaction begins; each `world` test's transaction is rolled back, so every one starts from the same
    demo. The transactional tests on the demo, which empty the database after them, run after the `world`
    tests and load the demo themselves.

    The process moves to a database of its own with the demo: a copy of the demo's template when the same demo
    was loaded before on the same day (tests/schema_template.py), so it loads once a day per change of code."""
    with django_db_blocker.unblock():
        name = f"{connection.settings_dict['NAME']}_demo"
        before = schema_template.demo_use(name, demo_load)
    yield
    with django_db_blocker.unblock():
        schema_template.demo_leave(name, before)


@pytest.fixture
def celery_queue():
    """A queue of the test's own on the real Redis broker, where tasks are sent instead of run eagerly: stale
    messages in a shared Redis are never the test's. Yields the queue's name, for a worker to consume."""
    import uuid

    from portal.celery import app

    queue = f"test-{uuid.uuid4().hex}"

    def route(routes) -> None:
        # Celery keeps the router it made first; a new one reads the routes and the default queue again.
        app.conf.task_routes = routes
        app.amqp.flush_routes()
        app.amqp.router = app.amqp.Router()

    previous = app.conf.task_always_eager, app.conf.task_default_queue, app.conf.task_routes
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    route(())  # every task to the test's queue, not to files, payouts or mail
    try:
        yield queue
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous[:2]
        route(previous[2])


@pytest.fixture
def celery_worker(celery_queue):
    """A real Celery worker (a thread) over the real Redis broker, consuming the test's own queue.

    A test that asks for it is marked slow (see pytest_collection_modifyitems)."""
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    with start_worker(app, queues=[celery_queue], pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


@pytest.fixture(autouse=True)
def _no_waiting_rounds_inside_the_tests_transaction(request, monkeypatch):
    """In a test inside a transaction (`db`), the on_commit callbacks that `django_capture_on_commit_callbacks(
    execute=True)` runs are still inside that transaction: the clinic events they fan out are the running
    transaction's own, so the feed holds them back (`waiting`) and no later round can see them. With Celery eager,
    each clinic's dispatch then ran its WAITING_ROUNDS again at once instead of 2 s apart: 16 fan-outs and ~116
    queries per event, and the same for each webhook. Those tests get no waiting round (one round, which sees what
    production's first round sees). Transactional tests, whose events do commit, keep the rounds."""
    marker = request.node.get_closest_marker("django_db")  # django_db(transaction=False, ...)
    transactional = "transactional_db" in request.fixturenames or bool(
        marker and marker.kwargs.get("transaction", marker.args[0] if marker.args else False)
    )
    if transactional or ("db" not in request.fixturenames and marker is None):
        return
    monkeypatch.setattr(notifications_tasks, "WAITING_ROUNDS", 0)
    monkeypatch.setattr(portal_tasks, "WAITING_ROUNDS", 0)


@pytest.fixture
def client() -> Client:
    """pytest-django's `client`, with a cheaper force_login (tests/identity.py)."""
    return Client()


@pytest.fixture(scope="session")
def demo_world(demo, django_db_blocker) -> World:
    """The demo's regions and clinics, read once: the demo is committed before the first `world` test and each
    one's transaction is rolled back, so every one of them starts from these same rows."""
    with django_db_blocker.unblock():
        return _world()


@pytest.fixture
def world(demo_world, db) -> World:
    """The demo, for demo, browser and permission tests; unit and service tests build a `small_world`. Instances
    of the test's own, as read at its start (a copy of `demo_world`: a test may change them), without a query."""
    return copy.deepcopy(demo_world)


@pytest.fixture
def transactional_world(transactional_db) -> World:
    demo_load()
    return _world()


@pytest.fixture
def small_world(db) -> SmallWorld:
    """A world of the test's own, built with the factories as the test touches it (tests/worlds.py)."""
    return SmallWorld()


@pytest.fixture
def transactional_small_world(transactional_db) -> SmallWorld:
    """The small world committed, for tests with threads or a worker; emptied again after the test."""
    return SmallWorld()
