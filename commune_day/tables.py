"""The session list as a django-tables2 table (also exported to CSV/XLSX)."""

import django_tables2 as tables
from django.utils.translation import gettext_lazy as _

from .models import TransactionSession


class SessionTable(tables.Table):
    date = tables.DateColumn(
        verbose_name=_("Date"),
        format="d/m/Y",
        linkify=("sessions:detail", {"pk": tables.A("pk")}),
        order_by=("date", "id"),
    )
    commune = tables.Column(
        verbose_name=_("Commune"), accessor="commune__name", order_by=("commune__name", "id")
    )
    office = tables.Column(verbose_name=_("Office"), accessor="office__code")
    leader = tables.Column(verbose_name=_("Leader"), accessor="leader__username")
    groups_count = tables.Column(verbose_name=_("Groups"), orderable=False)
    status = tables.Column(verbose_name=_("Status"))

    class Meta:
        model = TransactionSession
        fields = ()
        sequence = ("date", "commune", "office", "leader", "groups_count", "status")
        order_by = ("-date",)
        empty_text = _("No session matches.")
