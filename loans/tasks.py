"""Daily work on the ledger. Tasks take ids and ISO dates, load, and call one service."""

import datetime as dt

from celery import shared_task
from django.utils import timezone

from borrowers.models import Office

from . import services


@shared_task
def advance_business_dates(today: str | None = None) -> int:
    """Move every office whose business date is not held to the calendar date."""
    day = dt.date.fromisoformat(today) if today else timezone.localdate()
    return services.offices_advance_business_date(day)


@shared_task
def transfer_overdue_for_office(office_id: int, up_to: str | None = None) -> int:
    """Transfer unpaid, un-extended instalments to overdue as of the business date (missed days
    are caught up by one transfer dated the run day, not one per missed day)."""
    office = Office.objects.get(pk=office_id)
    end = dt.date.fromisoformat(up_to) if up_to else office.business_date
    return services.loans_transfer_overdue(office=office, up_to=end)


@shared_task
def daily_overdue() -> int:
    """The daily run: advance business dates, then each office's overdue transfer."""
    advance_business_dates()
    return sum(
        transfer_overdue_for_office(office_id)
        for office_id in Office.objects.values_list("pk", flat=True)
    )
