"""Writes to households and the organisation: each validates, then saves in one transaction."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .citizen_id import validate_citizen_id
from .models import (
    Category,
    GroupMembership,
    Household,
    HouseholdCategory,
    Office,
    PreviousIdentity,
    SavingsGroup,
    Village,
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


def _check_place(*, office: Office, village: Village, group: SavingsGroup | None) -> None:
    if village.office_id != office.pk:
        raise ValidationError({"village": _("The village belongs to another office.")})
    if group is not None and group.office_id != office.pk:
        raise ValidationError({"group": _("The group belongs to another office.")})


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
    _check_identity(
        citizen_id=household.citizen_id,
        date_of_birth=date_of_birth,
        sex=sex,
        exclude_pk=household.pk,
    )
    _check_place(office=household.office, village=village, group=group)
    if group != household.group:
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
    *, household: Household, new_citizen_id: str, on: dt.date, user=None
) -> Household:
    """A new ID card: the old number is kept as history, never overwritten silently."""
    household = Household.objects.select_for_update().get(pk=household.pk)
    if new_citizen_id == household.citizen_id:
        raise ValidationError({"citizen_id": _("This is already the current citizen ID.")})
    _check_identity(
        citizen_id=new_citizen_id,
        date_of_birth=household.date_of_birth,
        sex=household.sex,
        exclude_pk=household.pk,
    )
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
    certified, _created = HouseholdCategory.objects.update_or_create(
        household=household, year=year, defaults={"category": category, "recorded_by": user}
    )
    return certified
