"""The commune day in the browser: the leader opens the session, the teller enters a group's
collection sheet with the keyboard only (Tab along a row, Enter down a column), watches the totals
follow, posts it, sees the borrower's balance move on the household page, prints the session's
sheets and closes the session with the cash counted; the controller, a second person,
countersigns it."""

import datetime as dt
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from commune_day.models import TransactionSession
from loans import services
from loans.models import Loan, Programme

from ..factories import HouseholdFactory, MembershipFactory, OfficeFactory, UserFactory
from .conftest import login, logout

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = "/tmp/ui-commune-day-{}.png"


def _loan(household, staff, manager):
    loan = services.loan_apply(
        household=household, programme=Programme.objects.get(code="HN"), amount=20_000_000,
        term_months=36, applied_on=dt.date(2021, 1, 5), user=staff, group=household.group,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=manager, approved_on=dt.date(2021, 1, 10))
    services.loan_disburse(
        loan=loan, amount=20_000_000, value_date=dt.date(2021, 1, 15), user=staff,
        idempotency_key=uuid.uuid4().hex,
    )  # fmt: skip
    return loan


def _amount(text: str) -> int:
    return int(re.sub(r"\D", "", text) or 0)


def test_the_teller_enters_a_sheet_with_the_keyboard_and_the_balance_moves(page, live_server):
    base = live_server.url
    office = OfficeFactory(code="DP", name="Phòng giao dịch Đan Phượng")
    users = {}
    for username, role in [("leader", "staff"), ("teller", "staff"), ("manager", "manager")]:
        users[username] = UserFactory(username=username)
        MembershipFactory(user=users[username], office=office, role=role)
    first = HouseholdFactory(group__village__commune__office=office)
    second = HouseholdFactory(group=first.group, full_name="Trần Văn Hùng", sex="M")
    loans = [_loan(h, users["teller"], users["manager"]) for h in (first, second)]
    group = first.group

    # The leader opens the commune's session of the day, naming the teller.
    login(page, base, "leader")
    page.goto(base + reverse("sessions:open"))
    page.select_option("#id_commune", str(group.village.commune_id))
    page.fill("#id_date", "15/06/2021")
    page.select_option("#id_teller", str(users["teller"].pk))
    page.select_option("#id_controller", str(users["manager"].pk))
    page.click("form[data-once] button[type=submit]")
    page.wait_for_url(re.compile(r".*/sessions/\d+/$"))
    session = TransactionSession.objects.get()
    assert session.date == dt.date(2021, 6, 15)
    logout(page)

    # The teller enters the group's sheet from the session's page.
    login(page, base, "teller")
    page.goto(base + reverse("sessions:detail", args=[session.pk]))
    page.click(f"a[data-enter='{group.code}']")
    page.wait_for_url(re.compile(r".*/enter/$"))
    first_interest = page.locator("input[name=l1-interest]")
    interest_due = [_amount(page.input_value(f"input[name=l{n}-interest]")) for n in (1, 2)]
    principal_due_2 = _amount(page.input_value("input[name=l2-principal]"))
    assert interest_due[0] > 0

    # Keyboard only from the first cell: the interest due stays, Tab to principal and savings.
    first_interest.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("1.000.000")
    page.keyboard.press("Tab")
    page.keyboard.type("50.000")
    # Enter goes down the savings column, not to the server.
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") == "l2-savings"
    page.keyboard.type("20.000")
    footer = page.locator("tfoot [data-total]")
    totals = [_amount(t) for t in footer.all_inner_texts()]
    assert totals[:3] == [sum(interest_due), 1_000_000 + principal_due_2, 70_000]
    page.screenshot(path=SHOTS.format("typed"), full_page=True)

    # Enter on the last row goes to the button; Enter there posts the sheet.
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.type") == "submit"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/sessions/{session.pk}/$"))
    assert group.code in page.inner_text(".alert-success")
    page.screenshot(path=SHOTS.format("posted"), full_page=True)

    loan = Loan.objects.get(pk=loans[0].pk)
    assert loan.outstanding == 19_000_000
    page.goto(base + reverse("borrowers:detail", args=[first.pk]))
    assert "19.000.000" in page.inner_text("main")

    # The session's sheets print as one PDF, built by the worker (in-process here).
    page.goto(base + reverse("sessions:detail", args=[session.pk]))
    page.click(f"form[action='{reverse('sessions:print', args=[session.pk])}'] button")
    page.wait_for_url(re.compile(r".*/sessions/\d+/sheets/\d+/$"))
    with page.expect_download() as download:
        page.click("#run-progress a.btn-primary")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert group.code in text and loans[0].number in text

    # The teller closes the session with the cash counted against what the postings say.
    page.goto(base + reverse("sessions:close", args=[session.pk]))
    expected = _amount(page.inner_text("#cash-expected"))
    assert expected == sum(interest_due) + 1_000_000 + principal_due_2 + 70_000
    page.fill("#id_cash_counted", f"{expected:,}".replace(",", "."))
    page.click("form[data-once] button[type=submit]")
    page.wait_for_url(re.compile(rf".*/sessions/{session.pk}/$"))
    assert TransactionSession.objects.get().status == TransactionSession.Status.CLOSING
    # The closer cannot countersign: the controller, a second person, does.
    logout(page)
    login(page, base, "manager")
    page.goto(base + reverse("sessions:countersign", args=[session.pk]))
    page.click("form[data-once] button[type=submit]")
    page.wait_for_url(re.compile(rf".*/sessions/{session.pk}/$"))
    page.screenshot(path=SHOTS.format("closed"), full_page=True)
    closed = TransactionSession.objects.get()
    assert closed.status == TransactionSession.Status.CLOSED
    assert closed.countersigned_by == users["manager"] and closed.closed_by == users["teller"]
    assert closed.cash_counted == closed.cash_expected == expected
    # A closed session offers no more postings.
    assert page.locator(f"a[href*='/sessions/{session.pk}/groups/'][href$='/enter/']").count() == 0
    assert (
        page.locator(f"a[href*='/sessions/{session.pk}/groups/'][href$='/disburse/']").count() == 0
    )
