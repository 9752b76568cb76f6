"""manage.py bench_commune_day_post: time posting a 60-member collection sheet.

Each run builds a fresh commune in the bench office (a village, a group of --members households,
each with a 20 M poor-household loan disbursed on 15/01/2021), opens its session on 15/06/2021
and times post_collection_sheet of the whole group: every member pays the interest due, a
principal instalment and a savings deposit (three postings a line, the busiest sheet). The
ledgers are append-only, so a run never reuses an earlier one's data: it adds its own commune.
"""

import datetime as dt
import statistics
import time
import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from borrowers.citizen_id import century_sex_digit
from borrowers.models import (
    Chapter,
    Commune,
    Household,
    HouseholdCategory,
    Office,
    OfficeMembership,
    Organisation,
    SavingsGroup,
    Village,
)
from commune_day.posting import post_collection_sheet
from commune_day.selectors import collection_sheet
from commune_day.services import session_open
from loans import services as loan_services
from loans.models import FourEyesPolicy, Programme

BUSINESS_DATE = dt.date(2021, 6, 15)
DISBURSED = dt.date(2021, 1, 15)
BIRTH = dt.date(1980, 5, 17)


class Command(BaseCommand):
    help = "Time post_collection_sheet on a fresh 60-member group (target under 1 s)."

    def add_arguments(self, parser):
        parser.add_argument("--office", default="BENCHCD", help="The bench office's code.")
        parser.add_argument("--members", type=int, default=60)
        parser.add_argument("--runs", type=int, default=3, help="Sheets posted (one group each).")
        parser.add_argument("--target-s", type=float, default=1.0)

    def handle(self, *args, office, members, runs, target_s, **options):
        bench_office, staff, manager, leader = self._office(office)
        times, queries = [], []
        for run in range(runs):
            group = self._group(bench_office, members, staff, manager, run)
            session = session_open(
                office=bench_office,
                commune=group.village.commune,
                leader=leader,
                user=leader,
                date=BUSINESS_DATE,
                groups=[group],
            )
            sheet = collection_sheet(group, BUSINESS_DATE)
            lines = [
                {
                    "loan_number": line.loan_number,
                    "interest": line.interest_due,
                    "principal": 500_000,
                    "savings": 50_000,
                    "receipt": f"BL{n:04d}",
                }
                for n, line in enumerate(sheet.lines, start=1)
            ]
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                posting = post_collection_sheet(
                    session=session,
                    group=group,
                    lines=lines,
                    user=staff,
                    idempotency_key=uuid.uuid4().hex,
                )
                elapsed = time.perf_counter() - start
            times.append(elapsed)
            queries.append(len(captured))
            in_db = sum(float(q["time"]) for q in captured.captured_queries)
            self.stdout.write(
                f"run {run + 1}: {posting.lines} lines posted in {elapsed:.3f} s "
                f"({in_db:.3f} s waiting for the database), {len(captured)} queries "
                f"({len(captured) / max(1, posting.lines):.1f} a line)"
            )
        median = statistics.median(times)
        verdict = "OK" if median < target_s else "SLOW"
        self.stdout.write(
            f"post_collection_sheet, {members} members: median {median:.3f} s "
            f"(best {min(times):.3f} s), {statistics.median(queries):.0f} queries; "
            f"target < {target_s:.1f} s: {verdict}"
        )

    def _office(self, code: str):
        office, _created = Office.objects.get_or_create(
            code=code,
            defaults={
                "name": f"Phòng giao dịch {code}",
                "business_date": BUSINESS_DATE,
                "business_date_held": True,
            },
        )
        # The bench times the sheet itself: no four-eyes hold on a back-dated posting.
        FourEyesPolicy.objects.get_or_create(office=office, defaults={"backdated": False})
        users = []
        for username, role in (
            ("bench_cd_teller", "staff"),
            ("bench_cd_manager", "manager"),
            ("bench_cd_leader", "staff"),
        ):
            user, _created = get_user_model().objects.get_or_create(username=username)
            OfficeMembership.objects.get_or_create(
                user=user, office=office, defaults={"role": role}
            )
            users.append(user)
        return office, *users

    @transaction.atomic
    def _group(self, office, members, staff, manager, run) -> SavingsGroup:
        n = Commune.objects.filter(office=office).count() + 1
        commune = Commune.objects.create(
            office=office, code=f"BC{n}", name=f"Xã Thử {n}", transaction_day=15
        )
        village = Village.objects.create(
            office=office, commune=commune, code=f"BV{n}", name=f"Thôn Thử {n}"
        )
        chapter = Chapter.objects.create(
            office=office, commune=commune, organisation=Organisation.objects.get(code="women")
        )
        group = SavingsGroup.objects.create(
            office=office,
            code=f"BG{n}",
            name=f"Tổ Thử {n}",
            village=village,
            chapter=chapter,
            head_name="Trần Văn Hùng",
        )
        programme = Programme.objects.get(code="HN")
        serial = Household.objects.filter(office=office).count()
        for m in range(members):
            serial += 1
            household = Household.objects.create(
                office=office,
                village=village,
                group=group,
                full_name=f"Nguyễn Thị Thử {serial}",
                sex="F",
                date_of_birth=BIRTH,
                citizen_id=f"001{century_sex_digit(BIRTH, 'F')}80{700000 + serial:06d}",
            )
            HouseholdCategory.objects.create(household=household, year=2021, category="poor")
            loan = loan_services.loan_apply(
                household=household,
                programme=programme,
                amount=20_000_000,
                term_months=36,
                applied_on=dt.date(2021, 1, 5),
                user=staff,
                group=group,
            )
            loan_services.loan_approve(loan=loan, user=manager, approved_on=dt.date(2021, 1, 10))
            loan_services.loan_disburse(
                loan=loan,
                amount=20_000_000,
                value_date=DISBURSED,
                user=staff,
                idempotency_key=f"bench-cd-{loan.pk}-{m}",
            )
        return group
