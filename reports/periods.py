"""Month and date helpers of reports/, in one place (no database, nothing of the project)."""

import calendar
import datetime as dt


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def previous_month(day: dt.date) -> dt.date:
    """The first day of the month before the one `day` falls in."""
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def quarter_of(day: dt.date) -> tuple[int, int]:
    """The year and quarter (1-4) `day` falls in."""
    return day.year, (day.month - 1) // 3 + 1


def previous_quarter(day: dt.date) -> tuple[int, int]:
    """The year and quarter before the one `day` falls in: at 01/07/2021, (2021, 2)."""
    return quarter_of(day.replace(month=3 * quarter_of(day)[1] - 2, day=1) - dt.timedelta(days=1))


def month_start(*, start: dt.date, as_of: dt.date) -> dt.date:
    """The first day of the month that ends at as_of, not before the period's start."""
    return max(start, as_of.replace(day=1))


def month_ends_through(*, months: int, as_of: dt.date) -> list[dt.date]:
    """The last `months` month ends, oldest first; the current month ends at as_of."""
    ends, first = [as_of], as_of.replace(day=1)
    for _n in range(months - 1):
        ends.append(first - dt.timedelta(days=1))
        first = ends[-1].replace(day=1)
    return ends[::-1]
