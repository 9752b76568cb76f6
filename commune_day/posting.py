"""Posting a group's sheet on the commune transaction day: the collection sheet (13/TD: what each
member paid) and the disbursements, each in bulk and all or nothing
(docs/decisions/0017-bulk-posting.md).

A sheet is one database transaction. Its SheetPosting row is inserted first: the unique
(session, group, kind) and key indexes make a second teller posting the same sheet wait for the
first, then find it (the same key: it is returned, nothing posts) or be refused (another key).
Every line then posts through the loans' (and savings') own services, each in its own savepoint,
with its own idempotency key `s{session}:g{group}:{loan}:{column}`: a line the services refuse
is rolled back to its savepoint and the next lines are still checked, so the clerk sees every
bad line at once; then, if any line was refused, the whole sheet is rolled back and
SheetRefused lists (line, column, message) for each.

A collection sheet whose every line is plainly fine takes the bulk path instead
(_post_collection_at_once: loans.bulk and savings.bulk check it with the same rules and write it
in a few statements); any line they would not post sends it through the services.
"""

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from borrowers.models import SavingsGroup
from borrowers.selectors import can_write
from branch_portal.templatetags.money import group_thousands
from loans import approvals, ledger
from loans import bulk as loan_bulk
from loans import services as loan_services
from loans.batch import posting_batch
from loans.models import Loan, LoanTransaction
from loans.money import MAX_AMOUNT
from savings import bulk as savings_bulk
from savings import services as savings_services
from savings.models import SavingsTransaction

from .models import HeldReceipt, SheetPosting, TransactionSession
from .services import session_require_open

Kind = SheetPosting.Kind

# The collection sheet's amount columns, in the order a line posts them: the cash handed in
# first, then the savings used (which may use the deposit just made).
COLLECTION_COLUMNS = ("interest", "principal", "savings", "savings_interest", "savings_principal")
DISBURSEMENT_COLUMNS = ("amount",)
RECEIPT_LENGTH = 50
# A collection sheet whose every line is plainly fine posts in a handful of statements
# (_post_collection_at_once); off, every line posts through the services. The tests compare both.
FAST_PATH = True
# Errors that are the sheet's, not a line's, carry line 0.
SHEET = 0
# What a loan number, a receipt or the sheet's key may not hold: the control characters (NUL
# cannot even reach PostgreSQL) and lone surrogates (not encodable in UTF-8).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class LineError(NamedTuple):
    """A refusal on a sheet: its line (1-based; 0 for the sheet itself), column and message."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        if self.line == SHEET:
            return f"{self.column}: {self.message}"
        return f"line {self.line}: {self.column}: {self.message}"


class SheetRefused(Exception):
    """The sheet posted nothing: every refusal, line by line."""

    def __init__(self, errors: list[LineError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors

    def for_line(self, line: int) -> list[LineError]:
        return [e for e in self.errors if e.line == line]


@dataclass(frozen=True)
class CollectionLine:
    """What a member's loan paid on the sheet (whole đồng), and the 01/BL receipt number."""

    loan_number: str
    interest: int = 0
    principal: int = 0
    savings: int = 0  # deposited
    savings_interest: int = 0  # savings used to pay interest
    savings_principal: int = 0  # savings used to repay principal
    receipt: str = ""


@dataclass(frozen=True)
class DisbursementLine:
    loan_number: str
    amount: int = 0
    receipt: str = ""


def line_key(session: TransactionSession, group: SavingsGroup, loan: Loan, column: str) -> str:
    return f"s{session.pk}:g{group.pk}:{loan.pk}:{column}"


# --- reading the lines ---------------------------------------------------------------------------


def read_amount(value: Any) -> tuple[int, str | None]:
    """A whole number of đồng from 0 to the shared maximum, or the refusal."""
    if value is None or value == "":
        return 0, None
    if isinstance(value, bool) or not isinstance(value, int):
        return 0, _("Not a whole number of đồng: %(v)s.") % {"v": str(value)[:30]}
    if value < 0:
        return 0, _("The amount may not be negative.")
    if value > MAX_AMOUNT:
        return 0, _("The amount may be at most %(max)s đồng.") % {
            "max": group_thousands(MAX_AMOUNT)
        }
    return value, None


def control_character(value: str) -> str | None:
    """The refusal of a text holding a control character, if it does."""
    match = _CONTROL.search(value)
    if match is None:
        return None
    return _("The value contains the control character U+%(c)04X; remove it.") % {
        "c": ord(match.group())
    }


def _read_lines(raw_lines: Iterable[Any], line_class, errors: list[LineError]) -> list:
    """The lines as line_class, each amount checked; a refused amount counts as 0 and its error
    is recorded, so the line's other columns are still checked against the book."""
    names = [f.name for f in fields(line_class)]
    amounts = [n for n in names if n not in ("loan_number", "receipt")]
    lines: list[Any] = []
    for number, raw in enumerate(raw_lines, start=1):
        data: Mapping[str, Any]
        if isinstance(raw, Mapping):
            data = raw
        elif isinstance(raw, line_class):
            data = {n: getattr(raw, n) for n in names}
        else:
            errors.append(LineError(number, "line", _("Not a sheet line.")))
            lines.append(None)
            continue
        for column in sorted(set(data) - set(names)):
            errors.append(LineError(number, str(column), _("Unknown column.")))
        values: dict[str, Any] = {}
        for column in amounts:
            values[column], problem = read_amount(data.get(column))
            if problem:
                errors.append(LineError(number, column, problem))
        receipt = data.get("receipt") or ""
        if not isinstance(receipt, str | int) or isinstance(receipt, bool):
            errors.append(LineError(number, "receipt", _("Not a receipt number.")))
            receipt = ""
        receipt = str(receipt).strip()
        if problem := control_character(receipt):
            errors.append(LineError(number, "receipt", problem))
            receipt = ""
        if len(receipt) > RECEIPT_LENGTH:
            errors.append(
                LineError(
                    number,
                    "receipt",
                    _("A receipt number has at most %(n)s characters.") % {"n": RECEIPT_LENGTH},
                )
            )
            receipt = receipt[:RECEIPT_LENGTH]
        loan_number = data.get("loan_number")
        loan_number = loan_number.strip() if isinstance(loan_number, str) else ""
        if problem := control_character(loan_number):
            # Refused here, and not looked up: the database cannot even compare it.
            errors.append(LineError(number, "loan_number", problem))
            loan_number = ""
        elif not loan_number:
            errors.append(LineError(number, "loan_number", _("The loan number is missing.")))
        lines.append(line_class(loan_number=loan_number, receipt=receipt, **values))
    return lines


def _loans_of_lines(group: SavingsGroup, lines: list, errors: list[LineError]) -> dict[int, Loan]:
    """Each line's loan (by line number), locked in id order (two sheets touching the same loans
    lock them in one order, so never deadlock): refused when it is not a loan of the group,
    or when it is on an earlier line."""
    numbers = {line.loan_number for line in lines if line is not None and line.loan_number}
    loans = {
        loan.number: loan
        for loan in Loan.objects.select_for_update(of=("self",))
        .select_related("office", "programme", "household")
        .filter(office_id=group.office_id, group_id=group.pk, number__in=numbers)
        .order_by("pk")
    }
    by_line: dict[int, Loan] = {}
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if line is None or not line.loan_number:
            continue
        loan = loans.get(line.loan_number)
        if loan is None:
            errors.append(
                LineError(
                    number,
                    "loan_number",
                    _("Loan %(n)s is not a loan of group %(g)s.")
                    % {"n": line.loan_number[:40], "g": group.code},
                )
            )
        elif line.loan_number in seen:
            errors.append(
                LineError(
                    number,
                    "loan_number",
                    _("Loan %(n)s is already on line %(line)s.")
                    % {"n": line.loan_number, "line": seen[line.loan_number]},
                )
            )
        else:
            seen[line.loan_number] = number
            by_line[number] = loan
    return by_line


# --- the sheet -----------------------------------------------------------------------------------


def _replayed(key: str, session: TransactionSession, group: SavingsGroup, kind: str):
    """The sheet already posted under this key (a double submit), if any."""
    posting = SheetPosting.objects.filter(idempotency_key=key).first()
    if posting is None:
        return None
    if (posting.session_id, posting.group_id, posting.kind) != (session.pk, group.pk, kind):
        raise SheetRefused([LineError(SHEET, "key", ledger.msg_key_reused())])
    return posting


def _already_posted(session, group, kind) -> SheetRefused:
    posting = (
        SheetPosting.objects.filter(session=session, group=group, kind=kind)
        .select_related("posted_by")
        .first()
    )
    who = posting.posted_by.get_username() if posting else "?"
    when = posting.posted_at.strftime("%d/%m/%Y %H:%M") if posting else ""
    return SheetRefused(
        [
            LineError(
                SHEET,
                "sheet",
                _("This sheet of group %(g)s was already posted in this session by %(u)s (%(t)s).")
                % {"g": group.code, "u": who, "t": when},
            )
        ]
    )


def _open_session(session: TransactionSession, group: SavingsGroup, user) -> TransactionSession:
    """The session, locked until the sheet commits (its closing waits for the sheet, or the
    sheet sees it closed), open, and serving the group."""
    try:
        session = session_require_open(session)
    except ValidationError as exc:
        raise SheetRefused([LineError(SHEET, "session", _refusal(exc))]) from exc
    if not session.groups.filter(pk=group.pk).exists():
        raise SheetRefused(
            [
                LineError(
                    SHEET,
                    "group",
                    _("Group %(g)s is not served by the session of %(s)s.")
                    % {"g": group.code, "s": session},
                )
            ]
        )
    if not can_write(user, session.office):
        raise PermissionDenied(_("Only the office's staff post sheets."))
    return session


def _claim(session, group, kind: str, key: str, user) -> SheetPosting | None:
    """Insert the sheet's row, or None when a sheet under the same key is already there (a
    double submit, posted meanwhile by a concurrent request: this one waited for it)."""
    try:
        with transaction.atomic():
            return SheetPosting.objects.create(
                session=session, group=group, kind=kind, idempotency_key=key, posted_by=user
            )
    except IntegrityError:
        if _replayed(key, session, group, kind) is not None:
            return None
        raise _already_posted(session, group, kind) from None


def _refusal(exc: Exception) -> str:
    if isinstance(exc, approvals.Held):
        return _(
            "Needs a second person's approval (%(why)s): take the line off the sheet and post "
            "it from the loan's page, where it is submitted for approval."
        ) % {"why": exc.reason}
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return " ".join(str(a) for a in getattr(exc, "args", ())) or str(exc)


def _post_column(
    errors: list[LineError], number: int, column: str, post: Callable[[], Any]
) -> bool:
    """Post one column of a line; on a refusal record why. Every service posting it is atomic,
    so it runs in its own savepoint, which a refusal (a database error too) rolls back before
    it reaches here: the sheet's transaction goes on, and the next lines are still checked."""
    try:
        post()
    except (ValidationError, approvals.Held, PermissionDenied) as exc:
        errors.append(LineError(number, column, _refusal(exc)))
        return False
    except IntegrityError as exc:
        errors.append(LineError(number, column, _("Refused by the database: %(e)s") % {"e": exc}))
        return False
    return True


@dataclass(frozen=True)
class _Sheet:
    """What every line of a sheet posts with, and where its refusals go."""

    session: TransactionSession
    group: SavingsGroup
    user: Any
    errors: list[LineError]


def _post_sheet(
    *,
    session: TransactionSession,
    group: SavingsGroup,
    kind: str,
    raw_lines,
    line_class,
    user,
    idempotency_key: str,
    post_line: Callable[..., dict[str, int]],
    post_all: Callable[..., list[dict[str, int]] | None] | None = None,
    after_post: Callable[[SheetPosting], Any] | None = None,
) -> SheetPosting:
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > 100:
        raise SheetRefused([LineError(SHEET, "key", _("The sheet needs a key (at most 100)."))])
    if problem := control_character(idempotency_key):
        raise SheetRefused([LineError(SHEET, "key", problem)])
    with transaction.atomic():
        replayed = _replayed(idempotency_key, session, group, kind)
        if replayed is not None:
            return replayed
        session = _open_session(session, group, user)
        posting = _claim(session, group, kind, idempotency_key, user)
        if posting is None:
            return SheetPosting.objects.get(idempotency_key=idempotency_key)
        errors: list[LineError] = []
        lines = _read_lines(raw_lines, line_class, errors)
        loans = _loans_of_lines(group, lines, errors)
        totals: dict[str, int] = {}
        posted_lines = 0
        sheet = _Sheet(session, group, user, errors)
        with posting_batch():  # the office's facts read once for the whole sheet
            posted = None
            if post_all is not None and FAST_PATH and not errors:
                posted = post_all(sheet, loans, lines)
            if posted is None:
                posted = [
                    post_line(sheet, loan, lines[number - 1], number)
                    for number, loan in loans.items()
                ]
            for done in posted:
                if any(done.values()):
                    posted_lines += 1
                for name, amount in done.items():
                    totals[name] = totals.get(name, 0) + amount
        if errors:
            raise SheetRefused(sorted(errors, key=lambda e: e.line))
        if not posted_lines:
            # An empty sheet would still take the group's one sheet of its kind in the session,
            # and the real one would be refused as already posted.
            raise SheetRefused(
                [
                    LineError(
                        SHEET,
                        "sheet",
                        _("Nothing to post: every amount on the sheet is blank or 0."),
                    )
                ]
            )
        posting.lines = posted_lines
        for name, amount in totals.items():
            setattr(posting, name, amount)
        posting.save(update_fields=["lines", *totals])
        if after_post is not None:
            after_post(posting)
        return posting


# --- collection ----------------------------------------------------------------------------------


def _post_collection_line(sheet: "_Sheet", loan: Loan, line: CollectionLine, number: int):
    """Post a line's columns in order; what posted, by the SheetPosting's total it adds to."""
    errors = sheet.errors
    done = dict.fromkeys(
        (
            "interest",
            "principal",
            "savings_deposited",
            "savings_for_interest",
            "savings_for_principal",
        ),
        0,
    )

    def key(column):
        return line_key(sheet.session, sheet.group, loan, column)

    common = {"value_date": sheet.session.date, "user": sheet.user, "reference": line.receipt}
    if line.interest and _post_column(
        errors,
        number,
        "interest",
        lambda: loan_services.loan_pay_interest(
            loan=loan, amount=line.interest, idempotency_key=key("interest"), **common
        ),
    ):
        done["interest"] = line.interest
    if line.principal and _post_column(
        errors,
        number,
        "principal",
        lambda: loan_services.loan_repay_principal(
            loan=loan, amount=line.principal, idempotency_key=key("principal"), **common
        ),
    ):
        done["principal"] = line.principal
    if line.savings and _post_column(
        errors,
        number,
        "savings",
        lambda: savings_services.savings_deposit(
            household=loan.household, amount=line.savings, idempotency_key=key("savings"), **common
        ),
    ):
        done["savings_deposited"] = line.savings
    # Savings used after the deposit (which they may use), each part on its own so a refusal
    # lands on its column; both ledgers move in savings_pay_loan's transaction.
    for column, part, total in (
        ("savings_interest", "interest", "savings_for_interest"),
        ("savings_principal", "principal", "savings_for_principal"),
    ):
        amount = getattr(line, column)
        if amount and _post_column(
            errors,
            number,
            column,
            partial(
                savings_services.savings_pay_loan,
                loan=loan,
                idempotency_key=key(column),
                **{part: amount},
                **common,
            ),
        ):
            done[total] = amount
    return done


def _post_collection_at_once(sheet: _Sheet, loans: dict[int, Loan], lines: list):
    """Every line in a handful of statements (loans.bulk, savings.bulk), when each is plainly
    fine and uses no savings for the loan; else None, and the lines post one by one."""
    if any(lines[n - 1].savings_interest or lines[n - 1].savings_principal for n in loans):
        return None
    if not loans:
        return None
    office = next(iter(loans.values())).office
    if any(loan.household.office_id != office.pk for loan in loans.values()):
        return None
    payments, deposits = [], []
    for number, loan in loans.items():
        line = lines[number - 1]
        key = partial(line_key, sheet.session, sheet.group, loan)
        if line.interest or line.principal:
            payments.append(
                loan_bulk.Payment(
                    loan=loan,
                    interest=line.interest,
                    principal=line.principal,
                    interest_key=key("interest"),
                    principal_key=key("principal"),
                    reference=line.receipt,
                )
            )
        if line.savings:
            deposits.append(
                savings_bulk.Deposit(
                    household_id=loan.household_id,
                    amount=line.savings,
                    key=key("savings"),
                    reference=line.receipt,
                )
            )
    date = sheet.session.date
    loan_plan = loan_bulk.plan_payments(payments, value_date=date, user=sheet.user)
    if loan_plan is None:
        return None
    savings_plan = savings_bulk.plan_deposits(
        deposits, office=office, value_date=date, user=sheet.user
    )
    if savings_plan is None:
        return None
    try:
        with transaction.atomic():
            loan_bulk.write_payments(loan_plan)
            savings_bulk.write_deposits(savings_plan)
    except DatabaseError:
        # Rolled back to the savepoint: the lines post one by one, and the one the database
        # refuses gets the message on its line.
        return None
    return [
        {
            "interest": lines[n - 1].interest,
            "principal": lines[n - 1].principal,
            "savings_deposited": lines[n - 1].savings,
            "savings_for_interest": 0,
            "savings_for_principal": 0,
        }
        for n in loans
    ]


def post_collection_sheet(
    *,
    session: TransactionSession,
    group: SavingsGroup,
    lines: Iterable[Mapping[str, Any] | CollectionLine],
    user,
    idempotency_key: str,
) -> SheetPosting:
    """Post a group's collection sheet (13/TD) in the session: every line or none. Raises
    SheetRefused listing every refused line; a key already posted returns its SheetPosting.
    The receipts the group head holds are confirmed by it: the sheet must include them."""
    return _post_sheet(
        session=session,
        group=group,
        kind=Kind.COLLECTION,
        raw_lines=lines,
        line_class=CollectionLine,
        user=user,
        idempotency_key=idempotency_key,
        post_line=_post_collection_line,
        post_all=_post_collection_at_once,
        after_post=settle_held,
    )


# --- receipts held by the group head (commune_day.custody) --------------------------------------

# A held receipt's columns, as the sheet's line keys name them.
HELD_COLUMNS = ("interest", "principal", "savings")


def settle_held(sheet_posting: SheetPosting) -> int:
    """Inside a group's collection sheet's transaction: every receipt the group's head holds
    must be in what the sheet posted (each column of each loan at least what is held); they
    are then confirmed by it. Raises SheetRefused naming each loan short of its receipts.
    Returns the number confirmed."""
    held = list(
        HeldReceipt.objects.select_for_update()
        .select_related("loan")
        .filter(group_id=sheet_posting.group_id, status=HeldReceipt.Status.HELD)
        .order_by("pk")
    )
    if not held:
        return 0
    posted = _posted_by_loan(sheet_posting, {r.loan for r in held})
    needed: dict[Loan, dict[str, int]] = defaultdict(lambda: dict.fromkeys(HELD_COLUMNS, 0))
    for receipt in held:
        for name in HELD_COLUMNS:
            needed[receipt.loan][name] += getattr(receipt, name)
    errors = []
    for loan, columns in sorted(needed.items(), key=lambda item: item[0].pk):
        for name, amount in columns.items():
            if posted.get((loan.pk, name), 0) < amount:
                errors.append(
                    LineError(
                        SHEET,
                        name,
                        _(
                            "Loan %(n)s: %(held)s đồng of %(col)s is held by the group head "
                            "(receipts %(r)s); the sheet must post at least that."
                        )
                        % {
                            "n": loan.number,
                            "held": group_thousands(amount),
                            "col": name,
                            "r": ", ".join(x.receipt for x in held if x.loan == loan)[:200],
                        },
                    )
                )
    if errors:
        raise SheetRefused(errors)
    HeldReceipt.objects.filter(pk__in=[r.pk for r in held]).update(
        status=HeldReceipt.Status.CONFIRMED, posting=sheet_posting
    )
    return len(held)


def _posted_by_loan(sheet_posting: SheetPosting, loans: Iterable[Loan]) -> dict:
    session, group = sheet_posting.session, sheet_posting.group
    keys = {
        line_key(session, group, loan, column): (loan.pk, column)
        for loan in loans
        for column in HELD_COLUMNS
    }
    posted: dict[tuple[int, str], int] = {}
    for model in (LoanTransaction, SavingsTransaction):
        for key, amount in model.objects.filter(idempotency_key__in=list(keys)).values_list(
            "idempotency_key", "amount"
        ):
            posted[keys[key]] = amount
    return posted


# --- disbursements -------------------------------------------------------------------------------


def loans_to_disburse(group_ids: Iterable[int]):
    """The groups' approved loans still to be paid out (approved and not disbursed, or active
    with a tranche left), by group and number: the session's disbursement list."""
    return (
        Loan.objects.filter(group_id__in=list(group_ids))
        .filter(
            Q(status=Loan.Status.APPROVED)
            | Q(status=Loan.Status.ACTIVE, disbursed__lt=F("approved_amount"))
        )
        .select_related("household", "programme", "group")
        .annotate(to_disburse=F("approved_amount") - F("disbursed"))
        .order_by("group__code", "number")
    )


def _post_disbursement_line(sheet: _Sheet, loan: Loan, line: DisbursementLine, number: int):
    if line.amount and _post_column(
        sheet.errors,
        number,
        "amount",
        lambda: loan_services.loan_disburse(
            loan=loan,
            amount=line.amount,
            value_date=sheet.session.date,
            user=sheet.user,
            idempotency_key=line_key(sheet.session, sheet.group, loan, "disbursement"),
            reference=line.receipt,
        ),
    ):
        return {"disbursed": line.amount}
    return {"disbursed": 0}


def post_disbursements(
    *,
    session: TransactionSession,
    group: SavingsGroup,
    lines: Iterable[Mapping[str, Any] | DisbursementLine],
    user,
    idempotency_key: str,
) -> SheetPosting:
    """Pay out a group's approved loans in the session ({loan_number, amount, receipt} per
    line): every line or none, as a collection sheet. A disbursement the four-eyes policy holds
    (above its bound) is refused on its line: it is submitted from the loan's page."""
    return _post_sheet(
        session=session,
        group=group,
        kind=Kind.DISBURSEMENT,
        raw_lines=lines,
        line_class=DisbursementLine,
        user=user,
        idempotency_key=idempotency_key,
        post_line=_post_disbursement_line,
    )
