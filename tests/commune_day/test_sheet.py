"""The collection sheet (13/TD): interest due to the session date on hand-computed cases, the
principal due and overdue, in few queries; and the rules of opening a session."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from borrowers.models import HouseholdCategory, OfficeMembership
from commune_day import services as day
from commune_day.models import TransactionSession
from commune_day.selectors import collection_sheet
from loans import selectors, services
from loans.models import ProgrammeRule

from ..conftest import key, refused
from ..factories import GroupFactory, HouseholdFactory, UserFactory

D = dt.date
M = 1_000_000


def pay(loan, user, amount, day, **kwargs):
    return services.loan_pay_interest(
        loan=loan, amount=amount, value_date=day, user=user, idempotency_key=key(), **kwargs
    )


def line_of(loan, day):
    sheet = collection_sheet(loan.group, day)
    (line,) = [line for line in sheet.lines if line.loan_id == loan.pk]
    return line


def new_loan(household, staff, manager, programme, *, amount, disbursed_on):
    loan = services.loan_apply(
        household=household,
        programme=programme,
        amount=amount,
        term_months=60,
        applied_on=disbursed_on - dt.timedelta(days=10),
        user=staff,
        group=household.group,
    )
    services.loan_approve(loan=loan, user=manager, approved_on=disbursed_on - dt.timedelta(days=5))
    services.loan_disburse(
        loan=loan, amount=amount, value_date=disbursed_on, user=staff, idempotency_key=key()
    )
    loan.refresh_from_db()
    return loan


# --- interest due ------------------------------------------------------------------------------


def test_a_rate_change_inside_the_period(active_loan, staff_a, hn):
    # 50 M from 15/01/2021; interest paid to 14/02 (30 days at 0.55 %: 275.000).
    pay(active_loan, staff_a, 275_000, D(2021, 2, 14))
    ProgrammeRule.objects.create(
        programme=hn,
        effective_from=D(2021, 3, 1),
        monthly_rate=Decimal("0.45"),
        max_amount=100 * M,
        max_term_months=120,
        eligible_categories=["poor"],
        applies_to_existing=True,
    )
    # To 16/03: 15 days at 0.55 % (137.500) and 15 days at 0.45 % (112.500).
    line = line_of(active_loan, D(2021, 3, 16))
    assert line.interest_due == 137_500 + 112_500
    assert (line.principal_due, line.overdue, line.outstanding) == (0, 0, 50 * M)


def test_a_partly_overdue_loan_bears_130_percent_on_its_overdue_part(
    household_a, staff_a, manager_a, hn
):
    # 50 M from 15/01/2020 in ten instalments of 5 M every six months (15/07/2020, 15/01/2021,
    # …); the first went overdue on 16/07/2020, the second is due but not yet transferred.
    HouseholdCategory.objects.create(household=household_a, year=2020, category="poor")
    loan = new_loan(household_a, staff_a, manager_a, hn, amount=50 * M, disbursed_on=D(2020, 1, 15))
    services.loan_transfer_to_overdue(
        loan=loan, amount=5 * M, value_date=D(2020, 7, 16), user=staff_a, idempotency_key=key()
    )
    paid = selectors.loan_interest_due(loan, D(2020, 1, 15), D(2021, 5, 1))
    pay(loan, staff_a, paid, D(2021, 5, 1))
    # 01/05 → 31/05, 30 days: 45 M in term at 0.55 % (247.500) and 5 M overdue at 0.715 %
    # (35.750).
    line = line_of(loan, D(2021, 5, 31))
    assert line.interest_due == 247_500 + 35_750
    # Due: the 5 M overdue and the 5 M instalment of 15/01/2021 still in term; 40 M falls later.
    assert (line.overdue, line.principal_due, line.outstanding) == (5 * M, 10 * M, 50 * M)


def test_a_frozen_loan_bears_no_interest(active_loan, staff_a):
    paid = selectors.loan_interest_due(active_loan, D(2021, 1, 15), D(2021, 5, 1))
    pay(active_loan, staff_a, paid, D(2021, 5, 1))
    services.loan_freeze(
        loan=active_loan,
        amount=50 * M,
        value_date=D(2021, 5, 1),
        user=staff_a,
        idempotency_key=key(),
        note="Lũ lụt 2021, hồ sơ số 12",
    )
    line = line_of(active_loan, D(2021, 7, 20))
    # Frozen principal is neither charged interest nor collected: the July instalment is not due.
    assert (line.interest_due, line.principal_due, line.overdue) == (0, 0, 0)


def test_a_prepaid_credit_is_taken_off_the_interest_due(active_loan, staff_a):
    # 15/01 → 01/03, 45 days on 50 M at 0.55 %: 412.500, and 300.000 ahead.
    pay(active_loan, staff_a, 412_500 + 300_000, D(2021, 3, 1), prepayment=True)
    # To 01/04 (31 days: 284.167) the credit covers it all.
    assert line_of(active_loan, D(2021, 4, 1)).interest_due == 0
    # To 01/05 (61 days: 559.166,67 → 559.167) the credit pays 300.000 of it.
    assert line_of(active_loan, D(2021, 5, 1)).interest_due == 559_167 - 300_000


def test_the_principal_of_an_instalment_is_due_on_its_day(active_loan):
    # The first instalment of 5 M falls due on 15/07/2021, not the day before.
    assert line_of(active_loan, D(2021, 7, 14)).principal_due == 0
    assert line_of(active_loan, D(2021, 7, 15)).principal_due == 5 * M


def test_a_sheet_is_read_in_a_few_queries_whatever_its_size(
    active_loan, household_a, staff_a, manager_a, hn
):
    for n in range(5):
        member = HouseholdFactory(group=household_a.group, full_name=f"Trần Văn {n}")
        new_loan(member, staff_a, manager_a, hn, amount=10 * M, disbursed_on=D(2021, 2, 1))
    with CaptureQueriesContext(connection) as queries:
        sheet = collection_sheet(household_a.group, D(2021, 6, 10))
    assert len(sheet.lines) == 6
    assert len(queries) <= 6
    assert sheet.totals["outstanding"] == 100 * M
    assert sheet.totals["interest_due"] == sum(line.interest_due for line in sheet.lines)


def test_a_settled_loan_with_interest_payable_is_on_the_sheet_until_it_is_paid(
    active_loan, staff_a
):
    # The 50 M repaid on 01/05 with no interest: 15/01 → 01/05 is still to pay, and nothing
    # accrues after it.
    services.loan_repay_principal(
        loan=active_loan,
        amount=50 * M,
        value_date=D(2021, 5, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    active_loan.refresh_from_db()
    assert active_loan.status == "settled"
    left = selectors.loan_interest_due(active_loan, D(2021, 1, 15), D(2021, 5, 1))
    assert left > 0
    line = line_of(active_loan, D(2021, 6, 10))
    assert (line.interest_due, line.principal_due, line.overdue, line.outstanding) == (
        left,
        0,
        0,
        0,
    )
    pay(active_loan, staff_a, left, D(2021, 6, 10))
    # Paid at the session of 10/06: still on that day's sheet (it had interest due), with none
    # left; on the next day's, gone.
    assert line_of(active_loan, D(2021, 6, 10)).interest_due == 0
    assert collection_sheet(active_loan.group, D(2021, 6, 11)).lines == []


def test_loans_of_other_groups_and_not_disbursed_are_not_on_the_sheet(active_loan, household_a):
    other = GroupFactory(village=household_a.village)
    assert collection_sheet(other, D(2021, 6, 10)).lines == []


# --- opening a session -------------------------------------------------------------------------


@pytest.fixture
def commune(household_a):
    return household_a.village.commune


def test_a_session_opens_on_the_communes_day_with_its_groups(
    commune, household_a, staff_a, controller_a, teller_a
):
    dissolved = GroupFactory(village=household_a.village, dissolved_on=D(2021, 3, 1))
    other_org = GroupFactory(
        village=household_a.village,
        chapter__organisation__code="farmers",
    )
    session = day.session_open(
        office=commune.office,
        commune=commune,
        leader=staff_a,
        controller=controller_a,
        teller=teller_a,
        user=staff_a,
    )
    # The commune's day (10) in the business month (06/2021).
    assert session.date == D(2021, 6, 10)
    groups = set(session.groups.all())
    assert household_a.group in groups and other_org in groups and dissolved not in groups
    assert session.status == TransactionSession.Status.OPEN


def test_one_session_per_commune_and_day(commune, staff_a):
    day.session_open(office=commune.office, commune=commune, leader=staff_a, user=staff_a)
    with refused("already has a session on 10/06/2021", field="date"):
        day.session_open(office=commune.office, commune=commune, leader=staff_a, user=staff_a)


def test_the_team_is_three_different_people_of_the_office(
    commune, staff_a, teller_a, auditor_a, staff_b
):
    office = commune.office
    with refused("must be a different person from the leader", field="teller"):
        day.session_open(
            office=office, commune=commune, leader=staff_a, teller=staff_a, user=staff_a
        )
    with refused("is not a staff member or manager of", field="controller"):
        day.session_open(
            office=office, commune=commune, leader=staff_a, controller=staff_b, user=staff_a
        )
    with refused("is not a staff member or manager of", field="controller"):
        day.session_open(
            office=office, commune=commune, leader=staff_a, controller=auditor_a, user=staff_a
        )
    with refused("Only staff or a manager"):
        day.session_open(office=office, commune=commune, leader=staff_a, user=staff_b)
    assert not TransactionSession.objects.exists()


def test_groups_of_another_commune_are_refused(commune, staff_a, household_b):
    with refused("Not groups of", field="groups"):
        day.session_open(
            office=commune.office,
            commune=commune,
            leader=staff_a,
            user=staff_a,
            groups=[household_b.group],
        )


def test_the_team_is_named_after_opening_and_a_closed_session_refuses_postings(
    commune, staff_a, controller_a, teller_a
):
    session = day.session_open(
        office=commune.office, commune=commune, leader=staff_a, user=staff_a, date=D(2021, 6, 12)
    )
    session = day.session_set_team(
        session=session, user=staff_a, controller=controller_a, teller=teller_a
    )
    assert (session.controller, session.teller) == (controller_a, teller_a)
    with refused("must be a different person from the controller", field="teller"):
        day.session_set_team(session=session, user=staff_a, teller=controller_a)
    assert day.session_require_open(session) == session
    TransactionSession.objects.filter(pk=session.pk).update(
        status="closing",
        cash_expected=0,
        cash_counted=0,
        closed_by=teller_a,
        closed_at="2021-06-12T10:00Z",
    )
    with refused("it takes no more postings"):
        day.session_require_open(session)


def test_a_user_who_left_the_office_cannot_join_the_team(commune, staff_a, teller_a):
    OfficeMembership.objects.filter(user=teller_a).delete()
    with refused("is not a staff member or manager of", field="teller"):
        day.session_open(
            office=commune.office, commune=commune, leader=staff_a, teller=teller_a, user=staff_a
        )
    assert UserFactory(username="someone")  # the cast is untouched otherwise


def test_the_savings_balance_is_the_households_at_the_start_of_the_day(active_loan, staff_a):
    from savings.services import savings_deposit

    household = active_loan.household
    for amount, on in ((50_000, D(2021, 5, 10)), (20_000, D(2021, 6, 10))):
        savings_deposit(
            household=household, amount=amount, value_date=on, user=staff_a, idempotency_key=key()
        )
    # The deposit made at the session of 10/06 is not on that day's sheet.
    assert line_of(active_loan, D(2021, 6, 10)).savings_balance == 50_000
    sheet = collection_sheet(active_loan.group, D(2021, 6, 11))
    assert sheet.totals["savings_balance"] == 70_000
