"""Fees and commissions of a month, read from the ledger (selectors).

For an office and a month M:

- interest collected through a group is the month's interest collected on the loans managed
  through it (`loans.Loan.group`), exactly as the monthly report counts it
  (`reports.selectors.figures_for_period`, its by-group rows): interest payments and prepayments
  by value date in M, a reversal counting negatively on its own value date;
- a group's commission is that interest × the commission rate in force for M;
- a chapter's interest collected is the sum over its groups; its overdue ratio is its groups'
  overdue principal ÷ their outstanding principal at the end of M; its collection rate is the
  principal collected in M ÷ (that + the principal that fell overdue in M): of what had to come
  in, the part that did;
- a chapter's fee is its interest collected × the fee rate in force for M (its organisation's,
  else the one for every organisation) × the factor of the best quality tier whose conditions
  it meets (none met: 0).

A rate in force for M is the newest row dated on or before M's first day, the office's own
before the bank-wide default of the same date. Each amount is rounded once (loans.interest
.round_vnd); a month whose reversals exceed its payments pays nothing (no claw-back).

The whole statement is four queries whatever the office's size: the report's figures (one
statement on the ledger or its month-end snapshot), the principal fallen overdue, the groups and
their chapters, the rates; and one for what was already paid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.db import connection
from django.db.models import Q, Sum

from borrowers.models import Chapter, Office, SavingsGroup
from loans.interest import round_vnd
from reports.periods import month_end
from reports.selectors import DIRECT, figures_for_period

from .models import CommissionRate, EntrustmentFeeRate, FeePayment, FeeTier, TransactionSession

HUNDRED = Decimal(100)
CENT = Decimal("0.01")

# The principal that fell overdue in the month, by group: end-of-day transfers dated in it, a
# reversal negatively (counted_kind is the kind it cancels), read from the ledger's covering
# index on (office, value date).
FALLEN_OVERDUE_SQL = """
SELECT l.group_id,
       SUM(CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END)::bigint
  FROM loans_loantransaction t
  JOIN loans_loan l ON l.id = t.loan_id
 WHERE t.office_id = %(office)s AND t.value_date >= %(start)s AND t.value_date <= %(end)s
   AND t.counted_kind = 'transfer_to_overdue' AND l.group_id IS NOT NULL
 GROUP BY l.group_id
"""


# --- the rates in force ---------------------------------------------------------------------


def _in_force(model, *, office: Office, month: dt.date):
    return model.objects.filter(
        Q(office=office) | Q(office__isnull=True), effective_from__lte=month
    )


def _precedence(row) -> tuple:
    return (row.effective_from, row.office_id is not None)


def commission_rate_for(*, office: Office, month: dt.date) -> CommissionRate | None:
    rows = list(_in_force(CommissionRate, office=office, month=month))
    return max(rows, key=_precedence, default=None)


def fee_rates_for(*, office: Office, month: dt.date) -> dict[int | None, EntrustmentFeeRate]:
    """The fee rate in force per organisation id (None: the rate for every organisation).
    Read with fee_rate_of."""
    best: dict[int | None, EntrustmentFeeRate] = {}
    for row in _in_force(EntrustmentFeeRate, office=office, month=month):
        held = best.get(row.organisation_id)
        if held is None or _precedence(row) > _precedence(held):
            best[row.organisation_id] = row
    return best


def fee_rate_of(rates: dict[int | None, EntrustmentFeeRate], organisation_id: int):
    """The organisation's own rate, unless the rate for every organisation is newer (or the
    office's own at the same date)."""
    own, every = rates.get(organisation_id), rates.get(None)
    if own is None or every is None:
        return own or every
    return own if _precedence(own) >= _precedence(every) else every


def tiers_for(*, office: Office, month: dt.date) -> list[FeeTier]:
    """The quality tier table in force: the rows of the newest date (the office's own first),
    best factor first."""
    rows = list(_in_force(FeeTier, office=office, month=month))
    if not rows:
        return []
    newest = max(_precedence(row) for row in rows)
    table = [row for row in rows if _precedence(row) == newest]
    return sorted(table, key=lambda row: (-row.factor, row.max_overdue_ratio))


def tier_factor(
    tiers: list[FeeTier], *, overdue_ratio: Fraction, collection_rate: Fraction | None
) -> Decimal:
    """The best factor among the tiers whose conditions are met (ratios in per cent, exact). A
    chapter with nothing that had to come in meets every collection condition."""
    for tier in tiers:
        if overdue_ratio > Fraction(tier.max_overdue_ratio):
            continue
        if collection_rate is not None and collection_rate < Fraction(tier.min_collection_rate):
            continue
        return tier.factor
    return Decimal(0)


# --- the statement --------------------------------------------------------------------------


def percent_text(value: Fraction | Decimal | None) -> str | None:
    """A ratio in per cent as it is printed and put in JSON: two decimals, half up."""
    if value is None:
        return None
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator)
        if isinstance(value, Fraction)
        else value
    )
    return str(exact.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class GroupLine:
    group_id: int
    code: str
    name: str
    head_name: str
    chapter_id: int
    interest_collected: int
    rate: Decimal | None  # per cent of interest collected
    commission: int
    paid: int = 0

    @property
    def due(self) -> int:
        return self.commission

    @property
    def unpaid(self) -> int:
        return max(0, self.commission - self.paid)


@dataclass(frozen=True)
class ChapterLine:
    chapter_id: int
    commune: str  # the commune's code
    commune_name: str
    organisation: str  # women, farmers, veterans, youth
    organisation_name: str
    groups: int
    interest_collected: int
    outstanding: int  # at the month's end
    overdue: int
    overdue_ratio: Fraction  # per cent, exact
    principal_collected: int
    fallen_overdue: int
    collection_rate: Fraction | None  # per cent, exact; None when nothing had to come in
    rate: Decimal | None
    factor: Decimal
    fee: int
    paid: int = 0

    @property
    def overdue_ratio_percent(self) -> Decimal:
        return Decimal(percent_text(self.overdue_ratio) or 0)

    @property
    def collection_rate_percent(self) -> Decimal | None:
        text = percent_text(self.collection_rate)
        return None if text is None else Decimal(text)

    @property
    def overdue_ratio_text(self) -> str:
        return percent_text(self.overdue_ratio) or ""

    @property
    def collection_rate_text(self) -> str | None:
        return percent_text(self.collection_rate)

    @property
    def due(self) -> int:
        return self.fee

    @property
    def unpaid(self) -> int:
        return max(0, self.fee - self.paid)


@dataclass(frozen=True)
class FeeStatement:
    office: Office
    month: dt.date  # its first day
    groups: list[GroupLine] = field(default_factory=list)
    chapters: list[ChapterLine] = field(default_factory=list)
    commission_rate: CommissionRate | None = None
    tiers: list[FeeTier] = field(default_factory=list)

    @property
    def month_end(self) -> dt.date:
        return month_end(self.month)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "interest_collected": sum(line.interest_collected for line in self.groups),
            "commission": sum(line.commission for line in self.groups),
            "commission_paid": sum(line.paid for line in self.groups),
            "fee": sum(line.fee for line in self.chapters),
            "fee_paid": sum(line.paid for line in self.chapters),
        }

    def commission_of(self, group_id: int) -> GroupLine | None:
        return next((line for line in self.groups if line.group_id == group_id), None)

    def fee_of(self, chapter_id: int) -> ChapterLine | None:
        return next((line for line in self.chapters if line.chapter_id == chapter_id), None)

    def as_json(self) -> dict:
        """The `fee_statement --json` object: amounts as whole đồng (int); rates and ratios as
        decimal strings in per cent (two decimals), the factor as a decimal string."""
        return {
            "groups": [
                {
                    "code": line.code,
                    "interest_collected": line.interest_collected,
                    "rate": percent_text(line.rate),
                    "commission": line.commission,
                }
                for line in self.groups
            ],
            "chapters": [
                {
                    "commune": line.commune,
                    "organisation": line.organisation,
                    "interest_collected": line.interest_collected,
                    "overdue_ratio": line.overdue_ratio_text,
                    "rate": percent_text(line.rate),
                    "factor": str(line.factor),
                    "fee": line.fee,
                }
                for line in self.chapters
            ],
        }


def _share(amount: int, percent: Decimal | None, factor: Decimal = Decimal(1)) -> int:
    if percent is None or amount <= 0:
        return 0
    return round_vnd(Fraction(amount) * Fraction(percent) * Fraction(factor) / 100)


def _fallen_overdue(office: Office, month: dt.date) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            FALLEN_OVERDUE_SQL, {"office": office.pk, "start": month, "end": month_end(month)}
        )
        return dict(cursor.fetchall())


def _paid(office: Office, month: dt.date) -> tuple[dict[int, int], dict[int, int]]:
    by_group: dict[int, int] = {}
    by_chapter: dict[int, int] = {}
    rows = (
        FeePayment.objects.filter(session__office=office, month=month)
        .values_list("group_id", "chapter_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for group_id, chapter_id, total in rows:
        if group_id is not None:
            by_group[group_id] = total
        else:
            by_chapter[chapter_id] = total
    return by_group, by_chapter


def fee_statement(office: Office, month: dt.date) -> FeeStatement:
    """The month's commissions per group and fees per chapter (see the module's docstring).
    `month` is any day of it."""
    month = month.replace(day=1)
    figures = figures_for_period(office=office, start=month, as_of=month_end(month))
    fallen = _fallen_overdue(office, month)
    paid_groups, paid_chapters = _paid(office, month)
    groups = {
        row["code"]: row
        for row in SavingsGroup.objects.filter(office=office).values(
            "id",
            "code",
            "name",
            "head_name",
            "chapter_id",
            "chapter__commune__code",
            "chapter__commune__name",
            "chapter__organisation_id",
            "chapter__organisation__code",
            "chapter__organisation__name",
        )
    }
    commission = commission_rate_for(office=office, month=month)
    commission_percent = commission.percent if commission else None
    fee_rates = fee_rates_for(office=office, month=month)
    tiers = tiers_for(office=office, month=month)

    group_lines: list[GroupLine] = []
    sums: dict[int, dict] = {}
    for row in figures["by_group"]:
        info = groups.get(row["code"])
        if row["code"] == DIRECT or info is None:
            continue
        interest = row["interest_collected"]
        group_lines.append(
            GroupLine(
                group_id=info["id"],
                code=info["code"],
                name=info["name"],
                head_name=info["head_name"],
                chapter_id=info["chapter_id"],
                interest_collected=interest,
                rate=commission_percent,
                commission=_share(interest, commission_percent),
                paid=paid_groups.get(info["id"], 0),
            )
        )
        chapter = sums.setdefault(
            info["chapter_id"],
            {
                "info": info,
                "groups": 0,
                "interest": 0,
                "closing": 0,
                "overdue": 0,
                "collected": 0,
                "fallen": 0,
            },
        )
        chapter["groups"] += 1
        chapter["interest"] += interest
        chapter["closing"] += row["closing"]
        chapter["overdue"] += row["overdue"]
        chapter["collected"] += row["collected"]
        chapter["fallen"] += fallen.get(info["id"], 0)

    chapter_lines: list[ChapterLine] = []
    for chapter_id, chapter in sums.items():
        info = chapter["info"]
        closing, overdue = chapter["closing"], chapter["overdue"]
        ratio = Fraction(100 * overdue, closing) if closing > 0 else Fraction(0)
        due = chapter["collected"] + chapter["fallen"]
        collection = Fraction(100 * chapter["collected"], due) if due > 0 else None
        rate = fee_rate_of(fee_rates, info["chapter__organisation_id"])
        percent = rate.percent if rate else None
        factor = tier_factor(tiers, overdue_ratio=ratio, collection_rate=collection)
        chapter_lines.append(
            ChapterLine(
                chapter_id=chapter_id,
                commune=info["chapter__commune__code"],
                commune_name=info["chapter__commune__name"],
                organisation=info["chapter__organisation__code"],
                organisation_name=info["chapter__organisation__name"],
                groups=chapter["groups"],
                interest_collected=chapter["interest"],
                outstanding=closing,
                overdue=overdue,
                overdue_ratio=ratio,
                principal_collected=chapter["collected"],
                fallen_overdue=chapter["fallen"],
                collection_rate=collection,
                rate=percent,
                factor=factor,
                fee=_share(chapter["interest"], percent, factor),
                paid=paid_chapters.get(chapter_id, 0),
            )
        )
    group_lines.sort(key=lambda line: line.code)
    chapter_lines.sort(key=lambda line: (line.commune, _organisation_order(line.organisation)))
    return FeeStatement(
        office=office,
        month=month,
        groups=group_lines,
        chapters=chapter_lines,
        commission_rate=commission,
        tiers=tiers,
    )


ORGANISATION_ORDER = ("women", "farmers", "veterans", "youth")


def _organisation_order(code: str) -> int:
    return ORGANISATION_ORDER.index(code) if code in ORGANISATION_ORDER else len(ORGANISATION_ORDER)


# --- what a session paid ----------------------------------------------------------------------


@dataclass(frozen=True)
class PayeeTotal:
    """What a session paid one payee (a group's commission or a chapter's fee) for one month."""

    kind: str  # "commission" or "fee"
    group: SavingsGroup | None
    chapter: Chapter | None
    month: dt.date
    amount: int

    @property
    def payee(self) -> str:
        return str(self.group if self.group is not None else self.chapter)


def fees_paid_in(session: TransactionSession) -> int:
    """The cash the session paid out in fees and commissions (for its closing count)."""
    return FeePayment.objects.filter(session=session).aggregate(total=Sum("amount"))["total"] or 0


def fee_payments_in(session: TransactionSession) -> list[PayeeTotal]:
    """The session's fee payments per payee and month: commissions (by group code) first, then
    fees (by commune and organisation)."""
    rows = list(
        FeePayment.objects.filter(session=session)
        .values_list("group_id", "chapter_id", "month")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    groups = SavingsGroup.objects.in_bulk([g for g, _c, _m, _t in rows if g is not None])
    chapters = Chapter.objects.select_related("commune", "organisation").in_bulk(
        [c for _g, c, _m, _t in rows if c is not None]
    )
    result = [
        PayeeTotal(
            kind="commission" if group_id is not None else "fee",
            group=groups.get(group_id) if group_id is not None else None,
            chapter=chapters.get(chapter_id) if chapter_id is not None else None,
            month=month,
            amount=total,
        )
        for group_id, chapter_id, month, total in rows
    ]
    result.sort(
        key=lambda p: (
            p.kind,
            p.group.code if p.group else (p.chapter.commune.code if p.chapter else ""),
            p.chapter.organisation_id if p.chapter else 0,
            p.month,
        )
    )
    return result
