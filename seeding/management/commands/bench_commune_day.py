"""The commune day's print benchmark (issue 13, `make bench`): every collection sheet of a
20-group session in one PDF, and every group of a whole office, each built by the worker's
code (commune_day.printing.sheet_print_build, what the Celery task runs) in a child process:
the office's as one run per commune point (its session, every group of it), as an office prints
its month.

    python manage.py bench_commune_day --office SHEETS --user bench_admin

Targets: the 20-group session under 10 s, the office's groups under 60 s. The office is a
seed_synthetic one (`--households 12000` gives 300 groups). The command opens (or reuses) one
session per commune on --date and the next day with the given user as leader: real sessions
and runs, left in the database (use a benchmark database).
"""

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from borrowers.models import Commune, Office, OfficeMembership, SavingsGroup
from commune_day.models import SheetPrintRun, TransactionSession
from commune_day.services import commune_groups_on

TARGET_SESSION_SECONDS = 10.0
TARGET_OFFICE_SECONDS = 60.0

CHILD = """
import os, sys, time, json, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "branch_portal.settings")
django.setup()
from commune_day.printing import sheet_print_build
started, cpu = time.perf_counter(), time.process_time()
pages = size = 0
for run_id in sys.argv[1:]:
    run = sheet_print_build(run_id=int(run_id))
    assert run is not None and run.status == "done", run_id
    pages, size = pages + run.pdf_pages, size + len(run.pdf)
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                  "pages": pages, "pdf_bytes": size}))
"""


class Command(BaseCommand):
    help = "Time the PDF of every sheet of a 20-group session and of every group of an office."

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True)
        parser.add_argument("--user", required=True, help="the leader of the sessions opened")
        parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2021, 6, 20))
        parser.add_argument("--session-groups", type=int, default=20)

    def handle(self, *args, office, user, date, session_groups, **options):
        office_ = Office.objects.filter(code=office).first()
        if office_ is None:
            raise CommandError(f"no office {office}: seed it with seed_synthetic first")
        leader = get_user_model().objects.filter(username=user).first()
        if leader is None:
            raise CommandError(f"no user {user}")
        OfficeMembership.objects.get_or_create(
            user=leader, office=office_, defaults={"role": "manager"}
        )
        groups = SavingsGroup.objects.filter(office=office_).count()
        self.stdout.write(f"office {office_.code}: {groups} groups")

        session = self._session_with(office_, leader, date, at_least=session_groups)
        seconds = self._build([session], leader, f"a session of {session.groups.count()} groups")
        self._verdict(seconds, TARGET_SESSION_SECONDS)

        # The month's print of the office: every commune point's session, every group of it.
        day = date + dt.timedelta(days=1)
        sessions = [
            self._session(office_, commune, leader, day, commune_groups_on(commune, day))
            for commune in Commune.objects.filter(office=office_).order_by("code")
        ]
        served = sum(s.groups.count() for s in sessions)
        seconds = self._build(
            sessions, leader, f"every group of the office ({served} in {len(sessions)} sessions)"
        )
        self._verdict(seconds, TARGET_OFFICE_SECONDS)

    def _session_with(self, office, leader, date, *, at_least):
        """A session of a commune with at least `at_least` groups, given exactly that many."""
        commune = (
            Commune.objects.filter(office=office)
            .annotate(n=Count("villages__groups"))
            .filter(n__gte=at_least)
            .order_by("code")
            .first()
        )
        if commune is None:
            raise CommandError(f"no commune of {office.code} has {at_least} groups")
        groups = commune_groups_on(commune, date).order_by("code")[:at_least]
        return self._session(office, commune, leader, date, groups)

    def _session(self, office, commune, leader, date, groups):
        # Made directly (not session_open): the bench's user leads every session, its team
        # is not what is measured.
        session, _created = TransactionSession.objects.get_or_create(
            commune=commune,
            date=date,
            defaults={"office": office, "leader": leader, "opened_by": leader},
        )
        session.groups.set(list(groups))
        return session

    def _build(self, sessions, user, label) -> float:
        runs = [SheetPrintRun.objects.create(session=s, requested_by=user) for s in sessions]
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", CHILD, *(str(run.pk) for run in runs)],
            capture_output=True,
            text=True,
            cwd=Path(settings.BASE_DIR),
            check=False,
        )
        wall = time.perf_counter() - started
        if child.returncode != 0:
            raise CommandError(f"the build failed:\n{child.stderr[-2000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        self.stdout.write(
            f"{label}: {result['seconds']:.1f} s to build ({result['cpu']:.1f} s of CPU; "
            f"{wall:.1f} s with the process start), {result['pages']} pages, "
            f"{result['pdf_bytes'] / 1024:.0f} KB"
        )
        return result["seconds"]

    def _verdict(self, seconds: float, target: float) -> None:
        if seconds <= target:
            self.stdout.write(self.style.SUCCESS(f"  within the target of {target:.0f} s"))
        else:
            self.stdout.write(self.style.WARNING(f"  above the target of {target:.0f} s"))
