"""Bounds on household dates and numbers, in the services, the forms and the tables (issue 10,
points 2, 3 and 4)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from borrowers import services
from borrowers.citizen_id import validate_citizen_id
from borrowers.models import GroupMembership, Household, HouseholdCategory, PreviousIdentity
from loans.models import ClosedMonth

from ..factories import GroupFactory, citizen_id_for

D = dt.date


def _codes(error: ValidationError, field: str) -> list[str]:
    return [e.code for e in error.error_dict[field]]


def _register(group, **overrides):
    born = overrides.get("date_of_birth", D(1985, 3, 1))
    values = {
        "office": group.office,
        "full_name": "Nguyễn Thị Hằng",
        "citizen_id": citizen_id_for(born, "F"),
        "date_of_birth": born,
        "sex": "F",
        "village": group.village,
        "group": group,
        "category": "poor",
        "category_year": 2021,
    }
    values.update(overrides)
    return services.household_register(**values)


# --- date of birth: after 1900, not in the future, an adult -------------------------------------


@pytest.mark.parametrize(
    ("born", "code"),
    [
        (D(2090, 1, 1), "born_in_future"),
        (D(2021, 6, 16), "born_in_future"),  # the day after the business date 15/06/2021
        (D(1899, 12, 31), "born_too_early"),
        (D(2003, 6, 16), "not_adult"),  # 18 the day after the business date
        (D(2010, 1, 1), "not_adult"),
    ],
)
def test_register_refuses_a_date_of_birth_out_of_range(office_a, born, code):
    group = GroupFactory(village__commune__office=office_a)
    # A citizen ID can only encode 1900–2099: give the 1899 one a well-formed number.
    cid = citizen_id_for(max(born, D(1900, 1, 1)), "F")
    with pytest.raises(ValidationError) as exc:
        _register(group, date_of_birth=born, citizen_id=cid)
    assert _codes(exc.value, "date_of_birth") == [code]
    assert not Household.objects.filter(office=office_a).exists()


def test_an_adult_on_the_business_date_registers(office_a):
    group = GroupFactory(village__commune__office=office_a)
    household = _register(group, date_of_birth=D(2003, 6, 15))  # 18 on 15/06/2021
    assert household.date_of_birth == D(2003, 6, 15)


def test_update_refuses_a_date_of_birth_in_the_future(household_a):
    with pytest.raises(ValidationError) as exc:
        _update(household_a, date_of_birth=D(2090, 1, 1))
    assert _codes(exc.value, "date_of_birth") == ["born_in_future"]
    assert Household.objects.get(pk=household_a.pk).date_of_birth == D(1980, 5, 17)


def test_register_form_refuses_a_date_of_birth_in_2090(client, staff_a, office_a):
    group = GroupFactory(village__commune__office=office_a)
    client.force_login(staff_a)
    response = client.post(reverse("borrowers:create"), _register_payload(group, "01/01/2090"))
    assert response.status_code == 200
    errors = response.context["form"].errors.as_data()
    assert [e.code for e in errors["date_of_birth"]] == ["born_in_future"]
    assert not Household.objects.filter(office=office_a).exists()


def _register_payload(group, born: str, **overrides):
    payload = {
        "full_name": "Nguyễn Thị Hằng",
        "citizen_id": citizen_id_for(D(1985, 3, 1), "F"),
        "date_of_birth": born,
        "sex": "F",
        "village": group.village_id,
        "group": group.pk,
        "category": "poor",
        "category_year": "2021",
    }
    payload.update(overrides)
    return payload


# --- category years -----------------------------------------------------------------------------


@pytest.mark.parametrize("year", [1999, 2023, 2500])
def test_register_refuses_a_category_year_out_of_range(office_a, year):
    group = GroupFactory(village__commune__office=office_a)
    with pytest.raises(ValidationError) as exc, translation.override("en"):
        _register(group, category_year=year)
    assert _codes(exc.value, "category_year") == ["category_year_range"]
    assert "from 2000 to 2022" in exc.value.message_dict["category_year"][0]
    assert not Household.objects.filter(office=office_a).exists()


@pytest.mark.parametrize(("year", "code"), [("40000", "max_value"), ("2500", "max_value")])
def test_register_form_refuses_a_huge_category_year(client, staff_a, office_a, year, code):
    group = GroupFactory(village__commune__office=office_a)
    client.force_login(staff_a)
    payload = _register_payload(group, "01/03/1985", category_year=year)
    response = client.post(reverse("borrowers:create"), payload)
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()["category_year"]] == [code]
    assert not Household.objects.filter(office=office_a).exists()


def test_register_form_refuses_next_years_but_one(client, staff_a, office_a):
    group = GroupFactory(village__commune__office=office_a)
    client.force_login(staff_a)
    payload = _register_payload(group, "01/03/1985", category_year="2023")
    response = client.post(reverse("borrowers:create"), payload)
    errors = response.context["form"].errors.as_data()["category_year"]
    assert [e.code for e in errors] == ["category_year_range"]


def test_certify_refuses_a_year_after_the_business_dates_next(household_a):
    with pytest.raises(ValidationError) as exc:
        services.household_certify_category(household=household_a, year=2023, category="poor")
    assert _codes(exc.value, "year") == ["category_year_range"]
    services.household_certify_category(household=household_a, year=2022, category="near_poor")
    assert household_a.category_for(2022) == "near_poor"


def test_certify_form_follows_the_business_date(client, staff_a, household_a):
    client.force_login(staff_a)
    url = reverse("borrowers:certify", args=[household_a.pk])
    response = client.post(url, {"year": "2023", "category": "poor"})
    assert response.status_code == 200
    errors = response.context["form"].errors.as_data()["year"]
    assert [e.code for e in errors] == ["category_year_range"]
    assert not household_a.categories.filter(year=2023).exists()


# --- a group change: by the business date, in an open month, after joining ----------------------


def _update(household, **overrides):
    values = {
        "household": household,
        "full_name": household.full_name,
        "date_of_birth": household.date_of_birth,
        "sex": household.sex,
        "phone": household.phone,
        "village": household.village,
        "group": household.group,
        "on": D(2021, 6, 1),
    }
    values.update(overrides)
    return services.household_update(**values)


@pytest.fixture
def other_group(household_a):
    return GroupFactory(village=household_a.village, chapter=household_a.group.chapter)


@pytest.fixture
def joined(household_a):
    """household_a's current membership, from 01/01/2021."""
    return GroupMembership.objects.create(
        group=household_a.group, household=household_a, joined_on=D(2021, 1, 1)
    )


def test_group_change_after_the_business_date_is_refused(household_a, other_group, joined):
    with pytest.raises(ValidationError) as exc:
        _update(household_a, group=other_group, on=D(2021, 6, 16))
    assert _codes(exc.value, "on") == ["after_business_date"]
    assert Household.objects.get(pk=household_a.pk).group_id == joined.group_id


def test_group_change_in_a_closed_month_is_refused(household_a, other_group, joined, manager_a):
    ClosedMonth.objects.create(office=household_a.office, month=D(2021, 5, 1), closed_by=manager_a)
    with pytest.raises(ValidationError) as exc:
        _update(household_a, group=other_group, on=D(2021, 4, 30))
    assert _codes(exc.value, "on") == ["closed_month"]
    assert GroupMembership.objects.get(pk=joined.pk).left_on is None
    _update(household_a, group=other_group, on=D(2021, 6, 1))
    assert GroupMembership.objects.get(pk=joined.pk).left_on == D(2021, 6, 1)


def test_group_change_before_joining_is_refused(household_a, other_group, joined):
    with pytest.raises(ValidationError) as exc:
        _update(household_a, group=other_group, on=D(2020, 12, 31))
    assert _codes(exc.value, "on") == ["before_joining"]


def test_edit_form_refuses_a_group_change_after_the_business_date(
    client, staff_a, household_a, other_group, joined
):
    client.force_login(staff_a)
    url = reverse("borrowers:edit", args=[household_a.pk])
    response = client.post(
        url,
        {
            "full_name": household_a.full_name,
            "date_of_birth": "17/05/1980",
            "sex": household_a.sex,
            "village": household_a.village_id,
            "group": other_group.pk,
            "on": "01/01/2090",
        },
    )
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()["on"]] == [
        "after_business_date"
    ]
    assert Household.objects.get(pk=household_a.pk).group_id == joined.group_id


def test_an_unchanged_group_needs_no_effective_date_check(household_a, joined):
    _update(household_a, phone="0912000111", on=D(2090, 1, 1))
    assert Household.objects.get(pk=household_a.pk).phone == "0912000111"


# --- a citizen-ID change by the business date ---------------------------------------------------


def test_citizen_id_change_after_the_business_date_is_refused(household_a):
    new = citizen_id_for(household_a.date_of_birth, household_a.sex, province="079")
    with pytest.raises(ValidationError) as exc:
        services.household_change_citizen_id(
            household=household_a, new_citizen_id=new, on=D(2021, 6, 16)
        )
    assert _codes(exc.value, "on") == ["after_business_date"]
    assert not PreviousIdentity.objects.filter(household=household_a).exists()


def test_citizen_id_form_refuses_a_date_after_the_business_date(client, staff_a, household_a):
    client.force_login(staff_a)
    new = citizen_id_for(household_a.date_of_birth, household_a.sex, province="079")
    url = reverse("borrowers:change_id", args=[household_a.pk])
    response = client.post(url, {"new_citizen_id": new, "on": "01/01/2090"})
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()["on"]] == [
        "after_business_date"
    ]
    assert Household.objects.get(pk=household_a.pk).citizen_id == household_a.citizen_id


def test_dates_beyond_2100_are_refused_by_the_field(client, staff_a, household_a):
    client.force_login(staff_a)
    url = reverse("borrowers:change_id", args=[household_a.pk])
    response = client.post(url, {"new_citizen_id": "079180000999", "on": "31/12/9999"})
    assert [e.code for e in response.context["form"].errors.as_data()["on"]] == ["date_range"]


# --- digits: ASCII only in citizen IDs and id parameters ----------------------------------------


@pytest.mark.parametrize("number", ["００１１８００００００１", "٠٠١١٨٠٠٠٠٠٠١", "00118000000²"])
def test_citizen_id_takes_ascii_digits_only(number):
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id(number, date_of_birth=D(1980, 1, 1), sex="F")
    assert exc.value.code == "length"


@pytest.mark.parametrize("value", ["²", "①", "１", "99999999999999999999999"])
def test_id_parameters_in_other_digits_are_ignored(client, staff_a, manager_a, value):
    client.force_login(staff_a)
    assert client.get(reverse("borrowers:list"), {"commune": value}).status_code == 200
    assert client.get(reverse("borrowers:list"), {"group": value}).status_code == 200
    client.force_login(manager_a)
    assert client.get(reverse("reports:index"), {"office": value}).status_code == 200


# --- the tables store nothing out of range ------------------------------------------------------


def test_household_table_refuses_a_birth_before_1900(household_a):
    with pytest.raises(IntegrityError, match="born_after_1900"), transaction.atomic():
        Household.objects.filter(pk=household_a.pk).update(date_of_birth=D(1899, 12, 31))


@pytest.mark.parametrize("year", [1994, 2101])
def test_category_table_refuses_years_out_of_range(household_a, year):
    with pytest.raises(IntegrityError, match="category_year_in_range"), transaction.atomic():
        HouseholdCategory.objects.create(household=household_a, year=year, category="poor")


# --- fields only an administrator edits (the admin's forms run the models' validators) ---------


def _field_errors(obj, field: str) -> list[str]:
    with translation.override("en"):
        with pytest.raises(ValidationError) as exc:
            obj.clean_fields()
        return [str(m) for m in exc.value.message_dict[field]]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("established_on", dt.date(2500, 1, 1), "less than or equal to 2100-12-31"),
        ("dissolved_on", dt.date(1850, 1, 1), "greater than or equal to 1900-01-01"),
    ],
)
def test_a_group_date_outside_the_calendar_is_refused(office_a, field, value, message):
    from ..factories import GroupFactory

    group = GroupFactory(village__commune__office=office_a)
    setattr(group, field, value)
    assert any(message in m for m in _field_errors(group, field))


@pytest.mark.parametrize("day", [0, 29, 31])
def test_a_commune_transaction_day_is_1_to_28(office_a, day):
    from ..factories import CommuneFactory

    commune = CommuneFactory(office=office_a)
    commune.transaction_day = day
    assert _field_errors(commune, "transaction_day")


@pytest.mark.parametrize(
    ("field", "value"),
    [("monthly_rate", "55"), ("preferential_rate", "-0.1"), ("overdue_multiplier", "0.5")],
)
def test_a_programme_rate_beyond_any_decision_is_refused(db, field, value):
    from decimal import Decimal

    from loans.models import Programme

    rule = Programme.objects.get(code="HN").rules.first()
    setattr(rule, field, Decimal(value))
    assert _field_errors(rule, field)


def test_a_programme_instalment_interval_is_1_to_120_months(db):
    from loans.models import Programme

    programme = Programme.objects.get(code="HN")
    programme.instalment_months = 0
    assert _field_errors(programme, "instalment_months")
    programme.instalment_months = 121
    assert _field_errors(programme, "instalment_months")
