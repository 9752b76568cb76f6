"""The report pages: index, request, run detail and its htmx progress, downloads, retry,
compare, month close and the dashboard; roles and office scoping."""

import datetime as dt
import json

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from borrowers.models import Office
from loans import services as loan_services
from loans.models import ClosedMonth
from reports import services
from reports.models import ReportRun
from reports.selectors import figures_for_period, outstanding_by_month
from tests.conftest import key
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

START, AS_OF = dt.date(2021, 1, 1), dt.date(2021, 6, 15)


@pytest.fixture
def done_run(active_loan, manager_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.report_run_request(
            office=active_loan.office, start=START, as_of=AS_OF, user=manager_a
        )
    return ReportRun.objects.get(pk=run.pk)


@pytest.fixture
def queued_run(active_loan, manager_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return services.report_run_request(
            office=active_loan.office, start=START, as_of=AS_OF, user=manager_a
        )


DASHBOARD_URLS = [
    reverse("reports:dashboard"),
    reverse("reports:dashboard_figures"),
    reverse("reports:dashboard_chart"),
]


def _run_urls(run):
    return [
        reverse("reports:detail", args=[run.pk]),
        reverse("reports:progress", args=[run.pk]),
        reverse("reports:download", args=[run.pk, "pdf"]),
        reverse("reports:download", args=[run.pk, "xlsx"]),
        reverse("reports:compare", args=[run.pk]),
    ]


def test_pages_render_for_manager_and_auditor(client, done_run, manager_a, auditor_a):
    for user in (manager_a, auditor_a):
        client.force_login(user)
        urls = [reverse("reports:index"), *DASHBOARD_URLS, *_run_urls(done_run)]
        for url in urls:
            assert client.get(url).status_code == 200, (user, url)
    client.force_login(manager_a)
    html = client.get(reverse("reports:index")).content.decode()
    assert reverse("reports:request") in html and reverse("reports:month_close") in html
    assert reverse("reports:download", args=[done_run.pk, "pdf"]) in html
    assert 'title="Số hiệu bút toán mới nhất của sổ cái lúc lấy số liệu."' in html


def test_request_in_eager_mode_ends_done_and_downloads(
    client, active_loan, manager_a, django_capture_on_commit_callbacks
):
    client.force_login(manager_a)
    data = {"office": active_loan.office_id, "period": "ytd"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reports:request"), data)
    run = ReportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:detail", args=[run.pk])
    assert (run.status, run.start, run.as_of, run.kind) == ("done", START, AS_OF, "on_demand")
    assert run.requested_by == manager_a

    pdf = client.get(reverse("reports:download", args=[run.pk, "pdf"]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert 'filename="A_2021-01-01_2021-06-15.pdf"' in pdf["Content-Disposition"]
    xlsx = client.get(reverse("reports:download", args=[run.pk, "xlsx"]))
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert xlsx.content.startswith(b"PK")


@pytest.mark.parametrize(
    ("data", "period"),
    [
        ({"period": "month", "month": "2021-05"}, (dt.date(2021, 5, 1), dt.date(2021, 5, 31))),
        ({"period": "month", "month": "2021-06"}, (dt.date(2021, 6, 1), AS_OF)),
        ({"period": "quarter", "quarter": "2021-1"}, (START, dt.date(2021, 3, 31))),
        (
            {"period": "custom", "start": "2021-02-01", "as_of": "2021-04-10"},
            (dt.date(2021, 2, 1), dt.date(2021, 4, 10)),
        ),
    ],
)
def test_the_periods(client, office_a, manager_a, data, period, django_capture_on_commit_callbacks):
    client.force_login(manager_a)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("reports:request"), {"office": office_a.pk, **data})
    assert response.status_code == 302
    assert ReportRun.objects.values_list("start", "as_of").get() == period


@pytest.mark.parametrize(
    ("business_date", "month", "quarter", "quarter_period"),
    [
        # The day after June: June and Q2, not a one-day July or Q3.
        (dt.date(2021, 7, 1), "2021-06", "2021-2", (dt.date(2021, 4, 1), dt.date(2021, 6, 30))),
        # Mid-June: the last complete month and quarter, May and Q1.
        (dt.date(2021, 6, 15), "2021-05", "2021-1", (START, dt.date(2021, 3, 31))),
    ],
)
def test_the_month_and_quarter_defaults_follow_the_business_date(
    client, office_a, manager_a, business_date, month, quarter, quarter_period,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    Office.objects.filter(pk=office_a.pk).update(business_date=business_date)
    # A month closed long ago does not hold the default back.
    ClosedMonth.objects.create(office=office_a, month=dt.date(2021, 1, 1), closed_by=manager_a)
    client.force_login(manager_a)
    response = client.get(reverse("reports:index"))
    form = response.context["form"]
    assert form["month"].value().strftime("%Y-%m") == month
    assert form["quarter"].value() == quarter
    html = response.content.decode()
    assert f'value="{month}"' in html
    year, number = quarter.split("-")
    assert f'<option value="{quarter}" selected>Q{number}/{year}</option>' in html
    # The defaults, sent as they are, ask for the whole month and the whole quarter.
    for data, period in (
        ({"period": "month", "month": month}, (dt.date.fromisoformat(f"{month}-01"), None)),
        ({"period": "quarter", "quarter": quarter}, quarter_period),
    ):
        with django_capture_on_commit_callbacks(execute=False):
            response = client.post(reverse("reports:request"), {"office": office_a.pk, **data})
        assert response.status_code == 302
        run = ReportRun.objects.latest("pk")
        start = period[0]
        as_of = period[1] or (start.replace(month=start.month + 1) - dt.timedelta(days=1))
        assert (run.start, run.as_of) == (start, as_of)


def test_a_custom_range_after_the_business_date_is_refused(client, office_a, manager_a):
    client.force_login(manager_a)
    data = {"office": office_a.pk, "period": "custom", "start": "2021-06-01", "as_of": "2021-06-16"}
    response = client.post(reverse("reports:request"), data)
    assert response.status_code == 400
    assert response.context["form"].errors["as_of"]
    assert not ReportRun.objects.exists()


def test_staff_and_auditor_cannot_request_retry_or_close(
    client, office_a, staff_a, auditor_a, done_run
):
    data = {"office": office_a.pk, "period": "ytd"}
    month = {"office": office_a.pk, "month": "2021-01-01", "reason": "x"}
    for user in (staff_a, auditor_a):
        client.force_login(user)
        assert client.post(reverse("reports:request"), data).status_code == 403
        assert client.post(reverse("reports:retry", args=[done_run.pk])).status_code == 403
        assert client.post(reverse("reports:month_close"), month).status_code == 403
        assert client.post(reverse("reports:month_reopen"), month).status_code == 403
        html = client.get(reverse("reports:index")).content.decode()
        assert reverse("reports:request") not in html
        assert reverse("reports:download", args=[done_run.pk, "pdf"]) in html  # may download
    assert ReportRun.objects.count() == 1 and not ClosedMonth.objects.exists()
    client.force_login(staff_a)
    for url in DASHBOARD_URLS:
        assert client.get(url).status_code == 403, url
    assert client.get(reverse("reports:download", args=[done_run.pk, "pdf"])).status_code == 200


def test_office_b_guessing_a_run_gets_404(client, staff_b, done_run, office_a):
    client.force_login(staff_b)
    for url in _run_urls(done_run):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("reports:retry", args=[done_run.pk])).status_code == 404
    # ?office= of another office falls back to the user's own office
    response = client.get(reverse("reports:index"), {"office": office_a.pk})
    assert response.context["office"] != office_a
    assert not list(response.context["table"].page.object_list)


def test_progress_partial_polls_until_done(client, queued_run, manager_a):
    client.force_login(manager_a)
    url = reverse("reports:progress", args=[queued_run.pk])
    html = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in html and f'hx-get="{url}"' in html
    assert 'aria-valuenow="0"' in html
    ReportRun.objects.filter(pk=queued_run.pk).update(
        status="running", progress=30, progress_message="Rendering the PDF"
    )
    html = client.get(url).content.decode()
    assert 'aria-valuenow="30"' in html and "every 2s" in html
    ReportRun.objects.filter(pk=queued_run.pk).update(status="queued")
    services.report_run_build(run_id=queued_run.pk)
    html = client.get(url).content.decode()
    assert "every 2s" not in html and 'aria-valuenow="100"' in html
    assert reverse("reports:download", args=[queued_run.pk, "pdf"]) in html
    detail = client.get(reverse("reports:detail", args=[queued_run.pk])).content.decode()
    assert 'id="run-progress"' in detail


def test_a_failed_run_offers_retry(
    client, queued_run, manager_a, django_capture_on_commit_callbacks
):
    ReportRun.objects.filter(pk=queued_run.pk).update(status="failed", error="boom")
    client.force_login(manager_a)
    html = client.get(reverse("reports:detail", args=[queued_run.pk])).content.decode()
    assert reverse("reports:retry", args=[queued_run.pk]) in html and "boom" in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reports:retry", args=[queued_run.pk]))
    assert response.status_code == 302
    assert ReportRun.objects.get(pk=queued_run.pk).status == "done"


def test_compare_shows_what_changed(client, done_run, manager_a, staff_a, active_loan):
    client.force_login(manager_a)
    url = reverse("reports:compare", args=[done_run.pk])
    assert not client.get(url).context["comparison"].changed
    loan_services.loan_repay_principal(
        loan=active_loan, amount=2_000_000, value_date=dt.date(2021, 3, 1), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    response = client.get(url)
    comparison = response.context["comparison"]
    assert comparison.changed
    closing = [d for d in comparison.differences if d.table == "totals" and d.key == "closing"]
    assert [(d.old, d.new) for d in closing] == [(50_000_000, 48_000_000)]
    html = response.content.decode()
    assert "48.000.000" in html
    # In words, not the JSON keys: "Tổng hợp | Toàn phòng giao dịch | Dư nợ cuối kỳ"
    assert "Dư nợ cuối kỳ" in html and "Theo chương trình" in html and "Toàn phòng" in html
    assert "by_programme" not in html and "<td>closing</td>" not in html


def test_month_close_and_reopen_through_the_page(client, active_loan, manager_a):
    office = active_loan.office
    client.force_login(manager_a)
    assert client.get(reverse("reports:index")).context["month_to_close"] == dt.date(2021, 1, 1)
    response = client.post(
        reverse("reports:month_close"), {"office": office.pk, "month": "2021-01-01"}
    )
    assert response.status_code == 302
    assert ClosedMonth.objects.filter(office=office, month=dt.date(2021, 1, 1)).exists()
    html = client.get(reverse("reports:index")).content.decode()
    assert "01/2021" in html and reverse("reports:month_reopen") in html
    for reason in ("", "   "):
        response = client.post(
            reverse("reports:month_reopen"),
            {"office": office.pk, "month": "2021-01-01", "reason": reason},
            follow=True,
        )
        assert ClosedMonth.objects.exists()  # no reason: refused, in plain words
        assert [str(m) for m in response.context["messages"]] == ["Nêu lý do mở lại tháng."]
        assert response.redirect_chain[-1][0] == f"{reverse('reports:index')}?office={office.pk}"
    client.post(
        reverse("reports:month_reopen"),
        {"office": office.pk, "month": "2021-01-01", "reason": "Sửa sai"},
    )
    assert not ClosedMonth.objects.exists()


def test_dashboard_loads_its_figures_and_chart_on_their_own(client, active_loan, auditor_a):
    client.force_login(auditor_a)
    shell = client.get(reverse("reports:dashboard")).content.decode()
    office = f"?office={active_loan.office_id}"
    assert f'hx-get="{reverse("reports:dashboard_figures")}{office}"' in shell
    assert f'hx-get="{reverse("reports:dashboard_chart")}{office}"' in shell
    assert "vendor/chartjs-4.6.1/chart.umd.js" in shell

    response = client.get(reverse("reports:dashboard_figures"), {"office": active_loan.office_id})
    assert response.context["year"]["disbursed"] == 50_000_000
    assert response.context["month"]["disbursed"] == 0
    html = response.content.decode()
    assert 'id="dashboard-figures"' in html and 'id="dashboard-table" ' in html
    assert 'hx-swap-oob="true"' in html

    response = client.get(reverse("reports:dashboard_chart"), {"office": active_loan.office_id})
    chart = response.context["chart"]
    assert len(chart["month_ends"]) == 24 and chart["month_ends"][-1] == "2021-06-15"
    assert [p["code"] for p in chart["programmes"]] == ["HN"]
    html = response.content.decode()
    start = html.index('<script id="outstanding-data" type="application/json">')
    payload = html[start:].split(">", 1)[1].split("</script>", 1)[0]
    data = json.loads(payload)
    assert data["programmes"][0]["values"][-1] == 50_000_000
    assert data["labels"][-1] == "06/2021"


def test_outstanding_by_month_equals_the_period_figures(active_loan, staff_a):
    loan_services.loan_repay_principal(
        loan=active_loan, amount=7_000_000, value_date=dt.date(2021, 3, 10), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    office = active_loan.office
    chart = outstanding_by_month(office=office, months=24, as_of=AS_OF)
    ends = [dt.date.fromisoformat(d) for d in chart["month_ends"]]
    assert ends[0] == dt.date(2019, 7, 31) and ends[-3:] == [
        dt.date(2021, 4, 30), dt.date(2021, 5, 31), AS_OF,
    ]  # fmt: skip
    hn = chart["programmes"][0]["values"]
    for month_end in (dt.date(2021, 2, 28), dt.date(2021, 3, 31)):
        figures = figures_for_period(office=office, start=month_end.replace(day=1), as_of=month_end)
        closing = {row["code"]: row["closing"] for row in figures["by_programme"]}
        assert hn[ends.index(month_end)] == closing["HN"]
    assert hn[ends.index(dt.date(2021, 2, 28))] == 50_000_000
    assert hn[ends.index(dt.date(2021, 3, 31))] == 43_000_000
    assert hn[ends.index(dt.date(2020, 12, 31))] == 0


def test_outstanding_by_month_from_snapshots_equals_the_period_figures(
    active_loan, staff_a, manager_a
):
    """Closed months come from their snapshots, later ones from the newest snapshot plus the
    entries since: every point is still the period figures' closing."""
    from reports.month_close import month_close

    office = active_loan.office
    for day, amount in ((dt.date(2021, 3, 10), 7_000_000), (dt.date(2021, 5, 5), 5_000_000)):
        if day.month == 5:
            for month in (1, 2, 3):
                month_close(office=office, month=dt.date(2021, month, 1), user=manager_a)
        loan_services.loan_repay_principal(
            loan=active_loan, amount=amount, value_date=day, user=staff_a, idempotency_key=key()
        )
    chart = outstanding_by_month(office=office, months=24, as_of=AS_OF)
    ends = [dt.date.fromisoformat(d) for d in chart["month_ends"]]
    hn = chart["programmes"][0]["values"]
    for month_end in ends[-7:]:
        figures = figures_for_period(office=office, start=month_end.replace(day=1), as_of=month_end)
        closing = {row["code"]: row["closing"] for row in figures["by_programme"]}
        assert hn[ends.index(month_end)] == closing.get("HN", 0), month_end
    assert hn[-7:] == [0, 50_000_000, 50_000_000, 43_000_000, 43_000_000, 38_000_000, 38_000_000]


def test_only_the_latest_closed_month_offers_reopening(client, active_loan, manager_a):
    from reports.month_close import month_close

    for month in (dt.date(2021, 1, 1), dt.date(2021, 5, 1)):
        month_close(office=active_loan.office, month=month, user=manager_a)
    client.force_login(manager_a)
    html = client.get(reverse("reports:index")).content.decode()
    assert html.count('name="reason"') == 1
    assert 'name="month" value="2021-05-01"' in html
    assert 'name="month" value="2021-01-01"' not in html


def test_the_request_url_reloaded_goes_back_to_the_page(client, office_a, manager_a):
    """A refused request form is shown at /reports/request/: a reload or a language switch there
    (a GET) goes back to the report page, not to a bare 405."""
    client.force_login(manager_a)
    response = client.get(reverse("reports:request"), {"office": office_a.pk})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('reports:index')}?office={office_a.pk}"


def test_everyone_sees_the_closed_and_reopened_months(
    client, active_loan, manager_a, auditor_a, staff_a
):
    from reports.month_close import month_close, month_reopen

    office = active_loan.office
    for month in (dt.date(2021, 1, 1), dt.date(2021, 2, 1)):
        month_close(office=office, month=month, user=manager_a)
    month_reopen(office=office, month=dt.date(2021, 2, 1), user=manager_a, reason="Sửa bút toán")
    for user in (auditor_a, staff_a):
        client.force_login(user)
        html = client.get(reverse("reports:index")).content.decode()
        assert "01/2021" in html and "02/2021" in html and "Sửa bút toán" in html
        assert "manager_a" in html
        assert 'name="reason"' not in html and reverse("reports:month_close") not in html
    assert reverse("reports:dashboard") not in html  # staff: no dashboard to offer
    client.force_login(auditor_a)
    assert reverse("reports:dashboard") in client.get(reverse("reports:index")).content.decode()


def test_refusals_are_pages_of_the_portal(client, done_run, staff_a, staff_b):
    client.force_login(staff_a)
    response = client.get(reverse("reports:dashboard"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Vai trò của bạn tại phòng giao dịch này không được làm việc này." in html
    assert reverse("home") in html and "navbar" in html
    client.force_login(staff_b)
    response = client.get(reverse("reports:detail", args=[done_run.pk]))
    assert response.status_code == 404
    assert "thuộc một phòng giao dịch không phải của bạn" in response.content.decode()


# --- Retrying a run whose worker went silent (issue 10, point 11) ---------------------------------


@pytest.fixture
def manager_of_b(office_b):
    user = UserFactory(username="manager_of_b")
    MembershipFactory(user=user, office=office_b, role="manager")
    return user


def _running(run, *, silent_for: int) -> None:
    """The run's worker claimed it and was last heard of `silent_for` seconds ago."""
    then = timezone.now() - dt.timedelta(seconds=silent_for)
    ReportRun.objects.filter(pk=run.pk).update(
        status="running", attempts=1, progress=30, started_at=then, heartbeat_at=then
    )


def _retry(client, run):
    """POST the retry button (in English: the VI/EN switch's cookie); the response and the
    messages the run page then shows."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(reverse("reports:retry", args=[run.pk]), follow=True)
    return response, [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_a_manager_retries_a_run_whose_worker_went_silent_once(
    client, queued_run, manager_a, django_capture_on_commit_callbacks
):
    _running(queued_run, silent_for=600)
    client.force_login(manager_a)
    detail = reverse("reports:detail", args=[queued_run.pk])
    html = client.get(detail).content.decode()
    assert reverse("reports:retry", args=[queued_run.pk]) in html
    progress = client.get(reverse("reports:progress", args=[queued_run.pk])).content.decode()
    assert reverse("reports:retry", args=[queued_run.pk]) in progress and "every 2s" in progress

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response, said = _retry(client, queued_run)
        again, said_again = _retry(client, queued_run)  # the double submit
    assert response.redirect_chain == again.redirect_chain == [(detail, 302)]
    assert said == [("success", "The report is queued again.")]
    assert said_again == [("info", "The report is already queued.")]
    assert len(callbacks) == 1  # one build task sent
    assert ReportRun.objects.get(pk=queued_run.pk).status == "queued"
    callbacks[0]()
    run = ReportRun.objects.get(pk=queued_run.pk)
    assert (run.status, run.attempts) == ("done", 2)


def test_a_live_or_finished_run_is_not_retried(client, queued_run, done_run, manager_a):
    _running(queued_run, silent_for=5)  # its worker beat 5 s ago
    client.force_login(manager_a)
    html = client.get(reverse("reports:detail", args=[queued_run.pk])).content.decode()
    assert reverse("reports:retry", args=[queued_run.pk]) not in html
    response, said = _retry(client, queued_run)
    assert response.redirect_chain == [(reverse("reports:detail", args=[queued_run.pk]), 302)]
    assert said == [
        (
            "error",
            "This report is still being built: its worker was heard from less than 60 seconds "
            "ago. It can be retried once its worker has been silent for that long.",
        )
    ]
    run = ReportRun.objects.get(pk=queued_run.pk)
    assert (run.status, run.attempts, run.progress) == ("running", 1, 30)

    response, said = _retry(client, done_run)
    assert said == [
        ("error", "This report is finished and cannot be retried; request a new one instead.")
    ]
    assert ReportRun.objects.get(pk=done_run.pk).status == "done"


def test_only_the_offices_managers_retry_a_silent_run(
    client, queued_run, staff_a, auditor_a, staff_b, manager_of_b
):
    _running(queued_run, silent_for=600)
    for user, status in ((staff_a, 403), (auditor_a, 403), (staff_b, 404), (manager_of_b, 404)):
        client.force_login(user)
        assert client.post(reverse("reports:retry", args=[queued_run.pk])).status_code == status
    assert client.get(reverse("reports:retry", args=[queued_run.pk])).status_code == 405
    client.force_login(staff_a)  # sees the run, without the button
    html = client.get(reverse("reports:detail", args=[queued_run.pk])).content.decode()
    assert reverse("reports:retry", args=[queued_run.pk]) not in html
    assert ReportRun.objects.get(pk=queued_run.pk).status == "running"
