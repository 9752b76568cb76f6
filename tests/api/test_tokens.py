"""Tokens: stored hashed and shown once, scoped by the user's role, revoked at once, failures
logged; the tokens page and the command."""

import logging

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from api import services
from api.models import ApiToken

from ..factories import UserFactory
from .conftest import bearer, make_token

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_as_its_digest_only(staff_a):
    row, token = services.token_create(user=staff_a, name="phone", scope="collect", actor=staff_a)
    assert token.startswith("bp_") and len(token) > 40
    stored = ApiToken.objects.filter(pk=row.pk).values().get()
    assert token not in [str(v) for v in stored.values()]
    assert stored["digest"] == services.digest_of(token)
    assert stored["prefix"] == token[:10]


def test_scopes_follow_the_role(auditor_a, staff_a, manager_a):
    assert services.scopes_allowed(auditor_a) == ["read"]
    assert services.scopes_allowed(staff_a) == ["read", "collect"]
    assert services.scopes_allowed(manager_a) == ["read", "collect", "admin"]
    with pytest.raises(ValidationError) as refused:
        services.token_create(user=auditor_a, name="x", scope="collect", actor=auditor_a)
    assert "scope" in refused.value.message_dict
    with pytest.raises(ValidationError):
        services.token_create(user=staff_a, name="bad\x00name", scope="read", actor=staff_a)
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_refused_at_once(client, staff_a, active_loan):
    row, token = services.token_create(user=staff_a, name="x", scope="read", actor=staff_a)
    url = reverse("api:loan-detail", kwargs={"pk": active_loan.pk})
    assert client.get(url, **bearer(token)).status_code == 200
    services.token_revoke(token=row, actor=staff_a)
    response = client.get(url, **bearer(token))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_failed_authentications_are_logged(client, caplog, staff_a):
    url = reverse("api:loan-list")
    with caplog.at_level(logging.WARNING, logger="branch_portal.api.auth"):
        assert client.get(url, **bearer("bp_not-a-token")).status_code == 401
        assert client.get(url, HTTP_AUTHORIZATION="Bearer a b").status_code == 401
    assert [r.getMessage() for r in caplog.records if r.name == "branch_portal.api.auth"] == [
        "API authentication failed from 127.0.0.1: unknown or revoked token 'bp_not-a-t'",
        "API authentication failed from 127.0.0.1: malformed header",
    ]


@pytest.mark.parametrize("header", ["   ", "\t", "Basic abc", "Bearer"])
def test_a_blank_or_foreign_authorization_header_is_no_token(client, header):
    # Not the bearer scheme: unauthenticated (401 or 403), never a 500.
    response = client.get(reverse("api:loan-list"), HTTP_AUTHORIZATION=header)
    assert response.status_code in (401, 403)


def test_a_read_token_cannot_post_and_a_session_reads_only(client, staff_a, active_loan):
    token = bearer(make_token(staff_a, "read"))
    url = reverse("api:loan-list")
    assert client.post(url, {}, **token).status_code in (403, 405)
    client.force_login(staff_a)
    assert client.get(url).status_code == 200


def test_the_rate_limit_is_per_token(client, settings, staff_a):
    settings.API_RATE_LIMIT = "3/min"
    first, second = bearer(make_token(staff_a)), bearer(make_token(staff_a))
    url = reverse("api:loan-list")
    assert [client.get(url, **first).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get(url, **second).status_code == 200


def test_the_command_prints_the_token_on_its_last_line(capsys, client, staff_a):
    call_command("create_api_token", user="staff_a", scope="collect")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert client.get(reverse("api:loan-list"), **bearer(token)).status_code == 200
    assert ApiToken.objects.get().scope == "collect"


def test_the_tokens_page_shows_a_new_token_once_and_revokes(client, staff_a, staff_b):
    client.force_login(staff_a)
    page = client.get(reverse("api:tokens"))
    assert page.status_code == 200
    made = client.post(reverse("api:tokens"), {"name": "Điện thoại tổ trưởng", "scope": "collect"})
    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    token = made.context["new_token"]
    assert token in made.content.decode()
    row = ApiToken.objects.get()
    assert token not in client.get(reverse("api:tokens")).content.decode()
    # another user cannot see or revoke it
    client.force_login(staff_b)
    assert row.prefix not in client.get(reverse("api:tokens")).content.decode()
    revoke = reverse("api:token-revoke", kwargs={"pk": row.pk})
    assert client.post(revoke).status_code == 404
    assert ApiToken.objects.get().revoked_at is None
    client.force_login(staff_a)
    assert client.post(revoke).status_code == 302
    assert ApiToken.objects.get().revoked_at is not None


def test_the_tokens_page_makes_a_group_heads_token(client, staff_a, household_a, household_b):
    client.force_login(staff_a)
    url = reverse("api:tokens")
    data = {"name": "phone", "scope": "collect", "group": household_b.group.code}
    assert client.post(url, data).status_code == 400  # another office's group
    made = client.post(url, {**data, "group": household_a.group.code})
    assert made.status_code == 200
    assert ApiToken.objects.get().group == household_a.group
    assert f"chỉ tổ {household_a.group.code}" in made.content.decode()  # the default language


def test_the_tokens_page_refuses_bad_input_with_messages(client, auditor_a):
    client.force_login(auditor_a)
    url = reverse("api:tokens")
    for data in ({"name": "", "scope": "read"}, {"name": "x", "scope": "admin"}, {"scope": "?"}):
        response = client.post(url, data)
        assert response.status_code == 400
        assert response.context["form"].errors
    for query in ({"q": "\x00"}, {"q": "x" * 5000}, {"page": "abc"}, {"page": "-1"}):
        assert client.get(url, query).status_code == 200, query
    assert client.get(reverse("api:token-revoke", kwargs={"pk": 1})).status_code == 405
    assert client.post(reverse("api:token-revoke", kwargs={"pk": 10**12})).status_code == 404
    assert not ApiToken.objects.exists()


def test_the_tokens_pages_need_a_login(client):
    for url in (reverse("api:tokens"), reverse("api:token-revoke", kwargs={"pk": 1})):
        response = client.post(url, {"name": "x", "scope": "read"})
        assert response.status_code == 302 and "/login/" in response.url
    assert client.get("/api/").url == reverse("api:docs")


def test_an_administrator_makes_and_revokes_any_users_token(client, staff_a):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    made = client.post(reverse("api:tokens"), {"name": "core", "scope": "read", "user": "staff_a"})
    assert made.status_code == 200
    row = ApiToken.objects.get()
    assert (row.user, row.created_by) == (staff_a, admin)
    assert client.post(reverse("api:token-revoke", kwargs={"pk": row.pk})).status_code == 302
    assert ApiToken.objects.get().revoked_by == admin
