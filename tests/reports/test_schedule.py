"""Beat: the daily monthly-pack task claims each office's pack once; the schedules are declared
idempotently, the take-back of a killed worker's run often enough to come within two minutes."""

import datetime as dt

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from reports import services
from reports.models import ReportRun
from reports.tasks import monthly_packs_due

pytestmark = pytest.mark.django_db


def test_monthly_packs_due_queues_one_run_per_office_and_month(
    active_loan, office_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = monthly_packs_due()
        second = monthly_packs_due()
    runs = ReportRun.objects.filter(kind=ReportRun.Kind.MONTHLY)
    assert runs.count() == 2  # offices A and B, May 2021 (business date 15/06/2021)
    assert sorted(first) == sorted(second) == sorted(runs.values_list("pk", flat=True))
    assert {(r.start, r.as_of) for r in runs} == {(dt.date(2021, 5, 1), dt.date(2021, 5, 31))}
    assert all(r.requested_by is None and r.status == ReportRun.Status.QUEUED for r in runs)
    assert len(callbacks) == 2  # one build task per run


def test_a_failed_pack_is_not_requeued_every_day(office_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        (run_id,) = monthly_packs_due()
    ReportRun.objects.filter(pk=run_id).update(status=ReportRun.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert monthly_packs_due() == [run_id]  # a manager retries it
    assert not callbacks


def test_setup_periodic_tasks_is_idempotent():
    call_command("setup_periodic_tasks")
    before = list(PeriodicTask.objects.order_by("name").values_list("name", "task", "crontab_id"))
    call_command("setup_periodic_tasks")
    after = list(PeriodicTask.objects.order_by("name").values_list("name", "task", "crontab_id"))
    assert before == after
    tasks = {task: crontab for _name, task, crontab in after}
    assert "reports.tasks.monthly_packs_due" in tasks
    stale = PeriodicTask.objects.get(task="reports.tasks.take_back_stale_report_runs")
    assert stale.crontab is None and (stale.interval.every, stale.interval.period) == (
        30,
        "seconds",
    )


def test_a_killed_workers_run_is_taken_back_within_two_minutes_by_default():
    call_command("setup_periodic_tasks")
    take_back = PeriodicTask.objects.get(task="reports.tasks.take_back_stale_report_runs")
    every = dt.timedelta(seconds=take_back.interval.every)
    # Its last heartbeat + the stale threshold + at most one period until the next take-back.
    assert services.stale_after() + every <= dt.timedelta(minutes=2)
    assert services.stale_after() + every == dt.timedelta(seconds=90)


def test_the_take_back_period_is_a_setting(settings):
    call_command("setup_periodic_tasks")
    settings.REPORTS_TAKE_BACK_SECONDS = 2  # the worker test's
    call_command("setup_periodic_tasks")
    take_back = PeriodicTask.objects.get(task="reports.tasks.take_back_stale_report_runs")
    assert (take_back.interval.every, take_back.enabled) == (2, True)
    assert PeriodicTask.objects.filter(task=take_back.task).count() == 1
