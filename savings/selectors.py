"""Reads of member savings, scoped to the user's offices like every read."""

import datetime as dt
from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet, Sum

from borrowers.models import Household
from borrowers.selectors import check_scope, office_ids_for

from .models import SavingsAccount, SavingsTransaction


def savings_balances(household_ids: Iterable[int], day: dt.date | None = None) -> dict[int, int]:
    """Each household's savings balance (household id → đồng), in one query: the cached balance,
    or with `day` the ledger summed over the entries dated up to it. Households without an
    account (or, on `day`, without entries by then) are absent."""
    ids = list(household_ids)
    if not ids:
        return {}
    if day is None:
        rows = SavingsAccount.objects.filter(household_id__in=ids).values_list(
            "household_id", "balance"
        )
        return dict(rows)
    summed = (
        SavingsTransaction.objects.filter(account__household_id__in=ids, value_date__lte=day)
        .values_list("account__household_id")
        .annotate(balance=Sum("d_balance"))
        .order_by()
    )
    return dict(summed)


def get_household_savings_for_user(user, household: Household) -> SavingsAccount | None:
    """The household's savings account, None when it never deposited; 404 outside the user's
    offices (the household's office decides, like every read of it)."""
    check_scope(user, household.office)
    return SavingsAccount.objects.filter(household=household).first()


def accounts_for_user(user) -> QuerySet[SavingsAccount]:
    return SavingsAccount.objects.filter(office_id__in=office_ids_for(user))


def entries_of(account: SavingsAccount) -> QuerySet[SavingsTransaction]:
    """The account's ledger, newest first, with who posted each entry and the loan it paid."""
    return account.transactions.select_related("user", "loan_entry__loan").order_by(
        "-value_date", "-id"
    )


def balance_on(account: SavingsAccount, day: dt.date) -> int:
    """The account's balance at the end of `day` (entries dated up to it)."""
    total = account.transactions.filter(value_date__lte=day).aggregate(s=Sum("d_balance"))["s"]
    return total or 0


def lowest_balance_from(account: SavingsAccount, day: dt.date) -> int:
    """The lowest end-of-day balance from `day` on (today's balance when nothing is dated after
    it): what a back-dated withdrawal may take without any later day going below zero. One
    query: the balance on `day` and the running balance at each later date."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT LEAST(opening, COALESCE(MIN(opening + running), opening)) FROM (
              SELECT (SELECT COALESCE(SUM(d_balance), 0) FROM savings_savingstransaction
                       WHERE account_id = %(a)s AND value_date <= %(d)s) AS opening
            ) o LEFT JOIN (
              SELECT SUM(SUM(d_balance)) OVER (ORDER BY value_date) AS running
                FROM savings_savingstransaction
               WHERE account_id = %(a)s AND value_date > %(d)s GROUP BY value_date
            ) r ON true
            GROUP BY opening
            """,
            {"a": account.pk, "d": day},
        )
        return cursor.fetchone()[0]


SAVINGS_MISMATCH_SQL = """
SELECT a.id, a.household_id, a.balance, COALESCE(s.total, 0)
  FROM savings_savingsaccount a
  LEFT JOIN (
    SELECT account_id, SUM(d_balance) total FROM savings_savingstransaction GROUP BY account_id
  ) s ON s.account_id = a.id
 WHERE (%(office)s::bigint IS NULL OR a.office_id = %(office)s)
   AND a.balance IS DISTINCT FROM COALESCE(s.total, 0)
 ORDER BY a.id
"""


def savings_mismatches(office=None) -> list[tuple]:
    """Accounts whose cached balance differs from what their ledger sums to (should be none):
    (account id, household id, cached, ledger)."""
    with connection.cursor() as cursor:
        cursor.execute(SAVINGS_MISMATCH_SQL, {"office": office.pk if office else None})
        return cursor.fetchall()


# --- savings mobilised (the monthly pack) ----------------------------------------------------

MOBILISED_KEYS = (
    "opening",
    "deposits",
    "withdrawals",
    "paid_to_loans",
    "interest_credited",
    "closing",
    "savers",
)

# Per account the month's movements and the balances either side, then summed by the member's
# group, by the member's commune and in total, in one statement (GROUPING SETS).
MOBILISED_SQL = """
WITH per_account AS (
  SELECT a.id, h.group_id, v.commune_id,
         COALESCE(SUM(t.d_balance) FILTER (WHERE t.value_date < %(start)s), 0) AS opening,
         COALESCE(SUM(t.amount) FILTER (WHERE t.value_date >= %(start)s
                                          AND t.kind = 'deposit'), 0) AS deposits,
         COALESCE(SUM(t.amount) FILTER (WHERE t.value_date >= %(start)s
                                          AND t.kind = 'withdrawal'), 0) AS withdrawals,
         COALESCE(SUM(t.amount) FILTER (WHERE t.value_date >= %(start)s
                                          AND t.kind = 'loan_payment'), 0) AS paid_to_loans,
         COALESCE(SUM(t.amount) FILTER (WHERE t.value_date >= %(start)s
                                          AND t.kind = 'interest_credit'), 0) AS interest,
         COALESCE(SUM(t.d_balance), 0) AS closing
    FROM savings_savingstransaction t
    JOIN savings_savingsaccount a ON a.id = t.account_id
    JOIN borrowers_household h ON h.id = a.household_id
    JOIN borrowers_village v ON v.id = h.village_id
   WHERE t.office_id = %(office)s AND t.value_date <= %(as_of)s
   GROUP BY a.id, h.group_id, v.commune_id
)
SELECT GROUPING(p.group_id) AS no_group, GROUPING(p.commune_id) AS no_commune,
       g.code, g.name, c.code, c.name,
       SUM(opening), SUM(deposits), SUM(withdrawals), SUM(paid_to_loans), SUM(interest),
       SUM(closing), COUNT(*) FILTER (WHERE closing > 0)
  FROM per_account p
  LEFT JOIN borrowers_savingsgroup g ON g.id = p.group_id
  LEFT JOIN borrowers_commune c ON c.id = p.commune_id
 GROUP BY GROUPING SETS ((p.group_id, g.code, g.name), (p.commune_id, c.code, c.name), ())
"""


def savings_mobilised(*, office, start: dt.date, as_of: dt.date) -> dict:
    """Savings mobilised in [start, as_of] (the monthly pack): per savings and loan group of the
    member (its group today) and per commune of the member's village, and in total — the
    opening balance, deposits, withdrawals, savings paid to loans, interest credited, the
    closing balance (opening + deposits − withdrawals − paid to loans + interest = closing) and
    the savers with a balance at as_of. Plain JSON types; amounts in whole VND."""
    with connection.cursor() as cursor:
        cursor.execute(MOBILISED_SQL, {"office": office.pk, "start": start, "as_of": as_of})
        rows = cursor.fetchall()
    by_group: list[dict] = []
    by_commune: list[dict] = []
    totals = dict.fromkeys(MOBILISED_KEYS, 0)
    for no_group, no_commune, g_code, g_name, c_code, c_name, *figures in rows:
        values = dict(zip(MOBILISED_KEYS, (int(f or 0) for f in figures), strict=True))
        if no_group and no_commune:
            totals = values
        elif not no_group:
            by_group.append({"code": g_code or "", "name": g_name or "", **values})
        else:
            by_commune.append({"code": c_code or "", "name": c_name or "", **values})
    by_group.sort(key=lambda row: (row["code"] == "", row["code"]))
    by_commune.sort(key=lambda row: row["code"])
    return {
        "from": start.isoformat(),
        "as_of": as_of.isoformat(),
        "totals": totals,
        "by_group": by_group,
        "by_commune": by_commune,
    }
