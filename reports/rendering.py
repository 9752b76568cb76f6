"""The monthly pack as PDF (WeasyPrint) and XLSX (openpyxl), from a `portfolio_report --json`
object. Pure functions of the figures: no query here, so a stored run renders the same forever.

Amounts are whole VND in the figures; the PDF shows them in millions with Vietnamese separators
(367.714), the XLSX keeps them as VND integers (numbers, not text).
"""

import datetime as dt
import io
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import pgettext, pgettext_lazy

from branch_portal.templatetags.money import million, thousands

from .selectors import FIGURE_KEYS, programmes_in_use, ratio_percent, roll_forward_holds

PDF_LANGUAGE = "vi"

ROLL_FORWARD = (
    "opening",
    "disbursed",
    "collected",
    "written_off",
    "transferred_out",
    "transferred_in",
    "closing",
)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "amount"  # amount (VND → millions), count, percent, text


def _labels() -> dict[str, str]:
    return {
        "code": pgettext("report", "Code"),
        "name": pgettext("report", "Name"),
        "opening": pgettext("report", "Opening balance"),
        "disbursed": pgettext("report", "Disbursed"),
        "collected": pgettext("report", "Collected"),
        "written_off": pgettext("report", "Written off"),
        "interest_collected": pgettext("report", "Interest collected"),
        "transferred_out": pgettext("report", "Transferred out"),
        "transferred_in": pgettext("report", "Transferred in"),
        "closing": pgettext("report", "Closing balance"),
        "growth": pgettext("report", "Growth"),
        "overdue": pgettext("report", "Overdue"),
        "frozen": pgettext("report", "Frozen"),
        "overdue_ratio": pgettext("report", "Overdue %"),
        "frozen_ratio": pgettext("report", "Frozen %"),
        "bad": pgettext("report", "Overdue + frozen"),
        "bad_ratio": pgettext("report", "Overdue + frozen %"),
        "customers_with_balance": pgettext("report", "Customers with balance"),
        "loan_turns": pgettext("report", "Loan-turns"),
        "workers_employed": pgettext("report", "Workers employed"),
        "works_built": pgettext("report", "Works built"),
    }


def _columns(*extra: str) -> list[Column]:
    labels = _labels()
    kinds = {
        "overdue_ratio": "percent",
        "frozen_ratio": "percent",
        "bad_ratio": "percent",
        "customers_with_balance": "count",
        "loan_turns": "count",
        "workers_employed": "count",
        "works_built": "count",
    }
    return [Column(key, labels[key], kinds.get(key, "amount")) for key in (*ROLL_FORWARD, *extra)]


def _derived(row: dict) -> dict:
    bad = row["overdue"] + row["frozen"]
    return {
        **row,
        "growth": row["closing"] - row["opening"],
        "bad": bad,
        "overdue_ratio": ratio_percent(row["overdue"], row["closing"]),
        "frozen_ratio": ratio_percent(row["frozen"], row["closing"]),
        "bad_ratio": ratio_percent(bad, row["closing"]),
    }


def _cell(value, kind: str) -> str:
    if kind == "amount":
        return million(value)
    if kind == "count":
        return thousands(value)
    if kind == "percent":
        return "–" if value is None else f"{value:.2f}".replace(".", ",")
    return str(value)


def _table(title: str, rows: list[dict], totals: dict, columns: list[Column], *, note: str = ""):
    def cells(row):
        derived = _derived(row)
        return [_cell(derived[column.key], column.kind) for column in columns]

    gaps = [row for row in rows if not roll_forward_holds(row)]
    return {
        "title": title,
        "note": note,
        "columns": columns,
        "rows": [{"code": r["code"], "name": r["name"], "cells": cells(r)} for r in rows],
        "totals": cells(totals),
        "gaps": [
            {
                "code": row["code"],
                "name": row["name"],
                "gap": million(
                    row["closing"]
                    - row["opening"]
                    - row["disbursed"]
                    + row["collected"]
                    + row["written_off"]
                    + row["transferred_out"]
                    - row["transferred_in"]
                ),
            }
            for row in gaps
        ],
        "long": len(rows) > 40,
    }


def _date(value: str | dt.date) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _headline(figures: dict, month: dict | None) -> list[dict]:
    def values(report: dict | None) -> dict:
        if report is None:
            return {}
        totals = _derived(report["totals"])
        nsvs = next((r for r in report["by_programme"] if r["code"] == "NSVS"), None)
        return {
            "disbursed": million(totals["disbursed"]),
            "collected": million(totals["collected"]),
            "written_off": million(totals["written_off"]),
            "interest_collected": million(totals["interest_collected"]),
            "transferred": million(totals["transferred_in"] - totals["transferred_out"]),
            "opening": million(totals["opening"]),
            "closing": million(totals["closing"]),
            "growth": million(totals["growth"]),
            "customers": thousands(totals["customers_with_balance"]),
            "programmes": thousands(programmes_in_use(report)),
            "loan_turns": thousands(totals["loan_turns"]),
            "workers": thousands(totals["workers_employed"]),
            "nsvs": thousands(nsvs["loan_turns"] if nsvs else 0),
            "overdue": million(totals["overdue"]),
            "overdue_ratio": _cell(totals["overdue_ratio"], "percent"),
            "frozen": million(totals["frozen"]),
            "frozen_ratio": _cell(totals["frozen_ratio"], "percent"),
        }

    period, this_month = values(figures), values(month)
    lines = [
        ("disbursed", pgettext("report", "Lending turnover"), pgettext("report", "million VND")),
        (
            "collected",
            pgettext("report", "Collection turnover (principal)"),
            pgettext("report", "million VND"),
        ),
        ("written_off", pgettext("report", "Written off"), pgettext("report", "million VND")),
        (
            "transferred",
            pgettext("report", "Transferred in − out"),
            pgettext("report", "million VND"),
        ),
        (
            "opening",
            pgettext("report", "Outstanding at the start of the period"),
            pgettext("report", "million VND"),
        ),
        ("closing", pgettext("report", "Total outstanding"), pgettext("report", "million VND")),
        (
            "growth",
            pgettext("report", "Growth of outstanding vs the start of the period"),
            pgettext("report", "million VND"),
        ),
        (
            "customers",
            pgettext("report", "Customers with an outstanding balance"),
            pgettext("report", "customers"),
        ),
        (
            "programmes",
            pgettext("report", "Credit programmes in use"),
            pgettext("report", "programmes"),
        ),
        (
            "loan_turns",
            pgettext("report", "Loan-turns (households that borrowed)"),
            pgettext("report", "households"),
        ),
        (
            "workers",
            pgettext("report", "Workers given jobs by the loans"),
            pgettext("report", "workers"),
        ),
        (
            "nsvs",
            pgettext("report", "Households financed for clean water & sanitation"),
            pgettext("report", "households"),
        ),
        (
            "interest_collected",
            pgettext("report", "Interest collected"),
            pgettext("report", "million VND"),
        ),
        ("overdue", pgettext("report", "Overdue debt"), pgettext("report", "million VND")),
        ("overdue_ratio", pgettext("report", "Overdue ratio"), "%"),
        ("frozen", pgettext("report", "Frozen debt"), pgettext("report", "million VND")),
        ("frozen_ratio", pgettext("report", "Frozen ratio"), "%"),
    ]
    return [
        {"label": label, "unit": unit, "period": period[key], "month": this_month.get(key, "")}
        for key, label, unit in lines
    ]


def pack_context(figures: dict, *, office, run=None, month_figures: dict | None = None) -> dict:
    """Everything the PDF template shows, already formatted."""
    start, as_of = _date(figures["from"]), _date(figures["as_of"])
    totals = figures["totals"]
    portfolio = _columns(
        "growth", "overdue", "frozen", "bad_ratio", "customers_with_balance", "loan_turns"
    )
    tables = [
        _table(
            pgettext("report", "Portfolio by credit programme"),
            figures["by_programme"],
            totals,
            portfolio,
        ),
        _table(
            pgettext("report", "Portfolio by commune"), figures["by_commune"], totals, portfolio
        ),
        _table(
            pgettext("report", "Portfolio by entrusted organisation"),
            figures["by_organisation"],
            totals,
            portfolio,
        ),
        _table(
            pgettext("report", "Portfolio by savings and loan group"),
            figures["by_group"],
            totals,
            portfolio,
        ),
        _table(
            pgettext("report", "Outcomes by credit programme"),
            figures["by_programme"],
            totals,
            _columns("loan_turns", "workers_employed", "works_built"),
            note=pgettext(
                "report",
                "Loan-turns: loans first disbursed in the period; workers and works are those "
                "of these loans.",
            ),
        ),
    ]
    risk = _columns("overdue", "overdue_ratio", "frozen", "frozen_ratio", "bad", "bad_ratio")
    for title, rows in (
        (
            pgettext("report", "Overdue and frozen debt by credit programme"),
            figures["by_programme"],
        ),
        (
            pgettext("report", "Overdue and frozen debt by entrusted organisation"),
            figures["by_organisation"],
        ),
        (pgettext("report", "Overdue and frozen debt by commune"), figures["by_commune"]),
    ):
        tables.append(
            _table(
                title,
                rows,
                totals,
                risk,
                note=pgettext("report", "Ratios are to the closing balance."),
            )
        )
    month_period = None
    if month_figures is not None:
        month_period = (_date(month_figures["from"]), _date(month_figures["as_of"]))
    return {
        "office": office,
        "run": run,
        "start": start,
        "as_of": as_of,
        "month_period": month_period,
        "ledger_position": getattr(run, "ledger_position", None),
        "headline": _headline(figures, month_figures),
        "roll_forward": {key: million(totals[key]) for key in ROLL_FORWARD},
        "roll_forward_holds": roll_forward_holds(totals),
        "tables": tables,
        "generated_at": getattr(run, "finished_at", None) or getattr(run, "started_at", None),
    }


def render_html(figures: dict, *, office, run=None, month_figures: dict | None = None) -> str:
    with translation.override(PDF_LANGUAGE):
        context = pack_context(figures, office=office, run=run, month_figures=month_figures)
        return render_to_string("reports/pdf/pack.html", context)


def render_pdf(figures: dict, *, office, run=None, month_figures: dict | None = None) -> bytes:
    """The monthly pack: A4 landscape, Vietnamese, DejaVu Sans, 'Trang x/y' in the footer."""
    return render_pdf_pages(figures, office=office, run=run, month_figures=month_figures)[0]


def render_pdf_pages(
    figures: dict, *, office, run=None, month_figures: dict | None = None
) -> tuple[bytes, int]:
    """The PDF and its page count."""
    from weasyprint import HTML  # heavy import: only where a PDF is made

    html = render_html(figures, office=office, run=run, month_figures=month_figures)
    document = HTML(string=html).render()
    return document.write_pdf(), len(document.pages)


# --- XLSX ----------------------------------------------------------------------------------------

SHEETS = (
    ("by_programme", pgettext_lazy("report", "By programme")),
    ("by_commune", pgettext_lazy("report", "By commune")),
    ("by_organisation", pgettext_lazy("report", "By organisation")),
    ("by_group", pgettext_lazy("report", "By group")),
)


def render_xlsx(figures: dict, *, month_figures: dict | None = None) -> bytes:
    """One sheet per table; amounts as VND integers, counts as integers, headers in Vietnamese.
    The first sheet holds the totals (and the month's, when given) key by key."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    with translation.override(PDF_LANGUAGE):
        labels = _labels()
        workbook = Workbook()
        summary = workbook.active
        summary.title = pgettext("report", "Totals")
        summary.append([pgettext("report", "Office"), figures["office"]])
        summary.append([pgettext("report", "From"), _date(figures["from"])])
        summary.append([pgettext("report", "As of"), _date(figures["as_of"])])
        header = [
            pgettext("report", "Figure"),
            pgettext("report", "Key"),
            pgettext("report", "Period"),
        ]
        if month_figures is not None:
            header.append(pgettext("report", "Month"))
        summary.append(header)
        for key in FIGURE_KEYS:
            line = [labels[key], key, figures["totals"][key]]
            if month_figures is not None:
                line.append(month_figures["totals"][key])
            summary.append(line)
        for cell in summary[4]:
            cell.font = bold
        for row in summary.iter_rows(min_row=2, max_row=3, min_col=2, max_col=2):
            row[0].number_format = "DD/MM/YYYY"
        summary.column_dimensions["A"].width = 30
        _number_format(summary, min_row=5, min_col=3)

        for name, title in SHEETS:
            sheet = workbook.create_sheet(str(title))
            sheet.append([labels["code"], labels["name"], *(labels[k] for k in FIGURE_KEYS)])
            sheet.append(["", "", *FIGURE_KEYS])  # the JSON keys, for formulas and imports
            for row in figures[name]:
                sheet.append([row["code"], row["name"], *(row[k] for k in FIGURE_KEYS)])
            sheet.append(
                ["", pgettext("report", "Total"), *(figures["totals"][k] for k in FIGURE_KEYS)]
            )
            for cell in (*sheet[1], *sheet[sheet.max_row]):
                cell.font = bold
            sheet.freeze_panes = "C3"
            sheet.column_dimensions["B"].width = 32
            _number_format(sheet, min_row=3, min_col=3)
        buffer = io.BytesIO()
        workbook.save(buffer)
    return buffer.getvalue()


def _number_format(sheet, *, min_row: int, min_col: int) -> None:
    for row in sheet.iter_rows(min_row=min_row, min_col=min_col):
        for cell in row:
            if isinstance(cell.value, int):
                cell.number_format = "#,##0"
