"""manage.py logs_partitions: make the audit and access logs' partitions for this month and the coming ones."""

from django.core.management.base import BaseCommand

from portal.log_partitions import PARTITIONED_LOGS, log_partitions, log_partitions_ensure


class Command(BaseCommand):
    help = (
        "Make the monthly partitions of the audit and access logs for this month and the coming ones "
        "(TANDPORTAL_LOG_PARTITIONS_AHEAD), and for each month with rows in a default partition. Beat does it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--months-ahead", type=int, default=None, help="months after this one (at most 36)")

    def handle(self, *args, months_ahead, **options):
        made = log_partitions_ensure(months_ahead=months_ahead)
        for table in PARTITIONED_LOGS:
            parts = log_partitions(table)
            span = f"{parts[0].start:%Y-%m}–{parts[-1].start:%Y-%m}" if parts else "inga"
            self.stdout.write(f"{table}: {len(parts)} månader ({span})")
        self.stdout.write(f"{made} nya partitioner.")
