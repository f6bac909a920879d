"""Tandportal's project package: settings, URLs, the Celery app and what all apps share."""

from .celery import app as celery_app

__all__ = ["celery_app"]
