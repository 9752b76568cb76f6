"""The borrower's statement (sao kê): a household's loans as of a date, from the ledger alone.

Per loan: its header, every entry dated up to the date with the running principal balances
(outstanding, overdue, frozen: cumulative sums of the entries' signed effects, so each row is what
loans.selectors.balances_on says after that entry) and the running interest paid; the schedule
with each instalment's status on that date; and the totals. No rendering here: the HTML page, the
PDF and the confirmation letter (reports.statement_pdf) all show this one object.

Everything "as of" is derived from the entries dated up to it, never from what a row holds now:
an extension or a reversal posted after the date does not show, and one before it does. The
schedule is the one exception, as the instalment rows are kept only in their latest form (see
_schedule).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from borrowers.models import Household, Office
from branch_portal.templatetags.money import group_thousands
from loans import ledger
from loans.models import Instalment, Loan, LoanTransaction, TransactionKind
from loans.selectors import loan_interest_due, loan_rate_on

Kind = TransactionKind


# --- what a statement holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class EntryLine:
    """One ledger entry and the balances right after it (entries in value-date, then id order)."""

    id: int
    value_date: dt.date
    kind: str
    kind_label: str
    amount: int
    reference: str
    note: str
    new_due_date: dt.date | None
    # For a reversal: the entry it cancels.
    reverses_id: int | None
    reverses_label: str
    reverses_value_date: dt.date | None
    # Cancelled by a reversal dated up to the as-of date.
    reversed: bool
    d_outstanding: int
    d_overdue: int
    d_frozen: int
    outstanding: int
    overdue: int
    frozen: int
    interest_paid: int

    @property
    def in_term(self) -> int:
        return self.outstanding - self.overdue - self.frozen


class InstalmentStatus:
    PAID = "paid"
    PARTLY_PAID = "partly_paid"
    OVERDUE = "overdue"
    FROZEN = "frozen"
    WRITTEN_OFF = "written_off"
    TRANSFERRED = "transferred"
    EXTENDED = "extended"
    DUE = "due"
    NOT_YET_DUE = "not_yet_due"


@dataclass(frozen=True)
class InstalmentLine:
    seq: int
    due_date: dt.date
    # The date an extension in force on the as-of date moved it to.
    extended_to: dt.date | None
    principal: int
    paid: int
    written_off: int
    # Moved with the loan to another office.
    transferred: int
    frozen: int
    overdue: int
    status: str
    status_label: str

    @property
    def effective_due_date(self) -> dt.date:
        return self.extended_to or self.due_date

    @property
    def remaining(self) -> int:
        return self.principal - self.paid - self.written_off - self.transferred


@dataclass(frozen=True)
class Totals:
    disbursed: int = 0
    repaid: int = 0
    written_off: int = 0
    outstanding: int = 0
    overdue: int = 0
    frozen: int = 0
    interest_paid: int = 0
    interest_due: int = 0
    # Interest paid ahead of what is due, a credit the next due uses: what is left of it after
    # the interest accrued to the as-of date (decision 0013).
    interest_prepaid: int = 0
    interest_written_off: int = 0

    @property
    def in_term(self) -> int:
        return self.outstanding - self.overdue - self.frozen

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            **{
                name: getattr(self, name) + getattr(other, name)
                for name in self.__dataclass_fields__
            }
        )


@dataclass(frozen=True)
class LoanStatement:
    loan: Loan
    number: str
    programme: str
    approved_amount: int
    term_months: int
    monthly_rate: Decimal | None
    preferential: bool
    group: str
    disbursed_on: dt.date | None
    maturity_date: dt.date | None
    # False when no entry is dated up to the as-of date: the loan had not been disbursed then.
    disbursed: bool
    status_label: str
    entries: list[EntryLine]
    schedule: list[InstalmentLine]
    totals: Totals
    interest_paid_through: dt.date | None


@dataclass(frozen=True)
class Statement:
    office: Office
    household: Household
    as_of: dt.date
    loans: list[LoanStatement] = field(default_factory=list)

    @property
    def signed_on(self) -> dt.date:
        """The date the statement is signed: the day the office is working, not the as-of date
        (a statement as of 31/03 may be handed over in June)."""
        return self.office.business_date

    @property
    def place(self) -> str:
        """Where it is signed: the household's commune, whose transaction point hands it over."""
        return self.household.village.commune.name

    @property
    def has_several_loans(self) -> bool:
        return len(self.loans) > 1

    @property
    def totals(self) -> Totals:
        total = Totals()
        for loan in self.loans:
            total = total + loan.totals
        return total


# --- the as-of date -----------------------------------------------------------------------------


def first_statement_date(household: Household) -> dt.date | None:
    """The earliest date a statement may be as of: the household's first loan application."""
    first = household.loans.order_by("applied_on").values_list("applied_on", flat=True).first()
    return first


def check_as_of(household: Household, as_of: dt.date) -> None:
    """Refuse a date the statement cannot be true on.

    After the office's business date the book is not final: entries may still be posted on the
    days between, so a statement dated then could be contradicted by the ledger later. Before the
    household's first loan application there is nothing to state: no loan existed.
    """
    business_date = household.office.business_date
    if as_of > business_date:
        raise ValidationError(
            _("A statement is as of the business date (%(d)s) at the latest.")
            % {"d": business_date.strftime("%d/%m/%Y")},
            code="after_business_date",
        )
    first = first_statement_date(household)
    if first is None:
        raise ValidationError(_("This household has no loan to state."), code="no_loan")
    if as_of < first:
        raise ValidationError(
            _(
                "The household's first loan application is dated %(d)s: a statement is as of "
                "that date or later."
            )
            % {"d": first.strftime("%d/%m/%Y")},
            code="before_first_loan",
        )


# --- building it --------------------------------------------------------------------------------


def statement_for(household: Household, as_of: dt.date) -> Statement:
    """The household's statement as of a date (check_as_of first: this does not refuse).

    Its loans are those applied for by then, rejected ones left out (they never had an entry);
    one approved but not disbursed by then shows as such."""
    loans = (
        Loan.objects.filter(household=household, applied_on__lte=as_of)
        .exclude(status=Loan.Status.REJECTED)
        .select_related("programme", "group", "office")
        .order_by("number", "id")
    )
    return Statement(
        office=household.office,
        household=household,
        as_of=as_of,
        loans=[loan_statement(loan, as_of) for loan in loans],
    )


def loan_statement(loan: Loan, as_of: dt.date) -> LoanStatement:
    rows = list(
        LoanTransaction.objects.filter(loan=loan, value_date__lte=as_of)
        .select_related("reverses")
        .order_by("value_date", "id")
    )
    # A reversal is dated on or after its entry, so every reversal that counts on the as-of
    # date is among these rows.
    reversed_ids = {row.reverses_id for row in rows if row.kind == Kind.REVERSAL}
    entries: list[EntryLine] = []
    outstanding = overdue = frozen = interest_paid = 0
    for row in rows:
        outstanding += row.d_outstanding
        overdue += row.d_overdue
        frozen += row.d_frozen
        if row.counted_kind == Kind.INTEREST_PAYMENT:
            interest_paid += -row.amount if row.kind == Kind.REVERSAL else row.amount
        reverses = row.reverses
        entries.append(
            EntryLine(
                id=row.pk,
                value_date=row.value_date,
                kind=row.kind,
                kind_label=str(row.get_kind_display()),
                amount=row.amount,
                reference=row.reference,
                note=row.note,
                new_due_date=row.new_due_date,
                reverses_id=row.reverses_id,
                reverses_label=str(reverses.get_kind_display()) if reverses else "",
                reverses_value_date=reverses.value_date if reverses else None,
                reversed=row.pk in reversed_ids,
                d_outstanding=row.d_outstanding,
                d_overdue=row.d_overdue,
                d_frozen=row.d_frozen,
                outstanding=outstanding,
                overdue=overdue,
                frozen=frozen,
                interest_paid=interest_paid,
            )
        )

    def net(kind: str) -> int:
        """The amounts of entries of a kind, less those of their reversals."""
        return sum(
            -row.amount if row.kind == Kind.REVERSAL else row.amount
            for row in rows
            if row.counted_kind == kind
        )

    disbursed = bool(rows)
    paid_through = _interest_paid_through(loan, rows, reversed_ids, as_of) if disbursed else None
    accrued = loan_interest_due(loan, paid_through, as_of) if paid_through else 0
    # As loans.selectors.interest_due_on, on the as-of date: the prepaid credit lowers the due,
    # and a loan written off or transferred away by then has none it can collect.
    credit = sum(
        ledger.credit_change(row.kind, row.amount) for row in rows if row.pk not in reversed_ids
    )
    gone = outstanding == 0 and any(
        row.kind in (Kind.WRITE_OFF, Kind.TRANSFER_OUT) and row.pk not in reversed_ids
        for row in rows
    )
    if gone:
        accrued = 0
    credit_used = min(credit, accrued)
    interest_due = accrued - credit_used
    rule = loan_rate_on(loan, as_of)
    rate = None
    if rule is not None:
        rate = (
            rule.preferential_rate
            if loan.preferential and rule.preferential_rate
            else rule.monthly_rate
        ).normalize()
    totals = Totals(
        disbursed=net(Kind.DISBURSEMENT),
        repaid=net(Kind.PRINCIPAL_REPAYMENT),
        written_off=net(Kind.WRITE_OFF),
        outstanding=outstanding,
        overdue=overdue,
        frozen=frozen,
        interest_paid=interest_paid,
        interest_due=interest_due,
        interest_prepaid=credit - credit_used,
        interest_written_off=net(Kind.INTEREST_WRITE_OFF),
    )
    transferred_in = sum(row.d_outstanding for row in rows if row.kind == Kind.TRANSFER_IN)
    transferred_out = -sum(row.d_outstanding for row in rows if row.kind == Kind.TRANSFER_OUT)
    schedule = (
        _schedule(
            loan,
            as_of,
            rows,
            reversed_ids,
            totals,
            transferred_in=transferred_in,
            transferred_out=transferred_out,
        )
        if disbursed
        else []
    )
    return LoanStatement(
        loan=loan,
        number=loan.number,
        programme=str(loan.programme),
        approved_amount=loan.approved_amount,
        term_months=loan.term_months,
        monthly_rate=rate,
        preferential=loan.preferential,
        group=str(loan.group) if loan.group else "",
        disbursed_on=_first_disbursed_on(rows, reversed_ids) if disbursed else None,
        maturity_date=loan.maturity_date if disbursed else None,
        disbursed=disbursed,
        status_label=_status_label(disbursed, outstanding, totals.disbursed, rows),
        entries=entries,
        schedule=schedule,
        totals=totals,
        interest_paid_through=paid_through,
    )


def _first_disbursed_on(rows, reversed_ids) -> dt.date | None:
    for row in rows:
        if row.kind in (Kind.DISBURSEMENT, Kind.TRANSFER_IN) and row.pk not in reversed_ids:
            return row.value_date
    return None


def _status_label(disbursed: bool, outstanding: int, net_disbursed: int, rows) -> str:
    """The loan's status on the as-of date, as the rulebook's settle_status would give it."""
    if not disbursed:
        return _("Not yet disbursed")
    if outstanding > 0:
        return str(Loan.Status.ACTIVE.label)
    last = rows[-1].kind
    if last == Kind.TRANSFER_OUT:
        return str(Loan.Status.TRANSFERRED.label)
    if net_disbursed == 0 and not any(row.kind == Kind.TRANSFER_IN for row in rows):
        # Its disbursement was reversed: approved again, nothing paid out.
        return _("Not yet disbursed")
    if last == Kind.WRITE_OFF:
        return str(Loan.Status.WRITTEN_OFF.label)
    return str(Loan.Status.SETTLED.label)


def _interest_paid_through(loan: Loan, rows, reversed_ids, as_of: dt.date) -> dt.date | None:
    """As loans.selectors.interest_paid_through, on the as-of date: the last entry paying
    interest to its date (a payment, prepaid credit used, interest written off) dated up to it
    and not reversed by then, else the first disbursement."""
    paid = [
        row.value_date
        for row in rows
        if row.kind in ledger.INTEREST_SETTLING_KINDS and row.pk not in reversed_ids
    ]
    if paid:
        return max(paid)
    start = loan.first_disbursed_on
    return start if start is not None and start <= as_of else None


# --- the schedule ---------------------------------------------------------------------------------


def _extensions_on(rows, reversed_ids) -> dict[int, dt.date]:
    """Each instalment's due date by the last extension in force (dated up to the as-of date and
    not reversed by then): the instalment row holds only the latest one, whatever its date."""
    moved: dict[int, dt.date] = {}
    for row in sorted(rows, key=lambda r: r.pk):
        if row.kind == Kind.EXTENSION and row.pk not in reversed_ids and row.instalment_id:
            assert row.new_due_date is not None, "an extension carries its new due date"
            moved[row.instalment_id] = row.new_due_date
    return moved


def _take(amount: int, wanted: int) -> tuple[int, int]:
    """(what of `amount` goes to something that wants `wanted`, what is left of `amount`)."""
    taken = min(amount, wanted)
    return taken, amount - taken


def _schedule(
    loan: Loan,
    as_of: dt.date,
    rows,
    reversed_ids,
    totals: Totals,
    *,
    transferred_in: int,
    transferred_out: int,
) -> list[InstalmentLine]:
    """The schedule with each instalment's status on the as-of date.

    The instalment rows are the loan's schedule as it stands (rebuilt at each disbursement, so a
    tranche disbursed after the as-of date is already in it); extensions are taken as of the date.

    What was repaid, written off or moved to another office is allocated to the instalments in
    the order they fall due (the due date an extension in force gives them). That is the order
    the rulebook reduces principal in (loans.ledger): a repayment takes the overdue principal
    first, then the principal in term, and the overdue principal is the instalments that fell due
    first; a write-off takes frozen principal first, then overdue, then in term
    (docs/decisions/0002-write-off-order.md), and a freeze takes overdue first, then in term, so
    frozen principal too is the earliest instalments left. Of what is left, the frozen balance
    then the overdue balance are allocated in the same order.
    """
    moved = _extensions_on(rows, reversed_ids)
    instalments = [
        i
        for i in Instalment.objects.filter(loan=loan).order_by("seq")
        # An instalment dropped from the schedule is kept, empty, only because entries name it.
        if i.principal > 0
    ]
    ordered = sorted(instalments, key=lambda i: (moved.get(i.pk, i.due_date), i.seq))
    scheduled = sum(i.principal for i in instalments)
    # A loan transferred in brings its schedule but only its balance: what the other office
    # collected counts as paid there.
    paid_before = max(0, scheduled - transferred_in) if transferred_in else 0
    paid_left = totals.repaid + paid_before
    written_left = totals.written_off
    transferred_left = transferred_out
    frozen_left, overdue_left = totals.frozen, totals.overdue
    lines = {}
    for instalment in ordered:
        open_ = instalment.principal
        paid, paid_left = _take(paid_left, open_)
        open_ -= paid
        written, written_left = _take(written_left, open_)
        open_ -= written
        transferred, transferred_left = _take(transferred_left, open_)
        open_ -= transferred
        frozen, frozen_left = _take(frozen_left, open_)
        overdue, overdue_left = _take(overdue_left, open_ - frozen)
        extended_to = moved.get(instalment.pk)
        status = _instalment_status(
            as_of,
            instalment.principal,
            paid=paid,
            written=written,
            transferred=transferred,
            frozen=frozen,
            overdue=overdue,
            due=extended_to or instalment.due_date,
            extended=extended_to is not None,
        )
        lines[instalment.pk] = InstalmentLine(
            seq=instalment.seq,
            due_date=instalment.due_date,
            extended_to=extended_to,
            principal=instalment.principal,
            paid=paid,
            written_off=written,
            transferred=transferred,
            frozen=frozen,
            overdue=overdue,
            status=status,
            status_label=status_label(status, paid=paid, extended_to=extended_to),
        )
    return [lines[i.pk] for i in instalments]


def _instalment_status(
    as_of: dt.date,
    principal: int,
    *,
    paid: int,
    written: int,
    transferred: int,
    frozen: int,
    overdue: int,
    due: dt.date,
    extended: bool,
) -> str:
    S = InstalmentStatus
    open_ = principal - paid - written - transferred
    if open_ == 0:
        if written and written >= max(paid, transferred):
            return S.WRITTEN_OFF
        if transferred and transferred >= paid:
            return S.TRANSFERRED
        return S.PAID
    # Frozen principal bears no interest and falls due with nothing: an instalment wholly
    # frozen, or partly and with the rest not yet due, shows as frozen.
    if frozen and (frozen == open_ or (not overdue and due > as_of)):
        return S.FROZEN
    if overdue:
        return S.OVERDUE
    # Fallen due and not yet transferred: the end of day of the day after its due date does that.
    if due <= as_of:
        return S.DUE
    if extended:
        return S.EXTENDED
    if paid:
        return S.PARTLY_PAID
    return S.NOT_YET_DUE


def status_label(status: str, *, paid: int = 0, extended_to: dt.date | None = None) -> str:
    S = InstalmentStatus
    if status == S.PARTLY_PAID:
        return pgettext("instalment", "Partly paid (%(paid)s ₫)") % {"paid": group_thousands(paid)}
    if status == S.EXTENDED:
        assert extended_to is not None
        return pgettext("instalment", "Extended to %(d)s") % {"d": extended_to.strftime("%d/%m/%Y")}
    labels = {
        S.PAID: pgettext("instalment", "Paid"),
        S.OVERDUE: pgettext("instalment", "Overdue"),
        S.FROZEN: pgettext("instalment", "Frozen"),
        S.WRITTEN_OFF: pgettext("instalment", "Written off"),
        S.TRANSFERRED: pgettext("instalment", "Transferred"),
        S.DUE: pgettext("instalment", "Due"),
        S.NOT_YET_DUE: pgettext("instalment", "Not yet due"),
    }
    return labels[status]
