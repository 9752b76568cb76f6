from django.core.management.base import BaseCommand, CommandError

from loans.selectors import ledger_mismatches


class Command(BaseCommand):
    help = "Prove every loan's cached balances equal what its ledger sums to."

    def handle(self, *args, **options):
        mismatches = ledger_mismatches()
        for row in mismatches:
            loan_id, number, *cached = row
            self.stderr.write(
                f"loan {number} (id {loan_id}): cached outstanding/overdue/frozen/disbursed "
                f"{cached[:4]} but the ledger sums to {cached[4:]}"
            )
        if mismatches:
            raise CommandError(f"{len(mismatches)} loan(s) differ from their ledger.")
        self.stdout.write("Ledger and cached balances agree.")
