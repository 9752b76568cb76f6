"""What every spreadsheet and CSV the project writes does to its text cells, and its encoding."""

import codecs
import re

from django_tables2.export import TableExport

# A cell that starts with one of these is a formula to Excel, LibreOffice or Google Sheets, even
# in a CSV: a household named "=HYPERLINK(...)" would run on the desk of whoever opens the export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 cannot hold these control characters: openpyxl refuses a cell with one, which would
# fail the whole export. They are dropped in CSV too, so that both files say the same.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Excel reads a CSV without a byte-order mark in the machine's ANSI code page (Windows-1258 or
# 1252 in the offices), so "Nguyễn" shows as "Nguyá»…n"; with the mark it reads UTF-8.
CSV_BOM = codecs.BOM_UTF8.decode()


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


class SafeTableExport(TableExport):
    """django-tables2's CSV/XLSX export, every cell through `spreadsheet_safe`; the CSV starts
    with a UTF-8 byte-order mark (`CSV_BOM`)."""

    def table_to_dataset(self, table, exclude_columns, dataset_kwargs=None):
        dataset = super().table_to_dataset(table, exclude_columns, dataset_kwargs)
        if dataset.headers:
            dataset.headers = [spreadsheet_safe(header) for header in dataset.headers]
        dataset.add_formatter(None, spreadsheet_safe)  # tablib applies it to every row it writes
        return dataset

    def export(self):
        text = super().export()
        return CSV_BOM + text if self.format == self.CSV else text
