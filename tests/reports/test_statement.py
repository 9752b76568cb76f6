"""The borrower's statement (reports.statement), its PDFs, its command and its page.

The running balances are checked against the ledger on every row: against
loans.selectors.balances_on at the last entry of each value date (it sums a whole day), and
against a sum of the entries up to each row's own (value date, id) on every row.
"""

import datetime as dt
import io
import os
import re
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borrowers.models import Household, HouseholdCategory, Office
from loans import services
from loans.models import Loan, LoanTransaction
from loans.selectors import balances_on
from reports.rendering import render_statement_pdf
from reports.statement import InstalmentStatus, check_as_of, statement_for

from ..conftest import BUSINESS_DATE, key

pytestmark = pytest.mark.django_db

M = 1_000_000
S = InstalmentStatus


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def assert_rows_match_the_ledger(loan_statement) -> int:
    """Every row's running balances equal the ledger's; returns the rows checked."""
    loan = loan_statement.loan
    entries = loan_statement.entries
    for index, row in enumerate(entries):
        upto = LoanTransaction.objects.filter(loan=loan).filter(
            Q(value_date__lt=row.value_date) | Q(value_date=row.value_date, id__lte=row.id)
        )
        sums = upto.aggregate(o=Sum("d_outstanding"), v=Sum("d_overdue"), f=Sum("d_frozen"))
        assert (row.outstanding, row.overdue, row.frozen) == (sums["o"], sums["v"], sums["f"])
        last_of_day = index + 1 == len(entries) or entries[index + 1].value_date != row.value_date
        if last_of_day:
            on = balances_on(loan, row.value_date)
            assert (row.outstanding, row.overdue, row.frozen) == (
                on.outstanding,
                on.overdue,
                on.frozen,
            ), row
    return len(entries)


# --- a loan built through the services --------------------------------------------------------


@pytest.fixture
def scene(household_a, staff_a, manager_a, hn):
    """A 36-month loan of 30 M in two tranches (six instalments of 5 M from 15/07/2019), with
    repayments, a partly paid and an overdue instalment, an extension, a freeze and unfreeze,
    interest and two reversals."""
    HouseholdCategory.objects.create(household=household_a, year=2019, category="poor")
    loan = services.loan_apply(
        household=household_a, programme=hn, amount=30 * M, term_months=36,
        applied_on=d("2019-01-05"), user=staff_a, group=household_a.group,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=manager_a, approved_on=d("2019-01-10"))

    def post(operation, day, **kwargs):
        if "entry" not in kwargs:
            kwargs["loan"] = loan
        return operation(value_date=d(day), user=staff_a, idempotency_key=key(), **kwargs)

    post(services.loan_disburse, "2019-01-15", amount=20 * M, reference="PC 001")
    post(services.loan_disburse, "2019-03-01", amount=10 * M)
    post(services.loan_pay_interest, "2019-02-15", amount=100_000)
    post(services.loan_repay_principal, "2019-06-01", amount=2 * M)
    post(services.loan_repay_principal, "2019-07-10", amount=3 * M)  # instalment 1 paid
    post(services.loan_repay_principal, "2020-01-15", amount=2 * M)  # instalment 2 in part
    post(services.loan_transfer_to_overdue, "2020-01-16", amount=3 * M)
    third = loan.instalments.get(seq=3)
    post(services.loan_extend, "2020-07-01", instalment=third, new_due_date=d("2022-01-15"))
    post(services.loan_transfer_to_overdue, "2021-01-16", amount=5 * M)  # instalment 4
    post(services.loan_freeze, "2021-03-01", amount=1 * M, note="QĐ 7/2021")
    post(services.loan_unfreeze, "2021-04-01", amount=1 * M)
    paid = post(services.loan_pay_interest, "2021-04-01", amount=200_000, reference="BL 9")
    post(services.loan_reverse, "2021-04-02", entry=paid, note="typed twice")
    wrong = post(services.loan_repay_principal, "2021-05-01", amount=500_000)
    post(services.loan_reverse, "2021-05-01", entry=wrong)
    post(services.loan_pay_interest, "2021-05-15", amount=150_000)
    loan.refresh_from_db()
    return loan


def test_the_running_balances_equal_the_ledger_on_every_row(scene):
    statement = statement_for(scene.household, BUSINESS_DATE)
    (loan,) = statement.loans
    assert assert_rows_match_the_ledger(loan) == LoanTransaction.objects.filter(loan=scene).count()
    last = loan.entries[-1]
    assert (last.outstanding, last.overdue, last.frozen) == (
        scene.outstanding,
        scene.overdue,
        scene.frozen,
    )
    # Interest paid: 100,000 + 200,000 − 200,000 (reversed) + 150,000.
    assert last.interest_paid == 250_000
    assert [e.interest_paid for e in loan.entries if e.value_date == d("2021-04-01")][-1] == 300_000
    reversal = next(e for e in loan.entries if e.value_date == d("2021-04-02"))
    assert reversal.kind == "reversal" and reversal.reverses_value_date == d("2021-04-01")
    assert reversal.reverses_label and reversal.interest_paid == 100_000
    assert next(e for e in loan.entries if e.reference == "BL 9").reversed
    totals = loan.totals
    assert totals.disbursed == 30 * M and totals.repaid == 7 * M
    # The freeze took overdue principal first; the unfreeze put it back in term.
    assert totals.outstanding == 23 * M and totals.overdue == 7 * M and totals.frozen == 0
    assert totals.interest_paid == 250_000 and totals.interest_prepaid == 0
    assert totals.interest_due > 0
    assert loan.interest_paid_through == d("2021-05-15")


def test_an_earlier_date_shows_only_what_was_posted_by_then(scene):
    (loan,) = statement_for(scene.household, d("2021-03-15")).loans
    assert max(e.value_date for e in loan.entries) <= d("2021-03-15")
    assert assert_rows_match_the_ledger(loan)
    assert (loan.totals.outstanding, loan.totals.overdue, loan.totals.frozen) == (
        23 * M,
        7 * M,
        1 * M,
    )
    assert loan.totals.interest_paid == 100_000


def test_instalment_statuses(scene):
    (loan,) = statement_for(scene.household, BUSINESS_DATE).loans
    by_seq = {i.seq: i for i in loan.schedule}
    assert [i.principal for i in loan.schedule] == [5 * M] * 6
    assert by_seq[1].status == S.PAID and by_seq[1].paid == 5 * M
    assert by_seq[2].status == S.OVERDUE and by_seq[2].paid == 2 * M
    assert by_seq[2].remaining == 3 * M
    assert by_seq[3].status == S.EXTENDED and by_seq[3].extended_to == d("2022-01-15")
    assert "15/01/2022" in by_seq[3].status_label
    assert by_seq[4].status == S.OVERDUE and by_seq[4].paid == 0
    assert by_seq[5].status == S.NOT_YET_DUE and by_seq[6].status == S.NOT_YET_DUE

    # Before the second repayment the first instalment was partly paid, and before the
    # extension the third was not extended.
    (early,) = statement_for(scene.household, d("2019-07-01")).loans
    first = early.schedule[0]
    assert first.status == S.PARTLY_PAID and first.paid == 2 * M
    with translation.override("en"):
        assert (
            "2.000.000"
            in statement_for(scene.household, d("2019-07-01")).loans[0].schedule[0].status_label
        )
    (before,) = statement_for(scene.household, d("2020-06-30")).loans
    assert before.schedule[2].status == S.NOT_YET_DUE and before.schedule[2].extended_to is None
    # Fallen due on 15/01/2020 and not yet transferred (the next day's end of day does that).
    (on_due,) = statement_for(scene.household, d("2020-01-15")).loans
    assert on_due.schedule[1].status == S.DUE and on_due.schedule[1].paid == 2 * M


def test_a_frozen_and_a_written_off_instalment(household_a, staff_a, manager_a, hn):
    loan = services.loan_apply(
        household=household_a, programme=hn, amount=10 * M, term_months=12,
        applied_on=d("2021-01-05"), user=staff_a, group=household_a.group,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=manager_a, approved_on=d("2021-01-06"))

    def post(operation, day, **kwargs):
        return operation(
            loan=loan, value_date=d(day), user=staff_a, idempotency_key=key(), **kwargs
        )

    post(services.loan_disburse, "2021-01-10", amount=10 * M)
    post(services.loan_freeze, "2021-02-01", amount=7 * M, note="QĐ 1")
    post(services.loan_write_off, "2021-03-01", amount=2 * M, note="QĐ 2")
    (statement,) = statement_for(household_a, BUSINESS_DATE).loans
    first, second = statement.schedule
    # The write-off took frozen principal, which is the first instalment's.
    assert first.written_off == 2 * M and first.frozen == 3 * M and first.status == S.FROZEN
    # Partly frozen, the rest not yet due.
    assert second.frozen == 2 * M and second.status == S.FROZEN
    assert statement.totals.written_off == 2 * M and statement.totals.frozen == 5 * M
    assert_rows_match_the_ledger(statement)


def test_a_loan_not_yet_disbursed_shows_as_such(household_a, staff_a, manager_a, hn, active_loan):
    other = services.loan_apply(
        household=household_a, programme=hn, amount=10 * M, term_months=12,
        applied_on=d("2021-06-01"), user=staff_a, group=household_a.group,
    )  # fmt: skip
    statement = statement_for(household_a, BUSINESS_DATE)
    assert [loan.number for loan in statement.loans] == sorted([active_loan.number, other.number])
    waiting = next(loan for loan in statement.loans if loan.number == other.number)
    assert not waiting.disbursed and waiting.entries == [] and waiting.schedule == []
    # Applied after the as-of date: not in the statement at all.
    assert [loan.number for loan in statement_for(household_a, d("2021-05-31")).loans] == [
        active_loan.number
    ]
    # Before the disbursement, the active loan too was not yet disbursed.
    (early,) = statement_for(household_a, d("2021-01-12")).loans
    assert not early.disbursed and early.totals.outstanding == 0


def test_the_as_of_date_is_checked(household_a, active_loan):
    check_as_of(household_a, BUSINESS_DATE)
    # English whatever the worker's previous test left active (the default is Vietnamese).
    with translation.override("en"), pytest.raises(Exception, match="business date"):
        check_as_of(household_a, BUSINESS_DATE + dt.timedelta(days=1))
    with translation.override("en"), pytest.raises(Exception, match="first loan application"):
        check_as_of(household_a, d("2021-01-04"))


# --- a property: random sequences of operations -----------------------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["repay", "interest", "overdue", "freeze", "unfreeze", "reverse", "write"]),
        st.integers(min_value=1, max_value=120),  # days after the previous operation
        st.integers(min_value=1, max_value=6 * M),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(operations=OPERATIONS)
def test_running_balances_follow_the_ledger_whatever_is_posted(
    household_a, staff_a, manager_a, hn, operations
):
    with transaction.atomic():
        sid = transaction.savepoint()
        HouseholdCategory.objects.get_or_create(household=household_a, year=2020, category="poor")
        loan = services.loan_apply(
            household=household_a, programme=hn, amount=20 * M, term_months=24,
            applied_on=d("2020-01-02"), user=staff_a, group=household_a.group,
        )  # fmt: skip
        services.loan_approve(loan=loan, user=manager_a, approved_on=d("2020-01-03"))
        services.loan_disburse(
            loan=loan, amount=20 * M, value_date=d("2020-01-05"), user=staff_a,
            idempotency_key=key(),
        )  # fmt: skip
        day = d("2020-01-05")
        for operation, gap, amount in operations:
            day = min(day + dt.timedelta(days=gap), BUSINESS_DATE)
            loan.refresh_from_db()
            kwargs = {"loan": loan, "value_date": day, "user": staff_a, "idempotency_key": key()}
            try:
                if operation == "repay":
                    services.loan_repay_principal(amount=amount, **kwargs)
                elif operation == "interest":
                    services.loan_pay_interest(amount=amount // 50, **kwargs)
                elif operation == "overdue":
                    services.loan_transfer_to_overdue(amount=amount, **kwargs)
                elif operation == "freeze":
                    services.loan_freeze(amount=amount, note="QĐ", **kwargs)
                elif operation == "unfreeze":
                    services.loan_unfreeze(amount=amount, **kwargs)
                elif operation == "write":
                    services.loan_write_off(amount=amount, note="QĐ", **kwargs)
                else:
                    last = loan.transactions.filter(kind__in=["principal_repayment", "freeze"])
                    entry = last.filter(reversed_by__isnull=True).order_by("-id").first()
                    if entry is not None:
                        del kwargs["loan"]
                        services.loan_reverse(entry=entry, **kwargs)
            except Exception as exc:  # a refusal of the rulebook: nothing posted
                if exc.__class__.__name__ != "ValidationError":
                    raise
        for as_of in (day, BUSINESS_DATE):
            (statement,) = [
                s for s in statement_for(household_a, as_of).loans if s.number == loan.number
            ]
            assert_rows_match_the_ledger(statement)
            on = balances_on(loan, as_of)
            totals = statement.totals
            assert (totals.outstanding, totals.overdue, totals.frozen) == (
                on.outstanding,
                on.overdue,
                on.frozen,
            )
            # The schedule accounts for every đồng: what is left on it is the outstanding.
            assert sum(i.remaining for i in statement.schedule) == totals.outstanding
            assert sum(i.overdue for i in statement.schedule) == totals.overdue
            assert sum(i.frozen for i in statement.schedule) == totals.frozen
        transaction.savepoint_rollback(sid)


# --- the PDFs ---------------------------------------------------------------------------------


def pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(content)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def page_sizes(content: bytes, tmp_path) -> set[str]:
    """pdfinfo's size of every page, e.g. "595.276 x 841.89 pts (A4)"."""
    path = tmp_path / "size.pdf"
    path.write_bytes(content)
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return {
        line.split(":", 1)[1].strip()
        for line in info.splitlines()
        if line.startswith("Page") and " size:" in line
    }


A4_PORTRAIT = {"595.276 x 841.89 pts (A4)"}


def test_the_statement_pdf(scene, tmp_path):
    household = scene.household
    household.full_name = "Nguyễn Thị Hằng"
    household.save(update_fields=["full_name"])
    statement = statement_for(Household.objects.get(pk=household.pk), BUSINESS_DATE)
    with translation.override("vi"):
        content, pages = render_statement_pdf(statement)
    assert content.startswith(b"%PDF") and pages >= 1
    assert page_sizes(content, tmp_path) == A4_PORTRAIT
    text = pdf_text(content, tmp_path)
    assert "Nguyễn Thị Hằng" in text
    assert "Người vay" in text and "(Ký, ghi rõ họ tên)" in text
    with translation.override("en"):
        english = pdf_text(render_statement_pdf(statement)[0], tmp_path)
    assert "Borrower" in english and "Bank officer" in english and "Nguyễn Thị Hằng" in english
    assert scene.number in text
    # The closing balance row: outstanding 23.000.000, overdue 7.000.000, frozen 0.
    closing = [
        line for line in text.splitlines() if "Dư nợ cuối kỳ" in line or "Số dư cuối" in line
    ]
    assert any(re.search(r"23\.000\.000\s+7\.000\.000\s+0\s+250\.000", line) for line in closing)
    assert "15/06/2021" in text


def test_the_confirmation_letter_pdf(scene, tmp_path):
    statement = statement_for(scene.household, BUSINESS_DATE)
    with translation.override("vi"):
        content, pages = render_statement_pdf(statement, letter=True)
    assert content.startswith(b"%PDF") and pages == 1
    assert page_sizes(content, tmp_path) == A4_PORTRAIT
    text = pdf_text(content, tmp_path)
    assert scene.household.full_name in text
    assert "Người vay" in text
    with translation.override("en"):
        english = pdf_text(render_statement_pdf(statement, letter=True)[0], tmp_path)
    assert "Borrower" in english and "Bank officer" in english and "confirm" in english
    assert re.search(r"23\.000\.000\s+7\.000\.000\s+0\s+\d", text)


# --- the command ------------------------------------------------------------------------------


def test_the_command_writes_the_statement_and_the_letter(scene, tmp_path):
    out = io.StringIO()
    pdf, letter = tmp_path / "s.pdf", tmp_path / "l.pdf"
    call_command(
        "borrower_statement", office=scene.office.code, citizen_id=scene.household.citizen_id,
        as_of="2021-06-15", pdf=pdf, letter_pdf=letter, stdout=out,
    )  # fmt: skip
    assert pdf.read_bytes().startswith(b"%PDF") and letter.read_bytes().startswith(b"%PDF")
    printed = out.getvalue()
    assert str(pdf) in printed and str(letter) in printed
    assert "outstanding 23.000.000 ₫" in printed and "1 loan" in printed


@pytest.mark.parametrize(
    "override, message",
    [
        ({"office": "NOPE"}, "no office"),
        ({"citizen_id": "000000000000"}, "no household"),
        ({"as_of": "15/06/2021"}, "not a date"),
        ({"as_of": "2021-06-16"}, "business date"),
        ({"as_of": "2018-12-31"}, "first loan application"),
    ],
)
def test_the_command_refuses_bad_input_and_writes_nothing(scene, tmp_path, override, message):
    pdf = tmp_path / "s.pdf"
    options = {
        "office": scene.office.code,
        "citizen_id": scene.household.citizen_id,
        "as_of": "2021-06-15",
        "pdf": pdf,
        "language": "en",
        **override,
    }
    with pytest.raises(CommandError, match=message):
        call_command("borrower_statement", **options)
    assert not pdf.exists()


def test_the_command_exits_non_zero_without_a_traceback(tmp_path):
    """Run as a borrower's clerk would: a bad office code is one line and exit status 1."""
    from django.conf import settings as django_settings

    from tests.processes import test_database_url

    pdf = tmp_path / "s.pdf"
    env = {
        **os.environ,
        "DEVELOPMENT": "true",
        "DATABASE_URL": test_database_url(),
        "DATABASE_OWNER_URL": "",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "borrower_statement", "--office", "NOPE", "--citizen-id",
         "1", "--as-of", "2021-06-15", "--pdf", str(pdf)],
        env=env, capture_output=True, text=True, timeout=120, cwd=django_settings.BASE_DIR,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "no office NOPE" in result.stderr
    assert not pdf.exists()


# --- the page ---------------------------------------------------------------------------------


def test_the_page_for_staff_and_auditor(client, scene, staff_a, auditor_a):
    url = reverse("reports:statement", args=[scene.household.pk])
    client.cookies["django_language"] = "en"
    for user in (staff_a, auditor_a):
        client.force_login(user)
        response = client.get(url, {"as_of": "2021-06-15"})
        assert response.status_code == 200
        html = response.content.decode()
        assert scene.number in html and "23.000.000" in html
        assert reverse("reports:statement_pdf", args=[scene.household.pk]) in html
        pdf = client.get(
            reverse("reports:statement_pdf", args=[scene.household.pk]), {"as_of": "2021-06-15"}
        )
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        letter = client.get(
            reverse("reports:statement_letter", args=[scene.household.pk]), {"as_of": "2021-06-15"}
        )
        assert letter.status_code == 200 and letter.content.startswith(b"%PDF")
    # The default date is the business date.
    response = client.get(url)
    assert response.status_code == 200 and "2021-06-15" in response.content.decode()


def test_the_household_page_links_to_the_statement(client, scene, staff_a):
    client.force_login(staff_a)
    response = client.get(reverse("borrowers:detail", args=[scene.household.pk]))
    assert reverse("reports:statement", args=[scene.household.pk]) in response.content.decode()


@pytest.mark.parametrize(
    "name", ["reports:statement", "reports:statement_pdf", "reports:statement_letter"]
)
def test_another_office_gets_404(client, scene, staff_b, name):
    client.force_login(staff_b)
    assert client.get(reverse(name, args=[scene.household.pk])).status_code == 404


@pytest.mark.parametrize("as_of", ["junk", "2021-02-30", "2021-06-16", "2018-01-01", "99999-01-01"])
def test_a_bad_date_is_a_message_not_a_500(client, scene, staff_a, as_of):
    client.force_login(staff_a)
    client.cookies["django_language"] = "en"
    response = client.get(reverse("reports:statement", args=[scene.household.pk]), {"as_of": as_of})
    assert response.status_code == 200
    assert "alert" in response.content.decode()
    for name in ("reports:statement_pdf", "reports:statement_letter"):
        download = client.get(reverse(name, args=[scene.household.pk]), {"as_of": as_of})
        # A download of a bad date goes back to the page, which says what is wrong.
        assert download.status_code == 302


# --- the demo ---------------------------------------------------------------------------------


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


def test_the_demo_statements_equal_the_ledger(demo, db, tmp_path):
    # The households with the most entries, and some with an overdue, frozen or written-off loan.
    busiest = (
        Household.objects.filter(office=demo)
        .annotate(n=Count("loans__transactions"))
        .order_by("-n", "id")[:5]
    )
    troubled = Household.objects.filter(
        office=demo, loans__transactions__kind__in=["write_off", "freeze", "transfer_to_overdue"]
    ).distinct()[:10]
    rows = 0
    for household in [*busiest, *troubled]:
        statement = statement_for(household, demo.business_date)
        for loan in statement.loans:
            rows += assert_rows_match_the_ledger(loan)
            cached = Loan.objects.get(pk=loan.loan.pk)
            assert loan.totals.outstanding == cached.outstanding
            assert sum(i.remaining for i in loan.schedule) >= 0
    assert rows > 100
    household = busiest[0]
    content, pages = render_statement_pdf(statement_for(household, demo.business_date))
    text = pdf_text(content, tmp_path)
    assert household.full_name in text and pages >= 2
