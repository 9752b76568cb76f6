"""Period figures of an office, computed from the ledger by SQL aggregation.

One definition (issue 3, "Figures") for every report, the dashboard and the demo check. For an
office and a period [start, as_of] of value dates:

- balances (opening, closing, overdue, frozen) are sums of the signed d_outstanding / d_overdue /
  d_frozen of the entries up to a date;
- flows (disbursed, collected, written_off, interest_collected, transferred_out/in) are sums of
  amounts with value date in the period, a reversal counting negatively in the column of the kind
  it cancels (counted_kind), on its own value date;
- loan_turns are loans whose first disbursement not reversed by as_of falls in the period, and
  workers_employed / works_built sum those loans' outcome fields.

A single query aggregates the ledger per loan, joins each loan to its programme, commune,
organisation and group, and rolls it up with GROUPING SETS: the totals and all four breakdowns
come out of one scan.
"""

import datetime as dt

from django.db import connection
from django.utils.translation import gettext as _

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
)
COUNT_KEYS = ("customers_with_balance", "loan_turns", "workers_employed", "works_built")
FIGURE_KEYS = AMOUNT_KEYS + COUNT_KEYS
# Keys whose rows add up to the totals (a household with loans in two rows counts in both).
ADDITIVE_KEYS = AMOUNT_KEYS + ("loan_turns", "workers_employed", "works_built")

DIRECT = "direct"

FIGURES_SQL = """
WITH entries AS (
    SELECT t.loan_id,
           SUM(t.d_outstanding) FILTER (WHERE t.value_date < %(start)s) AS opening,
           SUM(t.d_outstanding) AS closing,
           SUM(t.d_overdue) AS overdue,
           SUM(t.d_frozen) AS frozen,
           SUM(CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END)
               FILTER (WHERE t.value_date >= %(start)s AND t.counted_kind = 'disbursement')
               AS disbursed,
           SUM(CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END)
               FILTER (WHERE t.value_date >= %(start)s
                         AND t.counted_kind = 'principal_repayment') AS collected,
           SUM(CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END)
               FILTER (WHERE t.value_date >= %(start)s AND t.counted_kind = 'write_off')
               AS written_off,
           SUM(CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END)
               FILTER (WHERE t.value_date >= %(start)s
                         AND t.counted_kind = 'interest_payment') AS interest_collected,
           SUM(CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END)
               FILTER (WHERE t.value_date >= %(start)s AND t.counted_kind = 'transfer_out')
               AS transferred_out,
           SUM(CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END)
               FILTER (WHERE t.value_date >= %(start)s AND t.counted_kind = 'transfer_in')
               AS transferred_in,
           MIN(t.value_date) FILTER (WHERE t.kind = 'disbursement' AND r.id IS NULL)
               AS first_disbursed
      FROM loans_loantransaction t
      -- the reversal (if any, by as_of) of each entry: reverses_id is unique
      LEFT JOIN loans_loantransaction r
             ON r.reverses_id = t.id AND r.value_date <= %(as_of)s
     WHERE t.office_id = %(office)s AND t.value_date <= %(as_of)s
     GROUP BY t.loan_id
),
per_loan AS (
    SELECT e.*,
           l.household_id,
           (e.first_disbursed >= %(start)s) IS TRUE AS is_turn,
           l.workers_employed,
           l.works_built,
           p.code AS programme_code, p.name AS programme_name, p.sort_order AS programme_order,
           c.code AS commune_code, c.name AS commune_name,
           COALESCE(o.code, %(direct)s) AS organisation_code,
           COALESCE(o.name, %(direct_name)s) AS organisation_name,
           COALESCE(o.id, 99) AS organisation_order,
           COALESCE(g.code, %(direct)s) AS group_code,
           COALESCE(g.name, %(direct_name)s) AS group_name
      FROM entries e
      JOIN loans_loan l ON l.id = e.loan_id
      JOIN loans_programme p ON p.id = l.programme_id
      JOIN borrowers_household h ON h.id = l.household_id
      LEFT JOIN borrowers_savingsgroup g ON g.id = l.group_id
      LEFT JOIN borrowers_chapter ch ON ch.id = g.chapter_id
      LEFT JOIN borrowers_organisation o ON o.id = ch.organisation_id
      JOIN borrowers_village v ON v.id = COALESCE(g.village_id, h.village_id)
      JOIN borrowers_commune c ON c.id = v.commune_id
)
SELECT CASE WHEN GROUPING(programme_code) = 0 THEN 'programme'
            WHEN GROUPING(commune_code) = 0 THEN 'commune'
            WHEN GROUPING(organisation_code) = 0 THEN 'organisation'
            WHEN GROUPING(group_code) = 0 THEN 'group'
            ELSE 'total' END AS dimension,
       COALESCE(programme_code, commune_code, organisation_code, group_code) AS code,
       CASE WHEN GROUPING(programme_code) = 0 THEN MIN(programme_name)
            WHEN GROUPING(commune_code) = 0 THEN MIN(commune_name)
            WHEN GROUPING(organisation_code) = 0 THEN MIN(organisation_name)
            WHEN GROUPING(group_code) = 0 THEN MIN(group_name) END AS name,
       COALESCE(SUM(opening), 0), COALESCE(SUM(disbursed), 0), COALESCE(SUM(collected), 0),
       COALESCE(SUM(written_off), 0), COALESCE(SUM(interest_collected), 0),
       COALESCE(SUM(transferred_out), 0), COALESCE(SUM(transferred_in), 0),
       COALESCE(SUM(closing), 0), COALESCE(SUM(overdue), 0), COALESCE(SUM(frozen), 0),
       COUNT(DISTINCT household_id) FILTER (WHERE closing > 0),
       COUNT(*) FILTER (WHERE is_turn),
       COALESCE(SUM(workers_employed) FILTER (WHERE is_turn), 0),
       COALESCE(SUM(works_built) FILTER (WHERE is_turn), 0),
       MIN(programme_order), MIN(organisation_order)
  FROM per_loan
 GROUP BY GROUPING SETS ((), (programme_code), (commune_code), (organisation_code), (group_code))
"""


def _empty(code: str = "", name: str = "") -> dict:
    row = {"code": code, "name": name}
    row.update(dict.fromkeys(FIGURE_KEYS, 0))
    return row


def figures_for_period(*, office, start: dt.date, as_of: dt.date) -> dict:
    """The figures of an office for [start, as_of]: the totals (the keys of FIGURE_KEYS) and the
    lists by_programme, by_commune, by_organisation and by_group of rows with code, name and the
    same keys. Amounts are whole VND."""
    if as_of < start:
        raise ValueError("as_of is before start")
    params = {
        "office": office.pk,
        "start": start,
        "as_of": as_of,
        "direct": DIRECT,
        "direct_name": _("Direct loans"),
    }
    with connection.cursor() as cursor:
        cursor.execute(FIGURES_SQL, params)
        rows = cursor.fetchall()
    result = _empty()
    del result["code"], result["name"]
    breakdowns: dict[str, list[tuple]] = {
        "programme": [],
        "commune": [],
        "organisation": [],
        "group": [],
    }
    for dimension, code, name, *values in rows:
        figures = dict(zip(FIGURE_KEYS, (int(v) for v in values[: len(FIGURE_KEYS)]), strict=True))
        programme_order, organisation_order = values[len(FIGURE_KEYS) :]
        if dimension == "total":
            result.update(figures)
            continue
        sort_key = {
            "programme": (programme_order, code),
            "organisation": (organisation_order, code),
        }.get(dimension, (code == DIRECT, name if dimension == "commune" else code))
        breakdowns[dimension].append((sort_key, {"code": code, "name": name, **figures}))
    for dimension, items in breakdowns.items():
        result[f"by_{dimension}"] = [row for _key, row in sorted(items, key=lambda i: i[0])]
    return result


def roll_forward_holds(row: dict) -> bool:
    """closing = opening + disbursed − collected − written off − transferred out + in."""
    return row["closing"] == (
        row["opening"]
        + row["disbursed"]
        - row["collected"]
        - row["written_off"]
        - row["transferred_out"]
        + row["transferred_in"]
    )


def rows_sum_to_totals(figures: dict, dimension: str) -> bool:
    """Whether the rows of one breakdown add up to the totals on every additive key."""
    rows = figures[f"by_{dimension}"]
    return all(sum(row[key] for row in rows) == figures[key] for key in ADDITIVE_KEYS)


# --- Report packs (additive helpers for reports.services / reports.rendering) -------------------

BREAKDOWNS = ("by_programme", "by_commune", "by_organisation", "by_group")


def report_figures(*, office, start: dt.date, as_of: dt.date) -> dict:
    """The `portfolio_report --json` object: office code, period as ISO dates, the totals and
    the four breakdowns (plain JSON types: the amounts are whole VND integers)."""
    figures = figures_for_period(office=office, start=start, as_of=as_of)
    return {
        "office": office.code,
        "from": start.isoformat(),
        "as_of": as_of.isoformat(),
        "totals": {key: figures[key] for key in FIGURE_KEYS},
        **{name: figures[name] for name in BREAKDOWNS},
    }


def month_start(*, start: dt.date, as_of: dt.date) -> dt.date:
    """The first day of the month that ends at as_of, not before the period's start."""
    return max(start, as_of.replace(day=1))


def programmes_in_use(report: dict) -> int:
    """Credit programmes with an outstanding balance at as_of."""
    return sum(1 for row in report["by_programme"] if row["closing"] > 0)


def ratio_percent(part: int, whole: int) -> float | None:
    """A display ratio in per cent (not money: never fed back into amounts)."""
    return None if not whole else round(100 * part / whole, 2)
