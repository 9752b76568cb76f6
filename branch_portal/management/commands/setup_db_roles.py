"""Create the application role if it is missing and grant it its privileges, as the owner.

`manage.py migrate` does the same after migrating; this is for an existing database, or after
changing the application role. Idempotent."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from branch_portal.db_roles import NotTheOwner, UnsafeAppRole, setup


class Command(BaseCommand):
    help = (
        "As the owner (DATABASE_OWNER_URL), create the application role of DATABASE_URL if "
        "missing, grant it SELECT and INSERT on the ledger and histories, SELECT, INSERT, "
        "UPDATE and DELETE elsewhere, and refuse TRUNCATE on the insert-only tables."
    )

    def handle(self, *args, **options):
        try:
            done = setup(connection, settings.APP_DATABASE)
        except (NotTheOwner, UnsafeAppRole) as exc:
            raise CommandError(str(exc)) from exc
        for line in done:
            self.stdout.write(line)
