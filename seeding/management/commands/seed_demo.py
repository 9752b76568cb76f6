"""Load the demo office (Đan Phượng, as of 15 June 2021) and the demo users.

`make run` calls this every time: if the office already has loans it does nothing but say so
(the users are still checked, idempotently).
"""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from borrowers.models import Chapter, Commune, Office, OfficeMembership, Organisation
from branch_portal.templatetags.money import group_thousands
from loans.models import Loan
from reports.figures import AMOUNT_KEYS
from reports.month_close import month_close_history
from reports.periods import previous_month
from reports.selectors import figures_for_period
from seeding import demo_data
from seeding.demo import AS_OF, START, build_demo_tables
from seeding.importer import ImportFailed, import_portfolio, in_memory

PASSWORD = "demo1234"
# teller: a second member of staff, so a commune session has its team of three (leader,
# controller, teller) in the demo.
ROLES = {"staff": "staff", "teller": "staff", "manager": "manager", "auditor": "auditor"}


def ensure_users(office: Office) -> None:
    User = get_user_model()
    admin, created = User.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        admin.set_password(PASSWORD)
        admin.save()
    for username, role in ROLES.items():
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(PASSWORD)
            user.save()
        OfficeMembership.objects.get_or_create(user=user, office=office, defaults={"role": role})


class Command(BaseCommand):
    help = "Load the Đan Phượng demo office (office DP, business date 15/06/2021) and demo users."

    def handle(self, *args, **options):
        started = time.monotonic()
        office, _created = Office.objects.get_or_create(
            code=demo_data.OFFICE_CODE,
            defaults={
                "name": demo_data.OFFICE_NAME,
                "address": demo_data.OFFICE_ADDRESS,
                "business_date": AS_OF,
                "business_date_held": True,
            },
        )
        ensure_users(office)
        if Loan.objects.filter(office=office).exists():
            self.stdout.write(f"The demo office {office.code} already has loans: nothing to do.")
            return
        # The article's moment: postings up to 15 June 2021, held there. The imported book is
        # history up to it: end of day runs from 15 June on (docs/decisions/0011-end-of-day.md).
        Office.objects.filter(pk=office.pk).update(
            business_date=AS_OF, business_date_held=True, first_business_date=AS_OF
        )
        office.refresh_from_db()
        tables = build_demo_tables()
        generated = time.monotonic()
        admin = get_user_model().objects.get(username="admin")
        try:
            with transaction.atomic():
                summary = import_portfolio(
                    office=office, tables=in_memory(tables, "demo"), user=admin
                )
                self.finish_organisation(office)
                self.close_history(office, admin)
        except ImportFailed as failed:
            for line in failed.errors[:50]:
                self.stderr.write(line)
            raise CommandError(
                f"The demo portfolio did not import ({len(failed.errors)} errors)."
            ) from failed
        loaded = time.monotonic()
        figures = figures_for_period(office=office, start=START, as_of=AS_OF)
        self.stdout.write(
            f"Demo office {office.code} loaded: {summary.created['borrowers']:,} households, "
            f"{summary.created['loans']:,} loans, {summary.created['transactions']:,} ledger "
            "entries."
        )
        money = {key: group_thousands(figures[key]) for key in AMOUNT_KEYS}
        self.stdout.write(
            f"{START:%d/%m/%Y} – {AS_OF:%d/%m/%Y} (VND): disbursed {money['disbursed']}, "
            f"collected {money['collected']}, written off {money['written_off']}, opening "
            f"{money['opening']}, closing {money['closing']}, customers "
            f"{figures['customers_with_balance']:,}, loan-turns {figures['loan_turns']:,}, "
            f"workers {figures['workers_employed']:,}."
        )
        self.stdout.write(
            f"Elapsed {loaded - started:.1f} s (generation {generated - started:.1f} s, "
            f"import {loaded - generated:.1f} s). Users staff, teller, manager, auditor, admin; "
            f"password {PASSWORD}."
        )

    @staticmethod
    def close_history(office: Office, user) -> None:
        """The office worked on paper before: its history is closed up to the month before the
        business date, so a manager closes months from June 2021 on, not from 2016."""
        month_close_history(office=office, through=previous_month(AS_OF), user=user)

    @staticmethod
    def finish_organisation(office: Office) -> None:
        """What the import format does not carry: the town's kind, and a chapter of every
        organisation in every commune (the import creates those that have groups)."""
        for code, _name, kind, *_rest in demo_data.COMMUNES:
            Commune.objects.filter(office=office, code=code).exclude(kind=kind).update(kind=kind)
        organisations = list(Organisation.objects.all())
        for commune in Commune.objects.filter(office=office):
            for organisation in organisations:
                Chapter.objects.get_or_create(
                    office=office, commune=commune, organisation=organisation
                )
