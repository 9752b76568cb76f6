"""Month-end snapshots (reports.snapshots): taken at month close, read by the figures, refused
entries before them, dropped on reopening, checked and rebuilt against the ledger."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from loans import services as loan_services
from loans.models import ClosedMonth, LoanTransaction
from reports.models import MonthEndBalance, MonthEndSnapshot
from reports.month_close import month_close, month_close_history, month_reopen
from reports.selectors import figures_for_period
from reports.snapshots import snapshot_before, snapshot_mismatches
from tests.conftest import key, refused

pytestmark = pytest.mark.django_db

JAN, FEB, MAR, MAY = (dt.date(2021, m, 1) for m in (1, 2, 3, 5))


def _repay(loan, value_date, user, amount=1_000_000):
    return loan_services.loan_repay_principal(
        loan=loan, amount=amount, value_date=value_date, user=user, idempotency_key=key()
    )


def test_closing_takes_a_snapshot_the_figures_read(active_loan, manager_a, staff_a):
    office = active_loan.office
    _repay(active_loan, dt.date(2021, 1, 25), staff_a)
    _repay(active_loan, dt.date(2021, 3, 10), staff_a, amount=2_000_000)
    periods = [(FEB, dt.date(2021, 3, 31)), (MAR, dt.date(2021, 6, 15)), (JAN, JAN)]
    from_ledger = [figures_for_period(office=office, start=s, as_of=a) for s, a in periods]

    month_close(office=office, month=JAN, user=manager_a)
    snapshot = MonthEndSnapshot.objects.get(office=office)
    assert snapshot.month_end == dt.date(2021, 1, 31)
    assert (snapshot.loans, snapshot.outstanding) == (1, 49_000_000)
    row = MonthEndBalance.objects.get(snapshot=snapshot)
    assert (row.loan_id, row.outstanding, row.first_disbursed) == (
        active_loan.pk,
        49_000_000,
        dt.date(2021, 1, 15),
    )
    assert snapshot_before(office=office, day=FEB) == snapshot
    assert snapshot_before(office=office, day=JAN) is None
    # The same figures, now read from the snapshot for the periods after it, by each method.
    for method in ("auto", "delta", "snapshot", "ledger"):
        assert [
            figures_for_period(office=office, start=s, as_of=a, method=method) for s, a in periods
        ] == from_ledger, method
    with pytest.raises(ValueError):
        figures_for_period(office=office, start=FEB, as_of=MAR, method="guess")
    assert from_ledger[1]["opening"] == 49_000_000 and from_ledger[1]["closing"] == 47_000_000


def test_a_closed_month_closes_the_months_before_it(active_loan, manager_a, staff_a):
    """February to April have no entries: closing May (allowed, months with entries are closed
    in order) closes them too, or a posting dated in them would falsify May's snapshot."""
    office = active_loan.office
    month_close(office=office, month=JAN, user=manager_a)
    month_close(office=office, month=MAY, user=manager_a)
    with refused("03/2021 is closed: date the entry in the open period", field="value_date"):
        _repay(active_loan, dt.date(2021, 3, 10), staff_a)
    assert _repay(active_loan, dt.date(2021, 6, 10), staff_a).pk


def test_the_database_refuses_an_entry_dated_before_a_snapshot(active_loan, manager_a):
    month_close(office=active_loan.office, month=JAN, user=manager_a)
    entry = LoanTransaction.objects.get(loan=active_loan)
    entry.pk = None
    entry.idempotency_key = key()
    entry.value_date = dt.date(2021, 1, 31)
    with pytest.raises(IntegrityError, match="closed month"), transaction.atomic():
        entry.save(force_insert=True)
    # Whatever the path: plain SQL, as a script or a console would.
    with (
        pytest.raises(IntegrityError, match="closed month"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO loans_loantransaction (office_id, loan_id, kind, counted_kind,"
            " value_date, amount, d_outstanding, d_overdue, d_frozen, note, reference,"
            " idempotency_key, posted_at)"
            " SELECT office_id, loan_id, kind, counted_kind, '2021-01-20', amount,"
            " d_outstanding, d_overdue, d_frozen, '', '', 'raw-sql', now()"
            " FROM loans_loantransaction WHERE loan_id = %s",
            [active_loan.pk],
        )
    assert LoanTransaction.objects.filter(loan=active_loan).count() == 1


def test_reopening_goes_from_the_latest_and_drops_snapshots(active_loan, manager_a, staff_a):
    office = active_loan.office
    month_close(office=office, month=JAN, user=manager_a)
    month_close(office=office, month=MAY, user=manager_a)
    assert MonthEndSnapshot.objects.filter(office=office).count() == 2
    with refused("Reopen 05/2021 first: months are reopened from the latest."):
        month_reopen(office=office, month=JAN, user=manager_a, reason="sửa")
    month_reopen(office=office, month=MAY, user=manager_a, reason="sửa")
    assert list(MonthEndSnapshot.objects.values_list("month_end", flat=True)) == [
        dt.date(2021, 1, 31)
    ]
    assert _repay(active_loan, dt.date(2021, 4, 5), staff_a).pk  # after January: open again
    month_reopen(office=office, month=JAN, user=manager_a, reason="sửa")
    assert not MonthEndSnapshot.objects.exists() and not MonthEndBalance.objects.exists()
    assert _repay(active_loan, dt.date(2021, 1, 20), staff_a).pk
    month_close(office=office, month=JAN, user=manager_a)  # taken again, with the new entry
    assert MonthEndSnapshot.objects.get(office=office).outstanding == 49_000_000


def test_closing_the_history_at_once(active_loan, manager_a, staff_a):
    office = active_loan.office
    _repay(active_loan, dt.date(2021, 3, 10), staff_a)
    assert month_close_history(office=office, through=MAY, user=manager_a) == 5
    assert sorted(ClosedMonth.objects.values_list("month", flat=True)) == [
        dt.date(2021, m, 1) for m in range(1, 6)
    ]
    # Snapshots at each year end and the last month only.
    assert list(MonthEndSnapshot.objects.values_list("month_end", flat=True)) == [
        dt.date(2021, 5, 31)
    ]
    with refused("There is no history to close up to that month."):  # July is not over
        month_close_history(office=office, through=dt.date(2021, 7, 1), user=manager_a)


def test_check_ledger_finds_a_wrong_snapshot_and_the_rebuild_fixes_it(active_loan, manager_a):
    office = active_loan.office
    month_close(office=office, month=JAN, user=manager_a)
    call_command("check_ledger")
    snapshot = MonthEndSnapshot.objects.get(office=office)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reports_monthendbalance SET outstanding = outstanding - 1 WHERE loan_id = %s",
            [active_loan.pk],
        )
    # the row differs from the ledger, and the roll-up (0) from the rows
    assert snapshot_mismatches(snapshot) == [0, active_loan.pk]
    with pytest.raises(CommandError, match="1 month-end snapshot"):
        call_command("check_ledger")
    call_command("rebuild_month_end_snapshots", office=office.code)
    rebuilt = MonthEndSnapshot.objects.get(office=office)
    assert rebuilt.month_end == dt.date(2021, 1, 31) and snapshot_mismatches(rebuilt) == []
    call_command("check_ledger")


def test_the_close_history_command(active_loan, manager_a, staff_a):
    office = active_loan.office
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("close_history", office=office.code, through="05/2021", user="x")
    with pytest.raises(CommandError, match="manager|trưởng phòng"):
        call_command("close_history", office=office.code, through="2021-05", user=staff_a.username)
    call_command("close_history", office=office.code, through="2021-05", user=manager_a.username)
    assert ClosedMonth.objects.filter(office=office).count() == 5
    assert MonthEndSnapshot.objects.get(office=office).month_end == dt.date(2021, 5, 31)


def test_a_month_behind_a_later_closed_one_is_closed_already(active_loan, manager_a):
    office = active_loan.office
    month_close(office=office, month=JAN, user=manager_a)
    month_close(office=office, month=MAY, user=manager_a)
    with refused("03/2021 is already closed."):
        month_close(office=office, month=MAR, user=manager_a)
    with refused("03/2021 is already closed."):
        month_close_history(office=office, through=MAR, user=manager_a)
    assert sorted(MonthEndSnapshot.objects.values_list("month_end", flat=True)) == [
        dt.date(2021, 1, 31),
        dt.date(2021, 5, 31),
    ]


def test_a_transfer_into_a_closed_month_of_the_receiving_office_is_refused(
    active_loan, manager_a, staff_a, office_b, django_user_model
):
    from borrowers.models import OfficeMembership
    from tests.factories import VillageFactory

    manager_b = django_user_model.objects.create_user("manager_b", password="x")
    OfficeMembership.objects.create(user=manager_b, office=office_b, role="manager")
    month_close(office=office_b, month=MAY, user=manager_b)
    village = VillageFactory(commune__office=office_b)
    with refused("05/2021 is closed: date the entry in the open period", field="value_date"):
        loan_services.loan_transfer(
            loan=active_loan,
            to_office=office_b,
            to_village=village,
            value_date=dt.date(2021, 5, 20),
            user=staff_a,
            idempotency_key=key(),
        )
    assert LoanTransaction.objects.filter(loan=active_loan).count() == 1
    assert loan_services.loan_transfer(
        loan=active_loan,
        to_office=office_b,
        to_village=village,
        value_date=dt.date(2021, 6, 2),
        user=staff_a,
        idempotency_key=key(),
    ).pk


def test_the_rebuild_gives_months_closed_before_snapshots_existed_their_snapshot(
    active_loan, manager_a
):
    office = active_loan.office
    for month in (JAN, FEB, MAR):  # as an office closed before this feature has them
        ClosedMonth.objects.create(office=office, month=month, closed_by=manager_a)
    call_command("rebuild_month_end_snapshots", office=office.code)
    snapshot = MonthEndSnapshot.objects.get(office=office)
    assert (snapshot.month_end, snapshot.outstanding) == (dt.date(2021, 3, 31), 50_000_000)
    assert snapshot_mismatches(snapshot) == []
