"""The delta figures shared out over parallel sessions (reports.delta) read exactly what the
calling transaction reads, and give the figures the ledger gives."""

import datetime as dt

import pytest

from borrowers.models import SavingsGroup
from loans import services as loan_services
from reports import selectors
from reports.delta import can_share
from reports.month_close import month_close
from tests.conftest import key
from tests.factories import HouseholdFactory, VillageFactory

JAN = dt.date(2021, 1, 1)
FEB, MAR = dt.date(2021, 2, 1), dt.date(2021, 3, 20)


def _loan(household, staff, manager, programme, amount, day):
    loan = loan_services.loan_apply(
        household=household,
        programme=programme,
        amount=amount,
        term_months=36,
        applied_on=day,
        user=staff,
        group=household.group,
        workers_employed=1,
    )
    loan_services.loan_approve(loan=loan, user=manager, approved_on=day)
    loan_services.loan_disburse(
        loan=loan, amount=amount, value_date=day, user=staff, idempotency_key=key()
    )
    return loan


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parallel_sessions_give_the_ledgers_figures(
    active_loan, staff_a, manager_a, hn, settings, monkeypatch
):
    office = active_loan.office
    households = [HouseholdFactory(group=active_loan.household.group) for _n in range(5)]
    households += [HouseholdFactory(group__village__commune__office=office) for _n in range(4)]
    loans = [
        _loan(h, staff_a, manager_a, hn, 10_000_000 + n * 1_000_000, dt.date(2021, 1, 20))
        for n, h in enumerate(households)
    ]
    month_close(office=office, month=JAN, user=manager_a)
    # February: partial and full repayments (a household loses its balance), new loans (one in
    # a household that had none), a reversal, and a group moved to another commune (rekeyed).
    for loan in loans[:4]:
        loan_services.loan_repay_principal(
            loan=loan,
            amount=1_000_000,
            value_date=dt.date(2021, 2, 10),
            user=staff_a,
            idempotency_key=key(),
        )
    loan_services.loan_repay_principal(
        loan=loans[4],
        amount=14_000_000,
        value_date=dt.date(2021, 2, 11),
        user=staff_a,
        idempotency_key=key(),
    )
    newcomer = HouseholdFactory(group__village__commune__office=office)
    fresh = [
        _loan(newcomer, staff_a, manager_a, hn, 7_000_000, dt.date(2021, 2, 12)),
        _loan(households[6], staff_a, manager_a, hn, 8_000_000, dt.date(2021, 2, 13)),
    ]
    entry = loan_services.loan_repay_principal(
        loan=fresh[1],
        amount=500_000,
        value_date=dt.date(2021, 2, 14),
        user=staff_a,
        idempotency_key=key(),
    )
    loan_services.loan_reverse(
        entry=entry, value_date=dt.date(2021, 2, 15), user=staff_a, idempotency_key=key()
    )
    group = SavingsGroup.objects.get(pk=households[7].group_id)
    group.village = VillageFactory(commune__office=office)
    group.save()

    used = []

    def recording(*, params, shares=1):
        used.append(shares)
        return delta_figure_rows(params=params, shares=shares)

    delta_figure_rows = selectors.delta_figure_rows
    monkeypatch.setattr(selectors, "delta_figure_rows", recording)
    settings.REPORT_SHARE_MIN_ENTRIES = 0
    assert can_share()
    ledger = {}
    for start in (FEB, dt.date(2021, 2, 12)):
        expected = ledger[start] = selectors.figures_for_period(
            office=office, start=start, as_of=MAR, method="ledger"
        )
        for sessions in (1, 2, 3):
            settings.REPORT_SESSIONS = sessions
            got = selectors.figures_for_period(
                office=office, start=start, as_of=MAR, method="delta"
            )
            assert got == expected, (start, sessions)
    assert used == [1, 2, 3, 1, 2, 3]
    # auto: most of the loans changed since the snapshot, so the snapshot method in one session,
    # but the delta whenever it can be shared (the cheaper of the two then: decision 0006)
    used.clear()
    for sessions in (1, 2):
        settings.REPORT_SESSIONS = sessions
        assert selectors.figures_for_period(office=office, start=FEB, as_of=MAR) == ledger[FEB]
    assert used == [2]
    assert expected["customers_with_balance"] == 10  # 11 households, one paid up
    assert expected["loan_turns"] == 2  # from 12/02: a reversed repayment cancels no loan


@pytest.mark.django_db
def test_no_sharing_inside_a_savepoint_or_after_a_write(active_loan):
    """A snapshot cannot be exported from a savepoint, and other sessions would not see this
    transaction's own writes: the figures are then computed in this session."""
    assert not can_share()  # the test runs in a savepoint of the test transaction
