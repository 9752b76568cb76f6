"""The monthly-reports benchmark of issue 3 ("Speed"): in one run, the time of one sequential scan
of the ledger, the time of one month's full figures (every breakdown) and of the period's, their
ratio to the scan, the time to render the monthly pack PDF (and its pages), and the report
worker's peak memory (a real `report_run_build` in a child process).

    python manage.py bench_reports --office BIG --from 2021-01-01 --as-of 2021-06-15

Targets: figures within 2x the scan, the PDF under 5 s, the worker under 300 MB.

Issue 15's periods: the month, the quarter and the year to date that end at --as-of, each timed
three times against three scans of the office's own rows, printed as one machine-readable line
each, `ratio NAME VALUE` (NAME month, quarter or year_to_date; VALUE the median time over the
median scan of the office's rows).

The scan and the month's figures are each timed three times (after one warm-up scan) and compared
by their medians; every sample is printed, so a cold first run shows. The period's figures, the
PDF and the worker are timed once.

The memory step creates (and finishes) an on-demand ReportRun of the office in the database: a
done run cannot be deleted, so use a benchmark database (`--skip-worker` leaves it out).
"""

import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from borrowers.models import Office
from reports.models import ReportRun
from reports.periods import month_start
from reports.selectors import report_figures

SCAN_SQL = "SELECT count(*), sum(amount) FROM loans_loantransaction"
# The office's own rows (its index holds the amounts: an index-only scan of that office alone).
OFFICE_SCAN_SQL = SCAN_SQL + " WHERE office_id = %s"
PERIODS = ("month", "quarter", "year_to_date")
RUNS = 3

TARGET_RATIO = 2.0
TARGET_PDF_SECONDS = 5.0
TARGET_MEMORY_MB = 300

# Run in a child process, so its peak RSS is the worker's alone (RUSAGE_CHILDREN).
CHILD = """
import os, sys, time, json, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "branch_portal.settings")
django.setup()
from reports.services import report_run_build
started = time.perf_counter()
run = report_run_build(run_id=int(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - started,
                  "status": run.status if run else None,
                  "pages": run.pdf_pages if run else None,
                  "pdf_bytes": len(run.pdf) if run else None}))
"""


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not a date: {value}") from exc


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def _samples(seconds: list[float]) -> str:
    return "runs " + ", ".join(f"{s * 1000:.0f}" for s in seconds) + " ms"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


class Command(BaseCommand):
    help = "Time the ledger scan, the figures, the pack PDF and the report worker's memory."

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True)
        parser.add_argument("--from", dest="start", required=True, type=_date)
        parser.add_argument("--as-of", dest="as_of", required=True, type=_date)
        parser.add_argument(
            "--skip-worker",
            action="store_true",
            help="do not build a run in a child process (it leaves a done ReportRun behind)",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the results as JSON too"
        )

    def handle(self, *args, office, start, as_of, skip_worker, as_json, **options):
        from reports.rendering import render_html

        office_obj = Office.objects.filter(code=office).first()
        if office_obj is None:
            raise CommandError(f"no office {office}")
        if as_of > office_obj.business_date:
            raise CommandError(
                f"--as-of is after the office's business date {office_obj.business_date}"
            )
        month_from = month_start(start=start, as_of=as_of)
        out = self.stdout.write
        results: dict = {"office": office, "from": start.isoformat(), "as_of": as_of.isoformat()}
        load = os.getloadavg()
        out(f"office {office}, period {start} – {as_of}, month {month_from} – {as_of}")
        out(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs")

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM loans_loantransaction WHERE office_id = %s", [office_obj.pk]
            )
            office_entries = cursor.fetchone()[0]
            cursor.execute("SELECT pg_total_relation_size('loans_loantransaction')")
            table_bytes = cursor.fetchone()[0]
            cursor.execute(SCAN_SQL)  # warm-up
            cursor.fetchall()
            scans = []
            for _run in range(RUNS):
                started = time.perf_counter()
                cursor.execute(SCAN_SQL)
                ((rows, _total),) = cursor.fetchall()
                scans.append(time.perf_counter() - started)
        scan = statistics.median(scans)
        results.update(
            ledger_rows=rows, office_entries=office_entries, scan_seconds=scan, scan_runs=scans
        )
        out(
            f"(a) ledger scan   {scan * 1000:8.0f} ms   ({rows:,} entries in the table, "
            f"{office_entries:,} of {office}; table + indexes {table_bytes / 2**20:,.0f} MB; "
            f"median of {_samples(scans)})"
        )

        months = [
            _timed(report_figures, office=office_obj, start=month_from, as_of=as_of)
            for _run in range(RUNS)
        ]
        month = months[-1][0]
        month_runs = [seconds for _figures, seconds in months]
        month_seconds = statistics.median(month_runs)
        results["month_figures_runs"] = month_runs
        period, period_seconds = _timed(report_figures, office=office_obj, start=start, as_of=as_of)
        results.update(month_figures_seconds=month_seconds, period_figures_seconds=period_seconds)
        sizes = ", ".join(
            f"{len(period[name])} {name[3:]}s"
            for name in ("by_programme", "by_commune", "by_organisation", "by_group")
        )
        out(
            f"(b) month figures {month_seconds * 1000:8.0f} ms   ({sizes}; median of "
            f"{_samples(month_runs)})"
        )
        out(f"    period figures{period_seconds * 1000:8.0f} ms   ({start} – {as_of})")
        for label, seconds in (("month", month_seconds), ("period", period_seconds)):
            ratio = seconds / scan
            results[f"{label}_ratio"] = ratio
            out(
                f"(c) {label:6} / scan  {ratio:8.2f} x    target ≤ {TARGET_RATIO:.0f} x: "
                f"{_verdict(ratio <= TARGET_RATIO)}"
            )

        run = ReportRun(office=office_obj, start=start, as_of=as_of, ledger_position=rows)
        html, html_seconds = _timed(
            render_html, period, office=office_obj, run=run, month_figures=month
        )
        from weasyprint import HTML

        document, layout_seconds = _timed(HTML(string=html).render)
        pdf, write_seconds = _timed(document.write_pdf)
        pdf_seconds = html_seconds + layout_seconds + write_seconds
        pages = len(document.pages)
        results.update(pdf_seconds=pdf_seconds, pdf_pages=pages, pdf_bytes=len(pdf))
        out(
            f"(d) pack PDF      {pdf_seconds * 1000:8.0f} ms   ({pages} pages, "
            f"{len(pdf) / 1024:,.0f} kB; template {html_seconds * 1000:.0f} ms, layout "
            f"{layout_seconds * 1000:.0f} ms, write {write_seconds * 1000:.0f} ms)   "
            f"target < {TARGET_PDF_SECONDS:.0f} s: {_verdict(pdf_seconds < TARGET_PDF_SECONDS)}"
        )
        del document, pdf, html

        self._period_ratios(office_obj, as_of, results, out)

        if skip_worker:
            out("(e) worker memory  skipped (--skip-worker)")
        else:
            built = ReportRun.objects.create(
                office=office_obj, start=start, as_of=as_of, kind=ReportRun.Kind.ON_DEMAND
            )
            # The child builds in-process (no broker needed: it is the worker's code path).
            env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
            started = time.perf_counter()
            child = subprocess.run(
                [sys.executable, "-c", CHILD, str(built.pk)],
                cwd=Path(settings.BASE_DIR),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - started
            if child.returncode:
                raise CommandError(f"the report build failed:\n{child.stderr}")
            info = json.loads(child.stdout.strip().splitlines()[-1])
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux
            peak_mb = peak_kb / 1024
            results.update(
                worker_peak_mb=peak_mb,
                worker_build_seconds=info["seconds"],
                worker_run=built.pk,
                worker_status=info["status"],
            )
            out(
                f"(e) worker peak   {peak_mb:8.0f} MB   (report_run_build of run #{built.pk} in a "
                f"child process: {info['status']}, {info['seconds']:.1f} s build, {wall:.1f} s "
                f"with start-up, {info['pages']} pages)   target < {TARGET_MEMORY_MB} MB: "
                f"{_verdict(peak_mb < TARGET_MEMORY_MB)}"
            )
        if as_json:
            out(json.dumps(results))

    @staticmethod
    def _period_ratios(office: Office, as_of: dt.date, results: dict, out) -> None:
        """Issue 15: each period's figures over a scan of the office's rows, medians of three."""
        with connection.cursor() as cursor:
            cursor.execute(OFFICE_SCAN_SQL, [office.pk])  # warm-up
            cursor.fetchall()
            scans = []
            for _run in range(RUNS):
                started = time.perf_counter()
                cursor.execute(OFFICE_SCAN_SQL, [office.pk])
                cursor.fetchall()
                scans.append(time.perf_counter() - started)
        scan = statistics.median(scans)
        results.update(office_scan_seconds=scan, office_scan_runs=scans)
        out(f"(f) office scan   {scan * 1000:8.0f} ms   (median of {_samples(scans)})")
        starts = {
            "month": as_of.replace(day=1),
            "quarter": as_of.replace(month=(as_of.month - 1) // 3 * 3 + 1, day=1),
            "year_to_date": as_of.replace(month=1, day=1),
        }
        ratios = {}
        for name in PERIODS:
            runs = [
                _timed(report_figures, office=office, start=starts[name], as_of=as_of)[1]
                for _run in range(RUNS)
            ]
            seconds = statistics.median(runs)
            ratios[name] = seconds / scan
            results[f"{name}_period_runs"] = runs
            out(
                f"    {name:12} {seconds * 1000:8.0f} ms   ({starts[name]} – {as_of}; "
                f"{ratios[name]:.2f} x the office scan; median of {_samples(runs)})"
            )
        results["ratios"] = ratios
        for name in PERIODS:
            out(f"ratio {name} {ratios[name]:.4f}")
