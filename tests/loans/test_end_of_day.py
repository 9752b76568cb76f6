"""End of day owns the business date: each day's transfers dated that day, once (decision 0011)."""

import datetime as dt
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from borrowers.models import Office
from loans import services
from loans.models import EndOfDay, LoanTransaction, TransactionKind
from loans.selectors import ledger_mismatches
from reports.month_close import month_close, month_close_history
from tests.conftest import refused

D = dt.date
FIRST_DUE = D(2021, 6, 16)


@pytest.fixture
def spread_loan(active_loan):
    """active_loan with nine instalments of 5 M due 16/06 … 24/06/2021 and 5 M in 2026."""
    plan = [(k + 1, FIRST_DUE + dt.timedelta(days=k), 5_000_000) for k in range(9)]
    plan.append((10, D(2026, 1, 15), 5_000_000))
    services.schedule_rebuild(active_loan, plan)
    return active_loan


def transfers(loan):
    entries = LoanTransaction.objects.filter(loan=loan, kind=TransactionKind.TRANSFER_TO_OVERDUE)
    return list(entries.order_by("value_date").values_list("value_date", "amount"))


def business_date(office):
    return Office.objects.get(pk=office.pk).business_date


def test_twenty_days_post_each_transfer_on_its_own_date_and_once(spread_loan, manager_a):
    office = spread_loan.office
    through = D(2021, 7, 4)  # 15/06 … 04/07: 20 days
    runs = services.end_of_day(office=office, through=through, user=manager_a)
    assert [run.day for run in runs] == [D(2021, 6, 15) + dt.timedelta(days=n) for n in range(20)]
    # The instalment due on day k is overdue from k + 1, transferred dated k + 1.
    expected = [(FIRST_DUE + dt.timedelta(days=k + 1), 5_000_000) for k in range(9)]
    assert transfers(spread_loan) == expected
    assert {run.day: run.entries_posted for run in runs if run.entries_posted} == {
        day: 1 for day, _ in expected
    }
    assert sum(run.amount_posted for run in runs) == 45_000_000
    assert all(run.run_by == manager_a for run in runs)
    assert business_date(office) == D(2021, 7, 5)
    # A second run posts nothing.
    assert services.end_of_day(office=office, through=through, user=manager_a) == []
    assert transfers(spread_loan) == expected
    assert EndOfDay.objects.filter(office=office).count() == 20
    assert ledger_mismatches() == []


def test_a_run_stopped_part_way_leaves_whole_days_and_the_next_run_goes_on(
    spread_loan, monkeypatch
):
    office = spread_loan.office
    services.end_of_day(office=office, through=D(2021, 6, 18), user=None)
    assert transfers(spread_loan) == [(D(2021, 6, 17), 5_000_000), (D(2021, 6, 18), 5_000_000)]
    assert business_date(office) == D(2021, 6, 19)
    # A crash inside 21/06's day: 19/06 and 20/06 are done, nothing of 21/06 is.
    step = services._transfer_overdue

    def crash_on_the_21st(*, office, day, user):
        posted = step(office=office, day=day, user=user)
        if day == D(2021, 6, 21):
            raise RuntimeError("the worker died")
        return posted

    monkeypatch.setattr(services, "_transfer_overdue", crash_on_the_21st)
    with pytest.raises(RuntimeError):
        services.end_of_day(office=office, through=D(2021, 6, 25), user=None)
    assert business_date(office) == D(2021, 6, 21)
    assert transfers(spread_loan)[-1] == (D(2021, 6, 20), 5_000_000)
    assert not EndOfDay.objects.filter(office=office, day=D(2021, 6, 21)).exists()
    monkeypatch.setattr(services, "_transfer_overdue", step)
    services.end_of_day(office=office, through=D(2021, 6, 25), user=None)
    days = [day for day, _ in transfers(spread_loan)]
    assert days == [FIRST_DUE + dt.timedelta(days=k + 1) for k in range(9)]
    assert EndOfDay.objects.filter(office=office).count() == 11
    assert ledger_mismatches() == []


def test_end_of_day_refuses_today_a_closed_month_and_staff(active_loan, manager_a, staff_a):
    office = active_loan.office
    yesterday = services.last_day_to_run()
    with pytest.raises(ValidationError) as exc:
        services.end_of_day(office=office, through=yesterday + dt.timedelta(days=1), user=None)
    assert exc.value.error_dict["through"][0].code == "after_yesterday"
    month_close_history(office=office, through=D(2021, 5, 1), user=manager_a)
    with refused("That month is closed.", field="through"):
        services.end_of_day(office=office, through=D(2021, 5, 31), user=None)
    with pytest.raises(services.PermissionDenied):
        services.end_of_day(office=office, through=D(2021, 6, 20), user=staff_a)
    assert business_date(office) == D(2021, 6, 15)


def test_month_close_refuses_while_an_end_of_day_is_missing(active_loan, manager_a):
    office = active_loan.office
    # The days before the first business date (15/06/2021) were closed by the import.
    assert Office.objects.get(pk=office.pk).first_business_date == D(2021, 6, 15)
    month_close_history(office=office, through=D(2021, 5, 1), user=manager_a)
    services.end_of_day(office=office, through=D(2021, 6, 20), user=manager_a)
    with (
        translation.override("en"),
        refused("End of day has not run for 21/06/2021–30/06/2021: run it before closing 06/2021."),
    ):
        month_close(office=office, month=D(2021, 6, 1), user=manager_a)
    services.end_of_day(office=office, through=D(2021, 6, 30), user=manager_a)
    assert month_close(office=office, month=D(2021, 6, 1), user=manager_a).month == D(2021, 6, 1)


def test_the_business_date_form_runs_end_of_day_for_each_day_passed(client, spread_loan, manager_a):
    office = spread_loan.office
    client.force_login(manager_a)
    client.cookies["django_language"] = "en"
    url = reverse("loans:business_date", args=[office.code])
    response = client.post(url, {"day": "26/06/2021", "hold": "on"})
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Business date changed: end of day ran for 11 day(s) and posted 9 transfer(s) to overdue."
    ]
    assert business_date(office) == D(2021, 6, 26)
    assert len(transfers(spread_loan)) == 9
    assert EndOfDay.objects.filter(office=office, run_by=manager_a).count() == 11
    # Back again: no end of day, and the days run stay recorded (a second pass posts nothing).
    client.post(url, {"day": "24/06/2021", "hold": "on"})
    assert business_date(office) == D(2021, 6, 26)  # an entry is dated 25/06: refused
    assert len(transfers(spread_loan)) == 9


def test_the_form_runs_at_most_so_many_days_and_says_so(client, office_a, manager_a):
    client.force_login(manager_a)
    client.cookies["django_language"] = "en"
    url = reverse("loans:business_date", args=[office_a.code])
    response = client.post(url, {"day": "15/12/2021", "hold": "on"})
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "manage.py end_of_day --office A --through 2021-12-14" in message
    assert business_date(office_a) == D(2021, 6, 15)
    assert not EndOfDay.objects.exists()


def test_the_command_prints_each_day_and_says_when_there_is_nothing_to_do(spread_loan):
    out = StringIO()
    with translation.override("en"):
        call_command("end_of_day", "--office=A", "--through=2021-06-18", stdout=out)
        assert out.getvalue().splitlines() == [
            "15/06/2021: 0 entries posted (0 VND)",
            "16/06/2021: 0 entries posted (0 VND)",
            "17/06/2021: 1 entries posted (5.000.000 VND)",
            "18/06/2021: 1 entries posted (5.000.000 VND)",
            "End of day ran for 4 day(s): 2 transfer(s) to overdue, 10.000.000 VND. "
            "Business date of A: 19/06/2021.",
        ]
        out = StringIO()
        call_command("end_of_day", "--office=A", "--through=2021-06-18", stdout=out)
        assert out.getvalue() == "Nothing to do: the business date of A is 19/06/2021.\n"
