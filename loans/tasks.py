"""Daily work on the ledger. Tasks take ids and ISO dates, load, and call one service."""

import datetime as dt

from celery import shared_task

from borrowers.models import Office

from . import services


@shared_task
def end_of_day_for_office(office_id: int, through: str | None = None) -> int:
    """Run the office's end of day through `through` (default: yesterday, the latest day it may
    run); returns the entries posted."""
    office = Office.objects.get(pk=office_id)
    end = dt.date.fromisoformat(through) if through else services.last_day_to_run()
    runs = services.end_of_day(office=office, through=end, user=None)
    return sum(run.entries_posted for run in runs)


@shared_task
def daily_end_of_day() -> int:
    """The daily run: every office whose business date is not held closes its days through
    yesterday, so its business date becomes today. A held office waits for its manager."""
    through = services.last_day_to_run()
    offices = Office.objects.filter(business_date_held=False, business_date__lte=through)
    return sum(
        end_of_day_for_office(office_id, through.isoformat())
        for office_id in offices.values_list("pk", flat=True)
    )
