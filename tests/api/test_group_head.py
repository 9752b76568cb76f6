"""The group head's phone: a token that reaches one group; the sheet with its version; a receipt
posted with an Idempotency-Key is held, not in the ledger, once, also from two connections at
the same moment; a batch recorded offline says per receipt what happened."""

import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from api import services
from commune_day.models import HeldReceipt, TransactionSession
from loans.models import LoanTransaction

from ..factories import HouseholdFactory
from .conftest import bearer

pytestmark = pytest.mark.django_db

DAY = dt.date(2021, 6, 15)


@pytest.fixture
def head(staff_a, household_a, active_loan):
    """The group head's token (collect, the group only) and the commune's open session."""
    group = household_a.group
    session = TransactionSession.objects.create(
        office=group.office, commune=group.village.commune, date=DAY, leader=staff_a,
        opened_by=staff_a,
    )  # fmt: skip
    session.groups.add(group)
    _row, token = services.token_create(
        user=staff_a, name="tổ trưởng", scope="collect", actor=staff_a, group=group
    )
    return {"group": group, "loan": active_loan, "token": bearer(token), "session": session}


def post_receipt(client, head, key, **data):
    body = {"loan_number": head["loan"].number, "receipt": f"BL-{key}", **data}
    url = reverse("api:group-receipts", kwargs={"pk": head["group"].pk})
    return client.post(
        url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **head["token"]
    )


def test_a_group_token_reaches_its_group_only(client, head, household_a, staff_a):
    other = HouseholdFactory(group__village__commune__office=household_a.office)
    token = head["token"]
    groups = client.get(reverse("api:group-list"), **token).json()["results"]
    assert [g["id"] for g in groups] == [head["group"].pk]
    other_group = reverse("api:group-detail", args=[other.group_id])
    assert client.get(other_group, **token).status_code == 404
    borrowers = client.get(reverse("api:borrower-list"), **token).json()["results"]
    assert {b["id"] for b in borrowers} == {household_a.pk}
    assert client.get(reverse("api:borrower-detail", args=[other.pk]), **token).status_code == 404
    assert client.get(reverse("api:report-run-list"), **token).json()["results"] == []
    members = client.get(reverse("api:group-members", args=[head["group"].pk]), **token).json()
    assert [m["id"] for m in members] == [household_a.pk]
    assert members[0]["loans"][0]["number"] == head["loan"].number


def test_the_sheet_has_a_version_and_shows_what_is_held(client, head):
    url = reverse("api:group-sheet", args=[head["group"].pk])
    sheet = client.get(url, **head["token"]).json()
    assert sheet["date"] == DAY.isoformat() and len(sheet["version"]) == 16
    [line] = sheet["lines"]
    assert line["loan_number"] == head["loan"].number and line["interest_due"] > 0
    assert post_receipt(client, head, "k1", interest=10_000).status_code == 201
    again = client.get(url, **head["token"]).json()
    assert again["version"] == sheet["version"]  # held receipts are not the ledger
    assert again["lines"][0]["held"] == {"interest": 10_000, "principal": 0, "savings": 0}


def test_a_receipt_is_held_once_and_a_repeat_returns_the_first_answer(client, head):
    entries = LoanTransaction.objects.count()
    first = post_receipt(client, head, "k1", interest=10_000, savings=5_000)
    assert first.status_code == 201, first.content
    again = post_receipt(client, head, "k1", interest=10_000, savings=5_000)
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = post_receipt(client, head, "k1", interest=9_000)
    assert other.status_code == 409 and other.json()["code"] == "key_reused"
    assert other.json()["receipt"] == first.json()
    assert HeldReceipt.objects.count() == 1
    assert LoanTransaction.objects.count() == entries  # held, not in the ledger


@pytest.mark.parametrize(
    "headers,data,field",
    [
        ({}, {"interest": 1_000}, "idempotency_key"),
        ({"HTTP_IDEMPOTENCY_KEY": "x" * 101}, {"interest": 1_000}, "idempotency_key"),
        ({"HTTP_IDEMPOTENCY_KEY": "k"}, {"interest": "1000"}, "interest"),
        ({"HTTP_IDEMPOTENCY_KEY": "k"}, {"interest": 10**20}, "interest"),
        ({"HTTP_IDEMPOTENCY_KEY": "k"}, {"interest": 1_000, "receipt": "BL\x001"}, "receipt"),
        ({"HTTP_IDEMPOTENCY_KEY": "k"}, {"interest": 1_000, "receipt": "  "}, "receipt"),
    ],
)
def test_a_receipt_of_the_wrong_shape_is_a_400_naming_the_field(client, head, headers, data, field):
    body = {"loan_number": head["loan"].number, "receipt": "BL1", **data}
    response = client.post(
        reverse("api:group-receipts", args=[head["group"].pk]), body,
        content_type="application/json", **headers, **head["token"],
    )  # fmt: skip
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not HeldReceipt.objects.exists()


@pytest.mark.parametrize(
    "data,field",
    [
        ({"interest": 0}, "interest"),
        ({"interest": 1_000, "loan_number": "X-1"}, "loan_number"),
        ({"interest": 1_000, "paid_on": "2999-01-01"}, "paid_on"),
        ({"interest": 10**11}, "interest"),
        ({"savings": 4_000}, "savings"),
    ],
)
def test_a_receipt_the_loan_refuses_is_a_409_naming_the_field(client, head, data, field):
    body = {"loan_number": head["loan"].number, "receipt": "BL1", **data}
    response = client.post(
        reverse("api:group-receipts", args=[head["group"].pk]), body,
        content_type="application/json", HTTP_IDEMPOTENCY_KEY="k", **head["token"],
    )  # fmt: skip
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "refused" and field in response.json()["errors"]
    assert not HeldReceipt.objects.exists()


def test_a_read_token_or_an_auditor_cannot_post(client, head, staff_a, auditor_a):
    _row, read = services.token_create(
        user=staff_a, name="r", scope="read", actor=staff_a, group=head["group"]
    )
    response = post_receipt(client, {**head, "token": bearer(read)}, "k", interest=1_000)
    assert response.status_code == 403
    with pytest.raises(Exception, match="scope"):
        services.token_create(
            user=auditor_a, name="a", scope="collect", actor=auditor_a, group=head["group"]
        )


def test_a_stale_sheet_version_is_refused_with_the_new_sheet(client, head):
    response = post_receipt(client, head, "k", interest=1_000, sheet_version="0" * 16)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "sheet_changed"
    assert body["sheet"]["version"] != "0" * 16 and body["sheet"]["lines"]
    assert not HeldReceipt.objects.exists()


def test_a_batch_says_per_receipt_what_happened(client, head):
    url = reverse("api:group-receipts-batch", args=[head["group"].pk])
    version = client.get(reverse("api:group-sheet", args=[head["group"].pk]), **head["token"])
    version = version.json()["version"]
    loan = head["loan"].number
    assert post_receipt(client, head, "a", interest=1_000).status_code == 201
    receipts = [
        {"idempotency_key": "a", "loan_number": loan, "receipt": "BL-a", "interest": 1_000},
        {"idempotency_key": "b", "loan_number": loan, "receipt": "BL-b", "savings": 10_000},
        {"idempotency_key": "c", "loan_number": "nope", "receipt": "BL-c", "interest": 1},
        {"idempotency_key": "a", "loan_number": loan, "receipt": "BL-z", "interest": 2_000},
    ]
    response = client.post(
        url, {"sheet_version": version, "receipts": receipts}, content_type="application/json",
        **head["token"],
    )  # fmt: skip
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["replayed", "created", "refused", "conflict"]
    assert "loan_number" in results[2]["errors"]
    assert HeldReceipt.objects.count() == 2
    stale = client.post(
        url, {"sheet_version": "x", "receipts": receipts[1:2]}, content_type="application/json",
        **head["token"],
    )  # fmt: skip
    # b is already held under its key: its replay is checked before the version
    assert [r["status"] for r in stale.json()["results"]] == ["replayed"]
    new = {**receipts[1], "idempotency_key": "d"}
    stale = client.post(
        url, {"sheet_version": "x", "receipts": [new]}, content_type="application/json",
        **head["token"],
    )  # fmt: skip
    assert [r["status"] for r in stale.json()["results"]] == ["stale"]
    empty = client.post(url, {"receipts": []}, content_type="application/json", **head["token"])
    assert empty.status_code == 200 and empty.json()["results"] == []
    bad = client.post(url, {"receipts": "x"}, content_type="application/json", **head["token"])
    assert bad.status_code == 400 and "receipts" in bad.json()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_key_from_two_connections_at_the_same_moment_holds_once(head):
    barrier, answers = threading.Barrier(2), []

    def phone():
        try:
            barrier.wait()
            answers.append(post_receipt(Client(), head, "same", interest=5_000))
        finally:
            connection.close()

    threads = [threading.Thread(target=phone) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert answers[0].json() == answers[1].json()
    assert HeldReceipt.objects.count() == 1


def test_the_command_makes_a_group_heads_token(capsys, client, head, staff_a):
    call_command(
        "create_api_token", "--user", "staff_a", "--scope", "collect",
        "--group", head["group"].code,
    )  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert head["group"].code in lines[0]
    response = client.get(reverse("api:group-list"), **bearer(lines[-1]))
    assert [g["code"] for g in response.json()["results"]] == [head["group"].code]
