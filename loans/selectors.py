"""Reads of loans and the ledger, scoped to the user's offices."""

from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from borrowers.selectors import check_scope, office_ids_for, offices_for

from .models import Loan, LoanTransaction


def loans_for_user(user) -> QuerySet[Loan]:
    return Loan.objects.filter(office_id__in=office_ids_for(user))


def get_loan_for_user(user, pk: int, *, write: bool = False, manage: bool = False) -> Loan:
    loan = (
        loans_for_user(user)
        .select_related("office", "household__village__commune", "programme", "group")
        .filter(pk=pk)
        .first()
    )
    if loan is None:
        raise Http404
    check_scope(user, loan.office, write=write, manage=manage)
    return loan


def get_entry_for_user(user, pk: int, *, write: bool = False) -> LoanTransaction:
    entry = (
        LoanTransaction.objects.filter(office__in=offices_for(user), pk=pk)
        .select_related("loan__office")
        .first()
    )
    if entry is None:
        raise Http404
    check_scope(user, entry.loan.office, write=write)
    return entry


def ledger_for_household(household) -> QuerySet[LoanTransaction]:
    return (
        LoanTransaction.objects.filter(loan__household=household)
        .select_related("loan", "posted_by", "reverses", "counterparty_office")
        .order_by("value_date", "id")
    )


LEDGER_MISMATCH_SQL = """
SELECT l.id, l.number, l.outstanding, l.overdue, l.frozen, l.disbursed,
       COALESCE(s.o, 0), COALESCE(s.v, 0), COALESCE(s.f, 0), COALESCE(s.d, 0)
  FROM loans_loan l
  LEFT JOIN (
    SELECT loan_id, SUM(d_outstanding) o, SUM(d_overdue) v, SUM(d_frozen) f,
           SUM(CASE WHEN counted_kind <> 'disbursement' THEN 0
                    WHEN kind = 'reversal' THEN -amount ELSE amount END) d
      FROM loans_loantransaction GROUP BY loan_id
  ) s ON s.loan_id = l.id
 WHERE (%(office)s::bigint IS NULL OR l.office_id = %(office)s)
   AND (l.outstanding, l.overdue, l.frozen, l.disbursed)
       IS DISTINCT FROM (COALESCE(s.o, 0), COALESCE(s.v, 0), COALESCE(s.f, 0), COALESCE(s.d, 0))
 ORDER BY l.id
"""


def ledger_mismatches(office=None) -> list[tuple]:
    """Loans whose cached balances differ from what their ledger sums to (should be none)."""
    with connection.cursor() as cursor:
        cursor.execute(LEDGER_MISMATCH_SQL, {"office": office.pk if office else None})
        return cursor.fetchall()
