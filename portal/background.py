"""What the pages that wait for background work share: when to stop waiting for a task that lost its worker."""

import datetime

from django.conf import settings
from django.utils import timezone


def stalled_before() -> datetime.datetime:
    """Background work whose last sign of life is older than this has lost its worker for good.

    After the broker's visibility timeout another worker takes an unacknowledged task again; twice that, and
    still nothing moved, no worker is coming.
    """
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return timezone.now() - datetime.timedelta(seconds=2 * timeout)
