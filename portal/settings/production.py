"""Production settings: refuse to start without the secrets and hosts a real deployment needs."""

from django.core.exceptions import ImproperlyConfigured

from portal.logs import logging_config

from .base import *  # noqa: F403
from .base import DATABASES, LOG_LEVEL, REDIS_URL, SECRET_KEY, env

for name, value in (
    ("DJANGO_SECRET_KEY", SECRET_KEY),
    ("DATABASE_URL", DATABASES["default"].get("NAME")),
    ("DJANGO_ALLOWED_HOSTS", env.list("DJANGO_ALLOWED_HOSTS", default=[])),
    ("REDIS_URL", REDIS_URL),
):
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 random characters")

DEBUG = False
# A connection per request costs ~8 ms: keep it for a minute (checked before reuse, CONN_HEALTH_CHECKS in base).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[f"https://{h}" for h in ALLOWED_HOSTS])

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Probes and the scraper reach each server directly on the private network, over plain HTTP: not redirected.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")  # noqa: F405

# One JSON object a line on standard error, for the log collector: time, level, logger, message, and the request's
# request_id, user_id, clinic_id (a worker's: task_name, task_id); a personnummer masked (portal/logs.py). The
# worker keeps this configuration instead of Celery's own.
LOGGING = logging_config(level=LOG_LEVEL, json=True)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
