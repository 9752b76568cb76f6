"""The household list's search and filters (django-filter)."""

import re

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from branch_portal.forms import style_filter_form

from .models import Category, Commune, Household, Organisation, SavingsGroup
from .selectors import groups_for_user, household_search, offices_for

_ID = re.compile(r"[0-9]{1,18}")


def _communes(request):
    if request is None:
        return Commune.objects.none()
    return Commune.objects.filter(office__in=offices_for(request.user))


def _groups(request):
    if request is None:
        return SavingsGroup.objects.none()
    return groups_for_user(request.user)


def limit_groups_to_commune(filterset) -> None:
    """An office has hundreds of groups: offer those of the chosen commune (the commune select
    resubmits the form), or only the group already chosen."""
    field = filterset.form.fields["group"]
    commune, group = filterset.data.get("commune"), filterset.data.get("group")
    groups = field.queryset
    # An id is ASCII digits of bigint size: isdigit() takes "²", which int() then refuses.
    if commune and _ID.fullmatch(commune):
        field.queryset = groups.filter(village__commune_id=commune)
    elif group and _ID.fullmatch(group):
        field.queryset = groups.filter(pk=group)
    else:
        field.queryset = groups.none()
        field.empty_label = _("Choose a commune first")
    # static/js/portal.js submits it (no inline handler: the Content-Security-Policy).
    filterset.form.fields["commune"].widget.attrs["data-autosubmit"] = ""


def loans_with_balance():
    """Loans with principal outstanding, without importing loans (borrowers comes first)."""
    loan_model = Household._meta.get_field("loans").related_model
    return loan_model.objects.filter(household=OuterRef("pk"), outstanding__gt=0)


class HouseholdFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        widget=forms.TextInput(
            attrs={"placeholder": _("Name (accents optional), citizen ID or phone")}
        ),
    )
    commune = django_filters.ModelChoiceFilter(
        empty_label=_("All"), label=_("Commune"), field_name="village__commune", queryset=_communes
    )
    group = django_filters.ModelChoiceFilter(
        empty_label=_("All"), label=_("Group"), queryset=_groups
    )
    category = django_filters.ChoiceFilter(
        empty_label=_("All"),
        label=_("Category"),
        choices=Category.choices,
        method="filter_category",
    )
    has_balance = django_filters.BooleanFilter(
        label=_("Has outstanding balance"),
        method="filter_balance",
        widget=forms.Select(choices=[("", _("All")), ("true", _("Yes")), ("false", _("No"))]),
    )

    class Meta:
        model = Household
        fields = ["q", "commune", "group", "category", "has_balance"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_filter_form(self.form)
        limit_groups_to_commune(self)

    def search(self, queryset, name, value):
        return household_search(queryset, value)

    def filter_category(self, queryset, name, value):
        # current_category is annotated by the view: the latest certified year's category.
        return queryset.filter(current_category=value)

    def filter_balance(self, queryset, name, value):
        exists = Exists(loans_with_balance())
        return queryset.filter(exists if value else ~exists)


class GroupFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        widget=forms.TextInput(attrs={"placeholder": _("Code, name or group head")}),
    )
    commune = django_filters.ModelChoiceFilter(
        label=_("Commune"), field_name="village__commune", queryset=_communes
    )
    organisation = django_filters.ModelChoiceFilter(
        label=_("Organisation"),
        field_name="chapter__organisation",
        queryset=Organisation.objects.all(),
    )
    status = django_filters.ChoiceFilter(
        label=_("Status"),
        choices=[("active", _("Active")), ("dissolved", _("Dissolved"))],
        method="by_status",
    )

    class Meta:
        model = SavingsGroup
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_filter_form(self.form)

    def by_status(self, queryset, name, value):
        return queryset.filter(dissolved_on__isnull=value == "active")

    def search(self, queryset, name, value):
        value = value.strip()[:100]
        if not value:
            return queryset
        return queryset.filter(
            Q(code__icontains=value) | Q(name__icontains=value) | Q(head_name__icontains=value)
        )
