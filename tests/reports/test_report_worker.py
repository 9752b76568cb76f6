"""Report runs through a real Redis broker (database 14) and real Celery worker processes:
queued → running → done; a worker killed (SIGKILL) mid-build leaves no half-written run, and a
killed pool process's run is taken back by beat's schedule and rebuilt within two minutes.

A build is held inside its figures step by a session that locks the loans table
(tests/reports/loans_lock.py): the worker is really building and really blocked, as in a
province-sized step, and nothing in it is patched or slowed by a test hook."""

import datetime as dt
import os
import signal
import time

import pytest
import redis
from django.core.management import call_command

from reports import services
from reports.models import ReportRun

from ..processes import pool_processes, redis_database, send_task, stop
from ..processes import start_beat as start_beat_process
from ..processes import start_worker as start_worker_process
from .loans_lock import loans_held

START, AS_OF = dt.date(2021, 1, 1), dt.date(2021, 6, 15)
STALE = 3  # seconds: the workers beat every second
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def redis_url():
    url = redis_database("redis://127.0.0.1:6379/14")
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def processes():
    """Worker and beat processes on the test database; each is stopped (or was killed) at the
    end."""
    started = []
    yield started
    stop(started)


@pytest.fixture
def stale(settings):
    """The workers' stale threshold, judged alike by this process."""

    def set_to(seconds: int) -> int:
        settings.REPORTS_STALE_SECONDS = seconds
        return seconds

    set_to(STALE)
    return set_to


@pytest.fixture
def start_worker(redis_url, processes, settings, stale):
    def start(**options):
        env = {"REPORTS_STALE_SECONDS": settings.REPORTS_STALE_SECONDS, **options}
        processes.append(start_worker_process(redis_url, **env))
        return processes[-1]

    return start


@pytest.fixture
def start_beat(redis_url, processes):
    def start():
        processes.append(start_beat_process(redis_url))
        return processes[-1]

    return start


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


def blocked_in_the_figures(run: ReportRun) -> bool:
    """Inside the figures step (held by loans_held), beaten by the heartbeat thread alone for
    at least two seconds: the build's own steps would have moved the progress on."""
    return (
        run.status == "running"
        and run.progress == 5
        and run.heartbeat_at - run.started_at >= dt.timedelta(seconds=2)
    )


def assert_built(run: ReportRun, *, attempts: int) -> None:
    run.refresh_from_db()
    assert (run.status, run.progress, run.attempts, run.error) == ("done", 100, attempts, "")
    assert run.figures["totals"]["closing"] == 50_000_000
    assert bytes(run.pdf).startswith(b"%PDF") and bytes(run.xlsx).startswith(b"PK")


def test_a_real_worker_builds_a_run(active_loan, start_worker, redis_url):
    start_worker()
    run = request(active_loan.office)
    assert run.status == ReportRun.Status.QUEUED
    with loans_held():
        send(run, redis_url)
        seen = watch(run, lambda r: r.status == "running" and r.progress == 5)
    seen += watch(run, lambda r: r.status in ("done", "failed"))
    statuses = [status for status, _progress in seen]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "done", seen
    progresses = [progress for status, progress in seen if status == "running"]
    assert progresses == sorted(progresses) and 0 < progresses[-1] < 100
    assert_built(run, attempts=1)


def test_a_killed_worker_leaves_no_half_written_run(active_loan, start_worker, redis_url):
    doomed = start_worker()
    run = request(active_loan.office)
    with loans_held():
        send(run, redis_url)
        watch(run, blocked_in_the_figures)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)

    run.refresh_from_db()
    assert run.status == ReportRun.Status.RUNNING and run.attempts == 1
    assert run.figures is None and run.month_figures is None and run.ledger_position is None
    assert run.pdf is None and run.xlsx is None and run.finished_at is None

    watch(run, services.run_is_stale, timeout=STALE + 5)  # its heartbeat stopped with it
    start_worker()  # takes back stale runs as it starts
    watch(run, lambda r: r.status == "done", timeout=90)
    assert_built(run, attempts=2)


def test_a_killed_pool_process_s_run_is_taken_back_on_schedule(
    active_loan, stale, start_worker, start_beat, redis_url, settings
):
    # Long enough for the message the broker redelivers at once to find the run still alive.
    threshold = stale(6)
    settings.REPORTS_TAKE_BACK_SECONDS = 1
    call_command("setup_periodic_tasks")  # the production schedule, every second
    worker = start_worker(pool="prefork")
    start_beat()
    run = request(active_loan.office)
    with loans_held():
        send(run, redis_url)
        watch(run, blocked_in_the_figures)
        (child,) = pool_processes(worker)
        os.kill(child, signal.SIGKILL)  # the pool process, mid-build; its worker lives on
        killed = time.monotonic()

    # Its broker message comes back at once and finds the run alive (its heartbeat 2 s old at most),
    # so it is skipped: the run is rebuilt because beat's take-back finds its heartbeat stale
    # (without beat, it stays running), not by a worker's restart.
    seen = watch(run, lambda r: r.status in ("done", "failed"), timeout=threshold + 60)
    took = time.monotonic() - killed
    assert worker.poll() is None and child not in pool_processes(worker)
    assert seen[-1][0] == "done", seen
    assert took < threshold + 30, took  # default: 90 s (test_schedule); here ~ threshold + build
    assert_built(run, attempts=2)
