"""check_outbox [--office CODE]: every ledger and savings entry is in the outbox once, numbered."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from borrowers.models import Office

CHECKS = (
    (
        "loan entries not in the outbox",
        "SELECT count(*) FROM loans_loantransaction t WHERE (%(o)s::bigint IS NULL OR "
        "t.office_id = %(o)s) AND NOT EXISTS (SELECT 1 FROM outbox_outboxentry x "
        "WHERE x.loan_entry_id = t.id)",
    ),
    (
        "savings entries not in the outbox",
        "SELECT count(*) FROM savings_savingstransaction s WHERE (%(o)s::bigint IS NULL OR "
        "s.office_id = %(o)s) AND NOT EXISTS (SELECT 1 FROM outbox_outboxentry x "
        "WHERE x.savings_entry_id = s.id)",
    ),
    (
        # Every transaction numbers its own rows before it commits: one seen unnumbered from
        # outside was committed without its trigger.
        "outbox rows committed without a position",
        "SELECT count(*) FROM outbox_outboxentry WHERE position IS NULL "
        "AND (%(o)s::bigint IS NULL OR office_id = %(o)s)",
    ),
    (
        "outbox rows of another office than their entry's",
        "SELECT count(*) FROM outbox_outboxentry x "
        "LEFT JOIN loans_loantransaction t ON t.id = x.loan_entry_id "
        "LEFT JOIN savings_savingstransaction s ON s.id = x.savings_entry_id "
        "WHERE (%(o)s::bigint IS NULL OR x.office_id = %(o)s) "
        "AND x.office_id <> coalesce(t.office_id, s.office_id)",
    ),
)


class Command(BaseCommand):
    help = (
        "Check the core bank's outbox against both ledgers: every entry in it once, numbered, "
        "under its own office. Exits non-zero naming what is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", help="one office's code (default: every office)")

    def handle(self, *args, office=None, **options):
        office_id = None
        if office is not None:
            found = Office.objects.filter(code=office).first()
            if found is None:
                raise CommandError(f"no office {office}")
            office_id = found.pk
        problems = []
        with connection.cursor() as cursor:
            for label, sql in CHECKS:
                cursor.execute(sql, {"o": office_id})
                count = cursor.fetchone()[0]
                if count:
                    problems.append(f"{count} {label}")
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write("outbox: every entry once, numbered")
