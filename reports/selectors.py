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

A single query takes every loan's balances from the newest month-end snapshot before the period
(reports.snapshots: derived from the ledger when a month is closed) plus the ledger entries dated
after it, joins each loan to its programme, commune, organisation and group ids, and rolls it up
with GROUPING SETS: the totals and all four breakdowns come out of one pass. Without a snapshot
it sums the whole ledger up to as_of; both give the same figures (tests/reports).
"""

import datetime as dt

from django.db import connection, transaction
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

# Every loan's balances at as_of and its flows in [start, as_of]: a month-end snapshot taken on
# or before start − 1 (reports.snapshots; none: snapshot NULL, since = 0001-01-01) plus the ledger
# entries dated after it. Shared by the figures and by the snapshots themselves.
PER_LOAN_SQL = """
snap AS (
    SELECT loan_id, outstanding, overdue, frozen, first_disbursed
      FROM reports_monthendbalance
     WHERE snapshot_id = %(snapshot)s
),
moves AS (
    SELECT t.loan_id,
           SUM(t.d_outstanding) FILTER (WHERE t.value_date < %(start)s) AS d_opening,
           SUM(t.d_outstanding) AS d_closing,
           SUM(t.d_overdue) AS d_overdue,
           SUM(t.d_frozen) AS d_frozen,
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
               AS first_disbursed,
           BOOL_OR(t.kind = 'reversal' AND t.counted_kind = 'disbursement')
               AS disbursement_reversed
      FROM loans_loantransaction t
      -- the reversal (if any, by as_of) of each entry: reverses_id is unique
      LEFT JOIN loans_loantransaction r
             ON r.reverses_id = t.id AND r.value_date <= %(as_of)s
     WHERE t.office_id = %(office)s AND t.value_date > %(since)s AND t.value_date <= %(as_of)s
     GROUP BY t.loan_id
),
balances AS (
    SELECT COALESCE(m.loan_id, s.loan_id) AS loan_id,
           COALESCE(s.outstanding, 0) + COALESCE(m.d_opening, 0) AS opening,
           COALESCE(s.outstanding, 0) + COALESCE(m.d_closing, 0) AS closing,
           COALESCE(s.overdue, 0) + COALESCE(m.d_overdue, 0) AS overdue,
           COALESCE(s.frozen, 0) + COALESCE(m.d_frozen, 0) AS frozen,
           m.disbursed, m.collected, m.written_off, m.interest_collected,
           m.transferred_out, m.transferred_in,
           CASE WHEN m.disbursement_reversed THEN (
                    -- a disbursement reversed after the snapshot: the snapshot's first
                    -- disbursement may be the one cancelled, so ask the ledger (rare)
                    SELECT MIN(d.value_date)
                      FROM loans_loantransaction d
                     WHERE d.loan_id = m.loan_id AND d.office_id = %(office)s
                       AND d.kind = 'disbursement' AND d.value_date <= %(as_of)s
                       AND NOT EXISTS (
                           SELECT 1 FROM loans_loantransaction x
                            WHERE x.reverses_id = d.id AND x.value_date <= %(as_of)s))
                ELSE LEAST(s.first_disbursed, m.first_disbursed) END AS first_disbursed
      FROM snap s
      FULL JOIN moves m ON m.loan_id = s.loan_id
)
"""

# Per loan on integer ids only, rolled up with GROUPING SETS, names joined to the few result rows
# at the end: carrying names through a million loans made the sort spill to disk.
FIGURES_SQL = (
    "WITH"
    + PER_LOAN_SQL
    + """,
per_loan AS (
    SELECT b.*,
           l.household_id,
           l.programme_id,
           l.group_id,
           ch.organisation_id,
           COALESCE(gv.commune_id, (
               -- a direct loan (no group): the household's village
               SELECT v.commune_id
                 FROM borrowers_household h
                 JOIN borrowers_village v ON v.id = h.village_id
                WHERE h.id = l.household_id)) AS commune_id,
           (b.first_disbursed >= %(start)s) IS TRUE AS is_turn,
           l.workers_employed,
           l.works_built
      FROM balances b
      JOIN loans_loan l ON l.id = b.loan_id
      LEFT JOIN borrowers_savingsgroup g ON g.id = l.group_id
      LEFT JOIN borrowers_village gv ON gv.id = g.village_id
      LEFT JOIN borrowers_chapter ch ON ch.id = g.chapter_id
),
rolled AS (
    SELECT GROUPING(programme_id) AS by_programme, GROUPING(commune_id) AS by_commune,
           GROUPING(organisation_id) AS by_organisation, GROUPING(group_id) AS by_group,
           programme_id, commune_id, organisation_id, group_id,
           COALESCE(SUM(opening), 0) AS opening, COALESCE(SUM(disbursed), 0) AS disbursed,
           COALESCE(SUM(collected), 0) AS collected,
           COALESCE(SUM(written_off), 0) AS written_off,
           COALESCE(SUM(interest_collected), 0) AS interest_collected,
           COALESCE(SUM(transferred_out), 0) AS transferred_out,
           COALESCE(SUM(transferred_in), 0) AS transferred_in,
           COALESCE(SUM(closing), 0) AS closing, COALESCE(SUM(overdue), 0) AS overdue,
           COALESCE(SUM(frozen), 0) AS frozen,
           COUNT(DISTINCT household_id) FILTER (WHERE closing > 0) AS customers,
           COUNT(*) FILTER (WHERE is_turn) AS loan_turns,
           COALESCE(SUM(workers_employed) FILTER (WHERE is_turn), 0) AS workers_employed,
           COALESCE(SUM(works_built) FILTER (WHERE is_turn), 0) AS works_built
      FROM per_loan
     GROUP BY GROUPING SETS ((), (programme_id), (commune_id), (organisation_id), (group_id))
)
SELECT CASE WHEN by_programme = 0 THEN 'programme'
            WHEN by_commune = 0 THEN 'commune'
            WHEN by_organisation = 0 THEN 'organisation'
            WHEN by_group = 0 THEN 'group'
            ELSE 'total' END AS dimension,
       CASE WHEN by_programme = 0 THEN p.code
            WHEN by_commune = 0 THEN c.code
            WHEN by_organisation = 0 THEN COALESCE(o.code, %(direct)s)
            WHEN by_group = 0 THEN COALESCE(g.code, %(direct)s) END AS code,
       CASE WHEN by_programme = 0 THEN p.name
            WHEN by_commune = 0 THEN c.name
            WHEN by_organisation = 0 THEN COALESCE(o.name, %(direct_name)s)
            WHEN by_group = 0 THEN COALESCE(g.name, %(direct_name)s) END AS name,
       opening, disbursed, collected, written_off, interest_collected,
       transferred_out, transferred_in, closing, overdue, frozen,
       customers, loan_turns, workers_employed, works_built,
       p.sort_order, COALESCE(o.id, 99)
  FROM rolled
  LEFT JOIN loans_programme p ON p.id = rolled.programme_id
  LEFT JOIN borrowers_commune c ON c.id = rolled.commune_id
  LEFT JOIN borrowers_organisation o ON o.id = rolled.organisation_id
  LEFT JOIN borrowers_savingsgroup g ON g.id = rolled.group_id
"""
)

# The report query reads a million rows once: compiling it (JIT) cost 5 s, and 4 MB of work
# memory made its aggregations spill to disk.
REPORT_SESSION_SQL = "SET LOCAL jit = off; SET LOCAL work_mem = '128MB'"


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
    from .snapshots import snapshot_before

    snapshot = snapshot_before(office=office, day=start)
    params = {
        "office": office.pk,
        "snapshot": snapshot.pk if snapshot else None,
        "since": snapshot.month_end if snapshot else dt.date.min,
        "start": start,
        "as_of": as_of,
        "direct": DIRECT,
        "direct_name": _("Direct loans"),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(REPORT_SESSION_SQL)
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


# --- Dashboard (additive) ------------------------------------------------------------------------

OUTSTANDING_BY_MONTH_SQL = """
WITH per_month AS (
    -- the ledger folded once into (month, programme) movements of principal
    SELECT date_trunc('month', t.value_date)::date AS month, l.programme_id,
           SUM(t.d_outstanding) AS d_outstanding
      FROM loans_loantransaction t
      JOIN loans_loan l ON l.id = t.loan_id
     WHERE t.office_id = %(office)s AND t.value_date <= %(as_of)s
     GROUP BY 1, 2
),
months AS (
    SELECT (date_trunc('month', %(as_of)s::date) - make_interval(months => n))::date AS month
      FROM generate_series(0, %(months)s - 1) AS n
)
SELECT m.month,
       LEAST((m.month + interval '1 month' - interval '1 day')::date, %(as_of)s::date),
       p.code, p.name,
       COALESCE(SUM(pm.d_outstanding) FILTER (WHERE pm.month <= m.month), 0)
  FROM months m
 CROSS JOIN per_month pm
  JOIN loans_programme p ON p.id = pm.programme_id
 GROUP BY m.month, p.code, p.name, p.sort_order
 ORDER BY m.month, p.sort_order, p.code
"""


def _month_ends(*, months: int, as_of: dt.date) -> list[dt.date]:
    """The last `months` month ends, oldest first; the current month ends at as_of."""
    ends, first = [as_of], as_of.replace(day=1)
    for _n in range(months - 1):
        ends.append(first - dt.timedelta(days=1))
        first = ends[-1].replace(day=1)
    return ends[::-1]


def outstanding_by_month(*, office, months: int, as_of: dt.date) -> dict:
    """Principal outstanding at each of the last `months` month ends (the current month ends at
    as_of), by programme, from one aggregation of the ledger. Returns
    {"month_ends": [ISO dates, oldest first], "programmes": [{"code", "name", "values": [VND]}]},
    leaving out programmes with no balance in any of those months."""
    with connection.cursor() as cursor:
        cursor.execute(
            OUTSTANDING_BY_MONTH_SQL, {"office": office.pk, "as_of": as_of, "months": months}
        )
        rows = cursor.fetchall()
    month_ends = _month_ends(months=months, as_of=as_of)
    series: dict[str, dict] = {}
    for _month, end, code, name, outstanding in rows:
        row = series.setdefault(code, {"code": code, "name": name, "values": {}})
        row["values"][end] = int(outstanding)
    programmes = [
        {
            "code": s["code"],
            "name": s["name"],
            "values": [s["values"].get(e, 0) for e in month_ends],
        }
        for s in series.values()
        if any(s["values"].values())
    ]
    return {"month_ends": [e.isoformat() for e in month_ends], "programmes": programmes}


def runs_for_user(user):
    """Report runs of the user's offices, without their files."""
    from borrowers.selectors import office_ids_for

    from .models import ReportRun

    return (
        ReportRun.objects.filter(office_id__in=office_ids_for(user))
        .select_related("office", "requested_by")
        .defer("pdf", "xlsx", "figures", "month_figures")
    )


def get_run_for_user(user, pk: int, *, manage: bool = False):
    """404 outside the user's offices; PermissionDenied when a non-manager acts on a run."""
    from django.http import Http404

    from borrowers.selectors import check_scope

    run = runs_for_user(user).filter(pk=pk).first()
    if run is None:
        raise Http404
    check_scope(user, run.office, manage=manage)
    return run
