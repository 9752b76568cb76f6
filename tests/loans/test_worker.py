"""The daily overdue task through a real Redis broker and a real Celery worker process."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from loans.models import Loan

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not running at {url}")
        pytest.skip(f"no Redis at {url}: start redis-server to run the worker tests")
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def worker(redis_url):
    """A real worker on the test database (the data a test commits is visible to it)."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DEVELOPMENT": "true",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}",
    }
    if db["HOST"] and db["HOST"].startswith("/"):
        env["DATABASE_URL"] = f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "branch_portal",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
    )
    yield redis_url
    process.terminate()
    process.wait(20)


def test_overdue_task_runs_in_a_real_worker(active_loan, worker):
    from branch_portal.celery import app
    from loans import tasks

    office = active_loan.office
    office.business_date = active_loan.first_disbursed_on.replace(month=7, day=16)
    office.save()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        # An explicit connection: the app's cached producer pool may point at memory://.
        with app.connection_for_write(worker) as connection_:
            tasks.transfer_overdue_for_office.apply_async(args=[office.pk], connection=connection_)
    finally:
        app.conf.task_always_eager = eager
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Loan.objects.get(pk=active_loan.pk).overdue:
        time.sleep(0.5)
    assert Loan.objects.get(pk=active_loan.pk).overdue == 5_000_000
