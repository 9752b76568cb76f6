"""Report builds. Tasks take ids, load, and call one service.

acks_late + reject_on_worker_lost: a worker killed mid-build does not acknowledge its message,
so the broker redelivers it; the run it held stays `running` with no figures or files (they are
written only in the build's final transaction) and its heartbeat stops. The periodic
`take_back_stale_report_runs` (every REPORTS_TAKE_BACK_SECONDS, 30 s, by setup_periodic_tasks)
and every worker starting up put such a run back in the queue once its heartbeat is older than
REPORTS_STALE_SECONDS (60 s), so a killed worker's run is rebuilt within about a minute and a
half, never depending on the broker's visibility timeout.
"""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.core.exceptions import ValidationError

from borrowers.models import Office

from . import services
from .models import ReportRun
from .month_close import last_transaction_day, monthly_pack_request
from .periods import previous_month

logger = logging.getLogger(__name__)

MAX_RETRIES = 3


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def build_report_run(self, run_id: int) -> str:
    try:
        run = services.report_run_build(run_id=run_id)
    except Exception as exc:
        # The run is marked failed with its error. A worker retries it a few times (a database
        # restart, a full disk); in-process (eager) runs stay failed for a manager to retry.
        if self.request.is_eager or self.request.retries >= self.max_retries:
            logger.exception("report run %s failed", run_id)
            return "failed"
        try:
            services.report_run_retry(run=ReportRun(pk=run_id), enqueue=False)
        except ValidationError:  # taken back meanwhile, or a monthly twin: no longer ours
            logger.exception("report run %s failed and cannot be retried", run_id)
            return "failed"
        raise self.retry(exc=exc, countdown=10 * 2**self.request.retries) from exc
    return "skipped" if run is None else "done"


@shared_task
def take_back_stale_report_runs() -> list[int]:
    """Runs whose worker died go back to the queue, or fail after too many lost workers."""
    return services.report_runs_take_back_stale()


@worker_ready.connect
def _take_back_on_start(sender=None, **kwargs) -> None:
    try:
        taken = services.report_runs_take_back_stale()
    except Exception:  # a worker must start even if the database is not there yet
        logger.exception("could not take back stale report runs")
        return
    if taken:
        logger.warning("took back stale report runs %s", taken)


@shared_task
def monthly_packs_due() -> list[int]:
    """Daily: every office's pack of the previous month (by its business date), once the day
    after that month's last transaction day has come. Claimed once per office and month."""
    queued = []
    for office in Office.objects.all():
        month = previous_month(office.business_date)
        if last_transaction_day(office=office, month=month) >= office.business_date:
            continue
        run = monthly_pack_request(office=office, month=month)
        if run is not None:
            queued.append(run.pk)
    return queued


@shared_task
def prune_snapshots() -> dict[str, int]:
    """Daily (nothing to do most days): each office's month-end snapshots the policy lets go
    (reports.snapshots), all but the last 24 months and the year ends. Reports stay exact; only
    older periods read more of the ledger."""
    from .snapshots import dimension_changes_prune, snapshots_prune

    pruned = {}
    for office in Office.objects.all():
        gone = snapshots_prune(office=office)
        if gone:
            pruned[office.code] = len(gone)
            logger.info("office %s: pruned the snapshots of %s", office.code, gone)
    changes = dimension_changes_prune()
    if changes:
        logger.info("pruned %s breakdown-key changes no snapshot needs", changes)
    return pruned
