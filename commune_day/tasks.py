"""The commune day's background work. Tasks take ids, load, and call one service."""

from celery import shared_task

from . import printing


@shared_task(acks_late=True, reject_on_worker_lost=True)
def build_sheet_print(run_id: int) -> str:
    try:
        run = printing.sheet_print_build(run_id=run_id)
    except Exception:  # written on the run with its error (printing); the page shows it
        return "failed"
    return "skipped" if run is None else "done"
