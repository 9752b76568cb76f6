"""Interest exact to the đồng: principal × days × monthly rate ÷ 30, rounded once, half up."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from hypothesis import example, given
from hypothesis import strategies as st

from loans import selectors, services
from loans.interest import accrued, interest_over_segments, round_vnd

from ..conftest import key

D = dt.date


def test_an_exact_half_rounds_up():
    # 397.410.000 ₫ for 5 days at 0.55 %/month is 364.292,5 ₫ exactly (issue 10, point 12); the
    # truncated per-day rate made it 364.292,4999… and rounded it down.
    segment = (D(2021, 3, 1), D(2021, 3, 6), 397_410_000, 0, Decimal("0.55"), Decimal("1.30"))
    assert accrued(
        in_term=397_410_000,
        overdue=0,
        days=5,
        monthly_rate=Decimal("0.55"),
        overdue_multiplier=Decimal("1.30"),
    ) == Fraction(728_585, 2)
    assert interest_over_segments([segment]) == 364_293


def test_a_loans_interest_due_of_an_exact_half_rounds_up(household_a, manager_a, staff_a, hn):
    # 66.235.000 ₫ for 30 days at HN's 0.55 % is 364.292,5 ₫.
    loan = services.loan_apply(
        household=household_a,
        programme=hn,
        amount=66_235_000,
        term_months=60,
        applied_on=D(2021, 1, 5),
        user=staff_a,
    )
    services.loan_approve(loan=loan, user=manager_a, approved_on=D(2021, 1, 10))
    services.loan_disburse(
        loan=loan, amount=66_235_000, value_date=D(2021, 1, 15), user=staff_a, idempotency_key=key()
    )
    assert selectors.loan_interest_due(loan, D(2021, 1, 15), D(2021, 2, 14)) == 364_293


def test_round_vnd_rounds_half_up_once():
    assert round_vnd(Fraction(5, 2)) == 3
    assert round_vnd(Fraction(49, 20)) == 2  # 2,45 is not rounded twice (2,5 → 3)
    assert round_vnd(Decimal("364292.5")) == 364_293
    assert round_vnd(Decimal("364292.4999")) == 364_292
    assert round_vnd(Fraction(-5, 2)) == -3  # half away from zero, as Decimal's ROUND_HALF_UP
    assert round_vnd(7) == 7


rates = st.integers(min_value=1, max_value=99_999).map(lambda n: Decimal(n).scaleb(-4))
multipliers = st.integers(min_value=100, max_value=300).map(lambda n: Decimal(n).scaleb(-2))
balances = st.integers(min_value=0, max_value=10**12)


@given(
    segments=st.lists(
        st.tuples(balances, balances, st.integers(0, 4000), rates, multipliers), max_size=6
    )
)
# The exact half of test_an_exact_half_rounds_up, and one with overdue principal at 1,3.
@example(segments=[(397_410_000, 0, 5, Decimal("0.55"), Decimal("1.30"))])
@example(segments=[(0, 300_000, 1, Decimal("0.55"), Decimal("1.30"))])  # 71,5 ₫
def test_interest_is_the_exact_sum_rounded_half_up_once(segments):
    """Independently, in integers: rates in 1/10000 %, multipliers in 1/100, one division."""
    numerator = 0
    denominator = 100 * 10_000 * 100 * 30  # multiplier, rate's places, percent, days a month
    dated = []
    start = D(2000, 1, 1)
    for in_term, overdue, days, rate, multiplier in segments:
        rate_units, multiplier_units = int(rate * 10_000), int(multiplier * 100)
        numerator += (in_term * 100 + overdue * multiplier_units) * days * rate_units
        end = start + dt.timedelta(days=days)
        dated.append((start, end, in_term, overdue, rate, multiplier))
        start = end
    expected = (2 * numerator + denominator) // (2 * denominator)  # half up, non-negative
    assert interest_over_segments(dated) == expected
