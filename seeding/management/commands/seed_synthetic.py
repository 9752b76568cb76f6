"""Seed a province-sized synthetic office for benchmarks (bulk COPY; see seeding/synthetic.py)."""

import datetime as dt
import resource

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from seeding.synthetic import SeedRefused, seed_office


class Command(BaseCommand):
    help = (
        "Create a synthetic office with households, loans and a ledger history, loaded with "
        "COPY in one transaction; checks every loan's cache against its ledger before commit."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="Office code (created if missing).")
        parser.add_argument("--households", type=int, default=200_000)
        parser.add_argument("--loans", type=int, default=400_000)
        parser.add_argument("--entries", type=int, default=5_000_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--business-date",
            type=dt.date.fromisoformat,
            default=dt.date(2021, 6, 15),
            help="Business date of a new office (YYYY-MM-DD); history ends there.",
        )
        parser.add_argument("--name", default=None, help="Name of a new office.")
        parser.add_argument(
            "--replace", action="store_true", help="Delete the office's book first."
        )
        parser.add_argument("--chunk", type=int, default=20_000, help="Loans per COPY chunk.")

    def handle(self, *args, **opts):
        try:
            result = seed_office(
                code=opts["office"],
                households=opts["households"],
                loans=opts["loans"],
                entries=opts["entries"],
                seed=opts["seed"],
                replace=opts["replace"],
                business_date=opts["business_date"],
                name=opts["name"],
                chunk_loans=opts["chunk"],
                progress=self.stdout.write,
            )
        except (SeedRefused, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("")
        for label, n in result.counts.items():
            self.stdout.write(f"{label:>22}: {n:>12,}")
        self.stdout.write(f"{'total time':>22}: {result.timings[-1][1]:>10.1f} s")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(f"{'peak memory (RSS)':>22}: {peak_mb:>10.0f} MB")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
            self.stdout.write(f"{'database size':>22}: {cursor.fetchone()[0]:>13}")
        self.stdout.write(
            self.style.SUCCESS(f"Office {result.office.code} seeded; ledger_mismatches() is empty.")
        )
