"""manage.py end_service_window: open the pages again before a running window's planned end (the pages have
*Avsluta nu* too; this is for when the web is not at hand). Of a weekly series only the running occurrence ends."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.service_windows import service_window_end_now, service_window_occurrences


class Command(BaseCommand):
    help = "End the service windows that are running now (a region's with --region CODE only)."

    def add_arguments(self, parser):
        parser.add_argument("--region", help="Only this region's windows (its code); without it every running one.")

    def handle(self, *args, region=None, **options):
        now = timezone.now()
        running = [
            occurrence
            for occurrence in service_window_occurrences(now)
            if occurrence.running(now) and (region is None or getattr(occurrence.region, "code", None) == region)
        ]
        if not running:
            raise CommandError("Inget servicefönster pågår.")
        for occurrence in running:
            service_window_end_now(window=occurrence.window, now=now)
            self.stdout.write(f"Servicefönstret {occurrence.window} är avslutat.")
