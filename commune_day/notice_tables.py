"""The notice index's group list: each group's notices for the month, and its commune's board."""

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from borrowers.models import SavingsGroup


class NoticeGroupTable(tables.Table):
    code = tables.Column(verbose_name=_("Code"), attrs={"td": {"class": "text-nowrap"}})
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
    board = tables.Column(
        verbose_name=_("Notice board"), accessor="village__commune_id", orderable=False
    )

    class Meta:
        model = SavingsGroup
        fields = ()
        sequence = ("code", "name", "head_name", "village", "commune", "organisation", "board")
        order_by = ("code",)
        empty_text = _("No group matches.")

    def __init__(self, *args, month=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The month the links open (None: each group's office's next month).
        self.month = month

    def render_code(self, value, record):
        url = reverse("notices:group", args=[record.pk])
        if self.month is not None:
            url += f"?month={self.month:%Y-%m}"
        return format_html('<a href="{}">{}</a>', url, value)

    def value_code(self, value):
        return value

    def render_board(self, value):
        url = reverse("notices:board", args=[value])
        return format_html('<a href="{}">{}</a>', url, _("Notice board"))

    def value_board(self, value, record):
        return record.village.commune.name
