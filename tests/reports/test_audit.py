"""The office log (reports.audit): what a user did on a day, by kind and object, paginated and
exported; bad searches are a clear 400."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from loans import services
from loans.models import ApprovalRequest

from ..conftest import key

pytestmark = pytest.mark.django_db


def _log(client, **params):
    client.cookies["django_language"] = "en"
    return client.get(reverse("reports:audit"), params)


def _rows(response):
    return [row.record for row in response.context["table"].page.object_list]


@pytest.fixture
def activity(client, staff_a, manager_a, household_a, active_loan):
    """Staff renames the household through its form and repays 1 M; a request is submitted."""
    client.force_login(staff_a)
    response = client.post(
        reverse("borrowers:edit", args=[household_a.pk]),
        {
            "full_name": "Nguyễn Thị Hằng Nga",
            "date_of_birth": household_a.date_of_birth.strftime("%d/%m/%Y"),
            "sex": household_a.sex,
            "phone": "",
            "village": household_a.village_id,
            "group": household_a.group_id,
            "on": "15/06/2021",
        },
    )
    assert response.status_code == 302
    repayment = services.loan_repay_principal(
        loan=active_loan, amount=1_000_000, value_date=dt.date(2021, 6, 10),
        user=staff_a, idempotency_key=key(),
    )  # fmt: skip
    request = ApprovalRequest.objects.create(
        office=household_a.office, operation="write-off", loan=active_loan,
        subject=f"loan:{active_loan.pk}", amount=3_000_000, maker=staff_a,
    )  # fmt: skip
    client.logout()
    return {"repayment": repayment, "request": request}


def test_what_a_user_did_on_a_day(client, auditor_a, activity, active_loan):
    client.force_login(auditor_a)
    today = timezone.localdate().isoformat()
    response = _log(client, user="staff_a", start=today, end=today)
    assert response.status_code == 200
    rows = _rows(response)
    assert {r.user for r in rows} == {"staff_a"}
    kinds = {(r.src, r.kind) for r in rows}
    assert ("entry", "principal_repayment") in kinds and ("entry", "disbursement") in kinds
    assert ("household", "update") in kinds and ("request", "submitted") in kinds
    [rename] = [r for r in rows if r.src == "household"]
    assert "full_name: Nguyễn Thị Hằng → Nguyễn Thị Hằng Nga" in rename.details
    text = response.content.decode()
    assert "Household: changed" in text and "Principal repayment" in text
    # newest first
    assert [r.at for r in rows] == sorted((r.at for r in rows), reverse=True)
    # a day without anything
    assert _rows(_log(client, start="2020-01-01", end="2020-01-02")) == []
    # the manager did none of it (the approval of the fixture ran without a request's user)
    assert not [r for r in _rows(_log(client, user="manager_a")) if r.src == "household"]


def test_filters_by_kind_and_object(client, auditor_a, activity, active_loan, household_a):
    client.force_login(auditor_a)
    repayments = _rows(_log(client, kind="entry.principal_repayment"))
    assert [r.pk for r in repayments] == [activity["repayment"].pk]
    entries = _rows(_log(client, kind="entry"))
    assert {r.src for r in entries} == {"entry"} and len(entries) == 2
    assert {r.src for r in _rows(_log(client, kind="household"))} == {"household"}
    requests = _rows(_log(client, kind="request"))
    assert [(r.kind, r.amount) for r in requests] == [("submitted", 3_000_000)]
    by_loan = _rows(_log(client, object=active_loan.number))
    assert by_loan and {r.loan_id for r in by_loan} == {active_loan.pk}
    by_person = _rows(_log(client, object=household_a.citizen_id))
    assert {r.src for r in by_person} >= {"household", "entry", "loan"}
    assert _rows(_log(client, object="NO-SUCH-THING")) == []
    group = _rows(_log(client, object=household_a.group.code))
    assert [(r.src, r.kind) for r in group] == [("group", "insert")]
    assert f"code: {household_a.group.code}" in group[0].details


def test_the_log_pages_and_exports(client, auditor_a, activity):
    from openpyxl import load_workbook

    client.force_login(auditor_a)
    response = _log(client, per_page="25")
    assert response.context["table"].row_count.n == len(_rows(response))
    csv_response = _log(client, _export="csv")
    assert csv_response.status_code == 200
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["When", "Event", "Loan, citizen ID or group"]
    assert any("Principal repayment" in row for row in rows[1:])
    xlsx = _log(client, _export="xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = list(sheet.iter_rows(values_only=True))
    [repayment] = [r for r in values[1:] if r[1] == "Principal repayment"]
    assert repayment[6] == dt.datetime(2021, 6, 10)  # the value date is a date cell
    assert repayment[5] == 1_000_000


def test_a_page_reads_only_its_rows(client, auditor_a, activity, monkeypatch):
    """One page is one LIMIT query, never every row of the search (django-tables2 lists a
    plain sequence whole: the demo's week took three minutes)."""
    from reports import audit

    def every_row(self):
        raise AssertionError("the whole search was read for one page")

    monkeypatch.setattr(audit.AuditRows, "__iter__", every_row)
    client.force_login(auditor_a)
    response = _log(client, per_page="25")
    assert response.status_code == 200
    assert 0 < len(_rows(response)) <= 25


@pytest.mark.parametrize(
    "params, words",
    [
        ({"start": "32/13/2021"}, "Enter a valid date"),
        ({"end": "x"}, "Enter a valid date"),
        ({"kind": "nonsense"}, "Select a valid choice"),
        ({"office": "999999999999999999999"}, "Select a valid choice"),
        ({"start": "2021-06-02", "end": "2021-06-01"}, "The start date is after the end date"),
        ({"start": "2019-01-01", "end": "2021-06-01"}, "Search at most 366 days at a time"),
        ({"user": "nobody"}, "No user is named"),
    ],
)
def test_a_bad_search_is_a_clear_400(client, auditor_a, activity, params, words):
    client.force_login(auditor_a)
    response = _log(client, **params)
    assert response.status_code == 400
    assert words in response.content.decode()
    export = _log(client, **params, _export="csv")
    assert export.status_code == 400 and words in export.content.decode()


@pytest.mark.parametrize("page", ["10" * 30, "-1", "abc", "99999"])
def test_any_page_number_answers(client, auditor_a, activity, page):
    client.force_login(auditor_a)
    response = _log(client, page=page)
    assert response.status_code == 200
    assert _rows(response)


def test_an_unknown_export_format_is_a_400(client, auditor_a, activity):
    client.force_login(auditor_a)
    assert _log(client, _export="yaml").status_code == 400


def test_another_office_sees_none_of_it(client, staff_b, activity, active_loan):
    client.force_login(staff_b)
    response = _log(client)
    assert response.status_code == 200
    assert _rows(response) == []
    assert active_loan.number not in response.content.decode()


def test_end_of_day_and_month_close_show(client, auditor_a, manager_a, office_a, active_loan):
    from loans.services import end_of_day
    from reports import month_close as closing

    end_of_day(office=office_a, through=dt.date(2021, 6, 15), user=manager_a)
    closing.month_close(office=office_a, month=dt.date(2021, 1, 1), user=manager_a)
    client.force_login(auditor_a)
    [day] = _rows(_log(client, kind="end_of_day"))
    assert (day.object, day.user) == ("15/06/2021", "manager_a")
    [month] = _rows(_log(client, kind="month"))
    assert (month.object, month.event, month.user) == ("01/2021", "Month closed", "manager_a")
    assert "Month closed" in _log(client, kind="month").content.decode()
    # an object search is about loans, households and groups: these office-wide rows are not
    assert not _rows(_log(client, kind="month", object=active_loan.number))


def test_an_entry_says_what_it_reverses(client, auditor_a, staff_a, activity):
    reversal = services.loan_reverse(
        entry=activity["repayment"], value_date=dt.date(2021, 6, 11), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    client.force_login(auditor_a)
    [row] = _rows(_log(client, kind="entry.reversal"))
    assert row.pk == reversal.pk
    assert row.details == f"reverses #{activity['repayment'].pk}"
