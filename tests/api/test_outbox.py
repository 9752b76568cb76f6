"""The core bank's feed over HTTP: admin scope, a cursor that goes on from the last position,
and bad cursors refused with the field named."""

import datetime as dt

import pytest
from django.db import connection
from django.urls import reverse

from loans import services as loan_services
from savings import services as savings_services

from ..conftest import key
from .conftest import bearer, make_token

pytestmark = pytest.mark.django_db
URL = reverse("api:outbox")


@pytest.fixture
def numbered(api_world, active_loan, staff_a):
    """A's entries, numbered as at commit (a test runs inside one transaction), plus a deposit."""
    savings_services.savings_deposit(
        household=active_loan.household, amount=20_000, value_date=dt.date(2021, 6, 11),
        user=staff_a, idempotency_key=key(),
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS outbox_number_at_commit IMMEDIATE")
    return active_loan


def test_pages_go_on_from_the_last_position(client, numbered, manager_a):
    token = bearer(make_token(manager_a, scope="admin"))
    everything = client.get(URL, **token).json()
    entries = everything["entries"]
    assert [e["source"] for e in entries] == ["loan", "loan", "savings"]
    assert entries[0]["kind"] == "disbursement" and entries[0]["loan_number"] == numbered.number
    assert entries[2]["d_balance"] == 20_000 and entries[2]["loan_number"] is None
    assert everything["last_position"] == entries[-1]["position"]

    first = client.get(URL, {"limit": 2}, **token).json()
    assert first["more"] is True and len(first["entries"]) == 2
    rest = client.get(URL, {"after": first["last_position"]}, **token).json()
    assert first["entries"] + rest["entries"] == entries and rest["more"] is False
    # Nothing new: the same position back, to ask again later.
    idle = client.get(URL, {"after": rest["last_position"]}, **token).json()
    assert idle["entries"] == [] and idle["last_position"] == rest["last_position"]


def test_only_an_admin_token_reads_the_feed(client, numbered, manager_a, staff_a):
    assert client.get(URL, **bearer(make_token(staff_a, scope="collect"))).status_code == 403
    assert client.get(URL, **bearer(make_token(manager_a, scope="read"))).status_code == 403


@pytest.mark.parametrize(
    "params",
    [{"after": "-1"}, {"after": "x"}, {"after": "9" * 20}, {"after": ""}, {"limit": "0"},
     {"limit": "5001"}, {"limit": "١٢"}],
)  # fmt: skip
def test_a_bad_cursor_is_a_400_naming_it(client, numbered, manager_a, params):
    response = client.get(URL, params, **bearer(make_token(manager_a, scope="admin")))
    assert response.status_code == 400
    assert list(response.json()) == list(params)


def test_a_reversal_names_the_entry_it_reverses(client, numbered, manager_a, staff_a):
    entry = numbered.transactions.filter(kind="principal_repayment").get()
    reversal = loan_services.loan_reverse(
        entry=entry, value_date=dt.date(2021, 6, 12), user=staff_a, idempotency_key=key()
    )
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS outbox_number_at_commit IMMEDIATE")
    entries = client.get(URL, **bearer(make_token(manager_a, scope="admin"))).json()["entries"]
    assert entries[-1]["id"] == reversal.pk and entries[-1]["reverses"] == entry.pk


def test_one_offices_feed(client, numbered, manager_a):
    token = bearer(make_token(manager_a, scope="admin"))
    everything = client.get(URL, **token).json()["entries"]
    assert client.get(URL, {"office": "A"}, **token).json()["entries"] == everything
    assert client.get(URL, {"office": "B"}, **token).status_code == 404
    assert client.get(URL, {"office": "A\x00"}, **token).status_code == 400
    assert client.get(URL, {"office": ""}, **token).status_code == 400
