"""Reads of the commune transaction day: the scoped getters of sessions and the collection
sheet (form 13/TD) of a group on a session date.

The sheet of a group on a date D, per loan managed through the group (loans.Loan.group) that
had something to collect at the start of D: principal outstanding before D, or interest payable
(a settled loan whose interest was not paid with its principal is on the sheet until it is; one
whose interest is paid on D stays on D's sheet). The loans are chosen by that state, not by
their status now, so a loan repaid in full at the session of D stays on D's sheet (and in the
session's summary). Written-off and transferred loans are never on it (they collect nothing
here), nor a loan with nothing outstanding and nothing due:

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

from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Sum
from django.http import Http404

from borrowers.models import SavingsGroup
from borrowers.selectors import check_scope, office_ids_for
from loans import ledger
from loans.models import Instalment, Loan, LoanTransaction, TransactionKind
from loans.selectors import interest_due_for
from savings.selectors import savings_balances

from .fees import fees_paid_in
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


def _settled_candidates(groups: list[SavingsGroup], day: dt.date) -> QuerySet:
    """The ids of the groups' settled loans that may have had principal outstanding before `day`
    or interest payable on it, as a subquery of the sheet's loan query (no query of its own).

    A balance before `day` on a loan now settled was repaid on or after `day`. Interest accrues
    only while principal is outstanding, so interest is left only where the principal last
    moved after the date interest was paid to (or interest was never paid), or was paid on or
    after `day` (the session paid it). Whether the loan is on the sheet is then decided from its
    balances and interest (collection_sheets); this only spares reading the ledger of every
    loan the group ever settled."""
    return (
        LoanTransaction.objects.filter(loan__group__in=groups, loan__status=Loan.Status.SETTLED)
        .values("loan_id")
        .annotate(
            moved=Max("value_date", filter=~Q(d_outstanding=0)),
            paid_to=Max(
                "value_date",
                filter=Q(kind__in=ledger.INTEREST_SETTLING_KINDS, reversed_by__isnull=True),
            ),
        )
        .filter(
            Q(moved__gte=day)
            | Q(paid_to__isnull=True)
            | Q(paid_to__gte=day)
            | Q(moved__gt=F("paid_to"))
        )
        .values("loan_id")
    )


def collection_sheets(groups: Iterable[SavingsGroup], day: dt.date) -> list[CollectionSheet]:
    """The sheets of several groups on one day (a session's), read together."""
    groups = list(groups)
    loans = list(
        Loan.objects.filter(group__in=groups)
        .filter(
            Q(status=Loan.Status.ACTIVE)
            | Q(status=Loan.Status.SETTLED, pk__in=_settled_candidates(groups, day))
        )
        .annotate(
            # Interest paid to `day` or later: the loan had interest due at the start of `day`,
            # which the sheet's interest due (read after the day's postings) no longer shows.
            interest_paid_since=Exists(
                LoanTransaction.objects.filter(
                    loan_id=OuterRef("pk"),
                    value_date__gte=day,
                    kind__in=ledger.INTEREST_SETTLING_KINDS,
                    reversed_by__isnull=True,
                )
            )
        )
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
        if outstanding <= 0 and due <= 0 and not loan.interest_paid_since:
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


@dataclass
class GroupSummary:
    """What one group handed in and was paid at the session, and what its members left unpaid."""

    group: SavingsGroup
    posted: bool = False
    interest: int = 0
    principal: int = 0
    savings_deposited: int = 0
    savings_for_interest: int = 0
    savings_for_principal: int = 0
    disbursed: int = 0
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


# The SheetPosting totals a group's row adds up.
POSTED = (
    "interest",
    "principal",
    "savings_deposited",
    "savings_for_interest",
    "savings_for_principal",
    "disbursed",
)
SUMMED = (*POSTED, "interest_unpaid", "principal_unpaid")


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


def session_summary(session: TransactionSession) -> SessionSummary:
    """Collected by kind per group and in total (the posted sheets), disbursed, fees paid, and
    what the members left unpaid.

    Unpaid is counted loan by loan on the group's sheet of the session date, never netted
    between members (one paying ahead does not cover another who paid nothing): a loan's unpaid
    interest is the interest still due to the date after the session's postings (the sheet's
    interest due, read after them); its unpaid principal is its principal due (balances at the
    start of the day) less the principal the session repaid on it, in cash or from savings,
    never below nought."""
    groups = list(session.groups.select_related("chapter__organisation").order_by("code"))
    rows = {group.pk: GroupSummary(group=group) for group in groups}
    for posting in session.postings.all():
        row = rows.get(posting.group_id)
        if row is None:
            continue
        if posting.kind == posting.Kind.COLLECTION:
            row.posted = True
        for name in POSTED:
            setattr(row, name, getattr(row, name) + getattr(posting, name))
    repaid = _principal_repaid(session)
    for sheet in collection_sheets(groups, session.date):
        row = rows[sheet.group.pk]
        row.interest_unpaid = sheet.totals["interest_due"]
        row.principal_unpaid = sum(
            max(0, line.principal_due - repaid.get(line.loan_id, 0)) for line in sheet.lines
        )
    totals = {name: sum(getattr(row, name) for row in rows.values()) for name in SUMMED}
    return SessionSummary(
        session=session, groups=list(rows.values()), totals=totals, fees_paid=fees_paid_in(session)
    )


def _principal_repaid(session: TransactionSession) -> dict[int, int]:
    """The principal the session's sheets repaid, per loan, in one query: the repayments under
    the session's keys (s{session}:g{group}:{loan}:principal, and the savings_principal
    column's companion entry), in cash or from savings; one since reversed repaid nothing."""
    rows = (
        LoanTransaction.objects.filter(
            office_id=session.office_id,
            value_date=session.date,
            idempotency_key__startswith=f"s{session.pk}:g",
            kind=TransactionKind.PRINCIPAL_REPAYMENT,
            reversed_by__isnull=True,
        )
        .values("loan_id")
        .annotate(total=Sum("amount"))
        .values_list("loan_id", "total")
    )
    return dict(rows)


def session_groups(session: TransactionSession) -> list[SavingsGroup]:
    """The session's groups in code order, with what their sheet prints."""
    return list(
        session.groups.select_related(
            "office", "village__commune", "chapter__organisation"
        ).order_by("code")
    )
