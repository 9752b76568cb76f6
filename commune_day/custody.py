"""Receipts held in the group head's custody until the session (docs/decisions/0020-custody.md).

The group head records each member's payment from the phone (`receipt_hold`): it is checked
against the group's collection sheet for the next session, as the teller's screen would check
it, and kept as a HeldReceipt, not in the ledger. At the session the group's sheet posts them:
`custody_confirm` posts every held receipt through `post_collection_sheet` with what the head
handed in. Any sheet of the group posted in the session must include what is held
(`posting.settle_held`, inside the sheet's transaction), so a receipt posts exactly once.
"""

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from borrowers.models import SavingsGroup
from branch_portal.templatetags.money import group_thousands
from loans.models import Loan
from loans.selectors import interest_due_for
from savings.models import MIN_DEPOSIT

from . import posting
from .models import CustodyHandover, HeldReceipt, TransactionSession
from .selectors import CollectionSheet, collection_sheet
from .services import commune_groups_on

AMOUNTS = ("interest", "principal", "savings")
KEY_LENGTH = 100
LOAN_NUMBER_LENGTH = 40
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EARLIEST_PAYMENT = dt.date(2000, 1, 1)


class ReceiptRefused(Exception):
    """The receipt is not held: the message of each field refused."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class KeyReused(Exception):
    """The key was used for another receipt: the first one is kept and returned."""

    def __init__(self, receipt: HeldReceipt):
        super().__init__(receipt.idempotency_key)
        self.receipt = receipt


class SheetVersionChanged(Exception):
    """The sheet the phone worked from is no longer the group's: the new one is given."""

    def __init__(self, sheet: "GroupSheet"):
        super().__init__(sheet.version)
        self.sheet = sheet


@dataclass(frozen=True)
class GroupSheet:
    """The group's collection sheet for its next session, with its version (a digest of what
    the sheet says: any ledger change to the group's loans that moves a figure changes it)."""

    sheet: CollectionSheet
    version: str


@dataclass(frozen=True)
class HoldResult:
    receipt: HeldReceipt
    created: bool


def next_session_date(group: SavingsGroup, today: dt.date | None = None) -> dt.date:
    """The date of the group's next session: an open session serving it from the business date
    on, else the commune's transaction day in the business month (the next month's once it has
    passed)."""
    office = group.office
    business = today or office.business_date
    open_session = (
        TransactionSession.objects.filter(
            groups=group, status=TransactionSession.Status.OPEN, date__gte=business
        )
        .order_by("date")
        .values_list("date", flat=True)
        .first()
    )
    if open_session is not None:
        return open_session
    day = group.village.commune.transaction_day
    candidate = dt.date(business.year, business.month, day)
    if candidate < business:
        year, month = divmod(business.month, 12)
        candidate = dt.date(business.year + year, month + 1, day)
    return candidate


def group_sheet(group: SavingsGroup, day: dt.date | None = None) -> GroupSheet:
    day = day or next_session_date(group)
    sheet = collection_sheet(group, day)
    text = json.dumps(sheet.as_json(), sort_keys=True, separators=(",", ":"))
    return GroupSheet(sheet, hashlib.sha256(text.encode()).hexdigest()[:16])


def held_by_loan(group: SavingsGroup) -> dict[int, dict[str, int]]:
    """What is held for each of the group's loans, by column."""
    rows = (
        HeldReceipt.objects.filter(group=group, status=HeldReceipt.Status.HELD)
        .values("loan_id")
        .annotate(interest=Sum("interest"), principal=Sum("principal"), savings=Sum("savings"))
    )
    return {
        r["loan_id"]: {
            "interest": r["interest"],
            "principal": r["principal"],
            "savings": r["savings"],
        }
        for r in rows
    }


# --- recording a receipt -------------------------------------------------------------------------


def _text(data: Mapping[str, Any], name: str, limit: int, errors: dict[str, str]) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        errors[name] = _("Required: a text of at most %(n)s characters.") % {"n": limit}
        return ""
    value = value.strip()
    if len(value) > limit:
        errors[name] = _("At most %(n)s characters.") % {"n": limit}
    elif problem := posting.control_character(value):
        errors[name] = problem
    return value


def _paid_on(value: Any, today: dt.date, errors: dict[str, str]) -> dt.date:
    if value is None or value == "":
        return today
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        errors["paid_on"] = _("A date as YYYY-MM-DD.")
        return today
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        errors["paid_on"] = _("A date as YYYY-MM-DD.")
        return today
    if not EARLIEST_PAYMENT <= day <= today:
        errors["paid_on"] = _("The date is in the future or before 2000.")
    return day


# A key travels in an HTTP header: visible ASCII only.
_KEY = re.compile(r"[\x21-\x7e]{1,100}")  # KEY_LENGTH


def read_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ReceiptRefused(
            {"idempotency_key": _("An Idempotency-Key of 1 to %(n)s characters.") % {"n": 100}}
        )
    return key


def _same(receipt: HeldReceipt, loan_number: str, values: dict[str, Any]) -> bool:
    return receipt.loan.number == loan_number and all(
        getattr(receipt, name) == value for name, value in values.items()
    )


def _replay(existing: HeldReceipt, loan_number: str, values: dict[str, Any]) -> HoldResult:
    if not _same(existing, loan_number, values):
        raise KeyReused(existing)
    return HoldResult(existing, created=False)


def receipt_hold(
    *,
    group: SavingsGroup,
    data: Mapping[str, Any],
    idempotency_key: str | None,
    user,
    token_prefix: str = "",
    today: dt.date | None = None,
) -> HoldResult:
    """Hold one member's payment in the group head's custody. A repeat of the key with the same
    receipt returns the first (created False) and holds nothing more; with another receipt it
    raises KeyReused. Raises ReceiptRefused (per field) or SheetVersionChanged."""
    key = read_key(idempotency_key)
    errors: dict[str, str] = {}
    if not isinstance(data, Mapping):
        raise ReceiptRefused({"receipt": _("A receipt is an object of named fields.")})
    loan_number = _text(data, "loan_number", LOAN_NUMBER_LENGTH, errors)
    receipt_number = _text(data, "receipt", posting.RECEIPT_LENGTH, errors)
    amounts: dict[str, int] = {}
    for name in AMOUNTS:
        amounts[name], problem = posting.read_amount(data.get(name))
        if problem:
            errors[name] = problem
    if not errors and not any(amounts.values()):
        errors["interest"] = _("Nothing paid: every amount is 0.")
    if 0 < amounts["savings"] < MIN_DEPOSIT and "savings" not in errors:
        errors["savings"] = _("A savings deposit is at least %(min)s đồng.") % {
            "min": group_thousands(MIN_DEPOSIT)
        }
    today = today or timezone.localdate()
    paid_on = _paid_on(data.get("paid_on"), today, errors)
    version = data.get("sheet_version")
    if version is not None and not isinstance(version, str):
        errors["sheet_version"] = _("The version a sheet was given with, as text.")
    if errors:
        raise ReceiptRefused(errors)
    values = {"receipt": receipt_number, "paid_on": paid_on, **amounts}

    with transaction.atomic():
        # The loan's row serialises every hold on it: the caps below see each other's receipts.
        loan = (
            Loan.objects.select_for_update(of=("self",))
            .filter(office_id=group.office_id, group_id=group.pk, number=loan_number)
            .first()
        )
        existing = (
            HeldReceipt.objects.select_related("loan")
            .filter(group=group, idempotency_key=key)
            .first()
        )
        if existing is not None:
            return _replay(existing, loan_number, values)
        if loan is None:
            raise ReceiptRefused(
                {
                    "loan_number": _("Loan %(n)s is not a loan of group %(g)s.")
                    % {"n": loan_number, "g": group.code}
                }
            )
        if version is not None:
            current = group_sheet(group)
            if version != current.version:
                raise SheetVersionChanged(current)
            day = current.sheet.date
        else:
            day = next_session_date(group)
        _check_caps(loan, day, amounts)
        try:
            with transaction.atomic():
                receipt = HeldReceipt.objects.create(
                    office_id=group.office_id,
                    group=group,
                    loan=loan,
                    idempotency_key=key,
                    sheet_date=day,
                    recorded_by=user,
                    token_prefix=token_prefix[:10],
                    **values,
                )
        except IntegrityError:
            # The same key, committed meanwhile by another connection: its answer is ours.
            existing = HeldReceipt.objects.select_related("loan").get(
                group=group, idempotency_key=key
            )
            return _replay(existing, loan_number, values)
    return HoldResult(receipt, created=True)


def _check_caps(loan: Loan, day: dt.date, amounts: dict[str, int]) -> None:
    """No more interest held than is due at the session on `day`, no more principal than is
    owed: the figures of the loan's line on the group's sheet (the same interest function),
    read for this loan alone."""
    interest_due = interest_due_for([loan], day)[loan.pk].payable
    if not interest_due and not loan.outstanding:
        raise ReceiptRefused(
            {"loan_number": _("Loan %(n)s owes nothing on the sheet.") % {"n": loan.number}}
        )
    held = dict.fromkeys(AMOUNTS, 0)
    held.update(
        HeldReceipt.objects.filter(loan=loan, status=HeldReceipt.Status.HELD).aggregate(
            interest=Coalesce(Sum("interest"), 0),
            principal=Coalesce(Sum("principal"), 0),
            savings=Coalesce(Sum("savings"), 0),
        )
    )
    errors = {}
    for name, cap in (("interest", interest_due), ("principal", loan.outstanding)):
        room = max(cap - held[name], 0)
        if amounts[name] > room:
            errors[name] = _(
                "At most %(room)s đồng: %(cap)s is owed at the session and %(held)s is already "
                "held."
            ) % {
                "room": group_thousands(room),
                "cap": group_thousands(cap),
                "held": group_thousands(held[name]),
            }
    if errors:
        raise ReceiptRefused(errors)


def receipts_hold(
    *, group: SavingsGroup, receipts: Any, sheet_version: Any, user, token_prefix: str = ""
) -> list[dict[str, Any]]:
    """A batch recorded offline: each receipt on its own (its own key, its own transaction),
    and per receipt what happened: created, replayed, refused (with the errors), conflict (the
    key was another receipt's) or stale (the sheet changed: every receipt after is refused the
    same way, and the new sheet is the caller's to fetch)."""
    if not isinstance(receipts, list) or len(receipts) > 500:
        raise ReceiptRefused({"receipts": _("A list of at most 500 receipts.")})
    # Held receipts are not in the sheet, so the version is the same for the whole batch: read
    # once. Current, the receipts are held without reading the sheet again.
    if sheet_version is not None and sheet_version == group_sheet(group).version:
        sheet_version = None
    results = []
    for raw in receipts:
        key = raw.get("idempotency_key") if isinstance(raw, Mapping) else None
        entry: dict[str, Any] = {"idempotency_key": key if isinstance(key, str) else None}
        data = dict(raw) if isinstance(raw, Mapping) else raw
        if isinstance(data, dict) and sheet_version is not None:
            data.setdefault("sheet_version", sheet_version)
        try:
            outcome = receipt_hold(
                group=group,
                data=data,
                idempotency_key=key,
                user=user,
                token_prefix=token_prefix,
            )
        except ReceiptRefused as exc:
            entry.update(status="refused", errors=exc.errors)
        except KeyReused as exc:
            entry.update(status="conflict", receipt=exc.receipt)
        except SheetVersionChanged as exc:
            entry.update(status="stale", version=exc.sheet.version)
        else:
            entry.update(
                status="created" if outcome.created else "replayed", receipt=outcome.receipt
            )
        results.append(entry)
    return results


# --- at the session ------------------------------------------------------------------------------


def custody_confirm(
    *,
    session: TransactionSession,
    group: SavingsGroup,
    handed_in: Any,
    note: str,
    user,
    idempotency_key: str,
    lines: Iterable[Mapping[str, Any]] = (),
) -> CustodyHandover:
    """At the session: post what the group head holds (with any further lines paid at the
    session, added to the same loans' columns) as the group's collection sheet, in one
    transaction, and record the cash the head handed in against it. A difference needs its
    explanation. Raises SheetRefused."""
    amount, problem = posting.read_amount(handed_in)
    errors = []
    if problem or handed_in in (None, ""):
        errors.append(
            posting.LineError(posting.SHEET, "handed_in", problem or _("The cash handed in."))
        )
    note = (note or "").strip()[:2000]
    with transaction.atomic():
        held = list(
            HeldReceipt.objects.select_for_update()
            .select_related("loan")
            .filter(group=group, status=HeldReceipt.Status.HELD)
            .order_by("pk")
        )
        if not held:
            errors.append(
                posting.LineError(posting.SHEET, "receipts", _("The group head holds no receipts."))
            )
        total = sum(r.total for r in held)
        if not errors and amount != total and not note:
            errors.append(
                posting.LineError(
                    posting.SHEET,
                    "note",
                    _("%(in)s đồng handed in against %(held)s held: explain the difference.")
                    % {"in": group_thousands(amount), "held": group_thousands(total)},
                )
            )
        if errors:
            raise posting.SheetRefused(errors)
        merged: dict[str, dict[str, Any]] = {}
        for receipt in held:
            line = merged.setdefault(
                receipt.loan.number, {"loan_number": receipt.loan.number, "receipts": []}
            )
            for name in AMOUNTS:
                line[name] = line.get(name, 0) + getattr(receipt, name)
            line["receipts"].append(receipt.receipt)
        for extra in lines:
            line = merged.setdefault(
                extra["loan_number"], {"loan_number": extra["loan_number"], "receipts": []}
            )
            for name in AMOUNTS:
                line[name] = line.get(name, 0) + (extra.get(name) or 0)
        sheet_lines = [
            {
                **{k: v for k, v in line.items() if k != "receipts"},
                "receipt": ", ".join(line["receipts"])[: posting.RECEIPT_LENGTH],
            }
            for line in merged.values()
        ]
        sheet_posting = posting.post_collection_sheet(
            session=session,
            group=group,
            lines=sheet_lines,
            user=user,
            idempotency_key=idempotency_key,
        )
        return CustodyHandover.objects.create(
            session=session,
            group=group,
            posting=sheet_posting,
            receipts=len(held),
            held=total,
            handed_in=amount,
            note=note,
            counted_by=user,
        )


@dataclass(frozen=True)
class GroupCustody:
    group: SavingsGroup
    held_receipts: int
    held: int
    confirmed: int
    handover: CustodyHandover | None


def session_custody(session: TransactionSession) -> list[GroupCustody]:
    """Per group of the session with receipts: what its head holds now, what was confirmed in
    this session, and the handover (held against handed in)."""
    groups = {g.pk: g for g in commune_groups_on(session.commune, session.date)}
    groups.update({g.pk: g for g in session.groups.all()})
    rows = (
        HeldReceipt.objects.filter(group_id__in=list(groups))
        .filter(Q(status=HeldReceipt.Status.HELD) | Q(posting__session=session))
        .values("group_id")
        .annotate(
            held_receipts=Count("pk", filter=Q(status=HeldReceipt.Status.HELD)),
            held=Sum("interest", filter=Q(status=HeldReceipt.Status.HELD))
            + Sum("principal", filter=Q(status=HeldReceipt.Status.HELD))
            + Sum("savings", filter=Q(status=HeldReceipt.Status.HELD)),
            confirmed=Sum("interest", filter=Q(status=HeldReceipt.Status.CONFIRMED))
            + Sum("principal", filter=Q(status=HeldReceipt.Status.CONFIRMED))
            + Sum("savings", filter=Q(status=HeldReceipt.Status.CONFIRMED)),
        )
    )
    handovers = {h.group_id: h for h in session.handovers.all()}
    out = [
        GroupCustody(
            group=groups[r["group_id"]],
            held_receipts=r["held_receipts"],
            held=r["held"] or 0,
            confirmed=r["confirmed"] or 0,
            handover=handovers.get(r["group_id"]),
        )
        for r in rows
    ]
    return sorted(out, key=lambda c: c.group.code)
