"""Reads of offices and households, always scoped to the user's offices (borrowers.access:
read once per request)."""

import datetime as dt
import re
import unicodedata

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from branch_portal.roles import MANAGE_ROLES, WRITE_ROLES

from .access import access_for
from .models import Household, Office, SavingsGroup, Village


def offices_for(user) -> QuerySet[Office]:
    return access_for(user).offices()


def office_ids_for(user) -> list[int]:
    """The user's office ids as values: a literal list lets the planner walk the (office, …)
    indexes in order, where a membership subquery makes it sort the whole table."""
    access = access_for(user)
    if access.is_superuser:
        return list(access.offices().values_list("id", flat=True))
    return list(access.office_ids)


def role_in(user, office: Office) -> str | None:
    """The user's role in the office (superusers act as managers everywhere)."""
    return access_for(user).role_in(office)


def can_write(user, office: Office) -> bool:
    return access_for(user).can_write(office)


def can_manage(user, office: Office) -> bool:
    return access_for(user).can_manage(office)


def check_scope(user, office: Office, *, write: bool = False, manage: bool = False) -> None:
    """404 outside the user's offices (an id guessed from elsewhere reveals nothing);
    PermissionDenied for a role that may only read."""
    role = role_in(user, office)
    if role is None:
        raise Http404
    if manage and role not in MANAGE_ROLES:
        raise PermissionDenied
    if write and role not in WRITE_ROLES:
        raise PermissionDenied


def get_office_for_user(user, code: str, *, write: bool = False) -> Office:
    office = offices_for(user).filter(code=code).first()
    if office is None:
        raise Http404
    check_scope(user, office, write=write)
    return office


def households_for_user(user) -> QuerySet[Household]:
    return Household.objects.filter(office_id__in=office_ids_for(user))


def get_household_for_user(user, pk: int, *, write: bool = False) -> Household:
    household = (
        households_for_user(user)
        .select_related("office", "village__commune", "group__chapter__organisation")
        .filter(pk=pk)
        .first()
    )
    if household is None:
        raise Http404
    check_scope(user, household.office, write=write)
    return household


def groups_for_user(user) -> QuerySet[SavingsGroup]:
    return SavingsGroup.objects.filter(office_id__in=office_ids_for(user))


def get_group_for_user(user, pk: int) -> SavingsGroup:
    group = (
        groups_for_user(user)
        .select_related("office", "village__commune", "chapter__organisation")
        .filter(pk=pk)
        .first()
    )
    if group is None:
        raise Http404
    check_scope(user, group.office)
    return group


def villages_for_user(user) -> QuerySet[Village]:
    return Village.objects.filter(office_id__in=office_ids_for(user))


def fold(text: str) -> str:
    """Lower-case, accents removed, as bp_unaccent() does in the database (đ → d)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


def household_search(queryset: QuerySet[Household], q: str) -> QuerySet[Household]:
    """Name without accents ("nguyen thi hang"), citizen ID or phone (prefix)."""
    q = " ".join(q.split())
    if not q:
        return queryset
    if re.fullmatch(r"[0-9]+", q):
        return queryset.filter(Q(citizen_id__startswith=q) | Q(phone__startswith=q))
    # search_name is lower(bp_unaccent(full_name)), stored and trigram-indexed.
    return queryset.filter(search_name__contains=fold(q))


def month_is_closed(office: Office, day: dt.date) -> bool:
    """Its month is closed, or a later one is: months are closed in order, and the month-end
    snapshots of the reports (reports.snapshots) hold only while nothing is posted before them.

    Ledger postings (loans.services) and dated household changes (a group change) both obey it.
    The closed months are loans.ClosedMonth rows, read through the office's reverse relation so
    that borrowers does not import loans."""
    return office.closed_months.filter(month__gte=day.replace(day=1)).exists()
