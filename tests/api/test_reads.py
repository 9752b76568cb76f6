"""The read endpoints: cursor pagination returns every row once, filters that do not parse are a
400, the schema is OpenAPI 3 and the docs load from our own static files."""

import pytest
from django.urls import reverse

from loans.models import LoanTransaction

from .conftest import bearer, make_token

pytestmark = pytest.mark.django_db


def test_the_cursor_walks_every_entry_exactly_once(client, api_world, staff_a):
    token = bearer(make_token(staff_a))
    url, seen = reverse("api:entry-list") + "?page_size=1", []
    while url:
        page = client.get(url, **token).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    expected = list(
        LoanTransaction.objects.filter(office__code="A").order_by("id").values_list("id", flat=True)
    )
    assert seen == expected and len(expected) >= 2


@pytest.mark.parametrize(
    "route,query",
    [
        ("api:entry-list", "value_date_from=yesterday"),
        ("api:entry-list", "loan=abc"),
        ("api:entry-list", "kind=gift"),
        ("api:loan-list", "status=lost"),
        ("api:loan-list", "household=1e9"),
        ("api:borrower-list", "status=%00"),
        ("api:report-run-list", "kind=x"),
        ("api:entry-list", "kind="),
        ("api:entry-list", "value_date_to="),
        ("api:loan-list", "household="),
        ("api:loan-list", f"household={2**63}"),
        ("api:loan-list", "page_size=0"),
        ("api:loan-list", "page_size=1001"),
        ("api:loan-list", "page_size=1.5"),
        ("api:loan-list", "page_size=%D9%A2"),
    ],
)
def test_a_filter_that_does_not_parse_is_a_400(client, api_world, staff_a, route, query):
    response = client.get(f"{reverse(route)}?{query}", **bearer(make_token(staff_a)))
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()


def test_a_forged_cursor_or_id_is_a_404_not_a_500(client, api_world, staff_a):
    token = bearer(make_token(staff_a))
    assert client.get(reverse("api:loan-list") + "?cursor=zzz", **token).status_code == 404
    assert client.get("/api/v1/loans/99999999999999999999/", **token).status_code == 404
    # a path no route matches answers JSON under /api/, as the API's own errors do
    for path in ("/api/v1/loans/%C2%84/", "/api/v2/", "/api/v1/nothing/"):
        response = client.get(path, **token)
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert set(response.json()) == {"detail"}


def test_ids_no_row_can_have_and_blank_text_filters_match_as_the_schema_says(
    client, api_world, staff_a
):
    token = bearer(make_token(staff_a))
    for query in ("household=0", f"household=-{2**63}", "household=999999999"):
        response = client.get(f"{reverse('api:loan-list')}?{query}", **token)
        assert response.status_code == 200 and response.json()["results"] == [], query
    everything = client.get(reverse("api:loan-list"), **token).json()["results"]
    blank = client.get(reverse("api:loan-list") + "?number=&office=", **token).json()["results"]
    assert blank == everything and everything


def test_filters_narrow_the_lists(client, api_world, staff_a):
    token = bearer(make_token(staff_a))
    loan = client.get(reverse("api:loan-detail", kwargs={"pk": api_world["loan"]}), **token).json()
    rows = client.get(
        reverse("api:entry-list") + f"?loan={loan['id']}&kind=principal_repayment", **token
    ).json()["results"]
    assert [r["amount"] for r in rows] == [1_000_000]
    assert isinstance(loan["outstanding"], int)


def test_the_schema_is_openapi_3_and_the_docs_use_no_cdn(client, staff_a):
    token = bearer(make_token(staff_a))
    schema = client.get(reverse("api:schema") + "?format=json", **token)
    assert schema.status_code == 200
    document = schema.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/loans/{id}/" in document["paths"]
    assert document["components"]["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from /api/tokens/ or `manage.py create_api_token`.",
    }
    assert {"BearerAuth": []} in document["paths"]["/api/v1/loans/"]["get"]["security"]
    client.force_login(staff_a)
    docs = client.get(reverse("api:docs")).content.decode()
    assert "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs
    assert client.get(reverse("api:schema")).status_code == 200
    client.logout()
    assert client.get(reverse("api:schema")).status_code == 401
