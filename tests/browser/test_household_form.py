"""The household form in the browser: the group choice follows the chosen village's commune."""

import datetime as dt

import pytest

from ..factories import GroupFactory, MembershipFactory, OfficeFactory, UserFactory
from .conftest import login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _offered(page) -> list[str]:
    return page.eval_on_selector_all(
        "#id_group option",
        "options => options.filter(o => !o.hidden && !o.disabled).map(o => o.value)",
    )


def test_the_group_choice_follows_the_village(page, live_server):
    office = OfficeFactory(code="DP", business_date=dt.date(2021, 6, 15))
    ha = GroupFactory(village__commune__office=office, village__name="Thôn Hạ")
    thuong = GroupFactory(village__commune=ha.village.commune, village__name="Thôn Thượng")
    elsewhere = GroupFactory(village__commune__office=office, village__name="Thôn Ngoài")
    MembershipFactory(user=UserFactory(username="staff"), office=office, role="staff")
    base = live_server.url
    login(page, base, "staff")
    page.goto(f"{base}/borrowers/new/")
    # No village yet: every group of the office.
    assert sorted(_offered(page)) == sorted(["", str(ha.pk), str(thuong.pk), str(elsewhere.pk)])

    page.select_option("#id_village", str(ha.village_id))
    # The groups of Hạ's commune, Thượng's too; not the other commune's.
    assert sorted(_offered(page)) == sorted(["", str(ha.pk), str(thuong.pk)])
    page.select_option("#id_group", str(thuong.pk))

    # Another commune: its group only, and the choice that no longer fits is cleared.
    page.select_option("#id_village", str(elsewhere.village_id))
    assert _offered(page) == ["", str(elsewhere.pk)]
    assert page.input_value("#id_group") == ""
