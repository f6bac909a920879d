"""Settings for `make run` on a developer's machine."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
WEBHOOKS_ALLOW_LOCAL = DEBUG
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-development-only-not-secret")
