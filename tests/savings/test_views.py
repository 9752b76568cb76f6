"""Savings in the browser (issue 13, point 5): a household's savings ledger, the deposit,
withdrawal and pay-from-savings forms, and the savings on the household and group pages."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from savings import services
from savings.models import SavingsAccount, SavingsTransaction

from ..conftest import key
from ..factories import HouseholdFactory

D = dt.date
VD = "value_date"
pytestmark = pytest.mark.django_db


@pytest.fixture
def en(client):
    client.cookies["django_language"] = "en"
    return client


def deposit(household, amount, day=None, user=None):
    return services.savings_deposit(
        household=household,
        amount=amount,
        value_date=day or D(2021, 6, 1),
        user=user,
        idempotency_key=key(),
    )


def post(client, name, pk, **data):
    payload = {"value_date": "15/06/2021", "idempotency_key": key(), **data}
    return client.post(reverse(name, args=[pk]), payload)


def test_deposit_and_withdrawal_through_the_forms(en, staff_a, household_a):
    en.force_login(staff_a)
    form = en.get(reverse("savings:deposit", args=[household_a.pk]))
    assert form.status_code == 200
    assert form.context["form"]["value_date"].value() == D(2021, 6, 15)
    same = key()
    for _ in range(2):  # a double-submitted form posts once
        response = post(
            en, "savings:deposit", household_a.pk, amount="150.000", idempotency_key=same
        )
        assert response.status_code == 302
        assert response.url == reverse("savings:ledger", args=[household_a.pk])
    assert post(en, "savings:withdraw", household_a.pk, amount="50.000").status_code == 302
    assert SavingsAccount.objects.get(household=household_a).balance == 100_000
    page = en.get(reverse("savings:ledger", args=[household_a.pk]))
    assert page.status_code == 200
    rows = [row.record for row in page.context["table"].page.object_list]
    assert [(e.kind, e.amount) for e in rows] == [("withdrawal", 50_000), ("deposit", 150_000)]
    assert "100.000 ₫" in page.content.decode()


@pytest.mark.parametrize(
    ("name", "data", "field", "message"),
    [
        ("savings:deposit", {"amount": "4.000"}, "amount", "at least 5.000 đồng"),
        ("savings:deposit", {"amount": "abc"}, "amount", "Enter an amount in đồng"),
        ("savings:deposit", {"amount": "-5.000"}, "amount", "must be positive"),
        ("savings:deposit", {"amount": "5.000,5"}, "amount", "without decimals"),
        ("savings:deposit", {"amount": "9" * 40}, "amount", "at most"),
        ("savings:deposit", {"amount": "10.000", VD: "16/06/2021"}, VD, "after the business date"),
        ("savings:deposit", {"amount": "10.000", VD: "31/02/2021"}, VD, "valid date"),
        ("savings:withdraw", {"amount": "10.001"}, "amount", "at most 10.000 đồng"),
        ("savings:withdraw", {"amount": ""}, "amount", "required"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_on_its_field(en, staff_a, household_a, name, data, field, message):
    deposit(household_a, 10_000)
    en.force_login(staff_a)
    response = post(en, name, household_a.pk, **data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(message in e for e in errors.get(field, [])), errors
    assert SavingsTransaction.objects.count() == 1


def test_a_withdrawal_without_savings_says_so(en, staff_a, household_a):
    en.force_login(staff_a)
    response = post(en, "savings:withdraw", household_a.pk, amount="10.000")
    assert response.status_code == 200
    assert "no savings" in " ".join(response.context["form"].non_field_errors())


def test_pay_a_loan_from_savings(en, staff_a, active_loan):
    household = active_loan.household
    deposit(household, 2_000_000)
    en.force_login(staff_a)
    loan_page = en.get(reverse("loans:detail", args=[active_loan.pk]))
    assert reverse("savings:pay_loan", args=[active_loan.pk]) in loan_page.content.decode()
    empty = post(en, "savings:pay_loan", active_loan.pk)
    assert "Enter the interest or the principal" in " ".join(
        empty.context["form"].non_field_errors()
    )
    short = post(en, "savings:pay_loan", active_loan.pk, interest="100.000", principal="1.900.001")
    assert "at most 2.000.000 đồng" in short.context["form"].errors["interest"][0]
    # The loan's own refusal: above the interest due to 15/06/2021 (1.384.167 ₫).
    too_much = post(en, "savings:pay_loan", active_loan.pk, interest="1.999.000")
    assert too_much.status_code == 200
    assert "1.384.167" in too_much.context["form"].errors["interest"][0]
    response = post(en, "savings:pay_loan", active_loan.pk, interest="100.000", principal="150.000")
    assert response.status_code == 302
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 49_850_000
    assert SavingsAccount.objects.get(household=household).balance == 1_750_000


def test_the_household_page_shows_its_savings(en, staff_a, auditor_a, household_a):
    en.force_login(staff_a)
    page = en.get(reverse("borrowers:detail", args=[household_a.pk])).content.decode()
    assert "No savings yet" in page
    assert reverse("savings:deposit", args=[household_a.pk]) in page
    deposit(household_a, 75_000, user=staff_a)
    page = en.get(reverse("borrowers:detail", args=[household_a.pk])).content.decode()
    assert re.search(r'id="savings-balance">75\.000 ₫<', page)
    assert reverse("savings:ledger", args=[household_a.pk]) in page
    en.force_login(auditor_a)  # reads, does not post
    page = en.get(reverse("borrowers:detail", args=[household_a.pk])).content.decode()
    assert "75.000 ₫" in page
    assert reverse("savings:deposit", args=[household_a.pk]) not in page


def test_the_group_page_shows_each_members_savings_in_one_query(
    en, staff_a, household_a, django_assert_max_num_queries
):
    group = household_a.group
    others = [HouseholdFactory(group=group, village=household_a.village) for _ in range(3)]
    deposit(household_a, 40_000)
    deposit(others[0], 10_000)
    en.force_login(staff_a)
    with django_assert_max_num_queries(14) as queries:
        page = en.get(reverse("groups:detail", args=[group.pk]))
    assert sum("savings_savingsaccount" in q["sql"] for q in queries.captured_queries) == 1
    text = page.content.decode()
    assert re.search(r'id="group-savings">50\.000 ₫<', text)
    assert "40.000 ₫" in text and "10.000 ₫" in text


def test_the_ledger_page_takes_any_page_parameter(en, staff_a, household_a):
    for day in range(1, 4):
        deposit(household_a, 5_000, D(2021, 6, day))
    en.force_login(staff_a)
    url = reverse("savings:ledger", args=[household_a.pk])
    for page in ("abc", "-1", "0", "9" * 30, "2"):
        assert en.get(url, {"page": page, "per_page": "7"}).status_code == 200
    empty = HouseholdFactory(group=household_a.group, village=household_a.village)
    assert en.get(reverse("savings:ledger", args=[empty.pk])).status_code == 200


def test_a_payment_the_four_eyes_policy_holds_is_refused_on_the_form(en, staff_a, active_loan):
    from loans.models import FourEyesPolicy

    deposit(active_loan.household, 500_000, D(2021, 5, 1))
    FourEyesPolicy.objects.filter(office=active_loan.office).update(
        backdated=True, backdated_days=7
    )
    en.force_login(staff_a)
    response = post(
        en, "savings:pay_loan", active_loan.pk, principal="100.000", value_date="20/05/2021"
    )
    assert response.status_code == 200
    said = " ".join(response.context["form"].non_field_errors())
    assert "four-eyes policy holds this payment (dated 26 days before" in said
    assert SavingsAccount.objects.get(household=active_loan.household).balance == 500_000
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 50_000_000
