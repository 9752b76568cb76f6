"""daily_journal --office CODE --date YYYY-MM-DD [--csv PATH]"""

import datetime as dt
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from borrowers.models import Office
from reports.journal import check_day, daily_journal, journal_csv


class Command(BaseCommand):
    help = (
        "The office's daily journal for the core bank: the loan and savings entries dated DATE "
        "as double-entry lines by account, programme and fund source (debits = credits). Prints "
        'JSON {"office", "date", "entries", "debits", "credits", "lines": [{"account", '
        '"programme", "fund_source", "debit", "credit"}]}; --csv PATH writes the file too.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="office code")
        parser.add_argument("--date", required=True, help="YYYY-MM-DD")
        parser.add_argument("--csv", type=Path, help="write the journal as CSV here")

    def handle(self, *args, office, date, csv, **options):
        try:
            day = dt.date.fromisoformat(date)
        except ValueError as exc:
            raise CommandError(f"--date is not a date (YYYY-MM-DD): {date}") from exc
        office_ = Office.objects.filter(code=office).first()
        if office_ is None:
            raise CommandError(f"no office {office}")
        if csv is not None and not csv.parent.is_dir():
            raise CommandError(f"no directory {csv.parent}")
        try:
            check_day(office_, day)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        journal = daily_journal(office_, day)
        if csv is not None:
            csv.write_text(journal_csv(journal), encoding="utf-8")
        self.stdout.write(
            json.dumps(
                {
                    "office": office_.code,
                    "date": day.isoformat(),
                    "entries": journal.entries,
                    "debits": journal.debits,
                    "credits": journal.credits,
                    "lines": [
                        {
                            "account": line.account,
                            "programme": line.programme,
                            "fund_source": line.fund_source,
                            "debit": line.debit,
                            "credit": line.credit,
                        }
                        for line in journal.lines
                    ],
                },
                ensure_ascii=False,
            )
        )
