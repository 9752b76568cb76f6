"""The loan list as a django-tables2 table (also exported to CSV/XLSX)."""

import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from borrowers.tables import MoneyColumn

from .models import Loan


class LoanTable(tables.Table):
    number = tables.Column(
        verbose_name=_("Loan number"), linkify=("loans:detail", {"pk": tables.A("pk")})
    )
    household = tables.Column(
        verbose_name=_("Borrower"),
        accessor="household__full_name",
        linkify=("borrowers:detail", {"pk": tables.A("household_id")}),
        order_by=("household__full_name",),
    )
    programme = tables.Column(
        verbose_name=_("Programme"), accessor="programme__code", order_by=("programme__code",)
    )
    group = tables.Column(verbose_name=_("Group"), accessor="group__code", default="–")
    status = tables.Column(verbose_name=_("Status"))
    applied_on = tables.DateColumn(verbose_name=_("Applied on"), format="d/m/Y")
    approved_amount = MoneyColumn(verbose_name=_("Amount"))
    outstanding = MoneyColumn(verbose_name=_("Outstanding"))
    overdue = MoneyColumn(verbose_name=_("Overdue"))
    frozen = MoneyColumn(verbose_name=_("Frozen"))

    class Meta:
        model = Loan
        fields = ()
        sequence = (
            "number",
            "household",
            "programme",
            "group",
            "status",
            "applied_on",
            "approved_amount",
            "outstanding",
            "overdue",
            "frozen",
        )
        empty_text = _("No loan matches.")
        row_attrs = {"class": lambda record: "table-danger" if record.overdue else ""}

    def value_status(self, record):
        return record.get_status_display()
