"""A household's savings ledger as a django-tables2 table."""

import django_tables2 as tables
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from borrowers.tables import MoneyColumn

from .models import SavingsTransaction


class SavingsEntryTable(tables.Table):
    # Entries of one day keep the order they were posted in, on every page.
    value_date = tables.DateColumn(
        verbose_name=_("Value date"), format="d/m/Y", order_by=("value_date", "id")
    )
    kind = tables.Column(verbose_name=_("Kind"))
    amount = MoneyColumn(verbose_name=_("Amount"))
    d_balance = MoneyColumn(verbose_name=_("Change"))
    loan = tables.Column(
        verbose_name=_("Loan"),
        accessor="loan_entry__loan__number",
        linkify=lambda record: (
            reverse("loans:detail", args=[record.loan_entry.loan_id])
            if record.loan_entry_id
            else None
        ),
        default="–",
        orderable=False,
    )
    reference = tables.Column(verbose_name=_("Reference"), default="–")
    user = tables.Column(verbose_name=_("Posted by"), accessor="user__username", default="–")
    created_at = tables.DateTimeColumn(verbose_name=_("Posted at"), format="d/m/Y H:i")

    class Meta:
        model = SavingsTransaction
        fields = ()
        sequence = (
            "value_date",
            "kind",
            "amount",
            "d_balance",
            "loan",
            "reference",
            "user",
            "created_at",
        )
        order_by = ("-value_date",)
        empty_text = _("No savings entry yet.")

    def render_kind(self, record):
        return record.get_kind_display()
