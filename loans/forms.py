"""Forms for loan operations. Amounts are typed the Vietnamese way (1.500.000) and parsed by one
field class, VNDField; every posting form carries a hidden idempotency key."""

import re
import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from borrowers.forms import BootstrapMixin, DateField, GroupChoiceField
from borrowers.models import Office, SavingsGroup, Village
from branch_portal.templatetags.money import group_thousands

from .models import (
    MAX_TERM_MONTHS,
    MAX_WORKERS_EMPLOYED,
    MAX_WORKS_BUILT,
    Instalment,
    Programme,
)
from .money import MAX_AMOUNT

# ASCII digits only: str.isdigit() and \d also take full-width (１０００), Arabic-Indic (٣٠٠٠),
# superscript (²) and circled (①) digits, which posted as amounts or broke int().
_PLAIN = re.compile(r"[0-9]+", re.ASCII)
_GROUPED_DOTS = re.compile(r"[0-9]{1,3}(\.[0-9]{3})+", re.ASCII)
_GROUPED_COMMAS = re.compile(r"[0-9]{1,3}(,[0-9]{3})+", re.ASCII)
_DECIMAL = re.compile(r"[0-9]+([.,][0-9]+)+", re.ASCII)
# Spaces a typed or pasted amount may be grouped with: space, no-break and narrow no-break.
_SPACES = str.maketrans("", "", " \u00a0\u202f")


def _too_large() -> forms.ValidationError:
    return forms.ValidationError(
        _("The amount may be at most %(max)s đồng.") % {"max": group_thousands(MAX_AMOUNT)},
        code="too_large",
    )


def parse_vnd(text: str) -> int:
    """'1.500.000', '1,500,000', '1 500 000 ₫' or '1500000' → 1500000.

    VND has no minor unit, so anything that looks like a decimal is refused rather than guessed.
    """
    raw = text.strip().replace("₫", "").replace("đ", "").replace("VND", "").strip()
    raw = raw.translate(_SPACES)
    if raw.startswith("-"):
        raise forms.ValidationError(_("The amount must be positive."), code="negative")
    if _PLAIN.fullmatch(raw) or _GROUPED_DOTS.fullmatch(raw) or _GROUPED_COMMAS.fullmatch(raw):
        digits = raw.replace(".", "").replace(",", "").lstrip("0")
        # Beyond MAX_AMOUNT's digits the number is too large whatever it says, and int() of
        # thousands of digits is slow or refused (a ValueError past 4300 digits).
        if len(digits) > len(str(MAX_AMOUNT)):
            raise _too_large()
        return int(digits or "0")
    if _DECIMAL.fullmatch(raw):
        raise forms.ValidationError(
            _("Enter whole đồng without decimals, grouped by dots: 1.500.000."),
            code="decimal",
        )
    raise forms.ValidationError(
        _("Enter an amount in đồng, for example 1.500.000."), code="invalid"
    )


class VNDField(forms.Field):
    """An amount of VND: accepts 1.500.000, returns the int 1500000; refuses decimals,
    negatives and zero."""

    widget = forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"})

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        return parse_vnd(str(value))

    def validate(self, value):
        super().validate(value)
        if value is not None and value <= 0:
            raise forms.ValidationError(_("The amount must be positive."), code="not_positive")
        if value is not None and value > MAX_AMOUNT:
            raise _too_large()

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return group_thousands(value)
        return value

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.setdefault("placeholder", "1.500.000")
        return attrs


class PostingForm(BootstrapMixin, forms.Form):
    """Every ledger posting: a value date (the business date by default) and a hidden key that
    makes a double-submitted form post once."""

    value_date = DateField(label=_("Value date"))
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, loan, **kwargs):
        self.loan = loan
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("value_date", loan.office.business_date)
        initial.setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)

    def clean_value_date(self):
        # The services' rule, shown before posting: nothing is dated after the business date.
        day = self.cleaned_data["value_date"]
        business_date = self.loan.office.business_date
        if day > business_date:
            raise forms.ValidationError(
                _("The value date is after the business date %(d)s.")
                % {"d": business_date.strftime("%d/%m/%Y")},
                code="after_business_date",
            )
        return day

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        return data


class AmountForm(PostingForm):
    amount = VNDField(label=_("Amount (VND)"))
    reference = forms.CharField(
        label=_("Reference"),
        max_length=100,
        required=False,
        help_text=_("Receipt or voucher number, if any."),
    )
    field_order = ["amount", "value_date", "reference"]


class InterestForm(AmountForm):
    prepayment = forms.BooleanField(
        label=_("Prepayment"),
        required=False,
        help_text=_(
            "Tick to accept more than the interest due: the excess is kept as a credit and used "
            "by the next interest due."
        ),
    )
    field_order = ["amount", "prepayment", "value_date", "reference"]


class NoteAmountForm(PostingForm):
    amount = VNDField(label=_("Amount (VND)"))
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    field_order = ["amount", "value_date", "note"]


class DossierAmountForm(NoteAmountForm):
    note = forms.CharField(
        label=_("Approved dossier"),
        max_length=500,
        help_text=_("Decision number and the objective risk (death, disaster, epidemic)."),
    )


class WriteOffForm(DossierAmountForm):
    amount = VNDField(label=_("Principal written off (VND)"))
    interest = VNDField(
        label=_("Interest written off (VND)"),
        required=False,
        help_text=_("At most the interest due at the value date; leave empty to write off none."),
    )
    field_order = ["amount", "interest", "value_date", "note"]


class ExtensionForm(PostingForm):
    instalment = forms.ModelChoiceField(label=_("Instalment"), queryset=Instalment.objects.none())
    new_due_date = DateField(label=_("New due date"))
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    field_order = ["instalment", "new_due_date", "value_date", "note"]

    def __init__(self, *args, loan, **kwargs):
        super().__init__(*args, loan=loan, **kwargs)
        field = self.fields["instalment"]
        field.queryset = loan.instalments.all()
        field.label_from_instance = lambda i: (
            _("No. %(seq)s: %(amount)s due %(date)s")
            % {
                "seq": i.seq,
                "amount": group_thousands(i.principal) + " ₫",
                "date": i.effective_due_date.strftime("%d/%m/%Y"),
            }
        )


class TargetVillageField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Village) -> str:
        return f"{obj.office.name}: {obj.name} – {obj.commune.name}"


class TransferForm(PostingForm):
    to_village = TargetVillageField(
        label=_("Village in the new office"), queryset=Village.objects.none()
    )
    to_group = GroupChoiceField(
        label=_("Group in the new office"), queryset=SavingsGroup.objects.none(), required=False
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    field_order = ["to_village", "to_group", "value_date", "note"]

    def __init__(self, *args, loan, **kwargs):
        super().__init__(*args, loan=loan, **kwargs)
        others = Office.objects.exclude(pk=loan.office_id)
        self.fields["to_village"].queryset = Village.objects.filter(
            office__in=others
        ).select_related("office", "commune")
        self.fields["to_group"].queryset = SavingsGroup.objects.filter(
            office__in=others, dissolved_on__isnull=True
        ).select_related("village")

    def service_kwargs(self) -> dict:
        data = super().service_kwargs()
        data["to_office"] = data["to_village"].office
        return data


class ReversalForm(PostingForm):
    note = forms.CharField(label=_("Reason"), max_length=500)


class BusinessDateForm(BootstrapMixin, forms.Form):
    day = DateField(label=_("Business date"))
    hold = forms.BooleanField(
        label=_("Hold this date (do not follow the calendar)"), required=False
    )


class ApproveForm(BootstrapMixin, forms.Form):
    approved_on = DateField(label=_("Approved on"))


class LoanApplyForm(BootstrapMixin, forms.Form):
    programme = forms.ModelChoiceField(
        label=_("Credit programme"), queryset=Programme.objects.all()
    )
    amount = VNDField(label=_("Amount (VND)"))
    term_months = forms.IntegerField(
        label=_("Term (months)"), min_value=1, max_value=MAX_TERM_MONTHS
    )
    applied_on = DateField(label=_("Applied on"))
    group = GroupChoiceField(
        label=_("Savings and loan group"), queryset=SavingsGroup.objects.none(), required=False
    )
    purpose = forms.CharField(label=_("Purpose"), max_length=500, required=False)
    workers_employed = forms.IntegerField(
        label=_("Workers employed"),
        min_value=0,
        max_value=MAX_WORKERS_EMPLOYED,
        initial=0,
        required=False,
        help_text=_("Job-creation loans: the cap is per worker employed."),
    )
    works_built = forms.IntegerField(
        label=_("Works built"),
        min_value=0,
        max_value=MAX_WORKS_BUILT,
        initial=0,
        required=False,
        help_text=_("Clean water and sanitation loans: the cap is per work built."),
    )
    preferential = forms.BooleanField(label=_("Preferential rate"), required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, household, **kwargs):
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("applied_on", household.office.business_date)
        initial.setdefault("group", household.group_id)
        initial.setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = SavingsGroup.objects.filter(
            office=household.office
        ).select_related("village")

    def clean(self):
        data = super().clean()
        data["workers_employed"] = data.get("workers_employed") or 0
        data["works_built"] = data.get("works_built") or 0
        return data


class ApproveRequestForm(BootstrapMixin, forms.Form):
    amount = VNDField(
        label=_("Approve a lower amount (VND)"),
        required=False,
        help_text=_("Leave empty to approve the amount applied for."),
    )

    def __init__(self, *args, applied: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # The amount applied for as the hint, not an example amount that looks like a value.
        placeholder = group_thousands(applied) if applied else ""
        self.fields["amount"].widget.attrs["placeholder"] = placeholder


class RejectRequestForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(
        label=_("Reason for the rejection"),
        max_length=500,
        error_messages={"required": _("Give the reason for the rejection.")},
    )
