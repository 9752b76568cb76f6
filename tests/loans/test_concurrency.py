"""Two repayments of one loan from two database connections at once."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection

from loans import services
from loans.models import Loan, LoanTransaction
from loans.selectors import ledger_mismatches

from ..conftest import key

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _run_in_threads(work, count=2):
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i):
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_two_repayments_at_once_both_post_and_cache_matches(active_loan, staff_a):
    errors = _run_in_threads(
        lambda i: services.loan_repay_principal(
            loan=Loan(pk=active_loan.pk),
            amount=10_000_000,
            value_date=dt.date(2021, 6, 1),
            user=staff_a,
            idempotency_key=key(),
        )
    )
    assert errors == []
    loan = Loan.objects.get(pk=active_loan.pk)
    assert loan.outstanding == 30_000_000
    assert ledger_mismatches() == []


def test_repayments_that_together_exceed_the_balance_one_is_refused(active_loan, staff_a):
    errors = _run_in_threads(
        lambda i: services.loan_repay_principal(
            loan=Loan(pk=active_loan.pk),
            amount=30_000_000,
            value_date=dt.date(2021, 6, 1),
            user=staff_a,
            idempotency_key=key(),
        )
    )
    assert len(errors) == 1
    assert Loan.objects.get(pk=active_loan.pk).outstanding == 20_000_000
    assert ledger_mismatches() == []


def test_double_submitted_form_posts_once(active_loan, staff_a):
    same_key = key()
    errors = _run_in_threads(
        lambda i: services.loan_repay_principal(
            loan=Loan(pk=active_loan.pk),
            amount=5_000_000,
            value_date=dt.date(2021, 6, 1),
            user=staff_a,
            idempotency_key=same_key,
        )
    )
    assert errors == []
    assert LoanTransaction.objects.filter(idempotency_key=same_key).count() == 1
    assert Loan.objects.get(pk=active_loan.pk).outstanding == 45_000_000


def test_a_posting_in_flight_is_in_the_snapshot_of_a_month_closed_meanwhile(
    active_loan, staff_a, manager_a
):
    """The close waits for a posting that has checked the month and not yet committed: its
    entry is then in the month-end snapshot (reports.snapshots), which equals the ledger."""
    from django.db import transaction

    from reports.models import MonthEndSnapshot
    from reports.month_close import month_close
    from reports.snapshots import snapshot_mismatches

    posted, closing = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def post():
        try:
            with transaction.atomic():
                services.loan_repay_principal(
                    loan=Loan(pk=active_loan.pk),
                    amount=1_000_000,
                    value_date=dt.date(2021, 1, 25),
                    user=staff_a,
                    idempotency_key=key(),
                )
                posted.set()
                closing.wait(10)
                time.sleep(1)  # the close runs now, and must wait for this commit
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    def close():
        try:
            posted.wait(10)
            closing.set()
            month_close(office=active_loan.office, month=dt.date(2021, 1, 1), user=manager_a)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post), threading.Thread(target=close)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    snapshot = MonthEndSnapshot.objects.get(office=active_loan.office)
    assert snapshot.outstanding == 49_000_000
    assert snapshot_mismatches(snapshot) == []
