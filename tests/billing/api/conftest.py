import pytest
from django.core.cache import caches


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The per-key call counts live in their own cache: each test starts from none."""
    caches["api_throttle"].clear()
    yield
    caches["api_throttle"].clear()
