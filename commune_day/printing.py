"""A session's sheets in one PDF, built in the worker with its progress (SheetPrintRun).

The request makes a queued run and queues the task on commit; the task claims the run once (a
conditional UPDATE from queued), lays the sheets out batch by batch, writing its progress
between batches, and stores the PDF with its status in one transaction. A failure is written on
the run with its error, for the page to show."""

import logging

from celery import current_app
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import SheetPrintRun, TransactionSession
from .rendering import render_sheets_pdf
from .selectors import collection_sheets, session_groups

logger = logging.getLogger(__name__)
# Queued by name, not imported: commune_day.tasks sits above this module (its task calls it).
BUILD_TASK = "commune_day.tasks.build_sheet_print"
Status = SheetPrintRun.Status


def sheet_print_request(*, session: TransactionSession, user) -> SheetPrintRun:
    """Queue the PDF of every sheet of the session (built by commune_day.tasks)."""
    with transaction.atomic():
        run = SheetPrintRun.objects.create(
            session=session, requested_by=user, progress_message=_("Queued")
        )
        transaction.on_commit(lambda: current_app.tasks[BUILD_TASK].delay(run.pk))
    return run


def sheet_print_build(*, run_id: int) -> SheetPrintRun | None:
    """Build a queued run; None when it was already claimed."""
    claimed = SheetPrintRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        started_at=timezone.now(),
        progress=5,
        progress_message=_("Computing the sheets"),
    )
    if not claimed:
        return None
    mine = SheetPrintRun.objects.filter(pk=run_id, status=Status.RUNNING)
    run = SheetPrintRun.objects.select_related("session__office", "session__teller").get(pk=run_id)
    session = run.session
    try:
        sheets = collection_sheets(session_groups(session), session.date)

        def progress(done: int, total: int) -> None:
            mine.update(
                progress=10 + 85 * done // max(total, 1),
                progress_message=_("Laid out %(done)s of %(total)s sheets")
                % {"done": done, "total": total},
            )

        mine.update(progress=10, progress_message=_("Laying out the sheets"))
        pdf, pages = render_sheets_pdf(sheets, session=session, progress=progress)
        with transaction.atomic():
            locked = SheetPrintRun.objects.select_for_update().get(pk=run_id)
            locked.pdf, locked.pdf_pages = pdf, pages
            locked.status, locked.progress = Status.DONE, 100
            locked.progress_message = _("Done")
            locked.finished_at = timezone.now()
            locked.save()
        return locked
    except Exception as exc:
        logger.exception("sheet print run %s failed", run_id)
        mine.update(
            status=Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:4000],
            finished_at=timezone.now(),
            progress_message=_("Failed"),
        )
        raise
