"""Household pages: list with search and filters, register, edit, detail.

Views are thin: a scoped getter, a form, one service call, a redirect. Loans come after
borrowers in the dependency order, so loan data is fetched inside functions.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django_filters.views import FilterView

from branch_portal.pagination import TableListMixin, deferred_join
from branch_portal.roles import WRITE_ROLES

from . import four_eyes, services
from .access import PortalRequest, access_for
from .filters import GroupFilter, HouseholdFilter
from .forms import CertifyCategoryForm, CitizenIdForm, HouseholdEditForm, HouseholdRegisterForm
from .models import GroupMembership, Household, HouseholdCategory, SavingsGroup
from .selectors import (
    check_scope,
    get_group_for_user,
    get_household_for_user,
    groups_for_user,
    households_for_user,
    offices_for,
)
from .tables import GroupTable, HouseholdTable


def apply_errors(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field when the form has one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            target = field if field in form.fields else None
            for e in errors:
                form.add_error(target, e)
    else:
        form.add_error(None, error)


def require_writer(user) -> None:
    """403 for a user who may write in none of their offices (an auditor)."""
    if user.is_superuser:
        return
    if not access_for(user).roles_held & WRITE_ROLES:
        raise PermissionDenied


class HouseholdListView(LoginRequiredMixin, TableListMixin, FilterView):
    request: PortalRequest
    table_class = HouseholdTable
    filterset_class = HouseholdFilter
    template_name = "borrowers/household_list.html"
    export_name = "households"

    def get_queryset(self):
        loan_model = Household._meta.get_field("loans").related_model
        balance = (
            loan_model.objects.filter(household=OuterRef("pk"))
            .values("household")
            .annotate(total=Sum("outstanding"))
            .values("total")
        )
        latest_category = (
            HouseholdCategory.objects.filter(household=OuterRef("pk"))
            .order_by("-year")
            .values("category")[:1]
        )
        return deferred_join(
            households_for_user(self.request.user)
            .select_related("village__commune", "group")
            .annotate(current_category=Subquery(latest_category))
            .annotate(balance=Coalesce(Subquery(balance), 0))
        )


@login_required
def household_detail(request: PortalRequest, pk: int):
    # The loans and their ledger are drawn by loans' {% household_loans %} tag (the template
    # loads it): borrowers does not import loans.
    household = get_household_for_user(request.user, pk)
    return render(
        request,
        "borrowers/household_detail.html",
        {
            "household": household,
            "can_write": request.access.can_write(household.office),
            "previous_ids": household.previous_ids.all(),
            "categories": household.categories.select_related("recorded_by"),
            "memberships": household.memberships.select_related("group__village"),
        },
    )


def _form_page(request: PortalRequest, form, *, title, household=None, submit=None):
    return render(
        request,
        "borrowers/household_form.html",
        {"form": form, "title": title, "household": household, "submit": submit or _("Save")},
    )


@login_required
def household_create(request: PortalRequest):
    require_writer(request.user)
    form = HouseholdRegisterForm(request.POST or None, user=request.user)
    if request.method == "GET":
        form.initial = {"category_year": _business_year(request.user)}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        office = data["village"].office
        check_scope(request.user, office, write=True)
        try:
            household = services.household_register(
                office=office,
                full_name=data["full_name"],
                citizen_id=data["citizen_id"].strip(),
                date_of_birth=data["date_of_birth"],
                sex=data["sex"],
                phone=data["phone"],
                village=data["village"],
                group=data["group"],
                category=data["category"],
                category_year=data["category_year"],
                user=request.user,
            )
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(request, _("Household %(name)s registered.") % {"name": household})
            return redirect("borrowers:detail", pk=household.pk)
    return _form_page(request, form, title=_("Register a household"), submit=_("Register"))


def _business_year(user) -> int | None:
    office = offices_for(user).first()
    return office.business_date.year if office else None


@login_required
def household_edit(request: PortalRequest, pk: int):
    household = get_household_for_user(request.user, pk, write=True)
    form = HouseholdEditForm(request.POST or None, user=request.user, household=household)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.household_update(household=household, user=request.user, **data)
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(request, _("Household updated."))
            return redirect("borrowers:detail", pk=household.pk)
    return _form_page(request, form, title=_("Edit household"), household=household)


@login_required
def household_change_citizen_id(request: PortalRequest, pk: int):
    household = get_household_for_user(request.user, pk, write=True)
    form = CitizenIdForm(
        request.POST or None, household=household, initial={"on": household.office.business_date}
    )
    if request.method == "POST" and form.is_valid():
        kwargs = {
            "household": household,
            "new_citizen_id": form.cleaned_data["new_citizen_id"].strip(),
            "on": form.cleaned_data["on"],
            "user": request.user,
        }
        try:
            # Through loans' four-eyes hook when it is set: the change may be held for a second
            # person (borrowers.four_eyes).
            if four_eyes.perform is not None:
                held = four_eyes.perform("citizen_id", **kwargs).request
            else:
                services.household_change_citizen_id(**kwargs)
                held = None
        except ValidationError as e:
            # The service names the field citizen_id; this form calls it new_citizen_id.
            for message in getattr(e, "message_dict", {}).get("citizen_id", e.messages):
                form.add_error("new_citizen_id", message)
        else:
            if held is not None:
                messages.success(
                    request,
                    _("Submitted for approval (request #%(n)s): %(why)s needs a second person.")
                    % {"n": held.pk, "why": held.held_because},
                )
            else:
                messages.success(request, _("Citizen ID changed; the old one is kept as history."))
            return redirect("borrowers:detail", pk=household.pk)
    return _form_page(request, form, title=_("Change citizen ID"), household=household)


@login_required
def household_certify_category(request: PortalRequest, pk: int):
    household = get_household_for_user(request.user, pk, write=True)
    form = CertifyCategoryForm(
        request.POST or None,
        household=household,
        initial={"year": household.office.business_date.year},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.household_certify_category(
                household=household, user=request.user, **form.cleaned_data
            )
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(request, _("Category certified."))
            return redirect("borrowers:detail", pk=household.pk)
    return _form_page(request, form, title=_("Certify household category"), household=household)


# --- savings and loan groups -----------------------------------------------------------------


def _loan_model():
    # Loans come after borrowers: reached through the relation, not imported.
    return SavingsGroup._meta.get_field("loans").related_model


class GroupListView(LoginRequiredMixin, TableListMixin, FilterView):
    request: PortalRequest
    table_class = GroupTable
    filterset_class = GroupFilter
    template_name = "borrowers/group_list.html"
    export_name = "groups"

    def get_queryset(self):
        # The principal outstanding on the loans managed through the group.
        balance = (
            _loan_model()
            .objects.filter(group=OuterRef("pk"))
            .values("group")
            .annotate(total=Sum("outstanding"))
            .values("total")
        )
        members = (
            Household.objects.filter(group=OuterRef("pk"), status=Household.Status.ACTIVE)
            .values("group")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return deferred_join(
            groups_for_user(self.request.user)
            .select_related("village__commune", "chapter__organisation")
            .annotate(
                members=Coalesce(Subquery(members), 0),
                balance=Coalesce(Subquery(balance), 0),
            )
        )


@login_required
def group_detail(request: PortalRequest, pk: int):
    group = get_group_for_user(request.user, pk)
    balances = (
        _loan_model()
        .objects.filter(group=group)
        .values("household")
        .annotate(
            loans=Count("pk", filter=Q(outstanding__gt=0)),
            outstanding=Sum("outstanding"),
            overdue=Sum("overdue"),
            frozen=Sum("frozen"),
        )
    )
    by_household = {row["household"]: row for row in balances}
    members = list(
        Household.objects.filter(group=group, status=Household.Status.ACTIVE)
        .select_related("village")
        .order_by("search_name", "pk")
    )
    rows = [(member, by_household.get(member.pk)) for member in members]
    # The members' balances (a loan stays with the group it was managed through: a household
    # that left has its loans counted in its new group's page, by the loan's own group).
    totals = {
        key: sum((row or {}).get(key) or 0 for _member, row in rows)
        for key in ("loans", "outstanding", "overdue", "frozen")
    }
    return render(
        request,
        "borrowers/group_detail.html",
        {
            "group": group,
            "rows": rows,
            "totals": totals,
            "memberships": GroupMembership.objects.filter(group=group)
            .select_related("household")
            .order_by("-joined_on", "-pk")[:500],
        },
    )
