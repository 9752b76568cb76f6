"""The ledger's database guards that hold even for raw SQL (issue 10, point 9): an appended
entry the loan's cached balances do not carry is refused at commit, though the loan row is never
touched; a posting through the services still commits."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from loans import services
from loans.models import Loan, LoanTransaction

from ..conftest import key

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

RAW_REPAYMENT = """
INSERT INTO loans_loantransaction
  (kind, counted_kind, value_date, amount, d_outstanding, d_overdue, d_frozen, note, reference,
   idempotency_key, posted_at, loan_id, office_id)
VALUES ('principal_repayment', 'principal_repayment', %(day)s, %(amount)s, -%(amount)s, 0, 0,
        '', '', %(key)s, now(), %(loan)s, %(office)s)
"""


def raw_repayment(loan, amount, day=dt.date(2021, 6, 1)):
    with connection.cursor() as cursor:
        cursor.execute(
            RAW_REPAYMENT,
            {"day": day, "amount": amount, "key": key(), "loan": loan.pk, "office": loan.office_id},
        )


def test_a_raw_entry_the_cache_does_not_carry_is_refused_at_commit(active_loan):
    refused = pytest.raises(IntegrityError, match=rf"loan {active_loan.pk} cached balances")
    with refused, transaction.atomic():
        raw_repayment(active_loan, 1_000_000)  # the loan row is not touched
    assert active_loan.transactions.count() == 1
    call_command("check_ledger")


def test_a_raw_entry_with_its_cache_update_commits(active_loan):
    """The check compares, it does not refuse every raw insert: the cache moved with it."""
    with transaction.atomic():
        raw_repayment(active_loan, 1_000_000)
        Loan.objects.filter(pk=active_loan.pk).update(outstanding=49_000_000)
    assert active_loan.transactions.count() == 2
    call_command("check_ledger")


def test_two_entries_that_cancel_out_commit_and_one_too_many_is_refused(active_loan):
    """The check runs at commit on the final state, whichever entry it is fired for."""
    with transaction.atomic():
        raw_repayment(active_loan, 1_000_000)
        raw_repayment(active_loan, 2_000_000)
        Loan.objects.filter(pk=active_loan.pk).update(outstanding=47_000_000)
    with pytest.raises(IntegrityError, match="differ from its ledger"), transaction.atomic():
        raw_repayment(active_loan, 1_000_000)
        raw_repayment(active_loan, 1_000_000)
        Loan.objects.filter(pk=active_loan.pk).update(outstanding=46_000_000)
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 47_000_000
    assert active_loan.transactions.count() == 3


def test_a_service_posting_still_commits(active_loan, staff_a):
    entry = services.loan_repay_principal(
        loan=active_loan,
        amount=5_000_000,
        value_date=dt.date(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    assert LoanTransaction.objects.filter(pk=entry.pk).exists()
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 45_000_000
    call_command("check_ledger")


def test_every_kind_of_service_posting_commits_under_the_entry_check(active_loan, staff_a):
    """Each operation commits on its own (the entry check runs at each commit), and the ledger
    agrees with the cache after all of them."""
    loan = active_loan

    def post(operation, **kwargs):
        return operation(user=staff_a, idempotency_key=key(), **kwargs)

    repayment = post(
        services.loan_repay_principal, loan=loan, amount=5_000_000, value_date=dt.date(2021, 2, 1)
    )
    post(services.loan_pay_interest, loan=loan, amount=100_000, value_date=dt.date(2021, 2, 1))
    post(
        services.loan_transfer_to_overdue,
        loan=loan,
        amount=2_000_000,
        value_date=dt.date(2021, 3, 1),
    )
    post(
        services.loan_freeze,
        loan=loan,
        amount=1_000_000,
        value_date=dt.date(2021, 3, 15),
        note="flood",
    )
    post(services.loan_unfreeze, loan=loan, amount=500_000, value_date=dt.date(2021, 4, 1))
    post(services.loan_write_off, loan=loan, amount=500_000, value_date=dt.date(2021, 4, 15))
    post(services.loan_reverse, entry=repayment, value_date=dt.date(2021, 5, 3))
    kinds = set(loan.transactions.values_list("kind", flat=True))
    assert kinds == {
        "disbursement",
        "principal_repayment",
        "interest_payment",
        "transfer_to_overdue",
        "freeze",
        "unfreeze",
        "write_off",
        "reversal",
    }
    call_command("check_ledger")


def test_a_transfer_to_another_office_commits_under_the_entry_check(
    active_loan, staff_a, household_b
):
    """Out of one loan and into a new one, in one transaction: both loans are checked."""
    out = services.loan_transfer(
        loan=active_loan,
        to_office=household_b.office,
        to_village=household_b.group.village,
        value_date=dt.date(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    assert out.kind == "transfer_out"
    assert LoanTransaction.objects.filter(kind="transfer_in", office=household_b.office).exists()
    call_command("check_ledger")
