"""Month close: managers only, once a month is over, in order; postings refused in a closed month;
reopening needs a reason and is recorded by pghistory with the user."""

import datetime as dt

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied

from loans import services as loan_services
from loans.models import ClosedMonth
from reports.models import ReportRun
from reports.month_close import (
    last_transaction_day,
    month_close,
    month_reopen,
    month_to_close,
    monthly_pack_request,
)
from tests.conftest import key, refused
from tests.factories import CommuneFactory

pytestmark = pytest.mark.django_db

JAN, MAY, JUN = dt.date(2021, 1, 1), dt.date(2021, 5, 1), dt.date(2021, 6, 1)


def _repay(loan, value_date, user):
    return loan_services.loan_repay_principal(
        loan=loan, amount=1_000_000, value_date=value_date, user=user, idempotency_key=key()
    )


def test_closing_refuses_postings_in_the_month_and_queues_its_pack(
    active_loan, manager_a, staff_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        closed = month_close(office=active_loan.office, month=dt.date(2021, 1, 20), user=manager_a)
    assert (closed.month, closed.closed_by) == (JAN, manager_a)

    with refused("01/2021 is closed: date the entry in the open period", field="value_date"):
        _repay(active_loan, dt.date(2021, 1, 25), staff_a)
    assert _repay(active_loan, dt.date(2021, 6, 10), staff_a).pk

    run = ReportRun.objects.get(office=active_loan.office, kind=ReportRun.Kind.MONTHLY)
    assert (run.start, run.as_of, run.requested_by) == (JAN, dt.date(2021, 1, 31), manager_a)
    assert run.status == ReportRun.Status.DONE  # eager Celery built it on commit
    assert run.figures["totals"]["disbursed"] == 50_000_000


def test_staff_and_auditors_cannot_close_or_reopen(active_loan, staff_a, auditor_a, manager_a):
    for user in (staff_a, auditor_a):
        with pytest.raises(PermissionDenied):
            month_close(office=active_loan.office, month=JAN, user=user)
    assert not ClosedMonth.objects.exists()
    month_close(office=active_loan.office, month=JAN, user=manager_a)
    for user in (staff_a, auditor_a):
        with pytest.raises(PermissionDenied):
            month_reopen(office=active_loan.office, month=JAN, user=user, reason="x")
    assert ClosedMonth.objects.count() == 1


def test_a_month_not_over_is_refused(active_loan, manager_a):
    office = active_loan.office  # business date 15/06/2021, transaction day 10
    with refused("07/2021 is not over yet: its last transaction day is 10/07/2021."):
        month_close(office=office, month=dt.date(2021, 7, 1), user=manager_a)
    CommuneFactory(office=office, transaction_day=20)  # the office's last transaction day: 20th
    assert last_transaction_day(office=office, month=JUN) == dt.date(2021, 6, 20)
    with refused("06/2021 is not over yet: its last transaction day is 20/06/2021."):
        month_close(office=office, month=JUN, user=manager_a)
    assert not ClosedMonth.objects.exists()


def test_months_close_once_and_in_order(active_loan, manager_a):
    office = active_loan.office
    assert month_to_close(office=office) == JAN  # the earliest open month with entries
    with refused("Close 01/2021 first: months are closed in order."):
        month_close(office=office, month=MAY, user=manager_a)
    month_close(office=office, month=JAN, user=manager_a)
    with refused("01/2021 is already closed."):
        month_close(office=office, month=JAN, user=manager_a)
    assert month_to_close(office=office) == MAY  # February to April have no entries
    month_close(office=office, month=MAY, user=manager_a)
    # June's last transaction day (10th) is past: it may be closed, its pack waits for 30/06.
    assert month_to_close(office=office) == JUN
    assert monthly_pack_request(office=office, month=JUN) is None


def test_reopen_needs_a_reason_and_is_recorded(active_loan, manager_a, staff_a):
    office = active_loan.office
    month_close(office=office, month=JAN, user=manager_a)
    with refused("Give the reason for reopening the month.", field="reason"):
        month_reopen(office=office, month=JAN, user=manager_a, reason="  ")
    assert ClosedMonth.objects.filter(office=office, month=JAN).exists()

    month_reopen(office=office, month=JAN, user=manager_a, reason="Sửa bút toán ngày 20/01")
    assert not ClosedMonth.objects.filter(office=office, month=JAN).exists()
    event = apps.get_model("loans", "ClosedMonthEvent").objects.get(pgh_label="delete")
    assert event.month == JAN and event.office_id == office.pk
    assert event.pgh_context.metadata["user"] == manager_a.pk
    assert event.pgh_context.metadata["reason"] == "Sửa bút toán ngày 20/01"
    assert _repay(active_loan, dt.date(2021, 1, 25), staff_a).pk  # open again
    with refused("01/2021 is not closed."):
        month_reopen(office=office, month=JAN, user=manager_a, reason="again")
