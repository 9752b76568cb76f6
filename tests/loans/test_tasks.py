import datetime as dt
import zoneinfo

import time_machine

from borrowers.models import Office
from loans import tasks
from loans.models import EndOfDay, Loan

HCM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


@time_machine.travel(dt.datetime(2021, 7, 17, 1, tzinfo=HCM), tick=False)
def test_daily_end_of_day_runs_unheld_offices_through_yesterday(active_loan):
    office = active_loan.office
    office.business_date_held = False
    office.save()
    assert tasks.daily_end_of_day.delay().get() == 1
    office.refresh_from_db()
    assert office.business_date == dt.date(2021, 7, 17)
    assert Loan.objects.get(pk=active_loan.pk).overdue == 5_000_000
    # Run by the scheduler: no user; every day from 15/06 to 16/07 recorded once.
    runs = EndOfDay.objects.filter(office=office)
    assert runs.count() == 32 and not runs.exclude(run_by=None).exists()
    assert tasks.daily_end_of_day.delay().get() == 0


@time_machine.travel(dt.datetime(2021, 7, 17, 1, tzinfo=HCM), tick=False)
def test_held_business_date_does_not_move(office_a):
    tasks.daily_end_of_day.delay().get()
    assert Office.objects.get(pk=office_a.pk).business_date == dt.date(2021, 6, 15)
    assert not EndOfDay.objects.exists()


def test_end_of_day_task_for_one_office(active_loan):
    office = active_loan.office
    assert tasks.end_of_day_for_office.delay(office.pk, "2021-07-16").get() == 1
    assert Office.objects.get(pk=office.pk).business_date == dt.date(2021, 7, 17)
