"""The loan list as a django-tables2 table (also exported to CSV/XLSX)."""

import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from borrowers.tables import MoneyColumn

from . import approvals
from .models import ApprovalRequest, Loan


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


class ApprovalTable(tables.Table):
    id = tables.Column(verbose_name="#", linkify=("loans:approval", {"pk": tables.A("pk")}))
    operation = tables.Column(verbose_name=_("Operation"))
    subject = tables.Column(verbose_name=_("Subject"), empty_values=(), orderable=False)
    amount = MoneyColumn(verbose_name=_("Amount"))
    held_because = tables.Column(verbose_name=_("Held because"), orderable=False)
    maker = tables.Column(verbose_name=_("Maker"), accessor="maker__username")
    made_at = tables.DateTimeColumn(verbose_name=_("Submitted at"), format="d/m/Y H:i")
    status = tables.Column(verbose_name=_("Status"))
    checker = tables.Column(verbose_name=_("Checker"), accessor="checker__username", default="–")

    class Meta:
        model = ApprovalRequest
        fields = ()
        sequence = (
            "id",
            "operation",
            "subject",
            "amount",
            "held_because",
            "maker",
            "made_at",
            "status",
            "checker",
        )
        empty_text = _("No request matches.")

    def render_operation(self, record):
        return approvals.operation_title(record.operation)

    def value_operation(self, record):
        return approvals.operation_title(record.operation)

    def render_subject(self, record):
        return subject_label(record)

    def value_subject(self, record):
        return subject_label(record)

    def value_status(self, record):
        return record.get_status_display()


def subject_label(record: ApprovalRequest) -> str:
    if record.loan_id:
        return f"{record.loan.number} – {record.loan.household.full_name}"
    if record.household_id:
        return record.household.full_name
    month = record.payload.get("month", "")
    return _("Month %(m)s") % {"m": month[:7]}
