"""Maker-checker (loans.approvals): an operation the office's four-eyes policy holds posts
nothing until a second person approves it; then it posts once, carrying both names."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from borrowers.models import Household, PreviousIdentity
from borrowers.services import household_change_citizen_id
from loans import approvals, services
from loans.models import ApprovalRequest, ClosedMonth, FourEyesPolicy, LoanTransaction

from ..conftest import BUSINESS_DATE, _member, key, refused
from ..factories import FOUR_EYES_ON, citizen_id_for

pytestmark = pytest.mark.django_db
D = dt.date
Status = ApprovalRequest.Status


@pytest.fixture
def four_eyes(office_a):
    """Office A's policy as the defaults have it (the factory's holds nothing), switched on once
    the test has set its scene."""

    def switch_on(**changes):
        FourEyesPolicy.objects.filter(office=office_a).update(**(FOUR_EYES_ON | changes))

    return switch_on


@pytest.fixture
def manager2_a(office_a):
    return _member(office_a, "manager2_a", "manager")


@dataclass
class Case:
    operation: str
    kwargs: dict[str, Any]
    maker: Any
    checker: Any
    posted: Any  # a callable: has the operation taken effect?


def _entries_after(last_id):
    return LoanTransaction.objects.filter(pk__gt=last_id).order_by("pk")


def _case(name, *, loan, staff, manager, manager2, household, household_b, hn) -> Case:
    """Set the scene (policy still off), return the operation to submit."""
    posting = {"value_date": BUSINESS_DATE, "idempotency_key": key()}
    last = LoanTransaction.objects.order_by("-pk").values_list("pk", flat=True).first()

    def ledger_posted():
        return _entries_after(last).exists()

    if name == "write-off":
        kwargs = {"loan": loan, "amount": 10_000_000, "note": "QĐ 12/2021 lũ lụt", **posting}
    elif name == "freeze":
        kwargs = {"loan": loan, "amount": 5_000_000, "note": "QĐ 12/2021 lũ lụt", **posting}
    elif name == "unfreeze":
        services.loan_freeze(
            loan=loan, amount=5_000_000, value_date=D(2021, 6, 12), user=staff,
            idempotency_key=key(), note="QĐ 12/2021",
        )  # fmt: skip
        last = LoanTransaction.objects.order_by("-pk").values_list("pk", flat=True).first()
        kwargs = {"loan": loan, "amount": 5_000_000, "note": "", **posting}
    elif name == "reversal":
        entry = services.loan_repay_principal(
            loan=loan, amount=1_000_000, value_date=D(2021, 6, 10), user=staff,
            idempotency_key=key(),
        )  # fmt: skip
        last = entry.pk
        kwargs = {"entry": entry, "note": "nhập nhầm", **posting}
    elif name == "transfer":
        kwargs = {
            "loan": loan,
            "to_office": household_b.office,
            "to_village": household_b.village,
            "to_group": None,
            "note": "chuyển hộ",
            **posting,
        }
    elif name == "extend":
        kwargs = {
            "loan": loan,
            "instalment": loan.instalments.get(seq=1),
            "new_due_date": D(2022, 1, 15),
            "note": "",
            **posting,
        }
    elif name == "backdated":
        kwargs = {
            "loan": loan,
            "amount": 1_000_000,
            "reference": "PT-1",
            **posting,
            "value_date": D(2021, 6, 1),  # 14 days before the business date
        }
        return Case("repay", kwargs, staff, manager, ledger_posted)
    elif name == "disburse":
        applied = services.loan_apply(
            household=household, programme=hn, amount=50_000_000, term_months=36,
            applied_on=D(2021, 6, 1), user=staff, group=household.group, number="A-BIG",
        )  # fmt: skip
        services.loan_approve(loan=applied, user=manager, approved_on=D(2021, 6, 2))
        kwargs = {"loan": applied, "amount": 50_000_000, "reference": "", **posting}
    elif name == "month_reopen":
        ClosedMonth.objects.create(office=loan.office, month=D(2021, 5, 1), closed_by=manager)
        kwargs = {"office": loan.office, "month": D(2021, 5, 1), "reason": "Sửa sai tháng 5"}
        return Case(
            name,
            kwargs,
            manager,
            manager2,
            lambda: not ClosedMonth.objects.filter(month=D(2021, 5, 1)).exists(),
        )
    elif name == "citizen_id":
        new = citizen_id_for(household.date_of_birth, household.sex)
        kwargs = {"household": household, "new_citizen_id": new, "on": BUSINESS_DATE}
        return Case(
            name,
            kwargs,
            staff,
            manager,
            lambda: Household.objects.get(pk=household.pk).citizen_id == new,
        )
    else:
        raise AssertionError(name)
    return Case(name, kwargs, staff, manager, ledger_posted)


DEFAULT_POLICY = [
    "write-off",
    "freeze",
    "unfreeze",
    "reversal",
    "transfer",
    "extend",
    "backdated",
    "disburse",
    "month_reopen",
    "citizen_id",
]


@pytest.mark.parametrize("name", DEFAULT_POLICY)
def test_the_default_policy_holds_until_a_second_person_approves(
    name, four_eyes, active_loan, staff_a, manager_a, manager2_a, household_a, household_b, hn
):
    case = _case(
        name, loan=active_loan, staff=staff_a, manager=manager_a, manager2=manager2_a,
        household=household_a, household_b=household_b, hn=hn,
    )  # fmt: skip
    # The defaults (a disbursement above 100 M): the demo loan's cap is lower, so the bound is.
    four_eyes(disbursement_above=20_000_000)
    last = LoanTransaction.objects.order_by("-pk").values_list("pk", flat=True).first()

    outcome = approvals.perform(case.operation, user=case.maker, **case.kwargs)

    request = outcome.request
    assert outcome.result is None and request is not None
    assert request.status == Status.PENDING and request.maker == case.maker
    assert request.held_because
    assert not case.posted(), "nothing posts while the request waits"
    assert not _entries_after(last).exists()
    if request.loan_id:
        assert request.subject == f"loan:{request.loan_id}"
    assert isinstance(request.payload, dict)
    assert "user" not in request.payload and "approval" not in request.payload

    approved = approvals.approve(request.pk, case.checker)

    assert approved.status == Status.APPROVED and approved.decided_at is not None
    assert ApprovalRequest.objects.get(pk=request.pk).checker == case.checker
    assert case.posted()
    entries = list(_entries_after(last))
    if name not in ("month_reopen", "citizen_id"):
        assert entries, "the approval posted"
        assert {(e.posted_by, e.approved_by) for e in entries} == {(case.maker, case.checker)}
        assert approved.entry == entries[0]
    else:
        assert not entries
    if name == "citizen_id":
        assert PreviousIdentity.objects.filter(household=household_a).count() == 1
    # Once: approving again is refused and posts nothing more.
    with refused("already"):
        approvals.approve(request.pk, case.checker)
    assert list(_entries_after(last)) == entries


def test_a_gated_service_refuses_to_post_without_an_approval(four_eyes, active_loan, staff_a):
    four_eyes()
    with pytest.raises(approvals.Held):
        services.loan_write_off(
            loan=active_loan, amount=1_000_000, value_date=BUSINESS_DATE, user=staff_a,
            idempotency_key=key(), note="QĐ 1",
        )  # fmt: skip
    assert not active_loan.transactions.filter(kind="write_off").exists()
    assert not ApprovalRequest.objects.exists()


def test_a_citizen_id_change_is_held_in_the_borrowers_service_itself(
    four_eyes, household_a, staff_a
):
    four_eyes()
    old = household_a.citizen_id
    with pytest.raises(approvals.Held):
        household_change_citizen_id(
            household=household_a,
            new_citizen_id=citizen_id_for(household_a.date_of_birth, household_a.sex),
            on=BUSINESS_DATE,
            user=staff_a,
        )
    assert Household.objects.get(pk=household_a.pk).citizen_id == old


def test_an_approval_for_another_operation_does_not_cover(four_eyes, active_loan, staff_a):
    four_eyes()
    request = _submit_write_off(active_loan, staff_a)
    request.checker = staff_a  # forged in memory: the maker as checker
    with pytest.raises(PermissionDenied):
        services.loan_freeze(
            loan=active_loan, amount=1_000_000, value_date=BUSINESS_DATE, user=staff_a,
            idempotency_key=key(), note="QĐ 1", approval=request,
        )  # fmt: skip
    assert not active_loan.transactions.filter(kind="freeze").exists()


def _submit_write_off(loan, user, amount=10_000_000):
    outcome = approvals.perform(
        "write-off", loan=loan, user=user, amount=amount, value_date=BUSINESS_DATE,
        idempotency_key=key(), note="QĐ 12/2021",
    )  # fmt: skip
    assert outcome.request is not None
    return outcome.request


def test_the_maker_cannot_approve_their_own(four_eyes, active_loan, manager_a):
    four_eyes()
    request = _submit_write_off(active_loan, manager_a)
    with translation.override("en"), pytest.raises(PermissionDenied, match="another person"):
        approvals.approve(request.pk, manager_a)
    assert ApprovalRequest.objects.get(pk=request.pk).status == Status.PENDING
    assert not active_loan.transactions.filter(kind="write_off").exists()


def test_the_database_refuses_a_checker_who_is_the_maker(four_eyes, active_loan, manager_a):
    four_eyes()
    request = _submit_write_off(active_loan, manager_a)
    with (
        pytest.raises(IntegrityError, match="checker_is_not_maker"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE loans_approvalrequest SET checker = maker, status = 'approved', "
            "decided_at = now() WHERE id = %s",
            [request.pk],
        )
    assert ApprovalRequest.objects.get(pk=request.pk).checker is None


def test_two_pending_write_offs_on_one_loan_are_refused(four_eyes, active_loan, staff_a):
    four_eyes()
    first = _submit_write_off(active_loan, staff_a)
    with refused(f"already waiting for approval (request #{first.pk})"):
        _submit_write_off(active_loan, staff_a, amount=2_000_000)
    assert ApprovalRequest.objects.count() == 1


def test_the_partial_unique_index_backs_the_check(four_eyes, active_loan, staff_a):
    four_eyes()
    first = _submit_write_off(active_loan, staff_a)
    with pytest.raises(IntegrityError, match="one_pending_request"), transaction.atomic():
        ApprovalRequest.objects.create(
            office=first.office, operation="write-off", subject=first.subject, maker=staff_a
        )
    # Once decided, the same operation may be asked again.
    approvals.withdraw(first.pk, staff_a)
    assert _submit_write_off(active_loan, staff_a).status == Status.PENDING


def test_an_approval_that_no_longer_fits_the_book_posts_nothing(
    four_eyes, active_loan, staff_a, manager_a
):
    four_eyes()
    request = _submit_write_off(active_loan, staff_a, amount=50_000_000)
    # Meanwhile the borrower repaid most of the principal (not held: dated today, no switch).
    services.loan_repay_principal(
        loan=active_loan, amount=45_000_000, value_date=BUSINESS_DATE, user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    with refused("5.000.000"):
        approvals.approve(request.pk, manager_a)
    request.refresh_from_db()
    assert request.status == Status.PENDING and request.checker is None
    assert not active_loan.transactions.filter(kind="write_off").exists()


def test_a_lower_amount_is_posted_and_recorded(four_eyes, active_loan, staff_a, manager_a):
    four_eyes()
    request = _submit_write_off(active_loan, staff_a, amount=10_000_000)
    approvals.approve(request.pk, manager_a, amount=4_000_000)
    request.refresh_from_db()
    assert (request.amount, request.approved_amount) == (10_000_000, 4_000_000)
    entry = active_loan.transactions.get(kind="write_off")
    assert entry.amount == 4_000_000 and request.entry == entry
    assert entry.approved_by == manager_a and entry.posted_by == staff_a
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 46_000_000


@pytest.mark.parametrize("amount", [10_000_001, 0, -5])
def test_an_amount_outside_what_was_applied_for_is_refused(
    four_eyes, active_loan, staff_a, manager_a, amount
):
    four_eyes()
    request = _submit_write_off(active_loan, staff_a, amount=10_000_000)
    with refused("at most the 10.000.000", field="amount"):
        approvals.approve(request.pk, manager_a, amount=amount)
    assert ApprovalRequest.objects.get(pk=request.pk).status == Status.PENDING


def test_an_operation_without_an_amount_cannot_be_lowered(
    four_eyes, active_loan, staff_a, manager_a
):
    four_eyes()
    outcome = approvals.perform(
        "extend", loan=active_loan, user=staff_a, instalment=active_loan.instalments.get(seq=1),
        new_due_date=D(2022, 1, 15), value_date=BUSINESS_DATE, idempotency_key=key(), note="",
    )  # fmt: skip
    with refused("no amount", field="amount"):
        approvals.approve(outcome.request.pk, manager_a, amount=1)


def test_reject_needs_a_reason(four_eyes, active_loan, staff_a, manager_a):
    four_eyes()
    request = _submit_write_off(active_loan, staff_a)
    with refused("reason", field="reason"):
        approvals.reject(request.pk, manager_a, "   ")
    with refused("at most 500", field="reason"):
        approvals.reject(request.pk, manager_a, "x" * 501)
    with pytest.raises(PermissionDenied):
        approvals.reject(request.pk, staff_a, "my own")
    approvals.reject(request.pk, manager_a, "Thiếu hồ sơ  xác nhận")
    request.refresh_from_db()
    assert request.status == Status.REJECTED and request.checker == manager_a
    assert request.reason == "Thiếu hồ sơ xác nhận" and request.decided_at is not None
    assert not active_loan.transactions.filter(kind="write_off").exists()
    with refused("already"):
        approvals.approve(request.pk, manager_a)


def test_only_the_maker_withdraws(four_eyes, active_loan, staff_a, manager_a):
    four_eyes()
    request = _submit_write_off(active_loan, staff_a)
    with pytest.raises(PermissionDenied):
        approvals.withdraw(request.pk, manager_a)
    approvals.withdraw(request.pk, staff_a)
    request.refresh_from_db()
    assert request.status == Status.WITHDRAWN and request.checker is None
    with refused("already"):
        approvals.withdraw(request.pk, staff_a)
    with refused("already"):
        approvals.approve(request.pk, manager_a)


def test_an_auditor_and_staff_are_not_checkers(
    four_eyes, active_loan, staff_a, auditor_a, manager_a
):
    four_eyes()
    request = _submit_write_off(active_loan, manager_a)
    other_staff = _member(active_loan.office, "staff2_a", "staff")
    for user in (auditor_a, other_staff):
        with pytest.raises(PermissionDenied):
            approvals.approve(request.pk, user)
    # A policy that names staff as checkers lets another staff member approve.
    four_eyes(checker_role="staff")
    approvals.approve(request.pk, other_staff)
    assert active_loan.transactions.get(kind="write_off").approved_by == other_staff


def test_a_policy_with_the_operation_off_posts_at_once(four_eyes, active_loan, staff_a):
    four_eyes(write_off=False)
    outcome = approvals.perform(
        "write-off", loan=active_loan, user=staff_a, amount=1_000_000, value_date=BUSINESS_DATE,
        idempotency_key=key(), note="QĐ 1",
    )  # fmt: skip
    assert outcome.request is None
    assert outcome.result.kind == "write_off" and outcome.result.approved_by is None
    assert not ApprovalRequest.objects.exists()


def test_a_recent_entry_and_a_small_disbursement_are_not_held(four_eyes, office_a):
    four_eyes()
    assert approvals.held_because(office_a, "repay", amount=1, value_date=D(2021, 6, 8)) is None
    with translation.override("en"):  # the reasons are worded in the active language
        reason = approvals.held_because(office_a, "repay", amount=1, value_date=D(2021, 6, 7))
    assert "8 days" in reason
    assert approvals.held_because(office_a, "disburse", amount=100_000_000) is None
    assert "100.000.000" in approvals.held_because(office_a, "disburse", amount=100_000_001)


def test_an_office_without_a_policy_gets_the_defaults(office_a):
    FourEyesPolicy.objects.filter(office=office_a).delete()
    policy = approvals.policy_for(office_a)
    assert policy.pk and policy.write_off and policy.backdated_days == 7
    assert policy.disbursement_above == 100_000_000 and policy.checker_role == "manager"


@pytest.mark.parametrize(
    "field, value",
    [("backdated_days", 367), ("disbursement_above", 0), ("checker_role", "auditor")],
)
def test_the_policy_fields_are_bounded(office_a, field, value):
    policy = approvals.policy_for(office_a)
    setattr(policy, field, value)
    with pytest.raises(ValidationError) as e:
        policy.full_clean()
    assert field in e.value.message_dict


def test_the_payload_is_json_and_comes_back(active_loan, household_b):
    kwargs = {
        "loan": active_loan,
        "to_office": household_b.office,
        "to_village": household_b.village,
        "to_group": None,
        "value_date": BUSINESS_DATE,
        "idempotency_key": "k",
        "note": "2021-06-01",  # a note that looks like a date stays a string
    }
    payload = approvals.to_payload(kwargs)
    assert payload["value_date"] == "2021-06-15" and payload["loan"] == active_loan.pk
    assert approvals.from_payload(services.loan_transfer, payload) == kwargs


def test_the_request_s_history_names_who_acted(four_eyes, active_loan, staff_a, manager_a):
    four_eyes()
    request = _submit_write_off(active_loan, staff_a)
    approvals.approve(request.pk, manager_a, amount=5_000_000)
    events = list(request.events.order_by("pgh_id").select_related("pgh_context"))
    assert [(e.pgh_label, e.status) for e in events] == [
        ("insert", "pending"),
        ("update", "approved"),
    ]
    assert events[0].pgh_context.metadata["user"] == staff_a.pk
    assert events[1].pgh_context.metadata["user"] == manager_a.pk
    assert events[1].approved_amount == 5_000_000
