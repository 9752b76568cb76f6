"""manage.py post_collection_sheet --office CODE --group CODE --date DATE --user NAME --file F.json:
post a group's collection sheet from a file, all lines or none (docs/decisions/0017)."""

import datetime as dt
import json

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from borrowers.models import Office, SavingsGroup
from borrowers.selectors import can_write
from branch_portal.templatetags.money import group_thousands
from commune_day.management.commands.collection_sheet import date_in_bounds
from commune_day.models import TransactionSession
from commune_day.posting import SheetRefused, post_collection_sheet
from commune_day.services import commune_groups_on, session_open, session_require_open


def _date(value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(_("Not a date (YYYY-MM-DD): %(v)r.") % {"v": value}) from exc
    return date_in_bounds(day)


def read_sheet_file(path: str) -> tuple[str, list]:
    """The file's key and lines: {"key", "lines": [{"loan_number", "interest", "principal",
    "savings", …}]}."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise CommandError(_("Cannot read %(f)s: %(e)s") % {"f": path, "e": exc.strerror}) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(_("%(f)s is not JSON: %(e)s") % {"f": path, "e": exc}) from exc
    if not isinstance(data, dict):
        raise CommandError(_('The file holds {"key": …, "lines": […]}.'))
    key, lines = data.get("key"), data.get("lines")
    if not isinstance(key, str) or not key.strip():
        raise CommandError(_('The file needs a "key": a text that names this sheet once.'))
    if not isinstance(lines, list):
        raise CommandError(_('The file needs "lines": a list of the sheet\'s lines.'))
    return key.strip(), lines


def session_for(*, office: Office, group: SavingsGroup, day: dt.date, user) -> TransactionSession:
    """The day's session of the group's commune; opened with the user as its leader if there
    is none. A session that does not serve the group yet gains it only while it is open and
    when the user works in its office, under the session's lock: call it in the posting's
    transaction, so a refused sheet leaves the session as it was."""
    commune = group.village.commune
    session = TransactionSession.objects.filter(commune=commune, date=day).first()
    if session is None:
        session = session_open(office=office, commune=commune, leader=user, user=user, date=day)
    if session.groups.filter(pk=group.pk).exists():
        return session  # the posting checks the rest (and a double submit replays)
    session = session_require_open(session)  # locked until the sheet commits
    if not can_write(user, session.office):
        raise PermissionDenied(_("Only the office's staff post sheets."))
    if not commune_groups_on(commune, day).filter(pk=group.pk).exists():
        raise ValidationError(
            _("Group %(g)s is not active in %(c)s on %(d)s.")
            % {"g": group.code, "c": commune.name, "d": day.strftime("%d/%m/%Y")}
        )
    if not session.groups.filter(pk=group.pk).exists():  # added while this one waited
        session.groups.add(group)
    return session


class Command(BaseCommand):
    help = (
        "Post a savings and loan group's collection sheet from a JSON file in the day's session "
        "of its commune (opened with --user as its leader if none is open): every line or none."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="The office's code.")
        parser.add_argument("--group", required=True, help="The group's code.")
        # Read in handle, not as the argument's type: a CommandError raised while argparse
        # reads the line is printed as a traceback.
        parser.add_argument("--date", required=True, help="The session's date, YYYY-MM-DD.")
        parser.add_argument("--user", required=True, help="The teller (staff of the office).")
        parser.add_argument("--file", required=True, help="The sheet, as JSON.")

    def handle(self, *args, office, group, date, user, file, **options):
        if not isinstance(date, dt.date):
            date = _date(date)
        target = Office.objects.filter(code=office).first()
        if target is None:
            raise CommandError(_("No office %(o)r.") % {"o": office})
        found = (
            SavingsGroup.objects.filter(office=target, code=group)
            .select_related("village__commune")
            .first()
        )
        if found is None:
            raise CommandError(_("No group %(g)r in office %(o)s.") % {"g": group, "o": office})
        teller = get_user_model().objects.filter(username=user).first()
        if teller is None:
            raise CommandError(_("No user %(u)r.") % {"u": user})
        key, lines = read_sheet_file(file)
        try:
            # One transaction: a refused sheet neither opens the session nor adds the group.
            with transaction.atomic():
                session = session_for(office=target, group=found, day=date, user=teller)
                posting = post_collection_sheet(
                    session=session, group=found, lines=lines, user=teller, idempotency_key=key
                )
        except SheetRefused as refused:
            for error in refused.errors:
                self.stderr.write(str(error))
            raise CommandError(
                _("The sheet posted nothing: %(n)s refusal(s).") % {"n": len(refused.errors)}
            ) from refused
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(" ".join(messages)) from exc
        self.stdout.write(
            _(
                "Sheet of group %(g)s posted in the session of %(s)s (posting #%(p)s): %(n)s "
                "line(s), interest %(i)s, principal %(pr)s, savings deposited %(sv)s, savings "
                "used %(su)s VND."
            )
            % {
                "g": found.code,
                "s": session,
                "p": posting.pk,
                "n": posting.lines,
                "i": group_thousands(posting.interest),
                "pr": group_thousands(posting.principal),
                "sv": group_thousands(posting.savings_deposited),
                "su": group_thousands(posting.savings_for_interest + posting.savings_for_principal),
            }
        )
