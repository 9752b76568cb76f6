"""The collection sheet (13/TD) as PDF: one A4 page per group where it fits, in Vietnamese (the
group head and the teller sign it), through WeasyPrint."""

from collections.abc import Callable, Sequence

from django.template.loader import render_to_string
from django.utils import translation

from branch_portal.templatetags.money import group_thousands

from .models import TransactionSession
from .selectors import CollectionSheet

PDF_LANGUAGE = "vi"
# Groups laid out per WeasyPrint document: each document costs its style sheet and fonts once;
# a session's PDF reports its progress after each batch.
GROUPS_PER_BATCH = 10


def _amount(value: int) -> str:
    return group_thousands(value) if value else ""


def _sheet_context(sheet: CollectionSheet) -> dict:
    lines = []
    last_household = None
    for line in sheet.lines:
        # A household with several loans has one savings balance: shown on its first line.
        first = line.household_id != last_household
        last_household = line.household_id
        lines.append(
            {
                "name": line.name if first else "",
                "citizen_id": line.citizen_id if first else "",
                "loan_number": line.loan_number,
                "programme": line.programme,
                "interest_due": _amount(line.interest_due),
                "principal_due": _amount(line.principal_due),
                "overdue": _amount(line.overdue),
                "savings_balance": _amount(line.savings_balance) if first else "",
            }
        )
    return {
        "group": sheet.group,
        "date": sheet.date,
        "lines": lines,
        "totals": {key: group_thousands(value) for key, value in sheet.totals.items()},
    }


def render_sheets_html(sheets: Sequence[CollectionSheet], *, session=None) -> str:
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "commune_day/pdf/sheets.html",
            {"sheets": [_sheet_context(sheet) for sheet in sheets], "session": session},
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
