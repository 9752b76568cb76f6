"""The list endpoints' filters: a value that does not parse is a 400 naming the filter, and so is
a typed filter given with no value (`?kind=`), where django-filter alone would ignore it."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from borrowers.models import Household
from loans.models import Loan, LoanTransaction, TransactionKind
from reports.models import ReportRun

BIGINT_MAX = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT64)
class IdFilter(django_filters.NumberFilter):
    """An object's id: a whole number; one that no row can have (0, or past bigint) matches
    nothing rather than erring, and an id of another office matches nothing either, as the
    list is already scoped."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        # The schema's int64: beyond it is a 400, as the schema says.
        kwargs.setdefault("min_value", -BIGINT_MAX - 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        if not 1 <= value <= BIGINT_MAX:
            return qs.none()
        return super().filter(qs, value)


@extend_schema_field({"type": "string", "pattern": "^[^\\x00]*$"})
class TextFilter(django_filters.CharFilter):
    """Free text: PostgreSQL text cannot hold NUL, so the schema leaves it out (a 400 here)."""


class StrictFilterSet(django_filters.FilterSet):
    """A typed filter (a choice, a date, an id) given empty is a 400: `?kind=` is a client's
    mistake. An empty text filter is no filter, as the schema allows an empty string."""

    def is_valid(self):
        valid = super().is_valid()
        for name, filter_ in self.filters.items():
            if isinstance(filter_, django_filters.CharFilter):
                continue
            if name in self.data and self.data.get(name) == "":
                self.form.add_error(name, _("Give a value, or leave the parameter out."))
                valid = False
        return valid


class HouseholdFilter(StrictFilterSet):
    office = TextFilter(field_name="office__code")
    commune = TextFilter(field_name="village__commune__code")
    village = TextFilter(field_name="village__code")
    group = TextFilter(field_name="group__code")
    citizen_id = TextFilter()

    class Meta:
        model = Household
        fields = ["office", "commune", "village", "group", "citizen_id", "status"]


class LoanFilter(StrictFilterSet):
    office = TextFilter(field_name="office__code")
    programme = TextFilter(field_name="programme__code")
    group = TextFilter(field_name="group__code")
    number = TextFilter()
    household = IdFilter(field_name="household_id")

    class Meta:
        model = Loan
        fields = ["office", "programme", "group", "number", "status", "household"]


class EntryFilter(StrictFilterSet):
    office = TextFilter(field_name="office__code")
    loan = IdFilter(field_name="loan_id")
    kind = django_filters.ChoiceFilter(choices=TransactionKind.choices)
    value_date_from = django_filters.DateFilter(field_name="value_date", lookup_expr="gte")
    value_date_to = django_filters.DateFilter(field_name="value_date", lookup_expr="lte")

    class Meta:
        model = LoanTransaction
        fields = ["office", "loan", "kind", "value_date_from", "value_date_to"]


class ReportRunFilter(StrictFilterSet):
    office = TextFilter(field_name="office__code")

    class Meta:
        model = ReportRun
        fields = ["office", "kind", "status"]
