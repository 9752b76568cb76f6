"""An independent computation of the period figures of issue 3, for the property tests.

Written from the definitions, in plain Python over the raw ledger rows; it does not call
reports.selectors and does not read `counted_kind` or `d_outstanding`:

- an entry's principal effect follows from its kind and amount (disbursement and transfer in
  add, repayment, write-off and transfer out take away, the rest leave principal alone), and a
  reversal's is minus that of the entry it points at;
- a flow column is the kind's own, and a reversal counts negatively in the column of the entry
  it points at, on the reversal's own value date;
- overdue and frozen principal are the sums of the entries' recorded d_overdue / d_frozen (the
  split of a reduction is the posting's business, checked separately in the tests);
- customers with balance are households whose principal outstanding (over their loans in the
  row) is positive; loan-turns are loans whose earliest disbursement that no reversal dated by
  as_of cancels falls in the period.
"""

import datetime as dt
from collections import defaultdict

from loans.models import Loan, LoanTransaction

FLOW_COLUMN = {
    "disbursement": "disbursed",
    "principal_repayment": "collected",
    "write_off": "written_off",
    "interest_payment": "interest_collected",
    # Paid ahead is collected when paid; the credit's later use is not collected again.
    "interest_prepayment": "interest_collected",
    "interest_write_off": "interest_written_off",
    "transfer_out": "transferred_out",
    "transfer_in": "transferred_in",
}
PRINCIPAL_SIGN = {
    "disbursement": 1,
    "transfer_in": 1,
    "principal_repayment": -1,
    "write_off": -1,
    "transfer_out": -1,
}
AMOUNT_KEYS = (
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
    "interest_written_off",
)
COUNT_KEYS = ("customers_with_balance", "loan_turns", "workers_employed", "works_built")
KEYS = AMOUNT_KEYS + COUNT_KEYS
DIMENSIONS = ("programme", "commune", "organisation", "group")


def snapshot():
    """The raw rows the oracle works from: every ledger entry and every loan's attributes."""
    entries = list(
        LoanTransaction.objects.order_by("id").values(
            "id",
            "office_id",
            "loan_id",
            "kind",
            "value_date",
            "amount",
            "d_overdue",
            "d_frozen",
            "reverses_id",
        )
    )
    loans = {
        row["id"]: row
        for row in Loan.objects.values(
            "id",
            "office_id",
            "household_id",
            "workers_employed",
            "works_built",
            "programme__code",
            "programme__name",
            "group__code",
            "group__name",
            "group__village__commune__code",
            "group__village__commune__name",
            "household__village__commune__code",
            "household__village__commune__name",
            "group__chapter__organisation__code",
            "group__chapter__organisation__name",
        )
    }
    return entries, loans


def principal_effect(entry: dict, by_id: dict) -> int:
    if entry["kind"] == "reversal":
        return -principal_effect(by_id[entry["reverses_id"]], by_id)
    return PRINCIPAL_SIGN.get(entry["kind"], 0) * entry["amount"]


def column(entry: dict, by_id: dict) -> tuple[str | None, int]:
    """(flow column, sign) the entry counts in."""
    if entry["kind"] == "reversal":
        target, _sign = column(by_id[entry["reverses_id"]], by_id)
        return target, -1
    return FLOW_COLUMN.get(entry["kind"]), 1


def row_keys(loan: dict) -> dict[str, tuple[str, str | None]]:
    """The (code, name) of each breakdown row a loan counts in."""
    grouped = loan["group__code"] is not None
    if grouped:
        commune = (loan["group__village__commune__code"], loan["group__village__commune__name"])
        organisation = (
            loan["group__chapter__organisation__code"],
            loan["group__chapter__organisation__name"],
        )
        group = (loan["group__code"], loan["group__name"])
    else:
        commune = (
            loan["household__village__commune__code"],
            loan["household__village__commune__name"],
        )
        organisation = ("direct", None)
        group = ("direct", None)
    return {
        "programme": (loan["programme__code"], loan["programme__name"]),
        "commune": commune,
        "organisation": organisation,
        "group": group,
    }


def per_loan(entries, office_id: int, start: dt.date, as_of: dt.date) -> dict[int, dict]:
    """Each loan's own figures (amount keys, closing per loan, first unreversed disbursement)."""
    by_id = {e["id"]: e for e in entries}
    reversed_by_as_of = {
        e["reverses_id"] for e in entries if e["kind"] == "reversal" and e["value_date"] <= as_of
    }
    loans: dict[int, dict] = {}
    for e in entries:
        if e["office_id"] != office_id or e["value_date"] > as_of:
            continue
        f = loans.setdefault(e["loan_id"], dict.fromkeys(AMOUNT_KEYS, 0) | {"first": None})
        p = principal_effect(e, by_id)
        f["closing"] += p
        f["overdue"] += e["d_overdue"]
        f["frozen"] += e["d_frozen"]
        if e["value_date"] < start:
            f["opening"] += p
        else:
            col, sign = column(e, by_id)
            if col is not None:
                f[col] += sign * e["amount"]
        if e["kind"] == "disbursement" and e["id"] not in reversed_by_as_of:
            f["first"] = e["value_date"] if f["first"] is None else min(f["first"], e["value_date"])
    return loans


def _aggregate(items, loans_meta, start, as_of) -> dict:
    """Figures of a set of (loan id, per-loan figures)."""
    row = dict.fromkeys(KEYS, 0)
    household_balance: dict[int, int] = defaultdict(int)
    for loan_id, f in items:
        meta = loans_meta[loan_id]
        for k in AMOUNT_KEYS:
            row[k] += f[k]
        household_balance[meta["household_id"]] += f["closing"]
        if f["first"] is not None and start <= f["first"] <= as_of:
            row["loan_turns"] += 1
            row["workers_employed"] += meta["workers_employed"]
            row["works_built"] += meta["works_built"]
    row["customers_with_balance"] = sum(1 for b in household_balance.values() if b > 0)
    return row


def figures(entries, loans_meta, office_id: int, start: dt.date, as_of: dt.date) -> dict:
    """{"totals": {...}, "by_programme": {code: {name, ...keys}}, ...} by the definitions."""
    loans = per_loan(entries, office_id, start, as_of)
    result = {"totals": _aggregate(loans.items(), loans_meta, start, as_of)}
    for dimension in DIMENSIONS:
        members: dict[str, list] = defaultdict(list)
        names: dict[str, str | None] = {}
        for loan_id, f in loans.items():
            code, name = row_keys(loans_meta[loan_id])[dimension]
            members[code].append((loan_id, f))
            names[code] = name
        result[f"by_{dimension}"] = {
            code: {"name": names[code], **_aggregate(items, loans_meta, start, as_of)}
            for code, items in members.items()
        }
    return result
