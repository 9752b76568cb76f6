"""The collection sheet (13/TD) as PDF: one A4 page per group where it fits, in Vietnamese (the
group head and the teller sign it), through WeasyPrint."""

import base64
import unicodedata
from collections.abc import Callable, Sequence

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from branch_portal.templatetags.money import group_thousands

from .models import TransactionSession
from .selectors import CollectionSheet

PDF_LANGUAGE = "vi"
# Groups laid out per WeasyPrint document: each document costs its style sheet and fonts once;
# a session's PDF reports its progress after each batch.
GROUPS_PER_BATCH = 10


# The body of the sheet is one line of DejaVu Sans Mono per loan, its grid one background tile a
# row high repeated down: a table of thirteen bordered cells per line laid out at some
# 100 lines a second (WeasyPrint boxes and draws each cell and border), a line of text at
# about a thousand. Columns are counted in characters: #, household, citizen ID, loan; the four
# figures due; the four amounts handed in and the 01/BL receipt number, left blank.
COLUMN_CHARS = (4, 22, 14, 22, 12, 12, 12, 12, 8, 8, 8, 8, 8)
NUMERIC_FROM, BLANK_FROM = 4, 8
FONT_PT = 6.0
# DejaVu Sans Mono's advance: 1233 of 2048 units to the em.
CHAR_MM = FONT_PT * 1233 / 2048 * 25.4 / 72
ROW_MM = 4.2
LINE_MM = 0.14  # 0.4 pt


def _fit(text: str, width: int, *, right: bool = False) -> str:
    """A field of `width` characters with a space either side of the rule: text left-aligned
    (cut to fit), amounts right-aligned (never cut: the widths hold the largest amount)."""
    text = unicodedata.normalize("NFC", text)
    room = width - 1  # the space before the next column's rule
    if right:
        return text.rjust(room) + " "
    return " " + text[: room - 1].ljust(room - 1) + " "


def _row(cells: list[str]) -> str:
    return "".join(
        _fit(text, width, right=index == 0 or NUMERIC_FROM <= index < BLANK_FROM)
        for index, (text, width) in enumerate(zip(cells, COLUMN_CHARS, strict=False))
    ).rstrip()


def grid() -> dict:
    """The column widths (for the header table above the body) and the body's tile: the
    column rules, the row's bottom rule and the tint of the columns filled in by hand (an SVG
    data URI: the PDF needs no file). Sizes as strings: a Vietnamese template writes 4.2 as
    "4,2"."""
    widths = [chars * CHAR_MM for chars in COLUMN_CHARS]
    width = sum(widths)
    edges, x = [0.0], 0.0
    for column in widths:
        x += column
        edges.append(x)
    half = LINE_MM / 2
    rules = "".join(
        f'<line x1="{min(max(e, half), width - half):.3f}" y1="0" '
        f'x2="{min(max(e, half), width - half):.3f}" y2="{ROW_MM}"/>'
        for e in edges
    )
    blank = edges[BLANK_FROM]
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.3f}mm" height="{ROW_MM}mm" '
        f'viewBox="0 0 {width:.3f} {ROW_MM}">'
        f'<rect x="{blank:.3f}" y="0" width="{width - blank:.3f}" height="{ROW_MM}" '
        'fill="#fffdf6"/>'
        f'<g stroke="#666" stroke-width="{LINE_MM}">{rules}'
        f'<line x1="0" y1="{ROW_MM - half:g}" x2="{width:.3f}" y2="{ROW_MM - half:g}"/></g></svg>'
    )
    return {
        "width": f"{width:.3f}",
        "row": f"{ROW_MM:g}",
        "font": f"{FONT_PT:g}",
        # Style attributes: this template is WeasyPrint's, never served.
        "colgroup": "<colgroup>"
        + "".join(f'<col style="width: {w:.3f}mm">' for w in widths)
        + "</colgroup>",
        "background": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
    }


def _amount(value: int) -> str:
    return group_thousands(value) if value else ""


def _sheet_context(sheet: CollectionSheet) -> dict:
    rows = []
    last_household = None
    for number, line in enumerate(sheet.lines, start=1):
        # A household with several loans has one savings balance: shown on its first line.
        first = line.household_id != last_household
        last_household = line.household_id
        rows.append(
            _row(
                [
                    str(number),
                    line.name if first else "",
                    line.citizen_id if first else "",
                    f"{line.loan_number} {line.programme}",
                    _amount(line.interest_due),
                    _amount(line.principal_due),
                    _amount(line.overdue),
                    _amount(line.savings_balance) if first else "",
                ]
            )
        )
    totals = sheet.totals
    return {
        "group": sheet.group,
        "date": sheet.date,
        "rows": rows,
        "total": _row(
            [
                "",
                _("Total"),
                "",
                "",
                *(
                    group_thousands(totals[key])
                    for key in ("interest_due", "principal_due", "overdue", "savings_balance")
                ),
            ]
        ),
    }


def render_sheets_html(sheets: Sequence[CollectionSheet], *, session=None) -> str:
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "commune_day/pdf/sheets.html",
            {
                "sheets": [_sheet_context(sheet) for sheet in sheets],
                "session": session,
                "grid": grid(),
            },
        )


def render_sheets_pdf(
    sheets: Sequence[CollectionSheet],
    *,
    session: TransactionSession | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[bytes, int]:
    """The sheets' PDF (each group from a new page) and its page count; `progress(done, total)`
    is told after each batch of groups."""
    from weasyprint import HTML  # heavy import: only where a PDF is made

    documents = []
    total = len(sheets)
    for start in range(0, max(total, 1), GROUPS_PER_BATCH):
        batch = sheets[start : start + GROUPS_PER_BATCH]
        documents.append(HTML(string=render_sheets_html(batch, session=session)).render())
        if progress is not None:
            progress(min(start + GROUPS_PER_BATCH, total), total)
    pages = [page for document in documents for page in document.pages]
    return documents[0].copy(pages).write_pdf(), len(pages)
