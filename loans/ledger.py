"""The ledger's rulebook: what each entry does to a loan's balances, pure.

Functions over integers, no database: the services (loans.services) post one entry at a time
with them, the import (seeding.importer) and the synthetic seeder (seeding.synthetic) simulate whole
histories with them. A rule or a refusal text changed here changes for all three.

An entry's effect is a triple (d_outstanding, d_overdue, d_frozen), as LoanTransaction stores it;
`disbursed_change` gives its effect on the loan's `disbursed` total. The principal outstanding is
split into overdue, frozen and in term (outstanding - overdue - frozen).
"""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from branch_portal.templatetags.money import group_thousands

from .kinds import LoanStatus, TransactionKind

Kind = TransactionKind
Effect = tuple[int, int, int]  # (d_outstanding, d_overdue, d_frozen)
NO_EFFECT: Effect = (0, 0, 0)

# --- the reduction orders -------------------------------------------------------------------

OVERDUE, FROZEN, IN_TERM = "overdue", "frozen", "in_term"
# A repayment reduces the overdue principal first, then the principal in term (frozen principal
# is not repaid: it is unfrozen first).
REPAYMENT_ORDER = (OVERDUE, IN_TERM)
# A freeze (khoanh nợ) moves overdue principal first, then principal in term.
FREEZE_ORDER = (OVERDUE, IN_TERM)
# A write-off (xóa nợ) takes frozen principal first, then overdue, then in term (without frozen
# principal this is the repayment order).
WRITE_OFF_ORDER = (FROZEN, OVERDUE, IN_TERM)


def in_term(outstanding: int, overdue: int, frozen: int) -> int:
    """The principal neither overdue nor frozen."""
    return outstanding - overdue - frozen


def repayable(outstanding: int, frozen: int) -> int:
    """The most a principal repayment (or a freeze) may be: what is not frozen."""
    return outstanding - frozen


def reduce(
    amount: int, outstanding: int, overdue: int, frozen: int, order: tuple[str, ...]
) -> tuple[int, int, int]:
    """Split a reduction of principal over its parts in the given order: (taken from overdue,
    from frozen, from in term). Plain ints, no dict: the seeder calls it millions of times."""
    parts_left = amount
    taken_overdue = taken_frozen = taken_in_term = 0
    for part in order:
        if part == OVERDUE:
            taken_overdue = min(parts_left, overdue)
            parts_left -= taken_overdue
        elif part == FROZEN:
            taken_frozen = min(parts_left, frozen)
            parts_left -= taken_frozen
        else:
            taken_in_term = min(parts_left, in_term(outstanding, overdue, frozen))
            parts_left -= taken_in_term
    return taken_overdue, taken_frozen, taken_in_term


# --- each kind's effect ---------------------------------------------------------------------


def disbursement_effect(amount: int) -> Effect:
    return (amount, 0, 0)


def repayment_effect(amount: int, outstanding: int, overdue: int, frozen: int) -> Effect:
    taken_overdue, _frozen, _in_term = reduce(amount, outstanding, overdue, frozen, REPAYMENT_ORDER)
    return (-amount, -taken_overdue, 0)


def transfer_to_overdue_effect(amount: int) -> Effect:
    return (0, amount, 0)


def freeze_effect(amount: int, outstanding: int, overdue: int, frozen: int) -> Effect:
    taken_overdue, _frozen, _in_term = reduce(amount, outstanding, overdue, frozen, FREEZE_ORDER)
    return (0, -taken_overdue, amount)


def unfreeze_effect(amount: int) -> Effect:
    return (0, 0, -amount)


def write_off_effect(amount: int, outstanding: int, overdue: int, frozen: int) -> Effect:
    taken_overdue, taken_frozen, _in_term = reduce(
        amount, outstanding, overdue, frozen, WRITE_OFF_ORDER
    )
    return (-amount, -taken_overdue, -taken_frozen)


def transfer_out_effect(outstanding: int, overdue: int, frozen: int) -> Effect:
    """A transfer to another office takes the whole balance, each part as it is."""
    return (-outstanding, -overdue, -frozen)


def transfer_in_effect(outstanding: int, overdue: int, frozen: int) -> Effect:
    """The receiving loan gets the balance the transfer out took."""
    return (outstanding, overdue, frozen)


def reversal_effect(d_outstanding: int, d_overdue: int, d_frozen: int) -> Effect:
    """A reversal is the negation of the entry it cancels."""
    return (-d_outstanding, -d_overdue, -d_frozen)


def effect(kind: str, amount: int, outstanding: int, overdue: int, frozen: int) -> Effect:
    """The effect of an entry of `kind` (not a reversal: see reversal_effect) on these balances.
    Interest payments and extensions move no principal."""
    if kind == Kind.DISBURSEMENT:
        return disbursement_effect(amount)
    if kind == Kind.PRINCIPAL_REPAYMENT:
        return repayment_effect(amount, outstanding, overdue, frozen)
    if kind == Kind.TRANSFER_TO_OVERDUE:
        return transfer_to_overdue_effect(amount)
    if kind == Kind.FREEZE:
        return freeze_effect(amount, outstanding, overdue, frozen)
    if kind == Kind.UNFREEZE:
        return unfreeze_effect(amount)
    if kind == Kind.WRITE_OFF:
        return write_off_effect(amount, outstanding, overdue, frozen)
    if kind == Kind.TRANSFER_OUT:
        return transfer_out_effect(outstanding, overdue, frozen)
    if kind == Kind.TRANSFER_IN:
        return transfer_in_effect(outstanding, overdue, frozen)
    if kind in (*INTEREST_KINDS, Kind.EXTENSION):
        return NO_EFFECT
    raise ValueError(f"no effect rule for {str(kind)!r}")


# --- interest -------------------------------------------------------------------------------
# Each of these entries, unreversed, pays the loan's interest to its value date: a payment, the
# prepaid credit used for the interest due, the interest written off.
INTEREST_SETTLING_KINDS = (
    Kind.INTEREST_PAYMENT,
    Kind.PREPAYMENT_APPLIED,
    Kind.INTEREST_WRITE_OFF,
)
INTEREST_KINDS = (*INTEREST_SETTLING_KINDS, Kind.INTEREST_PREPAYMENT)
# The column a report counts an entry of an interest kind in: a prepayment is interest collected
# (the cash came in when it was paid); the credit's later use is not collected again.
COUNTED_AS: dict[str, str] = {Kind.INTEREST_PREPAYMENT.value: Kind.INTEREST_PAYMENT.value}


def counted_kind(kind: str) -> str:
    return COUNTED_AS.get(str(kind), str(kind))


def credit_change(kind: str, amount: int) -> int:
    """An unreversed entry's effect on the loan's prepaid interest credit."""
    if kind == Kind.INTEREST_PREPAYMENT:
        return amount
    if kind == Kind.PREPAYMENT_APPLIED:
        return -amount
    return 0


# The entries one operation posts beside its own: an interest payment's credit used and its
# prepaid excess, a write-off's interest. Each is keyed by the operation's key and its suffix,
# so the operation replays and reverses as one.
COMPANIONS = (":applied", ":prepaid", ":interest")


def is_companion(kind: str, idempotency_key: str) -> bool:
    """Whether the entry was posted beside another operation's (COMPANIONS): it is reversed
    with that entry, never alone."""
    return kind in (Kind.PREPAYMENT_APPLIED, Kind.INTEREST_WRITE_OFF) or (
        kind == Kind.INTEREST_PREPAYMENT and idempotency_key.endswith(":prepaid")
    )


def interest_split(amount: int, payable: int) -> tuple[int, int]:
    """A payment of `amount` against `payable` interest due: (paying the due, prepaid beyond)."""
    paid = min(amount, payable)
    return paid, amount - paid


def disbursed_change(kind: str, counted_kind: str, amount: int) -> int:
    """An entry's effect on the loan's disbursed total: a disbursement adds its amount, its
    reversal takes it back."""
    if counted_kind != Kind.DISBURSEMENT:
        return 0
    return -amount if kind == Kind.REVERSAL else amount


# --- what the balances may be, and the status they imply ----------------------------------------


def consistent(outstanding: int, overdue: int, frozen: int) -> bool:
    """Balances a loan may have: overdue and frozen not negative, together within outstanding
    (which is then not negative either)."""
    return min(overdue, frozen) >= 0 and overdue + frozen <= outstanding


def settle_status(kind: str, outstanding: int, disbursed: int, transferred_in: bool) -> str:
    """The status the balances imply after an entry of this kind: active while principal is
    outstanding; approved again when nothing was ever disbursed here (a disbursement reversed)
    unless the loan came from another office; else written off or settled by the entry that
    brought it to nought."""
    if kind == Kind.TRANSFER_OUT:
        return LoanStatus.TRANSFERRED
    if outstanding > 0:
        return LoanStatus.ACTIVE
    if disbursed == 0 and not transferred_in:
        return LoanStatus.APPROVED
    if kind == Kind.WRITE_OFF:
        return LoanStatus.WRITTEN_OFF
    return LoanStatus.SETTLED


# --- the refusals ---------------------------------------------------------------------------
# Each text once; the services and the import put them on their own field or column. They are
# evaluated when called (gettext), in the language active then.


def msg_month_closed(value_date: dt.date) -> str:
    return _(
        "%(m)s is closed: date the entry in the open period "
        "(an earlier entry is corrected by a reversal dated there)."
    ) % {"m": value_date.strftime("%m/%Y")}


def msg_inconsistent() -> str:
    return _("The entry would leave the loan's balances inconsistent.")


def msg_no_balance(status: str) -> str:
    return _("The loan has no balance to act on (status: %(s)s).") % {"s": LoanStatus(status).label}


def msg_not_approved() -> str:
    return _("Only an approved loan can be disbursed.")


def msg_disbursed_before_approval() -> str:
    return _("A loan is disbursed on or after its approval.")


def msg_disbursements_exceed(left: int) -> str:
    return _("Disbursements would exceed the approved amount (%(left)s VND left).") % {
        "left": group_thousands(left)
    }


def msg_repayment_exceeds(payable: int) -> str:
    return _("The repayment exceeds the principal that can be repaid (%(n)s VND).") % {
        "n": group_thousands(payable)
    }


def msg_dated_before_disbursement(first_disbursed_on: dt.date) -> str:
    return _(
        "The loan was first disbursed on %(d)s: an entry on its principal is dated on or after it."
    ) % {"d": first_disbursed_on.strftime("%d/%m/%Y")}


def msg_dated_before_transfer_in(arrived_on: dt.date) -> str:
    return _("The loan came to this office on %(d)s: an entry here is dated on or after it.") % {
        "d": arrived_on.strftime("%d/%m/%Y")
    }


def msg_interest_above_due(payable: int, credit_used: int, day: dt.date) -> str:
    if credit_used:
        return _(
            "The interest due to %(date)s is %(due)s đồng after the prepaid credit of "
            '%(credit)s đồng. To pay more, tick "prepayment": the excess becomes a credit '
            "used by the next interest due."
        ) % {
            "date": day.strftime("%d/%m/%Y"),
            "due": group_thousands(payable),
            "credit": group_thousands(credit_used),
        }
    return _(
        'The interest due to %(date)s is %(due)s đồng. To pay more, tick "prepayment": the '
        "excess becomes a credit used by the next interest due."
    ) % {"date": day.strftime("%d/%m/%Y"), "due": group_thousands(payable)}


def msg_interest_write_off_exceeds(payable: int, day: dt.date) -> str:
    return _(
        "The interest written off may be at most the interest due to %(date)s: %(due)s đồng."
    ) % {"date": day.strftime("%d/%m/%Y"), "due": group_thousands(payable)}


def msg_prepayment_used() -> str:
    return _(
        "The prepaid credit of this payment has been used by a later interest payment: reverse "
        "that one first."
    )


def msg_paid_from_savings() -> str:
    return _(
        "This entry was paid from the member's savings and moved both ledgers: it cannot be "
        "reversed on the loan alone."
    )


def msg_reverse_with_payment() -> str:
    return _(
        "This entry was posted with an interest payment or a write-off: reverse that entry, "
        "which reverses both."
    )


def msg_interest_before_disbursement() -> str:
    return _("Interest is paid on a disbursed loan only.")


def msg_overdue_exceeds_in_term(in_term_now: int) -> str:
    return _("Only principal in term (%(n)s VND) can be transferred to overdue.") % {
        "n": group_thousands(in_term_now)
    }


def msg_reversal_of_reversal() -> str:
    return _("A reversal cannot be reversed; post the entry again.")


def msg_reversal_of_transfer() -> str:
    return _("A transfer is corrected by a transfer back, not a reversal.")


def msg_already_reversed() -> str:
    return _("This entry has already been reversed.")


def msg_reversal_before_entry() -> str:
    return _("A reversal is dated on or after its entry.")


def msg_key_reused() -> str:
    return _("This form was already used for another entry.")


def msg_transferred_away() -> str:
    return _("The loan was transferred to another office: correct it there.")


def msg_timeline_negative(day: dt.date) -> str:
    return _(
        "On this value date the entry would leave the loan's balances negative on %(d)s: "
        "date it later."
    ) % {"d": day.strftime("%d/%m/%Y")}


def msg_freeze_without_dossier() -> str:
    return _("A freeze cites its approved dossier.")


def msg_freeze_exceeds() -> str:
    return _("The amount exceeds the principal not yet frozen.")


def msg_unfreeze_exceeds() -> str:
    return _("The amount exceeds the frozen principal.")


def msg_write_off_exceeds(outstanding: int) -> str:
    return _("The write-off exceeds the outstanding principal (%(n)s VND).") % {
        "n": group_thousands(outstanding)
    }


def msg_disbursement_partly_repaid() -> str:
    return _("Part of this disbursement has been repaid or moved; reverse those entries first.")


# --- what may be posted ---------------------------------------------------------------------


def may_disburse(status: str) -> bool:
    """An approved loan is disbursed, in tranches while it is active."""
    return status in (LoanStatus.APPROVED, LoanStatus.ACTIVE)


def may_act_on(status: str) -> bool:
    """Repayments, transfers to overdue, extensions, freezes and write-offs need a balance."""
    return status == LoanStatus.ACTIVE


def disbursement_room(approved_amount: int, disbursed: int) -> int:
    """What may still be disbursed: disbursements never exceed the approved amount."""
    return max(0, approved_amount - disbursed)


def refusal_to_reverse(kind: str) -> str | None:
    """Why an entry of this kind cannot be reversed, or None: a reversal is posted again, not
    reversed; a transfer is corrected by a transfer back."""
    if kind == Kind.REVERSAL:
        return msg_reversal_of_reversal()
    if kind in (Kind.TRANSFER_OUT, Kind.TRANSFER_IN):
        return msg_reversal_of_transfer()
    return None


def disbursement_reversible(amount: int, outstanding: int, overdue: int, frozen: int) -> bool:
    """A disbursement is reversed only while all of it is still principal in term."""
    return in_term(outstanding, overdue, frozen) >= amount
