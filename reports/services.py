"""Report runs: request, build (by a Celery task), retry, compare.

A build claims its run with a conditional UPDATE (queued → running, or a running run whose
heartbeat went stale because its worker died), computes the figures in one REPEATABLE READ
snapshot together with the ledger position, renders the PDF and the XLSX in memory while
reporting progress, and writes figures, files and status in one final transaction. A worker
killed at any point before that commit leaves the run as it was (running, without figures or
files); it is taken back once its heartbeat is stale.
"""

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loans.models import LoanTransaction

from .models import ReportRun
from .selectors import BREAKDOWNS, FIGURE_KEYS, month_start, report_figures

logger = logging.getLogger(__name__)

Status = ReportRun.Status


def _setting(name: str, default: int) -> int:
    """A reports knob in whole seconds: Django setting first, then the environment (the worker
    tests set it there)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def stale_after() -> dt.timedelta:
    """A running run whose heartbeat is older than this lost its worker."""
    return dt.timedelta(seconds=_setting("REPORTS_STALE_SECONDS", 600))


# --- Request, retry ------------------------------------------------------------------------------


def _enqueue(run_id: int) -> None:
    from . import tasks

    transaction.on_commit(lambda: tasks.build_report_run.delay(run_id))


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


def report_run_retry(*, run: ReportRun, user=None, enqueue: bool = True) -> ReportRun:
    """A failed run goes back to the queue (its error is kept in the log, cleared on the run)."""
    try:
        with transaction.atomic():
            updated = ReportRun.objects.filter(pk=run.pk, status=Status.FAILED).update(
                status=Status.QUEUED,
                progress=0,
                progress_message="",
                error="",
                heartbeat_at=None,
            )
            if not updated:
                raise ValidationError(_("Only a failed report run can be retried."))
            if enqueue:
                _enqueue(run.pk)
    except IntegrityError as exc:
        raise ValidationError(_("Another run of this monthly pack exists.")) from exc
    logger.info("report run %s retried by %s", run.pk, user)
    run.refresh_from_db()
    return run


def report_runs_take_back_stale(*, enqueue: bool = True) -> list[int]:
    """Running runs whose worker died (stale heartbeat) go back to the queue. Their broker
    message may also be redelivered: the claim makes the second delivery a no-op."""
    limit = timezone.now() - stale_after()
    stale = ReportRun.objects.filter(status=Status.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, started_at__lt=limit)
    )
    taken = []
    for run_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            if (
                ReportRun.objects.filter(pk=run_id, status=Status.RUNNING)
                .filter(Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True))
                .update(status=Status.QUEUED, progress_message=_("Taken back after a lost worker"))
            ):
                taken.append(run_id)
                if enqueue:
                    _enqueue(run_id)
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
    limit = now - stale_after()
    claimable = Q(status=Status.QUEUED) | (
        Q(status=Status.RUNNING)
        & (Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, started_at__lt=limit))
    )
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


def _snapshot_figures(run: ReportRun) -> tuple[int, dict, dict]:
    """Ledger position, period figures and month figures, all from one snapshot."""
    outer = connection.in_atomic_block  # in a test's transaction: that one is the snapshot
    with transaction.atomic():
        if not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        position = LoanTransaction.objects.aggregate(position=Max("id"))["position"] or 0
        figures = report_figures(office=run.office, start=run.start, as_of=run.as_of)
        month = report_figures(
            office=run.office,
            start=month_start(start=run.start, as_of=run.as_of),
            as_of=run.as_of,
        )
    return position, figures, month


def _test_delay(claim: _Claim) -> None:
    """REPORTS_TEST_DELAY_SECONDS slows the build (for the killed-worker test), with heartbeats."""
    delay = _setting("REPORTS_TEST_DELAY_SECONDS", 0)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        claim.progress(85, _("Waiting (test delay)"))
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def report_run_build(*, run_id: int) -> ReportRun | None:
    """Build a run if it can be claimed; None when another worker has it or it is finished."""
    from .rendering import render_pdf_pages, render_xlsx

    claim = _claim(run_id)
    if claim is None:
        return None
    run = ReportRun.objects.select_related("office").defer("pdf", "xlsx").get(pk=run_id)
    try:
        claim.progress(5, _("Computing the figures"))
        position, figures, month = _snapshot_figures(run)
        run.ledger_position = position
        claim.progress(30, _("Rendering the PDF"))
        pdf, pages = render_pdf_pages(figures, office=run.office, run=run, month_figures=month)
        claim.progress(75, _("Rendering the workbook"))
        xlsx = render_xlsx(figures, month_figures=month)
        _test_delay(claim)
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


# --- Compare -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    table: str  # "totals", "by_programme", … ; "month.totals" for the month's figures
    code: str
    name: str
    key: str
    old: int
    new: int

    @property
    def change(self) -> int:
        return self.new - self.old


@dataclass
class Comparison:
    run: ReportRun
    ledger_position_then: int | None
    ledger_position_now: int
    differences: list[Difference] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.differences)


def _diff(prefix: str, old: dict, new: dict) -> list[Difference]:
    found = [
        Difference(f"{prefix}totals", "", "", key, old["totals"][key], new["totals"][key])
        for key in FIGURE_KEYS
        if old["totals"][key] != new["totals"][key]
    ]
    for table in BREAKDOWNS:
        before = {row["code"]: row for row in old[table]}
        after = {row["code"]: row for row in new[table]}
        for code in sorted(before.keys() | after.keys()):
            a, b = before.get(code, {}), after.get(code, {})
            name = b.get("name") or a.get("name") or ""
            for key in FIGURE_KEYS:
                if a.get(key, 0) != b.get(key, 0):
                    found.append(
                        Difference(prefix + table, code, name, key, a.get(key, 0), b.get(key, 0))
                    )
    return found


def report_run_compare(*, run: ReportRun) -> Comparison:
    """Rebuild a done run's figures from today's ledger and list what differs (a back-dated
    entry, a reversal in a closed period re-opened since, …)."""
    if run.status != Status.DONE:
        raise ValidationError(_("Only a finished report run can be compared."))
    position, figures, month = _snapshot_figures(run)
    comparison = Comparison(run, run.ledger_position, position)
    comparison.differences = _diff("", run.figures, figures)
    if run.month_figures is not None:
        comparison.differences += _diff("month.", run.month_figures, month)
    return comparison
