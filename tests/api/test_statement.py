"""The borrower's statement over the API: the page's statement with the savings beside it, for a
staff token of the office and for the household's own token, and for no one else."""

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse

from api import services
from savings import services as savings_services

from ..conftest import key
from ..factories import HouseholdFactory
from .conftest import bearer, make_token

pytestmark = pytest.mark.django_db


def _url(household):
    return reverse("api:borrower-statement", kwargs={"pk": household.pk})


def _household_token(user, household):
    _row, token = services.token_create(
        user=user, name="phone", scope="read", actor=user, household=household
    )
    return bearer(token)


def test_the_statement_has_the_loans_and_the_savings(client, api_world, active_loan, staff_a):
    household = active_loan.household
    savings_services.savings_deposit(
        household=household, amount=30_000, value_date=dt.date(2021, 6, 11), user=staff_a,
        idempotency_key=key(), reference="BL 7",
    )  # fmt: skip
    body = client.get(_url(household), **bearer(make_token(staff_a))).json()
    assert body["as_of"] == "2021-06-15" and body["citizen_id"] == household.citizen_id
    (loan,) = body["loans"]
    active_loan.refresh_from_db()
    assert loan["number"] == active_loan.number
    assert loan["totals"]["outstanding"] == active_loan.outstanding == body["totals"]["outstanding"]
    assert [e["kind"] for e in loan["entries"]] == ["disbursement", "principal_repayment"]
    assert loan["entries"][-1]["outstanding"] == active_loan.outstanding
    assert body["savings"] == {
        "balance": 30_000,
        "entries": [
            {
                "id": body["savings"]["entries"][0]["id"], "value_date": "2021-06-11",
                "kind": "deposit", "amount": 30_000, "d_balance": 30_000, "balance": 30_000,
                "reference": "BL 7",
            }
        ],
    }  # fmt: skip
    # As of a date before the deposit and the repayment: neither is there.
    earlier = client.get(_url(household), {"as_of": "2021-02-01"}, **bearer(make_token(staff_a)))
    assert earlier.json()["savings"] == {"balance": 0, "entries": []}
    assert [e["kind"] for e in earlier.json()["loans"][0]["entries"]] == ["disbursement"]


def test_a_borrowers_token_reads_its_own_household_only(client, api_world, active_loan, staff_a):
    household = active_loan.household
    neighbour = HouseholdFactory(group=household.group)
    token = _household_token(staff_a, household)
    assert client.get(_url(household), **token).status_code == 200
    assert client.get(_url(neighbour), **token).status_code == 404
    # Nothing else of the office either: its lists hold the household alone.
    rows = client.get(reverse("api:borrower-list"), **token).json()["results"]
    assert [r["id"] for r in rows] == [household.pk]
    assert client.get(reverse("api:outbox"), **token).status_code == 403


def test_another_offices_token_gets_404(client, api_world, active_loan, staff_b):
    response = client.get(_url(active_loan.household), **bearer(make_token(staff_b)))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "as_of,message",
    [
        ("2021-06-16", "at the latest"),
        ("2020-12-31", "first loan application"),
        ("16/13/2021", "YYYY-MM-DD"),
        ("15/06/2021", "YYYY-MM-DD"),
        ("2021-W01-1", "YYYY-MM-DD"),
        ("2021-02-30", "YYYY-MM-DD"),
        ("", "Give a value"),
        ("  ", "Give a value"),
    ],
)
def test_a_date_the_statement_cannot_be_true_on_is_a_400(
    client, api_world, active_loan, staff_a, as_of, message
):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(
        _url(active_loan.household), {"as_of": as_of}, **bearer(make_token(staff_a))
    )
    assert response.status_code == 400
    assert message in response.json()["as_of"][0]


def test_a_saver_without_a_loan_has_a_statement_of_savings(client, api_world, staff_a):
    saver = HouseholdFactory(group__village__commune__office=staff_a.memberships.get().office)
    savings_services.savings_deposit(
        household=saver, amount=40_000, value_date=dt.date(2021, 6, 1), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    body = client.get(_url(saver), **bearer(make_token(staff_a))).json()
    assert body["loans"] == [] and body["savings"]["balance"] == 40_000
    assert body["totals"]["outstanding"] == 0


def test_a_group_token_states_the_loans_through_its_group_only(
    client, api_world, active_loan, staff_a, manager_a, hn
):
    from loans import services as loan_services

    household = active_loan.household
    elsewhere = HouseholdFactory(group__village__commune__office=household.office).group
    other = loan_services.loan_apply(
        household=household, programme=hn, amount=10_000_000, term_months=24,
        applied_on=dt.date(2021, 2, 1), user=staff_a, group=elsewhere,
    )  # fmt: skip
    _row, token = services.token_create(
        user=staff_a, name="head", scope="read", actor=staff_a, group=household.group
    )
    numbers = [
        loan["number"] for loan in client.get(_url(household), **bearer(token)).json()["loans"]
    ]
    assert numbers == [active_loan.number] and other.number not in numbers
    every = client.get(_url(household), **bearer(make_token(staff_a))).json()["loans"]
    assert {loan["number"] for loan in every} == {active_loan.number, other.number}
