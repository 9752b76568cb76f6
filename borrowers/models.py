"""The organisation trees (office, communes, villages, entrusted organisations, groups) and the
households that borrow."""

import datetime as dt

import pghistory
from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex, GinIndex, OpClass
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from branch_portal.roles import Role

# Bounds of dated household facts (the services refuse beyond them, the database too).
# No representative alive was born before 1900.
EARLIEST_BIRTH = dt.date(1900, 1, 1)
# A household borrows through an adult representative: 18, full civil capacity in Vietnam.
ADULT_AGE = 18
# Category certificates entered today are from 2000 on (the forms); the database takes the
# Bank for the Poor's years too (from 1995), for imported history, and nothing past 2100.
FIRST_CATEGORY_YEAR = 2000
STORED_CATEGORY_YEARS = (1995, 2100)
# Dates an administrator types (units valid from/to, groups founded/dissolved): the calendar a
# record of this office can fall in, so a slip of the keyboard (20211 for 2021) is refused.
DATE_BOUNDS = [MinValueValidator(dt.date(1900, 1, 1)), MaxValueValidator(dt.date(2100, 12, 31))]


def events_by_time(name: str) -> dict:
    """The event table's Meta: a BRIN index on when each event was recorded, which the office
    log (reports.audit) reads a date range by. Events are appended in time order, so the BRIN
    index is a few pages for millions of rows and costs an insert next to nothing."""
    return {"indexes": [BrinIndex(fields=["pgh_created_at"], name=name)]}


class Unaccent(models.Func):
    """bp_unaccent(): an IMMUTABLE wrapper around PostgreSQL's unaccent, so it can be indexed."""

    function = "bp_unaccent"
    output_field = models.TextField()


class Office(models.Model):
    """A transaction office (Phòng giao dịch)."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    # Printed under the name on what the office hands a borrower (the statement, letters).
    address = models.CharField(_("address"), max_length=300, blank=True)
    # The day being worked, as in core banking: forms default to it, nothing posts after it.
    business_date = models.DateField(_("business date"), default=dt.date.today)
    # A held business date does not follow the calendar until a manager releases it.
    business_date_held = models.BooleanField(_("business date held"), default=False)
    # The business date the office started with in the system: the days before it are imported
    # history (or paper), closed by the import; from it on, each day needs its end of day
    # (loans.EndOfDay) before its month closes. Set on creation; later only by a seeder that
    # replaces the whole book.
    first_business_date = models.DateField(_("first business date"), editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("office")
        verbose_name_plural = _("offices")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if self.first_business_date is None:
            self.first_business_date = self.business_date
        super().save(*args, **kwargs)


class OfficeMembership(models.Model):
    """A user's role in one office. Every query is scoped through these rows."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "office"], name="one_role_per_office")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.office.code}: {self.role}"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    meta=events_by_time("commune_event_at"),
)
class Commune(models.Model):
    """A commune, ward or town, served by one office's commune transaction point.

    Administrative units are dated and linked to their successors: a merger is data, not a
    migration, and nothing is keyed on a name.
    """

    class Kind(models.TextChoices):
        COMMUNE = "commune", _("Commune")
        WARD = "ward", _("Ward")
        TOWN = "town", _("Town")

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="communes")
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.COMMUNE)
    transaction_day = models.PositiveSmallIntegerField(
        _("transaction day"),
        help_text=_("Day of the month (1–28) of the transaction point."),
        validators=[MinValueValidator(1), MaxValueValidator(28)],
    )
    valid_from = models.DateField(
        _("valid from"), default=dt.date(1900, 1, 1), validators=DATE_BOUNDS
    )
    valid_to = models.DateField(_("valid to"), null=True, blank=True, validators=DATE_BOUNDS)
    successor = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="predecessors",
        verbose_name=_("successor"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("commune")
        verbose_name_plural = _("communes")
        constraints = [
            models.UniqueConstraint(fields=["office", "code"], name="commune_code_per_office"),
            models.CheckConstraint(
                condition=models.Q(transaction_day__gte=1, transaction_day__lte=28),
                name="transaction_day_1_28",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Village(models.Model):
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="villages")
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="villages")
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        ordering = ["name"]
        verbose_name = _("village")
        verbose_name_plural = _("villages")
        constraints = [
            models.UniqueConstraint(fields=["office", "code"], name="village_code_per_office")
        ]

    def __str__(self) -> str:
        return f"{self.name}, {self.commune.name}"


class Organisation(models.Model):
    """One of the four entrusted mass organisations (seeded by a migration)."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200)

    class Meta:
        ordering = ["id"]
        verbose_name = _("entrusted organisation")
        verbose_name_plural = _("entrusted organisations")

    def __str__(self) -> str:
        return self.name


class Chapter(models.Model):
    """An organisation's chapter in one commune; it is paid the entrustment fee."""

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="chapters")
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="chapters")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT)

    class Meta:
        verbose_name = _("chapter")
        verbose_name_plural = _("chapters")
        constraints = [
            models.UniqueConstraint(
                fields=["commune", "organisation"], name="one_chapter_per_commune"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation.name} – {self.commune.name}"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    meta=events_by_time("group_event_at"),
)
class SavingsGroup(models.Model):
    """A savings and loan group (Tổ tiết kiệm và vay vốn) of one village."""

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="groups")
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=200)
    village = models.ForeignKey(Village, on_delete=models.PROTECT, related_name="groups")
    chapter = models.ForeignKey(Chapter, on_delete=models.PROTECT, related_name="groups")
    head_name = models.CharField(_("group head"), max_length=200)
    established_on = models.DateField(
        _("established on"), null=True, blank=True, validators=DATE_BOUNDS
    )
    dissolved_on = models.DateField(
        _("dissolved on"), null=True, blank=True, validators=DATE_BOUNDS
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("savings and loan group")
        verbose_name_plural = _("savings and loan groups")
        constraints = [
            models.UniqueConstraint(fields=["office", "code"], name="group_code_per_office")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Category(models.TextChoices):
    POOR = "poor", _("Poor")
    NEAR_POOR = "near_poor", _("Near-poor")
    RECENTLY_OUT = "recently_out", _("Recently out of poverty")
    ORDINARY = "ordinary", _("Ordinary")


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=["search_name"],
    meta=events_by_time("household_event_at"),
)
class Household(models.Model):
    """A borrowing household, represented by one adult."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        MOVED = "moved", _("Moved to another office")
        DECEASED = "deceased", _("Representative deceased")
        CLOSED = "closed", _("Closed")

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="households")
    full_name = models.CharField(_("full name"), max_length=200)
    citizen_id = models.CharField(_("citizen ID"), max_length=12)
    date_of_birth = models.DateField(
        _("date of birth"), validators=[MinValueValidator(EARLIEST_BIRTH)]
    )
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    village = models.ForeignKey(Village, on_delete=models.PROTECT, related_name="households")
    group = models.ForeignKey(
        SavingsGroup,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="households",
        verbose_name=_("group"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The name folded for search and sorting ("nguyen thi hang"), computed by the database.
    search_name = models.GeneratedField(
        expression=Lower(Unaccent("full_name")),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["search_name", "id"]
        verbose_name = _("household")
        verbose_name_plural = _("households")
        constraints = [
            models.UniqueConstraint(
                fields=["citizen_id"],
                condition=models.Q(status="active"),
                name="citizen_id_unique_among_active",
            ),
            models.CheckConstraint(
                condition=models.Q(date_of_birth__gte=EARLIEST_BIRTH), name="born_after_1900"
            ),
        ]
        indexes = [
            GinIndex(OpClass("search_name", name="gin_trgm_ops"), name="household_name_trgm"),
            models.Index(
                OpClass("citizen_id", name="varchar_pattern_ops"), name="household_cid_prefix"
            ),
            models.Index(OpClass("phone", name="varchar_pattern_ops"), name="household_phone"),
            models.Index(fields=["office", "search_name", "id"], name="household_office_name"),
        ]

    def __str__(self) -> str:
        return self.full_name

    def category_for(self, year: int) -> str | None:
        certified = self.categories.filter(year__lte=year).order_by("-year").first()
        return certified.category if certified else None


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    meta=events_by_time("category_event_at"),
)
class HouseholdCategory(models.Model):
    """The category the commune certified for a household for one year."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="categories")
    year = models.PositiveSmallIntegerField(
        _("year"),
        validators=[
            MinValueValidator(STORED_CATEGORY_YEARS[0]),
            MaxValueValidator(STORED_CATEGORY_YEARS[1]),
        ],
    )
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-year"]
        constraints = [
            models.UniqueConstraint(fields=["household", "year"], name="one_category_per_year"),
            models.CheckConstraint(
                condition=models.Q(
                    year__gte=STORED_CATEGORY_YEARS[0], year__lte=STORED_CATEGORY_YEARS[1]
                ),
                name="category_year_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year}: {self.get_category_display()}"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    meta=events_by_time("previous_id_event_at"),
)
class PreviousIdentity(models.Model):
    """An identity number the household's representative held before (9-digit CMND, old CCCD)."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="previous_ids")
    number = models.CharField(_("number"), max_length=12)
    replaced_on = models.DateField(_("replaced on"))

    class Meta:
        ordering = ["-replaced_on"]

    def __str__(self) -> str:
        return self.number


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    meta=events_by_time("membership_event_at"),
)
class GroupMembership(models.Model):
    """Membership history of households in groups; Household.group is the current one."""

    group = models.ForeignKey(SavingsGroup, on_delete=models.PROTECT, related_name="memberships")
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="memberships")
    joined_on = models.DateField(_("joined on"))
    left_on = models.DateField(_("left on"), null=True, blank=True)

    class Meta:
        ordering = ["-joined_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=models.Q(left_on__isnull=True),
                name="one_current_group",
            )
        ]

    def __str__(self) -> str:
        return f"{self.household_id} in {self.group_id} from {self.joined_on}"
