"""A request resolves the user's offices and roles once (borrowers.access), however many scoped
getters, templates and checks its view runs; a user outside a request reads them afresh."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from borrowers.access import Access, access_for
from borrowers.selectors import can_manage, office_ids_for, role_in
from tests.factories import MembershipFactory, OfficeFactory, UserFactory

pytestmark = pytest.mark.django_db

MEMBERSHIP_TABLE = '"borrowers_officemembership"'


def membership_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if MEMBERSHIP_TABLE in q["sql"]]


def _once(client, method: str, url: str, data=None, *, status: int):
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(url, data or {})
    assert response.status_code == status
    assert len(membership_queries(queries)) == 1, "\n".join(membership_queries(queries))
    return response


def test_requesting_a_report_reads_memberships_once(
    client, office_a, manager_a, django_capture_on_commit_callbacks
):
    client.force_login(manager_a)
    url = reverse("reports:request")
    _once(client, "get", url, {"office": office_a.pk}, status=302)
    with django_capture_on_commit_callbacks(execute=False):
        _once(client, "post", url, {"office": office_a.pk, "period": "ytd"}, status=302)
    # A refused form draws the whole report page again: runs, roles, month close, navigation.
    after_business_date = {"period": "custom", "start": "2021-06-01", "as_of": "2021-06-16"}
    _once(client, "post", url, {"office": office_a.pk, **after_business_date}, status=400)


def test_report_index_loan_page_and_lists_read_memberships_once(
    client, active_loan, manager_a, staff_a
):
    client.force_login(manager_a)
    _once(client, "get", reverse("reports:index"), status=200)
    _once(client, "get", reverse("home"), status=200)
    client.force_login(staff_a)
    _once(client, "get", reverse("loans:detail", args=[active_loan.pk]), status=200)
    _once(client, "get", reverse("loans:list"), status=200)
    _once(client, "get", reverse("borrowers:list"), status=200)
    _once(client, "get", reverse("borrowers:detail", args=[active_loan.household_id]), status=200)


def test_a_user_outside_a_request_reads_memberships_afresh(office_a, office_b, staff_a):
    """Services, commands and tasks pass a user with no request around it: a membership granted
    after a first check counts at the next one (nothing is cached on that user)."""
    assert role_in(staff_a, office_b) is None
    MembershipFactory(user=staff_a, office=office_b, role="manager")
    assert role_in(staff_a, office_b) == "manager"
    assert can_manage(staff_a, office_b)
    assert sorted(office_ids_for(staff_a)) == sorted([office_a.pk, office_b.pk])


def test_access_of_members_and_superusers(office_a, office_b, auditor_a):
    access = access_for(auditor_a)
    assert access == Access(roles={office_a.pk: "auditor"}, is_superuser=False)
    assert access.office_ids == (office_a.pk,)
    assert access.role_in(office_a) == "auditor" and access.role_in(office_b) is None
    assert not access.can_write(office_a) and not access.can_manage(office_a)

    root = UserFactory(username="root", is_superuser=True)
    access = access_for(root)
    later = OfficeFactory(code="C", business_date=dt.date(2021, 6, 15))
    # A superuser manages every office, one created after the access was resolved too.
    assert access.role_in(later) == "manager" and access.can_manage(later)
    assert set(office_ids_for(root)) == {office_a.pk, office_b.pk, later.pk}


def test_an_anonymous_request_reads_no_membership(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"))
    assert response.status_code == 302
    assert membership_queries(queries) == []


def test_the_reports_link_shows_for_managers_auditors_and_superusers(
    client, office_a, office_b, staff_a, manager_a, auditor_a
):
    link = f'href="{reverse("reports:index")}"'
    both = UserFactory(username="staff_a_auditor_b")
    MembershipFactory(user=both, office=office_a, role="staff")
    MembershipFactory(user=both, office=office_b, role="auditor")
    root = UserFactory(username="root", is_superuser=True)
    for user, shown in [(staff_a, False), (manager_a, True), (auditor_a, True), (both, True)]:
        client.force_login(user)
        assert (link in client.get(reverse("borrowers:list")).content.decode()) is shown, user
    client.force_login(root)
    assert link in client.get(reverse("borrowers:list")).content.decode()
