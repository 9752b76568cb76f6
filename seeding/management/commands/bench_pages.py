"""Time the borrower search and loan list pages of an office, as a logged-in staff user.

Requests go through Django's test Client (the whole stack: middleware, view, filters, table,
template), not over HTTP, so the figures are server time without network or browser.
"""

import os
import random
import statistics
import time
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from borrowers.models import Household, Office, OfficeMembership
from borrowers.selectors import fold
from loans.models import Loan, Programme

NAME_QUERIES = [
    "nguyen thi", "tran van hung", "le", "nguyen", "pham thi lan", "hoang van", "nguyen van nam",
    "vu thi hoa", "dang", "bui thi", "do van tuan", "nguyen thi hang", "tran thi mai", "ngo",
    "le van", "phan thi thu", "duong", "hung", "nguyen duc", "thi hang",
]  # fmt: skip


class Command(BaseCommand):
    help = "Median and 95th-percentile time of the borrower search and loan list pages."

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True)
        parser.add_argument("--requests", type=int, default=50, help="Requests per page kind.")
        parser.add_argument("--warmup", type=int, default=5, help="Unmeasured requests per kind.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--target-ms", type=float, default=150.0)

    def handle(self, *args, **opts):
        office = Office.objects.filter(code=opts["office"]).first()
        if office is None:
            raise CommandError(f"No office {opts['office']}.")
        rng = random.Random(opts["seed"])
        user = self._staff_user(office)
        client = Client()
        client.force_login(user)
        kinds = self._page_kinds(office, rng)
        n, warmup = opts["requests"], opts["warmup"]
        self.stdout.write(
            f"Office {office.code}: {Household.objects.filter(office=office).count():,} "
            f"households, {Loan.objects.filter(office=office).count():,} loans; "
            f"{n} requests per page kind after {warmup} warm-up requests; "
            f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}."
        )
        header = (
            f"{'page':<34}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
            f"{'SQL ms p50':>11}{'queries':>8}{'size KB':>9}"
        )
        self.stdout.write(header)
        missed = []
        with override_settings(ALLOWED_HOSTS=["*"]):
            for label, urls in kinds:
                for url in urls[:warmup]:
                    self._get(client, url)
                times, sql_times, queries, sizes = [], [], [], []
                for i in range(n):
                    url = urls[(warmup + i) % len(urls)]
                    elapsed, sql_ms, nq, size = self._get(client, url)
                    times.append(elapsed)
                    sql_times.append(sql_ms)
                    queries.append(nq)
                    sizes.append(size)
                p50 = statistics.median(times)
                p95 = _percentile(times, 95)
                if p95 > opts["target_ms"]:
                    missed.append(label)
                self.stdout.write(
                    f"{label:<34}{n:>4}{p50:>9.1f}{p95:>9.1f}{max(times):>9.1f}"
                    f"{statistics.median(sql_times):>11.1f}{max(queries):>8}"
                    f"{statistics.median(sizes) / 1024:>9.0f}"
                )
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        self.stdout.write(f"load average at the end: {load}")
        if missed:
            self.stdout.write(
                self.style.WARNING(f"Above {opts['target_ms']:.0f} ms at p95: {', '.join(missed)}")
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Every page is under {opts['target_ms']:.0f} ms at p95.")
            )

    def _staff_user(self, office):
        username = f"bench_{office.code.lower()}"
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
        OfficeMembership.objects.get_or_create(user=user, office=office, defaults={"role": "staff"})
        return user

    def _get(self, client, url):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise CommandError(f"GET {url} answered {response.status_code}")
        sql_ms = sum(Decimal(q["time"]) for q in ctx.captured_queries) * 1000
        return elapsed, sql_ms, len(ctx.captured_queries), len(response.content)

    def _page_kinds(self, office, rng):
        borrowers = reverse("borrowers:list")
        loans = reverse("loans:list")
        sample = list(
            Household.objects.filter(office=office)
            .order_by("?")
            .values_list("full_name", "citizen_id", "phone")[:200]
        )
        if not sample:
            raise CommandError("The office has no households; seed it first.")
        names = NAME_QUERIES + [fold(name) for name, _, _ in sample[:30]]
        rng.shuffle(names)
        cids = [cid[: rng.choice([6, 8, 9, 12])] for _, cid, _ in sample]
        phones = [p[: rng.choice([6, 7, 10])] for _, _, p in sample if p]
        programmes = list(Programme.objects.values_list("pk", flat=True))
        total = Loan.objects.filter(office=office).count()
        last_page = max(1, (total + 24) // 25)

        def url(base, **params):
            return f"{base}?{urlencode(params)}" if params else base

        return [
            ("borrowers: list, no search", [url(borrowers)] * 2 + [url(borrowers, page=2)]),
            ("borrowers: name (no accents)", [url(borrowers, q=q) for q in names]),
            ("borrowers: citizen ID prefix", [url(borrowers, q=q) for q in cids]),
            ("borrowers: phone prefix", [url(borrowers, q=q) for q in phones]),
            ("loans: first page", [url(loans)]),
            ("loans: by programme", [url(loans, programme=p) for p in programmes]),
            (
                "loans: status / overdue",
                [
                    url(loans, status="active", overdue="true"),
                    url(loans, overdue="true"),
                    url(loans, status="settled"),
                    url(loans, status="active"),
                ],
            ),
            (
                "loans: later page",
                [url(loans, page=rng.randint(2, min(last_page, 400))) for _ in range(20)],
            ),
        ]


def _percentile(values, pct):
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
