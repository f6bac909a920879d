"""One place that turns REDIS_URL into a client."""

import redis
from django.conf import settings


def redis_client(**options) -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, **options)
