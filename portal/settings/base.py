"""Settings shared by every environment; each value comes from the environment (see .env.example)."""

import datetime
import os
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from portal.background import QUEUE_DEFAULT, QUEUE_FILES, QUEUE_MAIL, QUEUE_PAYOUTS, QUEUES
from portal.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    # Not "rest_framework": its Swedish catalogue would replace Django's words in the portal's own forms
    # ("Detta fält måste fyllas i."); the API gives its messages in our words (billing/api/problems.py).
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "portal",
    "clinics",
    "agreements",
    "eligibility",
    "claims",
    "payouts",
    "reports",
    "review",
    "billing",
    "notifications",
    "regioninfo",
    "onboarding",
    "privacy",
]

MIDDLEWARE = [
    # First: the request's id (X-Request-ID) for every log line written while it is served, and in the answer.
    "portal.logs.RequestIdMiddleware",
    # Requests by view and status and their durations (portal/metrics.py): the first and the last middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.middleware.LanguageMiddleware",
    "portal.service_windows.ServiceWindowMiddleware",
    "django.middleware.common.CommonMiddleware",
    "portal.middleware.GuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.two_factor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.sessions.SessionLimitsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it sees a locked-out login's response and replaces it with the waiting time (portal.login).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
                "notifications.context_processors.notifications",
            ],
        },
    },
]
# Django's form templates with their fixed includes written out in place: the same markup, a third of the renders
# (portal/form_rendering.py).
FORM_RENDERER = "portal.form_rendering.FormRenderer"

# PostgreSQL only. `make run` / `make test` export DATABASE_URL, starting an embedded server if needed.
DATABASES = {"default": env.db("DATABASE_URL", default="")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
# A kept connection is asked whether it still works before a request uses it (after a database restart).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction pooling (docker-compose.yml): each transaction may get another server connection,
# so no server-side cursor (`.iterator()` would otherwise declare one outside a transaction) and no prepared
# statement outlives its transaction. Code that holds a session-level advisory lock (billing's clinic_check_slot,
# the files queue's worker) must connect to PostgreSQL directly.
if env.bool("DATABASE_TRANSACTION_POOLER", default=False):
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

AUTH_USER_MODEL = "clinics.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A set-password link from an invitation stays valid for three days.
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600
# Sessions end after 30 minutes without a request (the session's age, renewed at most once a minute) and 8 hours
# after logging in whatever the activity (portal.sessions). Pages warn 5 minutes before the idle end.
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_ABSOLUTE_SECONDS = env.int("SESSION_ABSOLUTE_SECONDS", default=8 * 3600)
SESSION_IDLE_WARNING_SECONDS = 5 * 60
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS
# Django's database sessions, read with a query compiled once per process (portal.sessions.SessionStore).
SESSION_ENGINE = "portal.sessions"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Identity (portal.login, portal.two_factor, portal.oidc). Axes first: it refuses a locked-out account+address
# before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Throttled login: after 5 failures for one e-mail address from one IP address, 15 minutes' wait; a failure
# during the wait does not prolong it. A wrong two-factor code counts as a failure too.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Failures are forgotten only when every factor is given (portal.login.login_completed), not at the password:
# otherwise logging in again would reset the count of wrong codes.
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "portal.login.login_locked"
AXES_USERNAME_CALLABLE = "portal.login.axes_username"
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# The client's address: REMOTE_ADDR, unless the portal runs behind this many trusted proxies (the TLS proxy in
# front of gunicorn), which then give it in X-Forwarded-For. Never trust that header from the internet.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# Two-factor authentication (TOTP, RFC 6238): the issuer name the authenticator app shows.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Tandportalen")
# Sessions logged in through these backends count as two-factor verified: the region's identity provider
# (SITHS, BankID, HelseID) has already asked for a strong login.
TWO_FACTOR_BACKENDS = ["portal.oidc.PortalOIDCBackend"]
# Single sign-on through the region's own identity provider (OpenID Connect, mozilla-django-oidc): on when
# OIDC_RP_CLIENT_ID is set. A person is matched by the HSA-id claim (OIDC_HSA_ID_CLAIM) or the e-mail claim
# to a user the portal already knows; nobody is created, and roles are still given in the portal.
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile")
OIDC_HSA_ID_CLAIM = env.str("OIDC_HSA_ID_CLAIM", default="hsa_id")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="SITHS")
OIDC_CREATE_USER = False
OIDC_STORE_ID_TOKEN = False
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
LOGIN_REDIRECT_URL_FAILURE = "/logga-in/?sso=fel"
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
if OIDC_ENABLED:
    AUTHENTICATION_BACKENDS.append("portal.oidc.PortalOIDCBackend")
# Password login can be turned off for an installation whose users all log in through the region's IdP.
PASSWORD_LOGIN_ENABLED = env.bool("PASSWORD_LOGIN_ENABLED", default=True)

LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", _("Svenska")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Stockholm"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = None  # production collects into DJANGO_STATIC_ROOT
WHITENOISE_USE_FINDERS = True  # outside production, serve straight from static/
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploads (attachments, invoice files) live outside the web root and are served only through views
# (portal/storage.py): on the local file system under MEDIA_ROOT, or with TANDPORTAL_FILE_STORAGE=s3 in an
# S3-compatible object store, so that several web and worker machines share them.
MEDIA_ROOT = env.path("TANDPORTAL_MEDIA_ROOT", default=BASE_DIR / "var" / "media")
FILE_STORAGE = env.str("TANDPORTAL_FILE_STORAGE", default="local")
# The audit and access logs, partitioned by month (portal/log_partitions.py): months made ahead by beat, and
# months that ended more than the retention ago archived to files under LOG_ARCHIVE_DIR by `manage.py logs_archive`.
LOG_RETENTION_YEARS = env.int("TANDPORTAL_LOG_RETENTION_YEARS", default=10)
LOG_ARCHIVE_DIR = env.path("TANDPORTAL_LOG_ARCHIVE_DIR", default=BASE_DIR / "var" / "log-archive")
LOG_PARTITIONS_AHEAD = env.int("TANDPORTAL_LOG_PARTITIONS_AHEAD", default=3)
if FILE_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured("TANDPORTAL_FILE_STORAGE must be local or s3")
if FILE_STORAGE == "s3":
    # django-storages' S3 settings. Keys may instead come from the machine's role (boto3's own chain) when empty.
    AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("AWS_STORAGE_BUCKET_NAME must be set when TANDPORTAL_FILE_STORAGE=s3")
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
    AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default="") or None
    AWS_S3_SIGNATURE_VERSION = "s3v4"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tandportal <noreply@tandportal.test>")
# Used in links in e-mails, which are sent from the worker and so have no request to ask.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")
# Webhooks (portal.webhooks) may call http://localhost and loopback addresses: in development and tests only.
# Otherwise an address must be https and resolve to public addresses.
WEBHOOKS_ALLOW_LOCAL = DEBUG

# Content Security Policy: nothing inline, nothing from other hosts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"

# The journal-system API, /api/v1/ (issue 13, billing/api/): keys only, no sessions or cookies (so no CSRF);
# JSON in and out; every error as application/problem+json; calls limited per key.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["billing.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["billing.api.authentication.HasApiKey"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["billing.api.authentication.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("API_RATE_LIMIT", default="600/min")},
    "EXCEPTION_HANDLER": "billing.api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_VERSIONING_CLASS": None,
}
# The API's calls per key are counted in Redis, so the limit holds across every gunicorn worker; without Redis
# (a bare `manage.py runserver`) in the process. Redis stopped: calls go on uncounted (portal/cache.py), each
# waiting at most a second for it. Sessions (the database) and the default cache (each process) never need Redis.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api_throttle": (
        {
            "BACKEND": "portal.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "api",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-throttle"}
    ),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tandportal API",
    "DESCRIPTION": (
        "Journalsystemens API: kontroll av rätt till stöd och regionens taxa. Nyckel: Authorization: Bearer <nyckel>, "
        "skapas under Klinikadministration. Fel som application/problem+json (RFC 9457). Belopp i öre.\n\n"
        "The journal-system API: eligibility checks and the region's tariff. Key: Authorization: Bearer <key>, made "
        "in Klinikadministration. Errors as application/problem+json (RFC 9457). Amounts in öre."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Each resource's states by their own name in the document (several resources have a field `state`).
    "ENUM_NAME_OVERRIDES": {
        "InvoiceFileStateEnum": "claims.models.InvoiceFileState",
        "PriorAssessmentStateEnum": "eligibility.models.PriorAssessmentState",
        "ClaimStateEnum": "claims.models.ClaimState",
    },
}

CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1) if REDIS_URL else ""
# A message a worker took but never acknowledged (the worker was killed mid-task) goes to another worker
# after this many seconds. Longer than the longest task plus its longest retry countdown, or a task still
# running would be started a second time beside it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Separate queues (portal/background.py), so that a large invoice file never delays e-mails or payouts, each
# consumed by workers of its own when the portal scales out (docs/deployment.md). A worker started without
# --queues consumes all four (`make run`'s). A task not named here goes to `default`.
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in QUEUES)
CELERY_TASK_DEFAULT_QUEUE = QUEUE_DEFAULT
CELERY_TASK_ROUTES = (
    "portal.background.route_task",  # every @email_task → mail
    {
        "billing.tasks.check_invoice_file": {"queue": QUEUE_FILES},
        "billing.tasks.send_invoice_file": {"queue": QUEUE_FILES},
        "eligibility.tasks.import_certificates": {"queue": QUEUE_FILES},
        "payouts.tasks.send_payout_notice": {"queue": QUEUE_MAIL},
        "payouts.tasks.make_payout_run": {"queue": QUEUE_PAYOUTS},
        "payouts.tasks.make_payout_preview": {"queue": QUEUE_PAYOUTS},
        "payouts.tasks.*": {"queue": QUEUE_PAYOUTS},
    },
)
CELERY_BEAT_SCHEDULE = {
    # Requests still waiting for more information after their deadline are written off (Avskriven).
    "prior-assessments-write-off": {
        "task": "eligibility.tasks.write_off_overdue_prior_assessments",
        "schedule": crontab(hour=2, minute=15),
    },
    # Claims of payout runs whose payout date has passed (in bank days) become Utbetald; safe to run twice.
    # Every webhook sends what its feed holds, also events a long transaction held back (portal.tasks).
    "webhooks-sweep": {
        "task": "portal.tasks.webhooks_sweep",
        "schedule": crontab(minute="*"),
    },
    # Every clinic's new events become notifications, also those a long transaction held back or a lost nudge.
    "notifications-sweep": {
        "task": "notifications.tasks.notifications_sweep",
        "schedule": crontab(minute="*"),
    },
    # Clinics whose notice (uppsägning) and slutfakturering have ended are closed; catches up missed days.
    # Invoice files stored while the task queue was away get their check queued once it is back.
    "invoice-files-queue-waiting": {
        "task": "billing.tasks.invoice_files_queue_waiting",
        "schedule": crontab(minute="*"),
    },
    "clinics-close-terminated": {
        "task": "clinics.tasks.close_terminated_clinics",
        "schedule": crontab(hour=0, minute=5),
    },
    # The start page's summaries are right without it (reports.models); folding keeps their sums short.
    "reports-claim-month-figures-compact": {
        "task": "reports.tasks.claim_month_figures_compact_task",
        "schedule": crontab(minute="*/15"),
    },
    "payouts-mark-paid": {
        "task": "payouts.tasks.mark_payouts_paid",
        "schedule": crontab(hour=6, minute=5),
    },
    # The logs' partitions for this month and the coming ones (portal.log_partitions); safe to run twice.
    "log-partitions-ensure": {
        "task": "portal.tasks.log_partitions_ensure",
        "schedule": crontab(hour=1, minute=10),
    },
}

# Every line to standard error with the request's id, user and clinic, and never a whole personnummer
# (portal/logs.py); production writes JSON.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")

# Prometheus metrics at /metrics (portal/metrics.py): for a scraper that sends `Authorization: Bearer
# METRICS_TOKEN`, or whose address is in METRICS_ALLOWED_NETWORKS (comma-separated, e.g. 10.0.0.0/8); with
# neither set the endpoint answers 403 to everyone. Never route /metrics through the public proxy.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
# A worker serves its tasks' metrics on this port (0: not at all), on the workers' private network only.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
# With several processes per container (gunicorn's workers, a prefork pool) their metrics meet in this directory,
# which must exist before the first metric is made (as Django starts); gunicorn empties it at start.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
# django-prometheus: no metrics of migrations at start (they would query the database as the process starts).
PROMETHEUS_EXPORT_MIGRATIONS = False
LOGGING = logging_config(level=LOG_LEVEL, json=False)
