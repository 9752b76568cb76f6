"""Posting a group's sheet on the day: all lines or none, every bad line reported, once."""

import datetime as dt
import io
import json
import re
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from branch_portal.templatetags.money import group_thousands
from commune_day import posting
from commune_day.models import SheetPosting, TransactionSession
from commune_day.posting import (
    LineError,
    SheetRefused,
    loans_to_disburse,
    post_collection_sheet,
    post_disbursements,
)
from loans import services as loan_services
from loans.forms import parse_vnd
from loans.models import Loan, LoanTransaction
from loans.selectors import interest_due_on, ledger_mismatches

from ..conftest import key
from ..factories import HouseholdFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2021, 6, 15)


def make_loan(household, *, amount=20_000_000, manager, staff, hn):
    loan = loan_services.loan_apply(
        household=household, programme=hn, amount=amount, term_months=36,
        applied_on=dt.date(2021, 1, 5), user=staff, group=household.group,
    )  # fmt: skip
    loan_services.loan_approve(loan=loan, user=manager, approved_on=dt.date(2021, 1, 10))
    loan_services.loan_disburse(
        loan=loan, amount=amount, value_date=dt.date(2021, 1, 15), user=staff,
        idempotency_key=key(),
    )  # fmt: skip
    loan.refresh_from_db()
    return loan


@pytest.fixture
def sheet(household_a, manager_a, staff_a, hn):
    """A group of three members, each with a 20 M loan disbursed on 15/01/2021, and the open
    session of its commune on 15/06/2021 (the business date)."""
    group = household_a.group
    members = [household_a] + [
        HouseholdFactory(group=group, full_name=name) for name in ("Lê Thị Mai", "Đỗ Văn Nam")
    ]
    loans = [make_loan(h, manager=manager_a, staff=staff_a, hn=hn) for h in members]
    session = TransactionSession.objects.create(
        office=group.office, commune=group.village.commune, date=DAY, leader=staff_a,
        opened_by=staff_a,
    )  # fmt: skip
    session.groups.add(group)
    return session, group, loans


def due(loan) -> int:
    return interest_due_on(Loan.objects.get(pk=loan.pk), DAY).payable


def test_a_sheet_posts_every_line_and_its_totals(sheet, staff_a):
    session, group, loans = sheet
    interest = [due(loan) for loan in loans]
    lines = [
        {"loan_number": loan.number, "interest": i, "principal": 1_000_000, "receipt": f"BL{n}"}
        for n, (loan, i) in enumerate(zip(loans, interest, strict=True))
    ]
    posting = post_collection_sheet(
        session=session, group=group, lines=lines, user=staff_a, idempotency_key="k1"
    )
    assert (posting.lines, posting.interest, posting.principal) == (3, sum(interest), 3_000_000)
    assert all(due(loan) == 0 for loan in loans)
    assert [Loan.objects.get(pk=loan.pk).outstanding for loan in loans] == [19_000_000] * 3
    entry = LoanTransaction.objects.get(
        idempotency_key=f"s{session.pk}:g{group.pk}:{loans[0].pk}:interest"
    )
    assert (entry.reference, entry.value_date, entry.posted_by) == ("BL0", DAY, staff_a)
    assert ledger_mismatches() == []


def test_a_sheet_with_one_bad_line_posts_nothing_and_reports_that_line(sheet, staff_a):
    session, group, loans = sheet
    lines = [
        {"loan_number": loans[0].number, "interest": due(loans[0])},
        {"loan_number": loans[1].number, "interest": due(loans[1]) + 1},  # above the due
        {"loan_number": loans[2].number, "principal": 2_000_000},
    ]
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, lines=lines, user=staff_a, idempotency_key=key()
        )
    assert [(e.line, e.column) for e in refused.value.errors] == [(2, "interest")]
    assert not SheetPosting.objects.exists()
    assert not LoanTransaction.objects.filter(idempotency_key__startswith="s").exists()
    assert [Loan.objects.get(pk=loan.pk).outstanding for loan in loans] == [20_000_000] * 3


def test_overpayment_negative_non_integer_another_group_and_duplicate_are_each_on_their_line(
    sheet, staff_a, manager_a, hn
):
    session, group, loans = sheet
    elsewhere = make_loan(HouseholdFactory(group__village__commune__office=group.office),
                          manager=manager_a, staff=staff_a, hn=hn)  # fmt: skip
    lines = [
        {"loan_number": loans[0].number, "principal": 20_000_001},
        {"loan_number": loans[1].number, "interest": -5},
        {"loan_number": loans[2].number, "principal": "1000", "interest": 1.5},
        {"loan_number": elsewhere.number, "interest": 1000},
        {"loan_number": loans[0].number, "interest": 1000},
        {"loan_number": "NO-SUCH", "principal": 1},
    ]
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, lines=lines, user=staff_a, idempotency_key=key()
        )
    errors = refused.value.errors
    assert [(e.line, e.column) for e in errors] == [
        (1, "principal"),
        (2, "interest"),
        (3, "interest"),
        (3, "principal"),
        (4, "loan_number"),
        (5, "loan_number"),
        (6, "loan_number"),
    ]
    assert "20.000.000" in errors[0].message  # what may be repaid at most
    assert "line 5: loan_number:" in str(refused.value)
    assert not SheetPosting.objects.exists()
    assert LoanTransaction.objects.filter(kind="principal_repayment").count() == 0


def test_a_closing_session_takes_no_sheet(sheet, staff_a, manager_a, auditor_a):
    session, group, loans = sheet
    TransactionSession.objects.filter(pk=session.pk).update(
        status="closing", controller=manager_a, teller=auditor_a, cash_expected=0,
        cash_counted=0, closed_by=staff_a, closed_at=timezone.now(),
    )  # fmt: skip
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, user=staff_a, idempotency_key=key(),
            lines=[{"loan_number": loans[0].number, "principal": 1000}],
        )  # fmt: skip
    assert refused.value.errors[0][:2] == (0, "session")
    assert not LoanTransaction.objects.filter(kind="principal_repayment").exists()


def test_resubmitting_the_same_key_posts_once_and_another_key_is_refused(sheet, staff_a):
    session, group, loans = sheet
    lines = [{"loan_number": loans[0].number, "principal": 1_000_000}]
    first = post_collection_sheet(
        session=session, group=group, lines=lines, user=staff_a, idempotency_key="same"
    )
    again = post_collection_sheet(
        session=session, group=group, lines=lines, user=staff_a, idempotency_key="same"
    )
    assert again.pk == first.pk
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, lines=lines, user=staff_a, idempotency_key="other"
        )
    assert refused.value.errors[0].column == "sheet"
    assert Loan.objects.get(pk=loans[0].pk).outstanding == 19_000_000


def test_a_large_posting_held_by_the_policy_is_refused_on_its_line(sheet, staff_a):
    """The policy holds back-dated entries: a sheet of a session dated long before the business
    date asks the clerk to post that loan from its page (submitted for approval)."""
    from loans.models import FourEyesPolicy

    session, group, loans = sheet
    FourEyesPolicy.objects.filter(office=group.office).update(backdated=True, backdated_days=0)
    group.office.__class__.objects.filter(pk=group.office_id).update(
        business_date=dt.date(2021, 6, 20)
    )
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, user=staff_a, idempotency_key=key(),
            lines=[{"loan_number": loans[0].number, "principal": 1000}],
        )  # fmt: skip
    (error,) = refused.value.errors
    assert (error.line, error.column) == (1, "principal")
    assert "approval" in error.message


def test_savings_deposited_and_used_move_both_ledgers_in_the_sheet(sheet, staff_a):
    from savings.selectors import savings_balances, savings_mismatches

    session, group, loans = sheet
    interest = due(loans[0])
    posting = post_collection_sheet(
        session=session, group=group, user=staff_a, idempotency_key=key(),
        lines=[{"loan_number": loans[0].number, "savings": 1_000_000,
                "savings_interest": interest, "savings_principal": 100_000}],
    )  # fmt: skip
    assert (posting.savings_deposited, posting.savings_for_interest) == (1_000_000, interest)
    assert posting.savings_for_principal == 100_000
    assert posting.cash_in == 1_000_000  # savings used move no cash
    household = loans[0].household_id
    assert savings_balances([household]) == {household: 1_000_000 - interest - 100_000}
    assert due(loans[0]) == 0
    assert Loan.objects.get(pk=loans[0].pk).outstanding == 19_900_000
    assert savings_mismatches() == [] and ledger_mismatches() == []


def test_savings_used_beyond_the_balance_or_a_small_deposit_are_refused_on_their_line(
    sheet, staff_a
):
    session, group, loans = sheet
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, user=staff_a, idempotency_key=key(),
            lines=[{"loan_number": loans[0].number, "savings": 100_000,
                    "savings_principal": 100_001},
                   {"loan_number": loans[1].number, "savings": 4_000}],
        )  # fmt: skip
    assert [(e.line, e.column) for e in refused.value.errors] == [
        (1, "savings_principal"),
        (2, "savings"),
    ]
    assert not SheetPosting.objects.exists()


def test_line_error_reads_as_the_command_prints_it():
    assert str(LineError(3, "interest", "Too much.")) == "line 3: interest: Too much."


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("same_key", [True, False])
def test_two_tellers_posting_one_sheet_at_once_post_it_once(sheet, staff_a, same_key):
    session, group, loans = sheet
    lines = [{"loan_number": loan.number, "principal": 1_000_000} for loan in loans]
    barrier = threading.Barrier(2)
    outcomes: list = []

    def teller(i):
        try:
            barrier.wait()
            posting = post_collection_sheet(
                session=TransactionSession(pk=session.pk), group=group, lines=lines,
                user=staff_a, idempotency_key="same" if same_key else f"teller{i}",
            )  # fmt: skip
            outcomes.append(posting.pk)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=teller, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    posting = SheetPosting.objects.get()
    if same_key:
        assert outcomes == [posting.pk, posting.pk]
    else:
        assert sorted(outcomes, key=lambda o: isinstance(o, Exception))[0] == posting.pk
        assert isinstance(outcomes[0 if outcomes[1] == posting.pk else 1], SheetRefused)
    assert [Loan.objects.get(pk=loan.pk).outstanding for loan in loans] == [19_000_000] * 3
    assert ledger_mismatches() == []


# --- disbursements on the day --------------------------------------------------------------------


@pytest.fixture
def approved(sheet, manager_a, staff_a, hn):
    """Two approved loans of the sheet's group waiting to be paid out."""
    session, group, loans = sheet
    waiting = []
    for name, amount in (("Phạm Văn Đức", 30_000_000), ("Hoàng Thị Lan", 10_000_000)):
        loan = loan_services.loan_apply(
            household=HouseholdFactory(group=group, full_name=name), programme=hn,
            amount=amount, term_months=24, applied_on=dt.date(2021, 6, 1), user=staff_a,
            group=group,
        )  # fmt: skip
        waiting.append(loan_services.loan_approve(loan=loan, user=manager_a))
    return waiting


def test_the_session_lists_the_loans_to_pay_out_and_posts_them_at_once(sheet, approved, staff_a):
    session, group, _loans = sheet
    listed = list(loans_to_disburse([group.pk]))
    assert [(loan.pk, loan.to_disburse) for loan in listed] == [
        (approved[0].pk, 30_000_000),
        (approved[1].pk, 10_000_000),
    ]
    posting = post_disbursements(
        session=session, group=group, user=staff_a, idempotency_key=key(),
        lines=[{"loan_number": loan.number, "amount": loan.to_disburse, "receipt": "PC01"}
               for loan in listed],
    )  # fmt: skip
    assert (posting.kind, posting.lines, posting.disbursed) == ("disbursement", 2, 40_000_000)
    assert [Loan.objects.get(pk=loan.pk).status for loan in approved] == ["active"] * 2
    assert not loans_to_disburse([group.pk]).exists()
    assert ledger_mismatches() == []


def test_a_disbursement_above_the_approved_amount_pays_out_nothing(sheet, approved, staff_a):
    session, group, _loans = sheet
    with pytest.raises(SheetRefused) as refused:
        post_disbursements(
            session=session, group=group, user=staff_a, idempotency_key=key(),
            lines=[{"loan_number": approved[0].number, "amount": 30_000_000},
                   {"loan_number": approved[1].number, "amount": 10_000_001}],
        )  # fmt: skip
    assert [(e.line, e.column) for e in refused.value.errors] == [(2, "amount")]
    assert not LoanTransaction.objects.filter(loan__in=approved).exists()


def test_a_disbursement_the_policy_holds_is_refused_on_its_line(sheet, approved, staff_a):
    from loans.models import FourEyesPolicy

    session, group, _loans = sheet
    FourEyesPolicy.objects.filter(office=group.office).update(
        large_disbursement=True, disbursement_above=20_000_000
    )
    with pytest.raises(SheetRefused) as refused:
        post_disbursements(
            session=session, group=group, user=staff_a, idempotency_key=key(),
            lines=[{"loan_number": approved[0].number, "amount": 30_000_000},
                   {"loan_number": approved[1].number, "amount": 10_000_000}],
        )  # fmt: skip
    (error,) = refused.value.errors
    assert (error.line, error.column) == (1, "amount")
    assert "20.000.000" in error.message and "approval" in error.message
    assert not LoanTransaction.objects.filter(loan__in=approved).exists()


# --- the command ---------------------------------------------------------------------------------


def _file(tmp_path, data) -> str:
    path = tmp_path / "sheet.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _command(path, group, user="staff_a", day="2021-06-15"):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "post_collection_sheet", office=group.office.code, group=group.code, date=day,
        user=user, file=path, stdout=out, stderr=err,
    )  # fmt: skip
    return out.getvalue(), err.getvalue()


def test_the_command_opens_the_day_s_session_and_posts_the_file(sheet, staff_a, tmp_path):
    _session, group, loans = sheet
    TransactionSession.objects.all().delete()
    lines = [{"loan_number": loan.number, "interest": 0, "principal": 500_000} for loan in loans]
    out, err = _command(_file(tmp_path, {"key": "file-1", "lines": lines}), group)
    session = TransactionSession.objects.get()
    assert (session.date, session.leader, session.status) == (DAY, staff_a, "open")
    assert "3 line(s)" in out and "1.500.000" in out and err == ""
    assert [Loan.objects.get(pk=loan.pk).outstanding for loan in loans] == [19_500_000] * 3
    _command(_file(tmp_path, {"key": "file-1", "lines": lines}), group)  # posted once
    assert Loan.objects.get(pk=loans[0].pk).outstanding == 19_500_000


def test_the_command_prints_each_bad_line_and_posts_nothing(sheet, tmp_path):
    _session, group, loans = sheet
    lines = [
        {"loan_number": loans[0].number, "principal": 500_000},
        {"loan_number": loans[1].number, "principal": -1},
        {"loan_number": loans[2].number, "interest": 10**9},
    ]
    err = io.StringIO()
    with pytest.raises(CommandError, match="posted nothing"):
        call_command(
            "post_collection_sheet", office=group.office.code, group=group.code,
            date="2021-06-15", user="staff_a", file=_file(tmp_path, {"key": "k", "lines": lines}),
            stderr=err,
        )  # fmt: skip
    printed = err.getvalue().splitlines()
    assert printed[0] == "line 2: principal: The amount may not be negative."
    assert printed[1].startswith("line 3: interest: ")
    assert len(printed) == 2
    assert not SheetPosting.objects.exists()
    assert Loan.objects.get(pk=loans[0].pk).outstanding == 20_000_000


def test_the_command_refuses_a_file_that_is_not_a_sheet(sheet, tmp_path):
    _session, group, _loans = sheet
    for data, message in (([], "key"), ({"lines": []}, "key"), ({"key": "k"}, "lines")):
        with pytest.raises(CommandError, match=message):
            _command(_file(tmp_path, data), group)
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(CommandError, match="not JSON"):
        _command(str(bad), group)


# --- the screens ---------------------------------------------------------------------------------


def _enter_url(session, group):
    return reverse("sessions:enter_sheet", args=[session.pk, group.pk])


def _form(response) -> dict:
    """The rendered form's fields as the browser would send them."""
    html = response.content.decode()
    fields = dict(re.findall(r'name="(l\d+-[a-z_]+|idempotency_key)" value="([^"]*)"', html))
    return fields


def test_the_entry_screen_is_prefilled_with_what_is_due_and_posts(client, sheet, staff_a):
    session, group, loans = sheet
    client.force_login(staff_a)
    response = client.get(_enter_url(session, group))
    assert response.status_code == 200
    data = _form(response)
    assert data["l1-interest"] == group_thousands(due(loans[0]))
    assert data["l1-savings"] == ""
    assert 'src="/static/commune_day/sheet.js"' in response.content.decode()
    posted = client.post(_enter_url(session, group), data)
    assert posted.status_code == 302
    assert all(due(loan) == 0 for loan in loans)
    again = client.post(_enter_url(session, group), data)  # a double submit posts once
    assert again.status_code == 302
    assert SheetPosting.objects.get().interest == sum(
        parse_vnd(data[f"l{n}-interest"]) for n in (1, 2, 3)
    )


def test_a_refused_sheet_re_renders_as_typed_with_the_message_in_its_row(client, sheet, staff_a):
    session, group, loans = sheet
    client.force_login(staff_a)
    data = _form(client.get(_enter_url(session, group)))
    data["l2-principal"] = "99.000.000"
    data["l3-interest"] = "1,5"
    data["l3-receipt"] = "BL-17"
    response = client.post(_enter_url(session, group), data)
    assert response.status_code == 400
    rows = response.context["rows"]
    assert [(e.line, e.column) for row in rows for e in row.errors] == [
        (2, "principal"),
        (3, "interest"),
    ]
    assert "thập phân" in rows[2].errors[0].message  # the parser's own message (vi)
    html = response.content.decode()
    assert 'value="99.000.000"' in html and 'value="BL-17"' in html
    assert not SheetPosting.objects.exists()
    assert not LoanTransaction.objects.filter(idempotency_key__startswith="s").exists()


def test_the_disbursement_screen_and_the_printable_list(client, sheet, approved, staff_a):
    session, group, _loans = sheet
    client.force_login(staff_a)
    listing = client.get(reverse("sessions:disbursements", args=[session.pk]))
    assert listing.status_code == 200
    assert approved[0].number in listing.content.decode()
    url = reverse("sessions:disburse", args=[session.pk, group.pk])
    data = _form(client.get(url))
    assert data["l1-amount"] == "30.000.000"
    assert client.post(url, data).status_code == 302
    assert Loan.objects.get(pk=approved[0].pk).disbursed == 30_000_000
    assert (
        approved[0].number
        not in client.get(reverse("sessions:disbursements", args=[session.pk])).content.decode()
    )


def test_a_sheet_line_costs_a_bounded_number_of_queries(sheet, staff_a, monkeypatch):
    """Line by line through the services (a sheet using savings for a loan, or one the bulk path
    declines), the bench's line (interest, principal, savings deposit) takes at most 26 queries,
    plus the sheet's own: a service that starts reading per line what the sheet reads once shows
    here. (The bulk path's own bound is in test_bulk_posting.)"""
    monkeypatch.setattr(posting, "FAST_PATH", False)
    session, group, loans = sheet
    lines = [
        {"loan_number": loan.number, "interest": due(loan), "principal": 100_000, "savings": 50_000}
        for loan in loans
    ]
    with CaptureQueriesContext(connection) as captured:
        post_collection_sheet(
            session=session, group=group, lines=lines, user=staff_a, idempotency_key=key()
        )
    assert len(captured) <= 12 + 26 * len(lines), len(captured)


# --- review: empty sheets, the command's session, control characters, dates ---------------------

NOTHING = "Nothing to post: every amount on the sheet is blank or 0."
NUL_REFUSED = "The value contains the control character U+0000; remove it."


@pytest.mark.parametrize(
    "lines", [[], "zeros"], ids=["no lines", "every amount 0 or blank"]
)  # fmt: skip
def test_an_empty_sheet_is_refused_and_leaves_the_group_s_sheet_to_post(sheet, staff_a, lines):
    session, group, loans = sheet
    if lines == "zeros":
        lines = [{"loan_number": loan.number, "interest": 0, "principal": ""} for loan in loans]
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, lines=lines, user=staff_a, idempotency_key="empty"
        )
    assert refused.value.errors == [LineError(0, "sheet", NOTHING)]
    assert not SheetPosting.objects.exists()
    posting = post_collection_sheet(
        session=session, group=group, user=staff_a, idempotency_key="real",
        lines=[{"loan_number": loans[0].number, "principal": 1_000_000}],
    )  # fmt: skip
    assert posting.lines == 1


def test_an_empty_disbursement_sheet_is_refused(sheet, approved, staff_a):
    session, group, _loans = sheet
    for lines in ([], [{"loan_number": loan.number, "amount": 0} for loan in approved]):
        with pytest.raises(SheetRefused) as refused:
            post_disbursements(
                session=session, group=group, lines=lines, user=staff_a, idempotency_key=key()
            )
        assert refused.value.errors == [LineError(0, "sheet", NOTHING)]
    assert not SheetPosting.objects.exists()
    posting = post_disbursements(
        session=session, group=group, user=staff_a, idempotency_key=key(),
        lines=[{"loan_number": approved[1].number, "amount": 10_000_000}],
    )  # fmt: skip
    assert posting.disbursed == 10_000_000


def test_a_blank_screen_posts_nothing_and_says_so(client, sheet, approved, staff_a):
    session, group, _loans = sheet
    client.force_login(staff_a)
    for url in (
        _enter_url(session, group),
        reverse("sessions:disburse", args=[session.pk, group.pk]),
    ):
        data = {
            name: ("" if name.startswith("l") and not name.endswith(("loan_number", "receipt"))
                   else value)
            for name, value in _form(client.get(url)).items()
        }  # fmt: skip
        response = client.post(url, data)
        assert response.status_code == 400
        assert [e[:2] for e in response.context["sheet_errors"]] == [(0, "sheet")]
    assert not SheetPosting.objects.exists()
    data = _form(client.get(_enter_url(session, group)))
    assert client.post(_enter_url(session, group), data).status_code == 302  # the real sheet


def test_control_characters_in_a_loan_number_a_receipt_or_the_key_are_refused(sheet, staff_a):
    session, group, loans = sheet
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, user=staff_a, idempotency_key=key(),
            lines=[{"loan_number": "\x00bad", "principal": 1000},
                   {"loan_number": loans[1].number, "principal": 1000, "receipt": "BL\x001"},
                   {"loan_number": loans[2].number + "\ud800", "principal": 1000}],
        )  # fmt: skip
    assert [(e.line, e.column) for e in refused.value.errors] == [
        (1, "loan_number"),
        (2, "receipt"),
        (3, "loan_number"),
    ]
    assert refused.value.errors[0].message == NUL_REFUSED
    for bad in ("\x00", "k\x00", "k\ud800"):
        with pytest.raises(SheetRefused) as refused:
            post_collection_sheet(
                session=session, group=group, user=staff_a, idempotency_key=bad,
                lines=[{"loan_number": loans[0].number, "principal": 1000}],
            )  # fmt: skip
        assert [e[:2] for e in refused.value.errors] == [(0, "key")]
    assert not SheetPosting.objects.exists()
    assert not LoanTransaction.objects.filter(kind="principal_repayment").exists()


def test_a_nul_on_the_screens_is_a_400_with_its_message(client, sheet, approved, staff_a):
    session, group, _loans = sheet
    client.force_login(staff_a)
    for url in (
        _enter_url(session, group),
        reverse("sessions:disburse", args=[session.pk, group.pk]),
    ):
        data = _form(client.get(url))
        response = client.post(url, {**data, "l1-loan_number": "\x00bad"})
        assert response.status_code == 400
        (error,) = response.context["rows"][0].errors  # in the page's language: U+0000 in both
        assert error.column == "loan_number" and "U+0000" in error.message
        response = client.post(url, {**data, "l1-receipt": "\x00"})
        assert response.status_code == 400
        assert "U+0000" in response.context["rows"][0].receipt_errors[0].message
        response = client.post(url, {**data, "idempotency_key": "\x00"})
        assert response.status_code == 400
        assert [e[:2] for e in response.context["sheet_errors"]] == [(0, "key")]
    assert not SheetPosting.objects.exists()


def test_the_command_refuses_a_nul_in_the_file_line_by_line(sheet, tmp_path):
    _session, group, loans = sheet
    err = io.StringIO()
    lines = [
        {"loan_number": loans[0].number, "principal": 1000},
        {"loan_number": "\x00x", "principal": 1000},
    ]
    path = _file(tmp_path, {"key": "k", "lines": lines})
    assert "\\u0000x" in (tmp_path / "sheet.json").read_text(encoding="utf-8")  # JSON escapes
    with pytest.raises(CommandError, match="posted nothing"):
        call_command(
            "post_collection_sheet", office=group.office.code, group=group.code,
            date="2021-06-15", user="staff_a", file=path, stderr=err,
        )  # fmt: skip
    assert err.getvalue().splitlines() == [f"line 2: loan_number: {NUL_REFUSED}"]
    path = _file(tmp_path, {"key": "\x00", "lines": []})
    err = io.StringIO()
    with pytest.raises(CommandError, match="posted nothing"):
        call_command(
            "post_collection_sheet", office=group.office.code, group=group.code,
            date="2021-06-15", user="staff_a", file=path, stderr=err,
        )  # fmt: skip
    assert err.getvalue().splitlines() == [f"key: {NUL_REFUSED}"]
    assert not SheetPosting.objects.exists()


def _session_without_the_group(sheet):
    session, group, loans = sheet
    other = HouseholdFactory(group__village__commune=group.village.commune).group
    session.groups.set([other])
    return session, group, loans, other


def test_the_command_adds_the_group_to_an_open_session_of_the_office(sheet, staff_a, tmp_path):
    session, group, loans, other = _session_without_the_group(sheet)
    lines = [{"loan_number": loans[0].number, "principal": 500_000}]
    with pytest.raises(CommandError):  # a refused sheet adds nothing
        _command(_file(tmp_path, {"key": "k", "lines": [{**lines[0], "principal": -1}]}), group)
    assert list(session.groups.all()) == [other]
    _command(_file(tmp_path, {"key": "k", "lines": lines}), group)
    assert set(session.groups.all()) == {group, other}
    assert Loan.objects.get(pk=loans[0].pk).outstanding == 19_500_000


def test_the_command_adds_no_group_to_a_closing_session(
    sheet, staff_a, manager_a, auditor_a, tmp_path
):
    session, group, loans, other = _session_without_the_group(sheet)
    TransactionSession.objects.filter(pk=session.pk).update(
        status="closing", controller=manager_a, teller=auditor_a, cash_expected=0, cash_counted=0,
        closed_by=staff_a, closed_at=timezone.now(),
    )  # fmt: skip
    lines = [{"loan_number": loans[0].number, "principal": 500_000}]
    with pytest.raises(CommandError, match="closed"):
        _command(_file(tmp_path, {"key": "k", "lines": lines}), group)
    assert list(session.groups.all()) == [other]
    assert not SheetPosting.objects.exists()


@pytest.mark.parametrize("who", ["auditor_a", "staff_b"])
def test_the_command_lets_only_the_office_s_staff_add_a_group(sheet, tmp_path, who, request):
    session, group, loans, other = _session_without_the_group(sheet)
    request.getfixturevalue(who)
    lines = [{"loan_number": loans[0].number, "principal": 500_000}]
    with pytest.raises(CommandError, match="Only the office's staff"):
        _command(_file(tmp_path, {"key": "k", "lines": lines}), group, user=who)
    assert list(session.groups.all()) == [other]
    assert not SheetPosting.objects.exists()


def test_the_command_opens_no_session_for_an_auditor(sheet, auditor_a, tmp_path):
    _session, group, loans = sheet
    TransactionSession.objects.all().delete()
    lines = [{"loan_number": loans[0].number, "principal": 500_000}]
    with pytest.raises(CommandError, match="Only staff or a manager"):
        _command(_file(tmp_path, {"key": "k", "lines": lines}), group, user="auditor_a")
    assert not TransactionSession.objects.exists()


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2101-01-01", "9999-12-31"])
def test_the_commands_refuse_a_date_outside_the_bounds(sheet, tmp_path, day):
    _session, group, loans = sheet
    with pytest.raises(CommandError, match="between 1900-01-01 and 2100-12-31"):
        call_command(
            "collection_sheet", office=group.office.code, group=group.code, date=day,
            stdout=io.StringIO(),
        )  # fmt: skip
    lines = [{"loan_number": loans[0].number, "principal": 500_000}]
    with pytest.raises(CommandError, match="between 1900-01-01 and 2100-12-31"):
        _command(_file(tmp_path, {"key": "k", "lines": lines}), group, day=day)


@pytest.mark.parametrize("day", ["1900-01-01", "2100-12-31"])
def test_the_collection_sheet_reads_the_bounds_themselves(sheet, day):
    _session, group, _loans = sheet
    out = io.StringIO()
    call_command(
        "collection_sheet", office=group.office.code, group=group.code, date=day, json=True,
        stdout=out,
    )  # fmt: skip
    assert json.loads(out.getvalue())
