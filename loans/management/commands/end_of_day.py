"""manage.py end_of_day --office CODE [--through DATE] [--user NAME]: close an office's days
(docs/decisions/0011-end-of-day.md)."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from borrowers.models import Office
from branch_portal.templatetags.money import group_thousands
from loans import services
from loans.models import EndOfDay


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(_("Not a date (YYYY-MM-DD): %(v)r.") % {"v": value}) from exc


class Command(BaseCommand):
    help = (
        "Run an office's end of day for each day from its business date through --through "
        "(default: yesterday): each day's overdue transfers, dated that day."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="The office's code.")
        parser.add_argument(
            "--through", type=_date, help="The last day to run, YYYY-MM-DD (default: yesterday)."
        )
        parser.add_argument("--user", help="A manager of the office to record the run under.")

    def handle(self, *args, office, through=None, user=None, **options):
        target = Office.objects.filter(code=office).first()
        if target is None:
            raise CommandError(_("No office %(o)r.") % {"o": office})
        run_by = None
        if user:
            run_by = get_user_model().objects.filter(username=user).first()
            if run_by is None:
                raise CommandError(_("No user %(u)r.") % {"u": user})
        through = through or services.last_day_to_run()
        if through < target.business_date:
            self.stdout.write(
                _("Nothing to do: the business date of %(o)s is %(d)s.")
                % {"o": target.code, "d": target.business_date.strftime("%d/%m/%Y")}
            )
            return
        try:
            runs = services.end_of_day(
                office=target, through=through, user=run_by, progress=self.report_day
            )
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(" ".join(messages)) from exc
        self.stdout.write(
            _(
                "End of day ran for %(days)s day(s): %(n)s transfer(s) to overdue, "
                "%(amount)s VND. Business date of %(o)s: %(d)s."
            )
            % {
                "days": len(runs),
                "n": sum(run.entries_posted for run in runs),
                "amount": group_thousands(sum(run.amount_posted for run in runs)),
                "o": target.code,
                "d": target.business_date.strftime("%d/%m/%Y"),
            }
        )

    def report_day(self, run: EndOfDay) -> None:
        self.stdout.write(
            _("%(day)s: %(n)s entries posted (%(amount)s VND)")
            % {
                "day": run.day.strftime("%d/%m/%Y"),
                "n": run.entries_posted,
                "amount": group_thousands(run.amount_posted),
            }
        )
