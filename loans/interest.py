"""Interest: the one rounding rule, and interest due over a period from the ledger.

The rule is principal × days × monthly rate ÷ 30, rounded once, half up. It is computed exactly
(Fraction) and divided once: a per-day rate as a Decimal (0.55 % ÷ 30 = 0.000183333…) is already
truncated, and an exact half (364.292,5 ₫) then came out a hair below and rounded down.
"""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

# The monthly rate is a percentage (0.55 meaning 0.55 % a month) over a 30-day month.
RATE_DIVISOR = 100 * 30


def round_vnd(amount: Fraction | Decimal | int) -> int:
    """Round to whole đồng, half up (a half away from zero). Every computed amount goes through
    here exactly once; a Decimal is taken at its exact value."""
    exact = Fraction(amount)
    whole, rest = divmod(abs(exact.numerator), exact.denominator)
    if 2 * rest >= exact.denominator:
        whole += 1
    return whole if exact >= 0 else -whole


def accrued(
    *, in_term: int, overdue: int, days: int, monthly_rate: Decimal, overdue_multiplier: Decimal
) -> Fraction:
    """Exact, unrounded interest: principal × days × monthly rate ÷ 30; overdue at the
    multiplier."""
    principal = in_term + overdue * Fraction(overdue_multiplier)
    return principal * days * Fraction(monthly_rate) / RATE_DIVISOR


def interest_over_segments(
    segments: list[tuple[dt.date, dt.date, int, int, Decimal, Decimal]],
) -> int:
    """Sum interest over [start, end) segments of constant balances and rate; round once."""
    total = sum(
        (
            accrued(
                in_term=in_term,
                overdue=overdue,
                days=(end - start).days,
                monthly_rate=rate,
                overdue_multiplier=multiplier,
            )
            for start, end, in_term, overdue, rate, multiplier in segments
            if end > start
        ),
        Fraction(0),
    )
    return round_vnd(total)
