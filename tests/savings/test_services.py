"""Member savings (issue 13, point 5): the savings ledger with the loan ledger's guarantees, and
savings used to pay a loan, both ledgers moving in one transaction or neither."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from loans.models import ClosedMonth, LoanTransaction
from loans.services import companion_key
from savings import services
from savings.models import SavingsAccount, SavingsTransaction
from savings.selectors import (
    get_household_savings_for_user,
    savings_balances,
    savings_mismatches,
)

from ..conftest import key, refused
from ..factories import HouseholdFactory

D = dt.date
pytestmark = pytest.mark.django_db


def deposit(household, amount, day=None, user=None, **kwargs):
    kwargs.setdefault("idempotency_key", key())
    return services.savings_deposit(
        household=household, amount=amount, value_date=day or D(2021, 1, 20), user=user, **kwargs
    )


def withdraw(household, amount, day=None, user=None, **kwargs):
    kwargs.setdefault("idempotency_key", key())
    return services.savings_withdraw(
        household=household, amount=amount, value_date=day or D(2021, 3, 1), user=user, **kwargs
    )


def balance(household) -> int:
    return SavingsAccount.objects.get(household=household).balance


def test_first_deposit_opens_the_account_and_withdrawals_take_from_it(household_a, staff_a):
    entry = deposit(household_a, 50_000, user=staff_a, reference="01/BL 123")
    account = entry.account
    assert (account.opened_on, account.office_id, account.balance) == (
        D(2021, 1, 20),
        household_a.office_id,
        50_000,
    )
    assert (entry.kind, entry.d_balance, entry.reference, entry.user) == (
        "deposit",
        50_000,
        "01/BL 123",
        staff_a,
    )
    deposit(household_a, 5_000, D(2021, 2, 1))
    out = withdraw(household_a, 30_000, D(2021, 3, 1))
    assert (out.kind, out.amount, out.d_balance) == ("withdrawal", 30_000, -30_000)
    assert balance(household_a) == 25_000
    assert SavingsAccount.objects.filter(household=household_a).count() == 1
    assert savings_balances([household_a.pk]) == {household_a.pk: 25_000}
    assert savings_balances([household_a.pk], D(2021, 2, 15)) == {household_a.pk: 55_000}
    assert savings_balances([household_a.pk], D(2021, 1, 1)) == {}
    assert savings_mismatches() == []


def test_a_deposit_is_at_least_five_thousand_dong(household_a):
    with refused("A savings deposit is at least 5.000 đồng.", field="amount"):
        deposit(household_a, 4_999)
    for bad in (0, -5_000, 10**15, 5_000.0):
        with refused("positive whole number of đồng", field="amount"):
            deposit(household_a, bad)
    assert not SavingsAccount.objects.exists()


def test_a_withdrawal_beyond_the_balance_is_refused(household_a):
    with refused("no savings"):
        withdraw(household_a, 10_000)
    deposit(household_a, 100_000, D(2021, 1, 20))
    with refused("at most 100.000 đồng dated 01/03/2021", field="amount"):
        withdraw(household_a, 100_001)
    # Back-dated before the deposit: nothing was there on that day.
    with refused("at most 0 đồng dated 10/01/2021", field="amount"):
        withdraw(household_a, 1_000, D(2021, 1, 10))
    withdraw(household_a, 100_000, D(2021, 3, 1))
    # A later withdrawal holds the balance down: a back-dated one may not take it again.
    deposit(household_a, 20_000, D(2021, 2, 1))
    with refused("at most 20.000 đồng dated 15/02/2021", field="amount"):
        withdraw(household_a, 20_001, D(2021, 2, 15))
    assert balance(household_a) == 20_000


def test_business_date_and_closed_months_are_the_loan_ledgers(household_a, manager_a):
    with refused("after the business date 15/06/2021", field="value_date"):
        deposit(household_a, 10_000, D(2021, 6, 16))
    deposit(household_a, 10_000, D(2021, 5, 20))
    ClosedMonth.objects.create(office=household_a.office, month=D(2021, 5, 1), closed_by=manager_a)
    with refused("05/2021 is closed", field="value_date"):
        deposit(household_a, 10_000, D(2021, 5, 31))
    with refused("04/2021 is closed", field="value_date"):
        withdraw(household_a, 1_000, D(2021, 4, 1))
    withdraw(household_a, 1_000, D(2021, 6, 1))
    assert balance(household_a) == 9_000


def test_a_replayed_key_returns_the_same_entry_and_posts_nothing(household_a, household_b):
    k = key()
    first = deposit(household_a, 10_000, idempotency_key=k)
    again = deposit(household_a, 10_000, idempotency_key=k)
    assert again.pk == first.pk
    assert balance(household_a) == 10_000
    with refused("already used for another entry"):
        withdraw(household_a, 1_000, idempotency_key=k)
    with refused("already used for another entry"):
        deposit(household_b, 10_000, idempotency_key=k)
    assert SavingsTransaction.objects.count() == 1


def test_the_ledger_refuses_update_and_delete_in_code_and_database(household_a):
    entry = deposit(household_a, 10_000)
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        SavingsTransaction.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(TypeError):
        SavingsTransaction.objects.filter(pk=entry.pk).delete()
    for sql in (
        "UPDATE savings_savingstransaction SET amount = 1, d_balance = 1",
        "DELETE FROM savings_savingstransaction",
    ):
        with (
            pytest.raises(Exception, match="Cannot"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert SavingsTransaction.objects.get(pk=entry.pk).amount == 10_000


def test_the_cached_balance_is_checked_against_the_ledger_at_commit(household_a):
    account = deposit(household_a, 10_000).account
    with pytest.raises(IntegrityError, match="differs from its ledger"), transaction.atomic():
        SavingsAccount.objects.filter(pk=account.pk).update(balance=20_000)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # An entry the cache does not carry, though the account row is never touched.
    with (
        pytest.raises(IntegrityError, match="differs from its ledger"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO savings_savingstransaction (office_id, account_id, kind, value_date,"
            " amount, d_balance, reference, idempotency_key, created_at)"
            " VALUES (%s, %s, 'deposit', '2021-02-01', 5000, 5000, '', %s, now())",
            [account.office_id, account.pk, key()],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # The database refuses a negative balance whatever wrote it.
    with pytest.raises(IntegrityError, match="savings_balance_in_range"), transaction.atomic():
        SavingsAccount.objects.filter(pk=account.pk).update(balance=-1)
    assert balance(household_a) == 10_000
    assert savings_mismatches() == []
    call_command("check_ledger")


def test_check_ledger_reports_a_drifted_savings_balance(household_a):
    account = deposit(household_a, 10_000).account
    with connection.cursor() as cursor:
        # Only a superuser bypassing every trigger can make the cache drift; prove it is caught.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE savings_savingsaccount SET balance = 1 WHERE id = %s", [account.pk])
        cursor.execute("SET session_replication_role = DEFAULT")
    assert savings_mismatches() == [(account.pk, household_a.pk, 1, 10_000)]
    with pytest.raises(CommandError, match="1 savings account"):
        call_command("check_ledger")
    with connection.cursor() as cursor:
        # Put it back, or the deferred trigger rightly refuses this test's transaction.
        cursor.execute(
            "UPDATE savings_savingsaccount SET balance = 10000 WHERE id = %s", [account.pk]
        )


def test_savings_pay_the_loans_interest_and_principal_in_both_ledgers(active_loan, staff_a):
    household = active_loan.household
    deposit(household, 1_000_000, D(2021, 1, 20))
    k = key()
    entries = services.savings_pay_loan(
        loan=active_loan,
        interest=100_000,
        principal=500_000,
        value_date=D(2021, 2, 1),
        user=staff_a,
        idempotency_key=k,
        reference="13/TD 7",
    )
    assert [(e.kind, e.amount, e.d_balance) for e in entries] == [
        ("loan_payment", 100_000, -100_000),
        ("loan_payment", 500_000, -500_000),
    ]
    loan_entries = [e.loan_entry for e in entries]
    assert [(e.kind, e.amount, e.idempotency_key) for e in loan_entries] == [
        ("interest_payment", 100_000, companion_key(k, ":interest")),
        ("principal_repayment", 500_000, companion_key(k, ":principal")),
    ]
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 49_500_000
    assert balance(household) == 400_000
    again = services.savings_pay_loan(
        loan=active_loan,
        interest=100_000,
        principal=500_000,
        value_date=D(2021, 2, 1),
        user=staff_a,
        idempotency_key=k,
    )
    assert [e.pk for e in again] == [e.pk for e in entries]
    assert balance(household) == 400_000
    assert LoanTransaction.objects.filter(loan=active_loan).count() == 3
    assert savings_mismatches() == []
    call_command("check_ledger")


def test_a_payment_from_savings_moves_both_ledgers_or_neither(active_loan, staff_a, manager_a):
    household = active_loan.household
    deposit(household, 300_000, D(2021, 1, 20))

    def pay(**kwargs):
        kwargs.setdefault("value_date", D(2021, 2, 1))
        return services.savings_pay_loan(
            loan=active_loan, user=staff_a, idempotency_key=key(), **kwargs
        )

    # Savings short of the two parts together.
    with refused("at most 300.000 đồng dated 01/02/2021", field="interest"):
        pay(interest=100_000, principal=200_001)
    # The loan refuses the interest (above what is due): the principal's parts are not written.
    with refused("interest", field="interest"):
        pay(interest=299_000, principal=1_000)
    with refused("Enter the interest or the principal"):
        pay()
    with refused("positive whole number", field="principal"):
        pay(principal=-1)
    ClosedMonth.objects.create(office=household.office, month=D(2021, 2, 1), closed_by=manager_a)
    with refused("02/2021 is closed", field="value_date"):
        pay(principal=1_000)
    assert balance(household) == 300_000
    assert active_loan.transactions.count() == 1
    assert SavingsTransaction.objects.count() == 1


def test_scoped_read_of_a_households_savings(household_a, household_b, staff_a, staff_b):
    from django.http import Http404

    assert get_household_savings_for_user(staff_a, household_a) is None
    deposit(household_a, 10_000)
    assert get_household_savings_for_user(staff_a, household_a).balance == 10_000
    with pytest.raises(Http404):
        get_household_savings_for_user(staff_b, household_a)
    other = HouseholdFactory(group__village__commune__office=household_a.office)
    assert savings_balances([household_a.pk, other.pk, household_b.pk]) == {household_a.pk: 10_000}


def test_a_loan_entry_paid_from_savings_is_not_reversed_on_the_loan_alone(active_loan, staff_a):
    from loans import services as loan_services

    deposit(active_loan.household, 200_000, D(2021, 1, 20))
    [paid] = services.savings_pay_loan(
        loan=active_loan,
        principal=150_000,
        value_date=D(2021, 2, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    with refused("paid from the member's savings"):
        loan_services.loan_reverse(
            entry=paid.loan_entry, value_date=D(2021, 6, 1), user=staff_a, idempotency_key=key()
        )
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 49_850_000
    assert balance(active_loan.household) == 50_000
