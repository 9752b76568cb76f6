"""Bounds on what a loan's forms, services and tables take (issue 10, points 1, 2, 3 and 5)."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django import forms
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from borrowers.models import Office
from loans import selectors, services
from loans.forms import LoanApplyForm, VNDField, parse_vnd
from loans.models import Loan, LoanTransaction
from loans.money import MAX_AMOUNT

from ..conftest import key

D = dt.date


def _codes(error: ValidationError, field: str) -> list[str]:
    return [e.code for e in error.error_dict[field]]


def _post_form(client, url, **data):
    """GET the form, then POST it with its hidden key and defaults, and the given fields."""
    form = client.get(url).context["form"]
    payload = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    for name, value in payload.items():
        if hasattr(value, "isoformat"):
            payload[name] = value.isoformat()
    payload.update(data)
    return client.post(url, payload)


# --- parsing: ASCII digits and Vietnamese separators only ---------------------------------------


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1.500.000", 1_500_000),
        ("1,500,000", 1_500_000),
        ("1 500 000 ₫", 1_500_000),
        ("1\u202f500\u202f000", 1_500_000),
        ("1500000đ", 1_500_000),
        ("999.999.999.999.999", MAX_AMOUNT),
    ],
)
def test_amounts_in_ascii_digits_parse(text, amount):
    assert parse_vnd(text) == amount


@pytest.mark.parametrize(
    "text",
    ["１０００", "٣٠٠٠", "²", "①", "1.５00", "۱۲۳", "১০০০"],
)
def test_other_scripts_digits_are_not_amounts(text):
    with pytest.raises(forms.ValidationError) as exc:
        parse_vnd(text)
    assert exc.value.code == "invalid"


@pytest.mark.parametrize(
    "text",
    [
        str(MAX_AMOUNT + 1),
        "9223372036854775807",
        "9.223.372.036.854.775.808",
        "1" + "0" * 5000,  # int() refuses past 4300 digits: a ValueError, a 500
    ],
)
def test_an_amount_beyond_the_bound_is_refused_by_the_field(text):
    with translation.override("en"), pytest.raises(forms.ValidationError) as exc:
        VNDField().clean(text)
    assert exc.value.code == "too_large"
    assert "at most 999.999.999.999.999" in exc.value.messages[0]


def test_the_bound_itself_is_an_amount():
    assert VNDField().clean("999.999.999.999.999") == MAX_AMOUNT


@pytest.mark.parametrize("amount", ["9223372036854775807", str(2**64), "１０００", "²", "①"])
def test_interest_form_refuses_huge_and_unicode_amounts(client, staff_a, active_loan, amount):
    client.force_login(staff_a)
    response = _post_form(client, reverse("loans:interest", args=[active_loan.pk]), amount=amount)
    assert response.status_code == 200
    assert response.context["form"].has_error("amount")
    assert not active_loan.transactions.filter(kind="interest_payment").exists()


# --- services refuse amounts beyond the bound ---------------------------------------------------


@pytest.mark.parametrize("amount", [MAX_AMOUNT + 1, 2**63 - 1, 2**63, 2**70])
def test_services_refuse_amounts_beyond_the_bound(active_loan, staff_a, amount):
    for service in (services.loan_pay_interest, services.loan_repay_principal):
        with pytest.raises(ValidationError) as exc:
            service(
                loan=active_loan,
                amount=amount,
                value_date=D(2021, 6, 1),
                user=staff_a,
                idempotency_key=key(),
            )
        assert _codes(exc.value, "amount") == ["amount_range"]
    assert active_loan.transactions.count() == 1


def test_an_application_beyond_the_bound_is_refused(household_a, staff_a, hn):
    with pytest.raises(ValidationError) as exc:
        services.loan_apply(
            household=household_a,
            programme=hn,
            amount=2**63,
            term_months=60,
            applied_on=D(2021, 6, 1),
            user=staff_a,
        )
    assert _codes(exc.value, "amount") == ["amount_range"]


# --- an interest payment is bounded by what is due plus twelve months ---------------------------


def _interest_limit(loan, value_date):
    """Independently: interest due from the disbursement plus 12 × 0.55 % of the balance."""
    due = selectors.loan_interest_due(loan, D(2021, 1, 15), value_date)
    return due + loan.outstanding * 55 * 12 // 10_000  # 50 M: 3.300.000 ₫, exact


def test_interest_payment_up_to_the_limit_posts(active_loan, staff_a):
    limit = _interest_limit(active_loan, D(2021, 6, 1))
    assert selectors.interest_payment_limit(active_loan, D(2021, 6, 1)) == limit
    # Beyond the interest due only as a prepayment: the due is paid, the rest kept as a credit.
    services.loan_pay_interest(
        loan=active_loan,
        amount=limit,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
        prepayment=True,
    )
    posted = active_loan.transactions.filter(kind__in=("interest_payment", "interest_prepayment"))
    assert sum(posted.values_list("amount", flat=True)) == limit


def test_interest_payment_above_the_limit_is_refused(active_loan, staff_a):
    limit = _interest_limit(active_loan, D(2021, 6, 1))
    with pytest.raises(ValidationError) as exc, translation.override("en"):
        services.loan_pay_interest(
            loan=active_loan,
            amount=limit + 1,
            value_date=D(2021, 6, 1),
            user=staff_a,
            idempotency_key=key(),
            prepayment=True,
        )
    assert _codes(exc.value, "amount") == ["interest_above_limit"]
    grouped = f"{limit:,}".replace(",", ".")
    assert f"at most {grouped} đồng" in exc.value.message_dict["amount"][0]
    assert not active_loan.transactions.filter(kind="interest_payment").exists()


def test_interest_form_shows_the_maximum_allowed(client, staff_a, active_loan):
    client.force_login(staff_a)
    limit = _interest_limit(active_loan, D(2021, 6, 15))
    response = _post_form(
        client,
        reverse("loans:interest", args=[active_loan.pk]),
        amount=f"{limit + 1:,}".replace(",", "."),
        prepayment="on",
    )
    assert response.status_code == 200
    errors = response.context["form"].errors.as_data()["amount"]
    assert [e.code for e in errors] == ["interest_above_limit"]
    assert f"{limit:,}".replace(",", ".") in errors[0].messages[0]
    assert not active_loan.transactions.filter(kind="interest_payment").exists()


# --- the database stores nothing beyond the bound -----------------------------------------------


def _raw_entry(loan, **fields):
    values = {
        "office_id": loan.office_id,
        "loan": loan,
        "kind": "interest_payment",
        "counted_kind": "interest_payment",
        "value_date": D(2021, 6, 1),
        "amount": 1,
        "idempotency_key": key(),
    }
    values.update(fields)
    return LoanTransaction.objects.create(**values)


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"amount": MAX_AMOUNT + 1}, "entry_amount_in_range"),
        ({"amount": 2**63 - 1}, "entry_amount_in_range"),
        ({"d_overdue": -(MAX_AMOUNT + 1)}, "entry_effects_in_range"),
    ],
)
def test_ledger_table_refuses_amounts_beyond_the_bound(active_loan, fields, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        _raw_entry(active_loan, **fields)


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"approved_amount": MAX_AMOUNT + 1}, "loan_amount_in_range"),
        ({"term_months": 601}, "loan_term_in_range"),
        ({"workers_employed": 99_999_999}, "loan_outcome_counts_in_range"),
        ({"works_built": 1000}, "loan_outcome_counts_in_range"),
    ],
)
def test_loan_table_refuses_values_beyond_their_bounds(active_loan, fields, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Loan.objects.filter(pk=active_loan.pk).update(**fields)


# --- counts on the application form -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workers_employed", "99999999999999"),
        ("workers_employed", "10001"),
        ("works_built", "101"),
        ("term_months", "601"),
    ],
)
def test_application_form_bounds_its_counts(client, staff_a, household_a, hn, field, value):
    client.force_login(staff_a)
    url = reverse("loans:apply", args=[household_a.pk])
    data = {"programme": str(hn.pk), "amount": "10.000.000", "term_months": "36", field: value}
    response = _post_form(client, url, **data)
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()[field]] == ["max_value"]
    assert not Loan.objects.filter(household=household_a).exists()


def test_application_form_takes_the_largest_counts(household_a, hn):
    form = LoanApplyForm(
        {
            "programme": str(hn.pk),
            "amount": "10.000.000",
            "term_months": "600",
            "applied_on": "01/06/2021",
            "workers_employed": "10000",
            "works_built": "100",
            "idempotency_key": key(),
        },
        household=household_a,
    )
    assert form.is_valid(), form.errors


def test_apply_service_refuses_counts_beyond_their_bounds(household_a, staff_a, hn):
    with pytest.raises(ValidationError) as exc:
        services.loan_apply(
            household=household_a,
            programme=hn,
            amount=10_000_000,
            term_months=36,
            applied_on=D(2021, 6, 1),
            user=staff_a,
            workers_employed=10_001,
            works_built=-1,
        )
    assert _codes(exc.value, "workers_employed") == ["count_range"]
    assert _codes(exc.value, "works_built") == ["count_range"]


# --- dates on posting forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value_date", "code"), [("31/12/9999", "date_range"), ("16/06/2021", "after_business_date")]
)
def test_posting_form_bounds_the_value_date(client, staff_a, active_loan, value_date, code):
    client.force_login(staff_a)
    response = _post_form(
        client,
        reverse("loans:repay", args=[active_loan.pk]),
        amount="1.000.000",
        value_date=value_date,
    )
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()["value_date"]] == [code]
    assert active_loan.transactions.count() == 1


# --- the business date: not before an entry, not after today ------------------------------------


HCM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


@time_machine.travel(dt.datetime(2021, 6, 20, 12, tzinfo=HCM), tick=False)
def test_business_date_cannot_move_after_today(office_a, manager_a):
    for day in (D(2021, 6, 21), D(9999, 12, 31)):
        with pytest.raises(ValidationError) as exc:
            services.office_set_business_date(office=office_a, day=day, hold=True, user=manager_a)
        assert _codes(exc.value, "day") == ["after_today"]
    services.office_set_business_date(
        office=office_a, day=D(2021, 6, 20), hold=True, user=manager_a
    )
    assert Office.objects.get(pk=office_a.pk).business_date == D(2021, 6, 20)


# 18:30 UTC on 20/06 is already 01:30 on 21/06 in Hà Nội: the offices' today.
@time_machine.travel(dt.datetime(2021, 6, 20, 18, 30, tzinfo=dt.UTC), tick=False)
def test_today_is_the_offices_today(office_a, manager_a):
    services.office_set_business_date(
        office=office_a, day=D(2021, 6, 21), hold=True, user=manager_a
    )
    with pytest.raises(ValidationError) as exc:
        services.office_set_business_date(
            office=office_a, day=D(2021, 6, 22), hold=True, user=manager_a
        )
    assert _codes(exc.value, "day") == ["after_today"]


def test_business_date_cannot_move_before_an_entry(active_loan, manager_a, staff_a):
    office = active_loan.office
    services.loan_repay_principal(
        loan=active_loan,
        amount=1_000_000,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    with pytest.raises(ValidationError) as exc, translation.override("en"):
        services.office_set_business_date(
            office=office, day=D(2021, 5, 31), hold=True, user=manager_a
        )
    assert _codes(exc.value, "day") == ["before_entries"]
    assert "01/06/2021" in exc.value.message_dict["day"][0]
    services.office_set_business_date(office=office, day=D(2021, 6, 1), hold=True, user=manager_a)
    assert Office.objects.get(pk=office.pk).business_date == D(2021, 6, 1)


def test_business_date_form_refuses_year_9999(client, manager_a, office_a):
    client.force_login(manager_a)
    client.cookies["django_language"] = "en"  # the VI/EN switch; Accept-Language is ignored
    url = reverse("loans:business_date", args=[office_a.code])
    response = client.post(url, {"day": "31/12/9999", "hold": "on"}, follow=True)
    assert response.status_code == 200
    assert Office.objects.get(pk=office_a.pk).business_date == D(2021, 6, 15)
    shown = [str(m) for m in response.context["messages"]]
    assert any("between 01/01/1900 and 31/12/2100" in m for m in shown), shown


@time_machine.travel(dt.datetime(2021, 6, 20, 12, tzinfo=HCM), tick=False)
def test_business_date_page_says_why_a_date_is_refused(client, manager_a, office_a):
    client.force_login(manager_a)
    client.cookies["django_language"] = "en"  # the VI/EN switch; Accept-Language is ignored
    url = reverse("loans:business_date", args=[office_a.code])
    response = client.post(url, {"day": "21/06/2021", "hold": "on"}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert any("cannot be after today, 20/06/2021" in m for m in shown), shown
    assert Office.objects.get(pk=office_a.pk).business_date == D(2021, 6, 15)


def test_a_transferred_in_loan_cannot_be_disbursed_again(active_loan, staff_a, staff_b, office_b):
    """The new office's loan starts its own ledger at nought, but its approved amount was paid
    out in the old office: disbursing it again would double the loan (and, near MAX_AMOUNT,
    overflow the balance's CHECK into a 500)."""
    from ..factories import VillageFactory

    services.loan_transfer(
        loan=active_loan,
        to_office=office_b,
        to_village=VillageFactory(commune__office=office_b),
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    new = Loan.objects.get(office=office_b)
    assert (new.disbursed, new.approved_amount) == (0, 50_000_000)
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        services.loan_disburse(
            loan=new, amount=1, value_date=D(2021, 6, 2), user=staff_b, idempotency_key=key()
        )
    assert exc.value.message_dict["amount"] == [
        "Disbursements would exceed the approved amount (0 VND left)."
    ]
    assert not new.transactions.filter(kind="disbursement").exists()


def test_a_count_beyond_its_bound_is_refused_in_the_portal_s_words(household_a):
    """Django's own Vietnamese for this reads "…10000 ." (a stray space) and calls a whole
    number "số tổng thể"; the portal's catalogue words both."""
    with translation.override("vi"):
        form = LoanApplyForm({"workers_employed": "99999999999999"}, household=household_a)
        assert form.errors["workers_employed"] == ["Giá trị này phải nhỏ hơn hoặc bằng 10000."]
        form = LoanApplyForm({"term_months": "②"}, household=household_a)
        assert form.errors["term_months"] == ["Nhập một số nguyên."]
