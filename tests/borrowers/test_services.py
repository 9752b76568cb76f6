import datetime as dt

import pghistory
import pytest
from django.core.exceptions import ValidationError

from borrowers import services
from borrowers.citizen_id import validate_citizen_id
from borrowers.models import GroupMembership, Household
from borrowers.selectors import fold, household_search

from ..conftest import refused
from ..factories import GroupFactory, HouseholdFactory, citizen_id_for

D = dt.date


@pytest.mark.parametrize(
    ("number", "dob", "sex", "code"),
    [
        ("00118000001", D(1980, 1, 1), "F", "length"),
        ("0011800000a1", D(1980, 1, 1), "F", "length"),
        ("003180000001", D(1980, 1, 1), "F", "province"),  # 003 is no province code
        ("001080000001", D(1980, 1, 1), "F", "century_sex"),  # 0 = a man born in the 1900s
        ("001380000001", D(1980, 1, 1), "F", "century_sex"),  # 3 = a woman born in the 2000s
        ("001181000001", D(1980, 1, 1), "F", "birth_year"),
    ],
)
def test_citizen_id_rules(number, dob, sex, code):
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id(number, date_of_birth=dob, sex=sex)
    assert exc.value.code == code


def test_valid_citizen_ids():
    validate_citizen_id("001180000001", date_of_birth=D(1980, 1, 1), sex="F")
    validate_citizen_id("079203000001", date_of_birth=D(2003, 1, 1), sex="M")


def _register(group, **overrides):
    values = {
        "office": group.office,
        "full_name": "  Nguyễn   Thị Hằng ",
        "citizen_id": citizen_id_for(D(1985, 3, 1), "F"),
        "date_of_birth": D(1985, 3, 1),
        "sex": "F",
        "village": group.village,
        "group": group,
        "category": "poor",
        "category_year": 2021,
    }
    values.update(overrides)
    return services.household_register(**values)


def test_register_household_with_category_and_membership(office_a):
    group = GroupFactory(village__commune__office=office_a)
    household = _register(group)
    assert household.full_name == "Nguyễn Thị Hằng"
    assert household.category_for(2021) == "poor"
    assert household.category_for(2020) is None
    assert GroupMembership.objects.get(household=household).group == group


def test_citizen_id_unique_among_active_borrowers(office_a):
    group = GroupFactory(village__commune__office=office_a)
    first = _register(group)
    with refused("An active borrower with this citizen ID already exists.", field="citizen_id"):
        _register(group, citizen_id=first.citizen_id)
    assert Household.objects.count() == 1
    Household.objects.filter(pk=first.pk).update(status=Household.Status.MOVED)
    assert _register(group, citizen_id=first.citizen_id).pk != first.pk


def test_register_refuses_a_village_of_another_office(office_a, office_b):
    group_a = GroupFactory(village__commune__office=office_a)
    group_b = GroupFactory(village__commune__office=office_b)
    with refused("The village belongs to another office.", field="village"):
        _register(group_a, village=group_b.village)
    assert not Household.objects.exists()


def test_a_household_joins_a_group_of_its_own_commune_only(office_a):
    group = GroupFactory(village__commune__office=office_a)
    elsewhere = GroupFactory(village__commune__office=office_a)  # another commune
    neighbours = GroupFactory(village__commune=group.village.commune)  # another village
    with refused(
        f"The group {elsewhere.code} meets in {elsewhere.village.commune.name}: a household joins "
        "a group of its own village's commune.",
        field="group",
    ):
        _register(elsewhere, village=group.village)
    assert not Household.objects.exists()
    household = _register(neighbours, village=group.village)
    assert household.memberships.get().group == neighbours


def _update(household, **changes):
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
    return services.household_update(**{**values, **changes})


def test_an_update_keeps_the_household_in_a_group_of_its_commune(household_a):
    elsewhere = GroupFactory(village__commune__office=household_a.office)
    message = "a household joins a group of its own village's commune."
    memberships = GroupMembership.objects.count()
    with refused(message, field="group"):
        _update(household_a, group=elsewhere)
    with refused(message, field="group"):  # a move to another commune, keeping the group
        _update(household_a, village=elsewhere.village)
    household_a.refresh_from_db()
    assert (household_a.village, household_a.group) != (elsewhere.village, elsewhere)
    assert GroupMembership.objects.count() == memberships
    _update(household_a, village=elsewhere.village, group=elsewhere)
    # A household placed in another commune's group before the rule keeps it while it stays.
    Household.objects.filter(pk=household_a.pk).update(village=household_a.village)
    household_a.refresh_from_db()
    assert _update(household_a, phone="0912345678").group == elsewhere


def test_new_citizen_id_keeps_the_old_one_as_history(household_a):
    old = household_a.citizen_id
    new = citizen_id_for(household_a.date_of_birth, household_a.sex, province="079")
    services.household_change_citizen_id(
        household=household_a, new_citizen_id=new, on=D(2021, 6, 1)
    )
    household_a.refresh_from_db()
    assert household_a.citizen_id == new
    assert list(household_a.previous_ids.values_list("number", flat=True)) == [old]


def test_changing_group_keeps_membership_history(household_a):
    other = GroupFactory(village=household_a.village)
    services.household_update(
        household=household_a,
        full_name=household_a.full_name,
        date_of_birth=household_a.date_of_birth,
        sex=household_a.sex,
        phone="0912345678",
        village=household_a.village,
        group=other,
        on=D(2021, 6, 1),
    )
    memberships = GroupMembership.objects.filter(household=household_a).order_by("joined_on")
    assert [m.group_id for m in memberships] == [other.pk]
    assert household_a.memberships.get(left_on__isnull=True).group == other


def test_search_without_accents(office_a):
    group = GroupFactory(village__commune__office=office_a)
    hang = HouseholdFactory(group=group, full_name="Nguyễn Thị Hằng")
    HouseholdFactory(group=group, full_name="Trần Văn Hùng", sex="M")
    duc = HouseholdFactory(group=group, full_name="Đỗ Đức Thắng", sex="M")
    queryset = Household.objects.all()
    assert list(household_search(queryset, "nguyen thi hang")) == [hang]
    assert list(household_search(queryset, "NGUYỄN")) == [hang]
    assert list(household_search(queryset, "do duc")) == [duc]
    assert list(household_search(queryset, hang.citizen_id[:9])) == [hang]
    assert fold("Đặng Thị Ánh") == "dang thi anh"


def test_every_change_leaves_history_by_any_path(household_a, staff_a):
    with pghistory.context(user=staff_a.pk):
        Household.objects.filter(pk=household_a.pk).update(phone="0987654321")
    events = household_a.events.order_by("pgh_id")
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert events.last().phone == "0987654321"
    assert events.last().pgh_context.metadata["user"] == staff_a.pk


def test_changing_to_the_current_citizen_id_is_refused(household_a):
    current = household_a.citizen_id
    with refused("This is already the current citizen ID.", field="citizen_id"):
        services.household_change_citizen_id(
            household=household_a, new_citizen_id=current, on=D(2021, 6, 1)
        )
    household_a.refresh_from_db()
    assert household_a.citizen_id == current
    assert not household_a.previous_ids.exists()
