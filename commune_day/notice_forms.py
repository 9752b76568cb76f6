"""The month a notice is for, and the notice index's search (a group list with a month)."""

import datetime as dt

import django_filters
from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from borrowers.filters import GroupFilter

# The months a notice can be for: those of a record of the office (borrowers.forms' bounds).
FIRST_MONTH = dt.date(1900, 1, 1)
LAST_MONTH = dt.date(2100, 12, 1)
MONTH_ERRORS = {"invalid": _("Enter a month as YYYY-MM, for example 2021-07.")}


def month_field(**kwargs) -> forms.DateField:
    return forms.DateField(
        label=_("Due in month"),
        input_formats=["%Y-%m"],
        error_messages=MONTH_ERRORS,
        validators=[
            MinValueValidator(FIRST_MONTH, message=_("Enter a month from 1900 to 2100.")),
            MaxValueValidator(LAST_MONTH, message=_("Enter a month from 1900 to 2100.")),
        ],
        widget=forms.DateInput(format="%Y-%m", attrs={"type": "month"}),
        **kwargs,
    )


class NoticeMonthForm(forms.Form):
    """?month=YYYY-MM: the month the instalments fall due in (by default the one after the
    office's business date)."""

    month = month_field(required=False)

    def __init__(self, data, *, default: dt.date):
        super().__init__(data)
        self.default = default
        self.fields["month"].widget.attrs["class"] = "form-control form-control-sm"

    def clean_month(self) -> dt.date:
        return self.cleaned_data["month"] or self.default


class NoticeGroupFilter(GroupFilter):
    """The group list's search and filters, and the month the rows' links open the notices for."""

    month = django_filters.DateFilter(
        label=_("Due in month"),
        method="keep",
        input_formats=["%Y-%m"],
        error_messages=MONTH_ERRORS,
        validators=[
            MinValueValidator(FIRST_MONTH, message=_("Enter a month from 1900 to 2100.")),
            MaxValueValidator(LAST_MONTH, message=_("Enter a month from 1900 to 2100.")),
        ],
        widget=forms.DateInput(format="%Y-%m", attrs={"type": "month"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.fields["month"].widget.attrs["class"] = "form-control form-control-sm"

    def keep(self, queryset, name, value):
        # The month picks what the links open, not which groups are listed.
        return queryset


class BoardPartForm(forms.Form):
    """?part=N of a board printed in parts (NoticeBoard.parts)."""

    part = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={"invalid": _("The part is a whole number.")},
    )

    def __init__(self, data, *, count: int):
        super().__init__(data)
        self.count = count

    def clean_part(self) -> int:
        part = self.cleaned_data["part"] or 1
        if part > self.count:
            raise forms.ValidationError(
                _("The board has %(count)s part(s): there is no part %(part)s."),
                code="no_such_part",
                params={"count": self.count, "part": part},
            )
        return part
