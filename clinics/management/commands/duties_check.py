"""List every person who is both a clinic's user and has a role in the clinic's region (separation of duties)."""

from django.core.management.base import BaseCommand, CommandError

from clinics.services import duties_conflicts


class Command(BaseCommand):
    help = "Lists people who bill a region and also review or pay its claims; exits non-zero if there are any."

    def handle(self, *args, **options):
        conflicts = duties_conflicts()
        for membership, role in conflicts:
            self.stdout.write(
                f"{membership.user.email}: {membership.get_role_display()} på {membership.clinic} "
                f"och {role.get_role_display()} i {role.region.name}"
            )
        if conflicts:
            raise CommandError(f"{len(conflicts)} konflikt(er) mellan klinikroll och regionroll.")
        self.stdout.write("Inga konflikter.")
