from django.core.management.base import BaseCommand, CommandError

from loans.selectors import ledger_mismatches
from reports.models import MonthEndSnapshot
from reports.snapshots import snapshot_mismatches
from savings.selectors import savings_mismatches


class Command(BaseCommand):
    help = (
        "Prove every loan's cached balances equal what its ledger sums to (and every savings "
        "account's balance its savings ledger), and each office's "
        "newest month-end snapshot (or every snapshot, with --all-snapshots) too."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all-snapshots",
            action="store_true",
            help="Check every month-end snapshot, not only each office's newest.",
        )

    def handle(self, *args, **options):
        mismatches = ledger_mismatches()
        for row in mismatches:
            loan_id, number, *cached = row
            self.stderr.write(
                f"loan {number} (id {loan_id}): cached outstanding/overdue/frozen/disbursed "
                f"{cached[:4]} but the ledger sums to {cached[4:]}"
            )
        problems = [f"{len(mismatches)} loan(s) differ from their ledger."] if mismatches else []
        savings = savings_mismatches()
        for account_id, household_id, cached, summed in savings:
            self.stderr.write(
                f"savings account {account_id} (household {household_id}): cached balance "
                f"{cached} but its ledger sums to {summed}"
            )
        if savings:
            problems.append(f"{len(savings)} savings account(s) differ from their ledger.")
        bad = self.check_snapshots(every=options["all_snapshots"])
        if bad:
            problems.append(f"{bad} month-end snapshot(s) differ from the ledger.")
        if problems:
            raise CommandError(" ".join(problems))
        self.stdout.write("Ledger, cached balances and month-end snapshots agree.")

    def check_snapshots(self, *, every: bool) -> int:
        snapshots = MonthEndSnapshot.objects.select_related("office").order_by(
            "office_id", "-month_end"
        )
        if not every:
            snapshots = snapshots.distinct("office_id")
        bad = 0
        for snapshot in snapshots:
            loans = snapshot_mismatches(snapshot)
            if loans:
                bad += 1
                self.stderr.write(
                    f"snapshot of office {snapshot.office.code} at {snapshot.month_end:%d/%m/%Y}: "
                    f"loan ids {loans} differ from the ledger; rebuild it with "
                    f"`manage.py rebuild_month_end_snapshots --office {snapshot.office.code}`"
                )
        return bad
