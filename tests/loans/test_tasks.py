import datetime as dt

from borrowers.models import Office
from loans import tasks
from loans.models import Loan


def test_daily_overdue_advances_unheld_dates_and_transfers(active_loan):
    office = active_loan.office
    office.business_date_held = False
    office.save()
    tasks.advance_business_dates.delay("2021-07-16").get()
    office.refresh_from_db()
    assert office.business_date == dt.date(2021, 7, 16)
    assert tasks.transfer_overdue_for_office.delay(office.pk).get() == 1
    assert Loan.objects.get(pk=active_loan.pk).overdue == 5_000_000


def test_held_business_date_does_not_move(office_a):
    tasks.advance_business_dates.delay("2021-07-16").get()
    assert Office.objects.get(pk=office_a.pk).business_date == dt.date(2021, 6, 15)
