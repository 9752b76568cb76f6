"""The rules and errors of every ledger operation."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from borrowers.models import Household, HouseholdCategory
from loans import selectors, services
from loans.models import (
    ClosedMonth,
    Loan,
    LoanTransaction,
    Programme,
    ProgrammeRule,
    TransactionKind,
)
from loans.selectors import ledger_mismatches

from ..conftest import key, refused
from ..factories import HouseholdFactory

D = dt.date
JUNE_1 = D(2021, 6, 1)


def post(fn, loan, user, amount, day=JUNE_1, **kwargs):
    return fn(loan=loan, amount=amount, value_date=day, user=user, idempotency_key=key(), **kwargs)


def fresh(loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


# --- application and approval


def test_apply_numbers_loans_per_office_and_year(household_a, staff_a, hn):
    first = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=10_000_000,
        term_months=36,
        applied_on=D(2021, 3, 1),
        user=staff_a,
    )
    second = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=10_000_000,
        term_months=36,
        applied_on=D(2021, 3, 2),
        user=staff_a,
    )
    assert (first.number, second.number) == ("A-2021-00001", "A-2021-00002")
    assert first.status == Loan.Status.APPLIED


@pytest.mark.parametrize(
    ("amount", "term", "field", "message"),
    [
        (100_000_001, 60, "amount", "The amount exceeds the programme's cap of 100.000.000 VND."),
        (50_000_000, 121, "term_months", "The term exceeds the programme's maximum of 120 months."),
        (0, 60, "amount", "The amount must be positive."),
    ],
)
def test_apply_refuses_outside_programme_rules(
    household_a, staff_a, hn, amount, term, field, message
):
    with refused(message, field=field):
        services.loan_apply(
            household=household_a,
            programme=hn,
            amount=amount,
            term_months=term,
            applied_on=D(2021, 3, 1),
            user=staff_a,
        )
    assert not Loan.objects.exists()


def test_apply_refuses_ineligible_category(household_a, staff_a):
    near_poor = Programme.objects.get(code="HCN")  # household_a is certified poor
    with refused("is not eligible for HCN", field="programme"):
        services.loan_apply(
            household=household_a,
            programme=near_poor,
            amount=10_000_000,
            term_months=36,
            applied_on=D(2021, 3, 1),
            user=staff_a,
        )
    assert not Loan.objects.exists()


def test_rules_are_read_on_the_application_date(household_a, staff_a, hn):
    ProgrammeRule.objects.create(
        programme=hn,
        effective_from=D(2021, 4, 1),
        monthly_rate=Decimal("0.55"),
        max_amount=120_000_000,
        max_term_months=120,
        eligible_categories=["poor"],
    )
    # On 31/03 the old rule's cap of 100 M holds.
    with refused("The amount exceeds the programme's cap of 100.000.000 VND.", field="amount"):
        services.loan_apply(
            household=household_a,
            programme=hn,
            amount=110_000_000,
            term_months=60,
            applied_on=D(2021, 3, 31),
            user=staff_a,
        )
    loan = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=110_000_000,
        term_months=60,
        applied_on=D(2021, 4, 1),
        user=staff_a,
    )
    assert loan.approved_amount == 110_000_000


def test_job_creation_cap_is_per_worker(household_a, staff_a):
    gqvl = Programme.objects.get(code="GQVL")
    loan = services.loan_apply(
        household=household_a,
        programme=gqvl,
        amount=200_000_000,
        term_months=60,
        applied_on=D(2021, 3, 1),
        user=staff_a,
        workers_employed=2,
    )
    assert loan.workers_employed == 2
    with refused("The amount exceeds the programme's cap of 200.000.000 VND.", field="amount"):
        services.loan_apply(
            household=household_a,
            programme=gqvl,
            amount=200_000_001,
            term_months=60,
            applied_on=D(2021, 3, 1),
            user=staff_a,
            workers_employed=2,
        )


def test_only_a_manager_approves(household_a, staff_a, manager_a, hn):
    loan = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=10_000_000,
        term_months=36,
        applied_on=D(2021, 3, 1),
        user=staff_a,
    )
    with pytest.raises(PermissionDenied):
        services.loan_approve(loan=loan, user=staff_a)
    services.loan_approve(loan=loan, user=manager_a, approved_on=D(2021, 3, 5))
    assert fresh(loan).status == Loan.Status.APPROVED
    with refused("Only an application can be approved."):
        services.loan_approve(loan=loan, user=manager_a)


# --- disbursement and schedule


def test_disburse_in_tranches_never_above_approved(household_a, staff_a, manager_a, hn):
    loan = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=30_000_000,
        term_months=36,
        applied_on=D(2021, 3, 1),
        user=staff_a,
    )
    with refused("Only an approved loan can be disbursed."):
        post(services.loan_disburse, loan, staff_a, 10_000_000, D(2021, 3, 10))
    services.loan_approve(loan=loan, user=manager_a, approved_on=D(2021, 3, 5))
    post(services.loan_disburse, loan, staff_a, 20_000_000, D(2021, 3, 10))
    post(services.loan_disburse, loan, staff_a, 10_000_000, D(2021, 4, 10))
    with refused("Disbursements would exceed the approved amount (0 VND left).", field="amount"):
        post(services.loan_disburse, loan, staff_a, 1, D(2021, 4, 11))
    loan = fresh(loan)
    assert (loan.disbursed, loan.outstanding, loan.status) == (30_000_000, 30_000_000, "active")
    assert loan.first_disbursed_on == D(2021, 3, 10)
    instalments = list(loan.instalments.all())
    assert len(instalments) == 6
    assert sum(i.principal for i in instalments) == 30_000_000
    assert instalments[0].due_date == D(2021, 9, 10)
    assert instalments[-1].due_date == D(2024, 3, 10)


def test_disbursement_refused_after_business_date_and_in_closed_month(
    active_loan, staff_a, manager_a
):
    with refused("The value date is after the business date 15/06/2021.", field="value_date"):
        post(services.loan_repay_principal, active_loan, staff_a, 1_000, D(2021, 6, 16))
    ClosedMonth.objects.create(office=active_loan.office, month=D(2021, 5, 1), closed_by=manager_a)
    with refused("05/2021 is closed: date the entry in the open period", field="value_date"):
        post(services.loan_repay_principal, active_loan, staff_a, 1_000, D(2021, 5, 31))
    assert fresh(active_loan).outstanding == 50_000_000


@pytest.mark.parametrize("amount", [0, -5, 1.5, "100"])
def test_amounts_are_positive_whole_dong(active_loan, staff_a, amount):
    with refused("The amount must be a positive whole number of đồng", field="amount"):
        post(services.loan_repay_principal, active_loan, staff_a, amount)
    assert LoanTransaction.objects.filter(loan=active_loan).count() == 1


# --- repayment, overdue, interest


def test_repayment_reduces_overdue_first(active_loan, staff_a):
    post(services.loan_transfer_to_overdue, active_loan, staff_a, 5_000_000, D(2021, 5, 1))
    post(services.loan_repay_principal, active_loan, staff_a, 7_000_000, D(2021, 6, 1))
    loan = fresh(active_loan)
    assert (loan.outstanding, loan.overdue, loan.in_term) == (43_000_000, 0, 43_000_000)
    with refused(
        "The repayment exceeds the principal that can be repaid (43.000.000 VND).", field="amount"
    ):
        post(services.loan_repay_principal, loan, staff_a, 43_000_001)


def test_full_repayment_settles(active_loan, staff_a):
    post(services.loan_repay_principal, active_loan, staff_a, 50_000_000)
    assert fresh(active_loan).status == Loan.Status.SETTLED
    with refused("The loan has no balance to act on (status: Settled)."):
        post(services.loan_repay_principal, active_loan, staff_a, 1)


@pytest.mark.parametrize(
    ("operation", "extra"),
    [
        (services.loan_repay_principal, {}),
        (services.loan_transfer_to_overdue, {}),
        (services.loan_freeze, {"note": "QĐ 12/2021"}),
        (services.loan_unfreeze, {}),
        (services.loan_write_off, {}),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_an_entry_dated_before_the_first_disbursement_says_so(
    active_loan, staff_a, operation, extra
):
    """The ledger holds no principal before 15/01/2021: the clerk is told the date to use, not
    that the amount exceeds a balance of 0."""
    with refused(
        "The loan was first disbursed on 15/01/2021: an entry on its principal is dated on or "
        "after it.",
        field="value_date",
    ):
        post(operation, active_loan, staff_a, 1_000_000, D(2021, 1, 14), **extra)
    assert LoanTransaction.objects.filter(loan=active_loan).count() == 1
    post(services.loan_repay_principal, active_loan, staff_a, 1_000_000, D(2021, 1, 15))


def test_transfer_to_overdue_only_from_principal_in_term(active_loan, staff_a):
    with refused(
        "Only principal in term (50.000.000 VND) can be transferred to overdue.", field="amount"
    ):
        post(services.loan_transfer_to_overdue, active_loan, staff_a, 50_000_001)


def test_end_of_day_transfers_only_the_unpaid_instalment(active_loan, staff_a):
    first = active_loan.instalments.get(seq=1)  # 5 M due 15/07/2021: overdue from 16/07
    office = active_loan.office
    runs = services.end_of_day(office=office, through=D(2021, 7, 15), user=None)
    assert sum(run.entries_posted for run in runs) == 0
    runs = services.end_of_day(office=office, through=D(2021, 7, 16), user=None)
    assert [(run.day, run.entries_posted) for run in runs] == [(D(2021, 7, 16), 1)]
    loan = fresh(active_loan)
    assert loan.overdue == first.principal == 5_000_000
    assert loan.in_term == 45_000_000
    # Running again through the same day posts nothing more.
    assert services.end_of_day(office=office, through=D(2021, 7, 16), user=None) == []
    assert loan.transactions.filter(kind=TransactionKind.TRANSFER_TO_OVERDUE).count() == 1
    assert ledger_mismatches() == []


def test_extended_instalment_is_not_transferred(active_loan, staff_a):
    first = active_loan.instalments.get(seq=1)
    services.loan_extend(
        loan=active_loan,
        instalment=first,
        new_due_date=D(2021, 12, 15),
        value_date=D(2021, 6, 10),
        user=staff_a,
        idempotency_key=key(),
    )
    office = active_loan.office
    runs = services.end_of_day(office=office, through=D(2021, 7, 16), user=None)
    assert sum(run.entries_posted for run in runs) == 0
    first.refresh_from_db()
    assert first.extended_to == D(2021, 12, 15)


def test_extension_only_before_the_due_date(active_loan, staff_a):
    first = active_loan.instalments.get(seq=1)
    office = active_loan.office
    office.business_date = D(2021, 7, 20)
    office.save()
    with refused("An instalment is extended before it falls due."):
        services.loan_extend(
            loan=active_loan,
            instalment=first,
            new_due_date=D(2021, 12, 15),
            value_date=D(2021, 7, 20),
            user=staff_a,
            idempotency_key=key(),
        )


def test_interest_on_in_term_and_overdue_principal(active_loan, staff_a):
    # 50 M at 0.55 %/month for 30 days = 275,000.
    assert selectors.loan_interest_due(active_loan, D(2021, 1, 15), D(2021, 2, 14)) == 275_000
    post(services.loan_transfer_to_overdue, active_loan, staff_a, 10_000_000, D(2021, 2, 14))
    # 40 M in term + 10 M overdue at 130 %, 30 days: 220,000 + 71,500.
    assert selectors.loan_interest_due(active_loan, D(2021, 2, 14), D(2021, 3, 16)) == 291_500


def test_frozen_principal_bears_no_interest(active_loan, staff_a):
    services.loan_freeze(
        loan=active_loan,
        amount=50_000_000,
        value_date=D(2021, 2, 1),
        user=staff_a,
        idempotency_key=key(),
        note="Dossier 12/2021",
    )
    assert selectors.loan_interest_due(active_loan, D(2021, 2, 1), D(2021, 3, 3)) == 0


def test_interest_payment_posts_no_principal(active_loan, staff_a):
    post(services.loan_pay_interest, active_loan, staff_a, 275_000)
    loan = fresh(active_loan)
    assert loan.outstanding == 50_000_000
    assert selectors.interest_paid_through(loan) == D(2021, 6, 1)


# --- freeze, write-off, transfer


def test_freeze_takes_overdue_first_and_write_off_takes_frozen_first(active_loan, staff_a):
    post(services.loan_transfer_to_overdue, active_loan, staff_a, 4_000_000, D(2021, 3, 1))
    with refused("A freeze cites its approved dossier.", field="note"):
        post(services.loan_freeze, active_loan, staff_a, 6_000_000, D(2021, 4, 1), note=" ")
    post(services.loan_freeze, active_loan, staff_a, 6_000_000, D(2021, 4, 1), note="QĐ 5")
    loan = fresh(active_loan)
    assert (loan.overdue, loan.frozen, loan.in_term) == (0, 6_000_000, 44_000_000)
    post(services.loan_write_off, loan, staff_a, 8_000_000, D(2021, 5, 1), note="Death")
    loan = fresh(active_loan)
    assert (loan.outstanding, loan.frozen, loan.in_term) == (42_000_000, 0, 42_000_000)


def test_write_off_to_zero_marks_written_off(active_loan, staff_a):
    post(services.loan_write_off, active_loan, staff_a, 50_000_000, note="Death")
    assert fresh(active_loan).status == Loan.Status.WRITTEN_OFF


def test_transfer_moves_the_whole_balance_to_another_office(
    active_loan, staff_a, office_b, staff_b
):
    from ..factories import VillageFactory

    village_b = VillageFactory(commune__office=office_b)
    post(services.loan_transfer_to_overdue, active_loan, staff_a, 2_000_000, D(2021, 3, 1))
    services.loan_transfer(
        loan=active_loan,
        to_office=office_b,
        to_village=village_b,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    old = fresh(active_loan)
    new = Loan.objects.get(office=office_b)
    assert (old.outstanding, old.status) == (0, Loan.Status.TRANSFERRED)
    assert (new.outstanding, new.overdue, new.status) == (50_000_000, 2_000_000, "active")
    assert new.household.office == office_b
    assert new.household.citizen_id == old.household.citizen_id
    assert new.instalments.count() == old.instalments.count()
    assert ledger_mismatches() == []
    # At the new office the loan's history starts with its arrival: an earlier entry says so.
    with refused("The loan came to this office on 01/06/2021", field="value_date"):
        services.loan_repay_principal(
            loan=new,
            amount=1_000_000,
            value_date=D(2021, 5, 31),
            user=staff_b,
            idempotency_key=key(),
        )


def test_transfer_refused_into_a_group_of_another_commune(active_loan, staff_a, office_b):
    from ..factories import GroupFactory, VillageFactory

    village_b = VillageFactory(commune__office=office_b)
    elsewhere = GroupFactory(village=VillageFactory(commune__office=office_b))
    with refused("a household joins a group of its own village's commune", field="to_group"):
        services.loan_transfer(
            loan=active_loan,
            to_office=office_b,
            to_village=village_b,
            to_group=elsewhere,
            value_date=D(2021, 6, 1),
            user=staff_a,
            idempotency_key=key(),
        )
    assert fresh(active_loan).status == Loan.Status.ACTIVE


# --- reversal


def test_reversal_restores_balances_once_and_never_before_its_entry(active_loan, staff_a):
    repayment = post(services.loan_repay_principal, active_loan, staff_a, 3_000_000, D(2021, 5, 10))
    with refused("A reversal is dated on or after its entry.", field="value_date"):
        services.loan_reverse(
            entry=repayment, value_date=D(2021, 5, 9), user=staff_a, idempotency_key=key()
        )
    reversal = services.loan_reverse(
        entry=repayment,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
        note="Wrong loan",
    )
    assert (reversal.counted_kind, reversal.d_outstanding) == ("principal_repayment", 3_000_000)
    assert fresh(active_loan).outstanding == 50_000_000
    with refused("This entry has already been reversed."):
        services.loan_reverse(
            entry=repayment, value_date=D(2021, 6, 1), user=staff_a, idempotency_key=key()
        )
    with refused("A reversal cannot be reversed; post the entry again."):
        services.loan_reverse(
            entry=reversal, value_date=D(2021, 6, 1), user=staff_a, idempotency_key=key()
        )


def test_reversing_the_only_disbursement_returns_to_approved(active_loan, staff_a):
    disbursement = active_loan.transactions.get()
    services.loan_reverse(
        entry=disbursement, value_date=D(2021, 6, 1), user=staff_a, idempotency_key=key()
    )
    loan = fresh(active_loan)
    assert (loan.status, loan.disbursed, loan.outstanding) == ("approved", 0, 0)
    assert loan.first_disbursed_on is None
    assert ledger_mismatches() == []


def test_reversing_an_extension_restores_the_due_date(active_loan, staff_a):
    first = active_loan.instalments.get(seq=1)
    extension = services.loan_extend(
        loan=active_loan,
        instalment=first,
        new_due_date=D(2021, 12, 15),
        value_date=D(2021, 6, 10),
        user=staff_a,
        idempotency_key=key(),
    )
    services.loan_reverse(
        entry=extension, value_date=D(2021, 6, 11), user=staff_a, idempotency_key=key()
    )
    first.refresh_from_db()
    assert first.extended_to is None


# --- the ledger's guarantees


def test_same_idempotency_key_posts_once(active_loan, staff_a):
    k = key()
    one = services.loan_repay_principal(
        loan=active_loan,
        amount=1_000_000,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=k,
    )
    two = services.loan_repay_principal(
        loan=active_loan,
        amount=1_000_000,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=k,
    )
    assert one.pk == two.pk
    assert fresh(active_loan).outstanding == 49_000_000
    with refused("This form was already used for another entry."):  # a repayment's key
        services.loan_pay_interest(
            loan=active_loan, amount=1, value_date=D(2021, 6, 1), user=staff_a, idempotency_key=k
        )


def test_ledger_refuses_update_and_delete_in_code_and_database(active_loan):
    entry = active_loan.transactions.get()
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        LoanTransaction.objects.filter(pk=entry.pk).update(amount=1)
    for sql in ("UPDATE loans_loantransaction SET amount = 1", "DELETE FROM loans_loantransaction"):
        with (
            pytest.raises(Exception, match="Cannot"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert LoanTransaction.objects.get(pk=entry.pk).amount == 50_000_000


def test_cache_changed_without_a_ledger_entry_fails_at_commit(active_loan):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError, match="differ from its ledger"), transaction.atomic():
        Loan.objects.filter(pk=active_loan.pk).update(outstanding=1)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert fresh(active_loan).outstanding == 50_000_000


def test_category_certified_by_year_drives_eligibility(office_a, staff_a, hn):
    household = HouseholdFactory(group__village__commune__office=office_a, category="near_poor")
    HouseholdCategory.objects.create(household=household, year=2020, category="poor")
    with refused("in 2021) is not eligible for HN", field="programme"):
        services.loan_apply(
            household=household,
            programme=hn,
            amount=1_000_000,
            term_months=12,
            applied_on=D(2021, 2, 1),
            user=staff_a,
        )
    loan = services.loan_apply(
        household=household,
        programme=hn,
        amount=1_000_000,
        term_months=12,
        applied_on=D(2020, 12, 1),
        user=staff_a,
    )
    assert loan.pk


def test_double_submitted_application_creates_one_loan(household_a, staff_a, hn):
    k = key()
    first = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=10_000_000,
        term_months=36,
        applied_on=D(2021, 3, 1),
        user=staff_a,
        idempotency_key=k,
    )
    again = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=10_000_000,
        term_months=36,
        applied_on=D(2021, 3, 1),
        user=staff_a,
        idempotency_key=k,
    )
    assert first.pk == again.pk
    assert Loan.objects.count() == 1


@pytest.mark.parametrize(("applies_to_existing", "expected"), [(False, 275_000), (True, 250_000)])
def test_rate_change_applies_to_existing_loans_only_when_the_rule_says(
    active_loan, hn, applies_to_existing, expected
):
    # From 01/03/2021 the rate falls to 0.45 %/month; the loan was approved on 10/01/2021.
    ProgrammeRule.objects.create(
        programme=hn,
        effective_from=D(2021, 3, 1),
        monthly_rate=Decimal("0.45"),
        max_amount=100_000_000,
        max_term_months=120,
        eligible_categories=["poor"],
        applies_to_existing=applies_to_existing,
    )
    # On 50 M: 15 days at 0.55 % (137,500), then 15 days at 0.45 % (112,500) or still 0.55 %.
    assert selectors.loan_interest_due(active_loan, D(2021, 2, 14), D(2021, 3, 16)) == expected


def test_transferring_both_loans_of_a_household_moves_it_once(
    active_loan, household_a, staff_a, manager_a, hn, office_b
):
    from ..factories import VillageFactory

    second = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=10_000_000,
        term_months=36,
        applied_on=D(2021, 2, 1),
        user=staff_a,
    )
    services.loan_approve(loan=second, user=manager_a, approved_on=D(2021, 2, 2))
    post(services.loan_disburse, second, staff_a, 10_000_000, D(2021, 2, 3))
    village_b = VillageFactory(commune__office=office_b)
    for loan in (active_loan, second):
        services.loan_transfer(
            loan=loan,
            to_office=office_b,
            to_village=village_b,
            value_date=D(2021, 6, 1),
            user=staff_a,
            idempotency_key=key(),
        )
    moved = Loan.objects.filter(office=office_b)
    assert moved.count() == 2
    assert moved.values("household").distinct().count() == 1
    household_a.refresh_from_db()
    assert household_a.status == "moved"


def test_back_dated_entry_may_not_make_a_later_day_negative(active_loan, staff_a):
    post(services.loan_repay_principal, active_loan, staff_a, 48_000_000, D(2021, 6, 1))
    # 5 M more on 01/03 would leave −3 M on 01/06
    with refused("balances negative on 01/06/2021: date it later.", field="value_date"):
        post(services.loan_repay_principal, active_loan, staff_a, 5_000_000, D(2021, 3, 1))
    assert Loan.objects.get(pk=active_loan.pk).outstanding == 2_000_000


def ledger_sums(queries: CaptureQueriesContext) -> list[str]:
    """The captured queries that sum the ledger (the replayed-key and latest-entry lookups read
    it without summing)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "loans_loantransaction"' in q["sql"] and "SUM(" in q["sql"]
    ]


def test_a_repayment_sums_the_ledger_once(active_loan, staff_a):
    """Its amount check (the balances on its value date) and its check of every later day read
    one sum of the ledger, not one each (and a third for the balances again)."""
    post(services.loan_repay_principal, active_loan, staff_a, 1_000_000, D(2021, 6, 1))
    with CaptureQueriesContext(connection) as queries:
        post(services.loan_repay_principal, active_loan, staff_a, 2_000_000, D(2021, 3, 1))
    assert len(ledger_sums(queries)) == 1, ledger_sums(queries)
    assert fresh(active_loan).outstanding == 47_000_000
    assert not ledger_mismatches()


@pytest.mark.parametrize(
    "operation", ["disburse", "overdue", "freeze", "unfreeze", "write_off", "reverse"]
)
def test_every_posting_sums_the_ledger_once(household_a, staff_a, manager_a, hn, operation):
    loan = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=50_000_000,
        term_months=60,
        applied_on=D(2021, 1, 5),
        user=staff_a,
    )
    services.loan_approve(loan=loan, user=manager_a, approved_on=D(2021, 1, 10))
    post(services.loan_disburse, loan, staff_a, 40_000_000, D(2021, 1, 15))
    post(services.loan_freeze, loan, staff_a, 1_000_000, D(2021, 2, 1), note="QĐ 5")
    later = post(services.loan_repay_principal, loan, staff_a, 1_000_000, D(2021, 6, 1))
    fn, kwargs = {
        "disburse": (services.loan_disburse, {"amount": 5_000_000}),
        "overdue": (services.loan_transfer_to_overdue, {"amount": 2_000_000}),
        "freeze": (services.loan_freeze, {"amount": 2_000_000, "note": "QĐ 6"}),
        "unfreeze": (services.loan_unfreeze, {"amount": 1_000_000}),
        "write_off": (services.loan_write_off, {"amount": 2_000_000, "note": "Death"}),
        "reverse": (services.loan_reverse, {"entry": later}),
    }[operation]
    if operation != "reverse":
        kwargs["loan"] = loan
    with CaptureQueriesContext(connection) as queries:
        fn(value_date=D(2021, 6, 1), user=staff_a, idempotency_key=key(), **kwargs)
    assert len(ledger_sums(queries)) == 1, ledger_sums(queries)
    assert not ledger_mismatches()


def test_a_loan_transferred_back_does_not_break_the_numbering(
    active_loan, staff_a, manager_a, office_b, hn
):
    """Back in its office under "A-2021-00001/B", the loan is not the last number of 2021
    (found by the figures property test: the next application failed)."""
    from ..factories import MembershipFactory, UserFactory, VillageFactory

    staff_b = UserFactory(username="staff_b_numbers")
    MembershipFactory(user=staff_b, office=office_b, role="staff")
    there = services.loan_transfer(
        loan=active_loan,
        to_office=office_b,
        to_village=VillageFactory(commune__office=office_b),
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    moved = Loan.objects.get(office=office_b)
    services.loan_transfer(
        loan=moved,
        to_office=active_loan.office,
        to_village=active_loan.household.village
        or VillageFactory(commune__office=active_loan.office),
        value_date=D(2021, 6, 2),
        user=staff_b,
        idempotency_key=key(),
    )
    back = Loan.objects.filter(office=active_loan.office).exclude(pk=active_loan.pk).get()
    assert back.number == f"{active_loan.number}/{office_b.code}"
    assert there is not None
    loan = services.loan_apply(
        household=back.household,
        programme=hn,
        amount=10_000_000,
        term_months=24,
        applied_on=D(2021, 6, 3),
        user=staff_a,
        group=back.group,
    )
    assert loan.number == f"{active_loan.office.code}-2021-00002"


# --- refusals that no other test reaches


def test_apply_refuses_a_household_that_is_not_an_active_borrower(household_a, staff_a, hn):
    household_a.status = Household.Status.MOVED
    household_a.save(update_fields=["status"])
    with refused("The household is not an active borrower."):
        services.loan_apply(
            household=household_a, programme=hn, amount=10_000_000, term_months=36,
            applied_on=D(2021, 3, 1), user=staff_a,
        )  # fmt: skip
    assert not Loan.objects.exists()


def test_apply_refuses_a_preferential_rate_the_programme_does_not_have(household_a, staff_a, hn):
    assert selectors.rule_on(hn, D(2021, 3, 1)).preferential_rate is None
    with refused("This programme has no preferential rate.", field="preferential"):
        services.loan_apply(
            household=household_a, programme=hn, amount=10_000_000, term_months=36,
            applied_on=D(2021, 3, 1), user=staff_a, preferential=True,
        )  # fmt: skip
    assert not Loan.objects.exists()


def test_disbursement_refused_before_the_approval(household_a, staff_a, manager_a, hn):
    loan = services.loan_apply(
        household=household_a, programme=hn, amount=10_000_000, term_months=36,
        applied_on=D(2021, 3, 1), user=staff_a,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=manager_a, approved_on=D(2021, 3, 5))
    with refused("A loan is disbursed on or after its approval.", field="value_date"):
        post(services.loan_disburse, loan, staff_a, 10_000_000, D(2021, 3, 4))
    loan = fresh(loan)
    assert (loan.status, loan.disbursed) == (Loan.Status.APPROVED, 0)
    assert not loan.transactions.exists()


def test_unfreeze_refused_above_the_frozen_principal(active_loan, staff_a):
    post(services.loan_freeze, active_loan, staff_a, 5_000_000, D(2021, 4, 1), note="QĐ 5")
    with refused("The amount exceeds the frozen principal.", field="amount"):
        post(services.loan_unfreeze, active_loan, staff_a, 5_000_001, D(2021, 5, 1))
    assert fresh(active_loan).frozen == 5_000_000
    assert not active_loan.transactions.filter(kind="unfreeze").exists()


def test_transfer_refused_to_the_loan_s_own_office(active_loan, staff_a):
    with refused("Choose another office.", field="to_office"):
        services.loan_transfer(
            loan=active_loan, to_office=active_loan.office,
            to_village=active_loan.household.village,
            value_date=D(2021, 6, 1), user=staff_a, idempotency_key=key(),
        )  # fmt: skip
    loan = fresh(active_loan)
    assert (loan.status, loan.outstanding) == (Loan.Status.ACTIVE, 50_000_000)
    assert Loan.objects.count() == 1


def test_transfers_cannot_be_reversed(active_loan, staff_a, office_b):
    from ..factories import MembershipFactory, UserFactory, VillageFactory

    staff_b = UserFactory(username="staff_b_reversal")
    MembershipFactory(user=staff_b, office=office_b, role="staff")
    services.loan_transfer(
        loan=active_loan, to_office=office_b, to_village=VillageFactory(commune__office=office_b),
        value_date=D(2021, 6, 1), user=staff_a, idempotency_key=key(),
    )  # fmt: skip
    moved = Loan.objects.get(office=office_b)
    transfer_in = moved.transactions.get(kind="transfer_in")
    with refused("A transfer is corrected by a transfer back, not a reversal."):
        services.loan_reverse(
            entry=transfer_in, value_date=D(2021, 6, 1), user=staff_b, idempotency_key=key()
        )
    # The old loan's side is refused too: it is corrected in the office it went to.
    transfer_out = active_loan.transactions.get(kind="transfer_out")
    with refused("The loan was transferred to another office: correct it there."):
        services.loan_reverse(
            entry=transfer_out, value_date=D(2021, 6, 1), user=staff_a, idempotency_key=key()
        )
    assert not LoanTransaction.objects.filter(kind="reversal").exists()
    assert (fresh(active_loan).status, fresh(moved).outstanding) == ("transferred", 50_000_000)
