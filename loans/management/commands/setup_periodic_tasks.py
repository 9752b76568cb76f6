"""Declare the periodic schedules in code, idempotently (django-celery-beat keeps them editable
in the admin)."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

CRONTABS = [
    # name, task, minute, hour
    ("Daily end of day", "loans.tasks.daily_end_of_day", "30", "0"),
    # After end of day has passed 30 June or 31 December: the half-year's savings interest.
    ("Savings interest", "savings.tasks.savings_interest_due", "45", "0"),
    # After end of day has moved the business dates: last month's packs once they are due.
    ("Monthly report packs", "reports.tasks.monthly_packs_due", "0", "2"),
    # Issue 15: month-end snapshots beyond the last 24 months and the year ends.
    ("Prune month-end snapshots", "reports.tasks.prune_snapshots", "30", "3"),
]
# The schedule end of day replaced (it called a task that no longer exists).
RETIRED = ["Daily overdue transfer"]
TAKE_BACK = ("Take back stale report runs", "reports.tasks.take_back_stale_report_runs")


def take_back_every() -> int:
    """Seconds between two take-backs of the report runs whose worker died (docs/reports.md):
    with the 60 s stale threshold, a killed worker's run is requeued within 90 s."""
    return max(1, settings.REPORTS_TAKE_BACK_SECONDS)


class Command(BaseCommand):
    help = "Create or update the periodic Celery tasks."

    def handle(self, *args, **options):
        PeriodicTask.objects.filter(name__in=RETIRED).delete()
        for name, task, minute, hour in CRONTABS:
            schedule, _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone="Asia/Ho_Chi_Minh",
            )
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={"task": task, "crontab": schedule, "interval": None, "enabled": True},
            )
            self.stdout.write(f"{name}: {task} at {hour}:{minute}")
        # Every few seconds, which a crontab cannot say (its unit is the minute).
        name, task = TAKE_BACK
        every = take_back_every()
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=every, period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "interval": interval, "crontab": None, "enabled": True},
        )
        self.stdout.write(f"{name}: {task} every {every} s")
