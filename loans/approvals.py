"""Maker-checker (four eyes): the office's policy says which operations need a second person;
such an operation becomes a pending ApprovalRequest holding its validated payload, and a checker
approves it (posted then by the same service, validated again), rejects it or its maker
withdraws it (docs/decisions/0012-maker-checker.md).

The policy is checked in one place, `gate()`, which every gated service calls once its own checks
have passed and before it writes: without an approval that covers it, a held operation raises
`Held` and nothing posts, whoever calls the service (a view, a command, the shell). `perform()`
is the way in for a user: it runs the service, and turns `Held` into a request.

Operations are registered here by name with the service that executes them (`register`): loans
registers its own and the citizen-ID change (loans.apps), reports the month reopen
(reports.apps), so this module imports neither borrowers' nor reports' services.
"""

import datetime as dt
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from borrowers.access import access_for
from borrowers.models import Household, Office
from branch_portal.roles import Role
from branch_portal.templatetags.money import group_thousands

from . import batch
from .models import ApprovalRequest, FourEyesPolicy, Loan, LoanTransaction

Status = ApprovalRequest.Status

# The longest reason a checker may give for a rejection (the column's length).
MAX_REASON = ApprovalRequest._meta.get_field("reason").max_length
MAX_HELD_BECAUSE = ApprovalRequest._meta.get_field("held_because").max_length

# Operations held by a switch of the policy, by the operation's code: the policy's field and
# the reason the request shows.
SWITCHES: dict[str, tuple[str, Any]] = {
    "write-off": ("write_off", gettext_lazy("a write-off")),
    "freeze": ("freeze", gettext_lazy("a freeze")),
    "unfreeze": ("unfreeze", gettext_lazy("an unfreeze")),
    "reversal": ("reversal", gettext_lazy("a reversal")),
    "transfer": ("transfer", gettext_lazy("a transfer to another office")),
    "extend": ("extension", gettext_lazy("an extension")),
    "month_reopen": ("month_reopen", gettext_lazy("a month reopen")),
    "citizen_id": ("citizen_id", gettext_lazy("a citizen-ID change")),
}
# Operations on the ledger: an entry dated far back is held whatever its kind.
LEDGER_OPERATIONS = {
    "disburse",
    "repay",
    "interest",
    "extend",
    "freeze",
    "unfreeze",
    "write-off",
    "transfer",
    "reversal",
}
# Operations whose amount a checker may lower.
AMOUNT_OPERATIONS = {"disburse", "repay", "interest", "freeze", "unfreeze", "write-off"}


class Held(Exception):
    """Raised by gate(): the policy holds the operation and no approval covers it. Raised inside
    the service's transaction, so whatever it wrote before is rolled back."""

    def __init__(self, *, office, operation, subject, reason, amount, loan, household):
        super().__init__(reason)
        self.office, self.operation, self.subject = office, operation, subject
        self.reason, self.amount, self.loan, self.household = reason, amount, loan, household


# --- the policy ----------------------------------------------------------------------------------


def policy_for(office: Office) -> FourEyesPolicy:
    """The office's policy; made with the defaults when it has none. Read once in a batch."""

    def read() -> FourEyesPolicy:
        policy, _created = FourEyesPolicy.objects.get_or_create(office_id=office.pk)
        return policy

    return batch.once(("four_eyes_policy", office.pk), read)


def held_because(
    office: Office,
    operation: str,
    *,
    amount: int | None = None,
    value_date: dt.date | None = None,
) -> str | None:
    """Why the office's policy holds the operation, in words; None when it does not."""
    policy = policy_for(office)
    reasons = []
    switch = SWITCHES.get(operation)
    if switch is not None and getattr(policy, switch[0]):
        reasons.append(str(switch[1]))
    large = amount is not None and amount > policy.disbursement_above
    if operation == "disburse" and policy.large_disbursement and large:
        reasons.append(
            _("a disbursement above %(max)s đồng")
            % {"max": group_thousands(policy.disbursement_above)}
        )
    if operation in LEDGER_OPERATIONS and policy.backdated and value_date is not None:
        days = (Office.objects.get(pk=office.pk).business_date - value_date).days
        if days > policy.backdated_days:
            reasons.append(_("dated %(n)s days before the business date") % {"n": days})
    if not reasons:
        return None
    return "; ".join(reasons)[:MAX_HELD_BECAUSE]


def may_check(user, office: Office) -> bool:
    """The user holds the policy's checker role in the office (superusers act as managers)."""
    role = access_for(user).role_in(office)
    if policy_for(office).checker_role == "staff":
        return role in (Role.STAFF, Role.MANAGER)
    return role == Role.MANAGER


def gate(
    *,
    office: Office,
    operation: str,
    subject: str,
    approval: ApprovalRequest | None,
    amount: int | None = None,
    value_date: dt.date | None = None,
    loan: Loan | None = None,
    household: Household | None = None,
):
    """The check every gated service makes before it writes. Returns the checker to record on
    the entries (approved_by), or None when the policy does not hold the operation; raises Held
    when it does and `approval` does not cover it.

    An approval covers it when it is the pending request of this operation and subject, locked
    by approve() in this transaction, with a checker who is not its maker; its lower amount is
    then the amount posted."""
    if approval is not None:
        current = (
            ApprovalRequest.objects.filter(
                pk=approval.pk,
                status=Status.PENDING,
                operation=operation,
                subject=subject,
                office_id=office.pk,
            )
            .only("maker_id")
            .first()
        )
        checker = approval.checker
        if current is None or checker is None or checker.pk == current.maker_id:
            raise PermissionDenied(_("This approval does not cover the operation."))
        if approval.amount is not None and amount is not None and amount > approval.amount:
            raise PermissionDenied(_("The amount is above the amount applied for."))
        return checker
    reason = held_because(office, operation, amount=amount, value_date=value_date)
    if reason is None:
        return None
    raise Held(
        office=office,
        operation=operation,
        subject=subject,
        reason=reason,
        amount=amount if operation in AMOUNT_OPERATIONS else None,
        loan=loan,
        household=household,
    )


def loan_subject(loan: Loan | int) -> str:
    return f"loan:{loan.pk if isinstance(loan, Loan) else loan}"


def household_subject(household: Household) -> str:
    return f"household:{household.pk}"


def month_subject(month: dt.date) -> str:
    return f"month:{month:%Y-%m}"


# --- the operations and their payloads -----------------------------------------------------------


@dataclass(frozen=True)
class Executor:
    service: Callable[..., Any]
    title: Any


EXECUTORS: dict[str, Executor] = {}


def register(operation: str, service: Callable[..., Any], title) -> None:
    """Name the service that posts the operation (called from the apps' ready())."""
    EXECUTORS[operation] = Executor(service, title)


def operation_title(operation: str) -> str:
    executor = EXECUTORS.get(operation)
    return str(executor.title) if executor else operation


# Not part of the payload: the user is the maker's, the approval is added at approval.
_NOT_PAYLOAD = {"user", "approval"}


def to_payload(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments as JSON: a record by its id, a date as ISO, an amount as
    an int. Generic, so a field a form gains passes through untouched."""
    payload: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in _NOT_PAYLOAD:
            continue
        if isinstance(value, models.Model):
            payload[name] = value.pk
        elif isinstance(value, dt.date):
            payload[name] = value.isoformat()
        elif value is None or isinstance(value, str | int | bool):
            payload[name] = value
        else:
            payload[name] = str(value)
    return payload


def _hinted_types(hint) -> tuple:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def from_payload(service: Callable[..., Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments back from the payload, by the service's annotations:
    a model's id becomes the record (read now), an ISO string a date."""
    hints = typing.get_type_hints(service)
    kwargs: dict[str, Any] = {}
    for name, value in payload.items():
        if value is not None:
            for kind in _hinted_types(hints.get(name, Any)):
                if isinstance(kind, type) and issubclass(kind, models.Model):
                    value = kind._default_manager.get(pk=value)
                    break
                if kind is dt.date:
                    value = dt.date.fromisoformat(value)
                    break
        kwargs[name] = value
    return kwargs


# --- submitting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What perform() did: posted (`result`, the service's return) or held (`request`)."""

    result: Any = None
    request: ApprovalRequest | None = None


def _already_pending(held: Held) -> ValidationError:
    existing = ApprovalRequest.objects.filter(
        office_id=held.office.pk,
        subject=held.subject,
        operation=held.operation,
        status=Status.PENDING,
    ).first()
    number = f"#{existing.pk}" if existing else ""
    return ValidationError(
        _(
            "A request for this operation is already waiting for approval (request %(n)s): "
            "it must be decided or withdrawn first."
        )
        % {"n": number},
        code="already_pending",
    )


def perform(operation: str, *, user, **kwargs) -> Outcome:
    """Run the operation's service for the user: it validates exactly as it posts; when the
    policy holds it, it posts nothing and a pending request with the payload is made instead.
    A second pending request for the same subject and operation is refused."""
    executor = EXECUTORS[operation]
    try:
        with transaction.atomic():
            return Outcome(result=executor.service(user=user, **kwargs))
    except Held as held:
        return Outcome(request=_make_request(held, user=user, kwargs=kwargs))


def _make_request(held: Held, *, user, kwargs) -> ApprovalRequest:
    if ApprovalRequest.objects.filter(
        office_id=held.office.pk, subject=held.subject, operation=held.operation, status="pending"
    ).exists():
        raise _already_pending(held)
    try:
        with transaction.atomic(), pghistory.context(user=user.pk):
            return ApprovalRequest.objects.create(
                office_id=held.office.pk,
                operation=held.operation,
                subject=held.subject,
                loan=held.loan,
                household=held.household,
                payload=to_payload(kwargs),
                amount=held.amount,
                held_because=held.reason,
                maker=user,
            )
    except IntegrityError as e:
        # Two submissions at once: the partial unique index one_pending_request decides.
        if "one_pending_request" in str(e):
            raise _already_pending(held) from e
        raise


# --- deciding ------------------------------------------------------------------------------------


def _lock_pending(request_id: int) -> ApprovalRequest:
    request = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("office", "maker")
        .get(pk=request_id)
    )
    if request.status != Status.PENDING:
        raise ValidationError(
            _("This request is already %(status)s.") % {"status": request.get_status_display()},
            code="decided",
        )
    return request


def _check_checker(request: ApprovalRequest, checker) -> None:
    if checker.pk == request.maker_id:
        raise PermissionDenied(_("You submitted this request: another person must decide it."))
    if not may_check(checker, request.office):
        raise PermissionDenied(_("Only the office's checker role may decide this request."))


def approve(request_id: int, checker, amount: int | None = None) -> ApprovalRequest:
    """Approve and post: in one transaction the request is locked (still pending), the operation
    is validated again against the book by its own service and posted with the checker's name on
    every entry. A refusal (the book changed meanwhile) leaves the request pending. `amount`, if
    given, is a lower amount than applied for."""
    # The history of the request (and of the records the service changes) names the checker.
    with transaction.atomic(), pghistory.context(user=checker.pk, approval=request_id):
        request = _lock_pending(request_id)
        _check_checker(request, checker)
        executor = EXECUTORS[request.operation]
        kwargs = from_payload(executor.service, request.payload)
        if amount is not None:
            if request.amount is None:
                raise ValidationError(
                    {"amount": _("This operation has no amount to lower.")}, code="no_amount"
                )
            if not 0 < amount <= request.amount:
                raise ValidationError(
                    {
                        "amount": _("Approve at most the %(max)s đồng applied for.")
                        % {"max": group_thousands(request.amount)}
                    },
                    code="above_applied",
                )
            kwargs["amount"] = amount
        request.checker = checker
        result = executor.service(user=request.maker, approval=request, **kwargs)
        request.status = Status.APPROVED
        request.decided_at = timezone.now()
        if request.amount is not None:
            request.approved_amount = amount or request.amount
        if isinstance(result, LoanTransaction):
            request.entry = result
        request.save()
    return request


def reject(request_id: int, checker, reason: str) -> ApprovalRequest:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": _("Give the reason for the rejection.")}, code="required")
    if len(reason) > MAX_REASON:
        raise ValidationError(
            {"reason": _("The reason may be at most %(n)s characters.") % {"n": MAX_REASON}},
            code="too_long",
        )
    with transaction.atomic(), pghistory.context(user=checker.pk):
        request = _lock_pending(request_id)
        _check_checker(request, checker)
        request.status = Status.REJECTED
        request.checker = checker
        request.reason = reason
        request.decided_at = timezone.now()
        request.save()
    return request


def withdraw(request_id: int, user) -> ApprovalRequest:
    """The maker takes back a request still pending."""
    with transaction.atomic(), pghistory.context(user=user.pk):
        request = _lock_pending(request_id)
        if request.maker_id != user.pk:
            raise PermissionDenied(_("Only the person who submitted a request may withdraw it."))
        request.status = Status.WITHDRAWN
        request.decided_at = timezone.now()
        request.save()
    return request


def citizen_id_gate(*, household: Household, approval: ApprovalRequest | None):
    """borrowers.four_eyes.gate: the gate for a citizen-ID change."""
    return gate(
        office=household.office,
        operation="citizen_id",
        subject=household_subject(household),
        approval=approval,
        household=household,
    )
