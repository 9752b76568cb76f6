"""Loan pages: list, detail, application, approval and every ledger operation.

Each operation view looks the same: the scoped getter (write or manage), a form, one service
call, a redirect. Service ValidationErrors land on the form; PermissionDenied is a 403.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_filters.views import FilterView

from borrowers.access import PortalRequest
from borrowers.selectors import get_household_for_user, get_office_for_user
from borrowers.views import apply_errors
from branch_portal.pagination import TableListMixin, deferred_join
from branch_portal.roles import MANAGE_ROLES, WRITE_ROLES
from branch_portal.templatetags.money import vnd

from . import approvals, services
from .filters import ApprovalFilter, LoanFilter
from .forms import (
    AmountForm,
    ApproveForm,
    ApproveRequestForm,
    BusinessDateForm,
    DossierAmountForm,
    ExtensionForm,
    InterestForm,
    LoanApplyForm,
    NoteAmountForm,
    RejectRequestForm,
    ReversalForm,
    TransferForm,
    WriteOffForm,
)
from .models import ApprovalRequest, Loan, TransactionKind
from .selectors import (
    InterestDue,
    approvals_for_user,
    get_approval_for_user,
    get_entry_for_user,
    get_loan_for_user,
    interest_due_on,
    loan_rate_on,
    loans_for_user,
    pending_requests_for,
)
from .tables import ApprovalTable, LoanTable, subject_label


class LoanListView(LoginRequiredMixin, TableListMixin, FilterView):
    request: PortalRequest
    table_class = LoanTable
    filterset_class = LoanFilter
    template_name = "loans/loan_list.html"
    export_name = "loans"

    def get_queryset(self):
        return deferred_join(
            loans_for_user(self.request.user).select_related("household", "programme", "group")
        )


def interest_due_now(loan: Loan) -> InterestDue:
    """Interest from the date it was last paid to the business date, less the prepaid credit."""
    return interest_due_on(loan, loan.office.business_date)


@login_required
def loan_detail(request: PortalRequest, pk: int):
    loan = get_loan_for_user(request.user, pk)
    role = request.access.role_in(loan.office)
    interest = interest_due_now(loan)
    business_date = loan.office.business_date
    rule = loan_rate_on(loan, business_date)
    rate = None
    if rule is not None:
        rate = rule.preferential_rate if loan.preferential and rule.preferential_rate else None
        rate = (rate or rule.monthly_rate).normalize()
    return render(
        request,
        "loans/loan_detail.html",
        {
            "loan": loan,
            "can_write": role in WRITE_ROLES,
            "can_manage": role in MANAGE_ROLES,
            "rule": rule,
            "rate": rate,
            "instalments": loan.instalments.all(),
            "ledger": loan.transactions.select_related(
                "posted_by", "approved_by", "reverses", "reversed_by", "counterparty_office"
            ).order_by("value_date", "id"),
            "interest": interest,
            "interest_due": interest.payable,
            "interest_from": interest.since,
            "pending_requests": pending_requests_for(loan=loan),
            "operations": available_operations(loan),
            "transferred_to": Loan.objects.filter(transferred_from=loan).first(),
        },
    )


# --- applying and approving ----------------------------------------------------------------------


@login_required
def loan_apply(request: PortalRequest, household_pk: int):
    household = get_household_for_user(request.user, household_pk, write=True)
    form = LoanApplyForm(request.POST or None, household=household)
    if request.method == "POST" and form.is_valid():
        try:
            loan = services.loan_apply(household=household, user=request.user, **form.cleaned_data)
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(request, _("Application %(n)s recorded.") % {"n": loan.number})
            return redirect("loans:detail", pk=loan.pk)
    return render(
        request,
        "loans/operation_form.html",
        {
            "form": form,
            "household": household,
            "title": _("Loan application"),
            "submit": _("Record application"),
            "cancel_url": household_url(household),
        },
    )


def household_url(household) -> str:
    from django.urls import reverse

    return reverse("borrowers:detail", args=[household.pk])


@login_required
def loan_approve(request: PortalRequest, pk: int):
    loan = get_loan_for_user(request.user, pk, manage=True)
    form = ApproveForm(request.POST or None, initial={"approved_on": loan.office.business_date})
    if request.method == "POST" and form.is_valid():
        if loan.status == Loan.Status.APPROVED:  # a double-submitted approval
            return redirect("loans:detail", pk=loan.pk)
        try:
            services.loan_approve(
                loan=loan, user=request.user, approved_on=form.cleaned_data["approved_on"]
            )
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(request, _("Loan %(n)s approved.") % {"n": loan.number})
            return redirect("loans:detail", pk=loan.pk)
    return render(
        request,
        "loans/operation_form.html",
        {
            "form": form,
            "loan": loan,
            "title": _("Approve loan %(n)s") % {"n": loan.number},
            "submit": _("Approve"),
        },
    )


@login_required
@require_POST
def loan_reject(request: PortalRequest, pk: int):
    loan = get_loan_for_user(request.user, pk, manage=True)
    try:
        services.loan_reject(loan=loan, user=request.user)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(request, _("Application %(n)s rejected.") % {"n": loan.number})
    return redirect("loans:detail", pk=loan.pk)


# --- ledger operations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    slug: str
    title: Promise
    form_class: type
    service: Any
    # The loan statuses in which the operation is offered on the detail page.
    statuses: tuple[str, ...] = (Loan.Status.ACTIVE,)
    button: str = "btn-outline-primary"


OPERATIONS: dict[str, Operation] = {
    op.slug: op
    for op in [
        Operation(
            "disburse",
            gettext_lazy("Disbursement"),
            AmountForm,
            services.loan_disburse,
            statuses=(Loan.Status.APPROVED, Loan.Status.ACTIVE),
            button="btn-primary",
        ),
        Operation(
            "interest",
            gettext_lazy("Interest payment"),
            InterestForm,
            services.loan_pay_interest,
            statuses=(Loan.Status.ACTIVE, Loan.Status.SETTLED),
            button="btn-success",
        ),
        Operation(
            "repay",
            gettext_lazy("Principal repayment"),
            AmountForm,
            services.loan_repay_principal,
            button="btn-success",
        ),
        Operation("extend", gettext_lazy("Extension"), ExtensionForm, services.loan_extend),
        Operation("freeze", gettext_lazy("Freeze"), DossierAmountForm, services.loan_freeze),
        Operation("unfreeze", gettext_lazy("Unfreeze"), NoteAmountForm, services.loan_unfreeze),
        Operation(
            "write-off",
            gettext_lazy("Write-off"),
            WriteOffForm,
            services.loan_write_off,
            button="btn-outline-danger",
        ),
        Operation(
            "transfer",
            gettext_lazy("Transfer to another office"),
            TransferForm,
            services.loan_transfer,
        ),
    ]
}


def submitted(request: PortalRequest, approval) -> None:
    messages.success(
        request,
        _("Submitted for approval (request #%(n)s): %(why)s needs a second person.")
        % {"n": approval.pk, "why": approval.held_because},
    )


def available_operations(loan: Loan) -> list[Operation]:
    ops = []
    for op in OPERATIONS.values():
        if loan.status not in op.statuses:
            continue
        if op.slug == "disburse" and loan.disbursed >= loan.approved_amount:
            continue
        if op.slug == "unfreeze" and loan.frozen == 0:
            continue
        if op.slug == "extend" and not loan.instalments.exists():
            continue
        ops.append(op)
    return ops


def _initial_for(op: Operation, loan: Loan) -> dict:
    if op.slug == "disburse":
        return {"amount": loan.approved_amount - loan.disbursed}
    if op.slug == "interest":
        return {"amount": interest_due_now(loan).payable or None}
    if op.slug == "unfreeze":
        return {"amount": loan.frozen}
    return {}


@login_required
def loan_operation(request: PortalRequest, pk: int, op: str):
    operation = OPERATIONS.get(op)
    if operation is None:
        raise Http404
    loan = get_loan_for_user(request.user, pk, write=True)
    form = operation.form_class(
        request.POST or None, loan=loan, initial=_initial_for(operation, loan)
    )
    if request.method == "POST" and form.is_valid():
        try:
            outcome = approvals.perform(
                operation.slug, loan=loan, user=request.user, **form.service_kwargs()
            )
        except ValidationError as e:
            apply_errors(form, e)
        else:
            if outcome.request is not None:
                submitted(request, outcome.request)
                return redirect("loans:detail", pk=loan.pk)
            entry = outcome.result
            messages.success(
                request,
                _("%(kind)s of %(amount)s posted.")
                % {
                    "kind": entry.get_kind_display(),
                    "amount": vnd(entry.amount),
                },
            )
            return redirect("loans:detail", pk=loan.pk)
    extra = {}
    if operation.slug in ("interest", "write-off"):
        interest = interest_due_now(loan)
        extra.update(interest=interest, interest_due=interest.payable, interest_from=interest.since)
    return render(
        request,
        "loans/operation_form.html",
        {
            "form": form,
            "loan": loan,
            "operation": operation,
            "title": f"{operation.title}: {loan.number}",
            "submit": operation.title,
            **extra,
        },
    )


@login_required
def entry_reverse(request: PortalRequest, pk: int):
    entry = get_entry_for_user(request.user, pk, write=True)
    loan = get_loan_for_user(request.user, entry.loan_id, write=True)
    form = ReversalForm(request.POST or None, loan=loan)
    if request.method == "POST" and form.is_valid():
        try:
            outcome = approvals.perform(
                "reversal", entry=entry, user=request.user, **form.service_kwargs()
            )
        except ValidationError as e:
            apply_errors(form, e)
        else:
            if outcome.request is not None:
                submitted(request, outcome.request)
            else:
                messages.success(request, _("Entry reversed."))
            return redirect("loans:detail", pk=loan.pk)
    return render(
        request,
        "loans/operation_form.html",
        {
            "form": form,
            "loan": loan,
            "entry": entry,
            "title": _("Reverse an entry of %(n)s") % {"n": loan.number},
            "submit": _("Post the reversal"),
            "kinds": TransactionKind,
        },
    )


# The most days of end of day the form runs in the request (about a second for a few days of a
# large office); a longer catch-up is `manage.py end_of_day`, which prints each day.
END_OF_DAY_IN_REQUEST = 62


@login_required
@require_POST
def business_date(request: PortalRequest, code: str):
    """A manager moves the office's business date, and holds it or lets it follow the calendar.
    Forward, end of day runs for every day passed, here in the request."""
    office = get_office_for_user(request.user, code)
    form = BusinessDateForm(request.POST)
    if not form.is_valid():
        # The field's own reason (a date beyond 2100, say), or the generic one.
        reasons = form.errors.get("day") or [_("Enter a valid date.")]
        messages.error(request, " ".join(reasons))
        return redirect("home")
    day = form.cleaned_data["day"]
    days = (day - office.business_date).days
    if days > END_OF_DAY_IN_REQUEST:
        messages.error(
            request,
            _(
                "Moving the business date forward runs end of day for each day passed: this form "
                "runs at most %(max)s days, and %(n)s were asked. Run manage.py end_of_day "
                "--office %(o)s --through %(through)s."
            )
            % {
                "max": END_OF_DAY_IN_REQUEST,
                "n": days,
                "o": office.code,
                "through": (day - dt.timedelta(days=1)).isoformat(),
            },
        )
        return redirect("home")
    try:
        runs = services.office_set_business_date(
            office=office, day=day, hold=form.cleaned_data["hold"], user=request.user
        )
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        if runs:
            messages.success(
                request,
                _(
                    "Business date changed: end of day ran for %(days)s day(s) and posted "
                    "%(n)s transfer(s) to overdue."
                )
                % {"days": len(runs), "n": sum(run.entries_posted for run in runs)},
            )
        else:
            messages.success(request, _("Business date changed."))
    return redirect("home")


# --- maker-checker: the checker's queue and each request ----------------------------------------


class ApprovalListView(LoginRequiredMixin, TableListMixin, FilterView):
    request: PortalRequest
    table_class = ApprovalTable
    filterset_class = ApprovalFilter
    template_name = "loans/approval_list.html"
    export_name = "approval-requests"

    def get_queryset(self):
        return approvals_for_user(self.request.user).select_related(
            "maker", "checker", "loan__household", "household"
        )


def _payload_rows(approval: ApprovalRequest) -> list[tuple[str, str]]:
    """The payload as label and value, readably: records by name, dates d/m/Y, amounts in đồng."""
    executor = approvals.EXECUTORS.get(approval.operation)
    try:
        kwargs = approvals.from_payload(executor.service, approval.payload) if executor else {}
    except Exception:  # a record since gone: show the stored values
        kwargs = dict(approval.payload)
    rows = []
    # The amount shows as "applied for" (and "approved"); the subject and office above.
    skipped = {"idempotency_key", "loan", "household", "office"}
    if approval.amount is not None:
        skipped.add("amount")
    order = list(PAYLOAD_LABELS)
    for name, value in sorted(
        kwargs.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)
    ):
        if name in skipped:
            continue
        if isinstance(value, dt.date):
            shown = value.strftime("%d/%m/%Y")
        elif isinstance(value, bool):
            shown = _("yes") if value else _("no")
        elif isinstance(value, int) and name.endswith("amount"):
            shown = vnd(value)
        elif value in (None, ""):
            shown = "–"
        else:
            shown = str(value)
        rows.append((PAYLOAD_LABELS.get(name, name.replace("_", " ")), shown))
    return rows


PAYLOAD_LABELS = {
    "amount": gettext_lazy("Amount"),
    "value_date": gettext_lazy("Value date"),
    "note": gettext_lazy("Note"),
    "reference": gettext_lazy("Reference"),
    "instalment": gettext_lazy("Instalment"),
    "new_due_date": gettext_lazy("New due date"),
    "to_office": gettext_lazy("New office"),
    "to_village": gettext_lazy("Village in the new office"),
    "to_group": gettext_lazy("Group in the new office"),
    "entry": gettext_lazy("Entry reversed"),
    "new_citizen_id": gettext_lazy("New citizen ID"),
    "on": gettext_lazy("Effective on"),
    "month": gettext_lazy("Month"),
    "reason": gettext_lazy("Reason"),
}


def _decision_rights(request: PortalRequest, approval: ApprovalRequest) -> dict:
    pending = approval.status == ApprovalRequest.Status.PENDING
    is_maker = approval.maker_id == request.user.pk
    return {
        "can_decide": pending
        and not is_maker
        and approvals.may_check(request.user, approval.office),
        "can_withdraw": pending and is_maker,
        "is_maker": pending and is_maker,
    }


@login_required
def approval_detail(request: PortalRequest, pk: int, *, approve_form=None, reject_form=None):
    approval = get_approval_for_user(request.user, pk)
    return render(
        request,
        "loans/approval_detail.html",
        {
            "approval": approval,
            "title": approvals.operation_title(approval.operation),
            "subject": subject_label(approval),
            "rows": _payload_rows(approval),
            "approve_form": approve_form or ApproveRequestForm(applied=approval.amount),
            "reject_form": reject_form or RejectRequestForm(),
            "has_amount": approval.amount is not None,
            **_decision_rights(request, approval),
        },
    )


def _refusal(request: PortalRequest, error: ValidationError | PermissionDenied) -> None:
    said = error.messages if isinstance(error, ValidationError) else [str(error)]
    messages.error(request, " ".join(str(m) for m in said if m) or _("Refused."))


def _checker_scope(request: PortalRequest, pk: int, *, decide: bool = True) -> ApprovalRequest:
    """The request, 404 outside the user's offices; 403 for a user who may not write there, or
    to decide, who does not hold the office's checker role (the maker is refused by the
    service, with its message)."""
    approval = get_approval_for_user(request.user, pk)
    if not request.access.can_write(approval.office):
        raise PermissionDenied
    if decide and not approvals.may_check(request.user, approval.office):
        raise PermissionDenied
    return approval


@login_required
@require_POST
def approval_approve(request: PortalRequest, pk: int):
    approval = _checker_scope(request, pk)
    form = ApproveRequestForm(request.POST)
    if not form.is_valid():
        return approval_detail(request, pk, approve_form=form)
    try:
        approvals.approve(approval.pk, request.user, amount=form.cleaned_data["amount"])
    except (ValidationError, PermissionDenied) as e:
        _refusal(request, e)
    else:
        messages.success(request, _("Request #%(n)s approved and posted.") % {"n": approval.pk})
    return redirect("loans:approval", pk=approval.pk)


@login_required
@require_POST
def approval_reject(request: PortalRequest, pk: int):
    approval = _checker_scope(request, pk)
    form = RejectRequestForm(request.POST)
    if not form.is_valid():
        return approval_detail(request, pk, reject_form=form)
    try:
        approvals.reject(approval.pk, request.user, form.cleaned_data["reason"])
    except (ValidationError, PermissionDenied) as e:
        _refusal(request, e)
    else:
        messages.success(request, _("Request #%(n)s rejected.") % {"n": approval.pk})
    return redirect("loans:approval", pk=approval.pk)


@login_required
@require_POST
def approval_withdraw(request: PortalRequest, pk: int):
    approval = _checker_scope(request, pk, decide=False)
    try:
        approvals.withdraw(approval.pk, request.user)
    except (ValidationError, PermissionDenied) as e:
        _refusal(request, e)
    else:
        messages.success(request, _("Request #%(n)s withdrawn.") % {"n": approval.pk})
    return redirect("loans:approval", pk=approval.pk)
