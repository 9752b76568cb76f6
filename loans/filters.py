"""The loan list's search and filters (django-filter)."""

import re

import django_filters
from django import forms
from django.db.models import Q
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from borrowers.filters import _communes, _groups, limit_groups_to_commune
from borrowers.models import Organisation
from borrowers.selectors import fold, offices_for
from branch_portal.forms import style_filter_form

from . import approvals
from .models import ApprovalRequest, Loan, Programme


class LoanFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        widget=forms.TextInput(attrs={"placeholder": _("Loan number or borrower name")}),
    )
    programme = django_filters.ModelChoiceFilter(
        empty_label=_("All"), label=_("Programme"), queryset=Programme.objects.all()
    )
    commune = django_filters.ModelChoiceFilter(
        empty_label=_("All"), label=_("Commune"), queryset=_communes, method="filter_commune"
    )
    group = django_filters.ModelChoiceFilter(
        empty_label=_("All"), label=_("Group"), queryset=_groups
    )
    organisation = django_filters.ModelChoiceFilter(
        empty_label=_("All"),
        label=_("Organisation"),
        field_name="group__chapter__organisation",
        queryset=Organisation.objects.all(),
    )
    status = django_filters.ChoiceFilter(
        empty_label=_("All"), label=_("Status"), choices=Loan.Status.choices
    )
    overdue = django_filters.BooleanFilter(
        label=_("Overdue"),
        method="filter_overdue",
        widget=forms.Select(choices=[("", _("All")), ("true", _("Yes")), ("false", _("No"))]),
    )

    class Meta:
        model = Loan
        fields = ["q", "programme", "commune", "group", "organisation", "status", "overdue"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_filter_form(self.form)
        limit_groups_to_commune(self)

    def search(self, queryset, name, value):
        value = " ".join(value.split())
        if not value:
            return queryset
        if re.search(r"[0-9]", value):
            return queryset.filter(number__icontains=value)
        return queryset.filter(household__search_name__contains=fold(value))

    def filter_commune(self, queryset, name, value):
        # A group loan counts in its group's commune; a loan without a group in the household's.
        return queryset.filter(
            Q(group__village__commune=value)
            | Q(group__isnull=True, household__village__commune=value)
        )

    def filter_overdue(self, queryset, name, value):
        return queryset.filter(overdue__gt=0) if value else queryset.filter(overdue=0)


class ApprovalFilter(django_filters.FilterSet):
    """The checker's queue: pending by default."""

    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        widget=forms.TextInput(attrs={"placeholder": _("Request number, loan number or borrower")}),
    )
    status = django_filters.ChoiceFilter(
        empty_label=_("All"), label=_("Status"), choices=ApprovalRequest.Status.choices
    )
    operation = django_filters.ChoiceFilter(
        empty_label=_("All"), label=_("Operation"), choices=lambda: operation_choices()
    )
    office = django_filters.ModelChoiceFilter(
        empty_label=_("All"), label=_("Office"), queryset=lambda request: offices_for(request.user)
    )
    maker = django_filters.CharFilter(
        label=_("Maker"), field_name="maker__username", lookup_expr="iexact", max_length=150
    )

    class Meta:
        model = ApprovalRequest
        fields = ["q", "status", "operation", "office", "maker"]

    def __init__(self, data=None, *args, **kwargs):
        # Pending unless the user chose a status ("All" is an empty status, kept as chosen).
        if data is None or "status" not in data:
            data = data.copy() if data is not None else QueryDict(mutable=True)
            data["status"] = ApprovalRequest.Status.PENDING
        super().__init__(data, *args, **kwargs)
        style_filter_form(self.form)

    def search(self, queryset, name, value):
        value = " ".join(value.split())[:100]
        if not value:
            return queryset
        if value.lstrip("#").isascii() and value.lstrip("#").isdigit():
            number = int(value.lstrip("#")[:18])
            return queryset.filter(Q(pk=number) | Q(loan__number__icontains=value))
        return queryset.filter(
            Q(loan__number__icontains=value)
            | Q(loan__household__search_name__contains=fold(value))
            | Q(household__search_name__contains=fold(value))
        )


def operation_choices() -> list[tuple[str, str]]:
    return [(code, executor.title) for code, executor in approvals.EXECUTORS.items()]
