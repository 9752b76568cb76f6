"""The daily journal for the core bank (docs/decisions/0022-daily-journal.md): an office's entries
of both ledgers dated one day, as double-entry lines by account, programme and fund source (the
debit and the credit turnover of each), whose debits equal their credits.

Each loan entry moves the three principal accounts by its signed effects (in term, overdue,
frozen); what it moves in all is balanced against the account its kind names (cash for a
disbursement or a repayment, the risk fund for a write-off, the inter-office account for a
transfer). Interest is on a cash basis: cash received against interest income. A reversal carries
the kind it cancels (counted_kind) and the opposite effects, so it books the opposite lines.
Savings entries move the members' savings against cash, or against the interest expense when
interest is credited.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from borrowers.models import Office
from loans.kinds import TransactionKind as Kind
from savings.models import SavingsKind

CASH = "cash"
LOANS_IN_TERM = "loans_in_term"
LOANS_OVERDUE = "loans_overdue"
LOANS_FROZEN = "loans_frozen"
INTEREST_INCOME = "interest_income"
RISK_FUND = "risk_fund"
INTER_OFFICE = "inter_office"
MEMBER_SAVINGS = "member_savings"
SAVINGS_INTEREST = "savings_interest_expense"

ACCOUNTS = {
    CASH: _("Cash"),
    LOANS_IN_TERM: _("Loans in term"),
    LOANS_OVERDUE: _("Loans overdue"),
    LOANS_FROZEN: _("Loans frozen"),
    INTEREST_INCOME: _("Interest income on loans"),
    RISK_FUND: _("Credit risk fund (written-off loans)"),
    INTER_OFFICE: _("Inter-office settlement"),
    MEMBER_SAVINGS: _("Members' savings"),
    SAVINGS_INTEREST: _("Interest paid on members' savings"),
}
# What a loan entry's change of principal is balanced against, by the kind it counts as.
PRINCIPAL_COUNTER = {
    Kind.DISBURSEMENT: CASH,
    Kind.PRINCIPAL_REPAYMENT: CASH,
    Kind.WRITE_OFF: RISK_FUND,
    Kind.TRANSFER_OUT: INTER_OFFICE,
    Kind.TRANSFER_IN: INTER_OFFICE,
}
# Interest received in cash (a prepayment too: it is collected when received). The prepaid
# credit applied later and interest written off move no money: no line.
CASH_INTEREST = {Kind.INTEREST_PAYMENT, Kind.INTEREST_PREPAYMENT}
# Savings: the account the members' savings move against.
SAVINGS_COUNTER = {
    SavingsKind.DEPOSIT: CASH,
    SavingsKind.WITHDRAWAL: CASH,
    # The cash the member's savings paid to the loan: the loan entry took it in as cash.
    SavingsKind.LOAN_PAYMENT: CASH,
    SavingsKind.INTEREST_CREDIT: SAVINGS_INTEREST,
}


class UnbalancedEntry(Exception):
    """An entry kind moves principal with nothing to balance it against: a new kind the journal
    does not know yet. Refuse rather than publish a journal that does not balance."""


@dataclass(frozen=True)
class JournalLine:
    account: str
    programme: str  # the programme's code; empty for savings
    fund_source: str  # empty for savings
    debit: int
    credit: int

    @property
    def account_name(self) -> str:
        return str(ACCOUNTS[self.account])


@dataclass(frozen=True)
class Journal:
    office: Office
    day: dt.date
    lines: list[JournalLine]
    entries: int

    @property
    def debits(self) -> int:
        return sum(line.debit for line in self.lines)

    @property
    def credits(self) -> int:
        return sum(line.credit for line in self.lines)


LOAN_SQL = """
SELECT t.kind, t.counted_kind, p.code, p.fund_source, count(*),
       sum(t.amount)::bigint, sum(t.d_outstanding)::bigint, sum(t.d_overdue)::bigint,
       sum(t.d_frozen)::bigint
FROM loans_loantransaction t
JOIN loans_loan l ON l.id = t.loan_id
JOIN loans_programme p ON p.id = l.programme_id
WHERE t.office_id = %(office)s AND t.value_date = %(day)s
GROUP BY 1, 2, 3, 4
"""
SAVINGS_SQL = """
SELECT kind, count(*), sum(d_balance)::bigint FROM savings_savingstransaction
WHERE office_id = %(office)s AND value_date = %(day)s
GROUP BY 1
"""


def check_day(office: Office, day: dt.date) -> None:
    """A journal is of a day the office has reached: after its business date nothing is booked
    yet, and a journal of it would only be empty."""
    if day > office.business_date:
        raise ValidationError(
            gettext("The office's business date is %(d)s: a journal is of that day or before.")
            % {"d": office.business_date.strftime("%d/%m/%Y")},
            code="after_business_date",
        )


def daily_journal(office: Office, day: dt.date) -> Journal:
    """The journal of the office's entries dated `day` (both ledgers), in two grouped queries."""
    # (debit, credit) turnover per line: a repayment and its reversal show both sides.
    amounts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])

    def book(account: str, programme: str, fund: str, amount: int) -> None:
        if amount > 0:
            amounts[(account, programme, fund)][0] += amount
        elif amount < 0:
            amounts[(account, programme, fund)][1] -= amount

    entries = 0
    with connection.cursor() as cursor:
        cursor.execute(LOAN_SQL, {"office": office.pk, "day": day})
        for kind, counted, programme, fund, n, amount, d_out, d_over, d_frozen in cursor.fetchall():
            entries += n
            at = (programme, fund)
            book(LOANS_IN_TERM, *at, d_out - d_over - d_frozen)
            book(LOANS_OVERDUE, *at, d_over)
            book(LOANS_FROZEN, *at, d_frozen)
            if d_out:
                if counted not in PRINCIPAL_COUNTER:
                    raise UnbalancedEntry(f"{kind} ({counted}) moves principal")
                book(PRINCIPAL_COUNTER[counted], *at, -d_out)
            if counted in CASH_INTEREST:
                received = -amount if kind == Kind.REVERSAL else amount
                book(CASH, *at, received)
                book(INTEREST_INCOME, *at, -received)
        cursor.execute(SAVINGS_SQL, {"office": office.pk, "day": day})
        for kind, n, d_balance in cursor.fetchall():
            if kind not in SAVINGS_COUNTER:
                raise UnbalancedEntry(f"savings {kind} has no counter account")
            entries += n
            book(MEMBER_SAVINGS, "", "", -d_balance)
            book(SAVINGS_COUNTER[kind], "", "", d_balance)
    order = list(ACCOUNTS)
    lines = [
        JournalLine(account, programme, fund, debit, credit)
        for (account, programme, fund), (debit, credit) in sorted(
            amounts.items(), key=lambda item: (order.index(item[0][0]), item[0][1], item[0][2])
        )
    ]
    journal = Journal(office=office, day=day, lines=lines, entries=entries)
    if journal.debits != journal.credits:  # every booking above is balanced: a bug if not
        raise UnbalancedEntry(f"debits {journal.debits} ≠ credits {journal.credits}")
    return journal


CSV_COLUMNS = ("date", "office", "account", "account_name", "programme", "fund_source", "debit",
               "credit")  # fmt: skip


def journal_csv(journal: Journal) -> str:
    """The journal as the file the core bank loads: one row per line, then the totals row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    day, office = journal.day.isoformat(), journal.office.code
    for line in journal.lines:
        writer.writerow(
            (day, office, line.account, line.account_name, line.programme, line.fund_source,
             line.debit, line.credit)
        )  # fmt: skip
    writer.writerow((day, office, "total", "", "", "", journal.debits, journal.credits))
    return out.getvalue()
