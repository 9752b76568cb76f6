"""The end-of-day task through a real Redis broker and a real Celery worker process."""

import os
import time

import pytest

from loans.models import Loan

from ..processes import redis_database, send_task, start_worker, stop

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def worker():
    url = redis_database(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15")
    process = start_worker(url)
    yield url
    stop([process])


def test_overdue_task_runs_in_a_real_worker(active_loan, worker):
    from loans import tasks

    office = active_loan.office
    send_task(tasks.end_of_day_for_office, [office.pk, "2021-07-16"], worker)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Loan.objects.get(pk=active_loan.pk).overdue:
        time.sleep(0.5)
    assert Loan.objects.get(pk=active_loan.pk).overdue == 5_000_000
