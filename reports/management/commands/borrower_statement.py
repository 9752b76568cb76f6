"""borrower_statement --office CODE --citizen-id ID --as-of DATE [--pdf PATH] [--letter-pdf PATH]"""

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Case, When
from django.utils import translation

from borrowers.models import Household, Office
from branch_portal.templatetags.money import vnd
from reports.rendering import render_statement_pdf
from reports.statement import check_as_of, statement_for


class Command(BaseCommand):
    help = (
        "A household's loan statement (sao kê) as of a date, as an A4 PDF: every entry of each "
        "loan with the running principal, overdue and frozen balances and interest paid, the "
        "schedule with each instalment's status, the totals and signature lines. --letter-pdf "
        "writes the balance confirmation letter (giấy xác nhận số dư) too, or instead. The as-of "
        "date is at most the office's business date and no earlier than the household's first "
        "loan application."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="office code")
        parser.add_argument("--citizen-id", dest="citizen_id", required=True)
        parser.add_argument("--as-of", dest="as_of", required=True, help="YYYY-MM-DD")
        parser.add_argument("--pdf", type=Path, help="write the statement PDF here")
        parser.add_argument(
            "--letter-pdf",
            dest="letter_pdf",
            type=Path,
            help="write the balance confirmation letter PDF here",
        )
        parser.add_argument(
            "--language",
            default=settings.LANGUAGE_CODE,
            choices=[code for code, _name in settings.LANGUAGES],
            help="the language of the PDFs (default: %(default)s)",
        )

    def handle(self, *args, office, citizen_id, as_of, pdf, letter_pdf, language, **options):
        if pdf is None and letter_pdf is None:
            raise CommandError("give --pdf PATH, --letter-pdf PATH or both")
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError as exc:
            raise CommandError(f"--as-of is not a date (YYYY-MM-DD): {as_of}") from exc
        office_ = Office.objects.filter(code=office).first()
        if office_ is None:
            raise CommandError(f"no office {office}")
        household = (
            Household.objects.filter(office=office_, citizen_id=citizen_id.strip())
            .select_related("office", "village__commune", "group")
            # An active household first; else the one that moved most recently.
            .order_by(Case(When(status=Household.Status.ACTIVE, then=0), default=1), "-id")
            .first()
        )
        if household is None:
            raise CommandError(f"no household with citizen ID {citizen_id} in office {office}")
        for path in (pdf, letter_pdf):
            if path is not None and not path.parent.is_dir():
                raise CommandError(f"no directory {path.parent}")
        with translation.override(language):
            try:
                check_as_of(household, day)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
            statement = statement_for(household, day)
            # Both rendered before either is written: a failure writes nothing.
            outputs = [
                (path, *render_statement_pdf(statement, letter=letter), label)
                for path, letter, label in (
                    (pdf, False, "statement"),
                    (letter_pdf, True, "confirmation letter"),
                )
                if path is not None
            ]
        for path, content, pages, label in outputs:
            path.write_bytes(content)
            self.stdout.write(f"{label} {path}: {pages} page{'s' if pages != 1 else ''}")
        totals = statement.totals
        self.stdout.write(
            f"{household.full_name} ({household.citizen_id}) as of {day:%d/%m/%Y}: "
            f"{len(statement.loans)} loan{'s' if len(statement.loans) != 1 else ''}, "
            f"outstanding {vnd(totals.outstanding)} (overdue {vnd(totals.overdue)}, "
            f"frozen {vnd(totals.frozen)}), interest paid {vnd(totals.interest_paid)}, "
            f"interest due {vnd(totals.interest_due)}"
        )
