"""Reads for the notices and the notice board (issue 13, point 8): what falls due next month per
group, so the group head can tell each household at least a month ahead, and the public list the
commune's transaction point posts. Nothing here writes.

What an instalment still owes is read the way the end of day reads it
(loans.selectors.overdue_candidates): the principal outstanding and not frozen covers the
instalments in the order they fall due from the last backwards, so a repayment, a write-off or a
freeze has taken the earliest ones first, and an instalment owes

    clamp(outstanding - frozen - principal of the instalments falling due after it, 0, principal)

which is what the end of day after its due date moves to overdue if nothing is paid, and what
reports.statement's schedule shows as remaining (less its frozen part). The due date is the one an
extension gave it (Instalment.effective_due_date).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q
from django.http import Http404

from borrowers.models import Commune, Household, SavingsGroup
from borrowers.selectors import check_scope, office_ids_for
from loans.models import Instalment, Loan, add_months
from loans.selectors import interest_due_for

# --- months -------------------------------------------------------------------------------------


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after the one `day` falls in: the month a notice given on `day`
    is about (borrowers are told at least a month ahead)."""
    return add_months(day.replace(day=1), 1)


def month_end(month: dt.date) -> dt.date:
    return next_month(month) - dt.timedelta(days=1)


# --- what each instalment still owes ------------------------------------------------------------

# (instalment id, seq, due date as scheduled, extended to, principal)
InstalmentRow = tuple[int, int, dt.date, dt.date | None, int]


@dataclass(frozen=True)
class OpenInstalment:
    id: int
    seq: int
    due_date: dt.date
    extended_to: dt.date | None
    principal: int
    # What of its principal is still owed and falls due on its date (not frozen).
    owed: int

    @property
    def effective_due_date(self) -> dt.date:
        return self.extended_to or self.due_date


def owed_by_instalment(
    instalments: Iterable[InstalmentRow], *, outstanding: int, frozen: int
) -> list[OpenInstalment]:
    """Each instalment with what it still owes, in the order they fall due (module docstring)."""
    ordered = sorted(instalments, key=lambda row: (row[3] or row[2], row[1]))
    left = max(0, outstanding - frozen)
    result: list[OpenInstalment] = []
    for pk, seq, due, extended_to, principal in reversed(ordered):
        owed = min(left, max(principal, 0))
        left -= owed
        result.append(OpenInstalment(pk, seq, due, extended_to, principal, owed))
    result.reverse()
    return result


def _instalments_of(loan_ids: list[int]) -> dict[int, list[InstalmentRow]]:
    """The instalments of many loans in one query."""
    by_loan: dict[int, list[InstalmentRow]] = defaultdict(list)
    rows = (
        Instalment.objects.filter(loan_id__in=loan_ids)
        .order_by()
        .values_list("loan_id", "pk", "seq", "due_date", "extended_to", "principal")
    )
    for loan_id, *row in rows:
        by_loan[loan_id].append(tuple(row))  # type: ignore[arg-type]
    return by_loan


def _loans_in_term(groups_filter: Q):
    """Loans that still owe principal (settled, written-off, transferred loans owe none)."""
    return (
        Loan.objects.filter(groups_filter, status=Loan.Status.ACTIVE, outstanding__gt=0)
        .select_related("household__village", "programme", "group")
        .order_by("household__search_name", "household_id", "number", "pk")
    )


# --- a group's notices --------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeLine:
    """One instalment of one loan falling due in the month."""

    loan: Loan
    instalment_seq: int
    due_date: dt.date
    # The date it was scheduled for, when an extension moved it.
    scheduled_due_date: dt.date | None
    principal: int
    # The interest expected to the loan's last due date in the month if nothing is paid before
    # it (on the loan's first line only, so the lines add up).
    interest: int

    @property
    def total(self) -> int:
        return self.principal + self.interest


@dataclass(frozen=True)
class HouseholdNotice:
    household: Household
    lines: list[NoticeLine]

    @property
    def principal(self) -> int:
        return sum(line.principal for line in self.lines)

    @property
    def interest(self) -> int:
        return sum(line.interest for line in self.lines)

    @property
    def total(self) -> int:
        return self.principal + self.interest

    @property
    def first_due_date(self) -> dt.date:
        return min(line.due_date for line in self.lines)


@dataclass(frozen=True)
class GroupNotices:
    group: SavingsGroup
    # The first day of the month the instalments fall due in.
    month: dt.date
    households: list[HouseholdNotice] = field(default_factory=list)

    @property
    def month_end(self) -> dt.date:
        return month_end(self.month)

    @property
    def lines(self) -> list[NoticeLine]:
        return [line for notice in self.households for line in notice.lines]

    @property
    def principal(self) -> int:
        return sum(notice.principal for notice in self.households)

    @property
    def interest(self) -> int:
        return sum(notice.interest for notice in self.households)

    @property
    def total(self) -> int:
        return self.principal + self.interest

    @property
    def loan_count(self) -> int:
        return len({line.loan.pk for line in self.lines})


def notices_for_group(group: SavingsGroup, month: dt.date) -> GroupNotices:
    """The instalments of the loans managed through `group` that fall due in `month` (any day
    of it; the notice is for that month, next_month(business date) by default), per household:
    due date, principal still owed on it, and the interest expected to the due date.

    Reads the loans, their instalments, and the interest (interest_due_for: two queries per
    distinct due date in the month), whatever the number of loans."""
    month = month_of(month)
    last = month_end(month)
    loans = list(_loans_in_term(Q(group=group)))
    schedules = _instalments_of([loan.pk for loan in loans])
    due: list[tuple[Loan, OpenInstalment]] = []
    for loan in loans:
        for instalment in owed_by_instalment(
            schedules.get(loan.pk, []), outstanding=loan.outstanding, frozen=loan.frozen
        ):
            if instalment.owed > 0 and month <= instalment.effective_due_date <= last:
                due.append((loan, instalment))
    # The interest to each loan's last due date in the month, read once per date.
    interest_day: dict[int, dt.date] = {}
    for loan, instalment in due:
        day = instalment.effective_due_date
        interest_day[loan.pk] = max(day, interest_day.get(loan.pk, day))
    loans_by_day: dict[dt.date, list[Loan]] = defaultdict(list)
    by_pk = {loan.pk: loan for loan in loans}
    for loan_id, day in interest_day.items():
        loans_by_day[day].append(by_pk[loan_id])
    interest: dict[int, int] = {}
    for day, day_loans in loans_by_day.items():
        for loan_id, figure in interest_due_for(day_loans, day).items():
            interest[loan_id] = figure.payable
    households: dict[int, list[NoticeLine]] = defaultdict(list)
    owners: dict[int, Household] = {}
    seen: set[int] = set()
    for loan, instalment in sorted(
        due, key=lambda pair: (pair[0].household.search_name, pair[0].household_id, pair[0].number)
    ):
        first_of_loan = loan.pk not in seen
        seen.add(loan.pk)
        owners[loan.household_id] = loan.household
        households[loan.household_id].append(
            NoticeLine(
                loan=loan,
                instalment_seq=instalment.seq,
                due_date=instalment.effective_due_date,
                scheduled_due_date=instalment.due_date if instalment.extended_to else None,
                principal=instalment.owed,
                interest=interest.get(loan.pk, 0) if first_of_loan else 0,
            )
        )
    return GroupNotices(
        group=group,
        month=month,
        households=[
            HouseholdNotice(owners[pk], sorted(lines, key=lambda x: (x.due_date, x.loan.number)))
            for pk, lines in households.items()
        ],
    )


# --- the commune's notice board -----------------------------------------------------------------


@dataclass(frozen=True)
class BoardLine:
    """One loan as the notice board shows it: only what the bank posts publicly (the borrower's
    name and village, the group, the programme, amounts and dates), never a citizen ID, a phone
    number or a date of birth."""

    borrower: str
    village: str
    group_code: str
    group_name: str
    programme_code: str
    programme_name: str
    disbursed_on: dt.date | None
    maturity_date: dt.date | None
    amount: int
    outstanding: int
    overdue: int
    next_due_date: dt.date | None
    next_due_amount: int


# The most rows a printed part of a board holds: WeasyPrint lays out some 80-100 table rows a
# second here (half that with the machine shared), so a part prints in a request in 2-5 s, where
# a commune of 1,500 loans in one PDF takes 15-40 s (docs/decisions/0018-notices.md).
BOARD_PART_ROWS = 200


@dataclass(frozen=True)
class BoardPart:
    """A printed part of a board: whole villages where they fit, so each part can be posted
    for its villages; a village longer than a part is split over several."""

    number: int
    count: int
    # The lines before it: the part's rows are numbered on from the board's.
    offset: int
    lines: list[BoardLine]

    @property
    def villages(self) -> list[str]:
        return list(dict.fromkeys(line.village for line in self.lines))

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def outstanding(self) -> int:
        return sum(line.outstanding for line in self.lines)

    @property
    def overdue(self) -> int:
        return sum(line.overdue for line in self.lines)


@dataclass(frozen=True)
class NoticeBoard:
    commune: Commune
    day: dt.date
    lines: list[BoardLine] = field(default_factory=list)

    def parts(self, size: int = BOARD_PART_ROWS) -> list[BoardPart]:
        """The board in parts of at most `size` rows, whole villages packed together."""
        chunks: list[list[BoardLine]] = []
        for village in dict.fromkeys(line.village for line in self.lines):
            rows = [line for line in self.lines if line.village == village]
            for start in range(0, len(rows), size):
                piece = rows[start : start + size]
                if chunks and len(chunks[-1]) + len(piece) <= size and start == 0:
                    chunks[-1].extend(piece)
                else:
                    chunks.append(list(piece))
        chunks = chunks or [[]]
        parts, offset = [], 0
        for number, chunk in enumerate(chunks, start=1):
            parts.append(BoardPart(number, len(chunks), offset, chunk))
            offset += len(chunk)
        return parts

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def outstanding(self) -> int:
        return sum(line.outstanding for line in self.lines)

    @property
    def overdue(self) -> int:
        return sum(line.overdue for line in self.lines)

    @property
    def borrowers(self) -> int:
        return len({(line.borrower, line.village) for line in self.lines})


def notice_board(commune: Commune, day: dt.date) -> NoticeBoard:
    """The commune's notice board on `day`: every loan with principal outstanding managed through
    a group of the commune (a group's village is in it), with its balance, overdue and next due
    instalment (the first on or after `day` that still owes principal). Two queries, read as
    values: a commune's 1,500 loans built as five model instances each took 0.6 s."""
    rows = list(
        Loan.objects.filter(
            group__village__commune=commune, status=Loan.Status.ACTIVE, outstanding__gt=0
        )
        .order_by(
            "household__village__name",
            "household__village_id",
            "group__code",
            "household__search_name",
            "household_id",
            "number",
            "pk",
        )
        .values_list(
            "pk",
            "household__full_name",
            "household__village__name",
            "group__code",
            "group__name",
            "programme__code",
            "programme__name",
            "first_disbursed_on",
            "term_months",
            "disbursed",
            "outstanding",
            "overdue",
            "frozen",
        )
    )
    schedules = _instalments_of([row[0] for row in rows])
    lines = []
    for (
        pk,
        borrower,
        village,
        group_code,
        group_name,
        programme_code,
        programme_name,
        disbursed_on,
        term_months,
        disbursed,
        outstanding,
        overdue,
        frozen,
    ) in rows:
        upcoming = [
            instalment
            for instalment in owed_by_instalment(
                schedules.get(pk, []), outstanding=outstanding, frozen=frozen
            )
            if instalment.owed > 0 and instalment.effective_due_date >= day
        ]
        following = upcoming[0] if upcoming else None
        lines.append(
            BoardLine(
                borrower=borrower,
                village=village,
                group_code=group_code,
                group_name=group_name,
                programme_code=programme_code,
                programme_name=programme_name,
                disbursed_on=disbursed_on,
                maturity_date=add_months(disbursed_on, term_months) if disbursed_on else None,
                amount=disbursed,
                outstanding=outstanding,
                overdue=overdue,
                next_due_date=following.effective_due_date if following else None,
                next_due_amount=following.owed if following else 0,
            )
        )
    return NoticeBoard(commune=commune, day=day, lines=lines)


# --- scoped getters -----------------------------------------------------------------------------


def communes_for_user(user):
    return Commune.objects.filter(office_id__in=office_ids_for(user))


def get_commune_for_user(user, pk: int) -> Commune:
    """A commune of the user's offices; another office's answers 404."""
    commune = communes_for_user(user).select_related("office").filter(pk=pk).first()
    if commune is None:
        raise Http404
    check_scope(user, commune.office)
    return commune
