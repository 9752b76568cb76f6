"""The month's fee statement as PDF (WeasyPrint) and XLSX (openpyxl), from a FeeStatement: no
query here. Amounts are whole đồng in both (the XLSX as numbers); labels in Vietnamese, as the
office hands the statement to the organisations' chapters."""

import io

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from branch_portal.exports import SHEET_TITLE_FORBIDDEN, spreadsheet_safe

from .fees import FeeStatement

PDF_LANGUAGE = "vi"
NUMBER_FORMAT = "#,##0"


def render_statement_html(statement: FeeStatement) -> str:
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "commune_day/fees/pdf/statement.html",
            {"statement": statement, "totals": statement.totals, "made_on": timezone.localdate()},
        )


def render_statement_pdf(statement: FeeStatement) -> tuple[bytes, int]:
    """The PDF and its page count."""
    from weasyprint import HTML  # heavy import: only where a PDF is made

    document = HTML(string=render_statement_html(statement)).render()
    return document.write_pdf(), len(document.pages)


def render_statement_xlsx(statement: FeeStatement) -> bytes:
    """Two sheets: commissions per group, fees per chapter, each with its totals row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    with translation.override(PDF_LANGUAGE):
        workbook = Workbook()
        groups = workbook.active
        groups.title = _title(gettext("Commissions by group"))
        groups.append(
            [
                gettext("Group code"),
                gettext("Group"),
                gettext("Interest collected"),
                gettext("Rate (%)"),
                gettext("Commission"),
                gettext("Paid"),
            ]
        )
        for line in statement.groups:
            groups.append(
                [
                    spreadsheet_safe(line.code),
                    spreadsheet_safe(line.name),
                    line.interest_collected,
                    float(line.rate) if line.rate is not None else None,
                    line.commission,
                    line.paid,
                ]
            )
        totals = statement.totals
        groups.append(
            [
                "",
                gettext("Total"),
                totals["interest_collected"],
                None,
                totals["commission"],
                totals["commission_paid"],
            ]
        )
        chapters = workbook.create_sheet(_title(gettext("Fees by chapter")))
        chapters.append(
            [
                gettext("Commune code"),
                gettext("Commune"),
                gettext("Organisation"),
                gettext("Interest collected"),
                gettext("Outstanding"),
                gettext("Overdue"),
                gettext("Overdue ratio (%)"),
                gettext("Collection rate (%)"),
                gettext("Rate (%)"),
                gettext("Factor"),
                gettext("Fee"),
                gettext("Paid"),
            ]
        )
        for line in statement.chapters:
            collection = line.collection_rate_percent
            chapters.append(
                [
                    spreadsheet_safe(line.commune),
                    spreadsheet_safe(line.commune_name),
                    spreadsheet_safe(line.organisation_name),
                    line.interest_collected,
                    line.outstanding,
                    line.overdue,
                    float(line.overdue_ratio_percent),
                    float(collection) if collection is not None else None,
                    float(line.rate) if line.rate is not None else None,
                    float(line.factor),
                    line.fee,
                    line.paid,
                ]
            )
        chapters.append(
            [
                "",
                gettext("Total"),
                "",
                sum(line.interest_collected for line in statement.chapters),
                None,
                None,
                None,
                None,
                None,
                None,
                totals["fee"],
                totals["fee_paid"],
            ]
        )
        for sheet in (groups, chapters):
            sheet.freeze_panes = "A2"
            for cell in sheet[1]:
                cell.font = bold
            for cell in sheet[sheet.max_row]:
                cell.font = bold
            for row in sheet.iter_rows(min_row=2):
                for cell in row:
                    if isinstance(cell.value, int):
                        cell.number_format = NUMBER_FORMAT
            sheet.column_dimensions["B"].width = 30
        buffer = io.BytesIO()
        workbook.save(buffer)
    return buffer.getvalue()


def _title(text: str) -> str:
    return SHEET_TITLE_FORBIDDEN.sub("-", text)[:31]
