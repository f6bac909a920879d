"""manage.py audit_verify: recompute the audit log's hash chain and name the first row that does not fit."""

from django.core.management.base import BaseCommand, CommandError

from portal.audit import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exits non-zero at the first changed, removed or inserted row."

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if not report.whole:
            raise CommandError(f"Händelseloggens kedja är bruten vid {report.first_break}.")
        self.stdout.write(f"Händelseloggens kedja är hel: {report.rows} rader, sista hash {report.last_hash}.")
