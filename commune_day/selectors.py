"""Reads of the commune transaction day: the scoped getters of sessions and the collection
sheet (form 13/TD) of a group on a session date.

The sheet of a group on a date D, per loan managed through the group (loans.Loan.group) that is
active:

- interest_due: the loan book's interest over [P, D) less the prepaid credit
  (loans.selectors.interest_due_for(...).payable), P being the date interest was paid to;
- overdue: the principal overdue at the start of D (the ledger's entries dated before D);
- principal_due: that overdue principal plus the in-term principal of the instalments whose
  (extended) due date is on or before D and not yet repaid. Repayments pay the earliest
  instalments first, so the in-term principal still due is the in-term balance less the
  principal of the instalments falling due after D, never below nought. It never exceeds the
  outstanding less the frozen principal (frozen principal is not collected);
- savings_balance: the member household's savings on D (savings.selectors).

The whole sheet (or every sheet of a session) is read in a handful of queries, whatever the
number of loans: the loans, their ledger and rules (two, interest_due_for), the balances before
D, the instalments after D and the savings balances.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet, Sum
from django.http import Http404

from borrowers.models import SavingsGroup
from borrowers.selectors import check_scope, office_ids_for
from loans.models import Instalment, Loan, LoanTransaction
from loans.selectors import interest_due_for

from .models import TransactionSession

__all__ = [
    "SHEET_COLUMNS",
    "CollectionSheet",
    "SheetLine",
    "collection_sheet",
    "collection_sheets",
    "get_session_for_user",
    "savings_balances_on",
    "sessions_for_user",
]

# The figures of a line that the sheet totals.
SHEET_COLUMNS = ("outstanding", "interest_due", "principal_due", "overdue", "savings_balance")


@dataclass(frozen=True)
class SheetLine:
    household_id: int
    citizen_id: str
    name: str
    loan_id: int
    loan_number: str
    programme: str
    outstanding: int
    interest_due: int
    principal_due: int
    overdue: int
    savings_balance: int


@dataclass(frozen=True)
class CollectionSheet:
    group: SavingsGroup
    date: dt.date
    lines: list[SheetLine]
    totals: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict:
        """The shape `collection_sheet --json` prints (amounts in đồng)."""
        return {
            "group": self.group.code,
            "date": self.date.isoformat(),
            "lines": [
                {
                    "citizen_id": line.citizen_id,
                    "loan_number": line.loan_number,
                    "interest_due": line.interest_due,
                    "principal_due": line.principal_due,
                    "overdue": line.overdue,
                    "savings_balance": line.savings_balance,
                }
                for line in self.lines
            ],
            "totals": dict(self.totals),
        }


def savings_balances_on(household_ids: Sequence[int], day: dt.date) -> dict[int, int]:
    """The member households' savings balances on a day (none until the savings app has them)."""
    return {}


def _balances_before(loan_ids: list[int], day: dt.date) -> dict[int, tuple[int, int, int]]:
    """(outstanding, overdue, frozen) at the start of `day`, per loan, in one query."""
    rows = (
        LoanTransaction.objects.filter(loan_id__in=loan_ids, value_date__lt=day)
        .values("loan_id")
        .annotate(o=Sum("d_outstanding"), v=Sum("d_overdue"), f=Sum("d_frozen"))
        .values_list("loan_id", "o", "v", "f")
    )
    return {loan_id: (o, v, f) for loan_id, o, v, f in rows}


def _not_due_after(loan_ids: list[int], day: dt.date) -> dict[int, int]:
    """The principal of the instalments falling due after `day` (as extended), per loan."""
    rows = (
        Instalment.objects.filter(loan_id__in=loan_ids)
        .filter(Q(extended_to__isnull=True, due_date__gt=day) | Q(extended_to__gt=day))
        .values("loan_id")
        .annotate(total=Sum("principal"))
        .values_list("loan_id", "total")
    )
    return dict(rows)


def principal_due(*, outstanding: int, overdue: int, frozen: int, not_due: int) -> int:
    """The overdue principal plus the in-term principal of the instalments due by the day (the
    in-term balance less what falls due later, never below nought)."""
    in_term = outstanding - overdue - frozen
    return overdue + max(0, in_term - not_due)


def collection_sheets(groups: Iterable[SavingsGroup], day: dt.date) -> list[CollectionSheet]:
    """The sheets of several groups on one day (a session's), read together."""
    groups = list(groups)
    loans = list(
        Loan.objects.filter(group__in=groups, status=Loan.Status.ACTIVE)
        .select_related("household", "programme")
        .order_by("household__search_name", "household_id", "number")
    )
    ids = [loan.pk for loan in loans]
    interest = interest_due_for(loans, day)
    balances = _balances_before(ids, day)
    later = _not_due_after(ids, day)
    savings = savings_balances_on(sorted({loan.household_id for loan in loans}), day)
    by_group: dict[int, list[SheetLine]] = {group.pk: [] for group in groups}
    for loan in loans:
        outstanding, overdue, frozen = balances.get(loan.pk, (0, 0, 0))
        due = interest[loan.pk].payable
        if outstanding <= 0 and due <= 0:
            continue
        assert loan.group_id is not None
        by_group[loan.group_id].append(
            SheetLine(
                household_id=loan.household_id,
                citizen_id=loan.household.citizen_id,
                name=loan.household.full_name,
                loan_id=loan.pk,
                loan_number=loan.number,
                programme=loan.programme.code,
                outstanding=outstanding,
                interest_due=due,
                principal_due=principal_due(
                    outstanding=outstanding,
                    overdue=overdue,
                    frozen=frozen,
                    not_due=later.get(loan.pk, 0),
                ),
                overdue=overdue,
                savings_balance=savings.get(loan.household_id, 0),
            )
        )
    return [_sheet(group, day, by_group[group.pk]) for group in groups]


def _sheet(group: SavingsGroup, day: dt.date, lines: list[SheetLine]) -> CollectionSheet:
    # A household with two loans has one savings balance: counted once in the total.
    savings = {line.household_id: line.savings_balance for line in lines}
    totals = {
        column: sum(getattr(line, column) for line in lines)
        for column in SHEET_COLUMNS
        if column != "savings_balance"
    }
    totals["savings_balance"] = sum(savings.values())
    return CollectionSheet(group=group, date=day, lines=lines, totals=totals)


def collection_sheet(group: SavingsGroup, day: dt.date) -> CollectionSheet:
    """The group's collection sheet (13/TD) for a session on `day`."""
    return collection_sheets([group], day)[0]


# --- sessions ----------------------------------------------------------------------------------


def sessions_for_user(user) -> QuerySet[TransactionSession]:
    return TransactionSession.objects.filter(office_id__in=office_ids_for(user))


def get_session_for_user(user, pk: int, *, write: bool = False) -> TransactionSession:
    """A session of the user's offices (404 elsewhere; PermissionDenied for an auditor writing)."""
    session = (
        sessions_for_user(user)
        .select_related("office", "commune", "leader", "controller", "teller")
        .filter(pk=pk)
        .first()
    )
    if session is None:
        raise Http404
    check_scope(user, session.office, write=write)
    return session


def get_session_group(session: TransactionSession, group_pk: int) -> SavingsGroup:
    """One of the groups the session serves (404 otherwise)."""
    group = (
        session.groups.select_related("village", "chapter__organisation")
        .filter(pk=group_pk)
        .first()
    )
    if group is None:
        raise Http404
    return group
