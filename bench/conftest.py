"""The suite's fixtures (its test database copied from the template, the demo world, the test client) for the
benchmarks pytest runs (page_render.py, register_page.py): pytest reads tests/conftest.py only for tests/."""

from tests.conftest import (  # noqa: F401
    _no_waiting_rounds_inside_the_tests_transaction,
    client,
    demo,
    demo_world,
    django_db_setup,
    world,
)
