"""manage.py db_grant_app_role ROLE: run as the owner after `migrate`, give the app's role what it may do."""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from portal.db_roles import app_role_grant


class Command(BaseCommand):
    help = (
        "Grant the portal's database role ordinary access to every table, and only SELECT and INSERT on the "
        "audit and access logs. Run as the tables' owner after each migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the role the web server and worker connect as, e.g. tandportal_app")

    def handle(self, *args, role, **options):
        with transaction.atomic(), connection.cursor() as cursor:
            app_role_grant(cursor, role)
        self.stdout.write(f"Rollen {role} har behörigheterna; loggarna får den bara läsa och lägga till i.")
