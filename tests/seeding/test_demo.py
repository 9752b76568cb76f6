"""The demo office reproduces the published figures of Đan Phượng, 1 January – 15 June 2021.

The demo is seeded once for this module, inside a transaction that is rolled back at the end, so
the rest of the suite never sees it. Everything is checked in one test: with pytest-xdist, tests of
one module may run on different workers, and each would seed again.
"""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import transaction

from borrowers.models import Chapter, Commune, Household, Office, OfficeMembership, SavingsGroup
from borrowers.selectors import household_search
from loans.models import ClosedMonth, Loan, Programme
from loans.selectors import ledger_mismatches
from reports.selectors import figures_for_period, roll_forward_holds, rows_sum_to_totals
from seeding.demo import DemoBuilder

M = 1_000_000


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            out = io.StringIO()
            call_command("seed_demo", stdout=out)
            yield Office.objects.get(code="DP"), out.getvalue()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def test_the_demo_office_shows_the_published_figures(demo, db):
    office, output = demo
    assert office.name == "Phòng giao dịch NHCSXH huyện Đan Phượng"
    assert office.business_date == dt.date(2021, 6, 15) and office.business_date_held
    assert "Elapsed" in output

    figures = figures_for_period(
        office=office, start=dt.date(2021, 1, 1), as_of=dt.date(2021, 6, 15)
    )
    assert figures["disbursed"] == 61_582 * M
    assert figures["collected"] == 45_312 * M
    assert figures["written_off"] == 3 * M
    assert figures["transferred_out"] == figures["transferred_in"] == 0
    assert figures["opening"] == 351_447 * M
    assert figures["closing"] == 367_714 * M
    assert figures["closing"] - figures["opening"] == 16_267 * M
    assert figures["customers_with_balance"] == 8_827
    assert figures["loan_turns"] == 1_665
    assert figures["workers_employed"] == 1_136
    nsvs = next(row for row in figures["by_programme"] if row["code"] == "NSVS")
    assert nsvs["loan_turns"] == 525
    with_balance = {row["code"] for row in figures["by_programme"] if row["closing"] > 0}
    assert with_balance == set(Programme.objects.values_list("code", flat=True))
    assert len(with_balance) == 8
    assert 0 < figures["overdue"] < figures["closing"] // 100  # a healthy office
    assert roll_forward_holds(figures)
    for dimension in ("programme", "commune", "organisation", "group"):
        assert rows_sum_to_totals(figures, dimension), dimension
        assert all(roll_forward_holds(row) for row in figures[f"by_{dimension}"]), dimension
    assert {row["code"] for row in figures["by_organisation"]} >= {
        "women",
        "farmers",
        "veterans",
        "youth",
    }

    # The cache agrees with the ledger.
    assert ledger_mismatches() == []

    # The office's shape: the town and 15 communes, ~300 groups, ~9,000 households.
    assert Commune.objects.filter(office=office).count() == 16
    assert Commune.objects.get(office=office, code="PHUNG").kind == "town"
    assert Chapter.objects.filter(office=office).count() == 16 * 4
    assert 280 <= SavingsGroup.objects.filter(office=office).count() <= 320
    households = Household.objects.filter(office=office)
    assert 8_500 <= households.count() <= 9_500
    shares = {
        code: SavingsGroup.objects.filter(office=office, chapter__organisation__code=code).count()
        for code in ("women", "farmers", "veterans", "youth")
    }
    assert shares["women"] > shares["farmers"] > shares["veterans"] > shares["youth"] > 16
    assert Loan.objects.filter(office=office).count() > 10_000

    # Staff find Nguyễn households by typing "nguyen".
    found = household_search(households, "nguyen")
    assert found.count() > households.count() // 4
    assert all("Nguyễn" in name for name in found.values_list("full_name", flat=True)[:50])
    assert household_search(households, "nguyen thi").filter(sex="F").exists()

    # The paper-era history is closed up to May 2021: a manager closes June next.
    closed = ClosedMonth.objects.filter(office=office)
    assert closed.latest("month").month == dt.date(2021, 5, 1)
    assert closed.earliest("month").month == dt.date(2016, 1, 1)
    assert closed.count() == 65

    # The demo users, and a second run that does nothing.
    roles = dict(
        OfficeMembership.objects.filter(office=office).values_list("user__username", "role")
    )
    assert roles == {
        "staff": "staff",
        "teller": "staff",
        "manager": "manager",
        "auditor": "auditor",
    }
    loans = Loan.objects.filter(office=office).count()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "nothing to do" in out.getvalue()
    assert Loan.objects.filter(office=office).count() == loans


def test_the_generator_is_deterministic():
    def draw():
        builder = DemoBuilder()
        builder.build_places()
        builder.build_households()
        return builder.groups, builder.households

    assert draw() == draw()
