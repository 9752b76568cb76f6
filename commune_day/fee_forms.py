"""Forms of the fee pages: the statement's office and month, and a new dated rate."""

import datetime as dt
import re
import uuid
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from borrowers.forms import BootstrapMixin
from borrowers.models import Office, Organisation
from loans.forms import VNDField
from reports.periods import previous_month

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})(-01)?", re.ASCII)
FIRST_MONTH = dt.date(1990, 1, 1)


def parse_month(text: str) -> dt.date:
    """'2021-05' (or '2021-05-01', what a month picker may send) → 1 May 2021."""
    match = _MONTH.fullmatch((text or "").strip())
    month = int(match.group(2)) if match else 0
    if not match or not 1 <= month <= 12:
        raise ValidationError(
            _("Enter a month as YYYY-MM, for example 2021-05."), code="invalid_month"
        )
    year = int(match.group(1))  # type: ignore[union-attr]
    if year < FIRST_MONTH.year:
        raise ValidationError(
            _("Enter a month from %(first)s on.") % {"first": f"{FIRST_MONTH:%m/%Y}"},
            code="month_range",
        )
    return dt.date(year, month, 1)


def check_statement_month(office: Office, month: dt.date) -> dt.date:
    """A statement is of a month begun by the office's business date."""
    if month > office.business_date:
        raise ValidationError(
            _("%(month)s is after the business date %(day)s: nothing is collected yet.")
            % {"month": f"{month:%m/%Y}", "day": f"{office.business_date:%d/%m/%Y}"},
            code="future_month",
        )
    return month


class MonthField(forms.Field):
    widget = forms.TextInput(attrs={"type": "month", "placeholder": "2021-05"})

    def to_python(self, value):
        if value in self.empty_values:
            return None
        return parse_month(str(value))

    def prepare_value(self, value):
        return f"{value:%Y-%m}" if isinstance(value, dt.date) else value


class PercentField(forms.Field):
    """A decimal typed either way (19,5 or 19.5), between its bounds, two or three decimals."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})

    def __init__(self, *args, high: Decimal = Decimal(100), places: int = 2, **kwargs):
        self.high, self.places = high, places
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip().replace(",", ".").rstrip("%").strip()
        if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]+)?", text, re.ASCII):
            raise ValidationError(_("Enter a number, for example 18 or 0,9."), code="invalid")
        try:
            number = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the pattern rules it out
            raise ValidationError(_("Enter a number."), code="invalid") from exc
        if number.as_tuple().exponent < -self.places:  # type: ignore[operator]
            raise ValidationError(_("At most %(n)s decimals.") % {"n": self.places}, code="places")
        if not Decimal(0) <= number <= self.high:
            raise ValidationError(
                _("Enter a number between 0 and %(high)s.") % {"high": self.high}, code="range"
            )
        return number


class StatementForm(BootstrapMixin, forms.Form):
    office = forms.ModelChoiceField(label=_("Office"), queryset=None, empty_label=None)
    month = MonthField(label=_("Month"))

    def __init__(self, *args, offices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["office"].queryset = offices
        office = offices.first()
        if office is not None:
            self.fields["office"].initial = office.pk
            self.fields["month"].initial = previous_month(office.business_date)

    def clean(self):
        data = super().clean()
        office, month = data.get("office"), data.get("month")
        if office is not None and month is not None:
            try:
                check_statement_month(office, month)
            except ValidationError as error:
                self.add_error("month", error)
        return data


class RateForm(BootstrapMixin, forms.Form):
    """What every new rate says: the office (one the user manages), from which month, under
    which decision."""

    office = forms.ModelChoiceField(label=_("Office"), queryset=None, empty_label=None)
    effective_from = MonthField(label=_("Effective from (month)"))
    decision = forms.CharField(label=_("Decision"), max_length=200, required=False)

    def __init__(self, *args, offices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["office"].queryset = offices


class CommissionRateForm(RateForm):
    percent = PercentField(label=_("Commission (per cent of interest collected)"))


class FeeRateForm(RateForm):
    organisation = forms.ModelChoiceField(
        label=_("Organisation"),
        queryset=Organisation.objects.all(),
        required=False,
        empty_label=_("Every organisation"),
    )
    percent = PercentField(label=_("Entrustment fee (per cent of interest collected)"))


class TierForm(BootstrapMixin, forms.Form):
    max_overdue_ratio = PercentField(label=_("Overdue ratio at most (%)"), required=False)
    min_collection_rate = PercentField(label=_("Collection rate at least (%)"), required=False)
    factor = PercentField(label=_("Factor"), high=Decimal(1), places=3, required=False)

    def clean(self):
        data = super().clean()
        given = [data.get(name) is not None for name in ("max_overdue_ratio", "factor")]
        if any(given) and not all(given):
            raise ValidationError(_("A tier needs its overdue ratio and its factor."))
        return data

    def tier(self) -> tuple[Decimal, Decimal, Decimal] | None:
        data = self.cleaned_data
        if data.get("max_overdue_ratio") is None:
            return None
        return (
            data["max_overdue_ratio"],
            data.get("min_collection_rate") or Decimal(0),
            data["factor"],
        )


TIER_ROWS = 5
TierFormSet = forms.formset_factory(
    TierForm, extra=TIER_ROWS, max_num=TIER_ROWS, absolute_max=TIER_ROWS, validate_max=True
)


class FeePayForm(BootstrapMixin, forms.Form):
    """A commission or fee paid at a session: the payee (one of the session's groups, or the
    chapter of one of them), the month it is for, the amount, and the form's key."""

    payee = forms.ChoiceField(label=_("Paid to"))
    month = MonthField(label=_("Month paid for"))
    amount = VNDField(label=_("Amount (VND)"))
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, groups, chapters, month: dt.date, **kwargs):
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("month", month)
        initial.setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.groups = {f"g{group.pk}": group for group in groups}
        self.chapters = {f"c{chapter.pk}": chapter for chapter in chapters}
        self.fields["payee"].choices = [
            (_("Commission"), [(k, f"{g.code} {g.name}") for k, g in self.groups.items()]),
            (_("Entrustment fee"), [(k, str(c)) for k, c in self.chapters.items()]),
        ]

    def payee_kwargs(self) -> dict:
        choice = self.cleaned_data["payee"]
        if choice in self.groups:
            return {"group": self.groups[choice]}
        return {"chapter": self.chapters[choice]}
