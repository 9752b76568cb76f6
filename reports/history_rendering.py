"""A household's timeline (reports.history) as an A4 PDF (WeasyPrint, the pack's fonts) and an XLSX
sheet (branch_portal.exports: dates as dates, text cells safe from formulas), in the active
language.

The PDF is made in the request, so it lists at most PDF_EVENT_LIMIT events: WeasyPrint lays out
about 100 table rows a second on these machines, so 500 rows are about 5 s, the longest an
auditor should wait on a click; a household has rarely more (a loan of five years posts about
130 entries). Past the limit the PDF says how many it lists of how many, and that the workbook
holds them all (the XLSX has no such bound: openpyxl writes 10,000 rows in well under a second).
"""

import datetime as dt

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from branch_portal.exports import xlsx_sheet
from branch_portal.templatetags.money import group_thousands

from .history import HistoryEvent

PDF_EVENT_LIMIT = 500


def batch_text(event: HistoryEvent) -> str:
    if event.batch is None:
        return ""
    files = ", ".join(event.batch_files)
    return f"#{event.batch} ({files})" if files else f"#{event.batch}"


def changes_text(event: HistoryEvent) -> str:
    return "; ".join(
        f"{label}: {new}" if old is None else f"{label}: {old} → {new}"
        for label, old, new in event.change_rows()
    )


def render_history_pdf(*, household, events: list[HistoryEvent], filters: str) -> bytes:
    from weasyprint import HTML  # heavy import: only where a PDF is made

    html = render_to_string(
        "reports/pdf/history.html",
        {
            "household": household,
            "events": events[:PDF_EVENT_LIMIT],
            "total": len(events),
            "capped": len(events) > PDF_EVENT_LIMIT,
            "limit": PDF_EVENT_LIMIT,
            "filters": filters,
            "generated_at": timezone.localtime(),
        },
    )
    return HTML(string=html).write_pdf()


HEADERS = (
    ("date", lambda: _("Recorded on")),
    ("time", lambda: _("Time")),
    ("event", lambda: _("Event")),
    ("loan", lambda: _("Loan")),
    ("value_date", lambda: _("Value date")),
    ("amount", lambda: _("Amount (VND)")),
    ("by", lambda: _("By")),
    ("approved_by", lambda: _("Approved by")),
    ("entry", lambda: _("Entry")),
    ("reverses", lambda: _("Reverses")),
    ("reversed_by", lambda: _("Reversed by")),
    ("batch", lambda: _("Import batch")),
    ("reference", lambda: _("Reference")),
    ("changes", lambda: _("Changes")),
    ("note", lambda: _("Note")),
)
DATE_COLUMNS = frozenset({0, 4})


def history_row(event: HistoryEvent) -> list:
    local = timezone.localtime(event.at)
    return [
        local.date(),
        local.strftime("%H:%M:%S"),
        event.label,
        event.loan_number or "",
        event.value_date or "",
        event.amount if event.amount is not None else "",
        event.by or "",
        event.approved_by or "",
        event.entry_id or "",
        event.reverses or "",
        event.reversed_by or "",
        batch_text(event),
        event.reference or "",
        changes_text(event),
        event.note or "",
    ]


def render_history_xlsx(*, household, events: list[HistoryEvent]) -> bytes:
    return xlsx_sheet(
        title=f"{household.citizen_id}",
        headers=[header() for _key, header in HEADERS],
        rows=[history_row(e) for e in events],
        date_columns=DATE_COLUMNS,
    )


def amount_text(value: int | None) -> str:
    return "" if value is None else group_thousands(value)


def filename(household, fmt: str, today: dt.date) -> str:
    return f"history_{household.office.code}_{household.citizen_id}_{today.isoformat()}.{fmt}"
