"""Month close: a manager closes an office's month once its last transaction day is done.

From then on every posting service refuses value dates in it (`loans.services.month_is_closed`);
a correction is a reversal in the open period, or a re-opening by a manager, which pghistory
records (the ClosedMonth delete event carries the user and the reason). Closing queues the
month's pack; the daily `reports.tasks.monthly_packs_due` queues it as well, so whichever comes
first claims it (`one_monthly_run_per_period`) and the other gets the same run back.
"""

import datetime as dt

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from borrowers.models import Commune, Office
from borrowers.selectors import can_manage
from loans import approvals
from loans.models import ApprovalRequest, ClosedMonth, LoanTransaction
from loans.selectors import end_of_day_missing

from .models import ReportRun
from .periods import month_end, previous_month
from .services import report_run_request
from .snapshots import snapshot_drop, snapshot_take


def last_transaction_day(*, office: Office, month: dt.date) -> dt.date:
    """The office's last transaction day in the month: the latest transaction day of its communes
    valid in that month (the month's last day when the office has none)."""
    month = month.replace(day=1)
    day = (
        Commune.objects.filter(office=office, valid_from__lte=month_end(month))
        .exclude(valid_to__lt=month)
        .aggregate(day=Max("transaction_day"))["day"]
    )
    return month.replace(day=day) if day else month_end(month)


def month_is_over(*, office: Office, month: dt.date) -> bool:
    """Its last transaction day is on or before the office's business date."""
    month = month.replace(day=1)
    business_date = office.business_date
    return (
        month <= business_date.replace(day=1)
        and last_transaction_day(office=office, month=month) <= business_date
    )


def first_open_month_with_entries(*, office: Office, before: dt.date | None = None):
    """The earliest month with ledger entries that is not closed (before `before` if given)."""
    entries = LoanTransaction.objects.filter(office=office)
    if before is not None:
        entries = entries.filter(value_date__lt=before)
    closed = ClosedMonth.objects.filter(office=office, month=OuterRef("month"))
    return (
        entries.annotate(month=TruncMonth("value_date"))
        .filter(~Exists(closed))
        .order_by("month")
        .values_list("month", flat=True)
        .first()
    )


def month_to_close(*, office: Office) -> dt.date | None:
    """The month a manager closes next: the earliest open month with entries (close in order),
    else the month before the business date's; None when that month is not over yet."""
    this_month = office.business_date.replace(day=1)
    candidate = first_open_month_with_entries(office=office, before=this_month)
    if candidate is None:
        candidate = previous_month(office.business_date)
        if ClosedMonth.objects.filter(office=office, month=candidate).exists():
            candidate = this_month
            if ClosedMonth.objects.filter(office=office, month=candidate).exists():
                return None
    return candidate if month_is_over(office=office, month=candidate) else None


def _check_end_of_day(office: Office, start: dt.date, end: dt.date, month: dt.date) -> None:
    """A month closes only when each of its days has been closed by end of day (the days before
    the office's first business date count as closed by the import)."""
    missing = end_of_day_missing(office, start, end)
    if missing:
        raise ValidationError(
            _("End of day has not run for %(first)s–%(last)s: run it before closing %(month)s.")
            % {
                "first": missing[0].strftime("%d/%m/%Y"),
                "last": missing[-1].strftime("%d/%m/%Y"),
                "month": month.strftime("%m/%Y"),
            },
            code="end_of_day_missing",
        )


def _check_manager(user, office: Office) -> None:
    if not can_manage(user, office):
        raise PermissionDenied(_("Only a manager of the office can close or reopen a month."))


def monthly_pack_period(month: dt.date) -> tuple[dt.date, dt.date]:
    month = month.replace(day=1)
    return month, month_end(month)


def monthly_pack_request(*, office: Office, month: dt.date, user=None) -> ReportRun | None:
    """Queue the month's pack unless one exists (any status: a failed pack is retried by a
    manager, not re-queued every day); None while the month's last day is after the business
    date (the daily task queues it then)."""
    start, as_of = monthly_pack_period(month)
    if as_of > office.business_date:
        return None
    existing = (
        ReportRun.objects.filter(
            office=office, kind=ReportRun.Kind.MONTHLY, start=start, as_of=as_of
        )
        .defer("pdf", "xlsx")
        .order_by("-id")
        .first()
    )
    if existing is not None:
        return existing
    return report_run_request(
        office=office, start=start, as_of=as_of, user=user, kind=ReportRun.Kind.MONTHLY
    )


def month_close(*, office: Office, month: dt.date, user) -> ClosedMonth:
    """Close a month of an office (managers only); its pack is queued once this commits."""
    _check_manager(user, office)
    month = month.replace(day=1)
    with transaction.atomic():
        # One close at a time per office: the order check below must see the other's row.
        office = Office.objects.select_for_update().get(pk=office.pk)
        if not month_is_over(office=office, month=month):
            raise ValidationError(
                _("%(month)s is not over yet: its last transaction day is %(day)s.")
                % {
                    "month": month.strftime("%m/%Y"),
                    "day": last_transaction_day(office=office, month=month).strftime("%d/%m/%Y"),
                }
            )
        # A later closed month closes this one too (loans.services.month_is_closed).
        if ClosedMonth.objects.filter(office=office, month__gte=month).exists():
            raise ValidationError(_("%(month)s is already closed.") % {"month": f"{month:%m/%Y}"})
        earlier = first_open_month_with_entries(office=office, before=month)
        if earlier is not None:
            raise ValidationError(
                _("Close %(earlier)s first: months are closed in order.")
                % {"earlier": earlier.strftime("%m/%Y")}
            )
        _check_end_of_day(office, month, month_end(month), month)
        with pghistory.context(user=user.pk):
            closed = ClosedMonth.objects.create(office=office, month=month, closed_by=user)
        snapshot_take(office=office, month_end=month_end(month))
        transaction.on_commit(lambda: monthly_pack_request(office=office, month=month, user=user))
    return closed


def month_reopen(
    *,
    office: Office,
    month: dt.date,
    user,
    reason: str,
    approval: ApprovalRequest | None = None,
) -> None:
    """Reopen a closed month (managers only, with a reason kept in the history event). The
    office's four-eyes policy may hold it for a second manager (`approval`)."""
    _check_manager(user, office)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for reopening the month.")})
    month = month.replace(day=1)
    with transaction.atomic():
        office = Office.objects.select_for_update().get(pk=office.pk)
        closed = ClosedMonth.objects.filter(office=office, month=month).first()
        if closed is None:
            raise ValidationError(_("%(month)s is not closed.") % {"month": f"{month:%m/%Y}"})
        later = ClosedMonth.objects.filter(office=office, month__gt=month).order_by("-month")
        if later.exists():
            # A correction in a month changes every later month's figures: those are reopened
            # first, from the latest, as they were closed in order.
            raise ValidationError(
                _("Reopen %(later)s first: months are reopened from the latest.")
                % {"later": later.first().month.strftime("%m/%Y")}
            )
        checker = approvals.gate(
            office=office,
            operation="month_reopen",
            subject=approvals.month_subject(month),
            approval=approval,
        )
        approved_by = {"approved_by": checker.pk} if checker else {}
        with pghistory.context(user=user.pk, reason=reason, **approved_by):
            closed.delete()
        snapshot_drop(office=office, since=month)


def month_close_history(*, office: Office, through: dt.date, user) -> int:
    """Close every month of an office up to `through` at once: the history of an office that
    worked on paper, or imported. No pack is queued; snapshots are taken at each year end and
    at `through` (a report of a period reads the newest one before it). Returns the number of
    months closed."""
    _check_manager(user, office)
    through = through.replace(day=1)
    with transaction.atomic():
        office = Office.objects.select_for_update().get(pk=office.pk)
        first = LoanTransaction.objects.filter(office=office).order_by("value_date").first()
        if first is None or not month_is_over(office=office, month=through):
            raise ValidationError(_("There is no history to close up to that month."))
        if ClosedMonth.objects.filter(office=office, month__gte=through).exists():
            raise ValidationError(_("%(month)s is already closed.") % {"month": f"{through:%m/%Y}"})
        _check_end_of_day(office, first.value_date, month_end(through), through)
        closed = set(ClosedMonth.objects.filter(office=office).values_list("month", flat=True))
        months, month = [], first.value_date.replace(day=1)
        while month <= through:
            if month not in closed:
                months.append(month)
            month = month_end(month) + dt.timedelta(days=1)
        with pghistory.context(user=user.pk):
            ClosedMonth.objects.bulk_create(
                ClosedMonth(office=office, month=m, closed_by=user) for m in months
            )
        for month in months:
            if month.month == 12 or month == through:
                snapshot_take(office=office, month_end=month_end(month))
    return len(months)
