import pytest
from django.conf import settings
from django.core.cache import caches
from django.utils import translation


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The per-key call counts live in their own cache: each test starts from none."""
    caches["api_throttle"].clear()
    yield
    caches["api_throttle"].clear()


@pytest.fixture(autouse=True)
def _language_restored():
    """A call with Accept-Language: en (or a page in English) leaves English active in the thread after the
    request: a test here must not hand it to the next test, which may call a service and expect Swedish."""
    with translation.override(settings.LANGUAGE_CODE):
        yield
