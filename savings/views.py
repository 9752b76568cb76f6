"""Savings pages: a household's savings ledger, and the deposit, withdrawal and loan-payment
forms. Each posting view: the scoped getter (write), a form, one service, a redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from borrowers.access import PortalRequest
from borrowers.selectors import get_household_for_user
from borrowers.views import apply_errors
from branch_portal.pagination import paginate_table
from branch_portal.templatetags.money import vnd
from loans import approvals
from loans.selectors import get_loan_for_user

from . import services
from .forms import PayLoanForm, SavingsAmountForm
from .models import SavingsTransaction
from .selectors import entries_of, get_household_savings_for_user
from .tables import SavingsEntryTable


@login_required
def savings_ledger(request: PortalRequest, household_pk: int):
    household = get_household_for_user(request.user, household_pk)
    account = get_household_savings_for_user(request.user, household)
    entries = entries_of(account) if account else SavingsTransaction.objects.none()
    table = paginate_table(request, SavingsEntryTable(entries), per_page=25)
    return render(
        request,
        "savings/ledger.html",
        {
            "household": household,
            "account": account,
            "table": table,
            "can_write": request.access.can_write(household.office),
        },
    )


# slug → (title, service): a new cash posting is a row, not a view.
POSTINGS = {
    "deposit": (gettext_lazy("Savings deposit"), services.savings_deposit),
    "withdraw": (gettext_lazy("Savings withdrawal"), services.savings_withdraw),
}


@login_required
def savings_posting(request: PortalRequest, household_pk: int, op: str):
    title, service = POSTINGS[op]
    household = get_household_for_user(request.user, household_pk, write=True)
    form = SavingsAmountForm(request.POST or None, office=household.office)
    if request.method == "POST" and form.is_valid():
        try:
            entry = service(household=household, user=request.user, **form.cleaned_data)
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(
                request,
                _("%(kind)s of %(amount)s posted.")
                % {"kind": entry.get_kind_display(), "amount": vnd(entry.amount)},
            )
            return redirect("savings:ledger", household_pk=household.pk)
    account = get_household_savings_for_user(request.user, household)
    return render(
        request,
        "savings/posting_form.html",
        {
            "form": form,
            "household": household,
            "account": account,
            "title": title,
            "submit": title,
        },
    )


@login_required
def savings_pay_loan(request: PortalRequest, pk: int):
    loan = get_loan_for_user(request.user, pk, write=True)
    household = loan.household
    form = PayLoanForm(request.POST or None, office=loan.office)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entries = services.savings_pay_loan(
                loan=loan,
                interest=data["interest"] or 0,
                principal=data["principal"] or 0,
                value_date=data["value_date"],
                user=request.user,
                idempotency_key=data["idempotency_key"],
                reference=data["reference"],
            )
        except ValidationError as e:
            apply_errors(form, e)
        except approvals.Held as held:
            # Savings have no approval path of their own: the loan's operation, held for a
            # second person, is entered on the loan (maker-checker) and paid in cash.
            form.add_error(
                None,
                _(
                    "The office's four-eyes policy holds this payment (%(why)s): a payment "
                    "from savings cannot wait for a second person. Post it on the loan."
                )
                % {"why": held.reason},
            )
        else:
            messages.success(
                request,
                _("%(amount)s paid from savings to loan %(n)s.")
                % {"amount": vnd(sum(e.amount for e in entries)), "n": loan.number},
            )
            return redirect("loans:detail", pk=loan.pk)
    return render(
        request,
        "savings/posting_form.html",
        {
            "form": form,
            "household": household,
            "loan": loan,
            "account": get_household_savings_for_user(request.user, household),
            "title": _("Pay from savings: %(n)s") % {"n": loan.number},
            "submit": _("Pay from savings"),
            "cancel_url": reverse("loans:detail", args=[loan.pk]),
        },
    )
