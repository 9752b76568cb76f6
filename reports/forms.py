"""The manager's page: a period to report on, and the month-close forms."""

import datetime as dt

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from borrowers.forms import EARLIEST_DATE, LATEST_DATE
from borrowers.forms import DateField as PortalDateField

from .periods import month_end, previous_month, previous_quarter, quarter_of
from .statement import check_as_of

# The years every typed date lies in (borrowers.forms.DateField): year 1 or 9999 would reach
# date arithmetic that overflows (the month before January of year 1).
DATE_RANGE = [MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", attrs={"class": "form-control"}, **kwargs)


def quarter_key(year: int, quarter: int) -> str:
    return f"{year}-{quarter}"


def quarter_choices(business_date: dt.date, count: int = 8) -> list[tuple[str, str]]:
    """The quarter running at the business date, then the `count` - 1 before it."""
    year, quarter = quarter_of(business_date)
    choices = []
    for _n in range(count):
        choices.append((quarter_key(year, quarter), f"Q{quarter}/{year}"))
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return choices


class PeriodForm(forms.Form):
    """Office and period; clean() gives cleaned_data["start"] and ["as_of"]. A month or quarter
    not over yet ends at the business date; a custom range may not pass it.

    The month and the quarter offered first are the last complete ones at the office's business
    date: the pack a manager signs is of a period that is over. The business date is the day
    being worked, so at 01/07/2021 June and Q2 2021 (which ended yesterday) are offered, not a
    one-day July or Q3; at 15/06/2021, May and Q1 2021. The running month or quarter (to the
    business date) is one pick away, as is any earlier one. They follow the business date alone,
    not the months closed: a June still open at 01/07 is the month to look at before closing it."""

    PERIODS = [
        ("month", _("Month")),
        ("quarter", _("Quarter")),
        ("ytd", _("Year to date")),
        ("custom", _("Custom range")),
    ]

    office = forms.ModelChoiceField(
        label=_("Office"),
        queryset=None,
        empty_label=None,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    period = forms.ChoiceField(
        label=_("Period"),
        choices=PERIODS,
        initial="month",
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    month = forms.DateField(
        label=_("Month"),
        required=False,
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=forms.DateInput(format="%Y-%m", attrs={"type": "month", "class": "form-control"}),
        validators=DATE_RANGE,
    )
    quarter = forms.ChoiceField(
        label=_("Quarter"), required=False, widget=forms.Select(attrs={"class": "form-select"})
    )
    # The picker sends yyyy-mm-dd; a typed date (a script, a browser without the picker) is read
    # day first like every other date of the portal, never month first as Django's default does.
    start = PortalDateField(label=_("From"), required=False, widget=DateInput())
    as_of = PortalDateField(label=_("As of"), required=False, widget=DateInput())

    def __init__(self, *args, offices, office=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["office"].queryset = offices
        office = office or offices.first()
        if office is not None:
            self.fields["office"].initial = office.pk
            self.fields["quarter"].choices = quarter_choices(office.business_date)
            self.fields["quarter"].initial = quarter_key(*previous_quarter(office.business_date))
            self.fields["month"].initial = previous_month(office.business_date)
            self.fields["start"].initial = office.business_date.replace(month=1, day=1)
            self.fields["as_of"].initial = office.business_date

    def clean(self):
        data = super().clean()
        office, period = data.get("office"), data.get("period")
        if office is None or period is None:
            return data
        business_date = office.business_date
        if period == "month":
            month = data.get("month")
            if month is None:
                self.add_error("month", _("Pick a month."))
                return data
            start, as_of = month.replace(day=1), month_end(month)
        elif period == "quarter":
            try:
                year, quarter = (int(part) for part in (data.get("quarter") or "").split("-"))
                start = dt.date(year, 3 * quarter - 2, 1)
            except ValueError:
                self.add_error("quarter", _("Pick a quarter."))
                return data
            as_of = month_end(dt.date(year, 3 * quarter, 1))
        elif period == "ytd":
            start, as_of = business_date.replace(month=1, day=1), business_date
        else:
            start, as_of = data.get("start"), data.get("as_of")
            if start is None or as_of is None:
                for name in ("start", "as_of"):
                    if data.get(name) is None:
                        self.add_error(name, _("Enter a date."))
                return data
            if as_of < start:
                self.add_error("as_of", _("The end of the period is before its start."))
                return data
            if as_of > business_date:
                self.add_error(
                    "as_of",
                    _("The period may not end after the business date %(d)s.")
                    % {"d": business_date.strftime("%d/%m/%Y")},
                )
                return data
        if start > business_date:
            self.add_error(
                None,
                _("The period starts after the business date %(d)s.")
                % {"d": business_date.strftime("%d/%m/%Y")},
            )
            return data
        data["start"], data["as_of"] = start, min(as_of, business_date)
        return data


class MonthForm(forms.Form):
    office = forms.ModelChoiceField(queryset=None, widget=forms.HiddenInput)
    month = forms.DateField(
        widget=forms.HiddenInput, input_formats=["%Y-%m-%d", "%Y-%m"], validators=DATE_RANGE
    )

    def __init__(self, *args, offices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["office"].queryset = offices


class ReopenForm(MonthForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        error_messages={"required": _("Give the reason for reopening the month.")},
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
    )


# --- the auditor's histories (reports.history, reports.audit) ------------------------------------


def _compact(widget):
    widget.attrs["class"] = widget.attrs.get("class", "form-control") + " form-control-sm"
    return widget


class HistoryFilterForm(forms.Form):
    """The timeline's filters, from the query string: each is optional; what is not one of the
    choices, or not a date, is an error the page shows (400), never a 500."""

    kind = forms.ChoiceField(label=_("Kind of event"), required=False)
    loan = forms.TypedChoiceField(label=_("Loan"), required=False, coerce=int, empty_value=None)
    start = PortalDateField(label=_("From"), required=False, widget=_compact(DateInput()))
    end = PortalDateField(label=_("To"), required=False, widget=_compact(DateInput()))
    user = forms.CharField(
        label=_("User"),
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
    )

    def __init__(self, *args, sources, loans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All")), *sources.items()]
        self.fields["loan"].choices = [("", _("All")), *loans]
        for name in ("kind", "loan"):
            self.fields[name].widget.attrs["class"] = "form-select form-select-sm"

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data


class AuditSearchForm(forms.Form):
    """The office log's search. The range defaults to the last `default_days` days up to today
    and may span at most `max_days`: each page reads the ledger by
    (office, posted_at), so a bounded range is what keeps a page of a big office fast."""

    office = forms.ModelChoiceField(label=_("Office"), queryset=None, required=False)
    start = PortalDateField(label=_("From"), required=False, widget=_compact(DateInput()))
    end = PortalDateField(label=_("To"), required=False, widget=_compact(DateInput()))
    kind = forms.ChoiceField(label=_("Kind of event"), required=False)
    user = forms.CharField(
        label=_("User"),
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
    )
    object = forms.CharField(
        label=_("Loan number, citizen ID or group code"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
    )

    def __init__(self, *args, offices, kinds, default_days, max_days, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["office"].queryset = offices
        self.fields["office"].empty_label = None
        self.fields["office"].widget.attrs["class"] = "form-select form-select-sm"
        self.fields["kind"].choices = [("", _("All")), *kinds]
        self.fields["kind"].widget.attrs["class"] = "form-select form-select-sm"
        self.default_days, self.max_days = default_days, max_days

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        office = data.get("office") or self.fields["office"].queryset.first()
        data["office"] = office
        # Up to today, not the business date: the log is of when things were recorded (the
        # wall clock), and an import or a back-dated posting is recorded today.
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - dt.timedelta(days=self.default_days - 1)
        if start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        if (end - start).days + 1 > self.max_days:
            raise forms.ValidationError(
                _("Search at most %(days)s days at a time.") % {"days": self.max_days}
            )
        data["start"], data["end"] = start, end
        data["user"] = data.get("user", "").strip()
        data["object"] = data.get("object", "").strip()
        return data


class StatementForm(forms.Form):
    """The as-of date of a borrower's statement (GET): the office's business date by default;
    reports.statement.check_as_of refuses a date after it or before the household's first loan."""

    as_of = PortalDateField(label=_("As of"), required=False, widget=DateInput())

    def __init__(self, data, *, household):
        self.household = household
        super().__init__(data)

    def clean_as_of(self):
        day = self.cleaned_data["as_of"] or self.household.office.business_date
        check_as_of(self.household, day)  # its ValidationError is the field's error
        return day
