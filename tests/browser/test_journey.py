"""A clerk's day in the browser: register a household, apply, approve (manager), disburse,
collect interest and principal, and find it all on the borrower page."""

import datetime as dt

import pytest

from borrowers.models import Household
from loans.models import Loan, Programme
from loans.selectors import ledger_mismatches

from ..factories import GroupFactory, MembershipFactory, OfficeFactory, UserFactory, citizen_id_for
from .conftest import login, logout

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = "/tmp/ui-{}.png"


def test_register_apply_approve_disburse_collect(page, live_server):
    base = live_server.url
    office = OfficeFactory(
        code="DP",
        name="Phòng giao dịch NHCSXH huyện Đan Phượng",
        business_date=dt.date(2021, 6, 15),
    )
    group = GroupFactory(
        village__commune__office=office,
        village__commune__name="Hạ Mỗ",
        village__name="Thôn Hạ",
        name="Tổ Hạ Mỗ 1",
    )
    for username, role in [("staff", "staff"), ("manager", "manager")]:
        MembershipFactory(user=UserFactory(username=username), office=office, role=role)
    hn = Programme.objects.get(code="HN")
    citizen_id = citizen_id_for(dt.date(1984, 4, 2), "F")

    # The login page, then the staff's home.
    page.goto(f"{base}/accounts/login/")
    page.screenshot(path=SHOTS.format("login"))
    login(page, base, "staff")
    assert "15/06/2021" in page.inner_text("nav")
    page.screenshot(path=SHOTS.format("home"), full_page=True)

    # Register a household.
    page.click("text=Đăng ký hộ vay >> nth=0")
    page.fill("#id_full_name", "Nguyễn Thị Hằng")
    page.fill("#id_citizen_id", citizen_id)
    page.fill("#id_date_of_birth", "02/04/1984")
    page.select_option("#id_sex", "F")
    page.fill("#id_phone", "0912345678")
    page.select_option("#id_village", str(group.village_id))
    page.select_option("#id_group", str(group.pk))
    page.select_option("#id_category", "poor")
    page.screenshot(path=SHOTS.format("register"), full_page=True)
    page.click("button:has-text('Đăng ký')")
    household = Household.objects.get(citizen_id=citizen_id)
    page.wait_for_url(f"{base}/borrowers/{household.pk}/")
    assert "Đã đăng ký hộ Nguyễn Thị Hằng" in page.content()

    # The list finds her without accents.
    page.goto(f"{base}/borrowers/?q=nguyen+thi+hang")
    assert page.locator("table >> text=Nguyễn Thị Hằng").count() == 1
    page.screenshot(path=SHOTS.format("households"), full_page=True)

    # Apply for a loan from her page.
    page.goto(f"{base}/borrowers/{household.pk}/")
    page.click("text=Đề nghị vay mới")
    page.select_option("#id_programme", str(hn.pk))
    page.fill("#id_amount", "30.000.000")
    page.fill("#id_term_months", "36")
    page.fill("#id_purpose", "Chăn nuôi bò")
    page.screenshot(path=SHOTS.format("apply"), full_page=True)
    page.click("button:has-text('Ghi nhận đề nghị vay')")
    loan = Loan.objects.get(household=household)
    loan_url = f"{base}/loans/{loan.pk}/"
    page.wait_for_url(loan_url)
    assert "Đang chờ giám đốc phê duyệt" in page.content()
    logout(page)

    # The manager approves it from the home page.
    login(page, base, "manager")
    assert loan.number in page.inner_text("main")
    page.screenshot(path=SHOTS.format("home-manager"), full_page=True)
    page.click(f"tr:has-text('{loan.number}') >> text=Phê duyệt")
    page.click("button:has-text('Phê duyệt')")
    page.wait_for_url(loan_url)
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED
    logout(page)

    # The staff disburses, then collects interest and principal.
    login(page, base, "staff")
    page.goto(loan_url)
    page.click("#operations >> text=Giải ngân")
    assert page.input_value("#id_amount") == "30.000.000"
    assert page.input_value("#id_value_date") == "15/06/2021"
    page.screenshot(path=SHOTS.format("disburse"), full_page=True)
    page.click("button:has-text('Giải ngân')")
    page.wait_for_url(loan_url)

    # Nothing is due on the disbursement day: 150.000 ₫ is refused as interest (issue 12,
    # point 7), and taken once the clerk ticks "prepayment", as a credit on the loan.
    page.click("#operations >> text=Thu lãi")
    page.fill("#id_amount", "150.000")
    page.click("button:has-text('Thu lãi')")
    assert "Trả lãi trước" in page.inner_text(".invalid-feedback")
    page.check("#id_prepayment")
    page.click("button:has-text('Thu lãi')")
    page.wait_for_url(loan_url)
    assert page.inner_text("#prepaid-credit") == "150.000 ₫"

    page.click("#operations >> text=Thu nợ gốc")
    page.fill("#id_amount", "5.000.000,5")  # a slip: decimals are refused with a clear message
    page.click("button:has-text('Thu nợ gốc')")
    assert "không có phần thập phân" in page.inner_text(".invalid-feedback")
    page.screenshot(path=SHOTS.format("repay-error"), full_page=True)
    page.fill("#id_amount", "5.000.000")
    page.click("button:has-text('Thu nợ gốc')")
    page.wait_for_url(loan_url)
    page.screenshot(path=SHOTS.format("loan"), full_page=True)

    loan.refresh_from_db()
    assert (loan.status, loan.outstanding) == (Loan.Status.ACTIVE, 25_000_000)
    assert ledger_mismatches() == []

    # The borrower page shows the loan and every entry, with who posted it.
    page.goto(f"{base}/borrowers/{household.pk}/")
    loans_table = page.inner_text("#loans")
    assert loan.number in loans_table
    assert "25.000.000 ₫" in loans_table
    ledger = page.inner_text("#ledger")
    for text in [
        "Giải ngân",
        "30.000.000 ₫",
        "Trả lãi trước",
        "150.000 ₫",
        "Thu nợ gốc",
        "5.000.000 ₫",
    ]:
        assert text in ledger
    assert ledger.count("staff") == 3
    page.screenshot(path=SHOTS.format("borrower"), full_page=True)

    page.goto(f"{base}/loans/")
    page.screenshot(path=SHOTS.format("loans"), full_page=True)
