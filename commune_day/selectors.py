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
- savings_balance: the member household's savings at the start of D (savings.selectors).

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
from savings.selectors import savings_balances

from .models import TransactionSession

__all__ = [
    "SHEET_COLUMNS",
    "CollectionSheet",
    "GroupSummary",
    "SessionSummary",
    "SheetLine",
    "collection_sheet",
    "collection_sheets",
    "get_session_for_user",
    "fees_paid_in",
    "get_session_group",
    "savings_balances_on",
    "session_summary",
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
    """The member households' savings balances at the start of `day` (the entries dated before
    it), as the loan balances on the sheet are."""
    return savings_balances(household_ids, day - dt.timedelta(days=1))


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


# --- the session's summary ---------------------------------------------------------------------


def fees_paid_in(session: TransactionSession) -> int:
    """The fees and commissions paid in cash at the session (none until the fees part pays
    them through the session)."""
    return 0


@dataclass
class GroupSummary:
    """What one group handed in and was paid at the session, against what its sheet said."""

    group: SavingsGroup
    posted: bool = False
    interest: int = 0
    principal: int = 0
    savings_deposited: int = 0
    savings_for_interest: int = 0
    savings_for_principal: int = 0
    disbursed: int = 0
    # From the ledger: the session's entries (keyed s{session}:g{group}:…) as posted.
    ledger_interest: int = 0
    ledger_principal: int = 0
    interest_unpaid: int = 0
    principal_unpaid: int = 0

    @property
    def cash_in(self) -> int:
        return self.interest + self.principal + self.savings_deposited

    @property
    def interest_collected(self) -> int:
        return self.interest + self.savings_for_interest

    @property
    def principal_collected(self) -> int:
        return self.principal + self.savings_for_principal

    @property
    def ledger_agrees(self) -> bool:
        return (self.ledger_interest, self.ledger_principal) == (
            self.interest_collected,
            self.principal_collected,
        )


SUMMED = (
    "interest",
    "principal",
    "savings_deposited",
    "savings_for_interest",
    "savings_for_principal",
    "disbursed",
    "ledger_interest",
    "ledger_principal",
    "interest_unpaid",
    "principal_unpaid",
)


@dataclass(frozen=True)
class SessionSummary:
    session: TransactionSession
    groups: list[GroupSummary]
    totals: dict[str, int]
    fees_paid: int

    @property
    def cash_in(self) -> int:
        return self.totals["interest"] + self.totals["principal"] + self.totals["savings_deposited"]

    @property
    def cash_expected(self) -> int:
        """The cash the postings say the team holds: what came in, less what was paid out."""
        return self.cash_in - self.totals["disbursed"] - self.fees_paid


def session_key_prefix(session: TransactionSession, group: SavingsGroup) -> str:
    """The prefix of the ledger keys of a sheet posted in the session (SheetPosting's lines)."""
    return f"s{session.pk}:g{group.pk}:"


def session_summary(session: TransactionSession) -> SessionSummary:
    """Collected by kind per group and in total (the posted sheets, and the ledger's own entries
    of the session to check them by), disbursed, fees paid, and what remains unpaid.

    Unpaid interest is the interest still due to the session date after its postings; unpaid
    principal is the sheet's principal due (balances at the start of the day) less the principal
    the session collected (in cash or from savings), never below nought."""
    groups = list(session.groups.select_related("chapter__organisation").order_by("code"))
    rows = {group.pk: GroupSummary(group=group) for group in groups}
    for posting in session.postings.all():
        row = rows.get(posting.group_id)
        if row is None:
            continue
        if posting.kind == posting.Kind.COLLECTION:
            row.posted = True
        for name in SUMMED[:6]:
            setattr(row, name, getattr(row, name) + getattr(posting, name))
    _ledger_figures(session, rows)
    for sheet in collection_sheets(groups, session.date):
        row = rows[sheet.group.pk]
        row.interest_unpaid = sheet.totals["interest_due"]
        row.principal_unpaid = max(0, sheet.totals["principal_due"] - row.principal_collected)
    totals = {name: sum(getattr(row, name) for row in rows.values()) for name in SUMMED}
    return SessionSummary(
        session=session, groups=list(rows.values()), totals=totals, fees_paid=fees_paid_in(session)
    )


def _ledger_figures(session: TransactionSession, rows: dict[int, GroupSummary]) -> None:
    """The session's interest and principal entries in the ledger, per group, net of their
    reversals being none (a posted sheet is not reversed through the session)."""
    from loans.models import TransactionKind as Kind

    entries = (
        LoanTransaction.objects.filter(
            office_id=session.office_id,
            value_date=session.date,
            idempotency_key__startswith=f"s{session.pk}:g",
            counted_kind__in=(Kind.INTEREST_PAYMENT, Kind.PRINCIPAL_REPAYMENT),
        )
        .exclude(kind=Kind.REVERSAL)
        .values_list("idempotency_key", "counted_kind", "amount")
    )
    for key, kind, amount in entries:
        try:
            group_id = int(key.split(":", 2)[1][1:])
        except (IndexError, ValueError):
            continue
        row = rows.get(group_id)
        if row is None:
            continue
        if kind == Kind.INTEREST_PAYMENT:
            row.ledger_interest += amount
        else:
            row.ledger_principal += amount


def session_groups(session: TransactionSession) -> list[SavingsGroup]:
    """The session's groups in code order, with what their sheet prints."""
    return list(
        session.groups.select_related(
            "office", "village__commune", "chapter__organisation"
        ).order_by("code")
    )
