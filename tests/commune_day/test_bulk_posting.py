"""The sheet's bulk path (loans.bulk, savings.bulk) posts exactly what the services post, line by
line: on random portfolios (arrears, frozen principal, prepaid credit, settled loans, savings
already there) and random sheets (good lines and bad ones), posting the sheet with the bulk path
and with the services gives the same entries, caches, savings and refusals."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commune_day import posting
from commune_day.models import SheetPosting, TransactionSession
from commune_day.posting import SheetRefused, post_collection_sheet
from loans import services as loan_services
from loans.models import FourEyesPolicy, Loan, LoanTransaction
from loans.selectors import interest_due_on, ledger_mismatches
from savings import services as savings_services
from savings.models import SavingsAccount, SavingsTransaction

from ..conftest import key
from ..factories import HouseholdFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2021, 6, 15)
DISBURSED = dt.date(2021, 1, 15)

HISTORY = st.lists(
    st.tuples(
        st.sampled_from(["repay", "overdue", "freeze", "prepay", "interest", "deposit", "settle"]),
        st.integers(1, 20_000_000),
        st.integers(0, 120),  # days after 15/02/2021
    ),
    max_size=4,
)
# What a line hands in, as a share of what is due (or an absolute amount): paid in full, partly,
# one đồng above, nothing.
SHARE = st.sampled_from(["all", "part", "above", "none"])
LINE = st.tuples(SHARE, SHARE, st.sampled_from([0, 0, 4_999, 5_000, 50_000, 1_234_567]))


def _history(loan, household, staff, ops):
    for op, amount, days in ops:
        day = dt.date(2021, 2, 15) + dt.timedelta(days=days)
        common = {"value_date": day, "user": staff, "idempotency_key": key()}
        loan = Loan.objects.get(pk=loan.pk)
        try:
            if op == "repay":
                loan_services.loan_repay_principal(loan=loan, amount=amount, **common)
            elif op == "overdue":
                loan_services.loan_transfer_to_overdue(loan=loan, amount=amount, **common)
            elif op == "freeze":
                loan_services.loan_freeze(loan=loan, amount=amount, note="Hồ sơ 1", **common)
            elif op == "prepay":
                loan_services.loan_pay_interest(
                    loan=loan, amount=amount % 900_000 + 1, prepayment=True, **common
                )
            elif op == "interest":
                due = interest_due_on(loan, day).payable
                if due:
                    loan_services.loan_pay_interest(loan=loan, amount=due, **common)
            elif op == "deposit":
                savings_services.savings_deposit(
                    household=household, amount=amount % 2_000_000 + 5_000, **common
                )
            elif op == "settle":
                loan_services.loan_repay_principal(
                    loan=loan, amount=loan.outstanding - loan.frozen, **common
                )
        except ValidationError:
            pass  # a refused step is part of a random history


def _amount(share, due):
    return {"all": due, "part": due // 2, "above": due + 1, "none": 0}[share]


def _outcome(session):
    """Everything the sheet wrote, without ids or times: or its refusals."""
    prefix = f"s{session.pk}:"
    entries = sorted(
        LoanTransaction.objects.filter(idempotency_key__startswith=prefix).values_list(
            "loan_id", "kind", "counted_kind", "value_date", "amount", "d_outstanding",
            "d_overdue", "d_frozen", "idempotency_key", "reference", "posted_by_id",
            "approved_by_id",
        )
    )  # fmt: skip
    savings = sorted(
        SavingsTransaction.objects.filter(idempotency_key__startswith=prefix).values_list(
            "account__household_id", "kind", "value_date", "amount", "d_balance",
            "idempotency_key", "reference", "user_id",
        )
    )  # fmt: skip
    loans = sorted(
        Loan.objects.filter(group=session.groups.get()).values_list(
            "pk", "outstanding", "overdue", "frozen", "disbursed", "status"
        )
    )
    accounts = sorted(
        SavingsAccount.objects.values_list("household_id", "balance", "opened_on", "status")
    )
    sheet = list(
        SheetPosting.objects.filter(session=session).values_list(
            "lines", "interest", "principal", "savings_deposited"
        )
    )
    assert ledger_mismatches(session.office) == []
    return entries, savings, loans, accounts, sheet


def _post(session, group, lines, user, fast):
    """Post the sheet in a savepoint rolled back afterwards: its outcome, or its refusals."""
    posting.FAST_PATH = fast
    try:
        with transaction.atomic():
            try:
                post_collection_sheet(
                    session=session, group=group, lines=lines, user=user, idempotency_key="k"
                )
                result = ("posted", _outcome(session))
            except SheetRefused as refused:
                result = ("refused", refused.errors)
            transaction.set_rollback(True)
    finally:
        posting.FAST_PATH = True
    return result


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories=st.lists(HISTORY, min_size=2, max_size=3), sheet=st.lists(LINE, min_size=3))
def test_the_bulk_path_posts_what_the_services_post(
    household_a, manager_a, staff_a, hn, histories, sheet
):
    group = household_a.group
    with transaction.atomic():
        members = [household_a] + [HouseholdFactory(group=group) for _ in histories[1:]]
        loans = []
        for household, history in zip(members, histories, strict=True):
            loan = loan_services.loan_apply(
                household=household, programme=hn, amount=20_000_000, term_months=36,
                applied_on=dt.date(2021, 1, 5), user=staff_a, group=group,
            )  # fmt: skip
            loan_services.loan_approve(loan=loan, user=manager_a, approved_on=dt.date(2021, 1, 10))
            loan_services.loan_disburse(
                loan=loan, amount=20_000_000, value_date=DISBURSED, user=staff_a,
                idempotency_key=key(),
            )  # fmt: skip
            _history(loan, household, staff_a, history)
            loans.append(Loan.objects.get(pk=loan.pk))
        session = TransactionSession.objects.create(
            office=group.office, commune=group.village.commune, date=DAY, leader=staff_a,
            opened_by=staff_a,
        )  # fmt: skip
        session.groups.add(group)
        lines = []
        for n, (interest, principal, savings) in enumerate(sheet[: len(loans)]):
            loan = loans[n]
            lines.append(
                {
                    "loan_number": loan.number,
                    "interest": _amount(interest, interest_due_on(loan, DAY).payable),
                    "principal": _amount(principal, loan.outstanding - loan.frozen),
                    "savings": savings,
                    "receipt": f"BL{n}",
                }
            )
        bulk = _post(session, group, lines, staff_a, fast=True)
        one_by_one = _post(session, group, lines, staff_a, fast=False)
        assert bulk == one_by_one
        transaction.set_rollback(True)


@pytest.fixture
def plain_sheet(household_a, manager_a, staff_a, hn):
    group = household_a.group
    members = [household_a] + [HouseholdFactory(group=group) for _ in range(5)]
    loans = []
    for household in members:
        loan = loan_services.loan_apply(
            household=household, programme=hn, amount=20_000_000, term_months=36,
            applied_on=dt.date(2021, 1, 5), user=staff_a, group=group,
        )  # fmt: skip
        loan_services.loan_approve(loan=loan, user=manager_a, approved_on=dt.date(2021, 1, 10))
        loan_services.loan_disburse(
            loan=loan, amount=20_000_000, value_date=DISBURSED, user=staff_a,
            idempotency_key=key(),
        )  # fmt: skip
        loans.append(Loan.objects.get(pk=loan.pk))
    session = TransactionSession.objects.create(
        office=group.office, commune=group.village.commune, date=DAY, leader=staff_a,
        opened_by=staff_a,
    )  # fmt: skip
    session.groups.add(group)
    lines = [
        {
            "loan_number": loan.number,
            "interest": interest_due_on(loan, DAY).payable,
            "principal": 500_000,
            "savings": 50_000,
        }
        for loan in loans
    ]
    return session, group, lines


def test_a_plain_sheet_posts_in_a_few_queries_whatever_its_length(plain_sheet, staff_a):
    """The bench's sheet (interest, principal and a deposit on every line) takes the bulk path:
    its queries do not grow with its lines."""
    session, group, lines = plain_sheet
    with CaptureQueriesContext(connection) as captured:
        posted = post_collection_sheet(
            session=session, group=group, lines=lines, user=staff_a, idempotency_key=key()
        )
    assert posted.lines == 6
    assert len(captured) <= 30, len(captured)
    assert ledger_mismatches() == []


def test_a_sheet_the_four_eyes_policy_would_hold_goes_line_by_line_and_is_refused(
    plain_sheet, staff_a, office_a
):
    """Back-dated postings held by the policy: the bulk path declines, and the services refuse
    each line with the message sending it to the loan's page."""
    session, group, lines = plain_sheet
    FourEyesPolicy.objects.update_or_create(
        office=office_a, defaults={"backdated": True, "backdated_days": 0}
    )
    office_a.business_date = DAY + dt.timedelta(days=3)
    office_a.save(update_fields=["business_date"])
    with pytest.raises(SheetRefused) as refused:
        post_collection_sheet(
            session=session, group=group, lines=lines, user=staff_a, idempotency_key=key()
        )
    columns = {(e.line, e.column) for e in refused.value.errors}
    assert columns == {(n, c) for n in range(1, 7) for c in ("interest", "principal")}
    assert all("second person" in e.message for e in refused.value.errors)
    assert not LoanTransaction.objects.filter(idempotency_key__startswith="s").exists()
    assert not SavingsTransaction.objects.exists()
