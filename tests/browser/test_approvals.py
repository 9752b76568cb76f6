"""Four eyes in the browser: staff submits a write-off, the manager finds it in the queue and
approves it; the loan's ledger then names both, and so does the auditor's timeline."""

import datetime as dt
import re
import uuid

import pytest

from loans import services
from loans.models import ApprovalRequest, FourEyesPolicy, LoanTransaction, Programme

from ..factories import (
    FOUR_EYES_ON,
    HouseholdFactory,
    MembershipFactory,
    OfficeFactory,
    UserFactory,
)
from .conftest import login, logout

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = "/tmp/ui-approval-{}.png"


def test_staff_submits_a_write_off_and_the_manager_approves_it(page, live_server):
    base = live_server.url
    office = OfficeFactory(code="DP", name="Phòng giao dịch Đan Phượng")
    users = {}
    for username, role in [("staff", "staff"), ("manager", "manager"), ("auditor", "auditor")]:
        users[username] = UserFactory(username=username)
        MembershipFactory(user=users[username], office=office, role=role)
    household = HouseholdFactory(group__village__commune__office=office)
    loan = services.loan_apply(
        household=household, programme=Programme.objects.get(code="HN"), amount=50_000_000,
        term_months=60, applied_on=dt.date(2021, 1, 5), user=users["staff"],
        group=household.group,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=users["manager"], approved_on=dt.date(2021, 1, 10))
    services.loan_disburse(
        loan=loan, amount=50_000_000, value_date=dt.date(2021, 1, 15), user=users["staff"],
        idempotency_key=uuid.uuid4().hex,
    )  # fmt: skip
    FourEyesPolicy.objects.filter(office=office).update(**FOUR_EYES_ON)
    loan_url = f"{base}/loans/{loan.pk}/"

    # Staff writes off 48 M: it waits for the manager, nothing posts.
    login(page, base, "staff")
    page.goto(loan_url)
    page.click("#operations a[href$='/write-off/']")
    page.fill("#id_amount", "48.000.000")
    page.fill("#id_note", "QĐ 12/2021: hộ vay mất do lũ lụt")
    page.click("form[data-once] button[type=submit]")
    page.wait_for_url(loan_url)
    request = ApprovalRequest.objects.get()
    assert page.locator("#pending-requests").count() == 1
    assert f"số {request.pk} " in page.inner_text("#pending-requests")  # Đề nghị số N
    assert not LoanTransaction.objects.filter(kind="write_off").exists()
    page.screenshot(path=SHOTS.format("submitted"), full_page=True)
    logout(page)

    # The manager sees it counted in the nav and listed in the queue, and approves it.
    login(page, base, "manager")
    assert page.inner_text("#nav-approvals").strip().endswith("1")
    page.click("#nav-approvals")
    page.wait_for_url(re.compile(r".*/loans/approvals/"))
    assert loan.number in page.inner_text("main")
    page.screenshot(path=SHOTS.format("queue"), full_page=True)
    page.click(f"main table a[href$='/approvals/{request.pk}/']")
    assert "48.000.000" in page.inner_text("#request-payload")
    page.screenshot(path=SHOTS.format("request"), full_page=True)
    page.click("#decide button[value=approve]")
    page.wait_for_url(re.compile(rf".*/loans/approvals/{request.pk}/"))
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.APPROVED
    entry = LoanTransaction.objects.get(kind="write_off")
    assert (entry.amount, entry.posted_by, entry.approved_by) == (
        48_000_000,
        users["staff"],
        users["manager"],
    )
    page.goto(loan_url)
    row = page.inner_text(f"#entry-{entry.pk}")
    assert "staff" in row and "manager" in row
    page.screenshot(path=SHOTS.format("posted"), full_page=True)
    logout(page)

    # The auditor's timeline of the household: the write-off entered by staff and approved by
    # the manager, and the request's submission and approval with the same two names.
    login(page, base, "auditor")
    page.goto(f"{base}/borrowers/{household.pk}/")
    page.click(f"a[href$='/reports/households/{household.pk}/history/']")
    page.wait_for_url(re.compile(rf".*/reports/households/{household.pk}/history/"))
    ledger_rows = page.locator("tr.kind-entry", has_text="48.000.000")
    assert ledger_rows.count() == 1
    cells = ledger_rows.first.locator("td").all_inner_texts()
    assert (cells[5].strip(), cells[6].strip()) == ("staff", "manager")
    request_rows = page.locator("tr.kind-request").all_inner_texts()
    assert any("staff" in r for r in request_rows)
    assert any("manager" in r for r in request_rows)
    page.screenshot(path=SHOTS.format("timeline"), full_page=True)
