"""Many plain payments at once: a collection sheet's interest payments and principal
repayments, checked by the rules of loan_pay_interest and loan_repay_principal and written in two
statements (docs/decisions/0017-bulk-posting.md).

The services stay the reference. plan_payments answers None whenever a payment is not plainly
fine: refused, held by the four-eyes policy, on a loan that came from another office, under a key
already used. The caller then posts every payment through the services, which post it or say why.
A plan reads the ledger in four queries whatever the number of loans, and tests/commune_day/
test_bulk_posting.py checks on random portfolios that it posts exactly what the services post.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from . import approvals, ledger, services
from .models import Loan, LoanTransaction
from .money import amount_in_range
from .selectors import interest_due_for, timelines_from

Kind = ledger.Kind


@dataclass(frozen=True)
class Payment:
    """What one loan (locked by the caller) pays: interest to the value date, then principal."""

    loan: Loan
    interest: int
    principal: int
    interest_key: str
    principal_key: str
    reference: str = ""


@dataclass(frozen=True)
class _Cache:
    loan: Loan
    outstanding: int
    overdue: int
    frozen: int
    status: str


@dataclass(frozen=True)
class PaymentPlan:
    entries: tuple[LoanTransaction, ...]
    caches: tuple[_Cache, ...]


def _held(office, payments: list[Payment], value_date: dt.date) -> bool:
    """Whether the four-eyes policy would hold any payment. The interest and repayment holds
    depend on the operation and the value date, not the amount: one check per operation."""
    for operation, column in (("interest", "interest"), ("repay", "principal")):
        amounts = [getattr(p, column) for p in payments if getattr(p, column)]
        if amounts and approvals.held_because(
            office, operation, amount=max(amounts), value_date=value_date
        ):
            return True
    return False


def plan_payments(payments: list[Payment], *, value_date: dt.date, user) -> PaymentPlan | None:
    """The entries and caches the services would post for these payments, in their order (each
    loan's interest, with the prepaid credit it uses, then its principal); None when any of them
    is not plainly fine. Writes nothing."""
    if not payments:
        return PaymentPlan((), ())
    office = payments[0].loan.office
    if any(p.loan.office_id != office.pk for p in payments):
        return None
    amounts = [a for p in payments for a in (p.interest, p.principal) if a]
    if not all(amount_in_range(a) for a in amounts):
        return None
    try:
        services.check_value_date(office, value_date)
    except ValidationError:
        return None
    keys = [
        k
        for p in payments
        for k in (
            p.interest_key,
            services.companion_key(p.interest_key, ":applied"),
            p.principal_key,
        )
    ]
    if LoanTransaction.objects.filter(idempotency_key__in=keys).exists():
        return None
    if _held(office, payments, value_date):
        return None
    dues = interest_due_for([p.loan for p in payments if p.interest], value_date)
    timelines = timelines_from([p.loan.pk for p in payments if p.principal], value_date)

    entries: list[LoanTransaction] = []
    caches: list[_Cache] = []

    def entry(p: Payment, kind, amount: int, key: str, effect=ledger.NO_EFFECT):
        d_outstanding, d_overdue, d_frozen = effect
        entries.append(
            LoanTransaction(
                office_id=p.loan.office_id,
                loan=p.loan,
                kind=kind,
                counted_kind=ledger.counted_kind(kind),
                value_date=value_date,
                amount=amount,
                d_outstanding=d_outstanding,
                d_overdue=d_overdue,
                d_frozen=d_frozen,
                posted_by=user,
                idempotency_key=key,
                reference=p.reference,
            )
        )

    for p in payments:
        loan = p.loan
        out, ovd, frz, status = loan.outstanding, loan.overdue, loan.frozen, loan.status
        if loan.transferred_from_id is not None or not ledger.consistent(out, ovd, frz):
            return None
        if p.interest:
            if loan.first_disbursed_on is None or status == Loan.Status.TRANSFERRED:
                return None
            due = dues[loan.pk]
            if p.interest > due.payable:
                return None
            if due.credit_used:
                entry(
                    p,
                    Kind.PREPAYMENT_APPLIED,
                    due.credit_used,
                    services.companion_key(p.interest_key, ":applied"),
                )
            entry(p, Kind.INTEREST_PAYMENT, p.interest, p.interest_key)
            status = ledger.settle_status(Kind.INTEREST_PAYMENT, out, loan.disbursed, False)
        if p.principal:
            if not ledger.may_act_on(status):
                return None
            if loan.first_disbursed_on and value_date < loan.first_disbursed_on:
                return None
            timeline = timelines[loan.pk]
            on = timeline.on
            if p.principal > ledger.repayable(on.outstanding, on.frozen):
                return None
            effect = ledger.repayment_effect(p.principal, on.outstanding, on.overdue, on.frozen)
            try:
                services.check_timeline(timeline, value_date, effect)
            except ValidationError:
                return None
            out, ovd, frz = out + effect[0], ovd + effect[1], frz + effect[2]
            if not ledger.consistent(out, ovd, frz):
                return None
            status = ledger.settle_status(Kind.PRINCIPAL_REPAYMENT, out, loan.disbursed, False)
            entry(p, Kind.PRINCIPAL_REPAYMENT, p.principal, p.principal_key, effect)
        caches.append(_Cache(loan, out, ovd, frz, status))
    return PaymentPlan(tuple(entries), tuple(caches))


def write_payments(plan: PaymentPlan) -> None:
    """Append the plan's entries and move the loans' caches: two statements. The database
    checks every cache against its ledger at commit, as it does for the services' postings."""
    if not plan.entries:
        return
    LoanTransaction.objects.bulk_create(plan.entries)
    for cache in plan.caches:
        cache.loan.outstanding = cache.outstanding
        cache.loan.overdue = cache.overdue
        cache.loan.frozen = cache.frozen
        cache.loan.status = cache.status
    Loan.objects.bulk_update(
        [c.loan for c in plan.caches], ["outstanding", "overdue", "frozen", "status"]
    )
