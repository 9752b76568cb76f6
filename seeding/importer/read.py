"""Reading a portfolio (docs/import-format.md): a folder of CSV files or one XLSX workbook as plain
tables of stripped strings, one dict per row, refused whole (ImportFailed) when a file cannot be
read at all. Rows are judged in .check; the messages quote values through `quote`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import re
from contextlib import contextmanager
from pathlib import Path

from django.utils.translation import gettext as _

from branch_portal.templatetags.money import group_thousands

FILES = ("communes", "villages", "groups", "borrowers", "loans", "transactions")
UNNAMED = ""  # the key under which values beyond the header row are kept
# Characters in one CSV field. The longest column holds 500 (purpose): a longer value is reported
# on its column by the column's own check, a far longer one (a broken quote swallowing the rest of
# the file, a 20 MB cell) by the reader, before it is held in memory as a row.
FIELD_LIMIT = 10_000
# Control characters (C0, DEL, C1): PostgreSQL cannot store NUL, and the others are noise from a
# broken export that would also break the one-error-per-line output. Tab and line breaks are only
# whitespace in the free-text columns (names have their whitespace collapsed; a purpose may span
# lines, as a spreadsheet cell may).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_BUT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
FREE_TEXT = frozenset({"name", "full_name", "head_name", "purpose"})


class ImportFailed(Exception):
    """Nothing was imported; `errors` lists every problem as "file:row: column: message"."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class Portfolio(dict[str, list[dict[str, str]]]):
    """The tables read, and what they were read from, for the import's batch (loans.ImportBatch):
    `files`, the CSV file names read in the format's order, or the workbook's name followed by
    its sheets read; `checksum`, the SHA-256 (hex) of those files' bytes in that order."""

    def __init__(self, tables, *, files: list[str], checksum: str):
        super().__init__(tables)
        self.files = files
        self.checksum = checksum


def in_memory(tables: dict[str, list[dict[str, str]]], name: str = "tables") -> Portfolio:
    """Tables built in memory (seed_demo, tests) as a portfolio named `name`: the checksum is of
    their canonical JSON (keys sorted), so the same tables give the same checksum."""
    if isinstance(tables, Portfolio):
        return tables
    canonical = json.dumps(tables, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return Portfolio(tables, files=[name], checksum=hashlib.sha256(canonical.encode()).hexdigest())


def read_portfolio(path) -> Portfolio:
    """A folder of `<file>.csv` files or one XLSX workbook with a sheet per file. Values are
    stripped strings; a file or sheet that is absent gives []. Header row = row 1."""
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        tables, files = {}, []
        for name in FILES:
            file = path / f"{name}.csv"
            tables[name] = _read_csv(file, digest)
            if file.exists():
                files.append(file.name)
        present = (path / "transactions.csv").exists()
    elif path.is_file() and path.suffix.lower() == ".xlsx":
        tables, sheets = _read_xlsx(path)
        present = "transactions" in sheets
        digest = hashlib.sha256(_read_bytes(path, path.name))
        files = [path.name, *sheets]
    else:
        raise ImportFailed(
            [f"{path}:0: -: " + _("Give a folder of CSV files or an .xlsx workbook.")]
        )
    if not present:
        raise ImportFailed(
            ["transactions.csv:1: -: " + _("The file is missing; every import needs it.")]
        )
    return Portfolio(tables, files=files, checksum=digest.hexdigest())


def _read_bytes(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportFailed(
            [f"{label}:0: -: " + _("The file cannot be read (%(e)s).") % {"e": exc.strerror or exc}]
        ) from exc


def _read_csv(path: Path, digest) -> list[dict[str, str]]:
    """The file's rows; its bytes, as read, go into the digest."""
    if not path.exists():
        return []
    label = path.name
    data = _read_bytes(path, label)
    digest.update(data)
    data = data.removeprefix(codecs.BOM_UTF8)  # here, so that offsets below are the file's
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The line of the first bad byte: it is the row, unless a quoted value spans lines.
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            [
                f"{label}:{line}: -: "
                + _("The file is not UTF-8 text (byte 0x%(b)02X); save it as UTF-8.")
                % {"b": data[exc.start]}
            ]
        ) from exc
    rows: list[list[str]] = []
    with _field_size_limit(FIELD_LIMIT):
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            for values in reader:
                rows.append(values)
        except csv.Error as exc:
            number = len(rows) + 1  # the row being read when the reader gave up
            if "field larger than field limit" in str(exc):
                message = _("A value is longer than %(n)s characters.") % {
                    "n": group_thousands(FIELD_LIMIT)
                }
            else:
                message = _("The row cannot be read as CSV (%(e)s).") % {"e": exc}
            raise ImportFailed([f"{label}:{number}: -: {message}"]) from exc
    return _as_dicts(label, rows)


@contextmanager
def _field_size_limit(limit: int):
    """csv.field_size_limit is process-wide: set it for this read, then give the old one back."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _cell(value, column: str) -> str:
    """An XLSX cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and column in ("citizen_id", "reference", "loan_number"):
        # A spreadsheet that took the ID for a number dropped its leading zeros.
        return f"{value:012d}" if column == "citizen_id" else str(value)
    return str(value)


def _read_xlsx(path: Path) -> tuple[dict[str, list[dict[str, str]]], list[str]]:
    """The tables, and the names of the format's sheets the workbook has, in the format's
    order."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportFailed([f"{path.name}:0: -: " + _("Not a readable XLSX workbook.")]) from exc
    tables: dict[str, list[dict[str, str]]] = {}
    try:
        for name in FILES:
            if name not in workbook.sheetnames:
                tables[name] = []
                continue
            try:
                raw = list(workbook[name].iter_rows(values_only=True))
            except Exception as exc:  # a damaged sheet, a cell openpyxl cannot convert
                raise ImportFailed(
                    [f"{name}.csv:0: -: " + _("The sheet cannot be read from the workbook.")]
                ) from exc
            header = [_cell(v, "").strip() for v in raw[0]] if raw else []
            rows = [header] + [
                [_cell(v, header[i] if i < len(header) else "") for i, v in enumerate(r)]
                for r in raw[1:]
            ]
            tables[name] = _as_dicts(f"{name}.csv", rows if raw else [])
        sheets = [name for name in FILES if name in workbook.sheetnames]
    finally:
        workbook.close()
    return tables, sheets


def _as_dicts(label: str, rows: list[list[str]]) -> list[dict[str, str]]:
    """The rows of a file or sheet that is there. One without even a header row (zero bytes,
    blank lines, an empty sheet) is refused: it is what a failed export or an interrupted copy
    leaves, and taking it for "no rows" would import the other files without it. A header alone
    is a file with no rows, which the format allows (docs/import-format.md)."""
    if not any(value.strip() for values in rows for value in values):
        raise ImportFailed(
            [f"{label}:1: -: " + _("The file is empty: it needs at least its header row.")]
        )
    header = [h.strip() for h in rows[0]]
    named = [h for h in header if h]
    duplicates = sorted({h for h in named if named.count(h) > 1})
    if duplicates:
        raise ImportFailed(
            [
                f"{label}:1: {quote(h)}: " + _("The column appears more than once.")
                for h in duplicates
            ]
        )
    body = rows[1:]
    while body and not any(v.strip() for v in body[-1]):
        body.pop()  # spreadsheets leave empty rows at the end
    result = []
    for values in body:
        row = dict.fromkeys(named, "")
        extra = []
        for i, value in enumerate(values):
            value = value.strip()
            if i < len(header) and header[i]:
                row[header[i]] = value
            elif value:
                extra.append(value)
        if extra:
            row[UNNAMED] = ", ".join(extra)
        result.append(row)
    return result


def cut(value: str, limit: int = 40) -> str:
    """A value as a message quotes it: a message names the value, it does not carry a 20 MB one."""
    return value if len(value) <= limit else value[:limit] + "…"


def quote(value: str) -> str:
    """A value quoted bare in a message: cut short, control characters written as escapes, so
    that every error stays one line."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", cut(value))


def control_character(column: str, value: str) -> str | None:
    """The first control character in a value of the column, if any."""
    pattern = CONTROL_BUT_WHITESPACE if column in FREE_TEXT else CONTROL
    match = pattern.search(value)
    return match.group() if match else None
