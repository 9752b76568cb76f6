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
