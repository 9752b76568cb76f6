"""The demo pack: `portfolio_report --json` shows the published figures exactly, the PDF's text
carries them in millions with Vietnamese separators, the XLSX cells equal the JSON.

The demo is seeded once for this module inside a transaction rolled back at the end (as
tests/loans/test_demo.py does); everything is checked in one test so pytest-xdist seeds it once.
"""

import datetime as dt
import io
import json
import subprocess
import time

import pytest
from django.core.management import call_command
from django.db import transaction
from openpyxl import load_workbook

from borrowers.models import Office
from reports.rendering import SHEETS, render_pdf_pages, render_xlsx
from reports.selectors import FIGURE_KEYS, month_start, report_figures

M = 1_000_000
START, AS_OF = dt.date(2021, 1, 1), dt.date(2021, 6, 15)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            call_command("seed_demo", stdout=io.StringIO())
            yield Office.objects.get(code="DP")
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def pdf_text(path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_the_demo_pack(demo, db, tmp_path):
    pdf_path, xlsx_path = tmp_path / "pack.pdf", tmp_path / "pack.xlsx"
    out, err = io.StringIO(), io.StringIO()
    began = time.monotonic()
    call_command(
        "portfolio_report",
        "--office=DP",
        "--from=2021-01-01",
        "--as-of=2021-06-15",
        "--json",
        f"--pdf={pdf_path}",
        f"--xlsx={xlsx_path}",
        stdout=out,
        stderr=err,
    )
    elapsed = time.monotonic() - began

    # --json prints one object with exactly the keys.
    figures = json.loads(out.getvalue())
    assert list(figures) == [
        "office",
        "from",
        "as_of",
        "totals",
        "by_programme",
        "by_commune",
        "by_organisation",
        "by_group",
    ]
    assert (figures["office"], figures["from"], figures["as_of"]) == (
        "DP",
        "2021-01-01",
        "2021-06-15",
    )
    totals = figures["totals"]
    assert list(totals) == list(FIGURE_KEYS)
    assert totals["disbursed"] == 61_582 * M
    assert totals["collected"] == 45_312 * M
    assert totals["written_off"] == 3 * M
    assert totals["closing"] == 367_714 * M
    assert totals["opening"] == 351_447 * M
    assert totals["closing"] - totals["opening"] == 16_267 * M
    assert totals["customers_with_balance"] == 8_827
    assert totals["loan_turns"] == 1_665
    assert totals["workers_employed"] == 1_136
    nsvs = next(row for row in figures["by_programme"] if row["code"] == "NSVS")
    assert nsvs["loan_turns"] == 525
    assert sum(1 for row in figures["by_programme"] if row["closing"] > 0) == 8
    # Names belong to their own dimension (a commune row is named after the commune).
    assert {row["name"] for row in figures["by_commune"]} >= {"Thị trấn Phùng", "Xã Hạ Mỗ"}
    assert {row["code"]: row["name"] for row in figures["by_organisation"]}["women"] == (
        "Hội Liên hiệp Phụ nữ"
    )
    assert 280 <= len(figures["by_group"]) <= 321

    # The PDF: A4 landscape, its text carries the published figures in millions.
    assert pdf_path.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(pdf_path)], capture_output=True, text=True).stdout
    assert "842 x 595" in info or "841.89 x 595.276" in info
    pages = int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])
    text = pdf_text(pdf_path)
    for shown in ("61.582", "45.312", "367.714", "351.447", "8.827", "1.665", "1.136", "525"):
        assert shown in text, shown
    assert "16.267" in text  # growth vs the start of the year
    assert "351.447 + 61.582 − 45.312 − 3 − 0 + 0 = 367.714" in text
    for words in (
        "BÁO CÁO KẾT QUẢ HOẠT ĐỘNG TÍN DỤNG",
        "Doanh số cho vay",
        "Tổng dư nợ",
        "Phòng giao dịch NHCSXH huyện Đan Phượng",
        "Dư nợ theo chương trình tín dụng",
        "Dư nợ theo tổ tiết kiệm và vay vốn",
        "Người lập biểu",
        "Trưởng phòng / Giám đốc",
        f"Trang 1/{pages}",
        f"Trang {pages}/{pages}",
    ):
        assert words in text, words
    # Every group appears, with a totals row after each table.
    for row in figures["by_group"]:
        assert row["code"] in text, row["code"]
    assert text.count("Tổng cộng") >= 8
    print(f"\nportfolio_report demo pack: {pages} pages, {elapsed:.1f} s; {err.getvalue()}")

    # The XLSX: one sheet per table, numbers as numbers, cells equal the JSON.
    workbook = load_workbook(xlsx_path)
    assert workbook.sheetnames == [
        "Tổng hợp",
        "Theo chương trình",
        "Theo xã",
        "Theo tổ chức hội",
        "Theo tổ TK&VV",
    ]
    summary = workbook.worksheets[0]
    by_key = {row[1]: row[2] for row in summary.iter_rows(min_row=5, values_only=True)}
    assert by_key == totals
    for index, (name, _title) in enumerate(SHEETS, start=1):
        sheet = workbook.worksheets[index]
        assert sheet.cell(1, 1).value == "Mã" and sheet.cell(1, 3).value == "Dư nợ đầu kỳ"
        keys = [cell.value for cell in sheet[2]][2:]
        assert keys == list(FIGURE_KEYS)
        rows = list(sheet.iter_rows(min_row=3, values_only=True))
        assert len(rows) == len(figures[name]) + 1
        for expected, got in zip(figures[name], rows, strict=False):
            assert got[0] == expected["code"] and got[1] == expected["name"]
            assert dict(zip(keys, got[2:], strict=True)) == {k: expected[k] for k in FIGURE_KEYS}
        assert rows[-1][1] == "Tổng cộng"
        assert dict(zip(keys, rows[-1][2:], strict=True)) == totals
        assert all(isinstance(value, int) for value in rows[-1][2:])


def test_render_time_of_the_demo_pack(demo, db):
    """Not a pass/fail benchmark: the time and pages are printed (-s) for the closing note."""
    figures = report_figures(office=demo, start=START, as_of=AS_OF)
    month = report_figures(office=demo, start=month_start(start=START, as_of=AS_OF), as_of=AS_OF)
    assert month["from"] == "2021-06-01"
    began = time.monotonic()
    pdf, pages = render_pdf_pages(figures, office=demo, month_figures=month)
    elapsed = time.monotonic() - began
    workbook = load_workbook(io.BytesIO(render_xlsx(figures, month_figures=month)))
    summary = workbook.worksheets[0]
    assert [row[3] for row in summary.iter_rows(min_row=5, values_only=True)] == [
        month["totals"][key] for key in FIGURE_KEYS
    ]
    assert pdf.startswith(b"%PDF") and pages >= 5
    print(f"\nrender_pdf demo pack: {pages} pages in {elapsed:.1f} s, {len(pdf):,} bytes")
