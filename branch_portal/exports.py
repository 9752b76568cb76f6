"""What every spreadsheet and CSV the project writes does to its text cells, its dates and its
encoding."""

import codecs
import datetime as dt
import io
import re

from django_tables2.columns import DateColumn
from django_tables2.export import TableExport

# A cell that starts with one of these is a formula to Excel, LibreOffice or Google Sheets, even
# in a CSV: a household named "=HYPERLINK(...)" would run on the desk of whoever opens the export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 cannot hold these control characters: openpyxl refuses a cell with one, which would
# fail the whole export. They are dropped in CSV too, so that both files say the same.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# The dates of every workbook: day first, as the portal shows them.
DATE_FORMAT = "DD/MM/YYYY"
# Excel reads a CSV without a byte-order mark in the machine's ANSI code page (Windows-1258 or
# 1252 in the offices), so "Nguyễn" shows as "Nguyá»…n"; with the mark it reads UTF-8.
CSV_BOM = codecs.BOM_UTF8.decode()
# An XLSX sheet title may hold at most 31 characters and none of these.
SHEET_TITLE_FORBIDDEN = re.compile(r"[\\*?:/\[\]]")


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would read as a formula, prefixed with a single quote (the
    OWASP advice for CSV injection), so it shows as the text it is. Only text is touched: numbers,
    dates and empty cells pass unchanged, so a negative amount stays a number."""
    if not isinstance(value, str):
        return value
    value = CONTROL_CHARACTERS.sub("", value)  # before the test: "\x01=1+1" is "=1+1"
    if value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _as_date(value):
    """A date column's export value (django-tables2 writes it ISO, 2021-06-15) as a date; its
    default text (an empty date shows "–") stays text."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def xlsx_sheet(*, title: str, headers, rows, date_columns=frozenset()) -> bytes:
    """One sheet: bold headers with the panes frozen under them, every cell through
    `spreadsheet_safe`, the cells of `date_columns` (indices) as dates shown dd/mm/yyyy, each
    column as wide as its widest cell. Written in openpyxl's write-only mode (a province's
    list does not hold its cells twice); `rows` is read twice, for the widths first."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    def value(index, cell):
        cell = spreadsheet_safe(cell)
        return _as_date(cell) if index in date_columns else cell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_TITLE_FORBIDDEN.sub("-", title)[:31] or "Sheet")
    widths = [len(str(header)) for header in headers]
    for row in rows:
        for index, cell in enumerate(row):
            width = 10 if index in date_columns else len(str(cell))
            widths[index] = max(widths[index], width)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, 60)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=spreadsheet_safe(header))
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            cell = WriteOnlyCell(sheet, value=value(index, cell))
            if isinstance(cell.value, dt.date):
                cell.number_format = DATE_FORMAT
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class SafeTableExport(TableExport):
    """django-tables2's CSV/XLSX export, every cell through `spreadsheet_safe`; the CSV starts
    with a UTF-8 byte-order mark (`CSV_BOM`), the XLSX holds the dates as dates (`xlsx_sheet`)."""

    def table_to_dataset(self, table, exclude_columns, dataset_kwargs=None):
        dataset = super().table_to_dataset(table, exclude_columns, dataset_kwargs)
        if dataset.headers:
            dataset.headers = [spreadsheet_safe(header) for header in dataset.headers]
        dataset.add_formatter(None, spreadsheet_safe)  # tablib applies it to every row it writes
        exported = [
            column
            for column in table.columns.iterall()  # the columns of table.as_values, in its order
            if not (column.column.exclude_from_export or column.name in (exclude_columns or ()))
        ]
        self.date_columns = frozenset(
            index for index, column in enumerate(exported) if isinstance(column.column, DateColumn)
        )
        return dataset

    def export(self):
        if self.format == self.XLSX:
            rows = [self.dataset[index] for index in range(len(self.dataset))]
            return xlsx_sheet(
                title=self.dataset.title or "",
                headers=self.dataset.headers or [],
                rows=rows,
                date_columns=self.date_columns,
            )
        text = super().export()
        return CSV_BOM + text if self.format == self.CSV else text
