"""Reads of loans and the ledger: the scoped getters of the pages, and the reads the services
validate with (the programme's rules in force, the balances on a value date, the interest due,
the bounds on an amount). Nothing here writes or locks; the services import this module, never
the other way round.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404

from borrowers.models import Office
from borrowers.selectors import check_scope, office_ids_for, offices_for

from . import ledger
from .interest import interest_over_segments
from .models import (
    ApprovalRequest,
    EndOfDay,
    Instalment,
    Loan,
    LoanTransaction,
    Programme,
    ProgrammeRule,
    TransactionKind,
    add_months,
)

Kind = TransactionKind


def loans_for_user(user) -> QuerySet[Loan]:
    return Loan.objects.filter(office_id__in=office_ids_for(user))


def get_loan_for_user(user, pk: int, *, write: bool = False, manage: bool = False) -> Loan:
    loan = (
        loans_for_user(user)
        .select_related(
            "office", "household__village__commune", "programme", "group", "approved_by"
        )
        .filter(pk=pk)
        .first()
    )
    if loan is None:
        raise Http404
    check_scope(user, loan.office, write=write, manage=manage)
    return loan


def get_entry_for_user(user, pk: int, *, write: bool = False) -> LoanTransaction:
    entry = (
        LoanTransaction.objects.filter(office__in=offices_for(user), pk=pk)
        .select_related("loan__office")
        .first()
    )
    if entry is None:
        raise Http404
    check_scope(user, entry.loan.office, write=write)
    return entry


def approvals_for_user(user) -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.filter(office_id__in=office_ids_for(user))


def get_approval_for_user(user, pk: int) -> ApprovalRequest:
    """A request of the user's offices (404 elsewhere); who may decide it is the service's."""
    request = (
        approvals_for_user(user)
        .select_related("office", "loan", "household", "maker", "checker", "entry")
        .filter(pk=pk)
        .first()
    )
    if request is None:
        raise Http404
    check_scope(user, request.office)
    return request


def pending_requests_for(*, loan=None, household=None) -> QuerySet[ApprovalRequest]:
    """The pending requests of a loan, or of a household and its loans."""
    pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING)
    if loan is not None:
        pending = pending.filter(loan=loan)
    else:
        pending = pending.filter(Q(household=household) | Q(loan__household=household))
    return pending.select_related("maker", "loan").order_by("made_at", "id")


def ledger_for_household(household) -> QuerySet[LoanTransaction]:
    return (
        LoanTransaction.objects.filter(loan__household=household)
        .select_related("loan", "posted_by", "reverses", "counterparty_office")
        .order_by("value_date", "id")
    )


LEDGER_MISMATCH_SQL = """
SELECT l.id, l.number, l.outstanding, l.overdue, l.frozen, l.disbursed,
       COALESCE(s.o, 0), COALESCE(s.v, 0), COALESCE(s.f, 0), COALESCE(s.d, 0)
  FROM loans_loan l
  LEFT JOIN (
    SELECT loan_id, SUM(d_outstanding) o, SUM(d_overdue) v, SUM(d_frozen) f,
           SUM(CASE WHEN counted_kind <> 'disbursement' THEN 0
                    WHEN kind = 'reversal' THEN -amount ELSE amount END) d
      FROM loans_loantransaction GROUP BY loan_id
  ) s ON s.loan_id = l.id
 WHERE (%(office)s::bigint IS NULL OR l.office_id = %(office)s)
   AND (l.outstanding, l.overdue, l.frozen, l.disbursed)
       IS DISTINCT FROM (COALESCE(s.o, 0), COALESCE(s.v, 0), COALESCE(s.f, 0), COALESCE(s.d, 0))
 ORDER BY l.id
"""


def ledger_mismatches(office=None) -> list[tuple]:
    """Loans whose cached balances differ from what their ledger sums to (should be none)."""
    with connection.cursor() as cursor:
        cursor.execute(LEDGER_MISMATCH_SQL, {"office": office.pk if office else None})
        return cursor.fetchall()


# --- programme rules -------------------------------------------------------------------------


def rule_on(programme: Programme, day: dt.date) -> ProgrammeRule | None:
    """The programme's rule in force on a day."""
    return programme.rules.filter(effective_from__lte=day).order_by("-effective_from").first()


def loan_rate_on(loan: Loan, day: dt.date) -> ProgrammeRule | None:
    """The rule that sets a loan's rate on a day: the newest one in force, unless it applies only
    to loans approved after it."""
    return _rule_from(loan, loan.programme.rules.filter(effective_from__lte=day), day)


def _rule_from(loan: Loan, rules, day: dt.date) -> ProgrammeRule | None:
    """loan_rate_on over rules already read (newest first)."""
    approved = loan.approved_on or loan.applied_on
    for rule in rules:
        if rule.effective_from <= day and (
            rule.applies_to_existing or rule.effective_from <= approved
        ):
            return rule
    return None


# --- balances from the ledger ----------------------------------------------------------------


@dataclass(frozen=True)
class Balances:
    outstanding: int
    overdue: int
    frozen: int

    @property
    def in_term(self) -> int:
        return ledger.in_term(self.outstanding, self.overdue, self.frozen)


def balances_on(loan: Loan, day: dt.date) -> Balances:
    """The loan's principal balances at the end of a value date, from the ledger."""
    sums = LoanTransaction.objects.filter(loan=loan, value_date__lte=day).aggregate(
        o=Coalesce(Sum("d_outstanding"), 0),
        v=Coalesce(Sum("d_overdue"), 0),
        f=Coalesce(Sum("d_frozen"), 0),
    )
    return Balances(sums["o"], sums["v"], sums["f"])


# A later day on which the balances change, and by how much: (value date, d_outstanding,
# d_overdue, d_frozen) summed over that day's entries.
DayChange = tuple[dt.date, int, int, int]


@dataclass(frozen=True)
class Timeline:
    """The balances at the end of a value date and every later day's change: what a posting
    dated that day checks its amount against (`on`) and must leave valid on each later day."""

    on: Balances
    later: tuple[DayChange, ...]


def timeline_from(loan: Loan, day: dt.date) -> Timeline:
    """The loan's Timeline from `day`, in one query (timelines_from)."""
    return timelines_from([loan.pk], day)[loan.pk]


def timelines_from(loan_ids, day: dt.date) -> dict[int, Timeline]:
    """Each loan's Timeline from `day`, in one query whatever the number of loans: a loan's
    entries up to `day` fall in one group (dated `day`), each later day in its own."""
    ids = list(loan_ids)
    rows = (
        LoanTransaction.objects.filter(loan_id__in=ids)
        .annotate(bucket=Greatest("value_date", Value(day)))
        .values("loan_id", "bucket")
        .annotate(o=Sum("d_outstanding"), v=Sum("d_overdue"), f=Sum("d_frozen"))
        .order_by("loan_id", "bucket")
        .values_list("loan_id", "bucket", "o", "v", "f")
    )
    on: dict[int, Balances] = {}
    later: dict[int, list[DayChange]] = {pk: [] for pk in ids}
    for loan_id, bucket, o, v, f in rows:
        if bucket == day:
            on[loan_id] = Balances(o, v, f)
        else:
            later[loan_id].append((bucket, o, v, f))
    return {pk: Timeline(on.get(pk, Balances(0, 0, 0)), tuple(later[pk])) for pk in ids}


def disbursed_before_transfer(loan: Loan) -> int:
    """What the offices a loan came from disbursed on it. A transferred-in loan starts its own
    ledger (and its `disbursed` cache) at nought, but the approved amount it carries was already
    paid out there: without this it could be disbursed in full a second time."""
    total, origin_id = 0, loan.transferred_from_id
    while origin_id is not None:
        origin = Loan.objects.only("disbursed", "transferred_from").get(pk=origin_id)
        total += origin.disbursed
        origin_id = origin.transferred_from_id
    return total


# --- schedule and overdue ----------------------------------------------------------------------


def equal_instalments(loan: Loan) -> list[tuple[int, dt.date, int]]:
    """(seq, due date, principal): the disbursed principal in equal instalments from the first
    disbursement to maturity, every programme.instalment_months; the last takes the remainder."""
    first = loan.first_disbursed_on
    assert first is not None, "a schedule starts at the first disbursement"
    step = max(1, min(loan.programme.instalment_months, loan.term_months))
    count = max(1, loan.term_months // step)
    base = loan.disbursed // count
    return [
        (
            seq,
            add_months(first, loan.term_months if seq == count else seq * step),
            base if seq < count else loan.disbursed - base * (count - 1),
        )
        for seq in range(1, count + 1)
    ]


def overdue_candidates(office: Office, up_to: dt.date):
    """(loan id, principal that should be overdue on up_to, overdue now) for loans in arrears.

    Principal should be overdue when it is outstanding but not covered by the instalments that
    have not yet fallen due (an instalment due on D is overdue from D + 1); frozen principal is
    already out of term.
    """
    not_due = (
        Instalment.objects.filter(loan=OuterRef("pk"))
        .filter(Q(extended_to__isnull=True, due_date__gte=up_to) | Q(extended_to__gte=up_to))
        .values("loan")
        .annotate(total=Sum("principal"))
        .values("total")
    )
    return (
        Loan.objects.filter(office=office, status=Loan.Status.ACTIVE, first_disbursed_on__lt=up_to)
        .annotate(
            target=Greatest(
                Value(0), F("outstanding") - Coalesce(Subquery(not_due), Value(0)) - F("frozen")
            )
        )
        .filter(target__gt=F("overdue"))
        .values_list("pk", "target", "overdue")
    )


def end_of_day_missing(office: Office, start: dt.date, end: dt.date) -> list[dt.date]:
    """The days from start to end whose end of day has not run, in order. The days before the
    office's first business date are imported history (or paper), closed by the import."""
    start = max(start, office.first_business_date)
    done = set(
        EndOfDay.objects.filter(office=office, day__range=(start, end)).values_list(
            "day", flat=True
        )
    )
    days = (start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return [day for day in days if day not in done]


# --- interest ----------------------------------------------------------------------------------


def interest_paid_through(loan: Loan) -> dt.date | None:
    """The date interest was last paid to (an unreversed payment, prepaid credit used for it, or
    interest written off), else the first disbursement."""
    last = LoanTransaction.objects.filter(
        loan=loan, kind__in=ledger.INTEREST_SETTLING_KINDS, reversed_by__isnull=True
    ).aggregate(Max("value_date"))["value_date__max"]
    return last or loan.first_disbursed_on


def prepaid_credit(loan: Loan) -> int:
    """The interest the borrower paid ahead and has not yet used: unreversed prepayments less
    the credit applied to interest due since."""
    rows = LoanTransaction.objects.filter(
        loan=loan,
        kind__in=(Kind.INTEREST_PREPAYMENT, Kind.PREPAYMENT_APPLIED),
        reversed_by__isnull=True,
    ).values_list("kind", "amount")
    return sum(ledger.credit_change(kind, amount) for kind, amount in rows)


# Statuses in which interest can no longer be collected on the loan here: its interest due is
# shown as none (a written-off loan's interest goes with the write-off, a transferred loan's is
# collected by the office it went to).
NO_INTEREST_STATUSES = frozenset({Loan.Status.WRITTEN_OFF, Loan.Status.TRANSFERRED})


@dataclass(frozen=True)
class InterestDue:
    """The interest due on a day: accrued since `since` (the date interest was paid to), the
    prepaid credit and how much of it the accrued interest uses, and what is left to pay."""

    since: dt.date | None
    accrued: int
    credit: int
    credit_used: int

    @property
    def payable(self) -> int:
        return self.accrued - self.credit_used

    @property
    def credit_left(self) -> int:
        return self.credit - self.credit_used


def interest_due_on(loan: Loan, day: dt.date) -> InterestDue:
    """The interest due on `day`: the interest over [paid through, day), less the prepaid credit.
    None on a loan that can no longer collect it (NO_INTEREST_STATUSES). Read as
    interest_due_for reads it (the ledger and the rules, two queries): every interest payment
    reads it, so a collection sheet of 60 lines reads it 60 times."""
    return interest_due_for([loan], day)[loan.pk]


# An entry as the interest arithmetic reads it: (value date, d_outstanding, d_overdue, d_frozen).
BalanceChange = tuple[dt.date, int, int, int]


def interest_due_for(loans, day: dt.date) -> dict[int, InterestDue]:
    """interest_due_on for many loans at once (a collection sheet, a session's groups): the
    ledger and the rules are read in two queries, whatever the number of loans, and each loan's
    figure is the one interest_due_on gives (the same arithmetic, _interest_from)."""
    loans = list(loans)
    if not loans:
        return {}
    ids = [loan.pk for loan in loans]
    changes: dict[int, list[BalanceChange]] = {pk: [] for pk in ids}
    paid_to: dict[int, dt.date] = {}
    credit: dict[int, int] = dict.fromkeys(ids, 0)
    rows = (
        LoanTransaction.objects.filter(loan_id__in=ids)
        .order_by("loan_id", "value_date", "id")
        .values_list(
            "loan_id",
            "value_date",
            "d_outstanding",
            "d_overdue",
            "d_frozen",
            "kind",
            "amount",
            "reversed_by",
        )
    )
    for loan_id, value_date, d_out, d_ovd, d_frz, kind, amount, reversed_by in rows:
        if value_date < day:
            changes[loan_id].append((value_date, d_out, d_ovd, d_frz))
        if reversed_by is None:
            if kind in ledger.INTEREST_SETTLING_KINDS:
                paid_to[loan_id] = max(value_date, paid_to.get(loan_id, value_date))
            credit[loan_id] += ledger.credit_change(kind, amount)
    rules_by_programme: dict[int, list[ProgrammeRule]] = {}
    for rule in ProgrammeRule.objects.filter(
        programme_id__in={loan.programme_id for loan in loans}
    ).order_by("-effective_from"):
        rules_by_programme.setdefault(rule.programme_id, []).append(rule)
    result = {}
    for loan in loans:
        since = paid_to.get(loan.pk) or loan.first_disbursed_on
        if since is None or loan.status in NO_INTEREST_STATUSES:
            result[loan.pk] = InterestDue(since, 0, credit[loan.pk], 0)
            continue
        accrued = _interest_from(
            loan, changes[loan.pk], rules_by_programme.get(loan.programme_id, []), since, day
        )
        result[loan.pk] = InterestDue(
            since, accrued, credit[loan.pk], min(credit[loan.pk], accrued)
        )
    return result


def interest_payment_limit(loan: Loan, value_date: dt.date, due: InterestDue | None = None) -> int:
    """The most a prepayment dated value_date may be: the interest left to pay to that date and
    twelve months' interest ahead on the loan's balance (in term at its rate, overdue at the
    multiplier, frozen at none), rounded once. A typo or a forged amount beyond it would post
    interest no borrower owes. `due`, when the caller has read it, is not read again."""
    payable = (due or interest_due_on(loan, value_date)).payable
    rule = loan_rate_on(loan, value_date)
    if rule is None:
        return payable
    ahead = value_date + dt.timedelta(days=12 * 30)
    segment = (
        value_date,
        ahead,
        loan.in_term,
        loan.overdue,
        _rate(loan, rule),
        rule.overdue_multiplier,
    )
    return payable + interest_over_segments([segment])


def _rate(loan: Loan, rule: ProgrammeRule) -> Decimal:
    """The loan's monthly rate under a rule: the preferential one where the loan has it."""
    if loan.preferential and rule.preferential_rate:
        return rule.preferential_rate
    return rule.monthly_rate


def loan_interest_due(loan: Loan, start: dt.date, end: dt.date) -> int:
    """Interest on [start, end): in-term principal at the loan's rate, overdue principal at the
    overdue multiplier, frozen principal at none; balances and rates as the ledger and the rules
    say on each day."""
    if end <= start:
        return 0
    entries = list(
        LoanTransaction.objects.filter(loan=loan, value_date__lt=end)
        .order_by("value_date", "id")
        .values_list("value_date", "d_outstanding", "d_overdue", "d_frozen")
    )
    rules = list(loan.programme.rules.filter(effective_from__lt=end).order_by("-effective_from"))
    return _interest_from(loan, entries, rules, start, end)


def _interest_from(
    loan: Loan, entries: list[BalanceChange], rules: list[ProgrammeRule], start, end
) -> int:
    """loan_interest_due over the loan's entries dated before `end` (in value-date order) and
    its programme's rules (newest first), already read."""
    if end <= start:
        return 0
    rule_dates = [rule.effective_from for rule in rules if start < rule.effective_from < end]
    cuts = sorted({start, end, *rule_dates, *(d for d, *_ in entries if start < d < end)})
    segments = []
    out = ovd = frz = 0
    pending = iter(entries)
    entry = next(pending, None)
    for seg_start, seg_end in zip(cuts, cuts[1:], strict=False):
        while entry is not None and entry[0] <= seg_start:
            out, ovd, frz = out + entry[1], ovd + entry[2], frz + entry[3]
            entry = next(pending, None)
        rule = _rule_from(loan, rules, seg_start)
        if rule is None:
            continue
        segments.append(
            (seg_start, seg_end, out - ovd - frz, ovd, _rate(loan, rule), rule.overdue_multiplier)
        )
    return interest_over_segments(segments)
