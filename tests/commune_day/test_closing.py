"""Closing a session (issue 13, point 9): the count against the postings, a difference
explained, the controller's countersignature by a second person; then no more postings."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from borrowers.models import HouseholdCategory
from commune_day import services as day
from commune_day.models import SheetPosting, TransactionSession
from commune_day.posting import post_collection_sheet
from commune_day.selectors import collection_sheet, session_summary
from loans import services as loan_services
from loans.models import Loan
from loans.selectors import interest_due_on

from ..conftest import key, refused
from ..factories import HouseholdFactory

D = dt.date


@pytest.fixture
def session(household_a, staff_a, controller_a, teller_a):
    commune = household_a.village.commune
    return day.session_open(
        office=commune.office,
        commune=commune,
        leader=staff_a,
        controller=controller_a,
        teller=teller_a,
        user=staff_a,
    )


@pytest.fixture
def posted(session, household_a, teller_a):
    """A sheet as the posting part records it: 300.000 interest, 2 M principal, 50.000 savings
    in cash, 20.000 savings used for interest; and 1 M disbursed."""
    group = household_a.group
    SheetPosting.objects.create(
        session=session,
        group=group,
        idempotency_key="sheet-1",
        posted_by=teller_a,
        lines=1,
        interest=300_000,
        principal=2_000_000,
        savings_deposited=50_000,
        savings_for_interest=20_000,
    )
    SheetPosting.objects.create(
        session=session,
        group=group,
        kind="disbursement",
        idempotency_key="disb-1",
        posted_by=teller_a,
        disbursed=1_000_000,
    )
    return session


def test_the_summary_adds_up_the_postings(posted, household_a):
    summary = session_summary(posted)
    (row,) = summary.groups
    assert row.posted and row.group == household_a.group
    assert (row.interest_collected, row.principal_collected, row.cash_in) == (
        320_000,
        2_000_000,
        2_350_000,
    )
    assert summary.cash_expected == 2_350_000 - 1_000_000


def _old_loan(household, *, manager, staff, hn):
    """10 M over 60 months from 15/01/2020: ten instalments of 1 M every six months, so the
    two of 15/07/2020 and 15/01/2021 are due (in term) at the session of 10/06/2021."""
    HouseholdCategory.objects.get_or_create(household=household, year=2020, category="poor")
    loan = loan_services.loan_apply(
        household=household, programme=hn, amount=10_000_000, term_months=60,
        applied_on=D(2020, 1, 5), user=staff, group=household.group,
    )  # fmt: skip
    loan_services.loan_approve(loan=loan, user=manager, approved_on=D(2020, 1, 10))
    loan_services.loan_disburse(
        loan=loan, amount=10_000_000, value_date=D(2020, 1, 15), user=staff,
        idempotency_key=key(),
    )  # fmt: skip
    loan.refresh_from_db()
    return loan


def test_the_unpaid_is_counted_per_member_not_netted(
    session, household_a, manager_a, staff_a, teller_a, hn
):
    group = household_a.group
    ahead, behind, repaid = (
        _old_loan(h, manager=manager_a, staff=staff_a, hn=hn)
        for h in (
            household_a,
            HouseholdFactory(group=group, full_name="Lê Thị Mai"),
            HouseholdFactory(group=group, full_name="Đỗ Văn Nam"),
        )
    )
    sheet = {line.loan_id: line for line in collection_sheet(group, session.date).lines}
    assert [sheet[loan.pk].principal_due for loan in (ahead, behind, repaid)] == [2_000_000] * 3
    interest = {loan.pk: interest_due_on(loan, session.date).payable for loan in (ahead, behind)}
    # One member pays 5 M of principal (3 M beyond the due), one pays nothing, and one repays
    # the whole 10 M (its interest left unpaid).
    post_collection_sheet(
        session=session,
        group=group,
        lines=[
            {
                "loan_number": ahead.number,
                "interest": interest[ahead.pk],
                "principal": 3_000_000,
                "savings": 2_000_000,
                "savings_principal": 2_000_000,
            },
            {"loan_number": repaid.number, "principal": 10_000_000},
        ],  # fmt: skip
        user=teller_a,
        idempotency_key="sheet-1",
    )
    assert Loan.objects.get(pk=repaid.pk).status == "settled"
    repaid_interest = interest_due_on(Loan.objects.get(pk=repaid.pk), session.date).payable
    assert repaid_interest > 0

    summary = session_summary(session)
    (row,) = [row for row in summary.groups if row.group == group]
    assert (row.principal_collected, row.interest_collected) == (15_000_000, interest[ahead.pk])
    # Netted, the group's 6 M due less the 15 M collected would leave nothing unpaid; the member
    # who paid nothing still owes his 2 M, and his interest.
    assert row.principal_unpaid == 2_000_000
    # The loan repaid in full stays on the session's sheet (and so in its summary), with its
    # principal due as printed that morning and its interest still payable.
    line = next(
        line for line in collection_sheet(group, session.date).lines if line.loan_id == repaid.pk
    )
    assert (line.outstanding, line.principal_due, line.interest_due) == (
        10_000_000,
        2_000_000,
        repaid_interest,
    )
    assert row.interest_unpaid == interest[behind.pk] + repaid_interest
    assert summary.totals["principal_unpaid"] == 2_000_000


def test_closing_with_the_count_matching_then_countersigned(posted, teller_a, controller_a):
    session = day.session_close(
        session=posted, cash_counted=1_350_000, explanation="", user=teller_a
    )
    assert session.status == "closing" and session.cash_expected == 1_350_000
    assert session.cash_difference == 0
    session = day.session_countersign(session=session, user=controller_a)
    assert session.status == "closed" and session.countersigned_by == controller_a


def test_a_difference_needs_an_explanation(posted, teller_a):
    with refused("explain the difference", field="explanation"):
        day.session_close(session=posted, cash_counted=1_300_000, explanation=" ", user=teller_a)
    assert TransactionSession.objects.get(pk=posted.pk).status == "open"
    session = day.session_close(
        session=posted,
        cash_counted=1_300_000,
        explanation="Thiếu 50.000 ₫: tổ trưởng nộp bổ sung ngày mai",
        user=teller_a,
    )
    assert session.cash_difference == -50_000


def test_only_the_leader_or_teller_closes_and_only_the_controller_countersigns(
    posted, staff_a, controller_a, teller_a, manager_a
):
    with refused("Only the session's leader or teller"):
        day.session_close(session=posted, cash_counted=1_350_000, explanation="", user=controller_a)
    session = day.session_close(
        session=posted, cash_counted=1_350_000, explanation="", user=staff_a
    )
    with refused("another person must countersign"):
        day.session_countersign(session=session, user=staff_a)
    with refused("Only the session's controller"):
        day.session_countersign(session=session, user=manager_a)
    closed = day.session_countersign(session=session, user=controller_a)
    with refused("Only a session awaiting"):
        day.session_countersign(session=closed, user=controller_a)


def test_a_closed_session_takes_no_postings_and_cannot_close_again(posted, teller_a):
    session = day.session_close(
        session=posted, cash_counted=1_350_000, explanation="", user=teller_a
    )
    with refused("it takes no more postings"):
        day.session_require_open(session)
    with refused("it takes no more postings"):
        day.session_close(session=session, cash_counted=0, explanation="x", user=teller_a)


def test_closing_needs_the_whole_team(household_a, staff_a):
    commune = household_a.village.commune
    session = day.session_open(office=commune.office, commune=commune, leader=staff_a, user=staff_a)
    with refused("Name the session's controller and teller"):
        day.session_close(session=session, cash_counted=0, explanation="", user=staff_a)


def test_the_command_prints_the_sheet_as_json(active_loan, household_a):
    out = StringIO()
    call_command(
        "collection_sheet",
        office="A",
        group=household_a.group.code,
        date="2021-07-15",
        json=True,
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert data["group"] == household_a.group.code and data["date"] == "2021-07-15"
    assert data["lines"] == [
        {
            "citizen_id": household_a.citizen_id,
            "loan_number": active_loan.number,
            # 15/01 → 15/07: 181 days on 50 M at 0.55 % = 1.659.166,67.
            "interest_due": 1_659_167,
            "principal_due": 5_000_000,
            "overdue": 0,
            "savings_balance": 0,
        }
    ]
    assert data["totals"]["interest_due"] == 1_659_167


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"office": "A", "group": "nope", "date": "2021-07-15"}, "no group nope"),
        ({"office": "Z", "group": "G1", "date": "2021-07-15"}, "no office Z"),
        ({"office": "A", "group": "G1", "date": "15/07/2021"}, "--date is not a date"),
    ],
)
def test_the_command_refuses_bad_arguments(office_a, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("collection_sheet", json=True, **args)
