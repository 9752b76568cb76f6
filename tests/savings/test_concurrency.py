"""Savings postings from two database connections at once: the first deposit of a household
opens one account, a double-submitted form posts once, and two withdrawals that together exceed
the balance post one."""

import datetime as dt

import pytest

from savings import services
from savings.models import SavingsAccount, SavingsTransaction
from savings.selectors import savings_mismatches

from ..conftest import key
from ..loans.test_concurrency import _run_in_threads

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

D = dt.date(2021, 6, 1)


def test_two_first_deposits_at_once_open_one_account_and_a_resubmission_posts_once(household_a):
    same = key()
    errors = _run_in_threads(
        lambda i: services.savings_deposit(
            household=household_a,
            amount=10_000,
            value_date=D,
            user=None,
            idempotency_key=same if i < 2 else key(),
        ),
        count=3,
    )
    assert errors == []
    account = SavingsAccount.objects.get(household=household_a)
    assert account.balance == 20_000
    assert SavingsTransaction.objects.count() == 2
    assert savings_mismatches() == []


def test_withdrawals_that_together_exceed_the_balance_one_is_refused(household_a):
    services.savings_deposit(
        household=household_a, amount=30_000, value_date=D, user=None, idempotency_key=key()
    )
    errors = _run_in_threads(
        lambda i: services.savings_withdraw(
            household=household_a, amount=20_000, value_date=D, user=None, idempotency_key=key()
        )
    )
    assert len(errors) == 1
    assert SavingsAccount.objects.get(household=household_a).balance == 10_000
    assert savings_mismatches() == []
