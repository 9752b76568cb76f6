"""Time the notices and the notice boards of an office (commune_day.notices): each group's
notices for the month after the business date, each commune's board, and the PDFs of the
largest group and of the longest board's parts. Server time only, no HTTP."""

import os
import statistics
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from borrowers.models import Commune, Office, SavingsGroup
from commune_day.notice_rendering import render_board_pdf, render_group_notices_pdf
from commune_day.notices import next_month, notice_board, notices_for_group


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


class Command(BaseCommand):
    help = "Time every group's notices and every commune's board of an office, and their PDFs."

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True)
        parser.add_argument(
            "--groups", type=int, default=50, help="Groups timed (the first by code)."
        )

    def handle(self, *args, **opts):
        office = Office.objects.filter(code=opts["office"]).first()
        if office is None:
            raise CommandError(f"No office {opts['office']}.")
        month = next_month(office.business_date)
        self.stdout.write(
            f"Office {office.code}, notices for {month:%m/%Y}; load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}."
        )
        groups = list(
            SavingsGroup.objects.filter(office=office).select_related(
                "office", "village__commune", "chapter__organisation"
            )
        )
        if not groups:
            raise CommandError(f"Office {office.code} has no group.")
        times, largest = [], None
        for group in groups[: opts["groups"]]:
            start = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                notices = notices_for_group(group, month)
            times.append((time.perf_counter() - start, len(queries), len(notices.lines)))
            if largest is None or len(notices.lines) > len(largest.lines):
                largest = notices
        spent = [t for t, _q, _n in times]
        self.stdout.write(
            f"notices_for_group over {len(times)} groups: p50 {_ms(statistics.median(spent))}, "
            f"max {_ms(max(spent))}, queries max {max(q for _t, q, _n in times)}, "
            f"lines max {max(n for _t, _q, n in times)}"
        )
        assert largest is not None
        start = time.perf_counter()
        _pdf, pages = render_group_notices_pdf(largest, signed_on=office.business_date)
        self.stdout.write(
            f"group PDF {largest.group.code} ({len(largest.households)} households): "
            f"{_ms(time.perf_counter() - start)}, {pages} pages"
        )
        boards = []
        for commune in Commune.objects.filter(office=office).select_related("office"):
            start = time.perf_counter()
            board = notice_board(commune, office.business_date)
            boards.append((time.perf_counter() - start, board))
        spent = [t for t, _b in boards]
        longest = max((b for _t, b in boards), key=lambda b: len(b.lines))
        self.stdout.write(
            f"notice_board over {len(boards)} communes: p50 {_ms(statistics.median(spent))}, "
            f"max {_ms(max(spent))}; longest {longest.commune.code} with "
            f"{len(longest.lines):,} loans in {len(longest.parts())} parts"
        )
        part = longest.parts()[0]
        start = time.perf_counter()
        _pdf, pages = render_board_pdf(longest, part)
        self.stdout.write(
            f"board PDF part 1 ({len(part.lines)} rows): {_ms(time.perf_counter() - start)}, "
            f"{pages} pages"
        )
