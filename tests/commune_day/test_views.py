"""The session pages: the list, opening, the session and sheet pages, the sheet PDFs (per group
and the whole session's, built by the task with its progress), closing and countersigning."""

import datetime as dt
import subprocess

import pytest
from django.urls import reverse

from commune_day import services as day
from commune_day.models import SheetPrintRun, TransactionSession

from ..factories import GroupFactory

D = dt.date


@pytest.fixture
def session(household_a, staff_a, controller_a, teller_a):
    commune = household_a.village.commune
    return day.session_open(
        office=commune.office,
        commune=commune,
        leader=staff_a,
        controller=controller_a,
        teller=teller_a,
        user=staff_a,
        date=D(2021, 7, 15),
    )


def test_the_list_searches_and_filters(client, session, staff_a, staff_b):
    client.force_login(staff_a)
    url = reverse("sessions:list")
    page = client.get(url, {"q": session.commune.name, "status": "open"})
    assert page.status_code == 200 and reverse("sessions:detail", args=[session.pk]) in page.text
    assert (
        reverse("sessions:detail", args=[session.pk])
        not in client.get(url, {"status": "closed"}).text
    )
    client.force_login(staff_b)
    assert reverse("sessions:detail", args=[session.pk]) not in client.get(url).text


def test_opening_a_session_from_the_form(client, household_a, staff_a, controller_a, teller_a):
    client.force_login(staff_a)
    commune = household_a.village.commune
    data = {
        "commune": commune.pk,
        "date": "",
        "leader": staff_a.pk,
        "controller": controller_a.pk,
        "teller": staff_a.pk,
    }
    page = client.post(reverse("sessions:open"), data)
    assert page.status_code == 400
    assert "must be a different person" in page.text or "phải là người khác" in page.text
    data["teller"] = teller_a.pk
    page = client.post(reverse("sessions:open"), data)
    session = TransactionSession.objects.get()
    assert page.status_code == 302 and session.date == D(2021, 6, 10)
    assert list(session.groups.all()) == [household_a.group]


def test_the_session_page_lists_its_groups_and_the_sheet_page_its_lines(
    client, session, active_loan, household_a, staff_a
):
    client.force_login(staff_a)
    page = client.get(reverse("sessions:detail", args=[session.pk]))
    assert page.status_code == 200
    assert household_a.group.head_name in page.text
    sheet_url = reverse("sessions:sheet", args=[session.pk, household_a.group.pk])
    assert sheet_url in page.text
    page = client.get(sheet_url)
    assert page.status_code == 200
    assert active_loan.number in page.text and "1.659.167 ₫" in page.text
    other = GroupFactory()
    assert client.get(reverse("sessions:sheet", args=[session.pk, other.pk])).status_code == 404


def _pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "sheet.pdf"
    path.write_bytes(content)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_the_group_sheet_pdf(client, session, active_loan, household_a, staff_a, tmp_path):
    client.force_login(staff_a)
    page = client.get(reverse("sessions:sheet_pdf", args=[session.pk, household_a.group.pk]))
    assert page.status_code == 200 and page["Content-Type"] == "application/pdf"
    text = _pdf_text(page.content, tmp_path)
    assert "BẢNG KÊ THU" in text.upper() or "13/TD" in text
    assert active_loan.number in text and "1.659.167" in text and "5.000.000" in text
    assert household_a.group.head_name in text


def test_every_sheet_in_one_pdf_built_by_the_task(
    client, session, active_loan, staff_a, django_capture_on_commit_callbacks, tmp_path
):
    client.force_login(staff_a)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(reverse("sessions:print", args=[session.pk]))
    run = SheetPrintRun.objects.get()
    assert page.status_code == 302 and run.status == "done" and run.pdf_pages == 1
    progress = client.get(reverse("sessions:print_progress", args=[session.pk, run.pk]))
    assert reverse("sessions:print_download", args=[session.pk, run.pk]) in progress.text
    pdf = client.get(reverse("sessions:print_download", args=[session.pk, run.pk]))
    assert active_loan.number in _pdf_text(pdf.content, tmp_path)


def test_closing_and_countersigning_through_the_pages(
    client, session, staff_a, controller_a, teller_a
):
    client.force_login(teller_a)
    url = reverse("sessions:close", args=[session.pk])
    assert client.get(url).status_code == 200
    page = client.post(url, {"cash_counted": "100.000", "explanation": ""})
    assert page.status_code == 400
    page = client.post(url, {"cash_counted": "0", "explanation": ""})
    assert page.status_code == 302
    countersign = reverse("sessions:countersign", args=[session.pk])
    assert client.post(countersign).status_code == 400  # the closer cannot countersign
    client.force_login(controller_a)
    assert client.post(countersign).status_code == 302
    assert TransactionSession.objects.get(pk=session.pk).status == "closed"
