"""The project's own apps, from Django's app registry: every app whose folder is at the repository's top. The
probes and walks that must reach every app of ours take this list, so a new app is in them the day it is installed."""

from pathlib import Path

from django.apps import AppConfig, apps
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def project_app_configs() -> list[AppConfig]:
    return [config for config in apps.get_app_configs() if Path(config.path).parent == BASE_DIR]


def project_apps() -> list[str]:
    """The apps' package names, in INSTALLED_APPS' order."""
    return [config.name for config in project_app_configs()]


def app_folders() -> set[str]:
    """Every folder at the repository's top that is a Django app (holds apps.py), installed or not."""
    return {path.parent.name for path in BASE_DIR.glob("*/apps.py")}
