from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules

from . import sessions


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Tandportal"

    def ready(self) -> None:
        # Each app's audit.py registers its audit actions (portal.audit); found here, as the admin finds
        # admin.py, so that the core never imports a domain app and every action is known before the first record.
        autodiscover_modules("audit")
        # Each app's metrics.py registers what /metrics reads at a scrape (portal.metrics.scrape_collector); the
        # Celery task signals are connected by importing it.
        autodiscover_modules("metrics")
        sessions.connect()
        # The webhooks listen to the clinic events (portal.events.clinic_events_listen) from the start.
        from .tasks import webhooks_nudge  # noqa: F401
