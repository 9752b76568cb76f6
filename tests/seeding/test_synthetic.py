"""The synthetic office of `make bench` obeys the invariants of real data."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from borrowers.citizen_id import validate_citizen_id
from borrowers.models import Household, HouseholdCategory
from loans.models import Loan, LoanTransaction
from loans.selectors import ledger_mismatches, overdue_candidates
from seeding.synthetic import seed_office

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def seeded(db):
    return seed_office(code="SYN", households=300, loans=600, entries=6_000, seed=7)


def test_counts_as_requested(seeded):
    office = seeded.office
    assert Household.objects.filter(office=office).count() == 300
    assert Loan.objects.filter(office=office).count() == 600
    assert LoanTransaction.objects.filter(office=office).count() == 6_000
    assert seeded.counts["ledger_entries"] == 6_000


def test_every_entry_is_in_the_outbox_numbered(seeded):
    """Replica mode keeps the outbox's triggers off: the loader numbers the office's entries."""
    from outbox.models import OutboxEntry

    rows = OutboxEntry.objects.filter(office=seeded.office)
    assert rows.filter(position__isnull=False).count() == 6_000
    assert set(rows.values_list("loan_entry_id", flat=True)) == set(
        LoanTransaction.objects.filter(office=seeded.office).values_list("pk", flat=True)
    )


def test_cache_equals_ledger(seeded):
    assert ledger_mismatches() == []
    call_command("check_ledger")


def test_balances_consistent(seeded):
    loans = Loan.objects.filter(office=seeded.office)
    for loan in loans:
        assert loan.overdue >= 0 and loan.frozen >= 0
        assert loan.overdue + loan.frozen <= loan.outstanding
        assert loan.disbursed <= loan.approved_amount
        if loan.status in ("settled", "written_off"):
            assert loan.outstanding == 0 and loan.disbursed > 0
        if loan.status in ("applied", "approved"):
            assert loan.disbursed == 0 and not loan.transactions.exists()
    # The mix a report needs: every programme and fate appears.
    statuses = set(loans.values_list("status", flat=True))
    assert {"active", "settled"} <= statuses
    assert loans.filter(overdue__gt=0).exists()
    kinds = set(LoanTransaction.objects.values_list("kind", flat=True))
    assert {"disbursement", "principal_repayment", "interest_payment"} <= kinds
    assert {"transfer_to_overdue", "reversal"} <= kinds


def test_ledger_rows_are_well_formed(seeded):
    with connection.cursor() as cursor:
        # Every balance as of every value date is consistent, not only at the end.
        cursor.execute(
            """
            SELECT count(*) FROM (
              SELECT sum(d_outstanding) OVER w o, sum(d_overdue) OVER w v, sum(d_frozen) OVER w f
                FROM loans_loantransaction WINDOW w AS (PARTITION BY loan_id ORDER BY id)
            ) s WHERE v < 0 OR f < 0 OR v + f > o
            """
        )
        assert cursor.fetchone()[0] == 0
    for entry in LoanTransaction.objects.filter(kind="reversal").select_related("reverses"):
        assert entry.reverses.loan_id == entry.loan_id
        assert entry.counted_kind == entry.reverses.kind
        assert entry.d_outstanding == -entry.reverses.d_outstanding
    keys = LoanTransaction.objects.values_list("idempotency_key", flat=True)
    assert len(set(keys)) == len(keys)


def test_schedules_agree_with_overdue_entries(seeded):
    """The daily overdue task finds nothing to transfer on the business date."""
    office = seeded.office
    assert list(overdue_candidates(office, office.business_date)) == []


def test_households_valid(seeded):
    households = list(Household.objects.filter(office=seeded.office))
    ids = [h.citizen_id for h in households]
    assert len(set(ids)) == len(ids)
    for h in households:
        validate_citizen_id(h.citizen_id, date_of_birth=h.date_of_birth, sex=h.sex)
    assert HouseholdCategory.objects.filter(household__office=seeded.office).count() == 600
    nguyen = sum(h.full_name.startswith("Nguyễn ") for h in households) / len(households)
    assert 0.25 < nguyen < 0.5


def test_loans_eligible_and_within_caps(seeded):
    from loans.services import loan_check_rules

    for loan in Loan.objects.filter(office=seeded.office).select_related("household", "programme")[
        :200
    ]:
        loan_check_rules(
            household=loan.household,
            programme=loan.programme,
            amount=loan.approved_amount,
            term_months=loan.term_months,
            on=loan.applied_on,
            workers_employed=loan.workers_employed,
            works_built=loan.works_built,
        )


def test_refuses_an_office_with_loans_unless_replace(seeded):
    with pytest.raises(CommandError, match="--replace"):
        call_command(
            "seed_synthetic", office="SYN", households=10, loans=10, entries=20, stdout=None
        )
    call_command("seed_synthetic", office="SYN", households=10, loans=10, entries=20, replace=True)
    assert Loan.objects.filter(office=seeded.office).count() == 10
    assert LoanTransaction.objects.filter(office=seeded.office).count() == 20
    assert ledger_mismatches() == []
