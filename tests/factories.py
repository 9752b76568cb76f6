"""factory_boy factories for the fixed cast of tests: office A and office B."""

import datetime as dt
import functools
import itertools

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password

from borrowers.citizen_id import century_sex_digit
from borrowers.models import (
    Chapter,
    Commune,
    Household,
    HouseholdCategory,
    Office,
    OfficeMembership,
    Organisation,
    SavingsGroup,
    Village,
)
from loans.models import FourEyesPolicy

_serial = itertools.count(1)


def citizen_id_for(date_of_birth: dt.date, sex: str, province: str = "001") -> str:
    """A valid, unique 12-digit citizen ID for that birth date and sex."""
    return (
        f"{province}{century_sex_digit(date_of_birth, sex)}"
        f"{date_of_birth.year % 100:02d}{next(_serial):06d}"
    )


@functools.cache
def _demo_password_hash() -> str:
    # The hasher named, not the setting's first: a test that swaps the setting must not leave
    # a hash the served processes cannot check.
    return make_password("demo1234", hasher=PBKDF2PasswordHasher())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    # One PBKDF2 hash for every user (the real hasher, so served processes check it): hashing
    # per user was most of a test's setup.
    password = factory.LazyFunction(lambda: _demo_password_hash())


# A four-eyes policy that holds nothing: the scene most tests set (back-dated disbursements,
# write-offs) posts at once; the tests of maker-checker switch the policy on
# (tests/loans/test_approvals.py, FOUR_EYES_ON).
FOUR_EYES_OFF = {
    "write_off": False,
    "freeze": False,
    "unfreeze": False,
    "reversal": False,
    "transfer": False,
    "extension": False,
    "month_reopen": False,
    "citizen_id": False,
    "backdated": False,
    "large_disbursement": False,
}
FOUR_EYES_ON = dict.fromkeys(FOUR_EYES_OFF, True)


class OfficeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Office
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"O{n}")
    name = factory.LazyAttribute(lambda o: f"Phòng giao dịch {o.code}")
    business_date = dt.date(2021, 6, 15)
    business_date_held = True

    @factory.post_generation
    def four_eyes(self, create, extracted, **kwargs):
        if create:
            FourEyesPolicy.objects.get_or_create(office=self, defaults=FOUR_EYES_OFF)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OfficeMembership

    user = factory.SubFactory(UserFactory)
    office = factory.SubFactory(OfficeFactory)
    role = "staff"


class CommuneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Commune

    office = factory.SubFactory(OfficeFactory)
    code = factory.Sequence(lambda n: f"C{n}")
    name = factory.Sequence(lambda n: f"Xã Số {n}")
    transaction_day = 10


class VillageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Village

    commune = factory.SubFactory(CommuneFactory)
    office = factory.SelfAttribute("commune.office")
    code = factory.Sequence(lambda n: f"V{n}")
    name = factory.Sequence(lambda n: f"Thôn {n}")


class ChapterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chapter
        django_get_or_create = ("commune", "organisation")

    commune = factory.SubFactory(CommuneFactory)
    office = factory.SelfAttribute("commune.office")
    organisation = factory.LazyFunction(lambda: Organisation.objects.get(code="women"))


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SavingsGroup

    village = factory.SubFactory(VillageFactory)
    office = factory.SelfAttribute("village.office")
    chapter = factory.LazyAttribute(
        lambda g: ChapterFactory(commune=g.village.commune, office=g.village.office)
    )
    code = factory.Sequence(lambda n: f"G{n}")
    name = factory.Sequence(lambda n: f"Tổ {n}")
    head_name = "Trần Văn Hùng"


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household
        skip_postgeneration_save = True

    group = factory.SubFactory(GroupFactory)
    village = factory.SelfAttribute("group.village")
    office = factory.SelfAttribute("group.office")
    full_name = "Nguyễn Thị Hằng"
    sex = "F"
    date_of_birth = dt.date(1980, 5, 17)
    citizen_id = factory.LazyAttribute(lambda h: citizen_id_for(h.date_of_birth, h.sex))
    phone = ""

    @factory.post_generation
    def category(self, create, extracted, **kwargs):
        if create:
            HouseholdCategory.objects.create(
                household=self, year=2021, category=extracted or "poor"
            )
