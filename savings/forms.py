"""Forms for savings postings: amounts typed the Vietnamese way (loans' VNDField), a value date
(the business date by default) and a hidden idempotency key."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from borrowers.forms import BootstrapMixin, DateField
from loans.forms import VNDField


class SavingsPostingForm(BootstrapMixin, forms.Form):
    value_date = DateField(label=_("Value date"))
    reference = forms.CharField(
        label=_("Receipt number"),
        max_length=100,
        required=False,
        help_text=_("The member's receipt (01/BL) or the group list's number, if any."),
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, office, **kwargs):
        self.office = office
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("value_date", office.business_date)
        initial.setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)

    def clean_value_date(self):
        # The services' rule, shown before posting: nothing is dated after the business date.
        day = self.cleaned_data["value_date"]
        if day > self.office.business_date:
            raise forms.ValidationError(
                _("The value date is after the business date %(d)s.")
                % {"d": self.office.business_date.strftime("%d/%m/%Y")},
                code="after_business_date",
            )
        return day


class SavingsAmountForm(SavingsPostingForm):
    amount = VNDField(label=_("Amount (VND)"))
    field_order = ["amount", "value_date", "reference"]


class PayLoanForm(SavingsPostingForm):
    interest = VNDField(label=_("Interest paid from savings (VND)"), required=False)
    principal = VNDField(label=_("Principal repaid from savings (VND)"), required=False)
    field_order = ["interest", "principal", "value_date", "reference"]

    def clean(self):
        data = super().clean()
        if not data.get("interest") and not data.get("principal") and not self.errors:
            raise forms.ValidationError(
                _("Enter the interest or the principal to pay from savings."), code="empty"
            )
        return data
