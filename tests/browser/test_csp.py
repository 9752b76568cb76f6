"""The Content-Security-Policy in a real browser: the main pages, their htmx parts and the
dashboard's chart all work under it, and Chromium reports no violation on any of them; an inline
script or style injected into a page is refused (so the policy is really enforced)."""

import re

import pytest
from django_celery_beat.models import CrontabSchedule

from ..factories import UserFactory
from .conftest import login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Runs before the page's own scripts in every document (through the DevTools protocol, which the
# page's policy does not govern) and keeps what Chromium reports.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push({directive: e.violatedDirective, blocked: e.blockedURI,
                     source: e.sourceFile, line: e.lineNumber, sample: e.sample});
});
"""


@pytest.fixture
def watched(page):
    """The page, with every CSP violation recorded (events and console errors)."""
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)
    page.console_violations = console
    return page


def _no_violation(page, where: str) -> None:
    page.wait_for_timeout(150)  # violation events are dispatched a task after the refusal
    assert page.evaluate("window.__csp") == [], where
    assert page.console_violations == [], where


def _visit(page, url: str):
    response = page.goto(url)
    assert response.status == 200, url
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    return response


def test_the_pages_htmx_and_the_chart_work_under_the_policy(
    watched, live_server, active_loan, manager_a
):
    page, base = watched, live_server.url
    household = active_loan.household
    login(page, base, manager_a.username)
    _no_violation(page, "login and home")

    # Home: the manager's business-date form, its input sized by portal.css, not style="".
    _visit(page, f"{base}/")
    width = page.eval_on_selector("input[name=day]", "el => getComputedStyle(el).width")
    assert width == "136px"  # 8.5rem
    _no_violation(page, "home")

    # Households: the commune filter applies itself (static/js/portal.js, data-autosubmit).
    _visit(page, f"{base}/borrowers/")
    assert page.locator("table >> text=" + household.full_name).count() == 1
    commune = household.group.village.commune
    with page.expect_navigation():
        page.select_option("select[name=commune]", str(commune.pk))
    assert f"commune={commune.pk}" in page.url
    _no_violation(page, "households")

    _visit(page, f"{base}/borrowers/{household.pk}/")
    assert household.full_name in page.inner_text("main")
    _no_violation(page, "household")

    _visit(page, f"{base}/loans/")
    _visit(page, f"{base}/loans/{active_loan.pk}/")
    assert household.full_name in page.inner_text("main")
    _no_violation(page, "loans")

    # Reports: the period picker shows only the chosen period's fields (portal.js).
    _visit(page, f"{base}/reports/")
    start = page.locator("#period-form [data-period=custom]").first
    assert not start.is_visible()
    page.select_option("#id_period", "custom")
    assert start.is_visible()
    page.select_option("#id_period", "ytd")
    assert not start.is_visible()
    _no_violation(page, "reports")

    # A report asked for: its page shows the run's progress bar, sized by a class.
    with page.expect_navigation():
        page.click("#period-form button[type=submit]")
    assert re.search(r"/reports/\d+/$", page.url), page.url
    page.wait_for_selector("#run-progress .progress-bar.bg-success")
    bar, track = page.evaluate(
        """() => [document.querySelector("#run-progress .progress-bar").offsetWidth,
                  document.querySelector("#run-progress .progress").offsetWidth]"""
    )
    assert bar == track > 0  # 100 %
    _no_violation(page, "report run")

    # The dashboard: both htmx parts arrive, and the chart is drawn from the partial's JSON.
    _visit(page, f"{base}/reports/dashboard/")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart('outstanding-chart') !== undefined"
    )
    assert page.locator("#dashboard-figures .figure").first.inner_text() == "50"
    last = page.evaluate("Chart.getChart('outstanding-chart').data.datasets[0].data.at(-1)")
    assert last == 50
    height = page.eval_on_selector("#dashboard-chart", "el => getComputedStyle(el).height")
    assert height == "420px"
    assert page.evaluate("document.querySelectorAll('head style').length") == 0  # htmx's own
    _no_violation(page, "dashboard")

    # The policy is enforced and the recorder hears it: an injected inline script does not run,
    # an injected style attribute is refused.
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__injected = true";
          document.body.append(script);
          const div = document.createElement("div");
          div.setAttribute("style", "color: red");
          document.body.append(div);
        }"""
    )
    page.wait_for_function("() => window.__csp.length >= 2")
    assert page.evaluate("window.__injected") is None
    directives = {v["directive"] for v in page.evaluate("window.__csp")}
    assert directives == {"script-src-elem", "style-src-attr"}


def test_the_admin_works_under_the_policy(watched, live_server, household_a):
    page, base = watched, live_server.url
    UserFactory(username="root", is_staff=True, is_superuser=True)
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "demo1234")
    with page.expect_navigation():
        page.click("input[type=submit]")
    _visit(page, f"{base}/admin/")
    _visit(page, f"{base}/admin/borrowers/office/")
    assert household_a.office.name in page.inner_text("#result_list")
    _visit(page, f"{base}/admin/borrowers/office/{household_a.office.pk}/change/")
    _visit(page, f"{base}/admin/django_celery_beat/periodictask/add/")
    _no_violation(page, "admin")
    crontab = CrontabSchedule.objects.create(minute="0", hour="6")
    page.reload()
    page.select_option("#id_crontab", str(crontab.pk))
    assert "Translation: At 06:00" in page.inner_text(".field-crontab")
    _no_violation(page, "periodic task form")
