"""manage.py import_portfolio --office CODE PATH [--create-office NAME]: docs/import-format.md."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from borrowers.models import Office
from seeding.importer import ImportFailed, import_portfolio, read_portfolio


class Command(BaseCommand):
    help = (
        "Load an office's portfolio from a folder of CSV files or one XLSX workbook: all or "
        "nothing, every error reported as file:row: column: message, idempotent on re-import."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="A folder of CSV files or an .xlsx workbook.")
        parser.add_argument("--office", required=True, help="The office's code.")
        parser.add_argument(
            "--create-office",
            metavar="NAME",
            help="Create the office with this name (business date today) if it does not exist.",
        )
        parser.add_argument("--user", help="The username the entries are recorded under.")

    def handle(self, *args, path, office, create_office=None, user=None, **options):
        recorded_by = None
        if user:
            recorded_by = get_user_model().objects.filter(username=user).first()
            if recorded_by is None:
                raise CommandError(_("No user %(u)r.") % {"u": user})
        try:
            tables = read_portfolio(path)
            # The office is created in the same transaction: a failed import leaves nothing.
            with transaction.atomic():
                target = Office.objects.filter(code=office).first()
                created = target is None
                if target is None:
                    if not create_office:
                        raise CommandError(
                            _("No office %(o)r; pass --create-office NAME to create it.")
                            % {"o": office}
                        )
                    target = Office.objects.create(
                        code=office, name=create_office, business_date=dt.date.today()
                    )
                summary = import_portfolio(office=target, tables=tables, user=recorded_by)
        except ImportFailed as failure:
            for line in failure.errors:
                self.stderr.write(line)
            raise CommandError(
                _("%(n)s error(s): nothing was imported.") % {"n": len(failure.errors)}
            ) from failure
        except CommandError:
            raise
        except Exception as exc:
            # Whatever the files hold is answered as file:row: column: message by the importer;
            # anything else is a fault of ours, and still no traceback for the clerk: the import
            # was rolled back, and --traceback shows the cause (the CommandError chains it).
            raise CommandError(
                _("The import stopped on an unexpected error (%(e)s): nothing was imported.")
                % {"e": f"{type(exc).__name__}: {_first_line(exc)}"}
            ) from exc
        if created:
            self.stdout.write(
                _("Created office %(o)s: %(name)s.") % {"o": office, "name": create_office}
            )
        for line in summary.lines():
            self.stdout.write(line)
        self.stdout.write(
            _("%(n)s new row(s) imported into office %(o)s.") % {"n": summary.new_rows, "o": office}
        )
        self.stdout.write(_("Recorded as import batch #%(b)s.") % {"b": summary.batch})


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""
