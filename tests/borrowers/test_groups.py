"""Savings and loan groups in the browser (issue 13, point 1): the list, and a group's page with
its members, their balances and the membership history."""

import csv
import io

import pytest
from django.urls import reverse

from loans import services

from ..factories import GroupFactory, HouseholdFactory


@pytest.fixture
def en(client):
    client.cookies["django_language"] = "en"
    return client


def test_the_list_shows_the_office_s_groups_with_members_and_balance(
    en, staff_a, active_loan, household_a, household_b
):
    # household_b's group is office B's: the list has office A's one row.
    group = household_a.group
    HouseholdFactory(group=group, village=household_a.village, full_name="Lê Thị Mai")
    en.force_login(staff_a)
    response = en.get(reverse("groups:list"))
    assert response.status_code == 200
    [row] = list(response.context["table"].rows)
    assert row.record.pk == group.pk
    assert (row.record.members, row.record.balance) == (2, 50_000_000)
    export = en.get(reverse("groups:list"), {"_export": "csv"})
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[1][0] == group.code and rows[1][-1] == "50000000"


def test_the_list_searches_and_filters(en, staff_a, household_a):
    group = household_a.group
    other = GroupFactory(village__commune__office=household_a.office, head_name="Phạm Văn Đức")
    en.force_login(staff_a)

    def codes(**params):
        response = en.get(reverse("groups:list"), params)
        assert response.status_code == 200
        return {row.record.code for row in response.context["table"].rows}

    assert codes() == {group.code, other.code}
    assert codes(q="Đức") == {other.code}
    assert codes(q=group.code) >= {group.code}
    assert codes(commune=other.village.commune_id) == {other.code}
    assert codes(organisation=group.chapter.organisation_id) >= {group.code}
    assert codes(status="dissolved") == set()


@pytest.mark.parametrize(
    "params",
    [
        {"commune": "x"},
        {"commune": "9" * 30},
        {"organisation": "²"},
        {"status": "gone"},
        {"q": "a" * 5000},
        {"page": "abc"},
        {"page": "99999"},
        {"sort": "nonsense"},
    ],
)
def test_bad_list_input_never_breaks_the_page(en, staff_a, household_a, params):
    en.force_login(staff_a)
    response = en.get(reverse("groups:list"), params)
    assert response.status_code in (200, 404)


def test_a_group_page_lists_members_with_their_balances_and_history(
    en, staff_a, active_loan, household_a, hn
):
    group = household_a.group
    second = HouseholdFactory(group=group, village=household_a.village, full_name="Lê Thị Mai")
    loan = services.loan_apply(
        household=second, programme=hn, amount=10_000_000, term_months=12,
        applied_on=active_loan.applied_on, user=staff_a, group=group,
    )  # fmt: skip
    en.force_login(staff_a)
    page = en.get(reverse("groups:detail", args=[group.pk]))
    assert page.status_code == 200
    rows = page.context["rows"]
    assert {member.pk for member, _balance in rows} == {household_a.pk, second.pk}
    balances = {member.pk: balance for member, balance in rows}
    assert balances[household_a.pk]["outstanding"] == 50_000_000
    assert balances[second.pk]["outstanding"] == 0  # applied, not disbursed
    assert page.context["totals"] == {
        "loans": 1,
        "outstanding": 50_000_000,
        "overdue": 0,
        "frozen": 0,
    }
    text = page.content.decode()
    assert group.head_name in text and "Lê Thị Mai" in text
    assert "50.000.000 ₫" in text
    assert f"?office={group.office_id}&amp;object={group.code}" in text  # its history
    assert loan.number not in text  # loans are on the household's page


def test_another_office_s_group_is_not_found(en, staff_b, household_a):
    en.force_login(staff_b)
    assert en.get(reverse("groups:detail", args=[household_a.group_id])).status_code == 404
    assert en.get("/groups/99999999999999999999/").status_code == 404


def test_a_moved_household_leaves_the_members_but_stays_in_the_history(en, staff_a, household_a):
    from borrowers.models import GroupMembership, Household

    group = household_a.group
    GroupMembership.objects.create(group=group, household=household_a, joined_on="2020-01-01")
    Household.objects.filter(pk=household_a.pk).update(status=Household.Status.MOVED)
    en.force_login(staff_a)
    page = en.get(reverse("groups:detail", args=[group.pk]))
    assert page.context["rows"] == []
    assert household_a.full_name in page.content.decode()  # the membership history
