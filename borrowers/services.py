"""Writes to households and the organisation: each validates, then saves in one transaction."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from . import four_eyes
from .citizen_id import validate_citizen_id
from .models import (
    ADULT_AGE,
    EARLIEST_BIRTH,
    FIRST_CATEGORY_YEAR,
    Category,
    GroupMembership,
    Household,
    HouseholdCategory,
    Office,
    PreviousIdentity,
    SavingsGroup,
    Village,
)
from .selectors import month_is_closed

# --- the rules for dated household facts: the services apply them, the forms show them early ---


def _refuse(field: str, message: str, code: str) -> None:
    raise ValidationError({field: ValidationError(message, code=code)})


def _date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def check_date_of_birth(date_of_birth: dt.date, *, on: dt.date) -> None:
    """Born after 1900, not in the future, and an adult on `on` (the office's business date):
    a household borrows through its adult representative."""
    if date_of_birth < EARLIEST_BIRTH:
        _refuse(
            "date_of_birth",
            _("The date of birth must be on or after %(d)s.") % {"d": _date(EARLIEST_BIRTH)},
            "born_too_early",
        )
    if date_of_birth > on:
        _refuse(
            "date_of_birth",
            _("The date of birth is after the business date %(d)s.") % {"d": _date(on)},
            "born_in_future",
        )
    age = (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )
    if age < ADULT_AGE:
        _refuse(
            "date_of_birth",
            _("The household's representative must be an adult (%(n)s or older on %(d)s).")
            % {"n": ADULT_AGE, "d": _date(on)},
            "not_adult",
        )


def check_category_year(year: int, *, office: Office, field: str = "category_year") -> None:
    """A category is certified for a year from 2000 to the business date's next year."""
    last = office.business_date.year + 1
    if not FIRST_CATEGORY_YEAR <= year <= last:
        _refuse(
            field,
            _("A category is certified for a year from %(first)s to %(last)s.")
            % {"first": FIRST_CATEGORY_YEAR, "last": last},
            "category_year_range",
        )


def check_effective_date(
    day: dt.date, *, office: Office, field: str = "on", open_month: bool = False
) -> None:
    """A dated change takes effect by the office's business date, and (open_month) not in a
    closed month: the rule ledger postings obey (borrowers.selectors.month_is_closed)."""
    if day > office.business_date:
        _refuse(
            field,
            _("The date is after the office's business date %(d)s.")
            % {"d": _date(office.business_date)},
            "after_business_date",
        )
    if open_month and month_is_closed(office, day):
        _refuse(
            field,
            _("%(m)s is closed: date the change in the open period.")
            % {"m": day.strftime("%m/%Y")},
            "closed_month",
        )


def _check_identity(*, citizen_id: str, date_of_birth, sex, exclude_pk: int | None = None) -> None:
    try:
        validate_citizen_id(citizen_id, date_of_birth=date_of_birth, sex=sex)
    except ValidationError as exc:
        raise ValidationError({"citizen_id": exc.messages}) from exc
    clash = Household.objects.filter(citizen_id=citizen_id, status=Household.Status.ACTIVE)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError(
            {"citizen_id": _("An active borrower with this citizen ID already exists.")}
        )


def msg_group_of_another_commune(group: SavingsGroup) -> str:
    return _(
        "The group %(g)s meets in %(c)s: a household joins a group of its own village's commune."
    ) % {"g": group.code, "c": group.village.commune.name}


def _check_place(
    *, office: Office, village: Village, group: SavingsGroup | None, joining: bool = True
) -> None:
    """The village and group are the office's; a group the household joins (or keeps while it
    moves to another village) meets in its village's commune."""
    if village.office_id != office.pk:
        raise ValidationError({"village": _("The village belongs to another office.")})
    if group is not None and group.office_id != office.pk:
        raise ValidationError({"group": _("The group belongs to another office.")})
    if joining and group is not None and group.village.commune_id != village.commune_id:
        raise ValidationError({"group": msg_group_of_another_commune(group)})


@transaction.atomic
def household_register(
    *,
    office: Office,
    full_name: str,
    citizen_id: str,
    date_of_birth: dt.date,
    sex: str,
    village: Village,
    category: str,
    category_year: int,
    user=None,
    group: SavingsGroup | None = None,
    phone: str = "",
    joined_on: dt.date | None = None,
) -> Household:
    full_name = " ".join(full_name.split())
    if not full_name:
        raise ValidationError({"full_name": _("The name is required.")})
    if category not in Category.values:
        raise ValidationError({"category": _("Unknown household category.")})
    check_date_of_birth(date_of_birth, on=office.business_date)
    check_category_year(category_year, office=office)
    if joined_on is not None:
        check_effective_date(joined_on, office=office, field="joined_on", open_month=True)
    _check_identity(citizen_id=citizen_id, date_of_birth=date_of_birth, sex=sex)
    _check_place(office=office, village=village, group=group)
    household = Household.objects.create(
        office=office,
        full_name=full_name,
        citizen_id=citizen_id,
        date_of_birth=date_of_birth,
        sex=sex,
        phone=phone.strip(),
        village=village,
        group=group,
    )
    HouseholdCategory.objects.create(
        household=household, year=category_year, category=category, recorded_by=user
    )
    if group is not None:
        GroupMembership.objects.create(
            group=group, household=household, joined_on=joined_on or office.business_date
        )
    return household


@transaction.atomic
def household_update(
    *,
    household: Household,
    full_name: str,
    date_of_birth: dt.date,
    sex: str,
    phone: str,
    village: Village,
    group: SavingsGroup | None,
    on: dt.date,
    user=None,
) -> Household:
    household = Household.objects.select_for_update().get(pk=household.pk)
    office = household.office
    check_date_of_birth(date_of_birth, on=office.business_date)
    _check_identity(
        citizen_id=household.citizen_id,
        date_of_birth=date_of_birth,
        sex=sex,
        exclude_pk=household.pk,
    )
    _check_place(
        office=office,
        village=village,
        group=group,
        # A household placed before the rule keeps its group while neither changes.
        joining=group != household.group or village != household.village,
    )
    if group != household.group:
        check_effective_date(on, office=office, open_month=True)
        current = GroupMembership.objects.filter(household=household, left_on__isnull=True).first()
        if current is not None and current.joined_on is not None and on < current.joined_on:
            _refuse(
                "on",
                _("The household joined its current group on %(d)s: date the change later.")
                % {"d": _date(current.joined_on)},
                "before_joining",
            )
        GroupMembership.objects.filter(household=household, left_on__isnull=True).update(left_on=on)
        if group is not None:
            GroupMembership.objects.create(group=group, household=household, joined_on=on)
    household.full_name = " ".join(full_name.split())
    household.date_of_birth = date_of_birth
    household.sex = sex
    household.phone = phone.strip()
    household.village = village
    household.group = group
    household.save()
    return household


@transaction.atomic
def household_change_citizen_id(
    *, household: Household, new_citizen_id: str, on: dt.date, user=None, approval=None
) -> Household:
    """A new ID card: the old number is kept as history, never overwritten silently.

    The office's four-eyes policy may hold it (four_eyes.gate): then it changes only under an
    approval (`approval`, a loans.ApprovalRequest being approved)."""
    household = Household.objects.select_for_update().get(pk=household.pk)
    if new_citizen_id == household.citizen_id:
        raise ValidationError({"citizen_id": _("This is already the current citizen ID.")})
    check_effective_date(on, office=household.office)
    if on < household.date_of_birth:
        _refuse("on", _("The date is before the date of birth."), "before_birth")
    _check_identity(
        citizen_id=new_citizen_id,
        date_of_birth=household.date_of_birth,
        sex=household.sex,
        exclude_pk=household.pk,
    )
    if four_eyes.gate is not None:
        four_eyes.gate(household=household, approval=approval)
    PreviousIdentity.objects.create(
        household=household, number=household.citizen_id, replaced_on=on
    )
    household.citizen_id = new_citizen_id
    household.save(update_fields=["citizen_id"])
    return household


@transaction.atomic
def household_certify_category(
    *, household: Household, year: int, category: str, user=None
) -> HouseholdCategory:
    if category not in Category.values:
        raise ValidationError({"category": _("Unknown household category.")})
    check_category_year(year, office=household.office, field="year")
    certified, _created = HouseholdCategory.objects.update_or_create(
        household=household, year=year, defaults={"category": category, "recorded_by": user}
    )
    return certified
