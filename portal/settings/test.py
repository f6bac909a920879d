"""Settings for the test suite (`make test`)."""

import os

from .base import *  # noqa: F403

SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
# Argon2 is for real passwords; tests hash many and need not be slow.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405

# One test database per pytest process, so that several runs on one server never collide.
DATABASES["default"]["TEST"] = {"NAME": f"test_tandportal_{os.getpid()}"}  # noqa: F405

# The webhook tests receive on a server of their own on 127.0.0.1 (tests/clinics/test_webhooks.py).
WEBHOOKS_ALLOW_LOCAL = True

# Tasks run in the test's own process unless a test starts a real worker (tests/test_worker.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

# A test's commits need not wait for the disk: nothing here must survive a crash of the server, and the tests that
# commit (the demo, threads, real workers) run faster for it.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"  # noqa: F405

# force_login counts as every factor given (tests/identity.py); the login form still asks for the code.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "tests.identity.AllFactorsBackend",
    "django.contrib.auth.backends.ModelBackend",
]
TWO_FACTOR_BACKENDS = [*TWO_FACTOR_BACKENDS, "tests.identity.AllFactorsBackend"]  # noqa: F405

# Each test process counts the API's calls per key itself (tests/billing/api/conftest.py empties it per test).
CACHES = {**CACHES, "api_throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}  # noqa: F405

# WhiteNoise scans every static file through the finders each time a middleware chain is made, and the test client
# makes one per test (1.5 ms of CPU each); looking a file up when it is asked for serves the same files.
WHITENOISE_AUTOREFRESH = True
