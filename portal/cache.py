"""A Redis cache that lets requests through while Redis is away.

Only the API's rate limit is counted in Redis (settings.CACHES["api_throttle"]); sessions and the default cache do
not need it. Without this, every API call would answer 500 while Redis is stopped: with it, each read is a miss and
each write is dropped (logged once a minute), so calls go on, unthrottled, until Redis is back (docs/fault-drills.md).
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

REDIS_AWAY = (RedisConnectionError, RedisTimeoutError)
_WARN_EVERY_SECONDS = 60


class FailOpenRedisCache(RedisCache):
    _warned_at = 0.0

    def _away(self, operation: str) -> None:
        now = time.monotonic()
        if now - FailOpenRedisCache._warned_at >= _WARN_EVERY_SECONDS:
            FailOpenRedisCache._warned_at = now
            logger.warning("Redis cache unreachable (%s); going on without it", operation)

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except REDIS_AWAY:
            self._away("get")
            return default

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set(key, value, timeout, version)
        except REDIS_AWAY:
            self._away("set")
            return None

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except REDIS_AWAY:
            self._away("add")
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except REDIS_AWAY:
            self._away("delete")
            return False
