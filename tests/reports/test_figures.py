"""figures_for_period against a small portfolio whose figures are worked out by hand.

Office A, period 1 April – 31 May 2021 (M = million VND):

- L1 HN 50 M, household H1 in group G1 (women, commune C1): disbursed 15/01, repaid 2 M on
  15/02, 3 M to overdue on 20/03, the 15/02 repayment reversed on 10/04 (in the period, of an entry
  before it), interest 0.25 M on 15/04, repaid 5 M on 15/05 (overdue first), 1 M to overdue 20/05,
  repaid 1 M on 10/06 (after the period).
- L2 HCN 30 M, household H2 in group G2 (farmers, commune C2): disbursed 05/04, repaid 1 M and
  interest 0.1 M on 10/05, 2 M written off on 25/05, transferred to office B on 28/05 (27 M).
- L3 GQVL 250 M for 3 workers, H1 direct (no group): 100 M disbursed 25/03, reversed 02/04,
  disbursed again 03/04.
- L4 NSVS 20 M for 2 works, H1 in G1: disbursed 12/04, 5 M frozen on 20/05.
"""

import datetime as dt

import pytest

from borrowers.models import Organisation
from loans import services
from loans.models import Programme
from reports.selectors import (
    ADDITIVE_KEYS,
    FIGURE_KEYS,
    figures_for_period,
    roll_forward_holds,
    rows_sum_to_totals,
)

from ..conftest import key
from ..factories import (
    ChapterFactory,
    CommuneFactory,
    GroupFactory,
    HouseholdFactory,
    VillageFactory,
)

M = 1_000_000
START, AS_OF = dt.date(2021, 4, 1), dt.date(2021, 5, 31)
D = dt.date


JAN_5 = D(2021, 1, 5)


def _loan(household, code, amount, manager, *, group, applied=JAN_5, **outcome):
    loan = services.loan_apply(
        household=household,
        programme=Programme.objects.get(code=code),
        amount=amount,
        term_months=60,
        applied_on=applied,
        user=manager,
        group=group,
        **outcome,
    )
    return services.loan_approve(loan=loan, user=manager, approved_on=applied)


def _do(service, loan, user, day, **kwargs):
    return service(loan=loan, value_date=day, user=user, idempotency_key=key(), **kwargs)


@pytest.fixture
def portfolio(office_a, office_b, household_a, manager_a):
    s, u = services, manager_a
    h1, g1 = household_a, household_a.group
    c2 = CommuneFactory(office=office_a, name="Xã Hạ Mỗ")
    farmers = Organisation.objects.get(code="farmers")
    g2 = GroupFactory(
        village=VillageFactory(commune=c2),
        chapter=ChapterFactory(commune=c2, organisation=farmers),
    )
    h2 = HouseholdFactory(group=g2, full_name="Lê Văn Nam", sex="M", category="near_poor")

    l1 = _loan(h1, "HN", 50 * M, u, group=g1)
    _do(s.loan_disburse, l1, u, D(2021, 1, 15), amount=50 * M)
    early = _do(s.loan_repay_principal, l1, u, D(2021, 2, 15), amount=2 * M)
    _do(s.loan_pay_interest, l1, u, D(2021, 2, 15), amount=300_000, prepayment=True)
    _do(s.loan_transfer_to_overdue, l1, u, D(2021, 3, 20), amount=3 * M)
    services.loan_reverse(entry=early, value_date=D(2021, 4, 10), user=u, idempotency_key=key())
    _do(s.loan_pay_interest, l1, u, D(2021, 4, 15), amount=250_000)
    _do(s.loan_repay_principal, l1, u, D(2021, 5, 15), amount=5 * M)
    _do(s.loan_transfer_to_overdue, l1, u, D(2021, 5, 20), amount=1 * M)
    _do(s.loan_repay_principal, l1, u, D(2021, 6, 10), amount=1 * M)

    l2 = _loan(h2, "HCN", 30 * M, u, group=g2, applied=D(2021, 3, 20))
    _do(s.loan_disburse, l2, u, D(2021, 4, 5), amount=30 * M)
    _do(s.loan_repay_principal, l2, u, D(2021, 5, 10), amount=1 * M)
    _do(s.loan_pay_interest, l2, u, D(2021, 5, 10), amount=100_000)
    _do(s.loan_write_off, l2, u, D(2021, 5, 25), amount=2 * M, note="Thiên tai")
    l2.refresh_from_db()  # loan_transfer takes the amount from the instance it is given
    services.loan_transfer(
        loan=l2,
        to_office=office_b,
        to_village=VillageFactory(commune__office=office_b),
        value_date=D(2021, 5, 28),
        user=u,
        idempotency_key=key(),
    )

    l3 = _loan(h1, "GQVL", 250 * M, u, group=None, applied=D(2021, 3, 1), workers_employed=3)
    wrong = _do(s.loan_disburse, l3, u, D(2021, 3, 25), amount=100 * M)
    services.loan_reverse(entry=wrong, value_date=D(2021, 4, 2), user=u, idempotency_key=key())
    _do(s.loan_disburse, l3, u, D(2021, 4, 3), amount=100 * M)

    l4 = _loan(h1, "NSVS", 20 * M, u, group=g1, applied=D(2021, 4, 1), works_built=2)
    _do(s.loan_disburse, l4, u, D(2021, 4, 12), amount=20 * M)
    _do(s.loan_freeze, l4, u, D(2021, 5, 20), amount=5 * M, note="Hồ sơ khoanh nợ 01")
    return {"l1": l1, "l2": l2, "l3": l3, "l4": l4, "c2": c2, "g1": g1, "g2": g2}


def _row(figures, dimension, code):
    return next(r for r in figures[f"by_{dimension}"] if r["code"] == code)


def _expect(**values):
    expected = dict.fromkeys(FIGURE_KEYS, 0)
    expected.update(values)
    return expected


def _figures(row):
    return {k: row[k] for k in FIGURE_KEYS}


def test_totals_by_hand(portfolio, office_a):
    figures = figures_for_period(office=office_a, start=START, as_of=AS_OF)
    assert _figures(figures) == _expect(
        opening=148 * M,  # L1 48 M (50 − 2), L3 100 M
        disbursed=50 * M,  # L2 30 M, L3 −100 M + 100 M, L4 20 M
        collected=4 * M,  # L1 −2 M (reversal) + 5 M, L2 1 M
        written_off=2 * M,
        interest_collected=350_000,
        transferred_out=27 * M,
        closing=165 * M,  # L1 45 M, L3 100 M, L4 20 M
        overdue=1 * M,
        frozen=5 * M,
        customers_with_balance=1,  # H1; H2's loan left for office B
        loan_turns=3,  # L2, L3 (first unreversed disbursement 03/04), L4
        workers_employed=3,
        works_built=2,
    )
    assert roll_forward_holds(figures)


def test_breakdowns_by_hand(portfolio, office_a, household_a):
    figures = figures_for_period(office=office_a, start=START, as_of=AS_OF)
    assert _figures(_row(figures, "programme", "HN")) == _expect(
        opening=48 * M,
        collected=3 * M,
        interest_collected=250_000,
        closing=45 * M,
        overdue=1 * M,
        customers_with_balance=1,
    )
    assert _figures(_row(figures, "programme", "HCN")) == _expect(
        disbursed=30 * M,
        collected=1 * M,
        written_off=2 * M,
        interest_collected=100_000,
        transferred_out=27 * M,
        loan_turns=1,
    )
    assert [r["code"] for r in figures["by_programme"]] == ["HN", "HCN", "GQVL", "NSVS"]
    # Organisations: the group's chapter; a loan without a group is direct.
    women = _row(figures, "organisation", "women")
    assert (women["opening"], women["disbursed"], women["closing"]) == (48 * M, 20 * M, 65 * M)
    assert (women["loan_turns"], women["works_built"], women["frozen"]) == (1, 2, 5 * M)
    direct = _row(figures, "organisation", "direct")
    assert _figures(direct) == _expect(
        opening=100 * M,
        closing=100 * M,
        customers_with_balance=1,
        loan_turns=1,
        workers_employed=3,
    )
    assert _row(figures, "organisation", "farmers")["transferred_out"] == 27 * M
    # Communes: the direct loan counts in its household's commune.
    c1 = household_a.village.commune
    assert _row(figures, "commune", c1.code)["closing"] == 165 * M
    assert _row(figures, "commune", c1.code)["loan_turns"] == 2
    assert _row(figures, "commune", portfolio["c2"].code)["disbursed"] == 30 * M
    assert _row(figures, "group", portfolio["g1"].code)["closing"] == 65 * M
    assert _row(figures, "group", "direct")["closing"] == 100 * M


def test_rows_sum_to_totals_and_roll_forward(portfolio, office_a):
    figures = figures_for_period(office=office_a, start=START, as_of=AS_OF)
    for dimension in ("programme", "commune", "organisation", "group"):
        assert rows_sum_to_totals(figures, dimension), dimension
        for row in figures[f"by_{dimension}"]:
            assert roll_forward_holds(row), (dimension, row)
    # A household with loans in two organisations counts once in the totals.
    by_org = figures["by_organisation"]
    assert sum(r["customers_with_balance"] for r in by_org) == 2
    assert figures["customers_with_balance"] == 1
    assert "customers_with_balance" not in ADDITIVE_KEYS


def test_the_receiving_office_sees_a_transfer_in(portfolio, office_b):
    figures = figures_for_period(office=office_b, start=START, as_of=AS_OF)
    assert _figures(figures) == _expect(
        transferred_in=27 * M, closing=27 * M, customers_with_balance=1
    )
    assert roll_forward_holds(figures)


def test_first_quarter_and_an_as_of_inside_the_period(portfolio, office_a):
    q1 = figures_for_period(office=office_a, start=D(2021, 1, 1), as_of=D(2021, 3, 31))
    assert _figures(q1) == _expect(
        disbursed=150 * M,  # L1 50 M, L3 100 M (reversed only in April)
        collected=2 * M,
        interest_collected=300_000,
        closing=148 * M,
        overdue=3 * M,
        customers_with_balance=1,
        loan_turns=2,  # L1; L3, whose first disbursement was not reversed by 31/03
        workers_employed=3,
    )
    # As of 2 April, L3's first disbursement is reversed and not yet made again: no turn.
    early_april = figures_for_period(office=office_a, start=D(2021, 4, 1), as_of=D(2021, 4, 2))
    assert early_april["disbursed"] == -100 * M
    assert early_april["loan_turns"] == 0
    assert early_april["closing"] == 48 * M
    # Across a year end, the 2021 entries are all in the period and the opening is zero.
    year = figures_for_period(office=office_a, start=D(2020, 7, 1), as_of=D(2021, 6, 15))
    assert year["opening"] == 0
    assert year["closing"] == 164 * M  # L1 repaid 1 M more on 10/06
    assert year["loan_turns"] == 4
    assert roll_forward_holds(year)


def test_a_back_dated_entry_changes_only_its_periods(portfolio, office_a, manager_a):
    before = figures_for_period(office=office_a, start=START, as_of=AS_OF)
    june_before = figures_for_period(office=office_a, start=D(2021, 6, 1), as_of=D(2021, 6, 15))
    q1_before = figures_for_period(office=office_a, start=D(2021, 1, 1), as_of=D(2021, 3, 31))
    # Posted today, dated 20 April: a repayment on L4 that was forgotten.
    _do(services.loan_repay_principal, portfolio["l4"], manager_a, D(2021, 4, 20), amount=2 * M)
    after = figures_for_period(office=office_a, start=START, as_of=AS_OF)
    june_after = figures_for_period(office=office_a, start=D(2021, 6, 1), as_of=D(2021, 6, 15))
    q1_after = figures_for_period(office=office_a, start=D(2021, 1, 1), as_of=D(2021, 3, 31))
    assert q1_after == q1_before
    assert after["collected"] - before["collected"] == 2 * M
    assert after["closing"] - before["closing"] == -2 * M
    assert after["opening"] == before["opening"]
    # The later period only sees it in its balances, not in its flows.
    assert june_after["opening"] - june_before["opening"] == -2 * M
    assert june_after["closing"] - june_before["closing"] == -2 * M
    assert june_after["collected"] == june_before["collected"] == 1 * M
    assert roll_forward_holds(after) and roll_forward_holds(june_after)


def test_an_office_without_entries_has_zero_figures(office_b):
    figures = figures_for_period(office=office_b, start=START, as_of=AS_OF)
    assert _figures(figures) == _expect()
    assert figures["by_programme"] == []
