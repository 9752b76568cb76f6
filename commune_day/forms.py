"""Forms of the session pages. Selects are limited to the user's offices; the services
validate (team, groups, dates) again and say what is wrong."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from borrowers.forms import BootstrapMixin, DateField
from borrowers.models import Commune, SavingsGroup
from borrowers.selectors import office_ids_for
from branch_portal.roles import WRITE_ROLES
from loans.forms import parse_vnd
from loans.money import MAX_AMOUNT


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.get_username()


def _team_queryset(user):
    """Staff and managers of the user's offices (the service checks they are of this one)."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__office_id__in=office_ids_for(user),
            memberships__role__in=WRITE_ROLES,
        )
        .distinct()
        .order_by("username")
    )


class GroupsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: SavingsGroup) -> str:
        return f"{obj.code} {obj.name} ({obj.chapter.organisation.name})"


class SessionOpenForm(BootstrapMixin, forms.Form):
    commune = forms.ModelChoiceField(label=_("Commune"), queryset=Commune.objects.none())
    date = DateField(
        label=_("Date"),
        required=False,
        help_text=_("Empty: the commune's transaction day in the office's business month."),
    )
    leader = TeamChoiceField(label=_("Leader"), queryset=Commune.objects.none())
    controller = TeamChoiceField(
        label=_("Controller"), queryset=Commune.objects.none(), required=False
    )
    teller = TeamChoiceField(label=_("Teller"), queryset=Commune.objects.none(), required=False)
    groups = GroupsField(
        label=_("Groups"),
        queryset=SavingsGroup.objects.none(),
        required=False,
        help_text=_("Empty: every active group of the commune."),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        offices = office_ids_for(user)
        self.fields["commune"].queryset = Commune.objects.filter(office_id__in=offices)
        team = _team_queryset(user)
        for name in ("leader", "controller", "teller"):
            self.fields[name].queryset = team
        self.fields["groups"].queryset = SavingsGroup.objects.filter(
            office_id__in=offices, dissolved_on__isnull=True
        ).select_related("chapter__organisation")


class SessionTeamForm(BootstrapMixin, forms.Form):
    controller = TeamChoiceField(label=_("Controller"), queryset=Commune.objects.none())
    teller = TeamChoiceField(label=_("Teller"), queryset=Commune.objects.none())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("controller", "teller"):
            self.fields[name].queryset = _team_queryset(user)


class CashField(forms.Field):
    """Cash counted in đồng (1.500.000): nought is a count too."""

    widget = forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"})

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if text == "0":
            return 0
        return parse_vnd(text)

    def validate(self, value):
        super().validate(value)
        if value is not None and not 0 <= value <= MAX_AMOUNT:
            raise forms.ValidationError(_("Enter the cash counted in đồng."), code="range")


class SessionCloseForm(BootstrapMixin, forms.Form):
    cash_counted = CashField(label=_("Cash counted (đồng)"))
    explanation = forms.CharField(
        label=_("Explanation of the difference"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class HandoverForm(BootstrapMixin, forms.Form):
    handed_in = CashField(label=_("Cash the group head handed in (đồng)"))
    note = forms.CharField(
        label=_("Explanation of any difference"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
