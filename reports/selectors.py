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

A single query (reports/sql.py) computes the totals and all four breakdowns: from the whole ledger
up to as_of, rolled up with GROUPING SETS on each loan's programme, commune, organisation and
group; or, when a month-end snapshot before the period exists (reports.snapshots, taken when a
month is closed), from the snapshot's rolled-up balances plus what changed since. Both give the
same figures (tests/reports).

A report run's figures are read here too, in one snapshot with the ledger position
(`snapshot_figures`, which the build stores), and a finished run is compared with today's ledger
(`report_run_compare`).
"""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from loans.models import LoanTransaction
from savings.selectors import savings_mobilised

from .delta import can_share, delta_figure_rows
from .figures import ADDITIVE_KEYS, FIGURE_KEYS, ROLL_FORWARD_TERMS
from .models import MonthEndSnapshot, ReportRun
from .periods import month_ends_through
from .periods import month_start as month_start  # its old home: callers import it from here too
from .snapshots import snapshot_before
from .sql import FIGURES_SQL, REPORT_SESSION_SQL

DIRECT = "direct"


def _empty(code: str = "", name: str = "") -> dict:
    row: dict[str, str | int] = {"code": code, "name": name}
    row.update(dict.fromkeys(FIGURE_KEYS, 0))
    return row


# How figures_for_period reads the balances before the period (reports/sql.py): "ledger" sums
# every entry; "snapshot" takes each loan's row of the newest month-end snapshot before the
# period and adds its later entries; "delta" takes the snapshot's roll-up and adds only the
# loans that changed since (reports.delta); "auto" picks "delta" when few loans changed or when
# it can share the work over parallel sessions, else "snapshot".
METHODS = ("auto", "delta", "snapshot", "ledger")
# In one session "delta" costs ~4 times more per changed loan than "snapshot" per loan (BIG,
# June 2021). Shared over two sessions it is the cheaper even when most loans changed: BIG's
# year to date (790,000 of 1,000,000 loans changed) took 7.8 s against 15 s.
DELTA_SHARE = 4


def figures_for_period(*, office, start: dt.date, as_of: dt.date, method: str = "auto") -> dict:
    """The figures of an office for [start, as_of]: the totals (the keys of FIGURE_KEYS) and the
    lists by_programme, by_commune, by_organisation and by_group of rows with code, name and the
    same keys. Amounts are whole VND. The same figures whatever the method (METHODS)."""
    if as_of < start:
        raise ValueError("as_of is before start")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    # No savepoint of its own: a snapshot to share with parallel sessions cannot be exported
    # from one (reports.delta).
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        shareable = method in ("auto", "delta") and can_share()
        cursor.execute(REPORT_SESSION_SQL)
        snapshot = None
        if method != "ledger":
            snapshot = snapshot_before(office=office, day=start, hold=True)
        params = {
            "office": office.pk,
            "start": start,
            "as_of": as_of,
            "snapshot": None,
            "since": dt.date.min,
            "direct": DIRECT,
            "direct_name": _("Direct loans"),
        }
        if snapshot is not None:
            params.update(
                snapshot=snapshot.pk,
                since=snapshot.month_end,
                seen=snapshot.seen,
                seen_xmin=snapshot.seen_xmin,
                seen_txid=snapshot.seen_txid,
                seen_change=snapshot.seen_change,
            )
            if method in ("auto", "delta"):
                few = max(1, snapshot.loans // DELTA_SHARE)
                many = settings.REPORT_SHARE_MIN_ENTRIES
                sessions = max(1, settings.REPORT_SESSIONS) if shareable else 1
                # Counting stops where the answer is known: sharing needs `many` entries.
                changes = _entries_since(cursor, params, cap=many if sessions > 1 else few)
                shares = sessions if changes >= many else 1
                if method == "delta" or changes < few or shares > 1:
                    return _figures_from_rows(delta_figure_rows(params=params, shares=shares))
        cursor.execute(FIGURES_SQL, params)
        rows = cursor.fetchall()
    return _figures_from_rows(rows)


def _entries_since(cursor, params: dict, *, cap: int) -> int:
    """The office's entries dated after the snapshot, up to as_of, counted up to `cap` (on the
    covering index, stopping there)."""
    cursor.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM loans_loantransaction"
        " WHERE office_id = %(office)s AND value_date > %(since)s AND value_date <= %(as_of)s"
        " LIMIT %(cap)s) e",
        {**params, "cap": cap},
    )
    return cursor.fetchone()[0]


def _figures_from_rows(rows: list[tuple]) -> dict:
    result = _empty()
    del result["code"], result["name"]
    breakdowns: dict[str, list[tuple]] = {
        "programme": [],
        "commune": [],
        "organisation": [],
        "group": [],
    }
    width = len(FIGURE_KEYS)
    # Thirteen thousand rows at a million loans (one per group): no per-row helpers.
    for dimension, code, name, *values in rows:
        if dimension == "total":
            result.update(zip(FIGURE_KEYS, map(int, values[:width]), strict=True))
            continue
        if dimension == "programme":
            sort_key = (values[width], code)
        elif dimension == "organisation":
            sort_key = (values[width + 1], code)
        else:
            sort_key = (code == DIRECT, name if dimension == "commune" else code)
        row = {"code": code, "name": name}
        row.update(zip(FIGURE_KEYS, map(int, values[:width]), strict=True))
        breakdowns[dimension].append((sort_key, row))
    for dimension, items in breakdowns.items():
        items.sort(key=lambda item: item[0])
        result[f"by_{dimension}"] = [row for _key, row in items]
    return result


def roll_forward_holds(row: dict) -> bool:
    """closing = opening + disbursed − collected − written off − transferred out + in."""
    return row["closing"] == sum(sign * row[key] for key, sign in ROLL_FORWARD_TERMS)


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


def programmes_in_use(report: dict) -> int:
    """Credit programmes with an outstanding balance at as_of."""
    return sum(1 for row in report["by_programme"] if row["closing"] > 0)


def ratio_percent(part: int, whole: int) -> float | None:
    """A display ratio in per cent (not money: never fed back into amounts)."""
    return None if not whole else round(100 * part / whole, 2)


# --- Dashboard (additive) ------------------------------------------------------------------------

# Principal outstanding by programme at each month end of %(ends)s: the programme totals of its
# base snapshot (%(snapshots)s, the newest at or before it; none before the first) plus the
# principal moved after that snapshot (%(sinces)s) up to the month end. The ledger is folded once
# into (month, programme) movements, from the earliest base a month end needs: with a snapshot
# every month (month_close) that is the current month only; without any, the whole ledger.
OUTSTANDING_BY_MONTH_SQL = """
WITH based AS (
    SELECT *
      FROM unnest(%(ends)s::date[], %(snapshots)s::bigint[], %(sinces)s::date[])
           AS b(month_end, snapshot_id, since)
),
per_month AS (
    SELECT date_trunc('month', t.value_date)::date AS month, l.programme_id,
           SUM(t.d_outstanding) AS d_outstanding
      FROM loans_loantransaction t
      JOIN loans_loan l ON l.id = t.loan_id
     WHERE t.office_id = %(office)s AND t.value_date > %(after)s AND t.value_date <= %(as_of)s
     GROUP BY 1, 2
),
points AS (
    SELECT b.month_end, t.key AS programme_id, t.outstanding
      FROM based b
      JOIN reports_monthendtotal t
        ON t.snapshot_id = b.snapshot_id AND t.dimension = 'programme'
    UNION ALL
    -- a base is a month end, so the months after it are whole months
    SELECT b.month_end, pm.programme_id, SUM(pm.d_outstanding)
      FROM based b
      JOIN per_month pm ON pm.month > b.since AND pm.month <= b.month_end
     GROUP BY 1, 2
)
SELECT pt.month_end, p.code, p.name, COALESCE(SUM(pt.outstanding), 0)
  FROM points pt
  JOIN loans_programme p ON p.id = pt.programme_id
 GROUP BY pt.month_end, p.code, p.name, p.sort_order
 ORDER BY pt.month_end, p.sort_order, p.code
"""


def outstanding_by_month(*, office, months: int, as_of: dt.date) -> dict:
    """Principal outstanding at each of the last `months` month ends (the current month ends at
    as_of), by programme: a closed month's from its snapshot, the others from the newest
    snapshot before them plus the entries since (or the ledger where none is). Returns
    {"month_ends": [ISO dates, oldest first], "programmes": [{"code", "name", "values": [VND]}]},
    leaving out programmes with no balance in any of those months."""
    month_ends = month_ends_through(months=months, as_of=as_of)
    snapshots = list(
        MonthEndSnapshot.objects.filter(office=office, month_end__lte=as_of)
        .order_by("month_end")
        .values_list("id", "month_end")
    )
    bases = []
    for end in month_ends:
        base: tuple[int | None, dt.date] = (None, dt.date.min)
        for snapshot in snapshots:
            if snapshot[1] <= end:
                base = snapshot
        bases.append(base)
    # None (every month end is a snapshot's): the planner drops the fold.
    after = min(
        (since for (_id, since), end in zip(bases, month_ends, strict=True) if since < end),
        default=None,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            OUTSTANDING_BY_MONTH_SQL,
            {
                "office": office.pk,
                "ends": month_ends,
                "snapshots": [snapshot_id for snapshot_id, _since in bases],
                "sinces": [since for _id, since in bases],
                "after": after,
                "as_of": as_of,
            },
        )
        rows = cursor.fetchall()
    series: dict[str, dict] = {}
    for end, code, name, outstanding in rows:
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


def month_reopenings(*, office, limit: int = 12) -> list[dict]:
    """The latest reopenings of an office's months: which month, when, by whom and why (from the
    history event pghistory writes when a ClosedMonth row is deleted)."""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    events = list(
        apps.get_model("loans", "ClosedMonthEvent")
        .objects.filter(office=office, pgh_label="delete")
        .select_related("pgh_context")
        .order_by("-pgh_created_at", "-pgh_id")[:limit]
    )
    metadata = [event.pgh_context.metadata if event.pgh_context else {} for event in events]
    names = dict(
        get_user_model()
        .objects.filter(pk__in={m.get("user") for m in metadata} - {None})
        .values_list("pk", "username")
    )
    return [
        {
            "month": event.month,
            "at": event.pgh_created_at,
            "by": names.get(meta.get("user"), ""),
            "reason": meta.get("reason", ""),
        }
        for event, meta in zip(events, metadata, strict=True)
    ]


# --- A finished run against today's ledger ------------------------------------------------------


def snapshot_figures(run: ReportRun) -> tuple[int, dict, dict]:
    """Ledger position, period figures and month figures, all from one snapshot."""
    outer = connection.in_atomic_block  # in a test's transaction: that one is the snapshot
    with transaction.atomic():
        if not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        position = LoanTransaction.objects.aggregate(position=Max("id"))["position"] or 0
        figures = report_figures(office=run.office, start=run.start, as_of=run.as_of)
        month = report_figures(
            office=run.office,
            start=month_start(start=run.start, as_of=run.as_of),
            as_of=run.as_of,
        )
        # The month's savings mobilised, from the same snapshot (the pack's savings tables).
        figures["savings"] = savings_mobilised(
            office=run.office, start=month_start(start=run.start, as_of=run.as_of), as_of=run.as_of
        )
    return position, figures, month


@dataclass(frozen=True)
class Difference:
    table: str  # "totals", "by_programme", … ; "month.totals" for the month's figures
    code: str
    name: str
    key: str
    old: int
    new: int

    @property
    def change(self) -> int:
        return self.new - self.old


@dataclass
class Comparison:
    run: ReportRun
    ledger_position_then: int | None
    ledger_position_now: int
    differences: list[Difference] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.differences)


def _diff(prefix: str, old: dict, new: dict) -> list[Difference]:
    found = [
        # .get: a run stored before a figure was added has no value for it.
        Difference(f"{prefix}totals", "", "", key, old["totals"].get(key, 0), new["totals"][key])
        for key in FIGURE_KEYS
        if old["totals"].get(key, 0) != new["totals"][key]
    ]
    for table in BREAKDOWNS:
        before = {row["code"]: row for row in old[table]}
        after = {row["code"]: row for row in new[table]}
        for code in sorted(before.keys() | after.keys()):
            a, b = before.get(code, {}), after.get(code, {})
            name = b.get("name") or a.get("name") or ""
            for key in FIGURE_KEYS:
                if a.get(key, 0) != b.get(key, 0):
                    found.append(
                        Difference(prefix + table, code, name, key, a.get(key, 0), b.get(key, 0))
                    )
    return found


def report_run_compare(*, run: ReportRun) -> Comparison:
    """Rebuild a done run's figures from today's ledger and list what differs (a back-dated
    entry, a reversal in a closed period re-opened since, …)."""
    if run.status != ReportRun.Status.DONE:
        raise ValidationError(_("Only a finished report run can be compared."))
    position, figures, month = snapshot_figures(run)
    comparison = Comparison(run, run.ledger_position, position)
    comparison.differences = _diff("", run.figures or {}, figures)
    if run.month_figures is not None:
        comparison.differences += _diff("month.", run.month_figures, month)
    return comparison
