from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Aviseringar"

    def ready(self) -> None:
        # The fan-out listens to the clinic events (portal.events.clinic_events_listen) from the start, in the web
        # process (which writes the events) as in the worker.
        from .tasks import notifications_nudge  # noqa: F401
