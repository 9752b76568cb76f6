"""Pruning month-end snapshots (issue 15): the last months and the year ends are kept, the rest
goes with its rows and roll-up, and every period's figures are the same afterwards."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from loans import services
from reports.models import DimensionChange, MonthEndBalance, MonthEndSnapshot, MonthEndTotal
from reports.selectors import figures_for_period
from reports.snapshots import (
    dimension_changes_prune,
    snapshot_take,
    snapshots_prune,
    snapshots_to_prune,
)

from ..conftest import key

pytestmark = pytest.mark.django_db
ENDS = [dt.date(2020, 12, 31), dt.date(2021, 1, 31), dt.date(2021, 2, 28),
        dt.date(2021, 3, 31), dt.date(2021, 4, 30), dt.date(2021, 5, 31)]  # fmt: skip
PERIODS = [
    (dt.date(2021, 1, 1), dt.date(2021, 6, 15)),
    (dt.date(2021, 3, 1), dt.date(2021, 3, 31)),
    (dt.date(2021, 4, 1), dt.date(2021, 6, 15)),
    (dt.date(2021, 2, 10), dt.date(2021, 5, 20)),
]


@pytest.fixture
def closed(active_loan, staff_a):
    for month in (2, 3, 4, 5):
        services.loan_repay_principal(
            loan=active_loan, amount=500_000, value_date=dt.date(2021, month, 10), user=staff_a,
            idempotency_key=key(),
        )  # fmt: skip
    for day in ENDS:
        snapshot_take(office=active_loan.office, month_end=day)
    return active_loan.office


def _all_figures(office):
    return {
        (start, as_of, method): figures_for_period(
            office=office, start=start, as_of=as_of, method=method
        )
        for start, as_of in PERIODS
        for method in ("ledger", "delta", "snapshot")
    }


def test_the_last_months_and_the_year_ends_are_kept(closed):
    gone = [s.month_end for s in snapshots_to_prune(office=closed, keep_months=2)]
    assert gone == [dt.date(2021, 1, 31), dt.date(2021, 2, 28), dt.date(2021, 3, 31)]
    assert snapshots_to_prune(office=closed) == []  # 24 months: nothing yet


def test_pruning_changes_no_figure_and_leaves_no_rows_behind(closed):
    before = _all_figures(closed)
    pruned = MonthEndSnapshot.objects.filter(office=closed, month_end=dt.date(2021, 2, 28)).get()
    assert snapshots_prune(office=closed, keep_months=2) == ENDS[1:4]
    kept = set(MonthEndSnapshot.objects.filter(office=closed).values_list("month_end", flat=True))
    assert kept == {dt.date(2020, 12, 31), dt.date(2021, 4, 30), dt.date(2021, 5, 31)}
    assert not MonthEndBalance.objects.filter(snapshot_id=pruned.pk).exists()
    assert not MonthEndTotal.objects.filter(snapshot_id=pruned.pk).exists()
    assert _all_figures(closed) == before
    # Ledger-checked too: every method still agrees with summing the ledger.
    for (start, as_of, _method), figures in before.items():
        assert figures == before[(start, as_of, "ledger")]
    assert snapshots_prune(office=closed, keep_months=2) == []  # idempotent


def test_the_command_prunes_or_lists(closed):
    out = io.StringIO()
    call_command("prune_snapshots", office=closed.code, keep_months=2, dry_run=True, stdout=out)
    assert "would prune 3 snapshot(s): 2021-01-31, 2021-02-28, 2021-03-31" in out.getvalue()
    assert MonthEndSnapshot.objects.filter(office=closed).count() == 6
    call_command("prune_snapshots", keep_months=2, stdout=out)
    assert MonthEndSnapshot.objects.filter(office=closed).count() == 3
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_snapshots", keep_months=0)
    with pytest.raises(CommandError, match="no office ZZ"):
        call_command("prune_snapshots", office="ZZ")


def test_the_scheduled_task_keeps_24_months(closed):
    from reports.tasks import prune_snapshots

    assert prune_snapshots() == {}  # six month ends: all within the last 24 months
    snapshot_take(office=closed, month_end=dt.date(2023, 5, 31))  # two years on
    # The 24 months June 2021 – May 2023 and the year ends are kept: January – May 2021 go.
    assert prune_snapshots() == {closed.code: 5}
    kept = MonthEndSnapshot.objects.filter(office=closed).values_list("month_end", flat=True)
    assert sorted(kept) == [dt.date(2020, 12, 31), dt.date(2023, 5, 31)]


def test_the_change_log_keeps_what_a_snapshot_needs(closed):
    horizon = min(MonthEndSnapshot.objects.values_list("seen_xmin", flat=True))
    assert horizon > 1
    before = DimensionChange.objects.create(loan_id=1, txid=horizon - 1)
    after = DimensionChange.objects.create(loan_id=1, txid=horizon)
    assert dimension_changes_prune() >= 1
    left = set(DimensionChange.objects.values_list("pk", flat=True))
    assert before.pk not in left and after.pk in left


def test_with_no_snapshot_no_change_is_needed(active_loan):
    assert not MonthEndSnapshot.objects.exists()
    DimensionChange.objects.create(loan_id=1, txid=1)
    assert dimension_changes_prune() >= 1
    assert not DimensionChange.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_application_role_prunes_through_the_owners_function(app_role):
    import psycopg2

    conn = psycopg2.connect(**app_role)
    conn.autocommit = True
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT reports_prune_dimension_changes()")
        assert cursor.fetchone()[0] >= 0
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute("DELETE FROM reports_dimensionchange")
    finally:
        conn.close()
