"""The manager's period and month forms take dates from 1900 to 2100 only (issue 10, point 5):
year 1 reached date arithmetic that overflows, year 9999 a report nobody can mean."""

import pytest
from django.urls import reverse

from borrowers.models import Office
from loans.models import ClosedMonth
from reports.forms import MonthForm, PeriodForm


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [("start", "0001-01-01", "min_value"), ("as_of", "9999-12-31", "max_value")],
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
