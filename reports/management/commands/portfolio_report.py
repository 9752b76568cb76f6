"""portfolio_report --office CODE --from DATE --as-of DATE [--json] [--pdf PATH] [--xlsx PATH]"""

import datetime as dt
import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from borrowers.models import Office
from branch_portal.templatetags.money import million, thousands
from reports.periods import month_start
from reports.rendering import render_pdf_pages, render_xlsx
from reports.selectors import report_figures


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from exc


class Command(BaseCommand):
    help = "An office's portfolio figures for a period, as text, JSON, PDF or XLSX."

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="office code")
        parser.add_argument("--from", dest="start", required=True, type=_date)
        parser.add_argument("--as-of", dest="as_of", required=True, type=_date)
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--pdf", type=Path, help="write the monthly pack PDF here")
        parser.add_argument("--xlsx", type=Path, help="write the workbook here")

    def handle(self, *args, office, start, as_of, json: bool, pdf, xlsx, **options):
        try:
            office_ = Office.objects.get(code=office)
        except Office.DoesNotExist as exc:
            raise CommandError(f"no office {office}") from exc
        if as_of < start:
            raise CommandError("--as-of is before --from")
        figures = report_figures(office=office_, start=start, as_of=as_of)
        month = None
        if pdf or xlsx:
            month = report_figures(
                office=office_, start=month_start(start=start, as_of=as_of), as_of=as_of
            )
        if json:
            self.stdout.write(_dumps(figures))
        else:
            totals = figures["totals"]
            self.stdout.write(
                f"{office_.name} {start:%d/%m/%Y}–{as_of:%d/%m/%Y} (million VND): "
                f"opening {million(totals['opening'])}, disbursed {million(totals['disbursed'])}, "
                f"collected {million(totals['collected'])}, "
                f"written off {million(totals['written_off'])}, "
                f"closing {million(totals['closing'])}, "
                f"customers {thousands(totals['customers_with_balance'])}, "
                f"loan-turns {thousands(totals['loan_turns'])}"
            )
        # Messages go to stderr when --json is asked, so stdout stays one JSON object.
        say = self.stderr.write if json else self.stdout.write
        if pdf:
            began = time.monotonic()
            content, pages = render_pdf_pages(figures, office=office_, month_figures=month)
            pdf.write_bytes(content)
            say(f"PDF {pdf}: {pages} pages in {time.monotonic() - began:.1f} s")
        if xlsx:
            xlsx.write_bytes(render_xlsx(figures, month_figures=month))
            say(f"XLSX {xlsx}")


def _dumps(figures: dict) -> str:
    return json.dumps(figures, ensure_ascii=False, indent=2)
