"""Every operation on a loan. Each one locks the loan row, validates, posts to the append-only
ledger with an idempotency key and updates the cached balances, in one database transaction.

Views, Celery tasks, the import and the demo seeder all call these functions.
"""

import datetime as dt
import hashlib
import re
from collections.abc import Callable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _

from borrowers.models import Household, Office, SavingsGroup, Village

# month_is_closed: the closed-month rule lives with the office, so household services share it.
from borrowers.selectors import can_manage, month_is_closed
from borrowers.services import msg_group_of_another_commune
from branch_portal.templatetags.money import group_thousands

from . import approvals, batch, ledger
from .models import (
    CACHED_FIELDS,
    MAX_WORKERS_EMPLOYED,
    MAX_WORKS_BUILT,
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
from .money import MAX_AMOUNT, amount_in_range
from .selectors import (
    Timeline,
    disbursed_before_transfer,
    equal_instalments,
    interest_due_on,
    interest_payment_limit,
    overdue_candidates,
    prepaid_credit,
    rule_on,
    timeline_from,
)

Kind = TransactionKind


# --- programme rules -------------------------------------------------------------------------


def loan_check_rules(
    *,
    household: Household,
    programme: Programme,
    amount: int,
    term_months: int,
    on: dt.date,
    workers_employed: int = 0,
    works_built: int = 0,
) -> ProgrammeRule:
    """Eligibility, cap and term on a date, as the programme's rule in force says."""
    rule = rule_on(programme, on)
    if rule is None:
        raise ValidationError(
            _("Programme %(code)s has no rules in force on %(date)s.")
            % {"code": programme.code, "date": on.strftime("%d/%m/%Y")}
        )
    errors: dict[str, str | ValidationError] = {}
    category = household.category_for(on.year)
    if category not in rule.eligible_categories:
        errors["programme"] = _(
            "The household's category (%(category)s in %(year)s) is not eligible for %(code)s."
        ) % {"category": category or _("not certified"), "year": on.year, "code": programme.code}
    # Job creation lends per worker employed, clean water per work built.
    cap = rule.max_amount
    if programme.outcome == Programme.Outcome.WORKERS:
        cap *= max(1, workers_employed)
    elif programme.outcome == Programme.Outcome.WORKS:
        cap *= max(1, works_built)
    if not 0 <= workers_employed <= MAX_WORKERS_EMPLOYED:
        errors["workers_employed"] = ValidationError(
            _("Workers employed is a count from 0 to %(n)s.") % {"n": MAX_WORKERS_EMPLOYED},
            code="count_range",
        )
    if not 0 <= works_built <= MAX_WORKS_BUILT:
        errors["works_built"] = ValidationError(
            _("Works built is a count from 0 to %(n)s.") % {"n": MAX_WORKS_BUILT},
            code="count_range",
        )
    if amount <= 0:
        errors["amount"] = _("The amount must be positive.")
    elif amount > MAX_AMOUNT:
        errors["amount"] = ValidationError(
            _("The amount may be at most %(max)s đồng.") % {"max": group_thousands(MAX_AMOUNT)},
            code="amount_range",
        )
    elif amount > cap:
        errors["amount"] = _("The amount exceeds the programme's cap of %(cap)s VND.") % {
            "cap": group_thousands(cap)
        }
    if term_months <= 0:
        errors["term_months"] = _("The term must be at least one month.")
    elif term_months > rule.max_term_months:
        errors["term_months"] = _("The term exceeds the programme's maximum of %(n)s months.") % {
            "n": rule.max_term_months
        }
    if errors:
        raise ValidationError(errors)
    return rule


# --- applying and approving --------------------------------------------------------------------


def _next_loan_number(office: Office, year: int) -> str:
    Office.objects.select_for_update().get(pk=office.pk)  # serialises numbering per office
    prefix = f"{office.code}-{year}-"
    # Only numbers of this form: a loan transferred back into the office keeps its number with
    # the other office's code after it ("DP-2021-00001/PB"), and more digits sort last.
    last = (
        Loan.objects.filter(office=office, number__regex=rf"^{re.escape(prefix)}[0-9]+$")
        .order_by(Length("number").desc(), "-number")
        .values_list("number", flat=True)
        .first()
    )
    seq = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{seq:05d}"


@transaction.atomic
def loan_apply(
    *,
    household: Household,
    programme: Programme,
    amount: int,
    term_months: int,
    applied_on: dt.date,
    user=None,
    group: SavingsGroup | None = None,
    purpose: str = "",
    workers_employed: int = 0,
    works_built: int = 0,
    preferential: bool = False,
    number: str | None = None,
    idempotency_key: str | None = None,
) -> Loan:
    office = household.office
    if idempotency_key:
        existing = Loan.objects.filter(application_key=idempotency_key).first()
        if existing is not None:
            if existing.household_id != household.pk:
                raise ValidationError(ledger.msg_key_reused())
            return existing
    if household.status != Household.Status.ACTIVE:
        raise ValidationError(_("The household is not an active borrower."))
    if group is not None and group.office_id != office.pk:
        raise ValidationError({"group": _("The group belongs to another office.")})
    if applied_on > office.business_date:
        raise ValidationError({"applied_on": _("The date is after the office's business date.")})
    rule = loan_check_rules(
        household=household,
        programme=programme,
        amount=amount,
        term_months=term_months,
        on=applied_on,
        workers_employed=workers_employed,
        works_built=works_built,
    )
    if preferential and rule.preferential_rate is None:
        raise ValidationError({"preferential": _("This programme has no preferential rate.")})
    number = number or _next_loan_number(office, applied_on.year)
    if Loan.objects.filter(office=office, number=number).exists():
        raise ValidationError({"number": _("Loan number %(n)s is already used.") % {"n": number}})
    return Loan.objects.create(
        office=office,
        number=number,
        household=household,
        programme=programme,
        group=group,
        approved_amount=amount,
        term_months=term_months,
        applied_on=applied_on,
        purpose=purpose,
        workers_employed=workers_employed,
        works_built=works_built,
        preferential=preferential,
        created_by=user,
        application_key=idempotency_key or None,
    )


def _lock(loan: Loan) -> Loan:
    return (
        Loan.objects.select_for_update(of=("self",))
        .select_related("office", "programme", "household")
        .get(pk=loan.pk)
    )


@transaction.atomic
def loan_approve(*, loan: Loan, user, approved_on: dt.date | None = None) -> Loan:
    loan = _lock(loan)
    if user is not None and not can_manage(user, loan.office):
        raise PermissionDenied(_("Only a manager approves loans."))
    if loan.status != Loan.Status.APPLIED:
        raise ValidationError(_("Only an application can be approved."))
    approved_on = approved_on or loan.office.business_date
    if approved_on < loan.applied_on or approved_on > loan.office.business_date:
        raise ValidationError(
            {"approved_on": _("Approval falls between the application and the business date.")}
        )
    loan_check_rules(
        household=loan.household,
        programme=loan.programme,
        amount=loan.approved_amount,
        term_months=loan.term_months,
        on=approved_on,
        workers_employed=loan.workers_employed,
        works_built=loan.works_built,
    )
    loan.status = Loan.Status.APPROVED
    loan.approved_on = approved_on
    loan.approved_by = user
    loan.save(update_fields=["status", "approved_on", "approved_by"])
    return loan


@transaction.atomic
def loan_reject(*, loan: Loan, user) -> Loan:
    loan = _lock(loan)
    if user is not None and not can_manage(user, loan.office):
        raise PermissionDenied(_("Only a manager rejects applications."))
    if loan.status != Loan.Status.APPLIED:
        raise ValidationError(_("Only an application can be rejected."))
    loan.status = Loan.Status.REJECTED
    loan.save(update_fields=["status"])
    return loan


# --- posting -----------------------------------------------------------------------------------


def _replay(key: str, loan: Loan, kind: str | tuple[str, ...]) -> LoanTransaction | None:
    """The entry already posted under this key (a double-submitted form), if any."""
    entry = LoanTransaction.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    kinds = (kind,) if isinstance(kind, str) else kind
    if entry.loan_id != loan.pk or entry.kind not in kinds:
        raise ValidationError(ledger.msg_key_reused())
    return entry


def _hold_office(office: Office) -> None:
    """Hold the office row until this transaction ends (FOR KEY SHARE: postings do not wait for
    one another). A month close locks it FOR UPDATE: it waits for the postings in flight, whose
    entries its month-end snapshot then includes, and a posting that comes after it sees the
    closed month. (The ledger's foreign key to the office takes this lock only at commit.)"""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM borrowers_office WHERE id = %s FOR KEY SHARE", [office.pk])


def _check_value_date(loan: Loan, value_date: dt.date, office: Office | None = None) -> None:
    check_value_date(office or loan.office, value_date)


def check_value_date(office: Office, value_date: dt.date) -> None:
    """The posting rules on a value date that every ledger shares (the savings ledger too):
    not after the office's business date, not in a closed month. Holds the office row until the
    transaction ends, so a month close waits for the posting (_hold_office). In a batch
    (loans.batch) the office is held and its closed months read once."""
    batch.once(("office_held", office.pk), lambda: _hold_office(office))
    if value_date > office.business_date:
        raise ValidationError(
            {
                "value_date": _("The value date is after the business date %(d)s.")
                % {"d": office.business_date.strftime("%d/%m/%Y")}
            }
        )
    closed = batch.once(
        ("month_closed", office.pk, value_date), lambda: month_is_closed(office, value_date)
    )
    if closed:
        raise ValidationError({"value_date": ledger.msg_month_closed(value_date)})


def _check_amount(amount: int) -> None:
    if not amount_in_range(amount):
        raise ValidationError(
            {
                "amount": ValidationError(
                    _("The amount must be a positive whole number of đồng, at most %(max)s.")
                    % {"max": group_thousands(MAX_AMOUNT)},
                    code="amount_range",
                )
            }
        )


def check_timeline(timeline: Timeline, value_date: dt.date, effect: ledger.Effect) -> None:
    """A back-dated entry must leave the balances valid on its value date and on every later
    day on which they change, not only today: no negative principal, overdue or frozen."""
    d_out, d_ovd, d_frz = effect
    start = timeline.on
    out, ovd, frz = start.outstanding + d_out, start.overdue + d_ovd, start.frozen + d_frz
    if not ledger.consistent(out, ovd, frz):
        raise ValidationError({"value_date": ledger.msg_timeline_negative(value_date)})
    for day, o, v, f in timeline.later:
        out, ovd, frz = out + o, ovd + v, frz + f
        if not ledger.consistent(out, ovd, frz):
            raise ValidationError({"value_date": ledger.msg_timeline_negative(day)})


def _post(
    loan: Loan,
    *,
    kind: str,
    value_date: dt.date,
    amount: int,
    user,
    idempotency_key: str,
    effect: ledger.Effect = ledger.NO_EFFECT,
    counted_kind: str | None = None,
    timeline: Timeline | None = None,
    operation: str | None = None,
    approval: ApprovalRequest | None = None,
    **extra,
) -> LoanTransaction:
    """Append one entry and apply its effect (ledger.*_effect) to the (locked) loan's cache.

    An entry that moves principal is checked against the ledger from its value date on: the
    caller passes the timeline it already read for its amount check (the ledger is summed once
    per posting), or it is read here.

    A user's operation (`operation`, its code) passes the four-eyes gate once every check has
    passed and before anything is written: held by the office's policy and not covered by
    `approval`, it raises approvals.Held (nothing posts); approved, the entry carries the
    checker's name."""
    d_outstanding, d_overdue, d_frozen = effect
    if effect != ledger.NO_EFFECT:
        if timeline is None:
            timeline = timeline_from(loan, value_date)
        check_timeline(timeline, value_date, effect)
    loan.outstanding += d_outstanding
    loan.overdue += d_overdue
    loan.frozen += d_frozen
    loan.status = ledger.settle_status(
        kind, loan.outstanding, loan.disbursed, loan.transferred_from_id is not None
    )
    if not ledger.consistent(loan.outstanding, loan.overdue, loan.frozen):
        raise ValidationError(ledger.msg_inconsistent())
    if operation is not None:
        extra["approved_by"] = _gate(
            loan, operation, approval, amount=amount, value_date=value_date
        )
    entry = LoanTransaction.objects.create(
        office_id=loan.office_id,
        loan=loan,
        kind=kind,
        counted_kind=counted_kind or kind,
        value_date=value_date,
        amount=amount,
        d_outstanding=d_outstanding,
        d_overdue=d_overdue,
        d_frozen=d_frozen,
        posted_by=user,
        idempotency_key=idempotency_key,
        **extra,
    )
    loan.save(update_fields=list(CACHED_FIELDS))
    return entry


COMPANIONS = ledger.COMPANIONS
_KEY_LENGTH = 100  # LoanTransaction.idempotency_key's max_length


def companion_key(key: str, suffix: str) -> str:
    if len(key) + len(suffix) <= _KEY_LENGTH:
        return key + suffix
    return hashlib.sha256(key.encode()).hexdigest() + suffix


def _with_companions(entry: LoanTransaction) -> list[LoanTransaction]:
    """The entry and those its operation posted beside it (COMPANIONS), the entry first."""
    key = entry.idempotency_key
    keys = [companion_key(key, suffix) for suffix in COMPANIONS]
    return [
        entry,
        *LoanTransaction.objects.filter(loan_id=entry.loan_id, idempotency_key__in=keys).order_by(
            "id"
        ),
    ]


def _gate(loan: Loan, operation: str, approval: ApprovalRequest | None, *, amount: int, value_date):
    """The four-eyes gate (approvals.gate) for an operation on the loan: the checker to record
    on its entries, None when the policy does not hold it; raises approvals.Held when it does
    and no approval covers it. An operation of several entries passes it once, before the
    first."""
    return approvals.gate(
        office=loan.office,
        operation=operation,
        subject=approvals.loan_subject(loan),
        approval=approval,
        amount=amount,
        value_date=value_date,
        loan=loan,
    )


def _begin(loan: Loan, kind: str | tuple[str, ...], key: str, value_date: dt.date, amount: int):
    """Lock, replay a repeated key, check date and amount. Returns (loan, replayed entry)."""
    loan = _lock(loan)
    replayed = _replay(key, loan, kind)
    if replayed is not None:
        return loan, replayed
    _check_value_date(loan, value_date)
    _check_amount(amount)
    return loan, None


def _require_active(loan: Loan) -> None:
    if not ledger.may_act_on(loan.status):
        raise ValidationError(ledger.msg_no_balance(loan.status))


def _require_disbursed_by(loan: Loan, value_date: dt.date) -> None:
    """An entry on the principal dated before the first disbursement, or before the loan came
    from another office, finds no balance there: say so, rather than that the amount exceeds a
    balance of 0."""
    if loan.first_disbursed_on and value_date < loan.first_disbursed_on:
        raise ValidationError(
            {"value_date": ledger.msg_dated_before_disbursement(loan.first_disbursed_on)}
        )
    if loan.transferred_from_id is not None:
        arrived = (
            loan.transactions.filter(kind=Kind.TRANSFER_IN)
            .values_list("value_date", flat=True)
            .first()
        )
        if arrived is not None and value_date < arrived:
            raise ValidationError({"value_date": ledger.msg_dated_before_transfer_in(arrived)})


@transaction.atomic
def loan_disburse(
    *,
    loan: Loan,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    reference: str = "",
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    loan, entry = _begin(loan, Kind.DISBURSEMENT, idempotency_key, value_date, amount)
    if entry:
        return entry
    if not ledger.may_disburse(loan.status):
        raise ValidationError(ledger.msg_not_approved())
    if loan.approved_on and value_date < loan.approved_on:
        raise ValidationError({"value_date": ledger.msg_disbursed_before_approval()})
    room = ledger.disbursement_room(
        loan.approved_amount, loan.disbursed + disbursed_before_transfer(loan)
    )
    if amount > room:
        raise ValidationError({"amount": ledger.msg_disbursements_exceed(room)})
    loan.disbursed += ledger.disbursed_change(Kind.DISBURSEMENT, Kind.DISBURSEMENT, amount)
    if loan.first_disbursed_on is None:
        loan.first_disbursed_on = value_date
    entry = _post(
        loan,
        kind=Kind.DISBURSEMENT,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=idempotency_key,
        operation="disburse",
        approval=approval,
        effect=ledger.disbursement_effect(amount),
        reference=reference,
    )
    schedule_rebuild(loan)
    return entry


@transaction.atomic
def loan_repay_principal(
    *,
    loan: Loan,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    reference: str = "",
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    """Repayment reduces the overdue principal first, then the principal in term."""
    loan, entry = _begin(loan, Kind.PRINCIPAL_REPAYMENT, idempotency_key, value_date, amount)
    if entry:
        return entry
    _require_active(loan)
    _require_disbursed_by(loan, value_date)
    timeline = timeline_from(loan, value_date)
    on = timeline.on
    payable = ledger.repayable(on.outstanding, on.frozen)
    if amount > payable:
        raise ValidationError({"amount": ledger.msg_repayment_exceeds(payable)})
    return _post(
        loan,
        kind=Kind.PRINCIPAL_REPAYMENT,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=idempotency_key,
        operation="repay",
        approval=approval,
        effect=ledger.repayment_effect(amount, on.outstanding, on.overdue, on.frozen),
        timeline=timeline,
        reference=reference,
    )


def _apply_credit(loan: Loan, due, *, value_date: dt.date, user, key: str, **extra) -> None:
    """Use the prepaid credit for the interest due, as the operation paying interest to
    value_date is posted: the credit is spent exactly when the interest it paid is settled."""
    if due.credit_used:
        _post(
            loan,
            kind=Kind.PREPAYMENT_APPLIED,
            value_date=value_date,
            amount=due.credit_used,
            user=user,
            idempotency_key=companion_key(key, ":applied"),
            **extra,
        )


@transaction.atomic
def loan_pay_interest(
    *,
    loan: Loan,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    reference: str = "",
    prepayment: bool = False,
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    """Interest paid to value_date: at most what is due then (accrued since it was last paid
    to, less the prepaid credit, which this payment uses). Beyond it only as a prepayment: the
    excess is a credit on the loan, used by the next interest due. Returns the payment (the
    prepayment when nothing was due)."""
    loan, entry = _begin(
        loan,
        (Kind.INTEREST_PAYMENT, Kind.INTEREST_PREPAYMENT),
        idempotency_key,
        value_date,
        amount,
    )
    if entry:
        return entry
    if loan.first_disbursed_on is None:
        raise ValidationError(ledger.msg_interest_before_disbursement())
    if loan.status == Loan.Status.TRANSFERRED:
        raise ValidationError(ledger.msg_transferred_away())
    due = interest_due_on(loan, value_date)
    if amount > due.payable and not prepayment:
        raise ValidationError(
            {
                "amount": ValidationError(
                    ledger.msg_interest_above_due(due.payable, due.credit_used, value_date),
                    code="interest_above_due",
                )
            }
        )
    # An ordinary payment is within the due already: the twelve-month cap is a prepayment's.
    limit = interest_payment_limit(loan, value_date, due) if prepayment else due.payable
    if amount > limit:
        raise ValidationError(
            {
                "amount": ValidationError(
                    _(
                        "An interest payment may be at most %(max)s đồng: the interest due to "
                        "%(date)s and twelve months' interest on the balance."
                    )
                    % {"max": group_thousands(limit), "date": value_date.strftime("%d/%m/%Y")},
                    code="interest_above_limit",
                )
            }
        )
    paid, prepaid = ledger.interest_split(amount, due.payable)
    checker = _gate(loan, "interest", approval, amount=amount, value_date=value_date)
    common = {
        "value_date": value_date,
        "user": user,
        "reference": reference,
        "approved_by": checker,
    }
    _apply_credit(loan, due, key=idempotency_key, **common)
    posted = []
    if paid:
        posted.append(
            _post(
                loan,
                kind=Kind.INTEREST_PAYMENT,
                amount=paid,
                idempotency_key=idempotency_key,
                **common,
            )
        )
    if prepaid:
        posted.append(
            _post(
                loan,
                kind=Kind.INTEREST_PREPAYMENT,
                counted_kind=ledger.counted_kind(Kind.INTEREST_PREPAYMENT),
                amount=prepaid,
                idempotency_key=companion_key(idempotency_key, ":prepaid")
                if paid
                else idempotency_key,
                **common,
            )
        )
    return posted[0]


@transaction.atomic
def loan_transfer_to_overdue(
    *,
    loan: Loan,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    instalment: Instalment | None = None,
    reference: str = "",
) -> LoanTransaction:
    loan, entry = _begin(loan, Kind.TRANSFER_TO_OVERDUE, idempotency_key, value_date, amount)
    if entry:
        return entry
    _require_active(loan)
    _require_disbursed_by(loan, value_date)
    timeline = timeline_from(loan, value_date)
    in_term = timeline.on.in_term
    if amount > in_term:
        raise ValidationError({"amount": ledger.msg_overdue_exceeds_in_term(in_term)})
    return _post(
        loan,
        kind=Kind.TRANSFER_TO_OVERDUE,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=idempotency_key,
        effect=ledger.transfer_to_overdue_effect(amount),
        timeline=timeline,
        instalment=instalment,
        reference=reference,
    )


@transaction.atomic
def loan_extend(
    *,
    loan: Loan,
    instalment: Instalment,
    new_due_date: dt.date,
    value_date: dt.date,
    user,
    idempotency_key: str,
    note: str = "",
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    """Extend an instalment before it falls due (gia hạn)."""
    amount = instalment.principal
    loan, entry = _begin(loan, Kind.EXTENSION, idempotency_key, value_date, amount)
    if entry:
        return entry
    _require_active(loan)
    instalment = Instalment.objects.select_for_update().get(pk=instalment.pk, loan=loan)
    if value_date > instalment.effective_due_date:
        raise ValidationError(_("An instalment is extended before it falls due."))
    if new_due_date <= instalment.effective_due_date:
        raise ValidationError({"new_due_date": _("The new due date must be later.")})
    # Extensions are capped at the term again beyond maturity (the usual rule for these loans).
    maturity = loan.maturity_date
    assert maturity is not None, "an active loan has been disbursed"
    limit = add_months(maturity, loan.term_months)
    if new_due_date > limit:
        raise ValidationError(
            {
                "new_due_date": _("An extension may not go beyond %(d)s.")
                % {"d": limit.strftime("%d/%m/%Y")}
            }
        )
    entry = _post(
        loan,
        kind=Kind.EXTENSION,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=idempotency_key,
        operation="extend",
        approval=approval,
        instalment=instalment,
        new_due_date=new_due_date,
        note=note,
    )
    instalment.extended_to = new_due_date
    instalment.save(update_fields=["extended_to"])
    return entry


@transaction.atomic
def loan_freeze(
    *,
    loan: Loan,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    note: str,
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    """Freeze (khoanh nợ) principal for an objective risk: overdue first, then in term."""
    loan, entry = _begin(loan, Kind.FREEZE, idempotency_key, value_date, amount)
    if entry:
        return entry
    _require_active(loan)
    _require_disbursed_by(loan, value_date)
    if not note.strip():
        raise ValidationError({"note": ledger.msg_freeze_without_dossier()})
    timeline = timeline_from(loan, value_date)
    on = timeline.on
    if amount > ledger.repayable(on.outstanding, on.frozen):
        raise ValidationError({"amount": ledger.msg_freeze_exceeds()})
    return _post(
        loan,
        kind=Kind.FREEZE,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=idempotency_key,
        operation="freeze",
        approval=approval,
        effect=ledger.freeze_effect(amount, on.outstanding, on.overdue, on.frozen),
        timeline=timeline,
        note=note,
    )


@transaction.atomic
def loan_unfreeze(
    *,
    loan: Loan,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    note: str = "",
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    loan, entry = _begin(loan, Kind.UNFREEZE, idempotency_key, value_date, amount)
    if entry:
        return entry
    _require_disbursed_by(loan, value_date)
    timeline = timeline_from(loan, value_date)
    if amount > timeline.on.frozen:
        raise ValidationError({"amount": ledger.msg_unfreeze_exceeds()})
    return _post(
        loan,
        kind=Kind.UNFREEZE,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=idempotency_key,
        operation="unfreeze",
        approval=approval,
        effect=ledger.unfreeze_effect(amount),
        timeline=timeline,
        note=note,
    )


@transaction.atomic
def loan_write_off(
    *,
    loan: Loan,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    note: str = "",
    reference: str = "",
    interest: int | None = None,
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    """Write off (xóa nợ) for an objective risk: frozen principal first, then overdue, then in
    term (without frozen principal this is the repayment order); and, when `interest` is given,
    that much of the interest due at value_date (at most all of it, after the prepaid credit,
    which the write-off uses), which then counts as paid to value_date."""
    loan, entry = _begin(loan, Kind.WRITE_OFF, idempotency_key, value_date, amount)
    if entry:
        return entry
    _require_active(loan)
    _require_disbursed_by(loan, value_date)
    timeline = timeline_from(loan, value_date)
    on = timeline.on
    if amount > on.outstanding:
        raise ValidationError({"amount": ledger.msg_write_off_exceeds(on.outstanding)})
    if interest:
        due = interest_due_on(loan, value_date)
        if interest < 0 or interest > due.payable:
            raise ValidationError(
                {"interest": ledger.msg_interest_write_off_exceeds(due.payable, value_date)}
            )
        # The gate before the first entry of the operation: all of them carry the checker.
        checker = _gate(loan, "write-off", approval, amount=amount, value_date=value_date)
        common = {
            "value_date": value_date,
            "user": user,
            "note": note,
            "reference": reference,
            "approved_by": checker,
        }
        _apply_credit(loan, due, key=idempotency_key, **common)
        _post(
            loan,
            kind=Kind.INTEREST_WRITE_OFF,
            amount=interest,
            idempotency_key=companion_key(idempotency_key, ":interest"),
            **common,
        )
        return _post(
            loan,
            kind=Kind.WRITE_OFF,
            amount=amount,
            idempotency_key=idempotency_key,
            effect=ledger.write_off_effect(amount, on.outstanding, on.overdue, on.frozen),
            timeline=timeline,
            **common,
        )
    return _post(
        loan,
        kind=Kind.WRITE_OFF,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=idempotency_key,
        operation="write-off",
        approval=approval,
        effect=ledger.write_off_effect(amount, on.outstanding, on.overdue, on.frozen),
        timeline=timeline,
        note=note,
        reference=reference,
    )


@transaction.atomic
def loan_transfer(
    *,
    loan: Loan,
    to_office: Office,
    to_village: Village,
    value_date: dt.date,
    user,
    idempotency_key: str,
    to_group: SavingsGroup | None = None,
    note: str = "",
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    """Move a loan, with its whole balance, to another office when the household moves."""
    # The amount is the balance as the locked row has it, not as the caller's copy had it.
    loan, entry = _begin(loan, Kind.TRANSFER_OUT, idempotency_key, value_date, 1)
    if entry:
        return entry
    _require_active(loan)
    if loan.transactions.filter(value_date__gt=value_date).exists():
        raise ValidationError(
            {"value_date": _("A transfer is dated on or after the loan's last entry.")}
        )
    amount = loan.outstanding
    if to_office.pk == loan.office_id:
        raise ValidationError({"to_office": _("Choose another office.")})
    # The receiving office's own business date and closed months apply to the entry it gets.
    to_office = Office.objects.get(pk=to_office.pk)
    _check_value_date(loan, value_date, office=to_office)
    if to_village.office_id != to_office.pk or (to_group and to_group.office_id != to_office.pk):
        raise ValidationError({"to_village": _("The village and group must be in that office.")})
    if to_group and to_group.village.commune_id != to_village.commune_id:
        raise ValidationError({"to_group": msg_group_of_another_commune(to_group)})
    household = loan.household
    target = Household.objects.filter(
        office=to_office, citizen_id=household.citizen_id, status=Household.Status.ACTIVE
    ).first()
    if target is None:
        # The household has moved: it is an active borrower in one office only (its citizen ID
        # is unique among active borrowers); loans it still has here follow by their own transfer.
        household.status = Household.Status.MOVED
        household.save(update_fields=["status"])
        target = Household.objects.create(
            office=to_office,
            full_name=household.full_name,
            citizen_id=household.citizen_id,
            date_of_birth=household.date_of_birth,
            sex=household.sex,
            phone=household.phone,
            village=to_village,
            group=to_group,
        )
        for certified in household.categories.all():
            target.categories.create(year=certified.year, category=certified.category)
    number = loan.number
    if Loan.objects.filter(office=to_office, number=number).exists():
        number = f"{loan.number}/{loan.office.code}"
    new_loan = Loan.objects.create(
        office=to_office,
        number=number,
        household=target,
        programme=loan.programme,
        group=to_group,
        status=Loan.Status.ACTIVE,
        approved_amount=loan.approved_amount,
        term_months=loan.term_months,
        preferential=loan.preferential,
        applied_on=loan.applied_on,
        approved_on=loan.approved_on,
        approved_by=loan.approved_by,
        purpose=loan.purpose,
        workers_employed=loan.workers_employed,
        works_built=loan.works_built,
        transferred_from=loan,
        created_by=user,
        first_disbursed_on=loan.first_disbursed_on,
    )
    balance = (loan.outstanding, loan.overdue, loan.frozen)
    out = _post(
        loan,
        kind=Kind.TRANSFER_OUT,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=idempotency_key,
        operation="transfer",
        approval=approval,
        effect=ledger.transfer_out_effect(*balance),
        counterparty_office=to_office,
        note=note,
    )
    new_loan = _lock(new_loan)
    _post(
        new_loan,
        kind=Kind.TRANSFER_IN,
        value_date=value_date,
        amount=amount,
        user=user,
        idempotency_key=f"{idempotency_key}:in",
        approved_by=out.approved_by,
        effect=ledger.transfer_in_effect(*balance),
        counterparty_office=loan.office,
        note=note,
    )
    Instalment.objects.bulk_create(
        Instalment(
            loan=new_loan,
            seq=i.seq,
            due_date=i.due_date,
            principal=i.principal,
            extended_to=i.extended_to,
        )
        for i in loan.instalments.all()
    )
    return out


@transaction.atomic
def loan_reverse(
    *,
    entry: LoanTransaction,
    value_date: dt.date,
    user,
    idempotency_key: str,
    note: str = "",
    approval: ApprovalRequest | None = None,
) -> LoanTransaction:
    """Cancel an entry with a reversal dated in the open period (never before the entry)."""
    loan, replayed = _begin(entry.loan, Kind.REVERSAL, idempotency_key, value_date, entry.amount)
    if replayed:
        return replayed
    entry = LoanTransaction.objects.get(pk=entry.pk)
    if loan.status == Loan.Status.TRANSFERRED:
        raise ValidationError(ledger.msg_transferred_away())
    if refusal := ledger.refusal_to_reverse(entry.kind):
        raise ValidationError(refusal)
    if LoanTransaction.objects.filter(reverses=entry).exists():
        raise ValidationError(ledger.msg_already_reversed())
    if value_date < entry.value_date:
        raise ValidationError({"value_date": ledger.msg_reversal_before_entry()})
    if entry.is_companion:
        raise ValidationError(ledger.msg_reverse_with_payment())
    # A payment from savings moved the savings ledger too (savings.SavingsTransaction.loan_entry,
    # read through its reverse relation: loans does not import savings). Reversed alone, the
    # member's savings would stay spent on a payment that no longer exists.
    if getattr(entry, "savings_entry", None) is not None:
        raise ValidationError(ledger.msg_paid_from_savings())
    companions = _with_companions(entry)[1:]
    credit_back = sum(ledger.credit_change(e.kind, e.amount) for e in (entry, *companions))
    if credit_back > 0 and prepaid_credit(loan) < credit_back:
        raise ValidationError(ledger.msg_prepayment_used())
    if entry.kind == Kind.DISBURSEMENT:
        if not ledger.disbursement_reversible(
            entry.amount, loan.outstanding, loan.overdue, loan.frozen
        ):
            raise ValidationError(ledger.msg_disbursement_partly_repaid())
        loan.disbursed += ledger.disbursed_change(Kind.REVERSAL, entry.kind, entry.amount)
        if loan.disbursed == 0:
            loan.first_disbursed_on = None
    reversal = _post(
        loan,
        kind=Kind.REVERSAL,
        counted_kind=entry.counted_kind,
        value_date=value_date,
        amount=entry.amount,
        user=user,
        idempotency_key=idempotency_key,
        operation="reversal",
        approval=approval,
        effect=ledger.reversal_effect(entry.d_outstanding, entry.d_overdue, entry.d_frozen),
        reverses=entry,
        note=note,
        instalment=entry.instalment,
    )
    for n, companion in enumerate(companions, start=1):
        _post(
            loan,
            kind=Kind.REVERSAL,
            counted_kind=companion.counted_kind,
            value_date=value_date,
            amount=companion.amount,
            user=user,
            idempotency_key=companion_key(idempotency_key, f":{n}"),
            effect=ledger.reversal_effect(
                companion.d_outstanding, companion.d_overdue, companion.d_frozen
            ),
            reverses=companion,
            note=note,
            approved_by=reversal.approved_by,  # the operation passed the gate once, above
        )
    if entry.kind == Kind.EXTENSION:
        assert entry.instalment is not None, "an extension names its instalment"
        _restore_extension(entry.instalment)
    elif entry.kind == Kind.DISBURSEMENT:
        schedule_rebuild(loan)
    return reversal


def _restore_extension(instalment: Instalment) -> None:
    latest = (
        LoanTransaction.objects.filter(
            instalment=instalment, kind=Kind.EXTENSION, reversed_by__isnull=True
        )
        .order_by("-id")
        .first()
    )
    instalment.extended_to = latest.new_due_date if latest else None
    instalment.save(update_fields=["extended_to"])


# --- schedule and overdue ------------------------------------------------------------------------


def schedule_rebuild(loan: Loan, plan: list[tuple[int, dt.date, int]] | None = None) -> None:
    """The loan's instalments made those of `plan` (by default equal_instalments), keeping the
    rows that stay (and their extensions)."""
    if loan.first_disbursed_on is None or loan.disbursed == 0:
        _drop_instalments(loan.instalments.all())
        return
    existing = {i.seq: i for i in loan.instalments.all()}
    for seq, due, principal in equal_instalments(loan) if plan is None else plan:
        current = existing.pop(seq, None)
        if current is None:
            Instalment.objects.create(loan=loan, seq=seq, due_date=due, principal=principal)
        elif (current.due_date, current.principal) != (due, principal):
            current.due_date, current.principal = due, principal
            current.save(update_fields=["due_date", "principal"])
    _drop_instalments(Instalment.objects.filter(pk__in=[i.pk for i in existing.values()]))


def _drop_instalments(instalments) -> None:
    """Delete instalments no longer in the schedule; one that ledger entries name (an extension
    and its reversal) stays in the history with no principal."""
    named = instalments.filter(
        pk__in=LoanTransaction.objects.filter(instalment__in=instalments).values("instalment_id")
    )
    named.update(principal=0, extended_to=None)
    instalments.exclude(pk__in=named).delete()


def _transfer_overdue(*, office: Office, day: dt.date, user) -> tuple[int, int]:
    """Transfer to overdue, dated `day`, every instalment due before `day` that was neither paid
    nor extended: the posting step of `day`'s end of day, and only that (a transfer dated before
    the business date would come before repayments already split on the balances without it).
    Idempotent per loan and day. Returns the entries posted and the principal they moved."""
    count = amount = 0
    for loan_id, target, overdue_now in overdue_candidates(office, day):
        entry = loan_transfer_to_overdue(
            loan=Loan(pk=loan_id),
            amount=target - overdue_now,
            value_date=day,
            user=user,
            idempotency_key=f"overdue:{loan_id}:{day.isoformat()}",
        )
        count += 1
        amount += entry.amount
    return count, amount


# --- end of day, the office's business date and month close ----------------------------------


def _refuse_day(message: str, code: str, field: str = "through") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def last_day_to_run() -> dt.date:
    """The latest day an end of day may run: yesterday in the offices' time zone (TIME_ZONE,
    Asia/Ho_Chi_Minh), since it moves the business date to the day after, never past today."""
    return timezone.localdate() - dt.timedelta(days=1)


def _end_of_day_once(*, office_id: int, through: dt.date, user) -> EndOfDay | None:
    """Run the office's next day (its business date) if it is on or before `through`, in one
    transaction; None when there is none left. The office row is locked FOR UPDATE, so a second
    run waits, then finds the business date moved and goes on from there; postings wait too."""
    with transaction.atomic():
        office = Office.objects.select_for_update().get(pk=office_id)
        day = office.business_date
        if day > through:
            return None
        if month_is_closed(office, day):
            raise _refuse_day(_("That month is closed."), "closed")
        run = EndOfDay.objects.filter(office=office, day=day).first()
        if run is None:
            # A day run before the business date was moved back: nothing is posted again.
            started = timezone.now()
            posted, amount = _transfer_overdue(office=office, day=day, user=user)
            run = EndOfDay.objects.create(
                office=office,
                day=day,
                run_by=user,
                started_at=started,
                finished_at=timezone.now(),
                entries_posted=posted,
                amount_posted=amount,
            )
        office.business_date = day + dt.timedelta(days=1)
        office.save(update_fields=["business_date"])
    return run


def end_of_day(
    *,
    office: Office,
    through: dt.date,
    user,
    progress: Callable[[EndOfDay], None] | None = None,
) -> list[EndOfDay]:
    """Close the office's days from its business date through `through`, in order, each in its
    own transaction (a crash leaves the days before it done), and return their runs; the business
    date ends on the day after `through`. `user` None is the scheduler. A day already run
    (EndOfDay row) posts nothing again; a `through` before the business date runs nothing.

    Refused: `through` after yesterday (the business date never goes past today), or in a
    closed month; a user who is not a manager of the office."""
    if user is not None and not can_manage(user, office):
        raise PermissionDenied(_("Only a manager runs the end of day."))
    last = last_day_to_run()
    if through > last:
        raise _refuse_day(
            _("End of day runs at most through yesterday, %(d)s.")
            % {"d": last.strftime("%d/%m/%Y")},
            "after_yesterday",
        )
    if month_is_closed(office, through):
        raise _refuse_day(_("That month is closed."), "closed")
    runs = []
    while (run := _end_of_day_once(office_id=office.pk, through=through, user=user)) is not None:
        runs.append(run)
        if progress is not None:
            progress(run)
    office.refresh_from_db(fields=["business_date"])
    return runs


def _check_not_before_entries(office: Office, day: dt.date) -> None:
    """Before an entry already posted, that entry would be dated after the business date, and no
    reversal or transfer could then follow it."""
    latest = LoanTransaction.objects.filter(office=office).aggregate(Max("value_date"))[
        "value_date__max"
    ]
    if latest is not None and day < latest:
        raise ValidationError(
            {
                "day": ValidationError(
                    _(
                        "The business date cannot move before %(d)s, "
                        "the date of an entry already posted."
                    )
                    % {"d": latest.strftime("%d/%m/%Y")},
                    code="before_entries",
                )
            }
        )


def office_set_business_date(*, office: Office, day: dt.date, hold: bool, user) -> list[EndOfDay]:
    """A manager moves the office's business date and holds it or lets it follow the calendar.
    Forward, the date moves only through end of day, run for every day it passes (their runs are
    returned); back, it may go no earlier than an entry already posted."""
    if user is not None and not can_manage(user, office):
        raise PermissionDenied(_("Only a manager sets the business date."))
    if month_is_closed(office, day):
        raise ValidationError({"day": ValidationError(_("That month is closed."), code="closed")})
    # Ahead of the calendar, entries could be dated in the future (31/12/9999 was accepted);
    # TIME_ZONE is the offices' (Asia/Ho_Chi_Minh), as for the end of day that follows it.
    today = timezone.localdate()
    if day > today:
        raise ValidationError(
            {
                "day": ValidationError(
                    _("The business date cannot be after today, %(d)s.")
                    % {"d": today.strftime("%d/%m/%Y")},
                    code="after_today",
                )
            }
        )
    runs = []
    current = Office.objects.get(pk=office.pk).business_date
    if day > current:
        runs = end_of_day(office=office, through=day - dt.timedelta(days=1), user=user)
    with transaction.atomic():
        office = Office.objects.select_for_update().get(pk=office.pk)
        if day < office.business_date:
            _check_not_before_entries(office, day)
        office.business_date = day
        office.business_date_held = hold
        office.save(update_fields=["business_date", "business_date_held"])
    return runs
