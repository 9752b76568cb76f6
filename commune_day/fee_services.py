"""Fees and commissions: paying them in a session, and adding a dated rate (writes)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from borrowers.models import Chapter, Office, Organisation, SavingsGroup
from borrowers.selectors import check_scope
from branch_portal.templatetags.money import group_thousands
from loans.models import ClosedMonth
from reports.periods import month_end

from .fees import fee_statement
from .models import CommissionRate, EntrustmentFeeRate, FeePayment, FeeTier, TransactionSession


def _refuse(message: str, field: str | None = None) -> ValidationError:
    return ValidationError({field: message} if field else message)


def fee_pay(
    *,
    session: TransactionSession,
    month: dt.date,
    amount: int,
    user,
    idempotency_key: str,
    group: SavingsGroup | None = None,
    chapter: Chapter | None = None,
) -> FeePayment:
    """Pay a group's commission (group=) or a chapter's entrustment fee (chapter=) for `month`
    in cash at an open session. At most the month's statement figure less what was already
    paid for it; the payee must be served by the session (the group one of its groups, the
    chapter one of its groups' chapters); the month must be over before the session's day.
    The same key again returns the payment already made."""
    if (group is None) == (chapter is None):
        raise _refuse(_("Name either a group (commission) or a chapter (fee)."))
    month = month.replace(day=1)
    request = (session.pk, group.pk if group else None, chapter.pk if chapter else None, month)
    existing = _replay(idempotency_key, request, amount)
    if existing is not None:
        return existing
    if amount <= 0:
        raise _refuse(_("The amount must be more than zero."), "amount")
    with transaction.atomic():
        session = TransactionSession.objects.select_for_update().get(pk=session.pk)
        check_scope(user, session.office, write=True)
        # A double click's second request waited for the first on the session's lock: it finds
        # the payment the first made, now committed.
        existing = _replay(idempotency_key, request, amount)
        if existing is not None:
            return existing
        if not session.is_open:
            raise _refuse(_("The session is closed: it takes no more payments."))
        if month_end(month) >= session.date:
            raise _refuse(
                _("Fees are paid for a month that is over: %(month)s is not.")
                % {"month": f"{month:%m/%Y}"},
                "month",
            )
        payee: SavingsGroup | Chapter
        if group is not None:
            # One payee at a time: two tellers paying the same group wait for each other.
            payee = SavingsGroup.objects.select_for_update().get(pk=group.pk)
            served = session.groups.filter(pk=payee.pk).exists()
            paid_so_far = Q(group=payee)
        else:
            assert chapter is not None
            payee = Chapter.objects.select_for_update().get(pk=chapter.pk)
            served = session.groups.filter(chapter=payee).exists()
            paid_so_far = Q(chapter=payee)
        if not served:
            raise _refuse(_("%(payee)s is not served by this session.") % {"payee": payee}, "payee")
        statement = fee_statement(session.office, month)
        line = (
            statement.commission_of(payee.pk) if group is not None else statement.fee_of(payee.pk)
        )
        due = 0 if line is None else line.due
        paid = (
            FeePayment.objects.filter(paid_so_far, month=month).aggregate(total=Sum("amount"))[
                "total"
            ]
            or 0
        )
        left = max(0, due - paid)
        if amount > left:
            raise _refuse(
                _(
                    "At most %(left)s ₫ is left to pay for %(month)s "
                    "(%(due)s ₫ due, %(paid)s ₫ paid)."
                )
                % {
                    "left": group_thousands(left),
                    "month": f"{month:%m/%Y}",
                    "due": group_thousands(due),
                    "paid": group_thousands(paid),
                },
                "amount",
            )
        try:
            with transaction.atomic():
                return FeePayment.objects.create(
                    session=session,
                    group=payee if isinstance(payee, SavingsGroup) else None,
                    chapter=payee if isinstance(payee, Chapter) else None,
                    month=month,
                    amount=amount,
                    paid_by=user,
                    idempotency_key=idempotency_key,
                )
        except IntegrityError:
            # The key taken meanwhile by a payment in another session (not serialised by
            # this session's lock).
            raise _refuse(_msg_key_reused()) from None


def _msg_key_reused() -> str:
    return _("This form was already used for another payment: reload the page and pay again.")


def _replay(key: str, request: tuple, amount: int) -> FeePayment | None:
    """The payment already made under this key, if it is the same payment (session, payee,
    month and amount); a key used for another payment is refused."""
    existing = FeePayment.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    made = (existing.session_id, existing.group_id, existing.chapter_id, existing.month)
    if made != request or existing.amount != amount:
        raise _refuse(_msg_key_reused())
    return existing


# --- dated rates ------------------------------------------------------------------------------


def _check_new_rate(office: Office, effective_from: dt.date, user) -> dt.date:
    check_scope(user, office, manage=True)
    if effective_from.day != 1:
        raise _refuse(_("A rate applies from the first day of a month."), "effective_from")
    closed = ClosedMonth.objects.filter(office=office, month__gte=effective_from).exists()
    if closed:
        raise _refuse(
            _("%(month)s or a later month is closed: a new rate applies from an open month.")
            % {"month": f"{effective_from:%m/%Y}"},
            "effective_from",
        )
    return effective_from


def _check_percent(value: Decimal, field: str) -> None:
    if not Decimal(0) <= value <= Decimal(100):
        raise _refuse(_("A percentage is between 0 and 100."), field)


@transaction.atomic
def commission_rate_add(
    *, office: Office, effective_from: dt.date, percent: Decimal, decision: str, user
) -> CommissionRate:
    _check_new_rate(office, effective_from, user)
    _check_percent(percent, "percent")
    if CommissionRate.objects.filter(office=office, effective_from=effective_from).exists():
        raise _refuse(
            _("The office already has a commission rate from %(month)s.")
            % {"month": f"{effective_from:%m/%Y}"},
            "effective_from",
        )
    return CommissionRate.objects.create(
        office=office,
        effective_from=effective_from,
        percent=percent,
        decision=decision,
        created_by=user,
    )


@transaction.atomic
def fee_rate_add(
    *,
    office: Office,
    organisation: Organisation | None,
    effective_from: dt.date,
    percent: Decimal,
    decision: str,
    user,
) -> EntrustmentFeeRate:
    _check_new_rate(office, effective_from, user)
    _check_percent(percent, "percent")
    if EntrustmentFeeRate.objects.filter(
        office=office, organisation=organisation, effective_from=effective_from
    ).exists():
        raise _refuse(
            _("The office already has this fee rate from %(month)s.")
            % {"month": f"{effective_from:%m/%Y}"},
            "effective_from",
        )
    return EntrustmentFeeRate.objects.create(
        office=office,
        organisation=organisation,
        effective_from=effective_from,
        percent=percent,
        decision=decision,
        created_by=user,
    )


@transaction.atomic
def fee_tiers_add(
    *,
    office: Office,
    effective_from: dt.date,
    tiers: list[tuple[Decimal, Decimal, Decimal]],
    decision: str,
    user,
) -> list[FeeTier]:
    """A whole tier table (max overdue ratio %, min collection rate %, factor) from a month:
    the tiers of one date are read together, so a table is added at once."""
    _check_new_rate(office, effective_from, user)
    if not tiers:
        raise _refuse(_("Give at least one tier."))
    if FeeTier.objects.filter(office=office, effective_from=effective_from).exists():
        raise _refuse(
            _("The office already has a tier table from %(month)s.")
            % {"month": f"{effective_from:%m/%Y}"},
            "effective_from",
        )
    conditions = [(overdue, collection) for overdue, collection, _factor in tiers]
    if len(set(conditions)) != len(conditions):
        raise _refuse(_("Two tiers have the same conditions."))
    for overdue, collection, factor in tiers:
        _check_percent(overdue, "tiers")
        _check_percent(collection, "tiers")
        if not Decimal(0) <= factor <= Decimal(1):
            raise _refuse(_("A factor is between 0 and 1."), "tiers")
    return [
        FeeTier.objects.create(
            office=office,
            effective_from=effective_from,
            max_overdue_ratio=overdue,
            min_collection_rate=collection,
            factor=factor,
            decision=decision,
            created_by=user,
        )
        for overdue, collection, factor in tiers
    ]
