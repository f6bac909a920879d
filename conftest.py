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


# Python's cycle collector with its defaults (700, 10, 10) ran ~1 500 times in 411 tests and scanned the ~1 M objects
# of Django, the portal and the collected tests again at every full collection: 2.3 s of 30 s of CPU. They live as
# long as the run, so they are set aside once collected (gc.freeze), and the young generation is collected after
# 50 000 new objects instead of 700 (0.6 s; a test's objects are nearly all freed by reference counting). The web
# workers do the same (deploy/gunicorn.conf.py).
GC_THRESHOLDS = (50_000, 20, 100)


def pytest_collection_finish(session):
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
