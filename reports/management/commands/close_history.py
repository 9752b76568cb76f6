import datetime as dt
import time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from borrowers.models import Office
from reports.month_close import month_close_history


class Command(BaseCommand):
    help = (
        "Close every month of an office up to a month at once (its history, worked on paper or "
        "imported): no packs are queued; month-end snapshots at each year end and that month."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="office code")
        parser.add_argument("--through", required=True, help="the last month to close, YYYY-MM")
        parser.add_argument(
            "--user", default="admin", help="the manager or superuser recorded as closing them"
        )

    def handle(self, *args, **options):
        office = Office.objects.filter(code=options["office"]).first()
        if office is None:
            raise CommandError(f"No office with code {options['office']!r}.")
        try:
            through = dt.date.fromisoformat(f"{options['through']}-01")
        except ValueError as exc:
            raise CommandError(f"--through must be YYYY-MM, not {options['through']!r}") from exc
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        started = time.perf_counter()
        try:
            closed = month_close_history(office=office, through=through, user=user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Office {office.code}: {closed} month(s) closed through {through:%m/%Y} in "
            f"{time.perf_counter() - started:.1f} s."
        )
