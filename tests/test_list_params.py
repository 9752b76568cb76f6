"""List parameters are bounded on every list: the page size comes from a fixed set, a page that
is not a number is the first, a number out of range the last, and an export format we do not
write answers 400. Pages a link leads to count only up to a limit (decision 0004)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext, pgettext

from branch_portal import pagination
from branch_portal.pagination import LAST_PAGE, ListParamsForm
from loans import services
from reports.models import ReportRun

from .factories import HouseholdFactory

pytestmark = pytest.mark.django_db

ROWS = 30  # a first page of 25 and a last page of 5
BEYOND_BIGINT = "99999999999999999999"
OUT_OF_RANGE = ["0", "-1", "-" + BEYOND_BIGINT, "3", "1000", "9223372036854775807", BEYOND_BIGINT]
NOT_NUMBERS = ["", "abc", "1.5", "1e3", "+2", "٢", "２", "2\x00"]


@pytest.fixture
def households(household_a):
    for i in range(ROWS - 1):
        HouseholdFactory(group=household_a.group, full_name=f"Nguyễn Văn {i:02}")


@pytest.fixture
def loans(household_a, staff_a, hn):
    for i in range(ROWS):
        services.loan_apply(
            household=household_a, programme=hn, amount=1_000_000 + i, term_months=12,
            applied_on=dt.date(2021, 6, 1), user=staff_a, group=household_a.group,
        )  # fmt: skip


def _page(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, params
    table = response.context["table"]
    return table.page.number, [row.record.pk for row in table.page.object_list]


@pytest.mark.parametrize("list_name", ["borrowers:list", "loans:list"])
def test_page_size_comes_from_the_fixed_set(client, staff_a, households, loans, list_name):
    client.force_login(staff_a)
    url = reverse(list_name)
    for per_page in ["-5", "0", "1", "30", "1000000", BEYOND_BIGINT, "abc", "٥٠"]:
        _number, rows = _page(client, url, per_page=per_page)
        assert len(rows) == 25, per_page  # anything outside the set is the default
    for per_page in ["50", "100"]:
        assert len(_page(client, url, per_page=per_page)[1]) == ROWS


@pytest.mark.parametrize("list_name", ["borrowers:list", "loans:list"])
def test_a_bad_page_is_the_last_page(client, staff_a, households, loans, list_name):
    client.force_login(staff_a)
    url = reverse(list_name)
    first = _page(client, url, page="1")
    last = _page(client, url, page="2")
    assert len(first[1]) == 25 and last[0] == 2 and len(last[1]) == ROWS - 25
    for page in [*OUT_OF_RANGE, "9" * 5000, "-0"]:
        assert _page(client, url, page=page) == last, page
    for page in NOT_NUMBERS:
        assert _page(client, url, page=page) == first, page
    # The offset overflows bigint, not the page number: then the last page of 100 is the first.
    everything = _page(client, url, per_page="100")
    assert _page(client, url, page="184467440737095517", per_page="100") == everything


def test_last_page_of_an_empty_list_is_the_first(client, staff_a, household_a):
    client.force_login(staff_a)
    number, rows = _page(client, reverse("loans:list"), page=BEYOND_BIGINT)
    assert (number, rows) == (1, [])


def _counting(client, url, **params) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_a_list_counts_once_and_only_up_to_the_limit(client, staff_a, households):
    """A page with more after it counts its list once, over a LIMIT (decision 0004): the count
    stops at COUNT_LIMIT + 1 rows. A last page knows the count from its own rows, and a bad
    page's last-page count is the only other count."""
    client.force_login(staff_a)
    url = reverse("borrowers:list")
    (count,) = _counting(client, url)
    assert f"LIMIT {pagination.COUNT_LIMIT + 1}" in count
    assert _counting(client, url, page="abc") == [count]
    assert _counting(client, url, page="2", per_page="25") == []
    assert _counting(client, url, per_page="50") == []
    # The last page of a list without totals can only be found by counting, once.
    assert len(_counting(client, url, page="1000")) == 1
    assert len(_counting(client, url, page=BEYOND_BIGINT)) == 1


@pytest.mark.parametrize("list_name", ["borrowers:list", "loans:list"])
def test_a_list_says_how_many_results_it_holds(
    client, staff_a, households, loans, list_name, monkeypatch
):
    client.force_login(staff_a)
    client.cookies["django_language"] = "en"
    url = reverse(list_name)
    for params in [{}, {"page": "2"}, {"per_page": "50"}]:
        response = client.get(url, params)
        assert response.context["table"].row_count == pagination.RowCount(ROWS), params
        assert f">{ROWS} results</p>" in response.content.decode()
    # Past the limit, the list says only that it holds more, whatever the page.
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 20)
    for params in [{}, {"per_page": "25", "page": "1"}]:
        html = client.get(url, params).content.decode()
        assert ">More than 20 results</p>" in html
    assert f">{ROWS} results</p>" in client.get(url, {"page": "2"}).content.decode()
    response = client.get(url, {"q": "no such name", "status": "settled"})
    assert ">0 results</p>" in response.content.decode()


def test_the_pager_speaks_the_users_language(client, staff_a, households):
    """django-tables2 has no Vietnamese: the pager's words are the project's, with a context."""
    client.force_login(staff_a)
    client.cookies["django_language"] = "vi"
    with translation.override("vi"):
        words = [
            pgettext("pager", "Previous"),
            pgettext("pager", "Next"),
            gettext("Pages"),
            ngettext("%(shown)s result", "%(shown)s results", ROWS) % {"shown": ROWS},
        ]
    html = client.get(reverse("borrowers:list"), {"page": "2", "per_page": "25"}).content.decode()
    pager = html[html.index("table-row-count") :]
    assert f'aria-label="{words[2]}"' in pager and words[0] in pager and words[3] in pager
    html = client.get(reverse("borrowers:list")).content.decode()
    assert words[1] in html[html.index("table-row-count") :]
    assert "previous" not in html.casefold() and "next</a>" not in html


@pytest.mark.parametrize("list_name", ["borrowers:list", "loans:list"])
@pytest.mark.parametrize("export", ["xls", "json", "yaml", "latex", "ods", "tsv", "CSV", "pdf"])
def test_an_unknown_export_format_is_refused(client, staff_a, household_a, list_name, export):
    client.force_login(staff_a)
    client.cookies["django_language"] = "en"  # the VI/EN switch; Accept-Language is ignored
    response = client.get(reverse(list_name), {"_export": export})
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert f"“{export}”" in text and "csv, xlsx" in text
    assert "Content-Disposition" not in response


def test_an_empty_export_is_the_page(client, staff_a, households):
    client.force_login(staff_a)
    response = client.get(reverse("borrowers:list"), {"_export": ""})
    assert response.status_code == 200 and "Content-Disposition" not in response
    assert len(response.context["table"].page.object_list) == 25


def test_an_export_holds_every_row_whatever_the_page(client, staff_a, households):
    client.force_login(staff_a)
    response = client.get(
        reverse("borrowers:list"), {"_export": "csv", "page": "-5", "per_page": "-5"}
    )
    assert response.status_code == 200
    assert response.content.decode().count("\n") == ROWS + 1  # the header and every household


def test_export_needs_login_first(client, household_a):
    response = client.get(reverse("borrowers:list"), {"_export": "xls"})
    assert response.status_code == 302 and "/login" in response.url


def test_report_runs_table_is_bounded(client, manager_a, office_a):
    for _ in range(3):
        ReportRun.objects.create(
            office=office_a, start=dt.date(2021, 1, 1), as_of=dt.date(2021, 5, 31),
            requested_by=manager_a,
        )  # fmt: skip
    client.force_login(manager_a)
    url = reverse("reports:index")
    for params in [
        {"per_page": "-5"},
        {"per_page": "1000000"},
        {"page": BEYOND_BIGINT},
        {"page": "-3"},
        {"page": "abc", "per_page": "0"},
    ]:
        response = client.get(url, params)
        assert response.status_code == 200, params
        table = response.context["table"]
        assert table.paginator.per_page == 20 and len(table.page.object_list) == 3, params


def test_list_params_form():
    def clean(**data):
        form = ListParamsForm(data, default_per_page=25, export_formats=("csv", "xlsx"))
        form.is_valid()
        return form

    assert clean(page="7", per_page="50").page_and_size() == (7, 50)
    assert clean(page="-7", per_page="-50").page_and_size() == (LAST_PAGE, 25)
    assert clean(page="x").page_and_size() == (1, 25)
    assert clean(page="92233720368547759", per_page="100").page_and_size() == (LAST_PAGE, 100)
    assert clean(export="csv").export_format == "csv"
    assert clean(export="").export_format is None
    with translation.override("en"):
        form = clean(export="xls")
        assert form.has_error("export", code="unknown_export_format")
        assert form.errors["export"] == ["Unknown export format “xls”: choose one of csv, xlsx."]
