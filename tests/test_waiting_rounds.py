"""The dispatches' waiting rounds in the tests (tests/conftest.py): none inside a test's transaction, where the events
fanned out by captured on_commit callbacks can never be seen, and production's rounds for the transactional tests."""

import pytest

from notifications import tasks as notifications_tasks
from portal import tasks as portal_tasks

ROUNDS = (notifications_tasks.WAITING_ROUNDS, portal_tasks.WAITING_ROUNDS)  # as written, read before any fixture


def test_a_test_inside_a_transaction_runs_no_waiting_round(db):
    assert (notifications_tasks.WAITING_ROUNDS, portal_tasks.WAITING_ROUNDS) == (0, 0)


def test_a_transactional_test_keeps_the_rounds_of_production(transactional_db):
    assert (notifications_tasks.WAITING_ROUNDS, portal_tasks.WAITING_ROUNDS) == ROUNDS
    assert min(ROUNDS) > 0


@pytest.mark.django_db
def test_a_test_marked_for_the_database_runs_no_waiting_round_either():
    assert (notifications_tasks.WAITING_ROUNDS, portal_tasks.WAITING_ROUNDS) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_test_marked_transactional_keeps_them_though_a_fixture_asks_for_db(db):
    assert (notifications_tasks.WAITING_ROUNDS, portal_tasks.WAITING_ROUNDS) == ROUNDS


def test_a_test_without_the_database_keeps_them_too():
    assert (notifications_tasks.WAITING_ROUNDS, portal_tasks.WAITING_ROUNDS) == ROUNDS
