"""Checks that run before any test: the database and Redis must answer, never silently skipped."""

import pytest


def pytest_sessionstart(session):
    import os

    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        pytest.exit(f"{', '.join(missing)} not set: run the tests with `make test`, which provides them", returncode=3)
    import redis

    try:
        redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3).ping()
    except redis.RedisError as error:
        pytest.exit(f"Redis at REDIS_URL does not answer: {error}", returncode=3)
