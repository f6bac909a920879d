"""manage.py logs_archive: archive the logs' months past the retention to files and detach them from the tables."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.log_partitions import LogArchiveRefused, log_partitions_archive, log_partitions_due


class Command(BaseCommand):
    help = (
        "Archive each month of the audit and access logs that ended more than TANDPORTAL_LOG_RETENTION_YEARS ago: "
        "detach it, write its rows to a gzipped CSV file with a SHA-256 checksum and a manifest under "
        "TANDPORTAL_LOG_ARCHIVE_DIR, and drop it from the database. Run as the tables' owner."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only list the months that would be archived")
        parser.add_argument("--directory", type=Path, default=None, help="instead of TANDPORTAL_LOG_ARCHIVE_DIR")
        parser.add_argument("--retention-years", type=int, default=None, help="instead of the setting")

    def handle(self, *args, dry_run, directory, retention_years, **options):
        years = settings.LOG_RETENTION_YEARS if retention_years is None else retention_years
        if years < 1:
            raise CommandError("Loggarna sparas minst ett år.")
        if dry_run:
            for part in log_partitions_due(retention_years=years):
                self.stdout.write(f"{part.name} ({part.start:%Y-%m})")
            return
        try:
            archives = log_partitions_archive(retention_years=years, directory=directory)
        except LogArchiveRefused as refused:
            raise CommandError(str(refused)) from refused
        where = directory or settings.LOG_ARCHIVE_DIR
        for archive in archives:
            self.stdout.write(
                f"{archive.partition}: {archive.rows} rader → {where}/{archive.file_name} ({archive.sha256})"
            )
        self.stdout.write(f"{len(archives)} månader arkiverade (äldre än {years} år).")
