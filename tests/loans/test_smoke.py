import datetime as dt

from loans import services
from loans.selectors import ledger_mismatches

from ..conftest import key


def test_disburse_repay_overdue_roundtrip(active_loan, staff_a):
    assert active_loan.outstanding == 50_000_000
    assert active_loan.instalments.count() == 10
    services.loan_repay_principal(
        loan=active_loan,
        amount=1_000_000,
        value_date=dt.date(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 49_000_000
    assert ledger_mismatches() == []
