"""manage.py end_service_window: open the portal again before a running window's planned end."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.models import ServiceWindow
from portal.service_windows import service_window_end_now


class Command(BaseCommand):
    help = "End the service window that is running now (the pages are closed while it runs)."

    def handle(self, *args, **options):
        now = timezone.now()
        window = ServiceWindow.objects.filter(starts_at__lte=now, ends_at__gt=now).first()
        if window is None:
            raise CommandError("Inget servicefönster pågår.")
        service_window_end_now(window=window)
        self.stdout.write(f"Servicefönstret {window} är avslutat.")
