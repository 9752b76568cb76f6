"""`bench_reports` (part of `make bench`) runs on any office and prints what the issue asks for:
the scan, the month's and the period's figures, their ratios, the PDF; the medians come from
every sample it prints."""

import datetime as dt
import io
import json
import re
import statistics

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_bench_reports_prints_the_measurements(active_loan):
    out = io.StringIO()
    call_command(
        "bench_reports",
        "--office", active_loan.office.code,
        "--from", "2021-01-01",
        "--as-of", "2021-06-15",
        "--skip-worker",
        "--json",
        stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    results = json.loads(text.strip().splitlines()[-1])
    assert len(results["scan_runs"]) == 3 and len(results["month_figures_runs"]) == 3
    assert results["scan_seconds"] == statistics.median(results["scan_runs"])
    assert results["month_figures_seconds"] == statistics.median(results["month_figures_runs"])
    assert results["month_ratio"] == results["month_figures_seconds"] / results["scan_seconds"]
    assert results["office_entries"] == 1 and results["pdf_pages"] >= 1
    for line in ("(a) ledger scan", "(b) month figures", "(c) month  / scan", "(d) pack PDF"):
        assert line in text
    assert "(e) worker memory  skipped" in text


def test_bench_reports_prints_one_ratio_line_per_period(active_loan):
    """Issue 15: `ratio NAME VALUE` for the month, the quarter and the year to date, each the
    median of its runs over the median scan of the office's rows."""
    out = io.StringIO()
    call_command(
        "bench_reports", "--office", active_loan.office.code, "--from", "2021-01-01",
        "--as-of", "2021-06-15", "--skip-worker", "--json", stdout=out,
    )  # fmt: skip
    lines = out.getvalue().strip().splitlines()
    results = json.loads(lines[-1])
    printed = {
        m["name"]: float(m["value"])
        for m in (re.fullmatch(r"ratio (?P<name>\w+) (?P<value>[0-9]+\.[0-9]+)", line)
                  for line in lines)
        if m
    }  # fmt: skip
    assert list(printed) == ["month", "quarter", "year_to_date"]
    scan = statistics.median(results["office_scan_runs"])
    for name, value in printed.items():
        runs = results[f"{name}_period_runs"]
        assert len(runs) == 3
        assert value == pytest.approx(statistics.median(runs) / scan, rel=1e-3)
    assert "2021-04-01 – 2021-06-15" in out.getvalue()  # the quarter's dates


def test_bench_reports_refuses_a_date_after_the_business_date(active_loan):
    after = active_loan.office.business_date + dt.timedelta(days=1)
    with pytest.raises(CommandError, match="business date"):
        call_command(
            "bench_reports",
            "--office", active_loan.office.code,
            "--from", "2021-01-01",
            "--as-of", after.isoformat(),
            "--skip-worker",
        )  # fmt: skip
