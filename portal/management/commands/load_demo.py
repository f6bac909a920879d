"""manage.py load_demo: the demo regions, clinics and logins; safe to run again."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.demo import demo_invoice_files_write, demo_load


class Command(BaseCommand):
    help = "Load the demo data from fixtures/ (idempotent: a second run changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--invoice-files",
            type=Path,
            default=Path(settings.BASE_DIR) / "var" / "demo-fakturafiler",
            help="Where to write the example invoice files, dated relative to today.",
        )

    def handle(self, *args, **options):
        counts = demo_load()
        self.stdout.write(
            f"Demo data: {counts['created']} created, {counts['changed']} changed, "
            f"{counts['unchanged']} already in place."
        )
        written = demo_invoice_files_write(options["invoice_files"])
        self.stdout.write(f"Example invoice files for clinic 31, dated relative to today: {written[0].parent}")
