"""Declare the periodic schedules in code, idempotently (django-celery-beat keeps them editable
in the admin)."""

from django.core.management.base import BaseCommand
from django_celery_beat.models import CrontabSchedule, PeriodicTask

SCHEDULES = [
    # name, task, minute, hour
    ("Daily overdue transfer", "loans.tasks.daily_overdue", "30", "0"),
    # After the overdue run has moved the business dates: last month's packs once they are due.
    ("Monthly report packs", "reports.tasks.monthly_packs_due", "0", "2"),
    # Runs whose worker died go back to the queue (docs/reports.md).
    ("Take back stale report runs", "reports.tasks.take_back_stale_report_runs", "*/5", "*"),
]


class Command(BaseCommand):
    help = "Create or update the periodic Celery tasks."

    def handle(self, *args, **options):
        for name, task, minute, hour in SCHEDULES:
            schedule, _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone="Asia/Ho_Chi_Minh",
            )
            PeriodicTask.objects.update_or_create(
                name=name, defaults={"task": task, "crontab": schedule, "enabled": True}
            )
            self.stdout.write(f"{name}: {task} at {hour}:{minute}")
