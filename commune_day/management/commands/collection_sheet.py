"""collection_sheet --office CODE --group CODE --date DATE [--json]"""

import datetime as dt
import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from borrowers.models import DATE_BOUNDS, Office, SavingsGroup
from branch_portal.templatetags.money import vnd
from commune_day.selectors import collection_sheet


def date_in_bounds(day: dt.date) -> dt.date:
    """The day, refused (CommandError) outside the dates the project stores (DATE_BOUNDS):
    beyond them the sheet's date arithmetic overflows."""
    try:
        for validator in DATE_BOUNDS:
            validator(day)
    except ValidationError as exc:
        low, high = (v.limit_value for v in DATE_BOUNDS)
        raise CommandError(
            _("--date must be between %(low)s and %(high)s: %(d)s.")
            % {"low": low.isoformat(), "high": high.isoformat(), "d": day.isoformat()}
        ) from exc
    return day


class Command(BaseCommand):
    help = (
        "A group's collection sheet (13/TD) for a session date: each member household and loan "
        "with the interest due to that date, the principal due, the overdue principal and the "
        "savings balance, and the totals (amounts in đồng). --json prints it as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="office code")
        parser.add_argument("--group", required=True, help="the group's code in the office")
        parser.add_argument("--date", required=True, help="the session date, YYYY-MM-DD")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, office, group, date, json: bool = False, **options):
        try:
            day = dt.date.fromisoformat(date)
        except ValueError as exc:
            raise CommandError(f"--date is not a date (YYYY-MM-DD): {date}") from exc
        date_in_bounds(day)
        office_ = Office.objects.filter(code=office).first()
        if office_ is None:
            raise CommandError(f"no office {office}")
        group_ = SavingsGroup.objects.filter(office=office_, code=group).first()
        if group_ is None:
            raise CommandError(f"no group {group} in office {office}")
        sheet = collection_sheet(group_, day)
        if json:
            self.stdout.write(_dumps(sheet.as_json()))
            return
        self.stdout.write(f"{group_.code} {group_.name} – {day:%d/%m/%Y}")
        for line in sheet.lines:
            self.stdout.write(
                f"{line.citizen_id:<12} {line.name:<28} {line.loan_number:<16} "
                f"{vnd(line.interest_due):>12} {vnd(line.principal_due):>14} "
                f"{vnd(line.overdue):>14} {vnd(line.savings_balance):>12}"
            )
        totals = sheet.totals
        self.stdout.write(
            f"{'':<58} {vnd(totals['interest_due']):>12} {vnd(totals['principal_due']):>14} "
            f"{vnd(totals['overdue']):>14} {vnd(totals['savings_balance']):>12}"
        )


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
