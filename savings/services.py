"""Every operation on member savings. Each one locks the account row, validates, posts to the
append-only savings ledger with an idempotency key and updates the cached balance, in one
database transaction; a payment from savings posts to the loan ledger through loans.services in
the same transaction.

Locks are taken loan first, then savings account (savings_pay_loan), so a caller that posts a
loan's payments and its household's savings in one transaction takes them in the same order.
"""

import datetime as dt
from fractions import Fraction

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from borrowers.models import Household, Office
from borrowers.selectors import can_write
from branch_portal.templatetags.money import group_thousands
from loans import ledger as loan_ledger
from loans import services as loan_services
from loans.interest import round_vnd
from loans.models import Loan, LoanTransaction
from loans.money import MAX_AMOUNT, amount_in_range

from .models import (
    KIND_SIGN,
    MIN_DEPOSIT,
    DemandDepositRate,
    SavingsAccount,
    SavingsKind,
    SavingsTransaction,
)
from .selectors import lowest_balance_from

Kind = SavingsKind


# --- messages --------------------------------------------------------------------------------


def msg_below_minimum() -> str:
    return _("A savings deposit is at least %(min)s đồng.") % {"min": group_thousands(MIN_DEPOSIT)}


def msg_no_account() -> str:
    return _("This household has no savings: its first deposit opens its account.")


def msg_account_closed() -> str:
    return _("The savings account is closed.")


def msg_above_savings(available: int, value_date: dt.date) -> str:
    return _(
        "The savings balance allows at most %(max)s đồng dated %(date)s (no later day may go "
        "below zero)."
    ) % {"max": group_thousands(available), "date": value_date.strftime("%d/%m/%Y")}


def msg_nothing_to_pay() -> str:
    return _("Enter the interest or the principal to pay from savings.")


def msg_not_a_credit_day() -> str:
    return _("Savings interest is credited on 30 June and 31 December.")


def _amount_error(field: str = "amount") -> ValidationError:
    return ValidationError(
        {
            field: ValidationError(
                _("The amount must be a positive whole number of đồng, at most %(max)s.")
                % {"max": group_thousands(MAX_AMOUNT)},
                code="amount_range",
            )
        }
    )


# --- posting ---------------------------------------------------------------------------------


def _lock_account(household: Household) -> SavingsAccount | None:
    return (
        SavingsAccount.objects.select_for_update(of=("self",))
        .filter(household_id=household.pk)
        .first()
    )


def _open_account(household: Household, office: Office, value_date: dt.date) -> SavingsAccount:
    """The household's account, opened now if it has none. Two first deposits at once: the
    second insert waits for the first on the unique household and then inserts nothing."""
    SavingsAccount.objects.bulk_create(
        [SavingsAccount(office=office, household_id=household.pk, opened_on=value_date)],
        ignore_conflicts=True,
    )
    account = _lock_account(household)
    assert account is not None
    return account


def _replay(key: str, household: Household, kinds: tuple[str, ...]) -> SavingsTransaction | None:
    """The entry already posted under this key (a double-submitted form), if any."""
    entry = SavingsTransaction.objects.filter(idempotency_key=key).select_related("account").first()
    if entry is None:
        return None
    if entry.account.household_id != household.pk or entry.kind not in kinds:
        raise ValidationError(loan_ledger.msg_key_reused())
    return entry


def _office(household: Household) -> Office:
    # Read afresh: the business date may have moved since the household was loaded.
    return Office.objects.get(pk=household.office_id)


def _check_available(account: SavingsAccount, amount: int, value_date: dt.date, field: str):
    """A debit dated value_date must leave that day and every later one at zero or above."""
    available = min(lowest_balance_from(account, value_date), account.balance)
    if amount > available:
        raise ValidationError({field: msg_above_savings(max(available, 0), value_date)})


def _post(
    account: SavingsAccount,
    *,
    kind: str,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    reference: str = "",
    loan_entry=None,
) -> SavingsTransaction:
    """Append one entry and move the (locked) account's cached balance with it."""
    d_balance = KIND_SIGN[Kind(kind)] * amount
    account.balance += d_balance
    if account.balance < 0:
        raise ValidationError(msg_above_savings(account.balance - d_balance, value_date))
    entry = SavingsTransaction.objects.create(
        office_id=account.office_id,
        account=account,
        kind=kind,
        value_date=value_date,
        amount=amount,
        d_balance=d_balance,
        reference=reference,
        idempotency_key=idempotency_key,
        user=user,
        loan_entry=loan_entry,
    )
    account.save(update_fields=["balance"])
    return entry


@transaction.atomic
def savings_deposit(
    *,
    household: Household,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    reference: str = "",
) -> SavingsTransaction:
    """A member's deposit, at least MIN_DEPOSIT; the household's first opens its account."""
    account = _lock_account(household)
    if account is not None:
        replayed = _replay(idempotency_key, household, (Kind.DEPOSIT,))
        if replayed is not None:
            return replayed
    if not amount_in_range(amount):
        raise _amount_error()
    if amount < MIN_DEPOSIT:
        raise ValidationError({"amount": ValidationError(msg_below_minimum(), code="minimum")})
    office = _office(household)
    loan_services.check_value_date(office, value_date)
    if account is None:
        account = _open_account(household, office, value_date)
        replayed = _replay(idempotency_key, household, (Kind.DEPOSIT,))
        if replayed is not None:
            return replayed
    if account.status == SavingsAccount.Status.CLOSED:
        raise ValidationError(msg_account_closed())
    return _post(
        account,
        kind=Kind.DEPOSIT,
        amount=amount,
        value_date=value_date,
        user=user,
        idempotency_key=idempotency_key,
        reference=reference,
    )


@transaction.atomic
def savings_withdraw(
    *,
    household: Household,
    amount: int,
    value_date: dt.date,
    user,
    idempotency_key: str,
    reference: str = "",
) -> SavingsTransaction:
    """A withdrawal in cash: not beyond the balance, on its value date or any day after."""
    account = _lock_account(household)
    if account is None:
        raise ValidationError(msg_no_account())
    replayed = _replay(idempotency_key, household, (Kind.WITHDRAWAL,))
    if replayed is not None:
        return replayed
    if not amount_in_range(amount):
        raise _amount_error()
    loan_services.check_value_date(_office(household), value_date)
    _check_available(account, amount, value_date, "amount")
    return _post(
        account,
        kind=Kind.WITHDRAWAL,
        amount=amount,
        value_date=value_date,
        user=user,
        idempotency_key=idempotency_key,
        reference=reference,
    )


# The parts a payment from savings pays, in the order they post: the suffix of the companion key
# their entries (savings and loan alike) carry, and the loan service that posts each.
PAY_PARTS = (
    ("interest", ":interest", loan_services.loan_pay_interest),
    ("principal", ":principal", loan_services.loan_repay_principal),
)


def _rename_field(error: ValidationError, field: str) -> ValidationError:
    """The loan service's refusal of its `amount`, said of the part it refused."""
    if hasattr(error, "error_dict") and "amount" in error.error_dict:
        errors = dict(error.error_dict)
        errors[field] = errors.pop("amount")
        return ValidationError(errors)
    return error


@transaction.atomic
def savings_pay_loan(
    *,
    loan: Loan,
    interest: int = 0,
    principal: int = 0,
    value_date: dt.date,
    user,
    idempotency_key: str,
    reference: str = "",
) -> list[SavingsTransaction]:
    """Savings used to pay the loan's interest and/or principal: each part is one savings entry
    (kind loan_payment, pointing at its loan entry) and the loan service's entry, under the
    companion key idempotency_key + ":interest" / ":principal" in both ledgers, all in this
    transaction. Refused when the savings do not cover both parts; the loan service's refusal
    (above the interest due, above the balance, a held operation) propagates and nothing is
    written. Returns the savings entries (interest first); a replayed key returns them again
    and posts nothing."""
    loan = Loan.objects.select_for_update(of=("self",)).select_related("household").get(pk=loan.pk)
    household = loan.household
    account = _lock_account(household)
    keys = {
        part: loan_services.companion_key(idempotency_key, suffix) for part, suffix, _ in PAY_PARTS
    }
    posted = list(
        SavingsTransaction.objects.filter(idempotency_key__in=keys.values())
        .select_related("account", "loan_entry")
        .order_by("id")
    )
    if posted:
        for entry in posted:
            paid = entry.loan_entry
            if entry.kind != Kind.LOAN_PAYMENT or paid is None or paid.loan_id != loan.pk:
                raise ValidationError(loan_ledger.msg_key_reused())
        return posted
    amounts = {"interest": interest, "principal": principal}
    for field, amount in amounts.items():
        if amount and not amount_in_range(amount):
            raise _amount_error(field)
        if amount is None or amount < 0:
            raise _amount_error(field)
    if not interest and not principal:
        raise ValidationError(msg_nothing_to_pay())
    if account is None:
        raise ValidationError(msg_no_account())
    if account.status == SavingsAccount.Status.CLOSED:
        raise ValidationError(msg_account_closed())
    loan_services.check_value_date(loan.office, value_date)
    # The loan service would replay an entry already under a companion key (a cash payment
    # posted with it): this payment from savings is then not new, and pays nothing.
    if LoanTransaction.objects.filter(idempotency_key__in=keys.values()).exists():
        raise ValidationError(loan_ledger.msg_key_reused())
    _check_available(
        account, interest + principal, value_date, "interest" if interest else "principal"
    )
    for field, _suffix, pay in PAY_PARTS:
        amount = amounts[field]
        if not amount:
            continue
        try:
            loan_entry = pay(
                loan=loan,
                amount=amount,
                value_date=value_date,
                user=user,
                idempotency_key=keys[field],
                reference=reference,
            )
        except ValidationError as error:
            raise _rename_field(error, field) from error
        posted.append(
            _post(
                account,
                kind=Kind.LOAN_PAYMENT,
                amount=amount,
                value_date=value_date,
                user=user,
                idempotency_key=keys[field],
                reference=reference,
                loan_entry=loan_entry,
            )
        )
    return posted


# --- interest --------------------------------------------------------------------------------

# The rate is a percentage a year over a 365-day year, also in a leap year (the bank's
# convention for demand deposits: a day earns 1/365 of the annual rate).
DAYS_IN_YEAR = 365
RATE_SCALE = 10_000  # DemandDepositRate.annual_rate has four decimal places


def half_year_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The half-year a credit day (30 June, 31 December) closes: its first and last day."""
    if (day.month, day.day) == (6, 30):
        return dt.date(day.year, 1, 1), day
    if (day.month, day.day) == (12, 31):
        return dt.date(day.year, 7, 1), day
    raise ValidationError({"day": msg_not_a_credit_day()})


def daily_rates(office: Office, start: dt.date, end: dt.date) -> list[int]:
    """The demand-deposit rate in force on each day of [start, end], in 1/10,000 of a % a year:
    the newest row in force that day, the office's own before the default on the same date."""
    rows = sorted(
        DemandDepositRate.objects.filter(
            Q(office__isnull=True) | Q(office=office), effective_from__lte=end
        ),
        key=lambda r: (r.effective_from, r.office_id is not None),
    )
    rates, current, i = [], 0, 0
    day = start
    while day <= end:
        while i < len(rows) and rows[i].effective_from <= day:
            current = int(rows[i].annual_rate * RATE_SCALE)
            i += 1
        rates.append(current)
        day += dt.timedelta(days=1)
    return rates


def interest_for(opening: int, moves: list[tuple[dt.date, int]], start: dt.date, rates: list[int]):
    """Exact, unrounded interest over the days from `start` (one per rate in `rates`) on the
    balance at the end of each day: `opening` before start, moved by each (value date, change).
    Σ balance × rate ÷ (100 × 365), rate in % a year."""
    days = len(rates)
    prefix = [0]
    for rate in rates:
        prefix.append(prefix[-1] + rate)
    total, balance, since = 0, opening, 0
    for value_date, change in sorted(moves):
        index = (value_date - start).days  # the first day the new balance counts
        total += balance * (prefix[index] - prefix[since])
        balance, since = balance + change, index
    total += balance * (prefix[days] - prefix[since])
    return Fraction(total, RATE_SCALE * 100 * DAYS_IN_YEAR)


def interest_key(account_id: int, day: dt.date) -> str:
    return f"savings-interest:{account_id}:{day.isoformat()}"


@transaction.atomic
def savings_credit_interest(*, office: Office, day: dt.date, user) -> int:
    """Credit every account of the office its interest for the half-year `day` closes (30 June
    or 31 December), dated `day`: the sum over the half-year's days of the day's closing balance
    × the rate in force that day ÷ 365, rounded to the đồng once per account, half up
    (loans.interest.round_vnd). An account credited for this half-year already (its key) is
    skipped, so the run may be repeated. Returns the number of accounts credited."""
    start, end = half_year_of(day)
    office = Office.objects.get(pk=office.pk)
    if user is not None and not can_write(user, office):
        raise PermissionDenied(_("Only the office's staff or manager credits savings interest."))
    loan_services.check_value_date(office, day)
    if office.business_date <= day:
        # The day's own deposits and withdrawals may still come: its closing balance is known
        # once the end of day has moved past it.
        raise ValidationError(
            {
                "day": _(
                    "Interest for the half-year ending %(d)s is credited once that day is over "
                    "(after its end of day)."
                )
                % {"d": day.strftime("%d/%m/%Y")}
            }
        )
    accounts = list(
        SavingsAccount.objects.select_for_update().filter(office=office, opened_on__lte=end)
    )
    if not accounts:
        return 0
    ids = [a.pk for a in accounts]
    done = set(
        SavingsTransaction.objects.filter(
            idempotency_key__in=[interest_key(pk, day) for pk in ids]
        ).values_list("account_id", flat=True)
    )
    openings = dict(
        SavingsTransaction.objects.filter(account_id__in=ids, value_date__lt=start)
        .values_list("account_id")
        .annotate(total=Sum("d_balance"))
        .order_by()
    )
    moves: dict[int, list[tuple[dt.date, int]]] = {}
    for account_id, value_date, change in SavingsTransaction.objects.filter(
        account_id__in=ids, value_date__gte=start, value_date__lte=end
    ).values_list("account_id", "value_date", "d_balance"):
        moves.setdefault(account_id, []).append((value_date, change))
    rates = daily_rates(office, start, end)
    credited = 0
    for account in accounts:
        if account.pk in done:
            continue
        amount = round_vnd(
            interest_for(openings.get(account.pk, 0), moves.get(account.pk, []), start, rates)
        )
        if amount <= 0:
            continue
        _post(
            account,
            kind=Kind.INTEREST_CREDIT,
            amount=amount,
            value_date=day,
            user=user,
            idempotency_key=interest_key(account.pk, day),
        )
        credited += 1
    return credited
