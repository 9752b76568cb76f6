"""The figures of a report, listed once.

Every other module of reports/ reads this list: the SQL names its columns from it (sql.py), the
selectors key their rows by it (a ReportRun's stored JSON uses `key`, so a key never changes), the
PDF and the XLSX label and format their cells by it (rendering.py). One figure is stored under one
name and computed under another: the households with a balance are `customers_with_balance` in
the JSON and `customers` in the SQL (and in the snapshot's roll-up table).

This module imports nothing of the project: it is the bottom of reports/.
"""

from dataclasses import dataclass

from django.utils.translation import pgettext_lazy


@dataclass(frozen=True)
class Figure:
    key: str  # the JSON key of ReportRun.figures (stored data: never rename)
    column: str  # the column in reports/sql.py's statements
    label: str  # pgettext "report" context: English here, Vietnamese from the catalogue
    cell: str = "amount"  # amount (whole VND, printed in millions) or count
    # A flow's ledger kind: the figure sums the period's entries of that kind (a reversal counts
    # negatively, in the kind it cancels). Empty for a balance or a count.
    flow_kind: str = ""
    # Its sign in the roll-forward (closing = opening + disbursed − collected − written off −
    # transferred out + transferred in); 0 when the figure is not a term of it.
    roll_forward: int = 0
    # Whether a breakdown's rows add up to the totals (a household with loans in two rows counts
    # in both, so the customers do not).
    additive: bool = True
    # Its line in a pack's headline and on the dashboard (pgettext "report"): the bank's wording
    # for a figure in a sentence, where the table's column heading is `label`.
    headline: str = ""


FIGURES: tuple[Figure, ...] = (
    Figure(
        "opening",
        "opening",
        pgettext_lazy("report", "Opening balance"),
        roll_forward=+1,
        headline=pgettext_lazy("report", "Outstanding at the start of the period"),
    ),
    Figure(
        "disbursed",
        "disbursed",
        pgettext_lazy("report", "Disbursed"),
        flow_kind="disbursement",
        roll_forward=+1,
        headline=pgettext_lazy("report", "Lending turnover"),
    ),
    Figure(
        "collected",
        "collected",
        pgettext_lazy("report", "Collected"),
        flow_kind="principal_repayment",
        roll_forward=-1,
        headline=pgettext_lazy("report", "Collection turnover (principal)"),
    ),
    Figure(
        "written_off",
        "written_off",
        pgettext_lazy("report", "Written off"),
        flow_kind="write_off",
        roll_forward=-1,
        headline=pgettext_lazy("report", "Written off"),
    ),
    Figure(
        "interest_collected",
        "interest_collected",
        pgettext_lazy("report", "Interest collected"),
        flow_kind="interest_payment",
        headline=pgettext_lazy("report", "Interest collected"),
    ),
    Figure(
        "transferred_out",
        "transferred_out",
        pgettext_lazy("report", "Transferred out"),
        flow_kind="transfer_out",
        roll_forward=-1,
    ),
    Figure(
        "transferred_in",
        "transferred_in",
        pgettext_lazy("report", "Transferred in"),
        flow_kind="transfer_in",
        roll_forward=+1,
    ),
    Figure(
        "closing",
        "closing",
        pgettext_lazy("report", "Closing balance"),
        headline=pgettext_lazy("report", "Total outstanding"),
    ),
    Figure(
        "overdue",
        "overdue",
        pgettext_lazy("report", "Overdue"),
        headline=pgettext_lazy("report", "Overdue debt"),
    ),
    Figure(
        "frozen",
        "frozen",
        pgettext_lazy("report", "Frozen"),
        headline=pgettext_lazy("report", "Frozen debt"),
    ),
    Figure(
        "customers_with_balance",
        "customers",
        pgettext_lazy("report", "Customers with balance"),
        cell="count",
        additive=False,
        headline=pgettext_lazy("report", "Customers with an outstanding balance"),
    ),
    Figure(
        "loan_turns",
        "loan_turns",
        pgettext_lazy("report", "Loan-turns"),
        cell="count",
        headline=pgettext_lazy("report", "Loan-turns (households that borrowed)"),
    ),
    Figure(
        "workers_employed",
        "workers_employed",
        pgettext_lazy("report", "Workers employed"),
        cell="count",
        headline=pgettext_lazy("report", "Workers given jobs by the loans"),
    ),
    Figure("works_built", "works_built", pgettext_lazy("report", "Works built"), cell="count"),
    # Figures added later come last, so the keys of runs stored before keep their order.
    Figure(
        "interest_written_off",
        "interest_written_off",
        pgettext_lazy("report", "Interest written off"),
        flow_kind="interest_write_off",
    ),
)

BY_KEY = {figure.key: figure for figure in FIGURES}

# The JSON keys, in the order every table prints them.
FIGURE_KEYS = tuple(figure.key for figure in FIGURES)
AMOUNT_KEYS = tuple(figure.key for figure in FIGURES if figure.cell == "amount")
COUNT_KEYS = tuple(figure.key for figure in FIGURES if figure.cell == "count")
# Keys whose rows add up to the totals.
ADDITIVE_KEYS = tuple(figure.key for figure in FIGURES if figure.additive)
# The SQL columns, in the same order.
FIGURE_COLUMNS = tuple(figure.column for figure in FIGURES)
# The flow columns and the entry kind each sums.
FLOW_KINDS = tuple((figure.column, figure.flow_kind) for figure in FIGURES if figure.flow_kind)
# The roll-forward's terms (closing excluded) with their signs.
ROLL_FORWARD_TERMS = tuple(
    (figure.key, figure.roll_forward) for figure in FIGURES if figure.roll_forward
)
