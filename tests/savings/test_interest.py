"""Savings interest (issue 13, point 5): credited on 30 June and 31 December at the dated
demand-deposit rate on daily balances."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from borrowers.models import Office
from savings import services
from savings.models import DemandDepositRate, SavingsTransaction
from savings.selectors import savings_mismatches

from ..conftest import key, refused
from ..factories import HouseholdFactory

D = dt.date
pytestmark = pytest.mark.django_db


def post(operation, household, amount, day, user):
    return operation(
        household=household, amount=amount, value_date=day, user=user, idempotency_key=key()
    )


@pytest.fixture
def half_year(office_a, household_a, staff_a):
    """The office's business date is 1 July 2021; its own rate replaces the placeholder."""
    Office.objects.filter(pk=office_a.pk).update(business_date=D(2021, 7, 1))
    DemandDepositRate.objects.create(
        office=office_a, effective_from=D(2021, 1, 1), annual_rate=Decimal("0.20")
    )
    DemandDepositRate.objects.create(
        office=office_a, effective_from=D(2021, 4, 1), annual_rate=Decimal("0.30")
    )
    post(services.savings_deposit, household_a, 1_000_000, D(2021, 1, 1), staff_a)
    post(services.savings_deposit, household_a, 500_000, D(2021, 3, 15), staff_a)
    post(services.savings_withdraw, household_a, 300_000, D(2021, 5, 10), staff_a)
    return household_a


def test_a_worked_half_year(half_year, office_a, staff_a):
    """The first half of 2021 (181 days), each day on its closing balance at the rate in force:

    | days            | count | balance   | rate %/yr | balance × days × rate |
    | 01/01 – 14/03   |    73 | 1.000.000 | 0,20      |            14.600.000 |
    | 15/03 – 31/03   |    17 | 1.500.000 | 0,20      |             5.100.000 |
    | 01/04 – 09/05   |    39 | 1.500.000 | 0,30      |            17.550.000 |
    | 10/05 – 30/06   |    52 | 1.200.000 | 0,30      |            18.720.000 |
    |                 |   181 |           |           |            55.970.000 |

    55.970.000 ÷ (100 × 365) = 1.533,42… → 1.533 đồng, rounded once for the half-year.
    A member who deposited 5.000 ₫ on 30 June earns 5.000 × 0,30 ÷ 36.500 = 0,04 ₫ → 0: nothing
    is posted for her.
    """
    late = HouseholdFactory(group__village__commune__office=office_a)
    post(services.savings_deposit, late, 5_000, D(2021, 6, 30), staff_a)
    assert services.savings_credit_interest(office=office_a, day=D(2021, 6, 30), user=staff_a) == 1
    credit = SavingsTransaction.objects.get(kind="interest_credit")
    assert (credit.account.household_id, credit.amount, credit.value_date) == (
        half_year.pk,
        1_533,
        D(2021, 6, 30),
    )
    assert credit.account.balance == 1_201_533
    # Once per account and half-year: a second run posts nothing.
    assert services.savings_credit_interest(office=office_a, day=D(2021, 6, 30), user=staff_a) == 0
    assert SavingsTransaction.objects.filter(kind="interest_credit").count() == 1
    assert savings_mismatches() == []


def test_the_second_half_earns_on_the_credited_interest(half_year, office_a, staff_a):
    """1.201.533 ₫ (with June's interest) all the second half (184 days) at 0,30 %/yr:
    1.201.533 × 184 × 0,30 ÷ 36.500 = 1.817,10… → 1.817 đồng."""
    services.savings_credit_interest(office=office_a, day=D(2021, 6, 30), user=staff_a)
    Office.objects.filter(pk=office_a.pk).update(business_date=D(2022, 1, 1))
    office_a.refresh_from_db()
    services.savings_credit_interest(office=office_a, day=D(2021, 12, 31), user=staff_a)
    credit = SavingsTransaction.objects.filter(kind="interest_credit").latest("id")
    assert (credit.amount, credit.value_date) == (1_817, D(2021, 12, 31))


def test_interest_is_credited_only_on_the_half_years_last_day(half_year, office_a, staff_a):
    with refused("30 June and 31 December", field="day"):
        services.savings_credit_interest(office=office_a, day=D(2021, 6, 29), user=staff_a)
    with refused("after the business date", field="value_date"):
        services.savings_credit_interest(office=office_a, day=D(2021, 12, 31), user=staff_a)
    # On 30 June itself the day's deposits may still come: credited once the day is over.
    Office.objects.filter(pk=office_a.pk).update(business_date=D(2021, 6, 30))
    with refused("once that day is over", field="day"):
        services.savings_credit_interest(office=office_a, day=D(2021, 6, 30), user=staff_a)


@translation.override("en")
def test_the_command_credits_interest(half_year, office_a, staff_a):
    out = StringIO()
    call_command(
        "credit_savings_interest",
        "--office",
        "A",
        "--date",
        "2021-06-30",
        "--user",
        "staff_a",
        stdout=out,
    )
    assert "1 account" in out.getvalue()
    assert SavingsTransaction.objects.get(kind="interest_credit").amount == 1_533
    with pytest.raises(CommandError, match="30 June and 31 December"):
        call_command(
            "credit_savings_interest", "--office", "A", "--date", "2021-06-29", "--user", "staff_a"
        )
    with pytest.raises(CommandError, match="No office"):
        call_command(
            "credit_savings_interest", "--office", "ZZ", "--date", "2021-06-30", "--user", "staff_a"
        )
    with pytest.raises(CommandError, match="No user"):
        call_command(
            "credit_savings_interest", "--office", "A", "--date", "2021-06-30", "--user", "nobody"
        )


def test_the_daily_task_credits_a_passed_half_year_once(half_year, office_a, office_b, manager_a):
    """After the end of day of 30 June (business date 1 July) the task credits office A, unless
    June is closed; office B (business date 15 June) has passed no credit day with savings."""
    from loans.models import ClosedMonth
    from savings.tasks import last_credit_day, savings_interest_due

    assert last_credit_day(D(2021, 7, 1)) == D(2021, 6, 30)
    assert last_credit_day(D(2021, 6, 30)) == D(2020, 12, 31)
    assert last_credit_day(D(2022, 1, 1)) == D(2021, 12, 31)
    closed = ClosedMonth.objects.create(office=office_a, month=D(2021, 6, 1), closed_by=manager_a)
    assert savings_interest_due() == 0
    closed.delete()
    assert savings_interest_due() == 1
    assert savings_interest_due() == 0
    credit = SavingsTransaction.objects.get(kind="interest_credit")
    assert (credit.amount, credit.user) == (1_533, None)
