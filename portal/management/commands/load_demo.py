"""manage.py load_demo: the demo regions, clinics and logins; safe to run again."""

from django.core.management.base import BaseCommand

from portal.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo data from fixtures/ (idempotent: a second run changes nothing)."

    def handle(self, *args, **options):
        counts = demo_load()
        self.stdout.write(
            f"Demo data: {counts['created']} created, {counts['changed']} changed, "
            f"{counts['unchanged']} already in place."
        )
