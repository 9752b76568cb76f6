"""Every API route, probed with tokens: anonymous 401, office B's token 404 on office A's ids
and none of A's rows in its lists, office A's token 200. A new route with no row here fails
test_every_api_route_is_probed."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from .conftest import bearer, make_token

pytestmark = pytest.mark.django_db

# The routes holding office data: (list name, detail name, the api_world key of A's object).
DATA_ROUTES = {
    "borrower": "borrower",
    "loan": "loan",
    "entry": "entry",
    "report-run": "report-run",
    "group": "group",
}
# The routes that are not office data, with the reason.
OTHER_ROUTES = {
    "api:index": "a redirect to the docs",
    "api:api-root": "the list of the routes",
    "api:schema": "the OpenAPI schema: no data",
    "api:docs": "Swagger UI over the schema",
    "api:redoc": "Redoc over the schema",
    "api:tokens": "the user's own tokens (a session page): tests/api/test_tokens.py",
    "api:token-revoke": "the user's own tokens (a session page): tests/api/test_tokens.py",
    "api:report-run-file": "probed below, with the run's detail",
    "api:group-members": "probed below, with the group's detail",
    "api:group-sheet": "probed below, with the group's detail",
    "api:group-receipts": "probed below, with the group's detail",
    "api:group-receipts-batch": "probed below, with the group's detail",
    "api:outbox": "probed below: the feed of the token's offices only",
    "api:borrower-statement": "tests/api/test_statement.py: office B's token gets 404",
    "api:journal": "tests/api/test_journal.py: office B's token gets 404",
    "api:group-heads": "a session page: tests/api/test_group_heads.py (office B sees none of A's)",
    "api:group-head-deactivate": "a session page: tests/api/test_group_heads.py (B gets 404)",
    "api:journal-csv": "tests/api/test_journal.py: office B's token gets 404",
}


def _api_names():
    names = []
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver) and pattern.namespace == "api":
            stack = [pattern]
            while stack:
                for p in stack.pop().url_patterns:
                    if isinstance(p, URLResolver):
                        stack.append(p)
                    elif isinstance(p, URLPattern):
                        names.append(f"api:{p.name}")
    return names


def test_every_api_route_is_probed():
    expected = {f"api:{r}-{k}" for r in DATA_ROUTES for k in ("list", "detail")}
    names = set(_api_names())
    assert names - expected - OTHER_ROUTES.keys() == set()
    assert expected | OTHER_ROUTES.keys() <= names


@pytest.mark.parametrize("route", sorted(DATA_ROUTES))
def test_another_offices_token_gets_404_and_empty_lists(client, api_world, staff_a, staff_b, route):
    pk = api_world[DATA_ROUTES[route]]
    detail = reverse(f"api:{route}-detail", kwargs={"pk": pk})
    listing = reverse(f"api:{route}-list")
    assert client.get(detail).status_code in (401, 403)
    assert client.get(listing).status_code in (401, 403)

    theirs = bearer(make_token(staff_b))
    response = client.get(detail, **theirs)
    assert response.status_code == 404, response.content
    rows = client.get(listing, **theirs).json()["results"]
    assert pk not in [r["id"] for r in rows]

    ours = bearer(make_token(staff_a))
    assert client.get(detail, **ours).json()["id"] == pk
    assert pk in [r["id"] for r in client.get(listing, **ours).json()["results"]]


def test_a_report_runs_files_are_scoped_too(client, api_world, staff_a, staff_b):
    run = api_world["report-run"]
    for fmt, start in (("pdf", b"%PDF"), ("xlsx", b"PK")):
        url = reverse("api:report-run-file", kwargs={"pk": run, "fmt": fmt})
        assert client.get(url, **bearer(make_token(staff_b))).status_code == 404
        response = client.get(url, **bearer(make_token(staff_a)))
        assert response.status_code == 200
        assert response.content.startswith(start)
        assert "attachment" in response["Content-Disposition"]


GROUP_ACTIONS = ("members", "sheet", "receipts")


def test_a_groups_endpoints_are_scoped_too(client, api_world, staff_a, staff_b):
    group = api_world["group"]
    theirs = bearer(make_token(staff_b, scope="collect"))
    for name in GROUP_ACTIONS:
        url = reverse(f"api:group-{name}", kwargs={"pk": group})
        assert client.get(url, **theirs).status_code == 404, name
        assert client.get(url, **bearer(make_token(staff_a))).status_code == 200, name
    for name in ("receipts", "receipts-batch"):
        url = reverse(f"api:group-{name}", kwargs={"pk": group})
        response = client.post(
            url, {"receipts": []}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k",
            **theirs,
        )  # fmt: skip
        assert response.status_code == 404, name


def test_a_user_who_left_the_office_reaches_nothing_at_once(client, api_world, staff_a):
    from borrowers.models import OfficeMembership

    token = bearer(make_token(staff_a))
    url = reverse("api:loan-detail", kwargs={"pk": api_world["loan"]})
    assert client.get(url, **token).status_code == 200
    OfficeMembership.objects.filter(user=staff_a).delete()
    assert client.get(url, **token).status_code == 404


def test_the_outbox_feeds_the_tokens_offices_only(client, api_world, manager_a, manager_b):
    from django.db import connection

    # The entries of a test's transaction are numbered as a commit would number them.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS outbox_number_at_commit IMMEDIATE")
    url = reverse("api:outbox")
    assert client.get(url).status_code in (401, 403)
    theirs = client.get(url, **bearer(make_token(manager_b, scope="admin"))).json()
    assert theirs["entries"] == [] and theirs["more"] is False
    ours = client.get(url, **bearer(make_token(manager_a, scope="admin"))).json()
    assert api_world["entry"] in [e["id"] for e in ours["entries"] if e["source"] == "loan"]
