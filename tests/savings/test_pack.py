"""Savings mobilised in the monthly pack (issue 13, point 5): by group and by commune, the
month's deposits and withdrawals and the balance at the month's end, in the PDF and the XLSX."""

import datetime as dt
import io
import subprocess

import pytest
from openpyxl import load_workbook

from borrowers.models import Office
from loans.models import Programme
from reports.rendering import render_pdf_pages, render_xlsx
from reports.selectors import report_figures
from savings import services
from savings.selectors import savings_mobilised

from ..conftest import key
from ..factories import GroupFactory, HouseholdFactory

D = dt.date
pytestmark = pytest.mark.django_db


def post(operation, household, amount, day):
    operation(household=household, amount=amount, value_date=day, user=None, idempotency_key=key())


@pytest.fixture
def savers(office_a, household_a):
    """Two members of household_a's group and one of another group in another commune:

    | member | before June | June: deposits | June: withdrawals | after June |
    | A1     | 100.000     | 20.000         | 30.000            | 5.000 (1/7) |
    | A2     |             | 50.000         |                   |             |
    | B1     | 200.000     |                |                   |             |
    """
    Office.objects.filter(pk=office_a.pk).update(business_date=D(2021, 7, 10))
    second = HouseholdFactory(group=household_a.group, village=household_a.village)
    other_group = GroupFactory(village__commune__office=office_a)
    third = HouseholdFactory(group=other_group, village=other_group.village)
    post(services.savings_deposit, household_a, 100_000, D(2021, 5, 3))
    post(services.savings_deposit, household_a, 20_000, D(2021, 6, 10))
    post(services.savings_withdraw, household_a, 30_000, D(2021, 6, 20))
    post(services.savings_deposit, household_a, 5_000, D(2021, 7, 1))
    post(services.savings_deposit, second, 50_000, D(2021, 6, 30))
    post(services.savings_deposit, third, 200_000, D(2021, 4, 1))
    return household_a, second, third


def row(opening, deposits, withdrawals, closing, savers):
    return {
        "opening": opening,
        "deposits": deposits,
        "withdrawals": withdrawals,
        "paid_to_loans": 0,
        "interest_credited": 0,
        "closing": closing,
        "savers": savers,
    }


def test_savings_mobilised_by_group_and_commune(savers, office_a):
    first, _second, third = savers
    figures = savings_mobilised(office=office_a, start=D(2021, 6, 1), as_of=D(2021, 6, 30))
    assert figures["totals"] == row(300_000, 70_000, 30_000, 340_000, 3)
    groups = {r["code"]: r for r in figures["by_group"]}
    assert groups == {
        first.group.code: {
            "code": first.group.code,
            "name": first.group.name,
            **row(100_000, 70_000, 30_000, 140_000, 2),
        },
        third.group.code: {
            "code": third.group.code,
            "name": third.group.name,
            **row(200_000, 0, 0, 200_000, 1),
        },
    }
    communes = {r["code"]: r["closing"] for r in figures["by_commune"]}
    assert communes == {
        first.village.commune.code: 140_000,
        third.village.commune.code: 200_000,
    }


def test_the_pack_shows_savings_mobilised(savers, office_a, tmp_path):
    Programme.objects.exists()  # the programmes are seeded: the pack lists them
    figures = report_figures(office=office_a, start=D(2021, 1, 1), as_of=D(2021, 6, 30))
    figures["savings"] = savings_mobilised(
        office=office_a, start=D(2021, 6, 1), as_of=D(2021, 6, 30)
    )
    pdf, _pages = render_pdf_pages(figures, office=office_a)
    path = tmp_path / "pack.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "Tiền gửi tiết kiệm huy động theo tổ" in text or "Savings mobilised" in text
    first_group = savers[0].group.code
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(first_group))
    # In thousands of đồng: 100, 70, 30, 0, 0, 140, 2 savers.
    assert line.split()[-7:] == ["100", "70", "30", "0", "0", "140", "2"]
    workbook = load_workbook(io.BytesIO(render_xlsx(figures)), read_only=True)
    sheet = workbook.worksheets[-2]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[-1][2:] == [300_000, 70_000, 30_000, 0, 0, 340_000, 3]


def test_a_pack_without_savings_has_no_savings_tables(office_a, household_a):
    figures = report_figures(office=office_a, start=D(2021, 1, 1), as_of=D(2021, 6, 15))
    figures["savings"] = savings_mobilised(
        office=office_a, start=D(2021, 6, 1), as_of=D(2021, 6, 15)
    )
    assert figures["savings"]["by_group"] == []
    workbook = load_workbook(io.BytesIO(render_xlsx(figures)), read_only=True)
    assert len(workbook.worksheets) == 5
