"""manage.py credit_savings_interest --office CODE --date YYYY-MM-DD --user NAME: credit every
savings account of an office its interest for the half-year the date closes (30 June or
31 December). Repeating it posts nothing twice."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from django.utils.translation import gettext as _

from borrowers.models import Office
from branch_portal.templatetags.money import group_thousands
from savings import services
from savings.models import SavingsTransaction


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(_("Not a date (YYYY-MM-DD): %(v)r.") % {"v": value}) from exc


class Command(BaseCommand):
    help = (
        "Credit the savings interest of an office's accounts for the half-year that --date "
        "(30 June or 31 December) closes, at the dated demand-deposit rate on daily balances."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="The office's code.")
        parser.add_argument(
            "--date", required=True, type=_date, help="30 June or 31 December, YYYY-MM-DD."
        )
        parser.add_argument("--user", required=True, help="A user of the office to post as.")

    def handle(self, *args, office, date, user, **options):
        target = Office.objects.filter(code=office).first()
        if target is None:
            raise CommandError(_("No office %(o)r.") % {"o": office})
        poster = get_user_model().objects.filter(username=user).first()
        if poster is None:
            raise CommandError(_("No user %(u)r.") % {"u": user})
        try:
            credited = services.savings_credit_interest(office=target, day=date, user=poster)
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(" ".join(messages)) from exc
        total = SavingsTransaction.objects.filter(
            office=target, kind=SavingsTransaction.Kind.INTEREST_CREDIT, value_date=date
        ).aggregate(s=Sum("amount"))["s"]
        self.stdout.write(
            _(
                "Savings interest to %(d)s: %(n)s account(s) credited now; %(amount)s VND "
                "credited in all for the half-year in %(o)s."
            )
            % {
                "d": date.strftime("%d/%m/%Y"),
                "n": credited,
                "amount": group_thousands(total or 0),
                "o": target.code,
            }
        )
