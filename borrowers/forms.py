"""Forms for households. Selects are limited to the user's offices; the services validate."""

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import (
    FIRST_CATEGORY_YEAR,
    STORED_CATEGORY_YEARS,
    Category,
    Household,
    SavingsGroup,
    Sex,
    Village,
)
from .selectors import groups_for_user, villages_for_user
from .services import check_category_year, check_date_of_birth, check_effective_date

DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"]


class DateInput(forms.DateInput):
    """A typed dd/mm/yyyy date: clerks type dates all day, and the browser's own picker follows
    the browser's locale (06/15/2021 on an English Chromium), which invites day/month slips."""

    def __init__(self, attrs=None):
        attrs = {"placeholder": "dd/mm/yyyy", "autocomplete": "off", **(attrs or {})}
        super().__init__(attrs=attrs, format="%d/%m/%Y")


# Every typed date lies in these years: 31/12/9999 parses, but no entry, birth or decision of
# this bank is dated there (the services then bound each date by its own rule).
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)


class DateField(forms.DateField):
    """Accepts dd/mm/yyyy (also with - or .) and ISO yyyy-mm-dd, whatever the UI language;
    refuses a date outside 1900–2100."""

    widget = DateInput
    input_formats = DATE_INPUT_FORMATS

    def validate(self, value):
        super().validate(value)
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise forms.ValidationError(
                _("Enter a date between %(first)s and %(last)s.")
                % {
                    "first": EARLIEST_DATE.strftime("%d/%m/%Y"),
                    "last": LATEST_DATE.strftime("%d/%m/%Y"),
                },
                code="date_range",
            )


class BootstrapMixin:
    """Bootstrap classes on every widget, so templates render fields in one loop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def add_error(self, field, error):
        super().add_error(field, error)
        # Mark every field that now has an error, so Bootstrap outlines it in red.
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = widget.attrs.get("class", "") + " is-invalid"


class CommuneSelect(forms.Select):
    """A select whose options say their commune (data-commune): the group choice follows the
    chosen village's commune in the browser (static/js/portal.js, data-follows). The service
    refuses a group of another commune all the same."""

    def __init__(self, commune_of, attrs=None):
        super().__init__(attrs)
        self.commune_of = commune_of

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-commune"] = str(self.commune_of(instance))
        return option


class VillageChoiceField(forms.ModelChoiceField):
    widget = CommuneSelect(lambda village: village.commune_id)

    def label_from_instance(self, obj: Village) -> str:
        return f"{obj.name} – {obj.commune.name}"


class GroupChoiceField(forms.ModelChoiceField):
    widget = CommuneSelect(lambda group: group.village.commune_id)

    def label_from_instance(self, obj: SavingsGroup) -> str:
        return f"{obj.code} {obj.name} ({obj.village.name})"


def _place_fields(form, user) -> None:
    form.fields["village"].queryset = villages_for_user(user).select_related("commune")
    form.fields["group"].queryset = (
        groups_for_user(user).filter(dissolved_on__isnull=True).select_related("village")
    )
    form.fields["group"].widget.attrs["data-follows"] = form["village"].auto_id


class HouseholdRegisterForm(BootstrapMixin, forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    citizen_id = forms.CharField(
        label=_("Citizen ID"),
        max_length=12,
        help_text=_("12 digits (CCCD)."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    date_of_birth = DateField(label=_("Date of birth"))
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    village = VillageChoiceField(label=_("Village"), queryset=Village.objects.none())
    group = GroupChoiceField(
        label=_("Savings and loan group"), queryset=SavingsGroup.objects.none(), required=False
    )
    category = forms.ChoiceField(label=_("Household category"), choices=Category.choices)
    category_year = forms.IntegerField(
        label=_("Certified for year"),
        min_value=FIRST_CATEGORY_YEAR,
        max_value=STORED_CATEGORY_YEARS[1],
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        _place_fields(self, user)

    def clean(self):
        data = super().clean()
        village = data.get("village")
        if village is None:
            return data
        # The rules of the service, with the business date of the village's office.
        office = village.office
        _apply_rule(self, check_date_of_birth, data.get("date_of_birth"), on=office.business_date)
        _apply_rule(self, check_category_year, data.get("category_year"), office=office)
        return data


def _apply_rule(form, rule, value, **kwargs) -> None:
    """Run one of the services' rules on a cleaned value, showing its refusal on the field."""
    if value is None:
        return
    try:
        rule(value, **kwargs)
    except ValidationError as error:
        for field, errors in error.error_dict.items():
            target = field if field in form.fields and field not in form.errors else None
            for e in errors:
                form.add_error(target, e)


class HouseholdEditForm(BootstrapMixin, forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    date_of_birth = DateField(label=_("Date of birth"))
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    village = VillageChoiceField(label=_("Village"), queryset=Village.objects.none())
    group = GroupChoiceField(
        label=_("Savings and loan group"), queryset=SavingsGroup.objects.none(), required=False
    )
    on = DateField(
        label=_("Effective on"),
        help_text=_("The date a change of group takes effect."),
    )

    def __init__(self, *args, user, household: Household, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "full_name": household.full_name,
                "date_of_birth": household.date_of_birth,
                "sex": household.sex,
                "phone": household.phone,
                "village": household.village_id,
                "group": household.group_id,
                "on": household.office.business_date,
            },
        )
        super().__init__(*args, **kwargs)
        _place_fields(self, user)
        self.fields["village"].queryset = self.fields["village"].queryset.filter(
            office=household.office
        )
        self.fields["group"].queryset = self.fields["group"].queryset.filter(
            office=household.office
        )
        self.household = household

    def clean(self):
        data = super().clean()
        office = self.household.office
        _apply_rule(self, check_date_of_birth, data.get("date_of_birth"), on=office.business_date)
        if "group" in data and data["group"] != self.household.group:
            _apply_rule(self, check_effective_date, data.get("on"), office=office, open_month=True)
        return data


class CitizenIdForm(BootstrapMixin, forms.Form):
    new_citizen_id = forms.CharField(
        label=_("New citizen ID"),
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    on = DateField(label=_("Replaced on"))

    def __init__(self, *args, household: Household | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.household = household

    def clean(self):
        data = super().clean()
        if self.household is not None:
            _apply_rule(self, check_effective_date, data.get("on"), office=self.household.office)
        return data


class CertifyCategoryForm(BootstrapMixin, forms.Form):
    year = forms.IntegerField(
        label=_("Year"), min_value=FIRST_CATEGORY_YEAR, max_value=STORED_CATEGORY_YEARS[1]
    )
    category = forms.ChoiceField(label=_("Household category"), choices=Category.choices)

    def __init__(self, *args, household: Household | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.household = household

    def clean_year(self) -> int:
        year = self.cleaned_data["year"]
        if self.household is not None:
            try:
                check_category_year(year, office=self.household.office, field="year")
            except ValidationError as error:
                raise forms.ValidationError(error.error_dict["year"]) from error
        elif year > dt.date.today().year + 1:
            raise forms.ValidationError(_("A category is certified for this year or the next."))
        return year
