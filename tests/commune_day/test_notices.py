"""Notices of instalments falling due (per group, a month ahead) and the commune's notice board
(issue 13, point 8): what appears, what does not, the totals, the privacy of the board, the
PDFs, and the pages' answers to bad input."""

import datetime as dt
import io
import shutil
import subprocess

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from commune_day.notice_rendering import render_board_pdf, render_group_notices_pdf
from commune_day.notices import (
    BoardLine,
    NoticeBoard,
    next_month,
    notice_board,
    notices_for_group,
    owed_by_instalment,
)
from loans import services
from loans.models import Loan
from loans.selectors import interest_due_on
from reports.statement import loan_statement

from ..conftest import key
from ..factories import HouseholdFactory

pytestmark = pytest.mark.django_db


JULY = dt.date(2021, 7, 1)
# 50 M at 0.55 %/month from 15/01 to 15/07/2021 (181 days): 50,000,000 × 0.0055 × 181 / 30.
INTEREST_TO_15_JULY = 1_659_167


def _loan(household, staff, manager, programme, *, amount, term=60, on=dt.date(2021, 1, 15)):
    loan = services.loan_apply(
        household=household, programme=programme, amount=amount, term_months=term,
        applied_on=on - dt.timedelta(days=10), user=staff, group=household.group,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=manager, approved_on=on - dt.timedelta(days=5))
    services.loan_disburse(
        loan=loan, amount=amount, value_date=on, user=staff, idempotency_key=key()
    )
    loan.refresh_from_db()
    return loan


def _repay(loan, staff, amount, on=dt.date(2021, 6, 10)):
    services.loan_repay_principal(
        loan=loan, amount=amount, value_date=on, user=staff, idempotency_key=key()
    )
    loan.refresh_from_db()


# --- what each instalment still owes ------------------------------------------------------------


def test_outstanding_covers_the_last_instalments_first():
    rows = [
        (1, 1, JULY, None, 5),
        (2, 2, dt.date(2022, 1, 1), None, 5),
        (3, 3, dt.date(2022, 7, 1), None, 5),
    ]
    assert [i.owed for i in owed_by_instalment(rows, outstanding=15, frozen=0)] == [5, 5, 5]
    assert [i.owed for i in owed_by_instalment(rows, outstanding=12, frozen=0)] == [2, 5, 5]
    assert [i.owed for i in owed_by_instalment(rows, outstanding=12, frozen=4)] == [0, 3, 5]
    # An extension moves an instalment after the next one: the next one is now paid first.
    moved = [(1, 1, JULY, dt.date(2022, 3, 1), 5), *rows[1:]]
    owed = owed_by_instalment(moved, outstanding=12, frozen=0)
    assert [(i.seq, i.owed) for i in owed] == [(2, 2), (1, 5), (3, 5)]  # in the order they fall due


def test_owed_is_the_statements_remaining(active_loan, staff_a):
    """The same allocation as the borrower's statement (reports.statement), read in bulk."""
    _repay(active_loan, staff_a, 7_000_000)
    statement = loan_statement(active_loan, dt.date(2021, 6, 15))
    rows = active_loan.instalments.values_list("pk", "seq", "due_date", "extended_to", "principal")
    owed = owed_by_instalment(rows, outstanding=active_loan.outstanding, frozen=0)
    assert [i.owed for i in owed] == [line.remaining for line in statement.schedule]
    assert owed[0].owed == 0 and owed[1].owed == 3_000_000


# --- a group's notices --------------------------------------------------------------------------


def test_the_instalment_due_next_month_appears_with_its_interest(active_loan, household_a):
    month = next_month(active_loan.office.business_date)
    assert month == JULY
    notices = notices_for_group(household_a.group, month)
    assert [n.household for n in notices.households] == [household_a]
    [line] = notices.lines
    assert (line.loan, line.instalment_seq, line.due_date) == (active_loan, 1, dt.date(2021, 7, 15))
    assert line.scheduled_due_date is None
    assert line.principal == 5_000_000
    assert line.interest == INTEREST_TO_15_JULY
    assert line.interest == interest_due_on(active_loan, dt.date(2021, 7, 15)).payable
    assert (notices.principal, notices.interest) == (5_000_000, INTEREST_TO_15_JULY)
    assert notices.total == 5_000_000 + INTEREST_TO_15_JULY


def test_instalments_of_other_months_or_repaid_do_not_appear(active_loan, household_a, staff_a):
    # Instalments fall due every six months: none in August, the second in January 2022.
    assert notices_for_group(household_a.group, dt.date(2021, 8, 1)).lines == []
    assert notices_for_group(household_a.group, dt.date(2022, 1, 1)).lines[0].instalment_seq == 2
    # Partly repaid ahead: the rest is what the notice asks for.
    _repay(active_loan, staff_a, 2_000_000)
    assert notices_for_group(household_a.group, JULY).lines[0].principal == 3_000_000
    # Wholly repaid ahead: no notice.
    _repay(active_loan, staff_a, 3_000_000)
    assert notices_for_group(household_a.group, JULY).households == []


def test_frozen_principal_falls_due_with_nothing(active_loan, household_a, staff_a):
    services.loan_freeze(
        loan=active_loan, amount=7_000_000, value_date=dt.date(2021, 6, 15), user=staff_a,
        idempotency_key=key(), note="QĐ 12/2021 lũ lụt",
    )  # fmt: skip
    # The freeze takes the earliest instalments: July's wholly, January's 2 M of 5 M.
    assert notices_for_group(household_a.group, JULY).lines == []
    [line] = notices_for_group(household_a.group, dt.date(2022, 1, 1)).lines
    assert line.principal == 3_000_000


def test_an_extended_instalment_shows_its_new_due_date(active_loan, household_a, staff_a):
    services.loan_extend(
        loan=active_loan, instalment=active_loan.instalments.get(seq=1),
        new_due_date=dt.date(2021, 8, 20), value_date=dt.date(2021, 6, 15), user=staff_a,
        idempotency_key=key(), note="Mất mùa",
    )  # fmt: skip
    assert notices_for_group(household_a.group, JULY).lines == []
    [line] = notices_for_group(household_a.group, dt.date(2021, 8, 1)).lines
    assert (line.due_date, line.scheduled_due_date) == (dt.date(2021, 8, 20), dt.date(2021, 7, 15))
    assert line.principal == 5_000_000
    assert line.interest == interest_due_on(active_loan, dt.date(2021, 8, 20)).payable


def test_totals_and_query_count_over_households(
    active_loan, household_a, staff_a, manager_a, hn, django_assert_max_num_queries
):
    second = HouseholdFactory(group=household_a.group, full_name="Lê Thị Mai")
    _loan(second, staff_a, manager_a, hn, amount=20_000_000)
    third = HouseholdFactory(group=household_a.group, full_name="Bùi Văn An")
    _loan(third, staff_a, manager_a, hn, amount=30_000_000, on=dt.date(2021, 1, 20))
    settled = HouseholdFactory(group=household_a.group, full_name="Đỗ Văn Nam")
    gone = _loan(settled, staff_a, manager_a, hn, amount=10_000_000)
    _repay(gone, staff_a, 10_000_000)
    assert gone.status == Loan.Status.SETTLED
    # Loans, instalments, and the interest per distinct due date (15/07 and 20/07): 2 + 2 × 2.
    with django_assert_max_num_queries(6):
        notices = notices_for_group(household_a.group, JULY)
    names = [n.household.full_name for n in notices.households]
    assert names == ["Bùi Văn An", "Lê Thị Mai", "Nguyễn Thị Hằng"]
    assert [n.principal for n in notices.households] == [3_000_000, 2_000_000, 5_000_000]
    assert notices.principal == 10_000_000
    assert notices.interest == sum(n.interest for n in notices.households) > INTEREST_TO_15_JULY
    assert notices.loan_count == 3
    assert notices.total == notices.principal + notices.interest


def test_loans_of_another_group_are_not_on_the_notice(active_loan, household_b, staff_b, hn):
    assert notices_for_group(household_b.group, JULY).lines == []


# --- the notice board ---------------------------------------------------------------------------


def test_the_board_lists_balances_and_next_dues_not_settled_loans(
    active_loan, household_a, staff_a, manager_a, hn, django_assert_num_queries
):
    household_a.phone = "0912345678"
    household_a.save()
    settled = HouseholdFactory(group=household_a.group, full_name="Đỗ Văn Nam")
    gone = _loan(settled, staff_a, manager_a, hn, amount=10_000_000)
    _repay(gone, staff_a, 10_000_000)
    _repay(active_loan, staff_a, 1_000_000)
    commune = household_a.village.commune
    with django_assert_num_queries(2):  # the loans with their names, then their instalments
        board = notice_board(commune, dt.date(2021, 6, 15))
    [line] = board.lines
    assert line.borrower == household_a.full_name
    assert (line.village, line.group_code, line.programme_code) == (
        household_a.village.name, household_a.group.code, "HN",
    )  # fmt: skip
    assert (line.amount, line.outstanding, line.overdue) == (50_000_000, 49_000_000, 0)
    assert (line.next_due_date, line.next_due_amount) == (dt.date(2021, 7, 15), 4_000_000)
    assert (board.borrowers, board.outstanding) == (1, 49_000_000)
    # Only what the bank posts publicly: no citizen ID, phone or date of birth anywhere.
    assert not {"citizen_id", "phone", "date_of_birth"} & set(line.__dataclass_fields__)


def test_the_board_shows_overdue_and_skips_past_instalments(active_loan, household_a, staff_a):
    services.loan_transfer_to_overdue(
        loan=active_loan, amount=5_000_000, value_date=dt.date(2021, 6, 15), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    active_loan.refresh_from_db()
    # On 16/07 the first instalment is past (overdue): the next is the second, in January.
    [line] = notice_board(household_a.village.commune, dt.date(2021, 7, 16)).lines
    assert line.overdue == 5_000_000
    assert (line.next_due_date, line.next_due_amount) == (dt.date(2022, 1, 15), 5_000_000)


def test_the_board_is_the_communes_own(active_loan, household_b, household_a):
    assert notice_board(household_b.village.commune, dt.date(2021, 6, 15)).lines == []


def _line(village, n=1):
    return BoardLine(
        borrower=f"Hộ {n}", village=village, group_code="G", group_name="Tổ", programme_code="HN",
        programme_name="Cho vay hộ nghèo", disbursed_on=None, maturity_date=None,
        amount=10, outstanding=8, overdue=1, next_due_date=None, next_due_amount=0,
    )  # fmt: skip


def test_a_long_board_prints_in_parts_of_whole_villages():
    lines = [_line("Thôn A")] * 2 + [_line("Thôn B")] * 1 + [_line("Thôn C")] * 5
    board = NoticeBoard(commune=None, day=dt.date(2021, 6, 15), lines=lines)  # type: ignore[arg-type]
    parts = board.parts(size=3)
    assert [(p.number, p.count, p.offset, len(p.lines)) for p in parts] == [
        (1, 3, 0, 3), (2, 3, 3, 3), (3, 3, 6, 2),
    ]  # fmt: skip
    assert [p.villages for p in parts] == [["Thôn A", "Thôn B"], ["Thôn C"], ["Thôn C"]]
    assert sum(p.outstanding for p in parts) == board.outstanding == 64
    assert [len(p.lines) for p in NoticeBoard(None, dt.date(2021, 6, 15)).parts()] == [0]  # type: ignore[arg-type]


# --- PDFs ---------------------------------------------------------------------------------------


def _text(pdf: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_the_group_notices_pdf(active_loan, household_a, tmp_path):
    notices = notices_for_group(household_a.group, JULY)
    pdf, pages = render_group_notices_pdf(notices, signed_on=dt.date(2021, 6, 15))
    assert pdf.startswith(b"%PDF") and pages == 2  # the signed list, then the slips
    text = _text(pdf, tmp_path)
    with translation.override("vi"):  # the PDF's language, whatever the catalogue holds yet
        title, head = _("Notice of instalments falling due"), _("Group head")
    assert title.upper() in text
    assert household_a.full_name in text and household_a.group.head_name in text
    assert "15/07/2021" in text and "5.000.000" in text
    assert "1.659.167" in text and "6.659.167" in text
    assert head in text


def test_the_board_pdf_is_landscape_and_private(active_loan, household_a, tmp_path):
    household_a.phone = "0912345678"
    household_a.save()
    board = notice_board(household_a.village.commune, dt.date(2021, 6, 15))
    [part] = board.parts()
    pdf, pages = render_board_pdf(board, part)
    assert pages == 1
    text = _text(pdf, tmp_path)
    assert household_a.full_name in text and "50.000.000" in text and "15/07/2021" in text
    assert household_a.citizen_id not in text and "0912345678" not in text
    from weasyprint import HTML  # the page's size: A4 landscape, 297 × 210 mm

    from commune_day.notice_rendering import render_board_html

    page = HTML(string=render_board_html(board, part)).render().pages[0]
    assert page.width > page.height


# --- the pages ----------------------------------------------------------------------------------


def test_the_group_page_and_its_pdf(client, active_loan, household_a, auditor_a):
    client.force_login(auditor_a)
    url = reverse("notices:group", args=[household_a.group_id])
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["notices"].month == JULY
    assert "5.000.000" in page.content.decode()
    assert '?month=2021-06"' in page.content.decode() and '?month=2021-08"' in page.content.decode()
    pdf = client.get(
        reverse("notices:group_pdf", args=[household_a.group_id]), {"month": "2021-07"}
    )
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


@pytest.mark.parametrize("month", ["2021-13", "July", "0000-01", "2021-07-01x", "9999-12", "²"])
def test_a_bad_month_is_a_clear_error(client, active_loan, household_a, staff_a, month):
    client.force_login(staff_a)
    url = reverse("notices:group", args=[household_a.group_id])
    page = client.get(url, {"month": month})
    assert page.status_code == 400
    assert page.context["form"].errors["month"]
    assert 'id="month-error"' in page.content.decode()
    pdf = client.get(reverse("notices:group_pdf", args=[household_a.group_id]), {"month": month})
    assert pdf.status_code == 302 and pdf.url.startswith(url)
    index = client.get(reverse("notices:index"), {"month": month})
    assert index.status_code == 200
    assert index.context["filter"].form.errors["month"]


def test_unknown_ids_are_404(client, staff_a, active_loan):
    client.force_login(staff_a)
    for name in ("notices:group", "notices:group_pdf", "notices:board", "notices:board_pdf"):
        assert client.get(reverse(name, args=[2**62])).status_code == 404, name


def test_the_index_lists_the_users_groups_and_boards(
    client, staff_a, active_loan, household_a, household_b
):
    client.force_login(staff_a)
    page = client.get(reverse("notices:index"), {"month": "2021-09", "q": household_a.group.code})
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("notices:group", args=[household_a.group_id]) + "?month=2021-09" in html
    assert reverse("notices:board", args=[household_a.village.commune_id]) in html
    assert reverse("notices:group", args=[household_b.group_id]) not in html
    assert reverse("notices:board", args=[household_b.village.commune_id]) not in html
    # The list's own bad input: a page past the end is the last, an unknown export a 400.
    assert client.get(reverse("notices:index"), {"page": "10**30"}).status_code == 200
    assert client.get(reverse("notices:index"), {"_export": "xls"}).status_code == 400
    csv = client.get(reverse("notices:index"), {"_export": "csv"}).content.decode()
    assert household_a.group.code in csv and household_a.village.commune.name in csv


def test_the_board_page_and_pdf(client, active_loan, household_a, staff_a):
    household_a.phone = "0912345678"
    household_a.save()
    client.force_login(staff_a)
    page = client.get(reverse("notices:board", args=[household_a.village.commune_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert household_a.full_name in html and "50.000.000" in html
    assert household_a.citizen_id not in html and "0912345678" not in html
    url = reverse("notices:board_pdf", args=[household_a.village.commune_id])
    pdf = client.get(url)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    for part in ("2", "0", "x", "-1", "99999999999999999999999"):
        refused = client.get(url, {"part": part})
        assert refused.status_code == 400, part
        assert 'id="part-error"' in refused.content.decode(), part


def test_the_group_page_links_to_the_notices(client, household_a, staff_a):
    client.force_login(staff_a)
    html = client.get(reverse("groups:detail", args=[household_a.group_id])).content.decode()
    assert reverse("notices:group", args=[household_a.group_id]) in html
    assert reverse("notices:board", args=[household_a.village.commune_id]) in html


def test_the_bench_command_times_every_part(active_loan):
    out = io.StringIO()
    call_command("bench_notices", office="A", stdout=out)
    text = out.getvalue()
    assert "notices_for_group over 1 groups" in text and "board PDF part 1 (1 rows)" in text
