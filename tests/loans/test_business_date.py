import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from borrowers.models import Office
from loans import services
from loans.models import ClosedMonth
from tests.conftest import refused


def test_manager_moves_and_releases_the_business_date(client, manager_a, office_a):
    client.force_login(manager_a)
    url = reverse("loans:business_date", args=[office_a.code])
    response = client.post(url, {"day": "30/06/2021", "hold": "on"})
    assert response.status_code == 302
    office_a.refresh_from_db()
    assert (office_a.business_date, office_a.business_date_held) == (dt.date(2021, 6, 30), True)
    client.post(url, {"day": "30/06/2021"})
    assert not Office.objects.get(pk=office_a.pk).business_date_held


def test_staff_cannot_and_other_office_gets_404(client, staff_a, staff_b, office_a):
    url = reverse("loans:business_date", args=[office_a.code])
    client.force_login(staff_a)
    assert client.post(url, {"day": "30/06/2021"}).status_code == 403
    client.force_login(staff_b)
    assert client.post(url, {"day": "30/06/2021"}).status_code == 404
    assert Office.objects.get(pk=office_a.pk).business_date == dt.date(2021, 6, 15)


def test_business_date_never_moves_into_a_closed_month(office_a, manager_a, staff_a):
    ClosedMonth.objects.create(office=office_a, month=dt.date(2021, 5, 1), closed_by=manager_a)
    with refused("That month is closed.", field="day"):
        services.office_set_business_date(
            office=office_a, day=dt.date(2021, 5, 20), hold=True, user=manager_a
        )
    with pytest.raises(PermissionDenied):
        services.office_set_business_date(
            office=office_a, day=dt.date(2021, 6, 20), hold=True, user=staff_a
        )
