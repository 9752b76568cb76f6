"""The daily journal: a worked day booked by hand, every day of a synthetic office balanced, and
the command's refusals."""

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from loans import services
from loans.models import LoanTransaction
from reports.journal import ACCOUNTS, daily_journal
from savings import services as savings_services
from seeding.synthetic import seed_office

from ..conftest import key

pytestmark = pytest.mark.django_db
DAY = dt.date(2021, 6, 10)


def _lines(journal):
    return {(line.account, line.programme, line.fund_source): (line.debit, line.credit)
            for line in journal.lines}  # fmt: skip


@pytest.fixture
def worked_day(active_loan, staff_a):
    """On 10/06: 1.000.000 principal repaid, 100.000 interest paid and reversed the same day,
    a 50.000 savings deposit; 30.000 of savings then pay interest."""
    services.loan_repay_principal(
        loan=active_loan, amount=1_000_000, value_date=DAY, user=staff_a, idempotency_key=key()
    )
    interest = services.loan_pay_interest(
        loan=active_loan, amount=100_000, value_date=DAY, user=staff_a, idempotency_key=key()
    )
    services.loan_reverse(entry=interest, value_date=DAY, user=staff_a, idempotency_key=key())
    savings_services.savings_deposit(
        household=active_loan.household, amount=50_000, value_date=DAY, user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    savings_services.savings_pay_loan(
        loan=active_loan, interest=30_000, value_date=DAY, user=staff_a, idempotency_key=key()
    )
    return active_loan


def test_a_worked_day_books_as_by_hand(worked_day):
    journal = daily_journal(worked_day.office, DAY)
    assert _lines(journal) == {
        # Cash in: 1.000.000 principal, 100.000 interest, 30.000 interest from savings; out: the
        # reversed 100.000. The savings' own cash: 50.000 in, 30.000 out to the loan.
        ("cash", "HN", "central"): (1_130_000, 100_000),
        ("loans_in_term", "HN", "central"): (0, 1_000_000),
        ("interest_income", "HN", "central"): (100_000, 130_000),
        ("cash", "", ""): (50_000, 30_000),
        ("member_savings", "", ""): (30_000, 50_000),
    }
    assert journal.debits == journal.credits == 1_310_000
    assert journal.entries == 6


def test_a_day_without_entries_is_an_empty_balanced_journal(active_loan):
    journal = daily_journal(active_loan.office, dt.date(2021, 6, 1))
    assert journal.lines == [] and journal.debits == journal.credits == 0


def test_every_day_of_a_synthetic_office_balances():
    office = seed_office(code="JRN", households=200, loans=400, entries=4_000, seed=3).office
    days = LoanTransaction.objects.filter(office=office).values_list("value_date", flat=True)
    kinds = set(LoanTransaction.objects.filter(office=office).values_list("kind", flat=True))
    assert {"disbursement", "principal_repayment", "transfer_to_overdue", "reversal"} <= kinds
    booked = 0
    for day in sorted(set(days)):
        journal = daily_journal(office, day)
        assert journal.debits == journal.credits, day
        assert {line.account for line in journal.lines} <= set(ACCOUNTS)
        booked += journal.entries
    assert booked == 4_000


def test_the_command_prints_json_and_writes_the_csv(worked_day, tmp_path, capsys):
    path = tmp_path / "journal.csv"
    call_command("daily_journal", office="A", date="2021-06-10", csv=path)
    printed = json.loads(capsys.readouterr().out)
    assert printed["debits"] == printed["credits"] == 1_310_000
    assert {"account": "loans_in_term", "programme": "HN", "fund_source": "central",
            "debit": 0, "credit": 1_000_000} in printed["lines"]  # fmt: skip
    rows = path.read_text().splitlines()
    assert rows[0] == "date,office,account,account_name,programme,fund_source,debit,credit"
    assert rows[-1] == "2021-06-10,A,total,,,,1310000,1310000"


@pytest.mark.parametrize(
    "options,message",
    [
        ({"office": "A", "date": "2021-06-16"}, "business date is 15/06/2021"),
        ({"office": "A", "date": "10/06/2021"}, "not a date"),
        ({"office": "ZZ", "date": "2021-06-10"}, "no office ZZ"),
    ],
)
def test_the_command_refuses_with_a_message(active_loan, options, message):
    # Whatever language the worker's previous test left active.
    with translation.override("en"), pytest.raises(CommandError, match=message):
        call_command("daily_journal", **options)
