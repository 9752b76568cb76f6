"""The auditor's timeline of a household (reports.history): the page, its PDF and XLSX, and the
borrower_history command's JSON."""

import datetime as dt
import io
import json
import subprocess
import tempfile

import pghistory
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from borrowers import services as household_services
from borrowers.models import GroupMembership
from loans import services
from loans.models import ApprovalRequest, ImportBatch, LoanTransaction
from reports.history import filter_events, household_timeline

from ..conftest import key
from ..factories import GroupFactory, HouseholdFactory, citizen_id_for

pytestmark = pytest.mark.django_db

EVENT_KEYS = {
    "at",
    "kind",
    "by",
    "approved_by",
    "value_date",
    "amount",
    "loan_number",
    "reference",
    "reverses",
    "changes",
}


def _edit(client, household, **changes):
    data = {
        "full_name": household.full_name,
        "date_of_birth": household.date_of_birth.strftime("%d/%m/%Y"),
        "sex": household.sex,
        "phone": household.phone,
        "village": household.village_id,
        "group": household.group_id or "",
        "on": "15/06/2021",
        **changes,
    }
    response = client.post(reverse("borrowers:edit", args=[household.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]


def _page(client, household, **params):
    client.cookies["django_language"] = "en"
    return client.get(reverse("reports:household_history", args=[household.pk]), params)


def _json(household) -> dict:
    out = io.StringIO()
    call_command(
        "borrower_history",
        "--office",
        household.office.code,
        "--citizen-id",
        household.citizen_id,
        "--json",
        stdout=out,
    )
    return json.loads(out.getvalue())


def test_the_timeline_shows_a_rename_with_old_and_new_names(
    client, staff_a, auditor_a, household_a
):
    old = household_a.full_name
    client.force_login(staff_a)
    _edit(client, household_a, full_name="Nguyễn Thị Hằng Nga", phone="0912345678")
    client.force_login(auditor_a)
    response = _page(client, household_a)
    assert response.status_code == 200
    [rename] = [
        e
        for e in response.context["events"]
        if e.kind == "household.changed" and "full_name" in e.changes
    ]
    assert rename.changes["full_name"] == [old, "Nguyễn Thị Hằng Nga"]
    assert rename.changes["phone"] == ["", "0912345678"]
    assert rename.by == "staff_a"
    text = response.content.decode()
    assert "Household: changed" in text
    assert "Full name" in text and old in text and "Nguyễn Thị Hằng Nga" in text

    data = _json(household_a)
    assert data["household"]["full_name"] == "Nguyễn Thị Hằng Nga"
    [event] = [
        e
        for e in data["events"]
        if e["kind"] == "household.changed" and "full_name" in e["changes"]
    ]
    assert event["changes"]["full_name"] == [old, "Nguyễn Thị Hằng Nga"]
    assert event["by"] == "staff_a"
    assert event["kind"] == "household.changed"


def test_the_json_has_exactly_the_documented_shape(active_loan, household_a):
    data = _json(household_a)
    assert set(data) == {"household", "events"}
    assert {"id", "office", "full_name", "citizen_id", "group", "status"} <= set(data["household"])
    assert data["events"]
    for event in data["events"]:
        assert set(event) == EVENT_KEYS, event
        dt.datetime.fromisoformat(event["at"])
        assert isinstance(event["changes"], dict)
    [disbursement] = [e for e in data["events"] if e["kind"] == "entry.disbursement"]
    assert disbursement["amount"] == 50_000_000 and isinstance(disbursement["amount"], int)
    assert disbursement["value_date"] == "2021-01-15"
    assert disbursement["loan_number"] == active_loan.number
    assert disbursement["changes"] == {} and disbursement["reverses"] is None
    assert disbursement["by"] == "staff_a"
    created = [e for e in data["events"] if e["kind"] == "loan.created"]
    assert created and created[0]["changes"]["status"] == [None, "applied"]
    approved = [e for e in data["events"] if e["kind"] == "loan.changed"]
    assert any(e["changes"].get("approved_by") == [None, "manager_a"] for e in approved)


def test_the_command_refuses_an_unknown_office_or_citizen_id(household_a):
    with pytest.raises(CommandError, match="no office ZZ"):
        call_command("borrower_history", "--office", "ZZ", "--citizen-id", "1", "--json")
    with pytest.raises(CommandError, match="no household with citizen ID 000"):
        call_command("borrower_history", "--office", "A", "--citizen-id", "000", "--json")


def test_a_ledger_entry_shows_who_entered_approved_and_imported_it(
    client, auditor_a, staff_a, manager_a, active_loan, household_a
):
    batch = ImportBatch.objects.create(
        office=household_a.office,
        files=["loans.csv", "entries.csv"],
        checksum="0" * 64,
        run_by=manager_a,
        started_at=timezone.now(),
        entries=1,
    )
    # An interest payment moves no principal, so it can be written here without the services.
    entry = LoanTransaction.objects.create(
        office=household_a.office,
        loan=active_loan,
        kind="interest_payment",
        counted_kind="interest_payment",
        value_date=dt.date(2021, 3, 15),
        amount=123_000,
        idempotency_key=key(),
        posted_by=staff_a,
        approved_by=manager_a,
        import_batch=batch,
        reference="PT-0042",
    )
    client.force_login(auditor_a)
    response = _page(client, household_a)
    [event] = [e for e in response.context["events"] if e.entry_id == entry.pk]
    assert (event.by, event.approved_by) == ("staff_a", "manager_a")
    assert (event.batch, event.batch_files, event.reference) == (batch.pk, batch.files, "PT-0042")
    text = response.content.decode()
    assert f"Imported (batch #{batch.pk})" in text and "loans.csv, entries.csv" in text
    assert "PT-0042" in text and "manager_a" in text
    [row] = [e for e in _json(household_a)["events"] if e["reference"] == "PT-0042"]
    assert (row["by"], row["approved_by"], row["amount"]) == ("staff_a", "manager_a", 123_000)


def test_a_reversal_links_both_ways(client, auditor_a, staff_a, active_loan, household_a):
    repayment = services.loan_repay_principal(
        loan=active_loan,
        amount=1_000_000,
        value_date=dt.date(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    reversal = services.loan_reverse(
        entry=repayment, value_date=dt.date(2021, 6, 2), user=staff_a, idempotency_key=key()
    )
    client.force_login(auditor_a)
    response = _page(client, household_a)
    events = {e.entry_id: e for e in response.context["events"] if e.entry_id}
    assert events[repayment.pk].reversed_by == reversal.pk
    assert events[reversal.pk].reverses == repayment.pk
    text = response.content.decode()
    assert f"reverses #{repayment.pk}" in text and f"reversed by #{reversal.pk}" in text
    [row] = [e for e in _json(household_a)["events"] if e["kind"] == "entry.reversal"]
    assert row["reverses"] == repayment.pk


def test_citizen_id_category_and_group_changes_show(client, auditor_a, staff_a, household_a):
    old = household_a.citizen_id
    new = citizen_id_for(household_a.date_of_birth, household_a.sex, province="079")
    other = GroupFactory(village=household_a.village, code="T-NEW")
    old_group = household_a.group.code
    GroupMembership.objects.create(
        group=household_a.group, household=household_a, joined_on=dt.date(2021, 1, 1)
    )
    with pghistory.context(user=staff_a.pk):
        household_services.household_change_citizen_id(
            household=household_a, new_citizen_id=new, on=dt.date(2021, 6, 1), user=staff_a
        )
        household_services.household_certify_category(
            household=household_a, year=2021, category="near_poor", user=staff_a
        )
        household_a.refresh_from_db()
        household_services.household_update(
            household=household_a,
            full_name=household_a.full_name,
            date_of_birth=household_a.date_of_birth,
            sex=household_a.sex,
            phone="",
            village=household_a.village,
            group=other,
            on=dt.date(2021, 6, 10),
        )
    household_a.refresh_from_db()
    events = household_timeline(household_a)
    id_change = [e for e in events if "citizen_id" in e.changes and e.kind == "household.changed"]
    assert id_change[0].changes["citizen_id"] == [old, new] and id_change[0].by == "staff_a"
    assert [e.changes["number"] for e in events if e.kind == "previous_id.created"] == [[None, old]]
    # The factory certified the household "poor" for 2021: the certification changes it.
    [category] = [e for e in events if e.source == "category" and e.by == "staff_a"]
    assert category.changes["category"] == ["poor", "near_poor"]
    assert category.changes["recorded_by"] == [None, "staff_a"]
    group = [e for e in events if e.kind == "household.changed" and "group" in e.changes]
    assert group[0].changes["group"] == [old_group, "T-NEW"]
    left = [e for e in events if e.kind == "membership.changed"]
    assert left and left[-1].changes["left_on"] == [None, dt.date(2021, 6, 10)]
    joined = [e for e in events if e.kind == "membership.created" and not e.untracked]
    assert joined[-1].changes["group"] == [None, "T-NEW"]

    client.force_login(auditor_a)
    text = _page(client, household_a).content.decode()
    assert f'{old}</span> → <span class="new">{new}' in text
    assert "Near-poor" in text and "T-NEW" in text
    assert _page(client, household_a, kind="category").context["events"] == [
        e for e in events if e.source == "category"
    ]


def test_an_approval_request_shows_with_its_outcome(
    client, auditor_a, staff_a, manager_a, active_loan, household_a
):
    request = ApprovalRequest.objects.create(
        office=household_a.office,
        operation="write-off",
        loan=active_loan,
        subject=f"loan:{active_loan.pk}",
        payload={"amount": 3_000_000},
        amount=3_000_000,
        held_because="write-off",
        maker=staff_a,
    )
    ApprovalRequest.objects.filter(pk=request.pk).update(
        status="rejected", checker=manager_a, decided_at=timezone.now(), reason="không đủ hồ sơ"
    )
    client.force_login(auditor_a)
    response = _page(client, household_a, kind="request")
    events = response.context["events"]
    assert [e.kind for e in events] == ["request.submitted", "request.rejected"]
    assert (events[0].by, events[0].amount) == ("staff_a", 3_000_000)
    assert events[1].by == "manager_a" and events[1].note == "không đủ hồ sơ"
    assert events[1].changes["status"] == ["pending", "rejected"]
    text = response.content.decode()
    assert "Request rejected" in text and "không đủ hồ sơ" in text


def test_filters(client, auditor_a, staff_a, manager_a, household_a, active_loan, hn):
    second = services.loan_apply(
        household=household_a, programme=hn, amount=5_000_000, term_months=12,
        applied_on=dt.date(2021, 6, 1), user=staff_a, group=household_a.group,
    )  # fmt: skip
    events = household_timeline(household_a)
    client.force_login(auditor_a)
    by_loan = _page(client, household_a, loan=second.pk).context["events"]
    assert by_loan and {e.loan_number for e in by_loan} == {second.number}
    entries = _page(client, household_a, kind="entry").context["events"]
    assert entries and {e.source for e in entries} == {"entry"}
    by_staff = _page(client, household_a, user="STAFF_A").context["events"]
    assert by_staff and all("staff_a" in (e.by, e.approved_by) for e in by_staff)
    assert len(by_staff) < len(events)
    today = timezone.localdate()
    assert len(_page(client, household_a, start=today.isoformat()).context["events"]) == len(events)
    later = (today + dt.timedelta(days=1)).strftime("%d/%m/%Y")
    assert _page(client, household_a, start=later).context["events"] == []
    assert filter_events(events, end=today - dt.timedelta(days=1)) == []


@pytest.mark.parametrize(
    "params",
    [
        {"start": "32/13/2021"},
        {"end": "yesterday"},
        {"kind": "nonsense"},
        {"loan": "x"},
        {"loan": "999999999999999999999"},
        {"start": "2021-06-02", "end": "2021-06-01"},
        {"user": "x" * 500},
    ],
)
def test_bad_filters_are_a_clear_400(client, auditor_a, household_a, params):
    client.force_login(auditor_a)
    response = _page(client, household_a, **params)
    assert response.status_code == 400
    assert "alert-danger" in response.content.decode()


def test_an_unknown_export_format_is_a_400(client, auditor_a, household_a):
    client.force_login(auditor_a)
    response = _page(client, household_a, _export="yaml")
    assert response.status_code == 400
    assert "Unknown export format" in response.content.decode()


def test_pdf_and_xlsx(client, staff_a, auditor_a, household_a, active_loan):
    from openpyxl import load_workbook

    client.force_login(staff_a)
    _edit(client, household_a, full_name="Nguyễn Thị Hằng Nga")
    client.force_login(auditor_a)
    pdf = _page(client, household_a, _export="pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf.content)
        f.flush()
        text = subprocess.run(
            ["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True, check=True
        ).stdout
    assert "Nguyễn Thị Hằng Nga" in text and "Full name" in text
    assert "Disbursement" in text

    xlsx = _page(client, household_a, _export="xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Recorded on" and rows[0][4] == "Value date"
    [disbursement] = [r for r in rows[1:] if r[2] == "Disbursement"]
    assert disbursement[4] == dt.datetime(2021, 1, 15)  # a date cell (openpyxl reads datetime)
    assert isinstance(disbursement[0], dt.datetime)
    assert disbursement[5] == 50_000_000
    assert any("Nguyễn Thị Hằng Nga" in (r[13] or "") for r in rows[1:])


def test_another_offices_household_is_a_404(client, staff_b, household_a):
    client.force_login(staff_b)
    assert _page(client, household_a).status_code == 404
    assert _page(client, household_a, _export="pdf").status_code == 404


def test_the_household_page_links_to_its_history(client, auditor_a, household_a):
    client.force_login(auditor_a)
    client.cookies["django_language"] = "en"
    response = client.get(reverse("borrowers:detail", args=[household_a.pk]))
    assert reverse("reports:household_history", args=[household_a.pk]) in response.content.decode()


def test_an_unrelated_household_never_shows(client, auditor_a, household_a, active_loan):
    other = HouseholdFactory(group=household_a.group, full_name="Đỗ Văn Nam")
    client.force_login(auditor_a)
    events = _page(client, other).context["events"]
    assert all(e.loan_number != active_loan.number for e in events)
    assert not [e for e in events if e.source == "entry"]
