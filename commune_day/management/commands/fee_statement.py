"""fee_statement --office CODE --month YYYY-MM [--json] [--pdf PATH] [--xlsx PATH]"""

import json
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from borrowers.models import Office
from branch_portal.templatetags.money import thousands
from commune_day.fee_forms import check_statement_month, parse_month
from commune_day.fee_rendering import render_statement_pdf, render_statement_xlsx
from commune_day.fees import fee_statement


class Command(BaseCommand):
    help = (
        "A month's commissions per group and entrustment fees per chapter of an office. With "
        "--json: amounts in whole đồng, rates and ratios as decimal strings in per cent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="office code")
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--json", action="store_true", help="print the statement as JSON")
        parser.add_argument("--pdf", type=Path, help="write the statement PDF here")
        parser.add_argument("--xlsx", type=Path, help="write the workbook here")
        parser.add_argument("--time", action="store_true", help="say how long it took (stderr)")

    def handle(self, *args, office, month, json: bool, pdf, xlsx, time: bool, **options):
        office_ = Office.objects.filter(code=office).first()
        if office_ is None:
            raise CommandError(f"No office {office}.")
        try:
            month_ = check_statement_month(office_, parse_month(month))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        began = _now()
        statement = fee_statement(office_, month_)
        took = _now() - began
        if json:
            self.stdout.write(_dumps(statement.as_json()))
        else:
            totals = statement.totals
            self.stdout.write(
                f"{office_.name} {month_:%m/%Y}: interest collected "
                f"{thousands(totals['interest_collected'])}, commissions "
                f"{thousands(totals['commission'])} ({len(statement.groups)} groups), fees "
                f"{thousands(totals['fee'])} ({len(statement.chapters)} chapters)"
            )
        say = self.stderr.write if json else self.stdout.write
        if time:
            say(f"statement in {took:.3f} s")
        if pdf:
            content, pages = render_statement_pdf(statement)
            pdf.write_bytes(content)
            say(f"PDF {pdf}: {pages} pages")
        if xlsx:
            xlsx.write_bytes(render_statement_xlsx(statement))
            say(f"XLSX {xlsx}")


def _now() -> float:
    return time.monotonic()


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
