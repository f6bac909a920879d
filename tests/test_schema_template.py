"""The test databases' helpers (tests/schema_template.py) that the run's own end depends on."""

import pytest
from django.db import connection

from tests import schema_template
from tests.waiting import wait_until


def _exists(name: str) -> bool:
    with connection._nodb_cursor() as cursor:
        return schema_template._exists(cursor, name)


@pytest.mark.slow  # makes a database and waits for its drop, which waits for a checkpoint of the server (seconds)
def test_a_database_dropped_without_waiting_is_gone_soon_after_and_the_process_goes_on(django_db_blocker):
    name = f"{connection.settings_dict['NAME']}_dropped"
    with django_db_blocker.unblock():
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {schema_template._quoted(name)}")
            cursor.execute(f"CREATE DATABASE {schema_template._quoted(name)} TEMPLATE template0")

        schema_template.drop_without_waiting(name)

        assert schema_template._SENT[-1].pgconn.flush() == 0  # sent whole, its result not read
        wait_until(lambda: not _exists(name), timeout=60, what=f"{name} dropped")
        assert connection.cursor().execute("SELECT 1").fetchone() == (1,)  # the process's own database still serves
