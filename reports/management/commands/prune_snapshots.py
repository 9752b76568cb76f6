"""prune_snapshots [--office CODE] [--keep-months N] [--dry-run]"""

from django.core.management.base import BaseCommand, CommandError

from borrowers.models import Office
from reports.snapshots import (
    KEEP_MONTHS,
    dimension_changes_prune,
    snapshots_prune,
    snapshots_to_prune,
)


class Command(BaseCommand):
    help = (
        "Delete the month-end snapshots the policy lets go: all but the last --keep-months "
        f"(default {KEEP_MONTHS}) up to each office's newest, and the year ends. Reports stay "
        "exact; a period before the kept snapshots reads more of the ledger. The scheduled task "
        "reports.tasks.prune_snapshots runs it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--office", help="one office's code (default: every office)")
        parser.add_argument("--keep-months", dest="keep_months", type=int, default=KEEP_MONTHS)
        parser.add_argument("--dry-run", dest="dry_run", action="store_true")

    def handle(self, *args, office=None, keep_months, dry_run, **options):
        if keep_months < 1:
            raise CommandError("--keep-months is at least 1")
        offices = Office.objects.order_by("code")
        if office is not None:
            offices = offices.filter(code=office)
            if not offices.exists():
                raise CommandError(f"no office {office}")
        for each in offices:
            if dry_run:
                gone = [
                    s.month_end for s in snapshots_to_prune(office=each, keep_months=keep_months)
                ]
            else:
                gone = snapshots_prune(office=each, keep_months=keep_months)
            verb = "would prune" if dry_run else "pruned"
            listed = ", ".join(day.isoformat() for day in gone) or "nothing"
            self.stdout.write(f"{each.code}: {verb} {len(gone)} snapshot(s): {listed}")
        if not dry_run:
            changes = dimension_changes_prune()
            self.stdout.write(f"breakdown-key changes no snapshot needs: {changes} pruned")
