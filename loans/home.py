"""The home page: the user's office at a glance.

It reads households (borrowers) and loans, so it lives in loans, the higher of the two
(docs/architecture.md); branch_portal.urls mounts it at "/" by name, without importing it."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Exists, Q, Sum
from django.shortcuts import render
from django.urls import path

from borrowers.access import PortalRequest
from borrowers.filters import loans_with_balance
from borrowers.selectors import households_for_user, offices_for
from branch_portal.roles import MANAGE_ROLES, WRITE_ROLES

from .models import Loan
from .selectors import loans_for_user


@login_required
def home(request: PortalRequest):
    user = request.user
    offices = list(offices_for(user))
    roles = request.access.roles_held
    loans = loans_for_user(user)
    figures = loans.aggregate(
        active=Count("id", filter=Q(status=Loan.Status.ACTIVE)),
        outstanding=Sum("outstanding"),
        overdue=Sum("overdue"),
        frozen=Sum("frozen"),
        applied=Count("id", filter=Q(status=Loan.Status.APPLIED)),
        approved=Count("id", filter=Q(status=Loan.Status.APPROVED)),
    )
    awaiting = []
    if roles & MANAGE_ROLES:
        managed = [office for office in offices if request.access.can_manage(office)]
        awaiting = (
            loans.filter(status=Loan.Status.APPLIED, office__in=managed)
            .select_related("household", "programme")
            .order_by("applied_on", "id")[:20]
        )
    return render(
        request,
        "home.html",
        {
            "offices": offices,
            "households": households_for_user(user).filter(status="active").count(),
            "households_with_balance": households_for_user(user)
            .filter(Exists(loans_with_balance()))
            .count(),
            "figures": figures,
            "awaiting": awaiting,
            "can_write": bool(roles & WRITE_ROLES),
            "can_manage": bool(roles & MANAGE_ROLES),
        },
    )


urlpatterns = [path("", home, name="home")]
