"""Report runs: request, build (by a Celery task), retry. (Comparing a finished run with today's
ledger is a read: reports.selectors.report_run_compare.)

A build claims its run with a conditional UPDATE (queued → running, or a running run whose
heartbeat went stale because its worker died), computes the figures in one REPEATABLE READ
snapshot together with the ledger position, renders the PDF and the XLSX in memory while
reporting progress, and writes figures, files and status in one final transaction. A worker
killed at any point before that commit leaves the run as it was (running, without figures or
files).

While it builds, a thread beats the run's heartbeat every few seconds, so that a long step (the
figures of a province, a PDF of thousands of rows) does not look like a dead worker and a dead
worker is known within a minute: its heartbeat stops with its process. A running run whose
heartbeat is older than `stale_after()` is taken back by the periodic task (requeued, or failed
once it has lost too many workers) and a manager may retry it. A build writes only while its
run is running with the build's own attempt number, so a run taken back or retried never has
two builds writing it, even if the silent worker was only slow.
"""

import datetime as dt
import logging
import threading

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import ReportRun
from .rendering import render_pdf_pages, render_xlsx
from .selectors import snapshot_figures

logger = logging.getLogger(__name__)

Status = ReportRun.Status


def stale_after() -> dt.timedelta:
    """A running run whose heartbeat is older than this lost its worker (four missed beats)."""
    return dt.timedelta(seconds=max(0, settings.REPORTS_STALE_SECONDS))


def heartbeat_every() -> float:
    """Seconds between a build's heartbeats; at most a third of the stale threshold, so that a
    short threshold (the worker tests) never takes back a live build."""
    # A wait for the heartbeat thread, in seconds (time, not money: fractions of a second are
    # what a one-second test threshold needs).
    return max(0.2, min(settings.REPORTS_HEARTBEAT_SECONDS, stale_after().total_seconds() / 3))


def max_attempts() -> int:
    """A run that has lost this many workers is failed instead of requeued (a pack that kills
    its worker, out of memory, would otherwise loop); a manager may still retry it."""
    return max(1, settings.REPORTS_MAX_ATTEMPTS)


def _stale(limit: dt.datetime) -> Q:
    return Q(status=Status.RUNNING) & (
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, started_at__lt=limit)
    )


def run_is_stale(run: ReportRun) -> bool:
    """Running, and its worker has not been heard of for longer than the stale threshold."""
    if run.status != Status.RUNNING:
        return False
    last = run.heartbeat_at or run.started_at
    return last is not None and last < timezone.now() - stale_after()


# --- Request, retry ------------------------------------------------------------------------------


# Queued by name, not imported: reports.tasks sits above this module (its tasks call these
# services), and ReportsConfig.ready() registers it in every process, eager or not.
BUILD_TASK = "reports.tasks.build_report_run"


def _enqueue(run_id: int) -> None:
    transaction.on_commit(lambda: current_app.tasks[BUILD_TASK].delay(run_id))


def report_run_request(
    *, office, start: dt.date, as_of: dt.date, user=None, kind: str = ReportRun.Kind.ON_DEMAND
) -> ReportRun:
    """A queued run, built by a task once this transaction commits. A monthly pack is claimed
    once per office and period: asking again returns the run that exists (unless it failed)."""
    if as_of < start:
        raise ValidationError(_("The end of the period is before its start."))
    if as_of > office.business_date:
        raise ValidationError(_("The period ends after the office's business date."))
    try:
        with transaction.atomic():
            run = ReportRun.objects.create(
                office=office, start=start, as_of=as_of, kind=kind, requested_by=user
            )
            _enqueue(run.pk)
    except IntegrityError:
        if kind != ReportRun.Kind.MONTHLY:
            raise
        return (
            ReportRun.objects.exclude(status=Status.FAILED)
            .defer("pdf", "xlsx")
            .get(office=office, start=start, as_of=as_of, kind=kind)
        )
    return run


def report_run_retry(*, run: ReportRun, user=None, enqueue: bool = True) -> bool:
    """A failed run, or a running one whose worker went silent, goes back to the queue (a
    failed run's error is kept in the log, cleared on the run). True when this call queued it,
    False when it was queued already (a double submit queues once). A live or finished run is
    refused with the reason.

    The conditional UPDATE is the claim: of two concurrent retries one matches, and a worker
    still building a taken-back run can no longer write to it (its run is not running any more,
    and the next claim bumps the attempt)."""
    limit = timezone.now() - stale_after()
    try:
        with transaction.atomic():
            updated = ReportRun.objects.filter(
                Q(status=Status.FAILED) | _stale(limit), pk=run.pk
            ).update(
                status=Status.QUEUED,
                progress=0,
                progress_message="",
                error="",
                heartbeat_at=None,
            )
            if updated and enqueue:
                _enqueue(run.pk)
    except IntegrityError as exc:
        raise ValidationError(
            _("Another run of this monthly pack exists."), code="monthly_pack_exists"
        ) from exc
    run.refresh_from_db(fields=["status", "progress", "progress_message", "error", "heartbeat_at"])
    if updated:
        logger.info("report run %s retried by %s", run.pk, user)
        return True
    if run.status == Status.QUEUED:
        return False
    if run.status == Status.DONE:
        raise ValidationError(
            _("This report is finished and cannot be retried; request a new one instead."),
            code="run_done",
        )
    raise ValidationError(
        _(
            "This report is still being built: its worker was heard from less than "
            "%(seconds)d seconds ago. It can be retried once its worker has been silent "
            "for that long."
        ),
        code="run_alive",
        params={"seconds": int(stale_after().total_seconds())},
    )


def report_runs_take_back_stale(*, enqueue: bool = True) -> list[int]:
    """Running runs whose worker died (stale heartbeat) go back to the queue, or fail once they
    have lost `max_attempts()` workers. Their broker message may also be redelivered: the claim
    makes the second delivery a no-op. Returns the ids of the runs taken back."""
    limit = timezone.now() - stale_after()
    taken = []
    for run_id, attempts in ReportRun.objects.filter(_stale(limit)).values_list("pk", "attempts"):
        with transaction.atomic():
            again = ReportRun.objects.filter(_stale(limit), pk=run_id, attempts=attempts)
            if attempts < max_attempts():
                changed = again.update(
                    status=Status.QUEUED, progress_message=_("Taken back after a lost worker")
                )
                if changed and enqueue:
                    _enqueue(run_id)
            else:
                changed = again.update(
                    status=Status.FAILED,
                    finished_at=timezone.now(),
                    progress_message=_("Failed"),
                    error=_(
                        "The worker building this report stopped responding, %(attempts)d "
                        "times; a manager may retry it."
                    )
                    % {"attempts": attempts},
                )
            if changed:
                taken.append(run_id)
    if taken:
        logger.warning("took back report runs %s from lost workers", taken)
    return taken


# --- Build ---------------------------------------------------------------------------------------


class _Claim:
    """The worker's hold on a run: progress is written only while the run is still ours."""

    def __init__(self, run_id: int, attempt: int):
        self.run_id, self.attempt = run_id, attempt

    def mine(self):
        return ReportRun.objects.filter(
            pk=self.run_id, status=Status.RUNNING, attempts=self.attempt
        )

    def progress(self, percent: int, message: str) -> None:
        if not self.mine().update(
            progress=percent, progress_message=message, heartbeat_at=timezone.now()
        ):
            raise RunLostError(f"report run {self.run_id} is no longer held by this worker")


class RunLostError(RuntimeError):
    """The run was taken back by another worker (our heartbeat went stale)."""


def _claim(run_id: int) -> _Claim | None:
    now = timezone.now()
    claimable = Q(status=Status.QUEUED) | _stale(now - stale_after())
    with transaction.atomic():
        updated = (
            ReportRun.objects.filter(claimable, pk=run_id)
            .select_for_update()
            .update(
                status=Status.RUNNING,
                attempts=F("attempts") + 1,
                started_at=now,
                heartbeat_at=now,
                progress=1,
                progress_message=_("Started"),
                error="",
            )
        )
        if not updated:
            return None
        attempt = ReportRun.objects.filter(pk=run_id).values_list("attempts", flat=True).get()
    return _Claim(run_id, attempt)


class _Heartbeat:
    """Beats the claimed run's heartbeat from a thread while the build works, including inside
    a single long step. The thread has its own database connection (Django's are per thread)
    and stops at the end of the build, when the run is no longer ours, or with its process."""

    def __init__(self, claim: _Claim):
        self.claim = claim
        self.stopped = threading.Event()
        self.thread = threading.Thread(
            target=self._beat, name=f"report-run-{claim.run_id}-heartbeat", daemon=True
        )

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(heartbeat_every()):
                if not self.claim.mine().update(heartbeat_at=timezone.now()):
                    return  # taken back: the build finds out at its next step
        except Exception:  # a lost beat is not worth a failed build; staleness will tell
            logger.exception("report run %s: heartbeat failed", self.claim.run_id)
        finally:
            connection.close()

    def __enter__(self):
        # Inside an outer transaction (a test's) the thread could not see the run, and its
        # UPDATE would wait for that transaction's row lock: builds there are short, unbeaten.
        if not connection.in_atomic_block:
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)


def report_run_build(*, run_id: int) -> ReportRun | None:
    """Build a run if it can be claimed; None when another worker has it or it is finished."""
    claim = _claim(run_id)
    if claim is None:
        return None
    run = ReportRun.objects.select_related("office").defer("pdf", "xlsx").get(pk=run_id)
    with _Heartbeat(claim):
        return _build(run, claim)


def _build(run: ReportRun, claim: _Claim) -> ReportRun | None:
    run_id = run.pk
    try:
        claim.progress(5, _("Computing the figures"))
        position, figures, month = snapshot_figures(run)
        run.ledger_position = position
        claim.progress(30, _("Rendering the PDF"))
        pdf, pages = render_pdf_pages(figures, office=run.office, run=run, month_figures=month)
        claim.progress(75, _("Rendering the workbook"))
        xlsx = render_xlsx(figures, month_figures=month)
        claim.progress(95, _("Saving"))
        with transaction.atomic():
            locked = ReportRun.objects.select_for_update().get(pk=run_id)
            if locked.status != Status.RUNNING or locked.attempts != claim.attempt:
                raise RunLostError(f"report run {run_id} is no longer held by this worker")
            locked.ledger_position = position
            locked.figures = figures
            locked.month_figures = month
            locked.pdf = pdf
            locked.xlsx = xlsx
            locked.pdf_pages = pages
            locked.status = Status.DONE
            locked.progress = 100
            locked.progress_message = _("Done")
            locked.finished_at = timezone.now()
            locked.heartbeat_at = locked.finished_at
            locked.save()
        return locked
    except RunLostError:
        logger.warning("report run %s was taken back from this worker", run_id)
        return None
    except Exception as exc:
        claim.mine().update(
            status=Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:4000],
            finished_at=timezone.now(),
            progress_message=_("Failed"),
        )
        raise
