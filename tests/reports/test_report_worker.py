"""Report runs through a real Redis broker (database 14) and real Celery worker processes:
queued → running → done, and a worker killed (SIGKILL) mid-build leaves no half-written run."""

import datetime as dt
import signal
import time

import pytest
import redis

from reports.models import ReportRun

from ..processes import redis_database, send_task, stop
from ..processes import start_worker as start_worker_process

START, AS_OF = dt.date(2021, 1, 1), dt.date(2021, 6, 15)
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def redis_url():
    url = redis_database("redis://127.0.0.1:6379/14")
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def start_worker(redis_url):
    """Start real workers on the test database; each is stopped (or was killed) at the end."""
    processes = []

    def start(**extra_env):
        processes.append(start_worker_process(redis_url, **extra_env))
        return processes[-1]

    yield start
    stop(processes)


def send(run: ReportRun, url: str) -> None:
    """What report_run_request's on_commit does, through the broker of the test's worker."""
    from reports import tasks

    send_task(tasks.build_report_run, [run.pk], url)


def request(office) -> ReportRun:
    """A queued run as report_run_request makes it; its task is sent by `send` (the service's
    on_commit would run it eagerly in this process, whose app has no broker)."""
    return ReportRun.objects.create(office=office, start=START, as_of=AS_OF)


def watch(run: ReportRun, until, timeout: float = 90) -> list[tuple[str, int]]:
    """The (status, progress) states seen while polling, until `until(run)` holds."""
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = ReportRun.objects.defer("pdf", "xlsx").get(pk=run.pk)
        state = (current.status, current.progress)
        if not seen or seen[-1] != state:
            seen.append(state)
        if until(current):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"timed out; states seen: {seen}")


def test_a_real_worker_builds_a_run(active_loan, start_worker, redis_url):
    start_worker(REPORTS_TEST_DELAY_SECONDS=2)
    run = request(active_loan.office)
    assert run.status == ReportRun.Status.QUEUED
    send(run, redis_url)
    seen = watch(run, lambda r: r.status in ("done", "failed"))
    statuses = [status for status, _progress in seen]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "done", seen
    progresses = [progress for status, progress in seen if status == "running"]
    assert progresses == sorted(progresses) and 0 < progresses[-1] < 100
    run.refresh_from_db()
    assert run.progress == 100 and run.attempts == 1 and run.error == ""
    assert run.figures["totals"]["closing"] == 50_000_000
    assert bytes(run.pdf).startswith(b"%PDF") and bytes(run.xlsx).startswith(b"PK")


def test_a_killed_worker_leaves_no_half_written_run(active_loan, start_worker, redis_url):
    stale = 3
    doomed = start_worker(REPORTS_TEST_DELAY_SECONDS=60, REPORTS_STALE_SECONDS=stale)
    run = request(active_loan.office)
    send(run, redis_url)
    # The PDF and the workbook are rendered (in memory), the build waits before its final write.
    watch(run, lambda r: r.status == "running" and r.progress == 85)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)

    run.refresh_from_db()
    assert run.status == ReportRun.Status.RUNNING and run.attempts == 1
    assert run.figures is None and run.month_figures is None and run.ledger_position is None
    assert run.pdf is None and run.xlsx is None and run.finished_at is None

    time.sleep(stale + 0.5)  # its heartbeat is now stale
    start_worker(REPORTS_STALE_SECONDS=stale)  # takes back stale runs as it starts
    watch(run, lambda r: r.status == "done", timeout=90)
    run.refresh_from_db()
    assert run.attempts == 2 and run.error == ""
    assert run.figures["totals"]["closing"] == 50_000_000
    assert bytes(run.pdf).startswith(b"%PDF") and bytes(run.xlsx).startswith(b"PK")
