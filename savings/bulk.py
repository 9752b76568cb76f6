"""Many deposits at once: a collection sheet's savings column, checked by savings_deposit's
rules and written in a handful of statements (docs/decisions/0017-bulk-posting.md).

As loans.bulk: savings_deposit stays the reference, plan_deposits answers None whenever a deposit
is not plainly fine, and the caller then posts them one by one through it.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from borrowers.models import Office
from loans import services as loan_services
from loans.money import amount_in_range

from .models import KIND_SIGN, MIN_DEPOSIT, SavingsAccount, SavingsKind, SavingsTransaction


@dataclass(frozen=True)
class Deposit:
    household_id: int
    amount: int
    key: str
    reference: str = ""


@dataclass(frozen=True)
class DepositPlan:
    office: Office
    value_date: dt.date
    user: Any  # the user posting (a User, or None for a system posting)
    deposits: tuple[Deposit, ...]


def plan_deposits(
    deposits: list[Deposit], *, office: Office, value_date: dt.date, user
) -> DepositPlan | None:
    """The deposits, when savings_deposit would post every one of them (the accounts they
    credit are locked until the transaction ends); None otherwise. Writes nothing."""
    plan = DepositPlan(office, value_date, user, tuple(deposits))
    if not deposits:
        return plan
    if not all(amount_in_range(d.amount) and d.amount >= MIN_DEPOSIT for d in deposits):
        return None
    try:
        loan_services.check_value_date(office, value_date)
    except ValidationError:
        return None
    if SavingsTransaction.objects.filter(idempotency_key__in=[d.key for d in deposits]).exists():
        return None
    households = {d.household_id for d in deposits}
    accounts = _lock(households)
    if any(
        a.office_id != office.pk or a.status == SavingsAccount.Status.CLOSED
        for a in accounts.values()
    ):
        return None
    return plan


def _lock(households: set[int]) -> dict[int, SavingsAccount]:
    """The households' accounts, locked in id order (loans first, then accounts: the services'
    order), by household."""
    return {
        a.household_id: a
        for a in SavingsAccount.objects.select_for_update(of=("self",))
        .filter(household_id__in=households)
        .order_by("pk")
    }


def write_deposits(plan: DepositPlan) -> None:
    """Open the accounts of first deposits (opened on the value date, as savings_deposit opens
    them), append the entries and move the balances."""
    if not plan.deposits:
        return
    households = {d.household_id for d in plan.deposits}
    SavingsAccount.objects.bulk_create(
        [
            SavingsAccount(office=plan.office, household_id=h, opened_on=plan.value_date)
            for h in sorted(households)
        ],
        ignore_conflicts=True,
    )
    accounts = _lock(households)
    sign = KIND_SIGN[SavingsKind.DEPOSIT]
    entries = []
    for d in plan.deposits:
        account = accounts[d.household_id]
        account.balance += sign * d.amount
        entries.append(
            SavingsTransaction(
                office_id=account.office_id,
                account=account,
                kind=SavingsKind.DEPOSIT,
                value_date=plan.value_date,
                amount=d.amount,
                d_balance=sign * d.amount,
                reference=d.reference,
                idempotency_key=d.key,
                user=plan.user,
            )
        )
    SavingsTransaction.objects.bulk_create(entries)
    SavingsAccount.objects.bulk_update(list(accounts.values()), ["balance"])
