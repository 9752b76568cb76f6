"""The manager's period and month forms take dates from 1900 to 2100 only (issue 10, point 5):
year 1 reached date arithmetic that overflows, year 9999 a report nobody can mean."""

import datetime as dt

import pytest
from django.urls import reverse

from borrowers.models import Office
from loans.models import ClosedMonth
from reports.forms import MonthForm, PeriodForm


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [("start", "0001-01-01", "date_range"), ("as_of", "9999-12-31", "date_range")],
)
def test_custom_period_dates_are_bounded(office_a, field, value, code):
    data = {"office": office_a.pk, "period": "custom", "start": "2021-01-01", "as_of": "2021-06-01"}
    data[field] = value
    form = PeriodForm(data, offices=Office.objects.all())
    assert not form.is_valid()
    assert form.errors.as_data()[field][0].code == code  # then "Enter a date." from clean()


@pytest.mark.parametrize(("month", "code"), [("0001-01", "min_value"), ("9999-12", "max_value")])
def test_month_forms_are_bounded(office_a, month, code):
    form = MonthForm({"office": office_a.pk, "month": month}, offices=Office.objects.all())
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["month"]] == [code]


@pytest.mark.parametrize("month", ["0001-01", "9999-12"])
def test_closing_a_month_out_of_range_changes_nothing(client, manager_a, office_a, month):
    client.force_login(manager_a)
    response = client.post(reverse("reports:month_close"), {"office": office_a.pk, "month": month})
    assert response.status_code in (200, 302)
    assert not ClosedMonth.objects.filter(office=office_a).exists()


def test_a_typed_custom_period_is_read_day_first(office_a):
    """01/02/2021 is the first of February, as on every other form of the portal (Django's
    default input formats read it as 2 January)."""
    from borrowers.models import Office
    from reports.forms import PeriodForm

    form = PeriodForm(
        {"office": office_a.pk, "period": "custom", "start": "01/02/2021", "as_of": "31/05/2021"},
        offices=Office.objects.filter(pk=office_a.pk),
    )
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["start"], form.cleaned_data["as_of"]) == (
        dt.date(2021, 2, 1),
        dt.date(2021, 5, 31),
    )
