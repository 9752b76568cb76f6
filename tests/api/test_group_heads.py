"""A group head is a user whose scope is their group: staff make the login, the pages show the head
nothing, the head's own tokens reach the group only, receipts they post are recorded as theirs,
and ending the login refuses their tokens at once."""

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from api import services
from api.models import ApiToken, GroupHead
from borrowers.access import access_for
from commune_day.models import HeldReceipt, TransactionSession

from ..factories import HouseholdFactory
from .conftest import bearer

pytestmark = pytest.mark.django_db
PAGE = reverse("api:group-heads")
PASSWORD = "tổ-trưởng-2021!"


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _register(client, in_group, username="head1", **extra):
    return client.post(
        PAGE,
        {"group": in_group.code, "full_name": "Lò Thị Mai", "username": username,
         "password": PASSWORD} | extra,
    )  # fmt: skip


@pytest.fixture
def head_login(client, staff_a, household_a):
    client.force_login(staff_a)
    response = _register(client, household_a.group)
    assert response.status_code == 302, response.content
    client.logout()
    return GroupHead.objects.get(user__username="head1")


def test_staff_make_a_login_that_belongs_to_no_office(head_login, household_a, staff_a):
    user = head_login.user
    assert head_login.group == household_a.group and head_login.created_by == staff_a
    assert user.check_password(PASSWORD) and user.first_name == "Lò Thị Mai"
    assert access_for(user).office_ids == ()  # the pages show the head nothing
    assert services.scopes_allowed(user) == ["read", "collect"]


def test_the_heads_own_token_reaches_the_group_and_records_receipts_as_theirs(
    client, head_login, household_a, active_loan, staff_a
):
    group = household_a.group
    other = HouseholdFactory(group__village__commune__office=household_a.office)
    client.force_login(head_login.user)
    made = client.post(reverse("api:tokens"), {"name": "điện thoại", "scope": "collect"})
    assert made.status_code == 200
    token = bearer(made.context["new_token"])
    assert ApiToken.objects.get(user=head_login.user).group == group
    client.logout()

    groups = client.get(reverse("api:group-list"), **token).json()["results"]
    assert [g["id"] for g in groups] == [group.pk]
    assert (
        client.get(reverse("api:group-detail", args=[other.group_id]), **token).status_code == 404
    )
    borrowers = client.get(reverse("api:borrower-list"), **token).json()["results"]
    assert [b["id"] for b in borrowers] == [household_a.pk]

    session = TransactionSession.objects.create(
        office=group.office, commune=group.village.commune, date=dt.date(2021, 6, 15),
        leader=staff_a, opened_by=staff_a,
    )  # fmt: skip
    session.groups.add(group)
    response = client.post(
        reverse("api:group-receipts", args=[group.pk]),
        {"loan_number": active_loan.number, "receipt": "BL 1", "interest": 10_000},
        content_type="application/json", HTTP_IDEMPOTENCY_KEY="phone-1", **token,
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert HeldReceipt.objects.get().recorded_by == head_login.user


def test_a_head_may_not_reach_further(english, head_login, household_a, staff_a):
    user = head_login.user
    other = HouseholdFactory(group__village__commune__office=household_a.office)
    with pytest.raises(Exception, match="own group only"):
        services.token_create(user=user, name="x", scope="collect", actor=user, group=other.group)
    with pytest.raises(Exception, match="scope"):
        services.token_create(user=user, name="x", scope="admin", actor=user)
    # A token of the head's that reaches elsewhere (made before they changed group) reaches nothing.
    _row, token = services.token_create(user=user, name="x", scope="read", actor=user)
    GroupHead.objects.filter(pk=head_login.pk).update(group=other.group)
    assert english.get(reverse("api:group-list"), **bearer(token)).status_code == 401


def test_ending_the_login_refuses_its_tokens_at_once(client, head_login, staff_a):
    user = head_login.user
    _row, token = services.token_create(user=user, name="x", scope="collect", actor=user)
    assert client.get(reverse("api:group-list"), **bearer(token)).status_code == 200
    client.force_login(staff_a)
    ended = client.post(reverse("api:group-head-deactivate", args=[head_login.pk]))
    assert ended.status_code == 302
    client.logout()
    assert client.get(reverse("api:group-list"), **bearer(token)).status_code == 401
    user.refresh_from_db()
    assert not user.is_active
    assert not ApiToken.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_another_office_sees_and_ends_nothing(client, head_login, staff_b):
    client.force_login(staff_b)
    page = client.get(PAGE)
    assert page.status_code == 200 and "head1" not in page.content.decode()
    url = reverse("api:group-head-deactivate", args=[head_login.pk])
    assert client.post(url).status_code == 404
    response = _register(client, head_login.group, username="head2")
    assert response.status_code == 400
    assert not get_user_model().objects.filter(username="head2").exists()


def test_an_auditor_sees_the_logins_but_makes_and_ends_none(client, head_login, auditor_a):
    client.force_login(auditor_a)
    page = client.get(PAGE)
    assert "head1" in page.content.decode() and "New group head" not in page.content.decode()
    assert _register(client, head_login.group, username="head2").status_code == 400
    url = reverse("api:group-head-deactivate", args=[head_login.pk])
    assert client.post(url).status_code == 403
    assert head_login.user.is_active


@pytest.mark.parametrize(
    "extra,field,message",
    [
        ({"username": "head1"}, "username", "is taken"),
        ({"username": "tổ trưởng"}, "username", "Letters, digits"),
        ({"password": "123"}, "password", "too short"),
        ({"full_name": "   "}, "full_name", "required"),
        ({"group": "NOPE"}, "group", "No group NOPE"),
    ],
)
def test_bad_input_is_refused_on_its_field_and_makes_nothing(
    client, head_login, staff_a, extra, field, message
):
    english = client
    english.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # after head_login's logout
    english.force_login(staff_a)
    users = get_user_model().objects.count()
    response = _register(english, head_login.group, **({"username": "head2"} | extra))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert message in response.content.decode()  # the page as the clerk reads it
    assert get_user_model().objects.count() == users


def test_a_heads_login_opens_no_office_page(client, head_login):
    client.post(reverse("login"), {"username": "head1", "password": PASSWORD})
    for page in ("/", reverse("borrowers:list"), reverse("sessions:list")):
        response = client.get(page)
        assert response.status_code == 302 and response["Location"] == reverse("api:tokens")
    tokens = client.get(reverse("api:tokens"))
    assert tokens.status_code == 200 and "group" not in tokens.context["form"].fields
    assert 'id="group-head"' in tokens.content.decode()
    assert reverse("borrowers:list") not in tokens.content.decode()  # no office navigation
