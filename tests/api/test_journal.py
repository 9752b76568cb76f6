"""The daily journal over HTTP: admin scope, the token's offices only, JSON and CSV alike."""

import datetime as dt

import pytest
from django.urls import reverse

from loans import services as loan_services

from ..conftest import key
from .conftest import bearer, make_token

pytestmark = pytest.mark.django_db
URL, CSV = reverse("api:journal"), reverse("api:journal-csv")


@pytest.fixture
def day(api_world, active_loan, staff_a):
    """A's 10/06: api_world's 1.000.000 repaid, and 200.000 of interest."""
    loan_services.loan_pay_interest(
        loan=active_loan, amount=200_000, value_date=dt.date(2021, 6, 10), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    return {"office": "A", "date": "2021-06-10"}


def test_the_journal_balances_and_names_its_lines(client, day, manager_a):
    body = client.get(URL, day, **bearer(make_token(manager_a, scope="admin"))).json()
    assert body["debits"] == body["credits"] == 1_200_000 and body["entries"] == 2
    cash = next(line for line in body["lines"] if line["account"] == "cash")
    assert (cash["programme"], cash["fund_source"], cash["debit"]) == ("HN", "central", 1_200_000)


def test_the_file_is_the_same_journal(client, day, manager_a):
    response = client.get(CSV, day, **bearer(make_token(manager_a, scope="admin")))
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="journal_A_2021-06-10.csv"' in response["Content-Disposition"]
    rows = response.content.decode().splitlines()
    assert rows[-1] == "2021-06-10,A,total,,,,1200000,1200000"


def test_another_offices_token_gets_404_and_a_lesser_scope_403(
    client, day, manager_b, staff_a, manager_a
):
    for url in (URL, CSV):
        assert (
            client.get(url, day, **bearer(make_token(manager_b, scope="admin"))).status_code == 404
        )
        assert (
            client.get(url, day, **bearer(make_token(staff_a, scope="collect"))).status_code == 403
        )
        assert client.get(url, day).status_code in (401, 403)


@pytest.mark.parametrize(
    "params,field",
    [
        ({"office": "A", "date": "2021-06-16"}, "date"),
        ({"office": "A", "date": "2021-02-30"}, "date"),
        ({"office": "A"}, "date"),
        ({"date": "2021-06-10"}, "office"),
        ({"office": "A\x00", "date": "2021-06-10"}, "office"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_field(client, day, manager_a, params, field):
    response = client.get(URL, params, **bearer(make_token(manager_a, scope="admin")))
    assert response.status_code == 400
    assert field in response.json()
