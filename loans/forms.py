"""Forms for loan operations. Amounts are typed the Vietnamese way (1.500.000) and parsed by one
field class, VNDField; every posting form carries a hidden idempotency key."""

import re
import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from borrowers.forms import BootstrapMixin, DateField, GroupChoiceField
from borrowers.models import Office, SavingsGroup, Village
from branch_portal.templatetags.money import group_thousands

from .models import Instalment, Programme

_GROUPED_DOTS = re.compile(r"^\d{1,3}(\.\d{3})+$")
_GROUPED_COMMAS = re.compile(r"^\d{1,3}(,\d{3})+$")


def parse_vnd(text: str) -> int:
    """'1.500.000', '1,500,000', '1 500 000 ₫' or '1500000' → 1500000.

    VND has no minor unit, so anything that looks like a decimal is refused rather than guessed.
    """
    raw = text.strip().replace("₫", "").replace("đ", "").replace("VND", "").strip()
    raw = raw.replace(" ", "").replace("\u00a0", "")
    if raw.startswith("-"):
        raise forms.ValidationError(_("The amount must be positive."), code="negative")
    if raw.isdigit():
        return int(raw)
    if _GROUPED_DOTS.match(raw):
        return int(raw.replace(".", ""))
    if _GROUPED_COMMAS.match(raw):
        return int(raw.replace(",", ""))
    if re.match(r"^\d+([.,]\d+)+$", raw):
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
    term_months = forms.IntegerField(label=_("Term (months)"), min_value=1, max_value=600)
    applied_on = DateField(label=_("Applied on"))
    group = GroupChoiceField(
        label=_("Savings and loan group"), queryset=SavingsGroup.objects.none(), required=False
    )
    purpose = forms.CharField(label=_("Purpose"), max_length=500, required=False)
    workers_employed = forms.IntegerField(
        label=_("Workers employed"),
        min_value=0,
        initial=0,
        required=False,
        help_text=_("Job-creation loans: the cap is per worker employed."),
    )
    works_built = forms.IntegerField(
        label=_("Works built"),
        min_value=0,
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
