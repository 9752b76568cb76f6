"""Periodic savings work. Tasks take ids and ISO dates, load, and call one service."""

import datetime as dt

from celery import shared_task

from borrowers.models import Office
from borrowers.selectors import month_is_closed

from . import services
from .models import SavingsTransaction


def last_credit_day(before: dt.date) -> dt.date:
    """The latest 30 June or 31 December before `before`."""
    june, december = dt.date(before.year, 6, 30), dt.date(before.year - 1, 12, 31)
    return june if june < before else december


@shared_task
def credit_savings_interest_for_office(office_id: int, day: str) -> int:
    office = Office.objects.get(pk=office_id)
    return services.savings_credit_interest(
        office=office, day=dt.date.fromisoformat(day), user=None
    )


@shared_task
def savings_interest_due() -> int:
    """After the end of day: every office whose business date has passed a credit day (30 June,
    31 December) and whose month is still open gets that half-year's interest, once. An office
    with an interest credit dated that day is done (the service credits a whole office in one
    transaction), so the daily check costs one indexed query per office."""
    credited = 0
    for office in Office.objects.all():
        day = last_credit_day(office.business_date)
        if month_is_closed(office, day):
            continue
        done = SavingsTransaction.objects.filter(
            office=office, value_date=day, kind=SavingsTransaction.Kind.INTEREST_CREDIT
        ).exists()
        if not done:
            credited += credit_savings_interest_for_office(office.pk, day.isoformat())
    return credited
