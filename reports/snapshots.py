"""Month-end snapshots: every loan's balances at the end of a closed month.

A report of a period reads the newest snapshot before it plus the ledger entries dated after it,
instead of re-summing the office's whole history (at a million loans, 24 times the cost of one
scan of the ledger). A snapshot is derived data, never a source of truth:

- taken when a month is closed, in the same transaction as the close, from the previous snapshot
  plus the entries dated after it (reports.selectors.PER_LOAN_SQL, the same SQL as the figures);
- valid because nothing can be posted on or before its day: the services refuse closed months
  (a month is closed when it or a later month is), and a trigger on the ledger table refuses
  such an insert by any path (migration reports 0002); reopening a month drops the snapshots
  from that month on;
- checked: `check_ledger` compares each office's newest snapshot with the ledger summed from
  scratch, `rebuild_month_end_snapshots` recomputes them.
"""

import datetime as dt

from django.db import connection, transaction

from borrowers.models import Office

from .models import MonthEndSnapshot
from .selectors import PER_LOAN_SQL, REPORT_SESSION_SQL

TAKE_SQL = (
    "INSERT INTO reports_monthendbalance"
    " (snapshot_id, loan_id, outstanding, overdue, frozen, first_disbursed)"
    " WITH"
    + PER_LOAN_SQL
    + """
SELECT %(new)s, loan_id, closing, overdue, frozen, first_disbursed
  FROM balances
"""
)

# Stored rows against the ledger summed from scratch: the loans where they differ.
CHECK_SQL = (
    "WITH"
    + PER_LOAN_SQL
    + """,
expected AS (
    SELECT loan_id, closing AS outstanding, overdue, frozen, first_disbursed
      FROM balances
),
stored AS (
    SELECT loan_id, outstanding, overdue, frozen, first_disbursed
      FROM reports_monthendbalance
     WHERE snapshot_id = %(stored)s
)
SELECT COALESCE(e.loan_id, s.loan_id)
  FROM expected e
  FULL JOIN stored s ON s.loan_id = e.loan_id
 WHERE e.loan_id IS NULL OR s.loan_id IS NULL
    OR (e.outstanding, e.overdue, e.frozen) IS DISTINCT FROM (s.outstanding, s.overdue, s.frozen)
    OR e.first_disbursed IS DISTINCT FROM s.first_disbursed
 ORDER BY 1
"""
)


def snapshot_before(*, office: Office, day: dt.date) -> MonthEndSnapshot | None:
    """The newest snapshot of the office dated before `day`."""
    return (
        MonthEndSnapshot.objects.filter(office=office, month_end__lt=day)
        .order_by("-month_end")
        .first()
    )


def _params(*, office: Office, base: MonthEndSnapshot | None, as_of: dt.date) -> dict:
    return {
        "office": office.pk,
        "snapshot": base.pk if base else None,
        "since": base.month_end if base else dt.date.min,
        "start": as_of + dt.timedelta(days=1),  # no flows: balances only
        "as_of": as_of,
    }


@transaction.atomic
def snapshot_take(*, office: Office, month_end: dt.date, from_scratch: bool = False):
    """Take (or retake) the office's snapshot at a month end, from the newest earlier snapshot
    plus the entries after it (or from the whole ledger)."""
    snapshot_drop(office=office, since=month_end)
    base = None if from_scratch else snapshot_before(office=office, day=month_end)
    snapshot = MonthEndSnapshot.objects.create(office=office, month_end=month_end)
    with connection.cursor() as cursor:
        cursor.execute(REPORT_SESSION_SQL)
        cursor.execute(
            TAKE_SQL, {**_params(office=office, base=base, as_of=month_end), "new": snapshot.pk}
        )
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(outstanding), 0) FROM reports_monthendbalance"
            " WHERE snapshot_id = %s",
            [snapshot.pk],
        )
        snapshot.loans, snapshot.outstanding = cursor.fetchone()
    snapshot.save(update_fields=["loans", "outstanding"])
    return snapshot


@transaction.atomic
def snapshot_drop(*, office: Office, since: dt.date) -> int:
    """Drop the office's snapshots dated on or after `since` (a reopened month, a retake)."""
    ids = list(
        MonthEndSnapshot.objects.filter(office=office, month_end__gte=since).values_list(
            "pk", flat=True
        )
    )
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM reports_monthendbalance WHERE snapshot_id = ANY(%s)", [ids])
        MonthEndSnapshot.objects.filter(pk__in=ids).delete()
    return len(ids)


def snapshot_mismatches(snapshot: MonthEndSnapshot, *, limit: int = 20) -> list[int]:
    """Ids of loans (at most `limit`) whose stored balances differ from the ledger's."""
    params = {
        **_params(office=snapshot.office, base=None, as_of=snapshot.month_end),
        "stored": snapshot.pk,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(REPORT_SESSION_SQL)
        cursor.execute(CHECK_SQL + " LIMIT %(limit)s", {**params, "limit": limit})
        return [row[0] for row in cursor.fetchall()]


def snapshots_rebuild(*, office: Office) -> list[MonthEndSnapshot]:
    """Recompute every snapshot of the office from the ledger, oldest first (the first from
    scratch, each later one from the one before)."""
    days = list(
        MonthEndSnapshot.objects.filter(office=office)
        .order_by("month_end")
        .values_list("month_end", flat=True)
    )
    with transaction.atomic():
        snapshot_drop(office=office, since=dt.date.min)
        return [snapshot_take(office=office, month_end=day) for day in days]
