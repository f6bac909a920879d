import pytest
from django.core.cache import caches
from django.utils import translation


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The per-key call counts live in their own cache: each test starts from none."""
    caches["api_throttle"].clear()
    yield
    caches["api_throttle"].clear()


@pytest.fixture(autouse=True)
def _back_to_swedish():
    # ApiView activates the caller's language (Accept-Language: en) in this thread, and no middleware turns it back
    # for code that runs outside a request: leave none behind for the next test in this worker.
    yield
    translation.deactivate()
