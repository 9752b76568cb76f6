"""manage.py create_api_token --user NAME --scope SCOPE [--name TEXT] [--group CODE | --household
CITIZEN_ID] [--office CODE]: a new API token for the user, printed on the last line (for scripts
and tests). It is not stored: keep it. --group makes a group head's token (that group only),
--household a borrower's (that household's statement only)."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api import services
from api.models import Scope
from borrowers.models import Household, SavingsGroup


class Command(BaseCommand):
    help = "Make an API token for a user and print it on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--scope", required=True, choices=Scope.values)
        parser.add_argument("--name", default="command line")
        parser.add_argument("--group", help="a group's code: the token reaches that group only")
        parser.add_argument("--household", help="a household's citizen ID: its statement only")
        parser.add_argument("--office", help="the office's code, where a code is in several")

    def handle(self, *args, user, scope, name, group, household, office, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user named {user!r}.")
        targets = {}
        for key, model, field, value in (
            ("group", SavingsGroup, "code", group),
            ("household", Household, "citizen_id", household),
        ):
            if value is None:
                continue
            rows = model.objects.filter(**{field: value})
            if office:
                rows = rows.filter(office__code=office)
            found = list(rows[:2])
            if len(found) != 1:
                raise CommandError(
                    f"No {key} {value!r}." if not found else f"{value!r}: give --office."
                )
            targets[key] = found[0]
        try:
            row, token = services.token_create(
                user=account, name=name, scope=scope, actor=account, **targets
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        reach = f", {row.group or row.household} only" if targets else ""
        self.stdout.write(
            f"token {row.prefix}… for {account.get_username()}, scope {scope}{reach}:"
        )
        self.stdout.write(token)
