"""Rows that all tests of a module start from, made once per module instead of once per test.

The rows are made in a transaction held open across the module's tests (as Django's TestCase.setUpTestData keeps
a class's), and each test runs in a savepoint inside it (pytest-django's `db`), rolled back after it: every test
starts from the same rows, as if it had made them itself, without the queries. Each test gets its own copy of the
objects, so what one changes on them is not seen by the next.

The transaction is rolled back when the module's tests are done, and before any other test runs in this process
(tests/conftest.py: pytest_runtest_setup), whatever the order (pytest-django's, xdist's): a test that does not ask
for the rows never sees them, a transactional test never starts inside the held transaction, and the demo moves
the process to its own database with none held. The module's next test that uses them has them made again first.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Generic, TypeVar

import pytest
from django.db import connection, transaction

T = TypeVar("T")


class Kept(Generic[T]):
    """One module's rows and the transaction holding them, while it is open."""

    held: Kept | None = None  # the one whose transaction is open; at most one in a process
    latest: Kept | None = None  # the latest made, held or not: held again for the next of its module's tests

    def __init__(self, module: pytest.Module, fixture_name: str, build: Callable[..., T], args: tuple, db_blocker):
        self.module, self.fixture_name, self.db_blocker = module, fixture_name, db_blocker
        self.build = functools.partial(build, *args)
        self.finished = False
        self.hold()

    def hold(self) -> None:
        Kept.release_held()
        self.atomic = transaction.atomic()
        # As TestCase's own blocks: a durable block of the code under test may begin inside the test's savepoint.
        self.atomic._from_testcase = True
        with self.db_blocker.unblock():
            # Held beneath the tests' own transactions, never inside one (it would end with that test).
            assert not connection.in_atomic_block, "kept rows are made before the test's transaction begins"
            self.atomic.__enter__()
            Kept.held = Kept.latest = self
            try:
                self.made = self.build()
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        if Kept.held is self:
            Kept.held = None
            with self.db_blocker.unblock():
                transaction.set_rollback(True)
                self.atomic.__exit__(None, None, None)

    def finish(self) -> None:
        self.release()
        self.finished = True

    def fresh(self) -> T:
        """A copy of the rows' objects for one test (or, were they not held, the rows made in the test's own
        transaction)."""
        return copy.deepcopy(self.made) if Kept.held is self else self.build()

    def used_by(self, item: pytest.Item) -> bool:
        return item.getparent(pytest.Module) is self.module and self.fixture_name in item.fixturenames

    @classmethod
    def release_held(cls) -> None:
        if cls.held is not None:
            cls.held.release()

    @classmethod
    def before(cls, item: pytest.Item) -> None:
        """Before `item`'s fixtures: the rows rolled back unless it uses them, and held again (made again) for a test
        of the module that uses them after one that did not."""
        if cls.held is not None and not cls.held.used_by(item):
            cls.held.release()
        if cls.held is None and cls.latest is not None and not cls.latest.finished and cls.latest.used_by(item):
            cls.latest.hold()


def kept(build: Callable[..., T], name: str, *uses: str) -> Callable:
    """A module-scoped fixture `name` whose value's `fresh()` gives each test the objects `build` made (a function
    fixture asking for `db` calls it, so its test runs inside the held transaction). `build` is given the values of
    the fixtures named in `uses`, which must live as long as the module's (the session's `demo_world`)."""

    @pytest.fixture(scope="module", name=name)
    def fixture(request, django_db_setup, django_db_blocker):
        args = tuple(request.getfixturevalue(each) for each in uses)
        made = Kept(request.node, name, build, args, django_db_blocker)
        yield made
        made.finish()

    return fixture
