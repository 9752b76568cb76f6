"""The household pages: rendering, search, filters, forms, and office scoping."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from borrowers.models import Household, PreviousIdentity

from ..factories import GroupFactory, HouseholdFactory, citizen_id_for

pytestmark = pytest.mark.django_db


def _write_urls(household):
    return [
        reverse("borrowers:edit", args=[household.pk]),
        reverse("borrowers:change_id", args=[household.pk]),
        reverse("borrowers:certify", args=[household.pk]),
        reverse("loans:apply", args=[household.pk]),
    ]


def test_pages_render_for_staff(client, staff_a, household_a, active_loan):
    client.force_login(staff_a)
    for url in [
        reverse("home"),
        reverse("borrowers:list"),
        reverse("borrowers:create"),
        reverse("borrowers:detail", args=[household_a.pk]),
        *_write_urls(household_a),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url


def test_home_shows_office_figures(client, staff_a, active_loan):
    client.force_login(staff_a)
    html = client.get(reverse("home")).content.decode()
    assert "Phòng giao dịch A" in html
    assert "15/06/2021" in html
    assert "50.000.000 ₫" in html


def test_manager_sees_applications_awaiting(client, manager_a, household_a, hn, staff_a):
    from loans import services

    loan = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=20_000_000,
        term_months=36,
        applied_on=dt.date(2021, 6, 1),
        user=staff_a,
    )
    client.force_login(manager_a)
    html = client.get(reverse("home")).content.decode()
    assert loan.number in html
    assert reverse("loans:approve", args=[loan.pk]) in html
    client.force_login(staff_a)
    assert (
        reverse("loans:approve", args=[loan.pk]) not in client.get(reverse("home")).content.decode()
    )


def test_login_required(client, household_a):
    response = client.get(reverse("borrowers:detail", args=[household_a.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_search_without_accents(client, staff_a, household_a):
    HouseholdFactory(
        group=household_a.group,
        full_name="Trần Văn Hùng",
        sex="M",
        date_of_birth=dt.date(1970, 1, 1),
    )
    client.force_login(staff_a)
    html = client.get(reverse("borrowers:list"), {"q": "nguyen thi hang"}).content.decode()
    assert "Nguyễn Thị Hằng" in html
    assert "Trần Văn Hùng" not in html
    html = client.get(reverse("borrowers:list"), {"q": "hung"}).content.decode()
    assert "Trần Văn Hùng" in html
    assert "Nguyễn Thị Hằng" not in html
    html = client.get(reverse("borrowers:list"), {"q": household_a.citizen_id[:8]}).content.decode()
    assert "Nguyễn Thị Hằng" in html


def test_list_is_scoped_to_office(client, staff_b, household_a, household_b):
    client.force_login(staff_b)
    html = client.get(reverse("borrowers:list")).content.decode()
    assert "Trần Văn Hùng" in html
    assert "Nguyễn Thị Hằng" not in html


def test_filters_balance_category_group(client, staff_a, household_a, active_loan):
    other = HouseholdFactory(
        group__village__commune__office=household_a.office,
        full_name="Lê Văn Tám",
        sex="M",
        date_of_birth=dt.date(1970, 1, 1),
        category="near_poor",
    )
    client.force_login(staff_a)
    url = reverse("borrowers:list")

    def names(params):
        table = client.get(url, params).context["table"]
        return {row.record.full_name for row in table.page.object_list}

    assert names({"has_balance": "true"}) == {"Nguyễn Thị Hằng"}
    assert names({"has_balance": "false"}) == {"Lê Văn Tám"}
    assert names({"category": "near_poor"}) == {"Lê Văn Tám"}
    assert names({"group": other.group_id}) == {"Lê Văn Tám"}
    assert names({"commune": household_a.village.commune_id}) == {"Nguyễn Thị Hằng"}


def test_export_csv_and_xlsx(client, staff_a, active_loan):
    client.force_login(staff_a)
    response = client.get(reverse("borrowers:list"), {"_export": "csv"})
    text = response.content.decode()
    assert "Nguyễn Thị Hằng" in text
    assert "50000000" in text  # raw integer VND in exports
    response = client.get(reverse("borrowers:list"), {"_export": "xlsx"})
    assert response.status_code == 200
    assert response.content[:2] == b"PK"


def test_list_query_count(client, staff_a, household_a, django_assert_max_num_queries):
    for i in range(30):
        HouseholdFactory(
            group=household_a.group,
            full_name=f"Nguyễn Văn {i}",
            sex="M",
            date_of_birth=dt.date(1970, 1, 1),
        )
    client.force_login(staff_a)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("borrowers:list"), {"q": "nguyen"})
    assert response.status_code == 200


def test_register_household(client, staff_a, household_a):
    client.force_login(staff_a)
    dob = dt.date(1990, 4, 2)
    data = {
        "full_name": "  Phạm   Văn Đức ",
        "citizen_id": citizen_id_for(dob, "M"),
        "date_of_birth": "1990-04-02",
        "sex": "M",
        "phone": "0912345678",
        "village": household_a.village_id,
        "group": household_a.group_id,
        "category": "poor",
        "category_year": 2021,
    }
    response = client.post(reverse("borrowers:create"), data)
    household = Household.objects.get(citizen_id=data["citizen_id"])
    assert response.status_code == 302
    assert response.url == reverse("borrowers:detail", args=[household.pk])
    assert household.full_name == "Phạm Văn Đức"
    assert household.office == household_a.office
    assert household.memberships.get().group == household_a.group


def test_register_shows_service_error(client, staff_a, household_a):
    client.force_login(staff_a)
    data = {
        "full_name": "Phạm Văn Đức",
        "citizen_id": household_a.citizen_id,  # already an active borrower
        "date_of_birth": household_a.date_of_birth.isoformat(),
        "sex": household_a.sex,
        "village": household_a.village_id,
        "category": "poor",
        "category_year": 2021,
    }
    response = client.post(reverse("borrowers:create"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["citizen_id"]
    assert Household.objects.count() == 1


def test_register_refuses_other_office_village(client, staff_a, household_b):
    client.force_login(staff_a)
    dob = dt.date(1990, 4, 2)
    response = client.post(
        reverse("borrowers:create"),
        {
            "full_name": "Phạm Văn Đức",
            "citizen_id": citizen_id_for(dob, "M"),
            "date_of_birth": "1990-04-02",
            "sex": "M",
            "village": household_b.village_id,
            "category": "poor",
            "category_year": 2021,
        },
    )
    assert response.status_code == 200
    assert "village" in response.context["form"].errors
    assert Household.objects.count() == 1


def test_register_shows_a_group_of_another_commune_on_its_field(client, staff_a, household_a):
    client.force_login(staff_a)
    client.cookies["django_language"] = "en"
    elsewhere = GroupFactory(village__commune__office=household_a.office)
    dob = dt.date(1990, 4, 2)
    response = client.post(
        reverse("borrowers:create"),
        {
            "full_name": "Phạm Văn Đức",
            "citizen_id": citizen_id_for(dob, "M"),
            "date_of_birth": "1990-04-02",
            "sex": "M",
            "village": household_a.village_id,
            "group": elsewhere.pk,
            "category": "poor",
            "category_year": 2021,
        },
    )
    assert response.status_code == 200
    (error,) = response.context["form"].errors["group"]
    assert "a household joins a group of its own village's commune" in error
    assert escape(error) in response.content.decode()
    assert Household.objects.count() == 1


def test_the_household_forms_say_each_village_and_group_commune(client, staff_a, household_a):
    """What static/js/portal.js needs to offer only the chosen village's groups."""
    client.force_login(staff_a)
    commune = household_a.village.commune_id
    for url in [reverse("borrowers:create"), reverse("borrowers:edit", args=[household_a.pk])]:
        html = client.get(url).content.decode()
        assert 'data-follows="id_village"' in html
        for select, pk in [("village", household_a.village_id), ("group", household_a.group_id)]:
            option = rf'<option value="{pk}"( selected)? data-commune="{commune}">'
            assert re.search(
                rf'id="id_{select}">\s*<option value=""[^>]*>[^<]*</option>\s*{option}', html
            )


def test_change_citizen_id_keeps_history(client, staff_a, household_a):
    client.force_login(staff_a)
    old = household_a.citizen_id
    new = citizen_id_for(household_a.date_of_birth, household_a.sex)
    response = client.post(
        reverse("borrowers:change_id", args=[household_a.pk]),
        {"new_citizen_id": new, "on": "2021-06-01"},
    )
    assert response.status_code == 302
    household_a.refresh_from_db()
    assert household_a.citizen_id == new
    assert PreviousIdentity.objects.get(household=household_a).number == old
    html = client.get(reverse("borrowers:detail", args=[household_a.pk])).content.decode()
    assert old in html


def test_certify_and_edit(client, staff_a, household_a):
    client.force_login(staff_a)
    response = client.post(
        reverse("borrowers:certify", args=[household_a.pk]), {"year": 2022, "category": "near_poor"}
    )
    assert response.status_code == 302
    assert household_a.category_for(2022) == "near_poor"
    response = client.post(
        reverse("borrowers:edit", args=[household_a.pk]),
        {
            "full_name": "Nguyễn Thị Hằng",
            "date_of_birth": household_a.date_of_birth.isoformat(),
            "sex": "F",
            "phone": "0987654321",
            "village": household_a.village_id,
            "group": household_a.group_id,
            "on": "2021-06-15",
        },
    )
    assert response.status_code == 302
    household_a.refresh_from_db()
    assert household_a.phone == "0987654321"


def test_detail_shows_every_loan_and_entry(client, auditor_a, household_a, active_loan):
    client.force_login(auditor_a)
    response = client.get(reverse("borrowers:detail", args=[household_a.pk]))
    html = response.content.decode()
    assert active_loan.number in html
    assert "50.000.000 ₫" in html
    assert "15/01/2021" in html  # the disbursement's value date
    assert "staff_a" in html  # who posted it
    assert reverse("loans:apply", args=[household_a.pk]) not in html  # no write buttons


def test_other_office_gets_404(client, staff_b, household_a):
    client.force_login(staff_b)
    assert client.get(reverse("borrowers:detail", args=[household_a.pk])).status_code == 404
    for url in _write_urls(household_a):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {}).status_code == 404, url


def test_auditor_reads_but_cannot_write(client, auditor_a, household_a):
    client.force_login(auditor_a)
    assert client.get(reverse("borrowers:list")).status_code == 200
    assert client.get(reverse("borrowers:detail", args=[household_a.pk])).status_code == 200
    assert client.get(reverse("borrowers:create")).status_code == 403
    assert client.post(reverse("borrowers:create"), {}).status_code == 403
    for url in _write_urls(household_a):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {}).status_code == 403, url


def test_login_page_and_lockout(client, staff_a):
    assert client.get(reverse("login")).status_code == 200
    for _ in range(5):
        client.post(reverse("login"), {"username": "staff_a", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "staff_a", "password": "demo1234"})
    assert response.status_code == 429
    assert "Tài khoản bị khóa" in response.content.decode()
