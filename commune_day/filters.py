"""The session list's search and filters."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from borrowers.models import Commune
from borrowers.selectors import fold, office_ids_for
from branch_portal.forms import style_filter_form

from .models import TransactionSession


def _communes(request):
    if request is None:
        return Commune.objects.none()
    return Commune.objects.filter(office_id__in=office_ids_for(request.user))


class SessionFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="search",
        widget=forms.TextInput(attrs={"placeholder": _("Commune or team member")}),
    )
    commune = django_filters.ModelChoiceFilter(label=_("Commune"), queryset=_communes)
    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=TransactionSession.Status.choices
    )

    class Meta:
        model = TransactionSession
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_filter_form(self.form)

    def search(self, queryset, name, value):
        value = value.strip()[:100]
        if not value:
            return queryset
        from django.db.models import Q

        from borrowers.models import Unaccent

        folded = fold(value)
        return queryset.alias(commune_folded=Unaccent("commune__name")).filter(
            Q(commune_folded__icontains=folded)
            | Q(commune__code__iexact=value)
            | Q(leader__username__icontains=value)
            | Q(teller__username__icontains=value)
            | Q(controller__username__icontains=value)
        )
