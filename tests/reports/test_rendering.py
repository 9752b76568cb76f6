"""The demo pack: `portfolio_report --json` shows the published figures exactly, the PDF's text
carries them in millions with Vietnamese separators, the XLSX cells equal the JSON. And the pack
of a province-sized office (tests/reports/big_figures.py, no database): the PDF lists the groups
and communes that matter most and adds up the others in one "see the workbook" row, the XLSX
keeps every row.

The demo is seeded once for this module inside a transaction rolled back at the end (as
tests/seeding/test_demo.py does); everything is checked in one test so pytest-xdist seeds it once.
"""

import datetime as dt
import io
import json
import re
import subprocess
import time
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import translation
from openpyxl import load_workbook

from borrowers.models import Office
from branch_portal.templatetags.money import million, thousands
from reports.figures import BY_KEY
from reports.rendering import (
    PDF_ROW_LIMIT,
    SHEETS,
    _headline,
    capped_rows,
    render_html,
    render_pdf_pages,
    render_xlsx,
)
from reports.selectors import (
    ADDITIVE_KEYS,
    FIGURE_KEYS,
    month_start,
    ratio_percent,
    report_figures,
    roll_forward_holds,
)
from reports.views import _headline_rows

from .big_figures import big_figures

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


def pdf_pages(path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    assert "842 x 595" in info or "841.89 x 595.276" in info  # A4 landscape
    return int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])


def shows_code(text: str, code: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text) is not None


def portfolio_cells(row: dict) -> list[str]:
    """A row of a portfolio table as the PDF prints it (million VND, Vietnamese separators)."""
    ratio = ratio_percent(row["overdue"] + row["frozen"], row["closing"])
    ratio = "–" if ratio is None else f"{ratio:.2f}".replace(".", ",")
    return [
        *(
            million(row[key])
            for key in (
                "opening",
                "disbursed",
                "collected",
                "written_off",
                "transferred_out",
                "transferred_in",
                "closing",
            )
        ),
        million(row["closing"] - row["opening"]),
        million(row["overdue"]),
        million(row["frozen"]),
        ratio,
        thousands(row["customers_with_balance"]),
        thousands(row["loan_turns"]),
    ]


def listed_and_left_out(rows: list[dict], importance) -> tuple[list[dict], list[dict]]:
    """The issue's rule, written again here: the PDF_ROW_LIMIT rows first by importance."""
    ranked = sorted(rows, key=importance)
    return ranked[:PDF_ROW_LIMIT], ranked[PDF_ROW_LIMIT:]


def by_group_importance(row: dict) -> tuple:
    return (-(row["overdue"] + row["frozen"]), -row["closing"], row["code"])


def by_commune_importance(row: dict) -> tuple:
    return (-row["closing"], row["name"], row["code"])


def check_other_row(text: str, label: str, left_out: list[dict]) -> None:
    """The aggregate row is printed once per table it is in, with the sums of the rows left
    out, cell by cell."""
    sums = {key: sum(row[key] for row in left_out) for key in FIGURE_KEYS}
    lines = [line for line in text.splitlines() if label in line]
    assert lines, label
    expected = portfolio_cells(sums)
    # The portfolio table by groups prints exactly the portfolio columns; the commune table
    # prints them with the overdue and frozen ratios between (checked by subsequence).
    for line in lines:
        shown = line.split(label, 1)[1].split()
        position = 0
        for cell in shown:
            if position < len(expected) and cell == expected[position]:
                position += 1
        assert position == len(expected), (label, shown, expected)


def check_workbook(workbook, figures: dict, month: dict | None = None) -> None:
    """One sheet per table, every row, numbers as numbers equal to the JSON, headers in bold,
    the number format on every figure, panes frozen under the headers."""
    assert workbook.sheetnames == [
        "Tổng hợp",
        "Theo chương trình",
        "Theo xã",
        "Theo tổ chức hội",
        "Theo tổ TK&VV",
    ]
    totals = figures["totals"]
    summary = workbook.worksheets[0]
    assert summary.cell(1, 3).value.startswith("Số tiền tính bằng đồng")  # not million, as the PDF
    for row, key in ((2, "from"), (3, "as_of")):  # dates, shown day first, not text
        assert summary.cell(row, 2).is_date
        assert summary.cell(row, 2).value == dt.datetime.fromisoformat(figures[key])
        assert summary.cell(row, 2).number_format == "DD/MM/YYYY"
    assert summary.cell(4, 1).font.bold
    # Each figure named by its Vietnamese label, as in the PDF; no column of the JSON keys (the
    # workbook had one, "disbursed" and the like, until issue 12 took it away).
    with translation.override("vi"):
        labels = [str(BY_KEY[key].label) for key in FIGURE_KEYS]
    header = [cell.value for cell in summary[4]]
    assert header[:2] == ["Chỉ tiêu", "Kỳ báo cáo"] and header[2:] in ([], [None], ["Tháng"])
    if month is not None:
        assert header[2] == "Tháng"
    lines = list(summary.iter_rows(min_row=5, values_only=True))
    assert [line[0] for line in lines] == labels
    assert dict(zip(FIGURE_KEYS, (line[1] for line in lines), strict=True)) == totals
    if month is not None:
        assert [line[2] for line in lines] == [month["totals"][key] for key in FIGURE_KEYS]
    assert summary.max_column == 3  # the office's row: label, name, note; no fourth column
    assert not {*FIGURE_KEYS} & {cell for line in lines for cell in line}
    assert summary.cell(5, 2).number_format == "#,##0"
    keys = list(FIGURE_KEYS)
    for index, (name, _title) in enumerate(SHEETS, start=1):
        sheet = workbook.worksheets[index]
        assert sheet.freeze_panes == "C2"
        assert [cell.value for cell in sheet[1]] == ["Mã", "Tên", *labels]
        assert sheet.cell(1, 3).font.bold
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        assert len(rows) == len(figures[name]) + 1
        for expected, got in zip(figures[name], rows, strict=False):
            assert got[0] == expected["code"] and got[1] == expected["name"]
            assert dict(zip(keys, got[2:], strict=True)) == {k: expected[k] for k in FIGURE_KEYS}
        assert rows[-1][1] == "Tổng cộng"
        assert dict(zip(keys, rows[-1][2:], strict=True)) == totals
        assert all(isinstance(value, int) for value in rows[-1][2:])
        last = sheet.max_row
        assert sheet.cell(last, 2).font.bold and sheet.cell(last, 3).font.bold
        for row in (2, last - 1, last):
            assert all(sheet.cell(row, col).number_format == "#,##0" for col in range(3, 17))


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
    pages = pdf_pages(pdf_path)
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
    # The 301 groups: the PDF_ROW_LIMIT with the most overdue + frozen debt (then the largest
    # closing balance) are listed, the others added up in one row; the 16 communes are all there.
    listed, left_out = listed_and_left_out(figures["by_group"], by_group_importance)
    assert len(left_out) == len(figures["by_group"]) - PDF_ROW_LIMIT
    for row in listed:
        assert shows_code(text, row["code"]), row["code"]
    for row in left_out:
        assert row["code"] == "direct" or not shows_code(text, row["code"]), row["code"]
    check_other_row(text, f"{len(left_out)} tổ khác (xem tệp Excel)", left_out)
    assert f"Bảng liệt kê {PDF_ROW_LIMIT} tổ có nợ quá hạn + nợ khoanh lớn nhất" in text
    for row in figures["by_commune"]:
        assert shows_code(text, row["code"]), row["code"]
    assert "xã khác" not in text
    # Organisations by their Vietnamese names, without their English codes.
    for row in figures["by_organisation"]:
        assert row["name"] in text, row["name"]
    for code in ("women", "farmers", "veterans", "youth"):
        assert code not in text, code
    # A totals row after each of the 7 tables (programme, commune with its risk columns,
    # organisation, group, outcomes, risk by programme and by organisation).
    assert text.count("Tổng cộng") == 7
    print(f"\nportfolio_report demo pack: {pages} pages, {elapsed:.1f} s; {err.getvalue()}")

    # The XLSX: one sheet per table, numbers as numbers, cells equal the JSON.
    check_workbook(load_workbook(xlsx_path), figures)


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
    assert summary.cell(1, 3).value.startswith("Số tiền tính bằng đồng")  # not million, as the PDF
    assert [row[2] for row in summary.iter_rows(min_row=5, values_only=True)] == [
        month["totals"][key] for key in FIGURE_KEYS
    ]
    assert pdf.startswith(b"%PDF") and pages >= 5
    print(f"\nrender_pdf demo pack: {pages} pages in {elapsed:.1f} s, {len(pdf):,} bytes")


def test_capped_rows_keep_the_sums_and_the_order():
    rows = [
        {
            "code": f"T{n}",
            "name": f"Tổ {n}",
            **dict.fromkeys(FIGURE_KEYS, 0),
            "opening": 100 * n,
            "disbursed": 10 * n,
            "collected": n,
            "closing": 109 * n,
            "overdue": n if n % 3 == 0 else 0,
            "loan_turns": 1,
        }
        for n in range(1, 11)
    ]
    shown, other = capped_rows(rows, limit=4, importance=by_group_importance, other_name="Other")
    # The 3 rows with overdue debt (9, 6, 3), then the largest closing balance (10), listed in
    # their own order; the other 6 summed.
    assert [row["code"] for row in shown] == ["T3", "T6", "T9", "T10"]
    assert other["name"] == "Other" and other["count"] == 6
    for key in ADDITIVE_KEYS:
        assert sum(row[key] for row in shown) + other[key] == sum(row[key] for row in rows)
    assert other["loan_turns"] == 6 and other["closing"] == 109 * (1 + 2 + 4 + 5 + 7 + 8)
    assert roll_forward_holds(other)
    assert capped_rows(rows, limit=10, importance=by_group_importance, other_name="x") == (
        rows,
        None,
    )


def test_the_pack_of_a_province_sized_office(tmp_path):
    """BIG's shape: 8 programmes, 500 communes, 5 organisations, 12,501 groups. The PDF stays a
    few pages (its time and memory are WeasyPrint's, per cell); the workbook has every row."""
    figures = big_figures()
    month = big_figures(seed=6, start="2021-06-01")
    assert [len(figures[name]) for name, _title in SHEETS] == [8, 500, 5, 12_501]
    for name, _title in SHEETS:
        assert all(roll_forward_holds(row) for row in figures[name])
        for key in FIGURE_KEYS:
            assert sum(row[key] for row in figures[name]) == figures["totals"][key], (name, key)
    office = Office(code="BIG", name="Chi nhánh NHCSXH tỉnh Lớn")
    began = time.monotonic()
    pdf, pages = render_pdf_pages(figures, office=office, month_figures=month)
    elapsed = time.monotonic() - began
    pdf_path = tmp_path / "big.pdf"
    pdf_path.write_bytes(pdf)
    assert pdf_pages(pdf_path) == pages <= 15
    text = pdf_text(pdf_path)

    totals = figures["totals"]
    rolled = " + ".join(million(totals[key]) for key in ("opening", "disbursed")) + " − "
    rolled += " − ".join(
        million(totals[key]) for key in ("collected", "written_off", "transferred_out")
    )
    rolled += f" + {million(totals['transferred_in'])} = {million(totals['closing'])}"
    assert rolled in text
    total_lines = [line for line in text.splitlines() if "Tổng cộng" in line]
    assert len(total_lines) == 7
    for line in total_lines:  # every table ends with the office's totals
        assert million(totals["opening"]) in line and million(totals["closing"]) in line
    for words in (
        "BÁO CÁO KẾT QUẢ HOẠT ĐỘNG TÍN DỤNG",
        "Chi nhánh NHCSXH tỉnh Lớn",
        "Dư nợ theo tổ tiết kiệm và vay vốn",
        "Dư nợ, nợ quá hạn, nợ khoanh theo xã, thị trấn",
        "Kết quả đầu tư theo chương trình tín dụng",
        "Nợ quá hạn, nợ khoanh theo tổ chức hội",
        "Người lập biểu",
        f"Trang 1/{pages}",
        f"Trang {pages}/{pages}",
    ):
        assert words in text, words

    groups, other_groups = listed_and_left_out(figures["by_group"], by_group_importance)
    assert len(other_groups) == 12_501 - PDF_ROW_LIMIT
    for row in groups:
        assert shows_code(text, row["code"]), row["code"]
    # ("direct" is also the direct loans' row of the organisation table.)
    assert not any(shows_code(text, row["code"]) for row in other_groups if row["code"] != "direct")
    check_other_row(text, f"{thousands(len(other_groups))} tổ khác (xem tệp Excel)", other_groups)
    communes, other_communes = listed_and_left_out(figures["by_commune"], by_commune_importance)
    for row in communes:
        assert shows_code(text, row["code"]), row["code"]
    check_other_row(text, f"{len(other_communes)} xã khác (xem tệp Excel)", other_communes)
    assert f"Bảng liệt kê {PDF_ROW_LIMIT} xã có dư nợ cuối kỳ lớn nhất" in text
    print(f"\nrender_pdf province-sized pack: {pages} pages in {elapsed:.1f} s, {len(pdf):,} bytes")

    check_workbook(
        load_workbook(io.BytesIO(render_xlsx(figures, month_figures=month))), figures, month
    )


def test_the_dashboard_and_the_pack_headline_word_a_figure_alike():
    # Both read the headline words of reports.figures: a figure named on the dashboard has the
    # pack's wording, in both languages.
    totals = dict.fromkeys(FIGURE_KEYS, 1_000_000)
    report = {"totals": totals, "by_programme": []}
    for language in ("en", "vi"):
        with translation.override(language):
            pack = {line["label"] for line in _headline(report, None)}
            dashboard = [row[0] for row in _headline_rows(totals, totals)]
            assert len(dashboard) == 11 and set(dashboard) <= pack, (language, dashboard)
    with translation.override("vi"):
        assert _headline_rows(totals, totals)[1][0] == "Doanh số cho vay"


def test_a_monthly_pack_shows_its_period_once_on_page_one():
    """A pack of one month (start = the month's first day) has no "this month" column beside the
    period's: it would repeat it figure for figure. A pack of a longer period keeps both."""
    office = SimpleNamespace(name="Phòng giao dịch", code="PGD")
    june = big_figures(communes=3, groups_per_commune=2, start="2021-06-01", as_of="2021-06-30")
    html = render_html(june, office=office, month_figures=dict(june))
    head = html[html.index('<section class="headline">') : html.index('class="rollforward"')]
    assert "Kỳ báo cáo<br>01/06/2021 – 30/06/2021" in head
    assert "Tháng<br>" not in head
    first = re.search(r"<tr>\s*<td class=\"num\">1</td>.*?</tr>", head, re.S).group(0)
    assert first.count('<td class="num">') == 2  # the line's number and the period's figure
    assert f'<td class="num">{million(june["totals"]["disbursed"])}</td>' in first

    half_year = big_figures(
        communes=3, groups_per_commune=2, start="2021-01-01", as_of="2021-06-30"
    )
    html = render_html(half_year, office=office, month_figures=june)
    head = html[html.index('<section class="headline">') : html.index('class="rollforward"')]
    assert "Kỳ báo cáo<br>01/01/2021 – 30/06/2021" in head
    assert "Tháng<br>01/06/2021 – 30/06/2021" in head
    first = re.search(r"<tr>\s*<td class=\"num\">1</td>.*?</tr>", head, re.S).group(0)
    assert first.count('<td class="num">') == 3
