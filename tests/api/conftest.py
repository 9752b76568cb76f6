"""Tokens for the cast: office A's staff, manager and auditor, office B's staff."""

import datetime as dt

import pytest
from django.utils import translation

from api import services
from loans import services as loan_services
from reports.models import ReportRun

from ..conftest import key


def make_token(user, scope="read"):
    _row, token = services.token_create(user=user, name="test", scope=scope, actor=user)
    return token


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def api_world(office_a, office_b, staff_a, staff_b, manager_a, household_a, active_loan):
    """Office A's household, loan, entry and a finished report run with its files."""
    entry = loan_services.loan_repay_principal(
        loan=active_loan, amount=1_000_000, value_date=dt.date(2021, 6, 10), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    run = ReportRun.objects.create(
        office=office_a, start=dt.date(2021, 1, 1), as_of=dt.date(2021, 6, 15),
        requested_by=manager_a, status=ReportRun.Status.DONE, progress=100,
        pdf=b"%PDF-1.7 test", xlsx=b"PK test", figures={}, ledger_position=0,
    )  # fmt: skip
    return {
        "borrower": household_a.pk,
        "loan": active_loan.pk,
        "entry": entry.pk,
        "report-run": run.pk,
        "group": household_a.group_id,
    }
