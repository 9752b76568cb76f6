"""Report runs in-process (Celery eager): request → build → done, immutability in code and in
the database, one build per claim, compare after a back-dated entry, retry of a failed run; a
killed worker's run (the heartbeat, the take-back, a manager's retry of a silent run)."""

import copy
import datetime as dt
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InternalError, connection, transaction
from django.utils import timezone, translation

from loans import services as loan_services
from loans.models import LoanTransaction
from reports import selectors, services
from reports.models import FinishedRunError, ReportRun
from tests.conftest import key, refused

from .loans_lock import loans_held

START, AS_OF = dt.date(2021, 1, 1), dt.date(2021, 6, 15)


@pytest.fixture
def done_run(active_loan, manager_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.report_run_request(
            office=active_loan.office, start=START, as_of=AS_OF, user=manager_a
        )
    run.refresh_from_db()
    return run


def test_a_requested_run_is_queued_then_built_on_commit(
    active_loan, manager_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.report_run_request(
            office=active_loan.office, start=START, as_of=AS_OF, user=manager_a
        )
    run.refresh_from_db()
    assert run.status == ReportRun.Status.QUEUED and run.progress == 0
    assert run.requested_by == manager_a and run.kind == ReportRun.Kind.ON_DEMAND
    assert len(callbacks) == 1

    callbacks[0]()  # the commit: the (eager) task builds the run
    run = ReportRun.objects.get(pk=run.pk)
    assert run.status == ReportRun.Status.DONE
    assert (run.progress, run.attempts, run.error) == (100, 1, "")
    assert run.started_at <= run.finished_at
    last = LoanTransaction.objects.order_by("-id").values_list("id", flat=True).first()
    assert run.ledger_position == last
    assert run.figures["office"] == "A" and run.figures["from"] == "2021-01-01"
    assert run.figures["totals"]["disbursed"] == 50_000_000
    assert run.figures["totals"]["closing"] == 50_000_000
    assert run.figures["by_programme"][0]["code"] == "HN"
    assert run.month_figures["from"] == "2021-06-01"
    assert run.month_figures["totals"]["opening"] == 50_000_000
    assert run.month_figures["totals"]["disbursed"] == 0
    assert bytes(run.pdf).startswith(b"%PDF") and run.pdf_pages >= 2
    assert bytes(run.xlsx).startswith(b"PK")


def test_a_period_ending_after_the_business_date_is_refused(office_a, manager_a):
    with refused("The period ends after the office's business date."):
        services.report_run_request(
            office=office_a, start=START, as_of=dt.date(2021, 7, 1), user=manager_a
        )
    with refused("The end of the period is before its start."):
        services.report_run_request(office=office_a, start=AS_OF, as_of=START, user=manager_a)
    assert not ReportRun.objects.exists()


def test_a_done_run_refuses_change_in_code(done_run):
    assert done_run.status == ReportRun.Status.DONE
    done_run.progress_message = "changed"
    with pytest.raises(FinishedRunError):
        done_run.save()
    with pytest.raises(FinishedRunError):
        done_run.delete()
    with pytest.raises(FinishedRunError):
        ReportRun.objects.filter(pk=done_run.pk).update(progress_message="changed")
    with pytest.raises(FinishedRunError):
        ReportRun.objects.filter(pk=done_run.pk).delete()
    assert ReportRun.objects.get(pk=done_run.pk).progress_message != "changed"


def test_a_done_run_refuses_change_in_sql(done_run):
    for statement in (
        "UPDATE reports_reportrun SET figures = '{}'::jsonb WHERE id = %s",
        "UPDATE reports_reportrun SET status = 'failed' WHERE id = %s",
        "DELETE FROM reports_reportrun WHERE id = %s",
    ):
        with (
            pytest.raises(
                InternalError, match="Cannot update or delete rows from reports_reportrun"
            ),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [done_run.pk])
    stored = ReportRun.objects.get(pk=done_run.pk)
    assert stored.status == ReportRun.Status.DONE
    assert stored.figures == done_run.figures and bytes(stored.pdf) == bytes(done_run.pdf)


def test_a_run_not_done_may_change_in_sql(office_a):
    run = ReportRun.objects.create(office=office_a, start=START, as_of=AS_OF)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE reports_reportrun SET progress = 7 WHERE id = %s", [run.pk])
    run.refresh_from_db()
    assert run.progress == 7


def test_a_done_run_needs_its_figures_and_files(office_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportRun.objects.create(office=office_a, start=START, as_of=AS_OF, status="done")


def test_claiming_twice_builds_once(active_loan):
    run = ReportRun.objects.create(office=active_loan.office, start=START, as_of=AS_OF)
    first = services.report_run_build(run_id=run.pk)
    assert first is not None and first.status == ReportRun.Status.DONE
    assert services.report_run_build(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.attempts == 1


def test_a_running_run_with_a_fresh_heartbeat_is_not_claimed_again(active_loan):
    run = ReportRun.objects.create(office=active_loan.office, start=START, as_of=AS_OF)
    claim = services._claim(run.pk)
    assert claim is not None and claim.attempt == 1
    assert services._claim(run.pk) is None  # a second worker (a duplicate delivery)
    assert services.report_run_build(run_id=run.pk) is None
    assert services.report_runs_take_back_stale(enqueue=False) == []
    run.refresh_from_db()
    assert run.status == ReportRun.Status.RUNNING and run.attempts == 1


def test_a_run_whose_worker_died_is_taken_back(active_loan, settings):
    settings.REPORTS_STALE_SECONDS = 0
    run = ReportRun.objects.create(office=active_loan.office, start=START, as_of=AS_OF)
    old = services._claim(run.pk)
    assert services.report_runs_take_back_stale(enqueue=False) == [run.pk]
    assert ReportRun.objects.get(pk=run.pk).status == ReportRun.Status.QUEUED
    built = services.report_run_build(run_id=run.pk)
    assert built.status == ReportRun.Status.DONE and built.attempts == 2
    # The dead worker, were it only slow, can no longer write to the run.
    with pytest.raises(services.RunLostError):
        old.progress(50, "late")


def test_monthly_packs_are_claimed_once(office_a, manager_a):
    first = services.report_run_request(
        office=office_a, start=dt.date(2021, 5, 1), as_of=dt.date(2021, 5, 31), kind="monthly"
    )
    again = services.report_run_request(
        office=office_a,
        start=dt.date(2021, 5, 1),
        as_of=dt.date(2021, 5, 31),
        kind="monthly",
        user=manager_a,
    )
    assert again.pk == first.pk
    assert ReportRun.objects.filter(kind="monthly").count() == 1
    # On demand, the same period may be asked any number of times.
    services.report_run_request(office=office_a, start=dt.date(2021, 5, 1), as_of=AS_OF)
    services.report_run_request(office=office_a, start=dt.date(2021, 5, 1), as_of=AS_OF)
    assert ReportRun.objects.filter(kind="on_demand").count() == 2


def test_compare_reports_a_back_dated_entry(done_run, active_loan, staff_a):
    unchanged = selectors.report_run_compare(run=done_run)
    assert not unchanged.changed and unchanged.differences == []

    loan_services.loan_repay_principal(
        loan=active_loan,
        amount=2_000_000,
        value_date=dt.date(2021, 3, 20),
        user=staff_a,
        idempotency_key=key(),
    )
    comparison = selectors.report_run_compare(run=done_run)
    assert comparison.changed
    assert comparison.ledger_position_now > comparison.ledger_position_then
    totals = {d.key: (d.old, d.new) for d in comparison.differences if d.table == "totals"}
    assert totals == {
        "collected": (0, 2_000_000),
        "closing": (50_000_000, 48_000_000),
    }
    hn = {(d.key, d.old, d.new) for d in comparison.differences if d.table == "by_programme"}
    assert hn == {("collected", 0, 2_000_000), ("closing", 50_000_000, 48_000_000)}
    assert {d.code for d in comparison.differences if d.table == "by_programme"} == {"HN"}
    # The month of June: its opening moved, its flows did not.
    month = {d.key: (d.old, d.new) for d in comparison.differences if d.table == "month.totals"}
    assert month == {"opening": (50_000_000, 48_000_000), "closing": (50_000_000, 48_000_000)}
    # The stored run did not move.
    assert ReportRun.objects.get(pk=done_run.pk).figures == done_run.figures


def test_a_failed_run_can_be_retried(
    active_loan, manager_a, settings, tmp_path, django_capture_on_commit_callbacks
):
    # A broken deployment: the PDF template cannot be found.
    templates = copy.deepcopy(settings.TEMPLATES)
    broken = copy.deepcopy(templates)
    broken[0]["DIRS"] = [tmp_path]
    settings.TEMPLATES = broken
    with django_capture_on_commit_callbacks(execute=True):
        run = services.report_run_request(
            office=active_loan.office, start=START, as_of=AS_OF, user=manager_a
        )
    run.refresh_from_db()
    assert run.status == ReportRun.Status.FAILED
    assert "TemplateDoesNotExist" in run.error and "reports/pdf/pack.html" in run.error
    assert run.figures is None and run.pdf is None and run.xlsx is None

    with refused("Only a finished report run can be compared."):
        selectors.report_run_compare(run=run)

    settings.TEMPLATES = templates  # repaired
    with django_capture_on_commit_callbacks(execute=True):
        services.report_run_retry(run=run, user=manager_a)
    run.refresh_from_db()
    assert run.status == ReportRun.Status.DONE and run.attempts == 2 and run.error == ""
    with refused("This report is finished and cannot be retried"):
        services.report_run_retry(run=run, user=manager_a)


def test_a_failed_monthly_pack_may_be_requested_again(office_a, active_loan):
    failed = ReportRun.objects.create(
        office=office_a, start=dt.date(2021, 5, 1), as_of=dt.date(2021, 5, 31), kind="monthly"
    )
    ReportRun.objects.filter(pk=failed.pk).update(status="failed", error="boom")
    fresh = services.report_run_request(
        office=office_a, start=dt.date(2021, 5, 1), as_of=dt.date(2021, 5, 31), kind="monthly"
    )
    assert fresh.pk != failed.pk
    # …and then the failed one cannot come back as a second monthly run.
    with refused("Another run of this monthly pack exists."):
        services.report_run_retry(run=failed)


# --- A killed worker's run: heartbeat, take-back, retry (issue 10, point 11) ----------------------


def _silence(run: ReportRun, seconds: int = 600) -> None:
    """The run's worker was last heard of `seconds` ago (as if its process had been killed)."""
    then = timezone.now() - dt.timedelta(seconds=seconds)
    ReportRun.objects.filter(pk=run.pk).update(started_at=then, heartbeat_at=then)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_heartbeat_beats_while_one_step_takes_longer_than_the_stale_threshold(
    active_loan, settings
):
    # Stale after 1 s, beats every 1/3 s; the figures step waits on the held loans table for 3 s.
    settings.REPORTS_STALE_SECONDS = 1
    run = ReportRun.objects.create(office=active_loan.office, start=START, as_of=AS_OF)
    built = []

    def build():
        try:
            built.append(services.report_run_build(run_id=run.pk))
        finally:
            connection.close()

    builder = threading.Thread(target=build)
    with loans_held():
        builder.start()
        beats = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            current = ReportRun.objects.defer("pdf", "xlsx").get(pk=run.pk)
            if current.progress == 5:  # inside the figures step, which is blocked
                beats.add(current.heartbeat_at)
            time.sleep(0.05)
        # Three stale thresholds inside one step, and still alive: nothing takes it back.
        assert services.report_runs_take_back_stale(enqueue=False) == []
        assert not services.run_is_stale(ReportRun.objects.get(pk=run.pk))
    builder.join(60)
    assert len(beats) >= 5, beats  # beaten by the thread while the build itself was waiting
    assert built and built[0].status == ReportRun.Status.DONE and built[0].attempts == 1


def test_the_defaults_notice_a_dead_worker_within_a_minute(settings):
    assert (settings.REPORTS_STALE_SECONDS, settings.REPORTS_HEARTBEAT_SECONDS) == (60, 15)
    assert settings.REPORTS_MAX_ATTEMPTS == 3
    assert services.stale_after() == dt.timedelta(seconds=60)
    assert services.heartbeat_every() == 15  # four beats missed before a run is stale
    settings.REPORTS_STALE_SECONDS = 3
    assert services.heartbeat_every() == 1  # never fewer than three beats per threshold


def test_a_run_that_keeps_losing_its_worker_fails_for_a_manager_to_retry(active_loan, settings):
    settings.REPORTS_STALE_SECONDS = 0
    settings.REPORTS_MAX_ATTEMPTS = 2
    run = ReportRun.objects.create(office=active_loan.office, start=START, as_of=AS_OF)
    services._claim(run.pk)  # attempt 1 dies
    assert services.report_runs_take_back_stale(enqueue=False) == [run.pk]
    assert ReportRun.objects.get(pk=run.pk).status == ReportRun.Status.QUEUED
    services._claim(run.pk)  # attempt 2 dies too
    with translation.override("en"):
        assert services.report_runs_take_back_stale(enqueue=False) == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.attempts) == (ReportRun.Status.FAILED, 2)
    assert run.error == (
        "The worker building this report stopped responding, 2 times; a manager may retry it."
    )
    assert services.report_run_retry(run=run, enqueue=False) is True
    assert ReportRun.objects.get(pk=run.pk).status == ReportRun.Status.QUEUED


def test_a_run_whose_worker_went_silent_can_be_retried_once(
    active_loan, manager_a, django_capture_on_commit_callbacks
):
    run = ReportRun.objects.create(office=active_loan.office, start=START, as_of=AS_OF)
    silent = services._claim(run.pk)
    # Alive (heartbeat just now): refused, and nothing changes.
    with pytest.raises(ValidationError) as refused:
        services.report_run_retry(run=run, user=manager_a)
    assert refused.value.code == "run_alive"
    assert ReportRun.objects.get(pk=run.pk).status == ReportRun.Status.RUNNING

    _silence(run)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.report_run_retry(run=run, user=manager_a) is True
        assert services.report_run_retry(run=run, user=manager_a) is False  # a double submit
    assert len(callbacks) == 1  # queued once
    assert ReportRun.objects.get(pk=run.pk).status == ReportRun.Status.QUEUED

    callbacks[0]()
    run.refresh_from_db()
    assert run.status == ReportRun.Status.DONE and run.attempts == 2
    # The silent worker, were it only slow, can no longer write to the run.
    with pytest.raises(services.RunLostError):
        silent.progress(50, "late")
    with pytest.raises(ValidationError) as refused:
        services.report_run_retry(run=run, user=manager_a)
    assert refused.value.code == "run_done"


def test_a_retried_run_has_one_writer_even_if_the_silent_worker_wakes_up(active_loan):
    run = ReportRun.objects.create(office=active_loan.office, start=START, as_of=AS_OF)
    silent = services._claim(run.pk)
    _silence(run)
    assert services.report_run_retry(run=run, enqueue=False) is True
    successor = services._claim(run.pk)
    assert successor.attempt == silent.attempt + 1
    # Whichever writes first, the silent one never writes: its run carries another attempt.
    with pytest.raises(services.RunLostError):
        silent.progress(30, "late")
    successor.progress(30, "mine")
    assert ReportRun.objects.get(pk=run.pk).progress_message == "mine"
