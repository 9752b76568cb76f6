"""Month-end snapshots: every loan's balances at the end of a closed month.

A report of a period reads the newest snapshot before it plus the ledger entries dated after it,
instead of re-summing the office's whole history (at a million loans, 24 times the cost of one
scan of the ledger). A snapshot is derived data, never a source of truth:

- taken when a month is closed, in the same transaction as the close, from the previous snapshot
  plus the entries dated after it (reports/sql.py BALANCES, the same SQL as the figures);
- valid because nothing can be posted on or before its day: the services refuse closed months
  (a month is closed when it or a later month is), and a trigger on the ledger table refuses
  such an insert by any path (migration reports 0002); reopening a month drops the snapshots
  from that month on;
- checked: `check_ledger` compares each office's newest snapshot with the ledger summed from
  scratch, `rebuild_month_end_snapshots` recomputes them;
- pruned: the last 24 months and every year end are kept (`snapshots_prune`, a daily task); a
  report whose newest snapshot before it was pruned starts from an older kept one.

Each row also keeps the loan's breakdown keys (programme, commune, organisation, group,
household) and MonthEndTotal the snapshot rolled up by them, so a report adds only what changed
since: loans with later entries, and loans whose keys changed (a group moved to another
village...), which triggers log in DimensionChange (reports/sql.py, DELTA_SQL).
"""

import datetime as dt

from django.db import connection, transaction

from borrowers.models import Office

from .models import MonthEndSnapshot
from .periods import month_end
from .sql import (
    CHECK_ROWS_SQL,
    CHECK_TOTALS_SQL,
    REPORT_SESSION_SQL,
    TAKE_ROWS_SQL,
    TAKE_TOTALS_SQL,
)


def snapshot_before(*, office: Office, day: dt.date, hold: bool = False):
    """The newest snapshot of the office dated before `day`. With hold (inside a transaction),
    its row is locked FOR KEY SHARE until the transaction ends, so that a reopening or a
    rebuild cannot delete its rows between this and the query that reads them."""
    snapshot = (
        MonthEndSnapshot.objects.filter(office=office, month_end__lt=day)
        .order_by("-month_end")
        .first()
    )
    if snapshot is not None and hold:
        with connection.cursor() as cursor:
            # Under REPEATABLE READ (a report run) the transaction's snapshot keeps seeing the
            # rows whatever commits meanwhile; only READ COMMITTED, a new snapshot per
            # statement, needs the lock (and a read-only transaction could not take it).
            cursor.execute("SELECT current_setting('transaction_isolation')")
            if cursor.fetchone()[0] != "read committed":
                return snapshot
            cursor.execute(
                "SELECT id FROM reports_monthendsnapshot WHERE id = %s FOR KEY SHARE",
                [snapshot.pk],
            )
            if cursor.fetchone() is None:  # deleted meanwhile: take the one before it
                return snapshot_before(office=office, day=snapshot.month_end, hold=True)
    return snapshot


def _params(*, office: Office, base: MonthEndSnapshot | None, as_of: dt.date) -> dict:
    return {
        "office": office.pk,
        "snapshot": base.pk if base else None,
        "since": base.month_end if base else dt.date.min,
        "start": as_of + dt.timedelta(days=1),  # no flows: balances only
        "as_of": as_of,
    }


# What the next statement will see of the breakdown keys (see MonthEndSnapshot.seen).
SEEN_SQL = """
SELECT pg_current_snapshot()::text,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
       pg_current_xact_id()::text::bigint,
       COALESCE((SELECT MAX(id) FROM reports_dimensionchange), 0)
"""


@transaction.atomic
def snapshot_take(*, office: Office, month_end: dt.date, from_scratch: bool = False):
    """Take (or retake) the office's snapshot at a month end, from the newest earlier snapshot
    plus the entries after it (or from the whole ledger), with each loan's current breakdown
    keys, and roll it up."""
    if MonthEndSnapshot.objects.filter(office=office, month_end__gt=month_end).exists():
        # It would be taken from the ledger as it is now, under the later one: drop that first.
        raise ValueError(f"office {office.code} has a snapshot after {month_end}")
    snapshot_drop(office=office, since=month_end)  # a retake
    base = None if from_scratch else snapshot_before(office=office, day=month_end)
    snapshot = MonthEndSnapshot.objects.create(office=office, month_end=month_end)
    with connection.cursor() as cursor:
        cursor.execute(REPORT_SESSION_SQL)
        # Read before the keys are: a change committed in between is then treated as unseen,
        # which costs a little work and never a wrong figure.
        cursor.execute(SEEN_SQL)
        seen = cursor.fetchone()
        params = {**_params(office=office, base=base, as_of=month_end), "new": snapshot.pk}
        cursor.execute(TAKE_ROWS_SQL, params)
        cursor.execute(TAKE_TOTALS_SQL, params)
        # The next report plans its joins on these rows: a month-end's worth of new rows
        # without statistics made it scan the table four times.
        cursor.execute("ANALYZE reports_monthendbalance, reports_monthendtotal")
        cursor.execute(
            "SELECT loans, outstanding FROM reports_monthendtotal"
            " WHERE snapshot_id = %s AND dimension = 'total'",
            [snapshot.pk],
        )
        snapshot.loans, snapshot.outstanding = cursor.fetchone()
    snapshot.seen, snapshot.seen_xmin, snapshot.seen_txid, snapshot.seen_change = seen
    snapshot.save(
        update_fields=["loans", "outstanding", "seen", "seen_xmin", "seen_txid", "seen_change"]
    )
    return snapshot


@transaction.atomic
def snapshot_drop(*, office: Office, since: dt.date) -> int:
    """Drop the office's snapshots dated on or after `since` (a reopened month, a retake)."""
    ids = list(
        MonthEndSnapshot.objects.filter(office=office, month_end__gte=since).values_list(
            "pk", flat=True
        )
    )
    _delete(ids)
    return len(ids)


def _delete(ids: list[int]) -> None:
    """Snapshots with their rows and their roll-up (no foreign key cascades to either)."""
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM reports_monthendbalance WHERE snapshot_id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM reports_monthendtotal WHERE snapshot_id = ANY(%s)", [ids])
        MonthEndSnapshot.objects.filter(pk__in=ids).delete()


# The pruning policy (issue 15): the snapshots of the last 24 months and of every year end.
KEEP_MONTHS = 24


def snapshots_to_prune(*, office: Office, keep_months: int = KEEP_MONTHS) -> list[MonthEndSnapshot]:
    """The office's snapshots the policy lets go: older than the `keep_months` month ends up to
    its newest snapshot, and not a year end. A report of any period stays exact without them: it
    starts from the newest snapshot before the period that is kept (a year end at worst) and adds
    the entries after it, as it does for a period before every snapshot."""
    if keep_months < 1:
        raise ValueError("keep at least the newest month")
    snapshots = list(MonthEndSnapshot.objects.filter(office=office).order_by("month_end"))
    if not snapshots:
        return []
    newest = snapshots[-1].month_end
    # The first day of the oldest month kept: keep_months months up to the newest one's.
    index = newest.year * 12 + newest.month - 1 - (keep_months - 1)
    first_kept = dt.date(index // 12, index % 12 + 1, 1)
    return [
        s for s in snapshots
        if s.month_end < first_kept and not (s.month_end.month == 12 and s.month_end.day == 31)
    ]  # fmt: skip


def dimension_changes_prune() -> int:
    """Delete the breakdown-key changes no snapshot needs (below every snapshot's seen_xmin);
    how many. The owner's function does it: the log is insert-only for the application."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reports_prune_dimension_changes()")
        return cursor.fetchone()[0]


@transaction.atomic
def snapshots_prune(*, office: Office, keep_months: int = KEEP_MONTHS) -> list[dt.date]:
    """Delete what the policy lets go; the month ends pruned. A report reading one of them holds
    it FOR KEY SHARE (snapshot_before), so the delete waits for that report to finish."""
    pruned = snapshots_to_prune(office=office, keep_months=keep_months)
    _delete([s.pk for s in pruned])
    return [s.month_end for s in pruned]


def snapshot_mismatches(snapshot: MonthEndSnapshot, *, limit: int = 20) -> list[int]:
    """Ids of loans (at most `limit`) whose stored balances differ from the ledger's; [0] when
    the stored roll-up differs from the stored rows."""
    params = {
        **_params(office=snapshot.office, base=None, as_of=snapshot.month_end),
        "stored": snapshot.pk,
        "limit": limit,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(REPORT_SESSION_SQL)
        cursor.execute(CHECK_ROWS_SQL, params)
        loans = [row[0] for row in cursor.fetchall()]
        cursor.execute(CHECK_TOTALS_SQL, params)
        if cursor.fetchone()[0]:
            loans.insert(0, 0)
    return loans


def snapshots_rebuild(*, office: Office) -> list[MonthEndSnapshot]:
    """Recompute every snapshot of the office from the ledger, oldest first (the first from
    scratch, each later one from the one before). An office with closed months and no snapshot
    (closed before snapshots existed) gets one at each closed year end and its latest closed
    month."""
    from loans.models import ClosedMonth

    days = list(
        MonthEndSnapshot.objects.filter(office=office)
        .order_by("month_end")
        .values_list("month_end", flat=True)
    )
    if not days:
        closed = sorted(ClosedMonth.objects.filter(office=office).values_list("month", flat=True))
        days = [month_end(m) for m in closed if m.month == 12 or m == closed[-1]]
    with transaction.atomic():
        Office.objects.select_for_update().get(pk=office.pk)  # no close or posting meanwhile
        snapshot_drop(office=office, since=dt.date.min)
        return [snapshot_take(office=office, month_end=day) for day in days]
