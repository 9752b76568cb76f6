"""Interest: the one rounding rule, and interest due over a period from the ledger."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

HUNDRED = Decimal(100)
DAYS_PER_MONTH = Decimal(30)


def round_vnd(amount: Decimal) -> int:
    """Round to whole đồng, half up. Every computed amount goes through here exactly once."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def accrued(
    *, in_term: int, overdue: int, days: int, monthly_rate: Decimal, overdue_multiplier: Decimal
) -> Decimal:
    """Unrounded interest: principal × days × monthly rate ÷ 30; overdue at the multiplier."""
    per_day = monthly_rate / HUNDRED / DAYS_PER_MONTH
    return (Decimal(in_term) + Decimal(overdue) * overdue_multiplier) * days * per_day


def interest_due(
    *, in_term: int, overdue: int, days: int, monthly_rate: Decimal, overdue_multiplier: Decimal
) -> int:
    return round_vnd(
        accrued(
            in_term=in_term,
            overdue=overdue,
            days=days,
            monthly_rate=monthly_rate,
            overdue_multiplier=overdue_multiplier,
        )
    )


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
        Decimal(0),
    )
    return round_vnd(total)
