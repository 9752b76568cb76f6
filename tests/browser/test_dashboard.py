"""The dashboard in the browser: the page comes at once, its figures and its chart follow, and a
part that fails says so instead of spinning."""

import pytest

from .conftest import login
from .test_journey import SHOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_dashboard_fills_in_its_figures_and_chart(page, live_server, active_loan, auditor_a):
    base = live_server.url
    login(page, base, "auditor_a")
    page.goto(f"{base}/reports/dashboard/")
    # A function, not an expression: Playwright evaluates an expression with eval(), which the
    # page's Content-Security-Policy refuses.
    page.wait_for_function(
        "() => window.Chart && Chart.getChart('outstanding-chart') !== undefined"
    )
    chart = page.evaluate(
        """() => {
          const chart = Chart.getChart("outstanding-chart");
          return {labels: chart.data.labels, datasets: chart.data.datasets.map(
            (d) => ({label: d.label, last: d.data[d.data.length - 1]}))};
        }"""
    )
    assert len(chart["labels"]) == 24 and chart["labels"][-1] == "06/2021"
    assert [d["last"] for d in chart["datasets"]] == [50]  # million VND
    assert chart["datasets"][0]["label"].startswith("HN")
    cards = page.locator("#dashboard-figures .figure")
    assert cards.first.inner_text() == "50"
    assert "Doanh số cho vay\t50\t0" in page.inner_text("#dashboard-table")
    assert not page.locator("[role=status] .spinner-border").count()
    page.screenshot(path=SHOTS.format("dashboard"), full_page=True)


def test_a_part_that_fails_says_so(page, live_server, active_loan, auditor_a):
    base = live_server.url
    login(page, base, "auditor_a")
    page.route("**/reports/dashboard/chart/*", lambda route: route.fulfill(status=500, body="x"))
    page.goto(f"{base}/reports/dashboard/")
    alert = page.locator("#dashboard-chart [role=alert]")
    alert.wait_for()
    assert "Không tính được" in alert.inner_text()
    page.wait_for_selector("#dashboard-figures .figure")  # the other part still comes

    # The figures fill the cards and the table: both say so when they fail.
    page.unroute("**/reports/dashboard/chart/*")
    page.route("**/reports/dashboard/figures/*", lambda route: route.fulfill(status=500, body="x"))
    page.goto(f"{base}/reports/dashboard/")
    page.locator("#dashboard-figures [role=alert]").wait_for()
    assert "Không tính được" in page.inner_text("#dashboard-table [role=alert]")
    assert not page.locator("#dashboard-table .spinner-border").count()
    page.wait_for_function("() => Chart.getChart('outstanding-chart') !== undefined")
