"""A manager closes a month in the browser: a cancelled confirmation changes nothing, and while
the server takes the month-end snapshot the button says what is happening."""

import datetime as dt

import pytest

from loans.models import ClosedMonth

from ..factories import MembershipFactory, OfficeFactory, UserFactory
from .conftest import login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_closing_a_month_shows_its_progress(page, live_server):
    base = live_server.url
    office = OfficeFactory(code="DP", business_date=dt.date(2021, 6, 15))
    MembershipFactory(user=UserFactory(username="manager"), office=office, role="manager")
    login(page, base, "manager")
    page.goto(f"{base}/reports/")
    button = page.locator("form[action$='/months/close/'] button[type=submit]")

    page.once("dialog", lambda dialog: dialog.dismiss())
    button.click()
    assert button.is_enabled()
    assert "Đang khóa sổ" not in button.inner_text()
    assert not ClosedMonth.objects.exists()

    # The page is replaced once the server answers, so the busy state is recorded as it appears.
    page.evaluate(
        """() => {
          const form = document.querySelector("form[action$='/months/close/']");
          new MutationObserver(() => {
            const b = form.querySelector("button[type=submit]");
            sessionStorage.setItem("busy", JSON.stringify({
              busy: form.getAttribute("aria-busy"), disabled: b.disabled, text: b.innerText,
              spinners: b.querySelectorAll(".spinner-border").length,
            }));
          }).observe(form, {attributes: true, attributeFilter: ["aria-busy"]});
        }"""
    )
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        button.click()
    busy = page.evaluate("JSON.parse(sessionStorage.getItem('busy'))")
    assert busy["busy"] == "true" and busy["disabled"] and busy["spinners"] == 1
    assert busy["text"].startswith("Đang khóa sổ tháng")
    assert "Đã khóa sổ tháng 05/2021" in page.inner_text("main")
    assert ClosedMonth.objects.filter(office=office, month=dt.date(2021, 5, 1)).exists()
