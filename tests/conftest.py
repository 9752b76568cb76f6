"""The fixed cast: staff, manager and auditor of office A; staff and manager of office B."""

import contextlib
import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from loans import services
from loans.models import Programme

from .factories import HouseholdFactory, MembershipFactory, OfficeFactory, UserFactory

BUSINESS_DATE = dt.date(2021, 6, 15)


@pytest.fixture
def office_a(db):
    return OfficeFactory(code="A", name="Phòng giao dịch A", business_date=BUSINESS_DATE)


@pytest.fixture
def office_b(db):
    return OfficeFactory(code="B", name="Phòng giao dịch B", business_date=BUSINESS_DATE)


def _member(office, username, role):
    user = UserFactory(username=username)
    MembershipFactory(user=user, office=office, role=role)
    return user


@pytest.fixture
def staff_a(office_a):
    return _member(office_a, "staff_a", "staff")


@pytest.fixture
def manager_a(office_a):
    return _member(office_a, "manager_a", "manager")


@pytest.fixture
def auditor_a(office_a):
    return _member(office_a, "auditor_a", "auditor")


@pytest.fixture
def staff_b(office_b):
    return _member(office_b, "staff_b", "staff")


@pytest.fixture
def manager_b(office_b):
    """A manager elsewhere: may approve, report and close months, but only in office B."""
    return _member(office_b, "manager_b", "manager")


@pytest.fixture
def household_a(office_a):
    return HouseholdFactory(group__village__commune__office=office_a)


@pytest.fixture
def household_b(office_b):
    return HouseholdFactory(
        group__village__commune__office=office_b,
        full_name="Trần Văn Hùng",
        sex="M",
        date_of_birth=dt.date(1975, 2, 3),
    )


@pytest.fixture
def hn():
    return Programme.objects.get(code="HN")


def key() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def refused(message: str, *, field: str | None = None):
    """Expect a ValidationError that says `message` (its English text, a part of one of its
    messages), on `field` when given: the test then knows which rule refused, not only that
    something did."""
    with translation.override("en"):
        with pytest.raises(ValidationError) as exc:
            yield exc
        error = exc.value
        if field is None:
            said = error.messages
        else:
            assert hasattr(error, "error_dict") and field in error.error_dict, error
            said = error.message_dict[field]
        assert any(message in m for m in said), said


@pytest.fixture
def active_loan(household_a, manager_a, staff_a, hn):
    """A 60-month poor-household loan of 50 M, approved and disbursed on 15/01/2021."""
    loan = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=50_000_000,
        term_months=60,
        applied_on=dt.date(2021, 1, 5),
        user=staff_a,
        group=household_a.group,
    )
    services.loan_approve(loan=loan, user=manager_a, approved_on=dt.date(2021, 1, 10))
    services.loan_disburse(
        loan=loan,
        amount=50_000_000,
        value_date=dt.date(2021, 1, 15),
        user=staff_a,
        idempotency_key=key(),
    )
    loan.refresh_from_db()
    return loan


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Transactional tests flush the test database with TRUNCATE, which the insert-only tables'
    statement trigger refuses unless the session allows it: allow it on this database only (an
    owner's setting; the application role has no TRUNCATE privilege to use it with)."""
    from django.db import connection
    from psycopg2 import sql

    from branch_portal.db_roles import ALLOW_TRUNCATE

    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("ALTER DATABASE {} SET {} = 'on'").format(
                    sql.Identifier(connection.settings_dict["NAME"]), sql.SQL(ALLOW_TRUNCATE)
                )
            )
        connection.close()  # the next session starts with the setting


@pytest.fixture(autouse=True)
def _celery_in_process(request, settings):
    """Tasks run in-process in tests, unless a test is marked `worker` (a real broker)."""
    from branch_portal.celery import app

    if request.node.get_closest_marker("worker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests flush the database, including the rows data migrations seeded (the
    four organisations, the eight programmes); put them back for the tests that need them."""
    marker = request.node.get_closest_marker("django_db")
    if not marker or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    from importlib import import_module

    from django.apps import apps

    for module in (
        "borrowers.migrations.0002_seed_organisations",
        "loans.migrations.0003_seed_programmes",
        "commune_day.migrations.0003_seed_placeholder_fee_rates",
        "savings.migrations.0003_seed_deposit_rate",
    ):
        import_module(module).seed(apps, None)


@pytest.fixture(scope="session")
def app_role(django_db_setup, django_db_blocker) -> dict:
    """Connection settings of the application role on the test database (committed: the
    role's own connection sees only what is)."""
    from django.conf import settings
    from django.db import connection

    from branch_portal import db_roles

    with django_db_blocker.unblock():
        owner = connection.settings_dict
        app = dict(settings.APP_DATABASE)
        if app["USER"] == owner["USER"]:
            app = {**app, "USER": f"{owner['NAME']}_app"[:63], "PASSWORD": ""}
            db_roles.setup(connection, app)
        return {
            "dbname": owner["NAME"],
            "user": app["USER"],
            "password": app.get("PASSWORD") or None,
            "host": owner["HOST"] or None,
            "port": owner["PORT"] or None,
        }
