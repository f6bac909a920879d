"""The transactional tests' flush (tests/conftest.py) is run again when PostgreSQL ends a deadlock by rolling it back,
and any other error stops it at once."""

import psycopg
import pytest
from django.db import OperationalError, connection

from tests import conftest


def _failing(sqlstate: str | None, times: int):
    calls = []

    def execute(ops, sql_list):
        calls.append(sql_list)
        if len(calls) <= times:
            error = OperationalError("deadlock detected" if sqlstate else "gone")
            error.__cause__ = psycopg.errors.lookup(sqlstate)() if sqlstate else psycopg.OperationalError()
            raise error
        return "flushed"

    return execute, calls


def test_a_flush_rolled_back_by_a_deadlock_is_run_again(monkeypatch):
    execute, calls = _failing(conftest.DEADLOCK_DETECTED, times=2)
    monkeypatch.setattr(conftest, "_execute_sql_flush", execute)

    assert connection.ops.execute_sql_flush(["DELETE FROM x;"]) == "flushed"
    assert len(calls) == 3


def test_a_flush_gives_up_after_its_attempts_and_at_once_on_another_error(monkeypatch):
    execute, calls = _failing(conftest.DEADLOCK_DETECTED, times=conftest.FLUSH_ATTEMPTS)
    monkeypatch.setattr(conftest, "_execute_sql_flush", execute)
    with pytest.raises(OperationalError):
        connection.ops.execute_sql_flush(["DELETE FROM x;"])
    assert len(calls) == conftest.FLUSH_ATTEMPTS

    execute, calls = _failing(None, times=1)
    monkeypatch.setattr(conftest, "_execute_sql_flush", execute)
    with pytest.raises(OperationalError):
        connection.ops.execute_sql_flush(["DELETE FROM x;"])
    assert len(calls) == 1
