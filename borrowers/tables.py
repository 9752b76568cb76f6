"""The household list as a django-tables2 table (also exported to CSV/XLSX)."""

import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from branch_portal.templatetags.money import vnd

from .models import Category, Household, SavingsGroup


class MoneyColumn(tables.Column):
    """Integer VND: 61.582.000 ₫ on screen, the plain number in exports."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "attrs", {"td": {"class": "text-end text-nowrap"}, "th": {"class": "text-end"}}
        )
        super().__init__(*args, **kwargs)

    def render(self, value):
        return vnd(value)

    def value(self, value):
        return value


class HouseholdTable(tables.Table):
    full_name = tables.Column(
        verbose_name=_("Full name"),
        linkify=("borrowers:detail", {"pk": tables.A("pk")}),
        order_by=("search_name", "id"),
    )
    citizen_id = tables.Column(verbose_name=_("Citizen ID"))
    date_of_birth = tables.DateColumn(verbose_name=_("Date of birth"), format="d/m/Y")
    village = tables.Column(
        verbose_name=_("Village"), accessor="village__name", order_by=("village__name",)
    )
    commune = tables.Column(
        verbose_name=_("Commune"),
        accessor="village__commune__name",
        order_by=("village__commune__name",),
    )
    group = tables.Column(verbose_name=_("Group"), accessor="group__code", default="–")
    current_category = tables.Column(verbose_name=_("Category"), default="–")
    balance = MoneyColumn(verbose_name=_("Outstanding"), default=0)

    class Meta:
        model = Household
        fields = ()
        sequence = (
            "full_name",
            "citizen_id",
            "date_of_birth",
            "village",
            "commune",
            "group",
            "current_category",
            "balance",
        )
        order_by = ("full_name",)
        empty_text = _("No household matches.")

    def render_current_category(self, value):
        return Category(value).label if value in Category.values else value


class GroupTable(tables.Table):
    code = tables.Column(
        verbose_name=_("Code"),
        linkify=("groups:detail", {"pk": tables.A("pk")}),
        attrs={"td": {"class": "text-nowrap"}},
    )
    name = tables.Column(verbose_name=_("Name"))
    head_name = tables.Column(verbose_name=_("Group head"))
    village = tables.Column(
        verbose_name=_("Village"), accessor="village__name", order_by=("village__name",)
    )
    commune = tables.Column(
        verbose_name=_("Commune"),
        accessor="village__commune__name",
        order_by=("village__commune__name",),
    )
    organisation = tables.Column(
        verbose_name=_("Organisation"),
        accessor="chapter__organisation__name",
        order_by=("chapter__organisation_id",),
    )
    members = tables.Column(verbose_name=_("Members"), attrs={"td": {"class": "text-end"}})
    balance = MoneyColumn(verbose_name=_("Outstanding"), default=0)

    class Meta:
        model = SavingsGroup
        fields = ()
        sequence = (
            "code",
            "name",
            "head_name",
            "village",
            "commune",
            "organisation",
            "members",
            "balance",
        )
        order_by = ("code",)
