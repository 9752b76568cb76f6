"""reports/figures.py lists the figures once; what it derives keeps the stored shape."""

from hypothesis import given
from hypothesis import strategies as st

from loans.models import TransactionKind
from reports.figures import ADDITIVE_KEYS, FIGURE_COLUMNS, FIGURE_KEYS, FLOW_KINDS
from reports.selectors import roll_forward_holds

# A ReportRun's stored totals carry these keys in this order (stored data: never renamed).
STORED_KEYS = (
    "opening",
    "disbursed",
    "collected",
    "written_off",
    "interest_collected",
    "transferred_out",
    "transferred_in",
    "closing",
    "overdue",
    "frozen",
    "customers_with_balance",
    "loan_turns",
    "workers_employed",
    "works_built",
    "interest_written_off",
)


def test_the_keys_are_the_stored_ones_and_the_sql_names_one_differently():
    assert FIGURE_KEYS == STORED_KEYS
    renamed = {k: c for k, c in zip(FIGURE_KEYS, FIGURE_COLUMNS, strict=True) if k != c}
    assert renamed == {"customers_with_balance": "customers"}
    assert set(FIGURE_KEYS) - set(ADDITIVE_KEYS) == {"customers_with_balance"}


amounts = st.integers(min_value=-(10**15), max_value=10**15)


@given(st.fixed_dictionaries(dict.fromkeys(STORED_KEYS[:7], amounts)), st.booleans())
def test_the_roll_forward_is_the_written_formula(row, holds):
    closing = (
        row["opening"]
        + row["disbursed"]
        - row["collected"]
        - row["written_off"]
        - row["transferred_out"]
        + row["transferred_in"]
    )
    row["closing"] = closing if holds else closing + 1
    assert roll_forward_holds(row) is holds


def test_each_flow_sums_one_ledger_kind():
    assert FLOW_KINDS == (
        ("disbursed", "disbursement"),
        ("collected", "principal_repayment"),
        ("written_off", "write_off"),
        ("interest_collected", "interest_payment"),
        ("transferred_out", "transfer_out"),
        ("transferred_in", "transfer_in"),
        ("interest_written_off", "interest_write_off"),
    )
    assert {kind for _column, kind in FLOW_KINDS} <= set(TransactionKind.values)
